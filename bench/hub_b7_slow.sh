#!/bin/sh
# SPDX-License-Identifier: MIT
# B7 slow consumers (DESIGN.md §6: a reader that stops costs a bounded amount of memory,
# then is culled; the others' p99 moves less than 20%). Per repetition, two runs on fresh
# hubs (CPU 0) with the same load: N agent sockets of one tenant and sbnote publishing
# notes (open loop, RATE a second for S seconds, PAD extra body bytes) as in
# hub_note_fanout.sh; in the second run every K-th socket stops reading when publishing
# starts (sbload --stall-every K; K 20 = 5%). Compared: the readers' p99 and to-last p99,
# and the hub's peak VmRSS growth over the run (sampled every 0.2 s). A stalled socket is
# only closed by the hub past 8,192 events behind (docs/INTERNALS.md); until then the
# frames wait in the kernel's socket buffers (loopback autotunes to several MB).
#
# usage: hub_b7_slow.sh [--sockets N] [--every K] [--rate R] [--seconds S] [--pad B] [--repeats K]
# Output per repetition:
#   RESULT slow <p99 base> <p99 stalled> <change %> <to-last p99 base> <to-last p99 stalled> <RSS peak growth KiB base> <... stalled> <stalled> <stalled closed by hub>
set -eu
. "$(dirname "$0")/lib.sh"

sockets=1000
every=20
rate=20
seconds=10
pad=0
repeats=3
while [ $# -gt 0 ]; do
	case $1 in
	--sockets) sockets=$2; shift 2 ;;
	--every) every=$2; shift 2 ;;
	--rate) rate=$2; shift 2 ;;
	--seconds) seconds=$2; shift 2 ;;
	--pad) pad=$2; shift 2 ;;
	--repeats) repeats=$2; shift 2 ;;
	*) bench_die "usage: hub_b7_slow.sh [--sockets N] [--every K] [--rate R] [--seconds S] [--pad B] [--repeats K]" ;;
	esac
done
bench_need_tools
bench_tmp
base=${BASE_PORT:-$(bench_port_base)}
cleanup() { hub_stop; [ -n "${BENCH_TMP_OWNED:-}" ] && rm -rf "$BENCH_TMP"; return 0; }
trap cleanup EXIT
trap 'exit 130' INT TERM
messages=$((rate * seconds))

# one_run OUT STALL_EVERY SRC: prints "p99 to-last-p99 rss-peak-growth stalled cut"
one_run() {
	port=$((base + 140 + ${4}))
	hub_start "$port"
	hub_login
	hub_conversation
	pub="'$SBNOTE' --url $HUB_URL/api/v1/conversations/$HUB_CONV/notes --cookie $HUB_COOKIE"
	pub="$pub --csrf $HUB_CSRF --conns 4 --pad $pad --quiet"
	rss0=$(proc_rss_kib "$HUB_PID")
	$PIN_CLI "$SBLOAD" --proto hub --url "ws://127.0.0.1:$port/ws" --cookie "$HUB_COOKIE" \
		--origin "$HUB_URL" --conns "$sockets" --src "$3" --stall-every "$2" \
		--pub-rate "$rate" --messages "$messages" --pub-cmd "$pub" \
		--duration "$((seconds + 1))" --drain 3 --ping-interval 0 \
		--server-pid "$HUB_PID" --quiet >"$1" 2>&1 &
	load=$!
	peak=$rss0
	while kill -0 "$load" 2>/dev/null; do
		v=$(proc_rss_kib "$HUB_PID")
		[ -n "$v" ] && [ "$v" -gt "$peak" ] && peak=$v
		sleep 0.2
	done
	wait "$load" || true
	hub_stop
	st=$(sed -n 's/^stalled readers: \([0-9]*\).*closed by the server \([0-9]*\)/\1 \2/p' "$1")
	echo "$(sbload_field "$1" latency p99) $(sbload_field "$1" to-last p99) $((peak - rss0)) ${st:-0 0}"
}

r=1
while [ $r -le "$repeats" ]; do
	set -- $(one_run "$BENCH_TMP/slow-base-$r.txt" 0 "127.$((60 + r)).0.1" $((r * 2)))
	b99=$1 bl99=$2 brss=$3
	set -- $(one_run "$BENCH_TMP/slow-stall-$r.txt" "$every" "127.$((70 + r)).0.1" $((r * 2 + 1)))
	s99=$1 sl99=$2 srss=$3 nst=$4 ncut=$5
	chg=$(awk -v a="$b99" -v b="$s99" 'BEGIN { printf "%+.1f", (a > 0 ? 100 * (b - a) / a : 0) }')
	echo "slow run $r: readers p99 $b99 -> $s99 ms ($chg%), to-last p99 $bl99 -> $sl99 ms;" \
		"hub RSS peak growth $brss -> $srss KiB; $nst stalled, $ncut closed by the hub"
	grep '^published' "$BENCH_TMP/slow-base-$r.txt" "$BENCH_TMP/slow-stall-$r.txt" | sed 's/^/  /'
	echo "RESULT slow $b99 $s99 $chg $bl99 $sl99 $brss $srss $nst $ncut"
	r=$((r + 1))
done
