#!/usr/bin/env bash
# The fleet-scale benchmark on both worlds (issue 18, README "Performance"):
# the project's fake world (examples/fake_world.rs) and a world of real
# servers from Debian's packages (examples/real_world.rs: knot, nginx with a
# certificate per policy host, postfix), each at every size in SIZES, with
# STARTTLS off and on, at concurrency 256; at the largest size the real
# world also at each concurrency in SWEEP. One real world per size serves
# all its runs; every run is a fresh exporter process (examples/bench.rs),
# scraped every 15 s as Prometheus would. Prints the runs' tables and, at
# the end, one summary row per run.
#
#   scripts/real-world-bench.sh                    # 10,000 and 100,000 domains (about an hour on 2 cores)
#   SIZES=10000 SWEEP= scripts/real-world-bench.sh
#   scripts/real-world-bench.sh --quick            # 200 domains, real world only: a smoke test
#
# Needs root (postfix's queue belongs to the postfix user) and installs
# knot, nginx and postfix when missing. Everything listens on loopback at
# unprivileged ports chosen at start; no system service is started or
# touched; the daemons stop when the script ends (EXIT trap, and the
# kernel's parent-death signal should the world process itself die).
# Not part of `cargo test` or .ci/run: it is a benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZES="${SIZES:-10000 100000}"
SWEEP="${SWEEP:-128 512 1024}"
WORLDS="${WORLDS:-real fake}"
if [[ "${1:-}" == "--quick" ]]; then
    SIZES=200 SWEEP= WORLDS=real
fi

if ! command -v knotd >/dev/null || ! command -v nginx >/dev/null || ! command -v postfix >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends knot nginx postfix >/dev/null
fi
cargo build --release --examples
bin=target/release/examples
work="$(mktemp -d /tmp/mtasts-real-world-bench.XXXXXX)"
summaries="$work/summaries"
: >"$summaries"
world_pid=""

stop_world() {
    if [[ -n "$world_pid" ]]; then
        kill -TERM "$world_pid" 2>/dev/null || true
        wait "$world_pid" 2>/dev/null || true
        world_pid=""
    fi
}
cleanup() {
    stop_world
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

run() {
    "$bin/bench" --round-only "$@" | tee "$work/run.out"
    grep '^summary' "$work/run.out" >>"$summaries" || true
}

largest=$(tr ' ' '\n' <<<"$SIZES" | sort -n | tail -1)
for n in $SIZES; do
    for world in $WORLDS; do
        case "$world" in
        fake)
            run --world fake --domains "$n" --concurrency 256
            run --world fake --domains "$n" --concurrency 256 --starttls
            ;;
        real)
            rm -f "$work/world.yml"
            "$bin/real_world" --bench "$n" "$work/world.yml" &
            world_pid=$!
            until [[ -f "$work/world.yml" ]]; do
                kill -0 "$world_pid" 2>/dev/null || { echo "the real world did not start" >&2; exit 1; }
                sleep 1
            done
            run --attach "$work/world.yml" --world real --concurrency 256
            run --attach "$work/world.yml" --world real --concurrency 256 --starttls
            if [[ "$n" == "$largest" ]]; then
                for c in $SWEEP; do
                    run --attach "$work/world.yml" --world real --concurrency "$c"
                done
            fi
            stop_world
            ;;
        esac
    done
done

echo
echo "| world | domains | STARTTLS | concurrency | full round | exporter CPU | CPU per probe | peak RSS (scraped every 15 s) | /metrics render | /metrics size | probes started in the first second |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
sed 's/^summary //' "$summaries"
