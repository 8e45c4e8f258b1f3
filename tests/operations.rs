//! Operating the exporter like blackbox_exporter: `/probe`, reload (HTTP and
//! SIGHUP), sharding, graceful shutdown.

mod support;

use mtasts_exporter::config::{Config, Shard};
use mtasts_exporter::server::ClientTimeouts;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::harness::{
    get, parse_exposition, request, start_exporter_in, start_exporter_with, wait_ready,
};
use support::https::policy_text;
use support::world::{ConfigOverrides, WorldSpec};

fn world() -> WorldSpec {
    let mut spec = WorldSpec::new();
    spec.mta_sts_domain(
        "good.test",
        "1",
        &policy_text("enforce", &["mx1.good.test"], 1_209_600),
    )
    .mta_sts_domain(
        "miss.test",
        "1",
        &policy_text("testing", &["mx1.miss.test"], 86_400),
    )
    .mta_sts_domain(
        "x.hosted.test",
        "1",
        &policy_text("enforce", &["mx1.x.hosted.test"], 1_209_600),
    )
    .mx("plain.test", 10, "mx1.good.test")
    .blackhole("_mta-sts.slow.test")
    .mx("slow.test", 10, "mx1.good.test");
    spec
}

async fn post(url: &str) -> (u16, String) {
    request(reqwest::Method::POST, url, None).await
}

async fn get_with_timeout_header(url: &str, seconds: &str) -> (u16, String) {
    request(
        reqwest::Method::GET,
        url,
        Some(("X-Prometheus-Scrape-Timeout-Seconds", seconds)),
    )
    .await
}

#[tokio::test]
async fn probe_endpoint() {
    let running = start_exporter_in(
        world(),
        &[
            "{name: good.test, timeout: 10s}",
            "{name: slow.test, timeout: 30s}",
        ],
        ConfigOverrides {
            timeout: Some("30s"),
            resolver_timeout: Some("30s"),
            extra: "probe:\n  max_concurrent: 1\nmodules:\n  quick:\n    timeout: 10s\n    check_starttls: false\n",
            ..ConfigOverrides::default()
        },
    )
    .await;
    let base = &running.base;

    let (status, body) = get(&format!("{base}/probe?target=good.test")).await;
    assert_eq!(status, 200, "{body}");
    let m = parse_exposition(&body);
    assert_eq!(m[r#"mtasts_probe_success{domain="good.test"}"#], 1.0);
    assert_eq!(
        m[r#"mtasts_mx_starttls{domain="good.test",mx="mx1.good.test"}"#],
        1.0
    );
    assert!(
        !body.contains("process_") && !body.contains("mtasts_domains_configured"),
        "{body}"
    );
    // A fresh registry each time: the counter starts again.
    let (_, again) = get(&format!("{base}/probe?target=GOOD.test.")).await;
    assert_eq!(
        parse_exposition(&again)[r#"mtasts_probes_total{domain="good.test"}"#],
        1.0
    );
    // Negotiated as /metrics is: OpenMetrics when Accept prefers it.
    let openmetrics = reqwest::Client::new()
        .get(format!("{base}/probe?target=good.test"))
        .header(
            "accept",
            "application/openmetrics-text;version=1.0.0,text/plain;q=0.5",
        )
        .send()
        .await
        .expect("probe request");
    assert_eq!(
        openmetrics.headers()["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let body = openmetrics.text().await.expect("probe body");
    assert!(body.ends_with("# EOF\n"), "{body}");
    assert!(
        body.contains("mtasts_probe_success{domain=\"good.test\"} 1"),
        "{body}"
    );
    // A module.
    let (status, quick) = get(&format!("{base}/probe?target=good.test&module=quick")).await;
    assert_eq!(status, 200);
    assert!(!quick.contains("mtasts_mx_starttls{"), "{quick}");

    assert_eq!(
        get(&format!("{base}/probe?target=x.hosted.test")).await.0,
        403
    );
    assert_eq!(get(&format!("{base}/probe?target=bad_name!")).await.0, 400);
    assert_eq!(get(&format!("{base}/probe")).await.0, 400);
    assert_eq!(
        get(&format!("{base}/probe?target=good.test&module=nope"))
            .await
            .0,
        400
    );

    // The scrape timeout header bounds the probe of a hanging domain.
    let started = Instant::now();
    let (status, body) =
        get_with_timeout_header(&format!("{base}/probe?target=slow.test"), "1.5").await;
    let elapsed = started.elapsed();
    assert_eq!(status, 200);
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    let m = parse_exposition(&body);
    assert_eq!(m[r#"mtasts_probe_success{domain="slow.test"}"#], 0.0);
    assert!(
        body.contains(r#"phase="record_lookup",reason="dns-lookup""#),
        "{body}"
    );

    // max_concurrent 1: a second probe while one runs gets 503.
    let slow_url = format!("{base}/probe?target=slow.test");
    let first = tokio::spawn(async move { get_with_timeout_header(&slow_url, "3").await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, body) = get(&format!("{base}/probe?target=good.test")).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(first.await.unwrap().0, 200);
    assert_eq!(get(&format!("{base}/probe?target=good.test")).await.0, 200);
}

#[tokio::test]
async fn probe_allowed_targets_patterns() {
    let running = start_exporter_in(
        world(),
        &["good.test"],
        ConfigOverrides {
            extra: "probe:\n  allowed_targets: [\"*.hosted.test\"]\n",
            ..ConfigOverrides::default()
        },
    )
    .await;
    let (status, body) = get(&format!("{}/probe?target=x.hosted.test", running.base)).await;
    assert_eq!(status, 200);
    assert_eq!(
        parse_exposition(&body)[r#"mtasts_probe_success{domain="x.hosted.test"}"#],
        1.0
    );
    assert_eq!(
        get(&format!("{}/probe?target=good.test", running.base))
            .await
            .0,
        403
    );
}

/// Clients that connect and never complete a request (silent, trickling a
/// header byte by byte, idle after a first request) are cut off after the
/// header timeout instead of holding a connection for ever; scrapes go on.
#[tokio::test]
async fn idle_and_trickling_clients_are_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    let timeouts = ClientTimeouts {
        tls_handshake: Duration::from_secs(1),
        header_read: Duration::from_millis(500),
    };
    let running = start_exporter_with(
        world(),
        &["good.test"],
        ConfigOverrides::default(),
        timeouts,
    )
    .await;
    wait_ready(&running.base).await;
    let address = running.base.trim_start_matches("http://").to_string();

    let silent = TcpStream::connect(&address).await.unwrap();
    let (trickle, mut trickle_writer) = TcpStream::connect(&address).await.unwrap().into_split();
    let trickler = tokio::spawn(async move {
        let header = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
        trickle_writer.write_all(header).await?;
        loop {
            trickle_writer.write_all(b"a").await?;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        #[allow(unreachable_code)]
        Ok::<(), std::io::Error>(())
    });
    let mut idle = TcpStream::connect(&address).await.unwrap();
    idle.write_all(b"GET /-/healthy HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();

    let started = Instant::now();
    let mut idle_read = Vec::new();
    for (name, mut stream) in [
        (
            "silent",
            Box::new(silent) as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
        ),
        ("trickling", Box::new(trickle)),
        ("idle", Box::new(idle)),
    ] {
        let mut read = Vec::new();
        // Closed (EOF or reset) within the bound, whatever was read before.
        let ended =
            tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut read)).await;
        assert!(ended.is_ok(), "{name} connection still open after 5 s");
        if name == "idle" {
            idle_read = read;
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(
        String::from_utf8_lossy(&idle_read).starts_with("HTTP/1.1 200"),
        "the idle client's first request was answered"
    );
    assert!(trickler.await.unwrap().is_err(), "the trickler was cut off");
    let (status, _) = get(&format!("{}/metrics", running.base)).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn reload_over_http() {
    let running = start_exporter_in(
        world(),
        &["good.test", "miss.test"],
        ConfigOverrides::default(),
    )
    .await;
    let base = &running.base;
    wait_ready(base).await;
    let (_, before) = get(&format!("{base}/metrics")).await;
    assert!(before.contains(r#"domain="miss.test""#));

    // Remove miss.test, add plain.test; good.test unchanged.
    std::fs::write(
        &running.config_path,
        running.world.config_yaml(&["good.test", "plain.test"]),
    )
    .unwrap();
    let (status, body) = post(&format!("{base}/-/reload")).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("1 added, 1 removed, 0 changed"), "{body}");
    wait_ready(base).await;
    let mut m = parse_exposition(&get(&format!("{base}/metrics")).await.1);
    for _ in 0..100 {
        if m.contains_key(r#"mtasts_probe_success{domain="plain.test"}"#) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        m = parse_exposition(&get(&format!("{base}/metrics")).await.1);
    }
    let text = get(&format!("{base}/metrics")).await.1;
    assert!(
        !text.contains(r#"domain="miss.test""#),
        "removed domain's series remain"
    );
    assert!(m.contains_key(r#"mtasts_probe_success{domain="plain.test"}"#));
    // The unchanged domain was not restarted: no new probe, no reset, no false alarm.
    assert_eq!(m[r#"mtasts_probes_total{domain="good.test"}"#], 1.0);
    assert_eq!(m[r#"mtasts_policy_id_stale{domain="good.test"}"#], 0.0);
    assert_eq!(m[r#"mtasts_policy_changes_total{domain="good.test"}"#], 0.0);
    assert_eq!(m["mtasts_config_last_reload_successful"], 1.0);
    assert_eq!(m["mtasts_domains_configured"], 2.0);

    // A broken config is rejected; the running one stays.
    std::fs::write(
        &running.config_path,
        "domains: [\"not a domain\"]\nintervall: 5m\n",
    )
    .unwrap();
    let (status, body) = post(&format!("{base}/-/reload")).await;
    assert_eq!(status, 500);
    assert!(
        body.contains("config.yml") && body.contains("intervall"),
        "{body}"
    );
    let m = parse_exposition(&get(&format!("{base}/metrics")).await.1);
    assert_eq!(m["mtasts_config_last_reload_successful"], 0.0);
    assert_eq!(m["mtasts_domains_configured"], 2.0);
    assert!(m.contains_key(r#"mtasts_probe_success{domain="good.test"}"#));
    assert_eq!(get(&format!("{base}/-/reload")).await.0, 405);
}

#[tokio::test]
async fn shards_split_the_domains() {
    let names: Vec<String> = (0..40).map(|i| format!("d{i}.test")).collect();
    let mut seen = std::collections::BTreeMap::new();
    for index in 0..3 {
        let mut yaml = format!("shard: {{index: {index}, count: 3}}\ndomains:\n");
        for name in &names {
            yaml.push_str(&format!("  - {name}\n"));
        }
        let config = Config::parse(&yaml).unwrap();
        assert_eq!(config.shard, Some(Shard { index, count: 3 }));
        for domain in config.scheduled_domains() {
            assert!(
                seen.insert(domain.name.clone(), index).is_none(),
                "{} in two shards",
                domain.name
            );
        }
    }
    assert_eq!(seen.len(), names.len(), "every domain in a shard");
}

// --- The binary: SIGHUP, SIGTERM. ---

struct Exporter {
    child: Child,
    base: String,
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts the binary; its log (stderr) goes to `log`.
fn spawn_exporter(config: &std::path::Path, log: &std::path::Path) -> Exporter {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_mtasts-exporter"))
        .arg("--config.file")
        .arg(config)
        .arg("--web.listen-address")
        .arg(format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    Exporter {
        child,
        base: format!("http://127.0.0.1:{port}"),
    }
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

/// Writes `text` to the config file, sends SIGHUP, and waits (up to five
/// seconds) for /metrics to contain `until`.
async fn rewrite_and_hup(
    exporter: &Exporter,
    path: &std::path::Path,
    text: &str,
    until: &str,
) -> bool {
    std::fs::write(path, text).unwrap();
    signal(&exporter.child, "HUP");
    for _ in 0..100 {
        let (_, body) = get(&format!("{}/metrics", exporter.base)).await;
        if body.contains(until) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn sighup_reloads_and_sigterm_stops_gracefully() {
    let world = world().start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yml");
    let mut yaml = world.config_yaml(&["good.test"]);
    yaml.push_str("probe:\n  allowed_targets: [\"*.test\"]\n");
    std::fs::write(&path, &yaml).unwrap();
    let log = dir.path().join("exporter.log");
    let mut exporter = spawn_exporter(&path, &log);
    wait_ready(&exporter.base).await;

    // A broken file is refused: the running configuration stays, the gauge
    // says so, and the log has one record per problem with its line.
    let refused = rewrite_and_hup(
        &exporter,
        &path,
        &yaml.replace("  - good.test\n", "  - good.test\n  - GOOD.test\n"),
        "mtasts_config_last_reload_successful 0",
    )
    .await;
    assert!(refused, "SIGHUP with a broken file was not refused");
    let duplicate_line = yaml.lines().position(|l| l == "  - good.test").unwrap() + 2;
    let logged = std::fs::read_to_string(&log).unwrap();
    let expected = format!(
        "message=\"configuration problem\" file={} line={duplicate_line} column=5 field=domains[1] problem=\"duplicate domain \\\"good.test\\\"\"",
        path.display()
    );
    assert!(logged.contains(&expected), "{expected}\n{logged}");

    let reloaded = rewrite_and_hup(
        &exporter,
        &path,
        &yaml.replace("  - good.test\n", "  - good.test\n  - miss.test\n"),
        r#"mtasts_probe_success{domain="miss.test"}"#,
    )
    .await;
    assert!(reloaded, "SIGHUP did not load the new domain");

    // A slow /probe is in flight when SIGTERM arrives: it is answered, then
    // the process exits 0.
    let slow = format!("{}/probe?target=slow.test", exporter.base);
    let in_flight = tokio::spawn(async move { get_with_timeout_header(&slow, "2").await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    signal(&exporter.child, "TERM");
    let (status, body) = in_flight.await.unwrap();
    assert_eq!(status, 200, "{body}");
    let started = Instant::now();
    let code = loop {
        if let Some(status) = exporter.child.try_wait().unwrap() {
            break status.code();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no exit after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(code, Some(0));
}

#[tokio::test]
async fn web_config_tls_and_basic_auth() {
    let world = world().start().await;
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = world.ca.issue_pem(&["127.0.0.1"]);
    std::fs::write(dir.path().join("server.crt"), cert).unwrap();
    std::fs::write(dir.path().join("server.key"), key).unwrap();
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    let web = dir.path().join("web.yml");
    std::fs::write(
        &web,
        format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\nbasic_auth_users:\n  prometheus: \"{hash}\"\n",
            dir.path().join("server.crt").display(),
            dir.path().join("server.key").display()
        ),
    )
    .unwrap();
    let config = dir.path().join("config.yml");
    std::fs::write(&config, world.config_yaml(&["good.test"])).unwrap();
    let port = free_port();
    let _exporter = Exporter {
        child: Command::new(env!("CARGO_BIN_EXE_mtasts-exporter"))
            .arg("--config.file")
            .arg(&config)
            .arg("--web.config.file")
            .arg(&web)
            .arg("--web.listen-address")
            .arg(format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
        base: String::new(),
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .no_proxy()
        .tls_certs_only([reqwest::Certificate::from_pem(world.ca.pem.as_bytes()).unwrap()])
        .build()
        .unwrap();
    let url = format!("https://127.0.0.1:{port}/metrics");
    let mut status = None;
    for _ in 0..100 {
        if let Ok(response) = client
            .get(&url)
            .basic_auth("prometheus", Some("s3cret"))
            .send()
            .await
        {
            status = Some(response.status().as_u16());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, Some(200));
    let wrong = client
        .get(&url)
        .basic_auth("prometheus", Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
    let anonymous = client.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
    assert!(anonymous.headers().get("www-authenticate").is_some());
    let unknown_user = client
        .get(&url)
        .basic_auth("mallory", Some("s3cret"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown_user.status().as_u16(), 401);
    // Plain HTTP to the TLS port gets no answer.
    let plain = reqwest::Client::builder().no_proxy().build().unwrap();
    assert!(plain
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .is_err());

    // A broken web config is refused at start-up, with its line: an
    // unsupported key, a password that is not a bcrypt hash.
    let refused = |text: &str| {
        std::fs::write(&web, text).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_mtasts-exporter"))
            .arg("--config.file")
            .arg(&config)
            .arg("--web.config.file")
            .arg(&web)
            .arg("--web.listen-address")
            .arg("127.0.0.1:0")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    for (text, expected) in [
        (
            "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: RequireAndVerifyClientCert\n",
            "web.yml:4:3: field tls_server_config.client_auth_type: unknown field",
        ),
        (
            "basic_auth_users:\n  alice: hunter2\n",
            "web.yml:2:3: field basic_auth_users.alice: not a bcrypt hash",
        ),
        (
            "tls_server_config:\n  cert_file: /nonexistent/cert.pem\n  key_file: /nonexistent/key.pem\n",
            "web.yml:2:3: field tls_server_config.cert_file: /nonexistent/cert.pem:",
        ),
    ] {
        let stderr = refused(text);
        assert!(stderr.contains(expected), "{stderr}");
    }
}
