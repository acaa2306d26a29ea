#!/usr/bin/env bash
# Orca's two Quick start commands (see README.md), usable on a fresh Debian 12
# machine as root, and idempotent:
#   scripts/quickstart.sh demo   install what is missing, build, run the demo
#                                (the seed examples, then the benchmark suite's
#                                quick mode, ending with its table)
#   scripts/quickstart.sh test   install what is missing, build, run every test:
#                                release (unit, examples, models), then the tsan
#                                and asan (ASan+UBSan) presets, then the fuzzers
#                                (fuzz preset: clang + libFuzzer, a short run each)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

mode="${1:-}"
case "$mode" in
demo | test) ;;
*)
	echo "usage: $0 demo|test" >&2
	exit 2
	;;
esac

# Debian packages the build, the tests, the models, the fuzzers (clang with its
# libFuzzer runtime), the network-fault tests (ip/tc, nft), the AArch64 context
# switch check (cross gcc, qemu-user) and the benchmark report (wrk load, gnuplot
# chart) need.
packages=(cmake ninja-build gcc g++ pkg-config liburing-dev libck-dev libgtest-dev
	libbenchmark-dev relacy-dev spin procps clang libclang-rt-14-dev iproute2 nftables
	gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user wrk gnuplot-nox)
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
	echo "quickstart: installing ${missing[*]}"
	if [[ $(id -u) -ne 0 ]]; then
		echo "quickstart: run as root (or install these packages first)" >&2
		exit 1
	fi
	apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi

jobs=$(nproc)
build() {
	cmake --preset "$1" >/dev/null
	cmake --build --preset "$1" -j "$jobs"
}

if [[ $mode == demo ]]; then
	build release
	examples/run_demo.sh build/release/examples
	# The benchmark suite's quick mode: Orca against plain threads (and Tokio and Go
	# when ../shared/peers is built); ends with the table.
	SKIP_BUILD=1 benchmarks/run.sh quick
	exit 0
fi

status=0
for preset in release tsan asan fuzz; do
	echo "== $preset: build"
	build "$preset"
	echo "== $preset: test"
	ctest --preset "$preset" || status=1
done
if ((status)); then
	echo "quickstart: some tests failed (see above)" >&2
fi
exit $status
