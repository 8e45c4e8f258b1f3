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
    /// The spool could not store it: the sender should try again later.
    #[error("storing the report: {0}")]
    Storage(#[from] SpoolError),
}

impl IngestError {
    /// The ingest-error cause: `gzip`, `too-large`, `json`,
    /// `unknown-domain` or `storage`.
    pub fn cause(&self) -> &'static str {
        match self {
            IngestError::Report(error) => error.cause(),
            IngestError::UnknownDomain { .. } => "unknown-domain",
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
        let ingestor = Ingestor {
            spool: Spool::open(storage_path, decompressed_limit)?,
            decompressed_limit,
            retention_days,
            domains: RwLock::new(domains),
            tally: Mutex::new(Tally::default()),
            recent: Mutex::new(RecentReports::new(PAGE_LIMITS)),
            gate: RwLock::new(()),
            duplicates: AtomicU64::new(0),
            errors: Mutex::new(BTreeMap::new()),
        };
        let summary = ingestor.rebuild(now)?;
        Ok((ingestor, summary))
    }

    /// Takes in a report's bytes as received (gzip or JSON, RFC 8460
    /// §5.2): decodes them, refuses a report about no configured domain,
    /// stores it durably unless stored before, and counts it once. Blocks
    /// on the file system (fsync): call it off the async runtime's
    /// threads. Every error is counted under `channel` too.
    pub fn ingest(&self, raw: &[u8], channel: Channel) -> Result<Ingested, IngestError> {
        let taken = self.take(raw);
        if let Err(error) = &taken {
            self.count_error(channel, error.cause());
        }
        taken
    }

    fn take(&self, raw: &[u8]) -> Result<Ingested, IngestError> {
        let report = decode_report(raw, self.decompressed_limit)?;
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
            ingestor.ingest(&raw, Channel::Https),
            Ok(Ingested::New { .. })
        ));
        assert!(matches!(
            ingestor.ingest(&raw, Channel::Maildir),
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
            restarted.ingest(&raw, Channel::Https),
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
        let elsewhere = ingestor.ingest(&report("Org", "r2", "other.example"), Channel::Https);
        assert!(
            matches!(&elsewhere, Err(error) if error.cause() == "unknown-domain" && !error.is_temporary()),
            "{elsewhere:?}"
        );
        let garbage = ingestor.ingest(b"{not json", Channel::Https);
        assert!(matches!(&garbage, Err(error) if error.cause() == "json"));
        let bad_gzip = ingestor.ingest(&[0x1f, 0x8b, 0, 1, 2], Channel::Maildir);
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
        assert!(ingestor.ingest(both.as_bytes(), Channel::Https).is_ok());
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
            tally.domains["b.example"]["Org"].sessions[&(
                PolicyType::Sts,
                SessionResult::Failure(ReportResultType::ValidationFailure),
            )]
        });
        assert_eq!(failed, 4);
    }
}
