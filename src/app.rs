//! The running exporter: the configuration in force ([`Loaded`]), the
//! long-running [`Component`]s that work from it (the probe scheduler, and
//! keeping its policy history across restarts; report ingestion next), and
//! reloading them all (SIGHUP, `POST /-/reload`).

use crate::config::{Config, ConfigError};
use crate::history::PolicyHistories;
use crate::metrics::{Metrics, RegistryKind};
use crate::probe::Prober;
use crate::scheduler::{ApplySummary, LatestReports, Readiness, Scheduler};
use crate::state::StateKeeping;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use tokio::sync::Semaphore;

/// How long a reload waits for the configuration file to be read and
/// checked. A file on a hung network file system would otherwise hold the
/// reload (and so every later one) for ever; the read itself cannot be
/// cancelled and ends, or not, on its own thread.
pub const CONFIG_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// One loaded configuration and what is built from it.
pub struct Loaded {
    /// The configuration.
    pub config: Arc<Config>,
    /// The prober built from it.
    pub prober: Prober,
    /// Bounds concurrent `/probe` requests.
    pub probe_permits: Arc<Semaphore>,
}

impl Loaded {
    fn new(config: Config) -> Result<Loaded, ReloadError> {
        let prober = Prober::new(&config).map_err(|e| ReloadError::Setup(e.to_string()))?;
        Ok(Loaded {
            probe_permits: Arc::new(Semaphore::new(config.probe_endpoint.max_concurrent)),
            config: Arc::new(config),
            prober,
        })
    }
}

/// A long-running part of the exporter. It starts when it is built, takes
/// up each newly loaded configuration, and stops when the exporter does.
pub trait Component: Send {
    /// Its name, for logs.
    fn name(&self) -> &'static str;
    /// Takes up a newly loaded configuration; says what it started, stopped
    /// and restarted.
    fn reload(&mut self, loaded: &Loaded) -> ApplySummary;
    /// Stops its work.
    fn stop(&mut self);
}

/// The probe scheduler as a component: the scheduled domains of the
/// configuration, each probed on its interval.
pub struct ProbeScheduling {
    scheduler: Scheduler,
    metrics: Arc<Metrics>,
}

impl ProbeScheduling {
    /// A scheduler for `loaded` with no domain started yet (the saved
    /// policy history goes in first: see [`Self::start_domains`]).
    pub fn new(
        loaded: &Loaded,
        metrics: Arc<Metrics>,
        readiness: Arc<Readiness>,
        latest: Arc<LatestReports>,
    ) -> ProbeScheduling {
        let scheduler = Scheduler::new(
            loaded.prober.clone(),
            metrics.clone(),
            loaded.config.concurrency,
            readiness,
            latest,
        );
        ProbeScheduling { scheduler, metrics }
    }

    /// Starts probing the scheduled domains of `loaded`.
    pub fn start_domains(&mut self, loaded: &Loaded) {
        self.apply_domains(loaded);
    }

    /// The policy history the scheduler keeps of each domain.
    pub fn histories(&self) -> Arc<PolicyHistories> {
        self.scheduler.histories()
    }

    fn apply_domains(&mut self, loaded: &Loaded) -> ApplySummary {
        let domains: Vec<_> = loaded.config.scheduled_domains().cloned().collect();
        self.scheduler.apply(&domains)
    }
}

impl Component for ProbeScheduling {
    fn name(&self) -> &'static str {
        "probe scheduler"
    }

    fn reload(&mut self, loaded: &Loaded) -> ApplySummary {
        if loaded.config.phase_duration_by_domain != self.metrics.phase_by_domain() {
            tracing::warn!(
                "metrics.phase_duration_by_domain changes the histogram's labels: it takes effect at the next restart"
            );
        }
        self.scheduler
            .set_prober(loaded.prober.clone(), loaded.config.concurrency);
        self.metrics.set_max_mx_hosts(loaded.config.max_mx_hosts);
        self.apply_domains(loaded)
    }

    fn stop(&mut self) {
        self.scheduler.halt();
    }
}

/// Why a reload changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// Another reload is running: reloads run one at a time, so two
    /// concurrent ones cannot interleave nor pile up parses.
    #[error("a reload is already running; try again when it has finished")]
    Busy,
    /// The configuration file is refused (every problem, with its place).
    #[error("{0}")]
    Config(ConfigError),
    /// The configuration is valid but what it asks for cannot be built
    /// (a resolver, a trust store).
    #[error("{0}")]
    Setup(String),
    /// Reading the file did not finish in time, or its worker thread
    /// failed.
    #[error("the configuration reader failed: {0}")]
    Reader(String),
}

impl ReloadError {
    /// Whether trying again later may succeed without changing the file.
    pub fn is_busy(&self) -> bool {
        matches!(self, ReloadError::Busy)
    }
}

/// Loads configurations and applies them to every component. A rejected
/// configuration changes nothing but `mtasts_config_last_reload_successful`.
pub struct Reloader {
    path: PathBuf,
    current: RwLock<Arc<Loaded>>,
    components: tokio::sync::Mutex<Vec<Box<dyn Component>>>,
    metrics: Arc<Metrics>,
    last_failure: std::sync::Mutex<Option<ReloadFailure>>,
}

/// The last reload that changed nothing, while no reload has succeeded
/// since: what the status page shows next to
/// `mtasts_config_last_reload_successful` 0.
#[derive(Debug, Clone, PartialEq)]
pub struct ReloadFailure {
    /// When it was refused, Unix seconds.
    pub at: f64,
    /// Why, as `/-/reload` answered it (every problem of the file), capped
    /// at [`RELOAD_FAILURE_CHARS`] characters.
    pub message: String,
}

/// Characters of a refused reload's message kept for the status page.
pub const RELOAD_FAILURE_CHARS: usize = 4000;

/// The parts of the running exporter the HTTP side reads.
pub struct App {
    /// The exporter's registry.
    pub metrics: Arc<Metrics>,
    /// First-round progress.
    pub readiness: Arc<Readiness>,
    /// Latest report per domain.
    pub latest: Arc<LatestReports>,
    /// The policy history of each scheduled domain.
    pub histories: Arc<PolicyHistories>,
    /// The configuration in force, and reloading.
    pub reloader: Arc<Reloader>,
    /// Where the TLSRPT reports listener listens (`reports.listen_address`),
    /// when it does.
    pub reports_address: Option<std::net::SocketAddr>,
    /// The TLSRPT report ingestor, when a reports channel is enabled: the
    /// pages show what senders reported from it.
    pub reports: Option<Arc<crate::tlsrpt::ingest::Ingestor>>,
    /// Where reading the TLSRPT spool at start-up stands, when a reports
    /// channel is enabled: `/-/ready` waits for it.
    pub reports_reading: Option<Arc<crate::tlsrpt::component::SpoolReading>>,
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl App {
    /// Starts every component on `config` (loaded from `path`, which
    /// reloads re-read). Returns without waiting for the TLSRPT spool to
    /// be read ([`App::reports_reading`]). Must run inside a tokio runtime.
    pub fn start(path: &Path, config: Config) -> Result<App, String> {
        App::start_holding(path, config, None)
    }

    /// [`App::start`], the TLSRPT spool's reading held back by `hold` until
    /// it is released (tests look at the exporter meanwhile).
    pub fn start_holding(
        path: &Path,
        config: Config,
        hold: Option<crate::tlsrpt::component::RebuildHold>,
    ) -> Result<App, String> {
        let metrics = Arc::new(
            Metrics::new(
                config.max_mx_hosts,
                config.phase_duration_by_domain,
                RegistryKind::Exporter,
            )
            .map_err(|e| e.to_string())?,
        );
        let loaded = Loaded::new(config).map_err(|e| e.to_string())?;
        let readiness = Arc::new(Readiness::default());
        let latest: Arc<LatestReports> = Arc::default();
        let mut scheduling =
            ProbeScheduling::new(&loaded, metrics.clone(), readiness.clone(), latest.clone());
        let histories = scheduling.histories();
        let keeping = StateKeeping::start(&loaded, histories.clone());
        scheduling.start_domains(&loaded);
        // The mtasts_tlsrpt_* families are exported once the spool is read,
        // never with part of its counts (a counter jumping from part to
        // all of them would read as new failures).
        let source = (metrics.clone(), latest.clone());
        let on_read: crate::tlsrpt::component::OnRead = Box::new(move |ingestor| {
            let (metrics, latest) = source;
            metrics.set_tlsrpt(Some(crate::metrics::tlsrpt::TlsrptSource::new(
                ingestor, latest,
            )));
        });
        let ingestion =
            crate::tlsrpt::component::ReportIngestion::start_reading(&loaded, on_read, hold)
                .map_err(|e| e.to_string())?;
        let reports_address = ingestion.https_address();
        let reports = ingestion.ingestor();
        let reports_reading = ingestion.reading();
        metrics.config_reload_successful.set(1.0);
        metrics.config_reload_timestamp.set(unix_now());
        let components: Vec<Box<dyn Component>> =
            vec![Box::new(scheduling), Box::new(keeping), Box::new(ingestion)];
        Ok(App {
            reloader: Arc::new(Reloader {
                path: path.to_path_buf(),
                current: RwLock::new(Arc::new(loaded)),
                components: tokio::sync::Mutex::new(components),
                metrics: metrics.clone(),
                last_failure: std::sync::Mutex::new(None),
            }),
            metrics,
            readiness,
            latest,
            histories,
            reports_address,
            reports,
            reports_reading,
        })
    }
}

impl Reloader {
    /// The configuration and prober in force.
    pub fn current(&self) -> Arc<Loaded> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The last refused reload, unless one succeeded since.
    pub fn last_failure(&self) -> Option<ReloadFailure> {
        self.last_failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Re-reads the configuration file and applies it to every component:
    /// added domains start, removed ones stop and lose their series, changed
    /// ones restart keeping their series; unchanged ones are not touched. On
    /// error the running configuration stays and the error is returned (and
    /// logged). One reload runs at a time: another one meanwhile gets
    /// [`ReloadError::Busy`].
    pub async fn reload(&self) -> Result<ApplySummary, ReloadError> {
        let Ok(mut components) = self.components.try_lock() else {
            tracing::warn!("reload refused: another reload is running");
            return Err(ReloadError::Busy);
        };
        let result = self.load().await.map(|loaded| {
            let mut summary = ApplySummary::default();
            for component in components.iter_mut() {
                let changes = component.reload(&loaded);
                tracing::debug!(component = component.name(), ?changes, "component reloaded");
                summary.merge(changes);
            }
            *self.current.write().unwrap_or_else(|p| p.into_inner()) = loaded;
            summary
        });
        match &result {
            Ok(summary) => {
                self.metrics.config_reload_successful.set(1.0);
                self.metrics.config_reload_timestamp.set(unix_now());
                *self.last_failure.lock().unwrap_or_else(|p| p.into_inner()) = None;
                tracing::info!(
                    added = summary.added.len(),
                    removed = summary.removed.len(),
                    changed = summary.changed.len(),
                    "configuration reloaded"
                );
            }
            Err(error) => {
                self.metrics.config_reload_successful.set(0.0);
                *self.last_failure.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some(ReloadFailure {
                        at: unix_now(),
                        message: crate::echo::capped_at(&error.to_string(), RELOAD_FAILURE_CHARS)
                            .into_owned(),
                    });
                tracing::error!(%error, "configuration reload rejected; the running configuration stays");
            }
        }
        result
    }

    /// Reads and checks the file off the async workers (a large or hostile
    /// file must not hold up scrapes), then builds what it asks for.
    async fn load(&self) -> Result<Arc<Loaded>, ReloadError> {
        let path = self.path.clone();
        let read = tokio::task::spawn_blocking(move || Config::load(&path));
        let config = tokio::time::timeout(CONFIG_READ_TIMEOUT, read)
            .await
            .map_err(|_| {
                ReloadError::Reader(format!(
                    "{}: not read within {} s (a hung file system?); the running configuration stays",
                    self.path.display(),
                    CONFIG_READ_TIMEOUT.as_secs()
                ))
            })?
            .map_err(|e| ReloadError::Reader(e.to_string()))?
            .map_err(|error| {
                log_config_problems(&error);
                ReloadError::Config(error)
            })?;
        Ok(Arc::new(Loaded::new(config)?))
    }

    /// Stops every component (at shutdown).
    pub async fn stop(&self) {
        for component in self.components.lock().await.iter_mut() {
            component.stop();
            tracing::debug!(component = component.name(), "component stopped");
        }
    }
}

/// Logs each problem of a rejected configuration as a record of its own, with
/// the file, line, column and field as fields, so a log search finds them
/// one by one (the rejection record that follows carries them all as text).
fn log_config_problems(error: &ConfigError) {
    if let ConfigError::Invalid { path, issues } = error {
        for issue in issues {
            tracing::error!(
                file = %path.display(),
                line = issue.position.map(|p| p.line),
                column = issue.position.map(|p| p.column),
                field = %issue.field,
                problem = %issue.problem,
                "configuration problem"
            );
        }
    }
}
