//! The policy parser (RFC 8461 §3.2) on arbitrary bytes: never panics, and
//! what it accepts renders to text that parses back to the same policy.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mtasts_exporter::rfc::rfc8461::policy::parse_policy;

fuzz_target!(|data: &[u8]| {
    if let Ok(policy) = parse_policy(data) {
        let rendered = policy.render();
        assert_eq!(parse_policy(rendered.as_bytes()), Ok(policy));
    }
});
