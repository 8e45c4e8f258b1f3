//! The `check` subcommand: one probe per domain, through the same code path
//! as the exporter, printed for people (text) or scripts (JSON).
//!
//! The JSON is a stable contract: an array with one object per domain, the
//! serialized [`ProbeReport`] (README "check JSON").

use crate::config::{normalize_domain, AddressesConfig, Config, DomainConfig};
use crate::probe::local_net::LocalNetwork;
use crate::probe::Prober;
use crate::report::AddressFamily;
use crate::report::{AddressReport, CertInfo, MxHostReport, ProbeReport};
use crate::rfc::rfc5321::MxSource;
use crate::rfc::rfc8461::policy::Mode;
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
            return Err("no domains given and none configured".into());
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

/// Renders the reports as the JSON contract.
pub fn render_json(reports: &[ProbeReport]) -> String {
    serde_json::to_string_pretty(reports)
        .unwrap_or_else(|e| format!("{{\"error\": \"cannot serialize: {e}\"}}"))
}

/// One line about a certificate: validity, names, issuer, notAfter and the
/// days left at `now` (Unix seconds).
fn describe_cert(cert: &CertInfo, now: f64) -> String {
    let days_left = (cert.not_after as f64 - now) / 86400.0;
    let remaining = if days_left >= 0.0 {
        format!("{days_left:.0} days left")
    } else {
        format!("expired {:.0} days ago", -days_left)
    };
    let verdict = match &cert.problem {
        None => "valid".to_string(),
        Some(problem) => format!("INVALID ({problem})"),
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

/// Renders the reports for people.
pub fn render_text(reports: &[ProbeReport]) -> String {
    let mut out = String::new();
    for report in reports {
        render_one(&mut out, report);
    }
    out
}

fn render_one(out: &mut String, report: &ProbeReport) {
    render_record_and_policy(out, report);
    render_mx_hosts(out, report);
    render_findings(out, report);
}

/// The verdict line, the record, the policy and its certificate.
fn render_record_and_policy(out: &mut String, report: &ProbeReport) {
    let verdict = if report.success { "OK" } else { "FAIL" };
    let _ = writeln!(
        out,
        "{}: {} ({:.3}s)",
        report.domain, verdict, report.duration_seconds
    );
    match &report.record {
        Some(record) => {
            let _ = writeln!(out, "  record    {}", record.txt);
        }
        None => {
            let _ = writeln!(out, "  record    none");
        }
    }
    match &report.policy {
        Some(policy) => {
            let _ = writeln!(
                out,
                "  policy    mode {}, max_age {} ({:.1} days), mx: {}",
                policy.mode.as_str(),
                policy.max_age,
                policy.max_age as f64 / 86400.0,
                if policy.mx.is_empty() {
                    "none".to_string()
                } else {
                    policy.mx.join(", ")
                }
            );
        }
        None => {
            let _ = writeln!(out, "  policy    none");
        }
    }
    if let Some(cert) = &report.policy_cert {
        let _ = writeln!(
            out,
            "  policy certificate: {}",
            describe_cert(cert, report.timestamp)
        );
    }
    render_policy_addresses(out, report);
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
fn render_mx_hosts(out: &mut String, report: &ProbeReport) {
    match &report.mx_hosts {
        Some(hosts) if hosts.is_empty() => {
            let _ = writeln!(out, "  MX        null MX (the domain accepts no mail)");
        }
        Some(hosts) => {
            for (i, host) in hosts.iter().enumerate() {
                render_mx_host(out, report, i, host);
            }
        }
        None => {
            let _ = writeln!(out, "  MX        not checked");
        }
    }
}

/// One MX host: preference, name and policy match, then its STARTTLS
/// check and certificate.
fn render_mx_host(out: &mut String, report: &ProbeReport, i: usize, host: &MxHostReport) {
    let implicit = report.mx_source == Some(MxSource::Implicit);
    let mode_none = report.policy.as_ref().map(|p| p.mode) == Some(Mode::None);
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
        host.host,
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
            describe_cert(cert, report.timestamp)
        );
    }
    render_addresses(out, report, &host.addresses);
}

/// Each address of an MX host: its STARTTLS check and verdict, and its
/// certificate when the host has several (with one, the host's line above
/// is the address's).
fn render_addresses(out: &mut String, report: &ProbeReport, addresses: &[AddressReport]) {
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
                describe_cert(cert, report.timestamp)
            );
        }
    }
}

/// Unused patterns, TLSRPT, warnings and failures.
fn render_findings(out: &mut String, report: &ProbeReport) {
    if !report.unused_patterns.is_empty() {
        let _ = writeln!(
            out,
            "  unused    policy patterns no MX uses: {}",
            report.unused_patterns.join(", ")
        );
    }
    match &report.tlsrpt {
        Some(t) if t.valid => {
            let _ = writeln!(out, "  TLSRPT    valid, reports to {}", t.rua.join(", "));
        }
        Some(t) if t.present => {
            let _ = writeln!(
                out,
                "  TLSRPT    INVALID: {}",
                t.error.as_deref().unwrap_or("unknown")
            );
        }
        Some(_) => {
            let _ = writeln!(out, "  TLSRPT    none");
        }
        None => {
            let _ = writeln!(out, "  TLSRPT    lookup failed");
        }
    }
    for warning in &report.warnings {
        let _ = writeln!(out, "  warning   {}", warning.as_str());
    }
    for failure in &report.failures {
        let _ = writeln!(
            out,
            "  FAILURE   [{}] {} / {}: {}",
            failure.phase.as_str(),
            failure.result_type.as_str(),
            failure.reason.as_str(),
            failure.detail
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
