//
// sockquery: a status-socket client for the tests.
//
//   sockquery [-t timeout_ms] [-T] path            one query: print the line
//   sockquery -m close -n N path                   N clients that connect and
//                                                  close without reading
//   sockquery -m hold -n N [-t ms] path            N clients that connect and
//                                                  never read, held for ms
//   sockquery -m healthy|lossless|lost [-t ms] path
//                                                  query every 10ms until the
//                                                  loss is below 100 with a
//                                                  real latency (healthy), is
//                                                  0 with a real latency
//                                                  (lossless) or is 100
//                                                  (lost); prints "after_ms N"
//                                                  and the three figures
//
// Query exit status: 0 with a full line, 2 on timeout or no full line,
// 1 when the socket cannot be reached.  -T adds "elapsed_ms N" on stderr.
//

#include <sys/socket.h>
#include <sys/un.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../lib/tools.h"

static int              quiet;          // polling modes: no message per failed query

// One query: read until EOF or the timeout; the line goes to out
static int
query_line(
    const char *        path,
    long                timeout,
    char *              out,
    size_t              outlen);

// The conditions the polling modes wait for
enum want { WANT_HEALTHY, WANT_LOSSLESS, WANT_LOST };

// Poll until the status line meets a condition; 0 when it did, 2 on timeout
static int
until(
    const char *        path,
    long                timeout,
    enum want           want)
{
    int64_t             start;
    char                line[512];

    start = mono_ms();
    while ((long) (mono_ms() - start) < timeout)
    {
        unsigned long   avg = 0;
        unsigned long   sd = 0;
        unsigned long   loss = 0;
        char *          p;

        if (query_line(path, 1000, line, sizeof(line)) == 0)
        {
            // The last three fields, after an optional identifier
            p = strrchr(line, ' ');
            if (p && sscanf(p, " %lu", &loss) == 1)
            {
                *p = '\0';
                p = strrchr(line, ' ');
                if (p && sscanf(p, " %lu", &sd) == 1)
                {
                    *p = '\0';
                    p = strrchr(line, ' ');
                    if (sscanf(p ? p : line, " %lu", &avg) == 1 &&
                        (want == WANT_HEALTHY ? loss < 100 && avg > 0 :
                         want == WANT_LOSSLESS ? loss == 0 && avg > 0 :
                         loss == 100))
                    {
                        printf("after_ms %ld %lu %lu %lu\n", (long) (mono_ms() - start), avg, sd, loss);
                        return 0;
                    }
                }
            }
        }
        poll(NULL, 0, 10);
    }
    fprintf(stderr, "sockquery: %s: condition not met in %ldms\n", path, timeout);
    return 2;
}

// One query, printed
static int
query(
    const char *        path,
    long                timeout,
    int                 show_time)
{
    int64_t             start;
    char                buf[512];
    int                 rc;

    start = mono_ms();
    rc = query_line(path, timeout, buf, sizeof(buf));
    fputs(buf, stdout);
    if (show_time)
    {
        fprintf(stderr, "elapsed_ms %ld\n", (long) (mono_ms() - start));
    }
    return rc;
}

static int
query_line(
    const char *        path,
    long                timeout,
    char *              out,
    size_t              outlen)
{
    int64_t             start;
    char                buf[512];
    size_t              len = 0;
    int                 fd;
    int                 rc = 2;

    out[0] = '\0';
    start = mono_ms();
    fd = unix_connect(path);
    if (fd < 0)
    {
        if (!quiet)
        {
            fprintf(stderr, "sockquery: connect %s: %s\n", path, strerror(errno));
        }
        return 1;
    }
    for (;;)
    {
        struct pollfd   pfd = { fd, POLLIN, 0 };
        long            left = timeout - (long) (mono_ms() - start);
        ssize_t         n;

        if (left <= 0 || poll(&pfd, 1, (int) left) <= 0)
        {
            if (!quiet)
            {
                fprintf(stderr, "sockquery: %s: timeout after %ldms\n", path, (long) (mono_ms() - start));
            }
            break;
        }
        n = read(fd, buf + len, sizeof(buf) - 1 - len);
        if (n <= 0)
        {
            buf[len] = '\0';
            rc = len > 0 && buf[len - 1] == '\n' ? 0 : 2;
            if (rc && !quiet)
            {
                fprintf(stderr, "sockquery: %s: closed without a full line\n", path);
            }
            break;
        }
        len += (size_t) n;
        if (len == sizeof(buf) - 1)
        {
            break;
        }
    }
    close(fd);
    buf[len] = '\0';
    snprintf(out, outlen, "%s", buf);
    return rc;
}

int
main(
    int                 argc,
    char *              argv[])
{
    const char *        mode = "query";
    long                timeout = 5000;
    long                count = 1;
    int                 show_time = 0;
    int                 opt;
    long                i;

    while ((opt = getopt(argc, argv, "m:n:t:T")) != -1)
    {
        switch (opt)
        {
        case 'm':
            mode = optarg;
            break;
        case 'n':
            count = (long) parse_num("count", optarg, 1000000);
            break;
        case 't':
            timeout = (long) parse_num("timeout", optarg, 86400000);
            break;
        case 'T':
            show_time = 1;
            break;
        default:
            fprintf(stderr, "usage: sockquery [-m query|close|hold|healthy|lossless|lost] [-n count] [-t ms] [-T] path\n");
            return 1;
        }
    }
    if (optind != argc - 1)
    {
        fprintf(stderr, "usage: sockquery [-m query|close|hold|healthy|lossless|lost] [-n count] [-t ms] [-T] path\n");
        return 1;
    }

    if (strcmp(mode, "query") == 0)
    {
        return query(argv[optind], timeout, show_time);
    }
    if (strcmp(mode, "healthy") == 0 || strcmp(mode, "lossless") == 0 || strcmp(mode, "lost") == 0)
    {
        quiet = 1;
        return until(argv[optind], timeout,
                     strcmp(mode, "healthy") == 0 ? WANT_HEALTHY :
                     strcmp(mode, "lossless") == 0 ? WANT_LOSSLESS : WANT_LOST);
    }
    if (strcmp(mode, "close") == 0)
    {
        long    failed = 0;

        for (i = 0; i < count; i++)
        {
            int fd = unix_connect(argv[optind]);

            if (fd < 0)
            {
                failed++;
                continue;
            }
            close(fd);
        }
        printf("connected %ld failed %ld\n", count - failed, failed);
        return failed ? 1 : 0;
    }
    if (strcmp(mode, "hold") == 0)
    {
        int *   fds = calloc((size_t) count, sizeof(int));

        for (i = 0; fds && i < count; i++)
        {
            fds[i] = unix_connect(argv[optind]);
            if (fds[i] < 0)
            {
                fprintf(stderr, "sockquery: connect %s: %s\n", argv[optind], strerror(errno));
                return 1;
            }
        }
        printf("held %ld\n", count);
        fflush(stdout);
        poll(NULL, 0, (int) timeout);
        return 0;
    }
    fprintf(stderr, "sockquery: unknown mode %s\n", mode);
    return 1;
}
