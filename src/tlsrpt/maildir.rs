//! The mail channel of TLSRPT reports (RFC 8460 §3 `rua=mailto:`, §5.3):
//! the local mail server delivers the reports to a Maildir, and this reads
//! each new message, takes out the report ([`super::mail`]), checks its
//! DKIM signature ([`super::dkim`], or the server's
//! `Authentication-Results`), and hands the report to the [`Ingestor`].
//!
//! Each message in `<dir>/new/` ends in one of three places:
//! - `<dir>/cur/<name>:2,S` (Maildir's "seen" flag) once the report is
//!   stored, or was stored before (a duplicate: counted once);
//! - `<dir>/rejected/<name>` when it is refused (no report, a bad
//!   signature, a report that does not parse or is about no configured
//!   domain), with the reason logged and counted in the ingest errors;
//! - `new/` still, when the fault may pass: a DNS failure while looking up
//!   the DKIM key (until the message is [`MaildirSettings::give_up_after`]
//!   old), or the spool could not store it.
//!
//! A message is moved by a hard link to its new name and then the removal
//! of the old one, so it is never lost nor overwritten (a taken name gets a
//! `.N` suffix), and the spool's create-new names make a message read
//! twice (a crash between storing and moving) count once.

use super::dkim::{DkimSetupError, DkimVerifier};
use super::ingest::{Channel, IngestError, Ingested, Ingestor};
use super::mail::{DkimError, Mail, MailError, DEFAULT_MAX_MESSAGE_BYTES};
use crate::config::ResolverConfig;
use crate::echo::capped;
use std::ffi::OsString;
use std::future::Future;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// The default interval between two looks at `new/`.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(30);

/// The default for [`MaildirSettings::give_up_after`]: a day.
pub const DEFAULT_GIVE_UP_AFTER: Duration = Duration::from_secs(24 * 3600);

/// The default for [`MaildirSettings::max_messages_per_pass`].
pub const DEFAULT_MAX_MESSAGES_PER_PASS: usize = 1000;

/// Ingest-error causes of the mail channel besides the Ingestor's own
/// (README "TLSRPT reports by mail"): a message that is no report mail,
/// and one whose DKIM signature does not vouch for it.
pub const MAILDIR_CAUSES: [&str; 2] = ["dkim", "mime"];

/// The folder under the Maildir that refused messages go to.
pub const REJECTED_FOLDER: &str = "rejected";

/// How a report's DKIM signature (RFC 8460 §3, RFC 6376) is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DkimMode {
    /// The exporter verifies it, looking up the key through the configured
    /// name servers (`reports.dkim: verify`, the default).
    Verify,
    /// The local mail server verified it: a `dkim=pass` in the
    /// `Authentication-Results` it added under `authserv_id` (RFC 8601) is
    /// trusted (`reports.dkim: authentication-results`; see
    /// [`Mail::trusted_authentication_results`] for which fields).
    AuthenticationResults {
        /// The mail server's authserv-id (`reports.authserv_id`).
        authserv_id: String,
    },
}

/// The mail channel's settings (the `reports:` section's Maildir keys).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaildirSettings {
    /// The Maildir (`reports.maildir`): `new/`, `cur/`, `tmp/` and
    /// `rejected/` under it (created when missing).
    pub dir: PathBuf,
    /// How often `new/` is read (`reports.maildir_poll_interval`).
    pub poll_interval: Duration,
    /// How the DKIM signature is checked (`reports.dkim`).
    pub dkim: DkimMode,
    /// Larger messages are refused (`too-large`) from their size alone.
    pub max_message_bytes: u64,
    /// Messages taken per pass at most (the rest wait for the next).
    pub max_messages_per_pass: usize,
    /// A message whose DKIM key could not be looked up for this long
    /// (by its file's modification time) is refused instead of tried again.
    pub give_up_after: Duration,
}

impl MaildirSettings {
    /// Settings for `dir` with the defaults: poll every 30 s, verify DKIM,
    /// messages up to 10 MiB, 1000 a pass, give up on a DNS failure after
    /// a day.
    pub fn new(dir: impl Into<PathBuf>) -> MaildirSettings {
        MaildirSettings {
            dir: dir.into(),
            poll_interval: DEFAULT_POLL_INTERVAL,
            dkim: DkimMode::Verify,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            max_messages_per_pass: DEFAULT_MAX_MESSAGES_PER_PASS,
            give_up_after: DEFAULT_GIVE_UP_AFTER,
        }
    }
}

/// Why the Maildir cannot be read at all.
#[derive(Debug, thiserror::Error)]
pub enum MaildirError {
    /// The DKIM verifier's resolver could not be built.
    #[error(transparent)]
    Setup(#[from] DkimSetupError),
    /// A folder of the Maildir could not be created or listed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The folder.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Its report is stored and counted; the message is in `cur/`.
    Stored,
    /// Its report was stored before; the message is in `cur/`.
    Duplicate,
    /// Refused: in `rejected/`, counted under `cause`.
    Rejected {
        /// The ingest-error cause.
        cause: &'static str,
        /// Why (capped).
        reason: String,
    },
    /// Left in `new/` for the next pass.
    Deferred {
        /// Why (capped).
        reason: String,
    },
    /// Gone before it was read (another reader took it), or not a name of
    /// `new/`.
    Vanished,
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassSummary {
    /// Reports stored.
    pub stored: u64,
    /// Reports stored before.
    pub duplicates: u64,
    /// Messages refused.
    pub rejected: u64,
    /// Messages left for the next pass.
    pub deferred: u64,
    /// Messages that could not be moved where they belong (still in
    /// `new/`; logged).
    pub unmoved: u64,
}

/// Reads one Maildir into one [`Ingestor`].
#[derive(Debug)]
pub struct MaildirReader {
    settings: MaildirSettings,
    ingestor: Arc<Ingestor>,
    verifier: Option<DkimVerifier>,
}

/// A message read and taken apart, before its signature is verified.
struct Prepared {
    report: Vec<u8>,
    from_domain: Option<String>,
    raw: Arc<[u8]>,
}

enum Refusal {
    Mail(MailError),
    Dkim(DkimError),
    Other(&'static str, String),
    /// Not the message's fault (it cannot be read now): try again.
    Unreadable(String),
}

impl MaildirReader {
    /// A reader of `settings.dir` (its folders created when missing) that
    /// verifies DKIM through `resolver` when the mode says so.
    pub fn new(
        settings: MaildirSettings,
        ingestor: Arc<Ingestor>,
        resolver: &ResolverConfig,
    ) -> Result<MaildirReader, MaildirError> {
        for folder in ["tmp", "new", "cur", REJECTED_FOLDER] {
            let path = settings.dir.join(folder);
            std::fs::create_dir_all(&path).map_err(|source| MaildirError::Io { path, source })?;
        }
        let verifier = match settings.dkim {
            DkimMode::Verify => Some(DkimVerifier::new(resolver)?),
            DkimMode::AuthenticationResults { .. } => None,
        };
        Ok(MaildirReader {
            settings,
            ingestor,
            verifier,
        })
    }

    /// The settings in force.
    pub fn settings(&self) -> &MaildirSettings {
        &self.settings
    }

    /// Takes every message in `new/` (at most
    /// [`MaildirSettings::max_messages_per_pass`], oldest names first),
    /// one after the other.
    pub async fn pass(&self) -> Result<PassSummary, MaildirError> {
        let new = self.settings.dir.join("new");
        let listed = {
            let new = new.clone();
            let limit = self.settings.max_messages_per_pass;
            tokio::task::spawn_blocking(move || list_new(&new, limit)).await
        };
        let names = match listed {
            Ok(names) => names.map_err(|source| MaildirError::Io { path: new, source })?,
            Err(join) => {
                return Err(MaildirError::Io {
                    path: new,
                    source: std::io::Error::other(join.to_string()),
                })
            }
        };
        let mut summary = PassSummary::default();
        for name in names {
            let (outcome, moved) = self.take(name).await;
            match outcome {
                Outcome::Stored => summary.stored += 1,
                Outcome::Duplicate => summary.duplicates += 1,
                Outcome::Rejected { .. } => summary.rejected += 1,
                Outcome::Deferred { .. } => summary.deferred += 1,
                Outcome::Vanished => {}
            }
            if !moved {
                summary.unmoved += 1;
            }
        }
        Ok(summary)
    }

    /// Takes one message of `new/`: what became of it, and whether it is
    /// where that outcome says (false: a move failed, it is still in
    /// `new/`).
    pub async fn take(&self, name: OsString) -> (Outcome, bool) {
        // One file name, nothing that leads out of `new/`.
        let mut parts = Path::new(&name).components();
        if !matches!(
            (parts.next(), parts.next()),
            (Some(std::path::Component::Normal(_)), None)
        ) {
            return (Outcome::Vanished, true);
        }
        let outcome = self.judge(&name).await;
        let shown = capped(&name.to_string_lossy()).into_owned();
        let destination = match &outcome {
            Outcome::Stored | Outcome::Duplicate => Some(("cur", seen_name(&name))),
            Outcome::Rejected { cause, reason } => {
                tracing::warn!(file = %shown, cause, reason = %reason, "TLSRPT mail refused: moved to rejected/");
                Some((REJECTED_FOLDER, name.clone()))
            }
            Outcome::Deferred { reason } => {
                tracing::warn!(file = %shown, reason = %reason, "TLSRPT mail left in new/ for the next pass");
                None
            }
            Outcome::Vanished => None,
        };
        let Some((folder, target)) = destination else {
            return (outcome, true);
        };
        let from = self.settings.dir.join("new").join(&name);
        let to_dir = self.settings.dir.join(folder);
        let moved = tokio::task::spawn_blocking(move || move_into(&from, &to_dir, &target)).await;
        match moved {
            Ok(Ok(_)) => (outcome, true),
            Ok(Err(error)) => {
                tracing::error!(file = %shown, folder, error = %error, "cannot move a TLSRPT mail out of new/: it is read again next pass");
                (outcome, false)
            }
            Err(join) => {
                tracing::error!(file = %shown, folder, error = %join, "cannot move a TLSRPT mail out of new/: it is read again next pass");
                (outcome, false)
            }
        }
    }

    async fn judge(&self, name: &OsString) -> Outcome {
        let path = self.settings.dir.join("new").join(name);
        let max = self.settings.max_message_bytes;
        let dkim = self.settings.dkim.clone();
        let read = tokio::task::spawn_blocking(move || prepare(&path, max, &dkim)).await;
        let prepared = match read {
            Ok(Ok(Some(prepared))) => prepared,
            Ok(Ok(None)) => return Outcome::Vanished,
            Ok(Err(Refusal::Unreadable(reason))) => {
                return Outcome::Deferred {
                    reason: capped(&reason).into_owned(),
                }
            }
            Ok(Err(refusal)) => return self.refuse(refusal),
            Err(join) => {
                // A panic while reading or parsing: refuse the message
                // rather than read it again and again.
                return self.refuse(Refusal::Other(
                    "mime",
                    format!("the message could not be read: {join}"),
                ));
            }
        };
        if let Some(verifier) = &self.verifier {
            let Some(from) = prepared.from_domain.as_deref() else {
                return self.refuse(Refusal::Dkim(DkimError::NoFromDomain));
            };
            if let Err(error) = verifier.verify(prepared.raw.clone(), from).await {
                if error.is_temporary() && !self.too_old(name) {
                    return Outcome::Deferred {
                        reason: capped(&error.to_string()).into_owned(),
                    };
                }
                return self.refuse(Refusal::Dkim(error));
            }
        }
        let ingestor = self.ingestor.clone();
        let report = prepared.report;
        let ingested =
            tokio::task::spawn_blocking(move || ingestor.ingest(&report, Channel::Maildir)).await;
        match ingested {
            Ok(Ok(Ingested::New { .. })) => Outcome::Stored,
            Ok(Ok(Ingested::Duplicate { .. })) => Outcome::Duplicate,
            Ok(Err(error)) if error.is_temporary() => Outcome::Deferred {
                reason: capped(&error.to_string()).into_owned(),
            },
            // Counted by the ingestor.
            Ok(Err(error)) => Outcome::Rejected {
                cause: error.cause(),
                reason: reason_of(&error),
            },
            Err(join) => Outcome::Deferred {
                reason: capped(&join.to_string()).into_owned(),
            },
        }
    }

    fn refuse(&self, refusal: Refusal) -> Outcome {
        let (cause, reason) = match refusal {
            Refusal::Mail(error) => (error.cause(), error.to_string()),
            Refusal::Dkim(error) => (error.cause(), error.to_string()),
            Refusal::Other(cause, reason) => (cause, reason),
            Refusal::Unreadable(reason) => {
                return Outcome::Deferred {
                    reason: capped(&reason).into_owned(),
                }
            }
        };
        self.ingestor.count_error(Channel::Maildir, cause);
        Outcome::Rejected {
            cause,
            reason: crate::echo::capped_at(&reason, 300).into_owned(),
        }
    }

    /// Whether the message has waited in `new/` longer than
    /// [`MaildirSettings::give_up_after`].
    fn too_old(&self, name: &OsString) -> bool {
        let path = self.settings.dir.join("new").join(name);
        std::fs::symlink_metadata(path)
            .and_then(|meta| meta.modified())
            .ok()
            .and_then(|modified| SystemTime::now().duration_since(modified).ok())
            .is_some_and(|age| age > self.settings.give_up_after)
    }
}

fn reason_of(error: &IngestError) -> String {
    crate::echo::capped_at(&error.to_string(), 300).into_owned()
}

/// Reads `new/` every `settings.poll_interval` (the first time at once)
/// until `shutdown` completes; a pass under way is dropped at shutdown
/// (a message it had stored but not moved is a duplicate next time).
/// Returns only when the reader cannot be set up, or at shutdown.
pub async fn run(
    settings: MaildirSettings,
    ingestor: Arc<Ingestor>,
    resolver: &ResolverConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), MaildirError> {
    let reader = MaildirReader::new(settings, ingestor, resolver)?;
    read_until(reader, shutdown).await;
    Ok(())
}

/// [`run`] with a reader already set up.
pub async fn read_until(reader: MaildirReader, shutdown: impl Future<Output = ()>) {
    let mut ticker = tokio::time::interval(
        reader
            .settings
            .poll_interval
            .max(Duration::from_millis(100)),
    );
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            passed = async {
                ticker.tick().await;
                reader.pass().await
            } => match passed {
                Ok(summary) if summary != PassSummary::default() => {
                    tracing::info!(
                        stored = summary.stored,
                        duplicates = summary.duplicates,
                        rejected = summary.rejected,
                        deferred = summary.deferred,
                        unmoved = summary.unmoved,
                        "TLSRPT Maildir pass"
                    );
                }
                Ok(_) => {}
                Err(error) => tracing::error!(error = %error, "cannot read the TLSRPT Maildir"),
            },
        }
    }
}

/// The message names in `new/`, sorted, at most `limit`; dot files are
/// not messages (Maildir).
fn list_new(new: &Path, limit: usize) -> std::io::Result<Vec<OsString>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(new)? {
        let entry = entry?;
        let name = entry.file_name();
        if name.as_encoded_bytes().first() == Some(&b'.') {
            continue;
        }
        names.push(name);
    }
    names.sort();
    names.truncate(limit);
    Ok(names)
}

/// Reads the message at `path` (refused from its size when over `max`,
/// without reading it) and takes it apart. `Ok(None)`: it is gone.
fn prepare(path: &Path, max: u64, dkim: &DkimMode) -> Result<Option<Prepared>, Refusal> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(Refusal::Unreadable(format!("cannot read: {error}"))),
    };
    if !meta.file_type().is_file() {
        return Err(Refusal::Other("mime", "not a regular file".to_string()));
    }
    if meta.len() > max {
        return Err(Refusal::Mail(MailError::TooLarge {
            size: meta.len(),
            limit: max,
        }));
    }
    let mut raw = Vec::new();
    let read = std::fs::File::open(path)
        .and_then(|file| file.take(max.saturating_add(1)).read_to_end(&mut raw));
    match read {
        Ok(_) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(Refusal::Unreadable(format!("cannot read: {error}"))),
    }
    let raw: Arc<[u8]> = Arc::from(raw);
    let mail = Mail::parse(&raw, max).map_err(Refusal::Mail)?;
    let report = mail.report().map_err(Refusal::Mail)?.into_owned();
    if let DkimMode::AuthenticationResults { authserv_id } = dkim {
        mail.dkim_pass_vouched(authserv_id).map_err(Refusal::Dkim)?;
    }
    let from_domain = mail.from_domain();
    drop(mail);
    Ok(Some(Prepared {
        report,
        from_domain,
        raw,
    }))
}

/// The name a message takes in `cur/`: its unique part and Maildir's info
/// `:2,S` (seen).
fn seen_name(name: &OsString) -> OsString {
    let bytes = name.as_encoded_bytes();
    let unique = match bytes.iter().position(|b| *b == b':') {
        Some(at) => std::ffi::OsStr::from_bytes(&bytes[..at]).to_os_string(),
        None => name.clone(),
    };
    let mut seen = unique;
    seen.push(":2,S");
    seen
}

/// Moves `from` into `dir` as `name` (or `name.N` when taken), never
/// replacing a file there: a hard link, then the removal of `from`, then
/// the folder synced. Returns the new path.
fn move_into(from: &Path, dir: &Path, name: &OsString) -> std::io::Result<PathBuf> {
    for attempt in 0..1000u32 {
        let mut candidate = name.clone();
        if attempt > 0 {
            candidate.push(format!(".{attempt}"));
        }
        let to = dir.join(&candidate);
        match std::fs::hard_link(from, &to) {
            Ok(()) => {
                std::fs::remove_file(from)?;
                sync_dir(dir);
                if let Some(parent) = from.parent() {
                    sync_dir(parent);
                }
                return Ok(to);
            }
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(error) => {
                // A file system without hard links: a rename, to a name
                // that is free (racy only against another writer of this
                // folder, which there is not).
                if std::fs::symlink_metadata(&to).is_ok() {
                    continue;
                }
                std::fs::rename(from, &to).map_err(|_| error)?;
                sync_dir(dir);
                return Ok(to);
            }
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AlreadyExists,
        "no free name in the folder",
    ))
}

fn sync_dir(dir: &Path) {
    if let Ok(handle) = std::fs::File::open(dir) {
        let _ = handle.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seen_names_keep_the_unique_part() {
        assert_eq!(
            seen_name(&OsString::from("1700000000.M1P2.host")),
            OsString::from("1700000000.M1P2.host:2,S")
        );
        assert_eq!(
            seen_name(&OsString::from("1700000000.M1P2.host:2,")),
            OsString::from("1700000000.M1P2.host:2,S")
        );
    }

    #[test]
    fn a_move_never_replaces_a_file() {
        let Ok(dir) = tempfile::tempdir() else {
            panic!("tempdir")
        };
        let target = dir.path().join("cur");
        let Ok(()) = std::fs::create_dir(&target) else {
            panic!("mkdir")
        };
        let name = OsString::from("m:2,S");
        let Ok(()) = std::fs::write(target.join(&name), b"older") else {
            panic!("write")
        };
        let source = dir.path().join("m");
        let Ok(()) = std::fs::write(&source, b"newer") else {
            panic!("write")
        };
        let moved = move_into(&source, &target, &name);
        assert_eq!(moved.ok(), Some(target.join("m:2,S.1")));
        assert!(!source.exists());
        assert_eq!(
            std::fs::read(target.join("m:2,S")).ok().as_deref(),
            Some(&b"older"[..])
        );
        assert_eq!(
            std::fs::read(target.join("m:2,S.1")).ok().as_deref(),
            Some(&b"newer"[..])
        );
    }
}
