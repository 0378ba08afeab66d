//
// connburst: many status-socket connects at once, none of them read until
// all have been made (the backlog test of tests/truth_test.sh).
//
//   connburst [-n connects] [-t timeout_ms] path
//
// Opens -n (default 2000) non-blocking stream sockets and connects each to
// path as fast as it can, without reading.  A connect refused because the
// listener's backlog is full (EAGAIN on Linux, ECONNREFUSED on FreeBSD) is
// counted; then every connected socket is read to EOF within -t ms in all
// (default 20000) and its text checked: one line of three numbers, maybe
// after an identifier.  Prints one line:
//
//   connects N refused R lines L short S
//
// Exit 0 when nothing was refused and every connect got its full line,
// 1 otherwise, 2 on a usage or set-up error.
//

#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct conn
{
    int                 fd;             // -1 once finished
    size_t              len;
    char                buf[128];
};

static long
now_ms(void)
{
    struct timespec     ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

// A full status line: [identifier ]average stddev loss, newline-terminated
static int
line_ok(
    const char *        text,
    size_t              len)
{
    unsigned long       a;
    unsigned long       b;
    unsigned long       c;
    const char *        p = text;
    char                end;

    if (len == 0 || text[len - 1] != '\n' || memchr(text, '\n', len) != text + len - 1)
    {
        return 0;
    }
    if (sscanf(p, "%lu %lu %lu%c", &a, &b, &c, &end) == 4 && end == '\n')
    {
        return c <= 100;
    }
    p = strchr(p, ' ');
    return p && sscanf(p + 1, "%lu %lu %lu%c", &a, &b, &c, &end) == 4 && end == '\n' && c <= 100;
}

static void
usage(void)
{
    fprintf(stderr, "usage: connburst [-n connects] [-t timeout_ms] path\n");
    exit(2);
}

int
main(
    int                 argc,
    char *              argv[])
{
    struct sockaddr_un  sa;
    struct rlimit       rl;
    struct conn *       conns;
    struct pollfd *     pfds;
    long                count = 2000;
    long                timeout = 20000;
    long                refused = 0;
    long                lines = 0;
    long                shorts = 0;
    long                open_conns = 0;
    long                deadline;
    long                i;
    char *              end;
    int                 opt;

    while ((opt = getopt(argc, argv, "n:t:")) != -1)
    {
        switch (opt)
        {
        case 'n':
            count = strtol(optarg, &end, 10);
            if (*end || count < 1 || count > 100000)
            {
                fprintf(stderr, "connburst: invalid count (-n) \"%s\"\n", optarg);
                return 2;
            }
            break;
        case 't':
            timeout = strtol(optarg, &end, 10);
            if (*end || timeout < 1)
            {
                fprintf(stderr, "connburst: invalid timeout (-t) \"%s\"\n", optarg);
                return 2;
            }
            break;
        default:
            usage();
        }
    }
    if (argc - optind != 1)
    {
        usage();
    }
    if (strlen(argv[optind]) >= sizeof(sa.sun_path))
    {
        fprintf(stderr, "connburst: socket path is too long: \"%s\"\n", argv[optind]);
        return 2;
    }

    // One descriptor per connect, and some to spare
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t) count + 64)
    {
        rl.rlim_cur = (rlim_t) count + 64;
        if (rl.rlim_max != RLIM_INFINITY && rl.rlim_cur > rl.rlim_max)
        {
            fprintf(stderr, "connburst: %ld connects need %ld descriptors, the hard limit is %ld\n",
                    count, count + 64, (long) rl.rlim_max);
            return 2;
        }
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
        {
            fprintf(stderr, "connburst: setrlimit: %s\n", strerror(errno));
            return 2;
        }
    }
    conns = calloc((size_t) count, sizeof(*conns));
    pfds = calloc((size_t) count, sizeof(*pfds));
    if (conns == NULL || pfds == NULL)
    {
        fprintf(stderr, "connburst: out of memory\n");
        return 2;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, argv[optind], strlen(argv[optind]));

    // The burst: nothing is read until every connect has been made
    for (i = 0; i < count; i++)
    {
        int             fd = socket(AF_UNIX, SOCK_STREAM, 0);

        conns[i].fd = -1;
        if (fd < 0 || fcntl(fd, F_SETFL, O_NONBLOCK) < 0)
        {
            fprintf(stderr, "connburst: socket %ld: %s\n", i, strerror(errno));
            return 2;
        }
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 && errno != EINPROGRESS)
        {
            if (errno == EAGAIN || errno == ECONNREFUSED)
            {
                refused++;
                close(fd);
                continue;
            }
            fprintf(stderr, "connburst: connect %s: %s\n", sa.sun_path, strerror(errno));
            return 2;
        }
        conns[i].fd = fd;
        open_conns++;
    }

    // Read every accepted connection to EOF
    deadline = now_ms() + timeout;
    while (open_conns > 0 && now_ms() < deadline)
    {
        long            n = 0;
        int             rc;

        for (i = 0; i < count; i++)
        {
            if (conns[i].fd >= 0)
            {
                pfds[n].fd = conns[i].fd;
                pfds[n].events = POLLIN;
                pfds[n].revents = 0;
                n++;
            }
        }
        rc = poll(pfds, (nfds_t) n, (int) (deadline - now_ms() > 0 ? deadline - now_ms() : 0));
        if (rc < 0 && errno != EINTR)
        {
            fprintf(stderr, "connburst: poll: %s\n", strerror(errno));
            return 2;
        }
        n = 0;
        for (i = 0; i < count; i++)
        {
            struct conn *   c = &conns[i];
            ssize_t         got;

            if (c->fd < 0)
            {
                continue;
            }
            if ((pfds[n++].revents & (POLLIN | POLLHUP | POLLERR)) == 0)
            {
                continue;
            }
            got = read(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
            if (got < 0 && (errno == EAGAIN || errno == EINTR))
            {
                continue;
            }
            if (got > 0)
            {
                c->len += (size_t) got;
                if (c->len < sizeof(c->buf) - 1)
                {
                    continue;
                }
            }
            // EOF, an error or a full buffer: this connection is done
            c->buf[c->len] = '\0';
            if (line_ok(c->buf, c->len))
            {
                lines++;
            }
            else
            {
                shorts++;
            }
            close(c->fd);
            c->fd = -1;
            open_conns--;
        }
    }
    // Whatever is still open got no full line in time
    shorts += open_conns;

    printf("connects %ld refused %ld lines %ld short %ld\n", count, refused, lines, shorts);
    return refused == 0 && lines == count ? 0 : 1;
}
