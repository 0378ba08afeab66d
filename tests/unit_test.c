//
// Unit tests for dpinger's pure functions: parsers, cross-checks, window
// arithmetic and statistics, packet parsing, routing-message decoders for
// both kernels' formats, errno classification and the back-off policies.
// dpinger.c is compiled into this program with its main() renamed.
//

#define DPINGER_MAIN dpinger_main
#define DPINGER_ALL_DECODERS 1
#include "../dpinger.c"

#include <atf-c.h>

#include "lib/route_msgs.h"

#if defined(__linux__)
#include <linux/if_addr.h>
#endif

// Parse a command line given as a string of space-separated words
static int
parse_line(
    const char *        line,
    struct config *     c,
    char *              err,
    size_t              errlen)
{
    static char         copy[1024];
    char *              argv[64];
    int                 argc = 0;
    char *              word;
    int                 rc;

    snprintf(copy, sizeof(copy), "dpinger %s", line);
    for (word = strtok(copy, " "); word && argc < 63; word = strtok(NULL, " "))
    {
        argv[argc++] = word;
    }
    argv[argc] = NULL;
    rc = args_parse(argc, argv, c, err, errlen);
    if (rc != ARGS_OK)
    {
        return rc;
    }
    return config_check(c, err, errlen) ? ARGS_BAD : ARGS_OK;
}


ATF_TC(time_values);
ATF_TC_HEAD(time_values, tc)
{
    atf_tc_set_md_var(tc, "descr", "Times are integer milliseconds with an optional m or s suffix; anything else is rejected");
}
ATF_TC_BODY(time_values, tc)
{
    unsigned long       v;

    ATF_CHECK(parse_time("500", &v) == 0 && v == 500);
    ATF_CHECK(parse_time("500m", &v) == 0 && v == 500);
    ATF_CHECK(parse_time("2s", &v) == 0 && v == 2000);
    ATF_CHECK(parse_time("  10", &v) == 0 && v == 10);
    ATF_CHECK(parse_time("0", &v) == 0 && v == 0);
    ATF_CHECK(parse_time("1.5s", &v) == -1);
    ATF_CHECK(parse_time("-5", &v) == -1);
    ATF_CHECK(parse_time("5x", &v) == -1);
    ATF_CHECK(parse_time("5ms", &v) == -1);
    ATF_CHECK(parse_time("", &v) == -1);
    ATF_CHECK(parse_time("s", &v) == -1);
    ATF_CHECK(parse_time("99999999999999999999", &v) == -1);
    ATF_CHECK(parse_time("9300000000000000s", &v) == -1);
    ATF_CHECK(parse_time("2147483647", &v) == 0 && v == 2147483647ul);
    ATF_CHECK(parse_time("2147483648", &v) == -1);
    ATF_CHECK(parse_time("2147483s", &v) == 0 && v == 2147483000ul);
    ATF_CHECK(parse_time("2147484s", &v) == -1);
}

ATF_TC(percent_values);
ATF_TC_HEAD(percent_values, tc)
{
    atf_tc_set_md_var(tc, "descr", "Percentages are integers 0..100 with an optional %%");
}
ATF_TC_BODY(percent_values, tc)
{
    unsigned long       v;

    ATF_CHECK(parse_percent("0", &v) == 0 && v == 0);
    ATF_CHECK(parse_percent("100", &v) == 0 && v == 100);
    ATF_CHECK(parse_percent("20%", &v) == 0 && v == 20);
    ATF_CHECK(parse_percent("101", &v) == -1);
    ATF_CHECK(parse_percent("-1", &v) == -1);
    ATF_CHECK(parse_percent("5%%", &v) == -1);
    ATF_CHECK(parse_percent("5 ", &v) == -1);
    ATF_CHECK(parse_percent("", &v) == -1);
}

ATF_TC(length_values);
ATF_TC_HEAD(length_values, tc)
{
    atf_tc_set_md_var(tc, "descr", "Lengths are integers with an optional b or k (x1024) suffix");
}
ATF_TC_BODY(length_values, tc)
{
    unsigned long       v;

    ATF_CHECK(parse_length("3", &v) == 0 && v == 3);
    ATF_CHECK(parse_length("10b", &v) == 0 && v == 10);
    ATF_CHECK(parse_length("1k", &v) == 0 && v == 1024);
    ATF_CHECK(parse_length("1kb", &v) == -1);
    ATF_CHECK(parse_length("-1", &v) == -1);
    ATF_CHECK(parse_length("1m", &v) == -1);
    ATF_CHECK(parse_length("9100000000000000k", &v) == -1);
}

ATF_TC(count_values);
ATF_TC_HEAD(count_values, tc)
{
    atf_tc_set_md_var(tc, "descr", "The -E count is a plain non-negative integer");
}
ATF_TC_BODY(count_values, tc)
{
    unsigned long       v;

    ATF_CHECK(parse_count("0", &v) == 0 && v == 0);
    ATF_CHECK(parse_count("3", &v) == 0 && v == 3);
    ATF_CHECK(parse_count("3s", &v) == -1);
    ATF_CHECK(parse_count("-1", &v) == -1);
    ATF_CHECK(parse_count("10000000", &v) == -1);
}

ATF_TC(option_values);
ATF_TC_HEAD(option_values, tc)
{
    atf_tc_set_md_var(tc, "descr", "Every option stores its value, the defaults apply, and bad values name the option");
}
ATF_TC_BODY(option_values, tc)
{
    struct config       c;
    char                err[512];

    ATF_REQUIRE_EQ(parse_line("-S -r 0 -i GW -B 10.0.0.1 -p /tmp/x.pid -u /tmp/x.sock -C /bin/true "
                              "-d 1 -s 500 -l 2000 -t 60000 -A 1000 -D 500 -L 20 10.0.0.2", &c, err, sizeof(err)), ARGS_OK);
    ATF_CHECK(c.use_syslog && c.report_interval == 0 && strcmp(c.identifier, "GW") == 0);
    ATF_CHECK(c.send_interval == 500 && c.loss_interval == 2000 && c.time_period == 60000);
    ATF_CHECK(c.alert_interval == 1000 && c.latency_alarm == 500 && c.loss_alarm == 20 && c.data_len == 1);
    ATF_CHECK(c.alarm_hold == 10000 && c.send_error_limit == 3 && c.watchdog_limit == 5000);
    ATF_CHECK(c.slot_count == 120 && c.seq_limit == 61440);
    ATF_CHECK_STREQ(c.prefix, "GW ");
    ATF_CHECK(c.family == AF_INET && c.bind_len > 0);

    ATF_REQUIRE_EQ(parse_line("-f -R -P -N -E 0 -W 0 -H 3s 192.0.2.1", &c, err, sizeof(err)), ARGS_OK);
    ATF_CHECK(c.foreground && c.rewind_output && c.realtime_recv && c.no_route_socket);
    ATF_CHECK(c.send_error_limit == 0 && c.watchdog_limit == 0 && c.alarm_hold == 3000);
    ATF_CHECK(c.loss_interval == 2000 && c.report_interval == 1000);
    ATF_CHECK_STREQ(c.prefix, "");

    ATF_CHECK_EQ(parse_line("-s 1.5s 10.0.0.2", &c, err, sizeof(err)), ARGS_BAD);
    ATF_CHECK(strstr(err, "-s") && strstr(err, "1.5s"));
    ATF_CHECK_EQ(parse_line("-s 0 10.0.0.2", &c, err, sizeof(err)), ARGS_BAD);
    ATF_CHECK_EQ(parse_line("-l 0 10.0.0.2", &c, err, sizeof(err)), ARGS_BAD);
    ATF_CHECK_EQ(parse_line("-A 0 10.0.0.2", &c, err, sizeof(err)), ARGS_BAD);
    ATF_CHECK_EQ(parse_line("-t 0 10.0.0.2", &c, err, sizeof(err)), ARGS_BAD);
    ATF_CHECK_EQ(parse_line("-r x 10.0.0.2", &c, err, sizeof(err)), ARGS_BAD);
    ATF_CHECK_EQ(parse_line("-L 101 10.0.0.2", &c, err, sizeof(err)), ARGS_BAD);
    ATF_CHECK_EQ(parse_line("-W -1 10.0.0.2", &c, err, sizeof(err)), ARGS_BAD);
    ATF_CHECK(strstr(err, "-W") != NULL);
    ATF_CHECK_EQ(parse_line("-W 1999 10.0.0.2", &c, err, sizeof(err)), ARGS_BAD);
    ATF_CHECK_EQ(parse_line("-W 1s 10.0.0.2", &c, err, sizeof(err)), ARGS_BAD);
    ATF_CHECK_EQ(parse_line("-W 2s 10.0.0.2", &c, err, sizeof(err)), ARGS_OK);
    ATF_CHECK_EQ(parse_line("-E x 10.0.0.2", &c, err, sizeof(err)), ARGS_BAD);
    ATF_CHECK_EQ(parse_line("-x 10.0.0.2", &c, err, sizeof(err)), ARGS_USAGE);
    ATF_CHECK(strstr(err, "-x") != NULL);
    ATF_CHECK_EQ(parse_line("-s", &c, err, sizeof(err)), ARGS_USAGE);
    ATF_CHECK_EQ(parse_line("-h 10.0.0.2", &c, err, sizeof(err)), ARGS_USAGE);
    ATF_CHECK_EQ(parse_line("", &c, err, sizeof(err)), ARGS_USAGE);
    ATF_CHECK_EQ(parse_line("10.0.0.2 10.0.0.3", &c, err, sizeof(err)), ARGS_USAGE);
}

ATF_TC(identifier_limit);
ATF_TC_HEAD(identifier_limit, tc)
{
    atf_tc_set_md_var(tc, "descr", "An identifier of 62 bytes is accepted, 63 bytes is rejected; so is a socket path beyond sun_path");
}
ATF_TC_BODY(identifier_limit, tc)
{
    struct config       c;
    char                err[512];
    char                line[512];
    char                ident[80];
    char                path[200];

    memset(ident, 'x', sizeof(ident));
    ident[62] = '\0';
    snprintf(line, sizeof(line), "-i %s 10.0.0.2", ident);
    ATF_CHECK_EQ(parse_line(line, &c, err, sizeof(err)), ARGS_OK);
    ident[62] = 'x';
    ident[63] = '\0';
    snprintf(line, sizeof(line), "-i %s 10.0.0.2", ident);
    ATF_CHECK_EQ(parse_line(line, &c, err, sizeof(err)), ARGS_BAD);
    ATF_CHECK(strstr(err, "-i") != NULL);

    memset(path, 'p', sizeof(path));
    path[0] = '/';
    path[sizeof(((struct sockaddr_un *) 0)->sun_path)] = '\0';
    snprintf(line, sizeof(line), "-u %s 10.0.0.2", path);
    ATF_CHECK_EQ(parse_line(line, &c, err, sizeof(err)), ARGS_BAD);
    ATF_CHECK(strstr(err, "-u") != NULL);
    path[sizeof(((struct sockaddr_un *) 0)->sun_path) - 1] = '\0';
    snprintf(line, sizeof(line), "-u %s 10.0.0.2", path);
    ATF_CHECK_EQ(parse_line(line, &c, err, sizeof(err)), ARGS_OK);
}

ATF_TC(cross_check_order);
ATF_TC_HEAD(cross_check_order, tc)
{
    atf_tc_set_md_var(tc, "descr", "The cross-checks run in upstream's order: activity, period, ratio, destination, bind, data length");
}
ATF_TC_BODY(cross_check_order, tc)
{
    struct config       c;
    char                err[512];

    // Everything wrong at once: the first check speaks
    ATF_CHECK_EQ(parse_line("-r 0 -s 1 -t 100000 -d 70000 -B ::1 not-an-address", &c, err, sizeof(err)), ARGS_BAD);
    ATF_CHECK_STREQ(err, "no activity enabled");
    ATF_CHECK_EQ(parse_line("-s 1000 -t 2000 -d 70000 not-an-address", &c, err, sizeof(err)), ARGS_BAD);
    ATF_CHECK(strstr(err, "time period") == err);
    // The given -l counts, the default does not
    ATF_CHECK_EQ(parse_line("-s 500 -t 2000 10.0.0.2", &c, err, sizeof(err)), ARGS_OK);
    ATF_CHECK_EQ(parse_line("-s 500 -l 1000 -t 2000 10.0.0.2", &c, err, sizeof(err)), ARGS_BAD);
    ATF_CHECK_EQ(parse_line("-s 500 -l 999 -t 2000 10.0.0.2", &c, err, sizeof(err)), ARGS_OK);
    ATF_CHECK_EQ(parse_line("-s 1 -t 65536 -d 70000 not-an-address", &c, err, sizeof(err)), ARGS_BAD);
    ATF_CHECK(strstr(err, "65535") != NULL);
    // Huge values must not wrap the period check
    ATF_CHECK_EQ(parse_line("-s 2147483647 -l 2 10.0.0.2", &c, err, sizeof(err)), ARGS_BAD);
    ATF_CHECK(strstr(err, "time period") == err);
    ATF_CHECK_EQ(parse_line("-A 2147483647 10.0.0.2", &c, err, sizeof(err)), ARGS_OK);
    ATF_CHECK(c.alarm_hold >= c.alert_interval);
    ATF_CHECK_EQ(parse_line("-s 1 -t 65535 -d 70000 not-an-address", &c, err, sizeof(err)), ARGS_BAD);
    ATF_CHECK(strstr(err, "destination") != NULL);
    ATF_CHECK_EQ(parse_line("-d 70000 -B ::1 10.0.0.2", &c, err, sizeof(err)), ARGS_BAD);
    ATF_CHECK(strstr(err, "bind address") != NULL);
    ATF_CHECK_EQ(parse_line("-d 70000 -B nonsense 10.0.0.2", &c, err, sizeof(err)), ARGS_BAD);
    ATF_CHECK(strstr(err, "bind address") != NULL);
    ATF_CHECK_EQ(parse_line("-d 65508 10.0.0.2", &c, err, sizeof(err)), ARGS_BAD);
    ATF_CHECK(strstr(err, "data length") != NULL);
    ATF_CHECK_EQ(parse_line("-d 65507 10.0.0.2", &c, err, sizeof(err)), ARGS_OK);
    ATF_CHECK_EQ(parse_line("-d 65527 ::1", &c, err, sizeof(err)), ARGS_OK);
    ATF_CHECK_EQ(parse_line("-d 65528 ::1", &c, err, sizeof(err)), ARGS_BAD);
    ATF_CHECK_EQ(parse_line("example.com", &c, err, sizeof(err)), ARGS_BAD);
    ATF_CHECK_EQ(parse_line("-r 0 -D 100 10.0.0.2", &c, err, sizeof(err)), ARGS_OK);
    ATF_CHECK_EQ(parse_line("-r 0 -L 10 10.0.0.2", &c, err, sizeof(err)), ARGS_OK);
    ATF_CHECK_EQ(parse_line("-r 0 -u /tmp/s 10.0.0.2", &c, err, sizeof(err)), ARGS_OK);
    ATF_CHECK_EQ(parse_line("fe80::1%lo", &c, err, sizeof(err)), ARGS_OK);
    ATF_CHECK(c.family == AF_INET6);
}

ATF_TC(slot_arithmetic);
ATF_TC_HEAD(slot_arithmetic, tc)
{
    atf_tc_set_md_var(tc, "descr", "Slot count and sequence limit: the limit is a multiple of the slots with bit 15 set; ratio 65535 is accepted, 65536 is not");
}
ATF_TC_BODY(slot_arithmetic, tc)
{
    struct config       c;
    char                err[512];
    unsigned long       slots;

    ATF_CHECK_EQ(seq_limit_for(120), 61440u);
    ATF_CHECK_EQ(seq_limit_for(65535), 65535u);
    ATF_CHECK_EQ(seq_limit_for(32768), 32768u);
    ATF_CHECK_EQ(seq_limit_for(3), 49152u);
    ATF_CHECK_EQ(seq_limit_for(1), 32768u);
    ATF_CHECK_EQ(seq_limit_for(0), 0u);
    ATF_CHECK_EQ(seq_limit_for(65536), 0u);
    for (slots = 1; slots <= 65535; slots++)
    {
        unsigned limit = seq_limit_for(slots);

        if (limit % slots || !(limit & 0x8000) || limit > 65535)
        {
            atf_tc_fail("bad sequence limit %u for %lu slots", limit, slots);
        }
    }
    ATF_CHECK_EQ(parse_line("-s 1 -t 65535 10.0.0.2", &c, err, sizeof(err)), ARGS_OK);
    ATF_CHECK(c.slot_count == 65535 && c.seq_limit == 65535);
    ATF_CHECK_EQ(parse_line("-s 1 -t 65536 10.0.0.2", &c, err, sizeof(err)), ARGS_BAD);
}

ATF_TC(integer_sqrt);
ATF_TC_HEAD(integer_sqrt, tc)
{
    atf_tc_set_md_var(tc, "descr", "The integer square root is the floor of the real one");
}
ATF_TC_BODY(integer_sqrt, tc)
{
    uint64_t            n;

    ATF_CHECK_EQ(isqrt64(0), 0u);
    ATF_CHECK_EQ(isqrt64(1), 1u);
    ATF_CHECK_EQ(isqrt64(3), 1u);
    ATF_CHECK_EQ(isqrt64(4), 2u);
    ATF_CHECK_EQ(isqrt64(15), 3u);
    ATF_CHECK_EQ(isqrt64(16), 4u);
    ATF_CHECK_EQ(isqrt64(UINT64_MAX), 4294967295u);
    ATF_CHECK_EQ(isqrt64((uint64_t) 1 << 62), (uint64_t) 1 << 31);
    for (n = 1; n < 100000; n += 7)
    {
        uint64_t r = isqrt64(n);

        ATF_REQUIRE(r * r <= n && (r + 1) * (r + 1) > n);
    }
}

// Put a window slot in a state for the statistics tests
static void
slot_set(
    struct slot *       s,
    unsigned            seq,
    int                 state,
    uint64_t            sent,
    uint32_t            latency)
{
    atomic_store(&s->sent_us, sent);
    atomic_store(&s->latency_us, latency);
    atomic_store(&s->tag, SLOT_TAG(seq, state));
}

ATF_TC(statistics);
ATF_TC_HEAD(statistics, tc)
{
    atf_tc_set_md_var(tc, "descr", "Average, stddev and loss over hand-computed windows: received, lost, in-flight and empty slots");
}
ATF_TC_BODY(statistics, tc)
{
    struct slot         slots[8];
    struct stats        st;
    uint64_t            now = 100000000;
    uint64_t            loss = 2000000;

    // No data at all
    memset(slots, 0, sizeof(slots));
    window_stats(slots, 8, now, loss, &st);
    ATF_CHECK(st.average == 0 && st.stddev == 0 && st.loss == 0);

    // 1000, 2000, 3000 and 4000 us received; average 2500,
    // stddev isqrt(7500000 - 6250000) = isqrt(1250000) = 1118
    slot_set(&slots[0], 0, SLOT_RECEIVED, now - 9000000, 1000);
    slot_set(&slots[1], 1, SLOT_RECEIVED, now - 8000000, 2000);
    slot_set(&slots[2], 2, SLOT_RECEIVED, now - 7000000, 3000);
    slot_set(&slots[3], 3, SLOT_RECEIVED, now - 6000000, 4000);
    window_stats(slots, 8, now, loss, &st);
    ATF_CHECK_EQ(st.average, 2500u);
    ATF_CHECK_EQ(st.stddev, 1118u);
    ATF_CHECK_EQ(st.loss, 0u);

    // One sent long ago: lost; one sent just now: in flight, ignored
    slot_set(&slots[4], 4, SLOT_SENT, now - 5000000, 0);
    slot_set(&slots[5], 5, SLOT_SENT, now - 1000, 0);
    window_stats(slots, 8, now, loss, &st);
    ATF_CHECK_EQ(st.loss, 20u);     // 1 lost of 5
    ATF_CHECK_EQ(st.average, 2500u);

    // Exactly the loss interval old counts as lost
    slot_set(&slots[5], 5, SLOT_SENT, now - loss, 0);
    window_stats(slots, 8, now, loss, &st);
    ATF_CHECK_EQ(st.loss, 33u);     // 2 of 6, integer division

    // Only losses
    memset(slots, 0, sizeof(slots));
    slot_set(&slots[0], 0, SLOT_SENT, now - 9000000, 0);
    slot_set(&slots[1], 1, SLOT_SENT, now - 8000000, 0);
    window_stats(slots, 8, now, loss, &st);
    ATF_CHECK(st.average == 0 && st.stddev == 0 && st.loss == 100);

    // Equal latencies: stddev 0
    memset(slots, 0, sizeof(slots));
    slot_set(&slots[0], 0, SLOT_RECEIVED, now - 9000000, 777);
    slot_set(&slots[1], 1, SLOT_RECEIVED, now - 8000000, 777);
    window_stats(slots, 8, now, loss, &st);
    ATF_CHECK(st.average == 777 && st.stddev == 0 && st.loss == 0);
}

ATF_TC(slot_marking);
ATF_TC_HEAD(slot_marking, tc)
{
    atf_tc_set_md_var(tc, "descr", "A reply marks its slot once; a second reply is a duplicate; a reply for a reused slot, or one received before its request was sent, is ignored");
}
ATF_TC_BODY(slot_marking, tc)
{
    struct slot         s;

    memset(&s, 0, sizeof(s));
    slot_mark_sent(&s, 7, 1000);
    ATF_CHECK_EQ(slot_mark_received(&s, 7, 1500), 1);
    ATF_CHECK_EQ(atomic_load(&s.latency_us), 500u);
    ATF_CHECK_EQ(slot_mark_received(&s, 7, 1600), 0);
    ATF_CHECK_EQ(atomic_load(&s.latency_us), 500u);
    slot_mark_sent(&s, 7 + 120, 2000);
    ATF_CHECK_EQ(slot_mark_received(&s, 7, 2100), -1);
    ATF_CHECK_EQ(SLOT_STATE(atomic_load(&s.tag)), (unsigned) SLOT_SENT);

    // A reply the kernel stamped before its request left was queued
    // before it: a forgery for a sequence not yet sent, never a reply
    memset(&s, 0, sizeof(s));
    slot_mark_sent(&s, 9, 100000);
    ATF_CHECK_EQ(slot_mark_received(&s, 9, 100000 - STAMP_SLACK_US - 1), -1);
    ATF_CHECK_EQ(SLOT_STATE(atomic_load(&s.tag)), (unsigned) SLOT_SENT);
    // Within the clock-conversion slack it is the reply, latency 0
    ATF_CHECK_EQ(slot_mark_received(&s, 9, 100000 - STAMP_SLACK_US), 1);
    ATF_CHECK_EQ(atomic_load(&s.latency_us), 0u);
}

ATF_TC(echo_packets);
ATF_TC_HEAD(echo_packets, tc)
{
    atf_tc_set_md_var(tc, "descr", "Echo requests carry identifier and sequence in network order with a valid checksum; only well-formed echo replies parse");
}
ATF_TC_BODY(echo_packets, tc)
{
    uint8_t             pkt[64];
    uint8_t             in[128];
    struct echo_reply   r;
    size_t              len;

    memset(pkt, 0xa5, sizeof(pkt));
    len = echo_build(AF_INET, pkt, 4, 0x1a2b, 0x0102);
    ATF_CHECK_EQ(len, 12u);
    ATF_CHECK(pkt[0] == 8 && pkt[1] == 0 && pkt[4] == 0x1a && pkt[5] == 0x2b && pkt[6] == 1 && pkt[7] == 2);
    ATF_CHECK_MSG(pkt[8] == 0xa5 && pkt[11] == 0xa5, "the payload is the caller's");
    ATF_CHECK_EQ(inet_cksum(pkt, len), 0u);
    len = echo_build(AF_INET6, pkt, 0, 0xbeef, 9);
    ATF_CHECK(len == 8 && pkt[0] == 128 && pkt[4] == 0xbe && pkt[5] == 0xef && pkt[7] == 9);

    // IPv4: a 24-byte header (options) then the reply
    memset(in, 0, sizeof(in));
    in[0] = 0x46;
    in[24] = 0;
    in[28] = 0x1a;
    in[29] = 0x2b;
    in[30] = 0x00;
    in[31] = 0x05;
    ATF_CHECK_EQ(echo_reply_parse(AF_INET, in, 32, &r), 0);
    ATF_CHECK(r.ident == 0x1a2b && r.seq == 5);
    ATF_CHECK_EQ(echo_reply_parse(AF_INET, in, 31, &r), -1);       // truncated
    in[24] = 8;
    ATF_CHECK_EQ(echo_reply_parse(AF_INET, in, 32, &r), -1);       // a request
    in[24] = 0;
    in[25] = 1;
    ATF_CHECK_EQ(echo_reply_parse(AF_INET, in, 32, &r), -1);       // code not 0
    in[25] = 0;
    in[0] = 0x44;
    ATF_CHECK_EQ(echo_reply_parse(AF_INET, in, 32, &r), -1);       // ihl below 5
    in[0] = 0x4f;
    ATF_CHECK_EQ(echo_reply_parse(AF_INET, in, 32, &r), -1);       // ihl past the end
    in[0] = 0x65;
    ATF_CHECK_EQ(echo_reply_parse(AF_INET, in, 32, &r), -1);       // not IPv4
    ATF_CHECK_EQ(echo_reply_parse(AF_INET, in, 0, &r), -1);

    // IPv6: no IP header
    memset(in, 0, sizeof(in));
    in[0] = 129;
    in[4] = 0x12;
    in[5] = 0x34;
    in[7] = 1;
    ATF_CHECK_EQ(echo_reply_parse(AF_INET6, in, 8, &r), 0);
    ATF_CHECK(r.ident == 0x1234 && r.seq == 1);
    ATF_CHECK_EQ(echo_reply_parse(AF_INET6, in, 7, &r), -1);
    in[0] = 128;
    ATF_CHECK_EQ(echo_reply_parse(AF_INET6, in, 8, &r), -1);
}

// A message carrying one kernel timestamp, as recvmsg fills it on Linux
static void
stamp_msg(
    struct msghdr *     msg,
    void *              space,
    size_t              spacelen,
    const struct timespec * ts)
{
    struct cmsghdr *    cm;

    memset(msg, 0, sizeof(*msg));
    memset(space, 0, spacelen);
    msg->msg_control = space;
    msg->msg_controllen = spacelen;
    cm = CMSG_FIRSTHDR(msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_TIMESTAMPNS;
    cm->cmsg_len = CMSG_LEN(sizeof(*ts));
    memcpy(CMSG_DATA(cm), ts, sizeof(*ts));
    msg->msg_controllen = CMSG_SPACE(sizeof(*ts));
}

ATF_TC(receive_timestamps);
ATF_TC_HEAD(receive_timestamps, tc)
{
    atf_tc_set_md_var(tc, "descr", "A kernel receive timestamp is used when plausible (converted from CLOCK_REALTIME on Linux); otherwise the time of reading");
}
ATF_TC_BODY(receive_timestamps, tc)
{
    union
    {
        char            space[CMSG_SPACE(sizeof(struct timespec))];
        struct cmsghdr  align;
    }                   ctl;
    struct msghdr       msg;
    struct timespec     real;
    int64_t             offset = 0;
    uint64_t            now;
    uint64_t            got;

#if !defined(SCM_TIMESTAMPNS)
    atf_tc_skip("no SCM_TIMESTAMPNS here");
#endif
    // No timestamp: the time of reading
    memset(&msg, 0, sizeof(msg));
    now = now_us();
    ATF_CHECK_EQ(rx_stamp_us(&msg, now, 1000000u, &offset), now);

    // A stamp 5ms old: the first one only learns the clock offset
    clock_gettime(CLOCK_REALTIME, &real);
    now = now_us();
    real.tv_nsec -= 5000000;
    if (real.tv_nsec < 0)
    {
        real.tv_nsec += 1000000000;
        real.tv_sec--;
    }
    stamp_msg(&msg, ctl.space, sizeof(ctl.space), &real);
    ATF_CHECK_EQ(rx_stamp_us(&msg, now, 1000000u, &offset), now);
    ATF_CHECK(offset != 0);
    got = rx_stamp_us(&msg, now, 1000000u, &offset);
    ATF_CHECK_MSG(got < now && now - got > 4000 && now - got < 6000, "stamp %llu us before now",
                  (unsigned long long) (now - got));

    // Older than the allowed age or in the future: not plausible.  A reply
    // queued while the process was stopped keeps its true time when the
    // allowed age (the time period) covers it.
    real.tv_sec -= 20;
    stamp_msg(&msg, ctl.space, sizeof(ctl.space), &real);
    got = rx_stamp_us(&msg, now, 60000000u, &offset);
    ATF_CHECK_MSG(now - got > 19000000 && now - got < 21000000, "stamp %llu us before now",
                  (unsigned long long) (now - got));
    real.tv_sec += 20;
    real.tv_sec += 2;
    stamp_msg(&msg, ctl.space, sizeof(ctl.space), &real);
    ATF_CHECK_EQ(rx_stamp_us(&msg, now, 1000000u, &offset), now);
    real.tv_sec -= 4;
    stamp_msg(&msg, ctl.space, sizeof(ctl.space), &real);
    ATF_CHECK_EQ(rx_stamp_us(&msg, now, 1000000u, &offset), now);

    // A clock step (the offset moved by more than a millisecond): now
    offset += 5000;
    real.tv_sec += 2;
    stamp_msg(&msg, ctl.space, sizeof(ctl.space), &real);
    ATF_CHECK_EQ(rx_stamp_us(&msg, now, 1000000u, &offset), now);
}

ATF_TC(reply_source);
ATF_TC_HEAD(reply_source, tc)
{
    atf_tc_set_md_var(tc, "descr", "A reply is from the destination only if the address (not the scope) matches");
}
ATF_TC_BODY(reply_source, tc)
{
    struct sockaddr_storage dest;
    struct sockaddr_storage from;
    socklen_t           dlen;
    socklen_t           flen;

    ATF_REQUIRE_EQ(addr_resolve("10.0.0.2", &dest, &dlen), 0);
    ATF_REQUIRE_EQ(addr_resolve("10.0.0.2", &from, &flen), 0);
    ATF_CHECK(addr_same_host(&dest, &from, flen));
    ATF_REQUIRE_EQ(addr_resolve("10.0.0.3", &from, &flen), 0);
    ATF_CHECK(!addr_same_host(&dest, &from, flen));
    ATF_REQUIRE_EQ(addr_resolve("::ffff:10.0.0.2", &from, &flen), 0);
    ATF_CHECK(!addr_same_host(&dest, &from, flen));
    ATF_REQUIRE_EQ(addr_resolve("fe80::b%1", &dest, &dlen), 0);
    ATF_REQUIRE_EQ(addr_resolve("fe80::b", &from, &flen), 0);
    ATF_CHECK(addr_same_host(&dest, &from, flen));
    ATF_CHECK(!addr_same_host(&dest, &from, 8));
    // FreeBSD's embedded scope in bytes 2-3 of a link-local address
    ((struct sockaddr_in6 *) &from)->sin6_addr.s6_addr[3] = 7;
    ATF_CHECK(addr_same_host(&dest, &from, flen));
    ((struct sockaddr_in6 *) &from)->sin6_addr.s6_addr[15] = 0xc;
    ATF_CHECK(!addr_same_host(&dest, &from, flen));
    ATF_REQUIRE_EQ(addr_resolve("fd00::b", &dest, &dlen), 0);
    ATF_REQUIRE_EQ(addr_resolve("fd00:7::b", &from, &flen), 0);
    ATF_CHECK(!addr_same_host(&dest, &from, flen));
}

ATF_TC(identifiers);
ATF_TC_HEAD(identifiers, tc)
{
    atf_tc_set_md_var(tc, "descr", "Generation 0 uses the pid's low 16 bits; later generations never repeat an identifier within 65536 rebuilds");
}
ATF_TC_BODY(identifiers, tc)
{
    static uint8_t      seen[65536];
    uint32_t            g;

    ATF_CHECK_EQ(ident_for(0x1234, 0), 0x1234u);
    for (g = 0; g < 65536; g++)
    {
        uint16_t id = ident_for(0xabcd, g);

        ATF_REQUIRE_MSG(!seen[id], "identifier 0x%04x repeats at generation %u", id, g);
        seen[id] = 1;
    }
}

ATF_TC(errno_classes);
ATF_TC_HEAD(errno_classes, tc)
{
    atf_tc_set_md_var(tc, "descr", "Stale-path send errors trigger a rebuild; firewall, buffer and host-down errors do not");
}
ATF_TC_BODY(errno_classes, tc)
{
    ATF_CHECK(errno_is_stale(EHOSTUNREACH));
    ATF_CHECK(errno_is_stale(ENETUNREACH));
    ATF_CHECK(errno_is_stale(ENETDOWN));
    ATF_CHECK(errno_is_stale(EADDRNOTAVAIL));
    ATF_CHECK(errno_is_stale(ENXIO));
    ATF_CHECK(errno_is_stale(ENODEV));
    ATF_CHECK(!errno_is_stale(EHOSTDOWN));
    ATF_CHECK(!errno_is_stale(ENOBUFS));
    ATF_CHECK(!errno_is_stale(EPERM));
    ATF_CHECK(!errno_is_stale(EACCES));
    ATF_CHECK(!errno_is_stale(EAGAIN));
    ATF_CHECK(!errno_is_stale(0));
}

ATF_TC(backoff_policies);
ATF_TC_HEAD(backoff_policies, tc)
{
    atf_tc_set_md_var(tc, "descr", "Bind retries go every send interval for 10s then double to 60s; the storm guard and the re-exec gap double and are capped");
}
ATF_TC_BODY(backoff_policies, tc)
{
    uint64_t            delay = 0;
    uint64_t            t = 0;
    unsigned            attempts = 0;

    ATF_CHECK_EQ(bind_retry_delay(500, 0, 0), 500u);
    ATF_CHECK_EQ(bind_retry_delay(500, 9999, 500), 500u);
    ATF_CHECK_EQ(bind_retry_delay(500, 10000, 500), 1000u);
    ATF_CHECK_EQ(bind_retry_delay(500, 20000, 1000), 2000u);
    ATF_CHECK_EQ(bind_retry_delay(500, 900000, 60000), 60000u);
    ATF_CHECK_EQ(bind_retry_delay(500, 900000, 40000), 60000u);

    // Five minutes of failing binds: about 20 fast tries, then a handful
    while (t < 300000)
    {
        delay = bind_retry_delay(500, t, delay);
        t += delay;
        attempts++;
    }
    ATF_CHECK_MSG(attempts >= 20 && attempts <= 32, "%u bind attempts in 5 minutes", attempts);

    ATF_CHECK_EQ(storm_gap_ms(0), 0u);
    ATF_CHECK_EQ(storm_gap_ms(1), 2000u);
    ATF_CHECK_EQ(storm_gap_ms(2), 4000u);
    ATF_CHECK_EQ(storm_gap_ms(6), 60000u);
    ATF_CHECK_EQ(storm_gap_ms(100), 60000u);

    // A real outage of five minutes: about ten rebuilds
    for (t = 0, attempts = 0; t < 300000; attempts++)
    {
        t += storm_gap_ms(attempts + 1);
    }
    ATF_CHECK_MSG(attempts <= 10, "%u rebuilds in 5 minutes", attempts);

    ATF_CHECK_EQ(reexec_gap_ms(5000, 0), 0u);
    ATF_CHECK_EQ(reexec_gap_ms(5000, 1), 10000u);
    ATF_CHECK_EQ(reexec_gap_ms(5000, 2), 20000u);
    ATF_CHECK_EQ(reexec_gap_ms(5000, 3), 40000u);
    ATF_CHECK_EQ(reexec_gap_ms(5000, 50), 600000u);
    ATF_CHECK_EQ(reexec_gap_ms(1000, 1), 2000u);
}

ATF_TC(reexec_state);
ATF_TC_HEAD(reexec_state, tc)
{
    atf_tc_set_md_var(tc, "descr", "The state carried across a re-execution parses only in its exact form");
}
ATF_TC_BODY(reexec_state, tc)
{
    struct reexec_state st;

    ATF_CHECK_EQ(reexec_state_parse("v2:4242:2:123456789:7:4711:9:5", 4242, &st), 0);
    ATF_CHECK(st.count == 2 && st.last == 123456789u && st.generation == 7 && st.seq == 4711);
    ATF_CHECK(st.window_fd == 9 && st.usocket_fd == 5);
    ATF_CHECK_EQ(reexec_state_parse("v2:7:1:5:0:0:-1:-1", 7, &st), 0);
    ATF_CHECK(st.window_fd == -1 && st.usocket_fd == -1);
    ATF_CHECK_EQ(reexec_state_parse(NULL, 7, &st), -1);
    ATF_CHECK_EQ(reexec_state_parse("", 7, &st), -1);
    // Another process's state (a variable inherited from elsewhere) is not ours
    ATF_CHECK_EQ(reexec_state_parse("v2:4242:2:1:7:0:3:4", 4243, &st), -1);
    // The old format, trailing text, a missing field
    ATF_CHECK_EQ(reexec_state_parse("v1:2:1:7:0:3:4", 7, &st), -1);
    ATF_CHECK_EQ(reexec_state_parse("v2:7:2:1:7:0:3:4x", 7, &st), -1);
    ATF_CHECK_EQ(reexec_state_parse("v2:7:2:1:7:0:3", 7, &st), -1);
}

ATF_TC(alarm_holds);
ATF_TC_HEAD(alarm_holds, tc)
{
    atf_tc_set_md_var(tc, "descr", "An alert fires when an alarm starts and when its hold counter runs out, not in between");
}
ATF_TC_BODY(alarm_holds, tc)
{
    unsigned            counter = 0;
    unsigned            hold = alarm_hold_checks(10000, 1000);

    ATF_CHECK_EQ(hold, 10u);
    ATF_CHECK_EQ(alarm_hold_checks(2500, 1000), 3u);
    ATF_CHECK_EQ(alarm_hold_checks(0, 1000), 1u);

    ATF_CHECK_EQ(alarm_step(&counter, 0, 3), 0);
    ATF_CHECK_EQ(alarm_step(&counter, 1, 3), 1);   // starts
    ATF_CHECK_EQ(alarm_step(&counter, 1, 3), 0);
    ATF_CHECK_EQ(alarm_step(&counter, 0, 3), 0);   // 2 left
    ATF_CHECK_EQ(alarm_step(&counter, 1, 3), 0);   // restarts the hold
    ATF_CHECK_EQ(alarm_step(&counter, 0, 3), 0);
    ATF_CHECK_EQ(alarm_step(&counter, 0, 3), 0);
    ATF_CHECK_EQ(alarm_step(&counter, 0, 3), 1);   // clears
    ATF_CHECK_EQ(counter, 0u);
    ATF_CHECK_EQ(alarm_step(&counter, 0, 3), 0);
}


//
// Routing messages, FreeBSD layout (amd64): built byte by byte
//




// An address message with netmask, interface (sockaddr_dl) and address

ATF_TC(freebsd_decoder);
ATF_TC_HEAD(freebsd_decoder, tc)
{
    atf_tc_set_md_var(tc, "descr", "FreeBSD IFANNOUNCE, IFINFO, NEWADDR and DELADDR messages decode into portable events");
}
ATF_TC_BODY(freebsd_decoder, tc)
{
    uint8_t             buf[1024];
    struct route_event  ev[4];
    uint8_t             want[16];
    size_t              len;

    len = fb_announce(buf, 7, "ipsec1", 0);
    ATF_REQUIRE_EQ(route_decode_freebsd(buf, len, NULL, ev, 4), 1u);
    ATF_CHECK(ev[0].kind == ROUTE_LINK_NEW && ev[0].index == 7);
    ATF_CHECK_STREQ(ev[0].name, "ipsec1");
    len = fb_announce(buf, 7, "ipsec1", 1);
    ATF_REQUIRE_EQ(route_decode_freebsd(buf, len, NULL, ev, 4), 1u);
    ATF_CHECK(ev[0].kind == ROUTE_LINK_GONE);

    // A 16-byte name without NUL stays within its field
    len = fb_announce(buf, 3, "abcdefghijklmnop", 0);
    ATF_REQUIRE_EQ(route_decode_freebsd(buf, len, NULL, ev, 4), 1u);
    ATF_CHECK_EQ(strlen(ev[0].name), 15u);

    len = fb_ifinfo(buf, 9, 0x1 | 0x40, 2);
    ATF_REQUIRE_EQ(route_decode_freebsd(buf, len, NULL, ev, 4), 1u);
    ATF_CHECK(ev[0].kind == ROUTE_LINK_NEW && ev[0].index == 9);
    ATF_CHECK_EQ(ev[0].flags, (unsigned) (ROUTE_F_UP | ROUTE_F_RUNNING));
    ATF_CHECK_EQ(ev[0].name[0], '\0');
    len = fb_ifinfo(buf, 9, 0x1 | 0x40, 1);
    ATF_REQUIRE_EQ(route_decode_freebsd(buf, len, NULL, ev, 4), 1u);
    ATF_CHECK_EQ(ev[0].flags, (unsigned) ROUTE_F_UP);
    len = fb_ifinfo(buf, 9, 0, 0);
    ATF_REQUIRE_EQ(route_decode_freebsd(buf, len, NULL, ev, 4), 1u);
    ATF_CHECK_EQ(ev[0].flags, 0u);

    len = fb_ifaddr(buf, 0x0c, 4, 0, "203.0.113.10", "igb0");
    ATF_REQUIRE_EQ(route_decode_freebsd(buf, len, NULL, ev, 4), 1u);
    inet_pton(AF_INET, "203.0.113.10", want);
    ATF_CHECK(ev[0].kind == ROUTE_ADDR_NEW && ev[0].index == 4 && ev[0].family == AF_INET);
    ATF_CHECK(memcmp(ev[0].addr, want, 4) == 0);
    ATF_CHECK_STREQ(ev[0].name, "igb0");

    len = fb_ifaddr(buf, 0x0d, 12, 1, "fe80::1", "ipsec3");
    ATF_REQUIRE_EQ(route_decode_freebsd(buf, len, NULL, ev, 4), 1u);
    inet_pton(AF_INET6, "fe80::1", want);
    ATF_CHECK(ev[0].kind == ROUTE_ADDR_GONE && ev[0].index == 12 && ev[0].family == AF_INET6);
    ATF_CHECK(memcmp(ev[0].addr, want, 16) == 0);
    ATF_CHECK_STREQ(ev[0].name, "ipsec3");

    // Several messages in one buffer
    len = fb_announce(buf, 5, "gif0", 1);
    len += fb_announce(buf + len, 5, "gif0", 0);
    len += fb_ifinfo(buf + len, 5, 0x41, 2);
    ATF_REQUIRE_EQ(route_decode_freebsd(buf, len, NULL, ev, 4), 3u);
    ATF_CHECK(ev[0].kind == ROUTE_LINK_GONE && ev[1].kind == ROUTE_LINK_NEW && ev[2].index == 5);
    ATF_CHECK_EQ(route_decode_freebsd(buf, len, NULL, ev, 2), 2u);
}

ATF_TC(freebsd_decoder_malformed);
ATF_TC_HEAD(freebsd_decoder_malformed, tc)
{
    atf_tc_set_md_var(tc, "descr", "Short, wrong-version, unknown and overlong FreeBSD messages give no event and read nothing out of bounds");
}
ATF_TC_BODY(freebsd_decoder_malformed, tc)
{
    uint8_t             buf[1024];
    struct route_event  ev[4];
    size_t              len;
    size_t              cut;

    len = fb_announce(buf, 7, "em0", 0);
    buf[2] = 4;
    ATF_CHECK_EQ(route_decode_freebsd(buf, len, NULL, ev, 4), 0u);        // version
    len = fb_announce(buf, 7, "em0", 0);
    ATF_CHECK_EQ(route_decode_freebsd(buf, len - 1, NULL, ev, 4), 0u);    // shorter than its length
    put16(buf, 20);
    ATF_CHECK_EQ(route_decode_freebsd(buf, 20, NULL, ev, 4), 0u);         // length below the struct
    len = fb_announce(buf, 7, "em0", 5);
    ATF_CHECK_EQ(route_decode_freebsd(buf, len, NULL, ev, 4), 0u);        // unknown ifan_what
    len = fb_announce(buf, 7, "em0", 0);
    buf[3] = 0x12;                                                  // RTM_IEEE80211
    ATF_CHECK_EQ(route_decode_freebsd(buf, len, NULL, ev, 4), 0u);
    put16(buf, 0);
    ATF_CHECK_EQ(route_decode_freebsd(buf, len, NULL, ev, 4), 0u);        // zero length stops the walk
    len = fb_ifinfo(buf, 1, 1, 2);
    put16(buf, 23);
    ATF_CHECK_EQ(route_decode_freebsd(buf, 23, NULL, ev, 4), 0u);
    ATF_CHECK_EQ(route_decode_freebsd(buf, 3, NULL, ev, 4), 0u);
    ATF_CHECK_EQ(route_decode_freebsd(buf, 0, NULL, ev, 4), 0u);

    // Address messages cut at every length, with the header length fixed up
    len = fb_ifaddr(buf, 0x0c, 4, 1, "2001:db8::1", "vtnet0");
    for (cut = 4; cut < len; cut++)
    {
        uint8_t copy[1024];

        memcpy(copy, buf, cut);
        put16(copy, (uint16_t) cut);
        ATF_REQUIRE_EQ_MSG(route_decode_freebsd(copy, cut, NULL, ev, 4), 0u, "cut at %zu", cut);
    }
    // A sockaddr claiming more than is there
    len = fb_ifaddr(buf, 0x0c, 4, 0, "192.0.2.1", "em0");
    buf[len - 16] = 200;
    ATF_CHECK_EQ(route_decode_freebsd(buf, len, NULL, ev, 4), 0u);
    // An interface name longer than its sockaddr_dl
    len = fb_ifaddr(buf, 0x0c, 4, 0, "192.0.2.1", "em0");
    buf[36 + 5] = 100;
    ATF_REQUIRE_EQ(route_decode_freebsd(buf, len, NULL, ev, 4), 1u);
    ATF_CHECK_EQ(ev[0].name[0], '\0');
}


//
// Routing messages, Linux rtnetlink
//



ATF_TC(linux_decoder);
ATF_TC_HEAD(linux_decoder, tc)
{
    atf_tc_set_md_var(tc, "descr", "rtnetlink NEWLINK, DELLINK, NEWADDR, DELADDR and overrun decode into portable events, several per read");
}
ATF_TC_BODY(linux_decoder, tc)
{
    uint8_t             buf[2048];
    struct route_event  ev[8];
    uint8_t             want[16];
    size_t              len = 0;

    len += nl_link(buf + len, 16, 5, 0x1 | 0x40 | 0x10000, "vti0");
    len += nl_link(buf + len, 17, 5, 0, "vti0");
    len += nl_addr(buf + len, 20, 6, 0, "10.9.0.2", "10.9.0.1", "eth0:1", 0x80);
    len += nl_addr(buf + len, 21, 6, 1, "fe80::a", NULL, NULL, 0x40);
    put32(buf + len, 16);
    put16(buf + len + 4, 4);                    // NLMSG_OVERRUN
    len += 16;
    ATF_REQUIRE_EQ(route_decode_linux(buf, len, NULL, ev, 8), 5u);

    ATF_CHECK(ev[0].kind == ROUTE_LINK_NEW && ev[0].index == 5);
    ATF_CHECK_EQ(ev[0].flags, (unsigned) (ROUTE_F_UP | ROUTE_F_RUNNING));
    ATF_CHECK_STREQ(ev[0].name, "vti0");
    ATF_CHECK(ev[1].kind == ROUTE_LINK_GONE && ev[1].index == 5);

    inet_pton(AF_INET, "10.9.0.1", want);
    ATF_CHECK(ev[2].kind == ROUTE_ADDR_NEW && ev[2].family == AF_INET && ev[2].index == 6);
    ATF_CHECK_MSG(memcmp(ev[2].addr, want, 4) == 0, "IFA_LOCAL is the local address on a point-to-point link");
    ATF_CHECK_STREQ(ev[2].name, "eth0");
    ATF_CHECK_EQ(ev[2].flags & ROUTE_F_TENTATIVE, 0u);

    inet_pton(AF_INET6, "fe80::a", want);
    ATF_CHECK(ev[3].kind == ROUTE_ADDR_GONE && ev[3].family == AF_INET6);
    ATF_CHECK(memcmp(ev[3].addr, want, 16) == 0);
    ATF_CHECK(ev[3].flags & ROUTE_F_TENTATIVE);

    ATF_CHECK_EQ(ev[4].kind, ROUTE_RESYNC);
    ATF_CHECK_EQ(route_decode_linux(buf, len, NULL, ev, 2), 2u);
}

ATF_TC(linux_decoder_malformed);
ATF_TC_HEAD(linux_decoder_malformed, tc)
{
    atf_tc_set_md_var(tc, "descr", "Truncated netlink messages and attributes give no bogus events and read nothing out of bounds");
}
ATF_TC_BODY(linux_decoder_malformed, tc)
{
    uint8_t             buf[512];
    struct route_event  ev[8];
    size_t              len;
    size_t              cut;

    // A message cut anywhere is not decoded (its length runs past the end)
    len = nl_link(buf, 16, 5, 1, "vti0");
    for (cut = 0; cut < len; cut++)
    {
        ATF_REQUIRE_EQ(route_decode_linux(buf, cut, NULL, ev, 8), 0u);
    }
    // An attribute longer than its message: the event keeps no name
    len = nl_link(buf, 16, 5, 1, "vti0");
    put16(buf + 32, 200);
    ATF_REQUIRE_EQ(route_decode_linux(buf, len, NULL, ev, 8), 1u);
    ATF_CHECK_EQ(ev[0].name[0], '\0');
    // An attribute of length below its header stops the walk
    len = nl_link(buf, 16, 5, 1, "vti0");
    put16(buf + 32, 2);
    ATF_REQUIRE_EQ(route_decode_linux(buf, len, NULL, ev, 8), 1u);
    // A name without NUL is cut at the field
    len = nl_link(buf, 16, 5, 1, "abcdefghijklmnopqrstu");
    ATF_REQUIRE_EQ(route_decode_linux(buf, len, NULL, ev, 8), 1u);
    ATF_CHECK_EQ(strlen(ev[0].name), 15u);
    // Body shorter than ifinfomsg / ifaddrmsg
    len = nl_link(buf, 16, 5, 1, NULL);
    put32(buf, 16 + 8);
    ATF_CHECK_EQ(route_decode_linux(buf, 16 + 8, NULL, ev, 8), 0u);
    len = nl_addr(buf, 20, 1, 0, "10.0.0.1", NULL, "eth0:1", 0);
    put32(buf, 16 + 4);
    ATF_CHECK_EQ(route_decode_linux(buf, 16 + 4, NULL, ev, 8), 0u);
    // An address message without an address, or with a short one
    len = nl_addr(buf, 20, 1, 0, NULL, NULL, "eth0:1", 0);
    ATF_CHECK_EQ(route_decode_linux(buf, len, NULL, ev, 8), 0u);
    len = nl_addr(buf, 20, 1, 1, "fe80::1", NULL, NULL, 0);
    put16(buf + 24, 8);                         // IFA_ADDRESS of 4 bytes for IPv6
    ATF_CHECK_EQ(route_decode_linux(buf, len, NULL, ev, 8), 0u);
    // Unknown family, unknown type, length below the header
    len = nl_addr(buf, 20, 1, 0, "10.0.0.1", NULL, "eth0:1", 0);
    buf[16] = 7;
    ATF_CHECK_EQ(route_decode_linux(buf, len, NULL, ev, 8), 0u);
    len = nl_link(buf, 24, 5, 1, "x");
    ATF_CHECK_EQ(route_decode_linux(buf, len, NULL, ev, 8), 0u);
    put32(buf, 8);
    ATF_CHECK_EQ(route_decode_linux(buf, len, NULL, ev, 8), 0u);
}

ATF_TC(route_relevance);
ATF_TC_HEAD(route_relevance, tc)
{
    atf_tc_set_md_var(tc, "descr", "Events concern the watch by interface name first, then index, or by the bind address; unbound watches take arrivals");
}
ATF_TC_BODY(route_relevance, tc)
{
    struct watch        w;
    struct route_event  ev;

    memset(&w, 0, sizeof(w));
    snprintf(w.ifname, sizeof(w.ifname), "vti0");
    w.ifindex = 5;
    w.family = AF_INET;
    inet_pton(AF_INET, "10.9.0.1", w.addr);

    memset(&ev, 0, sizeof(ev));
    ev.kind = ROUTE_LINK_NEW;
    snprintf(ev.name, sizeof(ev.name), "vti0");
    ev.index = 9;
    ATF_CHECK(route_event_concerns(&ev, &w));           // recreated: new index, same name
    snprintf(ev.name, sizeof(ev.name), "vti1");
    ev.index = 5;
    ATF_CHECK(!route_event_concerns(&ev, &w));          // another interface took the old index
    ev.name[0] = '\0';
    ATF_CHECK(route_event_concerns(&ev, &w));           // FreeBSD IFINFO: index only
    ev.index = 6;
    ATF_CHECK(!route_event_concerns(&ev, &w));

    ev.kind = ROUTE_ADDR_NEW;
    ev.family = AF_INET;
    inet_pton(AF_INET, "10.9.0.1", ev.addr);
    snprintf(ev.name, sizeof(ev.name), "em1");
    ATF_CHECK(route_event_concerns(&ev, &w));           // the bind address, wherever it lands
    inet_pton(AF_INET, "10.9.0.9", ev.addr);
    ATF_CHECK(!route_event_concerns(&ev, &w));
    ev.kind = ROUTE_RESYNC;
    ATF_CHECK(route_event_concerns(&ev, &w));

    memset(&w, 0, sizeof(w));
    memset(&ev, 0, sizeof(ev));
    ev.kind = ROUTE_LINK_NEW;
    snprintf(ev.name, sizeof(ev.name), "anything");
    ATF_CHECK(route_event_concerns(&ev, &w));
    ev.kind = ROUTE_LINK_GONE;
    ATF_CHECK(!route_event_concerns(&ev, &w));
}

ATF_TC(watch_from_arguments);
ATF_TC_HEAD(watch_from_arguments, tc)
{
    atf_tc_set_md_var(tc, "descr", "The watched interface is the %%scope of the bind or destination address, by name even while it does not exist");
}
ATF_TC_BODY(watch_from_arguments, tc)
{
    struct watch        w;
    uint8_t             want[16];

    memset(&cfg, 0, sizeof(cfg));
    cfg.family = AF_INET6;
    cfg.bind_str = "fe80::a%nosuchif0";
    cfg.dest_str = "fe80::b%nosuchif0";
    watch_refresh(&w);
    ATF_CHECK_STREQ(w.ifname, "nosuchif0");
    ATF_CHECK_EQ(w.ifindex, 0u);
    ATF_CHECK_EQ(w.family, AF_INET6);
    inet_pton(AF_INET6, "fe80::a", want);
    ATF_CHECK(memcmp(w.addr, want, 16) == 0);

    cfg.bind_str = NULL;
    cfg.dest_str = "fe80::b%lo";
    watch_refresh(&w);
    ATF_CHECK_STREQ(w.ifname, "lo");
    ATF_CHECK(w.ifindex > 0);
    ATF_CHECK_EQ(w.family, 0);

    cfg.family = AF_INET;
    cfg.bind_str = "127.0.0.1";
    cfg.dest_str = "127.0.0.2";
    watch_refresh(&w);
    ATF_CHECK_STREQ(w.ifname, "lo");
    ATF_CHECK_EQ(w.family, AF_INET);
}


//
// Route changes and the answer to our route query, both kernels
//

ATF_TC(route_changes_linux);
ATF_TC_HEAD(route_changes_linux, tc)
{
    atf_tc_set_md_var(tc, "descr", "rtnetlink route changes of the main table become path events; the answer to our own query (by sequence and port) names the interface, or none when the kernel has no route");
}
ATF_TC_BODY(route_changes_linux, tc)
{
    uint8_t             buf[512];
    struct route_event  ev[4];
    struct route_query  q = { 4711, 9 };
    size_t              len;
    int32_t             err = -ENETUNREACH;

    len = nl_route(buf, 24, 0, 0, 254, 0, 3);
    ATF_REQUIRE_EQ(route_decode_linux(buf, len, &q, ev, 4), 1u);
    ATF_CHECK(ev[0].kind == ROUTE_PATH && ev[0].family == AF_INET);
    len = nl_route(buf, 25, 0, 0, 254, 0, 3);
    ATF_REQUIRE_EQ(route_decode_linux(buf, len, &q, ev, 4), 1u);
    ATF_CHECK_EQ(ev[0].kind, ROUTE_PATH);
    // Another table, or a cloned (cache) route: not ours to follow
    len = nl_route(buf, 24, 0, 0, 255, 0, 3);
    ATF_CHECK_EQ(route_decode_linux(buf, len, &q, ev, 4), 0u);
    len = nl_route(buf, 24, 0, 0, 254, 0x200, 3);
    ATF_CHECK_EQ(route_decode_linux(buf, len, &q, ev, 4), 0u);

    // Our answer: the outgoing interface, in any table
    len = nl_route(buf, 24, 9, 4711, 255, 0x200, 7);
    ATF_REQUIRE_EQ(route_decode_linux(buf, len, &q, ev, 4), 1u);
    ATF_CHECK(ev[0].kind == ROUTE_ANSWER && ev[0].index == 7);
    // An answer to an older query, or to another socket, is no answer
    len = nl_route(buf, 24, 8, 4711, 254, 0, 7);
    ATF_REQUIRE_EQ(route_decode_linux(buf, len, &q, ev, 4), 1u);
    ATF_CHECK_EQ(ev[0].kind, ROUTE_PATH);
    len = nl_route(buf, 24, 9, 4712, 255, 0, 7);
    ATF_CHECK_EQ(route_decode_linux(buf, len, &q, ev, 4), 0u);

    // The query failed: an answer without an interface; an acknowledgement is nothing
    memset(buf, 0, 64);
    put32(buf, 16 + 4 + 16);
    put16(buf + 4, 2);
    put32(buf + 8, 9);
    put32(buf + 12, 4711);
    memcpy(buf + 16, &err, 4);
    ATF_REQUIRE_EQ(route_decode_linux(buf, 36, &q, ev, 4), 1u);
    ATF_CHECK(ev[0].kind == ROUTE_ANSWER && ev[0].index == 0);
    ATF_CHECK_EQ(route_decode_linux(buf, 36, NULL, ev, 4), 0u);
    err = 0;
    memcpy(buf + 16, &err, 4);
    ATF_CHECK_EQ(route_decode_linux(buf, 36, &q, ev, 4), 0u);
    // Cut anywhere inside the header: nothing
    len = nl_route(buf, 24, 9, 4711, 254, 0, 7);
    ATF_CHECK_EQ(route_decode_linux(buf, 16 + 11, &q, ev, 4), 0u);
}

// A FreeBSD routing message: rt_msghdr (152 bytes on amd64), then the
// interface as a sockaddr_dl when ifname is given

ATF_TC(route_changes_freebsd);
ATF_TC_HEAD(route_changes_freebsd, tc)
{
    atf_tc_set_md_var(tc, "descr", "PF_ROUTE RTM_ADD, RTM_DELETE and RTM_CHANGE become path events of their destination's family; the RTM_GET answer to our own query (by pid and sequence) names the interface and carries no address, or none when it failed");
}
ATF_TC_BODY(route_changes_freebsd, tc)
{
    uint8_t             buf[512];
    struct route_event  ev[4];
    struct route_query  q = { 4711, 9 };
    size_t              len;
    uint8_t             type;
    const uint8_t       zero[16] = { 0 };

    for (type = 1; type <= 3; type++)
    {
        // The supervisor follows only path events of its own family
        len = fb_route(buf, type, 3, 99, 1, 0, "198.51.100.0", NULL, NULL);
        ATF_REQUIRE_EQ(route_decode_freebsd(buf, len, &q, ev, 4), 1u);
        ATF_CHECK(ev[0].kind == ROUTE_PATH && ev[0].family == AF_INET);
        ATF_CHECK(memcmp(ev[0].addr, zero, 16) == 0);
        len = fb_route(buf, type, 3, 99, 1, 0, "2001:db8::", "em0", "2001:db8::1");
        ATF_REQUIRE_EQ(route_decode_freebsd(buf, len, &q, ev, 4), 1u);
        ATF_CHECK(ev[0].kind == ROUTE_PATH && ev[0].family == AF_INET6);
        ATF_CHECK(memcmp(ev[0].addr, zero, 16) == 0 && ev[0].name[0] == '\0');
        // No destination: no family to follow
        len = fb_route(buf, type, 3, 99, 1, 0, NULL, NULL, NULL);
        ATF_REQUIRE_EQ(route_decode_freebsd(buf, len, &q, ev, 4), 1u);
        ATF_CHECK(ev[0].kind == ROUTE_PATH && ev[0].family == 0);
    }
    // Our answer as the kernel gives it: destination, interface, its address
    len = fb_route(buf, 4, 7, 4711, 9, 0, "192.0.2.1", "em1", "192.0.2.10");
    ATF_REQUIRE_EQ(route_decode_freebsd(buf, len, &q, ev, 4), 1u);
    ATF_CHECK(ev[0].kind == ROUTE_ANSWER && ev[0].index == 7);
    ATF_CHECK_STREQ(ev[0].name, "em1");
    ATF_CHECK(ev[0].family == AF_INET && memcmp(ev[0].addr, zero, 16) == 0);
    len = fb_route(buf, 4, 7, 4711, 9, 0, NULL, "em1", NULL);
    ATF_REQUIRE_EQ(route_decode_freebsd(buf, len, &q, ev, 4), 1u);
    ATF_CHECK(ev[0].kind == ROUTE_ANSWER && ev[0].index == 7);
    ATF_CHECK_STREQ(ev[0].name, "em1");
    // Failed (ESRCH): no route
    len = fb_route(buf, 4, 7, 4711, 9, 3, "192.0.2.1", NULL, NULL);
    ATF_REQUIRE_EQ(route_decode_freebsd(buf, len, &q, ev, 4), 1u);
    ATF_CHECK(ev[0].kind == ROUTE_ANSWER && ev[0].index == 0);
    // Someone else's RTM_GET, an older query, our own RTM_ADD echoed back
    len = fb_route(buf, 4, 7, 4712, 9, 0, "192.0.2.1", NULL, NULL);
    ATF_CHECK_EQ(route_decode_freebsd(buf, len, &q, ev, 4), 0u);
    len = fb_route(buf, 4, 7, 4711, 8, 0, "192.0.2.1", NULL, NULL);
    ATF_CHECK_EQ(route_decode_freebsd(buf, len, &q, ev, 4), 0u);
    len = fb_route(buf, 1, 7, 4711, 9, 0, "192.0.2.1", NULL, NULL);
    ATF_CHECK_EQ(route_decode_freebsd(buf, len, &q, ev, 4), 0u);
    // Shorter than rt_msghdr, or an interface sockaddr cut short
    len = fb_route(buf, 1, 3, 99, 1, 0, NULL, NULL, NULL);
    put16(buf, 151);
    ATF_CHECK_EQ(route_decode_freebsd(buf, 151, &q, ev, 4), 0u);
    len = fb_route(buf, 4, 7, 4711, 9, 0, "192.0.2.1", "em1", NULL);
    put16(buf, (uint16_t) (len - 8));
    ATF_REQUIRE_EQ(route_decode_freebsd(buf, len - 8, &q, ev, 4), 1u);
    ATF_CHECK(ev[0].kind == ROUTE_ANSWER && ev[0].index == 0 && ev[0].name[0] == '\0');
}


//
// The recovery state machine, driven with synthetic events and clocks
//
struct rig
{
    struct recovery     r;
    uint64_t            timer[T_COUNT];
    struct recovery_out out;
};

// A daemon at pfSense's intervals (-s 500 -l 2000) started at t = 1000 ms,
// with replies until t = 10000
static void
rig_init(
    struct rig *        g)
{
    memset(g, 0, sizeof(*g));
    recovery_init(&g->r, g->timer, 500, 2000, 1000);
    g->r.last_reply = 10000;
}

static struct recovery_out
rig_step(
    struct rig *        g,
    int                 kind,
    uint64_t            now,
    uint64_t            last_reply,
    const char *        reason)
{
    struct recovery_event ev;

    memset(&ev, 0, sizeof(ev));
    ev.kind = kind;
    ev.last_reply = last_reply;
    ev.sends_ok = 1;
    ev.reason = reason;
    g->out = recovery_step(&g->r, g->timer, &ev, now);
    return g->out;
}

ATF_TC(recovery_black_hole);
ATF_TC_HEAD(recovery_black_hole, tc)
{
    atf_tc_set_md_var(tc, "descr", "Silence for a loss interval sends one fresh-socket check; an answer while the old identifier stays silent rebuilds, and the next reply is a heal counted from the first trigger");
}
ATF_TC_BODY(recovery_black_hole, tc)
{
    struct rig          g;

    rig_init(&g);
    // Not silent long enough: only re-armed
    rig_step(&g, RE_QUIET, 11000, 10000, NULL);
    ATF_CHECK(g.out.actions == 0 && g.r.state == RS_HEALTHY);
    ATF_CHECK_EQ(g.timer[T_QUIET], 12500u);
    // Silent for a loss and a send interval: one check, timing out a loss interval later
    rig_step(&g, RE_QUIET, 12500, 10000, NULL);
    ATF_CHECK_EQ(g.out.actions, RA_CHECK_START);
    ATF_CHECK(g.r.state == RS_CHECKING && g.timer[T_CHECK] == 14500u);
    // Answered: rebuild at once (guarded by the storm guard, which is empty)
    rig_step(&g, RE_CHECK_ANSWERED, 12510, 10000, "check answered");
    ATF_CHECK(g.out.actions & RA_CHECK_STOP);
    ATF_CHECK(g.r.state == RS_REBUILD && g.timer[T_REBUILD] == 12510u);
    rig_step(&g, RE_REBUILD_DUE, 12510, 10000, NULL);
    ATF_CHECK_EQ(g.out.actions, RA_REBUILD);
    rig_step(&g, RE_REBUILT, 12511, 10000, NULL);
    ATF_CHECK(g.out.note == RN_REBUILT && (g.out.actions & RA_SEND_NOW));
    ATF_CHECK_STREQ(g.r.reason, "check answered");
    ATF_CHECK_EQ(g.r.state, RS_CONFIRM);
    rig_step(&g, RE_REPLY, 12520, 12515, NULL);
    ATF_CHECK_EQ(g.out.note, RN_HEALED);
    ATF_CHECK_EQ(g.out.value, 15u);         // from the first trigger (12500) to the reply
    ATF_CHECK_STREQ(g.out.evidence, EVIDENCE_CHECK);
    ATF_CHECK(g.r.state == RS_HEALTHY && g.r.trouble_since == 0 && g.r.storm == 0);

    // A check answered while the old identifier answered too is no black hole
    rig_step(&g, RE_QUIET, 20000, 12515, NULL);
    ATF_REQUIRE_EQ(g.r.state, RS_CHECKING);
    rig_step(&g, RE_CHECK_ANSWERED, 20500, 20400, "check answered");
    ATF_CHECK(g.r.state == RS_HEALTHY && (g.out.actions & RA_REBUILD) == 0 && g.timer[T_REBUILD] == 0);
    ATF_CHECK_EQ(g.out.note, RN_RESUMED);

    // After the whole process was paused, silence counts from the resume
    rig_init(&g);
    rig_step(&g, RE_RESUMED, 30000, 10000, NULL);
    ATF_CHECK(g.out.actions == 0 && g.timer[T_QUIET] == 32500u);
    rig_step(&g, RE_QUIET, 30010, 10000, NULL);
    ATF_CHECK(g.out.actions == 0 && g.r.state == RS_HEALTHY);
}

ATF_TC(recovery_real_outage);
ATF_TC_HEAD(recovery_real_outage, tc)
{
    atf_tc_set_md_var(tc, "descr", "An unanswered check is a real outage: logged once with the silence since the last reply, checked again once per window, never rebuilt; the first reply ends it with the whole outage");
}
ATF_TC_BODY(recovery_real_outage, tc)
{
    struct rig          g;
    uint64_t            t;
    int                 checks = 0;

    rig_init(&g);
    rig_step(&g, RE_QUIET, 12500, 10000, NULL);
    rig_step(&g, RE_CHECK_TIMEOUT, 14500, 10000, NULL);
    ATF_CHECK(g.r.state == RS_OUTAGE && g.out.note == RN_REAL_OUTAGE);
    ATF_CHECK_EQ(g.out.value, 4500u);
    ATF_CHECK_EQ(g.timer[T_QUIET], 24500u);
    // Five minutes: one check per 10 s window, no second note, no rebuild
    for (t = 24500; t < 314000; t = g.timer[T_QUIET])
    {
        rig_step(&g, RE_QUIET, t, 10000, NULL);
        ATF_REQUIRE_EQ(g.out.actions, RA_CHECK_START);
        checks++;
        rig_step(&g, RE_CHECK_TIMEOUT, t + 2000, 10000, NULL);
        ATF_CHECK(g.out.note == RN_NONE && g.r.state == RS_OUTAGE && g.timer[T_REBUILD] == 0);
    }
    ATF_CHECK_MSG(checks >= 25 && checks <= 31, "%d checks in 5 minutes", checks);
    rig_step(&g, RE_REPLY, 320000, 319900, NULL);
    ATF_CHECK(g.out.note == RN_RESUMED && g.r.state == RS_HEALTHY);
    ATF_CHECK_EQ(g.out.value, 309900u);

    // A check that could not even be sent tells nothing: no note, a new try a window later
    rig_init(&g);
    rig_step(&g, RE_QUIET, 12500, 10000, NULL);
    rig_step(&g, RE_CHECK_UNSENT, 12500, 10000, NULL);
    ATF_CHECK(g.r.state == RS_HEALTHY && g.out.note == RN_NONE && g.timer[T_CHECK] == 0);
    ATF_CHECK_EQ(g.timer[T_QUIET], 22500u);

    // A target that never answered: the silence counts from the start, not from boot
    rig_init(&g);
    g.r.last_reply = 0;
    rig_step(&g, RE_QUIET, 3500, 0, NULL);
    rig_step(&g, RE_CHECK_TIMEOUT, 5500, 0, NULL);
    ATF_CHECK(g.out.note == RN_REAL_OUTAGE && g.out.value == 4500u);
}

ATF_TC(recovery_storm_guard);
ATF_TC_HEAD(recovery_storm_guard, tc)
{
    atf_tc_set_md_var(tc, "descr", "Send-error rebuilds that bring no reply are spaced 2, 4, 8 s... up to 60 s; a reply resets the guard; the pending rebuild carries the latest reason");
}
ATF_TC_BODY(recovery_storm_guard, tc)
{
    struct rig          g;
    uint64_t            now = 20000;
    uint64_t            gaps[5];
    int                 i;

    rig_init(&g);
    for (i = 0; i < 5; i++)
    {
        rig_step(&g, RE_SEND_STALE, now, 10000, "sendto: 3 in a row");
        ATF_REQUIRE_EQ(g.r.state, RS_REBUILD);
        gaps[i] = g.timer[T_REBUILD] - now;
        now = g.timer[T_REBUILD];
        rig_step(&g, RE_REBUILD_DUE, now, 10000, NULL);
        ATF_REQUIRE_EQ(g.out.actions, RA_REBUILD);
        rig_step(&g, RE_REBUILT, now, 10000, NULL);
        ATF_REQUIRE_EQ(g.r.state, RS_CONFIRM);
    }
    ATF_CHECK(gaps[0] == 0 && gaps[1] == 2000 && gaps[2] == 4000 && gaps[3] == 8000 && gaps[4] == 16000);
    ATF_CHECK_EQ(g.r.storm, 5u);
    // A routing event goes at once, and its reason replaces the old one
    rig_step(&g, RE_SEND_STALE, now + 10, 10000, "sendto: stale");
    ATF_CHECK(g.timer[T_REBUILD] > now + 10);
    rig_step(&g, RE_PATH_CHANGED, now + 20, 10000, "route: vti0 arrived or changed");
    ATF_CHECK_EQ(g.timer[T_REBUILD], now + 20);
    ATF_CHECK_STREQ(g.r.reason, "route: vti0 arrived or changed");
    rig_step(&g, RE_REBUILD_DUE, now + 20, 10000, NULL);
    rig_step(&g, RE_REBUILT, now + 20, 10000, NULL);
    rig_step(&g, RE_REPLY, now + 30, now + 25, NULL);
    ATF_CHECK_EQ(g.out.note, RN_HEALED);
    ATF_CHECK_STREQ(g.out.evidence, EVIDENCE_SEND);
    ATF_CHECK_EQ(g.r.storm, 0u);
    // After the reply the next send-error rebuild goes at once again
    rig_step(&g, RE_SEND_STALE, now + 100, now + 25, "sendto");
    ATF_CHECK_EQ(g.timer[T_REBUILD], now + 100);
}

ATF_TC(recovery_bind_backoff);
ATF_TC_HEAD(recovery_bind_backoff, tc)
{
    atf_tc_set_md_var(tc, "descr", "A rebuild that cannot bind is retried every send interval for 10 s, then at doubling gaps up to 60 s, logging only when the error changes; the interface going away stops the retries");
}
ATF_TC_BODY(recovery_bind_backoff, tc)
{
    struct rig          g;
    struct recovery_event ev;
    uint64_t            now = 20000;
    int                 attempts = 0;
    int                 notes = 0;

    rig_init(&g);
    rig_step(&g, RE_PATH_CHANGED, now, 10000, "route: em0 arrived or changed");
    memset(&ev, 0, sizeof(ev));
    ev.kind = RE_REBUILD_FAILED;
    ev.err = EADDRNOTAVAIL;
    ev.stage = "bind";
    while (now < 20000 + 300000)
    {
        rig_step(&g, RE_REBUILD_DUE, now, 10000, NULL);
        ATF_REQUIRE_EQ(g.out.actions, RA_REBUILD);
        g.out = recovery_step(&g.r, g.timer, &ev, now);
        notes += g.out.note == RN_REBUILD_FAILED;
        attempts++;
        ATF_REQUIRE(g.timer[T_REBUILD] > now);
        ATF_REQUIRE(g.timer[T_REBUILD] - now <= 60000);
        if (now < 29500)
        {
            ATF_CHECK_EQ(g.timer[T_REBUILD] - now, 500u);
        }
        now = g.timer[T_REBUILD];
    }
    ATF_CHECK_MSG(attempts >= 20 && attempts <= 32, "%d attempts in 5 minutes", attempts);
    ATF_CHECK_EQ(notes, 1);
    ev.err = ENXIO;
    g.out = recovery_step(&g.r, g.timer, &ev, now);
    ATF_CHECK_EQ(g.out.note, RN_REBUILD_FAILED);
    rig_step(&g, RE_PATH_GONE, now + 1, 10000, NULL);
    ATF_CHECK(g.r.state == RS_WAITING && g.timer[T_REBUILD] == 0 && g.out.note == RN_WAIT_GONE);
}

ATF_TC(recovery_link_down);
ATF_TC_HEAD(recovery_link_down, tc)
{
    atf_tc_set_md_var(tc, "descr", "While the interface is down nothing is rebuilt and one line says so; send errors and a missing route add nothing; when it is back, no rebuild and no heal claim, but the outage from the last reply");
}
ATF_TC_BODY(recovery_link_down, tc)
{
    struct rig          g;
    uint64_t            t;

    rig_init(&g);
    rig_step(&g, RE_PATH_DOWN, 10300, 10000, NULL);
    ATF_CHECK(g.r.state == RS_WAITING && g.out.note == RN_WAIT_DOWN);
    ATF_CHECK(g.timer[T_QUIET] == 0 && g.timer[T_CHECK] == 0 && g.timer[T_REBUILD] == 0);
    for (t = 11000; t < 300000; t += 7000)
    {
        rig_step(&g, RE_SEND_STALE, t, 10000, "sendto");
        ATF_CHECK(g.out.actions == 0 && g.out.note == RN_NONE);
        rig_step(&g, RE_PATH_DOWN, t + 1, 10000, NULL);
        ATF_CHECK(g.out.actions == 0 && g.out.note == RN_NONE);
        rig_step(&g, RE_NO_ROUTE, t + 2, 10000, NULL);
        ATF_CHECK(g.out.note == RN_NONE && g.r.waiting == RN_WAIT_DOWN);
    }
    ATF_CHECK(g.r.state == RS_WAITING && g.timer[T_REBUILD] == 0);
    rig_step(&g, RE_PATH_BACK, 310000, 10000, NULL);
    ATF_CHECK(g.r.state == RS_HEALTHY && (g.out.actions & RA_SEND_NOW) && g.out.note == RN_NONE);
    rig_step(&g, RE_REPLY, 310100, 310050, NULL);
    ATF_CHECK_EQ(g.out.note, RN_RESUMED);
    ATF_CHECK_EQ(g.out.value, 300050u);
}

ATF_TC(recovery_bind_address_gone);
ATF_TC_HEAD(recovery_bind_address_gone, tc)
{
    atf_tc_set_md_var(tc, "descr", "When the bind address is gone echo requests are held back until it returns; a missing route is believed only while no reply arrives");
}
ATF_TC_BODY(recovery_bind_address_gone, tc)
{
    struct rig          g;

    rig_init(&g);
    rig_step(&g, RE_ADDR_GONE, 10500, 10000, NULL);
    ATF_CHECK(g.out.note == RN_WAIT_ADDR && (g.out.actions & RA_HOLD) && g.r.held);
    rig_step(&g, RE_ADDR_GONE, 11500, 10000, NULL);
    ATF_CHECK(g.out.actions == 0 && g.out.note == RN_NONE);
    rig_step(&g, RE_PATH_BACK, 20000, 10000, NULL);
    ATF_CHECK((g.out.actions & RA_RELEASE) && !g.r.held && g.r.state == RS_HEALTHY);

    // "No route" while replies arrive is not believed
    rig_init(&g);
    rig_step(&g, RE_NO_ROUTE, 10500, 10000, NULL);
    ATF_CHECK(g.r.state == RS_HEALTHY && g.out.note == RN_NONE);
    rig_step(&g, RE_NO_ROUTE, 13000, 10000, NULL);
    ATF_CHECK(g.r.state == RS_WAITING && g.out.note == RN_WAIT_NO_ROUTE);
}

ATF_TC(recovery_recreated);
ATF_TC_HEAD(recovery_recreated, tc)
{
    atf_tc_set_md_var(tc, "descr", "An interface recreated under sockets bound to it is rebuilt at once and the reply is a heal; a recreation under unbound sockets is rebuilt too, but the reply only ends the outage");
}
ATF_TC_BODY(recovery_recreated, tc)
{
    struct rig          g;
    struct recovery_event ev;

    rig_init(&g);
    rig_step(&g, RE_PATH_GONE, 10200, 10000, NULL);
    ATF_CHECK(g.r.state == RS_WAITING && g.out.note == RN_WAIT_GONE);
    memset(&ev, 0, sizeof(ev));
    ev.kind = RE_PATH_CHANGED;
    ev.binding_stale = 1;
    ev.reason = "route: vti0 arrived or changed";
    ev.last_reply = 10000;
    g.out = recovery_step(&g.r, g.timer, &ev, 13000);
    ATF_CHECK(g.r.state == RS_REBUILD && g.timer[T_REBUILD] == 13000u && g.r.waiting == 0);
    rig_step(&g, RE_REBUILD_DUE, 13000, 10000, NULL);
    rig_step(&g, RE_REBUILT, 13001, 10000, NULL);
    rig_step(&g, RE_REPLY, 13100, 13050, NULL);
    ATF_CHECK(g.out.note == RN_HEALED && g.out.value == 2850u);
    ATF_CHECK_STREQ(g.out.evidence, EVIDENCE_BINDING);

    rig_init(&g);
    rig_step(&g, RE_PATH_GONE, 10200, 10000, NULL);
    rig_step(&g, RE_PATH_CHANGED, 13000, 10000, "route: tun0 arrived or changed");
    rig_step(&g, RE_REBUILD_DUE, 13000, 10000, NULL);
    rig_step(&g, RE_REBUILT, 13001, 10000, NULL);
    rig_step(&g, RE_REPLY, 13100, 13050, NULL);
    ATF_CHECK(g.out.note == RN_RESUMED_REBUILT && g.out.value == 3050u);
}

ATF_TC(recovery_sighup);
ATF_TC_HEAD(recovery_sighup, tc)
{
    atf_tc_set_md_var(tc, "descr", "SIGHUP rebuilds a moment later; a burst settles into one rebuild when it pauses or a second after it began; without trouble the replies after it log nothing");
}
ATF_TC_BODY(recovery_sighup, tc)
{
    struct rig          g;
    uint64_t            t;
    int                 rebuilds = 0;

    rig_init(&g);
    // 20 SIGHUPs 50 ms apart, each timer served when due
    for (t = 10000; t < 11000 || g.r.state == RS_REBUILD; t += 50)
    {
        if (t < 11000)
        {
            rig_step(&g, RE_SIGHUP, t, t, "SIGHUP");
        }
        if (g.r.state == RS_REBUILD && g.timer[T_REBUILD] <= t)
        {
            rig_step(&g, RE_REBUILD_DUE, t, t, NULL);
            ATF_REQUIRE_EQ(g.out.actions, RA_REBUILD);
            rig_step(&g, RE_REBUILT, t, t, NULL);
            rebuilds++;
        }
    }
    ATF_CHECK_EQ(rebuilds, 1);
    rig_step(&g, RE_REPLY, t + 10, t + 5, NULL);
    ATF_CHECK(g.out.note == RN_NONE && g.r.state == RS_HEALTHY);
    // One SIGHUP alone: a rebuild after the settling pause
    rig_step(&g, RE_SIGHUP, 20000, 19990, "SIGHUP");
    ATF_CHECK(g.r.state == RS_REBUILD && g.timer[T_REBUILD] == 20100u);
    // A burst that never pauses: a rebuild a second after it began all the same
    rig_init(&g);
    for (t = 10000, rebuilds = 0; t < 13000; t += 50)
    {
        rig_step(&g, RE_SIGHUP, t, t, "SIGHUP");
        if (g.timer[T_REBUILD] && g.timer[T_REBUILD] <= t + 50)
        {
            rig_step(&g, RE_REBUILD_DUE, g.timer[T_REBUILD], t, NULL);
            rig_step(&g, RE_REBUILT, t, t, NULL);
            rebuilds++;
        }
    }
    ATF_CHECK_EQ(rebuilds, 3);
}


//
// The watchdog's ladder and its pause detection
//
ATF_TC(watchdog_ladder);
ATF_TC_HEAD(watchdog_ladder, tc)
{
    atf_tc_set_md_var(tc, "descr", "A stalled send or receive thread gets a rebuild first and a restart in place one stall limit later; any other stalled thread a restart at once; a healthy beat resets the ladder");
}
ATF_TC_BODY(watchdog_ladder, tc)
{
    uint64_t            acted = 0;

    ATF_CHECK_EQ(watchdog_decide(TH_SEND, 5000, 5000, &acted, 100000), WD_NONE);
    ATF_CHECK_EQ(watchdog_decide(TH_SEND, 5001, 5000, &acted, 100000), WD_REBUILD);
    ATF_CHECK_EQ(acted, 100000u);
    ATF_CHECK_EQ(watchdog_decide(TH_SEND, 9000, 5000, &acted, 104000), WD_NONE);
    ATF_CHECK_EQ(watchdog_decide(TH_SEND, 10001, 5000, &acted, 105000), WD_RESTART);
    ATF_CHECK_EQ(watchdog_decide(TH_RECV, 100, 5000, &acted, 106000), WD_NONE);
    ATF_CHECK_EQ(acted, 0u);
    ATF_CHECK_EQ(watchdog_decide(TH_STATUS, 5001, 5000, &acted, 107000), WD_RESTART);
    ATF_CHECK_EQ(watchdog_decide(TH_MAIN, 5001, 5000, &acted, 107000), WD_RESTART);
    ATF_CHECK_EQ(watchdog_decide(TH_WATCHDOG, 5001, 5000, &acted, 107000), WD_RESTART);
}

ATF_TC(watchdog_pause);
ATF_TC_HEAD(watchdog_pause, tc)
{
    atf_tc_set_md_var(tc, "descr", "A checker that wakes more than a slice late was paused with everyone; heartbeats then count from the resume, so a stopped process is not taken for a hung one; a thread that announced a wait is judged from its end");
}
ATF_TC_BODY(watchdog_pause, tc)
{
    ATF_CHECK(!watchdog_was_paused(10000, 10900));
    ATF_CHECK(!watchdog_was_paused(10000, 11000));
    ATF_CHECK(watchdog_was_paused(10000, 11001));
    ATF_CHECK(watchdog_was_paused(10000, 30000));

    atomic_store(&threads[TH_SEND].running, 1);
    atomic_store(&threads[TH_SEND].beat, 10000);
    atomic_store(&resumed_at, 0);
    ATF_CHECK_EQ(heartbeat_age(TH_SEND, 30000), 20000u);
    atomic_store(&resumed_at, 30000);
    ATF_CHECK_EQ(heartbeat_age(TH_SEND, 30000), 0u);
    ATF_CHECK_EQ(heartbeat_age(TH_SEND, 36000), 6000u);
    // A thread that announced a wait is judged from its end
    atomic_store(&threads[TH_SEND].idle_until, 40000);
    ATF_CHECK_EQ(heartbeat_age(TH_SEND, 36000), 0u);
    ATF_CHECK_EQ(heartbeat_age(TH_SEND, 46000), 6000u);
    // Waiting for work (the status thread), outside our control, or not running: not judged
    atomic_store(&threads[TH_SEND].idle_until, UINT64_MAX);
    ATF_CHECK_EQ(heartbeat_age(TH_SEND, 99000), 0u);
    atomic_store(&threads[TH_SEND].idle_until, 0);
    atomic_store(&threads[TH_SEND].outside, 1);
    ATF_CHECK_EQ(heartbeat_age(TH_SEND, 36000), 0u);
    atomic_store(&threads[TH_SEND].outside, 0);
    atomic_store(&threads[TH_SEND].running, 0);
    ATF_CHECK_EQ(heartbeat_age(TH_SEND, 36000), 0u);
    atomic_store(&resumed_at, 0);
}


//
// Small shared helpers
//
ATF_TC(rate_limiter);
ATF_TC_HEAD(rate_limiter, tc)
{
    atf_tc_set_md_var(tc, "descr", "A rate-limited line goes out at most once per interval with the count held back since; a reset lets the next one out at once");
}
ATF_TC_BODY(rate_limiter, tc)
{
    struct ratelimit    rl = { 0, 0 };
    unsigned long       held = 99;

    ATF_CHECK(ratelimit_pass(&rl, 1000, 60000, &held) && held == 0);
    ATF_CHECK(!ratelimit_pass(&rl, 2000, 60000, &held));
    ATF_CHECK(!ratelimit_pass(&rl, 60999, 60000, &held));
    ATF_CHECK(ratelimit_pass(&rl, 61000, 60000, &held) && held == 2);
    ATF_CHECK(!ratelimit_pass(&rl, 61001, 60000, &held));
    ratelimit_reset(&rl);
    ATF_CHECK(ratelimit_pass(&rl, 61002, 60000, &held) && held == 0);
    // A clock of 0 still counts as a line that went out
    ratelimit_reset(&rl);
    ATF_CHECK(ratelimit_pass(&rl, 0, 60000, &held));
    ATF_CHECK(!ratelimit_pass(&rl, 10, 60000, &held));
}

ATF_TC(log_format_table);
ATF_TC_HEAD(log_format_table, tc)
{
    atf_tc_set_md_var(tc, "descr", "The table of log formats lists every line once, the upstream ones among them");
}
ATF_TC_BODY(log_format_table, tc)
{
    size_t              i;
    size_t              j;

    for (i = 0; log_formats[i]; i++)
    {
        ATF_CHECK(log_formats[i][0] != '\0');
        ATF_CHECK_MSG(strncmp(log_formats[i], "%s%s", 4) != 0, "%s carries the destination prefix itself", log_formats[i]);
        for (j = 0; j < i; j++)
        {
            ATF_CHECK(strcmp(log_formats[i], log_formats[j]) != 0);
        }
    }
    ATF_CHECK(i >= 25);
    ATF_CHECK_STREQ(log_formats[0], LL_PARAMS);
    ATF_CHECK_STREQ(LL_D_SENDTO, "sendto error: %d");
    ATF_CHECK_STREQ(LL_D_RECVFROM, "recvfrom error: %d");
}

ATF_TC(address_equality);
ATF_TC_HEAD(address_equality, tc)
{
    atf_tc_set_md_var(tc, "descr", "Addresses compare by family and bytes; IPv6 link-local ones ignore the scope FreeBSD embeds in bytes 2 and 3");
}
ATF_TC_BODY(address_equality, tc)
{
    uint8_t             a[16];
    uint8_t             b[16];

    ATF_REQUIRE_EQ(addr_bytes("fe80::1%em0", a), AF_INET6);
    ATF_REQUIRE_EQ(addr_bytes("fe80::1", b), AF_INET6);
    ATF_CHECK(addr_equal(AF_INET6, a, b));
    b[3] = 5;
    ATF_CHECK(addr_equal(AF_INET6, a, b));
    b[15] = 2;
    ATF_CHECK(!addr_equal(AF_INET6, a, b));
    ATF_REQUIRE_EQ(addr_bytes("2001:db8::1", a), AF_INET6);
    memcpy(b, a, 16);
    b[3] = 5;
    ATF_CHECK(!addr_equal(AF_INET6, a, b));
    ATF_REQUIRE_EQ(addr_bytes("10.0.0.1", a), AF_INET);
    ATF_REQUIRE_EQ(addr_bytes("10.0.0.1", b), AF_INET);
    ATF_CHECK(addr_equal(AF_INET, a, b));
    ATF_CHECK_EQ(addr_bytes("not an address", a), 0);
}

ATF_TP_ADD_TCS(tp)
{
    ATF_TP_ADD_TC(tp, time_values);
    ATF_TP_ADD_TC(tp, percent_values);
    ATF_TP_ADD_TC(tp, length_values);
    ATF_TP_ADD_TC(tp, count_values);
    ATF_TP_ADD_TC(tp, option_values);
    ATF_TP_ADD_TC(tp, identifier_limit);
    ATF_TP_ADD_TC(tp, cross_check_order);
    ATF_TP_ADD_TC(tp, slot_arithmetic);
    ATF_TP_ADD_TC(tp, integer_sqrt);
    ATF_TP_ADD_TC(tp, statistics);
    ATF_TP_ADD_TC(tp, slot_marking);
    ATF_TP_ADD_TC(tp, echo_packets);
    ATF_TP_ADD_TC(tp, reply_source);
    ATF_TP_ADD_TC(tp, receive_timestamps);
    ATF_TP_ADD_TC(tp, identifiers);
    ATF_TP_ADD_TC(tp, errno_classes);
    ATF_TP_ADD_TC(tp, backoff_policies);
    ATF_TP_ADD_TC(tp, reexec_state);
    ATF_TP_ADD_TC(tp, alarm_holds);
    ATF_TP_ADD_TC(tp, freebsd_decoder);
    ATF_TP_ADD_TC(tp, freebsd_decoder_malformed);
    ATF_TP_ADD_TC(tp, linux_decoder);
    ATF_TP_ADD_TC(tp, linux_decoder_malformed);
    ATF_TP_ADD_TC(tp, route_relevance);
    ATF_TP_ADD_TC(tp, watch_from_arguments);
    ATF_TP_ADD_TC(tp, route_changes_linux);
    ATF_TP_ADD_TC(tp, route_changes_freebsd);
    ATF_TP_ADD_TC(tp, recovery_black_hole);
    ATF_TP_ADD_TC(tp, recovery_real_outage);
    ATF_TP_ADD_TC(tp, recovery_storm_guard);
    ATF_TP_ADD_TC(tp, recovery_bind_backoff);
    ATF_TP_ADD_TC(tp, recovery_link_down);
    ATF_TP_ADD_TC(tp, recovery_bind_address_gone);
    ATF_TP_ADD_TC(tp, recovery_recreated);
    ATF_TP_ADD_TC(tp, recovery_sighup);
    ATF_TP_ADD_TC(tp, watchdog_ladder);
    ATF_TP_ADD_TC(tp, watchdog_pause);
    ATF_TP_ADD_TC(tp, rate_limiter);
    ATF_TP_ADD_TC(tp, log_format_table);
    ATF_TP_ADD_TC(tp, address_equality);

    return atf_no_error();
}
