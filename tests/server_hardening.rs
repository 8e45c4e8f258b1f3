//! The HTTP server and the process under hostile use (issue 17): echoed
//! request values are capped, signals at awkward moments of start-up do no
//! harm, and idle clients cannot take every connection.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::harness::{get, start_exporter_in};
use support::https::policy_text;
use support::world::{ConfigOverrides, WorldSpec};

fn world() -> WorldSpec {
    let mut spec = WorldSpec::new();
    spec.mta_sts_domain(
        "good.test",
        "1",
        &policy_text("enforce", &["mx1.good.test"], 1_209_600),
    );
    spec
}

// --- Point 6: echoes of request values are capped. ---

/// A 10 KB `/probe` target or module is echoed as its first 100 characters
/// and its length, not in full.
#[tokio::test]
async fn probe_errors_echo_capped_values() {
    let running = start_exporter_in(world(), &["good.test"], ConfigOverrides::default()).await;
    let base = &running.base;
    let long = "a".repeat(10_000);
    let cut = format!("{}… (10000 bytes)", "a".repeat(100));
    for (url, status) in [
        (format!("{base}/probe?target={long}"), 400),
        (format!("{base}/probe?target=good.test&module={long}"), 400),
    ] {
        let (got, body) = get(&url).await;
        assert_eq!(got, status, "{body}");
        assert!(body.len() < 1024, "{} bytes: {body}", body.len());
        assert_eq!(body.matches(&cut).count(), 1, "{body}");
    }
}

/// `check` with a 10,000-character domain argument names it once, capped.
#[test]
fn check_argument_errors_echo_capped_values() {
    let long = "x".repeat(10_000);
    let out = Command::new(env!("CARGO_BIN_EXE_mtasts-exporter"))
        .arg("check")
        .arg(&long)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.len() < 1024, "{} bytes: {stderr}", stderr.len());
    let cut = format!("{}… (10000 bytes)", "x".repeat(100));
    assert_eq!(stderr.matches(&cut).count(), 1, "{stderr}");
    assert!(stderr.contains("is not a valid"), "{stderr}");
}

// --- Point 1: signals at awkward moments of start-up. ---

/// The binary, running on a world's config; killed when dropped.
struct Exporter {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_exporter(dir: &Path, config: &Path, name: &str, extra: &[&str]) -> Exporter {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = dir.join(format!("{name}.log"));
    let child = Command::new(env!("CARGO_BIN_EXE_mtasts-exporter"))
        .arg("--config.file")
        .arg(config)
        .arg("--web.listen-address")
        .arg(format!("127.0.0.1:{port}"))
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    Exporter {
        child,
        base: format!("http://127.0.0.1:{port}"),
        log,
    }
}

fn kill(child: &Child, signal: i32) {
    // SAFETY: kill(2) on our own child's pid.
    let sent = unsafe { libc::kill(child.id() as libc::pid_t, signal) };
    assert_eq!(sent, 0, "kill failed");
}

/// Whether `pid` has started its runtime (it has more than one thread):
/// `main` runs, the dynamic loader is done. Before that no program can
/// handle a signal; a SIGHUP then would kill anything.
fn runtime_started(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("Threads:"))
                .and_then(|v| v.trim().parse::<u32>().ok())
        })
        .is_some_and(|threads| threads > 1)
}

/// Polls until the log has `text` (up to ten seconds).
async fn wait_for_log(exporter: &Exporter, text: &str) -> bool {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        if std::fs::read_to_string(&exporter.log).is_ok_and(|l| l.contains(text)) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    false
}

#[derive(Debug, Clone, Copy)]
enum When {
    /// As soon as the runtime has started (config not read yet).
    AtStart,
    /// 1 ms after that (the config load, the app's start).
    OneMillisecondLater,
    /// Right after the "listening" log line.
    AfterListening,
}

/// SIGHUP at 0 ms, 1 ms and just after "listening", four times each: the
/// process survives every one, answers `/-/healthy`, and reloads on the
/// SIGHUPs that arrive once its configuration is read.
#[tokio::test]
async fn sighup_during_start_up_does_no_harm() {
    let world = world().start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yml");
    std::fs::write(&config, world.config_yaml(&["good.test"])).unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    for round in 0..4 {
        for when in [
            When::AtStart,
            When::OneMillisecondLater,
            When::AfterListening,
        ] {
            let name = format!("{when:?}-{round}");
            let mut exporter = spawn_exporter(dir.path(), &config, &name, &[]);
            let pid = exporter.child.id();
            let spawned = Instant::now();
            while !runtime_started(pid) {
                assert!(
                    spawned.elapsed() < Duration::from_secs(5),
                    "{name}: no runtime"
                );
                std::hint::spin_loop();
            }
            match when {
                When::AtStart => {}
                When::OneMillisecondLater => std::thread::sleep(Duration::from_millis(1)),
                When::AfterListening => {
                    assert!(wait_for_log(&exporter, "listening").await, "{name}");
                }
            }
            kill(&exporter.child, libc::SIGHUP);
            let mut healthy = false;
            for _ in 0..200 {
                if let Some(status) = exporter.child.try_wait().unwrap() {
                    panic!("{name}: SIGHUP killed the exporter ({status})");
                }
                let answer = client.get(format!("{}/-/healthy", exporter.base)).send();
                if answer.await.is_ok_and(|r| r.status() == 200) {
                    healthy = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            assert!(healthy, "{name}: never healthy");
            if let When::AfterListening = when {
                assert!(wait_for_log(&exporter, "SIGHUP: reloading").await, "{name}");
            }
            kill(&exporter.child, libc::SIGTERM);
            assert_eq!(exporter.child.wait().unwrap().code(), Some(0), "{name}");
        }
    }
}
