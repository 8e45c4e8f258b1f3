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

/// A 10,000-character flag value refused by clap, or an address that
/// cannot be bound, is echoed capped too.
#[tokio::test]
async fn refused_flag_values_are_echoed_capped() {
    let world = world().start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yml");
    std::fs::write(&config, world.config_yaml(&["good.test"])).unwrap();
    let long = "y".repeat(10_000);
    let cut = format!("{}… (10000 bytes)", "y".repeat(100));
    let config = config.to_str().unwrap();
    let with_equals = format!("--web.listen-address={long}");
    for (args, code) in [
        (vec!["check", "--output", &long], 2),
        (vec!["--config.file", config, "--log.level", &long], 2),
        (vec!["--config.file", config, &with_equals], 1),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_mtasts-exporter"))
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{stderr}");
        assert!(stderr.len() < 1024, "{} bytes: {stderr}", stderr.len());
        assert_eq!(stderr.matches(&cut).count(), 1, "{stderr}");
    }
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

// --- Point 7 (server half): the connection cap and the descriptor limit. ---

/// The in-process exporter on `world`'s config, served by
/// `server::run_limited` with `max_connections` and `header_read`.
async fn start_capped(
    world: &support::World,
    max_connections: usize,
    header_read: Duration,
) -> (String, tempfile::TempDir) {
    use mtasts_exporter::{app::App, config::web::WebConfig, config::Config, server};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yml");
    std::fs::write(&path, world.config_yaml(&["good.test"])).unwrap();
    let app = App::start(&path, Config::load(&path).unwrap()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let state = std::sync::Arc::new(server::AppState {
        app,
        telemetry_path: "/metrics".into(),
        web: WebConfig::default(),
        client_timeouts: server::ClientTimeouts {
            tls_handshake: Duration::from_secs(1),
            header_read,
        },
    });
    let cap = std::num::NonZeroUsize::new(max_connections).unwrap();
    tokio::spawn(server::run_limited(
        listener,
        state,
        std::future::pending(),
        cap,
    ));
    (address, dir)
}

/// One `GET path` on a fresh connection; the answer's status line.
async fn raw_get(address: &str, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// With a cap of 8, 20 idle clients hold at most 8 connections: each new
/// client takes the place of the one idle the longest. A scrape behind
/// them is answered at once, not after the (here 30 s) header timeout.
#[tokio::test]
async fn idle_clients_beyond_the_cap_cannot_lock_out_a_scrape() {
    use tokio::io::AsyncReadExt;
    let world = world().start().await;
    let (address, _dir) = start_capped(&world, 8, Duration::from_secs(30)).await;
    assert!(raw_get(&address, "/-/healthy").await.ends_with("200 OK"));
    let mut idle = Vec::new();
    for _ in 0..20 {
        idle.push(tokio::net::TcpStream::connect(&address).await.unwrap());
    }
    let started = Instant::now();
    let status = tokio::time::timeout(Duration::from_secs(10), raw_get(&address, "/metrics"))
        .await
        .expect("/metrics not answered within 10 s");
    let waited = started.elapsed();
    assert!(status.ends_with("200 OK"), "{status}");
    assert!(waited < Duration::from_secs(2), "{waited:?}");
    // The server closed the idle connections beyond the cap (reads end at
    // once) and kept the newest (reads wait).
    let mut closed = 0;
    for stream in &mut idle {
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_millis(50), stream.read(&mut byte)).await;
        if matches!(read, Ok(Ok(0)) | Ok(Err(_))) {
            closed += 1;
        }
    }
    eprintln!("/metrics answered in {waited:?}; {closed} of 20 idle clients closed");
    assert!(
        (12..20).contains(&closed),
        "{closed} of 20 idle clients closed"
    );
}

/// The exporter raises a low soft descriptor limit to the hard one and
/// logs both.
#[tokio::test]
async fn the_soft_descriptor_limit_is_raised_and_logged() {
    use std::os::unix::process::CommandExt;
    let world = world().start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yml");
    std::fs::write(&config, world.config_yaml(&["good.test"])).unwrap();
    let mut hard = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit into a struct we own.
    assert_eq!(
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut hard) },
        0
    );
    let log = dir.path().join("limit.log");
    let mut command = Command::new(env!("CARGO_BIN_EXE_mtasts-exporter"));
    command
        .arg("--config.file")
        .arg(&config)
        .arg("--web.listen-address")
        .arg("127.0.0.1:0")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    // SAFETY: only setrlimit, async-signal-safe, between fork and exec.
    unsafe {
        command.pre_exec(move || {
            let low = libc::rlimit {
                rlim_cur: 256.min(hard.rlim_max),
                rlim_max: hard.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &low) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let exporter = Exporter {
        child: command.spawn().unwrap(),
        base: String::new(),
        log,
    };
    assert!(wait_for_log(&exporter, "file descriptor limit").await);
    let logged = std::fs::read_to_string(&exporter.log).unwrap();
    let expected = format!(
        "soft={} hard={} previous_soft={}",
        hard.rlim_max,
        hard.rlim_max,
        256.min(hard.rlim_max)
    );
    assert!(logged.contains(&expected), "{expected}\n{logged}");
}

/// Under systemd (`Type=notify`, $NOTIFY_SOCKET) the exporter says
/// READY=1 once it listens, so systemd holds a `systemctl reload` issued
/// right after `start` until the process can take it.
#[tokio::test]
async fn systemd_is_told_when_the_exporter_is_ready() {
    let world = world().start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yml");
    std::fs::write(&config, world.config_yaml(&["good.test"])).unwrap();
    let socket_path = dir.path().join("notify.sock");
    let socket = tokio::net::UnixDatagram::bind(&socket_path).unwrap();
    let log = dir.path().join("notify.log");
    let child = Command::new(env!("CARGO_BIN_EXE_mtasts-exporter"))
        .arg("--config.file")
        .arg(&config)
        .arg("--web.listen-address")
        .arg("127.0.0.1:0")
        .env("NOTIFY_SOCKET", &socket_path)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let exporter = Exporter {
        child,
        base: String::new(),
        log,
    };
    let mut message = [0u8; 64];
    let received = tokio::time::timeout(Duration::from_secs(10), socket.recv(&mut message))
        .await
        .expect("no READY=1 within 10 s")
        .unwrap();
    assert_eq!(&message[..received], b"READY=1");
    let logged = std::fs::read_to_string(&exporter.log).unwrap();
    assert!(logged.contains("listening"), "{logged}");
    kill(&exporter.child, libc::SIGHUP);
    assert!(wait_for_log(&exporter, "SIGHUP: reloading").await);
}
