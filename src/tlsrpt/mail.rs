//! A TLSRPT report received by mail (RFC 8460 §5.3): the report's bytes
//! out of the message, who the message says it is from, and what the
//! local mail server's `Authentication-Results` header says of its DKIM
//! signature. Pure: no I/O; MIME is read by `mail-parser`.
//!
//! Which part is the report, in this order:
//! 1. the first part (at any depth) of type `application/tlsrpt+gzip` or
//!    `application/tlsrpt+json`, as RFC 8460 §5.3 defines them inside a
//!    `multipart/report; report-type=tlsrpt`;
//! 2. otherwise, as some senders do: the body of a message that is not
//!    multipart, or the one attachment of a message that has exactly one,
//!    whatever their type, when it looks like a report (gzip magic bytes,
//!    or JSON text starting with `{`).
//!
//! Whether it is gzip or JSON is decided later by its magic bytes
//! ([`crate::rfc::rfc8460::report_body`]), not by the part's type.
//!
//! Whose signature counts (RFC 8460 §3, §5.3: reports by mail carry a DKIM
//! signature of the reporting domain, RFC 6376): one whose signing domain
//! (`d=`) is the domain of the message's `From:` address or a parent
//! domain of it (not a top-level domain alone), the relaxed alignment of
//! DMARC (RFC 7489 §3.1.1) without the public suffix list. So a report
//! from `tlsrpt@reports.example.net` signed `d=example.net` counts, one
//! signed by an unrelated domain does not. DKIM vouches for the domain
//! that sent the mail, not for the report's `organization-name`.

use crate::echo::capped;
use crate::rfc::domain::{is_ascii_domain, normalize_host};
use crate::rfc::rfc8601::{parse_authentication_results, AuthenticationResults};
use mail_parser::{MessageParser, MimeHeaders, PartType};
use std::borrow::Cow;

/// The default limit on a message's size: 10 MiB (a report is rarely over
/// a few hundred KiB gzipped; base64 adds a third).
pub const DEFAULT_MAX_MESSAGE_BYTES: u64 = 10 * 1024 * 1024;

/// The media types of a report part (RFC 8460 §5.3, §6.4, §6.5).
pub const REPORT_MEDIA_TYPES: [&str; 2] = ["application/tlsrpt+gzip", "application/tlsrpt+json"];

/// The `message/...` and `multipart/digest` markers a message may hold at
/// most: each may open a nested message, and `mail-parser` frees nested
/// messages recursively, so tens of thousands of them nested would
/// overflow the stack. A report mail has none, or one or two when
/// forwarded.
pub const MAX_NESTING_MARKERS: usize = 64;

/// Why a message gives no report. [`MailError::cause`] is the bounded
/// label of `mtasts_tlsrpt_ingest_errors_total`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    /// Over the message size limit.
    #[error("the message is {size} bytes, over the limit of {limit}")]
    TooLarge {
        /// Its size (or as much as was seen of it).
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// More than [`MAX_NESTING_MARKERS`] places that may nest a message.
    #[error("more than {MAX_NESTING_MARKERS} nested message types")]
    TooDeep,
    /// No header fields: not an Internet message (RFC 5322 §2.1).
    #[error("not a mail message (no header fields)")]
    NotMail,
    /// No part that is, or looks like, a report (RFC 8460 §5.3).
    #[error("no report in the message: {0}")]
    NoReport(&'static str),
    /// The report part's content transfer encoding does not decode (RFC
    /// 2045 §6).
    #[error("the report part does not decode ({encoding})")]
    Undecodable {
        /// Its `Content-Transfer-Encoding`, capped.
        encoding: String,
    },
}

impl MailError {
    /// `too-large` or `mime`.
    pub fn cause(&self) -> &'static str {
        match self {
            MailError::TooLarge { .. } => "too-large",
            MailError::TooDeep
            | MailError::NotMail
            | MailError::NoReport(_)
            | MailError::Undecodable { .. } => "mime",
        }
    }
}

/// Why a message's DKIM signature does not vouch for it (RFC 8460 §3,
/// RFC 6376). All are cause `dkim`; [`DkimError::is_temporary`] ones leave
/// the message for the next try.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DkimError {
    /// No `From:` address with a usable domain (RFC 5322 §3.6.2).
    #[error("no usable From: address")]
    NoFromDomain,
    /// No DKIM signature at all.
    #[error("no DKIM signature")]
    Unsigned,
    /// Signatures, none of them by the From domain or a parent of it.
    #[error("signed by {signers}, not by the From: domain {from} or a parent domain of it")]
    NotAligned {
        /// The From: address's domain.
        from: String,
        /// The signing domains seen (capped).
        signers: String,
    },
    /// A signature of the right domain that does not verify.
    #[error("the DKIM signature of {signer} does not verify: {reason}")]
    Failed {
        /// Its `d=` (capped).
        signer: String,
        /// Why (capped).
        reason: String,
    },
    /// The trusted `Authentication-Results` say no `dkim=pass` for the
    /// From domain (RFC 8601).
    #[error("Authentication-Results of {authserv_id}: {reason}")]
    NotVouched {
        /// The configured authserv-id.
        authserv_id: String,
        /// What was found instead.
        reason: String,
    },
    /// The key could not be looked up for now (a DNS timeout or server
    /// failure, RFC 6376 §6.1.2 TEMPFAIL).
    #[error("the DKIM key lookup failed for now: {0}")]
    Temporary(String),
}

impl DkimError {
    /// The ingest-error cause: `dkim`.
    pub fn cause(&self) -> &'static str {
        "dkim"
    }

    /// Whether the same message may verify later (a DNS failure, not the
    /// message's fault).
    pub fn is_temporary(&self) -> bool {
        matches!(self, DkimError::Temporary(_))
    }
}

/// A parsed mail message.
pub struct Mail<'x> {
    message: mail_parser::Message<'x>,
}

impl<'x> Mail<'x> {
    /// Parses `raw` as an Internet message (RFC 5322, MIME RFC 2045),
    /// refusing it when over `max_bytes`.
    pub fn parse(raw: &'x [u8], max_bytes: u64) -> Result<Mail<'x>, MailError> {
        let size = raw.len() as u64;
        if size > max_bytes {
            return Err(MailError::TooLarge {
                size,
                limit: max_bytes,
            });
        }
        if nesting_markers(raw) > MAX_NESTING_MARKERS {
            return Err(MailError::TooDeep);
        }
        let message = MessageParser::default()
            .parse(raw)
            .ok_or(MailError::NotMail)?;
        if message.root_part().headers.is_empty() {
            return Err(MailError::NotMail);
        }
        Ok(Mail { message })
    }

    /// The report's bytes as received (gzip or JSON), by the rules of the
    /// module.
    pub fn report(&self) -> Result<Cow<'_, [u8]>, MailError> {
        let typed = self.message.parts.iter().find(|part| {
            part.content_type().is_some_and(|ct| {
                REPORT_MEDIA_TYPES.iter().any(|wanted| {
                    let (kind, sub) = wanted.split_once('/').unwrap_or_default();
                    ct.c_type.trim().eq_ignore_ascii_case(kind)
                        && ct
                            .c_subtype
                            .as_deref()
                            .is_some_and(|s| s.trim().eq_ignore_ascii_case(sub))
                })
            })
        });
        if let Some(part) = typed {
            if part.is_encoding_problem {
                return Err(undecodable(part));
            }
            return part_bytes(part).ok_or(MailError::NoReport("the report part holds no body"));
        }
        // Not as RFC 8460 §5.3 says: the whole body, or the one attachment.
        let root = self.message.root_part();
        let candidate = if matches!(root.body, PartType::Multipart(_)) {
            match self.message.attachments.as_slice() {
                [only] => self.message.parts.get(*only as usize),
                [] => return Err(MailError::NoReport("no report part and no attachment")),
                _ => {
                    return Err(MailError::NoReport(
                        "no report part and several attachments",
                    ))
                }
            }
        } else {
            Some(root)
        };
        let Some(part) = candidate else {
            return Err(MailError::NoReport("no report part"));
        };
        if part.is_encoding_problem {
            return Err(undecodable(part));
        }
        match part_bytes(part) {
            Some(bytes) if looks_like_a_report(&bytes) => Ok(bytes),
            _ => Err(MailError::NoReport(
                "no report part, and the body is neither gzip nor JSON",
            )),
        }
    }

    /// The domain of the `From:` address (RFC 5322 §3.6.2), lower case:
    /// `None` unless there is exactly one `From:` field (§3.6: a second one
    /// is how a sender puts an unsigned address above a signed one) with
    /// exactly one address, whose domain is a host name.
    pub fn from_domain(&self) -> Option<String> {
        let fields = self
            .message
            .headers_raw()
            .filter(|(name, _)| name.trim().eq_ignore_ascii_case("From"))
            .count();
        if fields != 1 {
            return None;
        }
        let from = self.message.from()?;
        let mut addresses = from.iter();
        let address = addresses.next()?.address()?;
        if addresses.next().is_some() {
            return None;
        }
        let (_, domain) = address.rsplit_once('@')?;
        let domain = normalize_host(domain.trim());
        is_ascii_domain(&domain).then_some(domain)
    }

    /// The `Authentication-Results` header fields (RFC 8601) the local
    /// mail server added under `authserv_id`, as far as they can be told
    /// apart from ones a sender wrote: the topmost such field and those
    /// directly below it, as long as they carry `authserv_id`. A server
    /// adds its own above everything the message arrived with (RFC 5321
    /// §4.4: trace fields are prepended); a field a sender forged sits
    /// below at least the server's `Received:` field. When the topmost
    /// field is another service's, none is trusted.
    pub fn trusted_authentication_results(&self, authserv_id: &str) -> Vec<AuthenticationResults> {
        let mut trusted = Vec::new();
        let mut in_block = false;
        for (name, value) in self.message.headers_raw() {
            if !name.trim().eq_ignore_ascii_case("Authentication-Results") {
                if in_block {
                    break;
                }
                continue;
            }
            in_block = true;
            match parse_authentication_results(value) {
                Some(results) if results.is_from(authserv_id) => trusted.push(results),
                _ => break,
            }
        }
        trusted
    }

    /// Whether the local mail server vouches for a DKIM signature of the
    /// From domain (or a parent of it): a `dkim=pass` whose `header.d`
    /// (or, without it, the domain of `header.i`) is aligned with the
    /// From domain, in [`Mail::trusted_authentication_results`]. Returns
    /// the signing domain.
    pub fn dkim_pass_vouched(&self, authserv_id: &str) -> Result<String, DkimError> {
        let from = self.from_domain().ok_or(DkimError::NoFromDomain)?;
        let trusted = self.trusted_authentication_results(authserv_id);
        let refused = |reason: String| DkimError::NotVouched {
            authserv_id: capped(authserv_id).into_owned(),
            reason,
        };
        if trusted.is_empty() {
            return Err(refused(
                "no such header at the top of the message".to_string(),
            ));
        }
        let mut seen = Vec::new();
        for result in trusted.iter().flat_map(|header| &header.results) {
            if result.method != "dkim" {
                continue;
            }
            let signer = result
                .property("header.d")
                .or_else(|| {
                    result
                        .property("header.i")
                        .and_then(|i| i.rsplit_once('@').map(|(_, d)| d))
                })
                .map(normalize_host);
            match signer {
                Some(signer) if result.result == "pass" && signer_aligned(&signer, &from) => {
                    return Ok(signer)
                }
                Some(signer) => seen.push(format!("dkim={} for {signer}", result.result)),
                None => seen.push(format!("dkim={} without header.d", result.result)),
            }
        }
        if seen.is_empty() {
            return Err(refused("no dkim result".to_string()));
        }
        Err(refused(format!(
            "{} (From: domain {from})",
            capped(&seen.join(", "))
        )))
    }
}

/// Whether a DKIM signature by `signer` (its `d=`) vouches for a message
/// from `from_domain`: the same domain, or a parent of it that is not a
/// top-level domain alone (both lower case, no trailing dot).
pub fn signer_aligned(signer: &str, from_domain: &str) -> bool {
    let signer = signer.strip_suffix('.').unwrap_or(signer);
    if !signer.contains('.') || signer.starts_with('.') {
        return false;
    }
    from_domain.eq_ignore_ascii_case(signer)
        || (from_domain.len() > signer.len() + 1
            && from_domain.is_char_boundary(from_domain.len() - signer.len() - 1)
            && from_domain[from_domain.len() - signer.len()..].eq_ignore_ascii_case(signer)
            && from_domain.as_bytes()[from_domain.len() - signer.len() - 1] == b'.')
}

/// How many times `message/` or `digest` (any case) occur in `raw`: an
/// upper bound on how deep its messages may nest (RFC 2046 §5.2.1
/// `message/rfc822`, §5.1.5 `multipart/digest`, whose parts are messages
/// by default).
fn nesting_markers(raw: &[u8]) -> usize {
    let count = |marker: &[u8]| {
        raw.windows(marker.len())
            .filter(|window| window.eq_ignore_ascii_case(marker))
            .count()
    };
    count(b"message/") + count(b"digest")
}

/// Whether `bytes` may be a report: gzip by its magic bytes, or text whose
/// first character (after white space and a byte order mark) opens a JSON
/// object.
fn looks_like_a_report(bytes: &[u8]) -> bool {
    if crate::rfc::rfc8460::report_body::is_gzip(bytes) {
        return true;
    }
    let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    text.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

fn part_bytes<'a>(part: &'a mail_parser::MessagePart<'_>) -> Option<Cow<'a, [u8]>> {
    match &part.body {
        PartType::Binary(bytes) | PartType::InlineBinary(bytes) => {
            Some(Cow::Borrowed(bytes.as_ref()))
        }
        PartType::Text(text) | PartType::Html(text) => Some(Cow::Borrowed(text.as_bytes())),
        PartType::Message(_) | PartType::Multipart(_) => None,
    }
}

fn undecodable(part: &mail_parser::MessagePart<'_>) -> MailError {
    MailError::Undecodable {
        encoding: capped(part.content_transfer_encoding().unwrap_or("none")).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alignment_is_the_domain_or_a_parent_but_not_a_tld() {
        assert!(signer_aligned("example.com", "example.com"));
        assert!(signer_aligned("example.com", "reports.example.com"));
        assert!(signer_aligned("example.com.", "a.b.example.com"));
        assert!(!signer_aligned("com", "example.com"));
        assert!(!signer_aligned("ample.com", "example.com"));
        assert!(!signer_aligned("sub.example.com", "example.com"));
        assert!(!signer_aligned("other.example", "example.com"));
        assert!(!signer_aligned("", "example.com"));
        assert!(!signer_aligned(".com", "x.com"));
    }

    fn mail(raw: &str) -> Mail<'_> {
        match Mail::parse(raw.as_bytes(), DEFAULT_MAX_MESSAGE_BYTES) {
            Ok(mail) => mail,
            Err(error) => panic!("{error}"),
        }
    }

    #[test]
    fn only_the_topmost_block_of_authentication_results_is_trusted() {
        let raw = "Authentication-Results: mx.local; dkim=pass header.d=other.example\r\n\
                   Authentication-Results: MX.local; dkim=pass header.i=@sender.example\r\n\
                   Received: from outside by mx.local\r\n\
                   Authentication-Results: mx.local; dkim=pass header.d=sender.example\r\n\
                   From: TLSRPT <tlsrpt@reports.sender.example>\r\n\r\n{}";
        let parsed = mail(raw);
        assert_eq!(parsed.trusted_authentication_results("mx.local").len(), 2);
        assert_eq!(
            parsed.dkim_pass_vouched("mx.local"),
            Ok("sender.example".to_string())
        );

        // The one below the server's Received: is the sender's own.
        let forged = "Received: from outside by mx.local\r\n\
                      Authentication-Results: mx.local; dkim=pass header.d=sender.example\r\n\
                      From: tlsrpt@sender.example\r\n\r\n{}";
        // No header of the local server above it: the first one found is
        // trusted, which is why the server must add one to every message
        // (README): here it is the only one, and it is read.
        assert!(mail(forged).dkim_pass_vouched("mx.local").is_ok());

        let other_first =
            "Authentication-Results: elsewhere.example; dkim=pass header.d=sender.example\r\n\
                           Authentication-Results: mx.local; dkim=pass header.d=sender.example\r\n\
                           From: tlsrpt@sender.example\r\n\r\n{}";
        assert!(matches!(
            mail(other_first).dkim_pass_vouched("mx.local"),
            Err(DkimError::NotVouched { .. })
        ));

        let failed = "Authentication-Results: mx.local; dkim=fail header.d=sender.example; dkim=pass header.d=attacker.example\r\n\
                      From: tlsrpt@sender.example\r\n\r\n{}";
        let refused = mail(failed).dkim_pass_vouched("mx.local");
        assert!(
            matches!(&refused, Err(DkimError::NotVouched { reason, .. })
                if reason.contains("dkim=fail for sender.example") && reason.contains("attacker.example")),
            "{refused:?}"
        );
    }

    #[test]
    fn report_parts_are_found_by_type_then_by_shape() {
        let typed = "From: a@b.example\r\nMIME-Version: 1.0\r\n\
            Content-Type: multipart/report; report-type=tlsrpt; boundary=\"B\"\r\n\r\n\
            --B\r\nContent-Type: text/plain\r\n\r\nThis is a report.\r\n\
            --B\r\nContent-Type: application/tlsrpt+json\r\nContent-Transfer-Encoding: base64\r\n\r\neyJhIjoxfQ==\r\n\
            --B--\r\n";
        assert_eq!(mail(typed).report().as_deref(), Ok(&b"{\"a\":1}"[..]));

        let plain = "From: a@b.example\r\nSubject: report\r\n\r\n  {\"a\":2}\r\n";
        assert_eq!(mail(plain).report().as_deref(), Ok(&b"  {\"a\":2}\r\n"[..]));

        let attached = "From: a@b.example\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n\
            --B\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n\
            --B\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=r.json\r\n\r\n{\"a\":3}\r\n\
            --B--\r\n";
        assert_eq!(mail(attached).report().as_deref(), Ok(&b"{\"a\":3}"[..]));

        let prose = "From: a@b.example\r\n\r\nHello, no report here.\r\n";
        assert_eq!(mail(prose).report().map_err(|e| e.cause()), Err("mime"));

        let bad_base64 = "From: a@b.example\r\nContent-Type: multipart/report; report-type=tlsrpt; boundary=B\r\n\r\n\
            --B\r\nContent-Type: application/tlsrpt+gzip\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!!\r\n\
            --B--\r\n";
        let parsed = mail(bad_base64);
        let refused = parsed.report();
        assert!(
            matches!(
                refused,
                Err(MailError::Undecodable { .. }) | Err(MailError::NoReport(_))
            ),
            "{refused:?}"
        );
    }

    #[test]
    fn size_and_headers_are_checked_first() {
        assert_eq!(
            Mail::parse(&[b'a'; 11], 10).err(),
            Some(MailError::TooLarge {
                size: 11,
                limit: 10
            })
        );
        assert_eq!(Mail::parse(b"", 10).err().map(|e| e.cause()), Some("mime"));
    }

    #[test]
    fn deeply_nested_messages_are_refused_before_parsing() {
        // 100,000 nested messages would overflow the stack when freed.
        let raw = format!(
            "From: a@b.test\n{}",
            "Content-Type: message/rfc822\n\n".repeat(100_000)
        );
        assert_eq!(
            Mail::parse(raw.as_bytes(), DEFAULT_MAX_MESSAGE_BYTES).err(),
            Some(MailError::TooDeep)
        );
        let digest = format!(
            "From: a@b.test\n{}",
            "Content-Type: multipart/DIGEST; boundary=d\n\n--d\n\n".repeat(65)
        );
        assert_eq!(
            Mail::parse(digest.as_bytes(), DEFAULT_MAX_MESSAGE_BYTES).err(),
            Some(MailError::TooDeep)
        );
        let forwarded = format!(
            "From: a@b.test\n{}",
            "Content-Type: message/rfc822\n\n".repeat(MAX_NESTING_MARKERS)
        );
        assert!(Mail::parse(forwarded.as_bytes(), DEFAULT_MAX_MESSAGE_BYTES).is_ok());
    }

    #[test]
    fn the_from_domain_is_one_address_s_domain() {
        assert_eq!(
            mail("From: \"X\" <Reports@Sender.Example.>\r\n\r\n").from_domain(),
            Some("sender.example".to_string())
        );
        assert_eq!(
            mail("From: a@one.example, b@two.example\r\n\r\n").from_domain(),
            None
        );
        assert_eq!(mail("Subject: x\r\n\r\n").from_domain(), None);
        assert_eq!(
            mail("From: a@evil.example\r\nFrom: b@sender.example\r\n\r\n").from_domain(),
            None
        );
        assert_eq!(mail("From: nobody\r\n\r\n").from_domain(), None);
    }
}
