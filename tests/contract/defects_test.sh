#!/usr/bin/env atf-sh
#
# Defect reproducers: each case recreates one failure of stock dpinger
# (3.3, and 3.5 where it is still there) against whatever binary the test
# suite variable "dpinger" names.  A case passes when the defect is
# absent, and fails with a reason starting "reproduced:" when it is
# present; any other failure means the case could not tell (inconclusive).
# Only 3.3's options are used, so the same command line runs everywhere.
#

. "$(atf_get_srcdir)/../lib/netns.subr"

# reproduced TEXT: the defect is there (a one-line reason, as atf needs)
reproduced()
{
	atf_fail "reproduced: $(echo "$*" | tr '\n' ' ')"
}

# inconclusive TEXT: the case could not set up the situation it needs
inconclusive()
{
	atf_fail "inconclusive: $(echo "$*" | tr '\n' ' ')"
}

# gone PID: the process has exited (a zombie a slow reaper has not
# collected yet counts as gone)
gone()
{
	! kill -0 "$1" 2>/dev/null ||
	    [ "$(awk '{ sub(/^.*\) /, ""); print $1 }' "/proc/$1/stat" 2>/dev/null)" = Z ]
}

# cpu_ticks PID: user + system clock ticks the process has used
cpu_ticks()
{
	awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null
}

# veth_recreate: destroy mon0 (and with it peer0), make them again with the
# same addresses; the interface gets a new index
veth_recreate()
{
	ip -n "$NS_MON" link del mon0 || return 1
	netns_veth "$NS_MON" mon0 "$NS_PEER" peer0 && netns_addrs
}

atf_test_case sigpipe_status_client cleanup
sigpipe_status_client_head()
{
	atf_set descr "Status clients that connect and close without reading kill the daemon with SIGPIPE, leaving its socket and pid file (3.3, 3.5)"
	atf_set require.user root
	atf_set timeout 60
}
sigpipe_status_client_body()
{
	netns_init
	netns_pair || atf_fail "cannot build the test network"
	# In this shell (not in $(...)), so that wait gives its exit status
	netns_bg "$NS_MON" out err "$(dpinger_bin)" -f -r 0 -s 100 -t 2s -i GW -p "$PWD/dp.pid" -u "$PWD/s.sock" 10.0.0.2 > bg.pid
	pid=$(cat bg.pid)
	wait_for 10 status_lossless s.sock || inconclusive "never answered"
	"$(tool sockquery)" -m close -n 1000 s.sock > clients 2>&1
	if wait_for 2 gone "$pid"; then
		wait "$pid"
		reproduced "the daemon died (exit status $?) after '$(cat clients)'; socket left: $(test -S s.sock && echo yes || echo no)"
	fi
	"$(tool sockquery)" -t 2000 s.sock > line || reproduced "alive but no longer answering"
	atf_check -s exit:0 -o match:'^GW [0-9]+ [0-9]+ [0-9]+$' cat line
}
sigpipe_status_client_cleanup()
{
	netns_cleanup
}

atf_test_case linklocal_recreate_zombie cleanup
linklocal_recreate_zombie_head()
{
	atf_set descr "After the interface of a bound IPv6 link-local address is destroyed and recreated the daemon reports 100% loss for good, while a new instance with the same arguments gets replies (3.3, 3.5)"
	atf_set require.user root
	atf_set timeout 90
}
linklocal_recreate_zombie_body()
{
	netns_init
	netns_pair || atf_fail "cannot build the test network"
	args="-f -r 0 -s 100 -l 300 -t 2s -i GW -B fe80::a%mon0"
	# shellcheck disable=SC2086
	pid=$(netns_bg "$NS_MON" out err "$(dpinger_bin)" $args -u "$PWD/s.sock" fe80::b%mon0)
	wait_for 10 status_lossless s.sock || inconclusive "never healthy"
	veth_recreate || inconclusive "cannot recreate the veth"
	# Until a whole window (-t 2s) and a loss interval have passed, the
	# line still shows replies from before the recreation
	sleep 3
	healed=yes
	wait_for 10 status_lossless s.sock || healed=no
	gone "$pid" && reproduced "the daemon died"
	# The control: a new instance on the recreated interface gets replies
	# shellcheck disable=SC2086
	netns_bg "$NS_MON" out2 err2 "$(dpinger_bin)" $args -u "$PWD/fresh.sock" fe80::b%mon0 >/dev/null
	wait_for 10 status_lossless fresh.sock || inconclusive "a new instance gets no replies either"
	[ "$healed" = yes ] || reproduced "still '$(status_query s.sock)' 10s after the recreation, $(grep -c 'sendto error' err) sendto errors logged; a new instance: '$(status_query fresh.sock)'"
}
linklocal_recreate_zombie_cleanup()
{
	netns_cleanup
}

atf_test_case sighup_rebuild cleanup
sighup_rebuild_head()
{
	atf_set descr "After the interface is recreated an interface script has no way to make the daemon bind again: SIGHUP terminates it, leaving socket and pid file (3.3, 3.5)"
	atf_set require.user root
	atf_set timeout 90
}
sighup_rebuild_body()
{
	netns_init
	netns_pair || atf_fail "cannot build the test network"
	netns_bg "$NS_MON" out err "$(dpinger_bin)" -f -r 0 -s 100 -l 300 -t 2s -i GW -B fe80::a%mon0 \
	    -p "$PWD/dp.pid" -u "$PWD/s.sock" fe80::b%mon0 > bg.pid
	pid=$(cat bg.pid)
	wait_for 10 status_lossless s.sock || inconclusive "never healthy"
	veth_recreate || inconclusive "cannot recreate the veth"
	kill -HUP "$pid"
	if wait_for 2 gone "$pid"; then
		wait "$pid"
		reproduced "SIGHUP ended the daemon (exit status $?); socket left: $(test -S s.sock && echo yes || echo no), pid file left: $(test -e dp.pid && echo yes || echo no)"
	fi
	# A whole window (-t 2s) and a loss interval after the recreation
	sleep 3
	wait_for 10 status_lossless s.sock || reproduced "alive, but still '$(status_query s.sock)' 13s after SIGHUP"
}
sighup_rebuild_cleanup()
{
	netns_cleanup
}

atf_test_case stale_identifier_black_hole cleanup
stale_identifier_black_hole_head()
{
	atf_set descr "When the replies to the daemon's one echo identifier stop coming back (stale state keyed on it) while the path works, it reports 100% loss for good (3.3, 3.5)"
	atf_set require.user root
	atf_set timeout 90
}
stale_identifier_black_hole_body()
{
	netns_init
	netns_pair || atf_fail "cannot build the test network"
	pid=$(netns_bg "$NS_MON" out err "$(dpinger_bin)" -f -r 0 -s 100 -l 300 -t 2s -i GW -B 10.0.0.1 -u "$PWD/s.sock" 10.0.0.2)
	wait_for 10 status_lossless s.sock || inconclusive "never healthy"
	# Drop echo replies carrying the daemon's identifier (the pid's low 16 bits)
	ip netns exec "$NS_MON" iptables -A INPUT -p icmp --icmp-type echo-reply \
	    -m u32 --u32 "0>>22&0x3C@4>>16=$((pid & 65535))" -j DROP || inconclusive "iptables u32"
	# The black hole has taken once the rule drops a reply; a status line
	# counts only once the 2s window holds nothing from before that
	wait_for 10 black_hole_drops_above 0 || inconclusive "the black hole does not take: $(status_query s.sock)"
	taken=$(ms_now)
	ip netns exec "$NS_MON" ping -c 1 -W 2 -I 10.0.0.1 10.0.0.2 >/dev/null 2>&1 || inconclusive "the path itself is down"
	wait_for 25 healthy_after $((taken + 2500)) ||
	    reproduced "still '$(status_query s.sock)' 25s after the replies to identifier $((pid & 65535)) stopped; ping gets through"
}
# healthy_after MS: it is MS (ms_now) or later and the status line is healthy
healthy_after()
{
	[ "$(ms_now)" -ge "$1" ] && status_healthy s.sock
}

# black_hole_drops_above N: the u32 rule has dropped more than N replies
black_hole_drops_above()
{
	_drops=$(ip netns exec "$NS_MON" iptables -L INPUT -v -n -x | awk '/u32/ { print $1 }')
	[ "${_drops:-0}" -gt "$1" ]
}

stale_identifier_black_hole_cleanup()
{
	netns_cleanup
}

# status_thread_of PID: the status thread's id: the thread named "status"
# if the threads are named, else the newest thread (stock 3.3 and 3.5
# start it last: receive, send, [report], [alert], status)
status_thread_of()
{
	for _t in /proc/"$1"/task/*; do
		if [ "$(cat "$_t/comm" 2>/dev/null)" = status ]; then
			basename "$_t"
			return 0
		fi
	done
	ls /proc/"$1"/task | sort -n | tail -n 1
}

atf_test_case hung_status_thread cleanup
hung_status_thread_head()
{
	atf_set descr "A status thread that stops making progress leaves process, socket and listen backlog in place: clients connect and wait forever (3.3, 3.5)"
	atf_set require.user root
	atf_set timeout 90
}
hung_status_thread_body()
{
	netns_init
	netns_pair || atf_fail "cannot build the test network"
	pid=$(netns_bg "$NS_MON" out err "$(dpinger_bin)" -f -r 0 -s 100 -t 2s -i GW -p "$PWD/dp.pid" -u "$PWD/s.sock" 10.0.0.2)
	wait_for 10 status_lossless s.sock || inconclusive "never healthy"
	tid=$(status_thread_of "$pid")
	[ "$tid" != "$pid" ] || inconclusive "no status thread found"
	netns_bg "$NS_MON" frozen frozen.err "$(atf_get_srcdir)/threadstop" -T "$tid" -s 60 >/dev/null
	wait_for 5 file_has frozen '^frozen' || inconclusive "cannot stop thread $tid: $(cat frozen.err)"
	"$(tool sockquery)" -t 15000 s.sock > line 2>line.err ||
	    reproduced "a client waited 15s for its line with thread $tid stopped; the process and the socket are still there"
	atf_check -s exit:0 -o match:'^GW [0-9]+ [0-9]+ [0-9]+$' cat line
}
hung_status_thread_cleanup()
{
	netns_cleanup
}

atf_test_case close_on_exec cleanup
close_on_exec_head()
{
	atf_set descr "The alert command inherits the raw ICMP sockets and the listening status socket: close-on-exec is never set (3.3; fixed in 3.5)"
	atf_set require.user root
	atf_set timeout 60
}
close_on_exec_body()
{
	netns_init
	netns_pair || atf_fail "cannot build the test network"
	cat > fds.sh <<EOS
#!/bin/sh
ls -l /proc/\$\$/fd > "$PWD/fds.txt.tmp" && mv "$PWD/fds.txt.tmp" "$PWD/fds.txt"
EOS
	chmod +x fds.sh
	# A silent peer: a loss alarm at once, and with it the alert command
	ip netns exec "$NS_PEER" sysctl -qw net.ipv4.icmp_echo_ignore_all=1
	netns_bg "$NS_MON" out err "$(dpinger_bin)" -f -r 0 -s 100 -l 300 -t 2s -A 200 -L 10 -C "$PWD/fds.sh" \
	    -p "$PWD/dp.pid" -u "$PWD/s.sock" 10.0.0.2 >/dev/null
	wait_for 15 test -s fds.txt || inconclusive "the alert command did not run: $(cat err)"
	if grep -q 'socket:' fds.txt; then
		reproduced "the alert command holds $(grep -c 'socket:' fds.txt) of the daemon's sockets: $(grep 'socket:' fds.txt | awk '{ printf "%s%s ", $(NF-2), $NF }')"
	fi
}
close_on_exec_cleanup()
{
	netns_cleanup
}

# lowest_free_fd PID: the lowest descriptor number the process has free
lowest_free_fd()
{
	ls "/proc/$1/fd" | sort -n | awk 'BEGIN { n = 0 } $1 == n { n++ } END { print n }'
}

atf_test_case accept_at_descriptor_limit cleanup
accept_at_descriptor_limit_head()
{
	atf_set descr "At the descriptor limit a status client never gets its line and the status thread spins on the failing accept (3.3 writes to fd -1; 3.5 logs each failure)"
	atf_set require.user root
	atf_set timeout 60
}
accept_at_descriptor_limit_body()
{
	netns_init
	netns_pair || atf_fail "cannot build the test network"
	pid=$(netns_bg "$NS_MON" out err "$(dpinger_bin)" -f -r 0 -s 100 -t 2s -i GW -u "$PWD/s.sock" 10.0.0.2)
	wait_for 10 status_lossless s.sock || inconclusive "never healthy"
	limit=$(lowest_free_fd "$pid")
	prlimit --pid "$pid" --nofile="$limit:$limit" || inconclusive "prlimit"
	# A thread already blocked in accept has its descriptor reserved and
	# answers one more client; the limit bites from the next accept on
	"$(tool sockquery)" -t 2000 s.sock >/dev/null 2>&1
	t0=$(cpu_ticks "$pid")
	answered=yes
	"$(tool sockquery)" -t 3000 s.sock > line 2>line.err || answered=no
	t1=$(cpu_ticks "$pid")
	gone "$pid" && reproduced "the daemon died at the descriptor limit"
	ticks=$((t1 - t0))
	hz=$(getconf CLK_TCK)
	if [ "$answered" = no ] || [ "$ticks" -gt "$hz" ]; then
		reproduced "with descriptors 0-$((limit - 1)) in use: line answered: $answered; $ticks CPU ticks (HZ $hz) while the client waited; $(wc -l < err) lines logged"
	fi
	atf_check -s exit:0 -o match:'^GW [0-9]+ [0-9]+ [0-9]+$' cat line
}
accept_at_descriptor_limit_cleanup()
{
	netns_cleanup
}

atf_test_case ratio_65536_hang cleanup
ratio_65536_hang_head()
{
	atf_set descr "A time period of exactly 65536 send intervals is accepted, and the daemon then spins at start-up, never sending (3.3; 3.5 rejects it)"
	atf_set require.user root
	atf_set timeout 60
}
ratio_65536_hang_body()
{
	netns_init
	ns=$(netns_mk lo) || atf_fail "cannot make a namespace"
	pid=$(netns_bg "$ns" out err "$(dpinger_bin)" -f -r 0 -s 1 -t 65536 -u "$PWD/s.sock" 127.0.0.1)
	# Rejected (exit), or running and answering: no defect
	wait_for 3 gone "$pid" && return 0
	if "$(tool sockquery)" -t 2000 s.sock >line 2>&1; then
		return 0
	fi
	t0=$(cpu_ticks "$pid")
	sleep 1
	t1=$(cpu_ticks "$pid")
	reproduced "accepted -s 1 -t 65536, started ($(head -c 40 err)...), but the status socket does not answer and it used $((t1 - t0)) CPU ticks in 1s (HZ $(getconf CLK_TCK))"
}
ratio_65536_hang_cleanup()
{
	netns_cleanup
}

atf_test_case send_error_flood cleanup
send_error_flood_head()
{
	atf_set descr "While sends fail, every send logs 'sendto error' (10 a second with -s 100; twice a second with pfSense's -s 500) for the whole outage (3.3, 3.5)"
	atf_set require.user root
	atf_set timeout 60
}
send_error_flood_body()
{
	netns_init
	ns=$(netns_mk lo) || atf_fail "cannot make a namespace"
	# No route to 192.0.2.1: every sendto fails with ENETUNREACH
	netns_bg "$ns" out err "$(dpinger_bin)" -f -r 0 -s 100 -t 2s -i GW -u "$PWD/s.sock" 192.0.2.1 >/dev/null
	wait_for 5 file_has err 'sendto error' || inconclusive "no send error at all: $(cat err)"
	# Three seconds of failing sends, 30 of them
	sleep 3
	n=$(grep -c 'sendto error' err)
	[ "$n" -le 3 ] || reproduced "$n 'sendto error' lines in about 3s of failing sends ($(grep 'sendto error' err | head -n 1))"
}
send_error_flood_cleanup()
{
	netns_cleanup
}

atf_test_case pidfile_race cleanup
pidfile_race_head()
{
	atf_set descr "When the daemonizing parent exits the pid file can still be empty: the child writes it later (3.3, 3.5); callers that read it at once find no pid"
	atf_set require.user root
	atf_set timeout 90
	atf_set require.progs taskset
}
pidfile_race_body()
{
	netns_init
	netns_pair || atf_fail "cannot build the test network"
	empty=0
	i=0
	while [ $i -lt 20 ] && [ $empty -eq 0 ]; do
		i=$((i + 1))
		rm -f dp.pid
		# One CPU for parent, child and reader makes the race visible
		ip netns exec "$NS_MON" taskset -c 0 "$(atf_get_srcdir)/exitread" "$PWD/dp.pid" \
		    "$(dpinger_bin)" -r 0 -s 100 -t 2s -p "$PWD/dp.pid" -u "$PWD/s.sock" 10.0.0.2 > seen 2>seen.err
		grep -q '^exit 0 ' seen || inconclusive "start $i failed: $(cat seen seen.err)"
		grep -q ' bytes [1-9]' seen || empty=$i
		wait_for 5 test -s dp.pid || inconclusive "start $i: the pid file stays empty"
		pid=$(cat dp.pid)
		echo "$pid" >> created_pids.lst
		kill -TERM "$pid"
		wait_for 5 gone "$pid" || inconclusive "start $i: the daemon does not stop"
	done
	[ $empty -eq 0 ] || reproduced "start $empty of $i: the parent had exited 0 and the pid file was still empty"
}
pidfile_race_cleanup()
{
	netns_cleanup
}

atf_test_case failed_start_leaves_pidfile cleanup
failed_start_leaves_pidfile_head()
{
	atf_set descr "A start that fails after the pid file is made (report file or status socket cannot be made) exits 1 and leaves an empty pid file behind (3.3, 3.5)"
	atf_set require.user root
	atf_set timeout 30
}
failed_start_leaves_pidfile_body()
{
	netns_init
	ns=$(netns_mk lo) || atf_fail "cannot make a namespace"
	left=""
	for args in "-o $PWD/no/such/dir/out" "-u $PWD/no/such/dir/s.sock"; do
		rm -f dp.pid
		# shellcheck disable=SC2086
		ip netns exec "$ns" "$(dpinger_bin)" -f -p "$PWD/dp.pid" $args 127.0.0.1 >/dev/null 2>e
		rc=$?
		[ "$rc" -eq 1 ] || inconclusive "'$args': exit status $rc, not 1"
		[ -e dp.pid ] && left="$left '$args' (exit 1, pid file of $(wc -c < dp.pid) bytes)"
	done
	[ -z "$left" ] || reproduced "left the pid file behind:$left"
}
failed_start_leaves_pidfile_cleanup()
{
	netns_cleanup
}

atf_test_case startup_error_not_logged cleanup
startup_error_not_logged_head()
{
	atf_set descr "With -S a start-up error goes only to stderr, which pfSense sends to /dev/null: the reason is lost (3.3; 3.4 logs it with syslog)"
	atf_set require.user root
	atf_set timeout 30
}
startup_error_not_logged_body()
{
	netns_init
	ns=$(netns_mk lo) || atf_fail "cannot make a namespace"
	cat > privdev.sh <<EOS
#!/bin/sh
mount -t tmpfs -o mode=755 tmpfs /dev || exit 1
mknod -m 666 /dev/null c 1 3 || exit 1
"$(atf_get_srcdir)/logcatch" -t 10000 /dev/log > "$PWD/log" 2>"$PWD/bound" &
n=0
while ! grep -qs bound "$PWD/bound" && [ \$n -lt 50 ]; do sleep 0.1; n=\$((n + 1)); done
"\$@" >/dev/null 2>&1
echo "exit \$?" > "$PWD/rc"
sleep 1
EOS
	ip netns exec "$ns" unshare -m sh privdev.sh "$(dpinger_bin)" -S -f -r 0 -s 0 127.0.0.1 ||
	    inconclusive "cannot run in a private /dev"
	atf_check -s exit:0 -o inline:"exit 1\n" cat rc
	grep -q 'send interval' log ||
	    reproduced "exit 1 and nothing on /dev/log (log: '$(cat log)'); the reason went to stderr only"
}
startup_error_not_logged_cleanup()
{
	netns_cleanup
}

atf_init_test_cases()
{
	atf_add_test_case sigpipe_status_client
	atf_add_test_case accept_at_descriptor_limit
	atf_add_test_case pidfile_race
	atf_add_test_case failed_start_leaves_pidfile
	atf_add_test_case ratio_65536_hang
	atf_add_test_case close_on_exec
	atf_add_test_case startup_error_not_logged
	atf_add_test_case linklocal_recreate_zombie
	atf_add_test_case sighup_rebuild
	atf_add_test_case send_error_flood
	atf_add_test_case stale_identifier_black_hole
	atf_add_test_case hung_status_thread
}
