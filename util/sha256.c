#include "pe_util.h"

#include <errno.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <string.h>

_Static_assert(sizeof(struct sha256_ctx) <= sizeof(((pe_sha256 *)0)->opaque),
               "pe_sha256 too small for nettle's context");

void pe_sha256_init(pe_sha256 *h) { sha256_init((struct sha256_ctx *)h->opaque); }

void pe_sha256_update(pe_sha256 *h, const void *data, size_t len)
{
    sha256_update((struct sha256_ctx *)h->opaque, len, data);
}

void pe_sha256_final_hex(pe_sha256 *h, char hex[65])
{
    uint8_t d[SHA256_DIGEST_SIZE];
    sha256_digest((struct sha256_ctx *)h->opaque, sizeof d, d);
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < sizeof d; i++) {
        hex[2 * i] = digits[d[i] >> 4];
        hex[2 * i + 1] = digits[d[i] & 15];
    }
    hex[64] = '\0';
}

pe_status pe_sha256_file(const char *path, char hex[65], pe_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) return pe_error_set(err, PE_ERR_IO, "%s: %s", path, strerror(errno));
    pe_sha256 h;
    pe_sha256_init(&h);
    unsigned char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) pe_sha256_update(&h, buf, n);
    int bad = ferror(f);
    fclose(f);
    if (bad) return pe_error_set(err, PE_ERR_IO, "%s: read error", path);
    pe_sha256_final_hex(&h, hex);
    return PE_OK;
}
