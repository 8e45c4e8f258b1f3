//! The spool of received TLSRPT reports: each accepted report's bytes, as
//! received (gzip or JSON, RFC 8460 §5.2), stored once under a key derived
//! from its organization and report id (RFC 8460 §5.6: the JSON is
//! authoritative for them), in `<storage.path>/tlsrpt/`.
//!
//! - Stored once: a report is written to a temporary file, fsynced, then
//!   hard-linked to its key's name, which fails when the name exists
//!   (create-new), so the same report arriving twice (both channels, a
//!   sender's retry, two requests at once) is stored and counted once.
//! - Crash-safe: only complete, fsynced files get a name under `reports/`,
//!   and the directory is fsynced before [`Spool::store`] returns, so a
//!   crash leaves no half report that counts; temporary files left by a
//!   crash are removed by [`Spool::open`].
//! - Append-only: nothing is rewritten; [`Spool::rebuild`] removes reports
//!   whose time frame ended more than the retention ago.
//!
//! One exporter per spool directory.

use super::tally::Tally;
use crate::rfc::rfc8460::report::Report;
use crate::rfc::rfc8460::report_body::decode_report;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The spool's directory inside `storage.path`.
pub const SPOOL_DIR: &str = "tlsrpt";
/// Default retention of stored reports, in days.
pub const DEFAULT_RETENTION_DAYS: u32 = 400;
/// The most unusable files [`Rebuilt::unusable`] names.
pub const MAX_UNUSABLE_NAMED: usize = 20;
/// Names tried per key when different reports' keys collide.
const MAX_KEY_SUFFIXES: u32 = 8;

/// Why the spool could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// A file system operation failed.
    #[error("{operation} {path}: {source}")]
    Io {
        /// What was being done.
        operation: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Every name for this report's key holds another report (a run of
    /// hash collisions: not expected outside an attack).
    #[error("no free name for the report's key {key}")]
    KeyCollisions {
        /// The key.
        key: String,
    },
}

/// What [`Spool::store`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// The report is new, and now stored durably under this file name.
    New(String),
    /// The same report (organization and report id) was stored before.
    Duplicate(String),
}

/// What [`Spool::rebuild`] found.
#[derive(Debug, Default)]
pub struct Rebuilt {
    /// The stored reports, added up.
    pub tally: Tally,
    /// Reports read and counted in the tally.
    pub reports: u64,
    /// Reports read that are about no included domain.
    pub not_included: u64,
    /// Reports removed because their time frame ended before the retention.
    pub expired: u64,
    /// Files that did not decode as reports (skipped, left in place).
    pub unusable_count: u64,
    /// The first [`MAX_UNUSABLE_NAMED`] of them, with the problem.
    pub unusable: Vec<(PathBuf, String)>,
}

/// The report spool in one directory.
#[derive(Debug)]
pub struct Spool {
    reports: PathBuf,
    tmp: PathBuf,
    decompressed_limit: usize,
    sequence: AtomicU64,
}

/// The key of a report: 32 hex digits of the FNV-1a 128-bit hash of its
/// organization name and report id (a 0xFF byte, never in UTF-8, between
/// them). Stable across versions and platforms; a collision between two
/// different reports is caught by comparing what is stored.
pub fn report_key(organization: &str, report_id: &str) -> String {
    let bytes = organization
        .as_bytes()
        .iter()
        .chain(&[0xff])
        .chain(report_id.as_bytes());
    format!("{:032x}", fnv1a_128(bytes.copied()))
}

/// FNV-1a, 128 bits.
fn fnv1a_128(bytes: impl Iterator<Item = u8>) -> u128 {
    const OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;
    bytes.fold(OFFSET, |hash, byte| {
        (hash ^ u128::from(byte)).wrapping_mul(PRIME)
    })
}

fn io<'a>(
    operation: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> SpoolError + 'a {
    move |source| SpoolError::Io {
        operation,
        path: path.to_path_buf(),
        source,
    }
}

/// Fsyncs a directory, so the names in it survive a crash.
fn sync_dir(dir: &Path) -> Result<(), SpoolError> {
    File::open(dir)
        .and_then(|dir| dir.sync_all())
        .map_err(io("fsync", dir))
}

impl Spool {
    /// Opens (and creates) the spool under `storage_path`, removing the
    /// temporary files a crash left. Reports over `decompressed_limit`
    /// bytes of JSON are not read back.
    pub fn open(storage_path: &Path, decompressed_limit: usize) -> Result<Spool, SpoolError> {
        let root = storage_path.join(SPOOL_DIR);
        let reports = root.join("reports");
        let tmp = root.join("tmp");
        for dir in [&reports, &tmp] {
            fs::create_dir_all(dir).map_err(io("create", dir))?;
        }
        for entry in fs::read_dir(&tmp).map_err(io("read", &tmp))? {
            let path = entry.map_err(io("read", &tmp))?.path();
            fs::remove_file(&path).map_err(io("remove", &path))?;
        }
        Ok(Spool {
            reports,
            tmp,
            decompressed_limit,
            sequence: AtomicU64::new(0),
        })
    }

    /// The directory holding the stored reports.
    pub fn reports_dir(&self) -> &Path {
        &self.reports
    }

    /// Stores `raw`, the bytes `report` was decoded from, unless the same
    /// report (organization and report id) is stored already. Returns once
    /// the file and its name are on disk (fsynced).
    pub fn store(&self, report: &Report, raw: &[u8]) -> Result<Stored, SpoolError> {
        let key = report_key(&report.organization_name, &report.report_id);
        let sequence = self.sequence.fetch_add(1, Ordering::Relaxed);
        let tmp = self
            .tmp
            .join(format!("{key}.{}.{sequence}", std::process::id()));
        let written = write_synced(&tmp, raw);
        let stored = written.and_then(|()| self.link(&key, &tmp, report));
        // The temporary name goes whatever happened; the linked name stays.
        let removed = fs::remove_file(&tmp).map_err(io("remove", &tmp));
        let stored = stored?;
        removed?;
        if let Stored::New(_) = stored {
            sync_dir(&self.reports)?;
        }
        Ok(stored)
    }

    /// Gives the written temporary file the first free name of `key`, or
    /// finds the same report under one.
    fn link(&self, key: &str, tmp: &Path, report: &Report) -> Result<Stored, SpoolError> {
        for suffix in 0..MAX_KEY_SUFFIXES {
            let name = match suffix {
                0 => format!("{key}.report"),
                n => format!("{key}-{n}.report"),
            };
            let path = self.reports.join(&name);
            match fs::hard_link(tmp, &path) {
                Ok(()) => return Ok(Stored::New(name)),
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                    match self.read(&path) {
                        Ok(stored)
                            if stored.organization_name == report.organization_name
                                && stored.report_id == report.report_id =>
                        {
                            return Ok(Stored::Duplicate(name));
                        }
                        // Another report under this key, or a file that no
                        // longer reads: try the next name.
                        _ => continue,
                    }
                }
                Err(error) => return Err(io("link", &path)(error)),
            }
        }
        Err(SpoolError::KeyCollisions {
            key: key.to_string(),
        })
    }

    /// Reads and decodes one stored report.
    fn read(&self, path: &Path) -> Result<Report, String> {
        let file = File::open(path).map_err(|error| error.to_string())?;
        let mut raw = Vec::new();
        // Stored bodies were accepted under the limit: a larger file is not one.
        let cap = u64::try_from(self.decompressed_limit)
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        file.take(cap)
            .read_to_end(&mut raw)
            .map_err(|error| error.to_string())?;
        if raw.len() > self.decompressed_limit {
            return Err(format!("larger than {} bytes", self.decompressed_limit));
        }
        decode_report(&raw, self.decompressed_limit).map_err(|error| error.to_string())
    }

    /// Reads every stored report and adds up those whose `policy-domain`
    /// `include` accepts (RFC 8460 §4.4), so that a restart loses nothing
    /// and counts nothing twice. Reports whose time frame ended more than
    /// `retention_days` before `now` (Unix seconds) are removed instead.
    /// Files that do not decode are skipped and named.
    pub fn rebuild(
        &self,
        now: i64,
        retention_days: u32,
        include: impl Fn(&str) -> bool,
    ) -> Result<Rebuilt, SpoolError> {
        self.rebuild_visiting(now, retention_days, include, |_| {})
    }

    /// [`Spool::rebuild`], also handing each counted report to `visit`
    /// (e.g. to summarise the recent ones for the pages).
    pub fn rebuild_visiting(
        &self,
        now: i64,
        retention_days: u32,
        include: impl Fn(&str) -> bool,
        mut visit: impl FnMut(&Report),
    ) -> Result<Rebuilt, SpoolError> {
        let oldest_end = now.saturating_sub(i64::from(retention_days) * 86_400);
        let mut rebuilt = Rebuilt::default();
        // Streamed, not listed first: the counts do not depend on the order.
        for entry in fs::read_dir(&self.reports).map_err(io("read", &self.reports))? {
            let path = entry.map_err(io("read", &self.reports))?.path();
            let report = match self.read(&path) {
                Ok(report) => report,
                Err(problem) => {
                    rebuilt.unusable_count += 1;
                    if rebuilt.unusable.len() < MAX_UNUSABLE_NAMED {
                        rebuilt.unusable.push((path, problem));
                    }
                    continue;
                }
            };
            if report.date_range.end < oldest_end {
                fs::remove_file(&path).map_err(io("remove", &path))?;
                rebuilt.expired += 1;
                continue;
            }
            if rebuilt.tally.add(&report, &include) {
                rebuilt.reports += 1;
                visit(&report);
            } else {
                rebuilt.not_included += 1;
            }
        }
        if rebuilt.expired > 0 {
            sync_dir(&self.reports)?;
        }
        Ok(rebuilt)
    }
}

/// A report read back from the spool by [`Spool::reports`].
#[derive(Debug, Clone)]
pub struct StoredReport {
    /// Its file name under the spool's `reports/` directory.
    pub name: String,
    /// When it was stored (the file's modification time), Unix seconds.
    pub stored_at: i64,
    /// The report, decoded.
    pub report: Report,
}

/// A stored file that did not read back as a report, with the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnusableFile {
    /// The file.
    pub path: PathBuf,
    /// Why it is unusable (the decoder's or the file system's words).
    pub problem: String,
}

/// A spool opened for reading only ([`Spool::open_read_only`]): it can
/// list and read the stored reports, nothing else.
#[derive(Debug)]
pub struct SpoolReader(Spool);

impl SpoolReader {
    /// The directory holding the stored reports.
    pub fn reports_dir(&self) -> &Path {
        self.0.reports_dir()
    }

    /// Every stored report, as [`Spool::reports`].
    pub fn reports(
        &self,
    ) -> Result<impl Iterator<Item = Result<StoredReport, UnusableFile>> + '_, SpoolError> {
        self.0.reports()
    }
}

impl Spool {
    /// Opens the spool under `storage_path` for reading only: nothing is
    /// created, removed or written, so it can be read while the exporter
    /// runs and writes to it. An error when its `reports/` directory is
    /// not there or cannot be read.
    pub fn open_read_only(
        storage_path: &Path,
        decompressed_limit: usize,
    ) -> Result<SpoolReader, SpoolError> {
        let root = storage_path.join(SPOOL_DIR);
        let reports = root.join("reports");
        fs::read_dir(&reports).map_err(io("read", &reports))?;
        Ok(SpoolReader(Spool {
            reports,
            tmp: root.join("tmp"),
            decompressed_limit,
            sequence: AtomicU64::new(0),
        }))
    }

    /// Every stored report in the order they were stored (file time, then
    /// name), each decoded when the iterator reaches it, so memory holds
    /// one report and the list of names. Reads only: a file removed
    /// meanwhile (the exporter's retention) is skipped; one that does not
    /// read back is an [`UnusableFile`] item.
    pub fn reports(
        &self,
    ) -> Result<impl Iterator<Item = Result<StoredReport, UnusableFile>> + '_, SpoolError> {
        let mut names: Vec<(std::time::SystemTime, std::ffi::OsString)> = Vec::new();
        for entry in fs::read_dir(&self.reports).map_err(io("read", &self.reports))? {
            let entry = entry.map_err(io("read", &self.reports))?;
            let modified = match entry.metadata() {
                Ok(metadata) => metadata.modified().unwrap_or(std::time::UNIX_EPOCH),
                // Gone since the listing: removed by the retention.
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
                Err(_) => std::time::UNIX_EPOCH,
            };
            names.push((modified, entry.file_name()));
        }
        names.sort_unstable();
        Ok(names.into_iter().filter_map(move |(modified, name)| {
            let path = self.reports.join(&name);
            match self.read(&path) {
                Ok(report) => Some(Ok(StoredReport {
                    name: name.to_string_lossy().into_owned(),
                    stored_at: unix_seconds(modified),
                    report,
                })),
                Err(_) if !path.exists() => None,
                Err(problem) => Some(Err(UnusableFile { path, problem })),
            }
        }))
    }
}

/// A file time as Unix seconds (negative before 1970).
fn unix_seconds(time: std::time::SystemTime) -> i64 {
    match time.duration_since(std::time::UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// Writes `bytes` to a new file at `path` and fsyncs it.
fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), SpoolError> {
    let mut file = File::options()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(io("create", path))?;
    file.write_all(bytes).map_err(io("write", path))?;
    file.sync_all().map_err(io("fsync", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stable_and_separate_their_parts() {
        // Fixed values: a key must not change between versions, or a
        // restart would count stored reports again.
        assert_eq!(
            fnv1a_128(b"a".iter().copied()),
            0xd228cb696f1a8caf78912b704e4a8964,
            "the published FNV-1a 128 value of \"a\""
        );
        assert_eq!(report_key("", ""), "d228cb68f51a8caf78912b704e49f346");
        assert_eq!(report_key("a", "bc"), report_key("a", "bc"));
        assert_ne!(report_key("a", "bc"), report_key("ab", "c"));
        assert_eq!(report_key("Google Inc.", "x").len(), 32);
    }
}
