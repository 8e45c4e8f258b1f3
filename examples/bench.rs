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
//!
//! Two worlds: the project's fake world (default) and a world of real
//! servers from Debian's packages, `--world real` (knot, nginx with a
//! certificate per policy host, postfix; `examples/real_world.rs`, started
//! and stopped by the bench). `--starttls` checks STARTTLS on every domain
//! (100 MX hosts shared by the domains, in both worlds). `--attach OUT.yml`
//! runs against a world already started (`real_world --bench N OUT.yml`),
//! so one world serves several runs (`scripts/real-world-bench.sh`).
//! During the first round the bench scrapes `/metrics` as Prometheus does
//! (OpenMetrics, gzip) every `--scrape-every` seconds (15), so the peak RSS
//! includes scrapes; it prints the start-up (config load, time to ready)
//! and the spread of the first round's probe start times. `--round-only`
//! skips the idle, second-round and scrape-table measurements.
//! `--share-checks S` sets `smtp.share_checks_for` to S seconds: each of
//! the 100 shared MX hosts is then checked once per S seconds for all the
//! domains naming it, instead of once per domain.
//!
//! `--dane` (issue 15) measures what DANE with DNSSEC validation costs: it
//! needs a signed real world (`--world real`, started with `real_world
//! --dnssec`, or `--attach` of a world started so) and implies
//! `--starttls`. One invocation makes two rounds, each in a fresh exporter
//! process: first this bench runs itself again without `--dane` (DANE off,
//! same world, same concurrency; after a warm-up round of the same kind,
//! discarded, so neither measured round is a cold world's first), then it
//! runs the round with `dane: on`
//! for every domain, and prints both with the difference (round, CPU per
//! probe, DNS queries knot answered per domain from its `mod-stats`
//! counters, load average). Without `--dane` a signed world's `dane: on`
//! is turned off, so the first round is the baseline.
//!
//! ```sh
//! target/release/examples/bench --world real --domains 10000 --dane --round-only
//! ```

use mtasts_exporter::app::App;
use mtasts_exporter::config::{Config, DaneMode};
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
    world: WorldKind,
    starttls: bool,
    attach: Option<PathBuf>,
    scrape_every: f64,
    round_only: bool,
    dane: bool,
    /// `smtp.share_checks_for`, in seconds (0: each probe checks its MX
    /// hosts itself).
    share_checks: u64,
}

/// Which world the bench runs against.
#[derive(Clone, Copy, PartialEq, Eq)]
enum WorldKind {
    /// `examples/fake_world.rs`: the project's own servers (hickory, rustls).
    Fake,
    /// `examples/real_world.rs`: knot, nginx and postfix from Debian.
    Real,
}

impl WorldKind {
    fn name(self) -> &'static str {
        match self {
            WorldKind::Fake => "fake",
            WorldKind::Real => "real (knot, nginx, postfix)",
        }
    }
}

/// MX hosts the domains share with `--starttls` (as `real_world` has them).
const SHARED_MX_HOSTS: usize = 100;

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        domains: 1000,
        concurrency: 256,
        smtp: 0,
        hostile: 0,
        hostile_smtp: 0,
        hostile_dns: 0,
        blackbox: false,
        world: WorldKind::Fake,
        starttls: false,
        attach: None,
        scrape_every: 15.0,
        round_only: false,
        dane: false,
        share_checks: 0,
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
            "--starttls" => args.starttls = true,
            "--round-only" => args.round_only = true,
            "--dane" => args.dane = true,
            "--share-checks" => args.share_checks = number("--share-checks")? as u64,
            "--scrape-every" => args.scrape_every = number("--scrape-every")? as f64,
            "--world" => {
                args.world = match it.next().as_deref() {
                    Some("fake") => WorldKind::Fake,
                    Some("real") => WorldKind::Real,
                    _ => return Err("--world needs fake or real".into()),
                }
            }
            "--attach" => {
                args.attach = Some(PathBuf::from(
                    it.next().ok_or("--attach needs the world's config")?,
                ))
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if args.dane {
        // DANE is checked over STARTTLS, on a signed world of real servers.
        if args.world == WorldKind::Fake && args.attach.is_none() {
            return Err(
                "--dane needs --world real, or --attach of a `real_world --dnssec` world".into(),
            );
        }
        args.world = WorldKind::Real;
        args.starttls = true;
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

/// A world process, asked to stop (SIGTERM, so the real world stops its
/// daemons) and waited for when dropped; killed if it does not end within
/// 30 s.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        // SAFETY: a plain kill(2) of our own child.
        unsafe {
            libc::kill(self.0.id() as libc::pid_t, libc::SIGTERM);
        }
        for _ in 0..300 {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The processes whose CPU is the world's: their trees, summed.
struct WorldPids(Vec<u32>);

impl WorldPids {
    /// User + system CPU seconds of the world's processes and all their
    /// descendants (those that ended included, through their parents'
    /// counts of waited-for children).
    fn cpu_seconds(&self) -> f64 {
        let mut parent_of = Vec::new();
        let mut cpu = std::collections::HashMap::new();
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|p| p.parse::<u32>().ok())
            else {
                continue;
            };
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
            let fields: Vec<&str> = after.split_whitespace().collect();
            let field = |i: usize| {
                fields
                    .get(i)
                    .and_then(|v| v.parse::<f64>().ok())
                    .unwrap_or(0.0)
            };
            parent_of.push((pid, field(1) as u32));
            cpu.insert(pid, (field(11) + field(12) + field(13) + field(14)) / 100.0);
        }
        let mut total = 0.0;
        let mut todo = self.0.clone();
        let mut seen = std::collections::HashSet::new();
        while let Some(pid) = todo.pop() {
            if !seen.insert(pid) {
                continue;
            }
            total += cpu.get(&pid).copied().unwrap_or(0.0);
            todo.extend(parent_of.iter().filter(|(_, p)| *p == pid).map(|(c, _)| *c));
        }
        total
    }

    /// The pids `real_world` wrote beside its config, or `fallback`.
    fn beside(config: &Path, fallback: Option<u32>) -> WorldPids {
        let written: Vec<u32> = std::fs::read_to_string(config.with_extension("pids"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect();
        WorldPids(if written.is_empty() {
            fallback.into_iter().collect()
        } else {
            written
        })
    }
}

fn start_world(dir: &Path, args: &Args) -> Result<(Killed, PathBuf), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let name = match args.world {
        WorldKind::Fake => "fake_world",
        WorldKind::Real => "real_world",
    };
    let world_exe = exe.with_file_name(name);
    if !world_exe.exists() {
        return Err(format!(
            "{} missing: run `cargo build --release --examples`",
            world_exe.display()
        ));
    }
    let config = dir.join("bench.yml");
    let mut command = Command::new(&world_exe);
    command.arg("--bench").arg(args.domains.to_string());
    if args.world == WorldKind::Real && args.dane {
        command.arg("--dnssec");
    }
    if args.world == WorldKind::Fake {
        command
            .arg("--smtp")
            .arg(args.smtp.to_string())
            .arg("--hostile")
            .arg(args.hostile.to_string())
            .arg("--hostile-smtp")
            .arg(args.hostile_smtp.to_string())
            .arg("--hostile-dns")
            .arg(args.hostile_dns.to_string());
        if args.starttls {
            command.arg("--mx-hosts").arg(SHARED_MX_HOSTS.to_string());
        }
    }
    let child = command
        .arg(&config)
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", world_exe.display()))?;
    let mut child = Killed(child);
    let started = Instant::now();
    while !config.exists() {
        if started.elapsed() > Duration::from_secs(1800) {
            return Err("the world did not start within 30 minutes".into());
        }
        if let Ok(Some(status)) = child.0.try_wait() {
            return Err(format!("the world ended before it was ready: {status}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok((child, config))
}

/// With `--features mimalloc`, mimalloc is the allocator instead of
/// glibc's malloc (README "Performance": what it changes).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(error) => {
            eprintln!(
                "{error}\nusage: bench [--domains N] [--concurrency C] [--world fake|real] [--starttls] [--dane] [--attach WORLD.yml] [--scrape-every S] [--round-only] [--share-checks SECONDS] [--smtp K] [--hostile H] [--hostile-smtp S] [--hostile-dns D] [--blackbox]"
            );
            std::process::exit(2);
        }
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = std::env::temp_dir().join(format!("mtasts-bench-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let (world, config_path) = match &args.attach {
        Some(path) => (None, path.clone()),
        None => match start_world(&dir, &args) {
            Ok((world, path)) => (Some(world), path),
            Err(error) => {
                eprintln!("{error}");
                std::process::exit(1);
            }
        },
    };
    let world_pids = WorldPids::beside(&config_path, world.as_ref().map(|w| w.0.id()));
    // With --dane, the round with DANE off first, on the same world, in a
    // process of its own; before it a warm-up round, discarded: the first
    // round on a fresh world also pays for postfix starting its smtpd
    // processes, which would be charged to DANE off.
    let baseline = if args.dane {
        // Not a signed world: said before two rounds are spent on it.
        match Config::load(&config_path) {
            Ok(config) if config.resolver.trust_anchor_file.is_some() => {}
            Ok(_) => {
                eprintln!(
                    "--dane: {} has no resolver.trust_anchor_file: not a `real_world --dnssec` world",
                    config_path.display()
                );
                std::process::exit(1);
            }
            Err(error) => {
                eprintln!("{error}");
                std::process::exit(1);
            }
        }
        println!("\n# warm-up round, DANE off (discarded)");
        let warm_up = dane_off_round(&args, &config_path);
        println!("\n# the round with DANE off");
        match warm_up.and_then(|_| dane_off_round(&args, &config_path)) {
            Ok(figures) => Some(figures),
            Err(error) => {
                eprintln!("the round with DANE off: {error}");
                std::process::exit(1);
            }
        }
    } else {
        None
    };
    let load_started = Instant::now();
    let mut config = match Config::load(&config_path) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("{error}");
            std::process::exit(1);
        }
    };
    let config_load = load_started.elapsed().as_secs_f64();
    config.concurrency = args.concurrency;
    config.smtp.share_checks_for = Duration::from_secs(args.share_checks);
    if args.starttls {
        config.defaults.check_starttls = true;
        for domain in &mut config.domains {
            domain.settings.check_starttls = true;
        }
    }
    // DANE on every domain with --dane, off otherwise (a signed world's
    // config has it on).
    let dane = if args.dane {
        DaneMode::On
    } else {
        DaneMode::Off
    };
    config.defaults.dane = dane;
    for domain in &mut config.domains {
        domain.settings.dane = dane;
    }
    let knot = KnotStats::beside(&config_path);
    let n = config.domains.len() as f64;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let me = std::process::id().to_string();
    let domains = config.domains.len();
    runtime.block_on(async {
        use mtasts_exporter::server::{self, AppState, ClientTimeouts};
        let rss_before = status_kib("VmRSS:");
        let load_before = load_average();
        let queries_before = knot.as_ref().and_then(KnotStats::read);
        let world_cpu_before = world_pids.cpu_seconds();
        let cpu_before = cpu_seconds(&me);
        let started = Instant::now();
        let started_unix = unix_now();
        let app = App::start(&config_path, config.clone()).expect("app");
        let app_start = started.elapsed().as_secs_f64();
        // The exporter's own server, scraped as Prometheus would during the
        // round, so the peak RSS holds the scrapes' share.
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
        let server = tokio::spawn(server::run(listener, state.clone(), async {
            let _ = stopped.await;
        }));
        let scraping = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let scraper = tokio::spawn(scrape_every(
            format!("http://{address}/metrics"),
            Duration::from_secs_f64(args.scrape_every),
            scraping.clone(),
        ));
        let app = &state.app;
        while app.readiness.progress().0 > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let wall = started.elapsed().as_secs_f64();
        let cpu = cpu_seconds(&me) - cpu_before;
        let world_cpu = world_pids.cpu_seconds() - world_cpu_before;
        let load_after = load_average();
        let queries = match (queries_before, knot.as_ref().and_then(KnotStats::read)) {
            (Some(before), Some(after)) => Some(KnotStats::difference(&before, &after)),
            _ => None,
        };
        scraping.store(false, std::sync::atomic::Ordering::Release);
        let scrapes = scraper.await.unwrap_or_default();
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
        let idle_cpu = if args.round_only {
            f64::NAN
        } else {
            let idle_cpu_before = cpu_seconds(&me);
            tokio::time::sleep(Duration::from_secs(5)).await;
            (cpu_seconds(&me) - idle_cpu_before) / 5.0
        };

        // /metrics rendering.
        let mut render_times = Vec::new();
        let mut size = 0;
        for _ in 0..5 {
            let start = Instant::now();
            size = app.metrics.render().len();
            render_times.push(start.elapsed().as_secs_f64());
        }
        render_times.sort_by(f64::total_cmp);

        // Phases, verdicts and probe start times from the reports.
        let reports: Vec<_> = app.latest.lock().expect("latest").values().cloned().collect();
        let failed = reports.iter().filter(|r| !r.success).count();
        let mut phases: BTreeMap<&'static str, Vec<f64>> = BTreeMap::new();
        for report in &reports {
            for timing in &report.phases {
                phases.entry(timing.phase.as_str()).or_default().push(timing.duration_seconds);
            }
        }
        let starts: Vec<f64> = reports.iter().map(|r| r.timestamp - started_unix).collect();

        println!(
            "\n## mtasts-exporter, {} world, {} domains, concurrency {}, STARTTLS {}{} ({} own MX hosts, {} hostile), {} hostile policy servers, {} near-64-KiB DNS answers",
            args.world.name(),
            domains,
            args.concurrency,
            if args.starttls { "on every domain" } else { "off" },
            if args.share_checks > 0 {
                format!(", each MX host's check shared for {} s", args.share_checks)
            } else {
                String::new()
            },
            args.smtp,
            args.hostile_smtp,
            args.hostile,
            args.hostile_dns
        );
        println!("| measure | value |\n|---|---|");
        println!("| config load ({domains} domains) | {:.0} ms |", config_load * 1000.0);
        println!("| App::start returned after | {:.0} ms |", app_start * 1000.0);
        println!("| full round = time to ready (wall) | {wall:.2} s |");
        println!("| domains probed per second | {:.0} |", n / wall);
        println!("| CPU seconds per domain probe | {:.6} |", cpu / n);
        println!("| CPU seconds for the round | {cpu:.2} |");
        println!("| the world's CPU seconds meanwhile | {world_cpu:.2} |");
        println!("| failed probes | {failed} |");
        println!("| DANE (RFC 7672, DNSSEC validated) | {} |", if args.dane { "on, every domain" } else { "off" });
        println!("| load average (1, 5, 15 min) at start / at end | {load_before} / {load_after} |");
        if let Some(queries) = &queries {
            println!("| DNS queries knot answered (per domain) | {} |", KnotStats::describe(queries, n));
        }
        println!("| RSS after the round | {:.1} MiB |", rss_after / 1024.0);
        println!(
            "| peak RSS (round, scraped every {} s) | {:.1} MiB |",
            args.scrape_every,
            peak / 1024.0
        );
        println!("| scrapes during the round (OpenMetrics, gzip) | {} |", scrapes.summary());
        println!("| RSS per domain | {:.0} bytes |", (rss_after - rss_before) * 1024.0 / n);
        println!(
            "| RSS after returning free memory (malloc_trim) | {:.1} MiB, {:.0} bytes/domain |",
            rss_trimmed / 1024.0,
            (rss_trimmed - rss_before) * 1024.0 / n
        );
        if !args.round_only {
            println!("| idle CPU between rounds | {:.2} % of a core |", idle_cpu * 100.0);
        }
        println!("| /metrics render (median of 5) | {:.1} ms |", render_times[2] * 1000.0);
        println!("| /metrics size | {:.1} MiB ({} bytes/domain) |", size as f64 / 1_048_576.0, size / domains.max(1));
        for (phase, mut times) in phases {
            times.sort_by(f64::total_cmp);
            println!(
                "| phase {phase} p50 / p99 | {:.1} ms / {:.1} ms |",
                percentile(&times, 0.5) * 1000.0,
                percentile(&times, 0.99) * 1000.0
            );
        }
        print_spread(&starts, wall);
        // A failing domain's whole report is kept (src/latest.rs).
        if let Some(report) = reports
            .iter()
            .filter(|r| !r.success)
            .find_map(|r| r.full.as_deref())
        {
            let json = serde_json::to_string(report).unwrap_or_default();
            println!(
                "\none failed probe, for a look: {}",
                json.chars().take(4000).collect::<String>()
            );
        }
        let figures = RoundFigures {
            wall,
            cpu,
            domains,
            failed,
            queries_per_domain: queries.as_ref().map(|q| KnotStats::total(q) as f64 / n),
            load: load_after.clone(),
        };
        println!("{}", figures.line(args.dane));
        if let Some(off) = &baseline {
            print_dane_cost(off, &figures, &args);
        }
        println!(
            "\nsummary | {} | {} | {} | {} | {wall:.1} s | {cpu:.1} s | {:.2} ms | {:.0} MiB | {:.1} ms | {:.1} MB | {:.1} % | {} | {failed} | {} |",
            args.world.name(),
            domains,
            if args.starttls { "on" } else { "off" },
            args.concurrency,
            cpu / n * 1000.0,
            peak / 1024.0,
            render_times[2] * 1000.0,
            size as f64 / 1e6,
            first_second_share(&starts),
            if args.dane { "on" } else { "off" },
            load_after,
        );
        if !args.round_only {
            // A second round on a warm world (its certificates issued), through
            // the same probe code, at the same concurrency.
            let prober = app.reloader.current().prober.clone();
            let cpu_before = cpu_seconds(&me);
            let world_cpu_before = world_pids.cpu_seconds();
            let started = Instant::now();
            let second = mtasts_exporter::check::run_checks(&prober, &config.domains, args.concurrency).await;
            let wall2 = started.elapsed().as_secs_f64();
            let cpu2 = cpu_seconds(&me) - cpu_before;
            let world_cpu2 = world_pids.cpu_seconds() - world_cpu_before;
            println!(
                "| second round, warm world (wall / ours CPU / world CPU) | {wall2:.2} s / {cpu2:.2} s / {world_cpu2:.2} s ({:.0} domains/s, {} failed) |",
                n / wall2,
                second.iter().filter(|r| !r.success).count()
            );
            scrape_figures(address).await;
        }
        let _ = stop.send(());
        let _ = server.await;
        if args.blackbox {
            blackbox(&config, &args, wall, cpu).await;
        }
    });
    drop(world);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The 1, 5 and 15 minute load averages, as `uptime` shows them: the
/// machine is shared, so every figure goes with it.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// What one round measured, as the `--dane` comparison needs it; printed
/// as one `figures` line, which the parent bench reads from the child's
/// output.
struct RoundFigures {
    wall: f64,
    cpu: f64,
    domains: usize,
    failed: usize,
    queries_per_domain: Option<f64>,
    load: String,
}

impl RoundFigures {
    fn line(&self, dane: bool) -> String {
        format!(
            "figures dane={} wall={:.3} cpu={:.3} domains={} failed={} queries_per_domain={} load={}",
            if dane { "on" } else { "off" },
            self.wall,
            self.cpu,
            self.domains,
            self.failed,
            self.queries_per_domain
                .map(|q| format!("{q:.3}"))
                .unwrap_or_else(|| "-".into()),
            self.load.replace(' ', ","),
        )
    }

    fn parse(line: &str) -> Option<RoundFigures> {
        let fields: BTreeMap<&str, &str> = line
            .strip_prefix("figures ")?
            .split_whitespace()
            .filter_map(|field| field.split_once('='))
            .collect();
        Some(RoundFigures {
            wall: fields.get("wall")?.parse().ok()?,
            cpu: fields.get("cpu")?.parse().ok()?,
            domains: fields.get("domains")?.parse().ok()?,
            failed: fields.get("failed")?.parse().ok()?,
            queries_per_domain: fields.get("queries_per_domain")?.parse().ok(),
            load: fields.get("load")?.replace(',', " "),
        })
    }

    fn cpu_per_probe_ms(&self) -> f64 {
        self.cpu / self.domains.max(1) as f64 * 1000.0
    }
}

/// The round with DANE off on the same world: this bench again, without
/// `--dane`, in a process of its own (a fresh exporter, as each row of
/// `scripts/real-world-bench.sh`); its output is shown as it is.
fn dane_off_round(args: &Args, config_path: &Path) -> Result<RoundFigures, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let output = Command::new(exe)
        .arg("--attach")
        .arg(config_path)
        .arg("--world")
        .arg("real")
        .arg("--starttls")
        .arg("--round-only")
        .arg("--concurrency")
        .arg(args.concurrency.to_string())
        .arg("--scrape-every")
        .arg(args.scrape_every.to_string())
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run the bench again: {e}"))?;
    let printed = String::from_utf8_lossy(&output.stdout);
    print!("{printed}");
    if !output.status.success() {
        return Err(format!("it ended with {}", output.status));
    }
    printed
        .lines()
        .find_map(RoundFigures::parse)
        .ok_or_else(|| "no figures line in its output".into())
}

/// The `--dane` comparison: the round with DANE off (the child's) and on
/// (this process's), on the same world.
fn print_dane_cost(off: &RoundFigures, on: &RoundFigures, args: &Args) {
    let percent = |off: f64, on: f64| (on / off - 1.0) * 100.0;
    println!(
        "\n## What DANE with DNSSEC validation costs: {} domains, concurrency {}, STARTTLS on every domain; DANE off (a bench of its own), then on",
        on.domains, args.concurrency
    );
    println!("| measure | DANE off | DANE on | difference |\n|---|---|---|---|");
    println!(
        "| full round | {:.1} s | {:.1} s | {:+.1} s ({:+.0} %) |",
        off.wall,
        on.wall,
        on.wall - off.wall,
        percent(off.wall, on.wall)
    );
    println!(
        "| exporter CPU for the round | {:.1} s | {:.1} s | {:+.1} s ({:+.0} %) |",
        off.cpu,
        on.cpu,
        on.cpu - off.cpu,
        percent(off.cpu, on.cpu)
    );
    println!(
        "| CPU per probe | {:.2} ms | {:.2} ms | {:+.2} ms per domain |",
        off.cpu_per_probe_ms(),
        on.cpu_per_probe_ms(),
        on.cpu_per_probe_ms() - off.cpu_per_probe_ms()
    );
    if let (Some(q_off), Some(q_on)) = (off.queries_per_domain, on.queries_per_domain) {
        println!(
            "| DNS queries knot answered per domain | {q_off:.2} | {q_on:.2} | {:+.2} |",
            q_on - q_off
        );
    }
    println!("| failed probes | {} | {} | |", off.failed, on.failed);
    println!(
        "| load average (1, 5, 15 min) at the end | {} | {} | |",
        off.load, on.load
    );
    println!(
        "dane-cost | {} | {} | {:.1} s | {:.1} s | {:.2} ms | {:.2} ms | {:+.2} ms | {} | {} | {} / {} | {} / {} |",
        on.domains,
        args.concurrency,
        off.wall,
        on.wall,
        off.cpu_per_probe_ms(),
        on.cpu_per_probe_ms(),
        on.cpu_per_probe_ms() - off.cpu_per_probe_ms(),
        off.queries_per_domain
            .map(|q| format!("{q:.2}"))
            .unwrap_or_else(|| "-".into()),
        on.queries_per_domain
            .map(|q| format!("{q:.2}"))
            .unwrap_or_else(|| "-".into()),
        off.failed,
        on.failed,
        off.load,
        on.load,
    );
}

/// knot's query counters (`mod-stats`, `knotc stats`) of a real world,
/// whose knot config path `real_world` writes beside its exporter config.
struct KnotStats {
    knot_config: PathBuf,
}

impl KnotStats {
    fn beside(config: &Path) -> Option<KnotStats> {
        let knot_config = std::fs::read_to_string(config.with_extension("knot")).ok()?;
        Some(KnotStats {
            knot_config: PathBuf::from(knot_config.trim()),
        })
    }

    /// Queries answered so far, by type (`mod-stats.query-type[A]`).
    fn read(&self) -> Option<BTreeMap<String, u64>> {
        let output = Command::new("knotc")
            .arg("-c")
            .arg(&self.knot_config)
            .arg("stats")
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()?;
        if !output.status.success() {
            return None;
        }
        Some(
            String::from_utf8_lossy(&output.stdout)
                .lines()
                .filter_map(|line| {
                    let (key, value) = line.split_once(" = ")?;
                    let kind = key
                        .strip_prefix("mod-stats.query-type[")?
                        .strip_suffix(']')?;
                    Some((kind.to_string(), value.trim().parse().ok()?))
                })
                .collect(),
        )
    }

    fn difference(
        before: &BTreeMap<String, u64>,
        after: &BTreeMap<String, u64>,
    ) -> BTreeMap<String, u64> {
        after
            .iter()
            .map(|(kind, count)| {
                (
                    kind.clone(),
                    count.saturating_sub(before.get(kind).copied().unwrap_or(0)),
                )
            })
            .filter(|(_, count)| *count > 0)
            .collect()
    }

    fn total(queries: &BTreeMap<String, u64>) -> u64 {
        queries.values().sum()
    }

    /// `12.00 (A 3.00, AAAA 2.00, ...)`: per domain, in all and by type.
    fn describe(queries: &BTreeMap<String, u64>, domains: f64) -> String {
        let by_type: Vec<String> = queries
            .iter()
            .map(|(kind, count)| format!("{kind} {:.2}", *count as f64 / domains))
            .collect();
        format!(
            "{} in all, {:.2} per domain ({})",
            Self::total(queries),
            Self::total(queries) as f64 / domains,
            by_type.join(", ")
        )
    }
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// How the first round's probes started over time (seconds after
/// `App::start`): the first round runs at boot, paced by `concurrency`.
fn print_spread(starts: &[f64], wall: f64) {
    if starts.is_empty() {
        return;
    }
    let mut per_second = vec![0usize; wall.ceil().max(1.0) as usize + 1];
    for start in starts {
        let second = (start.max(0.0) as usize).min(per_second.len() - 1);
        per_second[second] += 1;
    }
    let mut sorted = per_second.clone();
    sorted.sort_unstable();
    let busy = &sorted[..per_second.len().saturating_sub(1).max(1)];
    println!(
        "| first round: probes started in the first second | {} of {} ({:.1} %) |",
        per_second[0],
        starts.len(),
        per_second[0] as f64 * 100.0 / starts.len() as f64
    );
    println!(
        "| first round: probe starts per second (median / max) | {} / {} |",
        busy[busy.len() / 2],
        sorted[sorted.len() - 1]
    );
    // Ten equal slices of the round.
    let mut slices = [0usize; 10];
    for start in starts {
        let slice = ((start.max(0.0) / wall.max(1e-9)) * 10.0) as usize;
        slices[slice.min(9)] += 1;
    }
    let cells: Vec<String> = slices.iter().map(|c| c.to_string()).collect();
    println!(
        "| first round: probe starts per tenth of the round ({:.1} s each) | {} |",
        wall / 10.0,
        cells.join(" / ")
    );
}

/// Share of the first round's probes that started in its first second, in
/// per cent (the last column of the summary row).
fn first_second_share(starts: &[f64]) -> f64 {
    if starts.is_empty() {
        return 0.0;
    }
    starts.iter().filter(|s| **s < 1.0).count() as f64 * 100.0 / starts.len() as f64
}

/// What the scrapes during the round saw.
#[derive(Default)]
struct Scrapes {
    times: Vec<f64>,
    bytes: usize,
    failed: usize,
}

impl Scrapes {
    fn summary(&self) -> String {
        let mut times = self.times.clone();
        times.sort_by(f64::total_cmp);
        format!(
            "{} scrapes, {} failed, median {:.0} ms, max {:.0} ms, last {:.2} MiB on the wire",
            times.len(),
            self.failed,
            percentile(&times, 0.5) * 1000.0,
            times.last().copied().unwrap_or(f64::NAN) * 1000.0,
            self.bytes as f64 / 1_048_576.0
        )
    }
}

/// Scrapes `url` as Prometheus does (OpenMetrics, gzip) at once and then
/// every `every`, until `going` turns false.
async fn scrape_every(
    url: String,
    every: Duration,
    going: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Scrapes {
    let mut seen = Scrapes::default();
    let Ok(client) = reqwest::Client::builder().no_proxy().build() else {
        return seen;
    };
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        // Wait for the next tick, looking every 100 ms whether to stop.
        loop {
            if !going.load(std::sync::atomic::Ordering::Acquire) {
                return seen;
            }
            if tokio::time::timeout(Duration::from_millis(100), ticks.tick())
                .await
                .is_ok()
            {
                break;
            }
        }
        let start = Instant::now();
        match scrape(&client, &url, PROMETHEUS_ACCEPT, "gzip").await {
            Ok(bytes) => {
                seen.times.push(start.elapsed().as_secs_f64());
                seen.bytes = bytes;
            }
            Err(_) => seen.failed += 1,
        }
    }
}

/// What Prometheus 2.x and 3.x send as `Accept`.
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// `/metrics` over HTTP from the exporter's own server, as scrapers ask for
/// it: bytes on the wire and time to the last byte (median of 5), for the
/// text format and OpenMetrics, with and without gzip; then the peak RSS.
async fn scrape_figures(address: std::net::SocketAddr) {
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    // The peak RSS from here on is the scrapes' (Linux resets VmHWM on
    // writing 5 to clear_refs); the client counts the bytes it reads and
    // keeps none, so the figure is the server's.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let rss_before = status_kib("VmRSS:");
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
            match scrape(
                &client,
                &format!("http://{address}/metrics"),
                accept,
                encoding,
            )
            .await
            {
                Ok(read) => bytes = read,
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
        "| peak RSS during the scrapes | {:.1} MiB ({:+.1} MiB over the RSS before them) |",
        status_kib("VmHWM:") / 1024.0,
        (status_kib("VmHWM:") - rss_before) / 1024.0
    );
}

/// One scrape, read chunk by chunk and counted, not kept: the bytes on
/// the wire.
async fn scrape(
    client: &reqwest::Client,
    url: &str,
    accept: &str,
    encoding: &str,
) -> Result<usize, reqwest::Error> {
    let mut response = client
        .get(url)
        .header("accept", accept)
        .header("accept-encoding", encoding)
        .send()
        .await?;
    let mut bytes = 0;
    while let Some(chunk) = response.chunk().await? {
        bytes += chunk.len();
    }
    Ok(bytes)
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
