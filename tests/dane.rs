//! DANE (RFC 7672) with DNSSEC: one test per case of the signed test world
//! (tests/support/signed_dns.rs), each checking the `check --output json`
//! document and the metrics.

mod support;

use hickory_proto::rr::RecordType;
use mtasts_exporter::check::render_json;
use mtasts_exporter::config::Config;
use mtasts_exporter::history::PolicyHistory;
use mtasts_exporter::metrics::{Metrics, RegistryKind};
use mtasts_exporter::probe::Prober;
use mtasts_exporter::report::ProbeReport;
use serde_json::Value;
use std::collections::HashMap;
use support::ad_dns::{AdAnswer, AdSpec};
use support::ca::CertKind;
use support::https::PolicyHost;
use support::signed_dns::{DnssecSpec, Signing};
use support::smtp::SmtpBehavior;
use support::world::{ConfigOverrides, TlsaData, World, WorldSpec};

const POLICY: &str = "version: STSv1\nmode: enforce\nmax_age: 1209600\nmx: *.{d}\n";

/// A domain `d` with MTA-STS (enforce), `MX 10 mx1.d` serving `cert`, and
/// TLSA records `tlsa` at `_25._tcp.mx1.d`.
fn domain(spec: &mut WorldSpec, d: &str, cert: CertKind, tlsa: &[([u8; 3], TlsaData)]) {
    spec.txt(&format!("_mta-sts.{d}"), "v=STSv1; id=1")
        .a(&format!("mta-sts.{d}"))
        .policy_host(
            &format!("mta-sts.{d}"),
            PolicyHost::ok(&POLICY.replace("{d}", d)),
        )
        .mx(d, 10, &format!("mx1.{d}"))
        .smtp_host(&format!("mx1.{d}"), SmtpBehavior::Tls(cert))
        .txt(
            &format!("_smtp._tls.{d}"),
            &format!("v=TLSRPTv1; rua=mailto:tlsrpt@{d}"),
        );
    for (usm, data) in tlsa {
        spec.tlsa(&format!("_25._tcp.mx1.{d}"), *usm, data.clone());
    }
}

/// Probes `name` (configured with `dane`) in the world of `spec`; returns
/// the report, its `check --output json` document and its metrics.
async fn probe(spec: &WorldSpec, name: &str, dane: &str) -> (ProbeReport, Value, Series) {
    let world = spec.start().await;
    let (config, prober) = prober_for(&world, &[&format!("{{name: {name}, dane: {dane}}}")]);
    probe_domain(&config, &prober, 0).await
}

/// The config of `world` watching `entries`, and a prober for it.
fn prober_for(world: &World, entries: &[&str]) -> (Config, Prober) {
    let yaml = world.config_yaml(entries);
    let config = Config::parse(&yaml).expect("config");
    let prober = Prober::new(&config).expect("prober");
    (config, prober)
}

/// Probes the `index`th domain of `config` with `prober`; returns the
/// report, its `check --output json` document and its metrics.
async fn probe_domain(
    config: &Config,
    prober: &Prober,
    index: usize,
) -> (ProbeReport, Value, Series) {
    let report = prober.probe(&config.domains[index]).await;
    let json: Value = serde_json::from_str(&render_json(std::slice::from_ref(&report))).unwrap();
    let doc = json[0].clone();
    let metrics = Metrics::new(config.max_mx_hosts, false, RegistryKind::Probe).unwrap();
    metrics.observe(&report, &PolicyHistory::of_one(&report));
    let text = String::from_utf8(metrics.render()).unwrap();
    let series = Series(support::harness::parse_exposition(&text));
    (report, doc, series)
}

/// The metrics of one probe, by series.
struct Series(HashMap<String, f64>);

impl Series {
    /// The value of `name{labels}` (labels in name order), if exported.
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        self.0
            .get(&format!("{name}{{{}}}", labels.join(",")))
            .copied()
    }

    /// `name{domain, mx="mx1.<domain>"}`.
    fn host(&self, name: &str, domain: &str) -> Option<f64> {
        self.get(
            name,
            &[("domain", domain), ("mx", &format!("mx1.{domain}"))],
        )
    }

    /// The effective policy exported as 1.
    fn effective_policy(&self, domain: &str) -> Vec<&'static str> {
        ["dane", "none", "sts", "temp-error"]
            .into_iter()
            .filter(|p| {
                self.get(
                    "mtasts_domain_effective_policy",
                    &[("domain", domain), ("policy", p)],
                ) == Some(1.0)
            })
            .collect()
    }
}

#[tokio::test]
async fn a_secure_3_1_1_record_matching_the_key_is_dane() {
    let mut spec = WorldSpec::new();
    spec.dnssec(DnssecSpec::default());
    domain(
        &mut spec,
        "good.test",
        CertKind::Valid,
        &[([3, 1, 1], TlsaData::Leaf)],
    );
    let (report, doc, metrics) = probe(&spec, "good.test", "on").await;
    assert!(report.success, "{:#?}", report.failures);
    assert_eq!(doc["dane"]["mx_dnssec"], "secure");
    assert_eq!(doc["dane"]["effective_policy"], "dane");
    let host = &doc["mx_hosts"][0]["dane"];
    assert_eq!(host["address_dnssec"], "secure");
    assert_eq!(host["tlsa"], "secure");
    assert_eq!(host["tlsa_name"], "_25._tcp.mx1.good.test");
    assert_eq!(host["valid"], true);
    assert_eq!(host["records"][0]["usable"], true);
    let record = host["records"][0]["record"].as_str().unwrap();
    assert!(record.starts_with("3 1 1 "), "{record}");
    assert_eq!(host["matched_record"], record);
    // One record for the current key only: the next key change breaks it.
    assert_eq!(host["rollover_ready"], false);
    assert_eq!(
        doc["warnings"],
        serde_json::json!(["tlsa-rollover-not-ready"])
    );
    assert!(doc["failures"].as_array().unwrap().is_empty());
    let d = "good.test";
    assert_eq!(
        metrics.get("mtasts_dnssec_mx_secure", &[("domain", d)]),
        Some(1.0)
    );
    assert_eq!(metrics.effective_policy(d), ["dane"]);
    assert_eq!(metrics.host("mtasts_mx_dane_valid", d), Some(1.0));
    assert_eq!(metrics.host("mtasts_mx_tlsa_rollover_ready", d), Some(0.0));
    let mx = "mx1.good.test";
    let records = |usable| {
        metrics.get(
            "mtasts_mx_tlsa_records",
            &[("domain", d), ("mx", mx), ("usable", usable)],
        )
    };
    assert_eq!((records("true"), records("false")), (Some(1.0), Some(0.0)));
    let info = [
        ("domain", d),
        ("matching", "1"),
        ("mx", mx),
        ("selector", "1"),
        ("usage", "3"),
    ];
    assert_eq!(metrics.get("mtasts_mx_tlsa_info", &info), Some(1.0));
    let digest = &record[6..];
    assert!(
        !metrics.0.keys().any(|k| k.contains(digest)),
        "no digest in a label"
    );
}

/// The `(result_type, reason)` of each failure in the JSON.
fn failures(doc: &Value) -> Vec<(String, String)> {
    doc["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["result_type"].as_str().unwrap().to_string(),
                f["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn pair(result_type: &str, reason: &str) -> (String, String) {
    (result_type.to_string(), reason.to_string())
}

#[tokio::test]
async fn a_key_change_the_records_did_not_follow_is_a_tlsa_mismatch() {
    let mut spec = WorldSpec::new();
    spec.dnssec(DnssecSpec::default());
    domain(
        &mut spec,
        "newkey.test",
        CertKind::NewKey,
        &[([3, 1, 1], TlsaData::Leaf)],
    );
    let (report, doc, metrics) = probe(&spec, "newkey.test", "on").await;
    assert!(!report.success);
    assert_eq!(failures(&doc), [pair("tlsa-invalid", "tlsa-mismatch")]);
    assert_eq!(doc["dane"]["effective_policy"], "dane");
    let host = &doc["mx_hosts"][0]["dane"];
    assert_eq!(host["valid"], false);
    assert_eq!(host["reason"], "tlsa-mismatch");
    assert_eq!(host["matched_record"], Value::Null);
    // MTA-STS alone would pass: the certificate is valid for the host.
    assert_eq!(doc["mx_hosts"][0]["reason"], Value::Null);
    assert_eq!(
        metrics.host("mtasts_mx_dane_valid", "newkey.test"),
        Some(0.0)
    );
    assert_eq!(metrics.effective_policy("newkey.test"), ["dane"]);
    let failed = [
        ("domain", "newkey.test"),
        ("phase", "dane"),
        ("reason", "tlsa-mismatch"),
        ("result_type", "tlsa-invalid"),
    ];
    assert_eq!(metrics.get("mtasts_probe_failed", &failed), Some(1.0));
}

#[tokio::test]
async fn records_none_of_which_is_usable_are_reported() {
    let mut spec = WorldSpec::new();
    spec.dnssec(DnssecSpec::default());
    domain(
        &mut spec,
        "unusable.test",
        CertKind::Valid,
        &[
            ([1, 1, 1], TlsaData::Leaf),
            ([3, 1, 1], TlsaData::Raw(vec![1, 2, 3])),
        ],
    );
    let (report, doc, metrics) = probe(&spec, "unusable.test", "on").await;
    assert!(!report.success);
    assert_eq!(
        failures(&doc),
        [pair("tlsa-invalid", "all-unusable-records")]
    );
    let host = &doc["mx_hosts"][0]["dane"];
    let usable: Vec<&Value> = host["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["usable"])
        .collect();
    assert_eq!(usable, [false, false]);
    assert!(host["records"][0]["unusable_because"]
        .as_str()
        .unwrap()
        .contains("PKIX"));
    let d = "unusable.test";
    let mx = "mx1.unusable.test";
    let records = |usable| {
        metrics.get(
            "mtasts_mx_tlsa_records",
            &[("domain", d), ("mx", mx), ("usable", usable)],
        )
    };
    assert_eq!((records("true"), records("false")), (Some(0.0), Some(2.0)));
    assert_eq!(metrics.host("mtasts_mx_dane_valid", d), Some(0.0));
}

#[tokio::test]
async fn a_tlsa_servfail_makes_the_host_unusable_not_undane() {
    let mut spec = WorldSpec::new();
    spec.dnssec(DnssecSpec::default());
    domain(
        &mut spec,
        "servfail.test",
        CertKind::Valid,
        &[([3, 1, 1], TlsaData::Leaf)],
    );
    spec.servfail("_25._tcp.mx1.servfail.test");
    let (report, doc, metrics) = probe(&spec, "servfail.test", "on").await;
    assert!(!report.success);
    assert_eq!(
        failures(&doc),
        [pair("dnssec-invalid", "tlsa-lookup-failed")]
    );
    assert_eq!(doc["dane"]["effective_policy"], "temp-error");
    assert_eq!(doc["mx_hosts"][0]["dane"]["tlsa"], "lookup-failed");
    assert_eq!(metrics.effective_policy("servfail.test"), ["temp-error"]);
    assert_eq!(
        metrics.host("mtasts_mx_dane_valid", "servfail.test"),
        Some(0.0)
    );
}

#[tokio::test]
async fn a_bogus_signature_is_dnssec_invalid() {
    let mut spec = WorldSpec::new();
    spec.dnssec(DnssecSpec {
        zones: vec![("bogus.test".into(), Signing::WrongDs)],
    });
    domain(
        &mut spec,
        "bogus.test",
        CertKind::Valid,
        &[([3, 1, 1], TlsaData::Leaf)],
    );
    let (report, doc, metrics) = probe(&spec, "bogus.test", "on").await;
    assert!(!report.success);
    assert_eq!(doc["dane"]["mx_dnssec"], "bogus");
    assert_eq!(doc["dane"]["effective_policy"], "temp-error");
    assert!(
        failures(&doc).contains(&pair("dnssec-invalid", "dnssec-bogus")),
        "{:?}",
        failures(&doc)
    );
    let d = [("domain", "bogus.test")];
    assert_eq!(metrics.get("mtasts_dnssec_mx_secure", &d), Some(0.0));
    assert_eq!(metrics.effective_policy("bogus.test"), ["temp-error"]);
}

#[tokio::test]
async fn an_unsigned_zone_is_insecure_and_sts_applies() {
    let mut spec = WorldSpec::new();
    spec.dnssec(DnssecSpec {
        zones: vec![("plain.test".into(), Signing::Unsigned)],
    });
    domain(
        &mut spec,
        "plain.test",
        CertKind::Valid,
        &[([3, 1, 1], TlsaData::Leaf)],
    );
    let (report, doc, _) = probe(&spec, "plain.test", "on").await;
    assert!(report.success, "{:#?}", report.failures);
    assert_eq!(doc["dane"]["mx_dnssec"], "insecure");
    assert_eq!(doc["dane"]["effective_policy"], "sts");
    assert!(failures(&doc).is_empty());
    // Required, the same zone fails with dane-required.
    let (report, doc, metrics) = probe(&spec, "plain.test", "require").await;
    assert!(!report.success);
    assert_eq!(failures(&doc), [pair("dane-required", "mx-insecure")]);
    let d = [("domain", "plain.test")];
    assert_eq!(metrics.get("mtasts_dnssec_mx_secure", &d), Some(0.0));
    assert_eq!(metrics.effective_policy("plain.test"), ["sts"]);
    assert_eq!(metrics.host("mtasts_mx_dane_valid", "plain.test"), None);
    assert_eq!(metrics.get("mtasts_probe_success", &d), Some(0.0));
}

#[tokio::test]
async fn a_secure_denial_of_tlsa_leaves_sts_in_charge() {
    let mut spec = WorldSpec::new();
    spec.dnssec(DnssecSpec::default());
    domain(&mut spec, "notlsa.test", CertKind::Valid, &[]);
    let (report, doc, _) = probe(&spec, "notlsa.test", "on").await;
    assert!(report.success, "{:#?}", report.failures);
    assert_eq!(doc["dane"]["mx_dnssec"], "secure");
    assert_eq!(doc["dane"]["effective_policy"], "sts");
    assert_eq!(doc["mx_hosts"][0]["dane"]["tlsa"], "secure-denial");
    assert_eq!(doc["mx_hosts"][0]["dane"]["valid"], Value::Null);
    let (_, doc, metrics) = probe(&spec, "notlsa.test", "require").await;
    assert_eq!(failures(&doc), [pair("dane-required", "no-tlsa-records")]);
    assert_eq!(metrics.effective_policy("notlsa.test"), ["sts"]);
    assert_eq!(metrics.host("mtasts_mx_dane_valid", "notlsa.test"), None);
    let d = [("domain", "notlsa.test")];
    assert_eq!(metrics.get("mtasts_dnssec_mx_secure", &d), Some(1.0));
}

#[tokio::test]
async fn a_cnamed_mx_host_takes_its_records_from_the_target() {
    let mut spec = WorldSpec::new();
    spec.dnssec(DnssecSpec::default());
    let d = "alias.test";
    spec.txt(&format!("_mta-sts.{d}"), "v=STSv1; id=1")
        .a(&format!("mta-sts.{d}"))
        .policy_host(
            &format!("mta-sts.{d}"),
            PolicyHost::ok(&POLICY.replace("{d}", d)),
        )
        .mx(d, 10, "mx.alias.test")
        .cname("mx.alias.test", "mx1.alias.test")
        .smtp_host("mx1.alias.test", SmtpBehavior::Tls(CertKind::Valid))
        .tlsa("_25._tcp.mx1.alias.test", [3, 1, 1], TlsaData::Leaf);
    let (report, doc, metrics) = probe(&spec, d, "on").await;
    let host = &doc["mx_hosts"][0]["dane"];
    assert_eq!(host["tlsa_name"], "_25._tcp.mx1.alias.test", "{host}");
    assert_eq!(host["tlsa"], "secure");
    assert_eq!(host["valid"], true);
    assert_eq!(doc["dane"]["effective_policy"], "dane");
    // DANE decides: the certificate names mx.alias.test's target only,
    // which MTA-STS would refuse, and the domain still passes.
    assert!(report.success, "{:#?}", report.failures);
    let labels = [("domain", d), ("mx", "mx.alias.test")];
    assert_eq!(metrics.get("mtasts_mx_dane_valid", &labels), Some(1.0));
    assert_eq!(metrics.get("mtasts_mx_cert_valid", &labels), Some(0.0));
    assert_eq!(metrics.effective_policy(d), ["dane"]);
}

#[tokio::test]
async fn a_2_1_1_record_for_the_issuer_is_dane_ta_with_the_name_check() {
    let mut spec = WorldSpec::new();
    spec.dnssec(DnssecSpec::default());
    domain(
        &mut spec,
        "ta.test",
        CertKind::ValidWithIssuer,
        &[([2, 1, 1], TlsaData::Ca)],
    );
    let (report, doc, metrics) = probe(&spec, "ta.test", "on").await;
    assert!(report.success, "{:#?}", report.failures);
    let host = &doc["mx_hosts"][0]["dane"];
    assert_eq!(host["valid"], true);
    assert!(host["matched_record"]
        .as_str()
        .unwrap()
        .starts_with("2 1 1 "));
    // A trust anchor survives a new leaf key.
    assert_eq!(host["rollover_ready"], true);
    assert!(
        doc["warnings"].as_array().unwrap().is_empty(),
        "{}",
        doc["warnings"]
    );
    assert_eq!(
        metrics.host("mtasts_mx_tlsa_rollover_ready", "ta.test"),
        Some(1.0)
    );
    assert_eq!(metrics.host("mtasts_mx_dane_valid", "ta.test"), Some(1.0));
    let info = [
        ("domain", "ta.test"),
        ("matching", "1"),
        ("mx", "mx1.ta.test"),
        ("selector", "1"),
        ("usage", "2"),
    ];
    assert_eq!(metrics.get("mtasts_mx_tlsa_info", &info), Some(1.0));
}

#[tokio::test]
async fn a_next_key_published_ahead_is_rollover_ready() {
    let mut spec = WorldSpec::new();
    spec.dnssec(DnssecSpec::default());
    domain(
        &mut spec,
        "ready.test",
        CertKind::Valid,
        &[
            ([3, 1, 1], TlsaData::Leaf),
            ([3, 1, 1], TlsaData::Raw(vec![7; 32])),
        ],
    );
    let (report, doc, metrics) = probe(&spec, "ready.test", "on").await;
    assert!(report.success, "{:#?}", report.failures);
    let host = &doc["mx_hosts"][0]["dane"];
    assert_eq!(host["rollover_ready"], true);
    assert!(
        doc["warnings"].as_array().unwrap().is_empty(),
        "{}",
        doc["warnings"]
    );
    assert_eq!(
        metrics.host("mtasts_mx_tlsa_rollover_ready", "ready.test"),
        Some(1.0)
    );
    let warning = [
        ("domain", "ready.test"),
        ("warning", "tlsa-rollover-not-ready"),
    ];
    assert_eq!(metrics.get("mtasts_policy_warning", &warning), None);
}

#[tokio::test]
async fn dane_off_leaves_the_report_as_before() {
    let mut spec = WorldSpec::new();
    spec.dnssec(DnssecSpec::default());
    domain(
        &mut spec,
        "off.test",
        CertKind::NewKey,
        &[([3, 1, 1], TlsaData::Leaf)],
    );
    let (report, doc, metrics) = probe(&spec, "off.test", "off").await;
    assert!(report.success, "{:#?}", report.failures);
    assert_eq!(doc["dane"], Value::Null);
    assert_eq!(doc["mx_hosts"][0]["dane"], Value::Null);
    assert!(!metrics
        .0
        .keys()
        .any(|k| k.contains("dane") || k.contains("tlsa")));
}

#[tokio::test]
async fn check_shows_the_dane_line_per_host() {
    let mut spec = WorldSpec::new();
    spec.dnssec(DnssecSpec::default());
    domain(
        &mut spec,
        "text.test",
        CertKind::Valid,
        &[([3, 1, 1], TlsaData::Leaf)],
    );
    let (report, _, _) = probe(&spec, "text.test", "on").await;
    let text = mtasts_exporter::check::render_text(std::slice::from_ref(&report));
    assert!(
        text.contains("DANE      MX records DNSSEC secure; a validating sender applies: dane"),
        "{text}"
    );
    let host_line = text
        .lines()
        .find(|l| l.trim_start().starts_with("DANE _25._tcp.mx1.text.test"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        host_line.contains("secure, 1 record(s), 1 usable; verdict: ok; matched 3 1 1 "),
        "{host_line}"
    );
    assert!(host_line.contains("rollover NOT ready"), "{host_line}");
}

// The cache of the DANE resolver (resolver.dnssec_cache_max_ttl,
// resolver.dnssec_cache_size): counted at the signed server.

/// Two domains, `a.test` and `b.test`, whose only MX host is
/// `mx.shared.test` (in a zone of its own, with a `3 1 1` record for its
/// key), as many domains share their provider's MX hosts.
fn shared_mx_world() -> WorldSpec {
    let mut spec = WorldSpec::new();
    spec.dnssec(DnssecSpec::default());
    for d in ["a.test", "b.test"] {
        spec.txt(&format!("_mta-sts.{d}"), "v=STSv1; id=1")
            .a(&format!("mta-sts.{d}"))
            .policy_host(
                &format!("mta-sts.{d}"),
                PolicyHost::ok(&POLICY.replace("*.{d}", "mx.shared.test")),
            )
            .mx(d, 10, "mx.shared.test");
    }
    spec.smtp_host("mx.shared.test", SmtpBehavior::Tls(CertKind::Valid))
        .tlsa("_25._tcp.mx.shared.test", [3, 1, 1], TlsaData::Leaf);
    spec
}

/// The queries the signed server got while `a.test` then `b.test` were
/// probed, with `resolver_yaml` added to the config: (those of `a.test`,
/// those of `b.test`). Both probes must pass by DANE.
async fn queries_of_two_domains(resolver_yaml: &str) -> (Queries, Queries) {
    let mut world = shared_mx_world().start().await;
    world.resolver_yaml.push_str(resolver_yaml);
    let (config, prober) = prober_for(
        &world,
        &["{name: a.test, dane: on}", "{name: b.test, dane: on}"],
    );
    let mut seen = Vec::new();
    for index in 0..2 {
        let before = world.dns_log.len();
        let (hits, sent) = prober.dnssec_cache_counts();
        let (report, doc, _) = probe_domain(&config, &prober, index).await;
        assert!(report.success, "{:#?}", report.failures);
        assert_eq!(doc["dane"]["effective_policy"], "dane");
        assert_eq!(doc["mx_hosts"][0]["dane"]["valid"], true);
        let (hits_after, sent_after) = prober.dnssec_cache_counts();
        seen.push(Queries {
            at_server: world.dns_log.queries()[before..].to_vec(),
            dane_sent: sent_after - sent,
            dane_cached: hits_after - hits,
        });
    }
    let second = seen.pop().unwrap_or_default();
    let first = seen.pop().unwrap_or_default();
    (first, second)
}

/// What the probe of one domain asked.
#[derive(Default)]
struct Queries {
    /// The queries the name server got (MTA-STS and DANE lookups, with
    /// the UDP retransmissions of a busy machine).
    at_server: Vec<(String, RecordType)>,
    /// The DANE resolver's queries sent to the name server (validation's
    /// DNSKEY and DS queries included).
    dane_sent: u64,
    /// The DANE resolver's queries answered from its cache.
    dane_cached: u64,
}

/// How many of `queries` ask `record_type` of `name`.
fn asked(queries: &[(String, RecordType)], name: &str, record_type: RecordType) -> usize {
    queries
        .iter()
        .filter(|(n, t)| n == name && *t == record_type)
        .count()
}

#[tokio::test]
async fn the_cache_spares_a_second_domain_the_lookups_it_shares_with_the_first() {
    let (off_a, off_b) = queries_of_two_domains("  dnssec_cache_size: 0\n").await;
    let (on_a, on_b) = queries_of_two_domains("").await;
    let summary = |q: &Queries| {
        let of = |t| q.at_server.iter().filter(|(_, r)| *r == t).count();
        format!(
            "DANE resolver sent {}, from cache {}; name server got {} (DNSKEY {}, DS {}, TLSA {})",
            q.dane_sent,
            q.dane_cached,
            q.at_server.len(),
            of(RecordType::DNSKEY),
            of(RecordType::DS),
            of(RecordType::TLSA)
        )
    };
    eprintln!(
        "no cache: a.test: {}\n          b.test: {}\ncache:    a.test: {}\n          b.test: {}",
        summary(&off_a),
        summary(&off_b),
        summary(&on_a),
        summary(&on_b)
    );
    assert_eq!(off_a.dane_cached + off_b.dane_cached, 0);
    // Without the cache, the second domain asks again for what it shares
    // with the first: the MX host's TLSA records, the key of `test.`.
    // (hickory's validation cache spares it the DNSKEY queries of RRsets
    // it validated before, not the RRsets themselves.)
    for (name, record_type) in [
        ("_25._tcp.mx.shared.test", RecordType::TLSA),
        ("test", RecordType::DNSKEY),
    ] {
        let off = asked(&off_b.at_server, name, record_type);
        let on = asked(&on_b.at_server, name, record_type);
        assert!(off >= 1, "{name}: {:?}", off_b.at_server);
        assert_eq!(on, 0, "{name}: {:?}", on_b.at_server);
    }
    // Within one domain, a zone's DNSKEY answer serves every validation.
    assert!(on_a.dane_cached > 0);
    assert!(on_a.dane_sent < off_a.dane_sent);
    assert!(on_b.dane_cached > 0);
    assert!(on_b.dane_sent < off_b.dane_sent);
    // What is the second domain's own is still asked.
    assert!(asked(&on_b.at_server, "b.test", RecordType::DNSKEY) >= 1);
    assert!(asked(&on_b.at_server, "b.test", RecordType::DS) >= 1);
}

#[tokio::test]
async fn a_tlsa_record_changed_after_the_cap_is_seen_by_the_next_probe() {
    let mut spec = WorldSpec::new();
    spec.dnssec(DnssecSpec::default());
    domain(
        &mut spec,
        "roll.test",
        CertKind::Valid,
        &[([3, 1, 1], TlsaData::Leaf)],
    );
    let mut world = spec.start().await;
    let entry = ["{name: roll.test, dane: on}"];
    // One exporter with the default cap (60s), one with a cap of 1s.
    let (kept_config, kept_prober) = prober_for(&world, &entry);
    world.resolver_yaml.push_str("  dnssec_cache_max_ttl: 1s\n");
    let (config, prober) = prober_for(&world, &entry);
    for (config, prober) in [(&kept_config, &kept_prober), (&config, &prober)] {
        let (report, doc, _) = probe_domain(config, prober, 0).await;
        assert!(report.success, "{:#?}", report.failures);
        assert_eq!(doc["mx_hosts"][0]["dane"]["valid"], true);
    }
    // The records now name a key the host does not have.
    world
        .set_tlsa(
            "_25._tcp.mx1.roll.test",
            &[([3, 1, 1], TlsaData::Raw(vec![7; 32]))],
        )
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let before = world.dns_log.len();
    let (report, doc, metrics) = probe_domain(&config, &prober, 0).await;
    let queries = world.dns_log.queries()[before..].to_vec();
    assert_eq!(
        asked(&queries, "_25._tcp.mx1.roll.test", RecordType::TLSA),
        1,
        "{queries:?}"
    );
    assert!(!report.success);
    assert_eq!(failures(&doc), [pair("tlsa-invalid", "tlsa-mismatch")]);
    assert_eq!(metrics.host("mtasts_mx_dane_valid", "roll.test"), Some(0.0));
    // The other still uses the records it kept (their TTL is 60s): what
    // the cap is for.
    let (report, doc, _) = probe_domain(&kept_config, &kept_prober, 0).await;
    assert!(report.success, "{:#?}", report.failures);
    assert_eq!(doc["mx_hosts"][0]["dane"]["valid"], true);
}

// resolver.trust_ad_bit: the DNSSEC status from a resolver's AD flag, with
// the fake validating resolver of tests/support/ad_dns.rs.

/// Probes `name` (configured with `dane`) in a world of `spec` served
/// through a fake validating resolver answering as `ad` says.
async fn probe_with_ad(
    spec: &mut WorldSpec,
    ad: AdSpec,
    name: &str,
    dane: &str,
) -> (ProbeReport, Value, Series) {
    spec.ad_resolver(ad);
    let world = spec.start().await;
    assert!(world.config_yaml(&[]).contains("trust_ad_bit: true"));
    let (config, prober) = prober_for(&world, &[&format!("{{name: {name}, dane: {dane}}}")]);
    assert!(config.resolver.trust_ad_bit);
    let probed = probe_domain(&config, &prober, 0).await;
    // The lookups went to the fake resolver.
    assert!(
        world
            .dns_log
            .queries()
            .iter()
            .any(|(_, t)| *t == RecordType::MX),
        "{:?}",
        world.dns_log.queries()
    );
    probed
}

fn ad(zones: &[(&str, AdAnswer)]) -> AdSpec {
    AdSpec {
        zones: zones.iter().map(|(z, a)| (z.to_string(), *a)).collect(),
    }
}

#[tokio::test]
async fn with_trust_ad_bit_an_answer_with_ad_set_is_secure_and_dane_applies() {
    let mut spec = WorldSpec::new();
    domain(
        &mut spec,
        "adgood.test",
        CertKind::Valid,
        &[([3, 1, 1], TlsaData::Leaf)],
    );
    let (report, doc, metrics) = probe_with_ad(
        &mut spec,
        ad(&[("adgood.test", AdAnswer::Secure)]),
        "adgood.test",
        "on",
    )
    .await;
    assert!(report.success, "{:#?}", report.failures);
    assert_eq!(doc["dane"]["mx_dnssec"], "secure");
    assert_eq!(doc["dane"]["effective_policy"], "dane");
    let host = &doc["mx_hosts"][0]["dane"];
    assert_eq!(host["address_dnssec"], "secure");
    assert_eq!(host["tlsa"], "secure");
    assert_eq!(host["valid"], true);
    let d = "adgood.test";
    assert_eq!(
        metrics.get("mtasts_dnssec_mx_secure", &[("domain", d)]),
        Some(1.0)
    );
    assert_eq!(metrics.host("mtasts_mx_dane_valid", d), Some(1.0));
    assert_eq!(metrics.effective_policy(d), ["dane"]);
}

#[tokio::test]
async fn with_trust_ad_bit_a_clear_ad_flag_is_insecure_and_sts_applies() {
    let world = || {
        let mut spec = WorldSpec::new();
        domain(
            &mut spec,
            "adplain.test",
            CertKind::Valid,
            &[([3, 1, 1], TlsaData::Leaf)],
        );
        spec
    };
    let zones = ad(&[("adplain.test", AdAnswer::Insecure)]);
    let (report, doc, metrics) =
        probe_with_ad(&mut world(), zones.clone(), "adplain.test", "on").await;
    assert!(report.success, "{:#?}", report.failures);
    assert_eq!(doc["dane"]["mx_dnssec"], "insecure");
    assert_eq!(doc["dane"]["effective_policy"], "sts");
    let d = [("domain", "adplain.test")];
    assert_eq!(metrics.get("mtasts_dnssec_mx_secure", &d), Some(0.0));
    assert_eq!(metrics.effective_policy("adplain.test"), ["sts"]);
    assert_eq!(metrics.host("mtasts_mx_dane_valid", "adplain.test"), None);
    let (_, doc, _) = probe_with_ad(&mut world(), zones, "adplain.test", "require").await;
    assert_eq!(failures(&doc), [pair("dane-required", "mx-insecure")]);
}

#[tokio::test]
async fn with_trust_ad_bit_a_servfail_for_tlsa_is_a_lookup_failure_not_no_tlsa() {
    let mut spec = WorldSpec::new();
    domain(
        &mut spec,
        "adbogus.test",
        CertKind::Valid,
        &[([3, 1, 1], TlsaData::Leaf)],
    );
    // A validating resolver answers SERVFAIL for a bogus TLSA RRset: from
    // outside, the same as a broken server.
    let (report, doc, metrics) = probe_with_ad(
        &mut spec,
        ad(&[
            ("adbogus.test", AdAnswer::Secure),
            ("_25._tcp.mx1.adbogus.test", AdAnswer::Bogus),
        ]),
        "adbogus.test",
        "on",
    )
    .await;
    assert!(!report.success);
    assert_eq!(
        failures(&doc),
        [pair("dnssec-invalid", "tlsa-lookup-failed")]
    );
    assert_eq!(doc["dane"]["mx_dnssec"], "secure");
    assert_eq!(doc["dane"]["effective_policy"], "temp-error");
    let host = &doc["mx_hosts"][0]["dane"];
    assert_eq!(host["tlsa"], "lookup-failed", "{host}");
    let d = "adbogus.test";
    assert_eq!(
        metrics.get("mtasts_dnssec_mx_secure", &[("domain", d)]),
        Some(1.0)
    );
    assert_eq!(metrics.host("mtasts_mx_dane_valid", d), Some(0.0));
    assert_eq!(metrics.effective_policy(d), ["temp-error"]);
}

#[tokio::test]
async fn with_trust_ad_bit_a_denial_with_ad_set_is_a_secure_denial() {
    let mut spec = WorldSpec::new();
    domain(&mut spec, "adnotlsa.test", CertKind::Valid, &[]);
    let (report, doc, metrics) = probe_with_ad(
        &mut spec,
        ad(&[("adnotlsa.test", AdAnswer::Secure)]),
        "adnotlsa.test",
        "require",
    )
    .await;
    assert!(!report.success);
    assert_eq!(doc["mx_hosts"][0]["dane"]["tlsa"], "secure-denial");
    assert_eq!(failures(&doc), [pair("dane-required", "no-tlsa-records")]);
    assert_eq!(metrics.effective_policy("adnotlsa.test"), ["sts"]);
}

#[tokio::test]
async fn a_shared_starttls_check_keeps_the_chain_each_domains_dane_check_needs() {
    let world = shared_mx_world().start().await;
    let overrides = ConfigOverrides {
        share_checks_for: Some("30s"),
        ..ConfigOverrides::default()
    };
    let yaml = world.config_yaml_with(
        &["{name: a.test, dane: on}", "{name: b.test, dane: on}"],
        &overrides,
    );
    let config = Config::parse(&yaml).expect("config");
    let prober = Prober::new(&config).expect("prober");
    for index in 0..2 {
        let (report, doc, metrics) = probe_domain(&config, &prober, index).await;
        let d = &config.domains[index].name;
        assert!(report.success, "{d}: {:#?}", report.failures);
        assert_eq!(doc["dane"]["effective_policy"], "dane");
        assert_eq!(doc["mx_hosts"][0]["dane"]["valid"], true, "{d}");
        assert!(doc["mx_hosts"][0]["dane"]["matched_record"]
            .as_str()
            .is_some_and(|r| r.starts_with("3 1 1 ")));
        assert_eq!(
            metrics.get(
                "mtasts_mx_dane_valid",
                &[("domain", d), ("mx", "mx.shared.test")]
            ),
            Some(1.0)
        );
    }
    assert_eq!(world.smtp_sessions.count("mx.shared.test"), 1);
}
