//! The values used for whatever the file does not say.

use super::{
    AddressesConfig, Config, Ports, ProbeEndpointConfig, ProbeSettings, ResolverConfig, SmtpConfig,
    StorageConfig,
};
use crate::rfc::domain::is_ascii_domain;
use std::collections::BTreeMap;
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

/// Default cap on how long an answer of the DANE lookups is remembered:
/// a fifth of the default interval, so what changed is seen by the next
/// probe, and long enough for the domains probed in the same minute to
/// share the DNSKEY, DS and TLSA answers of their zones and MX hosts.
/// When it is not below half the shortest probe interval, a quarter of
/// that interval is used instead.
pub const DEFAULT_DNSSEC_CACHE_MAX_TTL: Duration = Duration::from_secs(60);
/// Default bound on the answers of the DANE lookups kept (each at most
/// [`crate::probe::dnssec_transport::MAX_CACHED_RESPONSE_BYTES`]: 16 MiB at
/// most in all).
pub const DEFAULT_DNSSEC_CACHE_SIZE: usize = 4096;

/// Default number of addresses per host and family checked.
pub const DEFAULT_ADDRESSES_PER_FAMILY: usize = 4;

/// Default bound on concurrent `/probe` requests.
pub const DEFAULT_PROBE_MAX_CONCURRENT: usize = 10;
/// Default bound on how often the state is written after it changed.
pub const DEFAULT_STORAGE_WRITE_INTERVAL: Duration = Duration::from_secs(30);

/// The EHLO name when none is configured: this machine's host name, or
/// `localhost` when it cannot be read.
pub fn default_helo_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_string())
        .filter(|name| is_ascii_domain(name))
        .unwrap_or_else(|| "localhost".to_string())
}

impl Default for Config {
    fn default() -> Self {
        Config {
            defaults: ProbeSettings {
                interval: DEFAULT_INTERVAL,
                timeout: DEFAULT_TIMEOUT,
                check_mx: true,
                check_starttls: true,
                dane: super::DaneMode::Off,
            },
            concurrency: DEFAULT_CONCURRENCY,
            max_mx_hosts: DEFAULT_MAX_MX_HOSTS,
            resolver: ResolverConfig {
                nameservers: Vec::new(),
                timeout: DEFAULT_RESOLVER_TIMEOUT,
                trust_anchor_file: None,
                trust_ad_bit: false,
                dnssec_cache_max_ttl: DEFAULT_DNSSEC_CACHE_MAX_TTL,
                dnssec_cache_size: DEFAULT_DNSSEC_CACHE_SIZE,
            },
            ca_file: None,
            ports: Ports {
                https: 443,
                smtp: 25,
            },
            smtp: SmtpConfig {
                helo_name: default_helo_name(),
                timeout: DEFAULT_SMTP_TIMEOUT,
                share_checks_for: Duration::ZERO,
            },
            phase_duration_by_domain: false,
            probe_endpoint: ProbeEndpointConfig::default(),
            modules: BTreeMap::new(),
            shard: None,
            certificates: crate::report::CertThresholds::default(),
            storage: StorageConfig {
                path: None,
                write_interval: DEFAULT_STORAGE_WRITE_INTERVAL,
            },
            addresses: AddressesConfig {
                per_family: DEFAULT_ADDRESSES_PER_FAMILY,
                ipv4: true,
                ipv6: true,
            },
            domains: Vec::new(),
            reports: super::ReportsConfig::default(),
        }
    }
}

impl Default for ProbeEndpointConfig {
    fn default() -> Self {
        ProbeEndpointConfig {
            allowed_targets: None,
            max_concurrent: DEFAULT_PROBE_MAX_CONCURRENT,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_defaults() {
        assert_eq!(Config::parse("").unwrap(), Config::default());
    }
}
