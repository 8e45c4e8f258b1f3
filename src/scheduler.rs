//! Runs each configured domain's probe on its interval: first round at boot,
//! later rounds spread by jitter, bounded concurrency, never two probes of
//! one domain at once, and a hung or panicking probe holds up no other.

use crate::config::DomainConfig;
use crate::metrics::Metrics;
use crate::probe::Prober;
use crate::report::ProbeReport;
use rand::Rng;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Extra time a probe task gets past its own timeout before the scheduler
/// gives up on it (the probe bounds itself; this is the safety net).
const HARD_LIMIT_GRACE: Duration = Duration::from_secs(5);

/// Readiness: the exporter is ready once every domain has been probed once.
#[derive(Debug, Default)]
pub struct Readiness {
    pending: AtomicUsize,
    total: AtomicUsize,
}

impl Readiness {
    /// Whether every domain has finished its first probe.
    pub fn is_ready(&self) -> bool {
        self.pending.load(Ordering::Acquire) == 0
    }

    /// (domains still waiting for their first probe, domains in all).
    pub fn progress(&self) -> (usize, usize) {
        (
            self.pending.load(Ordering::Acquire),
            self.total.load(Ordering::Acquire),
        )
    }

    fn add(&self) {
        self.pending.fetch_add(1, Ordering::AcqRel);
        self.total.fetch_add(1, Ordering::AcqRel);
    }

    fn first_probe_done(&self) {
        self.pending.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The latest report of each domain, for the landing page.
pub type LatestReports = Mutex<HashMap<String, Arc<ProbeReport>>>;

/// What every domain task shares.
struct Shared {
    prober: Prober,
    metrics: Arc<Metrics>,
    permits: Arc<Semaphore>,
    readiness: Arc<Readiness>,
    latest: Arc<LatestReports>,
}

/// The running domain tasks.
pub struct Scheduler {
    shared: Arc<Shared>,
    tasks: HashMap<String, JoinHandle<()>>,
}

impl Scheduler {
    /// A scheduler with at most `concurrency` probes in flight.
    pub fn new(
        prober: Prober,
        metrics: Arc<Metrics>,
        concurrency: usize,
        readiness: Arc<Readiness>,
        latest: Arc<LatestReports>,
    ) -> Scheduler {
        Scheduler {
            shared: Arc::new(Shared {
                prober,
                metrics,
                permits: Arc::new(Semaphore::new(concurrency.max(1))),
                readiness,
                latest,
            }),
            tasks: HashMap::new(),
        }
    }

    /// Starts probing `domain` now, then every interval.
    pub fn start(&mut self, domain: DomainConfig) {
        self.shared.readiness.add();
        self.shared.metrics.domains_configured.inc();
        self.shared
            .metrics
            .set_interval(&domain.name, domain.settings.interval);
        let shared = self.shared.clone();
        let name = domain.name.clone();
        let task = tokio::spawn(domain_loop(domain, shared));
        if let Some(old) = self.tasks.insert(name, task) {
            old.abort();
        }
    }

    /// Stops probing `domain` and drops its series.
    pub fn stop(&mut self, domain: &str) {
        if let Some(task) = self.tasks.remove(domain) {
            task.abort();
            self.shared.metrics.domains_configured.dec();
        }
        self.shared.metrics.remove_domain(domain);
        self.shared
            .latest
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(domain);
    }

    /// The domains being probed.
    pub fn domains(&self) -> impl Iterator<Item = &str> {
        self.tasks.keys().map(String::as_str)
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        for task in self.tasks.values() {
            task.abort();
        }
    }
}

async fn domain_loop(domain: DomainConfig, shared: Arc<Shared>) {
    let interval = domain.settings.interval;
    let first_start = Instant::now();
    probe_once(&domain, &shared).await;
    shared.readiness.first_probe_done();
    // The first round runs at boot for every domain (the semaphore paces
    // it); the second is spread over the second half of the interval so
    // later rounds do not arrive as one herd.
    let half = interval / 2;
    let jitter =
        Duration::from_millis(rand::rng().random_range(0..=half.as_millis().max(1) as u64));
    let mut next = first_start + half + jitter;
    loop {
        tokio::time::sleep_until(next).await;
        probe_once(&domain, &shared).await;
        next += interval;
        let now = Instant::now();
        if next < now {
            // The probe overran its interval: start the next one now rather
            // than bursting to catch up.
            next = now;
        }
    }
}

/// Runs one probe in its own task (so a panic is contained), within a hard
/// time limit, and records the result.
async fn probe_once(domain: &DomainConfig, shared: &Shared) {
    let Ok(_permit) = shared.permits.acquire().await else {
        return;
    };
    shared.metrics.probes_in_flight.inc();
    let prober = shared.prober.clone();
    let task_domain = domain.clone();
    let mut task = tokio::spawn(async move { prober.probe(&task_domain).await });
    let limit = domain.settings.timeout + HARD_LIMIT_GRACE;
    match tokio::time::timeout(limit, &mut task).await {
        Ok(Ok(report)) => {
            log_report(&report);
            shared.metrics.observe(&report);
            shared
                .latest
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(domain.name.clone(), Arc::new(report));
        }
        Ok(Err(error)) => {
            shared.metrics.probe_panics.inc();
            tracing::error!(domain = %domain.name, %error, "probe task failed");
        }
        Err(_) => {
            task.abort();
            tracing::error!(domain = %domain.name, limit_seconds = limit.as_secs(), "probe exceeded its hard time limit");
        }
    }
    shared.metrics.probes_in_flight.dec();
}

fn log_report(report: &ProbeReport) {
    if report.failures.is_empty() {
        tracing::debug!(domain = %report.domain, success = report.success, duration_seconds = report.duration_seconds, "probe done");
    } else {
        let reasons: Vec<_> = report.failures.iter().map(|f| f.reason.as_str()).collect();
        tracing::info!(domain = %report.domain, success = report.success, reasons = ?reasons, duration_seconds = report.duration_seconds, "probe found failures");
    }
}
