// rawsend: a test client for faultinject.so. It opens raw ICMP (IPv4) and
// ICMPv6 sockets, sends echo requests to 127.0.0.1 / ::1, optionally creates
// the fault-injection trigger file, and then exercises the stale sockets
// (sendto, send, sendmsg, a dup()), an unrelated UDP socket and fresh raw
// sockets dup3()'d onto the old fd numbers. Each step prints one line
// "STEP ok" or "STEP err ERRNONAME" so a test can assert on them.
// With -X it instead opens inheritable raw sockets, sends once, optionally
// creates the trigger, and re-executes itself with -I to use the inherited
// sockets from the new process image (stale state must survive execve()).
//
// Usage: rawsend [-t trigger_file_to_create] [-X]

#include <arpa/inet.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../lib/tools.h"

// Returns a short symbolic name for the errno values this test cares about.
static const char *errno_name(int e)
{
    switch (e)
    {
    case EHOSTUNREACH:
        return "EHOSTUNREACH";
    case ENETUNREACH:
        return "ENETUNREACH";
    case EPERM:
        return "EPERM";
    case EACCES:
        return "EACCES";
    case EBADF:
        return "EBADF";
    case EINVAL:
        return "EINVAL";
    default:
        return strerror(e);
    }
}

// Prints the outcome of one step: "STEP ok" or "STEP err NAME".
static void report(const char *step, ssize_t rc)
{
    if (rc >= 0)
    {
        printf("%s ok\n", step);
    }
    else
    {
        printf("%s err %s\n", step, errno_name(errno));
    }
    fflush(stdout);
}

// Creates the trigger file, if one was named, and says so; exits on error.
static void create_trigger(const char *trigger)
{
    if (trigger == NULL)
    {
        return;
    }
    int fd = open(trigger, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
    {
        err(1, "create %s", trigger);
    }
    close(fd);
    printf("trigger created\n");
    fflush(stdout);
}

// Prints the outcome of the step "FAMILY_STEP" of an address family.
static void report_fam(const char *family, const char *step, ssize_t rc)
{
    int saved = errno;
    char name[64];
    snprintf(name, sizeof(name), "%s_%s", family, step);
    errno = saved;
    report(name, rc);
}

// Fills an ICMP or ICMPv6 echo request of 16 bytes into buf.
static size_t build_echo(uint8_t *buf, bool v6, uint16_t seq)
{
    memset(buf, 0, 16);
    buf[0] = v6 ? 128 : 8;
    buf[4] = 0x12;
    buf[5] = 0x34;
    buf[6] = (uint8_t)(seq >> 8);
    buf[7] = (uint8_t)seq;
    memcpy(buf + 8, "rawsend!", 8);
    if (!v6)
    {
        // The kernel fills in the ICMPv6 checksum; IPv4 needs ours.
        put16(buf + 2, csum_fold(csum_add(0, buf, 16)));
    }
    return 16;
}

// Opens a raw ICMP (v4) or ICMPv6 socket with extra type flags; exits on error.
static int open_raw(bool v6)
{
    int fd = v6 ? socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMPV6)
                : socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK, IPPROTO_ICMP);
    if (fd < 0)
    {
        err(1, "socket raw %s", v6 ? "icmpv6" : "icmp");
    }
    return fd;
}

// Fills the loopback destination address for v4 or v6.
static socklen_t loopback(struct sockaddr_storage *ss, bool v6)
{
    memset(ss, 0, sizeof(*ss));
    if (v6)
    {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
        return sizeof(*a);
    }
    struct sockaddr_in *a = (struct sockaddr_in *)ss;
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return sizeof(*a);
}

// Sends one echo request with sendto(); returns its result.
static ssize_t echo_sendto(int fd, bool v6, uint16_t seq)
{
    uint8_t buf[16];
    struct sockaddr_storage ss;
    socklen_t sl = loopback(&ss, v6);
    size_t n = build_echo(buf, v6, seq);
    return sendto(fd, buf, n, 0, (struct sockaddr *)&ss, sl);
}

// Sends one echo request with sendmsg(); returns its result.
static ssize_t echo_sendmsg(int fd, bool v6, uint16_t seq)
{
    uint8_t buf[16];
    struct sockaddr_storage ss;
    socklen_t sl = loopback(&ss, v6);
    struct iovec iov = {buf, build_echo(buf, v6, seq)};
    struct msghdr msg;
    memset(&msg, 0, sizeof(msg));
    msg.msg_name = &ss;
    msg.msg_namelen = sl;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    return sendmsg(fd, &msg, 0);
}

// The raw sockets of one address family under test.
struct family
{
    bool v6;
    const char *name;
    int s;    // unconnected, used with sendto/sendmsg and replaced by dup3
    int conn; // connected to the loopback address, used with send
};

// Opens the family's sockets and sends one echo before the trigger.
static void phase_before(struct family *f)
{
    f->s = open_raw(f->v6);
    f->conn = open_raw(f->v6);
    struct sockaddr_storage ss;
    socklen_t sl = loopback(&ss, f->v6);
    if (connect(f->conn, (struct sockaddr *)&ss, sl) != 0)
    {
        err(1, "connect raw %s", f->name);
    }
    report_fam(f->name, "before_sendto", echo_sendto(f->s, f->v6, 1));
    uint8_t buf[16];
    size_t n = build_echo(buf, f->v6, 2);
    report_fam(f->name, "before_send", send(f->conn, buf, n, 0));
}

// Exercises the family's old sockets, a dup of one, and a fresh socket
// dup3()'d onto the old fd number, after the trigger.
static void phase_after(struct family *f)
{
    report_fam(f->name, "after_sendto", echo_sendto(f->s, f->v6, 3));
    report_fam(f->name, "after_sendto_again", echo_sendto(f->s, f->v6, 4));
    uint8_t buf[16];
    size_t n = build_echo(buf, f->v6, 5);
    report_fam(f->name, "after_send", send(f->conn, buf, n, 0));
    report_fam(f->name, "after_sendmsg", echo_sendmsg(f->s, f->v6, 6));
    int d = dup(f->s);
    if (d < 0)
    {
        err(1, "dup raw %s", f->name);
    }
    report_fam(f->name, "after_dup_sendto", echo_sendto(d, f->v6, 7));
    close(d);

    int fresh = open_raw(f->v6);
    if (dup3(fresh, f->s, O_CLOEXEC) != f->s)
    {
        err(1, "dup3 raw %s onto fd %d", f->name, f->s);
    }
    close(fresh);
    report_fam(f->name, "fresh_dup3_sendto", echo_sendto(f->s, f->v6, 8));
    report_fam(f->name, "fresh_dup3_sendmsg", echo_sendmsg(f->s, f->v6, 9));
    report_fam(f->name, "after_send_still", send(f->conn, buf, n, 0));
    close(f->s);
    close(f->conn);
}

// Exec mode, first image: opens inheritable v4/v6 raw sockets, sends once on
// each, creates the trigger if asked and re-executes itself with -I.
static void exec_first(const char *trigger)
{
    int fds[2];
    for (int i = 0; i < 2; i++)
    {
        bool v6 = i == 1;
        fds[i] = v6 ? socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6)
                    : socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
        if (fds[i] < 0)
        {
            err(1, "socket raw %s", v6 ? "icmpv6" : "icmp");
        }
        report(v6 ? "exec_v6_before_sendto" : "exec_v4_before_sendto",
               echo_sendto(fds[i], v6, 1));
    }
    create_trigger(trigger);
    char arg[32];
    snprintf(arg, sizeof(arg), "%d,%d", fds[0], fds[1]);
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
    {
        err(1, "readlink /proc/self/exe");
    }
    self[n] = '\0';
    char *const args[] = {"rawsend", "-I", arg, NULL};
    execv(self, args);
    err(1, "execv %s", self);
}

// Exec mode, second image: sends on the inherited sockets, then on fresh
// sockets dup3()'d onto the same fd numbers.
static void exec_second(const char *fdlist)
{
    int fds[2];
    if (sscanf(fdlist, "%d,%d", &fds[0], &fds[1]) != 2)
    {
        errx(2, "invalid fd list '%s'", fdlist);
    }
    for (int i = 0; i < 2; i++)
    {
        bool v6 = i == 1;
        report(v6 ? "exec_v6_inherited_sendto" : "exec_v4_inherited_sendto",
               echo_sendto(fds[i], v6, 2));
        int fresh = open_raw(v6);
        if (dup3(fresh, fds[i], O_CLOEXEC) != fds[i])
        {
            err(1, "dup3 raw onto fd %d", fds[i]);
        }
        close(fresh);
        report(v6 ? "exec_v6_fresh_sendto" : "exec_v4_fresh_sendto",
               echo_sendto(fds[i], v6, 3));
        close(fds[i]);
    }
}

// Prints the usage line and exits with status 2.
static void usage(void)
{
    fprintf(stderr, "usage: rawsend [-t trigger_file_to_create] [-X]\n");
    exit(2);
}

// Entry point: open everything, send, create the trigger, send again; or
// run one of the two exec-mode halves.
int main(int argc, char **argv)
{
    const char *trigger = NULL;
    const char *inherited = NULL;
    bool exec_mode = false;
    int c;
    while ((c = getopt(argc, argv, "t:XI:")) != -1)
    {
        switch (c)
        {
        case 't':
            trigger = optarg;
            break;
        case 'X':
            exec_mode = true;
            break;
        case 'I':
            inherited = optarg;
            break;
        default:
            usage();
        }
    }
    if (optind != argc)
    {
        usage();
    }
    if (inherited != NULL)
    {
        exec_second(inherited);
        return 0;
    }
    if (exec_mode)
    {
        exec_first(trigger);
    }
    int udp = socket(AF_INET, SOCK_DGRAM, 0);
    if (udp < 0)
    {
        err(1, "socket udp");
    }
    struct sockaddr_in ua;
    memset(&ua, 0, sizeof(ua));
    ua.sin_family = AF_INET;
    ua.sin_port = htons(9);
    ua.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    struct family fams[2] = {{false, "v4", -1, -1}, {true, "v6", -1, -1}};
    for (int i = 0; i < 2; i++)
    {
        phase_before(&fams[i]);
    }
    report("udp_before_sendto",
           sendto(udp, "x", 1, 0, (struct sockaddr *)&ua, sizeof(ua)));
    create_trigger(trigger);
    for (int i = 0; i < 2; i++)
    {
        phase_after(&fams[i]);
    }
    report("udp_after_sendto",
           sendto(udp, "x", 1, 0, (struct sockaddr *)&ua, sizeof(ua)));
    close(udp);
    return 0;
}
