# Shared by the benchmark scripts (sourced, POSIX sh).  Like heal.sh: the
# namespace library outside atf with small shims, a private work directory
# removed on exit, and rows of one table:
#
#   name (52)  target (10)  three value columns (8 each)  runs (5)
#
# Every value carries its unit.  Benchmarks print figures; none passes or
# fails on them.

set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
bench_bin="$top/build/bench"

if [ "$(id -u)" -ne 0 ]; then
	echo "bench: needs root for network namespaces" >&2
	exit 1
fi

atf_get_srcdir() { echo "$top/tests"; }
atf_config_get() { echo "$2"; }
atf_skip() { echo "bench: $*" >&2; exit 1; }
. "$top/tests/lib/netns.subr"

work=$(mktemp -d /tmp/dpinger-bench.XXXXXX) || exit 1
cd "$work" || exit 1
# BENCH_KEEP=1 keeps the work directory (logs of every daemon) for a look
trap 'netns_cleanup; cd /; [ "${BENCH_KEEP:-0}" = 1 ] && echo "bench: kept $work" >&2 || rm -rf "$work"' EXIT
trap 'exit 130' INT TERM HUP PIPE
echo "$$$(date +%N | cut -c1-4)" > netns_id

DPINGER=${DPINGER:-$top/dpinger}
QUICK=${BENCH_QUICK:-0}

# section TITLE COL1 COL2 COL3 [COL4 [COL5]]: a heading and the column names
section()
{
	if [ -n "$1" ]; then
		echo
		echo "$1"
	fi
	printf "%-52s %-10s %8s %8s %8s %5s %4s\n" "" "target" "$2" "$3" "$4" "${5:-}" "${6:-}"
}

# row NAME TARGET V1 V2 V3 [N [MET [JUDGED]]]: MET (yes/no) also goes to the
# summary, with the value it judged (V1 unless JUDGED names another)
row()
{
	printf "%-52s %-10s %8s %8s %8s %5s %4s\n" "$1" "$2" "$3" "$4" "$5" "${6:-}" "${7:-}"
	[ -n "${7:-}" ] && verdict "$7" "$1 ($2): ${8:-$3}"
	return 0
}

# note TEXT: a comment line under a section
note()
{
	echo "  # $*"
}

# fmt FORMAT VALUE: printf through awk (floats)
fmt()
{
	awk -v f="$1" -v v="$2" 'BEGIN { printf f, v }'
}

# ratio A B: A/B with three decimals, "-" when B is 0
ratio()
{
	awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "-"; else printf "%.3f", a / b }'
}

# dp NS OUT ERR ARGS...: a dpinger in the foreground of a namespace; sets DP_PID
dp_start()
{
	_ns=$1; _o=$2; _e=$3; shift 3
	DP_PID=$(netns_bg "$_ns" "$_o" "$_e" "$DPINGER" -f "$@") || return 1
}

# Process figures from /proc, summed over the threads that exist now
# cpu_ns PID: time on CPU in nanoseconds (schedstat, exact)
cpu_ns()
{
	cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f\n", s }'
}

# cpu_ticks PID: utime + stime in clock ticks (/proc/PID/stat, 10ms resolution)
cpu_ticks()
{
	sed 's/^.*) //' /proc/"$1"/stat | awk '{ print $12 + $13 }'
}

# ctxsw PID: voluntary + involuntary context switches of all threads
ctxsw()
{
	cat /proc/"$1"/task/*/status 2>/dev/null |
	    awk '/^(voluntary|nonvoluntary)_ctxt_switches/ { s += $2 } END { print s + 0 }'
}

# status_kb PID FIELD: VmRSS, VmHWM... in kB
status_kb()
{
	awk -v f="$2:" '$1 == f { print $2 }' /proc/"$1"/status
}

threads_of()
{
	awk '$1 == "Threads:" { print $2 }' /proc/"$1"/status
}

# wait_until_ms: sleep until a monotonic-ish deadline in ms since epoch
ms_now()
{
	echo $(($(date +%s%N) / 1000000))
}

# busy_start N: N busy loops at nice 0, recorded for cleanup
busy_start()
{
	_i=0
	while [ "$_i" -lt "$1" ]; do
		sh -c 'while :; do :; done' &
		echo $! >> created_pids.lst
		echo $! >> busy.lst
		_i=$((_i + 1))
	done
}

busy_stop()
{
	[ -f busy.lst ] || return 0
	while read -r _p; do
		kill -KILL "$_p" 2>/dev/null
		wait "$_p" 2>/dev/null
	done < busy.lst
	rm -f busy.lst
}

# status_fields SOCK: "avg stddev loss" of a status line (identifier dropped)
status_fields()
{
	"$top/tests/tools/sockquery" -t 2000 "$1" 2>/dev/null | awk '{ print $(NF-2), $(NF-1), $NF }'
}

# procs_stop: stop the recorded processes (not the namespaces) and forget them
procs_stop()
{
	[ -f created_pids.lst ] || return 0
	while read -r _p; do
		kill -TERM "$_p" 2>/dev/null
	done < created_pids.lst
	_i=0
	while [ $_i -lt 20 ]; do
		_alive=0
		while read -r _p; do
			kill -0 "$_p" 2>/dev/null && _alive=1
		done < created_pids.lst
		[ $_alive -eq 0 ] && break
		sleep 0.1
		_i=$((_i + 1))
	done
	while read -r _p; do
		kill -KILL "$_p" 2>/dev/null
	done < created_pids.lst
	rm -f created_pids.lst
}

# dad_wait NS IF: until no IPv6 address on IF is tentative (the end of
# duplicate address detection is a routing event of its own; measuring
# windows should not include it)
dad_done()
{
	! ip -n "$1" -6 addr show dev "$2" tentative 2>/dev/null | grep -q inet6
}

dad_wait()
{
	wait_for 10 dad_done "$1" "$2"
}

# ---------------------------------------------------------------------------
# Side by side with stock dpinger (cost.sh, callgrind.sh)
#
# Kinds: "fork" (the binary under test, defaults), "off" (the same binary
# with every self-healing feature off: -E 0 -N -W 0) and "stock" (the
# binary named by STOCK_DPINGER, e.g. a build of upstream 3.3 kept outside
# the repository).  Each kind runs in namespaces of its own: raw sockets in
# one stack see every daemon's replies, and the kernel charges the receive
# work to whichever socket comes first.

STOCK=${STOCK_DPINGER:-}
if [ -n "$STOCK" ] && [ ! -x "$STOCK" ]; then
	echo "bench: STOCK_DPINGER=$STOCK is not an executable file" >&2
	exit 1
fi
KINDS="fork off"
[ -n "$STOCK" ] && KINDS="fork off stock"

# pfSense's command line without -B, -p, -u, the address and the intervals
PF_COMMON="-r 0 -S -i GW -d 1 -t 60000 -A 1000 -D 500 -L 20 -C /bin/true"
PF_INTERVALS="-s 500 -l 2000"

# kind_cmd KIND: the binary and the extra options of a kind
kind_cmd()
{
	case $1 in
	fork)	echo "$DPINGER" ;;
	off)	echo "$DPINGER -E 0 -N -W 0" ;;
	stock)	echo "$STOCK" ;;
	*)	echo "bench: unknown kind $1" >&2; return 1 ;;
	esac
}

# bed TAG N: namespaces mon_TAG and peer_TAG joined by N veth pairs,
# monI 10.100.I.1/24 <-> peerI 10.100.I.2/24; prints "MON PEER"
bed()
{
	_m=$(netns_mk "mon_$1") || return 1
	_p=$(netns_mk "peer_$1") || return 1
	_i=0
	: > "bed_$1.links"; : > "bed_$1.mon"; : > "bed_$1.peer"
	while [ "$_i" -lt "$2" ]; do
		echo "link add name mon$_i netns $_m type veth peer name peer$_i netns $_p" >> "bed_$1.links"
		echo "link set dev mon$_i up" >> "bed_$1.mon"
		echo "addr add 10.100.$_i.1/24 dev mon$_i" >> "bed_$1.mon"
		echo "link set dev peer$_i up" >> "bed_$1.peer"
		echo "addr add 10.100.$_i.2/24 dev peer$_i" >> "bed_$1.peer"
		_i=$((_i + 1))
	done
	ip -batch "bed_$1.links" && ip -n "$_m" -batch "bed_$1.mon" && ip -n "$_p" -batch "bed_$1.peer" ||
	    return 1
	echo "$_m $_p"
}

# bed_settled MON N: the automatic IPv6 link-local addresses of monI are
# past duplicate address detection (its end is a routing event)
bed_settled()
{
	! ip -n "$1" -6 addr show tentative 2>/dev/null | grep -q inet6
}

# dp_daemon NS KIND TAG I INTERVALS...: one daemon of KIND as pfSense
# starts it (daemonized, -S, pid file, status socket) on veth I of a bed;
# files TAG.pid, TAG.sock, TAG.out, TAG.err; prints the daemon's pid
dp_daemon()
{
	_ns=$1; _kind=$2; _tag=$3; _i=$4; shift 4
	rm -f "$_tag.pid" "$_tag.sock"
	# shellcheck disable=SC2046
	ip netns exec "$_ns" $(kind_cmd "$_kind") $PF_COMMON "$@" -B "10.100.$_i.1" -p "$work/$_tag.pid" \
	    -u "$work/$_tag.sock" "10.100.$_i.2" > "$_tag.out" 2> "$_tag.err" < /dev/null ||
	    { echo "bench: $_kind daemon $_tag did not start: $(head -1 "$_tag.err")" >&2; return 1; }
	wait_for 10 pidfile_live "$_tag.pid" ||
	    { echo "bench: $_kind daemon $_tag wrote no pid file" >&2; return 1; }
	_pid=$(cat "$_tag.pid")
	echo "$_pid" >> created_pids.lst
	echo "$_pid"
}

pidfile_live()
{
	[ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

# cpu_both PID: "nanoseconds ticks" (schedstat of every thread; utime+stime)
cpu_both()
{
	echo "$(cpu_ns "$1") $(cpu_ticks "$1")"
}

# median: of the numbers on stdin, one a line ("-" when none)
median()
{
	sort -g | awk '{ v[NR] = $1 } END {
	    if (NR == 0) { print "-"; exit }
	    printf "%.10g\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# threads_named PID: "tid name" for each thread; a thread without a name of
# its own (stock names none) is named by creation order, which is the same
# in stock 3.3 and the fork with pfSense's options: main recv send alert status
threads_named()
{
	_main=$(cat "/proc/$1/comm")
	ls "/proc/$1/task" | sort -n | while read -r _t; do
		echo "$_t $(cat "/proc/$1/task/$_t/comm" 2>/dev/null)"
	done | awk -v main="$_main" -v pid="$1" '
	    BEGIN { split("recv send alert status", order, " ") }
	    {
		if ($1 == pid) name = "main"
		else if ($2 != main) name = $2
		else { k++; name = (k in order) ? order[k] : "thread" k }
		print $1, name
	    }'
}

# fd_list PID: "fd what" for each descriptor the daemon holds, without the
# ones it inherited from this shell (same number, same file); sockets are
# named by family and type from the daemon's own /proc/PID/net tables
fd_list()
{
	for _f in /proc/"$1"/fd/*; do
		_n=${_f##*/}
		if [ "$_n" -gt 2 ] && [ -e "/proc/$$/fd/$_n" ] &&
		    [ "$(stat -L -c %d:%i "$_f" 2>/dev/null)" = "$(stat -L -c %d:%i "/proc/$$/fd/$_n" 2>/dev/null)" ]; then
			continue
		fi
		echo "$_n $(readlink "$_f")"
	done | sort -n | while read -r _n _what; do
		case $_what in
		socket:\[*\])
			_ino=${_what#socket:[}; _ino=${_ino%]}
			_what=$(awk -v ino="$_ino" '
			    FILENAME ~ /raw6?$/ && $10 == ino { print (FILENAME ~ /6$/ ? "raw6" : "raw") " socket"; exit }
			    FILENAME ~ /netlink$/ && $10 == ino { print "netlink socket (protocol " $2 ")"; exit }
			    FILENAME ~ /unix$/ && $7 == ino {
				t = ($5 == "0001") ? "stream" : ($5 == "0002") ? "dgram" : $5
				print "unix " t " socket" ($8 != "" ? " " $8 : ""); exit }' \
			    /proc/"$1"/net/raw /proc/"$1"/net/raw6 /proc/"$1"/net/netlink /proc/"$1"/net/unix)
			[ -n "$_what" ] || _what="socket"
			;;
		anon_inode:*)
			_what=${_what#anon_inode:}; _what=${_what#[}; _what=${_what%]}
			;;
		esac
		echo "$_n $_what"
	done
}

# ---------------------------------------------------------------------------
# The side-by-side table: one row format for every cost figure
#
#   name (44) target (14) fork, off, stock (9 each) fork/stock, off/stock (6) met (4)

# ctitle TITLE: a heading and the column names
ctitle()
{
	echo
	echo "$1"
	printf "%-44s %-14s %9s %9s %9s %6s %6s %4s\n" "" "target" "fork" "fork-off" "stock" "f/st" "o/st" "met"
}

# crow NAME TARGET FORK OFF STOCK [MET]: ratios against stock are computed
# when the values are plain numbers followed by one unit
crow()
{
	_rf=$(uratio "$3" "$5")
	_ro=$(uratio "$4" "$5")
	printf "%-44s %-14s %9s %9s %9s %6s %6s %4s\n" "$1" "$2" "$3" "$4" "$5" "$_rf" "$_ro" "${6:-}"
	[ -n "${6:-}" ] && verdict "$6" "$1 ($2): fork $3, stock $5"
	return 0
}

# uratio A B: A/B of two values like "12.3ms" (same unit), else "-"
uratio()
{
	awk -v a="$1" -v b="$2" 'BEGIN {
	    na = a + 0; nb = b + 0
	    ua = a; sub(/^[-0-9.]+/, "", ua); ub = b; sub(/^[-0-9.]+/, "", ub)
	    if (a !~ /^[0-9.]/ || b !~ /^[0-9.]/ || ua != ub || nb == 0) print "-"
	    else printf "%.2f", na / nb }'
}

# met_le VALUE LIMIT: "yes" when VALUE <= LIMIT, "no" when not, "-" when
# either is missing (no stock, no data)
met_le()
{
	awk -v v="$1" -v l="$2" 'BEGIN {
	    if (v !~ /^[0-9.]/ || l !~ /^[0-9.]/) print "-"; else print (v + 0 <= l + 0) ? "yes" : "no" }'
}

# verdict MET TEXT: one line for the summary at the end of all.sh
verdict()
{
	[ -n "${BENCH_SUMMARY:-}" ] && printf '%s\t%s\n' "$1" "$2" >> "$BENCH_SUMMARY"
	return 0
}
