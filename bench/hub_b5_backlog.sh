#!/bin/sh
# SPDX-License-Identifier: MIT
# B5 from a backlog: outbound sends a second when the outbox already holds the replies, as
# after a provider outage or a restart. hub_b5_outbound.sh measures the whole path (agents'
# REST replies accepted and committed, then sent); this measures the sending alone.
# Per repetition: a fresh hub (CPU 0) with CHANNELS tenants, each with one SMS channel toward
# bench/sbprovider (max_inflight N) and one conversation; REPLIES agent replies are posted
# (sbnote, 201 once committed) while sbprovider answers every create 429 with Retry-After
# 1800 (--busy: an outage; one attempt each, then a retry half an hour later). The hub is stopped,
# every waiting row made due now (sqlite3: the provider is back), sbprovider restarted on the
# same port (CPU 1) to create, and the hub restarted on the same database; the fake's "created" counter is sampled every
# 0.25 s until every waiting row was created. The rate is the slope between 10% and 90% of
# the backlog; the check: created == rows waiting (none twice, none lost) and every outbox
# row settled.
#
# usage: hub_b5_backlog.sh [--replies R] [--channels C] [--max-inflight N] [--repeats K]
# Output per repetition:
#   RESULT backlog <rows waiting> <created/s, 10%..90%> <created per hub CPU-second> <s to drain all>
set -eu
. "$(dirname "$0")/lib.sh"

replies=120000
channels=4
maxin=16
repeats=3
while [ $# -gt 0 ]; do
	case $1 in
	--replies) replies=$2; shift 2 ;;
	--channels) channels=$2; shift 2 ;;
	--max-inflight) maxin=$2; shift 2 ;;
	--repeats) repeats=$2; shift 2 ;;
	*) bench_die "usage: hub_b5_backlog.sh [--replies R] [--channels C] [--max-inflight N] [--repeats K]" ;;
	esac
done
bench_need_tools
command -v sqlite3 >/dev/null || bench_die "needs the sqlite3 shell (Debian: sqlite3)"
bench_tmp
base=${BASE_PORT:-$(bench_port_base)}
cleanup() { hub_stop; fake_stop; [ -n "${BENCH_TMP_OWNED:-}" ] && rm -rf "$BENCH_TMP"; return 0; }
trap cleanup EXIT
trap 'exit 130' INT TERM

r=1
while [ $r -le "$repeats" ]; do
	port=$((base + 200 + r * 2))
	fport=$((port + 1))
	out=$BENCH_TMP/backlog-$r
	provider_start $fport --busy 1800
	hubm_start "$port" "$channels" 1
	hubm_channels "$channels" $fport http "$maxin"
	hubm_conversations "$channels"
	pids=""
	i=0
	while read -r u ck cs; do
		i=$((i + 1))
		$PIN_CLI "$SBNOTE" --url "$u" --cookie "$ck" --csrf "$cs" --rate $((10000 / channels)) \
			--messages $((replies / channels)) --conns 4 --quiet >"$out.note.$i" 2>&1 &
		pids="$pids $!"
	done <"$HUB_DIR/replies"
	for p in $pids; do wait "$p" || true; done
	ok=$(cat "$out".note.* | sed -n 's/.*(201: \([0-9]*\).*/\1/p' | awk '{ s += $1 } END { print s + 0 }')
	hub_stop
	fake_stop
	# the provider is back: every waiting row is due now
	now=$(($(date +%s%N) / 1000000))
	sqlite3 "$HUB_DIR/db" "UPDATE outbox SET next_at = $now WHERE state IN (0, 2)"
	waiting=$(sqlite3 "$HUB_DIR/db" "SELECT count(*) FROM outbox WHERE state IN (0, 2)")
	total=$(sqlite3 "$HUB_DIR/db" "SELECT count(*) FROM outbox")
	provider_start $fport
	c0=$(fake_created)
	SB_PWHASH=min $PIN_SRV "$HUBD" serve --listen "127.0.0.1:$port" --db "$HUB_DIR/db" \
		--public-url "$HUB_URL" --web-root "$SB_WEB_ROOT" >>"$HUB_DIR/log" 2>&1 &
	HUB_PID=$!
	t0=$(date +%s%N)
	: >"$out.samples"
	k=0
	while [ $k -lt 240 ]; do
		sleep 0.25
		k=$((k + 1))
		c=$(($(fake_created) - c0))
		echo "$((($(date +%s%N) - t0) / 1000000)) $c $(hub_cpu_ticks)" >>"$out.samples"
		[ "$c" -lt "$waiting" ] || break
	done
	sleep 0.5 # a second create of any row would reach the fake by now
	dup=$(($(fake_created) - c0 - waiting))
	hub_stop
	settled=$(sqlite3 "$HUB_DIR/db" "SELECT count(*) FROM outbox WHERE state >= 4")
	tck=$(getconf CLK_TCK)
	# the slope between the samples that first passed 10% and 90% of the backlog
	rate=$(awk -v w="$waiting" -v t="$tck" '
		a == "" && $2 >= w * 0.1 { a = $1; ca = $2; ta = $3 }
		b == "" && $2 >= w * 0.9 { b = $1; cb = $2; tb = $3 }
		END { if (b > a) printf "%d %d", (cb - ca) * 1000 / (b - a), (tb > ta ? (cb - ca) * t / (tb - ta) : 0); else print "nan nan" }' "$out.samples")
	last=$(tail -1 "$out.samples")
	echo "backlog run $r: $ok replies accepted (201), $waiting waiting of $total outbox rows; created $(echo "$last" | cut -d' ' -f2) in $(echo "$last" | cut -d' ' -f1) ms" \
		"after the restart; $(echo "$rate" | cut -d' ' -f1)/s from 10% to 90% ($(echo "$rate" | cut -d' ' -f2) per hub CPU-second);" \
		"created beyond the backlog: $dup; outbox rows settled: $settled of $total"
	[ "$dup" = 0 ] || echo "backlog run $r: FAILED: $((waiting + dup)) creates for $waiting rows waiting" >&2
	echo "RESULT backlog $waiting $rate $(echo "$last" | awk '{ printf "%.2f", $1 / 1000 }')"
	fake_stop
	r=$((r + 1))
done
