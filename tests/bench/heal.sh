#!/bin/sh
#
# Heal-time benchmark: for each scenario, several runs in fresh network
# namespaces, printing median/min/max next to the target from the spec.
# It prints figures; it does not pass or fail on timing.  Uses pfSense's
# intervals (-s 500 -l 2000) with a short averaging period (-t 4s) so that
# an outage drives the loss to 100% and the heal shows as the first status
# line with loss below 100 (polled every 10ms): the first reply the daemon
# counted after the path came back.  Each row says what it measures from
# and to.
#
#   sh tests/bench/heal.sh [runs]        (root; make bench)
#
. "$(dirname "$0")/lib.sh"
runs=${1:-${BENCH_RUNS:-5}}
wd_runs=${BENCH_SLOW_RUNS:-3}
# the daemon's line for the first reply counted after a rebuild
HEALED=${BENCH_HEALED_LINE:-healed: }

# stats NAME TARGET FILE: print one table row from a file of milliseconds;
# a target "<=Ns" is judged on the median
stats()
{
	sort -n "$3" | awk -v name="$1" -v target="$2" '
	    { v[NR] = $1 }
	    END {
		if (NR == 0) { printf "%-52s %-10s %8s\n", name, target, "no data"; exit }
		med = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		met = ""
		if (target ~ /^<=[0-9.]+s$/) { t = substr(target, 3) + 0; met = (med / 1000 <= t) ? "yes" : "no" }
		printf "%-52s %-10s %7.2fs %7.2fs %7.2fs %5d %4s\n", name, target, med / 1000, v[1] / 1000, v[NR] / 1000, NR, met
		if (met != "") printf "%s\t%s (%s): %.2fs\n", met, name, target, med / 1000 > "heal.verdicts"
	    }'
	if [ -f heal.verdicts ]; then
		[ -n "${BENCH_SUMMARY:-}" ] && cat heal.verdicts >> "$BENCH_SUMMARY"
		rm -f heal.verdicts
	fi
	return 0
}

# fresh: a new pair of namespaces for one run
fresh()
{
	netns_cleanup
	rm -f created_netns.lst created_pids.lst netns_id out err
	echo "$$$(date +%N | cut -c1-4)" > netns_id
	netns_pair >/dev/null 2>&1 || { echo "bench: cannot build namespaces" >&2; exit 1; }
}

dp()
{
	DP_PID=$(netns_bg "$NS_MON" out err "$DPINGER" -f -r 0 "$@") || exit 1
}

recreate_veth()
{
	netns_veth "$NS_MON" mon0 "$NS_PEER" peer0 && netns_addrs
}

q()
{
	"$top/tests/tools/sockquery" "$@"
}

# Link-local veth destroyed and recreated; EXTRA selects the trigger
bench_linklocal()
{
	: > "$1"
	i=0
	while [ $i -lt "$runs" ]; do
		fresh
		dp -s 500 -l 2000 -t 4s $2 -B fe80::a%mon0 -u "$work/s.sock" fe80::b%mon0
		q -m healthy -t 10000 s.sock >/dev/null || { i=$((i + 1)); continue; }
		ip -n "$NS_MON" link del mon0
		q -m lost -t 15000 s.sock >/dev/null
		recreate_veth
		t=$(q -m healthy -t 60000 s.sock | awk '{ print $2 }')
		[ -n "$t" ] && echo "$t" >> "$1"
		i=$((i + 1))
	done
}

bench_tunnel()
{
	: > "$1"
	i=0
	while [ $i -lt "$runs" ]; do
		fresh
		up="ip link set dev \$TUNPEER_IF up && ip addr add 10.9.0.1 peer 10.9.0.2 dev \$TUNPEER_IF && ip -6 addr add fd00:9::1 peer fd00:9::2 dev \$TUNPEER_IF nodad"
		rm -f ready tun.pid
		netns_bg "$NS_MON" tun.out tun.err "$top/tests/tools/tunpeer" -i vti0 -c "$up" -r "$work/ready" -p "$work/tun.pid" \
		    -g 5000 >/dev/null
		wait_for 10 file_has ready '^1$' || exit 1
		dp -s 500 -l 2000 -t 4s -B "$2" -u "$work/s.sock" "$3"
		q -m healthy -t 10000 s.sock >/dev/null || { i=$((i + 1)); continue; }
		kill -USR1 "$(cat tun.pid)"
		wait_for 20 file_has ready '^2$' || exit 1
		t=$(q -m healthy -t 60000 s.sock | awk '{ print $2 }')
		[ -n "$t" ] && echo "$t" >> "$1"
		i=$((i + 1))
	done
}

# Stale-identifier black hole: replies to the daemon's identifier dropped in
# its own namespace (the peer keeps answering everything else).  Measured
# from the moment the drop rule is in place to the daemon's "healed" line,
# which it writes on the first reply it counts after the rebuild (polled
# every 10ms); pfSense's command line, -t 60s as pfSense runs it.
bench_black_hole()
{
	: > "$1"
	i=0
	while [ $i -lt "$wd_runs" ]; do
		fresh
		dp -s 500 -l 2000 -t 60s -B 10.0.0.1 -u "$work/s.sock" 10.0.0.2
		q -m healthy -t 10000 s.sock >/dev/null || { i=$((i + 1)); continue; }
		ip netns exec "$NS_MON" iptables -A INPUT -p icmp --icmp-type echo-reply \
		    -m u32 --u32 "0>>22&0x3C@4>>16=$((DP_PID & 0xffff))" -j DROP
		t0=$(ms_now)
		while [ $(($(ms_now) - t0)) -lt 60000 ]; do
			if grep -q "$HEALED" err; then
				echo $(($(ms_now) - t0)) >> "$1"
				break
			fi
			sleep 0.01
		done
		i=$((i + 1))
	done
}

# Interface back, routing trigger only (-E 0), as an operator sees it: the
# link-local veth is destroyed; when the status shows 100% loss (no reply
# left in the -t window) it is recreated, the peer's addresses first and
# the monitor's last, the bind address fe80::a with duplicate address
# detection.  Measured from the moment that address is usable (the
# kernel's event that it is no longer tentative, as `ip -ts monitor`
# received it) to the first status line with a reply in it (polled every
# 10ms); and, for comparison, from the moment the veth was created.
bench_iface_back()
{
	: > "$1"
	: > "$1.created"
	i=0
	while [ $i -lt "$runs" ]; do
		fresh
		dp -s "$2" -l "$3" -t "$4" -E 0 -B fe80::a%mon0 -u "$work/s.sock" fe80::b%mon0
		q -m healthy -t 10000 s.sock >/dev/null || { i=$((i + 1)); continue; }
		ip -n "$NS_MON" link del mon0
		mon=$(netns_bg "$NS_MON" addr.ev addr.everr ip -ts monitor address) || exit 1
		q -m lost -t 15000 s.sock >/dev/null || { i=$((i + 1)); continue; }
		tc=$(ms_now)
		netns_veth "$NS_MON" mon0 "$NS_PEER" peer0 &&
		ip -n "$NS_PEER" addr add 10.0.0.2/24 dev peer0 &&
		ip -n "$NS_PEER" addr add fd00::2/64 dev peer0 nodad &&
		ip -n "$NS_PEER" addr add fe80::b/64 dev peer0 nodad &&
		ip -n "$NS_MON" addr add 10.0.0.1/24 dev mon0 &&
		ip -n "$NS_MON" addr add fd00::1/64 dev mon0 nodad &&
		ip -n "$NS_MON" addr add fe80::a/64 dev mon0 || exit 1
		rm -f reply.ms
		q -m healthy -t 30000 s.sock >/dev/null && ms_now > reply.ms
		wait_for 5 usable_seen >/dev/null
		kill "$mon" 2>/dev/null
		tu=$(date -d "$(usable_seen)" +%s%3N 2>/dev/null)
		if [ -s reply.ms ] && [ -n "$tu" ]; then
			echo $(($(cat reply.ms) - tu)) >> "$1"
			echo $(($(cat reply.ms) - tc)) >> "$1.created"
		fi
		i=$((i + 1))
	done
}

# usable_seen: the time stamp of the event that fe80::a is no longer tentative
usable_seen()
{
	sed -n '/fe80::a\/64/{/tentative/d; s/^\[\([^]]*\)\].*/\1/p; }' addr.ev | head -1 | grep .
}

# Watchdog: freeze a thread with the freezer.  Files: detection (the first
# watchdog line), restart in place logged, status line healthy again, and
# the slowest status query while the thread was frozen
bench_watchdog()
{
	for f in "$1" "$2" "$3" "$4"; do : > "$f"; done
	i=0
	while [ $i -lt "$wd_runs" ]; do
		fresh
		dp -s 500 -l 2000 -t 4s -p "$work/dp.pid" -u "$work/s.sock" 10.0.0.2
		q -m healthy -t 10000 s.sock >/dev/null || { i=$((i + 1)); continue; }
		rm -f frz
		"$top/tests/tools/freezer" -p "$DP_PID" -t "$5" -s 60 > frz 2>&1 &
		echo $! >> created_pids.lst
		wait_for 10 file_has frz '^frozen' || exit 1
		t0=$(ms_now)
		detect=""
		worst=0
		if [ "$5" = status ]; then
			# A frozen status thread harms the clients it leaves waiting:
			# one comes at once, and its answer is the "answering again"
			( q -t 30000 s.sock >/dev/null && echo $(($(ms_now) - t0)) >> "$3" ) &
			client=$!
		fi
		while [ $(($(ms_now) - t0)) -lt 30000 ]; do
			if [ -z "$detect" ] && grep -q 'watchdog: ' err; then
				detect=$(($(ms_now) - t0))
				echo "$detect" >> "$1"
			fi
			if grep -q 'restarting in place' err; then
				echo $(($(ms_now) - t0)) >> "$2"
				break
			fi
			if [ "$5" != status ]; then
				e=$(q -T -t 5000 s.sock 2>&1 >/dev/null | awk '/^elapsed_ms/ { print $2 }')
				[ "${e:-5000}" -gt "$worst" ] && worst=${e:-5000}
			fi
			sleep 0.05
		done
		if [ "$5" = status ]; then
			wait "$client"
		else
			q -m healthy -t 30000 s.sock >/dev/null && echo $(($(ms_now) - t0)) >> "$3"
			echo "$worst" >> "$4"
		fi
		i=$((i + 1))
	done
}

echo "dpinger heal times, $runs runs each ($wd_runs for the black hole and the watchdog), $(date -u +%Y-%m-%d), $(uname -sr), $(nproc) cores"
echo "pfSense intervals -s 500 -l 2000 (-t 4s), -E 3, -W 5s, unless the row says otherwise; veth and tun rows:"
echo "from the path being usable again (addresses added) to the first status line with a reply in it"
echo
printf "%-52s %-10s %8s %8s %8s %5s %4s\n" "scenario" "target" "median" "min" "max" "runs" "met"
hnote()
{
	echo "  # $*"
}

# want GROUP: the group is selected (BENCH_HEAL_ONLY="ll tun bh ifb wd", default all)
want()
{
	case " ${BENCH_HEAL_ONLY:-ll tun bh ifb wd} " in *" $1 "*) return 0 ;; esac
	return 1
}
if want ll; then
	bench_linklocal ll_route.ms "-E 0"
	stats "link-local veth recreated, routing trigger (-E 0)" "<=1.50s" ll_route.ms
	bench_linklocal ll_errors.ms "-N"
	stats "link-local veth recreated, send errors only (-N)" "<=2.00s" ll_errors.ms
	bench_linklocal ll_both.ms ""
	stats "link-local veth recreated, defaults (both)" "<=1.50s" ll_both.ms
	hnote "from the veth recreated with every address (nodad; the peer's fe80::b last) to the"
	hnote "first status line with a reply in it, after an outage that emptied the -t window"
fi
if want tun; then
	bench_tunnel tun4.ms 10.9.0.1 10.9.0.2
	stats "tun (VTI stand-in) recreated, IPv4" "<=1.50s" tun4.ms
	bench_tunnel tun6.ms fd00:9::1 fd00:9::2
	stats "tun (VTI stand-in) recreated, IPv6" "<=1.50s" tun6.ms
	hnote "from tunpeer's report that the tun is back with its addresses to the first status"
	hnote "line with a reply in it (the tun was gone for 5s)"
fi
if want bh; then
	bench_black_hole bh.ms
	stats "stale-identifier black hole: rule in place to healed" "<=3.00s" bh.ms
	hnote "-s 500 -l 2000 -t 60s: from the drop rule for the daemon's identifier in place to its"
	hnote "'$HEALED' line, written on the first reply counted after the rebuild (polled every 10ms)"
fi
if want ifb; then
	bench_iface_back ifb100.ms 100 400 2s
	stats "interface back, -s 100: address usable to 1st reply" "<=0.20s" ifb100.ms
	stats "  the same from the veth created (DAD included)" "" ifb100.ms.created
	bench_iface_back ifb500.ms 500 2000 4s
	stats "interface back, -s 500: address usable to 1st reply" "<=0.60s" ifb500.ms
	stats "  the same from the veth created (DAD included)" "" ifb500.ms.created
	hnote "-E 0 (routing trigger only), -l 4 x -s, -t 2s/4s: from the kernel's event that fe80::a"
	hnote "is no longer tentative (DAD done; the peer's addresses came first) to the first status"
	hnote "line with a reply in it"
fi
if want wd; then
	bench_watchdog wd_st_detect.ms wd_st_restart.ms wd_st_back.ms wd_st_worst.ms status
	stats "status thread frozen: detected" "<=5.20s" wd_st_detect.ms
	stats "status thread frozen: answering again" "<=7.00s" wd_st_back.ms
	bench_watchdog wd_send_detect.ms wd_send_restart.ms wd_send_back.ms wd_send_worst.ms send
	stats "send thread frozen: detected (rebuild)" "<=5.20s" wd_send_detect.ms
	stats "send thread frozen: restart in place (2 x -W)" "~10s" wd_send_restart.ms
	stats "send thread frozen: healthy again" "" wd_send_back.ms
	stats "send thread frozen: slowest status query" "<=1.00s" wd_send_worst.ms
	hnote "from the freezer's report that the thread is stopped (and, for the status thread, a"
	hnote "client starts waiting: an idle status thread harms no one) to the first watchdog line"
	hnote "(detected), the restart line, and the first healthy status line; a stall is judged"
	hnote "once it has lasted the limit, so detection comes just after it (target: limit + 0.2s)"
fi
