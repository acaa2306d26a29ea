#!/usr/bin/env bash
# The main demo: runs each of the seed's examples, ported to Orca, with its timing.
# Usage: examples/run_demo.sh BUILD_DIR/examples
set -euo pipefail
dir="${1:-build/release/examples}"
for ex in say_hello create_task std_async tokio_fetch_data tiny_executor; do
	echo "== $ex"
	start=$(date +%s.%N)
	"$dir/$ex"
	end=$(date +%s.%N)
	awk -v s="$start" -v e="$end" 'BEGIN { printf "   (%.2f s)\n", e - s }'
done
