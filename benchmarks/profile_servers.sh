#!/usr/bin/env bash
# Where a server's CPU goes, and the floor under it: for each server, runs one load
# (echo 64 B or HTTP via wrk, 256 connections), samples the server with
# `perf record -e cpu-clock -g` and splits its CPU time per request into
#   - tcp: time under tcp_sendmsg + tcp_recvmsg (inclusive: the TCP stack's own work,
#     on loopback including the receiving side's softirq that the sender runs). Any
#     server that echoes the same bytes over TCP does this work, whatever its runtime;
#   - rest: everything else (event notification, scheduling, system call or io_uring
#     overhead, parsing, the runtime's user-space code).
# Output: one table row per server (benchmarks/results/profile.md), and the ratio
# "tcp floor / Tokio's total": a server that spent nothing at all beyond the TCP
# work would still use that fraction of Tokio's CPU per request.
#
# Usage: benchmarks/profile_servers.sh [echo|http] (default echo)
# Environment: PEERS_DIR, WORKERS (2), EXAMPLES_DIR, SERVERS ("orca orca-epoll tokio epoll"),
#   SECS (4: seconds sampled, after 1 s of warm-up).
# Needs perf (linux-perf) and kernel symbols (kptr_restrict 0 as root). Loopback only.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
kind="${1:-echo}"
PEERS_DIR="${PEERS_DIR:-$root/../shared/peers}"
WORKERS="${WORKERS:-2}"
SERVERS="${SERVERS:-orca orca-epoll tokio epoll}"
SECS="${SECS:-4}"
ex="${EXAMPLES_DIR:-$root/build/release/examples}"
load="$root/build/release/benchmarks/echo_load"
out="$here/results"
mkdir -p "$out"
command -v perf >/dev/null || { echo "perf missing: apt-get install linux-perf" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

server_cmd() {
	case "$1" in
	orca) echo "$ex/${kind}_server" ;;
	orca-epoll) echo "env ORCA_BACKEND=epoll $ex/${kind}_server" ;;
	tokio) echo "$PEERS_DIR/tokio/target/release/tokio_$kind" ;;
	go) echo "$PEERS_DIR/go/bin/go_$kind" ;;
	epoll) echo "$PEERS_DIR/threads/epoll_$kind" ;;
	esac
}

# inclusive percentage of symbol $2 in perf data $1
incl() {
	perf report -i "$1" --children --sort sym --stdio -g none 2>/dev/null |
		awk -v s="$2" '$NF == s && $3 == "[k]" && !found { gsub("%", "", $1); print $1; found = 1 }'
}

port=$((21000 + RANDOM % 4000))
declare -A total tcp
for s in $SERVERS; do
	cmd=$(server_cmd "$s")
	bin=${cmd##* }
	[[ -x $bin ]] || { echo "$s: missing ($bin)" >&2; continue; }
	port=$((port + 1))
	$cmd "$port" "$WORKERS" >/dev/null 2>&1 &
	pid=$!
	sleep 0.5
	if [[ $kind == echo ]]; then
		"$load" 127.0.0.1 "$port" 256 $((SECS + 2)) 64 >"$tmp/load" 2>&1 &
	else
		wrk -t1 -c256 -d$((SECS + 2))s "http://127.0.0.1:$port/" >"$tmp/load" 2>&1 &
	fi
	lp=$!
	sleep 1
	t0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
	perf record -q -e cpu-clock -g -p "$pid" -o "$tmp/$s.data" -- sleep "$SECS" >/dev/null 2>&1
	t1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
	wait "$lp" || true
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	if [[ $kind == echo ]]; then
		rate=$(sed -n 's/.*rtt_per_s=\([0-9.]*\).*/\1/p' "$tmp/load" | tail -1)
	else
		rate=$(awk '/Requests\/sec/ {print $2}' "$tmp/load")
	fi
	send=$(incl "$tmp/$s.data" tcp_sendmsg)
	recv=$(incl "$tmp/$s.data" tcp_recvmsg)
	# CPU per request over the sampled window (perf's own cost included, for all alike)
	total[$s]=$(awk -v d=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" -v r="$rate" -v t="$SECS" \
		'BEGIN { printf "%.2f", d / hz * 1e6 / (r * t) }')
	tcp[$s]=$(awk -v a="${send:-0}" -v b="${recv:-0}" -v c="${total[$s]}" 'BEGIN { printf "%.2f", (a + b) / 100 * c }')
	printf '%s: %s req/s, %s us/req, tcp_sendmsg %s%% + tcp_recvmsg %s%%\n' "$s" "$rate" "${total[$s]}" "$send" "$recv" >&2
done

{
	echo "Server CPU per request split by perf (cpu-clock, call graphs), $kind, 256 connections, $WORKERS workers, ${SECS} s sampled; $(nproc) CPUs, kernel $(uname -r), $(date -u +%Y-%m-%dT%H:%MZ)."
	echo
	echo "| server | CPU us/request (under perf) | in tcp_sendmsg + tcp_recvmsg, us | rest, us | TCP share |"
	echo "|---|---|---|---|---|"
	for s in $SERVERS; do
		[[ -n ${total[$s]:-} ]] || continue
		awk -v s="$s" -v t="${total[$s]}" -v p="${tcp[$s]}" \
			'BEGIN { printf "| %s | %.2f | %.2f | %.2f | %.0f%% |\n", s, t, p, t - p, 100 * p / t }'
	done
	if [[ -n ${total[tokio]:-} ]]; then
		echo
		awk -v p="${tcp[tokio]}" -v t="${total[tokio]}" 'BEGIN { printf "Floor: a server with no cost beyond the TCP work would use %.2fx Tokio'"'"'s CPU per request.\n", p / t }'
	fi
} | tee "$out/profile_$kind.md"
