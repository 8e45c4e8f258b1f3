//! How fast TLSRPT reports are taken in and counted again at start-up:
//! `N` distinct gzip reports (one a domain and sender, five senders) are
//! POSTed to the reports listener on 127.0.0.1 by `C` concurrent clients
//! (or, with `--direct`, handed to the `Ingestor` by `C` threads), then the
//! spool is opened again as at a restart. Prints reports per second, the
//! rebuild time, the spool's size and how long rendering the
//! `mtasts_tlsrpt_*` families takes. Everything stays on loopback and in
//! a temporary directory (or `--dir DIR`).
//!
//! ```sh
//! cargo run --release --example tlsrpt_ingest -- 5000 32
//! cargo run --release --example tlsrpt_ingest -- 5000 32 --direct
//! ```

use flate2::write::GzEncoder;
use flate2::Compression;
use mtasts_exporter::config::Config;
use mtasts_exporter::tlsrpt::https::{bind, HttpsChannel, HttpsSettings};
use mtasts_exporter::tlsrpt::ingest::{Channel, Ingestor};
use std::collections::HashSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

const SENDERS: [&str; 5] = [
    "Google Inc.",
    "Microsoft Corporation",
    "Yahoo",
    "Comcast",
    "Mail.ru",
];
const NOW: i64 = 1_796_169_600; // 2026-12-01T00:00:00Z

fn report(index: usize, domains: usize) -> Vec<u8> {
    let sender = SENDERS[index % SENDERS.len()];
    let domain = index / SENDERS.len() % domains;
    let json = format!(
        r#"{{"organization-name":"{sender}","report-id":"2026-11-30-{index}",
          "date-range":{{"start-datetime":"2026-11-30T00:00:00Z","end-datetime":"2026-11-30T23:59:59Z"}},
          "contact-info":"tlsrpt@sender.example",
          "policies":[{{"policy":{{"policy-type":"sts","policy-string":["version: STSv1","mode: enforce","mx: mx1.d{domain}.example","max_age: 604800"],"policy-domain":"d{domain}.example","mx-host":["mx1.d{domain}.example"]}},
            "summary":{{"total-successful-session-count":{ok},"total-failure-session-count":1}},
            "failure-details":[{{"result-type":"certificate-expired","sending-mta-ip":"192.0.2.{last}","receiving-mx-hostname":"mx1.d{domain}.example","failed-session-count":1}}]}}]}}"#,
        ok = 100 + index % 50,
        last = index % 250,
    );
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    let _ = encoder.write_all(json.as_bytes());
    encoder.finish().unwrap_or_default()
}

/// This process's resident set and its peak (VmRSS, VmHWM), MiB.
fn rss_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse::<f64>().ok())
            .map_or(0.0, |kib| kib / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// The resident set once the allocator has returned its free memory, MiB.
fn trimmed_rss_mib() -> f64 {
    // SAFETY: malloc_trim only releases free heap memory to the OS.
    unsafe {
        libc::malloc_trim(0);
    }
    rss_mib().0
}

fn dir_size(dir: &Path) -> (u64, u64) {
    let mut bytes = 0;
    let mut files = 0;
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                let (b, f) = dir_size(&path);
                bytes += b;
                files += f;
            } else if let Ok(metadata) = entry.metadata() {
                bytes += metadata.len();
                files += 1;
            }
        }
    }
    (bytes, files)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let count: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(2000);
    let clients: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(16);
    let direct = args.iter().any(|a| a == "--direct");
    let kept = args
        .iter()
        .position(|a| a == "--dir")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from);
    let temporary = tempfile::tempdir()?;
    let storage = kept.unwrap_or_else(|| temporary.path().to_path_buf());
    let domains = count.div_ceil(SENDERS.len()).max(1);
    let names: HashSet<String> = (0..domains).map(|d| format!("d{d}.example")).collect();
    let bodies: Arc<Vec<Vec<u8>>> = Arc::new((0..count).map(|i| report(i, domains)).collect());
    let bodies_mib = bodies.iter().map(Vec::len).sum::<usize>() as f64 / (1024.0 * 1024.0);
    let config = Config::default().reports;
    let (ingestor, _) = Ingestor::open(
        &storage,
        config.max_decompressed_bytes,
        config.retention_days,
        names.clone(),
        NOW,
    )?;
    let ingestor = Arc::new(ingestor);
    let began = Instant::now();
    if direct {
        let next = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..clients)
            .map(|_| {
                let (ingestor, bodies, next) = (ingestor.clone(), bodies.clone(), next.clone());
                std::thread::spawn(move || loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(body) = bodies.get(i) else { break };
                    if let Err(error) = ingestor.ingest(body, Channel::Https) {
                        eprintln!("report {i}: {error}");
                    }
                })
            })
            .collect();
        for thread in threads {
            let _ = thread.join();
        }
    } else {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async {
            let listener = bind("127.0.0.1:0")?;
            let mut settings = config.clone();
            settings.max_concurrent_requests = clients.max(1);
            let channel = HttpsChannel::start(
                listener,
                HttpsSettings::from_config(&settings),
                ingestor.clone(),
            );
            let url = format!(
                "http://{}/tlsrpt",
                channel.local_addr().ok_or("no address")?
            );
            let client = reqwest::Client::builder().no_proxy().build()?;
            let next = Arc::new(AtomicUsize::new(0));
            let mut tasks = Vec::new();
            for _ in 0..clients {
                let (client, url, bodies, next) =
                    (client.clone(), url.clone(), bodies.clone(), next.clone());
                tasks.push(tokio::spawn(async move {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(body) = bodies.get(i) else { break };
                        match client
                            .post(&url)
                            .header("content-type", "application/tlsrpt+gzip")
                            .body(body.clone())
                            .send()
                            .await
                        {
                            Ok(response) if response.status() == 200 => {}
                            Ok(response) => eprintln!("report {i}: {}", response.status()),
                            Err(error) => eprintln!("report {i}: {error}"),
                        }
                    }
                }));
            }
            for task in tasks {
                let _ = task.await;
            }
            channel.stop();
            Ok::<_, Box<dyn std::error::Error>>(())
        })?;
    }
    let took = began.elapsed().as_secs_f64();
    let counted = ingestor.with_tally(|tally| {
        tally
            .domains
            .values()
            .flat_map(|senders| senders.values())
            .map(|counts| counts.reports)
            .sum::<u64>()
    });
    let rss_ingested = rss_mib();
    // What a restarted exporter holds: the spool counted again by a fresh
    // ingestor, measured over the process with the first one, the report
    // bodies and the clients gone and free memory returned to the system.
    drop((ingestor, bodies));
    let rss_base = trimmed_rss_mib();
    let began = Instant::now();
    let (ingestor, summary) = Ingestor::open(
        &storage,
        config.max_decompressed_bytes,
        config.retention_days,
        names,
        NOW,
    )?;
    let rebuild = began.elapsed().as_secs_f64();
    let rss_state = trimmed_rss_mib();
    let source =
        mtasts_exporter::metrics::tlsrpt::TlsrptSource::new(Arc::new(ingestor), Arc::default());
    // A scrape's section: the first renders every domain, the next only
    // what changed (nothing here); both streamed in chunks as /metrics is.
    let scrape = || {
        let began = Instant::now();
        let (mut bytes, mut lines) = (0usize, 0usize);
        let exposition = mtasts_exporter::metrics::exposition::Exposition::new(Vec::new())
            .with_section(mtasts_exporter::metrics::tlsrpt::domain_lines(&source));
        for chunk in exposition.chunks(mtasts_exporter::metrics::exposition::Format::Text) {
            bytes += chunk.len();
            lines += chunk.iter().filter(|&&b| b == b'\n').count();
        }
        (began.elapsed().as_secs_f64(), bytes, lines)
    };
    let (render, scrape_bytes, lines) = scrape();
    let (again, _, _) = scrape();
    let rss_rendered = trimmed_rss_mib();
    let (bytes, files) = dir_size(&storage.join("tlsrpt"));
    println!(
        "{} {count} reports, {clients} {}: {took:.2} s, {:.0} reports/s; counted {counted}",
        if direct { "direct" } else { "https" },
        if direct { "threads" } else { "clients" },
        count as f64 / took
    );
    println!(
        "rebuild: {} reports in {rebuild:.2} s ({:.0} reports/s); spool {files} files, {:.1} MiB",
        summary.reports,
        summary.reports as f64 / rebuild,
        bytes as f64 / (1024.0 * 1024.0)
    );
    println!(
        "scrape: the per-domain mtasts_tlsrpt_* families, {lines} lines, {:.1} MiB: first scrape (renders every domain) {render:.3} s, next scrape (nothing changed) {again:.3} s",
        scrape_bytes as f64 / (1024.0 * 1024.0)
    );
    let per_report = |mib: f64| mib * 1024.0 * 1024.0 / count.max(1) as f64;
    println!(
        "RSS: {:.0} MiB after ingesting (the ingestor, the listener, the clients and the {bodies_mib:.0} MiB of report bodies they send); after a restart (a fresh ingestor, memory returned with malloc_trim): the counts and recent reports hold {:.0} MiB ({:.0} bytes a report), the rendered families {:.0} MiB more ({:.0} bytes a report); peak {:.0} MiB",
        rss_ingested.0,
        rss_state - rss_base,
        per_report(rss_state - rss_base),
        rss_rendered - rss_state,
        per_report(rss_rendered - rss_state),
        rss_mib().1
    );
    Ok(())
}
