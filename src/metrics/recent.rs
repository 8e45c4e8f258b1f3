//! How many probes local errors cut short in the last minutes, for the
//! status page's warning: a ring of per-minute counts, so the memory it
//! takes is fixed whatever the number of probes.

use crate::taxonomy::LocalErrorKind;
use std::time::{Duration, Instant};

/// Minutes the ring covers: the window the status page looks back on.
pub const WINDOW_MINUTES: u64 = 10;

/// Per-minute counts of probes cut short, by kind, over the last
/// [`WINDOW_MINUTES`] minutes.
#[derive(Debug)]
pub struct RecentLocalErrors {
    origin: Instant,
    /// (minute since `origin`, count per kind in [`LocalErrorKind::ALL`]
    /// order), at index minute % [`WINDOW_MINUTES`].
    minutes: [(u64, [u64; 3]); WINDOW_MINUTES as usize],
}

impl RecentLocalErrors {
    /// An empty ring starting at `origin`.
    pub fn new(origin: Instant) -> RecentLocalErrors {
        RecentLocalErrors {
            origin,
            minutes: [(u64::MAX, [0; 3]); WINDOW_MINUTES as usize],
        }
    }

    fn minute(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.origin).as_secs() / 60
    }

    /// Counts one probe cut short by `kind` at `now`.
    pub fn note(&mut self, kind: LocalErrorKind, now: Instant) {
        let minute = self.minute(now);
        let slot = &mut self.minutes[(minute % WINDOW_MINUTES) as usize];
        if slot.0 != minute {
            *slot = (minute, [0; 3]);
        }
        if let Some(i) = LocalErrorKind::ALL.iter().position(|k| *k == kind) {
            slot.1[i] += 1;
        }
    }

    /// The kinds with probes cut short in the last [`WINDOW_MINUTES`]
    /// minutes before `now`, and how many.
    pub fn counts(&self, now: Instant) -> Vec<(LocalErrorKind, u64)> {
        let current = self.minute(now);
        let mut totals = [0u64; 3];
        for (minute, counts) in &self.minutes {
            if *minute <= current && current - minute < WINDOW_MINUTES {
                for (total, count) in totals.iter_mut().zip(counts) {
                    *total += count;
                }
            }
        }
        LocalErrorKind::ALL
            .into_iter()
            .zip(totals)
            .filter(|(_, count)| *count > 0)
            .collect()
    }

    /// The window, for people.
    pub fn window() -> Duration {
        Duration::from_secs(WINDOW_MINUTES * 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_cover_the_last_ten_minutes_only() {
        let origin = Instant::now();
        let at = |minutes: u64| origin + Duration::from_secs(minutes * 60 + 1);
        let mut recent = RecentLocalErrors::new(origin);
        assert!(recent.counts(at(0)).is_empty());
        recent.note(LocalErrorKind::DescriptorsExhausted, at(0));
        recent.note(LocalErrorKind::DescriptorsExhausted, at(3));
        recent.note(LocalErrorKind::AddressFamilyUnsupported, at(9));
        assert_eq!(
            recent.counts(at(9)),
            [
                (LocalErrorKind::DescriptorsExhausted, 2),
                (LocalErrorKind::AddressFamilyUnsupported, 1)
            ]
        );
        assert_eq!(
            recent.counts(at(10)),
            [
                (LocalErrorKind::DescriptorsExhausted, 1),
                (LocalErrorKind::AddressFamilyUnsupported, 1)
            ]
        );
        // Minute 13 reuses minute 3's slot: the old count is gone.
        recent.note(LocalErrorKind::MemoryExhausted, at(13));
        assert_eq!(
            recent.counts(at(13)),
            [
                (LocalErrorKind::MemoryExhausted, 1),
                (LocalErrorKind::AddressFamilyUnsupported, 1)
            ]
        );
        assert!(recent.counts(at(30)).is_empty());
    }
}
