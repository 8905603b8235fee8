#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Checks from the ELF of hubd that the release build is hardened: PIE (ELF type DYN), full RELRO
# (a GNU_RELRO segment and BIND_NOW), the stack protector (__stack_chk_fail referenced) and
# _FORTIFY_SOURCE=2 (*_chk functions referenced). Prints a table; exits 1 on any miss.
#   .ci/hardening.sh BUILD_DIR      (e.g. build/release)
set -uo pipefail
dir=${1:?usage: .ci/hardening.sh BUILD_DIR}
bin=$dir/hubd
[ -x "$bin" ] || { echo "hardening: no executable $bin" >&2; exit 2; }
command -v readelf >/dev/null || { echo "hardening: readelf not found (binutils)" >&2; exit 2; }

hdr=$(readelf -h -W "$bin")
segs=$(readelf -l -W "$bin")
dyn=$(readelf -d -W "$bin")
syms=$(readelf --dyn-syms -W "$bin")

miss=0
row() { # name, ok(0/1), detail
	printf '%-18s %-5s %s\n' "$1" "$([ "$2" = 1 ] && echo ok || echo MISS)" "$3"
	[ "$2" = 1 ] || miss=1
}
printf '%-18s %-5s %s\n' check result detail
type=$(awk '/Type:/ {print $2}' <<<"$hdr")
row PIE "$([ "$type" = DYN ] && grep -q 'PIE\|Position-Independent\|DYN' <<<"$hdr" && echo 1 || echo 0)" "ELF type $type"
relro=$(grep -c GNU_RELRO <<<"$segs")
row RELRO "$([ "$relro" -ge 1 ] && echo 1 || echo 0)" "GNU_RELRO segments: $relro"
now=$(grep -E '\(BIND_NOW\)|\(FLAGS\).*BIND_NOW|\(FLAGS_1\).*NOW' <<<"$dyn" | tr -s ' ' | sed 's/^ //' | paste -sd';' -)
row BIND_NOW "$([ -n "$now" ] && echo 1 || echo 0)" "${now:-no BIND_NOW / FLAGS_1 NOW}"
ssp=$(grep -c '__stack_chk_fail' <<<"$syms")
row stack-protector "$([ "$ssp" -ge 1 ] && echo 1 || echo 0)" "__stack_chk_fail references: $ssp"
chk=$(grep -oE '__[a-z0-9_]+_chk\b' <<<"$syms" | grep -v '__stack_chk' | sort -u)
nchk=$(grep -c . <<<"$chk")
row FORTIFY_SOURCE "$([ "$nchk" -ge 1 ] && echo 1 || echo 0)" "$nchk *_chk functions: $(paste -sd' ' - <<<"$chk" | cut -c1-90)"
exit $miss
