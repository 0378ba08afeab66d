#!/usr/bin/env atf-sh
#
# The watchdog: a hung thread (stopped with the freezer, as a hang would
# stop it) is detected and healed in place — same pid, same pid file, the
# status socket answering again — and the status socket never waits for
# another thread.
#

. "$(atf_get_srcdir)/lib/netns.subr"

# start_on_loopback ARGS...: $NS_MON alone and dpinger -f ARGS against
# 127.0.0.1 in it, with a pid file and a status socket; 1 unless lossless
start_on_loopback()
{
	netns_mon || return 1
	daemon_start wait=s.sock -r 0 -s 100 -l 300 -t 3s -p "$PWD/dp.pid" -u "$PWD/s.sock" "$@" 127.0.0.1
}

# freeze_thread THREAD SECONDS [TAG]: stop a thread of the daemon, its freezer's lines in frz.TAG; fails the test unless stopped
freeze_thread()
{
	freeze "$DP_PID" "$1" "$2" "frz.${3:-$1}" || atf_fail "could not freeze $1: $(oneline "frz.${3:-$1}")"
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
	start_on_loopback -W 2s || atf_fail "cannot start dpinger"
	# Some loss in the window first: refused sends until a quarter is lost
	ip netns exec "$NS_MON" iptables -A OUTPUT -p icmp --icmp-type echo-request -j DROP
	wait_for 10 status_lossy s.sock 25 || atf_fail "no loss with the requests dropped"
	ip netns exec "$NS_MON" iptables -F OUTPUT
	wait_for 10 status_healthy s.sock || atf_fail "not answering again"
	fds0=$(fd_count "$DP_PID")
	freeze_thread status 60
	t0=$(date +%s)
	# A client queued while the thread is frozen gets its line from the new
	# image: the listening socket survives the restart
	"$(tool sockquery)" -t 15000 s.sock > queued.out 2> queued.err &
	queued=$!
	atf_check -s exit:0 -o save:first "$(tool sockquery)" -m healthy -t 10000 s.sock
	[ $(($(date +%s) - t0)) -le 6 ] || atf_fail "took more than the stall limit plus a few seconds"
	check_daemon dp.pid
	atf_check -s exit:0 -o match:'127.0.0.1: watchdog: status stalled for [0-9]+s, restarting in place' cat err
	wait_for 5 file_has frz.status '^gone' || atf_fail "the frozen thread is still there"
	[ "$(grep -c '^send_interval' err)" -eq 2 ] || atf_fail "not exactly one restart: $(oneline err)"
	wait "$queued" || atf_fail "the queued client got no line: $(oneline queued.err)"
	atf_check -s exit:0 -o match:'^[0-9]+ [0-9]+ [0-9]+$' cat queued.out
	# The statistics window survived the restart: the loss is still there
	awk '{ exit !($5 > 0 && $3 > 0) }' first || atf_fail "window reset by the restart: $(oneline first)"
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
	start_on_loopback -W 2s || atf_fail "cannot start dpinger"
	for t in send recv; do
		freeze_thread "$t" 60
		wait_for 10 file_has err "watchdog: $t stalled for [0-9]*s, rebuilding sockets" ||
		    atf_fail "$t: no rebuild: $(oneline err)"
		wait_for 10 file_has err "watchdog: $t stalled for [0-9]*s, restarting in place" ||
		    atf_fail "$t: no restart: $(oneline err)"
		wait_for 5 file_has "frz.$t" '^gone' || atf_fail "$t: still frozen"
		wait_for 10 status_lossless s.sock || atf_fail "$t: statistics do not flow again"
		check_daemon dp.pid
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
	atf_set descr "A send or recv thread stalled for less than two stall limits gets a rebuild only, no restart"
	atf_set require.user root
	atf_set timeout 60
}
short_freeze_rebuild_only_body()
{
	netns_init
	start_on_loopback -W 2s || atf_fail "cannot start dpinger"
	# send, then recv: the second rebuild also proves that the watchdog
	# still looked more than two stall limits after the first freeze began
	for t in send recv; do
		freeze_thread "$t" 3
		wait_for 10 file_has "frz.$t" '^released' || atf_fail "$t not released (a restart makes it gone): $(oneline "frz.$t")"
		wait_for 10 log_has err "watchdog: $t stalled for [0-9]+s, rebuilding sockets" || atf_fail "$t: no rebuild: $(oneline err)"
		wait_for 10 status_lossless s.sock || atf_fail "$t: statistics do not flow again"
	done
	atf_check -s exit:1 -o empty grep 'restarting in place' err
	[ "$(grep -c '^send_interval' err)" -eq 1 ] || atf_fail "restarted: $(oneline err)"
	check_daemon dp.pid
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
	start_on_loopback -W 2s || atf_fail "cannot start dpinger"
	freeze_thread main 60
	wait_for 10 file_has err 'watchdog: main stalled for [0-9]*s, restarting in place' || atf_fail "no restart: $(oneline err)"
	wait_for 5 file_has frz.main '^gone' || atf_fail "main is still frozen"
	wait_for 10 status_lossless s.sock || atf_fail "not answering after the restart"
	check_daemon dp.pid
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
	start_on_loopback -W 2s -A 200 -L 10 -C "$PWD/slow.sh" || atf_fail "cannot start dpinger"
	# Requests dropped on the way out: a loss alarm soon, and the slow command with it
	ip netns exec "$NS_MON" iptables -A OUTPUT -p icmp --icmp-type echo-request -j DROP
	wait_for 10 test -s alerts || atf_fail "the alert command did not start"
	holds 10 status_within 1000 s.sock || atf_fail "a query took ${Q_MS:-too long} while the alert command ran"
	atf_check -s exit:0 -o inline:"1\n" grep -c . alerts
	atf_check -s exit:1 -o empty grep watchdog err
	check_daemon dp.pid
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
	start_on_loopback -W 30s || atf_fail "cannot start dpinger"
	for t in send recv; do
		freeze_thread "$t" 6
		holds 4 status_within 1000 s.sock || atf_fail "query took too long with $t frozen: $(oneline status_within.err)"
		file_has "frz.$t" '^released' && atf_fail "$t was released before the queries ended"
		wait_for 10 file_has "frz.$t" '^released' || atf_fail "$t not released"
	done
	check_daemon dp.pid
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
	start_on_loopback -W 2s || atf_fail "cannot start dpinger"
	prev=""
	n=1
	while [ $n -le 4 ]; do
		freeze_thread status 60 "$n"
		# A frozen status thread harms the clients it leaves waiting: one waits
		"$(tool sockquery)" -t 60000 s.sock > /dev/null 2>&1 &
		pid_record $!
		wait_for 40 file_has "frz.$n" '^gone' || atf_fail "restart $n did not happen: $(oneline err)"
		now=$(date +%s.%N)
		if [ -n "$prev" ]; then
			# restart n comes at least 2^(n-1) x 2 stall limits (of 2s) after restart n-1
			echo "$now $prev $n" | awk '{ gap = $1 - $2; need = 2 * 2 ^ ($3 - 1);
			    printf "restart %d after %.1fs (rate limit %ds)\n", $3, gap, need;
			    exit !(gap >= need - 0.3) }' || atf_fail "restart $n came too early"
		fi
		prev=$now
		wait_for 10 status_lossless s.sock || atf_fail "not answering after restart $n"
		check_daemon dp.pid
		n=$((n + 1))
	done
	atf_check -s exit:0 -o match:'restart in place deferred for [0-9]+s \(rate limit\)' cat err
	[ "$(grep -c 'restarting in place' err)" -eq 4 ] || atf_fail "not 4 restarts: $(oneline err)"
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
	start_on_loopback -W 2s || atf_fail "cannot start dpinger"
	freeze_thread send 60
	wait_for 10 file_has err 'watchdog: send stalled for [0-9]*s, rebuilding sockets' || atf_fail "no watchdog action"
	kill -TERM "$DP_PID"
	daemon_exit_status 10 || atf_fail "still running 10s after SIGTERM: $(oneline err)"
	[ "$DP_RC" -eq 0 ] || atf_fail "exit status $DP_RC: $(oneline err)"
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
	cp "$(dpinger_bin)" "$PWD/dpinger"
	netns_mon || atf_fail "cannot make the namespace"
	daemon_start bin="$PWD/dpinger" wait=s.sock -r 0 -s 100 -l 300 -t 3s -W 2s -p "$PWD/dp.pid" -u "$PWD/s.sock" \
	    127.0.0.1 || atf_fail "cannot start dpinger"
	rm "$PWD/dpinger"
	freeze_thread status 60
	"$(tool sockquery)" -t 30000 s.sock > /dev/null 2>&1 &
	pid_record $!
	daemon_exit_status 30 || atf_fail "still running 30s after the status thread froze: $(oneline err)"
	[ "$DP_RC" -eq 1 ] || atf_fail "exit status $DP_RC, not 1: $(oneline err)"
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
	start_on_loopback -W 0 || atf_fail "cannot start dpinger"
	freeze_thread status 8
	# No answer for 4s (more than the stall limits the other tests use)
	holds 4 status_silent 1500 s.sock || atf_fail "the frozen status thread answered"
	# Released, not gone: nothing restarted the process while it was frozen
	wait_for 15 file_has frz.status '^released' || atf_fail "not released: $(oneline frz.status)"
	wait_for 5 status_lossless s.sock || atf_fail "not answering after release"
	atf_check -s exit:1 -o empty grep watchdog err
	[ "$(grep -c '^send_interval' err)" -eq 1 ] || atf_fail "restarted: $(oneline err)"
	check_daemon dp.pid
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
