/* fuzz_kg_records.c - libFuzzer target: the graph store's record decoders
 * (kgstore/kg_decode.c), which read every key and value LMDB hands back.
 * A damaged data.mdb can hold any bytes there: each decoder must either
 * refuse them or return fields that lie inside them.
 *
 * Input: byte 0 picks the decoder, byte 1 splits the rest into a key and
 * a value (for the decoders that read both). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kg_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Touches every byte of [p, p + n) so that ASan sees a read outside. */
static volatile unsigned char g_sink;
static void touch(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) g_sink ^= b[i];
}

#define INSIDE(p, n) ((const unsigned char *)(p) >= base && (const unsigned char *)(p) + (n) <= end)
#define CHECK(c) do { if (!(c)) abort(); } while (0)

static void str_inside(const char *s, const unsigned char *base, const unsigned char *end)
{
    if (!s) return;
    CHECK(INSIDE(s, 1));
    size_t n = strnlen(s, (size_t)(end - (const unsigned char *)s));
    CHECK(INSIDE(s, n + 1)); /* NUL-terminated inside the record */
    touch(s, n + 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    int which = data[0] % 12;
    size_t split = data[1];
    /* copies of exactly the record's size, so that a read past it is caught */
    size_t rest = size - 2, kn = split < rest ? split : rest, vn = rest - kn;
    unsigned char *k = malloc(kn ? kn : 1), *v = malloc(vn ? vn : 1);
    if (!k || !v) { free(k); free(v); return 0; }
    memcpy(k, data + 2, kn);
    memcpy(v, data + 2 + kn, vn);
    const unsigned char *base = v, *end = v + vn; /* value decoders */
    uint64_t a, b;
    uint32_t src;
    int r;
    switch (which) {
    case 0: {
        kg_ent_rec e;
        if (kg_dec_entity(v, vn, &e) == 0) {
            CHECK(e.kind >= 0 && e.kind <= PE_KG_KIND_RESOURCE);
            str_inside(e.datatype, base, end);
        }
        break;
    }
    case 1: {
        kg_txt_val t;
        if (kg_dec_text_val(v, vn, &t) == 0) {
            CHECK(t.n_sources >= 1 && INSIDE(t.sources, 4 * t.n_sources));
            touch(t.sources, 4 * t.n_sources);
            CHECK(INSIDE(t.text, t.text_len + 1) && t.text[t.text_len] == 0);
            touch(t.text, t.text_len + 1);
        }
        break;
    }
    case 2: {
        kg_txt_key t;
        base = k;
        end = k + kn;
        if (kg_dec_text_key(k, kn, &t) == 0) {
            CHECK(t.kind >= 0 && t.kind <= PE_KG_DESCRIPTION && t.lang_len <= 64);
            str_inside(t.lang, base, end);
            CHECK(strlen(t.lang) == t.lang_len);
        }
        break;
    }
    case 3: {
        kg_site_rec s;
        if (kg_dec_sitelink(k, kn, v, vn, &s) == 0) {
            str_inside(s.site, k, k + kn);
            CHECK(INSIDE(s.title, s.title_len + 1) && s.title[s.title_len] == 0);
            touch(s.title, s.title_len + 1);
        }
        break;
    }
    case 4: {
        pe_kg_value val;
        if (kg_dec_literal(v, vn, &val) == 0) {
            if (val.text) {
                CHECK(INSIDE(val.text, val.text_len + 1) && val.text[val.text_len] == 0);
                touch(val.text, val.text_len + 1);
            }
            str_inside(val.lang, base, end);
            str_inside(val.datatype, base, end);
            str_inside(val.unit, base, end);
            str_inside(val.calendar, base, end);
            str_inside(val.globe, base, end);
            CHECK(val.type != PE_KG_VAL_TIME || (val.precision >= 0 && val.precision <= 14));
        }
        break;
    }
    case 5: {
        pe_kg_source s;
        if (kg_dec_source(v, vn, 1, &s) == 0) {
            const char *strs[] = {s.path, s.format, s.sha256, s.dump_date, s.langs};
            for (int i = 0; i < 5; i++) str_inside(strs[i], base, end);
            CHECK(strlen(s.last_error) < sizeof s.last_error);
            CHECK(s.status <= PE_KG_SOURCE_FAILED);
        }
        break;
    }
    case 6: {
        const char *t;
        size_t tl;
        if (kg_dec_term(v, vn, &t, &tl) == 0) {
            CHECK(INSIDE(t, tl + 1) && t[tl] == 0);
            touch(t, tl + 1);
        }
        break;
    }
    case 7:
        if (kg_dec_spo(v, vn, &a, &b, &r, &src) == 0) CHECK(vn == KG_SPO_VAL && r <= PE_KG_RANK_DEPRECATED);
        break;
    case 8:
        if (kg_dec_pair(v, vn, &a, &b) == 0) CHECK(vn == KG_PAIR_VAL);
        break;
    case 9:
        if (kg_dec_alias(v, vn, &a, &r) == 0) CHECK(vn == KG_ALIAS_VAL);
        break;
    case 10:
        if (kg_dec_same(v, vn, &a, &src) == 0) CHECK(vn == KG_SAME_VAL);
        break;
    default:
        if (kg_dec_id_key(k, kn, &a) == 0) CHECK(kn == 8 && a != 0);
        break;
    }
    free(k);
    free(v);
    return 0;
}
