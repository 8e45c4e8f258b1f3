//! `ProbeReport`: the plain-data result of probing one domain, consumed by
//! the metrics, the `check` output and its JSON contract. Plain data: it
//! names only the RFC and taxonomy layers below it.

use crate::rfc::rfc5321::MxSource;
use crate::rfc::rfc8460::TlsRptStatus;
use crate::rfc::rfc8461::policy::Mode;
use crate::taxonomy::{CertProblem, Failure, LocalError, Phase, Reason, ResultType};
use serde::{Deserialize, Serialize};

/// Things RFC 8461 allows but strict senders or checkers trip over. A closed
/// set: exported as `mtasts_policy_warning{warning}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Warning {
    /// The policy's Content-Type is not `text/plain` (RFC 8461 §3.2 says the
    /// policy is served as `text/plain`).
    ContentTypeNotTextPlain,
    /// `max_age` below one day, or below two weeks in mode `enforce`.
    MaxAgeShort,
    /// An STS record is also published at the domain apex, where it does
    /// nothing.
    StsRecordAtApex,
    /// `_mta-sts.<domain>` holds other TXT records (SPF, verification tokens).
    NonStsTxtAtMtaSts,
    /// The policy is larger than
    /// [`POLICY_LARGE_BYTES`](crate::rfc::rfc8461::advice::POLICY_LARGE_BYTES).
    PolicyLarge,
    /// No TLSRPT record at `_smtp._tls.<domain>` (RFC 8460): failures go
    /// unreported.
    TlsrptRecordMissing,
    /// A TLSRPT record exists but is invalid, or there are several.
    TlsrptRecordInvalid,
    /// A policy `mx:` pattern no MX host uses (left over after a migration).
    PolicyPatternUnused,
    /// A certificate (the policy host's or an MX host's) expires within
    /// `certificates.warning_days`.
    CertificateExpiringSoon,
    /// The policy writes `version`, `mode` or `max_age` more than once.
    /// RFC 8461 §3.2 says the first counts, but some senders refuse such a
    /// policy and some take the last value; the fields are named in
    /// [`PolicyReport::duplicate_fields`].
    DuplicateField,
    /// Two addresses of the policy host serve policies that both parse but
    /// differ (RFC 8461 §3.3: each sender fetches over one address).
    PolicyDiffersByAddress,
    /// Every usable TLSA record of an MX host matches only its current key:
    /// the next renewal with a new key breaks delivery from DANE senders
    /// (RFC 7672, RFC 7671 §8.1).
    TlsaRolloverNotReady,
}

impl Warning {
    /// Every warning, for exporting one series per value.
    pub const ALL: [Warning; 12] = [
        Warning::ContentTypeNotTextPlain,
        Warning::MaxAgeShort,
        Warning::StsRecordAtApex,
        Warning::NonStsTxtAtMtaSts,
        Warning::PolicyLarge,
        Warning::TlsrptRecordMissing,
        Warning::TlsrptRecordInvalid,
        Warning::PolicyPatternUnused,
        Warning::CertificateExpiringSoon,
        Warning::DuplicateField,
        Warning::PolicyDiffersByAddress,
        Warning::TlsaRolloverNotReady,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Warning::ContentTypeNotTextPlain => "content-type-not-text-plain",
            Warning::MaxAgeShort => "max-age-short",
            Warning::StsRecordAtApex => "sts-record-at-apex",
            Warning::NonStsTxtAtMtaSts => "non-sts-txt-at-mta-sts",
            Warning::PolicyLarge => "policy-large",
            Warning::TlsrptRecordMissing => "tlsrpt-record-missing",
            Warning::TlsrptRecordInvalid => "tlsrpt-record-invalid",
            Warning::PolicyPatternUnused => "policy-pattern-unused",
            Warning::CertificateExpiringSoon => "certificate-expiring-soon",
            Warning::DuplicateField => "duplicate-field",
            Warning::PolicyDiffersByAddress => "policy-differs-by-address",
            Warning::TlsaRolloverNotReady => "tlsa-rollover-not-ready",
        }
    }
}

/// A presented leaf certificate, described.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertInfo {
    /// Whether it passed verification for the host it was presented for.
    pub valid: bool,
    /// notBefore, Unix seconds.
    pub not_before: i64,
    /// notAfter, Unix seconds.
    pub not_after: i64,
    /// DNS subject alternative names (at most 20), or the subject CN when
    /// there are none.
    pub names: Vec<String>,
    /// The issuer's distinguished name.
    pub issuer: String,
    /// Why it is not valid, when it is not.
    pub problem: Option<CertProblem>,
}

/// When a certificate's coming expiry deserves a warning, and when a page
/// (config `certificates:`): one pair of thresholds for `check`, the status
/// page, the `certificate-expiring-soon` warning and the shipped alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CertThresholds {
    /// Days before notAfter from which a certificate is expiring soon.
    pub warning_days: u32,
    /// Days before notAfter from which it is critical.
    pub critical_days: u32,
}

impl Default for CertThresholds {
    /// 21 and 7 days, as the shipped alert rules.
    fn default() -> Self {
        CertThresholds {
            warning_days: 21,
            critical_days: 7,
        }
    }
}

/// Where a certificate stands against the [`CertThresholds`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ExpiryLevel {
    /// More than `warning_days` left.
    Fine,
    /// At most `warning_days` left.
    Warning,
    /// At most `critical_days` left.
    Critical,
    /// Past its notAfter.
    Expired,
}

impl CertThresholds {
    /// Where a certificate with `not_after` (Unix seconds) stands at `now`.
    pub fn level(&self, not_after: i64, now: f64) -> ExpiryLevel {
        let days_left = (not_after as f64 - now) / 86_400.0;
        if days_left < 0.0 {
            ExpiryLevel::Expired
        } else if days_left <= f64::from(self.critical_days) {
            ExpiryLevel::Critical
        } else if days_left <= f64::from(self.warning_days) {
            ExpiryLevel::Warning
        } else {
            ExpiryLevel::Fine
        }
    }
}

/// The STS TXT record found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordReport {
    /// The `id=` value.
    pub id: String,
    /// The record text.
    pub txt: String,
}

/// The policy fetched and parsed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyReport {
    /// `mode:`.
    pub mode: Mode,
    /// `max_age:` in seconds.
    pub max_age: u64,
    /// The `mx:` patterns as written (lower-case).
    pub mx: Vec<String>,
    /// The body as served.
    pub text: String,
    /// The Content-Type header, if any.
    pub content_type: Option<String>,
    /// Fields written more than once (RFC 8461 §3.2: the first counts).
    pub duplicate_fields: Vec<DuplicateFieldReport>,
}

#[cfg(test)]
impl PolicyReport {
    /// A policy in `mode` with `max_age` and these `mx` patterns, no text,
    /// no Content-Type and no repeated field: for unit tests, so a new field
    /// changes one place.
    pub(crate) fn blank(mode: Mode, max_age: u64, mx: &[&str]) -> PolicyReport {
        PolicyReport {
            mode,
            max_age,
            mx: mx.iter().map(|m| m.to_string()).collect(),
            text: String::new(),
            content_type: None,
            duplicate_fields: Vec::new(),
        }
    }
}

/// A policy field written more than once, as reported (RFC 8461 §3.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DuplicateFieldReport {
    /// `version`, `mode` or `max_age`.
    pub field: String,
    /// Every value written for it in policy order (the first counts), each
    /// capped for display.
    pub values: Vec<String>,
}

/// An IP address family, as exported in the `family` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AddressFamily {
    /// IPv4 (A records).
    Ipv4,
    /// IPv6 (AAAA records).
    Ipv6,
}

impl AddressFamily {
    /// Both families, IPv4 first.
    pub const ALL: [AddressFamily; 2] = [AddressFamily::Ipv4, AddressFamily::Ipv6];

    /// The family of `address`.
    pub fn of(address: &std::net::IpAddr) -> AddressFamily {
        match address {
            std::net::IpAddr::V4(_) => AddressFamily::Ipv4,
            std::net::IpAddr::V6(_) => AddressFamily::Ipv6,
        }
    }

    /// The label value: `ipv4` or `ipv6`.
    pub fn as_str(self) -> &'static str {
        match self {
            AddressFamily::Ipv4 => "ipv4",
            AddressFamily::Ipv6 => "ipv6",
        }
    }

    /// The reason an address of this family carries when the exporter's
    /// machine has no route for the family (not a failure).
    pub fn no_route_reason(self) -> Reason {
        match self {
            AddressFamily::Ipv4 => Reason::LocalNoIpv4Route,
            AddressFamily::Ipv6 => Reason::LocalNoIpv6Route,
        }
    }
}

/// The check of one address of an MX host (RFC 5321 §5.1: a sender may
/// connect to any of them, so each must offer STARTTLS with a valid
/// certificate).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AddressReport {
    /// The address.
    pub address: std::net::IpAddr,
    /// Its family.
    pub family: AddressFamily,
    /// Whether it offers STARTTLS; `null` when the exchange did not get to
    /// the EHLO reply. (`starttls` in JSON.)
    #[serde(rename = "starttls")]
    pub starttls_offered: Option<bool>,
    /// The negotiated TLS version; `null` without a completed handshake.
    pub tls_version: Option<String>,
    /// The certificate presented over this address; `null` when none.
    pub cert: Option<CertInfo>,
    /// The RFC 8460 result type of its failure; `null` when fine or not
    /// checked.
    pub result_type: Option<ResultType>,
    /// Its reason code: a failure's, or `local-no-ipv6-route` /
    /// `local-no-ipv4-route` when the exporter could not reach its family
    /// (then `result_type` is `null`: no failure); `null` when fine.
    pub reason: Option<Reason>,
}

/// The policy fetch over one address of `mta-sts.<domain>` (RFC 8461
/// §3.3: each sender fetches over the one address it picks).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyAddressReport {
    /// The address.
    pub address: std::net::IpAddr,
    /// Its family.
    pub family: AddressFamily,
    /// The certificate presented over this address; `null` when none.
    pub cert: Option<CertInfo>,
    /// The RFC 8460 result type of its failure; `null` when it served the
    /// policy (the same as the first address) or was not checked.
    pub result_type: Option<ResultType>,
    /// Its reason code: a failure's (`policy-differs-by-address` when it
    /// serves another valid policy), or `local-no-ipv6-route` /
    /// `local-no-ipv4-route` when the exporter could not reach it.
    pub reason: Option<Reason>,
}

/// One MX host and how the policy treats it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MxHostReport {
    /// Host name, lower-case, no trailing dot.
    pub host: String,
    /// MX preference (0 for the implicit MX).
    pub preference: u16,
    /// Whether a policy pattern covers it; `null` when there is no policy.
    pub matches_policy: Option<bool>,
    /// Whether it offers STARTTLS; `null` when not checked or the exchange
    /// did not get to the EHLO reply. (`starttls` in JSON.)
    #[serde(rename = "starttls")]
    pub starttls_offered: Option<bool>,
    /// The negotiated TLS version, e.g. `TLSv1.3`; `null` without a
    /// completed handshake.
    pub tls_version: Option<String>,
    /// The certificate it presented (also an invalid one); `null` when none
    /// was seen.
    pub cert: Option<CertInfo>,
    /// The RFC 8460 result type of its STARTTLS check; `null` when fine or
    /// not checked.
    pub result_type: Option<ResultType>,
    /// The reason code of its STARTTLS check; `null` when fine or not
    /// checked.
    pub reason: Option<Reason>,
    /// Each address checked (at most `addresses.per_family` per family, in
    /// the order DNS gave them, IPv4 first); the host's columns above are
    /// the worst over them. Empty when not checked or no address was found.
    pub addresses: Vec<AddressReport>,
    /// Its DANE check (RFC 7672); `null` when DANE is not checked.
    pub dane: Option<DaneHostReport>,
    /// Whose STARTTLS check the columns above come from: this probe's own,
    /// or another probe's recent check of the host shared with it
    /// (`smtp.share_checks_for`; also a timeout waiting for that check);
    /// `null` when not checked.
    pub starttls_check: Option<StarttlsCheckSource>,
}

/// Whose STARTTLS check of an MX host a probe reports, as exported in the
/// `source` label of `mtasts_starttls_host_checks_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StarttlsCheckSource {
    /// The probe checked the host itself.
    Own,
    /// Another probe's check of the host, made within
    /// `smtp.share_checks_for` before (the host is named by both domains).
    Shared,
}

impl StarttlsCheckSource {
    /// Every value, in label order.
    pub const ALL: [StarttlsCheckSource; 2] =
        [StarttlsCheckSource::Own, StarttlsCheckSource::Shared];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            StarttlsCheckSource::Own => "own",
            StarttlsCheckSource::Shared => "shared",
        }
    }
}

impl MxHostReport {
    /// Every certificate the host presented: the host's (the worst) and
    /// each address's.
    pub fn certs(&self) -> impl Iterator<Item = &CertInfo> {
        self.cert
            .iter()
            .chain(self.addresses.iter().filter_map(|a| a.cert.as_ref()))
    }
}

/// How long one phase took and whether it succeeded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhaseTiming {
    /// The phase.
    pub phase: Phase,
    /// Wall time.
    pub duration_seconds: f64,
    /// Whether it produced what it was after.
    pub ok: bool,
    /// Why the exporter could not run it, when that was its own problem
    /// (out of file descriptors ...); `null` otherwise. A phase with a local
    /// error is not `ok` and is no failure of the domain. In JSON with its
    /// `what_to_do` line ([`crate::remedy::for_local_error`]).
    #[serde(serialize_with = "crate::remedy::serialize_local_error")]
    pub local_error: Option<LocalError>,
}

/// Everything one probe of one domain found. Absent parts are `None`
/// (JSON `null`), never omitted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeReport {
    /// The domain (ASCII).
    pub domain: String,
    /// Whether the domain passes: record and policy valid and, in mode
    /// `enforce` or `testing`, every MX host covered. Always false for an
    /// incomplete probe ([`ProbeReport::is_complete`]), which forms no
    /// verdict: the metrics keep the domain's previous one.
    pub success: bool,
    /// When the probe started, Unix seconds.
    pub timestamp: f64,
    /// How long the whole probe took.
    pub duration_seconds: f64,
    /// The STS record, when exactly one valid record was found.
    pub record: Option<RecordReport>,
    /// The policy, when it was fetched and parsed. It is fetched also when
    /// the record lookup failed (senders would not use it then, but would
    /// get it once the record is fixed); `policy_source` says whether the
    /// MX hosts were judged against it.
    pub policy: Option<PolicyReport>,
    /// The policy host's certificate, when a TLS handshake got far enough to
    /// see it (also an invalid one).
    pub policy_cert: Option<CertInfo>,
    /// Where the MX hosts came from; `null` when MX checking is off or the
    /// lookup failed.
    pub mx_source: Option<MxSource>,
    /// The MX hosts; `null` when MX checking is off or the lookup failed.
    pub mx_hosts: Option<Vec<MxHostReport>>,
    /// Policy patterns no MX host uses.
    pub unused_patterns: Vec<String>,
    /// The TLSRPT record; `null` when the lookup failed.
    pub tlsrpt: Option<TlsRptStatus>,
    /// Warnings, sorted.
    pub warnings: Vec<Warning>,
    /// Hard failures; in JSON each with its `what_to_do` line
    /// ([`crate::remedy::for_reason`]).
    #[serde(serialize_with = "crate::remedy::serialize_failures")]
    pub failures: Vec<Failure>,
    /// Per-phase timings, in the order the phases ran (one `starttls`
    /// entry per MX host checked).
    pub phases: Vec<PhaseTiming>,
    /// The policy fetch over each address of the policy host, IPv4 first,
    /// in DNS order; empty when the fetch did not run or found no address.
    pub policy_addresses: Vec<PolicyAddressReport>,
    /// Which policy the MX hosts were judged against (RFC 8461 §5.1): the
    /// one fetched now, the copy senders still cache, or none.
    pub policy_source: PolicySource,
    /// The cached policy the MX hosts were judged against; `null` unless
    /// `policy_source` is `cached`.
    pub cached_policy: Option<CachedPolicy>,
    /// The DANE side (RFC 7672): the MX RRset's DNSSEC status and the
    /// effective policy; `null` when DANE is not checked.
    pub dane: Option<DaneDomainReport>,
}

/// Which policy a probe judged the MX hosts against, as a sender would
/// apply one (RFC 8461 §3.3, §5.1). A closed set: exported as
/// `mtasts_policy_source{source}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicySource {
    /// A valid record and a valid policy fetched by this probe.
    Fresh,
    /// No fresh policy (the record or the fetch failed), or one whose
    /// content changed under the same record id, while a valid policy
    /// fetched earlier has not reached its `max_age`: senders that cached it
    /// apply it (RFC 8461 §3.3: they must without a live policy, and they
    /// refetch only for a new id).
    Cached,
    /// No fresh policy and no unexpired cached one: senders treat the
    /// domain as not using MTA-STS (RFC 8461 §3.3).
    None,
}

impl PolicySource {
    /// Every source, for exporting one series per value.
    pub const ALL: [PolicySource; 3] = [
        PolicySource::Fresh,
        PolicySource::Cached,
        PolicySource::None,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicySource::Fresh => "fresh",
            PolicySource::Cached => "cached",
            PolicySource::None => "none",
        }
    }
}

/// A valid policy as senders cache it (RFC 8461 §3.3, §5.1): fetched under
/// record `id` at `fetched_at`, applied until `fetched_at + max_age` unless
/// a record with another id makes senders fetch a new one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachedPolicy {
    /// The record `id=` it was fetched under (RFC 8461 §3.1).
    pub id: String,
    /// `mode:`.
    pub mode: Mode,
    /// `max_age:` in seconds.
    pub max_age: u64,
    /// The `mx:` patterns as written (lower-case).
    pub mx: Vec<String>,
    /// The body as served; `null` when it was larger than
    /// [`CachedPolicy::MAX_TEXT_BYTES`] (not kept, to bound the state).
    pub text: Option<String>,
    /// When it was last fetched with this content, Unix seconds.
    pub fetched_at: f64,
    /// `fetched_at + max_age`: when senders' copies lapse (RFC 8461 §3.2).
    pub expires_at: f64,
}

impl CachedPolicy {
    /// The longest policy text kept with a cached policy (the
    /// `policy-large` threshold); longer texts are dropped, the policy's
    /// fields are kept.
    pub const MAX_TEXT_BYTES: usize = crate::rfc::rfc8461::advice::POLICY_LARGE_BYTES;

    /// `policy`, fetched under record `id` at `fetched_at`, as senders
    /// cache it.
    pub fn of(id: &str, policy: &PolicyReport, fetched_at: f64) -> CachedPolicy {
        CachedPolicy {
            id: id.to_string(),
            mode: policy.mode,
            max_age: policy.max_age,
            mx: policy.mx.clone(),
            text: (policy.text.len() <= Self::MAX_TEXT_BYTES).then(|| policy.text.clone()),
            fetched_at,
            expires_at: fetched_at + policy.max_age as f64,
        }
    }

    /// Whether senders still apply it at `now` (Unix seconds): before
    /// `fetched_at + max_age` (RFC 8461 §3.2, §5.1).
    pub fn is_valid_at(&self, now: f64) -> bool {
        now < self.expires_at
    }

    /// `fetched_at` in RFC 3339, for failure details and `check`.
    pub fn fetched_at_text(&self) -> String {
        unix_time_text(self.fetched_at)
    }

    /// `expires_at` in RFC 3339.
    pub fn expires_at_text(&self) -> String {
        unix_time_text(self.expires_at)
    }
}

/// RFC 3339 (UTC, whole seconds) for Unix seconds, or the number when out
/// of range.
fn unix_time_text(seconds: f64) -> String {
    time::OffsetDateTime::from_unix_timestamp(seconds.floor() as i64)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| format!("{seconds}"))
}

impl ProbeReport {
    /// A report of `domain` at `timestamp` that found nothing and failed
    /// nothing: what unit tests fill in with the parts they need.
    #[cfg(test)]
    pub(crate) fn blank(domain: &str, timestamp: f64) -> ProbeReport {
        ProbeReport {
            domain: domain.to_string(),
            success: false,
            timestamp,
            duration_seconds: 0.1,
            record: None,
            policy: None,
            policy_cert: None,
            mx_source: None,
            mx_hosts: None,
            unused_patterns: Vec::new(),
            tlsrpt: None,
            warnings: Vec::new(),
            failures: Vec::new(),
            phases: Vec::new(),
            policy_addresses: Vec::new(),
            policy_source: PolicySource::None,
            cached_policy: None,
            dane: None,
        }
    }

    /// The mode of the policy the MX hosts were judged against: the fresh
    /// policy's, the cached one's, or `None` when there is none.
    pub fn judged_mode(&self) -> Option<Mode> {
        match self.policy_source {
            PolicySource::Fresh => self.policy.as_ref().map(|p| p.mode),
            PolicySource::Cached => self.cached_policy.as_ref().map(|p| p.mode),
            PolicySource::None => None,
        }
    }

    /// The local errors that kept phases from running (in phase order).
    pub fn local_errors(&self) -> impl Iterator<Item = &LocalError> {
        self.phases.iter().filter_map(|p| p.local_error.as_ref())
    }

    /// Whether every phase ran: a probe with a local error is incomplete,
    /// says nothing about the domain's verdict, and the metrics leave the
    /// domain's series as they were.
    pub fn is_complete(&self) -> bool {
        self.local_errors().next().is_none()
    }

    /// The earliest notAfter of the policy host's and MX hosts'
    /// certificates, Unix seconds.
    pub fn earliest_cert_expiry(&self) -> Option<i64> {
        let mx = self
            .mx_hosts
            .iter()
            .flatten()
            .flat_map(MxHostReport::certs)
            .map(|c| c.not_after);
        let policy = self
            .policy_cert
            .iter()
            .chain(self.policy_addresses.iter().filter_map(|a| a.cert.as_ref()));
        policy.map(|c| c.not_after).chain(mx).min()
    }
}

/// The DNSSEC status of an answer (RFC 4035 §4.3), ordered from best to
/// worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DnssecStatus {
    /// Signed and validated from a trust anchor.
    Secure,
    /// Provably unsigned (an insecure delegation): DANE does not apply.
    Insecure,
    /// Could not be validated either way.
    Indeterminate,
    /// Signed, and validation failed: a validating sender gets no answer.
    Bogus,
}

impl DnssecStatus {
    /// The word in JSON and `check`.
    pub fn as_str(self) -> &'static str {
        match self {
            DnssecStatus::Secure => "secure",
            DnssecStatus::Insecure => "insecure",
            DnssecStatus::Indeterminate => "indeterminate",
            DnssecStatus::Bogus => "bogus",
        }
    }
}

/// What the TLSA lookup at `_25._tcp.<host>` found (RFC 7672 §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TlsaLookupStatus {
    /// Signed TLSA records: DANE applies to the host.
    Secure,
    /// A signed proof that there are none: no DANE for the host.
    SecureDenial,
    /// Records or a denial in an unsigned zone: no DANE for the host.
    Insecure,
    /// Validation failed: a DANE sender defers mail to the host.
    Bogus,
    /// SERVFAIL, timeout: a DANE sender defers mail to the host; never read
    /// as "no TLSA" (RFC 7672 §2.2).
    LookupFailed,
    /// Not looked up: the MX RRset or the host's addresses are not secure,
    /// so DANE cannot apply (RFC 7672 §2.2.1, §2.2.2).
    NotLookedUp,
}

impl TlsaLookupStatus {
    /// The word in JSON and `check`.
    pub fn as_str(self) -> &'static str {
        match self {
            TlsaLookupStatus::Secure => "secure",
            TlsaLookupStatus::SecureDenial => "secure-denial",
            TlsaLookupStatus::Insecure => "insecure",
            TlsaLookupStatus::Bogus => "bogus",
            TlsaLookupStatus::LookupFailed => "lookup-failed",
            TlsaLookupStatus::NotLookedUp => "not-looked-up",
        }
    }
}

/// One TLSA record of a host (RFC 6698 §2.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TlsaRecordReport {
    /// `usage selector matching hex`, the hex cut short past
    /// [`crate::echo`]'s cap.
    pub record: String,
    /// Whether an SMTP client may use it (RFC 7672 §3.1).
    pub usable: bool,
    /// Why not, when it is unusable (RFC 7672 §3.1.3).
    pub unusable_because: Option<String>,
}

/// The DANE check of one MX host (RFC 7672). JSON `mx_hosts[].dane`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DaneHostReport {
    /// The DNSSEC status of the host's A/AAAA answers.
    pub address_dnssec: DnssecStatus,
    /// Where the TLSA records were looked for: `_25._tcp.<TLSA base
    /// domain>` (the host, or the end of its secure CNAME chain, RFC 7672
    /// §2.2.3).
    pub tlsa_name: String,
    /// What the TLSA lookup found.
    pub tlsa: TlsaLookupStatus,
    /// The records found (secure or not), in the order DNS gave them.
    pub records: Vec<TlsaRecordReport>,
    /// The record that authenticated the server over every address
    /// checked (`u s m hex`), when one did.
    pub matched_record: Option<String>,
    /// Whether a DANE sender would deliver to the host: `null` when DANE
    /// does not apply to it.
    pub valid: Option<bool>,
    /// Why not, when it fails DANE (or has none while DANE is required).
    pub reason: Option<crate::rfc::rfc7672::DaneReason>,
    /// Whether the records would still match after a key change; `null`
    /// when no usable record matches now.
    pub rollover_ready: Option<bool>,
}

/// The policy a sender applies to the domain (RFC 8461 §2: DANE first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EffectivePolicy {
    /// Secure TLSA records on the MX hosts: DANE decides (RFC 7672).
    Dane,
    /// No DANE; an MTA-STS policy in mode `enforce` or `testing` applies.
    Sts,
    /// Neither: opportunistic TLS.
    None,
    /// A DANE sender cannot tell (bogus or failed DNSSEC lookups): it
    /// defers the mail.
    TempError,
}

impl EffectivePolicy {
    /// Every value, for one series each.
    pub const ALL: [EffectivePolicy; 4] = [
        EffectivePolicy::Dane,
        EffectivePolicy::Sts,
        EffectivePolicy::None,
        EffectivePolicy::TempError,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            EffectivePolicy::Dane => "dane",
            EffectivePolicy::Sts => "sts",
            EffectivePolicy::None => "none",
            EffectivePolicy::TempError => "temp-error",
        }
    }
}

/// The DANE side of a domain (RFC 7672). JSON `dane`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DaneDomainReport {
    /// The DNSSEC status of the MX RRset.
    pub mx_dnssec: DnssecStatus,
    /// The policy a sender applies.
    pub effective_policy: EffectivePolicy,
    /// Whether the domain is configured to require DANE.
    pub required: bool,
}
