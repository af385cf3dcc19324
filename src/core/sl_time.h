/*
 * sl_time.h: the time cache.  The event loop calls sl_time_update() once
 * per wakeup; everything else reads the cached values.
 */
#ifndef SL_TIME_H
#define SL_TIME_H

extern volatile sl_msec_t  sl_current_msec;   /* monotonic clock, ms */
extern volatile time_t     sl_time_sec;       /* wall clock, seconds */
extern volatile sl_msec_t  sl_time_msec;      /* wall clock, ms */

extern char sl_cached_err_log_time[sizeof("1970/09/28 12:00:00")];
extern char sl_cached_http_time[sizeof("Mon, 28 Sep 1970 06:00:00 GMT")];
extern char sl_cached_http_log_time[sizeof("28/Sep/1970:12:00:00 +0600")];
extern char sl_cached_iso8601[sizeof("1970-09-28T12:00:00+06:00")];

void sl_time_update(void);
/* RFC 9110 IMF-fixdate of t into buf (30 bytes incl. NUL). */
void sl_http_time(char *buf, time_t t);

#endif /* SL_TIME_H */
