//! `GET /probe?target=DOMAIN[&module=NAME]`: one fresh probe, answered with
//! only its own metrics (blackbox_exporter style, for Prometheus-driven
//! and sharded set-ups).

use super::response::{exposition, text, HttpResponse};
use super::AppState;
use crate::config::{normalize_domain, DomainConfig};
use crate::metrics::{Metrics, RegistryKind};
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use std::time::Duration;

/// Seconds taken off Prometheus's scrape timeout so the answer arrives in
/// time (as blackbox_exporter's `timeout_offset`).
const SCRAPE_TIMEOUT_OFFSET: Duration = Duration::from_millis(500);

/// Probes the target the query names, with the module it names, and
/// answers with that probe's metrics.
pub(super) async fn probe(state: &AppState, request: &Request<Incoming>) -> HttpResponse {
    let query = request.uri().query().unwrap_or("");
    let pairs: Vec<(String, String)> = reqwest::Url::parse(&format!("http://query/?{query}"))
        .map(|url| url.query_pairs().into_owned().collect())
        .unwrap_or_default();
    let param = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let Some(target) = param("target").filter(|t| !t.is_empty()) else {
        return text(StatusCode::BAD_REQUEST, "target parameter is missing\n");
    };
    let domain = match normalize_domain(target) {
        Ok(domain) => domain,
        Err(error) => {
            return text(
                StatusCode::BAD_REQUEST,
                format!("invalid target: {error}\n"),
            )
        }
    };
    let runtime = state.app.reloader.current();
    if !runtime.config.probe_allowed(&domain) {
        return text(
            StatusCode::FORBIDDEN,
            format!("target {domain:?} is not allowed (probe.allowed_targets)\n"),
        );
    }
    let module = param("module");
    let Some(mut settings) = runtime.config.module(module) else {
        return text(
            StatusCode::BAD_REQUEST,
            format!("unknown module {:?}\n", module.unwrap_or_default()),
        );
    };
    let scrape_timeout = request
        .headers()
        .get("x-prometheus-scrape-timeout-seconds")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v > 0.0);
    if let Some(seconds) = scrape_timeout {
        let budget =
            Duration::from_secs_f64(seconds.min(3600.0)).saturating_sub(SCRAPE_TIMEOUT_OFFSET);
        settings.timeout = settings.timeout.min(budget.max(Duration::from_millis(100)));
    }
    let Ok(_permit) = runtime.probe_permits.clone().try_acquire_owned() else {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many concurrent probes (probe.max_concurrent)\n",
        );
    };
    let report = runtime
        .prober
        .probe(&DomainConfig {
            name: domain,
            settings,
        })
        .await;
    let metrics = match Metrics::new(runtime.config.max_mx_hosts, false, RegistryKind::Probe) {
        Ok(metrics) => metrics,
        Err(error) => return text(StatusCode::INTERNAL_SERVER_ERROR, format!("{error}\n")),
    };
    metrics.observe(&report);
    exposition(metrics.render())
}
