//
// Helpers shared by the C test tools (tests/tools, tests/hostile).  Each
// tool is one source file that includes this header; every helper is
// static inline so a tool pays only for what it uses.
//
//   mono_ns, mono_ms       the monotonic clock
//   parse_num              a bounded decimal option value, or exit 2
//   unix_connect           a connected AF_UNIX stream socket
//   selfpipe_install       signals delivered as bytes on a pipe
//   selfpipe_take          the next signal from that pipe
//   csum_add, csum_fold    the internet checksum (RFC 1071)
//   icmp6_csum             the ICMPv6 checksum with its pseudo-header
//   put16, get16           16-bit fields in network byte order
//

#ifndef DPT_TOOLS_H
#define DPT_TOOLS_H

#include <sys/socket.h>
#include <sys/un.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

// The monotonic clock in nanoseconds
static inline uint64_t
mono_ns(void)
{
    struct timespec     ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

// The monotonic clock in milliseconds
static inline int64_t
mono_ms(void)
{
    return (int64_t) (mono_ns() / 1000000u);
}

// A decimal option value in [0, max]; anything else exits 2 naming the option
static inline unsigned long long
parse_num(
    const char *        what,
    const char *        text,
    unsigned long long  max)
{
    char *              end = NULL;
    unsigned long long  v;

    if (text[0] < '0' || text[0] > '9')
    {
        errx(2, "invalid %s '%s'", what, text);
    }
    errno = 0;
    v = strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0' || v > max)
    {
        errx(2, "invalid %s '%s'", what, text);
    }
    return v;
}

// A stream socket connected to the AF_UNIX path; -1 with errno on failure
static inline int
unix_connect(
    const char *        path)
{
    struct sockaddr_un  sa;
    int                 fd;
    int                 saved;

    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0)
    {
        return -1;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
    {
        saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

static int              selfpipe[2] = { -1, -1 };

// The handler: the signal number goes down the pipe, errno is kept
static inline void
selfpipe_handler(
    int                 sig)
{
    int                 saved = errno;
    unsigned char       b = (unsigned char) sig;

    (void) !write(selfpipe[1], &b, 1);
    errno = saved;
}

// Deliver the n signals as bytes on a non-blocking pipe (SA_RESTART), SIGPIPE
// ignored; returns the read end to poll; exits 1 on failure
static inline int
selfpipe_install(
    const int *         sigs,
    size_t              n)
{
    struct sigaction    sa;
    size_t              i;

    if (pipe(selfpipe) != 0)
    {
        err(1, "self-pipe");
    }
    for (i = 0; i < 2; i++)
    {
        if (fcntl(selfpipe[i], F_SETFD, FD_CLOEXEC) < 0 ||
            fcntl(selfpipe[i], F_SETFL, O_NONBLOCK) < 0)
        {
            err(1, "self-pipe");
        }
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = selfpipe_handler;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    for (i = 0; i < n; i++)
    {
        if (sigaction(sigs[i], &sa, NULL) != 0)
        {
            err(1, "sigaction %s", strsignal(sigs[i]));
        }
    }
    signal(SIGPIPE, SIG_IGN);
    return selfpipe[0];
}

// The next signal received, 0 when none is waiting
static inline int
selfpipe_take(void)
{
    unsigned char       b;

    return read(selfpipe[0], &b, 1) == 1 ? b : 0;
}

// Add bytes to a ones'-complement checksum accumulator (RFC 1071 order)
static inline uint64_t
csum_add(
    uint64_t            sum,
    const uint8_t *     p,
    size_t              len)
{
    while (len > 1)
    {
        sum += (uint64_t) p[0] << 8 | p[1];
        p += 2;
        len -= 2;
    }
    if (len == 1)
    {
        sum += (uint64_t) p[0] << 8;
    }
    return sum;
}

// Fold an accumulator into the final 16-bit internet checksum
static inline uint16_t
csum_fold(
    uint64_t            sum)
{
    while (sum >> 16)
    {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return (uint16_t) ~sum;
}

// The ICMPv6 checksum of msg over the pseudo-header of src and dst
static inline uint16_t
icmp6_csum(
    const uint8_t *     src,
    const uint8_t *     dst,
    const uint8_t *     msg,
    size_t              len)
{
    uint8_t             tail[8] = { 0, 0, 0, 0, 0, 0, 0, 58 };
    uint64_t            sum;

    tail[0] = (uint8_t) (len >> 24);
    tail[1] = (uint8_t) (len >> 16);
    tail[2] = (uint8_t) (len >> 8);
    tail[3] = (uint8_t) len;
    sum = csum_add(0, src, 16);
    sum = csum_add(sum, dst, 16);
    sum = csum_add(sum, tail, sizeof(tail));
    sum = csum_add(sum, msg, len);
    return csum_fold(sum);
}

// Store a 16-bit value in network byte order
static inline void
put16(
    uint8_t *           p,
    unsigned            v)
{
    p[0] = (uint8_t) (v >> 8);
    p[1] = (uint8_t) v;
}

// Read a 16-bit value in network byte order
static inline uint16_t
get16(
    const uint8_t *     p)
{
    return (uint16_t) (p[0] << 8 | p[1]);
}

#endif
