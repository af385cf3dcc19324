/*
 * sl_ctl.h: the control socket.
 *
 * Protocol (UNIX stream socket, one command per connection):
 *   client -> master:  one line, at most SL_CTL_MAX_REQUEST bytes:
 *                      [-j ]WORD [WORD ...]\n     (words separated by one
 *                      space; a word may not contain space or newline)
 *   master -> client:  "0\n" or "1\n" (the exit status sluicectl returns),
 *                      then the output, then the master closes.  For status
 *                      1 the output is a one-line reason.
 * The master checks the peer's credentials (SO_PEERCRED): only root and the
 * master's own user may run commands.
 */
#ifndef SL_CTL_H
#define SL_CTL_H

#define SL_CTL_MAX_REQUEST   4096
#define SL_CTL_MAX_ARGS      32
#define SL_CTL_TIMEOUT_MS    2000

/* Output of one command, grown as needed (malloc; master only). */
struct sl_ctl_reply {
    char      *buf;
    size_t     len;
    size_t     cap;
    int        status;    /* 0 ok, 1 error */
    int        json;      /* -j given */
    int        nomem;     /* an allocation failed: the output is lost and
                             the client gets an error instead */
};

void sl_ctl_printf(struct sl_ctl_reply *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Sets status 1 and replaces the output with the one-line reason. */
void sl_ctl_fail(struct sl_ctl_reply *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends s as a JSON string literal (with quotes). */
void sl_ctl_json_str(struct sl_ctl_reply *r, const char *s);

/*
 * Splits a request line into argv (in place); sets *json when it starts
 * with "-j".  Returns argc, or -1 when malformed (empty, too many words,
 * control characters).
 */
int sl_ctl_split(char *line, char **argv, int max, int *json);

/* ---- master side ---------------------------------------------------- */

/*
 * Creates the listening socket at path with the given mode (an existing
 * socket file that nobody answers on is replaced; one that answers is an
 * error: another master runs).  Returns the fd or -1 with the reason
 * logged.
 */
int sl_ctl_server_open(const char *path, mode_t mode);
/* Accepts and serves one pending client on the listening fd. */
void sl_ctl_server_accept(int lfd);
void sl_ctl_server_close(int lfd, const char *path);

/* Upstream server commands (sl_ctl_upstream.c); argv[0] is the name. */
void sl_ctl_servers(struct sl_ctl_reply *r, int argc, char **argv);
void sl_ctl_server_admin(struct sl_ctl_reply *r, int argc, char **argv);
void sl_ctl_server_weight(struct sl_ctl_reply *r, int argc, char **argv);
void sl_ctl_server_change(struct sl_ctl_reply *r, int argc, char **argv);

/* cache purge ... | cache stats ... (sl_ctl_cache.c). */
void sl_ctl_cache(struct sl_ctl_reply *r, int argc, char **argv);

#endif /* SL_CTL_H */
