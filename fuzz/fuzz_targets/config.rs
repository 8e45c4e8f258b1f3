//! The configuration loader on arbitrary text: an error or a config, never
//! a panic. The field-position index runs on every input too, not only on
//! the ones that reach it through an error.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mtasts_exporter::config::{yaml::FieldPositions, Config};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Config::parse(text);
        let positions = FieldPositions::index(text);
        let _ = positions.find("domains[0].interval");
    }
});
