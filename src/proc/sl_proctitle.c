/*
 * sl_proctitle.c: process titles on Linux, by overwriting the argv area
 * (after moving the environment out of it), which is what ps and
 * /proc/PID/cmdline show.
 */
#include "sl_core.h"
#include "sl_process.h"

#include <sys/prctl.h>

extern char **environ;

static char  *sl_title_start;
static size_t sl_title_len;

void
sl_proctitle_init(int argc, char **argv)
{
    char *start, *end, **env;
    size_t n;
    int i;

    if (argc == 0 || argv[0] == NULL)
        return;
    start = argv[0];
    end = argv[0];
    for (i = 0; i < argc; i++) {
        if (argv[i] == end)
            end = argv[i] + strlen(argv[i]) + 1;
    }
    for (i = 0; environ[i] != NULL; i++) {
        if (environ[i] == end)
            end = environ[i] + strlen(environ[i]) + 1;
    }
    for (n = 0; environ[n] != NULL; n++)
        ;
    env = malloc((n + 1) * sizeof(char *));
    if (env == NULL)
        return;
    for (i = 0; environ[i] != NULL; i++) {
        env[i] = strdup(environ[i]);
        if (env[i] == NULL)
            return;
    }
    env[i] = NULL;
    environ = env;
    /* main keeps reading its arguments; give it copies. */
    for (i = 0; i < argc; i++) {
        argv[i] = strdup(argv[i]);
        if (argv[i] == NULL)
            return;
    }
    sl_title_start = start;
    sl_title_len = (size_t) (end - start);
}

void
sl_proctitle_set(const char *fmt, ...)
{
    char title[256];
    va_list ap;
    size_t n;

    va_start(ap, fmt);
    vsnprintf(title, sizeof(title), fmt, ap);
    va_end(ap);
    (void) prctl(PR_SET_NAME, "sluice", 0, 0, 0);
    if (sl_title_start == NULL || sl_title_len < 2)
        return;
    n = strlen(title);
    if (n > sl_title_len - 1)
        n = sl_title_len - 1;
    memcpy(sl_title_start, title, n);
    /* Zero the rest, so /proc/PID/cmdline ends at the title. */
    memset(sl_title_start + n, 0, sl_title_len - n);
}
