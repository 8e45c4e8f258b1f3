//! Taking in one received TLSRPT report (RFC 8460 §5), whichever channel
//! brought it: decoded within the size limit, refused unless it is about a
//! configured domain, stored in the spool once, and added to the tally
//! once. The channels (HTTPS, Maildir) hand over the report's bytes and
//! answer the sender by what [`Ingestor::ingest`] says.
//!
//! What is counted survives restarts: [`Ingestor::open`] rebuilds the
//! tally from the spool, and a report is added to the tally only after it
//! is stored durably, so a crash between the two counts it at the next
//! start, once.

use super::recent::{Limits, RecentReports};
use super::spool::{Rebuilt, Spool, SpoolError, Stored};
use super::tally::Tally;
use crate::rfc::rfc8460::report::{Report, ReportError};
use crate::rfc::rfc8460::report_body::decode_report;
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError, RwLock};

/// How a report reached the exporter (RFC 8460 §3: `https` or `mailto`
/// in the `rua` of the TLSRPT record). The label value of ingest errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Channel {
    /// `POST` to the reports listener (RFC 8460 §5.4).
    Https,
    /// A mail delivered to the Maildir (RFC 8460 §5.3).
    Maildir,
}

impl Channel {
    /// Every channel, in label order.
    pub const ALL: [Channel; 2] = [Channel::Https, Channel::Maildir];

    /// `https` or `maildir`.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Https => "https",
            Channel::Maildir => "maildir",
        }
    }
}

/// A report taken in.
#[derive(Debug)]
pub enum Ingested {
    /// A new report, now stored durably and counted.
    New {
        /// The report.
        report: Box<Report>,
        /// Its file name in the spool.
        file: String,
    },
    /// The same report (organization and report id, RFC 8460 §5.6) was
    /// stored before: counted once, as then.
    Duplicate {
        /// The report.
        report: Box<Report>,
        /// The file name it is stored under.
        file: String,
    },
}

/// Why a report was not taken in. [`IngestError::cause`] is the bounded
/// label of `mtasts_tlsrpt_ingest_errors_total`.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The bytes are not a usable report (RFC 8460 §4.4, §5.2).
    #[error(transparent)]
    Report(#[from] ReportError),
    /// None of the report's policies is about a configured domain: the
    /// exporter is no general report sink.
    #[error("report {report_id:?} of {organization:?} is about no configured domain")]
    UnknownDomain {
        /// The reporting organization (capped by the parser).
        organization: String,
        /// The report id (capped by the parser).
        report_id: String,
    },
    /// The report cannot be what it claims (RFC 8460 §4.4 describes one
    /// day's sessions of one sender): its period ends in the future or
    /// before the retention, or it counts more sessions than any sender
    /// opens. Counted, it would hide a sender gone silent or every real
    /// failure ratio for as long as it is kept.
    #[error("report {report_id:?} of {organization:?}: {problem}")]
    OutOfRange {
        /// The reporting organization (capped by the parser).
        organization: String,
        /// The report id (capped by the parser).
        report_id: String,
        /// What is out of range.
        problem: String,
    },
    /// The spool could not store it: the sender should try again later.
    #[error("storing the report: {0}")]
    Storage(#[from] SpoolError),
}

impl IngestError {
    /// The ingest-error cause: `gzip`, `too-large`, `json`,
    /// `unknown-domain`, `out-of-range` or `storage`.
    pub fn cause(&self) -> &'static str {
        match self {
            IngestError::Report(error) => error.cause(),
            IngestError::UnknownDomain { .. } => "unknown-domain",
            IngestError::OutOfRange { .. } => "out-of-range",
            IngestError::Storage(_) => "storage",
        }
    }

    /// Whether the same bytes may be taken in later (the fault is ours,
    /// not the report's): an HTTPS sender gets a 5xx answer and retries,
    /// a mail stays where it is for the next pass.
    pub fn is_temporary(&self) -> bool {
        matches!(self, IngestError::Storage(_))
    }
}

/// How far in the future a report's period may end: a sender's clock may
/// be off, a report of days to come is not a report.
pub const MAX_END_AHEAD_SECONDS: i64 = 86_400;

/// The most sessions one policy of one report may count (successful,
/// failed, or in one failure detail): far beyond what any sender opens to
/// one domain in a day, far below where the counters lose precision.
pub const MAX_SESSIONS_PER_POLICY: u64 = 1_000_000_000_000;

/// The Unix time now, in seconds.
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Why `report` cannot be what it claims at `now` with `retention_days`.
fn out_of_range(report: &Report, now: i64, retention_days: u32) -> Option<String> {
    let end = report.date_range.end;
    if end > now.saturating_add(MAX_END_AHEAD_SECONDS) {
        return Some(format!(
            "its period ends in the future ({} s from now)",
            end.saturating_sub(now)
        ));
    }
    if end < now.saturating_sub(i64::from(retention_days) * 86_400) {
        return Some(format!(
            "its period ended more than reports.retention_days ({retention_days}) ago"
        ));
    }
    let implausible = report.policies.iter().any(|policy| {
        policy.successful_sessions > MAX_SESSIONS_PER_POLICY
            || policy.failed_sessions > MAX_SESSIONS_PER_POLICY
            || policy
                .failure_details
                .iter()
                .any(|detail| detail.failed_session_count > MAX_SESSIONS_PER_POLICY)
    });
    implausible.then(|| format!("a policy counts more than {MAX_SESSIONS_PER_POLICY} sessions"))
}

/// What the exporter keeps of recent reports for its pages: each
/// sender's latest report per domain and the five latest, with five
/// failure details each. Bounded per domain, so that a fleet whose every
/// domain reports costs a few KiB per domain (README "TLSRPT reports").
pub const PAGE_LIMITS: Limits = Limits {
    reports_per_domain: 5,
    senders_per_domain: 10,
    details_per_report: 5,
    max_domains: super::recent::MAX_DOMAINS,
};

/// What [`Ingestor::rebuild`] found, for the log.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RebuildSummary {
    /// Reports counted.
    pub reports: u64,
    /// Stored reports about no configured domain (kept, not counted).
    pub not_included: u64,
    /// Reports removed because they ended before the retention.
    pub expired: u64,
    /// Files that do not decode (kept, not counted).
    pub unusable: u64,
    /// The first of them, with the problem.
    pub unusable_named: Vec<(std::path::PathBuf, String)>,
}

/// The ingest state of one spool: the configured domains, the tally of
/// stored reports, and the counts of duplicates and errors.
#[derive(Debug)]
pub struct Ingestor {
    spool: Spool,
    decompressed_limit: usize,
    retention_days: u32,
    domains: RwLock<HashSet<String>>,
    tally: Mutex<Tally>,
    recent: Mutex<RecentReports>,
    /// Held shared while a report is stored and counted, and exclusively
    /// while the tally is rebuilt, so that no report is counted by both.
    gate: RwLock<()>,
    duplicates: AtomicU64,
    errors: Mutex<BTreeMap<(Channel, &'static str), u64>>,
}

impl Ingestor {
    /// Opens the spool under `storage_path` and counts what it holds about
    /// `domains` (names in the form of [`crate::config::DomainConfig`]:
    /// ASCII, lower case, no trailing dot), removing reports that ended
    /// more than `retention_days` before `now` (Unix seconds).
    pub fn open(
        storage_path: &Path,
        decompressed_limit: usize,
        retention_days: u32,
        domains: HashSet<String>,
        now: i64,
    ) -> Result<(Ingestor, RebuildSummary), SpoolError> {
        let ingestor =
            Ingestor::open_unread(storage_path, decompressed_limit, retention_days, domains)?;
        let summary = ingestor.rebuild(now)?;
        Ok((ingestor, summary))
    }

    /// Opens the spool under `storage_path` (creating it, removing a
    /// crash's temporary files) without reading what it holds: the counts
    /// start empty until [`Ingestor::rebuild`], which the exporter runs
    /// off the async threads at start-up (500,000 reports take about a
    /// minute). A report taken in before the rebuild is counted by it
    /// (the rebuild replaces the counts), one during it waits for it.
    pub fn open_unread(
        storage_path: &Path,
        decompressed_limit: usize,
        retention_days: u32,
        domains: HashSet<String>,
    ) -> Result<Ingestor, SpoolError> {
        Ok(Ingestor {
            spool: Spool::open(storage_path, decompressed_limit)?,
            decompressed_limit,
            retention_days,
            domains: RwLock::new(domains),
            tally: Mutex::new(Tally::default()),
            recent: Mutex::new(RecentReports::new(PAGE_LIMITS)),
            gate: RwLock::new(()),
            duplicates: AtomicU64::new(0),
            errors: Mutex::new(BTreeMap::new()),
        })
    }

    /// Takes in a report's bytes as received (gzip or JSON, RFC 8460
    /// §5.2): decodes them, refuses a report about no configured domain,
    /// stores it durably unless stored before, and counts it once. Blocks
    /// on the file system (fsync): call it off the async runtime's
    /// threads. Every error is counted under `channel` too.
    pub fn ingest(&self, raw: &[u8], channel: Channel) -> Result<Ingested, IngestError> {
        self.ingest_at(raw, channel, unix_now())
    }

    /// [`Ingestor::ingest`] at `now` (Unix seconds): reports whose period
    /// ends more than [`MAX_END_AHEAD_SECONDS`] after it, or before the
    /// retention, are refused (`out-of-range`).
    pub fn ingest_at(
        &self,
        raw: &[u8],
        channel: Channel,
        now: i64,
    ) -> Result<Ingested, IngestError> {
        let taken = self.take(raw, now);
        if let Err(error) = &taken {
            self.count_error(channel, error.cause());
        }
        taken
    }

    fn take(&self, raw: &[u8], now: i64) -> Result<Ingested, IngestError> {
        let report = decode_report(raw, self.decompressed_limit)?;
        if let Some(problem) = out_of_range(&report, now, self.retention_days) {
            return Err(IngestError::OutOfRange {
                organization: report.organization_name,
                report_id: report.report_id,
                problem,
            });
        }
        let about_ours = {
            let domains = self.domains.read().unwrap_or_else(PoisonError::into_inner);
            report
                .policies
                .iter()
                .any(|policy| domains.contains(&policy.policy_domain))
        };
        if !about_ours {
            return Err(IngestError::UnknownDomain {
                organization: report.organization_name,
                report_id: report.report_id,
            });
        }
        let _shared = self.gate.read().unwrap_or_else(PoisonError::into_inner);
        match self.spool.store(&report, raw)? {
            Stored::New(file) => {
                {
                    let domains = self.domains.read().unwrap_or_else(PoisonError::into_inner);
                    self.tally
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .add(&report, |domain| domains.contains(domain));
                    self.recent
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .add(&report, |domain| domains.contains(domain));
                }
                Ok(Ingested::New {
                    report: Box::new(report),
                    file,
                })
            }
            Stored::Duplicate(file) => {
                self.duplicates.fetch_add(1, Ordering::Relaxed);
                Ok(Ingested::Duplicate {
                    report: Box::new(report),
                    file,
                })
            }
        }
    }

    /// Counts an error a channel found before the report reached
    /// [`Ingestor::ingest`] (e.g. `too-large` from a request's length,
    /// `mime` or `dkim` of a mail). `cause` must be one of a closed set of
    /// literals: it is a label value.
    pub fn count_error(&self, channel: Channel, cause: &'static str) {
        let mut errors = self.errors.lock().unwrap_or_else(PoisonError::into_inner);
        let slot = errors.entry((channel, cause)).or_default();
        *slot = slot.saturating_add(1);
    }

    /// Takes up a new set of configured domains; when it differs, the tally
    /// is rebuilt from the spool (reports stored earlier about a newly
    /// added domain count at once; a removed domain's counts go). Blocks
    /// on the file system for as long as reading the spool takes.
    pub fn set_domains(
        &self,
        domains: HashSet<String>,
        now: i64,
    ) -> Result<Option<RebuildSummary>, SpoolError> {
        {
            let mut current = self.domains.write().unwrap_or_else(PoisonError::into_inner);
            if *current == domains {
                return Ok(None);
            }
            *current = domains;
        }
        self.rebuild(now).map(Some)
    }

    /// Counts the spool's reports afresh (see [`Spool::rebuild`]), while
    /// no report is being taken in.
    pub fn rebuild(&self, now: i64) -> Result<RebuildSummary, SpoolError> {
        let _exclusive = self.gate.write().unwrap_or_else(PoisonError::into_inner);
        let domains = self
            .domains
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let Rebuilt {
            tally,
            reports,
            not_included,
            expired,
            unusable_count,
            unusable,
        } = {
            let mut recent = RecentReports::new(PAGE_LIMITS);
            let rebuilt = self.spool.rebuild_visiting(
                now,
                self.retention_days,
                |domain| domains.contains(domain),
                |report| {
                    recent.add(report, |domain| domains.contains(domain));
                },
            )?;
            *self.recent.lock().unwrap_or_else(PoisonError::into_inner) = recent;
            rebuilt
        };
        *self.tally.lock().unwrap_or_else(PoisonError::into_inner) = tally;
        Ok(RebuildSummary {
            reports,
            not_included,
            expired,
            unusable: unusable_count,
            unusable_named: unusable,
        })
    }

    /// Runs `read` on the tally of the stored reports (e.g. to render the
    /// metrics), under its lock: keep it short.
    pub fn with_tally<T>(&self, read: impl FnOnce(&Tally) -> T) -> T {
        read(&self.tally.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Runs `read` on the summaries of recent reports (for the pages),
    /// under their lock: keep it short.
    pub fn with_recent<T>(&self, read: impl FnOnce(&RecentReports) -> T) -> T {
        read(&self.recent.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Reports received again after they were stored (RFC 8460 §5.6).
    pub fn duplicates(&self) -> u64 {
        self.duplicates.load(Ordering::Relaxed)
    }

    /// Errors so far by channel and cause, in label order.
    pub fn errors(&self) -> Vec<((Channel, &'static str), u64)> {
        self.errors
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(key, count)| (*key, *count))
            .collect()
    }

    /// The spool it stores into.
    pub fn spool(&self) -> &Spool {
        &self.spool
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rfc::rfc8460::report::PolicyType;
    use crate::rfc::rfc8460::report::ReportResultType;
    use crate::tlsrpt::tally::SessionResult;

    const NOW: i64 = 1_796_169_600; // 2026-12-01T00:00:00Z

    fn report(organization: &str, id: &str, domain: &str) -> Vec<u8> {
        format!(
            r#"{{"organization-name":"{organization}","report-id":"{id}",
              "date-range":{{"start-datetime":"2026-11-30T00:00:00Z","end-datetime":"2026-11-30T23:59:59Z"}},
              "policies":[{{"policy":{{"policy-type":"sts","policy-domain":"{domain}"}},
                "summary":{{"total-successful-session-count":7,"total-failure-session-count":2}},
                "failure-details":[{{"result-type":"certificate-expired","failed-session-count":2}}]}}]}}"#
        )
        .into_bytes()
    }

    fn domains(names: &[&str]) -> HashSet<String> {
        names.iter().map(|name| name.to_string()).collect()
    }

    fn open(dir: &Path, names: &[&str]) -> Ingestor {
        match Ingestor::open(dir, 1 << 20, 400, domains(names), NOW) {
            Ok((ingestor, _)) => ingestor,
            Err(error) => panic!("open: {error}"),
        }
    }

    fn sessions(ingestor: &Ingestor, domain: &str, organization: &str) -> Vec<(String, u64)> {
        ingestor.with_tally(|tally| {
            tally
                .domains
                .get(domain)
                .and_then(|senders| senders.get(organization))
                .map(|counts| {
                    counts
                        .sessions
                        .iter()
                        .map(|((_, result), n)| (result.as_str().to_string(), *n))
                        .collect()
                })
                .unwrap_or_default()
        })
    }

    #[test]
    fn a_report_is_counted_once_across_retries_and_restarts() {
        let Ok(dir) = tempfile::tempdir() else {
            panic!("tempdir")
        };
        let ingestor = open(dir.path(), &["example.com"]);
        let raw = report("Org", "r1", "example.com");
        assert!(matches!(
            ingestor.ingest_at(&raw, Channel::Https, NOW),
            Ok(Ingested::New { .. })
        ));
        assert!(matches!(
            ingestor.ingest_at(&raw, Channel::Maildir, NOW),
            Ok(Ingested::Duplicate { .. })
        ));
        assert_eq!(ingestor.duplicates(), 1);
        let expected = vec![
            ("success".to_string(), 7),
            ("certificate-expired".to_string(), 2),
        ];
        assert_eq!(sessions(&ingestor, "example.com", "Org"), expected);
        assert_eq!(
            ingestor.with_recent(|recent| recent.domain("example.com").map(|d| d.sessions())),
            Some((9, 2))
        );
        drop(ingestor);

        let restarted = open(dir.path(), &["example.com"]);
        assert_eq!(sessions(&restarted, "example.com", "Org"), expected);
        assert_eq!(
            restarted.with_recent(|recent| recent.domain("example.com").map(|d| d.sessions())),
            Some((9, 2)),
            "the pages' summaries are rebuilt from the spool too"
        );
        assert!(matches!(
            restarted.ingest_at(&raw, Channel::Https, NOW),
            Ok(Ingested::Duplicate { .. })
        ));
        assert_eq!(sessions(&restarted, "example.com", "Org"), expected);
    }

    #[test]
    fn refusals_are_classified_and_counted_by_channel() {
        let Ok(dir) = tempfile::tempdir() else {
            panic!("tempdir")
        };
        let ingestor = open(dir.path(), &["example.com"]);
        let elsewhere =
            ingestor.ingest_at(&report("Org", "r2", "other.example"), Channel::Https, NOW);
        assert!(
            matches!(&elsewhere, Err(error) if error.cause() == "unknown-domain" && !error.is_temporary()),
            "{elsewhere:?}"
        );
        let garbage = ingestor.ingest_at(b"{not json", Channel::Https, NOW);
        assert!(matches!(&garbage, Err(error) if error.cause() == "json"));
        let bad_gzip = ingestor.ingest_at(&[0x1f, 0x8b, 0, 1, 2], Channel::Maildir, NOW);
        assert!(matches!(&bad_gzip, Err(error) if error.cause() == "gzip"));
        ingestor.count_error(Channel::Maildir, "dkim");
        assert_eq!(
            ingestor.errors(),
            vec![
                ((Channel::Https, "json"), 1),
                ((Channel::Https, "unknown-domain"), 1),
                ((Channel::Maildir, "dkim"), 1),
                ((Channel::Maildir, "gzip"), 1),
            ]
        );
        assert!(
            ingestor.with_tally(|tally| tally.domains.is_empty()),
            "nothing refused is counted"
        );
    }

    #[test]
    fn a_domain_added_later_counts_the_reports_already_stored() {
        let Ok(dir) = tempfile::tempdir() else {
            panic!("tempdir")
        };
        let ingestor = open(dir.path(), &["a.example", "b.example"]);
        let both = r#"{"organization-name":"Org","report-id":"r3",
              "date-range":{"start-datetime":"2026-11-30T00:00:00Z","end-datetime":"2026-11-30T23:59:59Z"},
              "policies":[
                {"policy":{"policy-type":"sts","policy-domain":"a.example"},
                  "summary":{"total-successful-session-count":1,"total-failure-session-count":0}},
                {"policy":{"policy-type":"sts","policy-domain":"b.example"},
                  "summary":{"total-successful-session-count":0,"total-failure-session-count":4},
                  "failure-details":[{"result-type":"validation-failure","failed-session-count":4}]}]}"#;
        assert!(ingestor
            .ingest_at(both.as_bytes(), Channel::Https, NOW)
            .is_ok());
        let Ok(Some(summary)) = ingestor.set_domains(domains(&["a.example"]), NOW) else {
            panic!("the domain set changed: a rebuild")
        };
        assert_eq!(summary.reports, 1);
        assert!(ingestor.with_tally(|tally| !tally.domains.contains_key("b.example")));
        assert!(matches!(
            ingestor.set_domains(domains(&["a.example"]), NOW),
            Ok(None)
        ));
        let Ok(Some(_)) = ingestor.set_domains(domains(&["a.example", "b.example"]), NOW) else {
            panic!("the domain set changed: a rebuild")
        };
        let failed = ingestor.with_tally(|tally| {
            tally.domains["b.example"].get("Org").map_or(0, |counts| {
                counts.sessions[&(
                    PolicyType::Sts,
                    SessionResult::Failure(ReportResultType::ValidationFailure),
                )]
            })
        });
        assert_eq!(failed, 4);
    }

    #[test]
    fn reports_that_cannot_be_what_they_claim_are_refused() {
        let Ok(dir) = tempfile::tempdir() else {
            panic!("tempdir")
        };
        let ingestor = open(dir.path(), &["example.com"]);
        let raw = report("Org", "r4", "example.com");
        let day_end = 1_796_083_199; // 2026-11-30T23:59:59Z, the report's end
                                     // A sender's clock a few hours ahead is fine; a report of days to
                                     // come, or one older than the retention (400 days), is not.
        for (now, refused) in [
            (day_end - 3 * 3600, false),
            (day_end - 3 * 86_400, true),
            (day_end + 401 * 86_400, true),
        ] {
            let taken = Ingestor::open(dir.path(), 1 << 20, 400, domains(&["example.com"]), now)
                .map(|(fresh, _)| fresh.ingest_at(&raw, Channel::Https, now));
            match taken {
                Ok(Err(error)) if refused => assert_eq!(error.cause(), "out-of-range"),
                Ok(Ok(_)) if !refused => {}
                other => panic!("at {now}: {other:?}"),
            }
        }
        let huge = String::from_utf8_lossy(&raw).replace(
            "\"total-successful-session-count\":7",
            "\"total-successful-session-count\":10000000000000000000",
        );
        let taken = ingestor.ingest_at(huge.as_bytes(), Channel::Https, NOW);
        assert!(
            matches!(&taken, Err(error) if error.cause() == "out-of-range"),
            "{taken:?}"
        );
        assert!(ingestor
            .errors()
            .contains(&((Channel::Https, "out-of-range"), 1)));
    }
}
