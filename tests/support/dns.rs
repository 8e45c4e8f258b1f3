//! The fake DNS: an authoritative server (hickory-server) on 127.0.0.1
//! serving a world's records over UDP and TCP, with names that answer
//! SERVFAIL or never answer, and a spoofing server whose answers carry the
//! wrong message ID.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::SOA;
use hickory_proto::rr::{LowerName, Name, RData, Record};
use hickory_server::net::runtime::{Time, TokioRuntimeProvider};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo, Server};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, MessageResponseBuilder, ZoneType};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinHandle;

/// The zone every test name lives in.
const ZONE: &str = "test.";

/// A fully qualified name from test text (`good.test` or `good.test.`).
pub fn name(text: &str) -> Name {
    Name::from_str(&format!("{}.", text.trim_end_matches('.'))).expect("test name")
}

/// A way the fake DNS server misbehaves for the names at or below one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsFault {
    /// Answers SERVFAIL.
    ServFail,
    /// Never answers.
    NoAnswer,
}

/// The catalog, with faults for configured names.
struct FakeDns {
    catalog: Catalog,
    faults: Vec<(LowerName, DnsFault)>,
}

#[async_trait::async_trait]
impl RequestHandler for FakeDns {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        let query_name = request.queries.queries().first().map(|q| q.name().clone());
        let fault = query_name.as_ref().and_then(|q| {
            self.faults
                .iter()
                .find(|(name, _)| name.zone_of(q))
                .map(|(_, fault)| *fault)
        });
        if fault == Some(DnsFault::NoAnswer) {
            return std::future::pending().await;
        }
        if fault == Some(DnsFault::ServFail) {
            let response = MessageResponseBuilder::new(&request.queries, None)
                .error_msg(&request.metadata, ResponseCode::ServFail);
            let header = hickory_proto::op::Header {
                metadata: request.metadata,
                counts: Default::default(),
            };
            return response_handle
                .send_response(response)
                .await
                .unwrap_or_else(|_| ResponseInfo::from(header));
        }
        self.catalog
            .handle_request::<R, T>(request, response_handle)
            .await
    }
}

/// An empty primary zone at `origin`, with its SOA.
fn new_zone(origin: &Name) -> InMemoryZoneHandler<TokioRuntimeProvider> {
    let mut zone = InMemoryZoneHandler::<TokioRuntimeProvider>::empty(
        origin.clone(),
        ZoneType::Primary,
        AxfrPolicy::Deny,
        None,
    );
    let soa = SOA::new(
        name("ns.test"),
        name("hostmaster.test"),
        1,
        3600,
        600,
        86400,
        60,
    );
    zone.upsert_mut(Record::from_rdata(origin.clone(), 60, RData::SOA(soa)), 1);
    zone
}

/// The catalog of `records`: one zone per registrable name (`good.test.`),
/// as on the Internet, and an empty `test.` above them all so unknown names
/// get NXDOMAIN. Small zones also keep a 100,000-domain world's lookups
/// cheap.
fn catalog(records: &[Record]) -> Catalog {
    let root = Name::from_str(ZONE).expect("zone");
    let mut zones: HashMap<Name, InMemoryZoneHandler<TokioRuntimeProvider>> = HashMap::new();
    zones.insert(root.clone(), new_zone(&root));
    for record in records {
        let labels = record.name.num_labels();
        let apex = if labels >= 2 {
            record.name.trim_to(2)
        } else {
            root.clone()
        };
        zones
            .entry(apex.clone())
            .or_insert_with(|| new_zone(&apex))
            .upsert_mut(record.clone(), 1);
    }
    let mut catalog = Catalog::new();
    for (origin, zone) in zones {
        catalog.upsert(LowerName::new(&origin), vec![Arc::new(zone)]);
    }
    catalog
}

/// Starts the authoritative server for `records`, with `faults` for the
/// names at or below each owner given. Returns its address (UDP and TCP).
pub async fn start_dns(
    records: &[Record],
    faults: &[(String, DnsFault)],
) -> (SocketAddr, JoinHandle<()>) {
    let handler = FakeDns {
        catalog: catalog(records),
        faults: faults
            .iter()
            .map(|(owner, fault)| (LowerName::new(&name(owner)), *fault))
            .collect(),
    };
    // UDP and TCP on one port: the port the OS picks for UDP may be taken
    // for TCP (other tests run in parallel), so try again until both fit.
    let mut attempts = 0;
    let (udp, tcp, addr) = loop {
        let udp = UdpSocket::bind("127.0.0.1:0").await.expect("bind DNS UDP");
        let addr = udp.local_addr().expect("DNS addr");
        match TcpListener::bind(addr).await {
            Ok(tcp) => break (udp, tcp, addr),
            Err(error) => {
                attempts += 1;
                assert!(attempts < 50, "cannot bind DNS TCP: {error}");
            }
        }
    };
    let mut server = Server::new(handler);
    server.register_socket(udp);
    server.register_listener(tcp, Duration::from_secs(5), 65535);
    let task = tokio::spawn(async move {
        let _ = server.block_until_done().await;
    });
    (addr, task)
}

/// A DNS server on 127.0.0.1 that answers every query with another message
/// ID than the query's (a spoofing attempt's signature): resolvers must drop
/// such answers. Returns its address.
pub async fn spoofing_dns_server() -> (SocketAddr, JoinHandle<()>) {
    let socket = UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind spoofing DNS");
    let addr = socket.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        let mut buffer = [0u8; 1500];
        loop {
            let Ok((len, peer)) = socket.recv_from(&mut buffer).await else {
                continue;
            };
            if len < 12 {
                continue;
            }
            let mut answer = buffer[..len].to_vec();
            let id = u16::from_be_bytes([answer[0], answer[1]]).wrapping_add(1);
            answer[..2].copy_from_slice(&id.to_be_bytes());
            answer[2] |= 0x80; // QR: a response
            answer[3] = (answer[3] & 0xf0) | 2; // RCODE SERVFAIL
            let _ = socket.send_to(&answer, peer).await;
        }
    });
    (addr, task)
}

/// The queries a fake DNS server received, in order: name (lower case, no
/// trailing dot) and type. Shared with the test, which counts them.
#[derive(Debug, Clone, Default)]
pub struct QueryLog(Arc<std::sync::Mutex<Vec<(String, hickory_proto::rr::RecordType)>>>);

impl QueryLog {
    /// Notes one query.
    pub fn record(&self, name: &Name, record_type: hickory_proto::rr::RecordType) {
        let name = name.to_ascii().trim_end_matches('.').to_ascii_lowercase();
        self.0
            .lock()
            .expect("query log lock")
            .push((name, record_type));
    }

    /// The queries so far.
    pub fn queries(&self) -> Vec<(String, hickory_proto::rr::RecordType)> {
        self.0.lock().expect("query log lock").clone()
    }

    /// How many queries so far.
    pub fn len(&self) -> usize {
        self.0.lock().expect("query log lock").len()
    }
}
