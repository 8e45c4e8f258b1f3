//! The record set at `_smtp._tls.<domain>` (RFC 8460 §3): exactly one
//! `v=TLSRPTv1` record, and it must parse; otherwise senders assume the
//! domain does not do TLSRPT.

use super::record::{is_tlsrpt_candidate, parse_tlsrpt};
use serde::Serialize;

/// What the TLSRPT record set holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TlsRptStatus {
    /// Whether a `v=TLSRPTv1` record exists.
    pub present: bool,
    /// Whether exactly one exists and it parses (RFC 8460 §3: otherwise
    /// senders assume the domain does not do TLSRPT).
    pub valid: bool,
    /// The reporting URIs of the valid record.
    pub rua: Vec<String>,
    /// The record text, when exactly one was found.
    pub txt: Option<String>,
    /// Why it is invalid, when it is.
    pub error: Option<String>,
}

/// Applies the RFC 8460 §3 rules to the TXT strings at `_smtp._tls.<domain>`.
pub fn evaluate_tlsrpt(txts: &[String]) -> TlsRptStatus {
    let candidates: Vec<&String> = txts.iter().filter(|t| is_tlsrpt_candidate(t)).collect();
    let mut status = TlsRptStatus {
        present: !candidates.is_empty(),
        valid: false,
        rua: Vec::new(),
        txt: None,
        error: None,
    };
    match candidates.as_slice() {
        [] => {}
        [txt] => {
            status.txt = Some(txt.chars().take(512).collect());
            match parse_tlsrpt(txt) {
                Ok(record) => {
                    status.valid = true;
                    status.rua = record.rua;
                }
                Err(e) => status.error = Some(e.to_string()),
            }
        }
        many => {
            status.error = Some(format!(
                "{} v=TLSRPTv1 records, exactly one is allowed",
                many.len()
            ))
        }
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes() {
        assert!(!evaluate_tlsrpt(&[]).present);
        let ok = evaluate_tlsrpt(&["v=TLSRPTv1; rua=mailto:r@example.com".to_string()]);
        assert!(ok.present && ok.valid);
        let two = evaluate_tlsrpt(&[
            "v=TLSRPTv1; rua=mailto:r@example.com".to_string(),
            "v=TLSRPTv1; rua=mailto:s@example.com".to_string(),
        ]);
        assert!(two.present && !two.valid);
        let bad = evaluate_tlsrpt(&["v=TLSRPTv1; rua=http://x".to_string()]);
        assert!(bad.present && !bad.valid && bad.error.is_some());
    }
}
