//! The probe's metric families, and each domain's series rendered from its
//! latest [`ProbeReport`] and [`PolicyHistory`].
//!
//! Names and labels here are the contract dashboards and alerts depend on
//! (README "Metrics"). Every label value is bounded: domains come from the
//! config; MX hosts and patterns are capped per domain and syntactically
//! host names; record ids are at most 32 letters and digits (RFC 8461 §3.1);
//! phases, modes, result types, reasons and warnings are closed enums.
//!
//! What a gauge shows after a failed phase: series describing the current
//! state (record, policy, MX match, TLSRPT) are removed, so nothing from an
//! earlier success looks current; the `*_timestamp_seconds` of the last good
//! fetch and the policy expiry keep their value, since that is what they mean.

use super::exposition::{flag, FamilyLines, FamilySet, Kind};
use crate::history::PolicyHistory;
use crate::report::{AddressFamily, PolicySource, ProbeReport};
use crate::rfc::rfc8461::policy::Mode;
use crate::taxonomy::{Phase, Reason, ResultType};
use std::collections::{BTreeMap, BTreeSet};

/// The per-domain families the probe feeds, in exposition order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProbeFamily {
    /// `mtasts_probe_success`.
    ProbeSuccess,
    /// `mtasts_probe_duration_seconds`.
    ProbeDuration,
    /// `mtasts_probe_timestamp_seconds`.
    ProbeTimestamp,
    /// `mtasts_probes_total`.
    ProbesTotal,
    /// `mtasts_probe_interval_seconds`.
    ProbeInterval,
    /// `mtasts_failures_total`.
    FailuresTotal,
    /// `mtasts_probe_failed`.
    ProbeFailed,
    /// `mtasts_record_info`.
    RecordInfo,
    /// `mtasts_policy_mode`.
    PolicyMode,
    /// `mtasts_policy_max_age_seconds`.
    PolicyMaxAge,
    /// `mtasts_policy_mx_patterns`.
    PolicyMxPatterns,
    /// `mtasts_policy_fetch_success_timestamp_seconds`.
    PolicyFetchSuccess,
    /// `mtasts_policy_expiry_timestamp_seconds`.
    PolicyExpiry,
    /// `mtasts_policy_id_stale`.
    PolicyIdStale,
    /// `mtasts_policy_changes_total`.
    PolicyChanges,
    /// `mtasts_policy_warning`.
    Warning,
    /// `mtasts_policy_pattern_unused`.
    PatternUnused,
    /// `mtasts_mx_hosts`.
    MxHosts,
    /// `mtasts_mx_policy_match`.
    MxPolicyMatch,
    /// `mtasts_mx_starttls`.
    MxStarttls,
    /// `mtasts_mx_cert_valid`.
    MxCertValid,
    /// `mtasts_mx_cert_expiry_timestamp_seconds`.
    MxCertExpiry,
    /// `mtasts_mx_tls_version_info`.
    MxTlsVersion,
    /// `mtasts_policy_cert_valid`.
    PolicyCertValid,
    /// `mtasts_policy_cert_expiry_timestamp_seconds`.
    PolicyCertExpiry,
    /// `mtasts_cert_earliest_expiry_timestamp_seconds`.
    CertEarliestExpiry,
    /// `mtasts_tlsrpt_record_present`.
    TlsrptPresent,
    /// `mtasts_tlsrpt_record_valid`.
    TlsrptValid,
    /// `mtasts_policy_source`.
    PolicySource,
    /// `mtasts_mx_addresses`.
    MxAddresses,
    /// `mtasts_mx_addresses_failing`.
    MxAddressesFailing,
    /// `mtasts_policy_addresses`.
    PolicyAddresses,
    /// `mtasts_policy_addresses_failing`.
    PolicyAddressesFailing,
    /// `mtasts_dnssec_mx_secure` (DANE, src/metrics/dane.rs).
    DnssecMxSecure,
    /// `mtasts_mx_dane_valid`.
    MxDaneValid,
    /// `mtasts_mx_tlsa_records`.
    MxTlsaRecords,
    /// `mtasts_mx_tlsa_info`.
    MxTlsaInfo,
    /// `mtasts_domain_effective_policy`.
    EffectivePolicy,
    /// `mtasts_mx_tlsa_rollover_ready`.
    MxTlsaRolloverReady,
}

impl FamilySet for ProbeFamily {
    const ALL: &'static [ProbeFamily] = &[
        ProbeFamily::ProbeSuccess,
        ProbeFamily::ProbeDuration,
        ProbeFamily::ProbeTimestamp,
        ProbeFamily::ProbesTotal,
        ProbeFamily::ProbeInterval,
        ProbeFamily::FailuresTotal,
        ProbeFamily::ProbeFailed,
        ProbeFamily::RecordInfo,
        ProbeFamily::PolicyMode,
        ProbeFamily::PolicyMaxAge,
        ProbeFamily::PolicyMxPatterns,
        ProbeFamily::PolicyFetchSuccess,
        ProbeFamily::PolicyExpiry,
        ProbeFamily::PolicyIdStale,
        ProbeFamily::PolicyChanges,
        ProbeFamily::Warning,
        ProbeFamily::PatternUnused,
        ProbeFamily::MxHosts,
        ProbeFamily::MxPolicyMatch,
        ProbeFamily::MxStarttls,
        ProbeFamily::MxCertValid,
        ProbeFamily::MxCertExpiry,
        ProbeFamily::MxTlsVersion,
        ProbeFamily::PolicyCertValid,
        ProbeFamily::PolicyCertExpiry,
        ProbeFamily::CertEarliestExpiry,
        ProbeFamily::TlsrptPresent,
        ProbeFamily::TlsrptValid,
        ProbeFamily::PolicySource,
        ProbeFamily::MxAddresses,
        ProbeFamily::MxAddressesFailing,
        ProbeFamily::PolicyAddresses,
        ProbeFamily::PolicyAddressesFailing,
        ProbeFamily::DnssecMxSecure,
        ProbeFamily::MxDaneValid,
        ProbeFamily::MxTlsaRecords,
        ProbeFamily::MxTlsaInfo,
        ProbeFamily::EffectivePolicy,
        ProbeFamily::MxTlsaRolloverReady,
    ];

    fn index(self) -> usize {
        self as usize
    }

    fn name(self) -> &'static str {
        self.spec().0
    }

    fn kind(self) -> Kind {
        self.spec().1
    }

    fn help(self) -> &'static str {
        self.spec().2
    }
}

impl ProbeFamily {
    /// Name, type and help, in one table.
    fn spec(self) -> (&'static str, Kind, &'static str) {
        match self {
            ProbeFamily::ProbeSuccess => ("mtasts_probe_success", Kind::Gauge, "1 when the last probe passed: record and policy valid and, in mode enforce or testing, every MX host covered and passing STARTTLS."),
            ProbeFamily::ProbeDuration => ("mtasts_probe_duration_seconds", Kind::Gauge, "Duration of the last probe."),
            ProbeFamily::ProbeTimestamp => ("mtasts_probe_timestamp_seconds", Kind::Gauge, "When the last probe started."),
            ProbeFamily::ProbesTotal => ("mtasts_probes_total", Kind::Counter, "Probes run."),
            ProbeFamily::ProbeInterval => ("mtasts_probe_interval_seconds", Kind::Gauge, "The configured time between two probes of the domain."),
            ProbeFamily::FailuresTotal => ("mtasts_failures_total", Kind::Counter, "Failures by phase, RFC 8460 result type and reason code."),
            ProbeFamily::ProbeFailed => ("mtasts_probe_failed", Kind::Gauge, "1 for each failure of the last probe, by phase, RFC 8460 result type and reason code (absent when it did not occur)."),
            ProbeFamily::RecordInfo => ("mtasts_record_info", Kind::Gauge, "Always 1; the id of the valid _mta-sts TXT record. Absent when there is none."),
            ProbeFamily::PolicyMode => ("mtasts_policy_mode", Kind::Gauge, "1 for the mode of the current policy (fresh, or the cached copy senders still apply: mtasts_policy_source), 0 for the others. Absent when there is none."),
            ProbeFamily::PolicyMaxAge => ("mtasts_policy_max_age_seconds", Kind::Gauge, "max_age of the current policy (fresh or cached)."),
            ProbeFamily::PolicyMxPatterns => ("mtasts_policy_mx_patterns", Kind::Gauge, "Number of mx patterns in the current policy (fresh or cached)."),
            ProbeFamily::PolicyFetchSuccess => ("mtasts_policy_fetch_success_timestamp_seconds", Kind::Gauge, "When a valid policy was last fetched (kept across failures)."),
            ProbeFamily::PolicyExpiry => ("mtasts_policy_expiry_timestamp_seconds", Kind::Gauge, "Last good fetch plus max_age: when senders' cached copies lapse (kept across failures)."),
            ProbeFamily::PolicyIdStale => ("mtasts_policy_id_stale", Kind::Gauge, "1 when the policy changed but the record id did not: senders keep their cached copy (RFC 8461 §3.3)."),
            ProbeFamily::PolicyChanges => ("mtasts_policy_changes_total", Kind::Counter, "Changes of the policy content (mode, max_age, mx) seen between fetches."),
            ProbeFamily::Warning => ("mtasts_policy_warning", Kind::Gauge, "1 for each warning that applies now (absent when it does not)."),
            ProbeFamily::PatternUnused => ("mtasts_policy_pattern_unused", Kind::Gauge, "1 for each policy mx pattern no MX host uses."),
            ProbeFamily::MxHosts => ("mtasts_mx_hosts", Kind::Gauge, "MX hosts of the domain (implicit MX counts as one, null MX as zero)."),
            ProbeFamily::MxPolicyMatch => ("mtasts_mx_policy_match", Kind::Gauge, "1 when a policy mx pattern covers the MX host, 0 when not. Absent when there is no policy or no MX answer."),
            ProbeFamily::MxStarttls => ("mtasts_mx_starttls", Kind::Gauge, "1 when the MX host offers STARTTLS in its EHLO reply, 0 when not. Absent when not checked or the exchange did not get that far."),
            ProbeFamily::MxCertValid => ("mtasts_mx_cert_valid", Kind::Gauge, "1 when the MX host's certificate is trusted, matches its name and is within its validity. Absent when no certificate was seen."),
            ProbeFamily::MxCertExpiry => ("mtasts_mx_cert_expiry_timestamp_seconds", Kind::Gauge, "notAfter of the MX host's certificate."),
            ProbeFamily::MxTlsVersion => ("mtasts_mx_tls_version_info", Kind::Gauge, "1; the TLS version negotiated with the MX host (TLSv1.2, TLSv1.3)."),
            ProbeFamily::PolicyCertValid => ("mtasts_policy_cert_valid", Kind::Gauge, "1 when the policy host's certificate is valid for mta-sts.<domain>. Absent when no certificate was seen."),
            ProbeFamily::PolicyCertExpiry => ("mtasts_policy_cert_expiry_timestamp_seconds", Kind::Gauge, "notAfter of the policy host's certificate."),
            ProbeFamily::CertEarliestExpiry => ("mtasts_cert_earliest_expiry_timestamp_seconds", Kind::Gauge, "Earliest notAfter over the policy host's and the MX hosts' certificates."),
            ProbeFamily::TlsrptPresent => ("mtasts_tlsrpt_record_present", Kind::Gauge, "1 when a v=TLSRPTv1 record exists at _smtp._tls. Absent when the lookup failed."),
            ProbeFamily::TlsrptValid => ("mtasts_tlsrpt_record_valid", Kind::Gauge, "1 when exactly one TLSRPT record exists and it is valid."),
            ProbeFamily::PolicySource => ("mtasts_policy_source", Kind::Gauge, "1 for the policy the MX hosts were judged against (fresh: fetched now; cached: the copy senders still apply while no fresh one is available or it changed under the same record id, RFC 8461 §5.1; none), 0 for the others."),
            ProbeFamily::MxAddresses => ("mtasts_mx_addresses", Kind::Gauge, "Addresses of the MX host checked, by family (at most addresses.per_family each). Absent for a family without addresses."),
            ProbeFamily::PolicyAddresses => ("mtasts_policy_addresses", Kind::Gauge, "Addresses of mta-sts.<domain> the policy was fetched over, by family (at most addresses.per_family each). Absent for a family without addresses."),
            ProbeFamily::PolicyAddressesFailing => ("mtasts_policy_addresses_failing", Kind::Gauge, "Addresses of mta-sts.<domain> whose fetch failed or served another policy than the first, by family."),
            ProbeFamily::MxAddressesFailing => ("mtasts_mx_addresses_failing", Kind::Gauge, "Addresses of the MX host whose STARTTLS or certificate check failed, by family."),
            ProbeFamily::DnssecMxSecure | ProbeFamily::MxDaneValid | ProbeFamily::MxTlsaRecords | ProbeFamily::MxTlsaInfo | ProbeFamily::EffectivePolicy | ProbeFamily::MxTlsaRolloverReady => super::dane::spec(self),
        }
    }
}

/// One domain's probe series: the counters only the metrics keep, and the
/// domain's lines of each family, rendered when they change.
#[derive(Debug, Default)]
pub struct DomainSeries {
    probes_total: u64,
    failures_total: BTreeMap<(Phase, ResultType, Reason), u64>,
    /// Exposition lines per family.
    pub lines: FamilyLines<ProbeFamily>,
}

impl DomainSeries {
    /// Records the configured interval (kept across probes).
    pub fn set_interval(&mut self, domain: &str, interval: std::time::Duration) {
        self.lines.clear(ProbeFamily::ProbeInterval);
        let labels = [("domain", domain)];
        let seconds = interval.as_secs_f64();
        self.lines
            .sample(ProbeFamily::ProbeInterval, &labels, seconds);
    }

    /// Counts one probe and re-renders every family but the interval from
    /// `report` and the domain's policy `history` after it.
    pub fn observe(&mut self, report: &ProbeReport, history: &PolicyHistory, max_mx_hosts: usize) {
        self.probes_total += 1;
        for failure in &report.failures {
            let key = (failure.phase, failure.result_type, failure.reason);
            *self.failures_total.entry(key).or_default() += 1;
        }
        self.lines.clear_all_but(ProbeFamily::ProbeInterval);
        self.render_probe(report);
        render_policy(&mut self.lines, report, history);
        render_mx_hosts(&mut self.lines, report, max_mx_hosts);
        render_certificates_and_tlsrpt(&mut self.lines, report);
        render_policy_addresses(&mut self.lines, report);
        super::dane::render_dane(&mut self.lines, report, max_mx_hosts);
        self.lines.shrink_to_fit();
    }

    /// The probe's own outcome: success, timing, counts and failures.
    fn render_probe(&mut self, report: &ProbeReport) {
        let domain = report.domain.as_str();
        let d = [("domain", domain)];
        let l = &mut self.lines;
        l.sample(ProbeFamily::ProbeSuccess, &d, flag(report.success));
        l.sample(ProbeFamily::ProbeDuration, &d, report.duration_seconds);
        l.sample(ProbeFamily::ProbeTimestamp, &d, report.timestamp);
        l.sample(ProbeFamily::ProbesTotal, &d, self.probes_total as f64);
        for (failure, count) in &self.failures_total {
            failure_sample(
                l,
                ProbeFamily::FailuresTotal,
                domain,
                failure,
                *count as f64,
            );
        }
        let current: BTreeSet<(Phase, ResultType, Reason)> = report
            .failures
            .iter()
            .map(|f| (f.phase, f.result_type, f.reason))
            .collect();
        for failure in &current {
            failure_sample(l, ProbeFamily::ProbeFailed, domain, failure, 1.0);
        }
    }
}

/// The record, the policy, its history and the warnings.
fn render_policy(l: &mut FamilyLines<ProbeFamily>, report: &ProbeReport, history: &PolicyHistory) {
    let domain = report.domain.as_str();
    let d = [("domain", domain)];
    if let Some(record) = &report.record {
        let labels = [("domain", domain), ("id", record.id.as_str())];
        l.sample(ProbeFamily::RecordInfo, &labels, 1.0);
    }
    // The policy in force: fresh, or the cached copy senders still apply.
    let current = match report.policy_source {
        PolicySource::Fresh => report
            .policy
            .as_ref()
            .map(|p| (p.mode, p.max_age, p.mx.len())),
        PolicySource::Cached => report
            .cached_policy
            .as_ref()
            .map(|p| (p.mode, p.max_age, p.mx.len())),
        PolicySource::None => None,
    };
    if let Some((current_mode, max_age, patterns)) = current {
        for mode in Mode::ALL {
            let labels = [("domain", domain), ("mode", mode.as_str())];
            l.sample(ProbeFamily::PolicyMode, &labels, flag(mode == current_mode));
        }
        l.sample(ProbeFamily::PolicyMaxAge, &d, max_age as f64);
        l.sample(ProbeFamily::PolicyMxPatterns, &d, patterns as f64);
    }
    for source in PolicySource::ALL {
        let labels = [("domain", domain), ("source", source.as_str())];
        let used = source == report.policy_source;
        l.sample(ProbeFamily::PolicySource, &labels, flag(used));
    }
    if let Some(at) = history.last_fetch_success {
        l.sample(ProbeFamily::PolicyFetchSuccess, &d, at);
    }
    if let Some(at) = history.expiry {
        l.sample(ProbeFamily::PolicyExpiry, &d, at);
    }
    if let Some(changes) = history.changes {
        l.sample(ProbeFamily::PolicyIdStale, &d, flag(history.id_stale));
        l.sample(ProbeFamily::PolicyChanges, &d, changes as f64);
    }
    let warnings: BTreeSet<_> = report.warnings.iter().collect();
    for warning in warnings {
        let labels = [("domain", domain), ("warning", warning.as_str())];
        l.sample(ProbeFamily::Warning, &labels, 1.0);
    }
}

/// The MX hosts (the first `max_mx_hosts`, each once) and unused patterns.
fn render_mx_hosts(l: &mut FamilyLines<ProbeFamily>, report: &ProbeReport, max_mx_hosts: usize) {
    let domain = report.domain.as_str();
    for pattern in report.unused_patterns.iter().take(max_mx_hosts) {
        let labels = [("domain", domain), ("pattern", pattern.as_str())];
        l.sample(ProbeFamily::PatternUnused, &labels, 1.0);
    }
    let Some(hosts) = &report.mx_hosts else {
        return;
    };
    l.sample(
        ProbeFamily::MxHosts,
        &[("domain", domain)],
        hosts.len() as f64,
    );
    let mut seen = BTreeSet::new();
    for host in hosts.iter().take(max_mx_hosts) {
        if !seen.insert(host.host.as_str()) {
            continue;
        }
        let labels = [("domain", domain), ("mx", host.host.as_str())];
        if let Some(matches) = host.matches_policy {
            l.sample(ProbeFamily::MxPolicyMatch, &labels, flag(matches));
        }
        if let Some(offered) = host.starttls_offered {
            l.sample(ProbeFamily::MxStarttls, &labels, flag(offered));
        }
        if let Some(cert) = &host.cert {
            l.sample(ProbeFamily::MxCertValid, &labels, flag(cert.valid));
            l.sample(ProbeFamily::MxCertExpiry, &labels, cert.not_after as f64);
        }
        if let Some(version) = &host.tls_version {
            let labels = [
                ("domain", domain),
                ("mx", host.host.as_str()),
                ("version", version.as_str()),
            ];
            l.sample(ProbeFamily::MxTlsVersion, &labels, 1.0);
        }
        for family in AddressFamily::ALL {
            let addresses = host.addresses.iter().filter(|a| a.family == family);
            let (count, failing) = addresses.fold((0, 0), |(n, f), a| {
                (n + 1, f + usize::from(a.result_type.is_some()))
            });
            if count > 0 {
                let labels = [
                    ("domain", domain),
                    ("family", family.as_str()),
                    ("mx", host.host.as_str()),
                ];
                l.sample(ProbeFamily::MxAddresses, &labels, count as f64);
                l.sample(ProbeFamily::MxAddressesFailing, &labels, failing as f64);
            }
        }
    }
}

/// The policy host's addresses, per family: how many, how many failing.
fn render_policy_addresses(l: &mut FamilyLines<ProbeFamily>, report: &ProbeReport) {
    for family in AddressFamily::ALL {
        let addresses = report
            .policy_addresses
            .iter()
            .filter(|a| a.family == family);
        let (count, failing) = addresses.fold((0, 0), |(n, f), a| {
            (n + 1, f + usize::from(a.result_type.is_some()))
        });
        if count > 0 {
            let labels = [
                ("domain", report.domain.as_str()),
                ("family", family.as_str()),
            ];
            l.sample(ProbeFamily::PolicyAddresses, &labels, count as f64);
            l.sample(ProbeFamily::PolicyAddressesFailing, &labels, failing as f64);
        }
    }
}

/// The policy host's certificate, the earliest expiry, and TLSRPT.
fn render_certificates_and_tlsrpt(l: &mut FamilyLines<ProbeFamily>, report: &ProbeReport) {
    let d = [("domain", report.domain.as_str())];
    if let Some(cert) = &report.policy_cert {
        l.sample(ProbeFamily::PolicyCertValid, &d, flag(cert.valid));
        l.sample(ProbeFamily::PolicyCertExpiry, &d, cert.not_after as f64);
    }
    if let Some(earliest) = report.earliest_cert_expiry() {
        l.sample(ProbeFamily::CertEarliestExpiry, &d, earliest as f64);
    }
    if let Some(status) = &report.tlsrpt {
        l.sample(ProbeFamily::TlsrptPresent, &d, flag(status.present));
        l.sample(ProbeFamily::TlsrptValid, &d, flag(status.valid));
    }
}

/// One sample of a failure family (`mtasts_failures_total`,
/// `mtasts_probe_failed`): the same four labels, in the same order, for both.
fn failure_sample(
    lines: &mut FamilyLines<ProbeFamily>,
    family: ProbeFamily,
    domain: &str,
    (phase, result_type, reason): &(Phase, ResultType, Reason),
    value: f64,
) {
    let reason = reason.as_str();
    let labels = [
        ("domain", domain),
        ("phase", phase.as_str()),
        ("reason", &reason),
        ("result_type", result_type.as_str()),
    ];
    lines.sample(family, &labels, value);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_named_by_the_conventions() {
        for (index, &family) in ProbeFamily::ALL.iter().enumerate() {
            assert_eq!(family.index(), index, "{family:?} out of order in ALL");
            let name = family.name();
            assert!(name.starts_with("mtasts_"));
            assert_eq!(
                family.kind() == Kind::Counter,
                name.ends_with("_total"),
                "{name}"
            );
        }
        let mut names: Vec<_> = ProbeFamily::ALL.iter().map(|f| f.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), ProbeFamily::ALL.len());
    }

    /// The source of the policy applied is one series per value, and the
    /// policy series show the cached policy while it is the one applied,
    /// never a policy fetched without a valid record.
    #[test]
    fn the_policy_series_follow_the_policy_applied() {
        use crate::report::{CachedPolicy, PolicyReport, RecordReport};
        let fetched = PolicyReport::blank(Mode::Testing, 86_400, &["mx.example.com"]);
        let cached = CachedPolicy::of(
            "1",
            &PolicyReport {
                mode: Mode::Enforce,
                max_age: 1_209_600,
                mx: vec!["a.example.com".into(), "b.example.com".into()],
                ..fetched.clone()
            },
            500.0,
        );
        let fresh = ProbeReport {
            record: Some(RecordReport {
                id: "2".into(),
                txt: "v=STSv1; id=2".into(),
            }),
            policy: Some(fetched.clone()),
            policy_source: PolicySource::Fresh,
            ..ProbeReport::blank("example.com", 1_000.0)
        };
        let from_cache = ProbeReport {
            policy: Some(fetched.clone()),
            policy_source: PolicySource::Cached,
            cached_policy: Some(cached),
            ..ProbeReport::blank("example.com", 1_000.0)
        };
        let unused = ProbeReport {
            policy: Some(fetched),
            ..ProbeReport::blank("example.com", 1_000.0)
        };
        let cases = [
            (&fresh, "fresh", Some(("testing", 86_400.0, 1.0))),
            (&from_cache, "cached", Some(("enforce", 1_209_600.0, 2.0))),
            (&unused, "none", None),
        ];
        for (report, source, policy) in cases {
            let mut series = DomainSeries::default();
            series.observe(report, &PolicyHistory::default(), 10);
            let text: String = ProbeFamily::ALL
                .iter()
                .map(|&family| series.lines.get(family))
                .collect();
            for other in PolicySource::ALL {
                let value = flag(other.as_str() == source);
                let line = format!(
                    "mtasts_policy_source{{domain=\"example.com\",source=\"{}\"}} {value}",
                    other.as_str()
                );
                assert!(text.lines().any(|l| l == line), "{line}\n{text}");
            }
            match policy {
                Some((mode, max_age, patterns)) => {
                    let mode_line =
                        format!("mtasts_policy_mode{{domain=\"example.com\",mode=\"{mode}\"}} 1");
                    assert!(text.contains(&mode_line), "{source}\n{text}");
                    let max_age_line = format!(
                        "mtasts_policy_max_age_seconds{{domain=\"example.com\"}} {max_age}"
                    );
                    assert!(text.contains(&max_age_line), "{source}\n{text}");
                    let patterns_line =
                        format!("mtasts_policy_mx_patterns{{domain=\"example.com\"}} {patterns}");
                    assert!(text.contains(&patterns_line), "{source}\n{text}");
                }
                None => assert!(!text.contains("mtasts_policy_mode"), "{text}"),
            }
        }
    }
}
