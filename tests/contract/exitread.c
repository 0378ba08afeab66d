//
// exitread: run a command, and the moment it exits, read a file.
//
//   exitread FILE CMD [ARG...]
//
// Prints "exit S bytes N": the command's exit status and how many bytes
// FILE held when the command had exited (-1 when it did not exist).  The
// contract suite uses it to see whether a daemonizing dpinger had written
// its pid file by the time the parent process exited, without the delay
// of a shell starting cat.
//

#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int
main(
    int                 argc,
    char *              argv[])
{
    char                buf[256];
    ssize_t             n;
    pid_t               pid;
    int                 status;
    int                 fd;

    if (argc < 3)
    {
        fprintf(stderr, "usage: exitread FILE CMD [ARG...]\n");
        return 2;
    }
    pid = fork();
    if (pid < 0)
    {
        fprintf(stderr, "exitread: fork: %s\n", strerror(errno));
        return 1;
    }
    if (pid == 0)
    {
        execvp(argv[2], argv + 2);
        fprintf(stderr, "exitread: %s: %s\n", argv[2], strerror(errno));
        _exit(127);
    }
    while (waitpid(pid, &status, 0) < 0)
    {
        if (errno != EINTR)
        {
            fprintf(stderr, "exitread: waitpid: %s\n", strerror(errno));
            return 1;
        }
    }

    n = -1;
    fd = open(argv[1], O_RDONLY);
    if (fd >= 0)
    {
        n = read(fd, buf, sizeof(buf));
        close(fd);
    }
    printf("exit %d bytes %ld\n", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), (long) n);
    return 0;
}
