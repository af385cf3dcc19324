/*
 * sl_cycle.h: one generation of configuration and what it opened.
 */
#ifndef SL_CYCLE_H
#define SL_CYCLE_H

#include <pwd.h>
#include "sl_conf.h"
#include "sl_conn.h"
#include "sl_shm.h"

/* The core module's main configuration. */
struct sl_core_conf {
    int64_t                  worker_processes;  /* 0 = auto */
    char                    *user;
    char                    *group;
    uid_t                    uid;
    gid_t                    gid;
    int64_t                  rlimit_nofile;
    char                    *pid_path;           /* NULL: off */
    char                    *error_log;          /* NULL: stderr */
    struct sl_syslog_peer   *error_log_syslog;   /* syslog:...; or NULL */
    int                      error_log_level;
    char                    *ctl_path;           /* NULL: off */
    mode_t                   ctl_mode;
    char                    *state_dir;
    sl_msec_t                worker_shutdown_timeout;
    int64_t                  worker_connections;
};

/* A file opened for appending (access logs), reopened on USR1. */
struct sl_open_file {
    char                    *path;
    int                      fd;
};

struct sl_cycle {
    unsigned                 magic;
#define SL_CYCLE_MAGIC       0x4359434cU
    struct sl_pool          *pool;
    char                    *conf_file;     /* absolute */
    char                    *prefix;        /* its directory, with '/' */
    void                   **main_conf;     /* per module, by index */
    struct sl_core_conf     *core;
    struct sl_array          listening;     /* struct sl_listening * */
    struct sl_array          shm_zones;     /* struct sl_shm_zone * */
    struct sl_array          open_files;    /* struct sl_open_file * */
    struct sl_array          syslogs;       /* struct sl_syslog_peer * */
    unsigned                 generation;
    unsigned                 nworkers;
};

extern struct sl_cycle *sl_cycle;     /* the current one in this process */

/*
 * Reads and checks the configuration at path into a new cycle; opens
 * nothing.  Returns NULL with "FILE:LINE: reason" in err.
 */
struct sl_cycle *sl_cycle_load(const char *path, char *err, size_t errlen);
/*
 * Opens what cycle needs (listening sockets, taking over old's where the
 * address matches; log files and syslog sockets; shared memory).  On failure releases what it
 * opened that old did not own and returns SL_ERROR with the reason in err.
 */
int sl_cycle_open(struct sl_cycle *cycle, struct sl_cycle *old, char *err,
    size_t errlen);
/* Closes what old owns that cycle did not take over, frees old. */
void sl_cycle_release(struct sl_cycle *old, struct sl_cycle *cycle);
/* Reopens cycle's open files (master: then chowns them to the user). */
void sl_cycle_reopen_files(struct sl_cycle *cycle, int chown_to_user);

/* Resolves a config path against the prefix; NUL-terminated, in pool. */
char *sl_conf_full_path(struct sl_conf_ctx *cf, const struct sl_str *s);
/* Registers an append-only file to open with the cycle; dedup by path. */
struct sl_open_file *sl_conf_open_file(struct sl_conf_ctx *cf,
    const struct sl_str *path);
/*
 * Parses a "syslog:..." target (errors as "FILE:LINE: reason") and
 * registers it to be opened with the cycle, one socket per call; the
 * socket is not reopened on USR1.  Returns NULL on error.
 */
struct sl_syslog_peer *sl_conf_syslog_peer(struct sl_conf_ctx *cf,
    const struct sl_str *spec);
/* Registers a listen address; returns the (possibly shared) listening. */
struct sl_listening *sl_conf_add_listening(struct sl_conf_ctx *cf,
    const union sl_sockaddr *sa, socklen_t len, int backlog);

#endif /* SL_CYCLE_H */
