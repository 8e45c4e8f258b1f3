//! The fake world the integration tests probe: an authoritative DNS server
//! (hickory-server), an HTTPS policy server (tokio-rustls + hyper) with
//! certificates from an rcgen test CA. Everything listens on 127.0.0.1 at a
//! port the OS picks, and stops when the `World` is dropped.
#![allow(dead_code)]

pub mod harness;

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
    /// One key for every leaf certificate (generating a key per host would
    /// dominate the start of a 100,000-domain world).
    leaf_key: KeyPair,
    /// The CA certificate in PEM, for `tls.ca_file`.
    pub pem: String,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TestCa")
    }
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
    /// Issued by the test CA for the host, valid now, expiring in 5 days.
    ExpiringSoon,
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
            leaf_key: KeyPair::generate().expect("leaf key"),
        }
    }

    /// Issues a certificate for `names` (DNS names or IP addresses) and
    /// returns it and its key in PEM, for servers outside this module.
    pub fn issue_pem(&self, names: &[&str]) -> (String, String) {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).expect("params");
        params
            .distinguished_name
            .push(DnType::CommonName, "mtasts-exporter test server");
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.issuer).expect("cert");
        (cert.pem(), key.serialize_pem())
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
            CertKind::ExpiringSoon => (
                now - time::Duration::days(80),
                now + time::Duration::days(5),
            ),
            _ => (
                now - time::Duration::days(1),
                now + time::Duration::days(90),
            ),
        };
        params.not_before = not_before;
        params.not_after = not_after;
        let key = &self.leaf_key;
        let cert = match kind {
            CertKind::SelfSigned => params.self_signed(key),
            _ => params.signed_by(key, &self.issuer),
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
    /// How the server behaves (well, or one of the hostile ways).
    pub behavior: HttpBehavior,
    /// The certificate presented.
    pub cert: CertKind,
    /// HTTP status.
    pub status: u16,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

/// How a policy host's HTTPS server behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpBehavior {
    /// Answers with the configured status, headers and body.
    Normal,
    /// Sends the head and then one body byte every 500 ms (slowloris).
    Trickle,
    /// Sends a chunked body that never ends.
    EndlessBody,
    /// Sends 1 MiB of headers.
    HugeHeaders,
    /// Answers `HTTP/1.0 200` without a length and closes after the body.
    Http10NoLength,
    /// Accepts TCP and never speaks (no TLS). Served on an address of its own.
    SilentTcp,
    /// Answers the ClientHello with a fatal TLS alert. Served on an address
    /// of its own.
    TlsAlert,
}

impl PolicyHost {
    /// The same answer, served with a hostile behaviour.
    pub fn behaving(mut self, behavior: HttpBehavior) -> PolicyHost {
        self.behavior = behavior;
        self
    }

    /// A 200 `text/plain` answer with `body`, valid certificate.
    pub fn ok(body: &str) -> PolicyHost {
        PolicyHost {
            behavior: HttpBehavior::Normal,
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
            behavior: HttpBehavior::Normal,
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

/// How a fake MX host behaves on its SMTP port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpBehavior {
    /// A well-behaved server offering STARTTLS with this certificate.
    Tls(CertKind),
    /// EHLO reply without STARTTLS.
    NoStarttls,
    /// STARTTLS offered, then refused with this reply code.
    RefuseStarttls(u16),
    /// Accepts the connection and never says anything.
    NoBanner,
    /// Greets with this (error) code and closes.
    Greeting(u16),
    /// Sends `220-` continuation lines without end.
    EndlessLines,
    /// Says 220 to STARTTLS, then sends bytes that are not TLS.
    TlsGarbage,
    /// Says 220 to STARTTLS, then stalls.
    StallAfterStarttls,
    /// Says 220 to STARTTLS and pipelines an extra reply before TLS.
    InjectAfterStarttls,
    /// Says 220 to STARTTLS, then answers the ClientHello with a fatal
    /// handshake_failure alert.
    AlertAfterStarttls,
    /// Closes the connection on STARTTLS, without a reply.
    CloseOnStarttls,
    /// Says 220 to STARTTLS, then closes before the TLS handshake.
    CloseAfterStarttls,
}

/// Describes a world before it starts.
#[derive(Default)]
pub struct WorldSpec {
    records: Vec<Record>,
    hosts: HashMap<String, PolicyHost>,
    dns_faults: Vec<(String, DnsFault)>,
    smtp: Vec<(String, SmtpBehavior)>,
    unreachable: Vec<String>,
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

    /// An MX record whose exchange is given as raw labels, for names no
    /// host-name parser accepts (any byte may sit in a DNS label).
    pub fn mx_raw_labels(&mut self, owner: &str, preference: u16, labels: &[&[u8]]) -> &mut Self {
        let exchange = Name::from_labels(labels.iter().map(|l| l.to_vec()))
            .expect("test labels")
            .append_domain(&Name::root())
            .expect("test name");
        let rdata = RData::MX(MX::new(preference, exchange));
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
        self.dns_faults
            .push((owner.to_string(), DnsFault::ServFail));
        self
    }

    /// An MX host with an SMTP server behaving as told, on a loopback
    /// address of its own.
    pub fn smtp_host(&mut self, host: &str, behavior: SmtpBehavior) -> &mut Self {
        self.smtp.push((host.to_string(), behavior));
        self
    }

    /// A host whose address has nothing listening (connection refused).
    pub fn unreachable_host(&mut self, host: &str) -> &mut Self {
        self.unreachable.push(host.to_string());
        self
    }

    /// Every query at or below `owner` goes unanswered.
    pub fn blackhole(&mut self, owner: &str) -> &mut Self {
        self.dns_faults
            .push((owner.to_string(), DnsFault::NoAnswer));
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
            .smtp_host(&format!("mx1.{domain}"), SmtpBehavior::Tls(CertKind::Valid))
            .txt(
                &format!("_smtp._tls.{domain}"),
                &format!("v=TLSRPTv1; rua=mailto:tlsrpt@{domain}"),
            )
    }

    /// Starts the servers.
    pub async fn start(&self) -> World {
        let ca = Arc::new(TestCa::new());
        let mut records = self.records.clone();
        // Each SMTP host listens on 127.0.1.N, all on one port.
        let mut smtp_listeners = Vec::new();
        let mut smtp_port = 0;
        for (index, (host, behavior)) in self.smtp.iter().enumerate() {
            let ip = Ipv4Addr::new(127, 0, 1, index as u8 + 1);
            let listener = TcpListener::bind((ip, smtp_port)).await.expect("bind SMTP");
            smtp_port = listener.local_addr().expect("SMTP addr").port();
            records.push(Record::from_rdata(name(host), 60, RData::A(ip.into())));
            smtp_listeners.push((listener, host.clone(), *behavior));
        }
        if smtp_port == 0 {
            smtp_port = closed_port().await;
        }
        for (index, host) in self.unreachable.iter().enumerate() {
            let ip = Ipv4Addr::new(127, 0, 2, index as u8 + 1);
            records.push(Record::from_rdata(name(host), 60, RData::A(ip.into())));
        }
        let mut tasks = Vec::new();
        for (listener, host, behavior) in smtp_listeners {
            tasks.push(tokio::spawn(serve_smtp(
                listener,
                host,
                behavior,
                ca.clone(),
            )));
        }
        // Policy hosts that misbehave before TLS get an address of their own
        // (127.0.3.N) on the HTTPS port; the others share 127.0.0.1.
        let hosts = Arc::new(Mutex::new(self.hosts.clone()));
        let (https_addr, https_task) = start_https(&ca, hosts.clone()).await;
        tasks.push(https_task);
        let raw_hosts: Vec<(&String, HttpBehavior)> = self
            .hosts
            .iter()
            .filter(|(_, h)| matches!(h.behavior, HttpBehavior::SilentTcp | HttpBehavior::TlsAlert))
            .map(|(name, h)| (name, h.behavior))
            .collect();
        for (index, (host, behavior)) in raw_hosts.into_iter().enumerate() {
            let ip = Ipv4Addr::new(127, 0, 3, index as u8 + 1);
            let listener = TcpListener::bind((ip, https_addr.port()))
                .await
                .expect("bind raw HTTPS");
            records.retain(|r| {
                !(r.name == name(host) && r.record_type() == hickory_proto::rr::RecordType::A)
            });
            records.push(Record::from_rdata(name(host), 60, RData::A(ip.into())));
            tasks.push(tokio::spawn(serve_raw_policy_host(listener, behavior)));
        }
        let dns = start_dns(&records, &self.dns_faults).await;
        let ca_file = tempfile::NamedTempFile::new().expect("temp CA file");
        std::fs::write(ca_file.path(), &ca.pem).expect("write CA file");
        tasks.push(dns.1);
        World {
            dns_addr: dns.0,
            https_addr,
            smtp_port,
            ca_file,
            ca,
            hosts,
            tasks,
        }
    }
}

/// A running fake world.
pub struct World {
    /// DNS server (UDP and TCP on the same port).
    pub dns_addr: SocketAddr,
    /// HTTPS policy server.
    pub https_addr: SocketAddr,
    /// The port every fake MX host listens on (on its own address).
    pub smtp_port: u16,
    /// The test CA's PEM file.
    pub ca_file: tempfile::NamedTempFile,
    /// The test CA.
    pub ca: Arc<TestCa>,
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
        config.ports.smtp = self.smtp_port;
        config.smtp.helo_name = "probe.test".into();
        config.smtp.timeout = Duration::from_secs(5);
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
            "timeout: 10s\nresolver:\n  nameservers: [\"{}\"]\n  timeout: 2s\ntls:\n  ca_file: {}\nports:\n  https: {}\n  smtp: {}\nsmtp:\n  helo_name: probe.test\n  timeout: 5s\ndomains:\n",
            self.dns_addr,
            self.ca_file.path().display(),
            self.https_addr.port(),
            self.smtp_port
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

async fn start_dns(
    records: &[Record],
    faults: &[(String, DnsFault)],
) -> (SocketAddr, JoinHandle<()>) {
    // One zone per registrable name (`good.test.`), as on the Internet, and
    // an empty `test.` above them all so unknown names get NXDOMAIN. Small
    // zones also keep a 100,000-domain world's lookups cheap.
    let new_zone = |origin: &Name| {
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
        zone
    };
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
    let handler = FakeDns {
        catalog,
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

/// Issues each policy host's certificate on its first handshake (by SNI),
/// of the kind its answer asks for, and keeps it.
#[derive(Debug)]
struct LazyCerts {
    ca: Arc<TestCa>,
    hosts: Arc<Mutex<HashMap<String, PolicyHost>>>,
    issued: Mutex<HashMap<(String, u8), Arc<CertifiedKey>>>,
}

impl ResolvesServerCert for LazyCerts {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let host = hello.server_name()?.to_string();
        let kind = self.hosts.lock().expect("hosts lock").get(&host)?.cert;
        let key = (host, kind as u8);
        let mut issued = self.issued.lock().expect("issued lock");
        Some(
            issued
                .entry(key.clone())
                .or_insert_with(|| self.ca.certified_key(&key.0, kind))
                .clone(),
        )
    }
}

/// Presents one certificate whatever the client asks for (an MX host).
#[derive(Debug)]
struct OneCert(Arc<CertifiedKey>);

impl ResolvesServerCert for OneCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

async fn start_https(
    ca: &Arc<TestCa>,
    hosts: Arc<Mutex<HashMap<String, PolicyHost>>>,
) -> (SocketAddr, JoinHandle<()>) {
    let certs = LazyCerts {
        ca: ca.clone(),
        hosts: hosts.clone(),
        issued: Mutex::new(HashMap::new()),
    };
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_no_client_auth()
    .with_cert_resolver(Arc::new(certs));
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
                let behavior = hosts
                    .lock()
                    .expect("hosts lock")
                    .get(&sni)
                    .map(|h| (h.behavior, h.body.clone()));
                if let Some((behavior, body)) = behavior {
                    if behavior != HttpBehavior::Normal {
                        let _ = hostile_http(tls, behavior, body).await;
                        return;
                    }
                }
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

/// Answers one request the hostile way `behavior` says.
async fn hostile_http<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    stream: S,
    behavior: HttpBehavior,
    body: Vec<u8>,
) -> std::io::Result<()> {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let mut stream = BufReader::new(stream);
    // Read the request head.
    let mut line = String::new();
    loop {
        line.clear();
        if stream.read_line(&mut line).await? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
    }
    match behavior {
        HttpBehavior::Trickle => {
            stream
                .write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 500\r\n\r\n",
                )
                .await?;
            loop {
                stream.write_all(b"x").await?;
                stream.flush().await?;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
        HttpBehavior::EndlessBody => {
            stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n")
                .await?;
            let chunk = format!("2000\r\n{}\r\n", "x".repeat(0x2000));
            loop {
                stream.write_all(chunk.as_bytes()).await?;
            }
        }
        HttpBehavior::HugeHeaders => {
            stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n")
                .await?;
            let header = format!("X-Filler: {}\r\n", "y".repeat(1000));
            for _ in 0..1024 {
                stream.write_all(header.as_bytes()).await?;
            }
            stream.write_all(b"Content-Length: 0\r\n\r\n").await?;
        }
        HttpBehavior::Http10NoLength => {
            stream
                .write_all(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n")
                .await?;
            stream.write_all(&body).await?;
            stream.shutdown().await?;
        }
        HttpBehavior::Normal | HttpBehavior::SilentTcp | HttpBehavior::TlsAlert => {}
    }
    Ok(())
}

/// Serves a policy host that misbehaves before TLS, on an address of its own.
async fn serve_raw_policy_host(listener: TcpListener, behavior: HttpBehavior) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            match behavior {
                HttpBehavior::TlsAlert => {
                    let mut hello = [0u8; 1024];
                    let _ = stream.read(&mut hello).await;
                    // TLS record: alert, TLS 1.2, length 2, fatal, handshake_failure.
                    let _ = stream.write_all(&[21, 3, 3, 0, 2, 2, 40]).await;
                }
                _ => {
                    // Hold the connection, say nothing.
                    let mut sink = [0u8; 1024];
                    while let Ok(n) = stream.read(&mut sink).await {
                        if n == 0 {
                            break;
                        }
                    }
                }
            }
        });
    }
}

/// Serves one fake MX host.
async fn serve_smtp(listener: TcpListener, host: String, behavior: SmtpBehavior, ca: Arc<TestCa>) {
    let acceptor = match behavior {
        SmtpBehavior::Tls(kind) => {
            let config = rustls::ServerConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(OneCert(ca.certified_key(&host, kind))));
            Some(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
        }
        _ => None,
    };
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let acceptor = acceptor.clone();
        let host = host.clone();
        tokio::spawn(async move {
            let _ = smtp_session(stream, &host, behavior, acceptor).await;
        });
    }
}

async fn smtp_session(
    stream: tokio::net::TcpStream,
    host: &str,
    behavior: SmtpBehavior,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
) -> std::io::Result<()> {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let mut stream = BufReader::new(stream);
    match behavior {
        SmtpBehavior::NoBanner => {
            std::future::pending::<()>().await;
        }
        SmtpBehavior::Greeting(code) => {
            stream
                .write_all(format!("{code} {host} no service\r\n").as_bytes())
                .await?;
            return Ok(());
        }
        SmtpBehavior::EndlessLines => loop {
            stream
                .write_all(format!("220-{host} still greeting\r\n").as_bytes())
                .await?;
        },
        _ => {}
    }
    stream
        .write_all(format!("220 {host} ESMTP fake\r\n").as_bytes())
        .await?;
    let mut line = String::new();
    loop {
        line.clear();
        if stream.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_ascii_uppercase();
        if command.starts_with("EHLO") {
            let starttls = if behavior == SmtpBehavior::NoStarttls {
                ""
            } else {
                "250-STARTTLS\r\n"
            };
            stream
                .write_all(
                    format!("250-{host} hello\r\n250-PIPELINING\r\n{starttls}250 8BITMIME\r\n")
                        .as_bytes(),
                )
                .await?;
        } else if command == "STARTTLS" {
            match behavior {
                SmtpBehavior::RefuseStarttls(code) => {
                    stream
                        .write_all(format!("{code} 4.7.0 TLS not available\r\n").as_bytes())
                        .await?;
                }
                SmtpBehavior::StallAfterStarttls => {
                    stream.write_all(b"220 2.0.0 go ahead\r\n").await?;
                    std::future::pending::<()>().await;
                }
                SmtpBehavior::TlsGarbage => {
                    stream.write_all(b"220 2.0.0 go ahead\r\n").await?;
                    stream.flush().await?;
                    // Wait for the ClientHello, answer with plain text.
                    let mut hello = [0u8; 512];
                    let _ = tokio::io::AsyncReadExt::read(&mut stream, &mut hello).await?;
                    stream.write_all(b"this is not TLS at all\r\n").await?;
                    return Ok(());
                }
                SmtpBehavior::InjectAfterStarttls => {
                    stream
                        .write_all(b"220 2.0.0 go ahead\r\n250 injected\r\n")
                        .await?;
                }
                SmtpBehavior::CloseOnStarttls => return Ok(()),
                SmtpBehavior::CloseAfterStarttls => {
                    stream.write_all(b"220 2.0.0 go ahead\r\n").await?;
                    stream.flush().await?;
                    return Ok(());
                }
                SmtpBehavior::AlertAfterStarttls => {
                    stream.write_all(b"220 2.0.0 go ahead\r\n").await?;
                    stream.flush().await?;
                    let mut hello = [0u8; 512];
                    let _ = tokio::io::AsyncReadExt::read(&mut stream, &mut hello).await?;
                    // TLS record: alert (21), TLS 1.2, length 2, fatal (2), handshake_failure (40).
                    stream.write_all(&[21, 3, 3, 0, 2, 2, 40]).await?;
                    return Ok(());
                }
                SmtpBehavior::Tls(_) => {
                    stream
                        .write_all(b"220 2.0.0 ready to start TLS\r\n")
                        .await?;
                    stream.flush().await?;
                    let Some(acceptor) = acceptor else {
                        return Ok(());
                    };
                    let mut tls = BufReader::new(acceptor.accept(stream.into_inner()).await?);
                    loop {
                        line.clear();
                        if tls.read_line(&mut line).await? == 0 {
                            return Ok(());
                        }
                        if line.trim_end().eq_ignore_ascii_case("QUIT") {
                            tls.write_all(b"221 2.0.0 bye\r\n").await?;
                            tls.flush().await?;
                            return Ok(());
                        }
                        tls.write_all(b"250 ok\r\n").await?;
                    }
                }
                _ => {
                    stream.write_all(b"502 not implemented\r\n").await?;
                }
            }
        } else if command == "QUIT" {
            stream.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            stream.write_all(b"502 5.5.2 not implemented\r\n").await?;
        }
    }
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

/// An address nothing listens on (bound then released).
pub async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    listener.local_addr().expect("addr").port()
}

/// Loopback, for tests that need an IP.
pub const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
