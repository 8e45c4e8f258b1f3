//! Turning the file as written into a [`Config`]: defaults filled in, every
//! value checked. Validation does not stop at the first problem: each
//! section's validator adds what it finds to one list, in file-section
//! order, and [`Config::parse`] then places each problem at its
//! `line:column`.

use super::raw::{
    RawAddresses, RawCertificates, RawConfig, RawDomain, RawModule, RawPorts, RawProbe,
    RawResolver, RawShard, RawSmtp, RawStorage, RawTls,
};
use super::{
    normalize_domain, parse_nameserver, AddressesConfig, Config, ConfigDuration, ConfigIssue,
    DomainConfig, Ports, ProbeEndpointConfig, ProbeSettings, ResolverConfig, Shard, SmtpConfig,
    StorageConfig,
};
use crate::echo::capped;
use crate::rfc::domain::is_ascii_domain;
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

/// The problems found so far, each naming its field; positions are added
/// afterwards from the text.
#[derive(Debug, Default)]
struct Issues(Vec<ConfigIssue>);

impl Issues {
    /// Records that `field` has `problem`.
    fn add(&mut self, field: impl Into<String>, problem: impl Into<String>) {
        self.0.push(ConfigIssue::new(field, problem));
    }
}

/// Checks every section of `raw` and builds the configuration, or returns
/// every problem found (without positions).
pub(super) fn validate(raw: RawConfig) -> Result<Config, Vec<ConfigIssue>> {
    let mut issues = Issues::default();
    let mut config = Config::default();
    config
        .defaults
        .apply(raw.interval, raw.timeout, raw.check_mx, raw.check_starttls);
    if let Some(mode) = raw.dane {
        config.defaults.dane = mode;
    }
    validate_smtp(raw.smtp, &mut config.smtp, &mut issues);
    check_overrides("", raw.interval, raw.timeout, &mut issues);
    if let Some(n) = raw.concurrency {
        check_range("concurrency", n, 100_000, &mut issues);
        config.concurrency = n;
    }
    if let Some(n) = raw.max_mx_hosts {
        check_range("max_mx_hosts", n, 100, &mut issues);
        config.max_mx_hosts = n;
    }
    let explicit_cache_ttl = raw.resolver.dnssec_cache_max_ttl.is_some();
    validate_resolver(raw.resolver, &mut config.resolver, &mut issues);
    config.ca_file = validate_tls(raw.tls, &mut issues);
    validate_ports(raw.ports, &mut config.ports, &mut issues);
    config.phase_duration_by_domain = raw.metrics.phase_duration_by_domain;
    validate_probe_endpoint(raw.probe, &mut config.probe_endpoint, &mut issues);
    config.modules = validate_modules(&raw.modules, &config.defaults, &mut issues);
    config.shard = raw.shard.map(|shard| validate_shard(shard, &mut issues));
    validate_storage(raw.storage, &mut config.storage, &mut issues);
    validate_certificates(raw.certificates, &mut config.certificates, &mut issues);
    validate_addresses(raw.addresses, &mut config.addresses, &mut issues);
    config.domains = validate_domains(raw.domains, &config.defaults, &mut issues);
    bound_dnssec_cache_ttl(&mut config, explicit_cache_ttl, &mut issues);
    bound_shared_checks(&config, &mut issues);
    config.reports =
        super::reports::validate_reports(raw.reports, config.storage.path.as_ref(), &mut issues.0);
    if issues.0.is_empty() {
        Ok(config)
    } else {
        Err(issues.0)
    }
}

impl ProbeSettings {
    /// Overrides the settings given (globals over defaults, a domain's or a
    /// module's over the globals).
    fn apply(
        &mut self,
        interval: Option<ConfigDuration>,
        timeout: Option<ConfigDuration>,
        check_mx: Option<bool>,
        check_starttls: Option<bool>,
    ) {
        if let Some(d) = interval {
            self.interval = d.0;
        }
        if let Some(d) = timeout {
            self.timeout = d.0;
        }
        if let Some(b) = check_mx {
            self.check_mx = b;
        }
        if let Some(b) = check_starttls {
            self.check_starttls = b;
        }
    }
}

/// Checks the interval and timeout one level (globals, a module, a domain)
/// writes; what it inherits was checked where it was written.
fn check_overrides(
    prefix: &str,
    interval: Option<ConfigDuration>,
    timeout: Option<ConfigDuration>,
    issues: &mut Issues,
) {
    if interval.is_some_and(|d| d.0 < Duration::from_secs(1)) {
        issues.add(format!("{prefix}interval"), "must be at least 1s");
    }
    if timeout.is_some_and(|d| d.0.is_zero()) {
        issues.add(format!("{prefix}timeout"), "must be above zero");
    }
}

/// Checks that a count is from 1 to `max`.
fn check_range(field: &str, n: usize, max: usize, issues: &mut Issues) {
    if n == 0 || n > max {
        issues.add(field, format!("must be from 1 to {max}"));
    }
}

/// Checks that a bound written at `field` is above zero.
fn check_above_zero(field: &str, duration: ConfigDuration, issues: &mut Issues) {
    if duration.0.is_zero() {
        issues.add(field, "must be above zero");
    }
}

/// `storage:`: a path that is not empty, and a write interval of at least a
/// second (writing is a whole-file rename, not to be done per probe).
fn validate_storage(raw: RawStorage, storage: &mut StorageConfig, issues: &mut Issues) {
    if let Some(path) = raw.path {
        if path.as_os_str().is_empty() {
            issues.add("storage.path", "must not be empty");
        }
        storage.path = Some(path);
    }
    if let Some(interval) = raw.write_interval {
        if interval.0 < Duration::from_secs(1) {
            issues.add("storage.write_interval", "must be at least 1s");
        }
        storage.write_interval = interval.0;
    }
}

/// `addresses:`: from 1 to 16 addresses per family, and at least one
/// family on.
fn validate_addresses(raw: RawAddresses, addresses: &mut AddressesConfig, issues: &mut Issues) {
    if let Some(n) = raw.per_family {
        check_range("addresses.per_family", n, 16, issues);
        addresses.per_family = n;
    }
    addresses.ipv4 = raw.ipv4.unwrap_or(addresses.ipv4);
    addresses.ipv6 = raw.ipv6.unwrap_or(addresses.ipv6);
    if !addresses.ipv4 && !addresses.ipv6 {
        let field = if raw.ipv6.is_some() {
            "addresses.ipv6"
        } else {
            "addresses.ipv4"
        };
        issues.add(
            field,
            "addresses.ipv4 and addresses.ipv6 cannot both be false: no address would be checked",
        );
    }
}

/// `certificates:`: days from 1 to 365, the critical threshold at most the
/// warning one.
fn validate_certificates(
    raw: RawCertificates,
    thresholds: &mut crate::report::CertThresholds,
    issues: &mut Issues,
) {
    if let Some(days) = raw.warning_days {
        check_range("certificates.warning_days", days as usize, 365, issues);
        thresholds.warning_days = days;
    }
    if let Some(days) = raw.critical_days {
        check_range("certificates.critical_days", days as usize, 365, issues);
        thresholds.critical_days = days;
    }
    if thresholds.critical_days > thresholds.warning_days {
        issues.add(
            "certificates.critical_days",
            format!(
                "must be at most certificates.warning_days ({})",
                thresholds.warning_days
            ),
        );
    }
}

/// `smtp:`: the EHLO name must be a host name, the timeout above zero
/// (`share_checks_for` is bounded by [`bound_shared_checks`]).
fn validate_smtp(raw: RawSmtp, smtp: &mut SmtpConfig, issues: &mut Issues) {
    if let Some(name) = raw.helo_name {
        if !is_ascii_domain(&name) {
            issues.add(
                "smtp.helo_name",
                format!("{:?} is not a host name", capped(&name)),
            );
        }
        smtp.helo_name = name;
    }
    if let Some(d) = raw.timeout {
        check_above_zero("smtp.timeout", d, issues);
        smtp.timeout = d.0;
    }
    if let Some(d) = raw.share_checks_for {
        smtp.share_checks_for = d.0;
    }
}

/// `resolver:`: each name server an address, the timeout above zero.
fn validate_resolver(raw: RawResolver, resolver: &mut ResolverConfig, issues: &mut Issues) {
    for (i, ns) in raw.nameservers.iter().enumerate() {
        match parse_nameserver(ns) {
            Ok(addr) => resolver.nameservers.push(addr),
            Err(e) => issues.add(format!("resolver.nameservers[{i}]"), e),
        }
    }
    if let Some(d) = raw.timeout {
        check_above_zero("resolver.timeout", d, issues);
        resolver.timeout = d.0;
    }
    if let Some(path) = raw.trust_anchor_file {
        if !path.is_file() {
            issues.add(
                "resolver.trust_anchor_file",
                format!(
                    "{} is not a readable file",
                    capped(&path.display().to_string())
                ),
            );
        }
        resolver.trust_anchor_file = Some(path);
    }
    if let Some(trust) = raw.trust_ad_bit {
        resolver.trust_ad_bit = trust;
    }
    if let Some(d) = raw.dnssec_cache_max_ttl {
        resolver.dnssec_cache_max_ttl = d.0;
    }
    if let Some(n) = raw.dnssec_cache_size {
        if n > MAX_DNSSEC_CACHE_SIZE {
            issues.add(
                "resolver.dnssec_cache_size",
                format!("must be from 0 to {MAX_DNSSEC_CACHE_SIZE}"),
            );
        }
        resolver.dnssec_cache_size = n;
    }
}

/// Most answers of the DANE lookups kept (`resolver.dnssec_cache_size`).
const MAX_DNSSEC_CACHE_SIZE: usize = 1_000_000;

/// `resolver.dnssec_cache_max_ttl` below half the shortest probe interval
/// (the defaults' or a domain's): the scheduler may probe a domain again
/// after half its interval (the jitter of its second round), and that
/// probe must see what changed. A configured cap at or above it is
/// refused; the default is lowered to half of it. (`/probe` modules probe
/// once: their interval does not count.)
fn bound_dnssec_cache_ttl(config: &mut Config, explicit: bool, issues: &mut Issues) {
    let half = shortest_interval(config) / 2;
    let cap = &mut config.resolver.dnssec_cache_max_ttl;
    if *cap < half {
        return;
    }
    if explicit {
        issues.add(
            "resolver.dnssec_cache_max_ttl",
            format!(
                "must be below half the shortest probe interval ({}s): a changed TLSA record or DNSSEC key could be missed by a domain's next probe",
                half.as_secs_f64()
            ),
        );
    } else {
        *cap = half / 2;
    }
}

/// `smtp.share_checks_for` below half the shortest probe interval: the
/// scheduler may probe a domain again after half its interval (the
/// jitter of its second round), and that probe must see a check made
/// after its last one.
fn bound_shared_checks(config: &Config, issues: &mut Issues) {
    let shared = config.smtp.share_checks_for;
    let half = shortest_interval(config) / 2;
    if !shared.is_zero() && shared >= half {
        issues.add(
            "smtp.share_checks_for",
            format!(
                "must be below half the shortest probe interval ({}s): a domain's next probe could be given the check its last one saw",
                half.as_secs_f64()
            ),
        );
    }
}

/// The shortest probe interval, the defaults' or a domain's (`/probe`
/// modules probe once: their interval does not count).
fn shortest_interval(config: &Config) -> Duration {
    config
        .domains
        .iter()
        .map(|d| d.settings.interval)
        .chain(std::iter::once(config.defaults.interval))
        .min()
        .unwrap_or(config.defaults.interval)
}

/// `tls:`: the extra CA file must be a file.
fn validate_tls(raw: RawTls, issues: &mut Issues) -> Option<PathBuf> {
    let path = raw.ca_file?;
    if !path.is_file() {
        issues.add(
            "tls.ca_file",
            format!(
                "{} is not a readable file",
                capped(&path.display().to_string())
            ),
        );
    }
    Some(path)
}

/// `ports:`: no port 0.
fn validate_ports(raw: RawPorts, ports: &mut Ports, issues: &mut Issues) {
    for (field, port, value) in [
        ("ports.https", raw.https, &mut ports.https),
        ("ports.smtp", raw.smtp, &mut ports.smtp),
    ] {
        if let Some(port) = port {
            if port == 0 {
                issues.add(field, "must be from 1 to 65535");
            }
            *value = port;
        }
    }
}

/// `probe:`: each allowed target a domain, `*.domain` or `*` (kept in the
/// normalized form [`Config::probe_allowed`] compares with), and a bound on
/// concurrent requests.
fn validate_probe_endpoint(raw: RawProbe, endpoint: &mut ProbeEndpointConfig, issues: &mut Issues) {
    if let Some(targets) = raw.allowed_targets {
        for (i, target) in targets.iter().enumerate() {
            let name = target.strip_prefix("*.").unwrap_or(target);
            if target != "*" && normalize_domain(name).is_err() && !is_ascii_domain(name) {
                issues.add(
                    format!("probe.allowed_targets[{i}]"),
                    format!("{:?} is not a domain, *.domain or *", capped(target)),
                );
            }
        }
        endpoint.allowed_targets = Some(targets.iter().map(|t| normalize_target(t)).collect());
    }
    if let Some(n) = raw.max_concurrent {
        check_range("probe.max_concurrent", n, 10_000, issues);
        endpoint.max_concurrent = n;
    }
}

/// An allowed target in the form it is matched in: the name (or the suffix
/// after `*.`) normalized, or just lower-cased when it does not normalize.
fn normalize_target(target: &str) -> String {
    match target.strip_prefix("*.") {
        Some(rest) => format!(
            "*.{}",
            normalize_domain(rest).unwrap_or_else(|_| rest.to_ascii_lowercase())
        ),
        None if target == "*" => target.to_string(),
        None => normalize_domain(target).unwrap_or_else(|_| target.to_ascii_lowercase()),
    }
}

/// `modules:`: each module's settings, over the global defaults.
fn validate_modules(
    raw: &BTreeMap<String, RawModule>,
    defaults: &ProbeSettings,
    issues: &mut Issues,
) -> BTreeMap<String, ProbeSettings> {
    let mut modules = BTreeMap::new();
    for (name, module) in raw {
        let mut settings = defaults.clone();
        settings.apply(None, module.timeout, module.check_mx, module.check_starttls);
        check_overrides(&format!("modules.{name}."), None, module.timeout, issues);
        modules.insert(name.clone(), settings);
    }
    modules
}

/// `shard:`: the index must be below the count.
fn validate_shard(raw: RawShard, issues: &mut Issues) -> Shard {
    if raw.count == 0 || raw.index >= raw.count {
        issues.add(
            "shard",
            format!(
                "index {} must be below count {} (and count above 0)",
                raw.index, raw.count
            ),
        );
    }
    Shard {
        index: raw.index,
        count: raw.count,
    }
}

/// `domains:`: each a usable mail domain, none twice (after normalization),
/// with its overrides over the global defaults. An entry in error is left
/// out.
fn validate_domains(
    raw: Vec<RawDomain>,
    defaults: &ProbeSettings,
    issues: &mut Issues,
) -> Vec<DomainConfig> {
    let mut domains = Vec::new();
    let mut seen = HashSet::new();
    for (i, entry) in raw.into_iter().enumerate() {
        let (name, details) = match entry {
            RawDomain::Name(name) => (name, None),
            RawDomain::Detailed(d) => (d.name.clone(), Some(d)),
        };
        let field = format!("domains[{i}]");
        let ascii = match normalize_domain(&name) {
            Ok(ascii) => ascii,
            Err(e) => {
                issues.add(field, e);
                continue;
            }
        };
        if !seen.insert(ascii.clone()) {
            issues.add(field, format!("duplicate domain {:?}", capped(&ascii)));
            continue;
        }
        let mut settings = defaults.clone();
        if let Some(d) = details {
            settings.apply(d.interval, d.timeout, d.check_mx, d.check_starttls);
            if let Some(mode) = d.dane {
                settings.dane = mode;
            }
            check_overrides(&format!("{field}."), d.interval, d.timeout, issues);
        }
        domains.push(DomainConfig {
            name: ascii,
            settings,
        });
    }
    domains
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DEFAULT_CONCURRENCY, DEFAULT_TIMEOUT};

    #[test]
    fn defaults_and_overrides() {
        let c = Config::parse(
            "interval: 1m\ndomains:\n  - Example.COM.\n  - name: bücher.example\n    interval: 30s\n    check_mx: false\n",
        )
        .unwrap();
        assert_eq!(c.defaults.timeout, DEFAULT_TIMEOUT);
        assert_eq!(c.domains[0].name, "example.com");
        assert_eq!(c.domains[0].settings.interval, Duration::from_secs(60));
        assert_eq!(c.domains[1].name, "xn--bcher-kva.example");
        assert_eq!(c.domains[1].settings.interval, Duration::from_secs(30));
        assert!(!c.domains[1].settings.check_mx);
        assert!(c.domains[1].settings.check_starttls);
        let c = Config::parse("check_starttls: false\nsmtp:\n  helo_name: probe.example.net\n  timeout: 10s\ndomains: [a.example]\n").unwrap();
        assert!(!c.domains[0].settings.check_starttls);
        assert_eq!(c.smtp.helo_name, "probe.example.net");
        assert_eq!(c.smtp.timeout, Duration::from_secs(10));
        assert_eq!(c.concurrency, DEFAULT_CONCURRENCY);
        assert_eq!(c.ports.https, 443);
    }

    #[test]
    fn shared_starttls_checks_are_off_by_default_and_below_every_interval() {
        let c = Config::parse("domains: [a.example]\n").unwrap();
        assert_eq!(c.smtp.share_checks_for, Duration::ZERO);
        let c = Config::parse("smtp:\n  share_checks_for: 45s\ndomains: [a.example]\n").unwrap();
        assert_eq!(c.smtp.share_checks_for, Duration::from_secs(45));
        assert!(
            Config::parse("interval: 90s\nsmtp:\n  share_checks_for: 45s\ndomains: [a]\n").is_err()
        );
        let issues = Config::parse(
            "smtp:\n  share_checks_for: 45s\ndomains:\n  - a.example\n  - name: b.example\n    interval: 30s\n",
        )
        .unwrap_err();
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].field, "smtp.share_checks_for");
        assert!(issues[0].problem.contains("(15s)"), "{}", issues[0].problem);
        assert_eq!(issues[0].position.map(|p| p.line), Some(2));
    }

    #[test]
    fn certificate_thresholds_and_storage() {
        let c = Config::parse(
            "certificates:\n  warning_days: 30\n  critical_days: 10\nstorage:\n  path: /var/lib/x\n  write_interval: 5s\ndomains: [a.example]\n",
        )
        .unwrap();
        assert_eq!(c.certificates.warning_days, 30);
        assert_eq!(c.certificates.critical_days, 10);
        assert_eq!(
            c.storage.path.as_deref(),
            Some(std::path::Path::new("/var/lib/x"))
        );
        assert_eq!(c.storage.write_interval, Duration::from_secs(5));
        let defaults = Config::parse("domains: [a.example]\n").unwrap();
        assert_eq!(defaults.certificates.warning_days, 21);
        assert_eq!(defaults.certificates.critical_days, 7);
        assert_eq!(defaults.storage.path, None);
        let issues = Config::parse(
            "certificates:\n  warning_days: 5\n  critical_days: 10\nstorage:\n  write_interval: 10ms\ndomains: [a.example]\n",
        )
        .unwrap_err();
        let fields: Vec<_> = issues.iter().map(|i| i.field.as_str()).collect();
        assert_eq!(
            fields,
            ["storage.write_interval", "certificates.critical_days"],
            "{issues:?}"
        );
    }

    #[test]
    fn addresses_per_family_and_family_switches() {
        let defaults = Config::parse("domains: [a.example]\n").unwrap();
        assert_eq!(
            defaults.addresses,
            AddressesConfig {
                per_family: 4,
                ipv4: true,
                ipv6: true
            }
        );
        let c = Config::parse("addresses:\n  per_family: 2\n  ipv6: false\n").unwrap();
        assert_eq!(c.addresses.per_family, 2);
        assert!(c.addresses.ipv4 && !c.addresses.ipv6);
        let issues = Config::parse("addresses:\n  per_family: 0\n  ipv4: false\n  ipv6: false\n")
            .unwrap_err();
        let placed: Vec<_> = issues
            .iter()
            .map(|i| (i.field.as_str(), i.position.map(|p| p.line)))
            .collect();
        assert_eq!(
            placed,
            [
                ("addresses.per_family", Some(2)),
                ("addresses.ipv6", Some(4))
            ],
            "{issues:?}"
        );
        let issues = Config::parse("addresses:\n  ipv5: true\n").unwrap_err();
        assert_eq!(issues[0].field, "addresses.ipv5");
    }

    #[test]
    fn all_problems_reported() {
        let issues = Config::parse(
            "concurrency: 0\nresolver:\n  nameservers: [\"nope\", \"127.0.0.1:5353\"]\ndomains:\n  - example.com\n  - EXAMPLE.com\n  - \"bad_name.com\"\n  - localhost\n  - name: ok.example\n    timeout: 0s\n",
        )
        .unwrap_err();
        let fields: Vec<&str> = issues.iter().map(|i| i.field.as_str()).collect();
        assert_eq!(
            fields,
            vec![
                "concurrency",
                "resolver.nameservers[0]",
                "domains[1]",
                "domains[2]",
                "domains[3]",
                "domains[4].timeout"
            ]
        );
        assert!(issues[2].problem.contains("duplicate"));
        let lines: Vec<Option<usize>> = issues.iter().map(|i| i.position.map(|p| p.line)).collect();
        assert_eq!(
            lines,
            vec![Some(1), Some(3), Some(6), Some(7), Some(8), Some(10)]
        );
    }

    #[test]
    fn an_override_is_checked_where_it_is_written() {
        // A bad global interval is one problem, on its own line, not one more
        // for every domain that inherits it.
        let issues = Config::parse(
            "interval: 10ms
modules:
  quick:
    check_mx: false
domains:
  - name: a.example
    timeout: 5s
  - name: b.example
    interval: 0s
",
        )
        .unwrap_err();
        let found: Vec<(&str, Option<usize>)> = issues
            .iter()
            .map(|i| (i.field.as_str(), i.position.map(|p| p.line)))
            .collect();
        assert_eq!(
            found,
            vec![("interval", Some(1)), ("domains[1].interval", Some(9))]
        );
    }

    #[test]
    fn a_hundred_thousand_domains() {
        let mut text = String::from("domains:\n");
        for i in 0..100_000 {
            text.push_str(&format!("  - d{i}.example\n"));
        }
        let config = Config::parse(&text).unwrap();
        assert_eq!(config.domains.len(), 100_000);
        text.push_str("  - d7.example\n");
        let issues = Config::parse(&text).unwrap_err();
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].field, "domains[100000]");
        assert_eq!(issues[0].position.map(|p| p.line), Some(100_002));
    }
}
