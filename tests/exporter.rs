//! The exporter end to end: scheduler + metrics + HTTP server against the
//! fake world, scraped over HTTP; policy change detection; the `check`
//! subcommand and config errors through the real binary.

mod support;

use mtasts_exporter::config::Config;
use mtasts_exporter::history::PolicyHistories;
use mtasts_exporter::metrics::Metrics;
use mtasts_exporter::probe::Prober;
use mtasts_exporter::report::ProbeReport;
use std::process::Command;
use std::time::Duration;
use support::harness::{get, parse_exposition, start_exporter_in, wait_ready, Running};
use support::https::{policy_text, PolicyHost};
use support::world::{ConfigOverrides, WorldSpec};

async fn start_exporter(domains: &[&str]) -> Running {
    start_exporter_in(world_spec(), domains, ConfigOverrides::default()).await
}

fn world_spec() -> WorldSpec {
    let mut spec = WorldSpec::new();
    spec.mta_sts_domain(
        "good.test",
        "20240101",
        &policy_text("enforce", &["mx1.good.test", "*.old.test"], 1_209_600),
    )
    .mta_sts_domain(
        "miss.test",
        "1",
        &policy_text("testing", &["mx1.miss.test"], 86400),
    )
    .mx("miss.test", 20, "other.elsewhere.test")
    .mx("plain.test", 10, "mx.plain.test");
    spec
}

#[tokio::test]
async fn scrape_metrics_over_http() {
    let running = start_exporter(&["good.test", "miss.test", "plain.test"]).await;
    assert_eq!(get(&format!("{}/-/healthy", running.base)).await.0, 200);
    wait_ready(&running.base).await;
    let (status, body) = get(&format!("{}/metrics", running.base)).await;
    assert_eq!(status, 200);
    let m = parse_exposition(&body);
    let v = |s: &str| *m.get(s).unwrap_or_else(|| panic!("missing {s}\n{body}"));

    assert_eq!(v(r#"mtasts_probe_success{domain="good.test"}"#), 1.0);
    assert_eq!(v(r#"mtasts_probe_success{domain="miss.test"}"#), 0.0);
    assert_eq!(v(r#"mtasts_probe_success{domain="plain.test"}"#), 0.0);
    assert_eq!(v(r#"mtasts_probes_total{domain="good.test"}"#), 1.0);
    assert!(v(r#"mtasts_probe_timestamp_seconds{domain="good.test"}"#) > 1.7e9);
    assert!(v(r#"mtasts_probe_duration_seconds{domain="good.test"}"#) > 0.0);
    assert_eq!(
        v(r#"mtasts_record_info{domain="good.test",id="20240101"}"#),
        1.0
    );
    assert_eq!(
        v(r#"mtasts_policy_mode{domain="good.test",mode="enforce"}"#),
        1.0
    );
    assert_eq!(
        v(r#"mtasts_policy_mode{domain="good.test",mode="testing"}"#),
        0.0
    );
    assert_eq!(
        v(r#"mtasts_policy_mode{domain="good.test",mode="none"}"#),
        0.0
    );
    assert_eq!(
        v(r#"mtasts_policy_mode{domain="miss.test",mode="testing"}"#),
        1.0
    );
    assert_eq!(
        v(r#"mtasts_policy_max_age_seconds{domain="good.test"}"#),
        1_209_600.0
    );
    assert_eq!(v(r#"mtasts_policy_mx_patterns{domain="good.test"}"#), 2.0);
    let fetched = v(r#"mtasts_policy_fetch_success_timestamp_seconds{domain="good.test"}"#);
    assert_eq!(
        v(r#"mtasts_policy_expiry_timestamp_seconds{domain="good.test"}"#),
        fetched + 1_209_600.0
    );
    assert_eq!(
        v(r#"mtasts_mx_policy_match{domain="good.test",mx="mx1.good.test"}"#),
        1.0
    );
    assert_eq!(
        v(r#"mtasts_mx_policy_match{domain="miss.test",mx="other.elsewhere.test"}"#),
        0.0
    );
    assert_eq!(
        v(r#"mtasts_policy_pattern_unused{domain="good.test",pattern="*.old.test"}"#),
        1.0
    );
    assert_eq!(
        v(r#"mtasts_policy_warning{domain="good.test",warning="policy-pattern-unused"}"#),
        1.0
    );
    assert_eq!(
        v(r#"mtasts_tlsrpt_record_present{domain="good.test"}"#),
        1.0
    );
    assert_eq!(
        v(r#"mtasts_tlsrpt_record_present{domain="plain.test"}"#),
        0.0
    );
    assert_eq!(v(r#"mtasts_policy_id_stale{domain="good.test"}"#), 0.0);
    assert_eq!(
        v(
            r#"mtasts_failures_total{domain="miss.test",phase="mx_lookup",reason="mtasts-policy-mx-mismatch",result_type="validation-failure"}"#
        ),
        1.0
    );
    assert_eq!(
        v(
            r#"mtasts_failures_total{domain="plain.test",phase="record_lookup",reason="no-mta-sts-dns-txt-record",result_type="no-policy-found"}"#
        ),
        1.0
    );
    // plain.test has no policy: no policy series, no MX match series.
    assert!(!body.contains(r#"mtasts_policy_mode{domain="plain.test""#));
    assert!(!body.contains(r#"mtasts_mx_policy_match{domain="plain.test""#));
    assert!(v(r#"mtasts_phase_duration_seconds_count{phase="policy_fetch",result="ok"}"#) >= 2.0);
    assert_eq!(v("mtasts_domains_configured"), 3.0);
    assert_eq!(
        v(r#"mtasts_probe_interval_seconds{domain="good.test"}"#),
        300.0
    );
    assert_eq!(
        v(
            r#"mtasts_probe_failed{domain="plain.test",phase="record_lookup",reason="no-mta-sts-dns-txt-record",result_type="no-policy-found"}"#
        ),
        1.0
    );
    assert!(!body.contains(r#"mtasts_probe_failed{domain="good.test""#));
    assert!(body.contains("process_resident_memory_bytes"));

    let (status, page) = get(&format!("{}/", running.base)).await;
    assert_eq!(status, 200);
    assert!(page.contains("good.test") && page.contains("mtasts-policy-mx-mismatch"));
    assert_eq!(get(&format!("{}/nope", running.base)).await.0, 404);

    running.shutdown.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), running.server)
        .await
        .expect("server stops")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn hung_domain_delays_nobody() {
    let mut spec = world_spec();
    spec.blackhole("_mta-sts.hang.test")
        .mx("hang.test", 10, "mx1.hang.test");
    let running = start_exporter_in(
        spec,
        &["{name: hang.test, timeout: 4s}", "good.test", "miss.test"],
        ConfigOverrides {
            resolver_timeout: Some("30s"),
            ..ConfigOverrides::default()
        },
    )
    .await;
    // The other domains are probed while hang.test's lookup hangs, and the
    // exporter is not ready until hang.test's first probe ends.
    let mut seen_others = false;
    for _ in 0..100 {
        let (_, body) = get(&format!("{}/metrics", running.base)).await;
        let m = parse_exposition(&body);
        if m.contains_key(r#"mtasts_probe_success{domain="good.test"}"#)
            && m.contains_key(r#"mtasts_probe_success{domain="miss.test"}"#)
        {
            assert!(!m.contains_key(r#"mtasts_probe_success{domain="hang.test"}"#));
            assert_eq!(get(&format!("{}/-/ready", running.base)).await.0, 503);
            seen_others = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(seen_others, "other domains were not probed while one hung");
    wait_ready(&running.base).await;
    let (_, body) = get(&format!("{}/metrics", running.base)).await;
    let m = parse_exposition(&body);
    assert_eq!(m[r#"mtasts_probe_success{domain="hang.test"}"#], 0.0);
    assert_eq!(
        m[r#"mtasts_failures_total{domain="hang.test",phase="record_lookup",reason="dns-lookup",result_type="sts-policy-fetch-error"}"#],
        1.0
    );
    let duration = m[r#"mtasts_probe_duration_seconds{domain="hang.test"}"#];
    assert!(
        (3.9..6.0).contains(&duration),
        "the probe's own timeout bounds it: {duration}"
    );
}

#[tokio::test]
async fn policy_change_and_stale_id() {
    let world = world_spec().start().await;
    let config = world.config(&["good.test"]);
    let prober = Prober::new(&config).unwrap();
    let metrics = Metrics::new(
        config.max_mx_hosts,
        false,
        mtasts_exporter::metrics::RegistryKind::Probe,
    )
    .unwrap();
    let domain = &config.domains[0];
    let scrape =
        |metrics: &Metrics| parse_exposition(&String::from_utf8(metrics.render()).unwrap());
    // As the scheduler does: the domain's policy history, then its series.
    let histories = PolicyHistories::default();
    let observe = |report: ProbeReport| metrics.observe(&report, &histories.observe(&report));

    observe(prober.probe(domain).await);
    let m = scrape(&metrics);
    assert_eq!(m[r#"mtasts_policy_id_stale{domain="good.test"}"#], 0.0);
    assert_eq!(m[r#"mtasts_policy_changes_total{domain="good.test"}"#], 0.0);

    // Same content, different line ends and order: not a change.
    world.set_policy_host(
        "mta-sts.good.test",
        PolicyHost::ok(
            "max_age: 1209600\nmx: *.old.test\nmx: mx1.good.test\nmode: enforce\nversion: STSv1\n",
        ),
    );
    observe(prober.probe(domain).await);
    let m = scrape(&metrics);
    assert_eq!(m[r#"mtasts_policy_changes_total{domain="good.test"}"#], 0.0);

    // Content changes, record id does not: stale.
    world.set_policy_host(
        "mta-sts.good.test",
        PolicyHost::ok(&policy_text("testing", &["mx1.good.test"], 1_209_600)),
    );
    observe(prober.probe(domain).await);
    let m = scrape(&metrics);
    assert_eq!(m[r#"mtasts_policy_changes_total{domain="good.test"}"#], 1.0);
    assert_eq!(m[r#"mtasts_policy_id_stale{domain="good.test"}"#], 1.0);
    assert_eq!(
        m[r#"mtasts_policy_mode{domain="good.test",mode="testing"}"#],
        1.0
    );
    // Still stale on the next probe: nothing changed.
    observe(prober.probe(domain).await);
    assert_eq!(
        scrape(&metrics)[r#"mtasts_policy_id_stale{domain="good.test"}"#],
        1.0
    );

    // A failed fetch removes the policy series but keeps the timestamps.
    world.set_policy_host("mta-sts.good.test", PolicyHost::status(500, &[]));
    observe(prober.probe(domain).await);
    let m = scrape(&metrics);
    assert!(!m.contains_key(r#"mtasts_policy_mode{domain="good.test",mode="testing"}"#));
    assert!(!m.contains_key(r#"mtasts_policy_max_age_seconds{domain="good.test"}"#));
    assert!(!m.contains_key(r#"mtasts_mx_policy_match{domain="good.test",mx="mx1.good.test"}"#));
    assert!(m.contains_key(r#"mtasts_policy_expiry_timestamp_seconds{domain="good.test"}"#));
    assert_eq!(m[r#"mtasts_probe_success{domain="good.test"}"#], 0.0);
    let failed = r#"mtasts_probe_failed{domain="good.test",phase="policy_fetch",reason="cannot-fetch-policy",result_type="sts-policy-fetch-error"}"#;
    assert_eq!(m[failed], 1.0);
    // Fixed again: the current-failure series goes, the counter stays.
    world.set_policy_host(
        "mta-sts.good.test",
        PolicyHost::ok(&policy_text("testing", &["mx1.good.test"], 1_209_600)),
    );
    observe(prober.probe(domain).await);
    let m = scrape(&metrics);
    assert!(!m.contains_key(failed));
    assert_eq!(
        m[r#"mtasts_failures_total{domain="good.test",phase="policy_fetch",reason="cannot-fetch-policy",result_type="sts-policy-fetch-error"}"#],
        1.0
    );

    // Removing the domain drops all its series.
    metrics.remove_domain("good.test");
    let text = String::from_utf8(metrics.render()).unwrap();
    assert!(!text.contains("good.test"), "{text}");
}

fn exporter() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mtasts-exporter"))
}

#[tokio::test]
async fn check_subcommand_json_and_text() {
    let world = world_spec().start().await;
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("config.yml");
    std::fs::write(&config_path, world.config_yaml(&["good.test", "miss.test"])).unwrap();

    let run = |args: &[&str]| {
        let config_path = config_path.clone();
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        tokio::task::spawn_blocking(move || {
            exporter()
                .arg("check")
                .arg("--config.file")
                .arg(&config_path)
                .args(&args)
                .output()
                .unwrap()
        })
    };
    let good = run(&["--output", "json", "good.test"]).await.unwrap();
    assert_eq!(
        good.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&good.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&good.stdout).unwrap();
    let report = &json[0];
    assert_eq!(report["domain"], "good.test");
    assert_eq!(report["success"], true);
    assert_eq!(report["record"]["id"], "20240101");
    assert_eq!(report["policy"]["mode"], "enforce");
    assert_eq!(report["policy"]["max_age"], 1_209_600);
    assert_eq!(report["policy"]["mx"][0], "mx1.good.test");
    assert!(report["policy"]["text"]
        .as_str()
        .unwrap()
        .contains("version: STSv1"));
    assert_eq!(report["mx_hosts"][0]["host"], "mx1.good.test");
    assert_eq!(report["mx_hosts"][0]["matches_policy"], true);
    assert_eq!(report["tlsrpt"]["present"], true);
    assert_eq!(report["tlsrpt"]["valid"], true);
    assert_eq!(report["tlsrpt"]["rua"][0], "mailto:tlsrpt@good.test");
    assert_eq!(report["warnings"][0], "policy-pattern-unused");
    assert_eq!(report["failures"].as_array().unwrap().len(), 0);
    // One probe, no history: the fresh policy or none, never a cached one.
    assert_eq!(report["policy_source"], "fresh");
    assert!(report.get("cached_policy").unwrap().is_null());

    // A failing domain: exit 1; absent parts are null, not omitted.
    let all = run(&["--output", "json", "plain.test"]).await.unwrap();
    assert_eq!(all.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&all.stdout).unwrap();
    let report = &json[0];
    assert!(report.get("record").unwrap().is_null());
    assert!(report.get("policy").unwrap().is_null());
    assert_eq!(report["failures"][0]["phase"], "record_lookup");
    assert_eq!(report["failures"][0]["result_type"], "no-policy-found");
    assert_eq!(report["failures"][0]["reason"], "no-mta-sts-dns-txt-record");
    assert!(report["failures"][0]["detail"].is_string());
    assert_eq!(report["policy_source"], "none");

    // Text output over every configured domain.
    let text = run(&[]).await.unwrap();
    assert_eq!(text.status.code(), Some(1));
    let out = String::from_utf8(text.stdout).unwrap();
    assert!(out.contains("good.test: OK"), "{out}");
    assert!(out.contains("  source    fresh"), "{out}");
    assert!(out.contains("miss.test: FAIL"), "{out}");
    assert!(out.contains("NOT covered by policy"), "{out}");
    assert!(
        out.contains("validation-failure / mtasts-policy-mx-mismatch"),
        "{out}"
    );
    // Each failure says what to do, from the one table; full names; the
    // summary line last.
    let remedy = mtasts_exporter::remedy::for_reason(
        mtasts_exporter::taxonomy::Reason::MtastsPolicyMxMismatch,
    );
    assert!(out.contains(&format!("what to do: {remedy}")), "{out}");
    assert!(
        out.contains("record    _mta-sts.good.test: v=STSv1"),
        "{out}"
    );
    assert!(
        out.contains("policy    https://mta-sts.good.test:"),
        "{out}"
    );
    assert!(
        out.ends_with("\n2 domains: 1 ok, 1 failing, 1 with warnings\n"),
        "{out}"
    );
    assert_eq!(
        report["failures"][0]["what_to_do"],
        mtasts_exporter::remedy::for_reason(
            mtasts_exporter::taxonomy::Reason::NoMtaStsDnsTxtRecord
        )
    );
}

#[test]
fn config_errors_exit_2_with_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yml");
    std::fs::write(&path, "interval: 5 minutes\n").unwrap();
    let out = exporter().arg("--config.file").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.yml")
            && stderr.contains("bad.yml:1:1: field interval:")
            && stderr.contains("invalid duration"),
        "{stderr}"
    );

    std::fs::write(
        &path,
        "domains:\n  - good.example\n  - GOOD.example\n  - not_a_domain\n",
    )
    .unwrap();
    let out = exporter()
        .arg("check")
        .arg("--config.file")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.yml:3:5: field domains[1]: duplicate"),
        "{stderr}"
    );
    assert!(
        stderr.contains("bad.yml:4:5: field domains[2]:"),
        "{stderr}"
    );

    let out = exporter()
        .arg("--config.file")
        .arg(dir.path().join("missing.yml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.yml"));

    let out = exporter().arg("--no-such-flag").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn shipped_config_is_valid() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/mtasts-exporter.yml");
    let config = Config::load(&path).unwrap();
    assert!(!config.domains.is_empty());
}

/// A probe that panics for `boom.test` and reports success for others.
#[derive(Clone)]
struct PanickyProbe;

impl mtasts_exporter::scheduler::RunProbe for PanickyProbe {
    fn run_probe(
        &self,
        domain: &mtasts_exporter::config::DomainConfig,
    ) -> impl std::future::Future<Output = mtasts_exporter::report::ProbeReport> + Send {
        let name = domain.name.clone();
        async move {
            if name == "boom.test" {
                panic!("probe bug for {name}");
            }
            mtasts_exporter::report::ProbeReport {
                domain: name,
                success: true,
                timestamp: 1.0,
                duration_seconds: 0.001,
                record: None,
                policy: None,
                policy_cert: None,
                mx_source: None,
                mx_hosts: None,
                unused_patterns: Vec::new(),
                tlsrpt: None,
                warnings: Vec::new(),
                failures: Vec::new(),
                phases: Vec::new(),
                policy_addresses: Vec::new(),
                policy_source: mtasts_exporter::report::PolicySource::None,
                cached_policy: None,
                dane: None,
            }
        }
    }
}

#[tokio::test]
async fn a_panicking_probe_is_counted_and_the_scheduler_goes_on() {
    use mtasts_exporter::config::{DomainConfig, ProbeSettings};
    use mtasts_exporter::metrics::{Metrics, RegistryKind};
    use mtasts_exporter::scheduler::{Readiness, Scheduler};
    use std::sync::Arc;
    let metrics = Arc::new(Metrics::new(10, false, RegistryKind::Exporter).unwrap());
    let readiness = Arc::new(Readiness::default());
    let mut scheduler = Scheduler::new(
        PanickyProbe,
        metrics.clone(),
        4,
        readiness.clone(),
        Arc::default(),
    );
    let settings = ProbeSettings {
        interval: Duration::from_secs(1),
        timeout: Duration::from_secs(5),
        check_mx: false,
        check_starttls: false,
        dane: mtasts_exporter::config::DaneMode::Off,
    };
    for name in ["boom.test", "fine.test"] {
        scheduler.start(DomainConfig {
            name: name.into(),
            settings: settings.clone(),
        });
    }
    // Three seconds: the first round at once, later ones every second.
    tokio::time::sleep(Duration::from_millis(3200)).await;
    assert!(
        readiness.is_ready(),
        "a panicked first probe still counts as done"
    );
    let m = parse_exposition(&String::from_utf8(metrics.render()).unwrap());
    let panics = m["mtasts_probe_panics_total"];
    assert!(
        panics >= 2.0,
        "the panicking domain kept being scheduled: {panics}"
    );
    assert!(m[r#"mtasts_probes_total{domain="fine.test"}"#] >= 2.0);
    assert!(!m.contains_key(r#"mtasts_probe_success{domain="boom.test"}"#));
    assert_eq!(m["mtasts_probes_in_flight"], 0.0);
}
