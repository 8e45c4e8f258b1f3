//! What to do about each failure, warning and local error: one line each,
//! in one table. `check` prints the line under each finding, its JSON
//! carries it as `what_to_do`, and the README's "What to do" table, its
//! alert runbooks and the `what_to_do` annotations of `config/alerts.yml`
//! are checked against (and regenerated from) these functions by
//! `tests/what_to_do.rs`: one source, not three copies.
//!
//! Plain data, like the taxonomy it describes: the lines name places in
//! the generic form (`_mta-sts.<domain>`, "the host shown"), because
//! `check` prints the full name next to them and an alert names its
//! domain in its labels.

use crate::report::Warning;
use crate::rfc::rfc7672::DaneReason;
use crate::rfc::rfc8460::report::ReportResultType;
use crate::taxonomy::{Failure, LocalError, LocalErrorKind, Reason};
use serde::{Serialize, Serializer};
use std::borrow::Cow;

/// What to do about a failure with this reason code (RFC 8460 §4.3 result
/// types; the reason codes of the README failure table). The same line in
/// every phase a reason occurs in: `check` names the record, URL or MX
/// host and port next to it.
pub fn for_reason(reason: Reason) -> &'static str {
    match reason {
        Reason::NoMtaStsDnsTxtRecord => "Publish one TXT record `v=STSv1; id=<1 to 32 letters and digits>` at `_mta-sts.<domain>` (RFC 8461 §3.1), or stop watching the domain if it does not use MTA-STS.",
        Reason::MultipleMtaStsRecords => "Delete all but one `v=STSv1` TXT record at `_mta-sts.<domain>`: with two or more, senders act as if there were none (RFC 8461 §3.1).",
        Reason::DnsLookup => "Fix the DNS servers that answer for the name shown (query it yourself with dig, from outside your network); if only the exporter sees the failure, check its `resolver` settings.",
        Reason::RecordSyntaxError => "Fix the `_mta-sts.<domain>` TXT record: exactly `v=STSv1; id=<1 to 32 letters and digits>`, fields separated by `;`, upper and lower case as written (RFC 8461 §3.1).",
        Reason::NoPolicyServed => "Serve the policy at `https://mta-sts.<domain>/.well-known/mta-sts.txt`: give `mta-sts.<domain>` an A or AAAA record and make that path answer 200.",
        Reason::CannotFetchPolicy => "Fetch the policy URL shown yourself: it must answer 200 over HTTPS at once, without a redirect (RFC 8461 §3.3); fix the web server, proxy or firewall in the way.",
        Reason::PolicySyntaxError => "Fix the policy text at the line `check` shows: `version: STSv1`, `mode` and `max_age` once each, `mx:` lines unless mode is none, at most 64 KiB (RFC 8461 §3.2).",
        Reason::CertificateExpired => "Renew the certificate of the host shown, and find out why its automatic renewal did not.",
        Reason::CertificateHostMismatch => "Install a certificate whose names include the host shown: `mta-sts.<domain>` for the policy host, the MX host name for an MX host (RFC 8461 §3.3, §4.2).",
        Reason::CertificateNotTrusted => "Use a certificate from a publicly trusted CA and serve the whole chain (leaf and intermediates): senders do not trust self-signed or private-CA certificates.",
        Reason::MtastsPolicyMxMismatch => "Add the MX host (or a `*.` pattern that covers it) to the policy `mx:` lines and change the record `id`, or remove the MX record (RFC 8461 §4.1).",
        Reason::NoAddress => "Give the MX host name an A or AAAA record, or point the MX record at a host name that has one.",
        Reason::ConnectionRefused => "Start the SMTP server on the MX host or open port 25 to the Internet; if the exporter itself may not connect out on port 25, set `check_starttls: false`.",
        Reason::ConnectionFailed => "Make the MX host reachable on port 25 from the Internet (host up, routing, firewall); if the exporter itself may not connect out on port 25, set `check_starttls: false`.",
        Reason::Timeout => "Find out why the MX host does not complete the SMTP exchange in time (packets dropped by a firewall, an overloaded server); if outbound port 25 is blocked where the exporter runs, set `check_starttls: false`.",
        Reason::SmtpGreeting => "Make the SMTP server greet with 220: it sent no greeting or another one (overloaded, rate limiting or refusing the exporter; see its log).",
        Reason::SmtpEhloFailed => "Make the SMTP server accept EHLO: it refused it (see its log; a check on the HELO name may reject the exporter, which sends `smtp.helo_name`).",
        Reason::SmtpProtocolError => "Fix the SMTP server or the middlebox in front of it: it sent malformed or over-long replies, closed early, or sent data before TLS started (see its log).",
        Reason::StarttlsNotOffered => "Enable STARTTLS on the MX host, and make sure nothing in front of it (a firewall SMTP inspection) strips STARTTLS from the EHLO reply.",
        Reason::SmtpStarttlsReplyCode(_) => "The MX host offers STARTTLS and then refuses it: usually a missing or unreadable certificate or key in its TLS configuration (see its log).",
        Reason::TlsRemoteAlert(_) => "The MX host aborted the TLS handshake: no TLS version or cipher in common, or a broken TLS set-up; try `openssl s_client -starttls smtp -connect <mx>:25`.",
        Reason::TlsHandshakeFailure => "The TLS handshake after STARTTLS failed (no TLS, a protocol error or a closed connection): check the TLS set-up with `openssl s_client -starttls smtp -connect <mx>:25`.",
        Reason::PolicyDiffersByAddress => "Make every address of `mta-sts.<domain>` serve the same policy (often the IPv6 one, a forgotten second server or a CDN differs): each sender fetches over one address (RFC 8461 §3.3); `check` lists what each address serves.",
        Reason::Dane(reason) => for_dane_reason(reason),
        Reason::LocalNoIpv4Route | Reason::LocalNoIpv6Route => "Nothing for the domain: the machine running the exporter has no route for this address family. Give it one to check those addresses too, or turn the family off (`addresses.ipv4` / `addresses.ipv6: false`).",
    }
}

/// What to do about a DANE failure (RFC 7672; the DANE rows of the README
/// failure table).
pub fn for_dane_reason(reason: DaneReason) -> &'static str {
    match reason {
        DaneReason::TlsaMismatch => "Publish TLSA records at `_25._tcp.<mx host>` that match the certificate the MX host serves now (`3 1 1` of its public key, or `2 1 1` of its issuer), or put back the key they name: DANE senders defer mail until one matches (RFC 7672 §3).",
        DaneReason::AllUnusableRecords => "Replace the TLSA records at `_25._tcp.<mx host>` with usable ones (usage 2 or 3, selector 0 or 1, matching 0, 1 or 2 with a digest of the right length): SMTP senders ignore PKIX usages 0 and 1 (RFC 7672 §3.1.3).",
        DaneReason::DaneTaHostMismatch => "Issue the MX host a certificate whose names include the MX host name (or the TLSA base domain) under the trust anchor the `2 x x` record names (RFC 7672 §3.2.2).",
        DaneReason::DaneTaCertExpired => "Renew the certificate of the MX host (or the intermediate) under the trust anchor the `2 x x` record names: DANE-TA checks expiry (RFC 7672 §3.1.2).",
        DaneReason::DaneTaChainInvalid => "Serve the whole chain from the certificate of the MX host up to the trust anchor the `2 x x` record names (leaf and intermediates), or publish a `2 x x` record for the issuer it really has.",
        DaneReason::TlsaLookupFailed => "Fix the DNS servers of the zone holding `_25._tcp.<mx host>` (or the address records of the host): they fail (SERVFAIL, timeout) and DANE senders defer mail rather than deliver without DANE (RFC 7672 §2.2).",
        DaneReason::DnssecBogus => "Fix the DNSSEC of the zone (expired signatures, a DS in the parent that names no DNSKEY, a key rollover gone wrong: see a DNSSEC debugger): validating senders get no answer at all.",
        DaneReason::MxInsecure => "Sign the zone of the domain with DNSSEC and publish its DS at the parent, or stop requiring DANE for the domain (`dane: on`).",
        DaneReason::TlsaInsecure => "Sign the zone of the MX host with DNSSEC (its address and TLSA records must be secure), or stop requiring DANE for the domain (`dane: on`).",
        DaneReason::NoTlsaRecords => "Publish TLSA records at `_25._tcp.<mx host>` (`3 1 1` of the server key and of the next key, or `2 1 1` of its issuer), or stop requiring DANE for the domain (`dane: on`).",
    }
}

/// What to do about a warning (README "Warnings"; RFC 8461 and RFC 8460
/// sections in the lines).
pub fn for_warning(warning: Warning) -> &'static str {
    match warning {
        Warning::ContentTypeNotTextPlain => "Serve the policy with `Content-Type: text/plain` (RFC 8461 §3.2).",
        Warning::MaxAgeShort => "Raise `max_age` to at least a day, and in mode enforce to two weeks or more (1209600 up to 31557600), so cached policies outlast an outage (RFC 8461 §3.2).",
        Warning::StsRecordAtApex => "Delete the `v=STSv1` TXT record at the domain itself: it belongs at `_mta-sts.<domain>` only.",
        Warning::NonStsTxtAtMtaSts => "Move the other TXT records (SPF, verification tokens) away from `_mta-sts.<domain>`: some senders read only the first record there.",
        Warning::PolicyLarge => "Shorten the policy below 4 KiB: one `*.` pattern instead of many `mx:` lines.",
        Warning::TlsrptRecordMissing => "Publish `v=TLSRPTv1; rua=mailto:<address>` at `_smtp._tls.<domain>` so that senders report TLS failures to you (RFC 8460 §3).",
        Warning::TlsrptRecordInvalid => "Fix the `_smtp._tls.<domain>` TXT record: exactly one `v=TLSRPTv1; rua=mailto:...` (or `https:`) record (RFC 8460 §3).",
        Warning::PolicyPatternUnused => "Remove the policy `mx:` pattern no MX host uses (a leftover from a migration?) and change the record `id`, or add the MX host it was meant for.",
        Warning::CertificateExpiringSoon => "Renew the certificate shown before it expires, and check that its automatic renewal works.",
        Warning::TlsaRolloverNotReady => "Publish a TLSA record for the next key beside the current one (`3 1 1` of both), or a `2 1 1` record of the issuer, before the next certificate renewal changes the key: else DANE senders defer mail until the records catch up (RFC 7671 §8.1).",
        Warning::PolicyDiffersByAddress => "Make every address of `mta-sts.<domain>` serve the same policy: senders fetching over different addresses apply different policies (RFC 8461 §3.3).",
        Warning::DuplicateField => "Write each of `version`, `mode` and `max_age` once in the policy, keeping the value you mean, and change the record `id` so senders fetch it again (RFC 8461 §3.2).",
    }
}

/// What to do about a step the exporter could not run for a reason of its
/// own (README "Local errors are the exporter's").
pub fn for_local_error(kind: LocalErrorKind) -> &'static str {
    match kind {
        LocalErrorKind::DescriptorsExhausted => "Raise the file descriptor limit of the exporter (`LimitNOFILE=`, `ulimit -n`) or lower `concurrency` and `--web.max-connections`.",
        LocalErrorKind::MemoryExhausted => "Give the exporter more memory, or lower `concurrency`.",
        LocalErrorKind::AddressFamilyUnsupported => "Give the machine running the exporter a route for this address family (often IPv6), or accept that it checks only the other one.",
    }
}

/// Every reason code, one of each parameterised family: the rows of the
/// README's "What to do" table. [`for_reason`] fails to compile without a
/// new variant; add it here too.
pub const REASONS: [Reason; 32] = [
    Reason::NoMtaStsDnsTxtRecord,
    Reason::MultipleMtaStsRecords,
    Reason::RecordSyntaxError,
    Reason::DnsLookup,
    Reason::NoPolicyServed,
    Reason::CannotFetchPolicy,
    Reason::CertificateExpired,
    Reason::CertificateHostMismatch,
    Reason::CertificateNotTrusted,
    Reason::PolicySyntaxError,
    Reason::MtastsPolicyMxMismatch,
    Reason::StarttlsNotOffered,
    Reason::SmtpStarttlsReplyCode(0),
    Reason::TlsRemoteAlert(0),
    Reason::TlsHandshakeFailure,
    Reason::NoAddress,
    Reason::ConnectionRefused,
    Reason::ConnectionFailed,
    Reason::Timeout,
    Reason::SmtpGreeting,
    Reason::SmtpEhloFailed,
    Reason::SmtpProtocolError,
    Reason::Dane(DaneReason::TlsaMismatch),
    Reason::Dane(DaneReason::AllUnusableRecords),
    Reason::Dane(DaneReason::DaneTaHostMismatch),
    Reason::Dane(DaneReason::DaneTaCertExpired),
    Reason::Dane(DaneReason::DaneTaChainInvalid),
    Reason::Dane(DaneReason::TlsaLookupFailed),
    Reason::Dane(DaneReason::DnssecBogus),
    Reason::Dane(DaneReason::MxInsecure),
    Reason::Dane(DaneReason::TlsaInsecure),
    Reason::Dane(DaneReason::NoTlsaRecords),
];

/// A reason's code as the README tables write it: the label value, with
/// the parameterised families as `smtp-starttls-reply-code-NNN` and
/// `tls-remote-*`.
pub fn reason_code(reason: Reason) -> Cow<'static, str> {
    match reason {
        Reason::SmtpStarttlsReplyCode(_) => Cow::Borrowed("smtp-starttls-reply-code-NNN"),
        Reason::TlsRemoteAlert(_) => Cow::Borrowed("tls-remote-*"),
        other => other.as_str(),
    }
}

/// Serializes failures each with its `what_to_do` line after its own
/// fields (the `failures` of the `check` JSON: fields only added).
pub fn serialize_failures<S: Serializer>(
    failures: &[Failure],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    /// A failure and what to do about it.
    #[derive(Serialize)]
    struct WithRemedy<'a> {
        #[serde(flatten)]
        failure: &'a Failure,
        what_to_do: &'static str,
    }
    serializer.collect_seq(failures.iter().map(|failure| WithRemedy {
        failure,
        what_to_do: for_reason(failure.reason),
    }))
}

/// Serializes a local error (or `null`) with its `what_to_do` line after
/// its own fields (`phases[].local_error` of the `check` JSON).
pub fn serialize_local_error<S: Serializer>(
    local: &Option<LocalError>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    /// A local error and what to do about it.
    #[derive(Serialize)]
    struct WithRemedy<'a> {
        #[serde(flatten)]
        local: &'a LocalError,
        what_to_do: &'static str,
    }
    local
        .as_ref()
        .map(|local| WithRemedy {
            local,
            what_to_do: for_local_error(local.kind),
        })
        .serialize(serializer)
}

/// What to do when senders' TLSRPT reports show failed sessions of this
/// result type (RFC 8460 §4.3): the line of the probe's reason for the
/// same failure where there is one (the host shown is the reported
/// `receiving-mx-hostname`), a line of its own for what only senders see
/// (README "What senders' reports ask of you"; `mtasts-exporter reports`).
pub fn for_reported_result(result: ReportResultType) -> &'static str {
    match result {
        ReportResultType::StarttlsNotSupported => for_reason(Reason::StarttlsNotOffered),
        ReportResultType::CertificateHostMismatch => for_reason(Reason::CertificateHostMismatch),
        ReportResultType::CertificateExpired => for_reason(Reason::CertificateExpired),
        ReportResultType::CertificateNotTrusted => for_reason(Reason::CertificateNotTrusted),
        ReportResultType::ValidationFailure => "Senders could not validate the MX host shown (not covered by the policy, no usable address, or another check failed): compare its name and address with `mtasts-exporter check <domain>` and read the `failure-reason-code` the sender gave.",
        ReportResultType::TlsaInvalid => "Fix the TLSA records at `_25._tcp.<mx host>`: none matched the certificate chain the MX host served (RFC 7672 §3.1); publish a record for the next key before each certificate or key rollover.",
        ReportResultType::DnssecInvalid => "Fix the DNSSEC signatures of the zone of the MX host or its TLSA records: senders could not validate them (expired signatures, a broken DS chain) (RFC 7672 §2.1).",
        ReportResultType::DaneRequired => "The sender requires DANE for your domain but found no DNSSEC-validated TLSA records for the MX host shown: publish them at `_25._tcp.<mx host>` (RFC 7672 §2.2), or ask the sender why it requires DANE.",
        ReportResultType::StsPolicyFetchError => "Senders could not fetch `https://mta-sts.<domain>/.well-known/mta-sts.txt`: it must answer 200 over HTTPS from everywhere, without a redirect (RFC 8461 §3.3); `mtasts-exporter check <domain>` shows what it gets from here.",
        ReportResultType::StsPolicyInvalid => "Senders found the policy invalid: fix it as `mtasts-exporter check <domain>` shows (`version: STSv1`, `mode` and `max_age` once each, `mx:` lines; RFC 8461 §3.2).",
        ReportResultType::StsWebpkiInvalid => "Senders did not accept the certificate of `mta-sts.<domain>`: serve a publicly trusted certificate for that name, not expired, with its whole chain (RFC 8461 §3.3).",
        ReportResultType::Other => "The sender reported a failure RFC 8460 does not name: read its `failure-reason-code` and `additional-information` (`mtasts-exporter reports --domain <domain>`), or ask its `contact-info`.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every line is one short line that YAML (single-quoted), Go
    /// templates and Markdown tables carry unchanged.
    #[test]
    fn lines_are_plain_single_lines() {
        let lines = REASONS
            .iter()
            .map(|r| for_reason(*r))
            .chain(Warning::ALL.iter().map(|w| for_warning(*w)))
            .chain(LocalErrorKind::ALL.iter().map(|k| for_local_error(*k)));
        for line in lines {
            assert!(line.len() <= 300, "{line}");
            assert!(line.ends_with('.'), "{line}");
            for bad in ['\n', '\'', '"', '{', '}', '|', '\\'] {
                assert!(!line.contains(bad), "{bad:?} in {line}");
            }
        }
    }

    #[test]
    fn every_reported_result_type_has_a_plain_line() {
        for result in ReportResultType::ALL {
            let line = for_reported_result(result);
            assert!(line.len() <= 300, "{line}");
            assert!(line.ends_with('.'), "{line}");
            for bad in ['\n', '\'', '"', '{', '}', '|', '\\'] {
                assert!(!line.contains(bad), "{bad:?} in {line}");
            }
        }
    }

    #[test]
    fn every_reason_code_is_listed_once() {
        let mut codes: Vec<_> = REASONS.iter().map(|r| reason_code(*r)).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), REASONS.len());
        assert_eq!(
            reason_code(Reason::SmtpStarttlsReplyCode(554)),
            "smtp-starttls-reply-code-NNN"
        );
    }
}
