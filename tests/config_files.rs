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
    load_within(path, Duration::from_secs(120))
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

#[test]
fn deep_nesting_is_refused_before_parsing() {
    // 200 KB of `[` took 37 s to refuse (issue 17 point 3).
    let issues = Config::parse(&"[".repeat(200 * 1024)).unwrap_err();
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert_eq!(
        issues[0].render("c.yml"),
        "c.yml:1:256: mappings and sequences are nested deeper than 64 levels, the limit (a configuration needs 4)"
    );
    // Block nesting is counted too, and so are mappings.
    let issues = Config::parse(&format!("{}x\n", "- ".repeat(100_000))).unwrap_err();
    assert!(issues[0].problem.contains("deeper than 64"), "{issues:?}");
    assert_eq!(issues[0].render("c.yml").split(':').nth(2), Some("129"));
    let issues = Config::parse(&"{a: ".repeat(100_000)).unwrap_err();
    assert!(issues[0].problem.contains("deeper than 64"), "{issues:?}");
    // 64 levels are not refused for their depth.
    let deep = format!("x: {}{}", "[".repeat(63), "]".repeat(63));
    let issues = Config::parse(&deep).unwrap_err();
    assert!(!issues[0].problem.contains("deeper"), "{issues:?}");
}

#[test]
fn nesting_after_a_syntax_error_is_bounded_too() {
    // saphyr refuses a tab after `:`, serde_yaml accepts it: the file is
    // still parsed by serde_yaml when what follows cannot nest deeply...
    let config = Config::parse("interval:\t5m\ndomains: [a.example, {name: b.example}]\n").unwrap();
    assert_eq!(config.domains.len(), 2);
    // ... and refused, at saphyr's error, when it could.
    let text = format!("interval:\t5m\ndomains: {}", "[".repeat(200 * 1024));
    let issues = Config::parse(&text).unwrap_err();
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert_eq!(
        issues[0].position.map(|p| (p.line, p.column)),
        Some((1, 11)),
        "{issues:?}"
    );
}

/// Not a check but a measurement: `cargo test --test config_files --
/// --ignored --nocapture` prints how long refusals and a large valid file
/// take.
#[test]
#[ignore]
fn print_times() {
    use std::time::Instant;
    for (name, text) in [
        ("16k levels of [", "[".repeat(16 * 1024)),
        ("64k levels of [", "[".repeat(64 * 1024)),
        ("200 KB of [", "[".repeat(200 * 1024)),
        ("100k levels of - ", "- ".repeat(100_000)),
    ] {
        let started = Instant::now();
        let refused = Config::parse(&text).is_err();
        println!("{name}: refused={refused} in {:?}", started.elapsed());
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("world.yml");
    let mut text = String::from("interval: 1h\ntimeout: 30s\ndomains:\n");
    for i in 0..100_000 {
        if i % 10 == 0 {
            text.push_str(&format!("  - name: d{i}.test\n    timeout: 5s\n"));
        } else {
            text.push_str(&format!("  - d{i}.test\n"));
        }
    }
    std::fs::write(&path, &text).unwrap();
    let started = Instant::now();
    let config = Config::load(&path).unwrap();
    let load = started.elapsed();
    let started = Instant::now();
    mtasts_exporter::config::yaml::check_depth(&text).unwrap();
    let depth = started.elapsed();
    let started = Instant::now();
    mtasts_exporter::config::yaml::check_characters(&text).unwrap();
    let characters = started.elapsed();
    println!(
        "100,000 domains ({} bytes): load {load:?}, of which the depth check {depth:?} and the character check {characters:?}",
        text.len()
    );
    assert_eq!(config.domains.len(), 100_000);
}

#[test]
fn a_tab_and_a_nul_are_placed_where_they_are() {
    // Was 2:1 (the `domains` key) and 1:1.
    let text = "interval: 5m\ndomains:\n  - a.example\n\t- b.example\n";
    let issues = Config::parse(text).unwrap_err();
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert_eq!(
        issues[0].position.map(|p| (p.line, p.column)),
        Some((4, 1)),
        "{issues:?}"
    );
    assert!(issues[0].problem.contains("tab"), "{issues:?}");
    let text = "interval: 5m\ntimeout: 5s\ndomains:\n  - a.example\n  - b.example\n  - c.example\n  - d.example\n  - e.example\n  - f\0.example\n";
    let issues = Config::parse(text).unwrap_err();
    assert_eq!(
        issues[0].render("c.yml"),
        "c.yml:9:6: character U+0000 is not allowed in YAML (a control character)"
    );
    for (text, at, code) in [
        ("a: \u{7f}\n", (1, 4), "U+007F"),
        ("a: 1\nb: x\u{9b}y\n", (2, 5), "U+009B"),
        ("a: 1\r\nb: \u{fffe}\n", (2, 4), "U+FFFE"),
    ] {
        let issues = Config::parse(text).unwrap_err();
        assert_eq!(
            issues[0].position.map(|p| (p.line, p.column)),
            Some(at),
            "{text:?}: {issues:?}"
        );
        assert!(issues[0].problem.contains(code), "{issues:?}");
    }
    // NEL, non-breaking space and text beyond ASCII stay allowed.
    assert!(Config::parse("interval: 5m # \u{a0}é\ndomains: [bücher.example]\n").is_ok());
    assert!(mtasts_exporter::config::yaml::check_characters("a\u{85}b\u{a0}c\u{fffd}").is_ok());
}

#[test]
fn many_problems_of_one_kind_are_counted_not_listed() {
    // 200,000 duplicate domains printed 200,000 lines (18 MB).
    let mut text = String::from("domains:\n");
    for _ in 0..200_000 {
        text.push_str("  - a.example\n");
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dup.yml");
    std::fs::write(&path, &text).unwrap();
    let message = error_text(&path);
    let lines: Vec<&str> = message.lines().collect();
    assert_eq!(lines.len(), 21, "{message}");
    assert!(
        lines[0].ends_with("dup.yml:3:5: field domains[1]: duplicate domain \"a.example\""),
        "{message}"
    );
    assert!(
        lines[20].ends_with(
            "dup.yml: … and 199979 more problems like domains[…]: duplicate domain \"…\", from line 23 on"
        ),
        "{message}"
    );
}

#[test]
fn errors_echo_bad_values_capped() {
    // A 10 MB interval gave a 10 MB line, a 1 MB domain 1 MB (point 6).
    let dir = tempfile::tempdir().unwrap();
    let huge = "9".repeat(10_000_000);
    let mega = format!("{}.example", "a".repeat(1_000_000));
    let key = "k".repeat(1_000_000);
    for (name, text) in [
        ("interval", format!("interval: {huge}x\n")),
        ("domain", format!("domains:\n  - {mega}\n")),
        (
            "domain entry",
            format!("domains:\n  - name: {mega}\n    interval: 5m\n"),
        ),
        ("type", format!("ports:\n  https: \"{key}\"\n")),
        ("unknown key", format!("resolver:\n  {key}: 1\n")),
        (
            "nameserver",
            format!("resolver:\n  nameservers: [\"{mega}\"]\n"),
        ),
        ("helo", format!("smtp:\n  helo_name: \"{mega}!\"\n")),
        (
            "target",
            format!("probe:\n  allowed_targets: [\"{mega}!\"]\n"),
        ),
        ("ca file", format!("tls:\n  ca_file: /nonexistent/{mega}\n")),
    ] {
        let path = dir.path().join("c.yml");
        std::fs::write(&path, &text).unwrap();
        let error = load_within(&path, Duration::from_secs(60)).err().unwrap();
        let message = error.to_string();
        let shown = &message[..message.len().min(2000)];
        assert!(
            message.len() < 1024,
            "{name}: {} bytes: {shown}",
            message.len()
        );
        assert!(message.contains(" bytes)"), "{name}: {message}");
        // What a reload logs, field by field.
        if let ConfigError::Invalid { issues, .. } = error {
            for issue in issues {
                assert!(
                    issue.field.len() + issue.problem.len() < 1024,
                    "{name}: {issue:?}"
                );
            }
        }
    }
}

#[test]
fn the_web_config_and_its_files_are_read_the_same_way() {
    use mtasts_exporter::config::web::WebConfig;
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("cert.pem");
    let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    let web = dir.path().join("web.yml");
    std::fs::write(
        &web,
        format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n",
            fifo.display(),
            fifo.display()
        ),
    )
    .unwrap();
    let (sender, receiver) = mpsc::channel();
    let (web_path, fifo_path) = (web.clone(), fifo.clone());
    std::thread::spawn(move || {
        let _ = sender.send((
            WebConfig::load(&web_path).err().map(|e| e.to_string()),
            WebConfig::load(&fifo_path).err().map(|e| e.to_string()),
        ));
    });
    let (with_fifo_cert, fifo_itself) = receiver.recv_timeout(Duration::from_secs(5)).unwrap();
    let with_fifo_cert = with_fifo_cert.unwrap();
    assert!(
        with_fifo_cert.contains("field tls_server_config.cert_file"),
        "{with_fifo_cert}"
    );
    assert!(
        with_fifo_cert.contains("is a FIFO (named pipe), not a regular file"),
        "{with_fifo_cert}"
    );
    let fifo_itself = fifo_itself.unwrap();
    assert!(
        fifo_itself.ends_with("cert.pem: is a FIFO (named pipe), not a regular file"),
        "{fifo_itself}"
    );
}
