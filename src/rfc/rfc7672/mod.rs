//! RFC 7672, SMTP security via opportunistic DANE TLS: the pure rules.
//!
//! Plain data in, plain data out (no I/O, no DNS library types): TLSA
//! records as numbers and bytes, certificate chains as DER, names as ASCII
//! strings, time as Unix seconds. The DNS lookups and their DNSSEC status
//! belong to the probe; what they found is judged here.
//!
//! - [`tlsa`]: the TLSA record (RFC 6698 §2.1) and its presentation form
//!   `u s m hex` (RFC 6698 §2.2), RFC 7218 names.
//! - [`usability`]: which records an SMTP client may use (RFC 7672 §3.1,
//!   §3.1.3) and what an RRset asks of it (RFC 7672 §2.2: none usable is
//!   "TLS required, not verified").
//! - [`matching`]: a presented chain against the usable records: `DANE-EE`
//!   by the leaf's certificate or key, `DANE-TA` by a trust anchor in the
//!   chain with the path and name checks (RFC 7672 §3.1.1, §3.1.2, §3.2).
//! - [`names`]: the reference identifiers and wildcard rules of RFC 7672
//!   §3.2.2 and §3.2.3.
//! - [`rollover`]: whether the records would still match after a key change.
//! - [`reason`]: the closed set of DANE failure reasons and their RFC 8460
//!   result types.

pub mod matching;
pub mod names;
pub mod reason;
pub mod rollover;
pub mod tlsa;
pub mod usability;

#[cfg(test)]
mod tests;

pub use matching::{verify_chain, DaneFailure, DaneMatch, DaneVerdict, MatchedCert};
pub use names::ReferenceIdentifiers;
pub use reason::DaneReason;
pub use rollover::{rollover_readiness, ReadyBy, RolloverReadiness};
pub use tlsa::{CertUsage, MatchingType, Selector, Tlsa, TlsaParseError};
pub use usability::{set_status, DaneUsage, TlsaSetStatus, Unusable, Usable};
