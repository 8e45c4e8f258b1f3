//! The exporter's metrics: a `prometheus` registry for the histogram, the
//! exporter's health and `process_*`, and per-source series rendered ahead
//! of the scrape ([`exposition`]); the probe is the first source
//! ([`probe`]), and a second one adds its own family enum beside it.
//!
//! Why rendered ahead: the per-domain series (two dozen per domain, a
//! million at 40,000 domains) are rendered to text once per probe, when the
//! domain's state changes, and a scrape concatenates them: the `prometheus`
//! crate's `gather` copies every label of every series on each scrape, which
//! cost 0.3 s at 10,000 domains and 6 s at 100,000 (README "Performance").

pub mod dane;
pub mod exposition;
pub mod openmetrics;
pub mod probe;
pub mod recent;
pub mod tlsrpt;

use crate::history::PolicyHistory;
use crate::report::{ProbeReport, StarttlsCheckSource};
use crate::taxonomy::{LocalErrorKind, Phase};
use exposition::{Exposition, Format};
use probe::DomainSeries;
use prometheus::{
    Encoder, Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    Opts, Registry, TextEncoder,
};
use recent::RecentLocalErrors;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// Buckets for phase durations: DNS answers in milliseconds, fetches in
/// seconds, timeouts at a minute.
const PHASE_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

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
    /// Probes a local error cut short, by [`LocalErrorKind`].
    local_errors: IntCounterVec,
    /// MX hosts' STARTTLS checks in probes, by [`StarttlsCheckSource`].
    starttls_host_checks: IntCounterVec,
    recent_local_errors: Mutex<RecentLocalErrors>,
    domains: Mutex<BTreeMap<String, DomainSeries>>,
    /// The received TLSRPT reports, when report ingestion runs.
    tlsrpt: std::sync::RwLock<Option<tlsrpt::TlsrptSource>>,
}

/// Why the registry could not be built (a bug: names are static).
#[derive(Debug, thiserror::Error)]
#[error("cannot register metrics: {0}")]
pub struct MetricsError(#[from] prometheus::Error);

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
        let local_errors = IntCounterVec::new(
            Opts::new(
                "mtasts_probe_local_errors_total",
                "Probes cut short by the exporter's own problem (out of file descriptors, memory, or support for an address family); their domains keep their previous results.",
            ),
            &["kind"],
        )?;
        for kind in LocalErrorKind::ALL {
            local_errors.with_label_values(&[kind.as_str()]);
        }
        // Also in a /probe answer: it says why the probe's series are missing.
        registry.register(Box::new(local_errors.clone()))?;
        let starttls_host_checks = IntCounterVec::new(
            Opts::new(
                "mtasts_starttls_host_checks_total",
                "MX hosts' STARTTLS checks in scheduled probes not cut short by a local error, by source: own (the probe checked the host) or shared (another probe's check of the host within smtp.share_checks_for, or a timeout waiting for it).",
            ),
            &["source"],
        )?;
        for source in StarttlsCheckSource::ALL {
            starttls_host_checks.with_label_values(&[source.as_str()]);
        }
        if kind == RegistryKind::Exporter {
            registry.register(Box::new(starttls_host_checks.clone()))?;
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
            local_errors,
            starttls_host_checks,
            recent_local_errors: Mutex::new(RecentLocalErrors::new(Instant::now())),
            domains: Mutex::new(BTreeMap::new()),
            tlsrpt: std::sync::RwLock::new(None),
        })
    }

    /// What a scrape answers: the registry rendered in the text format,
    /// then every per-domain family with its domains' lines, domains in
    /// name order. The domains' lines are shared, not copied: the series
    /// lock is held only to take a reference to each.
    pub fn exposition(&self) -> Exposition {
        let mut head = Vec::with_capacity(64 * 1024);
        // Encoding into a Vec cannot fail for I/O; a malformed family would
        // be a bug, and an answer without it is better than a crash.
        if let Err(error) = TextEncoder::new().encode(&self.registry.gather(), &mut head) {
            tracing::error!(%error, "cannot encode metrics");
        }
        let tlsrpt = self
            .tlsrpt
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(source) = &tlsrpt {
            tlsrpt::render_head(source, &mut head);
        }
        let domains = self.domains.lock().unwrap_or_else(|p| p.into_inner());
        let subjects: Vec<_> = domains
            .values()
            .map(|series| series.lines.clone())
            .collect();
        drop(domains);
        let exposition = Exposition::new(head).with_section(subjects);
        match &tlsrpt {
            Some(source) => exposition.with_section(tlsrpt::domain_lines(source)),
            None => exposition,
        }
    }

    /// The whole [`exposition`](Self::exposition) in the text format, as
    /// one buffer.
    pub fn render(&self) -> Vec<u8> {
        self.exposition().into_bytes(Format::Text)
    }

    /// Exports the `mtasts_tlsrpt_*` families of `source` from now on
    /// (report ingestion started), or no longer (`None`).
    pub fn set_tlsrpt(&self, source: Option<tlsrpt::TlsrptSource>) {
        *self.tlsrpt.write().unwrap_or_else(|p| p.into_inner()) = source;
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
        let series = domains.entry(domain.to_string()).or_default();
        series.set_interval(domain, interval);
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

    /// Records one probe's report and the domain's policy history after it.
    /// A probe a local error cut short ([`ProbeReport::is_complete`]) is only
    /// counted in `mtasts_probe_local_errors_total` (once per kind): it says
    /// nothing about the domain, whose series keep their previous values.
    pub fn observe(&self, report: &ProbeReport, history: &PolicyHistory) {
        if !report.is_complete() {
            self.observe_local_errors(report);
            return;
        }
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
        for host in report.mx_hosts.iter().flatten() {
            if let Some(source) = host.starttls_check {
                self.starttls_host_checks
                    .with_label_values(&[source.as_str()])
                    .inc();
            }
        }
        let max_mx_hosts = self.max_mx_hosts();
        let mut domains = self.domains.lock().unwrap_or_else(|p| p.into_inner());
        let series = domains.entry(domain.to_string()).or_default();
        series.observe(report, history, max_mx_hosts);
    }
}

impl Metrics {
    fn observe_local_errors(&self, report: &ProbeReport) {
        let kinds: BTreeSet<LocalErrorKind> = report.local_errors().map(|l| l.kind).collect();
        let now = Instant::now();
        let mut recent = self
            .recent_local_errors
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for kind in kinds {
            self.local_errors.with_label_values(&[kind.as_str()]).inc();
            recent.note(kind, now);
        }
    }

    /// The kinds of local error that cut probes short in the last
    /// [`recent::WINDOW_MINUTES`] minutes, and how many probes each.
    pub fn recent_local_errors(&self) -> Vec<(LocalErrorKind, u64)> {
        self.recent_local_errors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .counts(Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A probe cut short by a local error leaves the domain's series as
    /// they were and is counted once per kind for the exporter.
    #[test]
    fn an_incomplete_probe_keeps_the_domain_series_and_counts_the_local_error() {
        use crate::report::PhaseTiming;
        use crate::taxonomy::{Failure, LocalError, Reason, ResultType};
        let metrics = Metrics::new(5, false, RegistryKind::Exporter).unwrap();
        let render = || String::from_utf8(metrics.render()).unwrap();
        let zero = render();
        for kind in LocalErrorKind::ALL {
            let line = format!(
                "mtasts_probe_local_errors_total{{kind=\"{}\"}} 0",
                kind.as_str()
            );
            assert!(zero.lines().any(|l| l == line), "{line}\n{zero}");
        }
        let timing = |phase, local: Option<LocalError>| PhaseTiming {
            phase,
            duration_seconds: 0.001,
            ok: local.is_none(),
            local_error: local,
        };
        let mut report = ProbeReport {
            success: true,
            phases: vec![timing(Phase::RecordLookup, None)],
            ..ProbeReport::blank("example.com", 1.0)
        };
        metrics.observe(&report, &PolicyHistory::of_one(&report));
        let before = render();
        let fd = || {
            Some(LocalError::new(
                LocalErrorKind::DescriptorsExhausted,
                "EMFILE",
            ))
        };
        report.success = false;
        report.timestamp = 2.0;
        report.failures = vec![Failure::new(
            Phase::MxLookup,
            ResultType::ValidationFailure,
            Reason::DnsLookup,
            "seen beside the local error",
        )];
        report.phases = vec![
            timing(Phase::RecordLookup, fd()),
            timing(Phase::MxLookup, None),
            timing(Phase::Starttls, fd()),
        ];
        metrics.observe(&report, &PolicyHistory::of_one(&report));
        let after = render();
        let domain_lines = |text: &str| -> Vec<String> {
            text.lines()
                .filter(|l| l.contains("example.com"))
                .map(String::from)
                .collect()
        };
        assert_eq!(domain_lines(&after), domain_lines(&before));
        assert!(after.contains(r#"mtasts_probe_success{domain="example.com"} 1"#));
        assert!(!after.contains("mtasts_failures_total{"), "{after}");
        assert!(after
            .lines()
            .any(|l| l == r#"mtasts_probe_local_errors_total{kind="descriptors-exhausted"} 1"#));
        // Not observed in the phase histogram either.
        assert!(!after.contains(r#"phase="starttls""#), "{after}");
        assert_eq!(
            metrics.recent_local_errors(),
            [(LocalErrorKind::DescriptorsExhausted, 1)]
        );
    }

    /// A domain whose 40 MX hosts and 40 unused patterns get new names on
    /// every probe: the series stay capped at `max_mx_hosts` per family, and
    /// the series of names no longer reported are gone.
    #[test]
    fn mx_churn_cannot_grow_the_series_count() {
        use crate::report::MxHostReport;
        let metrics = Metrics::new(5, false, RegistryKind::Exporter).unwrap();
        let report = |round: usize| ProbeReport {
            mx_hosts: Some(
                (0..40)
                    .map(|i| MxHostReport {
                        host: format!("mx{i}-r{round}.churn.example"),
                        preference: i,
                        matches_policy: Some(false),
                        starttls_offered: Some(true),
                        tls_version: Some("TLSv1.3".into()),
                        cert: None,
                        result_type: None,
                        reason: None,
                        addresses: Vec::new(),
                        dane: None,
                        starttls_check: None,
                    })
                    .collect(),
            ),
            unused_patterns: (0..40).map(|i| format!("p{i}-r{round}.example")).collect(),
            ..ProbeReport::blank("churn.example", round as f64)
        };
        let render = || String::from_utf8(metrics.render()).unwrap();
        let observe = |report: &ProbeReport| {
            metrics.observe(report, &PolicyHistory::of_one(report));
        };
        let series = |text: &str, family: &str| {
            text.lines()
                .filter(|line| line.starts_with(&format!("{family}{{")))
                .filter(|line| line.contains("churn.example"))
                .count()
        };
        observe(&report(0));
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
            observe(&report(round));
        }
        let last = render();
        let last_total = last.lines().filter(|l| l.contains("churn.example")).count();
        assert_eq!(last_total, first_total, "{last}");
        assert!(!last.contains("-r0."), "{last}");
        assert!(last.contains("mx0-r199.churn.example"), "{last}");
        // By preference: the first five hosts are the ones exported.
        assert!(!last.contains("mx5-r199"), "{last}");
    }
}
