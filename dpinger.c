//
// dpinger: continuous ICMP echo latency and loss monitor.
//
// A self-healing, drop-in fork of dpinger 3.3: the same command line,
// report line, status socket, alert command, pid file, signals and exit
// codes, plus in-place recovery of the ICMP sockets (send errors, routing
// socket, fresh-socket probe) and a watchdog over every thread.  Written
// from a description of dpinger's observable behaviour; no upstream code.
//
// SPDX-License-Identifier: BSD-2-Clause
//

#if defined(__linux__)
#define _GNU_SOURCE
#endif

#include <sys/types.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <netinet/icmp6.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <sys/mman.h>

#if defined(__linux__)
#include <sys/eventfd.h>
#include <linux/icmp.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#elif defined(__FreeBSD__)
#include <sys/param.h>
#include <sys/sysctl.h>
#include <net/if_dl.h>
#include <net/route.h>
#include <pthread_np.h>
#endif

#define VERSION                 "3.3-sh1"

extern char **                  environ;


//
// Limits and fixed values
//
#define IDENT_MAX               63              // -i must be shorter than this
#define TIME_MAX_MS             2147483647L     // about 24.8 days
#define IPV4_DATA_MAX           65507           // -d limit for IPv4
#define IPV6_DATA_MAX           65527           // -d limit for IPv6
#define ICMP_HDR_LEN            8
#define PACKET_MAX              65536           // largest datagram we send or read
#define SOCKBUF_SIZE            (PACKET_MAX + 1024)
#define STATUS_BACKLOG          16
#define SLICE_MS                1000            // longest sleep of any thread
#define DEBOUNCE_MS             100             // coalescing of routing events
#define RECONCILE_MS            60000           // periodic re-check of the bound interface
#define RESYNC_MIN_MS           1000            // at most one overflow resync per second
#define SUMMARY_MS              60000           // repeated errors are summarised this often
#define BIND_FAST_MS            10000           // bind retries every send interval this long
#define BACKOFF_MAX_MS          60000
#define STORM_BASE_MS           2000            // first gap between rebuilds that do not heal
#define BLACKHOLE_MIN_MS        10000
#define REEXEC_MAX_GAP_MS       600000          // longest gap between two re-executions
#define REEXEC_FORGET_MS        3600000         // re-exec count resets after this long
#define REEXEC_ENV              "DPINGER_REEXEC"

#define ICMP4_ECHO_REPLY        0
#define ICMP4_ECHO_REQUEST      8
#define ICMP6_ECHO_REPLY_TYPE   129
#define ICMP6_ECHO_REQUEST_TYPE 128


//
// Configuration: written by main() from the command line before any thread
// starts, read-only afterwards.
//
struct config
{
    int                 foreground;             // -f
    int                 rewind_output;          // -R
    int                 use_syslog;             // -S
    int                 realtime_recv;          // -P
    int                 no_route_socket;        // -N

    unsigned long       send_interval;          // -s, ms
    unsigned long       loss_interval;          // -l, ms (0 until defaulted)
    unsigned long       time_period;            // -t, ms
    unsigned long       report_interval;        // -r, ms (0: no report thread)
    unsigned long       alert_interval;         // -A, ms
    unsigned long       latency_alarm;          // -D, ms
    unsigned long       loss_alarm;             // -L, percent
    unsigned long       alarm_hold;             // -H, ms
    unsigned long       data_len;               // -d, bytes
    unsigned long       send_error_limit;       // -E, 0 disables
    unsigned long       watchdog_limit;         // -W, ms, 0 disables

    int                 have_latency_alarm;
    int                 have_loss_alarm;
    int                 have_hold;

    const char *        dest_str;               // the positional argument
    const char *        bind_str;               // -B
    const char *        output_file;            // -o
    const char *        alert_cmd;              // -C
    const char *        identifier;             // -i
    const char *        usocket;                // -u
    const char *        pidfile;                // -p

    // Derived by config_check()
    int                 family;                 // AF_INET or AF_INET6
    struct sockaddr_storage dest;
    socklen_t           dest_len;
    struct sockaddr_storage bind;
    socklen_t           bind_len;               // 0 without -B
    unsigned            slot_count;             // time_period / send_interval
    unsigned            seq_limit;              // sequence numbers run modulo this
    char                prefix[IDENT_MAX + 2];  // "identifier " or ""
    char                dest_text[NI_MAXHOST];
    char                bind_text[NI_MAXHOST];
};

static struct config    cfg;

// Saved for re-execution in place; written once in main()
static char **          saved_argv;
static char             self_path[PATH_MAX];


//
// Logging: stderr, or syslog with -S.  It never blocks: a daemon that waits
// for its log watches nothing.  A line that cannot go out at once (a full
// syslog socket, a stderr pipe nobody reads) is dropped and counted, and
// the next line that gets through is followed by the count.  syslog(3)
// is not used because it blocks on a full socket, holding a lock every
// other thread that logs then waits for.
//
#if defined(__FreeBSD__)
#define SYSLOG_PATH             "/var/run/log"
#else
#define SYSLOG_PATH             "/dev/log"
#endif

static int              log_fd = -1;            // syslog socket: made once in main, never closed
static _Atomic unsigned log_dropped;            // any thread: lines dropped since one went out
static _Atomic uint64_t log_reconnect_at;       // any thread: no reconnect before this (ms)

static uint64_t now_ms(void);

// (Re)connect the syslog socket; a datagram socket can simply connect
// again, so the descriptor stays the same for every thread
static void
log_connect(void)
{
    struct sockaddr_un  sa;

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, SYSLOG_PATH, sizeof(SYSLOG_PATH));
    (void) connect(log_fd, (struct sockaddr *) &sa, sizeof(sa));
}

static void
log_open(void)
{
    log_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (log_fd >= 0)
    {
        log_connect();
    }
}

// Write one line (no newline) without waiting; 0 when it went out
static int
log_write(
    int                 priority,
    const char *        line,
    size_t              len)
{
    char                buf[1200];
    int                 n;

    if (log_fd < 0)
    {
        struct pollfd   pfd = { STDERR_FILENO, POLLOUT, 0 };

        if (poll(&pfd, 1, 0) != 1 || (pfd.revents & POLLOUT) == 0 || len + 1 > sizeof(buf))
        {
            return -1;
        }
        memcpy(buf, line, len);
        buf[len] = '\n';
        // One write per line so lines from different threads never mix
        return write(STDERR_FILENO, buf, len + 1) == (ssize_t) len + 1 ? 0 : -1;
    }

    n = snprintf(buf, sizeof(buf), "<%d>dpinger[%ld]: %.*s", LOG_DAEMON | priority, (long) getpid(), (int) len, line);
    if (n < 0)
    {
        return -1;
    }
    if ((size_t) n >= sizeof(buf))
    {
        n = sizeof(buf) - 1;
    }
    if (send(log_fd, buf, (size_t) n, MSG_DONTWAIT | MSG_NOSIGNAL) == n)
    {
        return 0;
    }
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS)
    {
        // The syslog daemon went away or restarted: reconnect, once a second
        uint64_t        now = now_ms();
        uint64_t        at = atomic_load(&log_reconnect_at);

        if (now >= at && atomic_compare_exchange_strong(&log_reconnect_at, &at, now + 1000))
        {
            log_connect();
            if (send(log_fd, buf, (size_t) n, MSG_DONTWAIT | MSG_NOSIGNAL) == n)
            {
                return 0;
            }
        }
    }
    return -1;
}

static void
logmsg(
    int                 priority,
    const char *        fmt,
    ...)
{
    char                buf[1024];
    va_list             args;
    int                 len;
    unsigned            dropped;

    va_start(args, fmt);
    len = vsnprintf(buf, sizeof(buf), fmt, args);
    va_end(args);
    if (len < 0)
    {
        return;
    }
    if ((size_t) len >= sizeof(buf))
    {
        len = sizeof(buf) - 1;
    }

    if (log_write(priority, buf, (size_t) len) < 0)
    {
        atomic_fetch_add(&log_dropped, 1);
        return;
    }
    dropped = atomic_exchange(&log_dropped, 0);
    if (dropped)
    {
        len = snprintf(buf, sizeof(buf), "%u log lines dropped: the log was not accepting them", dropped);
        if (log_write(LOG_WARNING, buf, (size_t) len) < 0)
        {
            atomic_fetch_add(&log_dropped, dropped);
        }
    }
}


//
// Monotonic clock in milliseconds and microseconds
//
static uint64_t
now_us(void)
{
    struct timespec     ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

static uint64_t
now_ms(void)
{
    return now_us() / 1000u;
}

// Time from `then` to `now`, 0 when `then` is later: another thread may
// store a time after this one read its clock, and unsigned wrap-around
// would turn "just now" into "ages ago"
static uint64_t
elapsed_since(
    uint64_t            now,
    uint64_t            then)
{
    return now > then ? now - then : 0;
}


//
// Value parsers.  All take the option text and return 0 with the value in
// *out, or -1 when the text is not valid.  Base 10, leading blanks allowed.
//

// Time: integer milliseconds, optional suffix m (milliseconds) or s (seconds),
// at most TIME_MAX_MS so that every later sum and poll() timeout fits
static int
parse_time(
    const char *        text,
    unsigned long *     out)
{
    char *              end;
    long                value;

    errno = 0;
    value = strtol(text, &end, 10);
    if (errno || end == text || value < 0)
    {
        return -1;
    }
    if (*end == 's')
    {
        if (value > TIME_MAX_MS / 1000)
        {
            return -1;
        }
        value *= 1000;
        end++;
    }
    else if (*end == 'm')
    {
        end++;
    }
    if (*end != '\0' || value > TIME_MAX_MS)
    {
        return -1;
    }
    *out = (unsigned long) value;
    return 0;
}

// Percent: integer 0 to 100, optional %
static int
parse_percent(
    const char *        text,
    unsigned long *     out)
{
    char *              end;
    long                value;

    errno = 0;
    value = strtol(text, &end, 10);
    if (errno || end == text || value < 0 || value > 100)
    {
        return -1;
    }
    if (*end == '%')
    {
        end++;
    }
    if (*end != '\0')
    {
        return -1;
    }
    *out = (unsigned long) value;
    return 0;
}

// Length: integer bytes, optional suffix b (bytes) or k (1024 bytes)
static int
parse_length(
    const char *        text,
    unsigned long *     out)
{
    char *              end;
    long                value;

    errno = 0;
    value = strtol(text, &end, 10);
    if (errno || end == text || value < 0)
    {
        return -1;
    }
    if (*end == 'k')
    {
        if (value > LONG_MAX / 1024)
        {
            return -1;
        }
        value *= 1024;
        end++;
    }
    else if (*end == 'b')
    {
        end++;
    }
    if (*end != '\0')
    {
        return -1;
    }
    *out = (unsigned long) value;
    return 0;
}

// Count: plain non-negative integer up to 1000000
static int
parse_count(
    const char *        text,
    unsigned long *     out)
{
    char *              end;
    long                value;

    errno = 0;
    value = strtol(text, &end, 10);
    if (errno || end == text || value < 0 || value > 1000000 || *end != '\0')
    {
        return -1;
    }
    *out = (unsigned long) value;
    return 0;
}


//
// Usage: the short reference
//
static void
usage(void)
{
    fprintf(stderr,
        "dpinger %s (self-healing fork of dpinger 3.3)\n"
        "Usage:\n"
        "  dpinger [-f] [-R] [-S] [-P] [-N] [-h] [-B bind_addr] [-s send_interval]\n"
        "          [-l loss_interval] [-t time_period] [-r report_interval]\n"
        "          [-d data_length] [-o output_file] [-A alert_interval]\n"
        "          [-D latency_alarm] [-L loss_alarm] [-H hold_interval]\n"
        "          [-C alert_cmd] [-i identifier] [-u usocket] [-p pidfile]\n"
        "          [-E send_errors] [-W stall_limit] dest_addr\n"
        "\n"
        "  options:\n"
        "    -f run in the foreground\n"
        "    -R rewind the output file before each report (keep only the latest line)\n"
        "    -S log warnings via syslog\n"
        "    -P use SCHED_RR for the receive thread\n"
        "    -N do not watch the routing socket for interface changes\n"
        "    -h print this usage and exit\n"
        "    -B bind (source) address\n"
        "    -s time between echo requests (default 500ms)\n"
        "    -l time after which an unanswered request counts as lost\n"
        "       (default 4x send interval)\n"
        "    -t time period over which results are averaged (default 60s)\n"
        "    -r time between reports to the output (default 1s, 0 disables)\n"
        "    -d data length of the echo request (default 0)\n"
        "    -o output file for reports (default stdout)\n"
        "    -A time between alarm checks (default 1s)\n"
        "    -D latency alarm threshold (time)\n"
        "    -L loss alarm threshold (percent)\n"
        "    -H hold time of an alarm after its cause clears\n"
        "       (default 10x alert interval)\n"
        "    -C command to run on alarm changes; it receives\n"
        "       [identifier ]dest_addr alarm_flag latency_avg latency_stddev loss\n"
        "    -i identifier prefixed to every output line\n"
        "    -u unix socket that answers each connection with a report line\n"
        "    -p pid file\n"
        "    -E consecutive stale-path send errors before the sockets are rebuilt\n"
        "       (default 3, 0 disables)\n"
        "    -W watchdog stall limit for every thread (default 5s, 0 disables,\n"
        "       otherwise at least 2s)\n"
        "\n"
        "  Times are milliseconds by default; suffix m or s for milliseconds or\n"
        "  seconds.  Lengths take b or k, percentages an optional %%.\n"
        "  SIGHUP rebuilds the ICMP sockets.\n",
        VERSION);
}


//
// Command line parsing: fills *c from argv.  Returns 0 on success, 1 when
// usage should be shown (err may name the bad option), 2 on a bad value
// (err names it).  Nothing is printed here.
//
#define ARGS_OK                 0
#define ARGS_USAGE              1
#define ARGS_BAD                2

static int
args_parse(
    int                 argc,
    char * const        argv[],
    struct config *     c,
    char *              err,
    size_t              errlen)
{
    int                 opt;
    int                 result = ARGS_OK;

    memset(c, 0, sizeof(*c));
    c->send_interval = 500;
    c->time_period = 60000;
    c->report_interval = 1000;
    c->alert_interval = 1000;
    c->send_error_limit = 3;
    c->watchdog_limit = 5000;
    err[0] = '\0';

#if defined(__linux__)
    optind = 0;
#else
    optreset = 1;
    optind = 1;
#endif
    opterr = 0;

#define BAD(...)                                                        \
    do                                                                  \
    {                                                                   \
        if (result == ARGS_OK)                                          \
        {                                                               \
            snprintf(err, errlen, __VA_ARGS__);                         \
            result = ARGS_BAD;                                          \
        }                                                               \
    } while (0)

    while ((opt = getopt(argc, argv, ":fRSPNhB:s:l:t:r:d:o:A:D:L:H:C:i:u:p:E:W:")) != -1)
    {
        switch (opt)
        {
        case 'f':
            c->foreground = 1;
            break;
        case 'R':
            c->rewind_output = 1;
            break;
        case 'S':
            c->use_syslog = 1;
            break;
        case 'P':
            c->realtime_recv = 1;
            break;
        case 'N':
            c->no_route_socket = 1;
            break;
        case 'h':
            if (result == ARGS_OK)
            {
                result = ARGS_USAGE;
            }
            break;
        case 'B':
            c->bind_str = optarg;
            break;
        case 's':
            if (parse_time(optarg, &c->send_interval) || c->send_interval == 0)
            {
                BAD("invalid send interval (-s) \"%s\"", optarg);
            }
            break;
        case 'l':
            if (parse_time(optarg, &c->loss_interval) || c->loss_interval == 0)
            {
                BAD("invalid loss interval (-l) \"%s\"", optarg);
            }
            break;
        case 't':
            if (parse_time(optarg, &c->time_period) || c->time_period == 0)
            {
                BAD("invalid time period (-t) \"%s\"", optarg);
            }
            break;
        case 'r':
            if (parse_time(optarg, &c->report_interval))
            {
                BAD("invalid report interval (-r) \"%s\"", optarg);
            }
            break;
        case 'd':
            if (parse_length(optarg, &c->data_len))
            {
                BAD("invalid data length (-d) \"%s\"", optarg);
            }
            break;
        case 'o':
            c->output_file = optarg;
            break;
        case 'A':
            if (parse_time(optarg, &c->alert_interval) || c->alert_interval == 0)
            {
                BAD("invalid alert interval (-A) \"%s\"", optarg);
            }
            break;
        case 'D':
            if (parse_time(optarg, &c->latency_alarm))
            {
                BAD("invalid latency alarm (-D) \"%s\"", optarg);
            }
            c->have_latency_alarm = 1;
            break;
        case 'L':
            if (parse_percent(optarg, &c->loss_alarm))
            {
                BAD("invalid loss alarm (-L) \"%s\"", optarg);
            }
            c->have_loss_alarm = 1;
            break;
        case 'H':
            if (parse_time(optarg, &c->alarm_hold))
            {
                BAD("invalid alarm hold (-H) \"%s\"", optarg);
            }
            c->have_hold = 1;
            break;
        case 'C':
            c->alert_cmd = optarg;
            break;
        case 'i':
            if (strlen(optarg) >= IDENT_MAX)
            {
                BAD("identifier (-i) must be shorter than %d bytes", IDENT_MAX);
            }
            c->identifier = optarg;
            break;
        case 'u':
            if (strlen(optarg) >= sizeof(((struct sockaddr_un *) 0)->sun_path))
            {
                BAD("status socket path (-u) is too long: \"%s\"", optarg);
            }
            c->usocket = optarg;
            break;
        case 'p':
            c->pidfile = optarg;
            break;
        case 'E':
            if (parse_count(optarg, &c->send_error_limit))
            {
                BAD("invalid send error count (-E) \"%s\"", optarg);
            }
            break;
        case 'W':
            // A healthy idle thread beats once per slice: shorter limits misfire
            if (parse_time(optarg, &c->watchdog_limit) ||
                (c->watchdog_limit && c->watchdog_limit < 2 * SLICE_MS))
            {
                BAD("invalid watchdog stall limit (-W) \"%s\": 0 or at least 2s", optarg);
            }
            break;
        case ':':
            if (result == ARGS_OK)
            {
                snprintf(err, errlen, "option -%c needs a value", optopt);
                result = ARGS_USAGE;
            }
            break;
        default:
            if (result == ARGS_OK)
            {
                snprintf(err, errlen, "unknown option -%c", optopt);
                result = ARGS_USAGE;
            }
            break;
        }
    }
#undef BAD

    if (result != ARGS_OK)
    {
        return result;
    }
    if (argc - optind != 1)
    {
        snprintf(err, errlen, "%s", argc - optind ? "only one destination address may be given" : "destination address missing");
        return ARGS_USAGE;
    }
    c->dest_str = argv[optind];
    return ARGS_OK;
}


//
// Sequence limit: the slot count shifted left until bit 15 is set, so that
// sequence % slots is always the slot.  0 when the count cannot work.
//
static unsigned
seq_limit_for(
    unsigned long       slots)
{
    unsigned long       limit = slots;

    if (limit == 0 || limit > 65535)
    {
        return 0;
    }
    while ((limit & 0x8000) == 0)
    {
        limit <<= 1;
    }
    return (unsigned) limit;
}


//
// Resolve a numeric address (IPv6 scope allowed).  Returns 0 or -1.
//
static int
addr_resolve(
    const char *        text,
    struct sockaddr_storage * ss,
    socklen_t *         len)
{
    struct addrinfo     hints;
    struct addrinfo *   ai;

    memset(&hints, 0, sizeof(hints));
    hints.ai_flags = AI_NUMERICHOST;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;     // any type will do: only the address is used
    if (getaddrinfo(text, NULL, &hints, &ai) != 0)
    {
        return -1;
    }
    if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) || ai->ai_addrlen > sizeof(*ss))
    {
        freeaddrinfo(ai);
        return -1;
    }
    memset(ss, 0, sizeof(*ss));
    memcpy(ss, ai->ai_addr, ai->ai_addrlen);
    *len = ai->ai_addrlen;
    freeaddrinfo(ai);
    return 0;
}

// Numeric text of an address (with the IPv6 scope)
static void
addr_text(
    const struct sockaddr_storage * ss,
    socklen_t           len,
    char *              buf,
    size_t              buflen)
{
    if (getnameinfo((const struct sockaddr *) ss, len, buf, (socklen_t) buflen, NULL, 0, NI_NUMERICHOST) != 0)
    {
        snprintf(buf, buflen, "?");
    }
}


//
// Cross-checks after all options, in upstream's order, then the address
// checks and the defaults.  Returns 0, or -1 with err naming the problem.
//
static int
config_check(
    struct config *     c,
    char *              err,
    size_t              errlen)
{
    unsigned long       slots;

    // 1. Something must consume the measurements
    if (c->report_interval == 0 && !c->have_latency_alarm && !c->have_loss_alarm && c->usocket == NULL)
    {
        snprintf(err, errlen, "no activity enabled");
        return -1;
    }

    // 2. The period must hold the loss interval and then some (the -l value, or 0)
    if (c->send_interval > c->time_period / 2 ||
        c->time_period - 2 * c->send_interval <= c->loss_interval)
    {
        snprintf(err, errlen, "time period (%lums) must be greater than twice the send interval (%lums) plus the loss interval (%lums)",
                 c->time_period, c->send_interval, c->loss_interval);
        return -1;
    }

    // 3. At most 65535 slots, so that a sequence limit exists
    slots = c->time_period / c->send_interval;
    if (slots > 65535)
    {
        snprintf(err, errlen, "time period / send interval (%lu) must not exceed 65535", slots);
        return -1;
    }
    c->slot_count = (unsigned) slots;
    c->seq_limit = seq_limit_for(slots);

    // 4. The destination must be a numeric address
    if (addr_resolve(c->dest_str, &c->dest, &c->dest_len))
    {
        snprintf(err, errlen, "invalid destination address \"%s\"", c->dest_str);
        return -1;
    }
    c->family = c->dest.ss_family;

    if (c->bind_str)
    {
        if (addr_resolve(c->bind_str, &c->bind, &c->bind_len))
        {
            snprintf(err, errlen, "invalid bind address \"%s\"", c->bind_str);
            return -1;
        }
        if (c->bind.ss_family != c->family)
        {
            snprintf(err, errlen, "bind address \"%s\" is not in the same address family as destination \"%s\"", c->bind_str, c->dest_str);
            return -1;
        }
    }

    if (c->data_len > (c->family == AF_INET ? IPV4_DATA_MAX : IPV6_DATA_MAX))
    {
        snprintf(err, errlen, "data length (-d) %lu is too large for %s (at most %d)",
                 c->data_len, c->family == AF_INET ? "IPv4" : "IPv6",
                 c->family == AF_INET ? IPV4_DATA_MAX : IPV6_DATA_MAX);
        return -1;
    }

    // Defaults that depend on other values (saturating: times are at most
    // TIME_MAX_MS, and unsigned long may be 32 bits)
    if (c->loss_interval == 0)
    {
        c->loss_interval = c->send_interval > TIME_MAX_MS / 4 ? TIME_MAX_MS : 4 * c->send_interval;
    }
    if (!c->have_hold)
    {
        c->alarm_hold = c->alert_interval > TIME_MAX_MS / 10 ? TIME_MAX_MS : 10 * c->alert_interval;
    }

    if (c->identifier)
    {
        snprintf(c->prefix, sizeof(c->prefix), "%s ", c->identifier);
    }
    addr_text(&c->dest, c->dest_len, c->dest_text, sizeof(c->dest_text));
    if (c->bind_len)
    {
        addr_text(&c->bind, c->bind_len, c->bind_text, sizeof(c->bind_text));
    }
    else
    {
        snprintf(c->bind_text, sizeof(c->bind_text), "(none)");
    }
    return 0;
}


//
// Statistics window: one slot per echo request.  The send thread fills a
// slot when it sends, the receive thread marks it received, the report,
// alert and status threads read every slot.  All fields are atomic and a
// slot's tag is written last (release) and read before and after the other
// fields, so no reader ever waits for a writer that may be stalled.
//
enum
{
    SLOT_EMPTY = 0,
    SLOT_SENT = 1,
    SLOT_RECEIVED = 2
};
#define SLOT_TAG(seq, state)    (((uint32_t) (seq) << 2) | (uint32_t) (state))
#define SLOT_STATE(tag)         ((tag) & 3u)

struct slot
{
    _Atomic uint32_t    tag;            // SLOT_TAG(sequence, state)
    _Atomic uint64_t    sent_us;        // send thread: monotonic send time
    _Atomic uint32_t    latency_us;     // receive thread: set before the tag says received
};

struct window
{
    struct slot *       slots;          // allocated once in main()
    unsigned            count;
};

static struct window    window;

struct stats
{
    unsigned long       average;        // microseconds
    unsigned long       stddev;         // microseconds
    unsigned long       loss;           // percent
};


// Integer square root: the largest r with r * r <= n
static uint64_t
isqrt64(
    uint64_t            n)
{
    uint64_t            root = 0;
    uint64_t            bit = (uint64_t) 1 << 62;

    while (bit > n)
    {
        bit >>= 2;
    }
    while (bit)
    {
        if (n >= root + bit)
        {
            n -= root + bit;
            root = (root >> 1) + bit;
        }
        else
        {
            root >>= 1;
        }
        bit >>= 2;
    }
    return root;
}


// Send side: take the slot of a sequence number for a new request
static void
slot_mark_sent(
    struct slot *       s,
    unsigned            seq,
    uint64_t            sent_us)
{
    atomic_store_explicit(&s->tag, SLOT_TAG(seq, SLOT_EMPTY), memory_order_release);
    atomic_store_explicit(&s->sent_us, sent_us, memory_order_relaxed);
    atomic_store_explicit(&s->tag, SLOT_TAG(seq, SLOT_SENT), memory_order_release);
}


// Receive side: record a reply.  Returns 1 when recorded, 0 for a
// duplicate, -1 when the slot no longer belongs to this sequence.
static int
slot_mark_received(
    struct slot *       s,
    unsigned            seq,
    uint64_t            recv_us)
{
    uint32_t            tag;
    uint64_t            sent;
    uint64_t            latency;

    tag = atomic_load_explicit(&s->tag, memory_order_acquire);
    if (tag == SLOT_TAG(seq, SLOT_RECEIVED))
    {
        return 0;
    }
    if (tag != SLOT_TAG(seq, SLOT_SENT))
    {
        return -1;
    }
    sent = atomic_load_explicit(&s->sent_us, memory_order_relaxed);
    latency = recv_us > sent ? recv_us - sent : 0;
    if (latency > UINT32_MAX)
    {
        latency = UINT32_MAX;
    }
    atomic_store_explicit(&s->latency_us, (uint32_t) latency, memory_order_relaxed);
    if (!atomic_compare_exchange_strong_explicit(&s->tag, &tag, SLOT_TAG(seq, SLOT_RECEIVED),
                                                 memory_order_release, memory_order_relaxed))
    {
        return -1;
    }
    return 1;
}


//
// Statistics over the window at time now: received slots give latency,
// sent slots older than the loss interval are lost, younger ones are in
// flight and ignored.  Integer arithmetic as upstream, so the same window
// gives the same three numbers.
//
static void
window_stats(
    struct slot *       slots,
    unsigned            count,
    uint64_t            now,
    uint64_t            loss_us,
    struct stats *      out)
{
    uint64_t            received = 0;
    uint64_t            lost = 0;
    uint64_t            sum = 0;
    uint64_t            sum_sq = 0;
    unsigned            i;

    for (i = 0; i < count; i++)
    {
        uint32_t        tag;
        uint32_t        again;
        uint64_t        sent;
        uint64_t        latency;

        tag = atomic_load_explicit(&slots[i].tag, memory_order_acquire);
        if (SLOT_STATE(tag) == SLOT_EMPTY)
        {
            continue;
        }
        sent = atomic_load_explicit(&slots[i].sent_us, memory_order_relaxed);
        latency = atomic_load_explicit(&slots[i].latency_us, memory_order_relaxed);
        atomic_thread_fence(memory_order_acquire);
        again = atomic_load_explicit(&slots[i].tag, memory_order_relaxed);
        if (again != tag)
        {
            // Rewritten while we looked: treat as in flight
            continue;
        }

        if (SLOT_STATE(tag) == SLOT_RECEIVED)
        {
            received++;
            sum += latency;
            sum_sq += latency * latency;
        }
        else if (now > sent && now - sent >= loss_us)
        {
            lost++;
        }
    }

    out->average = 0;
    out->stddev = 0;
    out->loss = 0;
    if (received)
    {
        uint64_t        average = sum / received;

        out->average = (unsigned long) average;
        out->stddev = (unsigned long) isqrt64(sum_sq / received - average * average);
    }
    if (received + lost)
    {
        out->loss = (unsigned long) (lost * 100 / (received + lost));
    }
}

// Statistics of the live window now
static void
stats_now(
    struct stats *      out)
{
    window_stats(window.slots, window.count, now_us(), (uint64_t) cfg.loss_interval * 1000u, out);
}

// The report line: "[identifier ]average stddev loss\n"
static int
stats_format(
    const struct stats * st,
    char *              buf,
    size_t              len)
{
    return snprintf(buf, len, "%s%lu %lu %lu\n", cfg.prefix, st->average, st->stddev, st->loss);
}


//
// Shared state between the threads.  Each field says which thread writes
// it; everything another thread reads is atomic, and no lock is shared, so
// a stalled thread can never block another one.
//

// The ICMP probe sockets and the identity of the probes
struct probe
{
    int                 send_fd;        // fixed number; main swaps the socket behind it (dup3)
    int                 recv_fd;        // fixed number; main swaps the socket behind it (dup3)
    uint16_t            ident_base;     // main, at start: low 16 bits of the pid
    _Atomic uint32_t    idents;         // main: (current << 16) | previous echo identifier
    _Atomic uint32_t    dest_scope;     // main: IPv6 scope of dest, re-resolved on rebuild
    _Atomic uint32_t    generation;     // main: number of socket rebuilds
    _Atomic int         usable;         // main: 0 while only placeholder sockets exist
    _Atomic unsigned    stale_errors;   // send: consecutive stale-path send errors; main resets
    _Atomic int         last_errno;     // send: errno of the last failed send
    _Atomic uint64_t    last_send_ok;   // send: monotonic ms of the last successful send
    _Atomic uint64_t    last_reply;     // recv: monotonic ms of the last accepted reply
    _Atomic int         reply_wanted;   // main sets, recv clears: wake main at the next reply
    _Atomic uint64_t    last_rebuild_log; // main: monotonic ms of the last rebuild log line
    _Atomic unsigned    next_seq;       // send: next sequence number (carried across a restart)
};

static struct probe     probe = { .send_fd = -1, .recv_fd = -1 };

// Heartbeats: one per long-running thread
enum
{
    TH_MAIN,
    TH_SEND,
    TH_RECV,
    TH_REPORT,
    TH_ALERT,
    TH_STATUS,
    TH_COUNT
};

struct heartbeat
{
    const char *        name;           // constant
    _Atomic int         running;        // main, before the thread starts
    _Atomic uint64_t    beat;           // the thread: monotonic ms of its last progress
    _Atomic int         outside;        // the thread: 1 while it waits on something outside
                                        // our control (alert command, report output)
    uint64_t            acted;          // main only: when the watchdog first acted on a stall
};

static struct heartbeat beats[TH_COUNT] =
{
    [TH_MAIN] = { .name = "main" },
    [TH_SEND] = { .name = "send" },
    [TH_RECV] = { .name = "recv" },
    [TH_REPORT] = { .name = "report" },
    [TH_ALERT] = { .name = "alert" },
    [TH_STATUS] = { .name = "status" },
};

// Wake-ups: an eventfd on Linux, a pipe elsewhere; poking is async-signal-safe
struct waker
{
    int                 rd;
    int                 wr;
};

static struct waker     main_waker = { -1, -1 };    // poked by signals and by other threads
static struct waker     recv_waker = { -1, -1 };    // poked by main after a rebuild

// Requests to the supervisor: set by signal handlers and threads, consumed by main
static volatile sig_atomic_t term_signal;   // signal handler: SIGTERM or SIGINT number
static volatile sig_atomic_t hup_signal;    // signal handler: SIGHUP
static _Atomic int      rebuild_wanted;     // send: stale errors reached -E
static _Atomic int      watchdog_wanted;    // status: a heartbeat looked old

// Files we created and must remove on exit; main only
static int              pidfile_fd = -1;
static int              pidfile_ours;
static int              usocket_fd = -1;
static int              usocket_ours;
static int              usocket_spare = -1;     // main opens it; then the status thread's alone
static FILE *           output;

// Re-execution in place: state carried across execve in the environment
struct reexec_state
{
    unsigned            count;          // re-executions so far
    uint64_t            last;           // monotonic ms of the last one
    uint32_t            generation;     // socket generation before it
    unsigned            seq;            // next sequence number to send
    int                 window_fd;      // the statistics window, or -1
    int                 usocket_fd;     // the listening status socket, or -1
};

static struct reexec_state reexec;      // main, at start
static int              reexecuted;     // main, at start: 1 if this image came from a re-exec
static char             reexec_env[128];
static char **          reexec_envp;    // prepared at start so exec needs no allocation
static _Atomic int      reexec_busy;    // whichever thread re-executes first
static _Atomic int      reexec_deferred_logged;


//
// Heartbeat of the calling thread
//
static void
beat(
    int                 slot)
{
    atomic_store_explicit(&beats[slot].beat, now_ms(), memory_order_relaxed);
}


//
// Name the calling thread (seen in /proc, ps -H, top -H)
//
static void
thread_name(
    const char *        name)
{
#if defined(__linux__)
    pthread_setname_np(pthread_self(), name);
#elif defined(__FreeBSD__)
    pthread_set_name_np(pthread_self(), name);
#else
    (void) name;
#endif
}


//
// Wakers
//
static int
waker_open(
    struct waker *      w)
{
#if defined(__linux__)
    w->rd = w->wr = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    return w->rd < 0 ? -1 : 0;
#else
    int                 fds[2];

    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0)
    {
        return -1;
    }
    w->rd = fds[0];
    w->wr = fds[1];
    return 0;
#endif
}

static void
waker_poke(
    struct waker *      w)
{
    int                 saved = errno;
#if defined(__linux__)
    uint64_t            one = 1;

    (void) !write(w->wr, &one, sizeof(one));
#else
    char                one = 1;

    (void) !write(w->wr, &one, 1);
#endif
    errno = saved;
}

static void
waker_drain(
    struct waker *      w)
{
    char                buf[64];

    while (read(w->rd, buf, sizeof(buf)) > 0)
    {
    }
}


//
// Sleep until a monotonic time in microseconds, at most one slice
//
static void
sleep_until(
    uint64_t            deadline_us)
{
    uint64_t            limit = now_us() + (uint64_t) SLICE_MS * 1000u;
    struct timespec     ts;

    if (deadline_us > limit)
    {
        deadline_us = limit;
    }
    ts.tv_sec = (time_t) (deadline_us / 1000000u);
    ts.tv_nsec = (long) (deadline_us % 1000000u) * 1000;
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
    {
    }
}


//
// ICMP packets
//

// Internet checksum (RFC 1071)
static uint16_t
inet_cksum(
    const uint8_t *     buf,
    size_t              len)
{
    uint32_t            sum = 0;

    while (len > 1)
    {
        sum += (uint32_t) buf[0] << 8 | buf[1];
        buf += 2;
        len -= 2;
    }
    if (len)
    {
        sum += (uint32_t) buf[0] << 8;
    }
    while (sum >> 16)
    {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return (uint16_t) ~sum;
}

// Build an echo request; returns its length.  Identifier and sequence go
// out in network order; the payload is the caller's.  The kernel computes the
// ICMPv6 checksum.
static size_t
echo_build(
    int                 family,
    uint8_t *           buf,
    size_t              data_len,
    uint16_t            ident,
    uint16_t            seq)
{
    uint16_t            sum;

    buf[0] = family == AF_INET ? ICMP4_ECHO_REQUEST : ICMP6_ECHO_REQUEST_TYPE;
    buf[1] = 0;
    buf[2] = 0;
    buf[3] = 0;
    buf[4] = (uint8_t) (ident >> 8);
    buf[5] = (uint8_t) ident;
    buf[6] = (uint8_t) (seq >> 8);
    buf[7] = (uint8_t) seq;
    if (family == AF_INET)
    {
        sum = inet_cksum(buf, ICMP_HDR_LEN + data_len);
        buf[2] = (uint8_t) (sum >> 8);
        buf[3] = (uint8_t) sum;
    }
    return ICMP_HDR_LEN + data_len;
}

struct echo_reply
{
    uint16_t            ident;
    uint16_t            seq;
};

// Parse a datagram read from a raw ICMP socket (IPv4 includes the IP
// header, IPv6 does not).  Returns 0 for a well-formed echo reply.
static int
echo_reply_parse(
    int                 family,
    const uint8_t *     buf,
    size_t              len,
    struct echo_reply * out)
{
    size_t              hlen = 0;

    if (family == AF_INET)
    {
        if (len < 20 || (buf[0] >> 4) != 4)
        {
            return -1;
        }
        hlen = (size_t) (buf[0] & 0x0f) * 4;
        if (hlen < 20 || len < hlen + ICMP_HDR_LEN)
        {
            return -1;
        }
        if (buf[hlen] != ICMP4_ECHO_REPLY || buf[hlen + 1] != 0)
        {
            return -1;
        }
    }
    else
    {
        if (len < ICMP_HDR_LEN || buf[0] != ICMP6_ECHO_REPLY_TYPE || buf[1] != 0)
        {
            return -1;
        }
    }
    out->ident = (uint16_t) (buf[hlen + 4] << 8 | buf[hlen + 5]);
    out->seq = (uint16_t) (buf[hlen + 6] << 8 | buf[hlen + 7]);
    return 0;
}

// Same IPv6 address?  For link-local addresses bytes 2 and 3 are ignored:
// FreeBSD's kernel may hand them over with the scope embedded there
static int
in6_same(
    const uint8_t *     a,
    const uint8_t *     b)
{
    if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80 && b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
    {
        return memcmp(a, b, 2) == 0 && memcmp(a + 4, b + 4, 12) == 0;
    }
    return memcmp(a, b, 16) == 0;
}

// Is the sender of a datagram the destination host?  Addresses only: the
// IPv6 scope of a link-local sender is the receiving interface.
static int
addr_same_host(
    const struct sockaddr_storage * dest,
    const struct sockaddr_storage * from,
    socklen_t           fromlen)
{
    if (from->ss_family != dest->ss_family)
    {
        return 0;
    }
    if (dest->ss_family == AF_INET)
    {
        return fromlen >= (socklen_t) sizeof(struct sockaddr_in) &&
               ((const struct sockaddr_in *) from)->sin_addr.s_addr == ((const struct sockaddr_in *) dest)->sin_addr.s_addr;
    }
    return fromlen >= (socklen_t) sizeof(struct sockaddr_in6) &&
           in6_same(((const struct sockaddr_in6 *) from)->sin6_addr.s6_addr,
                    ((const struct sockaddr_in6 *) dest)->sin6_addr.s6_addr);
}

// Identifier of a socket generation: the first is the pid's low 16 bits as
// upstream; each rebuild steps by an odd constant, so no identifier repeats
// within 65536 rebuilds.
static uint16_t
ident_for(
    uint16_t            base,
    uint32_t            generation)
{
    return (uint16_t) (base + generation * 0x9e37u);
}

// Errors that mean the socket's path or binding is stale: a new socket may help
static int
errno_is_stale(
    int                 err)
{
    switch (err)
    {
    case EHOSTUNREACH:
    case ENETUNREACH:
    case ENETDOWN:
    case EADDRNOTAVAIL:
    case ENXIO:
    case ENODEV:
        return 1;
    default:
        return 0;
    }
}


//
// Kernel receive timestamps, so a receive thread scheduled late does not
// add its own delay to the latency.  FreeBSD stamps in CLOCK_MONOTONIC
// (SO_TS_CLOCK); Linux only in CLOCK_REALTIME, converted when read.
//
static void
rx_stamps_enable(
    int                 fd)
{
    int                 on = 1;
#if defined(SO_TS_CLOCK) && defined(SO_TS_MONOTONIC)
    int                 clock = SO_TS_MONOTONIC;

    (void) setsockopt(fd, SOL_SOCKET, SO_TIMESTAMP, &on, sizeof(on));
    (void) setsockopt(fd, SOL_SOCKET, SO_TS_CLOCK, &clock, sizeof(clock));
#elif defined(SO_TIMESTAMPNS)
    (void) setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on));
#else
    (void) fd;
    (void) on;
#endif
}

#if !(defined(SO_TS_CLOCK) && defined(SCM_MONOTONIC)) && defined(SCM_TIMESTAMPNS)
// CLOCK_REALTIME - CLOCK_MONOTONIC in microseconds, from a realtime read
// between two monotonic reads that were not preempted; -1 if none was
static int
clock_offset_us(
    int64_t *           out)
{
    int                 i;

    for (i = 0; i < 3; i++)
    {
        struct timespec real;
        uint64_t        before = now_us();
        uint64_t        after;

        clock_gettime(CLOCK_REALTIME, &real);
        after = now_us();
        if (after - before <= 20)
        {
            *out = ((int64_t) real.tv_sec * 1000000 + real.tv_nsec / 1000) - (int64_t) ((before + after) / 2);
            return 0;
        }
    }
    return -1;
}
#endif

// Monotonic receive time of a datagram in microseconds: the kernel's stamp
// when there is a plausible one (not in the future, under a slice old),
// else now.  Linux stamps in CLOCK_REALTIME: converted with the offset of
// the two clocks measured now, unless that moved by more than a
// millisecond since the last datagram (a clock step: this one takes now).
// *offset carries the offset between calls.
static uint64_t
rx_stamp_us(
    struct msghdr *     msg,
    uint64_t            now,
    int64_t *           offset)
{
    struct cmsghdr *    cm;

    for (cm = CMSG_FIRSTHDR(msg); cm; cm = CMSG_NXTHDR(msg, cm))
    {
        struct timespec ts;
        uint64_t        stamp;

        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_len < CMSG_LEN(sizeof(ts)))
        {
            continue;
        }
#if defined(SO_TS_CLOCK) && defined(SCM_MONOTONIC)
        if (cm->cmsg_type != SCM_MONOTONIC)
        {
            continue;
        }
        memcpy(&ts, CMSG_DATA(cm), sizeof(ts));
        stamp = (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
        (void) offset;
#elif defined(SCM_TIMESTAMPNS)
        {
            int64_t     was = *offset;
            int64_t     off;

            if (cm->cmsg_type != SCM_TIMESTAMPNS)
            {
                continue;
            }
            if (clock_offset_us(&off) < 0)
            {
                return now;
            }
            *offset = off;
            if (was == 0 || off - was > 1000 || was - off > 1000)
            {
                return now;
            }
            memcpy(&ts, CMSG_DATA(cm), sizeof(ts));
            stamp = (uint64_t) ((int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000 - off);
        }
#else
        (void) offset;
        break;
#endif
        return stamp <= now && now - stamp < (uint64_t) SLICE_MS * 1000u ? stamp : now;
    }
    return now;
}


//
// ICMP sockets: open, bind, rebuild
//

// Open one raw ICMP socket for the configured family, non-blocking and
// close-on-exec, with enlarged buffers and a kernel filter passing only echo
// replies (or nothing, for a send-only socket); bound if bind_len is set.
// Returns the descriptor, or -1 with errno set and *stage naming the call.
static int
icmp_socket_open(
    const struct sockaddr_storage * bind_addr,
    socklen_t           bind_len,
    int                 receive,
    const char **       stage)
{
    int                 fd;
    int                 size = SOCKBUF_SIZE;
    int                 saved;

    *stage = "socket";
    fd = socket(cfg.family, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK,
                cfg.family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6);
    if (fd < 0)
    {
        return -1;
    }
    (void) setsockopt(fd, SOL_SOCKET, receive ? SO_RCVBUF : SO_SNDBUF, &size, sizeof(size));

    if (cfg.family == AF_INET6)
    {
        struct icmp6_filter filter;

        ICMP6_FILTER_SETBLOCKALL(&filter);
        if (receive)
        {
            ICMP6_FILTER_SETPASS(ICMP6_ECHO_REPLY_TYPE, &filter);
        }
        (void) setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, &filter, sizeof(filter));
    }
#if defined(__linux__)
    else
    {
        struct icmp_filter filter;

        filter.data = receive ? ~(1u << ICMP4_ECHO_REPLY) : ~0u;
        (void) setsockopt(fd, SOL_RAW, ICMP_FILTER, &filter, sizeof(filter));
    }
#endif

    if (receive)
    {
        rx_stamps_enable(fd);
    }

    if (bind_len)
    {
        *stage = "bind";
        if (bind(fd, (const struct sockaddr *) bind_addr, bind_len) < 0)
        {
            saved = errno;
            close(fd);
            errno = saved;
            return -1;
        }
    }
    return fd;
}

// Resolve the destination and bind address again from their original text
// (scope ids change when an interface is recreated).  0, or -1 if either
// no longer resolves; *bind_len is 0 without -B.
static int
addrs_resolve_now(
    struct sockaddr_storage * dest,
    socklen_t *         dest_len,
    struct sockaddr_storage * bind_addr,
    socklen_t *         bind_len)
{
    memset(bind_addr, 0, sizeof(*bind_addr));
    *bind_len = 0;
    if (addr_resolve(cfg.dest_str, dest, dest_len) ||
        (cfg.bind_str && addr_resolve(cfg.bind_str, bind_addr, bind_len)))
    {
        return -1;
    }
    return 0;
}

// Open and bind a pair of probe sockets from freshly resolved address
// strings (scope ids change when an interface is recreated).  Returns 0,
// or -1 with errno set and *stage naming the failing call.
static int
probe_socks_open(
    int *               send_fd,
    int *               recv_fd,
    uint32_t *          scope,
    const char **       stage)
{
    struct sockaddr_storage dest;
    struct sockaddr_storage bind_addr;
    socklen_t           dest_len;
    socklen_t           bind_len;
    int                 saved;

    *stage = "resolve";
    if (addrs_resolve_now(&dest, &dest_len, &bind_addr, &bind_len))
    {
        errno = ENXIO;
        return -1;
    }
    *scope = cfg.family == AF_INET6 ? ((struct sockaddr_in6 *) &dest)->sin6_scope_id : 0;

    *send_fd = icmp_socket_open(&bind_addr, bind_len, 0, stage);
    if (*send_fd < 0)
    {
        return -1;
    }
    *recv_fd = icmp_socket_open(&bind_addr, bind_len, 1, stage);
    if (*recv_fd < 0)
    {
        saved = errno;
        close(*send_fd);
        errno = saved;
        return -1;
    }
    return 0;
}

// Put a new socket behind a fixed descriptor number in one atomic step,
// keeping close-on-exec, and close the temporary descriptor
static int
fd_replace(
    int                 newfd,
    int                 fixed)
{
    int                 rc;

#if defined(F_DUP2FD_CLOEXEC)
    rc = fcntl(newfd, F_DUP2FD_CLOEXEC, fixed);
#else
    rc = dup3(newfd, fixed, O_CLOEXEC);
#endif
    close(newfd);
    return rc < 0 ? -1 : 0;
}

// Rebuild: new sockets first, then retire the old ones by moving the new
// ones onto the same descriptor numbers; new identifier, same window and
// sequence.  Returns 0, or -1 with errno set and *stage naming the call.
static int
probe_socks_rebuild(
    const char **       stage)
{
    int                 send_fd;
    int                 recv_fd;
    uint32_t            scope;
    uint32_t            generation;
    uint32_t            idents;
    uint16_t            ident;

    if (probe_socks_open(&send_fd, &recv_fd, &scope, stage))
    {
        return -1;
    }
    *stage = "dup3";
    if (fd_replace(send_fd, probe.send_fd))
    {
        int     saved = errno;

        close(recv_fd);
        errno = saved;
        return -1;
    }
    if (fd_replace(recv_fd, probe.recv_fd))
    {
        return -1;
    }

    generation = atomic_load(&probe.generation) + 1;
    ident = ident_for(probe.ident_base, generation);
    idents = atomic_load(&probe.idents);
    atomic_store(&probe.idents, (uint32_t) ident << 16 | idents >> 16);
    atomic_store(&probe.dest_scope, scope);
    atomic_store(&probe.generation, generation);
    atomic_store(&probe.stale_errors, 0);
    atomic_store(&probe.usable, 1);
    waker_poke(&recv_waker);
    return 0;
}


//
// A failed send: count stale-path errors for the rebuild trigger (and wake
// the supervisor once -E is reached); log the first error of a run in the
// upstream format, then a summary at most once a minute
//
struct send_errors
{
    uint64_t            logged;         // ms of the last error line; 0 outside an error run
    unsigned long       since;          // errors since that line
};

static void
send_error_note(
    int                 err,
    uint64_t            ms,
    struct send_errors * run)
{
    atomic_store(&probe.last_errno, err);
    if (errno_is_stale(err))
    {
        unsigned        count = atomic_fetch_add(&probe.stale_errors, 1) + 1;

        if (cfg.send_error_limit && count >= cfg.send_error_limit)
        {
            atomic_store(&rebuild_wanted, 1);
            waker_poke(&main_waker);
        }
    }
    else
    {
        atomic_store(&probe.stale_errors, 0);
    }

    if (run->logged == 0)
    {
        logmsg(LOG_WARNING, "%s%s: sendto error: %d", cfg.prefix, cfg.dest_str, err);
        run->logged = ms;
        run->since = 0;
        return;
    }
    run->since++;
    if (ms - run->logged >= SUMMARY_MS)
    {
        // A rebuild line in the last minute already tells the story
        if (elapsed_since(ms, atomic_load(&probe.last_rebuild_log)) >= SUMMARY_MS)
        {
            logmsg(LOG_WARNING, "%s%s: sendto error: %d (%s), %lu more in the last %lus",
                   cfg.prefix, cfg.dest_str, err, strerror(err), run->since,
                   (unsigned long) ((ms - run->logged) / 1000u));
        }
        run->logged = ms;
        run->since = 0;
    }
}


//
// Send thread: one echo request every send interval.  A failed send still
// takes its slot, which turns into a loss.
//
static void *
send_thread(
    void *              arg)
{
    struct sockaddr_storage dest;
    uint8_t *           packet;
    uint64_t            next;
    uint64_t            interval = (uint64_t) cfg.send_interval * 1000u;
    struct send_errors  errors = { 0, 0 };
    unsigned            seq = atomic_load(&probe.next_seq) % cfg.seq_limit;

    (void) arg;
    thread_name("send");
    packet = calloc(1, ICMP_HDR_LEN + cfg.data_len);
    if (packet == NULL)
    {
        logmsg(LOG_ERR, "send thread: out of memory");
        abort();
    }
    memcpy(&dest, &cfg.dest, sizeof(dest));

    next = now_us();
    for (;;)
    {
        uint64_t        now;
        size_t          len;
        uint16_t        ident;

        beat(TH_SEND);
        now = now_us();
        if (now < next)
        {
            sleep_until(next);
            continue;
        }

        ident = (uint16_t) (atomic_load_explicit(&probe.idents, memory_order_relaxed) >> 16);
        if (cfg.family == AF_INET6)
        {
            ((struct sockaddr_in6 *) &dest)->sin6_scope_id = atomic_load_explicit(&probe.dest_scope, memory_order_relaxed);
        }
        len = echo_build(cfg.family, packet, cfg.data_len, ident, (uint16_t) seq);
        slot_mark_sent(&window.slots[seq % window.count], seq, now_us());
        if (!atomic_load_explicit(&probe.usable, memory_order_relaxed))
        {
            // No usable socket yet: the probe counts as sent and lost
        }
        else if (sendto(probe.send_fd, packet, len, 0, (struct sockaddr *) &dest, cfg.dest_len) >= 0)
        {
            atomic_store(&probe.stale_errors, 0);
            atomic_store(&probe.last_send_ok, now_ms());
            errors.logged = 0;
        }
        else
        {
            send_error_note(errno, now_ms(), &errors);
        }
        now = now_us();

        seq = (seq + 1) % cfg.seq_limit;
        atomic_store_explicit(&probe.next_seq, seq, memory_order_relaxed);
        next += interval;
        if (next + interval < now)
        {
            // Stalled for a while: carry on from now rather than in a burst
            next = now;
        }
    }
    return NULL;
}


//
// Receive thread: reads replies, accepts only echo replies from the
// destination carrying the current (or previous) identifier, and records
// their latency.  It polls with a timeout so it beats while idle, and a
// waker so it moves to new sockets at once after a rebuild.
//
static void
recv_process(
    const uint8_t *     buf,
    size_t              len,
    const struct sockaddr_storage * from,
    socklen_t           fromlen,
    uint64_t            recv_us,
    uint64_t *          dup_logged,
    unsigned long *     dup_count)
{
    struct echo_reply   reply;
    uint32_t            idents;
    uint16_t            current;
    uint16_t            previous;
    int                 rc;

    if (echo_reply_parse(cfg.family, buf, len, &reply))
    {
        return;
    }
    idents = atomic_load_explicit(&probe.idents, memory_order_relaxed);
    current = (uint16_t) (idents >> 16);
    previous = (uint16_t) idents;
    if (reply.ident != current && reply.ident != previous)
    {
        return;
    }
    if (!addr_same_host(&cfg.dest, from, fromlen) || reply.seq >= cfg.seq_limit)
    {
        return;
    }

    rc = slot_mark_received(&window.slots[reply.seq % window.count], reply.seq, recv_us);
    if (rc > 0)
    {
        atomic_store(&probe.last_reply, recv_us / 1000u);
        if (atomic_load_explicit(&probe.reply_wanted, memory_order_relaxed) &&
            atomic_exchange(&probe.reply_wanted, 0))
        {
            // The supervisor is waiting to see the trouble end
            waker_poke(&main_waker);
        }
    }
    else if (rc == 0)
    {
        uint64_t        ms = recv_us / 1000u;

        (*dup_count)++;
        if (*dup_logged == 0 || ms - *dup_logged >= SUMMARY_MS)
        {
            logmsg(LOG_WARNING, "%s%s: duplicate echo reply (sequence %u), %lu since the last such line",
                   cfg.prefix, cfg.dest_str, reply.seq, *dup_count);
            *dup_logged = ms;
            *dup_count = 0;
        }
    }
}

static void *
recv_thread(
    void *              arg)
{
    uint8_t *           buf;
    uint64_t            dup_logged = 0;
    unsigned long       dup_count = 0;
    uint64_t            err_logged = 0;
    int64_t             clock_offset = 0;

    (void) arg;
    thread_name("recv");
    buf = malloc(PACKET_MAX);
    if (buf == NULL)
    {
        logmsg(LOG_ERR, "recv thread: out of memory");
        abort();
    }

    for (;;)
    {
        struct pollfd   pfd[2];
        int             i;

        beat(TH_RECV);
        pfd[0].fd = probe.recv_fd;
        pfd[0].events = POLLIN;
        pfd[1].fd = recv_waker.rd;
        pfd[1].events = POLLIN;
        if (poll(pfd, 2, SLICE_MS) <= 0)
        {
            continue;
        }
        if (pfd[1].revents)
        {
            waker_drain(&recv_waker);
        }
        if (pfd[0].revents == 0)
        {
            continue;
        }

        // Drain what is queued, bounded so the heartbeat keeps going
        for (i = 0; i < 256; i++)
        {
            struct sockaddr_storage from;
            struct iovec iov = { buf, PACKET_MAX };
            union
            {
                char    space[CMSG_SPACE(sizeof(struct timespec)) + CMSG_SPACE(64)];
                struct cmsghdr align;
            }           ctl;
            struct msghdr msg;
            ssize_t     len;

            memset(&msg, 0, sizeof(msg));
            msg.msg_name = &from;
            msg.msg_namelen = sizeof(from);
            msg.msg_iov = &iov;
            msg.msg_iovlen = 1;
            msg.msg_control = ctl.space;
            msg.msg_controllen = sizeof(ctl.space);
            len = recvmsg(probe.recv_fd, &msg, 0);
            if (len < 0)
            {
                uint64_t ms = now_ms();

                if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
                    (err_logged == 0 || ms - err_logged >= SUMMARY_MS))
                {
                    logmsg(LOG_WARNING, "%s%s: recvfrom error: %d", cfg.prefix, cfg.dest_str, errno);
                    err_logged = ms;
                }
                break;
            }
            recv_process(buf, (size_t) len, &from, msg.msg_namelen,
                         rx_stamp_us(&msg, now_us(), &clock_offset), &dup_logged, &dup_count);
        }
    }
    return NULL;
}


//
// Report thread: one report line every report interval to stdout or -o;
// with -R the file holds only the latest line.
//
static void *
report_thread(
    void *              arg)
{
    uint64_t            interval = (uint64_t) cfg.report_interval * 1000u;
    uint64_t            next = now_us() + interval;

    (void) arg;
    thread_name("report");
    for (;;)
    {
        struct stats    st;
        char            line[IDENT_MAX + 80];
        uint64_t        now;

        beat(TH_REPORT);
        now = now_us();
        if (now < next)
        {
            sleep_until(next);
            continue;
        }

        stats_now(&st);
        stats_format(&st, line, sizeof(line));

        // The output may block (a pipe nobody reads): not a stall of ours
        atomic_store(&beats[TH_REPORT].outside, 1);
        if (cfg.rewind_output)
        {
            rewind(output);
        }
        fputs(line, output);
        fflush(output);
        if (cfg.rewind_output)
        {
            long pos = ftell(output);

            if (pos >= 0)
            {
                (void) !ftruncate(fileno(output), (off_t) pos);
            }
        }
        beat(TH_REPORT);
        atomic_store(&beats[TH_REPORT].outside, 0);

        next += interval;
        if (next + interval < now)
        {
            next = now + interval;
        }
    }
    return NULL;
}


//
// Alert command: run through /bin/sh -c as system() would, with default
// signal dispositions for the child, while the thread is marked as outside
//
static void
alert_command_run(
    const char *        cmdline)
{
    posix_spawnattr_t   attr;
    sigset_t            mask;
    sigset_t            defaults;
    char *              args[4];
    pid_t               pid;
    int                 status;
    int                 rc;

    args[0] = (char *) "sh";
    args[1] = (char *) "-c";
    args[2] = (char *) cmdline;
    args[3] = NULL;

    sigemptyset(&mask);
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE);
    sigaddset(&defaults, SIGHUP);
    sigaddset(&defaults, SIGTERM);
    sigaddset(&defaults, SIGINT);
    posix_spawnattr_init(&attr);
    posix_spawnattr_setsigmask(&attr, &mask);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    atomic_store(&beats[TH_ALERT].outside, 1);
    rc = posix_spawn(&pid, "/bin/sh", NULL, &attr, args, environ);
    posix_spawnattr_destroy(&attr);
    if (rc != 0)
    {
        logmsg(LOG_WARNING, "%s%s: alert command: /bin/sh: %s", cfg.prefix, cfg.dest_str, strerror(rc));
    }
    else
    {
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        {
        }
    }
    beat(TH_ALERT);
    atomic_store(&beats[TH_ALERT].outside, 0);
}


//
// Alarm hold bookkeeping, one alarm: the counter restarts while the
// condition holds and counts down once it is false.  Returns 1 when an
// alert must fire (the alarm started, or its counter reached 0).
//
static int
alarm_step(
    unsigned *          counter,
    int                 condition,
    unsigned            hold_checks)
{
    if (condition)
    {
        int             started = *counter == 0;

        *counter = hold_checks;
        return started;
    }
    if (*counter)
    {
        (*counter)--;
        return *counter == 0;
    }
    return 0;
}

// Checks needed to cover the hold time: ceil(hold / interval), at least 1
static unsigned
alarm_hold_checks(
    unsigned long       hold,
    unsigned long       interval)
{
    unsigned long       checks = (hold + interval - 1) / interval;

    return checks ? (unsigned) checks : 1;
}


//
// Alert thread: every alert interval, compare the statistics with -D and
// -L, hold alarms after their cause clears, log and run -C on changes.
//
static void *
alert_thread(
    void *              arg)
{
    uint64_t            interval = (uint64_t) cfg.alert_interval * 1000u;
    uint64_t            next = now_us() + interval;
    unsigned            hold_checks = alarm_hold_checks(cfg.alarm_hold, cfg.alert_interval);
    unsigned            latency_hold = 0;
    unsigned            loss_hold = 0;

    (void) arg;
    thread_name("alert");
    for (;;)
    {
        struct stats    st;
        uint64_t        now;
        int             fire = 0;
        int             flag;

        beat(TH_ALERT);
        now = now_us();
        if (now < next)
        {
            sleep_until(next);
            continue;
        }
        next += interval;
        if (next + interval < now)
        {
            next = now + interval;
        }

        stats_now(&st);
        if (cfg.have_latency_alarm)
        {
            fire |= alarm_step(&latency_hold, (uint64_t) st.average > (uint64_t) cfg.latency_alarm * 1000u, hold_checks);
        }
        if (cfg.have_loss_alarm)
        {
            fire |= alarm_step(&loss_hold, st.loss > cfg.loss_alarm, hold_checks);
        }
        if (!fire)
        {
            continue;
        }

        flag = latency_hold || loss_hold;
        logmsg(LOG_WARNING, "%s%s: %s latency %luus stddev %luus loss %lu%%",
               cfg.prefix, cfg.dest_str, flag ? "Alarm" : "Clear", st.average, st.stddev, st.loss);
        if (cfg.alert_cmd)
        {
            char *      cmdline = NULL;

            if (asprintf(&cmdline, "%s %s%s %d %lu %lu %lu", cfg.alert_cmd, cfg.prefix, cfg.dest_str,
                         flag, st.average, st.stddev, st.loss) < 0)
            {
                logmsg(LOG_WARNING, "%s%s: alert command: out of memory", cfg.prefix, cfg.dest_str);
                continue;
            }
            alert_command_run(cmdline);
            free(cmdline);
        }
    }
    return NULL;
}


// The watchdog's side of the status thread, defined with the watchdog
static void reexec_in_place(const char * thread, uint64_t stalled_ms);
static uint64_t heartbeat_age(int slot, uint64_t now);
static uint64_t watchdog_next_due(int first, int last, uint64_t now);


//
// Status thread: every connection gets one report line computed now and is
// closed; accepted sockets are non-blocking and written with MSG_NOSIGNAL,
// so no client can stop or stall it.  It also watches the main thread, and
// on each query checks the send and receive heartbeats.
//
static void *
status_thread(
    void *              arg)
{
    int                 spare = usocket_spare;  // answers a client at the descriptor limit

    (void) arg;
    thread_name("status");

    for (;;)
    {
        struct pollfd   pfd;
        uint64_t        now;
        uint64_t        due;
        int             i;

        beat(TH_STATUS);
        now = now_ms();
        if (cfg.watchdog_limit && heartbeat_age(TH_MAIN, now) > cfg.watchdog_limit)
        {
            reexec_in_place("main", heartbeat_age(TH_MAIN, now));
        }

        pfd.fd = usocket_fd;
        pfd.events = POLLIN;
        due = watchdog_next_due(TH_MAIN, TH_MAIN, now);
        if (poll(&pfd, 1, due - now < SLICE_MS ? (int) (due - now) : SLICE_MS) <= 0)
        {
            continue;
        }

        for (i = 0; i < 64; i++)
        {
            struct stats st;
            char        line[IDENT_MAX + 80];
            int         fd;
            int         len;

            fd = accept4(usocket_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
            if (fd < 0)
            {
                if ((errno == EMFILE || errno == ENFILE) && spare >= 0)
                {
                    // Use the spare for this client, then take it back
                    close(spare);
                    fd = accept4(usocket_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
                    if (fd < 0)
                    {
                        int saved = errno;

                        spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
                        errno = saved;
                    }
                    else
                    {
                        spare = -1;
                    }
                }
                else if (errno == EMFILE || errno == ENFILE)
                {
                    // No spare: let the client wait instead of spinning
                    (void) poll(NULL, 0, 100);
                }
                if (fd < 0)
                {
                    if (errno == EINTR || errno == ECONNABORTED)
                    {
                        continue;
                    }
                    break;
                }
            }

#if defined(SO_NOSIGPIPE)
            {
                int     one = 1;

                (void) setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof(one));
            }
#endif
            stats_now(&st);
            len = stats_format(&st, line, sizeof(line));
            (void) !send(fd, line, (size_t) len, MSG_NOSIGNAL);
            close(fd);
            if (spare < 0)
            {
                spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
            }
            beat(TH_STATUS);
        }

        // Let the supervisor look now if a worker seems stuck
        now = now_ms();
        if (cfg.watchdog_limit &&
            (heartbeat_age(TH_SEND, now) > cfg.watchdog_limit || heartbeat_age(TH_RECV, now) > cfg.watchdog_limit))
        {
            atomic_store(&watchdog_wanted, 1);
            waker_poke(&main_waker);
        }
    }
    return NULL;
}


//
// Routing watch.  One portable event, and one pure decoder per kernel
// format that turns a buffer into events, checking every length before a
// field is read.  Both decoders use their own constants, so both are
// compiled and tested everywhere; on each system static assertions tie the
// constants to the system headers.  Events only trigger a re-query of the
// real interface state, they are never taken as the truth.
//
enum
{
    ROUTE_LINK_NEW = 1,                 // interface arrived or changed
    ROUTE_LINK_GONE,                    // interface departed
    ROUTE_ADDR_NEW,
    ROUTE_ADDR_GONE,
    ROUTE_RESYNC                        // events were lost
};

#define ROUTE_F_UP              0x1
#define ROUTE_F_RUNNING         0x2
#define ROUTE_F_TENTATIVE       0x4
#define ROUTE_NAME_MAX          16

struct route_event
{
    int                 kind;
    unsigned            index;                  // 0 when unknown
    char                name[ROUTE_NAME_MAX];   // "" when the message has none
    unsigned            flags;                  // ROUTE_F_*
    int                 family;                 // 4, 6, or 0 without an address
    uint8_t             addr[16];
};

static uint16_t
get16(
    const uint8_t *     p)
{
    uint16_t            v;

    memcpy(&v, p, sizeof(v));
    return v;
}

static uint32_t
get32(
    const uint8_t *     p)
{
    uint32_t            v;

    memcpy(&v, p, sizeof(v));
    return v;
}

static void
event_name(
    struct route_event * ev,
    const uint8_t *     name,
    size_t              len)
{
    size_t              n = 0;

    while (n < len && n < ROUTE_NAME_MAX - 1 && name[n] != '\0')
    {
        n++;
    }
    memcpy(ev->name, name, n);
    ev->name[n] = '\0';
}


//
// Linux rtnetlink (host byte order, 4-byte alignment)
//
#define NL_HDR_LEN              16
#define NL_ALIGN(n)             (((n) + 3u) & ~(size_t) 3u)
#define NL_MSG_OVERRUN          4
#define NL_RTM_NEWLINK          16
#define NL_RTM_DELLINK          17
#define NL_RTM_NEWADDR          20
#define NL_RTM_DELADDR          21
#define NL_IFINFO_LEN           16      // family, pad, type, index@4, flags@8, change@12
#define NL_IFADDR_LEN           8       // family, prefixlen, flags@2, scope, index@4
#define NL_RTA_HDR_LEN          4
#define NL_IFLA_IFNAME          3
#define NL_IFA_ADDRESS          1
#define NL_IFA_LOCAL            2
#define NL_IFA_LABEL            3
#define NL_IFA_FLAGS            8
#define NL_AF_INET              2
#define NL_AF_INET6             10
#define NL_IFF_UP               0x1
#define NL_IFF_RUNNING          0x40
#define NL_IFA_F_TENTATIVE      0x40

#if defined(__linux__)
_Static_assert(sizeof(struct nlmsghdr) == NL_HDR_LEN, "nlmsghdr");
_Static_assert(sizeof(struct ifinfomsg) == NL_IFINFO_LEN, "ifinfomsg");
_Static_assert(offsetof(struct ifinfomsg, ifi_index) == 4 && offsetof(struct ifinfomsg, ifi_flags) == 8, "ifinfomsg");
_Static_assert(sizeof(struct ifaddrmsg) == NL_IFADDR_LEN && offsetof(struct ifaddrmsg, ifa_index) == 4, "ifaddrmsg");
_Static_assert(RTM_NEWLINK == NL_RTM_NEWLINK && RTM_DELLINK == NL_RTM_DELLINK, "RTM link");
_Static_assert(RTM_NEWADDR == NL_RTM_NEWADDR && RTM_DELADDR == NL_RTM_DELADDR, "RTM addr");
_Static_assert(NLMSG_OVERRUN == NL_MSG_OVERRUN && IFLA_IFNAME == NL_IFLA_IFNAME, "netlink");
_Static_assert(IFA_ADDRESS == NL_IFA_ADDRESS && IFA_LOCAL == NL_IFA_LOCAL && IFA_LABEL == NL_IFA_LABEL, "IFA");
_Static_assert(IFA_FLAGS == NL_IFA_FLAGS && IFA_F_TENTATIVE == NL_IFA_F_TENTATIVE, "IFA flags");
_Static_assert(AF_INET6 == NL_AF_INET6 && IFF_RUNNING == NL_IFF_RUNNING, "AF/IFF");
#endif

// Decode one link message body into *ev; 0 when usable
static int
nl_link_decode(
    int                 type,
    const uint8_t *     body,
    size_t              len,
    struct route_event * ev)
{
    uint32_t            flags;
    size_t              off;

    if (len < NL_IFINFO_LEN)
    {
        return -1;
    }
    ev->kind = type == NL_RTM_DELLINK ? ROUTE_LINK_GONE : ROUTE_LINK_NEW;
    ev->index = get32(body + 4);
    flags = get32(body + 8);
    ev->flags = (flags & NL_IFF_UP ? ROUTE_F_UP : 0) | (flags & NL_IFF_RUNNING ? ROUTE_F_RUNNING : 0);

    for (off = NL_IFINFO_LEN; len - off >= NL_RTA_HDR_LEN;)
    {
        uint16_t        alen = get16(body + off);
        uint16_t        atype = get16(body + off + 2);

        if (alen < NL_RTA_HDR_LEN || alen > len - off)
        {
            break;
        }
        if ((atype & 0x3fff) == NL_IFLA_IFNAME)
        {
            event_name(ev, body + off + NL_RTA_HDR_LEN, alen - NL_RTA_HDR_LEN);
        }
        if (NL_ALIGN(alen) >= len - off)
        {
            break;
        }
        off += NL_ALIGN(alen);
    }
    return 0;
}

// Decode one address message body into *ev; 0 when usable
static int
nl_addr_decode(
    int                 type,
    const uint8_t *     body,
    size_t              len,
    struct route_event * ev)
{
    const uint8_t *     address = NULL;
    const uint8_t *     local = NULL;
    uint32_t            flags;
    size_t              alen_need;
    size_t              off;
    int                 family;

    if (len < NL_IFADDR_LEN)
    {
        return -1;
    }
    family = body[0];
    if (family != NL_AF_INET && family != NL_AF_INET6)
    {
        return -1;
    }
    alen_need = family == NL_AF_INET ? 4 : 16;
    ev->kind = type == NL_RTM_DELADDR ? ROUTE_ADDR_GONE : ROUTE_ADDR_NEW;
    ev->family = family == NL_AF_INET ? 4 : 6;
    ev->index = get32(body + 4);
    flags = body[2];

    for (off = NL_IFADDR_LEN; len - off >= NL_RTA_HDR_LEN;)
    {
        uint16_t        alen = get16(body + off);
        uint16_t        atype = get16(body + off + 2);
        const uint8_t * data = body + off + NL_RTA_HDR_LEN;
        size_t          dlen;

        if (alen < NL_RTA_HDR_LEN || alen > len - off)
        {
            break;
        }
        dlen = alen - NL_RTA_HDR_LEN;
        switch (atype & 0x3fff)
        {
        case NL_IFA_ADDRESS:
            address = dlen >= alen_need ? data : NULL;
            break;
        case NL_IFA_LOCAL:
            local = dlen >= alen_need ? data : NULL;
            break;
        case NL_IFA_LABEL:
            event_name(ev, data, dlen);
            break;
        case NL_IFA_FLAGS:
            if (dlen >= 4)
            {
                flags = get32(data);
            }
            break;
        }
        if (NL_ALIGN(alen) >= len - off)
        {
            break;
        }
        off += NL_ALIGN(alen);
    }

    // The local address is IFA_LOCAL when present (point-to-point links)
    if (local == NULL)
    {
        local = address;
    }
    if (local == NULL)
    {
        return -1;
    }
    memcpy(ev->addr, local, alen_need);
    if (flags & NL_IFA_F_TENTATIVE)
    {
        ev->flags |= ROUTE_F_TENTATIVE;
    }
    // An IPv4 label may be an alias such as "eth0:1"
    if (strchr(ev->name, ':'))
    {
        *strchr(ev->name, ':') = '\0';
    }
    return 0;
}

// Decode a buffer read from an rtnetlink socket (several messages per read).
// Each system calls its own decoder; the tests call both.
static size_t __attribute__((unused))
route_decode_linux(
    const void *        buf,
    size_t              len,
    struct route_event * out,
    size_t              max)
{
    const uint8_t *     p = buf;
    size_t              off = 0;
    size_t              n = 0;

    while (n < max && len - off >= NL_HDR_LEN)
    {
        uint32_t        mlen = get32(p + off);
        uint16_t        type = get16(p + off + 4);

        if (mlen < NL_HDR_LEN || mlen > len - off)
        {
            break;
        }
        memset(&out[n], 0, sizeof(out[n]));
        switch (type)
        {
        case NL_MSG_OVERRUN:
            out[n++].kind = ROUTE_RESYNC;
            break;
        case NL_RTM_NEWLINK:
        case NL_RTM_DELLINK:
            if (nl_link_decode(type, p + off + NL_HDR_LEN, mlen - NL_HDR_LEN, &out[n]) == 0)
            {
                n++;
            }
            break;
        case NL_RTM_NEWADDR:
        case NL_RTM_DELADDR:
            if (nl_addr_decode(type, p + off + NL_HDR_LEN, mlen - NL_HDR_LEN, &out[n]) == 0)
            {
                n++;
            }
            break;
        }
        if (NL_ALIGN(mlen) >= len - off)
        {
            break;
        }
        off += NL_ALIGN(mlen);
    }
    return n;
}


//
// FreeBSD PF_ROUTE (host byte order).  Offsets are those of FreeBSD 11 and
// later; sockaddrs after an address message are padded to sizeof(long),
// which is 8 on amd64 (the layout the tests use on other systems).
//
#define FB_RTM_VERSION          5
#define FB_RTM_NEWADDR          0x0c
#define FB_RTM_DELADDR          0x0d
#define FB_RTM_IFINFO           0x0e
#define FB_RTM_IFANNOUNCE       0x11
#define FB_MSG_HDR_LEN          4       // msglen(2), version(1), type(1)
#define FB_IFM_FLAGS_OFF        8
#define FB_IFM_INDEX_OFF        12
#define FB_IFM_LINK_STATE_OFF   20      // ifm_data.ifi_link_state
#define FB_IFM_MIN_LEN          24
#define FB_IFAM_ADDRS_OFF       4
#define FB_IFAM_INDEX_OFF       12
#define FB_IFAM_LEN             20
#define FB_IFAN_INDEX_OFF       4
#define FB_IFAN_NAME_OFF        6
#define FB_IFAN_WHAT_OFF        22
#define FB_IFAN_LEN             24
#define FB_IFAN_ARRIVAL         0
#define FB_IFAN_DEPARTURE       1
#define FB_RTAX_IFP             4
#define FB_RTAX_IFA             5
#define FB_RTAX_MAX             8
#define FB_AF_INET              2
#define FB_AF_INET6             28
#define FB_AF_LINK              18
#define FB_IFF_UP               0x1
#define FB_IFF_RUNNING          0x40
#define FB_LINK_STATE_DOWN      1
#define FB_SDL_NLEN_OFF         5
#define FB_SDL_DATA_OFF         8

#if defined(__FreeBSD__)
#define FB_SA_ALIGN             sizeof(long)
_Static_assert(RTM_VERSION == FB_RTM_VERSION, "RTM_VERSION");
_Static_assert(RTM_NEWADDR == FB_RTM_NEWADDR && RTM_DELADDR == FB_RTM_DELADDR, "RTM addr");
_Static_assert(RTM_IFINFO == FB_RTM_IFINFO && RTM_IFANNOUNCE == FB_RTM_IFANNOUNCE, "RTM if");
_Static_assert(offsetof(struct if_msghdr, ifm_flags) == FB_IFM_FLAGS_OFF, "ifm_flags");
_Static_assert(offsetof(struct if_msghdr, ifm_index) == FB_IFM_INDEX_OFF, "ifm_index");
_Static_assert(offsetof(struct if_msghdr, ifm_data) + offsetof(struct if_data, ifi_link_state) == FB_IFM_LINK_STATE_OFF, "link state");
_Static_assert(sizeof(struct if_msghdr) >= FB_IFM_MIN_LEN, "if_msghdr");
_Static_assert(offsetof(struct ifa_msghdr, ifam_addrs) == FB_IFAM_ADDRS_OFF, "ifam_addrs");
_Static_assert(offsetof(struct ifa_msghdr, ifam_index) == FB_IFAM_INDEX_OFF, "ifam_index");
_Static_assert(sizeof(struct ifa_msghdr) == FB_IFAM_LEN, "ifa_msghdr");
_Static_assert(offsetof(struct if_announcemsghdr, ifan_index) == FB_IFAN_INDEX_OFF, "ifan_index");
_Static_assert(offsetof(struct if_announcemsghdr, ifan_name) == FB_IFAN_NAME_OFF, "ifan_name");
_Static_assert(offsetof(struct if_announcemsghdr, ifan_what) == FB_IFAN_WHAT_OFF, "ifan_what");
_Static_assert(sizeof(struct if_announcemsghdr) == FB_IFAN_LEN, "if_announcemsghdr");
_Static_assert(IFAN_ARRIVAL == FB_IFAN_ARRIVAL && IFAN_DEPARTURE == FB_IFAN_DEPARTURE, "IFAN");
_Static_assert(RTAX_IFP == FB_RTAX_IFP && RTAX_IFA == FB_RTAX_IFA && RTAX_MAX == FB_RTAX_MAX, "RTAX");
_Static_assert(AF_INET6 == FB_AF_INET6 && AF_LINK == FB_AF_LINK, "AF");
_Static_assert(IFF_RUNNING == FB_IFF_RUNNING && LINK_STATE_DOWN == FB_LINK_STATE_DOWN, "IFF");
_Static_assert(offsetof(struct sockaddr_dl, sdl_nlen) == FB_SDL_NLEN_OFF, "sdl_nlen");
_Static_assert(offsetof(struct sockaddr_dl, sdl_data) == FB_SDL_DATA_OFF, "sdl_data");
_Static_assert(offsetof(struct sockaddr_in6, sin6_addr) == 8 && offsetof(struct sockaddr_in, sin_addr) == 4, "sockaddr");
#else
#define FB_SA_ALIGN             8
#endif

// Decode one address message (header checked by the caller) into *ev
static int
fb_addr_decode(
    const uint8_t *     msg,
    size_t              len,
    int                 type,
    struct route_event * ev)
{
    uint32_t            addrs;
    size_t              off = FB_IFAM_LEN;
    int                 i;

    if (len < FB_IFAM_LEN)
    {
        return -1;
    }
    addrs = get32(msg + FB_IFAM_ADDRS_OFF);
    ev->kind = type == FB_RTM_DELADDR ? ROUTE_ADDR_GONE : ROUTE_ADDR_NEW;
    ev->index = get16(msg + FB_IFAM_INDEX_OFF);

    // One sockaddr per set bit, in bit order, each padded to FB_SA_ALIGN
    for (i = 0; i < FB_RTAX_MAX; i++)
    {
        const uint8_t * sa;
        size_t          salen;
        size_t          space;

        if ((addrs & (1u << i)) == 0)
        {
            continue;
        }
        if (off >= len)
        {
            return -1;
        }
        sa = msg + off;
        salen = sa[0];
        space = salen ? ((salen + FB_SA_ALIGN - 1) / FB_SA_ALIGN) * FB_SA_ALIGN : FB_SA_ALIGN;
        if (space > len - off || salen > len - off)
        {
            return -1;
        }
        if (i == FB_RTAX_IFA && salen >= 2)
        {
            if (sa[1] == FB_AF_INET && salen >= 8)
            {
                ev->family = 4;
                memcpy(ev->addr, sa + 4, 4);
            }
            else if (sa[1] == FB_AF_INET6 && salen >= 24)
            {
                ev->family = 6;
                memcpy(ev->addr, sa + 8, 16);
            }
        }
        else if (i == FB_RTAX_IFP && salen >= FB_SDL_DATA_OFF && sa[1] == FB_AF_LINK)
        {
            size_t      nlen = sa[FB_SDL_NLEN_OFF];

            if (nlen <= salen - FB_SDL_DATA_OFF)
            {
                event_name(ev, sa + FB_SDL_DATA_OFF, nlen);
            }
        }
        off += space;
    }
    return ev->family ? 0 : -1;
}

// Decode a buffer read from a PF_ROUTE socket (one message per read, but
// a buffer holding several is walked by their lengths)
static size_t __attribute__((unused))
route_decode_freebsd(
    const void *        buf,
    size_t              len,
    struct route_event * out,
    size_t              max)
{
    const uint8_t *     p = buf;
    size_t              off = 0;
    size_t              n = 0;

    while (n < max && len - off >= FB_MSG_HDR_LEN)
    {
        const uint8_t * msg = p + off;
        size_t          mlen = get16(msg);
        struct route_event * ev = &out[n];

        if (mlen < FB_MSG_HDR_LEN || mlen > len - off)
        {
            break;
        }
        off += mlen;
        if (msg[2] != FB_RTM_VERSION)
        {
            continue;
        }
        memset(ev, 0, sizeof(*ev));
        switch (msg[3])
        {
        case FB_RTM_IFANNOUNCE:
            if (mlen < FB_IFAN_LEN)
            {
                continue;
            }
            ev->index = get16(msg + FB_IFAN_INDEX_OFF);
            event_name(ev, msg + FB_IFAN_NAME_OFF, FB_IFAN_WHAT_OFF - FB_IFAN_NAME_OFF);
            switch (get16(msg + FB_IFAN_WHAT_OFF))
            {
            case FB_IFAN_ARRIVAL:
                ev->kind = ROUTE_LINK_NEW;
                break;
            case FB_IFAN_DEPARTURE:
                ev->kind = ROUTE_LINK_GONE;
                break;
            default:
                continue;
            }
            n++;
            break;
        case FB_RTM_IFINFO:
            if (mlen < FB_IFM_MIN_LEN)
            {
                continue;
            }
            {
                uint32_t flags = get32(msg + FB_IFM_FLAGS_OFF);

                ev->kind = ROUTE_LINK_NEW;
                ev->index = get16(msg + FB_IFM_INDEX_OFF);
                ev->flags = (flags & FB_IFF_UP ? ROUTE_F_UP : 0) |
                            ((flags & FB_IFF_RUNNING) && msg[FB_IFM_LINK_STATE_OFF] != FB_LINK_STATE_DOWN ? ROUTE_F_RUNNING : 0);
            }
            n++;
            break;
        case FB_RTM_NEWADDR:
        case FB_RTM_DELADDR:
            if (fb_addr_decode(msg, mlen, msg[3], ev) == 0)
            {
                n++;
            }
            break;
        }
    }
    return n;
}


//
// What the routing watch follows: the interface owning -B (or the scope of
// a link-local address), matched by name since the index changes when an
// interface is recreated, and the -B address itself.
//
struct watch
{
    char                ifname[IF_NAMESIZE];    // "" when unknown
    unsigned            ifindex;                // 0 when unknown
    int                 family;                 // 4 or 6 with -B, else 0
    uint8_t             addr[16];               // the -B address
};

// Is an address event about the bind address?
static int
route_event_is_bind_addr(
    const struct route_event * ev,
    const struct watch * w)
{
    return w->family && (ev->kind == ROUTE_ADDR_NEW || ev->kind == ROUTE_ADDR_GONE) && ev->family == w->family &&
           (w->family == 4 ? memcmp(ev->addr, w->addr, 4) == 0 : in6_same(ev->addr, w->addr));
}

// Does an event concern the watched interface or address?
static int
route_event_concerns(
    const struct route_event * ev,
    const struct watch * w)
{
    if (ev->kind == ROUTE_RESYNC)
    {
        return 1;
    }
    if (route_event_is_bind_addr(ev, w))
    {
        return 1;
    }
    if (w->ifname[0] && ev->name[0])
    {
        return strcmp(ev->name, w->ifname) == 0;
    }
    if (w->ifindex && ev->index == w->ifindex)
    {
        return 1;
    }
    // Nothing bound: any arrival or new address may be the way back
    if (w->ifname[0] == '\0' && w->family == 0)
    {
        return ev->kind == ROUTE_LINK_NEW || ev->kind == ROUTE_ADDR_NEW;
    }
    return 0;
}

// The watched interface as the kernel sees it now (if_state_query: 0, or
// -1 when the state could not be read)
struct if_state
{
    int                 exists;
    int                 usable;                 // up, running, and the -B address present
    unsigned            index;
    char                owner[IF_NAMESIZE];     // interface holding the -B address, "" if none
};

static int
sockaddr_matches(
    const struct sockaddr * sa,
    const struct watch * w)
{
    if (sa == NULL || w->family == 0)
    {
        return 0;
    }
    if (w->family == 4 && sa->sa_family == AF_INET)
    {
        return memcmp(&((const struct sockaddr_in *) sa)->sin_addr, w->addr, 4) == 0;
    }
    if (w->family == 6 && sa->sa_family == AF_INET6)
    {
        return in6_same(((const struct sockaddr_in6 *) sa)->sin6_addr.s6_addr, w->addr);
    }
    return 0;
}

static int
if_state_query(
    const struct watch * w,
    struct if_state *   st)
{
    struct ifaddrs *    list;
    struct ifaddrs *    ifa;
    unsigned            flags = 0;
    int                 addr_present = 0;

    memset(st, 0, sizeof(*st));
    if (getifaddrs(&list) < 0)
    {
        // Nothing known (out of descriptors or memory): not a verdict
        return -1;
    }
    for (ifa = list; ifa; ifa = ifa->ifa_next)
    {
        if (sockaddr_matches(ifa->ifa_addr, w) &&
            (w->ifname[0] == '\0' || strcmp(ifa->ifa_name, w->ifname) == 0))
        {
            addr_present = 1;
            snprintf(st->owner, sizeof(st->owner), "%s", ifa->ifa_name);
        }
        if (w->ifname[0] && strcmp(ifa->ifa_name, w->ifname) == 0)
        {
            st->exists = 1;
            flags |= ifa->ifa_flags;
        }
    }
    freeifaddrs(list);

    if (w->ifname[0] == '\0' && addr_present)
    {
        // Unknown interface until now: the owner of the address
        struct watch    named = *w;

        snprintf(named.ifname, sizeof(named.ifname), "%s", st->owner);
        return if_state_query(&named, st);
    }
    if (st->exists)
    {
        st->index = if_nametoindex(w->ifname);
    }
    st->usable = (w->ifname[0] == '\0' || (st->exists && (flags & IFF_UP) && (flags & IFF_RUNNING))) &&
                 (w->family == 0 || addr_present);
    return 0;
}

// Address bytes of a numeric address text, ignoring any %scope; returns
// 4 or 6, or 0 when the text is not an address
static int
addr_bytes(
    const char *        text,
    uint8_t *           out)
{
    char                buf[INET6_ADDRSTRLEN + 1];
    size_t              len = strcspn(text, "%");

    if (len >= sizeof(buf))
    {
        return 0;
    }
    memcpy(buf, text, len);
    buf[len] = '\0';
    if (inet_pton(AF_INET, buf, out) == 1)
    {
        return 4;
    }
    if (inet_pton(AF_INET6, buf, out) == 1)
    {
        return 6;
    }
    return 0;
}

// Find what to watch: the scope interface of a link-local -B or dest
// (by name, even while it does not exist), else the owner of -B
static void
watch_refresh(
    struct watch *      w)
{
    const char *        scoped = NULL;
    struct if_state     st;

    memset(w, 0, sizeof(*w));
    if (cfg.bind_str)
    {
        w->family = addr_bytes(cfg.bind_str, w->addr);
    }
    if (cfg.bind_str && strchr(cfg.bind_str, '%'))
    {
        scoped = strchr(cfg.bind_str, '%') + 1;
    }
    else if (strchr(cfg.dest_str, '%'))
    {
        scoped = strchr(cfg.dest_str, '%') + 1;
    }

    if (scoped)
    {
        char *          end;
        unsigned long   index = strtoul(scoped, &end, 10);

        if (*scoped && *end == '\0')
        {
            // A numeric scope names an index, whatever is there now
            if (index == 0 || if_indextoname((unsigned) index, w->ifname) == NULL)
            {
                w->ifname[0] = '\0';
            }
        }
        else
        {
            snprintf(w->ifname, sizeof(w->ifname), "%s", scoped);
        }
        w->ifindex = w->ifname[0] ? if_nametoindex(w->ifname) : 0;
        return;
    }
    if (w->family && if_state_query(w, &st) == 0)
    {
        snprintf(w->ifname, sizeof(w->ifname), "%s", st.owner);
        w->ifindex = st.owner[0] ? if_nametoindex(st.owner) : 0;
    }
}


//
// Supervisor state: owned by the main thread alone
//
struct supervisor
{
    // Routing watch
    int                 route_fd;               // -1 with -N
    struct watch        watch;
    int                 dirty;                  // the interface was gone, down or without its address
    int                 resync;                 // events were lost
    int                 unusable_logged;
    uint64_t            debounce_at;            // re-query the interface then (0: nothing pending)
    uint64_t            reconcile_at;
    uint64_t            last_resync;
    char                event_reason[96];

    // Rebuilds
    int                 pending;
    char                reason[128];
    uint64_t            due;
    uint64_t            last_rebuild;           // ms of the last rebuild that worked
    unsigned            storm;                  // rebuilds since the last reply
    uint64_t            trouble_since;          // first trigger of the current trouble, 0 if none
    int                 was_failing;            // a rebuild of this trouble found no recent reply
    int                 failing;                // the last attempt could not open or bind
    int                 fail_errno;
    const char *        fail_stage;
    uint64_t            fail_since;
    uint64_t            retry_delay;

    // Silent black-hole probe
    int                 bh_fd;
    uint16_t            bh_ident;
    uint64_t            bh_deadline;
    uint64_t            bh_last;                // ms of the last probe (or of the start)
    int                 bh_reported;            // the outage was logged as real

    uint64_t            next_tick;              // watchdog check
};


//
// Back-off for rebuilds that cannot open or bind: every send interval for
// the first BIND_FAST_MS of failure, then doubling up to BACKOFF_MAX_MS
//
static uint64_t
bind_retry_delay(
    uint64_t            send_interval,
    uint64_t            failing_for,
    uint64_t            previous)
{
    uint64_t            delay;

    if (failing_for < BIND_FAST_MS)
    {
        return send_interval;
    }
    delay = previous < send_interval ? send_interval : previous;
    delay *= 2;
    return delay < BACKOFF_MAX_MS ? delay : BACKOFF_MAX_MS;
}

// Storm guard: the least time between rebuilds that bring no reply, after
// `storm` of them: STORM_BASE_MS, doubling, at most BACKOFF_MAX_MS
static uint64_t
storm_gap_ms(
    unsigned            storm)
{
    uint64_t            gap = STORM_BASE_MS;

    if (storm == 0)
    {
        return 0;
    }
    while (--storm && gap < BACKOFF_MAX_MS)
    {
        gap *= 2;
    }
    return gap < BACKOFF_MAX_MS ? gap : BACKOFF_MAX_MS;
}


//
// Ask for a rebuild.  Guarded requests (send errors, the probe) respect the
// storm guard; the others (routing events, SIGHUP, watchdog) go at once,
// even during bind retries.  Bursts coalesce into one pending rebuild.
//
#define RB_GUARDED              0x1     // send errors, probe: respect the storm guard
#define RB_TROUBLE              0x2     // something is wrong (not SIGHUP)

static void
rebuild_request(
    struct supervisor * sv,
    const char *        reason,
    int                 flags,
    uint64_t            now)
{
    uint64_t            due = now;
    int                 guarded = flags & RB_GUARDED;

    if (guarded && sv->storm && sv->last_rebuild + storm_gap_ms(sv->storm) > now)
    {
        due = sv->last_rebuild + storm_gap_ms(sv->storm);
    }
    if ((flags & RB_TROUBLE) && sv->trouble_since == 0)
    {
        sv->trouble_since = now;
    }
    if (sv->pending)
    {
        if ((!guarded || !sv->failing) && due < sv->due)
        {
            sv->due = due;
        }
        if (!guarded)
        {
            // The event that makes it go now is the better reason
            snprintf(sv->reason, sizeof(sv->reason), "%s", reason);
        }
        return;
    }
    sv->pending = 1;
    sv->due = due;
    snprintf(sv->reason, sizeof(sv->reason), "%s", reason);
}

static void blackhole_probe_close(struct supervisor * sv, uint64_t now);

static void
rebuild_attempt(
    struct supervisor * sv,
    uint64_t            now)
{
    const char *        stage = "";
    int                 err;

    if (probe_socks_rebuild(&stage) == 0)
    {
        uint32_t        idents = atomic_load(&probe.idents);

        sv->pending = 0;
        sv->failing = 0;
        sv->storm++;
        sv->last_rebuild = now;
        if (elapsed_since(now, atomic_load(&probe.last_reply)) >= cfg.loss_interval)
        {
            sv->was_failing = 1;
        }
        sv->dirty = 0;
        sv->unusable_logged = 0;
        watch_refresh(&sv->watch);
        blackhole_probe_close(sv, now);
        logmsg(LOG_WARNING, "%s%s: rebuilt ICMP sockets (%s), generation %u, id 0x%04x",
               cfg.prefix, cfg.dest_str, sv->reason, (unsigned) atomic_load(&probe.generation),
               (unsigned) (idents >> 16));
        atomic_store(&probe.last_rebuild_log, now);
        return;
    }

    err = errno;
    if (!sv->failing)
    {
        sv->failing = 1;
        sv->fail_since = now;
        sv->retry_delay = 0;
    }
    sv->retry_delay = bind_retry_delay(cfg.send_interval, now - sv->fail_since, sv->retry_delay);
    sv->due = now + sv->retry_delay;
    if (sv->fail_since == now || err != sv->fail_errno || stage != sv->fail_stage)
    {
        logmsg(LOG_WARNING, "%s%s: rebuild failed (%s): %s: %s, retry in %lu.%lus",
               cfg.prefix, cfg.dest_str, sv->reason, stage, strerror(err),
               (unsigned long) (sv->retry_delay / 1000u), (unsigned long) (sv->retry_delay % 1000u / 100u));
        atomic_store(&probe.last_rebuild_log, now);
    }
    sv->fail_errno = err;
    sv->fail_stage = stage;
}


//
// Silent black hole: sends succeed but nothing comes back.  Once per
// quiet period, one echo request from a freshly opened socket with another
// identifier: an answer means the old sockets are the problem (rebuild);
// silence means the outage is real (nothing changes).
//
static uint64_t
blackhole_window_ms(void)
{
    uint64_t            window = 2 * (uint64_t) cfg.loss_interval;

    return window > BLACKHOLE_MIN_MS ? window : BLACKHOLE_MIN_MS;
}

static void
blackhole_probe_close(
    struct supervisor * sv,
    uint64_t            now)
{
    if (sv->bh_fd >= 0)
    {
        close(sv->bh_fd);
        sv->bh_fd = -1;
    }
    sv->bh_last = now;
}

static void
blackhole_probe_start(
    struct supervisor * sv,
    uint64_t            now)
{
    struct sockaddr_storage dest;
    struct sockaddr_storage bind_addr;
    socklen_t           dest_len;
    socklen_t           bind_len;
    const char *        stage;
    uint8_t *           packet;
    uint32_t            idents = atomic_load(&probe.idents);
    size_t              len;
    ssize_t             rc;

    sv->bh_last = now;
    if (addrs_resolve_now(&dest, &dest_len, &bind_addr, &bind_len))
    {
        return;
    }
    sv->bh_fd = icmp_socket_open(&bind_addr, bind_len, 1, &stage);
    if (sv->bh_fd < 0)
    {
        return;
    }

    // An identifier that is neither the current nor the previous one
    sv->bh_ident = (uint16_t) ((idents >> 16) ^ 0x5555u);
    if (sv->bh_ident == (uint16_t) idents)
    {
        sv->bh_ident ^= 0x0f0fu;
    }

    packet = calloc(1, ICMP_HDR_LEN + cfg.data_len);
    if (packet == NULL)
    {
        blackhole_probe_close(sv, now);
        return;
    }
    len = echo_build(cfg.family, packet, cfg.data_len, sv->bh_ident, 0);
    rc = sendto(sv->bh_fd, packet, len, 0, (struct sockaddr *) &dest, dest_len);
    free(packet);
    if (rc < 0)
    {
        blackhole_probe_close(sv, now);
        return;
    }
    sv->bh_deadline = now + cfg.loss_interval;
}

static void
blackhole_probe_read(
    struct supervisor * sv,
    uint64_t            now)
{
    uint8_t             buf[2048];
    int                 i;

    for (i = 0; i < 64 && sv->bh_fd >= 0; i++)
    {
        struct sockaddr_storage from;
        socklen_t       fromlen = sizeof(from);
        struct echo_reply reply;
        ssize_t         len;
        char            reason[128];

        len = recvfrom(sv->bh_fd, buf, sizeof(buf), 0, (struct sockaddr *) &from, &fromlen);
        if (len < 0)
        {
            return;
        }
        if (echo_reply_parse(cfg.family, buf, (size_t) len, &reply) || reply.ident != sv->bh_ident ||
            !addr_same_host(&cfg.dest, &from, fromlen))
        {
            continue;
        }
        snprintf(reason, sizeof(reason), "fresh-socket probe answered, id 0x%04x silent for %lus",
                 (unsigned) (atomic_load(&probe.idents) >> 16),
                 (unsigned long) (elapsed_since(now, atomic_load(&probe.last_reply)) / 1000u));
        blackhole_probe_close(sv, now);
        rebuild_request(sv, reason, RB_GUARDED | RB_TROUBLE, now);
    }
}

static void
blackhole_probe_timeout(
    struct supervisor * sv,
    uint64_t            now)
{
    blackhole_probe_close(sv, now);
    if (!sv->bh_reported)
    {
        uint64_t        last = atomic_load(&probe.last_reply);

        logmsg(LOG_WARNING, "%s%s: no reply for %lus and a fresh-socket probe is unanswered too: real outage, not rebuilding",
               cfg.prefix, cfg.dest_str, (unsigned long) (elapsed_since(now, last) / 1000u));
        sv->bh_reported = 1;
        if (sv->trouble_since == 0)
        {
            sv->trouble_since = now;
        }
    }
}

// Start a probe when the quiet period has passed and sends are succeeding
static void
blackhole_check(
    struct supervisor * sv,
    uint64_t            now)
{
    uint64_t            quiet = atomic_load(&probe.last_reply);
    uint64_t            send_ok = atomic_load(&probe.last_send_ok);

    if (sv->bh_fd >= 0 || sv->pending)
    {
        return;
    }
    if (sv->last_rebuild > quiet)
    {
        quiet = sv->last_rebuild;
    }
    if (sv->bh_last > quiet)
    {
        quiet = sv->bh_last;
    }
    if (elapsed_since(now, quiet) < blackhole_window_ms())
    {
        return;
    }
    if (atomic_load(&probe.stale_errors) || send_ok == 0 ||
        elapsed_since(now, send_ok) > 2 * (uint64_t) cfg.send_interval + SLICE_MS)
    {
        return;
    }
    blackhole_probe_start(sv, now);
}


//
// Trouble ends with the first reply accepted after it: one log line when a
// rebuild brought it back, one when a real outage simply ended
//
static void
heal_check(
    struct supervisor * sv,
    uint64_t            now)
{
    uint64_t            last = atomic_load(&probe.last_reply);

    if (sv->storm && last && last >= sv->last_rebuild)
    {
        // Only a rebuild that found monitoring failing can claim a heal
        if (sv->trouble_since && last >= sv->trouble_since && sv->was_failing)
        {
            logmsg(LOG_WARNING, "%s%s: healed: replies arriving again %lu.%lus after the first trigger, generation %u",
                   cfg.prefix, cfg.dest_str, (unsigned long) ((last - sv->trouble_since) / 1000u),
                   (unsigned long) ((last - sv->trouble_since) % 1000u / 100u),
                   (unsigned) atomic_load(&probe.generation));
        }
        sv->storm = 0;
        sv->trouble_since = 0;
        sv->bh_reported = 0;
        sv->was_failing = 0;
        return;
    }
    if (sv->storm == 0 && sv->trouble_since && last >= sv->trouble_since)
    {
        if (sv->bh_reported)
        {
            logmsg(LOG_WARNING, "%s%s: replies resumed after an outage of %lus, no rebuild needed",
                   cfg.prefix, cfg.dest_str, (unsigned long) ((now - sv->trouble_since) / 1000u));
        }
        sv->trouble_since = 0;
        sv->bh_reported = 0;
    }
}


//
// Routing socket: open, read, and act on events
//
static int
route_socket_open(void)
{
    int                 fd;
    int                 size;

#if defined(__linux__)
    struct sockaddr_nl  sa;

    fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
    if (fd < 0)
    {
        return -1;
    }
    memset(&sa, 0, sizeof(sa));
    sa.nl_family = AF_NETLINK;
    sa.nl_groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR;
    if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
    {
        int saved = errno;

        close(fd);
        errno = saved;
        return -1;
    }
#elif defined(__FreeBSD__)
    fd = socket(PF_ROUTE, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
    {
        return -1;
    }
#if defined(SO_RERROR)
    {
        int     one = 1;

        (void) setsockopt(fd, SOL_SOCKET, SO_RERROR, &one, sizeof(one));
    }
#endif
#else
    errno = EPROTONOSUPPORT;
    return -1;
#endif

    // A larger receive buffer: halve the request until the kernel takes it
    for (size = 1 << 20; size >= 65536; size /= 2)
    {
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size)) == 0)
        {
            break;
        }
    }
    return fd;
}

static void
route_event_reason(
    const struct route_event * ev,
    char *              buf,
    size_t              len)
{
    char                name[IF_NAMESIZE + 16];

    if (ev->name[0])
    {
        snprintf(name, sizeof(name), "%s", ev->name);
    }
    else if (ev->index == 0 || if_indextoname(ev->index, name) == NULL)
    {
        snprintf(name, sizeof(name), "index %u", ev->index);
    }
    switch (ev->kind)
    {
    case ROUTE_LINK_NEW:
        snprintf(buf, len, "route: %s arrived or changed", name);
        break;
    case ROUTE_LINK_GONE:
        snprintf(buf, len, "route: %s departed", name);
        break;
    case ROUTE_ADDR_NEW:
        snprintf(buf, len, "route: address added on %s", name);
        break;
    case ROUTE_ADDR_GONE:
        snprintf(buf, len, "route: address removed from %s", name);
        break;
    default:
        snprintf(buf, len, "route: overflow, events lost");
        break;
    }
}

static void
route_event_handle(
    struct supervisor * sv,
    const struct route_event * ev,
    uint64_t            now)
{
    if (!route_event_concerns(ev, &sv->watch))
    {
        return;
    }
    if (ev->kind == ROUTE_RESYNC)
    {
        // Rate-limited: a stuck overflow flag must not spin us
        if (now - sv->last_resync < RESYNC_MIN_MS)
        {
            return;
        }
        sv->last_resync = now;
        sv->resync = 1;
    }
    // The interface went away or down, or the bind address was removed:
    // rebuild once it is usable again.  Other addresses come and go freely.
    if (ev->kind == ROUTE_LINK_GONE ||
        (ev->kind == ROUTE_ADDR_GONE && route_event_is_bind_addr(ev, &sv->watch)) ||
        (ev->kind == ROUTE_LINK_NEW && (ev->flags & (ROUTE_F_UP | ROUTE_F_RUNNING)) != (ROUTE_F_UP | ROUTE_F_RUNNING)))
    {
        sv->dirty = 1;
    }
    route_event_reason(ev, sv->event_reason, sizeof(sv->event_reason));
    if (sv->debounce_at == 0)
    {
        sv->debounce_at = now + DEBOUNCE_MS;
    }
}

// Events have settled (or the reconcile timer fired): look at the real
// state and rebuild if the interface is usable again after a change
static void
route_settle(
    struct supervisor * sv,
    uint64_t            now)
{
    struct if_state     st;
    int                 resync = sv->resync;

    sv->debounce_at = 0;
    sv->resync = 0;
    if (sv->watch.ifname[0] == '\0' && sv->watch.family == 0)
    {
        // Nothing bound: only worth it while monitoring is failing
        if (resync || elapsed_since(now, atomic_load(&probe.last_reply)) > cfg.loss_interval)
        {
            if (sv->event_reason[0])
            {
                rebuild_request(sv, sv->event_reason, RB_TROUBLE, now);
            }
        }
        sv->event_reason[0] = '\0';
        return;
    }

    if (if_state_query(&sv->watch, &st) < 0)
    {
        // Look again in a second; keep what the events said
        sv->resync |= resync;
        sv->debounce_at = now + SLICE_MS;
        return;
    }
    if (!st.usable)
    {
        sv->dirty = 1;
        if (!sv->unusable_logged)
        {
            logmsg(LOG_WARNING, "%s%s: route: %s %s, waiting for it to return",
                   cfg.prefix, cfg.dest_str, sv->watch.ifname[0] ? sv->watch.ifname : cfg.bind_str,
                   !st.exists && sv->watch.ifname[0] ? "is gone" : "is down or lacks the bind address");
            sv->unusable_logged = 1;
        }
        return;
    }
    if (sv->dirty || resync || st.index != sv->watch.ifindex)
    {
        rebuild_request(sv, sv->event_reason[0] ? sv->event_reason : "route: interface changed", RB_TROUBLE, now);
    }
    sv->event_reason[0] = '\0';
}

static void
route_read(
    struct supervisor * sv,
    uint64_t            now)
{
    static uint8_t      buf[16384];
    struct route_event  events[32];
    int                 i;

    for (i = 0; i < 64; i++)
    {
        ssize_t         len;
        size_t          n;
        size_t          k;

#if defined(__linux__)
        struct sockaddr_nl from;
        struct iovec    iov = { buf, sizeof(buf) };
        struct msghdr   msg;

        memset(&msg, 0, sizeof(msg));
        msg.msg_name = &from;
        msg.msg_namelen = sizeof(from);
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        len = recvmsg(sv->route_fd, &msg, 0);
        if (len >= 0 && ((msg.msg_flags & MSG_TRUNC) || from.nl_pid != 0))
        {
            // Truncated: events lost; not from the kernel: ignored
            if (msg.msg_flags & MSG_TRUNC)
            {
                errno = ENOBUFS;
                len = -1;
            }
            else
            {
                continue;
            }
        }
#else
        len = read(sv->route_fd, buf, sizeof(buf));
#endif
        if (len < 0)
        {
            if (errno == ENOBUFS)
            {
                struct route_event ev;

                memset(&ev, 0, sizeof(ev));
                ev.kind = ROUTE_RESYNC;
                route_event_handle(sv, &ev, now);
                continue;
            }
            return;
        }
#if defined(__linux__)
        n = route_decode_linux(buf, (size_t) len, events, 32);
#else
        n = route_decode_freebsd(buf, (size_t) len, events, 32);
#endif
        for (k = 0; k < n; k++)
        {
            route_event_handle(sv, &events[k], now);
        }
    }
}


//
// Watchdog: re-execute in place.  execve of our own binary with the
// original arguments: the pid, the pid file and the socket path stay; the
// new image sees REEXEC_ENV, does not fork, takes over the pid file that
// names its own pid and recreates the status socket.  Re-executions are
// spaced by reexec_gap_ms().  Callable from the main and status threads;
// it allocates nothing.
//

// Minimum time before the next re-execution after `count` of them: twice
// the stall limit, doubling each time, at most REEXEC_MAX_GAP_MS
static uint64_t
reexec_gap_ms(
    uint64_t            limit,
    unsigned            count)
{
    uint64_t            gap;

    if (count == 0)
    {
        return 0;
    }
    gap = 2 * limit;
    while (--count && gap < REEXEC_MAX_GAP_MS)
    {
        gap *= 2;
    }
    return gap < REEXEC_MAX_GAP_MS ? gap : REEXEC_MAX_GAP_MS;
}

// Parse the carried state "v1:count:last:generation:seq:window_fd:usocket_fd";
// 0 when valid
static int
reexec_state_parse(
    const char *        text,
    struct reexec_state * out)
{
    unsigned long long  last;
    unsigned            count;
    unsigned            generation;
    unsigned            seq;
    int                 wfd;
    int                 ufd;
    int                 used = 0;

    if (text == NULL ||
        sscanf(text, "v1:%u:%llu:%u:%u:%d:%d%n", &count, &last, &generation, &seq, &wfd, &ufd, &used) != 6 ||
        text[used] != '\0')
    {
        return -1;
    }
    out->count = count;
    out->last = last;
    out->generation = generation;
    out->seq = seq;
    out->window_fd = wfd;
    out->usocket_fd = ufd;
    return 0;
}

// The window as plain data, for handing it across an execve: the same
// fields, read and written with atomic loads and stores
struct slot_image
{
    uint32_t            tag;
    uint32_t            latency_us;
    uint64_t            sent_us;
};

#define SLOT_IMAGE_BATCH        64

// Hand the statistics window to the next image: an anonymous shared-memory
// file without close-on-exec.  Returns its descriptor, or -1 (the next
// image then starts with an empty window).  Allocates nothing.
static int
window_export(void)
{
    struct slot_image   batch[SLOT_IMAGE_BATCH];
    unsigned            i;
    int                 fd;

#if defined(__linux__)
    fd = memfd_create("dpinger-window", 0);
#elif defined(__FreeBSD__)
    fd = shm_open(SHM_ANON, O_RDWR, 0600);
#else
    fd = -1;
#endif
    if (fd < 0 || fcntl(fd, F_SETFD, 0) < 0)
    {
        if (fd >= 0)
        {
            close(fd);
        }
        return -1;
    }
    for (i = 0; i < window.count; i += SLOT_IMAGE_BATCH)
    {
        unsigned        n = window.count - i < SLOT_IMAGE_BATCH ? window.count - i : SLOT_IMAGE_BATCH;
        unsigned        k;

        for (k = 0; k < n; k++)
        {
            batch[k].tag = atomic_load_explicit(&window.slots[i + k].tag, memory_order_acquire);
            batch[k].latency_us = atomic_load_explicit(&window.slots[i + k].latency_us, memory_order_relaxed);
            batch[k].sent_us = atomic_load_explicit(&window.slots[i + k].sent_us, memory_order_relaxed);
        }
        if (write(fd, batch, n * sizeof(batch[0])) != (ssize_t) (n * sizeof(batch[0])))
        {
            close(fd);
            return -1;
        }
    }
    return fd;
}

// Take over the window a previous image handed over, if it fits
static void
window_import(
    int                 fd)
{
    struct slot_image   batch[SLOT_IMAGE_BATCH];
    struct stat         st;
    unsigned            i;

    if (fd < 0)
    {
        return;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
        (size_t) st.st_size != (size_t) window.count * sizeof(batch[0]))
    {
        close(fd);
        return;
    }
    for (i = 0; i < window.count; i += SLOT_IMAGE_BATCH)
    {
        unsigned        n = window.count - i < SLOT_IMAGE_BATCH ? window.count - i : SLOT_IMAGE_BATCH;
        unsigned        k;

        if (pread(fd, batch, n * sizeof(batch[0]), (off_t) i * sizeof(batch[0])) != (ssize_t) (n * sizeof(batch[0])))
        {
            // A short read: better an empty window than a torn one
            memset(window.slots, 0, (size_t) window.count * sizeof(struct slot));
            break;
        }
        for (k = 0; k < n; k++)
        {
            atomic_store_explicit(&window.slots[i + k].sent_us, batch[k].sent_us, memory_order_relaxed);
            atomic_store_explicit(&window.slots[i + k].latency_us, batch[k].latency_us, memory_order_relaxed);
            atomic_store_explicit(&window.slots[i + k].tag, batch[k].tag, memory_order_release);
        }
    }
    close(fd);
}

static void cleanup_files(void);

static void
reexec_in_place(
    const char *        thread,
    uint64_t            stalled_ms)
{
    uint64_t            now = now_ms();
    unsigned            count = reexec.count;

    if (atomic_exchange(&reexec_busy, 1))
    {
        return;
    }
    if (count && now - reexec.last > REEXEC_FORGET_MS)
    {
        count = 0;
    }
    if (count && now - reexec.last < reexec_gap_ms(cfg.watchdog_limit, count))
    {
        if (!atomic_exchange(&reexec_deferred_logged, 1))
        {
            logmsg(LOG_WARNING, "%s%s: watchdog: %s stalled for %lus, restart in place deferred for %lus (rate limit)",
                   cfg.prefix, cfg.dest_str, thread, (unsigned long) (stalled_ms / 1000u),
                   (unsigned long) ((reexec.last + reexec_gap_ms(cfg.watchdog_limit, count) - now + 999) / 1000u));
        }
        atomic_store(&reexec_busy, 0);
        return;
    }

    logmsg(LOG_WARNING, "%s%s: watchdog: %s stalled for %lus, restarting in place",
           cfg.prefix, cfg.dest_str, thread, (unsigned long) (stalled_ms / 1000u));
    // The listening status socket goes across too: clients already queued
    // get their line from the new image, and the path never disappears
    snprintf(reexec_env, sizeof(reexec_env), REEXEC_ENV "=v1:%u:%llu:%u:%u:%d:%d",
             count + 1, (unsigned long long) now, (unsigned) atomic_load(&probe.generation),
             (unsigned) atomic_load(&probe.next_seq), window_export(),
             usocket_fd >= 0 && fcntl(usocket_fd, F_SETFD, 0) == 0 ? usocket_fd : -1);
    execve(self_path, saved_argv, reexec_envp);

    logmsg(LOG_ERR, "%s%s: watchdog: exec %s: %s", cfg.prefix, cfg.dest_str, self_path, strerror(errno));
    cleanup_files();
    _exit(1);
}

// Age of a thread's heartbeat, or 0 when it is not judged (not running,
// outside our control)
static uint64_t
heartbeat_age(
    int                 slot,
    uint64_t            now)
{
    uint64_t            last;

    if (!atomic_load(&beats[slot].running) || atomic_load(&beats[slot].outside))
    {
        return 0;
    }
    last = atomic_load_explicit(&beats[slot].beat, memory_order_relaxed);
    return now > last ? now - last : 0;
}


// When the next heartbeat of the given threads would pass the stall limit
// (so the watchdog looks exactly then); UINT64_MAX when none will
static uint64_t
watchdog_next_due(
    int                 first,
    int                 last,
    uint64_t            now)
{
    uint64_t            due = UINT64_MAX;
    int                 t;

    if (cfg.watchdog_limit == 0)
    {
        return due;
    }
    for (t = first; t <= last; t++)
    {
        uint64_t        at;

        if (!atomic_load(&beats[t].running) || atomic_load(&beats[t].outside))
        {
            continue;
        }
        at = atomic_load_explicit(&beats[t].beat, memory_order_relaxed) + cfg.watchdog_limit + 1;
        if (at > now && at < due)
        {
            due = at;
        }
    }
    return due;
}


//
// Watchdog, run by main every second (and when the status thread asks):
// a stalled send or receive thread first gets a rebuild and a wake-up,
// then, still stalled one stall limit later, a re-execution in place; any
// other stalled thread gets the re-execution at once.
//
static void
watchdog_tick(
    struct supervisor * sv,
    uint64_t            now)
{
    int                 t;

    if (cfg.watchdog_limit == 0)
    {
        return;
    }
    for (t = TH_SEND; t < TH_COUNT; t++)
    {
        uint64_t        age = heartbeat_age(t, now);
        char            reason[64];

        if (age <= cfg.watchdog_limit)
        {
            beats[t].acted = 0;
            continue;
        }
        if (t == TH_SEND || t == TH_RECV)
        {
            if (beats[t].acted == 0)
            {
                beats[t].acted = now;
                logmsg(LOG_WARNING, "%s%s: watchdog: %s stalled for %lus, rebuilding sockets",
                       cfg.prefix, cfg.dest_str, beats[t].name, (unsigned long) (age / 1000u));
                snprintf(reason, sizeof(reason), "watchdog: %s stalled", beats[t].name);
                rebuild_request(sv, reason, RB_TROUBLE, now);
                waker_poke(&recv_waker);
                continue;
            }
            if (now - beats[t].acted < cfg.watchdog_limit)
            {
                continue;
            }
        }
        reexec_in_place(beats[t].name, age);
    }
}


//
// Exit on SIGTERM or SIGINT: remove our files, say so, and go
//
static void
cleanup_files(void)
{
    if (usocket_ours && cfg.usocket)
    {
        (void) unlink(cfg.usocket);
    }
    if (pidfile_ours && cfg.pidfile)
    {
        (void) unlink(cfg.pidfile);
    }
}

static void
shutdown_on_signal(
    int                 sig)
{
    cleanup_files();
    logmsg(LOG_WARNING, "exiting on signal %d", sig);
    _exit(0);
}


//
// The supervisor: one poll loop over the signal waker, the routing socket
// and the black-hole probe socket, with every timer explicit
//
static void
supervise(
    struct supervisor * sv)
{
    for (;;)
    {
        struct pollfd   pfd[3];
        uint64_t        now;
        uint64_t        wake;
        int             route_slot = -1;
        int             bh_slot = -1;
        int             n = 0;

        beat(TH_MAIN);
        now = now_ms();
        wake = watchdog_next_due(TH_SEND, TH_COUNT - 1, now);
        if (wake < sv->next_tick)
        {
            // Look exactly when a heartbeat passes the stall limit
            sv->next_tick = wake;
        }
        wake = sv->next_tick;
        if (sv->debounce_at && sv->debounce_at < wake)
        {
            wake = sv->debounce_at;
        }
        if (sv->pending && sv->due < wake)
        {
            wake = sv->due;
        }
        if (sv->bh_fd >= 0 && sv->bh_deadline < wake)
        {
            wake = sv->bh_deadline;
        }

        memset(pfd, 0, sizeof(pfd));
        pfd[n].fd = main_waker.rd;
        pfd[n++].events = POLLIN;
        if (sv->route_fd >= 0)
        {
            route_slot = n;
            pfd[n].fd = sv->route_fd;
            pfd[n++].events = POLLIN;
        }
        if (sv->bh_fd >= 0)
        {
            bh_slot = n;
            pfd[n].fd = sv->bh_fd;
            pfd[n++].events = POLLIN;
        }
        if (poll(pfd, (nfds_t) n, wake > now ? (int) (wake - now) : 0) < 0)
        {
            memset(pfd, 0, sizeof(pfd));
        }

        beat(TH_MAIN);
        now = now_ms();
        if (pfd[0].revents)
        {
            waker_drain(&main_waker);
        }
        if (term_signal)
        {
            shutdown_on_signal(term_signal);
        }
        if (hup_signal)
        {
            hup_signal = 0;
            rebuild_request(sv, "SIGHUP", 0, now);
        }
        if (atomic_exchange(&rebuild_wanted, 0) && cfg.send_error_limit &&
            atomic_load(&probe.stale_errors) >= cfg.send_error_limit)
        {
            char        reason[96];
            int         err = atomic_load(&probe.last_errno);

            snprintf(reason, sizeof(reason), "sendto: %s, %u in a row", strerror(err),
                     (unsigned) atomic_load(&probe.stale_errors));
            rebuild_request(sv, reason, RB_GUARDED | RB_TROUBLE, now);
        }
        if (route_slot >= 0 && pfd[route_slot].revents)
        {
            route_read(sv, now);
        }
        if (bh_slot >= 0 && pfd[bh_slot].revents)
        {
            blackhole_probe_read(sv, now);
        }
        if (sv->debounce_at && now >= sv->debounce_at)
        {
            route_settle(sv, now);
        }
        if (sv->route_fd >= 0 && now >= sv->reconcile_at)
        {
            sv->reconcile_at = now + RECONCILE_MS;
            route_settle(sv, now);
        }
        if (sv->bh_fd >= 0 && now >= sv->bh_deadline)
        {
            blackhole_probe_timeout(sv, now);
        }
        heal_check(sv, now);
        if (sv->trouble_since || sv->storm)
        {
            atomic_store(&probe.reply_wanted, 1);
        }
        blackhole_check(sv, now);
        if (sv->pending && now >= sv->due)
        {
            rebuild_attempt(sv, now);
        }
        if (atomic_exchange(&watchdog_wanted, 0) || now >= sv->next_tick)
        {
            watchdog_tick(sv, now);
            sv->next_tick = now + SLICE_MS;
        }
    }
}


//
// Start-up errors: one line naming what was wrong (stderr, and syslog with
// -S), nothing left behind, exit status 1
//
static void fatal(const char * fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void
fatal(
    const char *        fmt,
    ...)
{
    char                buf[1024];
    va_list             args;

    va_start(args, fmt);
    vsnprintf(buf, sizeof(buf), fmt, args);
    va_end(args);

    fprintf(stderr, "dpinger: %s\n", buf);
    if (log_fd >= 0)
    {
        (void) log_write(LOG_ERR, buf, strlen(buf));
    }
    cleanup_files();
    exit(1);
}


//
// Pid file: create it exclusively and lock it; an existing one is reused
// only if it is not locked and names no live process (or names us: a
// re-execution in place).  The pid itself is written after the fork.
//
static void
pidfile_open(void)
{
    char                buf[32];
    ssize_t             len;
    long                pid;

    pidfile_fd = open(cfg.pidfile, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (pidfile_fd >= 0)
    {
        pidfile_ours = 1;
        if (flock(pidfile_fd, LOCK_EX | LOCK_NB) < 0)
        {
            fatal("pid file %s is in use by another process", cfg.pidfile);
        }
        return;
    }
    if (errno != EEXIST)
    {
        fatal("pid file %s: %s", cfg.pidfile, strerror(errno));
    }

    pidfile_fd = open(cfg.pidfile, O_RDWR | O_CLOEXEC);
    if (pidfile_fd < 0)
    {
        fatal("pid file %s: %s", cfg.pidfile, strerror(errno));
    }
    if (flock(pidfile_fd, LOCK_EX | LOCK_NB) < 0)
    {
        fatal("pid file %s is in use by another process", cfg.pidfile);
    }
    len = pread(pidfile_fd, buf, sizeof(buf) - 1, 0);
    buf[len > 0 ? len : 0] = '\0';
    pid = strtol(buf, NULL, 10);
    if (pid > 0 && pid != (long) getpid() && (kill((pid_t) pid, 0) == 0 || errno == EPERM))
    {
        fatal("pid file %s is in use by process %ld", cfg.pidfile, pid);
    }
    if (ftruncate(pidfile_fd, 0) < 0)
    {
        fatal("pid file %s: %s", cfg.pidfile, strerror(errno));
    }
    pidfile_ours = 1;
}

static void
pidfile_write(void)
{
    char                buf[32];
    int                 len;

    len = snprintf(buf, sizeof(buf), "%ld\n", (long) getpid());
    if (ftruncate(pidfile_fd, 0) < 0 || pwrite(pidfile_fd, buf, (size_t) len, 0) != len)
    {
        fatal("pid file %s: %s", cfg.pidfile, strerror(errno));
    }
}


//
// Status socket: replace a stale socket at the path (but never another
// kind of file), bind, make it world-connectable, listen
//
static void
usocket_create(void)
{
    struct sockaddr_un  sa;
    struct stat         st;

    if (lstat(cfg.usocket, &st) == 0 && !S_ISSOCK(st.st_mode))
    {
        fatal("status socket %s: exists and is not a socket", cfg.usocket);
    }
    usocket_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (usocket_fd < 0)
    {
        fatal("status socket %s: %s", cfg.usocket, strerror(errno));
    }
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, cfg.usocket, strlen(cfg.usocket));
    (void) unlink(cfg.usocket);
    if (bind(usocket_fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
    {
        fatal("bind %s: %s", cfg.usocket, strerror(errno));
    }
    usocket_ours = 1;
    if (chmod(cfg.usocket, 0666) < 0)
    {
        fatal("chmod %s: %s", cfg.usocket, strerror(errno));
    }
    if (listen(usocket_fd, STATUS_BACKLOG) < 0)
    {
        fatal("listen %s: %s", cfg.usocket, strerror(errno));
    }
}

// Adopt the listening socket a previous image of this process handed
// over, if it really is the one bound to our path; 1 when adopted
static int
usocket_adopt(
    int                 fd)
{
    struct sockaddr_un  sa;
    socklen_t           len = sizeof(sa);
    struct stat         st;

    if (fd < 0)
    {
        return 0;
    }
    memset(&sa, 0, sizeof(sa));
    if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode) ||
        getsockname(fd, (struct sockaddr *) &sa, &len) < 0 || sa.sun_family != AF_UNIX ||
        strncmp(sa.sun_path, cfg.usocket, sizeof(sa.sun_path)) != 0 ||
        fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 || fcntl(fd, F_SETFL, O_NONBLOCK) < 0)
    {
        close(fd);
        return 0;
    }
    usocket_fd = fd;
    usocket_ours = 1;
    return 1;
}

// Open the status socket: adopt the one a previous image handed over, or
// create it; then the spare descriptor
static void
usocket_open(void)
{
    if (!reexecuted || !usocket_adopt(reexec.usocket_fd))
    {
        usocket_create();
    }
    // Without it the daemon could not answer at the descriptor limit
    usocket_spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (usocket_spare < 0)
    {
        fatal("status socket %s: spare descriptor: %s", cfg.usocket, strerror(errno));
    }
}


//
// Daemonize: the parent exits 0 only when the child reports that it is
// running (pid file written, threads started), else 1.  Returns the
// child's end of the readiness pipe.
//
static int
daemonize(void)
{
    int                 fds[2];
    pid_t               pid;
    ssize_t             n;
    char                c;

    if (pipe2(fds, O_CLOEXEC) < 0)
    {
        fatal("pipe: %s", strerror(errno));
    }
    pid = fork();
    if (pid < 0)
    {
        fatal("fork: %s", strerror(errno));
    }
    if (pid > 0)
    {
        close(fds[1]);
        while ((n = read(fds[0], &c, 1)) < 0 && errno == EINTR)
        {
        }
        _exit(n == 1 ? 0 : 1);
    }
    close(fds[0]);
    (void) setsid();
    return fds[1];
}


//
// Signals: the handler only records and wakes the supervisor
//
static void
on_signal(
    int                 sig)
{
    if (sig == SIGHUP)
    {
        hup_signal = 1;
    }
    else
    {
        term_signal = sig;
    }
    waker_poke(&main_waker);
}


//
// Start one thread with its heartbeat armed
//
static void
thread_start(
    int                 slot,
    void *              (*fn)(void *),
    int                 realtime)
{
    pthread_attr_t      attr;
    pthread_t           tid;
    int                 rc;

    pthread_attr_init(&attr);
    if (realtime)
    {
        struct sched_param param;

        memset(&param, 0, sizeof(param));
        param.sched_priority = sched_get_priority_min(SCHED_RR);
        if ((rc = pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED)) != 0 ||
            (rc = pthread_attr_setschedpolicy(&attr, SCHED_RR)) != 0 ||
            (rc = pthread_attr_setschedparam(&attr, &param)) != 0)
        {
            fatal("%s thread: SCHED_RR: %s", beats[slot].name, strerror(rc));
        }
    }
    atomic_store(&beats[slot].beat, now_ms());
    atomic_store(&beats[slot].running, 1);
    rc = pthread_create(&tid, &attr, fn, NULL);
    pthread_attr_destroy(&attr);
    if (rc != 0)
    {
        fatal("%s thread: %s", beats[slot].name, strerror(rc));
    }
    (void) pthread_detach(tid);
}


//
// Where our own binary is, for re-execution in place.  The real path, not
// /proc/self/exe: the process name comes from the path executed, and
// pfSense finds us by the name "dpinger".
//
static void
self_path_find(void)
{
#if defined(__FreeBSD__)
    int                 mib[4] = { CTL_KERN, KERN_PROC, KERN_PROC_PATHNAME, -1 };
    size_t              len = sizeof(self_path);

    if (sysctl(mib, 4, self_path, &len, NULL, 0) == 0)
    {
        return;
    }
#elif defined(__linux__)
    ssize_t             len = readlink("/proc/self/exe", self_path, sizeof(self_path) - 1);

    if (len > 0)
    {
        self_path[len] = '\0';
        if (access(self_path, X_OK) == 0)
        {
            return;
        }
    }
#endif
    snprintf(self_path, sizeof(self_path), "%s", saved_argv[0]);
}


//
// A tentative -B address at start-up.  A new IPv6 address stays tentative
// while duplicate address detection runs (about a second), and binding to
// it fails with EADDRNOTAVAIL, just as for an address on no interface.
// Only the first is worth waiting for: a bounded wait, one log line, then
// the caller binds again.  An address that is absent, ready, IPv4, or
// whose detection failed is not waited for.
//
#define TENTATIVE_WAIT_MS       10000
#define TENTATIVE_POLL_MS       100

#if defined(__FreeBSD__)
#include <sys/ioctl.h>
#include <netinet6/in6_var.h>
#endif

// 1 when addr (scope_id 0: any interface) is on an interface and tentative
static int
addr6_tentative_on_if(
    const struct sockaddr_in6 * addr)
{
#if defined(__linux__)
    // One line per address: hex address, index, prefix length, scope, flags, name
    FILE *              f;
    char                hex[33];
    char                name[IF_NAMESIZE];
    unsigned            index;
    unsigned            plen;
    unsigned            scope;
    unsigned            flags;
    unsigned            byte;
    struct in6_addr     have;
    int                 i;
    int                 tentative = 0;

    f = fopen("/proc/net/if_inet6", "re");
    if (f == NULL)
    {
        return 0;
    }
    while (fscanf(f, "%32s %x %x %x %x %15s", hex, &index, &plen, &scope, &flags, name) == 6)
    {
        for (i = 0; i < 16 && sscanf(hex + 2 * i, "%2x", &byte) == 1; i++)
        {
            have.s6_addr[i] = (uint8_t) byte;
        }
        if (i == 16 && IN6_ARE_ADDR_EQUAL(&have, &addr->sin6_addr) &&
            (addr->sin6_scope_id == 0 || addr->sin6_scope_id == index))
        {
            tentative = (flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED)) == IFA_F_TENTATIVE;
            break;
        }
    }
    fclose(f);
    return tentative;
#elif defined(__FreeBSD__)
    // getifaddrs finds the interface, SIOCGIFAFLAG_IN6 reads the flags
    struct ifaddrs *    list;
    struct ifaddrs *    ifa;
    struct sockaddr_in6 have;
    struct in6_ifreq    req;
    int                 fd;
    int                 tentative = 0;

    if (getifaddrs(&list) < 0)
    {
        return 0;
    }
    for (ifa = list; ifa; ifa = ifa->ifa_next)
    {
        if (ifa->ifa_addr == NULL || ifa->ifa_addr->sa_family != AF_INET6)
        {
            continue;
        }
        memcpy(&have, ifa->ifa_addr, sizeof(have));
        if (IN6_IS_ADDR_LINKLOCAL(&have.sin6_addr))
        {
            // The kernel's form carries the zone in bytes 2 and 3
            have.sin6_addr.s6_addr[2] = 0;
            have.sin6_addr.s6_addr[3] = 0;
        }
        if (!IN6_ARE_ADDR_EQUAL(&have.sin6_addr, &addr->sin6_addr) ||
            (addr->sin6_scope_id != 0 && addr->sin6_scope_id != if_nametoindex(ifa->ifa_name)))
        {
            continue;
        }
        fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd >= 0)
        {
            // Scope id 0: the kernel takes the zone from the interface named
            memset(&req, 0, sizeof(req));
            snprintf(req.ifr_name, sizeof(req.ifr_name), "%s", ifa->ifa_name);
            req.ifr_ifru.ifru_addr.sin6_family = AF_INET6;
            req.ifr_ifru.ifru_addr.sin6_len = sizeof(struct sockaddr_in6);
            req.ifr_ifru.ifru_addr.sin6_addr = addr->sin6_addr;
            if (ioctl(fd, SIOCGIFAFLAG_IN6, &req) == 0)
            {
                tentative = (req.ifr_ifru.ifru_flags6 & (IN6_IFF_TENTATIVE | IN6_IFF_DUPLICATED)) ==
                            IN6_IFF_TENTATIVE;
            }
            close(fd);
        }
        break;
    }
    freeifaddrs(list);
    return tentative;
#else
    (void) addr;
    return 0;
#endif
}

// 1 when the -B address text names an IPv6 address that is on an
// interface and still tentative; 0 otherwise
static int
bind_addr_tentative(
    const char *        text)
{
    struct addrinfo     hints;
    struct addrinfo *   ai;
    struct sockaddr_in6 addr;

    memset(&hints, 0, sizeof(hints));
    hints.ai_flags = AI_NUMERICHOST;
    hints.ai_family = AF_INET6;
    hints.ai_socktype = SOCK_DGRAM;
    if (text == NULL || getaddrinfo(text, NULL, &hints, &ai) != 0)
    {
        return 0;
    }
    if (ai->ai_addrlen != sizeof(addr))
    {
        freeaddrinfo(ai);
        return 0;
    }
    memcpy(&addr, ai->ai_addr, sizeof(addr));
    freeaddrinfo(ai);
    return addr6_tentative_on_if(&addr);
}

// After a bind to -B failed with EADDRNOTAVAIL: when the address is
// tentative, log it and wait (at most TENTATIVE_WAIT_MS, less if a signal
// arrives) until it is not.  1 when it waited and the bind is worth
// another try, 0 when not (errno is kept for the caller's message).
static int
bind_tentative_wait(
    const char *        text)
{
    struct timespec     ts = { 0, TENTATIVE_POLL_MS * 1000000L };
    int                 saved = errno;
    int                 i;

    if (!bind_addr_tentative(text))
    {
        errno = saved;
        return 0;
    }
    logmsg(LOG_WARNING, "bind %s: address is tentative (duplicate address detection), waiting up to %ds",
           text, TENTATIVE_WAIT_MS / 1000);
    for (i = 0; i < TENTATIVE_WAIT_MS / TENTATIVE_POLL_MS && bind_addr_tentative(text); i++)
    {
        if (nanosleep(&ts, NULL) < 0 && errno == EINTR)
        {
            break;
        }
    }
    errno = saved;
    return 1;
}


#ifndef DPINGER_MAIN
#define DPINGER_MAIN            main
#endif

int
DPINGER_MAIN(
    int                 argc,
    char *              argv[])
{
    static struct supervisor sv;
    char                err[512];
    const char *        stage;
    sigset_t            sigs;
    struct sigaction    act;
    uint32_t            scope = 0;
    uint16_t            ident;
    int                 ready_fd = -1;
    int                 send_fd;
    int                 recv_fd;
    int                 rc;
    int                 i;

    // The original arguments for re-execution (getopt may permute argv),
    // and the state a previous image of this process left us
    saved_argv = calloc((size_t) argc + 1, sizeof(char *));
    if (saved_argv == NULL)
    {
        fatal("out of memory");
    }
    memcpy(saved_argv, argv, (size_t) argc * sizeof(char *));
    reexecuted = reexec_state_parse(getenv(REEXEC_ENV), &reexec) == 0;
    (void) unsetenv(REEXEC_ENV);

    // 1. Arguments
    rc = args_parse(argc, argv, &cfg, err, sizeof(err));
    if (cfg.use_syslog)
    {
        log_open();
    }
    if (rc == ARGS_USAGE)
    {
        if (err[0])
        {
            fprintf(stderr, "dpinger: %s\n", err);
            if (log_fd >= 0)
            {
                (void) log_write(LOG_ERR, err, strlen(err));
            }
        }
        usage();
        exit(1);
    }
    if (rc != ARGS_OK || config_check(&cfg, err, sizeof(err)))
    {
        fatal("%s", err);
    }

    self_path_find();
    for (i = 0; environ[i]; i++)
    {
    }
    reexec_envp = calloc((size_t) i + 2, sizeof(char *));
    window.slots = calloc(cfg.slot_count, sizeof(struct slot));
    if (reexec_envp == NULL || window.slots == NULL)
    {
        fatal("out of memory");
    }
    memcpy(reexec_envp, environ, (size_t) i * sizeof(char *));
    reexec_envp[i] = reexec_env;
    window.count = cfg.slot_count;
    if (reexecuted)
    {
        // Carry on with the window and the sequence of the previous image
        window_import(reexec.window_fd);
        atomic_store(&probe.next_seq, reexec.seq);
    }

    signal(SIGPIPE, SIG_IGN);
    if (waker_open(&main_waker) || waker_open(&recv_waker))
    {
        fatal("wake-up descriptors: %s", strerror(errno));
    }

    // Signals are only recorded from now on: a SIGTERM during start-up is
    // acted on by the supervisor, which removes whatever was created
    memset(&act, 0, sizeof(act));
    act.sa_handler = on_signal;
    sigemptyset(&act.sa_mask);
    sigaction(SIGTERM, &act, NULL);
    sigaction(SIGINT, &act, NULL);
    sigaction(SIGHUP, &act, NULL);

    // 2, 3. The ICMP sockets, bound to -B.  After a re-execution a bind that
    // fails is retried like a rebuild instead of being fatal.
    rc = probe_socks_open(&send_fd, &recv_fd, &scope, &stage);
    if (rc < 0 && errno == EADDRNOTAVAIL && !reexecuted && strcmp(stage, "bind") == 0 &&
        bind_tentative_wait(cfg.bind_str))
    {
        rc = probe_socks_open(&send_fd, &recv_fd, &scope, &stage);
    }
    if (rc < 0)
    {
        int     saved = errno;

        if (!reexecuted || strcmp(stage, "socket") == 0)
        {
            if (strcmp(stage, "bind") == 0)
            {
                fatal("bind %s: %s", cfg.bind_str, strerror(saved));
            }
            fatal("%s: %s", stage, strerror(saved));
        }
        send_fd = icmp_socket_open(NULL, 0, 0, &stage);
        recv_fd = icmp_socket_open(NULL, 0, 0, &stage);
        if (send_fd < 0 || recv_fd < 0)
        {
            fatal("socket: %s", strerror(errno));
        }
        rebuild_request(&sv, "restart in place: bind failed", RB_TROUBLE, 0);
    }
    else
    {
        atomic_store(&probe.usable, 1);
    }
    probe.send_fd = send_fd;
    probe.recv_fd = recv_fd;
    atomic_store(&probe.dest_scope, scope);

    // 4. Privileges: back to the real ids (a no-op when started as root)
    if (setgid(getgid()) < 0 || setuid(getuid()) < 0)
    {
        fatal("drop privileges: %s", strerror(errno));
    }

    // 5. Pid file, report file, status socket
    if (cfg.pidfile)
    {
        pidfile_open();
    }
    output = stdout;
    if (cfg.output_file)
    {
        int     fd = open(cfg.output_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        if (fd < 0 || (output = fdopen(fd, "w")) == NULL)
        {
            fatal("output file %s: %s", cfg.output_file, strerror(errno));
        }
    }
    if (cfg.usocket)
    {
        usocket_open();
    }

    // 6. Daemonize, unless -f or this is a re-execution in place
    if (!cfg.foreground && !reexecuted)
    {
        ready_fd = daemonize();
    }

    // 7. Signals (blocked in every thread but main), the pid file, identity
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    if (pidfile_fd >= 0)
    {
        pidfile_write();
    }
    probe.ident_base = (uint16_t) getpid();
    atomic_store(&probe.generation, reexecuted ? reexec.generation + 1 : 0);
    ident = ident_for(probe.ident_base, atomic_load(&probe.generation));
    atomic_store(&probe.idents, (uint32_t) ident << 16 | ident);

    // 8. The parameter line
    logmsg(LOG_WARNING, "send_interval %lums  loss_interval %lums  time_period %lums  report_interval %lums  "
           "data_len %lu  alert_interval %lums  latency_alarm %lums  loss_alarm %lu%%  alarm_hold %lums  "
           "dest_addr %s  bind_addr %s  identifier \"%s\"",
           cfg.send_interval, cfg.loss_interval, cfg.time_period, cfg.report_interval, cfg.data_len,
           cfg.alert_interval, cfg.latency_alarm, cfg.loss_alarm, cfg.alarm_hold, cfg.dest_str,
           cfg.bind_str ? cfg.bind_str : "(none)", cfg.identifier ? cfg.identifier : "");

    // 9. Threads; the first echo request goes out at once
    atomic_store(&beats[TH_MAIN].beat, now_ms());
    atomic_store(&beats[TH_MAIN].running, 1);
    if (sv.pending == 0)
    {
        atomic_store(&probe.last_send_ok, now_ms());
    }
    thread_start(TH_RECV, recv_thread, cfg.realtime_recv);
    thread_start(TH_SEND, send_thread, 0);
    if (cfg.report_interval)
    {
        thread_start(TH_REPORT, report_thread, 0);
    }
    if (cfg.have_latency_alarm || cfg.have_loss_alarm)
    {
        thread_start(TH_ALERT, alert_thread, 0);
    }
    if (cfg.usocket)
    {
        thread_start(TH_STATUS, status_thread, 0);
    }
    pthread_sigmask(SIG_UNBLOCK, &sigs, NULL);

    if (ready_fd >= 0)
    {
        (void) !write(ready_fd, "R", 1);
        close(ready_fd);
    }

    // The supervisor loop
    sv.route_fd = -1;
    sv.bh_fd = -1;
    sv.bh_last = now_ms();
    sv.next_tick = now_ms() + SLICE_MS;
    sv.reconcile_at = now_ms() + RECONCILE_MS;
    if (sv.pending)
    {
        sv.due = now_ms();
    }
    watch_refresh(&sv.watch);
    if (!cfg.no_route_socket)
    {
        sv.route_fd = route_socket_open();
        if (sv.route_fd < 0)
        {
            logmsg(LOG_WARNING, "%s%s: routing socket: %s; interface changes are seen through send errors only",
                   cfg.prefix, cfg.dest_str, strerror(errno));
        }
    }
    supervise(&sv);
    return 0;
}
