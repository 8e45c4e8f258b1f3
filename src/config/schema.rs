//! The validated configuration: the types the rest of the crate reads.
//! They are built by validation from the file as written, never by serde
//! directly, so every value in them has been checked.

use super::{ProbeEndpointConfig, Shard};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

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
    /// Whether the MX hosts are checked for DANE (RFC 7672).
    pub dane: super::DaneMode,
}

/// How MX hosts are spoken to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpConfig {
    /// The name sent in EHLO.
    pub helo_name: String,
    /// Bound on one MX host's exchange.
    pub timeout: Duration,
    /// How long one STARTTLS check of an MX host answers for every domain
    /// naming that host (zero: each probe checks its MX hosts itself).
    pub share_checks_for: Duration,
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
    /// DNSKEY records (zone-file lines) trusted for DNSSEC validation of
    /// the DANE lookups instead of the built-in root keys (RFC 4033 §3.3;
    /// private roots, the test world).
    pub trust_anchor_file: Option<PathBuf>,
    /// Whether the DANE lookups take the AD flag of the configured name
    /// servers' answers as their DNSSEC status instead of validating
    /// in-process (RFC 4035 §3.2.3, RFC 6840 §5.8: only safe when the path
    /// to the resolver is trusted, i.e. it runs on this host).
    pub trust_ad_bit: bool,
    /// The longest any answer of the DANE lookups (DNSKEY, DS, MX, address,
    /// TLSA records) is remembered, whatever its TTL (RFC 2181 §8, RFC 2308
    /// §5); zero: nothing is kept. Below half the shortest probe interval
    /// (a domain's second probe may come half an interval after its
    /// first), so a changed TLSA record or a key rollover is seen by the
    /// next probe.
    pub dnssec_cache_max_ttl: Duration,
    /// Answers of the DANE lookups kept at most (zero: none).
    pub dnssec_cache_size: usize,
}

/// Ports to connect to: 443 and 25 unless overridden (tests, odd set-ups).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    /// The policy host's HTTPS port.
    pub https: u16,
    /// The MX hosts' SMTP port.
    pub smtp: u16,
}

/// `addresses:`: which addresses of each MX host and policy host are
/// checked (RFC 5321 §5.1: a sender may use any of a host's addresses, so
/// each one must work).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressesConfig {
    /// Addresses per host and family checked at most, in the order DNS
    /// gave them.
    pub per_family: usize,
    /// Whether IPv4 addresses (A records) are looked up and checked.
    pub ipv4: bool,
    /// Whether IPv6 addresses (AAAA records) are looked up and checked.
    pub ipv6: bool,
}

/// `storage:`: where the policy history of each domain is kept across
/// restarts (RFC 8461 §5.1: senders keep a policy for `max_age`, so a
/// monitor must remember it as long).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageConfig {
    /// The state directory; `None`: nothing is kept across restarts.
    pub path: Option<PathBuf>,
    /// At most how often the state is written after it changed.
    pub write_interval: Duration,
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
    /// The `/probe` endpoint's access policy and concurrency bound.
    pub probe_endpoint: ProbeEndpointConfig,
    /// Named per-target option sets for `/probe?module=` (`default` is the
    /// global defaults unless configured).
    pub modules: BTreeMap<String, ProbeSettings>,
    /// This replica's share of the domains, when several split the fleet.
    pub shard: Option<Shard>,
    /// Where state that survives a restart is kept.
    pub storage: StorageConfig,
    /// When a certificate's coming expiry warns, and when it is critical.
    pub certificates: crate::report::CertThresholds,
    /// Which addresses of each host are checked.
    pub addresses: AddressesConfig,
    /// The watched domains, in file order (all of them; see
    /// [`Config::scheduled_domains`] for this replica's share).
    pub domains: Vec<DomainConfig>,
    /// Receiving TLSRPT reports (RFC 8460 §5.3).
    pub reports: super::ReportsConfig,
}

impl Config {
    /// The domains this replica schedules: all, or its shard's.
    pub fn scheduled_domains(&self) -> impl Iterator<Item = &DomainConfig> {
        self.domains
            .iter()
            .filter(move |d| self.shard.is_none_or(|shard| shard.owns(&d.name)))
    }
}
