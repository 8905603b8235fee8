#!/bin/sh
# SPDX-License-Identifier: MIT
# B1 idle capacity (DESIGN.md §6: 19,000 idle agent sockets per worker at <= 2 KiB of hub
# memory each; 200,000 on the machine with several workers). Per repetition: a fresh hub
# (one tenant; --workers W, no NATS: the workers poll the store), its summed VmRSS (master
# and workers), then sbload opens N authenticated agent sockets (hello sent, welcome
# received; --procs so each client process stays under 19,000 fds, no pings) and holds
# them; once all are up and a second has passed: VmRSS again, then the hub's CPU time
# (utime + stime of every process, /proc/PID/stat) over HOLD idle seconds.
#
# --nats: the workers also connect to a nats-server started here (as production runs several
# workers); events then cross over NATS and the store is polled once a second, not every 25 ms.
#
# usage: hub_b1_idle.sh [--sockets N] [--workers W] [--repeats R] [--hold S] [--rate R] [--nats]
# Output per repetition:
#   RESULT idle <workers> <ready> <KiB per socket> <hub RSS MiB> <idle CPU % of one core> <upgrades/s>
set -eu
. "$(dirname "$0")/lib.sh"

sockets=19000
workers=1
repeats=3
hold=30
crate=0
nats=0
while [ $# -gt 0 ]; do
	case $1 in
	--sockets) sockets=$2; shift 2 ;;
	--workers) workers=$2; shift 2 ;;
	--repeats) repeats=$2; shift 2 ;;
	--hold) hold=$2; shift 2 ;;
	--rate) crate=$2; shift 2 ;;
	--nats) nats=1; shift ;;
	*) bench_die "usage: hub_b1_idle.sh [--sockets N] [--workers W] [--repeats R] [--hold S] [--rate R] [--nats]" ;;
	esac
done
bench_need_tools
bench_tmp
base=${BASE_PORT:-$(bench_port_base)}
NATS_PID=""
cleanup() {
	hub_stop
	[ -n "$NATS_PID" ] && kill "$NATS_PID" 2>/dev/null
	[ -n "${BENCH_TMP_OWNED:-}" ] && rm -rf "$BENCH_TMP"
	return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

procs=$(((sockets + 17999) / 18000))
pin=$PIN_CLI
[ "$workers" -gt 1 ] && pin=""
tck=$(getconf CLK_TCK)
r=1
while [ $r -le "$repeats" ]; do
	port=$((base + 40 + r))
	out=$BENCH_TMP/idle-$workers-$r.txt
	nats_url=""
	if [ "$nats" = 1 ]; then
		command -v nats-server >/dev/null || bench_die "--nats: no nats-server"
		nport=$((port + 1000))
		nats-server -a 127.0.0.1 -p "$nport" >"$BENCH_TMP/nats-$r.log" 2>&1 &
		NATS_PID=$!
		nats_url="nats://127.0.0.1:$nport"
		sleep 0.5
	fi
	hubm_start "$port" 1 "$workers" $nats_url
	hubm_login 1
	sleep 1
	rss0=$(hub_rss_kib)
	# source addresses: a fresh /16-ish block per repetition (TIME_WAIT of the last run)
	$pin "$SBLOAD" --proto hub --url "ws://127.0.0.1:$port/ws" --cookie "$HUB_COOKIE" \
		--origin "$HUB_URL" --mode hold --conns "$sockets" --procs "$procs" \
		--src "127.$((30 + r)).0.1" --connect-rate "$crate" --connect-timeout "$((sockets / 1000 + 120))" \
		--duration "$((hold + 8))" --ping-interval 0 >"$out" 2>&1 &
	load=$!
	i=0
	while ! grep -q '^  run' "$out" && kill -0 "$load" 2>/dev/null && [ $i -lt 3000 ]; do
		i=$((i + 1))
		sleep 0.1
	done
	sleep 1
	rss1=$(hub_rss_kib)
	c0=$(hub_cpu_ticks)
	sleep "$hold"
	c1=$(hub_cpu_ticks)
	rss2=$(hub_rss_kib)
	wait "$load" || true
	ready=$(sed -n 's/^connections: ready \([0-9]*\) of.*/\1/p' "$out")
	setup=$(sed -n 's/^connections: ready .* in \([0-9.]*\) s$/\1/p' "$out")
	ready=${ready:-0}
	[ "$ready" -gt 0 ] || { cat "$out" >&2; bench_die "no socket became ready"; }
	per=$(awk -v a="$rss0" -v b="$rss1" -v n="$ready" 'BEGIN { printf "%.3f", (b - a) / n }')
	mib=$(awk -v b="$rss1" 'BEGIN { printf "%.1f", b / 1024 }')
	cpu=$(awk -v a="$c0" -v b="$c1" -v t="$tck" -v s="$hold" 'BEGIN { printf "%.2f", 100 * (b - a) / t / s }')
	ups=$(awk -v n="$ready" -v s="${setup:-0}" 'BEGIN { printf "%d", (s > 0 ? n / s : 0) }')
	echo "idle workers $workers run $r: $(grep '^connections:' "$out")"
	grep '^at the end' "$out" || true
	echo "  hub RSS ${rss0} -> ${rss1} KiB (${rss2} KiB after ${hold} s idle): $per KiB per socket;" \
		"idle CPU $cpu% of one core over $hold s; $ups upgrades/s during setup"
	[ "$workers" -gt 1 ] && for p in $(hub_pids); do
		printf '  pid %s: %s fds\n' "$p" "$(ls /proc/$p/fd 2>/dev/null | wc -l)"
	done
	echo "RESULT idle $workers $ready $per $mib $cpu $ups"
	hub_stop
	[ -n "$NATS_PID" ] && kill "$NATS_PID" 2>/dev/null && wait "$NATS_PID" 2>/dev/null
	NATS_PID=""
	r=$((r + 1))
done
