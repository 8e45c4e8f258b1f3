//! What a new user meets first, run as the binary: the `--help` text, no
//! configuration file, a configuration without domains, and
//! `--web.listen-address` given more than once. Everything on loopback;
//! no domain is probed.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn exporter() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mtasts-exporter"))
}

/// The exporter process, killed if a test fails before it stops it.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Running {
    /// SIGTERM, then its exit code.
    fn stop(mut self) -> Option<i32> {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.0.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
        self.0.wait().unwrap().code()
    }
}

/// A port nothing listens on now (the OS's choice on 127.0.0.1).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `what` every 50 ms until it holds; false after a minute (a
/// deadline for a hung run, not a timing assertion).
fn eventually(mut what: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if what() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// `GET /-/healthy` over plain HTTP/1.1: the status line, or None when
/// nothing answers.
fn healthy(address: &str) -> Option<String> {
    let mut stream = TcpStream::connect(address).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    stream
        .write_all(b"GET /-/healthy HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    answer.lines().next().map(str::to_string)
}

fn empty_config(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("empty.yml");
    std::fs::write(&path, "domains: []\n").unwrap();
    path
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn help_shows_the_default_configuration_file() {
    let out = exporter().arg("--help").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("[default: mtasts-exporter.yml in the working directory"),
        "{help}"
    );
    assert!(help.contains("[default: 0.0.0.0:10461]"), "{help}");
    assert!(help.contains("more than once"), "{help}");
}

#[test]
fn without_a_configuration_file_it_says_how_to_give_one() {
    let dir = tempfile::tempdir().unwrap();
    let out = exporter()
        .current_dir(dir.path())
        .args(["--web.listen-address", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("mtasts-exporter.yml: cannot read"), "{text}");
    assert!(text.contains("give one with --config.file FILE"), "{text}");

    // `check` with neither domains nor a configuration says the same.
    let out = exporter()
        .current_dir(dir.path())
        .arg("check")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("or give --config.file FILE"), "{text}");
}

#[test]
fn a_configuration_without_domains_starts_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let config = empty_config(dir.path());
    let log = dir.path().join("exporter.log");
    let port = free_port();
    let running = Running(
        exporter()
            .arg("--config.file")
            .arg(&config)
            .args(["--web.listen-address", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let read = || std::fs::read_to_string(&log).unwrap_or_default();
    assert!(eventually(|| read().contains("listening")), "{}", read());
    let logged = read();
    let warning = logged
        .lines()
        .find(|l| l.contains("no domains configured"))
        .unwrap_or_else(|| panic!("no warning: {logged}"));
    assert!(warning.contains("level=warn"), "{warning}");
    assert!(warning.contains("domains:"), "{warning}");
    // It runs all the same: /probe alone is a set-up of its own.
    assert_eq!(
        healthy(&format!("127.0.0.1:{port}")).as_deref(),
        Some("HTTP/1.1 200 OK")
    );
    assert_eq!(running.stop(), Some(0));
}

#[test]
fn every_listen_address_given_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let config = empty_config(dir.path());
    let addresses = [
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
    ];
    let log = dir.path().join("exporter.log");
    let running = Running(
        exporter()
            .arg("--config.file")
            .arg(&config)
            .args(["--web.listen-address", &addresses[0]])
            .args(["--web.listen-address", &addresses[1]])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let read = || std::fs::read_to_string(&log).unwrap_or_default();
    assert!(eventually(|| read().contains("listening")), "{}", read());
    for address in &addresses {
        assert_eq!(
            healthy(address).as_deref(),
            Some("HTTP/1.1 200 OK"),
            "{address}"
        );
        assert!(read().contains(address.as_str()), "{}", read());
    }
    // Again, in the other order: neither listener waits for the other.
    for address in addresses.iter().rev() {
        assert_eq!(healthy(address).as_deref(), Some("HTTP/1.1 200 OK"));
    }
    assert_eq!(running.stop(), Some(0));
}

#[test]
fn an_address_that_cannot_be_bound_stops_the_start_and_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let config = empty_config(dir.path());
    // Held by the test for the whole run.
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = busy.local_addr().unwrap().to_string();
    let free = format!("127.0.0.1:{}", free_port());
    for order in [[&free, &busy], [&busy, &free]] {
        let out = exporter()
            .arg("--config.file")
            .arg(&config)
            .args(["--web.listen-address", order[0]])
            .args(["--web.listen-address", order[1]])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let text = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{text}");
        assert!(
            text.contains(&format!("cannot listen on {busy}: ")),
            "{text}"
        );
        assert!(
            !text.contains(&format!("cannot listen on {free}")),
            "{text}"
        );
    }
}
