# SPDX-License-Identifier: MIT
# Shared by the hub benchmark scripts (sourced, POSIX sh): tool paths, CPU pinning, a fresh
# hubd with one tenant, one owner agent, a session, a contact and a conversation, and the
# statistics helpers. Everything is on loopback and every wait is bounded.
#
# Environment: HUBD, SBLOAD, SBNOTE (default: build/release/...), SB_WEB_ROOT (web),
# BENCH_TMP (a directory for databases and logs; default mktemp -d).

bench_root=$(cd "$(dirname "$0")/.." && pwd)
HUBD=${HUBD:-$bench_root/build/release/hubd}
SBLOAD=${SBLOAD:-$bench_root/build/release/bench/sbload}
SBNOTE=${SBNOTE:-$(dirname "$SBLOAD")/sbnote}
SBPROVIDER=${SBPROVIDER:-$(dirname "$SBLOAD")/sbprovider}
SB_WEB_ROOT=${SB_WEB_ROOT:-$bench_root/web}

bench_die() { echo "$(basename "$0"): $*" >&2; exit 2; }

bench_need_tools() {
	[ -x "$HUBD" ] || bench_die "no hubd at $HUBD (cmake --preset release && cmake --build build/release, or set HUBD)"
	[ -x "$SBLOAD" ] || bench_die "no sbload at $SBLOAD (set SBLOAD)"
	command -v curl >/dev/null || bench_die "curl is needed"
}

# Server on CPU 0, load on CPU 1 (DESIGN.md §6), when there are two CPUs and taskset.
PIN_SRV=""
PIN_CLI=""
if command -v taskset >/dev/null 2>&1 && [ "$(nproc)" -ge 2 ]; then
	PIN_SRV="taskset -c 0"
	PIN_CLI="taskset -c 1"
fi

bench_tmp() {
	if [ -z "${BENCH_TMP:-}" ]; then
		BENCH_TMP=$(mktemp -d "${TMPDIR:-/tmp}/sb-bench.XXXXXX")
		BENCH_TMP_OWNED=1
	fi
	mkdir -p "$BENCH_TMP"
}

# A free-looking port base (21000..30990) that differs between concurrent runs.
bench_port_base() { echo $((21000 + ($$ % 1000) * 10)); }

HUB_PID=""
# hub_start PORT: a fresh database and hubd on 127.0.0.1:PORT; sets HUB_PID, HUB_URL,
# HUB_DIR. Waits (at most 15 s) until /metrics answers.
hub_start() {
	bench_tmp
	HUB_PORT=$1
	HUB_URL=http://127.0.0.1:$HUB_PORT
	HUB_DIR=$BENCH_TMP/hub-$HUB_PORT-$$
	rm -rf "$HUB_DIR"
	mkdir -p "$HUB_DIR"
	tenant=$("$HUBD" tenant create --name bench --db "$HUB_DIR/db" 2>>"$HUB_DIR/log") ||
		bench_die "hubd tenant create failed (see $HUB_DIR/log)"
	echo password123 | "$HUBD" agent create --tenant "$tenant" --email bench@example.com \
		--role owner --db "$HUB_DIR/db" >/dev/null 2>>"$HUB_DIR/log" ||
		bench_die "hubd agent create failed (see $HUB_DIR/log)"
	SB_PWHASH=min $PIN_SRV "$HUBD" serve --listen "127.0.0.1:$HUB_PORT" --db "$HUB_DIR/db" \
		--public-url "$HUB_URL" --web-root "$SB_WEB_ROOT" >>"$HUB_DIR/log" 2>&1 &
	HUB_PID=$!
	i=0
	while ! curl -sf -o /dev/null "$HUB_URL/metrics"; do
		i=$((i + 1))
		if [ $i -gt 150 ] || ! kill -0 "$HUB_PID" 2>/dev/null; then
			tail -5 "$HUB_DIR/log" >&2
			bench_die "hubd did not start on $HUB_URL"
		fi
		sleep 0.1
	done
}

hub_stop() {
	[ -n "$HUB_PID" ] || return 0
	kill "$HUB_PID" 2>/dev/null || true
	i=0
	while kill -0 "$HUB_PID" 2>/dev/null && [ $i -lt 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	kill -9 "$HUB_PID" 2>/dev/null || true
	wait "$HUB_PID" 2>/dev/null || true
	HUB_PID=""
}

# hub_login: sets HUB_COOKIE (the sb_session token) and HUB_CSRF.
hub_login() {
	ans=$(curl -s -D "$HUB_DIR/login.h" -H 'Content-Type: application/json' \
		-d '{"email":"bench@example.com","password":"password123"}' \
		"$HUB_URL/api/v1/auth/login")
	HUB_COOKIE=$(sed -n 's/^[Ss]et-[Cc]ookie: *sb_session=\([^;]*\).*/\1/p' "$HUB_DIR/login.h" |
		tr -d '\r')
	HUB_CSRF=$(echo "$ans" | sed -n 's/.*"csrf_token":"\([^"]*\)".*/\1/p')
	[ -n "$HUB_COOKIE" ] && [ -n "$HUB_CSRF" ] || bench_die "login failed: $ans"
}

# hub_post PATH JSON: the answer's body (session cookie and CSRF token attached).
hub_post() {
	curl -s -H 'Content-Type: application/json' -H "X-CSRF-Token: $HUB_CSRF" \
		-H "Cookie: sb_session=$HUB_COOKIE" -d "$2" "$HUB_URL$1"
}

# hub_conversation: a contact and a conversation; sets HUB_CONV.
hub_conversation() {
	c=$(hub_post /api/v1/contacts '{"name":"bench contact"}' | sed -n 's/^{"id":\([0-9]*\).*/\1/p')
	[ -n "$c" ] || bench_die "contact creation failed"
	HUB_CONV=$(hub_post /api/v1/conversations "{\"contact_id\":$c}" |
		sed -n 's/^{"id":\([0-9]*\).*/\1/p')
	[ -n "$HUB_CONV" ] || bench_die "conversation creation failed"
}

hub_ws_connections() {
	curl -s "$HUB_URL/metrics" | awk '$1 == "sb_ws_connections" { print $2 }'
}

proc_rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }

# stats: numbers on stdin, one a line -> "median min max n" (median of an even count: the
# mean of the middle two).
stats() {
	sort -g | awk '{ v[NR] = $1 } END {
		if (!NR) { print "nan nan nan 0"; exit }
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%s %s %s %d\n", f(m), f(v[1]), f(v[NR]), NR }
		function f(x) { return x >= 1000 ? sprintf("%d", x + 0.5) : sprintf("%.4g", x) }'
}

# sbload_field FILE ROW COLUMN: a figure from sbload's table (ROW latency|to-last|handshake,
# COLUMN p50|p90|p99|p99.9|max|mean), in ms.
sbload_field() {
	awk -v row="$2" -v col="$3" '
		$1 == "" { next }
		/\(ms/ { for (i = 1; i <= NF; i++) h[$i] = i + 1; next }
		$1 == row && (col in h) { print $(h[col]); exit }' "$1"
}

# sbload_rate FILE: deliveries per server CPU-second.
sbload_rate() {
	sed -n 's/.*, \([0-9]*\) deliveries per CPU-second.*/\1/p' "$1" | head -1
}

# cpu_busy_pct SECONDS: percent of the machine's CPU time that was busy over the interval
# (all processes; between scenarios it is other people's load).
cpu_busy_pct() {
	a=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat)
	sleep "$1"
	b=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat)
	echo "$a $b" | awk '{ t = $4 - $2; printf "%d", (t > 0 ? 100 * ($3 - $1) / t : 0) }'
}

# wait_quiet MAX_S: waits (at most MAX_S seconds) until the machine is under 10% busy;
# prints the last reading. Latency figures taken next to another benchmark are worthless.
wait_quiet() {
	w=0
	while :; do
		busy=$(cpu_busy_pct 1)
		[ "$busy" -lt 10 ] && break
		w=$((w + 1))
		[ $w -ge "$1" ] && break
		[ $w = 1 ] && echo "  (machine ${busy}% busy with other work; waiting up to $1 s)" >&2
	done
	echo "$busy"
}

# ---- several tenants, channels, several workers (hub_b*.sh) ----
# hubm_start PORT TENANTS [WORKERS [NATS_URL]]: a fresh database with TENANTS tenants, each
# with an owner o<i>@example.com, then hubd serve (on CPU 0 unless HUBM_NOPIN=1; with
# WORKERS > 1 the master and its workers share both CPUs). Sets HUB_PID (the master or the
# only worker), HUB_URL, HUB_DIR, HUBM_TENANTS (the ids, one a line, in $HUB_DIR/tenants).
# (Its own variable hpin: a shared name once pinned the callers' load to CPU 0 as well.)
hubm_start() {
	bench_tmp
	HUB_PORT=$1
	HUB_URL=http://127.0.0.1:$HUB_PORT
	HUB_DIR=$BENCH_TMP/hubm-$HUB_PORT-$$
	rm -rf "$HUB_DIR"
	mkdir -p "$HUB_DIR"
	: >"$HUB_DIR/tenants"
	i=1
	while [ $i -le "$2" ]; do
		t=$("$HUBD" tenant create --name "bench$i" --db "$HUB_DIR/db" 2>>"$HUB_DIR/log") ||
			bench_die "hubd tenant create failed (see $HUB_DIR/log)"
		echo password123 | SB_PWHASH=min "$HUBD" agent create --tenant "$t" \
			--email "o$i@example.com" --role owner --db "$HUB_DIR/db" >/dev/null 2>>"$HUB_DIR/log" ||
			bench_die "hubd agent create failed (see $HUB_DIR/log)"
		echo "$t" >>"$HUB_DIR/tenants"
		i=$((i + 1))
	done
	w=${3:-1}
	nats_url=${4:-} # read before `set --` below replaces the positional parameters
	hpin=$PIN_SRV
	[ "$w" -gt 1 ] || [ "${HUBM_NOPIN:-0}" = 1 ] && hpin=""
	set -- serve --listen "127.0.0.1:$HUB_PORT" --db "$HUB_DIR/db" --public-url "$HUB_URL" \
		--web-root "$SB_WEB_ROOT"
	[ "$w" -gt 1 ] && set -- "$@" --workers "$w"
	[ -n "$nats_url" ] && set -- "$@" --nats-url "$nats_url"
	SB_PWHASH=min $hpin "$HUBD" "$@" >>"$HUB_DIR/log" 2>&1 &
	HUB_PID=$!
	i=0
	while ! curl -sf -o /dev/null "$HUB_URL/metrics"; do
		i=$((i + 1))
		if [ $i -gt 300 ] || ! kill -0 "$HUB_PID" 2>/dev/null; then
			tail -5 "$HUB_DIR/log" >&2
			bench_die "hubd did not start on $HUB_URL"
		fi
		sleep 0.1
	done
}

# hub_pids: the master and its workers (or the single hubd), one a line.
hub_pids() {
	echo "$HUB_PID"
	[ -r "/proc/$HUB_PID/task/$HUB_PID/children" ] && tr ' ' '\n' <"/proc/$HUB_PID/task/$HUB_PID/children" | grep . || true
}
# hub_rss_kib: VmRSS of the master and every worker, summed.
hub_rss_kib() {
	s=0
	for p in $(hub_pids); do s=$((s + $(proc_rss_kib "$p" || echo 0))); done
	echo $s
}
# hub_cpu_ticks: utime + stime of the master and every worker (clock ticks).
hub_cpu_ticks() {
	s=0
	for p in $(hub_pids); do
		s=$((s + $(awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$p/stat" 2>/dev/null || echo 0)))
	done
	echo $s
}

# hubm_login I: logs o<I>@example.com in; sets HUB_COOKIE and HUB_CSRF.
hubm_login() {
	ans=$(curl -s -D "$HUB_DIR/login.h" -H 'Content-Type: application/json' \
		-d "{\"email\":\"o$1@example.com\",\"password\":\"password123\"}" \
		"$HUB_URL/api/v1/auth/login")
	HUB_COOKIE=$(sed -n 's/^[Ss]et-[Cc]ookie: *sb_session=\([^;]*\).*/\1/p' "$HUB_DIR/login.h" |
		tr -d '\r')
	HUB_CSRF=$(echo "$ans" | sed -n 's/.*"csrf_token":"\([^"]*\)".*/\1/p')
	[ -n "$HUB_COOKIE" ] && [ -n "$HUB_CSRF" ] || bench_die "login o$1 failed: $ans"
}

# hubm_channels N FAKE_PORT [SCHEME [MAX_INFLIGHT]]: logs each of the first N owners in and
# creates an SMS channel toward the fake provider on FAKE_PORT (its default account; SCHEME
# http or https, MAX_INFLIGHT the channel's cap, 16 by default). Writes $HUB_DIR/sessions
# ("cookie csrf" a line), $HUB_DIR/cookies (the cookie alone) and $HUB_DIR/webhooks
# ("URL TOKEN" a line, for sbwebhook --url-file).
hubm_channels() {
	: >"$HUB_DIR/sessions"
	: >"$HUB_DIR/cookies"
	: >"$HUB_DIR/webhooks"
	i=1
	while [ $i -le "$1" ]; do
		hubm_login $i
		ch=$(hub_post /api/v1/channels "{\"kind\":\"sms\",\"name\":\"b$i\",\"config\":{\"account_sid\":\"AC$(printf 'f%.0s' $(seq 32))\",\"auth_token\":\"fake_twilio_auth_token\",\"from\":\"+1555010$(printf %04d $i)\",\"api_base\":\"${3:-http}://127.0.0.1:$2\"},\"max_inflight\":${4:-16}}")
		u=$(echo "$ch" | sed -n 's/.*"inbound":"\([^"]*\)".*/\1/p')
		[ -n "$u" ] || bench_die "channel creation for o$i failed: $ch"
		echo "$HUB_COOKIE $HUB_CSRF" >>"$HUB_DIR/sessions"
		echo "$HUB_COOKIE" >>"$HUB_DIR/cookies"
		echo "$u fake_twilio_auth_token" >>"$HUB_DIR/webhooks"
		i=$((i + 1))
	done
}

# hubm_conversations N: one conversation for each of the first N tenants of hubm_channels (a
# signed inbound webhook from one number each); writes $HUB_DIR/replies, one line a tenant:
# "<its conversation's messages URL> <cookie> <csrf>" (what sbnote --url/--cookie/--csrf take).
hubm_conversations() {
	"${SBWEBHOOK:-$(dirname "$SBLOAD")/sbwebhook}" --url-file "$HUB_DIR/webhooks" --rate "$1" \
		--duration 1 --from-count 1 --quiet >/dev/null 2>&1 || true
	: >"$HUB_DIR/replies"
	while read -r ck cs; do
		conv=$(curl -s -H "Cookie: sb_session=$ck" "$HUB_URL/api/v1/conversations" |
			sed -n 's/.*"id":\([0-9]*\).*/\1/p' | head -1)
		[ -n "$conv" ] || bench_die "no conversation for session $ck"
		echo "$HUB_URL/api/v1/conversations/$conv/messages $ck $cs" >>"$HUB_DIR/replies"
	done <"$HUB_DIR/sessions"
}
# fake_created: the provider's count of messages created (GET $FAKE_CONTROL/requests).
fake_created() { curl -s "$FAKE_CONTROL/requests" | sed -n 's/.*"created":\([0-9]*\).*/\1/p'; }

# fake_ready NAME LOG: waits until the provider started as FAKE_PID prints its startup line
# ({"port":…,"control":…}) into LOG; sets FAKE_CONTROL from it.
fake_ready() {
	i=0
	until grep -q '"port"' "$2" 2>/dev/null; do
		i=$((i + 1))
		[ $i -le 100 ] && kill -0 "$FAKE_PID" 2>/dev/null ||
			{ cat "$2" >&2; bench_die "$1 did not start"; }
		sleep 0.1
	done
	FAKE_CONTROL=$(sed -n 's/.*"control":"\([^"]*\)".*/\1/p' "$2" | head -1)
}
# fake_start PORT [ARGS...]: tests/fakes/fake_twilio.mjs on 127.0.0.1:PORT; FAKE_PID, and
# FAKE_CONTROL (its /_fake URL: a port of its own when it serves https).
fake_start() {
	fp=$1
	shift
	node "$bench_root/tests/fakes/fake_twilio.mjs" --port "$fp" "$@" >"$BENCH_TMP/fake-$fp.log" 2>&1 &
	FAKE_PID=$!
	fake_ready fake_twilio "$BENCH_TMP/fake-$fp.log"
}
# provider_start PORT [--latency-ms L]: bench/sbprovider (the Twilio create path in C, on
# the load's CPU) on 127.0.0.1:PORT; FAKE_PID and FAKE_CONTROL as fake_start sets them.
provider_start() {
	fp=$1
	shift
	[ -x "$SBPROVIDER" ] || bench_die "no sbprovider at $SBPROVIDER (set SBPROVIDER)"
	$PIN_CLI "$SBPROVIDER" --port "$fp" "$@" >"$BENCH_TMP/fake-$fp.log" 2>&1 &
	FAKE_PID=$!
	fake_ready sbprovider "$BENCH_TMP/fake-$fp.log"
}
fake_stop() {
	[ -n "${FAKE_PID:-}" ] || return 0
	kill "$FAKE_PID" 2>/dev/null || true
	wait "$FAKE_PID" 2>/dev/null || true
	FAKE_PID=""
}
