#!/bin/sh
# SPDX-License-Identifier: MIT
# B2 webhook to agent (DESIGN.md §6: p50 under 1 ms, p99 under 5 ms at 1,000 webhooks/s
# fanned out to 10 agents each, 100 tenants). Per repetition: a fresh hub on CPU 0 with
# TENANTS tenants, each with an owner session and an SMS channel toward the fake provider;
# sbload on CPU 1 opens AGENTS sockets per tenant (round-robin over the sessions) and, once
# all are ready, sbwebhook (also CPU 1) sends RATE signed webhooks a second round-robin over
# the tenants' webhook URLs for S seconds, each Body stamped t=<scheduled ns>. Every socket
# times its tenant's message.created event from that scheduled time (the stamp marker
# '"direction":"in","body":"t=' matches message.created only, not the conversation update
# that follows it in the same commit).
#
# usage: hub_b2_webhook_agent.sh [--tenants T] [--agents A] [--rate R] [--seconds S] [--repeats K]
# Output per repetition:
#   RESULT w2a <p50 ms> <p99 ms> <p99.9 ms> <max ms> <delivered> <expected> <ack p99 ms>
set -eu
. "$(dirname "$0")/lib.sh"

tenants=100
agents=10
rate=1000
seconds=10
repeats=3
while [ $# -gt 0 ]; do
	case $1 in
	--tenants) tenants=$2; shift 2 ;;
	--agents) agents=$2; shift 2 ;;
	--rate) rate=$2; shift 2 ;;
	--seconds) seconds=$2; shift 2 ;;
	--repeats) repeats=$2; shift 2 ;;
	*) bench_die "usage: hub_b2_webhook_agent.sh [--tenants T] [--agents A] [--rate R] [--seconds S] [--repeats K]" ;;
	esac
done
bench_need_tools
SBWEBHOOK=${SBWEBHOOK:-$(dirname "$SBLOAD")/sbwebhook}
bench_tmp
base=${BASE_PORT:-$(bench_port_base)}
cleanup() { hub_stop; fake_stop; [ -n "${BENCH_TMP_OWNED:-}" ] && rm -rf "$BENCH_TMP"; return 0; }
trap cleanup EXIT
trap 'exit 130' INT TERM

conns=$((tenants * agents))
r=1
while [ $r -le "$repeats" ]; do
	port=$((base + 80 + r * 2))
	out=$BENCH_TMP/w2a-$r.txt
	fake_start $((port + 1))
	hubm_start "$port" "$tenants"
	hubm_channels "$tenants" $((port + 1))
	$PIN_CLI "$SBLOAD" --proto hub --url "ws://127.0.0.1:$port/ws" --cookie-file "$HUB_DIR/cookies" \
		--origin "$HUB_URL" --conns "$conns" --src "127.$((40 + r)).0.1" \
		--stamp-marker '"direction":"in","body":"t=' --count-marker '"message.created"' \
		--duration "$((seconds + 4))" --ping-interval 0 --server-pid "$HUB_PID" >"$out" 2>&1 &
	load=$!
	i=0
	while ! grep -q '^  run' "$out" && kill -0 "$load" 2>/dev/null && [ $i -lt 600 ]; do
		i=$((i + 1))
		sleep 0.1
	done
	$PIN_CLI "$SBWEBHOOK" --url-file "$HUB_DIR/webhooks" --rate "$rate" --duration "$seconds" \
		--conns 16 --drain 3 --quiet --server-pid "$HUB_PID" >"$out.wh" 2>&1 || true
	wait "$load" || true
	hub_stop
	fake_stop
	p50=$(sbload_field "$out" latency p50)
	p99=$(sbload_field "$out" latency p99)
	p999=$(sbload_field "$out" latency p99.9)
	mx=$(sbload_field "$out" latency max)
	got=$(sed -n 's/^messages received.*stamped \([0-9]*\).*/\1/p' "$out")
	ans=$(awk '/^status:/ { print $3 + 0 }' "$out.wh")
	ack=$(awk '$1 == "ack" { print $5 }' "$out.wh")
	[ -n "$p99" ] || { cat "$out" "$out.wh" >&2; bench_die "run $r produced no latency figures"; }
	echo "w2a run $r: $(grep '^connections:' "$out")"
	echo "  webhooks: $(grep '^scheduled' "$out.wh"); 200s ${ans:-?}; ack p99 ${ack:-?} ms"
	echo "  event latency p50 $p50 p99 $p99 p99.9 $p999 max $mx ms; delivered $got of $((${ans:-0} * agents))"
	grep '^server pid' "$out" "$out.wh" | sed 's/^/  /' || true
	echo "RESULT w2a $p50 $p99 $p999 $mx ${got:-0} $((${ans:-0} * agents)) ${ack:-nan}"
	r=$((r + 1))
done
