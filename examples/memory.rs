//! What each domain holds after a round, by structure: the latest report
//! kept for the pages, the policy history, the exposition lines, the
//! domain's task in the scheduler, and what the allocator adds (README
//! "Performance", issue 18).
//!
//! ```sh
//! cargo run --release --example memory -- --domains 10000            # reports built here, no network
//! cargo build --release --examples
//! target/release/examples/memory --domains 10000 --world             # probes of the fake world
//! ```
//!
//! It runs the exporter's own scheduler, metrics and history over N
//! domains, either with a probe that answers at once with a report like the
//! fake world's (default) or with the real prober over the fake world on
//! loopback (`--world`, the world in a process of its own as the bench
//! starts it). After the round it takes each structure apart in turn and
//! counts the heap bytes that go with it (a counting allocator around the
//! system one): the bytes asked for, the bytes glibc hands out for them
//! (its usable size plus its 8-byte header), and the allocations.

use mtasts_exporter::config::{Config, DomainConfig, ProbeSettings};
use mtasts_exporter::metrics::{Metrics, RegistryKind};
use mtasts_exporter::probe::Prober;
use mtasts_exporter::report::{
    AddressFamily, CertInfo, MxHostReport, PhaseTiming, PolicyAddressReport, PolicyReport,
    PolicySource, ProbeReport, RecordReport,
};
use mtasts_exporter::rfc::rfc5321::MxSource;
use mtasts_exporter::rfc::rfc8460::TlsRptStatus;
use mtasts_exporter::rfc::rfc8461::policy::Mode;
use mtasts_exporter::scheduler::{LatestReports, Readiness, RunProbe, Scheduler};
use mtasts_exporter::taxonomy::Phase;
use std::alloc::{GlobalAlloc, Layout, System};
use std::future::Future;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The system allocator, counting what is live.
struct Counting;

/// Bytes asked for and live.
static ASKED: AtomicIsize = AtomicIsize::new(0);
/// Bytes glibc holds for them: usable size plus the chunk header.
static HELD: AtomicIsize = AtomicIsize::new(0);
/// Live allocations.
static COUNT: AtomicIsize = AtomicIsize::new(0);

/// The chunk glibc uses for the allocation at `ptr`.
fn held(ptr: *mut u8) -> isize {
    // SAFETY: `ptr` was returned by the system allocator and is live.
    (unsafe { libc::malloc_usable_size(ptr.cast()) } + 8) as isize
}

// SAFETY: every call goes to `System`; the counters only observe.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            ASKED.fetch_add(layout.size() as isize, Ordering::Relaxed);
            HELD.fetch_add(held(ptr), Ordering::Relaxed);
            COUNT.fetch_add(1, Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        ASKED.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        HELD.fetch_sub(held(ptr), Ordering::Relaxed);
        COUNT.fetch_sub(1, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let before = held(ptr);
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            ASKED.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
            HELD.fetch_add(held(new) - before, Ordering::Relaxed);
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The counters at one moment.
#[derive(Clone, Copy)]
struct Heap {
    asked: isize,
    held: isize,
    count: isize,
}

impl Heap {
    fn now() -> Heap {
        Heap {
            asked: ASKED.load(Ordering::Relaxed),
            held: HELD.load(Ordering::Relaxed),
            count: COUNT.load(Ordering::Relaxed),
        }
    }

    /// What was freed since `self`.
    fn freed_since(self) -> Heap {
        let now = Heap::now();
        Heap {
            asked: self.asked - now.asked,
            held: self.held - now.held,
            count: self.count - now.count,
        }
    }

    /// What was allocated since `self`.
    fn grown_since(self) -> Heap {
        let now = Heap::now();
        Heap {
            asked: now.asked - self.asked,
            held: now.held - self.held,
            count: now.count - self.count,
        }
    }
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

struct Args {
    domains: usize,
    world: bool,
    concurrency: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        domains: 10_000,
        world: false,
        concurrency: 256,
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
            "--world" => args.world = true,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(args)
}

/// A probe that answers at once with what the fake world's bench domains
/// give: a valid record, an `enforce` policy with one MX pattern, the
/// policy host's certificate over one address, one MX host (not checked
/// for STARTTLS, as in the bench), a TLSRPT record, four phases.
#[derive(Clone)]
struct Synthetic;

fn cert(name: &str) -> CertInfo {
    CertInfo {
        valid: true,
        not_before: 1_764_547_200,
        not_after: 1_796_083_200,
        names: vec![name.to_string()],
        issuer: "CN=mtasts test CA".to_string(),
        problem: None,
    }
}

fn synthetic_report(domain: &str) -> ProbeReport {
    let policy_host = format!("mta-sts.{domain}");
    let phase = |phase, duration_seconds| PhaseTiming {
        phase,
        duration_seconds,
        ok: true,
        local_error: None,
    };
    ProbeReport {
        domain: domain.to_string(),
        success: true,
        timestamp: 1_780_000_000.25,
        duration_seconds: 0.0123,
        record: Some(RecordReport {
            id: "20240101".into(),
            txt: "v=STSv1; id=20240101".into(),
        }),
        policy: Some(PolicyReport {
            mode: Mode::Enforce,
            max_age: 1_209_600,
            mx: vec!["mx.bench.test".into()],
            text: "version: STSv1\r\nmode: enforce\r\nmx: mx.bench.test\r\nmax_age: 1209600\r\n"
                .into(),
            content_type: Some("text/plain".into()),
            duplicate_fields: Vec::new(),
        }),
        policy_cert: Some(cert(&policy_host)),
        mx_source: Some(MxSource::Explicit),
        mx_hosts: Some(vec![MxHostReport {
            host: "mx.bench.test".into(),
            preference: 10,
            matches_policy: Some(true),
            starttls_offered: None,
            tls_version: None,
            cert: None,
            result_type: None,
            reason: None,
            addresses: Vec::new(),
            dane: None,
            starttls_check: None,
        }]),
        unused_patterns: Vec::new(),
        tlsrpt: Some(TlsRptStatus {
            present: true,
            valid: true,
            rua: vec!["mailto:tlsrpt@bench.test".into()],
            txt: Some("v=TLSRPTv1; rua=mailto:tlsrpt@bench.test".into()),
            error: None,
        }),
        warnings: Vec::new(),
        failures: Vec::new(),
        phases: vec![
            phase(Phase::RecordLookup, 0.002),
            phase(Phase::PolicyFetch, 0.008),
            phase(Phase::MxLookup, 0.002),
            phase(Phase::TlsrptLookup, 0.002),
        ],
        policy_addresses: vec![PolicyAddressReport {
            address: std::net::IpAddr::from([127, 0, 0, 1]),
            family: AddressFamily::Ipv4,
            cert: Some(cert(&policy_host)),
            result_type: None,
            reason: None,
        }],
        policy_source: PolicySource::Fresh,
        cached_policy: None,
        dane: None,
    }
}

impl RunProbe for Synthetic {
    fn run_probe(&self, domain: &DomainConfig) -> impl Future<Output = ProbeReport> + Send {
        let report = synthetic_report(&domain.name);
        async move { report }
    }
}

/// The probe the round runs: synthetic, or the real prober.
#[derive(Clone)]
enum Probe {
    Synthetic,
    Real(Box<Prober>),
}

impl RunProbe for Probe {
    fn run_probe(&self, domain: &DomainConfig) -> impl Future<Output = ProbeReport> + Send {
        let this = self.clone();
        let domain = domain.clone();
        async move {
            match this {
                Probe::Synthetic => Synthetic.run_probe(&domain).await,
                Probe::Real(prober) => prober.run_probe(&domain).await,
            }
        }
    }

    fn run_probe_with_cache(
        &self,
        domain: &DomainConfig,
        cached: Option<mtasts_exporter::report::CachedPolicy>,
    ) -> impl Future<Output = ProbeReport> + Send {
        let this = self.clone();
        let domain = domain.clone();
        async move {
            match this {
                Probe::Synthetic => Synthetic.run_probe(&domain).await,
                Probe::Real(prober) => prober.run_probe_with_cache(&domain, cached).await,
            }
        }
    }
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `fake_world --bench N` beside this executable; its config.
fn start_world(dir: &std::path::Path, n: usize) -> Result<(Killed, Config), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let world_exe = exe.with_file_name("fake_world");
    if !world_exe.exists() {
        return Err(format!(
            "{} missing: run `cargo build --release --examples`",
            world_exe.display()
        ));
    }
    let path = dir.join("memory.yml");
    let child = Command::new(&world_exe)
        .arg("--bench")
        .arg(n.to_string())
        .arg(&path)
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", world_exe.display()))?;
    let child = Killed(child);
    let started = Instant::now();
    while !path.exists() {
        if started.elapsed() > Duration::from_secs(600) {
            return Err("the world did not start within 10 minutes".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let config = Config::load(&path).map_err(|e| e.to_string())?;
    Ok((child, config))
}

/// One row of the table: a structure and what it held.
fn row(what: &str, heap: Heap, n: usize) {
    let n = n.max(1) as f64;
    println!(
        "| {what} | {:.0} | {:.0} | {:.1} |",
        heap.asked as f64 / n,
        heap.held as f64 / n,
        heap.count as f64 / n
    );
}

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(error) => {
            eprintln!("{error}\nusage: memory [--domains N] [--world] [--concurrency C]");
            std::process::exit(2);
        }
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = std::env::temp_dir().join(format!("mtasts-memory-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let (world, domains, probe, max_mx_hosts) = if args.world {
        match start_world(&dir, args.domains) {
            Ok((world, config)) => match Prober::new(&config) {
                Ok(prober) => (
                    Some(world),
                    config.domains.clone(),
                    Probe::Real(Box::new(prober)),
                    config.max_mx_hosts,
                ),
                Err(error) => {
                    eprintln!("{error}");
                    std::process::exit(1);
                }
            },
            Err(error) => {
                eprintln!("{error}");
                std::process::exit(1);
            }
        }
    } else {
        let settings = ProbeSettings {
            interval: Duration::from_secs(3600),
            timeout: Duration::from_secs(30),
            check_mx: true,
            check_starttls: false,
            dane: mtasts_exporter::config::DaneMode::Off,
        };
        let domains = (0..args.domains)
            .map(|i| DomainConfig {
                name: format!("d{i}.test"),
                settings: settings.clone(),
            })
            .collect();
        (None, domains, Probe::Synthetic, 10)
    };
    let n = domains.len();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("tokio runtime: {error}");
            std::process::exit(1);
        }
    };
    runtime.block_on(async {
        let metrics = match Metrics::new(max_mx_hosts, false, RegistryKind::Exporter) {
            Ok(metrics) => Arc::new(metrics),
            Err(error) => {
                eprintln!("{error}");
                std::process::exit(1);
            }
        };
        let readiness = Arc::new(Readiness::default());
        let latest: Arc<LatestReports> = Arc::default();
        let rss_before = status_kib("VmRSS:");
        let before = Heap::now();
        let started = Instant::now();
        let mut scheduler = Scheduler::new(
            probe,
            metrics.clone(),
            args.concurrency,
            readiness.clone(),
            latest.clone(),
        );
        scheduler.apply(&domains);
        while readiness.progress().0 > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let wall = started.elapsed().as_secs_f64();
        // Let the finished probes' tasks be freed.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let total = before.grown_since();
        let rss_after = status_kib("VmRSS:");
        let exposition_bytes = metrics.render().len();
        // SAFETY: malloc_trim only returns free heap memory to the system.
        unsafe {
            libc::malloc_trim(0);
        }
        let rss_trimmed = status_kib("VmRSS:");

        println!(
            "\n## memory per domain after a round: {n} domains, {} ({wall:.1} s)",
            if args.world {
                "probes of the fake world"
            } else {
                "synthetic reports like the fake world's"
            }
        );
        println!("| structure | bytes asked for | bytes held by malloc | allocations |\n|---|---|---|---|");

        // What is inside a latest report, field by field (clones, freed at
        // once).
        let reports: Vec<Arc<ProbeReport>> = latest
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter_map(|l| l.full.as_deref().cloned().map(Arc::new))
            .collect();
        let fields = report_fields(&reports);
        let whole = reports.len();

        // Take each structure apart, counting what goes with it.
        drop(reports);
        let mark = Heap::now();
        let taken = std::mem::take(&mut *latest.lock().unwrap_or_else(|p| p.into_inner()));
        drop(taken);
        let latest_heap = mark.freed_since();

        let histories = scheduler.histories();
        let mark = Heap::now();
        for domain in &domains {
            histories.remove(&domain.name);
        }
        let history_heap = mark.freed_since();

        let mark = Heap::now();
        for domain in &domains {
            metrics.remove_domain(&domain.name);
        }
        let metrics_heap = mark.freed_since();

        let mark = Heap::now();
        scheduler.halt();
        tokio::time::sleep(Duration::from_millis(500)).await;
        drop(scheduler);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let tasks_heap = mark.freed_since();

        let mark = Heap::now();
        drop(domains);
        let config_heap = mark.freed_since();

        row("latest report (`LatestReports`, for the pages)", latest_heap, n);
        println!("| &nbsp;&nbsp;whole reports kept (the rows below: per whole report) | {whole} of {n} domains | | |");
        for (name, heap) in fields {
            row(&format!("&nbsp;&nbsp;of a whole report, {name}"), heap, whole);
        }
        row("policy history (`PolicyHistories`)", history_heap, n);
        row(
            "exposition lines and counters (`DomainSeries` in `Metrics`)",
            metrics_heap,
            n,
        );
        row(
            "the domain's task and timer (scheduler `DomainTask`, tokio task)",
            tasks_heap,
            n,
        );
        row("the domain's configuration (`DomainConfig`)", config_heap, n);
        let accounted = [latest_heap, history_heap, metrics_heap, tasks_heap, config_heap];
        let rest = Heap {
            asked: total.asked + config_heap.asked
                - accounted.iter().map(|h| h.asked).sum::<isize>(),
            held: total.held + config_heap.held - accounted.iter().map(|h| h.held).sum::<isize>(),
            count: total.count + config_heap.count
                - accounted.iter().map(|h| h.count).sum::<isize>(),
        };
        row("other (left after the round)", rest, n);
        let all = Heap {
            asked: total.asked + config_heap.asked,
            held: total.held + config_heap.held,
            count: total.count + config_heap.count,
        };
        row("**all**", all, n);
        println!(
            "| exposition text (what a scrape sends of the domain) | {} | | |",
            exposition_bytes / n.max(1)
        );
        println!(
            "| RSS growth over the round | | {:.0} (trimmed: {:.0}) | |",
            (rss_after - rss_before) * 1024.0 / n as f64,
            (rss_trimmed - rss_before) * 1024.0 / n as f64
        );
        println!(
            "\nSizes: `PolicyHistory` {} bytes, `LatestReport` {} bytes, `ProbeReport` {} bytes.",
            std::mem::size_of::<mtasts_exporter::history::PolicyHistory>(),
            std::mem::size_of::<mtasts_exporter::latest::LatestReport>(),
            std::mem::size_of::<ProbeReport>(),
        );
        println!(
            "RSS {:.1} MiB after the round, {:.1} MiB after malloc_trim, peak {:.1} MiB; MALLOC_ARENA_MAX={}",
            rss_after / 1024.0,
            rss_trimmed / 1024.0,
            status_kib("VmHWM:") / 1024.0,
            std::env::var("MALLOC_ARENA_MAX").unwrap_or_else(|_| "unset".into())
        );
    });
    drop(world);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The heap bytes of each part of the reports, by cloning it.
fn report_fields(reports: &[Arc<ProbeReport>]) -> Vec<(&'static str, Heap)> {
    fn measure<T: Clone>(reports: &[Arc<ProbeReport>], part: impl Fn(&ProbeReport) -> T) -> Heap {
        let mark = Heap::now();
        let copies: Vec<T> = reports.iter().map(|r| part(r)).collect();
        let vec_bytes = copies.capacity() * std::mem::size_of::<T>();
        let mut heap = mark.grown_since();
        // Not the vector of copies itself: only what each copy owns.
        heap.asked -= vec_bytes as isize;
        heap.held -= vec_bytes as isize;
        heap.count -= 1;
        drop(copies);
        heap
    }
    let struct_size = std::mem::size_of::<ProbeReport>() as isize;
    vec![
        (
            "the `ProbeReport` struct itself",
            Heap {
                asked: struct_size * reports.len() as isize,
                held: (struct_size + 16) * reports.len() as isize,
                count: reports.len() as isize,
            },
        ),
        ("policy", measure(reports, |r| r.policy.clone())),
        (
            "certificates (policy host's, per address)",
            measure(reports, |r| {
                (
                    r.policy_cert.clone(),
                    r.policy_addresses.clone(),
                    r.mx_hosts
                        .iter()
                        .flatten()
                        .flat_map(|h| h.certs().cloned())
                        .collect::<Vec<_>>(),
                )
            }),
        ),
        (
            "MX hosts",
            measure(reports, |r| {
                let mut hosts = r.mx_hosts.clone();
                for host in hosts.iter_mut().flatten() {
                    host.cert = None;
                    host.addresses.clear();
                    host.addresses.shrink_to_fit();
                }
                hosts
            }),
        ),
        (
            "record, TLSRPT, phases, failures, warnings",
            measure(reports, |r| {
                (
                    r.record.clone(),
                    r.tlsrpt.clone(),
                    r.phases.clone(),
                    r.failures.clone(),
                    r.warnings.clone(),
                    r.domain.clone(),
                )
            }),
        ),
    ]
}
