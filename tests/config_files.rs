//! Hostile configuration files (issue 17, points 3 to 6 and 8): what is
//! not a regular file, too large, not UTF-8, nested too deep, or full of
//! repeated problems is refused quickly, with one short, placed message.

use mtasts_exporter::config::{Config, ConfigError, MAX_CONFIG_BYTES};
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

/// `Config::load` on another thread, failing the test instead of hanging it
/// when the load blocks.
fn load_within(path: &Path, limit: Duration) -> Result<Config, ConfigError> {
    let (sender, receiver) = mpsc::channel();
    let owned = path.to_path_buf();
    std::thread::spawn(move || {
        let _ = sender.send(Config::load(&owned));
    });
    receiver
        .recv_timeout(limit)
        .unwrap_or_else(|_| panic!("loading {} blocked for {limit:?}", path.display()))
}

fn error_text(path: &Path) -> String {
    load_within(path, Duration::from_secs(20))
        .err()
        .unwrap_or_else(|| panic!("{} was accepted", path.display()))
        .to_string()
}

#[test]
fn a_fifo_is_refused_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("config.yml");
    let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    let message = load_within(&fifo, Duration::from_secs(5))
        .err()
        .unwrap()
        .to_string();
    assert!(message.contains("FIFO"), "{message}");
    assert!(message.contains("not a regular file"), "{message}");
}

#[test]
fn devices_and_directories_are_refused() {
    let message = error_text(Path::new("/dev/zero"));
    assert_eq!(
        message,
        "/dev/zero: is a character device, not a regular file"
    );
    let dir = tempfile::tempdir().unwrap();
    let message = error_text(dir.path());
    assert!(
        message.ends_with(": is a directory, not a regular file"),
        "{message}"
    );
}

#[test]
fn a_file_over_the_cap_is_refused_naming_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.yml");
    let file = std::fs::File::create(&path).unwrap();
    // Sparse: no disk space is used.
    file.set_len(MAX_CONFIG_BYTES + 1).unwrap();
    let message = error_text(&path);
    assert!(message.contains("16 MiB limit"), "{message}");
    assert!(
        message.contains(&format!("{} bytes", MAX_CONFIG_BYTES + 1)),
        "{message}"
    );
    // Exactly the cap is read (and then refused as YAML, not for its size).
    file.set_len(MAX_CONFIG_BYTES).unwrap();
    let message = error_text(&path);
    assert!(!message.contains("limit"), "{message}");
}

#[test]
fn a_byte_order_mark_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bom.yml");
    std::fs::write(&path, b"\xEF\xBB\xBFinterval: 5m\ndomains: [a.example]\n").unwrap();
    let config = load_within(&path, Duration::from_secs(20)).unwrap();
    assert_eq!(config.domains[0].name, "a.example");
    // And by `Config::parse` on text that kept it.
    assert!(Config::parse("\u{feff}domains: [a.example]\n").is_ok());
}

#[test]
fn utf16_is_named_and_other_bytes_are_placed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("utf16.yml");
    let mut bytes = vec![0xFF, 0xFE];
    bytes.extend("interval: 5m\n".encode_utf16().flat_map(u16::to_le_bytes));
    std::fs::write(&path, bytes).unwrap();
    let message = error_text(&path);
    assert!(message.contains("is UTF-16LE"), "{message}");
    assert!(message.contains("must be UTF-8"), "{message}");

    let path = dir.path().join("latin1.yml");
    std::fs::write(&path, b"interval: 5m\ndomains:\n  - b\xFCcher.example\n").unwrap();
    let message = error_text(&path);
    assert!(
        message.contains("latin1.yml:3:6: byte 0xFC is not UTF-8"),
        "{message}"
    );
}
