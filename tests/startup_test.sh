#!/usr/bin/env atf-sh
#
# Start-up with an IPv6 -B address that is still tentative (duplicate
# address detection running, about a second after the address is added
# without nodad): the daemon waits for it, logs the wait once, then binds
# and measures.  The test holds detection back (the link has no carrier
# yet) until it has seen the daemon waiting, so it does not race the
# kernel's timers.  An address on no interface still fails at once, with
# exit status 1, one line on stderr and no pid file or status socket.
#

. "$(atf_get_srcdir)/lib/netns.subr"

# addr_tentative ADDR: the monitor namespace lists ADDR as tentative
addr_tentative()
{
	ip -n "$NS_MON" -6 addr show dev mon0 | grep -q -- "inet6 $1/.* tentative"
}

# one_line FILE: FILE on one line, for a failure message
one_line()
{
	tr '\n' '|' < "$1"
}

# tentative_bed ADDR/PLEN: $NS_MON and $NS_PEER joined by mon0/peer0, with
# peer0 left down, so mon0 has never had a carrier and ADDR, added to mon0
# without nodad, stays tentative until peer0 comes up (duplicate address
# detection waits for the link).  The peer answers on fd00::2 and
# fe80::b (nodad).
tentative_bed()
{
	NS_MON=$(netns_mk mon) || return 1
	NS_PEER=$(netns_mk peer) || return 1
	ip link add name mon0 netns "$NS_MON" type veth peer name peer0 netns "$NS_PEER" || return 1
	ip -n "$NS_MON" link set dev mon0 up || return 1
	ip -n "$NS_PEER" addr add fd00::2/64 dev peer0 nodad || return 1
	ip -n "$NS_PEER" addr add fe80::b/64 dev peer0 nodad || return 1
	ip -n "$NS_MON" addr add "$1" dev mon0 || return 1
	addr_tentative "${1%/*}"
}

# waits_then_measures ADDR DEST: start dpinger -B ADDR DEST while ADDR is
# tentative; it logs the wait once and keeps waiting; once peer0 is up and
# detection ends it binds and reports healthy
waits_then_measures()
{
	DP_PID=$(netns_bg "$NS_MON" out err "$(dpinger_bin)" -f -r 0 -s 100 -t 2s \
	    -B "$1" -u "$PWD/s.sock" "$2") || atf_fail "cannot start dpinger"
	wait_for 10 file_has err 'address is tentative' ||
	    atf_fail "no wait line: $(one_line err)"
	atf_check -s exit:0 -o match:"^bind $1: address is tentative \(duplicate address detection\), waiting up to 10s\$" \
	    cat err
	kill -0 "$DP_PID" 2>/dev/null || atf_fail "dpinger did not wait: $(one_line err)"
	addr_tentative "${1%\%*}" || atf_fail "$1 is no longer tentative with peer0 down"

	ip -n "$NS_PEER" link set dev peer0 up || atf_fail "cannot bring peer0 up"
	wait_for 20 status_healthy s.sock ||
	    atf_fail "never healthy: $(status_query s.sock) $(one_line err)"
	kill -0 "$DP_PID" 2>/dev/null || atf_fail "dpinger is gone: $(one_line err)"
	atf_check -s exit:0 -o inline:"1\n" grep -c -- 'tentative' err
	atf_check -s exit:0 -o match:"^send_interval .* bind_addr $1 " sed -n 2p err
	! addr_tentative "${1%\%*}" || atf_fail "$1 is still tentative"
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
	tentative_bed fd00::11/64 || atf_fail "cannot build a network with fd00::11 tentative"
	waits_then_measures fd00::11 fd00::2
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
	tentative_bed fe80::c/64 || atf_fail "cannot build a network with fe80::c tentative"
	waits_then_measures 'fe80::c%mon0' 'fe80::b%mon0'
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
