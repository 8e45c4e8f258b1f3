//! The shard from the environment (`MTASTS_SHARD_INDEX`/`MTASTS_SHARD_COUNT`)
//! or the `--shard.*` flags, through the real binary: it schedules its
//! share, keeps it across a reload, and refuses a bad shard at start-up.
//! Everything listens on 127.0.0.1; the configured resolver is a loopback
//! port where nothing answers.

use mtasts_exporter::config::{Config, Shard};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const DOMAINS: usize = 30;

/// Environment variables set for one run of the binary.
type Env<'a> = &'a [(&'a str, &'a str)];
/// Extra command-line arguments.
type Args<'a> = &'a [&'a str];

fn config_text() -> String {
    let mut text = String::from(
        "timeout: 2s\nresolver:\n  nameservers: [\"127.0.0.1:9\"]\n  timeout: 1s\ndomains:\n",
    );
    for i in 0..DOMAINS {
        text.push_str(&format!("  - d{i}.test\n"));
    }
    text
}

/// How many of the configured domains `shard` owns.
fn share(shard: Shard) -> usize {
    let mut config = Config::parse(&config_text()).expect("config");
    config.shard = Some(shard);
    config.scheduled_domains().count()
}

struct Exporter {
    child: Child,
    port: u16,
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

fn exporter(config: &Path, env: Env, args: Args) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mtasts-exporter"));
    command
        .arg("--config.file")
        .arg(config)
        .args(args)
        .env_remove("MTASTS_SHARD_INDEX")
        .env_remove("MTASTS_SHARD_COUNT")
        .envs(env.iter().copied());
    command
}

/// One HTTP/1.1 request on loopback; the status and body, or `None` when
/// the server does not answer (yet).
fn request(port: u16, method: &str, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
    Some((status, body))
}

/// The value of an unlabelled series in /metrics.
fn metric(port: u16, name: &str) -> Option<f64> {
    let (_, body) = request(port, "GET", "/metrics")?;
    body.lines()
        .find_map(|line| line.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
}

fn start(config: &Path, env: Env, args: Args) -> Exporter {
    let port = free_port();
    let child = exporter(config, env, args)
        .arg("--web.listen-address")
        .arg(format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the exporter");
    let exporter = Exporter { child, port };
    let deadline = Instant::now() + Duration::from_secs(20);
    while request(port, "GET", "/-/healthy").is_none() {
        assert!(Instant::now() < deadline, "exporter did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    exporter
}

#[test]
fn environment_and_flags_pick_the_share_and_a_reload_keeps_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config.yml");
    std::fs::write(&config, config_text()).expect("write config");
    let cases: [(Env, Args, Shard); 3] = [
        (
            &[("MTASTS_SHARD_INDEX", "1"), ("MTASTS_SHARD_COUNT", "3")],
            &[],
            Shard { index: 1, count: 3 },
        ),
        (
            &[],
            &["--shard.index", "2", "--shard.count", "3"],
            Shard { index: 2, count: 3 },
        ),
        // A flag wins over the variable it stands for.
        (
            &[("MTASTS_SHARD_INDEX", "0"), ("MTASTS_SHARD_COUNT", "2")],
            &["--shard.index", "1"],
            Shard { index: 1, count: 2 },
        ),
    ];
    for (env, args, shard) in cases {
        let expected = share(shard) as f64;
        assert!(expected > 0.0 && expected < DOMAINS as f64);
        let running = start(&config, env, args);
        assert_eq!(
            metric(running.port, "mtasts_domains_configured"),
            Some(expected),
            "{shard:?}"
        );
        let (status, body) = request(running.port, "POST", "/-/reload").expect("reload answered");
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            metric(running.port, "mtasts_domains_configured"),
            Some(expected),
            "{shard:?} after reload"
        );
    }
}

#[test]
fn a_bad_shard_is_refused_at_start_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config.yml");
    std::fs::write(&config, config_text()).expect("write config");
    let cases: [(Env, Args, &str); 4] = [
        (
            &[("MTASTS_SHARD_INDEX", "3"), ("MTASTS_SHARD_COUNT", "3")],
            &[],
            "index 3 must be below count 3",
        ),
        (&[("MTASTS_SHARD_INDEX", "one")], &[], "MTASTS_SHARD_INDEX"),
        (&[("MTASTS_SHARD_INDEX", "1")], &[], "no shard count"),
        (&[], &["--shard.count", "4"], "no shard index"),
    ];
    for (env, args, problem) in cases {
        let out = exporter(&config, env, args)
            .arg("--web.listen-address")
            .arg(format!("127.0.0.1:{}", free_port()))
            .output()
            .expect("run the exporter");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{problem}: {stderr}");
        assert!(stderr.contains(problem), "{problem}: {stderr}");
        assert!(stderr.contains("config.yml"), "{stderr}");
    }
}

/// A machine without a system trust store, as in the `FROM scratch` image:
/// every DNS resolver (probes, DANE validation, DKIM keys) is built with the
/// exporter's own TLS settings, so the exporter starts. Left to itself,
/// hickory (built with TLS for mail-auth) loads the system's roots when a
/// resolver is built and refuses to build without them.
#[test]
fn it_starts_where_the_system_has_no_trust_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config.yml");
    let text = format!(
        "{}dane: on\nstorage:\n  path: {}\nreports:\n  maildir: {}\n",
        config_text(),
        dir.path().join("state").display(),
        dir.path().join("Maildir").display()
    );
    std::fs::write(&config, text).expect("write the config");
    let missing = dir.path().join("no-such-trust-store");
    let missing = missing.to_str().expect("a UTF-8 path");
    let exporter = start(
        &config,
        &[("SSL_CERT_FILE", missing), ("SSL_CERT_DIR", missing)],
        &[],
    );
    let (status, _) = request(exporter.port, "GET", "/-/healthy").expect("an answer");
    assert_eq!(status, 200);
    assert_eq!(
        metric(exporter.port, "mtasts_config_last_reload_successful"),
        Some(1.0)
    );
}
