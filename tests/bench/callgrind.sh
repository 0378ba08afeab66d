#!/bin/sh
#
# Instruction counts under valgrind --tool=callgrind: repeatable where wall
# and CPU time are not (the machine is shared).  User space only: the
# kernel's share of a send or a query is not in these numbers.
#
#  - build/bench/hotpath: fixed work, N calls of each per-probe and
#    per-report path of dpinger.c; Ir per call.
#  - the daemon itself with pfSense's command line against a kernel peer,
#    defaults (on) and -E 0 -N -W 0 (off) side by side under callgrind:
#    counters zeroed once both are healthy, dumped after W idle seconds
#    (Ir per second, per send, per reply) and again after Q status queries
#    to each (Ir per query).  Sends are counted by the peer's InEchos.
#
#   sh tests/bench/callgrind.sh           (root; BENCH_CG_SECONDS, BENCH_QUICK=1)
#
. "$(dirname "$0")/lib.sh"

secs=${BENCH_CG_SECONDS:-60}   # at least the 60s interface re-check
queries=${BENCH_CG_QUERIES:-500}
calls=${BENCH_CG_CALLS:-20000}
if [ "$QUICK" = 1 ]; then
	secs=6
	queries=100
	calls=5000
fi
HOTPATH=${BENCH_HOTPATH:-$bench_bin/hotpath}

# ir FILE FUNCTION: inclusive Ir of file:function ("dpinger.c:send_thread")
ir()
{
	callgrind_annotate --inclusive=yes --threshold=100 "$1" 2>/dev/null |
	    awk -v f="$2" 'index($0, f " ") || index($0, f ".") { gsub(",", "", $1); print $1; exit }'
}

total_ir()
{
	callgrind_annotate --threshold=100 "$1" 2>/dev/null |
	    awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }'
}

per()
{
	awk -v a="${1:-0}" -v b="$2" 'BEGIN { if (b > 0) printf "%.0f", a / b; else print "-" }'
}

section "6. Instruction counts (callgrind, user space only, repeatable)" "Ir/call" "" "" "calls"
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

# The daemons
pfsense="-r 0 -i GW -B 10.0.0.1 -d 1 -s 500 -l 2000 -t 60000 -A 1000 -D 500 -L 20 -C /bin/true"
for tag in on off; do
	m=$(netns_mk "cgm_$tag") || exit 1
	p=$(netns_mk "cgp_$tag") || exit 1
	netns_veth "$m" mon0 "$p" peer0 || exit 1
	ip -n "$m" addr add 10.0.0.1/24 dev mon0 || exit 1
	ip -n "$p" addr add 10.0.0.2/24 dev peer0 || exit 1
	echo "$p" > "peer_$tag"
	echo "$m" > "mon_$tag"
	extra=""
	[ "$tag" = off ] && extra="-E 0 -N -W 0"
	# shellcheck disable=SC2086
	netns_bg "$m" "$tag.out" "$tag.err" valgrind --tool=callgrind --callgrind-out-file="$work/cg_$tag.out" \
	    "$DPINGER" -f $pfsense $extra -u "$work/$tag.sock" 10.0.0.2 > "pid_$tag"
done
for tag in on off; do
	"$top/tests/tools/sockquery" -m healthy -t 30000 "$tag.sock" >/dev/null ||
	    { echo "bench: callgrind: the $tag daemon did not become healthy" >&2; exit 1; }
done
echos()
{
	ip netns exec "$(cat "peer_$1")" awk '/^Icmp:/ { n++; if (n == 1) for (i = 1; i <= NF; i++) if ($i == "InEchos") c = i; if (n == 2) print $c }' /proc/net/snmp
}
for tag in on off; do
	dad_wait "$(cat "mon_$tag")" mon0
done
sleep 1
for tag in on off; do
	callgrind_control -z "$(cat "pid_$tag")" >/dev/null 2>&1
	echos "$tag" > "e0_$tag"
done
t0=$(ms_now)
sleep "$secs"
for tag in on off; do
	callgrind_control -d "$(cat "pid_$tag")" >/dev/null 2>&1
	echos "$tag" > "e1_$tag"
done
el=$(( $(ms_now) - t0 ))
for tag in on off; do
	"$bench_bin/sockload" -s -r "$queries" "$tag.sock" >/dev/null
	callgrind_control -d "$(cat "pid_$tag")" >/dev/null 2>&1
done
for tag in on off; do
	wait_for 10 test -s "cg_$tag.out.2" || { echo "bench: callgrind: no dump from the $tag daemon" >&2; exit 1; }
done

section "" "on" "off" "on/off" "n"
note "daemon under callgrind, pfSense's command line, ${secs}s idle window, then $queries queries each"
for tag in on off; do
	eval "sends_$tag=$(( $(cat "e1_$tag") - $(cat "e0_$tag") ))"
	eval "tot_$tag=$(total_ir "cg_$tag.out.1")"
	eval "send_$tag=$(ir "cg_$tag.out.1" "dpinger.c:send_thread")"
	eval "recv_$tag=$(ir "cg_$tag.out.1" "dpinger.c:recv_thread")"
	eval "alert_$tag=$(ir "cg_$tag.out.1" "dpinger.c:alert_thread")"
	eval "main_$tag=$(ir "cg_$tag.out.1" "dpinger.c:main")"
	eval "stidle_$tag=$(ir "cg_$tag.out.1" "dpinger.c:status_thread")"
	eval "status_$tag=$(ir "cg_$tag.out.2" "dpinger.c:status_thread")"
done
# shellcheck disable=SC2154
{
row "Ir per second, whole process, idle" "on<=1.10x" "$(per "$tot_on" "$((el / 1000))")" \
    "$(per "$tot_off" "$((el / 1000))")" "$(ratio "$tot_on" "$tot_off")" "$((el / 1000))s"
row "Ir per send (send thread)" "" "$(per "$send_on" "$sends_on")" "$(per "$send_off" "$sends_off")" \
    "$(ratio "$(per "$send_on" "$sends_on")" "$(per "$send_off" "$sends_off")")" "$sends_on"
row "Ir per reply (receive thread)" "" "$(per "$recv_on" "$sends_on")" "$(per "$recv_off" "$sends_off")" \
    "$(ratio "$(per "$recv_on" "$sends_on")" "$(per "$recv_off" "$sends_off")")" "$sends_on"
row "Ir per alert check (alert thread, 1/s)" "" "$(per "$alert_on" "$((el / 1000))")" \
    "$(per "$alert_off" "$((el / 1000))")" "$(ratio "$alert_on" "$alert_off")" "$((el / 1000))"
row "Ir per second, main thread (supervisor)" "" "$(per "$main_on" "$((el / 1000))")" \
    "$(per "$main_off" "$((el / 1000))")" "$(ratio "$main_on" "$main_off")" "$((el / 1000))s"
row "Ir per second, status thread idle" "" "$(per "$stidle_on" "$((el / 1000))")" \
    "$(per "$stidle_off" "$((el / 1000))")" "$(ratio "$stidle_on" "$stidle_off")" "$((el / 1000))s"
row "Ir per status query (status thread)" "" "$(per "$status_on" "$queries")" \
    "$(per "$status_off" "$queries")" "$(ratio "$status_on" "$status_off")" "$queries"
}
