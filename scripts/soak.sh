#!/usr/bin/env bash
# Soak (issue 17): the real exporter binary on a fake world (examples/
# fake_world.rs, bench world with hostile servers) under reload storms,
# scrape storms, /probe abuse, idle and slowloris connections and hostile
# `check` runs, for N minutes. Every 10 s it prints the exporter's RSS, open
# descriptors, series, probes in flight and domains configured; at the end
# the min/max of each column and a verdict. Exit 0 when the lines are flat,
# the exporter stayed up and answering, and it drains; 1 on a finding; 2 on a
# usage or set-up error.
#
#   scripts/soak.sh                      # 5 minutes, debug build
#   scripts/soak.sh --minutes 30 --release
#
# Flat means: for RSS, descriptors, series and in-flight, the largest value
# of the last quarter of the samples is at most the largest value of the
# first quarter plus 10 % plus a small slack (RSS 4 MiB, descriptors 10,
# series 50, in-flight 5). The maxima are compared, not single samples,
# because the domains configured change all the time (that is the storm);
# a leak shows as maxima that keep climbing. Descriptors swing by a few
# hundred within seconds after reloads (a burst of restarted probes), so a
# 1-3 minute run (4-18 samples) is a smoke test; judge on 10 minutes or more.
#
# Drain: after the storms the configuration is reloaded with no domains.
# Within 40 s `mtasts_probes_in_flight` must be 0 and no series with a
# `domain` label may be left.
#
# Only 127.0.0.1 is used: the exporter's resolver is the fake world's DNS,
# `/probe` only allows configured (fake) domains, and `check` only runs with
# the soak's configuration or with files it refuses. Every loop is bounded in
# count and time and ends by itself; the processes started are stopped by
# process group on exit, also on failure or Ctrl-C.
set -uo pipefail
cd "$(dirname "$0")/.."

usage() {
  cat >&2 <<'EOF'
usage: scripts/soak.sh [--minutes N] [--interval SECONDS] [--domains N] [--hostile H]
                       [--idle N] [--scrape-rate R] [--storms LIST] [--release] [--keep]
  --minutes N         length of the storms (default 5)
  --interval SECONDS  probe interval written into the world's config (default 15)
  --domains N         domains of the bench world (default 40)
  --hostile H         of which with hostile policy servers (default 6)
  --idle N            idle/slowloris connections held open (default 200)
  --scrape-rate R     /metrics requests per second in the scrape storm (default 20)
  --storms LIST       comma-separated subset of reload,scrape,probe,idle,check
                      (default: all; a subset tells which storm makes a column grow)
  --release           build and run the release binary (default: debug)
  --keep              keep the work directory (logs, configs) also on success
EOF
  exit 2
}

minutes=5 interval=15 domains=40 hostile=6 idle=200 scrape_rate=20 profile=debug keep=0
storms=reload,scrape,probe,idle,check
while (($#)); do
  case $1 in
    --minutes) minutes=${2:-}; shift 2 || usage ;;
    --interval) interval=${2:-}; shift 2 || usage ;;
    --domains) domains=${2:-}; shift 2 || usage ;;
    --hostile) hostile=${2:-}; shift 2 || usage ;;
    --idle) idle=${2:-}; shift 2 || usage ;;
    --scrape-rate) scrape_rate=${2:-}; shift 2 || usage ;;
    --storms) storms=${2:-}; shift 2 || usage ;;
    --release) profile=release; shift ;;
    --keep) keep=1; shift ;;
    *) usage ;;
  esac
done
for n in "$minutes" "$interval" "$domains" "$hostile" "$idle" "$scrape_rate"; do
  [[ $n =~ ^[0-9]+$ ]] || usage
done
((minutes >= 1 && minutes <= 1440)) || { echo "--minutes: 1 to 1440" >&2; exit 2; }
((interval >= 1)) || { echo "--interval: at least 1" >&2; exit 2; }
((domains >= 10 && domains <= 10000)) || { echo "--domains: 10 to 10000" >&2; exit 2; }
((hostile <= domains - 6)) || { echo "--hostile: at most --domains minus 6" >&2; exit 2; }
IFS=, read -ra storm_list <<<"$storms"
((${#storm_list[@]})) || usage
for storm in "${storm_list[@]}"; do
  [[ $storm =~ ^(reload|scrape|probe|idle|check)$ ]] || { echo "--storms: unknown storm $storm" >&2; exit 2; }
done
((scrape_rate >= 1 && scrape_rate <= 200)) || { echo "--scrape-rate: 1 to 200" >&2; exit 2; }
fd_limit=$(ulimit -n)
if [[ $fd_limit != unlimited ]] && ((idle > fd_limit / 4)); then
  echo "--idle $idle is too close to the descriptor limit $fd_limit (at most a quarter)" >&2
  exit 2
fi
command -v python3 >/dev/null || { echo "python3 is required (to pick a free port)" >&2; exit 2; }

smtp=4 hostile_smtp=2            # MX hosts with STARTTLS, of which hostile
sample_every=10
drain_seconds=40

echo "== building ($profile)"
build_flags=(--locked --quiet --bin mtasts-exporter --example fake_world)
[[ $profile == release ]] && build_flags+=(--release)
cargo build "${build_flags[@]}" || exit 2
exporter_bin=target/$profile/mtasts-exporter
world_bin=target/$profile/examples/fake_world

work=$(mktemp -d -t mtasts-soak.XXXXXX)
failed=0
# Job control: every background job is the leader of a process group of its
# own, so cleanup stops a storm together with the curl it is running.
set -m
pids=()
cleanup() {
  set +m
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if ((keep || failed)); then echo "work directory kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'echo "interrupted" >&2; failed=1; exit 130' INT TERM

now() { printf '%(%s)T' -1; }
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

echo "== starting the fake world: $domains domains, $hostile with hostile policy servers, $smtp STARTTLS MX hosts ($hostile_smtp hostile)"
"$world_bin" --bench "$domains" --smtp "$smtp" --hostile "$hostile" --hostile-smtp "$hostile_smtp" \
  "$work/world.yml" >"$work/world.log" 2>&1 &
world_pid=$!
pids+=("$world_pid")
wait_for 60 "the fake world" test -s "$work/world.yml" || { failed=1; exit 2; }

# The world's config, split into the settings (with a short interval, so
# probes churn) and the domain entries (name plus indented per-domain lines).
config=$work/soak.yml
header=$(sed -n '/^domains:/q;p' "$work/world.yml" | sed "s/^interval: .*/interval: ${interval}s/")
names=() extras=()
while IFS= read -r line; do
  if [[ $line =~ ^\ \ -\ (name:\ )?([^ ]+)$ ]]; then
    names+=("${BASH_REMATCH[2]}") extras+=("")
  elif [[ $line =~ ^\ \ \ \  ]] && ((${#names[@]})); then
    extras[-1]+="$line"$'\n'
  fi
done < <(sed -n '/^domains:/,$p' "$work/world.yml" | tail -n +2)
((${#names[@]} == domains)) || { echo "read ${#names[@]} domains from the world's config, expected $domains" >&2; failed=1; exit 2; }

# write_config KIND ROUND: the soak config, written atomically.
#   full    the world's domains
#   drop    a third of them removed (which third turns with ROUND)
#   change  half of them with a changed interval (restart with series kept)
#   extra   the world's domains and 5 names the fake DNS does not know
#   broken  the world's domains and an invalid one: the reload is refused
#   empty   no domains (the drain)
write_config() {
  local kind=$1 round=$2 i
  {
    printf '%s\n' "$header"
    if [[ $kind == empty ]]; then echo "domains: []"; else echo "domains:"; fi
    if [[ $kind != empty ]]; then
      for i in "${!names[@]}"; do
        [[ $kind == drop ]] && ((i % 3 == round % 3)) && continue
        printf '  - name: %s\n%s' "${names[i]}" "${extras[i]}"
        if [[ $kind == change ]] && ((i % 2 == round % 2)); then
          printf '    interval: %ss\n' $((interval + 1 + round % 3))
        fi
      done
    fi
    if [[ $kind == extra ]]; then
      for i in 1 2 3 4 5; do printf '  - extra%s.soak.test\n' $(((round + i) % 10)); done
    fi
    if [[ $kind == broken ]]; then printf '  - name: "bad..name"\n'; fi
  } >"$config.tmp" && mv "$config.tmp" "$config"
}
write_config full 0
cp "$config" "$work/check.yml" # for `check`: a copy no reload rewrites

port=$(free_port)
base="http://127.0.0.1:$port"
echo "== starting the exporter ($exporter_bin) on 127.0.0.1:$port, interval ${interval}s"
"$exporter_bin" --config.file "$config" --web.listen-address "127.0.0.1:$port" \
  --log.level warn >"$work/exporter.log" 2>&1 &
exporter_pid=$!
pids+=("$exporter_pid")
exec 3>&2 # wait_for silences its command; ready() reports through fd 3
ready() { # fails fast when the exporter has exited
  kill -0 "$exporter_pid" 2>/dev/null || { echo "the exporter exited at start-up:" >&3; cat "$work/exporter.log" >&3; failed=1; exit 1; }
  curl -sf --max-time 5 "$base/-/ready"
}
wait_for 120 "exporter readiness" ready || { failed=1; exit 1; }

start=$(now)
deadline=$((start + minutes * 60))
rounds_for() { echo $((minutes * 60 / $1 + 1)); } # bound on a loop's rounds at one round per $1 s
before_deadline() { (($(now) < deadline)); }

# --- the storms; each is a bounded loop in a process group of its own -----

reload_storm() { # one action every 2 s: a new config, then SIGHUP, POST, two POSTs or a burst
  local kinds=(full drop change extra change broken drop full change extra) round=0 max
  max=$(rounds_for 2)
  post() { curl -s -o /dev/null -w '%{http_code}\n' --max-time 30 -X POST "$base/-/reload" >>"$work/reload.codes"; }
  while ((round < max)) && before_deadline; do
    local kind=${kinds[round % ${#kinds[@]}]}
    write_config "$kind" "$round"
    case $((round % 4)) in
      0) kill -HUP "$exporter_pid" && echo HUP >>"$work/reload.codes" ;;
      1) post ;;
      2) post & post; wait ;;
      3) # three settings changes within one probe of the slow domains
        for b in 1 2 3; do
          write_config change $((round + b))
          kill -HUP "$exporter_pid" && echo HUP >>"$work/reload.codes"
          sleep 0.3
        done
        write_config "$kind" "$round"; post ;;
    esac
    round=$((round + 1))
    sleep 2
  done
}

scrape_storm() { # batches of 10 s of /metrics at --scrape-rate per second
  local round=0 max batch=$((scrape_rate * 10))
  max=$(rounds_for 10)
  while ((round < max)) && before_deadline; do
    curl -s --max-time 10 --rate "${scrape_rate}/s" -o /dev/null -w '%{http_code}\n' \
      "$base/metrics?soak=[1-$batch]" >>"$work/scrape.codes"
    round=$((round + 1))
  done
}

probe_storm() { # a round of valid and hostile /probe requests every ~4 s, at most 4/s
  local round=0 max long_target long_module slow=d$((domains - 1)).test urls
  max=$(rounds_for 4)
  long_target=$(printf 'a%.0s' $(seq 1 10000)).test
  long_module=$(printf 'm%.0s' $(seq 1 10000))
  urls=(
    "$base/probe?target=d5.test"                                # 200: configured
    "$base/probe?target=D5.TEST."                               # 200 or 400: case and trailing dot
    "$base/probe?target=d5.test&module=nope"                    # 400: unknown module
    "$base/probe?target=d5.test&module=$long_module"            # 400: 10 KB module
    "$base/probe?target=$long_target"                           # 400: 10 KB target
    "$base/probe?target=notconfigured.test"                     # 403: not allowed
    "$base/probe?target=xn--bcher-kva.test"                     # 403: IDN, not allowed
    "$base/probe?target=%00%ff%2F..%2Fetc"                      # 400: garbage
    "$base/probe"                                               # 400: no target
  )
  while ((round < max)) && before_deadline; do
    local args=()
    for url in "${urls[@]}"; do args+=(-o /dev/null "$url"); done
    curl -s -g --max-time 15 --rate 4/s -w '%{http_code}\n' "${args[@]}" >>"$work/probe.codes"
    # a slow (hostile) target, with Prometheus's timeout header
    curl -s --max-time 15 -o /dev/null -w '%{http_code}\n' \
      -H 'X-Prometheus-Scrape-Timeout-Seconds: 2' "$base/probe?target=$slow" >>"$work/probe.codes"
    if ((round % 10 == 5)); then # more at once than probe.max_concurrent (10): 503s expected
      args=()
      for _ in $(seq 1 15); do args+=(-o /dev/null "$base/probe?target=$slow"); done
      curl -s --no-progress-meter --max-time 15 --parallel --parallel-max 15 -w '%{http_code}\n' \
        "${args[@]}" >>"$work/probe.codes" 2>/dev/null
    fi
    round=$((round + 1))
    sleep 1
  done
}

idle_storm() { # --idle connections held 25 s (under the 30 s header timeout), then replaced
  trap '' PIPE
  local round=0 max fd held
  max=$(rounds_for 25)
  while ((round < max)) && before_deadline; do
    held=()
    for ((i = 0; i < idle; i++)); do
      exec {fd}<>"/dev/tcp/127.0.0.1/$port" || break
      # odd ones are slowloris: half a request, never finished
      ((i % 2)) && printf 'GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n' >&"$fd"
      held+=("$fd")
    done
    echo "${#held[@]}" >>"$work/idle.counts"
    for ((s = 0; s < 25; s++)); do before_deadline || break; sleep 1; done
    for fd in "${held[@]}"; do exec {fd}>&-; done
    round=$((round + 1))
  done
}

check_storm() { # one hostile `check` every 3 s, each bounded to 60 s; records the exit codes
  # $stable: the reload storm rewrites $config, also with broken ones
  local round=0 max stable=$work/check.yml bad_nesting=$work/nested.yml bom=$work/bom.yml many=()
  max=$(rounds_for 3)
  { printf 'domains: '; printf '[%.0s' $(seq 1 2000); } >"$bad_nesting"
  { printf '\xef\xbb\xbf'; cat "$stable"; } >"$bom"
  for i in $(seq 1 50); do many+=("nx$i.soak.test"); done
  local long
  long=$(printf 'a%.0s' $(seq 1 10000))
  local cases=(
    "configured|check --config.file $stable d5.test"
    "json|check --config.file $stable --output json d6.test nx.soak.test"
    "hostile-target|check --config.file $stable d$((domains - 1)).test"
    "10k-argument|check --config.file $stable $long.test"
    "invalid-names|check --config.file $stable -- -x .. a..b"
    "bad-output|check --config.file $stable --output xml d5.test"
    "nested-yaml|check --config.file $bad_nesting"
    "bom|check --config.file $bom d5.test"
    "missing-file|check --config.file $work/does-not-exist.yml"
    "50-unknown|check --config.file $stable ${many[*]}"
  )
  while ((round < max)) && before_deadline; do
    local entry=${cases[round % ${#cases[@]}]} rc
    # word splitting is wanted: the arguments contain no spaces
    # shellcheck disable=SC2086
    timeout 60 "$exporter_bin" ${entry#*|} >/dev/null 2>"$work/check.last"
    rc=$?
    echo "${entry%%|*} $rc" >>"$work/check.codes"
    # the longest line each case wrote to standard error (bad values should be echoed capped)
    echo "${entry%%|*} $(awk '{ if (length($0) > m) m = length($0) } END { print m + 0 }' "$work/check.last")" \
      >>"$work/check.longest"
    round=$((round + 1))
    sleep 3
  done
}

# --- sampling -------------------------------------------------------------

cols=(rss_kib fds series in_flight domains)
declare -A slack=([rss_kib]=4096 [fds]=10 [series]=50 [in_flight]=5)
samples=()        # "elapsed rss fds series in_flight domains", storms running
unanswered=0
metrics_now() { curl -s --max-time 5 "$base/metrics"; }
sample() { # prints the line and sets $last
  local elapsed=$(($(now) - start)) rss fds body series inflight configured
  rss=$(awk '/^VmRSS:/{print $2}' "/proc/$exporter_pid/status" 2>/dev/null) || rss=
  fds=$(ls "/proc/$exporter_pid/fd" 2>/dev/null | wc -l)
  if body=$(metrics_now) && [[ -n $body ]]; then
    series=$(grep -vc '^#' <<<"$body")
    inflight=$(awk '$1=="mtasts_probes_in_flight"{print $2}' <<<"$body")
    configured=$(awk '$1=="mtasts_domains_configured"{print $2}' <<<"$body")
  else
    series=- inflight=- configured=-
    unanswered=$((unanswered + 1))
  fi
  local reloads=0 refused=0
  [[ -f $work/reload.codes ]] && { reloads=$(wc -l <"$work/reload.codes"); refused=$(grep -c '^500' "$work/reload.codes"); }
  printf '%7s %9s %5s %7s %9s %8s %9s\n' "${elapsed}s" "${rss:--}" "$fds" "$series" "$inflight" "$configured" "$reloads/$refused"
  last="$elapsed ${rss:--} $fds $series $inflight $configured"
}
header_line() { printf '%7s %9s %5s %7s %9s %8s %9s\n' elapsed rss_kib fds series in_flight domains "reloads/refused"; }

echo "== soak: $minutes min; storms: $storms (scrapes $scrape_rate/s, $idle idle connections); a sample every ${sample_every}s"
header_line
sample
baseline=$last
storm_pids=()
for storm in "${storm_list[@]}"; do
  "${storm}_storm" &
  storm_pids+=($!)
  pids+=($!)
done

died=0
next=$((start + sample_every))
while (($(now) < deadline)); do
  while (($(now) < next)); do sleep 1; done
  if ! kill -0 "$exporter_pid" 2>/dev/null; then died=1; break; fi
  sample
  samples+=("$last")
  next=$((next + sample_every))
done

echo "== storms ending"
if ((died)); then # no use storming a dead process until the deadline
  for pid in "${storm_pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
fi
for pid in "${storm_pids[@]}"; do wait "$pid" 2>/dev/null; done
kill -0 "$exporter_pid" 2>/dev/null || died=1

drained=1 leftover=- drain_inflight=- drain_waited=0
if ((died)); then
  wait "$exporter_pid"
  echo "FINDING: the exporter died (exit status $?); last lines of its log:"
  tail -n 20 "$work/exporter.log"
else
  echo "== drain: reload with no domains; in-flight must reach 0 within ${drain_seconds}s"
  write_config empty 0
  curl -s --max-time 30 -X POST "$base/-/reload" -o /dev/null -w 'POST /-/reload %{http_code}\n'
  drained=0
  for ((drain_waited = 0; drain_waited <= drain_seconds; drain_waited++)); do
    body=$(metrics_now) || body=
    drain_inflight=$(awk '$1=="mtasts_probes_in_flight"{print $2}' <<<"$body")
    leftover=$(grep -v '^#' <<<"$body" | grep -c 'domain="')
    if [[ $drain_inflight == 0 && $leftover == 0 ]]; then drained=1; break; fi
    sleep 1
  done
  header_line
  sample
  drain_sample=$last
fi

# --- summary ---------------------------------------------------------------

tally() { [[ -f $1 ]] && sort "$1" | uniq -c | awk '{printf "%s%s x%s", sep, $2 (NF > 2 ? " " $3 : ""), $1; sep=", "} END{print ""}'; }
echo "== what the storms did"
echo "reloads (HUP or POST status): $(tally "$work/reload.codes")"
echo "scrapes (status):             $(tally "$work/scrape.codes")"
echo "/probe (status):              $(tally "$work/probe.codes")"
echo "idle connections per round:   $(tally "$work/idle.counts")"
echo "check (case exit-code):       $(tally "$work/check.codes")"
if [[ -f $work/check.longest ]]; then
  echo "check, longest stderr line:   $(sort -k2,2n "$work/check.longest" | tail -1 | awk '{print $2 " characters (" $1 ")"}')"
fi
echo "exporter log (warn and up):   $(wc -l <"$work/exporter.log") lines, longest $(awk '{ if (length($0) > m) m = length($0) } END { print m + 0 }' "$work/exporter.log") characters"

n=${#samples[@]}
echo "== min/max over $n samples with the storms running (before them: $baseline)"
verdict=0
if ((n >= 4)); then
  q=$((n / 4))
  for c in 0 1 2 3 4; do
    name=${cols[c]}
    values=()
    for s in "${samples[@]}"; do read -ra f <<<"$s"; values+=("${f[c + 1]}"); done
    numeric=()
    for v in "${values[@]}"; do [[ $v =~ ^[0-9]+$ ]] && numeric+=("$v"); done
    ((${#numeric[@]})) || { echo "$name: no values"; verdict=1; continue; }
    min=$(printf '%s\n' "${numeric[@]}" | sort -n | head -1)
    max=$(printf '%s\n' "${numeric[@]}" | sort -n | tail -1)
    first=$(printf '%s\n' "${values[@]:0:q}" | grep -E '^[0-9]+$' | sort -n | tail -1)
    last_q=$(printf '%s\n' "${values[@]:n-q}" | grep -E '^[0-9]+$' | sort -n | tail -1)
    if [[ -z ${slack[$name]:-} ]]; then
      printf '%-9s min %8s max %8s  (set by the storm, not judged)\n' "$name" "$min" "$max"
      continue
    fi
    limit=$((${first:-0} + ${first:-0} / 10 + ${slack[$name]}))
    if [[ -n $last_q && -n $first ]] && ((last_q <= limit)); then result=flat; else result=GROWING; verdict=1; fi
    printf '%-9s min %8s max %8s  first-quarter max %8s, last-quarter max %8s, limit %8s: %s\n' \
      "$name" "$min" "$max" "${first:--}" "${last_q:--}" "$limit" "$result"
  done
else
  echo "fewer than 4 samples: no flatness verdict"
  verdict=1
fi

echo "== verdict"
((died)) && { echo "FAIL: the exporter died"; verdict=1; }
if ((unanswered)); then echo "FAIL: /metrics did not answer within 5 s in $unanswered samples"; verdict=1; fi
if ((!died)); then
  if ((drained)); then
    echo "drained: in-flight 0 and no domain series ${drain_waited}s after a reload to no domains (fds $(cut -d' ' -f3 <<<"$drain_sample"), before the storms $(cut -d' ' -f3 <<<"$baseline"))"
  else
    echo "FAIL: not drained ${drain_seconds}s after a reload to no domains: mtasts_probes_in_flight ${drain_inflight:--}, $leftover series with a domain label"
    drain_fds=$(cut -d' ' -f3 <<<"$drain_sample") baseline_fds=$(cut -d' ' -f3 <<<"$baseline")
    if [[ ${drain_inflight:-0} != 0 ]] && ((drain_fds <= baseline_fds + 5)); then
      echo "      descriptors are back to $drain_fds (before the storms $baseline_fds): no probe holds a connection, so the gauge counts probes that no longer run"
    fi
    verdict=1
  fi
fi
crashed=$(awk '$2 != 0 && $2 != 1 && $2 != 2' "$work/check.codes" 2>/dev/null)
if [[ -n $crashed ]]; then
  echo "FAIL: check ended other than 0, 1 or 2 (124: timed out, 101: panic, >128: signal):"
  sort <<<"$crashed" | uniq -c
  verdict=1
fi
if ((verdict)); then failed=1; echo "soak: FAIL"; else echo "soak: flat"; fi
exit "$verdict"
