//! STARTTLS and certificates: each MX host behaviour of the fake world,
//! checked in the report, the metrics and the `check` JSON.

mod support;

use mtasts_exporter::check;
use mtasts_exporter::config::Config;
use mtasts_exporter::history::PolicyHistory;
use mtasts_exporter::metrics::Metrics;
use mtasts_exporter::probe::Prober;
use mtasts_exporter::report::ProbeReport;
use mtasts_exporter::taxonomy::{Phase, Reason, ResultType};
use std::collections::HashMap;
use std::time::Duration;
use support::ca::CertKind;
use support::https::{policy_text, PolicyHost};
use support::smtp::SmtpBehavior;
use support::world::{ConfigOverrides, WorldSpec};

/// One domain whose single MX host `mx.<domain>` behaves as told.
fn scenario(spec: &mut WorldSpec, domain: &str, mode: &str, behavior: Option<SmtpBehavior>) {
    let mx = format!("mx.{domain}");
    spec.txt(&format!("_mta-sts.{domain}"), "v=STSv1; id=1")
        .a(&format!("mta-sts.{domain}"))
        .policy_host(
            &format!("mta-sts.{domain}"),
            PolicyHost::ok(&policy_text(mode, &[&mx], 1_209_600)),
        )
        .mx(domain, 10, &mx)
        .txt(
            &format!("_smtp._tls.{domain}"),
            "v=TLSRPTv1; rua=mailto:r@example.test",
        );
    match behavior {
        Some(behavior) => spec.smtp_host(&mx, behavior),
        None => spec.unreachable_host(&mx),
    };
}

/// A domain, its MX host's behaviour (`None`: nothing listens), and the
/// expected (result type, reason) of its STARTTLS check (`None`: passes).
type Case = (
    &'static str,
    Option<SmtpBehavior>,
    Option<(ResultType, &'static str)>,
);

const CASES: &[Case] = &[
    ("valid.test", Some(SmtpBehavior::Tls(CertKind::Valid)), None),
    (
        "expired.test",
        Some(SmtpBehavior::Tls(CertKind::Expired)),
        Some((ResultType::CertificateExpired, "certificate-expired")),
    ),
    (
        "notyet.test",
        Some(SmtpBehavior::Tls(CertKind::NotYetValid)),
        Some((ResultType::CertificateExpired, "certificate-expired")),
    ),
    (
        "wronghost.test",
        Some(SmtpBehavior::Tls(CertKind::WrongHost)),
        Some((
            ResultType::CertificateHostMismatch,
            "certificate-host-mismatch",
        )),
    ),
    (
        "selfsigned.test",
        Some(SmtpBehavior::Tls(CertKind::SelfSigned)),
        Some((ResultType::CertificateNotTrusted, "certificate-not-trusted")),
    ),
    (
        "nostarttls.test",
        Some(SmtpBehavior::NoStarttls),
        Some((ResultType::StarttlsNotSupported, "starttls-not-offered")),
    ),
    (
        "refused454.test",
        Some(SmtpBehavior::RefuseStarttls(454)),
        Some((
            ResultType::StarttlsNotSupported,
            "smtp-starttls-reply-code-454",
        )),
    ),
    (
        "connrefused.test",
        None,
        Some((ResultType::ValidationFailure, "connection-refused")),
    ),
    (
        "nobanner.test",
        Some(SmtpBehavior::NoBanner),
        Some((ResultType::ValidationFailure, "timeout")),
    ),
    (
        "greeting554.test",
        Some(SmtpBehavior::Greeting(554)),
        Some((ResultType::ValidationFailure, "smtp-greeting")),
    ),
    (
        "greeting421.test",
        Some(SmtpBehavior::Greeting(421)),
        Some((ResultType::ValidationFailure, "smtp-greeting")),
    ),
    (
        "endless.test",
        Some(SmtpBehavior::EndlessLines),
        Some((ResultType::ValidationFailure, "smtp-greeting")),
    ),
    (
        "garbage.test",
        Some(SmtpBehavior::TlsGarbage),
        Some((ResultType::ValidationFailure, "tls-handshake-failure")),
    ),
    (
        "stall.test",
        Some(SmtpBehavior::StallAfterStarttls),
        Some((ResultType::ValidationFailure, "timeout")),
    ),
    (
        "inject.test",
        Some(SmtpBehavior::InjectAfterStarttls),
        Some((ResultType::ValidationFailure, "smtp-protocol-error")),
    ),
    (
        "alert.test",
        Some(SmtpBehavior::AlertAfterStarttls),
        Some((
            ResultType::ValidationFailure,
            "tls-remote-handshake-failure",
        )),
    ),
    (
        "closeon.test",
        Some(SmtpBehavior::CloseOnStarttls),
        Some((ResultType::ValidationFailure, "smtp-protocol-error")),
    ),
    (
        "closeafter.test",
        Some(SmtpBehavior::CloseAfterStarttls),
        Some((ResultType::ValidationFailure, "tls-handshake-failure")),
    ),
];

fn exposition(metrics: &Metrics) -> HashMap<String, f64> {
    String::from_utf8(metrics.render())
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_string(), value.parse().ok()?))
        })
        .collect()
}

async fn run_all() -> (Vec<ProbeReport>, Config) {
    let mut spec = WorldSpec::new();
    for (domain, behavior, _) in CASES {
        scenario(&mut spec, domain, "enforce", *behavior);
    }
    let world = spec.start().await;
    let names: Vec<&str> = CASES.iter().map(|(d, _, _)| *d).collect();
    let mut config = world.config(&names);
    config.smtp.timeout = Duration::from_secs(2);
    let prober = Prober::new(&config).unwrap();
    let reports = check::run_checks(&prober, &config.domains, 64).await;
    drop(world);
    (reports, config)
}

#[tokio::test]
async fn every_mx_behaviour_is_classified() {
    let (reports, config) = run_all().await;
    let metrics = Metrics::new(
        config.max_mx_hosts,
        false,
        mtasts_exporter::metrics::RegistryKind::Probe,
    )
    .unwrap();
    for report in &reports {
        metrics.observe(report, &PolicyHistory::of_one(report));
    }
    let m = exposition(&metrics);
    let json: serde_json::Value = serde_json::from_str(&check::render_json(&reports)).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;

    for (index, (domain, behavior, expected)) in CASES.iter().enumerate() {
        let report = &reports[index];
        assert_eq!(report.domain, *domain);
        let mx = format!("mx.{domain}");
        let host = &report.mx_hosts.as_ref().unwrap()[0];
        let host_json = &json[index]["mx_hosts"][0];
        let series = |name: &str| format!(r#"{name}{{domain="{domain}",mx="{mx}"}}"#);
        match expected {
            None => {
                assert!(report.success, "{domain}: {:#?}", report.failures);
                assert_eq!(host.starttls_offered, Some(true));
                assert_eq!(host_json["starttls"], true);
                assert_eq!(host_json["tls_version"], "TLSv1.3");
                assert_eq!(host_json["cert"]["valid"], true);
                assert_eq!(host_json["cert"]["names"][0], mx.as_str());
                assert!(host_json["cert"]["issuer"]
                    .as_str()
                    .unwrap()
                    .contains("test CA"));
                assert!(host_json["result_type"].is_null() && host_json["reason"].is_null());
                assert_eq!(m[&series("mtasts_mx_starttls")], 1.0);
                assert_eq!(m[&series("mtasts_mx_cert_valid")], 1.0);
                assert!(m[&series("mtasts_mx_cert_expiry_timestamp_seconds")] > now as f64);
                assert_eq!(
                    m[&format!(
                        r#"mtasts_mx_tls_version_info{{domain="{domain}",mx="{mx}",version="TLSv1.3"}}"#
                    )],
                    1.0
                );
            }
            Some((result_type, reason)) => {
                assert!(!report.success, "{domain}");
                let failure = report
                    .failures
                    .iter()
                    .find(|f| f.phase == Phase::Starttls)
                    .unwrap_or_else(|| panic!("{domain}: {:#?}", report.failures));
                assert_eq!(
                    failure.result_type, *result_type,
                    "{domain}: {}",
                    failure.detail
                );
                assert_eq!(
                    failure.reason.as_str(),
                    *reason,
                    "{domain}: {}",
                    failure.detail
                );
                assert!(failure.detail.contains(&mx), "{}", failure.detail);
                assert_eq!(host_json["result_type"], result_type.as_str(), "{domain}");
                assert_eq!(host_json["reason"], *reason, "{domain}");
                assert_eq!(
                    m[&format!(
                        r#"mtasts_failures_total{{domain="{domain}",phase="starttls",reason="{reason}",result_type="{}"}}"#,
                        result_type.as_str()
                    )],
                    1.0
                );
                assert_eq!(
                    m[&format!(r#"mtasts_probe_success{{domain="{domain}"}}"#)],
                    0.0
                );
            }
        }
        // Certificate verdicts keep the certificate: invalid, with its expiry.
        if let Some(SmtpBehavior::Tls(kind)) = behavior {
            let cert = host
                .cert
                .as_ref()
                .unwrap_or_else(|| panic!("{domain}: no cert"));
            assert_eq!(cert.valid, *kind == CertKind::Valid, "{domain}");
            assert_eq!(
                m[&series("mtasts_mx_cert_valid")],
                if cert.valid { 1.0 } else { 0.0 }
            );
            assert_eq!(
                m[&series("mtasts_mx_cert_expiry_timestamp_seconds")],
                cert.not_after as f64
            );
            if *kind == CertKind::Expired {
                assert!(cert.not_after < now);
                assert_eq!(host_json["cert"]["valid"], false);
                assert_eq!(host_json["cert"]["not_after"], cert.not_after);
            }
        }
        // What the EHLO reply said, whatever happened later.
        let offered = match behavior {
            Some(SmtpBehavior::NoStarttls) => Some(false),
            Some(
                SmtpBehavior::Tls(_)
                | SmtpBehavior::RefuseStarttls(_)
                | SmtpBehavior::TlsGarbage
                | SmtpBehavior::StallAfterStarttls
                | SmtpBehavior::InjectAfterStarttls
                | SmtpBehavior::AlertAfterStarttls
                | SmtpBehavior::CloseOnStarttls
                | SmtpBehavior::CloseAfterStarttls,
            ) => Some(true),
            _ => None,
        };
        assert_eq!(host.starttls_offered, offered, "{domain}");
        match offered {
            Some(o) => assert_eq!(m[&series("mtasts_mx_starttls")], if o { 1.0 } else { 0.0 }),
            None => assert!(!m.contains_key(&series("mtasts_mx_starttls")), "{domain}"),
        }
        // The stalling servers are cut off by the SMTP timeout.
        if matches!(
            behavior,
            Some(SmtpBehavior::NoBanner | SmtpBehavior::StallAfterStarttls)
        ) {
            assert!(
                report.duration_seconds < 5.0,
                "{domain}: {}",
                report.duration_seconds
            );
        }
    }
    // The policy host's certificate is exported too, and the earliest expiry
    // covers both.
    let valid = &reports[0];
    let policy_expiry = m[r#"mtasts_policy_cert_expiry_timestamp_seconds{domain="valid.test"}"#];
    assert_eq!(m[r#"mtasts_policy_cert_valid{domain="valid.test"}"#], 1.0);
    assert_eq!(
        policy_expiry,
        valid.policy_cert.as_ref().unwrap().not_after as f64
    );
    assert_eq!(
        m[r#"mtasts_cert_earliest_expiry_timestamp_seconds{domain="expired.test"}"#],
        reports[1].mx_hosts.as_ref().unwrap()[0]
            .cert
            .as_ref()
            .unwrap()
            .not_after as f64
    );
    assert!(json[0]["policy_cert"]["valid"].as_bool().unwrap());
}

#[tokio::test]
async fn mode_none_and_uncovered_hosts_report_but_do_not_fail() {
    let mut spec = WorldSpec::new();
    scenario(
        &mut spec,
        "none.test",
        "none",
        Some(SmtpBehavior::Tls(CertKind::Expired)),
    );
    // An enforce domain with a second MX host the policy does not list.
    scenario(
        &mut spec,
        "extra.test",
        "enforce",
        Some(SmtpBehavior::Tls(CertKind::Valid)),
    );
    spec.mx("extra.test", 20, "other.extra2.test")
        .smtp_host("other.extra2.test", SmtpBehavior::NoStarttls);
    let world = spec.start().await;
    let config = world.config(&["none.test", "extra.test"]);
    let prober = Prober::new(&config).unwrap();
    let reports = check::run_checks(&prober, &config.domains, 8).await;

    let none = &reports[0];
    assert!(
        none.success,
        "mode none applies nothing: {:#?}",
        none.failures
    );
    let failure = &none.failures[0];
    assert_eq!(
        (failure.phase, failure.reason),
        (Phase::Starttls, Reason::CertificateExpired)
    );

    let extra = &reports[1];
    assert!(!extra.success);
    let reasons: Vec<String> = extra
        .failures
        .iter()
        .map(|f| f.reason.as_str().into_owned())
        .collect();
    assert_eq!(
        reasons,
        vec!["mtasts-policy-mx-mismatch", "starttls-not-offered"]
    );
    let hosts = extra.mx_hosts.as_ref().unwrap();
    assert_eq!(hosts[1].matches_policy, Some(false));
    assert_eq!(hosts[1].starttls_offered, Some(false));
}

#[tokio::test]
async fn policy_host_certificate_is_described_when_invalid() {
    let mut spec = WorldSpec::new();
    scenario(
        &mut spec,
        "pexp.test",
        "enforce",
        Some(SmtpBehavior::Tls(CertKind::Valid)),
    );
    spec.policy_host(
        "mta-sts.pexp.test",
        PolicyHost::ok(&policy_text("enforce", &["mx.pexp.test"], 1_209_600))
            .with_cert(CertKind::Expired),
    );
    let world = spec.start().await;
    let config = world.config(&["pexp.test"]);
    let prober = Prober::new(&config).unwrap();
    let report = prober.probe(&config.domains[0]).await;
    let metrics = Metrics::new(
        config.max_mx_hosts,
        false,
        mtasts_exporter::metrics::RegistryKind::Probe,
    )
    .unwrap();
    metrics.observe(&report, &PolicyHistory::of_one(&report));
    let m = exposition(&metrics);
    let cert = report.policy_cert.as_ref().unwrap();
    assert!(!cert.valid);
    assert_eq!(m[r#"mtasts_policy_cert_valid{domain="pexp.test"}"#], 0.0);
    let expiry = m[r#"mtasts_policy_cert_expiry_timestamp_seconds{domain="pexp.test"}"#];
    assert_eq!(expiry, cert.not_after as f64);
    assert_eq!(
        m[r#"mtasts_cert_earliest_expiry_timestamp_seconds{domain="pexp.test"}"#],
        expiry
    );
    assert_eq!(report.failures[0].reason, Reason::CertificateExpired);
    assert_eq!(report.failures[0].result_type, ResultType::StsWebpkiInvalid);
}

/// `domains`, each with the one MX host `mx.shared.test`, which behaves
/// as told.
fn shared_mx_world(domains: &[&str], behavior: SmtpBehavior) -> WorldSpec {
    let mx = "mx.shared.test";
    let mut spec = WorldSpec::new();
    for domain in domains {
        spec.txt(&format!("_mta-sts.{domain}"), "v=STSv1; id=1")
            .a(&format!("mta-sts.{domain}"))
            .policy_host(
                &format!("mta-sts.{domain}"),
                PolicyHost::ok(&policy_text("enforce", &[mx], 1_209_600)),
            )
            .mx(domain, 10, mx);
    }
    spec.smtp_host(mx, behavior);
    spec
}

/// Domains `a|b|c.shared.test` of [`shared_mx_world`], probed at once
/// with `smtp.share_checks_for` set to `share` (`None`: not set).
async fn probe_shared(
    behavior: SmtpBehavior,
    share: Option<&'static str>,
) -> (Vec<ProbeReport>, support::world::World, Prober, Config) {
    let domains = ["a.shared.test", "b.shared.test", "c.shared.test"];
    let world = shared_mx_world(&domains, behavior).start().await;
    let overrides = ConfigOverrides {
        share_checks_for: share,
        ..ConfigOverrides::default()
    };
    let config = Config::parse(&world.config_yaml_with(&domains, &overrides)).unwrap();
    let prober = Prober::new(&config).unwrap();
    let reports = check::run_checks(&prober, &config.domains, 8).await;
    (reports, world, prober, config)
}

#[tokio::test]
async fn a_shared_mx_host_is_checked_once_for_every_domain_naming_it() {
    let (reports, world, prober, config) =
        probe_shared(SmtpBehavior::Tls(CertKind::Valid), Some("30s")).await;
    assert_eq!(world.smtp_sessions.count("mx.shared.test"), 1);
    for report in &reports {
        assert!(report.success, "{}: {:#?}", report.domain, report.failures);
        let host = &report.mx_hosts.as_ref().unwrap()[0];
        assert_eq!(host.host, "mx.shared.test");
        assert_eq!(host.starttls_offered, Some(true));
        assert_eq!(host.tls_version.as_deref(), Some("TLSv1.3"));
        assert!(host.cert.as_ref().unwrap().valid);
    }
    // One probe made the check, the two others were given it.
    let sources = |reports: &[&ProbeReport]| -> Vec<String> {
        let mut sources: Vec<String> = reports
            .iter()
            .map(|r| {
                let source = r.mx_hosts.as_ref().unwrap()[0].starttls_check.unwrap();
                source.as_str().to_string()
            })
            .collect();
        sources.sort();
        sources
    };
    assert_eq!(
        sources(&reports.iter().collect::<Vec<_>>()),
        ["own", "shared", "shared"]
    );
    // Within share_checks_for, a later probe is given the same check.
    let again = prober.probe(&config.domains[1]).await;
    assert!(again.success);
    assert_eq!(world.smtp_sessions.count("mx.shared.test"), 1);
    assert_eq!(sources(&[&again]), ["shared"]);
    // Counted by source, in `check`'s JSON and in the exporter's metrics.
    let json: serde_json::Value =
        serde_json::from_str(&check::render_json(std::slice::from_ref(&again))).unwrap();
    assert_eq!(json[0]["mx_hosts"][0]["starttls_check"], "shared");
    let metrics = Metrics::new(
        config.max_mx_hosts,
        false,
        mtasts_exporter::metrics::RegistryKind::Exporter,
    )
    .unwrap();
    for report in reports.iter().chain([&again]) {
        metrics.observe(report, &PolicyHistory::of_one(report));
    }
    let m = exposition(&metrics);
    assert_eq!(m[r#"mtasts_starttls_host_checks_total{source="own"}"#], 1.0);
    assert_eq!(
        m[r#"mtasts_starttls_host_checks_total{source="shared"}"#],
        3.0
    );
}

#[tokio::test]
async fn a_shared_failure_is_every_naming_domains_failure() {
    let (reports, world, _, _) = probe_shared(SmtpBehavior::NoStarttls, Some("30s")).await;
    assert_eq!(world.smtp_sessions.count("mx.shared.test"), 1);
    for report in &reports {
        let failure = report
            .failures
            .iter()
            .find(|f| f.phase == Phase::Starttls)
            .unwrap_or_else(|| panic!("{}: {:#?}", report.domain, report.failures));
        assert_eq!(failure.result_type, ResultType::StarttlsNotSupported);
        assert_eq!(failure.reason.as_str(), "starttls-not-offered");
        assert!(
            failure.detail.contains("mx.shared.test"),
            "{}",
            failure.detail
        );
    }
}

#[tokio::test]
async fn without_sharing_each_domain_checks_its_mx_host_itself() {
    let (reports, world, _, _) = probe_shared(SmtpBehavior::Tls(CertKind::Valid), None).await;
    assert!(reports.iter().all(|r| r.success));
    assert_eq!(world.smtp_sessions.count("mx.shared.test"), 3);
    for report in &reports {
        let source = report.mx_hosts.as_ref().unwrap()[0].starttls_check;
        assert_eq!(source.map(|s| s.as_str()), Some("own"), "{}", report.domain);
    }
}

#[tokio::test]
async fn a_probe_with_little_time_left_does_not_cut_the_shared_check_short_for_others() {
    let mx = "mx.shared.test";
    // Stalls after STARTTLS until the exporter's smtp.timeout (2s here).
    let spec = shared_mx_world(
        &["hurried.test", "patient.test"],
        SmtpBehavior::StallAfterStarttls,
    );
    let world = spec.start().await;
    let overrides = ConfigOverrides {
        smtp_timeout: Some("2s"),
        share_checks_for: Some("30s"),
        ..ConfigOverrides::default()
    };
    let yaml = world.config_yaml_with(
        &["{name: hurried.test, timeout: 1s}", "patient.test"],
        &overrides,
    );
    let config = Config::parse(&yaml).unwrap();
    let prober = Prober::new(&config).unwrap();
    let (hurried, patient) = tokio::join!(
        prober.probe(&config.domains[0]),
        prober.probe(&config.domains[1])
    );
    let detail = |report: &ProbeReport| {
        let failure = report
            .failures
            .iter()
            .find(|f| f.phase == Phase::Starttls)
            .unwrap_or_else(|| panic!("{}: {:#?}", report.domain, report.failures));
        assert_eq!(failure.reason.as_str(), "timeout");
        failure.detail.clone()
    };
    // The hurried probe gave up waiting; the check itself ran to
    // smtp.timeout and is what the other domain got.
    assert!(detail(&hurried).contains("waiting for the host's shared check"));
    let patient_detail = detail(&patient);
    assert!(
        !patient_detail.contains("waiting"),
        "the shared check was cut short: {patient_detail}"
    );
    // It ran to smtp.timeout (2s), not to the hurried probe's 1s.
    let took = patient
        .phases
        .iter()
        .find(|t| t.phase == Phase::Starttls)
        .map(|t| t.duration_seconds);
    assert!(took.is_some_and(|s| s >= 1.9), "{took:?}");
    assert_eq!(world.smtp_sessions.count(mx), 1);
    // One of the two started the check, the other was given it, whichever
    // gave up waiting.
    let mut sources: Vec<&str> = [&hurried, &patient]
        .iter()
        .map(|r| {
            r.mx_hosts.as_ref().unwrap()[0]
                .starttls_check
                .unwrap()
                .as_str()
        })
        .collect();
    sources.sort();
    assert_eq!(sources, ["own", "shared"]);
}
