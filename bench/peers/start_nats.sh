#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs nats-server 2.9 with a plain (no TLS, no compression) WebSocket listener on
# 127.0.0.1:PORT; its native client port is picked at random on 127.0.0.1. Foreground:
# background it with & and $! is the server's pid.
# usage: start_nats.sh PORT [CONFIG_DIR]
set -eu
port=${1:?usage: start_nats.sh PORT [CONFIG_DIR]}
dir=${2:-${TMPDIR:-/tmp}/sb-nats-$port}
mkdir -p "$dir"
cat > "$dir/nats.conf" <<CONF
host: 127.0.0.1
port: -1
max_connections: 200000
websocket {
	listen: "127.0.0.1:$port"
	no_tls: true
	compression: false
}
CONF
exec nats-server -c "$dir/nats.conf"
