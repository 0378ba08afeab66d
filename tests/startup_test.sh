#!/usr/bin/env atf-sh
#
# Start-up with an IPv6 -B address that is still tentative (duplicate
# address detection running, about a second after the address is added
# without nodad): the daemon waits for it, logs the wait once, then binds
# and measures.  An address on no interface still fails at once, with exit
# status 1, one line on stderr and no pid file or status socket.
#

. "$(atf_get_srcdir)/lib/netns.subr"

# addr_tentative ADDR: the monitor namespace lists ADDR as tentative
addr_tentative()
{
	ip -n "$NS_MON" -6 addr show dev mon0 | grep -q -- "inet6 $1/.* tentative"
}

# add_tentative ADDR/PLEN: add ADDR to mon0 with duplicate address
# detection, and check that it is still tentative right after.  Three
# probes instead of one keep it tentative for 3-4s instead of 1-2s, so a
# slow start of dpinger on a loaded machine still finds it tentative.
add_tentative()
{
	ip netns exec "$NS_MON" sysctl -q -w net.ipv6.conf.mon0.dad_transmits=3 || return 1
	ip -n "$NS_MON" addr add "$1" dev mon0 || return 1
	addr_tentative "${1%/*}"
}

# the wait line, once, before the parameter line; then a healthy status
check_waited_then_healthy()
{
	wait_for 20 status_healthy s.sock ||
	    atf_fail "never healthy: $(status_query s.sock) $(cat err)"
	kill -0 "$DP_PID" 2>/dev/null || atf_fail "dpinger is gone: $(cat err)"
	atf_check -s exit:0 -o inline:"1\n" grep -c -- 'tentative' err
	atf_check -s exit:0 -o match:"^bind $1: address is tentative \(duplicate address detection\), waiting up to 10s\$" \
	    sed -n 1p err
	atf_check -s exit:0 -o match:"^send_interval .* bind_addr $1 " sed -n 2p err
	addr_tentative "$1" && atf_fail "the address is still tentative"
	return 0
}

atf_test_case bind_waits_for_tentative_address cleanup
bind_waits_for_tentative_address_head()
{
	atf_set descr "Started with -B on a global IPv6 address still in duplicate address detection, dpinger logs one wait line, binds once the address is ready and reports healthy"
	atf_set require.user root
	atf_set require.progs ip
	atf_set timeout 60
}
bind_waits_for_tentative_address_body()
{
	netns_init
	netns_pair || atf_fail "cannot build the test network"
	add_tentative fd00::11/64 || atf_fail "fd00::11 is not tentative after being added"
	DP_PID=$(netns_bg "$NS_MON" out err "$(dpinger_bin)" -f -r 0 -s 100 -t 2s \
	    -B fd00::11 -u "$PWD/s.sock" fd00::2) || atf_fail "cannot start dpinger"
	check_waited_then_healthy fd00::11
}
bind_waits_for_tentative_address_cleanup()
{
	netns_cleanup
}

atf_test_case bind_waits_for_tentative_linklocal cleanup
bind_waits_for_tentative_linklocal_head()
{
	atf_set descr "The same with a scoped link-local -B address (fe80::c%mon0) still in duplicate address detection"
	atf_set require.user root
	atf_set require.progs ip
	atf_set timeout 60
}
bind_waits_for_tentative_linklocal_body()
{
	netns_init
	netns_pair || atf_fail "cannot build the test network"
	add_tentative fe80::c/64 || atf_fail "fe80::c is not tentative after being added"
	DP_PID=$(netns_bg "$NS_MON" out err "$(dpinger_bin)" -f -r 0 -s 100 -t 2s \
	    -B fe80::c%mon0 -u "$PWD/s.sock" fe80::b%mon0) || atf_fail "cannot start dpinger"
	check_waited_then_healthy 'fe80::c%mon0'
}
bind_waits_for_tentative_linklocal_cleanup()
{
	netns_cleanup
}

atf_test_case bind_absent_address_fails_at_once cleanup
bind_absent_address_fails_at_once_head()
{
	atf_set descr "Started with -B on an IPv6 address that is on no interface, dpinger exits 1 at once (no tentative wait) with one error line and leaves no pid file or status socket"
	atf_set require.user root
	atf_set require.progs "ip timeout"
	atf_set timeout 60
}
bind_absent_address_fails_at_once_body()
{
	netns_init
	netns_pair || atf_fail "cannot build the test network"
	# A tentative wait would last 10s; 5s is far above an immediate failure
	atf_check -s exit:1 -o empty -e save:err timeout 5 \
	    ip netns exec "$NS_MON" "$(dpinger_bin)" -r 0 -B fd00::99 \
	    -p "$PWD/dp.pid" -u "$PWD/s.sock" fd00::2
	atf_check -s exit:0 -o inline:"1\n" sh -c 'wc -l < err | tr -d " "'
	atf_check -s exit:0 -o match:'^dpinger: bind fd00::99: ' cat err
	atf_check -s exit:1 -o empty grep tentative err
	[ ! -e dp.pid ] || atf_fail "a pid file was left behind"
	[ ! -e s.sock ] || atf_fail "a status socket was left behind"
}
bind_absent_address_fails_at_once_cleanup()
{
	netns_cleanup
}

atf_init_test_cases()
{
	atf_add_test_case bind_waits_for_tentative_address
	atf_add_test_case bind_waits_for_tentative_linklocal
	atf_add_test_case bind_absent_address_fails_at_once
}
