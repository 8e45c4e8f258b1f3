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
# DANE (issue 15), on by default: at each size in DANE_SIZES (10000) the
# real world is started signed (`real_world --dnssec`: knot signs `test.`
# and a root zone, TLSA records for the MX hosts, the exporter trusts the
# root's key) and serves all that size's runs (the other runs keep DANE
# off); then `bench --dane` runs the pair: a warm-up round, a round with
# DANE off and one with DANE on, each a fresh exporter, STARTTLS on every
# domain, and a `dane-cost` row (round, CPU per probe, DNS queries knot
# answered per domain, load average). DANE=0 leaves the pair out.
#
#   scripts/real-world-bench.sh                    # 10,000 and 100,000 domains (about an hour on 2 cores)
#   SIZES=10000 SWEEP= scripts/real-world-bench.sh
#   SIZES=10000 SWEEP= WORLDS=real scripts/real-world-bench.sh   # with the DANE pair at 10,000
#   DANE=0 scripts/real-world-bench.sh             # without the DANE pair
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
DANE="${DANE:-1}"
DANE_SIZES="${DANE_SIZES:-10000}"
if [[ "${1:-}" == "--quick" ]]; then
    SIZES=200 SWEEP= WORLDS=real DANE_SIZES=200
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
dane_costs="$work/dane-costs"
: >"$summaries"
: >"$dane_costs"
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
    grep '^dane-cost' "$work/run.out" >>"$dane_costs" || true
}

# Whether the DANE pair runs at size $1.
dane_at() {
    [[ "$DANE" == 1 ]] && tr ' ' '\n' <<<"$DANE_SIZES" | grep -qx "$1"
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
            signed=()
            if dane_at "$n"; then
                signed=(--dnssec)
            fi
            "$bin/real_world" --bench "$n" "${signed[@]}" "$work/world.yml" &
            world_pid=$!
            until [[ -f "$work/world.yml" ]]; do
                kill -0 "$world_pid" 2>/dev/null || { echo "the real world did not start" >&2; exit 1; }
                sleep 1
            done
            run --attach "$work/world.yml" --world real --concurrency 256
            run --attach "$work/world.yml" --world real --concurrency 256 --starttls
            if dane_at "$n"; then
                run --attach "$work/world.yml" --world real --concurrency 256 --dane
            fi
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
echo "| world | domains | STARTTLS | concurrency | full round | exporter CPU | CPU per probe | peak RSS (scraped every 15 s) | /metrics render | /metrics size | probes started in the first second | DANE | failed | load average at the end |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
sed 's/^summary //' "$summaries"
if [[ -s "$dane_costs" ]]; then
    echo
    echo "What DANE with DNSSEC validation costs (real world, STARTTLS on every domain; the DANE off row above it is the same world):"
    echo "| domains | concurrency | round, DANE off | round, DANE on | CPU per probe, off | CPU per probe, on | DANE's CPU per probe | DNS queries per domain, off | on | failed off / on | load average at the end, off / on |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|"
    sed 's/^dane-cost //' "$dane_costs"
fi
