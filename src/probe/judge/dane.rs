//! Judges the DANE lookups (RFC 7672) with the chains the STARTTLS phase
//! saw: per MX host the DANE verdict, per domain the policy a sender
//! applies (RFC 8461 §2: DANE first; a domain whose MX hosts have secure
//! TLSA records is judged by DANE, whatever its MTA-STS policy says).

use super::Findings;
use crate::probe::dane::{DaneOutcome, HostDane, LookupStatus, TlsaOutcome};
use crate::report::{
    DaneDomainReport, DaneHostReport, DnssecStatus, EffectivePolicy, MxHostReport,
    TlsaLookupStatus, TlsaRecordReport, Warning,
};
use crate::rfc::rfc7672::{
    rollover_readiness, set_status, verify_chain, DaneReason, DaneVerdict, ReferenceIdentifiers,
    RolloverReadiness, Tlsa, TlsaSetStatus,
};
use crate::rfc::rfc8461::policy::Mode;
use crate::taxonomy::{Failure, Phase, Reason};
use std::collections::HashMap;
use std::time::Duration;

/// Characters of a record's presentation form shown (a `x 0 0` record
/// holds a whole certificate).
const MAX_RECORD_CHARS: usize = 200;

/// The chains each MX host presented, one per address checked (leaf
/// first, DER); an empty chain for an address where no certificate was
/// seen.
pub type HostChains = HashMap<String, Vec<Vec<Vec<u8>>>>;

/// What the judge needs beside the lookups.
pub(crate) struct DaneContext<'a> {
    /// The chains seen per host.
    pub chains: &'a HostChains,
    /// The MTA-STS mode senders apply (fresh or cached policy), if any.
    pub sts_mode: Option<Mode>,
    /// Whether the domain requires DANE (`dane: require`).
    pub required: bool,
    /// Now, Unix seconds (DANE-TA checks dates).
    pub now: u64,
}

/// Judges `outcome`, adding each host's report to `hosts`; returns the
/// domain's DANE report and whether DANE passes (no DANE failure).
pub(crate) fn judge(
    (outcome, time): (DaneOutcome, Duration),
    hosts: Option<&mut Vec<MxHostReport>>,
    context: &DaneContext<'_>,
    findings: &mut Findings,
) -> (DaneDomainReport, bool) {
    let failures_before = findings.failures.len();
    let mx_dnssec = match &outcome.mx {
        LookupStatus::Answer(status) => *status,
        LookupStatus::Bogus => DnssecStatus::Bogus,
        LookupStatus::Failed(_) => DnssecStatus::Indeterminate,
    };
    findings.timing(
        Phase::Dane,
        time,
        !matches!(outcome.mx, LookupStatus::Failed(_)),
    );
    let domain_failure = |findings: &mut Findings, reason: DaneReason, detail: String| {
        findings.failures.push(Failure::new(
            Phase::Dane,
            reason.result_type(),
            Reason::Dane(reason),
            detail,
        ));
    };
    match &outcome.mx {
        LookupStatus::Bogus => domain_failure(
            findings,
            DaneReason::DnssecBogus,
            "the MX records fail DNSSEC validation (bogus)".into(),
        ),
        LookupStatus::Answer(DnssecStatus::Insecure) if context.required => domain_failure(
            findings,
            DaneReason::MxInsecure,
            "the MX records are not DNSSEC-signed: DANE cannot apply (RFC 7672 §2.2.1)".into(),
        ),
        _ => {}
    }
    let mut any_dane = false;
    let mut any_temp_error = matches!(outcome.mx, LookupStatus::Bogus | LookupStatus::Failed(_));
    if let Some(hosts) = hosts {
        let mut by_host: HashMap<&str, &HostDane> = HashMap::new();
        for host in &outcome.hosts {
            by_host.insert(host.host.as_str(), host);
        }
        for report in hosts.iter_mut() {
            let Some(host) = by_host.get(report.host.as_str()) else {
                continue;
            };
            let chains = context
                .chains
                .get(&host.host)
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            let judged = judge_host(host, chains, context, findings);
            match judged.tlsa {
                TlsaLookupStatus::Secure => any_dane = true,
                TlsaLookupStatus::Bogus | TlsaLookupStatus::LookupFailed => any_temp_error = true,
                _ if judged.address_dnssec == DnssecStatus::Bogus => any_temp_error = true,
                _ => {}
            }
            report.dane = Some(judged);
        }
    }
    let effective_policy = if any_dane {
        EffectivePolicy::Dane
    } else if any_temp_error {
        EffectivePolicy::TempError
    } else if matches!(context.sts_mode, Some(Mode::Enforce | Mode::Testing)) {
        EffectivePolicy::Sts
    } else {
        EffectivePolicy::None
    };
    let pass = findings.failures.len() == failures_before;
    (
        DaneDomainReport {
            mx_dnssec,
            effective_policy,
            required: context.required,
        },
        pass,
    )
}

/// The domain's verdict as a sender that validates DNSSEC reaches it
/// (RFC 8461 §2): by DANE alone when DANE applies; never a pass while it
/// cannot tell (`temp-error`); else MTA-STS's verdict (`sts_success`),
/// failed by any DANE failure (`dane: require`, bogus answers).
pub(crate) fn verdict(report: &DaneDomainReport, dane_pass: bool, sts_success: bool) -> bool {
    match report.effective_policy {
        EffectivePolicy::Dane => dane_pass,
        EffectivePolicy::TempError => false,
        EffectivePolicy::Sts | EffectivePolicy::None => sts_success && dane_pass,
    }
}

/// The DANE verdict on one host.
fn judge_host(
    host: &HostDane,
    chains: &[Vec<Vec<u8>>],
    context: &DaneContext<'_>,
    findings: &mut Findings,
) -> DaneHostReport {
    let address_dnssec = match &host.addresses {
        LookupStatus::Answer(status) => *status,
        LookupStatus::Bogus => DnssecStatus::Bogus,
        LookupStatus::Failed(_) => DnssecStatus::Indeterminate,
    };
    let mut report = DaneHostReport {
        address_dnssec,
        tlsa_name: format!("_25._tcp.{}", host.base_domain),
        tlsa: TlsaLookupStatus::NotLookedUp,
        records: Vec::new(),
        matched_record: None,
        valid: None,
        reason: None,
        rollover_ready: None,
    };
    let mut fail = |report: &mut DaneHostReport, reason: DaneReason, detail: String| {
        report.reason = Some(reason);
        if !reason.only_when_required() {
            report.valid = Some(false);
        }
        findings.failures.push(Failure::new(
            Phase::Dane,
            reason.result_type(),
            Reason::Dane(reason),
            format!("{}: {detail}", host.host),
        ));
    };
    match &host.addresses {
        LookupStatus::Bogus => {
            fail(
                &mut report,
                DaneReason::DnssecBogus,
                "its address records fail DNSSEC validation (bogus)".into(),
            );
            return report;
        }
        LookupStatus::Failed(failure) => {
            fail(
                &mut report,
                DaneReason::TlsaLookupFailed,
                format!("the validated address lookup failed: {failure}"),
            );
            return report;
        }
        LookupStatus::Answer(_) => {}
    }
    report.tlsa = match &host.tlsa {
        TlsaOutcome::Records(_, DnssecStatus::Secure) => TlsaLookupStatus::Secure,
        TlsaOutcome::Records(..) => TlsaLookupStatus::Insecure,
        TlsaOutcome::Denial { secure: true } => TlsaLookupStatus::SecureDenial,
        TlsaOutcome::Denial { secure: false } => TlsaLookupStatus::Insecure,
        TlsaOutcome::Bogus => TlsaLookupStatus::Bogus,
        TlsaOutcome::Failed(_) => TlsaLookupStatus::LookupFailed,
        TlsaOutcome::NotLookedUp => TlsaLookupStatus::NotLookedUp,
    };
    if let TlsaOutcome::Records(records, _) = &host.tlsa {
        report.records = records.iter().map(record_report).collect();
    }
    let tlsa_name = report.tlsa_name.clone();
    match &host.tlsa {
        TlsaOutcome::Bogus => fail(
            &mut report,
            DaneReason::DnssecBogus,
            format!("{tlsa_name} fails DNSSEC validation (bogus)"),
        ),
        TlsaOutcome::Failed(failure) => fail(
            &mut report,
            DaneReason::TlsaLookupFailed,
            format!("{failure}: a DANE sender defers the mail"),
        ),
        TlsaOutcome::NotLookedUp | TlsaOutcome::Records(_, DnssecStatus::Insecure) => {
            if context.required {
                fail(
                    &mut report,
                    DaneReason::TlsaInsecure,
                    "its address or TLSA records are not DNSSEC-signed".into(),
                )
            }
        }
        TlsaOutcome::Denial { secure: false } | TlsaOutcome::Records(..) => {
            if context.required {
                fail(
                    &mut report,
                    DaneReason::TlsaInsecure,
                    "its TLSA records are not DNSSEC-signed".into(),
                )
            }
        }
        TlsaOutcome::Denial { secure: true } => {
            if context.required {
                fail(
                    &mut report,
                    DaneReason::NoTlsaRecords,
                    format!("no TLSA records at {tlsa_name} (signed denial)"),
                )
            }
        }
    }
    let TlsaOutcome::Records(records, DnssecStatus::Secure) = &host.tlsa else {
        return report;
    };
    if set_status(records) == TlsaSetStatus::TlsRequiredNotVerified {
        fail(
            &mut report,
            DaneReason::AllUnusableRecords,
            "TLSA records exist and none is usable: TLS is required but not verified".into(),
        );
        return report;
    }
    verify_addresses(host, records, chains, context, &mut report, &mut fail);
    if report.matched_record.is_some() {
        report.rollover_ready = match chains
            .first()
            .map(|chain| rollover_readiness(records, chain))
        {
            Some(RolloverReadiness::Ready(_)) => Some(true),
            Some(RolloverReadiness::NotReady) => {
                findings.warnings.push(Warning::TlsaRolloverNotReady);
                Some(false)
            }
            _ => None,
        };
    }
    report
}

/// Checks the chain of every address against the usable records: valid
/// when each matches (a sender may use any address).
fn verify_addresses(
    host: &HostDane,
    records: &[Tlsa],
    chains: &[Vec<Vec<u8>>],
    context: &DaneContext<'_>,
    report: &mut DaneHostReport,
    fail: &mut impl FnMut(&mut DaneHostReport, DaneReason, String),
) {
    let names = ReferenceIdentifiers::new(&host.base_domain, &host.host);
    let mut matched = None;
    for chain in chains {
        if chain.is_empty() {
            // No certificate seen over this address: the STARTTLS failure
            // says why; a DANE sender cannot deliver there either.
            report.valid = Some(false);
            continue;
        }
        match verify_chain(records, chain, &names, context.now) {
            DaneVerdict::Verified(found) => {
                matched.get_or_insert(found.record);
            }
            DaneVerdict::Failed(failure) => {
                fail(report, failure.reason(), failure.to_string());
                return;
            }
            DaneVerdict::NoRecords | DaneVerdict::TlsRequiredNotVerified => {}
        }
    }
    if let Some(index) = matched {
        report.matched_record = records.get(index).map(presentation);
        if report.valid.is_none() {
            report.valid = Some(true);
        }
    }
}

/// A record's presentation form, cut short.
fn presentation(record: &Tlsa) -> String {
    crate::echo::capped_at(&record.to_string(), MAX_RECORD_CHARS).into_owned()
}

fn record_report(record: &Tlsa) -> TlsaRecordReport {
    let usable = record.usable();
    TlsaRecordReport {
        record: presentation(record),
        usable: usable.is_ok(),
        unusable_because: usable.err().map(|e| e.to_string()),
    }
}
