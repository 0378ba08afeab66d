#!/bin/sh
#
# Instructions per probe, side by side (the rows after cost.sh's): one
# daemon of each kind (fork, fork with healing off, stock when
# STOCK_DPINGER is set) with pfSense's command line in the foreground
# (-f) under valgrind --tool=callgrind, each alone in its namespaces with a
# kernel peer.  Counters are zeroed once all are healthy and dumped after W
# seconds, then again after Q status queries to each.  A probe is an echo
# request the peer received (its InEchos).  Repeatable where CPU time is
# not, but user space only: the kernel's share of a send, a reply or a
# wake-up is not in these numbers (the CPU rows have it).
#
#   sh tests/bench/callgrind.sh     (root; BENCH_CG_SECONDS, BENCH_CG_QUERIES,
#                                    BENCH_QUICK=1)
#
. "$(dirname "$0")/lib.sh"

secs=${BENCH_CG_SECONDS:-60}   # at least the 60s interface re-check
queries=${BENCH_CG_QUERIES:-500}
if [ "$QUICK" = 1 ]; then
	secs=${BENCH_CG_SECONDS:-8}
	queries=${BENCH_CG_QUERIES:-100}
fi
for prog in valgrind callgrind_annotate callgrind_control; do
	command -v "$prog" >/dev/null 2>&1 || { echo "bench: callgrind: $prog is missing" >&2; exit 1; }
done

# ir FILE FUNCTION: inclusive Ir of a function, with or without debug
# information ("dpinger.c:send_thread", "???:send_thread"); empty if absent
ir()
{
	callgrind_annotate --inclusive=yes --threshold=100 "$1" 2>/dev/null |
	    awk -v f=":$2" '{ for (i = 2; i <= NF; i++) if (substr($i, length($i) - length(f) + 1) == f) { gsub(",", "", $1); print $1; exit } }'
}

total_ir()
{
	callgrind_annotate --threshold=100 "$1" 2>/dev/null |
	    awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }'
}

# status thread function of a kind (stock calls it usocket_thread)
status_fn()
{
	[ "$1" = stock ] && echo usocket_thread || echo status_thread
}

for k in $KINDS; do
	b=$(bed "cg_$k" 1) || exit 1
	echo "${b%% *}" > "mon_$k"
	echo "${b#* }" > "peer_$k"
	# shellcheck disable=SC2046,SC2086
	netns_bg "${b%% *}" "cg_$k.out" "cg_$k.err" valgrind --tool=callgrind --callgrind-out-file="$work/cg_$k.out" \
	    $(kind_cmd "$k") -f $PF_COMMON $PF_INTERVALS -B 10.100.0.1 -u "$work/cg_$k.sock" 10.100.0.2 > "pid_$k"
done
for k in $KINDS; do
	"$top/tests/tools/sockquery" -m healthy -t 30000 "cg_$k.sock" >/dev/null ||
	    { echo "bench: callgrind: the $k daemon did not become healthy" >&2; exit 1; }
	wait_for 10 bed_settled "$(cat "mon_$k")"
done
echos()
{
	ip netns exec "$(cat "peer_$1")" awk '/^Icmp:/ { n++; if (n == 1) for (i = 1; i <= NF; i++) if ($i == "InEchos") c = i; if (n == 2) print $c }' /proc/net/snmp
}
sleep 1
for k in $KINDS; do
	callgrind_control -z "$(cat "pid_$k")" >/dev/null 2>&1
	echos "$k" > "e0_$k"
done
t0=$(ms_now)
sleep "$secs"
for k in $KINDS; do
	callgrind_control -d "$(cat "pid_$k")" >/dev/null 2>&1
	echos "$k" > "e1_$k"
done
el=$(( ($(ms_now) - t0) / 1000 ))
for k in $KINDS; do
	"$bench_bin/sockload" -s -r "$queries" "cg_$k.sock" >/dev/null
	callgrind_control -d "$(cat "pid_$k")" >/dev/null 2>&1
done
for k in $KINDS; do
	wait_for 20 test -s "cg_$k.out.2" ||
	    { echo "bench: callgrind: no dump from the $k daemon; its last line: $(tail -1 "cg_$k.err")" >&2; exit 1; }
done

for k in $KINDS; do
	n=$(( $(cat "e1_$k") - $(cat "e0_$k") ))
	tot=$(total_ir "cg_$k.out.1")
	snd=$(ir "cg_$k.out.1" send_thread)
	rcv=$(ir "cg_$k.out.1" recv_thread)
	qry=$(ir "cg_$k.out.2" "$(status_fn "$k")")
	# kind probes total send recv query
	echo "$k $n ${tot:-0} ${snd:-0} ${rcv:-0} ${qry:-0}" >> cg.res
done

# cg_cols WHAT: the three columns
cg_cols()
{
	for k in fork off stock; do
		awk -v k="$k" -v w="$1" -v s="$el" -v q="$queries" '$1 == k {
		    if (w == "all") v = $3 / $2; else if (w == "probe") v = ($4 + $5) / $2
		    else if (w == "other") v = ($3 - $4 - $5) / s; else v = $6 / q
		    printf "%.0f%s\n", v, (w == "other" ? "/s" : ""); f = 1 }
		    END { if (!f) print "-" }' cg.res
	done
}

ctitle "1. (continued) Instructions side by side: callgrind, user space only"
echo "  # one daemon of each kind, ${secs}s at $PF_INTERVALS (with -f), then $queries status queries"
# shellcheck disable=SC2046
set -- $(cg_cols all)
crow "instructions per probe, whole process" "(see CPU)" "$1" "$2" "$3"
# shellcheck disable=SC2046
set -- $(cg_cols probe)
crow "  of which send+recv threads" "" "$1" "$2" "$3"
# shellcheck disable=SC2046
set -- $(cg_cols other)
crow "  the other threads, per second" "" "$1" "$2" "$3"
# shellcheck disable=SC2046
set -- $(cg_cols query)
crow "instructions per status query" "" "$1" "$2" "$3"
echo "  # probes counted by the peer: $(awk '{ printf "%s%s %d", (NR > 1 ? ", " : ""), $1, $2 }' cg.res)"
