//! The world builder: a [`WorldSpec`] lists DNS records, policy hosts and
//! MX hosts; [`WorldSpec::start`] starts the DNS, HTTPS and SMTP servers on
//! loopback and returns the running [`World`], which also writes the
//! exporter configuration pointing at itself.

use super::ad_dns::{start_ad_resolver, AdSpec};
use super::ca::{CertKind, TestCa};
use super::dns::{name, start_dns, DnsFault, QueryLog};
use super::https::{serve_raw_policy_host, start_https, PolicyHost, PolicyHosts};
use super::signed_dns::{start_signed_dns, DnssecSpec, SignedZones};
use super::smtp::{serve_smtp, SmtpBehavior};
use hickory_proto::rr::rdata::{CNAME, MX, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use mtasts_exporter::config::Config;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Describes a world before it starts.
#[derive(Default)]
pub struct WorldSpec {
    records: Vec<Record>,
    hosts: HashMap<String, PolicyHost>,
    dns_faults: Vec<(String, DnsFault)>,
    smtp: Vec<(String, SmtpBehavior)>,
    multi_smtp: Vec<(String, Vec<MxAddress>)>,
    unreachable: Vec<String>,
    ipv6_hosts: HashMap<String, PolicyHost>,
    /// Zones signed (DANE tests): `None` serves the unsigned world.
    dnssec: Option<DnssecSpec>,
    /// TLSA records whose data is made from the CA at start.
    tlsa: Vec<(String, [u8; 3], TlsaData)>,
    /// The world's DNS behind a fake validating resolver that sets the
    /// AD flag (`resolver.trust_ad_bit`), instead of signed zones.
    ad: Option<AdSpec>,
}

/// What a TLSA record of the world holds ([`WorldSpec::tlsa`]), made from
/// the test CA when the world starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsaData {
    /// From the leaf certificate every MX host with
    /// [`CertKind::Valid`] presents (they share one key), by selector and
    /// matching type.
    Leaf,
    /// From the test CA's certificate.
    Ca,
    /// These bytes, as given (a key the server does not have).
    Raw(Vec<u8>),
}

/// One address of an MX host with several ([`WorldSpec::smtp_host_addresses`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MxAddress {
    /// An IPv4 address (127.0.1.N) serving SMTP as told.
    V4(SmtpBehavior),
    /// An IPv4 address (127.0.4.N) where nothing listens.
    V4Refused,
    /// `::1`, serving SMTP as told (one `::1` per world).
    V6(SmtpBehavior),
    /// `::1`, where nothing listens on the SMTP port.
    V6Refused,
}

impl WorldSpec {
    /// An empty world.
    pub fn new() -> WorldSpec {
        WorldSpec::default()
    }

    /// A record of `owner` with `rdata`.
    fn record(&mut self, owner: &str, rdata: RData) -> &mut Self {
        self.records
            .push(Record::from_rdata(name(owner), 60, rdata));
        self
    }

    /// A TXT record made of several character-strings.
    pub fn txt_strings(&mut self, owner: &str, strings: &[&str]) -> &mut Self {
        let strings = strings.iter().map(|s| s.to_string()).collect();
        self.record(owner, RData::TXT(TXT::new(strings)))
    }

    /// A TXT record.
    pub fn txt(&mut self, owner: &str, text: &str) -> &mut Self {
        self.txt_strings(owner, &[text])
    }

    /// An MX record.
    pub fn mx(&mut self, owner: &str, preference: u16, exchange: &str) -> &mut Self {
        self.record(owner, RData::MX(MX::new(preference, name(exchange))))
    }

    /// An MX record whose exchange is given as raw labels, for names no
    /// host-name parser accepts (any byte may sit in a DNS label).
    pub fn mx_raw_labels(&mut self, owner: &str, preference: u16, labels: &[&[u8]]) -> &mut Self {
        let exchange = Name::from_labels(labels.iter().map(|l| l.to_vec()))
            .expect("test labels")
            .append_domain(&Name::root())
            .expect("test name");
        self.record(owner, RData::MX(MX::new(preference, exchange)))
    }

    /// Serves the zones signed ([`DnssecSpec`]: every zone below `test.`
    /// signed unless it says otherwise), the exporter given the trust
    /// anchor of `test.`.
    pub fn dnssec(&mut self, spec: DnssecSpec) -> &mut Self {
        self.dnssec = Some(spec);
        self
    }

    /// Serves the (unsigned) zones through a fake validating resolver that
    /// sets the AD flag as `spec` says ([`AdSpec`]), the exporter told to
    /// trust it (`resolver.trust_ad_bit: true`).
    pub fn ad_resolver(&mut self, spec: AdSpec) -> &mut Self {
        self.ad = Some(spec);
        self
    }

    /// A TLSA record `usage selector matching data` at `owner`.
    pub fn tlsa(&mut self, owner: &str, usm: [u8; 3], data: TlsaData) -> &mut Self {
        self.tlsa.push((owner.to_string(), usm, data));
        self
    }

    /// An A record to 127.0.0.1.
    pub fn a(&mut self, owner: &str) -> &mut Self {
        self.record(owner, RData::A(Ipv4Addr::LOCALHOST.into()))
    }

    /// A CNAME record.
    pub fn cname(&mut self, owner: &str, target: &str) -> &mut Self {
        self.record(owner, RData::CNAME(CNAME(name(target))))
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

    /// Every query at or below `owner` goes unanswered.
    pub fn blackhole(&mut self, owner: &str) -> &mut Self {
        self.dns_faults
            .push((owner.to_string(), DnsFault::NoAnswer));
        self
    }

    /// An MX host with an SMTP server behaving as told, on a loopback
    /// address of its own.
    pub fn smtp_host(&mut self, host: &str, behavior: SmtpBehavior) -> &mut Self {
        self.smtp.push((host.to_string(), behavior));
        self
    }

    /// An MX host with several addresses, each behaving as told, in this
    /// order in DNS (A records, then the AAAA record `::1`).
    pub fn smtp_host_addresses(&mut self, host: &str, addresses: &[MxAddress]) -> &mut Self {
        self.multi_smtp.push((host.to_string(), addresses.to_vec()));
        self
    }

    /// The policy host `host` also at `::1`, where the policy server
    /// answers with `answer` (its A record stays on 127.0.0.1 with the
    /// answer of [`WorldSpec::policy_host`]). One policy server serves
    /// `::1`, on the HTTPS port.
    pub fn policy_host_ipv6(&mut self, host: &str, answer: PolicyHost) -> &mut Self {
        self.ipv6_hosts.insert(host.to_string(), answer);
        self.record(host, RData::AAAA(Ipv6Addr::LOCALHOST.into()))
    }

    /// A host whose address has nothing listening (connection refused).
    pub fn unreachable_host(&mut self, host: &str) -> &mut Self {
        self.unreachable.push(host.to_string());
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
        let mut tasks = Vec::new();
        let smtp_sessions = SmtpSessions::default();
        let smtp_port = self
            .start_smtp_hosts(&ca, &mut records, &mut tasks, &smtp_sessions)
            .await;
        for (index, host) in self.unreachable.iter().enumerate() {
            let ip = Ipv4Addr::new(127, 0, 2, index as u8 + 1);
            records.push(Record::from_rdata(name(host), 60, RData::A(ip.into())));
        }
        let hosts = Arc::new(Mutex::new(self.hosts.clone()));
        let https_addr = self.start_policy_servers(&ca, &hosts, &mut tasks).await;
        self.start_raw_policy_hosts(https_addr.port(), &mut records, &mut tasks)
            .await;
        for (owner, usm, data) in &self.tlsa {
            records.push(tlsa_record(&ca, owner, *usm, data));
        }
        let mut dns_log = QueryLog::default();
        let mut signed_zones = None;
        let mut resolver_yaml = String::new();
        let (dns_addr, trust_anchor_file) = match (&self.dnssec, &self.ad) {
            (None, None) => {
                let (dns_addr, dns_task) = start_dns(&records, &self.dns_faults).await;
                tasks.push(dns_task);
                (dns_addr, None)
            }
            (None, Some(spec)) => {
                let (dns_addr, dns_task) = start_dns(&records, &self.dns_faults).await;
                tasks.push(dns_task);
                let (ad_addr, ad_task) = start_ad_resolver(dns_addr, spec, dns_log.clone()).await;
                tasks.push(ad_task);
                resolver_yaml.push_str("  trust_ad_bit: true\n");
                (ad_addr, None)
            }
            (Some(spec), _) => {
                let server = start_signed_dns(&records, &self.dns_faults, spec).await;
                tasks.push(server.task);
                dns_log = server.log;
                signed_zones = Some(server.zones);
                (server.addr, Some(server.trust_anchor))
            }
        };
        let ca_file = tempfile::NamedTempFile::new().expect("temp CA file");
        std::fs::write(ca_file.path(), &ca.pem).expect("write CA file");
        World {
            dns_addr,
            https_addr,
            smtp_port,
            smtp_sessions,
            ca_file,
            ca,
            hosts,
            tasks,
            trust_anchor_file,
            dns_log,
            signed_zones,
            resolver_yaml,
        }
    }

    /// The policy server on 127.0.0.1 and, when a host has an IPv6
    /// answer, a second one on `::1` at the same port. Returns the first's
    /// address.
    async fn start_policy_servers(
        &self,
        ca: &Arc<TestCa>,
        hosts: &PolicyHosts,
        tasks: &mut Vec<JoinHandle<()>>,
    ) -> SocketAddr {
        if self.ipv6_hosts.is_empty() {
            let (addr, task) = start_https(ca, hosts.clone(), (Ipv4Addr::LOCALHOST, 0).into())
                .await
                .expect("bind HTTPS");
            tasks.push(task);
            return addr;
        }
        let ipv6_hosts = Arc::new(Mutex::new(self.ipv6_hosts.clone()));
        for _ in 0..50 {
            let (addr, task) = start_https(ca, hosts.clone(), (Ipv4Addr::LOCALHOST, 0).into())
                .await
                .expect("bind HTTPS");
            let v6 = (Ipv6Addr::LOCALHOST, addr.port()).into();
            match start_https(ca, ipv6_hosts.clone(), v6).await {
                Ok((_, v6_task)) => {
                    tasks.push(task);
                    tasks.push(v6_task);
                    return addr;
                }
                Err(_) => task.abort(),
            }
        }
        panic!("cannot bind the policy server on 127.0.0.1 and ::1 at one port");
    }

    /// Starts the MX hosts, all on one port: a single-address host on
    /// 127.0.1.N, a host with several addresses as each says
    /// ([`MxAddress`]); adds their A and AAAA records. Returns that port
    /// (one nothing listens on when there are no MX hosts).
    async fn start_smtp_hosts(
        &self,
        ca: &Arc<TestCa>,
        records: &mut Vec<Record>,
        tasks: &mut Vec<JoinHandle<()>>,
        sessions: &SmtpSessions,
    ) -> u16 {
        let mut serve: Vec<(IpAddr, &str, SmtpBehavior)> = Vec::new();
        for (index, (host, behavior)) in self.smtp.iter().enumerate() {
            let ip = Ipv4Addr::new(127, 0, 1, index as u8 + 1);
            serve.push((ip.into(), host, *behavior));
            records.push(Record::from_rdata(name(host), 60, RData::A(ip.into())));
        }
        let (mut served, mut refused) = (self.smtp.len() as u8, 0u8);
        for (host, addresses) in &self.multi_smtp {
            for address in addresses {
                let ip: IpAddr = match address {
                    MxAddress::V4(behavior) => {
                        served += 1;
                        let ip = Ipv4Addr::new(127, 0, 1, served).into();
                        serve.push((ip, host, *behavior));
                        ip
                    }
                    MxAddress::V4Refused => {
                        refused += 1;
                        Ipv4Addr::new(127, 0, 4, refused).into()
                    }
                    MxAddress::V6(behavior) => {
                        serve.push((Ipv6Addr::LOCALHOST.into(), host, *behavior));
                        Ipv6Addr::LOCALHOST.into()
                    }
                    MxAddress::V6Refused => Ipv6Addr::LOCALHOST.into(),
                };
                let rdata = match ip {
                    IpAddr::V4(v4) => RData::A(v4.into()),
                    IpAddr::V6(v6) => RData::AAAA(v6.into()),
                };
                records.push(Record::from_rdata(name(host), 60, rdata));
            }
        }
        if serve.is_empty() {
            return closed_port().await;
        }
        // Every listener on one port: the first picks it; when another
        // address has it taken (tests run in parallel), start again.
        'attempt: for _ in 0..50 {
            let mut listeners = Vec::new();
            let mut port = 0;
            for (ip, host, behavior) in &serve {
                match TcpListener::bind((*ip, port)).await {
                    Ok(listener) => {
                        port = listener.local_addr().expect("SMTP addr").port();
                        listeners.push((listener, host.to_string(), *behavior));
                    }
                    Err(_) => continue 'attempt,
                }
            }
            for (listener, host, behavior) in listeners {
                let count = sessions.of(&host);
                tasks.push(tokio::spawn(serve_smtp(
                    listener,
                    host,
                    behavior,
                    ca.clone(),
                    count,
                )));
            }
            return port;
        }
        panic!("cannot bind every MX host at one port");
    }

    /// Policy hosts that misbehave before TLS get an address of their own
    /// (127.0.3.N) on the HTTPS port, their A record moved there; the others
    /// share 127.0.0.1.
    async fn start_raw_policy_hosts(
        &self,
        https_port: u16,
        records: &mut Vec<Record>,
        tasks: &mut Vec<JoinHandle<()>>,
    ) {
        let raw_hosts = self.hosts.iter().filter(|(_, h)| h.behavior.before_tls());
        for (index, (host, answer)) in raw_hosts.enumerate() {
            let ip = Ipv4Addr::new(127, 0, 3, index as u8 + 1);
            let listener = TcpListener::bind((ip, https_port))
                .await
                .expect("bind raw HTTPS");
            records.retain(|r| !(r.name == name(host) && r.record_type() == RecordType::A));
            records.push(Record::from_rdata(name(host), 60, RData::A(ip.into())));
            tasks.push(tokio::spawn(serve_raw_policy_host(
                listener,
                answer.behavior,
            )));
        }
    }
}

/// What a test changes in a world's exporter config (per-domain overrides
/// go in the `domains` entries, see [`World::config_yaml_with`]). It is
/// written into the YAML, never applied to a parsed `Config`, so the
/// exporter a test starts and a reload of its file see the same settings.
#[derive(Debug, Clone, Default)]
pub struct ConfigOverrides {
    /// The default probe `timeout` (10s when `None`).
    pub timeout: Option<&'static str>,
    /// `resolver.timeout` (2s when `None`).
    pub resolver_timeout: Option<&'static str>,
    /// `smtp.timeout` (5s when `None`).
    pub smtp_timeout: Option<&'static str>,
    /// `smtp.share_checks_for` (not written when `None`).
    pub share_checks_for: Option<&'static str>,
    /// More top-level YAML, written as is (`probe:`, `modules:`, ...).
    pub extra: &'static str,
}

/// The connections each fake MX host accepted, over all its addresses.
#[derive(Debug, Clone, Default)]
pub struct SmtpSessions(
    Arc<std::sync::Mutex<HashMap<String, Arc<std::sync::atomic::AtomicUsize>>>>,
);

impl SmtpSessions {
    /// The counter of `host`'s connections.
    fn of(&self, host: &str) -> Arc<std::sync::atomic::AtomicUsize> {
        let mut hosts = self.0.lock().expect("SMTP session counters");
        hosts.entry(host.to_string()).or_default().clone()
    }

    /// How many connections `host` has accepted.
    pub fn count(&self, host: &str) -> usize {
        self.of(host).load(std::sync::atomic::Ordering::SeqCst)
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
    /// The connections each fake MX host accepted.
    pub smtp_sessions: SmtpSessions,
    /// The test CA's PEM file.
    pub ca_file: tempfile::NamedTempFile,
    /// The test CA.
    pub ca: Arc<TestCa>,
    hosts: PolicyHosts,
    tasks: Vec<JoinHandle<()>>,
    /// The signed world's trust anchor (DNSKEY of `test.`), when signed.
    pub trust_anchor_file: Option<tempfile::NamedTempFile>,
    /// The queries the signed DNS server or the fake validating resolver
    /// received (empty for the plain fake DNS).
    pub dns_log: QueryLog,
    /// The signed zones, to change while the world runs.
    pub signed_zones: Option<SignedZones>,
    /// More lines of the config's `resolver:` section (each indented by
    /// two spaces and ending in a newline), written as they are.
    pub resolver_yaml: String,
}

impl Drop for World {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl World {
    /// The exporter's YAML config file for this world, watching `domains`:
    /// the one place the settings tests run with are written down.
    pub fn config_yaml(&self, domains: &[&str]) -> String {
        self.config_yaml_with(domains, &ConfigOverrides::default())
    }

    /// [`World::config_yaml`] with what a test changes. Each entry of
    /// `domains` is written as given after `- `, so it may be a flow
    /// mapping with overrides: `{name: slow.test, timeout: 30s}`.
    pub fn config_yaml_with(&self, domains: &[&str], overrides: &ConfigOverrides) -> String {
        let mut yaml = format!(
            "timeout: {}\nresolver:\n  nameservers: [\"{}\"]\n  timeout: {}\n{}{}tls:\n  ca_file: {}\nports:\n  https: {}\n  smtp: {}\nsmtp:\n  helo_name: probe.test\n  timeout: {}\n{}{}domains:\n",
            overrides.timeout.unwrap_or("10s"),
            self.dns_addr,
            overrides.resolver_timeout.unwrap_or("2s"),
            self.trust_anchor_file
                .as_ref()
                .map(|f| format!("  trust_anchor_file: {}\n", f.path().display()))
                .unwrap_or_default(),
            self.resolver_yaml,
            self.ca_file.path().display(),
            self.https_addr.port(),
            self.smtp_port,
            overrides.smtp_timeout.unwrap_or("5s"),
            overrides
                .share_checks_for
                .map(|d| format!("  share_checks_for: {d}\n"))
                .unwrap_or_default(),
            overrides.extra,
        );
        for d in domains {
            yaml.push_str(&format!("  - {d}\n"));
        }
        yaml
    }

    /// The config [`World::config_yaml`] describes, read from that text by
    /// the exporter's own parser: a test's `Config` and the file the
    /// exporter (re)loads cannot disagree.
    pub fn config(&self, domains: &[&str]) -> Config {
        let yaml = self.config_yaml(domains);
        Config::parse(&yaml).unwrap_or_else(|issues| {
            let issues: Vec<String> = issues.iter().map(ToString::to_string).collect();
            panic!(
                "the world's config is invalid:\n{}\n{yaml}",
                issues.join("\n")
            )
        })
    }

    /// Replaces the TLSA records at `owner` of the signed world with
    /// `records` (made from the test CA as at start), and signs the zone
    /// again.
    pub async fn set_tlsa(&self, owner: &str, records: &[([u8; 3], TlsaData)]) {
        let zones = self.signed_zones.as_ref().expect("a signed world");
        let records = records
            .iter()
            .map(|(usm, data)| tlsa_record(&self.ca, owner, *usm, data))
            .collect();
        zones.replace(owner, RecordType::TLSA, records).await;
    }

    /// Replaces what the policy server answers for `host`.
    pub fn set_policy_host(&self, host: &str, answer: PolicyHost) {
        self.hosts
            .lock()
            .expect("hosts lock")
            .insert(host.to_string(), answer);
    }
}

/// A loopback port nothing listens on (bound then released).
pub async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    listener.local_addr().expect("addr").port()
}

/// The TLSA record at `owner` with the data `data` stands for.
fn tlsa_record(ca: &TestCa, owner: &str, usm: [u8; 3], data: &TlsaData) -> Record {
    use hickory_proto::rr::rdata::tlsa::{CertUsage, Matching, Selector, TLSA};
    let [usage, selector, matching] = usm;
    let cert = match data {
        TlsaData::Raw(_) => None,
        TlsaData::Leaf => Some(ca.certified_key(owner, CertKind::Valid).cert[0].to_vec()),
        TlsaData::Ca => Some(ca.der.clone()),
    };
    let bytes = match (cert, data) {
        (Some(der), _) => {
            let selected = if selector == 1 {
                let (_, parsed) = x509_parser::parse_x509_certificate(&der).expect("test cert");
                parsed.tbs_certificate.subject_pki.raw.to_vec()
            } else {
                der
            };
            match matching {
                1 => ring::digest::digest(&ring::digest::SHA256, &selected)
                    .as_ref()
                    .to_vec(),
                2 => ring::digest::digest(&ring::digest::SHA512, &selected)
                    .as_ref()
                    .to_vec(),
                _ => selected,
            }
        }
        (None, TlsaData::Raw(bytes)) => bytes.clone(),
        (None, _) => Vec::new(),
    };
    let rdata = TLSA::new(
        CertUsage::from(usage),
        Selector::from(selector),
        Matching::from(matching),
        bytes,
    );
    Record::from_rdata(name(owner), 60, RData::TLSA(rdata))
}
