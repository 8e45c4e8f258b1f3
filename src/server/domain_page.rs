//! A domain's page, `/domain/<name>`: what `mtasts-exporter check` shows
//! of the domain's latest probe, for people: the verdict, the failures
//! with the MX host each concerns, the warnings, the STS record (RFC 8461
//! §3.1), the policy text (§3.2) and its host's certificate, every MX host
//! with its STARTTLS check and certificate (§4), the TLSRPT record
//! (RFC 8460 §3) and how long each phase took.
//!
//! Only a domain this exporter probes has a page: the name is looked up
//! among the scheduled domains and anything else is 404, without echoing
//! what was asked.

use super::html::{age, close_page, escape, expiry, open_page, shown, unix_now, utc, with_code};
use super::response::{html, text, HttpResponse};
use super::status::{concerned_host, Status};
use super::AppState;
use crate::config::{normalize_domain, DomainConfig};
use crate::latest::LatestReport;
use crate::remedy;
use crate::report::{
    CertInfo, CertThresholds, MxHostReport, PhaseTiming, PolicySource, ProbeReport,
};
use crate::rfc::rfc5321::MxSource;
use crate::rfc::rfc8461::policy::Mode;
use hyper::StatusCode;
use std::fmt::Write as _;

/// Bytes of a path segment looked at: a domain name is at most 253
/// characters, percent-encoded Unicode a few times that.
const MAX_SEGMENT_BYTES: usize = 2048;

/// Answers `/domain/<segment>`.
pub(super) fn page(state: &AppState, segment: &str) -> HttpResponse {
    let config = state.app.reloader.current().config.clone();
    let Some(domain) = lookup(segment, config.scheduled_domains()) else {
        return text(
            StatusCode::NOT_FOUND,
            "not found: no domain of that name is probed by this exporter\n",
        );
    };
    let latest = state
        .app
        .latest
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&domain.name)
        .cloned();
    let thresholds = &config.certificates;
    let mut page = match latest.as_deref() {
        None => render(domain, None, thresholds, unix_now()),
        Some(LatestReport {
            full: Some(report), ..
        }) => render(domain, Some(report), thresholds, unix_now()),
        Some(summary) => render_summary(domain, summary, thresholds, unix_now()),
    };
    if let Some(ingestor) = &state.app.reports {
        // What senders reported goes after what the probe saw; that they
        // reported failures goes at the top, next to the probe's verdict.
        let probe_passes = match Status::of_latest(latest.as_deref()) {
            Status::Ok | Status::Warning => Some(true),
            Status::Failing => Some(false),
            Status::Incomplete | Status::NotProbed => None,
        };
        let (notice, section) = ingestor.with_recent(|recent| {
            (
                super::reports_section::domain_notice(
                    recent,
                    &domain.name,
                    probe_passes,
                    unix_now(),
                ),
                super::reports_section::domain_section(recent, &domain.name, unix_now()),
            )
        });
        insert_after_summary(&mut page, &notice);
        let reading = super::reports_section::reading_note(state.app.reports_reading.as_deref());
        insert_before_close(&mut page, &format!("{reading}{section}"));
    }
    html(StatusCode::OK, page)
}

/// Puts `notice` right after the page's summary (the verdict at its top).
fn insert_after_summary(page: &mut String, notice: &str) {
    const END: &str = "</dl>\n";
    let at = page.find("id=\"summary\"").and_then(|summary| {
        page[summary..]
            .find(END)
            .map(|end| summary + end + END.len())
    });
    if let Some(at) = at {
        page.insert_str(at, notice);
    }
}

/// Puts `section` at the end of the page's body, before what
/// `close_page` wrote.
fn insert_before_close(page: &mut String, section: &str) {
    let at = page
        .rfind("</main>")
        .or_else(|| page.rfind("</body>"))
        .unwrap_or(page.len());
    page.insert_str(at, section);
}

/// The page of a passing `domain` of which only the summary of the latest
/// probe is kept ([`crate::latest`]): its verdict, when, the mode in force,
/// the earliest certificate expiry and the phase timings, and how to see
/// the rest.
fn render_summary(
    domain: &DomainConfig,
    latest: &LatestReport,
    thresholds: &CertThresholds,
    now: f64,
) -> String {
    let mut html = open_domain_page(
        domain,
        "<a href=\"/\">← all domains</a> · the latest probe, in short",
    );
    let status = Status::of_latest(Some(latest));
    let _ = write!(
        html,
        "<dl class=\"facts\" id=\"summary\"><dt>Status</dt><dd><span class=\"badge {}\" id=\"status\">{}</span></dd>\
         <dt>Last probed</dt><dd>{} ({})</dd><dt>Took</dt><dd>{:.3} s</dd>",
        status.key(),
        status.word(),
        utc(latest.timestamp),
        age(latest.timestamp, now),
        latest.duration_seconds
    );
    if let Some(mode) = latest.judged_mode {
        let _ = write!(
            html,
            "<dt>Policy mode</dt><dd>{}{}</dd>",
            mode.as_str(),
            if latest.policy_source == PolicySource::Cached {
                " (cached)"
            } else {
                ""
            }
        );
    }
    if let Some(t) = latest.earliest_cert_expiry {
        let _ = write!(
            html,
            "<dt>Earliest certificate expiry</dt><dd>{} ({})</dd>",
            expiry(t, now, thresholds),
            utc(t as f64)
        );
    }
    html.push_str("</dl>\n");
    let _ = writeln!(
        html,
        "<p class=\"muted\" id=\"summary-only\">The domain passes with nothing to report. This exporter \
         watches more than {} passing domains, so it keeps the whole latest probe (record, policy, \
         certificates, MX hosts, TLSRPT) only of domains with failures or warnings and of the first {} \
         passing ones. <code>mtasts-exporter check {}</code> shows it all.</p>",
        crate::latest::PASSING_FULL_REPORTS,
        crate::latest::PASSING_FULL_REPORTS,
        escape(&domain.name),
    );
    timing_table(&mut html, &latest.phases, latest.duration_seconds);
    close_page(&mut html);
    html
}

/// The scheduled domain `segment` names (percent-decoded, IDN or
/// punycode, any case, trailing dot allowed), if any.
fn lookup<'a>(
    segment: &str,
    mut domains: impl Iterator<Item = &'a DomainConfig>,
) -> Option<&'a DomainConfig> {
    // Letters, digits, `-`, `.`, and `%` escapes (of Unicode labels); so
    // no `&`, `=` or `+` reaches the form decoder below as syntax.
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"-._%".contains(&b);
    if segment.is_empty() || segment.len() > MAX_SEGMENT_BYTES || !segment.bytes().all(allowed) {
        return None;
    }
    let decoded = super::probe::query_params(Some(&format!("d={segment}")))
        .into_iter()
        .next()
        .map(|(_, v)| v)?;
    let name = normalize_domain(&decoded).ok()?;
    domains.find(|d| d.name == name)
}

/// The start of a domain's page: its name (in Unicode too, for an IDN) as
/// the title and heading, and `subtitle` (HTML) under it.
fn open_domain_page(domain: &DomainConfig, subtitle: &str) -> String {
    let (unicode, _) = idna::domain_to_unicode(&domain.name);
    let heading = if unicode == domain.name {
        domain.name.clone()
    } else {
        format!("{unicode} ({})", domain.name)
    };
    open_page(
        &format!("{} – MTA-STS Exporter", domain.name),
        &heading,
        subtitle,
    )
}

/// The page of `domain` with its latest `report` (`None`: not probed yet)
/// at `now`.
fn render(
    domain: &DomainConfig,
    report: Option<&ProbeReport>,
    thresholds: &CertThresholds,
    now: f64,
) -> String {
    let mut html = open_domain_page(
        domain,
        "<a href=\"/\">← all domains</a> · the latest probe, as \
         <code>mtasts-exporter check</code> shows it",
    );
    summary(&mut html, domain, report, thresholds, now);
    if let Some(report) = report {
        failures(&mut html, report);
        warnings(&mut html, report);
        record(&mut html, report);
        policy(&mut html, report, thresholds);
        mx_hosts(&mut html, report, thresholds);
        tlsrpt(&mut html, report);
        timings(&mut html, report);
    }
    close_page(&mut html);
    html
}

/// Status, when probed and how long it took, how often it is probed.
fn summary(
    html: &mut String,
    domain: &DomainConfig,
    report: Option<&ProbeReport>,
    thresholds: &CertThresholds,
    now: f64,
) {
    let status = Status::of(report);
    let _ = write!(
        html,
        "<dl class=\"facts\" id=\"summary\"><dt>Status</dt><dd><span class=\"badge {}\" id=\"status\">{}</span></dd>",
        status.key(),
        status.word()
    );
    match report {
        Some(report) => {
            let _ = write!(
                html,
                "<dt>Last probed</dt><dd>{} ({})</dd><dt>Took</dt><dd>{:.3} s</dd>",
                utc(report.timestamp),
                age(report.timestamp, now),
                report.duration_seconds
            );
            if let Some(t) = report.earliest_cert_expiry() {
                let _ = write!(
                    html,
                    "<dt>Earliest certificate expiry</dt><dd>{} ({})</dd>",
                    expiry(t, now, thresholds),
                    utc(t as f64)
                );
            }
        }
        None => html.push_str(
            "<dt>Last probed</dt><dd>not yet: the first probe runs soon after the domain is \
             configured or the exporter starts</dd>",
        ),
    }
    let settings = &domain.settings;
    let _ = writeln!(
        html,
        "<dt>Probed</dt><dd>every {} (timeout {}){}{}</dd></dl>",
        super::html::span(settings.interval.as_secs_f64()),
        super::html::span(settings.timeout.as_secs_f64()),
        if settings.check_mx {
            ""
        } else {
            "; MX hosts not checked (check_mx: false)"
        },
        if settings.check_mx && !settings.check_starttls {
            "; STARTTLS not checked (check_starttls: false)"
        } else {
            ""
        },
    );
    if let Some(local) = report.and_then(|r| r.local_errors().next()) {
        let _ = writeln!(
            html,
            "<div class=\"notice\">The last probe was cut short: the exporter itself is short of {} \
             ({}: {}). It says nothing about the domain; the metrics keep the previous verdict.\
             <br><strong>What to do:</strong> {}</div>",
            local.kind.shortage(),
            local.kind.as_str(),
            shown(&local.detail),
            with_code(remedy::for_local_error(local.kind))
        );
    }
}

/// Every failure: phase, result type, reason, the MX host, the detail.
fn failures(html: &mut String, report: &ProbeReport) {
    html.push_str("<h2 id=\"failures\">Failures</h2>\n");
    if report.failures.is_empty() {
        html.push_str("<p class=\"okc\">None.</p>\n");
        return;
    }
    if report.success {
        html.push_str(
            "<p class=\"muted\">In mode <code>none</code> senders apply nothing: these do not fail \
             the domain.</p>\n",
        );
    }
    let hosts = report.mx_hosts.as_deref().unwrap_or_default();
    html.push_str(
        "<div class=\"scroll\"><table id=\"failure-table\"><thead><tr><th>Phase</th><th>Result type (RFC 8460)</th><th>Reason</th>\
         <th>MX host</th><th>Detail</th><th>What to do</th></tr></thead><tbody>\n",
    );
    for failure in &report.failures {
        let host = concerned_host(failure, hosts)
            .map(|h| format!("<code>{}</code>", escape(h)))
            .unwrap_or_else(|| "—".into());
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td>{}</td><td class=\"fail code\">{}</td><td>{host}</td><td>{}</td><td>{}</td></tr>",
            failure.phase.as_str(),
            failure.result_type.as_str(),
            escape(&failure.reason.as_str()),
            shown(&failure.detail),
            with_code(remedy::for_reason(failure.reason))
        );
    }
    html.push_str("</tbody></table></div>\n");
}

/// The warnings, by their codes.
fn warnings(html: &mut String, report: &ProbeReport) {
    html.push_str("<h2 id=\"warnings\">Warnings</h2>\n");
    if report.warnings.is_empty() {
        html.push_str("<p class=\"okc\">None.</p>\n");
        return;
    }
    html.push_str(
        "<div class=\"scroll\"><table id=\"warning-table\"><thead><tr><th>Warning</th><th>What to do</th>\
         </tr></thead><tbody>\n",
    );
    for warning in &report.warnings {
        let _ = writeln!(
            html,
            "<tr><td class=\"warn code\">{}</td><td>{}</td></tr>",
            warning.as_str(),
            with_code(remedy::for_warning(*warning))
        );
    }
    html.push_str("</tbody></table></div>\n");
}

/// The STS record (RFC 8461 §3.1).
fn record(html: &mut String, report: &ProbeReport) {
    html.push_str("<h2 id=\"record\">STS record</h2>\n");
    match &report.record {
        Some(record) => {
            let _ = writeln!(
                html,
                "<dl class=\"facts\"><dt>TXT at <code>_mta-sts.{}</code></dt><dd><code>{}</code></dd>\
                 <dt>id</dt><dd><code>{}</code></dd></dl>",
                escape(&report.domain),
                shown(&record.txt),
                shown(&record.id)
            );
        }
        None => html.push_str("<p>None valid (see the failures).</p>\n"),
    }
}

/// The policy (RFC 8461 §3.2), its text, and its host's certificate.
fn policy(html: &mut String, report: &ProbeReport, thresholds: &CertThresholds) {
    html.push_str("<h2 id=\"policy\">Policy</h2>\n");
    match &report.policy {
        Some(policy) => {
            let patterns = if policy.mx.is_empty() {
                "none".to_string()
            } else {
                policy
                    .mx
                    .iter()
                    .map(|p| format!("<code>{}</code>", shown(p)))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let _ = write!(
                html,
                "<dl class=\"facts\"><dt>mode</dt><dd>{}</dd><dt>max_age</dt><dd>{} s ({:.1} days)</dd>\
                 <dt>mx patterns</dt><dd>{patterns}</dd><dt>Content-Type</dt><dd>{}</dd>",
                policy.mode.as_str(),
                policy.max_age,
                policy.max_age as f64 / 86_400.0,
                policy
                    .content_type
                    .as_deref()
                    .map(shown)
                    .unwrap_or_else(|| "none".into()),
            );
            for duplicate in &policy.duplicate_fields {
                let values: Vec<String> = duplicate.values.iter().map(|v| shown(v)).collect();
                let _ = write!(
                    html,
                    "<dt>written more than once</dt><dd class=\"warn\"><code>{}</code>: {} \
                     (RFC 8461 §3.2: the first counts)</dd>",
                    shown(&duplicate.field),
                    values.join(", ")
                );
            }
            if !report.unused_patterns.is_empty() {
                let unused: Vec<String> = report
                    .unused_patterns
                    .iter()
                    .map(|p| format!("<code>{}</code>", shown(p)))
                    .collect();
                let _ = write!(
                    html,
                    "<dt>patterns no MX host uses</dt><dd class=\"warn\">{}</dd>",
                    unused.join(", ")
                );
            }
            html.push_str("</dl>\n");
        }
        None => html.push_str("<p>None valid served now (see the failures).</p>\n"),
    }
    policy_source(html, report);
    policy_addresses(html, report);
    if let Some(cert) = &report.policy_cert {
        let _ = writeln!(
            html,
            "<h3>Certificate of <code>mta-sts.{}</code></h3>{}",
            escape(&report.domain),
            cert_facts(cert, report.timestamp, thresholds)
        );
    }
    if let Some(policy) = &report.policy {
        let _ = writeln!(
            html,
            "<h3>Policy text</h3><pre class=\"policy\" id=\"policy-text\">{}</pre>",
            escape(&policy.text)
        );
    }
}

/// Which policy the MX hosts were judged against (RFC 8461 §5.1): the one
/// fetched now, the copy senders still cache, or none.
fn policy_source(html: &mut String, report: &ProbeReport) {
    let words = match (report.policy_source, &report.cached_policy) {
        (PolicySource::Fresh, _) => "the policy fetched now".to_string(),
        (PolicySource::Cached, Some(cached)) => format!(
            "<span class=\"warn\">the copy senders cached</span> (no fresh policy now: senders that \
             cached it still apply it): record id <code>{}</code>, mode {}, max_age {} s, mx {}, \
             fetched {}, expires {}",
            shown(&cached.id),
            cached.mode.as_str(),
            cached.max_age,
            if cached.mx.is_empty() {
                "none".to_string()
            } else {
                cached
                    .mx
                    .iter()
                    .map(|p| format!("<code>{}</code>", shown(p)))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
            utc(cached.fetched_at),
            utc(cached.expires_at)
        ),
        (PolicySource::None, _) if report.policy.is_some() => {
            "none (the policy served is not used without a valid record, and none is cached)"
                .to_string()
        }
        _ => "none (no valid policy now and none cached: senders apply no MTA-STS)".to_string(),
    };
    let _ = writeln!(
        html,
        "<p id=\"policy-source\" data-source=\"{}\"><strong>MX hosts judged against:</strong> {words}</p>",
        report.policy_source.as_str()
    );
}

/// A certificate: verdict, names, issuer, validity, expiry coloured.
fn cert_facts(cert: &CertInfo, now: f64, thresholds: &CertThresholds) -> String {
    let verdict = match &cert.problem {
        None if cert.valid => "<span class=\"okc\">valid</span>".to_string(),
        None => "<span class=\"fail\">not valid</span>".to_string(),
        Some(problem) => format!(
            "<span class=\"fail\">not valid: {}</span>",
            shown(&problem.to_string())
        ),
    };
    let names: Vec<String> = cert.names.iter().map(|n| shown(n)).collect();
    format!(
        "<dl class=\"facts\"><dt>verdict</dt><dd>{verdict}</dd><dt>names</dt><dd>{}</dd>\
         <dt>issuer</dt><dd>{}</dd><dt>valid from</dt><dd>{}</dd><dt>expires</dt><dd>{} ({})</dd></dl>",
        names.join(", "),
        shown(&cert.issuer),
        utc(cert.not_before as f64),
        utc(cert.not_after as f64),
        expiry(cert.not_after, now, thresholds)
    )
}

/// Every MX host: how the policy treats it, its STARTTLS check, its
/// certificate.
fn mx_hosts(html: &mut String, report: &ProbeReport, thresholds: &CertThresholds) {
    html.push_str("<h2 id=\"mx\">MX hosts</h2>\n");
    let hosts = match &report.mx_hosts {
        None => {
            html.push_str("<p>Not checked, or the MX lookup failed (see the failures).</p>\n");
            return;
        }
        Some(hosts) if hosts.is_empty() => {
            html.push_str("<p>A null MX: the domain accepts no mail (RFC 7505).</p>\n");
            return;
        }
        Some(hosts) => hosts,
    };
    if report.mx_source == Some(MxSource::Implicit) {
        html.push_str(
            "<p class=\"muted\">No MX records: the domain itself is the implicit MX (RFC 5321 §5.1).</p>\n",
        );
    }
    let mode_none = report.judged_mode() == Some(Mode::None);
    html.push_str(
        "<div class=\"scroll\"><table id=\"mx-table\"><thead><tr><th>Preference</th><th>Host</th><th>Policy</th><th>STARTTLS</th>\
         <th>Result</th><th>Certificate</th><th>Expires</th><th>Addresses</th></tr></thead><tbody>\n",
    );
    for host in hosts {
        mx_row(html, host, mode_none, report.timestamp, thresholds);
    }
    html.push_str("</tbody></table></div>\n");
}

/// One MX host's row.
fn mx_row(
    html: &mut String,
    host: &MxHostReport,
    mode_none: bool,
    now: f64,
    thresholds: &CertThresholds,
) {
    let policy = match host.matches_policy {
        Some(true) => "<span class=\"okc\">covered</span>",
        Some(false) if mode_none => "not listed (mode none: not applied)",
        Some(false) => "<span class=\"fail\">not covered</span>",
        None => "no policy to compare",
    };
    let starttls = match (host.starttls_offered, &host.tls_version) {
        (_, Some(version)) => format!("ok, {}", shown(version)),
        (Some(true), None) => "offered".to_string(),
        (Some(false), None) => "<span class=\"fail\">not offered</span>".to_string(),
        (None, None) if host.reason.is_some() => "not reached".to_string(),
        (None, None) => "not checked".to_string(),
    };
    let result = match (host.result_type, &host.reason) {
        (Some(result_type), Some(reason)) => format!(
            "<span class=\"fail code\">{}</span> <span class=\"muted\">({})</span>",
            escape(&reason.as_str()),
            result_type.as_str()
        ),
        _ if host.tls_version.is_some() => "<span class=\"okc\">ok</span>".to_string(),
        _ => "—".to_string(),
    };
    let (cert, expires) = match &host.cert {
        Some(cert) => {
            let verdict = match &cert.problem {
                None if cert.valid => "<span class=\"okc\">valid</span>".to_string(),
                None => "<span class=\"fail\">not valid</span>".to_string(),
                Some(problem) => format!(
                    "<span class=\"fail\">{}</span>",
                    shown(&problem.to_string())
                ),
            };
            let names: Vec<String> = cert.names.iter().map(|n| shown(n)).collect();
            (
                format!(
                    "{verdict}<br><span class=\"muted\">names {}; issuer {}</span>",
                    names.join(", "),
                    shown(&cert.issuer)
                ),
                expiry(cert.not_after, now, thresholds),
            )
        }
        None => ("none seen".to_string(), "—".to_string()),
    };
    let addresses = addresses(host, now, thresholds);
    let _ = writeln!(
        html,
        "<tr data-mx=\"{name}\"><td class=\"num\">{}</td><td><code>{name}</code></td><td>{policy}</td>\
         <td>{starttls}</td><td>{result}</td><td>{cert}</td><td>{expires}</td><td>{addresses}</td></tr>",
        host.preference,
        name = escape(&host.host),
    );
}

/// Each address of an MX host (RFC 5321 §5.1: a sender may use any): its
/// STARTTLS check and verdict, and its certificate's expiry when the host
/// has several (the host's columns are the worst over them).
fn addresses(host: &MxHostReport, now: f64, thresholds: &CertThresholds) -> String {
    if host.addresses.is_empty() {
        return "—".to_string();
    }
    let mut html = String::from("<ul class=\"plain\">");
    for address in &host.addresses {
        let line = match (address.result_type, &address.reason) {
            (None, Some(reason)) => format!(
                "<span class=\"muted\">not checked: this machine has no {} route ({}), no failure</span>",
                address.family.as_str(),
                escape(&reason.as_str())
            ),
            (Some(_), Some(reason)) => {
                format!("<span class=\"fail code\">{}</span>", escape(&reason.as_str()))
            }
            _ => match &address.tls_version {
                Some(version) => format!("<span class=\"okc\">ok</span>, {}", shown(version)),
                None => "—".to_string(),
            },
        };
        let cert = address
            .cert
            .as_ref()
            .filter(|_| host.addresses.len() > 1)
            .map(|c| format!(", certificate {}", expiry(c.not_after, now, thresholds)))
            .unwrap_or_default();
        let _ = write!(
            html,
            "<li data-address=\"{ip}\"><code>{ip}</code>: {line}{cert}</li>",
            ip = escape(&address.address.to_string())
        );
    }
    html.push_str("</ul>");
    html
}

/// Each address of the policy host, when it has several (RFC 8461 §3.3:
/// each sender fetches over the one it picks): what the fetch found.
fn policy_addresses(html: &mut String, report: &ProbeReport) {
    if report.policy_addresses.len() < 2 {
        return;
    }
    html.push_str("<p><strong>Fetched over each address:</strong></p><ul class=\"plain\">");
    for address in &report.policy_addresses {
        let line = match (address.result_type, &address.reason) {
            (None, Some(reason)) => format!(
                "<span class=\"muted\">not fetched: this machine has no {} route ({}), no failure</span>",
                address.family.as_str(),
                escape(&reason.as_str())
            ),
            (Some(result_type), Some(reason)) => format!(
                "<span class=\"fail code\">{}</span> <span class=\"muted\">({})</span>",
                escape(&reason.as_str()),
                result_type.as_str()
            ),
            _ => "<span class=\"okc\">ok</span>".to_string(),
        };
        let _ = write!(
            html,
            "<li data-address=\"{ip}\"><code>{ip}</code> ({}): {line}</li>",
            address.family.as_str(),
            ip = escape(&address.address.to_string())
        );
    }
    html.push_str("</ul>\n");
}

/// The TLSRPT record (RFC 8460 §3).
fn tlsrpt(html: &mut String, report: &ProbeReport) {
    html.push_str("<h2 id=\"tlsrpt\">TLSRPT</h2>\n");
    let Some(status) = &report.tlsrpt else {
        html.push_str("<p class=\"warn\">The lookup failed.</p>\n");
        return;
    };
    let words = if status.valid {
        let rua: Vec<String> = status
            .rua
            .iter()
            .map(|r| format!("<code>{}</code>", shown(r)))
            .collect();
        format!(
            "<span class=\"okc\">valid</span>, reports to {}",
            rua.join(", ")
        )
    } else if status.present {
        format!(
            "<span class=\"warn\">invalid</span>: {}",
            shown(status.error.as_deref().unwrap_or("unknown"))
        )
    } else {
        "<span class=\"warn\">none</span>: senders' failure reports go nowhere".to_string()
    };
    let _ = write!(
        html,
        "<dl class=\"facts\"><dt>TXT at <code>_smtp._tls.{}</code></dt><dd>{words}</dd>",
        escape(&report.domain)
    );
    if let Some(txt) = &status.txt {
        let _ = write!(html, "<dt>record</dt><dd><code>{}</code></dd>", shown(txt));
    }
    html.push_str("</dl>\n");
}

/// How long each phase took (one `starttls` row per MX host checked).
fn timings(html: &mut String, report: &ProbeReport) {
    timing_table(html, &report.phases, report.duration_seconds);
}

/// The table of `phases`, then the whole probe's `duration_seconds`.
fn timing_table(html: &mut String, phases: &[PhaseTiming], duration_seconds: f64) {
    html.push_str(
        "<h2 id=\"timings\">Phase timings</h2>\n<table id=\"timing-table\" style=\"width:auto\"><thead><tr>\
         <th>Phase</th><th>Took</th><th>Result</th></tr></thead><tbody>\n",
    );
    for phase in phases {
        let result = match &phase.local_error {
            Some(local) => format!(
                "<span class=\"muted\">not run: the exporter is short of {}</span>",
                local.kind.shortage()
            ),
            None if phase.ok => "<span class=\"okc\">ok</span>".to_string(),
            None => "<span class=\"fail\">error</span>".to_string(),
        };
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td class=\"num\">{:.3} s</td><td>{result}</td></tr>",
            phase.phase.as_str(),
            phase.duration_seconds
        );
    }
    let _ = writeln!(
        html,
        "<tr><th>whole probe</th><th class=\"num\">{:.3} s</th><th></th></tr></tbody></table>",
        duration_seconds
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ProbeSettings;
    use crate::report::PolicyReport;
    use crate::taxonomy::{Failure, Phase, Reason, ResultType};
    use std::time::Duration;

    fn domain(name: &str) -> DomainConfig {
        DomainConfig {
            name: name.into(),
            settings: ProbeSettings {
                interval: Duration::from_secs(300),
                timeout: Duration::from_secs(60),
                check_mx: true,
                check_starttls: true,
                dane: crate::config::DaneMode::Off,
            },
        }
    }

    #[test]
    fn only_a_scheduled_domain_is_found_in_any_spelling() {
        let domains = [domain("example.com"), domain("xn--bcher-kva.example")];
        let find = |segment: &str| lookup(segment, domains.iter()).map(|d| d.name.as_str());
        assert_eq!(find("example.com"), Some("example.com"));
        assert_eq!(find("EXAMPLE.com."), Some("example.com"));
        assert_eq!(find("b%C3%BCcher.example"), Some("xn--bcher-kva.example"));
        assert_eq!(find("example.org"), None);
        assert_eq!(find(""), None);
        assert_eq!(find("example.com/x"), None);
        assert_eq!(find("example.com&x=1"), None);
        assert_eq!(find("example.com+"), None);
        assert_eq!(find(&"a".repeat(100_000)), None);
        assert_eq!(find("%3Cscript%3E"), None);
    }

    #[test]
    fn the_page_shows_the_failing_mx_host_and_escapes_the_policy() {
        let mut report = ProbeReport::blank("example.com", 1_000.0);
        report.policy = Some(PolicyReport {
            text: "version: STSv1\nmode: enforce\n<b>mx</b>: *.example.com\n".into(),
            content_type: Some("text/plain".into()),
            ..PolicyReport::blank(Mode::Enforce, 1_209_600, &["*.example.com"])
        });
        report.policy_source = PolicySource::Fresh;
        report.mx_hosts = Some(vec![MxHostReport {
            preference: 20,
            starttls_offered: Some(false),
            result_type: Some(ResultType::StarttlsNotSupported),
            reason: Some(Reason::StarttlsNotOffered),
            ..crate::probe::judge::fixtures::mx_host("mx2.example.com")
        }]);
        report.failures.push(Failure::new(
            Phase::Starttls,
            ResultType::StarttlsNotSupported,
            Reason::StarttlsNotOffered,
            "mx2.example.com: STARTTLS not offered in the EHLO reply",
        ));
        let html = render(
            &domain("example.com"),
            Some(&report),
            &CertThresholds::default(),
            1_060.0,
        );
        assert!(
            html.contains("<span class=\"badge failing\" id=\"status\">failing</span>"),
            "{html}"
        );
        assert!(
            html.contains(
                "<td class=\"fail code\">starttls-not-offered</td><td><code>mx2.example.com</code></td>"
            ),
            "{html}"
        );
        assert!(html.contains("<tr data-mx=\"mx2.example.com\">"), "{html}");
        // What to do, from the one remedy table, next to the failure.
        assert!(
            html.contains(&format!(
                "<td>{}</td></tr>",
                with_code(remedy::for_reason(Reason::StarttlsNotOffered))
            )),
            "{html}"
        );
        assert!(html.contains("data-source=\"fresh\""), "{html}");
        assert!(
            html.contains("&lt;b&gt;mx&lt;/b&gt;: *.example.com"),
            "{html}"
        );
        assert!(!html.contains("<b>mx</b>"), "{html}");
        assert!(html.contains("1 min ago"), "{html}");
    }

    #[test]
    fn warnings_and_the_cached_policy_are_shown_with_what_to_do() {
        use crate::report::{CachedPolicy, Warning};
        let mut report = ProbeReport::blank("example.com", 1_000.0);
        report.success = true;
        report.warnings.push(Warning::TlsrptRecordMissing);
        report.policy_source = PolicySource::Cached;
        report.cached_policy = Some(CachedPolicy::of(
            "20240101",
            &PolicyReport::blank(Mode::Enforce, 86_400, &["mx1.example.com"]),
            500.0,
        ));
        let html = render(
            &domain("example.com"),
            Some(&report),
            &CertThresholds::default(),
            1_000.0,
        );
        assert!(
            html.contains(&format!(
                "<tr><td class=\"warn code\">tlsrpt-record-missing</td><td>{}</td></tr>",
                with_code(remedy::for_warning(Warning::TlsrptRecordMissing))
            )),
            "{html}"
        );
        assert!(html.contains("data-source=\"cached\""), "{html}");
        assert!(
            html.contains("record id <code>20240101</code>, mode enforce"),
            "{html}"
        );
    }

    #[test]
    fn every_address_of_an_mx_host_and_of_the_policy_host_is_shown() {
        use crate::report::{AddressFamily, AddressReport, PolicyAddressReport};
        let address = |ip: &str, reason: Option<Reason>, result_type: Option<ResultType>| {
            let address: std::net::IpAddr = ip.parse().unwrap();
            AddressReport {
                address,
                family: AddressFamily::of(&address),
                starttls_offered: Some(reason.is_none()),
                tls_version: reason.is_none().then(|| "TLSv1.3".to_string()),
                cert: None,
                result_type,
                reason,
            }
        };
        let mut report = ProbeReport::blank("example.com", 1_000.0);
        report.mx_hosts = Some(vec![MxHostReport {
            addresses: vec![
                address("192.0.2.1", None, None),
                address(
                    "192.0.2.2",
                    Some(Reason::StarttlsNotOffered),
                    Some(ResultType::StarttlsNotSupported),
                ),
                address("2001:db8::1", Some(Reason::LocalNoIpv6Route), None),
            ],
            ..crate::probe::judge::fixtures::mx_host("mx1.example.com")
        }]);
        report.policy_addresses = ["192.0.2.10", "2001:db8::10"]
            .iter()
            .map(|ip| {
                let address: std::net::IpAddr = ip.parse().unwrap();
                PolicyAddressReport {
                    address,
                    family: AddressFamily::of(&address),
                    cert: None,
                    result_type: None,
                    reason: None,
                }
            })
            .collect();
        let html = render(
            &domain("example.com"),
            Some(&report),
            &CertThresholds::default(),
            1_000.0,
        );
        assert!(
            html.contains("<li data-address=\"192.0.2.1\"><code>192.0.2.1</code>: <span class=\"okc\">ok</span>, TLSv1.3</li>"),
            "{html}"
        );
        assert!(
            html.contains(
                "<code>192.0.2.2</code>: <span class=\"fail code\">starttls-not-offered</span>"
            ),
            "{html}"
        );
        assert!(
            html.contains(
                "not checked: this machine has no ipv6 route (local-no-ipv6-route), no failure"
            ),
            "{html}"
        );
        assert!(
            html.contains("<code>2001:db8::10</code> (ipv6): <span class=\"okc\">ok</span>"),
            "{html}"
        );
    }

    /// A passing domain of which only the summary is kept: its verdict,
    /// mode, expiry and timings, and where to see the rest.
    #[test]
    fn a_passing_domain_kept_in_short_says_so() {
        use crate::report::PhaseTiming;
        let mut report = ProbeReport::blank("example.com", 1_000.0);
        report.success = true;
        report.policy = Some(PolicyReport::blank(
            Mode::Enforce,
            86_400,
            &["mx.example.com"],
        ));
        report.policy_source = PolicySource::Fresh;
        report.phases.push(PhaseTiming {
            phase: Phase::PolicyFetch,
            duration_seconds: 0.25,
            ok: true,
            local_error: None,
        });
        let summary = LatestReport::of(report, false);
        let html = render_summary(
            &domain("example.com"),
            &summary,
            &CertThresholds::default(),
            1_060.0,
        );
        assert!(
            html.contains("<span class=\"badge ok\" id=\"status\">ok</span>"),
            "{html}"
        );
        assert!(
            html.contains("<dt>Policy mode</dt><dd>enforce</dd>"),
            "{html}"
        );
        assert!(
            html.contains("<tr><td>policy_fetch</td><td class=\"num\">0.250 s</td>"),
            "{html}"
        );
        assert!(html.contains("id=\"summary-only\""), "{html}");
        assert!(
            html.contains("<code>mtasts-exporter check example.com</code>"),
            "{html}"
        );
        assert!(html.contains("1 min ago"), "{html}");
        assert!(!html.contains("id=\"failures\""), "{html}");
    }

    #[test]
    fn a_domain_not_probed_yet_says_so() {
        let html = render(
            &domain("example.com"),
            None,
            &CertThresholds::default(),
            0.0,
        );
        assert!(html.contains("not probed yet"), "{html}");
        assert!(!html.contains("id=\"failures\""), "{html}");
    }
}
