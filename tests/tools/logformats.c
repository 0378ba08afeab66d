//
// logformats: prints every log line format of dpinger, one a line, exactly
// as passed to the logger, from the daemon's own table (log_formats[]).
// The docs test reads them to check that dpinger.8 describes every line.
// dpinger.c is compiled in with its main() renamed, as in the unit tests.
//

#define DPINGER_MAIN dpinger_main
#include "../../dpinger.c"

int
main(void)
{
    size_t              i;

    for (i = 0; log_formats[i] != NULL; i++)
    {
        if (puts(log_formats[i]) == EOF)
        {
            perror("logformats: stdout");
            return 1;
        }
    }
    return fflush(stdout) == 0 ? 0 : 1;
}
