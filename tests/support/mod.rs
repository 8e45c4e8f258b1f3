//! The fake world the integration tests probe, all on loopback at ports the
//! OS picks, stopped when the [`World`] is dropped:
//!
//! - [`ca`]: the test certificate authority and the certificates it issues;
//! - [`dns`]: the authoritative DNS server (hickory-server) and its faults;
//! - [`signed_dns`], [`ad_dns`]: the same signed (DANE tests), and a fake
//!   validating resolver that answers with the AD flag;
//! - [`https`]: the policy hosts' HTTPS server, well-behaved or hostile;
//! - [`smtp`]: the MX hosts' SMTP servers and their STARTTLS behaviours;
//! - [`world`]: [`WorldSpec`], the builder, and [`World`], the running
//!   servers and the exporter config pointing at them;
//! - [`harness`]: the exporter running in-process on a world, and HTTP
//!   helpers to scrape it.
//!
//! Each `tests/*.rs` binary (and `examples/fake_world.rs`) compiles this
//! module on its own and uses only part of it, so rustc's dead-code lint,
//! which works per binary, would flag in each what the others use. The lint
//! is therefore allowed on the submodules below, and only there. To find
//! what no binary uses, turn these `allow`s into `warn` and run
//! `cargo check --tests --examples`: an item used nowhere is reported by
//! every binary; delete it.

#[allow(dead_code, reason = "each test binary uses part of it; see above")]
pub mod ad_dns;
#[allow(dead_code, reason = "each test binary uses part of it; see above")]
pub mod ca;
#[allow(dead_code, reason = "each test binary uses part of it; see above")]
pub mod dns;
#[allow(dead_code, reason = "each test binary uses part of it; see above")]
pub mod harness;
#[allow(dead_code, reason = "each test binary uses part of it; see above")]
pub mod https;
#[allow(dead_code, reason = "each test binary uses part of it; see above")]
pub mod signed_dns;
#[allow(dead_code, reason = "each test binary uses part of it; see above")]
pub mod smtp;
#[allow(dead_code, reason = "each test binary uses part of it; see above")]
pub mod world;

#[allow(
    unused_imports,
    reason = "examples/fake_world.rs names `support::World`"
)]
pub use world::World;
