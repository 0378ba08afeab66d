// faultinject.so: an LD_PRELOAD library for tests. It is a SIMULATION, on
// Linux, of what pfSense shows on FreeBSD after a gateway interface (e.g. an
// IPsec VTI) is destroyed and recreated: raw ICMP sockets created before the
// event fail every send with EHOSTUNREACH forever, while sockets created
// afterwards work. Linux itself does not behave like this; the library fakes
// it so the daemon's socket-replacement logic can be tested here.
//
// Environment:
//   FAULTINJECT_TRIGGER=/path  the event happens the first time an intercepted
//                              call (socket, send, sendto, sendmsg, sendmmsg)
//                              sees that this file exists; it stays fired.
//   FAULTINJECT_LOG=/path      optional; one line is appended per state change
//                              ("faultinject: trigger fired", "faultinject:
//                              socket ino N stale" on the first refusal).
//   FAULTINJECT_COUNT=/path    optional; holds the number of sends refused so
//                              far by this process image, one number and a
//                              newline (replaced by rename on each refusal).
//   FAULTINJECT_STATE=/path    optional; where the identities of pre-trigger
//                              sockets are appended (default: the trigger
//                              path plus ".sockets"). A process image that
//                              loads the library reads it and keeps inherited
//                              pre-trigger sockets stale across execve(), as
//                              the kernel objects would be on FreeBSD. The
//                              trigger itself is re-checked (and logged) per
//                              process image.
// Raw ICMP sockets (AF_INET/SOCK_RAW/IPPROTO_ICMP, AF_INET6/SOCK_RAW/
// IPPROTO_ICMPV6) are tracked by socket inode, not fd number, because the
// daemon swaps sockets with dup2()/dup3() onto the same fd. Other sockets are
// never touched. Without FAULTINJECT_TRIGGER nothing ever fails. write() and
// writev() on a raw socket are not intercepted. The library prints nothing on
// stdout/stderr.

#if defined(__linux__)

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define TABLE_SIZE 256

// One tracked raw ICMP socket, identified by its sockfs inode.
struct tracked
{
    bool used;
    bool pre_trigger;   // created before the trigger fired: stale once fired
    bool logged;        // its first refusal has been logged
    dev_t dev;
    ino_t ino;
    unsigned long long order; // creation order, for eviction
};

typedef int (*socket_fn)(int, int, int);
typedef ssize_t (*send_fn)(int, const void *, size_t, int);
typedef ssize_t (*sendto_fn)(int, const void *, size_t, int,
                             const struct sockaddr *, socklen_t);
typedef ssize_t (*sendmsg_fn)(int, const struct msghdr *, int);
typedef int (*sendmmsg_fn)(int, struct mmsghdr *, unsigned int, int);

static socket_fn real_socket;
static send_fn real_send;
static sendto_fn real_sendto;
static sendmsg_fn real_sendmsg;
static sendmmsg_fn real_sendmmsg;
static pthread_once_t resolve_once = PTHREAD_ONCE_INIT;

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tracked table[TABLE_SIZE];
static unsigned long long next_order;
static atomic_bool fired;
static atomic_int stale_count; // tracked pre-trigger sockets in the table

// Copies a symbol address from dlsym() into a function pointer (memcpy keeps
// the object-to-function pointer conversion out of ISO C's way).
static void load_symbol(void *fn_ptr, size_t size, const char *name)
{
    void *sym = dlsym(RTLD_NEXT, name);
    memcpy(fn_ptr, &sym, size < sizeof(sym) ? size : sizeof(sym));
}

// Looks up the next definitions of the wrapped libc functions.
static void resolve(void)
{
    load_symbol(&real_socket, sizeof(real_socket), "socket");
    load_symbol(&real_send, sizeof(real_send), "send");
    load_symbol(&real_sendto, sizeof(real_sendto), "sendto");
    load_symbol(&real_sendmsg, sizeof(real_sendmsg), "sendmsg");
    load_symbol(&real_sendmmsg, sizeof(real_sendmmsg), "sendmmsg");
}

// Appends one line to FAULTINJECT_LOG if it is set; keeps errno intact.
static void log_line(const char *line)
{
    const char *path = getenv("FAULTINJECT_LOG");
    if (path == NULL || path[0] == '\0')
    {
        return;
    }
    int saved = errno;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0)
    {
        ssize_t w = write(fd, line, strlen(line));
        (void)w;
        close(fd);
    }
    errno = saved;
}

// Fires the trigger once its file exists; returns whether it has fired.
static bool check_trigger(void)
{
    if (atomic_load(&fired))
    {
        return true;
    }
    const char *path = getenv("FAULTINJECT_TRIGGER");
    if (path == NULL || path[0] == '\0')
    {
        return false;
    }
    int saved = errno;
    struct stat sb;
    bool exists = stat(path, &sb) == 0;
    errno = saved;
    if (!exists)
    {
        return false;
    }
    bool expected = false;
    if (atomic_compare_exchange_strong(&fired, &expected, true))
    {
        log_line("faultinject: trigger fired\n");
    }
    return true;
}

// Tells whether a socket() call asks for a raw ICMP or ICMPv6 socket.
static bool is_raw_icmp(int domain, int type, int protocol)
{
    int base = type & ~(SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (base != SOCK_RAW)
    {
        return false;
    }
    return (domain == AF_INET && protocol == IPPROTO_ICMP) ||
           (domain == AF_INET6 && protocol == IPPROTO_ICMPV6);
}

// Records a raw ICMP socket identity; an entry with the same inode (a
// reused inode number of a closed socket) is replaced. When the table is
// full, an entry of a post-trigger socket is evicted first, else the oldest.
static void track_identity(dev_t dev, ino_t ino, bool pre_trigger)
{
    pthread_mutex_lock(&table_lock);
    int slot = -1;
    int oldest_any = -1;
    int oldest_post = -1;
    for (int i = 0; i < TABLE_SIZE; i++)
    {
        struct tracked *t = &table[i];
        if (!t->used)
        {
            if (slot < 0)
            {
                slot = i;
            }
            continue;
        }
        if (t->dev == dev && t->ino == ino)
        {
            slot = i;
            break;
        }
        if (oldest_any < 0 || t->order < table[oldest_any].order)
        {
            oldest_any = i;
        }
        if (!t->pre_trigger &&
            (oldest_post < 0 || t->order < table[oldest_post].order))
        {
            oldest_post = i;
        }
    }
    if (slot < 0)
    {
        slot = oldest_post >= 0 ? oldest_post : oldest_any;
    }
    struct tracked *t = &table[slot];
    if (t->used && t->pre_trigger)
    {
        atomic_fetch_sub(&stale_count, 1);
    }
    *t = (struct tracked){
        .used = true,
        .pre_trigger = pre_trigger,
        .logged = false,
        .dev = dev,
        .ino = ino,
        .order = next_order++,
    };
    if (pre_trigger)
    {
        atomic_fetch_add(&stale_count, 1);
    }
    pthread_mutex_unlock(&table_lock);
}

// Returns the path of the state file (FAULTINJECT_STATE, else the trigger
// path plus ".sockets") in buf, or NULL when there is none.
static const char *state_path(char *buf, size_t size)
{
    const char *path = getenv("FAULTINJECT_STATE");
    if (path != NULL && path[0] != '\0')
    {
        return path;
    }
    const char *trigger = getenv("FAULTINJECT_TRIGGER");
    if (trigger == NULL || trigger[0] == '\0')
    {
        return NULL;
    }
    int n = snprintf(buf, size, "%s.sockets", trigger);
    return n > 0 && (size_t)n < size ? buf : NULL;
}

// Appends a pre-trigger socket identity to the state file; keeps errno.
static void save_identity(dev_t dev, ino_t ino)
{
    char buf[4096];
    const char *path = state_path(buf, sizeof(buf));
    if (path == NULL)
    {
        return;
    }
    int saved = errno;
    char line[64];
    int n = snprintf(line, sizeof(line), "%llu %llu\n", (unsigned long long)dev,
                     (unsigned long long)ino);
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0)
    {
        ssize_t w = write(fd, line, (size_t)n);
        (void)w;
        close(fd);
    }
    errno = saved;
}

// Records a new raw ICMP socket by the identity of its fd.
static void track_socket(int fd, bool pre_trigger)
{
    int saved = errno;
    struct stat sb;
    bool ok = fstat(fd, &sb) == 0;
    errno = saved;
    if (!ok)
    {
        return;
    }
    track_identity(sb.st_dev, sb.st_ino, pre_trigger);
    if (pre_trigger)
    {
        save_identity(sb.st_dev, sb.st_ino);
    }
}

// Tells whether the state file lists the given socket identity.
static bool state_lists(FILE *f, dev_t dev, ino_t ino)
{
    rewind(f);
    unsigned long long d;
    unsigned long long i;
    while (fscanf(f, "%llu %llu", &d, &i) == 2)
    {
        if (d == (unsigned long long)dev && i == (unsigned long long)ino)
        {
            return true;
        }
    }
    return false;
}

// Library constructor: re-tracks sockets inherited across execve() that an
// earlier process image recorded as pre-trigger.
__attribute__((constructor)) static void import_inherited(void)
{
    int saved = errno;
    char buf[4096];
    const char *path = state_path(buf, sizeof(buf));
    FILE *f = path != NULL ? fopen(path, "re") : NULL;
    if (f == NULL)
    {
        errno = saved;
        return;
    }
    DIR *dir = opendir("/proc/self/fd");
    if (dir != NULL)
    {
        int self = dirfd(dir);
        struct dirent *de;
        while ((de = readdir(dir)) != NULL)
        {
            char *end = NULL;
            long fd = strtol(de->d_name, &end, 10);
            struct stat sb;
            if (end == de->d_name || *end != '\0' || fd == self ||
                fstat((int)fd, &sb) != 0 || !S_ISSOCK(sb.st_mode))
            {
                continue;
            }
            if (state_lists(f, sb.st_dev, sb.st_ino))
            {
                track_identity(sb.st_dev, sb.st_ino, true);
            }
        }
        closedir(dir);
    }
    fclose(f);
    errno = saved;
}

// Counts one refused send in FAULTINJECT_COUNT, if it is set: the file is
// rewritten through a rename, so a reader never sees it half written.
static void count_refusal(void)
{
    static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;
    static unsigned long long refused;
    const char *path = getenv("FAULTINJECT_COUNT");
    if (path == NULL || path[0] == '\0')
    {
        return;
    }
    int saved = errno;
    char tmp[4096];
    char text[32];
    pthread_mutex_lock(&count_lock);
    refused++;
    int n = snprintf(text, sizeof(text), "%llu\n", refused);
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) < sizeof(tmp))
    {
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd >= 0)
        {
            bool ok = write(fd, text, (size_t)n) == n;
            close(fd);
            if (ok)
            {
                rename(tmp, path);
            }
        }
    }
    pthread_mutex_unlock(&count_lock);
    errno = saved;
}

// Decides whether a send on fd must be refused as stale; logs the first
// refusal of each socket.
static bool refuse_send(int fd)
{
    if (!check_trigger() || atomic_load(&stale_count) == 0)
    {
        return false;
    }
    int saved = errno;
    struct stat sb;
    bool ok = fstat(fd, &sb) == 0 && S_ISSOCK(sb.st_mode);
    errno = saved;
    if (!ok)
    {
        return false;
    }
    bool refuse = false;
    bool log_it = false;
    pthread_mutex_lock(&table_lock);
    for (int i = 0; i < TABLE_SIZE; i++)
    {
        struct tracked *t = &table[i];
        if (t->used && t->dev == sb.st_dev && t->ino == sb.st_ino)
        {
            refuse = t->pre_trigger;
            if (refuse && !t->logged)
            {
                t->logged = true;
                log_it = true;
            }
            break;
        }
    }
    pthread_mutex_unlock(&table_lock);
    if (refuse)
    {
        count_refusal();
    }
    if (log_it)
    {
        char line[80];
        snprintf(line, sizeof(line), "faultinject: socket ino %llu stale\n",
                 (unsigned long long)sb.st_ino);
        log_line(line);
    }
    return refuse;
}

// Wrapper of socket(2): tracks raw ICMP sockets with their trigger state.
int socket(int domain, int type, int protocol)
{
    pthread_once(&resolve_once, resolve);
    if (real_socket == NULL)
    {
        errno = ENOSYS;
        return -1;
    }
    bool now_fired = check_trigger();
    int fd = real_socket(domain, type, protocol);
    if (fd >= 0 && is_raw_icmp(domain, type, protocol))
    {
        track_socket(fd, !now_fired);
    }
    return fd;
}

// The body of every send wrapper: a stale socket fails with EHOSTUNREACH,
// a libc function that could not be found with ENOSYS, anything else goes
// on to libc.
#define SEND_THROUGH(real, ...)                                                \
    do                                                                         \
    {                                                                          \
        pthread_once(&resolve_once, resolve);                                  \
        if (refuse_send(fd))                                                   \
        {                                                                      \
            errno = EHOSTUNREACH;                                              \
            return -1;                                                         \
        }                                                                      \
        if ((real) == NULL)                                                    \
        {                                                                      \
            errno = ENOSYS;                                                    \
            return -1;                                                         \
        }                                                                      \
        return (real)(__VA_ARGS__);                                            \
    } while (0)

// Wrapper of sendto(2).
ssize_t sendto(int fd, const void *buf, size_t len, int flags,
               const struct sockaddr *addr, socklen_t addrlen)
{
    SEND_THROUGH(real_sendto, fd, buf, len, flags, addr, addrlen);
}

// Wrapper of send(2).
ssize_t send(int fd, const void *buf, size_t len, int flags)
{
    SEND_THROUGH(real_send, fd, buf, len, flags);
}

// Wrapper of sendmsg(2).
ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
    SEND_THROUGH(real_sendmsg, fd, msg, flags);
}

// Wrapper of sendmmsg(2).
int sendmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, int flags)
{
    SEND_THROUGH(real_sendmmsg, fd, vec, vlen, flags);
}

#else

// Elsewhere the library is empty: the tests that preload it are Linux-only.
extern int faultinject_linux_only;

#endif
