//! The configuration file as written: serde structs that mirror the YAML
//! keys one to one, before defaults and validation. Unknown keys are refused
//! here (`deny_unknown_fields`), so a typo is an error naming the key.

use super::ConfigDuration;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

/// The file as written (before defaults and validation).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub(super) interval: Option<ConfigDuration>,
    pub(super) timeout: Option<ConfigDuration>,
    pub(super) check_mx: Option<bool>,
    pub(super) check_starttls: Option<bool>,
    pub(super) dane: Option<super::DaneMode>,
    pub(super) concurrency: Option<usize>,
    pub(super) max_mx_hosts: Option<usize>,
    #[serde(default)]
    pub(super) resolver: RawResolver,
    #[serde(default)]
    pub(super) tls: RawTls,
    #[serde(default)]
    pub(super) ports: RawPorts,
    #[serde(default)]
    pub(super) smtp: RawSmtp,
    #[serde(default)]
    pub(super) metrics: RawMetrics,
    #[serde(default)]
    pub(super) probe: RawProbe,
    #[serde(default)]
    pub(super) modules: BTreeMap<String, RawModule>,
    pub(super) shard: Option<RawShard>,
    #[serde(default)]
    pub(super) storage: RawStorage,
    #[serde(default)]
    pub(super) certificates: RawCertificates,
    #[serde(default)]
    pub(super) addresses: RawAddresses,
    #[serde(default)]
    pub(super) domains: Vec<RawDomain>,
    #[serde(default)]
    pub(super) reports: super::reports::RawReports,
}

/// `addresses:`: which addresses of each host are checked.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAddresses {
    pub(super) per_family: Option<usize>,
    pub(super) ipv4: Option<bool>,
    pub(super) ipv6: Option<bool>,
}

/// `certificates:`: expiry thresholds.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCertificates {
    pub(super) warning_days: Option<u32>,
    pub(super) critical_days: Option<u32>,
}

/// `storage:`: where state that survives a restart is kept.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStorage {
    pub(super) path: Option<PathBuf>,
    pub(super) write_interval: Option<ConfigDuration>,
}

/// `probe:`: the `/probe` endpoint's policy.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawProbe {
    pub(super) allowed_targets: Option<Vec<String>>,
    pub(super) max_concurrent: Option<usize>,
}

/// A `modules:` entry: settings for `/probe?module=NAME`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawModule {
    pub(super) timeout: Option<ConfigDuration>,
    pub(super) check_mx: Option<bool>,
    pub(super) check_starttls: Option<bool>,
}

/// `shard:`: this replica's share of the domains.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawShard {
    pub(super) index: u32,
    pub(super) count: u32,
}

/// `resolver:`: DNS settings.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawResolver {
    #[serde(default)]
    pub(super) nameservers: Vec<String>,
    pub(super) timeout: Option<ConfigDuration>,
    pub(super) trust_anchor_file: Option<PathBuf>,
    pub(super) trust_ad_bit: Option<bool>,
    pub(super) dnssec_cache_max_ttl: Option<ConfigDuration>,
    pub(super) dnssec_cache_size: Option<usize>,
}

/// `tls:`: extra trusted roots.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTls {
    pub(super) ca_file: Option<PathBuf>,
}

/// `ports:`: the HTTPS and SMTP ports to connect to.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPorts {
    pub(super) https: Option<u16>,
    pub(super) smtp: Option<u16>,
}

/// `smtp:`: how MX hosts are spoken to.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSmtp {
    pub(super) helo_name: Option<String>,
    pub(super) timeout: Option<ConfigDuration>,
    pub(super) share_checks_for: Option<ConfigDuration>,
}

/// `metrics:`: optional metric labels.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMetrics {
    #[serde(default)]
    pub(super) phase_duration_by_domain: bool,
}

/// A `domains:` entry: a name, or a mapping with a name and overrides.
#[derive(Debug)]
pub(super) enum RawDomain {
    /// Just the name: `- example.com`.
    Name(String),
    /// A mapping: `- name: example.com` with overrides.
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

/// A `domains:` entry written as a mapping: the name and its overrides.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDomainDetails {
    pub(super) name: String,
    pub(super) interval: Option<ConfigDuration>,
    pub(super) timeout: Option<ConfigDuration>,
    pub(super) check_mx: Option<bool>,
    pub(super) check_starttls: Option<bool>,
    pub(super) dane: Option<super::DaneMode>,
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, Position};

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
}
