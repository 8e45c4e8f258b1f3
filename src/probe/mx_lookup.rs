//! The MX lookup, whose answer [`crate::rfc::rfc5321`] turns into the host
//! list senders use and the judge compares with the policy (RFC 8461 §4.1).

use super::dns::{Dns, DnsAnswer};
use super::outcome::DnsFailure;
use crate::rfc::rfc5321::{evaluate_mx, MxSet};

/// Looks up the MX hosts of `domain`. A domain that does not exist is a
/// failure (no mail can reach it), reported like a DNS failure.
pub async fn lookup_mx(dns: &Dns, domain: &str) -> Result<MxSet, DnsFailure> {
    match dns.mx(domain).await? {
        DnsAnswer::Records(records) => Ok(evaluate_mx(domain, records)),
        DnsAnswer::NxDomain => Err(DnsFailure::ResponseCode {
            name: domain.to_string(),
            record_type: "MX",
            code: "NXDOMAIN".into(),
        }),
    }
}
