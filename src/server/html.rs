//! What the HTML pages (the status page `/` and a domain's page
//! `/domain/<name>`) share: escaping, the page frame with its inline style
//! sheet (no external assets: the pages work offline and with JavaScript
//! off), and how times, ages and certificate expiries are written.

use crate::report::{CertThresholds, ExpiryLevel};
use std::fmt::Write as _;

/// Escapes text for HTML element content and double- or single-quoted
/// attribute values.
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Characters of a value from the network (a record, an issuer, an error
/// message) shown at most; the rest is cut with its length
/// ([`crate::echo::capped_at`]). A policy text is bounded by its 64 KiB
/// fetch cap instead.
pub(super) const SHOWN_CHARS: usize = 1000;

/// `text` capped at [`SHOWN_CHARS`], then escaped.
pub(super) fn shown(text: &str) -> String {
    escape(&crate::echo::capped_at(text, SHOWN_CHARS))
}

/// A line of the remedy table (`crate::remedy`), escaped, with its
/// `` `code` `` spans as `<code>`; an unpaired backtick stays as written.
pub(super) fn with_code(text: &str) -> String {
    let parts: Vec<&str> = text.split('`').collect();
    // An odd number of parts: every backtick is paired.
    let paired = if parts.len() % 2 == 1 {
        parts.len()
    } else {
        parts.len() - 1
    };
    let mut out = String::with_capacity(text.len() + 32);
    for (i, part) in parts.iter().enumerate() {
        if i % 2 == 1 && i < paired {
            out.push_str("<code>");
            out.push_str(&escape(part));
            out.push_str("</code>");
        } else {
            if i % 2 == 1 {
                out.push('`');
            }
            out.push_str(&escape(part));
        }
    }
    out
}

/// The style sheet of every page: readable on a laptop and a wall screen,
/// colours that say ok (green), warning (amber), failing (red) and not
/// probed (grey) with the words next to them, never by colour alone.
const STYLE: &str = "\
:root{--fail:#b3261e;--fail-bg:#fdecea;--warn:#8a5300;--warn-bg:#fff4e0;--ok:#1e6b34;--ok-bg:#e7f5ea;\
--idle:#555;--idle-bg:#eceff1;--line:#d9dde3;--muted:#5f6873;--link:#0b57d0}\
*{box-sizing:border-box}\
body{font-family:system-ui,-apple-system,\"Segoe UI\",Roboto,\"DejaVu Sans\",sans-serif;margin:0;color:#1f2328;background:#f6f7f9;line-height:1.45}\
a{color:var(--link)}\
header.top{background:#1f2a37;color:#fff;padding:14px 24px}\
header.top h1{font-size:1.35rem;margin:0 0 4px}\
header.top a{color:#cfe0ff}\
header.top .meta{font-size:.9rem;color:#d5dbe3}\
main{padding:16px 24px 32px;max-width:1500px}\
h2{font-size:1.1rem;margin:26px 0 8px}\
.notice{border-left:5px solid var(--fail);background:var(--fail-bg);padding:10px 14px;margin:12px 0;border-radius:4px}\
.notice pre{margin:6px 0 0;white-space:pre-wrap;font-size:.85rem}\
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:14px 0}\
.card{display:block;min-width:140px;padding:10px 14px;border-radius:8px;background:#fff;border:1px solid var(--line);\
border-top:5px solid var(--idle);text-decoration:none;color:inherit}\
.card:hover{box-shadow:0 1px 4px rgba(0,0,0,.15)}\
.card .n{display:block;font-size:1.7rem;font-weight:700;line-height:1.1}\
.card .l{font-size:.85rem;color:var(--muted)}\
.card.failing{border-top-color:var(--fail)}.card.failing .n{color:var(--fail)}\
.card.warning{border-top-color:#d98b00}.card.warning .n{color:var(--warn)}\
.card.ok{border-top-color:#2e9e50}.card.ok .n{color:var(--ok)}\
.card.cert-critical{border-top-color:var(--fail)}.card.cert-critical .n{color:var(--fail)}\
.card.cert-warning{border-top-color:#d98b00}.card.cert-warning .n{color:var(--warn)}\
.card.selected{outline:2px solid var(--link)}\
form.filter{display:flex;flex-wrap:wrap;gap:10px;align-items:end;background:#fff;border:1px solid var(--line);\
border-radius:8px;padding:10px 14px;margin:6px 0 12px}\
form.filter label{display:flex;flex-direction:column;font-size:.85rem;color:var(--muted);gap:3px}\
form.filter input,form.filter select,form.filter button{font:inherit;padding:5px 8px;border:1px solid #b8bfc7;border-radius:5px}\
form.filter input{min-width:260px}\
form.filter button{background:var(--link);color:#fff;border-color:var(--link);cursor:pointer}\
table{border-collapse:collapse;background:#fff;border:1px solid var(--line);width:100%}\
th,td{padding:7px 10px;text-align:left;vertical-align:top;border-bottom:1px solid var(--line)}\
th{background:#eef1f4;font-size:.85rem;color:#333;white-space:nowrap}\
tbody tr:nth-child(even){background:#fafbfc}\
td.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}\
td.nowrap{white-space:nowrap}\
.badge{display:inline-block;padding:1px 9px;border-radius:10px;font-size:.85rem;font-weight:600;white-space:nowrap}\
.badge.failing{background:var(--fail-bg);color:var(--fail)}\
.badge.warning{background:var(--warn-bg);color:var(--warn)}\
.badge.ok{background:var(--ok-bg);color:var(--ok)}\
.badge.not-probed,.badge.incomplete{background:var(--idle-bg);color:var(--idle)}\
.exp{white-space:nowrap;font-variant-numeric:tabular-nums}\
.exp.warning{background:var(--warn-bg);color:var(--warn);font-weight:600;padding:1px 7px;border-radius:4px}\
.exp.critical,.exp.expired{background:var(--fail);color:#fff;font-weight:700;padding:1px 7px;border-radius:4px}\
.fail{color:var(--fail)}.warn{color:var(--warn)}.okc{color:var(--ok)}\
.muted{color:var(--muted);font-size:.85rem}\
.code{white-space:nowrap}\
.scroll{overflow-x:auto}\
ul.plain{list-style:none;margin:0;padding:0}\
ul.plain li{margin:0 0 2px}\
code,pre{font-family:ui-monospace,\"DejaVu Sans Mono\",Menlo,monospace;font-size:.88rem}\
pre.policy{background:#fff;border:1px solid var(--line);border-radius:6px;padding:10px 12px;overflow:auto;max-height:420px}\
nav.pages{display:flex;gap:14px;align-items:center;margin:12px 0}\
nav.pages .off{color:#9aa3ad}\
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;background:#fff;border:1px solid var(--line);\
border-radius:8px;padding:10px 14px;margin:0}\
dl.facts dt{color:var(--muted)}dl.facts dd{margin:0}\
";

/// The page up to the start of `<main>`: title, style sheet and the dark
/// header bar with `heading` and the `meta` line (HTML, already escaped).
pub(super) fn open_page(title: &str, heading: &str, meta: &str) -> String {
    let mut html = String::with_capacity(64 * 1024);
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><link rel=\"icon\" href=\"data:,\"><style>{STYLE}</style></head>\n<body>\n\
         <header class=\"top\"><h1>{}</h1><div class=\"meta\">{meta}</div></header>\n<main>\n",
        escape(title),
        escape(heading),
    );
    html
}

/// Closes what [`open_page`] opened.
pub(super) fn close_page(html: &mut String) {
    html.push_str("</main>\n</body></html>\n");
}

/// Unix seconds as `2026-12-01 14:51:22 UTC` (or the number when out of
/// range).
pub(super) fn utc(seconds: f64) -> String {
    time::OffsetDateTime::from_unix_timestamp(seconds.floor() as i64)
        .map(|t| {
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            )
        })
        .unwrap_or_else(|_| format!("{seconds:.0}"))
}

/// How long ago `then` was at `now` (Unix seconds), in the largest unit
/// that keeps it a small number: `12 s ago`, `5 min ago`, `3 h ago`,
/// `2 days ago`; `just now` for less than a second, `in the future` for a
/// clock that went back.
pub(super) fn age(then: f64, now: f64) -> String {
    let seconds = now - then;
    if seconds < -1.0 {
        return "in the future".into();
    }
    if seconds < 1.0 {
        return "just now".into();
    }
    format!("{} ago", span(seconds))
}

/// A length of time in its largest sensible unit: `12 s`, `5 min`, `3 h`,
/// `2 days`.
pub(super) fn span(seconds: f64) -> String {
    let seconds = seconds.max(0.0);
    if seconds < 60.0 {
        format!("{seconds:.0} s")
    } else if seconds < 3600.0 {
        format!("{:.0} min", (seconds / 60.0).floor())
    } else if seconds < 86_400.0 * 2.0 {
        format!("{:.0} h", (seconds / 3600.0).floor())
    } else {
        format!("{:.0} days", (seconds / 86_400.0).floor())
    }
}

/// A certificate expiry (`not_after`, Unix seconds) at `now`: the days
/// left, coloured by the `certificates:` thresholds (amber within the
/// warning one, red within the critical one or once expired, plain
/// otherwise), the date on hover; `data-level` for tests.
pub(super) fn expiry(not_after: i64, now: f64, thresholds: &CertThresholds) -> String {
    let days = (not_after as f64 - now) / 86_400.0;
    let (class, words) = match thresholds.level(not_after, now) {
        ExpiryLevel::Fine => ("fine", format!("{days:.0} days")),
        ExpiryLevel::Warning => ("warning", format!("{days:.0} days")),
        ExpiryLevel::Critical if days < 1.0 => ("critical", "under 1 day".to_string()),
        ExpiryLevel::Critical => ("critical", format!("{days:.0} days")),
        ExpiryLevel::Expired => ("expired", format!("expired {:.0} days ago", -days)),
    };
    format!(
        "<span class=\"exp {class}\" title=\"not after {}\" data-level=\"{class}\">{words}</span>",
        utc(not_after as f64)
    )
}

/// The current time, Unix seconds.
pub(super) fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_replaces_five_characters_and_leaves_the_rest() {
        assert_eq!(
            escape(r#"<a href="x">&amp;'é</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;amp;&#39;é&lt;/a&gt;"
        );
    }

    #[test]
    fn long_values_from_the_network_are_cut_before_they_are_shown() {
        let long = "<".repeat(5000);
        let html = shown(&long);
        assert!(html.starts_with(&"&lt;".repeat(SHOWN_CHARS)), "{html}");
        assert!(html.ends_with("… (5000 bytes)"), "{html}");
    }

    #[test]
    fn remedy_lines_get_their_code_spans() {
        assert_eq!(
            with_code("Publish `v=STSv1; id=<x>` at `_mta-sts.<domain>`."),
            "Publish <code>v=STSv1; id=&lt;x&gt;</code> at <code>_mta-sts.&lt;domain&gt;</code>."
        );
        assert_eq!(with_code("a `b"), "a `b");
        assert_eq!(with_code("no code"), "no code");
    }

    #[test]
    fn times_and_ages() {
        assert_eq!(utc(1_764_600_682.7), "2025-12-01 14:51:22 UTC");
        assert_eq!(age(100.0, 100.5), "just now");
        assert_eq!(age(100.0, 112.0), "12 s ago");
        assert_eq!(age(0.0, 330.0), "5 min ago");
        assert_eq!(age(0.0, 3.5 * 3600.0), "3 h ago");
        assert_eq!(age(0.0, 5.0 * 86_400.0), "5 days ago");
        assert_eq!(age(100.0, 0.0), "in the future");
    }

    #[test]
    fn expiry_is_coloured_by_the_thresholds() {
        let t = CertThresholds::default();
        let now = 1_000_000.0;
        let at = |days: f64| (now + days * 86_400.0) as i64;
        assert!(expiry(at(90.0), now, &t).contains("data-level=\"fine\">90 days<"));
        assert!(expiry(at(20.0), now, &t).contains("data-level=\"warning\">20 days<"));
        assert!(expiry(at(5.0), now, &t).contains("data-level=\"critical\">5 days<"));
        assert!(expiry(at(0.5), now, &t).contains("data-level=\"critical\">under 1 day<"));
        assert!(expiry(at(-3.0), now, &t).contains("data-level=\"expired\">expired 3 days ago<"));
    }
}
