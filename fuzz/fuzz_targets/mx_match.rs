//! MX pattern matching and the two-way comparison (RFC 8461 §4.1): never
//! panics, and a covered host is one some pattern matches.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mtasts_exporter::rfc::rfc8461::mx::{MxCoverage, MxPattern};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.split('|');
    let patterns: Vec<MxPattern> = parts
        .next()
        .unwrap_or("")
        .split(',')
        .map(|p| match p.strip_prefix("*.") {
            Some(rest) => MxPattern {
                wildcard: true,
                domain: rest.to_ascii_lowercase(),
            },
            None => MxPattern {
                wildcard: false,
                domain: p.to_ascii_lowercase(),
            },
        })
        .collect();
    let hosts: Vec<String> = parts.map(str::to_string).collect();
    let coverage = MxCoverage::compare(&hosts, &patterns);
    for (host, covered) in &coverage.hosts {
        assert_eq!(*covered, patterns.iter().any(|p| p.matches(host)));
    }
});
