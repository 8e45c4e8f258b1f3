//! What this build is: the crate version, the git revision it was built
//! from and the Rust compiler that built it, as Prometheus's own binaries
//! report them in `--version` and in their `*_build_info` metric.
//!
//! The values are fixed at build time by `build.rs`: the revision from
//! `MTASTS_REVISION` when set, else `git rev-parse HEAD`, else "unknown".

/// The crate version, e.g. "0.1.0".
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The full git commit the binary was built from, or "unknown".
pub const REVISION: &str = env!("MTASTS_REVISION");

/// The rustc version number, e.g. "1.95.0" (the `rustversion` label).
pub const RUST_VERSION: &str = env!("MTASTS_RUSTC_VERSION");

/// What `rustc -V` printed, e.g. "rustc 1.95.0 (59807616e 2026-04-14)".
pub const RUSTC: &str = env!("MTASTS_RUSTC_LINE");

/// The `--version` text of the binary `program`, in the shape of
/// Prometheus's (`prometheus, version 2.53.0 (branch: …, revision: …)` then
/// indented detail lines), ending with a newline.
pub fn print(program: &str) -> String {
    format!(
        "{program}, version {VERSION} (revision: {REVISION})\n  rust version:     {RUSTC}\n  platform:         {}/{}\n",
        std::env::consts::OS,
        std::env::consts::ARCH,
    )
}
