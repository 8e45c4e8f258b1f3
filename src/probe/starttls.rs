//! SMTP STARTTLS to an MX host (RFC 3207) and a look at its certificate, as
//! a sender enforcing MTA-STS would (RFC 8461 §4.2): connect to port 25,
//! read the greeting, EHLO, require STARTTLS, upgrade, verify the chain and
//! the host name, QUIT.
//!
//! Every read is bounded (line length, line count) and the whole exchange
//! by a timeout, so a hostile server can cost neither memory nor time.

use super::cert::{cert_problem, client_config, describe, find_rustls_error, RecordingVerifier};
use super::classify::local_error;
use super::dns::{Dns, DnsAnswer};
use super::local_net::LocalNetwork;
use super::outcome::{AddressStarttls, StarttlsCheck, StarttlsError, StarttlsSuccess};
use super::shared_checks::{SharedChecks, Source};
use crate::config::AddressesConfig;
use crate::report::AddressFamily;
use crate::taxonomy::{LocalError, LocalErrorKind};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::ServerName;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

/// Longest reply line accepted (RFC 5321 §4.5.3.1.5 says 512 octets; we
/// allow some slack for verbose servers).
const MAX_LINE: usize = 2048;
/// Most lines in one multi-line reply.
const MAX_REPLY_LINES: usize = 100;
/// How long QUIT may take after a successful check.
const QUIT_TIMEOUT: Duration = Duration::from_secs(2);

/// How STARTTLS checks are made.
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    /// The name sent in EHLO.
    pub helo_name: String,
    /// Bound on one host's whole exchange.
    pub timeout: Duration,
    /// Port to connect to (25 unless overridden).
    pub port: u16,
    /// Which addresses of each host are checked.
    pub addresses: AddressesConfig,
    /// How long one check of a host answers for every domain naming it
    /// (zero: not shared; [`super::shared_checks`]).
    pub share_checks_for: Duration,
}

/// A line-oriented reader over the plain TCP connection, bounded.
struct SmtpConnection {
    stream: TcpStream,
    buffer: Vec<u8>,
}

/// One SMTP reply: code and text lines.
struct Reply {
    code: u16,
    lines: Vec<String>,
}

impl Reply {
    fn summary(&self) -> String {
        let text = self.lines.first().map(String::as_str).unwrap_or("");
        format!("{} {}", self.code, text)
            .chars()
            .take(200)
            .collect()
    }
}

impl SmtpConnection {
    async fn read_line(&mut self) -> Result<String, StarttlsError> {
        loop {
            if let Some(end) = self.buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=end).collect();
                let line = String::from_utf8_lossy(&line);
                return Ok(line.trim_end_matches(['\r', '\n']).to_string());
            }
            if self.buffer.len() > MAX_LINE {
                return Err(StarttlsError::Protocol(format!(
                    "reply line longer than {MAX_LINE} bytes"
                )));
            }
            let mut chunk = [0u8; 1024];
            let read = self
                .stream
                .read(&mut chunk)
                .await
                .map_err(|e| StarttlsError::Protocol(format!("read failed: {e}")))?;
            if read == 0 {
                return Err(StarttlsError::Protocol(
                    "connection closed by the server".into(),
                ));
            }
            self.buffer.extend_from_slice(&chunk[..read]);
        }
    }

    /// Reads a (multi-line) reply: `NNN-text` lines then `NNN text`
    /// (RFC 5321 §4.2.1).
    async fn read_reply(&mut self) -> Result<Reply, StarttlsError> {
        let mut lines = Vec::new();
        loop {
            let line = self.read_line().await?;
            let bytes = line.as_bytes();
            let code = (bytes.len() >= 3 && bytes[..3].iter().all(u8::is_ascii_digit))
                .then(|| line[..3].parse::<u16>().ok())
                .flatten()
                .filter(|c| (200..=599).contains(c))
                .ok_or_else(|| {
                    StarttlsError::Protocol(format!("malformed reply line {:?}", cap(&line)))
                })?;
            let separator = bytes.get(3).copied();
            lines.push(line.get(4..).unwrap_or("").to_string());
            match separator {
                None | Some(b' ') => return Ok(Reply { code, lines }),
                Some(b'-') if lines.len() < MAX_REPLY_LINES => continue,
                Some(b'-') => {
                    return Err(StarttlsError::Protocol(format!(
                        "reply longer than {MAX_REPLY_LINES} lines"
                    )))
                }
                Some(_) => {
                    return Err(StarttlsError::Protocol(format!(
                        "malformed reply line {:?}",
                        cap(&line)
                    )))
                }
            }
        }
    }

    async fn command(&mut self, command: &str) -> Result<Reply, StarttlsError> {
        self.stream
            .write_all(format!("{command}\r\n").as_bytes())
            .await
            .map_err(|e| StarttlsError::Protocol(format!("write failed: {e}")))?;
        self.read_reply().await
    }
}

fn cap(text: &str) -> String {
    text.chars().take(100).collect()
}

/// The shared checks `settings` ask for, if any.
fn shared_checks(settings: &SmtpSettings) -> Option<Arc<SharedChecks>> {
    (!settings.share_checks_for.is_zero())
        .then(|| Arc::new(SharedChecks::new(settings.share_checks_for)))
}

/// Checks STARTTLS on MX hosts with a shared WebPKI verifier.
#[derive(Clone)]
pub struct StarttlsChecker {
    dns: Dns,
    verifier: Arc<WebPkiServerVerifier>,
    provider: Arc<rustls::crypto::CryptoProvider>,
    settings: SmtpSettings,
    /// Bounds connections across all probes (one per address checked).
    permits: Arc<Semaphore>,
    /// The families the machine can reach.
    network: LocalNetwork,
    /// Whether each address's chain is kept for a DANE check.
    keep_chains: bool,
    /// Recent checks, shared by the domains naming the same host (`None`
    /// when `settings.share_checks_for` is zero).
    shared: Option<Arc<SharedChecks>>,
}

impl StarttlsChecker {
    /// A checker trusting what `verifier` trusts, holding one of `permits`
    /// per connection, and leaving alone what `network` says it cannot
    /// reach.
    pub fn new(
        dns: Dns,
        verifier: Arc<WebPkiServerVerifier>,
        provider: Arc<rustls::crypto::CryptoProvider>,
        settings: SmtpSettings,
        permits: Arc<Semaphore>,
        network: LocalNetwork,
    ) -> StarttlsChecker {
        StarttlsChecker {
            dns,
            verifier,
            provider,
            shared: shared_checks(&settings),
            settings,
            permits,
            network,
            keep_chains: false,
        }
    }

    /// This checker, keeping each address's presented chain
    /// ([`AddressStarttls::chain`]) for a DANE check (RFC 7672 §3).
    pub fn keeping_chains(&self) -> StarttlsChecker {
        StarttlsChecker {
            keep_chains: true,
            shared: shared_checks(&self.settings),
            ..self.clone()
        }
    }

    /// [`StarttlsChecker::check`], timed; or, with `smtp.share_checks_for`,
    /// the host's shared check ([`super::shared_checks`]): the recent or
    /// running one, else one started now and bounded by `smtp.timeout`, not
    /// by `limit`; the caller waits for it at most `limit`. The time is the
    /// check's own, not the wait.
    pub async fn check_shared(&self, host: &str, limit: Duration) -> (StarttlsCheck, Duration) {
        let started = self.shared.as_ref().and_then(|shared| {
            let (checker, owned_host) = (self.clone(), host.to_string());
            shared.get_or_start(host, move || async move {
                checker
                    .check_timed(&owned_host, checker.settings.timeout)
                    .await
            })
        });
        let Some((check, source)) = started else {
            return self.check_timed(host, limit).await;
        };
        match tokio::time::timeout(limit, check).await {
            Ok((mut check, took)) => {
                check.host = host.to_string();
                check.shared = source == Source::Shared;
                (check, took)
            }
            Err(_) => {
                let error = StarttlsError::Timeout("waiting for the host's shared check");
                let mut check = StarttlsCheck::failed(host, error);
                check.shared = source == Source::Shared;
                (check, limit)
            }
        }
    }

    /// [`StarttlsChecker::check`], with how long it took.
    async fn check_timed(&self, host: &str, limit: Duration) -> (StarttlsCheck, Duration) {
        let start = std::time::Instant::now();
        let check = self.check(host, limit).await;
        (check, start.elapsed())
    }

    /// Checks `host` over each of its addresses (`settings.addresses`),
    /// concurrently, each within the configured timeout or what is left of
    /// `limit`, whichever is shorter; the host's result is the worst
    /// ([`StarttlsCheck::from_addresses`]).
    pub async fn check(&self, host: &str, limit: Duration) -> StarttlsCheck {
        let deadline = tokio::time::Instant::now() + limit;
        let lookup_timeout = self.settings.timeout.min(limit);
        let addresses = match tokio::time::timeout(lookup_timeout, self.lookup(host)).await {
            Ok(Ok(addresses)) => addresses,
            Ok(Err(error)) => return StarttlsCheck::failed(host, error),
            Err(_) => {
                return StarttlsCheck::failed(
                    host,
                    StarttlsError::Timeout("looking up the addresses"),
                )
            }
        };
        let checks = addresses
            .iter()
            .map(|address| self.check_address(host, *address, deadline));
        let addresses = futures_util::future::join_all(checks).await;
        StarttlsCheck::from_addresses(host, addresses)
    }

    /// The addresses of `host` to check (RFC 5321 §5.1).
    async fn lookup(&self, host: &str) -> Result<Vec<IpAddr>, StarttlsError> {
        if !crate::rfc::domain::is_ascii_domain(host) {
            return Err(StarttlsError::NotAHostName);
        }
        match self
            .dns
            .addresses_by_family(host, &self.settings.addresses)
            .await
            .map_err(StarttlsError::AddressLookup)?
        {
            DnsAnswer::Records(ips) if !ips.is_empty() => Ok(ips),
            _ => Err(StarttlsError::NoAddress),
        }
    }

    /// Checks `host` over `address`, with a connection permit, within the
    /// configured timeout and `deadline`.
    async fn check_address(
        &self,
        host: &str,
        address: IpAddr,
        deadline: tokio::time::Instant,
    ) -> AddressStarttls {
        if self.network.skips(&address) {
            let family = AddressFamily::of(&address).as_str();
            return AddressStarttls {
                address,
                result: Err(StarttlsError::Local(LocalError::new(
                    LocalErrorKind::AddressFamilyUnsupported,
                    format!("this machine has no {family} route"),
                ))),
                offered: None,
                cert: None,
                chain: Vec::new(),
            };
        }
        let _permit = self.permits.acquire().await;
        let timeout = self
            .settings
            .timeout
            .min(deadline.saturating_duration_since(tokio::time::Instant::now()));
        let recorder = Arc::new(RecordingVerifier::with_inner(self.verifier.clone()));
        let mut offered = None;
        let mut stage = "connecting";
        let exchange = self.exchange(host, address, recorder.clone(), &mut offered, &mut stage);
        let result = match tokio::time::timeout(timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(StarttlsError::Timeout(stage)),
        };
        let problem = match &result {
            Err(StarttlsError::Certificate(problem)) => Some(problem.clone()),
            _ => None,
        };
        let leaf = recorder.take(host);
        let chain = match (&leaf, self.keep_chains) {
            (Some(leaf), true) => std::iter::once(leaf.to_vec())
                .chain(recorder.take_intermediates(host).iter().map(|c| c.to_vec()))
                .collect(),
            _ => Vec::new(),
        };
        let cert = leaf.and_then(|der| describe(&der, problem));
        let checked = AddressStarttls {
            address,
            result,
            offered,
            cert,
            chain,
        };
        if checked.unrouted() {
            self.network.connection_unreachable(&address);
        }
        checked
    }

    /// The SMTP script of one check over one address (connect, greeting,
    /// EHLO, STARTTLS, handshake, QUIT): longer than most functions here
    /// because it reads best as the one linear protocol exchange it is
    /// (RFC 3207 §4).
    async fn exchange(
        &self,
        host: &str,
        address: IpAddr,
        recorder: Arc<RecordingVerifier>,
        offered: &mut Option<bool>,
        stage: &mut &'static str,
    ) -> Result<StarttlsSuccess, StarttlsError> {
        let stream = TcpStream::connect(SocketAddr::new(address, self.settings.port))
            .await
            .map_err(|e| connect_failure(vec![e]))?;
        let mut smtp = SmtpConnection {
            stream,
            buffer: Vec::new(),
        };
        *stage = "waiting for the greeting";
        let greeting = smtp.read_reply().await.map_err(|e| match e {
            StarttlsError::Protocol(message) => StarttlsError::Greeting(message),
            other => other,
        })?;
        if greeting.code != 220 {
            return Err(StarttlsError::Greeting(greeting.summary()));
        }
        *stage = "waiting for the EHLO reply";
        let ehlo = smtp
            .command(&format!("EHLO {}", self.settings.helo_name))
            .await?;
        if ehlo.code != 250 {
            return Err(StarttlsError::Ehlo(ehlo.summary()));
        }
        // The first line is the server's name; keywords follow, one a line.
        let has_starttls = ehlo.lines.iter().skip(1).any(|line| {
            line.split_whitespace()
                .next()
                .is_some_and(|k| k.eq_ignore_ascii_case("STARTTLS"))
        });
        *offered = Some(has_starttls);
        if !has_starttls {
            let _ = smtp.command("QUIT").await;
            return Err(StarttlsError::NotOffered);
        }
        *stage = "waiting for the STARTTLS reply";
        let reply = smtp.command("STARTTLS").await?;
        if reply.code != 220 {
            return Err(StarttlsError::Refused {
                code: reply.code,
                text: reply.lines.first().map(|l| cap(l)).unwrap_or_default(),
            });
        }
        // Anything the server sent after its 220 would be read as if it came
        // through TLS (the STARTTLS injection attack, CVE-2011-0411's class).
        if !smtp.buffer.is_empty() {
            return Err(StarttlsError::Protocol(
                "data sent after the STARTTLS reply, before TLS".into(),
            ));
        }
        *stage = "in the TLS handshake";
        let server_name = ServerName::try_from(host.to_string())
            .map_err(|_| StarttlsError::Tls(format!("{host:?} is not a valid TLS server name")))?;
        let config = client_config(recorder, self.provider.clone())
            .map_err(|e| StarttlsError::Tls(e.to_string()))?;
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let mut tls = connector
            .connect(server_name, smtp.stream)
            .await
            .map_err(|e| handshake_error(&e))?;
        let tls_version = match tls.get_ref().1.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
            Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
            _ => "other",
        };
        // A clean goodbye; its outcome does not change the verdict.
        *stage = "after the TLS handshake";
        let _ = tokio::time::timeout(QUIT_TIMEOUT, async {
            tls.write_all(b"QUIT\r\n").await?;
            let mut reply = [0u8; 512];
            let _ = tls.read(&mut reply).await?;
            tls.shutdown().await
        })
        .await;
        Ok(StarttlsSuccess { tls_version })
    }
}

/// What failed connection attempts say (the check makes one per address,
/// so one error). What a remote address answered (refused, unreachable
/// ...) is the host's failure and wins over the exporter's own problem
/// with another attempt: a sender could not connect either. Only when every
/// attempt failed locally is the failure [`StarttlsError::Local`] (an
/// address-family one is `local-no-ipv6-route` for that address, see
/// [`AddressStarttls::unrouted`]).
fn connect_failure(errors: Vec<std::io::Error>) -> StarttlsError {
    let mut remote = None;
    let mut local = None;
    for e in errors {
        match local_error(&e) {
            Some(error) => local = local.or(Some(error)),
            None if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                remote = Some(StarttlsError::ConnectionRefused)
            }
            None => remote = Some(StarttlsError::Connect(e.to_string())),
        }
    }
    match (remote, local) {
        (Some(remote), _) => remote,
        (None, Some(local)) => StarttlsError::Local(local),
        (None, None) => StarttlsError::NoAddress,
    }
}

/// Reads the rustls verdict out of tokio-rustls's `io::Error`.
fn handshake_error(error: &std::io::Error) -> StarttlsError {
    let tls = find_rustls_error(error);
    match tls {
        Some(rustls::Error::InvalidCertificate(cert_error)) => {
            StarttlsError::Certificate(cert_problem(cert_error))
        }
        Some(rustls::Error::AlertReceived(alert)) => StarttlsError::TlsAlert(*alert),
        Some(other) => StarttlsError::Tls(cap(&other.to_string())),
        None if error.kind() == std::io::ErrorKind::UnexpectedEof => {
            StarttlsError::Tls("connection closed during the handshake".into())
        }
        None => StarttlsError::Tls(cap(&error.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::taxonomy::LocalErrorKind;
    use std::io::Error;

    #[test]
    fn every_address_failing_locally_is_local() {
        let error = connect_failure(vec![
            Error::from_raw_os_error(libc::EMFILE),
            Error::from_raw_os_error(libc::ENETUNREACH),
        ]);
        assert_eq!(
            error.local().map(|l| l.kind),
            Some(LocalErrorKind::DescriptorsExhausted),
            "{error:?}"
        );
    }

    #[test]
    fn a_remote_answer_wins_over_a_local_error() {
        let error = connect_failure(vec![
            Error::from_raw_os_error(libc::ENETUNREACH),
            Error::from_raw_os_error(libc::ECONNREFUSED),
        ]);
        assert_eq!(error, StarttlsError::ConnectionRefused);
        let error = connect_failure(vec![
            Error::from_raw_os_error(libc::EHOSTUNREACH),
            Error::from_raw_os_error(libc::EAFNOSUPPORT),
        ]);
        assert!(matches!(error, StarttlsError::Connect(_)), "{error:?}");
        assert_eq!(connect_failure(Vec::new()), StarttlsError::NoAddress);
    }
}
