//! The `check` subcommand: one probe per domain, through the same code path
//! as the exporter, printed for people (text) or scripts (JSON).
//!
//! The JSON is a stable contract: an array with one object per domain, the
//! serialized [`ProbeReport`] (README "check JSON").

use crate::config::{normalize_domain, AddressesConfig, Config, DomainConfig};
use crate::probe::local_net::LocalNetwork;
use crate::probe::Prober;
use crate::remedy;
use crate::report::{
    AddressFamily, AddressReport, CertInfo, CertThresholds, ExpiryLevel, MxHostReport,
    PolicySource, ProbeReport, Warning,
};
use crate::rfc::rfc5321::MxSource;
use crate::rfc::rfc8461::policy::Mode;
use crate::taxonomy::{Failure, Phase};
use serde::Serialize;
use std::fmt::Write as _;

/// Output format of `check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Readable report.
    Text,
    /// The JSON contract.
    Json,
}

/// Exit code: every domain passed.
pub const EXIT_OK: i32 = 0;
/// Exit code: at least one domain failed a check.
pub const EXIT_FAILED: i32 = 1;
/// Exit code: usage or configuration error.
pub const EXIT_USAGE: i32 = 2;

/// Which domains to check: the named ones (with their config settings when
/// configured, the defaults otherwise), or every configured domain.
pub fn select_domains(config: &Config, names: &[String]) -> Result<Vec<DomainConfig>, String> {
    if names.is_empty() {
        if config.domains.is_empty() {
            return Err("no domains given and none configured: name them \
                        (`check example.com`) or give --config.file FILE"
                .into());
        }
        return Ok(config.domains.clone());
    }
    names
        .iter()
        .map(|name| {
            let ascii = normalize_domain(name).map_err(|e| domain_error(name, &e.to_string()))?;
            Ok(config
                .domains
                .iter()
                .find(|d| d.name == ascii)
                .cloned()
                .unwrap_or_else(|| DomainConfig {
                    name: ascii,
                    settings: config.defaults.clone(),
                }))
        })
        .collect()
}

/// Why the domain argument `name` was refused: the value once, capped
/// (`error` may already quote it in full).
fn domain_error(name: &str, error: &str) -> String {
    let error = crate::echo::capped_within(error, name);
    let quoted = format!("{:?}", crate::echo::capped(name));
    if error.contains(&quoted) {
        format!("domain {error}")
    } else {
        format!("domain {quoted}: {error}")
    }
}

/// Probes `domains` concurrently (bounded by `concurrency`) and returns the
/// reports in the order given.
pub async fn run_checks(
    prober: &Prober,
    domains: &[DomainConfig],
    concurrency: usize,
) -> Vec<ProbeReport> {
    let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for (index, domain) in domains.iter().cloned().enumerate() {
        let prober = prober.clone();
        let permits = permits.clone();
        tasks.spawn(async move {
            let _permit = permits.acquire().await;
            (index, prober.probe(&domain).await)
        });
    }
    let mut reports: Vec<Option<ProbeReport>> = vec![None; domains.len()];
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((index, report)) => reports[index] = Some(report),
            Err(error) => tracing::error!(%error, "probe task failed"),
        }
    }
    reports.into_iter().flatten().collect()
}

/// The exit code for a set of reports.
pub fn exit_code(reports: &[ProbeReport]) -> i32 {
    if reports.iter().all(|r| r.success) {
        EXIT_OK
    } else {
        EXIT_FAILED
    }
}

/// What `check` says about the address families this machine cannot reach
/// (of those `addresses` turns on), one line each; empty when it reaches
/// both. Addresses of such a family are reported as `local-no-ipv6-route`
/// (`-ipv4-`) and fail no domain.
pub fn local_network_note(network: &LocalNetwork, addresses: &AddressesConfig) -> String {
    let mut out = String::new();
    for family in network.unrouted() {
        let on = match family {
            AddressFamily::Ipv4 => addresses.ipv4,
            AddressFamily::Ipv6 => addresses.ipv6,
        };
        if on {
            let _ = writeln!(
                out,
                "note: this machine has no {0} route: {0} addresses it cannot reach are shown as {1} and fail no domain (addresses.{0}: false turns {0} off)",
                family.as_str(),
                family.no_route_reason().as_str()
            );
        }
    }
    out
}

/// Renders the reports as the JSON contract: each [`ProbeReport`] with
/// `what_to_do` in every failure and a `warning_details` list (README
/// "check JSON").
pub fn render_json(reports: &[ProbeReport]) -> String {
    let checked: Vec<CheckedJson<'_>> = reports.iter().map(CheckedJson::new).collect();
    serde_json::to_string_pretty(&checked)
        .unwrap_or_else(|e| format!("{{\"error\": \"cannot serialize: {e}\"}}"))
}

/// One domain in the JSON: the report's own fields, unchanged (each
/// failure carries `what_to_do`, see [`remedy::serialize_failures`]), then
/// `warning_details`.
#[derive(Serialize)]
struct CheckedJson<'a> {
    #[serde(flatten)]
    report: &'a ProbeReport,
    /// `{warning, what_to_do}` for each of `warnings`, in the same order.
    warning_details: Vec<WarningJson>,
}

impl<'a> CheckedJson<'a> {
    fn new(report: &'a ProbeReport) -> Self {
        CheckedJson {
            report,
            warning_details: report
                .warnings
                .iter()
                .map(|&warning| WarningJson {
                    warning,
                    what_to_do: remedy::for_warning(warning),
                })
                .collect(),
        }
    }
}

/// A warning and what to do about it.
#[derive(Serialize)]
struct WarningJson {
    warning: Warning,
    what_to_do: &'static str,
}

/// What the text output names beside what it found: the ports the probe
/// used and the certificate thresholds (config `ports`, `certificates`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextOptions {
    /// The policy host's port (`ports.https`).
    pub https_port: u16,
    /// The MX hosts' port (`ports.smtp`).
    pub smtp_port: u16,
    /// When a valid certificate is marked as expiring (`certificates`).
    pub thresholds: CertThresholds,
}

impl Default for TextOptions {
    /// Ports 443 and 25, thresholds 21 and 7 days.
    fn default() -> Self {
        TextOptions {
            https_port: 443,
            smtp_port: 25,
            thresholds: CertThresholds::default(),
        }
    }
}

impl TextOptions {
    /// The options of `config`.
    pub fn from_config(config: &Config) -> Self {
        TextOptions {
            https_port: config.ports.https,
            smtp_port: config.ports.smtp,
            thresholds: config.certificates,
        }
    }

    /// The policy URL of `domain` (RFC 8461 §3.3), with the port when it
    /// is not 443.
    fn policy_url(&self, domain: &str) -> String {
        if self.https_port == 443 {
            format!("https://mta-sts.{domain}/.well-known/mta-sts.txt")
        } else {
            format!(
                "https://mta-sts.{domain}:{}/.well-known/mta-sts.txt",
                self.https_port
            )
        }
    }
}

/// One line about a certificate: validity (a valid one within the
/// thresholds marked as expiring), names, issuer, notAfter and the days
/// left at `now` (Unix seconds).
fn describe_cert(cert: &CertInfo, now: f64, thresholds: &CertThresholds) -> String {
    let days_left = (cert.not_after as f64 - now) / 86400.0;
    let remaining = if days_left >= 0.0 {
        format!("{days_left:.0} days left")
    } else {
        format!("expired {:.0} days ago", -days_left)
    };
    let verdict = match (&cert.problem, thresholds.level(cert.not_after, now)) {
        (Some(problem), _) => format!("INVALID ({problem})"),
        (None, ExpiryLevel::Fine) => "valid".to_string(),
        (None, ExpiryLevel::Warning) => {
            format!("valid but EXPIRES in {days_left:.0} days (warning)")
        }
        (None, ExpiryLevel::Critical) => {
            format!("valid but EXPIRES in {days_left:.0} days (critical)")
        }
        (None, ExpiryLevel::Expired) => "EXPIRED".to_string(),
    };
    format!(
        "{verdict}; names {}; issuer {}; not after {} ({remaining})",
        cert.names.join(", "),
        cert.issuer,
        format_unix_time(cert.not_after)
    )
}

/// RFC 3339 for Unix seconds (or the number when out of range).
fn format_unix_time(seconds: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| seconds.to_string())
}

/// Renders the reports for people, with the default [`TextOptions`].
pub fn render_text(reports: &[ProbeReport]) -> String {
    render_text_with(reports, &TextOptions::default())
}

/// Renders the reports for people: one block per domain, each failure and
/// warning with its "what to do" line, then the summary line.
pub fn render_text_with(reports: &[ProbeReport], options: &TextOptions) -> String {
    let mut out = String::new();
    for report in reports {
        render_one(&mut out, report, options);
    }
    let _ = writeln!(out, "\n{}", summary(reports));
    out
}

/// `N domains: A ok, B failing, C with warnings` (and `, D incomplete`
/// when the exporter's own problems kept probes from finishing).
pub fn summary(reports: &[ProbeReport]) -> String {
    let ok = reports.iter().filter(|r| r.success).count();
    let incomplete = reports.iter().filter(|r| !r.is_complete()).count();
    let failing = reports.len() - ok - incomplete;
    let warned = reports.iter().filter(|r| !r.warnings.is_empty()).count();
    let mut line = format!(
        "{} domain{}: {ok} ok, {failing} failing, {warned} with warnings",
        reports.len(),
        if reports.len() == 1 { "" } else { "s" }
    );
    if incomplete > 0 {
        let _ = write!(
            line,
            ", {incomplete} incomplete (the exporter's own problem)"
        );
    }
    line
}

/// Indentation of the "what to do" lines, under the finding's text.
const WHAT_TO_DO: &str = "            what to do: ";

fn render_one(out: &mut String, report: &ProbeReport, options: &TextOptions) {
    render_record_and_policy(out, report, options);
    render_mx_hosts(out, report, options);
    if let Some(dane) = &report.dane {
        let _ = writeln!(
            out,
            "  DANE      MX records DNSSEC {}; a validating sender applies: {}{}",
            dane.mx_dnssec.as_str(),
            dane.effective_policy.as_str(),
            if dane.required {
                " (DANE required)"
            } else {
                ""
            }
        );
    }
    render_findings(out, report, options);
}

/// The verdict line, the record, the policy and its certificate.
fn render_record_and_policy(out: &mut String, report: &ProbeReport, options: &TextOptions) {
    let verdict = if report.success {
        "OK"
    } else if !report.is_complete() {
        "INCOMPLETE"
    } else {
        "FAIL"
    };
    let _ = writeln!(
        out,
        "{}: {} ({:.3}s)",
        report.domain, verdict, report.duration_seconds
    );
    let record_name = format!("_mta-sts.{}", report.domain);
    match &report.record {
        Some(record) => {
            let _ = writeln!(out, "  record    {record_name}: {}", record.txt);
        }
        None => {
            let _ = writeln!(out, "  record    {record_name}: no valid STS record");
        }
    }
    let url = options.policy_url(&report.domain);
    match &report.policy {
        Some(policy) => {
            let _ = writeln!(
                out,
                "  policy    {url}: mode {}, max_age {} ({:.1} days), mx: {}",
                policy.mode.as_str(),
                policy.max_age,
                policy.max_age as f64 / 86400.0,
                if policy.mx.is_empty() {
                    "no patterns".to_string()
                } else {
                    policy.mx.join(", ")
                }
            );
        }
        // Never "none": that reads like mode none.
        None if has_failure(report, Phase::PolicyFetch) => {
            let _ = writeln!(
                out,
                "  policy    {url}: NO VALID POLICY (see FAILURE below)"
            );
        }
        None if report.record.is_none() => {
            let _ = writeln!(
                out,
                "  policy    not fetched: without a valid STS record senders do not look for it"
            );
        }
        None => {
            let _ = writeln!(out, "  policy    {url}: not fetched");
        }
    }
    if let Some(cert) = &report.policy_cert {
        let _ = writeln!(
            out,
            "  policy certificate: {}",
            describe_cert(cert, report.timestamp, &options.thresholds)
        );
    }
    render_policy_source(out, report);
    render_policy_addresses(out, report);
}

/// Which policy the MX hosts were judged against (RFC 8461 §5.1).
fn render_policy_source(out: &mut String, report: &ProbeReport) {
    let line = match (report.policy_source, &report.cached_policy) {
        (PolicySource::Fresh, _) => "fresh (the policy fetched now)".to_string(),
        (PolicySource::Cached, Some(cached)) => format!(
            "cached: id {}, mode {}, mx: {}, fetched at {}, expires {} (no fresh policy now: senders that cached it still apply it)",
            cached.id,
            cached.mode.as_str(),
            if cached.mx.is_empty() {
                "none".to_string()
            } else {
                cached.mx.join(", ")
            },
            cached.fetched_at_text(),
            cached.expires_at_text()
        ),
        (PolicySource::None, _) if report.policy.is_some() => {
            "none (the policy served is not used without a valid record, and none is cached)"
                .to_string()
        }
        _ => "none (no valid policy now and none cached: senders apply no MTA-STS)".to_string(),
    };
    let _ = writeln!(out, "  source    {line}");
}

/// Whether the report has a failure in `phase`.
fn has_failure(report: &ProbeReport, phase: Phase) -> bool {
    report.failures.iter().any(|f| f.phase == phase)
}

/// Each address of the policy host, when it has several: what the fetch
/// over it found.
fn render_policy_addresses(out: &mut String, report: &ProbeReport) {
    if report.policy_addresses.len() < 2 {
        return;
    }
    for address in &report.policy_addresses {
        let at = format!("{} ({})", address.address, address.family.as_str());
        let line = match (address.result_type, &address.reason) {
            (None, Some(reason)) => format!(
                "not fetched: this machine has no {} route ({}), no failure of the domain",
                address.family.as_str(),
                reason.as_str()
            ),
            (Some(result_type), Some(reason)) => {
                format!("FAIL {} / {}", result_type.as_str(), reason.as_str())
            }
            _ => "ok".to_string(),
        };
        let _ = writeln!(out, "            address {at:<28} {line}");
    }
}

/// The MX hosts, one block each.
fn render_mx_hosts(out: &mut String, report: &ProbeReport, options: &TextOptions) {
    match &report.mx_hosts {
        Some(hosts) if hosts.is_empty() => {
            let _ = writeln!(out, "  MX        null MX (the domain accepts no mail)");
        }
        Some(hosts) => {
            for (i, host) in hosts.iter().enumerate() {
                render_mx_host(out, report, i, host, options);
            }
        }
        None if has_failure(report, Phase::MxLookup) => {
            let _ = writeln!(
                out,
                "  MX        {} MX lookup FAILED (see FAILURE below)",
                report.domain
            );
        }
        None => {
            let _ = writeln!(out, "  MX        not checked");
        }
    }
}

/// One MX host: preference, name and port, and policy match, then its
/// STARTTLS check and certificate.
fn render_mx_host(
    out: &mut String,
    report: &ProbeReport,
    i: usize,
    host: &MxHostReport,
    options: &TextOptions,
) {
    let implicit = report.mx_source == Some(MxSource::Implicit);
    let mode_none = report.judged_mode() == Some(Mode::None);
    let label = if i == 0 { "MX" } else { "" };
    let matched = match host.matches_policy {
        Some(true) => "covered by policy",
        Some(false) if mode_none => "not listed (mode none: not applied)",
        Some(false) => "NOT covered by policy",
        None => "no policy to compare",
    };
    let _ = writeln!(
        out,
        "  {label:<9} {:>5} {:<40} {matched}{}",
        host.preference,
        format!("{}:{}", host.host, options.smtp_port),
        if implicit { " (implicit MX)" } else { "" }
    );
    let starttls = match (host.starttls_offered, &host.tls_version) {
        (_, Some(version)) => format!("STARTTLS ok, {version}"),
        (Some(true), None) => "STARTTLS offered".to_string(),
        (Some(false), None) => "STARTTLS NOT offered".to_string(),
        (None, None) if host.reason.is_some() => "STARTTLS not reached".to_string(),
        (None, None) => "STARTTLS not checked".to_string(),
    };
    let verdict = match (host.result_type, &host.reason) {
        (Some(result_type), Some(reason)) => {
            format!("FAIL {} / {}", result_type.as_str(), reason.as_str())
        }
        _ if host.tls_version.is_some() => "ok".to_string(),
        _ => "-".to_string(),
    };
    let _ = writeln!(out, "                  {starttls}; verdict: {verdict}");
    if let Some(cert) = &host.cert {
        let _ = writeln!(
            out,
            "                  certificate: {}",
            describe_cert(cert, report.timestamp, &options.thresholds)
        );
    }
    render_addresses(out, report, &host.addresses, &options.thresholds);
    if let Some(dane) = &host.dane {
        let _ = writeln!(out, "                  DANE {}", dane_line(dane));
    }
}

/// The DANE line of an MX host (RFC 7672): the TLSA lookup, the verdict,
/// the record that matched and rollover readiness.
fn dane_line(dane: &crate::report::DaneHostReport) -> String {
    use crate::report::TlsaLookupStatus;
    let mut line = format!("{}: {}", dane.tlsa_name, dane.tlsa.as_str());
    if dane.tlsa == TlsaLookupStatus::NotLookedUp {
        line = format!("not looked up: addresses {}", dane.address_dnssec.as_str());
    }
    if !dane.records.is_empty() {
        let usable = dane.records.iter().filter(|r| r.usable).count();
        let _ = write!(line, ", {} record(s), {usable} usable", dane.records.len());
    }
    let verdict = match (dane.valid, dane.reason) {
        (Some(true), _) => "ok".to_string(),
        (_, Some(reason)) => format!(
            "FAIL {} / {}",
            reason.result_type().as_str(),
            reason.as_str()
        ),
        (Some(false), None) => "FAIL (no certificate seen)".to_string(),
        (None, None) => "does not apply".to_string(),
    };
    let _ = write!(line, "; verdict: {verdict}");
    if let Some(record) = &dane.matched_record {
        let _ = write!(line, "; matched {record}");
    }
    match dane.rollover_ready {
        Some(true) => line.push_str("; rollover ready"),
        Some(false) => line.push_str("; rollover NOT ready (only the current key matches)"),
        None => {}
    }
    line
}

/// Each address of an MX host: its STARTTLS check and verdict, and its
/// certificate when the host has several (with one, the host's line above
/// is the address's).
fn render_addresses(
    out: &mut String,
    report: &ProbeReport,
    addresses: &[AddressReport],
    thresholds: &CertThresholds,
) {
    for address in addresses {
        let at = format!("{} ({})", address.address, address.family.as_str());
        let line = match (address.result_type, &address.reason) {
            (None, Some(reason)) => format!(
                "not checked: this machine has no {} route ({}), no failure of the domain",
                address.family.as_str(),
                reason.as_str()
            ),
            (result_type, reason) => {
                let starttls = match (address.starttls_offered, &address.tls_version) {
                    (_, Some(version)) => format!("STARTTLS ok, {version}"),
                    (Some(true), None) => "STARTTLS offered".to_string(),
                    (Some(false), None) => "STARTTLS NOT offered".to_string(),
                    (None, None) => "STARTTLS not reached".to_string(),
                };
                let verdict = match (result_type, reason) {
                    (Some(result_type), Some(reason)) => {
                        format!("FAIL {} / {}", result_type.as_str(), reason.as_str())
                    }
                    _ if address.tls_version.is_some() => "ok".to_string(),
                    _ => "-".to_string(),
                };
                format!("{starttls}; verdict: {verdict}")
            }
        };
        let _ = writeln!(out, "                    address {at:<28} {line}");
        if let Some(cert) = address.cert.as_ref().filter(|_| addresses.len() > 1) {
            let _ = writeln!(
                out,
                "                      certificate: {}",
                describe_cert(cert, report.timestamp, thresholds)
            );
        }
    }
}

/// Policy fields written more than once (RFC 8461 §3.2: the first counts),
/// with what a sender that takes the last value would apply instead.
fn render_duplicate_fields(out: &mut String, report: &ProbeReport) {
    let Some(policy) = &report.policy else {
        return;
    };
    for duplicate in &policy.duplicate_fields {
        let (Some(first), Some(last)) = (duplicate.values.first(), duplicate.values.last()) else {
            continue;
        };
        let consequence = if first == last {
            "some senders refuse a repeated field".to_string()
        } else {
            format!("senders that take the last value apply {last}")
        };
        let _ = writeln!(
            out,
            "  duplicate policy field {}: {} (RFC 8461 §3.2: the first counts; {consequence})",
            duplicate.field,
            duplicate.values.join(", ")
        );
    }
}

/// Where a failure is, by its full name: the record, the policy URL, the
/// MX host and port, the TLSRPT record.
fn failure_place(report: &ProbeReport, failure: &Failure, options: &TextOptions) -> String {
    let domain = &report.domain;
    // The MX host a failure's detail names (the judges write it first for
    // STARTTLS, after "MX host" for a mismatch); the longest name wins.
    let named_host = || {
        report
            .mx_hosts
            .iter()
            .flatten()
            .map(|h| h.host.as_str())
            .filter(|h| {
                let detail = failure.detail.as_str();
                let rest = detail.strip_prefix(h).or_else(|| {
                    detail
                        .strip_prefix("MX host ")
                        .and_then(|d| d.strip_prefix(h))
                });
                rest.is_some_and(|r| r.is_empty() || r.starts_with([':', ' ']))
            })
            .max_by_key(|h| h.len())
    };
    match failure.phase {
        Phase::RecordLookup => format!("_mta-sts.{domain}"),
        Phase::PolicyFetch => options.policy_url(domain),
        Phase::MxLookup => match named_host() {
            Some(host) => format!("MX host {host}"),
            None => format!("{domain} MX"),
        },
        Phase::Starttls => match named_host() {
            Some(host) => format!("{host}:{}", options.smtp_port),
            None => format!("an MX host of {domain}, port {}", options.smtp_port),
        },
        Phase::TlsrptLookup => format!("_smtp._tls.{domain}"),
        Phase::Dane => match named_host() {
            Some(host) => format!("_25._tcp.{host}"),
            None => format!("{domain} MX (DNSSEC)"),
        },
    }
}

/// Unused patterns, TLSRPT, warnings, failures and local errors, each
/// finding with its "what to do" line.
fn render_findings(out: &mut String, report: &ProbeReport, options: &TextOptions) {
    if !report.unused_patterns.is_empty() {
        let _ = writeln!(
            out,
            "  unused    policy patterns no MX uses: {}",
            report.unused_patterns.join(", ")
        );
    }
    render_duplicate_fields(out, report);
    let tlsrpt_name = format!("_smtp._tls.{}", report.domain);
    match &report.tlsrpt {
        Some(t) if t.valid => {
            let _ = writeln!(
                out,
                "  TLSRPT    {tlsrpt_name}: valid, reports to {}",
                t.rua.join(", ")
            );
        }
        Some(t) if t.present => {
            let _ = writeln!(
                out,
                "  TLSRPT    {tlsrpt_name}: INVALID: {}",
                t.error.as_deref().unwrap_or("unknown")
            );
        }
        Some(_) => {
            let _ = writeln!(out, "  TLSRPT    {tlsrpt_name}: no TLSRPT record");
        }
        None => {
            let _ = writeln!(out, "  TLSRPT    {tlsrpt_name}: lookup failed");
        }
    }
    for warning in &report.warnings {
        let _ = writeln!(out, "  warning   {}", warning.as_str());
        let _ = writeln!(out, "{WHAT_TO_DO}{}", remedy::for_warning(*warning));
    }
    for failure in &report.failures {
        let _ = writeln!(
            out,
            "  FAILURE   {} [{}] {} / {}: {}",
            failure_place(report, failure, options),
            failure.phase.as_str(),
            failure.result_type.as_str(),
            failure.reason.as_str(),
            failure.detail
        );
        let _ = writeln!(out, "{WHAT_TO_DO}{}", remedy::for_reason(failure.reason));
    }
    for phase in &report.phases {
        if let Some(local) = &phase.local_error {
            let _ = writeln!(
                out,
                "  NOT RUN   [{}] {local} (not the domain's failure)",
                phase.phase.as_str()
            );
            let _ = writeln!(out, "{WHAT_TO_DO}{}", remedy::for_local_error(local.kind));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::PolicyReport;
    use crate::taxonomy::{Reason, ResultType};

    const NOW: f64 = 1_800_000_000.0;
    const DAY: i64 = 86_400;

    fn cert(days_left: i64, problem: Option<crate::taxonomy::CertProblem>) -> CertInfo {
        CertInfo {
            valid: problem.is_none(),
            not_before: NOW as i64 - 60 * DAY,
            not_after: NOW as i64 + days_left * DAY,
            names: vec!["mx1.example.com".into()],
            issuer: "CN=CA".into(),
            problem,
        }
    }

    #[test]
    fn a_valid_certificate_within_the_thresholds_is_never_plain_valid() {
        let t = CertThresholds::default();
        assert!(describe_cert(&cert(90, None), NOW, &t).starts_with("valid;"));
        let warning = describe_cert(&cert(15, None), NOW, &t);
        assert!(
            warning.starts_with("valid but EXPIRES in 15 days (warning);"),
            "{warning}"
        );
        let critical = describe_cert(&cert(5, None), NOW, &t);
        assert!(
            critical.starts_with("valid but EXPIRES in 5 days (critical);"),
            "{critical}"
        );
        // The configured thresholds, not the defaults.
        let tight = CertThresholds {
            warning_days: 3,
            critical_days: 1,
        };
        assert!(describe_cert(&cert(5, None), NOW, &tight).starts_with("valid;"));
        let expired = cert(-2, Some(crate::taxonomy::CertProblem::Expired));
        assert!(describe_cert(&expired, NOW, &t).starts_with("INVALID (certificate expired)"));
    }

    #[test]
    fn no_policy_never_reads_like_mode_none() {
        let options = TextOptions::default();
        let mut report = ProbeReport::blank("example.com", NOW);
        report.failures.push(Failure::new(
            Phase::RecordLookup,
            ResultType::NoPolicyFound,
            Reason::NoMtaStsDnsTxtRecord,
            "no record",
        ));
        let text = render_text_with(std::slice::from_ref(&report), &options);
        assert!(
            text.contains("policy    not fetched: without a valid STS record"),
            "{text}"
        );
        assert!(
            !text.contains("policy    none") && !text.contains("mode none"),
            "{text}"
        );
        assert!(
            text.contains("record    _mta-sts.example.com: no valid STS record"),
            "{text}"
        );
        assert!(
            text.contains("FAILURE   _mta-sts.example.com [record_lookup]"),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "what to do: {}",
                remedy::for_reason(Reason::NoMtaStsDnsTxtRecord)
            )),
            "{text}"
        );

        report.failures.push(Failure::new(
            Phase::PolicyFetch,
            ResultType::StsPolicyFetchError,
            Reason::CannotFetchPolicy,
            "HTTP 500",
        ));
        let text = render_text_with(std::slice::from_ref(&report), &options);
        assert!(
            text.contains(
                "policy    https://mta-sts.example.com/.well-known/mta-sts.txt: NO VALID POLICY"
            ),
            "{text}"
        );

        // A mode none policy says so, and its empty mx list is no "none".
        let mut none = ProbeReport::blank("example.org", NOW);
        none.policy = Some(PolicyReport::blank(Mode::None, 86_400, &[]));
        let text = render_text_with(&[none], &options);
        assert!(
            text.contains("mode none, max_age 86400 (1.0 days), mx: no patterns"),
            "{text}"
        );
    }

    #[test]
    fn failures_name_the_mx_host_and_port() {
        let options = TextOptions {
            https_port: 8443,
            smtp_port: 2525,
            thresholds: CertThresholds::default(),
        };
        let mut report = ProbeReport::blank("example.com", NOW);
        let host = |name: &str| MxHostReport {
            host: name.into(),
            preference: 10,
            matches_policy: Some(true),
            starttls_offered: Some(false),
            tls_version: None,
            cert: None,
            addresses: Vec::new(),
            dane: None,
            starttls_check: None,
            result_type: None,
            reason: None,
        };
        // One name the prefix of another: the longest wins.
        report.mx_hosts = Some(vec![host("mx.example.com"), host("mx.example.com.eu")]);
        report.failures.push(Failure::new(
            Phase::Starttls,
            ResultType::StarttlsNotSupported,
            Reason::StarttlsNotOffered,
            "mx.example.com.eu: STARTTLS not offered in the EHLO reply",
        ));
        report.failures.push(Failure::new(
            Phase::MxLookup,
            ResultType::ValidationFailure,
            Reason::MtastsPolicyMxMismatch,
            "MX host mx.example.com is not covered by any policy mx pattern",
        ));
        let text = render_text_with(&[report], &options);
        assert!(
            text.contains("FAILURE   mx.example.com.eu:2525 [starttls]"),
            "{text}"
        );
        assert!(
            text.contains("FAILURE   MX host mx.example.com [mx_lookup]"),
            "{text}"
        );
        assert!(text.contains("mx.example.com:2525 "), "{text}");
    }

    #[test]
    fn the_summary_counts_ok_failing_warned_and_incomplete() {
        let mut ok = ProbeReport::blank("a.example", NOW);
        ok.success = true;
        let mut warned = ok.clone();
        warned.warnings.push(Warning::TlsrptRecordMissing);
        let failing = ProbeReport::blank("b.example", NOW);
        let mut incomplete = ProbeReport::blank("c.example", NOW);
        incomplete.phases.push(crate::report::PhaseTiming {
            phase: Phase::Starttls,
            duration_seconds: 0.0,
            ok: false,
            local_error: Some(crate::taxonomy::LocalError::new(
                crate::taxonomy::LocalErrorKind::DescriptorsExhausted,
                "Too many open files",
            )),
        });
        assert_eq!(
            summary(&[ok.clone(), warned, failing.clone()]),
            "3 domains: 2 ok, 1 failing, 1 with warnings"
        );
        assert_eq!(summary(&[ok]), "1 domain: 1 ok, 0 failing, 0 with warnings");
        let text = render_text(&[failing, incomplete]);
        assert!(
            text.ends_with(
                "\n2 domains: 0 ok, 1 failing, 0 with warnings, 1 incomplete (the exporter's own problem)\n"
            ),
            "{text}"
        );
        assert!(text.contains("c.example: INCOMPLETE"), "{text}");
        assert!(
            text.contains("NOT RUN   [starttls] the exporter is short of file descriptors"),
            "{text}"
        );
    }

    #[test]
    fn the_json_adds_what_to_do_and_keeps_every_field() {
        let mut report = ProbeReport::blank("example.com", NOW);
        report.warnings.push(Warning::PolicyLarge);
        report.failures.push(Failure::new(
            Phase::PolicyFetch,
            ResultType::StsPolicyFetchError,
            Reason::NoPolicyServed,
            "HTTP 404",
        ));
        let json: serde_json::Value =
            serde_json::from_str(&render_json(&[report.clone()])).unwrap();
        let plain = serde_json::to_value(&report).unwrap();
        let object = json[0].as_object().unwrap();
        for key in plain.as_object().unwrap().keys() {
            assert!(object.contains_key(key), "{key} missing");
        }
        let failure = &json[0]["failures"][0];
        assert_eq!(failure["reason"], "no-policy-served");
        assert_eq!(failure["detail"], "HTTP 404");
        assert_eq!(
            failure["what_to_do"],
            remedy::for_reason(Reason::NoPolicyServed)
        );
        assert_eq!(json[0]["warnings"][0], "policy-large");
        assert_eq!(json[0]["warning_details"][0]["warning"], "policy-large");
        assert_eq!(
            json[0]["warning_details"][0]["what_to_do"],
            remedy::for_warning(Warning::PolicyLarge)
        );

        // A local error too; a phase without one stays null.
        report.phases.push(crate::report::PhaseTiming {
            phase: Phase::RecordLookup,
            duration_seconds: 0.0,
            ok: true,
            local_error: None,
        });
        report.phases.push(crate::report::PhaseTiming {
            phase: Phase::Starttls,
            duration_seconds: 0.0,
            ok: false,
            local_error: Some(crate::taxonomy::LocalError::new(
                crate::taxonomy::LocalErrorKind::MemoryExhausted,
                "Cannot allocate memory",
            )),
        });
        let json: serde_json::Value = serde_json::from_str(&render_json(&[report])).unwrap();
        assert!(json[0]["phases"][0]["local_error"].is_null());
        let local = &json[0]["phases"][1]["local_error"];
        assert_eq!(local["kind"], "memory-exhausted");
        assert_eq!(local["detail"], "Cannot allocate memory");
        assert_eq!(
            local["what_to_do"],
            remedy::for_local_error(crate::taxonomy::LocalErrorKind::MemoryExhausted)
        );
    }

    #[test]
    fn a_family_without_a_route_is_noted_unless_switched_off() {
        let on = AddressesConfig {
            per_family: 4,
            ipv4: true,
            ipv6: true,
        };
        let note = local_network_note(&LocalNetwork::assume(true, false), &on);
        assert_eq!(
            note,
            "note: this machine has no ipv6 route: ipv6 addresses it cannot reach are shown as local-no-ipv6-route and fail no domain (addresses.ipv6: false turns ipv6 off)\n"
        );
        let off = AddressesConfig { ipv6: false, ..on };
        assert_eq!(
            local_network_note(&LocalNetwork::assume(true, false), &off),
            ""
        );
        assert_eq!(
            local_network_note(&LocalNetwork::assume(true, true), &on),
            ""
        );
    }
}
