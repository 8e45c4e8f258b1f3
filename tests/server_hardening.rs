//! The HTTP server and the process under hostile use (issue 17): echoed
//! request values are capped, signals at awkward moments of start-up do no
//! harm, and idle clients cannot take every connection.

mod support;

use std::process::{Command, Stdio};
use support::harness::{get, start_exporter_in};
use support::https::policy_text;
use support::world::{ConfigOverrides, WorldSpec};

fn world() -> WorldSpec {
    let mut spec = WorldSpec::new();
    spec.mta_sts_domain(
        "good.test",
        "1",
        &policy_text("enforce", &["mx1.good.test"], 1_209_600),
    );
    spec
}

// --- Point 6: echoes of request values are capped. ---

/// A 10 KB `/probe` target or module is echoed as its first 100 characters
/// and its length, not in full.
#[tokio::test]
async fn probe_errors_echo_capped_values() {
    let running = start_exporter_in(world(), &["good.test"], ConfigOverrides::default()).await;
    let base = &running.base;
    let long = "a".repeat(10_000);
    let cut = format!("{}… (10000 bytes)", "a".repeat(100));
    for (url, status) in [
        (format!("{base}/probe?target={long}"), 400),
        (format!("{base}/probe?target=good.test&module={long}"), 400),
    ] {
        let (got, body) = get(&url).await;
        assert_eq!(got, status, "{body}");
        assert!(body.len() < 1024, "{} bytes: {body}", body.len());
        assert_eq!(body.matches(&cut).count(), 1, "{body}");
    }
}

/// `check` with a 10,000-character domain argument names it once, capped.
#[test]
fn check_argument_errors_echo_capped_values() {
    let long = "x".repeat(10_000);
    let out = Command::new(env!("CARGO_BIN_EXE_mtasts-exporter"))
        .arg("check")
        .arg(&long)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.len() < 1024, "{} bytes: {stderr}", stderr.len());
    let cut = format!("{}… (10000 bytes)", "x".repeat(100));
    assert_eq!(stderr.matches(&cut).count(), 1, "{stderr}");
    assert!(stderr.contains("is not a valid"), "{stderr}");
}
