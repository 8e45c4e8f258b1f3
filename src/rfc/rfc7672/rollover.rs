//! Rollover readiness: would the TLSA records still match after the server
//! gets a new key? The most common DANE outage is a certificate renewal
//! with a new key that leaves the TLSA records behind (RFC 7671 §8.1
//! describes publishing "current + next" to avoid it).
//!
//! The rule, over the usable records (RFC 7672 §3.1) and the presented
//! chain, with matching by digest only (no path, name or date checks: those
//! are the verdict's, [`super::verify_chain`]):
//!
//! 1. When no usable record matches the current chain (no `3 x x` for the
//!    leaf, no `2 x x` for an issuer), readiness does not apply: the host
//!    fails DANE now ([`RolloverReadiness::NotApplicable`]).
//! 2. Ready when a usable `2 x x` record matches a certificate above the
//!    leaf (or a `2 0 0` record holds the leaf's issuer): a new leaf key
//!    from the same issuer still matches
//!    ([`ReadyBy::TrustAnchor`]).
//! 3. Ready when a usable `3 x x` record does not match the current leaf:
//!    it is taken to be the next key, published ahead ([`ReadyBy::NextKey`];
//!    a stale record for an old key looks the same and cannot be told
//!    apart).
//! 4. Otherwise not ready: every usable record matches only the current
//!    leaf, and the next renewal with a new key breaks delivery from DANE
//!    senders ([`RolloverReadiness::NotReady`]).
//!
//! A `3 0 x` record (the whole certificate) breaks at every renewal, even
//! with the same key; with a second record it is still "ready" by rule 3.

use super::matching::{usable_records, Chain};
use super::tlsa::{MatchingType, Selector, Tlsa};
use super::usability::DaneUsage;

/// What keeps the records matching after a key change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadyBy {
    /// Record `record` (`2 x x`) names the leaf's issuer.
    TrustAnchor {
        /// Index of the record in the RRset.
        record: usize,
    },
    /// Record `record` (`3 x x`) matches another key than the current
    /// leaf's.
    NextKey {
        /// Index of the record in the RRset.
        record: usize,
    },
}

/// Rollover readiness of one host (see the module's rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RolloverReadiness {
    /// No usable record matches the current chain: nothing to roll over.
    NotApplicable,
    /// A new leaf key would still match.
    Ready(ReadyBy),
    /// Every usable record matches only the current leaf.
    NotReady,
}

/// Applies the rule of this module to `records` and the presented `chain`
/// (DER, leaf first).
pub fn rollover_readiness<C: AsRef<[u8]>>(records: &[Tlsa], chain: &[C]) -> RolloverReadiness {
    let usable = usable_records(records);
    let chain = Chain::new(chain);
    let Some(leaf) = chain.certs.first() else {
        return RolloverReadiness::NotApplicable;
    };
    let mut trust_anchor = None;
    let mut matches_leaf = false;
    let mut next_key = None;
    for &(index, record, params) in &usable {
        match params.usage {
            DaneUsage::DaneEe if leaf.matches(record, params) => matches_leaf = true,
            DaneUsage::DaneEe => {
                next_key.get_or_insert(index);
            }
            DaneUsage::DaneTa => {
                let issuer_in_chain = chain
                    .certs
                    .iter()
                    .skip(1)
                    .any(|cert| cert.matches(record, params));
                if trust_anchor.is_none()
                    && (issuer_in_chain || record_holds_issuer(record, &chain))
                {
                    trust_anchor = Some(index);
                }
            }
        }
    }
    match (trust_anchor, matches_leaf, next_key) {
        (Some(record), _, _) => RolloverReadiness::Ready(ReadyBy::TrustAnchor { record }),
        (None, false, _) => RolloverReadiness::NotApplicable,
        (None, true, Some(record)) => RolloverReadiness::Ready(ReadyBy::NextKey { record }),
        (None, true, None) => RolloverReadiness::NotReady,
    }
}

/// Whether a `2 0 0` record holds the certificate that issued the leaf (its
/// subject is the leaf's issuer), also when the server does not send it.
fn record_holds_issuer(record: &Tlsa, chain: &Chain<'_>) -> bool {
    if record.selector_kind() != Some(Selector::Cert)
        || record.matching_type() != Some(MatchingType::Full)
    {
        return false;
    }
    let Some(leaf) = chain.certs.first().and_then(|c| c.parsed.as_ref()) else {
        return false;
    };
    if chain.certs.first().map(|c| c.der) == Some(record.data.as_slice()) {
        return false;
    }
    match x509_parser::parse_x509_certificate(&record.data) {
        Ok((_, anchor)) => anchor.subject().as_raw() == leaf.issuer().as_raw(),
        Err(_) => false,
    }
}
