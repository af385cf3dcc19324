/*
 * sl_cache.c: the HTTP cache module (cache_zone, proxy_cache*).
 * (being written)
 */
#include "sl_core.h"
#include "sl_cache.h"
