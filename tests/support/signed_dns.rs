//! The signed fake DNS (DANE tests, RFC 7672 with RFC 4033-4035 DNSSEC):
//! the world's records served by hickory-server on 127.0.0.1 from zones
//! signed in-process with keys made at start, under a signed `test.` zone
//! whose key is the trust anchor (written to a file for
//! `resolver.trust_anchor_file`).
//!
//! As on the Internet: one zone per registrable name (`good.test.`),
//! delegated from `test.` by an NS record and, for a signed zone, a DS
//! record; `test.`'s NSEC chain proves the absence of a DS for an unsigned
//! zone (an insecure delegation). A DS query is answered by the parent
//! zone, as the parent's servers would. Zones can be left unsigned, or
//! signed with a key the parent's DS does not name (every answer bogus).

use super::dns::{name, DnsFault, QueryLog};
use hickory_proto::dnssec::crypto::EcdsaSigningKey;
use hickory_proto::dnssec::rdata::{DNSSECRData, DNSKEY, DS};
use hickory_proto::dnssec::{Algorithm, DigestType, DnssecSigner, PublicKey, SigningKey};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{A, NS, SOA};
use hickory_proto::rr::RrKey;
use hickory_proto::rr::{LowerName, Name, RData, Record, RecordType};
use hickory_server::dnssec::NxProofKind;
use hickory_server::net::runtime::{Time, TokioRuntimeProvider};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo, Server};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{
    AxfrPolicy, Catalog, DnssecZoneHandler, MessageResponseBuilder, ZoneType,
};
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinHandle;

/// How a zone below `test.` is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Signing {
    /// Signed, with a DS in `test.`: its answers are secure.
    #[default]
    Signed,
    /// Not signed, no DS in `test.`: its answers are insecure.
    Unsigned,
    /// Signed, but the DS in `test.` names another key: bogus.
    WrongDs,
}

/// Which zones are signed how (by default every zone is [`Signing::Signed`]).
#[derive(Debug, Clone, Default)]
pub struct DnssecSpec {
    /// Zones (`plain.test`) and how they are served.
    pub zones: Vec<(String, Signing)>,
}

impl DnssecSpec {
    fn signing(&self, apex: &Name) -> Signing {
        self.zones
            .iter()
            .find(|(zone, _)| name(zone) == *apex)
            .map(|(_, signing)| *signing)
            .unwrap_or_default()
    }
}

/// The catalog for most queries and the one for DS queries (the parent
/// zone, `test.`), with faults for configured names.
struct SignedDns {
    catalog: Catalog,
    parents: Catalog,
    faults: Vec<(LowerName, DnsFault)>,
    log: QueryLog,
}

#[async_trait::async_trait]
impl RequestHandler for SignedDns {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        let query = request.queries.queries().first().cloned();
        if let Some(query) = &query {
            self.log.record(&query.name().into(), query.query_type());
        }
        let fault = query.as_ref().and_then(|q| {
            self.faults
                .iter()
                .find(|(name, _)| name.zone_of(q.name()))
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
        let is_ds = query
            .as_ref()
            .is_some_and(|q| q.query_type() == RecordType::DS && q.name().num_labels() >= 2);
        let catalog = if is_ds { &self.parents } else { &self.catalog };
        catalog
            .handle_request::<R, T>(request, response_handle)
            .await
    }
}

/// A zone signing key for `apex` (ECDSA P-256, one key signing all).
fn new_signer(apex: &Name) -> DnssecSigner {
    let pkcs8 = EcdsaSigningKey::generate_pkcs8(Algorithm::ECDSAP256SHA256).expect("zone key");
    let key = EcdsaSigningKey::from_pkcs8(&pkcs8, Algorithm::ECDSAP256SHA256).expect("zone key");
    let public = key.to_public_key().expect("public key");
    DnssecSigner::new(
        DNSKEY::from_key(&public),
        Box::new(key),
        apex.clone(),
        Duration::from_secs(86_400),
    )
}

/// An empty zone at `apex` with its SOA and NS (`ns.test.`).
fn new_zone(apex: &Name) -> InMemoryZoneHandler<TokioRuntimeProvider> {
    let mut zone = InMemoryZoneHandler::<TokioRuntimeProvider>::empty(
        apex.clone(),
        ZoneType::Primary,
        AxfrPolicy::Deny,
        Some(NxProofKind::Nsec),
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
    zone.upsert_mut(Record::from_rdata(apex.clone(), 60, RData::SOA(soa)), 1);
    zone.upsert_mut(
        Record::from_rdata(apex.clone(), 60, RData::NS(NS(name("ns.test")))),
        1,
    );
    zone
}

fn ds_record(owner: &Name, public: &dyn PublicKey) -> Record {
    let ds = DS::from_key(public, owner, DigestType::SHA256).expect("DS");
    Record::from_rdata(owner.clone(), 60, RData::DNSSEC(DNSSECRData::DS(ds)))
}

/// A running signed DNS server.
pub struct SignedDnsServer {
    /// Its address (UDP and TCP).
    pub addr: SocketAddr,
    /// The trust anchor file: the DNSKEY of `test.`.
    pub trust_anchor: tempfile::NamedTempFile,
    /// The server task.
    pub task: JoinHandle<()>,
    /// Every query it received.
    pub log: QueryLog,
    /// The zones below `test.`, to change while it runs.
    pub zones: SignedZones,
}

/// The zones below `test.` of a running signed server, by apex.
#[derive(Clone, Default)]
pub struct SignedZones(BTreeMap<Name, Arc<InMemoryZoneHandler<TokioRuntimeProvider>>>);

impl SignedZones {
    /// Replaces the `record_type` records of `owner` with `records`, and
    /// signs the zone again (a signed zone's new serial and signatures).
    pub async fn replace(&self, owner: &str, record_type: RecordType, records: Vec<Record>) {
        let owner = name(owner);
        let zone = self
            .0
            .get(&owner.trim_to(2))
            .expect("the record's zone is in the world");
        zone.records_mut()
            .await
            .remove(&RrKey::new(LowerName::new(&owner), record_type));
        for record in records {
            zone.upsert(record, 2).await;
        }
        // An unsigned zone has no keys: nothing is signed (a warning).
        zone.secure_zone().await.expect("sign the zone again");
    }
}

/// Starts the signed server for `records`, zones signed as `spec` says,
/// with `faults` for the names at or below each owner given.
pub async fn start_signed_dns(
    records: &[Record],
    faults: &[(String, DnsFault)],
    spec: &DnssecSpec,
) -> SignedDnsServer {
    let root = Name::from_str("test.").expect("zone");
    let mut children: BTreeMap<Name, Vec<Record>> = BTreeMap::new();
    for record in records {
        if record.name.num_labels() < 2 {
            continue;
        }
        children
            .entry(record.name.trim_to(2))
            .or_default()
            .push(record.clone());
    }
    let mut parent = new_zone(&root);
    parent.upsert_mut(
        Record::from_rdata(name("ns.test"), 60, RData::A(A(Ipv4Addr::LOCALHOST))),
        1,
    );
    let mut catalog = Catalog::new();
    let mut zones = SignedZones::default();
    for (apex, zone_records) in children {
        let mut zone = new_zone(&apex);
        for record in zone_records {
            zone.upsert_mut(record, 1);
        }
        parent.upsert_mut(
            Record::from_rdata(apex.clone(), 60, RData::NS(NS(name("ns.test")))),
            1,
        );
        let signing = spec.signing(&apex);
        if signing != Signing::Unsigned {
            let signer = new_signer(&apex);
            let ds = match signing {
                Signing::WrongDs => {
                    let other = new_signer(&apex);
                    ds_record(&apex, &other.key().to_public_key().expect("key"))
                }
                _ => ds_record(&apex, &signer.key().to_public_key().expect("key")),
            };
            parent.upsert_mut(ds, 1);
            zone.add_zone_signing_key_mut(signer).expect("add key");
            zone.secure_zone_mut().expect("sign zone");
        }
        let zone = Arc::new(zone);
        zones.0.insert(apex.clone(), zone.clone());
        catalog.upsert(LowerName::new(&apex), vec![zone]);
    }
    let signer = new_signer(&root);
    let anchor = signer.key().to_public_key().expect("anchor key");
    parent.add_zone_signing_key_mut(signer).expect("add key");
    parent.secure_zone_mut().expect("sign test.");
    let parent = Arc::new(parent);
    catalog.upsert(LowerName::new(&root), vec![parent.clone()]);
    let mut parents = Catalog::new();
    parents.upsert(LowerName::new(&root), vec![parent]);

    let trust_anchor = tempfile::NamedTempFile::new().expect("trust anchor file");
    let dnskey = DNSKEY::from_key(&anchor);
    std::fs::write(
        trust_anchor.path(),
        format!("test. 3600 IN DNSKEY {dnskey}\n"),
    )
    .expect("write trust anchor");

    let log = QueryLog::default();
    let handler = SignedDns {
        catalog,
        parents,
        log: log.clone(),
        faults: faults
            .iter()
            .map(|(owner, fault)| (LowerName::new(&name(owner)), *fault))
            .collect(),
    };
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
    SignedDnsServer {
        addr,
        trust_anchor,
        task,
        log,
        zones,
    }
}
