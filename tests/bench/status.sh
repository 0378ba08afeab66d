#!/bin/sh
#
# Status socket under load: build/bench/sockload with 1, 8 and 64
# concurrent clients, each connecting, reading to EOF and closing in a loop
# for T seconds, against a daemon with pfSense's command line (a full
# 120-slot window is not needed: every query walks all slots anyway).
# Wall-clock figures: the machine is shared, so read them as an order of
# magnitude.  Afterwards the daemon must still answer and be healthy.
#
#   sh tests/bench/status.sh              (root; BENCH_STATUS_SECONDS, BENCH_QUICK=1)
#
. "$(dirname "$0")/lib.sh"

secs=${BENCH_STATUS_SECONDS:-3}
[ "$QUICK" = 1 ] && secs=1

netns_pair >/dev/null 2>&1 || { echo "bench: cannot build namespaces" >&2; exit 1; }
dp_start "$NS_MON" out err -r 0 -i GW -B 10.0.0.1 -d 1 -s 500 -l 2000 -t 60000 -A 1000 -D 500 -L 20 \
    -C /bin/true -u "$work/s.sock" 10.0.0.2 || exit 1
"$top/tests/tools/sockquery" -m healthy -t 10000 s.sock >/dev/null ||
    { echo "bench: status: the daemon did not become healthy" >&2; exit 1; }
fds0=$(fd_count "$DP_PID")
cpu0=$(cpu_ns "$DP_PID")

section "4. Status socket: connect, read to EOF, close; ${secs}s per level" "p50" "p99" "max" "qps"
note "wall-clock figures on a shared, busy machine; qps is the daemon's throughput"
nq=0
for c in 1 8 64; do
	out=$("$bench_bin/sockload" -n "$c" -t "$secs" s.sock)
	f()
	{
		echo "$out" | awk -v f="$1" '{ for (i = 1; i < NF; i++) if ($i == f) print $(i + 1) }'
	}
	row "$c concurrent client(s), latency per query" "" "$(f p50_us)us" "$(f p99_us)us" "$(f max_us)us" \
	    "$(f qps)"
	nq=$((nq + $(f queries)))
	[ "$(f errors)" = 0 ] || note "$c clients: $(f errors) queries failed"
done
cpu1=$(cpu_ns "$DP_PID")
row "daemon CPU time per query (user+kernel)" "" \
    "$(awk -v c=$((cpu1 - cpu0)) -v n="$nq" 'BEGIN { if (n) printf "%.1fus", c / 1000 / n }')" "" "" "$nq"
row "descriptors before/after the load" "same" "$fds0" "$(fd_count "$DP_PID")" "" ""
note "status line after the load: $(status_fields s.sock)"
