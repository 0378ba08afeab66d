#!/usr/bin/env atf-sh
#
# Hostile inputs: status clients that misbehave by the thousand, descriptor
# exhaustion, forged and malformed echo replies on the wire, a routing
# socket flood and overflow, no syslog, a missing or hanging alert command,
# an unwritable pid file.  The daemon must survive each with the same pid,
# keep answering, and leave nothing behind.
#
# Needs tests/hostile/clients and tests/hostile/forge (make tests).
#

. "$(atf_get_srcdir)/lib/netns.subr"

# hostile NAME: path of a helper built from tests/hostile/NAME.c
hostile()
{
	echo "$(tests_dir)/hostile/$1"
}

# status_sane SOCK: loss 0 and a latency that is neither 0 nor above 500ms
status_sane()
{
	_line=$(status_query "$1") || return 1
	echo "$_line" | awk '{ exit !($NF == 0 && $(NF-2) > 0 && $(NF-2) < 500000) }'
}

# own_fd_limit PID: the smallest descriptor limit that holds every
# descriptor the daemon opened itself (inherited ones do not count)
own_fd_limit()
{
	_inherited=" $(ip netns exec "$NS_MON" sh -c 'ls /proc/$$/fd' </dev/null 2>/dev/null | tr '\n' ' ') "
	_need=0
	for _path in "/proc/$1/fd/"*; do
		_fd=${_path##*/}
		case "$_inherited" in
		*" $_fd "*) continue ;;
		esac
		[ "$_fd" -ge "$_need" ] && _need=$((_fd + 1))
	done
	[ "$_need" -gt 0 ] || return 1
	echo "$_need"
}

atf_test_case status_client_storm cleanup
status_client_storm_head()
{
	atf_set descr "10,000 status clients from 8 processes that close before, during or after the line, or query normally, leave the daemon running with the same pid and its descriptors at baseline"
	atf_set require.user root
	atf_set timeout 120
}
status_client_storm_body()
{
	check_built "$(hostile clients)"
	netns_init
	netns_pair || atf_fail "cannot build the test network"
	daemon_start wait=s.sock -r 0 -s 100 -l 300 -t 3s -i GW -u "$PWD/s.sock" 10.0.0.2 ||
	    atf_fail "never healthy: $(oneline err)"
	fds0=$(fd_count "$DP_PID")
	cpu0=$(cpu_ticks "$DP_PID")
	atf_check -s exit:0 -o save:storm "$(hostile clients)" -n 10000 -P 8 -t 5000 s.sock
	cpu1=$(cpu_ticks "$DP_PID")
	cat storm
	grep -Eq '^clients 10000 queries [0-9]{3,} ok [0-9]+ bad 0$' storm || atf_fail "bad storm result: $(oneline storm)"
	check_daemon
	wait_for 5 fd_is "$DP_PID" "$fds0" || atf_fail "descriptors $fds0 -> $(fd_count "$DP_PID") after the storm"
	echo "descriptors $fds0 before and after; $((cpu1 - cpu0)) CPU ticks for 10,000 clients"
	atf_check -s exit:0 -o match:'^GW [0-9]+ [0-9]+ 0$' "$(tool sockquery)" -t 2000 s.sock
	atf_check -s exit:1 -o empty grep -E 'watchdog|exiting' err
}
status_client_storm_cleanup()
{
	netns_cleanup
}

atf_test_case never_reading_clients cleanup
never_reading_clients_head()
{
	atf_set descr "500 clients that connect and never read (two holder processes): others are answered within 1s, and when the holders go the descriptor count is back"
	atf_set require.user root
	atf_set timeout 90
}
never_reading_clients_body()
{
	netns_init
	netns_pair || atf_fail "cannot build the test network"
	daemon_start wait=s.sock -r 0 -s 100 -l 300 -t 3s -u "$PWD/s.sock" 10.0.0.2 ||
	    atf_fail "never healthy: $(oneline err)"
	fds0=$(fd_count "$DP_PID")
	"$(tool sockquery)" -m hold -n 250 -t 60000 s.sock > held1 2>&1 &
	h1=$!
	pid_record "$h1"
	"$(tool sockquery)" -m hold -n 250 -t 60000 s.sock > held2 2>&1 &
	h2=$!
	pid_record "$h2"
	wait_for 10 file_has held1 'held 250' || atf_fail "could not hold 250 clients: $(oneline held1)"
	wait_for 10 file_has held2 'held 250' || atf_fail "could not hold 250 more: $(oneline held2)"
	for i in 1 2 3 4 5; do
		atf_check -s exit:0 -o match:'^[0-9]+ [0-9]+ 0$' -e match:'^elapsed_ms [0-9]{1,3}$' \
		    "$(tool sockquery)" -T -t 1000 s.sock
	done
	echo "descriptors with 500 clients held: $(fd_count "$DP_PID") (baseline $fds0)"
	kill "$h1" "$h2"
	wait "$h1" "$h2" 2>/dev/null
	wait_for 5 fd_is "$DP_PID" "$fds0" || atf_fail "descriptors $fds0 -> $(fd_count "$DP_PID") after the holders left"
	check_daemon
	atf_check -s exit:0 -o match:'^[0-9]+ [0-9]+ 0$' "$(tool sockquery)" -t 1000 s.sock
}
never_reading_clients_cleanup()
{
	netns_cleanup
}

atf_test_case descriptor_limit cleanup
descriptor_limit_head()
{
	atf_set descr "At its descriptor limit the daemon still answers every client (spare descriptor), does not spin, fails a SIGHUP rebuild cleanly and rebuilds once the limit is raised"
	atf_set require.user root
	atf_set timeout 90
}
descriptor_limit_body()
{
	check_built "$(hostile clients)"
	netns_init
	netns_pair || atf_fail "cannot build the test network"
	args="-r 0 -s 100 -l 300 -t 3s -i GW -B 10.0.0.1"
	# What it needs: every descriptor of an unlimited instance
	# shellcheck disable=SC2086
	daemon_start log=probe wait=probe.sock $args -p "$PWD/probe.pid" -u "$PWD/probe.sock" 10.0.0.2 ||
	    atf_fail "the unlimited instance never got healthy"
	probe=$DP_PID
	limit=$(own_fd_limit "$probe") || atf_fail "cannot measure the descriptors"
	nfd=$(fd_count "$probe")
	echo "start-up needs: descriptors 0..$((limit - 1)) ($nfd open); soft limit set to $limit"
	kill "$probe"

	# shellcheck disable=SC2086
	daemon_start wait=s.sock nofile="$limit" $args -p "$PWD/dp.pid" -u "$PWD/s.sock" 10.0.0.2 ||
	    atf_fail "never healthy at the limit: $(oneline err)"
	atf_check -s exit:0 -o match:"NOFILE .* $limit " prlimit --pid "$DP_PID" --nofile

	# Clients beyond the limit: all answered, one at a time on the spare
	"$(tool sockquery)" -m hold -n 300 -t 60000 s.sock > held 2>&1 &
	holder=$!
	pid_record "$holder"
	wait_for 10 file_has held 'held 300' || atf_fail "could not hold 300 clients: $(oneline held)"
	atf_check -s exit:0 -o inline:"connected 2000 failed 0\n" "$(tool sockquery)" -m close -n 2000 s.sock
	atf_check -s exit:0 -o match:'^clients 2000 queries [0-9]+ ok [0-9]+ bad 0$' "$(hostile clients)" -n 2000 -P 4 s.sock
	for i in 1 2 3; do
		atf_check -s exit:0 -o match:'^GW [0-9]+ [0-9]+ 0$' -e match:'^elapsed_ms [0-9]{1,3}$' \
		    "$(tool sockquery)" -T -t 1000 s.sock
	done
	# The spare is taken back after each such client
	wait_for 2 fd_is "$DP_PID" "$nfd" || atf_fail "descriptors $nfd -> $(fd_count "$DP_PID"): the spare was given away"

	# No busy loop at the limit, with the clients held
	cpu0=$(cpu_ticks "$DP_PID")
	holds 4 status_within 1000 s.sock || atf_fail "a query at the limit went unanswered"
	cpu1=$(cpu_ticks "$DP_PID")
	echo "CPU at the limit: $((cpu1 - cpu0)) ticks in about 3s"
	[ $((cpu1 - cpu0)) -le 30 ] || atf_fail "$((cpu1 - cpu0)) CPU ticks in 3s at the descriptor limit"

	# A rebuild needs two new sockets: it fails cleanly and is retried
	kill -HUP "$DP_PID"
	wait_for 5 file_has err 'rebuild failed (SIGHUP): socket: Too many open files, retry in' ||
	    atf_fail "no rebuild failure logged: $(oneline err)"
	atf_check -s exit:1 -o empty grep 'rebuilt ICMP sockets' err
	cpu0=$(cpu_ticks "$DP_PID")
	holds 3 status_within 1000 s.sock || atf_fail "a query went unanswered while rebuilds fail"
	cpu1=$(cpu_ticks "$DP_PID")
	echo "CPU while rebuilds are retried at the limit: $((cpu1 - cpu0)) ticks in about 2s"
	[ $((cpu1 - cpu0)) -le 30 ] || atf_fail "$((cpu1 - cpu0)) CPU ticks in 2s of rebuild retries"
	[ "$(log_count err 'rebuild failed')" -eq 1 ] || atf_fail "the failure was logged more than once: $(oneline err)"
	check_daemon

	# The holders leave and the limit is raised: the pending rebuild succeeds
	kill "$holder"
	wait "$holder" 2>/dev/null
	atf_check -s exit:0 -o match:'^GW [0-9]+ [0-9]+ [0-9]+$' "$(tool sockquery)" -t 1000 s.sock
	atf_check -s exit:0 prlimit --pid "$DP_PID" --nofile=$((limit + 16)):
	wait_for 5 file_has err 'rebuilt ICMP sockets (SIGHUP), generation 1,' || atf_fail "no rebuild after the limit was raised: $(oneline err)"
	wait_for 10 status_lossless s.sock || atf_fail "not healthy after the rebuild"
	check_daemon
	atf_check -s exit:1 -o empty grep -E 'watchdog|exiting' err
}
descriptor_limit_cleanup()
{
	netns_cleanup
}

# both CHECK: CHECK holds for v4.sock and v6.sock
both()
{
	"$1" v4.sock && "$1" v6.sock
}

atf_test_case forged_replies cleanup
forged_replies_head()
{
	atf_set descr "Forged echo replies (wrong identifier, wrong source, future sequence, truncated, bogus IPv4 header length, duplicates) never count: loss reaches 100 with the peer silent, duplicates are logged once"
	atf_set require.user root
	atf_set timeout 120
}
forged_replies_body()
{
	check_built "$(hostile forge)"
	netns_init
	netns_pair || atf_fail "cannot build the test network"
	daemon_start log=v6 -r 0 -s 100 -l 300 -t 3s -i V6 -B fd00::1 -u "$PWD/v6.sock" fd00::2 || atf_fail "cannot start the IPv6 monitor"
	DP6=$DP_PID
	daemon_start wait=v4.sock -r 0 -s 100 -l 300 -t 3s -i V4 -u "$PWD/v4.sock" 10.0.0.2 ||
	    atf_fail "IPv4 never healthy: $(oneline err)"
	wait_for 10 status_lossless v6.sock || atf_fail "IPv6 never healthy"

	# 1. The peer answers; every request also draws three duplicates and
	# the whole set of forgeries
	forger=$(netns_bg "$NS_PEER" forge1 forge1.err "$(hostile forge)" -i peer0 \
	    -m dup,wrongsrc,wrongid,future,trunc,ihl -S 10.0.0.3 -s fd00::3) || atf_fail "cannot start the forger"
	wait_for 10 lines_at_least forge1 40 || atf_fail "the forger answers nothing: $(oneline forge1.err)"
	holds 4 both status_sane || atf_fail "status not sane under forgeries: $(status_query v4.sock) / $(status_query v6.sock)"
	kill "$forger"
	v4req=$(log_count forge1 '^v4 ')
	v6req=$(log_count forge1 '^v6 ')
	echo "phase 1: forged replies to $v4req IPv4 and $v6req IPv6 requests; $(status_query v4.sock) / $(status_query v6.sock)"
	[ "$v4req" -ge 20 ] || atf_fail "too few IPv4 requests forged: $(tail -n 3 forge1 | tr "\n" " ")"
	[ "$v6req" -ge 20 ] || atf_fail "too few IPv6 requests forged: $(tail -n 3 forge1 | tr "\n" " ")"
	atf_check -s exit:0 -o inline:"1\n" grep -c 'V4 10.0.0.2: duplicate echo reply (sequence [0-9]*), 1 since the last such line' err
	atf_check -s exit:0 -o inline:"1\n" grep -c 'V6 fd00::2: duplicate echo reply (sequence [0-9]*), 1 since the last such line' v6.err

	# 2. The peer is silent; forgeries with the right identifier from a
	# wrong source, a wrong identifier, future sequences, truncated and
	# bogus headers must not count
	ip netns exec "$NS_PEER" sysctl -qw net.ipv4.icmp_echo_ignore_all=1 net.ipv6.icmp.echo_ignore_all=1 ||
	    atf_fail "cannot silence the peer"
	forger=$(netns_bg "$NS_PEER" forge2 forge2.err "$(hostile forge)" -i peer0 \
	    -m wrongsrc,wrongid,future,trunc,ihl -S 10.0.0.3 -s fd00::3) || atf_fail "cannot start the forger"
	wait_for 10 both status_loss_total || atf_fail "forgeries counted: $(status_query v4.sock) / $(status_query v6.sock)"
	n0=$(wc -l < forge2)
	holds 3 both status_loss_total || atf_fail "forgeries counted: $(status_query v4.sock) / $(status_query v6.sock)"
	n1=$(wc -l < forge2)
	echo "phase 2: $((n1 - n0)) more requests answered with forgeries while loss stayed 100"
	[ $((n1 - n0)) -ge 20 ] || atf_fail "the forger fell silent: $(tail -n 3 forge2 | tr "\n" " ") $(oneline forge2.err)"
	kill "$forger"

	# 3. Control: correct replies from the same forger do count
	forger=$(netns_bg "$NS_PEER" forge3 forge3.err "$(hostile forge)" -i peer0 -m echo) || atf_fail "cannot start the forger"
	wait_for 10 status_healthy v4.sock || atf_fail "correct forged replies do not reach the IPv4 monitor"
	wait_for 10 status_healthy v6.sock || atf_fail "correct forged replies do not reach the IPv6 monitor"
	kill "$forger"

	check_daemon
	daemon_alive "$DP6" || atf_fail "the IPv6 monitor is gone: $(oneline v6.err)"
	atf_check -s exit:1 -o empty grep -E 'watchdog|exiting' err v6.err
}
forged_replies_cleanup()
{
	netns_cleanup
}

atf_test_case forged_future_queued cleanup
forged_future_queued_head()
{
	atf_set descr "A forged reply for a sequence not yet sent, still queued when that request leaves (the receive thread held up for a second), does not count: the kernel received it before the request was sent"
	atf_set require.user root
	atf_set timeout 60
}
forged_future_queued_body()
{
	check_built "$(hostile forge)"
	netns_init
	netns_pair || atf_fail "cannot build the test network"
	daemon_start wait=v4.sock -r 0 -s 100 -l 300 -t 3s -i V4 -u "$PWD/v4.sock" 10.0.0.2 ||
	    atf_fail "IPv4 never healthy: $(oneline err)"
	ip netns exec "$NS_PEER" sysctl -qw net.ipv4.icmp_echo_ignore_all=1 || atf_fail "cannot silence the peer"
	wait_for 10 status_loss_total v4.sock || atf_fail "loss never 100 with the peer silent: $(status_query v4.sock)"

	# Each request draws forged replies for the next sequences; while the
	# receive thread is stopped they queue up, and the requests they name
	# leave before it reads them
	forger=$(netns_bg "$NS_PEER" forge forge.err "$(hostile forge)" -i peer0 -m future) ||
	    atf_fail "cannot start the forger"
	wait_for 10 lines_at_least forge 5 || atf_fail "the forger answers nothing: $(oneline forge.err)"
	for round in 1 2 3; do
		freeze "$DP_PID" recv 1 "freezer.$round" || atf_fail "cannot stop the receive thread: $(oneline "freezer.$round")"
		wait "$FREEZER"
		file_has "freezer.$round" '^released' || atf_fail "the receive thread was not released: $(oneline "freezer.$round")"
		holds 1 status_loss_total v4.sock ||
		    atf_fail "queued forgeries counted (round $round): $(status_query v4.sock)"
	done
	kill "$forger"
	echo "$(wc -l < forge) requests answered with forgeries; $(status_query v4.sock)"
	check_daemon
	atf_check -s exit:1 -o empty grep -E 'watchdog|exiting' err
}
forged_future_queued_cleanup()
{
	netns_cleanup
}

atf_test_case route_flood cleanup
route_flood_head()
{
	atf_set descr "Thousands of address and link events on another interface cost little CPU and cause no rebuild or loss; an overflow of the routing socket costs at most one rebuild and the watch carries on"
	atf_set require.user root
	atf_set timeout 120
}
route_flood_body()
{
	netns_init
	netns_pair || atf_fail "cannot build the test network"
	NS_X=$(netns_mk x) || atf_fail "cannot make the third namespace"
	netns_veth "$NS_MON" other0 "$NS_X" x0 || atf_fail "cannot make the second veth"
	# -W 10s: the main thread is frozen for 5s below
	daemon_start wait=s.sock -W 10s -r 0 -s 100 -l 300 -t 3s -i GW -B 10.0.0.1 -u "$PWD/s.sock" 10.0.0.2 ||
	    atf_fail "never healthy: $(oneline err)"
	[ -n "$(nl_field "$DP_PID" 9)" ] || atf_fail "cannot find the routing socket in /proc/net/netlink"

	# 12,400 changes: IPv4 and IPv6 addresses added and removed, link flaps
	awk 'BEGIN {
		for (r = 0; r < 2; r++) {
			for (i = 0; i < 1500; i++)
				printf "address add 10.77.%d.%d/32 dev other0\naddress add fd77::%x/128 dev other0 nodad\n", i / 250, i % 250 + 1, i + 1
			for (i = 0; i < 1500; i++)
				printf "address del 10.77.%d.%d/32 dev other0\naddress del fd77::%x/128 dev other0\n", i / 250, i % 250 + 1, i + 1
			for (i = 0; i < 100; i++)
				print "link set other0 down\nlink set other0 up"
		}
	}' > flood
	events=$(wc -l < flood)
	split -l 300 flood chunk.

	# Paced so the socket cannot overflow: the next 300 once it is drained
	gen0=$(awk '{ print $16 + $17 }' "/proc/$$/stat")
	cpu0=$(cpu_ticks "$DP_PID")
	t0=$(date +%s%N)
	for chunk in chunk.*; do
		ip -n "$NS_MON" -batch "$chunk" || atf_fail "ip -batch $chunk failed"
		wait_for 5 nl_drained "$DP_PID" || atf_fail "the daemon does not drain its routing socket"
		status_lossless s.sock || atf_fail "loss during the flood: $(status_query s.sock)"
	done
	t1=$(date +%s%N)
	cpu1=$(cpu_ticks "$DP_PID")
	gen1=$(awk '{ print $16 + $17 }' "/proc/$$/stat")
	hz=$(getconf CLK_TCK)
	daemon_ms=$(((cpu1 - cpu0) * 1000 / hz))
	echo "flood: $events changes in $(((t1 - t0) / 1000000))ms; daemon CPU ${daemon_ms}ms;" \
	    "generator (ip, pacing, queries) CPU $(((gen1 - gen0) * 1000 / hz))ms; drops $(nl_field "$DP_PID" 9)"
	[ "$(nl_field "$DP_PID" 9)" -eq 0 ] || atf_fail "the paced flood overflowed the routing socket"
	[ $((daemon_ms * 10)) -le "$events" ] || atf_fail "daemon CPU ${daemon_ms}ms for $events changes (over 100us each)"
	wait_for 5 status_lossless s.sock || atf_fail "not lossless after the flood"
	# The last events are debounced (100ms): a second later, the SIGHUP
	# rebuild must be the first and only line
	sleep 1
	daemon_sighup || atf_fail "no answer to SIGHUP after the flood: $(oneline err)"
	atf_check -s exit:0 -o match:'rebuilt ICMP sockets \(SIGHUP\), generation 1,' grep -E 'rebuil|route:|healed|watchdog' err
	atf_check -s exit:0 -o inline:"1\n" grep -Ec 'rebuil|route:|healed|watchdog' err

	# Overflow: the main thread is frozen while 8,000 IPv4 address changes
	# (about 4MB of messages, twice the largest buffer it asks for) go in
	awk 'BEGIN {
		for (i = 0; i < 4000; i++)
			printf "address add 10.78.%d.%d/32 dev other0\n", i / 250, i % 250 + 1
		for (i = 0; i < 4000; i++)
			printf "address del 10.78.%d.%d/32 dev other0\n", i / 250, i % 250 + 1
	}' > burst
	freeze "$DP_PID" main 5 freezer.out || atf_fail "cannot freeze the main thread: $(oneline freezer.out)"
	ip -n "$NS_MON" -batch burst || atf_fail "ip -batch failed"
	nl_dropped "$DP_PID" || atf_fail "no overflow: the flood fitted in the socket buffer"
	file_has freezer.out '^released' && atf_fail "the flood outlasted the freeze"
	wait "$FREEZER"
	atf_check -s exit:0 -o match:'^released' cat freezer.out
	wait_for 5 nl_drained "$DP_PID" || atf_fail "the daemon does not drain its routing socket"
	# The resync (debounced, at most one a second) has had its chance once
	# a SIGHUP 1.5s later is answered
	sleep 1.5
	daemon_sighup || atf_fail "no answer to SIGHUP after the overflow: $(oneline err)"
	rebuilds=$(($(log_count err 'rebuilt ICMP sockets') - $(log_count err 'rebuilt ICMP sockets \(SIGHUP\)')))
	echo "overflow: $(nl_field "$DP_PID" 9) events dropped; $rebuilds rebuild(s) besides the SIGHUPs: $(grep rebuil err)"
	[ "$rebuilds" -le 1 ] || atf_fail "$rebuilds rebuilds for one overflow: $(oneline err)"
	atf_check -s exit:1 -o empty grep -E 'rebuild failed|watchdog' err
	wait_for 10 status_lossless s.sock || atf_fail "not lossless after the overflow"
	check_daemon

	# The watch still works: the bound address removed and restored
	ip -n "$NS_MON" addr del 10.0.0.1/24 dev mon0
	wait_for 10 file_has err 'route: bind address 10.0.0.1 is not on mon0, probes held back until it returns' ||
	    atf_fail "the removal went unseen: $(oneline err)"
	r0=$(log_count err 'rebuilt ICMP sockets')
	ip -n "$NS_MON" addr add 10.0.0.1/24 dev mon0
	wait_for 10 status_lossless s.sock || atf_fail "not lossless after the address came back: $(oneline err)"
	# Back on the same interface: the same sockets carry on
	[ "$(log_count err 'rebuilt ICMP sockets')" -eq "$r0" ] || atf_fail "a rebuild for an address that came back: $(oneline err)"
	check_daemon
}
route_flood_cleanup()
{
	netns_cleanup
}

# privdev_script: writes privdev.sh; "privdev.sh SETUP CMD..." runs CMD in
# a private mount namespace (run it under unshare -m) whose /dev holds
# only null and whatever the shell code SETUP makes of /dev/log
privdev_script()
{
	cat > privdev.sh <<'EOS'
#!/bin/sh
setup=$1
shift
mount -t tmpfs -o mode=755 tmpfs /dev || exit 1
mknod -m 666 /dev/null c 1 3 || exit 1
eval "$setup" || exit 1
exec "$@"
EOS
}

# sockets_of PID: the daemon's sockets, one "fd -> socket:[inode]" a line
sockets_of()
{
	ls -l "/proc/$1/fd" 2>/dev/null | awk '/socket:/ { print $(NF-2), $NF }'
}

# sockets_changed PID OLD: the daemon's set of sockets is not OLD any more
sockets_changed()
{
	[ "$(sockets_of "$1")" != "$2" ]
}

atf_test_case syslog_unavailable cleanup
syslog_unavailable_head()
{
	atf_set descr "With -S and no syslog (/dev/log absent, an empty file, a dead socket) the daemon starts, runs, rebuilds and answers"
	atf_set require.user root
	atf_set timeout 90
}
syslog_unavailable_body()
{
	check_built "$(hostile clients)"
	netns_init
	netns_pair || atf_fail "cannot build the test network"
	privdev_script
	clients=$(hostile clients)
	n=0
	for setup in "test ! -e /dev/log" ": > /dev/log" "'$clients' -b /dev/log && test -S /dev/log"; do
		n=$((n + 1))
		pid=$(netns_bg "$NS_MON" "fg$n.out" "fg$n.err" unshare -m sh "$PWD/privdev.sh" "$setup" \
		    "$(dpinger_bin)" -S -f -r 0 -s 100 -l 300 -t 3s -i "GW$n" -u "$PWD/s$n.sock" 10.0.0.2)
		wait_for 10 status_lossless "s$n.sock" || atf_fail "'$setup': never healthy: $(oneline "fg$n.err")"
		atf_check -s exit:0 -o inline:"$(basename "$(dpinger_bin)" | cut -c 1-15)\n" cat "/proc/$pid/comm"
		# A rebuild and its log line with nowhere to go
		before=$(sockets_of "$pid")
		kill -HUP "$pid"
		wait_for 5 sockets_changed "$pid" "$before" || atf_fail "'$setup': SIGHUP did not rebuild"
		wait_for 10 status_lossless "s$n.sock" || atf_fail "'$setup': not answering after the rebuild"
		atf_check -s exit:0 -o match:"^GW$n [0-9]+ [0-9]+ 0$" "$(tool sockquery)" -t 1000 "s$n.sock"
		atf_check -s exit:0 kill -0 "$pid"
		atf_check -s exit:0 -o empty cat "fg$n.err"
	done

	# Daemonized, with a pid file, and a dead /dev/log
	atf_check -s exit:0 -o empty -e empty ip netns exec "$NS_MON" unshare -m sh "$PWD/privdev.sh" \
	    "'$clients' -b /dev/log" "$(dpinger_bin)" -S -r 0 -s 100 -l 300 -t 3s -p "$PWD/bg.pid" -u "$PWD/bg.sock" 10.0.0.2
	pid=$(cat bg.pid)
	pid_record "$pid"
	wait_for 10 status_lossless bg.sock || atf_fail "the daemon never got healthy"
	atf_check -s exit:0 kill -0 "$pid"
}
syslog_unavailable_cleanup()
{
	netns_cleanup
}

atf_test_case alert_command_missing_or_hanging cleanup
alert_command_missing_or_hanging_head()
{
	atf_set descr "A missing alert command (-C /nonexistent/cmd) or one that hangs for 60s (-W 2s): alarms are logged, queries answered, no watchdog restart"
	atf_set require.user root
	atf_set timeout 90
}
alert_command_missing_or_hanging_body()
{
	netns_init
	netns_pair || atf_fail "cannot build the test network"
	cat > hang.sh <<EOS
#!/bin/sh
echo "\$\$" >> "$PWD/created_pids.lst"
echo "\$\$ \$*" >> "$PWD/hang.started"
exec sleep 60
EOS
	chmod +x hang.sh
	alarm_args="-r 0 -s 100 -l 300 -t 3s -A 200 -L 20 -H 1s -W 2s"
	# shellcheck disable=SC2086
	daemon_start log=hang $alarm_args -i HANG -C "$PWD/hang.sh" -u "$PWD/hang.sock" 10.0.0.2 ||
	    atf_fail "cannot start the second dpinger"
	hang=$DP_PID
	# shellcheck disable=SC2086
	daemon_start wait=miss.sock $alarm_args -i MISS -C /nonexistent/cmd -u "$PWD/miss.sock" 10.0.0.2 ||
	    atf_fail "never healthy: $(oneline err)"
	wait_for 10 status_lossless hang.sock || atf_fail "never healthy (hanging command)"

	ip netns exec "$NS_PEER" sysctl -qw net.ipv4.icmp_echo_ignore_all=1 || atf_fail "cannot silence the peer"
	wait_for 10 file_has err 'MISS 10.0.0.2: Alarm latency' || atf_fail "no alarm logged: $(oneline err)"
	wait_for 10 file_has hang.err 'HANG 10.0.0.2: Alarm latency' || atf_fail "no alarm logged: $(oneline hang.err)"
	wait_for 5 file_has err 'nonexistent/cmd.*not found' || atf_fail "the missing command was not reported: $(oneline err)"
	wait_for 5 test -s hang.started || atf_fail "the hanging command did not start"
	child=$(awk '{ print $1; exit }' hang.started)
	atf_check -s exit:0 -o match:'^[0-9]+ HANG 10.0.0.2 1 [0-9]+ [0-9]+ [0-9]+$' cat hang.started

	# Several stall limits with the alert thread stuck in the command
	holds 6 status_within 1000 hang.sock || atf_fail "a query went unanswered while the alert command hangs"
	holds 1 status_within 1000 miss.sock || atf_fail "a query went unanswered after the missing command"
	atf_check -s exit:0 kill -0 "$child"
	daemon_alive "$hang" || atf_fail "the monitor with the hanging command is gone: $(oneline hang.err)"
	check_daemon
	atf_check -s exit:0 -o match:'100$' "$(tool sockquery)" -t 1000 hang.sock

	ip netns exec "$NS_PEER" sysctl -qw net.ipv4.icmp_echo_ignore_all=0
	wait_for 15 file_has err 'MISS 10.0.0.2: Clear latency' || atf_fail "no clear logged: $(oneline err)"
	wait_for 10 status_healthy hang.sock || atf_fail "the monitor with the hanging command does not recover"
	atf_check -s exit:1 -o empty grep -E 'watchdog|exiting' err hang.err
	atf_check -s exit:0 -o inline:"1\n" grep -c 'HANG 10.0.0.2: Alarm' hang.err
	daemon_alive "$hang" || atf_fail "the monitor with the hanging command is gone: $(oneline hang.err)"
}
alert_command_missing_or_hanging_cleanup()
{
	netns_cleanup
}

atf_test_case pidfile_read_only cleanup
pidfile_read_only_head()
{
	atf_set descr "A pid file on a read-only file system: exit status 1, one line naming the pid file and the error, no socket and no process left"
	atf_set require.user root
	atf_set timeout 60
}
pidfile_read_only_body()
{
	netns_init
	NS_MON=$(netns_mk mon) || atf_fail "cannot make the namespace"
	mkdir ro
	for fg in "" "-f"; do
		# shellcheck disable=SC2086
		atf_check -s exit:1 -o empty -e inline:"dpinger: pid file $PWD/ro/dp.pid: Read-only file system\n" \
		    ip netns exec "$NS_MON" unshare -m sh -c "mount -t tmpfs -o ro tmpfs '$PWD/ro' && exec \"\$0\" \"\$@\"" \
		    "$(dpinger_bin)" $fg -r 0 -s 100 -t 3s -p "$PWD/ro/dp.pid" -u "$PWD/s.sock" 10.0.0.2
		[ ! -e s.sock ] || atf_fail "'$fg': the socket file was left behind"
		atf_check -s exit:0 -o empty ls -A ro
		atf_check -s exit:0 -o empty ip netns pids "$NS_MON"
	done
}
pidfile_read_only_cleanup()
{
	netns_cleanup
}

# Known defects, kept as expected failures so they stay reproducible; each
# turns into a plain failure ("expected failure but passed") once fixed.

# started_or_gone PID SOCK: the status socket is there, or the process is gone
started_or_gone()
{
	[ -S "$2" ] || proc_gone "$1"
}

# limit_probe ARGS...: LIMIT, the descriptor limit that an unlimited
# "dpinger -f -r 0 -s 100 -t 3s ARGS -u SOCK 10.0.0.2" fills exactly, and
# NFD, the descriptors it then has open
limit_probe()
{
	daemon_start log=probe wait=probe.sock -r 0 -s 100 -t 3s "$@" -u "$PWD/probe.sock" 10.0.0.2 ||
	    atf_fail "the unlimited instance never got healthy"
	LIMIT=$(own_fd_limit "$DP_PID") || atf_fail "cannot measure the descriptors"
	NFD=$(fd_count "$DP_PID")
	kill "$DP_PID"
}

atf_test_case limit_without_room_for_spare cleanup
limit_without_room_for_spare_head()
{
	atf_set descr "With a descriptor limit one below its needs (no room for the spare descriptor) the daemon refuses to start with a clear line instead of running deaf"
	atf_set require.user root
	atf_set timeout 60
}
limit_without_room_for_spare_body()
{
	netns_init
	netns_pair || atf_fail "cannot build the test network"
	limit_probe -N
	daemon_start nofile=$((LIMIT - 1)) -N -r 0 -s 100 -t 3s -u "$PWD/s.sock" 10.0.0.2 || atf_fail "cannot start dpinger"
	wait_for 10 started_or_gone "$DP_PID" s.sock || atf_fail "neither started nor gone: $(oneline err)"
	# Refusing to start beats running deaf
	proc_gone "$DP_PID" || atf_fail "started without a spare descriptor"
	atf_check -s exit:0 -o match:'^dpinger: status socket .*s.sock: spare descriptor: Too many open files$' cat err
	[ ! -e s.sock ] || atf_fail "socket left behind"
}
limit_without_room_for_spare_cleanup()
{
	netns_cleanup
}

atf_test_case interface_state_at_limit cleanup
interface_state_at_limit_head()
{
	atf_set descr "At the descriptor limit, an address added to the monitored interface is not taken for the interface being gone"
	atf_set require.user root
	atf_set timeout 60
}
interface_state_at_limit_body()
{
	netns_init
	netns_pair || atf_fail "cannot build the test network"
	limit_probe -B 10.0.0.1
	daemon_start wait=s.sock nofile="$LIMIT" -r 0 -s 100 -t 3s -B 10.0.0.1 -u "$PWD/s.sock" 10.0.0.2 ||
	    atf_fail "never healthy: $(oneline err)"
	wait_for 5 fd_is "$DP_PID" "$NFD" || atf_fail "not at its limit: $(fd_count "$DP_PID") descriptors, not $NFD"
	ip -n "$NS_MON" addr add 10.0.0.9/24 dev mon0 || atf_fail "cannot add the address"
	wait_for 5 nl_drained "$DP_PID" || atf_fail "the daemon does not read its routing socket"
	# The routing event is debounced for 100ms: a second later, a SIGHUP
	# answered proves the main loop went on past it
	sleep 1
	daemon_sighup || atf_fail "no answer to SIGHUP at the limit: $(oneline err)"
	atf_check -s exit:1 -o empty grep 'route: mon0 is gone' err
}
interface_state_at_limit_cleanup()
{
	netns_cleanup
}

atf_test_case unrelated_address_removed cleanup
unrelated_address_removed_head()
{
	atf_set descr "Adding and removing an address other than the bound one on the monitored interface causes no rebuild and no 'healed' line"
	atf_set require.user root
	atf_set timeout 60
}
unrelated_address_removed_body()
{
	netns_init
	netns_pair || atf_fail "cannot build the test network"
	daemon_start wait=s.sock -r 0 -s 100 -l 300 -t 3s -i GW -B 10.0.0.1 -u "$PWD/s.sock" 10.0.0.2 ||
	    atf_fail "never healthy: $(oneline err)"
	ip -n "$NS_MON" addr add 10.0.0.9/24 dev mon0 || atf_fail "cannot add the address"
	ip -n "$NS_MON" addr add fd00::99/64 dev mon0 nodad || atf_fail "cannot add the address"
	ip -n "$NS_MON" addr del 10.0.0.9/24 dev mon0
	ip -n "$NS_MON" addr del fd00::99/64 dev mon0
	wait_for 5 nl_drained "$DP_PID" || atf_fail "the daemon does not read its routing socket"
	# The routing events are debounced for 100ms: a second later, the
	# SIGHUP rebuild must be the first one
	sleep 1
	wait_for 5 status_lossless s.sock || atf_fail "not lossless"
	daemon_sighup || atf_fail "no answer to SIGHUP: $(oneline err)"
	atf_check -s exit:0 -o match:'^GW 10.0.0.2: rebuilt ICMP sockets \(SIGHUP\), generation 1,' grep -E 'rebuilt|healed' err
	atf_check -s exit:0 -o inline:"1\n" grep -Ec 'rebuilt|healed' err
}
unrelated_address_removed_cleanup()
{
	netns_cleanup
}

atf_test_case syslog_stalled cleanup
syslog_stalled_head()
{
	atf_set descr "With -S and a syslog daemon that stops reading /dev/log, the daemon keeps answering status queries"
	atf_set require.user root
	atf_set timeout 60
}
syslog_stalled_body()
{
	check_built "$(hostile clients)"
	netns_init
	netns_pair || atf_fail "cannot build the test network"
	privdev_script
	setup="'$(hostile clients)' -l /dev/log -t 60000 > '$PWD/listener' &
	    n=0; while [ ! -S /dev/log ] && [ \$n -lt 50 ]; do sleep 0.1; n=\$((n + 1)); done; test -S /dev/log"
	DP_PID=$(netns_bg "$NS_MON" out err unshare -m sh "$PWD/privdev.sh" "$setup" \
	    "$(dpinger_bin)" -S -f -W 2s -r 0 -s 100 -l 300 -t 3s -u "$PWD/s.sock" 10.0.0.2)
	wait_for 10 status_lossless s.sock || atf_fail "never healthy: $(oneline err)"
	atf_check -s exit:0 -o inline:"bound\n" cat listener
	# More log lines than the socket queue holds (net.unix.max_dgram_qlen)
	i=0
	while [ $i -lt 40 ]; do
		before=$(sockets_of "$DP_PID")
		kill -HUP "$DP_PID"
		wait_for 5 sockets_changed "$DP_PID" "$before" || atf_fail "SIGHUP $((i + 1)) did not rebuild"
		i=$((i + 1))
	done
	holds 6 status_within 1000 s.sock || atf_fail "status queries unanswered once syslog stalled"
}
syslog_stalled_cleanup()
{
	netns_cleanup
}

atf_init_test_cases()
{
	atf_add_test_case status_client_storm
	atf_add_test_case never_reading_clients
	atf_add_test_case descriptor_limit
	atf_add_test_case forged_replies
	atf_add_test_case forged_future_queued
	atf_add_test_case route_flood
	atf_add_test_case syslog_unavailable
	atf_add_test_case alert_command_missing_or_hanging
	atf_add_test_case pidfile_read_only
	atf_add_test_case limit_without_room_for_spare
	atf_add_test_case interface_state_at_limit
	atf_add_test_case unrelated_address_removed
	atf_add_test_case syslog_stalled
}
