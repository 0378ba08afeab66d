#!/bin/sh
#
# The benchmark suite (make bench): builds its helpers into build/bench,
# runs every benchmark and prints one table with the machine at the top.
# Figures only; nothing here passes or fails on a number.
#
#   1. overhead.sh   self-healing on vs off, pfSense's command line, 60s
#   2. scale.sh      200 instances: CPU, memory, status latency, routing events
#   3. accuracy.sh   reported latency/stddev/loss against the wire (tunpeer),
#                    idle and busy, with the kernel-timestamp prototype
#   4. status.sh     status socket with 1, 8, 64 concurrent clients
#   5. heal.sh       heal and watchdog times (2 runs each here, 1 for the slow ones)
#   6. callgrind.sh  instruction counts (hot paths, daemon per send/query)
#
#   sh tests/bench/all.sh                 (root; about 5 minutes)
#   BENCH_QUICK=1 sh tests/bench/all.sh   (smoke run, about 1 minute, no heal.sh)
#
# Environment: DPINGER (binary under test), BENCH_QUICK, BENCH_RUNS and
# BENCH_SLOW_RUNS (heal.sh), BENCH_ONLY="overhead scale ..." (a subset),
# BENCH_PROTO=0 (no prototype column), CC.
#
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
out="$top/build/bench"
CC=${CC:-cc}
QUICK=${BENCH_QUICK:-0}
export BENCH_QUICK="$QUICK"
only=${BENCH_ONLY:-overhead scale accuracy status heal callgrind}

if [ "$(id -u)" -ne 0 ]; then
	echo "bench: needs root for network namespaces" >&2
	exit 1
fi
for prog in valgrind callgrind_annotate callgrind_control ip; do
	command -v "$prog" >/dev/null 2>&1 || { echo "bench: $prog is missing" >&2; exit 1; }
done
mkdir -p "$out" || exit 1

# build SRC BIN EXTRA...: compile a helper (always: a second, and no stale binary)
build()
{
	_src=$1; _bin=$2; shift 2
	$CC -std=c11 -Wall -Wextra -Wno-unused-function -O2 -g -o "$_bin" "$_src" "$@" ||
	    { echo "bench: cannot build $_bin" >&2; exit 1; }
}
[ -x "${DPINGER:-$top/dpinger}" ] || { echo "bench: build dpinger first (make tests)" >&2; exit 1; }
build "$here/sockload.c" "$out/sockload" -D_GNU_SOURCE -lpthread
build "$here/wirertt.c" "$out/wirertt" -D_GNU_SOURCE -lm
build "$here/hotpath.c" "$out/hotpath" -lpthread

# The kernel-timestamp prototype: dpinger.c plus rx-timestamps.diff, when
# the patch still applies and dpinger.c does not have it already
proto_note=""
if [ "${BENCH_PROTO:-1}" = 1 ]; then
	proto="$out/proto"
	mkdir -p "$proto"
	if grep -q 'SO_TIMESTAMPNS' "$top/dpinger.c"; then
		proto_note="dpinger.c already uses kernel receive timestamps: no prototype column"
	elif cp "$top/dpinger.c" "$proto/dpinger.c" &&
	    (cd "$proto" && patch -s -p1 < "$here/rx-timestamps.diff" >/dev/null 2>&1) &&
	    $CC -std=c11 -Wall -Wextra -O2 -g -o "$proto/dpinger" "$proto/dpinger.c" -lpthread; then
		export BENCH_PROTO="$proto/dpinger"
	else
		proto_note="rx-timestamps.diff no longer applies to dpinger.c: no prototype column"
	fi
	[ -n "$proto_note" ] && { rm -f "$proto/dpinger"; export BENCH_PROTO=/nonexistent; }
else
	export BENCH_PROTO=/nonexistent
fi

start=$(date +%s)
rev=$(cd "$top" && git describe --always --dirty 2>/dev/null || echo unknown)
echo "dpinger benchmarks, $(date -u '+%Y-%m-%d %H:%M UTC'), $( [ "$QUICK" = 1 ] && echo 'quick run' || echo 'full run')"
echo "kernel $(uname -sr); CPU $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(nproc) cores"
echo "$("${DPINGER:-$top/dpinger}" -h 2>&1 | head -1), tree $rev; $($CC --version | head -1)"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg) (a shared machine: wall-clock figures are indicative)"
[ -n "$proto_note" ] && echo "note: $proto_note"

for b in $only; do
	case $b in
	heal)
		echo
		echo "5. Heal times (tests/bench/heal.sh)"
		if [ "$QUICK" = 1 ]; then
			echo "  # skipped in the quick run: sh tests/bench/heal.sh"
			continue
		fi
		BENCH_RUNS=${BENCH_RUNS:-2} BENCH_SLOW_RUNS=${BENCH_SLOW_RUNS:-1} sh "$here/heal.sh" |
		    sed -e '1s/^/  # /' -e '2s/^/  # /' -e '/^$/d'
		;;
	overhead|scale|accuracy|status|callgrind)
		sh "$here/$b.sh" || echo "  # $b.sh failed (exit $?)"
		;;
	*)
		echo "bench: unknown benchmark $b" >&2
		;;
	esac
done
echo
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); took $(( $(date +%s) - start ))s"
