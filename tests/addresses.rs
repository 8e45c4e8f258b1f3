//! Every address of a host (issue 12): MX hosts with an IPv4 and an IPv6
//! address (127.0.1.N and ::1) or two IPv4 addresses, one of them broken;
//! the host's result is the worst, each address is shown in the report,
//! the `check` JSON and text, and counted per family in the metrics.

mod support;

use mtasts_exporter::check;
use mtasts_exporter::config::Config;
use mtasts_exporter::history::PolicyHistory;
use mtasts_exporter::metrics::{Metrics, RegistryKind};
use mtasts_exporter::probe::local_net::LocalNetwork;
use mtasts_exporter::probe::Prober;
use mtasts_exporter::report::ProbeReport;
use mtasts_exporter::taxonomy::{Phase, Reason};
use std::collections::HashMap;
use std::time::Duration;
use support::ca::CertKind;
use support::https::{policy_text, PolicyHost};
use support::smtp::SmtpBehavior;
use support::world::{MxAddress, World, WorldSpec};

/// A healthy MTA-STS domain whose one MX host `mx.<domain>` has the
/// addresses given.
fn domain_with_mx(spec: &mut WorldSpec, domain: &str, addresses: &[MxAddress]) {
    let mx = format!("mx.{domain}");
    spec.txt(&format!("_mta-sts.{domain}"), "v=STSv1; id=1")
        .a(&format!("mta-sts.{domain}"))
        .policy_host(
            &format!("mta-sts.{domain}"),
            PolicyHost::ok(&policy_text("enforce", &[&mx], 1_209_600)),
        )
        .mx(domain, 10, &mx)
        .smtp_host_addresses(&mx, addresses)
        .txt(
            &format!("_smtp._tls.{domain}"),
            "v=TLSRPTv1; rua=mailto:r@example.test",
        );
}

/// The world's config, with a short SMTP timeout.
fn config(world: &World, domains: &[&str]) -> Config {
    let mut config = world.config(domains);
    config.smtp.timeout = Duration::from_secs(3);
    config
}

/// Probes `domains` with `prober` and returns the reports, the `check`
/// JSON and the metrics they make.
async fn probe(
    prober: &Prober,
    config: &Config,
) -> (Vec<ProbeReport>, serde_json::Value, HashMap<String, f64>) {
    let reports = check::run_checks(prober, &config.domains, 8).await;
    let json = serde_json::from_str(&check::render_json(&reports)).unwrap();
    let metrics = Metrics::new(config.max_mx_hosts, false, RegistryKind::Probe).unwrap();
    for report in &reports {
        metrics.observe(report, &PolicyHistory::of_one(report));
    }
    let text = String::from_utf8(metrics.render()).unwrap();
    (reports, json, support::harness::parse_exposition(&text))
}

/// `(address, family, result_type, reason)` of each address of the first
/// MX host in the JSON of one domain.
fn address_rows(domain_json: &serde_json::Value) -> Vec<(String, String, String, String)> {
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::Null => "null".to_string(),
        other => other.as_str().unwrap().to_string(),
    };
    domain_json["mx_hosts"][0]["addresses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                text(&a["address"]),
                text(&a["family"]),
                text(&a["result_type"]),
                text(&a["reason"]),
            )
        })
        .collect()
}

fn row(
    address: &str,
    family: &str,
    result_type: &str,
    reason: &str,
) -> (String, String, String, String) {
    (
        address.to_string(),
        family.to_string(),
        result_type.to_string(),
        reason.to_string(),
    )
}

/// One dual-stack case: the IPv4 and the IPv6 address behave as told, and
/// the broken one fails with `(result_type, reason)`.
async fn dual_stack_case(v4: MxAddress, v6: MxAddress, broken: (&str, &str), broken_family: &str) {
    let domain = "dual.test";
    let mut spec = WorldSpec::new();
    domain_with_mx(&mut spec, domain, &[v4, v6]);
    let world = spec.start().await;
    let config = config(&world, &[domain]);
    let prober = Prober::new(&config).unwrap();
    let (reports, json, m) = probe(&prober, &config).await;
    let report = &reports[0];
    assert!(
        !report.success,
        "{broken:?}: one broken address fails the host"
    );
    let (result_type, reason) = broken;
    let host = &json[0]["mx_hosts"][0];
    assert_eq!(
        host["result_type"], result_type,
        "the host is its worst address"
    );
    assert_eq!(host["reason"], reason);
    let v4_ip = &report.mx_hosts.as_ref().unwrap()[0].addresses[0].address;
    let mut expected = vec![
        row(&v4_ip.to_string(), "ipv4", "null", "null"),
        row("::1", "ipv6", "null", "null"),
    ];
    let index = usize::from(broken_family == "ipv6");
    expected[index].2 = result_type.to_string();
    expected[index].3 = reason.to_string();
    assert_eq!(address_rows(&json[0]), expected);
    let failures: Vec<_> = report
        .failures
        .iter()
        .filter(|f| f.phase == Phase::Starttls)
        .collect();
    assert_eq!(failures.len(), 1, "{failures:?}");
    let broken_ip = if broken_family == "ipv6" {
        "::1".to_string()
    } else {
        v4_ip.to_string()
    };
    assert_eq!(
        failures[0].detail.split(": ").next().unwrap(),
        format!("mx.{domain} [{broken_ip}]")
    );
    for (family, failing) in [("ipv4", index == 0), ("ipv6", index == 1)] {
        let labels = format!(r#"{{domain="{domain}",family="{family}",mx="mx.{domain}"}}"#);
        assert_eq!(m[&format!("mtasts_mx_addresses{labels}")], 1.0, "{family}");
        assert_eq!(
            m[&format!("mtasts_mx_addresses_failing{labels}")],
            f64::from(u8::from(failing)),
            "{family}"
        );
    }
    assert_eq!(
        m[&format!(r#"mtasts_probe_success{{domain="{domain}"}}"#)],
        0.0
    );
    let text = check::render_text(&reports);
    assert!(
        text.contains(&format!("address {broken_ip} ({broken_family})")),
        "{text}"
    );
    assert!(
        text.contains(&format!("FAIL {result_type} / {reason}")),
        "{text}"
    );
}

#[tokio::test]
async fn an_ipv6_address_with_an_expired_certificate_fails_the_host() {
    dual_stack_case(
        MxAddress::V4(SmtpBehavior::Tls(CertKind::Valid)),
        MxAddress::V6(SmtpBehavior::Tls(CertKind::Expired)),
        ("certificate-expired", "certificate-expired"),
        "ipv6",
    )
    .await;
}

#[tokio::test]
async fn an_ipv4_address_without_starttls_fails_the_host() {
    dual_stack_case(
        MxAddress::V4(SmtpBehavior::NoStarttls),
        MxAddress::V6(SmtpBehavior::Tls(CertKind::Valid)),
        ("starttls-not-supported", "starttls-not-offered"),
        "ipv4",
    )
    .await;
}

#[tokio::test]
async fn a_refused_ipv6_address_fails_the_host() {
    dual_stack_case(
        MxAddress::V4(SmtpBehavior::Tls(CertKind::Valid)),
        MxAddress::V6Refused,
        ("validation-failure", "connection-refused"),
        "ipv6",
    )
    .await;
}

#[tokio::test]
async fn two_ipv4_addresses_one_refused_and_the_cap_per_family() {
    let mut spec = WorldSpec::new();
    domain_with_mx(
        &mut spec,
        "twov4.test",
        &[
            MxAddress::V4(SmtpBehavior::Tls(CertKind::Valid)),
            MxAddress::V4Refused,
        ],
    );
    domain_with_mx(
        &mut spec,
        "capped.test",
        &[
            MxAddress::V4(SmtpBehavior::Tls(CertKind::Valid)),
            MxAddress::V4(SmtpBehavior::Tls(CertKind::Valid)),
            MxAddress::V4Refused,
        ],
    );
    let world = spec.start().await;
    let mut config = config(&world, &["twov4.test", "capped.test"]);
    let prober = Prober::new(&config).unwrap();
    let (reports, json, m) = probe(&prober, &config).await;
    assert!(!reports[0].success);
    assert_eq!(json[0]["mx_hosts"][0]["reason"], "connection-refused");
    let rows = address_rows(&json[0]);
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(
        rows.iter().filter(|r| r.3 == "connection-refused").count(),
        1,
        "{rows:?}"
    );
    assert!(rows.iter().all(|r| r.1 == "ipv4"));
    let labels = r#"{domain="twov4.test",family="ipv4",mx="mx.twov4.test"}"#;
    assert_eq!(m[&format!("mtasts_mx_addresses{labels}")], 2.0);
    assert_eq!(m[&format!("mtasts_mx_addresses_failing{labels}")], 1.0);
    assert!(
        !m.keys().any(|k| k.contains(r#"family="ipv6""#)),
        "no series for a family without addresses"
    );
    // All three addresses of capped.test are checked by default (one
    // refused), only the first two with a cap of two per family.
    assert!(!reports[1].success);
    assert_eq!(address_rows(&json[1]).len(), 3);
    let mut order: Vec<String> = address_rows(&json[1]).into_iter().map(|r| r.0).collect();
    config.addresses.per_family = 2;
    let prober = Prober::new(&config).unwrap();
    let (reports, json, _) = probe(&prober, &config).await;
    order.truncate(2);
    let capped: Vec<String> = address_rows(&json[1]).into_iter().map(|r| r.0).collect();
    assert_eq!(capped, order, "the first two, in the order DNS gave them");
    assert!(
        reports[1].success == capped.iter().all(|a| !a.starts_with("127.0.4.")),
        "{:#?}",
        reports[1].failures
    );
}

#[tokio::test]
async fn a_family_switched_off_is_not_looked_up() {
    let mut spec = WorldSpec::new();
    domain_with_mx(
        &mut spec,
        "v6off.test",
        &[
            MxAddress::V4(SmtpBehavior::Tls(CertKind::Valid)),
            MxAddress::V6(SmtpBehavior::NoStarttls),
        ],
    );
    let world = spec.start().await;
    let mut config = config(&world, &["v6off.test"]);
    config.addresses.ipv6 = false;
    let prober = Prober::new(&config).unwrap();
    let (reports, json, _) = probe(&prober, &config).await;
    assert!(reports[0].success, "{:#?}", reports[0].failures);
    let rows = address_rows(&json[0]);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].1, "ipv4");
}

#[tokio::test]
async fn an_address_family_the_exporter_cannot_reach_fails_no_domain() {
    let mut spec = WorldSpec::new();
    domain_with_mx(
        &mut spec,
        "dual.test",
        &[
            MxAddress::V4(SmtpBehavior::Tls(CertKind::Valid)),
            MxAddress::V6(SmtpBehavior::Tls(CertKind::Expired)),
        ],
    );
    spec.policy_host_ipv6("mta-sts.dual.test", PolicyHost::status(404, &[]));
    let world = spec.start().await;
    let config = config(&world, &["dual.test"]);
    let prober = Prober::with_network(&config, LocalNetwork::assume(true, false)).unwrap();
    let (reports, json, m) = probe(&prober, &config).await;
    let report = &reports[0];
    assert!(report.success, "{:#?}", report.failures);
    assert!(report.is_complete(), "a complete probe: it forms a verdict");
    let host = &json[0]["mx_hosts"][0];
    assert!(host["reason"].is_null(), "{host}");
    assert_eq!(host["tls_version"], "TLSv1.3");
    let rows = address_rows(&json[0]);
    assert_eq!(rows[1], row("::1", "ipv6", "null", "local-no-ipv6-route"));
    assert_eq!(
        policy_rows(&json[0])[1],
        row("::1", "ipv6", "null", "local-no-ipv6-route")
    );
    let labels = r#"{domain="dual.test",family="ipv6",mx="mx.dual.test"}"#;
    assert_eq!(m[&format!("mtasts_mx_addresses{labels}")], 1.0);
    assert_eq!(m[&format!("mtasts_mx_addresses_failing{labels}")], 0.0);
    let text = check::render_text(&reports);
    assert!(
        text.contains("this machine has no ipv6 route (local-no-ipv6-route)"),
        "{text}"
    );
    assert_eq!(
        report.mx_hosts.as_ref().unwrap()[0].addresses[1].reason,
        Some(Reason::LocalNoIpv6Route)
    );
}

/// A healthy domain whose policy host also has `::1`, where the policy
/// server answers `ipv6`.
async fn policy_over_ipv6(
    ipv6: PolicyHost,
) -> (ProbeReport, serde_json::Value, HashMap<String, f64>) {
    let domain = "pol.test";
    let mut spec = WorldSpec::new();
    domain_with_mx(
        &mut spec,
        domain,
        &[MxAddress::V4(SmtpBehavior::Tls(CertKind::Valid))],
    );
    spec.policy_host_ipv6(&format!("mta-sts.{domain}"), ipv6);
    let world = spec.start().await;
    let config = config(&world, &[domain]);
    let prober = Prober::new(&config).unwrap();
    let (mut reports, json, m) = probe(&prober, &config).await;
    (reports.remove(0), json[0].clone(), m)
}

/// `(address, family, result_type, reason)` of each policy address.
fn policy_rows(json: &serde_json::Value) -> Vec<(String, String, String, String)> {
    let wrapped = serde_json::json!({"mx_hosts": [{"addresses": json["policy_addresses"]}]});
    address_rows(&wrapped)
}

#[tokio::test]
async fn a_policy_host_serving_another_policy_over_ipv6_fails_that_address_and_warns() {
    let other = policy_text("testing", &["mx.pol.test"], 86_400);
    let (report, json, m) = policy_over_ipv6(PolicyHost::ok(&other)).await;
    assert!(!report.success);
    assert_eq!(
        json["policy"]["mode"], "enforce",
        "the first address's policy"
    );
    assert_eq!(
        policy_rows(&json),
        [
            row("127.0.0.1", "ipv4", "null", "null"),
            row(
                "::1",
                "ipv6",
                "sts-policy-invalid",
                "policy-differs-by-address"
            ),
        ]
    );
    let failure = report
        .failures
        .iter()
        .find(|f| f.reason == Reason::PolicyDiffersByAddress)
        .unwrap_or_else(|| panic!("{:#?}", report.failures));
    assert_eq!(failure.phase, Phase::PolicyFetch);
    assert!(
        failure.detail.starts_with("mta-sts.pol.test [::1]: "),
        "{}",
        failure.detail
    );
    assert!(json["warnings"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!("policy-differs-by-address")));
    let series =
        |name: &str, family: &str| m[&format!(r#"{name}{{domain="pol.test",family="{family}"}}"#)];
    assert_eq!(series("mtasts_policy_addresses", "ipv4"), 1.0);
    assert_eq!(series("mtasts_policy_addresses_failing", "ipv4"), 0.0);
    assert_eq!(series("mtasts_policy_addresses", "ipv6"), 1.0);
    assert_eq!(series("mtasts_policy_addresses_failing", "ipv6"), 1.0);
    assert_eq!(
        m[r#"mtasts_policy_warning{domain="pol.test",warning="policy-differs-by-address"}"#],
        1.0
    );
    let text = check::render_text(std::slice::from_ref(&report));
    assert!(
        text.contains("address ::1 (ipv6)") && text.contains("policy-differs-by-address"),
        "{text}"
    );
}

#[tokio::test]
async fn a_policy_host_failing_over_ipv6_only_is_a_failure_without_the_warning() {
    let (report, json, _) = policy_over_ipv6(PolicyHost::status(404, &[])).await;
    assert!(!report.success);
    assert!(json["policy"].is_object(), "IPv4 still served the policy");
    assert_eq!(
        policy_rows(&json)[1],
        row("::1", "ipv6", "sts-policy-fetch-error", "no-policy-served")
    );
    assert!(!report
        .warnings
        .iter()
        .any(|w| w.as_str() == "policy-differs-by-address"));
    let expired = PolicyHost::ok(&policy_text("enforce", &["mx.pol.test"], 1_209_600))
        .with_cert(CertKind::Expired);
    let (report, json, _) = policy_over_ipv6(expired).await;
    assert!(!report.success);
    assert_eq!(
        policy_rows(&json)[1],
        row("::1", "ipv6", "sts-webpki-invalid", "certificate-expired")
    );
    assert_eq!(json["policy_cert"]["valid"], false, "the worst certificate");
    assert_eq!(json["policy_addresses"][0]["cert"]["valid"], true);
}

#[tokio::test]
async fn the_same_policy_over_both_families_passes() {
    let same = PolicyHost::ok(&policy_text("enforce", &["mx.pol.test"], 1_209_600));
    let (report, json, _) = policy_over_ipv6(same).await;
    assert!(report.success, "{:#?}", report.failures);
    assert_eq!(policy_rows(&json).len(), 2);
    assert!(policy_rows(&json).iter().all(|r| r.3 == "null"));
}

#[tokio::test]
async fn a_host_with_a_hundred_addresses_costs_four_connections() {
    let mut spec = WorldSpec::new();
    let mut addresses = vec![MxAddress::V4(SmtpBehavior::Tls(CertKind::Valid))];
    addresses.extend([MxAddress::V4Refused; 99]);
    domain_with_mx(&mut spec, "many.test", &addresses);
    let world = spec.start().await;
    let config = config(&world, &["many.test"]);
    let prober = Prober::new(&config).unwrap();
    let (reports, json, m) = probe(&prober, &config).await;
    assert_eq!(address_rows(&json[0]).len(), 4, "addresses.per_family");
    let labels = r#"{domain="many.test",family="ipv4",mx="mx.many.test"}"#;
    assert_eq!(m[&format!("mtasts_mx_addresses{labels}")], 4.0);
    let failing = m[&format!("mtasts_mx_addresses_failing{labels}")];
    let refused = address_rows(&json[0])
        .iter()
        .filter(|r| r.3 == "connection-refused")
        .count();
    assert_eq!(failing, refused as f64);
    assert_eq!(reports[0].success, refused == 0);
}
