//! What the pages keep of each domain's latest probe: a short summary of
//! every domain, and the whole [`ProbeReport`] only where someone needs its
//! detail (issue 18: the whole report was about 1.9 KB of the 8–10 KB a
//! domain held at 100,000 domains).
//!
//! The whole report is kept for every domain that is not simply passing
//! (failing, with warnings or failures senders do not act on, or cut short
//! by a local error), and for the first [`PASSING_FULL_REPORTS`] passing
//! domains, so an exporter of up to that many domains keeps every report.
//! Past that, a passing domain keeps its summary: its verdict, when it was
//! probed, the mode in force, its earliest certificate expiry and its phase
//! timings, which is what the status page lists; its own page says that
//! the rest was not kept and how to see it (`mtasts-exporter check`).

use crate::report::{PhaseTiming, PolicySource, ProbeReport, Warning};
use crate::rfc::rfc8461::policy::Mode;
use crate::taxonomy::{Failure, LocalError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Passing domains whose whole latest report is kept beside their summary
/// (first come); every other domain's is kept whatever the number.
pub const PASSING_FULL_REPORTS: usize = 1_000;

/// A domain's latest probe as the pages keep it.
#[derive(Debug, Clone, PartialEq)]
pub struct LatestReport {
    /// Whether the domain passed ([`ProbeReport::success`]).
    pub success: bool,
    /// When the probe started, Unix seconds.
    pub timestamp: f64,
    /// How long the whole probe took.
    pub duration_seconds: f64,
    /// Per-phase timings, in the order the phases ran.
    pub phases: Vec<PhaseTiming>,
    /// Which policy the MX hosts were judged against (RFC 8461 §5.1).
    pub policy_source: PolicySource,
    /// The mode of that policy ([`ProbeReport::judged_mode`]).
    pub judged_mode: Option<Mode>,
    /// The earliest notAfter of the certificates seen, Unix seconds
    /// ([`ProbeReport::earliest_cert_expiry`]).
    pub earliest_cert_expiry: Option<i64>,
    /// The names of the MX hosts the probe found (RFC 8461 §4), so that
    /// what senders report about them (RFC 8460 `receiving-mx-hostname`)
    /// can be told apart from names a report makes up.
    pub mx_host_names: Box<[Box<str>]>,
    /// The whole report, when kept (see the module's documentation).
    pub full: Option<Box<ProbeReport>>,
}

impl LatestReport {
    /// The summary of `report`, with the whole report when `keep_full`.
    pub fn of(report: ProbeReport, keep_full: bool) -> LatestReport {
        let mut phases = report.phases.clone();
        phases.shrink_to_fit();
        LatestReport {
            success: report.success,
            timestamp: report.timestamp,
            duration_seconds: report.duration_seconds,
            phases,
            policy_source: report.policy_source,
            judged_mode: report.judged_mode(),
            earliest_cert_expiry: report.earliest_cert_expiry(),
            mx_host_names: report
                .mx_hosts
                .iter()
                .flatten()
                .map(|mx| Box::from(mx.host.as_str()))
                .collect(),
            full: keep_full.then(|| Box::new(report)),
        }
    }

    /// Whether the domain simply passes: passed, complete, and nothing to
    /// say (no warning, no failure). Only such a domain may go without its
    /// whole report.
    pub fn is_plain_pass(report: &ProbeReport) -> bool {
        report.success
            && report.is_complete()
            && report.warnings.is_empty()
            && report.failures.is_empty()
    }

    /// The local errors that kept phases from running (in phase order).
    pub fn local_errors(&self) -> impl Iterator<Item = &LocalError> {
        self.phases.iter().filter_map(|p| p.local_error.as_ref())
    }

    /// Whether every phase ran ([`ProbeReport::is_complete`]).
    pub fn is_complete(&self) -> bool {
        self.local_errors().next().is_none()
    }

    /// The warnings (none when only the summary is kept: it is kept only
    /// for a domain without any).
    pub fn warnings(&self) -> &[Warning] {
        self.full.as_deref().map_or(&[], |r| r.warnings.as_slice())
    }

    /// The failures (none when only the summary is kept, likewise).
    pub fn failures(&self) -> &[Failure] {
        self.full.as_deref().map_or(&[], |r| r.failures.as_slice())
    }
}

/// The latest report of every scheduled domain, by name; read through
/// [`std::ops::Deref`] as a map.
#[derive(Debug, Default)]
pub struct Latest {
    reports: HashMap<String, Arc<LatestReport>>,
    /// Passing domains whose whole report is kept.
    passing_full: usize,
}

impl std::ops::Deref for Latest {
    type Target = HashMap<String, Arc<LatestReport>>;

    fn deref(&self) -> &Self::Target {
        &self.reports
    }
}

impl Latest {
    /// Keeps `report` as the domain's latest, unless a local error cut it
    /// short and the domain has a report already: such a probe forms no
    /// verdict, so the metrics keep the previous one and the pages do too,
    /// and their counts agree. A domain with no earlier report shows the
    /// cut-short one ("cut short").
    pub fn keep(&mut self, report: ProbeReport) {
        if !report.is_complete() && self.reports.contains_key(&report.domain) {
            return;
        }
        let passing = LatestReport::is_plain_pass(&report);
        let had_passing_full = self
            .reports
            .get(&report.domain)
            .is_some_and(|old| old.full.as_deref().is_some_and(LatestReport::is_plain_pass));
        let keep_full = !passing || had_passing_full || self.passing_full < PASSING_FULL_REPORTS;
        match (had_passing_full, passing && keep_full) {
            (false, true) => self.passing_full += 1,
            (true, false) => self.passing_full -= 1,
            _ => {}
        }
        let domain = report.domain.clone();
        self.reports
            .insert(domain, Arc::new(LatestReport::of(report, keep_full)));
    }

    /// Forgets a domain no longer scheduled.
    pub fn remove(&mut self, domain: &str) {
        if let Some(old) = self.reports.remove(domain) {
            if old.full.as_deref().is_some_and(LatestReport::is_plain_pass) {
                self.passing_full -= 1;
            }
        }
        if self.reports.len() * 4 < self.reports.capacity() {
            self.reports.shrink_to_fit();
        }
    }

    /// Passing domains whose whole report is kept (at most
    /// [`PASSING_FULL_REPORTS`]).
    pub fn passing_full(&self) -> usize {
        self.passing_full
    }
}

/// [`Latest`] behind the lock the scheduler and the pages share.
pub type LatestReports = Mutex<Latest>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::taxonomy::{Phase, Reason, ResultType};

    fn passing(domain: &str, at: f64) -> ProbeReport {
        ProbeReport {
            success: true,
            ..ProbeReport::blank(domain, at)
        }
    }

    fn failing(domain: &str, at: f64) -> ProbeReport {
        let mut report = ProbeReport::blank(domain, at);
        report.failures.push(Failure::new(
            Phase::RecordLookup,
            ResultType::StsPolicyInvalid,
            Reason::NoMtaStsDnsTxtRecord,
            "no record",
        ));
        report
    }

    /// Past [`PASSING_FULL_REPORTS`] passing domains keep their summary
    /// only; failing ones keep their whole report whatever the number, and
    /// a passing domain that fails and passes again gives its place back.
    #[test]
    fn whole_reports_of_passing_domains_are_bounded() {
        let mut latest = Latest::default();
        let n = PASSING_FULL_REPORTS + 50;
        for i in 0..n {
            latest.keep(passing(&format!("p{i}.test"), 1.0));
            latest.keep(failing(&format!("f{i}.test"), 1.0));
        }
        let whole = |latest: &Latest, prefix: &str| {
            latest
                .iter()
                .filter(|(name, r)| name.starts_with(prefix) && r.full.is_some())
                .count()
        };
        assert_eq!(whole(&latest, "p"), PASSING_FULL_REPORTS);
        assert_eq!(whole(&latest, "f"), n);
        assert_eq!(latest.passing_full(), PASSING_FULL_REPORTS);
        // A summary says what the status page lists.
        let summary = &latest[&format!("p{}.test", n - 1)];
        assert!(summary.full.is_none());
        assert!(summary.success && summary.is_complete());
        assert!(summary.warnings().is_empty() && summary.failures().is_empty());
        // A kept domain probed again keeps its place.
        latest.keep(passing("p0.test", 2.0));
        assert!(latest["p0.test"].full.is_some());
        assert_eq!(latest.passing_full(), PASSING_FULL_REPORTS);
        // Failing, it is kept whole without a place; the place goes to the
        // next passing domain that comes.
        latest.keep(failing("p0.test", 3.0));
        assert_eq!(latest.passing_full(), PASSING_FULL_REPORTS - 1);
        let last = format!("p{}.test", n - 1);
        latest.keep(passing(&last, 3.0));
        assert!(latest[&last].full.is_some());
        assert_eq!(latest.passing_full(), PASSING_FULL_REPORTS);
        latest.remove(&last);
        assert_eq!(latest.passing_full(), PASSING_FULL_REPORTS - 1);
        assert!(!latest.contains_key(&last));
        latest.remove("f0.test");
        assert_eq!(latest.passing_full(), PASSING_FULL_REPORTS - 1);
    }
}
