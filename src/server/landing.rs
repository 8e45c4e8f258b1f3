//! The status page `/`: the exporter's state and the fleet's counts in the
//! header, then one page of domains, failing ones first, filtered by name
//! and status from the query string (`/?q=exa&status=failing&page=2`): a
//! plain form and links, so it works with JavaScript off and never sends
//! more than [`PAGE_SIZE`] rows. Each domain links to its own page
//! (`super::domain_page`).

use super::html::{age, close_page, escape, expiry, open_page, shown, unix_now, utc};
use super::response::{html, HttpResponse};
use super::status::{
    concerned_host, entries, select, Counts, Entry, Filter, Query, Selection, Status, PAGE_SIZE,
};
use super::AppState;
use crate::latest::LatestReport;
use crate::metrics::recent::WINDOW_MINUTES;
use crate::report::{CertThresholds, PolicySource, ProbeReport};
use crate::taxonomy::LocalErrorKind;
use hyper::StatusCode;
use std::fmt::Write as _;

/// Failures listed in a row at most; the domain's page lists them all.
const ROW_FAILURES: usize = 5;

/// Renders the page for the query string `query`.
pub(super) fn page(state: &AppState, query: Option<&str>) -> HttpResponse {
    let query = Query::parse(&super::probe::query_params(query));
    html(StatusCode::OK, render(state, &query, unix_now()))
}

/// The page at `now` (Unix seconds).
fn render(state: &AppState, query: &Query, now: f64) -> String {
    let config = state.app.reloader.current().config.clone();
    let thresholds = config.certificates;
    let entries = {
        let latest = state.app.latest.lock().unwrap_or_else(|p| p.into_inner());
        entries(
            config.scheduled_domains().map(|d| d.name.as_str()),
            &latest,
            &thresholds,
            now,
        )
    };
    let counts = Counts::of(&entries);
    let selection = select(&entries, query);
    let mut html = open_page(
        "MTA-STS Exporter",
        "MTA-STS Exporter",
        &exporter_meta(state, now),
    );
    html.push_str(&reload_notice(state, now));
    html.push_str(&local_warning(&state.app.metrics.recent_local_errors()));
    let loaded = state.app.reloader.current();
    html.push_str(&unrouted_warning(&crate::check::local_network_note(
        loaded.prober.local_network(),
        &loaded.config.addresses,
    )));
    cards(&mut html, &counts, &thresholds, query.filter);
    filter_form(&mut html, query);
    // Senders' reported failures, marked on the rows of this page only.
    let markers: Vec<String> = match &state.app.reports {
        Some(ingestor) => ingestor.with_recent(|recent| {
            selection
                .rows
                .iter()
                .map(|entry| {
                    let passes = match entry.status {
                        Status::Ok | Status::Warning => Some(true),
                        Status::Failing => Some(false),
                        Status::Incomplete | Status::NotProbed => None,
                    };
                    super::reports_section::row_marker(recent, &entry.name, passes, now)
                })
                .collect()
        }),
        None => Vec::new(),
    };
    listing(&mut html, &selection, &markers, query, &thresholds, now);
    if let Some(ingestor) = &state.app.reports {
        html.push_str(super::reports_section::reading_note(
            state.app.reports_reading.as_deref(),
        ));
        html.push_str(
            &ingestor.with_recent(|recent| super::reports_section::summary_section(recent, now)),
        );
    }
    close_page(&mut html);
    html
}

/// The header's line about the exporter: version, when the configuration
/// in force was loaded, links to the other endpoints.
fn exporter_meta(state: &AppState, now: f64) -> String {
    let loaded = state.app.metrics.config_reload_timestamp.get();
    let config = state.app.reloader.current().config.clone();
    let example = config
        .domains
        .first()
        .map(|d| d.name.clone())
        .unwrap_or_else(|| "example.com".into());
    let revision: String = crate::version::REVISION.chars().take(12).collect();
    // A replica of several lists only its share of the domains: say so.
    let shard = config
        .shard
        .map(|s| {
            format!(
                " · shard {} of {} ({} of {} configured domains)",
                s.index,
                s.count,
                config.scheduled_domains().count(),
                config.domains.len()
            )
        })
        .unwrap_or_default();
    format!(
        "version {} (revision {}) · configuration loaded <span id=\"config-loaded\" title=\"{}\">{} ({})</span>{shard} · \
         <a href=\"{}\">metrics</a> · <a href=\"/-/ready\">readiness</a> · \
         <a href=\"/probe?target={}\">/probe?target={}</a>",
        escape(crate::version::VERSION),
        escape(&revision),
        utc(loaded),
        utc(loaded),
        age(loaded, now),
        escape(&state.telemetry_path),
        escape(&example),
        escape(&example),
    )
}

/// A red box when the last reload was refused: when, why, and that the
/// configuration loaded before stays in force.
fn reload_notice(state: &AppState, now: f64) -> String {
    match state.app.reloader.last_failure() {
        None => String::new(),
        Some(failure) => format!(
            "<div class=\"notice\" id=\"reload-failed\"><strong>The last reload failed</strong> \
             {} ({}); the configuration loaded before stays in force \
             (<code>mtasts_config_last_reload_successful</code> is 0).<pre>{}</pre></div>\n",
            utc(failure.at),
            age(failure.at, now),
            escape(&failure.message)
        ),
    }
}

/// A warning per kind of local error that cut probes short in the last
/// minutes: the exporter's own problem, which no domain row shows as a
/// failure.
fn local_warning(recent: &[(LocalErrorKind, u64)]) -> String {
    let mut html = String::new();
    for (kind, probes) in recent {
        let _ = writeln!(
            html,
            "<div class=\"notice\"><strong>The exporter itself is short of {}: {} probe{} could not \
             run in the last {} minutes</strong> ({}; their domains keep their previous results) \
             — see <code>mtasts_probe_local_errors_total</code>.</div>",
            kind.shortage(),
            probes,
            if *probes == 1 { "" } else { "s" },
            WINDOW_MINUTES,
            kind.as_str()
        );
    }
    html
}

/// The address families this machine cannot reach (`check`'s note, one
/// paragraph a line): no domain row shows their addresses as failing.
fn unrouted_warning(note: &str) -> String {
    note.lines()
        .map(|line| {
            let text = line.strip_prefix("note: ").unwrap_or(line);
            format!("<p class=\"warn\"><strong>{}</strong></p>\n", escape(text))
        })
        .collect()
}

/// The counts, each a link to the domains it counts (`id="count-KEY"` and
/// `data-count` for scripts and tests).
fn cards(html: &mut String, counts: &Counts, thresholds: &CertThresholds, selected: Filter) {
    let warning_label = format!(
        "certificate expires within {} days",
        thresholds.warning_days
    );
    let critical_label = format!(
        "certificate expires within {} days or expired",
        thresholds.critical_days
    );
    let mut cards: Vec<(Filter, usize, &str)> = vec![
        (
            Filter::Status(Status::Failing),
            counts.status(Status::Failing),
            "failing",
        ),
        (
            Filter::Status(Status::Warning),
            counts.status(Status::Warning),
            "ok, with warnings",
        ),
        (Filter::Status(Status::Ok), counts.status(Status::Ok), "ok"),
        (
            Filter::Status(Status::NotProbed),
            counts.status(Status::NotProbed),
            "not probed yet",
        ),
    ];
    if counts.status(Status::Incomplete) > 0 {
        cards.push((
            Filter::Status(Status::Incomplete),
            counts.status(Status::Incomplete),
            "incomplete: the exporter was short of something",
        ));
    }
    cards.push((Filter::CertWarning, counts.cert_warning, &warning_label));
    cards.push((Filter::CertCritical, counts.cert_critical, &critical_label));
    cards.push((Filter::All, counts.total, "domains in all"));
    html.push_str("<nav class=\"cards\" aria-label=\"counts\">\n");
    for (filter, count, label) in cards {
        let link = Query {
            name: String::new(),
            filter,
            page: 1,
        }
        .link(1);
        let _ = writeln!(
            html,
            "<a class=\"card {key}{selected}\" id=\"count-{key}\" data-count=\"{count}\" href=\"{}\">\
             <span class=\"n\">{count}</span><span class=\"l\">{}</span></a>",
            escape(&link),
            escape(label),
            key = filter.key(),
            selected = if filter == selected { " selected" } else { "" },
        );
    }
    html.push_str("</nav>\n");
}

/// The filter form: part of the name, the status; a GET to `/`.
fn filter_form(html: &mut String, query: &Query) {
    let _ = write!(
        html,
        "<form class=\"filter\" method=\"get\" action=\"/\">\
         <label>Domain name contains<input type=\"search\" name=\"q\" value=\"{}\" maxlength=\"253\" \
         placeholder=\"e.g. example\"></label><label>Status<select name=\"status\">",
        escape(&query.name)
    );
    for filter in Filter::ALL {
        let _ = write!(
            html,
            "<option value=\"{}\"{}>{}</option>",
            filter.key(),
            if filter == query.filter {
                " selected"
            } else {
                ""
            },
            filter_words(filter)
        );
    }
    html.push_str(
        "</select></label><button type=\"submit\">Filter</button><a href=\"/\">show all</a></form>\n",
    );
}

/// A filter in the form's words.
fn filter_words(filter: Filter) -> &'static str {
    match filter {
        Filter::All => "all",
        Filter::Status(Status::Failing) => "failing",
        Filter::Status(Status::Warning) => "ok, with warnings",
        Filter::Status(Status::Ok) => "ok",
        Filter::Status(Status::NotProbed) => "not probed yet",
        Filter::Status(Status::Incomplete) => "incomplete",
        Filter::CertWarning => "certificate expiring (warning)",
        Filter::CertCritical => "certificate expiring (critical)",
    }
}

/// Which rows these are, the table, and links to the other pages.
fn listing(
    html: &mut String,
    selection: &Selection<'_>,
    markers: &[String],
    query: &Query,
    thresholds: &CertThresholds,
    now: f64,
) {
    if selection.matched == 0 {
        html.push_str("<p id=\"showing\">No domain matches.</p>\n");
        return;
    }
    let _ = writeln!(
        html,
        "<p id=\"showing\" data-matched=\"{}\">Domains {}–{} of {}, failing first, then ok with warnings, \
         ok, not probed yet; by name within each.</p>",
        selection.matched,
        selection.first + 1,
        selection.first + selection.rows.len(),
        selection.matched
    );
    pages(html, selection, query);
    html.push_str(
        "<div class=\"scroll\"><table id=\"domains\">\n<thead><tr><th>Domain</th><th>Status</th><th>Mode</th><th>Failures</th>\
         <th>Warnings</th><th>Earliest certificate expiry</th><th>Last probed</th><th>Took</th></tr></thead>\n<tbody>\n",
    );
    for (i, entry) in selection.rows.iter().enumerate() {
        let marker = markers.get(i).map_or("", String::as_str);
        row(html, entry, marker, thresholds, now);
    }
    html.push_str("</tbody></table></div>\n");
    pages(html, selection, query);
}

/// Links to the first, previous, next and last pages (above and below the
/// table).
fn pages(html: &mut String, selection: &Selection<'_>, query: &Query) {
    if selection.pages <= 1 {
        return;
    }
    let link = |page: usize, words: &str, rel: &str| {
        if page == selection.page || page == 0 || page > selection.pages {
            format!("<span class=\"off\">{words}</span>")
        } else {
            format!(
                "<a href=\"{}\" rel=\"{rel}\">{words}</a>",
                escape(&query.link(page))
            )
        }
    };
    let _ = writeln!(
        html,
        "<nav class=\"pages\" aria-label=\"pages\">{} {} <span class=\"page-of\">page {} of {} ({} per page)</span> {} {}</nav>",
        link(1, "« first", "first"),
        link(selection.page - 1, "‹ previous", "prev"),
        selection.page,
        selection.pages,
        PAGE_SIZE,
        link(selection.page + 1, "next ›", "next"),
        link(selection.pages, "last »", "last"),
    );
}

/// Appends the table row of one domain; `marker` (HTML, a list item) goes
/// under its warnings: what senders reported lately.
fn row(html: &mut String, entry: &Entry, marker: &str, thresholds: &CertThresholds, now: f64) {
    let report = entry.report.as_deref();
    let badge = match report.and_then(|r| r.local_errors().next()) {
        Some(local) => format!(
            "<span class=\"badge incomplete\">not probed: the exporter is short of {}</span>",
            local.kind.shortage()
        ),
        None => format!(
            "<span class=\"badge {}\">{}</span>",
            entry.status.key(),
            entry.status.word()
        ),
    };
    let mode = report.map(mode).unwrap_or_else(|| "—".into());
    let failures = report
        .and_then(|r| r.full.as_deref())
        .map(failure_list)
        .unwrap_or_default();
    let warnings = report
        .map(|r| {
            r.warnings()
                .iter()
                .map(|w| format!("<li class=\"code\">{}</li>", w.as_str()))
                .collect::<String>()
        })
        .unwrap_or_default();
    let expiry = entry
        .expiry
        .map(|(t, _)| expiry(t, now, thresholds))
        .unwrap_or_else(|| "—".into());
    let (probed, took) = match report {
        Some(r) => (
            format!(
                "<span title=\"{}\">{}</span>",
                utc(r.timestamp),
                age(r.timestamp, now)
            ),
            format!("{:.2} s", r.duration_seconds),
        ),
        None => ("—".into(), "—".into()),
    };
    let _ = writeln!(
        html,
        "<tr data-domain=\"{name}\" data-status=\"{}\"><td><a href=\"/domain/{name}\">{name}</a></td>\
         <td>{badge}</td><td>{mode}</td><td><ul class=\"plain\">{failures}</ul></td>\
         <td><ul class=\"plain warn\">{warnings}{marker}</ul></td><td>{expiry}</td><td class=\"nowrap\">{probed}</td>\
         <td class=\"num\">{took}</td></tr>",
        entry.status.key(),
        name = escape(&entry.name),
    );
}

/// The mode of the policy in force (the cached copy senders apply says
/// so), or a dash without one.
fn mode(report: &LatestReport) -> String {
    match (report.judged_mode, report.policy_source) {
        (Some(mode), PolicySource::Cached) => format!("{} (cached)", mode.as_str()),
        (Some(mode), _) => mode.as_str().to_string(),
        (None, _) => "—".to_string(),
    }
}

/// A domain's failures in words: the reason code, the MX host it concerns
/// (or the phase when it concerns none), at most [`ROW_FAILURES`].
fn failure_list(report: &ProbeReport) -> String {
    let hosts = report.mx_hosts.as_deref().unwrap_or_default();
    let mut html = String::new();
    for failure in report.failures.iter().take(ROW_FAILURES) {
        let place = match concerned_host(failure, hosts) {
            Some(host) => format!("on <code>{}</code>", escape(host)),
            None => format!("in {}", failure.phase.as_str().replace('_', " ")),
        };
        let _ = write!(
            html,
            "<li title=\"{}\"><span class=\"fail code\">{}</span> {place}</li>",
            shown(&failure.detail),
            escape(&failure.reason.as_str()),
        );
    }
    if report.failures.len() > ROW_FAILURES {
        let _ = write!(
            html,
            "<li class=\"muted\">and {} more</li>",
            report.failures.len() - ROW_FAILURES
        );
    }
    html
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::PhaseTiming;
    use crate::taxonomy::{Failure, LocalError, Phase, Reason, ResultType};
    use std::sync::Arc;

    #[test]
    fn a_warning_per_kind_of_recent_local_error_and_none_without() {
        assert_eq!(local_warning(&[]), "");
        let html = local_warning(&[
            (LocalErrorKind::DescriptorsExhausted, 12),
            (LocalErrorKind::AddressFamilyUnsupported, 1),
        ]);
        assert!(
            html.contains(
                "short of file descriptors: 12 probes could not run in the last 10 minutes"
            ),
            "{html}"
        );
        assert!(html.contains("1 probe could not run"), "{html}");
        assert!(html.contains("mtasts_probe_local_errors_total"), "{html}");
    }

    fn entry_of(report: ProbeReport) -> Entry {
        let latest = [(
            report.domain.clone(),
            Arc::new(LatestReport::of(report.clone(), true)),
        )]
        .into_iter()
        .collect();
        entries(
            [report.domain.as_str()].into_iter(),
            &latest,
            &CertThresholds::default(),
            report.timestamp,
        )
        .remove(0)
    }

    #[test]
    fn a_family_without_a_route_is_said_on_the_page() {
        assert_eq!(unrouted_warning(""), "");
        let html = unrouted_warning("note: this machine has no ipv6 route: <x>\n");
        assert_eq!(
            html,
            "<p class=\"warn\"><strong>this machine has no ipv6 route: &lt;x&gt;</strong></p>\n"
        );
    }

    #[test]
    fn a_probe_cut_short_is_not_shown_as_failing() {
        let report = ProbeReport {
            phases: vec![PhaseTiming {
                phase: Phase::RecordLookup,
                duration_seconds: 0.001,
                ok: false,
                local_error: Some(LocalError::new(LocalErrorKind::DescriptorsExhausted, "x")),
            }],
            ..ProbeReport::blank("example.com", 1.0)
        };
        let mut html = String::new();
        row(
            &mut html,
            &entry_of(report),
            "",
            &CertThresholds::default(),
            1.0,
        );
        assert!(
            html.contains("not probed: the exporter is short of file descriptors"),
            "{html}"
        );
        assert!(!html.contains("failing"), "{html}");
    }

    use crate::probe::judge::fixtures::mx_host as host;

    #[test]
    fn a_row_says_the_failure_and_its_host_and_escapes_network_text() {
        let mut report = ProbeReport::blank("a.test", 1_000.0);
        report.mx_hosts = Some(vec![host("mx2.a.test")]);
        report.failures.push(Failure::new(
            Phase::Starttls,
            ResultType::CertificateExpired,
            Reason::CertificateExpired,
            "mx2.a.test: <script>alert(1)</script>",
        ));
        let mut html = String::new();
        row(
            &mut html,
            &entry_of(report),
            "",
            &CertThresholds::default(),
            1_000.0,
        );
        assert!(html.contains("data-status=\"failing\""), "{html}");
        assert!(
            html.contains(
                "<span class=\"fail code\">certificate-expired</span> on <code>mx2.a.test</code>"
            ),
            "{html}"
        );
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
    }

    #[test]
    fn page_links_keep_the_filter_and_stop_at_the_ends() {
        let names: Vec<String> = (0..250).map(|i| format!("d{i:03}.test")).collect();
        let entries = entries(
            names.iter().map(String::as_str),
            &Default::default(),
            &CertThresholds::default(),
            0.0,
        );
        let params = |page: &str| {
            vec![
                ("q".to_string(), "d".to_string()),
                ("page".to_string(), page.to_string()),
            ]
        };
        let query = Query::parse(&params("2"));
        let mut html = String::new();
        pages(&mut html, &select(&entries, &query), &query);
        assert!(
            html.contains("<a href=\"/?q=d\" rel=\"first\">« first</a>"),
            "{html}"
        );
        assert!(
            html.contains("<a href=\"/?q=d\" rel=\"prev\">‹ previous</a>"),
            "{html}"
        );
        assert!(html.contains("page 2 of 3 (100 per page)"), "{html}");
        assert!(
            html.contains("<a href=\"/?q=d&amp;page=3\" rel=\"next\">next ›</a>"),
            "{html}"
        );
        let query = Query::parse(&params("3"));
        let mut html = String::new();
        pages(&mut html, &select(&entries, &query), &query);
        assert!(html.contains("<span class=\"off\">next ›</span>"), "{html}");
        assert!(html.contains("<span class=\"off\">last »</span>"), "{html}");
        let mut html = String::new();
        listing(
            &mut html,
            &select(&entries, &query),
            &[],
            &query,
            &CertThresholds::default(),
            0.0,
        );
        assert!(html.contains("Domains 201–250 of 250"), "{html}");
        assert_eq!(html.matches("<tr data-domain=").count(), 50);
    }

    #[test]
    fn the_mode_shown_is_the_policy_in_force() {
        use crate::report::{CachedPolicy, PolicyReport};
        use crate::rfc::rfc8461::policy::Mode;
        let served = PolicyReport::blank(Mode::Testing, 86_400, &["mx.example.com"]);
        let cached = CachedPolicy::of(
            "1",
            &PolicyReport {
                mode: Mode::Enforce,
                ..served.clone()
            },
            0.5,
        );
        // The record fails: the policy served is not in force, the cached one is.
        let report = ProbeReport {
            policy: Some(served),
            policy_source: PolicySource::Cached,
            cached_policy: Some(cached),
            ..ProbeReport::blank("example.com", 1.0)
        };
        let mut html = String::new();
        row(
            &mut html,
            &entry_of(report.clone()),
            "",
            &CertThresholds::default(),
            1.0,
        );
        assert!(html.contains("<td>enforce (cached)</td>"), "{html}");
        let report = ProbeReport {
            policy_source: PolicySource::None,
            cached_policy: None,
            ..report
        };
        let mut html = String::new();
        row(
            &mut html,
            &entry_of(report),
            "",
            &CertThresholds::default(),
            1.0,
        );
        assert!(html.contains("<td>—</td>"), "{html}");
    }
}
