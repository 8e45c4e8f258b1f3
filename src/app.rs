//! The running exporter: the loaded configuration, the prober, the
//! scheduler, and reloading all three (SIGHUP, `POST /-/reload`).

use crate::config::{Config, ConfigError};
use crate::metrics::{Metrics, RegistryKind};
use crate::probe::Prober;
use crate::scheduler::{ApplySummary, LatestReports, Readiness, Scheduler};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use tokio::sync::Semaphore;

/// What one loaded configuration runs with.
pub struct Runtime {
    /// The configuration.
    pub config: Arc<Config>,
    /// The prober built from it.
    pub prober: Prober,
    /// Bounds concurrent `/probe` requests.
    pub probe_permits: Arc<Semaphore>,
}

impl Runtime {
    fn new(config: Config) -> Result<Runtime, String> {
        let prober = Prober::new(&config).map_err(|e| e.to_string())?;
        Ok(Runtime {
            probe_permits: Arc::new(Semaphore::new(config.probe_endpoint.max_concurrent)),
            config: Arc::new(config),
            prober,
        })
    }
}

/// Loads configurations and applies them to the running exporter. A
/// rejected configuration changes nothing but
/// `mtasts_config_last_reload_successful`.
pub struct Reloader {
    path: PathBuf,
    current: RwLock<Arc<Runtime>>,
    scheduler: tokio::sync::Mutex<Scheduler>,
    metrics: Arc<Metrics>,
}

/// The parts of the running exporter the HTTP side reads.
pub struct App {
    /// The exporter's registry.
    pub metrics: Arc<Metrics>,
    /// First-round progress.
    pub readiness: Arc<Readiness>,
    /// Latest report per domain.
    pub latest: Arc<LatestReports>,
    /// The configuration in force, and reloading.
    pub reloader: Arc<Reloader>,
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl App {
    /// Starts probing `config` (loaded from `path`, which reloads re-read).
    /// Must run inside a tokio runtime.
    pub fn start(path: &Path, config: Config) -> Result<App, String> {
        let metrics = Arc::new(
            Metrics::new(
                config.max_mx_hosts,
                config.phase_duration_by_domain,
                RegistryKind::Exporter,
            )
            .map_err(|e| e.to_string())?,
        );
        let runtime = Runtime::new(config)?;
        let readiness = Arc::new(Readiness::default());
        let latest: Arc<LatestReports> = Arc::default();
        let mut scheduler = Scheduler::new(
            runtime.prober.clone(),
            metrics.clone(),
            runtime.config.concurrency,
            readiness.clone(),
            latest.clone(),
        );
        let domains: Vec<_> = runtime.config.scheduled_domains().cloned().collect();
        scheduler.apply(&domains);
        metrics.config_reload_successful.set(1.0);
        metrics.config_reload_timestamp.set(unix_now());
        Ok(App {
            reloader: Arc::new(Reloader {
                path: path.to_path_buf(),
                current: RwLock::new(Arc::new(runtime)),
                scheduler: tokio::sync::Mutex::new(scheduler),
                metrics: metrics.clone(),
            }),
            metrics,
            readiness,
            latest,
        })
    }
}

impl Reloader {
    /// The configuration and prober in force.
    pub fn current(&self) -> Arc<Runtime> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Re-reads the configuration file and applies it: added domains
    /// start, removed ones stop and lose their series, changed ones restart
    /// keeping their series; unchanged ones are not touched. On error the
    /// running configuration stays and the error is returned (and logged).
    pub async fn reload(&self) -> Result<ApplySummary, String> {
        let result = self.try_reload().await;
        match &result {
            Ok(summary) => {
                self.metrics.config_reload_successful.set(1.0);
                self.metrics.config_reload_timestamp.set(unix_now());
                tracing::info!(
                    added = summary.added.len(),
                    removed = summary.removed.len(),
                    changed = summary.changed.len(),
                    "configuration reloaded"
                );
            }
            Err(error) => {
                self.metrics.config_reload_successful.set(0.0);
                tracing::error!(%error, "configuration reload rejected; the running configuration stays");
            }
        }
        result
    }

    async fn try_reload(&self) -> Result<ApplySummary, String> {
        let config = Config::load(&self.path).map_err(|error| {
            log_config_problems(&error);
            error.to_string()
        })?;
        if config.phase_duration_by_domain != self.metrics.phase_by_domain() {
            tracing::warn!(
                "metrics.phase_duration_by_domain changes the histogram's labels: it takes effect at the next restart"
            );
        }
        let runtime = Arc::new(Runtime::new(config)?);
        let mut scheduler = self.scheduler.lock().await;
        scheduler.set_prober(runtime.prober.clone(), runtime.config.concurrency);
        self.metrics.set_max_mx_hosts(runtime.config.max_mx_hosts);
        let domains: Vec<_> = runtime.config.scheduled_domains().cloned().collect();
        let summary = scheduler.apply(&domains);
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = runtime;
        Ok(summary)
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
