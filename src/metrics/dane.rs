//! The DANE series of a domain (RFC 7672), rendered from the `dane` parts
//! of its latest [`ProbeReport`] into the probe's families
//! ([`ProbeFamily`]). Bounded labels only: no digest, no record data; the
//! usage, selector and matching numbers are bytes, and a host's TLSA
//! records are capped ([`crate::probe::dane::MAX_TLSA_RECORDS`]).

use super::exposition::{flag, FamilyLines, Kind};
use super::probe::ProbeFamily;
use crate::report::{EffectivePolicy, ProbeReport};
use std::collections::{BTreeMap, BTreeSet};

/// Name, type and help of the DANE families.
pub(super) fn spec(family: ProbeFamily) -> (&'static str, Kind, &'static str) {
    match family {
        ProbeFamily::DnssecMxSecure => ("mtasts_dnssec_mx_secure", Kind::Gauge, "1 when the domain's MX records are DNSSEC-secure (DANE can apply, RFC 7672 §2.2.1), 0 when insecure, bogus or not validated. Absent when DANE is not checked."),
        ProbeFamily::MxDaneValid => ("mtasts_mx_dane_valid", Kind::Gauge, "1 when a DANE sender authenticates the MX host (a usable TLSA record matches on every address), 0 when it would defer mail to it. Absent when DANE does not apply to the host."),
        ProbeFamily::MxTlsaRecords => ("mtasts_mx_tlsa_records", Kind::Gauge, "TLSA records at _25._tcp of the MX host, by whether an SMTP client may use them (RFC 7672 §3.1)."),
        ProbeFamily::MxTlsaInfo => ("mtasts_mx_tlsa_info", Kind::Gauge, "TLSA records of the MX host by usage, selector and matching type (numbers, RFC 6698 §2.1)."),
        ProbeFamily::EffectivePolicy => ("mtasts_domain_effective_policy", Kind::Gauge, "1 for the policy a DNSSEC-validating sender applies (dane, sts, none, temp-error; RFC 8461 §2: DANE first), 0 for the others. Absent when DANE is not checked."),
        ProbeFamily::MxTlsaRolloverReady => ("mtasts_mx_tlsa_rollover_ready", Kind::Gauge, "1 when the MX host's TLSA records would still match after a key change (a next key or an issuer published), 0 when only the current key matches. Absent when no usable record matches."),
        // The probe families are named in src/metrics/probe.rs.
        _ => ("mtasts_unknown", Kind::Gauge, ""),
    }
}

/// The DANE series of `report` (the first `max_mx_hosts` hosts, each
/// once); none when DANE is not checked.
pub(super) fn render_dane(
    l: &mut FamilyLines<ProbeFamily>,
    report: &ProbeReport,
    max_mx_hosts: usize,
) {
    let Some(dane) = &report.dane else {
        return;
    };
    let domain = report.domain.as_str();
    let secure = dane.mx_dnssec == crate::report::DnssecStatus::Secure;
    l.sample(
        ProbeFamily::DnssecMxSecure,
        &[("domain", domain)],
        flag(secure),
    );
    for policy in EffectivePolicy::ALL {
        let labels = [("domain", domain), ("policy", policy.as_str())];
        let value = flag(policy == dane.effective_policy);
        l.sample(ProbeFamily::EffectivePolicy, &labels, value);
    }
    let mut seen = BTreeSet::new();
    let hosts = report.mx_hosts.iter().flatten().take(max_mx_hosts);
    for host in hosts {
        let Some(host_dane) = &host.dane else {
            continue;
        };
        if !seen.insert(host.host.as_str()) {
            continue;
        }
        let mx = host.host.as_str();
        let labels = [("domain", domain), ("mx", mx)];
        if let Some(valid) = host_dane.valid {
            l.sample(ProbeFamily::MxDaneValid, &labels, flag(valid));
        }
        if let Some(ready) = host_dane.rollover_ready {
            l.sample(ProbeFamily::MxTlsaRolloverReady, &labels, flag(ready));
        }
        if host_dane.records.is_empty() {
            continue;
        }
        let usable = host_dane.records.iter().filter(|r| r.usable).count();
        for (word, count) in [
            ("true", usable),
            ("false", host_dane.records.len() - usable),
        ] {
            let labels = [("domain", domain), ("mx", mx), ("usable", word)];
            l.sample(ProbeFamily::MxTlsaRecords, &labels, count as f64);
        }
        let mut by_parameters: BTreeMap<(u8, u8, u8), usize> = BTreeMap::new();
        for record in &host_dane.records {
            if let Some(parameters) = parameters(&record.record) {
                *by_parameters.entry(parameters).or_default() += 1;
            }
        }
        for ((usage, selector, matching), count) in by_parameters {
            let (usage, selector, matching) = (
                usage.to_string(),
                selector.to_string(),
                matching.to_string(),
            );
            let labels = [
                ("domain", domain),
                ("matching", matching.as_str()),
                ("mx", mx),
                ("selector", selector.as_str()),
                ("usage", usage.as_str()),
            ];
            l.sample(ProbeFamily::MxTlsaInfo, &labels, count as f64);
        }
    }
}

/// The usage, selector and matching numbers of a record's presentation
/// form (`u s m hex`, possibly cut short).
fn parameters(record: &str) -> Option<(u8, u8, u8)> {
    let mut fields = record.split_ascii_whitespace();
    let mut number = || fields.next()?.parse::<u8>().ok();
    Some((number()?, number()?, number()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rfc::rfc7672::Tlsa;

    #[test]
    fn parameters_are_read_from_the_presentation_form() {
        let record = Tlsa {
            usage: 3,
            selector: 1,
            matching: 1,
            data: vec![0xab; 32],
        };
        assert_eq!(parameters(&record.to_string()), Some((3, 1, 1)));
        assert_eq!(parameters("3 1"), None);
        assert_eq!(parameters("300 1 1 ab"), None);
    }
}
