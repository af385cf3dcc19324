/*
 * sl_cache.h: the HTTP cache module (cache_zone, proxy_cache*).
 * (being written)
 */
#ifndef SL_CACHE_H
#define SL_CACHE_H

#endif /* SL_CACHE_H */
