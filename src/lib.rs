//! mtasts-exporter: watches the MTA-STS (RFC 8461) set-up of mail domains and
//! exports what it finds to Prometheus.
//!
//! Layers import only downward, and data flows one way:
//! [`rfc`] (pure rules) ← [`taxonomy`], [`report`] and [`remedy`] (plain
//! data) ← [`probe`] (per-phase judges, then the network phases) ←
//! [`scheduler`] and [`check`] ← [`metrics`] and [`server`]. README
//! "Architecture" has the picture.
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
pub mod echo;
pub mod history;
pub mod latest;
pub mod metrics;
pub mod probe;
pub mod remedy;
pub mod report;
pub mod rfc;
pub mod scheduler;
pub mod server;
pub mod shard_env;
pub mod state;
pub mod taxonomy;
pub mod tls;
pub mod tlsrpt;
pub mod version;
