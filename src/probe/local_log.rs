//! The log line of local errors, rate-limited: when the exporter is short
//! of descriptors, every probe of every domain hits it, and a line per
//! probe floods the log (issue 17 saw ten a second). At most one line a
//! second per [`LocalErrorKind`], carrying the count of the lines
//! suppressed since the last one.

use crate::report::ProbeReport;
use crate::taxonomy::{LocalErrorKind, Phase};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A line per kind at most this often.
pub const LOG_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy)]
struct KindState {
    last: Option<Instant>,
    suppressed: u64,
}

/// A per-kind rate limiter for log lines.
#[derive(Debug)]
pub struct RateLimit {
    interval: Duration,
    kinds: Mutex<[KindState; 3]>,
}

impl RateLimit {
    /// A limiter allowing one line per kind per `interval`.
    pub const fn new(interval: Duration) -> RateLimit {
        RateLimit {
            interval,
            kinds: Mutex::new(
                [KindState {
                    last: None,
                    suppressed: 0,
                }; 3],
            ),
        }
    }

    /// Whether a line of `kind` may be written at `now`: `Some(n)` with the
    /// number of lines suppressed since the last one (then reset), `None`
    /// when this one is suppressed (and counted).
    pub fn admit(&self, kind: LocalErrorKind, now: Instant) -> Option<u64> {
        let index = LocalErrorKind::ALL.iter().position(|k| *k == kind)?;
        let mut kinds = self.kinds.lock().unwrap_or_else(|p| p.into_inner());
        let state = &mut kinds[index];
        let due = state
            .last
            .is_none_or(|last| now.saturating_duration_since(last) >= self.interval);
        if due {
            let suppressed = state.suppressed;
            *state = KindState {
                last: Some(now),
                suppressed: 0,
            };
            Some(suppressed)
        } else {
            state.suppressed += 1;
            None
        }
    }
}

/// The process's limiter: the log is the process's too.
static LOG_LIMIT: RateLimit = RateLimit::new(LOG_INTERVAL);

/// Whether a log line about a local error of `kind` may be written now, and
/// how many were suppressed before it (for any part of the exporter that
/// logs local errors, so they share one budget per kind).
pub fn admit(kind: LocalErrorKind) -> Option<u64> {
    LOG_LIMIT.admit(kind, Instant::now())
}

/// Logs the local errors of `report`, within the rate limit.
pub fn log_local_errors(report: &ProbeReport) {
    for timing in &report.phases {
        let Some(local) = &timing.local_error else {
            continue;
        };
        if let Some(suppressed) = admit(local.kind) {
            log_one(&report.domain, timing.phase, local, suppressed);
        }
    }
}

fn log_one(domain: &str, phase: Phase, local: &crate::taxonomy::LocalError, suppressed: u64) {
    tracing::warn!(
        domain = %domain,
        phase = phase.as_str(),
        kind = local.kind.as_str(),
        detail = %local.detail,
        suppressed_since_last = suppressed,
        "probe cut short: the exporter is short of {}; the domain keeps its previous results",
        local.kind.shortage()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_a_second_per_kind_with_the_count_of_the_rest() {
        let limit = RateLimit::new(Duration::from_secs(1));
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let fd = LocalErrorKind::DescriptorsExhausted;
        assert_eq!(limit.admit(fd, at(0)), Some(0));
        for ms in [100, 200, 300, 999] {
            assert_eq!(limit.admit(fd, at(ms)), None, "{ms}");
        }
        // Another kind has its own budget.
        let family = LocalErrorKind::AddressFamilyUnsupported;
        assert_eq!(limit.admit(family, at(500)), Some(0));
        assert_eq!(limit.admit(fd, at(1000)), Some(4));
        assert_eq!(limit.admit(fd, at(1500)), None);
        assert_eq!(limit.admit(fd, at(2500)), Some(1));
    }
}
