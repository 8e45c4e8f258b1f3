//! `--version` and `mtasts_exporter_build_info` name the version, the git
//! revision and the Rust version, as Prometheus's own binaries do.

use mtasts_exporter::metrics::{Metrics, RegistryKind};
use mtasts_exporter::version;
use std::process::Command;

/// The commit git reports for this checkout, when git and `.git` are there.
fn git_head() -> Option<String> {
    let out = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[test]
fn build_values_are_filled_in() {
    assert_eq!(version::VERSION, env!("CARGO_PKG_VERSION"));
    assert!(!version::REVISION.is_empty());
    assert!(
        version::RUST_VERSION.split('.').count() >= 3,
        "{}",
        version::RUST_VERSION
    );
    assert!(version::RUSTC.starts_with("rustc "), "{}", version::RUSTC);
    // Built from a git checkout without an override: the revision is HEAD's
    // commit (a build script rerun on a moved HEAD keeps this true).
    if std::env::var_os("MTASTS_REVISION").is_none() {
        if let Some(head) = git_head() {
            assert_eq!(version::REVISION, head);
        }
    }
}

#[test]
fn version_flag_prints_version_revision_and_rust() {
    for flag in ["--version", "-V"] {
        let out = Command::new(env!("CARGO_BIN_EXE_mtasts-exporter"))
            .arg(flag)
            .output()
            .expect("run the binary");
        assert!(out.status.success(), "{flag}: {out:?}");
        let text = String::from_utf8(out.stdout).expect("UTF-8");
        let first = text.lines().next().unwrap_or_default();
        assert_eq!(
            first,
            format!(
                "mtasts-exporter, version {} (revision: {})",
                version::VERSION,
                version::REVISION
            )
        );
        assert!(
            text.contains(&format!("rust version:     {}", version::RUSTC)),
            "{text}"
        );
    }
}

#[test]
fn build_info_metric_has_the_three_labels() {
    let metrics = Metrics::new(5, false, RegistryKind::Exporter).expect("metrics");
    let body = String::from_utf8(metrics.render()).expect("UTF-8");
    let series = format!(
        "mtasts_exporter_build_info{{revision=\"{}\",rustversion=\"{}\",version=\"{}\"}} 1",
        version::REVISION,
        version::RUST_VERSION,
        version::VERSION
    );
    assert!(
        body.lines().any(|line| line == series),
        "no {series} in\n{body}"
    );
}
