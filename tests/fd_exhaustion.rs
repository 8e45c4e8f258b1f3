//! Descriptor exhaustion (issue 17 point 7): a probe that cannot open a
//! socket is the exporter's problem, not the domain's. This binary lowers
//! its own RLIMIT_NOFILE and uses up every descriptor, so it holds one test
//! only: a test binary is a process of its own, and no other test shares
//! the limit.

mod support;

use mtasts_exporter::history::PolicyHistory;
use mtasts_exporter::metrics::{Metrics, RegistryKind};
use mtasts_exporter::probe::Prober;
use mtasts_exporter::report::ProbeReport;
use mtasts_exporter::taxonomy::{LocalErrorKind, Phase, Reason};
use support::https::policy_text;
use support::world::WorldSpec;

/// Descriptors the test leaves itself under the lowered limit: enough for
/// the runtime and the fake world, few enough to use up quickly.
const LIMIT: libc::rlim_t = 512;

/// Lowers the soft descriptor limit to [`LIMIT`] and opens `/dev/null`
/// until `open` fails with `EMFILE`; returns the files (every descriptor
/// the process may have) and the limit to restore.
fn exhaust_descriptors() -> (Vec<std::fs::File>, libc::rlimit) {
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write a valid, owned rlimit.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut old) }, 0);
    let lowered = libc::rlimit {
        rlim_cur: LIMIT.min(old.rlim_cur),
        rlim_max: old.rlim_max,
    };
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lowered) }, 0);
    let mut held = Vec::new();
    loop {
        match std::fs::File::open("/dev/null") {
            Ok(file) => held.push(file),
            Err(e) if e.raw_os_error() == Some(libc::EMFILE) => break,
            Err(e) => panic!("unexpected error while exhausting descriptors: {e}"),
        }
        assert!(held.len() <= LIMIT as usize, "the limit did not hold");
    }
    (held, old)
}

fn restore(limit: libc::rlimit) {
    // SAFETY: as above.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) }, 0);
}

/// Whether the exposition has `line` exactly.
fn has_line(text: &str, line: &str) -> bool {
    text.lines().any(|l| l == line)
}

fn no_dns_lookup_failure(report: &ProbeReport) {
    assert!(
        report
            .failures
            .iter()
            .all(|f| f.reason != Reason::DnsLookup),
        "blamed on the domain's DNS: {:#?}",
        report.failures
    );
}

#[tokio::test]
async fn running_out_of_descriptors_is_local_and_the_next_probe_is_fine() {
    let policy = policy_text("enforce", &["mx1.good.test"], 1_209_600);
    let world = WorldSpec::new()
        .mta_sts_domain("good.test", "20240101", &policy)
        .start()
        .await;
    let config = world.config(&["good.test"]);
    let prober = Prober::new(&config).expect("prober");
    let domain = config.domains[0].clone();
    let metrics = Metrics::new(10, false, RegistryKind::Exporter).expect("metrics");
    let observe = |report: &ProbeReport| metrics.observe(report, &PolicyHistory::of_one(report));

    // A good probe first: the domain's series say it passes.
    let before = prober.probe(&domain).await;
    assert!(before.success && before.is_complete(), "{before:#?}");
    observe(&before);

    let (held, limit) = exhaust_descriptors();
    let starved = prober.probe(&domain).await;
    drop(held);
    restore(limit);

    // Classified as the exporter's own problem, not the domain's.
    no_dns_lookup_failure(&starved);
    assert!(starved.failures.is_empty(), "{:#?}", starved.failures);
    assert!(!starved.is_complete());
    let record = starved
        .phases
        .iter()
        .find(|p| p.phase == Phase::RecordLookup)
        .expect("record phase");
    let local = record
        .local_error
        .as_ref()
        .expect("record lookup marked local");
    assert_eq!(local.kind, LocalErrorKind::DescriptorsExhausted);
    assert!(starved
        .local_errors()
        .all(|l| l.kind == LocalErrorKind::DescriptorsExhausted));

    // The domain's series keep their previous values; the local error is
    // counted for the exporter.
    observe(&starved);
    let text = String::from_utf8(metrics.render()).expect("utf-8");
    assert!(
        has_line(&text, r#"mtasts_probe_success{domain="good.test"} 1"#),
        "{text}"
    );
    assert!(!text.contains("mtasts_failures_total{"), "{text}");
    assert!(
        has_line(&text, r#"mtasts_probes_total{domain="good.test"} 1"#),
        "{text}"
    );
    let counted = text
        .lines()
        .find(|l| l.starts_with(r#"mtasts_probe_local_errors_total{kind="descriptors-exhausted"}"#))
        .expect("local error counter");
    assert_ne!(counted.rsplit(' ').next(), Some("0"), "{counted}");

    // With descriptors back, the next probe is fine and counted.
    let after = prober.probe(&domain).await;
    assert!(after.success && after.is_complete(), "{after:#?}");
    observe(&after);
    let text = String::from_utf8(metrics.render()).expect("utf-8");
    assert!(
        has_line(&text, r#"mtasts_probes_total{domain="good.test"} 2"#),
        "{text}"
    );
}
