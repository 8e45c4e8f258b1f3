//! The `_mta-sts.<domain>` TXT lookup (RFC 8461 §3.1).

use super::dns::{Dns, DnsFailure};
use crate::mtasts::record::{is_sts_candidate, parse_record, RecordError, StsRecord};

/// What the TXT lookup found when it found exactly one valid STS record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordLookup {
    /// The parsed record.
    pub record: StsRecord,
    /// Its text (character-strings concatenated).
    pub txt: String,
    /// How many other (non-STS) TXT records share the name: SPF or
    /// verification records published there by mistake.
    pub other_txt_count: usize,
}

/// Why the lookup did not yield one valid record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordLookupError {
    /// No `v=STSv1` record: the domain does not do MTA-STS.
    #[error("no v=STSv1 TXT record at _mta-sts{}", alias_note(alias_of.as_deref()))]
    NoRecord {
        /// Where `_mta-sts.<domain>` points when it is a CNAME: the record
        /// is missing at that target (a provider that dropped it, a
        /// dangling or looping alias), which is where to look.
        alias_of: Option<String>,
    },
    /// More than one STS record: RFC 8461 §3.1 says senders then assume no
    /// policy is available.
    #[error("{0} v=STSv1 TXT records at _mta-sts, exactly one is allowed")]
    Multiple(usize),
    /// The one STS record does not parse.
    #[error("STS record {txt:?} is invalid: {error}")]
    Syntax {
        /// The record text (capped).
        txt: String,
        /// What is wrong with it.
        error: RecordError,
    },
    /// The DNS query failed.
    #[error("{0}")]
    Dns(DnsFailure),
}

fn alias_note(target: Option<&str>) -> String {
    target
        .map(|target| format!(" (it is a CNAME to {target}, which has none)"))
        .unwrap_or_default()
}

/// Applies the RFC 8461 §3.1 rules to the TXT strings found at
/// `_mta-sts.<domain>`: records that are not STS candidates are discarded,
/// exactly one must remain, and it must parse.
pub fn evaluate_txt(txts: &[String]) -> Result<RecordLookup, RecordLookupError> {
    let candidates: Vec<&String> = txts.iter().filter(|t| is_sts_candidate(t)).collect();
    match candidates.as_slice() {
        [] => Err(RecordLookupError::NoRecord { alias_of: None }),
        [txt] => parse_record(txt)
            .map(|record| RecordLookup {
                record,
                txt: (*txt).clone(),
                other_txt_count: txts.len() - 1,
            })
            .map_err(|error| RecordLookupError::Syntax {
                txt: txt.chars().take(255).collect(),
                error,
            }),
        many => Err(RecordLookupError::Multiple(many.len())),
    }
}

/// Looks up and evaluates `_mta-sts.<domain>` (CNAMEs followed). When no
/// record is found, one more query tells whether the name is an alias, so
/// the failure can name the target where the record is missing.
pub async fn lookup_record(dns: &Dns, domain: &str) -> Result<RecordLookup, RecordLookupError> {
    let name = format!("_mta-sts.{domain}");
    let answer = dns.txt(&name).await.map_err(RecordLookupError::Dns)?;
    match evaluate_txt(&answer.into_records()) {
        Err(RecordLookupError::NoRecord { .. }) => Err(RecordLookupError::NoRecord {
            alias_of: dns.cname(&name).await.ok().flatten(),
        }),
        other => other,
    }
}

/// Whether an STS record is (also) published at the domain apex, where it has
/// no effect (RFC 8461 §3.1 names `_mta-sts.<domain>` only). A DNS failure
/// here is not the record's problem, so it reads as "no".
pub async fn sts_record_at_apex(dns: &Dns, domain: &str) -> bool {
    match dns.txt(domain).await {
        Ok(answer) => answer.into_records().iter().any(|t| is_sts_candidate(t)),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txts(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn outcomes() {
        let none = Err(RecordLookupError::NoRecord { alias_of: None });
        assert_eq!(evaluate_txt(&[]), none);
        assert_eq!(evaluate_txt(&txts(&["v=spf1 -all"])), none);
        let ok = evaluate_txt(&txts(&["v=spf1 -all", "v=STSv1; id=1"])).unwrap();
        assert_eq!(ok.record.id, "1");
        assert_eq!(ok.other_txt_count, 1);
        assert_eq!(
            evaluate_txt(&txts(&["v=STSv1; id=1", "v=STSv1; id=2"])),
            Err(RecordLookupError::Multiple(2))
        );
        assert!(matches!(
            evaluate_txt(&txts(&["v=STSv1; id=a-b"])),
            Err(RecordLookupError::Syntax { .. })
        ));
    }
}
