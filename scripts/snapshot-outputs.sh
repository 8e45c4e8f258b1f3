#!/usr/bin/env bash
# Snapshot what the exporter shows of the fake world, with timings,
# timestamps and per-run certificate values masked, so two builds can be
# compared byte for byte (the restructure's "behaviour unchanged" check):
#
#   scripts/snapshot-outputs.sh OLD_BIN OLD_FAKE_WORLD /tmp/before
#   scripts/snapshot-outputs.sh NEW_BIN NEW_FAKE_WORLD /tmp/after
#   diff -r /tmp/before /tmp/after
#
# Everything listens on loopback only.
set -euo pipefail
exporter=$1 world=$2 out=$3
mkdir -p "$out"
dir=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
"$world" "$dir/world.yml" >"$dir/world.log" 2>&1 &
world_pid=$!
trap 'kill $world_pid ${exporter_pid:-} 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 100); do [ -s "$dir/world.yml" ] && break; sleep 0.1; done
sleep 0.5
# Masks: durations, timestamps, certificate validity (the fake world issues
# fresh certificates on each start) and the serial/fingerprint text.
mask() {
  sed -E \
    -e 's/("(timestamp|duration_seconds|not_after|not_before)": )[0-9.e+-]+/\1N/g' \
    -e 's/(_seconds(_bucket|_sum|_count)?\{[^}]*\} )[0-9.e+-]+/\1N/' \
    -e 's/^(mtasts_probe_(duration|timestamp)_seconds\{[^}]*\}) .*/\1 N/' \
    -e 's/^(mtasts_(policy|mx|cert)[a-z_]*expiry_timestamp_seconds\{[^}]*\}) .*/\1 N/' \
    -e 's/^(mtasts_policy_fetch_success_timestamp_seconds\{[^}]*\}) .*/\1 N/' \
    -e 's/^(process_[a-z_]+) .*/\1 N/' \
    -e 's/^(mtasts_config_last_reload_success_timestamp_seconds) .*/\1 N/' \
    -e 's/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z/DATE/g' \
    -e 's/: (OK|FAIL|INCOMPLETE) \([0-9.]+s\)/: \1 (Ns)/'
}
"$exporter" check --config.file "$dir/world.yml" --output json | mask >"$out/check.json" || true
"$exporter" check --config.file "$dir/world.yml" --output text | mask >"$out/check.txt" || true
"$exporter" --config.file "$dir/world.yml" --web.listen-address "127.0.0.1:$port" >"$dir/exporter.log" 2>&1 &
exporter_pid=$!
for _ in $(seq 300); do
  curl -sf "http://127.0.0.1:$port/-/ready" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -s "http://127.0.0.1:$port/metrics" | grep -v '^mtasts_phase_duration_seconds_bucket' | mask >"$out/metrics.txt"
curl -s "http://127.0.0.1:$port/probe?target=good.test" | grep -v '_bucket' | mask >"$out/probe.txt"
echo "snapshot in $out: $(wc -l <"$out/metrics.txt") metric lines, $(wc -c <"$out/check.json") bytes of JSON"
