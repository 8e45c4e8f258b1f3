#!/usr/bin/env bash
# Checks what /metrics answers on the fake world, as scrapers read it:
# the text format with `promtool check metrics`, OpenMetrics 1.0 with the
# strict parser of the Python client library, and the gzip encoding.
# Everything listens on loopback. Needs: cargo, curl, promtool (Debian's
# prometheus package) and pip (for prometheus-client).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v promtool >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq prometheus >/dev/null; }
python3 -c 'import prometheus_client' 2>/dev/null || pip install -q 'prometheus-client==0.26.0'
cargo build --locked --quiet --bin mtasts-exporter --example fake_world
dir=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
target/debug/examples/fake_world "$dir/world.yml" >"$dir/world.log" 2>&1 &
world=$!
trap 'kill $world ${exporter:-} 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 100); do [ -s "$dir/world.yml" ] && break; sleep 0.1; done
target/debug/mtasts-exporter --config.file "$dir/world.yml" --web.listen-address "127.0.0.1:$port" >"$dir/exporter.log" 2>&1 &
exporter=$!
for _ in $(seq 300); do
  curl -sf "http://127.0.0.1:$port/-/ready" >/dev/null 2>&1 && break
  sleep 0.2
done
url="http://127.0.0.1:$port/metrics"
prometheus_accept='application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1'

curl -sf "$url" >"$dir/text.txt"
# promtool prints lint findings and exits non-zero on a parse error.
lint=$(promtool check metrics <"$dir/text.txt" 2>&1 || true)
if [ -n "$lint" ]; then echo "promtool check metrics:"; echo "$lint"; exit 1; fi
echo "text format: $(grep -vc '^#' "$dir/text.txt") samples, promtool clean"

curl -sf -D "$dir/om.headers" -H "Accept: $prometheus_accept" "$url" >"$dir/om.txt"
grep -qi '^content-type: application/openmetrics-text; version=1.0.0' "$dir/om.headers"
python3 - "$dir/om.txt" <<'PY'
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
families = list(text_string_to_metric_families(open(sys.argv[1]).read()))
print(f"OpenMetrics: {len(families)} families, {sum(len(f.samples) for f in families)} samples, strict parser clean")
PY

curl -sf -D "$dir/gz.headers" -H 'Accept-Encoding: gzip' "$url" -o "$dir/body.gz"
grep -qi '^content-encoding: gzip' "$dir/gz.headers"
gunzip -c "$dir/body.gz" >"$dir/gunzipped.txt"
# The same exposition, but for the values that moved between the scrapes.
if [ "$(grep -c '' "$dir/gunzipped.txt")" -lt "$(grep -c '^# TYPE' "$dir/text.txt")" ]; then
  echo "gzip answer does not decompress to an exposition"; exit 1
fi
echo "gzip: $(wc -c <"$dir/body.gz") bytes for $(wc -c <"$dir/gunzipped.txt") bytes of exposition"

# /probe negotiates the same way: the text format for promtool, OpenMetrics
# for the strict parser when asked, gzip when allowed.
probe_url="http://127.0.0.1:$port/probe?target=mxmiss.test"
curl -sf "$probe_url" >"$dir/probe.txt"
lint=$(promtool check metrics <"$dir/probe.txt" 2>&1 || true)
if [ -n "$lint" ]; then echo "promtool check metrics (/probe):"; echo "$lint"; exit 1; fi
curl -sf -D "$dir/probe-om.headers" -H "Accept: $prometheus_accept" -H 'Accept-Encoding: gzip' "$probe_url" -o "$dir/probe-om.gz"
grep -qi '^content-type: application/openmetrics-text; version=1.0.0' "$dir/probe-om.headers"
grep -qi '^content-encoding: gzip' "$dir/probe-om.headers"
gunzip -c "$dir/probe-om.gz" >"$dir/probe-om.txt"
python3 - "$dir/probe-om.txt" <<'PY'
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
families = list(text_string_to_metric_families(open(sys.argv[1]).read()))
success = [s for f in families for s in f.samples if s.name == "mtasts_probe_success"]
assert success and success[0].value == 0, f"mxmiss.test should fail: {success}"
print(f"/probe: text format promtool clean; OpenMetrics gzip {len(families)} families, strict parser clean")
PY
