//! Fleet-scale benchmark: the exporter's scheduler over a fake world of N
//! domains on loopback, and the numbers that matter to run it for a fleet.
//!
//! ```sh
//! cargo build --release --examples
//! target/release/examples/bench --domains 10000 --concurrency 256
//! target/release/examples/bench --domains 1000 --smtp 100       # with STARTTLS on 100 MX hosts
//! target/release/examples/bench --domains 10000 --blackbox       # and Debian's blackbox_exporter on the same world
//! target/release/examples/bench --domains 10000 --hostile 1000   # 1,000 of them with hostile policy servers
//! target/release/examples/bench --domains 10000 --smtp 200 --hostile-smtp 150   # 150 of the 200 MX hosts hostile
//! target/release/examples/bench --domains 10000 --hostile-dns 1000   # 1,000 _mta-sts answers near 64 KiB
//! ```
//!
//! The world runs as a separate process (`fake_world --bench`), so the CPU
//! and memory figures are the exporter's alone; both share the machine.

use mtasts_exporter::app::App;
use mtasts_exporter::config::Config;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Args {
    domains: usize,
    concurrency: usize,
    smtp: usize,
    hostile: usize,
    hostile_smtp: usize,
    hostile_dns: usize,
    blackbox: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        domains: 1000,
        concurrency: 256,
        smtp: 0,
        hostile: 0,
        hostile_smtp: 0,
        hostile_dns: 0,
        blackbox: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut number = |name: &str| -> Result<usize, String> {
            it.next()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("{name} needs a number"))
        };
        match arg.as_str() {
            "--domains" => args.domains = number("--domains")?,
            "--concurrency" => args.concurrency = number("--concurrency")?,
            "--smtp" => args.smtp = number("--smtp")?,
            "--hostile" => args.hostile = number("--hostile")?,
            "--hostile-smtp" => args.hostile_smtp = number("--hostile-smtp")?,
            "--hostile-dns" => args.hostile_dns = number("--hostile-dns")?,
            "--blackbox" => args.blackbox = true,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(args)
}

/// User + system CPU seconds of a process, from /proc/PID/stat.
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields of the whole line.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // SAFETY-free: the clock tick is 100 Hz on Linux x86_64/aarch64 (USER_HZ).
    (ticks(11) + ticks(12)) / 100.0
}

/// A /proc/self/status field in KiB (VmRSS, VmHWM).
fn status_kib(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix(field)?
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0.0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_world(dir: &Path, args: &Args) -> Result<(Killed, PathBuf), String> {
    // (The world's pid is the child's id.)
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let world_exe = exe.with_file_name("fake_world");
    if !world_exe.exists() {
        return Err(format!(
            "{} missing: run `cargo build --release --examples`",
            world_exe.display()
        ));
    }
    let config = dir.join("bench.yml");
    let child = Command::new(&world_exe)
        .arg("--bench")
        .arg(args.domains.to_string())
        .arg("--smtp")
        .arg(args.smtp.to_string())
        .arg("--hostile")
        .arg(args.hostile.to_string())
        .arg("--hostile-smtp")
        .arg(args.hostile_smtp.to_string())
        .arg("--hostile-dns")
        .arg(args.hostile_dns.to_string())
        .arg(&config)
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", world_exe.display()))?;
    let child = Killed(child);
    let started = Instant::now();
    while !config.exists() {
        if started.elapsed() > Duration::from_secs(600) {
            return Err("the world did not start within 10 minutes".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok((child, config))
}

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(error) => {
            eprintln!(
                "{error}\nusage: bench [--domains N] [--concurrency C] [--smtp K] [--hostile H] [--hostile-smtp S] [--hostile-dns D] [--blackbox]"
            );
            std::process::exit(2);
        }
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = std::env::temp_dir().join(format!("mtasts-bench-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let (world, config_path) = match start_world(&dir, &args) {
        Ok(started) => started,
        Err(error) => {
            eprintln!("{error}");
            std::process::exit(1);
        }
    };
    let mut config = match Config::load(&config_path) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("{error}");
            std::process::exit(1);
        }
    };
    config.concurrency = args.concurrency;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let me = std::process::id().to_string();
    let world_pid = world.0.id().to_string();
    runtime.block_on(async {
        let rss_before = status_kib("VmRSS:");
        let world_cpu_before = cpu_seconds(&world_pid);
        let cpu_before = cpu_seconds(&me);
        let started = Instant::now();
        let app = App::start(&config_path, config.clone()).expect("app");
        while app.readiness.progress().0 > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let wall = started.elapsed().as_secs_f64();
        let cpu = cpu_seconds(&me) - cpu_before;
        let world_cpu = cpu_seconds(&world_pid) - world_cpu_before;
        let rss_after = status_kib("VmRSS:");
        let peak = status_kib("VmHWM:");
        // What the process holds once the allocator returns freed memory:
        // the state per domain, without the round's transient buffers.
        // SAFETY: malloc_trim only releases free heap memory to the OS.
        unsafe {
            libc::malloc_trim(0);
        }
        let rss_trimmed = status_kib("VmRSS:");

        // Idle: between rounds nothing should run.
        let idle_cpu_before = cpu_seconds(&me);
        tokio::time::sleep(Duration::from_secs(5)).await;
        let idle_cpu = (cpu_seconds(&me) - idle_cpu_before) / 5.0;

        // /metrics rendering.
        let mut render_times = Vec::new();
        let mut size = 0;
        for _ in 0..5 {
            let start = Instant::now();
            size = app.metrics.render().len();
            render_times.push(start.elapsed().as_secs_f64());
        }
        render_times.sort_by(f64::total_cmp);

        // Phases and verdicts from the reports.
        let reports: Vec<_> = app.latest.lock().expect("latest").values().cloned().collect();
        let failed = reports.iter().filter(|r| !r.success).count();
        let mut phases: BTreeMap<&'static str, Vec<f64>> = BTreeMap::new();
        for report in &reports {
            for timing in &report.phases {
                phases.entry(timing.phase.as_str()).or_default().push(timing.duration_seconds);
            }
        }

        let n = args.domains as f64;
        println!(
            "\n## mtasts-exporter, {} domains, concurrency {}, STARTTLS on {} MX hosts ({} hostile), {} hostile policy servers, {} near-64-KiB DNS answers",
            args.domains, args.concurrency, args.smtp, args.hostile_smtp, args.hostile, args.hostile_dns
        );
        println!("| measure | value |\n|---|---|");
        println!("| full round (wall) | {wall:.2} s |");
        println!("| domains probed per second | {:.0} |", n / wall);
        println!("| CPU seconds per domain probe | {:.6} |", cpu / n);
        println!("| CPU seconds for the round | {cpu:.2} |");
        println!("| the world's CPU seconds meanwhile | {world_cpu:.2} |");
        println!("| failed probes | {failed} |");
        println!("| RSS after the round | {:.1} MiB |", rss_after / 1024.0);
        println!("| peak RSS | {:.1} MiB |", peak / 1024.0);
        println!("| RSS per domain | {:.0} bytes |", (rss_after - rss_before) * 1024.0 / n);
        println!(
            "| RSS after returning free memory (malloc_trim) | {:.1} MiB, {:.0} bytes/domain |",
            rss_trimmed / 1024.0,
            (rss_trimmed - rss_before) * 1024.0 / n
        );
        println!("| idle CPU between rounds | {:.2} % of a core |", idle_cpu * 100.0);
        println!("| /metrics render (median of 5) | {:.1} ms |", render_times[2] * 1000.0);
        println!("| /metrics size | {:.1} MiB ({} bytes/domain) |", size as f64 / 1_048_576.0, size / args.domains.max(1));
        for (phase, mut times) in phases {
            times.sort_by(f64::total_cmp);
            println!(
                "| phase {phase} p50 / p99 | {:.1} ms / {:.1} ms |",
                percentile(&times, 0.5) * 1000.0,
                percentile(&times, 0.99) * 1000.0
            );
        }
        // A second round on a warm world (its certificates issued), through
        // the same probe code, at the same concurrency.
        let prober = app.reloader.current().prober.clone();
        let cpu_before = cpu_seconds(&me);
        let world_cpu_before = cpu_seconds(&world_pid);
        let started = Instant::now();
        let second = mtasts_exporter::check::run_checks(&prober, &config.domains, args.concurrency).await;
        let wall2 = started.elapsed().as_secs_f64();
        let cpu2 = cpu_seconds(&me) - cpu_before;
        let world_cpu2 = cpu_seconds(&world_pid) - world_cpu_before;
        println!(
            "| second round, warm world (wall / ours CPU / world CPU) | {wall2:.2} s / {cpu2:.2} s / {world_cpu2:.2} s ({:.0} domains/s, {} failed) |",
            n / wall2,
            second.iter().filter(|r| !r.success).count()
        );
        scrape_figures(app).await;
        if args.blackbox {
            blackbox(&config, &args, wall, cpu).await;
        }
    });
    drop(world);
    let _ = std::fs::remove_dir_all(&dir);
}

/// What Prometheus 2.x and 3.x send as `Accept`.
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// `/metrics` over HTTP from the exporter's own server, as scrapers ask for
/// it: bytes on the wire and time to the last byte (median of 5), for the
/// text format and OpenMetrics, with and without gzip; then the peak RSS.
async fn scrape_figures(app: App) {
    use mtasts_exporter::server::{self, AppState, ClientTimeouts};
    let state = std::sync::Arc::new(AppState {
        app,
        telemetry_path: "/metrics".into(),
        web: Default::default(),
        client_timeouts: ClientTimeouts::default(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("listener");
    let address = listener.local_addr().expect("listener address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(server::run(listener, state, async {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    for (name, accept, encoding) in [
        ("text format", "text/plain;version=0.0.4", "identity"),
        ("text format, gzip", "text/plain;version=0.0.4", "gzip"),
        (
            "OpenMetrics, gzip (what Prometheus asks for)",
            PROMETHEUS_ACCEPT,
            "gzip",
        ),
    ] {
        let mut times = Vec::new();
        let mut bytes = 0;
        for _ in 0..5 {
            let start = Instant::now();
            let response = client
                .get(format!("http://{address}/metrics"))
                .header("accept", accept)
                .header("accept-encoding", encoding)
                .send()
                .await;
            let body = match response {
                Ok(response) => response.bytes().await,
                Err(error) => Err(error),
            };
            match body {
                Ok(body) => bytes = body.len(),
                Err(error) => {
                    println!("| /metrics scrape, {name} | failed: {error} |");
                    break;
                }
            }
            times.push(start.elapsed().as_secs_f64());
        }
        if times.len() == 5 {
            times.sort_by(f64::total_cmp);
            println!(
                "| /metrics scrape, {name} (median of 5) | {:.1} ms, {:.2} MiB on the wire |",
                times[2] * 1000.0,
                bytes as f64 / 1_048_576.0
            );
        }
    }
    println!(
        "| peak RSS after the scrapes | {:.1} MiB |",
        status_kib("VmHWM:") / 1024.0
    );
    let _ = stop.send(());
    let _ = server.await;
}

/// Runs Debian's blackbox_exporter on the same world: per domain one `dns`
/// TXT probe and one `http` probe of a policy, at the same concurrency.
/// blackbox_exporter 0.23 has a fixed query name and TLS server name per
/// module, so it probes the first domain's record and policy host N times:
/// the same work per probe, not per-domain names.
async fn blackbox(config: &Config, args: &Args, our_wall: f64, our_cpu: f64) {
    let binary = "prometheus-blackbox-exporter";
    if Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {binary}"))
        .output()
        .map(|o| !o.status.success())
        .unwrap_or(true)
    {
        eprintln!("{binary} not installed (apt-get install prometheus-blackbox-exporter): comparison skipped");
        return;
    }
    let dir = std::env::temp_dir().join(format!("mtasts-bench-bb-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let dns = config.resolver.nameservers[0];
    let ca = config.ca_file.clone().unwrap_or_default();
    let module = format!(
        "modules:\n  dns_txt:\n    prober: dns\n    timeout: 10s\n    dns:\n      transport_protocol: udp\n      preferred_ip_protocol: ip4\n      query_name: _mta-sts.d0.test\n      query_type: TXT\n      valid_rcodes: [NOERROR]\n  http_policy:\n    prober: http\n    timeout: 10s\n    http:\n      method: GET\n      valid_status_codes: [200]\n      no_follow_redirects: true\n      fail_if_not_ssl: true\n      preferred_ip_protocol: ip4\n      tls_config:\n        ca_file: {}\n        server_name: mta-sts.d0.test\n",
        ca.display()
    );
    let module_path = dir.join("blackbox.yml");
    if std::fs::write(&module_path, module).is_err() {
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(19115);
    let Ok(child) = Command::new(binary)
        .arg(format!("--config.file={}", module_path.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    else {
        eprintln!("cannot start {binary}");
        return;
    };
    let pid = child.id().to_string();
    let _child = Killed(child);
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    for _ in 0..100 {
        if client
            .get(format!("http://127.0.0.1:{port}/-/healthy"))
            .send()
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let dns_url = format!("http://127.0.0.1:{port}/probe?module=dns_txt&target={dns}");
    let http_url = format!(
        "http://127.0.0.1:{port}/probe?module=http_policy&target=https://127.0.0.1:{}/.well-known/mta-sts.txt",
        config.ports.https
    );
    let cpu_before = cpu_seconds(&pid);
    let started = Instant::now();
    let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(args.concurrency));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..args.domains {
        let client = client.clone();
        let permits = permits.clone();
        let (dns_url, http_url) = (dns_url.clone(), http_url.clone());
        tasks.spawn(async move {
            let _permit = permits.acquire().await;
            let mut ok = true;
            for url in [dns_url, http_url] {
                let body = match client.get(&url).send().await {
                    Ok(response) => response.text().await.unwrap_or_default(),
                    Err(_) => String::new(),
                };
                ok &= body.contains("probe_success 1");
            }
            ok
        });
    }
    let mut failed = 0;
    while let Some(result) = tasks.join_next().await {
        if !matches!(result, Ok(true)) {
            failed += 1;
        }
    }
    let wall = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds(&pid) - cpu_before;
    let n = args.domains as f64;
    println!(
        "\n## blackbox_exporter (dns TXT + http per domain), same world, concurrency {}",
        args.concurrency
    );
    println!("| measure | blackbox_exporter | mtasts-exporter | ratio (blackbox / ours) |\n|---|---|---|---|");
    println!(
        "| wall for {} domains | {wall:.2} s | {our_wall:.2} s | {:.2} |",
        args.domains,
        wall / our_wall
    );
    println!(
        "| CPU seconds per domain | {:.6} | {:.6} | {:.2} |",
        cpu / n,
        our_cpu / n,
        cpu / our_cpu
    );
    println!("| failed | {failed} | | |");
    let _ = std::fs::remove_dir_all(&dir);
}
