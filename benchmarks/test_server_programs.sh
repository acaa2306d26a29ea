#!/usr/bin/env bash
# Smoke test of the server-benchmark programs (ctest: bench_server_programs): echo_load
# must see every byte come back from threads_echo and from examples/echo_server
# (small and large messages, pipelined, one and two client threads) and exit 3 when
# there is no server, and threads_http must answer
# pipelined and split requests with exactly the bytes of examples/http_server.c.
# Short runs (about 3 s in all), loopback only; not a measurement.
# Usage: test_server_programs.sh BENCH_DIR [EXAMPLES_DIR]
set -euo pipefail
bench="$1"
examples="${2:-}"
tmp=$(mktemp -d)
servers=()
finish() {
	for p in "${servers[@]}"; do kill "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap finish EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# serve NAME COMMAND...: runs a server that takes PORT first, on port 0, and sets
# $port to the port it says it listens on.
serve() {
	local name=$1 log="$tmp/$1.log"
	shift
	: >"$log" # exists before the server starts writing it, for the sed below
	"$@" >"$log" 2>&1 &
	servers+=($!)
	port=""
	for _ in $(seq 200); do
		port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$log")
		[[ -n $port ]] && return
		sleep 0.025
	done
	fail "$name did not start: $(cat "$log")"
}

# load EXPECTED_STATUS ARGS...: one echo_load run against $port.
load() {
	local want=$1 status=0 out
	shift
	out=$("$bench/echo_load" 127.0.0.1 "$port" "$@" 2>"$tmp/load.err") || status=$?
	[[ $status == "$want" ]] ||
		fail "echo_load $* exited $status, not $want: $out $(head -3 "$tmp/load.err")"
	[[ $out =~ ^conns=[0-9]+\ msg=[0-9]+\ rtt_per_s=[0-9]+\ mb_per_s=[0-9.]+\ p50_us=[0-9.]+\ p99_us=[0-9.]+\ errors=[0-9]+$ ]] ||
		fail "echo_load $*: output '$out'"
	echo "echo_load $*: $out"
}

serve threads_echo "$bench/threads_echo" 0
load 0 16 0.5 64 4 2
load 0 4 0.5 300000 2
echo_port=$port

if [[ -n $examples && -x $examples/echo_server ]]; then
	serve echo_server "$examples/echo_server" 0 1
	load 0 16 0.5 64 4
fi

# No server any more: echo_load cannot connect, exit 3 and no result line.
kill "${servers[0]}"
wait "${servers[0]}" 2>/dev/null || true
port=$echo_port
status=0
out=$("$bench/echo_load" 127.0.0.1 "$port" 4 0.2 64 2>/dev/null) || status=$?
[[ $status == 3 && -z $out ]] || fail "echo_load against a closed port: exit $status, '$out'"
echo "echo_load with no server: exit 3"

serve threads_http "$bench/threads_http" 0
response=$'HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, World!'
printf '%s%s%s%s' "$response" "$response" "$response" "$response" >"$tmp/want"
exec 3<>/dev/tcp/127.0.0.1/"$port"
# Two pipelined requests in one write, then one split inside its "\r\n\r\n", then
# one whose blank line comes after a stray "\n\r": four answers, nothing more.
printf 'GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\n\r' >&3
sleep 0.05
printf '\nGET /\n\r\r\n\r\n' >&3
timeout 5 head -c "$(stat -c %s "$tmp/want")" <&3 >"$tmp/got" || true
cmp "$tmp/want" "$tmp/got" || fail "threads_http: answers differ from examples/http_server.c's"
extra=$(timeout 0.3 head -c 1 <&3 | od -An -c || true)
[[ -z $extra ]] || fail "threads_http: bytes after the fourth answer: $extra"
exec 3<&-
echo "threads_http: four exact answers"
