//! The RFC rules, pure: no I/O, no types from any other layer. The probe
//! feeds them what DNS and HTTPS returned; the fuzz targets call them
//! directly.
//!
//! Every parser follows the ABNF of its RFC; where the prose and the ABNF
//! differ, a comment at the place says which one is followed and why.
//!
//! - [`rfc8461`]: MTA-STS: the `_mta-sts` record and the record set, the
//!   policy, MX pattern matching, modes and the hygiene thresholds.
//! - [`rfc8460`]: SMTP TLS Reporting: the `_smtp._tls` record and record
//!   set, the report's result types, and the aggregate reports senders
//!   send (a lenient parser, gzip bodies decoded in bounded memory).
//! - [`rfc5321`]: the MX host list senders use (implicit MX, and RFC 7505's
//!   null MX).
//! - [`rfc7672`]: DANE for SMTP: TLSA records, which are usable, matching a
//!   certificate chain against them, rollover readiness, failure reasons.
//! - [`rfc8601`]: the `Authentication-Results` header field (which
//!   service says a mail's DKIM signature passed).
//! - [`domain`]: host name syntax shared by all of them.

pub mod abnf;
pub mod domain;
pub mod rfc5321;
pub mod rfc7672;
pub mod rfc8460;
pub mod rfc8461;
pub mod rfc8601;
