//! Matching a presented certificate chain against a TLSA RRset (RFC 7672
//! §3; RFC 6698 §2.1 for what each field selects).
//!
//! Plain data in, plain data out: the chain as DER certificates (leaf first,
//! as the server sent it), the records, the reference identifiers and the
//! time; no I/O and no clock.
//!
//! - `DANE-EE` (`3 x x`) matches the leaf's certificate or its
//!   SubjectPublicKeyInfo, with no name and no expiry check (RFC 7672
//!   §3.1.1).
//! - `DANE-TA` (`2 x x`) matches a certificate of the chain above the leaf
//!   (or, for `2 0 0`, the certificate in the record itself, which the
//!   server may leave out): that certificate is then the one trust anchor,
//!   the leaf must chain to it with every signature verified (by
//!   rustls-webpki, with the server-authentication key usage) and the leaf
//!   and intermediates must be within their validity at `now` (the anchor's
//!   own dates are not checked: RFC 5280 §6.1.1 takes a trust anchor as
//!   input, not as a certificate of the path), and the leaf must be valid
//!   for one of the reference identifiers (RFC 7672 §3.1.2, §3.2.2, §3.2.3).
//!   A `2 x x` record that matches only the leaf is no match: a trust anchor
//!   is an issuer (publish `3 x x` for the leaf).
//! - Any usable record that matches is enough (RFC 7672 §3; RFC 6698
//!   §2.1); unusable ones are ignored (RFC 7672 §3.1.3).

use std::cell::OnceCell;
use std::collections::HashSet;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, UnixTime};
use x509_parser::prelude::X509Certificate;

use super::names::ReferenceIdentifiers;
use super::reason::DaneReason;
use super::tlsa::{MatchingType, Selector, Tlsa};
use super::usability::{DaneUsage, Usable};

/// Certificates of a presented chain that are looked at; the rest are
/// ignored (no real chain is longer, and a hostile server must not make the
/// work grow without bound).
pub const MAX_CHAIN_LEN: usize = 16;

/// Characters kept of a chain verifier's error in [`DaneFailure`] details.
const MAX_DETAIL: usize = 120;

/// Where the certificate a record matched is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchedCert {
    /// In the presented chain at this depth (0: the leaf).
    Chain(usize),
    /// In the `2 0 0` record itself, not sent by the server.
    Record,
}

/// A successful DANE authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaneMatch {
    /// Index of the record that matched, in the RRset as given.
    pub record: usize,
    /// Its usage.
    pub usage: DaneUsage,
    /// The certificate it matched.
    pub matched: MatchedCert,
    /// For `DANE-TA`, the reference identifier the leaf is valid for;
    /// `None` for `DANE-EE`, which checks no name.
    pub name: Option<String>,
}

/// Why usable records did not authenticate the chain. For the `DANE-TA`
/// cases a record matched a trust anchor and the path from the leaf to it
/// failed; when several records fail, the one that got furthest is given
/// (host mismatch, then expiry, then the chain).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DaneFailure {
    /// No usable record matches the chain (or the chain is empty).
    #[error("no usable TLSA record matches the certificate chain")]
    Mismatch,
    /// Record `record` matched a trust anchor, the path verified, and the
    /// leaf is valid for none of the reference identifiers.
    #[error("TLSA record {record} (DANE-TA) matched, but the certificate is not valid for the host name")]
    TaHostMismatch {
        /// Index of the record.
        record: usize,
    },
    /// Record `record` matched a trust anchor and a certificate of the path
    /// is expired or not yet valid.
    #[error("TLSA record {record} (DANE-TA) matched, but a certificate is expired or not yet valid: {detail}")]
    TaCertExpired {
        /// Index of the record.
        record: usize,
        /// What the verifier said (cut short).
        detail: String,
    },
    /// Record `record` matched a trust anchor and the leaf does not chain to
    /// it.
    #[error("TLSA record {record} (DANE-TA) matched, but the certificate does not chain to it: {detail}")]
    TaChainInvalid {
        /// Index of the record.
        record: usize,
        /// What the verifier said (cut short).
        detail: String,
    },
}

impl DaneFailure {
    /// The reason code.
    pub fn reason(&self) -> DaneReason {
        match self {
            DaneFailure::Mismatch => DaneReason::TlsaMismatch,
            DaneFailure::TaHostMismatch { .. } => DaneReason::DaneTaHostMismatch,
            DaneFailure::TaCertExpired { .. } => DaneReason::DaneTaCertExpired,
            DaneFailure::TaChainInvalid { .. } => DaneReason::DaneTaChainInvalid,
        }
    }

    /// How far the check got: a failure that got further is the more useful
    /// one to report.
    fn rank(&self) -> u8 {
        match self {
            DaneFailure::Mismatch => 0,
            DaneFailure::TaChainInvalid { .. } => 1,
            DaneFailure::TaCertExpired { .. } => 2,
            DaneFailure::TaHostMismatch { .. } => 3,
        }
    }
}

/// The DANE verdict on one presented chain (RFC 7672 §2.2, §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DaneVerdict {
    /// No TLSA records: DANE does not apply.
    NoRecords,
    /// Records, none usable: TLS required, not verified (RFC 7672 §2.2);
    /// reported as `all-unusable-records`, the chain is not looked at.
    TlsRequiredNotVerified,
    /// A usable record authenticates the chain.
    Verified(DaneMatch),
    /// Usable records exist and none authenticates the chain.
    Failed(DaneFailure),
}

impl DaneVerdict {
    /// The reason to report, if any: `None` when DANE passed or does not
    /// apply.
    pub fn reason(&self) -> Option<DaneReason> {
        match self {
            DaneVerdict::NoRecords | DaneVerdict::Verified(_) => None,
            DaneVerdict::TlsRequiredNotVerified => Some(DaneReason::AllUnusableRecords),
            DaneVerdict::Failed(failure) => Some(failure.reason()),
        }
    }
}

/// Checks the chain `chain` (DER, leaf first, as presented) against the
/// secure TLSA RRset `records` at `now_unix` (seconds since the epoch), with
/// `names` for `DANE-TA`'s name check (RFC 7672 §3).
pub fn verify_chain<C: AsRef<[u8]>>(
    records: &[Tlsa],
    chain: &[C],
    names: &ReferenceIdentifiers,
    now_unix: u64,
) -> DaneVerdict {
    let usable: Vec<(usize, &Tlsa, Usable)> = usable_records(records);
    if records.is_empty() {
        return DaneVerdict::NoRecords;
    }
    if usable.is_empty() {
        return DaneVerdict::TlsRequiredNotVerified;
    }
    let chain = Chain::new(chain);
    let Some(leaf) = chain.certs.first() else {
        return DaneVerdict::Failed(DaneFailure::Mismatch);
    };
    // DANE-EE first: a digest comparison, no path to build.
    for &(index, record, params) in &usable {
        if params.usage == DaneUsage::DaneEe && leaf.matches(record, params) {
            return DaneVerdict::Verified(DaneMatch {
                record: index,
                usage: DaneUsage::DaneEe,
                matched: MatchedCert::Chain(0),
                name: None,
            });
        }
    }
    let now = UnixTime::since_unix_epoch(Duration::from_secs(now_unix));
    let mut failure = DaneFailure::Mismatch;
    // A record repeated in the RRset builds its path once.
    let mut tried: HashSet<&Tlsa> = HashSet::new();
    for &(index, record, params) in &usable {
        if params.usage != DaneUsage::DaneTa || !tried.insert(record) {
            continue;
        }
        for (anchor, matched) in chain.trust_anchors(record, params) {
            match chain.verify_to_anchor(anchor, matched, names, now, index) {
                Ok(name) => {
                    return DaneVerdict::Verified(DaneMatch {
                        record: index,
                        usage: DaneUsage::DaneTa,
                        matched,
                        name: Some(name),
                    })
                }
                Err(this) if this.rank() > failure.rank() => failure = this,
                Err(_) => {}
            }
        }
    }
    DaneVerdict::Failed(failure)
}

/// The usable records with their index and parameters.
pub(super) fn usable_records(records: &[Tlsa]) -> Vec<(usize, &Tlsa, Usable)> {
    records
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.usable().ok().map(|u| (i, r, u)))
        .collect()
}

/// One presented certificate, parsed once, its digests computed when first
/// needed.
pub(super) struct ChainCert<'a> {
    pub(super) der: &'a [u8],
    pub(super) parsed: Option<X509Certificate<'a>>,
    digests: [OnceCell<Vec<u8>>; 4],
}

impl<'a> ChainCert<'a> {
    fn new(der: &'a [u8]) -> ChainCert<'a> {
        let parsed = x509_parser::parse_x509_certificate(der)
            .ok()
            .map(|(_, cert)| cert);
        ChainCert {
            der,
            parsed,
            digests: Default::default(),
        }
    }

    /// The selected content (RFC 6698 §2.1.2): the whole DER, or the
    /// SubjectPublicKeyInfo's DER (`None` when the certificate does not
    /// parse).
    fn selected(&self, selector: Selector) -> Option<&[u8]> {
        match selector {
            Selector::Cert => Some(self.der),
            Selector::Spki => self.parsed.as_ref().map(|c| c.public_key().raw),
        }
    }

    /// Whether `record` (usable, with `params`) matches this certificate
    /// (RFC 6698 §2.1.3).
    pub(super) fn matches(&self, record: &Tlsa, params: Usable) -> bool {
        let Some(content) = self.selected(params.selector) else {
            return false;
        };
        let (slot, algorithm) = match params.matching {
            MatchingType::Full => return content == record.data.as_slice(),
            MatchingType::Sha256 => (0, &ring::digest::SHA256),
            MatchingType::Sha512 => (1, &ring::digest::SHA512),
        };
        let slot = slot + 2 * usize::from(params.selector == Selector::Spki);
        let digest = self.digests[slot]
            .get_or_init(|| ring::digest::digest(algorithm, content).as_ref().to_vec());
        digest == &record.data
    }
}

/// A presented chain, at most [`MAX_CHAIN_LEN`] certificates.
pub(super) struct Chain<'a> {
    pub(super) certs: Vec<ChainCert<'a>>,
}

impl<'a> Chain<'a> {
    pub(super) fn new<C: AsRef<[u8]>>(chain: &'a [C]) -> Chain<'a> {
        Chain {
            certs: chain
                .iter()
                .take(MAX_CHAIN_LEN)
                .map(|c| ChainCert::new(c.as_ref()))
                .collect(),
        }
    }

    /// The trust anchors a `DANE-TA` record names for this chain: the
    /// certificates above the leaf it matches, and for `2 0 0` the
    /// certificate in the record when the server did not send it. Never the
    /// leaf: a trust anchor is an issuer.
    pub(super) fn trust_anchors<'r>(
        &self,
        record: &'r Tlsa,
        params: Usable,
    ) -> Vec<(&'r [u8], MatchedCert)>
    where
        'a: 'r,
    {
        let mut anchors: Vec<(&'r [u8], MatchedCert)> = self
            .certs
            .iter()
            .enumerate()
            .skip(1)
            .filter(|(_, cert)| cert.matches(record, params))
            .map(|(depth, cert)| (cert.der, MatchedCert::Chain(depth)))
            .collect();
        let full_cert = params.selector == Selector::Cert && params.matching == MatchingType::Full;
        if full_cert
            && anchors.is_empty()
            && self.certs.first().map(|leaf| leaf.der) != Some(record.data.as_slice())
        {
            anchors.push((record.data.as_slice(), MatchedCert::Record));
        }
        anchors
    }

    /// Verifies the leaf's path to the trust anchor `anchor` and its name
    /// (RFC 7672 §3.2.2): the reference identifier it is valid for, or why
    /// not.
    fn verify_to_anchor(
        &self,
        anchor: &[u8],
        matched: MatchedCert,
        names: &ReferenceIdentifiers,
        now: UnixTime,
        record: usize,
    ) -> Result<String, DaneFailure> {
        let invalid = |detail: String| DaneFailure::TaChainInvalid { record, detail };
        let Some(leaf) = self.certs.first() else {
            return Err(DaneFailure::Mismatch);
        };
        let anchor_der = CertificateDer::from(anchor);
        let anchor = webpki::anchor_from_trusted_cert(&anchor_der)
            .map_err(|e| invalid(format!("trust anchor: {}", cut(&e.to_string()))))?;
        let leaf_der = CertificateDer::from(leaf.der);
        let end_entity = webpki::EndEntityCert::try_from(&leaf_der)
            .map_err(|e| invalid(format!("leaf: {}", cut(&e.to_string()))))?;
        let intermediates: Vec<CertificateDer<'_>> = self
            .certs
            .iter()
            .enumerate()
            .skip(1)
            .filter(|(depth, _)| matched != MatchedCert::Chain(*depth))
            .map(|(_, cert)| CertificateDer::from(cert.der))
            .collect();
        let anchors = [anchor];
        end_entity
            .verify_for_usage(
                webpki::ALL_VERIFICATION_ALGS,
                &anchors,
                &intermediates,
                now,
                webpki::KeyUsage::server_auth(),
                None,
                None,
            )
            .map_err(|e| match e {
                webpki::Error::CertExpired { .. } | webpki::Error::CertNotValidYet { .. } => {
                    DaneFailure::TaCertExpired {
                        record,
                        detail: cut(&e.to_string()),
                    }
                }
                other => invalid(cut(&other.to_string())),
            })?;
        leaf.parsed
            .as_ref()
            .and_then(|cert| names.matched_by(cert))
            .map(str::to_string)
            .ok_or(DaneFailure::TaHostMismatch { record })
    }
}

/// A verifier's message cut to [`MAX_DETAIL`] characters.
fn cut(text: &str) -> String {
    match text.char_indices().nth(MAX_DETAIL) {
        None => text.to_string(),
        Some((at, _)) => format!("{}…", &text[..at]),
    }
}
