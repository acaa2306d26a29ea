#!/usr/bin/env bash
# Soak (issue 7): 10,000 concurrent connections against examples/echo_server for 60 s.
# Passes when the load generator saw no error and no wrong or missing byte, the
# server's RSS stayed flat after warm-up, and the server's fd count came back to
# where it started once the clients had closed. Not part of CI (it takes the
# machine for over a minute); run it by hand:
#
#   benchmarks/soak.sh                      # the full soak: 10,000 connections, 60 s
#   CONNS=500 SECS=5 benchmarks/soak.sh     # a quick check of the script itself
#
# Environment: CONNS (10000), SECS (60), MSG (64 bytes per message), DEPTH (1
#   message in flight per connection), LOAD_THREADS (1), WORKERS (2, the server's),
#   PORT (19800), WARMUP_PCT (25: the share of the load window that is warm-up),
#   FLAT_PCT (10: how far above the post-warm-up median the last third may go),
#   SKIP_BUILD=1, EXAMPLES_DIR (where echo_server is; default build/release/examples),
#   BENCH_DIR (where echo_load is; default build/release/benchmarks; the peers'
#   ../shared/peers/load/echo_load when this repo's has not been built).
# Load: echo_load HOST PORT CONNS SECONDS MSG_BYTES DEPTH THREADS, which checks every
#   echoed byte and exits 0 only if all came back right.
# Output: a summary and the RSS curve on stdout and in benchmarks/results/soak/
#   (soak.md, rss.tsv: one sample a second, rss.svg when gnuplot is installed,
#   echo_load.txt, server.log). Exit status: 0 pass, 1 a check failed, 2 setup.
#
# RSS is "flat after warm-up" when no sample in the last third of the post-warm-up
# window is more than FLAT_PCT above the median of the post-warm-up window: memory
# that grows with time (a leak per message or per connection cycle) fails it; the
# climb while 10,000 connections and their tasks are set up is warm-up.
#
# Loopback limits for 10,000 connections: the client needs CONNS ephemeral ports
# (net.ipv4.ip_local_port_range, 28,232 by default) and the listener's backlog is
# capped by net.core.somaxconn (the server asks for 4096). When either is too small
# the script raises it if it runs as root (and puts it back at exit), else it says
# which sysctl to set and stops. Both processes need CONNS + some fds: the script
# raises ulimit -n (soft, and hard as root).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
CONNS="${CONNS:-10000}"
SECS="${SECS:-60}"
MSG="${MSG:-64}"
DEPTH="${DEPTH:-1}"
LOAD_THREADS="${LOAD_THREADS:-1}"
WORKERS="${WORKERS:-2}"
PORT="${PORT:-19800}"
WARMUP_PCT="${WARMUP_PCT:-25}"
FLAT_PCT="${FLAT_PCT:-10}"
out="$here/results/soak"
mkdir -p "$out"
log() { printf '[soak %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
	log "building echo_server and echo_load (release preset)"
	(cd "$root" && cmake --preset release >/dev/null &&
		cmake --build build/release --target echo_server | tail -1 &&
		{ cmake --build build/release --target echo_load 2>/dev/null | tail -1 || true; }) ||
		{ log "build failed"; exit 2; }
fi
server_bin="${EXAMPLES_DIR:-$root/build/release/examples}/echo_server"
load="${BENCH_DIR:-$root/build/release/benchmarks}/echo_load"
[[ -x "$load" ]] || load="$root/../shared/peers/load/echo_load"
[[ -x "$server_bin" ]] || { log "no echo_server at $server_bin"; exit 2; }
[[ -x "$load" ]] || { log "no echo_load (build this repo's, or ../shared/peers/load)"; exit 2; }

# ---- limits -------------------------------------------------------------------------
restore=()
cleanup() {
	if [[ -n "${load_pid:-}" ]]; then kill "$load_pid" 2>/dev/null || true; fi
	if [[ -n "${server_pid:-}" ]]; then kill "$server_pid" 2>/dev/null || true; fi
	for r in "${restore[@]}"; do
		sysctl -q -w "$r" >/dev/null || log "could not restore $r"
	done
}
trap cleanup EXIT

need_sysctl() { # need_sysctl NAME VALUE WHY: set it as root, else explain and stop
	if [[ $(id -u) == 0 ]]; then
		restore+=("$1=$(sysctl -n "$1" | tr '\t' ' ')")
		sysctl -q -w "$1=$2" >/dev/null || { log "sysctl -w $1=$2 failed"; exit 2; }
		log "set $1=$2 for the run ($3); restored at exit"
	else
		log "$3: run as root or set: sysctl -w $1='$2'"
		exit 2
	fi
}
read -r lo hi < /proc/sys/net/ipv4/ip_local_port_range
if ((hi - lo + 1 < CONNS + 1000)); then
	need_sysctl net.ipv4.ip_local_port_range "1024 65535" \
		"$((hi - lo + 1)) ephemeral ports are too few for $CONNS connections"
fi
if (($(cat /proc/sys/net/core/somaxconn) < 4096)); then
	need_sysctl net.core.somaxconn 4096 "the listen backlog would be capped below 4096"
fi
want_fds=$((CONNS + 1024))
if (($(ulimit -Hn) < want_fds)); then
	ulimit -Hn "$want_fds" 2>/dev/null ||
		{ log "the hard fd limit $(ulimit -Hn) is below $want_fds (raise it as root)"; exit 2; }
fi
(($(ulimit -Sn) >= want_fds)) || ulimit -Sn "$want_fds"

# ---- the run ------------------------------------------------------------------------
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
fd_count() { { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null || true; } | wc -l; }

"$server_bin" "$PORT" "$WORKERS" >"$out/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do
	grep -q listening "$out/server.log" 2>/dev/null && break
	kill -0 "$server_pid" 2>/dev/null || { log "the server exited: $(cat "$out/server.log")"; exit 2; }
	sleep 0.05
done
grep -q listening "$out/server.log" || { log "the server did not start listening"; exit 2; }
fds_start=$(fd_count "$server_pid")
rss_start=$(rss_kb "$server_pid")
log "server pid $server_pid on port $PORT ($WORKERS workers): $fds_start fds, RSS $rss_start kB"
log "load: $(basename "$(dirname "$load")")/echo_load 127.0.0.1 $PORT $CONNS $SECS $MSG $DEPTH $LOAD_THREADS"

printf 't_s\trss_kb\tfds\n' >"$out/rss.tsv"
t0=$(date +%s.%N)
"$load" 127.0.0.1 "$PORT" "$CONNS" "$SECS" "$MSG" "$DEPTH" "$LOAD_THREADS" >"$out/echo_load.txt" 2>&1 &
load_pid=$!
while kill -0 "$load_pid" 2>/dev/null; do
	t=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
	printf '%s\t%s\t%s\n' "$t" "$(rss_kb "$server_pid")" "$(fd_count "$server_pid")" >>"$out/rss.tsv"
	sleep 1
done
load_rc=0
wait "$load_pid" || load_rc=$?
load_pid=""

# The clients have closed: the server's handlers see EOF and close their fds.
fds_end=$(fd_count "$server_pid")
for _ in $(seq 100); do
	((fds_end == fds_start)) && break
	sleep 0.1
	fds_end=$(fd_count "$server_pid")
done
server_alive=1
kill -0 "$server_pid" 2>/dev/null || server_alive=0
rss_end=$(rss_kb "$server_pid")

# ---- the verdict --------------------------------------------------------------------
fail=0
result=$(grep -E '^conns=' "$out/echo_load.txt" | tail -1 || true)
errors=$(sed -n 's/.*errors=\([0-9]*\).*/\1/p' <<<"$result")
if [[ $load_rc != 0 || -z "$result" || "${errors:-1}" != 0 ]]; then
	fail=1
	load_verdict="FAIL (exit $load_rc, errors=${errors:-?}): $(tail -5 "$out/echo_load.txt" | tr '\n' ' ')"
else
	load_verdict="ok: every byte came back right"
fi
flat=$(awk -F'\t' -v warm="$WARMUP_PCT" -v lim="$FLAT_PCT" '
	NR > 1 { rss[n++] = $2 }
	END {
		if (n < 3) { print "FAIL too few samples (" n ")"; exit }
		w = int(n * warm / 100); m = n - w
		for (i = 0; i < m; i++) s[i] = rss[w + i]
		for (i = 1; i < m; i++) { v = s[i]; for (j = i - 1; j >= 0 && s[j] > v; j--) s[j + 1] = s[j]; s[j + 1] = v }
		med = m % 2 ? s[int(m / 2)] : (s[m / 2 - 1] + s[m / 2]) / 2
		max = 0; for (i = n - int((m + 2) / 3); i < n; i++) if (rss[i] > max) max = rss[i]
		verdict = max <= med * (1 + lim / 100) ? "ok" : "FAIL"
		printf "%s: post-warm-up median %.1f MB (samples %d..%d), last-third max %.1f MB (%+.1f%%, limit +%d%%)\n",
			verdict, med / 1024, w + 1, n, max / 1024, (max / med - 1) * 100, lim
	}' "$out/rss.tsv")
[[ $flat == ok* ]] || fail=1
if ((fds_end == fds_start)); then
	fd_verdict="ok: $fds_start before the load, $fds_end after the clients closed"
else
	fail=1
	fd_verdict="FAIL: $fds_start before the load, $fds_end 10 s after the clients closed"
fi
((server_alive)) || { fail=1; fd_verdict="FAIL: the server died ($(tail -3 "$out/server.log"))"; }

{
	echo "# Soak: $CONNS connections, $SECS s, $MSG-byte messages, depth $DEPTH ($(date -u +%Y-%m-%dT%H:%MZ))"
	echo
	echo "server: echo_server $PORT $WORKERS (RSS $rss_start kB at start, $rss_end kB at the end)"
	echo "load:   $result"
	echo
	echo "| check | result |"
	echo "| --- | --- |"
	echo "| errors, dropped bytes | $load_verdict |"
	echo "| RSS flat after warm-up ($WARMUP_PCT%) | $flat |"
	echo "| fd count back to the start | $fd_verdict |"
	echo
	echo "RSS curve (one sample a second from the start of the load; the load generator"
	echo "connects first, then sends for $SECS s, then drains):"
	echo
	echo "| t (s) | RSS (MB) | fds |"
	echo "| ---: | ---: | ---: |"
	awk -F'\t' 'NR > 1 {printf "| %s | %.1f | %d |\n", $1, $2 / 1024, $3}' "$out/rss.tsv"
} | tee "$out/soak.md"

if command -v gnuplot >/dev/null; then
	if gnuplot <<-EOF 2>/dev/null; then echo "plot: $out/rss.svg"; else log "gnuplot failed; no plot"; fi
		set terminal svg size 800,400 noenhanced
		set output "$out/rss.svg"
		set title "echo_server under $CONNS connections for $SECS s"
		set xlabel "seconds from the start of the load"
		set ylabel "RSS (MB)"
		set y2label "open fds"
		set yrange [0:*]
		set y2range [0:*]
		set ytics nomirror
		set y2tics
		set key bottom right
		plot "$out/rss.tsv" using 1:(\$2/1024) skip 1 with linespoints title "RSS", \
		     "$out/rss.tsv" using 1:3 skip 1 axes x1y2 with lines title "fds"
	EOF
fi
if ((fail)); then
	echo "SOAK FAILED"
	exit 1
fi
echo "SOAK PASSED"
