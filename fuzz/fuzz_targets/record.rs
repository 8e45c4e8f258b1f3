//! The STS and TLSRPT TXT record parsers (RFC 8461 §3.1, RFC 8460 §3) and
//! the record-set rules on arbitrary text: never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mtasts_exporter::rfc::rfc8461::record::{is_sts_candidate, parse_record};
use mtasts_exporter::rfc::rfc8460::record::parse_tlsrpt;
use mtasts_exporter::rfc::rfc8461::record_set::evaluate_txt;
use mtasts_exporter::rfc::rfc8460::record_set::evaluate_tlsrpt;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = is_sts_candidate(&text);
    let _ = parse_record(&text);
    let _ = parse_tlsrpt(&text);
    let set: Vec<String> = text.split('\n').map(str::to_string).collect();
    let _ = evaluate_txt(&set);
    let _ = evaluate_tlsrpt(&set);
});
