//! Recent STARTTLS checks of MX hosts, shared by every domain that names
//! the host (`smtp.share_checks_for`). A hosting provider's domains point
//! at the same few MX hosts: what a sender meets there (RFC 3207 §4, the
//! certificate of RFC 8461 §4.1) does not depend on which of those domains
//! it is delivering for, so one check answers for all of them for a while
//! instead of one connection per domain and round.
//!
//! The first probe to need a host starts its check in a task of its own,
//! bounded by `smtp.timeout` and not by that probe's deadline, so a probe
//! with little time left (a short per-domain `timeout`, a `/probe` with a
//! short scrape timeout) cannot cut the check short for everyone. Probes
//! that need the same host meanwhile wait for that check instead of
//! starting their own, each for as long as its own deadline allows, and
//! later ones are given its result until `share_for` has passed since it
//! started. At most [`MAX_SHARED_HOSTS`] hosts are kept; past that, a
//! host's check is not shared.

use super::outcome::{StarttlsCheck, StarttlsError};
use futures_util::future::{BoxFuture, FutureExt, Shared};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// Most MX hosts whose checks are kept at once. An entry is the host's
/// check: a few hundred bytes to a few kilobytes with the certificate's
/// description, more for the DANE checker's, which keeps each address's
/// certificate chain as presented (each bounded by rustls's limit on a
/// handshake message).
pub const MAX_SHARED_HOSTS: usize = 4096;

/// A host's check as every probe needing it awaits it: the check made in
/// a task, and how long it took.
pub type SharedCheck = Shared<BoxFuture<'static, (StarttlsCheck, Duration)>>;

/// One host's check and when it started.
struct Entry {
    started: Instant,
    check: SharedCheck,
}

/// The kept checks, and when the oldest of them expires (a full table is
/// swept no sooner).
struct Table {
    entries: HashMap<String, Entry>,
    sweep_after: Instant,
}

/// The shared checks of one checker.
pub struct SharedChecks {
    share_for: Duration,
    table: Mutex<Table>,
}

/// Whether a probe started the check it was given or joined another's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The check was started for this probe (also when sharing is off or
    /// the table is full).
    Checked,
    /// A check started for another probe within `share_for`.
    Shared,
}

impl SharedChecks {
    /// Shares each host's check for `share_for` after it started.
    pub fn new(share_for: Duration) -> SharedChecks {
        SharedChecks {
            share_for,
            table: Mutex::new(Table {
                entries: HashMap::new(),
                sweep_after: Instant::now(),
            }),
        }
    }

    /// The check of `host` (compared without case and trailing dot): a
    /// running or recent one, else the one `start` makes now, spawned on
    /// the runtime so that it runs to its own end whoever awaits it.
    /// `None` when the table is full of current checks: the caller checks
    /// the host itself.
    pub fn get_or_start<F, Fut>(&self, host: &str, start: F) -> Option<(SharedCheck, Source)>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = (StarttlsCheck, Duration)> + Send + 'static,
    {
        let key = host.trim_end_matches('.').to_ascii_lowercase();
        let now = Instant::now();
        let share_for = self.share_for;
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = table.entries.get(&key) {
            if now.duration_since(entry.started) < share_for {
                return Some((entry.check.clone(), Source::Shared));
            }
        }
        if table.entries.len() >= MAX_SHARED_HOSTS && !table.entries.contains_key(&key) {
            if now < table.sweep_after {
                return None;
            }
            table
                .entries
                .retain(|_, entry| now.duration_since(entry.started) < share_for);
            let oldest = table.entries.values().map(|entry| entry.started).min();
            table.sweep_after = oldest.map_or(now, |started| started + share_for);
            if table.entries.len() >= MAX_SHARED_HOSTS {
                return None;
            }
        }
        let task = tokio::spawn(start());
        let failed_host = key.clone();
        let check = async move {
            task.await.unwrap_or_else(|_| {
                // Only a runtime shutting down (or a bug) ends the task
                // without its result.
                let error = StarttlsError::Timeout("the shared check was stopped");
                (StarttlsCheck::failed(&failed_host, error), Duration::ZERO)
            })
        }
        .boxed()
        .shared();
        table.entries.insert(
            key,
            Entry {
                started: now,
                check: check.clone(),
            },
        );
        Some((check, Source::Checked))
    }

    /// How many hosts' checks are kept (current or expired, until replaced
    /// or swept when the table fills).
    #[cfg(test)]
    fn len(&self) -> usize {
        let table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        table.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// Starts (or joins) the check of `host`, one that takes `delay`,
    /// counting the checks made in `made`; `None` when not shared.
    fn start(
        shared: &SharedChecks,
        host: &str,
        made: &Arc<AtomicUsize>,
        delay: Duration,
    ) -> Option<(SharedCheck, Source)> {
        let made = made.clone();
        let name = host.to_string();
        shared.get_or_start(host, move || async move {
            made.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(delay).await;
            let check = StarttlsCheck::failed(&name, StarttlsError::NoAddress);
            (check, Duration::from_millis(40))
        })
    }

    /// [`start`], awaited.
    async fn checked(shared: &SharedChecks, host: &str, made: &Arc<AtomicUsize>) -> Source {
        let (check, source) = start(shared, host, made, Duration::ZERO).expect("shared");
        check.await;
        source
    }

    #[tokio::test(start_paused = true)]
    async fn probes_at_once_wait_for_one_check_and_get_its_time() {
        let shared = SharedChecks::new(Duration::from_secs(60));
        let made = Arc::new(AtomicUsize::new(0));
        let delay = Duration::from_millis(40);
        let (a, a_source) = start(&shared, "mx.example", &made, delay).unwrap();
        let (b, b_source) = start(&shared, "MX.Example.", &made, delay).unwrap();
        assert_eq!((a_source, b_source), (Source::Checked, Source::Shared));
        let (a, b) = tokio::join!(a, b);
        assert_eq!(made.load(Ordering::SeqCst), 1);
        assert_eq!(a.1, Duration::from_millis(40));
        assert_eq!(b.0.host, "mx.example");
        assert_eq!(shared.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_check_is_shared_until_share_for_has_passed_since_it_started() {
        let shared = SharedChecks::new(Duration::from_secs(60));
        let made = Arc::new(AtomicUsize::new(0));
        assert_eq!(checked(&shared, "mx.example", &made).await, Source::Checked);
        tokio::time::advance(Duration::from_secs(59)).await;
        assert_eq!(checked(&shared, "mx.example", &made).await, Source::Shared);
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(checked(&shared, "mx.example", &made).await, Source::Checked);
        assert_eq!(made.load(Ordering::SeqCst), 2);
        checked(&shared, "other.example", &made).await;
        assert_eq!(made.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_probe_that_gives_up_waiting_leaves_the_check_running_for_the_others() {
        let shared = SharedChecks::new(Duration::from_secs(60));
        let made = Arc::new(AtomicUsize::new(0));
        let (first, _) = start(&shared, "mx.example", &made, Duration::from_secs(10)).unwrap();
        assert!(tokio::time::timeout(Duration::from_millis(100), first)
            .await
            .is_err());
        let (second, source) =
            start(&shared, "mx.example", &made, Duration::from_secs(10)).unwrap();
        assert_eq!(source, Source::Shared);
        let (check, took) = second.await;
        assert_eq!(check.result.unwrap_err(), StarttlsError::NoAddress);
        assert_eq!(took, Duration::from_millis(40));
        assert_eq!(
            made.load(Ordering::SeqCst),
            1,
            "the check ran once, to its end"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_table_sweeps_expired_checks_and_else_checks_unshared() {
        let shared = SharedChecks::new(Duration::from_secs(60));
        let made = Arc::new(AtomicUsize::new(0));
        for i in 0..MAX_SHARED_HOSTS {
            checked(&shared, &format!("mx{i}.example"), &made).await;
        }
        assert!(start(&shared, "new.example", &made, Duration::ZERO).is_none());
        assert_eq!(shared.len(), MAX_SHARED_HOSTS);
        tokio::time::advance(Duration::from_secs(60)).await;
        assert_eq!(
            checked(&shared, "new.example", &made).await,
            Source::Checked
        );
        assert_eq!(shared.len(), 1, "the expired checks are swept");
        assert_eq!(checked(&shared, "new.example", &made).await, Source::Shared);
    }
}
