#!/usr/bin/env atf-sh
#
# patches/pfsense/dpinger-watchdog, the cron safety net, against real dpinger
# processes started the way pfSense starts them (daemon mode, -S, -p and -u
# named dpinger_NAME~SRC~DST) in a monitor namespace with a kernel peer.  The
# script runs inside the monitor namespace, so its pings take the daemon's
# path; a stub stands in for setup_gateways_monitor() and one for logger(1).
# The pfsense_* cases run the script against pfSense's own PHP instead (a
# pfSense tree named by PFSENSE_TREE, see tests/pfsense/world.subr), and
# skip without one.
# Works with stock dpinger 3.3 too (-v dpinger=/path): then the zombie and
# hung instances need none of the fork's switches (-E 0 -N, -W 0) and the
# hung one is stopped with SIGSTOP instead of the thread freezer.
#

. "$(atf_get_srcdir)/lib/netns.subr"
. "$(atf_get_srcdir)/pfsense/world.subr"

# watchdog: the script under test (config variable "watchdog" overrides)
watchdog()
{
	atf_config_get watchdog "$(atf_get_srcdir)/../patches/pfsense/dpinger-watchdog"
}

# is_fork: the binary under test has the fork's switches
is_fork()
{
	"$(dpinger_bin)" -h 2>&1 | grep -q -- '-W stall_limit'
}

# bed [netns]: run directory, logger and restart stubs, and ./wd, which runs
# the watchdog with /bin/sh (in $NS_MON when the bed has namespaces), the
# stubs, the test run directory, no expected list (-g none), a 1s pause
# before the second look (DPW_SETTLE overrides) and no restart-under-way
# window (DPW_YOUNG=0; these instances were all just started).  Later
# options win.
bed()
{
	if [ "${1:-}" = netns ]; then
		netns_init
		netns_pair || return 1
	fi
	mkdir -p run
	cat > logger.sh <<EOF
#!/bin/sh
printf '%s\n' "\$*" >> "$PWD/log.txt"
EOF
	cat > restart.sh <<EOF
#!/bin/sh
echo restart >> "$PWD/restarts.txt"
EOF
	_exec="exec"
	if [ -n "${NS_MON:-}" ]; then
		_exec="exec ip netns exec $NS_MON"
	fi
	# Debian's netcat-traditional has no -U; use the test client then
	_query=
	if ! nc -h 2>&1 | grep -q -- '-U'; then
		_query="DPW_QUERY='$(tool sockquery) -t 30000'"
	fi
	cat > wd <<EOF
#!/bin/sh
$_exec env DPW_LOGGER="$PWD/logger.sh" DPW_SETTLE="\${DPW_SETTLE:-1}" DPW_YOUNG="\${DPW_YOUNG:-0}" $_query /bin/sh "$(watchdog)" \\
    -d "$PWD/run" -r "$PWD/restart.sh" -g none "\$@"
EOF
	chmod +x logger.sh restart.sh wd
}

# start_gw NAME SRC DST [DPINGER ARGS...]: a dpinger as pfSense starts it,
# with fast windows; $DP_ENV is put in its environment; prints its pid
start_gw()
{
	_name=$1
	_dst=$3
	_prefix="$PWD/run/dpinger_$1~$2~$3"
	_src=$2
	shift 3
	ip netns exec "$NS_MON" env ${DP_ENV:-} "$(dpinger_bin)" -S -r 0 -i "$_name" -B "$_src" \
	    -p "$_prefix.pid" -u "$_prefix.sock" -s 100 -l 300 -t 2s "$@" "$_dst" \
	    >/dev/null 2>&1 </dev/null || return 1
	wait_for 5 test -s "$_prefix.pid" || return 1
	_pid=$(cat "$_prefix.pid")
	pid_record "$_pid"
	echo "$_pid"
}

# sock NAME SRC DST: the status socket path of that instance
sock()
{
	echo "$PWD/run/dpinger_$1~$2~$3.sock"
}

# restarts_are N: the restart stub ran exactly N times
restarts_are()
{
	_got=0
	[ -f restarts.txt ] && _got=$(wc -l < restarts.txt)
	[ "$_got" -eq "$1" ]
}

# dead_pid: the pid of a process that has exited
dead_pid()
{
	sh -c 'echo $$'
}

# ms_since NANOSECONDS: milliseconds since that date +%s%N
ms_since()
{
	echo $((($(date +%s%N) - $1) / 1000000))
}

atf_test_case healthy_gateways_pass_silently cleanup
healthy_gateways_pass_silently_head()
{
	atf_set descr "Three healthy gateways (IPv4, IPv6, IPv6 link-local with scope) pass: exit 0, no output, no log, no restart, in under a second"
	atf_set require.user root
	atf_set timeout 60
}
healthy_gateways_pass_silently_body()
{
	bed netns || atf_fail "cannot build the test bed"
	start_gw GW_V4 10.0.0.1 10.0.0.2 >/dev/null || atf_fail "cannot start GW_V4"
	start_gw GW_V6 fd00::1 fd00::2 >/dev/null || atf_fail "cannot start GW_V6"
	start_gw GW_LL 'fe80::a%mon0' 'fe80::b%mon0' >/dev/null || atf_fail "cannot start GW_LL"
	wait_for 10 status_lossless "$(sock GW_V4 10.0.0.1 10.0.0.2)" || atf_fail "GW_V4 never lossless"
	wait_for 10 status_lossless "$(sock GW_V6 fd00::1 fd00::2)" || atf_fail "GW_V6 never lossless"
	wait_for 10 status_lossless "$(sock GW_LL 'fe80::a%mon0' 'fe80::b%mon0')" || atf_fail "GW_LL never lossless"
	printf '%s\n' "GW_V4 10.0.0.1 10.0.0.2" "GW_V6 fd00::1 fd00::2" \
	    "GW_LL fe80::a%mon0 fe80::b%mon0" > expected.txt

	for i in 1 2 3; do
		t0=$(date +%s%N)
		./wd -g "cat $PWD/expected.txt" > out 2> err
		rc=$?
		ms=$(ms_since "$t0")
		echo "healthy run $i: exit $rc in ${ms} ms" >&2
		[ "$rc" -eq 0 ] || atf_fail "exit $rc: $(cat err)"
		# Far below the 15 s a second look would take (a loaded machine
		# stretches a quick run, so the bound is generous)
		[ "$ms" -lt 5000 ] || atf_fail "a healthy run took ${ms} ms: it must not wait for a second look"
		atf_check -s exit:0 -o empty cat out err
	done
	[ ! -e log.txt ] || atf_fail "logged: $(cat log.txt)"
	restarts_are 0 || atf_fail "restarted"
	[ ! -e run/dpinger-watchdog.lock ] || atf_fail "the lock was left behind"
}
healthy_gateways_pass_silently_cleanup()
{
	netns_cleanup
}

atf_test_case missing_killed_process cleanup
missing_killed_process_head()
{
	atf_set descr "A killed instance (pid file and socket left behind) is flagged missing by name and monitoring is restarted once"
	atf_set require.user root
	atf_set timeout 60
}
missing_killed_process_body()
{
	bed netns || atf_fail "cannot build the test bed"
	start_gw GW_A 10.0.0.1 10.0.0.2 >/dev/null || atf_fail "cannot start GW_A"
	pid=$(start_gw GW_B fd00::1 fd00::2) || atf_fail "cannot start GW_B"
	wait_for 10 status_lossless "$(sock GW_A 10.0.0.1 10.0.0.2)" || atf_fail "GW_A never lossless"
	wait_for 10 status_lossless "$(sock GW_B fd00::1 fd00::2)" || atf_fail "GW_B never lossless"
	kill -KILL "$pid"
	wait_for 10 proc_gone "$pid" || atf_fail "GW_B does not die"
	atf_check -s exit:0 test -S "$(sock GW_B fd00::1 fd00::2)"

	atf_check -s exit:1 -o empty -e empty ./wd
	atf_check -s exit:0 -o match:"GW_B: missing: process $pid of .*dpinger_GW_B~fd00::1~fd00::2.pid (is not running|has exited)" cat log.txt
	atf_check -s exit:1 -o empty grep GW_A log.txt
	atf_check -s exit:0 -o match:'restarted gateway monitoring \(1 finding' cat log.txt
	restarts_are 1 || atf_fail "restart stub not called exactly once"
}
missing_killed_process_cleanup()
{
	netns_cleanup
}

# stale_socket PATH: a socket file nobody listens on (nc -lU killed before
# it can unlink it)
stale_socket()
{
	nc -h 2>&1 | grep -q -- '-U' || atf_skip "unsupported: this nc has no -U to make a socket file"
	nc -lU "$1" </dev/null >/dev/null 2>&1 &
	_ss=$!
	wait_for 5 test -S "$1" || atf_fail "nc made no socket $1"
	kill -KILL "$_ss"
	wait "$_ss" 2>/dev/null
	test -S "$1" || atf_fail "the socket $1 went with nc"
}

# unreaped_child: a live process whose parent never reaps it (the parent
# is sleep); sets $parent and $child, both recorded for clean-up.  The child
# exits once the file "go" exists.  It is started under its parent before
# the parent becomes sleep, and exits only afterwards (a shell may reap a
# child that exits before its exec).
unreaped_child()
{
	sh -c 'sh -c "while [ ! -e go ]; do sleep 0.05; done" & echo $! > child.pid; exec sleep 600' &
	parent=$!
	pid_record "$parent"
	wait_for 5 test -s child.pid || atf_fail "no child"
	child=$(cat child.pid)
	pid_record "$child"
	wait_for 5 sh -c "[ \"\$(ps -o comm= -p $parent)\" = sleep ]" || atf_fail "the parent never became sleep"
}

# is_zombie PID
is_zombie()
{
	ps -o stat= -p "$1" 2>/dev/null | grep -q '^ *Z'
}

# zombie_bed: the test bed, GW_Z's pid file naming an unreaped child (see
# unreaped_child) and its socket a file nobody listens on
zombie_bed()
{
	bed || atf_fail "cannot build the test bed"
	unreaped_child
	echo "$child" > "$PWD/run/dpinger_GW_Z~192.0.2.10~192.0.2.1.pid"
	stale_socket "$PWD/run/dpinger_GW_Z~192.0.2.10~192.0.2.1.sock"
}

# second_ask_query FILE COMMANDS: a query command that records each ask in
# asked.txt and gives no line; on the second ask (that of the look whose
# finding is logged) it first runs the shell COMMANDS
second_ask_query()
{
	{
		echo '#!/bin/sh'
		echo "echo asked >> \"$PWD/asked.txt\""
		echo "[ \$(wc -l < \"$PWD/asked.txt\") -ge 2 ] || exit 1"
		printf '%s\n' "$2"
		echo 'exit 1'
	} > "$1"
	chmod +x "$1"
}

# found_exited PID: the run asked GW_Z's socket on both looks, logged no
# hung finding but GW_Z missing because PID has exited, and restarted once
found_exited()
{
	atf_check -s exit:0 -o inline:"2\n" sh -c 'wc -l < asked.txt'
	atf_check -s exit:1 -o empty grep hung log.txt
	atf_check -s exit:0 -o match:"GW_Z: missing: process $1 of .*dpinger_GW_Z~192.0.2.10~192.0.2.1.pid has exited" cat log.txt
	restarts_are 1 || atf_fail "restart stub not called exactly once"
}

atf_test_case missing_reaped_during_query cleanup
missing_reaped_during_query_head()
{
	atf_set descr "An instance that exits while its socket is asked and is reaped at once is missing (it has exited), not hung"
	atf_set timeout 30
}
missing_reaped_during_query_body()
{
	zombie_bed
	second_ask_query reapquery.sh "touch '$PWD/go'; kill -KILL $parent
i=0; while kill -0 $child 2>/dev/null && [ \$i -lt 50 ]; do sleep 0.1; i=\$((i + 1)); done"
	atf_check -s exit:1 -o empty -e empty ./wd -q "$PWD/reapquery.sh"
	found_exited "$child"
}
missing_reaped_during_query_cleanup()
{
	netns_cleanup
}

atf_test_case missing_reaped_while_judged cleanup
missing_reaped_while_judged_head()
{
	atf_set descr "An instance that exits while its socket is asked and is reaped just as the watchdog looks at the process again is missing (it has exited), not hung (the CI failure of missing_killed_process: a zombie reaped between two looks at it)"
	atf_set timeout 30
}
missing_reaped_while_judged_body()
{
	realps=$(command -v ps) || atf_skip "unsupported: no ps"
	zombie_bed
	# During the second look's query the instance exits and stays a zombie
	second_ask_query zombiequery.sh "touch '$PWD/go'
i=0; while ! '$realps' -o stat= -p $child 2>/dev/null | grep -q '^ *Z' && [ \$i -lt 50 ]; do sleep 0.1; i=\$((i + 1)); done"
	# ... and the first time the watchdog runs ps after that query, the
	# zombie is reaped just before ps reads the process table: the worst
	# moment for a script that looks at the process twice
	mkdir bin
	cat > bin/ps <<EOF
#!/bin/sh
if [ -s "$PWD/asked.txt" ] && [ \$(wc -l < "$PWD/asked.txt") -ge 2 ] && [ ! -e "$PWD/reaped" ]; then
	touch "$PWD/reaped"
	kill -KILL $parent
	i=0
	while kill -0 $child 2>/dev/null && [ \$i -lt 50 ]; do sleep 0.1; i=\$((i + 1)); done
fi
exec "$realps" "\$@"
EOF
	chmod +x bin/ps
	atf_check -s exit:1 -o empty -e empty env DPW_PS="$PWD/bin/ps" ./wd -q "$PWD/zombiequery.sh"
	[ -e reaped ] || atf_fail "the watchdog ran no ps after the second query"
	found_exited "$child"
}
missing_reaped_while_judged_cleanup()
{
	netns_cleanup
}

atf_test_case missing_zombie_not_asked cleanup
missing_zombie_not_asked_head()
{
	atf_set descr "An instance that is already a zombie (killed, not yet reaped) is missing (it has exited) without its socket being asked"
	atf_set timeout 30
}
missing_zombie_not_asked_body()
{
	zombie_bed
	touch go
	wait_for 5 is_zombie "$child" || atf_fail "process $child is no zombie"
	second_ask_query askquery.sh ""
	atf_check -s exit:1 -o empty -e empty ./wd -q "$PWD/askquery.sh"
	[ ! -e asked.txt ] || atf_fail "the socket of a zombie was asked"
	atf_check -s exit:0 -o match:"GW_Z: missing: process $child of .*dpinger_GW_Z~192.0.2.10~192.0.2.1.pid has exited" cat log.txt
	restarts_are 1 || atf_fail "restart stub not called exactly once"
}
missing_zombie_not_asked_cleanup()
{
	netns_cleanup
}

atf_test_case hung_refused_says_so cleanup
hung_refused_says_so_head()
{
	atf_set descr "A live instance whose status socket refuses at once is hung, and the log line says the query ended before the timeout instead of claiming it waited"
	atf_set timeout 30
}
hung_refused_says_so_body()
{
	bed || atf_fail "cannot build the test bed"
	_p="$PWD/run/dpinger_GW_R~192.0.2.10~192.0.2.1"
	sleep 600 &
	pid_record $!
	echo $! > "$_p.pid"
	stale_socket "$_p.sock"
	t0=$(date +%s)
	atf_check -s exit:1 -o empty -e empty ./wd -t 20
	[ $(($(date +%s) - t0)) -lt 20 ] || atf_fail "the watchdog waited for the query timeout"
	atf_check -s exit:0 -o match:'GW_R: hung: status socket .*dpinger_GW_R~192.0.2.10~192.0.2.1.sock gave no full line \(the query ended with status [1-9][0-9]* before the 20s timeout\)' cat log.txt
	atf_check -s exit:1 -o empty grep 'within 20s' log.txt
	restarts_are 1 || atf_fail "restart stub not called exactly once"
}
hung_refused_says_so_cleanup()
{
	netns_cleanup
}

atf_test_case missing_stale_pid_file
missing_stale_pid_file_head()
{
	atf_set descr "A pid file naming a dead process, with no socket, is flagged missing and monitoring is restarted once"
	atf_set timeout 30
}
missing_stale_pid_file_body()
{
	bed || atf_fail "cannot build the test bed"
	dead=$(dead_pid)
	echo "$dead" > 'run/dpinger_WAN_DHCP~203.0.113.10~203.0.113.1.pid'
	atf_check -s exit:1 -o empty -e empty ./wd
	atf_check -s exit:0 -o match:"WAN_DHCP: missing: process $dead of .* is not running" cat log.txt
	restarts_are 1 || atf_fail "restart stub not called exactly once"
}

atf_test_case missing_expected_gateway cleanup
missing_expected_gateway_head()
{
	atf_set descr "A gateway pfSense would monitor that has no pid file is flagged missing; the running one is not"
	atf_set require.user root
	atf_set timeout 60
}
missing_expected_gateway_body()
{
	bed netns || atf_fail "cannot build the test bed"
	start_gw GW_UP 10.0.0.1 10.0.0.2 >/dev/null || atf_fail "cannot start GW_UP"
	wait_for 10 status_lossless "$(sock GW_UP 10.0.0.1 10.0.0.2)" || atf_fail "GW_UP never lossless"
	printf '%s\n' "GW_UP 10.0.0.1 10.0.0.2" "GW_VTI fd00::1 fd00::2" > expected.txt

	atf_check -s exit:1 -o empty -e empty ./wd -g "cat $PWD/expected.txt"
	atf_check -s exit:0 -o match:'GW_VTI: missing: pfSense monitors it \(fd00::1 -> fd00::2\) but there is no pid file' cat log.txt
	atf_check -s exit:1 -o empty grep GW_UP log.txt
	restarts_are 1 || atf_fail "restart stub not called exactly once"
}
missing_expected_gateway_cleanup()
{
	netns_cleanup
}

atf_test_case hung_status_socket cleanup
hung_status_socket_head()
{
	atf_set descr "An instance whose status thread is stopped is flagged hung by name and monitoring is restarted once"
	atf_set require.user root
	atf_set timeout 60
}
hung_status_socket_body()
{
	bed netns || atf_fail "cannot build the test bed"
	start_gw GW_OK 10.0.0.1 10.0.0.2 >/dev/null || atf_fail "cannot start GW_OK"
	if is_fork; then
		pid=$(start_gw GW_H fd00::1 fd00::2 -W 0) || atf_fail "cannot start GW_H"
	else
		pid=$(start_gw GW_H fd00::1 fd00::2) || atf_fail "cannot start GW_H"
	fi
	wait_for 10 status_lossless "$(sock GW_OK 10.0.0.1 10.0.0.2)" || atf_fail "GW_OK never lossless"
	wait_for 10 status_lossless "$(sock GW_H fd00::1 fd00::2)" || atf_fail "GW_H never lossless"
	if is_fork; then
		"$(tool freezer)" -p "$pid" -t status -s 120 > freezer.out 2>&1 &
		pid_record $!
		wait_for 10 file_has freezer.out '^frozen' || atf_fail "cannot freeze the status thread: $(cat freezer.out)"
	else
		kill -STOP "$pid"
	fi
	! status_query "$(sock GW_H fd00::1 fd00::2)" || atf_fail "GW_H still answers"

	atf_check -s exit:1 -o empty -e empty ./wd -t 2
	atf_check -s exit:0 -o match:'GW_H: hung: status socket .*dpinger_GW_H~fd00::1~fd00::2.sock gave no full line within 2s' cat log.txt
	atf_check -s exit:1 -o empty grep GW_OK log.txt
	restarts_are 1 || atf_fail "restart stub not called exactly once"
}
hung_status_socket_cleanup()
{
	netns_cleanup
}

atf_test_case zombie_loss_but_ping_answers cleanup
zombie_loss_but_ping_answers_head()
{
	atf_set descr "An instance stuck at 100% loss while a ping from its source is answered is flagged zombie by name and monitoring is restarted once"
	atf_set require.user root
	atf_set timeout 90
}
zombie_loss_but_ping_answers_body()
{
	bed netns || atf_fail "cannot build the test bed"
	start_gw GW_OK fd00::1 fd00::2 >/dev/null || atf_fail "cannot start GW_OK"
	DP_ENV="LD_PRELOAD=$(tool faultinject.so) FAULTINJECT_TRIGGER=$PWD/trigger"
	if is_fork; then
		start_gw GW_Z 10.0.0.1 10.0.0.2 -E 0 -N >/dev/null || atf_fail "cannot start GW_Z"
	else
		start_gw GW_Z 10.0.0.1 10.0.0.2 >/dev/null || atf_fail "cannot start GW_Z"
	fi
	DP_ENV=
	wait_for 10 status_lossless "$(sock GW_OK fd00::1 fd00::2)" || atf_fail "GW_OK never lossless"
	wait_for 10 status_lossless "$(sock GW_Z 10.0.0.1 10.0.0.2)" || atf_fail "GW_Z never lossless"
	touch trigger
	wait_for 15 status_loss_total "$(sock GW_Z 10.0.0.1 10.0.0.2)" || atf_fail "GW_Z never reached 100% loss"
	atf_check -s exit:0 -o ignore ip netns exec "$NS_MON" ping -c 1 -W 2 -I 10.0.0.1 10.0.0.2

	atf_check -s exit:1 -o empty -e empty ./wd
	atf_check -s exit:0 -o match:'GW_Z: zombie: loss is 100% but ping from 10.0.0.1 to 10.0.0.2 is answered' cat log.txt
	atf_check -s exit:1 -o empty grep GW_OK log.txt
	restarts_are 1 || atf_fail "restart stub not called exactly once"
}
zombie_loss_but_ping_answers_cleanup()
{
	netns_cleanup
}

atf_test_case real_outage_left_alone cleanup
real_outage_left_alone_head()
{
	atf_set descr "A real outage (100% loss and the ping fails too) is not flagged and nothing is restarted"
	atf_set require.user root
	atf_set timeout 90
}
real_outage_left_alone_body()
{
	bed netns || atf_fail "cannot build the test bed"
	start_gw GW_V4 10.0.0.1 10.0.0.2 >/dev/null || atf_fail "cannot start GW_V4"
	start_gw GW_LL 'fe80::a%mon0' 'fe80::b%mon0' >/dev/null || atf_fail "cannot start GW_LL"
	wait_for 10 status_lossless "$(sock GW_V4 10.0.0.1 10.0.0.2)" || atf_fail "GW_V4 never lossless"
	wait_for 10 status_lossless "$(sock GW_LL 'fe80::a%mon0' 'fe80::b%mon0')" || atf_fail "GW_LL never lossless"
	ip netns exec "$NS_PEER" sysctl -qw net.ipv4.icmp_echo_ignore_all=1 || atf_fail "sysctl"
	ip netns exec "$NS_PEER" sysctl -qw net.ipv6.icmp.echo_ignore_all=1 || atf_fail "sysctl"
	wait_for 15 status_loss_total "$(sock GW_V4 10.0.0.1 10.0.0.2)" || atf_fail "GW_V4 never reached 100% loss"
	wait_for 15 status_loss_total "$(sock GW_LL 'fe80::a%mon0' 'fe80::b%mon0')" || atf_fail "GW_LL never reached 100% loss"

	atf_check -s exit:0 -o empty -e empty ./wd
	[ ! -e log.txt ] || atf_fail "logged: $(cat log.txt)"
	restarts_are 0 || atf_fail "restarted during a real outage"
	# still an outage: the daemons were left alone
	atf_check -s exit:0 test -S "$(sock GW_V4 10.0.0.1 10.0.0.2)"
}
real_outage_left_alone_cleanup()
{
	netns_cleanup
}

atf_test_case fork_hung_heals_unflagged cleanup
fork_hung_heals_unflagged_head()
{
	atf_set descr "With the fork's watchdog on, a frozen status thread heals in place before the second look: not flagged, same pid"
	atf_set require.user root
	atf_set timeout 60
}
fork_hung_heals_unflagged_body()
{
	is_fork || atf_skip "needs the self-healing fork"
	bed netns || atf_fail "cannot build the test bed"
	pid=$(start_gw GW_H fd00::1 fd00::2) || atf_fail "cannot start GW_H"
	wait_for 10 status_lossless "$(sock GW_H fd00::1 fd00::2)" || atf_fail "GW_H never lossless"
	"$(tool freezer)" -p "$pid" -t status -s 120 > freezer.out 2>&1 &
	pid_record $!
	wait_for 10 file_has freezer.out '^frozen' || atf_fail "cannot freeze the status thread: $(cat freezer.out)"

	# a pause before the second look much shorter than the default 15s
	DPW_SETTLE=2
	export DPW_SETTLE
	atf_check -s exit:0 -o empty -e empty ./wd
	[ ! -e log.txt ] || atf_fail "logged: $(cat log.txt)"
	restarts_are 0 || atf_fail "restarted"
	wait_for 10 status_healthy "$(sock GW_H fd00::1 fd00::2)" || atf_fail "GW_H does not answer"
	atf_check -s exit:0 -o inline:"$pid\n" cat "$PWD/run/dpinger_GW_H~fd00::1~fd00::2.pid"
}
fork_hung_heals_unflagged_cleanup()
{
	netns_cleanup
}

atf_test_case fork_zombie_heals_unflagged cleanup
fork_zombie_heals_unflagged_head()
{
	atf_set descr "With the fork's defaults, sockets made stale (simulated) are rebuilt: the watchdog finds nothing"
	atf_set require.user root
	atf_set timeout 60
}
fork_zombie_heals_unflagged_body()
{
	is_fork || atf_skip "needs the self-healing fork"
	bed netns || atf_fail "cannot build the test bed"
	DP_ENV="LD_PRELOAD=$(tool faultinject.so) FAULTINJECT_TRIGGER=$PWD/trigger FAULTINJECT_LOG=$PWD/fault.log"
	start_gw GW_Z 10.0.0.1 10.0.0.2 >/dev/null || atf_fail "cannot start GW_Z"
	DP_ENV=
	wait_for 10 status_lossless "$(sock GW_Z 10.0.0.1 10.0.0.2)" || atf_fail "GW_Z never lossless"
	touch trigger
	wait_for 10 file_has fault.log 'stale' || atf_fail "the fault never hit GW_Z"
	wait_for 10 status_lossy "$(sock GW_Z 10.0.0.1 10.0.0.2)" || atf_fail "GW_Z never saw a loss"
	wait_for 15 status_lossless "$(sock GW_Z 10.0.0.1 10.0.0.2)" || atf_fail "GW_Z did not heal"

	atf_check -s exit:0 -o empty -e empty ./wd
	[ ! -e log.txt ] || atf_fail "logged: $(cat log.txt)"
	restarts_are 0 || atf_fail "restarted"
}
fork_zombie_heals_unflagged_cleanup()
{
	netns_cleanup
}

atf_test_case dry_run_restarts_nothing
dry_run_restarts_nothing_head()
{
	atf_set descr "With -n a finding is logged and printed, exit 3, and the restart command is not run"
	atf_set timeout 30
}
dry_run_restarts_nothing_body()
{
	bed || atf_fail "cannot build the test bed"
	dead_pid > 'run/dpinger_GW_DRY~192.0.2.10~192.0.2.1.pid'
	atf_check -s exit:3 -o empty -e match:'GW_DRY: missing: process' -e match:'dry run' ./wd -n
	atf_check -s exit:0 -o match:'GW_DRY: missing: process' cat log.txt
	restarts_are 0 || atf_fail "restarted in a dry run"
}

atf_test_case lock_held_exits_at_once cleanup
lock_held_exits_at_once_head()
{
	atf_set descr "While another live run holds the lock, a run exits at once with status 5 and a message, checking and restarting nothing"
	atf_set timeout 30
}
lock_held_exits_at_once_body()
{
	bed || atf_fail "cannot build the test bed"
	dead_pid > 'run/dpinger_GW_A~192.0.2.10~192.0.2.1.pid'
	sleep 60 &
	holder=$!
	pid_record "$holder"
	mkdir run/dpinger-watchdog.lock
	echo "$holder" > run/dpinger-watchdog.lock/pid

	t0=$(date +%s%N)
	atf_check -s exit:5 -o empty -e match:"another run \\(process $holder\\) holds .*dpinger-watchdog.lock" ./wd
	ms=$(ms_since "$t0")
	[ "$ms" -lt 1000 ] || atf_fail "a refused run took ${ms} ms"
	atf_check -s exit:0 -o inline:"$holder\n" cat run/dpinger-watchdog.lock/pid
	[ ! -e log.txt ] || atf_fail "logged: $(cat log.txt)"
	restarts_are 0 || atf_fail "restarted without the lock"
}
lock_held_exits_at_once_cleanup()
{
	netns_cleanup
}

atf_test_case lock_concurrent_run cleanup
lock_concurrent_run_head()
{
	atf_set descr "A run started while a slow run is checking exits at once with status 5; the slow run finishes normally and releases the lock"
	atf_set require.user root
	atf_set timeout 60
}
lock_concurrent_run_body()
{
	bed netns || atf_fail "cannot build the test bed"
	start_gw GW_A 10.0.0.1 10.0.0.2 >/dev/null || atf_fail "cannot start GW_A"
	wait_for 10 status_lossless "$(sock GW_A 10.0.0.1 10.0.0.2)" || atf_fail "GW_A never lossless"
	cat > slowquery.sh <<EOF
#!/bin/sh
sleep 3
exec "$(tool sockquery)" -t 2000 "\$1"
EOF
	chmod +x slowquery.sh

	./wd -q "$PWD/slowquery.sh" > first.out 2> first.err &
	first=$!
	pid_record "$first"
	wait_for 10 test -s run/dpinger-watchdog.lock/pid || atf_fail "the first run took no lock"
	t0=$(date +%s%N)
	atf_check -s exit:5 -o empty -e match:'another run .* holds' ./wd
	ms=$(ms_since "$t0")
	[ "$ms" -lt 1000 ] || atf_fail "the refused run took ${ms} ms"
	wait "$first"
	rc=$?
	[ "$rc" -eq 0 ] || atf_fail "the slow run exited $rc: $(cat first.err)"
	atf_check -s exit:0 -o empty cat first.out first.err
	[ ! -e run/dpinger-watchdog.lock ] || atf_fail "the lock was left behind"
	restarts_are 0 || atf_fail "restarted"
}
lock_concurrent_run_cleanup()
{
	netns_cleanup
}

atf_test_case lock_stale_recovered
lock_stale_recovered_head()
{
	atf_set descr "A lock left by a dead run is taken over (one log line) and released at the end"
	atf_set timeout 30
}
lock_stale_recovered_body()
{
	bed || atf_fail "cannot build the test bed"
	dead=$(dead_pid)
	mkdir run/dpinger-watchdog.lock
	echo "$dead" > run/dpinger-watchdog.lock/pid
	atf_check -s exit:0 -o empty -e empty ./wd
	atf_check -s exit:0 -o match:"removed the stale lock .*dpinger-watchdog.lock of process $dead" cat log.txt
	[ ! -e run/dpinger-watchdog.lock ] || atf_fail "the lock was left behind"
}

atf_test_case lock_zombie_holder_is_stale cleanup
lock_zombie_holder_is_stale_head()
{
	atf_set descr "A lock whose holder was killed and is not yet reaped (a zombie) is stale: taken over at once (one log line), not after its 10-minute age limit"
	atf_set timeout 30
}
lock_zombie_holder_is_stale_body()
{
	bed || atf_fail "cannot build the test bed"
	unreaped_child
	touch go
	wait_for 5 is_zombie "$child" || atf_fail "process $child is no zombie"
	mkdir run/dpinger-watchdog.lock
	echo "$child" > run/dpinger-watchdog.lock/pid
	atf_check -s exit:0 -o empty -e empty ./wd
	atf_check -s exit:0 -o match:"removed the stale lock .*dpinger-watchdog.lock of process $child" cat log.txt
	[ ! -e run/dpinger-watchdog.lock ] || atf_fail "the lock was left behind"
}
lock_zombie_holder_is_stale_cleanup()
{
	netns_cleanup
}

atf_test_case backoff_after_useless_restart
backoff_after_useless_restart_head()
{
	atf_set descr "A finding that a restart did not clear is not restarted again within the back-off (exit 6); -b 0 restarts every time"
	atf_set timeout 30
}
backoff_after_useless_restart_body()
{
	bed || atf_fail "cannot build the test bed"
	dead_pid > 'run/dpinger_GW_A~192.0.2.10~192.0.2.1.pid'
	atf_check -s exit:1 ./wd
	restarts_are 1 || atf_fail "first run: restart stub not called once"
	atf_check -s exit:6 ./wd
	atf_check -s exit:0 -o match:'restart held back' cat log.txt
	restarts_are 1 || atf_fail "restarted within the back-off"
	atf_check -s exit:1 ./wd -b 0
	restarts_are 2 || atf_fail "-b 0 did not restart"
	# once everything is fine the back-off is forgotten
	rm run/dpinger_*.pid
	atf_check -s exit:0 ./wd
	[ ! -e run/dpinger-watchdog.state ] || atf_fail "back-off state kept after a clean run"
}

atf_test_case restart_failure_reported
restart_failure_reported_head()
{
	atf_set descr "A failing restart command, or none known off pfSense, is logged and gives exit 4"
	atf_set timeout 30
}
restart_failure_reported_body()
{
	bed || atf_fail "cannot build the test bed"
	dead_pid > 'run/dpinger_GW_A~192.0.2.10~192.0.2.1.pid'
	printf '#!/bin/sh\necho "no such gateway group" >&2\nexit 3\n' > failing.sh
	chmod +x failing.sh
	atf_check -s exit:4 -o empty -e empty ./wd -r "$PWD/failing.sh"
	atf_check -s exit:0 -o match:'restart of gateway monitoring failed \(exit 3\): no such gateway group' cat log.txt
	rm log.txt
	DPW_PFSENSE_INC="$PWD/nowhere"
	export DPW_PFSENSE_INC
	atf_check -s exit:4 -o empty -e empty ./wd -b 0 -r ''
	atf_check -s exit:0 -o match:'no restart command known' cat log.txt
}

atf_test_case booting_does_nothing
booting_does_nothing_head()
{
	atf_set descr "While pfSense boots (RUNDIR/booting exists) the script exits 0 silently"
	atf_set timeout 30
}
booting_does_nothing_body()
{
	bed || atf_fail "cannot build the test bed"
	dead_pid > 'run/dpinger_GW_A~192.0.2.10~192.0.2.1.pid'
	touch run/booting
	atf_check -s exit:0 -o empty -e empty ./wd
	[ ! -e log.txt ] || atf_fail "logged: $(cat log.txt)"
	restarts_are 0 || atf_fail "restarted while booting"
}

atf_test_case stopped_on_purpose_respected
stopped_on_purpose_respected_head()
{
	atf_set descr "While RUNDIR/dpinger.stopped stands (no pid file newer than it), nothing is checked or restarted; once a monitor was started after it, it no longer counts"
	atf_set timeout 30
}
stopped_on_purpose_respected_body()
{
	bed || atf_fail "cannot build the test bed"
	printf '%s\n' "GW_A 192.0.2.10 192.0.2.1" "GW_B 198.51.100.10 198.51.100.1" > expected.txt
	touch run/dpinger.stopped
	atf_check -s exit:0 -o empty -e empty ./wd -g "cat $PWD/expected.txt"
	atf_check -s exit:0 -o empty -e match:'stopped on purpose' ./wd -n -g "cat $PWD/expected.txt"
	[ ! -e log.txt ] || atf_fail "logged: $(cat log.txt)"
	restarts_are 0 || atf_fail "restarted while stopped on purpose"

	# a monitor started after the stop (dead since): the stop is over
	touch -t 202001010000 run/dpinger.stopped
	dead_pid > 'run/dpinger_GW_A~192.0.2.10~192.0.2.1.pid'
	atf_check -s exit:1 -o empty -e empty ./wd -g "cat $PWD/expected.txt"
	atf_check -s exit:0 -o match:'GW_B: missing: pfSense monitors it' cat log.txt
	restarts_are 1 || atf_fail "restart stub not called exactly once"
}

atf_test_case young_pid_file_means_restart_under_way
young_pid_file_means_restart_under_way_head()
{
	atf_set descr "A pid file younger than DPW_YOUNG (30s by default) means a restart is under way: nothing is flagged or restarted; with DPW_YOUNG=0 the same state is flagged"
	atf_set timeout 30
}
young_pid_file_means_restart_under_way_body()
{
	bed || atf_fail "cannot build the test bed"
	dead_pid > 'run/dpinger_GW_A~192.0.2.10~192.0.2.1.pid'
	printf '%s\n' "GW_A 192.0.2.10 192.0.2.1" "GW_B 198.51.100.10 198.51.100.1" > expected.txt
	DPW_YOUNG=30
	export DPW_YOUNG
	atf_check -s exit:0 -o empty -e empty ./wd -g "cat $PWD/expected.txt"
	atf_check -s exit:0 -o empty -e match:'restart is under way' ./wd -n -g "cat $PWD/expected.txt"
	[ ! -e log.txt ] || atf_fail "logged: $(cat log.txt)"
	restarts_are 0 || atf_fail "restarted during a restart"
	DPW_YOUNG=0
	atf_check -s exit:1 -o empty -e empty ./wd -g "cat $PWD/expected.txt"
	restarts_are 1 || atf_fail "restart stub not called exactly once"
}

# pf_bed [PATCH...]: a pfSense test world in ./w (tests/pfsense/world.subr)
# with these patches, a live process for its fake dpingers' pid files, and
# ./wdp: the watchdog as it runs on pfSense (no -g, -r: its own PHP, run by
# the harness in the world) with the world's run directory, a status query
# that always answers a healthy line (nothing listens on the world's
# sockets), DPW_SETTLE 1 and DPW_YOUNG 0 unless set
pf_bed()
{
	pf_require
	world_make "$PWD/w" "$@" || atf_fail "cannot make the test world"
	sleep 600 &
	pid_record $!
	PFH_LIVE_PID=$!
	PFH_WORLD=$PWD/w
	export PFH_LIVE_PID PFH_WORLD
	printf '#!/bin/sh\nprintf "%%s\\n" "$*" >> "%s/log.txt"\n' "$PWD" > logger.sh
	printf '#!/bin/sh\necho "gw 1000 100 0"\n' > healthy.sh
	{
		echo '#!/bin/sh'
		echo "exec env DPW_LOGGER='$PWD/logger.sh' DPW_PHP='$(pf_dir)/pfh' \\"
		echo "    DPW_PFSENSE_INC='$PWD/w/tree/src/etc/inc' DPW_SETTLE=\"\${DPW_SETTLE:-1}\" \\"
		echo "    DPW_YOUNG=\"\${DPW_YOUNG:-0}\" /bin/sh '$(watchdog)' -d '$PWD/w/root/var/run' \\"
		echo "    -q '$PWD/healthy.sh' \"\$@\""
	} > wdp
	chmod +x logger.sh healthy.sh wdp
}

# pf_php CODE: pfSense PHP in the world, which must exit 0
pf_php()
{
	world_php w "$1" > php.out 2> php.err || atf_fail "PHP failed: $1: $(cat php.err)"
}

# pf_monitors_started: pfSense's own setup_gateways_monitor() has run
pf_monitors_started()
{
	pf_php 'require_once("config.inc"); require_once("gwlb.inc"); setup_gateways_monitor();'
}

# pf_starts: how many dpinger monitors pfSense started in the world
pf_starts()
{
	world_count w '^/usr/local/bin/dpinger '
}

# pf_pidfiles: how many dpinger pid files the world's run directory holds
pf_pidfiles()
{
	ls w/root/var/run | grep -c '^dpinger_.*\.pid$' || true
}

atf_test_case pfsense_php_expected_and_restart cleanup
pfsense_php_expected_and_restart_head()
{
	atf_set descr "On pfSense's real PHP the script lists the gateways setup_gateways_monitor() starts (the shared IPv6 link-local monitor once, as pfSense does), flags the missing ones, and its default restart is pfSense's own setup_gateways_monitor()"
	atf_set require.progs php
	atf_set timeout 60
}
pfsense_php_expected_and_restart_body()
{
	pf_bed
	atf_check -s exit:3 -o empty -e ignore ./wdp -n
	atf_check -s exit:0 -o match:'WANGW: missing: pfSense monitors it \(198.51.100.2 -> 198.51.100.1\)' cat log.txt
	atf_check -s exit:0 -o match:'WANGW6: missing: pfSense monitors it \(fe80::a%em0 -> fe80::1%em0\)' cat log.txt
	atf_check -s exit:0 -o match:'WAN2GW: missing: pfSense monitors it \(192.0.2.2 -> 192.0.2.1\)' cat log.txt
	atf_check -s exit:0 -o match:'VTI_VTIV4: missing: pfSense monitors it \(10.8.0.2 -> 10.8.0.1\)' cat log.txt
	atf_check -s exit:0 -o inline:"4\n" -x "grep -c ': missing: ' log.txt"
	atf_check -s exit:1 grep WAN2GW6 log.txt
	[ "$(pf_starts)" = 0 ] || atf_fail "a monitor was started in a dry run"

	rm log.txt
	atf_check -s exit:1 -o empty -e empty ./wdp
	atf_check -s exit:0 -o match:'restarted gateway monitoring \(4 finding' cat log.txt
	[ "$(pf_starts)" = 4 ] || atf_fail "pfSense started $(pf_starts) monitors, not 4"
	[ "$(pf_pidfiles)" = 4 ] || atf_fail "$(pf_pidfiles) pid files, not 4"
	rm log.txt
	atf_check -s exit:0 -o empty -e empty ./wdp
	[ ! -e log.txt ] || atf_fail "logged: $(cat log.txt)"
}
pfsense_php_expected_and_restart_cleanup()
{
	netns_cleanup
}

atf_test_case pfsense_shared_linklocal_not_reported cleanup
pfsense_shared_linklocal_not_reported_head()
{
	atf_set descr "Two WANs whose IPv6 gateways are the same link-local fe80::1: pfSense's setup_gateways_monitor() runs one dpinger for both, and the script does not report the second as missing"
	atf_set require.progs php
	atf_set timeout 60
}
pfsense_shared_linklocal_not_reported_body()
{
	pf_bed
	pf_monitors_started
	atf_check -s exit:0 -o inline:"1\n" -x "ls w/root/var/run | grep -c '^dpinger_WANGW6~fe80::a%em0~fe80::1%em0.pid\$'"
	atf_check -s exit:0 -o inline:"0\n" -x "ls w/root/var/run | grep -c '^dpinger_WAN2GW6~' || true"
	atf_check -s exit:0 -o empty -e empty ./wdp
	[ ! -e log.txt ] || atf_fail "logged: $(cat log.txt)"
	[ "$(pf_starts)" = 4 ] || atf_fail "restarted: $(pf_starts) starts"
}
pfsense_shared_linklocal_not_reported_cleanup()
{
	netns_cleanup
}

atf_test_case pfsense_expected_list_writes_no_config cleanup
pfsense_expected_list_writes_no_config_head()
{
	atf_set descr "The script's gateway list never writes pfSense's configuration, where get_gateways() would (refresh_gateways() saves a generated gateway missing from config.xml); the generated VTI gateway is still listed"
	atf_set require.progs php
	atf_set timeout 60
}
pfsense_expected_list_writes_no_config_body()
{
	pf_bed
	world_config w 'array_pop($cfg["gateways"]["gateway_item"]);'
	atf_check -s exit:3 -o empty -e ignore ./wdp -n
	atf_check -s exit:0 -o match:'VTI_VTIV4: missing: pfSense monitors it \(10.8.0.2 -> 10.8.0.1\)' cat log.txt
	atf_check -s exit:1 test -e w/root/cf/conf/config.xml
	atf_check -s exit:1 test -e w/root/conf/config.xml
	# the control: get_gateways() in a fresh process writes it
	world_php w 'require_once("config.inc"); require_once("gwlb.inc"); get_gateways();' > /dev/null 2>&1
	atf_check -s exit:0 test -e w/root/cf/conf/config.xml
}
pfsense_expected_list_writes_no_config_cleanup()
{
	netns_cleanup
}

atf_test_case pfsense_deliberate_stop_respected cleanup
pfsense_deliberate_stop_respected_head()
{
	atf_set descr "After Services > Stop (pfSense's service_control_stop() with patch 0001) the script restarts nothing; after Services > Start it guards the monitors again"
	atf_set require.progs patch php
	atf_set timeout 60
}
pfsense_deliberate_stop_respected_body()
{
	pf_bed 0001-restart-gateway-monitors-after-ipsec-reconfigure.patch
	pf_monitors_started
	pf_php 'require_once("config.inc"); require_once("service-utils.inc"); service_control_stop("dpinger", array());'
	[ "$(pf_pidfiles)" = 0 ] || atf_fail "monitors still running after Stop"
	atf_check -s exit:0 -o empty -e empty ./wdp
	atf_check -s exit:0 -o empty -e match:'stopped on purpose' ./wdp -n
	[ ! -e log.txt ] || atf_fail "logged: $(cat log.txt)"
	[ "$(pf_starts)" = 4 ] || atf_fail "restarted after a deliberate stop"

	pf_php 'require_once("config.inc"); require_once("service-utils.inc"); service_control_start("dpinger", array());'
	atf_check -s exit:1 test -e w/root/var/run/dpinger.stopped
	rm w/root/var/run/dpinger_WAN2GW~*.pid
	atf_check -s exit:1 -o empty -e empty ./wdp
	atf_check -s exit:0 -o match:'WAN2GW: missing: pfSense monitors it' cat log.txt
	[ "$(pf_starts)" = 12 ] || atf_fail "$(pf_starts) starts, expected 12 (boot, Start, one restart)"
}
pfsense_deliberate_stop_respected_cleanup()
{
	netns_cleanup
}

atf_test_case pfsense_restart_in_progress_not_doubled cleanup
pfsense_restart_in_progress_not_doubled_head()
{
	atf_set descr "While pfSense's own setup_gateways_monitor() is still starting monitors one by one (slow starts simulated), the script neither flags nor restarts, also when its first look falls between the stop and the first start"
	atf_set require.progs php
	atf_set timeout 90
}
pfsense_restart_in_progress_not_doubled_body()
{
	pf_bed
	pf_monitors_started
	restart='require_once("config.inc"); require_once("gwlb.inc"); setup_gateways_monitor();'
	DPW_YOUNG=30
	export DPW_YOUNG

	# the first monitors are up again, WAN2GW's start takes 4s
	touch -t 202001010000 w/root/var/run/dpinger_*.pid
	PFH_DPINGER_DELAY="WAN2GW=4" world_php w "$restart" > bg1.out 2>&1 &
	bg=$!
	pid_record "$bg"
	wait_for 10 wan_up_wan2_pending || atf_fail "the restart did not start WANGW before WAN2GW"
	atf_check -s exit:0 -o empty -e empty ./wdp
	wait "$bg" || atf_fail "the restart failed: $(cat bg1.out)"
	[ ! -e log.txt ] || atf_fail "logged: $(cat log.txt)"
	[ "$(pf_starts)" = 8 ] || atf_fail "$(pf_starts) starts, expected 8 (boot and one restart)"

	# the first look falls between the stop and the first start (3s)
	touch -t 202001010000 w/root/var/run/dpinger_*.pid
	PFH_DPINGER_DELAY="WANGW=3" world_php w "$restart" > bg2.out 2>&1 &
	bg=$!
	pid_record "$bg"
	wait_for 10 no_pidfiles || atf_fail "the restart did not stop the monitors"
	DPW_SETTLE=5 ./wdp > wd.out 2> wd.err
	rc=$?
	wait "$bg" || atf_fail "the restart failed: $(cat bg2.out)"
	[ "$rc" -eq 0 ] || atf_fail "exit $rc: $(cat wd.err) $(cat log.txt 2>/dev/null)"
	[ ! -e log.txt ] || atf_fail "logged: $(cat log.txt)"
	[ "$(pf_starts)" = 12 ] || atf_fail "$(pf_starts) starts, expected 12 (boot and two restarts)"
}
pfsense_restart_in_progress_not_doubled_cleanup()
{
	netns_cleanup
}

# wan_up_wan2_pending: WANGW's monitor was started again, WAN2GW's not yet
wan_up_wan2_pending()
{
	test -e 'w/root/var/run/dpinger_WANGW~198.51.100.2~198.51.100.1.pid' &&
	    ! test -e 'w/root/var/run/dpinger_WAN2GW~192.0.2.2~192.0.2.1.pid'
}

# no_pidfiles: the world's run directory holds no dpinger pid file
no_pidfiles()
{
	[ "$(pf_pidfiles)" = 0 ]
}

atf_test_case script_is_posix_sh
script_is_posix_sh_head()
{
	atf_set descr "The script parses with /bin/sh, has no bashisms (checkbashisms where installed), prints its usage with -h and exits 2 on a bad option"
	atf_set timeout 30
}
script_is_posix_sh_body()
{
	atf_check -s exit:0 /bin/sh -n "$(watchdog)"
	if command -v checkbashisms >/dev/null 2>&1; then
		atf_check -s exit:0 -o empty -e empty checkbashisms -f "$(watchdog)"
	fi
	atf_check -s exit:0 -o match:'^usage: dpinger-watchdog' -o match:'5 another run holds the lock' /bin/sh "$(watchdog)" -h
	atf_check -s exit:2 -o empty -e match:'^usage:' /bin/sh "$(watchdog)" -x
	atf_check -s exit:2 -o empty -e match:'-t needs' /bin/sh "$(watchdog)" -t 0
}

atf_init_test_cases()
{
	atf_add_test_case healthy_gateways_pass_silently
	atf_add_test_case missing_killed_process
	atf_add_test_case missing_stale_pid_file
	atf_add_test_case missing_reaped_during_query
	atf_add_test_case missing_reaped_while_judged
	atf_add_test_case missing_zombie_not_asked
	atf_add_test_case hung_refused_says_so
	atf_add_test_case missing_expected_gateway
	atf_add_test_case hung_status_socket
	atf_add_test_case zombie_loss_but_ping_answers
	atf_add_test_case real_outage_left_alone
	atf_add_test_case fork_hung_heals_unflagged
	atf_add_test_case fork_zombie_heals_unflagged
	atf_add_test_case dry_run_restarts_nothing
	atf_add_test_case lock_held_exits_at_once
	atf_add_test_case lock_concurrent_run
	atf_add_test_case lock_stale_recovered
	atf_add_test_case lock_zombie_holder_is_stale
	atf_add_test_case backoff_after_useless_restart
	atf_add_test_case restart_failure_reported
	atf_add_test_case booting_does_nothing
	atf_add_test_case stopped_on_purpose_respected
	atf_add_test_case young_pid_file_means_restart_under_way
	atf_add_test_case pfsense_php_expected_and_restart
	atf_add_test_case pfsense_shared_linklocal_not_reported
	atf_add_test_case pfsense_expected_list_writes_no_config
	atf_add_test_case pfsense_deliberate_stop_respected
	atf_add_test_case pfsense_restart_in_progress_not_doubled
	atf_add_test_case script_is_posix_sh
}
