/*
 * sl_core.h: the umbrella header.  Every source file includes it first.
 * It carries the return codes, the magic-number checks and forward
 * declarations of the structures that cross subsystem boundaries.
 */
#ifndef SL_CORE_H
#define SL_CORE_H

#include <config.h>

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SL_OK         0
#define SL_ERROR     -1
#define SL_AGAIN     -2
#define SL_BUSY      -3
#define SL_DONE      -4
#define SL_DECLINED  -5
#define SL_ABORT     -6

#define SL_VERSION    PACKAGE_VERSION
#define SL_SERVER     "sluice"

typedef int64_t  sl_msec_t;     /* milliseconds: timeouts and clocks */

/* This process's pid, set at start and in each child after fork. */
extern pid_t sl_pid;

struct sl_pool;
struct sl_buf;
struct sl_chain;
struct sl_log;
struct sl_cycle;
struct sl_conn;
struct sl_event;
struct sl_conf_ctx;
struct sl_http_request;

#define sl_nelems(a)        (sizeof(a) / sizeof((a)[0]))
#define sl_min(a, b)        ((a) < (b) ? (a) : (b))
#define sl_max(a, b)        ((a) > (b) ? (a) : (b))
#define sl_align(n, a)      (((n) + ((a) - 1)) & ~((size_t) (a) - 1))

#define sl_likely(x)        __builtin_expect(!!(x), 1)
#define sl_unlikely(x)      __builtin_expect(!!(x), 0)

/*
 * Cheap always-on assertion for cannot-happen cases.  It logs where and
 * aborts the process; the master's respawn is the backstop.
 */
void sl_assert_fail(const char *expr, const char *file, int line)
    __attribute__((noreturn));
#define SL_ASSERT(e) \
    (sl_likely(e) ? (void) 0 : sl_assert_fail(#e, __FILE__, __LINE__))

/*
 * Structures handed between subsystems or stored in shared memory start
 * with an unsigned magic field; check it at the boundary.
 */
#define SL_CHECK_OBJ(p, m)          SL_ASSERT((p)->magic == (m))
#define SL_CHECK_OBJ_NOTNULL(p, m)  SL_ASSERT((p) != NULL && (p)->magic == (m))

#include "sl_string.h"
#include "sl_pool.h"
#include "sl_array.h"
#include "sl_buf.h"
#include "sl_log.h"
#include "sl_time.h"

#endif /* SL_CORE_H */
