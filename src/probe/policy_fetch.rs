//! The HTTPS fetch of `https://mta-sts.<domain>/.well-known/mta-sts.txt`
//! (RFC 8461 §3.3): no redirects, status 200 only, a WebPKI-valid
//! certificate for the policy host, a bounded body and a timeout.

use super::cert::{cert_problem, client_config, describe, find_rustls_error, RecordingVerifier};
use super::classify::local_error;
use super::dns::{Dns, DnsAnswer};
use super::local_net::LocalNetwork;
use super::outcome::{AddressFetch, DnsFailure, FetchOutcome, FetchedPolicy, PolicyFetchError};
use crate::config::AddressesConfig;
use crate::report::AddressFamily;
use crate::rfc::rfc8461::policy::{parse_policy, MAX_POLICY_BYTES};
use crate::taxonomy::{LocalError, LocalErrorKind};
use crate::tls::crypto_provider;
use rustls::client::WebPkiServerVerifier;
use std::error::Error as StdError;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// Why the HTTP client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum FetcherSetupError {
    /// rustls or reqwest refused the set-up.
    #[error("cannot set up the HTTPS client: {0}")]
    Client(String),
    /// The certificate verifier could not be built.
    #[error(transparent)]
    Verifier(#[from] super::cert::VerifierError),
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

/// Fetches policies over every address of the policy host (RFC 8461 §3.3:
/// each sender fetches over the one address it picks). A client of its own
/// per address and fetch, whose only address for the policy host is that
/// one, with a verifier of its own that records the certificate presented;
/// no pooling: every probe sees fresh connections, as a sender does.
#[derive(Clone)]
pub struct PolicyFetcher {
    dns: Dns,
    webpki: Arc<WebPkiServerVerifier>,
    port: u16,
    addresses: AddressesConfig,
    network: LocalNetwork,
}

impl PolicyFetcher {
    /// A fetcher trusting `roots`, connecting to `port` (443 unless
    /// overridden) on the addresses `addresses` selects, leaving alone what
    /// `network` says the machine cannot reach.
    pub fn new(
        dns: Dns,
        roots: Arc<rustls::RootCertStore>,
        port: u16,
        addresses: AddressesConfig,
        network: LocalNetwork,
    ) -> Result<PolicyFetcher, FetcherSetupError> {
        let webpki = super::cert::webpki_verifier(roots, crypto_provider())?;
        Ok(PolicyFetcher {
            dns,
            webpki,
            port,
            addresses,
            network,
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

    /// Fetches and parses `domain`'s policy over each address of
    /// `mta-sts.<domain>`, concurrently, within `timeout`, and describes the
    /// certificates presented ([`FetchOutcome::from_addresses`]).
    pub async fn fetch(&self, domain: &str, timeout: Duration) -> FetchOutcome {
        let host = format!("mta-sts.{domain}");
        let deadline = tokio::time::Instant::now() + timeout;
        let lookup = self.dns.addresses_by_family(&host, &self.addresses);
        let addresses = match tokio::time::timeout_at(deadline, lookup).await {
            Ok(Ok(DnsAnswer::Records(ips))) if !ips.is_empty() => ips,
            Ok(Ok(_)) => return FetchOutcome::failed(PolicyFetchError::HostNotFound),
            Ok(Err(failure)) => return FetchOutcome::failed(PolicyFetchError::HostLookup(failure)),
            Err(_) => return FetchOutcome::failed(PolicyFetchError::Timeout),
        };
        let fetches = addresses
            .iter()
            .map(|address| self.fetch_over(domain, &host, *address, deadline));
        FetchOutcome::from_addresses(futures_util::future::join_all(fetches).await)
    }

    /// The fetch over one address, by `deadline`.
    async fn fetch_over(
        &self,
        domain: &str,
        host: &str,
        address: IpAddr,
        deadline: tokio::time::Instant,
    ) -> AddressFetch {
        if self.network.skips(&address) {
            let family = AddressFamily::of(&address).as_str();
            return AddressFetch {
                address,
                result: Err(PolicyFetchError::Local(LocalError::new(
                    LocalErrorKind::AddressFamilyUnsupported,
                    format!("this machine has no {family} route"),
                ))),
                cert: None,
            };
        }
        let verifier = Arc::new(RecordingVerifier::with_inner(self.webpki.clone()));
        let result = match self.client(host, address, verifier.clone()) {
            Ok(client) => {
                match tokio::time::timeout_at(deadline, self.fetch_inner(&client, domain)).await {
                    Ok(result) => result,
                    Err(_) => Err(PolicyFetchError::Timeout),
                }
            }
            Err(error) => Err(error),
        };
        let problem = match &result {
            Err(PolicyFetchError::Certificate(problem)) => Some(problem.clone()),
            _ => None,
        };
        let cert = verifier.take(host).and_then(|der| describe(&der, problem));
        let fetched = AddressFetch {
            address,
            result,
            cert,
        };
        if fetched.unrouted() {
            self.network.connection_unreachable(&address);
        }
        fetched
    }

    /// A client whose only address for `host` is `address`: no redirects, no
    /// proxy, no pooling, `verifier` checking the certificate for `host`.
    fn client(
        &self,
        host: &str,
        address: IpAddr,
        verifier: Arc<RecordingVerifier>,
    ) -> Result<reqwest::Client, PolicyFetchError> {
        let tls = client_config(verifier, crypto_provider())
            .map_err(|e| PolicyFetchError::Connect(e.to_string()))?;
        reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .pool_max_idle_per_host(0)
            .dns_resolver(Arc::new(ProbeResolver(self.dns.clone())))
            .resolve(host, SocketAddr::new(address, self.port))
            .user_agent(concat!("mtasts-exporter/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| PolicyFetchError::Connect(e.to_string()))
    }

    async fn fetch_inner(
        &self,
        client: &reqwest::Client,
        domain: &str,
    ) -> Result<FetchedPolicy, PolicyFetchError> {
        let mut response = client
            .get(self.policy_url(domain))
            .send()
            .await
            .map_err(|e| fetch_error(&e))?;
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
        while let Some(chunk) = response.chunk().await.map_err(|e| fetch_error(&e))? {
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
/// rustls certificate verdict, the exporter's own shortage (an `io::Error`
/// of a local kind, e.g. `EMFILE` from `socket()`), a timeout, or else a
/// connection/transfer failure with the chain's text as detail.
fn fetch_error(error: &reqwest::Error) -> PolicyFetchError {
    chain_error(error, error.is_timeout(), error.is_connect())
}

/// [`fetch_error`] over any error chain, with reqwest's own verdicts on it.
fn chain_error(
    error: &(dyn StdError + 'static),
    is_timeout: bool,
    is_connect: bool,
) -> PolicyFetchError {
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
        if let Some(local) = e.downcast_ref::<std::io::Error>().and_then(local_error) {
            return PolicyFetchError::Local(local);
        }
        messages.push(e.to_string());
        current = e.source();
    }
    if is_timeout {
        return PolicyFetchError::Timeout;
    }
    messages.dedup();
    let detail = messages.join(": ");
    if is_connect {
        PolicyFetchError::Connect(detail)
    } else {
        PolicyFetchError::Transfer(detail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::taxonomy::LocalErrorKind;

    /// hyper-util's connect error wraps the `io::Error` of `socket()`.
    #[derive(Debug, thiserror::Error)]
    #[error("client error (Connect)")]
    struct ConnectError(#[source] std::io::Error);

    #[test]
    fn a_socket_the_exporter_cannot_open_is_local() {
        let emfile = ConnectError(std::io::Error::from_raw_os_error(libc::EMFILE));
        let error = chain_error(&emfile, false, true);
        assert_eq!(
            error.local().map(|l| l.kind),
            Some(LocalErrorKind::DescriptorsExhausted),
            "{error:?}"
        );
    }

    #[test]
    fn a_refused_connection_is_still_cannot_fetch_policy() {
        let refused = ConnectError(std::io::Error::from_raw_os_error(libc::ECONNREFUSED));
        let error = chain_error(&refused, false, true);
        assert!(matches!(error, PolicyFetchError::Connect(_)), "{error:?}");
    }

    #[test]
    fn a_local_dns_failure_of_the_policy_host_is_local() {
        let failure = DnsFailure::Local {
            name: "mta-sts.example.com".into(),
            record_type: "A/AAAA",
            error: crate::taxonomy::LocalError::new(LocalErrorKind::DescriptorsExhausted, "x"),
        };
        let error = chain_error(&failure, false, true);
        assert!(
            matches!(error, PolicyFetchError::HostLookup(_)),
            "{error:?}"
        );
        assert!(error.local().is_some());
    }
}
