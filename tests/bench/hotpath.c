//
// hotpath: a fixed amount of dpinger's per-probe and per-report work, for
// instruction counts under valgrind --tool=callgrind (repeatable on a busy
// machine, unlike wall time).  dpinger.c is compiled in with its main()
// renamed; each bench_* function below runs one path N times, so its
// inclusive instruction count divided by N is the cost of one call.
//
//   hotpath [N]        (default 100000; run under callgrind by callgrind.sh)
//
// The window is set up as pfSense's command line makes it (-s 500 -t 60000:
// 120 slots) and filled with received probes, as on a healthy gateway.
//

#define DPINGER_MAIN dpinger_main
#ifndef DPINGER_SRC
#define DPINGER_SRC "../../dpinger.c"      // -DDPINGER_SRC='"path"' measures a patched copy
#endif
#include DPINGER_SRC

static volatile uint64_t sink;

static struct sockaddr_storage reply_from;
static socklen_t        reply_fromlen;
static uint8_t          reply_pkt[64];
static size_t           reply_len;

// One report: the statistics over the whole window
__attribute__((noinline)) static void
bench_window_stats(
    unsigned            n,
    uint64_t            now)
{
    struct stats        st;
    unsigned            i;

    for (i = 0; i < n; i++)
    {
        window_stats(window.slots, window.count, now + i, (uint64_t) cfg.loss_interval * 1000u, &st);
        sink += st.average;
    }
}

// One status line: statistics and formatting (no socket calls)
__attribute__((noinline)) static void
bench_status_line(
    unsigned            n,
    uint64_t            now)
{
    struct stats        st;
    char                line[IDENT_MAX + 80];
    unsigned            i;

    for (i = 0; i < n; i++)
    {
        window_stats(window.slots, window.count, now + i, (uint64_t) cfg.loss_interval * 1000u, &st);
        sink += (uint64_t) stats_format(&st, line, sizeof(line));
    }
}

// Formatting alone
__attribute__((noinline)) static void
bench_stats_format(
    unsigned            n)
{
    struct stats        st = { 12345, 678, 0 };
    char                line[IDENT_MAX + 80];
    unsigned            i;

    for (i = 0; i < n; i++)
    {
        st.average = 12345 + i % 100;
        sink += (uint64_t) stats_format(&st, line, sizeof(line));
    }
}

// The send thread's work per probe, without the clock and the syscall
__attribute__((noinline)) static void
bench_send_side(
    unsigned            n,
    uint8_t *           packet,
    uint64_t            now)
{
    unsigned            seq = 0;
    unsigned            i;

    for (i = 0; i < n; i++)
    {
        size_t          len;

        len = echo_build(cfg.family, packet, cfg.data_len, 0x1234, (uint16_t) seq);
        slot_mark_sent(&window.slots[seq % window.count], seq, now + i);
        sink += len;
        seq = (seq + 1) % cfg.seq_limit;
    }
}

// The receive thread's work per reply (parse, checks, record), without the
// clock and the syscalls; the slot is re-armed first so every reply counts
__attribute__((noinline)) static void
bench_recv_side(
    unsigned            n,
    uint64_t            now)
{
    struct recv_state   rs;
    unsigned            i;

    memset(&rs, 0, sizeof(rs));
    rs.retired_seq = UINT_MAX;
    for (i = 0; i < n; i++)
    {
        slot_mark_sent(&window.slots[7], 7, now);
        recv_process(&rs, reply_pkt, reply_len, &reply_from, reply_fromlen, now + 150 + i % 50, 0);
    }
    sink += rs.duplicates.suppressed;
}

// The clock every thread reads several times per loop
__attribute__((noinline)) static void
bench_clock(
    unsigned            n)
{
    unsigned            i;

    for (i = 0; i < n; i++)
    {
        sink += now_us();
    }
}

// A heartbeat (one clock read and a store)
__attribute__((noinline)) static void
bench_beat(
    unsigned            n)
{
    unsigned            i;

    for (i = 0; i < n; i++)
    {
        beat(TH_SEND);
    }
}

int
main(
    int                 argc,
    char *              argv[])
{
    char *              args[] = { "dpinger", "-f", "-r", "0", "-i", "GW", "-B", "10.0.0.1",
                                    "-u", "/tmp/hotpath.sock", "-C", "/bin/true", "-d", "1",
                                    "-s", "500", "-l", "2000", "-t", "60000", "-A", "1000",
                                    "-D", "500", "-L", "20", "10.0.0.2", NULL };
    char                err[256];
    unsigned            n = argc > 1 ? (unsigned) strtoul(argv[1], NULL, 10) : 100000;
    uint8_t *           packet;
    uint64_t            now = 1000000000u;
    struct sockaddr_in * sin = (struct sockaddr_in *) &reply_from;
    unsigned            i;

    if (args_parse((int) (sizeof(args) / sizeof(args[0])) - 1, args, &cfg, err, sizeof(err)) != ARGS_OK ||
        config_check(&cfg, err, sizeof(err)))
    {
        fprintf(stderr, "hotpath: %s\n", err);
        return 1;
    }
    window.count = cfg.slot_count;
    window.slots = calloc(window.count, sizeof(struct slot));
    packet = calloc(1, ICMP_HDR_LEN + cfg.data_len);
    if (window.slots == NULL || packet == NULL)
    {
        return 1;
    }
    atomic_store(&icmp.idents, (uint32_t) 0x1234u << 16 | 0x1234u);

    // A healthy window: every slot answered in 100..219us
    for (i = 0; i < window.count; i++)
    {
        slot_mark_sent(&window.slots[i], i, now - 60000000u + i * 500000u);
        slot_mark_received(&window.slots[i], i, now - 60000000u + i * 500000u + 100 + i);
    }

    // An IPv4 echo reply from the destination, as a raw socket returns it
    memset(reply_pkt, 0, sizeof(reply_pkt));
    reply_pkt[0] = 0x45;
    reply_pkt[9] = 1;
    reply_len = 20 + echo_build(AF_INET, reply_pkt + 20, cfg.data_len, 0x1234, 7);
    reply_pkt[20] = ICMP4_ECHO_REPLY;
    memcpy(sin, &cfg.dest, sizeof(struct sockaddr_in));
    reply_fromlen = sizeof(struct sockaddr_in);

    bench_window_stats(n, now);
    bench_status_line(n, now);
    bench_stats_format(n);
    bench_send_side(n, packet, now);
    bench_recv_side(n, now);
    bench_clock(n);
    bench_beat(n);
    printf("hotpath: %u calls each, slots %u, sink %llu\n", n, window.count, (unsigned long long) sink);
    return 0;
}
