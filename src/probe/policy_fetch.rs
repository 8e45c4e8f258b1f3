//! The HTTPS fetch of `https://mta-sts.<domain>/.well-known/mta-sts.txt`
//! (RFC 8461 §3.3): no redirects, status 200 only, a WebPKI-valid
//! certificate for the policy host, a bounded body and a timeout.

use super::cert::{
    cert_problem, client_config, describe, find_rustls_error, CertInfo, CertProblem,
    RecordingVerifier,
};
use super::dns::{Dns, DnsAnswer, DnsFailure};
use crate::mtasts::policy::{parse_policy, Policy, PolicyError};
use std::error::Error as StdError;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// RFC 8461 §3.3: senders may limit the policy body; the reference client
/// (and this exporter) reads at most 64 KiB.
pub const MAX_POLICY_BYTES: usize = 64 * 1024;

/// A successfully fetched and parsed policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedPolicy {
    /// The parsed policy.
    pub policy: Policy,
    /// The body as served.
    pub text: String,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
}

/// Why no valid policy was fetched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyFetchError {
    /// `mta-sts.<domain>` has no address in DNS (NXDOMAIN or no A/AAAA).
    #[error("policy host does not exist in DNS")]
    HostNotFound,
    /// The address lookup of the policy host failed.
    #[error("policy host lookup failed: {0}")]
    HostLookup(DnsFailure),
    /// HTTP 404.
    #[error("HTTP 404: no policy served")]
    NotFound,
    /// A 3xx answer: RFC 8461 §3.3 forbids following redirects.
    #[error("HTTP {status} redirect{}, not followed (RFC 8461 §3.3)", location.as_ref().map(|l| format!(" to {l}")).unwrap_or_default())]
    Redirect {
        /// The status code.
        status: u16,
        /// The `Location` header (capped), if any.
        location: Option<String>,
    },
    /// Any other status than 200.
    #[error("HTTP {0}, only 200 is accepted")]
    Status(u16),
    /// No complete answer within the time left.
    #[error("timed out")]
    Timeout,
    /// TCP connection or TLS handshake failed for another reason than the
    /// certificate.
    #[error("connection failed: {0}")]
    Connect(String),
    /// The transfer broke off.
    #[error("transfer failed: {0}")]
    Transfer(String),
    /// The certificate is invalid.
    #[error("{0}")]
    Certificate(CertProblem),
    /// The body is larger than 64 KiB.
    #[error("policy larger than {MAX_POLICY_BYTES} bytes")]
    TooLarge,
    /// The body does not parse.
    #[error("policy syntax error: {0}")]
    Syntax(PolicyError),
}

/// Why the HTTP client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum FetcherSetupError {
    /// The CA file could not be read or holds no certificate.
    #[error("tls.ca_file {path}: {problem}")]
    CaFile {
        /// The file.
        path: String,
        /// What is wrong.
        problem: String,
    },
    /// rustls or reqwest refused the set-up.
    #[error("cannot set up the HTTPS client: {0}")]
    Client(String),
    /// The certificate verifier could not be built.
    #[error(transparent)]
    Verifier(#[from] super::cert::VerifierError),
}

/// Loads the extra trust roots: every certificate in a PEM file.
pub fn load_ca_file(
    path: &Path,
) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, FetcherSetupError> {
    let ca_error = |problem: String| FetcherSetupError::CaFile {
        path: path.display().to_string(),
        problem,
    };
    use rustls::pki_types::pem::PemObject;
    let pem = std::fs::read(path).map_err(|e| ca_error(e.to_string()))?;
    let certs: Vec<_> = rustls::pki_types::CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| ca_error(format!("invalid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(ca_error("no CERTIFICATE block found".into()));
    }
    Ok(certs)
}

/// The trust store: Mozilla's WebPKI roots plus the configured extra roots.
pub fn root_store(
    extra: &[rustls::pki_types::CertificateDer<'static>],
) -> Result<rustls::RootCertStore, FetcherSetupError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for cert in extra {
        roots
            .add(cert.clone())
            .map_err(|e| FetcherSetupError::Client(format!("extra root rejected: {e}")))?;
    }
    Ok(roots)
}

/// The `ring` crypto provider, named explicitly: several providers may be
/// compiled in (see `crate-pitfalls.md`), so no process default is relied on.
pub fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A name the reqwest resolver fails with when the policy host has no
/// address, so the fetch can tell "no policy served" from other failures.
#[derive(Debug, thiserror::Error)]
#[error("no address for the policy host")]
struct HostNotFoundError;

/// Routes reqwest's host lookups through the probe's resolver, so the
/// configured name servers (not the system's) answer them.
struct ProbeResolver(Dns);

impl reqwest::dns::Resolve for ProbeResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let dns = self.0.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            match dns.addresses(&host).await {
                Ok(DnsAnswer::Records(ips)) if !ips.is_empty() => {
                    let addrs: reqwest::dns::Addrs =
                        Box::new(ips.into_iter().map(|ip| SocketAddr::new(ip, 0)));
                    Ok(addrs)
                }
                Ok(_) => Err(Box::new(HostNotFoundError) as Box<dyn StdError + Send + Sync>),
                Err(failure) => Err(Box::new(failure) as Box<dyn StdError + Send + Sync>),
            }
        })
    }
}

/// Fetches policies. One client for all domains (connection pooling is off:
/// every probe sees a fresh connection, as a sender does).
#[derive(Clone)]
pub struct PolicyFetcher {
    client: reqwest::Client,
    verifier: Arc<RecordingVerifier>,
    port: u16,
}

/// The result of a fetch and the policy host's certificate, when the TLS
/// handshake got that far (also when the certificate was refused).
#[derive(Debug, Clone)]
pub struct FetchOutcome {
    /// The policy, or why there is none.
    pub result: Result<FetchedPolicy, PolicyFetchError>,
    /// The leaf certificate presented by `mta-sts.<domain>`.
    pub cert: Option<CertInfo>,
}

impl PolicyFetcher {
    /// Builds the client: no redirects, no proxy, the given roots, the probe's
    /// resolver, and connections to `port` (443 unless overridden).
    pub fn new(
        dns: Dns,
        roots: Arc<rustls::RootCertStore>,
        port: u16,
    ) -> Result<PolicyFetcher, FetcherSetupError> {
        let verifier = Arc::new(RecordingVerifier::new(roots, crypto_provider())?);
        let tls = client_config(verifier.clone(), crypto_provider())?;
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .pool_max_idle_per_host(0)
            .dns_resolver(Arc::new(ProbeResolver(dns)))
            .user_agent(concat!("mtasts-exporter/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| FetcherSetupError::Client(e.to_string()))?;
        Ok(PolicyFetcher {
            client,
            verifier,
            port,
        })
    }

    /// The URL of `domain`'s policy (RFC 8461 §3.3).
    pub fn policy_url(&self, domain: &str) -> String {
        if self.port == 443 {
            format!("https://mta-sts.{domain}/.well-known/mta-sts.txt")
        } else {
            format!(
                "https://mta-sts.{domain}:{}/.well-known/mta-sts.txt",
                self.port
            )
        }
    }

    /// Fetches and parses `domain`'s policy within `timeout`, and describes
    /// the certificate the policy host presented.
    pub async fn fetch(&self, domain: &str, timeout: Duration) -> FetchOutcome {
        let result = match tokio::time::timeout(timeout, self.fetch_inner(domain)).await {
            Ok(result) => result,
            Err(_) => Err(PolicyFetchError::Timeout),
        };
        let problem = match &result {
            Err(PolicyFetchError::Certificate(problem)) => Some(problem.clone()),
            _ => None,
        };
        let cert = self
            .verifier
            .take(&format!("mta-sts.{domain}"))
            .and_then(|der| describe(&der, problem));
        FetchOutcome { result, cert }
    }

    async fn fetch_inner(&self, domain: &str) -> Result<FetchedPolicy, PolicyFetchError> {
        let mut response = self
            .client
            .get(self.policy_url(domain))
            .send()
            .await
            .map_err(|e| classify_reqwest(&e))?;
        let status = response.status().as_u16();
        if response.status().is_redirection() {
            let location = response.headers().get(reqwest::header::LOCATION).map(|v| {
                String::from_utf8_lossy(v.as_bytes())
                    .chars()
                    .take(200)
                    .collect()
            });
            return Err(PolicyFetchError::Redirect { status, location });
        }
        match status {
            200 => {}
            404 => return Err(PolicyFetchError::NotFound),
            other => return Err(PolicyFetchError::Status(other)),
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .map(|v| {
                String::from_utf8_lossy(v.as_bytes())
                    .chars()
                    .take(200)
                    .collect()
            });
        if response
            .content_length()
            .is_some_and(|n| n > MAX_POLICY_BYTES as u64)
        {
            return Err(PolicyFetchError::TooLarge);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| classify_reqwest(&e))? {
            if body.len() + chunk.len() > MAX_POLICY_BYTES {
                return Err(PolicyFetchError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        let policy = parse_policy(&body).map_err(PolicyFetchError::Syntax)?;
        Ok(FetchedPolicy {
            policy,
            text: String::from_utf8_lossy(&body).into_owned(),
            content_type,
        })
    }
}

/// Finds what went wrong in reqwest's error chain: our resolver's errors, a
/// rustls certificate verdict, a timeout, or else a connection/transfer
/// failure with the chain's text as detail.
fn classify_reqwest(error: &reqwest::Error) -> PolicyFetchError {
    let mut current: Option<&(dyn StdError + 'static)> = Some(error);
    let mut messages = Vec::new();
    while let Some(e) = current {
        if e.downcast_ref::<HostNotFoundError>().is_some() {
            return PolicyFetchError::HostNotFound;
        }
        if let Some(failure) = e.downcast_ref::<DnsFailure>() {
            return PolicyFetchError::HostLookup(failure.clone());
        }
        if let Some(rustls::Error::InvalidCertificate(cert_error)) = find_rustls_error(e) {
            return PolicyFetchError::Certificate(cert_problem(cert_error));
        }
        messages.push(e.to_string());
        current = e.source();
    }
    if error.is_timeout() {
        return PolicyFetchError::Timeout;
    }
    messages.dedup();
    let detail = messages.join(": ");
    if error.is_connect() {
        PolicyFetchError::Connect(detail)
    } else {
        PolicyFetchError::Transfer(detail)
    }
}
