//! The fake world the integration tests probe: an authoritative DNS server
//! (hickory-server), an HTTPS policy server (tokio-rustls + hyper) with
//! certificates from an rcgen test CA. Everything listens on 127.0.0.1 at a
//! port the OS picks, and stops when the `World` is dropped.
#![allow(dead_code)]

use bytes::Bytes;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{CNAME, MX, SOA, TXT};
use hickory_proto::rr::{LowerName, Name, RData, Record};
use hickory_server::net::runtime::{Time, TokioRuntimeProvider};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo, Server};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, MessageResponseBuilder, ZoneType};
use http_body_util::Full;
use mtasts_exporter::config::{Config, DomainConfig};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinHandle;

/// The zone every test name lives in.
pub const ZONE: &str = "test.";

/// The test certificate authority.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    /// The CA certificate in PEM, for `tls.ca_file`.
    pub pem: String,
}

/// Which certificate a policy or MX host presents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertKind {
    /// Issued by the test CA for the host, valid now.
    Valid,
    /// Issued by the test CA for the host, expired ten days ago.
    Expired,
    /// Issued by the test CA for the host, valid from ten days on.
    NotYetValid,
    /// Issued by the test CA, valid now, for another name.
    WrongHost,
    /// Self-signed: not from any trusted CA.
    SelfSigned,
}

impl TestCa {
    /// Makes a fresh CA.
    pub fn new() -> TestCa {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "mtasts-exporter test CA");
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).expect("CA cert");
        TestCa {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// Issues a certificate of `kind` for `host`.
    pub fn certified_key(&self, host: &str, kind: CertKind) -> Arc<CertifiedKey> {
        let now = time::OffsetDateTime::now_utc();
        let names = match kind {
            CertKind::WrongHost => vec!["other-host.invalid".to_string()],
            _ => vec![host.to_string()],
        };
        let mut params = CertificateParams::new(names).expect("leaf params");
        params.distinguished_name.push(DnType::CommonName, host);
        let (not_before, not_after) = match kind {
            CertKind::Expired => (
                now - time::Duration::days(100),
                now - time::Duration::days(10),
            ),
            CertKind::NotYetValid => (
                now + time::Duration::days(10),
                now + time::Duration::days(100),
            ),
            _ => (
                now - time::Duration::days(1),
                now + time::Duration::days(90),
            ),
        };
        params.not_before = not_before;
        params.not_after = not_after;
        let key = KeyPair::generate().expect("leaf key");
        let cert = match kind {
            CertKind::SelfSigned => params.self_signed(&key),
            _ => params.signed_by(&key, &self.issuer),
        }
        .expect("leaf cert");
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        Arc::new(
            CertifiedKey::from_der(
                vec![cert.der().clone()],
                key_der,
                &rustls::crypto::ring::default_provider(),
            )
            .expect("certified key"),
        )
    }
}

/// What the policy server answers for one host.
#[derive(Debug, Clone)]
pub struct PolicyHost {
    /// The certificate presented.
    pub cert: CertKind,
    /// HTTP status.
    pub status: u16,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl PolicyHost {
    /// A 200 `text/plain` answer with `body`, valid certificate.
    pub fn ok(body: &str) -> PolicyHost {
        PolicyHost {
            cert: CertKind::Valid,
            status: 200,
            headers: vec![("content-type".into(), "text/plain".into())],
            body: body.as_bytes().to_vec(),
        }
    }

    /// The same answer with another certificate.
    pub fn with_cert(mut self, cert: CertKind) -> PolicyHost {
        self.cert = cert;
        self
    }

    /// An answer with `status` and `headers`, empty body.
    pub fn status(status: u16, headers: &[(&str, &str)]) -> PolicyHost {
        PolicyHost {
            cert: CertKind::Valid,
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: Vec::new(),
        }
    }
}

/// A policy as RFC 8461 §3.2 text.
pub fn policy_text(mode: &str, mx: &[&str], max_age: u64) -> String {
    let mut text = format!("version: STSv1\r\nmode: {mode}\r\n");
    for m in mx {
        text.push_str(&format!("mx: {m}\r\n"));
    }
    text.push_str(&format!("max_age: {max_age}\r\n"));
    text
}

/// Describes a world before it starts.
#[derive(Default)]
pub struct WorldSpec {
    records: Vec<Record>,
    hosts: HashMap<String, PolicyHost>,
    servfail: Vec<String>,
    blackhole: Vec<String>,
}

fn name(text: &str) -> Name {
    Name::from_str(&format!("{}.", text.trim_end_matches('.'))).expect("test name")
}

impl WorldSpec {
    /// An empty world.
    pub fn new() -> WorldSpec {
        WorldSpec::default()
    }

    /// A TXT record made of several character-strings.
    pub fn txt_strings(&mut self, owner: &str, strings: &[&str]) -> &mut Self {
        let rdata = RData::TXT(TXT::new(strings.iter().map(|s| s.to_string()).collect()));
        self.records
            .push(Record::from_rdata(name(owner), 60, rdata));
        self
    }

    /// A TXT record.
    pub fn txt(&mut self, owner: &str, text: &str) -> &mut Self {
        self.txt_strings(owner, &[text])
    }

    /// An MX record.
    pub fn mx(&mut self, owner: &str, preference: u16, exchange: &str) -> &mut Self {
        let rdata = RData::MX(MX::new(preference, name(exchange)));
        self.records
            .push(Record::from_rdata(name(owner), 60, rdata));
        self
    }

    /// An A record to 127.0.0.1.
    pub fn a(&mut self, owner: &str) -> &mut Self {
        let rdata = RData::A(Ipv4Addr::LOCALHOST.into());
        self.records
            .push(Record::from_rdata(name(owner), 60, rdata));
        self
    }

    /// A CNAME record.
    pub fn cname(&mut self, owner: &str, target: &str) -> &mut Self {
        let rdata = RData::CNAME(CNAME(name(target)));
        self.records
            .push(Record::from_rdata(name(owner), 60, rdata));
        self
    }

    /// The policy server's answer for `host`.
    pub fn policy_host(&mut self, host: &str, answer: PolicyHost) -> &mut Self {
        self.hosts.insert(host.to_string(), answer);
        self
    }

    /// Every query at or below `owner` gets SERVFAIL.
    pub fn servfail(&mut self, owner: &str) -> &mut Self {
        self.servfail.push(owner.to_string());
        self
    }

    /// Every query at or below `owner` goes unanswered.
    pub fn blackhole(&mut self, owner: &str) -> &mut Self {
        self.blackhole.push(owner.to_string());
        self
    }

    /// A complete, healthy MTA-STS domain: record with `id`, policy host
    /// serving `policy` with a valid certificate, `MX 10 mx1.<domain>` and
    /// a TLSRPT record.
    pub fn mta_sts_domain(&mut self, domain: &str, id: &str, policy: &str) -> &mut Self {
        self.txt(&format!("_mta-sts.{domain}"), &format!("v=STSv1; id={id}"))
            .a(&format!("mta-sts.{domain}"))
            .policy_host(&format!("mta-sts.{domain}"), PolicyHost::ok(policy))
            .mx(domain, 10, &format!("mx1.{domain}"))
            .a(&format!("mx1.{domain}"))
            .txt(
                &format!("_smtp._tls.{domain}"),
                &format!("v=TLSRPTv1; rua=mailto:tlsrpt@{domain}"),
            )
    }

    /// Starts the servers.
    pub async fn start(&self) -> World {
        let ca = TestCa::new();
        let dns = start_dns(&self.records, &self.servfail, &self.blackhole).await;
        let hosts = Arc::new(Mutex::new(self.hosts.clone()));
        let (https_addr, https_task) = start_https(&ca, hosts.clone()).await;
        let ca_file = tempfile::NamedTempFile::new().expect("temp CA file");
        std::fs::write(ca_file.path(), &ca.pem).expect("write CA file");
        World {
            dns_addr: dns.0,
            https_addr,
            ca_file,
            ca,
            hosts,
            tasks: vec![dns.1, https_task],
        }
    }
}

/// A running fake world.
pub struct World {
    /// DNS server (UDP and TCP on the same port).
    pub dns_addr: SocketAddr,
    /// HTTPS policy server.
    pub https_addr: SocketAddr,
    /// The test CA's PEM file.
    pub ca_file: tempfile::NamedTempFile,
    /// The test CA.
    pub ca: TestCa,
    hosts: Arc<Mutex<HashMap<String, PolicyHost>>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for World {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl World {
    /// A config pointing at this world, watching `domains` with `settings`
    /// defaults (timeout 10s).
    pub fn config(&self, domains: &[&str]) -> Config {
        let mut config = Config::default();
        config.resolver.nameservers = vec![self.dns_addr];
        config.resolver.timeout = Duration::from_secs(2);
        config.ca_file = Some(self.ca_file.path().to_path_buf());
        config.ports.https = self.https_addr.port();
        config.defaults.timeout = Duration::from_secs(10);
        config.domains = domains
            .iter()
            .map(|d| DomainConfig {
                name: d.to_string(),
                settings: config.defaults.clone(),
            })
            .collect();
        config
    }

    /// The YAML config text for this world.
    pub fn config_yaml(&self, domains: &[&str]) -> String {
        let mut yaml = format!(
            "timeout: 10s\nresolver:\n  nameservers: [\"{}\"]\n  timeout: 2s\ntls:\n  ca_file: {}\nports:\n  https: {}\ndomains:\n",
            self.dns_addr,
            self.ca_file.path().display(),
            self.https_addr.port()
        );
        for d in domains {
            yaml.push_str(&format!("  - {d}\n"));
        }
        yaml
    }

    /// Replaces what the policy server answers for `host`.
    pub fn set_policy_host(&self, host: &str, answer: PolicyHost) {
        self.hosts
            .lock()
            .expect("hosts lock")
            .insert(host.to_string(), answer);
    }
}

/// The catalog, with SERVFAIL or no answer at all for configured names.
struct FakeDns {
    catalog: Catalog,
    servfail: Vec<LowerName>,
    blackhole: Vec<LowerName>,
}

#[async_trait::async_trait]
impl RequestHandler for FakeDns {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        let query_name = request.queries.queries().first().map(|q| q.name().clone());
        let under = |names: &[LowerName]| {
            query_name
                .as_ref()
                .is_some_and(|q| names.iter().any(|n| n.zone_of(q)))
        };
        if under(&self.blackhole) {
            return std::future::pending().await;
        }
        let failing = under(&self.servfail);
        if failing {
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

async fn start_dns(
    records: &[Record],
    servfail: &[String],
    blackhole: &[String],
) -> (SocketAddr, JoinHandle<()>) {
    let origin = Name::from_str(ZONE).expect("zone");
    let mut zone = InMemoryZoneHandler::<TokioRuntimeProvider>::empty(
        origin.clone(),
        ZoneType::Primary,
        AxfrPolicy::Deny,
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
    for record in records {
        zone.upsert_mut(record.clone(), 1);
    }
    let mut catalog = Catalog::new();
    catalog.upsert(LowerName::new(&origin), vec![Arc::new(zone)]);
    let handler = FakeDns {
        catalog,
        servfail: servfail.iter().map(|s| LowerName::new(&name(s))).collect(),
        blackhole: blackhole.iter().map(|s| LowerName::new(&name(s))).collect(),
    };
    let udp = UdpSocket::bind("127.0.0.1:0").await.expect("bind DNS UDP");
    let addr = udp.local_addr().expect("DNS addr");
    let tcp = TcpListener::bind(addr).await.expect("bind DNS TCP");
    let mut server = Server::new(handler);
    server.register_socket(udp);
    server.register_listener(tcp, Duration::from_secs(5), 65535);
    let task = tokio::spawn(async move {
        let _ = server.block_until_done().await;
    });
    (addr, task)
}

/// Picks each host's certificate by SNI.
#[derive(Debug)]
struct SniCerts(HashMap<String, Arc<CertifiedKey>>);

impl ResolvesServerCert for SniCerts {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        hello.server_name().and_then(|n| self.0.get(n).cloned())
    }
}

async fn start_https(
    ca: &TestCa,
    hosts: Arc<Mutex<HashMap<String, PolicyHost>>>,
) -> (SocketAddr, JoinHandle<()>) {
    let mut certs = HashMap::new();
    for (host, answer) in hosts.lock().expect("hosts lock").iter() {
        certs.insert(host.clone(), ca.certified_key(host, answer.cert));
    }
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_no_client_auth()
    .with_cert_resolver(Arc::new(SniCerts(certs)));
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind HTTPS");
    let addr = listener.local_addr().expect("HTTPS addr");
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            let hosts = hosts.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let sni = tls
                    .get_ref()
                    .1
                    .server_name()
                    .unwrap_or_default()
                    .to_string();
                let service = hyper::service::service_fn(
                    move |request: hyper::Request<hyper::body::Incoming>| {
                        let answer = hosts.lock().expect("hosts lock").get(&sni).cloned();
                        async move {
                            let mut response = hyper::Response::builder();
                            let body = match (answer, request.uri().path()) {
                                (Some(answer), "/.well-known/mta-sts.txt") => {
                                    response = response.status(answer.status);
                                    for (k, v) in &answer.headers {
                                        response = response.header(k, v);
                                    }
                                    answer.body
                                }
                                _ => {
                                    response = response.status(404);
                                    b"not found".to_vec()
                                }
                            };
                            response.body(Full::new(Bytes::from(body)))
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    (addr, task)
}

/// An address nothing listens on (bound then released).
pub async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    listener.local_addr().expect("addr").port()
}

/// Loopback, for tests that need an IP.
pub const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
