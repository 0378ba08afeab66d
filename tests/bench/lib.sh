# Shared by the benchmark scripts (sourced, POSIX sh).  Like heal.sh: the
# namespace library outside atf with small shims, a private work directory
# removed on exit, and rows of one table:
#
#   name (52)  target (10)  three value columns (8 each)  runs (5)
#
# Every value carries its unit.  Benchmarks print figures; none passes or
# fails on them.

set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
bench_bin="$top/build/bench"

if [ "$(id -u)" -ne 0 ]; then
	echo "bench: needs root for network namespaces" >&2
	exit 1
fi

atf_get_srcdir() { echo "$top/tests"; }
atf_config_get() { echo "$2"; }
atf_skip() { echo "bench: $*" >&2; exit 1; }
. "$top/tests/lib/netns.subr"

work=$(mktemp -d /tmp/dpinger-bench.XXXXXX) || exit 1
cd "$work" || exit 1
# BENCH_KEEP=1 keeps the work directory (logs of every daemon) for a look
trap 'netns_cleanup; cd /; [ "${BENCH_KEEP:-0}" = 1 ] && echo "bench: kept $work" >&2 || rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
echo "$$$(date +%N | cut -c1-4)" > netns_id

DPINGER=${DPINGER:-$top/dpinger}
QUICK=${BENCH_QUICK:-0}

# section TITLE COL1 COL2 COL3 [COL4]: a heading and the column names
section()
{
	if [ -n "$1" ]; then
		echo
		echo "$1"
	fi
	printf "%-52s %-10s %8s %8s %8s %5s\n" "" "target" "$2" "$3" "$4" "${5:-}"
}

# row NAME TARGET V1 V2 V3 [N]
row()
{
	printf "%-52s %-10s %8s %8s %8s %5s\n" "$1" "$2" "$3" "$4" "$5" "${6:-}"
}

# note TEXT: a comment line under a section
note()
{
	echo "  # $*"
}

# fmt FORMAT VALUE: printf through awk (floats)
fmt()
{
	awk -v f="$1" -v v="$2" 'BEGIN { printf f, v }'
}

# ratio A B: A/B with three decimals, "-" when B is 0
ratio()
{
	awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "-"; else printf "%.3f", a / b }'
}

# dp NS OUT ERR ARGS...: a dpinger in the foreground of a namespace; sets DP_PID
dp_start()
{
	_ns=$1; _o=$2; _e=$3; shift 3
	DP_PID=$(netns_bg "$_ns" "$_o" "$_e" "$DPINGER" -f "$@") || return 1
}

# Process figures from /proc, summed over the threads that exist now
# cpu_ns PID: time on CPU in nanoseconds (schedstat, exact)
cpu_ns()
{
	cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f\n", s }'
}

# cpu_ticks PID: utime + stime in clock ticks (/proc/PID/stat, 10ms resolution)
cpu_ticks()
{
	sed 's/^.*) //' /proc/"$1"/stat | awk '{ print $12 + $13 }'
}

# ctxsw PID: voluntary + involuntary context switches of all threads
ctxsw()
{
	cat /proc/"$1"/task/*/status 2>/dev/null |
	    awk '/^(voluntary|nonvoluntary)_ctxt_switches/ { s += $2 } END { print s + 0 }'
}

# status_kb PID FIELD: VmRSS, VmHWM... in kB
status_kb()
{
	awk -v f="$2:" '$1 == f { print $2 }' /proc/"$1"/status
}

threads_of()
{
	awk '$1 == "Threads:" { print $2 }' /proc/"$1"/status
}

# wait_until_ms: sleep until a monotonic-ish deadline in ms since epoch
ms_now()
{
	echo $(($(date +%s%N) / 1000000))
}

# busy_start N: N busy loops at nice 0, recorded for cleanup
busy_start()
{
	_i=0
	while [ "$_i" -lt "$1" ]; do
		sh -c 'while :; do :; done' &
		echo $! >> created_pids.lst
		echo $! >> busy.lst
		_i=$((_i + 1))
	done
}

busy_stop()
{
	[ -f busy.lst ] || return 0
	while read -r _p; do
		kill -KILL "$_p" 2>/dev/null
		wait "$_p" 2>/dev/null
	done < busy.lst
	rm -f busy.lst
}

# status_fields SOCK: "avg stddev loss" of a status line (identifier dropped)
status_fields()
{
	"$top/tests/tools/sockquery" -t 2000 "$1" 2>/dev/null | awk '{ print $(NF-2), $(NF-1), $NF }'
}

# procs_stop: stop the recorded processes (not the namespaces) and forget them
procs_stop()
{
	[ -f created_pids.lst ] || return 0
	while read -r _p; do
		kill -TERM "$_p" 2>/dev/null
	done < created_pids.lst
	_i=0
	while [ $_i -lt 20 ]; do
		_alive=0
		while read -r _p; do
			kill -0 "$_p" 2>/dev/null && _alive=1
		done < created_pids.lst
		[ $_alive -eq 0 ] && break
		sleep 0.1
		_i=$((_i + 1))
	done
	while read -r _p; do
		kill -KILL "$_p" 2>/dev/null
	done < created_pids.lst
	rm -f created_pids.lst
}

# dad_wait NS IF: until no IPv6 address on IF is tentative (the end of
# duplicate address detection is a routing event of its own; measuring
# windows should not include it)
dad_done()
{
	! ip -n "$1" -6 addr show dev "$2" tentative 2>/dev/null | grep -q inet6
}

dad_wait()
{
	wait_for 10 dad_done "$1" "$2"
}
