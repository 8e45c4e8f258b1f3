//! Verifying the DKIM signature (RFC 6376) of a report received by mail
//! (RFC 8460 §3, §5.3) with `mail-auth`, its keys looked up through the
//! configured name servers (`resolver:`), like the probe's queries.
//!
//! Only signatures that could vouch for the report are checked (and so
//! only their keys looked up): by the `From:` domain or a parent of it
//! ([`super::mail::signer_aligned`]), covering the `From:` field (RFC 6376
//! §5.4: it MUST be signed), not `rsa-sha1` (RFC 8301 §3.1: verifiers MUST
//! NOT consider it valid), without `l=` (mail-auth refuses it: unsigned
//! content could be appended), at most [`MAX_SIGNATURES`] of them. One
//! that verifies is enough.

use super::mail::{signer_aligned, DkimError};
use crate::config::ResolverConfig;
use crate::echo::capped;
use mail_auth::common::crypto::Algorithm;
use mail_auth::{AuthenticatedMessage, DkimResult, MessageAuthenticator};
use std::sync::Arc;
use std::time::Duration;

/// The aligned signatures of one message checked at most: each may cost a
/// DNS lookup.
pub const MAX_SIGNATURES: usize = 4;

/// Why the DKIM verifier could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the DNS resolver for DKIM: {0}")]
pub struct DkimSetupError(String);

/// Checks DKIM signatures with keys from the configured name servers.
#[derive(Clone)]
pub struct DkimVerifier {
    authenticator: Arc<MessageAuthenticator>,
    /// Bound on one message's whole verification.
    deadline: Duration,
}

impl std::fmt::Debug for DkimVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DkimVerifier")
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

impl DkimVerifier {
    /// A verifier that asks `config.nameservers` (the system's when none
    /// is configured), each query bounded by `config.timeout`, nothing
    /// cached (a key rotated away stops verifying at once).
    pub fn new(config: &ResolverConfig) -> Result<DkimVerifier, DkimSetupError> {
        let mut builder = crate::probe::dns::resolver_builder(config).map_err(DkimSetupError)?;
        let options = builder.options_mut();
        options.cache_size = 0;
        options.timeout = config.timeout;
        options.attempts = 2;
        options.ndots = 0;
        let resolver = builder.build().map_err(|e| DkimSetupError(e.to_string()))?;
        let authenticator = MessageAuthenticator(resolver);
        // Two tries of each of the key lookups, and a report-address lookup
        // each (RFC 6651 `r=y`), with room to spare.
        let per_signature = config.timeout.saturating_mul(4);
        Ok(DkimVerifier {
            authenticator: Arc::new(authenticator),
            deadline: per_signature.saturating_mul(MAX_SIGNATURES as u32) + Duration::from_secs(1),
        })
    }

    /// Verifies the DKIM signatures of `raw` that could vouch for a
    /// message from `from_domain` (see the module); the signing domain of
    /// the first that verifies. Runs in a task of its own, so that a panic
    /// in the verifier refuses the message instead of ending the caller.
    pub async fn verify(&self, raw: Arc<[u8]>, from_domain: &str) -> Result<String, DkimError> {
        let authenticator = self.authenticator.clone();
        let from = from_domain.to_string();
        let deadline = self.deadline;
        let task = tokio::spawn(async move {
            tokio::time::timeout(deadline, verify(&authenticator, &raw, &from)).await
        });
        match task.await {
            Ok(Ok(verdict)) => verdict,
            Ok(Err(_elapsed)) => Err(DkimError::Temporary(format!(
                "no answer within {} s",
                deadline.as_secs()
            ))),
            Err(join) if join.is_panic() => Err(DkimError::Failed {
                signer: "?".to_string(),
                reason: "the verifier failed on this message".to_string(),
            }),
            Err(_) => Err(DkimError::Temporary("verification cancelled".to_string())),
        }
    }
}

async fn verify(
    authenticator: &MessageAuthenticator,
    raw: &[u8],
    from: &str,
) -> Result<String, DkimError> {
    let Some(mut message) = AuthenticatedMessage::parse(raw) else {
        return Err(DkimError::Unsigned);
    };
    if message.dkim_headers.is_empty() {
        return Err(DkimError::Unsigned);
    }
    let mut others = Vec::new();
    let mut unusable = Vec::new();
    message.dkim_headers.retain(|header| {
        let signature = &header.header;
        let signer = signature.d.trim_end_matches('.').to_ascii_lowercase();
        if !signer_aligned(&signer, from) {
            others.push(signer);
            false
        } else if signature.a == Algorithm::RsaSha1 {
            unusable.push((signer, "rsa-sha1 is not accepted (RFC 8301)"));
            false
        } else if !signature.h.iter().any(|h| h.eq_ignore_ascii_case("from")) {
            unusable.push((signer, "the From: field is not signed"));
            false
        } else {
            true
        }
    });
    message.dkim_headers.truncate(MAX_SIGNATURES);
    // Malformed signatures come out as results of their own; only the
    // aligned ones above are of interest.
    message.errors.clear();
    if message.dkim_headers.is_empty() {
        if let Some((signer, reason)) = unusable.into_iter().next() {
            return Err(DkimError::Failed {
                signer: capped(&signer).into_owned(),
                reason: reason.to_string(),
            });
        }
        return Err(DkimError::NotAligned {
            from: from.to_string(),
            signers: if others.is_empty() {
                "no valid signature".to_string()
            } else {
                capped(&others.join(", ")).into_owned()
            },
        });
    }
    let outputs = authenticator.verify_dkim(&message).await;
    let mut temporary = None;
    let mut failed = None;
    for output in &outputs {
        let signer = output
            .signature()
            .map(|s| s.d.trim_end_matches('.').to_ascii_lowercase())
            .unwrap_or_default();
        match output.result() {
            DkimResult::Pass => return Ok(signer),
            DkimResult::TempError(error) => {
                temporary.get_or_insert_with(|| capped(&error.to_string()).into_owned());
            }
            DkimResult::Neutral(error) | DkimResult::Fail(error) | DkimResult::PermError(error) => {
                failed.get_or_insert_with(|| (signer, error.to_string()));
            }
            DkimResult::None => {}
        }
    }
    if let Some(reason) = temporary {
        return Err(DkimError::Temporary(reason));
    }
    let (signer, reason) = failed.unwrap_or_else(|| ("?".to_string(), "no result".to_string()));
    Err(DkimError::Failed {
        signer: capped(&signer).into_owned(),
        reason: capped(&reason).into_owned(),
    })
}
