#!/bin/sh
#
# The benchmark suite (make bench): builds its helpers into build/bench,
# runs every benchmark and prints one table with the machine at the top and
# the targets met or missed at the end.  Figures only; nothing here passes
# or fails on a number.
#
#   1. cost.sh       side by side with stock (STOCK_DPINGER): CPU time, RSS,
#      callgrind.sh  descriptors, system calls and instructions per probe
#   2. scale.sh      200 instances: CPU, memory, status latency, routing events
#   3. heal.sh       heal and watchdog times
#   4. status.sh     status socket with 1, 8, 64 concurrent clients
#   5. accuracy.sh   reported latency/stddev/loss against the wire (tunpeer)
#   6. hotpath.sh    instruction counts of the hot paths
#
#   sh tests/bench/all.sh                 (root; about 15 minutes)
#   STOCK_DPINGER=/tmp/stock/dpinger-v3.3 sh tests/bench/all.sh
#   BENCH_QUICK=1 sh tests/bench/all.sh   (development: short windows, fewer
#                                          runs, heal.sh's new rows only once;
#                                          about 3 minutes)
#
# Environment: DPINGER (binary under test), STOCK_DPINGER (stock dpinger to
# compare with; never built by this repository), BENCH_QUICK,
# BENCH_ONLY="cost callgrind scale heal status accuracy hotpath" (a subset),
# BENCH_KEEP=1 (keep each script's work directory), and the per-script
# variables named in each script's header; CC.
#
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
out="$top/build/bench"
CC=${CC:-cc}
QUICK=${BENCH_QUICK:-0}
export BENCH_QUICK="$QUICK"
only=${BENCH_ONLY:-cost callgrind scale heal status accuracy hotpath}

if [ "$(id -u)" -ne 0 ]; then
	echo "bench: needs root for network namespaces" >&2
	exit 1
fi
for prog in valgrind callgrind_annotate callgrind_control ip iptables strace; do
	command -v "$prog" >/dev/null 2>&1 || { echo "bench: $prog is missing" >&2; exit 1; }
done
if [ -n "${STOCK_DPINGER:-}" ] && [ ! -x "$STOCK_DPINGER" ]; then
	echo "bench: STOCK_DPINGER=$STOCK_DPINGER is not an executable file" >&2
	exit 1
fi
[ -x "${DPINGER:-$top/dpinger}" ] || { echo "bench: build dpinger first (make tests)" >&2; exit 1; }
mkdir -p "$out" || exit 1

# build SRC BIN EXTRA...: compile a helper (always: a second, and no stale binary)
build()
{
	_src=$1; _bin=$2; shift 2
	$CC -std=c11 -Wall -Wextra -Wno-unused-function -O2 -g -o "$_bin" "$_src" "$@" ||
	    { echo "bench: cannot build $_bin" >&2; exit 1; }
}
build "$here/sockload.c" "$out/sockload" -D_GNU_SOURCE -lpthread
build "$here/wirertt.c" "$out/wirertt" -D_GNU_SOURCE -lm
build "$here/hotpath.c" "$out/hotpath" -lpthread
export BENCH_PROTO="${BENCH_PROTO:-/nonexistent}"

summary=$(mktemp /tmp/dpinger-bench-summary.XXXXXX) || exit 1
trap 'rm -f "$summary"' EXIT
export BENCH_SUMMARY="$summary"

start=$(date +%s)
rev=$(cd "$top" && git describe --always --dirty 2>/dev/null || echo unknown)
echo "dpinger benchmarks, $(date -u '+%Y-%m-%d %H:%M UTC'), $( [ "$QUICK" = 1 ] && echo 'quick run (development figures)' || echo 'full run')"
echo "kernel $(uname -sr); CPU $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(nproc) cores"
echo "fork: $("${DPINGER:-$top/dpinger}" -h 2>&1 | head -1), tree $rev; $($CC --version | head -1)"
if [ -n "${STOCK_DPINGER:-}" ]; then
	echo "stock: $STOCK_DPINGER ($("$STOCK_DPINGER" -h 2>&1 | grep -i -m1 version | sed 's/^ *//'))"
else
	echo "stock: side-by-side rows skipped because STOCK_DPINGER is unset"
fi
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg) (a shared machine: wall-clock figures are indicative)"

for b in $only; do
	case $b in
	heal)
		echo
		echo "3. Heal times (tests/bench/heal.sh)"
		if [ "$QUICK" = 1 ]; then
			echo "  # quick run: only the black-hole and interface-back rows, once each"
			BENCH_RUNS=1 BENCH_SLOW_RUNS=1 BENCH_HEAL_ONLY="${BENCH_HEAL_ONLY:-bh ifb}" sh "$here/heal.sh" |
			    sed -e '1,3s/^/  # /' -e '/^$/d'
		else
			BENCH_RUNS=${BENCH_RUNS:-3} BENCH_SLOW_RUNS=${BENCH_SLOW_RUNS:-3} sh "$here/heal.sh" |
			    sed -e '1,3s/^/  # /' -e '/^$/d'
		fi
		;;
	cost|callgrind|scale|accuracy|status|hotpath)
		sh "$here/$b.sh" || echo "  # $b.sh failed (exit $?)"
		;;
	*)
		echo "bench: unknown benchmark $b" >&2
		;;
	esac
done

echo
echo "Targets ($(awk -F'\t' '$1 == "yes" { y++ } $1 == "no" { n++ } $1 != "yes" && $1 != "no" { u++ }
    END { printf "%d met, %d missed, %d not judged", y, n, u }' "$summary"))"
awk -F'\t' '{ printf "  %-4s %s\n", ($1 == "yes" || $1 == "no") ? $1 : "-", $2 }' "$summary"
echo
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); took $(( $(date +%s) - start ))s"
