//! Reloads run one at a time, and their parse runs off the async workers
//! (issue 17 point 3).

mod support;

use mtasts_exporter::app::App;
use mtasts_exporter::config::Config;
use support::https::policy_text;
use support::world::{ConfigOverrides, WorldSpec};

fn world_spec() -> WorldSpec {
    let mut spec = WorldSpec::new();
    spec.mta_sts_domain(
        "good.test",
        "1",
        &policy_text("enforce", &["mx1.good.test"], 1_209_600),
    );
    spec
}

/// `count` domains, the last one a duplicate of the first: refused, but
/// only after the whole file was read and checked.
fn large_refused_config(count: usize) -> String {
    let mut yaml = String::from("domains:\n");
    for i in 0..count {
        yaml.push_str(&format!("  - d{i}.example\n"));
    }
    yaml.push_str("  - d0.example\n");
    yaml
}

/// Two reloads at once: one applies the file, the other is refused as busy
/// at once instead of parsing the same file a second time beside it.
#[tokio::test]
async fn a_second_concurrent_reload_is_refused_as_busy() {
    let world = world_spec().start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yml");
    let yaml = world.config_yaml_with(&["good.test"], &ConfigOverrides::default());
    std::fs::write(&path, &yaml).unwrap();
    let app = App::start(&path, Config::load(&path).unwrap()).unwrap();
    let reloader = app.reloader.clone();
    // A file that takes a while to read and check, so the first reload is
    // still at it when the second comes.
    std::fs::write(&path, large_refused_config(20_000)).unwrap();
    let (first, second) = tokio::join!(reloader.reload(), reloader.reload());
    let first = first.expect_err("the large file is refused");
    assert!(!first.is_busy(), "{first}");
    let error = second.expect_err("the second reload must not run beside the first");
    assert!(error.is_busy(), "{error}");
    assert_eq!(
        error.to_string(),
        "a reload is already running; try again when it has finished"
    );
    std::fs::write(&path, &yaml).unwrap();
    // Once the first has finished, reloading works again.
    assert!(reloader.reload().await.is_ok());
}

/// A reload's parse does not run on the runtime's threads: on a
/// single-threaded runtime, a timer keeps firing while a large file is
/// read and checked.
#[tokio::test(flavor = "current_thread")]
async fn a_reload_does_not_hold_up_the_runtime() {
    let world = world_spec().start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yml");
    std::fs::write(
        &path,
        world.config_yaml_with(&["good.test"], &ConfigOverrides::default()),
    )
    .unwrap();
    let app = App::start(&path, Config::load(&path).unwrap()).unwrap();
    // A large file that is refused after a full parse.
    std::fs::write(&path, large_refused_config(50_000)).unwrap();
    let ticks = std::sync::atomic::AtomicUsize::new(0);
    let ticker = async {
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            ticks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    };
    let reload = app.reloader.reload();
    let result = tokio::select! {
        result = reload => result,
        () = ticker => unreachable!(),
    };
    assert!(result.is_err(), "the duplicate is refused");
    let ticks = ticks.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        ticks >= 2,
        "the runtime was held up during the parse: {ticks} ticks"
    );
}
