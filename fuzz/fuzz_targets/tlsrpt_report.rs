//! The TLSRPT report parser (RFC 8460 §4.4) and body decoding (§5.2) on
//! arbitrary bytes: never panic, what is kept stays within the caps, and a
//! body that is not gzip reads the same as its JSON.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mtasts_exporter::rfc::rfc8460::report::{
    parse_report, MAX_FAILURE_DETAILS, MAX_POLICIES, MAX_POLICY_STRINGS, MAX_TEXT_CHARS,
};
use mtasts_exporter::rfc::rfc8460::report_body::{decode_report, is_gzip};

/// A kept string: at most the cap, plus the "… (N bytes)" mark.
fn bounded(text: &str) -> bool {
    text.chars().count() <= MAX_TEXT_CHARS + 30
}

fuzz_target!(|data: &[u8]| {
    let decoded = decode_report(data, 1024 * 1024);
    if !is_gzip(data) && data.len() <= 1024 * 1024 {
        assert_eq!(decoded, parse_report(data));
    }
    if let Ok(report) = decoded {
        assert!(!report.organization_name.trim().is_empty() && bounded(&report.organization_name));
        assert!(!report.report_id.trim().is_empty() && bounded(&report.report_id));
        assert!(report.date_range.start <= report.date_range.end);
        assert!(report.policies.len() <= MAX_POLICIES);
        for policy in &report.policies {
            assert!(!policy.policy_domain.is_empty() && policy.policy_domain.len() <= 253);
            assert!(policy.policy_strings.len() <= MAX_POLICY_STRINGS);
            assert!(policy.mx_hosts.len() <= MAX_POLICY_STRINGS);
            assert!(policy.failure_details.len() <= MAX_FAILURE_DETAILS);
            assert!(policy.policy_strings.iter().all(|s| bounded(s)));
        }
    }
});
