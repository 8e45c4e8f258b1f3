//! The status page's model, apart from its HTML: each scheduled domain's
//! status from its latest report, the counts of the page's header, and the
//! filter, order and paging of the query string
//! (`/?status=failing&q=exa&page=2`), so that a fleet of 10,000 domains is
//! read one page at a time, also with JavaScript off.

use crate::latest::LatestReport;
use crate::report::{CertThresholds, ExpiryLevel, MxHostReport, ProbeReport};
use crate::taxonomy::{Failure, Phase};
use std::collections::HashMap;
use std::sync::Arc;

/// Rows on one page of the status page.
pub(super) const PAGE_SIZE: usize = 100;

/// Characters of the name filter kept: a domain name has at most 253.
pub(super) const MAX_FILTER_CHARS: usize = 253;

/// Where a domain stands, by its latest report; the page lists them in
/// this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Status {
    /// The last probe failed the domain (`mtasts_probe_success` 0).
    Failing,
    /// The domain's only probe so far was cut short by the exporter's own
    /// shortage (a local error): it forms no verdict. A later cut-short
    /// probe does not replace a complete report (the scheduler keeps it, as
    /// the metrics keep the previous verdict).
    Incomplete,
    /// The domain passes, with warnings or with failures senders do not
    /// act on (mode `none`).
    Warning,
    /// The domain passes, with nothing to say.
    Ok,
    /// Not probed since it was configured (or since the exporter started).
    NotProbed,
}

impl Status {
    /// The value in the query string and the CSS class.
    pub(super) fn key(self) -> &'static str {
        match self {
            Status::Failing => "failing",
            Status::Incomplete => "incomplete",
            Status::Warning => "warning",
            Status::Ok => "ok",
            Status::NotProbed => "not-probed",
        }
    }

    /// In words, for a row's badge.
    pub(super) fn word(self) -> &'static str {
        match self {
            Status::Failing => "failing",
            Status::Incomplete => "incomplete",
            Status::Warning => "warnings",
            Status::Ok => "ok",
            Status::NotProbed => "not probed yet",
        }
    }

    /// Of a domain with latest report `report` (`None`: not probed yet).
    pub(super) fn of(report: Option<&ProbeReport>) -> Status {
        match report {
            None => Status::NotProbed,
            Some(r) if !r.is_complete() => Status::Incomplete,
            Some(r) if !r.success => Status::Failing,
            Some(r) if !r.warnings.is_empty() || !r.failures.is_empty() => Status::Warning,
            Some(_) => Status::Ok,
        }
    }

    /// Of a domain with latest report `latest` as the pages keep it: by its
    /// whole report when kept, else by its summary (kept alone only for a
    /// domain that simply passes).
    pub(super) fn of_latest(latest: Option<&LatestReport>) -> Status {
        match latest {
            None => Status::NotProbed,
            Some(LatestReport {
                full: Some(report), ..
            }) => Status::of(Some(report)),
            Some(l) if !l.is_complete() => Status::Incomplete,
            Some(l) if !l.success => Status::Failing,
            Some(_) => Status::Ok,
        }
    }
}

/// One scheduled domain and what its latest report says.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    /// The domain (ASCII).
    pub(super) name: String,
    /// Its latest report.
    pub(super) report: Option<Arc<LatestReport>>,
    /// Its status.
    pub(super) status: Status,
    /// Its earliest certificate expiry and where that stands now.
    pub(super) expiry: Option<(i64, ExpiryLevel)>,
}

/// The scheduled `domains` with their latest reports, as of `now`.
pub(super) fn entries<'a>(
    domains: impl Iterator<Item = &'a str>,
    latest: &HashMap<String, Arc<LatestReport>>,
    thresholds: &CertThresholds,
    now: f64,
) -> Vec<Entry> {
    domains
        .map(|name| {
            let report = latest.get(name).cloned();
            let expiry = report
                .as_deref()
                .and_then(|r| r.earliest_cert_expiry)
                .map(|t| (t, thresholds.level(t, now)));
            Entry {
                name: name.to_string(),
                status: Status::of_latest(report.as_deref()),
                report,
                expiry,
            }
        })
        .collect()
}

/// The header's counts: domains per status, and domains whose earliest
/// certificate expires within the warning threshold (critical ones and
/// expired ones included) and within the critical one (expired included).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Counts {
    /// Scheduled domains.
    pub(super) total: usize,
    /// Per status, indexed by `Status as usize`.
    pub(super) by_status: [usize; 5],
    /// Earliest certificate expiring within `warning_days` or expired.
    pub(super) cert_warning: usize,
    /// Earliest certificate expiring within `critical_days` or expired.
    pub(super) cert_critical: usize,
}

impl Counts {
    /// Counts `entries`.
    pub(super) fn of(entries: &[Entry]) -> Counts {
        let mut counts = Counts {
            total: entries.len(),
            ..Counts::default()
        };
        for entry in entries {
            counts.by_status[entry.status as usize] += 1;
            let level = entry.expiry.map(|(_, level)| level);
            if level >= Some(ExpiryLevel::Warning) {
                counts.cert_warning += 1;
            }
            if level >= Some(ExpiryLevel::Critical) {
                counts.cert_critical += 1;
            }
        }
        counts
    }

    /// Domains with `status`.
    pub(super) fn status(&self, status: Status) -> usize {
        self.by_status[status as usize]
    }
}

/// Which domains the page lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Filter {
    /// Every domain.
    All,
    /// Domains with this status.
    Status(Status),
    /// Domains whose earliest certificate expires within the warning
    /// threshold (or has expired).
    CertWarning,
    /// Within the critical threshold (or expired).
    CertCritical,
}

impl Filter {
    /// Every filter, in the form's order.
    pub(super) const ALL: [Filter; 8] = [
        Filter::All,
        Filter::Status(Status::Failing),
        Filter::Status(Status::Warning),
        Filter::Status(Status::Ok),
        Filter::Status(Status::NotProbed),
        Filter::Status(Status::Incomplete),
        Filter::CertWarning,
        Filter::CertCritical,
    ];

    /// The `status=` value.
    pub(super) fn key(self) -> &'static str {
        match self {
            Filter::All => "all",
            Filter::Status(status) => status.key(),
            Filter::CertWarning => "cert-warning",
            Filter::CertCritical => "cert-critical",
        }
    }

    fn parse(key: &str) -> Filter {
        Filter::ALL
            .into_iter()
            .find(|f| f.key() == key)
            .unwrap_or(Filter::All)
    }

    fn admits(self, entry: &Entry) -> bool {
        let level = entry.expiry.map(|(_, level)| level);
        match self {
            Filter::All => true,
            Filter::Status(status) => entry.status == status,
            Filter::CertWarning => level >= Some(ExpiryLevel::Warning),
            Filter::CertCritical => level >= Some(ExpiryLevel::Critical),
        }
    }
}

/// What the query string asks for. Unknown or malformed values fall back
/// to the defaults (every domain, no name filter, page 1): a bad link shows
/// the page rather than an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Query {
    /// Part of the domain name, lower-case, at most [`MAX_FILTER_CHARS`].
    pub(super) name: String,
    /// Which statuses.
    pub(super) filter: Filter,
    /// The page asked for, from 1.
    pub(super) page: usize,
}

impl Query {
    /// From the query string's decoded pairs (`q`, `status`, `page`).
    pub(super) fn parse(params: &[(String, String)]) -> Query {
        let get = |key: &str| {
            params
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        let name: String = get("q")
            .unwrap_or("")
            .trim()
            .chars()
            .take(MAX_FILTER_CHARS)
            .flat_map(char::to_lowercase)
            .collect();
        Query {
            name,
            filter: Filter::parse(get("status").unwrap_or("all")),
            page: get("page")
                .and_then(|p| p.parse::<usize>().ok())
                .unwrap_or(1)
                .max(1),
        }
    }

    /// The query string of this query at `page` (only the parts that are
    /// not the defaults).
    pub(super) fn link(&self, page: usize) -> String {
        let mut url = reqwest::Url::parse("http://status/").ok();
        if let Some(url) = url.as_mut() {
            let mut pairs = url.query_pairs_mut();
            if !self.name.is_empty() {
                pairs.append_pair("q", &self.name);
            }
            if self.filter != Filter::All {
                pairs.append_pair("status", self.filter.key());
            }
            if page > 1 {
                pairs.append_pair("page", &page.to_string());
            }
        }
        match url.as_ref().and_then(|u| u.query()) {
            Some(query) if !query.is_empty() => format!("/?{query}"),
            _ => "/".to_string(),
        }
    }
}

/// One page of the domains a query selects.
#[derive(Debug)]
pub(super) struct Selection<'a> {
    /// The rows of this page: failing first, then incomplete, warnings, ok
    /// and not probed yet; by name within each.
    pub(super) rows: Vec<&'a Entry>,
    /// Domains the filter admits, over all pages.
    pub(super) matched: usize,
    /// This page (from 1; the last one when more was asked for).
    pub(super) page: usize,
    /// Pages in all (at least 1).
    pub(super) pages: usize,
    /// Index of this page's first row among the matched domains.
    pub(super) first: usize,
}

/// The rows of `entries` that `query` selects, sorted, on its page.
/// Sorting every matched domain costs a few milliseconds at 10,000.
pub(super) fn select<'a>(entries: &'a [Entry], query: &Query) -> Selection<'a> {
    let mut matched: Vec<&Entry> = entries
        .iter()
        .filter(|e| query.filter.admits(e) && e.name.contains(&query.name))
        .collect();
    matched.sort_unstable_by(|a, b| (a.status, &a.name).cmp(&(b.status, &b.name)));
    let pages = matched.len().div_ceil(PAGE_SIZE).max(1);
    let page = query.page.min(pages);
    let first = (page - 1) * PAGE_SIZE;
    Selection {
        matched: matched.len(),
        rows: matched.into_iter().skip(first).take(PAGE_SIZE).collect(),
        page,
        pages,
        first,
    }
}

/// The MX host a failure concerns: for the `mx_lookup` and `starttls`
/// phases, the host of `hosts` whose name the failure's detail names (as a
/// whole name: `mx1.example` is not found in `xmx1.example`), the longest
/// when several do.
pub(super) fn concerned_host<'a>(failure: &Failure, hosts: &'a [MxHostReport]) -> Option<&'a str> {
    if !matches!(failure.phase, Phase::MxLookup | Phase::Starttls) {
        return None;
    }
    let is_name_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '.';
    let detail = failure.detail.as_str();
    // Whole when no name character touches it; a full stop that ends a
    // sentence does not count.
    let whole = |at: usize, len: usize| {
        let before = detail[..at].chars().next_back();
        let rest = &detail[at + len..];
        let rest = rest
            .strip_prefix('.')
            .filter(|r| !r.starts_with(is_name_char))
            .unwrap_or(rest);
        !before.is_some_and(is_name_char) && !rest.starts_with(is_name_char)
    };
    hosts
        .iter()
        .map(|h| h.host.as_str())
        .filter(|host| {
            !host.is_empty()
                && detail
                    .match_indices(host)
                    .any(|(at, _)| whole(at, host.len()))
        })
        .max_by_key(|host| host.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::judge::fixtures::mx_host as host;
    use crate::report::{CertInfo, Warning};
    use crate::taxonomy::{LocalError, LocalErrorKind, Reason, ResultType};

    fn report(name: &str, success: bool) -> ProbeReport {
        ProbeReport {
            success,
            ..ProbeReport::blank(name, 1_000.0)
        }
    }

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn status_of_a_report() {
        assert_eq!(Status::of(None), Status::NotProbed);
        assert_eq!(Status::of(Some(&report("a.test", true))), Status::Ok);
        assert_eq!(Status::of(Some(&report("a.test", false))), Status::Failing);
        let mut warned = report("a.test", true);
        warned.warnings.push(Warning::TlsrptRecordMissing);
        assert_eq!(Status::of(Some(&warned)), Status::Warning);
        // Mode none: a failure that does not fail the domain is shown as a
        // warning, not hidden under "ok".
        let mut unapplied = report("a.test", true);
        unapplied.failures.push(Failure::new(
            Phase::Starttls,
            ResultType::StarttlsNotSupported,
            Reason::StarttlsNotOffered,
            "mx1.a.test: STARTTLS not offered",
        ));
        assert_eq!(Status::of(Some(&unapplied)), Status::Warning);
        let mut cut = report("a.test", false);
        cut.phases.push(crate::report::PhaseTiming {
            phase: Phase::RecordLookup,
            duration_seconds: 0.0,
            ok: false,
            local_error: Some(LocalError::new(LocalErrorKind::DescriptorsExhausted, "x")),
        });
        assert_eq!(Status::of(Some(&cut)), Status::Incomplete);
        // As the pages keep it: the same, whole or summarised.
        for (report, status) in [
            (report("a.test", true), Status::Ok),
            (report("a.test", false), Status::Failing),
            (warned, Status::Warning),
            (cut, Status::Incomplete),
        ] {
            let whole = LatestReport::of(report.clone(), true);
            assert_eq!(Status::of_latest(Some(&whole)), status);
            if LatestReport::is_plain_pass(&report) || status == Status::Failing {
                let summary = LatestReport::of(report, false);
                assert_eq!(Status::of_latest(Some(&summary)), status);
            }
        }
        assert_eq!(Status::of_latest(None), Status::NotProbed);
    }

    fn cert(not_after: i64) -> CertInfo {
        CertInfo {
            valid: true,
            not_before: 0,
            not_after,
            names: vec![],
            issuer: String::new(),
            problem: None,
        }
    }

    #[test]
    fn counts_per_status_and_certificate_threshold() {
        let now = 1_000.0;
        let day = 86_400.0;
        let mut soon = report("soon.test", true);
        soon.policy_cert = Some(cert((now + 10.0 * day) as i64));
        let mut critical = report("critical.test", false);
        critical.policy_cert = Some(cert((now + 2.0 * day) as i64));
        let mut expired = report("expired.test", false);
        expired.policy_cert = Some(cert((now - day) as i64));
        let mut fine = report("fine.test", true);
        fine.policy_cert = Some(cert((now + 90.0 * day) as i64));
        let latest: HashMap<String, Arc<LatestReport>> = [soon, critical, expired, fine]
            .into_iter()
            .map(|r| (r.domain.clone(), Arc::new(LatestReport::of(r, true))))
            .collect();
        let names = [
            "soon.test",
            "critical.test",
            "expired.test",
            "fine.test",
            "new.test",
        ];
        let entries = entries(names.into_iter(), &latest, &CertThresholds::default(), now);
        let counts = Counts::of(&entries);
        assert_eq!(counts.total, 5);
        assert_eq!(counts.status(Status::Failing), 2);
        assert_eq!(counts.status(Status::Ok), 2);
        assert_eq!(counts.status(Status::NotProbed), 1);
        assert_eq!(counts.status(Status::Warning), 0);
        assert_eq!(counts.cert_warning, 3);
        assert_eq!(counts.cert_critical, 2);
        let query = Query::parse(&params(&[("status", "cert-critical")]));
        let rows: Vec<_> = select(&entries, &query)
            .rows
            .iter()
            .map(|e| e.name.as_str())
            .collect();
        assert_eq!(rows, ["critical.test", "expired.test"]);
    }

    #[test]
    fn failing_first_then_by_name_and_filtered_by_name_and_status() {
        let latest: HashMap<String, Arc<LatestReport>> = [
            report("b-ok.test", true),
            report("z-failing.test", false),
            report("a-failing.test", false),
        ]
        .into_iter()
        .map(|r| (r.domain.clone(), Arc::new(LatestReport::of(r, true))))
        .collect();
        let names = [
            "a-new.test",
            "b-ok.test",
            "z-failing.test",
            "a-failing.test",
        ];
        let entries = entries(names.into_iter(), &latest, &CertThresholds::default(), 0.0);
        let names_of = |query: &Query| -> Vec<String> {
            select(&entries, query)
                .rows
                .iter()
                .map(|e| e.name.clone())
                .collect()
        };
        assert_eq!(
            names_of(&Query::parse(&[])),
            [
                "a-failing.test",
                "z-failing.test",
                "b-ok.test",
                "a-new.test"
            ]
        );
        assert_eq!(
            names_of(&Query::parse(&params(&[("q", " A-F ")]))),
            ["a-failing.test"]
        );
        assert_eq!(
            names_of(&Query::parse(&params(&[("status", "not-probed")]))),
            ["a-new.test"]
        );
        // Unknown values fall back to the defaults.
        let odd = Query::parse(&params(&[("status", "<script>"), ("page", "-1")]));
        assert_eq!(odd.filter, Filter::All);
        assert_eq!(odd.page, 1);
    }

    #[test]
    fn pages_of_a_large_fleet() {
        let names: Vec<String> = (0..1050).map(|i| format!("d{i:05}.test")).collect();
        let mut latest = HashMap::new();
        // Every 7th domain failing.
        for (i, name) in names.iter().enumerate() {
            // Passing ones with their summary alone, as past
            // `PASSING_FULL_REPORTS` of them.
            let report = report(name, i % 7 != 0);
            let keep_full = !report.success;
            latest.insert(name.clone(), Arc::new(LatestReport::of(report, keep_full)));
        }
        let entries = entries(
            names.iter().map(String::as_str),
            &latest,
            &CertThresholds::default(),
            0.0,
        );
        let first = select(&entries, &Query::parse(&[]));
        assert_eq!(
            (first.matched, first.page, first.pages, first.first),
            (1050, 1, 11, 0)
        );
        assert_eq!(first.rows.len(), PAGE_SIZE);
        assert_eq!(first.rows[0].name, "d00000.test");
        assert!(first.rows.iter().all(|e| e.status == Status::Failing));
        let mut seen: Vec<String> = Vec::new();
        for page in 1..=11 {
            let query = Query::parse(&params(&[("page", &page.to_string())]));
            let selection = select(&entries, &query);
            assert_eq!(selection.matched, 1050);
            seen.extend(selection.rows.iter().map(|e| e.name.clone()));
        }
        // Every domain once, failing ones first, each group by name.
        assert_eq!(seen.len(), 1050);
        let failing = names.iter().step_by(7).count();
        assert!(seen[..failing].windows(2).all(|w| w[0] < w[1]));
        assert!(seen[failing..].windows(2).all(|w| w[0] < w[1]));
        let mut sorted = seen.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 1050);
        // A page past the end shows the last one.
        let past = select(&entries, &Query::parse(&params(&[("page", "99")])));
        assert_eq!((past.page, past.rows.len()), (11, 50));
    }

    #[test]
    fn links_keep_the_filter_and_encode_the_name() {
        let query = Query::parse(&params(&[("q", "a&b c"), ("status", "failing")]));
        assert_eq!(query.link(2), "/?q=a%26b+c&status=failing&page=2");
        assert_eq!(Query::parse(&[]).link(1), "/");
        let long = "x".repeat(10_000);
        assert_eq!(
            Query::parse(&params(&[("q", &long)])).name.len(),
            MAX_FILTER_CHARS
        );
    }

    #[test]
    fn a_failure_names_the_mx_host_its_detail_names() {
        let hosts = [
            host("mx1.a.test"),
            host("xmx1.a.test"),
            host("mx1.a.test.b"),
        ];
        let starttls = |detail: &str| {
            Failure::new(
                Phase::Starttls,
                ResultType::CertificateExpired,
                Reason::CertificateExpired,
                detail,
            )
        };
        assert_eq!(
            concerned_host(&starttls("mx1.a.test: certificate expired"), &hosts),
            Some("mx1.a.test")
        );
        assert_eq!(
            concerned_host(&starttls("xmx1.a.test: certificate expired"), &hosts),
            Some("xmx1.a.test")
        );
        assert_eq!(
            concerned_host(&starttls("mx1.a.test.b: certificate expired"), &hosts),
            Some("mx1.a.test.b")
        );
        let mismatch = Failure::new(
            Phase::MxLookup,
            ResultType::ValidationFailure,
            Reason::MtastsPolicyMxMismatch,
            "MX host mx1.a.test is not covered by any policy mx pattern.",
        );
        assert_eq!(concerned_host(&mismatch, &hosts), Some("mx1.a.test"));
        let record = Failure::new(
            Phase::RecordLookup,
            ResultType::StsPolicyFetchError,
            Reason::DnsLookup,
            "mx1.a.test",
        );
        assert_eq!(concerned_host(&record, &hosts), None);
    }
}
