#!/bin/sh
#
# make demo: dpinger monitoring an IPv6 link-local gateway in a network
# namespace, the monitored interface destroyed and recreated (what an IPsec
# VTI reload or a PPPoE reconnect does), and the monitor healing in place:
# same pid, the status line going from loss back to 0% with real latency.
# Stock dpinger 3.3 reports "0 0 100" forever after the same event.
#
# make demo STOCK_DPINGER=/path/to/stock/dpinger: the stock binary and this
# fork side by side, each in its own namespace pair, with the same command
# line and the same interface recreation at the same moment; prints both
# status lines every second and writes a timeline picture of loss and
# latency for both (DEMO_SVG, default demo-timeline.svg in the current
# directory).
#
# Everything it creates is removed at the end.
#
set -u

if [ "$(id -u)" -ne 0 ]; then
	echo "make demo: needs root to create network namespaces; run it as root (e.g. sudo make demo)" >&2
	exit 1
fi
for prog in ip awk; do
	if ! command -v "$prog" >/dev/null 2>&1; then
		echo "make demo: $prog is missing; install iproute2 and awk (apt-get install iproute2 gawk)" >&2
		exit 1
	fi
done

top=$(cd "$(dirname "$0")/.." && pwd)
dpinger="$top/dpinger"
query="$top/tests/tools/sockquery"
stock=${STOCK_DPINGER:-}
if [ -n "$stock" ]; then
	case "$stock" in
	/*) ;;
	*) stock="$(pwd)/$stock" ;;
	esac
	if [ ! -f "$stock" ] || [ ! -x "$stock" ]; then
		echo "make demo: STOCK_DPINGER=$STOCK_DPINGER is not an executable file" >&2
		exit 1
	fi
	svg=${DEMO_SVG:-demo-timeline.svg}
	case "$svg" in
	/*) ;;
	*) svg="$(pwd)/$svg" ;;
	esac
	if [ ! -d "$(dirname "$svg")" ]; then
		echo "make demo: DEMO_SVG=$svg: no such directory" >&2
		exit 1
	fi
fi
tag="dpdemo_$$"
work=$(mktemp -d /tmp/dpinger-demo.XXXXXX) || exit 1
start=$(date +%s.%N)
made_ns=""
pids=""

cleanup()
{
	for pid in $pids; do
		kill -TERM "$pid" 2>/dev/null
	done
	for ns in $made_ns; do
		ip netns del "$ns" 2>/dev/null
	done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# say TEXT: a line with the seconds since the start
say()
{
	printf '[%5.1fs] %s\n' "$(elapsed)" "$*"
}

elapsed()
{
	echo "$(date +%s.%N) $start" | awk '{ printf "%.1f", $1 - $2 }'
}

# stamp PREFIX: timestamp every line read from stdin
stamp()
{
	while IFS= read -r line; do
		say "$1$line"
	done
}

# stamp_changes PREFIX: like stamp, but a line equal to the one before is
# not shown again
stamp_changes()
{
	last=""
	while IFS= read -r line; do
		[ "$line" = "$last" ] || say "$1$line"
		last=$line
	done
}

# netns_of LANE mon|peer: the namespace names of a lane
netns_of()
{
	if [ -n "$1" ]; then
		echo "${tag}_$1_$2"
	else
		echo "${tag}_$2"
	fi
}

# lane_make LANE: its two namespaces, lo up
lane_make()
{
	for side in mon peer; do
		ns=$(netns_of "$1" $side)
		made_ns="$made_ns $ns"
		ip netns add "$ns" && ip -n "$ns" link set dev lo up || return 1
	done
}

# link_up LANE: the veth pair with the link-local addresses
link_up()
{
	mon=$(netns_of "$1" mon)
	peer=$(netns_of "$1" peer)
	ip link add name mon0 netns "$mon" type veth peer name peer0 netns "$peer" &&
	ip -n "$mon" link set dev mon0 up &&
	ip -n "$peer" link set dev peer0 up &&
	ip -n "$mon" addr add fe80::a/64 dev mon0 nodad &&
	ip -n "$peer" addr add fe80::b/64 dev peer0 nodad
}

# link_down LANE
link_down()
{
	ip -n "$(netns_of "$1" mon)" link del mon0
}

# status_of SOCK: the status line, or "(no answer)"
status_of()
{
	"$query" -t 500 "$1" 2>/dev/null || echo "(no answer)"
}

if [ -z "$stock" ]; then
	sock="$work/GW.sock"
	echo "dpinger self-healing demo: an IPv6 link-local gateway whose interface is destroyed and recreated"
	echo
	lane_make "" || exit 1
	link_up "" || { echo "make demo: cannot create the veth pair" >&2; exit 1; }
	mon=$(netns_of "" mon)
	peer=$(netns_of "" peer)
	say "namespaces $mon (monitor, fe80::a on mon0) and $peer (gateway, fe80::b on peer0) joined by a veth pair"

	set -- -f -s 200 -l 600 -t 5s -r 1s -i GW -B fe80::a%mon0 -u "$sock" fe80::b%mon0
	say "running: dpinger $*"
	ip netns exec "$mon" "$dpinger" "$@" 2> "$work/log" > "$work/report" &
	dp_pid=$!
	pids="$dp_pid"
	tail -n +1 -f "$work/report" 2>/dev/null | stamp "report: " &
	tail_report=$!
	tail -n +1 -f "$work/log" 2>/dev/null | stamp "log:    " &
	tail_log=$!

	sleep 4
	say "status socket: $(status_of "$sock")"
	say "pid $dp_pid; destroying mon0 (like an IPsec VTI reload)"
	link_down ""
	sleep 3
	say "status socket: $(status_of "$sock")"
	say "recreating mon0 with the same link-local addresses (new interface index)"
	link_up "" || say "could not recreate the link"
	sleep 7
	say "status socket: $(status_of "$sock")"
	if kill -0 "$dp_pid" 2>/dev/null; then
		say "pid $dp_pid is the same process: healed in place, no restart"
	else
		say "dpinger is gone"
	fi
	sleep 1
	kill "$tail_report" "$tail_log" 2>/dev/null
	kill -TERM "$dp_pid" 2>/dev/null
	wait "$dp_pid" 2>/dev/null
	pids=""
	echo
	echo "Cleaned up: namespaces $mon and $peer removed."
	exit 0
fi

# Side by side: stock and fork, each in its own namespace pair
echo "dpinger demo: stock $(basename "$stock") beside this fork, the same IPv6 link-local gateway"
echo "interface destroyed and recreated under both at the same moment"
echo
for lane in stock fork; do
	lane_make "$lane" || exit 1
	link_up "$lane" || { echo "make demo: cannot create the veth pair for $lane" >&2; exit 1; }
done
say "namespace pairs $(netns_of stock mon)/$(netns_of stock peer) and $(netns_of fork mon)/$(netns_of fork peer), each joined by a veth pair"
set -- -f -s 200 -l 600 -t 5s -r 0 -i GW -B fe80::a%mon0
say "both run: dpinger $* -u GW.sock fe80::b%mon0"
ip netns exec "$(netns_of stock mon)" "$stock" "$@" -u "$work/stock.sock" fe80::b%mon0 2> "$work/stock.log" &
stock_pid=$!
ip netns exec "$(netns_of fork mon)" "$dpinger" "$@" -u "$work/fork.sock" fe80::b%mon0 2> "$work/fork.log" &
fork_pid=$!
pids="$stock_pid $fork_pid"
# Log lines as they come, a line repeated at once shown only the first time
tail --pid="$stock_pid" -n +1 -f "$work/stock.log" 2>/dev/null | stamp_changes "stock log: " &
tail_stock=$!
tail --pid="$fork_pid" -n +1 -f "$work/fork.log" 2>/dev/null | stamp_changes "fork log:  " &
tail_fork=$!

# The sampler: both status lines four times a second, for the picture
: > "$work/samples"
(
	while :; do
		t=$(elapsed)
		for lane in stock fork; do
			line=$("$query" -t 200 "$work/$lane.sock" 2>/dev/null) &&
			    echo "$t $lane $line" | awk '{ print $1, $2, $(NF-2), $(NF-1), $NF }' ||
			    echo "$t $lane - - -"
		done >> "$work/samples"
		sleep 0.25
	done
) &
sampler=$!
pids="$pids $sampler"

# row: both status lines side by side
row()
{
	say "$(printf 'stock: %-24s fork: %s' "$(status_of "$work/stock.sock")" "$(status_of "$work/fork.sock")")"
}

# rows N: a row every second for N seconds
rows()
{
	_n=0
	while [ $_n -lt "$1" ]; do
		sleep 1
		row
		_n=$((_n + 1))
	done
}

rows 4
t_down=$(elapsed)
say "destroying mon0 under both (like an IPsec VTI reload)"
link_down stock
link_down fork
rows 3
t_up=$(elapsed)
say "recreating mon0 under both, same link-local addresses (new interface index)"
link_up stock || say "could not recreate the stock link"
link_up fork || say "could not recreate the fork link"
rows 12
kill "$sampler" 2>/dev/null
wait "$sampler" 2>/dev/null
for lane in stock fork; do
	eval "pid=\$${lane}_pid"
	if kill -0 "$pid" 2>/dev/null; then
		say "$lane: pid $pid still running, status: $(status_of "$work/$lane.sock"); $(wc -l < "$work/$lane.log") log lines, $(grep -c 'sendto error' "$work/$lane.log") of them 'sendto error'"
	else
		say "$lane: gone"
	fi
done
# The log followers end with their daemons (tail --pid)
kill -TERM $stock_pid $fork_pid 2>/dev/null
wait $tail_stock $tail_fork 2>/dev/null
pids=""
printf '%s mon0 destroyed\n%s mon0 recreated\n' "$t_down" "$t_up" > "$work/events"
if sh "$top/tests/tools/timeline.sh" -o "$svg" \
    -t "Interface recreated under stock $(basename "$stock") and the fork (status socket, 4 readings/s)" \
    "$work/samples" "$work/events"; then
	echo
	echo "Timeline picture: $svg"
else
	echo "make demo: could not draw the timeline" >&2
fi
echo "Cleaned up: namespaces removed."
