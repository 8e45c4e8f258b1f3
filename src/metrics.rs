//! `ProbeReport` → Prometheus exposition.
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
//!
//! How: the histogram, the exporter's health and `process_*` live in a
//! `prometheus` registry. The per-domain series (two dozen per domain, a
//! million at 40,000 domains) are rendered to text once per probe, when the
//! domain's state changes, and a scrape concatenates them: the `prometheus`
//! crate's `gather` copies every label of every series on each scrape, which
//! cost 0.3 s at 10,000 domains and 6 s at 100,000 (README "Performance").

use crate::failure::{Phase, Reason, ResultType};
use crate::mtasts::policy::Mode;
use crate::report::{PolicyReport, ProbeReport};
use prometheus::{
    Encoder, Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntGauge, Opts, Registry,
    TextEncoder,
};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Buckets for phase durations: DNS answers in milliseconds, fetches in
/// seconds, timeouts at a minute.
const PHASE_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// One per-domain metric family: name, type, help.
struct Family {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
}

/// The per-domain families, in exposition order. Indexes are [`F`].
const FAMILIES: [Family; F::COUNT] = [
    Family { name: "mtasts_probe_success", kind: "gauge", help: "1 when the last probe passed: record and policy valid and, in mode enforce or testing, every MX host covered and passing STARTTLS." },
    Family { name: "mtasts_probe_duration_seconds", kind: "gauge", help: "Duration of the last probe." },
    Family { name: "mtasts_probe_timestamp_seconds", kind: "gauge", help: "When the last probe started." },
    Family { name: "mtasts_probes_total", kind: "counter", help: "Probes run." },
    Family { name: "mtasts_probe_interval_seconds", kind: "gauge", help: "The configured time between two probes of the domain." },
    Family { name: "mtasts_failures_total", kind: "counter", help: "Failures by phase, RFC 8460 result type and reason code." },
    Family { name: "mtasts_probe_failed", kind: "gauge", help: "1 for each failure of the last probe, by phase, RFC 8460 result type and reason code (absent when it did not occur)." },
    Family { name: "mtasts_record_info", kind: "gauge", help: "Always 1; the id of the valid _mta-sts TXT record. Absent when there is none." },
    Family { name: "mtasts_policy_mode", kind: "gauge", help: "1 for the mode of the current policy, 0 for the others. Absent when no valid policy was fetched." },
    Family { name: "mtasts_policy_max_age_seconds", kind: "gauge", help: "max_age of the current policy." },
    Family { name: "mtasts_policy_mx_patterns", kind: "gauge", help: "Number of mx patterns in the current policy." },
    Family { name: "mtasts_policy_fetch_success_timestamp_seconds", kind: "gauge", help: "When a valid policy was last fetched (kept across failures)." },
    Family { name: "mtasts_policy_expiry_timestamp_seconds", kind: "gauge", help: "Last good fetch plus max_age: when senders' cached copies lapse (kept across failures)." },
    Family { name: "mtasts_policy_id_stale", kind: "gauge", help: "1 when the policy changed but the record id did not: senders keep their cached copy (RFC 8461 §3.3)." },
    Family { name: "mtasts_policy_changes_total", kind: "counter", help: "Changes of the policy content (mode, max_age, mx) seen between fetches." },
    Family { name: "mtasts_policy_warning", kind: "gauge", help: "1 for each warning that applies now (absent when it does not)." },
    Family { name: "mtasts_policy_pattern_unused", kind: "gauge", help: "1 for each policy mx pattern no MX host uses." },
    Family { name: "mtasts_mx_hosts", kind: "gauge", help: "MX hosts of the domain (implicit MX counts as one, null MX as zero)." },
    Family { name: "mtasts_mx_policy_match", kind: "gauge", help: "1 when a policy mx pattern covers the MX host, 0 when not. Absent when there is no policy or no MX answer." },
    Family { name: "mtasts_mx_starttls", kind: "gauge", help: "1 when the MX host offers STARTTLS in its EHLO reply, 0 when not. Absent when not checked or the exchange did not get that far." },
    Family { name: "mtasts_mx_cert_valid", kind: "gauge", help: "1 when the MX host's certificate is trusted, matches its name and is within its validity. Absent when no certificate was seen." },
    Family { name: "mtasts_mx_cert_expiry_timestamp_seconds", kind: "gauge", help: "notAfter of the MX host's certificate." },
    Family { name: "mtasts_mx_tls_version_info", kind: "gauge", help: "1; the TLS version negotiated with the MX host (TLSv1.2, TLSv1.3)." },
    Family { name: "mtasts_policy_cert_valid", kind: "gauge", help: "1 when the policy host's certificate is valid for mta-sts.<domain>. Absent when no certificate was seen." },
    Family { name: "mtasts_policy_cert_expiry_timestamp_seconds", kind: "gauge", help: "notAfter of the policy host's certificate." },
    Family { name: "mtasts_cert_earliest_expiry_timestamp_seconds", kind: "gauge", help: "Earliest notAfter over the policy host's and the MX hosts' certificates." },
    Family { name: "mtasts_tlsrpt_record_present", kind: "gauge", help: "1 when a v=TLSRPTv1 record exists at _smtp._tls. Absent when the lookup failed." },
    Family { name: "mtasts_tlsrpt_record_valid", kind: "gauge", help: "1 when exactly one TLSRPT record exists and it is valid." },
];

/// Indexes into [`FAMILIES`].
struct F;

impl F {
    const PROBE_SUCCESS: usize = 0;
    const PROBE_DURATION: usize = 1;
    const PROBE_TIMESTAMP: usize = 2;
    const PROBES_TOTAL: usize = 3;
    const PROBE_INTERVAL: usize = 4;
    const FAILURES_TOTAL: usize = 5;
    const PROBE_FAILED: usize = 6;
    const RECORD_INFO: usize = 7;
    const POLICY_MODE: usize = 8;
    const POLICY_MAX_AGE: usize = 9;
    const POLICY_MX_PATTERNS: usize = 10;
    const POLICY_FETCH_SUCCESS: usize = 11;
    const POLICY_EXPIRY: usize = 12;
    const POLICY_ID_STALE: usize = 13;
    const POLICY_CHANGES: usize = 14;
    const WARNING: usize = 15;
    const PATTERN_UNUSED: usize = 16;
    const MX_HOSTS: usize = 17;
    const MX_POLICY_MATCH: usize = 18;
    const MX_STARTTLS: usize = 19;
    const MX_CERT_VALID: usize = 20;
    const MX_CERT_EXPIRY: usize = 21;
    const MX_TLS_VERSION: usize = 22;
    const POLICY_CERT_VALID: usize = 23;
    const POLICY_CERT_EXPIRY: usize = 24;
    const CERT_EARLIEST_EXPIRY: usize = 25;
    const TLSRPT_PRESENT: usize = 26;
    const TLSRPT_VALID: usize = 27;
    const COUNT: usize = 28;
}

/// What is kept per domain: counters and history, and the domain's lines of
/// each family, rendered when they change.
#[derive(Debug, Default)]
struct DomainState {
    probes_total: u64,
    failures_total: BTreeMap<(Phase, ResultType, Reason), u64>,
    policy_changes_total: Option<u64>,
    /// The record id and policy content of the last successful fetch.
    last_policy: Option<(String, PolicyContent)>,
    policy_stale: bool,
    policy_fetch_success: Option<f64>,
    policy_expiry: Option<f64>,
    /// Exposition lines per family (empty: no series).
    lines: [String; F::COUNT],
}

/// The parts of a policy senders act on; a change in the text that leaves
/// these equal (white space, order of lines, CRLF vs LF) is not a change.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PolicyContent {
    mode: Mode,
    max_age: u64,
    mx: BTreeSet<String>,
}

impl PolicyContent {
    fn of(policy: &PolicyReport) -> PolicyContent {
        PolicyContent {
            mode: policy.mode,
            max_age: policy.max_age,
            mx: policy.mx.iter().cloned().collect(),
        }
    }
}

/// Which registry a [`Metrics`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistryKind {
    /// The long-lived registry behind `/metrics`.
    Exporter,
    /// A fresh registry for one `/probe` answer (blackbox_exporter style).
    Probe,
}

/// The exporter's metrics and the per-domain state behind them.
pub struct Metrics {
    registry: Registry,
    max_mx_hosts: AtomicUsize,
    phase_by_domain: bool,
    phase_duration: HistogramVec,
    /// Domains scheduled.
    pub domains_configured: IntGauge,
    /// Probes running now.
    pub probes_in_flight: IntGauge,
    /// Probe tasks that panicked (a bug: the scheduler carries on).
    pub probe_panics: IntCounter,
    /// 1 when the last config (re)load succeeded.
    pub config_reload_successful: Gauge,
    /// When the config was last loaded successfully.
    pub config_reload_timestamp: Gauge,
    domains: Mutex<BTreeMap<String, DomainState>>,
}

/// Why the registry could not be built (a bug: names are static).
#[derive(Debug, thiserror::Error)]
#[error("cannot register metrics: {0}")]
pub struct MetricsError(#[from] prometheus::Error);

/// Writes a label value escaped for the text format.
fn escape_into(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Appends one sample, `name{l1="v1",...} value`, to the text of its
/// family in `lines` (a domain's text, one entry per family). Labels in name
/// order (as the `prometheus` crate writes them).
fn sample(lines: &mut [String], family: usize, labels: &[(&str, &str)], value: f64) {
    let out = &mut lines[family];
    out.push_str(FAMILIES[family].name);
    out.push('{');
    for (i, (name, value)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(name);
        out.push_str("=\"");
        escape_into(out, value);
        out.push('"');
    }
    out.push_str("} ");
    if value.is_nan() {
        out.push_str("NaN");
    } else {
        let _ = write!(out, "{value}");
    }
    out.push('\n');
}

fn flag(value: bool) -> f64 {
    if value {
        1.0
    } else {
        0.0
    }
}

impl Metrics {
    /// A registry of `kind`: the exporter's (probe series, exporter health
    /// and `process_*`) or one `/probe` request's (probe series only).
    pub fn new(
        max_mx_hosts: usize,
        phase_by_domain: bool,
        kind: RegistryKind,
    ) -> Result<Metrics, MetricsError> {
        let registry = Registry::new();
        let phase_labels: &[&str] = if phase_by_domain {
            &["domain", "phase", "result"]
        } else {
            &["phase", "result"]
        };
        let phase_duration = HistogramVec::new(
            HistogramOpts::new(
                "mtasts_phase_duration_seconds",
                "Duration of each probe phase (record_lookup, policy_fetch, mx_lookup, tlsrpt_lookup, starttls), by result ok|error.",
            )
            .buckets(PHASE_BUCKETS.to_vec()),
            phase_labels,
        )?;
        registry.register(Box::new(phase_duration.clone()))?;
        let build_info = GaugeVec::new(
            Opts::new(
                "mtasts_exporter_build_info",
                "Always 1; the exporter's version, git revision and Rust version.",
            ),
            &["version", "revision", "rustversion"],
        )?;
        build_info
            .with_label_values(&[
                crate::version::VERSION,
                crate::version::REVISION,
                crate::version::RUST_VERSION,
            ])
            .set(1.0);
        let domains_configured = IntGauge::new(
            "mtasts_domains_configured",
            "Domains scheduled by this exporter (its shard's share when sharded).",
        )?;
        let probes_in_flight = IntGauge::new("mtasts_probes_in_flight", "Probes running now.")?;
        let probe_panics = IntCounter::new(
            "mtasts_probe_panics_total",
            "Probe tasks that panicked (a bug; the scheduler goes on).",
        )?;
        let config_reload_successful = Gauge::new(
            "mtasts_config_last_reload_successful",
            "1 when the last configuration load succeeded, 0 when it was rejected.",
        )?;
        let config_reload_timestamp = Gauge::new(
            "mtasts_config_last_reload_success_timestamp_seconds",
            "When the configuration was last loaded successfully.",
        )?;
        if kind == RegistryKind::Exporter {
            registry.register(Box::new(build_info))?;
            registry.register(Box::new(domains_configured.clone()))?;
            registry.register(Box::new(probes_in_flight.clone()))?;
            registry.register(Box::new(probe_panics.clone()))?;
            registry.register(Box::new(config_reload_successful.clone()))?;
            registry.register(Box::new(config_reload_timestamp.clone()))?;
            #[cfg(target_os = "linux")]
            registry.register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ))?;
        }
        Ok(Metrics {
            registry,
            max_mx_hosts: AtomicUsize::new(max_mx_hosts),
            phase_by_domain,
            phase_duration,
            domains_configured,
            probes_in_flight,
            probe_panics,
            config_reload_successful,
            config_reload_timestamp,
            domains: Mutex::new(BTreeMap::new()),
        })
    }

    /// Renders the text exposition format: the registry, then every
    /// per-domain family with its domains' lines, domains in name order.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 * 1024);
        // Encoding into a Vec cannot fail for I/O; a malformed family would
        // be a bug, and an answer without it is better than a crash.
        if let Err(error) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(%error, "cannot encode metrics");
        }
        let domains = self.domains.lock().unwrap_or_else(|p| p.into_inner());
        let total: usize = domains
            .values()
            .map(|d| d.lines.iter().map(String::len).sum::<usize>())
            .sum();
        out.reserve(total + FAMILIES.len() * 200);
        for (index, family) in FAMILIES.iter().enumerate() {
            if domains.values().all(|d| d.lines[index].is_empty()) {
                continue;
            }
            let _ = writeln!(
                ByteWriter(&mut out),
                "# HELP {} {}\n# TYPE {} {}",
                family.name,
                family.help,
                family.name,
                family.kind
            );
            for state in domains.values() {
                out.extend_from_slice(state.lines[index].as_bytes());
            }
        }
        out
    }

    fn max_mx_hosts(&self) -> usize {
        self.max_mx_hosts.load(Ordering::Relaxed)
    }

    /// Changes the per-domain cap on MX series (after a reload).
    pub fn set_max_mx_hosts(&self, max: usize) {
        self.max_mx_hosts.store(max, Ordering::Relaxed);
    }

    /// Whether `mtasts_phase_duration_seconds` has a `domain` label (fixed
    /// for the life of the registry).
    pub fn phase_by_domain(&self) -> bool {
        self.phase_by_domain
    }

    /// Records the configured interval of a domain (for "no probe in N
    /// intervals" alerts).
    pub fn set_interval(&self, domain: &str, interval: std::time::Duration) {
        let mut domains = self.domains.lock().unwrap_or_else(|p| p.into_inner());
        let state = domains.entry(domain.to_string()).or_default();
        state.lines[F::PROBE_INTERVAL].clear();
        sample(
            &mut state.lines,
            F::PROBE_INTERVAL,
            &[("domain", domain)],
            interval.as_secs_f64(),
        );
    }

    /// Drops every series of a domain no longer configured.
    pub fn remove_domain(&self, domain: &str) {
        let mut domains = self.domains.lock().unwrap_or_else(|p| p.into_inner());
        domains.remove(domain);
        drop(domains);
        if self.phase_by_domain {
            for phase in Phase::ALL {
                for result in ["ok", "error"] {
                    let _ =
                        self.phase_duration
                            .remove_label_values(&[domain, phase.as_str(), result]);
                }
            }
        }
    }

    /// Records one probe's report.
    pub fn observe(&self, report: &ProbeReport) {
        let domain = report.domain.as_str();
        for timing in &report.phases {
            let result = if timing.ok { "ok" } else { "error" };
            let phase = timing.phase.as_str();
            let histogram = if self.phase_by_domain {
                self.phase_duration
                    .with_label_values(&[domain, phase, result])
            } else {
                self.phase_duration.with_label_values(&[phase, result])
            };
            histogram.observe(timing.duration_seconds);
        }
        let max_mx_hosts = self.max_mx_hosts();
        let mut domains = self.domains.lock().unwrap_or_else(|p| p.into_inner());
        let state = domains.entry(domain.to_string()).or_default();
        state.update(report);
        state.render(report, max_mx_hosts);
    }
}

/// `fmt::Write` into a byte vector.
struct ByteWriter<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for ByteWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

impl DomainState {
    /// Counters and history: probes, failures, policy changes, stale id.
    fn update(&mut self, report: &ProbeReport) {
        self.probes_total += 1;
        for failure in &report.failures {
            *self
                .failures_total
                .entry((failure.phase, failure.result_type, failure.reason))
                .or_default() += 1;
        }
        if let Some(policy) = &report.policy {
            self.policy_fetch_success = Some(report.timestamp);
            self.policy_expiry = Some(report.timestamp + policy.max_age as f64);
            let id = report
                .record
                .as_ref()
                .map(|r| r.id.clone())
                .unwrap_or_default();
            let content = PolicyContent::of(policy);
            let changes = self.policy_changes_total.get_or_insert(0);
            if let Some((last_id, last_content)) = &self.last_policy {
                if *last_content != content {
                    *changes += 1;
                    self.policy_stale = *last_id == id;
                } else if *last_id != id {
                    self.policy_stale = false;
                }
            }
            self.last_policy = Some((id, content));
        }
    }

    /// Re-renders every family but the interval from the state and `report`.
    fn render(&mut self, report: &ProbeReport, max_mx_hosts: usize) {
        let domain = report.domain.as_str();
        let d = [("domain", domain)];
        for (index, lines) in self.lines.iter_mut().enumerate() {
            if index != F::PROBE_INTERVAL {
                lines.clear();
            }
        }
        let l = &mut self.lines;
        sample(l, F::PROBE_SUCCESS, &d, flag(report.success));
        sample(l, F::PROBE_DURATION, &d, report.duration_seconds);
        sample(l, F::PROBE_TIMESTAMP, &d, report.timestamp);
        sample(l, F::PROBES_TOTAL, &d, self.probes_total as f64);
        for (failure, count) in &self.failures_total {
            failure_sample(l, F::FAILURES_TOTAL, domain, failure, *count as f64);
        }
        let current: BTreeSet<(Phase, ResultType, Reason)> = report
            .failures
            .iter()
            .map(|f| (f.phase, f.result_type, f.reason))
            .collect();
        for failure in &current {
            failure_sample(l, F::PROBE_FAILED, domain, failure, 1.0);
        }
        if let Some(record) = &report.record {
            sample(
                l,
                F::RECORD_INFO,
                &[("domain", domain), ("id", &record.id)],
                1.0,
            );
        }
        if let Some(policy) = &report.policy {
            for mode in Mode::ALL {
                let labels = [("domain", domain), ("mode", mode.as_str())];
                sample(l, F::POLICY_MODE, &labels, flag(mode == policy.mode));
            }
            sample(l, F::POLICY_MAX_AGE, &d, policy.max_age as f64);
            sample(l, F::POLICY_MX_PATTERNS, &d, policy.mx.len() as f64);
        }
        if let Some(at) = self.policy_fetch_success {
            sample(l, F::POLICY_FETCH_SUCCESS, &d, at);
        }
        if let Some(at) = self.policy_expiry {
            sample(l, F::POLICY_EXPIRY, &d, at);
        }
        if let Some(changes) = self.policy_changes_total {
            sample(l, F::POLICY_ID_STALE, &d, flag(self.policy_stale));
            sample(l, F::POLICY_CHANGES, &d, changes as f64);
        }
        let warnings: BTreeSet<_> = report.warnings.iter().collect();
        for warning in warnings {
            let labels = [("domain", domain), ("warning", warning.as_str())];
            sample(l, F::WARNING, &labels, 1.0);
        }
        for pattern in report.unused_patterns.iter().take(max_mx_hosts) {
            let labels = [("domain", domain), ("pattern", pattern.as_str())];
            sample(l, F::PATTERN_UNUSED, &labels, 1.0);
        }
        if let Some(hosts) = &report.mx_hosts {
            sample(l, F::MX_HOSTS, &d, hosts.len() as f64);
            let mut seen = BTreeSet::new();
            for host in hosts.iter().take(max_mx_hosts) {
                if !seen.insert(host.host.as_str()) {
                    continue;
                }
                let labels = [("domain", domain), ("mx", host.host.as_str())];
                if let Some(matches) = host.matches_policy {
                    sample(l, F::MX_POLICY_MATCH, &labels, flag(matches));
                }
                if let Some(offered) = host.starttls {
                    sample(l, F::MX_STARTTLS, &labels, flag(offered));
                }
                if let Some(cert) = &host.cert {
                    sample(l, F::MX_CERT_VALID, &labels, flag(cert.valid));
                    sample(l, F::MX_CERT_EXPIRY, &labels, cert.not_after as f64);
                }
                if let Some(version) = &host.tls_version {
                    let labels = [
                        ("domain", domain),
                        ("mx", host.host.as_str()),
                        ("version", version.as_str()),
                    ];
                    sample(l, F::MX_TLS_VERSION, &labels, 1.0);
                }
            }
        }
        if let Some(cert) = &report.policy_cert {
            sample(l, F::POLICY_CERT_VALID, &d, flag(cert.valid));
            sample(l, F::POLICY_CERT_EXPIRY, &d, cert.not_after as f64);
        }
        if let Some(earliest) = report.earliest_cert_expiry() {
            sample(l, F::CERT_EARLIEST_EXPIRY, &d, earliest as f64);
        }
        if let Some(status) = &report.tlsrpt {
            sample(l, F::TLSRPT_PRESENT, &d, flag(status.present));
            sample(l, F::TLSRPT_VALID, &d, flag(status.valid));
        }
    }
}

/// One sample of a failure family (`mtasts_failures_total`,
/// `mtasts_probe_failed`): the same four labels, in the same order, for both.
fn failure_sample(
    lines: &mut [String],
    family: usize,
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
    sample(lines, family, &labels, value);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_named_by_the_conventions() {
        for family in &FAMILIES {
            assert!(family.name.starts_with("mtasts_"));
            assert_eq!(
                family.kind == "counter",
                family.name.ends_with("_total"),
                "{}",
                family.name
            );
        }
        let mut names: Vec<_> = FAMILIES.iter().map(|f| f.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), F::COUNT);
    }

    /// A domain whose 40 MX hosts and 40 unused patterns get new names on
    /// every probe: the series stay capped at `max_mx_hosts` per family, and
    /// the series of names no longer reported are gone.
    #[test]
    fn mx_churn_cannot_grow_the_series_count() {
        use crate::report::MxHostReport;
        let metrics = Metrics::new(5, false, RegistryKind::Exporter).unwrap();
        let report = |round: usize| ProbeReport {
            domain: "churn.example".into(),
            success: false,
            timestamp: round as f64,
            duration_seconds: 0.1,
            record: None,
            policy: None,
            policy_cert: None,
            mx_source: None,
            mx_hosts: Some(
                (0..40)
                    .map(|i| MxHostReport {
                        host: format!("mx{i}-r{round}.churn.example"),
                        preference: i,
                        matches_policy: Some(false),
                        starttls: Some(true),
                        tls_version: Some("TLSv1.3".into()),
                        cert: None,
                        result_type: None,
                        reason: None,
                    })
                    .collect(),
            ),
            unused_patterns: (0..40).map(|i| format!("p{i}-r{round}.example")).collect(),
            tlsrpt: None,
            warnings: Vec::new(),
            failures: Vec::new(),
            phases: Vec::new(),
        };
        let render = || String::from_utf8(metrics.render()).unwrap();
        let series = |text: &str, family: &str| {
            text.lines()
                .filter(|line| line.starts_with(&format!("{family}{{")))
                .filter(|line| line.contains("churn.example"))
                .count()
        };
        metrics.observe(&report(0));
        let first = render();
        for family in [
            "mtasts_mx_policy_match",
            "mtasts_mx_starttls",
            "mtasts_mx_tls_version_info",
            "mtasts_policy_pattern_unused",
        ] {
            assert_eq!(series(&first, family), 5, "{family}\n{first}");
        }
        let first_total = first
            .lines()
            .filter(|l| l.contains("churn.example"))
            .count();
        for round in 1..200 {
            metrics.observe(&report(round));
        }
        let last = render();
        let last_total = last.lines().filter(|l| l.contains("churn.example")).count();
        assert_eq!(last_total, first_total, "{last}");
        assert!(!last.contains("-r0."), "{last}");
        assert!(last.contains("mx0-r199.churn.example"), "{last}");
        // By preference: the first five hosts are the ones exported.
        assert!(!last.contains("mx5-r199"), "{last}");
    }

    #[test]
    fn samples_are_escaped() {
        let mut lines: [String; F::COUNT] = Default::default();
        sample(&mut lines, F::RECORD_INFO, &[("domain", "a\"b\\c\nd")], 1.0);
        assert_eq!(
            lines[F::RECORD_INFO],
            "mtasts_record_info{domain=\"a\\\"b\\\\c\\nd\"} 1\n"
        );
        sample(
            &mut lines,
            F::PROBE_TIMESTAMP,
            &[("domain", "a")],
            1_795_899_555.25,
        );
        assert_eq!(
            lines[F::PROBE_TIMESTAMP],
            "mtasts_probe_timestamp_seconds{domain=\"a\"} 1795899555.25\n"
        );
    }
}
