/*
 * sl_shm.h: shared-memory zones.
 *
 * Zones are declared while the configuration is read and mapped by the
 * master before it forks (MAP_SHARED|MAP_ANONYMOUS), so a pointer into a
 * zone means the same thing in every process.  A zone is keyed by name and
 * size; at reload a zone whose name and size are unchanged is handed over
 * with its contents, and its init callback is told so (data != NULL).
 */
#ifndef SL_SHM_H
#define SL_SHM_H

struct sl_shm_zone;

typedef int (*sl_shm_init_pt)(struct sl_shm_zone *zone, void *old_data);

struct sl_shm_zone {
    unsigned            magic;
#define SL_SHM_ZONE_MAGIC  0x5a4f4e45U
    struct sl_str       name;
    size_t              size;
    void               *addr;      /* mapping, starts with the header */
    void               *data;      /* set by init: the zone's root object */
    sl_shm_init_pt      init;
    void               *tag;       /* the module that owns it */
    void               *ctx;       /* the owner's, for init */
};

/* Header at the start of every mapping. */
struct sl_shm_header {
    unsigned            magic;
#define SL_SHM_HEADER_MAGIC 0x53484d31U
    unsigned            version;
    size_t              size;
    void               *data;      /* survives reload with the mapping */
};

/*
 * Declares a zone in the configuration being read; a second declaration
 * with the same name and tag returns the same zone (size 0 = use the
 * other's).  Returns NULL on conflict or allocation failure.
 */
struct sl_shm_zone *sl_shm_zone_add(struct sl_conf_ctx *cf,
    const struct sl_str *name, size_t size, void *tag);
/*
 * Maps every zone of cycle (master, before fork), reusing the old cycle's
 * mapping where name and size match; calls each zone's init.
 */
int sl_shm_zones_init(struct sl_cycle *cycle, struct sl_cycle *old);
/* Unmaps the zones of old that cycle did not take over. */
void sl_shm_zones_release(struct sl_cycle *old, struct sl_cycle *cycle);

#endif /* SL_SHM_H */
