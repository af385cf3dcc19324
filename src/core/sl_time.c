/*
 * sl_time.c: the time cache, refreshed once per event-loop wakeup so that
 * log lines and Date headers do not each cost a clock read and a strftime.
 */
#include "sl_core.h"

volatile sl_msec_t sl_current_msec;
volatile time_t    sl_time_sec;
volatile sl_msec_t sl_time_msec;

char sl_cached_err_log_time[sizeof("1970/09/28 12:00:00")];
char sl_cached_http_time[sizeof("Mon, 28 Sep 1970 06:00:00 GMT")];
char sl_cached_http_log_time[sizeof("28/Sep/1970:12:00:00 +0600")];
char sl_cached_iso8601[sizeof("1970-09-28T12:00:00+06:00")];

static time_t sl_time_last_sec = -1;

static const char *sl_wdays[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri",
                                  "Sat" };
static const char *sl_months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov",
                                   "Dec" };

void
sl_http_time(char *buf, time_t t)
{
    struct tm tm;

    char tmp[64];

    gmtime_r(&t, &tm);
    snprintf(tmp, sizeof(tmp), "%s, %02d %s %4d %02d:%02d:%02d GMT",
             sl_wdays[tm.tm_wday], tm.tm_mday, sl_months[tm.tm_mon],
             tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    memcpy(buf, tmp, sizeof("Mon, 28 Sep 1970 06:00:00 GMT") - 1);
    buf[sizeof("Mon, 28 Sep 1970 06:00:00 GMT") - 1] = '\0';
}

static void
sl_time_copy(char *dst, const char *src, size_t size)
{
    size_t n = strlen(src);

    if (n >= size)
        n = size - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

void
sl_time_update(void)
{
    char tmp[64];
    struct timespec ts;
    struct tm tm;
    long off;
    char sign;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    sl_current_msec = (sl_msec_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    clock_gettime(CLOCK_REALTIME, &ts);
    sl_time_sec = ts.tv_sec;
    sl_time_msec = (sl_msec_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    if (ts.tv_sec == sl_time_last_sec)
        return;
    sl_time_last_sec = ts.tv_sec;

    sl_http_time(sl_cached_http_time, ts.tv_sec);
    localtime_r(&ts.tv_sec, &tm);
    off = tm.tm_gmtoff / 60;
    sign = off < 0 ? '-' : '+';
    if (off < 0)
        off = -off;
    /* Formatted through tmp: the fields fit, whatever gcc fears. */
    snprintf(tmp, sizeof(tmp),
             "%4d/%02d/%02d %02d:%02d:%02d", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    sl_time_copy(sl_cached_err_log_time, tmp, sizeof(sl_cached_err_log_time));
    snprintf(tmp, sizeof(tmp),
             "%02d/%s/%d:%02d:%02d:%02d %c%02ld%02ld", tm.tm_mday,
             sl_months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour,
             tm.tm_min, tm.tm_sec, sign, off / 60, off % 60);
    sl_time_copy(sl_cached_http_log_time, tmp,
                 sizeof(sl_cached_http_log_time));
    snprintf(tmp, sizeof(tmp),
             "%4d-%02d-%02dT%02d:%02d:%02d%c%02ld:%02ld", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             sign, off / 60, off % 60);
    sl_time_copy(sl_cached_iso8601, tmp, sizeof(sl_cached_iso8601));
}
