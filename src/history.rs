//! Policy history: what a domain's past probes say about its policy, which
//! no single probe can: when a valid policy was last fetched, when senders'
//! cached copies lapse, how often the content changed, and whether it
//! changed without a new record id, so senders keep the old one
//! (RFC 8461 §3.3: senders refetch only when the id changes).
//!
//! Kept per domain by [`PolicyHistories`], fed by every probe the scheduler
//! records and read by the metrics and by the next probe (the cached policy
//! senders still apply); serializable, kept across restarts by
//! [`crate::state`].

use crate::report::{CachedPolicy, PolicyReport, ProbeReport};
use crate::rfc::rfc8461::policy::Mode;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
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
    /// The `mx:` patterns, as a set (their order means nothing): sorted,
    /// each once. (A vector, not a `BTreeSet`, whose first node alone took
    /// some 300 bytes per domain; saved the same way, as a sorted list.)
    #[serde(deserialize_with = "sorted_set")]
    pub mx: Vec<String>,
}

impl PolicyContent {
    /// The content of `policy`.
    pub fn of(policy: &PolicyReport) -> PolicyContent {
        PolicyContent {
            mode: policy.mode,
            max_age: policy.max_age,
            mx: as_set(policy.mx.iter().cloned()),
        }
    }
}

/// `patterns` sorted, each once.
fn as_set(patterns: impl Iterator<Item = String>) -> Vec<String> {
    let mut set: Vec<String> = patterns.collect();
    set.sort_unstable();
    set.dedup();
    set.shrink_to_fit();
    set
}

/// A saved set of patterns, sorted and each once whatever the file says.
fn sorted_set<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    Vec::<String>::deserialize(deserializer).map(|v| as_set(v.into_iter()))
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
    /// The policy senders that fetched it still apply (RFC 8461 §3.3,
    /// §5.1), for probes that find no fresh policy. Follows each fresh
    /// policy, except that a change of content under an unchanged record id
    /// does not replace it before it expires: senders refetch only for a
    /// new id (the stale id). Absent from state files written before it
    /// existed.
    #[serde(default)]
    pub cached: Option<CachedPolicy>,
}

impl PolicyHistory {
    /// Takes in one probe's report. A probe without a valid policy changes
    /// nothing: the last good fetch and its expiry keep their meaning.
    /// A policy fetched while the record failed is no fetch senders make
    /// (RFC 8461 §3.3: they fetch after a valid record), so it changes
    /// nothing either.
    pub fn observe(&mut self, report: &ProbeReport) {
        let (Some(policy), Some(record)) = (&report.policy, &report.record) else {
            return;
        };
        self.last_fetch_success = Some(report.timestamp);
        self.expiry = Some(report.timestamp + policy.max_age as f64);
        let id = record.id.clone();
        let content = PolicyContent::of(policy);
        self.cache(&id, policy, &content, report.timestamp);
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

    /// What a sender's cache holds after it sees the fresh `policy` under
    /// record `id` at `now` (RFC 8461 §3.3, §5.1): the fresh policy when it
    /// had none, its copy expired, the id changed or the content is the
    /// same (a refresh); its old copy, fetched when it was last served,
    /// when only the content changed (senders do not refetch for that).
    fn cache(&mut self, id: &str, policy: &PolicyReport, content: &PolicyContent, now: f64) {
        let old = self.cached_policy();
        let keep_old = old.as_ref().is_some_and(|old| {
            old.is_valid_at(now)
                && old.id == id
                && PolicyContent {
                    mode: old.mode,
                    max_age: old.max_age,
                    mx: as_set(old.mx.iter().cloned()),
                } != *content
        });
        self.cached = if keep_old {
            old
        } else {
            Some(CachedPolicy::of(id, policy, now))
        };
    }

    /// The last valid policy as senders cache it. For a history saved
    /// before the cache was kept, the one its last fetch describes (without
    /// its text).
    pub fn cached_policy(&self) -> Option<CachedPolicy> {
        if let Some(cached) = &self.cached {
            return Some(cached.clone());
        }
        let ((id, content), fetched_at) = (self.last_policy.as_ref()?, self.last_fetch_success?);
        Some(CachedPolicy {
            id: id.clone(),
            mode: content.mode,
            max_age: content.max_age,
            mx: content.mx.to_vec(),
            text: None,
            fetched_at,
            expires_at: fetched_at + content.max_age as f64,
        })
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
        let mut histories = self.lock();
        if histories.remove(domain).is_some() {
            self.changed.store(true, Ordering::Release);
        }
        // A reload that drops most domains gives their room back.
        if histories.len() * 4 < histories.capacity() {
            histories.shrink_to_fit();
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
            policy: Some(PolicyReport::blank(Mode::Enforce, max_age, mx)),
            ..ProbeReport::blank("example.com", at)
        }
    }

    /// The patterns are a set: sorted, each once, saved as a sorted list
    /// (as the `BTreeSet` they were) and read back as a set whatever the
    /// file's order.
    #[test]
    fn patterns_are_saved_and_read_back_as_a_sorted_set() {
        let policy =
            PolicyReport::blank(Mode::Enforce, 1, &["b.example", "a.example", "b.example"]);
        let content = PolicyContent::of(&policy);
        assert_eq!(content.mx, ["a.example", "b.example"]);
        let json = serde_json::to_string(&content).unwrap();
        assert!(json.contains(r#""mx":["a.example","b.example"]"#), "{json}");
        let shuffled = json.replace(
            r#"["a.example","b.example"]"#,
            r#"["b.example","a.example","a.example"]"#,
        );
        let read: PolicyContent = serde_json::from_str(&shuffled).unwrap();
        assert_eq!(read, content);
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

    #[test]
    fn the_cache_follows_fresh_policies_and_is_refreshed_by_the_same_one() {
        let mut history = PolicyHistory::of_one(&report(1.0, "a", 100, &["mx.example.com"]));
        let cached = history.cached_policy().unwrap();
        assert_eq!((cached.id.as_str(), cached.fetched_at), ("a", 1.0));
        assert_eq!(cached.expires_at, 101.0);
        assert_eq!(cached.mx, ["mx.example.com"]);
        history.observe(&report(50.0, "a", 100, &["mx.example.com"]));
        assert_eq!(history.cached_policy().unwrap().expires_at, 150.0);
        // A new id: senders fetch the new policy.
        history.observe(&report(60.0, "b", 200, &["mx2.example.com"]));
        let cached = history.cached_policy().unwrap();
        assert_eq!((cached.id.as_str(), cached.fetched_at), ("b", 60.0));
        assert_eq!(cached.mx, ["mx2.example.com"]);
    }

    #[test]
    fn a_change_under_the_same_id_leaves_senders_with_the_old_copy_until_it_expires() {
        let mut history = PolicyHistory::of_one(&report(1.0, "a", 100, &["mx.example.com"]));
        history.observe(&report(50.0, "a", 100, &["new.example.net"]));
        assert!(history.id_stale);
        let cached = history.cached_policy().unwrap();
        assert_eq!(cached.mx, ["mx.example.com"], "senders do not refetch");
        assert_eq!(cached.fetched_at, 1.0);
        // Once their copy expired, they fetch what is served now.
        history.observe(&report(120.0, "a", 100, &["new.example.net"]));
        let cached = history.cached_policy().unwrap();
        assert_eq!(cached.mx, ["new.example.net"]);
        assert_eq!(cached.fetched_at, 120.0);
    }

    #[test]
    fn a_policy_fetched_without_a_valid_record_changes_nothing() {
        let mut history = PolicyHistory::of_one(&report(1.0, "a", 100, &["mx.example.com"]));
        let before = history.clone();
        let mut no_record = report(50.0, "a", 100, &["new.example.net"]);
        no_record.record = None;
        history.observe(&no_record);
        assert_eq!(history, before);
    }

    #[test]
    fn a_history_saved_before_the_cache_existed_still_has_one() {
        let json = r#"{"last_policy":["a",{"mode":"enforce","max_age":100,"mx":["mx.example.com"]}],
            "changes":0,"id_stale":false,"last_fetch_success":1.0,"expiry":101.0}"#;
        let history: PolicyHistory = serde_json::from_str(json).unwrap();
        assert_eq!(history.cached, None);
        let cached = history.cached_policy().unwrap();
        assert_eq!((cached.id.as_str(), cached.mode), ("a", Mode::Enforce));
        assert_eq!((cached.fetched_at, cached.expires_at), (1.0, 101.0));
        assert_eq!(cached.text, None);
    }

    #[test]
    fn a_large_policy_text_is_not_kept_in_the_cache() {
        let mut large = report(1.0, "a", 100, &["mx.example.com"]);
        if let Some(policy) = &mut large.policy {
            policy.text = "#".repeat(CachedPolicy::MAX_TEXT_BYTES + 1);
        }
        let history = PolicyHistory::of_one(&large);
        let cached = history.cached_policy().unwrap();
        assert_eq!(cached.text, None);
        assert_eq!(cached.mx, ["mx.example.com"]);
        let small = PolicyHistory::of_one(&report(1.0, "a", 100, &["mx.example.com"]));
        assert_eq!(small.cached_policy().unwrap().text, Some(String::new()));
    }
}
