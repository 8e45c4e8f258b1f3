//! State that survives a restart: the policy history of every scheduled
//! domain ([`crate::history`]), kept in one JSON file in `storage.path`.
//!
//! The file is written atomically (a temporary file, fsync, rename, fsync of
//! the directory), so a crash or `kill -9` leaves the old file or the new
//! one, never half of one. A file that cannot be used (unreadable,
//! truncated, corrupt, too large, from a newer version) is logged with its
//! path and problem, moved aside, and the exporter starts with empty state:
//! it never refuses to start over its state.

use crate::app::{Component, Loaded};
use crate::history::{PolicyHistories, PolicyHistory};
use crate::scheduler::ApplySummary;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// The state file's name inside `storage.path`.
pub const STATE_FILE: &str = "policy-history.json";
/// The version of the file's format this exporter writes and reads.
pub const STATE_VERSION: u32 = 1;
/// A state file larger than this is refused (about 2 KB a domain would be
/// 100,000 domains in 200 MB; real entries are a few hundred bytes).
pub const MAX_STATE_BYTES: u64 = 256 * 1024 * 1024;

/// The file as written.
#[derive(Debug, Serialize, Deserialize)]
struct StateFile {
    version: u32,
    domains: BTreeMap<String, PolicyHistory>,
}

/// Just the version, read first so a newer format is named as such rather
/// than as corrupt.
#[derive(Debug, Deserialize)]
struct VersionOnly {
    version: u32,
}

/// Why the state file could not be used or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Reading failed (permissions, I/O).
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The file is not a state file (truncated, corrupt, not JSON) or is
    /// too large.
    #[error("{path} is not a usable state file: {problem}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// A newer exporter wrote it, in a format this one does not know.
    #[error("{path} has state version {found}; this exporter reads version {STATE_VERSION}")]
    FutureVersion {
        /// The file.
        path: PathBuf,
        /// The version found.
        found: u32,
    },
    /// Writing failed (permissions, disk full).
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// The state file in one directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateStore {
    dir: PathBuf,
}

impl StateStore {
    /// The store in `dir` (created on the first save).
    pub fn new(dir: &Path) -> StateStore {
        StateStore {
            dir: dir.to_path_buf(),
        }
    }

    /// The state file's path.
    pub fn file(&self) -> PathBuf {
        self.dir.join(STATE_FILE)
    }

    /// The saved histories: none when there is no file yet; none too when
    /// the file cannot be used, which is then logged and moved aside.
    pub fn load(&self) -> BTreeMap<String, PolicyHistory> {
        match self.try_load() {
            Ok(histories) => histories,
            Err(error) => {
                let aside = self.move_aside();
                tracing::error!(%error, moved_to = ?aside, "state file not used; starting with empty state");
                BTreeMap::new()
            }
        }
    }

    fn try_load(&self) -> Result<BTreeMap<String, PolicyHistory>, StateError> {
        let path = self.file();
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(BTreeMap::new())
            }
            Err(source) => return Err(StateError::Read { path, source }),
        };
        let mut bytes = Vec::new();
        file.take(MAX_STATE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|source| StateError::Read {
                path: path.clone(),
                source,
            })?;
        if bytes.len() as u64 > MAX_STATE_BYTES {
            let problem = format!("larger than {MAX_STATE_BYTES} bytes");
            return Err(StateError::Corrupt { path, problem });
        }
        parse(&path, &bytes)
    }

    /// Renames an unusable state file out of the way, so the next save does
    /// not overwrite what an operator may want to look at.
    fn move_aside(&self) -> Option<PathBuf> {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let aside = self.dir.join(format!("{STATE_FILE}.unusable-{stamp}"));
        std::fs::rename(self.file(), &aside).ok().map(|()| aside)
    }

    /// Writes `histories` atomically.
    pub fn save(&self, histories: &BTreeMap<String, PolicyHistory>) -> Result<(), StateError> {
        let path = self.file();
        let write_error = |source| StateError::Write {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(&self.dir).map_err(write_error)?;
        let state = StateFile {
            version: STATE_VERSION,
            domains: histories.clone(),
        };
        let text = serde_json::to_vec(&state).map_err(|e| write_error(e.into()))?;
        let temporary = self.dir.join(format!(".{STATE_FILE}.tmp"));
        let mut file = File::create(&temporary).map_err(write_error)?;
        file.write_all(&text).map_err(write_error)?;
        file.sync_all().map_err(write_error)?;
        std::fs::rename(&temporary, &path).map_err(write_error)?;
        // The rename is durable once the directory is.
        File::open(&self.dir)
            .and_then(|dir| dir.sync_all())
            .map_err(write_error)
    }
}

/// Reads a state file's bytes.
fn parse(path: &Path, bytes: &[u8]) -> Result<BTreeMap<String, PolicyHistory>, StateError> {
    let corrupt = |error: serde_json::Error| StateError::Corrupt {
        path: path.to_path_buf(),
        problem: error.to_string(),
    };
    let version: VersionOnly = serde_json::from_slice(bytes).map_err(corrupt)?;
    if version.version != STATE_VERSION {
        return Err(StateError::FutureVersion {
            path: path.to_path_buf(),
            found: version.version,
        });
    }
    let state: StateFile = serde_json::from_slice(bytes).map_err(corrupt)?;
    Ok(state.domains)
}

/// Keeping the state as a component: the saved histories are put back at
/// start-up, and whatever changed is written at most every
/// `storage.write_interval`, and once more when the exporter stops.
pub struct StateKeeping {
    store: Option<StateStore>,
    write_interval: Duration,
    histories: Arc<PolicyHistories>,
    writer: Option<JoinHandle<()>>,
}

impl StateKeeping {
    /// Reads the saved histories of `loaded`'s storage for the domains it
    /// schedules (the others are dropped) into `histories`, and starts
    /// writing them back.
    pub fn start(loaded: &Loaded, histories: Arc<PolicyHistories>) -> StateKeeping {
        let store = loaded.config.storage.path.as_deref().map(StateStore::new);
        if let Some(store) = &store {
            let mut saved = store.load();
            let scheduled: std::collections::HashSet<&str> = loaded
                .config
                .scheduled_domains()
                .map(|d| d.name.as_str())
                .collect();
            let before = saved.len();
            saved.retain(|domain, _| scheduled.contains(domain.as_str()));
            let dropped = before - saved.len();
            tracing::info!(
                file = %store.file().display(),
                domains = saved.len(),
                dropped,
                "policy history restored"
            );
            histories.restore(saved);
            if dropped > 0 {
                // The file still holds the dropped domains: write it anew.
                histories.mark_unsaved();
            }
        }
        let mut keeping = StateKeeping {
            store,
            write_interval: loaded.config.storage.write_interval,
            histories,
            writer: None,
        };
        keeping.spawn_writer();
        keeping
    }

    fn spawn_writer(&mut self) {
        if let Some(writer) = self.writer.take() {
            writer.abort();
        }
        let Some(store) = self.store.clone() else {
            return;
        };
        let histories = self.histories.clone();
        let interval = self.write_interval;
        self.writer = Some(tokio::spawn(async move {
            let mut failing = false;
            loop {
                tokio::time::sleep(interval).await;
                let Some(snapshot) = histories.changed_since_last_save() else {
                    continue;
                };
                let store = store.clone();
                let saved = tokio::task::spawn_blocking(move || store.save(&snapshot)).await;
                match saved {
                    Ok(Ok(())) => failing = false,
                    Ok(Err(error)) => {
                        histories.mark_unsaved();
                        // Once per failing streak, not every interval.
                        if !failing {
                            tracing::error!(%error, "cannot save the policy history; retrying");
                        }
                        failing = true;
                    }
                    Err(error) => tracing::error!(%error, "state writer failed"),
                }
            }
        }));
    }

    /// Writes what changed now, if anything did.
    fn save_now(&self) {
        let (Some(store), Some(snapshot)) = (&self.store, self.histories.changed_since_last_save())
        else {
            return;
        };
        if let Err(error) = store.save(&snapshot) {
            self.histories.mark_unsaved();
            tracing::error!(%error, "cannot save the policy history");
        }
    }
}

impl Component for StateKeeping {
    fn name(&self) -> &'static str {
        "state keeping"
    }

    /// A new `storage.path` takes the state in memory from now on (what
    /// the old directory holds is left there); the write interval applies
    /// at once.
    fn reload(&mut self, loaded: &Loaded) -> ApplySummary {
        let store = loaded.config.storage.path.as_deref().map(StateStore::new);
        let interval = loaded.config.storage.write_interval;
        if store != self.store || interval != self.write_interval {
            self.save_now();
            self.store = store;
            self.write_interval = interval;
            self.histories.mark_unsaved();
            self.spawn_writer();
        }
        ApplySummary::default()
    }

    fn stop(&mut self) {
        if let Some(writer) = self.writer.take() {
            writer.abort();
        }
        self.save_now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history(changes: u64) -> PolicyHistory {
        PolicyHistory {
            changes: Some(changes),
            id_stale: true,
            last_fetch_success: Some(1_000.0),
            expiry: Some(87_400.0),
            ..PolicyHistory::default()
        }
    }

    fn saved(entries: &[(&str, u64)]) -> BTreeMap<String, PolicyHistory> {
        entries
            .iter()
            .map(|(domain, changes)| (domain.to_string(), history(*changes)))
            .collect()
    }

    #[test]
    fn a_saved_state_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(&dir.path().join("state"));
        assert!(store.load().is_empty(), "no file yet: empty state");
        let state = saved(&[("a.example", 1), ("b.example", 2)]);
        store.save(&state).unwrap();
        assert_eq!(store.load(), state);
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path().join("state"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [STATE_FILE]);
    }

    /// Truncated, corrupt, future-version and oversized files are moved
    /// aside and give empty state; the next save writes a good file.
    #[test]
    fn unusable_files_are_moved_aside() {
        let good = serde_json::to_vec(&StateFile {
            version: STATE_VERSION,
            domains: saved(&[("a.example", 1)]),
        })
        .unwrap();
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("truncated", good[..good.len() / 2].to_vec()),
            ("corrupt", b"\x00\xffnot json".to_vec()),
            (
                "future",
                br#"{"version": 99, "domains": {"a": 1}}"#.to_vec(),
            ),
            ("empty", Vec::new()),
        ];
        for (case, bytes) in cases {
            let dir = tempfile::tempdir().unwrap();
            let store = StateStore::new(dir.path());
            std::fs::write(store.file(), &bytes).unwrap();
            let error = store.try_load().unwrap_err();
            if case == "future" {
                assert!(matches!(error, StateError::FutureVersion { found: 99, .. }));
            }
            assert!(error.to_string().contains(STATE_FILE), "{case}: {error}");
            assert!(store.load().is_empty(), "{case}");
            assert!(!store.file().exists(), "{case}: not moved aside");
            let aside: Vec<_> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            assert_eq!(aside.len(), 1, "{case}: {aside:?}");
            assert!(aside[0].starts_with("policy-history.json.unusable-"));
            assert_eq!(std::fs::read(dir.path().join(&aside[0])).unwrap(), bytes);
            store.save(&saved(&[("b.example", 3)])).unwrap();
            assert_eq!(store.load(), saved(&[("b.example", 3)]), "{case}");
        }
    }

    #[test]
    fn an_unreadable_or_unwritable_place_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        // The "directory" is a file: nothing can be written below it.
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, b"x").unwrap();
        let store = StateStore::new(&blocker);
        let error = store.save(&saved(&[("a.example", 1)])).unwrap_err();
        assert!(matches!(error, StateError::Write { .. }), "{error}");
        assert!(store.load().is_empty());
        // A state file that is a directory cannot be read.
        let store = StateStore::new(dir.path());
        std::fs::create_dir(store.file()).unwrap();
        assert!(store.try_load().is_err());
        assert!(store.load().is_empty());
    }
}
