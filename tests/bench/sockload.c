//
// sockload: status-socket load client for the benchmarks.
//
//   sockload [-n clients] [-t seconds] [-w timeout_ms] path
//   sockload -s [-r rounds] [-w timeout_ms] path...
//
// N threads, each in a loop for T seconds: connect, read to EOF, close.
// Every query's latency (connect to close) is recorded; at the end one line:
//
//   clients N seconds T queries Q qps X p50_us A p99_us B max_us C errors E
//
// With -s (sweep): one query to each path in turn, `rounds` times over:
//
//   sockets N rounds R queries Q p50_us A p99_us B max_us C errors E worst PATH
//
// An error is a query that could not connect, timed out, or ended without a
// full line.  Bounded in time or count: the loops stop by themselves.
//

#include <sys/socket.h>
#include <sys/un.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../lib/tools.h"

struct client
{
    pthread_t           thread;
    uint32_t *          lat_us;         // one entry per completed query
    size_t              count;
    size_t              cap;
    unsigned long       errors;
};

static const char *     path;
static uint64_t         stop_at_ns;
static long             timeout_ms = 2000;

// One query to `where`: 0 with a full line, -1 otherwise
static int
query_once(
    const char *        where)
{
    char                buf[256];
    size_t              len = 0;
    uint64_t            deadline = mono_ns() + (uint64_t) timeout_ms * 1000000u;
    int                 fd;

    fd = unix_connect(where);
    if (fd < 0)
    {
        return -1;
    }
    for (;;)
    {
        struct pollfd   pfd = { fd, POLLIN, 0 };
        uint64_t        now = mono_ns();
        ssize_t         n;

        if (now >= deadline || poll(&pfd, 1, (int) ((deadline - now) / 1000000u) + 1) <= 0)
        {
            close(fd);
            return -1;
        }
        n = read(fd, buf + len, sizeof(buf) - len);
        if (n <= 0)
        {
            break;
        }
        len += (size_t) n;
        if (len == sizeof(buf))
        {
            break;
        }
    }
    close(fd);
    return len > 0 && buf[len - 1] == '\n' ? 0 : -1;
}

static void *
client_loop(
    void *              arg)
{
    struct client *     c = arg;

    while (mono_ns() < stop_at_ns)
    {
        uint64_t        t0 = mono_ns();
        uint64_t        us;

        if (query_once(path) < 0)
        {
            c->errors++;
            continue;
        }
        us = (mono_ns() - t0) / 1000u;
        if (c->count == c->cap)
        {
            size_t      cap = c->cap ? c->cap * 2 : 4096;
            uint32_t *  p = realloc(c->lat_us, cap * sizeof(*p));

            if (p == NULL)
            {
                c->errors++;
                continue;
            }
            c->lat_us = p;
            c->cap = cap;
        }
        c->lat_us[c->count++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t) us;
    }
    return NULL;
}

static int
cmp_u32(
    const void *        a,
    const void *        b)
{
    uint32_t            x = *(const uint32_t *) a;
    uint32_t            y = *(const uint32_t *) b;

    return x < y ? -1 : x > y;
}

// Sweep: each path once per round; the slowest query names its path
static int
sweep_run(
    char **             paths,
    int                 npaths,
    long                rounds)
{
    uint32_t *          lat;
    size_t              count = 0;
    unsigned long       errors = 0;
    uint32_t            worst = 0;
    const char *        worst_path = "-";
    long                r;
    int                 i;

    lat = calloc((size_t) npaths * (size_t) rounds, sizeof(*lat));
    if (lat == NULL)
    {
        perror("sockload");
        return 1;
    }
    for (r = 0; r < rounds; r++)
    {
        for (i = 0; i < npaths; i++)
        {
            uint64_t    t0 = mono_ns();
            uint64_t    us;

            if (query_once(paths[i]) < 0)
            {
                errors++;
                continue;
            }
            us = (mono_ns() - t0) / 1000u;
            lat[count] = us > UINT32_MAX ? UINT32_MAX : (uint32_t) us;
            if (lat[count] >= worst)
            {
                worst = lat[count];
                worst_path = paths[i];
            }
            count++;
        }
    }
    qsort(lat, count, sizeof(*lat), cmp_u32);
    printf("sockets %d rounds %ld queries %zu p50_us %u p99_us %u max_us %u errors %lu worst %s\n",
           npaths, rounds, count, count ? lat[count / 2] : 0, count ? lat[count * 99 / 100] : 0,
           worst, errors, worst_path);
    return errors ? 2 : 0;
}

int
main(
    int                 argc,
    char *              argv[])
{
    struct client *     clients;
    uint32_t *          all;
    size_t              total = 0;
    size_t              k = 0;
    unsigned long       errors = 0;
    long                n = 1;
    long                rounds = 1;
    int                 sweep = 0;
    double              seconds = 3;
    uint64_t            start;
    double              elapsed;
    int                 c;
    long                i;

    while ((c = getopt(argc, argv, "n:r:st:w:")) != -1)
    {
        switch (c)
        {
        case 'r':
            rounds = strtol(optarg, NULL, 10);
            break;
        case 's':
            sweep = 1;
            break;
        case 'n':
            n = strtol(optarg, NULL, 10);
            break;
        case 't':
            seconds = strtod(optarg, NULL);
            break;
        case 'w':
            timeout_ms = strtol(optarg, NULL, 10);
            break;
        default:
            goto usage;
        }
    }
    if (sweep && optind < argc && rounds >= 1 && rounds <= 1000 && timeout_ms >= 1)
    {
        return sweep_run(argv + optind, argc - optind, rounds);
    }
    if (sweep || optind != argc - 1 || n < 1 || n > 1024 || seconds <= 0 || seconds > 600 || timeout_ms < 1)
    {
usage:
        fprintf(stderr, "usage: sockload [-n clients] [-t seconds] [-w timeout_ms] path\n"
                        "       sockload -s [-r rounds] [-w timeout_ms] path...\n");
        return 1;
    }
    path = argv[optind];

    clients = calloc((size_t) n, sizeof(*clients));
    if (clients == NULL)
    {
        perror("sockload");
        return 1;
    }
    start = mono_ns();
    stop_at_ns = start + (uint64_t) (seconds * 1e9);
    for (i = 0; i < n; i++)
    {
        if (pthread_create(&clients[i].thread, NULL, client_loop, &clients[i]) != 0)
        {
            perror("sockload: pthread_create");
            return 1;
        }
    }
    for (i = 0; i < n; i++)
    {
        pthread_join(clients[i].thread, NULL);
        total += clients[i].count;
        errors += clients[i].errors;
    }
    elapsed = (double) (mono_ns() - start) / 1e9;

    all = malloc((total ? total : 1) * sizeof(*all));
    if (all == NULL)
    {
        perror("sockload");
        return 1;
    }
    for (i = 0; i < n; i++)
    {
        memcpy(all + k, clients[i].lat_us, clients[i].count * sizeof(*all));
        k += clients[i].count;
    }
    qsort(all, total, sizeof(*all), cmp_u32);
    printf("clients %ld seconds %.2f queries %zu qps %.0f p50_us %u p99_us %u max_us %u errors %lu\n",
           n, elapsed, total, (double) total / elapsed,
           total ? all[total / 2] : 0, total ? all[total * 99 / 100] : 0,
           total ? all[total - 1] : 0, errors);
    return total ? 0 : 2;
}
