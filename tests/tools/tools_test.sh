#!/usr/bin/env atf-sh
#
# Checks the test tools in tests/tools for real: tunpeer (a VTI stand-in that
# answers pings itself), freezer (stops one thread of a process) and
# faultinject.so (simulated FreeBSD stale-socket behaviour). The binaries are
# expected next to this script, built from the sources here. Needs root, ip
# and ping. Namespaces and background processes go through the helper
# library (tests/lib/netns.subr), which records them and removes exactly
# those in cleanup.

. "$(atf_get_srcdir)/../lib/netns.subr"

UPCMD='ip link set dev $TUNPEER_IF up && ip addr add 10.9.0.1 peer 10.9.0.2 dev $TUNPEER_IF && ip -6 addr add fd00:9::1 peer fd00:9::2 dev $TUNPEER_IF nodad'

# last_count FILE LABEL: prints the number of the last "LABEL N" line (or 0).
last_count()
{
    tt_n=$(grep "^$2 [0-9]*\$" "$1" 2>/dev/null | tail -n 1 | cut -d' ' -f2)
    echo "${tt_n:-0}"
}

# last_count_above FILE LABEL N: true once the last LABEL count is above N.
last_count_above()
{
    [ "$(last_count "$1" "$2")" -gt "$3" ]
}

# thread_state PID TID: prints the one-letter scheduler state of a thread.
thread_state()
{
    sed 's/.*) //' "/proc/$1/task/$2/stat" | cut -d' ' -f1
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
    pid_record "$TP_PID"
    wait_for 10 file_has ready '^1$' ||
        atf_fail "timed out waiting for tunpeer generation 1: $(oneline tunpeer.err)"
}

# stop_tunpeer: sends SIGTERM, waits for exit 0 and the counters line.
stop_tunpeer()
{
    kill -TERM "$TP_PID"
    daemon_exit_status 10 "$TP_PID" || atf_fail "timed out waiting for tunpeer to exit"
    [ "$DP_RC" -eq 0 ] || atf_fail "tunpeer exited with $DP_RC: $(oneline tunpeer.err)"
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
    check_built "$(tool tunpeer)"
    netns_init
    ns=$(netns_mk tp1) || atf_fail "cannot make the namespace"
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
    netns_cleanup
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
    check_built "$(tool tunpeer)"
    netns_init
    ns=$(netns_mk tp2) || atf_fail "cannot make the namespace"
    start_tunpeer "$ns" -g 100
    idx1=$(ifindex "$ns")
    [ -n "$idx1" ] || atf_fail "tun0 not found after start"
    atf_check -o ignore ip netns exec "$ns" ping -c 1 -W 2 10.9.0.2

    kill -USR1 "$TP_PID"
    wait_for 10 file_has ready '^2$' ||
        atf_fail "timed out waiting for tunpeer generation 2"
    idx2=$(ifindex "$ns")
    [ -n "$idx2" ] || atf_fail "tun0 not found after recreation"
    [ "$idx1" != "$idx2" ] || atf_fail "ifindex unchanged ($idx1) after SIGUSR1"
    atf_check -o match:'2 received' \
        ip netns exec "$ns" ping -c 2 -i 0.2 -W 2 10.9.0.2
    atf_check -o match:'2 received' \
        ip netns exec "$ns" ping -6 -c 2 -i 0.2 -W 2 fd00:9::2

    kill -USR2 "$TP_PID"
    wait_for 10 ping_fails "$ns" 10.9.0.2 ||
        atf_fail "timed out waiting for tunpeer to mute"
    atf_check -s exit:1 -o match:'3 packets transmitted, 0 received' \
        ip netns exec "$ns" ping -c 3 -i 0.2 -W 1 10.9.0.2
    atf_check -s exit:1 -o match:'0 received' \
        ip netns exec "$ns" ping -6 -c 1 -W 1 fd00:9::2
    kill -USR2 "$TP_PID"
    wait_for 10 ping_ok "$ns" 10.9.0.2 ||
        atf_fail "timed out waiting for tunpeer to unmute"
    atf_check -o match:'2 received' \
        ip netns exec "$ns" ping -6 -c 2 -i 0.2 -W 2 fd00:9::2

    # A second recreation works too.
    kill -USR1 "$TP_PID"
    wait_for 10 file_has ready '^3$' ||
        atf_fail "timed out waiting for tunpeer generation 3"
    idx3=$(ifindex "$ns")
    [ "$idx3" != "$idx2" ] || atf_fail "ifindex unchanged ($idx2) after 2nd SIGUSR1"
    atf_check -o ignore ip netns exec "$ns" ping -c 1 -W 2 10.9.0.2
    stop_tunpeer
}
tunpeer_recreate_cleanup()
{
    netns_cleanup
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
    check_built "$(tool tunpeer)"
    netns_init
    ns=$(netns_mk tp3) || atf_fail "cannot make the namespace"

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
    netns_cleanup
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
    check_built "$(tool tunpeer)"
    netns_init
    ns=$(netns_mk tp4) || atf_fail "cannot make the namespace"
    ip netns exec "$ns" "$(tool tunpeer)" -i tun0 -c 'exit 3' \
        -r "$(pwd)/ready" 2> tunpeer.err &
    TP_PID=$!
    pid_record "$TP_PID"
    wait_for 10 file_has tunpeer.err "up_cmd 'exit 3' exited with status 3" ||
        atf_fail "timed out waiting for the up_cmd error"
    proc_alive "$TP_PID" || atf_fail "tunpeer exited after a failing up_cmd"
    atf_check -o ignore ip -n "$ns" link show dev tun0
    [ ! -e ready ] || atf_fail "readyfile written although up_cmd failed"
    stop_tunpeer
}
tunpeer_upcmd_fails_cleanup()
{
    netns_cleanup
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
    pid_record "$TOY_PID"
    wait_for 10 last_count_above "$tt_out" ticker 2 ||
        atf_fail "timed out waiting for threadtoy ticker"
    wait_for 10 last_count_above "$tt_out" main 2 ||
        atf_fail "timed out waiting for threadtoy main"
}

# start_freezer OUTFILE THREAD SECONDS: starts freezer on TOY_PID (its
# stdout and stderr to OUTFILE), waits for "frozen TID"; sets FZ_PID, FZ_TID.
start_freezer()
{
    freeze "$TOY_PID" "$2" "$3" "$1" ||
        atf_fail "timed out waiting for freezer to report frozen: $(oneline "$1")"
    FZ_PID=$FREEZER
    FZ_TID=$(sed -n 's/^frozen //p' "$1")
}

# finish_freezer SECONDS: waits for the freezer to exit and checks status 0.
finish_freezer()
{
    daemon_exit_status "$1" "$FZ_PID" || atf_fail "timed out waiting for freezer to exit"
    [ "$DP_RC" -eq 0 ] || atf_fail "freezer exited with $DP_RC"
}

# assert_stalled OUTFILE FROZEN RUNNING: the FROZEN label's count does not
# move while the RUNNING label's count advances by 30 ticks (about 300 ms).
assert_stalled()
{
    tt_before=$(last_count "$1" "$2")
    tt_ref=$(last_count "$1" "$3")
    wait_for 10 last_count_above "$1" "$3" $((tt_ref + 30)) ||
        atf_fail "timed out waiting for $3 to keep counting"
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
    require_linux "the ptrace thread freezer"
    check_built "$(tool freezer)" "$(tool threadtoy)"
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
    wait_for 10 last_count_above toy.out ticker "$frozen_at" ||
        atf_fail "timed out waiting for ticker to resume"
    proc_alive "$TOY_PID" || atf_fail "threadtoy died"
}
freezer_thread_cleanup()
{
    netns_cleanup
}

atf_test_case freezer_main cleanup
freezer_main_head()
{
    atf_set "descr" "freezer stops the main thread; SIGTERM releases early"
    atf_set "require.user" "root"
}
freezer_main_body()
{
    require_linux "the ptrace thread freezer"
    check_built "$(tool freezer)" "$(tool threadtoy)"
    start_toy toy.out
    start_freezer fz.out main 60
    [ "$FZ_TID" = "$TOY_PID" ] || atf_fail "main should be TID $TOY_PID, got $FZ_TID"
    assert_stalled toy.out main ticker
    frozen_at=$(last_count toy.out main)
    kill -TERM "$FZ_PID"
    finish_freezer 5
    atf_check -o inline:"frozen $FZ_TID\nreleased $FZ_TID\n" cat fz.out
    wait_for 10 last_count_above toy.out main "$frozen_at" ||
        atf_fail "timed out waiting for main to resume"
}
freezer_main_cleanup()
{
    netns_cleanup
}

atf_test_case freezer_gone cleanup
freezer_gone_head()
{
    atf_set "descr" "freezer reports gone when the frozen process is killed"
    atf_set "require.user" "root"
}
freezer_gone_body()
{
    require_linux "the ptrace thread freezer"
    check_built "$(tool freezer)" "$(tool threadtoy)"
    start_toy toy.out
    start_freezer fz.out ticker 60
    kill -KILL "$TOY_PID"
    finish_freezer 10
    atf_check -o inline:"frozen $FZ_TID\ngone $FZ_TID\n" cat fz.out
}
freezer_gone_cleanup()
{
    netns_cleanup
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
    require_linux "the ptrace thread freezer"
    check_built "$(tool freezer)" "$(tool threadtoy)"
    for target in ticker main; do
        rm -f go "toy_$target.out"
        start_toy "toy_$target.out" -x "$(pwd)/go"
        start_freezer "fz_$target.out" "$target" 60
        : > go
        wait_for 10 file_has "toy_$target.out" "^start gen 2 pid $TOY_PID\$" ||
            atf_fail "timed out waiting for the re-executed generation ($target frozen)"
        finish_freezer 10
        atf_check -o inline:"frozen $FZ_TID\ngone $FZ_TID\n" cat "fz_$target.out"
        # The new image runs both threads again, none of them stopped.
        n=$(grep -n '^start gen 2' "toy_$target.out" | cut -d: -f1)
        wait_for 10 sh -c "tail -n +$n toy_$target.out | grep -q '^ticker 5\$'" ||
            atf_fail "timed out waiting for gen 2 ticker"
        wait_for 10 sh -c "tail -n +$n toy_$target.out | grep -q '^main 5\$'" ||
            atf_fail "timed out waiting for gen 2 main"
        kill -KILL "$TOY_PID"
    done
}
freezer_exec_cleanup()
{
    netns_cleanup
}

atf_test_case freezer_errors cleanup
freezer_errors_head()
{
    atf_set "descr" "freezer exits 1 with a one-line message on bad targets"
    atf_set "require.user" "root"
}
freezer_errors_body()
{
    require_linux "the ptrace thread freezer"
    check_built "$(tool freezer)" "$(tool threadtoy)"
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
    netns_cleanup
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
        FAULTINJECT_COUNT="$(pwd)/refused" \
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
        "EHOSTUNREACH forever, new ones (dup3'd onto the old fd) work;" \
        "FAULTINJECT_COUNT counts the refusals"
    atf_set "require.user" "root"
    atf_set "require.progs" "ip"
}
faultinject_stale_body()
{
    check_built "$(tool faultinject.so)" "$(tool rawsend)"
    netns_init
    ns=$(netns_mk fi1) || atf_fail "cannot make the namespace"
    rm -f trigger fi.log refused
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
    # Six refused sends per family, counted
    atf_check -o inline:'12\n' cat refused

    # The same program without the library: every step works.
    atf_check -o save:plain.txt ip netns exec "$ns" "$(tool rawsend)" \
        -t "$(pwd)/trigger2"
    atf_check -s exit:1 grep -v -e ' ok$' -e '^trigger created$' plain.txt
}
faultinject_stale_cleanup()
{
    netns_cleanup
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
    check_built "$(tool faultinject.so)" "$(tool rawsend)"
    netns_init
    ns=$(netns_mk fi2) || atf_fail "cannot make the namespace"
    # Trigger never created: nothing fails, nothing is logged.
    rm -f trigger fi.log refused
    run_rawsend "$ns" none.txt
    atf_check -s exit:1 grep -v ' ok$' none.txt
    [ ! -e fi.log ] || atf_fail "log written without a trigger: $(cat fi.log)"
    [ ! -e refused ] || atf_fail "refusals counted without a trigger: $(cat refused)"
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
    netns_cleanup
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
    check_built "$(tool faultinject.so)" "$(tool rawsend)"
    netns_init
    ns=$(netns_mk fi3) || atf_fail "cannot make the namespace"
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
    netns_cleanup
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
