//! What senders reported (TLSRPT aggregate reports, RFC 8460 §4), as HTML
//! sections of the status page and of a domain's page, from the bounded
//! summaries of [`RecentReports`]: pure functions of the summaries and the
//! time, so the pages show the same whatever fed them (ingest or the spool
//! at start-up).
//!
//! Every value from a report (organization, report id, contact, host
//! names, reason codes) is escaped ([`escape`], [`shown`]); addresses are
//! written from their parsed form. The summaries already cut strings at
//! [`crate::echo::MAX_ECHO_CHARS`] characters.

use super::html::{age, escape, shown, utc, with_code};
use crate::remedy;
use crate::rfc::rfc8460::report::{PolicyType, ReportResultType};
use crate::tlsrpt::recent::{ratio, DomainReports, RecentReports, ReportSummary};
use std::fmt::Write as _;
use std::net::IpAddr;

/// Domains listed at most by [`summary_section`] (those with the highest
/// failure ratio first); the rest are counted.
pub const SUMMARY_ROWS: usize = 50;
/// Senders named at most in a row of [`summary_section`].
const NAMED_SENDERS: usize = 5;

/// The CSS class of a failure ratio: `ok` without failed sessions,
/// `warning` below 5 %, `failing` from 5 % (as the alert
/// `MtaStsTlsrptFailuresReported`).
fn ratio_class(failed: u64, sessions: u64) -> &'static str {
    let ratio = ratio(failed, sessions);
    if failed == 0 {
        "ok"
    } else if ratio < 0.05 {
        "warning"
    } else {
        "failing"
    }
}

/// A failure ratio as a badge: `0 %` green, under 5 % amber, else red.
fn ratio_badge(failed: u64, sessions: u64) -> String {
    format!(
        "<span class=\"badge {}\">{:.2} %</span>",
        ratio_class(failed, sessions),
        ratio(failed, sessions) * 100.0
    )
}

/// An address from a report, or a dash.
fn address(ip: Option<IpAddr>) -> String {
    ip.map_or_else(|| "–".to_string(), |ip| escape(&ip.to_string()))
}

/// A text from a report, escaped, or a dash.
fn text_or_dash(text: Option<&str>) -> String {
    text.map_or_else(|| "–".to_string(), shown)
}

/// The failed sessions of a report by result type: `5 certificate-expired,
/// 2 other`; `none` without.
fn failures_by_result(summary: &ReportSummary) -> String {
    if summary.failures_by_result.is_empty() {
        return "none".to_string();
    }
    summary
        .failures_by_result
        .iter()
        .map(|(result, n)| format!("{n} <code>{}</code>", result.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The policy types of a report: `sts`, `sts, tlsa`.
fn policy_types(types: &[PolicyType]) -> String {
    types
        .iter()
        .map(|t| t.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The status page's section: per domain with reports, the senders, the
/// sessions and failed sessions of the latest reports kept, the failure
/// ratio and when the last report ended, the highest ratio first, at most
/// [`SUMMARY_ROWS`] domains (the rest counted). Each domain links to its
/// page. Empty when no report was received.
pub fn summary_section(recent: &RecentReports, now: f64) -> String {
    let mut rows: Vec<(&str, &DomainReports, u64, u64)> = recent
        .domains()
        .map(|(name, domain)| {
            let (sessions, failed) = domain.sessions();
            (name, domain, sessions, failed)
        })
        .collect();
    if rows.is_empty() {
        return String::new();
    }
    rows.sort_by(|a, b| {
        ratio(b.3, b.2)
            .total_cmp(&ratio(a.3, a.2))
            .then(b.3.cmp(&a.3))
            .then(a.0.cmp(b.0))
    });
    let mut html = String::with_capacity(512 + rows.len().min(SUMMARY_ROWS) * 400);
    let _ = write!(
        html,
        "<h2 id=\"tlsrpt-reports\">What senders reported (TLSRPT)</h2>\n\
         <p class=\"muted\">Over the last {} reports per domain: the sessions senders \
         opened to the domain's MX hosts and how many failed (RFC 8460), beside what the \
         probe sees above. Highest failure ratio first.</p>\n\
         <div class=\"scroll\"><table class=\"tlsrpt-summary\"><thead><tr><th>Domain</th>\
         <th>Senders</th><th>Reports</th><th>Sessions</th><th>Failed</th><th>Failure ratio</th>\
         <th>Last report ended</th></tr></thead><tbody>\n",
        recent.limits().reports_per_domain
    );
    for (name, domain, sessions, failed) in rows.iter().take(SUMMARY_ROWS) {
        let senders: Vec<String> = domain
            .by_sender
            .keys()
            .take(NAMED_SENDERS)
            .map(|s| shown(s))
            .collect();
        let more = domain.by_sender.len().saturating_sub(NAMED_SENDERS);
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        let last = domain.last_report_end().map_or_else(
            || "–".to_string(),
            |end| {
                format!(
                    "<span title=\"{}\">{}</span>",
                    utc(end as f64),
                    age(end as f64, now)
                )
            },
        );
        let name = escape(name);
        let _ = writeln!(
            html,
            "<tr data-domain=\"{name}\" data-class=\"{}\"><td><a href=\"/domain/{name}#tlsrpt-reports\">{name}</a></td>\
             <td>{}{more}</td><td class=\"num\">{}</td><td class=\"num\">{sessions}</td>\
             <td class=\"num\">{failed}</td><td>{}</td><td class=\"nowrap\">{last}</td></tr>",
            ratio_class(*failed, *sessions),
            senders.join(", "),
            domain.latest.len(),
            ratio_badge(*failed, *sessions),
        );
    }
    html.push_str("</tbody></table></div>\n");
    if rows.len() > SUMMARY_ROWS {
        let _ = writeln!(
            html,
            "<p class=\"muted\">{} more domains with reports (<code>mtasts-exporter reports</code> lists all).</p>",
            rows.len() - SUMMARY_ROWS
        );
    }
    html
}

/// A domain's section: the latest report of each sender (period, sessions,
/// failed sessions by result type), the failure details of the latest
/// reports with the sending and receiving addresses, and what to do about
/// each result type seen. Says so when no report was received.
pub fn domain_section(recent: &RecentReports, domain: &str, now: f64) -> String {
    let mut html = String::from("<h2 id=\"tlsrpt-reports\">What senders reported (TLSRPT)</h2>\n");
    let Some(reports) = recent.domain(domain).filter(|d| !d.latest.is_empty()) else {
        html.push_str(
            "<p class=\"muted\">No TLSRPT report about this domain has been received. \
             Senders send them daily to the addresses of the <code>_smtp._tls</code> record \
             (RFC 8460 §3).</p>\n",
        );
        return html;
    };
    let (sessions, failed) = reports.sessions();
    let _ = writeln!(
        html,
        "<p>Over the last {} reports: {sessions} sessions, {failed} failed {}.</p>",
        reports.latest.len(),
        ratio_badge(failed, sessions)
    );
    by_sender(&mut html, reports, now);
    details(&mut html, reports);
    html
}

/// The latest report of each sender, most failed sessions first.
fn by_sender(html: &mut String, reports: &DomainReports, now: f64) {
    let mut senders: Vec<&ReportSummary> = reports.by_sender.values().map(|s| &**s).collect();
    senders.sort_by(|a, b| {
        b.failed_sessions
            .cmp(&a.failed_sessions)
            .then(a.organization.cmp(&b.organization))
    });
    html.push_str(
        "<h3>Last report by sender</h3>\n<div class=\"scroll\"><table class=\"tlsrpt-senders\">\
         <thead><tr><th>Sender</th><th>Period</th><th>Policy</th><th>Successful</th><th>Failed</th>\
         <th>Failure ratio</th><th>Failed by result type</th><th>Report id</th></tr></thead><tbody>\n",
    );
    for summary in senders {
        let contact = summary
            .contact
            .as_deref()
            .map(|c| format!("<br><span class=\"muted\">{}</span>", shown(c)))
            .unwrap_or_default();
        let _ = writeln!(
            html,
            "<tr><td>{}{contact}</td><td class=\"nowrap\">{} –<br>{} ({})</td><td>{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td>\
             <td><code>{}</code></td></tr>",
            shown(&summary.organization),
            utc(summary.start as f64),
            utc(summary.end as f64),
            age(summary.end as f64, now),
            policy_types(&summary.policy_types),
            summary.successful_sessions,
            summary.failed_sessions,
            ratio_badge(summary.failed_sessions, summary.sessions()),
            failures_by_result(summary),
            shown(&summary.report_id),
        );
    }
    html.push_str("</tbody></table></div>\n");
}

/// The failure details of the latest reports, and what to do about each
/// result type among them.
fn details(html: &mut String, reports: &DomainReports) {
    let mut results: Vec<ReportResultType> = Vec::new();
    let mut rows = String::new();
    let mut dropped: u64 = 0;
    for summary in &reports.latest {
        dropped = dropped.saturating_add(summary.details_dropped);
        for detail in &summary.details {
            if !results.contains(&detail.result_type) {
                results.push(detail.result_type);
            }
            let written = detail
                .result_type_text
                .as_deref()
                .map(|t| format!(" <span class=\"muted\">({})</span>", shown(t)))
                .unwrap_or_default();
            let _ = writeln!(
                rows,
                "<tr><td>{}</td><td class=\"nowrap\">{}</td><td><code>{}</code>{written}</td>\
                 <td class=\"num\">{}</td><td class=\"code\">{}</td><td>{}</td>\
                 <td class=\"code\">{}</td><td>{}</td></tr>",
                shown(&summary.organization),
                utc(summary.end as f64),
                detail.result_type.as_str(),
                detail.failed_sessions,
                address(detail.sending_mta_ip),
                text_or_dash(detail.receiving_mx_hostname.as_deref()),
                address(detail.receiving_ip),
                text_or_dash(detail.failure_reason_code.as_deref()),
            );
        }
    }
    if rows.is_empty() && dropped == 0 {
        html.push_str("<p class=\"okc\">No failure details in the latest reports.</p>\n");
        return;
    }
    html.push_str(
        "<h3>Failure details of the latest reports</h3>\n<div class=\"scroll\">\
         <table class=\"tlsrpt-details\"><thead><tr><th>Sender</th><th>Report ended</th>\
         <th>Result type</th><th>Failed sessions</th><th>Sending MTA</th><th>Receiving MX host</th>\
         <th>Receiving IP</th><th>Failure reason code</th></tr></thead><tbody>\n",
    );
    html.push_str(&rows);
    html.push_str("</tbody></table></div>\n");
    if dropped > 0 {
        let _ = writeln!(
            html,
            "<p class=\"muted\">{dropped} more failure details not kept \
             (<code>mtasts-exporter reports --domain &lt;domain&gt; --output json</code> lists more).</p>"
        );
    }
    html.push_str("<h3>What to do</h3>\n<ul class=\"plain\">\n");
    for result in results {
        let _ = writeln!(
            html,
            "<li><code>{}</code>: {}</li>",
            result.as_str(),
            with_code(remedy::for_reported_result(result))
        );
    }
    html.push_str("</ul>\n");
}

/// A line before the TLSRPT sections while the spool is still being read
/// at start-up, or could not be: until then they show only the reports
/// received since. Empty once it is read.
pub fn reading_note(reading: Option<&crate::tlsrpt::component::SpoolReading>) -> &'static str {
    use crate::tlsrpt::component::ReadingState;
    match reading.map(|r| r.state()) {
        Some(ReadingState::Reading) => {
            "<p class=\"warn\" id=\"tlsrpt-reading\">The stored TLSRPT reports are still being read \
             (start-up): what senders reported shows only reports received since, until that is done.</p>\n"
        }
        Some(ReadingState::Failed(_)) => {
            "<p class=\"fail\" id=\"tlsrpt-reading\">The stored TLSRPT reports could not be read at \
             start-up (see <code>/-/ready</code> and the log): what senders reported shows only reports \
             received since.</p>\n"
        }
        Some(ReadingState::Done { .. }) | None => "",
    }
}

/// The window of the top line of a domain's page and of the status page's
/// marker: reports whose period ended within the last 7 days.
pub const NOTICE_WINDOW_SECONDS: i64 = 7 * 86_400;
/// Senders and result types named at most in the top line.
const NOTICE_NAMED: usize = 3;

/// What the recent reports kept say of a domain's failed sessions within
/// [`NOTICE_WINDOW_SECONDS`] of `now`.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportedFailures {
    /// Failed sessions in the reports of the window.
    pub failed: u64,
    /// All sessions in them.
    pub sessions: u64,
    /// The reports of the window kept.
    pub reports: usize,
    /// Whether the window may hold more reports than are kept (the latest
    /// reports kept all fall in it): the counts are then a lower bound.
    pub at_least: bool,
    /// Failed sessions by sender, most first.
    pub senders: Vec<(String, u64)>,
    /// Failed sessions by result type, most first.
    pub results: Vec<(ReportResultType, u64)>,
}

/// The failed sessions senders reported about `domain` in the reports kept
/// ([`RecentReports`]: each sender's latest and the domain's latest) whose
/// period ended within [`NOTICE_WINDOW_SECONDS`] of `now`; `None` without
/// a failed session.
pub fn reported_failures(
    recent: &RecentReports,
    domain: &str,
    now: f64,
) -> Option<ReportedFailures> {
    let reports = recent.domain(domain)?;
    let since = now as i64 - NOTICE_WINDOW_SECONDS;
    let mut window: Vec<&ReportSummary> = Vec::new();
    for summary in reports.latest.iter().chain(reports.by_sender.values()) {
        let known = window.iter().any(|kept| kept.same_report(summary));
        if summary.end >= since && !known {
            window.push(summary);
        }
    }
    let failed = window
        .iter()
        .fold(0u64, |all, r| all.saturating_add(r.failed_sessions));
    if failed == 0 {
        return None;
    }
    let sessions = window
        .iter()
        .fold(0u64, |all, r| all.saturating_add(r.sessions()));
    let mut senders: Vec<(String, u64)> = Vec::new();
    let mut results: Vec<(ReportResultType, u64)> = Vec::new();
    for summary in &window {
        if summary.failed_sessions > 0 {
            match senders
                .iter_mut()
                .find(|(name, _)| *name == summary.organization)
            {
                Some((_, n)) => *n = n.saturating_add(summary.failed_sessions),
                None => senders.push((summary.organization.clone(), summary.failed_sessions)),
            }
        }
        for (result, n) in &summary.failures_by_result {
            match results.iter_mut().find(|(kept, _)| kept == result) {
                Some((_, sum)) => *sum = sum.saturating_add(*n),
                None => results.push((*result, *n)),
            }
        }
    }
    senders.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    results.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let at_least = reports.latest.len() >= recent.limits().reports_per_domain
        && reports.latest.last().is_some_and(|r| r.end >= since);
    Some(ReportedFailures {
        failed,
        sessions,
        reports: window.len(),
        at_least,
        senders,
        results,
    })
}

/// `items` as `a, b, c and N more`, at most `named` named.
fn named_list(items: Vec<String>, named: usize) -> String {
    let more = items.len().saturating_sub(named);
    let mut text = items.into_iter().take(named).collect::<Vec<_>>().join(", ");
    if more > 0 {
        let _ = write!(text, " and {more} more");
    }
    text
}

/// The box at the top of a domain's page when senders reported failed
/// sessions in the last 7 days (RFC 8460 §4.4), linking to the section
/// below: how many, from whom, of which result types, and beside the
/// probe's verdict (`probe_passes`, `None` without one): a passing probe
/// is named the probe's blind spot, in the words of the alert
/// `MtaStsProbeBlindSpot`; a failing one in those of
/// `MtaStsTlsrptFailuresReported`. Empty without failed sessions. Every
/// value from a report is escaped.
pub fn domain_notice(
    recent: &RecentReports,
    domain: &str,
    probe_passes: Option<bool>,
    now: f64,
) -> String {
    let Some(failures) = reported_failures(recent, domain, now) else {
        return String::new();
    };
    let senders = named_list(
        failures
            .senders
            .iter()
            .map(|(name, n)| format!("{} ({n})", shown(name)))
            .collect(),
        NOTICE_NAMED,
    );
    let results = named_list(
        failures
            .results
            .iter()
            .map(|(result, n)| format!("{n} <code>{}</code>", result.as_str()))
            .collect(),
        NOTICE_NAMED,
    );
    let verdict = match probe_passes {
        Some(true) => format!(
            "<br><strong>The probe passes: senders report TLS failures for {} that the probe does \
             not see</strong>, the probe's blind spot (another MX address, a DANE or DNSSEC \
             failure, a sender's own trust store or network). The alert \
             <code>MtaStsProbeBlindSpot</code> fires from 5 % of a day's sessions and 10 failed \
             ones.",
            escape(domain)
        ),
        Some(false) => "<br>The probe fails too: senders meet the failures the probe reports \
                        (below), and fixing those fixes theirs."
            .to_string(),
        None => String::new(),
    };
    format!(
        "<div class=\"notice\" id=\"tlsrpt-notice\" data-failed=\"{}\"><strong>Senders reported {}{} \
         failed sessions in the last 7 days</strong> ({} of {} sessions in {} reports; from {senders}; \
         {results}; <a href=\"#tlsrpt-reports\">see below</a>).{verdict}</div>\n",
        failures.failed,
        if failures.at_least { "at least " } else { "" },
        failures.failed,
        ratio_badge(failures.failed, failures.sessions),
        failures.sessions,
        failures.reports,
    )
}

/// The status page row's marker when senders reported failed sessions in
/// the last 7 days: how many, linking to the domain page's section, and
/// `not seen by the probe` when the probe passes (`probe_passes`). Empty
/// without failed sessions.
pub fn row_marker(
    recent: &RecentReports,
    domain: &str,
    probe_passes: Option<bool>,
    now: f64,
) -> String {
    let Some(failures) = reported_failures(recent, domain, now) else {
        return String::new();
    };
    format!(
        "<li class=\"tlsrpt-marker\" data-failed=\"{}\"><a href=\"/domain/{}#tlsrpt-reports\">senders \
         reported {}{} failed sessions (7 days){}</a></li>",
        failures.failed,
        escape(domain),
        if failures.at_least { "at least " } else { "" },
        failures.failed,
        if probe_passes == Some(true) {
            ", not seen by the probe"
        } else {
            ""
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rfc::rfc8460::report::parse_report;
    use crate::tlsrpt::recent::Limits;

    const NOW: f64 = 1_796_100_000.0;

    fn report(org: &str, id: &str, domain: &str, success: u64, failed: u64) -> String {
        format!(
            r#"{{"organization-name":{org},"report-id":{id},"contact-info":"<b>tls</b>@example",
            "date-range":{{"start-datetime":"2026-11-30T00:00:00Z","end-datetime":"2026-11-30T23:59:59Z"}},
            "policies":[{{"policy":{{"policy-type":"sts","policy-domain":"{domain}"}},
               "summary":{{"total-successful-session-count":{success},"total-failure-session-count":{failed}}},
               "failure-details":[{{"result-type":"certificate-expired","sending-mta-ip":"192.0.2.7",
                 "receiving-ip":"2001:db8::25","receiving-mx-hostname":"mx1.<i>example</i>.com",
                 "failed-session-count":{failed},"failure-reason-code":"<script>alert(1)</script>"}},
                 {{"result-type":"<img src=x onerror=alert(2)>","failed-session-count":0}}]}}]}}"#,
            org = serde_json::Value::from(org),
            id = serde_json::Value::from(id),
        )
    }

    fn recent(reports: &[String]) -> RecentReports {
        let mut recent = RecentReports::new(Limits::default());
        for json in reports {
            let report = parse_report(json.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
            recent.add(&report, |_| true);
        }
        recent
    }

    const HOSTILE_ORG: &str = "Evil <script>alert('org')</script> & \"Co\"";

    #[test]
    fn the_summary_lists_domains_by_failure_ratio_and_escapes_senders() {
        let recent = recent(&[
            report("Good", "1", "calm.example", 100, 0),
            report(HOSTILE_ORG, "<id>", "broken.example", 50, 50),
            report("Google", "2", "broken.example", 100, 0),
        ]);
        let html = summary_section(&recent, NOW);
        let broken = html.find("data-domain=\"broken.example\"");
        let calm = html.find("data-domain=\"calm.example\"");
        assert!(broken < calm && broken.is_some(), "{html}");
        assert!(html.contains(
            "<td>Evil &lt;script&gt;alert(&#39;org&#39;)&lt;/script&gt; &amp; &quot;Co&quot;, Google</td>"
        ), "{html}");
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("<td class=\"num\">200</td><td class=\"num\">50</td><td><span class=\"badge failing\">25.00 %</span>"), "{html}");
        assert!(html.contains("data-class=\"ok\""), "{html}");
        assert!(html.contains("href=\"/domain/broken.example#tlsrpt-reports\""));
        assert!(html.contains("2026-11-30 23:59:59 UTC"), "{html}");
        assert_eq!(summary_section(&RecentReports::default(), NOW), "");
    }

    #[test]
    fn the_summary_is_capped() {
        let reports: Vec<String> = (0..SUMMARY_ROWS + 3)
            .map(|i| report("A", "1", &format!("d{i}.example"), 1, 0))
            .collect();
        let html = summary_section(&recent(&reports), NOW);
        assert_eq!(html.matches("<tr data-domain").count(), SUMMARY_ROWS);
        assert!(html.contains("3 more domains with reports"), "{html}");
    }

    #[test]
    fn the_domain_section_shows_senders_and_details_with_addresses_escaped() {
        let recent = recent(&[
            report(HOSTILE_ORG, "<id>", "example.com", 90, 10),
            report("Google", "2", "example.com", 100, 0),
        ]);
        let html = domain_section(&recent, "example.com", NOW);
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("<b>"), "{html}");
        assert!(
            html.contains("<p>Over the last 2 reports: 200 sessions, 10 failed"),
            "{html}"
        );
        // The failing sender first, with its contact and report id.
        let evil = html.find("Evil &lt;script&gt;");
        let google = html.find("<tr><td>Google");
        assert!(evil.is_some() && evil < google, "{html}");
        assert!(html.contains("&lt;b&gt;tls&lt;/b&gt;@example"), "{html}");
        assert!(html.contains("<code>&lt;id&gt;</code>"), "{html}");
        assert!(
            html.contains("10 <code>certificate-expired</code>"),
            "{html}"
        );
        // The detail row: addresses, host name and reason code escaped.
        assert!(
            html.contains(
                "<td><code>certificate-expired</code></td><td class=\"num\">10</td>\
             <td class=\"code\">192.0.2.7</td><td>mx1.&lt;i&gt;example&lt;/i&gt;.com</td>\
             <td class=\"code\">2001:db8::25</td><td>&lt;script&gt;alert(1)&lt;/script&gt;</td>"
            ),
            "{html}"
        );
        // An unknown result type: `other`, the sender's words escaped.
        assert!(html.contains(
            "<code>other</code> <span class=\"muted\">(&lt;img src=x onerror=alert(2)&gt;)</span>"
        ), "{html}");
        // What to do, once per result type.
        assert_eq!(
            html.matches("<li><code>certificate-expired</code>: Renew")
                .count(),
            1,
            "{html}"
        );
        assert!(html.contains("<li><code>other</code>: "), "{html}");
    }

    #[test]
    fn a_domain_without_reports_says_so() {
        let html = domain_section(&RecentReports::default(), "example.com", NOW);
        assert!(
            html.contains("No TLSRPT report about this domain"),
            "{html}"
        );
        let clean = recent(&[report("Google", "2", "example.com", 100, 0)]);
        let html = domain_section(&clean, "example.com", NOW);
        assert!(
            html.contains("<span class=\"badge ok\">0.00 %</span>"),
            "{html}"
        );
    }

    #[test]
    fn the_top_notice_counts_the_last_week_and_names_the_blind_spot() {
        let clean = recent(&[report("Google", "2", "example.com", 100, 0)]);
        let recent = recent(&[
            report(HOSTILE_ORG, "<id>", "example.com", 90, 10),
            report("Google", "2", "example.com", 100, 0),
        ]);
        let html = domain_notice(&recent, "example.com", Some(true), NOW);
        assert!(
            html.contains(
                "<strong>Senders reported 10 failed sessions in the last 7 days</strong>"
            ),
            "{html}"
        );
        assert!(html.contains("of 200 sessions in 2 reports"), "{html}");
        assert!(html.contains("href=\"#tlsrpt-reports\""), "{html}");
        assert!(
            html.contains("10 <code>certificate-expired</code>"),
            "{html}"
        );
        // The sender escaped, as in the section.
        assert!(html.contains("from Evil &lt;script&gt;"), "{html}");
        assert!(!html.contains("<script>"), "{html}");
        // The alert's words.
        assert!(
            html.contains(
                "senders report TLS failures for example.com that the probe does not see</strong>, \
                 the probe's blind spot (another MX address, a DANE or DNSSEC failure, a sender's \
                 own trust store or network)"
            ),
            "{html}"
        );
        let failing = domain_notice(&recent, "example.com", Some(false), NOW);
        assert!(failing.contains("The probe fails too"), "{failing}");
        assert!(!failing.contains("blind spot"), "{failing}");
        let marker = row_marker(&recent, "example.com", Some(true), NOW);
        assert!(
            marker.contains(
                "<a href=\"/domain/example.com#tlsrpt-reports\">senders reported 10 failed sessions \
                 (7 days), not seen by the probe</a>"
            ),
            "{marker}"
        );
        // Nothing to say: no failed session, or none in the last 7 days.
        assert_eq!(domain_notice(&clean, "example.com", Some(true), NOW), "");
        assert_eq!(row_marker(&clean, "example.com", Some(true), NOW), "");
        let later = NOW + 8.0 * 86_400.0;
        assert_eq!(domain_notice(&recent, "example.com", Some(true), later), "");
        assert_eq!(domain_notice(&recent, "other.example", None, NOW), "");
    }

    #[test]
    fn a_week_with_more_reports_than_kept_is_a_lower_bound() {
        let mut recent = RecentReports::new(Limits {
            reports_per_domain: 2,
            ..Limits::default()
        });
        for (org, id) in [("A", "1"), ("B", "2"), ("C", "3")] {
            let json = report(org, id, "example.com", 10, 1);
            let parsed = parse_report(json.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
            recent.add(&parsed, |_| true);
        }
        let Some(failures) = reported_failures(&recent, "example.com", NOW) else {
            panic!("failures")
        };
        // Each sender's latest report is kept too: all three count once.
        assert_eq!((failures.failed, failures.reports), (3, 3));
        assert!(failures.at_least);
        let html = domain_notice(&recent, "example.com", None, NOW);
        assert!(
            html.contains("Senders reported at least 3 failed sessions"),
            "{html}"
        );
    }
}
