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
