#!/usr/bin/env atf-sh
#
# Checks the test tools in tests/tools for real: tunpeer (a VTI stand-in that
# answers pings itself), freezer (stops one thread of a process) and
# faultinject.so (simulated FreeBSD stale-socket behaviour). The binaries are
# expected next to this script, built from the sources here. Needs root, ip
# and ping. Network namespaces are named dpt_*; each one is recorded in
# netns.list before it is created and cleanup deletes exactly those. Every
# background process is recorded in pids.list ("PID COMM") and cleanup kills
# exactly those that still carry that name.

UPCMD='ip link set dev $TUNPEER_IF up && ip addr add 10.9.0.1 peer 10.9.0.2 dev $TUNPEER_IF && ip -6 addr add fd00:9::1 peer fd00:9::2 dev $TUNPEER_IF nodad'

# require_tools NAME...: fails the test case unless every named tool is built
# next to this script. Called in the body itself, never in a subshell.
require_tools()
{
    for tt_name in "$@"; do
        [ -f "$(atf_get_srcdir)/$tt_name" ] ||
            atf_fail "$tt_name is not built in $(atf_get_srcdir)"
    done
}

# tool NAME: prints the path of a built tool (checked by require_tools).
tool()
{
    echo "$(atf_get_srcdir)/$1"
}

# wait_for SECONDS DESCRIPTION COMMAND...: runs COMMAND every 50 ms until it
# succeeds; fails the test case once SECONDS have passed.
wait_for()
{
    tt_wf_limit=$1
    tt_wf_desc=$2
    shift 2
    tt_wf_end=$(( $(date +%s) + tt_wf_limit ))
    while ! "$@"; do
        if [ "$(date +%s)" -ge "$tt_wf_end" ]; then
            atf_fail "timed out after ${tt_wf_limit}s waiting for ${tt_wf_desc}"
        fi
        sleep 0.05
    done
}

# new_netns NAME: records NAME, creates the namespace and brings lo up.
new_netns()
{
    echo "$1" >> netns.list
    atf_check ip netns add "$1"
    atf_check ip -n "$1" link set lo up
}

# remember PID COMM: records a background process for cleanup.
remember()
{
    echo "$1 $2" >> pids.list
}

# alive PID: true while PID exists and is not a zombie.
alive()
{
    [ -r "/proc/$1/stat" ] || return 1
    tt_st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
    [ -n "$tt_st" ] && [ "$tt_st" != Z ]
}

# dead PID: the negation of alive, usable with wait_for.
dead()
{
    ! alive "$1"
}

# file_is FILE TEXT: true if FILE exists and holds exactly TEXT.
file_is()
{
    [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]
}

# has_line FILE REGEX: true if some line of FILE matches REGEX.
has_line()
{
    [ -f "$1" ] && grep -q -- "$2" "$1"
}

# last_count FILE LABEL: prints the number of the last "LABEL N" line (or 0).
last_count()
{
    tt_n=$(grep "^$2 [0-9]*\$" "$1" 2>/dev/null | tail -n 1 | cut -d' ' -f2)
    echo "${tt_n:-0}"
}

# count_above FILE LABEL N: true once the last LABEL count is above N.
count_above()
{
    [ "$(last_count "$1" "$2")" -gt "$3" ]
}

# thread_state PID TID: prints the one-letter scheduler state of a thread.
thread_state()
{
    sed 's/.*) //' "/proc/$1/task/$2/stat" | cut -d' ' -f1
}

# cleanup_all: kills the recorded processes and deletes the recorded netns.
cleanup_all()
{
    if [ -f pids.list ]; then
        while read -r tt_pid tt_comm; do
            if [ "$(cat "/proc/$tt_pid/comm" 2>/dev/null)" = "$tt_comm" ]; then
                kill -KILL "$tt_pid" 2>/dev/null
            fi
        done < pids.list
        # Give the killed processes a bounded moment to disappear.
        tt_end=$(( $(date +%s) + 5 ))
        while read -r tt_pid tt_comm; do
            while alive "$tt_pid" &&
                [ "$(cat "/proc/$tt_pid/comm" 2>/dev/null)" = "$tt_comm" ] &&
                [ "$(date +%s)" -lt "$tt_end" ]; do
                sleep 0.05
            done
        done < pids.list
    fi
    if [ -f netns.list ]; then
        while read -r tt_ns; do
            ip netns del "$tt_ns" 2>/dev/null
        done < netns.list
    fi
    return 0
}

# ---------------------------------------------------------------- tunpeer

# start_tunpeer NS [OPTIONS...]: starts tunpeer on tun0 in NS with the
# standard up_cmd and waits for generation 1; sets TP_PID.
start_tunpeer()
{
    tt_ns=$1
    shift
    rm -f ready tunpeer.pid
    ip netns exec "$tt_ns" "$(tool tunpeer)" -i tun0 -c "$UPCMD" \
        -r "$(pwd)/ready" -p "$(pwd)/tunpeer.pid" "$@" 2> tunpeer.err &
    TP_PID=$!
    remember "$TP_PID" tunpeer
    wait_for 10 "tunpeer generation 1" file_is ready 1
}

# stop_tunpeer: sends SIGTERM, waits for exit 0 and the counters line.
stop_tunpeer()
{
    kill -TERM "$TP_PID"
    wait_for 10 "tunpeer to exit" dead "$TP_PID"
    wait "$TP_PID"
    tt_rc=$?
    [ "$tt_rc" -eq 0 ] || atf_fail "tunpeer exited with $tt_rc: $(cat tunpeer.err)"
    atf_check -o match:'^tunpeer: requests [0-9]+ replies [0-9]+ dropped [0-9]+$' \
        tail -n 1 tunpeer.err
}

# ifindex NS: prints the ifindex of tun0 in NS.
ifindex()
{
    ip -n "$1" -o link show dev tun0 | cut -d: -f1
}

# ping_ok NS ARGS...: one quick ping attempt inside NS that got a reply.
ping_ok()
{
    tt_ns=$1
    shift
    ip netns exec "$tt_ns" ping -c 1 -W 1 "$@" > /dev/null 2>&1
}

# ping_fails NS ARGS...: one quick ping attempt inside NS without reply.
ping_fails()
{
    ! ping_ok "$@"
}

# rtt_field FILE N: prints field N (1 min, 2 avg, 3 max) of ping's rtt line.
rtt_field()
{
    sed -n 's|^rtt min/avg/max/mdev = \([0-9./]*\) ms.*|\1|p' "$1" | cut -d/ -f"$2"
}

atf_test_case tunpeer_ping cleanup
tunpeer_ping_head()
{
    atf_set "descr" "tunpeer answers IPv4 and IPv6 pings and counts them"
    atf_set "require.user" "root"
    atf_set "require.progs" "ip ping"
}
tunpeer_ping_body()
{
    require_tools tunpeer
    ns=dpt_tp1_$$
    new_netns "$ns"
    start_tunpeer "$ns"
    atf_check -o match:'3 received' \
        ip netns exec "$ns" ping -c 3 -i 0.2 -W 2 10.9.0.2
    atf_check -o match:'3 received' \
        ip netns exec "$ns" ping -6 -c 3 -i 0.2 -W 2 fd00:9::2
    # A payload near the MTU is echoed back in full.
    atf_check -o match:'2 received' \
        ip netns exec "$ns" ping -c 2 -i 0.2 -W 2 -s 1472 10.9.0.2
    atf_check -o match:'2 received' \
        ip netns exec "$ns" ping -6 -c 2 -i 0.2 -W 2 -s 1452 fd00:9::2
    [ "$(cat tunpeer.pid)" = "$TP_PID" ] || atf_fail "pidfile does not hold $TP_PID"
    stop_tunpeer
    atf_check -o inline:'tunpeer: requests 10 replies 10 dropped 0\n' \
        tail -n 1 tunpeer.err
    # The interface went away with the process.
    atf_check -s not-exit:0 -e ignore ip -n "$ns" link show dev tun0
}
tunpeer_ping_cleanup()
{
    cleanup_all
}

atf_test_case tunpeer_recreate cleanup
tunpeer_recreate_head()
{
    atf_set "descr" "SIGUSR1 recreates tunpeer's interface with a new ifindex;" \
        "SIGUSR2 mutes and unmutes it"
    atf_set "require.user" "root"
    atf_set "require.progs" "ip ping"
}
tunpeer_recreate_body()
{
    require_tools tunpeer
    ns=dpt_tp2_$$
    new_netns "$ns"
    start_tunpeer "$ns" -g 100
    idx1=$(ifindex "$ns")
    [ -n "$idx1" ] || atf_fail "tun0 not found after start"
    atf_check -o ignore ip netns exec "$ns" ping -c 1 -W 2 10.9.0.2

    kill -USR1 "$TP_PID"
    wait_for 10 "tunpeer generation 2" file_is ready 2
    idx2=$(ifindex "$ns")
    [ -n "$idx2" ] || atf_fail "tun0 not found after recreation"
    [ "$idx1" != "$idx2" ] || atf_fail "ifindex unchanged ($idx1) after SIGUSR1"
    atf_check -o match:'2 received' \
        ip netns exec "$ns" ping -c 2 -i 0.2 -W 2 10.9.0.2
    atf_check -o match:'2 received' \
        ip netns exec "$ns" ping -6 -c 2 -i 0.2 -W 2 fd00:9::2

    kill -USR2 "$TP_PID"
    wait_for 10 "tunpeer to mute" ping_fails "$ns" 10.9.0.2
    atf_check -s exit:1 -o match:'3 packets transmitted, 0 received' \
        ip netns exec "$ns" ping -c 3 -i 0.2 -W 1 10.9.0.2
    atf_check -s exit:1 -o match:'0 received' \
        ip netns exec "$ns" ping -6 -c 1 -W 1 fd00:9::2
    kill -USR2 "$TP_PID"
    wait_for 10 "tunpeer to unmute" ping_ok "$ns" 10.9.0.2
    atf_check -o match:'2 received' \
        ip netns exec "$ns" ping -6 -c 2 -i 0.2 -W 2 fd00:9::2

    # A second recreation works too.
    kill -USR1 "$TP_PID"
    wait_for 10 "tunpeer generation 3" file_is ready 3
    idx3=$(ifindex "$ns")
    [ "$idx3" != "$idx2" ] || atf_fail "ifindex unchanged ($idx2) after 2nd SIGUSR1"
    atf_check -o ignore ip netns exec "$ns" ping -c 1 -W 2 10.9.0.2
    stop_tunpeer
}
tunpeer_recreate_cleanup()
{
    cleanup_all
}

atf_test_case tunpeer_delay_loss cleanup
tunpeer_delay_loss_head()
{
    atf_set "descr" "tunpeer delays replies by -d and drops -l percent"
    atf_set "require.user" "root"
    atf_set "require.progs" "ip ping"
}
tunpeer_delay_loss_body()
{
    require_tools tunpeer
    ns=dpt_tp3_$$
    new_netns "$ns"

    start_tunpeer "$ns" -d 50
    atf_check -o save:ping4.txt ip netns exec "$ns" ping -c 4 -i 0.2 -W 2 10.9.0.2
    atf_check -o save:ping6.txt ip netns exec "$ns" ping -6 -c 4 -i 0.2 -W 2 fd00:9::2
    stop_tunpeer
    for f in ping4.txt ping6.txt; do
        min=$(rtt_field "$f" 1)
        max=$(rtt_field "$f" 3)
        [ -n "$min" ] || atf_fail "no rtt line in $f: $(cat "$f")"
        awk -v a="$min" -v b="$max" 'BEGIN { exit !(a >= 49.5 && b < 1000) }' ||
            atf_fail "rtt $min..$max ms in $f, expected about 50 ms"
    done

    start_tunpeer "$ns" -d 10 -j 40
    atf_check -o save:pingj.txt ip netns exec "$ns" ping -c 10 -i 0.1 -W 2 10.9.0.2
    stop_tunpeer
    min=$(rtt_field pingj.txt 1)
    max=$(rtt_field pingj.txt 3)
    awk -v a="$min" -v b="$max" 'BEGIN { exit !(a >= 9.5 && b > a && b < 1000) }' ||
        atf_fail "rtt $min..$max ms with -d 10 -j 40"

    start_tunpeer "$ns" -l 50 -s 1
    atf_check -s ignore -o save:pingl.txt \
        ip netns exec "$ns" ping -c 40 -i 0.05 -W 1 10.9.0.2
    stop_tunpeer
    got=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' pingl.txt)
    [ -n "$got" ] || atf_fail "no summary in ping output: $(cat pingl.txt)"
    [ "$got" -ge 8 ] && [ "$got" -le 32 ] ||
        atf_fail "$got of 40 replies with -l 50, expected about 20"
    atf_check -o match:"^tunpeer: requests 40 replies $got dropped $((40 - got))\$" \
        tail -n 1 tunpeer.err
}
tunpeer_delay_loss_cleanup()
{
    cleanup_all
}

atf_test_case tunpeer_upcmd_fails cleanup
tunpeer_upcmd_fails_head()
{
    atf_set "descr" "a failing up_cmd is reported but tunpeer keeps running"
    atf_set "require.user" "root"
    atf_set "require.progs" "ip"
}
tunpeer_upcmd_fails_body()
{
    require_tools tunpeer
    ns=dpt_tp4_$$
    new_netns "$ns"
    ip netns exec "$ns" "$(tool tunpeer)" -i tun0 -c 'exit 3' \
        -r "$(pwd)/ready" 2> tunpeer.err &
    TP_PID=$!
    remember "$TP_PID" tunpeer
    wait_for 10 "the up_cmd error" has_line tunpeer.err "up_cmd 'exit 3' exited with status 3"
    alive "$TP_PID" || atf_fail "tunpeer exited after a failing up_cmd"
    atf_check -o ignore ip -n "$ns" link show dev tun0
    [ ! -e ready ] || atf_fail "readyfile written although up_cmd failed"
    stop_tunpeer
}
tunpeer_upcmd_fails_cleanup()
{
    cleanup_all
}

# ---------------------------------------------------------------- freezer

# start_toy OUTFILE [OPTIONS...]: starts threadtoy, sets TOY_PID and waits
# until both counting threads are running.
start_toy()
{
    tt_out=$1
    shift
    "$(tool threadtoy)" -T 120 "$@" >> "$tt_out" &
    TOY_PID=$!
    remember "$TOY_PID" threadtoy
    wait_for 10 "threadtoy ticker" count_above "$tt_out" ticker 2
    wait_for 10 "threadtoy main" count_above "$tt_out" main 2
}

# start_freezer OUTFILE THREAD SECONDS: starts freezer on TOY_PID, sets
# FZ_PID and waits for "frozen TID"; sets FZ_TID.
start_freezer()
{
    "$(tool freezer)" -p "$TOY_PID" -t "$2" -s "$3" > "$1" 2> "$1.err" &
    FZ_PID=$!
    remember "$FZ_PID" freezer
    wait_for 10 "freezer to report frozen" has_line "$1" '^frozen [0-9]*$'
    FZ_TID=$(sed -n 's/^frozen //p' "$1")
}

# finish_freezer: waits for the freezer to exit and checks status 0.
finish_freezer()
{
    wait_for "$1" "freezer to exit" dead "$FZ_PID"
    wait "$FZ_PID"
    tt_rc=$?
    [ "$tt_rc" -eq 0 ] || atf_fail "freezer exited with $tt_rc"
}

# assert_stalled OUTFILE FROZEN RUNNING: the FROZEN label's count does not
# move while the RUNNING label's count advances by 30 ticks (about 300 ms).
assert_stalled()
{
    tt_before=$(last_count "$1" "$2")
    tt_ref=$(last_count "$1" "$3")
    wait_for 10 "$3 to keep counting" count_above "$1" "$3" $((tt_ref + 30))
    tt_after=$(last_count "$1" "$2")
    [ "$tt_before" -eq "$tt_after" ] ||
        atf_fail "$2 counted on while frozen ($tt_before -> $tt_after)"
}

atf_test_case freezer_thread cleanup
freezer_thread_head()
{
    atf_set "descr" "freezer stops one named thread and releases it"
    atf_set "require.user" "root"
}
freezer_thread_body()
{
    require_tools freezer threadtoy
    start_toy toy.out
    start_freezer fz.out ticker 2
    [ "$FZ_TID" != "$TOY_PID" ] || atf_fail "froze the main thread, not ticker"
    [ "$(cat "/proc/$TOY_PID/task/$FZ_TID/comm")" = ticker ] ||
        atf_fail "frozen TID $FZ_TID is not the ticker thread"
    [ "$(thread_state "$TOY_PID" "$FZ_TID")" = t ] ||
        atf_fail "ticker thread is not in tracing stop"
    assert_stalled toy.out ticker main
    frozen_at=$(last_count toy.out ticker)
    finish_freezer 10
    atf_check -o inline:"frozen $FZ_TID\nreleased $FZ_TID\n" cat fz.out
    atf_check -o empty cat fz.out.err
    wait_for 10 "ticker to resume" count_above toy.out ticker "$frozen_at"
    alive "$TOY_PID" || atf_fail "threadtoy died"
}
freezer_thread_cleanup()
{
    cleanup_all
}

atf_test_case freezer_main cleanup
freezer_main_head()
{
    atf_set "descr" "freezer stops the main thread; SIGTERM releases early"
    atf_set "require.user" "root"
}
freezer_main_body()
{
    require_tools freezer threadtoy
    start_toy toy.out
    start_freezer fz.out main 60
    [ "$FZ_TID" = "$TOY_PID" ] || atf_fail "main should be TID $TOY_PID, got $FZ_TID"
    assert_stalled toy.out main ticker
    frozen_at=$(last_count toy.out main)
    kill -TERM "$FZ_PID"
    finish_freezer 5
    atf_check -o inline:"frozen $FZ_TID\nreleased $FZ_TID\n" cat fz.out
    wait_for 10 "main to resume" count_above toy.out main "$frozen_at"
}
freezer_main_cleanup()
{
    cleanup_all
}

atf_test_case freezer_gone cleanup
freezer_gone_head()
{
    atf_set "descr" "freezer reports gone when the frozen process is killed"
    atf_set "require.user" "root"
}
freezer_gone_body()
{
    require_tools freezer threadtoy
    start_toy toy.out
    start_freezer fz.out ticker 60
    kill -KILL "$TOY_PID"
    finish_freezer 10
    atf_check -o inline:"frozen $FZ_TID\ngone $FZ_TID\n" cat fz.out
}
freezer_gone_cleanup()
{
    cleanup_all
}

atf_test_case freezer_exec cleanup
freezer_exec_head()
{
    atf_set "descr" "execve() by another thread completes while a thread" \
        "(ticker, then the main thread) is frozen; freezer reports gone"
    atf_set "require.user" "root"
}
freezer_exec_body()
{
    require_tools freezer threadtoy
    for target in ticker main; do
        rm -f go "toy_$target.out"
        start_toy "toy_$target.out" -x "$(pwd)/go"
        start_freezer "fz_$target.out" "$target" 60
        : > go
        wait_for 10 "the re-executed generation ($target frozen)" \
            has_line "toy_$target.out" "^start gen 2 pid $TOY_PID\$"
        finish_freezer 10
        atf_check -o inline:"frozen $FZ_TID\ngone $FZ_TID\n" cat "fz_$target.out"
        # The new image runs both threads again, none of them stopped.
        n=$(grep -n '^start gen 2' "toy_$target.out" | cut -d: -f1)
        wait_for 10 "gen 2 ticker" sh -c \
            "tail -n +$n toy_$target.out | grep -q '^ticker 5\$'"
        wait_for 10 "gen 2 main" sh -c \
            "tail -n +$n toy_$target.out | grep -q '^main 5\$'"
        kill -KILL "$TOY_PID"
    done
}
freezer_exec_cleanup()
{
    cleanup_all
}

atf_test_case freezer_errors cleanup
freezer_errors_head()
{
    atf_set "descr" "freezer exits 1 with a one-line message on bad targets"
    atf_set "require.user" "root"
}
freezer_errors_body()
{
    require_tools freezer threadtoy
    start_toy toy.out
    atf_check -s exit:1 -e match:"^freezer: thread 'nosuch' in process $TOY_PID: not found\$" \
        "$(tool freezer)" -p "$TOY_PID" -t nosuch -s 1
    true &
    gone_pid=$!
    wait "$gone_pid"
    atf_check -s exit:1 -e match:"^freezer: process $gone_pid: No such file or directory\$" \
        "$(tool freezer)" -p "$gone_pid" -t main -s 1
    # A thread that is already traced cannot be seized a second time.
    start_freezer fz.out ticker 60
    atf_check -s exit:1 -e match:"^freezer: ptrace seize $FZ_TID: Operation not permitted\$" \
        "$(tool freezer)" -p "$TOY_PID" -t ticker -s 1
    atf_check -s exit:2 -e match:usage "$(tool freezer)" -p "$TOY_PID"
    kill -TERM "$FZ_PID"
    finish_freezer 5
}
freezer_errors_cleanup()
{
    cleanup_all
}

# ---------------------------------------------------------------- faultinject

# run_rawsend NS OUT [RAWSEND OPTIONS...]: runs rawsend in NS with the
# fault-injection library preloaded, saving stdout to OUT.
run_rawsend()
{
    tt_ns=$1
    tt_out=$2
    shift 2
    atf_check -o save:"$tt_out" ip netns exec "$tt_ns" env \
        LD_PRELOAD="$(tool faultinject.so)" \
        FAULTINJECT_TRIGGER="$(pwd)/trigger" \
        FAULTINJECT_LOG="$(pwd)/fi.log" \
        "$(tool rawsend)" "$@"
}

# expect_steps FILE RESULT STEP...: each STEP line in FILE has RESULT.
expect_steps()
{
    tt_f=$1
    tt_r=$2
    shift 2
    for tt_s in "$@"; do
        grep -qx -- "$tt_s $tt_r" "$tt_f" ||
            atf_fail "expected '$tt_s $tt_r' in: $(tr '\n' ';' < "$tt_f")"
    done
}

atf_test_case faultinject_stale cleanup
faultinject_stale_head()
{
    atf_set "descr" "faultinject: pre-trigger raw ICMP sockets fail with" \
        "EHOSTUNREACH forever, new ones (dup3'd onto the old fd) work"
    atf_set "require.user" "root"
    atf_set "require.progs" "ip"
}
faultinject_stale_body()
{
    require_tools faultinject.so rawsend
    ns=dpt_fi1_$$
    new_netns "$ns"
    rm -f trigger fi.log
    run_rawsend "$ns" out.txt -t "$(pwd)/trigger"
    for fam in v4 v6; do
        expect_steps out.txt ok ${fam}_before_sendto ${fam}_before_send \
            ${fam}_fresh_dup3_sendto ${fam}_fresh_dup3_sendmsg
        expect_steps out.txt "err EHOSTUNREACH" ${fam}_after_sendto \
            ${fam}_after_sendto_again ${fam}_after_send ${fam}_after_sendmsg \
            ${fam}_after_dup_sendto ${fam}_after_send_still
    done
    expect_steps out.txt ok udp_before_sendto udp_after_sendto
    atf_check -o inline:'faultinject: trigger fired\n' head -n 1 fi.log
    atf_check -o inline:'4\n' grep -c '^faultinject: socket ino [0-9]* stale$' fi.log
    atf_check -o inline:'5 fi.log\n' wc -l fi.log

    # The same program without the library: every step works.
    atf_check -o save:plain.txt ip netns exec "$ns" "$(tool rawsend)" \
        -t "$(pwd)/trigger2"
    atf_check -s exit:1 grep -v -e ' ok$' -e '^trigger created$' plain.txt
}
faultinject_stale_cleanup()
{
    cleanup_all
}

atf_test_case faultinject_quiet cleanup
faultinject_quiet_head()
{
    atf_set "descr" "faultinject changes nothing before the trigger or for" \
        "sockets created after it, and prints nothing itself"
    atf_set "require.user" "root"
    atf_set "require.progs" "ip"
}
faultinject_quiet_body()
{
    require_tools faultinject.so rawsend
    ns=dpt_fi2_$$
    new_netns "$ns"
    # Trigger never created: nothing fails, nothing is logged.
    rm -f trigger fi.log
    run_rawsend "$ns" none.txt
    atf_check -s exit:1 grep -v ' ok$' none.txt
    [ ! -e fi.log ] || atf_fail "log written without a trigger: $(cat fi.log)"
    # Trigger present from the start: all sockets are post-trigger and work.
    : > trigger
    run_rawsend "$ns" post.txt
    atf_check -s exit:1 grep -v ' ok$' post.txt
    atf_check -o inline:'faultinject: trigger fired\n' cat fi.log
    # Without FAULTINJECT_LOG the library is silent on stdout and stderr.
    rm -f trigger
    atf_check -o save:silent.txt -e empty ip netns exec "$ns" env \
        LD_PRELOAD="$(tool faultinject.so)" \
        FAULTINJECT_TRIGGER="$(pwd)/trigger" \
        "$(tool rawsend)" -t "$(pwd)/trigger"
    expect_steps silent.txt "err EHOSTUNREACH" v4_after_sendto v6_after_sendto
}
faultinject_quiet_cleanup()
{
    cleanup_all
}

atf_test_case faultinject_exec cleanup
faultinject_exec_head()
{
    atf_set "descr" "faultinject: stale sockets stay stale across execve()" \
        "when inherited by the new process image"
    atf_set "require.user" "root"
    atf_set "require.progs" "ip"
}
faultinject_exec_body()
{
    require_tools faultinject.so rawsend
    ns=dpt_fi3_$$
    new_netns "$ns"
    rm -f trigger trigger.sockets fi.log
    run_rawsend "$ns" exec.txt -X -t "$(pwd)/trigger"
    expect_steps exec.txt ok exec_v4_before_sendto exec_v6_before_sendto \
        exec_v4_fresh_sendto exec_v6_fresh_sendto
    expect_steps exec.txt "err EHOSTUNREACH" exec_v4_inherited_sendto \
        exec_v6_inherited_sendto
    atf_check -o inline:'2\n' grep -c '^faultinject: socket ino [0-9]* stale$' fi.log
    # Without the trigger the inherited sockets keep working.
    rm -f trigger trigger.sockets fi.log
    run_rawsend "$ns" exec_quiet.txt -X
    atf_check -s exit:1 grep -v ' ok$' exec_quiet.txt
}
faultinject_exec_cleanup()
{
    cleanup_all
}

atf_init_test_cases()
{
    atf_add_test_case tunpeer_ping
    atf_add_test_case tunpeer_recreate
    atf_add_test_case tunpeer_delay_loss
    atf_add_test_case tunpeer_upcmd_fails
    atf_add_test_case freezer_thread
    atf_add_test_case freezer_main
    atf_add_test_case freezer_gone
    atf_add_test_case freezer_exec
    atf_add_test_case freezer_errors
    atf_add_test_case faultinject_stale
    atf_add_test_case faultinject_quiet
    atf_add_test_case faultinject_exec
}
