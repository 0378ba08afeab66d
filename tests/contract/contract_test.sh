#!/usr/bin/env atf-sh
#
# The drop-in contract: what dpinger 3.3 does, observably, checked against
# whatever binary the test suite variable "dpinger" names (make contract
# DPINGER=...).  Every case here passes on stock 3.3 and 3.5; a binary that
# fails one is not a drop-in replacement.  Only 3.3's options are used.
#

. "$(atf_get_srcdir)/../lib/netns.subr"

# start_param_line OUT ARGS...: dpinger -f ARGS in the monitor namespace;
# the first line it logs (the parameter line) goes to OUT, then it is
# stopped.  Non-zero when no parameter line came within 10s.
param_line_of()
{
	_out=$1
	shift
	_pid=$(netns_bg "$NS_MON" "$_out.stdout" "$_out.stderr" "$(dpinger_bin)" -f "$@") || return 1
	if ! wait_for 10 file_has "$_out.stderr" '^send_interval'; then
		kill -TERM "$_pid" 2>/dev/null
		return 1
	fi
	head -n 1 "$_out.stderr" > "$_out"
	kill -TERM "$_pid" 2>/dev/null
	wait "$_pid" 2>/dev/null
	return 0
}

# flat FILE...: the files' contents on one line (atf needs one-line reasons)
flat()
{
	cat "$@" 2>/dev/null | tr '\n' ' '
}

# no_process_in NS: nothing runs in the namespace
no_process_in()
{
	[ -z "$(ip netns pids "$1" 2>/dev/null)" ]
}

# gone PID: the process has exited (a zombie a slow reaper has not
# collected yet counts as gone)
gone()
{
	! kill -0 "$1" 2>/dev/null ||
	    [ "$(awk '{ sub(/^.*\) /, ""); print $1 }' "/proc/$1/stat" 2>/dev/null)" = Z ]
}

atf_test_case usage_errors
usage_errors_head()
{
	atf_set descr "A missing or second destination, an unknown option and -h print usage on stderr and exit 1"
}
usage_errors_body()
{
	atf_check -s exit:1 -o empty -e match:'[Uu]sage' "$(dpinger_bin)"
	atf_check -s exit:1 -o empty -e match:'[Uu]sage' "$(dpinger_bin)" -f -r 1s
	atf_check -s exit:1 -o empty -e match:'[Uu]sage' "$(dpinger_bin)" -f 10.0.0.2 10.0.0.3
	atf_check -s exit:1 -o empty -e match:'[Uu]sage' "$(dpinger_bin)" -f -q 10.0.0.2
	atf_check -s exit:1 -o empty -e match:'[Uu]sage' "$(dpinger_bin)" -h
	atf_check -s exit:1 -o empty -e not-empty "$(dpinger_bin)" -f -s
}

atf_test_case fatal_errors_leave_nothing cleanup
fatal_errors_leave_nothing_head()
{
	atf_set descr "Every invalid value, cross-check and start-up failure exits 1 with a reason on stderr, nothing on stdout, and leaves no pid file, socket or process"
	atf_set require.user root
	atf_set timeout 120
}
fatal_errors_leave_nothing_body()
{
	netns_init
	netns_pair || atf_fail "cannot build the test network"
	long_id=$(printf '%063d' 0)
	long_path="$PWD/$(printf '%0120d' 0).sock"
	# Errors found while the arguments are checked, before any file is
	# made: run with -p and -u, neither may appear
	cat > early <<EOF
-s 0 10.0.0.2
-s 1.5s 10.0.0.2
-s -5 10.0.0.2
-s 10x 10.0.0.2
-l 0 10.0.0.2
-t 0 10.0.0.2
-s 500 -t 1000 10.0.0.2
-s 500 -l 1000 -t 2000 10.0.0.2
-r x 10.0.0.2
-A 0 10.0.0.2
-D 10x 10.0.0.2
-L 101 10.0.0.2
-L 5x 10.0.0.2
-H 1.5 10.0.0.2
-d 65508 10.0.0.2
-d 65528 fd00::2
-d 12q 10.0.0.2
-i $long_id 10.0.0.2
-B fd00::1 10.0.0.2
-B not.an.address 10.0.0.2
-B fd00::99 fd00::2
example.com
10.0.0.256
EOF
	while read -r args; do
		# shellcheck disable=SC2086
		ip netns exec "$NS_MON" "$(dpinger_bin)" -f -p "$PWD/bad.pid" -u "$PWD/bad.sock" $args >o 2>e </dev/null
		rc=$?
		[ "$rc" -eq 1 ] || atf_fail "'$args': exit status $rc, not 1"
		[ -s e ] || atf_fail "'$args': no reason on stderr"
		[ ! -s o ] || atf_fail "'$args': wrote to stdout: $(flat o)"
		[ ! -e bad.pid ] || atf_fail "'$args': left the pid file"
		[ ! -e bad.sock ] || atf_fail "'$args': left the socket"
	done < early
	# Nothing to do
	atf_check -s exit:1 -o empty -e not-empty ip netns exec "$NS_MON" "$(dpinger_bin)" -f -r 0 10.0.0.2

	# Failures while the files are made (3.3 has made the pid file by then
	# and leaves it: see the reproducer failed_start_leaves_pidfile)
	atf_check -s exit:1 -o empty -e not-empty ip netns exec "$NS_MON" "$(dpinger_bin)" -f -r 0 \
	    -o "$PWD/no/such/dir/out" -u "$PWD/bad.sock" 10.0.0.2
	[ ! -e bad.sock ] || atf_fail "a report file that cannot be made left the socket"
	atf_check -s exit:1 -o empty -e not-empty ip netns exec "$NS_MON" "$(dpinger_bin)" -f \
	    -u "$PWD/no/such/dir/s.sock" 10.0.0.2
	atf_check -s exit:1 -o empty -e not-empty ip netns exec "$NS_MON" "$(dpinger_bin)" -f -u "$long_path" 10.0.0.2

	# Without -f a failing start is reported by the process the caller
	# waits for, and no daemon is left behind
	atf_check -s exit:1 -o empty -e not-empty ip netns exec "$NS_MON" "$(dpinger_bin)" \
	    -p "$PWD/bad.pid" -u "$PWD/bad.sock" -B fd00::99 fd00::2
	atf_check -s exit:1 -o empty -e not-empty ip netns exec "$NS_MON" "$(dpinger_bin)" \
	    -p "$PWD/bad.pid" -u "$PWD/bad.sock" -s 0 10.0.0.2
	[ ! -e bad.pid ] && [ ! -e bad.sock ] || atf_fail "a daemonizing start that failed left files"
	no_process_in "$NS_MON" || atf_fail "processes left in the namespace: $(ip netns pids "$NS_MON")"
}
fatal_errors_leave_nothing_cleanup()
{
	netns_cleanup
}

atf_test_case zero_thresholds_are_off cleanup
zero_thresholds_are_off_head()
{
	atf_set descr "-D 0 and -L 0 mean no alarm: with -r 0 and no -u there is nothing to do, exit 1"
	atf_set require.user root
	atf_set timeout 30
}
zero_thresholds_are_off_body()
{
	netns_init
	netns_pair || atf_fail "cannot build the test network"
	for args in "-D 0" "-L 0" "-D 0 -L 0" "-D 0 -L 0 -C /bin/true"; do
		# A binary that starts instead is stopped after 3s (status 124)
		# shellcheck disable=SC2086
		ip netns exec "$NS_MON" timeout 3 "$(dpinger_bin)" -f -r 0 -p "$PWD/z.pid" $args 10.0.0.2 >o 2>e </dev/null
		rc=$?
		[ "$rc" -eq 1 ] || atf_fail "'-r 0 $args': exit status $rc (3.3: 1, no activity enabled); it logged: $(flat e)"
		[ ! -e z.pid ] || atf_fail "'-r 0 $args': left the pid file"
	done
	no_process_in "$NS_MON" || atf_fail "processes left in the namespace"
}
zero_thresholds_are_off_cleanup()
{
	netns_cleanup
}

atf_test_case parameter_line cleanup
parameter_line_head()
{
	atf_set descr "The parameter line logged at start-up, byte for byte: pfSense's command line (identifier with -i's trailing space), the defaults, suffixes, -H 0, IPv6 scope"
	atf_set require.user root
	atf_set timeout 60
}
parameter_line_body()
{
	netns_init
	netns_pair || atf_fail "cannot build the test network"

	# pfSense's start_dpinger() (without -S, so the line is on stderr)
	param_line_of pf -r 0 -i WAN_DHCP -B 10.0.0.1 -p "$PWD/pf.pid" -u "$PWD/pf.sock" -C /bin/true \
	    -d 1 -s 500 -l 2000 -t 60000 -A 1000 -D 500 -L 20 10.0.0.2 || atf_fail "no parameter line (pfSense)"
	atf_check -s exit:0 -o inline:'send_interval 500ms  loss_interval 2000ms  time_period 60000ms  report_interval 0ms  data_len 1  alert_interval 1000ms  latency_alarm 500ms  loss_alarm 20%  alarm_hold 10000ms  dest_addr 10.0.0.2  bind_addr 10.0.0.1  identifier "WAN_DHCP "\n' cat pf

	# Every default
	param_line_of def -u "$PWD/def.sock" 10.0.0.2 || atf_fail "no parameter line (defaults)"
	atf_check -s exit:0 -o inline:'send_interval 500ms  loss_interval 2000ms  time_period 60000ms  report_interval 1000ms  data_len 0  alert_interval 1000ms  latency_alarm 0ms  loss_alarm 0%  alarm_hold 10000ms  dest_addr 10.0.0.2  bind_addr (none)  identifier ""\n' cat def

	# Suffixes (s, m, k, %), and -H 0 meaning the default hold of 10 alert intervals
	param_line_of suf -s 1s -l 3000m -t 10s -r 0 -d 2k -A 500 -H 0 -D 1s -L 50% -u "$PWD/suf.sock" fd00::2 ||
	    atf_fail "no parameter line (suffixes)"
	atf_check -s exit:0 -o inline:'send_interval 1000ms  loss_interval 3000ms  time_period 10000ms  report_interval 0ms  data_len 2048  alert_interval 500ms  latency_alarm 1000ms  loss_alarm 50%  alarm_hold 5000ms  dest_addr fd00::2  bind_addr (none)  identifier ""\n' cat suf

	# IPv6 link-local with scope (OPNsense-style s suffixes), and an empty -i
	param_line_of ll -s 1s -l 4s -t 60s -d 0 -r 0 -i "" -B fe80::a%mon0 -u "$PWD/ll.sock" fe80::b%mon0 ||
	    atf_fail "no parameter line (link-local)"
	atf_check -s exit:0 -o inline:'send_interval 1000ms  loss_interval 4000ms  time_period 60000ms  report_interval 0ms  data_len 0  alert_interval 1000ms  latency_alarm 0ms  loss_alarm 0%  alarm_hold 10000ms  dest_addr fe80::b%mon0  bind_addr fe80::a%mon0  identifier " "\n' cat ll
}
parameter_line_cleanup()
{
	netns_cleanup
}

# first_line_after_ms FILE START_NS: milliseconds from START_NS until FILE
# has a line (polled every 10ms, up to 10s); non-zero on timeout
first_line_after_ms()
{
	_n=0
	while [ ! -s "$1" ]; do
		_n=$((_n + 1))
		[ $_n -le 1000 ] || return 1
		sleep 0.01
	done
	echo $((($(date +%s%N) - $2) / 1000000))
}

atf_test_case report_line cleanup
report_line_head()
{
	atf_set descr "Report lines go to stdout as 'avg stddev loss' every -r, the first one report interval after start"
	atf_set require.user root
	atf_set timeout 60
}
report_line_body()
{
	netns_init
	netns_pair || atf_fail "cannot build the test network"
	t0=$(date +%s%N)
	netns_bg "$NS_MON" out err "$(dpinger_bin)" -f -s 100 -r 1000 -t 2s -B 10.0.0.1 10.0.0.2 >/dev/null
	ms=$(first_line_after_ms out "$t0") || atf_fail "no report line within 10s"
	[ "$ms" -ge 900 ] || atf_fail "the first report came after ${ms}ms, before one report interval (1000ms)"
	wait_for 10 lines_at_least out 4 || atf_fail "fewer than 4 report lines"
	atf_check -s exit:1 -o empty grep -Ev '^[0-9]+ [0-9]+ [0-9]+$' out
	last=$(tail -n 1 out)
	echo "$last" | awk '{ exit !($1 > 0 && $3 == 0) }' || atf_fail "not a lossless line with a latency: '$last'"
}
report_line_cleanup()
{
	netns_cleanup
}

atf_test_case report_file_and_rewind cleanup
report_file_and_rewind_head()
{
	atf_set descr "-o writes the report lines, prefixed by '-i ' identifier and one space, to a file of mode 0644; with -R the file holds exactly the latest line"
	atf_set require.user root
	atf_set timeout 60
}
report_file_and_rewind_body()
{
	netns_init
	netns_pair || atf_fail "cannot build the test network"
	echo stale > report.txt
	netns_bg "$NS_MON" out err "$(dpinger_bin)" -f -s 100 -r 300 -t 2s -i GW_one -o "$PWD/report.txt" 10.0.0.2 >/dev/null
	netns_bg "$NS_MON" out2 err2 "$(dpinger_bin)" -f -R -s 100 -r 200 -t 2s -i GW -o "$PWD/rewound.txt" 10.0.0.2 >/dev/null
	wait_for 10 lines_at_least report.txt 4 || atf_fail "fewer than 4 lines in the report file"
	atf_check -s exit:1 -o empty grep -Ev '^GW_one [0-9]+ [0-9]+ [0-9]+$' report.txt
	atf_check -s exit:0 -o empty cat out
	atf_check -s exit:0 -o match:'^-rw-r--r--' ls -l report.txt
	wait_for 10 test -s rewound.txt || atf_fail "nothing in the -R file"
	for i in 1 2 3 4 5 6; do
		atf_check -s exit:0 -o match:'^GW [0-9]+ [0-9]+ [0-9]+$' cat rewound.txt
		[ "$(wc -l < rewound.txt)" -eq 1 ] || atf_fail "-R file holds $(wc -l < rewound.txt) lines"
		sleep 0.15
	done
}
report_file_and_rewind_cleanup()
{
	netns_cleanup
}

atf_test_case status_socket cleanup
status_socket_head()
{
	atf_set descr "Each status socket connection gets exactly one line 'NAME avg stddev loss' and then EOF; the socket is mode 0666; pfSense's parse of it works"
	atf_set require.user root
	atf_set timeout 60
}
status_socket_body()
{
	netns_init
	netns_pair || atf_fail "cannot build the test network"
	# A stale socket at the path (pfSense leaves one when the process died)
	"$(atf_get_srcdir)/logcatch" plain.sock 2>bound &
	stale=$!
	wait_for 5 file_has bound bound || atf_fail "cannot make a stale socket"
	kill -KILL "$stale"
	wait "$stale" 2>/dev/null
	test -S plain.sock || atf_fail "no stale socket"
	netns_bg "$NS_MON" out err "$(dpinger_bin)" -f -r 0 -s 100 -t 2s -u "$PWD/plain.sock" 10.0.0.2 >/dev/null
	netns_bg "$NS_MON" out2 err2 "$(dpinger_bin)" -f -r 0 -s 100 -t 2s -i WAN_DHCP -u "$PWD/ident.sock" 10.0.0.2 >/dev/null
	wait_for 10 status_lossless plain.sock || atf_fail "no lossless status line on plain.sock"
	wait_for 10 status_lossless ident.sock || atf_fail "no lossless status line on ident.sock"
	atf_check -s exit:0 -o match:'^srw-rw-rw-' ls -l plain.sock
	i=0
	while [ $i -lt 10 ]; do
		"$(tool sockquery)" -t 2000 plain.sock > q1 || atf_fail "query $i on plain.sock unanswered"
		"$(tool sockquery)" -t 2000 ident.sock > q2 || atf_fail "query $i on ident.sock unanswered"
		atf_check -s exit:0 -o match:'^[0-9]+ [0-9]+ 0$' cat q1
		atf_check -s exit:0 -o match:'^WAN_DHCP [0-9]+ [0-9]+ 0$' cat q2
		[ "$(wc -l < q1)" -eq 1 ] && [ "$(wc -l < q2)" -eq 1 ] || atf_fail "more than one line per connection"
		i=$((i + 1))
	done
	# pfSense: explode(' ') into name, avg, stddev, loss; ready once
	# stddev or loss is not "0"
	wait_for 10 sh -c "'$(tool sockquery)' ident.sock | awk '{ exit !(NF == 4 && \$1 == \"WAN_DHCP\" && (\$3 != \"0\" || \$4 != \"0\")) }'" ||
	    atf_fail "pfSense would not see this gateway as ready: $(status_query ident.sock)"
	atf_check -s exit:0 -o empty cat out
	atf_check -s exit:0 -o empty cat out2
}
status_socket_cleanup()
{
	netns_cleanup
}

atf_test_case alert_command cleanup
alert_command_head()
{
	atf_set descr "A loss alarm logs 'ID dest: Alarm ...' and runs -C with 'ID dest 1 avg stddev loss'; after the hold it logs Clear and runs it with flag 0; full loss reads '0 0 100'"
	atf_set require.user root
	atf_set timeout 90
}
alert_command_body()
{
	netns_init
	netns_pair || atf_fail "cannot build the test network"
	cat > alert.sh <<EOS
#!/bin/sh
echo "\$# \$*" >> "$PWD/alerts.txt"
EOS
	chmod +x alert.sh
	netns_bg "$NS_MON" out err "$(dpinger_bin)" -f -r 0 -s 100 -l 300 -t 2s -A 200 -L 20 -H 1s -i GW \
	    -C "$PWD/alert.sh" -u "$PWD/s.sock" 10.0.0.2 >/dev/null
	wait_for 10 status_lossless s.sock || atf_fail "never lossless"
	[ ! -s alerts.txt ] || atf_fail "alert before any loss: $(flat alerts.txt)"

	ip netns exec "$NS_PEER" sysctl -qw net.ipv4.icmp_echo_ignore_all=1
	wait_for 15 file_has alerts.txt '^6 GW 10.0.0.2 1 ' || atf_fail "no alarm: $(flat alerts.txt 2>/dev/null)"
	line=$(grep '^6 GW 10.0.0.2 1 ' alerts.txt | head -n 1)
	echo "$line" | awk '{ exit !($7 > 20 && $7 <= 100) }' || atf_fail "alarm with loss not above 20: $line"
	atf_check -s exit:0 -o match:'^GW 10.0.0.2: Alarm latency [0-9]+us stddev [0-9]+us loss [0-9]+%$' cat err
	wait_for 10 sh -c "'$(tool sockquery)' s.sock | grep -qx 'GW 0 0 100'" ||
	    atf_fail "full loss does not read 'GW 0 0 100': $(status_query s.sock)"

	ip netns exec "$NS_PEER" sysctl -qw net.ipv4.icmp_echo_ignore_all=0
	wait_for 20 file_has alerts.txt '^6 GW 10.0.0.2 0 ' || atf_fail "no clear: $(flat alerts.txt)"
	atf_check -s exit:0 -o match:'^GW 10.0.0.2: Clear latency [0-9]+us stddev [0-9]+us loss [0-9]+%$' cat err
	[ "$(grep -c '^6 GW 10.0.0.2 1 ' alerts.txt)" -eq 1 ] || atf_fail "more than one alarm: $(flat alerts.txt)"
}
alert_command_cleanup()
{
	netns_cleanup
}

atf_test_case pidfile_rules cleanup
pidfile_rules_head()
{
	atf_set descr "A pid file naming a live process or locked by another refuses the start (exit 1, file untouched); one naming a dead process, or empty, is reused"
	atf_set require.user root
	atf_set timeout 60
}
pidfile_rules_body()
{
	netns_init
	netns_pair || atf_fail "cannot build the test network"
	# Stale: a dead process's pid, and an empty file
	sh -c 'exit 0' &
	dead=$!
	wait $dead
	echo "$dead" > dp.pid
	: > empty.pid
	pid=$(netns_bg "$NS_MON" out err "$(dpinger_bin)" -f -r 0 -s 100 -t 2s -p "$PWD/dp.pid" -u "$PWD/dp.sock" 10.0.0.2)
	pid2=$(netns_bg "$NS_MON" out2 err2 "$(dpinger_bin)" -f -r 0 -s 100 -t 2s -p "$PWD/empty.pid" -u "$PWD/e.sock" 10.0.0.2)
	wait_for 10 status_lossless dp.sock || atf_fail "the stale pid file was not reused: $(flat err)"
	wait_for 10 status_lossless e.sock || atf_fail "the empty pid file was not reused: $(flat err2)"
	atf_check -s exit:0 -o inline:"$pid\n" cat dp.pid
	atf_check -s exit:0 -o inline:"$pid2\n" cat empty.pid

	# In use by a live process
	atf_check -s exit:1 -o empty -e not-empty ip netns exec "$NS_MON" "$(dpinger_bin)" -f -r 0 \
	    -p "$PWD/dp.pid" -u "$PWD/other.sock" 10.0.0.2
	atf_check -s exit:0 -o inline:"$pid\n" cat dp.pid
	[ ! -e other.sock ] || atf_fail "the refused instance left its socket"
	atf_check -s exit:0 kill -0 "$pid"

	# Locked by another process
	flock -x locked.pid sleep 30 &
	echo $! >> created_pids.lst
	wait_for 5 test -e locked.pid || atf_fail "flock did not create the file"
	wait_for 5 sh -c "! flock -n -x locked.pid true" || atf_fail "flock does not hold the lock"
	atf_check -s exit:1 -o empty -e not-empty ip netns exec "$NS_MON" "$(dpinger_bin)" -f -r 0 \
	    -p "$PWD/locked.pid" -u "$PWD/other.sock" 10.0.0.2
	[ ! -e other.sock ] || atf_fail "the refused instance left its socket"
}
pidfile_rules_cleanup()
{
	netns_cleanup
}

atf_test_case daemon_and_pfsense_stop cleanup
daemon_and_pfsense_stop_head()
{
	atf_set descr "pfSense's start: the parent exits 0, the pid file names a new session leader called dpinger that answers; pfSense's stop (pkill -TERM -F) ends it within 3s and both files go"
	atf_set require.user root
	atf_set timeout 60
}
daemon_and_pfsense_stop_body()
{
	netns_init
	netns_pair || atf_fail "cannot build the test network"
	atf_check -s exit:0 -o empty -e ignore ip netns exec "$NS_MON" "$(dpinger_bin)" -r 0 -i GW -B 10.0.0.1 \
	    -p "$PWD/dp.pid" -u "$PWD/dp.sock" -C /bin/true -d 1 -s 100 -l 400 -t 2000 -A 1000 -D 500 -L 20 10.0.0.2
	wait_for 5 test -s dp.pid || atf_fail "the pid file stays empty"
	pid=$(cat dp.pid)
	echo "$pid" >> created_pids.lst
	atf_check -s exit:0 -o match:'^[0-9]+$' echo "$pid"
	atf_check -s exit:0 -o inline:"$pid\n" cat dp.pid
	atf_check -s exit:0 -o match:'^-rw-r--r--' ls -l dp.pid
	atf_check -s exit:0 kill -0 "$pid"
	atf_check -s exit:0 -o inline:"dpinger\n" cat "/proc/$pid/comm"
	atf_check -s exit:0 -o match:"^ *$pid\$" ps -o sid= -p "$pid"
	wait_for 10 status_lossless dp.sock || atf_fail "the daemon does not answer"
	atf_check -s exit:0 -o match:'^GW [0-9]+ [0-9]+ 0$' "$(tool sockquery)" dp.sock
	atf_check -s exit:0 pkill -TERM -F dp.pid
	wait_for 3 gone "$pid" || atf_fail "still running 3s after SIGTERM"
	[ ! -e dp.pid ] || atf_fail "pid file left behind"
	[ ! -e dp.sock ] || atf_fail "socket left behind"
}
daemon_and_pfsense_stop_cleanup()
{
	netns_cleanup
}

atf_test_case signals_clean_up cleanup
signals_clean_up_head()
{
	atf_set descr "SIGTERM and SIGINT: socket and pid file removed, 'exiting on signal N' logged, exit status 0"
	atf_set require.user root
	atf_set timeout 60
}
signals_clean_up_body()
{
	netns_init
	netns_pair || atf_fail "cannot build the test network"
	for sig in TERM:15 INT:2; do
		name=${sig%%:*}
		num=${sig##*:}
		ip netns exec "$NS_MON" "$(dpinger_bin)" -f -r 0 -s 100 -t 2s -p "$PWD/$name.pid" -u "$PWD/$name.sock" 10.0.0.2 \
		    >"$name.out" 2>"$name.err" &
		pid=$!
		echo "$pid" >> created_pids.lst
		wait_for 10 status_lossless "$name.sock" || atf_fail "SIG$name: does not answer"
		kill "-$name" "$pid"
		wait "$pid"
		rc=$?
		[ "$rc" -eq 0 ] || atf_fail "exit status $rc after SIG$name"
		[ ! -e "$name.sock" ] || atf_fail "SIG$name: socket left behind"
		[ ! -e "$name.pid" ] || atf_fail "SIG$name: pid file left behind"
		atf_check -s exit:0 -o ignore grep -x "exiting on signal $num" "$name.err"
	done
}
signals_clean_up_cleanup()
{
	netns_cleanup
}

# privdev_run: writes privdev.sh: "privdev.sh LOG CMD..." runs CMD in a
# private /dev (run it under unshare -m) whose /dev/log is a logcatch
# socket printing every datagram to LOG
privdev_script()
{
	cat > privdev.sh <<EOS
#!/bin/sh
log=\$1
shift
mount -t tmpfs -o mode=755 tmpfs /dev || exit 1
mknod -m 666 /dev/null c 1 3 || exit 1
"$(atf_get_srcdir)/logcatch" -t 60000 /dev/log > "\$log" 2>"\$log.bound" &
n=0
while ! grep -qs bound "\$log.bound" && [ \$n -lt 50 ]; do sleep 0.1; n=\$((n + 1)); done
exec "\$@"
EOS
}

atf_test_case syslog_framing cleanup
syslog_framing_head()
{
	atf_set descr "With -S every line goes to /dev/log as syslog(3) frames it: '<12>' (user, warning), an RFC 3164 time stamp, tag 'dpinger:' without pid, the text, a newline; nothing on stderr"
	atf_set require.user root
	atf_set timeout 60
}
syslog_framing_body()
{
	netns_init
	netns_pair || atf_fail "cannot build the test network"
	privdev_script
	pid=$(netns_bg "$NS_MON" out err unshare -m sh "$PWD/privdev.sh" "$PWD/log" \
	    "$(dpinger_bin)" -S -f -r 0 -s 100 -t 2s -i WAN_DHCP -B 10.0.0.1 -u "$PWD/s.sock" 10.0.0.2)
	wait_for 10 status_lossless s.sock || atf_fail "never healthy"
	wait_for 5 file_has log 'send_interval' || atf_fail "no parameter line on /dev/log: $(flat log log.bound)"
	stamp='[A-Z][a-z][a-z] [ 1-3][0-9] [0-2][0-9]:[0-5][0-9]:[0-6][0-9]'
	atf_check -s exit:0 -o match:"^<12>$stamp dpinger: send_interval 100ms  loss_interval 400ms  time_period 2000ms  .*  identifier \"WAN_DHCP \"\\\\n\$" head -n 1 log
	kill -TERM "$pid"
	wait_for 5 file_has log 'exiting on signal' || atf_fail "no exit line on /dev/log: $(flat log)"
	atf_check -s exit:0 -o match:"^<12>$stamp dpinger: exiting on signal 15\\\\n\$" grep 'exiting on signal' log
	atf_check -s exit:0 -o empty cat err
	atf_check -s exit:0 -o empty cat out

	# 3.3 writes start-up errors to stderr only; 3.4 and later also send
	# them to syslog, at LOG_ERR, framed the same way
	ip netns exec "$NS_MON" unshare -m sh "$PWD/privdev.sh" "$PWD/errlog" \
	    "$(dpinger_bin)" -S -f -r 0 -s 0 10.0.0.2 >/dev/null 2>&1
	if wait_for 2 test -s errlog; then
		atf_check -s exit:0 -o match:"^<11>$stamp dpinger: .*send interval.*\\\\n\$" head -n 1 errlog
	fi
}
syslog_framing_cleanup()
{
	netns_cleanup
}

atf_test_case send_error_line cleanup
send_error_line_head()
{
	atf_set descr "A failing send is logged as 'ID dest: sendto error: ERRNO' and counts as a loss"
	atf_set require.user root
	atf_set timeout 30
}
send_error_line_body()
{
	netns_init
	ns=$(netns_mk lo) || atf_fail "cannot make a namespace"
	# No route to 192.0.2.1: sendto fails with ENETUNREACH (101 on Linux)
	netns_bg "$ns" out err "$(dpinger_bin)" -f -r 0 -s 100 -l 300 -t 2s -i GW -u "$PWD/s.sock" 192.0.2.1 >/dev/null
	wait_for 5 file_has err 'sendto error' || atf_fail "no send error logged: $(flat err)"
	atf_check -s exit:0 -o inline:"GW 192.0.2.1: sendto error: 101\n" sh -c "grep 'sendto error' err | head -n 1"
	wait_for 5 status_loss_total s.sock || atf_fail "failed sends are not losses: $(status_query s.sock)"
}
send_error_line_cleanup()
{
	netns_cleanup
}

atf_test_case address_families cleanup
address_families_head()
{
	atf_set descr "IPv4, IPv6 and IPv6 link-local (%ifname) destinations are monitored, with and without -B"
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
		netns_bg "$NS_MON" "out$n" "err$n" "$(dpinger_bin)" -f -r 0 -s 100 -t 2s -u "$PWD/s$n.sock" $args >/dev/null
	done
	for i in 1 2 3 4 5 6; do
		wait_for 15 status_lossless "s$i.sock" || atf_fail "case $i: no lossless status: $(status_query "s$i.sock") $(flat "err$i")"
	done
}
address_families_cleanup()
{
	netns_cleanup
}

# peer_counted RULE_MATCH N: the peer's INPUT rule whose line matches
# RULE_MATCH has counted more than N packets
peer_counted()
{
	_count=$(ip netns exec "$NS_PEER" iptables -L INPUT -v -n -x | awk -v m="$1" 'index($0, m) { print $1; exit }')
	[ "${_count:-0}" -gt "$2" ]
}

atf_test_case echo_requests cleanup
echo_requests_head()
{
	atf_set descr "Echo requests carry the low 16 bits of the pid as identifier and -d bytes of payload (the peer sees 28 + d byte packets)"
	atf_set require.user root
	atf_set timeout 60
}
echo_requests_body()
{
	netns_init
	netns_pair || atf_fail "cannot build the test network"
	# Rules without a target only count
	ip netns exec "$NS_PEER" iptables -A INPUT -p icmp --icmp-type echo-request -m length --length 1028 ||
	    atf_fail "iptables"
	pid=$(netns_bg "$NS_MON" out err "$(dpinger_bin)" -f -r 0 -s 100 -t 2s -d 1000 -u "$PWD/s.sock" 10.0.0.2)
	ip netns exec "$NS_PEER" iptables -A INPUT -p icmp --icmp-type echo-request \
	    -m u32 --u32 "0>>22&0x3C@4>>16=$((pid & 65535))" || atf_fail "iptables u32"
	wait_for 10 status_lossless s.sock || atf_fail "-d 1000 not answered"
	wait_for 10 peer_counted "length 1028" 5 ||
	    atf_fail "the peer saw too few requests of 1028 bytes: $(ip netns exec "$NS_PEER" iptables -L INPUT -v -n -x | tr '\n' ' ')"
	wait_for 10 peer_counted "u32" 5 ||
	    atf_fail "the peer saw too few requests with identifier $((pid & 65535)): $(ip netns exec "$NS_PEER" iptables -L INPUT -v -n -x | tr '\n' ' ')"
}
echo_requests_cleanup()
{
	netns_cleanup
}

atf_init_test_cases()
{
	atf_add_test_case usage_errors
	atf_add_test_case fatal_errors_leave_nothing
	atf_add_test_case zero_thresholds_are_off
	atf_add_test_case parameter_line
	atf_add_test_case report_line
	atf_add_test_case report_file_and_rewind
	atf_add_test_case status_socket
	atf_add_test_case alert_command
	atf_add_test_case pidfile_rules
	atf_add_test_case daemon_and_pfsense_stop
	atf_add_test_case signals_clean_up
	atf_add_test_case syslog_framing
	atf_add_test_case send_error_line
	atf_add_test_case address_families
	atf_add_test_case echo_requests
}
