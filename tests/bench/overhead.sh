#!/bin/sh
#
# Overhead of self-healing: pfSense's command line (without -S, with -f)
# against a kernel peer, every self-healing feature on (the defaults) and
# all off (-E 0 -N -W 0), both daemons running at the same time in two
# separate namespace pairs so they see the same machine.  CPU time comes
# from /proc/PID/task/*/schedstat (nanoseconds on CPU, exact) and from
# utime+stime (/proc/PID/stat, 10ms ticks); wake-ups are the voluntary and
# involuntary context switches of all threads.
#
#   sh tests/bench/overhead.sh            (root; BENCH_OVERHEAD_SECONDS, BENCH_QUICK=1)
#
. "$(dirname "$0")/lib.sh"

secs=${BENCH_OVERHEAD_SECONDS:-60}
[ "$QUICK" = 1 ] && secs=10

pfsense="-r 0 -i GW -B 10.0.0.1 -d 1 -s 500 -l 2000 -t 60000 -A 1000 -D 500 -L 20 -C /bin/true"

# pair TAG: namespaces mon_TAG and peer_TAG joined by a veth, 10.0.0.1 <-> 10.0.0.2
pair()
{
	_m=$(netns_mk "mon_$1") || exit 1
	_p=$(netns_mk "peer_$1") || exit 1
	netns_veth "$_m" mon0 "$_p" peer0 || exit 1
	ip -n "$_m" addr add 10.0.0.1/24 dev mon0 || exit 1
	ip -n "$_p" addr add 10.0.0.2/24 dev peer0 || exit 1
	echo "$_m"
}

ns_on=$(pair on)
ns_off=$(pair off)
ns_ctl=$(pair ctl)
# shellcheck disable=SC2086
dp_start "$ns_on" on.out on.err $pfsense -p "$work/on.pid" -u "$work/on.sock" 10.0.0.2 || exit 1
pid_on=$DP_PID
# shellcheck disable=SC2086
dp_start "$ns_off" off.out off.err $pfsense -E 0 -N -W 0 -p "$work/off.pid" -u "$work/off.sock" 10.0.0.2 || exit 1
pid_off=$DP_PID
# shellcheck disable=SC2086
dp_start "$ns_ctl" ctl.out ctl.err $pfsense -E 0 -N -W 0 -p "$work/ctl.pid" -u "$work/ctl.sock" 10.0.0.2 || exit 1
pid_ctl=$DP_PID
for s in on off ctl; do
	"$top/tests/tools/sockquery" -m healthy -t 10000 "$s.sock" >/dev/null ||
	    { echo "bench: overhead: the $s daemon did not become healthy" >&2; exit 1; }
done
for ns in "$ns_on" "$ns_off" "$ns_ctl"; do
	dad_wait "$ns" mon0
done
sleep 1

snap()
{
	echo "$(cpu_ns "$1") $(cpu_ticks "$1") $(ctxsw "$1")"
}

# per_thread PID: "name nanoseconds" for each thread (main is "dpinger")
per_thread()
{
	for _t in /proc/"$1"/task/*; do
		echo "$(cat "$_t/comm") $(awk '{ print $1 }' "$_t/schedstat")"
	done
}

# thread_delta NAME BEFORE AFTER: nanoseconds the thread spent on CPU
thread_delta()
{
	awk -v n="$1" '$1 == n { if (FILENAME == ARGV[2]) b = $2; else a = $2 } END { printf "%.0f\n", b - a }' "$2" "$3"
}

t0=$(ms_now)
a_on=$(snap "$pid_on")
a_off=$(snap "$pid_off")
a_ctl=$(snap "$pid_ctl")
per_thread "$pid_on" > th0_on
per_thread "$pid_off" > th0_off
sleep "$secs"
b_on=$(snap "$pid_on")
b_off=$(snap "$pid_off")
b_ctl=$(snap "$pid_ctl")
per_thread "$pid_on" > th1_on
per_thread "$pid_off" > th1_off
t1=$(ms_now)
el=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print (b - a) / 1000 }')

# delta A B FIELD
delta()
{
	echo "$1 $2" | awk -v f="$3" '{ print $(f + 3) - $f }'
}

cpu_on=$(delta "$a_on" "$b_on" 1)
cpu_off=$(delta "$a_off" "$b_off" 1)
cpu_ctl=$(delta "$a_ctl" "$b_ctl" 1)
tk_on=$(delta "$a_on" "$b_on" 2)
tk_off=$(delta "$a_off" "$b_off" 2)
cs_on=$(delta "$a_on" "$b_on" 3)
cs_off=$(delta "$a_off" "$b_off" 3)

# per minute, from nanoseconds over the elapsed seconds
permin_ms()
{
	awk -v n="$1" -v s="$el" 'BEGIN { printf "%.2fms", n / 1e6 * 60 / s }'
}

section "1. Overhead: pfSense's command line, kernel peer, ${secs}s, side by side" \
    "on" "off" "on/off"
note "on: defaults (-E 3, routing socket, -W 5s); off: -E 0 -N -W 0; same binary;"
note "each in its own namespace pair; a third daemon (off again) shows the noise"
note "no stock 3.3 binary here to compare with (dpinger is not packaged in Debian:"
note "apt-cache policy dpinger is empty; no other registry reachable): on/off stands in"
row "CPU time per minute (schedstat)" "on<=1.10x" "$(permin_ms "$cpu_on")" "$(permin_ms "$cpu_off")" \
    "$(ratio "$cpu_on" "$cpu_off")"
row "  the same, a second 'off' daemon as control (noise)" "" "$(permin_ms "$cpu_ctl")" \
    "$(permin_ms "$cpu_off")" "$(ratio "$cpu_ctl" "$cpu_off")"
for th in dpinger send recv alert status; do
	d_on=$(thread_delta "$th" th0_on th1_on)
	d_off=$(thread_delta "$th" th0_off th1_off)
	[ "$th" = dpinger ] && th="main"
	row "  of which thread $th" "" "$(permin_ms "$d_on")" "$(permin_ms "$d_off")" "$(ratio "$d_on" "$d_off")"
done
note "the send thread also carries the kernel's work for the packet (veth, the peer's"
note "reply, delivery) in softirq context: most of the CPU time and of its noise"
row "CPU time utime+stime over the run (10ms ticks)" "" "$((tk_on * 10))ms" "$((tk_off * 10))ms" \
    "$(ratio "$tk_on" "$tk_off")"
row "CPU share of one core" "" "$(awk -v n="$cpu_on" -v s="$el" 'BEGIN { printf "%.4f%%", n / 1e7 / s }')" \
    "$(awk -v n="$cpu_off" -v s="$el" 'BEGIN { printf "%.4f%%", n / 1e7 / s }')" ""
row "wake-ups per second (context switches)" "" \
    "$(awk -v n="$cs_on" -v s="$el" 'BEGIN { printf "%.2f", n / s }')" \
    "$(awk -v n="$cs_off" -v s="$el" 'BEGIN { printf "%.2f", n / s }')" "$(ratio "$cs_on" "$cs_off")"
r_on=$(status_kb "$pid_on" VmRSS)
r_off=$(status_kb "$pid_off" VmRSS)
h_on=$(status_kb "$pid_on" VmHWM)
h_off=$(status_kb "$pid_off" VmHWM)
row "VmRSS" "on<=1.10x" "${r_on}kB" "${r_off}kB" "$(ratio "$r_on" "$r_off")"
row "VmHWM (peak RSS)" "on<=1.10x" "${h_on}kB" "${h_off}kB" "$(ratio "$h_on" "$h_off")"
row "open descriptors" "+1 (route)" "$(fd_count "$pid_on")" "$(fd_count "$pid_off")" ""
row "threads" "" "$(threads_of "$pid_on")" "$(threads_of "$pid_off")" ""
row "status line at the end" "" "$(status_fields on.sock | tr ' ' '/')" "$(status_fields off.sock | tr ' ' '/')" ""
