//! The policy senders still cache (RFC 8461 §3.3, §5.1): while no fresh
//! policy is available, the exporter judges the MX hosts against the last
//! valid policy until its `max_age` runs out, across a policy-host outage,
//! an MX migration and a restart of the exporter, on the fake world.

mod support;

use mtasts_exporter::app::App;
use mtasts_exporter::config::Config;
use mtasts_exporter::metrics::Metrics;
use mtasts_exporter::report::PolicySource;
use mtasts_exporter::taxonomy::Reason;
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;
use support::harness::parse_exposition;
use support::https::{policy_text, PolicyHost};
use support::world::{World, WorldSpec};

/// good.test: record id 1, an enforce policy listing mx1.good.test (two
/// weeks), MX mx1.good.test.
fn before_the_migration() -> WorldSpec {
    let mut spec = WorldSpec::new();
    spec.mta_sts_domain(
        "good.test",
        "1",
        &policy_text("enforce", &["mx1.good.test"], 1_209_600),
    );
    spec
}

/// good.test after its MX moved to mx2.good.test while its policy host
/// answers 503: the record (id 1) is unchanged.
fn after_the_migration() -> WorldSpec {
    let mut spec = WorldSpec::new();
    spec.txt("_mta-sts.good.test", "v=STSv1; id=1")
        .a("mta-sts.good.test")
        .policy_host("mta-sts.good.test", PolicyHost::status(503, &[]))
        .mx("good.test", 10, "mx2.good.test")
        .a("mx2.good.test")
        .txt("_smtp._tls.good.test", "v=TLSRPTv1; rua=mailto:r@good.test");
    spec
}

/// The world's config probing every second without STARTTLS (the MX
/// hosts here have no SMTP server), keeping state in `state` when given.
fn config_yaml(world: &World, state: Option<&Path>) -> String {
    let storage = state
        .map(|s| format!("storage:\n  path: {}\n  write_interval: 1s\n", s.display()))
        .unwrap_or_default();
    format!(
        "interval: 1s\ncheck_starttls: false\n{storage}{}",
        world.config_yaml(&["good.test"])
    )
}

fn start(world: &World, dir: &Path, state: Option<&Path>) -> App {
    let path = dir.join("config.yml");
    std::fs::write(&path, config_yaml(world, state)).unwrap();
    App::start(&path, Config::load(&path).unwrap()).unwrap()
}

fn scrape(metrics: &Metrics) -> HashMap<String, f64> {
    parse_exposition(&String::from_utf8(metrics.render()).unwrap())
}

/// Waits (up to 20 s) until the scrape satisfies `done`, and returns it.
async fn wait_for(
    metrics: &Metrics,
    done: impl Fn(&HashMap<String, f64>) -> bool,
) -> HashMap<String, f64> {
    for _ in 0..200 {
        let m = scrape(metrics);
        if done(&m) {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "not reached:\n{}",
        String::from_utf8(metrics.render()).unwrap()
    );
}

fn source(source: &str) -> String {
    format!(r#"mtasts_policy_source{{domain="good.test",source="{source}"}}"#)
}

const ENFORCE: &str = r#"mtasts_policy_mode{domain="good.test",mode="enforce"}"#;
const SUCCESS: &str = r#"mtasts_probe_success{domain="good.test"}"#;
const EXPIRY: &str = r#"mtasts_policy_expiry_timestamp_seconds{domain="good.test"}"#;
const FETCHED: &str = r#"mtasts_policy_fetch_success_timestamp_seconds{domain="good.test"}"#;
const MX1_MATCH: &str = r#"mtasts_mx_policy_match{domain="good.test",mx="mx1.good.test"}"#;
const MX2_MATCH: &str = r#"mtasts_mx_policy_match{domain="good.test",mx="mx2.good.test"}"#;
const FETCH_FAILED: &str = r#"mtasts_probe_failed{domain="good.test",phase="policy_fetch",reason="cannot-fetch-policy",result_type="sts-policy-fetch-error"}"#;
const MISMATCH: &str = r#"mtasts_probe_failed{domain="good.test",phase="mx_lookup",reason="mtasts-policy-mx-mismatch",result_type="validation-failure"}"#;

#[tokio::test]
async fn a_policy_host_outage_leaves_the_cached_policy_in_force() {
    let world = before_the_migration().start().await;
    let dir = tempfile::tempdir().unwrap();
    let app = start(&world, dir.path(), None);
    let fresh = wait_for(&app.metrics, |m| m.get(&source("fresh")) == Some(&1.0)).await;
    assert_eq!(fresh[SUCCESS], 1.0);
    assert_eq!(fresh[&source("cached")], 0.0);
    assert_eq!(fresh[&source("none")], 0.0);

    world.set_policy_host("mta-sts.good.test", PolicyHost::status(503, &[]));
    let cached = wait_for(&app.metrics, |m| m.get(&source("cached")) == Some(&1.0)).await;
    assert_eq!(cached[&source("fresh")], 0.0);
    // The fetch failure fails the domain as before ...
    assert_eq!(cached[SUCCESS], 0.0);
    assert_eq!(cached[FETCH_FAILED], 1.0);
    // ... while senders apply their cached enforce policy, which still
    // covers the MX host: no mismatch, and its expiry as before.
    assert_eq!(cached[ENFORCE], 1.0);
    assert_eq!(cached[MX1_MATCH], 1.0);
    assert!(!cached.contains_key(MISMATCH));
    assert_eq!(cached[EXPIRY], cached[FETCHED] + 1_209_600.0);

    let latest = app.latest.lock().unwrap()["good.test"]
        .full
        .clone()
        .unwrap();
    assert_eq!(latest.policy_source, PolicySource::Cached);
    let policy = latest.cached_policy.as_ref().unwrap();
    assert_eq!(policy.id, "1");
    assert_eq!(policy.mx, ["mx1.good.test"]);
    assert!(policy.text.as_deref().unwrap().contains("mode: enforce"));
    assert_eq!(policy.expires_at, cached[EXPIRY]);

    // The host is back: fresh again.
    world.set_policy_host(
        "mta-sts.good.test",
        PolicyHost::ok(&policy_text("enforce", &["mx1.good.test"], 1_209_600)),
    );
    let back = wait_for(&app.metrics, |m| m.get(&source("fresh")) == Some(&1.0)).await;
    assert_eq!(back[SUCCESS], 1.0);
    app.reloader.stop().await;
}

/// The policy changes without a new record id: senders keep their copy
/// (RFC 8461 §3.3), so the MX hosts are judged against it, not against
/// what the host serves now.
#[tokio::test]
async fn a_changed_policy_under_the_same_id_is_judged_by_the_copy_senders_keep() {
    let world = before_the_migration().start().await;
    let dir = tempfile::tempdir().unwrap();
    let app = start(&world, dir.path(), None);
    wait_for(&app.metrics, |m| m.get(&source("fresh")) == Some(&1.0)).await;

    world.set_policy_host(
        "mta-sts.good.test",
        PolicyHost::ok(&policy_text("testing", &["mx9.good.test"], 86_400)),
    );
    let stale = wait_for(&app.metrics, |m| m.get(&source("cached")) == Some(&1.0)).await;
    assert_eq!(stale[r#"mtasts_policy_id_stale{domain="good.test"}"#], 1.0);
    // Senders holding the enforce copy still deliver to mx1.good.test.
    assert_eq!(stale[ENFORCE], 1.0);
    assert_eq!(stale[MX1_MATCH], 1.0);
    assert_eq!(stale[SUCCESS], 1.0);
    assert!(!stale.contains_key(MISMATCH));
    let latest = app.latest.lock().unwrap()["good.test"]
        .full
        .clone()
        .unwrap();
    assert_eq!(latest.policy.as_ref().unwrap().mx, ["mx9.good.test"]);
    assert_eq!(latest.cached_policy.as_ref().unwrap().mx, ["mx1.good.test"]);

    // The old content again: the same as the copy, so a refresh, judged
    // fresh.
    world.set_policy_host(
        "mta-sts.good.test",
        PolicyHost::ok(&policy_text("enforce", &["mx1.good.test"], 1_209_600)),
    );
    let fresh = wait_for(&app.metrics, |m| m.get(&source("fresh")) == Some(&1.0)).await;
    assert_eq!(fresh[SUCCESS], 1.0);
    app.reloader.stop().await;
}

/// The outage this catches: the MX hosts move while the policy host is
/// down, and senders holding the cached enforce policy refuse the new
/// host. The cached policy comes from the state kept across a restart.
#[tokio::test]
async fn an_mx_migration_during_the_outage_fails_against_the_cached_policy_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");

    let before = before_the_migration().start().await;
    let app = start(&before, dir.path(), Some(&state));
    let fresh = wait_for(&app.metrics, |m| m.get(&source("fresh")) == Some(&1.0)).await;
    app.reloader.stop().await;
    drop(app);
    drop(before);

    let after = after_the_migration().start().await;
    let app = start(&after, dir.path(), Some(&state));
    let cached = wait_for(&app.metrics, |m| m.get(&source("cached")) == Some(&1.0)).await;
    assert_eq!(cached[SUCCESS], 0.0);
    assert_eq!(cached[ENFORCE], 1.0);
    assert_eq!(cached[MX2_MATCH], 0.0);
    assert_eq!(cached[MISMATCH], 1.0);
    assert_eq!(cached[FETCH_FAILED], 1.0);
    // The expiry of the policy fetched before the restart (the state file's
    // JSON numbers may differ in the last bit).
    assert!((cached[EXPIRY] - fresh[EXPIRY]).abs() < 1e-3);

    let latest = app.latest.lock().unwrap()["good.test"]
        .full
        .clone()
        .unwrap();
    let mismatch = latest
        .failures
        .iter()
        .find(|f| f.reason == Reason::MtastsPolicyMxMismatch)
        .unwrap();
    let fetched_at = latest.cached_policy.as_ref().unwrap().fetched_at_text();
    assert_eq!(
        mismatch.detail,
        format!(
            "MX host mx2.good.test is not covered by any policy mx pattern, \
             against the cached policy fetched at {fetched_at} (id 1)"
        )
    );
    app.reloader.stop().await;
}

/// `/probe` and `check` have no history: the same outage is judged
/// against no policy at all.
#[tokio::test]
async fn a_probe_without_history_has_no_cached_policy() {
    let world = after_the_migration().start().await;
    let config = world.config(&["good.test"]);
    let prober = mtasts_exporter::probe::Prober::new(&config).unwrap();
    let mut domain = config.domains[0].clone();
    domain.settings.check_starttls = false;
    let report = prober.probe(&domain).await;
    assert_eq!(report.policy_source, PolicySource::None);
    assert!(report.cached_policy.is_none());
    let reasons: Vec<_> = report.failures.iter().map(|f| f.reason).collect();
    assert_eq!(reasons, [Reason::CannotFetchPolicy]);
}
