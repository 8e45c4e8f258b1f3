//! DNS queries through hickory-resolver, with answers reduced to what the
//! probe needs and failures told apart (RFC 8461 §3.1: "no record" is not a
//! DNS failure).

use super::classify::local_error;
use super::name_servers::NameServers;
use super::outcome::DnsFailure;
use crate::config::{AddressesConfig, ResolverConfig};
use crate::rfc::rfc5321::MxRecord;
use crate::taxonomy::LocalError;
use hickory_resolver::config::{NameServerConfig, ProtocolConfig, ResolverConfig as HickoryConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::NetError;
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{RData, RecordType};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};

/// The answer to one query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsAnswer<T> {
    /// The name exists; the records of the type (possibly none).
    Records(Vec<T>),
    /// NXDOMAIN: the name does not exist.
    NxDomain,
}

impl<T> DnsAnswer<T> {
    /// The records, with NXDOMAIN as none.
    pub fn into_records(self) -> Vec<T> {
        match self {
            DnsAnswer::Records(records) => records,
            DnsAnswer::NxDomain => Vec::new(),
        }
    }
}

/// A DNS client for probes: the configured name servers (or the system's),
/// no cache (a monitor must see a change as soon as the authoritative
/// servers do), and fully qualified queries (no search list). Questions go
/// through [`NameServers`]: hickory's transport and answer classification
/// without the resolver's layers.
#[derive(Clone)]
pub struct Dns {
    servers: NameServers,
}

/// Why the resolver could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the DNS resolver: {0}")]
pub struct DnsSetupError(String);

/// A hickory resolver builder for every resolver of the exporter (probes,
/// DANE validation, DKIM keys): the configured name servers over UDP and
/// TCP, or the system's when none is configured, and the exporter's own
/// TLS settings ([`crate::tls::resolver_tls_config`]: hickory, built with
/// TLS, would otherwise load the system's trust store). Callers set the
/// options.
pub fn resolver_builder(
    config: &ResolverConfig,
) -> Result<hickory_resolver::ResolverBuilder<TokioRuntimeProvider>, String> {
    resolver_builder_with(config, TokioRuntimeProvider::default())
}

/// [`resolver_builder`] with connections made by `provider` (the DANE
/// resolver's: [`super::dnssec_transport::DnssecTransport`]).
pub fn resolver_builder_with<P: hickory_resolver::ConnectionProvider>(
    config: &ResolverConfig,
    provider: P,
) -> Result<hickory_resolver::ResolverBuilder<P>, String> {
    let builder = if config.nameservers.is_empty() {
        hickory_resolver::Resolver::builder(provider).map_err(|e| e.to_string())?
    } else {
        let servers = config
            .nameservers
            .iter()
            .map(|addr| {
                let mut server = NameServerConfig::udp_and_tcp(addr.ip());
                for connection in &mut server.connections {
                    connection.port = addr.port();
                }
                server
            })
            .collect();
        hickory_resolver::Resolver::builder_with_config(
            HickoryConfig::from_parts(None, vec![], servers),
            provider,
        )
    };
    Ok(builder.with_tls_config(crate::tls::resolver_tls_config()?))
}

/// The system's name servers over UDP (`/etc/resolv.conf`), as hickory's
/// resolver reads them, and whether EDNS is on (`options edns0`).
fn system_name_servers() -> Result<(Vec<SocketAddr>, bool), DnsSetupError> {
    let (config, options) = hickory_resolver::system_conf::read_system_conf()
        .map_err(|e| DnsSetupError(format!("cannot read the system's name servers: {e}")))?;
    let servers: Vec<SocketAddr> = config
        .name_servers()
        .iter()
        .flat_map(|server| {
            server
                .connections
                .iter()
                .filter(|c| matches!(c.protocol, ProtocolConfig::Udp))
                .map(|c| SocketAddr::new(server.ip, c.port))
        })
        .collect();
    if servers.is_empty() {
        return Err(DnsSetupError(
            "the system names no name server (/etc/resolv.conf)".into(),
        ));
    }
    Ok((servers, options.edns0))
}

impl Dns {
    /// Builds the client from the config: the configured name servers, or
    /// the system's (`/etc/resolv.conf`, read now) when none is configured.
    pub fn new(config: &ResolverConfig) -> Result<Dns, DnsSetupError> {
        let (servers, edns) = if config.nameservers.is_empty() {
            system_name_servers()?
        } else {
            (config.nameservers.clone(), true)
        };
        Ok(Dns {
            servers: NameServers::new(servers, config.timeout, edns),
        })
    }

    /// TXT records of `name`, each with its character-strings concatenated
    /// (RFC 8461 §3.1, RFC 7208 §3.3). Strings that are not UTF-8 are decoded
    /// lossily (they cannot match `v=STSv1` either way). CNAMEs are followed
    /// by the resolver; only records of the final name are returned.
    pub async fn txt(&self, name: &str) -> Result<DnsAnswer<String>, DnsFailure> {
        let answer = self.query(name, RecordType::TXT).await?;
        Ok(match answer {
            DnsAnswer::NxDomain => DnsAnswer::NxDomain,
            DnsAnswer::Records(rdata) => DnsAnswer::Records(
                rdata
                    .into_iter()
                    .filter_map(|r| match r {
                        RData::TXT(txt) => {
                            let bytes: Vec<u8> = txt
                                .txt_data
                                .iter()
                                .flat_map(|s| s.iter().copied())
                                .collect();
                            Some(String::from_utf8_lossy(&bytes).into_owned())
                        }
                        _ => None,
                    })
                    .collect(),
            ),
        })
    }

    /// MX records of `name`, sorted by preference then host.
    pub async fn mx(&self, name: &str) -> Result<DnsAnswer<MxRecord>, DnsFailure> {
        let answer = self.query(name, RecordType::MX).await?;
        Ok(match answer {
            DnsAnswer::NxDomain => DnsAnswer::NxDomain,
            DnsAnswer::Records(rdata) => {
                let mut records: Vec<MxRecord> = rdata
                    .into_iter()
                    .filter_map(|r| match r {
                        RData::MX(mx) => Some(MxRecord {
                            preference: mx.preference,
                            host: crate::rfc::domain::normalize_host(&mx.exchange.to_ascii()),
                        }),
                        _ => None,
                    })
                    .collect();
                records.sort_by(|a, b| (a.preference, &a.host).cmp(&(b.preference, &b.host)));
                records.dedup();
                DnsAnswer::Records(records)
            }
        })
    }

    /// The target of `name`'s CNAME record, if it is an alias: lower-case,
    /// without the trailing dot, in DNS presentation form.
    pub async fn cname(&self, name: &str) -> Result<Option<String>, DnsFailure> {
        let answer = self.query(name, RecordType::CNAME).await?;
        Ok(answer.into_records().into_iter().find_map(|r| match r {
            RData::CNAME(target) => Some(crate::rfc::domain::normalize_host(&target.0.to_ascii())),
            _ => None,
        }))
    }

    /// IPv6 and IPv4 addresses of `name`, as hickory's `lookup_ip` gives
    /// them: an answer when either family has addresses; otherwise the
    /// failure of either, or NXDOMAIN when both say so.
    pub async fn addresses(&self, name: &str) -> Result<DnsAnswer<IpAddr>, DnsFailure> {
        let (v6, v4) = tokio::join!(
            self.query(name, RecordType::AAAA),
            self.query(name, RecordType::A)
        );
        let addresses: Vec<IpAddr> = [&v6, &v4]
            .into_iter()
            .flatten()
            .flat_map(|answer| match answer {
                DnsAnswer::Records(records) => records.as_slice(),
                DnsAnswer::NxDomain => &[],
            })
            .filter_map(ip_address)
            .collect();
        if !addresses.is_empty() {
            return Ok(DnsAnswer::Records(addresses));
        }
        match (v6, v4) {
            (Err(failure), _) | (_, Err(failure)) => Err(failure),
            (Ok(DnsAnswer::NxDomain), Ok(DnsAnswer::NxDomain)) => Ok(DnsAnswer::NxDomain),
            _ => Ok(DnsAnswer::Records(Vec::new())),
        }
    }

    /// The addresses of `name` a sender may connect to (RFC 5321 §5.1): the
    /// A and AAAA records of the families `limits` turns on, queried
    /// concurrently, at most `limits.per_family` of each in the order DNS
    /// gave them, IPv4 first. NXDOMAIN only when every family queried says
    /// so; a failed query of either family fails the lookup (a non-local
    /// failure before a local one).
    pub async fn addresses_by_family(
        &self,
        name: &str,
        limits: &AddressesConfig,
    ) -> Result<DnsAnswer<IpAddr>, DnsFailure> {
        let family = |on: bool, record_type: RecordType| async move {
            if on {
                Some(self.query(name, record_type).await)
            } else {
                None
            }
        };
        let (v4, v6) = tokio::join!(
            family(limits.ipv4, RecordType::A),
            family(limits.ipv6, RecordType::AAAA)
        );
        let answers = [v4, v6];
        let failure = answers
            .iter()
            .flatten()
            .filter_map(|a| a.as_ref().err())
            .min_by_key(|f| f.local().is_some());
        if let Some(failure) = failure {
            return Err(failure.clone());
        }
        let answers: Vec<DnsAnswer<RData>> = answers.into_iter().flatten().flatten().collect();
        if answers.iter().all(|a| *a == DnsAnswer::NxDomain) {
            return Ok(DnsAnswer::NxDomain);
        }
        let addresses = answers
            .into_iter()
            .flat_map(|answer| {
                answer
                    .into_records()
                    .into_iter()
                    .filter_map(|r| ip_address(&r))
                    .take(limits.per_family)
            })
            .collect();
        Ok(DnsAnswer::Records(addresses))
    }

    async fn query(
        &self,
        name: &str,
        record_type: RecordType,
    ) -> Result<DnsAnswer<RData>, DnsFailure> {
        let fqdn = fully_qualified(name);
        match self.servers.lookup(&fqdn, record_type).await {
            Ok(records) => Ok(DnsAnswer::Records(records)),
            Err(error) => self.answer_from_error(error, name, type_name(record_type)),
        }
    }

    /// [`answer_from_error`], with a query the exporter could not send
    /// told apart as [`DnsFailure::Local`].
    fn answer_from_error<T>(
        &self,
        error: NetError,
        name: &str,
        record_type: &'static str,
    ) -> Result<DnsAnswer<T>, DnsFailure> {
        match local_cause(&error, self.servers.servers()) {
            Some(local) => Err(DnsFailure::Local {
                name: name.to_string(),
                record_type,
                error: local,
            }),
            None => answer_from_error(error, name, record_type),
        }
    }
}

/// Whether `error` is the exporter's own problem: an `io::Error` of a
/// local kind, or a failure without an answer while no socket to a name
/// server can be opened. The second check is needed because a failure to
/// open a socket can reach us as another error: the name servers are asked
/// in turn and a timeout of one says more than a connection failure of
/// another ([`super::name_servers`]), and hickory's resolver (DANE, DKIM)
/// prefers any other error to `NetError::Io`. The check opens, connects
/// (which sends nothing) and closes one UDP socket per name server, and only
/// after such a failure.
fn local_cause(error: &NetError, nameservers: &[SocketAddr]) -> Option<LocalError> {
    match error {
        NetError::Io(io) => local_error(io).or_else(|| socket_shortage(nameservers)),
        NetError::NoConnections | NetError::Busy => socket_shortage(nameservers),
        _ => None,
    }
}

/// A local error when no UDP socket to any of `nameservers` can be opened
/// now (with none configured: no UDP socket at all); `None` when one can,
/// or when the reason is not local.
fn socket_shortage(nameservers: &[SocketAddr]) -> Option<LocalError> {
    let local_error = |e: &std::io::Error| {
        local_error(e).map(|local| {
            LocalError::new(
                local.kind,
                format!("no socket to a name server can be opened: {e}"),
            )
        })
    };
    if nameservers.is_empty() {
        return UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
            .err()
            .and_then(|e| local_error(&e));
    }
    let mut shortage = None;
    for server in nameservers {
        let unspecified: IpAddr = match server {
            SocketAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
            SocketAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
        };
        let opened = UdpSocket::bind((unspecified, 0)).and_then(|s| s.connect(server));
        match opened {
            Ok(()) => return None,
            Err(e) => match local_error(&e) {
                Some(local) => shortage = shortage.or(Some(local)),
                None => return None,
            },
        }
    }
    shortage
}

/// The address of an A or AAAA record.
fn ip_address(record: &RData) -> Option<IpAddr> {
    match record {
        RData::A(a) => Some(IpAddr::V4(a.0)),
        RData::AAAA(aaaa) => Some(IpAddr::V6(aaaa.0)),
        _ => None,
    }
}

fn type_name(record_type: RecordType) -> &'static str {
    match record_type {
        RecordType::TXT => "TXT",
        RecordType::MX => "MX",
        RecordType::A => "A",
        RecordType::AAAA => "AAAA",
        RecordType::CNAME => "CNAME",
        _ => "other",
    }
}

/// What a resolver error means: NXDOMAIN and "no records of that type" are
/// answers (the latter an empty one); anything else is a failure.
fn answer_from_error<T>(
    error: NetError,
    name: &str,
    record_type: &'static str,
) -> Result<DnsAnswer<T>, DnsFailure> {
    if error.is_nx_domain() {
        return Ok(DnsAnswer::NxDomain);
    }
    if error.is_no_records_found() {
        return Ok(DnsAnswer::Records(Vec::new()));
    }
    let name = name.to_string();
    Err(match error {
        NetError::Timeout => DnsFailure::Timeout { name, record_type },
        NetError::Dns(hickory_resolver::net::DnsError::ResponseCode(code)) => {
            DnsFailure::ResponseCode {
                name,
                record_type,
                code: response_code_name(code),
            }
        }
        other => {
            let message = other.to_string();
            if message.contains("timed out") {
                DnsFailure::Timeout { name, record_type }
            } else {
                DnsFailure::Other {
                    name,
                    record_type,
                    message,
                }
            }
        }
    })
}

fn response_code_name(code: ResponseCode) -> String {
    match code {
        ResponseCode::ServFail => "SERVFAIL".into(),
        ResponseCode::Refused => "REFUSED".into(),
        ResponseCode::FormErr => "FORMERR".into(),
        ResponseCode::NotImp => "NOTIMP".into(),
        other => other.to_string(),
    }
}

/// `name` with a trailing dot, so no search list applies.
fn fully_qualified(name: &str) -> String {
    if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::taxonomy::LocalErrorKind;
    use std::sync::Arc;

    fn io(code: i32) -> NetError {
        NetError::Io(Arc::new(std::io::Error::from_raw_os_error(code)))
    }

    #[tokio::test]
    async fn addresses_are_an_answer_when_either_family_has_some() {
        use crate::probe::name_servers::tests::ScriptedServer;
        use hickory_resolver::proto::rr::Record;
        let server = ScriptedServer::start(|q| {
            let asked = q.name().to_ascii();
            Some(match (asked.as_str(), q.query_type()) {
                ("v4.test.", RecordType::A) => (
                    ResponseCode::NoError,
                    vec![Record::from_rdata(
                        q.name().clone(),
                        300,
                        RData::A(Ipv4Addr::new(127, 0, 0, 2).into()),
                    )],
                    false,
                ),
                ("v4.test.", _) => (ResponseCode::ServFail, vec![], false),
                ("broken.test.", RecordType::A) => (ResponseCode::ServFail, vec![], false),
                _ => (ResponseCode::NXDomain, vec![], false),
            })
        });
        let dns = Dns {
            servers: NameServers::new(
                vec![server.address],
                std::time::Duration::from_secs(2),
                true,
            ),
        };
        assert_eq!(
            dns.addresses("v4.test").await,
            Ok(DnsAnswer::Records(vec![IpAddr::V4(Ipv4Addr::new(
                127, 0, 0, 2
            ))]))
        );
        assert_eq!(dns.addresses("gone.test").await, Ok(DnsAnswer::NxDomain));
        assert!(matches!(
            dns.addresses("broken.test").await,
            Err(DnsFailure::ResponseCode { .. })
        ));
    }

    #[test]
    fn a_local_io_error_is_local_whatever_the_name_servers() {
        let local = local_cause(&io(libc::EMFILE), &[]).unwrap();
        assert_eq!(local.kind, LocalErrorKind::DescriptorsExhausted);
        let local = local_cause(&io(libc::ENOBUFS), &[]).unwrap();
        assert_eq!(local.kind, LocalErrorKind::MemoryExhausted);
    }

    #[test]
    fn no_connections_with_sockets_to_spare_is_a_dns_failure() {
        let servers = [SocketAddr::from((Ipv4Addr::LOCALHOST, 53))];
        assert!(local_cause(&NetError::NoConnections, &servers).is_none());
        assert!(local_cause(&NetError::NoConnections, &[]).is_none());
        assert!(local_cause(&io(libc::ECONNREFUSED), &servers).is_none());
        let failure = answer_from_error::<()>(NetError::NoConnections, "example.com", "TXT");
        assert!(
            matches!(failure, Err(DnsFailure::Other { .. })),
            "{failure:?}"
        );
    }

    #[test]
    fn answers_and_server_failures_are_never_local() {
        let servfail = NetError::Dns(hickory_resolver::net::DnsError::ResponseCode(
            ResponseCode::ServFail,
        ));
        assert!(local_cause(&servfail, &[]).is_none());
        assert!(local_cause(&NetError::Timeout, &[]).is_none());
        assert_eq!(
            answer_from_error::<()>(servfail, "example.com", "TXT"),
            Err(DnsFailure::ResponseCode {
                name: "example.com".into(),
                record_type: "TXT",
                code: "SERVFAIL".into(),
            })
        );
    }
}
