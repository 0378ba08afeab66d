//
// logcatch: a stand-in syslog daemon for the contract tests.
//
//   logcatch [-t ms] path
//
// Binds a datagram socket at path (removing a stale socket there first),
// prints "bound" on stderr, then prints every datagram it receives as one
// line on stdout, bytes outside printable ASCII written as C escapes
// (\n, \\, \ooo), so a trailing newline or a NUL in a message shows.
// Stops after -t ms (default 60000) or on SIGTERM; exit 0.
//

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long
elapsed_ms(
    const struct timespec * start)
{
    struct timespec     now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - start->tv_sec) * 1000 + (now.tv_nsec - start->tv_nsec) / 1000000;
}

static void
print_escaped(
    const unsigned char * buf,
    size_t              len)
{
    size_t              i;

    for (i = 0; i < len; i++)
    {
        if (buf[i] == '\n')
        {
            fputs("\\n", stdout);
        }
        else if (buf[i] == '\\')
        {
            fputs("\\\\", stdout);
        }
        else if (buf[i] < 0x20 || buf[i] > 0x7e)
        {
            printf("\\%03o", buf[i]);
        }
        else
        {
            putchar(buf[i]);
        }
    }
    putchar('\n');
    fflush(stdout);
}

int
main(
    int                 argc,
    char *              argv[])
{
    struct sockaddr_un  sa;
    struct timespec     start;
    struct stat         st;
    unsigned char       buf[65536];
    long                limit = 60000;
    const char *        path;
    ssize_t             n;
    int                 fd;
    int                 opt;

    while ((opt = getopt(argc, argv, "t:")) != -1)
    {
        if (opt == 't')
        {
            limit = atol(optarg);
        }
        else
        {
            fprintf(stderr, "usage: logcatch [-t ms] path\n");
            return 2;
        }
    }
    if (optind != argc - 1 || limit <= 0)
    {
        fprintf(stderr, "usage: logcatch [-t ms] path\n");
        return 2;
    }
    path = argv[optind];
    if (strlen(path) >= sizeof(sa.sun_path))
    {
        fprintf(stderr, "logcatch: %s: path too long for a socket\n", path);
        return 1;
    }

    fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    if (fd < 0)
    {
        fprintf(stderr, "logcatch: socket: %s\n", strerror(errno));
        return 1;
    }
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
    {
        (void) unlink(path);
    }
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
    {
        fprintf(stderr, "logcatch: bind %s: %s\n", path, strerror(errno));
        return 1;
    }
    (void) chmod(path, 0666);
    fprintf(stderr, "bound\n");

    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;)
    {
        struct pollfd   pfd = { fd, POLLIN, 0 };
        long            left = limit - elapsed_ms(&start);

        if (left <= 0)
        {
            break;
        }
        if (poll(&pfd, 1, (int) left) <= 0)
        {
            continue;
        }
        n = recv(fd, buf, sizeof(buf), 0);
        if (n >= 0)
        {
            print_escaped(buf, (size_t) n);
        }
    }
    (void) unlink(path);
    return 0;
}
