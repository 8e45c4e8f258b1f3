//! TLSRPT aggregate reports (RFC 8460 §4.4) as senders write them: every
//! fixture in `tests/fixtures/tlsrpt/` parsed, with the values it holds,
//! and the shapes seen in the wild read leniently.

use mtasts_exporter::rfc::rfc8460::report::{
    DateRange, PolicyType, Repair, Report, ReportError, ReportResultType, RequiredField,
};
use mtasts_exporter::rfc::rfc8460::report_body::{decode_report, DEFAULT_DECOMPRESSED_LIMIT};
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::PathBuf;

/// 2026-11-30T00:00:00Z and 23:59:59Z.
const DAY_START: i64 = 1_795_996_800;
const DAY_END: i64 = DAY_START + 86_399;

fn fixture(name: &str) -> Vec<u8> {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests/fixtures/tlsrpt", name]
        .iter()
        .collect();
    std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

fn decode(name: &str) -> Result<Report, ReportError> {
    decode_report(&fixture(name), DEFAULT_DECOMPRESSED_LIMIT)
}

fn parsed(name: &str) -> Report {
    decode(name).unwrap_or_else(|error| panic!("{name}: {error}"))
}

fn ip(text: &str) -> Option<IpAddr> {
    Some(text.parse().unwrap_or_else(|_| panic!("{text}")))
}

fn repairs(list: &[Repair]) -> BTreeSet<Repair> {
    list.iter().copied().collect()
}

fn sts_policy_lines(mx: &[&str], mode: &str, max_age: u32) -> Vec<String> {
    let mut lines = vec!["version: STSv1".to_string(), format!("mode: {mode}")];
    lines.extend(mx.iter().map(|host| format!("mx: {host}")));
    lines.push(format!("max_age: {max_age}"));
    lines
}

#[test]
fn a_google_like_report_is_read() {
    let report = parsed("google.json");
    assert_eq!(report.organization_name, "Google Inc.");
    assert_eq!(report.report_id, "2026-11-30T00:00:00Z_example.com");
    assert_eq!(
        report.contact_info.as_deref(),
        Some("smtp-tls-reporting@google.com")
    );
    assert_eq!(
        report.date_range,
        DateRange {
            start: DAY_START,
            end: DAY_END
        }
    );
    assert_eq!(report.policies.len(), 1);
    let policy = &report.policies[0];
    assert_eq!(policy.policy_type, PolicyType::Sts);
    assert_eq!(policy.policy_domain, "example.com");
    assert_eq!(
        policy.policy_strings,
        sts_policy_lines(
            &["mx1.example.com", "mx2.example.com"],
            "enforce",
            1_209_600
        )
    );
    // Google writes neither mx-host nor failure-details when all went well.
    assert!(policy.mx_hosts.is_empty());
    assert_eq!(
        (policy.successful_sessions, policy.failed_sessions),
        (1873, 0)
    );
    assert!(policy.failure_details.is_empty());
    assert!(report.repairs.is_empty(), "{:?}", report.repairs);
}

#[test]
fn a_microsoft_like_report_is_read_plain_and_gzipped() {
    let report = parsed("microsoft.json");
    assert_eq!(parsed("microsoft.json.gz"), report);
    assert_eq!(report.organization_name, "Microsoft Corporation");
    assert_eq!(report.report_id, "134089920000000000+example.com");
    assert_eq!(
        report.date_range,
        DateRange {
            start: DAY_START,
            end: DAY_END
        }
    );
    let policy = &report.policies[0];
    assert_eq!(policy.mx_hosts, ["mx1.example.com", "mx2.example.com"]);
    assert_eq!(
        (policy.successful_sessions, policy.failed_sessions),
        (412, 7)
    );
    assert_eq!(policy.failure_details.len(), 2);
    let expired = &policy.failure_details[0];
    assert_eq!(expired.result_type, ReportResultType::CertificateExpired);
    assert_eq!(expired.result_type_text, None);
    assert_eq!(expired.sending_mta_ip, ip("2001:db8:f403:c100::1"));
    assert_eq!(
        expired.receiving_mx_hostname.as_deref(),
        Some("mx2.example.com")
    );
    assert_eq!(expired.receiving_ip, ip("192.0.2.25"));
    assert_eq!(expired.failed_session_count, 5);
    assert_eq!(expired.receiving_mx_helo, None);
    let general = &policy.failure_details[1];
    assert_eq!(general.result_type, ReportResultType::ValidationFailure);
    assert_eq!(general.sending_mta_ip, ip("198.51.100.62"));
    assert_eq!(
        general.receiving_mx_helo.as_deref(),
        Some("mx1.example.com")
    );
    assert_eq!(general.failed_session_count, 2);
    assert_eq!(
        general.failure_reason_code.as_deref(),
        Some("X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED")
    );
    assert_eq!(
        general.additional_information.as_deref(),
        Some("https://reports.example.net/info?id=134089920000000000")
    );
    assert!(report.repairs.is_empty(), "{:?}", report.repairs);
}

#[test]
fn mx_host_as_one_string_is_a_list_of_one() {
    let report = parsed("mx-host-string.json");
    let policy = &report.policies[0];
    assert_eq!(policy.mx_hosts, ["*.mail.example.com"]);
    assert_eq!(policy.successful_sessions, 10);
    // A day written as 00:00 to the next 00:00 is kept as written.
    assert_eq!(report.date_range.end, DAY_START + 86_400);
    assert_eq!(report.repairs, repairs(&[Repair::MxHostString]));
}

#[test]
fn mx_host_missing_or_with_a_leading_mx_prefix_is_read() {
    let report = parsed("mx-host-missing-and-prefixed.json");
    assert_eq!(report.policies.len(), 2);
    assert_eq!(report.policies[0].policy_domain, "example.com");
    assert!(report.policies[0].mx_hosts.is_empty());
    assert_eq!(report.policies[1].policy_domain, "example.org");
    assert_eq!(
        report.policies[1].mx_hosts,
        ["mx1.example.org", "mx2.example.org"]
    );
    assert_eq!(report.repairs, repairs(&[Repair::MxHostPrefix]));
}

#[test]
fn date_times_without_a_zone_are_utc() {
    let report = parsed("datetime-without-zone.json");
    assert_eq!(
        report.date_range,
        DateRange {
            start: DAY_START,
            end: DAY_END
        }
    );
    assert_eq!(report.policies[0].successful_sessions, 25);
    assert_eq!(report.repairs, repairs(&[Repair::DateTimeWithoutZone]));
}

#[test]
fn a_tlsa_policy_string_holding_a_json_list_is_unpacked() {
    let report = parsed("tlsa-policy-string-nested.json");
    let policy = &report.policies[0];
    assert_eq!(policy.policy_type, PolicyType::Tlsa);
    assert_eq!(
        policy.policy_strings,
        [
            "3 1 1 0c72ac70b745ac19998811b131d662c9ac69dbdbe7cb23e5b514b56664c5d3d6",
            "3 1 1 6d4d1b8e3c1c4a6f0e7d1f2b9a5c3e8d7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c",
            "2 1 1 8d02536c887482bc34ff54e41d2ba659bf85b341a0a20afadb5813dcfbcf286d",
            "2 1 1 276fd17c1b09e0e5a3a4e0e3c7f2fd4ad4d9f0a1e2b3c4d5e6f708192a3b4c5d"
        ]
    );
    // The string holding the list is longer than a kept string may be: it
    // is unpacked before anything is cut.
    let detail = &policy.failure_details[0];
    assert_eq!(detail.result_type, ReportResultType::TlsaInvalid);
    assert_eq!(detail.result_type.probe_result_type(), None);
    assert_eq!(detail.failed_session_count, 1);
    assert_eq!(report.repairs, repairs(&[Repair::PolicyStringNestedJson]));
}

#[test]
fn policy_string_may_be_missing_for_no_policy_found_and_fetch_errors() {
    let report = parsed("policy-string-missing.json");
    assert_eq!(report.policies.len(), 2);
    let none = &report.policies[0];
    assert_eq!(none.policy_type, PolicyType::NoPolicyFound);
    assert!(none.policy_strings.is_empty());
    assert_eq!(none.successful_sessions, 12);
    let fetch_error = &report.policies[1];
    assert_eq!(fetch_error.policy_type, PolicyType::Sts);
    assert!(fetch_error.policy_strings.is_empty());
    assert_eq!(fetch_error.failed_sessions, 6);
    let detail = &fetch_error.failure_details[0];
    assert_eq!(detail.result_type, ReportResultType::StsPolicyFetchError);
    assert_eq!(
        detail.result_type.probe_result_type().map(|t| t.as_str()),
        Some("sts-policy-fetch-error")
    );
    assert_eq!(
        (detail.sending_mta_ip, &detail.receiving_mx_hostname),
        (None, &None)
    );
    assert!(report.repairs.is_empty(), "{:?}", report.repairs);
}

#[test]
fn failure_details_without_sending_ip_or_receiving_host_are_kept() {
    let report = parsed("failure-detail-fields-missing.json");
    let details = &report.policies[0].failure_details;
    assert_eq!(details.len(), 2);
    assert_eq!(
        details[0].result_type,
        ReportResultType::StarttlsNotSupported
    );
    assert_eq!(details[0].sending_mta_ip, None);
    assert_eq!(
        details[0].receiving_mx_hostname.as_deref(),
        Some("mx1.example.com")
    );
    assert_eq!(details[0].failed_session_count, 3);
    assert_eq!(
        details[1].result_type,
        ReportResultType::CertificateNotTrusted
    );
    assert_eq!(details[1].sending_mta_ip, ip("198.51.100.7"));
    assert_eq!(details[1].receiving_mx_hostname, None);
    assert_eq!(details[1].failed_session_count, 1);
    assert!(report.repairs.is_empty(), "{:?}", report.repairs);
}

#[test]
fn contact_info_null_is_no_contact() {
    let report = parsed("contact-info-null.json");
    assert_eq!(report.contact_info, None);
    assert_eq!(report.organization_name, "Sender G");
    assert_eq!(report.policies[0].successful_sessions, 7);
    assert!(report.repairs.is_empty(), "{:?}", report.repairs);
}

#[test]
fn an_empty_failure_details_list_is_no_failures() {
    let report = parsed("failure-details-empty.json");
    let policy = &report.policies[0];
    assert!(policy.failure_details.is_empty());
    assert_eq!(
        (policy.successful_sessions, policy.failed_sessions),
        (64, 0)
    );
    assert!(report.repairs.is_empty(), "{:?}", report.repairs);
}

#[test]
fn result_types_outside_the_rfc_count_as_other() {
    let report = parsed("result-type-unknown.json");
    let details = &report.policies[0].failure_details;
    assert_eq!(details[0].result_type, ReportResultType::Other);
    assert_eq!(
        details[0].result_type_text.as_deref(),
        Some("tls-version-too-old")
    );
    assert_eq!(details[0].failed_session_count, 4);
    // Case differences are not a new result type; a count as a string reads.
    assert_eq!(details[1].result_type, ReportResultType::CertificateExpired);
    assert_eq!(details[1].failed_session_count, 5);
    assert_eq!(
        report.repairs,
        repairs(&[Repair::ResultTypeUnknown, Repair::CountAsText])
    );
}

#[test]
fn what_cannot_be_used_is_refused_with_its_cause() {
    let truncated = decode("truncated.json");
    assert!(
        matches!(truncated, Err(ReportError::Json(_))),
        "{truncated:?}"
    );
    assert_eq!(
        decode("report-id-missing.json"),
        Err(ReportError::Missing(RequiredField::ReportId))
    );
    for name in ["truncated.json", "report-id-missing.json"] {
        assert_eq!(
            decode(name).err().map(|e| e.cause()),
            Some("json"),
            "{name}"
        );
    }
    // A gzip body cut short is a gzip error, an oversized one too large.
    let packed = fixture("microsoft.json.gz");
    let cut = decode_report(&packed[..packed.len() / 2], DEFAULT_DECOMPRESSED_LIMIT);
    assert_eq!(cut.err().map(|e| e.cause()), Some("gzip"));
    let small = decode_report(&packed, 1000);
    assert_eq!(small, Err(ReportError::TooLarge { limit: 1000 }));
    assert_eq!(small.err().map(|e| e.cause()), Some("too-large"));
}

#[test]
fn odd_fields_do_not_drop_a_report() {
    // Wrong types everywhere a value is optional, unknown fields, a policy
    // entry that is no object, a single object for a list, numbers as text.
    let json = r#"{"organization-name":"Odd","report-id":42,"extra":{"deep":[1,2,{"x":null}]},
      "contact-info":["not","a","string"],
      "date-range":{"start-datetime":"2026-11-30T00:00:00Z","end-datetime":"2026-11-30T23:59:59Z"},
      "policies":[17,{"policy":{"policy-type":"STS","policy-domain":"Example.com","mx-host":{"a":1},
        "policy-string":"version: STSv1"},
        "summary":{"total-successful-session-count":"8","total-failure-session-count":2.0},
        "failure-details":{"result-type":"starttls-not-supported","sending-mta-ip":"not an ip",
          "receiving-ip":"[2001:db8::25]","failed-session-count":null}}]}"#;
    let report = mtasts_exporter::rfc::rfc8460::report::parse_report(json.as_bytes())
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(report.report_id, "42");
    assert_eq!(report.contact_info, None);
    assert_eq!(report.policies_unusable, 1);
    let policy = &report.policies[0];
    assert_eq!(policy.policy_type, PolicyType::Sts);
    assert_eq!(policy.policy_domain, "example.com");
    assert!(policy.mx_hosts.is_empty());
    assert_eq!(policy.policy_strings, ["version: STSv1"]);
    assert_eq!((policy.successful_sessions, policy.failed_sessions), (8, 2));
    let detail = &policy.failure_details[0];
    assert_eq!(detail.result_type, ReportResultType::StarttlsNotSupported);
    assert_eq!(detail.sending_mta_ip, None);
    assert_eq!(detail.receiving_ip, ip("2001:db8::25"));
    assert_eq!(detail.failed_session_count, 0);
    assert_eq!(
        report.repairs,
        repairs(&[
            Repair::ObjectForList,
            Repair::CountAsText,
            Repair::FailureCountMissing,
            Repair::AddressUnreadable,
            Repair::PolicyUnusable,
        ])
    );
}
