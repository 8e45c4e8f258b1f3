//! The configuration loader on arbitrary text: an error or a config, never
//! a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mtasts_exporter::config::Config;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Config::parse(text);
    }
});
