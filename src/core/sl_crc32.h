/*
 * sl_crc32.h: CRC-32 (IEEE 802.3, the one of zlib and Ethernet: reflected
 * polynomial 0xedb88320, initial value and final xor 0xffffffff).
 *
 * The hash balancers use it because nginx does: the same key then picks
 * the same server under nginx and sluice (Cache::Memcached compatible).
 * It is a table-driven byte-at-a-time loop, plenty for keys of a few
 * dozen bytes; it is no checksum for bulk data.
 */
#ifndef SL_CRC32_H
#define SL_CRC32_H

extern const uint32_t sl_crc32_table[256];

/* The CRC of len bytes at p in one go: sl_crc32("123456789") 0xcbf43926. */
uint32_t sl_crc32(const void *p, size_t len);

/* Piecewise: init, any number of updates, final. */
#define sl_crc32_init(crc)   ((crc) = 0xffffffffU)
#define sl_crc32_final(crc)  ((crc) ^= 0xffffffffU)

static inline void
sl_crc32_update(uint32_t *crc, const void *p, size_t len)
{
    const unsigned char *b = p;
    uint32_t c = *crc;

    while (len--)
        c = sl_crc32_table[(c ^ *b++) & 0xff] ^ (c >> 8);
    *crc = c;
}

#endif /* SL_CRC32_H */
