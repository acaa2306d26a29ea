#!/usr/bin/env bash
# Exercises the I/O examples end to end: echo_server with a bash /dev/tcp client,
# http_server with the fetch example (and a pipelined request), chat_server with two
# /dev/tcp clients, file_copy with cmp.
# Usage: test_io_examples.sh BUILD_DIR/examples
set -euo pipefail
dir="$1"
tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT

# Starts a server on a free port (port 0) and sets $port to the port it reports.
# Not called as $(start ...): in that subshell the pid would never reach the
# cleanup's list, and every run left its servers behind.
start() {
	"$dir/$1" 0 2 >"$tmp/$1.out" 2>&1 &
	pids+=($!)
	port=
	for _ in $(seq 100); do
		port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$tmp/$1.out")
		[[ -n $port ]] && return
		sleep 0.05
	done
	echo "$1 did not start: $(cat "$tmp/$1.out")" >&2
	exit 1
}

fail() { echo "FAIL: $*" >&2; exit 1; }

start echo_server
exec 3<>/dev/tcp/127.0.0.1/"$port"
printf 'hello, orca\n' >&3
IFS= read -r -t 5 line <&3 || fail "echo_server: no reply"
[[ $line == "hello, orca" ]] || fail "echo_server: got '$line'"
exec 3<&-
echo "echo_server: ok"

start http_server
out=$("$dir/fetch" "http://127.0.0.1:$port/")
[[ $out == $'HTTP/1.1 200 OK\nbody: 13 bytes' ]] || fail "fetch/http_server: got '$out'"
# Three pipelined requests, the second split across two writes: three responses.
exec 4<>/dev/tcp/127.0.0.1/"$port"
printf 'GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHo' >&4
sleep 0.05
printf 'st: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n' >&4
n=$(timeout 5 head -c $((3 * 78)) <&4 | grep -c 'Hello, World!' || true)
exec 4<&-
[[ $n == 3 ]] || fail "http_server: $n responses to 3 pipelined requests"
echo "http_server + fetch: ok"

start chat_server
exec 5<>/dev/tcp/127.0.0.1/"$port" 6<>/dev/tcp/127.0.0.1/"$port"
IFS= read -r -t 5 w5 <&5 || fail "chat_server: no greeting"
IFS= read -r -t 5 w6 <&6 || fail "chat_server: no greeting"
id5=$(sed -n 's/^welcome, you are \[\([0-9]*\)\]$/\1/p' <<<"$w5")
[[ -n $id5 ]] || fail "chat_server: greeting '$w5'"
printf 'hi from five\n' >&5
IFS= read -r -t 5 got <&6 || fail "chat_server: line not delivered"
[[ $got == "[$id5] hi from five" ]] || fail "chat_server: got '$got'"
exec 5<&- 6<&-
echo "chat_server: ok"

head -c $((5 * 1024 * 1024 + 123)) /dev/urandom >"$tmp/src"
"$dir/file_copy" "$tmp/src" "$tmp/dst" >/dev/null
cmp "$tmp/src" "$tmp/dst" || fail "file_copy: copy differs"
echo "file_copy: ok"
