#!/bin/sh
#
# make demo: dpinger monitoring an IPv6 link-local gateway in a network
# namespace, the monitored interface destroyed and recreated (what an IPsec
# VTI reload or a PPPoE reconnect does), and the monitor healing in place:
# same pid, the status line going from loss back to 0% with real latency.
# Stock dpinger 3.3 reports "0 0 100" forever after the same event.
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
tag="dpdemo_$$"
mon="${tag}_mon"
peer="${tag}_peer"
work=$(mktemp -d /tmp/dpinger-demo.XXXXXX) || exit 1
sock="$work/GW.sock"
start=$(date +%s.%N)
dp_pid=""

cleanup()
{
	[ -n "$dp_pid" ] && kill -TERM "$dp_pid" 2>/dev/null
	ip netns del "$mon" 2>/dev/null
	ip netns del "$peer" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# say TEXT: a line with the seconds since the start
say()
{
	printf '[%5.1fs] %s\n' "$(echo "$(date +%s.%N) $start" | awk '{ print $1 - $2 }')" "$*"
}

# stamp PREFIX: timestamp every line read from stdin
stamp()
{
	while IFS= read -r line; do
		say "$1$line"
	done
}

link_up()
{
	ip link add name mon0 netns "$mon" type veth peer name peer0 netns "$peer" &&
	ip -n "$mon" link set dev mon0 up &&
	ip -n "$peer" link set dev peer0 up &&
	ip -n "$mon" addr add fe80::a/64 dev mon0 nodad &&
	ip -n "$peer" addr add fe80::b/64 dev peer0 nodad
}

status()
{
	say "status socket: $("$query" -t 1000 "$sock" 2>&1)"
}

echo "dpinger self-healing demo: an IPv6 link-local gateway whose interface is destroyed and recreated"
echo
ip netns add "$mon" && ip netns add "$peer" || exit 1
ip -n "$mon" link set dev lo up
ip -n "$peer" link set dev lo up
link_up || { echo "make demo: cannot create the veth pair" >&2; exit 1; }
say "namespaces $mon (monitor, fe80::a on mon0) and $peer (gateway, fe80::b on peer0) joined by a veth pair"

set -- -f -s 200 -l 600 -t 5s -r 1s -i GW -B fe80::a%mon0 -u "$sock" fe80::b%mon0
say "running: dpinger $*"
ip netns exec "$mon" "$dpinger" "$@" 2> "$work/log" > "$work/report" &
dp_pid=$!
tail -n +1 -f "$work/report" 2>/dev/null | stamp "report: " &
tail_report=$!
tail -n +1 -f "$work/log" 2>/dev/null | stamp "log:    " &
tail_log=$!

sleep 4
status
say "pid $dp_pid; destroying mon0 (like an IPsec VTI reload)"
ip -n "$mon" link del mon0
sleep 3
status
say "recreating mon0 with the same link-local addresses (new interface index)"
link_up || say "could not recreate the link"
sleep 7
status
if kill -0 "$dp_pid" 2>/dev/null; then
	say "pid $dp_pid is the same process: healed in place, no restart"
else
	say "dpinger is gone"
fi
sleep 1
kill "$tail_report" "$tail_log" 2>/dev/null
kill -TERM "$dp_pid" 2>/dev/null
wait "$dp_pid" 2>/dev/null
dp_pid=""
echo
echo "Cleaned up: namespaces $mon and $peer removed."
