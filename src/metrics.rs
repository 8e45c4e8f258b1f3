//! `ProbeReport` → Prometheus registry.
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

use crate::failure::{Phase, Reason, ResultType};
use crate::mtasts::policy::Mode;
use crate::report::{PolicyReport, ProbeReport, Warning};
use prometheus::{
    Encoder, Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    Opts, Registry, TextEncoder,
};
use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

/// Buckets for phase durations: DNS answers in milliseconds, fetches in
/// seconds, timeouts at a minute.
const PHASE_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// What the registry remembers per domain, to drop series that no longer
/// apply and to detect policy changes.
#[derive(Debug, Default)]
struct DomainState {
    record_id: Option<String>,
    /// MX hosts with per-host series, and the TLS version label of each.
    mx_series: Vec<(String, Option<String>)>,
    pattern_labels: BTreeSet<String>,
    warnings: BTreeSet<Warning>,
    failure_labels: BTreeSet<(Phase, ResultType, Reason)>,
    /// The failures of the last probe (series of `mtasts_probe_failed`).
    current_failures: BTreeSet<(Phase, ResultType, Reason)>,
    /// The record id and policy content of the last successful fetch.
    last_policy: Option<(String, PolicyContent)>,
    policy_stale: bool,
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
    max_mx_hosts: std::sync::atomic::AtomicUsize,
    phase_by_domain: bool,
    probe_success: GaugeVec,
    probe_duration: GaugeVec,
    probe_timestamp: GaugeVec,
    probes_total: IntCounterVec,
    phase_duration: HistogramVec,
    failures_total: IntCounterVec,
    probe_failed: GaugeVec,
    probe_interval: GaugeVec,
    record_info: GaugeVec,
    policy_mode: GaugeVec,
    policy_max_age: GaugeVec,
    policy_mx_patterns: GaugeVec,
    policy_fetch_success: GaugeVec,
    policy_expiry: GaugeVec,
    mx_policy_match: GaugeVec,
    mx_starttls: GaugeVec,
    mx_cert_valid: GaugeVec,
    mx_cert_expiry: GaugeVec,
    mx_tls_version: GaugeVec,
    policy_cert_valid: GaugeVec,
    policy_cert_expiry: GaugeVec,
    cert_earliest_expiry: GaugeVec,
    mx_hosts: GaugeVec,
    pattern_unused: GaugeVec,
    tlsrpt_present: GaugeVec,
    tlsrpt_valid: GaugeVec,
    warning: GaugeVec,
    policy_id_stale: GaugeVec,
    policy_changes: IntCounterVec,
    /// Domains configured.
    pub domains_configured: IntGauge,
    /// Probes running now.
    pub probes_in_flight: IntGauge,
    /// Probe tasks that panicked (a bug: the scheduler carries on).
    pub probe_panics: IntCounter,
    /// 1 when the last config (re)load succeeded.
    pub config_reload_successful: Gauge,
    /// When the config was last loaded successfully.
    pub config_reload_timestamp: Gauge,
    state: Mutex<HashMap<String, DomainState>>,
}

/// Why the registry could not be built (a bug: names are static).
#[derive(Debug, thiserror::Error)]
#[error("cannot register metrics: {0}")]
pub struct MetricsError(#[from] prometheus::Error);

fn gauge_vec(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> Result<GaugeVec, MetricsError> {
    let vec = GaugeVec::new(Opts::new(name, help), labels)?;
    registry.register(Box::new(vec.clone()))?;
    Ok(vec)
}

fn counter_vec(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> Result<IntCounterVec, MetricsError> {
    let vec = IntCounterVec::new(Opts::new(name, help), labels)?;
    registry.register(Box::new(vec.clone()))?;
    Ok(vec)
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
        let r = &registry;
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
                "Always 1; the exporter's version.",
            ),
            &["version"],
        )?;
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
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
            max_mx_hosts: std::sync::atomic::AtomicUsize::new(max_mx_hosts),
            phase_by_domain,
            probe_success: gauge_vec(r, "mtasts_probe_success", "1 when the last probe passed: record and policy valid and, in mode enforce or testing, every MX host covered.", &["domain"])?,
            probe_duration: gauge_vec(r, "mtasts_probe_duration_seconds", "Duration of the last probe.", &["domain"])?,
            probe_timestamp: gauge_vec(r, "mtasts_probe_timestamp_seconds", "When the last probe started.", &["domain"])?,
            probes_total: counter_vec(r, "mtasts_probes_total", "Probes run.", &["domain"])?,
            phase_duration,
            failures_total: counter_vec(
                r,
                "mtasts_failures_total",
                "Failures by phase, RFC 8460 result type and reason code.",
                &["domain", "phase", "result_type", "reason"],
            )?,
            record_info: gauge_vec(r, "mtasts_record_info", "Always 1; the id of the valid _mta-sts TXT record. Absent when there is none.", &["domain", "id"])?,
            policy_mode: gauge_vec(r, "mtasts_policy_mode", "1 for the mode of the current policy, 0 for the others. Absent when no valid policy was fetched.", &["domain", "mode"])?,
            policy_max_age: gauge_vec(r, "mtasts_policy_max_age_seconds", "max_age of the current policy.", &["domain"])?,
            policy_mx_patterns: gauge_vec(r, "mtasts_policy_mx_patterns", "Number of mx patterns in the current policy.", &["domain"])?,
            policy_fetch_success: gauge_vec(r, "mtasts_policy_fetch_success_timestamp_seconds", "When a valid policy was last fetched (kept across failures).", &["domain"])?,
            policy_expiry: gauge_vec(r, "mtasts_policy_expiry_timestamp_seconds", "Last good fetch plus max_age: when senders' cached copies lapse (kept across failures).", &["domain"])?,
            probe_failed: gauge_vec(r, "mtasts_probe_failed", "1 for each failure of the last probe, by phase, RFC 8460 result type and reason code (absent when it did not occur).", &["domain", "phase", "result_type", "reason"])?,
            probe_interval: gauge_vec(r, "mtasts_probe_interval_seconds", "The configured time between two probes of the domain.", &["domain"])?,
            mx_starttls: gauge_vec(r, "mtasts_mx_starttls", "1 when the MX host offers STARTTLS in its EHLO reply, 0 when not. Absent when not checked or the exchange did not get that far.", &["domain", "mx"])?,
            mx_cert_valid: gauge_vec(r, "mtasts_mx_cert_valid", "1 when the MX host's certificate is trusted, matches its name and is within its validity. Absent when no certificate was seen.", &["domain", "mx"])?,
            mx_cert_expiry: gauge_vec(r, "mtasts_mx_cert_expiry_timestamp_seconds", "notAfter of the MX host's certificate.", &["domain", "mx"])?,
            mx_tls_version: gauge_vec(r, "mtasts_mx_tls_version_info", "1; the TLS version negotiated with the MX host (TLSv1.2, TLSv1.3).", &["domain", "mx", "version"])?,
            policy_cert_valid: gauge_vec(r, "mtasts_policy_cert_valid", "1 when the policy host's certificate is valid for mta-sts.<domain>. Absent when no certificate was seen.", &["domain"])?,
            policy_cert_expiry: gauge_vec(r, "mtasts_policy_cert_expiry_timestamp_seconds", "notAfter of the policy host's certificate.", &["domain"])?,
            cert_earliest_expiry: gauge_vec(r, "mtasts_cert_earliest_expiry_timestamp_seconds", "Earliest notAfter over the policy host's and the MX hosts' certificates.", &["domain"])?,
            mx_policy_match: gauge_vec(r, "mtasts_mx_policy_match", "1 when a policy mx pattern covers the MX host, 0 when not. Absent when there is no policy or no MX answer.", &["domain", "mx"])?,
            mx_hosts: gauge_vec(r, "mtasts_mx_hosts", "MX hosts of the domain (implicit MX counts as one, null MX as zero).", &["domain"])?,
            pattern_unused: gauge_vec(r, "mtasts_policy_pattern_unused", "1 for each policy mx pattern no MX host uses.", &["domain", "pattern"])?,
            tlsrpt_present: gauge_vec(r, "mtasts_tlsrpt_record_present", "1 when a v=TLSRPTv1 record exists at _smtp._tls. Absent when the lookup failed.", &["domain"])?,
            tlsrpt_valid: gauge_vec(r, "mtasts_tlsrpt_record_valid", "1 when exactly one TLSRPT record exists and it is valid.", &["domain"])?,
            warning: gauge_vec(r, "mtasts_policy_warning", "1 for each warning that applies now (absent when it does not).", &["domain", "warning"])?,
            policy_id_stale: gauge_vec(r, "mtasts_policy_id_stale", "1 when the policy changed but the record id did not: senders keep their cached copy (RFC 8461 §3.3).", &["domain"])?,
            policy_changes: counter_vec(r, "mtasts_policy_changes_total", "Changes of the policy content (mode, max_age, mx) seen between fetches.", &["domain"])?,
            domains_configured,
            probes_in_flight,
            probe_panics,
            config_reload_successful,
            config_reload_timestamp,
            registry,
            state: Mutex::new(HashMap::new()),
        })
    }

    /// The registry, for rendering.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Renders the text exposition format.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 * 1024);
        // Encoding into a Vec cannot fail for I/O; a malformed family would
        // be a bug, and an empty answer is better than a crash.
        if let Err(error) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(%error, "cannot encode metrics");
        }
        out
    }

    /// Records one probe's report.
    pub fn observe(&self, report: &ProbeReport) {
        let domain = report.domain.as_str();
        let mut states = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let state = states.entry(domain.to_string()).or_default();

        self.probe_success
            .with_label_values(&[domain])
            .set(if report.success { 1.0 } else { 0.0 });
        self.probe_duration
            .with_label_values(&[domain])
            .set(report.duration_seconds);
        self.probe_timestamp
            .with_label_values(&[domain])
            .set(report.timestamp);
        self.probes_total.with_label_values(&[domain]).inc();
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
        let mut current_failures = BTreeSet::new();
        for failure in &report.failures {
            let key = (failure.phase, failure.result_type, failure.reason);
            let labels = [domain, key.0.as_str(), key.1.as_str(), &key.2.as_str()];
            self.failures_total.with_label_values(&labels).inc();
            self.probe_failed.with_label_values(&labels).set(1.0);
            state.failure_labels.insert(key);
            current_failures.insert(key);
        }
        for gone in state.current_failures.difference(&current_failures) {
            let _ = self.probe_failed.remove_label_values(&[
                domain,
                gone.0.as_str(),
                gone.1.as_str(),
                &gone.2.as_str(),
            ]);
        }
        state.current_failures = current_failures;

        // Record.
        let new_id = report.record.as_ref().map(|r| r.id.clone());
        if state.record_id != new_id {
            if let Some(old) = &state.record_id {
                let _ = self.record_info.remove_label_values(&[domain, old]);
            }
        }
        if let Some(id) = &new_id {
            self.record_info.with_label_values(&[domain, id]).set(1.0);
        }
        state.record_id = new_id;

        // Policy.
        match &report.policy {
            Some(policy) => {
                for mode in Mode::ALL {
                    self.policy_mode
                        .with_label_values(&[domain, mode.as_str()])
                        .set(if mode == policy.mode { 1.0 } else { 0.0 });
                }
                self.policy_max_age
                    .with_label_values(&[domain])
                    .set(policy.max_age as f64);
                self.policy_mx_patterns
                    .with_label_values(&[domain])
                    .set(policy.mx.len() as f64);
                self.policy_fetch_success
                    .with_label_values(&[domain])
                    .set(report.timestamp);
                self.policy_expiry
                    .with_label_values(&[domain])
                    .set(report.timestamp + policy.max_age as f64);
                let id = report
                    .record
                    .as_ref()
                    .map(|r| r.id.clone())
                    .unwrap_or_default();
                let content = PolicyContent::of(policy);
                if let Some((last_id, last_content)) = &state.last_policy {
                    if *last_content != content {
                        self.policy_changes.with_label_values(&[domain]).inc();
                        state.policy_stale = *last_id == id;
                    } else if *last_id != id {
                        state.policy_stale = false;
                    }
                } else {
                    self.policy_changes.with_label_values(&[domain]).inc_by(0);
                }
                self.policy_id_stale
                    .with_label_values(&[domain])
                    .set(if state.policy_stale { 1.0 } else { 0.0 });
                state.last_policy = Some((id, content));
            }
            None => {
                for mode in Mode::ALL {
                    let _ = self
                        .policy_mode
                        .remove_label_values(&[domain, mode.as_str()]);
                }
                let _ = self.policy_max_age.remove_label_values(&[domain]);
                let _ = self.policy_mx_patterns.remove_label_values(&[domain]);
            }
        }

        // Certificates.
        let set_or_remove = |vec: &GaugeVec, value: Option<f64>| match value {
            Some(value) => vec.with_label_values(&[domain]).set(value),
            None => {
                let _ = vec.remove_label_values(&[domain]);
            }
        };
        set_or_remove(
            &self.policy_cert_valid,
            report
                .policy_cert
                .as_ref()
                .map(|c| if c.valid { 1.0 } else { 0.0 }),
        );
        set_or_remove(
            &self.policy_cert_expiry,
            report.policy_cert.as_ref().map(|c| c.not_after as f64),
        );
        set_or_remove(
            &self.cert_earliest_expiry,
            report.earliest_cert_expiry().map(|t| t as f64),
        );

        // MX hosts (capped): drop last probe's per-host series, set this
        // probe's (a handful per domain, so rebuilding is cheap and no
        // churned host can leave a series behind).
        self.remove_mx_series(domain, &state.mx_series);
        let mut mx_series = Vec::new();
        if let Some(hosts) = &report.mx_hosts {
            self.mx_hosts
                .with_label_values(&[domain])
                .set(hosts.len() as f64);
            for host in hosts.iter().take(self.max_mx_hosts()) {
                let labels = [domain, host.host.as_str()];
                if let Some(matches) = host.matches_policy {
                    self.mx_policy_match
                        .with_label_values(&labels)
                        .set(if matches { 1.0 } else { 0.0 });
                }
                if let Some(offered) = host.starttls {
                    self.mx_starttls.with_label_values(&labels).set(if offered {
                        1.0
                    } else {
                        0.0
                    });
                }
                if let Some(cert) = &host.cert {
                    self.mx_cert_valid
                        .with_label_values(&labels)
                        .set(if cert.valid { 1.0 } else { 0.0 });
                    self.mx_cert_expiry
                        .with_label_values(&labels)
                        .set(cert.not_after as f64);
                }
                if let Some(version) = &host.tls_version {
                    self.mx_tls_version
                        .with_label_values(&[domain, host.host.as_str(), version.as_str()])
                        .set(1.0);
                }
                mx_series.push((host.host.clone(), host.tls_version.clone()));
            }
        } else {
            let _ = self.mx_hosts.remove_label_values(&[domain]);
        }
        state.mx_series = mx_series;
        let pattern_labels: BTreeSet<String> = report
            .unused_patterns
            .iter()
            .take(self.max_mx_hosts())
            .cloned()
            .collect();
        for pattern in &pattern_labels {
            self.pattern_unused
                .with_label_values(&[domain, pattern])
                .set(1.0);
        }
        for stale in state.pattern_labels.difference(&pattern_labels) {
            let _ = self.pattern_unused.remove_label_values(&[domain, stale]);
        }
        state.pattern_labels = pattern_labels;

        // TLSRPT.
        match &report.tlsrpt {
            Some(status) => {
                self.tlsrpt_present
                    .with_label_values(&[domain])
                    .set(if status.present { 1.0 } else { 0.0 });
                self.tlsrpt_valid
                    .with_label_values(&[domain])
                    .set(if status.valid { 1.0 } else { 0.0 });
            }
            None => {
                let _ = self.tlsrpt_present.remove_label_values(&[domain]);
                let _ = self.tlsrpt_valid.remove_label_values(&[domain]);
            }
        }

        // Warnings.
        let warnings: BTreeSet<Warning> = report.warnings.iter().copied().collect();
        for warning in &warnings {
            self.warning
                .with_label_values(&[domain, warning.as_str()])
                .set(1.0);
        }
        for stale in state.warnings.difference(&warnings) {
            let _ = self.warning.remove_label_values(&[domain, stale.as_str()]);
        }
        state.warnings = warnings;
    }

    fn remove_mx_series(&self, domain: &str, series: &[(String, Option<String>)]) {
        for (host, version) in series {
            let labels = [domain, host.as_str()];
            for vec in [
                &self.mx_policy_match,
                &self.mx_starttls,
                &self.mx_cert_valid,
                &self.mx_cert_expiry,
            ] {
                let _ = vec.remove_label_values(&labels);
            }
            if let Some(version) = version {
                let _ = self.mx_tls_version.remove_label_values(&[
                    domain,
                    host.as_str(),
                    version.as_str(),
                ]);
            }
        }
    }

    fn max_mx_hosts(&self) -> usize {
        self.max_mx_hosts.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Changes the per-domain cap on MX series (after a reload).
    pub fn set_max_mx_hosts(&self, max: usize) {
        self.max_mx_hosts
            .store(max, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether `mtasts_phase_duration_seconds` has a `domain` label (fixed
    /// for the life of the registry).
    pub fn phase_by_domain(&self) -> bool {
        self.phase_by_domain
    }

    /// Records the configured interval of a domain (for "no probe in N
    /// intervals" alerts).
    pub fn set_interval(&self, domain: &str, interval: std::time::Duration) {
        self.probe_interval
            .with_label_values(&[domain])
            .set(interval.as_secs_f64());
    }

    /// Drops every series of a domain no longer configured.
    pub fn remove_domain(&self, domain: &str) {
        let mut states = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let Some(state) = states.remove(domain) else {
            return;
        };
        for vec in [
            &self.probe_success,
            &self.probe_duration,
            &self.probe_timestamp,
            &self.policy_max_age,
            &self.policy_mx_patterns,
            &self.policy_fetch_success,
            &self.policy_expiry,
            &self.mx_hosts,
            &self.tlsrpt_present,
            &self.tlsrpt_valid,
            &self.policy_id_stale,
            &self.policy_cert_valid,
            &self.policy_cert_expiry,
            &self.cert_earliest_expiry,
        ] {
            let _ = vec.remove_label_values(&[domain]);
        }
        for vec in [&self.probes_total, &self.policy_changes] {
            let _ = vec.remove_label_values(&[domain]);
        }
        if let Some(id) = &state.record_id {
            let _ = self.record_info.remove_label_values(&[domain, id]);
        }
        for mode in Mode::ALL {
            let _ = self
                .policy_mode
                .remove_label_values(&[domain, mode.as_str()]);
        }
        self.remove_mx_series(domain, &state.mx_series);
        for pattern in &state.pattern_labels {
            let _ = self.pattern_unused.remove_label_values(&[domain, pattern]);
        }
        for warning in &state.warnings {
            let _ = self
                .warning
                .remove_label_values(&[domain, warning.as_str()]);
        }
        for (phase, result_type, reason) in &state.failure_labels {
            let labels = [
                domain,
                phase.as_str(),
                result_type.as_str(),
                &reason.as_str(),
            ];
            let _ = self.failures_total.remove_label_values(&labels);
            let _ = self.probe_failed.remove_label_values(&labels);
        }
        let _ = self.probe_interval.remove_label_values(&[domain]);
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
}
