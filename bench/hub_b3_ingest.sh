#!/bin/sh
# SPDX-License-Identifier: MIT
# B3 durable ingest (DESIGN.md §6: 20,000 signed inbound webhooks per second committed with
# synchronous=FULL by one worker). Per repetition: a fresh hub (one tenant, one SMS channel
# toward the fake provider; --workers W), then sbwebhook (open loop, signed, C keep-alive
# connections, 1,000 From numbers) at increasing rates for S seconds each. A rate is held
# when every request was answered 200 and p99 ack (from the scheduled time) stays under
# 200 ms; the search stops at the first rate not held. Then a run at 80% of the highest
# held rate gives the ack latency there. Every 200 follows the commit (docs/INTERNALS.md).
#
# usage: hub_b3_ingest.sh [--workers W] [--rates "R1 R2 ..."] [--seconds S] [--repeats K] [--conns C]
# (C: keep-alive connections of sbwebhook, default 256: enough requests in flight to fill
# the group commit while the previous batch syncs; 64 held 14,000/s where 256 held 16,000)
# Output per repetition:
#   RESULT ingest <workers> <max held/s> <achieved/s at max> <p50 ms @80%> <p99 ms @80%> <p99.9 ms @80%> <answers per hub CPU-s @max>
set -eu
. "$(dirname "$0")/lib.sh"

workers=1
conns=256
rates="2000 4000 6000 8000 10000 12000 14000 16000 18000 20000 22000 24000"
seconds=5
repeats=3
while [ $# -gt 0 ]; do
	case $1 in
	--workers) workers=$2; shift 2 ;;
	--rates) rates=$2; shift 2 ;;
	--seconds) seconds=$2; shift 2 ;;
	--repeats) repeats=$2; shift 2 ;;
	--conns) conns=$2; shift 2 ;;
	*) bench_die "usage: hub_b3_ingest.sh [--workers W] [--rates LIST] [--seconds S] [--repeats K] [--conns C]" ;;
	esac
done
bench_need_tools
SBWEBHOOK=${SBWEBHOOK:-$(dirname "$SBLOAD")/sbwebhook}
[ -x "$SBWEBHOOK" ] || bench_die "no sbwebhook at $SBWEBHOOK"
bench_tmp
base=${BASE_PORT:-$(bench_port_base)}
cleanup() { hub_stop; fake_stop; [ -n "${BENCH_TMP_OWNED:-}" ] && rm -rf "$BENCH_TMP"; return 0; }
trap cleanup EXIT
trap 'exit 130' INT TERM
pin=$PIN_CLI
[ "$workers" -gt 1 ] && pin=""

# wh OUT RATE: one sbwebhook step; prints "held answered_rate p50 p99 p99.9 per_cpu"
wh() {
	spid=""
	for p in $(hub_pids); do spid="$spid --server-pid $p"; done
	# shellcheck disable=SC2086
	$pin "$SBWEBHOOK" --url-file "$HUB_DIR/webhooks" --rate "$2" --duration "$seconds" \
		--conns "$conns" --drain 5 --timeout 15 --quiet $spid >"$1" 2>&1 || true
	awk -v rate="$2" '
		/^scheduled/ { sch = $2 + 0; ans = $6 + 0; r = $7; sub(/^\(/, "", r); sub(/\/s$/, "", r) }
		/^status:/ { ok = $3 + 0 }
		$1 == "ack" { p50 = $3; p99 = $5; p999 = $6 }
		/^server pid .*: cpu / { cs += $5 }
		END { held = (sch > 0 && ans == sch && ok == sch && p99 + 0 < 200) ? 1 : 0
		      printf "%d %s %s %s %s %s\n", held, r, p50, p99, p999, (cs > 0 ? sprintf("%d", ans / cs) : "nan") }' "$1"
}

r=1
while [ $r -le "$repeats" ]; do
	port=$((base + 60 + r * 2))
	fake_start $((port + 1))
	hubm_start "$port" 1 "$workers"
	hubm_channels 1 $((port + 1))
	best=0 best_ach=0 best_cpu=nan
	for rate in $rates; do
		res=$(wh "$BENCH_TMP/ingest-$workers-$r-$rate.txt" "$rate")
		echo "ingest workers $workers run $r rate $rate: held/achieved/p50/p99/p99.9/cpu = $res"
		set -- $res
		[ "$1" = 1 ] || break
		best=$rate best_ach=$2 best_cpu=$6
	done
	at=$((best * 8 / 10))
	if [ "$at" -gt 0 ]; then
		set -- $(wh "$BENCH_TMP/ingest-$workers-$r-at80.txt" "$at")
		echo "ingest workers $workers run $r: max held $best/s (achieved $best_ach/s); at $at/s ack p50 $3 p99 $4 p99.9 $5 ms"
		echo "RESULT ingest $workers $best $best_ach $3 $4 $5 $best_cpu"
	else
		echo "RESULT ingest $workers 0 0 nan nan nan nan"
	fi
	hub_stop
	fake_stop
	r=$((r + 1))
done
