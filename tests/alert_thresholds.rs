//! The shipped alert rules and the exporter's certificate thresholds say the
//! same thing: the `certificate-expiring-soon` warning, `check` and the
//! status page use `certificates.warning_days` / `critical_days`, and the
//! expiry rules in `config/alerts.yml` must use their defaults.

use mtasts_exporter::report::CertThresholds;
use std::collections::BTreeSet;

/// The `N` of every `N * 86400` in the certificate-expiry rules' expressions.
fn days_in_expiry_rules(rules: &str) -> BTreeSet<u32> {
    rules
        .lines()
        .filter(|line| line.contains("expr:") && line.contains("cert_expiry_timestamp_seconds"))
        .flat_map(|line| {
            line.split("* 86400")
                .filter_map(|before| before.split_whitespace().last()?.parse::<u32>().ok())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn certificate_alerts_use_the_configured_defaults() {
    let rules = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/alerts.yml"))
        .expect("config/alerts.yml");
    let defaults = CertThresholds::default();
    let days = days_in_expiry_rules(&rules);
    assert_eq!(
        days,
        BTreeSet::from([defaults.critical_days, defaults.warning_days]),
        "config/alerts.yml's certificate rules disagree with certificates.* defaults"
    );
}

#[test]
fn the_reader_finds_the_numbers() {
    let rules = "expr: (mtasts_mx_cert_expiry_timestamp_seconds - time()) < 30 * 86400 and x >= 3 * 86400\nexpr: other < 9 * 86400\n";
    assert_eq!(days_in_expiry_rules(rules), BTreeSet::from([3, 30]));
}
