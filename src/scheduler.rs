//! Runs each configured domain's probe on its interval: first round at boot,
//! later rounds spread by jitter, bounded concurrency, never two probes of
//! one domain at once, and a hung or panicking probe holds up no other.

use crate::config::DomainConfig;
use crate::history::PolicyHistories;
use crate::metrics::Metrics;
use crate::probe::Prober;
use crate::report::{CachedPolicy, ProbeReport};
use rand::Rng;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
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

/// The latest report of each domain, for the pages ([`crate::latest`]).
pub use crate::latest::LatestReports;

/// What the scheduler runs for a domain: [`Prober`] in the exporter; tests
/// substitute their own (a probe that panics, say) to exercise the
/// scheduler's containment.
pub trait RunProbe: Clone + Send + Sync + 'static {
    /// Probes one domain.
    fn run_probe(&self, domain: &DomainConfig) -> impl Future<Output = ProbeReport> + Send;

    /// Probes one domain whose last valid policy, from its history, is
    /// `cached` (RFC 8461 §5.1: senders apply it while no fresh policy is
    /// available). By default the cache is not used.
    fn run_probe_with_cache(
        &self,
        domain: &DomainConfig,
        cached: Option<CachedPolicy>,
    ) -> impl Future<Output = ProbeReport> + Send {
        let _ = cached;
        self.run_probe(domain)
    }
}

impl RunProbe for Prober {
    fn run_probe(&self, domain: &DomainConfig) -> impl Future<Output = ProbeReport> + Send {
        self.probe(domain)
    }

    fn run_probe_with_cache(
        &self,
        domain: &DomainConfig,
        cached: Option<CachedPolicy>,
    ) -> impl Future<Output = ProbeReport> + Send {
        self.probe_with_cache(domain, cached)
    }
}

/// What every domain task shares. The prober and the probe bound can be
/// replaced on reload; each probe takes the current ones.
struct Shared<P> {
    prober: RwLock<P>,
    metrics: Arc<Metrics>,
    permits: RwLock<Arc<Semaphore>>,
    readiness: Arc<Readiness>,
    latest: Arc<LatestReports>,
    histories: Arc<PolicyHistories>,
}

impl<P: RunProbe> Shared<P> {
    fn prober(&self) -> P {
        self.prober
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn permits(&self) -> Arc<Semaphore> {
        self.permits
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// One domain's task.
struct DomainTask {
    config: DomainConfig,
    handle: JoinHandle<()>,
    /// True until the domain's first probe has been recorded.
    first_pending: Arc<AtomicBool>,
}

/// The running domain tasks.
pub struct Scheduler<P: RunProbe = Prober> {
    shared: Arc<Shared<P>>,
    tasks: HashMap<String, DomainTask>,
}

/// What [`Scheduler::apply`] changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ApplySummary {
    /// Domains started.
    pub added: Vec<String>,
    /// Domains stopped (their series dropped).
    pub removed: Vec<String>,
    /// Domains whose settings changed (restarted, series kept).
    pub changed: Vec<String>,
}

impl ApplySummary {
    /// Adds what another component changed.
    pub fn merge(&mut self, other: ApplySummary) {
        self.added.extend(other.added);
        self.removed.extend(other.removed);
        self.changed.extend(other.changed);
    }
}

impl<P: RunProbe> Scheduler<P> {
    /// A scheduler with at most `concurrency` probes in flight.
    pub fn new(
        prober: P,
        metrics: Arc<Metrics>,
        concurrency: usize,
        readiness: Arc<Readiness>,
        latest: Arc<LatestReports>,
    ) -> Scheduler<P> {
        Scheduler {
            shared: Arc::new(Shared {
                prober: RwLock::new(prober),
                metrics,
                permits: RwLock::new(Arc::new(Semaphore::new(concurrency.max(1)))),
                readiness,
                latest,
                histories: Arc::default(),
            }),
            tasks: HashMap::new(),
        }
    }

    /// Starts probing `domain` now, then every interval.
    pub fn start(&mut self, domain: DomainConfig) {
        self.stop_task(&domain.name);
        self.shared.readiness.add();
        self.shared.metrics.domains_configured.inc();
        self.spawn(domain, Arc::new(AtomicBool::new(true)));
    }

    fn spawn(&mut self, domain: DomainConfig, first_pending: Arc<AtomicBool>) {
        self.shared
            .metrics
            .set_interval(&domain.name, domain.settings.interval);
        let handle = tokio::spawn(domain_loop(
            domain.clone(),
            self.shared.clone(),
            first_pending.clone(),
        ));
        self.tasks.insert(
            domain.name.clone(),
            DomainTask {
                config: domain,
                handle,
                first_pending,
            },
        );
    }

    /// Aborts a domain's task; returns whether one ran. A domain stopped
    /// before its first probe no longer holds readiness back.
    fn stop_task(&mut self, domain: &str) -> bool {
        match self.tasks.remove(domain) {
            Some(task) => {
                task.handle.abort();
                if task.first_pending.swap(false, Ordering::AcqRel) {
                    self.shared.readiness.first_probe_done();
                }
                self.shared.metrics.domains_configured.dec();
                true
            }
            None => false,
        }
    }

    /// Stops probing `domain` and drops its series.
    pub fn stop(&mut self, domain: &str) {
        self.stop_task(domain);
        self.shared.metrics.remove_domain(domain);
        self.shared.histories.remove(domain);
        self.shared
            .latest
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(domain);
    }

    /// Stops every domain's probing at once, keeping their series and
    /// history (at shutdown, where that state is still to be saved).
    pub fn halt(&mut self) {
        for (_, task) in self.tasks.drain() {
            task.handle.abort();
        }
    }

    /// The policy history of every scheduled domain.
    pub fn histories(&self) -> Arc<PolicyHistories> {
        self.shared.histories.clone()
    }

    /// Replaces the prober and the probe bound (after a reload); running
    /// probes finish with the old ones.
    pub fn set_prober(&self, prober: P, concurrency: usize) {
        *self
            .shared
            .prober
            .write()
            .unwrap_or_else(|p| p.into_inner()) = prober;
        *self
            .shared
            .permits
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Arc::new(Semaphore::new(concurrency.max(1)));
    }

    /// Makes the running set equal `domains`: new ones start, missing ones
    /// stop and lose their series, ones whose settings changed restart on
    /// the new settings and keep their series and state.
    pub fn apply(&mut self, domains: &[DomainConfig]) -> ApplySummary {
        let mut summary = ApplySummary::default();
        let wanted: HashMap<&str, &DomainConfig> =
            domains.iter().map(|d| (d.name.as_str(), d)).collect();
        let mut gone: Vec<String> = self
            .tasks
            .keys()
            .filter(|name| !wanted.contains_key(name.as_str()))
            .cloned()
            .collect();
        gone.sort();
        for name in gone {
            self.stop(&name);
            summary.removed.push(name);
        }
        for domain in domains {
            match self.tasks.get(&domain.name) {
                None => {
                    self.start(domain.clone());
                    summary.added.push(domain.name.clone());
                }
                Some(task) if task.config != *domain => {
                    let first_pending = task.first_pending.clone();
                    if let Some(old) = self.tasks.remove(&domain.name) {
                        old.handle.abort();
                    }
                    self.spawn(domain.clone(), first_pending);
                    summary.changed.push(domain.name.clone());
                }
                Some(_) => {}
            }
        }
        summary
    }
}

impl<P: RunProbe> Drop for Scheduler<P> {
    fn drop(&mut self) {
        for task in self.tasks.values() {
            task.handle.abort();
        }
    }
}

async fn domain_loop<P: RunProbe>(
    domain: DomainConfig,
    shared: Arc<Shared<P>>,
    first_pending: Arc<AtomicBool>,
) {
    let interval = domain.settings.interval;
    let first_start = Instant::now();
    // Boxed, here and below: the probe's state lives on the heap only while
    // it runs, so the task every domain keeps between probes holds no room
    // for it (issue 18: about half a kilobyte per domain).
    Box::pin(probe_once(&domain, &shared)).await;
    if first_pending.swap(false, Ordering::AcqRel) {
        shared.readiness.first_probe_done();
    }
    // The first round runs at boot for every domain (the semaphore paces
    // it); the second is spread over the second half of the interval so
    // later rounds do not arrive as one herd.
    let half = interval / 2;
    let jitter =
        Duration::from_millis(rand::rng().random_range(0..=half.as_millis().max(1) as u64));
    let mut next = first_start + half + jitter;
    loop {
        tokio::time::sleep_until(next).await;
        Box::pin(probe_once(&domain, &shared)).await;
        next += interval;
        let now = Instant::now();
        if next < now {
            // The probe overran its interval: start the next one now rather
            // than bursting to catch up.
            next = now;
        }
    }
}

/// Counts a probe in `mtasts_probes_in_flight` for as long as it lives,
/// however it ends: finished, timed out, or dropped when a reload stops or
/// restarts its domain.
struct InFlight<'a>(&'a prometheus::IntGauge);

impl<'a> InFlight<'a> {
    fn count(gauge: &'a prometheus::IntGauge) -> InFlight<'a> {
        gauge.inc();
        InFlight(gauge)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// A spawned task that is aborted when its handle is dropped: the probe of
/// a domain a reload stops or restarts must end with the domain's loop, not
/// run on beside the new one.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs one probe in its own task (so a panic is contained), within a hard
/// time limit, and records the result.
async fn probe_once<P: RunProbe>(domain: &DomainConfig, shared: &Shared<P>) {
    let permits = shared.permits();
    let Ok(_permit) = permits.acquire().await else {
        return;
    };
    let _in_flight = InFlight::count(&shared.metrics.probes_in_flight);
    let prober = shared.prober();
    let task_domain = domain.clone();
    let cached = shared
        .histories
        .get(&domain.name)
        .and_then(|h| h.cached_policy());
    let mut task = AbortOnDrop(tokio::spawn(async move {
        prober.run_probe_with_cache(&task_domain, cached).await
    }));
    let limit = domain.settings.timeout + HARD_LIMIT_GRACE;
    match tokio::time::timeout(limit, &mut task.0).await {
        Ok(Ok(report)) => {
            log_report(&report);
            let history = shared.histories.observe(&report);
            shared.metrics.observe(&report, &history);
            keep_latest(&shared.latest, &domain.name, report);
        }
        Ok(Err(error)) => {
            shared.metrics.probe_panics.inc();
            tracing::error!(domain = %domain.name, %error, "probe task failed");
        }
        Err(_) => {
            tracing::error!(domain = %domain.name, limit_seconds = limit.as_secs(), "probe exceeded its hard time limit");
        }
    }
}

/// Keeps `report` as the domain's latest for the pages, unless a local
/// error cut it short and the domain has a report already: such a probe
/// forms no verdict, so the metrics keep the previous one
/// ([`Metrics::observe`]) and the pages do too, and their counts agree. A
/// domain with no earlier report shows the cut-short one ("cut short").
/// ([`crate::latest::Latest::keep`]; the whole report only where the pages
/// need it.)
fn keep_latest(latest: &LatestReports, domain: &str, report: ProbeReport) {
    debug_assert_eq!(report.domain, domain);
    latest
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .keep(report);
}

fn log_report(report: &ProbeReport) {
    if report.failures.is_empty() {
        tracing::debug!(domain = %report.domain, success = report.success, duration_seconds = report.duration_seconds, "probe done");
    } else {
        // Plain comma-separated text, as log searches and people read it.
        let reasons: Vec<_> = report.failures.iter().map(|f| f.reason.as_str()).collect();
        let reasons = reasons.join(",");
        tracing::info!(domain = %report.domain, success = report.success, %reasons, duration_seconds = report.duration_seconds, "probe found failures");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ProbeSettings;
    use crate::metrics::RegistryKind;

    /// A probe that never ends by itself and counts how many of it run.
    #[derive(Clone, Default)]
    struct EndlessProbe {
        running: Arc<AtomicUsize>,
    }

    /// Decrements the count when the probe's future is dropped.
    struct Running(Arc<AtomicUsize>);

    impl Drop for Running {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::AcqRel);
        }
    }

    impl RunProbe for EndlessProbe {
        fn run_probe(&self, _: &DomainConfig) -> impl Future<Output = ProbeReport> + Send {
            let running = self.running.clone();
            async move {
                running.fetch_add(1, Ordering::AcqRel);
                let _running = Running(running);
                std::future::pending::<ProbeReport>().await
            }
        }
    }

    fn domain(name: &str, timeout_seconds: u64) -> DomainConfig {
        DomainConfig {
            name: name.into(),
            settings: ProbeSettings {
                interval: Duration::from_secs(600),
                timeout: Duration::from_secs(timeout_seconds),
                check_mx: false,
                check_starttls: false,
                dane: crate::config::DaneMode::Off,
            },
        }
    }

    fn scheduler(probe: EndlessProbe) -> (Scheduler<EndlessProbe>, Arc<Metrics>) {
        let metrics = Arc::new(Metrics::new(10, false, RegistryKind::Exporter).unwrap());
        let scheduler = Scheduler::new(probe, metrics.clone(), 8, Arc::default(), Arc::default());
        (scheduler, metrics)
    }

    /// Waits until `condition` holds (at most two seconds).
    async fn eventually(condition: impl Fn() -> bool) {
        for _ in 0..200 {
            if condition() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// A report a local error cut short, as a probe out of descriptors gives.
    fn cut_short(domain: &str, at: f64) -> ProbeReport {
        use crate::report::PhaseTiming;
        use crate::taxonomy::{LocalError, LocalErrorKind, Phase};
        let mut report = ProbeReport::blank(domain, at);
        report.phases.push(PhaseTiming {
            phase: Phase::PolicyFetch,
            duration_seconds: 0.0,
            ok: false,
            local_error: Some(LocalError::new(
                LocalErrorKind::DescriptorsExhausted,
                "Too many open files",
            )),
        });
        report
    }

    /// The pages keep the last verdict, as the metrics do, when a local
    /// error cuts a probe short; a domain with nothing earlier shows it.
    #[test]
    fn a_cut_short_probe_does_not_replace_the_latest_report() {
        let latest = LatestReports::default();
        keep_latest(&latest, "a.test", cut_short("a.test", 1.0));
        let shown = |latest: &LatestReports| latest.lock().unwrap()["a.test"].timestamp;
        assert_eq!(
            shown(&latest),
            1.0,
            "nothing earlier: the cut-short report is shown"
        );
        let mut complete = ProbeReport::blank("a.test", 2.0);
        complete.success = true;
        keep_latest(&latest, "a.test", complete);
        assert_eq!(shown(&latest), 2.0);
        keep_latest(&latest, "a.test", cut_short("a.test", 3.0));
        assert_eq!(shown(&latest), 2.0, "the complete report stays");
        assert!(latest.lock().unwrap()["a.test"].success);
        keep_latest(&latest, "a.test", ProbeReport::blank("a.test", 4.0));
        assert_eq!(shown(&latest), 4.0, "the next complete report replaces it");
    }

    /// Issue 17 point 2: removing a domain while its probe runs used to
    /// leave `mtasts_probes_in_flight` at 1 for ever, and the probe running.
    #[tokio::test]
    async fn removing_a_domain_ends_its_running_probe() {
        let probe = EndlessProbe::default();
        let (mut scheduler, metrics) = scheduler(probe.clone());
        scheduler.apply(&[domain("slow.test", 60)]);
        eventually(|| probe.running.load(Ordering::Acquire) == 1).await;
        assert_eq!(metrics.probes_in_flight.get(), 1);
        scheduler.apply(&[]);
        eventually(|| probe.running.load(Ordering::Acquire) == 0).await;
        assert_eq!(probe.running.load(Ordering::Acquire), 0);
        assert_eq!(metrics.probes_in_flight.get(), 0);
    }

    /// Issue 17 point 2: changing a domain's settings three times during one
    /// probe left the gauge at 4 and four probes running side by side.
    #[tokio::test]
    async fn changing_a_domain_replaces_its_running_probe() {
        let probe = EndlessProbe::default();
        let (mut scheduler, metrics) = scheduler(probe.clone());
        scheduler.apply(&[domain("slow.test", 60)]);
        eventually(|| probe.running.load(Ordering::Acquire) == 1).await;
        for timeout in [61, 62, 63] {
            scheduler.apply(&[domain("slow.test", timeout)]);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        eventually(|| metrics.probes_in_flight.get() == 1).await;
        assert_eq!(probe.running.load(Ordering::Acquire), 1);
        assert_eq!(metrics.probes_in_flight.get(), 1);
        drop(scheduler);
        eventually(|| probe.running.load(Ordering::Acquire) == 0).await;
        assert_eq!(metrics.probes_in_flight.get(), 0);
    }
}
