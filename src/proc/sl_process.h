/*
 * sl_process.h: the process model.  The master supervises a generation of
 * workers and one checker; see DESIGN.md "Processes".
 */
#ifndef SL_PROCESS_H
#define SL_PROCESS_H

#include <signal.h>

enum sl_proc_role {
    SL_PROC_MASTER = 0,
    SL_PROC_WORKER,
    SL_PROC_CHECKER,
    SL_PROC_SINGLE          /* -t and friends: no children */
};

extern enum sl_proc_role sl_proc_role;
extern int               sl_proc_slot;      /* worker slot, -1 otherwise */

/* Flags set by signal handlers in children, read by their loops. */
extern volatile sig_atomic_t sl_quit;       /* QUIT: graceful stop */
extern volatile sig_atomic_t sl_terminate;  /* TERM/INT: fast stop */
extern volatile sig_atomic_t sl_reopen;     /* USR1: reopen logs */

/* Command line, set by main(). */
struct sl_options {
    const char   *conf_file;
    unsigned      test_only:1;     /* -t */
    unsigned      foreground:1;    /* -f */
};
extern struct sl_options sl_options;

/* ---- process titles ------------------------------------------------- */
void sl_proctitle_init(int argc, char **argv);
void sl_proctitle_set(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* ---- master --------------------------------------------------------- */

/* Runs the master; returns the exit status. */
int sl_master_run(struct sl_cycle *cycle);

struct sl_master_child {
    pid_t         pid;
    int           slot;            /* worker slot, -1 for the checker */
    unsigned      generation;
    enum sl_proc_role role;
    sl_msec_t     started;
};

/* What `sluicectl status` reports. */
struct sl_master_status {
    time_t        start_time;
    const char   *conf_file;
    unsigned      generation;
    unsigned      reloads;
    unsigned      reload_failures;
    pid_t         master_pid;
    int           nchildren;
    struct sl_master_child *children;   /* current generation first */
};

void sl_master_get_status(struct sl_master_status *st);
/*
 * Validates the configuration file and, if valid, starts a new generation
 * on it and drains the old one.  Returns SL_OK, or SL_ERROR with the reason
 * ("FILE:LINE: reason") in err; the old generation keeps running then.
 */
int sl_master_reload(char *err, size_t errlen);
/* Asks the master to stop: fast (SIGTERM semantics) or graceful (QUIT). */
void sl_master_stop(int graceful);
/* Reopens the master's logs and signals children to do the same. */
void sl_master_reopen(void);

/* ---- children ------------------------------------------------------- */
void sl_worker_run(struct sl_cycle *cycle, int slot) __attribute__((noreturn));
void sl_checker_run(struct sl_cycle *cycle) __attribute__((noreturn));

#endif /* SL_PROCESS_H */
