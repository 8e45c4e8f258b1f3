//! Build metadata for `--version` and `mtasts_exporter_build_info`: the git
//! revision and the rustc version, handed to the crate as environment
//! variables (read by `src/version.rs`). No crate for a few lines.
//!
//! The revision comes from `MTASTS_REVISION` when set (builds from a source
//! tarball, or an image build that knows its commit), else from
//! `git rev-parse HEAD`, else it is "unknown".

use std::process::Command;

/// The trimmed standard output of a command that succeeded, if any.
fn output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!text.is_empty()).then_some(text)
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=MTASTS_REVISION");
    // Rebuild when HEAD moves: HEAD itself, the branch it points to, and
    // packed refs (paths from git, so worktrees work too). Only files that
    // exist: cargo reruns the script on every build for a missing one.
    let mut watched = vec!["HEAD".to_string(), "packed-refs".to_string()];
    watched.extend(output("git", &["symbolic-ref", "-q", "HEAD"]));
    for git_path in &watched {
        if let Some(path) = output("git", &["rev-parse", "--git-path", git_path]) {
            if std::path::Path::new(&path).exists() {
                println!("cargo:rerun-if-changed={path}");
            }
        }
    }

    let revision = std::env::var("MTASTS_REVISION")
        .ok()
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty())
        .or_else(|| output("git", &["rev-parse", "HEAD"]))
        .unwrap_or_else(|| "unknown".to_string());

    // Cargo sets RUSTC to the compiler it builds with.
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let rustc_line = output(&rustc, &["-V"]).unwrap_or_else(|| "rustc unknown".to_string());
    // "rustc 1.95.0 (59807616e 2026-04-14)" -> "1.95.0"
    let rust_version = rustc_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("unknown")
        .to_string();

    println!("cargo:rustc-env=MTASTS_REVISION={revision}");
    println!("cargo:rustc-env=MTASTS_RUSTC_VERSION={rust_version}");
    println!("cargo:rustc-env=MTASTS_RUSTC_LINE={rustc_line}");
}
