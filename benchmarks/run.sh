#!/usr/bin/env bash
# The benchmark suite in one command: Orca against plain threads (written in this
# repo) and, where ../shared/peers has been built, Tokio and Go, in one run on one
# machine. It builds what it needs, runs
#   1. the micro benchmarks       (benchmarks/run_micro.sh: spawn/join, switch, wake,
#                                  timers, channels, mutex, memory per parked task)
#   2. the server benchmarks      (benchmarks/run_servers.sh: HTTP and echo; throughput
#                                  and server CPU per request; Orca on io_uring and on
#                                  its epoll backend)
#   3. the memory probes          (bench_memory: resident bytes per idle task and per
#                                  idle thread, most concurrent tasks and threads)
# and writes benchmarks/results/report.md (one table: workload, Orca, threads, Tokio,
# Go and the ratios) and benchmarks/results/chart.svg (the ratios as bars), then
# prints the table. A full run also copies both to benchmarks/results/full/, the copy
# the README shows.
#
# Usage: benchmarks/run.sh [quick|full]
#   quick: one round, short runs, the 256-connection server workloads, small memory
#          probes (about 1.5 minutes after the build)
#   full:  3 rounds of everything, memory probes up to 1M tasks (about 12 minutes)
# Environment: PEERS_DIR (default <repo>/../shared/peers), SKIP_BUILD=1,
# REPORT_ONLY=1 (no runs: remake the report and chart from the last run's .tsv
# files), and what run_micro.sh / run_servers.sh take (WORKERS, MAX_LOAD, ...).
# Loopback only; every load run is bounded in time.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
mode="${1:-quick}"
case "$mode" in
quick) micro_rounds=1 micro_reps=1 server_mode=quick workloads="http256 echo256" memory_args=--quick ;;
full) micro_rounds=3 micro_reps=3 server_mode=full workloads="http64 http256 echo64 echo256" memory_args="" ;;
*)
	echo "usage: $0 [quick|full]" >&2
	exit 2
	;;
esac
export PEERS_DIR="${PEERS_DIR:-$root/../shared/peers}"
out="$here/results"
mkdir -p "$out"
build_dir="$root/build/release"
steps=4
step() { printf '\n[run %s] == step %s/%s: %s\n' "$(date +%H:%M:%S)" "$1" "$steps" "$2" >&2; }
log() { printf '[run %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
started=$(date +%s)

commit="not a git checkout"
if git -C "$root" rev-parse --git-dir >/dev/null 2>&1; then
	commit="$(git -C "$root" rev-parse --short HEAD)"
	dirty="$(git -C "$root" status --porcelain -- CMakeLists.txt include runtime io sync examples benchmarks 2>/dev/null | awk '{print $2}' | tr '\n' ' ')"
	[[ -z "$dirty" ]] || commit+=" with uncommitted changes in: $dirty"
fi
load_before="$(cut -d' ' -f1 /proc/loadavg)"
if [[ "${REPORT_ONLY:-0}" != 1 ]]; then
# ---- 1. build ----
step 1 "build (release preset: library, examples, benchmarks)"
if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
	(cd "$root" && cmake --preset release >/dev/null &&
		cmake --build build/release -j "$(nproc)" --target bench_micro bench_memory \
			http_server echo_server threads_http threads_echo echo_load | tail -1)
fi
for peer in tokio/target/release/tokio_micro go/bin/go_micro; do
	[[ -x "$PEERS_DIR/$peer" ]] ||
		log "peer missing: $PEERS_DIR/$peer — its column says 'missing' (build the peers with $PEERS_DIR/build.sh)"
done

# ---- 2. micro ----
step 2 "micro benchmarks ($micro_rounds round(s) x $micro_reps rep(s), Orca then Tokio then Go)"
ROUNDS=$micro_rounds REPS=$micro_reps SKIP_BUILD=1 THREADS_PEER=0 MAX_LOAD=99 \
	"$here/run_micro.sh" >/dev/null

# ---- 3. servers ----
step 3 "server benchmarks ($server_mode: $workloads; orca, orca-epoll, threads, tokio, go)"
SKIP_BUILD=1 WORKLOADS="$workloads" "$here/run_servers.sh" "$server_mode" >/dev/null

# ---- 4. memory ----
step 4 "memory probes (bench_memory $memory_args)"
memory_raw="$out/memory_raw.txt"
"$build_dir/benchmarks/bench_memory" $memory_args >"$memory_raw" 2>"$out/memory_raw.err" ||
	log "bench_memory exited with an error (see $out/memory_raw.err); its rows may be incomplete"
mem() { awk -v k="$1" '$1 == k { print $2; exit }' "$memory_raw"; }
mem_note() { awk -v k="$1" '$1 == k { $1 = ""; sub(/^ /, ""); print; exit }' "$memory_raw"; }
# The peers measure resident bytes per parked task in their micro programs.
peer_rss() { awk -F'\t' -v c="$1" '$2 ~ /^resident bytes per parked stackless task/ { print $c }' "$out/micro.tsv"; }
{
	printf 'memory\t%s\t%s\tlower\t%s\t%s\t%s\t%s\n' \
		"resident bytes per idle stackless task vs per idle thread (default stack)" "RSS idle task vs thread" \
		"$(mem rss_per_idle_stackless_task_bytes)" "$(mem rss_per_idle_thread_bytes)" "$(peer_rss 7)" "$(peer_rss 8)"
	printf 'memory\t%s\t%s\tlower\t%s\t%s\t\t\n' \
		"resident bytes per idle stackful task vs per idle thread (64 KiB stack)" "" \
		"$(mem rss_per_idle_stackful_task_bytes)" "$(mem rss_per_idle_thread_64k_stack_bytes)"
	printf 'memory\t%s\t%s\thigher\t%s\t%s\t\t\n' \
		"most concurrent stackless tasks vs threads (tasks stop at $(mem_note max_stackless_tasks_limit); threads at $(mem_note max_threads_limit))" \
		"most concurrent tasks vs threads" "$(mem max_stackless_tasks)" "$(mem max_threads)"
	printf 'memory\t%s\t%s\thigher\t%s\t%s\t\t\n' \
		"most concurrent stackful tasks vs threads (tasks stop at $(mem_note max_stackful_tasks_limit))" "" \
		"$(mem max_stackful_tasks)" "$(mem max_threads)"
} >"$out/memory.tsv"
fi

# ---- report ----
elapsed=$(($(date +%s) - started))
report="$out/report.md"
chart_data="$out/chart.dat"
cat "$out/micro.tsv" "$out/servers.tsv" "$out/memory.tsv" >"$out/all.tsv"
{
	echo "# Orca benchmark report ($mode)"
	echo
	echo "Machine: $(nproc) CPUs ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), kernel $(uname -r)."
	echo "Run: $(date -u +%Y-%m-%dT%H:%MZ), commit $commit, 1-min load $load_before before the run, $elapsed s in all."
	echo "Command: \`benchmarks/run.sh $mode\`. Orca, Tokio and Go run 2 workers; \"threads\" are this repo's"
	echo "plain-thread programs (benchmarks/micro_threads.c, threads_echo.c, threads_http.c, memory.c)."
	echo
	echo "Ratios are Orca's advantage: above 1 means Orca is better (less time, less CPU, less"
	echo "memory, more throughput, more tasks), whichever way the workload's unit runs."
	echo "\"missing\": that peer is not built here; \"–\": no such workload there."
	echo
	echo "| workload | Orca | threads | Orca vs threads | Tokio | Orca vs Tokio | Go | Orca vs Go | Orca on epoll |"
	echo "|---|---|---|---|---|---|---|---|---|"
	awk -F'\t' '
		function num(x) { return x ~ /^[0-9.eE+-]+$/ && x != "" }
		function fmt(x) {
			if (x == "missing") return "missing"
			if (!num(x)) return "–"
			if (x >= 100) return sprintf("%.0f", x); if (x >= 10) return sprintf("%.1f", x); return sprintf("%.2f", x)
		}
		function adv(o, p, better) {
			if (!num(o) || !num(p) || o <= 0 || p <= 0) return ""
			return better == "lower" ? p / o : o / p
		}
		function cell(a) { return a == "" ? "–" : sprintf("%.2fx", a) }
		{
			at = adv($5, $6, $4); ak = adv($5, $7, $4); ag = adv($5, $8, $4)
			printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $2, fmt($5), fmt($6), cell(at),
				fmt($7), cell(ak), fmt($8), cell(ag), ($9 == "" ? "–" : fmt($9))
			if ($3 != "")
				printf "\"%s\" %s %s %s\n", $3, (at == "" ? "NaN" : at), (ak == "" ? "NaN" : ak),
					(ag == "" ? "NaN" : ag) > "'"$chart_data"'"
		}' "$out/all.tsv"
	echo
	echo "Micro: $(grep -E '^(Task ping-pong|Other busy)' "$out/micro.md" | tr '\n' ' ')"
	echo
	echo "$(head -2 "$out/servers.md" | tr '\n' ' ')"
	if [[ -x "$build_dir/benchmarks/echo_load" ]]; then loader="this repo's echo_load"; else loader="the peers' echo_load"; fi
	echo "Load: wrk -t1 for HTTP; $loader for echo (64 B messages, every byte checked)."
	echo
	echo "Chart: chart.svg (and .png), Orca's advantage per workload (log scale; 1 = parity)."
	echo "Raw outputs: micro_raw/, servers_raw.txt, memory_raw.txt next to this file."
} >"$report"

# ---- chart ----
if command -v gnuplot >/dev/null; then
	gnuplot <<-EOF 2>"$out/chart.err" || log "gnuplot failed (see $out/chart.err)"
		set terminal svg size 1400,650 dynamic font "sans,11" background "white"
		set output "$out/chart.svg"
		set title "Orca's advantage per workload (above 1 = Orca better); $mode run, $(date -u +%Y-%m-%d), $(nproc) CPUs"
		set style fill solid 0.85 border -1
		set logscale y 2
		set yrange [0.03:600]
		set ytics ("1/32" 0.03125, "1/8" 0.125, "1/2" 0.5, "1" 1, "2" 2, "8" 8, "32" 32, "128" 128, "512" 512)
		set grid ytics
		set xtics rotate by 35 right scale 0 font ",10"
		set xrange [0:*]
		set rmargin 4
		set lmargin 14
		set bmargin 9
		set key top right
		set arrow from graph 0, first 1 to graph 1, first 1 nohead lw 2 lc rgb "black" front
		set ylabel "Orca's advantage (x)"
		# Each bar runs from 1 to the ratio, so a loss hangs below the parity line.
		lo(v) = v < 1 ? v : 1
		hi(v) = v < 1 ? 1 : v
		x(k) = \$0 * 4 + k
		plot "$chart_data" using (x(1)):(1):(x(0.6)):(x(1.4)):(lo(\$2)):(hi(\$2)) with boxxyerror title "vs threads" lc rgb "#4e79a7", \\
		     "" using (x(2)):(1):(x(1.6)):(x(2.4)):(lo(\$3)):(hi(\$3)) with boxxyerror title "vs Tokio" lc rgb "#f28e2b", \\
		     "" using (x(3)):(1):(x(2.6)):(x(3.4)):(lo(\$4)):(hi(\$4)) with boxxyerror title "vs Go" lc rgb "#59a14f", \\
		     "" using (x(2)):(NaN):xtic(1) notitle
		set terminal pngcairo size 1400,650 font "sans,10" background "white"
		set output "$out/chart.png"
		replot
	EOF
else
	log "gnuplot missing (apt-get install gnuplot-nox): no chart"
fi

if [[ $mode == full ]]; then
	mkdir -p "$out/full"
	cp "$report" "$out/full/report.md"
	for f in chart.svg chart.png; do [[ -f "$out/$f" ]] && cp "$out/$f" "$out/full/$f"; done
fi
log "report: $report; chart: $out/chart.svg"
echo
cat "$report"
