#!/usr/bin/env bash
# Builds tests/arch/ctx_switch_check.c with the runtime's context switch for this
# machine and runs it; then, with Debian's gcc-aarch64-linux-gnu and qemu-user
# (scripts/quickstart.sh installs both), for AArch64 under qemu-aarch64, so the
# AArch64 assembly runs on x86-64 machines too (and the x86-64 one under qemu-x86_64
# on AArch64 machines, if a cross compiler for it is there).
# Usage: run_ctx_switch_check.sh SOURCE_DIR BUILD_DIR. Exit 0: every build ran and
# passed; 1: a check failed; 77 (ctest's skip): the native check passed but the
# cross tools are missing.
set -euo pipefail
src="$1"
out="$2"
mkdir -p "$out"
rt="$src/runtime"
flags=(-O2 -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -I"$rt")
build_and_run() { # ARCH CC RUNNER...
	local arch=$1 cc=$2
	shift 2
	"$cc" "${flags[@]}" "$src/tests/arch/ctx_switch_check.c" "$rt/context.c" \
		"$rt/context_$arch.S" -o "$out/ctx_switch_check_$arch" -lpthread
	"$@" "$out/ctx_switch_check_$arch"
}
case "$(uname -m)" in
x86_64) native=x86_64 other=aarch64 cross=aarch64-linux-gnu-gcc qemu=qemu-aarch64 sysroot=/usr/aarch64-linux-gnu ;;
aarch64) native=aarch64 other=x86_64 cross=x86_64-linux-gnu-gcc qemu=qemu-x86_64 sysroot=/usr/x86_64-linux-gnu ;;
*) echo "ctx switch check: no context switch for $(uname -m)"; exit 1 ;;
esac
build_and_run "$native" "${CC:-cc}"
if ! command -v "$cross" >/dev/null || ! command -v "$qemu" >/dev/null; then
	echo "ctx switch check: $other skipped: $cross or $qemu missing (apt-get install gcc-aarch64-linux-gnu qemu-user)"
	exit 77
fi
build_and_run "$other" "$cross" "$qemu" -L "$sysroot"
