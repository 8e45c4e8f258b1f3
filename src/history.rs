//! Policy history: what a domain's past probes say about its policy, which
//! no single probe can: when a valid policy was last fetched, when senders'
//! cached copies lapse, how often the content changed, and whether it
//! changed without a new record id, so senders keep the old one
//! (RFC 8461 §3.3: senders refetch only when the id changes).
//!
//! Kept per domain by [`PolicyHistories`], fed by every probe the scheduler
//! records and read by the metrics; serializable, so a later version can
//! keep it across restarts.

use crate::report::{PolicyReport, ProbeReport};
use crate::rfc::rfc8461::policy::Mode;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// The parts of a policy senders act on; a change in the text that leaves
/// these equal (white space, order of lines, CRLF vs LF) is not a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyContent {
    /// `mode:`.
    pub mode: Mode,
    /// `max_age:` in seconds.
    pub max_age: u64,
    /// The `mx:` patterns, as a set (their order means nothing).
    pub mx: BTreeSet<String>,
}

impl PolicyContent {
    /// The content of `policy`.
    pub fn of(policy: &PolicyReport) -> PolicyContent {
        PolicyContent {
            mode: policy.mode,
            max_age: policy.max_age,
            mx: policy.mx.iter().cloned().collect(),
        }
    }
}

/// One domain's policy history.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PolicyHistory {
    /// The record id and policy content of the last successful fetch.
    pub last_policy: Option<(String, PolicyContent)>,
    /// Content changes seen between successful fetches; `None` until a
    /// policy was fetched.
    pub changes: Option<u64>,
    /// Whether the last change of content came without a new record id.
    pub id_stale: bool,
    /// When a valid policy was last fetched, Unix seconds.
    pub last_fetch_success: Option<f64>,
    /// That fetch plus its `max_age`: when senders' cached copies lapse.
    pub expiry: Option<f64>,
}

impl PolicyHistory {
    /// Takes in one probe's report. A probe without a valid policy changes
    /// nothing: the last good fetch and its expiry keep their meaning.
    pub fn observe(&mut self, report: &ProbeReport) {
        let Some(policy) = &report.policy else {
            return;
        };
        self.last_fetch_success = Some(report.timestamp);
        self.expiry = Some(report.timestamp + policy.max_age as f64);
        let id = report
            .record
            .as_ref()
            .map(|r| r.id.clone())
            .unwrap_or_default();
        let content = PolicyContent::of(policy);
        let changes = self.changes.get_or_insert(0);
        if let Some((last_id, last_content)) = &self.last_policy {
            if *last_content != content {
                *changes += 1;
                self.id_stale = *last_id == id;
            } else if *last_id != id {
                self.id_stale = false;
            }
        }
        self.last_policy = Some((id, content));
    }

    /// The history of a domain probed once, with `report`.
    pub fn of_one(report: &ProbeReport) -> PolicyHistory {
        let mut history = PolicyHistory::default();
        history.observe(report);
        history
    }
}

/// The policy history of every scheduled domain, and whether it changed
/// since it was last saved.
#[derive(Debug, Default)]
pub struct PolicyHistories {
    histories: Mutex<HashMap<String, PolicyHistory>>,
    changed: AtomicBool,
}

impl PolicyHistories {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, PolicyHistory>> {
        self.histories.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes in a report and returns the domain's history after it.
    pub fn observe(&self, report: &ProbeReport) -> PolicyHistory {
        let mut histories = self.lock();
        let history = histories.entry(report.domain.clone()).or_default();
        history.observe(report);
        self.changed.store(true, Ordering::Release);
        history.clone()
    }

    /// A domain's history, if it was probed.
    pub fn get(&self, domain: &str) -> Option<PolicyHistory> {
        self.lock().get(domain).cloned()
    }

    /// Forgets a domain no longer configured.
    pub fn remove(&self, domain: &str) {
        if self.lock().remove(domain).is_some() {
            self.changed.store(true, Ordering::Release);
        }
    }

    /// Puts back histories saved before a restart (before any probe runs).
    pub fn restore(&self, saved: impl IntoIterator<Item = (String, PolicyHistory)>) {
        self.lock().extend(saved);
    }

    /// Every history, when anything changed since the last call: what is to
    /// be saved.
    pub fn changed_since_last_save(&self) -> Option<BTreeMap<String, PolicyHistory>> {
        if !self.changed.swap(false, Ordering::AcqRel) {
            return None;
        }
        let histories = self.lock();
        Some(
            histories
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )
    }

    /// Marks the histories as not saved (after a failed save).
    pub fn mark_unsaved(&self) {
        self.changed.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::RecordReport;

    fn report(at: f64, id: &str, max_age: u64, mx: &[&str]) -> ProbeReport {
        ProbeReport {
            success: true,
            record: Some(RecordReport {
                id: id.into(),
                txt: format!("v=STSv1; id={id}"),
            }),
            policy: Some(PolicyReport {
                mode: Mode::Enforce,
                max_age,
                mx: mx.iter().map(|m| m.to_string()).collect(),
                text: String::new(),
                content_type: None,
                duplicate_fields: Vec::new(),
            }),
            ..ProbeReport::blank("example.com", at)
        }
    }

    #[test]
    fn first_fetch_sets_expiry_and_no_change() {
        let history = PolicyHistory::of_one(&report(100.0, "a", 86_400, &["mx.example.com"]));
        assert_eq!(history.changes, Some(0));
        assert!(!history.id_stale);
        assert_eq!(history.last_fetch_success, Some(100.0));
        assert_eq!(history.expiry, Some(86_500.0));
    }

    #[test]
    fn a_change_without_a_new_id_is_stale_until_the_id_changes() {
        let mut history = PolicyHistory::default();
        history.observe(&report(
            1.0,
            "a",
            86_400,
            &["mx1.example.com", "mx2.example.com"],
        ));
        // Same content, patterns reordered: no change.
        history.observe(&report(
            2.0,
            "a",
            86_400,
            &["mx2.example.com", "mx1.example.com"],
        ));
        assert_eq!(history.changes, Some(0));
        history.observe(&report(3.0, "a", 604_800, &["mx1.example.com"]));
        assert_eq!(history.changes, Some(1));
        assert!(history.id_stale);
        history.observe(&report(4.0, "b", 604_800, &["mx1.example.com"]));
        assert_eq!(history.changes, Some(1));
        assert!(!history.id_stale);
    }

    #[test]
    fn a_failed_fetch_keeps_the_last_good_one() {
        let mut history = PolicyHistory::of_one(&report(1.0, "a", 100, &["mx.example.com"]));
        let mut failed = report(50.0, "a", 100, &[]);
        failed.policy = None;
        history.observe(&failed);
        assert_eq!(history.last_fetch_success, Some(1.0));
        assert_eq!(history.expiry, Some(101.0));
    }

    #[test]
    fn histories_are_per_domain_and_survive_a_round_trip() {
        let histories = PolicyHistories::default();
        histories.observe(&report(1.0, "a", 100, &["mx.example.com"]));
        let history = histories.get("example.com").unwrap();
        let json = serde_json::to_string(&history).unwrap();
        assert_eq!(
            serde_json::from_str::<PolicyHistory>(&json).unwrap(),
            history
        );
        assert!(histories.changed_since_last_save().is_some());
        assert!(histories.changed_since_last_save().is_none());
        histories.remove("example.com");
        assert!(histories.get("example.com").is_none());
        assert_eq!(histories.changed_since_last_save(), Some(BTreeMap::new()));
    }
}
