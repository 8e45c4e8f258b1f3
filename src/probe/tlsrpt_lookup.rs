//! The `_smtp._tls.<domain>` TLSRPT lookup (RFC 8460 §3).

use super::dns::Dns;
use super::outcome::DnsFailure;
use crate::rfc::rfc8460::record_set::{evaluate_tlsrpt, TlsRptStatus};

/// Looks up and evaluates `_smtp._tls.<domain>`.
pub async fn lookup_tlsrpt(dns: &Dns, domain: &str) -> Result<TlsRptStatus, DnsFailure> {
    let answer = dns.txt(&format!("_smtp._tls.{domain}")).await?;
    Ok(evaluate_tlsrpt(&answer.into_records()))
}
