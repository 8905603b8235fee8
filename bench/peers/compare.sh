#!/bin/sh
# SPDX-License-Identifier: MIT
# Side-by-side fan-out run against the three peers: starts mosquitto, nats-server and the
# Node ws relay on loopback, pins each server to CPU 0 and sbload to CPU 1 (as in
# DESIGN.md §6), runs the same subscribe + publish pattern against each, and stops them.
# A peer whose server is not installed (mosquitto, nats-server, node or its `ws` module)
# is skipped with a "skip" line; the others still run.
# usage: compare.sh [CONNS [MESSAGES [RATE]]]
# env: SBLOAD (path to sbload), BASE_PORT (4 ports from it), PEERS ("mqtt nats ws"),
#      SBLOAD_EXTRA (more sbload options, e.g. "--pub-size 390 --drain 3")
set -eu
here=$(cd "$(dirname "$0")" && pwd)
conns=${1:-1000}
msgs=${2:-50}
rate=${3:-10}
sbload=${SBLOAD:-$here/../../build/release/bench/sbload}
base=${BASE_PORT:-19200}
peers=${PEERS:-mqtt nats ws}
extra=${SBLOAD_EXTRA:-}
[ -x "$sbload" ] || { echo "compare.sh: no sbload at $sbload (set SBLOAD)" >&2; exit 2; }
pin_srv=""; pin_cli=""
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
	pin_srv="taskset -c 0"; pin_cli="taskset -c 1"
fi
pids=""
cleanup() { for p in $pids; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
trap 'exit 130' INT TERM

have_ws_module() {
	command -v node >/dev/null &&
		node -e "require.resolve('ws', { paths: ['$here', '$here/../../tests'] })" 2>/dev/null
}

# waits (at most 10 s) until something accepts on 127.0.0.1:PORT; 1 if the server died
wait_port() {
	i=0
	while :; do
		rc=0
		curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$1/" || rc=$?
		[ $rc -ne 7 ] && return 0
		i=$((i + 1))
		{ [ $i -gt 100 ] || ! kill -0 "$2" 2>/dev/null; } && return 1
		sleep 0.1
	done
}

run() {
	echo "=== $1"
	if ! wait_port "$2" "$3"; then
		echo "skip $1: the server did not start"
		return 0
	fi
	# shellcheck disable=SC2086
	$pin_cli "$sbload" --proto "$1" --url "ws://127.0.0.1:$2/" --conns "$conns" \
		--pub-rate "$rate" --messages "$msgs" --server-pid "$3" --quiet \
		--duration "$(( msgs / (rate > 0 ? rate : 1) + 5 ))" $extra || true
}

for peer in $peers; do
	case $peer in
	mqtt)
		if ! command -v mosquitto >/dev/null; then
			echo "=== mqtt"; echo "skip mqtt: mosquitto is not installed"; continue
		fi
		$pin_srv "$here/start_mosquitto.sh" "$base" "$((base + 1))" >/dev/null 2>&1 &
		p=$!; pids="$pids $p"
		run mqtt "$base" "$p"
		;;
	nats)
		if ! command -v nats-server >/dev/null; then
			echo "=== nats"; echo "skip nats: nats-server is not installed"; continue
		fi
		$pin_srv "$here/start_nats.sh" "$((base + 2))" >/dev/null 2>&1 &
		p=$!; pids="$pids $p"
		run nats "$((base + 2))" "$p"
		;;
	ws)
		if ! have_ws_module; then
			echo "=== ws"; echo "skip ws: node or its ws module is missing (npm install ws in bench/peers)"
			continue
		fi
		$pin_srv node "$here/ws_relay.mjs" --port "$((base + 3))" >/dev/null 2>&1 &
		p=$!; pids="$pids $p"
		run ws "$((base + 3))" "$p"
		;;
	*) echo "compare.sh: unknown peer $peer" >&2; exit 2 ;;
	esac
	kill "$p" 2>/dev/null || true
	wait "$p" 2>/dev/null || true
done
