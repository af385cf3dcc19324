/*
 * sl_cache_store.c: the shared-memory object store (sl_cache_store.h).
 * (being written)
 */
#include "sl_core.h"
#include "sl_cache_store.h"
