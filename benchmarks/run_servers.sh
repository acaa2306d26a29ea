#!/usr/bin/env bash
# Server benchmarks: Orca's http_server and echo_server (on its io_uring backend,
# and as "orca-epoll" on its epoll backend) side by side with this repo's
# thread-per-connection servers (benchmarks/threads_*.c) and the peers
# (../shared/peers: Tokio, Go, and their own thread and hand-written epoll servers
# as "threads-peer" and "epoll"), in one run, same machine, same load, alternating
# the servers round by round.
#
# For every server and workload it reports throughput and the server's CPU time
# per request (user+system from /proc/PID/stat over the run, divided by requests):
# on a 2-core machine the load generator saturates a core first, so CPU per request
# is the figure that separates servers. Loopback only, every run bounded in time.
#
# Usage: benchmarks/run_servers.sh [quick|full]
#   quick: 2 s per run, 1 round (about a minute)    full: 5 s per run, 3 rounds
# Environment: PEERS_DIR (default <repo>/../shared/peers), WORKERS (default 2),
#   SKIP_BUILD=1, EXAMPLES_DIR (where http_server/echo_server are; default
#   build/release/examples), EXAMPLES_DIR_B (a second build, run as server
#   "orca-b", and as "orca-epoll-b" on its epoll backend: a before/after comparison
#   in one run), BENCH_DIR (threads_* and echo_load; default
#   build/release/benchmarks), SERVERS="orca orca-epoll threads tokio go",
#   WORKLOADS="http64 http256 echo64 echo256" (also: "conn", connection churn against
#   the echo servers with connect_load, 2 client threads: accepts/s and server CPU per
#   connection), SYSCALLS=1 (also count syscalls per
#   request with strace -c).
# Load: wrk for HTTP; for echo this repo's echo_load (every byte checked), or the
# peers' when it has not been built.
# Output: the table on stdout and in benchmarks/results/servers.md (and as
# servers.tsv for benchmarks/run.sh), raw lines in benchmarks/results/servers_raw.txt.
# A missing peer is reported, not fatal.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
mode="${1:-quick}"
case "$mode" in
quick) secs=2 rounds=1 ;;
full) secs=5 rounds=3 ;;
*) echo "usage: $0 [quick|full]" >&2; exit 2 ;;
esac
PEERS_DIR="${PEERS_DIR:-$root/../shared/peers}"
WORKERS="${WORKERS:-2}"
SERVERS="${SERVERS:-orca orca-epoll threads tokio go}"
WORKLOADS="${WORKLOADS:-http64 http256 echo64 echo256}"
out="$here/results"
mkdir -p "$out"
raw="$out/servers_raw.txt"
: >"$raw"
log() { printf '[run_servers %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
	log "building the servers and the load generator (release preset)"
	(cd "$root" && cmake --preset release >/dev/null &&
		cmake --build build/release --target http_server echo_server threads_http threads_echo echo_load connect_load | tail -3) ||
		{ log "build failed"; exit 1; }
fi
ex="${EXAMPLES_DIR:-$root/build/release/examples}"
bench_dir="${BENCH_DIR:-$root/build/release/benchmarks}"
load="$bench_dir/echo_load"
[[ -x "$load" ]] || load="$PEERS_DIR/load/echo_load"
command -v wrk >/dev/null || { log "wrk missing: apt-get install wrk"; exit 1; }
[[ -x "$load" ]] || { log "echo load generator missing: $load"; exit 1; }

# server_cmd SERVER KIND PORT -> the command line, or nothing if the binary is missing
server_cmd() {
	local s=$1 kind=$2 port=$3 bin=""
	case "$s" in
	orca) bin="$ex/${kind}_server"; [[ -x $bin ]] && echo "$bin $port $WORKERS" ;;
	orca-epoll) bin="$ex/${kind}_server"; [[ -x $bin ]] && echo "env ORCA_BACKEND=epoll $bin $port $WORKERS" ;;
	orca-b) bin="${EXAMPLES_DIR_B:-}/${kind}_server"; [[ -x $bin ]] && echo "$bin $port $WORKERS" ;;
	orca-epoll-b) bin="${EXAMPLES_DIR_B:-}/${kind}_server"; [[ -x $bin ]] && echo "env ORCA_BACKEND=epoll $bin $port $WORKERS" ;;
	threads) bin="$bench_dir/threads_$kind"; [[ -x $bin ]] && echo "$bin $port" ;;
	tokio) bin="$PEERS_DIR/tokio/target/release/tokio_$kind"; [[ -x $bin ]] && echo "$bin $port $WORKERS" ;;
	go) bin="$PEERS_DIR/go/bin/go_$kind"; [[ -x $bin ]] && echo "$bin $port $WORKERS" ;;
	threads-peer) bin="$PEERS_DIR/threads/threads_$kind"; [[ -x $bin ]] && echo "$bin $port" ;;
	epoll) bin="$PEERS_DIR/threads/epoll_$kind"; [[ -x $bin ]] && echo "$bin $port $WORKERS" ;;
	esac
	return 0
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

port=19700
# run_one SERVER WORKLOAD PORT -> "requests_per_s us_cpu_per_req syscalls_per_req"
# (a fresh port per run: some peers do not set SO_REUSEADDR, and the previous
# run's connections sit in TIME_WAIT)
run_one() {
	local s=$1 w=$2 port=$3 kind conns cmd pid t0 t1 reqs rate sc="-"
	case "$w" in
	http*) kind=http conns=${w#http} ;;
	echo*) kind=echo conns=${w#echo} ;;
	conn) kind=echo conns=churn ;;
	esac
	cmd=$(server_cmd "$s" "$kind" "$port")
	[[ -n $cmd ]] || { echo "missing"; return; }
	$cmd >/dev/null 2>&1 &
	pid=$!
	for _ in $(seq 100); do
		(exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break
		sleep 0.05
	done
	if ! kill -0 "$pid" 2>/dev/null; then
		echo "failed"
		return
	fi
	t0=$(cpu_ticks "$pid")
	if [[ $kind == http ]]; then
		res=$(wrk -t1 -c"$conns" -d"${secs}s" "http://127.0.0.1:$port/" 2>&1)
		reqs=$(awk '/requests in/ {print $1}' <<<"$res")
		rate=$(awk '/Requests\/sec/ {print $2}' <<<"$res")
	elif [[ $conns == churn ]]; then
		res=$("$bench_dir/connect_load" 127.0.0.1 "$port" "$secs" 2 2>&1 | tail -1)
		rate=$(sed -n 's/.*conns_per_s=\([0-9.]*\).*/\1/p' <<<"$res")
		reqs=$(awk -v r="$rate" -v s="$secs" 'BEGIN {printf "%d", r * s}')
	else
		res=$("$load" 127.0.0.1 "$port" "$conns" "$secs" 64 2>&1 | tail -1)
		rate=$(sed -n 's/.*rtt_per_s=\([0-9.]*\).*/\1/p' <<<"$res")
		reqs=$(awk -v r="$rate" -v s="$secs" 'BEGIN {printf "%d", r * s}')
	fi
	t1=$(cpu_ticks "$pid")
	if [[ "${SYSCALLS:-0}" == 1 && $conns != churn ]]; then
		# A second, shorter load under strace -c: counts, not speed (strace slows
		# the server a lot, so only the ratio syscalls/requests is kept).
		local trace
		trace=$(mktemp)
		timeout 10 strace -c -f -p "$pid" -o "$trace" >/dev/null 2>&1 &
		local spid=$!
		sleep 0.5
		local sreqs
		if [[ $kind == http ]]; then
			sreqs=$(wrk -t1 -c"$conns" -d2s "http://127.0.0.1:$port/" 2>&1 | awk '/requests in/ {print $1}')
		else
			local r2
			r2=$("$load" 127.0.0.1 "$port" "$conns" 2 64 2>&1 | tail -1 | sed -n 's/.*rtt_per_s=\([0-9.]*\).*/\1/p')
			sreqs=$(awk -v r="$r2" 'BEGIN {printf "%d", r * 2}')
		fi
		kill -INT $spid 2>/dev/null || true
		wait $spid 2>/dev/null || true
		local calls
		# strace -c's total line: % time, seconds, usecs/call, calls, [errors,] total
		calls=$(awk '/total/ {print $4}' "$trace")
		sc=$(awk -v c="${calls:-0}" -v r="${sreqs:-0}" 'BEGIN { if (r > 0) printf "%.2f", c / r; else print "-" }')
		rm -f "$trace"
	fi
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	local us
	us=$(awk -v d=$((t1 - t0)) -v hz="$hz" -v r="${reqs:-0}" 'BEGIN { if (r > 0) printf "%.2f", d / hz * 1e6 / r; else print "-" }')
	echo "${rate:-0} $us $sc"
	echo "$s $w rate=${rate:-0} cpu_us_per_req=$us syscalls_per_req=$sc raw: $res" | tr '\n' ' ' >>"$raw"
	echo >>"$raw"
}

declare -A rate_sum cpu_sum count sys_last
total=$((rounds * $(wc -w <<<"$SERVERS") * $(wc -w <<<"$WORKLOADS")))
n=0
for r in $(seq "$rounds"); do
	for w in $WORKLOADS; do
		for s in $SERVERS; do
			n=$((n + 1))
			log "[$n/$total] round $r: $s $w"
			port=$((port + 1))
			read -r rate us sc <<<"$(run_one "$s" "$w" "$port")"
			if [[ $rate == missing || $rate == failed ]]; then
				[[ $rate == failed ]] && log "$s did not start for $w"
				count[$s,$w]=${count[$s,$w]:-missing}
				continue
			fi
			rate_sum[$s,$w]=$(awk -v a="${rate_sum[$s,$w]:-0}" -v b="$rate" 'BEGIN {print a + b}')
			cpu_sum[$s,$w]=$(awk -v a="${cpu_sum[$s,$w]:-0}" -v b="$us" 'BEGIN {print a + b}')
			count[$s,$w]=$((${count[$s,$w]:-0} + 1))
			sys_last[$s,$w]=$sc
		done
	done
done

avg() { awk -v s="$1" -v c="$2" -v f="$3" 'BEGIN { printf f, s / c }'; }
{
	echo "Servers: $WORKERS workers where configurable; ${secs} s per run, $rounds round(s), alternating servers; $(nproc) CPUs, kernel $(uname -r), $(date -u +%Y-%m-%dT%H:%MZ)."
	echo "Each cell: throughput (req/s or round trips/s) / server CPU per request (us)$([[ ${SYSCALLS:-0} == 1 ]] && echo ' / syscalls per request')."
	echo
	printf '| workload |'
	for s in $SERVERS; do printf ' %s |' "$s"; done
	printf ' Orca/Tokio throughput | Orca/Tokio CPU per request |\n|---|'
	for _ in $SERVERS; do printf -- '---|'; done
	printf -- '---|---|\n'
	for w in $WORKLOADS; do
		case "$w" in
		http*) label="HTTP wrk -t1 -c${w#http}" ;;
		echo*) label="echo 64 B, ${w#echo} conns" ;;
		conn) label="connection churn (connect, echo 8 B, close), conns/s" ;;
		esac
		printf '| %s |' "$label"
		for s in $SERVERS; do
			c=${count[$s,$w]:-0}
			if [[ $c == missing || $c == 0 ]]; then
				printf ' missing |'
			else
				cell="$(avg "${rate_sum[$s,$w]}" "$c" '%.0f') / $(avg "${cpu_sum[$s,$w]}" "$c" '%.2f')"
				[[ ${SYSCALLS:-0} == 1 ]] && cell+=" / ${sys_last[$s,$w]}"
				printf ' %s |' "$cell"
			fi
		done
		oc=${count[orca,$w]:-0} tc=${count[tokio,$w]:-0}
		if [[ $oc =~ ^[0-9]+$ && $tc =~ ^[0-9]+$ && $oc -gt 0 && $tc -gt 0 ]]; then
			printf ' %s | %s |\n' \
				"$(awk -v a="${rate_sum[orca,$w]}" -v b="${rate_sum[tokio,$w]}" -v x="$oc" -v y="$tc" 'BEGIN { printf "%.2f", (a / x) / (b / y) }')" \
				"$(awk -v a="${cpu_sum[orca,$w]}" -v b="${cpu_sum[tokio,$w]}" -v x="$oc" -v y="$tc" 'BEGIN { printf "%.2f", (a / x) / (b / y) }')"
		else
			printf ' - | - |\n'
		fi
	done
} | tee "$out/servers.md"

# The same figures for benchmarks/run.sh's report and chart, two rows per workload
# (throughput: higher is better; server CPU per request: lower is better), columns
# orca threads tokio go orca-epoll ("missing" where that server was not there).
tsv_cell() { # SERVER WORKLOAD SUMS
	local -n sums=$3
	[[ " $SERVERS " == *" $1 "* ]] || { echo; return; } # not asked for: no cell
	local c=${count[$1,$2]:-missing}
	if [[ $c =~ ^[0-9]+$ && $c -gt 0 ]]; then avg "${sums[$1,$2]}" "$c" '%.2f'; else echo missing; fi
}
for w in $WORKLOADS; do
	case "$w" in
	http*) label="HTTP, ${w#http} connections" short="HTTP c${w#http}" unit="req/s" ;;
	echo*) label="echo 64 B, ${w#echo} connections" short="echo c${w#echo}" unit="round trips/s" ;;
	conn) label="connection churn (connect, echo 8 B, close)" short="churn" unit="connections/s" ;;
	esac
	for metric in rate cpu; do
		if [[ $metric == rate ]]; then
			line="servers\t$label, $unit\t$short\thigher"
			for s in orca threads tokio go orca-epoll; do line+="\t$(tsv_cell "$s" "$w" rate_sum)"; done
		else
			line="servers\t$label, server CPU us/request\t$short CPU\tlower"
			for s in orca threads tokio go orca-epoll; do line+="\t$(tsv_cell "$s" "$w" cpu_sum)"; done
		fi
		printf "$line\n"
	done
done >"$out/servers.tsv"
