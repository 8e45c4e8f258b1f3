//! Property tests: parsers never panic on arbitrary input, and a rendered
//! policy parses back to the same value.

use mtasts_exporter::config::Config;
use mtasts_exporter::rfc::rfc8460::record::parse_tlsrpt;
use mtasts_exporter::rfc::rfc8461::mx::MxPattern;
use mtasts_exporter::rfc::rfc8461::policy::{parse_policy, Mode, Policy};
use mtasts_exporter::rfc::rfc8461::record::parse_record;
use proptest::prelude::*;

fn label() -> impl Strategy<Value = String> {
    "[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?"
}

fn pattern() -> impl Strategy<Value = MxPattern> {
    (any::<bool>(), proptest::collection::vec(label(), 1..4)).prop_map(|(wildcard, labels)| {
        MxPattern {
            wildcard,
            domain: labels.join("."),
        }
    })
}

fn policy() -> impl Strategy<Value = Policy> {
    (
        prop_oneof![Just(Mode::Enforce), Just(Mode::Testing), Just(Mode::None)],
        0u64..=31_557_600,
        proptest::collection::vec(pattern(), 1..5),
        proptest::collection::vec(("[a-z][a-z0-9_.-]{0,10}", "[!-~]([ -~]{0,20}[!-~])?"), 0..3),
    )
        .prop_filter(
            "extension names must not be the known fields",
            |(_, _, _, ext)| {
                ext.iter()
                    .all(|(k, _)| !["version", "mode", "max_age", "mx"].contains(&k.as_str()))
            },
        )
        .prop_map(|(mode, max_age, mx, extensions)| Policy {
            mode,
            max_age,
            mx,
            extensions,
            duplicate_fields: Vec::new(),
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn rendered_policy_parses_back(policy in policy()) {
        let text = policy.render();
        prop_assert_eq!(parse_policy(text.as_bytes()), Ok(policy.clone()));
        // CRLF line ends are the same policy.
        let crlf = text.replace('\n', "\r\n");
        prop_assert_eq!(parse_policy(crlf.as_bytes()), Ok(policy));
    }

    /// RFC 8461 §3.2: a repeat of a field other than `mx` is ignored, so
    /// appending one never changes what the policy says; it is reported.
    #[test]
    fn a_repeated_field_changes_nothing_but_is_reported(
        policy in policy(),
        field in prop_oneof![Just("version"), Just("mode"), Just("max_age")],
        value in "[!-~]{1,12}",
    ) {
        let text = format!("{}{field}: {value}\n", policy.render());
        let parsed = parse_policy(text.as_bytes());
        prop_assert!(parsed.is_ok(), "{:?}", parsed);
        let parsed = parsed.unwrap_or_else(|_| unreachable!());
        prop_assert_eq!((parsed.mode, parsed.max_age, &parsed.mx), (policy.mode, policy.max_age, &policy.mx));
        prop_assert_eq!(parsed.duplicate_fields.len(), 1);
        prop_assert_eq!(parsed.duplicate_fields[0].field, field);
        prop_assert_eq!(parsed.duplicate_fields[0].values.last(), Some(&value));
    }

    #[test]
    fn policy_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let _ = parse_policy(&bytes);
    }

    #[test]
    fn policy_like_text_never_panics(text in "((version|mode|max_age|mx|x)[:]?[ \t]*[ -~]{0,30}(\r?\n)?){0,12}") {
        let _ = parse_policy(text.as_bytes());
    }

    #[test]
    fn record_parsers_never_panic(text in "(v=STSv1|v=TLSRPTv1)?[ -~\t]{0,200}") {
        let _ = parse_record(&text);
        let _ = parse_tlsrpt(&text);
    }

    #[test]
    fn mx_matching_never_panics(pattern in pattern(), host in "[a-zA-Z0-9.-]{0,80}") {
        let _ = pattern.matches(&host);
    }

    #[test]
    fn wildcard_matches_exactly_one_label(pattern in pattern(), extra in label(), deeper in label()) {
        let host = format!("{extra}.{}", pattern.domain);
        prop_assert_eq!(pattern.matches(&host), pattern.wildcard);
        let deep = format!("{deeper}.{extra}.{}", pattern.domain);
        prop_assert!(!pattern.wildcard || !pattern.matches(&deep));
    }

    #[test]
    fn config_parser_never_panics(text in "[ -~\n]{0,400}") {
        let _ = Config::parse(&text);
    }

    #[test]
    fn config_like_yaml_never_panics(
        text in "((interval|timeout|concurrency|domains|resolver|ports|shard|probe|modules|name): ?(\\[|\\{|-?[0-9]{1,25}|[a-z0-9.]{0,20}|\"[ -~]{0,10}\")\n( +- [ -~]{0,20}\n){0,3}){0,8}"
    ) {
        let _ = Config::parse(&text);
    }
}

/// Field names of an RFC 8460 §4.4 report, and a few others.
fn report_key() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(vec![
            "organization-name",
            "date-range",
            "start-datetime",
            "end-datetime",
            "contact-info",
            "report-id",
            "policies",
            "policy",
            "policy-type",
            "policy-string",
            "policy-domain",
            "mx-host",
            "summary",
            "total-successful-session-count",
            "total-failure-session-count",
            "failure-details",
            "result-type",
            "sending-mta-ip",
            "receiving-mx-hostname",
            "receiving-mx-helo",
            "receiving-ip",
            "failed-session-count",
            "additional-information",
            "failure-reason-code",
        ])
        .prop_map(str::to_string),
        "[a-z-]{1,12}",
    ]
}

/// JSON values shaped like reports: report field names, values senders
/// write (date-times, policy types, result types, addresses, nested JSON
/// in a string) and anything else, nested up to four levels.
fn report_like_json() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        proptest::sample::select(vec![
            "2026-11-30T00:00:00Z",
            "2026-11-30T23:59:59",
            "2026-11-31T00:00:00Z",
            "sts",
            "tlsa",
            "no-policy-found",
            "certificate-expired",
            "dane-required",
            "mx: mx1.example.com",
            "*.example.com",
            "192.0.2.1",
            "[2001:db8::1]",
            "[\"3 1 1 ab\", 7, null]",
            "[",
            "12",
            "",
        ])
        .prop_map(Value::from),
        "[ -~]{0,24}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 96, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((report_key(), inner), 0..8)
                .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// RFC 8460 §4.4: whatever JSON a sender writes, the lenient parser
    /// answers with a report or a typed error, never a panic, and what it
    /// keeps stays within its caps.
    #[test]
    fn report_parser_never_panics_on_report_like_json(value in report_like_json()) {
        use mtasts_exporter::rfc::rfc8460::report::{parse_report, MAX_POLICIES, MAX_FAILURE_DETAILS};
        let text = value.to_string();
        match parse_report(text.as_bytes()) {
            Ok(report) => {
                prop_assert!(!report.organization_name.is_empty());
                prop_assert!(!report.report_id.is_empty());
                prop_assert!(report.date_range.start <= report.date_range.end);
                prop_assert!(report.policies.len() <= MAX_POLICIES);
                for policy in &report.policies {
                    prop_assert!(!policy.policy_domain.is_empty());
                    prop_assert!(policy.failure_details.len() <= MAX_FAILURE_DETAILS);
                }
            }
            Err(error) => prop_assert_eq!(error.cause(), "json"),
        }
    }

    /// Arbitrary bytes, plain or behind the gzip magic, as a report body
    /// (RFC 8460 §5.2): a typed error or a report, never a panic.
    #[test]
    fn report_bodies_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600), gzip_magic in any::<bool>()) {
        use mtasts_exporter::rfc::rfc8460::report_body::decode_report;
        let body = if gzip_magic { [&[0x1f, 0x8b][..], &bytes].concat() } else { bytes };
        if let Err(error) = decode_report(&body, 4096) {
            prop_assert!(["json", "gzip", "too-large"].contains(&error.cause()));
        }
    }
}

/// The places of a report that are optional (README, "How strictly the
/// RFCs are read"): any value there, of any type, keeps the report.
const OPTIONAL_REPORT_PLACES: [&str; 14] = [
    "/contact-info",
    "/policies/0/policy/policy-type",
    "/policies/0/policy/policy-string",
    "/policies/0/policy/mx-host",
    "/policies/0/failure-details",
    "/policies/0/failure-details/0",
    "/policies/0/failure-details/0/result-type",
    "/policies/0/failure-details/0/sending-mta-ip",
    "/policies/0/failure-details/0/receiving-mx-hostname",
    "/policies/0/failure-details/0/receiving-ip",
    "/policies/0/failure-details/0/failed-session-count",
    "/policies/0/failure-details/0/failure-reason-code",
    "/policies/1",
    "/unknown-field",
];

/// The RFC 8460 §4.4 example, reduced, with a second policy to spoil.
fn valid_report() -> serde_json::Value {
    serde_json::json!({
        "organization-name": "Company-X",
        "date-range": {"start-datetime": "2016-04-01T00:00:00Z", "end-datetime": "2016-04-01T23:59:59Z"},
        "contact-info": "sts-reporting@company-x.example",
        "report-id": "5065427c-23d3-47ca-b6e0-946ea0e8c4be",
        "policies": [{
            "policy": {"policy-type": "sts", "policy-string": ["version: STSv1", "mode: testing"],
                       "policy-domain": "company-y.example", "mx-host": ["*.mail.company-y.example"]},
            "summary": {"total-successful-session-count": 5326, "total-failure-session-count": 303},
            "failure-details": [{"result-type": "certificate-expired", "sending-mta-ip": "2001:db8:abcd:0012::1",
                                 "receiving-mx-hostname": "mx1.mail.company-y.example", "failed-session-count": 100}]
        }, {
            "policy": {"policy-type": "tlsa", "policy-domain": "company-y.example"},
            "summary": {"total-successful-session-count": 1, "total-failure-session-count": 0}
        }],
        "unknown-field": 1
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// A report is not dropped for odd optional fields: whatever value,
    /// of whatever type, stands at any of its optional places, the report
    /// still counts, with its identity and first policy's counts intact.
    #[test]
    fn odd_optional_fields_never_drop_a_report(
        changes in proptest::collection::vec(
            (proptest::sample::select(OPTIONAL_REPORT_PLACES.to_vec()), report_like_json()),
            1..5,
        )
    ) {
        use mtasts_exporter::rfc::rfc8460::report::parse_report;
        let mut value = valid_report();
        for (place, odd) in changes {
            if let Some(slot) = value.pointer_mut(place) {
                *slot = odd;
            }
        }
        let parsed = parse_report(value.to_string().as_bytes());
        prop_assert!(parsed.is_ok(), "{:?} for {}", parsed, value);
        let report = parsed.unwrap_or_else(|_| unreachable!());
        prop_assert_eq!(report.report_id.as_str(), "5065427c-23d3-47ca-b6e0-946ea0e8c4be");
        prop_assert_eq!(report.policies[0].policy_domain.as_str(), "company-y.example");
        prop_assert_eq!(
            (report.policies[0].successful_sessions, report.policies[0].failed_sessions),
            (5326, 303)
        );
    }
}
