// tunpeer: a test stand-in for a point-to-point layer-3 tunnel such as an
// IPsec VTI. It creates a tun interface (IFF_TUN | IFF_NO_PI) and plays the
// remote end itself: every ICMP echo request (IPv4 type 8, IPv6 type 128) the
// kernel routes into the interface is answered by writing the echo reply back
// into the tun fd, so the local sender receives it. Replies can be delayed,
// jittered and dropped; SIGUSR1 destroys and recreates the interface (new
// ifindex), SIGUSR2 mutes/unmutes answering. Everything else is discarded.
//
// Usage: tunpeer -i IFNAME [-c up_cmd] [-r readyfile] [-p pidfile]
//                [-d delay_ms] [-j jitter_ms] [-l loss_pct] [-s seed]
//                [-g gap_ms]

#if defined(__linux__)

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../lib/tools.h"

#define PKT_MAX 65536
#define QUEUE_MAX 4096
#define READS_PER_WAKEUP 64
#define NS_PER_MS 1000000ULL

#define IP4_HDR_MIN 20
#define IP6_HDR_LEN 40
#define ICMP_HDR_LEN 8
#define PROTO_ICMP 1
#define PROTO_ICMPV6 58
#define ICMP4_ECHO_REQUEST 8
#define ICMP4_ECHO_REPLY 0
#define ICMP6_ECHO_REQUEST 128
#define ICMP6_ECHO_REPLY 129
#define REPLY_HOP_LIMIT 64

// One reply waiting for its due time.
struct reply
{
    uint64_t due_ns;
    uint64_t seq;
    size_t len;
    uint8_t *data;
};

// Command-line settings.
struct config
{
    const char *ifname;
    const char *up_cmd;
    const char *readyfile;
    const char *pidfile;
    unsigned long delay_ms;
    unsigned long jitter_ms;
    unsigned long loss_pct;
    unsigned long long seed;
    unsigned long gap_ms;
};

// Runtime state of the single-threaded event loop.
struct state
{
    int tun_fd;
    unsigned generation;
    bool muted;
    bool write_warned;
    uint64_t recreate_at_ns;
    uint64_t rng;
    uint64_t next_seq;
    struct reply heap[QUEUE_MAX];
    size_t heap_len;
    unsigned long long requests;
    unsigned long long replies;
    unsigned long long dropped;
};

static int sig_fd = -1;    // read end of the self-pipe
static struct config cfg;
static struct state st;

// Prints the usage line and exits with status 2.
static void usage(void)
{
    fprintf(stderr,
            "usage: tunpeer -i IFNAME [-c up_cmd] [-r readyfile] [-p pidfile]\n"
            "               [-d delay_ms] [-j jitter_ms] [-l loss_pct] [-s seed]\n"
            "               [-g gap_ms]\n");
    exit(2);
}

// Returns the next value of the splitmix64 pseudo-random generator.
static uint64_t rng_next(void)
{
    st.rng += 0x9e3779b97f4a7c15ULL;
    uint64_t z = st.rng;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

// Builds an IPv4 echo reply for a request; returns its length or 0 to ignore.
static size_t make_reply4(const uint8_t *in, size_t n, uint8_t *out)
{
    if (n < IP4_HDR_MIN)
    {
        return 0;
    }
    size_t ihl = (size_t)(in[0] & 0x0f) * 4;
    size_t total = get16(in + 2);
    if (ihl < IP4_HDR_MIN || ihl > n || total < ihl || total > n)
    {
        return 0;
    }
    if (in[9] != PROTO_ICMP || csum_fold(csum_add(0, in, ihl)) != 0)
    {
        return 0;
    }
    // Fragments cannot be answered one by one; the reassembled request would be.
    if ((get16(in + 6) & 0x3fff) != 0)
    {
        return 0;
    }
    const uint8_t *icmp = in + ihl;
    size_t icmp_len = total - ihl;
    if (icmp_len < ICMP_HDR_LEN || icmp[0] != ICMP4_ECHO_REQUEST || icmp[1] != 0)
    {
        return 0;
    }
    if (csum_fold(csum_add(0, icmp, icmp_len)) != 0)
    {
        return 0;
    }
    size_t out_len = IP4_HDR_MIN + icmp_len;
    memset(out, 0, IP4_HDR_MIN);
    out[0] = 0x45;                    // version 4, no options
    out[1] = in[1];                   // keep TOS
    put16(out + 2, (uint16_t)out_len);
    put16(out + 4, get16(in + 4));    // echo the identification
    put16(out + 6, 0x4000);           // DF, no fragment offset
    out[8] = REPLY_HOP_LIMIT;
    out[9] = PROTO_ICMP;
    memcpy(out + 12, in + 16, 4);     // source = request destination
    memcpy(out + 16, in + 12, 4);     // destination = request source
    put16(out + 10, csum_fold(csum_add(0, out, IP4_HDR_MIN)));
    uint8_t *ricmp = out + IP4_HDR_MIN;
    memcpy(ricmp, icmp, icmp_len);
    ricmp[0] = ICMP4_ECHO_REPLY;
    put16(ricmp + 2, 0);
    put16(ricmp + 2, csum_fold(csum_add(0, ricmp, icmp_len)));
    return out_len;
}

// Builds an IPv6 echo reply for a request; returns its length or 0 to ignore.
static size_t make_reply6(const uint8_t *in, size_t n, uint8_t *out)
{
    if (n < IP6_HDR_LEN)
    {
        return 0;
    }
    size_t plen = get16(in + 4);
    // Only a bare ICMPv6 header directly after the IPv6 header is answered.
    if (plen > n - IP6_HDR_LEN || in[6] != PROTO_ICMPV6 || plen < ICMP_HDR_LEN)
    {
        return 0;
    }
    const uint8_t *icmp = in + IP6_HDR_LEN;
    if (icmp[0] != ICMP6_ECHO_REQUEST || icmp[1] != 0)
    {
        return 0;
    }
    if (icmp6_csum(in + 8, in + 24, icmp, plen) != 0)
    {
        return 0;
    }
    memcpy(out, in, 4);                // version, traffic class, flow label
    put16(out + 4, (uint16_t)plen);
    out[6] = PROTO_ICMPV6;
    out[7] = REPLY_HOP_LIMIT;
    memcpy(out + 8, in + 24, 16);      // source = request destination
    memcpy(out + 24, in + 8, 16);      // destination = request source
    uint8_t *ricmp = out + IP6_HDR_LEN;
    memcpy(ricmp, icmp, plen);
    ricmp[0] = ICMP6_ECHO_REPLY;
    put16(ricmp + 2, 0);
    put16(ricmp + 2, icmp6_csum(out + 8, out + 24, ricmp, plen));
    return IP6_HDR_LEN + plen;
}

// Orders two queued replies: earlier due time first, then arrival order.
static bool reply_before(const struct reply *a, const struct reply *b)
{
    if (a->due_ns != b->due_ns)
    {
        return a->due_ns < b->due_ns;
    }
    return a->seq < b->seq;
}

// Swaps two heap slots.
static void heap_swap(size_t i, size_t j)
{
    struct reply t = st.heap[i];
    st.heap[i] = st.heap[j];
    st.heap[j] = t;
}

// Inserts a reply into the due-time heap; drops it when the queue is full.
static void queue_push(uint64_t due_ns, const uint8_t *data, size_t len)
{
    if (st.heap_len >= QUEUE_MAX)
    {
        st.dropped++;
        return;
    }
    uint8_t *copy = malloc(len);
    if (copy == NULL)
    {
        warn("malloc reply of %zu bytes", len);
        st.dropped++;
        return;
    }
    memcpy(copy, data, len);
    size_t i = st.heap_len++;
    st.heap[i] = (struct reply){due_ns, st.next_seq++, len, copy};
    while (i > 0)
    {
        size_t parent = (i - 1) / 2;
        if (!reply_before(&st.heap[i], &st.heap[parent]))
        {
            break;
        }
        heap_swap(i, parent);
        i = parent;
    }
}

// Removes the earliest reply from the heap into *out.
static void queue_pop(struct reply *out)
{
    *out = st.heap[0];
    st.heap[0] = st.heap[--st.heap_len];
    size_t i = 0;
    for (;;)
    {
        size_t l = 2 * i + 1;
        size_t r = l + 1;
        size_t m = i;
        if (l < st.heap_len && reply_before(&st.heap[l], &st.heap[m]))
        {
            m = l;
        }
        if (r < st.heap_len && reply_before(&st.heap[r], &st.heap[m]))
        {
            m = r;
        }
        if (m == i)
        {
            break;
        }
        heap_swap(i, m);
        i = m;
    }
}

// Discards every queued reply, counting each as dropped.
static void queue_clear(void)
{
    for (size_t i = 0; i < st.heap_len; i++)
    {
        free(st.heap[i].data);
        st.dropped++;
    }
    st.heap_len = 0;
}

// Writes every reply whose due time has come, in due order.
static void flush_due(uint64_t now)
{
    while (st.heap_len > 0 && st.heap[0].due_ns <= now)
    {
        struct reply r;
        queue_pop(&r);
        ssize_t w = st.tun_fd >= 0 ? write(st.tun_fd, r.data, r.len) : -1;
        if (w == (ssize_t)r.len)
        {
            st.replies++;
        }
        else
        {
            if (w < 0 && st.tun_fd >= 0 && !st.write_warned)
            {
                warn("write reply to %s", cfg.ifname);
                st.write_warned = true;
            }
            st.dropped++;
        }
        free(r.data);
    }
}

// Runs the up command through /bin/sh; reports a failure but never exits.
static void run_up_cmd(bool *ok)
{
    *ok = true;
    if (cfg.up_cmd == NULL)
    {
        return;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
    {
        warn("fork for up_cmd '%s'", cfg.up_cmd);
        *ok = false;
        return;
    }
    if (pid == 0)
    {
        execl("/bin/sh", "sh", "-c", cfg.up_cmd, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
    {
        if (errno != EINTR)
        {
            warn("waitpid up_cmd '%s'", cfg.up_cmd);
            *ok = false;
            return;
        }
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
    {
        return;
    }
    *ok = false;
    if (WIFEXITED(status))
    {
        warnx("up_cmd '%s' exited with status %d", cfg.up_cmd,
              WEXITSTATUS(status));
    }
    else if (WIFSIGNALED(status))
    {
        warnx("up_cmd '%s' killed by signal %d", cfg.up_cmd, WTERMSIG(status));
    }
}

// Writes a small text file atomically (temporary file + rename).
static bool write_file_atomic(const char *path, const char *text)
{
    char tmp[PATH_MAX];
    int n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof(tmp))
    {
        warnx("%s: path too long", path);
        return false;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
    {
        warn("open %s", tmp);
        return false;
    }
    size_t len = strlen(text);
    ssize_t w = write(fd, text, len);
    if (w != (ssize_t)len)
    {
        warn("write %s", tmp);
        close(fd);
        unlink(tmp);
        return false;
    }
    if (close(fd) != 0)
    {
        warn("close %s", tmp);
        unlink(tmp);
        return false;
    }
    if (rename(tmp, path) != 0)
    {
        warn("rename %s to %s", tmp, path);
        unlink(tmp);
        return false;
    }
    return true;
}

// Opens the tun device under the configured name; returns the fd or -1.
static int open_tun(void)
{
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
    {
        warn("open /dev/net/tun");
        return -1;
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", cfg.ifname);
    if (ioctl(fd, TUNSETIFF, &ifr) != 0)
    {
        warn("TUNSETIFF %s", cfg.ifname);
        close(fd);
        return -1;
    }
    if (strncmp(ifr.ifr_name, cfg.ifname, IFNAMSIZ) != 0)
    {
        warnx("TUNSETIFF %s: kernel named it %s", cfg.ifname, ifr.ifr_name);
        close(fd);
        return -1;
    }
    return fd;
}

// Adopts a freshly opened tun fd: counts the generation, runs up_cmd and
// publishes the generation in the readyfile when up_cmd succeeded.
static void adopt_interface(int fd)
{
    st.tun_fd = fd;
    st.generation++;
    st.write_warned = false;
    bool ok;
    run_up_cmd(&ok);
    if (ok && cfg.readyfile != NULL)
    {
        char text[32];
        snprintf(text, sizeof(text), "%u\n", st.generation);
        write_file_atomic(cfg.readyfile, text);
    }
}

// Recreates the interface after a gap; on failure schedules another attempt
// one gap later.
static void recreate_interface(uint64_t now)
{
    int fd = open_tun();
    if (fd < 0)
    {
        st.recreate_at_ns = now + cfg.gap_ms * NS_PER_MS;
        return;
    }
    adopt_interface(fd);
}

// Closes the interface (the kernel deletes it) and starts the recreate gap.
static void destroy_interface(uint64_t now)
{
    if (st.tun_fd >= 0)
    {
        close(st.tun_fd);
        st.tun_fd = -1;
    }
    queue_clear();
    st.recreate_at_ns = now + cfg.gap_ms * NS_PER_MS;
}

// Handles one packet read from the tun device.
static void handle_packet(const uint8_t *pkt, size_t n, uint64_t now)
{
    static uint8_t out[PKT_MAX];
    size_t out_len = 0;
    if (n == 0)
    {
        return;
    }
    switch (pkt[0] >> 4)
    {
    case 4:
        out_len = make_reply4(pkt, n, out);
        break;
    case 6:
        out_len = make_reply6(pkt, n, out);
        break;
    default:
        break;
    }
    if (out_len == 0)
    {
        return;
    }
    st.requests++;
    if (st.muted)
    {
        st.dropped++;
        return;
    }
    if (cfg.loss_pct > 0 && rng_next() % 100 < cfg.loss_pct)
    {
        st.dropped++;
        return;
    }
    uint64_t delay_ms = cfg.delay_ms;
    if (cfg.jitter_ms > 0)
    {
        delay_ms += rng_next() % (cfg.jitter_ms + 1);
    }
    queue_push(now + delay_ms * NS_PER_MS, out, out_len);
}

// Reads a bounded batch of packets from the tun fd; recreates on fatal errors.
static void read_tun(void)
{
    static uint8_t buf[PKT_MAX];
    for (int i = 0; i < READS_PER_WAKEUP && st.tun_fd >= 0; i++)
    {
        ssize_t n = read(st.tun_fd, buf, sizeof(buf));
        if (n < 0)
        {
            if (errno == EAGAIN || errno == EINTR)
            {
                return;
            }
            warn("read %s", cfg.ifname);
            destroy_interface(mono_ns());
            return;
        }
        handle_packet(buf, (size_t)n, mono_ns());
    }
}

// Prints the final counters and exits.
static void finish(void)
{
    queue_clear();
    if (st.tun_fd >= 0)
    {
        close(st.tun_fd);
    }
    fprintf(stderr, "tunpeer: requests %llu replies %llu dropped %llu\n",
            st.requests, st.replies, st.dropped);
    exit(0);
}

// Drains the self-pipe and acts on each signal received.
static void handle_signals(void)
{
    int sig;
    while ((sig = selfpipe_take()) != 0)
    {
        switch (sig)
        {
        case SIGUSR1:
            destroy_interface(mono_ns());
            break;
        case SIGUSR2:
            st.muted = !st.muted;
            break;
        case SIGTERM:
        case SIGINT:
            finish();
            break;
        default:
            break;
        }
    }
}

// Computes the poll timeout in milliseconds until the next timed event.
static int poll_timeout(uint64_t now)
{
    uint64_t next = UINT64_MAX;
    if (st.heap_len > 0)
    {
        next = st.heap[0].due_ns;
    }
    if (st.tun_fd < 0 && st.recreate_at_ns < next)
    {
        next = st.recreate_at_ns;
    }
    if (next == UINT64_MAX)
    {
        return -1;
    }
    if (next <= now)
    {
        return 0;
    }
    uint64_t ms = (next - now + NS_PER_MS - 1) / NS_PER_MS;
    return ms > INT_MAX ? INT_MAX : (int)ms;
}

// Parses the command line into cfg.
static void parse_args(int argc, char **argv)
{
    cfg.seed = 1;
    cfg.gap_ms = 200;
    int c;
    while ((c = getopt(argc, argv, "i:c:r:p:d:j:l:s:g:")) != -1)
    {
        switch (c)
        {
        case 'i':
            cfg.ifname = optarg;
            break;
        case 'c':
            cfg.up_cmd = optarg;
            break;
        case 'r':
            cfg.readyfile = optarg;
            break;
        case 'p':
            cfg.pidfile = optarg;
            break;
        case 'd':
            cfg.delay_ms = (unsigned long)parse_num("delay_ms", optarg, 3600000);
            break;
        case 'j':
            cfg.jitter_ms = (unsigned long)parse_num("jitter_ms", optarg, 3600000);
            break;
        case 'l':
            cfg.loss_pct = (unsigned long)parse_num("loss_pct", optarg, 100);
            break;
        case 's':
            cfg.seed = parse_num("seed", optarg, ULLONG_MAX);
            break;
        case 'g':
            cfg.gap_ms = (unsigned long)parse_num("gap_ms", optarg, 3600000);
            break;
        default:
            usage();
        }
    }
    if (optind != argc || cfg.ifname == NULL)
    {
        usage();
    }
    size_t len = strlen(cfg.ifname);
    if (len == 0 || len >= IFNAMSIZ || strchr(cfg.ifname, '%') != NULL ||
        strchr(cfg.ifname, '/') != NULL)
    {
        errx(2, "invalid interface name '%s'", cfg.ifname);
    }
}

// Entry point: set up, create the interface, then run the poll loop forever.
int main(int argc, char **argv)
{
    parse_args(argc, argv);
    st.tun_fd = -1;
    st.rng = cfg.seed;
    if (setenv("TUNPEER_IF", cfg.ifname, 1) != 0)
    {
        err(1, "setenv TUNPEER_IF");
    }
    static const int sigs[] = {SIGUSR1, SIGUSR2, SIGTERM, SIGINT};
    sig_fd = selfpipe_install(sigs, sizeof(sigs) / sizeof(sigs[0]));
    if (cfg.pidfile != NULL)
    {
        char text[32];
        snprintf(text, sizeof(text), "%ld\n", (long)getpid());
        if (!write_file_atomic(cfg.pidfile, text))
        {
            exit(1);
        }
    }
    int fd = open_tun();
    if (fd < 0)
    {
        exit(1);
    }
    adopt_interface(fd);

    for (;;)
    {
        uint64_t now = mono_ns();
        if (st.tun_fd < 0 && now >= st.recreate_at_ns)
        {
            recreate_interface(now);
            now = mono_ns();
        }
        flush_due(now);

        struct pollfd pfd[2];
        nfds_t nfds = 1;
        pfd[0] = (struct pollfd){.fd = sig_fd, .events = POLLIN};
        if (st.tun_fd >= 0)
        {
            pfd[1] = (struct pollfd){.fd = st.tun_fd, .events = POLLIN};
            nfds = 2;
        }
        int r = poll(pfd, nfds, poll_timeout(now));
        if (r < 0)
        {
            if (errno == EINTR)
            {
                continue;
            }
            err(1, "poll");
        }
        if (pfd[0].revents & POLLIN)
        {
            handle_signals();
        }
        if (nfds == 2 && st.tun_fd >= 0 && pfd[1].fd == st.tun_fd)
        {
            if (pfd[1].revents & POLLIN)
            {
                read_tun();
            }
            else if (pfd[1].revents & (POLLERR | POLLHUP | POLLNVAL))
            {
                warnx("%s: tun device reported an error; recreating",
                      cfg.ifname);
                destroy_interface(mono_ns());
            }
        }
    }
}

#else

#include <stdio.h>

int
main(void)
{
    fprintf(stderr, "tunpeer: needs Linux (/dev/net/tun)\n");
    return 2;
}

#endif
