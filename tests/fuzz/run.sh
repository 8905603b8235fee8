#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/fuzz/run.sh [SECONDS] [TARGET...]: the `make fuzz` campaign. Builds the libFuzzer
# targets with clang in build/fuzz (everything instrumented: -fsanitize=fuzzer-no-link plus
# ASan and UBSan), runs each target for SECONDS (default 60) on a scratch copy of its
# committed corpus and dictionary, and prints per target: executions, coverage (cov: of
# libFuzzer's last stats line), new inputs, crashes. Artifacts (crash-*, leak-*, timeout-*)
# and new inputs stay in build/fuzz/campaign/<target>/ for minimising (-minimize_crash=1)
# and review; only small interesting ones belong in tests/fuzz/corpus. JOBS (default: nproc)
# targets run at once. Exits 1 when any target crashed.
set -eu
SECONDS_PER_TARGET=${1:-60}
[ $# -gt 0 ] && shift
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$ROOT/build/fuzz
FUZZ=$ROOT/tests/fuzz
JOBS=${JOBS:-$(nproc)}
SUDO=$([ "$(id -u)" = 0 ] || echo sudo)

if ! command -v clang >/dev/null 2>&1 ||
	! ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
	echo "installing clang and libclang-rt-14-dev"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
		clang libclang-rt-14-dev
fi

cmake -S "$ROOT" -B "$BUILD" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DSB_SANITIZE=ON -DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link -gline-tables-only" >/dev/null
cmake --build "$BUILD" --target fuzz -j "$JOBS" >/dev/null

TARGETS=${*:-$(cd "$BUILD/tests/fuzz" && ls fuzz_* | grep -v '^fuzz_replay_' | sed 's/^fuzz_//')}
OUT=$BUILD/campaign
mkdir -p "$OUT"

run_one() {
	t=$1
	d=$OUT/$t
	rm -rf "$d"
	mkdir -p "$d/corpus" "$d/artifacts"
	cp "$FUZZ/corpus/$t"/* "$d/corpus/" 2>/dev/null || true
	ls "$d/corpus" >"$d/seeds.txt"
	dict=""
	[ -f "$FUZZ/dict/$t.dict" ] && dict="-dict=$FUZZ/dict/$t.dict"
	leaks=1
	# the whole-server target's hub keeps running (and allocating) when libFuzzer exits
	[ "$t" = server ] && leaks=0
	ASAN_OPTIONS=detect_leaks=$leaks:abort_on_error=1:symbolize=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	"$BUILD/tests/fuzz/fuzz_$t" -max_total_time="$SECONDS_PER_TARGET" -print_final_stats=1 \
		-timeout=10 -rss_limit_mb=4096 -max_len=8192 -artifact_prefix="$d/artifacts/" \
		$dict "$d/corpus" >"$d/log" 2>&1 || true
}

set -- $TARGETS
running=0
for t in "$@"; do
	run_one "$t" &
	running=$((running + 1))
	if [ "$running" -ge "$JOBS" ]; then
		wait
		running=0
	fi
done
wait

status=0
printf '%-14s %12s %8s %10s %8s\n' target executions cov new_inputs crashes
for t in "$@"; do
	d=$OUT/$t
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$d/log" | tail -1)
	cov=$(grep -o 'cov: [0-9]*' "$d/log" | tail -1 | sed 's/cov: //')
	crashes=$(ls "$d/artifacts" | wc -l)
	new=$(ls "$d/corpus" | grep -vxF -f "$d/seeds.txt" | wc -l || true)
	printf '%-14s %12s %8s %10s %8s\n' "$t" "${execs:-?}" "${cov:-?}" "$new" "$crashes"
	[ "$crashes" -gt 0 ] && status=1
done
echo "logs, new inputs and artifacts: $OUT/<target>/"
exit $status
