//
// clients: hostile status-socket clients for tests/hostile_test.sh.
//
//   clients [-n total] [-P procs] [-s seed] [-t ms] path
//       total clients (default 10000) spread over procs processes (default
//       8), each one of six kinds chosen at random: close at once (before
//       the line), read 1-5 bytes and close (during), a full query whose
//       line is checked (normal), wait until the line is there and close
//       unread (after), write garbage and close, shut down both ways and
//       close; random pauses of 0-2ms between the steps.  Prints
//       "clients N queries Q ok Q bad B"; exit 0 when every client
//       connected and every full query got a well-formed line within -t ms.
//   clients -b path
//       leave a dead datagram socket at path (bound, never served)
//   clients -l path [-t ms]
//       bind a datagram socket at path and never read it (a stalled syslog
//       daemon), for -t ms (default 60000); prints "bound" once bound
//

#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../lib/tools.h"

enum
{
    K_CLOSE,            // connect and close at once
    K_PARTIAL,          // read a few bytes, close
    K_QUERY,            // read the whole line and check it
    K_UNREAD,           // wait for the line, close without reading
    K_GARBAGE,          // write to the daemon, close
    K_SHUTDOWN,         // shutdown(SHUT_RDWR), close
    K_COUNT
};

struct tally
{
    long                clients;
    long                queries;
    long                ok;
    long                bad;            // connect failed, timeout, malformed line
};

// Pause 0-2ms, or not at all
static void
jitter(void)
{
    long                us = random() % 2500;

    if (us < 500)
    {
        return;
    }
    poll(NULL, 0, (int) (us / 1000));
}

// A well-formed status line: optional identifier, then three numbers
static int
line_ok(
    const char *        line)
{
    unsigned long       a;
    unsigned long       b;
    unsigned long       c;
    const char *        p;
    char                end;

    p = strchr(line, ' ');
    if (p && strchr(p + 1, ' ') && strchr(strchr(p + 1, ' ') + 1, ' '))
    {
        line = p + 1;   // identifier
    }
    return sscanf(line, "%lu %lu %lu%c", &a, &b, &c, &end) == 4 && end == '\n' && c <= 100;
}

// Read until EOF, the buffer is full, or timeout; returns bytes read or -1
static long
read_for(
    int                 fd,
    char *              buf,
    size_t              want,
    long                timeout)
{
    size_t              len = 0;

    while (len < want)
    {
        struct pollfd   pfd = { fd, POLLIN, 0 };
        ssize_t         n;

        if (poll(&pfd, 1, (int) timeout) <= 0)
        {
            return -1;
        }
        n = read(fd, buf + len, want - len);
        if (n < 0)
        {
            return -1;
        }
        if (n == 0)
        {
            break;
        }
        len += (size_t) n;
    }
    buf[len] = '\0';
    return (long) len;
}

static void
one_client(
    const char *        path,
    long                timeout,
    struct tally *      t)
{
    char                buf[256];
    struct pollfd       pfd;
    int                 kind = (int) (random() % K_COUNT);
    int                 fd;

    t->clients++;
    fd = unix_connect(path);
    if (fd < 0)
    {
        t->bad++;
        return;
    }
    jitter();
    switch (kind)
    {
    case K_PARTIAL:
        (void) read_for(fd, buf, 1 + (size_t) (random() % 5), timeout);
        break;
    case K_QUERY:
        t->queries++;
        if (read_for(fd, buf, sizeof(buf) - 1, timeout) > 0 && line_ok(buf))
        {
            t->ok++;
        }
        else
        {
            t->bad++;
        }
        break;
    case K_UNREAD:
        pfd.fd = fd;
        pfd.events = POLLIN;
        pfd.revents = 0;
        (void) poll(&pfd, 1, (int) timeout);
        break;
    case K_GARBAGE:
        (void) !send(fd, "GET / HTTP/1.0\r\n\r\n\0\377", 20, MSG_NOSIGNAL | MSG_DONTWAIT);
        break;
    case K_SHUTDOWN:
        (void) shutdown(fd, SHUT_RDWR);
        break;
    default:
        break;
    }
    jitter();
    close(fd);
}

int
main(
    int                 argc,
    char *              argv[])
{
    struct tally        total = { 0, 0, 0, 0 };
    long                count = 10000;
    long                procs = 8;
    long                timeout = 5000;
    unsigned            seed = (unsigned) time(NULL);
    const char *        dead = NULL;
    int                 hold = 0;
    long                hold_ms = 60000;
    int                 fds[2];
    int                 opt;
    long                p;

    while ((opt = getopt(argc, argv, "b:l:n:P:s:t:")) != -1)
    {
        switch (opt)
        {
        case 'b':
            dead = optarg;
            break;
        case 'l':
            dead = optarg;
            hold = 1;
            break;
        case 'n':
            count = (long) parse_num("total", optarg, 100000000);
            break;
        case 'P':
            procs = (long) parse_num("procs", optarg, 1024);
            break;
        case 's':
            seed = (unsigned) parse_num("seed", optarg, UINT_MAX);
            break;
        case 't':
            timeout = hold_ms = (long) parse_num("ms", optarg, 86400000);
            break;
        default:
            fprintf(stderr, "usage: clients [-n total] [-P procs] [-s seed] [-t ms] path | clients -b|-l path\n");
            return 2;
        }
    }
    if (dead)
    {
        struct sockaddr_un sa;
        int     fd = socket(AF_UNIX, SOCK_DGRAM, 0);

        memset(&sa, 0, sizeof(sa));
        sa.sun_family = AF_UNIX;
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", dead);
        if (fd < 0 || bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
        {
            perror(dead);
            return 1;
        }
        if (hold)
        {
            printf("bound\n");
            fflush(stdout);
            poll(NULL, 0, (int) hold_ms);
        }
        return 0;
    }
    if (optind != argc - 1 || procs < 1 || count < procs)
    {
        fprintf(stderr, "usage: clients [-n total] [-P procs] [-s seed] [-t ms] path | clients -b|-l path\n");
        return 2;
    }
    if (pipe(fds) < 0)
    {
        perror("pipe");
        return 1;
    }

    for (p = 0; p < procs; p++)
    {
        pid_t   pid = fork();

        if (pid < 0)
        {
            perror("fork");
            return 1;
        }
        if (pid == 0)
        {
            struct tally t = { 0, 0, 0, 0 };
            long    i;
            long    mine = count / procs + (p < count % procs ? 1 : 0);

            close(fds[0]);
            srandom(seed + (unsigned) p * 7919u);
            for (i = 0; i < mine; i++)
            {
                one_client(argv[optind], timeout, &t);
            }
            _exit(write(fds[1], &t, sizeof(t)) == (ssize_t) sizeof(t) ? 0 : 1);
        }
    }
    close(fds[1]);
    for (p = 0; p < procs; p++)
    {
        struct tally t;

        if (read(fds[0], &t, sizeof(t)) != (ssize_t) sizeof(t))
        {
            total.bad++;
            continue;
        }
        total.clients += t.clients;
        total.queries += t.queries;
        total.ok += t.ok;
        total.bad += t.bad;
    }
    while (wait(NULL) > 0)
    {
    }
    printf("clients %ld queries %ld ok %ld bad %ld\n", total.clients, total.queries, total.ok, total.bad);
    return total.bad == 0 && total.clients == count ? 0 : 1;
}
