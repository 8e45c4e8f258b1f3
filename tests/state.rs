//! The policy history survives a restart (`storage.path`), and the state
//! file stays usable whatever moment the process dies at.

mod support;

use mtasts_exporter::app::App;
use mtasts_exporter::config::Config;
use mtasts_exporter::metrics::Metrics;
use mtasts_exporter::state::{StateStore, STATE_FILE};
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;
use support::harness::parse_exposition;
use support::https::{policy_text, PolicyHost};
use support::world::{World, WorldSpec};

fn world_spec() -> WorldSpec {
    let mut spec = WorldSpec::new();
    spec.mta_sts_domain(
        "good.test",
        "1",
        &policy_text("enforce", &["mx1.good.test"], 1_209_600),
    )
    .mta_sts_domain(
        "other.test",
        "1",
        &policy_text("enforce", &["mx1.other.test"], 1_209_600),
    );
    spec
}

/// The world's config, probing every second, keeping state in `state`.
fn config_yaml(world: &World, state: &Path, domains: &[&str]) -> String {
    format!(
        "interval: 1s\ncheck_starttls: false\nstorage:\n  path: {}\n  write_interval: 1s\n{}",
        state.display(),
        world.config_yaml(domains)
    )
}

/// A fake world, and a config file in a temporary directory that watches
/// `domains` and keeps its state in the directory's `state/`.
struct Setup {
    world: World,
    dir: tempfile::TempDir,
    state: std::path::PathBuf,
    path: std::path::PathBuf,
}

async fn setup(domains: &[&str]) -> Setup {
    let world = world_spec().start().await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let path = dir.path().join("config.yml");
    std::fs::write(&path, config_yaml(&world, &state, domains)).unwrap();
    Setup {
        world,
        dir,
        state,
        path,
    }
}

fn scrape(metrics: &Metrics) -> HashMap<String, f64> {
    parse_exposition(&String::from_utf8(metrics.render()).unwrap())
}

/// Waits (up to 20 s) until the scrape satisfies `done`.
async fn wait_for(metrics: &Metrics, done: impl Fn(&HashMap<String, f64>) -> bool) {
    for _ in 0..200 {
        if done(&scrape(metrics)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "not reached:\n{}",
        String::from_utf8(metrics.render()).unwrap()
    );
}

const CHANGES: &str = r#"mtasts_policy_changes_total{domain="good.test"}"#;
const STALE: &str = r#"mtasts_policy_id_stale{domain="good.test"}"#;
const FETCHED: &str = r#"mtasts_policy_fetch_success_timestamp_seconds{domain="good.test"}"#;
const PROBES: &str = r#"mtasts_probes_total{domain="good.test"}"#;

#[tokio::test]
async fn policy_history_carries_on_after_a_restart() {
    let Setup {
        world,
        dir: _dir,
        state,
        path,
    } = setup(&["good.test"]).await;

    let app = App::start(&path, Config::load(&path).unwrap()).unwrap();
    wait_for(&app.metrics, |m| m.get(PROBES).is_some_and(|n| *n >= 1.0)).await;
    // The content changes and the record id does not: stale.
    world.set_policy_host(
        "mta-sts.good.test",
        PolicyHost::ok(&policy_text("testing", &["mx1.good.test"], 1_209_600)),
    );
    wait_for(&app.metrics, |m| m.get(CHANGES) == Some(&1.0)).await;
    let before = scrape(&app.metrics);
    assert_eq!(before[STALE], 1.0);
    app.reloader.stop().await;
    drop(app);
    assert!(state.join(STATE_FILE).exists());

    // A new process: the first probe after the restart sees the same
    // content, so nothing changed since, and the stale id is still stale.
    let app = App::start(&path, Config::load(&path).unwrap()).unwrap();
    wait_for(&app.metrics, |m| m.get(PROBES).is_some_and(|n| *n >= 1.0)).await;
    let after = scrape(&app.metrics);
    assert_eq!(after[CHANGES], 1.0, "the change count was lost");
    assert_eq!(after[STALE], 1.0, "the stale id was forgotten");
    assert!(after[FETCHED] >= before[FETCHED]);
    app.reloader.stop().await;
}

/// A domain no longer configured has its state dropped, at start-up and
/// on reload.
#[tokio::test]
async fn a_removed_domain_loses_its_state() {
    let Setup {
        world,
        dir: _dir,
        state,
        path,
    } = setup(&["good.test", "other.test"]).await;
    let app = App::start(&path, Config::load(&path).unwrap()).unwrap();
    wait_for(&app.metrics, |m| {
        m.contains_key(FETCHED)
            && m.contains_key(
                r#"mtasts_policy_fetch_success_timestamp_seconds{domain="other.test"}"#,
            )
    })
    .await;
    app.reloader.stop().await;
    drop(app);
    let saved = StateStore::new(&state).load();
    assert_eq!(saved.len(), 2, "{saved:?}");

    // Restarted without other.test: its state is not restored.
    std::fs::write(&path, config_yaml(&world, &state, &["good.test"])).unwrap();
    let app = App::start(&path, Config::load(&path).unwrap()).unwrap();
    assert!(app.histories.get("other.test").is_none());
    assert!(
        app.histories.get("good.test").is_some(),
        "restored before any probe"
    );
    app.reloader.stop().await;
    let saved = StateStore::new(&state).load();
    assert_eq!(saved.keys().collect::<Vec<_>>(), ["good.test"]);
}

/// `kill -9` at arbitrary moments while the exporter keeps writing its
/// state: every start finds a usable file (or none), never one it must
/// move aside.
#[tokio::test]
async fn kill_9_never_leaves_an_unusable_state_file() {
    let Setup {
        world: _world,
        dir: _dir,
        state,
        path,
    } = setup(&["good.test", "other.test"]).await;
    for round in 0..6u64 {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mtasts-exporter"))
            .args(["--config.file", path.to_str().unwrap()])
            .args(["--web.listen-address", "127.0.0.1:0"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Between 1.0 and 2.5 s: around the writes of the 1 s interval.
        tokio::time::sleep(Duration::from_millis(1_000 + round * 300)).await;
        child.kill().unwrap(); // SIGKILL
        let output = child.wait_with_output().unwrap();
        let log = String::from_utf8_lossy(&output.stderr);
        assert!(
            !log.contains("state file not used"),
            "round {round}:\n{log}"
        );
    }
    let entries: Vec<String> = std::fs::read_dir(&state)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(entries.contains(&STATE_FILE.to_string()), "{entries:?}");
    assert!(
        !entries.iter().any(|e| e.contains("unusable")),
        "{entries:?}"
    );
    assert_eq!(StateStore::new(&state).load().len(), 2);
}

/// SIGTERM saves what changed since the last write, however long the write
/// interval: a restart loses nothing.
#[tokio::test]
async fn sigterm_saves_the_state() {
    let world = world_spec().start().await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let path = dir.path().join("config.yml");
    let yaml = config_yaml(&world, &state, &["good.test", "other.test"])
        .replace("write_interval: 1s", "write_interval: 1h");
    std::fs::write(&path, yaml).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mtasts-exporter"))
        .args(["--config.file", path.to_str().unwrap()])
        .args(["--web.listen-address", "127.0.0.1:0"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        !state.join(STATE_FILE).exists(),
        "nothing written before the hour"
    );
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert_eq!(StateStore::new(&state).load().len(), 2);
}
