//! `GET /probe?target=DOMAIN[&module=NAME]`: one fresh probe, answered with
//! only its own metrics (blackbox_exporter style, for Prometheus-driven
//! and sharded set-ups).

use super::metrics::negotiated;
use super::response::{text, HttpResponse};
use super::AppState;
use crate::config::{normalize_domain, DomainConfig};
use crate::echo::{capped, capped_within};
use crate::history::PolicyHistory;
use crate::metrics::{Metrics, RegistryKind};
use crate::report::ProbeReport;
use hyper::body::Incoming;
use hyper::{HeaderMap, Request, StatusCode};
use std::time::Duration;

/// Seconds taken off Prometheus's scrape timeout so the answer arrives in
/// time (as blackbox_exporter's `timeout_offset`).
const SCRAPE_TIMEOUT_OFFSET: Duration = Duration::from_millis(500);

/// Probes the target the query names, with the module it names, and
/// answers with that probe's metrics.
pub(super) async fn probe(state: &AppState, request: &Request<Incoming>) -> HttpResponse {
    let params = query_params(request.uri().query());
    let Some(target) = param(&params, "target").filter(|t| !t.is_empty()) else {
        return text(StatusCode::BAD_REQUEST, "target parameter is missing\n");
    };
    let domain = match normalize_domain(target) {
        Ok(domain) => domain,
        Err(error) => {
            let error = error.to_string();
            return text(
                StatusCode::BAD_REQUEST,
                format!("invalid target: {}\n", capped_within(&error, target)),
            );
        }
    };
    let runtime = state.app.reloader.current();
    if !runtime.config.probe_allowed(&domain) {
        return text(
            StatusCode::FORBIDDEN,
            format!(
                "target {:?} is not allowed (probe.allowed_targets)\n",
                capped(&domain)
            ),
        );
    }
    let module = param(&params, "module");
    let Some(mut settings) = runtime.config.module(module) else {
        return text(
            StatusCode::BAD_REQUEST,
            format!("unknown module {:?}\n", capped(module.unwrap_or_default())),
        );
    };
    if let Some(budget) = scrape_budget(request.headers()) {
        settings.timeout = settings.timeout.min(budget);
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
    render(runtime.config.max_mx_hosts, &report, request.headers())
}

/// The query's `name=value` pairs, percent-decoded, in order.
pub(super) fn query_params(query: Option<&str>) -> Vec<(String, String)> {
    let query = query.unwrap_or("");
    reqwest::Url::parse(&format!("http://query/?{query}"))
        .map(|url| url.query_pairs().into_owned().collect())
        .unwrap_or_default()
}

/// The first value given for `name`.
fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// What is left of Prometheus's scrape timeout (its
/// `X-Prometheus-Scrape-Timeout-Seconds` header) once the answer's way back
/// is set aside; at least 100 ms. `None` without a usable header.
fn scrape_budget(headers: &HeaderMap) -> Option<Duration> {
    let seconds = headers
        .get("x-prometheus-scrape-timeout-seconds")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v > 0.0)?;
    let budget = Duration::from_secs_f64(seconds.min(3600.0)).saturating_sub(SCRAPE_TIMEOUT_OFFSET);
    Some(budget.max(Duration::from_millis(100)))
}

/// The probe's own metrics, in a registry of their own; the policy history
/// is this one probe's (as blackbox_exporter, `/probe` keeps no state).
/// Format and encoding are negotiated as for `/metrics` (OpenMetrics when
/// `Accept` prefers it, gzip when allowed).
fn render(max_mx_hosts: usize, report: &ProbeReport, headers: &HeaderMap) -> HttpResponse {
    let metrics = match Metrics::new(max_mx_hosts, false, RegistryKind::Probe) {
        Ok(metrics) => metrics,
        Err(error) => return text(StatusCode::INTERNAL_SERVER_ERROR, format!("{error}\n")),
    };
    metrics.observe(report, &PolicyHistory::of_one(report));
    negotiated(metrics.exposition(), headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(value: &str) -> Option<Duration> {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-prometheus-scrape-timeout-seconds",
            value.parse().unwrap(),
        );
        scrape_budget(&headers)
    }

    #[test]
    fn scrape_budget_keeps_the_offset_back_within_bounds() {
        assert_eq!(budget("10"), Some(Duration::from_millis(9500)));
        assert_eq!(budget(" 0.2 "), Some(Duration::from_millis(100)));
        assert_eq!(budget("1e9"), Some(Duration::from_millis(3_599_500)));
        for unusable in ["0", "-1", "inf", "NaN", "soon"] {
            assert_eq!(budget(unusable), None, "{unusable}");
        }
        assert_eq!(scrape_budget(&HeaderMap::new()), None);
    }

    #[test]
    fn the_first_value_of_a_parameter_counts_and_is_decoded() {
        let params = query_params(Some("target=a%2Eexample&target=b&module="));
        assert_eq!(param(&params, "target"), Some("a.example"));
        assert_eq!(param(&params, "module"), Some(""));
        assert_eq!(param(&params, "other"), None);
        assert!(query_params(None).is_empty());
    }
}
