//! The TLSRPT aggregate report (RFC 8460 §4): the model, and a lenient
//! parser of its JSON form (§4.4).
//!
//! Lenient, because a report is not dropped for one odd field: a field of
//! the wrong type reads as absent, known deviations of senders are repaired
//! (and noted in [`Report::repairs`]), unknown fields are ignored. What a
//! report needs to be counted at all (README, "How strictly the RFCs are
//! read"): `organization-name`, `report-id`, a `date-range` whose two
//! date-times read, and at least one `policies` entry with a
//! `policy-domain` and both summary counts. Bounded: at most
//! [`MAX_POLICIES`] policies and [`MAX_FAILURE_DETAILS`] failure details per
//! policy are kept (the rest counted), every string is cut at
//! [`MAX_TEXT_CHARS`] characters.

use super::datetime::parse_report_time;
use super::report_json::{Object, RawFailureDetail, RawPolicyResult, RawReport, Strings, Text};
use super::ResultType;
use std::collections::BTreeSet;
use std::net::IpAddr;

pub use super::report_json::{
    MAX_FAILURE_DETAILS, MAX_POLICIES, MAX_STRINGS as MAX_POLICY_STRINGS, MAX_TEXT_CHARS,
};

/// A report that can be counted (RFC 8460 §4.4), as far as it was kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// `organization-name`: who sent it (trimmed, cut at [`MAX_TEXT_CHARS`]).
    pub organization_name: String,
    /// `report-id` (trimmed, cut at [`MAX_TEXT_CHARS`]). With the
    /// organization, identifies the report (RFC 8460 §5.6: the JSON is
    /// authoritative over subject and file name).
    pub report_id: String,
    /// `contact-info`, when given.
    pub contact_info: Option<String>,
    /// `date-range` (RFC 8460 §4.1).
    pub date_range: DateRange,
    /// The usable `policies` entries, in order, at most [`MAX_POLICIES`].
    pub policies: Vec<PolicyReport>,
    /// Usable policies beyond [`MAX_POLICIES`], not kept.
    pub policies_dropped: u64,
    /// `policies` entries that could not be used (not an object, no
    /// `policy-domain`, no summary counts).
    pub policies_unusable: u64,
    /// What was repaired or cut to read it.
    pub repairs: BTreeSet<Repair>,
}

/// The time frame of a report (RFC 8460 §4.1), Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateRange {
    /// `start-datetime`.
    pub start: i64,
    /// `end-datetime`.
    pub end: i64,
}

/// RFC 8460 §4.4 `policy-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PolicyType {
    /// `sts`: an MTA-STS policy (RFC 8461).
    Sts,
    /// `tlsa`: a DANE TLSA policy (RFC 7672).
    Tlsa,
    /// `no-policy-found`: neither was found.
    NoPolicyFound,
    /// Missing, or a value the RFC does not define.
    Other,
}

impl PolicyType {
    /// Every policy type, in order.
    pub const ALL: [PolicyType; 4] = [
        PolicyType::Sts,
        PolicyType::Tlsa,
        PolicyType::NoPolicyFound,
        PolicyType::Other,
    ];

    /// The RFC 8460 §4.4 string (`other` for the rest).
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyType::Sts => "sts",
            PolicyType::Tlsa => "tlsa",
            PolicyType::NoPolicyFound => "no-policy-found",
            PolicyType::Other => "other",
        }
    }

    /// The policy type a sender wrote (ASCII case and surrounding white
    /// space ignored).
    pub fn parse(text: &str) -> PolicyType {
        let text = text.trim();
        Self::ALL
            .into_iter()
            .find(|t| *t != PolicyType::Other && t.as_str().eq_ignore_ascii_case(text))
            .unwrap_or(PolicyType::Other)
    }
}

/// A result type of a failure detail (RFC 8460 §4.3): every type the RFC
/// defines, and `other` for the rest. Wider than [`ResultType`], which
/// holds what the probe itself can find (no DANE types) and the policy
/// type `no-policy-found`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReportResultType {
    /// §4.3.1 `starttls-not-supported`.
    StarttlsNotSupported,
    /// §4.3.1 `certificate-host-mismatch`.
    CertificateHostMismatch,
    /// §4.3.1 `certificate-expired`.
    CertificateExpired,
    /// §4.3.1 `certificate-not-trusted`.
    CertificateNotTrusted,
    /// §4.3.1, §4.3.3 `validation-failure`.
    ValidationFailure,
    /// §4.3.2.1 `tlsa-invalid`.
    TlsaInvalid,
    /// §4.3.2.1 `dnssec-invalid`.
    DnssecInvalid,
    /// §4.3.2.1 `dane-required`.
    DaneRequired,
    /// §4.3.2.2 `sts-policy-fetch-error`.
    StsPolicyFetchError,
    /// §4.3.2.2 `sts-policy-invalid`.
    StsPolicyInvalid,
    /// §4.3.2.2 `sts-webpki-invalid`.
    StsWebpkiInvalid,
    /// Missing, or a value the RFC does not define.
    Other,
}

impl ReportResultType {
    /// Every result type, in order.
    pub const ALL: [ReportResultType; 12] = [
        ReportResultType::StarttlsNotSupported,
        ReportResultType::CertificateHostMismatch,
        ReportResultType::CertificateExpired,
        ReportResultType::CertificateNotTrusted,
        ReportResultType::ValidationFailure,
        ReportResultType::TlsaInvalid,
        ReportResultType::DnssecInvalid,
        ReportResultType::DaneRequired,
        ReportResultType::StsPolicyFetchError,
        ReportResultType::StsPolicyInvalid,
        ReportResultType::StsWebpkiInvalid,
        ReportResultType::Other,
    ];

    /// The RFC 8460 §4.3 string (`other` for the rest).
    pub fn as_str(self) -> &'static str {
        match self {
            ReportResultType::StarttlsNotSupported => "starttls-not-supported",
            ReportResultType::CertificateHostMismatch => "certificate-host-mismatch",
            ReportResultType::CertificateExpired => "certificate-expired",
            ReportResultType::CertificateNotTrusted => "certificate-not-trusted",
            ReportResultType::ValidationFailure => "validation-failure",
            ReportResultType::TlsaInvalid => "tlsa-invalid",
            ReportResultType::DnssecInvalid => "dnssec-invalid",
            ReportResultType::DaneRequired => "dane-required",
            ReportResultType::StsPolicyFetchError => "sts-policy-fetch-error",
            ReportResultType::StsPolicyInvalid => "sts-policy-invalid",
            ReportResultType::StsWebpkiInvalid => "sts-webpki-invalid",
            ReportResultType::Other => "other",
        }
    }

    /// The result type a sender wrote (ASCII case and surrounding white
    /// space ignored); `other` for a value the RFC does not define.
    pub fn parse(text: &str) -> ReportResultType {
        let text = text.trim();
        Self::ALL
            .into_iter()
            .find(|t| *t != ReportResultType::Other && t.as_str().eq_ignore_ascii_case(text))
            .unwrap_or(ReportResultType::Other)
    }

    /// The probe's result type of the same name, for putting a report
    /// beside the probe's verdict; `None` for the DANE types and `other`.
    pub fn probe_result_type(self) -> Option<ResultType> {
        Some(match self {
            ReportResultType::StarttlsNotSupported => ResultType::StarttlsNotSupported,
            ReportResultType::CertificateHostMismatch => ResultType::CertificateHostMismatch,
            ReportResultType::CertificateExpired => ResultType::CertificateExpired,
            ReportResultType::CertificateNotTrusted => ResultType::CertificateNotTrusted,
            ReportResultType::ValidationFailure => ResultType::ValidationFailure,
            ReportResultType::StsPolicyFetchError => ResultType::StsPolicyFetchError,
            ReportResultType::StsPolicyInvalid => ResultType::StsPolicyInvalid,
            ReportResultType::StsWebpkiInvalid => ResultType::StsWebpkiInvalid,
            ReportResultType::TlsaInvalid
            | ReportResultType::DnssecInvalid
            | ReportResultType::DaneRequired
            | ReportResultType::Other => return None,
        })
    }
}

/// One `policies` entry: a policy applied to the domain, the sessions it
/// governed and its failures (RFC 8460 §4.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyReport {
    /// `policy-type`.
    pub policy_type: PolicyType,
    /// `policy-string`: the policy's lines (an STS policy) or TLSA records,
    /// at most [`MAX_POLICY_STRINGS`]; empty when not given (as for
    /// `no-policy-found` or a fetch error).
    pub policy_strings: Vec<String>,
    /// `policy-domain`: lower case, without a trailing dot.
    pub policy_domain: String,
    /// `mx-host`: the MX patterns of the policy, lower case, without a
    /// `mx:` prefix or a trailing dot; at most [`MAX_POLICY_STRINGS`].
    pub mx_hosts: Vec<String>,
    /// `total-successful-session-count` (§4.2.1).
    pub successful_sessions: u64,
    /// `total-failure-session-count` (§4.2.2).
    pub failed_sessions: u64,
    /// `failure-details`, at most [`MAX_FAILURE_DETAILS`].
    pub failure_details: Vec<FailureDetail>,
    /// Failure details beyond [`MAX_FAILURE_DETAILS`], not kept.
    pub failure_details_dropped: u64,
    /// The `failed-session-count` of those, added up.
    pub failed_sessions_dropped: u64,
}

/// One `failure-details` entry (RFC 8460 §4.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureDetail {
    /// `result-type` (§4.3).
    pub result_type: ReportResultType,
    /// The `result-type` as written, when it is `other` (cut at
    /// [`MAX_TEXT_CHARS`]; free text: never a label).
    pub result_type_text: Option<String>,
    /// `sending-mta-ip`, when given and an IP address.
    pub sending_mta_ip: Option<IpAddr>,
    /// `receiving-mx-hostname`, lower case, without a trailing dot.
    pub receiving_mx_hostname: Option<String>,
    /// `receiving-mx-helo`.
    pub receiving_mx_helo: Option<String>,
    /// `receiving-ip`, when given and an IP address.
    pub receiving_ip: Option<IpAddr>,
    /// `failed-session-count` (0 when missing).
    pub failed_session_count: u64,
    /// `additional-information` (a URI by the RFC; kept as text).
    pub additional_information: Option<String>,
    /// `failure-reason-code` (free text: never a label).
    pub failure_reason_code: Option<String>,
}

/// What the parser repaired or cut in a report: a closed set, for logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Repair {
    /// A date-time without a time zone, read as UTC (RFC 8460 §4.1).
    DateTimeWithoutZone,
    /// `mx-host` as one string instead of a list.
    MxHostString,
    /// `mx-host` entries written with a leading `mx:`.
    MxHostPrefix,
    /// A `policy-string` of one string that is itself a JSON list.
    PolicyStringNestedJson,
    /// `policies` or `failure-details` as one object instead of a list.
    ObjectForList,
    /// A count written as a string.
    CountAsText,
    /// A failure detail without `failed-session-count` (read as 0).
    FailureCountMissing,
    /// A `result-type` the RFC does not define (counted as `other`).
    ResultTypeUnknown,
    /// A `policy-type` missing or not defined by the RFC.
    PolicyTypeUnknown,
    /// An IP address field that is not an IP address (dropped).
    AddressUnreadable,
    /// A `policies` entry that could not be used (skipped).
    PolicyUnusable,
    /// A failure detail that is not an object (skipped).
    FailureDetailUnusable,
    /// More policies, failure details or strings than are kept.
    ListCapped,
    /// A string cut at [`MAX_TEXT_CHARS`].
    TextCapped,
}

impl Repair {
    /// The repair's name, for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Repair::DateTimeWithoutZone => "date-time-without-zone",
            Repair::MxHostString => "mx-host-string",
            Repair::MxHostPrefix => "mx-host-prefix",
            Repair::PolicyStringNestedJson => "policy-string-nested-json",
            Repair::ObjectForList => "object-for-list",
            Repair::CountAsText => "count-as-text",
            Repair::FailureCountMissing => "failure-count-missing",
            Repair::ResultTypeUnknown => "result-type-unknown",
            Repair::PolicyTypeUnknown => "policy-type-unknown",
            Repair::AddressUnreadable => "address-unreadable",
            Repair::PolicyUnusable => "policy-unusable",
            Repair::FailureDetailUnusable => "failure-detail-unusable",
            Repair::ListCapped => "list-capped",
            Repair::TextCapped => "text-capped",
        }
    }
}

/// A report field the parser requires (RFC 8460 §4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequiredField {
    /// `organization-name`.
    OrganizationName,
    /// `report-id`.
    ReportId,
    /// `date-range` with `start-datetime` and `end-datetime`.
    DateRange,
    /// `policies`, with at least one entry holding a `policy-domain` and
    /// both summary counts.
    Policies,
}

impl RequiredField {
    /// The field's JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            RequiredField::OrganizationName => "organization-name",
            RequiredField::ReportId => "report-id",
            RequiredField::DateRange => "date-range",
            RequiredField::Policies => "policies",
        }
    }
}

impl std::fmt::Display for RequiredField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a received report cannot be used (RFC 8460 §4.4, §5.2). Each has a
/// [`cause`](ReportError::cause): the bounded label of ingest errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    /// The body starts as gzip (RFC 8460 §5.2) but does not decompress.
    #[error("gzip: {0}")]
    Gzip(String),
    /// The body, or what it decompresses to, is over the limit.
    #[error("report larger than {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// Not JSON, or not a JSON object (RFC 8460 §4.4).
    #[error("not a JSON report: {0}")]
    Json(String),
    /// A field the report needs is missing or unusable.
    #[error("report without a usable {0}")]
    Missing(RequiredField),
    /// A `date-range` date-time that does not read as one.
    #[error("date-range: unreadable date-time {0:?}")]
    DateTime(String),
    /// `end-datetime` before `start-datetime`.
    #[error("date-range ends before it starts")]
    DateRangeReversed,
}

impl ReportError {
    /// The ingest-error cause: `gzip`, `too-large` or `json` (everything
    /// about the report's content).
    pub fn cause(&self) -> &'static str {
        match self {
            ReportError::Gzip(_) => "gzip",
            ReportError::TooLarge { .. } => "too-large",
            ReportError::Json(_)
            | ReportError::Missing(_)
            | ReportError::DateTime(_)
            | ReportError::DateRangeReversed => "json",
        }
    }
}

/// Parses a report from its JSON text (RFC 8460 §4.4), leniently (see the
/// module). A leading UTF-8 byte order mark is skipped.
pub fn parse_report(json: &[u8]) -> Result<Report, ReportError> {
    let json = json.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(json);
    let mut deserializer = serde_json::Deserializer::from_slice(json);
    let raw: Object<RawReport> = match serde::Deserialize::deserialize(&mut deserializer) {
        Ok(raw) => raw,
        Err(error) => return Err(ReportError::Json(cut_error(&error))),
    };
    deserializer
        .end()
        .map_err(|error| ReportError::Json(cut_error(&error)))?;
    match raw.0 {
        Some(raw) => build(raw),
        None => Err(ReportError::Json("not a JSON object".into())),
    }
}

/// A serde_json error as text, cut (it may quote input).
fn cut_error(error: &serde_json::Error) -> String {
    super::report_json::cap_text(&error.to_string(), MAX_TEXT_CHARS).0
}

/// The report model from the JSON shapes.
fn build(raw: RawReport) -> Result<Report, ReportError> {
    let mut repairs = BTreeSet::new();
    let organization_name = required_text(
        raw.organization_name,
        RequiredField::OrganizationName,
        &mut repairs,
    )?;
    let report_id = required_text(raw.report_id, RequiredField::ReportId, &mut repairs)?;
    let contact_info = optional_text(raw.contact_info, &mut repairs);
    let Some(range) = raw.date_range.0 else {
        return Err(ReportError::Missing(RequiredField::DateRange));
    };
    let start = report_time(range.start, &mut repairs)?;
    let end = report_time(range.end, &mut repairs)?;
    if end < start {
        return Err(ReportError::DateRangeReversed);
    }
    let list = raw.policies;
    if list.single {
        repairs.insert(Repair::ObjectForList);
    }
    if list.dropped > 0 {
        repairs.insert(Repair::ListCapped);
    }
    let mut policies_unusable = list.skipped;
    let mut policies = Vec::with_capacity(list.entries.len());
    for entry in list.entries {
        match policy_report(entry, &mut repairs) {
            Some(policy) => policies.push(policy),
            None => policies_unusable += 1,
        }
    }
    if policies_unusable > 0 {
        repairs.insert(Repair::PolicyUnusable);
    }
    // Entries beyond the cap were not examined: counted as dropped, as if
    // usable.
    if policies.is_empty() && list.dropped == 0 {
        return Err(ReportError::Missing(RequiredField::Policies));
    }
    Ok(Report {
        organization_name,
        report_id,
        contact_info,
        date_range: DateRange { start, end },
        policies,
        policies_dropped: list.dropped,
        policies_unusable,
        repairs,
    })
}

/// A text field that must be there and not blank, trimmed.
fn required_text(
    text: Text,
    field: RequiredField,
    repairs: &mut BTreeSet<Repair>,
) -> Result<String, ReportError> {
    optional_text(text, repairs).ok_or(ReportError::Missing(field))
}

/// A text field, trimmed; `None` when absent or blank.
fn optional_text(text: Text, repairs: &mut BTreeSet<Repair>) -> Option<String> {
    let value = text.value?;
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return None;
    }
    if text.capped {
        repairs.insert(Repair::TextCapped);
    }
    Some(if trimmed.len() == value.len() {
        value
    } else {
        trimmed.to_string()
    })
}

/// A `date-range` date-time.
fn report_time(text: Text, repairs: &mut BTreeSet<Repair>) -> Result<i64, ReportError> {
    let Some(value) = text.value else {
        return Err(ReportError::Missing(RequiredField::DateRange));
    };
    let time = parse_report_time(&value).ok_or(ReportError::DateTime(value))?;
    if time.zone_assumed {
        repairs.insert(Repair::DateTimeWithoutZone);
    }
    Ok(time.unix_seconds)
}

/// One `policies` entry, or `None` when it has no `policy-domain` or no
/// summary counts.
fn policy_report(entry: RawPolicyResult, repairs: &mut BTreeSet<Repair>) -> Option<PolicyReport> {
    let policy = entry.policy.0?;
    let summary = entry.summary.0?;
    let policy_domain = host_name(optional_text(policy.policy_domain, repairs)?)?;
    let successful_sessions = summary.successful.value?;
    let failed_sessions = summary.failed.value?;
    if summary.successful.from_text || summary.failed.from_text {
        repairs.insert(Repair::CountAsText);
    }
    let policy_type = match optional_text(policy.policy_type, repairs) {
        Some(text) => PolicyType::parse(&text),
        None => PolicyType::Other,
    };
    if policy_type == PolicyType::Other {
        repairs.insert(Repair::PolicyTypeUnknown);
    }
    let policy_strings = policy_strings(policy.policy_string, repairs);
    let mx_hosts = mx_hosts(policy.mx_host, repairs);
    let details = entry.failure_details;
    if details.single {
        repairs.insert(Repair::ObjectForList);
    }
    if details.dropped > 0 {
        repairs.insert(Repair::ListCapped);
    }
    if details.skipped > 0 {
        repairs.insert(Repair::FailureDetailUnusable);
    }
    let failure_details = details
        .entries
        .into_iter()
        .map(|detail| failure_detail(detail, repairs))
        .collect();
    Some(PolicyReport {
        policy_type,
        policy_strings,
        policy_domain,
        mx_hosts,
        successful_sessions,
        failed_sessions,
        failure_details,
        failure_details_dropped: details.dropped,
        failed_sessions_dropped: details.overflow,
    })
}

/// `policy-string`: the strings as given; a string holding a JSON list of
/// strings (seen for TLSA policies) is that list's strings.
fn policy_strings(strings: Strings, repairs: &mut BTreeSet<Repair>) -> Vec<String> {
    note_strings(&strings, repairs);
    if strings.nested_json {
        repairs.insert(Repair::PolicyStringNestedJson);
    }
    strings.values
}

/// Notes what the string list needed.
fn note_strings(strings: &Strings, repairs: &mut BTreeSet<Repair>) {
    if strings.dropped > 0 {
        repairs.insert(Repair::ListCapped);
    }
    if strings.capped {
        repairs.insert(Repair::TextCapped);
    }
}

/// `mx-host`: each entry without a leading `mx:`, trimmed, lower case,
/// without a trailing dot; blank entries dropped.
fn mx_hosts(strings: Strings, repairs: &mut BTreeSet<Repair>) -> Vec<String> {
    note_strings(&strings, repairs);
    if strings.single {
        repairs.insert(Repair::MxHostString);
    }
    let mut hosts = Vec::with_capacity(strings.values.len());
    for value in strings.values {
        let mut host = value.trim();
        if host.len() >= 3 && host[..3].eq_ignore_ascii_case("mx:") {
            repairs.insert(Repair::MxHostPrefix);
            host = host[3..].trim_start();
        }
        if let Some(host) = host_name(host.to_string()) {
            hosts.push(host);
        }
    }
    hosts
}

/// A host name as reports write it, normalised: trimmed, lower case,
/// without a trailing dot; `None` when blank or longer than a DNS name
/// (253 characters) can be.
fn host_name(text: String) -> Option<String> {
    let host = text.trim().trim_end_matches('.');
    if host.is_empty() || host.len() > 253 {
        return None;
    }
    Some(host.to_ascii_lowercase())
}

/// An IP address field: `None` when absent; noted when not an address.
fn ip_address(text: Text, repairs: &mut BTreeSet<Repair>) -> Option<IpAddr> {
    let value = text.value?;
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return None;
    }
    let bare = trimmed
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .unwrap_or(trimmed);
    match bare.parse() {
        Ok(address) => Some(address),
        Err(_) => {
            repairs.insert(Repair::AddressUnreadable);
            None
        }
    }
}

/// One failure detail.
fn failure_detail(detail: RawFailureDetail, repairs: &mut BTreeSet<Repair>) -> FailureDetail {
    let written = optional_text(detail.result_type, repairs);
    let result_type = written
        .as_deref()
        .map_or(ReportResultType::Other, ReportResultType::parse);
    let result_type_text = if result_type == ReportResultType::Other {
        repairs.insert(Repair::ResultTypeUnknown);
        written
    } else {
        None
    };
    if detail.failed_session_count.from_text {
        repairs.insert(Repair::CountAsText);
    }
    let failed_session_count = detail.failed_session_count.value.unwrap_or_else(|| {
        repairs.insert(Repair::FailureCountMissing);
        0
    });
    FailureDetail {
        result_type,
        result_type_text,
        sending_mta_ip: ip_address(detail.sending_mta_ip, repairs),
        receiving_mx_hostname: optional_text(detail.receiving_mx_hostname, repairs)
            .and_then(host_name),
        receiving_mx_helo: optional_text(detail.receiving_mx_helo, repairs),
        receiving_ip: ip_address(detail.receiving_ip, repairs),
        failed_session_count,
        additional_information: optional_text(detail.additional_information, repairs),
        failure_reason_code: optional_text(detail.failure_reason_code, repairs),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(json: &str) -> Result<Report, ReportError> {
        parse_report(json.as_bytes())
    }

    const MINIMAL: &str = r#"{"organization-name":"Org","report-id":"r1",
        "date-range":{"start-datetime":"2026-11-30T00:00:00Z","end-datetime":"2026-11-30T23:59:59Z"},
        "policies":[{"policy":{"policy-type":"sts","policy-domain":"Example.COM."},
                     "summary":{"total-successful-session-count":5,"total-failure-session-count":1}}]}"#;

    #[test]
    fn a_minimal_report_is_read() {
        let parsed = report(MINIMAL);
        let Ok(parsed) = parsed else {
            panic!("{parsed:?}")
        };
        assert_eq!(parsed.organization_name, "Org");
        assert_eq!(parsed.report_id, "r1");
        assert_eq!(parsed.contact_info, None);
        assert_eq!(
            parsed.date_range,
            DateRange {
                start: 1_795_996_800,
                end: 1_796_083_199
            }
        );
        assert_eq!(parsed.policies.len(), 1);
        let policy = &parsed.policies[0];
        assert_eq!(policy.policy_domain, "example.com");
        assert_eq!(policy.policy_type, PolicyType::Sts);
        assert_eq!((policy.successful_sessions, policy.failed_sessions), (5, 1));
        assert!(policy.failure_details.is_empty());
        assert!(parsed.repairs.is_empty(), "{:?}", parsed.repairs);
    }

    #[test]
    fn each_required_field_is_required() {
        let cases = [
            (
                "\"organization-name\":\"Org\"",
                "\"organization-name\":\" \"",
            ),
            ("\"report-id\":\"r1\"", "\"report-id\":null"),
            ("\"date-range\":{", "\"x\":{"),
            (
                "\"policy-domain\":\"Example.COM.\"",
                "\"policy-domain\":\"\"",
            ),
            (
                "\"total-failure-session-count\":1",
                "\"total-failure-session-count\":-1",
            ),
        ];
        let expected = [
            ReportError::Missing(RequiredField::OrganizationName),
            ReportError::Missing(RequiredField::ReportId),
            ReportError::Missing(RequiredField::DateRange),
            ReportError::Missing(RequiredField::Policies),
            ReportError::Missing(RequiredField::Policies),
        ];
        for ((from, to), expected) in cases.iter().zip(expected) {
            assert!(MINIMAL.contains(from), "{from}");
            let broken = MINIMAL.replace(from, to);
            assert_eq!(report(&broken), Err(expected.clone()), "{to}");
            assert_eq!(expected.cause(), "json");
        }
    }

    #[test]
    fn garbage_and_odd_top_levels_are_json_errors() {
        for text in [
            "",
            "{",
            "nope",
            "[1,2]",
            "\"report\"",
            "null",
            "{} {}",
            "{\"a\":1}",
        ] {
            let error = report(text).err();
            assert_eq!(
                error.as_ref().map(ReportError::cause),
                Some("json"),
                "{text:?}: {error:?}"
            );
        }
    }

    #[test]
    fn a_field_written_twice_keeps_its_first_value() {
        let json = MINIMAL
            .replace(
                "\"report-id\":\"r1\"",
                "\"report-id\":\"r1\",\"report-id\":\"r2\"",
            )
            .replace(
                "\"total-successful-session-count\":5",
                "\"total-successful-session-count\":5,\"total-successful-session-count\":{}",
            );
        let parsed = report(&json);
        let Ok(parsed) = parsed else {
            panic!("{parsed:?}")
        };
        assert_eq!(parsed.report_id, "r1");
        assert_eq!(parsed.policies[0].successful_sessions, 5);
    }

    #[test]
    fn deep_nesting_is_a_json_error_not_a_stack_overflow() {
        for place in ["\"extra\":", "\"policies\":", "\"contact-info\":"] {
            let deep = format!("{{{place}{}}}", "[".repeat(100_000));
            let error = report(&deep).err();
            assert!(
                matches!(error, Some(ReportError::Json(_))),
                "{place}: {error:?}"
            );
        }
    }

    #[test]
    fn date_ranges_must_read_and_run_forward() {
        let unreadable = MINIMAL.replace("2026-11-30T23:59:59Z", "tomorrow");
        assert_eq!(
            report(&unreadable),
            Err(ReportError::DateTime("tomorrow".into()))
        );
        let reversed = MINIMAL.replace("2026-11-30T00:00:00Z", "2026-12-01T00:00:00Z");
        assert_eq!(report(&reversed), Err(ReportError::DateRangeReversed));
    }

    #[test]
    fn result_types_round_trip_and_match_the_probes() {
        for result_type in ReportResultType::ALL {
            if result_type != ReportResultType::Other {
                assert_eq!(ReportResultType::parse(result_type.as_str()), result_type);
            }
            if let Some(probe) = result_type.probe_result_type() {
                assert_eq!(probe.as_str(), result_type.as_str());
            }
        }
        assert_eq!(
            ReportResultType::parse(" Certificate-Expired "),
            ReportResultType::CertificateExpired
        );
        assert_eq!(ReportResultType::parse("other"), ReportResultType::Other);
        assert_eq!(
            ReportResultType::parse("no-policy-found"),
            ReportResultType::Other
        );
        for policy_type in PolicyType::ALL {
            if policy_type != PolicyType::Other {
                assert_eq!(PolicyType::parse(policy_type.as_str()), policy_type);
            }
        }
    }

    #[test]
    fn failure_details_beyond_the_cap_are_counted_not_kept() {
        let detail = r#"{"result-type":"certificate-expired","failed-session-count":2}"#;
        let details = vec![detail; MAX_FAILURE_DETAILS + 7].join(",");
        let json = MINIMAL.replace(
            "\"summary\"",
            &format!("\"failure-details\":[{details},3,null],\"summary\""),
        );
        let parsed = report(&json);
        let Ok(parsed) = parsed else {
            panic!("{parsed:?}")
        };
        let policy = &parsed.policies[0];
        assert_eq!(policy.failure_details.len(), MAX_FAILURE_DETAILS);
        assert_eq!(policy.failure_details_dropped, 7);
        assert_eq!(policy.failed_sessions_dropped, 14);
        assert!(parsed.repairs.contains(&Repair::ListCapped));
        assert!(parsed.repairs.contains(&Repair::FailureDetailUnusable));
    }

    #[test]
    fn long_strings_are_cut() {
        let long = "x".repeat(100_000);
        let json = MINIMAL.replace("\"Org\"", &format!("\"{long}\""));
        let parsed = report(&json);
        let Ok(parsed) = parsed else {
            panic!("{parsed:?}")
        };
        assert_eq!(
            parsed.organization_name,
            format!("{}… (100000 bytes)", "x".repeat(MAX_TEXT_CHARS))
        );
        assert!(parsed.repairs.contains(&Repair::TextCapped));
        // A policy-domain longer than a DNS name is unusable.
        let json = MINIMAL.replace("Example.COM.", &"a".repeat(300));
        assert_eq!(
            report(&json),
            Err(ReportError::Missing(RequiredField::Policies))
        );
    }
}
