// freezer: a test tool that stops ONE thread of a running process for a while,
// leaving its other threads running. It finds the thread by its comm name
// (/proc/PID/task/TID/comm; the name "main" means the main thread, TID ==
// PID), seizes it with ptrace, interrupts it, keeps it stopped for the given
// time and then detaches. Tests use it to simulate a hung thread.
//
// Usage: freezer -p PID -t THREADNAME -s SECONDS
// Prints "frozen TID" once the thread is stopped, then "released TID" after
// detaching, or "gone TID" if the thread exited meanwhile (exit status 0).

#if defined(__linux__)

#include <dirent.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../lib/tools.h"

// Longest wait between checks of the frozen thread, as a safety net for exit
// notifications that come without SIGCHLD (e.g. a traced leader released by
// another thread's execve).
#define CHECK_INTERVAL_MS 100

static int sig_fd = -1; // read end of the self-pipe

// Prints the usage line and exits with status 2.
static void usage(void)
{
    fprintf(stderr, "usage: freezer -p PID -t THREADNAME -s SECONDS\n");
    exit(2);
}

// Drains the self-pipe; returns true if a termination signal was among it.
static bool drain_signals(void)
{
    bool stop = false;
    int sig;
    while ((sig = selfpipe_take()) != 0)
    {
        if (sig == SIGTERM || sig == SIGINT)
        {
            stop = true;
        }
    }
    return stop;
}

// Reads /proc/PID/task/TID/comm without the newline; false if unreadable.
static bool read_comm(pid_t pid, pid_t tid, char *out, size_t size)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%ld/task/%ld/comm", (long)pid,
             (long)tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
    {
        return false;
    }
    ssize_t n = read(fd, out, size - 1);
    close(fd);
    if (n <= 0)
    {
        return false;
    }
    out[n] = '\0';
    char *nl = strchr(out, '\n');
    if (nl != NULL)
    {
        *nl = '\0';
    }
    return true;
}

// Finds the TID of the thread called name in process pid; exits on failure.
// With several threads of the same name, the lowest TID is taken.
static pid_t find_thread(pid_t pid, const char *name)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%ld/task", (long)pid);
    DIR *dir = opendir(path);
    if (dir == NULL)
    {
        err(1, "process %ld", (long)pid);
    }
    if (strcmp(name, "main") == 0)
    {
        closedir(dir);
        snprintf(path, sizeof(path), "/proc/%ld/task/%ld", (long)pid,
                 (long)pid);
        if (access(path, F_OK) != 0)
        {
            err(1, "main thread of process %ld", (long)pid);
        }
        return pid;
    }
    pid_t found = -1;
    struct dirent *de;
    while ((de = readdir(dir)) != NULL)
    {
        char *end = NULL;
        long tid = strtol(de->d_name, &end, 10);
        if (end == de->d_name || *end != '\0' || tid <= 0)
        {
            continue;
        }
        char comm[64];
        if (read_comm(pid, (pid_t)tid, comm, sizeof(comm)) &&
            strcmp(comm, name) == 0 && (found < 0 || tid < found))
        {
            found = (pid_t)tid;
        }
    }
    closedir(dir);
    if (found < 0)
    {
        errx(1, "thread '%s' in process %ld: not found", name, (long)pid);
    }
    return found;
}

// Prints one status line and flushes it at once (tests wait for these lines).
static void say(const char *what, pid_t tid)
{
    printf("%s %ld\n", what, (long)tid);
    fflush(stdout);
}

// Interprets one waitpid status of the frozen thread. Returns true if the
// thread is gone; records a signal that must be re-injected on detach.
static bool note_status(int status, int *pending_sig)
{
    if (WIFEXITED(status) || WIFSIGNALED(status))
    {
        return true;
    }
    if (WIFSTOPPED(status))
    {
        int event = status >> 16;
        int sig = WSTOPSIG(status);
        // event 0 is a signal-delivery-stop: the signal was dequeued and would
        // be lost if not passed back on detach. Group-stops and the interrupt
        // trap (PTRACE_EVENT_STOP) carry nothing to re-inject.
        if (event == 0 && sig != SIGTRAP)
        {
            *pending_sig = sig;
        }
    }
    return false;
}

// Parses SECONDS (a non-negative decimal, fractions allowed) into ms.
static int64_t parse_seconds(const char *text)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    if (errno != 0 || end == text || *end != '\0' || !(v >= 0.0) ||
        v > 86400.0 * 365)
    {
        errx(2, "invalid seconds '%s'", text);
    }
    return (int64_t)(v * 1000.0 + 0.5);
}

// Entry point: find, seize, interrupt, hold, detach.
int main(int argc, char **argv)
{
    long pid_arg = -1;
    const char *name = NULL;
    int64_t hold_ms = -1;
    int c;
    while ((c = getopt(argc, argv, "p:t:s:")) != -1)
    {
        switch (c)
        {
        case 'p':
            pid_arg = (long)parse_num("pid", optarg, INT_MAX);
            if (pid_arg == 0)
            {
                errx(2, "invalid pid '%s'", optarg);
            }
            break;
        case 't':
            name = optarg;
            break;
        case 's':
            hold_ms = parse_seconds(optarg);
            break;
        default:
            usage();
        }
    }
    if (optind != argc || pid_arg < 0 || name == NULL || hold_ms < 0)
    {
        usage();
    }
    pid_t pid = (pid_t)pid_arg;

    static const int sigs[] = {SIGTERM, SIGINT, SIGCHLD};
    sig_fd = selfpipe_install(sigs, sizeof(sigs) / sizeof(sigs[0]));
    pid_t tid = find_thread(pid, name);

    if (ptrace(PTRACE_SEIZE, tid, NULL, NULL) != 0)
    {
        err(1, "ptrace seize %ld", (long)tid);
    }
    if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) != 0)
    {
        // Exiting detaches the tracee; nothing else to undo.
        err(1, "ptrace interrupt %ld", (long)tid);
    }
    int status = 0;
    int pending_sig = 0;
    pid_t w;
    while ((w = waitpid(tid, &status, __WALL)) < 0 && errno == EINTR)
    {
        if (drain_signals())
        {
            // Not yet stopped: exiting lets the kernel detach the tracee.
            exit(0);
        }
    }
    if (w < 0)
    {
        err(1, "waitpid %ld", (long)tid);
    }
    if (note_status(status, &pending_sig))
    {
        say("gone", tid);
        return 0;
    }
    say("frozen", tid);

    int64_t deadline = mono_ms() + hold_ms;
    for (;;)
    {
        // Reap every pending report of the thread before deciding anything.
        for (;;)
        {
            w = waitpid(tid, &status, __WALL | WNOHANG);
            if (w == 0)
            {
                break;
            }
            if (w < 0)
            {
                if (errno == EINTR)
                {
                    continue;
                }
                if (errno == ECHILD)
                {
                    // No longer our tracee: released by the kernel (e.g. a
                    // traced main thread replaced by another thread's execve).
                    say("gone", tid);
                    return 0;
                }
                err(1, "waitpid %ld", (long)tid);
            }
            if (note_status(status, &pending_sig))
            {
                say("gone", tid);
                return 0;
            }
        }
        int64_t left = deadline - mono_ms();
        if (left <= 0)
        {
            break;
        }
        int timeout = left < CHECK_INTERVAL_MS ? (int)left : CHECK_INTERVAL_MS;
        struct pollfd pfd = {.fd = sig_fd, .events = POLLIN};
        int r = poll(&pfd, 1, timeout);
        if (r < 0 && errno != EINTR)
        {
            err(1, "poll");
        }
        if (r > 0 && drain_signals())
        {
            break;
        }
    }

    // PTRACE_DETACH needs the tracee in a stop; ESRCH means it is either gone
    // or was woken (e.g. by SIGKILL). Collect its next report and try again.
    for (int attempt = 0;; attempt++)
    {
        if (ptrace(PTRACE_DETACH, tid, NULL, (void *)(intptr_t)pending_sig) == 0)
        {
            break;
        }
        if (errno != ESRCH || attempt >= 3)
        {
            err(1, "ptrace detach %ld", (long)tid);
        }
        while ((w = waitpid(tid, &status, __WALL)) < 0 && errno == EINTR)
        {
        }
        if (w < 0 || note_status(status, &pending_sig))
        {
            say("gone", tid);
            return 0;
        }
    }
    say("released", tid);
    return 0;
}

#else

#include <stdio.h>

int
main(void)
{
    fprintf(stderr, "freezer: needs Linux (ptrace PTRACE_SEIZE)\n");
    return 2;
}

#endif
