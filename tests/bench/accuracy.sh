#!/bin/sh
#
# Accuracy: what dpinger reports against the truth, on tun interfaces whose
# far end is tests/tools/tunpeer with a known delay, jitter and loss.  The
# truth for the very same probes comes from build/bench/wirertt, which
# pairs requests and replies on the tun with kernel timestamps (so it does
# not depend on any process being scheduled in time); the model values
# (mean d + j/2, stddev sqrt(j(j+2)/12) for tunpeer's whole-millisecond
# jitter, loss from tunpeer's own counters) are printed next to it.
# Each phase runs the daemon under test and, when build/bench/proto/dpinger
# exists, a prototype (kernel receive timestamps) side by side on the same
# tun, once on an idle machine and once with both cores busy (two shell
# busy loops at nice 0).
#
#   sh tests/bench/accuracy.sh            (root; BENCH_QUICK=1 for short phases)
#
. "$(dirname "$0")/lib.sh"

phase_s=${BENCH_ACC_SECONDS:-20}
[ "$QUICK" = 1 ] && phase_s=8
send_ms=100
loss_ms=1000
delay=20
jitter=10
lossp=5
PROTO=${BENCH_PROTO:-$top/build/bench/proto/dpinger}
[ -x "$PROTO" ] || PROTO=""

NS=$(netns_mk acc) || exit 1
# A kernel peer on a veth pair as well: near-zero true RTT
NSV=$(netns_mk accv) || exit 1
NSP=$(netns_mk accp) || exit 1
netns_veth "$NSV" mon0 "$NSP" peer0 || exit 1
ip -n "$NSV" addr add 10.0.0.1/24 dev mon0 && ip -n "$NSP" addr add 10.0.0.2/24 dev peer0 || exit 1
dad_wait "$NSV" mon0
# A permanent neighbour entry: the first probe must not wait for ARP, which
# the wire timer (it sees the request only when it leaves) would not count
mac=$(ip -n "$NSP" link show peer0 | awk '/link\/ether/ { print $2 }')
ip -n "$NSV" neigh replace 10.0.0.2 lladdr "$mac" dev mon0 nud permanent || exit 1

# tun_up N DELAY JITTER LOSS: tunpeer on vtiN (10.9.N.1 <-> 10.9.N.2) and
# a wire timer on it
tun_up()
{
	_up="ip link set dev \$TUNPEER_IF up && ip addr add 10.9.$1.1 peer 10.9.$1.2 dev \$TUNPEER_IF"
	rm -f "ready$1"
	netns_bg "$NS" "tun$1.out" "tun$1.err" "$top/tests/tools/tunpeer" -i "vti$1" -c "$_up" \
	    -r "$work/ready$1" -p "$work/tun$1.pid" -d "$2" -j "$3" -l "$4" -s 42 >/dev/null
	wait_for 10 file_has "ready$1" '^1$' || { echo "bench: tunpeer vti$1 did not come up" >&2; exit 1; }
	wire_up "$1" "$NS" "vti$1"
}

# wire_up N NS IF: a wire timer on IF
wire_up()
{
	WIRE_PID=$(netns_bg "$2" "wire$1.out" "wire$1.err" "$bench_bin/wirertt" -i "$3" -l "$loss_ms" \
	    -T $((phase_s + 30)))
	wait_for 10 file_has "wire$1.out" '^ready' || { echo "bench: wirertt $3 did not start" >&2; exit 1; }
	echo "$WIRE_PID" > "wire$1.pid"
}

# daemon N NAME BINARY [NS SRC DST]: one monitor (of 10.9.N.2 by default)
# with status socket NAME.sock
daemon()
{
	_pid=$(netns_bg "${4:-$NS}" "$2.out" "$2.err" "$3" -f -r 0 -s "$send_ms" -l "$loss_ms" -t 60s \
	    -B "${5:-10.9.$1.1}" -u "$work/$2.sock" "${6:-10.9.$1.2}") || exit 1
	printf '0x%04x\n' $((_pid & 0xffff)) > "$2.ident"
}

# wire_field N NAME FIELD: a field of the wire snapshot for daemon NAME
wire_field()
{
	awk -v id="$(cat "$2.ident")" -v f="$3" '$1 == "ident" && $2 == id {
	    for (i = 3; i < NF; i += 2) if ($i == f) print $(i + 1) }' "wire$1.snap"
}

# run_phase LABEL LOADED
run_phase()
{
	procs_stop
	tun_up 0 "$delay" 0 0
	tun_up 1 "$delay" "$jitter" "$lossp"
	wire_up 2 "$NSV" mon0
	daemon 0 fix_dp "$DPINGER"
	daemon 1 jit_dp "$DPINGER"
	daemon 2 ker_dp "$DPINGER" "$NSV" 10.0.0.1 10.0.0.2
	if [ -n "$PROTO" ]; then
		daemon 0 fix_pr "$PROTO"
		daemon 1 jit_pr "$PROTO"
		daemon 2 ker_pr "$PROTO" "$NSV" 10.0.0.1 10.0.0.2
	fi
	[ "$2" = 1 ] && busy_start 2
	sleep "$phase_s"
	for n in 0 1 2; do
		kill -USR1 "$(cat "wire$n.pid")"
	done
	for s in fix_dp jit_dp ker_dp fix_pr jit_pr ker_pr; do
		[ -S "$s.sock" ] && status_fields "$s.sock" > "$s.st"
	done
	busy_stop
	for n in 0 1 2; do
		wait_for 5 file_has "wire$n.out" '^end' || true
		sed -n '/^ident/p' "wire$n.out" > "wire$n.snap"
		[ -f "tun$n.pid" ] && kill -TERM "$(cat "tun$n.pid")" 2>/dev/null
	done
	wait_for 5 file_has tun1.err '^tunpeer: requests' || true

	report "fixed $1" 0 fix "$delay" 0
	report "jitter $1" 1 jit "$delay" "$jitter"
	report "veth $1" 2 ker - 0
}

# report TITLE N PREFIX DELAY JITTER: rows for the daemon and the prototype,
# each against the wire figures of its own probes
report()
{
	_ma=$(awk -v d="$4" -v j="$5" 'BEGIN { if (d == "-") print "-"; else printf "%.2fms", d + j / 2 }')
	_ms=$(awk -v d="$4" -v j="$5" 'BEGIN { if (d == "-") print "-"; else printf "%.2fms", sqrt(j * (j + 2) / 12) }')
	for _who in dp pr; do
		[ -f "$3_$_who.ident" ] || continue
		[ "$_who" = dp ] && _label=dpinger || _label=proto
		_wa=$(wire_field "$2" "$3_$_who" avg_us)
		_ws=$(wire_field "$2" "$3_$_who" stddev_us)
		_wr=$(wire_field "$2" "$3_$_who" replies)
		_wl=$(wire_field "$2" "$3_$_who" lost)
		_st=$(cat "$3_$_who.st" 2>/dev/null)
		_a=$(echo "$_st" | awk '{ print $1 }')
		_s=$(echo "$_st" | awk '{ print $2 }')
		_l=$(echo "$_st" | awk '{ print $3 }')
		row "$1, $_label: average (model ${_ma})" "" "$(ms "$_wa")" "$(ms "$_a")" "$(err "$_a" "$_wa")" "$_wr"
		row "$1, $_label: stddev (model ${_ms})" "" "$(ms "$_ws")" "$(ms "$_s")" "$(err "$_s" "$_ws")" "$_wr"
		if [ "$5" != 0 ]; then
			_wp=$(awk -v l="$_wl" -v r="$_wr" 'BEGIN { if (l + r) printf "%.1f", 100 * l / (l + r) }')
			row "$1, $_label: loss" "" "${_wp:+$_wp%}" "${_l:+$_l%}" \
			    "$(awk -v a="$_l" -v b="$_wp" 'BEGIN { if (a != "" && b != "") printf "%+.1f%%", a - b }')" \
			    "$((_wr + _wl))"
		fi
	done
	if [ "$5" != 0 ]; then
		note "$1: tunpeer's counters, all probes: $(sed -n 's/^tunpeer: //p' "tun$2.err")"
	fi
}

ms()
{
	if [ -n "$1" ]; then awk -v v="$1" 'BEGIN { printf "%.3fms", v / 1000 }'; else echo "-"; fi
}

err()
{
	if [ -n "$1" ] && [ -n "$2" ]; then
		awk -v a="$1" -v b="$2" 'BEGIN { printf "%+.3fms", (a - b) / 1000 }'
	else
		echo "-"
	fi
}

section "5. Accuracy: tunpeer, -s ${send_ms} -l ${loss_ms}, ${phase_s}s per phase" \
    "wire" "reported" "error" "n"
note "wire: the same probes timed on the tun by kernel timestamps (build/bench/wirertt);"
note "error: reported - wire; n: replies (requests for loss) in the window"
if [ -n "$PROTO" ]; then
	note "proto: dpinger.c + kernel receive timestamps ($PROTO)"
else
	note "proto: not built (build/bench/proto/dpinger), column empty"
fi
note "fixed: tunpeer -d $delay; jitter: -d $delay -j $jitter -l $lossp -s 42 (whole-ms uniform"
note "jitter); veth: a kernel peer in another namespace (true RTT tens of microseconds);"
note "busy: two sh busy loops at nice 0 keep both cores busy"
run_phase "idle" 0
run_phase "busy" 1
