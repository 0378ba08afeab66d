//
// wirertt: the true round-trip time of echo requests, measured on the wire.
//
//   wirertt -i ifname [-l loss_ms] [-w window_ms] [-T max_seconds]
//
// A packet socket on one interface sees each outgoing echo request and each
// incoming echo reply (IPv4 and IPv6) with a kernel timestamp taken as the
// packet leaves or enters the stack, independent of how late any process is
// scheduled.  Requests and replies are paired by (identifier, sequence).
// SIGUSR1 prints a snapshot, one line per identifier, computed as dpinger
// computes its window (replied requests give latency; unanswered ones older
// than loss_ms are lost, younger ones in flight; only requests of the last
// window_ms when given):
//
//   ident 0x1234 requests N replies R lost L inflight F avg_us A stddev_us S
//
// SIGTERM/SIGINT or the -T limit print a last snapshot and exit.  Linux only.
//

#include <sys/socket.h>
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <linux/if_ether.h>
#include <net/if.h>
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define IDENTS_MAX      32

struct flow
{
    int                 used;
    uint16_t            ident;
    uint64_t *          sent_ns;        // by sequence; 0 when none seen
    uint64_t *          rtt_ns;         // by sequence; 0 when no reply (yet)
};

static struct flow      flows[IDENTS_MAX];
static volatile sig_atomic_t want_dump;
static volatile sig_atomic_t want_exit;

static void
on_signal(
    int                 sig)
{
    if (sig == SIGUSR1)
    {
        want_dump = 1;
    }
    else
    {
        want_exit = 1;
    }
}

static uint64_t
realtime_ns(void)
{
    struct timespec     ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

static struct flow *
flow_get(
    uint16_t            ident)
{
    int                 i;

    for (i = 0; i < IDENTS_MAX; i++)
    {
        if (flows[i].used && flows[i].ident == ident)
        {
            return &flows[i];
        }
    }
    for (i = 0; i < IDENTS_MAX; i++)
    {
        if (!flows[i].used)
        {
            flows[i].sent_ns = calloc(65536, sizeof(uint64_t));
            flows[i].rtt_ns = calloc(65536, sizeof(uint64_t));
            if (flows[i].sent_ns == NULL || flows[i].rtt_ns == NULL)
            {
                return NULL;
            }
            flows[i].used = 1;
            flows[i].ident = ident;
            return &flows[i];
        }
    }
    return NULL;
}

// Echo request (1) or reply (0) with its identifier and sequence; -1 otherwise
static int
echo_of(
    const uint8_t *     p,
    size_t              len,
    uint16_t *          ident,
    uint16_t *          seq)
{
    const uint8_t *     icmp;
    int                 req;

    if (len >= 20 && (p[0] >> 4) == 4)
    {
        size_t          hl = (size_t) (p[0] & 0x0f) * 4;

        if (p[9] != 1 || hl < 20 || len < hl + 8 || (p[6] & 0x3f) || p[7])
        {
            return -1;
        }
        icmp = p + hl;
        if (icmp[0] != 8 && icmp[0] != 0)
        {
            return -1;
        }
        req = icmp[0] == 8;
    }
    else if (len >= 48 && (p[0] >> 4) == 6)
    {
        if (p[6] != 58)
        {
            return -1;
        }
        icmp = p + 40;
        if (icmp[0] != 128 && icmp[0] != 129)
        {
            return -1;
        }
        req = icmp[0] == 128;
    }
    else
    {
        return -1;
    }
    *ident = (uint16_t) (icmp[4] << 8 | icmp[5]);
    *seq = (uint16_t) (icmp[6] << 8 | icmp[7]);
    return req;
}

static void
dump(
    uint64_t            loss_ns,
    uint64_t            window_ns)
{
    uint64_t            now = realtime_ns();
    int                 i;

    for (i = 0; i < IDENTS_MAX; i++)
    {
        unsigned long   requests = 0;
        unsigned long   replies = 0;
        unsigned long   lost = 0;
        unsigned long   inflight = 0;
        double          sum = 0;
        double          sum_sq = 0;
        double          avg = 0;
        double          sd = 0;
        unsigned        s;

        if (!flows[i].used)
        {
            continue;
        }
        for (s = 0; s < 65536; s++)
        {
            uint64_t    sent = flows[i].sent_ns[s];

            if (sent == 0 || (window_ns && now - sent > window_ns))
            {
                continue;
            }
            requests++;
            if (flows[i].rtt_ns[s])
            {
                double  us = (double) flows[i].rtt_ns[s] / 1000.0;

                replies++;
                sum += us;
                sum_sq += us * us;
            }
            else if (now - sent >= loss_ns)
            {
                lost++;
            }
            else
            {
                inflight++;
            }
        }
        if (replies)
        {
            avg = sum / (double) replies;
            sd = sum_sq / (double) replies - avg * avg;
            sd = sd > 0 ? sqrt(sd) : 0;
        }
        printf("ident 0x%04x requests %lu replies %lu lost %lu inflight %lu avg_us %.1f stddev_us %.1f\n",
               flows[i].ident, requests, replies, lost, inflight, avg, sd);
    }
    printf("end\n");
    fflush(stdout);
}

int
main(
    int                 argc,
    char *              argv[])
{
    struct sockaddr_ll  sll;
    struct sigaction    act;
    const char *        ifname = NULL;
    uint64_t            loss_ns = 2000000000u;
    uint64_t            window_ns = 0;
    uint64_t            stop_at;
    double              max_s = 600;
    int                 one = 1;
    int                 fd;
    int                 c;

    while ((c = getopt(argc, argv, "i:l:w:T:")) != -1)
    {
        switch (c)
        {
        case 'i':
            ifname = optarg;
            break;
        case 'l':
            loss_ns = strtoull(optarg, NULL, 10) * 1000000u;
            break;
        case 'w':
            window_ns = strtoull(optarg, NULL, 10) * 1000000u;
            break;
        case 'T':
            max_s = strtod(optarg, NULL);
            break;
        default:
            goto usage;
        }
    }
    if (ifname == NULL || optind != argc || max_s <= 0 || max_s > 3600)
    {
usage:
        fprintf(stderr, "usage: wirertt -i ifname [-l loss_ms] [-w window_ms] [-T max_seconds]\n");
        return 1;
    }

    fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_ALL));
    if (fd < 0)
    {
        perror("wirertt: socket");
        return 1;
    }
    if (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one)) < 0)
    {
        perror("wirertt: SO_TIMESTAMPNS");
        return 1;
    }
    memset(&sll, 0, sizeof(sll));
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    sll.sll_ifindex = (int) if_nametoindex(ifname);
    if (sll.sll_ifindex == 0 || bind(fd, (struct sockaddr *) &sll, sizeof(sll)) < 0)
    {
        fprintf(stderr, "wirertt: bind %s: %s\n", ifname, strerror(errno));
        return 1;
    }

    memset(&act, 0, sizeof(act));
    act.sa_handler = on_signal;
    sigaction(SIGUSR1, &act, NULL);
    sigaction(SIGTERM, &act, NULL);
    sigaction(SIGINT, &act, NULL);
    printf("ready\n");
    fflush(stdout);

    stop_at = realtime_ns() + (uint64_t) (max_s * 1e9);
    while (!want_exit && realtime_ns() < stop_at)
    {
        struct pollfd   pfd = { fd, POLLIN, 0 };
        uint8_t         buf[2048];
        union
        {
            char        space[CMSG_SPACE(sizeof(struct timespec)) + 64];
            struct cmsghdr align;
        }               ctl;
        struct iovec    iov = { buf, sizeof(buf) };
        struct msghdr   msg;
        struct cmsghdr * cm;
        uint64_t        stamp = 0;
        uint16_t        ident;
        uint16_t        seq;
        struct flow *   f;
        ssize_t         len;
        int             kind;

        if (want_dump)
        {
            want_dump = 0;
            dump(loss_ns, window_ns);
        }
        if (poll(&pfd, 1, 100) <= 0)
        {
            continue;
        }
        memset(&msg, 0, sizeof(msg));
        msg.msg_name = &sll;
        msg.msg_namelen = sizeof(sll);
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = ctl.space;
        msg.msg_controllen = sizeof(ctl.space);
        len = recvmsg(fd, &msg, MSG_DONTWAIT);
        if (len < 0)
        {
            continue;
        }
        for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm))
        {
            if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_TIMESTAMPNS)
            {
                struct timespec ts;

                memcpy(&ts, CMSG_DATA(cm), sizeof(ts));
                stamp = (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
            }
        }
        if (stamp == 0)
        {
            stamp = realtime_ns();
        }
        kind = echo_of(buf, (size_t) len, &ident, &seq);
        if (kind < 0 || (f = flow_get(ident)) == NULL)
        {
            continue;
        }
        if (kind == 1 && sll.sll_pkttype == PACKET_OUTGOING)
        {
            f->sent_ns[seq] = stamp;
            f->rtt_ns[seq] = 0;
        }
        else if (kind == 0 && sll.sll_pkttype != PACKET_OUTGOING && f->sent_ns[seq] &&
                 f->rtt_ns[seq] == 0 && stamp > f->sent_ns[seq])
        {
            f->rtt_ns[seq] = stamp - f->sent_ns[seq];
        }
    }
    dump(loss_ns, window_ns);
    return 0;
}
