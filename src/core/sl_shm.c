/*
 * sl_shm.c: shared-memory zones, mapped by the master before fork and
 * handed over across reloads when name and size are unchanged.
 */
#include "sl_core.h"
#include "sl_cycle.h"

#include <sys/mman.h>

struct sl_shm_zone *
sl_shm_zone_add(struct sl_conf_ctx *cf, const struct sl_str *name,
    size_t size, void *tag)
{
    struct sl_shm_zone **zones, *z;
    unsigned i;

    zones = cf->cycle->shm_zones.elts;
    for (i = 0; i < cf->cycle->shm_zones.nelts; i++) {
        z = zones[i];
        if (!sl_str_eqstr(&z->name, name))
            continue;
        if (z->tag != tag) {
            sl_conf_error(cf, "shared memory zone \"%.*s\" is already "
                          "used by another module", (int) name->len,
                          name->data);
            return NULL;
        }
        if (size && z->size && size != z->size) {
            sl_conf_error(cf, "shared memory zone \"%.*s\" is already "
                          "declared with another size", (int) name->len,
                          name->data);
            return NULL;
        }
        if (size)
            z->size = size;
        return z;
    }
    z = sl_pcalloc(cf->pool, sizeof(*z));
    zones = sl_array_push(&cf->cycle->shm_zones);
    if (z == NULL || zones == NULL)
        return NULL;
    z->magic = SL_SHM_ZONE_MAGIC;
    z->name.len = name->len;
    z->name.data = sl_pstrdup(cf->pool, name);
    z->size = size;
    z->tag = tag;
    *zones = z;
    return z;
}

static struct sl_shm_zone *
sl_shm_find(struct sl_cycle *cycle, struct sl_shm_zone *z)
{
    struct sl_shm_zone **zones;
    unsigned i;

    if (cycle == NULL)
        return NULL;
    zones = cycle->shm_zones.elts;
    for (i = 0; i < cycle->shm_zones.nelts; i++) {
        if (sl_str_eqstr(&zones[i]->name, &z->name)
            && zones[i]->size == z->size && zones[i]->tag == z->tag
            && zones[i]->addr != NULL)
        {
            return zones[i];
        }
    }
    return NULL;
}

int
sl_shm_zones_init(struct sl_cycle *cycle, struct sl_cycle *old)
{
    struct sl_shm_zone **zones, *z, *oz;
    struct sl_shm_header *h;
    unsigned i;

    zones = cycle->shm_zones.elts;
    for (i = 0; i < cycle->shm_zones.nelts; i++) {
        z = zones[i];
        oz = sl_shm_find(old, z);
        if (oz != NULL) {
            z->addr = oz->addr;
            h = z->addr;
            SL_CHECK_OBJ(h, SL_SHM_HEADER_MAGIC);
            if (z->init != NULL && z->init(z, h->data) != SL_OK)
                return SL_ERROR;
            h->data = z->data;
            continue;
        }
        if (z->size < 4096)
            z->size = 4096;
        z->addr = mmap(NULL, z->size, PROT_READ | PROT_WRITE,
                       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (z->addr == MAP_FAILED) {
            sl_log_error(SL_LOG_EMERG, errno, "mmap(%zu) for zone \"%.*s\" "
                         "failed", z->size, (int) z->name.len, z->name.data);
            z->addr = NULL;
            return SL_ERROR;
        }
        h = z->addr;
        h->magic = SL_SHM_HEADER_MAGIC;
        h->version = 1;
        h->size = z->size;
        h->data = NULL;
        if (z->init != NULL && z->init(z, NULL) != SL_OK)
            return SL_ERROR;
        h->data = z->data;
    }
    return SL_OK;
}

void
sl_shm_zones_release(struct sl_cycle *old, struct sl_cycle *cycle)
{
    struct sl_shm_zone **zones;
    unsigned i;

    zones = old->shm_zones.elts;
    for (i = 0; i < old->shm_zones.nelts; i++) {
        if (zones[i]->addr == NULL || sl_shm_find(cycle, zones[i]) != NULL)
            continue;
        munmap(zones[i]->addr, zones[i]->size);
        zones[i]->addr = NULL;
    }
}
