#!/bin/sh
# SPDX-License-Identifier: MIT
# Side-by-side fan-out run against the three peers: starts mosquitto, nats-server and the
# Node ws relay on loopback, pins each server to CPU 0 and sbload to CPU 1 (as in
# DESIGN.md §6), runs the same subscribe + publish pattern against each, and stops them.
# usage: compare.sh [CONNS [MESSAGES [RATE]]]   (env SBLOAD: path to sbload; BASE_PORT)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
conns=${1:-1000}
msgs=${2:-50}
rate=${3:-10}
sbload=${SBLOAD:-$here/../../build/release/bench/sbload}
base=${BASE_PORT:-19200}
[ -x "$sbload" ] || { echo "compare.sh: no sbload at $sbload (set SBLOAD)" >&2; exit 2; }
pin_srv=""; pin_cli=""
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
	pin_srv="taskset -c 0"; pin_cli="taskset -c 1"
fi
pids=""
cleanup() { for p in $pids; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM

$pin_srv "$here/start_mosquitto.sh" "$base" "$((base + 1))" >/dev/null 2>&1 & mq=$!
$pin_srv "$here/start_nats.sh" "$((base + 2))" >/dev/null 2>&1 & nats=$!
$pin_srv node "$here/ws_relay.mjs" --port "$((base + 3))" >/dev/null 2>&1 & relay=$!
pids="$mq $nats $relay"
sleep 1.5

run() {
	echo "=== $1"
	$pin_cli "$sbload" --proto "$1" --url "ws://127.0.0.1:$2/" --conns "$conns" \
		--pub-rate "$rate" --messages "$msgs" --server-pid "$3" --quiet \
		--duration "$(( msgs / (rate > 0 ? rate : 1) + 5 ))" || true
}
run mqtt "$base" "$mq"
run nats "$((base + 2))" "$nats"
run ws "$((base + 3))" "$relay"
