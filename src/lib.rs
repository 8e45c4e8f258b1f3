//! mtasts-exporter: watches the MTA-STS (RFC 8461) set-up of mail domains and
//! exports what it finds to Prometheus.
//!
//! Data flows one way: [`config`] → [`scheduler`] → [`probe`] →
//! [`report::ProbeReport`] → [`metrics`] / [`check`] → [`server`].
//!
//! Nothing that comes from the network or a file may panic the exporter:
//! `unwrap`, `expect` and `panic!` are denied outside tests.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]
#![warn(missing_docs)]

pub mod app;
pub mod check;
pub mod config;
pub mod failure;
pub mod metrics;
pub mod mtasts;
pub mod probe;
pub mod report;
pub mod scheduler;
pub mod server;
pub mod shard_env;
pub mod version;
pub mod web_config;
