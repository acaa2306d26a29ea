#!/bin/sh
# Checks a Promela model with spin: generates the verifier, compiles it, runs an
# exhaustive search for assertion violations and invalid end states (deadlocks).
#   run_spin.sh MODEL.pml WORKDIR CC [--expect-fail] [-DNAME ...]
# Exit 0: no error found; or, with --expect-fail, spin found one (what a
# deliberately broken variant must show). The error trail is printed either way.
set -eu
model=$1
work=$2
cc=$3
shift 3
expect_fail=0
defs=""
for a in "$@"; do
	case $a in
	--expect-fail) expect_fail=1 ;;
	-D*) defs="$defs $a" ;;
	*) echo "run_spin.sh: unknown argument $a" >&2; exit 2 ;;
	esac
done
name=$(basename "$model" .pml)
mkdir -p "$work"
cd "$work"
rm -f "$name.pml.trail"
cp "$model" "$name.pml"
start=$(date +%s.%N)
# shellcheck disable=SC2086
spin -a $defs "$name.pml" >spin.out 2>&1 || { cat spin.out; exit 2; }
"$cc" -O2 -w -DSAFETY -o pan pan.c
./pan -m200000 >pan.out 2>&1 || true
end=$(date +%s.%N)
errors=$(sed -n 's/.*errors: \([0-9][0-9]*\).*/\1/p' pan.out)
echo "spin $name${defs:+ with$defs}: $(grep -E 'states, stored' pan.out | sed 's/^ *//'), errors: ${errors:-?}, $(awk "BEGIN { printf \"%.2f\", $end - $start }") s"
if grep -q "max search depth too small" pan.out; then
	echo "search incomplete (depth bound reached): raise -m"
	cat pan.out
	exit 1
fi
if [ -z "$errors" ]; then
	cat pan.out
	exit 1
fi
if [ "$errors" -gt 0 ]; then
	grep -E '^pan:' pan.out || true
	echo "the error trail (last steps):"
	# shellcheck disable=SC2086
	spin -t -p -g $defs "$name.pml" 2>&1 | grep -v '^[[:space:]]*$' | tail -40
fi
if [ $expect_fail -eq 1 ]; then
	if [ "$errors" -gt 0 ]; then
		echo "as required, spin finds the error of this broken variant"
		exit 0
	fi
	echo "spin did NOT find an error in this broken variant"
	exit 1
fi
[ "$errors" -eq 0 ]
