#!/bin/sh
#
# Instruction counts of dpinger.c's hot paths under valgrind
# --tool=callgrind: build/bench/hotpath does a fixed amount of work, N calls
# of each per-probe and per-report path; Ir per call.  User space only.
# (The daemons side by side with stock are in callgrind.sh.)
#
#   sh tests/bench/hotpath.sh             (root; BENCH_CG_CALLS, BENCH_QUICK=1)
#
. "$(dirname "$0")/lib.sh"

calls=${BENCH_CG_CALLS:-20000}
[ "$QUICK" = 1 ] && calls=5000
HOTPATH=${BENCH_HOTPATH:-$bench_bin/hotpath}

# ir FILE FUNCTION: inclusive Ir of file:function ("dpinger.c:send_thread")
ir()
{
	callgrind_annotate --inclusive=yes --threshold=100 "$1" 2>/dev/null |
	    awk -v f="$2" 'index($0, f " ") || index($0, f ".") { gsub(",", "", $1); print $1; exit }'
}

per()
{
	awk -v a="${1:-0}" -v b="$2" 'BEGIN { if (b > 0) printf "%.0f", a / b; else print "-" }'
}

section "6. Instruction counts of the hot paths (callgrind, user space only)" "Ir/call" "" "" "calls"
valgrind --tool=callgrind --callgrind-out-file="$work/hp.out" "$HOTPATH" "$calls" >/dev/null 2>&1 ||
    { echo "bench: callgrind: hotpath failed" >&2; exit 1; }
for b in "window_stats:window_stats, 120 slots (alert check, query)" \
    "status_line:status line: window_stats + stats_format" \
    "stats_format:stats_format alone (snprintf)" \
    "send_side:send side per probe: echo_build + slot" \
    "recv_side:recv side per reply: parse, checks, record" \
    "clock:now_us (clock_gettime)" \
    "beat:heartbeat (beat)"; do
	fn=${b%%:*}
	row "  ${b#*:}" "" "$(per "$(ir hp.out "hotpath.c:bench_$fn")" "$calls")" "" "" "$calls"
done
