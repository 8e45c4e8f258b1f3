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
