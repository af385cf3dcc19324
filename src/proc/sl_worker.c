/*
 * sl_worker.c: a worker process: one epoll loop serving the connections
 * accepted on this worker slot's listening sockets.
 */
#include "sl_core.h"
#include "sl_cycle.h"
#include "sl_process.h"
#include "sl_http.h"
#include "sl_upstream.h"
#include "sl_http_stats.h"

struct sl_options sl_options;
enum sl_proc_role sl_proc_role = SL_PROC_SINGLE;
int sl_proc_slot = -1;
volatile sig_atomic_t sl_quit;
volatile sig_atomic_t sl_terminate;
volatile sig_atomic_t sl_reopen;

static void
sl_child_signal_handler(int sig)
{
    switch (sig) {
    case SIGQUIT:
        sl_quit = 1;
        break;
    case SIGTERM:
    case SIGINT:
        sl_terminate = 1;
        break;
    case SIGUSR1:
        sl_reopen = 1;
        break;
    default:
        break;
    }
}

/*
 * Installs the child's handlers.  The signals stay blocked (inherited from
 * the master) except inside epoll_pwait, so a flag is never set between
 * the check and the sleep.
 */
void
sl_child_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = sl_child_signal_handler;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGQUIT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
}

static void
sl_worker_exit(int code)
{
    sl_http_log_flush_all();
    exit(code);
}

static void
sl_worker_close_idle(struct sl_conn *c)
{
    c->shutdown = 1;
}

static void
sl_worker_force_close(struct sl_conn *c)
{
    /* Past worker_shutdown_timeout: let the handler finish and close. */
    c->close = 1;
    c->shutdown = 1;
    if (c->read.handler != NULL)
        c->read.handler(&c->read);
}

void
sl_worker_run(struct sl_cycle *cycle, int slot)
{
    struct sl_core_conf *ccf = cycle->core;
    sl_msec_t deadline = 0;
    int shutting_down = 0;
    unsigned i;

    sl_log_slot = slot;
    sl_cycle = cycle;
    sl_child_signals();
    sl_proctitle_set("sluice: worker process");
    sl_time_update();

    if (sl_event_init(512) != SL_OK
        || sl_conn_init((unsigned) ccf->worker_connections) != SL_OK)
    {
        sl_log_error(SL_LOG_EMERG, 0, "worker initialisation failed");
        exit(2);
    }
    for (i = 0; i < sl_nmodules; i++) {
        if (sl_modules[i]->init_worker != NULL
            && sl_modules[i]->init_worker(cycle) != SL_OK)
        {
            exit(2);
        }
    }
    if (sl_conn_listen_start(cycle, slot, sl_http_init_connection) != SL_OK)
        exit(2);

    for (;;) {
        sl_event_process(shutting_down ? 100 : 1000);
        /* A draining worker's slot belongs to its successor now. */
        if (!shutting_down)
            sl_stats_worker_tick(slot, (int) sl_conn_active_count());

        if (sl_terminate)
            sl_worker_exit(0);
        if (sl_reopen) {
            sl_reopen = 0;
            sl_http_log_flush_all();
            sl_cycle_reopen_files(cycle, 0);
            sl_log_reopen();
        }
        if (sl_quit && !shutting_down) {
            shutting_down = 1;
            sl_proctitle_set("sluice: worker process is shutting down");
            sl_log_error(SL_LOG_INFO, 0, "gracefully shutting down");
            sl_conn_listen_stop(cycle);
            /*
             * Idle keepalive connections are not closed here: a client may
             * be sending on one right now.  Each gets "Connection: close"
             * on its next response, or is closed at its keepalive timeout.
             */
            sl_conn_foreach(sl_worker_close_idle);
            /* Idle upstream connections would only hold the exit up. */
            sl_upstream_keepalive_close_all();
            deadline = sl_current_msec + ccf->worker_shutdown_timeout;
        }
        if (shutting_down) {
            if (sl_conn_active_count() == 0)
                sl_worker_exit(0);
            if (sl_current_msec >= deadline) {
                sl_conn_foreach(sl_worker_force_close);
                sl_worker_exit(0);
            }
        }
    }
}
