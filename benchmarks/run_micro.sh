#!/usr/bin/env bash
# Builds Orca's micro benchmarks (release preset), runs them next to the peers'
# micro programs (../shared/peers: tokio_micro, go_micro, threads_micro) in the
# same run, alternating Orca / Tokio / Go for ROUNDS rounds, and prints a markdown
# table: workload | Orca | threads | Tokio | Go | ratio Orca/Tokio.
#
# The "threads" column is the plain-thread equivalent written in this repo
# (benchmarks/micro_threads.c), so it needs nothing from outside; the peers'
# threads_micro is run once as a cross-check and printed under the table.
# A peer binary that is missing is reported as such, never a failure.
#
# Usage: benchmarks/run_micro.sh            (about 2.5-2.8 minutes on 2 cores)
# Environment:
#   ROUNDS=3         alternating rounds (each program's figure: median over rounds)
#   REPS=3           repetitions inside each program per round (their median)
#   WORKERS=2        workers for the Tokio / Go peers (Orca's rows name theirs)
#   PEERS_DIR=...    default: <repo>/../shared/peers
#   MAX_LOAD=1.0     warn when the 1-minute load average is above this
#   WAIT_LOAD=0      seconds to wait for the load to drop below MAX_LOAD first
#   SKIP_BUILD=1     use the existing build/release binary
#   THREADS_PEER=0   skip the peers' threads_micro cross-check (saves ~15 s)
#   ORCA_SOURCE_NOTE what to print as the source (e.g. for an exported tree)
# Output: the table on stdout, and in benchmarks/results/micro.md; raw outputs of
# every program in benchmarks/results/micro_raw/.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
ROUNDS="${ROUNDS:-3}"
REPS="${REPS:-3}"
WORKERS="${WORKERS:-2}"
PEERS_DIR="${PEERS_DIR:-$root/../shared/peers}"
MAX_LOAD="${MAX_LOAD:-1.0}"
WAIT_LOAD="${WAIT_LOAD:-0}"
THREADS_PEER="${THREADS_PEER:-1}"
out_dir="$here/results"
raw="$out_dir/micro_raw"
bench="$root/build/release/benchmarks/bench_micro"

log() { printf '[run_micro %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# ---- build ----
if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
  log "building (cmake --preset release; cmake --build build/release --target bench_micro)"
  (cd "$root" && cmake --preset release >/dev/null && cmake --build build/release --target bench_micro >/dev/null)
fi
[[ -x "$bench" ]] || { echo "run_micro: $bench was not built" >&2; exit 1; }
# What the binary was built from, read right after the build (others may commit
# or edit while the benchmarks run).
source_note="${ORCA_SOURCE_NOTE:-not a git checkout}"
if [[ -z "${ORCA_SOURCE_NOTE:-}" ]] && git -C "$root" rev-parse --git-dir >/dev/null 2>&1; then
  dirty="$(git -C "$root" status --porcelain -- CMakeLists.txt include runtime io sync 2>/dev/null | awk '{print $2}' | tr '\n' ' ')"
  source_note="commit $(git -C "$root" rev-parse --short HEAD)${dirty:+, with uncommitted changes in: $dirty}"
fi

# ---- peers ----
PEERS_DIR="$(cd "$PEERS_DIR" 2>/dev/null && pwd || echo "$PEERS_DIR")"
find_bin() { for p in "$@"; do [[ -x "$p" ]] && { echo "$p"; return; }; done; echo ""; }
tokio_bin="$(find_bin "$PEERS_DIR/tokio/target/release/tokio_micro")"
go_bin="$(find_bin "$PEERS_DIR/go/bin/go_micro" "$PEERS_DIR/go/go_micro/go_micro")"
threads_bin="$(find_bin "$PEERS_DIR/threads/threads_micro")"
missing_note=""
[[ -n "$tokio_bin" ]] || missing_note+="Tokio peer missing: no $PEERS_DIR/tokio/target/release/tokio_micro (build: $PEERS_DIR/build.sh). "
[[ -n "$go_bin" ]] || missing_note+="Go peer missing: no $PEERS_DIR/go/bin/go_micro (build: $PEERS_DIR/build.sh). "
[[ -n "$threads_bin" || "$THREADS_PEER" != 1 ]] || missing_note+="threads_micro peer missing: no $PEERS_DIR/threads/threads_micro. "
[[ -z "$missing_note" ]] || log "$missing_note"

# ---- load ----
load1() { cut -d' ' -f1 /proc/loadavg; }
above() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a > b) }'; }
waited=0
while above "$(load1)" "$MAX_LOAD" && (( waited < WAIT_LOAD )); do
  log "load $(load1) > $MAX_LOAD; waiting ($waited/${WAIT_LOAD}s)"
  sleep 10
  waited=$((waited + 10))
done
load_before="$(load1)"
if above "$load_before" "$MAX_LOAD"; then
  log "WARNING: 1-minute load average $load_before > $MAX_LOAD: figures will be noisy"
fi

rm -rf "$raw"
mkdir -p "$raw"

# Each program's output becomes lines "key value" in $raw/<prog>.<round>.
run_orca() { # round
  local json="$raw/orca.$1.json"
  ORCA_BENCH_REPS="$REPS" timeout 300 "$bench" --benchmark_out="$json" \
    --benchmark_out_format=json >"$raw/orca.$1.console" 2>&1 ||
    { echo "run_micro: bench_micro failed (see $raw/orca.$1.console)" >&2; exit 1; }
  # "name": "X/iterations:N/manual_time" ... "value": V  ->  "X V"
  awk '/"name":/ { n = $2; gsub(/[",]/, "", n); sub(/\/iterations:.*/, "", n) }
       /"value":/ { v = $2; gsub(/,/, "", v); printf "%s %s\n", n, v + 0 }
       /"cross_thread_pct":/ { v = $2; gsub(/,/, "", v); printf "%s:cross_pct %s\n", n, v + 0 }' \
    "$json" >"$raw/orca.$1"
}
run_peer() { # name bin round args...
  local name="$1" bin="$2" round="$3"
  shift 3
  [[ -n "$bin" ]] || return 0
  timeout 300 "$bin" "$@" >"$raw/$name.$round" 2>"$raw/$name.$round.err" ||
    log "$name exited with an error (see $raw/$name.$round.err); its figures may be incomplete"
}

# Other processes busy right now (>= 20% CPU over their life, not ours): the usual
# source of noise on a shared 2-core machine.
busy_others() {
  ps -eo pid=,ppid=,pcpu=,comm= | awk -v me=$$ '$1 != me && $2 != me && $3 >= 20 { printf "%s(%s%%) ", $4, $3 }'
}
competing=""
start=$(date +%s)
for ((r = 1; r <= ROUNDS; r++)); do
  b="$(busy_others)"
  [[ -z "$b" ]] || { competing+="round $r: $b; "; log "busy besides us: $b"; }
  log "round $r/$ROUNDS: Orca (bench_micro, ${REPS} reps; ~35 s)"
  run_orca "$r"
  if [[ -n "$tokio_bin" ]]; then
    log "round $r/$ROUNDS: Tokio (tokio_micro $WORKERS $REPS)"
    run_peer tokio "$tokio_bin" "$r" "$WORKERS" "$REPS"
  fi
  if [[ -n "$go_bin" ]]; then
    log "round $r/$ROUNDS: Go (go_micro $WORKERS $REPS)"
    run_peer go "$go_bin" "$r" "$WORKERS" "$REPS"
  fi
done
if [[ -n "$threads_bin" && "$THREADS_PEER" == 1 ]]; then
  log "cross-check: threads_micro 1"
  run_peer threads_micro "$threads_bin" 1 1
fi
elapsed=$(( $(date +%s) - start ))

# ---- table ----
# value PROG KEY: median over rounds of KEY in $raw/PROG.*; empty when absent.
value() {
  { cat "$raw/$1".[0-9]* 2>/dev/null || true; } | awk -v k="$2" '$1 == k { v[n++] = $2 }
    END { if (!n) exit
          for (i = 1; i < n; i++) for (j = i; j > 0 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
          print (n % 2) ? v[(n - 1) / 2] : (v[n / 2 - 1] + v[n / 2]) / 2 }'
}
fmt() { # number -> rounded text, or the fallback
  [[ -n "$1" ]] || { echo "${2:-–}"; return; }
  awk -v x="$1" 'BEGIN { if (x >= 100) printf "%.0f", x; else if (x >= 10) printf "%.1f", x; else printf "%.2f", x }'
}
scale() { [[ -n "$1" ]] && awk -v x="$1" -v f="$2" 'BEGIN { print x * f }' || true; }
ratio() { [[ -n "$1" && -n "$2" ]] && awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b }' || echo "–"; }
peer_cell() { # present? value
  if [[ -z "$1" ]]; then echo "missing"; else fmt "$2"; fi
}

table="$out_dir/micro.md"
tsv="$out_dir/micro.tsv"
: >"$tsv"
{
  echo "| workload | Orca | threads | Tokio | Go | ratio Orca/Tokio |"
  echo "|---|---|---|---|---|---|"
  # row LABEL ORCA THREADS TOKIO GO [CHART_LABEL]
  # (tokio/go: "" = not comparable, "-" = no such bench). Besides the markdown row,
  # each row goes to micro.tsv for benchmarks/run.sh's report and chart (every micro
  # figure is lower-is-better; rows with a CHART_LABEL are drawn on the chart).
  row() {
    local label="$1" o="$2" t="$3" tk="$4" g="$5" tkc gc tkv gv
    if [[ "$tk" == "-" ]]; then tkc="–"; tk=""; tkv=""; else tkc="$(peer_cell "$tokio_bin" "$tk")"; tkv="$tk"; [[ -n "$tokio_bin" ]] || tkv=missing; fi
    if [[ "$g" == "-" ]]; then gc="–"; gv=""; else gc="$(peer_cell "$go_bin" "$g")"; gv="$g"; [[ -n "$go_bin" ]] || gv=missing; fi
    echo "| $label | $(fmt "$o") | $(fmt "$t") | $tkc | $gc | $(ratio "$o" "$tk") |"
    printf 'micro\t%s\t%s\tlower\t%s\t%s\t%s\t%s\n' "$label" "${6:-}" "$o" "$t" "$tkv" "$gv" >>"$tsv"
  }
  tk_sj="$(value tokio spawn_join)"; go_sj="$(value go spawn_join)"
  th_sj="$(value orca threads_spawn_join/n:10000/outstanding:1000)"
  row "spawn+join stackless, ns/task (1M spawned, then joined; 2 workers)" \
    "$(value orca orca_spawn_join_stackless/workers:2/n:1000000/outstanding:1000000)" \
    "$th_sj" "$tk_sj" "$go_sj" "spawn+join stackless"
  row "spawn+join stackful, ns/task (100k spawned, then joined; 2 workers)" \
    "$(value orca orca_spawn_join_stackful/workers:2/n:100000/outstanding:100000/stack_cache:0)" \
    "$th_sj" "$tk_sj" "$go_sj"
  row "spawn+join stackful, ns/task (1000 at a time; 2 workers)" \
    "$(value orca orca_spawn_join_stackful/workers:2/n:100000/outstanding:1000/stack_cache:0)" \
    "$th_sj" "$tk_sj" "$go_sj" "spawn+join stackful"
  row "spawn+join stackful, ns/task (1000 at a time, stack_cache=100000, warm; 2 workers)" \
    "$(value orca orca_spawn_join_stackful/workers:2/n:100000/outstanding:1000/stack_cache:100000)" \
    "$th_sj" "$tk_sj" "$go_sj"
  row "spawn then join at once, stackful, ns/task (2 workers)" \
    "$(value orca orca_spawn_join_stackful/workers:2/n:100000/outstanding:1/stack_cache:0)" \
    "$(value orca threads_spawn_join/n:10000/outstanding:1)" - -
  row "spawn then join at once, stackless, ns/task (2 workers)" \
    "$(value orca orca_spawn_join_stackless/workers:2/n:1000000/outstanding:1)" \
    "$(value orca threads_spawn_join/n:10000/outstanding:1)" - -
  row "yield, one task alone, ns (1 worker)" \
    "$(value orca orca_yield_alone/workers:1/n:1000000)" "" - -
  row "task switch: 2 tasks yielding alternately, ns (1 worker; threads: futex hand-off on 1 CPU)" \
    "$(value orca orca_yield_many/workers:1/tasks:2/n:1000000)" \
    "$(value orca threads_futex_switch/n:100000)" - - "task switch"
  row "yield_many: 100 tasks x 10k yields, ns/yield (2 workers)" \
    "$(value orca orca_yield_many/workers:2/tasks:100/n:10000)" "" \
    "$(value tokio yield_many)" "$(value go yield_many)" "yield many"
  row "raw context switch, runtime's asm, no scheduler, ns (floor)" \
    "$(value orca orca_raw_switch/n:10000000)" "" - -
  row "wake task->task, ping-pong RTT/2, ns (2 workers; threads: condvar; Tokio/Go: channel RTT/2)" \
    "$(value orca orca_task_pingpong/workers:2/n:200000)" \
    "$(value orca threads_condvar_pingpong/n:50000)" \
    "$(scale "$(value tokio chan_pingpong)" 0.5)" "$(scale "$(value go chan_pingpong)" 0.5)" "wake ping-pong"
  row "wake plain thread<->task, RTT/2, ns (2 workers; threads: condvar)" \
    "$(value orca orca_thread_task_pingpong/workers:2/n:50000)" \
    "$(value orca threads_condvar_pingpong/n:50000)" - -
  # Issue 4: channels and sync; the peers' shapes (u64, two capacity-1 channels; Go's
  # are unbuffered), ns per round trip / per lock, not halved.
  row "channel ping-pong, ns/round trip (u64, cap 1, 1M; 2 workers)" \
    "$(value orca orca_chan_pingpong/workers:2/n:1000000/cap:1)" "" \
    "$(value tokio chan_pingpong)" "$(value go chan_pingpong)" "channel ping-pong"
  row "channel throughput, 1 producer -> 1 consumer, ns/msg (cap 128; 2 workers)" \
    "$(value orca orca_chan_throughput/workers:2/producers:1/n:1000000/cap:128)" "" - -
  row "channel throughput, 4 producers -> 1 consumer, ns/msg (cap 128; 2 workers)" \
    "$(value orca orca_chan_throughput/workers:2/producers:4/n:1000000/cap:128)" "" - -
  row "mutex, 4 tasks x 250k lock+inc+unlock, ns/lock (2 workers; threads: 4 threads, pthread_mutex)" \
    "$(value orca orca_mutex_contention/workers:2/tasks:4/n:250000)" \
    "$(value orca threads_mutex_contention/threads:4/n:250000)" \
    "$(value tokio mutex_contention)" "$(value go mutex_contention)" "mutex contended"
  row "pipe ping-pong, 1 byte through two pipes, ns/round trip (2 workers; threads: blocking read/write)" \
    "$(value orca orca_pipe_pingpong/workers:2/n:100000)" \
    "$(value orca threads_pipe_pingpong/n:100000)" - - "pipe ping-pong"
  row "semaphore acquire+release, uncontended, ns/pair" \
    "$(value orca orca_semaphore_uncontended/workers:2/n:10000000)" "" - -
  tk_sl="$(scale "$(value tokio sleep_many_ns)" 1e-6)"; go_sl="$(scale "$(value go sleep_many_ns)" 1e-6)"
  th_sl="$(value orca threads_sleepers/n:10000)"
  row "100k concurrent 1 ms sleeps, stackful, wall ms (2 workers; threads: 10k threads)" \
    "$(value orca orca_sleepers_stackful/workers:2/n:100000/stack_cache:0)" "$th_sl" "$tk_sl" "$go_sl"
  row "100k concurrent 1 ms sleeps, stackful, stack_cache=100000, warm, wall ms (2 workers)" \
    "$(value orca orca_sleepers_stackful/workers:2/n:100000/stack_cache:100000)" "$th_sl" "$tk_sl" "$go_sl"
  row "100k concurrent 1 ms sleeps, stackful, stack_cache=100000, warm, wall ms (1 worker)" \
    "$(value orca orca_sleepers_stackful/workers:1/n:100000/stack_cache:100000)" "$th_sl" "$tk_sl" "$go_sl"
  row "100k concurrent 1 ms sleeps, stackless, wall ms (2 workers)" \
    "$(value orca orca_sleepers_stackless/workers:2/n:100000)" "$th_sl" "$tk_sl" "$go_sl" "100k sleeps"
  tk_rss="$(value tokio rss_per_parked_task_bytes)"; go_rss="$(value go rss_per_parked_task_bytes)"
  th_rss="$(value orca threads_rss_parked/n:10000)"
  row "resident bytes per parked stackful task (10k; threads: 10k, 64 KiB stacks)" \
    "$(value orca orca_rss_stackful/workers:2/n:10000)" "$th_rss" "$tk_rss" "$go_rss"
  row "resident bytes per parked stackful task (100k)" \
    "$(value orca orca_rss_stackful/workers:2/n:100000)" "$th_rss" "$tk_rss" "$go_rss" "RSS/task stackful"
  row "resident bytes per parked stackless task (100k)" \
    "$(value orca orca_rss_stackless/workers:2/n:100000)" "$th_rss" "$tk_rss" "$go_rss" "RSS/task stackless"
  echo
  cross="$(value orca orca_task_pingpong/workers:2/n:200000:cross_pct)"
  echo "Task ping-pong: the two tasks ran on different worker threads in $(fmt "$cross" "?")% of round trips."
  if [[ -s "$raw/threads_micro.1" ]]; then
    echo "Peer threads_micro (1 rep) cross-check: $(tr '\n' ';' <"$raw/threads_micro.1" | sed 's/;$//; s/;/; /g')"
  fi
  echo "Source: $source_note"
  echo "Run: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, kernel $(uname -r), 1-min load $load_before before the run, ${ROUNDS} rounds x ${REPS} reps, ${elapsed} s."
  echo "Other busy processes seen: ${competing:-none}"
  [[ -z "$missing_note" ]] || echo "$missing_note"
} >"$table"
cat "$table"
