//! CPU per DNS query of the probe's DNS client, against a minimal UDP
//! responder on loopback (issue 18: "cut what is ours: repeated DNS work
//! per probe"): the probe's `Dns` (hickory-net's transport through
//! `probe::name_servers`), hickory's whole resolver as the probe used it
//! before, and a minimal client (a socket per query, hickory-proto's
//! encoding, nothing else) as the floor. The client runs on a
//! current-thread runtime and only that thread's CPU time is counted, so
//! the responder (another thread) is not.
//!
//! ```sh
//! cargo run --release --example dns_cost -- [QUERIES] [CONCURRENCY]
//! ```

use hickory_proto::op::{Message, MessageType, Query};
use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use mtasts_exporter::config::ResolverConfig;
use mtasts_exporter::probe::dns::{resolver_builder, Dns};
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The calling thread's CPU time.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Answers every query with one TXT record for the asked name.
fn responder() -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind the responder");
    let address = socket.local_addr().expect("responder address");
    std::thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        loop {
            let Ok((len, from)) = socket.recv_from(&mut buffer) else {
                continue;
            };
            let Ok(query) = Message::from_vec(&buffer[..len]) else {
                continue;
            };
            let mut answer = Message::response(query.metadata.id, query.metadata.op_code);
            answer.metadata.message_type = MessageType::Response;
            answer.metadata.recursion_desired = query.metadata.recursion_desired;
            answer.metadata.recursion_available = true;
            if let Some(question) = query.queries.first() {
                answer.add_query(question.clone());
                answer.add_answer(Record::from_rdata(
                    question.name().clone(),
                    300,
                    RData::TXT(TXT::new(vec!["v=STSv1; id=20261202;".to_string()])),
                ));
            }
            if let Ok(bytes) = answer.to_vec() {
                let _ = socket.send_to(&bytes, from);
            }
        }
    });
    address
}

/// A query the way a minimal client would send it: a socket of its own on
/// a random port, one datagram out, one in.
async fn minimal_query(server: SocketAddr, name: &Name, id: u16) -> usize {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind");
    socket.connect(server).await.expect("connect");
    let mut message = Message::query();
    message.metadata.id = id;
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(name.clone(), RecordType::TXT));
    let bytes = message.to_vec().expect("encode");
    socket.send(&bytes).await.expect("send");
    let mut buffer = [0u8; 4096];
    let len = socket.recv(&mut buffer).await.expect("receive");
    let answer = Message::from_vec(&buffer[..len]).expect("decode");
    answer.answers.len()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let queries: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let concurrency: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(64);
    let server = responder();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let config = ResolverConfig {
        nameservers: vec![server],
        timeout: Duration::from_secs(5),
        trust_anchor_file: None,
        trust_ad_bit: false,
        dnssec_cache_max_ttl: Duration::ZERO,
        dnssec_cache_size: 0,
    };
    let dns = Dns::new(&config).expect("resolver");
    // The resolver as the probe built it before issue 18's change.
    let resolver = {
        let mut builder = resolver_builder(&config).expect("resolver builder");
        let options = builder.options_mut();
        options.cache_size = 0;
        options.timeout = config.timeout;
        options.attempts = 1;
        options.ndots = 0;
        options.preserve_intermediates = false;
        builder.build().expect("resolver")
    };

    runtime.block_on(async {
        for round in 0..2 {
            let each = Each {
                round,
                queries,
                concurrency,
            };
            each.measure("probe's Dns (NameServers)", |i| {
                let dns = dns.clone();
                async move {
                    let name = format!("_mta-sts.d{i}.test");
                    dns.txt(&name)
                        .await
                        .map(|a| a.into_records().len())
                        .unwrap_or(0)
                }
            })
            .await;
            each.measure("minimal (socket per query)", |i| async move {
                let name = Name::from_ascii(format!("_mta-sts.d{i}.test.")).expect("name");
                minimal_query(server, &name, i as u16).await
            })
            .await;
            each.measure("hickory resolver (before)", |i| {
                let resolver = resolver.clone();
                async move {
                    let name = format!("_mta-sts.d{i}.test.");
                    match resolver.lookup(name.as_str(), RecordType::TXT).await {
                        Ok(lookup) => lookup.answers().len(),
                        Err(_) => 0,
                    }
                }
            })
            .await;
        }
    });
}

/// One round of one client: how many queries, how many at a time.
struct Each {
    round: usize,
    queries: usize,
    concurrency: usize,
}

impl Each {
    /// Runs `query(i)` for every query, `concurrency` at a time (each
    /// returns the answers it got), and prints the CPU of this thread per
    /// query and the wall time.
    async fn measure<F, Fut>(&self, what: &str, query: F)
    where
        F: FnMut(usize) -> Fut,
        Fut: std::future::Future<Output = usize>,
    {
        use futures_util::stream::{self, StreamExt};
        let (cpu, wall) = (thread_cpu(), Instant::now());
        let answered = stream::iter(0..self.queries)
            .map(query)
            .buffer_unordered(self.concurrency)
            .fold(0, |sum, n| async move { sum + n })
            .await;
        let cpu = thread_cpu() - cpu;
        println!(
            "{what:<34} round {}: {} queries, {answered} answered, {:.1} us CPU a query, {:.2} s",
            self.round,
            self.queries,
            cpu.as_secs_f64() * 1e6 / self.queries as f64,
            wall.elapsed().as_secs_f64()
        );
    }
}
