#!/usr/bin/env atf-sh
#
# Healing that tells the truth (issue 13): a paused process is not a hung
# one, a link that is down is waited for rather than rebuilt against,
# outage figures count from the last reply, a route that moves to another
# interface is seen and said, probes are held back while the bound IPv6
# address is gone, an interface that returns gets one rebuild with a
# current reason, SIGHUP bursts are coalesced, and the status socket takes
# a burst of connects.  Every case acts on real interfaces in namespaces
# and asserts on the status line, the log, the wire or the pid.
#
# Needs tests/tools/sockquery and tests/tools/connburst (make tests).
#

. "$(atf_get_srcdir)/lib/netns.subr"

# --- this file's own helpers -----------------------------------------------

# outage_figure PHRASE: N of the first "PHRASE Ns" in ./err
outage_figure()
{
	sed -n "s/.*$1 \([0-9][0-9]*\)s.*/\1/p" err | head -n 1
}

# route_bed VIA DEV: monitor with two ways to 192.0.2.1 (on the lo of both
# peers): mon0 10.0.0.1/24 to $NS_PEER 10.0.0.2, mon1 10.1.0.1/24 to
# $NS_PEER1 10.1.0.2; the host route to it goes via VIA on DEV
route_bed()
{
	NS_MON=$(netns_mk mon) || return 1
	NS_PEER=$(netns_mk peer) || return 1
	NS_PEER1=$(netns_mk peer1) || return 1
	netns_veth "$NS_MON" mon0 "$NS_PEER" peer0 || return 1
	netns_veth "$NS_MON" mon1 "$NS_PEER1" peer1 || return 1
	ip -n "$NS_MON" addr add 10.0.0.1/24 dev mon0 || return 1
	ip -n "$NS_PEER" addr add 10.0.0.2/24 dev peer0 || return 1
	ip -n "$NS_MON" addr add 10.1.0.1/24 dev mon1 || return 1
	ip -n "$NS_PEER1" addr add 10.1.0.2/24 dev peer1 || return 1
	ip -n "$NS_PEER" addr add 192.0.2.1/32 dev lo || return 1
	ip -n "$NS_PEER1" addr add 192.0.2.1/32 dev lo || return 1
	ip -n "$NS_MON" route add 192.0.2.1/32 via "$1" dev "$2"
}

# --- 1. a whole-process pause -------------------------------------------------

atf_test_case paused_process_not_restarted cleanup
paused_process_not_restarted_head()
{
	atf_set descr "The whole process stopped for 10s and continued (a VM pause): no stall is claimed, no restart in place, no rebuild, one 'process was paused' line, and the latency stays true afterwards"
	atf_set require.user root
	atf_set timeout 120
}
paused_process_not_restarted_body()
{
	netns_init
	netns_pair || atf_fail "cannot build the test network"
	daemon_start -r 0 -i GW -B 10.0.0.1 -u "$PWD/s.sock" 10.0.0.2 || atf_fail "cannot start"
	wait_for 20 status_lossless s.sock || atf_fail "never healthy: $(oneline err)"
	kill -STOP "$DP_PID" || atf_fail "cannot stop the daemon"
	# Twice the stall limit (5s): long enough to be taken for a hang
	sleep 10
	kill -CONT "$DP_PID" || atf_fail "cannot continue the daemon"
	# Every answer of the next 10s (veth RTT is about 0.05ms)
	end=$(($(date +%s) + 10))
	: > answers
	while [ "$(date +%s)" -lt "$end" ]; do
		status_query s.sock >> answers || echo "unanswered" >> answers
		sleep 0.2
	done
	check_daemon
	stalled=$(grep 'stalled' err)
	[ -z "$stalled" ] || atf_fail "the pause was taken for a stall: $(echo "$stalled" | oneline)"
	starts=$(log_count err '^send_interval ')
	[ "$starts" -eq 1 ] || atf_fail "the parameter line appears $starts times: restarted in place"
	wait_for 10 file_has err 'watchdog: process was paused for' ||
	    atf_fail "the pause was not logged: $(oneline err)"
	paused=$(log_count err 'watchdog: process was paused for')
	[ "$paused" -eq 1 ] || atf_fail "$paused 'process was paused' lines: $(oneline err)"
	# A pause calls for nothing else: no rebuild, no heal
	acted=$(grep -E 'rebuilt ICMP sockets|healed:' err)
	[ -z "$acted" ] || atf_fail "the pause set off: $(echo "$acted" | oneline)"
	bad=$(awk '$0 == "unanswered" || $(NF-2) >= 50000 || $(NF-1) >= 50000' answers | oneline)
	[ -z "$bad" ] || atf_fail "status answers in the 10s after the pause with latency or stddev of 50ms or more: $bad"
}
paused_process_not_restarted_cleanup()
{
	netns_cleanup
}

# --- 2. a link down with its address kept -------------------------------------

atf_test_case link_down_waited_for cleanup
link_down_waited_for_head()
{
	atf_set descr "The link goes down for 20s with its address kept: the daemon waits for it (one line, no rebuild), claims no heal when it comes up, and gives the outage from the last reply"
	atf_set require.user root
	atf_set timeout 150
}
link_down_waited_for_body()
{
	netns_init
	netns_pair || atf_fail "cannot build the test network"
	daemon_start -r 0 -s 500 -l 2000 -t 5s -i GW -B 10.0.0.1 -u "$PWD/s.sock" 10.0.0.2 || atf_fail "cannot start"
	wait_for 20 status_lossless s.sock || atf_fail "never healthy: $(oneline err)"
	t_down=$(ms_now)
	ip -n "$NS_MON" link set dev mon0 down || atf_fail "cannot set mon0 down"
	wait_for 20 status_loss_total s.sock || atf_fail "loss never reached 100 with the link down"
	# 20s: the old code rebuilt at 1, 3, 7 and 15s into such an outage
	while [ "$(ms_now)" -lt $((t_down + 20000)) ]; do
		status_query s.sock >/dev/null || atf_fail "a status query went unanswered with the link down"
		sleep 1
	done
	rebuilds=$(log_count err 'rebuilt ICMP sockets')
	[ "$rebuilds" -eq 0 ] || atf_fail "$rebuilds rebuilds while the link was down: $(grep 'rebuilt ICMP sockets' err | oneline)"
	waiting=$(log_count err 'route: mon0 is down, waiting for it to come up')
	[ "$waiting" -eq 1 ] || atf_fail "$waiting lines 'route: mon0 is down, waiting for it to come up' (want 1): $(grep 'route:' err | oneline)"

	ip -n "$NS_MON" link set dev mon0 up || atf_fail "cannot set mon0 up"
	t_up=$(ms_now)
	wait_for 20 status_healthy s.sock || atf_fail "not healthy after the link came up: $(oneline err)"
	wait_for 10 file_has err 'replies resumed after an outage of [0-9]*s' ||
	    atf_fail "the end of the outage was not logged: $(oneline err)"
	# A clean 5s window: whatever the return set off is over
	wait_for 20 status_lossless s.sock || atf_fail "loss does not fall back to 0"
	check_daemon
	rebuilds=$(log_count err 'rebuilt ICMP sockets')
	[ "$rebuilds" -eq 0 ] || atf_fail "$rebuilds rebuilds: $(grep 'rebuilt ICMP sockets' err | oneline)"
	healed=$(grep 'healed:' err)
	[ -z "$healed" ] || atf_fail "a heal was claimed: $(echo "$healed" | oneline)"
	waiting=$(log_count err 'route: mon0 is down, waiting for it to come up')
	[ "$waiting" -eq 1 ] || atf_fail "$waiting waiting lines in all (want 1)"
	resumed=$(log_count err 'replies resumed after an outage of')
	[ "$resumed" -eq 1 ] || atf_fail "$resumed 'replies resumed' lines (want 1)"
	n=$(outage_figure 'replies resumed after an outage of')
	real=$((t_up - t_down))
	off=$((n * 1000 - real))
	[ "${off#-}" -le 3000 ] || atf_fail "outage logged as ${n}s, the link was down for ${real}ms"
}
link_down_waited_for_cleanup()
{
	netns_cleanup
}

# --- 3. outage figures --------------------------------------------------------

atf_test_case outage_figure_never_answered cleanup
outage_figure_never_answered_head()
{
	atf_set descr "A target that never answers: 'no reply for Ns' counts from the daemon's start, not from the machine's boot"
	atf_set require.user root
	atf_set timeout 90
}
outage_figure_never_answered_body()
{
	netns_init
	netns_pair || atf_fail "cannot build the test network"
	ip netns exec "$NS_PEER" iptables -A INPUT -p icmp --icmp-type echo-request -j DROP ||
	    atf_fail "iptables in the peer"
	t0=$(date +%s)
	daemon_start -r 0 -s 500 -l 2000 -i GW -B 10.0.0.1 -u "$PWD/s.sock" 10.0.0.2 || atf_fail "cannot start"
	wait_for 60 file_has err 'no reply for [0-9]*s and a fresh-socket probe is unanswered too' ||
	    atf_fail "the outage was not logged: $(oneline err)"
	t1=$(date +%s)
	n=$(outage_figure 'no reply for')
	[ -n "$n" ] || atf_fail "no figure in: $(oneline err)"
	[ "$n" -le $((t1 - t0 + 1)) ] || atf_fail "'no reply for ${n}s' logged $((t1 - t0))s after the daemon started"
	check_daemon
}
outage_figure_never_answered_cleanup()
{
	netns_cleanup
}

atf_test_case outage_figure_from_last_reply cleanup
outage_figure_from_last_reply_head()
{
	atf_set descr "An outage of 15s after a healthy start: 'replies resumed after an outage of Ns' counts from the last reply, not from the detection"
	atf_set require.user root
	atf_set timeout 120
}
outage_figure_from_last_reply_body()
{
	netns_init
	netns_pair || atf_fail "cannot build the test network"
	daemon_start -r 0 -s 500 -l 2000 -t 5s -i GW -B 10.0.0.1 -u "$PWD/s.sock" 10.0.0.2 || atf_fail "cannot start"
	wait_for 20 status_lossless s.sock || atf_fail "never healthy: $(oneline err)"
	t_drop=$(ms_now)
	ip netns exec "$NS_PEER" iptables -A INPUT -p icmp --icmp-type echo-request -j DROP ||
	    atf_fail "iptables in the peer"
	wait_for 20 status_loss_total s.sock || atf_fail "the outage did not take"
	while [ "$(ms_now)" -lt $((t_drop + 15000)) ]; do
		sleep 0.2
	done
	ip netns exec "$NS_PEER" iptables -D INPUT -p icmp --icmp-type echo-request -j DROP ||
	    atf_fail "cannot end the outage"
	wait_for 20 status_healthy s.sock || atf_fail "monitoring did not resume: $(oneline err)"
	wait_for 10 file_has err 'replies resumed after an outage of [0-9]*s' ||
	    atf_fail "the end of the outage was not logged: $(oneline err)"
	n=$(outage_figure 'replies resumed after an outage of')
	[ "$n" -ge 14 ] && [ "$n" -le 18 ] || atf_fail "a 15s outage logged as ${n}s: $(grep 'outage' err | oneline)"
	check_daemon
}
outage_figure_from_last_reply_cleanup()
{
	netns_cleanup
}

# --- 4. route moves -----------------------------------------------------------

atf_test_case route_move_seen cleanup
route_move_seen_head()
{
	atf_set descr "The route to the target moves from the bound address's interface to another one: one line says so (and no 'real outage' while a plain ping works); moved back, one line says that and the monitor is healthy"
	atf_set require.user root
	atf_set timeout 120
}
route_move_seen_body()
{
	netns_init
	route_bed 10.0.0.2 mon0 || atf_fail "cannot build the test network"
	daemon_start -r 0 -s 500 -l 2000 -t 15s -i GW -B 10.0.0.1 -u "$PWD/s.sock" 192.0.2.1 || atf_fail "cannot start"
	wait_for 30 status_lossless s.sock || atf_fail "never healthy: $(oneline err)"
	ip -n "$NS_MON" route replace 192.0.2.1/32 via 10.1.0.2 dev mon1 || atf_fail "cannot move the route"
	# The scenario: the target answers a plain ping the new way
	atf_check -s exit:0 -o ignore -e ignore ip netns exec "$NS_MON" ping -c 1 -W 5 192.0.2.1
	wait_for 10 file_has err 'route: probes to 192.0.2.1 leave by mon1, not by mon0' ||
	    atf_fail "the route move was not logged: $(oneline err)"
	# It stands until the whole 15s window is lost (longer than the
	# fresh-socket probe takes to call an outage real)
	wait_for 40 status_loss_total s.sock || atf_fail "loss never reached 100 with the route moved"
	outage=$(grep 'real outage' err)
	[ -z "$outage" ] || atf_fail "'real outage' claimed while the route leads elsewhere: $(echo "$outage" | oneline)"
	moved=$(log_count err 'route: probes to 192.0.2.1 leave by mon1, not by mon0')
	[ "$moved" -eq 1 ] || atf_fail "$moved lines for one move: $(grep 'route:' err | oneline)"

	ip -n "$NS_MON" route replace 192.0.2.1/32 via 10.0.0.2 dev mon0 || atf_fail "cannot move the route back"
	wait_for 10 file_has err 'route: probes to 192.0.2.1 leave by mon0 again' ||
	    atf_fail "the route's return was not logged: $(oneline err)"
	wait_for 20 status_healthy s.sock || atf_fail "not healthy with the route back: $(oneline err)"
	back=$(log_count err 'route: probes to 192.0.2.1 leave by mon0 again')
	[ "$back" -eq 1 ] || atf_fail "$back lines for one return: $(grep 'route:' err | oneline)"
	check_daemon
}
route_move_seen_cleanup()
{
	netns_cleanup
}

atf_test_case route_elsewhere_at_start cleanup
route_elsewhere_at_start_head()
{
	atf_set descr "The route to the target already leaves by another interface than the bound address's when the daemon starts: the line appears at start-up"
	atf_set require.user root
	atf_set timeout 60
}
route_elsewhere_at_start_body()
{
	netns_init
	route_bed 10.1.0.2 mon1 || atf_fail "cannot build the test network"
	daemon_start -r 0 -s 500 -l 2000 -i GW -B 10.0.0.1 -u "$PWD/s.sock" 192.0.2.1 || atf_fail "cannot start"
	wait_for 20 file_has err '^send_interval ' || atf_fail "never started: $(oneline err)"
	wait_for 10 file_has err 'route: probes to 192.0.2.1 leave by mon1, not by mon0' ||
	    atf_fail "the route was not checked at start-up: $(oneline err)"
	moved=$(log_count err 'route: probes to 192.0.2.1 leave by mon1, not by mon0')
	[ "$moved" -eq 1 ] || atf_fail "$moved lines: $(grep 'route:' err | oneline)"
	check_daemon
}
route_elsewhere_at_start_cleanup()
{
	netns_cleanup
}

# --- 5. a removed IPv6 source address -----------------------------------------

atf_test_case removed_source_held_back cleanup
removed_source_held_back_head()
{
	atf_set descr "The bound IPv6 address is removed while another address keeps its prefix on the interface (Linux gives no send error): no echo request leaves from it while it is gone, the loss rises, and probing resumes when it returns"
	atf_set require.user root
	atf_set timeout 90
}
removed_source_held_back_body()
{
	netns_init
	netns_pair || atf_fail "cannot build the test network"
	# fd00::3 keeps the route to fd00::/64 when fd00::1 goes
	ip -n "$NS_MON" addr add fd00::3/64 dev mon0 nodad || atf_fail "cannot add fd00::3"
	ip netns exec "$NS_PEER" ip6tables -A INPUT -s fd00::1 -p ipv6-icmp --icmpv6-type echo-request \
	    -m comment --comment truth || atf_fail "ip6tables in the peer"
	daemon_start -r 0 -s 100 -l 300 -t 3s -i GW -B fd00::1 -u "$PWD/s.sock" fd00::2 || atf_fail "cannot start"
	wait_for 20 status_lossless s.sock || atf_fail "never healthy: $(oneline err)"
	rule_count_above "$NS_PEER" ip6tables truth 0 || atf_fail "the peer's counter does not count the probes"
	ip -n "$NS_MON" addr del fd00::1/64 dev mon0 || atf_fail "cannot remove fd00::1"
	wait_for 10 file_has err 'route: bind address fd00::1 is not on mon0, probes held back until it returns' ||
	    atf_fail "no hold-back line: $(oneline err)"
	wait_for 10 status_lossy s.sock 0 || atf_fail "no loss with the address gone"
	c1=$(rule_count "$NS_PEER" ip6tables truth) || atf_fail "cannot read the peer's counter"
	# Time passes: the whole 3s window turns lost
	wait_for 20 status_loss_total s.sock || atf_fail "loss never reached 100 with the address gone"
	c2=$(rule_count "$NS_PEER" ip6tables truth) || atf_fail "cannot read the peer's counter"
	[ "$c2" -eq "$c1" ] || atf_fail "$((c2 - c1)) echo requests from the removed fd00::1 reached the peer while held back"

	ip -n "$NS_MON" addr add fd00::1/64 dev mon0 nodad || atf_fail "cannot add fd00::1 back"
	wait_for 20 rule_count_above "$NS_PEER" ip6tables truth "$c2" || atf_fail "probing did not resume: $(oneline err)"
	wait_for 20 status_healthy s.sock || atf_fail "not healthy with the address back: $(oneline err)"
	check_daemon
}
removed_source_held_back_cleanup()
{
	netns_cleanup
}

# --- 6. an interface that returns after send errors ---------------------------

atf_test_case interface_return_one_rebuild cleanup
interface_return_one_rebuild_head()
{
	atf_set descr "The interface is destroyed, and 11s later comes back configured (addresses first, then up): exactly one rebuild, for the route event, none with the old send-error reason"
	atf_set require.user root
	atf_set timeout 90
}
interface_return_one_rebuild_body()
{
	netns_init
	netns_pair || atf_fail "cannot build the test network"
	daemon_start -r 0 -s 100 -l 300 -t 2s -i GW -B 10.0.0.1 -u "$PWD/s.sock" 10.0.0.2 || atf_fail "cannot start"
	wait_for 20 status_lossless s.sock || atf_fail "never healthy: $(oneline err)"
	t_del=$(ms_now)
	ip -n "$NS_MON" link del mon0 || atf_fail "cannot destroy mon0"
	wait_for 10 status_loss_total s.sock || atf_fail "loss never reached 100 with the interface gone"
	while [ "$(ms_now)" -lt $((t_del + 11000)) ]; do
		sleep 0.2
	done
	mark=$(log_mark err)
	# Back as a configured interface comes back: its addresses while it
	# is still down, then 3s later up (bind works before sends can)
	ip link add name mon0 netns "$NS_MON" type veth peer name peer0 netns "$NS_PEER" && netns_addrs ||
	    atf_fail "cannot recreate the veth"
	t_add=$(ms_now)
	while [ "$(ms_now)" -lt $((t_add + 3000)) ]; do
		sleep 0.2
	done
	ip -n "$NS_MON" link set dev mon0 up && ip -n "$NS_PEER" link set dev peer0 up ||
	    atf_fail "cannot set the veth up"
	wait_for 20 status_healthy s.sock || atf_fail "not healed: $(oneline err)"
	# A clean 2s window: whatever the return set off is over
	wait_for 20 status_lossless s.sock || atf_fail "loss does not fall back to 0"
	check_daemon
	rebuilds=$(log_count_since err 'rebuilt ICMP sockets' "$mark")
	[ "$rebuilds" -eq 1 ] || atf_fail "$rebuilds rebuilds after the interface returned (want 1): $(log_since err "$mark" | grep 'rebuilt ICMP sockets' | oneline)"
	reason=$(log_since err "$mark" | sed -n 's/.*rebuilt ICMP sockets (\(.*\)), generation.*/\1/p' | head -n 1)
	case "$reason" in
	route:*) ;;
	*) atf_fail "the rebuild's reason is not the route event: ($reason)" ;;
	esac
	stale=$(log_since err "$mark" | grep -E 'rebuilt ICMP sockets \(sendto:')
	[ -z "$stale" ] || atf_fail "a rebuild for old send errors: $(echo "$stale" | oneline)"
}
interface_return_one_rebuild_cleanup()
{
	netns_cleanup
}

# --- 7. a SIGHUP burst --------------------------------------------------------

atf_test_case sighup_burst_coalesced cleanup
sighup_burst_coalesced_head()
{
	atf_set descr "20 SIGHUPs 50ms apart are coalesced into 1 to 3 rebuilds"
	atf_set require.user root
	atf_set timeout 60
}
sighup_burst_coalesced_body()
{
	netns_init
	netns_pair || atf_fail "cannot build the test network"
	ip netns exec "$NS_PEER" iptables -A INPUT -s 10.0.0.1 -p icmp --icmp-type echo-request \
	    -m comment --comment truth || atf_fail "iptables in the peer"
	daemon_start -r 0 -s 100 -l 300 -t 2s -i GW -B 10.0.0.1 -u "$PWD/s.sock" 10.0.0.2 || atf_fail "cannot start"
	wait_for 20 status_lossless s.sock || atf_fail "never healthy: $(oneline err)"
	i=0
	while [ $i -lt 20 ]; do
		kill -HUP "$DP_PID" || atf_fail "cannot signal the daemon"
		sleep 0.05
		i=$((i + 1))
	done
	# The burst is over: every signal taken, a rebuild done, 30 more
	# probes on the wire (3s), a status answer
	wait_for 10 signal_not_pending "$DP_PID" 1 || atf_fail "SIGHUP still pending"
	wait_for 10 file_has err 'rebuilt ICMP sockets (SIGHUP)' || atf_fail "no rebuild for the burst: $(oneline err)"
	c=$(rule_count "$NS_PEER" iptables truth) || atf_fail "cannot read the peer's counter"
	wait_for 30 rule_count_above "$NS_PEER" iptables truth $((c + 30)) ||
	    atf_fail "probing did not go on after the burst"
	status_query s.sock >/dev/null || atf_fail "no status answer after the burst"
	check_daemon
	rebuilds=$(log_count err 'rebuilt ICMP sockets \(SIGHUP\)')
	[ "$rebuilds" -ge 1 ] && [ "$rebuilds" -le 3 ] || atf_fail "$rebuilds rebuilds for a burst of 20 SIGHUPs (want 1 to 3)"
}
sighup_burst_coalesced_cleanup()
{
	netns_cleanup
}

# --- 8. the status socket's backlog -------------------------------------------

atf_test_case status_backlog_burst cleanup
status_backlog_burst_head()
{
	atf_set descr "2000 rapid non-blocking connects to the status socket: none refused, each gets a full line"
	atf_set require.user root
	atf_set timeout 60
}
status_backlog_burst_body()
{
	[ -x "$(tool connburst)" ] || atf_fail "tests/tools/connburst is not built (make tests)"
	netns_init
	NS_MON=$(netns_mk mon) || atf_fail "cannot make the namespace"
	daemon_start -r 0 -s 100 -l 300 -t 2s -i GW -u "$PWD/s.sock" 127.0.0.1 || atf_fail "cannot start"
	wait_for 20 status_lossless s.sock || atf_fail "never healthy: $(oneline err)"
	"$(tool connburst)" -n 2000 -t 30000 s.sock > burst 2> burst.err
	grep -q '^connects 2000 refused 0 lines 2000 short 0$' burst ||
	    atf_fail "not every connect got its line: $(oneline burst burst.err)"
	check_daemon
	status_query s.sock >/dev/null || atf_fail "no answer after the burst"
}
status_backlog_burst_cleanup()
{
	netns_cleanup
}

atf_init_test_cases()
{
	atf_add_test_case paused_process_not_restarted
	atf_add_test_case link_down_waited_for
	atf_add_test_case outage_figure_never_answered
	atf_add_test_case outage_figure_from_last_reply
	atf_add_test_case route_move_seen
	atf_add_test_case route_elsewhere_at_start
	atf_add_test_case removed_source_held_back
	atf_add_test_case interface_return_one_rebuild
	atf_add_test_case sighup_burst_coalesced
	atf_add_test_case status_backlog_burst
}
