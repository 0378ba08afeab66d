#!/usr/bin/env atf-sh
#
# The watchdog: a hung thread (stopped with the freezer, as a hang would
# stop it) is detected and healed in place — same pid, same pid file, the
# status socket answering again — and the status socket never waits for
# another thread.
#

. "$(atf_get_srcdir)/lib/netns.subr"

# start_dp ARGS...: dpinger in its own namespace against 127.0.0.1, with a
# pid file and a status socket; sets DP_PID
start_dp()
{
	NS_MON=$(netns_mk mon) || return 1
	DP_PID=$(netns_bg "$NS_MON" out err "$(dpinger_bin)" -f -r 0 -s 100 -l 300 -t 3s \
	    -p "$PWD/dp.pid" -u "$PWD/s.sock" "$@" 127.0.0.1) || return 1
	wait_for 10 status_lossless s.sock
}

# freeze THREAD SECONDS [TAG]: stop a thread of the daemon; waits until it is stopped
freeze()
{
	_tag=${3:-$1}
	"$(tool freezer)" -p "$DP_PID" -t "$1" -s "$2" > "frz.$_tag" 2>&1 &
	echo $! >> created_pids.lst
	FREEZER=$!
	wait_for 10 file_has "frz.$_tag" '^frozen' || atf_fail "could not freeze $1: $(cat "frz.$_tag")"
}

# same_daemon: the same pid runs, and the pid file still names it
same_daemon()
{
	kill -0 "$DP_PID" 2>/dev/null || atf_fail "dpinger is gone: $(cat err)"
	[ "$(cat dp.pid)" = "$DP_PID" ] || atf_fail "the pid file names $(cat dp.pid), not $DP_PID"
	[ "$(cat "/proc/$DP_PID/comm")" = dpinger ] || atf_fail "the process is now called $(cat "/proc/$DP_PID/comm")"
}

# answers_within MS: one status query answered in under MS milliseconds
answers_within()
{
	"$(tool sockquery)" -T -t "$1" s.sock > q.out 2> q.err || return 1
	_ms=$(awk '/^elapsed_ms/ { print $2 }' q.err)
	[ "${_ms:-99999}" -lt "$1" ]
}

atf_test_case status_frozen cleanup
status_frozen_head()
{
	atf_set descr "The status thread frozen for 60s: within the stall limit plus a few seconds a query answers again, same pid and pid file (3.3 hangs its clients)"
	atf_set require.user root
	atf_set timeout 90
}
status_frozen_body()
{
	netns_init
	start_dp -W 2s || atf_fail "cannot start dpinger"
	# Some loss in the window first: a second of refused sends
	ip netns exec "$NS_MON" iptables -A OUTPUT -p icmp --icmp-type echo-request -j DROP
	sleep 1
	ip netns exec "$NS_MON" iptables -F OUTPUT
	wait_for 10 status_healthy s.sock || atf_fail "not answering again"
	fds0=$(fd_count "$DP_PID")
	freeze status 60
	t0=$(date +%s)
	# A client queued while the thread is frozen gets its line from the new
	# image: the listening socket survives the restart
	"$(tool sockquery)" -t 15000 s.sock > queued.out 2> queued.err &
	queued=$!
	atf_check -s exit:0 -o save:first "$(tool sockquery)" -m healthy -t 10000 s.sock
	[ $(($(date +%s) - t0)) -le 6 ] || atf_fail "took more than the stall limit plus a few seconds"
	same_daemon
	atf_check -s exit:0 -o match:'127.0.0.1: watchdog: status stalled for [0-9]+s, restarting in place' cat err
	wait_for 5 file_has frz.status '^gone' || atf_fail "the frozen thread is still there"
	[ "$(grep -c '^send_interval' err)" -eq 2 ] || atf_fail "not exactly one restart: $(cat err)"
	wait "$queued" || atf_fail "the queued client got no line: $(cat queued.err)"
	atf_check -s exit:0 -o match:'^[0-9]+ [0-9]+ [0-9]+$' cat queued.out
	# The statistics window survived the restart: the loss is still there
	awk '{ exit !($5 > 0 && $3 > 0) }' first || atf_fail "window reset by the restart: $(cat first)"
	[ "$(fd_count "$DP_PID")" -eq "$fds0" ] || atf_fail "descriptors $fds0 -> $(fd_count "$DP_PID")"
}
status_frozen_cleanup()
{
	netns_cleanup
}

atf_test_case send_and_recv_frozen cleanup
send_and_recv_frozen_head()
{
	atf_set descr "A frozen send or recv thread is detected: first a socket rebuild, then, still frozen, a restart in place; statistics flow again"
	atf_set require.user root
	atf_set timeout 90
}
send_and_recv_frozen_body()
{
	netns_init
	start_dp -W 2s || atf_fail "cannot start dpinger"
	for t in send recv; do
		freeze "$t" 60
		wait_for 10 file_has err "watchdog: $t stalled for [0-9]*s, rebuilding sockets" ||
		    atf_fail "$t: no rebuild: $(cat err)"
		wait_for 10 file_has err "watchdog: $t stalled for [0-9]*s, restarting in place" ||
		    atf_fail "$t: no restart: $(cat err)"
		wait_for 5 file_has "frz.$t" '^gone' || atf_fail "$t: still frozen"
		wait_for 10 status_lossless s.sock || atf_fail "$t: statistics do not flow again"
		same_daemon
	done
	atf_check -s exit:0 -o match:'rebuilt ICMP sockets \(watchdog: send stalled\)' cat err
	atf_check -s exit:0 -o match:'rebuilt ICMP sockets \(watchdog: recv stalled\)' cat err
}
send_and_recv_frozen_cleanup()
{
	netns_cleanup
}

atf_test_case short_freeze_rebuild_only cleanup
short_freeze_rebuild_only_head()
{
	atf_set descr "A send thread stalled for less than two stall limits gets a rebuild only, no restart"
	atf_set require.user root
	atf_set timeout 60
}
short_freeze_rebuild_only_body()
{
	netns_init
	start_dp -W 2s || atf_fail "cannot start dpinger"
	freeze send 3
	wait_for 10 file_has frz.send '^released' || atf_fail "not released: $(cat frz.send)"
	wait_for 10 status_lossless s.sock || atf_fail "statistics do not flow again"
	sleep 3
	atf_check -s exit:0 -o match:'watchdog: send stalled for [0-9]+s, rebuilding sockets' cat err
	atf_check -s exit:1 -o empty grep 'restarting in place' err
	same_daemon
}
short_freeze_rebuild_only_cleanup()
{
	netns_cleanup
}

atf_test_case main_frozen cleanup
main_frozen_head()
{
	atf_set descr "The supervising main thread frozen: the status thread notices and restarts the process in place"
	atf_set require.user root
	atf_set timeout 60
}
main_frozen_body()
{
	netns_init
	start_dp -W 2s || atf_fail "cannot start dpinger"
	freeze main 60
	wait_for 10 file_has err 'watchdog: main stalled for [0-9]*s, restarting in place' || atf_fail "no restart: $(cat err)"
	wait_for 5 file_has frz.main '^gone' || atf_fail "main is still frozen"
	wait_for 10 status_lossless s.sock || atf_fail "not answering after the restart"
	same_daemon
}
main_frozen_cleanup()
{
	netns_cleanup
}

atf_test_case slow_alert_command cleanup
slow_alert_command_head()
{
	atf_set descr "An alert command that takes 30s is not a hang: no watchdog action, queries answered throughout"
	atf_set require.user root
	atf_set timeout 90
}
slow_alert_command_body()
{
	netns_init
	printf '#!/bin/sh\necho "$*" >> "%s/alerts"\nsleep 30\n' "$PWD" > slow.sh
	chmod +x slow.sh
	start_dp -W 2s -A 200 -D 0 -C "$PWD/slow.sh" || atf_fail "cannot start dpinger"
	wait_for 10 test -s alerts || atf_fail "the alert command did not start"
	i=0
	while [ $i -lt 10 ]; do
		answers_within 1000 || atf_fail "a query took too long while the alert command ran"
		sleep 1
		i=$((i + 1))
	done
	atf_check -s exit:1 -o empty grep watchdog err
	same_daemon
}
slow_alert_command_cleanup()
{
	netns_cleanup
}

atf_test_case queries_while_worker_frozen cleanup
queries_while_worker_frozen_head()
{
	atf_set descr "While send or recv is frozen, every status query answers within one second"
	atf_set require.user root
	atf_set timeout 90
}
queries_while_worker_frozen_body()
{
	netns_init
	start_dp -W 30s || atf_fail "cannot start dpinger"
	for t in send recv; do
		freeze "$t" 6
		i=0
		while [ $i -lt 10 ]; do
			answers_within 1000 || atf_fail "query took too long with $t frozen: $(cat q.err)"
			sleep 0.4
			i=$((i + 1))
		done
		wait_for 10 file_has "frz.$t" '^released' || atf_fail "$t not released"
	done
	same_daemon
}
queries_while_worker_frozen_cleanup()
{
	netns_cleanup
}

atf_test_case restarts_rate_limited cleanup
restarts_rate_limited_head()
{
	atf_set descr "Freezing the status thread again and again: restarts in place are spaced 2, 4, 8 stall limits apart and the daemon never exits"
	atf_set require.user root
	atf_set timeout 120
}
restarts_rate_limited_body()
{
	netns_init
	start_dp -W 2s || atf_fail "cannot start dpinger"
	prev=""
	n=1
	while [ $n -le 4 ]; do
		freeze status 60 "$n"
		wait_for 40 file_has "frz.$n" '^gone' || atf_fail "restart $n did not happen: $(cat err)"
		now=$(date +%s.%N)
		if [ -n "$prev" ]; then
			# restart n comes at least 2^(n-1) x 2 stall limits (of 2s) after restart n-1
			echo "$now $prev $n" | awk '{ gap = $1 - $2; need = 2 * 2 ^ ($3 - 1);
			    printf "restart %d after %.1fs (rate limit %ds)\n", $3, gap, need;
			    exit !(gap >= need - 0.3) }' || atf_fail "restart $n came too early"
		fi
		prev=$now
		wait_for 10 status_lossless s.sock || atf_fail "not answering after restart $n"
		same_daemon
		n=$((n + 1))
	done
	atf_check -s exit:0 -o match:'restart in place deferred for [0-9]+s \(rate limit\)' cat err
	[ "$(grep -c 'restarting in place' err)" -eq 4 ] || atf_fail "not 4 restarts: $(cat err)"
}
restarts_rate_limited_cleanup()
{
	netns_cleanup
}

atf_test_case sigterm_while_acting cleanup
sigterm_while_acting_head()
{
	atf_set descr "SIGTERM while the watchdog is acting on a frozen thread: clean exit 0, pid file and socket removed"
	atf_set require.user root
	atf_set timeout 60
}
sigterm_while_acting_body()
{
	netns_init
	NS_MON=$(netns_mk mon) || atf_fail "namespace"
	ip netns exec "$NS_MON" "$(dpinger_bin)" -f -r 0 -s 100 -l 300 -t 3s -W 2s -p "$PWD/dp.pid" -u "$PWD/s.sock" \
	    127.0.0.1 > out 2> err &
	DP_PID=$!
	echo "$DP_PID" >> created_pids.lst
	wait_for 10 status_lossless s.sock || atf_fail "cannot start dpinger"
	freeze send 60
	wait_for 10 file_has err 'watchdog: send stalled for [0-9]*s, rebuilding sockets' || atf_fail "no watchdog action"
	kill -TERM "$DP_PID"
	wait "$DP_PID"
	rc=$?
	[ "$rc" -eq 0 ] || atf_fail "exit status $rc: $(cat err)"
	[ ! -e dp.pid ] && [ ! -e s.sock ] || atf_fail "files left behind"
	atf_check -s exit:0 -o match:'^exiting on signal 15$' cat err
}
sigterm_while_acting_cleanup()
{
	netns_cleanup
}

atf_test_case exec_failure_cleans_up cleanup
exec_failure_cleans_up_head()
{
	atf_set descr "When the restart in place cannot execute (the binary was removed), dpinger logs it, removes its pid file and socket and exits 1"
	atf_set require.user root
	atf_set timeout 60
}
exec_failure_cleans_up_body()
{
	netns_init
	NS_MON=$(netns_mk mon) || atf_fail "namespace"
	cp "$(dpinger_bin)" "$PWD/dpinger"
	ip netns exec "$NS_MON" "$PWD/dpinger" -f -r 0 -s 100 -l 300 -t 3s -W 2s -p "$PWD/dp.pid" -u "$PWD/s.sock" \
	    127.0.0.1 > out 2> err &
	DP_PID=$!
	echo "$DP_PID" >> created_pids.lst
	wait_for 10 status_lossless s.sock || atf_fail "cannot start dpinger"
	rm "$PWD/dpinger"
	freeze status 60
	wait "$DP_PID"
	rc=$?
	[ "$rc" -eq 1 ] || atf_fail "exit status $rc, not 1: $(cat err)"
	atf_check -s exit:0 -o match:'watchdog: status stalled for [0-9]+s, restarting in place' \
	    -o match:'watchdog: exec .*dpinger: No such file or directory' cat err
	[ ! -e dp.pid ] && [ ! -e s.sock ] || atf_fail "files left behind"
}
exec_failure_cleans_up_cleanup()
{
	netns_cleanup
}

atf_test_case watchdog_off cleanup
watchdog_off_head()
{
	atf_set descr "With -W 0 a frozen status thread stays frozen and nothing restarts (the control case)"
	atf_set require.user root
	atf_set timeout 60
}
watchdog_off_body()
{
	netns_init
	start_dp -W 0 || atf_fail "cannot start dpinger"
	freeze status 8
	sleep 4
	atf_check -s exit:2 -o empty -e ignore "$(tool sockquery)" -t 1500 s.sock
	wait_for 15 file_has frz.status '^released' || atf_fail "not released"
	wait_for 5 status_lossless s.sock || atf_fail "not answering after release"
	atf_check -s exit:1 -o empty grep watchdog err
	[ "$(grep -c '^send_interval' err)" -eq 1 ] || atf_fail "restarted: $(cat err)"
	same_daemon
}
watchdog_off_cleanup()
{
	netns_cleanup
}

atf_init_test_cases()
{
	atf_add_test_case status_frozen
	atf_add_test_case send_and_recv_frozen
	atf_add_test_case short_freeze_rebuild_only
	atf_add_test_case main_frozen
	atf_add_test_case slow_alert_command
	atf_add_test_case queries_while_worker_frozen
	atf_add_test_case restarts_rate_limited
	atf_add_test_case sigterm_while_acting
	atf_add_test_case exec_failure_cleans_up
	atf_add_test_case watchdog_off
}
