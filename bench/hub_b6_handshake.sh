#!/bin/sh
# SPDX-License-Identifier: MIT
# B6 handshakes (DESIGN.md §6: 5,000 authenticated WebSocket upgrades a second, p99 under
# 10 ms). Per repetition: a fresh hub on CPU 0 (one tenant, one owner session); sbload on
# CPU 1 opens RATE x S agent sockets paced at RATE a second (--connect-rate, 1,024
# handshakes in flight), each a full upgrade: TCP connect, HTTP upgrade with the session
# cookie and Origin checked, hello, welcome. "handshake" is connect() to the 101 answer;
# the achieved rate is sockets ready / setup time (from the first connect to the last
# welcome). RATE 0 = unpaced (the most the hub takes with 256 in flight).
#
# usage: hub_b6_handshake.sh [--rate R] [--seconds S] [--repeats K]
# Output per repetition:
#   RESULT handshake <offered/s> <achieved/s> <p50 ms> <p99 ms> <p99.9 ms> <failed>
set -eu
. "$(dirname "$0")/lib.sh"

rate=5000
seconds=3
repeats=3
while [ $# -gt 0 ]; do
	case $1 in
	--rate) rate=$2; shift 2 ;;
	--seconds) seconds=$2; shift 2 ;;
	--repeats) repeats=$2; shift 2 ;;
	*) bench_die "usage: hub_b6_handshake.sh [--rate R] [--seconds S] [--repeats K]" ;;
	esac
done
bench_need_tools
bench_tmp
base=${BASE_PORT:-$(bench_port_base)}
cleanup() { hub_stop; [ -n "${BENCH_TMP_OWNED:-}" ] && rm -rf "$BENCH_TMP"; return 0; }
trap cleanup EXIT
trap 'exit 130' INT TERM
n=$((rate * seconds))
[ "$rate" = 0 ] && n=15000
[ $n -le 18000 ] || bench_die "at most 18,000 sockets per run (the hub's fd cap): lower --rate or --seconds"
r=1
while [ $r -le "$repeats" ]; do
	port=$((base + 120 + r))
	out=$BENCH_TMP/hs-$rate-$r.txt
	hubm_start "$port" 1
	hubm_login 1
	$PIN_CLI "$SBLOAD" --proto hub --url "ws://127.0.0.1:$port/ws" --cookie "$HUB_COOKIE" \
		--origin "$HUB_URL" --mode hold --conns "$n" --connect-rate "$rate" --inflight 1024 \
		--src "127.$((50 + r)).0.1" --duration 1 --ping-interval 0 --quiet >"$out" 2>&1 || true
	hub_stop
	ready=$(sed -n 's/^connections: ready \([0-9]*\) of.*/\1/p' "$out")
	setup=$(sed -n 's/^connections: ready .* in \([0-9.]*\) s$/\1/p' "$out")
	failed=$(( n - ${ready:-0} ))
	ach=$(awk -v n="${ready:-0}" -v s="${setup:-0}" 'BEGIN { printf "%d", (s > 0 ? n / s : 0) }')
	p50=$(sbload_field "$out" handshake p50)
	p99=$(sbload_field "$out" handshake p99)
	p999=$(sbload_field "$out" handshake p99.9)
	echo "handshake offered $rate/s run $r: $(grep '^connections:' "$out")"
	echo "  achieved $ach/s; handshake p50 $p50 p99 $p99 p99.9 $p999 ms"
	echo "RESULT handshake $rate $ach $p50 $p99 $p999 $failed"
	r=$((r + 1))
done
