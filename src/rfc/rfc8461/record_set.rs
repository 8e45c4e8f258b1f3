//! The record set at `_mta-sts.<domain>` (RFC 8461 §3.1): records that are
//! not STS candidates are discarded, exactly one must remain, and it must
//! parse. Anything else and senders assume no policy is available.

use super::record::{is_sts_candidate, parse_record, RecordError, StsRecord};

/// The set held exactly one valid STS record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidRecordSet {
    /// The parsed record.
    pub record: StsRecord,
    /// Its text (character-strings concatenated).
    pub txt: String,
    /// How many other (non-STS) TXT records share the name: SPF or
    /// verification records published there by mistake.
    pub other_txt_count: usize,
}

/// Why the set does not yield one valid record (RFC 8461 §3.1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordSetError {
    /// No `v=STSv1` record: the domain does not do MTA-STS.
    #[error("no v=STSv1 TXT record at _mta-sts")]
    NoRecord,
    /// More than one STS record: senders then assume no policy is available.
    #[error("{0} v=STSv1 TXT records at _mta-sts, exactly one is allowed")]
    Multiple(usize),
    /// The one STS record does not parse.
    #[error("STS record {txt:?} is invalid: {error}")]
    Syntax {
        /// The record text (capped at 255 characters).
        txt: String,
        /// What is wrong with it.
        error: RecordError,
    },
}

/// Applies the RFC 8461 §3.1 rules to the TXT strings found at
/// `_mta-sts.<domain>`.
pub fn evaluate_txt(txts: &[String]) -> Result<ValidRecordSet, RecordSetError> {
    let candidates: Vec<&String> = txts.iter().filter(|t| is_sts_candidate(t)).collect();
    match candidates.as_slice() {
        [] => Err(RecordSetError::NoRecord),
        [txt] => parse_record(txt)
            .map(|record| ValidRecordSet {
                record,
                txt: (*txt).clone(),
                other_txt_count: txts.len() - 1,
            })
            .map_err(|error| RecordSetError::Syntax {
                txt: txt.chars().take(255).collect(),
                error,
            }),
        many => Err(RecordSetError::Multiple(many.len())),
    }
}

/// Whether any of `txts` (the apex's TXT records) is an STS record: one
/// published there has no effect, since RFC 8461 §3.1 names
/// `_mta-sts.<domain>` only.
pub fn has_sts_record(txts: &[String]) -> bool {
    txts.iter().any(|t| is_sts_candidate(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txts(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn outcomes() {
        let none = Err(RecordSetError::NoRecord);
        assert_eq!(evaluate_txt(&[]), none);
        assert_eq!(evaluate_txt(&txts(&["v=spf1 -all"])), none);
        let ok = evaluate_txt(&txts(&["v=spf1 -all", "v=STSv1; id=1"])).unwrap();
        assert_eq!(ok.record.id, "1");
        assert_eq!(ok.other_txt_count, 1);
        assert_eq!(
            evaluate_txt(&txts(&["v=STSv1; id=1", "v=STSv1; id=2"])),
            Err(RecordSetError::Multiple(2))
        );
        assert!(matches!(
            evaluate_txt(&txts(&["v=STSv1; id=a-b"])),
            Err(RecordSetError::Syntax { .. })
        ));
    }

    #[test]
    fn sts_record_at_apex() {
        assert!(has_sts_record(&txts(&["v=spf1 -all", "v=STSv1; id=1"])));
        assert!(!has_sts_record(&txts(&["v=spf1 -all"])));
    }
}
