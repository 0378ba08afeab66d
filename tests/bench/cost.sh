#!/bin/sh
#
# Cost side by side: the fork (defaults), the fork with healing off
# (-E 0 -N -W 0) and, when STOCK_DPINGER names it, stock dpinger, each
# started as pfSense starts it (daemonized, -S, pid file, status socket)
# and each kind in namespaces of its own (see lib.sh).
#
#  - CPU time: in every run, all at once, one daemon of each kind at
#    -s 20 -l 200 and ten of each kind in one stack at pfSense's intervals
#    (-s 500 -l 2000), each daemon on its own veth pair to a kernel peer;
#    CPU time over the window from schedstat (every thread, nanoseconds)
#    and utime+stime (10ms ticks); fresh namespaces and daemons per run;
#    the median of the runs, and every run's ratio to show the noise.
#  - RSS: the median VmRSS of the ten pfSense-interval daemons of a kind.
#  - Descriptors: /proc/PID/fd of a pfSense-interval daemon, each named.
#  - System calls: strace -f on one daemon of each kind at pfSense's
#    intervals, alone in its namespaces; counted by call and by thread.
#    A probe is one sendto of the send thread; the send and receive
#    threads are the per-probe path, the others run once a second or
#    less and are given per second.
#
#   sh tests/bench/cost.sh     (root; BENCH_QUICK=1, BENCH_CPU_RUNS,
#                               BENCH_CPU_SECONDS, BENCH_STRACE_SECONDS)
#
. "$(dirname "$0")/lib.sh"

runs=${BENCH_CPU_RUNS:-5}
secs=${BENCH_CPU_SECONDS:-30}
st_secs=${BENCH_STRACE_SECONDS:-30}
if [ "$QUICK" = 1 ]; then
	runs=${BENCH_CPU_RUNS:-2}
	secs=${BENCH_CPU_SECONDS:-8}
	st_secs=${BENCH_STRACE_SECONDS:-6}
fi
command -v strace >/dev/null 2>&1 || { echo "bench: cost: strace is missing" >&2; exit 1; }
FAST="-s 20 -l 200"
TEN=10

# fresh_run: forget the namespaces and daemons of the previous run
fresh_run()
{
	netns_cleanup
	rm -f created_netns.lst created_pids.lst
	echo "$$$(date +%N | cut -c1-4)" > netns_id
}

# snap TAG: "tag nanoseconds ticks" for each daemon of the group TAG, and
# "tag/thread nanoseconds 0" for each of its threads
snap()
{
	while read -r _tag _pid; do
		echo "$_tag $(cpu_both "$_pid")"
		threads_named "$_pid" | while read -r _t _name; do
			echo "$_tag/$_name $(awk '{ print $1 }' "/proc/$_pid/task/$_t/schedstat") 0"
		done
	done < "$1.pids"
}

# ----------------------------------------------------------------- CPU, RSS
: > cpu.res
: > cpu_th.res
: > rss.res
r=1
while [ "$r" -le "$runs" ]; do
	fresh_run
	for k in $KINDS; do
		b=$(bed "one_$k" 1) || exit 1
		echo "${b%% *}" > "mon_one_$k"
		b=$(bed "ten_$k" "$TEN") || exit 1
		echo "${b%% *}" > "mon_ten_$k"
	done
	for k in $KINDS; do
		# shellcheck disable=SC2086
		p=$(dp_daemon "$(cat "mon_one_$k")" "$k" "one_$k" 0 $FAST) || exit 1
		echo "one_$k $p" > "one_$k.pids"
		: > "ten_$k.pids"
		i=0
		while [ "$i" -lt "$TEN" ]; do
			# shellcheck disable=SC2086
			p=$(dp_daemon "$(cat "mon_ten_$k")" "$k" "ten_${k}_$i" "$i" $PF_INTERVALS) || exit 1
			echo "ten_${k}_$i $p" >> "ten_$k.pids"
			i=$((i + 1))
		done
	done
	for k in $KINDS; do
		for s in "one_$k.sock" ten_"$k"_*.sock; do
			"$top/tests/tools/sockquery" -m healthy -t 20000 "$s" >/dev/null ||
			    { echo "bench: cost: $s never became healthy" >&2; exit 1; }
		done
		wait_for 10 bed_settled "$(cat "mon_one_$k")"
		wait_for 10 bed_settled "$(cat "mon_ten_$k")"
	done
	sleep 1
	for k in $KINDS; do
		snap "one_$k" > "a_one_$k"
		snap "ten_$k" > "a_ten_$k"
	done
	sleep "$secs"
	for k in $KINDS; do
		snap "one_$k" > "b_one_$k"
		snap "ten_$k" > "b_ten_$k"
		while read -r _tag _pid; do
			echo "$k $(status_kb "$_pid" VmRSS)" >> rss.res
		done < "ten_$k.pids"
	done
	for k in $KINDS; do
		for g in one ten; do
			# run group kind nanoseconds ticks (summed over the group)
			awk -v r="$r" -v g="$g" -v k="$k" 'FNR == NR { ns[$1] = $2; tk[$1] = $3; next }
			    $1 !~ /\// { dn += $2 - ns[$1]; dt += $3 - tk[$1] }
			    END { printf "%d %s %s %.0f %d\n", r, g, k, dn, dt }' "a_${g}_$k" "b_${g}_$k" >> cpu.res
			# run group kind thread nanoseconds (summed over the group)
			awk -v r="$r" -v g="$g" -v k="$k" 'FNR == NR { ns[$1] = $2; next }
			    $1 ~ /\// { t = $1; sub(/.*\//, "", t); d[t] += $2 - ns[$1] }
			    END { for (t in d) printf "%d %s %s %s %.0f\n", r, g, k, t, d[t] }' \
			    "a_${g}_$k" "b_${g}_$k" >> cpu_th.res
		done
	done
	r=$((r + 1))
done
fresh_run

# cpu_med GROUP KIND FIELD: median over the runs (field 4 ns, 5 ticks)
cpu_med()
{
	awk -v g="$1" -v k="$2" -v f="$3" '$2 == g && $3 == k { print $f }' cpu.res | median
}

# ms NANOSECONDS: "12.3ms"
ms()
{
	[ "$1" = "-" ] && { echo "-"; return; }
	awk -v n="$1" 'BEGIN { printf "%.1fms\n", n / 1e6 }'
}

# run_ratios GROUP A B: each run's ratio A/B, for the noise
run_ratios()
{
	awk -v g="$1" -v a="$2" -v b="$3" '$2 == g && $3 == a { x[$1] = $4 } $2 == g && $3 == b { y[$1] = $4 }
	    END { for (r = 1; r in x; r++) if (r in y && y[r] > 0) printf "%s%.2f", (r > 1 ? " " : ""), x[r] / y[r] }' cpu.res
}

# col GROUP FIELD: the values of the three columns
cpu_cols()
{
	for k in fork off stock; do
		if case " $KINDS " in *" $k "*) true ;; *) false ;; esac; then
			if [ "$2" = 4 ]; then ms "$(cpu_med "$1" "$k" 4)"; else echo "$(cpu_med "$1" "$k" 5)t"; fi
		else
			echo "-"
		fi
	done
}

ctitle "1. Cost side by side: pfSense's command line, each kind in namespaces of its own"
if [ -n "$STOCK" ]; then
	echo "  # stock: $STOCK ($("$STOCK" -h 2>&1 | grep -i -m1 'version' | sed 's/^ *//'))"
else
	echo "  # stock: skipped, because STOCK_DPINGER is unset: no stock column, no ratio, and the"
	echo "  # targets against stock are not judged (STOCK_DPINGER=/path/to/dpinger-3.3 make bench)"
fi
echo "  # fork-off: the same binary with -E 0 -N -W 0; all daemons daemonized as pfSense starts"
echo "  # them: $PF_COMMON"
echo "  # CPU: median of $runs runs of ${secs}s, all kinds at once, fresh namespaces each run;"
echo "  # ms from schedstat (every thread), t = utime+stime in 10ms ticks"

for g in one ten; do
	if [ "$g" = one ]; then
		label="CPU, 1 daemon at $FAST"
	else
		label="CPU, $TEN daemons in one stack at $PF_INTERVALS"
	fi
	# shellcheck disable=SC2046
	set -- $(cpu_cols "$g" 4)
	f=$1; o=$2; s=$3
	met=$(met_le "$(uratio "$f" "$s")" 1.10)
	crow "$label" "fork<=1.10x" "$f" "$o" "$s" "$met"
	# shellcheck disable=SC2046
	set -- $(cpu_cols "$g" 5)
	crow "  the same in utime+stime ticks" "" "$1" "$2" "$3"
	for k in $KINDS; do
		th=$(for t in main send recv alert status; do
			printf '%s %s ' "$t" "$(awk -v g="$g" -v k="$k" -v t="$t" '$2 == g && $3 == k && $4 == t { print $5 }' cpu_th.res |
			    median | awk '{ if ($1 == "-") print "-"; else printf "%.1fms", $1 / 1e6 }')"
		done)
		echo "  # $k by thread: ${th% }"
	done
	echo "  # each run, fork-off/fork (the same code paths: the noise): $(run_ratios "$g" off fork)"
	[ -n "$STOCK" ] && echo "  # each run, fork/stock: $(run_ratios "$g" fork stock); fork-off/stock: $(run_ratios "$g" off stock)"
done

rss_col()
{
	for k in fork off stock; do
		v=$(awk -v k="$k" '$1 == k { print $2 }' rss.res | median)
		[ "$v" = "-" ] && echo "-" || echo "${v%.*}kB"
	done
}
# shellcheck disable=SC2046
set -- $(rss_col)
crow "RSS (VmRSS, median of the pfSense daemons)" "fork<=1.10x" "$1" "$2" "$3" "$(met_le "$(uratio "$1" "$3")" 1.10)"

# ------------------------------------------------- descriptors, system calls
for k in $KINDS; do
	b=$(bed "sc_$k" 1) || exit 1
	echo "${b%% *}" > "mon_sc_$k"
	# shellcheck disable=SC2086
	p=$(dp_daemon "${b%% *}" "$k" "sc_$k" 0 $PF_INTERVALS) || exit 1
	echo "$p" > "sc_$k.pid1"
done
for k in $KINDS; do
	"$top/tests/tools/sockquery" -m healthy -t 20000 "sc_$k.sock" >/dev/null ||
	    { echo "bench: cost: sc_$k.sock never became healthy" >&2; exit 1; }
	wait_for 10 bed_settled "$(cat "mon_sc_$k")"
done
sleep 1
for k in $KINDS; do
	p=$(cat "sc_$k.pid1")
	# files by role, not by path, so that kinds compare
	fd_list "$p" | sed -e "s|$work/[^ ]*\.pid\$|pid file|" -e "s|$work/[^ ]*\.sock\$|(status)|" \
	    -e "s|$work/[^ ]*\.out\$|stdout file|" -e "s|$work/[^ ]*\.err\$|stderr file|" > "fd_$k"
	threads_named "$p" > "th_$k"
	timeout -s INT "$st_secs" strace -f -qq -o "$work/st_$k" -p "$p" 2>/dev/null &
	echo "$!" > "strace_$k.pid"
done
for k in $KINDS; do
	wait "$(cat "strace_$k.pid")" 2>/dev/null
done

fd_col()
{
	for k in fork off stock; do
		[ -f "fd_$k" ] && wc -l < "fd_$k" || echo "-"
	done
}
# shellcheck disable=SC2046
set -- $(fd_col)
fmet="-"
[ "$3" != "-" ] && fmet=$(met_le "$1" $(($3 + 2)))
crow "descriptors (/proc/PID/fd, own)" "fork<=stock+2" "$1" "$2" "$3" "$fmet"
for k in $KINDS; do
	echo "  # $k: $(awk '{ n = $1; $1 = ""; sub(/^ /, ""); printf "%s%s %s", (NR > 1 ? "; " : ""), n, $0 }' "fd_$k")"
done
# what the fork holds beyond stock, by kind of descriptor (numbers aside)
if [ -n "$STOCK" ]; then
	extra=$(awk 'FNR == NR { $1 = ""; s[$0]++; next } { $1 = ""; if (s[$0] > 0) s[$0]--; else x[$0]++ }
	    END { for (w in x) printf "%s%s%s", (n++ ? ", " : ""), substr(w, 2), (x[w] > 1 ? " x" x[w] : "") }' fd_stock fd_fork)
	echo "  # fork beyond stock: ${extra:-nothing}"
fi

# tally KIND: "thread call count eagain" from the strace log, threads
# named.  The calls in progress when strace attached (the first line of each
# thread before any thread shows a second one) began before the window and
# are left out, with their "resumed" halves.
tally()
{
	awk 'FNR == NR { name[$1] = $2; next }
	    $2 ~ /^(\+\+\+|---)/ { next }
	    {
		tid = $1
		if (burst && !(tid in seen)) {
			seen[tid] = 1
			if ($0 ~ /<unfinished \.\.\.>$/) skip[tid] = 1
			next
		}
		burst = 0
		if ($2 == "<...") {
			c = $3
			if (skip[tid]) { skip[tid] = 0; next }
			if ($0 ~ /= -1 EAGAIN/) e[tid " " c]++
			next
		}
		c = $2; sub(/\(.*/, "", c)
		if (c == "restart_syscall") next
		n[tid " " c]++
		if ($0 ~ /= -1 EAGAIN/) e[tid " " c]++
	    }
	    END {
		for (k in n) { split(k, a, " "); t = (a[1] in name) ? name[a[1]] : "tid" a[1]; print t, a[2], n[k], e[k] + 0 }
	    }' burst=1 "th_$1" burst=1 "st_$1" | sort
}

for k in $KINDS; do
	tally "$k" > "tally_$k"
done
# per probe and per second figures of a kind
probes_of()
{
	awk '$1 == "send" && $2 == "sendto" { s += $3 } END { print s + 0 }' "tally_$1"
}
sc_cols()
{
	for k in fork off stock; do
		[ -f "tally_$k" ] || { echo "-"; continue; }
		p=$(probes_of "$k")
		case $1 in
		probe)	awk -v p="$p" '$1 == "send" || $1 == "recv" { s += $3 } END { if (p) printf "%.2f\n", s / p; else print "-" }' "tally_$k" ;;
		other)	awk -v t="$st_secs" '$1 != "send" && $1 != "recv" { s += $3 } END { printf "%.2f/s\n", s / t }' "tally_$k" ;;
		all)	awk -v p="$p" '{ s += $3 } END { if (p) printf "%.2f\n", s / p; else print "-" }' "tally_$k" ;;
		esac
	done
}
# shellcheck disable=SC2046
set -- $(sc_cols probe)
crow "system calls per probe, send+recv threads" "fork<=stock" "$1" "$2" "$3" "$(met_le "$1" "$3")"
# shellcheck disable=SC2046
set -- $(sc_cols other)
crow "system calls per second, the other threads" "" "$1" "$2" "$3"
# shellcheck disable=SC2046
set -- $(sc_cols all)
crow "system calls per probe, whole process" "" "$1" "$2" "$3"
echo "  # strace -f for ${st_secs}s at $PF_INTERVALS, one daemon of a kind alone in its namespaces;"
echo "  # per probe (send, recv) or per second (others); (E) = of which ended in EAGAIN"
for k in $KINDS; do
	p=$(probes_of "$k")
	awk -v p="$p" -v t="$st_secs" -v k="$k" '
	    { th[$1] = th[$1] (th[$1] == "" ? "" : ", ") $2 " " \
		(($1 == "send" || $1 == "recv") ? sprintf("%.2f", $3 / p) : sprintf("%.2f/s", $3 / t)) \
		($4 > 0 ? sprintf(" (%.2f E)", (($1 == "send" || $1 == "recv") ? $4 / p : $4 / t)) : "") }
	    END {
		printf "  # %s, %d probes: ", k, p
		n = split("send recv main alert status", order, " ")
		for (i = 1; i <= n; i++) if (order[i] in th) { printf "%s%s: %s", (j++ ? "; " : ""), order[i], th[order[i]]; delete th[order[i]] }
		for (x in th) printf "%s%s: %s", (j++ ? "; " : ""), x, th[x]
		printf "\n"
	    }' "tally_$k" | fold -s -w 104 | sed '2,$s/^/  #   /'
done
