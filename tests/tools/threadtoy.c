// threadtoy: a small multithreaded target for testing freezer. The main thread
// and a thread named "ticker" each count every 10 ms and print "main N" /
// "ticker N" lines to stdout (plain write(2), no stdio locks, so a stopped
// thread cannot block the others). With -x FILE a thread named "execer"
// re-executes the program (generation + 1, same pid) as soon as FILE exists,
// to check that execve() completes while another thread is frozen.
//
// Usage: threadtoy [-g generation] [-x exec_when_file_exists] [-T lifetime_s]

#include <err.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../lib/tools.h"

#define TICK_MS 10

static long generation = 1;
static const char *exec_file;
static long lifetime_s = 60;

// Writes one formatted line to stdout with a single write(2).
static void emit(const char *label, unsigned long value)
{
    char line[64];
    int n = snprintf(line, sizeof(line), "%s %lu\n", label, value);
    if (n > 0)
    {
        ssize_t w = write(STDOUT_FILENO, line, (size_t)n);
        (void)w;
    }
}

// Sleeps for the given number of milliseconds, resuming after signals.
static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    {
    }
}

// Thread body: counts and prints "ticker N" forever.
static void *ticker(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "ticker");
    for (unsigned long n = 1;; n++)
    {
        emit("ticker", n);
        sleep_ms(TICK_MS);
    }
    return NULL;
}

// Thread body: once exec_file exists, re-executes this program (by its real
// path, so the process name stays "threadtoy") as the next generation.
static void *execer(void *arg)
{
    char **argv0 = arg;
    pthread_setname_np(pthread_self(), "execer");
    while (access(exec_file, F_OK) != 0)
    {
        sleep_ms(TICK_MS);
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
    {
        warn("readlink /proc/self/exe");
        return NULL;
    }
    self[n] = '\0';
    char gen[32];
    char life[32];
    snprintf(gen, sizeof(gen), "%ld", generation + 1);
    snprintf(life, sizeof(life), "%ld", lifetime_s);
    char *const args[] = {argv0[0], "-g", gen, "-T", life, NULL};
    emit("exec gen", (unsigned long)generation);
    execv(self, args);
    warn("execv %s", self);
    return NULL;
}

// Entry point: start the threads, then count on the main thread until the
// lifetime is over.
int main(int argc, char **argv)
{
    int c;
    while ((c = getopt(argc, argv, "g:x:T:")) != -1)
    {
        switch (c)
        {
        case 'g':
            generation = (long)parse_num("generation", optarg, LONG_MAX);
            break;
        case 'x':
            exec_file = optarg;
            break;
        case 'T':
            lifetime_s = (long)parse_num("lifetime_s", optarg, LONG_MAX / 1000);
            break;
        default:
            fprintf(stderr, "usage: threadtoy [-g generation] "
                            "[-x exec_when_file_exists] [-T lifetime_s]\n");
            return 2;
        }
    }
    char line[64];
    int n = snprintf(line, sizeof(line), "start gen %ld pid %ld\n", generation,
                     (long)getpid());
    ssize_t w = write(STDOUT_FILENO, line, (size_t)n);
    (void)w;

    pthread_t t;
    int rc = pthread_create(&t, NULL, ticker, NULL);
    if (rc != 0)
    {
        errx(1, "pthread_create ticker: %s", strerror(rc));
    }
    if (exec_file != NULL)
    {
        rc = pthread_create(&t, NULL, execer, argv);
        if (rc != 0)
        {
            errx(1, "pthread_create execer: %s", strerror(rc));
        }
    }
    long ticks = lifetime_s * 1000 / TICK_MS;
    for (unsigned long i = 1; (long)i <= ticks; i++)
    {
        emit("main", i);
        sleep_ms(TICK_MS);
    }
    return 0;
}
