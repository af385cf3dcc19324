/*
 * sl_checker.c: the checker process.  It runs one epoll loop in which the
 * active health checks of every upstream server with health_check run
 * (sl_health_check.c), and is supervised like a worker.
 */
#include "sl_core.h"
#include "sl_cycle.h"
#include "sl_process.h"
#include "sl_health.h"

void sl_child_signals(void);

void
sl_checker_run(struct sl_cycle *cycle)
{
    sl_log_slot = -1;
    sl_cycle = cycle;
    sl_child_signals();
    sl_proctitle_set("sluice: checker process");
    sl_time_update();
    if (sl_event_init(64) != SL_OK || sl_health_checker_init(cycle) != SL_OK
        || sl_health_resolver_start(cycle) != SL_OK)
    {
        exit(2);
    }
    for (;;) {
        sl_event_process(1000);
        if (sl_terminate || sl_quit)
            exit(0);
        if (sl_reopen) {
            sl_reopen = 0;
            sl_log_reopen();
        }
    }
}
