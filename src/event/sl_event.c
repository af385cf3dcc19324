/*
 * sl_event.c: the epoll loop, a binary heap of timers and a queue of
 * posted events.  One loop per process; nothing here is shared.
 */
#include "sl_core.h"
#include "sl_event.h"

#include <signal.h>
#include <sys/epoll.h>

static int                  sl_ep = -1;
static struct epoll_event  *sl_ep_events;
static unsigned             sl_ep_nevents;

static struct sl_event    **sl_timers;     /* min-heap on timer_key */
static unsigned             sl_ntimers;
static unsigned             sl_timers_cap;

/* Signals stay blocked except while the loop sleeps (no lost wakeups). */
static sigset_t             sl_wait_mask;

static struct sl_event     *sl_posted_head;
static struct sl_event    **sl_posted_tail = &sl_posted_head;

/*
 * epoll data carries the read event pointer; its low bit marks a listening
 * socket (level-triggered, read only).  Events are at least 8-byte aligned.
 */
#define SL_EP_LISTEN   1UL

int
sl_event_init(unsigned max_events)
{
    sl_ep = epoll_create1(EPOLL_CLOEXEC);
    if (sl_ep == -1) {
        sl_log_error(SL_LOG_EMERG, errno, "epoll_create1() failed");
        return SL_ERROR;
    }
    sigemptyset(&sl_wait_mask);
    sl_ep_nevents = max_events ? max_events : 512;
    sl_ep_events = calloc(sl_ep_nevents, sizeof(struct epoll_event));
    sl_timers_cap = 1024;
    sl_timers = calloc(sl_timers_cap, sizeof(struct sl_event *));
    if (sl_ep_events == NULL || sl_timers == NULL) {
        sl_log_error(SL_LOG_EMERG, 0, "out of memory for the event loop");
        return SL_ERROR;
    }
    return SL_OK;
}

void
sl_event_done(void)
{
    if (sl_ep != -1)
        close(sl_ep);
    sl_ep = -1;
    free(sl_ep_events);
    free(sl_timers);
    sl_ep_events = NULL;
    sl_timers = NULL;
    sl_ntimers = 0;
}

int
sl_event_add_conn(int fd, struct sl_event *rev, struct sl_event *wev)
{
    struct epoll_event ee;

    (void) wev;     /* found from rev: they sit side by side in sl_conn */
    ee.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ee.data.ptr = rev;
    if (epoll_ctl(sl_ep, EPOLL_CTL_ADD, fd, &ee) == -1) {
        sl_log_error(SL_LOG_ALERT, errno, "epoll_ctl(ADD, %d) failed", fd);
        return SL_ERROR;
    }
    return SL_OK;
}

int
sl_event_add_listen(int fd, struct sl_event *rev)
{
    struct epoll_event ee;

    ee.events = EPOLLIN;
    ee.data.ptr = (void *) ((uintptr_t) rev | SL_EP_LISTEN);
    if (epoll_ctl(sl_ep, EPOLL_CTL_ADD, fd, &ee) == -1) {
        sl_log_error(SL_LOG_ALERT, errno, "epoll_ctl(ADD, %d) failed", fd);
        return SL_ERROR;
    }
    return SL_OK;
}

int
sl_event_del(int fd)
{
    if (epoll_ctl(sl_ep, EPOLL_CTL_DEL, fd, NULL) == -1)
        return SL_ERROR;
    return SL_OK;
}

/* ---- timers ------------------------------------------------------------ */

static void
sl_timer_swap(unsigned a, unsigned b)
{
    struct sl_event *t = sl_timers[a];

    sl_timers[a] = sl_timers[b];
    sl_timers[b] = t;
    sl_timers[a]->heap_index = a;
    sl_timers[b]->heap_index = b;
}

static void
sl_timer_up(unsigned i)
{
    while (i > 0 && sl_timers[(i - 1) / 2]->timer_key > sl_timers[i]->timer_key)
    {
        sl_timer_swap(i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static void
sl_timer_down(unsigned i)
{
    unsigned l, r, m;

    for (;;) {
        l = 2 * i + 1;
        r = l + 1;
        m = i;
        if (l < sl_ntimers && sl_timers[l]->timer_key < sl_timers[m]->timer_key)
            m = l;
        if (r < sl_ntimers && sl_timers[r]->timer_key < sl_timers[m]->timer_key)
            m = r;
        if (m == i)
            return;
        sl_timer_swap(i, m);
        i = m;
    }
}

void
sl_event_del_timer(struct sl_event *ev)
{
    unsigned i;

    if (!ev->timer_set)
        return;
    i = ev->heap_index;
    SL_ASSERT(i < sl_ntimers && sl_timers[i] == ev);
    ev->timer_set = 0;
    sl_ntimers--;
    if (i == sl_ntimers)
        return;
    sl_timers[i] = sl_timers[sl_ntimers];
    sl_timers[i]->heap_index = i;
    sl_timer_up(i);
    sl_timer_down(sl_timers[i] == NULL ? i : sl_timers[i]->heap_index);
}

void
sl_event_add_timer(struct sl_event *ev, sl_msec_t msec)
{
    struct sl_event **n;

    if (ev->timer_set)
        sl_event_del_timer(ev);
    if (sl_ntimers == sl_timers_cap) {
        n = realloc(sl_timers, 2 * sl_timers_cap * sizeof(*n));
        if (n == NULL) {
            /* Without a timer the peer could hold the slot forever. */
            sl_log_error(SL_LOG_ALERT, 0, "out of memory for timers");
            ev->timedout = 1;
            sl_event_post(ev);
            return;
        }
        sl_timers = n;
        sl_timers_cap *= 2;
    }
    ev->timer_key = sl_current_msec + msec;
    ev->timer_set = 1;
    ev->timedout = 0;
    ev->heap_index = sl_ntimers;
    sl_timers[sl_ntimers++] = ev;
    sl_timer_up(ev->heap_index);
}

unsigned
sl_event_timers(void)
{
    return sl_ntimers;
}

static void
sl_event_expire_timers(void)
{
    struct sl_event *ev;

    while (sl_ntimers > 0 && sl_timers[0]->timer_key <= sl_current_msec) {
        ev = sl_timers[0];
        sl_event_del_timer(ev);
        ev->timedout = 1;
        ev->handler(ev);
    }
}

/* ---- posted events ------------------------------------------------------- */

void
sl_event_post(struct sl_event *ev)
{
    if (ev->posted)
        return;
    ev->posted = 1;
    ev->post_next = NULL;
    *sl_posted_tail = ev;
    sl_posted_tail = &ev->post_next;
}

void
sl_event_unpost(struct sl_event *ev)
{
    struct sl_event **pp;

    if (!ev->posted)
        return;
    for (pp = &sl_posted_head; *pp != NULL; pp = &(*pp)->post_next) {
        if (*pp == ev) {
            *pp = ev->post_next;
            if (sl_posted_tail == &ev->post_next)
                sl_posted_tail = pp;
            break;
        }
    }
    ev->posted = 0;
}

static void
sl_event_run_posted(void)
{
    struct sl_event *ev;

    while ((ev = sl_posted_head) != NULL) {
        sl_posted_head = ev->post_next;
        if (sl_posted_head == NULL)
            sl_posted_tail = &sl_posted_head;
        ev->posted = 0;
        ev->handler(ev);
    }
}

/* ---- the loop ------------------------------------------------------------ */

void
sl_event_process(sl_msec_t max_wait)
{
    struct sl_event *rev, *wev;
    sl_msec_t wait;
    uint32_t e;
    int n, i;
    uintptr_t p;

    wait = max_wait;
    if (sl_posted_head != NULL)
        wait = 0;
    else if (sl_ntimers > 0) {
        sl_msec_t t = sl_timers[0]->timer_key - sl_current_msec;
        if (t < 0)
            t = 0;
        if (wait < 0 || t < wait)
            wait = t;
    }
    if (wait > 1000000)
        wait = 1000000;

    n = epoll_pwait(sl_ep, sl_ep_events, (int) sl_ep_nevents, (int) wait,
                    &sl_wait_mask);
    sl_time_update();
    if (n == -1) {
        if (errno != EINTR)
            sl_log_error(SL_LOG_ALERT, errno, "epoll_wait() failed");
        n = 0;
    }

    for (i = 0; i < n; i++) {
        p = (uintptr_t) sl_ep_events[i].data.ptr;
        e = sl_ep_events[i].events;
        if (p & SL_EP_LISTEN) {
            rev = (struct sl_event *) (p & ~SL_EP_LISTEN);
            rev->ready = 1;
            sl_event_post(rev);
            continue;
        }
        rev = (struct sl_event *) p;
        /* The write event follows the read event in struct sl_conn. */
        wev = rev + 1;
        if (e & (EPOLLERR | EPOLLHUP)) {
            rev->error = wev->error = (e & EPOLLERR) ? 1 : 0;
            e |= EPOLLIN | EPOLLOUT;
        }
        if (e & EPOLLRDHUP)
            rev->eof = 1;
        if ((e & EPOLLIN) && rev->handler != NULL) {
            rev->ready = 1;
            sl_event_post(rev);
        }
        if ((e & EPOLLOUT) && wev->handler != NULL) {
            wev->ready = 1;
            sl_event_post(wev);
        }
        if ((e & EPOLLIN) && rev->post_other) {
            rev->post_other = 0;
            if (wev->handler != NULL) {
                wev->ready = 1;
                sl_event_post(wev);
            }
        }
        if ((e & EPOLLOUT) && wev->post_other) {
            wev->post_other = 0;
            if (rev->handler != NULL) {
                rev->ready = 1;
                sl_event_post(rev);
            }
        }
    }
    sl_event_run_posted();
    sl_event_expire_timers();
    sl_event_run_posted();
}
