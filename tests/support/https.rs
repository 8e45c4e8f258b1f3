//! The policy hosts: one HTTPS server on 127.0.0.1 (tokio-rustls + hyper)
//! answering `/.well-known/mta-sts.txt` for every `mta-sts.<domain>` by
//! SNI, with certificates from the test CA, and the hostile ways a policy
//! host can behave (slowloris, endless body, huge headers, HTTP/1.0 without
//! a length, silence, a TLS alert).

use super::ca::{tls_acceptor, CertKind, TestCa};
use bytes::Bytes;
use http_body_util::Full;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

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

impl HttpBehavior {
    /// Whether the host misbehaves before TLS, so needs an address of its
    /// own (see [`serve_raw_policy_host`]).
    pub fn before_tls(self) -> bool {
        matches!(self, HttpBehavior::SilentTcp | HttpBehavior::TlsAlert)
    }
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

/// The answers of every policy host by name, shared with the running
/// server so a test can change them ([`super::World::set_policy_host`]).
pub type PolicyHosts = Arc<Mutex<HashMap<String, PolicyHost>>>;

/// Issues each policy host's certificate on its first handshake (by SNI),
/// of the kind its answer asks for, and keeps it.
#[derive(Debug)]
struct LazyCerts {
    ca: Arc<TestCa>,
    hosts: PolicyHosts,
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

/// Starts the HTTPS server on `bind` (127.0.0.1 or ::1; port 0 for one the
/// OS picks) for every policy host in `hosts` (looked up at each handshake
/// and request). Returns its address, or the error of the bind.
pub async fn start_https(
    ca: &Arc<TestCa>,
    hosts: PolicyHosts,
    bind: SocketAddr,
) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
    let acceptor = tls_acceptor(Arc::new(LazyCerts {
        ca: ca.clone(),
        hosts: hosts.clone(),
        issued: Mutex::new(HashMap::new()),
    }));
    let listener = TcpListener::bind(bind).await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(serve_policy_connection(
                stream,
                acceptor.clone(),
                hosts.clone(),
            ));
        }
    });
    Ok((addr, task))
}

/// One connection to the policy server: TLS, then the answer of the host
/// named by SNI, served by hyper or the hostile way the host asks for.
async fn serve_policy_connection(
    stream: TcpStream,
    acceptor: tokio_rustls::TlsAcceptor,
    hosts: PolicyHosts,
) {
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
    let service =
        hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
            let answer = hosts.lock().expect("hosts lock").get(&sni).cloned();
            async move { respond(answer, request.uri().path()) }
        });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
        .await;
}

/// The well-behaved answer for `path` of a host whose answer is `answer`
/// (`None`: the host is unknown).
fn respond(
    answer: Option<PolicyHost>,
    path: &str,
) -> Result<hyper::Response<Full<Bytes>>, hyper::http::Error> {
    let mut response = hyper::Response::builder();
    let body = match (answer, path) {
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

/// Answers one request the hostile way `behavior` says.
async fn hostile_http<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    stream: S,
    behavior: HttpBehavior,
    body: Vec<u8>,
) -> std::io::Result<()> {
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
pub async fn serve_raw_policy_host(listener: TcpListener, behavior: HttpBehavior) {
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
