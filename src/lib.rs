//! mtasts-exporter: watches the MTA-STS (RFC 8461) set-up of mail domains and
//! exports what it finds to Prometheus.
//!
//! Data flows one way: [`config`] → [`scheduler`] → [`probe`] →
//! [`report::ProbeReport`] → [`metrics`] / [`check`] → [`server`].

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
pub mod web_config;
