//! The landing page `/`: links to the other endpoints and a table of the
//! latest report of every watched domain.

use super::response::{html, HttpResponse};
use super::AppState;
use crate::metrics::recent::WINDOW_MINUTES;
use crate::report::{CertThresholds, ExpiryLevel, PolicySource, ProbeReport};
use crate::taxonomy::LocalErrorKind;
use hyper::StatusCode;
use std::fmt::Write as _;

/// Renders the page.
pub(super) fn page(state: &AppState) -> HttpResponse {
    html(StatusCode::OK, render(state))
}

/// From the doctype to the heading.
const HEAD: &str = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>MTA-STS Exporter</title>\
         <style>body{font-family:sans-serif}td,th{padding:2px 8px;text-align:left}.fail{color:#b00}.warn{color:#b60}.ok{color:#070}</style>\
         </head><body>\n<h1>MTA-STS Exporter</h1>\n";

/// The table's header row.
const TABLE_HEAD: &str = "<table>\n<tr><th>Domain</th><th>Status</th><th>Mode</th><th>Failures</th><th>Warnings</th><th>Earliest certificate expiry</th><th>Probe duration (s)</th></tr>\n";

/// Escapes text for HTML.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The page: a line of links and counts, then one row per domain, sorted.
fn render(state: &AppState) -> String {
    let mut reports: Vec<_> = state
        .app
        .latest
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .values()
        .cloned()
        .collect();
    reports.sort_by(|a, b| a.domain.cmp(&b.domain));
    let (pending, total) = state.app.readiness.progress();
    let config = state.app.reloader.current().config.clone();
    let thresholds = config.certificates;
    let example = config
        .domains
        .first()
        .map(|d| d.name.clone())
        .unwrap_or_else(|| "example.com".into());
    let mut html = String::from(HEAD);
    let _ = writeln!(
        html,
        "<p>Version {}. <a href=\"{}\">Metrics</a> · <a href=\"/-/ready\">Readiness</a> · \
         <a href=\"/probe?target={}\">Probe {}</a> (<code>/probe?target=DOMAIN[&amp;module=NAME]</code>) · \
         {} domains, {} not probed yet.</p>",
        env!("CARGO_PKG_VERSION"),
        escape(&state.telemetry_path),
        escape(&example),
        escape(&example),
        total,
        pending
    );
    html.push_str(&local_warning(&state.app.metrics.recent_local_errors()));
    let loaded = state.app.reloader.current();
    html.push_str(&unrouted_warning(&crate::check::local_network_note(
        loaded.prober.local_network(),
        &loaded.config.addresses,
    )));
    html.push_str(TABLE_HEAD);
    for report in &reports {
        row(&mut html, report, &thresholds);
    }
    html.push_str("</table>\n</body></html>\n");
    html
}

/// A warning per kind of local error that cut probes short in the last
/// minutes: the exporter's own problem, which no domain row shows as a
/// failure.
fn local_warning(recent: &[(LocalErrorKind, u64)]) -> String {
    let mut html = String::new();
    for (kind, probes) in recent {
        let _ = writeln!(
            html,
            "<p class=\"fail\"><strong>The exporter itself is short of {}: {} probe{} could not \
             run in the last {} minutes</strong> ({}; their domains keep their previous results) \
             — see <code>mtasts_probe_local_errors_total</code>.</p>",
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

/// Appends the table row of one domain's latest report.
fn row(html: &mut String, report: &ProbeReport, thresholds: &CertThresholds) {
    let local = report.local_errors().next().map(|l| l.kind);
    let status = match local {
        Some(kind) => format!(
            "<span class=\"fail\">not probed: the exporter is short of {}</span>",
            kind.shortage()
        ),
        None if report.success => "<span class=\"ok\">ok</span>".into(),
        None => "<span class=\"fail\">failing</span>".into(),
    };
    // The mode of the policy in force: the cached copy senders apply says so.
    let mode = match (report.judged_mode(), report.policy_source) {
        (Some(mode), PolicySource::Cached) => format!("{} (cached)", mode.as_str()),
        (Some(mode), _) => mode.as_str().to_string(),
        (None, _) => "-".to_string(),
    };
    let failures: Vec<String> = report
        .failures
        .iter()
        .map(|f| format!("{} ({})", f.reason.as_str(), f.result_type.as_str()))
        .collect();
    let warnings: Vec<&str> = report.warnings.iter().map(|w| w.as_str()).collect();
    let expiry = expiry(report, thresholds);
    let _ = writeln!(
        html,
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.3}</td></tr>",
        escape(&report.domain),
        status,
        mode,
        escape(&failures.join(", ")),
        escape(&warnings.join(", ")),
        expiry,
        report.duration_seconds
    );
}

/// Days until the earliest certificate expires, coloured by the
/// `certificates:` thresholds (orange within the warning one, red within
/// the critical one), or (in red) since it did.
fn expiry(report: &ProbeReport, thresholds: &CertThresholds) -> String {
    report
        .earliest_cert_expiry()
        .map(|t| {
            let days = (t as f64 - report.timestamp) / 86400.0;
            match thresholds.level(t, report.timestamp) {
                ExpiryLevel::Fine => format!("{days:.0} days"),
                ExpiryLevel::Warning => format!("<span class=\"warn\">{days:.0} days</span>"),
                ExpiryLevel::Critical => format!("<span class=\"fail\">{days:.0} days</span>"),
                ExpiryLevel::Expired => {
                    format!("<span class=\"fail\">expired {:.0} days ago</span>", -days)
                }
            }
        })
        .unwrap_or_else(|| "-".into())
}

#[cfg(test)]
mod tests {
    use super::*;

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
        use crate::report::PhaseTiming;
        use crate::taxonomy::{LocalError, Phase};
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
        row(&mut html, &report, &CertThresholds::default());
        assert!(
            html.contains("not probed: the exporter is short of file descriptors"),
            "{html}"
        );
        assert!(!html.contains("failing"), "{html}");
    }

    #[test]
    fn the_mode_shown_is_the_policy_in_force() {
        use crate::report::{CachedPolicy, PolicyReport};
        use crate::rfc::rfc8461::policy::Mode;
        let served = PolicyReport {
            mode: Mode::Testing,
            max_age: 86_400,
            mx: vec!["mx.example.com".into()],
            text: String::new(),
            content_type: None,
            duplicate_fields: Vec::new(),
        };
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
        row(&mut html, &report, &CertThresholds::default());
        assert!(html.contains("<td>enforce (cached)</td>"), "{html}");
        let report = ProbeReport {
            policy_source: PolicySource::None,
            cached_policy: None,
            ..report
        };
        let mut html = String::new();
        row(&mut html, &report, &CertThresholds::default());
        assert!(html.contains("<td>-</td>"), "{html}");
    }

    #[test]
    fn escape_replaces_four_characters_and_leaves_the_rest() {
        assert_eq!(
            escape(r#"<a href="x">&amp;'é</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;amp;'é&lt;/a&gt;"
        );
    }
}
