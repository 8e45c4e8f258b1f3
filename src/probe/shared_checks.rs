//! Recent STARTTLS checks of MX hosts, shared by every domain that names
//! the host (`smtp.share_checks_for`). A hosting provider's domains point
//! at the same few MX hosts: what a sender meets there (RFC 3207 §4, the
//! certificate of RFC 8461 §4.1) does not depend on which of those domains
//! it is delivering for, so one check answers for all of them for a while
//! instead of one connection per domain and round.
//!
//! The first probe to need a host starts its check; probes that need the
//! same host meanwhile wait for that check instead of starting their own,
//! and later ones are given its result until `share_for` has passed since
//! it started. A probe that is cut off while checking leaves the check to
//! the next probe waiting for it. At most [`MAX_SHARED_HOSTS`] hosts are
//! kept; past that, a host's check is not shared.

use super::outcome::StarttlsCheck;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::OnceCell;
use tokio::time::Instant;

/// Most MX hosts whose checks are kept at once (a few hundred bytes to a
/// few kilobytes each, with the certificate's description).
pub const MAX_SHARED_HOSTS: usize = 4096;

/// One host's check: when it started, and its result once there is one.
struct Entry {
    started: Instant,
    check: OnceCell<(StarttlsCheck, Duration)>,
}

/// The shared checks of one checker.
pub struct SharedChecks {
    share_for: Duration,
    entries: Mutex<HashMap<String, Arc<Entry>>>,
}

/// Whether a check was made for the caller or given from another's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The caller's own check (also when sharing is off or full).
    Checked,
    /// A check started by another probe within `share_for`.
    Shared,
}

impl SharedChecks {
    /// Shares each host's check for `share_for` after it started.
    pub fn new(share_for: Duration) -> SharedChecks {
        SharedChecks {
            share_for,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The check of `host` (compared without case and trailing dot):
    /// a running or recent one, else the one `check` makes now. The check
    /// comes with how long it took, not how long the caller waited; its
    /// `host` is the caller's spelling.
    pub async fn get_or_check<F, Fut>(
        &self,
        host: &str,
        check: F,
    ) -> (StarttlsCheck, Duration, Source)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = (StarttlsCheck, Duration)>,
    {
        let Some(entry) = self.entry(host) else {
            let (check, took) = check().await;
            return (check, took, Source::Checked);
        };
        let mut own = false;
        let (shared, took) = entry
            .check
            .get_or_init(|| {
                own = true;
                check()
            })
            .await
            .clone();
        let source = if own { Source::Checked } else { Source::Shared };
        let mut shared = shared;
        shared.host = host.to_string();
        (shared, took, source)
    }

    /// The entry for `host`: the current one, or a new one in place of an
    /// expired one; `None` when the table is full of current entries.
    fn entry(&self, host: &str) -> Option<Arc<Entry>> {
        let key = host.trim_end_matches('.').to_ascii_lowercase();
        let now = Instant::now();
        let current = |entry: &Entry| now.duration_since(entry.started) < self.share_for;
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = entries.get(&key) {
            if current(entry) {
                return Some(entry.clone());
            }
        }
        if entries.len() >= MAX_SHARED_HOSTS && !entries.contains_key(&key) {
            entries.retain(|_, entry| current(entry));
            if entries.len() >= MAX_SHARED_HOSTS {
                return None;
            }
        }
        let entry = Arc::new(Entry {
            started: now,
            check: OnceCell::new(),
        });
        entries.insert(key, entry.clone());
        Some(entry)
    }

    /// How many hosts' checks are kept (current or expired, until replaced
    /// or swept when the table fills).
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether no check is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::outcome::StarttlsError;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn failed(host: &str) -> StarttlsCheck {
        StarttlsCheck::failed(host, StarttlsError::NoAddress)
    }

    async fn counted(
        shared: &SharedChecks,
        host: &str,
        made: &AtomicUsize,
        delay: Duration,
    ) -> (StarttlsCheck, Duration, Source) {
        shared
            .get_or_check(host, || async {
                made.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(delay).await;
                (failed(host), Duration::from_millis(40))
            })
            .await
    }

    #[tokio::test(start_paused = true)]
    async fn probes_at_once_wait_for_one_check_and_get_its_time_and_their_spelling() {
        let shared = SharedChecks::new(Duration::from_secs(60));
        let made = AtomicUsize::new(0);
        let delay = Duration::from_millis(40);
        let (a, b, c) = tokio::join!(
            counted(&shared, "mx.example", &made, delay),
            counted(&shared, "MX.Example.", &made, delay),
            counted(&shared, "mx.example", &made, delay),
        );
        assert_eq!(made.load(Ordering::SeqCst), 1);
        assert_eq!(a.2, Source::Checked);
        assert_eq!((b.2, c.2), (Source::Shared, Source::Shared));
        assert_eq!(b.0.host, "MX.Example.");
        assert_eq!(b.1, Duration::from_millis(40));
        assert_eq!(shared.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_check_is_shared_until_share_for_has_passed_since_it_started() {
        let shared = SharedChecks::new(Duration::from_secs(60));
        let made = AtomicUsize::new(0);
        counted(&shared, "mx.example", &made, Duration::ZERO).await;
        tokio::time::advance(Duration::from_secs(59)).await;
        assert_eq!(
            counted(&shared, "mx.example", &made, Duration::ZERO)
                .await
                .2,
            Source::Shared
        );
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(
            counted(&shared, "mx.example", &made, Duration::ZERO)
                .await
                .2,
            Source::Checked
        );
        assert_eq!(made.load(Ordering::SeqCst), 2);
        counted(&shared, "other.example", &made, Duration::ZERO).await;
        assert_eq!(made.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_check_cut_off_is_made_by_the_next_probe_waiting() {
        let shared = SharedChecks::new(Duration::from_secs(60));
        let made = AtomicUsize::new(0);
        let slow = counted(&shared, "mx.example", &made, Duration::from_secs(10));
        assert!(tokio::time::timeout(Duration::from_secs(1), slow)
            .await
            .is_err());
        let (_, _, source) = counted(&shared, "mx.example", &made, Duration::ZERO).await;
        assert_eq!(source, Source::Checked);
        assert_eq!(made.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_table_sweeps_expired_checks_and_else_checks_unshared() {
        let shared = SharedChecks::new(Duration::from_secs(60));
        let made = AtomicUsize::new(0);
        for i in 0..MAX_SHARED_HOSTS {
            counted(&shared, &format!("mx{i}.example"), &made, Duration::ZERO).await;
        }
        let (_, _, source) = counted(&shared, "new.example", &made, Duration::ZERO).await;
        assert_eq!(source, Source::Checked);
        assert_eq!(shared.len(), MAX_SHARED_HOSTS);
        assert_eq!(
            counted(&shared, "new.example", &made, Duration::ZERO)
                .await
                .2,
            Source::Checked,
            "not kept while the table is full of current checks"
        );
        tokio::time::advance(Duration::from_secs(60)).await;
        counted(&shared, "new.example", &made, Duration::ZERO).await;
        assert_eq!(shared.len(), 1, "the expired checks are swept");
        assert_eq!(
            counted(&shared, "new.example", &made, Duration::ZERO)
                .await
                .2,
            Source::Shared
        );
    }
}
