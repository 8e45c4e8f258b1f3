//! The fake MX hosts: one SMTP server per host, each on a loopback address
//! of its own (127.0.1.N) and all on one port, that offers STARTTLS with a
//! test-CA certificate or misbehaves in one of the ways a real MX host can.

use super::ca::{tls_acceptor, CertKind, TestCa};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::io;
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

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

/// Presents one certificate whatever the client asks for (an MX host).
#[derive(Debug)]
struct OneCert(Arc<CertifiedKey>);

impl ResolvesServerCert for OneCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

/// A fatal handshake_failure alert as a TLS record: alert (21), TLS 1.2,
/// length 2, fatal (2), handshake_failure (40).
const HANDSHAKE_FAILURE_ALERT: [u8; 7] = [21, 3, 3, 0, 2, 2, 40];

/// Serves one fake MX host, counting its connections in `sessions`.
pub async fn serve_smtp(
    listener: TcpListener,
    host: String,
    behavior: SmtpBehavior,
    ca: Arc<TestCa>,
    sessions: Arc<std::sync::atomic::AtomicUsize>,
) {
    let acceptor = match behavior {
        SmtpBehavior::Tls(kind) => Some(tls_acceptor(Arc::new(OneCert(
            ca.certified_key(&host, kind),
        )))),
        _ => None,
    };
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        sessions.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let acceptor = acceptor.clone();
        let host = host.clone();
        tokio::spawn(async move {
            let _ = smtp_session(stream, &host, behavior, acceptor).await;
        });
    }
}

/// One SMTP session: the greeting (or a broken one), then EHLO, STARTTLS
/// and QUIT until the client leaves.
async fn smtp_session(
    stream: TcpStream,
    host: &str,
    behavior: SmtpBehavior,
    acceptor: Option<TlsAcceptor>,
) -> io::Result<()> {
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
            match answer_starttls(stream, behavior, acceptor.clone()).await? {
                Some(plain) => stream = plain,
                None => return Ok(()),
            }
        } else if command == "QUIT" {
            stream.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            stream.write_all(b"502 5.5.2 not implemented\r\n").await?;
        }
    }
}

/// Answers STARTTLS as `behavior` says. Returns the plain-text stream when
/// the session goes on in plain text, `None` when it is over.
async fn answer_starttls(
    mut stream: BufReader<TcpStream>,
    behavior: SmtpBehavior,
    acceptor: Option<TlsAcceptor>,
) -> io::Result<Option<BufReader<TcpStream>>> {
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
            let _ = stream.read(&mut hello).await?;
            stream.write_all(b"this is not TLS at all\r\n").await?;
            return Ok(None);
        }
        SmtpBehavior::InjectAfterStarttls => {
            stream
                .write_all(b"220 2.0.0 go ahead\r\n250 injected\r\n")
                .await?;
        }
        SmtpBehavior::CloseOnStarttls => return Ok(None),
        SmtpBehavior::CloseAfterStarttls => {
            stream.write_all(b"220 2.0.0 go ahead\r\n").await?;
            stream.flush().await?;
            return Ok(None);
        }
        SmtpBehavior::AlertAfterStarttls => {
            stream.write_all(b"220 2.0.0 go ahead\r\n").await?;
            stream.flush().await?;
            let mut hello = [0u8; 512];
            let _ = stream.read(&mut hello).await?;
            stream.write_all(&HANDSHAKE_FAILURE_ALERT).await?;
            return Ok(None);
        }
        SmtpBehavior::Tls(_) => {
            stream
                .write_all(b"220 2.0.0 ready to start TLS\r\n")
                .await?;
            stream.flush().await?;
            if let Some(acceptor) = acceptor {
                let tls = acceptor.accept(stream.into_inner()).await?;
                tls_session(BufReader::new(tls)).await?;
            }
            return Ok(None);
        }
        _ => {
            stream.write_all(b"502 not implemented\r\n").await?;
        }
    }
    Ok(Some(stream))
}

/// The session after the TLS handshake: `250 ok` to anything until QUIT.
async fn tls_session<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    mut tls: BufReader<S>,
) -> io::Result<()> {
    let mut line = String::new();
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
