//! `dane:`: whether a domain's MX hosts are checked for DANE (RFC 7672),
//! globally or per domain.

use serde::Deserialize;

/// How DANE (RFC 7672) is checked for a domain.
///
/// Off by default: a DANE check validates DNSSEC from the root (or
/// `resolver.trust_anchor_file`) through the configured name servers, which
/// must pass DNSSEC records on (a resolver that strips them makes every
/// answer bogus), and costs a TLSA lookup per MX host plus the DNSKEY and
/// DS lookups of each zone on the way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DaneMode {
    /// No DANE check (the default).
    #[default]
    Off,
    /// DANE is checked where the domain publishes it (secure TLSA records):
    /// then it decides the verdict, as a DANE sender applies it first
    /// (RFC 8461 §2); a domain without DANE is judged by MTA-STS alone.
    On,
    /// As `on`, and a domain whose MX hosts have no DANE (insecure MX
    /// RRset, insecure or denied TLSA) fails with `dane-required`.
    Require,
}

impl DaneMode {
    /// The word in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            DaneMode::Off => "off",
            DaneMode::On => "on",
            DaneMode::Require => "require",
        }
    }

    /// Whether DANE is checked at all.
    pub fn checked(self) -> bool {
        self != DaneMode::Off
    }
}

#[cfg(test)]
mod tests {
    use super::DaneMode;
    use crate::config::Config;

    #[test]
    fn dane_is_off_by_default_and_set_globally_or_per_domain() {
        let config =
            Config::parse("dane: on\ndomains:\n  - a.example\n  - {name: b.example, dane: require}\n  - {name: c.example, dane: off}\n")
                .unwrap();
        let modes: Vec<DaneMode> = config.domains.iter().map(|d| d.settings.dane).collect();
        assert_eq!(modes, [DaneMode::On, DaneMode::Require, DaneMode::Off]);
        let config = Config::parse("domains: [a.example]\n").unwrap();
        assert_eq!(config.domains[0].settings.dane, DaneMode::Off);
    }

    #[test]
    fn a_bad_mode_or_anchor_file_is_named_with_its_line() {
        let issues = Config::parse("domains:\n  - {name: a.example, dane: maybe}\n").unwrap_err();
        assert_eq!(issues[0].field, "domains[0].dane");
        assert!(
            issues[0].problem.contains("require"),
            "{}",
            issues[0].problem
        );
        assert_eq!(issues[0].position.map(|p| p.line), Some(2));
        let issues =
            Config::parse("resolver:\n  trust_anchor_file: /nonexistent/root.key\n").unwrap_err();
        assert_eq!(issues[0].field, "resolver.trust_anchor_file");
        assert_eq!(issues[0].position.map(|p| p.line), Some(2));
    }

    #[test]
    fn trusting_the_ad_bit_is_off_unless_asked_for() {
        let config = Config::parse("domains: [a.example]\n").unwrap();
        assert!(!config.resolver.trust_ad_bit);
        let config =
            Config::parse("resolver:\n  nameservers: [\"127.0.0.1\"]\n  trust_ad_bit: true\n")
                .unwrap();
        assert!(config.resolver.trust_ad_bit);
        let issues = Config::parse("resolver:\n  trust_ad_bit: maybe\n").unwrap_err();
        assert_eq!(issues[0].field, "resolver.trust_ad_bit");
        assert_eq!(issues[0].position.map(|p| p.line), Some(2));
    }

    #[test]
    fn the_dnssec_cache_stays_below_the_shortest_probe_interval() {
        use std::time::Duration;
        let config = Config::parse("domains: [a.example]\n").unwrap();
        assert_eq!(
            config.resolver.dnssec_cache_max_ttl,
            Duration::from_secs(60)
        );
        assert_eq!(config.resolver.dnssec_cache_size, 4096);
        // The default is lowered below half the shortest interval (the
        // second round may come half an interval after the first).
        let config =
            Config::parse("domains:\n  - a.example\n  - {name: b.example, interval: 30s}\n")
                .unwrap();
        assert_eq!(
            config.resolver.dnssec_cache_max_ttl,
            Duration::from_millis(7_500)
        );
        // A cap written in the file is refused at or above half of it,
        // also between half and the whole interval.
        for cap in ["2m", "90s", "1m"] {
            let yaml = format!(
                "interval: 2m\nresolver:\n  dnssec_cache_max_ttl: {cap}\ndomains: [a.example]\n"
            );
            let issues = Config::parse(&yaml).unwrap_err();
            assert_eq!(issues[0].field, "resolver.dnssec_cache_max_ttl");
            assert!(issues[0].problem.contains("(60s)"), "{}", issues[0].problem);
            assert_eq!(issues[0].position.map(|p| p.line), Some(3));
        }
        let config = Config::parse(
            "interval: 2m\nresolver:\n  dnssec_cache_max_ttl: 59s\ndomains: [a.example]\n",
        )
        .unwrap();
        assert_eq!(
            config.resolver.dnssec_cache_max_ttl,
            Duration::from_secs(59)
        );
        let config = Config::parse(
            "resolver:\n  dnssec_cache_max_ttl: 0s\n  dnssec_cache_size: 10\ndomains: [a.example]\n",
        )
        .unwrap();
        assert_eq!(config.resolver.dnssec_cache_max_ttl, Duration::ZERO);
        assert_eq!(config.resolver.dnssec_cache_size, 10);
        let issues = Config::parse("resolver:\n  dnssec_cache_size: 2000000\n").unwrap_err();
        assert_eq!(issues[0].field, "resolver.dnssec_cache_size");
        assert_eq!(issues[0].position.map(|p| p.line), Some(2));
    }
}
