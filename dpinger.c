//
// dpinger: continuous ICMP echo latency and loss monitor.
//
// A self-healing, drop-in fork of dpinger 3.3: the same command line,
// report line, status socket, alert command, pid file, signals and exit
// codes, plus in-place recovery of the ICMP sockets (send errors, routing
// socket, fresh-socket check) and a watchdog over every thread.  Written
// from a description of dpinger's observable behaviour; no upstream code.
//
// SPDX-License-Identifier: BSD-2-Clause
//
// The file reads top to bottom:
//   1. configuration and argument parsing
//   2. clock and logging
//   3. statistics window
//   4. shared state between the threads (one table)
//   5. ICMP packets, sockets and the rebuild step
//   6. worker threads: send, receive, report, alert, status
//   7. routing watch: the portable event, then one block per kernel
//   8. watchdog: heartbeats, the checker thread, restart in place
//   9. supervisor: the recovery state machine, its timers, the poll loop
//  10. start-up and main()
//

#if defined(__linux__)
#define _GNU_SOURCE
#endif

#include <sys/types.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
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

#if defined(__linux__)
#include <sys/syscall.h>
#include <malloc.h>
#include <linux/icmp.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#elif defined(__FreeBSD__)
#include <sys/param.h>
#include <sys/ioctl.h>
#include <sys/sysctl.h>
#include <net/if_dl.h>
#include <net/route.h>
#include <netinet6/in6_var.h>
#include <pthread_np.h>
#endif

// Each system compiles the routing decoder of its own kernel; the unit
// tests and fuzzers define DPINGER_ALL_DECODERS to get both on any system
#if defined(__linux__) || defined(DPINGER_ALL_DECODERS)
#define ROUTE_DECODE_LINUX      1
#endif
#if defined(__FreeBSD__) || defined(DPINGER_ALL_DECODERS)
#define ROUTE_DECODE_FREEBSD    1
#endif

#define VERSION                 "3.3-sh1"

extern char **                  environ;


//
// Limits and fixed values
//
#define IDENT_MAX               63              // -i must be shorter than this
#define TIME_MAX_MS             2147483647L     // about 24.8 days
#define COUNT_MAX               1000000         // -E
#define IPV4_DATA_MAX           65507           // -d limit for IPv4
#define IPV6_DATA_MAX           65527           // -d limit for IPv6
#define ICMP_HDR_LEN            8
#define PACKET_MAX              65536           // largest datagram we send or read
#define SOCKBUF_SIZE            (PACKET_MAX + 1024)
#define STATUS_BACKLOG          INT_MAX         // the kernel caps it at the system maximum
#define SLICE_MS                1000            // longest sleep of a busy thread between heartbeats
#define STATUS_SETTLE_MS        100             // a queued status client is taken by then
#define DEBOUNCE_MS             50              // coalescing of routing events
#define ROUTE_QUERY_MS          200             // coalescing of route changes before asking the kernel
#define RECONCILE_MS            60000           // periodic re-check of the bound interface
#define RESYNC_MIN_MS           1000            // at most one overflow resync per second
#define SUMMARY_MS              60000           // repeated errors are summarised this often
#define BIND_FAST_MS            10000           // bind retries every send interval this long
#define BACKOFF_MAX_MS          60000
#define STORM_BASE_MS           2000            // first gap between rebuilds that do not heal
#define HUP_SETTLE_MS           100             // a burst of SIGHUPs ends after a pause this long...
#define HUP_WAIT_MAX_MS         1000            // ...or this long after its first one
#define CHECK_WINDOW_MIN_MS     10000           // least time between fresh-socket checks in an outage
#define REEXEC_MAX_GAP_MS       600000          // longest gap between two restarts in place
#define REEXEC_FORGET_MS        3600000         // the restart count resets after this long
#define REEXEC_ENV              "DPINGER_REEXEC"
#define SIGWAKE                 SIGURG          // wakes a thread from a blocking call (ignored by default)

#define ICMP4_ECHO_REPLY        0
#define ICMP4_ECHO_REQUEST      8
#define ICMP6_ECHO_REPLY_TYPE   129
#define ICMP6_ECHO_REQUEST_TYPE 128


//
// 1. Configuration: written by main() from the command line before any
// thread starts, read-only afterwards.
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
};

static struct config    cfg;


//
// Number parser for every option value: base 10 (strtol, leading blanks
// allowed), no sign, at most one suffix from the table scaling the value,
// and the scaled value at most max.  0 with the value in *out, or -1.
//
struct unit
{
    char                suffix;
    unsigned long       scale;
};

static const struct unit time_units[] = { { 'm', 1 }, { 's', 1000 }, { 0, 0 } };
static const struct unit percent_units[] = { { '%', 1 }, { 0, 0 } };
static const struct unit length_units[] = { { 'b', 1 }, { 'k', 1024 }, { 0, 0 } };
static const struct unit no_units[] = { { 0, 0 } };

static int
parse_number(
    const char *        text,
    const struct unit * units,
    unsigned long       max,
    unsigned long *     out)
{
    char *              end;
    long                value;
    unsigned long       scale = 1;

    errno = 0;
    value = strtol(text, &end, 10);
    if (errno || end == text || value < 0)
    {
        return -1;
    }
    for (; units->suffix; units++)
    {
        if (*end == units->suffix)
        {
            scale = units->scale;
            end++;
            break;
        }
    }
    if (*end != '\0' || (unsigned long) value > max / scale)
    {
        return -1;
    }
    *out = (unsigned long) value * scale;
    return 0;
}

// Time: milliseconds, suffix m (milliseconds) or s (seconds), at most
// TIME_MAX_MS so that every later sum and poll() timeout fits
static int
parse_time(
    const char *        text,
    unsigned long *     out)
{
    return parse_number(text, time_units, TIME_MAX_MS, out);
}

// Percent: 0 to 100, optional %
static int
parse_percent(
    const char *        text,
    unsigned long *     out)
{
    return parse_number(text, percent_units, 100, out);
}

// Length: bytes, suffix b (bytes) or k (1024 bytes)
static int
parse_length(
    const char *        text,
    unsigned long *     out)
{
    return parse_number(text, length_units, LONG_MAX, out);
}

// Count: a plain number up to COUNT_MAX
static int
parse_count(
    const char *        text,
    unsigned long *     out)
{
    return parse_number(text, no_units, COUNT_MAX, out);
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
        "    -N do not watch the routing socket for interface and route changes\n"
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
// Command line parsing: fills *c from argv.  Returns ARGS_OK, ARGS_USAGE
// when usage should be shown (err may name the bad option) or ARGS_BAD on
// a bad value (err names it).  Nothing is printed here.
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

// The first bad value is the one reported
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
            // 0 means no latency alarm, as upstream
            c->have_latency_alarm = c->latency_alarm != 0;
            break;
        case 'L':
            if (parse_percent(optarg, &c->loss_alarm))
            {
                BAD("invalid loss alarm (-L) \"%s\"", optarg);
            }
            // 0 means no loss alarm, as upstream
            c->have_loss_alarm = c->loss_alarm != 0;
            break;
        case 'H':
            if (parse_time(optarg, &c->alarm_hold))
            {
                BAD("invalid alarm hold (-H) \"%s\"", optarg);
            }
            // 0 means the default, as upstream
            c->have_hold = c->alarm_hold != 0;
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
// Addresses.  Every comparison goes through addr_equal(); the family is
// always AF_INET or AF_INET6.
//

// Resolve a numeric address (IPv6 scope allowed).  0, or -1.
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

// Address bytes of a numeric address text, ignoring any %scope; returns
// AF_INET or AF_INET6, or 0 when the text is not an address
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
        return AF_INET;
    }
    if (inet_pton(AF_INET6, buf, out) == 1)
    {
        return AF_INET6;
    }
    return 0;
}

// The address bytes inside a sockaddr, or NULL for other families
static const uint8_t *
sockaddr_bytes(
    const struct sockaddr * sa,
    socklen_t           len)
{
    if (sa->sa_family == AF_INET && len >= (socklen_t) sizeof(struct sockaddr_in))
    {
        return (const uint8_t *) &((const struct sockaddr_in *) sa)->sin_addr;
    }
    if (sa->sa_family == AF_INET6 && len >= (socklen_t) sizeof(struct sockaddr_in6))
    {
        return ((const struct sockaddr_in6 *) sa)->sin6_addr.s6_addr;
    }
    return NULL;
}

// Same address?  For IPv6 link-local addresses bytes 2 and 3 are ignored:
// FreeBSD's kernel may hand them over with the scope embedded there.  The
// scope itself is not compared: a link-local sender's scope is the
// interface it arrived on.
static int
addr_equal(
    int                 family,
    const uint8_t *     a,
    const uint8_t *     b)
{
    if (family == AF_INET)
    {
        return memcmp(a, b, 4) == 0;
    }
    if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80 && b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
    {
        return memcmp(a, b, 2) == 0 && memcmp(a + 4, b + 4, 12) == 0;
    }
    return memcmp(a, b, 16) == 0;
}

// Is a sockaddr the given address?
static int
sockaddr_is(
    const struct sockaddr * sa,
    socklen_t           len,
    int                 family,
    const uint8_t *     addr)
{
    const uint8_t *     bytes;

    if (sa == NULL || sa->sa_family != family || (bytes = sockaddr_bytes(sa, len)) == NULL)
    {
        return 0;
    }
    return addr_equal(family, bytes, addr);
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
    return 0;
}


//
// 2. Clock and logging
//

// Monotonic clock in microseconds and milliseconds
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

// A back-off: base, doubled for each step after the first, at most cap;
// 0 for no steps
static uint64_t
backoff_ms(
    uint64_t            base,
    unsigned            steps,
    uint64_t            cap)
{
    uint64_t            gap = base;

    if (steps == 0)
    {
        return 0;
    }
    while (--steps && gap < cap)
    {
        gap *= 2;
    }
    return gap < cap ? gap : cap;
}

// close() that leaves errno as the caller's failure set it
static void
close_keep_errno(
    int                 fd)
{
    int                 saved = errno;

    if (fd >= 0)
    {
        close(fd);
    }
    errno = saved;
}


//
// Every line the daemon logs, as printf formats.  The LL_D_ lines concern
// the destination and are written by log_dest(), which puts "[identifier
// ]dest: " in front; the others are written as they are.  log_formats[]
// lists them all so the manual can be checked against exactly what the
// daemon writes (tests/tools/logformats, tests/docs_test.sh).
//
#define LL_PARAMS               "send_interval %lums  loss_interval %lums  time_period %lums  report_interval %lums  " \
                                "data_len %lu  alert_interval %lums  latency_alarm %lums  loss_alarm %lu%%  alarm_hold %lums  " \
                                "dest_addr %s  bind_addr %s  identifier \"%s\""
#define LL_EXIT                 "exiting on signal %d"
#define LL_DROPPED              "%u log lines dropped: the log was not accepting them"
#define LL_TENTATIVE            "bind %s: address is tentative (duplicate address detection), waiting up to %lus"

#define LL_D_SENDTO             "sendto error: %d"
#define LL_D_SENDTO_MORE        "sendto error: %d (%s), %lu more in the last %lus"
#define LL_D_RECVFROM           "recvfrom error: %d"
#define LL_D_DUPLICATE          "duplicate echo reply (sequence %u), %lu since the last such line"
#define LL_D_ALARM              "%s latency %luus stddev %luus loss %lu%%"
#define LL_D_ALERT_SPAWN        "alert command: /bin/sh: %s"
#define LL_D_ALERT_NOMEM        "alert command: out of memory"
#define LL_D_NO_ROUTE_SOCKET    "routing socket: %s; interface changes are seen through send errors only"
#define LL_D_WAIT_GONE          "route: %s is gone, waiting for it to return"
#define LL_D_WAIT_DOWN          "route: %s is down, waiting for it to come up"
#define LL_D_WAIT_ADDR          "route: bind address %s is not on %s, probes held back until it returns"
#define LL_D_WAIT_NO_ROUTE      "route: no route to %s, waiting for one"
#define LL_D_ROUTE_ELSEWHERE    "route: probes to %s leave by %s, not by %s which holds the bind address"
#define LL_D_ROUTE_BACK         "route: probes to %s leave by %s again"
#define LL_D_REBUILT            "rebuilt ICMP sockets (%s), generation %u, id 0x%04x"
#define LL_D_REBUILD_FAILED     "rebuild failed (%s): %s: %s, retry in %lu.%lus"
#define LL_D_HEALED             "healed: replies arriving again %lu.%lus after the first trigger (%s), generation %u"
#define LL_D_RESUMED            "replies resumed after an outage of %lus, no rebuild needed"
#define LL_D_RESUMED_REBUILT    "replies resumed after an outage of %lus, sockets rebuilt on the way (generation %u)"
#define LL_D_REAL_OUTAGE        "no reply for %lus and a fresh-socket probe is unanswered too: real outage, not rebuilding"
#define LL_D_WD_REBUILD         "watchdog: %s stalled for %lus, rebuilding sockets"
#define LL_D_WD_RESTART         "watchdog: %s stalled for %lus, restarting in place"
#define LL_D_WD_DEFERRED        "watchdog: %s stalled for %lus, restart in place deferred for %lus (rate limit)"
#define LL_D_WD_KERNEL          "watchdog: %s stalled for %lus in an uninterruptible kernel wait, restart in place deferred until it returns"
#define LL_D_WD_PAUSED          "watchdog: process was paused for %lus (every thread, the watchdog's too): not a hang"
#define LL_D_WD_EXEC            "watchdog: exec %s: %s"

static const char * const log_formats[] __attribute__((unused)) =
{
    LL_PARAMS, LL_EXIT, LL_DROPPED, LL_TENTATIVE,
    LL_D_SENDTO, LL_D_SENDTO_MORE, LL_D_RECVFROM, LL_D_DUPLICATE, LL_D_ALARM,
    LL_D_ALERT_SPAWN, LL_D_ALERT_NOMEM, LL_D_NO_ROUTE_SOCKET,
    LL_D_WAIT_GONE, LL_D_WAIT_DOWN, LL_D_WAIT_ADDR, LL_D_WAIT_NO_ROUTE,
    LL_D_ROUTE_ELSEWHERE, LL_D_ROUTE_BACK,
    LL_D_REBUILT, LL_D_REBUILD_FAILED, LL_D_HEALED, LL_D_RESUMED, LL_D_RESUMED_REBUILT, LL_D_REAL_OUTAGE,
    LL_D_WD_REBUILD, LL_D_WD_RESTART, LL_D_WD_DEFERRED, LL_D_WD_KERNEL, LL_D_WD_PAUSED, LL_D_WD_EXEC,
    NULL
};


//
// Log writer: stderr, or syslog with -S, framed as the system's syslog(3)
// frames what stock dpinger logs (user facility; the tag is the program's
// name): on Linux "<12>Mmm dd hh:mm:ss dpinger: line\n", on FreeBSD
// RFC 5424, "<12>1 time host dpinger pid - - line".  It never blocks: a
// daemon that waits for its log watches nothing.  A line that cannot go out at once (a full syslog
// socket, a stderr pipe nobody reads) is dropped and counted, and the next
// line that gets through is followed by the count.  syslog(3) itself is
// not used: it blocks on a full socket while holding a lock that every
// other thread that logs then waits for.
//
#define LOG_LINE_MAX            1024

#define LOG_TO_STDERR           (-1)
#define LOG_NO_SYSLOG           (-2)

// The syslog socket (-S): made when syslog first takes it, and from then
// on never closed, so every thread can send on it without a lock; until
// then LOG_NO_SYSLOG (no descriptor is held while no syslog daemon
// listens, as with syslog(3)); LOG_TO_STDERR without -S
static _Atomic int      log_fd = LOG_TO_STDERR;
static _Atomic unsigned log_dropped;            // any thread: lines dropped since one went out
static _Atomic uint64_t log_reconnect_at;       // any thread: no reconnect before this (ms)
static char             log_tag[64] = "dpinger"; // the program's name, set once in main
#if defined(__FreeBSD__)
static char             log_host[MAXHOSTNAMELEN] = "-";
#endif

// Connect a datagram socket to syslog (it can simply connect again later,
// so the descriptor stays the same for every thread); 0 when it took.
// FreeBSD's syslog(3) prefers the privileged socket when it may use it.
static int
log_connect(
    int                 fd)
{
#if defined(__FreeBSD__)
    static const char * const paths[] = { "/var/run/logpriv", "/var/run/log", NULL };
#else
    static const char * const paths[] = { "/dev/log", NULL };
#endif
    struct sockaddr_un  sa;
    int                 i;

    for (i = 0; paths[i]; i++)
    {
        memset(&sa, 0, sizeof(sa));
        sa.sun_family = AF_UNIX;
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", paths[i]);
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0)
        {
            return 0;
        }
    }
    return -1;
}

// The syslog header of a line at priority pri; its length
static size_t
log_header(
    char *              buf,
    size_t              size,
    int                 pri)
{
    struct timespec     ts;
    struct tm           tm;
    size_t              n;

    clock_gettime(CLOCK_REALTIME, &ts);
    if (localtime_r(&ts.tv_sec, &tm) == NULL)
    {
        memset(&tm, 0, sizeof(tm));
    }
#if defined(__FreeBSD__)
    {
        char            zone[8];
        long            off;

        // RFC 5424: <pri>1 2026-12-03T17:48:18.123456+01:00 host tag pid - -
        n = (size_t) snprintf(buf, size, "<%d>1 ", pri);
        n += strftime(buf + n, size - n, "%Y-%m-%dT%H:%M:%S", &tm);
        off = tm.tm_gmtoff / 60;
        snprintf(zone, sizeof(zone), "%c%02ld:%02ld", off < 0 ? '-' : '+', labs(off) / 60, labs(off) % 60);
        n += (size_t) snprintf(buf + n, size - n, ".%06ld%s %s %s %ld - - ", ts.tv_nsec / 1000, zone, log_host,
                               log_tag, (long) getpid());
    }
#else
    // RFC 3164 as glibc writes it: <pri>Mmm dd hh:mm:ss tag:
    n = (size_t) snprintf(buf, size, "<%d>", pri);
    n += strftime(buf + n, size - n, "%b %e %H:%M:%S ", &tm);
    n += (size_t) snprintf(buf + n, size - n, "%s: ", log_tag);
#endif
    return n;
}

// The syslog socket, made now if syslog listens (at most once a second)
static int
log_socket(void)
{
    int                 fd = atomic_load(&log_fd);
    int                 none = LOG_NO_SYSLOG;
    uint64_t            now;
    uint64_t            at;

    if (fd != LOG_NO_SYSLOG)
    {
        return fd;
    }
    now = now_ms();
    at = atomic_load(&log_reconnect_at);
    if (now < at || !atomic_compare_exchange_strong(&log_reconnect_at, &at, now + 1000))
    {
        return LOG_NO_SYSLOG;
    }
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd >= 0 && log_connect(fd) < 0)
    {
        close(fd);
        fd = LOG_NO_SYSLOG;
    }
    if (fd >= 0 && !atomic_compare_exchange_strong(&log_fd, &none, fd))
    {
        close(fd);
        fd = none;
    }
    return fd;
}

static void
log_open(
    const char *        argv0)
{
    const char *        name = strrchr(argv0, '/') ? strrchr(argv0, '/') + 1 : argv0;

    tzset();
    if (*name)
    {
        snprintf(log_tag, sizeof(log_tag), "%s", name);
    }
#if defined(__FreeBSD__)
    (void) gethostname(log_host, sizeof(log_host));
#endif
    atomic_store(&log_fd, LOG_NO_SYSLOG);
    (void) log_socket();
}

// Write one line (without its newline) at once or not at all; 0 when it went out
static int
log_write(
    int                 priority,
    const char *        line,
    size_t              len)
{
    char                buf[LOG_LINE_MAX + 64];
    size_t              n = 0;
    int                 fd = log_socket();

    if (fd == LOG_NO_SYSLOG)
    {
        return -1;
    }
    if (fd >= 0)
    {
        n = log_header(buf, sizeof(buf), LOG_USER | priority);
    }
    else
    {
        struct pollfd   pfd = { STDERR_FILENO, POLLOUT, 0 };

        if (poll(&pfd, 1, 0) != 1 || (pfd.revents & POLLOUT) == 0)
        {
            return -1;
        }
    }
    if (len > sizeof(buf) - n - 1)
    {
        len = sizeof(buf) - n - 1;
    }
    memcpy(buf + n, line, len);
    n += len;
#if defined(__FreeBSD__)
    // FreeBSD's syslog(3) strips the newline; glibc's keeps it
    if (fd < 0)
#endif
    {
        buf[n++] = '\n';
    }

    if (fd < 0)
    {
        // One write per line so lines from different threads never mix
        return write(STDERR_FILENO, buf, n) == (ssize_t) n ? 0 : -1;
    }
    if (send(fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t) n)
    {
        return 0;
    }
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS)
    {
        // The syslog daemon went away or restarted: reconnect, once a second
        uint64_t        now = now_ms();
        uint64_t        at = atomic_load(&log_reconnect_at);

        if (now >= at && atomic_compare_exchange_strong(&log_reconnect_at, &at, now + 1000) &&
            log_connect(fd) == 0 && send(fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t) n)
        {
            return 0;
        }
    }
    return -1;
}

// Format and write a line; count it as dropped when it cannot go out
static void
log_line(
    int                 priority,
    const char *        prefix,
    const char *        fmt,
    va_list             args)
{
    char                buf[LOG_LINE_MAX];
    int                 pre;
    int                 len;
    unsigned            dropped;

    pre = snprintf(buf, sizeof(buf), "%s", prefix);
    len = vsnprintf(buf + pre, sizeof(buf) - (size_t) pre, fmt, args);
    if (len < 0)
    {
        return;
    }
    len += pre;
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
        len = snprintf(buf, sizeof(buf), LL_DROPPED, dropped);
        if (log_write(LOG_WARNING, buf, (size_t) len) < 0)
        {
            atomic_fetch_add(&log_dropped, dropped);
        }
    }
}

static void logmsg(const char * fmt, ...) __attribute__((format(printf, 1, 2)));
static void log_dest(const char * fmt, ...) __attribute__((format(printf, 1, 2)));

// A line as it is (warning priority)
static void
logmsg(
    const char *        fmt,
    ...)
{
    va_list             args;

    va_start(args, fmt);
    log_line(LOG_WARNING, "", fmt, args);
    va_end(args);
}

// A line about the destination: "[identifier ]dest: " in front
static void
log_dest(
    const char *        fmt,
    ...)
{
    char                prefix[IDENT_MAX + NI_MAXHOST + 8];
    va_list             args;

    snprintf(prefix, sizeof(prefix), "%s%s: ", cfg.prefix, cfg.dest_str);
    va_start(args, fmt);
    log_line(LOG_WARNING, prefix, fmt, args);
    va_end(args);
}


//
// Rate limiting for a line that may repeat: at most one per interval, the
// rest counted.  One thread owns each limiter.
//
struct ratelimit
{
    uint64_t            last;           // ms of the last line that went out; 0: none yet
    unsigned long       suppressed;     // lines held back since
};

// May a line go out now?  When it may, *held gets the number held back
// since the last one; otherwise this one is counted.
static int
ratelimit_pass(
    struct ratelimit *  rl,
    uint64_t            now,
    uint64_t            interval,
    unsigned long *     held)
{
    if (rl->last && elapsed_since(now, rl->last) < interval)
    {
        rl->suppressed++;
        return 0;
    }
    *held = rl->suppressed;
    rl->suppressed = 0;
    rl->last = now ? now : 1;
    return 1;
}

// Forget the past: the next line goes out at once
static void
ratelimit_reset(
    struct ratelimit *  rl)
{
    rl->last = 0;
    rl->suppressed = 0;
}


//
// 3. Statistics window: one slot per echo request.  The send thread fills a
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


// A reply's receive time may precede its request's send time by this much
// and still be its reply: the send time is read before sendto(), and Linux's
// realtime stamp is converted with an offset known to within 10us.  A reply
// stamped earlier was queued before the request left: a forged reply for a
// sequence not yet sent, which must not count.
#define STAMP_SLACK_US          50u

// Receive side: record a reply.  Returns 1 when recorded, 0 for a
// duplicate, -1 when the slot no longer belongs to this sequence or the
// reply arrived before the request left.
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
    if (recv_us + STAMP_SLACK_US < sent)
    {
        return -1;
    }
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
// 4. Shared state between the threads.  No lock is shared, so a stalled
// thread can never block another, and everything a second thread reads is
// atomic.  Who writes and who reads each field:
//
//   field                          writer                  readers
//   window.slots[]                 send, recv              report, alert, status, restart
//   icmp.send_fd, icmp.recv_fd     main (dup3 onto the     send, recv
//                                  same numbers)
//   icmp.idents, dest_scope        main                    send, recv, main
//   icmp.generation                main                    restart
//   icmp.real, icmp.hold           main                    send
//   icmp.send_now                  main sets, send clears
//   icmp.stale_errors              send (main resets)      main
//   icmp.last_errno, last_send_ok  send                    main
//   icmp.next_seq                  send                    restart
//   icmp.last_reply                recv                    main
//   icmp.reply_wanted              main sets, recv clears
//   icmp.last_rebuild_log          main                    send
//   threads[t].beat, .idle_until,  thread t                watchdog thread, main
//     .outside
//   threads[t].running, .handle    main, at start          everyone
//   threads[t].kernel_tid          thread t, at start      restart
//   term_signal, hup_signal        signal handler          main
//   rebuild_wanted                 send                    main
//   watchdog_wanted                watchdog thread         main
//   resumed_at                     watchdog thread, main   watchdog thread, main
//
// "restart" is the restart in place (section 8), run by the watchdog
// thread, or by main when the watchdog thread itself is stuck.
//

// The ICMP sockets and the identity of the echo requests
struct icmp_state
{
    int                 send_fd;        // fixed number; main swaps the socket behind it
    int                 recv_fd;        // fixed number; main swaps the socket behind it
    uint16_t            ident_base;     // low 16 bits of the pid, as upstream
    _Atomic uint32_t    idents;         // (current << 16) | previous echo identifier
    _Atomic uint32_t    dest_scope;     // IPv6 scope of dest, resolved again on each rebuild
    _Atomic uint32_t    generation;     // number of socket rebuilds
    _Atomic int         real;           // 0 while only unbound placeholder sockets exist
    _Atomic int         hold;           // 1 while the bind address is gone: requests are counted, not sent
    _Atomic int         send_now;       // send the next request at once (after a rebuild)
    _Atomic unsigned    stale_errors;   // consecutive stale-path send errors
    _Atomic int         last_errno;     // errno of the last failed send
    _Atomic uint64_t    last_send_ok;   // monotonic ms of the last successful send
    _Atomic unsigned    next_seq;       // next sequence number (carried across a restart)
    _Atomic uint64_t    last_reply;     // monotonic ms of the last accepted reply; 0: none yet
    _Atomic int         reply_wanted;   // wake main at the next accepted reply
    _Atomic uint64_t    last_rebuild_log; // monotonic ms of the last rebuild log line
};

static struct icmp_state icmp = { .send_fd = -1, .recv_fd = -1 };

// The threads, each with its heartbeat: the monotonic ms of its last
// progress.  A thread beats at least once per SLICE_MS, or says before a
// longer wait until when it waits (it is judged from then on); the status
// thread waits for clients without a limit and is judged by whether a
// queued client is taken.
enum
{
    TH_MAIN,
    TH_SEND,
    TH_RECV,
    TH_REPORT,
    TH_ALERT,
    TH_STATUS,
    TH_WATCHDOG,
    TH_COUNT
};

struct thread_slot
{
    const char *        name;
    pthread_t           handle;
    _Atomic int         running;        // set once handle is valid
    _Atomic int         kernel_tid;     // Linux thread id, for the kernel-wait check
    _Atomic uint64_t    beat;
    _Atomic uint64_t    idle_until;     // in a wait that ends by then (0: not waiting;
                                        // UINT64_MAX: waiting for work, without a limit)
    _Atomic int         outside;        // 1 while waiting on something outside our control
                                        // (the alert command, the report output): not judged
};

static struct thread_slot threads[TH_COUNT] =
{
    [TH_MAIN] = { .name = "main" },
    [TH_SEND] = { .name = "send" },
    [TH_RECV] = { .name = "recv" },
    [TH_REPORT] = { .name = "report" },
    [TH_ALERT] = { .name = "alert" },
    [TH_STATUS] = { .name = "status" },
    [TH_WATCHDOG] = { .name = "watchdog" },
};

// Requests to main
static volatile sig_atomic_t term_signal;       // SIGTERM or SIGINT number
static volatile sig_atomic_t hup_signal;        // SIGHUP seen
static _Atomic int      rebuild_wanted;         // stale send errors reached -E
static _Atomic unsigned watchdog_wanted;        // bit per thread: stalled, rebuild the sockets

// Files we created and must remove on exit; main only
static int              pidfile_ours;
static int              usocket_fd = -1;
static int              usocket_ours;
static int              usocket_spare = -1;     // main opens it; then the status thread's alone
static FILE *           output;

// Remove the files we created (exit paths)
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

// Exit on SIGTERM or SIGINT (main, outside the handler): remove our files,
// say so, and go
static void
shutdown_on_signal(
    int                 sig)
{
    cleanup_files();
    logmsg(LL_EXIT, sig);
    _exit(0);
}

// Saved for a restart in place; written once in main()
static char **          saved_argv;
static char             self_path[PATH_MAX];

// Signals, blocked by main before any thread starts: every thread blocks
// SIGTERM, SIGINT, SIGHUP and SIGWAKE; main takes them only inside its
// ppoll(), and the send and receive threads take SIGWAKE (wake_accept), so
// that a rebuild can cut their waits short
static sigset_t         mask_daemon;


// Heartbeat of the calling thread
static void
beat(
    int                 t)
{
    atomic_store_explicit(&threads[t].beat, now_ms(), memory_order_relaxed);
}

// The calling thread waits until `until` (UINT64_MAX: for work), or, with
// 0, is back from its wait
static void
idle(
    int                 t,
    uint64_t            until)
{
    if (until == 0)
    {
        beat(t);
    }
    atomic_store_explicit(&threads[t].idle_until, until, memory_order_relaxed);
}

// Name the calling thread (seen in /proc, ps -H, top -H) and note its id
static void
thread_name(
    int                 t)
{
#if defined(__linux__)
    atomic_store(&threads[t].kernel_tid, (int) syscall(SYS_gettid));
    pthread_setname_np(pthread_self(), threads[t].name);
#elif defined(__FreeBSD__)
    pthread_set_name_np(pthread_self(), threads[t].name);
#endif
}

// Interrupt a thread's blocking call (SIGWAKE: the handler does nothing,
// the call returns EINTR and the thread looks at its requests)
static void
thread_wake(
    int                 t)
{
    if (atomic_load_explicit(&threads[t].running, memory_order_acquire))
    {
        (void) pthread_kill(threads[t].handle, SIGWAKE);
    }
}

// Sleep until a monotonic time in microseconds, at most one slice (a
// thread that takes SIGWAKE is woken early by it)
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
    (void) clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}

// Let SIGWAKE interrupt the calling thread's blocking calls
static void
wake_accept(void)
{
    sigset_t            wake;

    sigemptyset(&wake);
    sigaddset(&wake, SIGWAKE);
    pthread_sigmask(SIG_UNBLOCK, &wake, NULL);
}


//
// 5. ICMP packets, sockets and the rebuild step
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

// Is the sender of a datagram the destination host?  Addresses only (see
// addr_equal)
static int
addr_same_host(
    const struct sockaddr_storage * dest,
    const struct sockaddr_storage * from,
    socklen_t           fromlen)
{
    return sockaddr_is((const struct sockaddr *) from, fromlen, dest->ss_family,
                       sockaddr_bytes((const struct sockaddr *) dest, sizeof(*dest)));
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
// when it is plausible (not in the future and at most max_age old: a reply
// queued while the whole process was stopped keeps its true time), else
// now.  Linux stamps in CLOCK_REALTIME: converted with the offset of the two
// clocks measured now, unless that moved by more than a millisecond since
// the last datagram (a clock step: this one takes now).  *offset carries the
// offset between calls.
static uint64_t
rx_stamp_us(
    struct msghdr *     msg,
    uint64_t            now,
    uint64_t            max_age,
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
        return stamp <= now && now - stamp <= max_age ? stamp : now;
    }
    return now;
}


//
// ICMP sockets: open, bind, rebuild
//

// Open one raw ICMP socket for the configured family, non-blocking unless
// it is a receiving socket (the receive thread blocks in recvmsg, woken at
// least once per slice by its timeout), close-on-exec, with enlarged buffers
// and a kernel filter passing only echo replies (or nothing, for a
// send-only socket); bound if bind_len is set.  Returns the descriptor, or
// -1 with errno set and *stage naming the call.
static int
icmp_socket_open(
    const struct sockaddr_storage * bind_addr,
    socklen_t           bind_len,
    int                 receive,
    const char **       stage)
{
    int                 fd;
    int                 size = SOCKBUF_SIZE;

    *stage = "socket";
    fd = socket(cfg.family, SOCK_RAW | SOCK_CLOEXEC | (receive ? 0 : SOCK_NONBLOCK),
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
        struct timeval  slice = { SLICE_MS / 1000, (SLICE_MS % 1000) * 1000 };

        (void) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &slice, sizeof(slice));
        rx_stamps_enable(fd);
    }

    if (bind_len)
    {
        *stage = "bind";
        if (bind(fd, (const struct sockaddr *) bind_addr, bind_len) < 0)
        {
            close_keep_errno(fd);
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

// Open and bind a send and a receive socket from freshly resolved address
// strings.  Returns 0 (with the destination's scope in *scope), or -1 with
// errno set and *stage naming the failing call.
static int
icmp_socks_open(
    int *               send_fd,
    int *               recv_fd,
    uint32_t *          scope,
    const char **       stage)
{
    struct sockaddr_storage dest;
    struct sockaddr_storage bind_addr;
    socklen_t           dest_len;
    socklen_t           bind_len;

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
        close_keep_errno(*send_fd);
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
    close_keep_errno(newfd);
    return rc < 0 ? -1 : 0;
}

// The rebuild step: new sockets first, then retire the old ones by moving
// the new ones onto the same descriptor numbers, so no thread ever uses a
// closed descriptor; a new identifier; the window and the sequence stay.
// The receive thread is woken so it leaves a blocking read on the old
// socket.  Returns 0, or -1 with errno set and *stage naming the call.
static int
icmp_socks_rebuild(
    const char **       stage)
{
    int                 send_fd;
    int                 recv_fd;
    uint32_t            scope;
    uint32_t            generation;
    uint32_t            idents;
    uint16_t            ident;

    if (icmp_socks_open(&send_fd, &recv_fd, &scope, stage))
    {
        return -1;
    }
    *stage = "dup3";
    if (fd_replace(send_fd, icmp.send_fd))
    {
        close_keep_errno(recv_fd);
        return -1;
    }
    if (fd_replace(recv_fd, icmp.recv_fd))
    {
        return -1;
    }

    generation = atomic_load(&icmp.generation) + 1;
    ident = ident_for(icmp.ident_base, generation);
    idents = atomic_load(&icmp.idents);
    atomic_store(&icmp.idents, (uint32_t) ident << 16 | idents >> 16);
    atomic_store(&icmp.dest_scope, scope);
    atomic_store(&icmp.generation, generation);
    atomic_store(&icmp.stale_errors, 0);
    atomic_store(&icmp.real, 1);
    thread_wake(TH_RECV);
    return 0;
}


//
// The fresh-socket check for a silent black hole: one echo request from a
// newly opened socket with an identifier that is neither the current nor
// the previous one.  If it is answered while the current identifier stays
// silent, the old sockets (or state keyed on their identifier) are the
// problem.
//

// Identifier for the check
static uint16_t
check_ident(void)
{
    uint32_t            idents = atomic_load(&icmp.idents);
    uint16_t            ident = (uint16_t) ((idents >> 16) ^ 0x5555u);

    return ident == (uint16_t) idents ? (uint16_t) (ident ^ 0x0f0fu) : ident;
}

// Open a socket and send the check's request; the socket, or -1
static int
check_send(
    uint16_t            ident)
{
    struct sockaddr_storage dest;
    struct sockaddr_storage bind_addr;
    socklen_t           dest_len;
    socklen_t           bind_len;
    const char *        stage;
    uint8_t *           packet;
    size_t              len;
    ssize_t             rc;
    int                 fd;

    if (addrs_resolve_now(&dest, &dest_len, &bind_addr, &bind_len))
    {
        return -1;
    }
    fd = icmp_socket_open(&bind_addr, bind_len, 1, &stage);
    if (fd < 0)
    {
        return -1;
    }
    (void) fcntl(fd, F_SETFL, O_NONBLOCK);
    packet = calloc(1, ICMP_HDR_LEN + cfg.data_len);
    if (packet == NULL)
    {
        close(fd);
        return -1;
    }
    len = echo_build(cfg.family, packet, cfg.data_len, ident, 0);
    rc = sendto(fd, packet, len, 0, (struct sockaddr *) &dest, dest_len);
    free(packet);
    if (rc < 0)
    {
        close(fd);
        return -1;
    }
    return fd;
}

// Read what arrived on the check's socket; 1 when its answer is there
static int
check_answered(
    int                 fd,
    uint16_t            ident)
{
    uint8_t             buf[2048];
    int                 i;

    for (i = 0; i < 64; i++)
    {
        struct sockaddr_storage from;
        socklen_t       fromlen = sizeof(from);
        struct echo_reply reply;
        ssize_t         len;

        len = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *) &from, &fromlen);
        if (len < 0)
        {
            return 0;
        }
        if (echo_reply_parse(cfg.family, buf, (size_t) len, &reply) == 0 && reply.ident == ident &&
            addr_same_host(&cfg.dest, &from, fromlen))
        {
            return 1;
        }
    }
    return 0;
}


//
// 6. Worker threads.  Each is a plain loop that beats its heartbeat at
// least once per slice; none holds a lock, and every blocking call has a
// timeout (or is marked as outside our control).
//

// The next run of a periodic task: one interval on; after a stall that
// missed whole intervals, now (once) rather than a burst of catch-up runs
static uint64_t
periodic_next(
    uint64_t            next,
    uint64_t            interval,
    uint64_t            now)
{
    next += interval;
    return next < now ? now : next;
}


//
// Send thread: one echo request every send interval.  Every request takes
// its slot, sent or not: one that fails, or is held back while the bind
// address is gone, turns into a loss, as stock's status line would show.
//

// A failed send: count stale-path errors for the rebuild trigger (and wake
// main once -E is reached); log the first error of a run in the upstream
// format, then a summary at most once a minute
static void
send_error_note(
    int                 err,
    uint64_t            ms,
    struct ratelimit *  run)
{
    uint64_t            previous = run->last;
    unsigned long       held;

    atomic_store(&icmp.last_errno, err);
    if (errno_is_stale(err))
    {
        unsigned        count = atomic_fetch_add(&icmp.stale_errors, 1) + 1;

        if (cfg.send_error_limit && count >= cfg.send_error_limit)
        {
            atomic_store(&rebuild_wanted, 1);
            thread_wake(TH_MAIN);
        }
    }
    else
    {
        atomic_store(&icmp.stale_errors, 0);
    }

    if (!ratelimit_pass(run, ms, SUMMARY_MS, &held))
    {
        return;
    }
    if (previous == 0 || held == 0)
    {
        log_dest(LL_D_SENDTO, err);
    }
    else if (elapsed_since(ms, atomic_load(&icmp.last_rebuild_log)) >= SUMMARY_MS)
    {
        // (a rebuild line in the last minute already tells the story)
        log_dest(LL_D_SENDTO_MORE, err, strerror(err), held, (unsigned long) ((ms - previous) / 1000u));
    }
}

static void *
send_thread(
    void *              arg)
{
    struct sockaddr_storage dest;
    uint8_t *           packet;
    uint64_t            next;
    uint64_t            interval = (uint64_t) cfg.send_interval * 1000u;
    struct ratelimit    errors = { 0, 0 };
    unsigned            seq = atomic_load(&icmp.next_seq) % cfg.seq_limit;

    (void) arg;
    thread_name(TH_SEND);
    wake_accept();
    packet = calloc(1, ICMP_HDR_LEN + cfg.data_len);
    if (packet == NULL)
    {
        logmsg("send thread: out of memory");
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
        if (atomic_load_explicit(&icmp.send_now, memory_order_relaxed) && atomic_exchange(&icmp.send_now, 0))
        {
            next = now;
        }
        if (now < next)
        {
            // A SIGWAKE that lands just before the sleep is lost: the
            // request then goes at its usual time, one interval at most later
            sleep_until(next);
            continue;
        }

        ident = (uint16_t) (atomic_load_explicit(&icmp.idents, memory_order_relaxed) >> 16);
        if (cfg.family == AF_INET6)
        {
            ((struct sockaddr_in6 *) &dest)->sin6_scope_id = atomic_load_explicit(&icmp.dest_scope, memory_order_relaxed);
        }
        len = echo_build(cfg.family, packet, cfg.data_len, ident, (uint16_t) seq);
        slot_mark_sent(&window.slots[seq % window.count], seq, now_us());
        if (!atomic_load_explicit(&icmp.real, memory_order_relaxed) ||
            atomic_load_explicit(&icmp.hold, memory_order_relaxed))
        {
            // No socket to send from, or the bind address is gone: counted, not sent
        }
        else if (sendto(icmp.send_fd, packet, len, 0, (struct sockaddr *) &dest, cfg.dest_len) >= 0)
        {
            atomic_store_explicit(&icmp.stale_errors, 0, memory_order_relaxed);
            atomic_store_explicit(&icmp.last_send_ok, now_ms(), memory_order_relaxed);
            ratelimit_reset(&errors);
        }
        else
        {
            send_error_note(errno, now_ms(), &errors);
        }

        seq = (seq + 1) % cfg.seq_limit;
        atomic_store_explicit(&icmp.next_seq, seq, memory_order_relaxed);
        next = periodic_next(next, interval, now_us());
    }
    return NULL;
}


//
// Receive thread: a blocking read (its timeout is the slice, so it beats
// while idle; a rebuild interrupts it with SIGWAKE so it moves to the new
// socket at once).  It accepts only echo replies from the destination
// carrying the current (or previous) identifier, and records their latency.
//
struct recv_state
{
    struct ratelimit    duplicates;
    struct ratelimit    errors;
    int64_t             clock_offset;   // see rx_stamp_us()
    unsigned            retired_seq;    // read from a socket retired meanwhile: its copy
                                        // on the new socket is no duplicate
};

static void
recv_process(
    struct recv_state * rs,
    const uint8_t *     buf,
    size_t              len,
    const struct sockaddr_storage * from,
    socklen_t           fromlen,
    uint64_t            recv_us,
    int                 retired)
{
    struct echo_reply   reply;
    uint32_t            idents;
    unsigned long       held;
    int                 rc;

    if (echo_reply_parse(cfg.family, buf, len, &reply))
    {
        return;
    }
    idents = atomic_load_explicit(&icmp.idents, memory_order_relaxed);
    if (reply.ident != (uint16_t) (idents >> 16) && reply.ident != (uint16_t) idents)
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
        rs->retired_seq = retired ? reply.seq : UINT_MAX;
        atomic_store(&icmp.last_reply, recv_us / 1000u);
        if (atomic_load_explicit(&icmp.reply_wanted, memory_order_relaxed) &&
            atomic_exchange(&icmp.reply_wanted, 0))
        {
            // The supervisor is waiting to see replies again
            thread_wake(TH_MAIN);
        }
    }
    else if (rc == 0 && reply.seq != rs->retired_seq &&
             ratelimit_pass(&rs->duplicates, recv_us / 1000u, SUMMARY_MS, &held))
    {
        log_dest(LL_D_DUPLICATE, reply.seq, held + 1);
    }
}

static void *
recv_thread(
    void *              arg)
{
    struct recv_state   rs;
    uint8_t *           buf;
    uint64_t            max_age = (uint64_t) cfg.time_period * 1000u;

    (void) arg;
    thread_name(TH_RECV);
    memset(&rs, 0, sizeof(rs));
    rs.retired_seq = UINT_MAX;
    buf = malloc(PACKET_MAX);
    if (buf == NULL)
    {
        logmsg("recv thread: out of memory");
        abort();
    }
    wake_accept();

    for (;;)
    {
        struct sockaddr_storage from;
        struct iovec    iov = { buf, PACKET_MAX };
        union
        {
            char        space[CMSG_SPACE(sizeof(struct timespec)) + CMSG_SPACE(64)];
            struct cmsghdr align;
        }               ctl;
        struct msghdr   msg;
        ssize_t         len;
        uint32_t        generation;
        unsigned long   held;

        beat(TH_RECV);
        memset(&msg, 0, sizeof(msg));
        msg.msg_name = &from;
        msg.msg_namelen = sizeof(from);
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = ctl.space;
        msg.msg_controllen = sizeof(ctl.space);
        generation = atomic_load_explicit(&icmp.generation, memory_order_relaxed);
        len = recvmsg(icmp.recv_fd, &msg, 0);
        if (len < 0)
        {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            {
                // The slice passed, or a rebuild woke us
                continue;
            }
            if (ratelimit_pass(&rs.errors, now_ms(), SUMMARY_MS, &held))
            {
                log_dest(LL_D_RECVFROM, errno);
            }
            // A persistent error must not spin: look again shortly
            sleep_until(now_us() + 100000u);
            continue;
        }
        recv_process(&rs, buf, (size_t) len, &from, msg.msg_namelen,
                     rx_stamp_us(&msg, now_us(), max_age, &rs.clock_offset),
                     generation != atomic_load_explicit(&icmp.generation, memory_order_relaxed));
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
    thread_name(TH_REPORT);
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
        atomic_store(&threads[TH_REPORT].outside, 1);
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
        atomic_store(&threads[TH_REPORT].outside, 0);
        next = periodic_next(next, interval, now_us());
    }
    return NULL;
}


//
// Alert thread: every alert interval, compare the statistics with -D and
// -L, hold alarms after their cause clears, log and run -C on changes.
//

// Alarm hold bookkeeping, one alarm: the counter restarts while the
// condition holds and counts down once it is false.  Returns 1 when an
// alert must fire (the alarm started, or its counter reached 0).
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

// Run the alert command through /bin/sh -c as system() would, with default
// signal dispositions and an empty mask for the child, while the thread is
// marked as outside our control (pfSense's script may take many seconds)
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
    sigaddset(&defaults, SIGWAKE);
    posix_spawnattr_init(&attr);
    posix_spawnattr_setsigmask(&attr, &mask);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    atomic_store(&threads[TH_ALERT].outside, 1);
    rc = posix_spawn(&pid, "/bin/sh", NULL, &attr, args, environ);
    posix_spawnattr_destroy(&attr);
    if (rc != 0)
    {
        log_dest(LL_D_ALERT_SPAWN, strerror(rc));
    }
    else
    {
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        {
        }
    }
    beat(TH_ALERT);
    atomic_store(&threads[TH_ALERT].outside, 0);
}

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
    thread_name(TH_ALERT);
    for (;;)
    {
        struct stats    st;
        uint64_t        now;
        int             fire = 0;
        int             flag;
        char *          cmdline = NULL;

        beat(TH_ALERT);
        now = now_us();
        if (now < next)
        {
            sleep_until(next);
            continue;
        }
        next = periodic_next(next, interval, now);

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
        log_dest(LL_D_ALARM, flag ? "Alarm" : "Clear", st.average, st.stddev, st.loss);
        if (cfg.alert_cmd == NULL)
        {
            continue;
        }
        if (asprintf(&cmdline, "%s %s%s %d %lu %lu %lu", cfg.alert_cmd, cfg.prefix, cfg.dest_str,
                     flag, st.average, st.stddev, st.loss) < 0)
        {
            log_dest(LL_D_ALERT_NOMEM);
            continue;
        }
        alert_command_run(cmdline);
        free(cmdline);
    }
    return NULL;
}


//
// Status thread: it only answers queries.  Every connection gets one report
// line computed now and is closed; accepted sockets are non-blocking and
// written with MSG_NOSIGNAL (SO_NOSIGPIPE on FreeBSD), so no client can
// stop or stall it.  A spare descriptor lets it answer even at the
// descriptor limit.
//

// Answer one connection
static void
status_answer(
    int                 fd)
{
    struct stats        st;
    char                line[IDENT_MAX + 80];
    int                 len;

#if defined(SO_NOSIGPIPE)
    int                 one = 1;

    (void) setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof(one));
#endif
    stats_now(&st);
    len = stats_format(&st, line, sizeof(line));
    (void) !send(fd, line, (size_t) len, MSG_NOSIGNAL);
    close(fd);
}

static void *
status_thread(
    void *              arg)
{
    int                 spare = usocket_spare;

    (void) arg;
    thread_name(TH_STATUS);
    for (;;)
    {
        struct pollfd   pfd = { usocket_fd, POLLIN, 0 };
        int             rc;
        int             i;

        // Clients come when they come: the watchdog sees one left waiting
        idle(TH_STATUS, UINT64_MAX);
        rc = poll(&pfd, 1, -1);
        idle(TH_STATUS, 0);
        if (rc <= 0)
        {
            continue;
        }
        for (i = 0; i < 64; i++)
        {
            int         fd = accept4(usocket_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

            if (fd < 0 && (errno == EMFILE || errno == ENFILE))
            {
                if (spare < 0)
                {
                    // No spare: let the client wait instead of spinning
                    (void) poll(NULL, 0, 100);
                    break;
                }
                // Use the spare for this client, then take it back
                close(spare);
                spare = -1;
                fd = accept4(usocket_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
            }
            if (fd < 0)
            {
                if (errno == EINTR || errno == ECONNABORTED)
                {
                    continue;
                }
                if (spare < 0)
                {
                    spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
                }
                break;
            }
            status_answer(fd);
            if (spare < 0)
            {
                spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
            }
            beat(TH_STATUS);
        }
    }
    return NULL;
}


//
// 7. Routing watch.  One portable event; then, per kernel, a pure decoder
// that turns a buffer into events (every length checked before a field is
// read; static assertions tie its constants to that system's headers) and
// the routing socket's open, read and route query.  Events only trigger a
// re-query of the real state, they are never taken as the truth.
//
enum route_kind
{
    ROUTE_LINK_NEW = 1,                 // interface arrived or changed
    ROUTE_LINK_GONE,                    // interface departed
    ROUTE_ADDR_NEW,
    ROUTE_ADDR_GONE,
    ROUTE_PATH,                         // a route was added, changed or deleted
    ROUTE_ANSWER,                       // the kernel's answer to our route query
    ROUTE_RESYNC                        // events were lost
};

#define ROUTE_F_UP              0x1
#define ROUTE_F_RUNNING         0x2
#define ROUTE_F_TENTATIVE       0x4
#define ROUTE_NAME_MAX          16

struct route_event
{
    int                 kind;
    unsigned            index;                  // ROUTE_ANSWER: outgoing interface, 0 for no route
    char                name[ROUTE_NAME_MAX];   // "" when the message has none
    unsigned            flags;                  // ROUTE_F_*
    int                 family;                 // AF_INET, AF_INET6, or 0 without an address
    uint8_t             addr[16];
};

// Which answers are ours: the sender id the kernel puts on them (netlink
// port id, or our pid on FreeBSD) and the sequence number of our query
struct route_query
{
    uint32_t            sender;
    uint32_t            seq;
};

#if defined(ROUTE_DECODE_LINUX) || defined(ROUTE_DECODE_FREEBSD)
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

// Copy an interface name of at most len bytes, stopping at a NUL
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
#endif


//
// Linux rtnetlink: decoder (host byte order, 4-byte alignment)
//
#if defined(ROUTE_DECODE_LINUX)
#define NL_HDR_LEN              16      // len@0 type@4 flags@6 seq@8 pid@12
#define NL_ALIGN(n)             (((n) + 3u) & ~(size_t) 3u)
#define NL_MSG_ERROR            2
#define NL_MSG_OVERRUN          4
#define NL_RTM_NEWLINK          16
#define NL_RTM_DELLINK          17
#define NL_RTM_NEWADDR          20
#define NL_RTM_DELADDR          21
#define NL_RTM_NEWROUTE         24
#define NL_RTM_DELROUTE         25
#define NL_RTM_GETROUTE         26
#define NL_IFINFO_LEN           16      // family, pad, type, index@4, flags@8, change@12
#define NL_IFADDR_LEN           8       // family, prefixlen, flags@2, scope, index@4
#define NL_RTMSG_LEN            12      // family, dst_len, src_len, tos, table@4, ..., flags@8
#define NL_ERR_LEN              4       // error (negative errno, 0 for an acknowledgement)
#define NL_RTA_HDR_LEN          4
#define NL_IFLA_IFNAME          3
#define NL_IFA_ADDRESS          1
#define NL_IFA_LOCAL            2
#define NL_IFA_LABEL            3
#define NL_IFA_FLAGS            8
#define NL_RTA_DST              1
#define NL_RTA_OIF              4
#define NL_RTA_TABLE            15
#define NL_RT_TABLE_MAIN        254
#define NL_RTM_F_CLONED         0x200
#define NL_AF_INET              2
#define NL_AF_INET6             10
#define NL_IFF_UP               0x1
#define NL_IFF_RUNNING          0x40
#define NL_IFA_F_TENTATIVE      0x40

#if defined(__linux__)
_Static_assert(sizeof(struct nlmsghdr) == NL_HDR_LEN, "nlmsghdr");
_Static_assert(offsetof(struct nlmsghdr, nlmsg_seq) == 8 && offsetof(struct nlmsghdr, nlmsg_pid) == 12, "nlmsghdr");
_Static_assert(sizeof(struct ifinfomsg) == NL_IFINFO_LEN, "ifinfomsg");
_Static_assert(offsetof(struct ifinfomsg, ifi_index) == 4 && offsetof(struct ifinfomsg, ifi_flags) == 8, "ifinfomsg");
_Static_assert(sizeof(struct ifaddrmsg) == NL_IFADDR_LEN && offsetof(struct ifaddrmsg, ifa_index) == 4, "ifaddrmsg");
_Static_assert(sizeof(struct rtmsg) == NL_RTMSG_LEN && offsetof(struct rtmsg, rtm_table) == 4 &&
               offsetof(struct rtmsg, rtm_flags) == 8, "rtmsg");
_Static_assert(RTM_NEWLINK == NL_RTM_NEWLINK && RTM_DELLINK == NL_RTM_DELLINK, "RTM link");
_Static_assert(RTM_NEWADDR == NL_RTM_NEWADDR && RTM_DELADDR == NL_RTM_DELADDR, "RTM addr");
_Static_assert(RTM_NEWROUTE == NL_RTM_NEWROUTE && RTM_DELROUTE == NL_RTM_DELROUTE &&
               RTM_GETROUTE == NL_RTM_GETROUTE, "RTM route");
_Static_assert(NLMSG_ERROR == NL_MSG_ERROR && NLMSG_OVERRUN == NL_MSG_OVERRUN && IFLA_IFNAME == NL_IFLA_IFNAME, "netlink");
_Static_assert(IFA_ADDRESS == NL_IFA_ADDRESS && IFA_LOCAL == NL_IFA_LOCAL && IFA_LABEL == NL_IFA_LABEL, "IFA");
_Static_assert(IFA_FLAGS == NL_IFA_FLAGS && IFA_F_TENTATIVE == NL_IFA_F_TENTATIVE, "IFA flags");
_Static_assert(RTA_DST == NL_RTA_DST && RTA_OIF == NL_RTA_OIF && RTA_TABLE == NL_RTA_TABLE, "RTA");
_Static_assert(RT_TABLE_MAIN == NL_RT_TABLE_MAIN && RTM_F_CLONED == NL_RTM_F_CLONED, "route table");
_Static_assert(AF_INET == NL_AF_INET && AF_INET6 == NL_AF_INET6, "AF");
_Static_assert(IFF_UP == NL_IFF_UP && IFF_RUNNING == NL_IFF_RUNNING, "IFF");
#endif

// One attribute of a message body
struct nl_attr
{
    unsigned            type;
    const uint8_t *     data;
    size_t              len;
};

// The complete attribute at *off (advanced past it); 0 when there is none
static int
nl_attr_next(
    const uint8_t *     body,
    size_t              len,
    size_t *            off,
    struct nl_attr *    a)
{
    uint16_t            alen;

    if (len - *off < NL_RTA_HDR_LEN)
    {
        return 0;
    }
    alen = get16(body + *off);
    if (alen < NL_RTA_HDR_LEN || alen > len - *off)
    {
        return 0;
    }
    a->type = get16(body + *off + 2) & 0x3fffu;
    a->data = body + *off + NL_RTA_HDR_LEN;
    a->len = alen - NL_RTA_HDR_LEN;
    *off += NL_ALIGN(alen) < len - *off ? NL_ALIGN(alen) : len - *off;
    return 1;
}

// Decode one link message body into *ev; 0 when usable
static int
nl_link_decode(
    int                 type,
    const uint8_t *     body,
    size_t              len,
    struct route_event * ev)
{
    struct nl_attr      a;
    size_t              off;
    uint32_t            flags;

    if (len < NL_IFINFO_LEN)
    {
        return -1;
    }
    ev->kind = type == NL_RTM_DELLINK ? ROUTE_LINK_GONE : ROUTE_LINK_NEW;
    ev->index = get32(body + 4);
    flags = get32(body + 8);
    ev->flags = (flags & NL_IFF_UP ? ROUTE_F_UP : 0) | (flags & NL_IFF_RUNNING ? ROUTE_F_RUNNING : 0);
    for (off = NL_IFINFO_LEN; nl_attr_next(body, len, &off, &a);)
    {
        if (a.type == NL_IFLA_IFNAME)
        {
            event_name(ev, a.data, a.len);
        }
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
    struct nl_attr      a;
    size_t              off;
    uint32_t            flags;
    size_t              need;

    if (len < NL_IFADDR_LEN || (body[0] != NL_AF_INET && body[0] != NL_AF_INET6))
    {
        return -1;
    }
    need = body[0] == NL_AF_INET ? 4 : 16;
    ev->kind = type == NL_RTM_DELADDR ? ROUTE_ADDR_GONE : ROUTE_ADDR_NEW;
    ev->family = body[0] == NL_AF_INET ? AF_INET : AF_INET6;
    ev->index = get32(body + 4);
    flags = body[2];
    for (off = NL_IFADDR_LEN; nl_attr_next(body, len, &off, &a);)
    {
        switch (a.type)
        {
        case NL_IFA_ADDRESS:
            address = a.len >= need ? a.data : NULL;
            break;
        case NL_IFA_LOCAL:
            local = a.len >= need ? a.data : NULL;
            break;
        case NL_IFA_LABEL:
            event_name(ev, a.data, a.len);
            break;
        case NL_IFA_FLAGS:
            if (a.len >= 4)
            {
                flags = get32(a.data);
            }
            break;
        }
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
    memcpy(ev->addr, local, need);
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

// Decode one route message body: a change of the main table, or the
// answer to our query (the outgoing interface); 0 when usable
static int
nl_route_decode(
    int                 answer,
    const uint8_t *     body,
    size_t              len,
    struct route_event * ev)
{
    struct nl_attr      a;
    size_t              off;
    uint32_t            table;

    if (len < NL_RTMSG_LEN)
    {
        return -1;
    }
    ev->kind = answer ? ROUTE_ANSWER : ROUTE_PATH;
    ev->family = body[0] == NL_AF_INET ? AF_INET : body[0] == NL_AF_INET6 ? AF_INET6 : 0;
    table = body[4];
    for (off = NL_RTMSG_LEN; nl_attr_next(body, len, &off, &a);)
    {
        if (a.type == NL_RTA_OIF && a.len >= 4)
        {
            ev->index = get32(a.data);
        }
        else if (a.type == NL_RTA_TABLE && a.len >= 4)
        {
            table = get32(a.data);
        }
    }
    if (!answer && (table != NL_RT_TABLE_MAIN || (get32(body + 8) & NL_RTM_F_CLONED)))
    {
        return -1;
    }
    return 0;
}

// Decode a buffer read from an rtnetlink socket (several messages per read)
static size_t
route_decode_linux(
    const void *        buf,
    size_t              len,
    const struct route_query * q,
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
        const uint8_t * body = p + off + NL_HDR_LEN;
        int             ours = q && get32(p + off + 8) == q->seq && get32(p + off + 12) == q->sender;

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
        case NL_MSG_ERROR:
            // Our query failed (no route): an answer without an interface
            if (ours && mlen - NL_HDR_LEN >= NL_ERR_LEN && get32(body) != 0)
            {
                out[n++].kind = ROUTE_ANSWER;
            }
            break;
        case NL_RTM_NEWLINK:
        case NL_RTM_DELLINK:
            n += nl_link_decode(type, body, mlen - NL_HDR_LEN, &out[n]) == 0;
            break;
        case NL_RTM_NEWADDR:
        case NL_RTM_DELADDR:
            n += nl_addr_decode(type, body, mlen - NL_HDR_LEN, &out[n]) == 0;
            break;
        case NL_RTM_NEWROUTE:
        case NL_RTM_DELROUTE:
            n += nl_route_decode(ours && type == NL_RTM_NEWROUTE, body, mlen - NL_HDR_LEN, &out[n]) == 0;
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
#endif


//
// Linux rtnetlink: the socket
//
#if defined(__linux__)
static int
route_socket_open(
    uint32_t *          sender)
{
    struct sockaddr_nl  sa;
    socklen_t           salen = sizeof(sa);
    int                 fd;

    fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
    if (fd < 0)
    {
        return -1;
    }
    memset(&sa, 0, sizeof(sa));
    sa.nl_family = AF_NETLINK;
    sa.nl_groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE;
    if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 ||
        getsockname(fd, (struct sockaddr *) &sa, &salen) < 0)
    {
        close_keep_errno(fd);
        return -1;
    }
    *sender = sa.nl_pid;
    return fd;
}

// Read one buffer of messages: its length, 0 when it is to be ignored (not
// from the kernel), -1 with errno (EAGAIN: nothing more; ENOBUFS: events lost)
static ssize_t
route_socket_read(
    int                 fd,
    uint8_t *           buf,
    size_t              size)
{
    struct sockaddr_nl  from;
    struct iovec        iov = { buf, size };
    struct msghdr       msg;
    ssize_t             len;

    memset(&msg, 0, sizeof(msg));
    msg.msg_name = &from;
    msg.msg_namelen = sizeof(from);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    len = recvmsg(fd, &msg, 0);
    if (len >= 0 && (msg.msg_flags & MSG_TRUNC))
    {
        errno = ENOBUFS;
        return -1;
    }
    return len >= 0 && from.nl_pid != 0 ? 0 : len;
}

// Ask which interface the route to the destination leaves by
static int
route_query_send(
    int                 fd,
    uint32_t            seq)
{
    struct
    {
        struct nlmsghdr hdr;
        struct rtmsg    rt;
        char            attrs[64];
    }                   req;
    struct rtattr *     rta;
    struct sockaddr_nl  kernel;
    uint32_t            scope = atomic_load(&icmp.dest_scope);
    size_t              alen = cfg.family == AF_INET ? 4 : 16;

    memset(&req, 0, sizeof(req));
    req.hdr.nlmsg_type = RTM_GETROUTE;
    req.hdr.nlmsg_flags = NLM_F_REQUEST;
    req.hdr.nlmsg_seq = seq;
    req.rt.rtm_family = (unsigned char) cfg.family;
    req.rt.rtm_dst_len = (unsigned char) (alen * 8);
    rta = (struct rtattr *) req.attrs;
    rta->rta_type = RTA_DST;
    rta->rta_len = (unsigned short) RTA_LENGTH(alen);
    memcpy(RTA_DATA(rta), sockaddr_bytes((struct sockaddr *) &cfg.dest, cfg.dest_len), alen);
    req.hdr.nlmsg_len = (uint32_t) (NLMSG_LENGTH(sizeof(req.rt)) + RTA_ALIGN(rta->rta_len));
    if (scope)
    {
        rta = (struct rtattr *) (req.attrs + RTA_ALIGN(rta->rta_len));
        rta->rta_type = RTA_OIF;
        rta->rta_len = (unsigned short) RTA_LENGTH(sizeof(scope));
        memcpy(RTA_DATA(rta), &scope, sizeof(scope));
        req.hdr.nlmsg_len += RTA_ALIGN(rta->rta_len);
    }
    memset(&kernel, 0, sizeof(kernel));
    kernel.nl_family = AF_NETLINK;
    return sendto(fd, &req, req.hdr.nlmsg_len, 0, (struct sockaddr *) &kernel, sizeof(kernel)) < 0 ? -1 : 0;
}

// The decoder of this kernel
#define route_decode            route_decode_linux
#endif


//
// FreeBSD PF_ROUTE: decoder (host byte order).  Offsets are those of
// FreeBSD 11 and later; sockaddrs after a message header are padded to
// sizeof(long), which is 8 on amd64 (the layout the tests use elsewhere).
//
#if defined(ROUTE_DECODE_FREEBSD)
#define FB_RTM_VERSION          5
#define FB_RTM_ADD              0x01
#define FB_RTM_DELETE           0x02
#define FB_RTM_CHANGE           0x03
#define FB_RTM_GET              0x04
#define FB_RTM_NEWADDR          0x0c
#define FB_RTM_DELADDR          0x0d
#define FB_RTM_IFINFO           0x0e
#define FB_RTM_IFANNOUNCE       0x11
#define FB_MSG_HDR_LEN          4       // msglen(2), version(1), type(1)
#define FB_RTM_INDEX_OFF        4
#define FB_RTM_FLAGS_OFF        8
#define FB_RTM_ADDRS_OFF        12
#define FB_RTM_PID_OFF          16
#define FB_RTM_SEQ_OFF          20
#define FB_RTM_ERRNO_OFF        24
#define FB_RTM_LEN              152     // sizeof(struct rt_msghdr) on 64-bit systems
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
#define FB_RTA_DST              0x01
#define FB_RTA_IFP              0x10
#define FB_RTAX_DST             0
#define FB_RTAX_IFP             4
#define FB_RTAX_IFA             5
#define FB_RTAX_MAX             8
#define FB_RTF_UP               0x1
#define FB_RTF_HOST             0x4
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
_Static_assert(RTM_ADD == FB_RTM_ADD && RTM_DELETE == FB_RTM_DELETE && RTM_CHANGE == FB_RTM_CHANGE &&
               RTM_GET == FB_RTM_GET, "RTM route");
_Static_assert(RTM_NEWADDR == FB_RTM_NEWADDR && RTM_DELADDR == FB_RTM_DELADDR, "RTM addr");
_Static_assert(RTM_IFINFO == FB_RTM_IFINFO && RTM_IFANNOUNCE == FB_RTM_IFANNOUNCE, "RTM if");
_Static_assert(offsetof(struct rt_msghdr, rtm_index) == FB_RTM_INDEX_OFF &&
               offsetof(struct rt_msghdr, rtm_flags) == FB_RTM_FLAGS_OFF &&
               offsetof(struct rt_msghdr, rtm_addrs) == FB_RTM_ADDRS_OFF &&
               offsetof(struct rt_msghdr, rtm_pid) == FB_RTM_PID_OFF &&
               offsetof(struct rt_msghdr, rtm_seq) == FB_RTM_SEQ_OFF &&
               offsetof(struct rt_msghdr, rtm_errno) == FB_RTM_ERRNO_OFF, "rt_msghdr");
_Static_assert(sizeof(struct rt_msghdr) == FB_RTM_LEN, "rt_msghdr size");
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
_Static_assert(RTA_DST == FB_RTA_DST && RTA_IFP == FB_RTA_IFP, "RTA");
_Static_assert(RTAX_DST == FB_RTAX_DST && RTAX_IFP == FB_RTAX_IFP && RTAX_IFA == FB_RTAX_IFA && RTAX_MAX == FB_RTAX_MAX, "RTAX");
_Static_assert(RTF_UP == FB_RTF_UP && RTF_HOST == FB_RTF_HOST, "RTF");
_Static_assert(AF_INET6 == FB_AF_INET6 && AF_LINK == FB_AF_LINK, "AF");
_Static_assert(IFF_RUNNING == FB_IFF_RUNNING && LINK_STATE_DOWN == FB_LINK_STATE_DOWN, "IFF");
_Static_assert(offsetof(struct sockaddr_dl, sdl_nlen) == FB_SDL_NLEN_OFF, "sdl_nlen");
_Static_assert(offsetof(struct sockaddr_dl, sdl_data) == FB_SDL_DATA_OFF, "sdl_data");
_Static_assert(offsetof(struct sockaddr_in6, sin6_addr) == 8 && offsetof(struct sockaddr_in, sin_addr) == 4, "sockaddr");
#else
#define FB_SA_ALIGN             8
#endif

// Walk the sockaddrs after a message header of hlen bytes: one per set bit
// of addrs, in bit order, each padded to FB_SA_ALIGN.  Fills the interface
// name (RTAX_IFP) and either, for an address message, the address
// (RTAX_IFA) or, for a route message, the family of the destination
// (RTAX_DST).  0, or -1 when truncated.
static int
fb_sockaddrs_decode(
    const uint8_t *     msg,
    size_t              len,
    size_t              hlen,
    uint32_t            addrs,
    int                 route,
    struct route_event * ev)
{
    size_t              off = hlen;
    int                 i;

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
        if (i == (route ? FB_RTAX_DST : FB_RTAX_IFA) && salen >= 2)
        {
            if (sa[1] == FB_AF_INET && salen >= 8)
            {
                ev->family = AF_INET;
                if (!route)
                {
                    memcpy(ev->addr, sa + 4, 4);
                }
            }
            else if (sa[1] == FB_AF_INET6 && salen >= 24)
            {
                ev->family = AF_INET6;
                if (!route)
                {
                    memcpy(ev->addr, sa + 8, 16);
                }
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
    return 0;
}

// Decode one message (its length checked by the caller) into *ev; 0 when usable
static int
fb_message_decode(
    const uint8_t *     msg,
    size_t              mlen,
    const struct route_query * q,
    struct route_event * ev)
{
    uint32_t            flags;

    switch (msg[3])
    {
    case FB_RTM_IFANNOUNCE:
        if (mlen < FB_IFAN_LEN)
        {
            return -1;
        }
        ev->index = get16(msg + FB_IFAN_INDEX_OFF);
        event_name(ev, msg + FB_IFAN_NAME_OFF, FB_IFAN_WHAT_OFF - FB_IFAN_NAME_OFF);
        switch (get16(msg + FB_IFAN_WHAT_OFF))
        {
        case FB_IFAN_ARRIVAL:
            ev->kind = ROUTE_LINK_NEW;
            return 0;
        case FB_IFAN_DEPARTURE:
            ev->kind = ROUTE_LINK_GONE;
            return 0;
        }
        return -1;
    case FB_RTM_IFINFO:
        if (mlen < FB_IFM_MIN_LEN)
        {
            return -1;
        }
        flags = get32(msg + FB_IFM_FLAGS_OFF);
        ev->kind = ROUTE_LINK_NEW;
        ev->index = get16(msg + FB_IFM_INDEX_OFF);
        ev->flags = (flags & FB_IFF_UP ? ROUTE_F_UP : 0) |
                    ((flags & FB_IFF_RUNNING) && msg[FB_IFM_LINK_STATE_OFF] != FB_LINK_STATE_DOWN ? ROUTE_F_RUNNING : 0);
        return 0;
    case FB_RTM_NEWADDR:
    case FB_RTM_DELADDR:
        if (mlen < FB_IFAM_LEN)
        {
            return -1;
        }
        ev->kind = msg[3] == FB_RTM_DELADDR ? ROUTE_ADDR_GONE : ROUTE_ADDR_NEW;
        ev->index = get16(msg + FB_IFAM_INDEX_OFF);
        if (fb_sockaddrs_decode(msg, mlen, FB_IFAM_LEN, get32(msg + FB_IFAM_ADDRS_OFF), 0, ev) < 0 || ev->family == 0)
        {
            return -1;
        }
        return 0;
    case FB_RTM_ADD:
    case FB_RTM_DELETE:
    case FB_RTM_CHANGE:
    case FB_RTM_GET:
        if (mlen < FB_RTM_LEN)
        {
            return -1;
        }
        if (q && get32(msg + FB_RTM_PID_OFF) == q->sender && get32(msg + FB_RTM_SEQ_OFF) == q->seq)
        {
            // The answer to our query: the interface, unless it failed
            if (msg[3] != FB_RTM_GET)
            {
                return -1;
            }
            ev->kind = ROUTE_ANSWER;
            if (get32(msg + FB_RTM_ERRNO_OFF) == 0 &&
                fb_sockaddrs_decode(msg, mlen, FB_RTM_LEN, get32(msg + FB_RTM_ADDRS_OFF), 1, ev) == 0)
            {
                ev->index = get16(msg + FB_RTM_INDEX_OFF);
            }
            return 0;
        }
        if (msg[3] == FB_RTM_GET)
        {
            return -1;
        }
        // A change of a route: only its family matters (the supervisor
        // follows changes in its own); the rest is asked for again
        ev->kind = ROUTE_PATH;
        if (fb_sockaddrs_decode(msg, mlen, FB_RTM_LEN, get32(msg + FB_RTM_ADDRS_OFF), 1, ev) < 0)
        {
            return -1;
        }
        ev->name[0] = '\0';
        return 0;
    }
    return -1;
}

// Decode a buffer read from a PF_ROUTE socket (one message per read, but a
// buffer holding several is walked by their lengths)
static size_t
route_decode_freebsd(
    const void *        buf,
    size_t              len,
    const struct route_query * q,
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

        if (mlen < FB_MSG_HDR_LEN || mlen > len - off)
        {
            break;
        }
        off += mlen;
        if (msg[2] != FB_RTM_VERSION)
        {
            continue;
        }
        memset(&out[n], 0, sizeof(out[n]));
        n += fb_message_decode(msg, mlen, q, &out[n]) == 0;
    }
    return n;
}
#endif


//
// FreeBSD PF_ROUTE: the socket
//
#if defined(__FreeBSD__)
static int
route_socket_open(
    uint32_t *          sender)
{
    int                 fd;

    // Protocol 0: every family, or IFINFO and IFANNOUNCE are not delivered
    fd = socket(PF_ROUTE, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
    {
        return -1;
    }
#if defined(SO_RERROR)
    {
        int     one = 1;

        // Report overflows as ENOBUFS instead of dropping silently
        (void) setsockopt(fd, SOL_SOCKET, SO_RERROR, &one, sizeof(one));
    }
#endif
    *sender = (uint32_t) getpid();
    return fd;
}

static ssize_t
route_socket_read(
    int                 fd,
    uint8_t *           buf,
    size_t              size)
{
    return read(fd, buf, size);
}

// Ask which interface the route to the destination leaves by (RTM_GET with
// an empty link-level address for RTA_IFP, so the answer names it)
static int
route_query_send(
    int                 fd,
    uint32_t            seq)
{
    struct
    {
        struct rt_msghdr hdr;
        char            addrs[sizeof(struct sockaddr_in6) + sizeof(struct sockaddr_dl) + 16];
    }                   req;
    struct sockaddr_dl * sdl;
    size_t              dlen = cfg.dest_len;
    size_t              dspace = (dlen + sizeof(long) - 1) & ~(sizeof(long) - 1);

    memset(&req, 0, sizeof(req));
    req.hdr.rtm_version = RTM_VERSION;
    req.hdr.rtm_type = RTM_GET;
    req.hdr.rtm_flags = RTF_UP | RTF_HOST;
    req.hdr.rtm_addrs = RTA_DST | RTA_IFP;
    req.hdr.rtm_seq = (int) seq;
    memcpy(req.addrs, &cfg.dest, dlen);
    ((struct sockaddr *) req.addrs)->sa_len = (uint8_t) dlen;
    sdl = (struct sockaddr_dl *) (req.addrs + dspace);
    sdl->sdl_len = sizeof(*sdl);
    sdl->sdl_family = AF_LINK;
    req.hdr.rtm_msglen = (u_short) (sizeof(req.hdr) + dspace + sizeof(*sdl));
    return write(fd, &req, req.hdr.rtm_msglen) < 0 ? -1 : 0;
}

// The decoder of this kernel
#define route_decode            route_decode_freebsd
#endif


//
// Other systems: no routing watch (send errors and the fresh-socket check
// still work)
//
#if !defined(__linux__) && !defined(__FreeBSD__)
#define route_socket_open(sender)               (*(sender) = 0, errno = EPROTONOSUPPORT, -1)
#define route_socket_read(fd, buf, size)        (errno = EAGAIN, (ssize_t) -1)
#define route_query_send(fd, seq)               (-1)
#define route_decode(buf, len, q, out, max)     ((size_t) 0)
#endif


//
// What the routing watch follows: the interface owning -B (or the scope of
// a link-local address), matched by name since the index changes when an
// interface is recreated, and the -B address itself
//
struct watch
{
    char                ifname[IF_NAMESIZE];    // "" when unknown
    unsigned            ifindex;                // 0 when unknown
    int                 scoped;                 // the name comes from a %scope: the
                                                // sockets are bound to that interface
    int                 family;                 // of the -B address, 0 without -B
    uint8_t             addr[16];               // the -B address
};

// Is an address event about the bind address?
static int
route_event_is_bind_addr(
    const struct route_event * ev,
    const struct watch * w)
{
    return w->family && (ev->kind == ROUTE_ADDR_NEW || ev->kind == ROUTE_ADDR_GONE) &&
           ev->family == w->family && addr_equal(w->family, ev->addr, w->addr);
}

// Does an interface or address event concern the watched interface or address?
static int
route_event_concerns(
    const struct route_event * ev,
    const struct watch * w)
{
    if (ev->kind == ROUTE_RESYNC)
    {
        return 1;
    }
    if (ev->kind == ROUTE_PATH || ev->kind == ROUTE_ANSWER)
    {
        return 0;
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
    int                 up;                     // up and running
    int                 has_addr;               // the -B address is there (1 without -B)
    unsigned            index;
    char                owner[IF_NAMESIZE];     // interface holding the -B address, "" if none
};

static int
if_state_query(
    const struct watch * w,
    struct if_state *   st)
{
    struct ifaddrs *    list;
    struct ifaddrs *    ifa;
    unsigned            flags = 0;

    memset(st, 0, sizeof(*st));
    if (getifaddrs(&list) < 0)
    {
        // Nothing known (out of descriptors or memory): not a verdict
        return -1;
    }
    for (ifa = list; ifa; ifa = ifa->ifa_next)
    {
        if (w->family && ifa->ifa_addr &&
            sockaddr_is(ifa->ifa_addr, sizeof(struct sockaddr_storage), w->family, w->addr) &&
            (w->ifname[0] == '\0' || strcmp(ifa->ifa_name, w->ifname) == 0))
        {
            st->has_addr = 1;
            snprintf(st->owner, sizeof(st->owner), "%s", ifa->ifa_name);
        }
        if (w->ifname[0] && strcmp(ifa->ifa_name, w->ifname) == 0)
        {
            st->exists = 1;
            flags |= ifa->ifa_flags;
        }
    }
    freeifaddrs(list);
#if defined(__GLIBC__)
    // glibc's getifaddrs reads a netlink dump of every interface: with a few
    // hundred of them it grows the heap by about 400kB that free() keeps
    // dirty; hand those pages back (200 monitors on 200 gateways: 80MB)
    malloc_trim(0);
#endif

    if (w->ifname[0] == '\0' && st->has_addr)
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
    st->up = st->exists && (flags & IFF_UP) && (flags & IFF_RUNNING);
    st->has_addr |= w->family == 0;
    return 0;
}

// Find what to watch: the scope interface of a link-local -B or dest (by
// name, even while it does not exist), else the owner of -B
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

        w->scoped = 1;
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

// One line saying what an event was, for a rebuild's log line
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


//
// 8. Watchdog.  One checker, the watchdog thread, judges every heartbeat,
// main's included; main in turn guards the checker.  The action ladder, in
// one place (watchdog_decide):
//   - a stalled send or receive thread first gets a socket rebuild (done by
//     main) and a wake-up;
//   - still stalled one stall limit later, or any other thread stalled: a
//     restart in place, execve of our own binary with the original
//     arguments, so the pid, the pid file and the socket path stay.
// Restarts are spaced by reexec_gap_ms(), and held back while a thread is
// in an uninterruptible kernel wait: exec would wait for it after the
// status thread was already gone, whereas until then the status socket
// keeps answering.  A checker that itself woke more than a slice late was
// paused along with everyone (SIGSTOP, a suspended VM, a starved machine):
// it counts heartbeats from that moment on instead of judging them.
//
static _Atomic uint64_t resumed_at;             // last time the process was seen resuming from a pause

// Age of a thread's heartbeat as the watchdog sees it: counted from the
// last resume, or the end of the wait the thread announced, at the
// latest; 0 when it is not judged by time (not running, waiting on
// something outside our control, or waiting for work)
static uint64_t
heartbeat_age(
    int                 t,
    uint64_t            now)
{
    uint64_t            last;
    uint64_t            until = atomic_load_explicit(&threads[t].idle_until, memory_order_relaxed);
    uint64_t            resumed = atomic_load(&resumed_at);

    if (!atomic_load(&threads[t].running) || atomic_load(&threads[t].outside) || until == UINT64_MAX)
    {
        return 0;
    }
    last = atomic_load_explicit(&threads[t].beat, memory_order_relaxed);
    last = last > resumed ? last : resumed;
    return elapsed_since(now, last > until ? last : until);
}

// When the next heartbeat among threads [first, last] would pass the stall
// limit (so the checker looks exactly then); UINT64_MAX when none will
static uint64_t
watchdog_next_due(
    int                 first,
    int                 last,
    uint64_t            now)
{
    uint64_t            due = UINT64_MAX;
    int                 t;

    for (t = first; t <= last; t++)
    {
        uint64_t        age = heartbeat_age(t, now);
        uint64_t        at;

        if (!atomic_load(&threads[t].running) || atomic_load(&threads[t].outside) ||
            atomic_load(&threads[t].idle_until) == UINT64_MAX)
        {
            continue;
        }
        at = now - age + cfg.watchdog_limit + 1;
        if (at > now && at < due)
        {
            due = at;
        }
    }
    return due;
}

// The ladder for one thread whose heartbeat is `age` old; *acted is when
// the first step was taken for the current stall (0: none)
enum
{
    WD_NONE,                            // healthy, or waiting for the rebuild to help
    WD_REBUILD,                         // rebuild the sockets and wake the thread
    WD_RESTART                          // restart in place
};

static int
watchdog_decide(
    int                 t,
    uint64_t            age,
    uint64_t            limit,
    uint64_t *          acted,
    uint64_t            now)
{
    if (age <= limit)
    {
        *acted = 0;
        return WD_NONE;
    }
    if (t == TH_SEND || t == TH_RECV)
    {
        if (*acted == 0)
        {
            *acted = now;
            return WD_REBUILD;
        }
        if (now - *acted < limit)
        {
            return WD_NONE;
        }
    }
    return WD_RESTART;
}

// Was a checker that meant to run at `expected` paused with everyone?
static int
watchdog_was_paused(
    uint64_t            expected,
    uint64_t            now)
{
    return now > expected + SLICE_MS;
}


//
// Restart in place.  The new image sees REEXEC_ENV naming our own pid, does
// not fork, takes over the pid file that names its pid, adopts the listening
// status socket (queued clients get their line from it) and the statistics
// window, and carries on with the sequence.  Everything is prepared at
// start, so the restart allocates nothing.
//
struct reexec_state
{
    long                pid;            // the process that set it (must be us)
    unsigned            count;          // restarts so far
    uint64_t            last;           // monotonic ms of the last one
    uint32_t            generation;     // socket generation before it
    unsigned            seq;            // next sequence number to send
    int                 window_fd;      // the statistics window, or -1
    int                 usocket_fd;     // the listening status socket, or -1
};

static struct reexec_state reexec;      // main, at start
static int              reexecuted;     // main, at start: this image came from a restart
static char             reexec_env[160];
static char **          reexec_envp;    // our environment plus reexec_env
static _Atomic int      reexec_busy;    // whichever thread restarts first
static _Atomic int      reexec_noted;   // a deferral was logged

// Least time before the next restart after `count` of them: twice the
// stall limit, doubling each time, at most REEXEC_MAX_GAP_MS
static uint64_t
reexec_gap_ms(
    uint64_t            limit,
    unsigned            count)
{
    return backoff_ms(2 * limit, count, REEXEC_MAX_GAP_MS);
}

// Parse the carried state "v2:pid:count:last:generation:seq:window_fd:usocket_fd";
// 0 when it is well formed and names the process `self`
static int
reexec_state_parse(
    const char *        text,
    long                self,
    struct reexec_state * out)
{
    unsigned long long  last;
    long                pid;
    unsigned            count;
    unsigned            generation;
    unsigned            seq;
    int                 wfd;
    int                 ufd;
    int                 used = 0;

    if (text == NULL ||
        sscanf(text, "v2:%ld:%u:%llu:%u:%u:%d:%d%n", &pid, &count, &last, &generation, &seq, &wfd, &ufd, &used) != 7 ||
        text[used] != '\0' || pid != self)
    {
        return -1;
    }
    out->pid = pid;
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
        close_keep_errno(fd);
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

// A thread in an uninterruptible kernel wait (Linux: state D in /proc),
// which an exec would wait for; -1 when there is none (or it cannot be told)
static int
thread_in_kernel_wait(void)
{
#if defined(__linux__)
    int                 t;

    for (t = 0; t < TH_COUNT; t++)
    {
        char            path[64];
        char            buf[512];
        const char *    end;
        ssize_t         len;
        int             fd;
        int             tid = atomic_load(&threads[t].kernel_tid);

        if (!atomic_load(&threads[t].running) || tid <= 0)
        {
            continue;
        }
        snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
        {
            continue;
        }
        len = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (len <= 0)
        {
            continue;
        }
        buf[len] = '\0';
        // "tid (name) S ...": the state follows the last parenthesis
        end = strrchr(buf, ')');
        if (end && end[1] == ' ' && end[2] == 'D')
        {
            return t;
        }
    }
#endif
    return -1;
}

static void
restart_in_place(
    int                 t,
    uint64_t            stalled_ms)
{
    uint64_t            now = now_ms();
    unsigned            count = reexec.count;
    int                 stuck;

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
        if (!atomic_exchange(&reexec_noted, 1))
        {
            log_dest(LL_D_WD_DEFERRED, threads[t].name, (unsigned long) (stalled_ms / 1000u),
                     (unsigned long) ((reexec.last + reexec_gap_ms(cfg.watchdog_limit, count) - now + 999) / 1000u));
        }
        atomic_store(&reexec_busy, 0);
        return;
    }
    stuck = thread_in_kernel_wait();
    if (stuck >= 0)
    {
        if (!atomic_exchange(&reexec_noted, 1))
        {
            log_dest(LL_D_WD_KERNEL, threads[stuck].name, (unsigned long) (stalled_ms / 1000u));
        }
        atomic_store(&reexec_busy, 0);
        return;
    }

    log_dest(LL_D_WD_RESTART, threads[t].name, (unsigned long) (stalled_ms / 1000u));
    snprintf(reexec_env, sizeof(reexec_env), REEXEC_ENV "=v2:%ld:%u:%llu:%u:%u:%d:%d",
             (long) getpid(), count + 1, (unsigned long long) now, (unsigned) atomic_load(&icmp.generation),
             (unsigned) atomic_load(&icmp.next_seq), window_export(),
             usocket_fd >= 0 && fcntl(usocket_fd, F_SETFD, 0) == 0 ? usocket_fd : -1);
    execve(self_path, saved_argv, reexec_envp);

    log_dest(LL_D_WD_EXEC, self_path, strerror(errno));
    cleanup_files();
    _exit(1);
}


// Is a status client waiting to be taken?
static int
clients_waiting(void)
{
    struct pollfd       pfd = { usocket_fd, POLLIN, 0 };

    return poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN);
}

//
// The watchdog thread: the one checker.  It sleeps until the first
// heartbeat could pass the limit, and watches the status socket: a client
// still queued STATUS_SETTLE_MS after it was seen means the status thread
// is not taking it, and counts as its stall from that moment.
//
static void *
watchdog_thread(
    void *              arg)
{
    uint64_t            acted[TH_COUNT] = { 0 };
    uint64_t            expected = now_ms();
    uint64_t            queued = 0;     // when a status client was seen queued (0: none)

    (void) arg;
    thread_name(TH_WATCHDOG);
    for (;;)
    {
        struct pollfd   pfd = { usocket_fd, POLLIN, 0 };
        struct timespec ts;
        uint64_t        now;
        uint64_t        due;
        int             watch_clients;
        int             t;

        now = now_ms();
        idle(TH_WATCHDOG, 0);
        if (watchdog_was_paused(expected, now))
        {
            // Nobody ran, this thread included: not a hang
            atomic_store(&resumed_at, now);
            if (now - expected >= cfg.watchdog_limit)
            {
                log_dest(LL_D_WD_PAUSED, (unsigned long) ((now - expected) / 1000u));
            }
        }
        if (queued)
        {
            // Nobody waits any more: taken (the status thread may have
            // taken the client even before this thread saw it arrive)
            if (!clients_waiting())
            {
                queued = 0;
            }
            // Someone waits, but the status thread has been at work since
            else if (atomic_load(&threads[TH_STATUS].beat) >= queued || atomic_load(&resumed_at) >= queued)
            {
                queued = now;
            }
        }
        for (t = 0; t < TH_COUNT; t++)
        {
            uint64_t    age = heartbeat_age(t, now);

            if (t == TH_STATUS && queued)
            {
                age = now - queued;
            }
            if (t == TH_WATCHDOG)
            {
                continue;
            }
            switch (watchdog_decide(t, age, cfg.watchdog_limit, &acted[t], now))
            {
            case WD_REBUILD:
                log_dest(LL_D_WD_REBUILD, threads[t].name, (unsigned long) (age / 1000u));
                atomic_fetch_or(&watchdog_wanted, 1u << t);
                thread_wake(TH_MAIN);
                thread_wake(t);
                break;
            case WD_RESTART:
                restart_in_place(t, age);
                break;
            }
        }

        // Sleep until a heartbeat could pass the limit, or a client is queued
        due = watchdog_next_due(0, TH_COUNT - 1, now);
        if (queued)
        {
            uint64_t    look = now < queued + STATUS_SETTLE_MS ? queued + STATUS_SETTLE_MS : queued + cfg.watchdog_limit + 1;

            due = look < due ? look : due;
        }
        if (due <= now)
        {
            // A stall whose restart is held back: look again in a slice
            due = now + SLICE_MS;
        }
        if (due > now + RECONCILE_MS)
        {
            due = now + RECONCILE_MS;
        }
        watch_clients = usocket_fd >= 0 && !queued && atomic_load(&threads[TH_STATUS].running);
        expected = due;
        idle(TH_WATCHDOG, due);
        ts.tv_sec = (time_t) ((due - now) / 1000u);
        ts.tv_nsec = (long) ((due - now) % 1000u) * 1000000L;
        if (ppoll(&pfd, watch_clients ? 1 : 0, &ts, NULL) > 0 && (pfd.revents & POLLIN))
        {
            queued = now_ms();
        }
    }
    return NULL;
}

// Main's guard over the checker
static void
watchdog_guard(
    uint64_t            now)
{
    uint64_t            age = heartbeat_age(TH_WATCHDOG, now);

    if (age > cfg.watchdog_limit)
    {
        restart_in_place(TH_WATCHDOG, age);
    }
}


//
// 9. Supervisor: main's poll loop over the routing socket and the
// fresh-socket check, with every deadline in one timer table, and the
// recovery policy as an explicit state machine.
//
// The recovery states:
//   HEALTHY   replies arrive (or none are due yet)
//   WAITING   the watched interface is gone or down, lacks the bind address,
//             or there is no route: nothing to rebuild, wait for it
//   REBUILD   a rebuild is due when T_REBUILD fires (at once, after the storm
//             guard's gap, or as a retry of a bind that failed)
//   CONFIRM   the sockets were rebuilt; waiting for the first reply
//   CHECKING  no reply for a loss interval while requests go out: a
//             fresh-socket check is on its way
//   OUTAGE    the check went unanswered too: a real outage; checked again
//             once per check window
// recovery_step() is pure: it takes the state, one event and the time, and
// returns the actions to take and the line to log, with the recovery's
// deadlines set in the timer table.  The supervisor performs the actions
// and feeds a rebuild's outcome back as the next event.
//
enum timer_id
{
    T_REBUILD,                          // the pending rebuild (or its retry) is due
    T_QUIET,                            // look for silence (or check again in an outage)
    T_CHECK,                            // the fresh-socket check times out
    T_DEBOUNCE,                         // routing events settled: look at the interface
    T_ROUTE,                            // route changes settled: ask for the route
    T_RECONCILE,                        // periodic look at the interface and the route
    T_GUARD,                            // main's look at the watchdog thread
    T_COUNT
};

// The earliest armed deadline (0 is "not armed"); UINT64_MAX when none
static uint64_t
timer_next(
    const uint64_t *    timer)
{
    uint64_t            next = UINT64_MAX;
    int                 i;

    for (i = 0; i < T_COUNT; i++)
    {
        if (timer[i] && timer[i] < next)
        {
            next = timer[i];
        }
    }
    return next;
}

// Has an armed timer fired?  It is disarmed when it has.
static int
timer_fired(
    uint64_t *          timer,
    int                 id,
    uint64_t            now)
{
    if (timer[id] == 0 || timer[id] > now)
    {
        return 0;
    }
    timer[id] = 0;
    return 1;
}


enum recovery_state
{
    RS_HEALTHY,
    RS_WAITING,
    RS_REBUILD,
    RS_CONFIRM,
    RS_CHECKING,
    RS_OUTAGE
};

enum recovery_event_kind
{
    RE_REPLY,                           // replies arrived (last_reply: the latest)
    RE_QUIET,                           // T_QUIET fired (last_reply, sends_ok)
    RE_SEND_STALE,                      // -E stale-path send errors in a row (reason)
    RE_SIGHUP,
    RE_WATCHDOG,                        // the send or receive thread stalled (reason)
    RE_PATH_GONE,                       // the watched interface is gone
    RE_PATH_DOWN,                       // it is down
    RE_ADDR_GONE,                       // the bind address is on no interface we watch
    RE_NO_ROUTE,                        // the kernel has no route to the destination
    RE_PATH_BACK,                       // usable, and the sockets' binding still holds
    RE_PATH_CHANGED,                    // usable, but the interface was recreated (or the
                                        // sockets are placeholders): rebuild (reason)
    RE_REBUILD_DUE,                     // T_REBUILD fired
    RE_REBUILT,                         // the rebuild worked
    RE_REBUILD_FAILED,                  // it could not open or bind (err, stage)
    RE_CHECK_ANSWERED,                  // the fresh-socket check was answered (last_reply, reason)
    RE_CHECK_TIMEOUT,                   // T_CHECK fired
    RE_CHECK_UNSENT,                    // the check could not even be sent (no socket, no bind)
    RE_RESUMED                          // the whole process was paused: silence counts from now
};

struct recovery_event
{
    int                 kind;
    uint64_t            last_reply;     // monotonic ms of the latest accepted reply, 0: none yet
    int                 sends_ok;       // RE_QUIET: requests go out without errors
    int                 binding_stale;  // RE_PATH_CHANGED: the old sockets were bound to the
                                        // interface that went away
    int                 err;            // RE_REBUILD_FAILED
    const char *        stage;          // RE_REBUILD_FAILED
    const char *        reason;         // what asked for a rebuild
};

// What to log after a step
enum recovery_note
{
    RN_NONE,
    RN_WAIT_GONE,
    RN_WAIT_DOWN,
    RN_WAIT_ADDR,
    RN_WAIT_NO_ROUTE,
    RN_REBUILT,
    RN_REBUILD_FAILED,
    RN_HEALED,                          // value: ms from the first trigger to the reply
    RN_RESUMED,                         // value: ms of silence
    RN_RESUMED_REBUILT,                 // value: ms of silence
    RN_REAL_OUTAGE                      // value: ms of silence
};

// Actions
#define RA_REBUILD              0x01    // rebuild now, then report RE_REBUILT or RE_REBUILD_FAILED
#define RA_CHECK_START          0x02    // send a fresh-socket check
#define RA_CHECK_STOP           0x04    // forget the check
#define RA_HOLD                 0x08    // hold echo requests back (the bind address is gone)
#define RA_RELEASE              0x10    // send them again
#define RA_SEND_NOW             0x20    // send the next request at once

struct recovery_out
{
    int                 actions;        // RA_*
    int                 note;           // RN_*
    uint64_t            value;          // for the note
    const char *        evidence;       // RN_HEALED: EVIDENCE_*
};

// Why the old sockets are known to have been the problem: only then does a
// reply after a rebuild earn the word "healed"
#define EVIDENCE_SEND           "the old sockets could not send"
#define EVIDENCE_CHECK          "a fresh socket was answered, the old identifier was not"
#define EVIDENCE_BINDING        "the old sockets were bound to an interface that went away"

struct recovery
{
    int                 state;          // RS_*
    uint64_t            send_ms;        // the send interval
    uint64_t            loss_ms;        // the loss interval
    uint64_t            quiet_ms;       // silence this long (a request unanswered for a
                                        // whole loss interval) starts a check
    uint64_t            window_ms;      // least time between checks in an outage

    uint64_t            started;        // start-up: no reply is due before it
    uint64_t            last_reply;     // the latest reply seen
    uint64_t            fresh;          // last rebuild or return of the path: silence counts from here

    // The current trouble (trouble_since 0: none)
    uint64_t            trouble_since;  // the first trigger
    uint64_t            silent_since;   // the last reply before it (or the start)
    int                 rebuilt;        // the sockets were rebuilt during it
    const char *        evidence;       // EVIDENCE_*, or NULL
    int                 outage_noted;
    int                 waiting;        // the RN_WAIT_* note given, 0 when not waiting
    int                 held;           // echo requests are held back

    // Rebuilds
    char                reason[128];    // of the pending rebuild: the latest trigger
    int                 guarded;        // the pending rebuild respects the storm guard
    uint64_t            hup_since;      // first SIGHUP of the burst the pending rebuild waits for
    unsigned            storm;          // rebuilds since the last reply
    uint64_t            last_rebuild;
    int                 failing;        // the last attempt could not open or bind
    int                 fail_errno;
    const char *        fail_stage;
    uint64_t            fail_since;
    uint64_t            retry_delay;
    uint64_t            check_sent;     // when the fresh-socket check went out
};

// Back-off for rebuilds that cannot open or bind: every send interval for
// the first BIND_FAST_MS of failure, then doubling up to BACKOFF_MAX_MS
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
    return backoff_ms(STORM_BASE_MS, storm, BACKOFF_MAX_MS);
}

static void
recovery_init(
    struct recovery *   r,
    uint64_t *          timer,
    uint64_t            send_ms,
    uint64_t            loss_ms,
    uint64_t            now)
{
    memset(r, 0, sizeof(*r));
    r->state = RS_HEALTHY;
    r->send_ms = send_ms;
    r->loss_ms = loss_ms;
    r->quiet_ms = loss_ms + send_ms;
    r->window_ms = 2 * loss_ms > CHECK_WINDOW_MIN_MS ? 2 * loss_ms : CHECK_WINDOW_MIN_MS;
    r->started = now;
    r->fresh = now;
    timer[T_QUIET] = now + r->quiet_ms;
}

// Trouble begins (if it has not already): remember when, and the last reply
static void
recovery_trouble(
    struct recovery *   r,
    uint64_t            now)
{
    if (r->trouble_since == 0)
    {
        r->trouble_since = now;
        r->silent_since = r->last_reply > r->started ? r->last_reply : r->started;
    }
}

// Ask for a rebuild.  Guarded requests (send errors, the check) respect the
// storm guard; a burst of SIGHUPs settles into one rebuild when it pauses
// (or at most HUP_WAIT_MAX_MS after it began); the others (routing,
// watchdog) go at once.  Requests coalesce into one pending rebuild that
// carries the latest trigger as its reason.
#define RQ_GUARDED              0x1
#define RQ_HUP                  0x2

static void
recovery_request(
    struct recovery *   r,
    uint64_t *          timer,
    uint64_t            now,
    const char *        reason,
    int                 flags)
{
    uint64_t            due = now;

    if ((flags & RQ_GUARDED) && r->storm && r->last_rebuild + storm_gap_ms(r->storm) > due)
    {
        due = r->last_rebuild + storm_gap_ms(r->storm);
    }
    if (flags & RQ_HUP)
    {
        if (r->state != RS_REBUILD || r->hup_since == 0)
        {
            r->hup_since = now;
        }
        due = now + HUP_SETTLE_MS < r->hup_since + HUP_WAIT_MAX_MS ? now + HUP_SETTLE_MS : r->hup_since + HUP_WAIT_MAX_MS;
        if (r->state == RS_REBUILD && !r->failing)
        {
            // The burst goes on: later, but not beyond its limit
            timer[T_REBUILD] = due;
        }
    }
    snprintf(r->reason, sizeof(r->reason), "%s", reason ? reason : "");
    if (r->state == RS_REBUILD)
    {
        // Already pending: the sooner wins, but bind retries keep their pace
        if (!(r->failing && (flags & RQ_GUARDED)) && due < timer[T_REBUILD])
        {
            timer[T_REBUILD] = due;
        }
        r->guarded &= (flags & RQ_GUARDED) != 0;
        return;
    }
    r->state = RS_REBUILD;
    r->guarded = (flags & RQ_GUARDED) != 0;
    r->failing = 0;
    timer[T_REBUILD] = due;
    timer[T_QUIET] = 0;
    timer[T_CHECK] = 0;
}

// Replies again: the trouble, if any, is over; say how it ended
static void
recovery_replies(
    struct recovery *   r,
    uint64_t *          timer,
    struct recovery_out * out)
{
    if (r->trouble_since)
    {
        uint64_t        silence = elapsed_since(r->last_reply, r->silent_since);

        if (r->rebuilt && r->evidence)
        {
            out->note = RN_HEALED;
            out->value = elapsed_since(r->last_reply, r->trouble_since);
            out->evidence = r->evidence;
        }
        else if (silence >= r->loss_ms)
        {
            out->note = r->rebuilt ? RN_RESUMED_REBUILT : RN_RESUMED;
            out->value = silence;
        }
    }
    if (r->state == RS_CHECKING)
    {
        out->actions |= RA_CHECK_STOP;
    }
    if (r->state == RS_REBUILD && r->guarded)
    {
        // Asked for by send errors or the check, which the replies answer
        timer[T_REBUILD] = 0;
        r->state = RS_HEALTHY;
    }
    if (r->state != RS_REBUILD)
    {
        r->state = RS_HEALTHY;
    }
    if (r->held)
    {
        out->actions |= RA_RELEASE;
        r->held = 0;
    }
    r->trouble_since = 0;
    r->rebuilt = 0;
    r->evidence = NULL;
    r->outage_noted = 0;
    r->waiting = 0;
    r->storm = 0;
    if (r->state != RS_REBUILD)
    {
        r->failing = 0;
    }
    timer[T_CHECK] = 0;
    timer[T_QUIET] = r->state == RS_HEALTHY ? r->last_reply + r->quiet_ms : 0;
}

static struct recovery_out
recovery_step(
    struct recovery *   r,
    uint64_t *          timer,
    const struct recovery_event * ev,
    uint64_t            now)
{
    struct recovery_out out = { 0, RN_NONE, 0, NULL };
    uint64_t            since;

    switch (ev->kind)
    {
    case RE_REPLY:
        if (ev->last_reply > r->last_reply)
        {
            r->last_reply = ev->last_reply;
            if (r->state != RS_WAITING || !r->held)
            {
                recovery_replies(r, timer, &out);
            }
        }
        break;

    case RE_QUIET:
        if (ev->last_reply > r->last_reply)
        {
            // Replies we had not heard of yet
            r->last_reply = ev->last_reply;
            recovery_replies(r, timer, &out);
            break;
        }
        if (r->state != RS_HEALTHY && r->state != RS_CONFIRM && r->state != RS_OUTAGE)
        {
            break;
        }
        since = r->last_reply > r->fresh ? r->last_reply : r->fresh;
        if (r->state != RS_OUTAGE && elapsed_since(now, since) < r->quiet_ms)
        {
            timer[T_QUIET] = since + r->quiet_ms;
            break;
        }
        if (!ev->sends_ok)
        {
            // Requests are not going out: the send-error trigger speaks for them
            timer[T_QUIET] = now + (r->state == RS_OUTAGE ? r->window_ms : r->quiet_ms);
            break;
        }
        recovery_trouble(r, now);
        r->state = RS_CHECKING;
        r->check_sent = now;
        out.actions |= RA_CHECK_START;
        timer[T_CHECK] = now + r->loss_ms;
        break;

    case RE_CHECK_ANSWERED:
        if (r->state != RS_CHECKING)
        {
            break;
        }
        out.actions |= RA_CHECK_STOP;
        timer[T_CHECK] = 0;
        if (ev->last_reply > r->last_reply)
        {
            // The old identifier is answered too: only slow
            r->last_reply = ev->last_reply;
            recovery_replies(r, timer, &out);
            break;
        }
        r->evidence = EVIDENCE_CHECK;
        r->state = RS_HEALTHY;
        recovery_request(r, timer, now, ev->reason, RQ_GUARDED);
        break;

    case RE_CHECK_TIMEOUT:
        if (r->state != RS_CHECKING)
        {
            break;
        }
        out.actions |= RA_CHECK_STOP;
        r->state = RS_OUTAGE;
        timer[T_QUIET] = now + r->window_ms;
        if (!r->outage_noted)
        {
            r->outage_noted = 1;
            out.note = RN_REAL_OUTAGE;
            out.value = elapsed_since(now, r->last_reply > r->started ? r->last_reply : r->started);
        }
        break;

    case RE_CHECK_UNSENT:
        // Nothing learned: look again one window later, say nothing
        if (r->state == RS_CHECKING)
        {
            r->state = r->outage_noted ? RS_OUTAGE : RS_HEALTHY;
            timer[T_CHECK] = 0;
            timer[T_QUIET] = now + r->window_ms;
        }
        break;

    case RE_SEND_STALE:
        if (r->state == RS_WAITING)
        {
            // We know: the path is gone, and a new socket cannot bring it back
            break;
        }
        if (r->state == RS_CHECKING)
        {
            out.actions |= RA_CHECK_STOP;
            timer[T_CHECK] = 0;
        }
        recovery_trouble(r, now);
        r->evidence = r->evidence ? r->evidence : EVIDENCE_SEND;
        recovery_request(r, timer, now, ev->reason, RQ_GUARDED);
        break;

    case RE_SIGHUP:
    case RE_WATCHDOG:
        if (r->state == RS_CHECKING)
        {
            out.actions |= RA_CHECK_STOP;
            timer[T_CHECK] = 0;
        }
        recovery_request(r, timer, now, ev->reason, ev->kind == RE_SIGHUP ? RQ_HUP : 0);
        break;

    case RE_PATH_GONE:
    case RE_PATH_DOWN:
    case RE_ADDR_GONE:
    case RE_NO_ROUTE:
    {
        int     note = ev->kind == RE_PATH_GONE ? RN_WAIT_GONE : ev->kind == RE_PATH_DOWN ? RN_WAIT_DOWN :
                       ev->kind == RE_ADDR_GONE ? RN_WAIT_ADDR : RN_WAIT_NO_ROUTE;

        if (note == RN_WAIT_NO_ROUTE &&
            ((r->waiting && r->waiting != note) || elapsed_since(now, ev->last_reply) < r->loss_ms))
        {
            // The route went with the interface or its address, which was
            // said; or replies arrive, so there is a way after all
            break;
        }
        if (r->waiting != note)
        {
            r->waiting = note;
            out.note = note;
        }
        if (r->state == RS_CHECKING)
        {
            out.actions |= RA_CHECK_STOP;
        }
        if (ev->kind == RE_ADDR_GONE && !r->held)
        {
            // Replies to an address now gone could reach whoever gets it next
            r->held = 1;
            out.actions |= RA_HOLD;
        }
        recovery_trouble(r, now);
        r->state = RS_WAITING;
        r->failing = 0;
        timer[T_REBUILD] = 0;
        timer[T_QUIET] = 0;
        timer[T_CHECK] = 0;
        break;
    }

    case RE_PATH_BACK:
        if (r->state != RS_WAITING)
        {
            break;
        }
        r->waiting = 0;
        r->state = RS_HEALTHY;
        r->fresh = now;
        timer[T_QUIET] = now + r->quiet_ms;
        out.actions |= RA_SEND_NOW;
        if (r->held)
        {
            r->held = 0;
            out.actions |= RA_RELEASE;
        }
        break;

    case RE_PATH_CHANGED:
        if (r->state == RS_CHECKING)
        {
            out.actions |= RA_CHECK_STOP;
            timer[T_CHECK] = 0;
        }
        r->waiting = 0;
        recovery_trouble(r, now);
        if (ev->binding_stale)
        {
            r->evidence = EVIDENCE_BINDING;
        }
        if (r->state == RS_WAITING)
        {
            r->state = RS_HEALTHY;
        }
        recovery_request(r, timer, now, ev->reason, 0);
        break;

    case RE_RESUMED:
        // Nobody sent or read while the process was stopped: not an outage
        r->fresh = now;
        if (r->state == RS_HEALTHY || r->state == RS_CONFIRM)
        {
            timer[T_QUIET] = now + r->quiet_ms;
        }
        break;

    case RE_REBUILD_DUE:
        if (r->state == RS_REBUILD)
        {
            out.actions |= RA_REBUILD;
        }
        break;

    case RE_REBUILT:
        out.note = RN_REBUILT;
        out.actions |= RA_SEND_NOW;
        if (r->held)
        {
            r->held = 0;
            out.actions |= RA_RELEASE;
        }
        if (r->trouble_since)
        {
            r->rebuilt = 1;
            r->storm++;
        }
        r->last_rebuild = now;
        r->fresh = now;
        r->failing = 0;
        r->hup_since = 0;
        r->state = RS_CONFIRM;
        timer[T_REBUILD] = 0;
        timer[T_QUIET] = now + r->quiet_ms;
        break;

    case RE_REBUILD_FAILED:
        if (!r->failing)
        {
            r->failing = 1;
            r->fail_since = now;
            r->retry_delay = 0;
            r->fail_errno = 0;
            r->fail_stage = NULL;
        }
        r->retry_delay = bind_retry_delay(r->send_ms, now - r->fail_since, r->retry_delay);
        if (r->fail_since == now || ev->err != r->fail_errno || ev->stage != r->fail_stage)
        {
            out.note = RN_REBUILD_FAILED;
            out.value = r->retry_delay;
        }
        r->fail_errno = ev->err;
        r->fail_stage = ev->stage;
        r->state = RS_REBUILD;
        timer[T_REBUILD] = now + r->retry_delay;
        break;
    }
    return out;
}


//
// The supervisor's state; main's alone
//
struct supervisor
{
    struct recovery     rc;
    uint64_t            timer[T_COUNT];
    uint64_t            expected;               // when main meant to wake (pause detection)

    // Routing watch
    int                 route_fd;               // -1 with -N or when it cannot be opened
    struct route_query  query;                  // our route query, to tell its answer
    struct watch        watch;
    unsigned            built_index;            // the watched interface when the sockets were made
    int                 departed;               // it departed since
    int                 resync;                 // events were lost
    uint64_t            last_resync;
    char                event_reason[96];       // the latest event that concerns us
    int                 route_elsewhere;        // probes leave by another interface
    uint64_t            no_route_since;         // the first of the answers saying "no route"

    // Fresh-socket check
    int                 check_fd;
    uint16_t            check_ident;
};

// Log what a step says
static void
supervisor_note(
    struct supervisor * sv,
    const struct recovery_out * out)
{
    const char *        ifname = sv->watch.ifname[0] ? sv->watch.ifname : "its interface";
    char                addr[INET6_ADDRSTRLEN + 1];

    switch (out->note)
    {
    case RN_WAIT_GONE:
        log_dest(LL_D_WAIT_GONE, ifname);
        break;
    case RN_WAIT_DOWN:
        log_dest(LL_D_WAIT_DOWN, ifname);
        break;
    case RN_WAIT_ADDR:
        snprintf(addr, sizeof(addr), "%.*s", (int) strcspn(cfg.bind_str, "%"), cfg.bind_str);
        log_dest(LL_D_WAIT_ADDR, addr, ifname);
        break;
    case RN_WAIT_NO_ROUTE:
        log_dest(LL_D_WAIT_NO_ROUTE, cfg.dest_str);
        break;
    case RN_REBUILT:
        log_dest(LL_D_REBUILT, sv->rc.reason, (unsigned) atomic_load(&icmp.generation),
                 (unsigned) (atomic_load(&icmp.idents) >> 16));
        atomic_store(&icmp.last_rebuild_log, now_ms());
        break;
    case RN_REBUILD_FAILED:
        log_dest(LL_D_REBUILD_FAILED, sv->rc.reason, sv->rc.fail_stage, strerror(sv->rc.fail_errno),
                 (unsigned long) (out->value / 1000u), (unsigned long) (out->value % 1000u / 100u));
        atomic_store(&icmp.last_rebuild_log, now_ms());
        break;
    case RN_HEALED:
        log_dest(LL_D_HEALED, (unsigned long) (out->value / 1000u), (unsigned long) (out->value % 1000u / 100u),
                 out->evidence, (unsigned) atomic_load(&icmp.generation));
        break;
    case RN_RESUMED:
        log_dest(LL_D_RESUMED, (unsigned long) (out->value / 1000u));
        break;
    case RN_RESUMED_REBUILT:
        log_dest(LL_D_RESUMED_REBUILT, (unsigned long) (out->value / 1000u), (unsigned) atomic_load(&icmp.generation));
        break;
    case RN_REAL_OUTAGE:
        // With the route leaving by another interface, that line said it all
        if (!sv->route_elsewhere)
        {
            log_dest(LL_D_REAL_OUTAGE, (unsigned long) (out->value / 1000u));
        }
        break;
    }
}

static void
check_stop(
    struct supervisor * sv)
{
    if (sv->check_fd >= 0)
    {
        close(sv->check_fd);
        sv->check_fd = -1;
    }
}

// Take one event through the state machine and perform what it asks; a
// rebuild's outcome goes straight back in
static void
supervisor_dispatch(
    struct supervisor * sv,
    struct recovery_event * ev,
    uint64_t            now)
{
    struct recovery_event next;
    int                 rounds;

    for (rounds = 0; ev && rounds < 4; rounds++)
    {
        struct recovery_out out = recovery_step(&sv->rc, sv->timer, ev, now);
        const char *    stage = "";

        ev = NULL;
        if (out.actions & RA_CHECK_STOP)
        {
            check_stop(sv);
        }
        if (out.actions & RA_HOLD)
        {
            atomic_store(&icmp.hold, 1);
        }
        if (out.actions & RA_RELEASE)
        {
            atomic_store(&icmp.hold, 0);
        }
        supervisor_note(sv, &out);
        if (out.actions & RA_CHECK_START)
        {
            check_stop(sv);
            sv->check_ident = check_ident();
            sv->check_fd = check_send(sv->check_ident);
            if (sv->check_fd < 0)
            {
                memset(&next, 0, sizeof(next));
                next.kind = RE_CHECK_UNSENT;
                ev = &next;
            }
        }
        if (out.actions & RA_REBUILD)
        {
            memset(&next, 0, sizeof(next));
            if (icmp_socks_rebuild(&stage) == 0)
            {
                next.kind = RE_REBUILT;
                watch_refresh(&sv->watch);
                sv->built_index = sv->watch.ifindex;
                sv->departed = 0;
                check_stop(sv);
            }
            else
            {
                next.kind = RE_REBUILD_FAILED;
                next.err = errno;
                next.stage = stage;
            }
            ev = &next;
        }
        if (out.actions & RA_SEND_NOW)
        {
            atomic_store(&icmp.send_now, 1);
            thread_wake(TH_SEND);
        }
    }
    // Outside plain health, the receive thread wakes us at the next reply
    atomic_store(&icmp.reply_wanted, sv->rc.state != RS_HEALTHY || sv->rc.trouble_since != 0);
}

// Are echo requests going out?  Sent without error lately, none held back
static int
sends_ok_now(
    uint64_t            now)
{
    uint64_t            ok = atomic_load(&icmp.last_send_ok);

    return ok && atomic_load(&icmp.stale_errors) == 0 && !atomic_load(&icmp.hold) &&
           elapsed_since(now, ok) <= 2 * (uint64_t) cfg.send_interval + SLICE_MS;
}

// Dispatch an event with the current reply time and send state
static void
supervisor_event(
    struct supervisor * sv,
    int                 kind,
    const char *        reason,
    uint64_t            now)
{
    struct recovery_event ev;

    memset(&ev, 0, sizeof(ev));
    ev.kind = kind;
    ev.reason = reason;
    ev.last_reply = atomic_load(&icmp.last_reply);
    ev.sends_ok = sends_ok_now(now);
    supervisor_dispatch(sv, &ev, now);
}


//
// The routing watch, main's side: events become a look at the real state
// (route_settle) or a question to the kernel about the route (route_query)
//

// Ask the kernel which interface the route to the destination leaves by
static void
route_query(
    struct supervisor * sv)
{
    if (sv->route_fd >= 0)
    {
        sv->query.seq++;
        (void) route_query_send(sv->route_fd, sv->query.seq);
    }
}

// Look at the watched interface as it is now and tell the state machine
static void
route_settle(
    struct supervisor * sv,
    uint64_t            now)
{
    struct recovery_event ev;
    struct if_state     st;
    uint64_t            heard;

    memset(&ev, 0, sizeof(ev));
    ev.reason = sv->event_reason[0] ? sv->event_reason : "route: interface changed";
    ev.last_reply = atomic_load(&icmp.last_reply);
    if (sv->watch.ifname[0] == '\0' && sv->watch.family == 0)
    {
        // Nothing bound: a rebuild is worth it only while nothing answers
        heard = ev.last_reply > sv->rc.started ? ev.last_reply : sv->rc.started;
        if ((sv->resync || sv->event_reason[0]) && elapsed_since(now, heard) > cfg.loss_interval)
        {
            ev.kind = RE_PATH_CHANGED;
            supervisor_dispatch(sv, &ev, now);
        }
        sv->event_reason[0] = '\0';
        sv->resync = 0;
        return;
    }
    if (if_state_query(&sv->watch, &st) < 0)
    {
        // Out of descriptors or memory: look again in a second
        sv->timer[T_DEBOUNCE] = now + SLICE_MS;
        return;
    }
    if (sv->watch.ifname[0] && !st.exists)
    {
        ev.kind = RE_PATH_GONE;
        sv->departed = 1;
    }
    else if (sv->watch.ifname[0] && !st.up)
    {
        ev.kind = RE_PATH_DOWN;
    }
    else if (!st.has_addr)
    {
        struct watch    anywhere = sv->watch;
        struct if_state there;

        // The address may have moved to another interface
        anywhere.ifname[0] = '\0';
        if (!sv->watch.scoped && if_state_query(&anywhere, &there) == 0 && there.owner[0] && there.up)
        {
            watch_refresh(&sv->watch);
            ev.kind = RE_PATH_CHANGED;
        }
        else
        {
            ev.kind = RE_ADDR_GONE;
        }
    }
    else if (sv->departed || st.index != sv->built_index || !atomic_load(&icmp.real))
    {
        ev.kind = RE_PATH_CHANGED;
        ev.binding_stale = sv->watch.scoped && sv->built_index && st.index != sv->built_index;
    }
    else
    {
        ev.kind = RE_PATH_BACK;
    }
    supervisor_dispatch(sv, &ev, now);
    sv->event_reason[0] = '\0';
    sv->resync = 0;
    sv->no_route_since = 0;
    route_query(sv);
}

// The kernel's answer to our route query
static void
route_answer(
    struct supervisor * sv,
    const struct route_event * ev,
    uint64_t            now)
{
    char                out[IF_NAMESIZE];

    if (ev->index == 0)
    {
        // No route: believed when a second answer a slice later agrees
        // (routes come and go while an interface is being brought up)
        if (sv->no_route_since == 0)
        {
            sv->no_route_since = now;
            sv->timer[T_ROUTE] = now + SLICE_MS;
        }
        else if (now - sv->no_route_since >= SLICE_MS)
        {
            supervisor_event(sv, RE_NO_ROUTE, NULL, now);
        }
        return;
    }
    sv->no_route_since = 0;
    if (sv->rc.waiting == RN_WAIT_NO_ROUTE)
    {
        // A route is back: look at everything again
        if (sv->watch.ifname[0] == '\0' && sv->watch.family == 0)
        {
            supervisor_event(sv, RE_PATH_BACK, NULL, now);
        }
        else
        {
            route_settle(sv, now);
        }
    }
    if (cfg.bind_str == NULL || sv->watch.ifname[0] == '\0')
    {
        // Without -B any interface will do
        return;
    }
    if (ev->name[0])
    {
        snprintf(out, sizeof(out), "%s", ev->name);
    }
    else if (if_indextoname(ev->index, out) == NULL)
    {
        // The name cannot be had now (out of descriptors?): the index will do
        snprintf(out, sizeof(out), "%s", ev->index == sv->watch.ifindex ? sv->watch.ifname : "");
    }
    if (out[0] == '\0')
    {
        return;
    }
    if (strcmp(out, sv->watch.ifname) != 0)
    {
        if (!sv->route_elsewhere)
        {
            log_dest(LL_D_ROUTE_ELSEWHERE, cfg.dest_str, out, sv->watch.ifname);
            sv->route_elsewhere = 1;
        }
    }
    else if (sv->route_elsewhere)
    {
        log_dest(LL_D_ROUTE_BACK, cfg.dest_str, sv->watch.ifname);
        sv->route_elsewhere = 0;
    }
}

static void
route_event_handle(
    struct supervisor * sv,
    const struct route_event * ev,
    uint64_t            now)
{
    switch (ev->kind)
    {
    case ROUTE_ANSWER:
        route_answer(sv, ev, now);
        return;
    case ROUTE_PATH:
        if (ev->family == cfg.family && sv->timer[T_ROUTE] == 0)
        {
            sv->timer[T_ROUTE] = now + ROUTE_QUERY_MS;
        }
        return;
    case ROUTE_RESYNC:
        // Rate-limited: a stuck overflow flag must not spin us
        if (sv->last_resync && now - sv->last_resync < RESYNC_MIN_MS)
        {
            return;
        }
        sv->last_resync = now;
        sv->resync = 1;
        sv->timer[T_ROUTE] = now + ROUTE_QUERY_MS;
        break;
    default:
        if (!route_event_concerns(ev, &sv->watch))
        {
            return;
        }
        if (ev->kind == ROUTE_LINK_GONE)
        {
            sv->departed = 1;
        }
        break;
    }
    route_event_reason(ev, sv->event_reason, sizeof(sv->event_reason));
    if (sv->timer[T_DEBOUNCE] == 0)
    {
        sv->timer[T_DEBOUNCE] = now + DEBOUNCE_MS;
    }
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
        ssize_t         len = route_socket_read(sv->route_fd, buf, sizeof(buf));
        size_t          n;
        size_t          k;

        if (len < 0)
        {
            if (errno == ENOBUFS)
            {
                struct route_event resync;

                memset(&resync, 0, sizeof(resync));
                resync.kind = ROUTE_RESYNC;
                route_event_handle(sv, &resync, now);
                continue;
            }
            return;
        }
        n = route_decode(buf, (size_t) len, &sv->query, events, 32);
        for (k = 0; k < n; k++)
        {
            route_event_handle(sv, &events[k], now);
        }
    }
}


//
// The supervisor's loop.  Each round takes what happened in a fixed order:
// signals, replies, the watchdog's and the send thread's requests, the
// routing socket, the fresh-socket check, then the timers in table order.
// Replies come first so that an answer that raced a deadline wins.
//
static void
supervisor_round(
    struct supervisor * sv,
    int                 route_ready,
    int                 check_ready,
    uint64_t            now)
{
    unsigned            wanted;
    int                 t;

    // 1. Signals
    if (term_signal)
    {
        shutdown_on_signal(term_signal);
    }
    if (hup_signal)
    {
        hup_signal = 0;
        supervisor_event(sv, RE_SIGHUP, "SIGHUP", now);
    }

    // 2. Replies
    if (atomic_load(&icmp.last_reply) > sv->rc.last_reply)
    {
        supervisor_event(sv, RE_REPLY, NULL, now);
    }

    // 3. The watchdog's and the send thread's requests
    wanted = atomic_exchange(&watchdog_wanted, 0);
    for (t = 0; t < TH_COUNT; t++)
    {
        if (wanted & (1u << t))
        {
            char        reason[64];

            snprintf(reason, sizeof(reason), "watchdog: %s stalled", threads[t].name);
            supervisor_event(sv, RE_WATCHDOG, reason, now);
        }
    }
    if (atomic_exchange(&rebuild_wanted, 0) && cfg.send_error_limit &&
        atomic_load(&icmp.stale_errors) >= cfg.send_error_limit)
    {
        char            reason[96];

        snprintf(reason, sizeof(reason), "sendto: %s, %u in a row", strerror(atomic_load(&icmp.last_errno)),
                 (unsigned) atomic_load(&icmp.stale_errors));
        supervisor_event(sv, RE_SEND_STALE, reason, now);
    }

    // 4. The routing socket
    if (route_ready)
    {
        route_read(sv, now);
    }

    // 5. The fresh-socket check
    if (check_ready && sv->check_fd >= 0 && check_answered(sv->check_fd, sv->check_ident))
    {
        char            reason[128];

        snprintf(reason, sizeof(reason), "fresh-socket probe answered, id 0x%04x silent for %lus",
                 (unsigned) (atomic_load(&icmp.idents) >> 16),
                 (unsigned long) (elapsed_since(now, sv->rc.last_reply > sv->rc.started ? sv->rc.last_reply : sv->rc.started) / 1000u));
        supervisor_event(sv, RE_CHECK_ANSWERED, reason, now);
    }

    // 6. Timers
    if (timer_fired(sv->timer, T_DEBOUNCE, now))
    {
        route_settle(sv, now);
    }
    if (timer_fired(sv->timer, T_RECONCILE, now))
    {
        sv->timer[T_RECONCILE] = now + RECONCILE_MS;
        route_settle(sv, now);
    }
    if (timer_fired(sv->timer, T_ROUTE, now))
    {
        route_query(sv);
    }
    if (timer_fired(sv->timer, T_CHECK, now))
    {
        supervisor_event(sv, RE_CHECK_TIMEOUT, NULL, now);
    }
    if (timer_fired(sv->timer, T_QUIET, now))
    {
        supervisor_event(sv, RE_QUIET, NULL, now);
    }
    if (timer_fired(sv->timer, T_REBUILD, now))
    {
        supervisor_event(sv, RE_REBUILD_DUE, NULL, now);
    }
    if (timer_fired(sv->timer, T_GUARD, now))
    {
        watchdog_guard(now);
    }

    // A reply that came while no one asked for it
    if (atomic_load(&icmp.reply_wanted) && atomic_load(&icmp.last_reply) > sv->rc.last_reply)
    {
        supervisor_event(sv, RE_REPLY, NULL, now);
    }
}

static void
supervise(
    struct supervisor * sv)
{
    sigset_t            none;

    // Main takes the daemon's signals only while it waits here
    sigemptyset(&none);
    for (;;)
    {
        struct pollfd   pfd[2];
        struct timespec ts;
        uint64_t        now;
        uint64_t        wake;
        int             route_slot = -1;
        int             check_slot = -1;
        int             n = 0;

        beat(TH_MAIN);
        now = now_ms();
        if (atomic_load(&threads[TH_WATCHDOG].running))
        {
            // When the checker's heartbeat would pass the limit; once it
            // has (a restart held back), look again each slice
            uint64_t    due = now - heartbeat_age(TH_WATCHDOG, now) + cfg.watchdog_limit + 1;

            sv->timer[T_GUARD] = due > now ? due : now + SLICE_MS;
        }
        wake = timer_next(sv->timer);
        if (wake > now + RECONCILE_MS)
        {
            wake = now + RECONCILE_MS;
        }
        sv->expected = wake;

        if (sv->route_fd >= 0)
        {
            route_slot = n;
            pfd[n].fd = sv->route_fd;
            pfd[n].events = POLLIN;
            pfd[n++].revents = 0;
        }
        if (sv->check_fd >= 0)
        {
            check_slot = n;
            pfd[n].fd = sv->check_fd;
            pfd[n].events = POLLIN;
            pfd[n++].revents = 0;
        }
        ts.tv_sec = (time_t) ((wake > now ? wake - now : 0) / 1000u);
        ts.tv_nsec = (long) ((wake > now ? wake - now : 0) % 1000u) * 1000000L;
        idle(TH_MAIN, wake);
        if (ppoll(pfd, (nfds_t) n, &ts, &none) < 0)
        {
            memset(pfd, 0, sizeof(pfd));
        }
        idle(TH_MAIN, 0);
        now = now_ms();
        if (watchdog_was_paused(sv->expected, now))
        {
            // Nobody ran: heartbeats and silence count from now
            atomic_store(&resumed_at, now);
            supervisor_event(sv, RE_RESUMED, NULL, now);
        }
        supervisor_round(sv, route_slot >= 0 && pfd[route_slot].revents,
                         check_slot >= 0 && pfd[check_slot].revents, now);
    }
}


//
// 10. Start-up and main()
//

// Start-up errors: one line naming what was wrong (stderr, and syslog with
// -S), nothing left behind, exit status 1
static void fatal(const char * fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void
fatal(
    const char *        fmt,
    ...)
{
    char                buf[LOG_LINE_MAX];
    va_list             args;

    va_start(args, fmt);
    vsnprintf(buf, sizeof(buf), fmt, args);
    va_end(args);

    fprintf(stderr, "dpinger: %s\n", buf);
    if (atomic_load(&log_fd) != LOG_TO_STDERR)
    {
        (void) log_write(LOG_ERR, buf, strlen(buf));
    }
    cleanup_files();
    exit(1);
}


//
// Pid file: created exclusively and locked while we check it; an existing
// one is reused only if it is not locked and names no live process (or
// names us: a restart in place).  The pid is written after the fork, and the
// file closed, as upstream does.
//
static int              pidfile_fd = -1;

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
    if (ftruncate(pidfile_fd, 0) < 0 || pwrite(pidfile_fd, buf, (size_t) len, 0) != len || close(pidfile_fd) < 0)
    {
        fatal("pid file %s: %s", cfg.pidfile, strerror(errno));
    }
    pidfile_fd = -1;
}


//
// Status socket: replace a stale socket at the path (but never another
// kind of file), bind, make it world-connectable, listen with the system's
// largest backlog
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
// Signals: the handler only records; main acts on them after its ppoll()
//
static void
on_signal(
    int                 sig)
{
    if (sig == SIGHUP)
    {
        hup_signal = 1;
    }
    else if (sig == SIGTERM || sig == SIGINT)
    {
        term_signal = sig;
    }
}


//
// Where our own binary is, for the restart in place.  The real path, not
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
// Start-up steps, in upstream's order
//

// 1. Arguments, and the state a previous image of this process left us
static void
startup_args(
    int                 argc,
    char *              argv[])
{
    char                err[512];
    int                 rc;

    // The original arguments for the restart (getopt may permute argv)
    saved_argv = calloc((size_t) argc + 1, sizeof(char *));
    if (saved_argv == NULL)
    {
        fatal("out of memory");
    }
    memcpy(saved_argv, argv, (size_t) argc * sizeof(char *));
    // Only a state naming this very process counts: a stray variable
    // inherited from elsewhere is ignored
    reexecuted = reexec_state_parse(getenv(REEXEC_ENV), (long) getpid(), &reexec) == 0;
    (void) unsetenv(REEXEC_ENV);

    rc = args_parse(argc, argv, &cfg, err, sizeof(err));
    if (cfg.use_syslog)
    {
        log_open(argv[0]);
    }
    if (rc == ARGS_USAGE)
    {
        if (err[0])
        {
            fprintf(stderr, "dpinger: %s\n", err);
            if (atomic_load(&log_fd) != LOG_TO_STDERR)
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
}

// The window (carried over from a previous image), and what a restart in
// place needs, prepared now so that it allocates nothing
static void
startup_memory(void)
{
    int                 i;

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
        window_import(reexec.window_fd);
        atomic_store(&icmp.next_seq, reexec.seq);
    }
}

// Signals: handlers first, then every signal of ours blocked in main (and
// so in every thread it starts); main takes them only in its ppoll()
static void
startup_signals(void)
{
    struct sigaction    act;

    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&mask_daemon);
    sigaddset(&mask_daemon, SIGTERM);
    sigaddset(&mask_daemon, SIGINT);
    sigaddset(&mask_daemon, SIGHUP);
    sigaddset(&mask_daemon, SIGWAKE);

    memset(&act, 0, sizeof(act));
    act.sa_handler = on_signal;
    act.sa_mask = mask_daemon;
    sigaction(SIGTERM, &act, NULL);
    sigaction(SIGINT, &act, NULL);
    sigaction(SIGHUP, &act, NULL);
    sigaction(SIGWAKE, &act, NULL);
    pthread_sigmask(SIG_SETMASK, &mask_daemon, NULL);
}

//
// A tentative -B address at start-up.  A new IPv6 address stays tentative
// while duplicate address detection runs (about a second), and binding to
// it fails with EADDRNOTAVAIL, just as for an address on no interface.
// Only the first is worth waiting for: a bounded wait, one log line, then
// the caller binds again.  An address that is absent, ready, IPv4, or whose
// detection failed is not waited for.
//
#define TENTATIVE_WAIT_MS       10000
#define TENTATIVE_POLL_MS       100

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

// After a bind to -B failed with EADDRNOTAVAIL: when the address is
// tentative, log it and wait (at most TENTATIVE_WAIT_MS, less if a signal
// arrives) until it is not.  1 when it waited and the bind is worth
// another try, 0 when not (errno is kept for the caller's message).
static int
bind_tentative_wait(void)
{
    struct sockaddr_storage ss;
    socklen_t           len;
    struct timespec     ts = { 0, TENTATIVE_POLL_MS * 1000000L };
    sigset_t            none;
    int                 saved = errno;
    int                 i;

    if (cfg.family != AF_INET6 || addr_resolve(cfg.bind_str, &ss, &len) ||
        !addr6_tentative_on_if((struct sockaddr_in6 *) &ss))
    {
        errno = saved;
        return 0;
    }
    logmsg(LL_TENTATIVE, cfg.bind_str, (unsigned long) (TENTATIVE_WAIT_MS / 1000));
    sigemptyset(&none);
    for (i = 0; i < TENTATIVE_WAIT_MS / TENTATIVE_POLL_MS && addr6_tentative_on_if((struct sockaddr_in6 *) &ss); i++)
    {
        // A signal (SIGTERM) ends the wait; main acts on it later
        if (ppoll(NULL, 0, &ts, &none) < 0 && errno == EINTR)
        {
            break;
        }
    }
    errno = saved;
    return 1;
}

// 2, 3. The ICMP sockets, bound to -B.  After a restart in place a bind
// that fails is not fatal: placeholder sockets stand in until the
// supervisor's rebuild works.  A tentative IPv6 -B address is waited for.
static void
startup_sockets(void)
{
    const char *        stage;
    uint32_t            scope = 0;
    int                 send_fd;
    int                 recv_fd;
    int                 rc;

    rc = icmp_socks_open(&send_fd, &recv_fd, &scope, &stage);
    if (rc < 0 && errno == EADDRNOTAVAIL && !reexecuted && strcmp(stage, "bind") == 0 && bind_tentative_wait())
    {
        rc = icmp_socks_open(&send_fd, &recv_fd, &scope, &stage);
    }
    if (rc == 0)
    {
        atomic_store(&icmp.real, 1);
    }
    else
    {
        int     err = errno;

        if (!reexecuted || strcmp(stage, "socket") == 0)
        {
            if (strcmp(stage, "bind") == 0)
            {
                fatal("bind %s: %s", cfg.bind_str, strerror(err));
            }
            fatal("%s: %s", stage, strerror(err));
        }
        send_fd = icmp_socket_open(NULL, 0, 0, &stage);
        recv_fd = icmp_socket_open(NULL, 0, 1, &stage);
        if (send_fd < 0 || recv_fd < 0)
        {
            fatal("socket: %s", strerror(errno));
        }
    }
    icmp.send_fd = send_fd;
    icmp.recv_fd = recv_fd;
    atomic_store(&icmp.dest_scope, scope);
}

// 5. Pid file, report file, status socket
static void
startup_files(void)
{
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
}

// 7. The pid file, and the identity of the echo requests
static void
startup_identity(void)
{
    uint16_t            ident;

    if (pidfile_fd >= 0)
    {
        pidfile_write();
    }
    icmp.ident_base = (uint16_t) getpid();
    atomic_store(&icmp.generation, reexecuted ? reexec.generation + 1 : 0);
    ident = ident_for(icmp.ident_base, atomic_load(&icmp.generation));
    atomic_store(&icmp.idents, (uint32_t) ident << 16 | ident);
}

// Start one thread with its heartbeat armed
static void
thread_start(
    int                 t,
    void *              (*fn)(void *),
    int                 realtime)
{
    pthread_attr_t      attr;
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
            fatal("%s thread: SCHED_RR: %s", threads[t].name, strerror(rc));
        }
    }
    atomic_store(&threads[t].beat, now_ms());
    rc = pthread_create(&threads[t].handle, &attr, fn, NULL);
    pthread_attr_destroy(&attr);
    if (rc != 0)
    {
        fatal("%s thread: %s", threads[t].name, strerror(rc));
    }
    (void) pthread_detach(threads[t].handle);
    atomic_store_explicit(&threads[t].running, 1, memory_order_release);
}

// 9. The threads; the first echo request goes out at once
static void
threads_start(void)
{
    threads[TH_MAIN].handle = pthread_self();
    atomic_store(&threads[TH_MAIN].beat, now_ms());
    atomic_store_explicit(&threads[TH_MAIN].running, 1, memory_order_release);
#if defined(__linux__)
    atomic_store(&threads[TH_MAIN].kernel_tid, (int) syscall(SYS_gettid));
#endif
    atomic_store(&icmp.last_send_ok, now_ms());
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
    if (cfg.watchdog_limit)
    {
        thread_start(TH_WATCHDOG, watchdog_thread, 0);
    }
}

// The supervisor's start: what to watch, the routing socket, the timers;
// and a rebuild at once when only placeholder sockets could be made
static void
supervisor_start(
    struct supervisor * sv)
{
    uint64_t            now = now_ms();

    recovery_init(&sv->rc, sv->timer, cfg.send_interval, cfg.loss_interval, now);
    watch_refresh(&sv->watch);
    sv->built_index = sv->watch.ifindex;
    if (!cfg.no_route_socket)
    {
        sv->route_fd = route_socket_open(&sv->query.sender);
        if (sv->route_fd < 0)
        {
            log_dest(LL_D_NO_ROUTE_SOCKET, strerror(errno));
        }
        else
        {
            int size;

            // A larger receive buffer: halve the request until the kernel takes it
            for (size = 1 << 20; size >= 65536; size /= 2)
            {
                if (setsockopt(sv->route_fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size)) == 0)
                {
                    break;
                }
            }
            sv->timer[T_RECONCILE] = now + RECONCILE_MS;
            route_query(sv);
        }
    }
    if (!atomic_load(&icmp.real))
    {
        supervisor_event(sv, RE_PATH_CHANGED, "restart in place: bind failed", now);
    }
}


#ifndef DPINGER_MAIN
#define DPINGER_MAIN            main
#endif

int
DPINGER_MAIN(
    int                 argc,
    char *              argv[])
{
    static struct supervisor sv = { .route_fd = -1, .check_fd = -1 };
    int                 ready_fd = -1;

    startup_args(argc, argv);
    startup_memory();
    startup_signals();
    startup_sockets();

    // 4. Privileges: back to the real ids (a no-op when started as root)
    if (setgid(getgid()) < 0 || setuid(getuid()) < 0)
    {
        fatal("drop privileges: %s", strerror(errno));
    }

    startup_files();

    // 6. Daemonize, unless -f or this is a restart in place
    if (!cfg.foreground && !reexecuted)
    {
        ready_fd = daemonize();
    }
    startup_identity();

    // 8. The parameter line (the identifier with the space -i adds, as upstream)
    logmsg(LL_PARAMS, cfg.send_interval, cfg.loss_interval, cfg.time_period, cfg.report_interval, cfg.data_len,
           cfg.alert_interval, cfg.latency_alarm, cfg.loss_alarm, cfg.alarm_hold, cfg.dest_str,
           cfg.bind_str ? cfg.bind_str : "(none)", cfg.prefix);

    threads_start();
    if (ready_fd >= 0)
    {
        (void) !write(ready_fd, "R", 1);
        close(ready_fd);
    }
    supervisor_start(&sv);
    supervise(&sv);
    return 0;
}
