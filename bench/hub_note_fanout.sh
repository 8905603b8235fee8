#!/bin/sh
# SPDX-License-Identifier: MIT
# Note fan-out (DESIGN.md §6: one event to 1,000 agent sockets of a tenant, p99 to the last
# under 10 ms): a fresh hub on CPU 0; sbload on CPU 1 opens N agent sockets (one session,
# hello, welcome) and, once all are ready, runs sbnote, an open-loop REST publisher that
# POSTs notes at a fixed rate with the scheduled CLOCK_MONOTONIC time in the body
# ("t=<ns>"). Each socket's message.created event is timed from that scheduled time:
# "latency" is every delivery, "to-last" the slowest socket per note. Server CPU covers
# everything the hub did in the run (HTTP, the store's commit, the fan-out).
#
# usage: hub_note_fanout.sh [--sockets N] [--rate R] [--seconds S] [--repeats K]
# Output lines for bench/run, per repetition:
#   RESULT fanout hub <p50 ms> <p99 ms> <p99.9 ms> <to-last p50> <to-last p99> <deliveries/CPU-s>
set -eu
. "$(dirname "$0")/lib.sh"

sockets=1000
rate=20
seconds=10
repeats=3
while [ $# -gt 0 ]; do
	case $1 in
	--sockets) sockets=$2; shift 2 ;;
	--rate) rate=$2; shift 2 ;;
	--seconds) seconds=$2; shift 2 ;;
	--repeats) repeats=$2; shift 2 ;;
	*) bench_die "usage: hub_note_fanout.sh [--sockets N] [--rate R] [--seconds S] [--repeats K]" ;;
	esac
done
bench_need_tools
[ -x "$SBNOTE" ] || bench_die "no sbnote at $SBNOTE (set SBNOTE)"
bench_tmp
base=${BASE_PORT:-$(bench_port_base)}
cleanup() {
	hub_stop
	[ -n "${BENCH_TMP_OWNED:-}" ] && rm -rf "$BENCH_TMP"
	return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

messages=$(awk -v r="$rate" -v s="$seconds" 'BEGIN { printf "%d", r * s }')
r=1
while [ $r -le "$repeats" ]; do
	port=$((base + 20 + r))
	out=$BENCH_TMP/fanout-$r.txt
	hub_start "$port"
	hub_login
	hub_conversation
	# sbload gives sbnote the schedule (SBLOAD_GO_NS, SBLOAD_INTERVAL_NS, SBLOAD_MESSAGES)
	pub="'$SBNOTE' --url $HUB_URL/api/v1/conversations/$HUB_CONV/notes --cookie $HUB_COOKIE"
	pub="$pub --csrf $HUB_CSRF --conns 4 --quiet"
	$PIN_CLI "$SBLOAD" --proto hub --url "ws://127.0.0.1:$port/ws" --cookie "$HUB_COOKIE" \
		--origin "$HUB_URL" --conns "$sockets" --src "127.0.$((20 + r)).1" \
		--pub-rate "$rate" --messages "$messages" --pub-cmd "$pub" \
		--duration "$((seconds + 1))" --drain 3 --ping-interval 0 \
		--server-pid "$HUB_PID" --quiet >"$out" 2>&1 || true
	hub_stop
	p50=$(sbload_field "$out" latency p50)
	p99=$(sbload_field "$out" latency p99)
	p999=$(sbload_field "$out" latency p99.9)
	l50=$(sbload_field "$out" to-last p50)
	l99=$(sbload_field "$out" to-last p99)
	dps=$(sbload_rate "$out")
	if [ -z "$p99" ] || [ -z "$l99" ]; then
		cat "$out" >&2
		bench_die "run $r produced no latency figures"
	fi
	echo "fanout hub run $r: $(grep '^published' "$out")"
	grep '^sbnote:' "$out" || true
	echo "  latency p50 $p50 p99 $p99 p99.9 $p999 ms; to-last p50 $l50 p99 $l99 ms; ${dps:-?} deliveries per server CPU-second"
	echo "RESULT fanout hub $p50 $p99 $p999 $l50 $l99 ${dps:-nan}"
	echo "$p50 $p99 $p999 $l50 $l99 ${dps:-nan}" >>"$BENCH_TMP/fanout-$$.all"
	r=$((r + 1))
done
for col in 1 2 3 4 5 6; do
	set -- $(awk -v c=$col '{ print $c }' "$BENCH_TMP/fanout-$$.all" | stats)
	case $col in
	1) name="latency p50 ms" ;; 2) name="latency p99 ms" ;; 3) name="latency p99.9 ms" ;;
	4) name="to-last p50 ms" ;; 5) name="to-last p99 ms" ;; 6) name="deliveries per CPU-s" ;;
	esac
	echo "fanout $sockets sockets, $rate notes/s for $seconds s, $repeats runs: $name median $1 (spread $2 .. $3)"
done
