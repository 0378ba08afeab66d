#!/bin/sh
#
# Chaos soak (make soak SOAK_SECONDS=N): pfSense-shaped monitors under a
# seeded random schedule of faults, one at a time with healthy periods
# between them, while a checker loop watches the invariants all the time.
#
# Monitors: D6, an IPv6 link-local gateway over a veth pair (the hardest
# case), and D4, an IPv4 peer over a tun "VTI" played by tests/tools/tunpeer;
# both run with pfSense's command line shape and short intervals:
#   dpinger -f -r 0 -i GW -B fe80::a%mon0 -p PIDFILE -u SOCK -C ALERT
#           -d 1 -s 200 -l 600 -t 6s -A 500 -D 500 -L 20 -W 2s fe80::b%mon0
# Events: interface destroyed and recreated, bound address removed and added
# back, link down/up, peer outage, stale-identifier black hole, SIGHUP,
# one thread frozen (send, recv, status, main), hostile status clients.
# Invariants: the process never exits and keeps its pid (the pid file names
# it); every status query answers within 1s (stall limit + 2s while the
# status thread is frozen or across a restart in place); after each event
# the monitor heals (first healthy status within the heal bound when the
# event drove the loss to 100%; at the end of every healthy period the loss
# is lower than at the end of the event, with a real latency); descriptors
# and RSS stay within a constant of the start-up baseline; plus checks
# specific to each event (rebuild logged, watchdog acted, no stray rebuild
# or restart on the other monitor, no rebuild during a short real outage).
#
# Environment:
#   SOAK_SECONDS  length of the schedule in seconds (default 120; an event in
#                 progress finishes, so the run is a little longer)
#   SOAK_SEED     seed of the schedule (default random; printed)
#   SOAK_HEAL     heal bound in seconds (default 5)
#   SOAK_TUNNEL   0: the IPv6 monitor only (default 1)
#   SOAK_KEEP     1: keep the work directory (always kept after a failure)
#   SOAK_KINDS    only these kinds of event (default: all, see KINDS below)
#   DPINGER       the binary under test (default: dpinger at the top)
#
# Output: one line per event and per violation, a summary table, then
# exactly one "N passed, N failed" line counting invariant checks.  Exit
# status 0 only when no check failed.  Needs root (network namespaces).
#
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
SOAK_SECONDS=${SOAK_SECONDS:-120}
HEAL_MS=$((${SOAK_HEAL:-5} * 1000))
TUNNEL=${SOAK_TUNNEL:-1}
DP=${DPINGER:-$top/dpinger}
SQ=$top/tests/tools/sockquery
FRZ=$top/tests/tools/freezer
TUNPEER=$top/tests/tools/tunpeer

W_MS=2000               # -W: watchdog stall limit
QUERY_MS=1000           # status query bound
RELAXED_MS=$((W_MS + 2000))
FD_SLACK=4              # descriptors allowed above the baseline
RSS_SLACK_KB=2048       # RSS allowed above the baseline
TICK=0.3                # checker period

case "$SOAK_SECONDS" in
''|*[!0-9]*) echo "soak: SOAK_SECONDS must be a number of seconds" >&2; echo "0 passed, 1 failed"; exit 1 ;;
esac
if [ "$(id -u)" -ne 0 ] || ! ip netns list >/dev/null 2>&1; then
	echo "soak: needs root and ip netns" >&2
	echo "0 passed, 1 failed"
	exit 1
fi
for f in "$DP" "$SQ" "$FRZ" "$TUNPEER"; do
	if [ ! -x "$f" ]; then
		echo "soak: $f is missing (make tests)" >&2
		echo "0 passed, 1 failed"
		exit 1
	fi
done

# The namespace library, outside atf
atf_get_srcdir() { echo "$top/tests"; }
atf_config_get() { echo "$2"; }
atf_skip() { echo "soak: $*" >&2; exit 1; }
. "$top/tests/lib/netns.subr"

work=$(mktemp -d "${TMPDIR:-/tmp}/dpinger-soak.XXXXXX") || exit 1
cd "$work" || exit 1
echo "soak$$" > netns_id

#
# Time, output, random numbers
#

# now_ms: NOW = milliseconds of uptime (monotonic, 10ms steps; no fork)
now_ms()
{
	read _up _idle < /proc/uptime
	_cs=${_up#*.}
	NOW=$((${_up%.*} * 1000 + ${_cs#0} * 10))
}

now_ms
T0=$NOW

stamp()
{
	now_ms
	_e=$((NOW - T0))
	echo "$(date +%T) +$((_e / 1000)).$((_e % 1000 / 100))s"
}

say()
{
	echo "$(stamp) $*"
}

# Seeded generator (an LCG in shell arithmetic, the same in dash and bash)
if [ -n "${SOAK_SEED:-}" ]; then
	SEED=$SOAK_SEED
else
	SEED=$(($(od -An -N4 -tu4 /dev/urandom | tr -d ' ') % 1000000))
fi
case "$SEED" in
''|*[!0-9]*) echo "soak: SOAK_SEED must be a number" >&2; echo "0 passed, 1 failed"; exit 1 ;;
esac
RNG=$((SEED % 2147483648))

# rnd N: R = 0..N-1 (N at most 32768)
rnd()
{
	RNG=$(((RNG * 1103515245 + 12345) % 2147483648))
	R=$(((RNG / 65536) % $1))
}

# rnd_range LO HI: R = LO..HI
rnd_range()
{
	rnd $(($2 - $1 + 1))
	R=$(($1 + R))
}

#
# Checks.  Every check counts as passed or failed; a failure is a
# violation, printed with a timestamp the first time in a row (a violation
# that persists is counted on every check and reported when it clears).
#
PASSED=0
FAILED=0

# tally KEY OK [MESSAGE]: count one check of KEY, passed when OK is 1; VK_KEY
# counts the failures in a row
tally()
{
	eval "_n=\${VK_$1:-0}"
	if [ "$2" -eq 1 ]; then
		PASSED=$((PASSED + 1))
		[ "$_n" -gt 1 ] && echo "$(stamp) cleared: $1 after $_n failed checks" | tee -a violations.log
		eval "VK_$1=0"
	else
		FAILED=$((FAILED + 1))
		[ "$_n" -eq 0 ] && echo "$(stamp) VIOLATION $1: $3" | tee -a violations.log
		eval "VK_$1=$((_n + 1))"
	fi
}

# pass KEY, fail KEY MESSAGE
pass()
{
	tally "$1" 1
}

fail()
{
	tally "$1" 0 "$2"
}

# check KEY MESSAGE CMD...: pass when CMD succeeds
check()
{
	_key=$1
	_msg=$2
	shift 2
	if "$@"; then
		pass "$_key"
	else
		fail "$_key" "$_msg"
	fi
}

#
# The monitors
#

# dv D FIELD: V = the monitor's field (pid, sock, pidf, err, ...)
dv()
{
	eval "V=\${${1}_$2}"
}

# query D TIMEOUT_MS: one status query, tried again while the socket cannot
# be reached or closes without a line (a restart in place recreates it).
# Sets Q_OK, Q_MS (from the first attempt to the answer), Q_RETRY (1 when
# an attempt failed that way), Q_LINE, Q_AVG, Q_LOSS
query()
{
	dv "$1" sock
	_qs=$V
	_qt=$2
	now_ms
	_q0=$NOW
	Q_OK=0
	Q_RETRY=0
	Q_LINE=
	Q_AVG=0
	Q_LOSS=100
	while :; do
		_qa=$NOW
		_qo=$("$SQ" -T -t "$_qt" "$_qs" 2>&1)
		_qrc=$?
		now_ms
		if [ "$_qrc" -eq 0 ]; then
			break
		fi
		case "$_qrc:$_qo" in
		1:*|2:*closed\ without*) ;;
		*)
			Q_MS=$((NOW - _q0))
			return 1 ;;
		esac
		Q_RETRY=1
		if [ $((NOW - _q0)) -ge "$_qt" ]; then
			Q_MS=$((NOW - _q0))
			return 1
		fi
		sleep 0.05
	done
	_qel=
	set -f
	_qifs=$IFS
	IFS='
'
	for _ql in $_qo; do
		case "$_ql" in
		elapsed_ms\ *) _qel=${_ql#elapsed_ms } ;;
		sockquery:*) ;;
		*) Q_LINE=$_ql ;;
		esac
	done
	IFS=$_qifs
	set -- $Q_LINE
	set +f
	Q_MS=$((_qa - _q0 + ${_qel:-0}))
	if [ $# -lt 3 ]; then
		return 1
	fi
	eval "Q_LOSS=\${$#}"
	eval "Q_AVG=\${$(($# - 2))}"
	case "$Q_LOSS$Q_AVG" in
	*[!0-9]*) return 1 ;;
	esac
	Q_OK=1
	return 0
}

# healthy D: a status line with loss below 100 and a real latency
healthy()
{
	query "$1" 2000 && [ "$Q_LOSS" -lt 100 ] && [ "$Q_AVG" -gt 0 ]
}

# lost D: the status line shows 100% loss
lost()
{
	query "$1" 2000 && [ "$Q_LOSS" -eq 100 ]
}

# mon_log_count D ERE: lines of the monitor's log matching
mon_log_count()
{
	dv "$1" err
	log_count "$V" "$2"
}

# fds_of PID, rss_of PID: FDS, RSS (kB) of a process, no fork
fds_of()
{
	set -- "/proc/$1/fd/"*
	FDS=$#
}

rss_of()
{
	RSS=0
	[ -r "/proc/$1/status" ] || return
	while read _k _v _u; do
		if [ "$_k" = VmRSS: ]; then
			RSS=$_v
		fi
	done < "/proc/$1/status"
}

# current_ident D: IDENT = the echo identifier the monitor uses now: the
# pid's low 16 bits stepped by 0x9e37 per generation; generations come from
# the last rebuild line, plus one per restart in place after it
current_ident()
{
	dv "$1" err
	_ie=$V
	dv "$1" pid
	IDENT=$(awk -v pid="$V" '
	    /rebuilt ICMP sockets/ && match($0, /generation [0-9]+/) {
		g = substr($0, RSTART + 11, RLENGTH - 11) + 0
	    }
	    /restarting in place/ { g++ }
	    END { printf "%d\n", (pid + g * 40503) % 65536 }' "$_ie")
}

ALERT=$work/alert.sh
printf '#!/bin/sh\necho "$(date +%%T) $*" >> "%s/alerts.log"\n' "$work" > "$ALERT"
chmod +x "$ALERT"
: > alerts.log

# start_monitor D IDENT BIND DEST
start_monitor()
{
	eval "${1}_name=$1 ${1}_pidf=\$work/$1.pid ${1}_sock=\$work/$1.sock ${1}_err=\$work/$1.err"
	daemon_start log="$1" bin="$DP" -r 0 -i "$2" -B "$3" -p "$work/$1.pid" \
	    -u "$work/$1.sock" -C "$ALERT" -d 1 -s 200 -l 600 -t 6s -A 500 -D 500 -L 20 -W 2s "$4" || return 1
	_pid=$DP_PID
	eval "${1}_pid=$_pid"
	say "$1: dpinger -f -r 0 -i $2 -B $3 -p $1.pid -u $1.sock -C alert.sh -d 1 -s 200 -l 600 -t 6s" \
	    "-A 500 -D 500 -L 20 -W 2s $4 (pid $_pid)"
}

#
# Clean-up, also on SIGINT and SIGTERM
#
FREEZERS=
CHECKER=
DONE_CLEANUP=0
FINISHED=0

cleanup()
{
	[ "$DONE_CLEANUP" -eq 1 ] && return
	DONE_CLEANUP=1
	touch "$work/stop" 2>/dev/null
	for _p in $FREEZERS; do
		kill -TERM "$_p" 2>/dev/null
	done
	if [ -n "$CHECKER" ]; then
		kill -TERM "$CHECKER" 2>/dev/null
	fi
	netns_cleanup
	cd /
	if [ "$FINISHED" -eq 1 ] && [ "$FAILED" -eq 0 ] && [ "${SOAK_KEEP:-0}" != 1 ]; then
		rm -rf "$work"
	else
		echo "soak: work directory kept: $work" >&2
	fi
}

on_signal()
{
	trap - INT TERM
	echo "soak: interrupted" >&2
	cleanup
	echo "$PASSED passed, $((FAILED + 1)) failed"
	exit 130
}

trap cleanup EXIT
trap on_signal INT TERM

#
# The checker: runs in the background for the whole soak.  The main loop
# tells it what is going on through the file "phase":
#   SEQ KIND TARGET THREAD RESTARTS
# KIND start|event|idle; TARGET the monitor an event hits (or -); THREAD the
# frozen thread (or -); RESTARTS the target's restart count when the event
# began.  Its counts and peaks go to checker.stats when it stops.
#

set_phase()
{
	PH_SEQ=$((PH_SEQ + 1))
	echo "$PH_SEQ $1 $2 $3 $4" > phase.tmp
	mv phase.tmp phase
}
PH_SEQ=0

read_phase()
{
	read P_SEQ P_KIND P_TARGET P_THREAD P_RST < phase
}

checker()
{
	PASSED=0
	FAILED=0
	QOUT_MAX=0
	QIN_MAX=0
	QOUT_N=0
	QIN_N=0
	QDROP_N=0
	TICKS=0
	for _d in $MONITORS; do
		eval "${_d}_fdpk=0 ${_d}_rsspk=0"
	done
	while [ ! -f stop ]; do
		for _d in $MONITORS; do
			check_monitor "$_d"
		done
		TICKS=$((TICKS + 1))
		if [ $((TICKS % 20)) -eq 0 ]; then
			checker_stats
		fi
		sleep "$TICK"
	done
	checker_stats
}

checker_stats()
{
	{
		echo "C_PASSED=$PASSED C_FAILED=$FAILED QOUT_MAX=$QOUT_MAX QIN_MAX=$QIN_MAX QOUT_N=$QOUT_N QIN_N=$QIN_N QDROP_N=$QDROP_N TICKS=$TICKS"
		for _d in $MONITORS; do
			eval "echo \"${_d}_fdpk=\$${_d}_fdpk ${_d}_rsspk=\$${_d}_rsspk\""
		done
	} > checker.tmp
	mv checker.tmp checker.stats
}

check_monitor()
{
	_d=$1
	dv "$_d" pid
	_pid=$V
	dv "$_d" pidf
	_pidf=$V

	# The process is there (not a zombie: the monitors are children of the
	# main shell), is still the program we started, and the pid file names it
	_comm=
	_state=
	{ read _comm < "/proc/$_pid/comm"; read _state < "/proc/$_pid/stat"; } 2>/dev/null
	_state=${_state##*) }
	[ "${_state%% *}" = Z ] && _comm="$_comm (exited)"
	dv "$_d" comm
	check "${_d}_alive" "$_d: pid $_pid is gone (comm '$_comm')" [ "$_comm" = "$V" ]
	_p=
	{ read _p < "$_pidf"; } 2>/dev/null
	if [ "$_p" != "$_pid" ]; then
		# A restart in place rewrites the file: look again
		sleep 0.2
		{ read _p < "$_pidf"; } 2>/dev/null
	fi
	check "${_d}_pidfile" "$_d: the pid file names '$_p', not $_pid" [ "$_p" = "$_pid" ]

	# A status query, timed.  While the status thread is frozen, or across
	# the restart in place a freeze brings, the bound is the stall limit
	# + 2s and a connection refused or closed without a line is retried
	read_phase
	_ph1="$P_KIND $P_TARGET $P_THREAD $P_RST"
	query "$_d" 10000
	_qok=$Q_OK
	read_phase
	_frozen=0
	_restarted=0
	for _ph in "$_ph1" "$P_KIND $P_TARGET $P_THREAD $P_RST"; do
		set -- $_ph
		if [ "$1" = event ] && [ "$2" = "$_d" ] && [ "$3" != - ]; then
			[ "$3" = status ] && _frozen=1
			if [ "$Q_MS" -gt "$QUERY_MS" ] || [ "$Q_RETRY" -eq 1 ]; then
				[ "$(mon_log_count "$_d" 'restarting in place')" -gt "$4" ] && _restarted=1
			fi
		fi
	done
	if [ "$_frozen" -eq 1 ] || [ "$_restarted" -eq 1 ]; then
		_bound=$RELAXED_MS
		QIN_N=$((QIN_N + 1))
		[ "$Q_MS" -gt "$QIN_MAX" ] && QIN_MAX=$Q_MS
	else
		_bound=$QUERY_MS
		QOUT_N=$((QOUT_N + 1))
		[ "$Q_MS" -gt "$QOUT_MAX" ] && QOUT_MAX=$Q_MS
	fi
	if [ "$Q_RETRY" -eq 1 ]; then
		if [ "$_restarted" -eq 1 ]; then
			QDROP_N=$((QDROP_N + 1))
		else
			fail "${_d}_refused" "$_d: a status connection was refused or closed without a line, no restart in place"
		fi
	fi
	if [ "$_qok" -eq 1 ]; then
		check "${_d}_query" "$_d: a status query took ${Q_MS}ms (bound ${_bound}ms)" [ "$Q_MS" -le "$_bound" ]
	else
		fail "${_d}_query" "$_d: a status query went unanswered (${Q_MS}ms: $Q_LINE)"
	fi

	# A monitor no event is hitting is healthy
	if [ "$_qok" -eq 1 ]; then
		_want=1
		for _ph in "$_ph1" "$P_KIND $P_TARGET $P_THREAD $P_RST"; do
			set -- $_ph
			if [ "$1" = start ] || { [ "$1" = event ] && [ "$2" = "$_d" ]; }; then
				_want=0
			fi
		done
		if [ "$_want" -eq 1 ]; then
			check "${_d}_health" "$_d: unhealthy while no event hits it: $Q_LINE" \
			    [ "$Q_LOSS" -lt 100 -a "$Q_AVG" -gt 0 ]
		fi
	fi

	# Descriptors and memory
	if [ -d "/proc/$_pid/fd" ]; then
		fds_of "$_pid"
		rss_of "$_pid"
		dv "$_d" fds0
		check "${_d}_fds" "$_d: $FDS descriptors (baseline $V)" [ "$FDS" -le $((V + FD_SLACK)) ]
		dv "$_d" rss0
		check "${_d}_rss" "$_d: RSS ${RSS}kB (baseline ${V}kB)" [ "$RSS" -le $((V + RSS_SLACK_KB)) ]
		eval "[ $FDS -gt \$${_d}_fdpk ] && ${_d}_fdpk=$FDS"
		eval "[ $RSS -gt \$${_d}_rsspk ] && ${_d}_rsspk=$RSS"
	fi
}

#
# Events.  Each sets EV_END (ms), EV_LONG (1 when it held the fault until
# the loss reached 100%, so the first healthy line is a real heal) and may
# fail checks of its own.
#

# hold_until_lost D EXTRA_MS: keep the fault until the monitor reports 100%
# loss, then EXTRA_MS more
hold_until_lost()
{
	if wait_for 15 lost "$1"; then
		pass "${1}_outage_seen"
	else
		fail "${1}_outage_seen" "$1: the loss never reached 100% during $KIND: $Q_LINE"
	fi
	sleep_ms "$2"
}

sleep_ms()
{
	sleep "$(($1 / 1000)).$(($1 % 1000 / 100))"
}

# ev_hold: the short or long shape of a fault on the interface
ev_hold()
{
	if [ "$EV_LONG" -eq 1 ]; then
		hold_until_lost "$TARGET" "$HOLD"
	else
		sleep_ms "$HOLD"
	fi
}

ev_recreate()
{
	if [ "$TARGET" = D6 ]; then
		ip -n "$NS_MON" link del mon0
		ev_hold
		netns_veth "$NS_MON" mon0 "$NS_PEER" peer0 && netns_addrs
		check harness_net "cannot recreate the veth pair" [ $? -eq 0 ]
	else
		read _gen < ready
		if [ "$EV_LONG" -eq 1 ]; then
			kill -USR2 "$TUN_PID"            # mute until the loss is total
			hold_until_lost D4 0
			kill -USR1 "$TUN_PID"
			wait_for 10 file_has ready "^$((_gen + 1))\$"
			check harness_tun "tunpeer did not recreate vti0" [ $? -eq 0 ]
			sleep_ms "$HOLD"
			kill -USR2 "$TUN_PID"
		else
			kill -USR1 "$TUN_PID"
			wait_for 10 file_has ready "^$((_gen + 1))\$"
			check harness_tun "tunpeer did not recreate vti0" [ $? -eq 0 ]
		fi
	fi
	now_ms
	EV_END=$NOW
}

ev_addr()
{
	if [ "$TARGET" = D6 ]; then
		ip -n "$NS_MON" addr del fe80::a/64 dev mon0
		check harness_net "cannot remove fe80::a from mon0" [ $? -eq 0 ]
		ev_hold
		ip -n "$NS_MON" addr add fe80::a/64 dev mon0 nodad
	else
		ip -n "$NS_MON" addr del 10.9.0.1 peer 10.9.0.2 dev vti0
		check harness_net "cannot remove 10.9.0.1 from vti0" [ $? -eq 0 ]
		ev_hold
		ip -n "$NS_MON" addr add 10.9.0.1 peer 10.9.0.2 dev vti0
	fi
	check harness_net "cannot add the address back" [ $? -eq 0 ]
	now_ms
	EV_END=$NOW
}

ev_linkflap()
{
	if [ "$TARGET" = D6 ]; then
		# Linux drops link-local addresses on link down whatever
		# keep_addr_on_down says (FreeBSD keeps them); the address comes
		# back after the link, at once or a little later, as a platform
		# script would put it back
		rnd_range 0 1500
		_adly=$R
		EXTRA="$EXTRA address back ${_adly}ms after the link"
		ip -n "$NS_MON" link set dev mon0 down
		ev_hold
		ip -n "$NS_MON" link set dev mon0 up
		sleep_ms "$_adly"
		ip -n "$NS_MON" addr add fe80::a/64 dev mon0 nodad 2>/dev/null
		ip -n "$NS_MON" addr add fd00::1/64 dev mon0 nodad 2>/dev/null
	else
		ip -n "$NS_MON" link set dev vti0 down
		ev_hold
		ip -n "$NS_MON" link set dev vti0 up
	fi
	now_ms
	EV_END=$NOW
}

ev_outage()
{
	if [ "$TARGET" = D6 ]; then
		ip netns exec "$NS_PEER" ip6tables -I INPUT -p icmpv6 --icmpv6-type echo-request -j DROP
		ev_hold
		ip netns exec "$NS_PEER" ip6tables -D INPUT -p icmpv6 --icmpv6-type echo-request -j DROP
	else
		kill -USR2 "$TUN_PID"
		ev_hold
		kill -USR2 "$TUN_PID"
	fi
	now_ms
	EV_END=$NOW
}

# The stale-identifier black hole: echo replies carrying the current
# identifier are dropped on the way in.  u32 matches from the network
# header: IPv4 skips the header by its length field, IPv6's fixed header is
# 40 bytes, so the identifier is the high half of the word at 44.
ev_blackhole()
{
	current_ident "$TARGET"
	EXTRA="$EXTRA identifier $(printf 0x%04x "$IDENT")"
	if [ "$TARGET" = D6 ]; then
		BH_CMD="ip6tables"
		BH_RULE="INPUT -p icmpv6 --icmpv6-type echo-reply -m u32 --u32 44>>16=$IDENT -j DROP"
	else
		BH_CMD="iptables"
		BH_RULE="INPUT -p icmp --icmp-type echo-reply -m u32 --u32 0>>22&0x3C@4>>16=$IDENT -j DROP"
	fi
	ip netns exec "$NS_MON" $BH_CMD -I $BH_RULE
	check harness_rule "$BH_CMD rejected the black-hole rule" [ $? -eq 0 ]
	# The fault stays until the monitor heals itself: silence for a loss and
	# a send interval sends the fresh-socket probe, whose answer rebuilds
	if wait_for 15 bh_rebuilt "$TARGET"; then
		pass "${TARGET}_bh_found"
	else
		fail "${TARGET}_bh_found" "$TARGET: the black hole was not found within 15s"
	fi
	now_ms
	EV_END=$NOW
	EV_LONG=1
}

# bh_rebuilt D: the fresh-socket probe has asked for a rebuild since the event began
bh_rebuilt()
{
	[ "$(mon_log_count "$1" 'rebuilt ICMP sockets \(fresh-socket probe answered')" -gt "$EV_BH0" ]
}

ev_blackhole_after()
{
	_drops=$(ip netns exec "$NS_MON" $BH_CMD -L INPUT -v -n -x | awk '/u32/ { print $1; exit }')
	ip netns exec "$NS_MON" $BH_CMD -D $BH_RULE
	check harness_rule "the black-hole rule never matched (identifier $IDENT)" [ "${_drops:-0}" -gt 0 ]
	check "${TARGET}_bh_rebuild" "$TARGET: no rebuild by the fresh-socket probe" \
	    [ "$(mon_log_count "$TARGET" 'rebuilt ICMP sockets \(fresh-socket probe answered')" -gt "$EV_BH0" ]
}

ev_sighup()
{
	dv "$TARGET" pid
	kill -HUP "$V"
	check "${TARGET}_sighup" "$TARGET: no rebuild logged after SIGHUP" \
	    wait_for 5 sighup_logged "$TARGET"
	now_ms
	EV_END=$NOW
}

sighup_logged()
{
	[ "$(mon_log_count "$1" 'rebuilt ICMP sockets \(SIGHUP\)')" -gt "$EV_HUP0" ]
}

# reexec_gap COUNT: GAP = minimum ms between restarts in place after COUNT
# of them (twice the stall limit, doubling, at most ten minutes)
reexec_gap()
{
	GAP=$((2 * W_MS))
	_c=$1
	while [ "$_c" -gt 1 ] && [ "$GAP" -lt 600000 ]; do
		GAP=$((GAP * 2))
		_c=$((_c - 1))
	done
	[ "$GAP" -gt 600000 ] && GAP=600000
}

ev_freeze()
{
	dv "$TARGET" pid
	_fp=$V
	rnd 4
	set -- send recv status main
	shift $R
	THREAD=$1
	# status, main: a restart in place at once.  send, recv: a rebuild
	# first (short freeze), then a restart one stall limit later (long)
	case "$THREAD" in
	status|main)
		rnd_range $((W_MS + 600)) $((W_MS + 1200))
		FZ_MS=$R
		FZ_SHAPE=restart ;;
	*)
		rnd 2
		if [ "$R" -eq 0 ]; then
			rnd_range $((W_MS + 300)) $((W_MS + 800))
			FZ_SHAPE=rebuild
		else
			rnd_range $((2 * W_MS + 600)) $((2 * W_MS + 3000))
			FZ_SHAPE=restart
		fi
		FZ_MS=$R ;;
	esac
	EXTRA="$EXTRA $THREAD ${FZ_MS}ms"
	EV_WDX0=$(mon_log_count "$TARGET" "watchdog: $THREAD stalled for [0-9]+s, restarting in place")
	set_phase event "$TARGET" "$THREAD" "$EV_RST0"
	_ff=frz.$EV_N
	freeze "$_fp" "$THREAD" "$((FZ_MS / 1000)).$(printf %03d $((FZ_MS % 1000)))" "$_ff"
	check harness_freezer "the freezer could not stop $THREAD: $(cat "$_ff")" [ $? -eq 0 ]
	_fz=$FREEZER
	FREEZERS="$FREEZERS $_fz"
	now_ms
	_fz0=$NOW
	wait_for $((FZ_MS / 1000 + 15)) grep -Eq '^(released|gone)' "$_ff"
	check harness_freezer "the freezer did not finish: $(cat "$_ff")" [ $? -eq 0 ]
	wait "$_fz" 2>/dev/null
	FREEZERS=
	now_ms
	EV_END=$NOW
	grep -q '^gone' "$_ff" && FZ_GONE=1 || FZ_GONE=0
	FZ_START=$_fz0
}

ev_freeze_after()
{
	_t=$TARGET
	_restarted=$(($(mon_log_count "$_t" 'restarting in place') - EV_RST0))
	if [ "$THREAD" = send ] || [ "$THREAD" = recv ]; then
		check "${_t}_wd_rebuild" "$_t: $THREAD frozen ${FZ_MS}ms and no watchdog rebuild" \
		    [ "$(mon_log_count "$_t" "watchdog: [a-z]+ stalled for [0-9]+s, rebuilding sockets")" -gt "$EV_WDR0" ]
	fi
	if [ "$FZ_SHAPE" = rebuild ]; then
		check "${_t}_wd_restart" "$_t: $THREAD frozen ${FZ_MS}ms (less than two stall limits) and restarted" \
		    [ "$_restarted" -eq 0 ]
	else
		# Detection: a heartbeat is at most 1s old when the freeze starts
		case "$THREAD" in
		status|main) _det=$W_MS ;;
		*) _det=$((2 * W_MS)) ;;
		esac
		eval "_rc=\$${_t}_rcount _rl=\$${_t}_rlast"
		reexec_gap "$_rc"
		_must=1
		_may=1
		if [ "$_rc" -gt 0 ]; then
			[ $((FZ_START + _det + 500 - _rl)) -ge $((GAP + 1000)) ] || _must=0
			[ $((EV_END - _rl)) -ge $((GAP - 1000)) ] || _may=0
		fi
		if [ "$_restarted" -gt 0 ]; then
			check "${_t}_wd_restart" "$_t: restart in place not logged for $THREAD" \
			    [ "$(mon_log_count "$_t" "watchdog: $THREAD stalled for [0-9]+s, restarting in place")" -gt "$EV_WDX0" ]
			check "${_t}_wd_ratelimit" "$_t: restart in place ${_rc} restarts and $(((EV_END - _rl) / 1000))s after the last (gap ${GAP}ms)" \
			    [ "$_may" -eq 1 ]
			check "${_t}_wd_same" "$_t: the freezer saw the thread stay after the restart" [ "$FZ_GONE" -eq 1 ]
			eval "${_t}_rcount=$((_rc + _restarted)) ${_t}_rlast=$EV_END"
		else
			check "${_t}_wd_restart" "$_t: $THREAD frozen ${FZ_MS}ms, no restart in place (${_rc} before, last $(((FZ_START - _rl) / 1000))s earlier, gap ${GAP}ms)" \
			    [ "$_must" -eq 0 ]
			[ "$_must" -eq 0 ] && say "  no restart in place: deferred by the rate limit"
		fi
	fi
}

ev_clients()
{
	rnd_range 100 600
	_nc=$R
	rnd_range 8 64
	_nh=$R
	rnd_range 1000 4000
	_th=$R
	EXTRA="$EXTRA close $_nc, hold $_nh for ${_th}ms"
	dv "$TARGET" sock
	"$SQ" -m hold -n "$_nh" -t "$_th" "$V" > hold.out 2>&1 &
	_ph=$!
	"$SQ" -m close -n "$_nc" "$V" > close.out 2>&1
	_rcc=$?
	wait "$_ph"
	_rch=$?
	check "${TARGET}_clients" "$TARGET: hostile clients could not connect: $(cat close.out hold.out)" \
	    [ "$_rcc" -eq 0 -a "$_rch" -eq 0 ]
	now_ms
	EV_END=$NOW
}

# run_event KIND TARGET
run_event()
{
	KIND=$1
	TARGET=$2
	OTHER=-
	for _m in $MONITORS; do
		[ "$_m" != "$TARGET" ] && OTHER=$_m
	done
	EV_N=$((EV_N + 1))
	eval "N_$KIND=\$((\${N_$KIND:-0} + 1))"
	EV_LONG=0
	HOLD=0
	THREAD=-
	case "$KIND" in
	recreate|addr|linkflap|outage)
		rnd 2
		EV_LONG=$R
		if [ "$EV_LONG" -eq 1 ]; then
			rnd_range 0 1500
			DESC="until 100% loss, then ${R}ms"
		elif [ "$KIND" = outage ]; then
			rnd_range 2000 5000
			DESC="${R}ms"
		else
			rnd_range 500 3000
			DESC="${R}ms"
		fi
		HOLD=$R ;;
	*)
		DESC= ;;
	esac
	[ "$KIND" = recreate ] && [ "$TARGET" = D4 ] && [ "$EV_LONG" -eq 0 ] && DESC="gap 1000ms"
	rnd_range 7000 9000
	EV_PERIOD=$R

	# Counts before, for checks after
	EV_RST0=$(mon_log_count "$TARGET" 'restarting in place')
	EV_REB0=$(mon_log_count "$TARGET" 'rebuilt ICMP sockets')
	EV_HUP0=$(mon_log_count "$TARGET" 'rebuilt ICMP sockets \(SIGHUP\)')
	EV_BH0=$(mon_log_count "$TARGET" 'rebuilt ICMP sockets \(fresh-socket probe answered')
	EV_WDR0=$(mon_log_count "$TARGET" 'watchdog: [a-z]+ stalled for [0-9]+s, rebuilding sockets')
	if [ "$OTHER" != - ]; then
		EV_OREB0=$(mon_log_count "$OTHER" 'rebuilt ICMP sockets')
		EV_ORST0=$(mon_log_count "$OTHER" 'restarting in place')
	fi
	now_ms
	EV_START=$NOW

	set_phase event "$TARGET" - "$EV_RST0"
	say "event $EV_N: $KIND $TARGET${DESC:+ $DESC}"
	EXTRA=
	"ev_$KIND"
	now_ms
	say "  ended after $((NOW - EV_START))ms:${EXTRA:- -}"

	# Heal.  A long fault drove the loss to 100%: the first status line
	# with loss below 100 and a real latency is the first reply recorded,
	# and must come within the heal bound after the fault ended.
	query "$TARGET" 10000
	EV_LOSS_END=$Q_LOSS
	if [ "$EV_LONG" -eq 1 ] || [ "$KIND" = freeze ]; then
		_hd=$((EV_END + HEAL_MS))
		while :; do
			if healthy "$TARGET"; then
				_heal=$((NOW - EV_END))
				[ "$_heal" -lt 0 ] && _heal=0
				eval "T_$KIND=\$((\${T_$KIND:-0} + 1))"
				eval "[ $_heal -gt \${HW_$KIND:-0} ] && HW_$KIND=$_heal"
				pass "${TARGET}_heal"
				say "  healed after ${_heal}ms (loss at the end of the event $EV_LOSS_END)"
				[ "$KIND" = blackhole ] || EV_LOSS_END=100
				break
			fi
			if [ "$NOW" -ge "$_hd" ]; then
				fail "${TARGET}_heal" "$TARGET: not healthy ${HEAL_MS}ms after $KIND ended: $Q_LINE"
				break
			fi
			sleep 0.05
		done
		[ "$KIND" = freeze ] && EV_LOSS_END=$Q_LOSS
		set_phase idle - - 0
	fi
	[ "$KIND" = blackhole ] && ev_blackhole_after
	[ "$KIND" = freeze ] && ev_freeze_after

	# Checks after the event
	case "$KIND" in
	recreate)
		check "${TARGET}_rebuild" "$TARGET: no socket rebuild logged after $KIND" \
		    wait_for 5 rebuilt_since "$TARGET" ;;
	addr)
		# The same interface keeps its index: the sockets stay
		check "${TARGET}_no_rebuild" "$TARGET: the address came back on the same interface and the sockets were rebuilt" \
		    [ "$(mon_log_count "$TARGET" 'rebuilt ICMP sockets')" -eq "$EV_REB0" ] ;;
	outage)
		check "${TARGET}_no_rebuild" "$TARGET: a short real outage caused a rebuild" \
		    [ "$(mon_log_count "$TARGET" 'rebuilt ICMP sockets')" -eq "$EV_REB0" ] ;;
	esac
	if [ "$KIND" != freeze ]; then
		check "${TARGET}_no_restart" "$TARGET: a restart in place during $KIND" \
		    [ "$(mon_log_count "$TARGET" 'restarting in place')" -eq "$EV_RST0" ]
	fi
	if [ "$OTHER" != - ]; then
		check "${OTHER}_untouched" "$OTHER: rebuilt or restarted during $KIND of $TARGET" \
		    [ "$(mon_log_count "$OTHER" 'rebuilt ICMP sockets')" -eq "$EV_OREB0" -a \
		      "$(mon_log_count "$OTHER" 'restarting in place')" -eq "$EV_ORST0" ]
	fi

	# The healthy period; the checker expects every monitor healthy once
	# the heal bound has passed
	now_ms
	_idle_at=$((EV_END + HEAL_MS))
	[ "$NOW" -lt "$_idle_at" ] && sleep_ms $((_idle_at - NOW))
	set_phase idle - - 0
	EV_RST1=$(mon_log_count "$TARGET" 'restarting in place')
	now_ms
	_end=$((EV_END + EV_PERIOD))
	[ "$NOW" -lt "$_end" ] && sleep_ms $((_end - NOW))

	# After the healthy period: the loss has fallen, the latency is real
	query "$TARGET" 2000
	if [ "$Q_OK" -eq 1 ] && [ "$Q_LOSS" -lt 100 ] && [ "$Q_AVG" -gt 0 ] &&
	    { [ "$Q_LOSS" -lt "$EV_LOSS_END" ] || [ "$Q_LOSS" -eq 0 ]; }; then
		pass "${TARGET}_recovered"
		eval "H_$KIND=\$((\${H_$KIND:-0} + 1))"
	else
		fail "${TARGET}_recovered" "$TARGET: $((EV_PERIOD / 1000))s after $KIND the loss has not fallen below $EV_LOSS_END: $Q_LINE"
	fi
	check "${TARGET}_quiet_restart" "$TARGET: a restart in place during the healthy period" \
	    [ "$(mon_log_count "$TARGET" 'restarting in place')" -eq "$EV_RST1" ]
}

rebuilt_since()
{
	[ "$(mon_log_count "$1" 'rebuilt ICMP sockets')" -gt "$EV_REB0" ]
}

#
# Start-up
#
say "soak: seed $SEED, ${SOAK_SECONDS}s, $DP (SOAK_SEED=$SEED reproduces the schedule)"
netns_pair || { echo "soak: cannot build the test network" >&2; echo "0 passed, 1 failed"; exit 1; }
MONITORS=D6
start_monitor D6 GW fe80::a%mon0 fe80::b%mon0 || { echo "0 passed, 1 failed"; exit 1; }
if [ "$TUNNEL" = 1 ]; then
	up='ip link set dev $TUNPEER_IF up && ip addr add 10.9.0.1 peer 10.9.0.2 dev $TUNPEER_IF'
	TUN_PID=$(netns_bg "$NS_MON" tun.out tun.err "$TUNPEER" -i vti0 -c "$up" -r "$work/ready" \
	    -p "$work/tun.pid" -d 5 -g 1000)
	if ! wait_for 10 file_has ready '^1$'; then
		echo "soak: tunpeer did not come up: $(cat tun.err)" >&2
		echo "0 passed, 1 failed"
		exit 1
	fi
	MONITORS="D6 D4"
	start_monitor D4 VTI 10.9.0.1 10.9.0.2 || { echo "0 passed, 1 failed"; exit 1; }
fi
for d in $MONITORS; do
	if ! wait_for 10 healthy "$d"; then
		dv "$d" err
		echo "soak: $d never healthy: $Q_LINE $(cat "$V")" >&2
		echo "0 passed, 1 failed"
		exit 1
	fi
done
# The baseline, once every thread runs and a few alerts could have fired
sleep 2
for d in $MONITORS; do
	dv "$d" pid
	fds_of "$V"
	rss_of "$V"
	read _comm < "/proc/$V/comm"
	eval "${d}_comm=\$_comm"
	eval "${d}_fds0=$FDS ${d}_rss0=$RSS ${d}_rcount=0 ${d}_rlast=0"
	say "$d: baseline $FDS descriptors, RSS ${RSS}kB"
done
set_phase idle - - 0
checker &
CHECKER=$!

#
# The schedule: first every kind once in a random order, then random kinds
#
KINDS="recreate addr linkflap outage blackhole sighup freeze clients"
WEIGHTED="recreate recreate recreate addr addr linkflap linkflap outage outage blackhole sighup sighup freeze freeze freeze clients clients"
if [ -n "${SOAK_KINDS:-}" ]; then
	_w=
	for k in $WEIGHTED; do
		case " $SOAK_KINDS " in *" $k "*) _w="$_w $k" ;; esac
	done
	if [ -z "$_w" ]; then
		echo "soak: SOAK_KINDS names none of: $KINDS" >&2
		exit 1
	fi
	KINDS=$SOAK_KINDS
	WEIGHTED=$_w
fi
EV_N=0
first=$KINDS
now_ms
S0=$NOW
while [ $((NOW - S0)) -lt $((SOAK_SECONDS * 1000)) ]; do
	if [ -n "$first" ]; then
		set -- $first
		rnd $#
		shift $R
		kind=$1
		first=$(echo " $first " | sed "s/ $kind / /; s/^ //; s/ \$//")
	else
		set -- $WEIGHTED
		rnd $#
		shift $R
		kind=$1
	fi
	target=D6
	if [ "$TUNNEL" = 1 ]; then
		rnd 3
		[ "$R" -eq 2 ] && target=D4
	fi
	run_event "$kind" "$target"
	dv "$target" pid
	if ! daemon_alive "$V"; then
		say "$target is gone; stopping the schedule"
		break
	fi
	now_ms
done

#
# End: the checker's figures, the final checks, a clean exit on SIGTERM,
# the summary
#
touch stop
i=0
while kill -0 "$CHECKER" 2>/dev/null && [ $i -lt 150 ]; do
	sleep 0.1
	i=$((i + 1))
done
CHECKER=
if [ -f checker.stats ]; then
	. ./checker.stats
else
	C_PASSED=0
	C_FAILED=1
	QOUT_MAX=0 QIN_MAX=0 QOUT_N=0 QIN_N=0 QDROP_N=0 TICKS=0
	echo "soak: the checker left no figures" >&2
fi
set_phase start - - 0

for d in $MONITORS; do
	dv "$d" pid
	_pid=$V
	dv "$d" pidf
	_pidf=$V
	dv "$d" sock
	_sock=$V
	dv "$d" err
	_err=$V
	eval "${d}_healed=\$(grep -c 'healed:' \"\$_err\")"
	eval "${d}_rebuilt=\$(grep -c 'rebuilt ICMP sockets' \"\$_err\")"
	eval "${d}_restarts=\$(grep -c 'restarting in place' \"\$_err\")"
	check "${d}_alive" "$d: pid $_pid is gone at the end" daemon_alive "$_pid"
	kill -TERM "$_pid" 2>/dev/null
	check "${d}_exit" "$d: did not exit within 5s of SIGTERM" daemon_exit_status 5 "$_pid"
	check "${d}_exit_log" "$d: no 'exiting on signal 15' line" grep -q 'exiting on signal 15' "$_err"
	check "${d}_exit_files" "$d: pid file or status socket left behind" [ ! -e "$_pidf" -a ! -e "$_sock" ]
done

now_ms
echo
echo "== soak summary: seed $SEED, schedule ${SOAK_SECONDS}s, ran $(((NOW - S0) / 1000))s, $EV_N events, $(date '+%Y-%m-%d %H:%M')"
printf '%-10s %6s %9s %12s %14s\n' event count recovered "timed heals" "worst heal ms"
HW=0
for k in $KINDS; do
	eval "printf '%-10s %6s %9s %12s %14s\\n' $k \${N_$k:-0} \${H_$k:-0} \${T_$k:-0} \${HW_$k:-0}"
	eval "[ \${HW_$k:-0} -gt $HW ] && HW=\$HW_$k"
done
echo "(recovered: loss fallen and latency real at the end of the healthy period; timed heals: events" \
    "that drove the loss to 100% or froze a thread, worst heal = fault end to first healthy status," \
    "bound ${HEAL_MS}ms; worst overall ${HW}ms)"
# row LABEL FIELD [BASELINE_FIELD]: one line of the per-monitor table
row()
{
	printf '%-30s' "$1"
	for d in $MONITORS; do
		dv "$d" "$2"
		_cell=$V
		if [ $# -gt 2 ]; then
			dv "$d" "$3"
			_cell="$_cell ($V)"
		fi
		printf ' %14s' "$_cell"
	done
	echo
}
row monitor name
row "healed: log lines" healed
row "socket rebuilds" rebuilt
row "restarts in place" restarts
row "peak fds (baseline)" fdpk fds0
row "peak RSS kB (baseline)" rsspk rss0
echo "status queries: $QOUT_N outside freezes, worst ${QOUT_MAX}ms (bound ${QUERY_MS}ms);" \
    "$QIN_N inside freezes/restarts, worst ${QIN_MAX}ms (bound ${RELAXED_MS}ms)," \
    "$QDROP_N of them refused or dropped by a restart in place and retried"
echo "alert command runs: $(wc -l < "$work/alerts.log" | tr -d ' ')"
PASSED=$((PASSED + C_PASSED))
FAILED=$((FAILED + C_FAILED))
echo "violations: $FAILED"
if [ "$FAILED" -gt 0 ]; then
	echo "-- violations (first of each run of failed checks):"
	cat violations.log 2>/dev/null
	for d in $MONITORS; do
		dv "$d" err
		echo "-- last lines of $d's log:"
		tail -n 25 "$V"
	done
fi
FINISHED=1
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ] && exit 0
exit 1
