/*
 * sl_log.c: the error log of this process.
 *
 * Lines are written with one write(2) on an O_APPEND descriptor, so that
 * the master, the workers and the checker can share a log file without
 * interleaving within a line.
 */
#include "sl_core.h"
#include "sl_syslog.h"

#include <fcntl.h>
#include <strings.h>

struct sl_log sl_log_main = { STDERR_FILENO, SL_LOG_NOTICE, NULL, NULL };
pid_t sl_pid;
int sl_log_slot;

static const char *sl_log_levels[] = {
    "emerg", "alert", "crit", "error", "warn", "notice", "info", "debug"
};

#define SL_LOG_LINE_MAX    2048

void
sl_log_verror(enum sl_log_level level, int err, const char *fmt, va_list ap)
{
    char line[SL_LOG_LINE_MAX], *p, *last;
    ssize_t n;

    if (level > sl_log_main.level)
        return;
    if (sl_cached_err_log_time[0] == '\0')
        sl_time_update();
    p = line;
    last = line + sizeof(line) - 1;     /* room for the newline */
    if (sl_log_main.syslog == NULL)
        p = sl_snprintf(p, last, "%s ", sl_cached_err_log_time);
    p = sl_snprintf(p, last, "[%s] %d#%d: ", sl_log_levels[level],
                    (int) (sl_pid ? sl_pid : getpid()), sl_log_slot);
    p = sl_vsnprintf(p, last, fmt, ap);
    if (err != 0)
        p = sl_snprintf(p, last, " (%d: %s)", err, strerror(err));
    if (sl_log_main.syslog != NULL) {
        /* The levels are syslog's severities, emerg 0 to debug 7. */
        (void) sl_syslog_send(sl_log_main.syslog, (int) level, line,
                              (size_t) (p - line));
        return;
    }
    *p++ = '\n';
    do {
        n = write(sl_log_main.fd, line, (size_t) (p - line));
    } while (n == -1 && errno == EINTR);
}

void
sl_log_error(enum sl_log_level level, int err, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    sl_log_verror(level, err, fmt, ap);
    va_end(ap);
}

void
sl_assert_fail(const char *expr, const char *file, int line)
{
    sl_log_error(SL_LOG_ALERT, 0, "assertion \"%s\" failed at %s:%d",
                 expr, file, line);
    abort();
}

int
sl_log_level_parse(const struct sl_str *name)
{
    unsigned i;

    for (i = 0; i < sl_nelems(sl_log_levels); i++) {
        if (sl_str_eq(name, sl_log_levels[i]))
            return (int) i;
    }
    return -1;
}

int
sl_log_open(const char *path, enum sl_log_level level)
{
    int fd;
    char *copy;

    if (path == NULL || strcmp(path, "stderr") == 0) {
        if (sl_log_main.fd != STDERR_FILENO && sl_log_main.fd != -1)
            close(sl_log_main.fd);
        free(sl_log_main.path);
        sl_log_main.fd = STDERR_FILENO;
        sl_log_main.path = NULL;
        sl_log_main.syslog = NULL;
        sl_log_main.level = level;
        return SL_OK;
    }
    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd == -1)
        return SL_ERROR;
    copy = strdup(path);
    if (copy == NULL) {
        close(fd);
        return SL_ERROR;
    }
    if (sl_log_main.fd != STDERR_FILENO && sl_log_main.fd != -1)
        close(sl_log_main.fd);
    free(sl_log_main.path);
    sl_log_main.fd = fd;
    sl_log_main.path = copy;
    sl_log_main.syslog = NULL;
    sl_log_main.level = level;
    return SL_OK;
}

void
sl_log_open_syslog(struct sl_syslog_peer *peer, enum sl_log_level level)
{
    SL_CHECK_OBJ_NOTNULL(peer, SL_SYSLOG_PEER_MAGIC);
    if (sl_log_main.fd != STDERR_FILENO && sl_log_main.fd != -1)
        close(sl_log_main.fd);
    free(sl_log_main.path);
    sl_log_main.fd = -1;
    sl_log_main.path = NULL;
    sl_log_main.syslog = peer;
    sl_log_main.level = level;
}

int
sl_log_reopen(void)
{
    int fd;

    if (sl_log_main.path == NULL)
        return SL_OK;
    fd = open(sl_log_main.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
              0644);
    if (fd == -1) {
        sl_log_error(SL_LOG_ALERT, errno, "open() \"%s\" failed",
                     sl_log_main.path);
        return SL_ERROR;
    }
    /* dup2 keeps the descriptor number, so nobody holds a stale copy. */
    if (dup2(fd, sl_log_main.fd) == -1) {
        close(fd);
        return SL_ERROR;
    }
    close(fd);
    return SL_OK;
}
