//! Probing one domain. The network phases, one module each, return plain
//! data and typed errors ([`outcome`]); they never touch metrics.
//! [`Prober::probe`] runs them concurrently for one domain and hands what
//! they found to [`judge`], which is pure; [`classify`] is the one place
//! their errors become RFC 8460 result types and reason codes.

pub mod cert;
pub mod classify;
pub mod dane;
pub mod dns;
pub mod dnssec;
pub mod dnssec_transport;
pub mod judge;
pub mod local_log;
pub mod local_net;
pub mod mx_lookup;
pub mod name_servers;
pub mod outcome;
pub mod policy_fetch;
pub mod record_lookup;
pub mod shared_checks;
pub mod starttls;
pub mod tlsrpt_lookup;

use crate::config::{Config, DomainConfig};
use crate::report::{CachedPolicy, CertThresholds, ProbeReport};
use crate::rfc::rfc5321::MxSet;
use crate::tls;
use dns::Dns;
use judge::ProbeClock;
use local_net::LocalNetwork;
use outcome::{DnsFailure, Outcomes, RecordLookupError, StarttlsCheck};
use policy_fetch::PolicyFetcher;
use starttls::{SmtpSettings, StarttlsChecker};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::Semaphore;

/// Why the prober could not be built from a valid config.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// DNS resolver set-up.
    #[error(transparent)]
    Dns(#[from] dns::DnsSetupError),
    /// HTTPS client set-up.
    #[error(transparent)]
    Fetcher(#[from] policy_fetch::FetcherSetupError),
    /// Certificate verifier set-up.
    #[error(transparent)]
    Verifier(#[from] cert::VerifierError),
    /// Trust store set-up (`tls.ca_file`).
    #[error(transparent)]
    TrustStore(#[from] tls::TrustStoreError),
    /// The validating resolver for DANE (`resolver.trust_anchor_file`).
    #[error(transparent)]
    Dnssec(#[from] dnssec::DnssecSetupError),
}

/// Runs probes: one resolver, one HTTPS client and one STARTTLS checker
/// shared by all domains.
#[derive(Clone)]
pub struct Prober {
    dns: Dns,
    fetcher: PolicyFetcher,
    /// Checks MX hosts; it holds the bound on MX connections across all
    /// probes (separate from the probe bound, so a probe holding its permit
    /// never waits on its own kind), one per address.
    starttls: StarttlsChecker,
    /// The same, keeping each address's chain for the DANE check.
    starttls_dane: StarttlsChecker,
    /// The DNSSEC-validating resolver of the DANE lookups (RFC 7672 §2.1).
    dnssec: dnssec::ValidatingDns,
    /// The address families this machine can reach.
    network: LocalNetwork,
    max_mx_hosts: usize,
    cert_thresholds: CertThresholds,
}

/// Runs `future` until `deadline`, timing it.
async fn timed<T>(
    deadline: tokio::time::Instant,
    future: impl Future<Output = T>,
) -> (Option<T>, Duration) {
    let start = Instant::now();
    let result = tokio::time::timeout_at(deadline, future).await.ok();
    (result, start.elapsed())
}

impl Prober {
    /// Builds the resolver, HTTPS client and STARTTLS checker from the
    /// config, with the address families this machine can reach detected
    /// now ([`LocalNetwork::detect`]).
    pub fn new(config: &Config) -> Result<Prober, SetupError> {
        let network = LocalNetwork::detect();
        for family in network.unrouted() {
            tracing::warn!(
                family = family.as_str(),
                reason = family.no_route_reason().as_str().as_ref(),
                "this machine has no route for the address family: addresses of it that cannot be reached are not checked and fail no domain"
            );
        }
        Prober::with_network(config, network)
    }

    /// [`Prober::new`] with the view of the machine's address families
    /// given (tests: [`LocalNetwork::assume`]).
    pub fn with_network(config: &Config, network: LocalNetwork) -> Result<Prober, SetupError> {
        let dns = Dns::new(&config.resolver)?;
        let extra_roots = match &config.ca_file {
            Some(path) => tls::load_ca_file(path)?,
            None => Vec::new(),
        };
        let roots = Arc::new(tls::root_store(&extra_roots)?);
        let fetcher = PolicyFetcher::new(
            dns.clone(),
            roots.clone(),
            config.ports.https,
            config.addresses,
            network.clone(),
        )?;
        let provider = tls::crypto_provider();
        let verifier = cert::webpki_verifier(roots, provider.clone())?;
        let connection_permits = Arc::new(Semaphore::new(config.concurrency.max(1)));
        let starttls = StarttlsChecker::new(
            dns.clone(),
            verifier,
            provider,
            SmtpSettings {
                helo_name: config.smtp.helo_name.clone(),
                timeout: config.smtp.timeout,
                port: config.ports.smtp,
                addresses: config.addresses,
                share_checks_for: config.smtp.share_checks_for,
            },
            connection_permits,
            network.clone(),
        );
        let dnssec = dnssec::ValidatingDns::new(&config.resolver)?;
        Ok(Prober {
            dns,
            fetcher,
            starttls_dane: starttls.keeping_chains(),
            dnssec,
            starttls,
            network,
            max_mx_hosts: config.max_mx_hosts,
            cert_thresholds: config.certificates,
        })
    }

    /// The address families this machine can reach, as last detected.
    pub fn local_network(&self) -> &LocalNetwork {
        &self.network
    }

    /// The DANE resolver's queries answered from its cache and those sent
    /// to the name servers since start ([`dnssec::ValidatingDns::cache_counts`]).
    pub fn dnssec_cache_counts(&self) -> (u64, u64) {
        self.dnssec.cache_counts()
    }

    /// Probes one domain: the record lookup, the policy fetch, the MX
    /// lookup (then STARTTLS on each MX host) and the TLSRPT lookup run
    /// concurrently, all bounded by the domain's timeout. A probe without
    /// policy history: the MX hosts are judged against the fresh policy or
    /// none ([`Prober::probe_with_cache`]).
    pub async fn probe(&self, domain: &DomainConfig) -> ProbeReport {
        self.probe_with_cache(domain, None).await
    }

    /// [`Prober::probe`] for a domain whose last valid policy, from its
    /// history, is `cached`: without a fresh policy the MX hosts are judged
    /// against it until it expires (RFC 8461 §3.3, §5.1).
    pub async fn probe_with_cache(
        &self,
        domain: &DomainConfig,
        cached: Option<CachedPolicy>,
    ) -> ProbeReport {
        let started = Instant::now();
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        let deadline = tokio::time::Instant::now() + domain.settings.timeout;
        let name = domain.name.as_str();

        // The policy is fetched even when the record lookup fails: senders
        // holding a cached copy refetch as soon as a record with a new id
        // appears, and the operator needs to know what they would get. It
        // runs beside the record lookup, so a record lookup that hangs does
        // not eat the fetch's time.
        let fetch = async {
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            let start = Instant::now();
            let outcome = self.fetcher.fetch(name, remaining).await;
            (outcome, start.elapsed())
        };
        let record_and_policy = async {
            let ((record, record_time), policy) = tokio::join!(
                timed(deadline, async {
                    tokio::join!(
                        record_lookup::lookup_record(&self.dns, name),
                        record_lookup::sts_record_at_apex(&self.dns, name)
                    )
                }),
                fetch
            );
            let (record, at_apex) = match record {
                Some((record, at_apex)) => (record, at_apex),
                None => (
                    Err(RecordLookupError::Dns(timeout_failure(name, "TXT"))),
                    false,
                ),
            };
            (record, record_time, at_apex, Some(policy))
        };
        let dane_on = domain.settings.dane.checked();
        let mx = async {
            if !domain.settings.check_mx {
                return (None, Vec::new(), None);
            }
            let (mx, time) = timed(deadline, mx_lookup::lookup_mx(&self.dns, name)).await;
            let mx = mx.unwrap_or_else(|| Err(timeout_failure(name, "MX")));
            let starttls = async {
                match (&mx, domain.settings.check_starttls) {
                    (Ok(set), true) => self.check_mx_hosts(set, deadline, dane_on).await,
                    _ => Vec::new(),
                }
            };
            // The DANE lookups run beside the STARTTLS checks (RFC 7672
            // §2.2); a deadline cuts them to "lookup failed".
            let dane = async {
                match (&mx, dane_on) {
                    (Ok(set), true) => {
                        let lookups = dane::lookup(&self.dnssec, name, set, self.max_mx_hosts);
                        let (outcome, time) = timed(deadline, lookups).await;
                        Some((outcome.unwrap_or_else(|| dane_timeout(name)), time))
                    }
                    _ => None,
                }
            };
            let (checks, dane) = tokio::join!(starttls, dane);
            (Some((mx, time)), checks, dane)
        };
        let tlsrpt = async {
            let (status, time) =
                timed(deadline, tlsrpt_lookup::lookup_tlsrpt(&self.dns, name)).await;
            (
                status
                    .unwrap_or_else(|| Err(timeout_failure(&format!("_smtp._tls.{name}"), "TXT"))),
                time,
            )
        };
        let ((record, record_time, at_apex, policy), (mx, starttls, dane), tlsrpt) =
            tokio::join!(record_and_policy, mx, tlsrpt);

        let outcomes = Outcomes {
            record,
            record_time,
            at_apex,
            policy,
            mx,
            starttls,
            tlsrpt,
            dane,
            dane_required: domain.settings.dane == crate::config::DaneMode::Require,
        };
        let clock = ProbeClock {
            started_at: timestamp,
            duration: started.elapsed(),
        };
        let report = judge::judge_with_cache(
            name,
            clock,
            &self.cert_thresholds,
            outcomes,
            cached.as_ref(),
        );
        local_log::log_local_errors(&report);
        report
    }

    /// Checks STARTTLS on the first `max_mx_hosts` MX hosts concurrently.
    async fn check_mx_hosts(
        &self,
        set: &MxSet,
        deadline: tokio::time::Instant,
        keep_chains: bool,
    ) -> Vec<(StarttlsCheck, Duration)> {
        let checker = if keep_chains {
            &self.starttls_dane
        } else {
            &self.starttls
        };
        let checks = set
            .hosts
            .iter()
            .take(self.max_mx_hosts)
            .map(|record| async move {
                let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
                checker.check_shared(&record.host, remaining).await
            });
        futures_util::future::join_all(checks).await
    }
}

/// DANE lookups cut off by the probe's deadline: the MX lookup counts as
/// failed (a DANE sender would defer).
fn dane_timeout(name: &str) -> dane::DaneOutcome {
    dane::DaneOutcome {
        mx: dane::LookupStatus::Failed(timeout_failure(name, "MX")),
        hosts: Vec::new(),
    }
}

/// The failure of a DNS query cut off by the probe's deadline.
fn timeout_failure(name: &str, record_type: &'static str) -> DnsFailure {
    DnsFailure::Timeout {
        name: name.to_string(),
        record_type,
    }
}
