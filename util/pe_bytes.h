/*
 * pe_bytes.h - big-endian integers and doubles in byte buffers, as every
 * LMDB key and value of the graph store, the persona store and the link
 * index holds them (big-endian, so that LMDB's byte order sorts integer
 * keys by value). Internal to the library: not installed.
 *
 *     unsigned char k[12];
 *     pe_put_be64(k, entity);
 *     pe_put_be32(k + 8, property);
 *     uint64_t e = pe_get_be64(k);
 */
#ifndef PE_BYTES_H
#define PE_BYTES_H

#include <stdint.h>
#include <string.h>

static inline void pe_put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24); p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8); p[3] = (unsigned char)v;
}
static inline uint32_t pe_get_be32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline void pe_put_be64(unsigned char *p, uint64_t v)
{
    pe_put_be32(p, (uint32_t)(v >> 32));
    pe_put_be32(p + 4, (uint32_t)v);
}
static inline uint64_t pe_get_be64(const unsigned char *p)
{
    return ((uint64_t)pe_get_be32(p) << 32) | pe_get_be32(p + 4);
}
/* A double as the big-endian bytes of its IEEE-754 bits; every NaN is
 * written as the one canonical quiet NaN, so equal values have equal bytes. */
static inline void pe_put_bed(unsigned char *p, double d)
{
    uint64_t u;
    if (d != d) u = UINT64_C(0x7ff8000000000000);
    else memcpy(&u, &d, 8);
    pe_put_be64(p, u);
}
static inline double pe_get_bed(const unsigned char *p)
{
    uint64_t u = pe_get_be64(p);
    double d;
    memcpy(&d, &u, 8);
    return d;
}

#endif
