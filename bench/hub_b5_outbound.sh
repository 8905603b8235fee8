#!/bin/sh
# SPDX-License-Identifier: MIT
# B5 outbound (DESIGN.md §6: 20,000 sends a second to a local fake provider; 5,000 when it
# takes 50 ms). Per repetition: the fake provider (tests/fakes/fake_twilio.mjs, optionally
# --latency-ms L) and a fresh hub on CPU 0 with CHANNELS tenants, each with one SMS channel
# (max_inflight 16 by default: 4 channels have 64 requests in flight; the hub keeps up to 512
# keep-alive connections to one host, SB_PROVIDER_CONNS) and
# one conversation (made by a signed inbound webhook). One sbnote per conversation POSTs
# agent replies (/messages, 201 once the outbox row is committed) open loop, RATE a second
# in all, for S seconds; the fake's "created" counter is sampled each second and the rate
# is the steady-state slope (from second 1 to the end of sending), then the time for the
# outbox to drain. Replies/s = messages created at the fake per second.
# --tls: the fake serves https (and HTTP/2; a throw-away certificate the hub trusts through
# SB_PROVIDER_CA); --h2 also turns on the hub's SB_PROVIDER_HTTP2, so requests share its
# connections as streams; --max-inflight N sets each channel's cap; --note-conns C the REST
# connections per channel (4); --client-ids time gives each reply a client id that sorts by
# time, as the console's do, --client-ids random one of 32 random hex digits, as an API client
# with UUIDv4s would (the bench's replies have none unless asked). --fake node|c: the provider is the node fake (the default
# with --tls) or bench/sbprovider, the same create path in C on the load's CPU (the default
# otherwise: the node fake takes a core at ~2,500 creates a second). --workers W runs the hub
# with W worker processes (unpinned, as bench/lib.sh starts several).
#
# usage: hub_b5_outbound.sh [--rate R] [--seconds S] [--latency-ms L] [--channels C]
#                           [--max-inflight N] [--tls [--h2]] [--note-conns C]
#                           [--client-ids time|random] [--repeats K] [--fake node|c] [--workers W]
# Output per repetition:
#   RESULT outbound <latency ms> <created/s steady> <created in all> <offered> <REST 201s> <drain s>
#                   <created per hub CPU-second, over the steady window>
set -eu
. "$(dirname "$0")/lib.sh"

rate=20000
seconds=6
lat=0
channels=4
repeats=3
maxin=16
tls=""
nconns=4
fake=""
workers=1
while [ $# -gt 0 ]; do
	case $1 in
	--rate) rate=$2; shift 2 ;;
	--seconds) seconds=$2; shift 2 ;;
	--latency-ms) lat=$2; shift 2 ;;
	--channels) channels=$2; shift 2 ;;
	--max-inflight) maxin=$2; shift 2 ;;
	--tls) tls=1; shift ;;
	--h2) SB_PROVIDER_HTTP2=1; export SB_PROVIDER_HTTP2; shift ;;
	--note-conns) nconns=$2; shift 2 ;;
	--client-ids) noteopt="--client-ids $2"; shift 2 ;;
	--repeats) repeats=$2; shift 2 ;;
	--fake) fake=$2; shift 2 ;;
	--workers) workers=$2; shift 2 ;;
	*) bench_die "usage: hub_b5_outbound.sh [--rate R] [--seconds S] [--latency-ms L] [--channels C] [--max-inflight N] [--tls [--h2]] [--note-conns C] [--client-ids time|random] [--repeats K] [--fake node|c] [--workers W]" ;;
	esac
done
bench_need_tools
bench_tmp
base=${BASE_PORT:-$(bench_port_base)}
cleanup() { hub_stop; fake_stop; [ -n "${BENCH_TMP_OWNED:-}" ] && rm -rf "$BENCH_TMP"; return 0; }
trap cleanup EXIT
trap 'exit 130' INT TERM

scheme=http
fake_tls=""
if [ -n "$tls" ]; then
	command -v openssl >/dev/null || bench_die "--tls needs openssl"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
		-keyout "$BENCH_TMP/fake-key.pem" -out "$BENCH_TMP/fake-cert.pem" -subj /CN=127.0.0.1 \
		-addext subjectAltName=IP:127.0.0.1 2>/dev/null || bench_die "openssl could not make a certificate"
	SB_PROVIDER_CA=$BENCH_TMP/fake-cert.pem
	export SB_PROVIDER_CA
	scheme=https
	fake_tls="--tls-cert $BENCH_TMP/fake-cert.pem --tls-key $BENCH_TMP/fake-key.pem"
fi
[ -n "$fake" ] || { [ -n "$tls" ] && fake=node || fake=c; }
case $fake in
c) [ -z "$tls" ] || bench_die "--fake c speaks plain http only" ;;
node) ;;
*) bench_die "--fake is node or c" ;;
esac
msgs=$((rate * seconds / channels))
r=1
while [ $r -le "$repeats" ]; do
	port=$((base + 100 + r * 2))
	fport=$((port + 1))
	out=$BENCH_TMP/out-$lat-$r
	if [ "$fake" = c ]; then
		provider_start $fport --latency-ms "$lat"
	else
		# shellcheck disable=SC2086 # fake_tls is two options or none
		fake_start $fport --latency-ms "$lat" $fake_tls
	fi
	hubm_start "$port" "$channels" "$workers"
	hubm_channels "$channels" $fport $scheme "$maxin"
	hubm_conversations "$channels"
	pids=""
	c0=$(fake_created)
	t0=$(date +%s.%N)
	while read -r u ck cs; do
		$PIN_CLI "$SBNOTE" --url "$u" --cookie "$ck" --csrf "$cs" --rate $((rate / channels)) \
			--messages "$msgs" --conns "$nconns" ${noteopt:-} --quiet >"$out.note.$(echo "$u" | md5sum | cut -c1-6)" 2>&1 &
		pids="$pids $!"
	done <"$HUB_DIR/replies"
	: >"$out.samples"
	k=0
	while [ $k -lt $((seconds + 60)) ]; do
		sleep 1
		k=$((k + 1))
		echo "$k $(fake_created) $(hub_cpu_ticks)" >>"$out.samples"
		# drained: sending is over and nothing was created in the last second
		if [ $k -gt "$seconds" ] && [ "$(tail -1 "$out.samples" | cut -d' ' -f2)" = \
			"$(tail -2 "$out.samples" | head -1 | cut -d' ' -f2)" ]; then break; fi
	done
	for p in $pids; do wait "$p" || true; done
	ok=$(cat "$out".note.* | sed -n 's/.*(201: \([0-9]*\).*/\1/p' | awk '{ s += $1 } END { print s + 0 }')
	tot=$(($(tail -1 "$out.samples" | cut -d' ' -f2) - c0))
	steady=$(awk -v s="$seconds" 'NR == 1 { a = $2 } $1 == s { b = $2 } END { printf "%d", (b - a) / (s - 1) }' "$out.samples")
	# created per hub CPU-second over the same window (a figure the load's timing moves less)
	tck=$(getconf CLK_TCK)
	percpu=$(awk -v s="$seconds" -v t="$tck" 'NR == 1 { a = $2; ca = $3 } $1 == s { b = $2; cb = $3 }
		END { if (cb > ca) printf "%d", (b - a) * t / (cb - ca); else print "nan" }' "$out.samples")
	drain=$(awk -v s="$seconds" -v c0="$c0" '{ last = $1 } END { print last - s - 1 }' "$out.samples")
	h2=$(curl -s "$FAKE_CONTROL/requests" | sed -n 's/.*"http2_requests":\([0-9]*\).*/\1/p')
	echo "outbound latency ${lat} ms ${scheme}, provider $fake (max_inflight $maxin, $channels channels; ${h2:-0} over HTTP/2) run $r: offered $((msgs * channels)) at $rate/s; 201s $ok; created $tot;" \
		"steady $steady/s ($percpu per hub CPU-second); drained $drain s after sending"
	cut -d' ' -f1,2 "$out.samples" | tr '\n' ' ' | sed 's/^/  created per second: /'; echo
	echo "RESULT outbound $lat $steady $tot $((msgs * channels)) $ok $drain $percpu"
	hub_stop
	fake_stop
	r=$((r + 1))
done
