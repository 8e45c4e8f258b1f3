//! One test per way an MTA-STS set-up works or breaks, each against a fake
//! world on loopback, checking the `ProbeReport` the probe returns.

mod support;

use mtasts_exporter::config::Config;
use mtasts_exporter::probe::Prober;
use mtasts_exporter::report::{PolicySource, ProbeReport, Warning};
use mtasts_exporter::rfc::rfc8461::policy::Mode;
use mtasts_exporter::taxonomy::{Phase, Reason, ResultType};
use support::ca::CertKind;
use support::https::{policy_text, PolicyHost};
use support::world::WorldSpec;

async fn probe(config: &Config, domain: &str) -> ProbeReport {
    let prober = Prober::new(config).expect("prober");
    let domain_config = config
        .domains
        .iter()
        .find(|d| d.name == domain)
        .expect("domain in config");
    prober.probe(domain_config).await
}

/// The one failure of a report, as (phase, result type, reason).
fn only_failure(report: &ProbeReport) -> (Phase, ResultType, Reason) {
    assert_eq!(report.failures.len(), 1, "{:#?}", report.failures);
    let f = &report.failures[0];
    (f.phase, f.result_type, f.reason)
}

/// The failures of a report, as (phase, result type, reason).
fn failures(report: &ProbeReport) -> Vec<(Phase, ResultType, Reason)> {
    report
        .failures
        .iter()
        .map(|f| (f.phase, f.result_type, f.reason))
        .collect()
}

/// The record lookup's failure, and the policy fetch's that follows it
/// in a world without a policy host (the policy is fetched even when the
/// record fails, RFC 8461 §3.3: senders refetch once a new id appears).
fn record_failure_and_no_policy(report: &ProbeReport, record_failure: (Phase, ResultType, Reason)) {
    assert_eq!(
        failures(report),
        [
            record_failure,
            (
                Phase::PolicyFetch,
                ResultType::StsPolicyFetchError,
                Reason::NoPolicyServed
            )
        ],
        "{:#?}",
        report.failures
    );
    assert!(report.policy.is_none());
    assert_eq!(report.policy_source, PolicySource::None);
}

/// These tests are about the record, policy, MX and TLSRPT phases:
/// STARTTLS (tested in tests/starttls.rs) is turned off so that MX hosts
/// without a fake SMTP server add no failures.
fn without_starttls(mut config: Config) -> Config {
    for domain in &mut config.domains {
        domain.settings.check_starttls = false;
    }
    config
}

async fn single(spec: &mut WorldSpec, domain: &str) -> ProbeReport {
    let world = spec.start().await;
    let config = without_starttls(world.config(&[domain]));
    probe(&config, domain).await
}

#[tokio::test]
async fn good_enforce() {
    let policy = policy_text("enforce", &["mx1.good.test"], 1_209_600);
    let world = WorldSpec::new()
        .mta_sts_domain("good.test", "20240101", &policy)
        .start()
        .await;
    let report = probe(&world.config(&["good.test"]), "good.test").await;
    assert!(report.success, "{report:#?}");
    assert!(report.failures.is_empty());
    assert_eq!(report.record.as_ref().unwrap().id, "20240101");
    let policy = report.policy.as_ref().unwrap();
    assert_eq!(policy.mode, Mode::Enforce);
    assert_eq!(policy.max_age, 1_209_600);
    assert_eq!(policy.mx, vec!["mx1.good.test"]);
    let hosts = report.mx_hosts.as_ref().unwrap();
    assert_eq!(hosts.len(), 1);
    assert_eq!(hosts[0].host, "mx1.good.test");
    assert_eq!(hosts[0].matches_policy, Some(true));
    let tlsrpt = report.tlsrpt.as_ref().unwrap();
    assert!(tlsrpt.present && tlsrpt.valid);
    assert_eq!(tlsrpt.rua, vec!["mailto:tlsrpt@good.test"]);
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    assert_eq!(report.phases.len(), 5, "{:#?}", report.phases);
    assert!(report.phases.iter().all(|p| p.ok));
    // Both certificates are seen and valid.
    let policy_cert = report.policy_cert.as_ref().unwrap();
    assert!(policy_cert.valid);
    assert_eq!(policy_cert.names, vec!["mta-sts.good.test"]);
    assert!(policy_cert.issuer.contains("mtasts-exporter test CA"));
    assert_eq!(hosts[0].starttls_offered, Some(true));
    assert_eq!(hosts[0].tls_version.as_deref(), Some("TLSv1.3"));
    assert!(hosts[0].cert.as_ref().unwrap().valid);
    assert_eq!(hosts[0].result_type, None);
    assert_eq!(
        report.earliest_cert_expiry(),
        Some(
            policy_cert
                .not_after
                .min(hosts[0].cert.as_ref().unwrap().not_after)
        )
    );
}

#[tokio::test]
async fn good_testing_and_none() {
    let mut spec = WorldSpec::new();
    spec.mta_sts_domain(
        "testing.test",
        "1",
        &policy_text("testing", &["*.testing.test"], 86400),
    )
    .mta_sts_domain("none.test", "1", &policy_text("none", &[], 86400));
    let world = spec.start().await;
    let config = without_starttls(world.config(&["testing.test", "none.test"]));
    let testing = probe(&config, "testing.test").await;
    assert!(testing.success, "{testing:#?}");
    assert_eq!(testing.policy.as_ref().unwrap().mode, Mode::Testing);
    let none = probe(&config, "none.test").await;
    assert!(none.success, "{none:#?}");
    assert_eq!(none.policy.as_ref().unwrap().mode, Mode::None);
    // Mode none lists no mx: the host is shown as not covered, but that is no failure.
    assert_eq!(
        none.mx_hosts.as_ref().unwrap()[0].matches_policy,
        Some(false)
    );
    assert!(none.failures.is_empty());
}

#[tokio::test]
async fn no_record() {
    let mut spec = WorldSpec::new();
    spec.mx("plain.test", 10, "mx1.plain.test")
        .a("mx1.plain.test");
    let report = single(&mut spec, "plain.test").await;
    assert!(!report.success);
    record_failure_and_no_policy(
        &report,
        (
            Phase::RecordLookup,
            ResultType::NoPolicyFound,
            Reason::NoMtaStsDnsTxtRecord,
        ),
    );
    assert!(report.record.is_none());
    // The MX and TLSRPT lookups ran anyway.
    assert_eq!(report.mx_hosts.as_ref().unwrap()[0].matches_policy, None);
    assert!(report.warnings.contains(&Warning::TlsrptRecordMissing));
}

#[tokio::test]
async fn two_records() {
    let mut spec = WorldSpec::new();
    spec.mta_sts_domain(
        "two.test",
        "1",
        &policy_text("enforce", &["mx1.two.test"], 1_209_600),
    )
    .txt("_mta-sts.two.test", "v=STSv1; id=2");
    let report = single(&mut spec, "two.test").await;
    assert_eq!(
        only_failure(&report),
        (
            Phase::RecordLookup,
            ResultType::StsPolicyFetchError,
            Reason::MultipleMtaStsRecords
        )
    );
    // Fetched and reported with its certificate, but not applied: senders
    // do not use a policy without a usable record.
    assert_eq!(report.policy.as_ref().unwrap().mode, Mode::Enforce);
    assert!(report.policy_cert.as_ref().unwrap().valid);
    assert_eq!(report.policy_source, PolicySource::None);
    assert_eq!(report.mx_hosts.as_ref().unwrap()[0].matches_policy, None);
    assert!(!report.success);
}

#[tokio::test]
async fn bad_record() {
    let mut spec = WorldSpec::new();
    spec.txt("_mta-sts.badrec.test", "v=STSv1; id=not-alnum!")
        .mx("badrec.test", 10, "mx1.badrec.test");
    let report = single(&mut spec, "badrec.test").await;
    record_failure_and_no_policy(
        &report,
        (
            Phase::RecordLookup,
            ResultType::StsPolicyFetchError,
            Reason::RecordSyntaxError,
        ),
    );
    assert!(
        report.failures[0].detail.contains("id"),
        "{}",
        report.failures[0].detail
    );
}

#[tokio::test]
async fn multi_string_and_other_txt() {
    // The record in two strings, and an SPF record beside it.
    let mut spec = WorldSpec::new();
    spec.txt_strings("_mta-sts.split.test", &["v=STSv1; ", "id=20240102"])
        .txt("_mta-sts.split.test", "v=spf1 -all")
        .a("mta-sts.split.test")
        .policy_host(
            "mta-sts.split.test",
            PolicyHost::ok(&policy_text("enforce", &["mx1.split.test"], 1_209_600)),
        )
        .mx("split.test", 10, "mx1.split.test")
        .txt(
            "_smtp._tls.split.test",
            "v=TLSRPTv1; rua=mailto:r@split.test",
        );
    let report = single(&mut spec, "split.test").await;
    assert!(report.success, "{report:#?}");
    assert_eq!(report.record.as_ref().unwrap().id, "20240102");
    assert_eq!(report.warnings, vec![Warning::NonStsTxtAtMtaSts]);
}

#[tokio::test]
async fn cname_record() {
    let mut spec = WorldSpec::new();
    spec.cname("_mta-sts.alias.test", "_mta-sts.provider.test")
        .txt("_mta-sts.provider.test", "v=STSv1; id=cname1")
        .a("mta-sts.alias.test")
        .policy_host(
            "mta-sts.alias.test",
            PolicyHost::ok(&policy_text("enforce", &["*.provider.test"], 1_209_600)),
        )
        .mx("alias.test", 10, "mx.provider.test")
        .txt(
            "_smtp._tls.alias.test",
            "v=TLSRPTv1; rua=mailto:r@alias.test",
        );
    let report = single(&mut spec, "alias.test").await;
    assert!(report.success, "{report:#?}");
    assert_eq!(report.record.as_ref().unwrap().id, "cname1");
}

/// `_mta-sts` is an alias whose target has no record (a hosting provider
/// that dropped it): no policy, and the failure names the target to look at.
#[tokio::test]
async fn dangling_cname_record_names_its_target() {
    let mut spec = WorldSpec::new();
    spec.cname("_mta-sts.dangle.test", "_mta-sts.Gone-Provider.test")
        .mx("dangle.test", 10, "mx.dangle.test");
    let report = single(&mut spec, "dangle.test").await;
    let failure = &report.failures[0];
    assert_eq!(
        (failure.result_type, failure.reason),
        (ResultType::NoPolicyFound, Reason::NoMtaStsDnsTxtRecord)
    );
    assert_eq!(
        failure.detail,
        "no v=STSv1 TXT record at _mta-sts (it is a CNAME to _mta-sts.gone-provider.test, which has none)"
    );
    // Without an alias the detail stays as it was.
    let mut plain = WorldSpec::new();
    plain.mx("plain.test", 10, "mx.plain.test");
    let report = single(&mut plain, "plain.test").await;
    assert_eq!(
        report.failures[0].detail,
        "no v=STSv1 TXT record at _mta-sts"
    );
}

#[tokio::test]
async fn dns_servfail() {
    let mut spec = WorldSpec::new();
    spec.servfail("_mta-sts.broken.test")
        .mx("broken.test", 10, "mx1.broken.test");
    let report = single(&mut spec, "broken.test").await;
    record_failure_and_no_policy(
        &report,
        (
            Phase::RecordLookup,
            ResultType::StsPolicyFetchError,
            Reason::DnsLookup,
        ),
    );
    assert!(
        report.failures[0].detail.contains("SERVFAIL"),
        "{}",
        report.failures[0].detail
    );
}

#[tokio::test]
async fn policy_host_nxdomain() {
    let mut spec = WorldSpec::new();
    spec.txt("_mta-sts.nohost.test", "v=STSv1; id=1")
        .mx("nohost.test", 10, "mx1.nohost.test");
    let report = single(&mut spec, "nohost.test").await;
    assert_eq!(
        only_failure(&report),
        (
            Phase::PolicyFetch,
            ResultType::StsPolicyFetchError,
            Reason::NoPolicyServed
        )
    );
}

async fn fetch_failure(answer: PolicyHost) -> ProbeReport {
    let mut spec = WorldSpec::new();
    spec.mta_sts_domain("f.test", "1", "unused")
        .policy_host("mta-sts.f.test", answer);
    single(&mut spec, "f.test").await
}

#[tokio::test]
async fn http_404() {
    let report = fetch_failure(PolicyHost::status(404, &[])).await;
    assert_eq!(
        only_failure(&report),
        (
            Phase::PolicyFetch,
            ResultType::StsPolicyFetchError,
            Reason::NoPolicyServed
        )
    );
}

#[tokio::test]
async fn http_500() {
    let report = fetch_failure(PolicyHost::status(500, &[])).await;
    assert_eq!(
        only_failure(&report),
        (
            Phase::PolicyFetch,
            ResultType::StsPolicyFetchError,
            Reason::CannotFetchPolicy
        )
    );
    assert!(report.failures[0].detail.contains("500"));
}

#[tokio::test]
async fn redirect_not_followed() {
    let report = fetch_failure(PolicyHost::status(
        301,
        &[("location", "https://mta-sts.f.test/elsewhere.txt")],
    ))
    .await;
    assert_eq!(
        only_failure(&report),
        (
            Phase::PolicyFetch,
            ResultType::StsPolicyFetchError,
            Reason::CannotFetchPolicy
        )
    );
    assert!(
        report.failures[0].detail.contains("redirect"),
        "{}",
        report.failures[0].detail
    );
}

#[tokio::test]
async fn oversize_body() {
    let mut text = policy_text("enforce", &["mx1.f.test"], 1_209_600);
    text.push_str(&format!("x-padding: {}\r\n", "a".repeat(70 * 1024)));
    let report = fetch_failure(PolicyHost::ok(&text)).await;
    assert_eq!(
        only_failure(&report),
        (
            Phase::PolicyFetch,
            ResultType::StsPolicyInvalid,
            Reason::PolicySyntaxError
        )
    );
    assert!(report.failures[0].detail.contains("larger"));
}

#[tokio::test]
async fn policy_syntax_errors() {
    for (body, expect) in [
        (
            "version: STSv1\nmode: enforce\nmax_age: 86400\n",
            "requires at least one mx",
        ),
        ("version: STSv2\nmode: none\nmax_age: 86400\n", "version"),
        (
            "version: STSv1\nmode: strict\nmx: a.f.test\nmax_age: 86400\n",
            "mode",
        ),
        (
            "version: STSv1\nmode: none\nmax_age: 99999999999\n",
            "max_age",
        ),
        ("<html>not a policy</html>", "line 1"),
    ] {
        let report = fetch_failure(PolicyHost::ok(body)).await;
        assert_eq!(
            only_failure(&report),
            (
                Phase::PolicyFetch,
                ResultType::StsPolicyInvalid,
                Reason::PolicySyntaxError
            ),
            "{body}"
        );
        assert!(
            report.failures[0].detail.contains(expect),
            "{body}: {}",
            report.failures[0].detail
        );
    }
}

/// RFC 8461 §3.2: a repeated field other than `mx` is not an error, the
/// first entry counts; the repeat is a warning because senders differ.
#[tokio::test]
async fn repeated_policy_field_first_wins_with_a_warning() {
    let mut policy = policy_text("enforce", &["mx1.dup.test"], 1_209_600);
    policy.push_str("mode: testing\r\nmax_age: 86400\r\n");
    let report = single(
        WorldSpec::new().mta_sts_domain("dup.test", "1", &policy),
        "dup.test",
    )
    .await;
    assert!(report.success, "{report:#?}");
    assert!(report.failures.is_empty(), "{:#?}", report.failures);
    assert_eq!(report.warnings, [Warning::DuplicateField]);
    let fetched = report.policy.as_ref().unwrap();
    assert_eq!((fetched.mode, fetched.max_age), (Mode::Enforce, 1_209_600));
    let fields: Vec<_> = fetched
        .duplicate_fields
        .iter()
        .map(|d| (d.field.as_str(), d.values.clone()))
        .collect();
    assert_eq!(
        fields,
        [
            ("mode", vec!["enforce".to_string(), "testing".to_string()]),
            ("max_age", vec!["1209600".to_string(), "86400".to_string()]),
        ]
    );
    let text = mtasts_exporter::check::render_text(std::slice::from_ref(&report));
    assert!(
        text.contains("duplicate policy field mode: enforce, testing")
            && text.contains("senders that take the last value apply testing")
            && text.contains("warning   duplicate-field"),
        "{text}"
    );
    let json = mtasts_exporter::check::render_json(std::slice::from_ref(&report));
    let json: serde_json::Value = serde_json::from_str(&json).expect("check JSON");
    assert_eq!(
        json[0]["policy"]["duplicate_fields"][0],
        serde_json::json!({"field": "mode", "values": ["enforce", "testing"]})
    );
    assert_eq!(json[0]["warnings"], serde_json::json!(["duplicate-field"]));
}

#[tokio::test]
async fn certificate_problems() {
    let policy = policy_text("enforce", &["mx1.f.test"], 1_209_600);
    for (kind, reason) in [
        (CertKind::SelfSigned, Reason::CertificateNotTrusted),
        (CertKind::WrongHost, Reason::CertificateHostMismatch),
        (CertKind::Expired, Reason::CertificateExpired),
        (CertKind::NotYetValid, Reason::CertificateExpired),
    ] {
        let report = fetch_failure(PolicyHost::ok(&policy).with_cert(kind)).await;
        assert_eq!(
            only_failure(&report),
            (Phase::PolicyFetch, ResultType::StsWebpkiInvalid, reason),
            "{kind:?}: {}",
            report.failures[0].detail
        );
    }
}

#[tokio::test]
async fn mx_not_covered() {
    let mut spec = WorldSpec::new();
    spec.mta_sts_domain(
        "miss.test",
        "1",
        &policy_text("enforce", &["mx1.miss.test", "old.miss.test"], 1_209_600),
    )
    .mx("miss.test", 20, "backup.elsewhere.test");
    let report = single(&mut spec, "miss.test").await;
    assert!(!report.success);
    assert_eq!(
        only_failure(&report),
        (
            Phase::MxLookup,
            ResultType::ValidationFailure,
            Reason::MtastsPolicyMxMismatch
        )
    );
    assert!(report.failures[0].detail.contains("backup.elsewhere.test"));
    let hosts = report.mx_hosts.as_ref().unwrap();
    assert_eq!(hosts.len(), 2);
    assert_eq!(
        (hosts[0].host.as_str(), hosts[0].matches_policy),
        ("mx1.miss.test", Some(true))
    );
    assert_eq!(
        (hosts[1].host.as_str(), hosts[1].matches_policy),
        ("backup.elsewhere.test", Some(false))
    );
    assert_eq!(report.unused_patterns, vec!["old.miss.test"]);
    assert!(report.warnings.contains(&Warning::PolicyPatternUnused));
}

#[tokio::test]
async fn wildcard_mx() {
    let mut spec = WorldSpec::new();
    spec.mta_sts_domain(
        "wild.test",
        "1",
        &policy_text("enforce", &["*.wild.test"], 1_209_600),
    )
    .mx("wild.test", 20, "deep.mx.wild.test");
    let report = single(&mut spec, "wild.test").await;
    let hosts = report.mx_hosts.as_ref().unwrap();
    assert_eq!(
        hosts[0].matches_policy,
        Some(true),
        "mx1.wild.test: one label"
    );
    assert_eq!(
        hosts[1].matches_policy,
        Some(false),
        "deep.mx.wild.test: two labels"
    );
    assert_eq!(
        only_failure(&report),
        (
            Phase::MxLookup,
            ResultType::ValidationFailure,
            Reason::MtastsPolicyMxMismatch
        )
    );
}

#[tokio::test]
async fn implicit_mx() {
    let mut spec = WorldSpec::new();
    spec.txt("_mta-sts.implicit.test", "v=STSv1; id=1")
        .a("mta-sts.implicit.test")
        .a("implicit.test")
        .policy_host(
            "mta-sts.implicit.test",
            PolicyHost::ok(&policy_text("enforce", &["implicit.test"], 1_209_600)),
        )
        .txt(
            "_smtp._tls.implicit.test",
            "v=TLSRPTv1; rua=mailto:r@implicit.test",
        );
    let report = single(&mut spec, "implicit.test").await;
    assert!(report.success, "{report:#?}");
    assert_eq!(
        report.mx_source,
        Some(mtasts_exporter::rfc::rfc5321::MxSource::Implicit)
    );
    assert_eq!(report.mx_hosts.as_ref().unwrap()[0].host, "implicit.test");
}

#[tokio::test]
async fn tlsrpt_absent_and_invalid() {
    let mut spec = WorldSpec::new();
    let policy = policy_text("enforce", &["mx1.t1.test"], 1_209_600);
    spec.txt("_mta-sts.t1.test", "v=STSv1; id=1")
        .a("mta-sts.t1.test")
        .policy_host("mta-sts.t1.test", PolicyHost::ok(&policy))
        .mx("t1.test", 10, "mx1.t1.test")
        .txt("_mta-sts.t2.test", "v=STSv1; id=1")
        .a("mta-sts.t2.test")
        .policy_host(
            "mta-sts.t2.test",
            PolicyHost::ok(&policy_text("enforce", &["mx1.t2.test"], 1_209_600)),
        )
        .mx("t2.test", 10, "mx1.t2.test")
        .txt(
            "_smtp._tls.t2.test",
            "v=TLSRPTv1; rua=http://insecure.example",
        );
    let world = spec.start().await;
    let config = without_starttls(world.config(&["t1.test", "t2.test"]));
    let absent = probe(&config, "t1.test").await;
    assert!(absent.success, "a missing TLSRPT record is a warning only");
    assert_eq!(absent.warnings, vec![Warning::TlsrptRecordMissing]);
    assert!(!absent.tlsrpt.as_ref().unwrap().present);
    let invalid = probe(&config, "t2.test").await;
    assert_eq!(invalid.warnings, vec![Warning::TlsrptRecordInvalid]);
    let status = invalid.tlsrpt.as_ref().unwrap();
    assert!(status.present && !status.valid);
}

#[tokio::test]
async fn warnings_content_type_max_age_apex_large() {
    let mut text = policy_text("enforce", &["mx1.warn.test"], 3600);
    text.push_str(&format!("x-comment: {}\r\n", "a".repeat(5000)));
    let mut spec = WorldSpec::new();
    spec.mta_sts_domain("warn.test", "1", "unused")
        .txt("warn.test", "v=STSv1; id=1")
        .policy_host(
            "mta-sts.warn.test",
            PolicyHost {
                headers: vec![("content-type".into(), "text/html; charset=utf-8".into())],
                ..PolicyHost::ok(&text)
            },
        );
    let report = single(&mut spec, "warn.test").await;
    assert!(report.success, "warnings do not fail: {report:#?}");
    assert_eq!(
        report.warnings,
        vec![
            Warning::ContentTypeNotTextPlain,
            Warning::MaxAgeShort,
            Warning::StsRecordAtApex,
            Warning::PolicyLarge
        ]
    );
}

#[tokio::test]
async fn https_connection_refused() {
    let mut spec = WorldSpec::new();
    spec.mta_sts_domain("refused.test", "1", "unused");
    let world = spec.start().await;
    let mut config = without_starttls(world.config(&["refused.test"]));
    config.ports.https = support::world::closed_port().await;
    let report = probe(&config, "refused.test").await;
    assert_eq!(
        only_failure(&report),
        (
            Phase::PolicyFetch,
            ResultType::StsPolicyFetchError,
            Reason::CannotFetchPolicy
        )
    );
}
