#!/usr/bin/env atf-sh
#
# The drop-in contract: dpinger 3.3's observable behaviour (report line,
# status socket, alert command, pid file, daemonizing, signals, argument
# errors) against a kernel peer in a second network namespace, and the
# 3.3 defects this fork must not have.
#

. "$(atf_get_srcdir)/lib/netns.subr"

# field N LINE: the Nth space-separated field
field()
{
	echo "$2" | awk -v n="$1" '{ print $n }'
}

atf_test_case report_lines cleanup
report_lines_head()
{
	atf_set descr "Report lines go to stdout every report interval as 'avg stddev loss', the first one interval after start"
	atf_set require.user root
	atf_set timeout 60
}
report_lines_body()
{
	netns_init
	netns_pair || atf_fail "cannot build the test network"
	t0=$(ms_now)
	daemon_start -s 100 -r 500 -t 5s -B 10.0.0.1 10.0.0.2 || atf_fail "cannot start dpinger"
	# The first line comes one report interval after the start, not at once
	wait_for 15 lines_at_least out 1 || atf_fail "no report line in 15s: $(oneline err)"
	first=$(($(ms_now) - t0))
	echo "first report line after ${first}ms"
	[ "$first" -ge 450 ] || atf_fail "the first report line came ${first}ms after the start, not one interval (500ms)"
	wait_for 15 lines_at_least out 5 || atf_fail "fewer than 5 report lines in 15s"
	atf_check -s exit:1 -o empty grep -Ev '^[0-9]+ [0-9]+ [0-9]+$' out
	last=$(tail -n 1 out)
	[ "$(field 1 "$last")" -gt 0 ] || atf_fail "no latency in '$last'"
	[ "$(field 3 "$last")" -eq 0 ] || atf_fail "loss in '$last'"
	atf_check -s exit:0 -o ignore grep -F 'send_interval 100ms  loss_interval 400ms  time_period 5000ms  report_interval 500ms  data_len 0' err
	atf_check -s exit:0 -o ignore grep -F 'dest_addr 10.0.0.2  bind_addr 10.0.0.1  identifier ""' err
}
report_lines_cleanup()
{
	netns_cleanup
}

atf_test_case report_identifier_output_file cleanup
report_identifier_output_file_head()
{
	atf_set descr "With -i and -o every report line goes to the file, prefixed by the identifier and one space"
	atf_set require.user root
	atf_set timeout 60
}
report_identifier_output_file_body()
{
	netns_init
	netns_pair || atf_fail "cannot build the test network"
	daemon_start -s 100 -r 300 -t 5s -i GW_one -o "$PWD/report.txt" 10.0.0.2 || atf_fail "cannot start dpinger"
	wait_for 15 lines_at_least report.txt 4 || atf_fail "fewer than 4 lines in the report file"
	atf_check -s exit:1 -o empty grep -Ev '^GW_one [0-9]+ [0-9]+ [0-9]+$' report.txt
	atf_check -s exit:0 -o empty cat out
	atf_check -s exit:0 -o match:'^-rw-r--r--' ls -l report.txt
}
report_identifier_output_file_cleanup()
{
	netns_cleanup
}

atf_test_case rewind_keeps_one_line cleanup
rewind_keeps_one_line_head()
{
	atf_set descr "With -R the output file holds exactly the latest report line"
	atf_set require.user root
	atf_set timeout 60
}
rewind_keeps_one_line_body()
{
	netns_init
	netns_pair || atf_fail "cannot build the test network"
	daemon_start -R -s 100 -r 200 -t 5s -i GW -o "$PWD/report.txt" 10.0.0.2 || atf_fail "cannot start dpinger"
	wait_for 10 test -s report.txt || atf_fail "no report in the file: $(oneline err)"
	# Look at the file as the reports replace each other: five looks and
	# at least three different lines, each time exactly one line
	seen=0
	looks=0
	last=
	while [ "$seen" -lt 3 ] || [ "$looks" -lt 5 ]; do
		[ "$looks" -lt 100 ] || atf_fail "the report line did not change: $(oneline report.txt)"
		cp report.txt look
		[ "$(wc -l < look)" -eq 1 ] || atf_fail "not one line: $(oneline look)"
		grep -Eq '^GW [0-9]+ [0-9]+ [0-9]+$' look || atf_fail "not a report line: $(oneline look)"
		if [ "$(cat look)" != "$last" ]; then
			seen=$((seen + 1))
			last=$(cat look)
		fi
		looks=$((looks + 1))
		sleep 0.15
	done
}
rewind_keeps_one_line_cleanup()
{
	netns_cleanup
}

atf_test_case status_socket_line cleanup
status_socket_line_head()
{
	atf_set descr "Each status socket connection gets one line 'avg stddev loss', with -i prefixed by the identifier"
	atf_set require.user root
	atf_set timeout 60
}
status_socket_line_body()
{
	netns_init
	netns_pair || atf_fail "cannot build the test network"
	daemon_start -r 0 -s 100 -t 5s -u "$PWD/plain.sock" 10.0.0.2 || atf_fail "cannot start dpinger"
	daemon_start log=ident -r 0 -s 100 -t 5s -i WAN_DHCP -u "$PWD/ident.sock" 10.0.0.2 || atf_fail "cannot start the second dpinger"
	wait_for 10 status_lossless plain.sock || atf_fail "no lossless status line on plain.sock"
	wait_for 10 status_lossless ident.sock || atf_fail "no lossless status line on ident.sock"
	atf_check -s exit:0 -o match:'^[0-9]+ [0-9]+ 0$' "$(tool sockquery)" plain.sock
	atf_check -s exit:0 -o match:'^WAN_DHCP [0-9]+ [0-9]+ 0$' "$(tool sockquery)" ident.sock
	atf_check -s exit:0 -o match:'^srw-rw-rw-' ls -l plain.sock
	atf_check -s exit:0 -o empty cat out
}
status_socket_line_cleanup()
{
	netns_cleanup
}

atf_test_case alert_command_loss cleanup
alert_command_loss_head()
{
	atf_set descr "A loss alarm runs -C with '[id ]dest 1 avg stddev loss' and, after the hold, its clear with flag 0"
	atf_set require.user root
	atf_set timeout 90
}
alert_command_loss_body()
{
	netns_init
	netns_pair || atf_fail "cannot build the test network"
	cat > alert.sh <<EOS
#!/bin/sh
echo "\$# \$*" >> "$PWD/alerts.txt"
EOS
	chmod +x alert.sh
	daemon_start -r 0 -s 100 -l 300 -t 2s -A 200 -L 20 -H 1s -i GW -C "$PWD/alert.sh" -u "$PWD/s.sock" 10.0.0.2 ||
	    atf_fail "cannot start dpinger"
	wait_for 10 status_lossless s.sock || atf_fail "never lossless"
	[ ! -s alerts.txt ] || atf_fail "alert before any loss: $(cat alerts.txt)"

	ip netns exec "$NS_PEER" sysctl -qw net.ipv4.icmp_echo_ignore_all=1
	wait_for 15 file_has alerts.txt '^6 GW 10.0.0.2 1 ' || atf_fail "no alarm: $(cat alerts.txt 2>/dev/null)"
	line=$(grep '^6 GW 10.0.0.2 1 ' alerts.txt | head -n 1)
	[ "$(field 7 "$line")" -gt 20 ] || atf_fail "alarm with loss not above 20: $line"
	atf_check -s exit:0 -o match:'GW 10.0.0.2: Alarm latency [0-9]+us stddev [0-9]+us loss [0-9]+%' cat err

	ip netns exec "$NS_PEER" sysctl -qw net.ipv4.icmp_echo_ignore_all=0
	wait_for 20 file_has alerts.txt '^6 GW 10.0.0.2 0 ' || atf_fail "no clear: $(cat alerts.txt)"
	atf_check -s exit:0 -o match:'GW 10.0.0.2: Clear latency' cat err
	[ "$(grep -c ' 1 ' alerts.txt)" -eq 1 ] || atf_fail "more than one alarm: $(cat alerts.txt)"
	head -n 1 alerts.txt | grep -q '^6 GW 10.0.0.2 1 ' || atf_fail "the first alert is not the loss alarm: $(oneline alerts.txt)"
}
alert_command_loss_cleanup()
{
	netns_cleanup
}

atf_test_case daemon_pidfile cleanup
daemon_pidfile_head()
{
	atf_set descr "Without -f the parent exits 0 once the daemon runs; the pid file already names the daemon, a new session leader"
	atf_set require.user root
	atf_set timeout 60
}
daemon_pidfile_body()
{
	netns_init
	netns_pair || atf_fail "cannot build the test network"
	atf_check -s exit:0 -o empty -e match:'^send_interval 100ms' ip netns exec "$NS_MON" "$(dpinger_bin)" \
	    -r 0 -s 100 -t 5s -p "$PWD/dp.pid" -u "$PWD/dp.sock" 10.0.0.2
	# Read at once: 3.3 could leave it empty here
	pid=$(cat dp.pid)
	pid_record "$pid"
	atf_check -s exit:0 -o match:'^[0-9]+$' echo "$pid"
	atf_check -s exit:0 kill -0 "$pid"
	atf_check -s exit:0 -o inline:"dpinger\n" cat "/proc/$pid/comm"
	atf_check -s exit:0 -o match:"^ *$pid\$" ps -o sid= -p "$pid"
	wait_for 10 status_lossless dp.sock || atf_fail "the daemon does not answer"
}
daemon_pidfile_cleanup()
{
	netns_cleanup
}

atf_test_case pidfile_in_use cleanup
pidfile_in_use_head()
{
	atf_set descr "A second instance with the same pid file refuses to start and leaves the first one's files alone"
	atf_set require.user root
	atf_set timeout 60
}
pidfile_in_use_body()
{
	netns_init
	netns_pair || atf_fail "cannot build the test network"
	daemon_start wait=dp.sock -r 0 -s 100 -t 5s -p "$PWD/dp.pid" -u "$PWD/dp.sock" 10.0.0.2 ||
	    atf_fail "the first instance does not answer: $(oneline err)"
	pid=$(cat dp.pid)
	atf_check -s exit:1 -e match:"pid file .*dp.pid is in use by (process $pid|another process)" \
	    ip netns exec "$NS_MON" "$(dpinger_bin)" -f -r 0 -p "$PWD/dp.pid" -u "$PWD/other.sock" 10.0.0.2
	atf_check -s exit:0 -o inline:"$pid\n" cat dp.pid
	[ ! -e other.sock ] || atf_fail "the refused instance left its socket"
	atf_check -s exit:0 kill -0 "$pid"

	# A pid file locked by someone else
	flock -x locked.pid sleep 30 &
	pid_record $!
	wait_for 5 file_locked locked.pid || atf_fail "flock did not lock the file"
	atf_check -s exit:1 -e match:"pid file .*locked.pid is in use by another process" \
	    ip netns exec "$NS_MON" "$(dpinger_bin)" -f -r 0 -p "$PWD/locked.pid" -u "$PWD/other.sock" 10.0.0.2
	[ ! -e other.sock ] || atf_fail "the refused instance left its socket"
}
pidfile_in_use_cleanup()
{
	netns_cleanup
}

atf_test_case pidfile_stale_reused cleanup
pidfile_stale_reused_head()
{
	atf_set descr "A pid file naming a dead process is reused and rewritten with the new pid"
	atf_set require.user root
	atf_set timeout 60
}
pidfile_stale_reused_body()
{
	netns_init
	netns_pair || atf_fail "cannot build the test network"
	sh -c 'exit 0' &
	dead=$!
	wait $dead
	echo "$dead" > dp.pid
	daemon_start wait=dp.sock -r 0 -s 100 -t 5s -p "$PWD/dp.pid" -u "$PWD/dp.sock" 10.0.0.2 ||
	    atf_fail "does not answer: $(oneline err)"
	atf_check -s exit:0 -o inline:"$DP_PID\n" cat dp.pid
	# An empty pid file (a crash while starting) is stale too
	: > empty.pid
	daemon_start log=empty -r 0 -s 100 -t 5s -p "$PWD/empty.pid" -u "$PWD/e.sock" 10.0.0.2 || atf_fail "cannot start dpinger"
	wait_for 10 status_lossless e.sock || atf_fail "the empty pid file was not reused: $(oneline empty.err)"
	atf_check -s exit:0 -o inline:"$DP_PID\n" cat empty.pid
}
pidfile_stale_reused_cleanup()
{
	netns_cleanup
}

# Shared body: the signal removes the socket and pid file, exit status 0
signal_exit()
{
	netns_init
	netns_pair || atf_fail "cannot build the test network"
	daemon_start wait=dp.sock -r 0 -s 100 -t 5s -p "$PWD/dp.pid" -u "$PWD/dp.sock" 10.0.0.2 || atf_fail "does not answer"
	kill "-$1" "$DP_PID"
	daemon_exit_status 10 || atf_fail "still running 10s after SIG$1"
	[ "$DP_RC" -eq 0 ] || atf_fail "exit status $DP_RC after SIG$1"
	[ ! -e dp.sock ] || atf_fail "socket left behind"
	[ ! -e dp.pid ] || atf_fail "pid file left behind"
	atf_check -s exit:0 -o ignore grep -x "exiting on signal $2" err
}

atf_test_case sigterm_cleans_up cleanup
sigterm_cleans_up_head()
{
	atf_set descr "SIGTERM: socket and pid file removed, 'exiting on signal 15', exit status 0"
	atf_set require.user root
	atf_set timeout 60
}
sigterm_cleans_up_body()
{
	signal_exit TERM 15
}
sigterm_cleans_up_cleanup()
{
	netns_cleanup
}

atf_test_case sigint_cleans_up cleanup
sigint_cleans_up_head()
{
	atf_set descr "SIGINT: socket and pid file removed, 'exiting on signal 2', exit status 0"
	atf_set require.user root
	atf_set timeout 60
}
sigint_cleans_up_body()
{
	signal_exit INT 2
}
sigint_cleans_up_cleanup()
{
	netns_cleanup
}

atf_test_case bad_arguments cleanup
bad_arguments_head()
{
	atf_set descr "Every fatal argument or start-up error exits 1 with a one-line reason and leaves no pid file or socket"
	atf_set require.user root
	atf_set timeout 120
}
bad_arguments_body()
{
	netns_init
	netns_pair || atf_fail "cannot build the test network"
	long_id=$(printf '%063d' 0)
	long_path="$PWD/$(printf '%0120d' 0).sock"
	# reason-pattern | arguments
	cat > cases <<EOF2
send interval|-s 0 10.0.0.2
send interval|-s 1.5s 10.0.0.2
send interval|-s -5 10.0.0.2
loss interval|-l 0 10.0.0.2
time period|-t 0 10.0.0.2
time period|-s 500 -t 1000 10.0.0.2
time period|-s 500 -l 1000 -t 2000 10.0.0.2
must not exceed 65535|-s 1 -t 65536 10.0.0.2
report interval|-r x 10.0.0.2
alert interval|-A 0 10.0.0.2
latency alarm|-D 10x 10.0.0.2
loss alarm|-L 101 10.0.0.2
alarm hold|-H 1.5 10.0.0.2
data length|-d 70000 10.0.0.2
data length|-d 65528 fd00::2
data length|-d 12q 10.0.0.2
identifier|-i $long_id 10.0.0.2
socket path|-u $long_path 10.0.0.2
destination address|example.com
destination address|fe80::1%nosuchif9
bind address|-B fd00::1 10.0.0.2
bind address|-B not.an.address 10.0.0.2
send error count|-E many 10.0.0.2
watchdog|-W 5x 10.0.0.2
bind fd00::99|-B fd00::99 fd00::2
output file|-o $PWD/no/such/dir/out 10.0.0.2
bind .*no/such/dir|-u $PWD/no/such/dir/s.sock 10.0.0.2
EOF2
	while IFS='|' read -r reason args; do
		# shellcheck disable=SC2086
		ip netns exec "$NS_MON" "$(dpinger_bin)" -f -p "$PWD/bad.pid" -u "$PWD/bad.sock" $args >o 2>e </dev/null
		rc=$?
		[ "$rc" -eq 1 ] || atf_fail "'$args': exit status $rc, not 1"
		[ "$(wc -l < e)" -eq 1 ] || atf_fail "'$args': not one line: $(cat e)"
		grep -Eq "^dpinger: .*($reason)" e || atf_fail "'$args': reason not named: $(cat e)"
		[ ! -s o ] || atf_fail "'$args': wrote to stdout"
		[ ! -e bad.pid ] || atf_fail "'$args': left the pid file"
		[ ! -e bad.sock ] || atf_fail "'$args': left the socket"
	done < cases

	atf_check -s exit:1 -e inline:"dpinger: no activity enabled\n" "$(dpinger_bin)" -f -p "$PWD/bad.pid" -r 0 10.0.0.2
	[ ! -e bad.pid ] || atf_fail "no activity: left the pid file"

	# Usage errors: the reason, then the usage text, exit 1
	atf_check -s exit:1 -e match:'^dpinger: destination address missing' -e match:'Usage:' "$(dpinger_bin)" -f
	atf_check -s exit:1 -e match:'^dpinger: unknown option -q' -e match:'Usage:' "$(dpinger_bin)" -q 10.0.0.2
	atf_check -s exit:1 -e match:'^dpinger: option -s needs a value' "$(dpinger_bin)" -s
	atf_check -s exit:1 -e match:'only one destination' "$(dpinger_bin)" 10.0.0.2 10.0.0.3
	atf_check -s exit:1 -e match:'Usage:' -e match:'-W stall_limit' "$(dpinger_bin)" -h

	# A daemonizing start that fails reports it before the parent exits
	atf_check -s exit:1 -e match:"bind fd00::99" ip netns exec "$NS_MON" "$(dpinger_bin)" -p "$PWD/bad.pid" \
	    -u "$PWD/bad.sock" -B fd00::99 fd00::2
	[ ! -e bad.pid ] && [ ! -e bad.sock ] || atf_fail "files left behind"
	# A regular file at the socket path is never removed
	echo keep > notasocket
	atf_check -s exit:1 -e match:'notasocket: exists and is not a socket' "$(dpinger_bin)" -f -u "$PWD/notasocket" 10.0.0.2
	atf_check -s exit:0 -o inline:"keep\n" cat notasocket
}
bad_arguments_cleanup()
{
	netns_cleanup
}

atf_test_case address_families cleanup
address_families_head()
{
	atf_set descr "IPv4, IPv6 global and IPv6 link-local (%ifname) destinations work, with and without -B"
	atf_set require.user root
	atf_set timeout 90
}
address_families_body()
{
	netns_init
	netns_pair || atf_fail "cannot build the test network"
	n=0
	for args in "10.0.0.2" "-B 10.0.0.1 10.0.0.2" "fd00::2" "-B fd00::1 fd00::2" \
	    "fe80::b%mon0" "-B fe80::a%mon0 fe80::b%mon0"; do
		n=$((n + 1))
		# shellcheck disable=SC2086
		daemon_start log=$n -r 0 -s 100 -t 5s -u "$PWD/s$n.sock" $args || atf_fail "case $n: cannot start dpinger"
	done
	for i in 1 2 3 4 5 6; do
		wait_for 15 status_lossless "s$i.sock" || atf_fail "case $i: no lossless status: $(status_query s$i.sock) $(oneline $i.err)"
	done
}
address_families_cleanup()
{
	netns_cleanup
}

# peer_saw_1028: more than 5 echo requests of 1028 bytes reached the peer
peer_saw_1028()
{
	_count=$(ip netns exec "$NS_PEER" iptables -L INPUT -v -n -x | awk '/length 1028/ { print $1 }')
	[ "${_count:-0}" -gt 5 ]
}

atf_test_case payload_length cleanup
payload_length_head()
{
	atf_set descr "-d sets the echo payload: the peer sees requests of 28 + d bytes, and large payloads (fragmented) are answered"
	atf_set require.user root
	atf_set timeout 60
}
payload_length_body()
{
	netns_init
	netns_pair || atf_fail "cannot build the test network"
	ip netns exec "$NS_PEER" iptables -A INPUT -p icmp --icmp-type echo-request -m length --length 1028 -j ACCEPT ||
	    atf_fail "iptables"
	daemon_start -r 0 -s 100 -t 5s -d 1000 -u "$PWD/s.sock" 10.0.0.2 || atf_fail "cannot start dpinger"
	daemon_start log=big -r 0 -s 100 -t 5s -d 3k -u "$PWD/big.sock" 10.0.0.2 || atf_fail "cannot start dpinger"
	daemon_start log=v6 -r 0 -s 100 -t 5s -d 1 -u "$PWD/v6.sock" fd00::2 || atf_fail "cannot start dpinger"
	wait_for 10 status_lossless s.sock || atf_fail "-d 1000 not answered"
	wait_for 10 status_lossless big.sock || atf_fail "-d 3k not answered"
	wait_for 10 status_lossless v6.sock || atf_fail "-d 1 over IPv6 not answered"
	wait_for 10 peer_saw_1028 ||
	    atf_fail "the peer saw too few requests of 1028 bytes: $(ip netns exec "$NS_PEER" iptables -L INPUT -v -n -x)"
}
payload_length_cleanup()
{
	netns_cleanup
}

atf_test_case hostile_close_without_reading cleanup
hostile_close_without_reading_head()
{
	atf_set descr "1000 status clients that connect and close without reading do not kill the daemon (3.3 dies of SIGPIPE)"
	atf_set require.user root
	atf_set timeout 120
}
hostile_close_without_reading_body()
{
	netns_init
	netns_pair || atf_fail "cannot build the test network"
	daemon_start wait=s.sock -r 0 -s 100 -t 5s -i GW -p "$PWD/dp.pid" -u "$PWD/s.sock" 10.0.0.2 ||
	    atf_fail "does not answer: $(oneline err)"
	pid=$(cat dp.pid)
	atf_check -s exit:0 -o inline:"connected 1000 failed 0\n" "$(tool sockquery)" -m close -n 1000 s.sock
	atf_check -s exit:0 -o match:'^GW [0-9]+ [0-9]+ 0$' "$(tool sockquery)" s.sock
	atf_check -s exit:0 -o inline:"$pid\n" cat dp.pid
	atf_check -s exit:0 kill -0 "$pid"
}
hostile_close_without_reading_cleanup()
{
	netns_cleanup
}

atf_test_case hostile_never_reading cleanup
hostile_never_reading_head()
{
	atf_set descr "50 status clients that connect and never read do not stop a 51st from getting its line at once"
	atf_set require.user root
	atf_set timeout 60
}
hostile_never_reading_body()
{
	netns_init
	netns_pair || atf_fail "cannot build the test network"
	daemon_start wait=s.sock -r 0 -s 100 -t 5s -u "$PWD/s.sock" 10.0.0.2 ||
	    atf_fail "does not answer: $(oneline err)"
	"$(tool sockquery)" -m hold -n 50 -t 20000 s.sock > held 2>&1 &
	pid_record $!
	wait_for 10 file_has held 'held 50' || atf_fail "could not hold 50 clients: $(cat held)"
	atf_check -s exit:0 -o match:'^[0-9]+ [0-9]+ 0$' -e match:'elapsed_ms [0-9]{1,3}$' \
	    "$(tool sockquery)" -T -t 1000 s.sock
}
hostile_never_reading_cleanup()
{
	netns_cleanup
}

atf_test_case close_on_exec cleanup
close_on_exec_head()
{
	atf_set descr "The alert command inherits no socket or other descriptor of the daemon (3.3 leaked them)"
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
	# A silent peer: a loss alarm soon, and with it the alert command
	ip netns exec "$NS_PEER" sysctl -qw net.ipv4.icmp_echo_ignore_all=1
	daemon_start -r 0 -s 100 -t 5s -A 200 -L 10 -C "$PWD/fds.sh" -p "$PWD/dp.pid" -u "$PWD/s.sock" -o "$PWD/rep" 10.0.0.2 ||
	    atf_fail "cannot start dpinger"
	wait_for 10 test -s fds.txt || atf_fail "the alert command did not run"
	cat fds.txt
	atf_check -s exit:1 -o empty grep -E 'socket:|anon_inode|dp.pid|/rep' fds.txt
}
close_on_exec_cleanup()
{
	netns_cleanup
}

atf_test_case thread_names cleanup
thread_names_head()
{
	atf_set descr "The threads are named send, recv, report, alert, status and watchdog"
	atf_set require.user root
	atf_set timeout 60
}
thread_names_body()
{
	netns_init
	netns_pair || atf_fail "cannot build the test network"
	daemon_start wait=s.sock -s 100 -t 5s -L 50 -u "$PWD/s.sock" 10.0.0.2 ||
	    atf_fail "does not answer: $(oneline err)"
	cat /proc/"$DP_PID"/task/*/comm | sort -u > names
	atf_check -s exit:0 -o inline:"alert\ndpinger\nrecv\nreport\nsend\nstatus\nwatchdog\n" cat names
}
thread_names_cleanup()
{
	netns_cleanup
}

atf_init_test_cases()
{
	atf_add_test_case report_lines
	atf_add_test_case report_identifier_output_file
	atf_add_test_case rewind_keeps_one_line
	atf_add_test_case status_socket_line
	atf_add_test_case alert_command_loss
	atf_add_test_case daemon_pidfile
	atf_add_test_case pidfile_in_use
	atf_add_test_case pidfile_stale_reused
	atf_add_test_case sigterm_cleans_up
	atf_add_test_case sigint_cleans_up
	atf_add_test_case bad_arguments
	atf_add_test_case address_families
	atf_add_test_case payload_length
	atf_add_test_case hostile_close_without_reading
	atf_add_test_case hostile_never_reading
	atf_add_test_case close_on_exec
	atf_add_test_case thread_names
}
