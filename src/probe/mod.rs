//! The network phases of a probe, one module each. They return data and
//! typed errors; they never touch metrics. [`Prober::probe`] runs them for one
//! domain and assembles the [`ProbeReport`].

pub mod cert;
pub mod dns;
pub mod mx_lookup;
pub mod policy_fetch;
pub mod record_lookup;
pub mod starttls;
pub mod tlsrpt_lookup;

use crate::config::{Config, DomainConfig};
use crate::failure::{Classify, Failure, Phase, Reason, ResultType};
use crate::mtasts::policy::Mode;
use crate::mtasts::MxCoverage;
use crate::report::{
    MxHostReport, PhaseTiming, PolicyReport, ProbeReport, RecordReport, Warning,
    MAX_AGE_SHORT_ENFORCE_SECONDS, MAX_AGE_SHORT_SECONDS, POLICY_LARGE_BYTES,
};
use dns::{Dns, DnsFailure};
use mx_lookup::MxSet;
use policy_fetch::{FetchOutcome, PolicyFetcher};
use record_lookup::{RecordLookup, RecordLookupError};
use starttls::{SmtpSettings, StarttlsCheck, StarttlsChecker};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tlsrpt_lookup::TlsRptStatus;
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
}

/// Runs probes: one resolver, one HTTPS client and one STARTTLS checker
/// shared by all domains.
#[derive(Clone)]
pub struct Prober {
    dns: Dns,
    fetcher: PolicyFetcher,
    starttls: StarttlsChecker,
    /// Bounds MX connections across all probes (separate from the probe
    /// bound, so a probe holding its permit never waits on its own kind).
    connection_permits: Arc<Semaphore>,
    max_mx_hosts: usize,
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
    /// Builds the resolver, HTTPS client and STARTTLS checker from the config.
    pub fn new(config: &Config) -> Result<Prober, SetupError> {
        let dns = Dns::new(&config.resolver)?;
        let extra_roots = match &config.ca_file {
            Some(path) => policy_fetch::load_ca_file(path)?,
            None => Vec::new(),
        };
        let roots = Arc::new(policy_fetch::root_store(&extra_roots)?);
        let fetcher = PolicyFetcher::new(dns.clone(), roots.clone(), config.ports.https)?;
        let provider = policy_fetch::crypto_provider();
        let verifier = cert::webpki_verifier(roots, provider.clone())?;
        let starttls = StarttlsChecker::new(
            dns.clone(),
            verifier,
            provider,
            SmtpSettings {
                helo_name: config.smtp.helo_name.clone(),
                timeout: config.smtp.timeout,
                port: config.ports.smtp,
            },
        );
        Ok(Prober {
            dns,
            fetcher,
            starttls,
            connection_permits: Arc::new(Semaphore::new(config.concurrency.max(1))),
            max_mx_hosts: config.max_mx_hosts,
        })
    }

    /// Probes one domain: the record and policy chain, the MX lookup (then
    /// STARTTLS on each MX host) and the TLSRPT lookup run concurrently, all
    /// bounded by the domain's timeout.
    pub async fn probe(&self, domain: &DomainConfig) -> ProbeReport {
        let started = Instant::now();
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        let deadline = tokio::time::Instant::now() + domain.settings.timeout;
        let name = domain.name.as_str();

        let record_and_policy = async {
            let (record, record_time) = timed(deadline, async {
                tokio::join!(
                    record_lookup::lookup_record(&self.dns, name),
                    record_lookup::sts_record_at_apex(&self.dns, name)
                )
            })
            .await;
            let (record, at_apex) = match record {
                Some((record, at_apex)) => (record, at_apex),
                None => (
                    Err(RecordLookupError::Dns(timeout_failure(name, "TXT"))),
                    false,
                ),
            };
            let policy = match &record {
                Ok(_) => {
                    let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
                    let start = Instant::now();
                    let outcome = self.fetcher.fetch(name, remaining).await;
                    Some((outcome, start.elapsed()))
                }
                Err(_) => None,
            };
            (record, record_time, at_apex, policy)
        };
        let mx = async {
            if !domain.settings.check_mx {
                return (None, Vec::new());
            }
            let (mx, time) = timed(deadline, mx_lookup::lookup_mx(&self.dns, name)).await;
            let mx = mx.unwrap_or_else(|| Err(timeout_failure(name, "MX")));
            let checks = match (&mx, domain.settings.check_starttls) {
                (Ok(set), true) => self.check_mx_hosts(set, deadline).await,
                _ => Vec::new(),
            };
            (Some((mx, time)), checks)
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
        let ((record, record_time, at_apex, policy), (mx, starttls), tlsrpt) =
            tokio::join!(record_and_policy, mx, tlsrpt);

        let mut report = assemble(
            name,
            Outcomes {
                record,
                record_time,
                at_apex,
                policy,
                mx,
                starttls,
                tlsrpt,
            },
        );
        report.timestamp = timestamp;
        report.duration_seconds = started.elapsed().as_secs_f64();
        report
    }

    /// Checks STARTTLS on the first `max_mx_hosts` MX hosts concurrently.
    async fn check_mx_hosts(
        &self,
        set: &MxSet,
        deadline: tokio::time::Instant,
    ) -> Vec<(StarttlsCheck, Duration)> {
        let checks = set
            .hosts
            .iter()
            .take(self.max_mx_hosts)
            .map(|record| async move {
                let _permit = self.connection_permits.acquire().await;
                let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
                let start = Instant::now();
                let check = self.starttls.check(&record.host, remaining).await;
                (check, start.elapsed())
            });
        futures_util::future::join_all(checks).await
    }
}
fn timeout_failure(name: &str, record_type: &'static str) -> DnsFailure {
    DnsFailure::Timeout {
        name: name.to_string(),
        record_type,
    }
}

/// What the phases returned, before they are judged.
pub struct Outcomes {
    /// The record lookup.
    pub record: Result<RecordLookup, RecordLookupError>,
    /// Its duration.
    pub record_time: Duration,
    /// Whether an STS record sits at the apex too.
    pub at_apex: bool,
    /// The policy fetch and its duration; `None` when it did not run.
    pub policy: Option<(FetchOutcome, Duration)>,
    /// The MX lookup and its duration; `None` when MX checking is off.
    pub mx: Option<(Result<MxSet, DnsFailure>, Duration)>,
    /// The STARTTLS check of each MX host checked, in MX order.
    pub starttls: Vec<(StarttlsCheck, Duration)>,
    /// The TLSRPT lookup and its duration.
    pub tlsrpt: (Result<TlsRptStatus, DnsFailure>, Duration),
}

/// Judges what the phases found: failures, warnings, the verdict (see
/// `failure-taxonomy.md`, "How the verdict of a domain is formed").
pub fn assemble(domain: &str, outcomes: Outcomes) -> ProbeReport {
    let mut failures: Vec<Failure> = Vec::new();
    let mut warnings: Vec<Warning> = Vec::new();
    let mut phases = Vec::new();

    phases.push(PhaseTiming {
        phase: Phase::RecordLookup,
        duration_seconds: outcomes.record_time.as_secs_f64(),
        ok: outcomes.record.is_ok(),
    });
    if outcomes.at_apex {
        warnings.push(Warning::StsRecordAtApex);
    }
    let record = match outcomes.record {
        Ok(lookup) => {
            if lookup.other_txt_count > 0 {
                warnings.push(Warning::NonStsTxtAtMtaSts);
            }
            Some(RecordReport {
                id: lookup.record.id,
                txt: lookup.txt,
            })
        }
        Err(error) => {
            failures.push(error.to_failure(Phase::RecordLookup));
            None
        }
    };

    let mut fetched = None;
    let mut policy_cert = None;
    if let Some((outcome, time)) = outcomes.policy {
        phases.push(PhaseTiming {
            phase: Phase::PolicyFetch,
            duration_seconds: time.as_secs_f64(),
            ok: outcome.result.is_ok(),
        });
        policy_cert = outcome.cert;
        match outcome.result {
            Ok(policy) => fetched = Some(policy),
            Err(error) => failures.push(error.to_failure(Phase::PolicyFetch)),
        }
    }
    if let Some(f) = &fetched {
        let media_type = f
            .content_type
            .as_deref()
            .and_then(|ct| ct.split(';').next())
            .map(|t| t.trim().to_ascii_lowercase());
        if media_type.as_deref() != Some("text/plain") {
            warnings.push(Warning::ContentTypeNotTextPlain);
        }
        let short = if f.policy.mode == Mode::Enforce {
            MAX_AGE_SHORT_ENFORCE_SECONDS
        } else {
            MAX_AGE_SHORT_SECONDS
        };
        if f.policy.max_age < short {
            warnings.push(Warning::MaxAgeShort);
        }
        if f.text.len() > POLICY_LARGE_BYTES {
            warnings.push(Warning::PolicyLarge);
        }
    }

    let mut mx_source = None;
    let mut mx_hosts = None;
    let mut unused_patterns = Vec::new();
    let mut mx_ok = true;
    if let Some((result, time)) = outcomes.mx {
        phases.push(PhaseTiming {
            phase: Phase::MxLookup,
            duration_seconds: time.as_secs_f64(),
            ok: result.is_ok(),
        });
        match result {
            Ok(set) => {
                mx_source = Some(set.source);
                let names: Vec<String> = set.hosts.iter().map(|r| r.host.clone()).collect();
                let coverage = fetched
                    .as_ref()
                    .map(|f| MxCoverage::compare(&names, &f.policy.mx));
                let hosts = set
                    .hosts
                    .iter()
                    .enumerate()
                    .map(|(i, r)| MxHostReport {
                        host: r.host.clone(),
                        preference: r.preference,
                        matches_policy: coverage.as_ref().map(|c| c.hosts[i].1),
                        starttls: None,
                        tls_version: None,
                        cert: None,
                        result_type: None,
                        reason: None,
                    })
                    .collect::<Vec<_>>();
                if let (Some(coverage), Some(f)) = (&coverage, &fetched) {
                    unused_patterns = coverage
                        .unused_patterns
                        .iter()
                        .map(|p| p.to_string())
                        .collect();
                    if !unused_patterns.is_empty() {
                        warnings.push(Warning::PolicyPatternUnused);
                    }
                    // RFC 8461 §4.1 / §5: in enforce mode senders refuse an MX
                    // the policy does not list; testing mode reports it. In
                    // mode none nothing is applied: shown, not failed.
                    if f.policy.mode != Mode::None {
                        for host in coverage.uncovered() {
                            mx_ok = false;
                            failures.push(Failure::new(
                                Phase::MxLookup,
                                ResultType::ValidationFailure,
                                Reason::MtastsPolicyMxMismatch,
                                format!("MX host {host} is not covered by any policy mx pattern"),
                            ));
                        }
                    }
                }
                mx_hosts = Some(hosts);
            }
            Err(error) => {
                mx_ok = false;
                failures.push(error.to_failure(Phase::MxLookup));
            }
        }
    }

    // STARTTLS: every checked host is reported, whatever the mode; only in
    // mode enforce or testing does a failure fail the domain (senders apply
    // nothing in mode none). Hosts the policy does not cover already fail
    // the domain as mtasts-policy-mx-mismatch.
    let applies = fetched
        .as_ref()
        .is_some_and(|f| f.policy.mode != Mode::None);
    for (check, time) in outcomes.starttls {
        phases.push(PhaseTiming {
            phase: Phase::Starttls,
            duration_seconds: time.as_secs_f64(),
            ok: check.result.is_ok(),
        });
        let host = mx_hosts
            .as_mut()
            .and_then(|hosts| hosts.iter_mut().find(|h| h.host == check.host));
        let failure = check.result.as_ref().err().map(|error| {
            let (result_type, reason) = error.classify();
            Failure::new(
                Phase::Starttls,
                result_type,
                reason,
                format!("{}: {error}", check.host),
            )
        });
        if let Some(host) = host {
            host.starttls = check.offered;
            host.tls_version = check
                .result
                .as_ref()
                .ok()
                .map(|s| s.tls_version.to_string());
            host.cert = check.cert;
            host.result_type = failure.as_ref().map(|f| f.result_type);
            host.reason = failure.as_ref().map(|f| f.reason);
        }
        if let Some(failure) = failure {
            if applies {
                mx_ok = false;
            }
            failures.push(failure);
        }
    }

    let (tlsrpt_result, tlsrpt_time) = outcomes.tlsrpt;
    phases.push(PhaseTiming {
        phase: Phase::TlsrptLookup,
        duration_seconds: tlsrpt_time.as_secs_f64(),
        ok: tlsrpt_result.is_ok(),
    });
    let tlsrpt = tlsrpt_result.ok();
    if let Some(status) = &tlsrpt {
        if !status.present {
            warnings.push(Warning::TlsrptRecordMissing);
        } else if !status.valid {
            warnings.push(Warning::TlsrptRecordInvalid);
        }
    }

    let policy_mode = fetched.as_ref().map(|f| f.policy.mode);
    let success =
        record.is_some() && fetched.is_some() && (policy_mode == Some(Mode::None) || mx_ok);
    let policy = fetched.map(|f| PolicyReport {
        mode: f.policy.mode,
        max_age: f.policy.max_age,
        mx: f.policy.mx.iter().map(|p| p.to_string()).collect(),
        text: f.text,
        content_type: f.content_type,
    });
    warnings.sort();
    warnings.dedup();
    ProbeReport {
        domain: domain.to_string(),
        success,
        timestamp: 0.0,
        duration_seconds: 0.0,
        record,
        policy,
        policy_cert,
        mx_source,
        mx_hosts,
        unused_patterns,
        tlsrpt,
        warnings,
        failures,
        phases,
    }
}
