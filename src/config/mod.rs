//! The YAML configuration: schema, defaults and validation.
//!
//! Every error names the file, the field and the problem; validation reports
//! all problems it finds at once, not only the first.

use crate::mtasts::domain::is_ascii_domain;
use serde::Deserialize;
use std::collections::HashSet;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Default time between two probes of a domain.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(300);
/// Default bound on a whole probe: RFC 8461 §3.3 suggests senders give up a
/// policy fetch after a minute.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Default bound on each DNS query.
pub const DEFAULT_RESOLVER_TIMEOUT: Duration = Duration::from_secs(5);
/// Default number of probes in flight.
pub const DEFAULT_CONCURRENCY: usize = 32;
/// Default cap on MX hosts per domain exported as labels and checked.
pub const DEFAULT_MAX_MX_HOSTS: usize = 10;
/// Default bound on one MX host's SMTP STARTTLS exchange.
pub const DEFAULT_SMTP_TIMEOUT: Duration = Duration::from_secs(30);

pub mod yaml;

pub use yaml::{ConfigIssue, Position};

/// Why a configuration file was rejected.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file was read but has one or more problems.
    #[error("{}", render_issues(path, issues))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Every problem found.
        issues: Vec<ConfigIssue>,
    },
}

fn render_issues(path: &Path, issues: &[ConfigIssue]) -> String {
    let file = path.display().to_string();
    issues
        .iter()
        .map(|issue| issue.render(&file))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A duration in the Prometheus style: `90s`, `5m`, `1h30m`, `500ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigDuration(pub Duration);

impl<'de> Deserialize<'de> for ConfigDuration {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse_duration(&text)
            .map(ConfigDuration)
            .map_err(serde::de::Error::custom)
    }
}

/// Parses a Prometheus-style duration: one or more `<integer><unit>` with units
/// `ms`, `s`, `m`, `h`, `d`, `w`, largest first, e.g. `1h30m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("invalid duration {text:?}: expected e.g. 30s, 5m, 1h30m");
    if text.is_empty() {
        return Err(bad());
    }
    let mut total: u64 = 0;
    let mut rest = text;
    let mut last_unit_ms = u64::MAX;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 12 {
            return Err(bad());
        }
        let value: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit_ms = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            _ => return Err(bad()),
        };
        if unit_ms >= last_unit_ms {
            return Err(bad());
        }
        last_unit_ms = unit_ms;
        rest = &rest[unit_len..];
        total = value
            .checked_mul(unit_ms)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
    }
    Ok(Duration::from_millis(total))
}

/// The file as written (before defaults and validation).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    interval: Option<ConfigDuration>,
    timeout: Option<ConfigDuration>,
    check_mx: Option<bool>,
    check_starttls: Option<bool>,
    concurrency: Option<usize>,
    max_mx_hosts: Option<usize>,
    #[serde(default)]
    resolver: RawResolver,
    #[serde(default)]
    tls: RawTls,
    #[serde(default)]
    ports: RawPorts,
    #[serde(default)]
    smtp: RawSmtp,
    #[serde(default)]
    metrics: RawMetrics,
    #[serde(default)]
    probe: RawProbe,
    #[serde(default)]
    modules: std::collections::BTreeMap<String, RawModule>,
    shard: Option<RawShard>,
    #[serde(default)]
    domains: Vec<RawDomain>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProbe {
    allowed_targets: Option<Vec<String>>,
    max_concurrent: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModule {
    timeout: Option<ConfigDuration>,
    check_mx: Option<bool>,
    check_starttls: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawShard {
    index: u32,
    count: u32,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawResolver {
    #[serde(default)]
    nameservers: Vec<String>,
    timeout: Option<ConfigDuration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    ca_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPorts {
    https: Option<u16>,
    smtp: Option<u16>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSmtp {
    helo_name: Option<String>,
    timeout: Option<ConfigDuration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    #[serde(default)]
    phase_duration_by_domain: bool,
}

/// A `domains:` entry: a name, or a mapping with a name and overrides.
#[derive(Debug)]
enum RawDomain {
    Name(String),
    Detailed(RawDomainDetails),
}

impl<'de> Deserialize<'de> for RawDomain {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // A visitor rather than `#[serde(untagged)]`, so that an error inside a
        // mapping (unknown key, bad duration) is reported as itself instead of
        // "did not match any variant".
        struct DomainVisitor;
        impl<'de> serde::de::Visitor<'de> for DomainVisitor {
            type Value = RawDomain;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a domain name or a mapping with `name:`")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawDomain, E> {
                Ok(RawDomain::Name(v.to_string()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<RawDomain, A::Error> {
                RawDomainDetails::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(RawDomain::Detailed)
            }
        }
        deserializer.deserialize_any(DomainVisitor)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDomainDetails {
    name: String,
    interval: Option<ConfigDuration>,
    timeout: Option<ConfigDuration>,
    check_mx: Option<bool>,
    check_starttls: Option<bool>,
}

/// What is probed for one domain and how often.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeSettings {
    /// Time between two probes.
    pub interval: Duration,
    /// Bound on one whole probe.
    pub timeout: Duration,
    /// Whether to look up MX records and compare them with the policy.
    pub check_mx: bool,
    /// Whether to check each MX host's STARTTLS and certificate (needs
    /// `check_mx`).
    pub check_starttls: bool,
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

/// How MX hosts are spoken to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpConfig {
    /// The name sent in EHLO.
    pub helo_name: String,
    /// Bound on one MX host's exchange.
    pub timeout: Duration,
}

/// The EHLO name when none is configured: this machine's host name, or
/// `localhost` when it cannot be read.
pub fn default_helo_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_string())
        .filter(|name| is_ascii_domain(name))
        .unwrap_or_else(|| "localhost".to_string())
}

/// One watched domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainConfig {
    /// The domain in ASCII (A-labels), lower-case, no trailing dot: the form
    /// used in DNS queries and in metric labels.
    pub name: String,
    /// How it is probed.
    pub settings: ProbeSettings,
}

/// DNS resolver settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolverConfig {
    /// Name servers to query; empty means the system's (`/etc/resolv.conf`).
    pub nameservers: Vec<SocketAddr>,
    /// Bound on each query.
    pub timeout: Duration,
}

/// Ports to connect to: 443 and 25 unless overridden (tests, odd set-ups).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    /// The policy host's HTTPS port.
    pub https: u16,
    /// The MX hosts' SMTP port.
    pub smtp: u16,
}

/// The validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Defaults for domains that do not override them.
    pub defaults: ProbeSettings,
    /// Probes in flight at most.
    pub concurrency: usize,
    /// MX hosts per domain checked and exported at most.
    pub max_mx_hosts: usize,
    /// DNS settings.
    pub resolver: ResolverConfig,
    /// Extra PEM roots trusted besides the WebPKI roots.
    pub ca_file: Option<PathBuf>,
    /// Ports.
    pub ports: Ports,
    /// SMTP settings for STARTTLS checks.
    pub smtp: SmtpConfig,
    /// Whether `mtasts_phase_duration_seconds` carries a `domain` label
    /// (for small fleets).
    pub phase_duration_by_domain: bool,
    /// `/probe` settings.
    pub probe: ProbeEndpointConfig,
    /// Named per-target option sets for `/probe?module=` (`default` is the
    /// global defaults unless configured).
    pub modules: std::collections::BTreeMap<String, ProbeSettings>,
    /// This replica's share of the domains, when several split the fleet.
    pub shard: Option<Shard>,
    /// The watched domains, in file order (all of them; see
    /// [`Config::scheduled_domains`] for this replica's share).
    pub domains: Vec<DomainConfig>,
}

/// Which targets `/probe` accepts and how many probes it runs at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeEndpointConfig {
    /// Exact names and `*.suffix` patterns; `None`: only configured domains.
    pub allowed_targets: Option<Vec<String>>,
    /// Concurrent `/probe` requests; more get 503.
    pub max_concurrent: usize,
}

/// Default bound on concurrent `/probe` requests.
pub const DEFAULT_PROBE_MAX_CONCURRENT: usize = 10;

/// One replica's share: domains whose stable hash modulo `count` is `index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This replica's index, `0..count`.
    pub index: u32,
    /// The number of replicas.
    pub count: u32,
}

/// The stable hash deciding a domain's shard: 64-bit FNV-1a of the ASCII
/// name, then MurmurHash3's 64-bit finalizer so the low bits (used by the
/// modulo) are well mixed. Fixed by its definition, so every replica and
/// every version agrees.
pub fn domain_hash(domain: &str) -> u64 {
    let mut hash = domain
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
        });
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    hash ^ (hash >> 33)
}

impl Shard {
    /// Whether `domain` belongs to this shard.
    pub fn owns(&self, domain: &str) -> bool {
        domain_hash(domain) % u64::from(self.count) == u64::from(self.index)
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            defaults: ProbeSettings {
                interval: DEFAULT_INTERVAL,
                timeout: DEFAULT_TIMEOUT,
                check_mx: true,
                check_starttls: true,
            },
            concurrency: DEFAULT_CONCURRENCY,
            max_mx_hosts: DEFAULT_MAX_MX_HOSTS,
            resolver: ResolverConfig {
                nameservers: Vec::new(),
                timeout: DEFAULT_RESOLVER_TIMEOUT,
            },
            ca_file: None,
            ports: Ports {
                https: 443,
                smtp: 25,
            },
            smtp: SmtpConfig {
                helo_name: default_helo_name(),
                timeout: DEFAULT_SMTP_TIMEOUT,
            },
            phase_duration_by_domain: false,
            probe: ProbeEndpointConfig {
                allowed_targets: None,
                max_concurrent: DEFAULT_PROBE_MAX_CONCURRENT,
            },
            modules: std::collections::BTreeMap::new(),
            shard: None,
            domains: Vec::new(),
        }
    }
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.problem)
    }
}

/// Normalizes a domain as written in the config: Unicode (IDN) or punycode,
/// any case, optional trailing dot. Returns the ASCII form or why it is not a
/// usable mail domain.
pub fn normalize_domain(input: &str) -> Result<String, String> {
    let trimmed = input.strip_suffix('.').unwrap_or(input);
    if trimmed.is_empty() {
        return Err("empty domain name".into());
    }
    let ascii = idna::domain_to_ascii_strict(trimmed)
        .map_err(|_| format!("{input:?} is not a valid (internationalized) domain name"))?;
    if !is_ascii_domain(&ascii) {
        return Err(format!("{input:?} is not a valid host name"));
    }
    if !ascii.contains('.') {
        return Err(format!("{input:?} is not a fully qualified domain name"));
    }
    Ok(ascii)
}

/// Parses a name server as `IP` or `IP:port` (`[v6]:port` for IPv6); port 53
/// when none is given.
pub fn parse_nameserver(text: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    text.parse::<IpAddr>()
        .map(|ip| SocketAddr::new(ip, 53))
        .map_err(|_| format!("{text:?} is not IP or IP:port"))
}

impl Config {
    /// The domains this replica schedules: all, or its shard's.
    pub fn scheduled_domains(&self) -> impl Iterator<Item = &DomainConfig> {
        self.domains
            .iter()
            .filter(move |d| self.shard.is_none_or(|shard| shard.owns(&d.name)))
    }

    /// The probe settings of `/probe?module=NAME` (no module: the defaults).
    pub fn module(&self, name: Option<&str>) -> Option<ProbeSettings> {
        match name {
            None => Some(self.defaults.clone()),
            Some(name) => self
                .modules
                .get(name)
                .cloned()
                .or_else(|| (name == "default").then(|| self.defaults.clone())),
        }
    }

    /// Whether `/probe` may probe `domain` (ASCII, normalized):
    /// RFC-agnostic access control so the exporter is no open scanner.
    pub fn probe_allowed(&self, domain: &str) -> bool {
        match &self.probe.allowed_targets {
            None => self.domains.iter().any(|d| d.name == domain),
            Some(patterns) => patterns.iter().any(|pattern| {
                if pattern == "*" {
                    true
                } else if let Some(suffix) = pattern.strip_prefix("*.") {
                    domain.len() > suffix.len()
                        && domain.ends_with(suffix)
                        && domain.as_bytes()[domain.len() - suffix.len() - 1] == b'.'
                } else {
                    pattern == domain
                }
            }),
        }
    }

    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut config = Config::parse(&text).map_err(|issues| ConfigError::Invalid {
            path: path.to_path_buf(),
            issues,
        })?;
        // MTASTS_SHARD_INDEX / MTASTS_SHARD_COUNT override `shard` (and a
        // reload keeps them): see src/shard_env.rs.
        crate::shard_env::apply(&mut config).map_err(|issue| ConfigError::Invalid {
            path: path.to_path_buf(),
            issues: vec![issue],
        })?;
        Ok(config)
    }

    /// Parses and validates configuration text, returning every problem found,
    /// each with the line it is on.
    pub fn parse(text: &str) -> Result<Config, Vec<ConfigIssue>> {
        let raw: RawConfig = yaml::from_str(text).map_err(|issue| vec![issue])?;
        Config::validate(raw).map_err(|mut issues| {
            yaml::place_issues(text, &mut issues);
            issues
        })
    }

    fn validate(raw: RawConfig) -> Result<Config, Vec<ConfigIssue>> {
        let mut issues = Vec::new();
        let mut issue =
            |field: String, problem: String| issues.push(ConfigIssue::new(field, problem));
        let mut config = Config::default();
        config
            .defaults
            .apply(raw.interval, raw.timeout, raw.check_mx, raw.check_starttls);
        if let Some(name) = raw.smtp.helo_name {
            if !is_ascii_domain(&name) {
                issue(
                    "smtp.helo_name".into(),
                    format!("{name:?} is not a host name"),
                );
            }
            config.smtp.helo_name = name;
        }
        if let Some(d) = raw.smtp.timeout {
            if d.0.is_zero() {
                issue("smtp.timeout".into(), "must be above zero".into());
            }
            config.smtp.timeout = d.0;
        }
        check_overrides("", raw.interval, raw.timeout, &mut issue);
        if let Some(n) = raw.concurrency {
            if n == 0 || n > 100_000 {
                issue("concurrency".into(), "must be from 1 to 100000".into());
            }
            config.concurrency = n;
        }
        if let Some(n) = raw.max_mx_hosts {
            if n == 0 || n > 100 {
                issue("max_mx_hosts".into(), "must be from 1 to 100".into());
            }
            config.max_mx_hosts = n;
        }
        for (i, ns) in raw.resolver.nameservers.iter().enumerate() {
            match parse_nameserver(ns) {
                Ok(addr) => config.resolver.nameservers.push(addr),
                Err(e) => issue(format!("resolver.nameservers[{i}]"), e),
            }
        }
        if let Some(d) = raw.resolver.timeout {
            if d.0.is_zero() {
                issue("resolver.timeout".into(), "must be above zero".into());
            }
            config.resolver.timeout = d.0;
        }
        if let Some(path) = raw.tls.ca_file {
            if !path.is_file() {
                issue(
                    "tls.ca_file".into(),
                    format!("{} is not a readable file", path.display()),
                );
            }
            config.ca_file = Some(path);
        }
        for (field, port, value) in [
            ("ports.https", raw.ports.https, &mut config.ports.https),
            ("ports.smtp", raw.ports.smtp, &mut config.ports.smtp),
        ] {
            if let Some(port) = port {
                if port == 0 {
                    issue(field.into(), "must be from 1 to 65535".into());
                }
                *value = port;
            }
        }
        config.phase_duration_by_domain = raw.metrics.phase_duration_by_domain;
        if let Some(targets) = raw.probe.allowed_targets {
            for (i, target) in targets.iter().enumerate() {
                let name = target.strip_prefix("*.").unwrap_or(target);
                if target != "*" && normalize_domain(name).is_err() && !is_ascii_domain(name) {
                    issue(
                        format!("probe.allowed_targets[{i}]"),
                        format!("{target:?} is not a domain, *.domain or *"),
                    );
                }
            }
            config.probe.allowed_targets = Some(
                targets
                    .iter()
                    .map(|t| match t.strip_prefix("*.") {
                        Some(rest) => format!(
                            "*.{}",
                            normalize_domain(rest).unwrap_or_else(|_| rest.to_ascii_lowercase())
                        ),
                        None if t == "*" => t.clone(),
                        None => normalize_domain(t).unwrap_or_else(|_| t.to_ascii_lowercase()),
                    })
                    .collect(),
            );
        }
        if let Some(n) = raw.probe.max_concurrent {
            if n == 0 || n > 10_000 {
                issue(
                    "probe.max_concurrent".into(),
                    "must be from 1 to 10000".into(),
                );
            }
            config.probe.max_concurrent = n;
        }
        for (name, module) in &raw.modules {
            let mut settings = config.defaults.clone();
            settings.apply(None, module.timeout, module.check_mx, module.check_starttls);
            check_overrides(
                &format!("modules.{name}."),
                None,
                module.timeout,
                &mut issue,
            );
            config.modules.insert(name.clone(), settings);
        }
        if let Some(shard) = raw.shard {
            if shard.count == 0 || shard.index >= shard.count {
                issue(
                    "shard".into(),
                    format!(
                        "index {} must be below count {} (and count above 0)",
                        shard.index, shard.count
                    ),
                );
            }
            config.shard = Some(Shard {
                index: shard.index,
                count: shard.count,
            });
        }
        let mut seen = HashSet::new();
        for (i, entry) in raw.domains.into_iter().enumerate() {
            let (name, details) = match entry {
                RawDomain::Name(name) => (name, None),
                RawDomain::Detailed(d) => (d.name.clone(), Some(d)),
            };
            let field = format!("domains[{i}]");
            let ascii = match normalize_domain(&name) {
                Ok(ascii) => ascii,
                Err(e) => {
                    issue(field, e);
                    continue;
                }
            };
            if !seen.insert(ascii.clone()) {
                issue(field, format!("duplicate domain {ascii:?}"));
                continue;
            }
            let mut settings = config.defaults.clone();
            if let Some(d) = details {
                settings.apply(d.interval, d.timeout, d.check_mx, d.check_starttls);
                check_overrides(&format!("{field}."), d.interval, d.timeout, &mut issue);
            }
            config.domains.push(DomainConfig {
                name: ascii,
                settings,
            });
        }
        if issues.is_empty() {
            Ok(config)
        } else {
            Err(issues)
        }
    }
}

/// Checks the interval and timeout one level (globals, a module, a domain)
/// writes; what it inherits was checked where it was written.
fn check_overrides(
    prefix: &str,
    interval: Option<ConfigDuration>,
    timeout: Option<ConfigDuration>,
    issue: &mut impl FnMut(String, String),
) {
    if interval.is_some_and(|d| d.0 < Duration::from_secs(1)) {
        issue(format!("{prefix}interval"), "must be at least 1s".into());
    }
    if timeout.is_some_and(|d| d.0.is_zero()) {
        issue(format!("{prefix}timeout"), "must be above zero".into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2w"), Ok(Duration::from_secs(1_209_600)));
        for bad in [
            "",
            "5",
            "m",
            "-5s",
            "5 m",
            "1m1h",
            "5x",
            "1.5s",
            "99999999999999s",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

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
    fn empty_file_is_defaults() {
        assert_eq!(Config::parse("").unwrap(), Config::default());
    }

    #[test]
    fn unknown_field_named() {
        let issues = Config::parse("resolver:\n  nameserver: [1.2.3.4]\n").unwrap_err();
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].field, "resolver.nameserver");
        assert!(
            issues[0].problem.contains("unknown field `nameserver`"),
            "{}",
            issues[0].problem
        );
    }

    #[test]
    fn domain_entry_errors_named() {
        let issues =
            Config::parse("domains:\n  - name: a.example\n    intervall: 5m\n").unwrap_err();
        assert_eq!(issues[0].field, "domains[0].intervall");
        let issues =
            Config::parse("domains:\n  - name: a.example\n    interval: soon\n").unwrap_err();
        assert_eq!(issues[0].field, "domains[0].interval");
        assert!(issues[0].problem.contains("invalid duration"));
        let issues = Config::parse("domains:\n  - [a]\n").unwrap_err();
        assert_eq!(issues[0].field, "domains[0]");
    }

    #[test]
    fn bad_duration_named() {
        let issues = Config::parse("interval: 5 minutes\n").unwrap_err();
        assert_eq!(issues[0].field, "interval");
        assert!(issues[0].problem.contains("invalid duration"));
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
    fn probe_modules_and_targets() {
        let c = Config::parse(
            "probe:\n  allowed_targets: [\"Example.COM\", \"*.hosted.example\"]\n  max_concurrent: 3\nmodules:\n  quick:\n    timeout: 5s\n    check_starttls: false\ndomains: [a.example]\n",
        )
        .unwrap();
        assert!(c.probe_allowed("example.com"));
        assert!(c.probe_allowed("x.hosted.example"));
        assert!(c.probe_allowed("a.b.hosted.example"));
        assert!(!c.probe_allowed("hosted.example"));
        assert!(!c.probe_allowed("evilhosted.example"));
        assert!(
            !c.probe_allowed("a.example"),
            "explicit list replaces the default"
        );
        assert_eq!(c.probe.max_concurrent, 3);
        let quick = c.module(Some("quick")).unwrap();
        assert_eq!(quick.timeout, Duration::from_secs(5));
        assert!(!quick.check_starttls && quick.check_mx);
        assert!(c.module(Some("nope")).is_none());
        assert_eq!(c.module(Some("default")), Some(c.defaults.clone()));
        let d = Config::parse("domains: [a.example]\n").unwrap();
        assert!(d.probe_allowed("a.example") && !d.probe_allowed("b.example"));
        let issues =
            Config::parse("shard: {index: 3, count: 3}\nmodules:\n  m:\n    timeout: 0s\n")
                .unwrap_err();
        let fields: Vec<&str> = issues.iter().map(|i| i.field.as_str()).collect();
        assert_eq!(fields, vec!["modules.m.timeout", "shard"]);
    }

    #[test]
    fn every_domain_in_exactly_one_shard() {
        let domains: Vec<String> = (0..10_000).map(|i| format!("d{i}.example")).collect();
        for count in [1u32, 2, 3, 7, 16] {
            let mut per_shard = vec![0usize; count as usize];
            for domain in &domains {
                let owners: Vec<u32> = (0..count)
                    .filter(|&index| Shard { index, count }.owns(domain))
                    .collect();
                assert_eq!(owners.len(), 1, "{domain} in shards {owners:?} of {count}");
                per_shard[owners[0] as usize] += 1;
            }
            // Balanced within 10% of the even share.
            let even = domains.len() / count as usize;
            assert!(
                per_shard.iter().all(|&n| n.abs_diff(even) <= even / 10),
                "{count}: {per_shard:?}"
            );
        }
        // The hash is fixed by definition: known values stay known.
        assert_eq!(domain_hash("example.com"), 0x9591_d642_1994_d599);
    }

    #[test]
    fn hostile_config_input() {
        // Wrong types, huge numbers, negative durations, duplicate keys: an
        // error naming the field, never a panic.
        let cases = [
            ("concurrency: many\n", "concurrency"),
            ("concurrency: 99999999999999999999999\n", "concurrency"),
            ("concurrency: -3\n", "concurrency"),
            ("interval: -5m\n", "interval"),
            ("interval: 99999999999999999999h\n", "interval"),
            ("timeout: [1, 2]\n", "timeout"),
            ("ports:\n  https: 70000\n", "ports.https"),
            ("domains: example.com\n", "domains"),
            ("domains:\n  - 42\n", "domains[0]"),
        ];
        for (text, field) in cases {
            let issues = Config::parse(text).expect_err(text);
            assert_eq!(issues[0].field, field, "{text}: {:?}", issues);
            assert!(issues[0].position.is_some(), "{text}: {:?}", issues);
        }
        let issues = Config::parse("interval: 1m\ninterval: 2m\n").unwrap_err();
        assert_eq!(issues[0].field, "interval");
        assert!(issues[0].problem.contains("duplicate"), "{:?}", issues);
        assert_eq!(issues[0].position, Some(Position { line: 2, column: 1 }));
        let issues = Config::parse("resolver:\n  timeout: 1s\n  timeout: 2s\n").unwrap_err();
        assert_eq!(issues[0].field, "resolver.timeout");
        // Syntax errors and a document that is not a mapping: no field, but
        // still a line.
        for text in [
            "{{{{",
            "- - - -",
            "interval: 5m\n  timeout: 1s\n",
            "a: 'unclosed\n",
        ] {
            let issues = Config::parse(text).expect_err(text);
            assert_eq!(issues.len(), 1, "{text}: {issues:?}");
            assert!(issues[0].position.is_some(), "{text}: {issues:?}");
        }
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

    #[test]
    fn nameservers() {
        assert_eq!(
            parse_nameserver("127.0.0.1"),
            Ok("127.0.0.1:53".parse().unwrap())
        );
        assert_eq!(
            parse_nameserver("127.0.0.1:5353"),
            Ok("127.0.0.1:5353".parse().unwrap())
        );
        assert_eq!(parse_nameserver("::1"), Ok("[::1]:53".parse().unwrap()));
        assert_eq!(
            parse_nameserver("[::1]:5353"),
            Ok("[::1]:5353".parse().unwrap())
        );
    }
}
