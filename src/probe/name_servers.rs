//! One DNS question put to the name servers, the way hickory's resolver
//! puts it, without the resolver's layers the probe does not use (its
//! cache, query statistics, connection pool and per-query tasks: half the
//! CPU of each of the probe's six queries, issue 18).
//!
//! What it keeps from hickory, and how the resolver (0.26) behaves:
//! - the transport is hickory-net's: a UDP socket of its own and a random
//!   source port and ID for each query, the answer checked against the
//!   question, EDNS, the resolver's retransmissions; over TCP when the
//!   answer is truncated (RFC 7766 §5);
//! - the name servers are asked two at a time, those that failed least
//!   recently first (the resolver sorts them by its query statistics): the
//!   next ones only after a timeout or a connection failure (an answer,
//!   even SERVFAIL, ends the question), and no new ones once the resolver
//!   timeout has passed;
//! - a failed question is asked once more (the resolver's `attempts: 1`),
//!   unless the failure was an answer (no such name, no records); by then
//!   the servers that did not answer have moved to the back;
//! - names of special use are answered without a query (RFC 6761 §6.3,
//!   §6.4: `localhost.` is the loopback address, `invalid.` and `onion.`
//!   do not exist), from hickory's table;
//! - answer codes are classified by hickory's own
//!   [`DnsError::from_response`], so the errors are the resolver's and
//!   [`super::dns`] tells them apart as before;
//! - CNAMEs (RFC 1034 §3.6.2): the records of the asked type at the name or
//!   at the end of the answer's CNAME chain; when the chain ends without
//!   them, the chain's target is asked next, at most eight names deep.
//!
//! Where it differs on purpose: records of other names than the question
//! and its chain, or of another class than IN, are not answers (the
//! resolver returned every answer record of the type when no CNAME was
//! involved, and failed the question on a foreign class); `/etc/hosts` is
//! not read (the resolver read it only for the address lookup the probe's
//! HTTPS client would fall back to, which never happens: the policy host's
//! addresses are looked up here and given to the client).

use futures_util::stream::{FuturesUnordered, StreamExt};
use hickory_resolver::config::ResolverOpts;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::tcp::TcpClientStream;
use hickory_resolver::net::udp::UdpClientStream;
use hickory_resolver::net::xfer::{DnsRequestSender, FirstAnswer};
use hickory_resolver::net::{DnsError, DnsHandle, NetError, NoRecords};
use hickory_resolver::proto::op::{
    DnsRequest, DnsRequestOptions, DnsResponse, Query, ResponseCode,
};
use hickory_resolver::proto::rr::domain::usage::{self, ResolverUsage};
use hickory_resolver::proto::rr::{DNSClass, Name, RData, RecordType};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Names asked at most for one question: the name and the CNAME targets
/// after it (hickory's resolver stops at the same depth).
pub const MAX_NAMES_ASKED: usize = 8;

/// Name servers asked at once (the resolver's `num_concurrent_reqs`), so
/// one that does not answer does not use up the timeout alone.
const SERVERS_AT_ONCE: usize = 2;

/// How many times a question is asked when it fails (not when it is
/// answered): the resolver's `attempts: 1` retry.
const ATTEMPTS: usize = 2;

/// A server's failures in a row counted at most (its place in the order
/// only needs "more than the others").
const MAX_FAILURES_COUNTED: u32 = 1_000;

/// Puts questions to a list of name servers.
#[derive(Clone)]
pub struct NameServers {
    servers: Arc<[SocketAddr]>,
    /// Each server's timeouts and connection failures since it last
    /// answered: the order servers are asked in.
    failures: Arc<[AtomicU32]>,
    timeout: Duration,
    options: DnsRequestOptions,
}

impl NameServers {
    /// Asks `servers`, each exchange bounded by `timeout`, with the request
    /// options of hickory's resolver defaults (recursion desired) and EDNS
    /// (RFC 6891) as `edns` says: on for configured name servers, as
    /// `/etc/resolv.conf` says (`options edns0`) for the system's.
    pub fn new(servers: Vec<SocketAddr>, timeout: Duration, edns: bool) -> NameServers {
        let defaults = ResolverOpts::default();
        let mut options = DnsRequestOptions::default();
        options.recursion_desired = defaults.recursion_desired;
        options.use_edns = edns;
        options.edns_payload_len = defaults.edns_payload_len;
        options.case_randomization = defaults.case_randomization;
        NameServers {
            failures: servers.iter().map(|_| AtomicU32::new(0)).collect(),
            servers: servers.into(),
            timeout,
            options,
        }
    }

    /// The name servers asked.
    pub fn servers(&self) -> &[SocketAddr] {
        &self.servers
    }

    /// The records of `record_type` at `name` (fully qualified), CNAMEs
    /// followed. No such name and no records are errors, as the resolver's
    /// are ([`NetError::is_nx_domain`], [`NetError::is_no_records_found`]).
    pub async fn lookup(
        &self,
        name: &str,
        record_type: RecordType,
    ) -> Result<Vec<RData>, NetError> {
        let mut asked = Name::from_utf8(name)?;
        let mut names_asked = 1;
        loop {
            let query = Query::query(asked.clone(), record_type);
            if let Some(answer) = special_use_answer(&query) {
                return answer;
            }
            let response = self.ask(&query).await?;
            let code = response.response_code;
            let target = chain_end(&response, &asked);
            let records: Vec<RData> = response
                .into_message()
                .answers
                .into_iter()
                .filter(|r| {
                    r.dns_class == DNSClass::IN
                        && r.record_type() == record_type
                        && (r.name == asked || Some(&r.name) == target.as_ref())
                })
                .map(|r| r.data)
                .collect();
            if !records.is_empty() {
                return Ok(records);
            }
            match target {
                Some(target) if names_asked < MAX_NAMES_ASKED => {
                    asked = target;
                    names_asked += 1;
                }
                _ => return Err(no_records(query, code)),
            }
        }
    }

    /// One question, asked again once if it failed without an answer.
    async fn ask(&self, query: &Query) -> Result<DnsResponse, NetError> {
        let mut last = NetError::NoConnections;
        for _ in 0..ATTEMPTS {
            match self.ask_servers(query).await {
                Ok(response) => return Ok(response),
                Err(error) if is_final(&error) => return Err(error),
                Err(error) => last = error,
            }
        }
        Err(last)
    }

    /// The servers, two at a time, until one answers; no new ones once
    /// `timeout` has passed.
    async fn ask_servers(&self, query: &Query) -> Result<DnsResponse, NetError> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let by_failures;
        let order: &[usize] = if self.servers.len() <= SERVERS_AT_ONCE {
            &[0, 1][..self.servers.len()]
        } else {
            by_failures = self.by_failures();
            &by_failures
        };
        let mut failure = NetError::NoConnections;
        for batch in order.chunks(SERVERS_AT_ONCE) {
            if tokio::time::Instant::now() >= deadline {
                return Err(NetError::Timeout);
            }
            let mut asks: FuturesUnordered<_> = batch
                .iter()
                .map(|&index| async move {
                    let server = self.servers[index];
                    let asked = tokio::time::timeout(self.timeout, self.ask_server(server, query));
                    (index, asked.await.unwrap_or(Err(NetError::Timeout)))
                })
                .collect();
            while let Some((index, asked)) = asks.next().await {
                match asked {
                    Ok(response) => {
                        self.failures[index].store(0, Ordering::Relaxed);
                        return Ok(response);
                    }
                    Err(
                        error @ (NetError::Io(_) | NetError::NoConnections | NetError::Timeout),
                    ) => {
                        let count = &self.failures[index];
                        if count.load(Ordering::Relaxed) < MAX_FAILURES_COUNTED {
                            count.fetch_add(1, Ordering::Relaxed);
                        }
                        failure = most_specific(failure, error);
                    }
                    Err(error) => {
                        self.failures[index].store(0, Ordering::Relaxed);
                        return Err(error);
                    }
                }
            }
        }
        Err(failure)
    }

    /// The servers' indices, fewest failures first, in the configured order
    /// among equals.
    fn by_failures(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.servers.len()).collect();
        order.sort_by_key(|&index| self.failures[index].load(Ordering::Relaxed));
        order
    }

    /// One server: over UDP, then TCP when the answer does not fit (or
    /// looks spoofed); the answer's code classified as the resolver does.
    async fn ask_server(&self, server: SocketAddr, query: &Query) -> Result<DnsResponse, NetError> {
        let request = || DnsRequest::from_query(query.clone(), self.options);
        let mut udp = UdpClientStream::builder(server, TokioRuntimeProvider::default())
            .with_timeout(Some(self.timeout))
            .build();
        let response = match udp.send_message(request()).first_answer().await {
            Ok(response) if !response.truncation => response,
            Ok(_) | Err(NetError::QueryCaseMismatch) => {
                self.ask_over_tcp(server, request()).await?
            }
            Err(error) => return Err(error),
        };
        if response.truncation {
            return Err(NetError::Truncated);
        }
        DnsError::from_response(response).map_err(NetError::from)
    }

    async fn ask_over_tcp(
        &self,
        server: SocketAddr,
        request: DnsRequest,
    ) -> Result<DnsResponse, NetError> {
        // The provider holds the connection's background task: dropped
        // with it once the answer is in, which closes the connection.
        let provider = TokioRuntimeProvider::default();
        let exchange =
            TcpClientStream::exchange(server, None, self.timeout, Some(1), provider.clone())
                .await?;
        let answer = exchange.send(request).first_answer().await;
        drop(provider);
        answer
    }
}

/// Where the answer's CNAME chain from `name` ends, if the answer has one
/// (RFC 1034 §3.6.2: each alias in turn, in any order in the section).
fn chain_end(response: &DnsResponse, name: &Name) -> Option<Name> {
    let mut end: Option<Name> = None;
    for _ in 0..MAX_NAMES_ASKED {
        let current = end.as_ref().unwrap_or(name);
        let next = response.answers.iter().find_map(|r| match &r.data {
            RData::CNAME(target) if &r.name == current => Some(target.0.clone()),
            _ => None,
        });
        match next {
            Some(next) if Some(&next) != end.as_ref() && &next != name => end = Some(next),
            _ => break,
        }
    }
    end
}

/// The answer hickory's resolver gives without a query for a name of
/// special use (RFC 6761 §6.3: loopback addresses for `localhost.` and
/// names under it, no records of other types; §6.4, RFC 7686 §2:
/// `invalid.` and `onion.` do not exist); `None` for other names.
fn special_use_answer(query: &Query) -> Option<Result<Vec<RData>, NetError>> {
    let name = query.name();
    let usage = [
        &*usage::LOCALHOST,
        &*usage::IN_ADDR_ARPA_127,
        &*usage::IP6_ARPA_1,
        &*usage::INVALID,
        &*usage::ONION,
    ]
    .into_iter()
    .find(|usage| usage.zone_of(name))?;
    match usage.resolver() {
        ResolverUsage::Loopback => Some(match query.query_type() {
            RecordType::A => Ok(vec![RData::A(Ipv4Addr::LOCALHOST.into())]),
            RecordType::AAAA => Ok(vec![RData::AAAA(Ipv6Addr::LOCALHOST.into())]),
            _ => Err(no_records(query.clone(), ResponseCode::NoError)),
        }),
        ResolverUsage::NxDomain => Some(Err(no_records(query.clone(), ResponseCode::NXDomain))),
        _ => None,
    }
}

/// The resolver's "no records" error for `query`.
fn no_records(query: Query, code: ResponseCode) -> NetError {
    NetError::Dns(DnsError::NoRecordsFound(NoRecords::new(query, code)))
}

/// Whether a failure is an answer, not asked again (the resolver's retry
/// skips the same: an answer does not change by asking twice).
fn is_final(error: &NetError) -> bool {
    matches!(
        error,
        NetError::NoConnections | NetError::Dns(DnsError::NoRecordsFound(_))
    )
}

/// Of two failures from different servers, the one that says most: a
/// timeout over a connection failure (the resolver's `most_specific`).
fn most_specific(previous: NetError, current: NetError) -> NetError {
    let rank = |e: &NetError| match e {
        NetError::Timeout => 3,
        NetError::Io(_) => 1,
        NetError::NoConnections => 0,
        _ => 2,
    };
    if rank(&current) > rank(&previous) {
        current
    } else {
        previous
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use hickory_resolver::proto::op::{Message, MessageType};
    use hickory_resolver::proto::rr::rdata::{CNAME, TXT};
    use hickory_resolver::proto::rr::Record;
    use std::io::{Read, Write};
    use std::net::{TcpListener, UdpSocket};
    use std::sync::Mutex;

    /// What a scripted name server answers to a question: `None` is
    /// silence.
    pub(crate) type Script = fn(&Query) -> Option<(ResponseCode, Vec<Record>, bool)>;

    /// A name server on loopback (UDP and TCP on one port) answering as
    /// `script` says, with the questions it was asked, in order.
    pub(crate) struct ScriptedServer {
        pub(crate) address: SocketAddr,
        asked: Arc<Mutex<Vec<String>>>,
    }

    fn answer(query_bytes: &[u8], script: Script, over_tcp: bool) -> Option<Vec<u8>> {
        let query = Message::from_vec(query_bytes).ok()?;
        let question = query.queries.first()?.clone();
        let (code, records, truncated) = script(&question)?;
        let mut response = Message::response(query.metadata.id, query.metadata.op_code);
        response.metadata.message_type = MessageType::Response;
        response.metadata.recursion_desired = query.metadata.recursion_desired;
        response.metadata.response_code = code;
        response.add_query(question);
        if truncated && !over_tcp {
            response.metadata.truncation = true;
        } else {
            response.add_answers(records);
        }
        response.to_vec().ok()
    }

    impl ScriptedServer {
        pub(crate) fn start(script: Script) -> ScriptedServer {
            let udp = UdpSocket::bind("127.0.0.1:0").expect("bind UDP");
            let address = udp.local_addr().expect("address");
            let tcp = TcpListener::bind(address).expect("bind TCP on the same port");
            let asked = Arc::new(Mutex::new(Vec::new()));
            let noted = asked.clone();
            let note = move |bytes: &[u8], how: &str| {
                if let Ok(message) = Message::from_vec(bytes) {
                    if let Some(q) = message.queries.first() {
                        noted.lock().unwrap().push(format!(
                            "{how} {} {}",
                            q.name(),
                            q.query_type()
                        ));
                    }
                }
            };
            let note_tcp = note.clone();
            std::thread::spawn(move || {
                let mut buffer = [0u8; 4096];
                while let Ok((len, from)) = udp.recv_from(&mut buffer) {
                    note(&buffer[..len], "udp");
                    if let Some(bytes) = answer(&buffer[..len], script, false) {
                        let _ = udp.send_to(&bytes, from);
                    }
                }
            });
            std::thread::spawn(move || {
                for stream in tcp.incoming() {
                    let Ok(mut stream) = stream else { continue };
                    let mut length = [0u8; 2];
                    if stream.read_exact(&mut length).is_err() {
                        continue;
                    }
                    let mut bytes = vec![0u8; u16::from_be_bytes(length) as usize];
                    if stream.read_exact(&mut bytes).is_err() {
                        continue;
                    }
                    note_tcp(&bytes, "tcp");
                    if let Some(reply) = answer(&bytes, script, true) {
                        let _ = stream.write_all(&(reply.len() as u16).to_be_bytes());
                        let _ = stream.write_all(&reply);
                    }
                }
            });
            ScriptedServer { address, asked }
        }

        fn asked(&self) -> Vec<String> {
            self.asked.lock().unwrap().clone()
        }
    }

    fn name(text: &str) -> Name {
        Name::from_ascii(text).unwrap()
    }

    fn txt(owner: &str, text: &str) -> Record {
        Record::from_rdata(name(owner), 300, RData::TXT(TXT::new(vec![text.into()])))
    }

    fn cname(owner: &str, target: &str) -> Record {
        Record::from_rdata(name(owner), 300, RData::CNAME(CNAME(name(target))))
    }

    fn texts(records: &[RData]) -> Vec<String> {
        records
            .iter()
            .map(|r| match r {
                RData::TXT(txt) => txt.to_string(),
                other => format!("{other:?}"),
            })
            .collect()
    }

    fn servers(addresses: &[SocketAddr], timeout_ms: u64) -> NameServers {
        NameServers::new(addresses.to_vec(), Duration::from_millis(timeout_ms), true)
    }

    #[tokio::test]
    async fn a_cname_chain_without_the_records_is_followed_to_its_target() {
        let server = ScriptedServer::start(|q| {
            let asked = q.name().to_ascii();
            Some(match asked.as_str() {
                "_mta-sts.a.test." => (
                    ResponseCode::NoError,
                    vec![
                        cname("_mta-sts.a.test.", "_mta-sts.b.test."),
                        cname("_mta-sts.b.test.", "sts.provider.test."),
                    ],
                    false,
                ),
                "sts.provider.test." => (
                    ResponseCode::NoError,
                    vec![txt("sts.provider.test.", "v=STSv1; id=1;")],
                    false,
                ),
                _ => (ResponseCode::NXDomain, vec![], false),
            })
        });
        let records = servers(&[server.address], 2000)
            .lookup("_mta-sts.a.test.", RecordType::TXT)
            .await
            .unwrap();
        assert_eq!(texts(&records), ["v=STSv1; id=1;"]);
        assert_eq!(
            server.asked(),
            ["udp _mta-sts.a.test. TXT", "udp sts.provider.test. TXT"]
        );
    }

    #[tokio::test]
    async fn records_of_names_outside_the_question_and_its_chain_are_not_answers() {
        let server = ScriptedServer::start(|_| {
            Some((
                ResponseCode::NoError,
                vec![txt("elsewhere.test.", "v=STSv1; id=2;")],
                false,
            ))
        });
        let error = servers(&[server.address], 2000)
            .lookup("_mta-sts.a.test.", RecordType::TXT)
            .await
            .unwrap_err();
        assert!(
            error.is_no_records_found() && !error.is_nx_domain(),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn no_such_name_and_no_records_are_answers_asked_once() {
        let server = ScriptedServer::start(|q| {
            Some(if q.name().to_ascii().starts_with("gone") {
                (ResponseCode::NXDomain, vec![], false)
            } else {
                (ResponseCode::NoError, vec![], false)
            })
        });
        let servers = servers(&[server.address], 2000);
        let gone = servers
            .lookup("gone.test.", RecordType::TXT)
            .await
            .unwrap_err();
        assert!(gone.is_nx_domain(), "{gone:?}");
        let empty = servers
            .lookup("empty.test.", RecordType::TXT)
            .await
            .unwrap_err();
        assert!(
            empty.is_no_records_found() && !empty.is_nx_domain(),
            "{empty:?}"
        );
        assert_eq!(
            server.asked(),
            ["udp gone.test. TXT", "udp empty.test. TXT"]
        );
    }

    #[tokio::test]
    async fn a_truncated_answer_is_asked_again_over_tcp() {
        let server = ScriptedServer::start(|q| {
            Some((
                ResponseCode::NoError,
                vec![txt(&q.name().to_ascii(), "v=STSv1; id=3;")],
                true,
            ))
        });
        let records = servers(&[server.address], 2000)
            .lookup("_mta-sts.big.test.", RecordType::TXT)
            .await
            .unwrap();
        assert_eq!(texts(&records), ["v=STSv1; id=3;"]);
        assert_eq!(
            server.asked(),
            ["udp _mta-sts.big.test. TXT", "tcp _mta-sts.big.test. TXT"]
        );
    }

    #[tokio::test]
    async fn servfail_ends_the_question_and_is_asked_once_more() {
        let failing = ScriptedServer::start(|_| Some((ResponseCode::ServFail, vec![], false)));
        let healthy = ScriptedServer::start(|q| {
            Some((
                ResponseCode::NoError,
                vec![txt(&q.name().to_ascii(), "v=STSv1; id=4;")],
                false,
            ))
        });
        let silent = ScriptedServer::start(|_| None);
        let error = servers(&[failing.address, silent.address, healthy.address], 2000)
            .lookup("a.test.", RecordType::TXT)
            .await
            .unwrap_err();
        assert!(
            matches!(
                error,
                NetError::Dns(DnsError::ResponseCode(ResponseCode::ServFail))
            ),
            "{error:?}"
        );
        assert_eq!(failing.asked(), ["udp a.test. TXT", "udp a.test. TXT"]);
        assert!(healthy.asked().is_empty());
    }

    #[tokio::test]
    async fn servers_that_do_not_answer_give_way_to_the_next() {
        let silent = [
            ScriptedServer::start(|_| None),
            ScriptedServer::start(|_| None),
        ];
        let healthy = ScriptedServer::start(|q| {
            Some((
                ResponseCode::NoError,
                vec![txt(&q.name().to_ascii(), "v=STSv1; id=5;")],
                false,
            ))
        });
        let servers = servers(
            &[silent[0].address, silent[1].address, healthy.address],
            300,
        );
        // The first two are asked first, time out, and move to the back:
        // the question's second attempt reaches the third.
        let records = servers.lookup("a.test.", RecordType::TXT).await.unwrap();
        assert_eq!(texts(&records), ["v=STSv1; id=5;"]);
        assert_eq!(healthy.asked(), ["udp a.test. TXT"]);
        // The next question goes to the one that answered first.
        let records = servers.lookup("b.test.", RecordType::TXT).await.unwrap();
        assert_eq!(texts(&records), ["v=STSv1; id=5;"]);
        assert_eq!(healthy.asked(), ["udp a.test. TXT", "udp b.test. TXT"]);
        assert_eq!(servers.by_failures()[0], 2);
    }

    #[tokio::test]
    async fn names_of_special_use_are_answered_without_a_query() {
        let server = ScriptedServer::start(|_| Some((ResponseCode::NoError, vec![], false)));
        let servers = servers(&[server.address], 2000);
        let a = servers
            .lookup("mx.localhost.", RecordType::A)
            .await
            .unwrap();
        assert_eq!(a, [RData::A(Ipv4Addr::LOCALHOST.into())]);
        let aaaa = servers
            .lookup("localhost.", RecordType::AAAA)
            .await
            .unwrap();
        assert_eq!(aaaa, [RData::AAAA(Ipv6Addr::LOCALHOST.into())]);
        let txt = servers
            .lookup("localhost.", RecordType::TXT)
            .await
            .unwrap_err();
        assert!(txt.is_no_records_found() && !txt.is_nx_domain(), "{txt:?}");
        let invalid = servers
            .lookup("mx.invalid.", RecordType::A)
            .await
            .unwrap_err();
        assert!(invalid.is_nx_domain(), "{invalid:?}");
        assert!(server.asked().is_empty(), "{:?}", server.asked());
    }

    #[tokio::test]
    async fn a_cname_to_a_name_of_special_use_ends_there() {
        let server = ScriptedServer::start(|_| {
            Some((
                ResponseCode::NoError,
                vec![cname("mx.a.test.", "gone.invalid.")],
                false,
            ))
        });
        let error = servers(&[server.address], 2000)
            .lookup("mx.a.test.", RecordType::A)
            .await
            .unwrap_err();
        assert!(error.is_nx_domain(), "{error:?}");
        assert_eq!(server.asked(), ["udp mx.a.test. A"]);
    }

    #[tokio::test]
    async fn a_question_nobody_answers_times_out() {
        let silent = ScriptedServer::start(|_| None);
        let error = servers(&[silent.address], 300)
            .lookup("a.test.", RecordType::TXT)
            .await
            .unwrap_err();
        assert!(matches!(error, NetError::Timeout), "{error:?}");
    }

    #[tokio::test]
    async fn a_cname_loop_ends_as_no_records() {
        let server = ScriptedServer::start(|q| {
            let next = if q.name().to_ascii() == "a.test." {
                "b.test."
            } else {
                "a.test."
            };
            Some((
                ResponseCode::NoError,
                vec![cname(&q.name().to_ascii(), next)],
                false,
            ))
        });
        let error = servers(&[server.address], 2000)
            .lookup("a.test.", RecordType::TXT)
            .await
            .unwrap_err();
        assert!(error.is_no_records_found(), "{error:?}");
        assert_eq!(server.asked().len(), MAX_NAMES_ASKED);
    }
}
