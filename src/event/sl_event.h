/*
 * sl_event.h: the epoll loop, timers and posted events (one per process).
 *
 * Sockets are registered once, edge-triggered, for both directions; an
 * event's `ready` flag says whether the last I/O on it stopped at EAGAIN.
 * Handlers must therefore read or write until EAGAIN, or post themselves
 * to run again.
 */
#ifndef SL_EVENT_H
#define SL_EVENT_H

struct sl_event;
typedef void (*sl_event_handler_pt)(struct sl_event *ev);

struct sl_event {
    void                   *data;       /* usually the struct sl_conn */
    sl_event_handler_pt     handler;
    sl_msec_t               timer_key;  /* absolute expiry, monotonic ms */
    unsigned                heap_index; /* position in the timer heap */
    unsigned                write:1;
    unsigned                ready:1;
    unsigned                eof:1;      /* peer closed its side */
    unsigned                error:1;
    unsigned                timedout:1;
    unsigned                timer_set:1;
    unsigned                posted:1;
    unsigned                accept:1;   /* listening socket */
    /*
     * TLS: an operation of the other direction waits for this one's
     * readiness (SSL_read wanting to write, SSL_write wanting to read);
     * when this event fires, the other event is posted as ready too.
     */
    unsigned                post_other:1;
    struct sl_event        *post_next;
};

int sl_event_init(unsigned max_events);
void sl_event_done(void);
/* Registers fd edge-triggered for read and write with the two events. */
int sl_event_add_conn(int fd, struct sl_event *rev, struct sl_event *wev);
/* Registers a listening socket (level-triggered, read only). */
int sl_event_add_listen(int fd, struct sl_event *rev);
int sl_event_del(int fd);
/* Waits for events and timers at most max_wait ms (-1: until a timer). */
void sl_event_process(sl_msec_t max_wait);

void sl_event_add_timer(struct sl_event *ev, sl_msec_t msec);
void sl_event_del_timer(struct sl_event *ev);
/* Number of timers pending (the graceful-exit check uses it). */
unsigned sl_event_timers(void);
/* Runs ev's handler after the current batch of I/O events. */
void sl_event_post(struct sl_event *ev);
void sl_event_unpost(struct sl_event *ev);

#endif /* SL_EVENT_H */
