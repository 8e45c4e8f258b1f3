//! A fake validating resolver for `resolver.trust_ad_bit` (RFC 4035
//! §3.2.3, RFC 6840 §5.7): a UDP proxy on 127.0.0.1 in front of the
//! unsigned fake DNS ([`super::dns`]) that sets the AD flag on the answers
//! for the names of "secure" zones, clears it for the others, and answers
//! SERVFAIL for a "bogus" one, as a validating resolver does when a
//! signature does not verify. It validates nothing: the tests only check
//! what the exporter makes of the flags.

use super::dns::QueryLog;
use hickory_proto::op::Message;
use hickory_proto::rr::Name;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

/// What the fake resolver says of the names at or below a zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdAnswer {
    /// The answer with AD set: validated, secure.
    Secure,
    /// The answer with AD clear: insecure.
    Insecure,
    /// SERVFAIL: validation failed (bogus).
    Bogus,
}

/// How the fake resolver answers, by zone (the longest listed zone
/// containing the query's name decides; names in none are insecure).
#[derive(Debug, Clone, Default)]
pub struct AdSpec {
    /// Zones (`good.test`, `_25._tcp.mx1.x.test`) and their answers.
    pub zones: Vec<(String, AdAnswer)>,
}

impl AdSpec {
    fn answer(&self, query: &Name) -> AdAnswer {
        self.zones
            .iter()
            .map(|(zone, answer)| (super::dns::name(zone), *answer))
            .filter(|(zone, _)| zone.zone_of(query))
            .max_by_key(|(zone, _)| zone.num_labels())
            .map(|(_, answer)| answer)
            .unwrap_or(AdAnswer::Insecure)
    }
}

/// Starts the fake resolver in front of `upstream`; every query it gets
/// goes to `log`. Returns its address (UDP only: the answers of the fake
/// world are small).
pub async fn start_ad_resolver(
    upstream: SocketAddr,
    spec: &AdSpec,
    log: QueryLog,
) -> (SocketAddr, JoinHandle<()>) {
    let socket = Arc::new(
        UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind AD resolver"),
    );
    let addr = socket.local_addr().expect("AD resolver addr");
    let spec = spec.clone();
    let task = tokio::spawn(async move {
        let mut buffer = vec![0u8; 4096];
        loop {
            let Ok((len, peer)) = socket.recv_from(&mut buffer).await else {
                continue;
            };
            let query = buffer[..len].to_vec();
            let Ok(message) = Message::from_vec(&query) else {
                continue;
            };
            let Some(question) = message.queries.first() else {
                continue;
            };
            log.record(question.name(), question.query_type());
            let answer = spec.answer(question.name());
            let socket = socket.clone();
            tokio::spawn(async move {
                let reply = match answer {
                    AdAnswer::Bogus => Some(servfail(&query)),
                    _ => forward(upstream, &query).await.map(|mut reply| {
                        if reply.len() > 3 {
                            if answer == AdAnswer::Secure {
                                reply[3] |= 0x20;
                            } else {
                                reply[3] &= !0x20;
                            }
                        }
                        reply
                    }),
                };
                if let Some(reply) = reply {
                    let _ = socket.send_to(&reply, peer).await;
                }
            });
        }
    });
    (addr, task)
}

/// SERVFAIL for `query`: its header with QR and RA set, the question and
/// OPT record as they came.
fn servfail(query: &[u8]) -> Vec<u8> {
    let mut reply = query.to_vec();
    if reply.len() > 3 {
        reply[2] |= 0x80; // QR
        reply[3] = 0x80 | 2; // RA, RCODE SERVFAIL
    }
    reply
}

/// `query` sent to `upstream`, and its answer (none when it gives none in
/// five seconds, like a blackholed name of the fake DNS).
async fn forward(upstream: SocketAddr, query: &[u8]) -> Option<Vec<u8>> {
    let socket = UdpSocket::bind("127.0.0.1:0").await.ok()?;
    socket.send_to(query, upstream).await.ok()?;
    let mut buffer = vec![0u8; 65_535];
    let (len, _) = tokio::time::timeout(Duration::from_secs(5), socket.recv_from(&mut buffer))
        .await
        .ok()?
        .ok()?;
    buffer.truncate(len);
    Some(buffer)
}
