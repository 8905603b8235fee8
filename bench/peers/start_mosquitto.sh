#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs mosquitto 2.0 with a WebSocket listener on 127.0.0.1:PORT (in the foreground:
# background it with & and $! is the broker's pid), anonymous, without persistence.
# mosquitto 2.0.11 refuses to start with only a WebSocket listener ("Unable to start any
# listening sockets"), so a plain MQTT listener is opened too, on 127.0.0.1:MQTT_PORT
# (default PORT + 1). socket_domain ipv4 is what keeps lws on 127.0.0.1 only.
# usage: start_mosquitto.sh PORT [MQTT_PORT [CONFIG_DIR]]
set -eu
port=${1:?usage: start_mosquitto.sh PORT [MQTT_PORT [CONFIG_DIR]]}
mqtt_port=${2:-$((port + 1))}
dir=${3:-${TMPDIR:-/tmp}/sb-mosquitto-$port}
mkdir -p "$dir"
cat > "$dir/mosquitto.conf" <<CONF
per_listener_settings false
allow_anonymous true
persistence false
max_connections -1
log_dest stderr
log_type error
log_type warning

listener $mqtt_port 127.0.0.1
protocol mqtt

listener $port 127.0.0.1
socket_domain ipv4
protocol websockets
CONF
exec mosquitto -c "$dir/mosquitto.conf"
