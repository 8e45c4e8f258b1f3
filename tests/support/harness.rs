//! Running the exporter in-process against a fake world, and talking to it
//! over HTTP: shared by the integration tests.

use super::world::{ConfigOverrides, World, WorldSpec};
use mtasts_exporter::app::App;
use mtasts_exporter::config::web::WebConfig;
use mtasts_exporter::config::Config;
use mtasts_exporter::server::{self, AppState, ClientTimeouts};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Parses the text exposition into `series → value` (series as written:
/// the prometheus crate sorts labels by name).
pub fn parse_exposition(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_string(), value.parse().ok()?))
        })
        .collect()
}

/// Sends one request (with an optional header) and returns status and body.
pub async fn request(
    method: reqwest::Method,
    url: &str,
    header: Option<(&str, &str)>,
) -> (u16, String) {
    // A plain reqwest client (rustls without a built-in provider) needs one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut builder = client.request(method, url);
    if let Some((name, value)) = header {
        builder = builder.header(name, value);
    }
    let response = builder.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

/// `GET url`.
pub async fn get(url: &str) -> (u16, String) {
    request(reqwest::Method::GET, url, None).await
}

pub struct Running {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The fake world.
    pub world: World,
    /// The config file reloads re-read.
    pub config_path: std::path::PathBuf,
    _dir: tempfile::TempDir,
    /// Send to stop the server.
    pub shutdown: tokio::sync::oneshot::Sender<()>,
    /// The server task.
    pub server: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Starts the exporter (as `main` does, through `App`) on a fresh world,
/// with the config file [`World::config_yaml_with`] writes for `domains`
/// and `overrides`, loaded from disk as a reload would.
pub async fn start_exporter_in(
    spec: WorldSpec,
    domains: &[&str],
    overrides: ConfigOverrides,
) -> Running {
    start_exporter_with(spec, domains, overrides, ClientTimeouts::default()).await
}

/// [`start_exporter_in`] with the HTTP server's client timeouts given.
pub async fn start_exporter_with(
    spec: WorldSpec,
    domains: &[&str],
    overrides: ConfigOverrides,
    client_timeouts: ClientTimeouts,
) -> Running {
    start_exporter_holding(spec, domains, overrides, client_timeouts, None).await
}

/// [`start_exporter_with`], the TLSRPT spool's reading at start-up held
/// back by `hold` until it is released.
pub async fn start_exporter_holding(
    spec: WorldSpec,
    domains: &[&str],
    overrides: ConfigOverrides,
    client_timeouts: ClientTimeouts,
    hold: Option<mtasts_exporter::tlsrpt::component::RebuildHold>,
) -> Running {
    let world = spec.start().await;
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("config.yml");
    std::fs::write(&config_path, world.config_yaml_with(domains, &overrides)).unwrap();
    let config = Config::load(&config_path).unwrap();
    let app = App::start_holding(&config_path, config, hold).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let state = Arc::new(AppState {
        app,
        telemetry_path: "/metrics".into(),
        web: WebConfig::default(),
        client_timeouts,
    });
    let (shutdown, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(server::run(listener, state, async move {
        let _ = rx.await;
    }));
    Running {
        base,
        world,
        config_path,
        _dir: dir,
        shutdown,
        server,
    }
}

/// Waits until `base/-/ready` answers 200 (the server may not listen yet).
pub async fn wait_ready(base: &str) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    for _ in 0..200 {
        if let Ok(response) = client.get(format!("{base}/-/ready")).send().await {
            if response.status() == 200 {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("exporter never became ready");
}
