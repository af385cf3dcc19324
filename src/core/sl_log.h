/*
 * sl_log.h: the error log.  Each process has one current error log;
 * messages look like nginx's:
 *   2026/11/28 10:00:00 [error] 1234#0: connect() to 127.0.0.1:8081
 *       failed (111: Connection refused) while connecting to upstream
 * or, sent to syslog (which adds its own time), without the time.
 */
#ifndef SL_LOG_H
#define SL_LOG_H

enum sl_log_level {
    SL_LOG_EMERG = 0,
    SL_LOG_ALERT,
    SL_LOG_CRIT,
    SL_LOG_ERR,
    SL_LOG_WARN,
    SL_LOG_NOTICE,
    SL_LOG_INFO,
    SL_LOG_DEBUG
};

struct sl_syslog_peer;

struct sl_log {
    int                 fd;          /* -1 with syslog */
    enum sl_log_level   level;
    char               *path;        /* NULL: stderr or syslog */
    struct sl_syslog_peer *syslog;   /* non-NULL: lines go there */
};

/* The error log of this process; starts as stderr at level notice. */
extern struct sl_log sl_log_main;
/* Set by workers so log lines carry "pid#slot". */
extern int sl_log_slot;

void sl_log_error(enum sl_log_level level, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void sl_log_verror(enum sl_log_level level, int err, const char *fmt,
    va_list ap);
/* Parses "emerg".."debug"; returns -1 when unknown. */
int sl_log_level_parse(const struct sl_str *name);
/*
 * Opens path for appending (O_APPEND|O_CLOEXEC, mode 0644) and makes it
 * the error log; "stderr" keeps stderr.  Returns SL_OK or SL_ERROR with
 * errno set.
 */
int sl_log_open(const char *path, enum sl_log_level level);
/*
 * Makes the syslog target peer (opened, owned by the cycle that holds it)
 * the error log; the severity of each message is its level.  The caller
 * switches away from peer before the cycle closes it.
 */
void sl_log_open_syslog(struct sl_syslog_peer *peer, enum sl_log_level level);
/* Reopens the current log file (USR1); no-op on stderr and syslog. */
int sl_log_reopen(void);

#define sl_log_debug(...)                                                     \
    do { if (sl_log_main.level >= SL_LOG_DEBUG)                               \
             sl_log_error(SL_LOG_DEBUG, 0, __VA_ARGS__); } while (0)

#endif /* SL_LOG_H */
