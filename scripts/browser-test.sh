#!/usr/bin/env bash
# The status page in a real browser: the fake world (examples/fake_world.rs)
# and the exporter on 127.0.0.1, then tests/browser/status-page.test.mjs
# (node's test runner, playwright-core driving Debian's headless Chromium
# with JavaScript off). Installs what it needs: chromium from Debian, and
# playwright-core from npm with the lockfile (never a browser download).
#
#   bash scripts/browser-test.sh                   # the test (CI)
#   bash scripts/browser-test.sh --screenshot      # and refresh docs/status-page.png
#
# Everything started is stopped by PID at the end, also on failure.
set -euo pipefail
cd "$(dirname "$0")/.."

screenshot=""
if [ "${1:-}" = "--screenshot" ]; then screenshot="$PWD/docs/status-page.png"; fi

if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing ${missing[*]} (Debian packages)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v python3 >/dev/null || { echo "python3 is required" >&2; exit 1; }

echo "== playwright-core (npm ci, tests/browser/package-lock.json)"
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error

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

port=$(free_port)
echo "== starting the exporter on 127.0.0.1:$port"
target/debug/mtasts-exporter --config.file "$work/world.yml" \
  --web.listen-address "127.0.0.1:$port" --log.level warn >"$work/exporter.log" 2>&1 &
pids+=($!)
wait_for 60 "exporter readiness" curl -sf "http://127.0.0.1:$port/-/ready"

echo "== the status page in headless Chromium ($(chromium --version 2>/dev/null | head -1))"
started=$(date +%s)
status=0
EXPORTER_URL="http://127.0.0.1:$port" SCREENSHOT="${screenshot:-$work/status-page.png}" \
  node --test tests/browser/status-page.test.mjs || status=$?
echo "browser test: $(($(date +%s) - started)) s"
if [ "$status" != 0 ]; then
  echo "--- exporter log"; tail -n 50 "$work/exporter.log"
  exit "$status"
fi
if [ -n "$screenshot" ]; then echo "screenshot: $screenshot"; fi
