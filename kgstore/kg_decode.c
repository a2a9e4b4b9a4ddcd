/* kg_decode.c - the record decoders: every read of a stored key or value
 * goes through one of these, which check that each length, offset and
 * string lies inside the bytes LMDB handed over (a damaged data.mdb must
 * give PE_ERR_CORRUPT, never a read outside the record). Layouts: see the
 * "LMDB layout" section of pe_kg.h. Fuzzed by tests/fuzz/fuzz_kg_records.c. */
#include "kg_internal.h"

#include <stdio.h>

/* The first NUL at or after b[off] that lies before b[n], or NULL. */
static const unsigned char *nul_in(const unsigned char *b, size_t off, size_t n)
{
    return off < n ? memchr(b + off, 0, n - off) : NULL;
}

int kg_dec_id_key(const void *k, size_t n, uint64_t *id)
{
    if (!k || n != 8) return -1;
    *id = pe_get_be64(k);
    return *id ? 0 : -1;
}

int kg_dec_term(const void *v, size_t n, const char **term, size_t *len)
{
    const unsigned char *b = v;
    if (!b || n < 2 || b[n - 1] != 0) return -1; /* a term is never empty */
    *term = (const char *)b;
    *len = n - 1;
    return 0;
}

int kg_dec_entity(const void *v, size_t n, kg_ent_rec *out)
{
    const unsigned char *b = v;
    memset(out, 0, sizeof *out);
    if (!b || n < KG_ENT_FIXED) return -1;
    if (b[0] > PE_KG_KIND_RESOURCE || (b[1] & ~1u) || b[2] || b[3]) return -1;
    out->kind = b[0];
    out->sitelinks = pe_get_be32(b + 4);
    out->source = pe_get_be32(b + 8);
    if (!(b[1] & 1)) return n == KG_ENT_FIXED ? 0 : -1;
    const unsigned char *z = nul_in(b, KG_ENT_FIXED, n);
    if (!z || z != b + n - 1) return -1;
    out->datatype = (const char *)b + KG_ENT_FIXED;
    return 0;
}

int kg_dec_text_key(const void *k, size_t n, kg_txt_key *out)
{
    const unsigned char *b = k;
    memset(out, 0, sizeof *out);
    /* id(8) kind(1) lang\0 h(8): the lang's NUL is 9 bytes before the end */
    if (!b || n < 8 + 1 + 1 + 8 || n > 8 + 1 + 65 + 8) return -1;
    if (b[8] > PE_KG_DESCRIPTION) return -1;
    const unsigned char *z = nul_in(b, 9, n);
    if (!z || z != b + n - 9) return -1;
    out->id = pe_get_be64(b);
    out->kind = b[8];
    out->lang = (const char *)b + 9;
    out->lang_len = (size_t)(z - (b + 9));
    out->h = pe_get_be64(b + n - 8);
    return out->id ? 0 : -1;
}

int kg_dec_text_val(const void *v, size_t n, kg_txt_val *out)
{
    const unsigned char *b = v;
    memset(out, 0, sizeof *out);
    if (!b || n < 2) return -1;
    size_t ns = ((size_t)b[0] << 8) | b[1];
    if (ns == 0 || ns > KG_TXT_MAX_SOURCES) return -1;
    size_t hdr = 2 + 4 * ns;
    if (n < hdr + 1 || b[n - 1] != 0) return -1;
    out->n_sources = ns;
    out->sources = b + 2;
    out->text = (const char *)b + hdr;
    out->text_len = n - hdr - 1;
    return 0;
}

int kg_dec_sitelink(const void *k, size_t kn, const void *v, size_t vn, kg_site_rec *out)
{
    const unsigned char *kb = k, *vb = v;
    memset(out, 0, sizeof *out);
    /* key id(8) site\0, value source(4) title\0 */
    if (!kb || !vb || kn < 8 + 2 || vn < 4 + 1) return -1;
    const unsigned char *z = nul_in(kb, 8, kn);
    if (!z || z != kb + kn - 1 || vb[vn - 1] != 0) return -1;
    out->id = pe_get_be64(kb);
    out->site = (const char *)kb + 8;
    out->source = pe_get_be32(vb);
    out->title = (const char *)vb + 4;
    out->title_len = vn - 5;
    return 0;
}

int kg_dec_literal(const void *data, size_t size, pe_kg_value *v)
{
    const unsigned char *b = data, *end = b + size;
    memset(v, 0, sizeof *v);
    if (!b || size < 2) return -1;
    v->type = (pe_kg_value_type)b[0];
    const unsigned char *p = b + 1;
#define GETS(dst) do { const unsigned char *_z = p < end ? memchr(p, 0, (size_t)(end - p)) : NULL; \
        if (!_z) return -1; \
        (dst) = (const char *)p; \
        p = _z + 1; \
    } while (0)
#define GETT() do { if (end <= p || end[-1] != 0) return -1; \
        v->text = (const char *)p; \
        v->text_len = (size_t)(end - p) - 1; \
        p = end; \
    } while (0)
    const char *s;
    switch (v->type) {
    case PE_KG_VAL_STRING: case PE_KG_VAL_EXTERNAL_ID: case PE_KG_VAL_URL:
        GETT();
        break;
    case PE_KG_VAL_MONOTEXT:
        GETS(v->lang);
        GETT();
        break;
    case PE_KG_VAL_QUANTITY:
        if (end - p < 25) return -1;
        v->amount = pe_get_bed(p); v->lower = pe_get_bed(p + 8); v->upper = pe_get_bed(p + 16);
        p += 24;
        GETS(s);
        v->unit = *s ? s : NULL;
        break;
    case PE_KG_VAL_TIME:
        if (end - p < 2) return -1;
        v->precision = *p++;
        if (v->precision > 14) return -1;
        GETS(s);
        v->calendar = *s ? s : NULL;
        GETT();
        break;
    case PE_KG_VAL_COORD:
        if (end - p < 25) return -1;
        v->lat = pe_get_bed(p); v->lon = pe_get_bed(p + 8); v->coord_precision = pe_get_bed(p + 16);
        p += 24;
        GETS(s);
        v->globe = *s ? s : NULL;
        break;
    case PE_KG_VAL_TYPED:
        GETS(s);
        v->datatype = s;
        GETT();
        break;
    default:
        return -1;
    }
#undef GETS
#undef GETT
    return p == end ? 0 : -1; /* nothing may follow the last field */
}

int kg_dec_spo(const void *v, size_t n, uint64_t *p, uint64_t *o, int *rank, uint32_t *source)
{
    const unsigned char *b = v;
    if (!b || n != KG_SPO_VAL || b[16] > PE_KG_RANK_DEPRECATED) return -1;
    *p = pe_get_be64(b);
    *o = pe_get_be64(b + 8);
    *rank = b[16];
    *source = pe_get_be32(b + 17);
    return *p && *o ? 0 : -1;
}

int kg_dec_pair(const void *v, size_t n, uint64_t *a, uint64_t *b)
{
    const unsigned char *d = v;
    if (!d || n != KG_PAIR_VAL) return -1;
    *a = pe_get_be64(d);
    *b = pe_get_be64(d + 8);
    return *a && *b ? 0 : -1;
}

int kg_dec_alias(const void *v, size_t n, uint64_t *id, int *flag)
{
    const unsigned char *b = v;
    if (!b || n != KG_ALIAS_VAL || (b[8] != KG_ALIAS_FLAG_LABEL && b[8] != KG_ALIAS_FLAG_ALIAS)) return -1;
    *id = pe_get_be64(b);
    *flag = b[8];
    return *id ? 0 : -1;
}

int kg_dec_same(const void *v, size_t n, uint64_t *id, uint32_t *source)
{
    const unsigned char *b = v;
    if (!b || n != KG_SAME_VAL) return -1;
    *id = pe_get_be64(b);
    *source = pe_get_be32(b + 8);
    return *id ? 0 : -1;
}

int kg_dec_source(const void *v, size_t n, uint32_t id, pe_kg_source *s)
{
    const unsigned char *b = v;
    memset(s, 0, sizeof *s);
    if (!b || n < KG_SRC_FIXED_V1 || (b[0] != 1 && b[0] != 2) || b[1] > PE_KG_SOURCE_FAILED || (b[2] & ~0x3Fu))
        return -1;
    size_t fixed = b[0] == 1 ? KG_SRC_FIXED_V1 : KG_SRC_FIXED;
    if (n < fixed) return -1;
    s->id = id;
    s->status = (pe_kg_source_status)b[1];
    s->size = pe_get_be64(b + 4);
    s->started = pe_get_bed(b + 12);
    s->ended = pe_get_bed(b + 20);
    uint64_t *cn[10] = {&s->counts.entities, &s->counts.labels, &s->counts.aliases, &s->counts.descriptions,
                        &s->counts.triples, &s->counts.sameas, &s->counts.skipped, &s->counts.dropped,
                        &s->counts.bytes, &s->counts.lines};
    for (int i = 0; i < 10; i++) *cn[i] = pe_get_be64(b + 28 + 8 * i);
    if (b[0] >= 2) s->counts.statements = pe_get_be64(b + 108);
    const char *strs[KG_SRC_NSTR];
    size_t o = fixed;
    for (int i = 0; i < KG_SRC_NSTR; i++) {
        const unsigned char *z = nul_in(b, o, n);
        if (!z) return -1;
        strs[i] = (b[2] & (1u << i)) ? (const char *)b + o : NULL;
        o = (size_t)(z - b) + 1;
    }
    if (o != n) return -1;
    s->path = strs[0];
    s->format = strs[1];
    s->sha256 = strs[2];
    s->dump_date = strs[3];
    s->langs = strs[4];
    snprintf(s->last_error, sizeof s->last_error, "%s", strs[5] ? strs[5] : "");
    return 0;
}
