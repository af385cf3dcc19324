/*
 * sl_tls_ticket.c: session ticket keys in shared memory.
 * (being written)
 */
#include "sl_core.h"
#include "sl_tls.h"
