#!/bin/sh
# SPDX-License-Identifier: MIT
# Instructions per inbound webhook (or, with --outbound, per agent reply sent), counted by
# callgrind, for changes too small to see in answers per CPU-second on a host whose speed
# moves (this VM's changed by half within an hour). Not fully steady either: under valgrind
# the hub's speed decides how the writer's jobs fall into batches, so the total moves by a
# few percent between runs (more with --outbound); one function's inclusive count per call
# does not (keep the callgrind files with BENCH_TMP=dir, then callgrind_annotate
# --inclusive=yes).
# hubd serve runs under valgrind --tool=callgrind (only serve: the set-up commands run
# natively); bench/hub_b3_ingest.sh sends RATE signed webhooks a second for SHORT, then, on a
# fresh hub, for LONG seconds; the count per webhook is the difference of the two runs'
# totals over the extra webhooks, so start-up, migrations and the idle ticks cancel. At a low
# rate every webhook commits alone: the count includes a
# whole commit. Under valgrind SHA-1 runs its C code (no SHA-NI). --outbound runs
# bench/hub_b5_outbound.sh instead (REST replies, each sent to bench/sbprovider and settled):
# the count per reply covers the REST request, the outbox's writes and the provider request.
#
# usage: hub_instructions.sh [--outbound] [--rate R] [--short S] [--long L]
# Output: RESULT instructions <per webhook or reply> <webhooks or replies counted>
set -eu
. "$(dirname "$0")/lib.sh"

rate=100
outbound=""
short=10
long=30
while [ $# -gt 0 ]; do
	case $1 in
	--rate) rate=$2; shift 2 ;;
	--outbound) outbound=1; shift ;;
	--short) short=$2; shift 2 ;;
	--long) long=$2; shift 2 ;;
	*) bench_die "usage: hub_instructions.sh [--outbound] [--rate R] [--short S] [--long L]" ;;
	esac
done
command -v valgrind >/dev/null || bench_die "valgrind is needed (apt-get install valgrind)"
[ "$long" -gt "$short" ] || bench_die "--long must be longer than --short"
bench_tmp
trap '[ -n "${BENCH_TMP_OWNED:-}" ] && rm -rf "$BENCH_TMP"; true' EXIT
trap 'exit 130' INT TERM
real_hubd=$HUBD
wrap=$BENCH_TMP/hubd-callgrind
cat >"$wrap" <<WRAP
#!/bin/sh
case "\$1" in
serve) exec valgrind --tool=callgrind --callgrind-out-file="$BENCH_TMP/cg-\$CG_TAG.out" "$real_hubd" "\$@" ;;
*) exec "$real_hubd" "\$@" ;;
esac
WRAP
chmod +x "$wrap"

total() { sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$BENCH_TMP/cg-$1.out"; }
for secs in "$short" "$long"; do
	if [ -n "$outbound" ]; then
		CG_TAG=$secs HUBD=$wrap "$(dirname "$0")/hub_b5_outbound.sh" --repeats 1 --rate "$rate" \
			--seconds "$secs" >"$BENCH_TMP/run-$secs.txt" 2>&1 ||
			bench_die "hub_b5_outbound.sh failed (see $BENCH_TMP/run-$secs.txt)"
		# every reply must have been created, or the difference counts something else
		n=$(sed -n 's/^RESULT outbound [0-9]* [0-9]* \([0-9]*\) \([0-9]*\) .*/\1 \2/p' \
			"$BENCH_TMP/run-$secs.txt")
		[ -n "$n" ] && [ "${n% *}" = "${n#* }" ] ||
			bench_die "not every reply was created in the $secs s run (see $BENCH_TMP/run-$secs.txt)"
	else
		CG_TAG=$secs HUBD=$wrap "$(dirname "$0")/hub_b3_ingest.sh" --repeats 1 --rates "$rate" \
			--seconds "$secs" >"$BENCH_TMP/run-$secs.txt" 2>&1 ||
			bench_die "hub_b3_ingest.sh failed (see $BENCH_TMP/run-$secs.txt)"
	fi
	[ -s "$BENCH_TMP/cg-$secs.out" ] || bench_die "no callgrind output for the $secs s run"
done
extra=$(( (long - short) * rate ))
a=$(total "$short")
b=$(total "$long")
per=$(( (b - a) / extra ))
what=webhook
[ -z "$outbound" ] || what=reply
echo "instructions: $a in $short s, $b in $long s at $rate/s: $per per $what (over $extra)"
echo "RESULT instructions $per $extra"
