//! The connections of the DANE resolver ([`super::dnssec::ValidatingDns`]),
//! below hickory's name server pool and DNSSEC validator:
//!
//! - a bounded cache of the name servers' answers, TTLs capped at
//!   `resolver.dnssec_cache_max_ttl` (RFC 2181 §8, RFC 2308 §5). Sitting
//!   under the validator, it keeps the DNSKEY and DS answers the validator
//!   asks for on every lookup (RFC 4035 §5), as well as the MX, address
//!   and TLSA answers, and every answer is validated again when it is
//!   used; hickory's own response cache sits above the validator and
//!   never sees those queries;
//! - with `resolver.trust_ad_bit`, the DO and AD bits on every query
//!   (RFC 3225, RFC 6840 §5.7) and each answer's records marked secure or
//!   insecure from its AD flag (RFC 4035 §3.2.3), since hickory's name
//!   server pool turns a denial into an error without its header.
//!
//! Nothing else is changed: errors, SERVFAIL and truncated answers pass
//! as they came and are never kept.

use futures_util::stream::{self, Stream, StreamExt};
use hickory_resolver::config::ConnectionConfig;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::xfer::DnsHandle;
use hickory_resolver::net::NetError;
use hickory_resolver::proto::dnssec::Proof;
use hickory_resolver::proto::op::{
    DnsRequest, DnsResponse, Edns, Message, OpCode, Query, ResponseCode,
};
use hickory_resolver::{ConnectionProvider, PoolContext};
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Largest answer kept, in bytes on the wire: a DNSKEY or TLSA answer with
/// its signatures is well below it; a larger one (a hostile zone's) is
/// passed on but not kept, so the cache holds at most
/// `dnssec_cache_size` × this.
pub const MAX_CACHED_RESPONSE_BYTES: usize = 4096;

/// What identifies an answer: the question (name in lower case) and the
/// flags that change what a resolver answers (DO, CD, RD).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    query: Query,
    dnssec_ok: bool,
    checking_disabled: bool,
    recursion_desired: bool,
}

impl Key {
    fn of(request: &DnsRequest) -> Option<Key> {
        if request.metadata.op_code != OpCode::Query || request.queries.len() != 1 {
            return None;
        }
        let asked = request.queries.first()?;
        let mut query = Query::query(asked.name().to_lowercase(), asked.query_type());
        query.query_class = asked.query_class();
        Some(Key {
            query,
            dnssec_ok: request.edns.as_ref().is_some_and(|e| e.flags().dnssec_ok),
            checking_disabled: request.metadata.checking_disabled,
            recursion_desired: request.metadata.recursion_desired,
        })
    }
}

/// One kept answer.
#[derive(Debug)]
struct Entry {
    message: Message,
    stored: Instant,
    ttl: Duration,
}

/// Each entry expires after its own (capped) TTL.
struct EntryExpiry;

impl moka::Expiry<Key, Arc<Entry>> for EntryExpiry {
    fn expire_after_create(
        &self,
        _key: &Key,
        value: &Arc<Entry>,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// How many queries were answered from the cache and how many went to a
/// name server.
#[derive(Debug, Default)]
struct Counts {
    hits: AtomicU64,
    misses: AtomicU64,
}

/// What every connection of one resolver shares.
struct Shared {
    cache: Option<moka::sync::Cache<Key, Arc<Entry>>>,
    /// The TTL cap; zero: TTLs are left as they are.
    max_ttl: Duration,
    trust_ad: bool,
    counts: Counts,
}

/// The settings of a [`DnssecTransport`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransportSettings {
    /// Answers kept at most (zero: no cache).
    pub cache_size: usize,
    /// The longest an answer is kept, and the cap on every record's TTL
    /// (zero: no cache, TTLs left as they are).
    pub max_ttl: Duration,
    /// Whether the AD flag of answers is taken as their DNSSEC status.
    pub trust_ad: bool,
}

/// The connection provider of the DANE resolver: hickory's (UDP and TCP
/// to the configured name servers) with the cache and the AD handling of
/// this module on every connection.
#[derive(Clone)]
pub struct DnssecTransport {
    inner: TokioRuntimeProvider,
    shared: Arc<Shared>,
}

impl DnssecTransport {
    /// A transport with `settings`. A cap under a second (half of a 1s
    /// interval) is no cache: TTLs count whole seconds, and capping them
    /// all to zero would also empty hickory's validation cache.
    pub fn new(settings: TransportSettings) -> DnssecTransport {
        let max_ttl = if settings.max_ttl < Duration::from_secs(1) {
            Duration::ZERO
        } else {
            settings.max_ttl
        };
        let cache = (settings.cache_size > 0 && !max_ttl.is_zero()).then(|| {
            moka::sync::Cache::builder()
                .max_capacity(settings.cache_size as u64)
                .expire_after(EntryExpiry)
                .build()
        });
        DnssecTransport {
            inner: TokioRuntimeProvider::default(),
            shared: Arc::new(Shared {
                cache,
                max_ttl,
                trust_ad: settings.trust_ad,
                counts: Counts::default(),
            }),
        }
    }

    /// Queries answered from the cache and queries sent, since start.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.shared.counts.hits.load(Ordering::Relaxed),
            self.shared.counts.misses.load(Ordering::Relaxed),
        )
    }
}

impl ConnectionProvider for DnssecTransport {
    type Conn = DnssecConnection;
    type FutureConn = Pin<Box<dyn Future<Output = Result<DnssecConnection, NetError>> + Send>>;
    type RuntimeProvider = TokioRuntimeProvider;

    fn new_connection(
        &self,
        ip: IpAddr,
        config: &ConnectionConfig,
        cx: &PoolContext,
    ) -> Result<Self::FutureConn, NetError> {
        let connecting = self.inner.new_connection(ip, config, cx)?;
        let shared = self.shared.clone();
        Ok(Box::pin(async move {
            Ok(DnssecConnection {
                inner: connecting.await?,
                shared,
            })
        }))
    }

    fn runtime_provider(&self) -> &TokioRuntimeProvider {
        &self.inner
    }
}

/// One connection to a name server, through the cache.
#[derive(Clone)]
pub struct DnssecConnection {
    inner: <TokioRuntimeProvider as ConnectionProvider>::Conn,
    shared: Arc<Shared>,
}

impl DnsHandle for DnssecConnection {
    type Response = Pin<Box<dyn Stream<Item = Result<DnsResponse, NetError>> + Send>>;
    type Runtime = TokioRuntimeProvider;

    fn is_verifying_dnssec(&self) -> bool {
        self.inner.is_verifying_dnssec()
    }

    fn is_using_edns(&self) -> bool {
        self.inner.is_using_edns()
    }

    fn send(&self, mut request: DnsRequest) -> Self::Response {
        let shared = self.shared.clone();
        if shared.trust_ad {
            // RFC 6840 §5.7: AD in a query asks for the AD bit; DO
            // (RFC 3225) for the signatures a resolver checked.
            request.metadata.authentic_data = true;
            request.metadata.checking_disabled = false;
            request.edns.get_or_insert_with(Edns::new).enable_dnssec();
        }
        let key = Key::of(&request);
        if let (Some(key), Some(cache)) = (&key, &shared.cache) {
            if let Some(response) = cached(cache, key, request.metadata.id) {
                shared.counts.hits.fetch_add(1, Ordering::Relaxed);
                return Box::pin(stream::once(std::future::ready(Ok(response))));
            }
        }
        shared.counts.misses.fetch_add(1, Ordering::Relaxed);
        Box::pin(
            self.inner
                .send(request)
                .map(move |result| result.map(|response| shared.received(key.as_ref(), response))),
        )
    }
}

/// The kept answer to `key`, its TTLs lowered by the time it was kept,
/// with the query's `id`.
fn cached(cache: &moka::sync::Cache<Key, Arc<Entry>>, key: &Key, id: u16) -> Option<DnsResponse> {
    let entry = cache.get(key)?;
    let elapsed = entry.stored.elapsed();
    if elapsed >= entry.ttl {
        return None;
    }
    let elapsed = u32::try_from(elapsed.as_secs()).unwrap_or(u32::MAX);
    let mut message = entry.message.clone();
    message.metadata.id = id;
    for record in message
        .answers
        .iter_mut()
        .chain(message.authorities.iter_mut())
        .chain(message.additionals.iter_mut())
    {
        record.decrement_ttl(elapsed);
    }
    DnsResponse::from_message(message).ok()
}

impl Shared {
    /// An answer from a name server: marked from its AD flag, TTLs
    /// capped, kept when it can be.
    fn received(&self, key: Option<&Key>, response: DnsResponse) -> DnsResponse {
        if response.truncation || (!self.trust_ad && self.max_ttl.is_zero()) {
            return response;
        }
        let size = response.as_buffer().len();
        let mut message = Message::clone(&response);
        if self.trust_ad {
            mark_from_ad_flag(&mut message);
        }
        if !self.max_ttl.is_zero() {
            cap_ttls(&mut message, self.max_ttl);
        }
        let Ok(answer) = DnsResponse::from_message(message) else {
            return response;
        };
        if let (Some(cache), Some(key)) = (&self.cache, key) {
            let kept_ttl = keepable_ttl(&answer, size);
            if let Some(ttl) = kept_ttl {
                cache.insert(
                    key.clone(),
                    Arc::new(Entry {
                        message: Message::clone(&answer),
                        stored: Instant::now(),
                        ttl,
                    }),
                );
            }
        }
        answer
    }
}

/// Every record of `message` secure when its AD flag is set, insecure
/// otherwise (RFC 4035 §3.2.3: the resolver vouches for the answer and
/// authority sections).
fn mark_from_ad_flag(message: &mut Message) {
    let proof = if message.metadata.authentic_data {
        Proof::Secure
    } else {
        Proof::Insecure
    };
    for record in message
        .answers
        .iter_mut()
        .chain(message.authorities.iter_mut())
        .chain(message.additionals.iter_mut())
    {
        record.proof = proof;
    }
}

/// Every record's TTL at most `max_ttl`, so that nothing above (hickory's
/// validation cache) keeps a proof longer than the cache keeps its answer.
fn cap_ttls(message: &mut Message, max_ttl: Duration) {
    let cap = u32::try_from(max_ttl.as_secs()).unwrap_or(u32::MAX);
    for record in message
        .answers
        .iter_mut()
        .chain(message.authorities.iter_mut())
        .chain(message.additionals.iter_mut())
    {
        record.ttl = record.ttl.min(cap);
    }
}

/// How long `response` may be kept: the smallest TTL of its answer and
/// authority records (for a denial also its SOA's minimum, RFC 2308 §5),
/// already capped; `None` for what is never kept: an error code, an
/// answer without records to take a TTL from, a zero TTL, a large answer.
fn keepable_ttl(response: &DnsResponse, size: usize) -> Option<Duration> {
    if !matches!(
        response.response_code,
        ResponseCode::NoError | ResponseCode::NXDomain
    ) || size > MAX_CACHED_RESPONSE_BYTES
    {
        return None;
    }
    let mut ttl = response
        .answers
        .iter()
        .chain(response.authorities.iter())
        .map(|r| r.ttl)
        .min()?;
    if response.answers.is_empty() {
        ttl = ttl.min(response.negative_ttl()?);
    }
    (ttl > 0).then(|| Duration::from_secs(u64::from(ttl)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_resolver::proto::rr::rdata::{A, SOA};
    use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};
    use std::str::FromStr;

    fn name(text: &str) -> Name {
        Name::from_str(text).unwrap()
    }

    fn response(code: ResponseCode, answers: &[(u32, RData)], soa_ttl: Option<u32>) -> Message {
        let mut message = Message::response(7, OpCode::Query);
        message.add_query(Query::query(name("mx.example."), RecordType::A));
        message.metadata.response_code = code;
        for (ttl, data) in answers {
            message.add_answer(Record::from_rdata(name("mx.example."), *ttl, data.clone()));
        }
        if let Some(ttl) = soa_ttl {
            let soa = SOA::new(name("ns.example."), name("h.example."), 1, 1, 1, 1, 30);
            message.add_authority(Record::from_rdata(name("example."), ttl, RData::SOA(soa)));
        }
        message
    }

    fn keepable(message: Message) -> Option<u64> {
        let response = DnsResponse::from_message(message).unwrap();
        let size = response.as_buffer().len();
        keepable_ttl(&response, size).map(|d| d.as_secs())
    }

    #[test]
    fn an_answer_is_kept_for_its_smallest_ttl_and_a_denial_for_its_soa_minimum() {
        let a = |ttl| (ttl, RData::A(A::new(192, 0, 2, 1)));
        assert_eq!(
            keepable(response(ResponseCode::NoError, &[a(300), a(40)], None)),
            Some(40)
        );
        // RFC 2308 §5: the SOA's TTL or its minimum (30), the smaller.
        assert_eq!(
            keepable(response(ResponseCode::NXDomain, &[], Some(3600))),
            Some(30)
        );
        assert_eq!(
            keepable(response(ResponseCode::ServFail, &[a(300)], None)),
            None
        );
        assert_eq!(keepable(response(ResponseCode::NoError, &[], None)), None);
        assert_eq!(
            keepable(response(ResponseCode::NoError, &[a(0)], None)),
            None
        );
    }

    #[test]
    fn ttls_are_capped_and_ad_marks_every_record() {
        let mut message = response(
            ResponseCode::NoError,
            &[(86_400, RData::A(A::new(192, 0, 2, 1)))],
            Some(3600),
        );
        cap_ttls(&mut message, Duration::from_secs(60));
        assert!(message.all_sections().all(|r| r.ttl == 60));
        message.metadata.authentic_data = true;
        mark_from_ad_flag(&mut message);
        assert!(message.all_sections().all(|r| r.proof == Proof::Secure));
        message.metadata.authentic_data = false;
        mark_from_ad_flag(&mut message);
        assert!(message.all_sections().all(|r| r.proof == Proof::Insecure));
    }

    #[test]
    fn a_kept_answer_comes_back_with_the_new_id_and_expires() {
        let cache = moka::sync::Cache::builder()
            .max_capacity(4)
            .expire_after(EntryExpiry)
            .build();
        let request = DnsRequest::from_query(
            Query::query(name("MX.Example."), RecordType::A),
            Default::default(),
        );
        let key = Key::of(&request).unwrap();
        assert_eq!(key.query.name(), &name("mx.example."));
        let message = response(
            ResponseCode::NoError,
            &[(60, RData::A(A::new(192, 0, 2, 1)))],
            None,
        );
        cache.insert(
            key.clone(),
            Arc::new(Entry {
                message: message.clone(),
                stored: Instant::now(),
                ttl: Duration::from_secs(60),
            }),
        );
        let hit = cached(&cache, &key, 4242).unwrap();
        assert_eq!(hit.metadata.id, 4242);
        assert_eq!(hit.answers.len(), 1);
        cache.insert(
            key.clone(),
            Arc::new(Entry {
                message,
                stored: Instant::now(),
                ttl: Duration::ZERO,
            }),
        );
        assert!(cached(&cache, &key, 1).is_none());
    }
}
