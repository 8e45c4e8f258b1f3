//! The `_mta-sts.<domain>` TXT lookup (RFC 8461 §3.1); the rules applied to
//! what it finds are in [`crate::rfc::rfc8461::record_set`].

use super::dns::Dns;
use super::outcome::RecordLookupError;
use crate::rfc::rfc8461::record_set::{
    evaluate_txt, has_sts_record, RecordSetError, ValidRecordSet,
};

/// Looks up and evaluates `_mta-sts.<domain>` (CNAMEs followed). When no
/// record is found, one more query tells whether the name is an alias, so
/// the failure can name the target where the record is missing.
pub async fn lookup_record(dns: &Dns, domain: &str) -> Result<ValidRecordSet, RecordLookupError> {
    let name = format!("_mta-sts.{domain}");
    let answer = dns.txt(&name).await.map_err(RecordLookupError::Dns)?;
    let error = match evaluate_txt(&answer.into_records()) {
        Ok(set) => return Ok(set),
        Err(error) => error,
    };
    let alias_of = match error {
        RecordSetError::NoRecord => dns.cname(&name).await.ok().flatten(),
        _ => None,
    };
    Err(RecordLookupError::Rules { error, alias_of })
}

/// Whether an STS record is (also) published at the domain apex, where it has
/// no effect. A DNS failure here is not the record's problem, so it reads as
/// "no".
pub async fn sts_record_at_apex(dns: &Dns, domain: &str) -> bool {
    match dns.txt(domain).await {
        Ok(answer) => has_sts_record(&answer.into_records()),
        Err(_) => false,
    }
}
