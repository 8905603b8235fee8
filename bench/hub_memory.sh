#!/bin/sh
# SPDX-License-Identifier: MIT
# Server memory per idle WebSocket (DESIGN.md §6: hub at most 2 KiB per authenticated agent
# socket). For each repetition: a fresh server on CPU 0, its VmRSS, then sbload on CPU 1
# opens N sockets in hold mode (hub: hello sent and welcome received; peers: CONNECT/SUB
# acknowledged), and once the server reports them all (hub: sb_ws_connections in /metrics)
# and a second has passed, VmRSS again: (after - before) / N. Prints each repetition and
# the median with the spread (min..max) in KiB.
# Kernel socket memory (about 4.4 KB per loopback socket end) is not in RSS and not counted.
#
# usage: hub_memory.sh [--sockets N] [--repeats R] [--peer hub|mqtt|nats|ws] [--hold S]
# Output lines for bench/run: "RESULT memory <peer> <KiB per socket>" per repetition.
set -eu
. "$(dirname "$0")/lib.sh"

sockets=15000
repeats=3
peer=hub
hold=2
while [ $# -gt 0 ]; do
	case $1 in
	--sockets) sockets=$2; shift 2 ;;
	--repeats) repeats=$2; shift 2 ;;
	--peer) peer=$2; shift 2 ;;
	--hold) hold=$2; shift 2 ;;
	*) bench_die "usage: hub_memory.sh [--sockets N] [--repeats R] [--peer hub|mqtt|nats|ws] [--hold S]" ;;
	esac
done
[ -x "$SBLOAD" ] || bench_die "no sbload at $SBLOAD (set SBLOAD)"
[ "$peer" = hub ] && bench_need_tools
bench_tmp
here=$(cd "$(dirname "$0")" && pwd)
base=${BASE_PORT:-$(bench_port_base)}
SRV_PID=""
cleanup() {
	hub_stop
	[ -n "$SRV_PID" ] && kill "$SRV_PID" 2>/dev/null || true
	[ -n "${BENCH_TMP_OWNED:-}" ] && rm -rf "$BENCH_TMP"
	return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# peer_start PORT: the peer server on CPU 0 in the foreground of a background job; SRV_PID.
peer_start() {
	case $peer in
	mqtt)
		command -v mosquitto >/dev/null || { echo "skip memory mqtt: no mosquitto"; exit 0; }
		$PIN_SRV "$here/peers/start_mosquitto.sh" "$1" "$(($1 + 1))" "$BENCH_TMP/mq-$1" \
			>"$BENCH_TMP/peer.log" 2>&1 &
		;;
	nats)
		command -v nats-server >/dev/null || { echo "skip memory nats: no nats-server"; exit 0; }
		$PIN_SRV "$here/peers/start_nats.sh" "$1" "$BENCH_TMP/nats-$1" \
			>"$BENCH_TMP/peer.log" 2>&1 &
		;;
	ws)
		$PIN_SRV node "$here/peers/ws_relay.mjs" --port "$1" >"$BENCH_TMP/peer.log" 2>&1 &
		;;
	*) bench_die "unknown --peer $peer" ;;
	esac
	SRV_PID=$!
	i=0
	# the start scripts exec the server, so $! is its pid; wait for the port (curl exit
	# status 7: connection refused)
	while :; do
		rc=0
		curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$1/" || rc=$?
		[ $rc -ne 7 ] && break
		i=$((i + 1))
		[ $i -le 100 ] && kill -0 "$SRV_PID" 2>/dev/null ||
			{ cat "$BENCH_TMP/peer.log" >&2; bench_die "$peer did not start"; }
		sleep 0.1
	done
}

r=1
results=""
while [ $r -le "$repeats" ]; do
	port=$((base + r * 4))
	out=$BENCH_TMP/mem-$peer-$r.txt
	if [ "$peer" = hub ]; then
		hub_start "$port"
		hub_login
		pid=$HUB_PID
		set -- --proto hub --url "ws://127.0.0.1:$port/ws" --cookie "$HUB_COOKIE" \
			--origin "$HUB_URL" --mode hold
	else
		peer_start "$port"
		pid=$SRV_PID
		case $peer in
		mqtt) set -- --proto mqtt --url "ws://127.0.0.1:$port/" --mode subscribe ;;
		nats) set -- --proto nats --url "ws://127.0.0.1:$port/" --mode subscribe ;;
		ws) set -- --proto ws --url "ws://127.0.0.1:$port/" --mode hold ;;
		esac
	fi
	sleep 0.3
	rss0=$(proc_rss_kib "$pid")
	# a source address per repetition keeps TIME_WAIT ports of the last run out of the way
	$PIN_CLI "$SBLOAD" "$@" --conns "$sockets" --src "127.0.$((10 + r)).1" \
		--duration "$(awk -v h="$hold" 'BEGIN { print h + 3 }')" --ping-interval 0 --server-pid "$pid" \
		>"$out" 2>&1 &
	load=$!
	# sbload prints "run" progress lines once every socket is ready or failed (bounded)
	i=0
	while ! grep -q '^  run' "$out" && kill -0 "$load" 2>/dev/null && [ $i -lt 1200 ]; do
		i=$((i + 1))
		sleep 0.1
	done
	sleep "$hold"
	rss1=$(proc_rss_kib "$pid")
	wait "$load" || true
	ready=$(sed -n 's/^connections: ready \([0-9]*\) of.*/\1/p' "$out")
	if [ "${ready:-0}" -lt "$sockets" ]; then
		cat "$out" >&2
		bench_die "$peer: only ${ready:-0} of $sockets sockets ready"
	fi
	per=$(awk -v a="$rss0" -v b="$rss1" -v n="$sockets" 'BEGIN { printf "%.3f", (b - a) / n }')
	echo "memory $peer run $r: rss ${rss0} KiB -> ${rss1} KiB with $sockets sockets: $per KiB per socket ($(sed -n 's/.*(\([0-9.]* KiB per ready connection\)).*/sbload: \1/p' "$out"))"
	echo "RESULT memory $peer $per"
	results="$results $per"
	if [ "$peer" = hub ]; then hub_stop; else kill "$SRV_PID"; wait "$SRV_PID" 2>/dev/null || true; SRV_PID=""; fi
	r=$((r + 1))
done
set -- $(for v in $results; do echo "$v"; done | stats)
echo "memory per idle socket, $peer, $sockets sockets, $repeats runs: median $1 KiB (spread $2 .. $3)"
