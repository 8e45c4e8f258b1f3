//! Report ingestion as an app [`Component`]: at start-up the spool under
//! `storage.path` is opened, the HTTPS channel listens on
//! `reports.listen_address` and the counts are rebuilt from the spool
//! (RFC 8460 §5.6: each report once) on a blocking thread, so the exporter
//! serves meanwhile ([`SpoolReading`]: not ready until it is done); a
//! reload applies the new domain list (the counts rebuilt off the async
//! threads) and the listener's new bounds,
//! path and TLS files. A new listen address, storage path, decompressed
//! limit or retention takes effect at the next restart, as the log says.

use super::https::{self, HttpsChannel, HttpsSettings};
use super::ingest::{Ingestor, RebuildSummary};
use super::maildir::{self, DkimMode, MaildirReader, MaildirSettings};
use crate::app::{Component, Loaded};
use crate::config::{Config, ReportsConfig};
use crate::scheduler::ApplySummary;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// How often reports past the retention are removed (and the counts
/// rebuilt), besides at start-up and when the domain list changes.
pub const EXPIRY_INTERVAL: Duration = Duration::from_secs(24 * 60 * 60);

/// Why report ingestion could not start.
#[derive(Debug, thiserror::Error)]
pub enum ReportsStartError {
    /// The spool could not be opened (created, or a crash's temporary
    /// files removed); reading it comes after the start.
    #[error("reports: cannot open the spool under {path}: {source}")]
    Spool {
        /// `storage.path`.
        path: PathBuf,
        /// What failed.
        source: super::spool::SpoolError,
    },
    /// `reports.maildir` could not be set up.
    #[error("reports: cannot use the Maildir {path}: {source}")]
    Maildir {
        /// The Maildir.
        path: PathBuf,
        /// What failed.
        source: super::maildir::MaildirError,
    },
    /// `reports.listen_address` could not be bound.
    #[error("reports: cannot listen on {address}: {source}")]
    Listen {
        /// The address.
        address: String,
        /// What failed.
        source: std::io::Error,
    },
}

/// The Unix time now, in seconds.
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The domains reports are counted for: every configured domain (not
/// only this shard's: reports are sent to the `rua` address, not to the
/// replica that probes the domain).
fn domain_set(config: &Config) -> HashSet<String> {
    config.domains.iter().map(|d| d.name.clone()).collect()
}

/// Logs what a rebuild of the counts found and how long it took.
fn log_rebuild(summary: &RebuildSummary, took: Duration, what: &'static str) {
    tracing::info!(
        reports = summary.reports,
        not_included = summary.not_included,
        expired = summary.expired,
        unusable = summary.unusable,
        seconds = took.as_secs_f64(),
        "{what}"
    );
    for (path, problem) in &summary.unusable_named {
        tracing::warn!(file = %path.display(), %problem, "stored report not readable; kept, not counted");
    }
}

/// Report ingestion: the spool, its counts, and the channels feeding it.
pub struct ReportIngestion {
    /// The settings in force at start-up (what a restart would change).
    started: ReportsConfig,
    storage_path: Option<PathBuf>,
    ingestor: Option<Arc<Ingestor>>,
    https: Option<HttpsChannel>,
    maildir: Option<MaildirTask>,
    expiry: Option<JoinHandle<()>>,
    reading: Option<(Arc<SpoolReading>, JoinHandle<()>)>,
}

/// Where reading the spool at start-up stands.
#[derive(Debug, Clone, PartialEq)]
pub enum ReadingState {
    /// The stored reports are being read (or the read waits for a
    /// [`RebuildHold`]): the counts are not complete.
    Reading,
    /// Read: every stored report is counted.
    Done {
        /// Reports counted.
        reports: u64,
        /// How long reading took.
        seconds: f64,
    },
    /// The spool could not be read (the error, capped): the counts stay
    /// unknown until a restart.
    Failed(String),
}

/// Where reading the spool at start-up stands, shared with `/-/ready`
/// (not ready until [`ReadingState::Done`]) and the pages.
#[derive(Debug)]
pub struct SpoolReading {
    state: std::sync::Mutex<ReadingState>,
}

impl SpoolReading {
    fn new() -> SpoolReading {
        SpoolReading {
            state: std::sync::Mutex::new(ReadingState::Reading),
        }
    }

    /// Where it stands now.
    pub fn state(&self) -> ReadingState {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Whether every stored report is counted.
    pub fn is_done(&self) -> bool {
        matches!(self.state(), ReadingState::Done { .. })
    }

    fn set(&self, state: ReadingState) {
        *self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = state;
    }
}

/// Holds the start-up read of the spool back until the paired sender is
/// sent to or dropped: lets a test look at the exporter while the read has
/// not finished, by order rather than by time. The exporter never holds it.
#[derive(Debug)]
pub struct RebuildHold(tokio::sync::oneshot::Receiver<()>);

impl RebuildHold {
    /// A hold, and what releases it.
    pub fn new() -> (RebuildHold, tokio::sync::oneshot::Sender<()>) {
        let (release, hold) = tokio::sync::oneshot::channel();
        (RebuildHold(hold), release)
    }
}

/// What runs once the spool has been read at start-up, before the exporter
/// says it is ready (the app exports the `mtasts_tlsrpt_*` families from
/// then on, so they never show counts that are part of the spool).
pub type OnRead = Box<dyn FnOnce(Arc<Ingestor>) + Send>;

/// Reads the spool into `ingestor`'s counts on a blocking thread (once
/// `hold`, if any, is released), then runs `on_read` and says so in
/// `reading`, and logs the count and how long it took.
async fn read_at_start(
    ingestor: Arc<Ingestor>,
    reading: Arc<SpoolReading>,
    hold: Option<RebuildHold>,
    on_read: OnRead,
) {
    if let Some(RebuildHold(hold)) = hold {
        let _ = hold.await;
    }
    let began = Instant::now();
    let reader = ingestor.clone();
    match tokio::task::spawn_blocking(move || reader.rebuild(unix_now())).await {
        Ok(Ok(summary)) => {
            let took = began.elapsed();
            log_rebuild(&summary, took, "TLSRPT report spool read");
            on_read(ingestor);
            reading.set(ReadingState::Done {
                reports: summary.reports,
                seconds: took.as_secs_f64(),
            });
        }
        Ok(Err(error)) => {
            tracing::error!(%error, "TLSRPT report spool cannot be read: its counts stay unknown and the exporter not ready until a restart");
            reading.set(ReadingState::Failed(
                crate::echo::capped_at(&error.to_string(), 1000).into_owned(),
            ));
        }
        Err(error) => {
            tracing::error!(%error, "TLSRPT report spool: the reading task failed");
            reading.set(ReadingState::Failed(
                crate::echo::capped_at(&error.to_string(), 1000).into_owned(),
            ));
        }
    }
}

/// The mail channel's task and what stops it.
struct MaildirTask {
    task: JoinHandle<()>,
    stop: tokio::sync::watch::Sender<bool>,
}

/// The mail channel's settings from the `reports:` section.
fn maildir_settings(reports: &ReportsConfig, dir: PathBuf) -> MaildirSettings {
    let mut settings = MaildirSettings::new(dir);
    settings.poll_interval = reports.maildir_poll_interval;
    settings.dkim = match &reports.dkim {
        crate::config::DkimMode::Verify => DkimMode::Verify,
        crate::config::DkimMode::AuthenticationResults { authserv_id } => {
            DkimMode::AuthenticationResults {
                authserv_id: authserv_id.clone(),
            }
        }
    };
    // A message holds the report, MIME-encoded (base64: 4/3 of it), plus
    // headers: twice the body limit leaves room for both.
    settings.max_message_bytes = u64::try_from(reports.max_body_bytes)
        .unwrap_or(u64::MAX)
        .saturating_mul(2)
        .max(settings.max_message_bytes);
    settings
}

impl ReportIngestion {
    /// Opens the spool and starts the channels `loaded` enables (none when
    /// `reports:` enables none: the component then only says, on reload,
    /// that enabling them needs a restart), and reads the spool on a
    /// blocking thread: [`ReportIngestion::reading`] says when it is done,
    /// and `on_read` runs then. `hold` holds the read back (tests).
    /// Returns without waiting for the read. Must run inside a tokio
    /// runtime.
    pub fn start_reading(
        loaded: &Loaded,
        on_read: OnRead,
        hold: Option<RebuildHold>,
    ) -> Result<ReportIngestion, ReportsStartError> {
        let config = &loaded.config;
        let reports = config.reports.clone();
        let mut ingestion = ReportIngestion {
            started: reports.clone(),
            storage_path: config.storage.path.clone(),
            ingestor: None,
            https: None,
            maildir: None,
            expiry: None,
            reading: None,
        };
        // Validation refuses channels without a storage path.
        let (true, Some(path)) = (reports.enabled(), config.storage.path.clone()) else {
            return Ok(ingestion);
        };
        // Opened here, so that a spool that cannot be created stops the
        // start; read below, off the async threads.
        let ingestor = Ingestor::open_unread(
            &path,
            reports.max_decompressed_bytes,
            reports.retention_days,
            domain_set(config),
        )
        .map_err(|source| ReportsStartError::Spool {
            path: path.clone(),
            source,
        })?;
        let ingestor = Arc::new(ingestor);
        if let Some(address) = &reports.listen_address {
            let listener = https::bind(address).map_err(|source| ReportsStartError::Listen {
                address: crate::echo::capped(address).into_owned(),
                source,
            })?;
            let channel = HttpsChannel::start(
                listener,
                HttpsSettings::from_config(&reports),
                ingestor.clone(),
            );
            tracing::info!(
                address = %channel.local_addr().map_or_else(|| address.clone(), |a| a.to_string()),
                path = %reports.path,
                tls = reports.web_config_file.as_ref().is_some_and(|f| f.web.tls.is_some()),
                "TLSRPT reports listener started"
            );
            ingestion.https = Some(channel);
        }
        if let Some(dir) = &reports.maildir {
            let settings = maildir_settings(&reports, dir.clone());
            // Set up here so that a Maildir that cannot be created stops
            // the start, as a listener that cannot bind does.
            let reader = MaildirReader::new(settings, ingestor.clone(), &config.resolver).map_err(
                |source| ReportsStartError::Maildir {
                    path: dir.clone(),
                    source,
                },
            )?;
            let (stop, mut stopped) = tokio::sync::watch::channel(false);
            let task = tokio::spawn(async move {
                let shutdown = async move {
                    let _ = stopped.wait_for(|stop| *stop).await;
                };
                maildir::read_until(reader, shutdown).await;
            });
            tracing::info!(
                maildir = %dir.display(),
                dkim = match reports.dkim {
                    crate::config::DkimMode::Verify => "verify",
                    crate::config::DkimMode::AuthenticationResults { .. } => "authentication-results",
                },
                "TLSRPT Maildir reader started"
            );
            ingestion.maildir = Some(MaildirTask { task, stop });
        }
        ingestion.expiry = Some(tokio::spawn(expire_daily(ingestor.clone())));
        // The channels take reports meanwhile: one stored before the read
        // is counted by it, one during it waits for it (the ingestor's
        // gate), so each is counted once.
        let reading = Arc::new(SpoolReading::new());
        let task = tokio::spawn(read_at_start(
            ingestor.clone(),
            reading.clone(),
            hold,
            on_read,
        ));
        ingestion.reading = Some((reading, task));
        ingestion.ingestor = Some(ingestor);
        Ok(ingestion)
    }

    /// Where reading the spool at start-up stands, when a channel is
    /// enabled.
    pub fn reading(&self) -> Option<Arc<SpoolReading>> {
        self.reading.as_ref().map(|(reading, _)| reading.clone())
    }

    /// The ingestor, when a channel is enabled: what the metrics and the
    /// other channels (Maildir) read and feed.
    pub fn ingestor(&self) -> Option<Arc<Ingestor>> {
        self.ingestor.clone()
    }

    /// Where the HTTPS channel listens, when it does.
    pub fn https_address(&self) -> Option<std::net::SocketAddr> {
        self.https.as_ref().and_then(HttpsChannel::local_addr)
    }

    /// Logs each setting whose change needs a restart.
    fn note_restart_needed(&self, loaded: &Loaded) {
        let new = &loaded.config.reports;
        let old = &self.started;
        let mut keys = Vec::new();
        if new.enabled() != old.enabled() {
            keys.push("reports.listen_address / reports.maildir");
        }
        if new.listen_address != old.listen_address {
            keys.push("reports.listen_address");
        }
        if new.max_decompressed_bytes != old.max_decompressed_bytes {
            keys.push("reports.max_decompressed_bytes");
        }
        if new.maildir != old.maildir {
            keys.push("reports.maildir");
        }
        if new.maildir_poll_interval != old.maildir_poll_interval {
            keys.push("reports.maildir_poll_interval");
        }
        if new.dkim != old.dkim {
            keys.push("reports.dkim / reports.authserv_id");
        }
        if new.retention_days != old.retention_days {
            keys.push("reports.retention_days");
        }
        if old.enabled() && loaded.config.storage.path != self.storage_path {
            keys.push("storage.path (for the report spool)");
        }
        for key in keys {
            tracing::warn!(key, "changed: takes effect at the next restart");
        }
    }
}

/// Removes reports past the retention once a day (a rebuild does).
async fn expire_daily(ingestor: Arc<Ingestor>) {
    let mut ticks = tokio::time::interval(EXPIRY_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let ingestor = ingestor.clone();
        let began = Instant::now();
        match tokio::task::spawn_blocking(move || ingestor.rebuild(unix_now())).await {
            Ok(Ok(summary)) => log_rebuild(
                &summary,
                began.elapsed(),
                "TLSRPT reports counted again after expiry",
            ),
            Ok(Err(error)) => tracing::error!(%error, "TLSRPT report spool: expiry failed"),
            Err(error) => tracing::error!(%error, "TLSRPT report spool: expiry task failed"),
        }
    }
}

impl Component for ReportIngestion {
    fn name(&self) -> &'static str {
        "report ingestion"
    }

    fn reload(&mut self, loaded: &Loaded) -> ApplySummary {
        self.note_restart_needed(loaded);
        if let Some(channel) = &self.https {
            channel.apply(HttpsSettings::from_config(&loaded.config.reports));
        }
        if let Some(ingestor) = &self.ingestor {
            let ingestor = ingestor.clone();
            let domains = domain_set(&loaded.config);
            // Reading the spool again may take a while: not on the
            // thread that runs the reload.
            tokio::task::spawn_blocking(move || {
                let began = Instant::now();
                match ingestor.set_domains(domains, unix_now()) {
                    Ok(Some(summary)) => log_rebuild(
                        &summary,
                        began.elapsed(),
                        "TLSRPT reports counted again for the new domain list",
                    ),
                    Ok(None) => {}
                    Err(error) => {
                        tracing::error!(%error, "TLSRPT report spool: counting again failed")
                    }
                }
            });
        }
        ApplySummary::default()
    }

    fn stop(&mut self) {
        if let Some(channel) = &self.https {
            channel.stop();
        }
        if let Some(maildir) = self.maildir.take() {
            let _ = maildir.stop.send(true);
            maildir.task.abort();
        }
        if let Some(expiry) = self.expiry.take() {
            expiry.abort();
        }
        if let Some((_, task)) = self.reading.take() {
            task.abort();
        }
    }
}
