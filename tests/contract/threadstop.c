//
// threadstop: stop one thread, given by its thread id, for a while.
//
//   threadstop -T TID -s SECONDS
//
// The contract suite needs this because stock dpinger does not name its
// threads, so tests/tools/freezer (which finds a thread by name) cannot
// pick its status thread; the caller finds the thread id instead.  Seizes
// the thread with ptrace, interrupts it, prints "frozen TID", holds it
// until SECONDS have passed or SIGTERM/SIGINT arrives, detaches and prints
// "released TID".  Prints "gone TID" if the thread exits meanwhile (for
// example when another thread of its process calls execve).
//

#include <sys/ptrace.h>
#include <sys/wait.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void
on_signal(
    int                 sig)
{
    (void) sig;
    stop = 1;
}

static void
say(
    const char *        what,
    pid_t               tid)
{
    printf("%s %ld\n", what, (long) tid);
    fflush(stdout);
}

// 1 when the wait status says the thread is gone
static int
gone(
    int                 status)
{
    return WIFEXITED(status) || WIFSIGNALED(status);
}

int
main(
    int                 argc,
    char *              argv[])
{
    struct sigaction    sa;
    struct timespec     slice = { 0, 50 * 1000000 };
    long                tid = -1;
    double              seconds = -1;
    double              held = 0;
    int                 status;
    int                 opt;
    pid_t               w;

    while ((opt = getopt(argc, argv, "T:s:")) != -1)
    {
        if (opt == 'T')
        {
            tid = strtol(optarg, NULL, 10);
        }
        else if (opt == 's')
        {
            seconds = strtod(optarg, NULL);
        }
        else
        {
            tid = -1;
            break;
        }
    }
    if (tid <= 0 || seconds < 0 || optind != argc)
    {
        fprintf(stderr, "usage: threadstop -T TID -s SECONDS\n");
        return 2;
    }

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    if (ptrace(PTRACE_SEIZE, (pid_t) tid, NULL, NULL) != 0)
    {
        fprintf(stderr, "threadstop: seize %ld: %s\n", tid, strerror(errno));
        return 1;
    }
    if (ptrace(PTRACE_INTERRUPT, (pid_t) tid, NULL, NULL) != 0)
    {
        fprintf(stderr, "threadstop: interrupt %ld: %s\n", tid, strerror(errno));
        return 1;
    }
    w = waitpid((pid_t) tid, &status, __WALL);
    if (w < 0 || gone(status))
    {
        say("gone", (pid_t) tid);
        return 0;
    }
    say("frozen", (pid_t) tid);

    // Hold it; a report that it died ends the hold
    while (!stop && held < seconds)
    {
        w = waitpid((pid_t) tid, &status, __WALL | WNOHANG);
        if (w < 0 || (w > 0 && gone(status)))
        {
            say("gone", (pid_t) tid);
            return 0;
        }
        nanosleep(&slice, NULL);
        held += 0.05;
    }
    if (ptrace(PTRACE_DETACH, (pid_t) tid, NULL, NULL) != 0)
    {
        say("gone", (pid_t) tid);
        return 0;
    }
    say("released", (pid_t) tid);
    return 0;
}
