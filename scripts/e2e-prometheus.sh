#!/usr/bin/env bash
# End-to-end with a real Prometheus: the fake world (examples/fake_world.rs)
# as a process, the exporter on it, Prometheus scraping it with the shipped
# alert rules. Checks: promtool on the exposition and the rules, every
# dashboard panel query returns data, and the alerts expected for the
# world's broken domains are pending or firing while the healthy ones have
# none. Everything started is stopped by PID at the end, also on failure.
# Everything listens on 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
  echo "== installing prometheus (Debian package)"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq prometheus >/dev/null
fi
command -v python3 >/dev/null || { echo "python3 is required" >&2; exit 1; }

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
  local seconds=$1 what=$2; shift 2
  for _ in $(seq 1 $((seconds * 4))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.25
  done
  echo "timed out waiting for $what" >&2
  return 1
}

echo "== building"
cargo build --locked --quiet --bin mtasts-exporter --example fake_world

echo "== starting the fake world"
target/debug/examples/fake_world "$work/world.yml" >"$work/world.log" 2>&1 &
pids+=($!)
wait_for 30 "the fake world" test -s "$work/world.yml"
sleep 0.5

# TLSRPT reports (README "TLSRPT reports"): a listener of their own and a
# spool, so that the dashboard's report row is checked with data.
reports_port=$(free_port)
cat >>"$work/world.yml" <<YAML
storage:
  path: $work/state
reports:
  listen_address: 127.0.0.1:$reports_port
YAML

exporter_port=$(free_port)
echo "== starting the exporter on 127.0.0.1:$exporter_port"
target/debug/mtasts-exporter --config.file "$work/world.yml" \
  --web.listen-address "127.0.0.1:$exporter_port" --log.level warn >"$work/exporter.log" 2>&1 &
pids+=($!)
wait_for 60 "exporter readiness" curl -sf "http://127.0.0.1:$exporter_port/-/ready"

echo "== posting TLSRPT reports to 127.0.0.1:$reports_port"
# A sender's report about good.test: 3 failed sessions at its MX host, below
# the alerts' thresholds (the domain stays healthy); sent twice (counted
# once) and followed by garbage (an ingest error).
python3 - "http://127.0.0.1:$reports_port/tlsrpt" <<'PY'
import gzip, json, sys, urllib.error, urllib.request
url = sys.argv[1]
report = json.dumps({
    "organization-name": "E2E Sender", "report-id": "e2e-1",
    "date-range": {"start-datetime": "2026-11-30T00:00:00Z", "end-datetime": "2026-11-30T23:59:59Z"},
    "contact-info": "tlsrpt@sender.example",
    "policies": [{
        "policy": {"policy-type": "sts", "policy-domain": "good.test", "mx-host": ["mx1.good.test"]},
        "summary": {"total-successful-session-count": 100, "total-failure-session-count": 3},
        "failure-details": [{"result-type": "certificate-expired", "sending-mta-ip": "192.0.2.1",
                             "receiving-mx-hostname": "mx1.good.test", "failed-session-count": 3}]}],
}).encode()
answers = []
for body in (gzip.compress(report), report, b"not a report"):
    request = urllib.request.Request(url, data=body, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            answers.append(response.status)
    except urllib.error.HTTPError as error:
        answers.append(error.code)
if answers != [200, 200, 400]:
    sys.exit(f"TLSRPT listener answered {answers}, expected [200, 200, 400]")
print("reports: stored, stored before, refused")
PY

prometheus_port=$(free_port)
cat >"$work/prometheus.yml" <<YAML
global:
  scrape_interval: 2s
  evaluation_interval: 2s
rule_files:
  - $PWD/config/alerts.yml
scrape_configs:
  - job_name: mtasts
    static_configs:
      - targets: ["127.0.0.1:$exporter_port"]
YAML
echo "== starting prometheus on 127.0.0.1:$prometheus_port"
prometheus --config.file "$work/prometheus.yml" --storage.tsdb.path "$work/data" \
  --web.listen-address "127.0.0.1:$prometheus_port" >"$work/prometheus.log" 2>&1 &
pids+=($!)
api="http://127.0.0.1:$prometheus_port/api/v1"
wait_for 60 "prometheus" curl -sf "http://127.0.0.1:$prometheus_port/-/ready"

echo "== waiting for two scrapes"
two_scrapes() {
  curl -sf "$api/query" --data-urlencode 'query=count_over_time(up{job="mtasts"}[1m]) >= 2' \
    | python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)["data"]["result"] else 1)'
}
wait_for 60 "two scrapes" two_scrapes

echo "== promtool check metrics"
curl -sf "http://127.0.0.1:$exporter_port/metrics" >"$work/metrics.txt"
problems=$(promtool check metrics <"$work/metrics.txt" 2>&1) || { echo "$problems"; exit 1; }
if [ -n "$problems" ]; then echo "$problems"; exit 1; fi

echo "== promtool check rules / test rules / the example configs"
promtool check rules config/alerts.yml
for example in config/prometheus.yml config/prometheus-sharded.yml config/prometheus-probe.yml; do
  (cd config && promtool check config --syntax-only "$(basename "$example")")
done
promtool test rules config/alerts_test.yml config/alerts_tlsrpt_test.yml

echo "== every dashboard panel query returns data; expected alerts are active"
# The alert checks wait a little: rules are evaluated every 2s after start.
python3 - "$api" dashboards/mta-sts.json <<'PY'
import json, re, sys, time, urllib.parse, urllib.request

api, dashboard_path = sys.argv[1], sys.argv[2]

def get(path, **params):
    url = f"{api}/{path}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=10) as response:
        body = json.load(response)
    if body.get("status") != "success":
        raise SystemExit(f"{url}: {body}")
    return body["data"]

dashboard = json.load(open(dashboard_path))
substitutions = {"$__rate_interval": "1m", "$job": ".*", "$domain": ".*"}
failures = []
count = 0
# The TLSRPT row reads the counters of received reports: they have series
# only once a report was ingested. While the exporter has received none,
# its queries may return nothing, and are listed as such.
report_metrics = re.compile(r"mtasts_tlsrpt_(sessions|reports|report_duplicates|ingest_errors|last_report_end|mx_failed)")
reports_received = bool(get("query", query="count(mtasts_tlsrpt_sessions_total)")["result"])
without_reports = []
# The DANE row reads series that exist only for domains with `dane: on`
# (off by default, and the fake world's DNS is unsigned): listed apart
# while no domain has them. tests/dane.rs checks those series.
dane_metrics = re.compile(r"mtasts_(domain_effective_policy|dnssec_mx_secure|mx_dane_valid|mx_tlsa_)")
dane_checked = bool(get("query", query="count(mtasts_domain_effective_policy)")["result"])
without_dane = []
for panel in dashboard["panels"]:
    for target in panel.get("targets", []):
        expr = target["expr"]
        for variable, value in substitutions.items():
            expr = expr.replace(variable, value)
        count += 1
        result = get("query", query=expr)["result"]
        if not result:
            if not reports_received and report_metrics.search(expr):
                without_reports.append(f'{panel["title"]} {target["refId"]}')
                continue
            if not dane_checked and dane_metrics.search(expr):
                without_dane.append(f'{panel["title"]} {target["refId"]}')
                continue
            failures.append(f'panel "{panel["title"]}" {target["refId"]}: no series for {expr}')
print(f"{count} panel queries checked")
if without_reports:
    print(f"{len(without_reports)} TLSRPT report queries without data: no report received yet")
if without_dane:
    print(f"{len(without_dane)} DANE queries without data: no domain has dane: on here")

expected = {
    "norecord.test": {"MtaStsRecordMissing"},
    "tworecords.test": {"MtaStsRecordInvalid"},
    "servfail.test": {"MtaStsRecordInvalid"},
    "expired.test": {"MtaStsPolicyCertInvalid", "MtaStsPolicyCertExpiringCritical"},
    "notfound.test": {"MtaStsPolicyFetchFailing"},
    "badpolicy.test": {"MtaStsPolicyInvalid"},
    "nomxcover.test": {"MtaStsMxNotCoveredEnforce"},
    "mxexpired.test": {"MtaStsMxCertInvalid", "MtaStsMxCertExpiringCritical"},
    "nostarttls.test": {"MtaStsMxStarttlsMissing"},
    "certsoon.test": {"MtaStsPolicyCertExpiringCritical"},
    "dualstack.test": {"MtaStsMxCertInvalid"},
    "policyv6.test": {"MtaStsPolicyInvalid"},
}
healthy = {"good.test", "testing.test", "none.test"}
deadline = time.time() + 60
while True:
    active = {}
    for alert in get("alerts")["alerts"]:
        if alert["state"] in ("pending", "firing"):
            domain = alert["labels"].get("domain", "")
            active.setdefault(domain, set()).add(alert["labels"]["alertname"])
    missing = {d: names - active.get(d, set()) for d, names in expected.items() if names - active.get(d, set())}
    if not missing or time.time() > deadline:
        break
    time.sleep(1)
for domain, names in sorted(missing.items()):
    failures.append(f"{domain}: expected alerts not active: {sorted(names)} (active: {sorted(active.get(domain, []))})")
for domain in sorted(healthy):
    if active.get(domain):
        failures.append(f"{domain} is healthy but has alerts: {sorted(active[domain])}")
print(f"{sum(len(v) for v in active.values())} alerts active over {len(active)} domains")
if failures:
    print("\n".join(failures))
    sys.exit(1)
PY
echo "e2e: 1 passed, 0 failed"
