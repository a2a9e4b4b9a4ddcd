/* kg_write.c - the write API: terms, literals, entity records, texts,
 * sitelinks, triples and owl:sameAs merges.
 *
 * Throughput: every call is a handful of LMDB cursor puts at most. Terms go
 * through the handle's cache (complete when the whole dictionary fits, so a
 * new term costs no lookup); keys that are larger than everything in their
 * database (fresh ids) are written with MDB_APPEND; entity records are
 * updated once per batch from a per-writer map instead of once per call;
 * in-degrees are not stored at all (they are the OSP duplicate counts). */
#define _GNU_SOURCE /* qsort_r */
#include "kg_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

static pe_status w_mdb(pe_kg_writer *w, int rc, const char *what)
{
    /* An LMDB error in a write transaction leaves it unusable. */
    pe_status st = kg_mdb_wfail(w, rc, what);
    w->failed = st;
    return st;
}

static pe_status w_nomem(pe_kg_writer *w)
{
    w->failed = PE_ERR_NOMEM;
    return kg_wfail(w, PE_ERR_NOMEM, "out of memory");
}

/* The writer's sort buffer, at least n bytes (kept between flushes and
 * batches); NULL without memory (callers then sort another way). */
static void *w_scratch(pe_kg_writer *w, size_t n)
{
    if (n <= w->scratch_cap) return w->scratch;
    size_t cap = w->scratch_cap ? w->scratch_cap : 65536;
    while (cap < n) cap *= 2;
    void *b = malloc(cap);
    if (!b) return NULL;
    free(w->scratch);
    w->scratch = b;
    w->scratch_cap = cap;
    return b;
}

static int w_buf(pe_kg_writer *w, size_t n)
{
    if (n <= w->buf_cap) return 0;
    size_t cap = w->buf_cap ? w->buf_cap : 4096;
    while (cap < n) cap *= 2;
    unsigned char *b = realloc(w->buf, cap);
    if (!b) return -1;
    w->buf = b;
    w->buf_cap = cap;
    return 0;
}

static inline uint64_t w_canon(pe_kg_writer *w, uint64_t id)
{
    if (w->kg->redirects.n) {
        uint64_t c = kg_idmap_get(&w->kg->redirects, id);
        if (c) return c;
    }
    return id;
}

/* Follows merges recorded in the store too (ids from other handles). */
static uint64_t w_canon_db(pe_kg_writer *w, uint64_t id)
{
    id = w_canon(w, id);
    if (w->kg->redir_complete) return id; /* the map holds every merge */
    unsigned char kb[8];
    pe_put_be64(kb, id);
    MDB_val k = {8, kb}, d;
    if (mdb_get(w->txn, w->kg->dbi[KG_REDIR], &k, &d) == 0 && d.mv_size == 8) return pe_get_be64(d.mv_data);
    return id;
}

/* ---- ids made by this writer that have no data yet ------------------------- */

/* Marks e as given data (no longer bare). 0, or -1 without memory. */
static int w_use(pe_kg_writer *w, uint64_t e)
{
    if (e < w->first_new || (e & KG_LIT_BIT)) return 0;
    uint64_t i = e - w->first_new;
    size_t wd = (size_t)(i >> 6);
    if (wd >= w->used_words) {
        size_t n = w->used_words ? w->used_words : 1024;
        while (n <= wd) n *= 2;
        uint64_t *nu = realloc(w->used, n * sizeof *nu);
        if (!nu) return -1;
        memset(nu + w->used_words, 0, (n - w->used_words) * sizeof *nu);
        w->used = nu;
        w->used_words = n;
    }
    w->used[wd] |= UINT64_C(1) << (i & 63);
    return 0;
}

/* 1 when e was made by this writer and no call has given it data. */
static int w_fresh_bare(const pe_kg_writer *w, uint64_t e)
{
    if (e < w->first_new || e >= w->next_term) return 0;
    uint64_t i = e - w->first_new;
    size_t wd = (size_t)(i >> 6);
    return wd >= w->used_words || !(w->used[wd] >> (i & 63) & 1);
}

/* ---- pending entity record updates ------------------------------------------ */

static int kind_rank(int kind)
{
    switch (kind) {
    case PE_KG_KIND_ITEM: case PE_KG_KIND_PROPERTY: case PE_KG_KIND_LEXEME: return 2;
    case PE_KG_KIND_RESOURCE: return 1;
    default: return 0;
    }
}

static kg_ent_upd *w_ent(pe_kg_writer *w, uint64_t id)
{
    if (w->last_ent && w->last_ent->id == id) return w->last_ent;
    if ((w->ents_n + 1) * 2 > w->ents_cap) {
        size_t ncap = w->ents_cap ? w->ents_cap * 2 : 4096;
        kg_ent_upd *ne = calloc(ncap, sizeof *ne);
        uint32_t *nu = malloc(ncap / 2 * sizeof *nu);
        kg_ent_upd *nt = malloc(ncap / 2 * sizeof *nt);
        if (!ne || !nu || !nt) {
            free(ne); free(nu); free(nt);
            return NULL;
        }
        size_t nn = 0;
        for (size_t k = 0; k < w->ents_n; k++) {
            const kg_ent_upd *o = &w->ents[w->ents_used[k]];
            size_t j = (size_t)kg_mix64(o->id, 2) & (ncap - 1);
            while (ne[j].id) j = (j + 1) & (ncap - 1);
            ne[j] = *o;
            nu[nn++] = (uint32_t)j;
        }
        free(w->ents);
        free(w->ents_used);
        free(w->ents_tmp);
        w->ents = ne;
        w->ents_used = nu;
        w->ents_tmp = nt;
        w->ents_cap = ncap;
        w->last_ent = NULL;
    }
    size_t mask = w->ents_cap - 1;
    size_t i = (size_t)kg_mix64(id, 2) & mask;
    while (w->ents[i].id && w->ents[i].id != id) i = (i + 1) & mask;
    kg_ent_upd *u = &w->ents[i];
    if (!u->id) {
        u->id = id;
        u->kind = -1;
        w->ents_used[w->ents_n++] = (uint32_t)i;
    }
    w->last_ent = u;
    return u;
}

/* Stable LSD radix sort of n records of `size` bytes by the uint64_t at their
 * start (11-bit digits; a digit equal in every record costs one counting
 * pass and no move). tmp holds n records. */
#define KG_RADIX_SORT(NAME, T)                                                                   \
    static void NAME(T *r, T *tmp, size_t n)                                                     \
    {                                                                                            \
        size_t cnt[2048];                                                                        \
        T *src = r, *dst = tmp;                                                                  \
        for (int sh = 0; sh < 64; sh += 11) {                                                    \
            memset(cnt, 0, sizeof cnt);                                                          \
            for (size_t i = 0; i < n; i++) cnt[(size_t)(*(const uint64_t *)&src[i] >> sh) & 2047]++; \
            if (cnt[(size_t)(*(const uint64_t *)&src[0] >> sh) & 2047] == n) continue;           \
            size_t sum = 0;                                                                      \
            for (int d = 0; d < 2048; d++) {                                                     \
                size_t c = cnt[d];                                                               \
                cnt[d] = sum;                                                                    \
                sum += c;                                                                        \
            }                                                                                    \
            for (size_t i = 0; i < n; i++) dst[cnt[(size_t)(*(const uint64_t *)&src[i] >> sh) & 2047]++] = src[i]; \
            T *t = src;                                                                          \
            src = dst;                                                                           \
            dst = t;                                                                             \
        }                                                                                        \
        if (src != r) memcpy(r, src, n * sizeof *r);                                             \
    }

KG_RADIX_SORT(radix_ents, kg_ent_upd)

static int ent_cmp(const void *a, const void *b)
{
    uint64_t x = ((const kg_ent_upd *)a)->id, y = ((const kg_ent_upd *)b)->id;
    return x < y ? -1 : x > y;
}

/* Entity record: kind(1) flags(1: bit0 datatype present) 0(2) sitelinks(4)
 * source(4) [datatype\0]. */
static size_t ent_encode(unsigned char *b, int kind, const char *dt, uint32_t sitelinks, uint32_t source)
{
    memset(b, 0, KG_ENT_FIXED);
    b[0] = (unsigned char)kind;
    pe_put_be32(b + 4, sitelinks);
    pe_put_be32(b + 8, source);
    if (!dt) return KG_ENT_FIXED;
    b[1] = 1;
    size_t l = strlen(dt);
    memcpy(b + KG_ENT_FIXED, dt, l + 1);
    return KG_ENT_FIXED + l + 1;
}

pe_status kg_writer_flush_entities(pe_kg_writer *w)
{
    if (w->failed) return w->failed;
    if (!w->ents_n) return PE_OK;
    size_t n = w->ents_n;
    for (size_t i = 0; i < n; i++) {
        w->ents_tmp[i] = w->ents[w->ents_used[i]];
        memset(&w->ents[w->ents_used[i]], 0, sizeof *w->ents);
    }
    w->ents_n = 0;
    w->last_ent = NULL;
    /* ids are unique: any sort gives the same order */
    kg_ent_upd *tmp = n >= 256 ? w_scratch(w, n * sizeof *tmp) : NULL;
    if (tmp) radix_ents(w->ents_tmp, tmp, n);
    else qsort(w->ents_tmp, n, sizeof *w->ents_tmp, ent_cmp);
    MDB_cursor *c = w->cur[KG_ENT];
    pe_status st = PE_OK;
    unsigned char rec[KG_ENT_FIXED + 256], kb[8];
    for (size_t i = 0; i < n && st == PE_OK; i++) {
        kg_ent_upd *u = &w->ents_tmp[i];
        const char *dt = u->dt_off ? (const char *)w->arena + u->dt_off - 1 : NULL;
        pe_put_be64(kb, u->id);
        MDB_val k = {8, kb}, d;
        int kind = u->kind < 0 ? PE_KG_KIND_UNKNOWN : u->kind, rc;
        if (u->id > w->max_key[KG_ENT]) {
            d.mv_size = ent_encode(rec, kind, dt, u->sitelinks, u->source);
            d.mv_data = rec;
            rc = mdb_cursor_put(c, &k, &d, MDB_APPEND);
            if (rc) st = w_mdb(w, rc, "write entity record");
            w->max_key[KG_ENT] = u->id;
            continue;
        }
        rc = mdb_cursor_get(c, &k, &d, MDB_SET_KEY);
        if (rc == MDB_NOTFOUND) {
            d.mv_size = ent_encode(rec, kind, dt, u->sitelinks, u->source);
            d.mv_data = rec;
            rc = mdb_cursor_put(c, &k, &d, 0);
            if (rc) st = w_mdb(w, rc, "write entity record");
            continue;
        }
        kg_ent_rec old;
        if (rc || kg_dec_entity(d.mv_data, d.mv_size, &old)) {
            st = rc ? w_mdb(w, rc, "read entity record")
                    : kg_wfail(w, PE_ERR_CORRUPT, "entity record %llu is malformed", (unsigned long long)u->id);
            break;
        }
        int okind = old.kind;
        uint32_t osl = old.sitelinks, osrc = old.source;
        const char *odt = old.datatype;
        int rises = kind_rank(kind) > kind_rank(okind);
        int nkind = rises ? kind : okind;
        const char *ndt = dt ? dt : odt;
        uint32_t nsrc = rises ? (u->source ? u->source : osrc) : (osrc ? osrc : u->source);
        if (nkind == okind && u->sitelinks == 0 && nsrc == osrc &&
            (ndt == odt || (ndt && odt && strcmp(ndt, odt) == 0)))
            continue; /* unchanged */
        char dtcopy[256];
        if (ndt) snprintf(dtcopy, sizeof dtcopy, "%s", ndt);
        d.mv_size = ent_encode(rec, nkind, ndt ? dtcopy : NULL, osl + u->sitelinks, nsrc);
        d.mv_data = rec;
        rc = mdb_cursor_put(c, &k, &d, 0);
        if (rc) st = w_mdb(w, rc, "write entity record");
    }
    w->arena_len = 0;
    return st;
}

static pe_status w_touch(pe_kg_writer *w, uint64_t e)
{
    return w_ent(w, e) ? PE_OK : w_nomem(w);
}

/* ---- deferred ordered writes ----------------------------------------------------- */

static pe_status w_vpend_add(pe_kg_writer *w, int which, const void *k, size_t kl, const void *v, size_t vl)
{
    kg_vpend *p = &w->pend[which];
    size_t need = 4 + kl + vl;
    if (p->len + need > p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 65536;
        while (cap < p->len + need) cap *= 2;
        unsigned char *nb = realloc(p->b, cap);
        if (!nb) return w_nomem(w);
        p->b = nb;
        p->cap = cap;
    }
    if (p->n == p->ncap) {
        size_t ncap = p->ncap ? p->ncap * 2 : 4096;
        uint32_t *no = realloc(p->off, ncap * sizeof *no);
        if (!no) return w_nomem(w);
        p->off = no;
        p->ncap = ncap;
    }
    unsigned char *r = p->b + p->len;
    r[0] = (unsigned char)(kl >> 8); r[1] = (unsigned char)kl;
    r[2] = (unsigned char)(vl >> 8); r[3] = (unsigned char)vl;
    memcpy(r + 4, k, kl);
    memcpy(r + 4 + kl, v, vl);
    p->off[p->n++] = (uint32_t)p->len;
    p->len += need;
    if (p->n + w->pos.n + w->osp.n > KG_PEND_MAX) return kg_writer_flush_pending(w);
    return PE_OK;
}

static pe_status w_tpend_add(pe_kg_writer *w, kg_tpend *t, uint64_t k, uint64_t a, uint64_t b)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16384;
        kg_trip3 *nr = realloc(t->r, cap * sizeof *nr);
        if (!nr) return w_nomem(w);
        t->r = nr;
        t->cap = cap;
    }
    t->r[t->n].k = k;
    t->r[t->n].a = a;
    t->r[t->n].b = b;
    t->n++;
    if (w->pos.n + w->osp.n > KG_PEND_MAX) return kg_writer_flush_pending(w);
    return PE_OK;
}

static int vrec_cmp(const void *x, const void *y, void *base)
{
    const unsigned char *a = (const unsigned char *)base + *(const uint32_t *)x;
    const unsigned char *b = (const unsigned char *)base + *(const uint32_t *)y;
    size_t al = ((size_t)a[0] << 8) | a[1], bl = ((size_t)b[0] << 8) | b[1];
    size_t avl = ((size_t)a[2] << 8) | a[3], bvl = ((size_t)b[2] << 8) | b[3];
    int c = memcmp(a + 4, b + 4, al < bl ? al : bl);
    if (c) return c;
    if (al != bl) return al < bl ? -1 : 1;
    c = memcmp(a + 4 + al, b + 4 + bl, avl < bvl ? avl : bvl);
    if (c) return c;
    if (avl != bvl) return avl < bvl ? -1 : 1;
    return a < b ? -1 : a > b;
}

/* term2id / lit2id: equal keys stay in insertion order, so that the last
 * write wins (a sameAs swap re-points a term written earlier in the batch). */
static int vrec_cmp_key(const void *x, const void *y, void *base)
{
    const unsigned char *a = (const unsigned char *)base + *(const uint32_t *)x;
    const unsigned char *b = (const unsigned char *)base + *(const uint32_t *)y;
    size_t al = ((size_t)a[0] << 8) | a[1], bl = ((size_t)b[0] << 8) | b[1];
    int c = memcmp(a + 4, b + 4, al < bl ? al : bl);
    if (c) return c;
    if (al != bl) return al < bl ? -1 : 1;
    return a < b ? -1 : a > b;
}

static int trip_cmp(const void *x, const void *y)
{
    const kg_trip3 *a = x, *b = y;
    if (a->k != b->k) return a->k < b->k ? -1 : 1;
    if (a->a != b->a) return a->a < b->a ? -1 : 1;
    return a->b < b->b ? -1 : a->b > b->b;
}

/* LSD radix sort by (k, a, b), 11-bit digits; digits equal in every entry
 * (most high ones: ids are small) cost one counting pass and no move. */
static int radix_trip(kg_trip3 *r, kg_trip3 *tmp, size_t n)
{
    size_t cnt[2048];
    kg_trip3 *src = r, *dst = tmp;
    for (int f = 2; f >= 0; f--) {
        for (int sh = 0; sh < 64; sh += 11) {
#define FIELD(x) ((f == 0 ? (x).k : f == 1 ? (x).a : (x).b) >> sh & 2047)
            memset(cnt, 0, 2048 * sizeof *cnt);
            for (size_t i = 0; i < n; i++) cnt[FIELD(src[i])]++;
            if (cnt[FIELD(src[0])] == n) continue;
            size_t sum = 0;
            for (int d = 0; d < 2048; d++) {
                size_t c = cnt[d];
                cnt[d] = sum;
                sum += c;
            }
            for (size_t i = 0; i < n; i++) dst[cnt[FIELD(src[i])]++] = src[i];
#undef FIELD
            kg_trip3 *t = src;
            src = dst;
            dst = t;
        }
    }
    if (src != r) memcpy(r, src, n * sizeof *r);
    return 0;
}

static pe_status flush_trip(pe_kg_writer *w, kg_tpend *t, int db, const char *what)
{
    if (!t->n) return PE_OK;
    /* radix passes cost O(n + 2048) each: small sets (a sameAs merge) sort directly */
    kg_trip3 *tmp = t->n >= 4096 ? w_scratch(w, t->n * sizeof *tmp) : NULL;
    if (!tmp || radix_trip(t->r, tmp, t->n)) qsort(t->r, t->n, sizeof *t->r, trip_cmp);
    unsigned char kb[8], vb[16];
    for (size_t i = 0; i < t->n; i++) {
        const kg_trip3 *r = &t->r[i];
        if (i && r->k == r[-1].k && r->a == r[-1].a && r->b == r[-1].b) continue;
        pe_put_be64(kb, r->k);
        pe_put_be64(vb, r->a);
        pe_put_be64(vb + 8, r->b);
        MDB_val k = {8, kb}, d = {16, vb};
        int rc = mdb_cursor_put(w->cur[db], &k, &d, MDB_NODUPDATA);
        if (rc && rc != MDB_KEYEXIST) {
            t->n = 0;
            return w_mdb(w, rc, what);
        }
    }
    t->n = 0;
    return PE_OK;
}

/* Sort records of vpend buffers: 8 bytes of the key after the prefix that
 * all keys share, then the record's offset. */
typedef struct kg_vkey { uint64_t pre; uint32_t off, pad; } kg_vkey;
KG_RADIX_SORT(radix_vkeys, kg_vkey)

static int vkey_cmp(const void *x, const void *y, void *base)
{
    return vrec_cmp(&((const kg_vkey *)x)->off, &((const kg_vkey *)y)->off, base);
}
static int vkey_cmp_key(const void *x, const void *y, void *base)
{
    return vrec_cmp_key(&((const kg_vkey *)x)->off, &((const kg_vkey *)y)->off, base);
}

/* Sorts p->off as qsort_r with vrec_cmp (by_value) or vrec_cmp_key would:
 * a radix sort on 8 key bytes (ordered as the full keys: bytes past a key's
 * end count as 0, and equal ones go to the comparator), then the runs of
 * equal bytes by the comparator. */
static void vpend_sort(pe_kg_writer *w, kg_vpend *p, int by_value)
{
    size_t n = p->n;
    kg_vkey *k = n >= 1024 ? w_scratch(w, 2 * n * sizeof *k) : NULL;
    if (!k) {
        qsort_r(p->off, n, sizeof *p->off, by_value ? vrec_cmp : vrec_cmp_key, p->b);
        return;
    }
    const unsigned char *r0 = p->b + p->off[0];
    size_t lcp = ((size_t)r0[0] << 8) | r0[1];
    for (size_t i = 1; i < n && lcp; i++) {
        const unsigned char *r = p->b + p->off[i];
        size_t kl = ((size_t)r[0] << 8) | r[1], m = kl < lcp ? kl : lcp, j = 0;
        while (j < m && r[4 + j] == r0[4 + j]) j++;
        lcp = j;
    }
    for (size_t i = 0; i < n; i++) {
        const unsigned char *r = p->b + p->off[i];
        size_t kl = ((size_t)r[0] << 8) | r[1];
        uint64_t pre = 0;
        for (size_t b = 0; b < 8; b++) pre = pre << 8 | (lcp + b < kl ? r[4 + lcp + b] : 0);
        k[i].pre = pre;
        k[i].off = p->off[i];
        k[i].pad = 0;
    }
    radix_vkeys(k, k + n, n);
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && k[j].pre == k[i].pre) j++;
        if (j - i > 1) qsort_r(k + i, j - i, sizeof *k, by_value ? vkey_cmp : vkey_cmp_key, p->b);
        i = j;
    }
    for (size_t i = 0; i < n; i++) p->off[i] = k[i].off;
}

/* Applies the deferred writes, each database in key order. Runs at commit,
 * before a sameAs merge (which reads these databases) and when the
 * buffers hold KG_PEND_MAX entries. */
pe_status kg_writer_flush_pending(pe_kg_writer *w)
{
    if (w->failed) return w->failed;
    static const int dbs[KG_NPEND] = {KG_T2I, KG_L2I, KG_ALIAS};
    for (int i = 0; i < KG_NPEND; i++) {
        kg_vpend *p = &w->pend[i];
        if (!p->n) continue;
        vpend_sort(w, p, dbs[i] == KG_ALIAS);
        unsigned flags = dbs[i] == KG_ALIAS ? MDB_NODUPDATA : 0;
        for (size_t j = 0; j < p->n; j++) {
            unsigned char *r = p->b + p->off[j];
            MDB_val k = {((size_t)r[0] << 8) | r[1], r + 4};
            MDB_val d = {((size_t)r[2] << 8) | r[3], r + 4 + k.mv_size};
            int rc = mdb_cursor_put(w->cur[dbs[i]], &k, &d, flags);
            if (rc && rc != MDB_KEYEXIST) {
                p->n = p->len = 0;
                return w_mdb(w, rc, "store deferred index entries");
            }
        }
        p->n = p->len = 0;
    }
    pe_status st = flush_trip(w, &w->pos, KG_POS, "store triple (POS)");
    if (st == PE_OK) st = flush_trip(w, &w->osp, KG_OSP, "store triple (OSP)");
    return st;
}

/* A term/literal key went only to the pending buffer: if the cache just
 * dropped it, lookups would miss it, so apply the pending writes now. */
static pe_status w_cache_put(pe_kg_writer *w, const unsigned char *k, size_t kl, uint64_t h, uint64_t id)
{
    if (kg_cache_put(&w->kg->cache, k, kl, h, id)) return kg_writer_flush_pending(w);
    return PE_OK;
}

/* ---- terms and literals ------------------------------------------------------ */

pe_status pe_kg_intern(pe_kg_writer *w, const char *term, size_t len, pe_kg_id *id)
{
    if (!w || !term || !id) return PE_ERR_INVALID;
    *id = 0;
    if (w->failed) return w->failed;
    kg_canon_term(&term, &len);
    if (len == 0) return kg_wfail(w, PE_ERR_INVALID, "empty term");
    if ((unsigned char)term[0] < 0x20)
        return kg_wfail(w, PE_ERR_INVALID, "term starts with a control character");
    unsigned char kb[KG_MAX_KEY + 1];
    size_t kl = kg_term_key((const unsigned char *)term, len, kb);
    uint64_t h = kg_cache_hash(kb, kl);
    kg_cache *cache = &w->kg->cache;
    uint64_t v = kg_cache_get(cache, kb, kl, h);
    if (v) {
        *id = v;
        return PE_OK;
    }
    MDB_val k = {kl, kb}, d;
    if (!cache->complete) {
        int rc = mdb_get(w->txn, w->kg->dbi[KG_T2I], &k, &d);
        if (rc == 0 && d.mv_size == 8) {
            v = pe_get_be64(d.mv_data);
            *id = v;
            return w_cache_put(w, kb, kl, h, v);
        }
        if (rc && rc != MDB_NOTFOUND) return w_mdb(w, rc, "term lookup");
    }
    if (w_buf(w, len + 1)) return w_nomem(w);
    memcpy(w->buf, term, len);
    w->buf[len] = 0;
    v = w->next_term;
    unsigned char ib[8];
    pe_put_be64(ib, v);
    MDB_val ik = {8, ib}, tv = {len + 1, w->buf};
    int rc = mdb_cursor_put(w->cur[KG_I2T], &ik, &tv, MDB_APPEND);
    if (rc) return w_mdb(w, rc, "store term");
    w->next_term++;
    pe_status st = w_vpend_add(w, KG_PEND_T2I, kb, kl, ib, 8);
    if (st != PE_OK) return st;
    *id = v;
    return w_cache_put(w, kb, kl, h, v);
}

static const char *nz(const char *s) { return s ? s : ""; }

/* Literal encoding (value of id2lit, key of lit2id): type(1) then
 *   STRING, EXTERNAL_ID, URL: text\0
 *   MONOTEXT: lang\0 text\0
 *   QUANTITY: amount(8) lower(8) upper(8) unit\0
 *   TIME: precision(1) calendar\0 text\0
 *   COORD: lat(8) lon(8) precision(8) globe\0
 *   TYPED: datatype\0 text\0
 * Doubles are IEEE-754 bits, big-endian; absent strings are "". Written at
 * w->buf + 1 (w->buf[0] = 1 marks literals in the term cache). */
static pe_status w_lit_encode(pe_kg_writer *w, const pe_kg_value *v, size_t *n)
{
    const char *text = v->text ? v->text : "";
    size_t tl = v->text ? v->text_len : 0;
    size_t need = 2 + 24 + tl + 1 + strlen(nz(v->lang)) + strlen(nz(v->datatype)) + strlen(nz(v->unit)) +
                  strlen(nz(v->calendar)) + strlen(nz(v->globe)) + 8;
    if (w_buf(w, need)) return w_nomem(w);
    unsigned char *b = w->buf + 1, *p = b;
    w->buf[0] = 1;
    *p++ = (unsigned char)v->type;
#define PUTS(s) do { size_t _l = strlen(s); memcpy(p, s, _l + 1); p += _l + 1; } while (0)
#define PUTT() do { memcpy(p, text, tl); p += tl; *p++ = 0; } while (0)
    switch (v->type) {
    case PE_KG_VAL_STRING: case PE_KG_VAL_EXTERNAL_ID: case PE_KG_VAL_URL:
        PUTT();
        break;
    case PE_KG_VAL_MONOTEXT:
        PUTS(nz(v->lang));
        PUTT();
        break;
    case PE_KG_VAL_QUANTITY:
        pe_put_bed(p, v->amount); pe_put_bed(p + 8, v->lower); pe_put_bed(p + 16, v->upper);
        p += 24;
        PUTS(nz(v->unit));
        break;
    case PE_KG_VAL_TIME:
        if (v->precision < 0 || v->precision > 14)
            return kg_wfail(w, PE_ERR_INVALID, "time precision %d outside 0..14", v->precision);
        *p++ = (unsigned char)v->precision;
        PUTS(nz(v->calendar));
        PUTT();
        break;
    case PE_KG_VAL_COORD:
        pe_put_bed(p, v->lat); pe_put_bed(p + 8, v->lon); pe_put_bed(p + 16, v->coord_precision);
        p += 24;
        PUTS(nz(v->globe));
        break;
    case PE_KG_VAL_TYPED:
        PUTS(nz(v->datatype));
        PUTT();
        break;
    default:
        return kg_wfail(w, PE_ERR_INVALID, "unknown value type %d", (int)v->type);
    }
#undef PUTS
#undef PUTT
    *n = (size_t)(p - b);
    return PE_OK;
}

static pe_status w_intern_literal(pe_kg_writer *w, const pe_kg_value *v, uint64_t *id)
{
    size_t n = 0;
    pe_status st = w_lit_encode(w, v, &n);
    if (st != PE_OK) return st;
    const unsigned char *enc = w->buf + 1;
    unsigned char ck[KG_MAX_KEY + 2];
    ck[0] = 1;
    size_t kl = kg_term_key(enc, n, ck + 1);
    uint64_t h = kg_cache_hash(ck, kl + 1);
    kg_cache *cache = &w->kg->cache;
    uint64_t x = kg_cache_get(cache, ck, kl + 1, h);
    if (x) {
        *id = x;
        return PE_OK;
    }
    MDB_val k = {kl, ck + 1}, d;
    if (!cache->complete) {
        int rc = mdb_get(w->txn, w->kg->dbi[KG_L2I], &k, &d);
        if (rc == 0 && d.mv_size == 8) {
            x = pe_get_be64(d.mv_data);
            *id = x;
            return w_cache_put(w, ck, kl + 1, h, x);
        }
        if (rc && rc != MDB_NOTFOUND) return w_mdb(w, rc, "literal lookup");
    }
    x = KG_LIT_BIT | w->next_lit;
    unsigned char ib[8];
    pe_put_be64(ib, x);
    MDB_val ik = {8, ib}, ev = {n, (void *)enc};
    int rc = mdb_cursor_put(w->cur[KG_I2L], &ik, &ev, MDB_APPEND);
    if (rc) return w_mdb(w, rc, "store literal");
    w->next_lit++;
    st = w_vpend_add(w, KG_PEND_L2I, ck + 1, kl, ib, 8);
    if (st != PE_OK) return st;
    *id = x;
    return w_cache_put(w, ck, kl + 1, h, x);
}

/* ---- texts and sitelinks ----------------------------------------------------- */

/* Text key: e(8) kind(1) lang\0 hash(8); value: source(4) text\0. Equal
 * hashes of different texts take the next hash value. */
static pe_status w_text_add(pe_kg_writer *w, uint64_t e, int kind, const char *lang, const char *text, size_t len,
                            uint32_t source, int *added)
{
    *added = 0;
    size_t ll = strlen(lang);
    if (ll > 64) return kg_wfail(w, PE_ERR_INVALID, "language code longer than 64 bytes: %.64s...", lang);
    unsigned char kb[8 + 1 + 65 + 8];
    pe_put_be64(kb, e);
    kb[8] = (unsigned char)kind;
    memcpy(kb + 9, lang, ll + 1);
    size_t kl = 9 + ll + 1 + 8;
    if (w_buf(w, len + 7)) return w_nomem(w);
    w->buf[0] = 0;
    w->buf[1] = 1;
    pe_put_be32(w->buf + 2, source);
    memcpy(w->buf + 6, text, len);
    w->buf[6 + len] = 0;
    uint64_t h = kg_hash(text, len, 3);
    for (int probe = 0; probe < 16; probe++) {
        pe_put_be64(kb + 10 + ll, h + (uint64_t)probe);
        MDB_val k = {kl, kb}, d = {len + 7, w->buf};
        unsigned flags = MDB_NOOVERWRITE | (e > w->max_key[KG_TXT] ? MDB_APPEND : 0);
        int rc = mdb_cursor_put(w->cur[KG_TXT], &k, &d, flags);
        if (rc == 0) {
            if (e > w->max_key[KG_TXT]) w->max_key[KG_TXT] = e;
            *added = 1;
            break;
        }
        if (rc != MDB_KEYEXIST) return w_mdb(w, rc, "store text");
        kg_txt_val tv;
        if (kg_dec_text_val(d.mv_data, d.mv_size, &tv))
            return kg_wfail(w, PE_ERR_CORRUPT, "text record of entity %llu is malformed", (unsigned long long)e);
        size_t hdr = 2 + 4 * tv.n_sources;
        if (tv.text_len != len || memcmp(tv.text, text, len) != 0) continue;
        /* The same text again: remember the new source beside the first. */
        size_t ns = tv.n_sources;
        const unsigned char *old = d.mv_data;
        for (size_t i = 0; i < ns; i++)
            if (pe_get_be32(old + 2 + 4 * i) == source) return PE_OK;
        if (ns >= KG_TXT_MAX_SOURCES || source == 0) return PE_OK;
        if (w_buf(w, hdr + 4 + len + 1)) return w_nomem(w);
        memcpy(w->buf, old, hdr);
        w->buf[0] = (unsigned char)((ns + 1) >> 8);
        w->buf[1] = (unsigned char)(ns + 1);
        pe_put_be32(w->buf + hdr, source);
        memcpy(w->buf + hdr + 4, text, len);
        w->buf[hdr + 4 + len] = 0;
        MDB_val nd = {hdr + 4 + len + 1, w->buf};
        MDB_val k2 = {kl, kb};
        rc = mdb_cursor_put(w->cur[KG_TXT], &k2, &nd, 0);
        return rc ? w_mdb(w, rc, "store text source") : PE_OK;
    }
    if (!*added) return kg_wfail(w, PE_ERR_STORE, "text hash chain too long for entity %llu",
                                (unsigned long long)e);
    if (kind == PE_KG_DESCRIPTION) return PE_OK;
    pe_status st;
    size_t fl;
    char *form = kg_alias_form_buf(text, len, &w->form, &w->form_cap, &fl, &st);
    if (!form) return st == PE_ERR_NOMEM ? w_nomem(w) : kg_wfail(w, st, "text of entity %llu is not valid UTF-8",
                                                                (unsigned long long)e);
    if (fl == 0) return PE_OK;
    unsigned char v[KG_ALIAS_VAL];
    pe_put_be64(v, e);
    v[8] = kind == PE_KG_LABEL ? KG_ALIAS_FLAG_LABEL : KG_ALIAS_FLAG_ALIAS;
    return w_vpend_add(w, KG_PEND_ALIAS, form, fl, v, KG_ALIAS_VAL);
}

static int w_is_literal(uint64_t id) { return (id & KG_LIT_BIT) != 0; }

static pe_status w_check_entity(pe_kg_writer *w, uint64_t e, const char *what)
{
    if (!e || w_is_literal(e) || e >= w->next_term)
        return kg_wfail(w, PE_ERR_INVALID, "%s: %llu is not an entity id of this store", what,
                       (unsigned long long)e);
    return PE_OK;
}

pe_status pe_kg_put_text(pe_kg_writer *w, pe_kg_id e, pe_kg_text_kind kind, const char *lang, const char *text,
                         size_t len, uint32_t source)
{
    if (!w || (!text && len)) return PE_ERR_INVALID;
    if (w->failed) return w->failed;
    if ((unsigned)kind > PE_KG_DESCRIPTION) return kg_wfail(w, PE_ERR_INVALID, "bad text kind %d", (int)kind);
    if (text && memchr(text, 0, len))
        return kg_wfail(w, PE_ERR_INVALID, "a text of entity %llu holds a NUL byte (texts are read as C strings)",
                        (unsigned long long)e);
    e = w_canon(w, e);
    pe_status st = w_check_entity(w, e, "put_text");
    if (st != PE_OK) return st;
    if (w_use(w, e)) return w_nomem(w);
    int added;
    st = w_text_add(w, e, kind, lang ? lang : "", text ? text : "", len, source, &added);
    if (st != PE_OK) return st;
    return w_touch(w, e);
}

static pe_status w_sitelink_add(pe_kg_writer *w, uint64_t e, const char *site, const char *title, size_t tl,
                                uint32_t source, int *added)
{
    *added = 0;
    size_t sl = strlen(site);
    if (sl == 0 || sl > 128) return kg_wfail(w, PE_ERR_INVALID, "bad sitelink site '%.128s'", site);
    unsigned char kb[8 + 129];
    pe_put_be64(kb, e);
    memcpy(kb + 8, site, sl + 1);
    if (w_buf(w, tl + 5)) return w_nomem(w);
    pe_put_be32(w->buf, source);
    memcpy(w->buf + 4, title, tl);
    w->buf[4 + tl] = 0;
    MDB_val k = {8 + sl + 1, kb}, d = {tl + 5, w->buf};
    unsigned flags = MDB_NOOVERWRITE | (e > w->max_key[KG_SITE] ? MDB_APPEND : 0);
    int rc = mdb_cursor_put(w->cur[KG_SITE], &k, &d, flags);
    if (rc == MDB_KEYEXIST) return PE_OK;
    if (rc) return w_mdb(w, rc, "store sitelink");
    if (e > w->max_key[KG_SITE]) w->max_key[KG_SITE] = e;
    *added = 1;
    return PE_OK;
}

pe_status pe_kg_put_sitelink(pe_kg_writer *w, pe_kg_id e, const char *site, const char *title, uint32_t source)
{
    if (!w || !site || !title) return PE_ERR_INVALID;
    if (w->failed) return w->failed;
    e = w_canon(w, e);
    pe_status st = w_check_entity(w, e, "put_sitelink");
    if (st != PE_OK) return st;
    if (w_use(w, e)) return w_nomem(w);
    int added;
    st = w_sitelink_add(w, e, site, title, strlen(title), source, &added);
    if (st != PE_OK) return st;
    kg_ent_upd *u = w_ent(w, e);
    if (!u) return w_nomem(w);
    u->sitelinks += (uint32_t)added;
    return PE_OK;
}

pe_status pe_kg_put_kind(pe_kg_writer *w, pe_kg_id e, pe_kg_entity_kind kind, const char *datatype,
                         uint32_t source)
{
    if (!w) return PE_ERR_INVALID;
    if (w->failed) return w->failed;
    if ((unsigned)kind > PE_KG_KIND_RESOURCE)
        return kg_wfail(w, PE_ERR_INVALID, "bad entity kind %d for entity %llu", (int)kind, (unsigned long long)e);
    e = w_canon(w, e);
    pe_status st = w_check_entity(w, e, "put_kind");
    if (st != PE_OK) return st;
    if (w_use(w, e)) return w_nomem(w);
    kg_ent_upd *u = w_ent(w, e);
    if (!u) return w_nomem(w);
    /* the record's source is the one that gave its (highest) kind */
    if (u->kind < 0 || kind_rank(kind) > kind_rank(u->kind)) {
        u->kind = kind;
        if (source) u->source = source;
    } else if (!u->source) {
        u->source = source;
    }
    if (datatype && *datatype) {
        size_t l = strlen(datatype);
        if (l > 200) return kg_wfail(w, PE_ERR_INVALID, "datatype name too long for entity %llu",
                                    (unsigned long long)e);
        if (w->arena_len + l + 1 > w->arena_cap) {
            size_t cap = w->arena_cap ? w->arena_cap * 2 : 4096;
            while (cap < w->arena_len + l + 1) cap *= 2;
            unsigned char *a = realloc(w->arena, cap);
            if (!a) return w_nomem(w);
            w->arena = a;
            w->arena_cap = cap;
        }
        memcpy(w->arena + w->arena_len, datatype, l + 1);
        u->dt_off = (uint32_t)w->arena_len + 1;
        w->arena_len += l + 1;
    }
    return PE_OK;
}

/* ---- triples ------------------------------------------------------------------- */

static pe_status w_tsrc_add(pe_kg_writer *w, uint64_t s, uint64_t p, uint64_t o, uint32_t src)
{
    unsigned char kb[24], vb[4];
    pe_put_be64(kb, s); pe_put_be64(kb + 8, p); pe_put_be64(kb + 16, o);
    pe_put_be32(vb, src);
    MDB_val k = {24, kb}, d = {4, vb};
    int rc = mdb_cursor_put(w->cur[KG_TSRC], &k, &d, MDB_NODUPDATA);
    if (rc && rc != MDB_KEYEXIST) return w_mdb(w, rc, "store triple source");
    w->tsrc_any = 1;
    return PE_OK;
}

/* SPO value p(8) o(8) rank(1) source(4); POS o(8) s(8); OSP s(8) p(8). */
static pe_status w_triple_add(pe_kg_writer *w, uint64_t s, uint64_t p, uint64_t o, int rank, uint32_t src)
{
    unsigned char sk[8], v[KG_SPO_VAL];
    pe_put_be64(sk, s);
    pe_put_be64(v, p);
    pe_put_be64(v + 8, o);
    v[16] = (unsigned char)rank;
    pe_put_be32(v + 17, src);
    MDB_cursor *c = w->cur[KG_SPO];
    int rc;
    if (s > w->max_key[KG_SPO]) {
        MDB_val k = {8, sk}, d = {KG_SPO_VAL, v};
        rc = mdb_cursor_put(c, &k, &d, MDB_APPEND);
        if (rc) return w_mdb(w, rc, "store triple");
        w->max_key[KG_SPO] = s;
    } else {
        unsigned char probe[KG_SPO_VAL];
        memcpy(probe, v, 16);
        memset(probe + 16, 0, KG_SPO_VAL - 16);
        MDB_val k = {8, sk}, d = {KG_SPO_VAL, probe};
        rc = mdb_cursor_get(c, &k, &d, MDB_GET_BOTH_RANGE);
        if (rc == 0 && d.mv_size == KG_SPO_VAL && memcmp(d.mv_data, v, 16) == 0) {
            uint32_t first = pe_get_be32((const unsigned char *)d.mv_data + 17);
            return first != src ? w_tsrc_add(w, s, p, o, src) : PE_OK;
        }
        if (rc && rc != MDB_NOTFOUND) return w_mdb(w, rc, "triple lookup");
        MDB_val k2 = {8, sk}, d2 = {KG_SPO_VAL, v};
        rc = mdb_cursor_put(c, &k2, &d2, MDB_NODUPDATA);
        if (rc) return w_mdb(w, rc, "store triple");
    }
    pe_status st = w_tpend_add(w, &w->pos, p, o, s);
    if (st == PE_OK) st = w_tpend_add(w, &w->osp, o, s, p);
    return st;
}

pe_status pe_kg_put_triple(pe_kg_writer *w, pe_kg_id s, pe_kg_id p, const pe_kg_value *o, pe_kg_rank rank,
                           uint32_t source)
{
    if (!w || !o) return PE_ERR_INVALID;
    if (w->failed) return w->failed;
    if ((unsigned)rank > PE_KG_RANK_DEPRECATED) return kg_wfail(w, PE_ERR_INVALID, "bad rank %d", (int)rank);
    s = w_canon(w, s);
    p = w_canon(w, p);
    pe_status st = w_check_entity(w, s, "put_triple subject");
    if (st == PE_OK) st = w_check_entity(w, p, "put_triple predicate");
    if (st != PE_OK) return st;
    uint64_t oid;
    if (o->type == PE_KG_VAL_ENTITY) {
        oid = w_canon(w, o->entity);
        st = w_check_entity(w, oid, "put_triple object");
    } else {
        st = w_intern_literal(w, o, &oid);
    }
    if (st != PE_OK) return st;
    if (w_use(w, s) || w_use(w, p) || w_use(w, oid)) return w_nomem(w);
    st = w_triple_add(w, s, p, oid, rank, source);
    if (st != PE_OK) return st;
    return w_touch(w, s);
}

/* ---- owl:sameAs merges ---------------------------------------------------------- */

/* A list of copied key/value pairs (the originals are deleted while we walk). */
typedef struct kv_list {
    unsigned char *b;
    size_t len, cap;
} kv_list;

static int kv_add(kv_list *l, const MDB_val *k, const MDB_val *v)
{
    size_t need = 8 + k->mv_size + v->mv_size;
    if (l->len + need > l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4096;
        while (cap < l->len + need) cap *= 2;
        unsigned char *nb = realloc(l->b, cap);
        if (!nb) return -1;
        l->b = nb;
        l->cap = cap;
    }
    uint32_t kl = (uint32_t)k->mv_size, vl = (uint32_t)v->mv_size;
    memcpy(l->b + l->len, &kl, 4);
    memcpy(l->b + l->len + 4, &vl, 4);
    memcpy(l->b + l->len + 8, k->mv_data, kl);
    memcpy(l->b + l->len + 8 + kl, v->mv_data, vl);
    l->len += need;
    return 0;
}

/* Iterates: *pos is the read offset. */
static int kv_next(const kv_list *l, size_t *pos, MDB_val *k, MDB_val *v)
{
    if (*pos >= l->len) return 0;
    uint32_t kl, vl;
    memcpy(&kl, l->b + *pos, 4);
    memcpy(&vl, l->b + *pos + 4, 4);
    k->mv_size = kl;
    k->mv_data = l->b + *pos + 8;
    v->mv_size = vl;
    v->mv_data = l->b + *pos + 8 + kl;
    *pos += 8 + kl + vl;
    return 1;
}

/* Collects entries whose key starts with the 8-byte id (non-dup dbs). */
static int collect_prefix(pe_kg_writer *w, int db, uint64_t id, kv_list *out)
{
    unsigned char kb[8];
    pe_put_be64(kb, id);
    MDB_val k = {8, kb}, d;
    int rc = mdb_cursor_get(w->cur[db], &k, &d, MDB_SET_RANGE);
    while (rc == 0 && k.mv_size >= 8 && memcmp(k.mv_data, kb, 8) == 0) {
        if (kv_add(out, &k, &d)) return ENOMEM;
        rc = mdb_cursor_get(w->cur[db], &k, &d, MDB_NEXT);
    }
    return rc == MDB_NOTFOUND || rc == 0 ? 0 : rc;
}

/* Collects the duplicates of one key. */
static int collect_dups(pe_kg_writer *w, int db, const void *key, size_t klen, kv_list *out)
{
    MDB_val k = {klen, (void *)key}, d;
    int rc = mdb_cursor_get(w->cur[db], &k, &d, MDB_SET_KEY);
    while (rc == 0) {
        if (kv_add(out, &k, &d)) return ENOMEM;
        rc = mdb_cursor_get(w->cur[db], &k, &d, MDB_NEXT_DUP);
    }
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static int del_pair(pe_kg_writer *w, int db, const void *k, size_t kl, const void *v, size_t vl)
{
    MDB_val key = {kl, (void *)k}, val = {vl, (void *)v};
    int rc = mdb_del(w->txn, w->kg->dbi[db], &key, vl ? &val : NULL);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Removes (s, p, o) from every index; returns its rank, first source and
 * extra sources (in *extra). *found = 0 when it was not there. */
static int triple_remove(pe_kg_writer *w, uint64_t s, uint64_t p, uint64_t o, int *rank, uint32_t *src,
                         kv_list *extra, int *found)
{
    unsigned char sk[8], probe[KG_SPO_VAL], full[KG_SPO_VAL];
    pe_put_be64(sk, s);
    pe_put_be64(probe, p);
    pe_put_be64(probe + 8, o);
    memset(probe + 16, 0, KG_SPO_VAL - 16);
    MDB_val k = {8, sk}, d = {KG_SPO_VAL, probe};
    int rc = mdb_cursor_get(w->cur[KG_SPO], &k, &d, MDB_GET_BOTH_RANGE);
    *found = 0;
    if (rc == MDB_NOTFOUND || (rc == 0 && (d.mv_size != KG_SPO_VAL || memcmp(d.mv_data, probe, 16) != 0))) return 0;
    if (rc) return rc;
    *found = 1;
    memcpy(full, d.mv_data, KG_SPO_VAL);
    *rank = full[16];
    *src = pe_get_be32(full + 17);
    rc = mdb_cursor_del(w->cur[KG_SPO], 0);
    if (rc) return rc;
    unsigned char pk[8], pv[16], ok[8], ov[16], tk[24];
    pe_put_be64(pk, p); pe_put_be64(pv, o); pe_put_be64(pv + 8, s);
    pe_put_be64(ok, o); pe_put_be64(ov, s); pe_put_be64(ov + 8, p);
    if ((rc = del_pair(w, KG_POS, pk, 8, pv, 16)) || (rc = del_pair(w, KG_OSP, ok, 8, ov, 16))) return rc;
    if (!w->tsrc_any) return 0; /* no triple has a second source: nothing to move */
    pe_put_be64(tk, s); pe_put_be64(tk + 8, p); pe_put_be64(tk + 16, o);
    if ((rc = collect_dups(w, KG_TSRC, tk, 24, extra))) return rc;
    return del_pair(w, KG_TSRC, tk, 24, NULL, 0);
}

static pe_status w_move_triple(pe_kg_writer *w, uint64_t s, uint64_t p, uint64_t o, uint64_t ns, uint64_t no)
{
    kv_list extra = {0};
    int rank = 0, found = 0;
    uint32_t src = 0;
    int rc = triple_remove(w, s, p, o, &rank, &src, &extra, &found);
    pe_status st = PE_OK;
    if (rc) st = rc == ENOMEM ? w_nomem(w) : w_mdb(w, rc, "sameAs merge: move triple");
    if (st == PE_OK && found) st = w_triple_add(w, ns, p, no, rank, src);
    size_t pos = 0;
    MDB_val k, v;
    while (st == PE_OK && kv_next(&extra, &pos, &k, &v))
        if (v.mv_size == 4) st = w_triple_add(w, ns, p, no, rank, pe_get_be32(v.mv_data));
    free(extra.b);
    return st;
}

/* Points the term of `x` (and its dictionary entry) at `c`. */
static pe_status w_repoint(pe_kg_writer *w, uint64_t x, uint64_t c)
{
    unsigned char ib[8], cb[8];
    pe_put_be64(ib, x);
    pe_put_be64(cb, c);
    MDB_val k = {8, ib}, d;
    int rc = mdb_get(w->txn, w->kg->dbi[KG_I2T], &k, &d);
    if (rc) return w_mdb(w, rc, "sameAs merge: term of merged id");
    unsigned char kb[KG_MAX_KEY + 1];
    size_t kl = kg_term_key(d.mv_data, d.mv_size - 1, kb);
    MDB_val tk = {kl, kb}, tv = {8, cb};
    rc = mdb_put(w->txn, w->kg->dbi[KG_T2I], &tk, &tv, 0);
    if (!rc) {
        MDB_val rk = {8, ib}, rv = {8, cb};
        rc = mdb_put(w->txn, w->kg->dbi[KG_REDIR], &rk, &rv, 0);
    }
    if (rc) return w_mdb(w, rc, "sameAs merge: repoint term");
    kg_cache_put(&w->kg->cache, kb, kl, kg_cache_hash(kb, kl), c);
    if (kg_idmap_put(&w->kg->redirects, x, c)) return w_nomem(w);
    return PE_OK;
}

/* 1 when nothing in the store refers to id (no texts, sitelinks, triples
 * in any role, merged terms or entity record); 0 otherwise; <0 on error
 * (-rc). Pending writes must have been flushed. */
static int w_is_bare(pe_kg_writer *w, uint64_t id)
{
    unsigned char kb[8];
    pe_put_be64(kb, id);
    static const int prefix_dbs[] = {KG_TXT, KG_SITE};
    for (size_t i = 0; i < sizeof prefix_dbs / sizeof *prefix_dbs; i++) {
        MDB_val k = {8, kb}, d;
        int rc = mdb_cursor_get(w->cur[prefix_dbs[i]], &k, &d, MDB_SET_RANGE);
        if (rc == 0 && k.mv_size >= 8 && memcmp(k.mv_data, kb, 8) == 0) return 0;
        if (rc && rc != MDB_NOTFOUND) return -rc;
    }
    static const int key_dbs[] = {KG_SPO, KG_OSP, KG_POS, KG_SAME, KG_ENT};
    for (size_t i = 0; i < sizeof key_dbs / sizeof *key_dbs; i++) {
        MDB_val k = {8, kb}, d;
        int rc = mdb_cursor_get(w->cur[key_dbs[i]], &k, &d, MDB_SET_KEY);
        if (rc == 0) return 0;
        if (rc != MDB_NOTFOUND) return -rc;
    }
    return 1;
}

/* Merge of o into a canonical c that has no data yet (the common case when
 * owl:sameAs links arrive after the other source's data, or before any
 * data of both): instead of moving o's data, the two ids swap terms. o's
 * id becomes the canonical entity and takes c's term; c's id takes o's
 * term and is the merged-away one. The result is the same graph (by terms)
 * as a full merge, at a constant cost. */
static pe_status w_merge_swap(pe_kg_writer *w, uint64_t c, uint64_t o, uint32_t source, int pending,
                              const char *const t[2], const size_t tl[2])
{
    unsigned char cb[8], ob[8];
    pe_put_be64(cb, c);
    pe_put_be64(ob, o);
    int rc = 0;
    pe_status st = PE_OK;
    /* id2term: c <-> o (t[0] is c's term, t[1] o's, tl with the NUL) */
    MDB_val k = {8, cb}, d = {tl[1], (void *)t[1]};
    if ((rc = mdb_put(w->txn, w->kg->dbi[KG_I2T], &k, &d, 0))) goto mdb_err;
    k.mv_data = ob;
    d.mv_size = tl[0];
    d.mv_data = (void *)t[0];
    if ((rc = mdb_put(w->txn, w->kg->dbi[KG_I2T], &k, &d, 0))) goto mdb_err;
    /* c's term now names o's id; o's term already does. With writes still
     * pending (c's own entry may be among them), the new entry is queued
     * after them: equal keys are applied in order, the last one wins. */
    unsigned char kb[KG_MAX_KEY + 1];
    size_t kl = kg_term_key((const unsigned char *)t[0], tl[0] - 1, kb);
    MDB_val tk = {kl, kb}, tv = {8, ob};
    if (pending) {
        if ((st = w_vpend_add(w, KG_PEND_T2I, kb, kl, ob, 8)) != PE_OK) goto out;
    } else if ((rc = mdb_put(w->txn, w->kg->dbi[KG_T2I], &tk, &tv, 0))) {
        goto mdb_err;
    }
    MDB_val rk = {8, cb}, rv = {8, ob};
    if ((rc = mdb_put(w->txn, w->kg->dbi[KG_REDIR], &rk, &rv, 0))) goto mdb_err;
    unsigned char sv[KG_SAME_VAL];
    memcpy(sv, cb, 8);
    pe_put_be32(sv + 8, source);
    MDB_val sk = {8, ob}, sd = {KG_SAME_VAL, sv};
    if ((rc = mdb_cursor_put(w->cur[KG_SAME], &sk, &sd, MDB_NODUPDATA)) && rc != MDB_KEYEXIST) goto mdb_err;
    /* a cleared cache is fine once nothing is pending: misses find the database */
    if ((st = w_cache_put(w, kb, kl, kg_cache_hash(kb, kl), o)) != PE_OK) goto out;
    if (kg_idmap_put(&w->kg->redirects, c, o)) st = w_nomem(w);
    goto out;
mdb_err:
    st = w_mdb(w, rc, "sameAs merge");
out:
    return st;
}

/* Merges o into c; t/tl: their terms (id2term values, NUL included). */
static pe_status w_merge(pe_kg_writer *w, uint64_t c, uint64_t o, uint32_t source, const char *const t[2],
                         const size_t tl[2])
{
    /* c made by this writer and given nothing yet: nothing refers to it
     * (pending writes included), so the swap needs no flush */
    if (w_fresh_bare(w, c)) return w_merge_swap(w, c, o, source, 1, t, tl);
    pe_status st = kg_writer_flush_pending(w);
    if (st == PE_OK) st = kg_writer_flush_entities(w);
    if (st != PE_OK) return st;
    int bare = w_is_bare(w, c);
    if (bare < 0) return w_mdb(w, -bare, "sameAs merge");
    if (bare) return w_merge_swap(w, c, o, source, 0, t, tl);
    kv_list l = {0};
    size_t pos;
    MDB_val k, v;
    int rc;
    unsigned char ob[8];
    pe_put_be64(ob, o);

    /* texts (and their alias entries) */
    if ((rc = collect_prefix(w, KG_TXT, o, &l))) goto mdb_err;
    for (pos = 0; kv_next(&l, &pos, &k, &v);) {
        kg_txt_key tk;
        kg_txt_val tv;
        if (kg_dec_text_key(k.mv_data, k.mv_size, &tk) || kg_dec_text_val(v.mv_data, v.mv_size, &tv)) {
            st = kg_wfail(w, PE_ERR_CORRUPT, "sameAs merge: text record of id %llu is malformed",
                         (unsigned long long)o);
            goto out;
        }
        if ((rc = del_pair(w, KG_TXT, k.mv_data, k.mv_size, NULL, 0))) goto mdb_err;
        int kind = tk.kind;
        const char *lang = tk.lang;
        size_t nsrc = tv.n_sources;
        const char *text = tv.text;
        size_t tl = tv.text_len;
        if (kind != PE_KG_DESCRIPTION) {
            size_t fl;
            char *form = kg_alias_form(text, tl, &fl, &st);
            if (form && fl) {
                unsigned char av[KG_ALIAS_VAL];
                memcpy(av, ob, 8);
                av[8] = kind == PE_KG_LABEL ? KG_ALIAS_FLAG_LABEL : KG_ALIAS_FLAG_ALIAS;
                rc = del_pair(w, KG_ALIAS, form, fl, av, KG_ALIAS_VAL);
            }
            free(form);
            if (rc) goto mdb_err;
        }
        int added;
        for (size_t si = 0; si < nsrc; si++)
            if ((st = w_text_add(w, c, kind, lang, text, tl, pe_get_be32(tv.sources + 4 * si),
                                 &added)) != PE_OK)
                goto out;
    }
    l.len = 0;

    /* sitelinks */
    if ((rc = collect_prefix(w, KG_SITE, o, &l))) goto mdb_err;
    uint32_t new_links = 0;
    for (pos = 0; kv_next(&l, &pos, &k, &v);) {
        kg_site_rec sr;
        if (kg_dec_sitelink(k.mv_data, k.mv_size, v.mv_data, v.mv_size, &sr)) {
            st = kg_wfail(w, PE_ERR_CORRUPT, "sameAs merge: sitelink record of id %llu is malformed",
                         (unsigned long long)o);
            goto out;
        }
        if ((rc = del_pair(w, KG_SITE, k.mv_data, k.mv_size, NULL, 0))) goto mdb_err;
        int added;
        st = w_sitelink_add(w, c, sr.site, sr.title, sr.title_len, sr.source, &added);
        if (st != PE_OK) goto out;
        new_links += (uint32_t)added;
    }
    l.len = 0;

    /* triples with o as subject, then with o as object */
    if ((rc = collect_dups(w, KG_SPO, ob, 8, &l))) goto mdb_err;
    for (pos = 0; kv_next(&l, &pos, &k, &v);) {
        uint64_t p, x;
        int rank;
        uint32_t src;
        if (kg_dec_spo(v.mv_data, v.mv_size, &p, &x, &rank, &src)) goto corrupt_index;
        if ((st = w_move_triple(w, o, p, x, c, x == o ? c : x)) != PE_OK) goto out;
    }
    l.len = 0;
    if ((rc = collect_dups(w, KG_OSP, ob, 8, &l))) goto mdb_err;
    for (pos = 0; kv_next(&l, &pos, &k, &v);) {
        uint64_t s, p;
        if (kg_dec_pair(v.mv_data, v.mv_size, &s, &p)) goto corrupt_index;
        if ((st = w_move_triple(w, s, p, o, s, c)) != PE_OK) goto out;
    }
    l.len = 0;

    /* terms merged into o earlier now belong to c; then o itself */
    if ((rc = collect_dups(w, KG_SAME, ob, 8, &l))) goto mdb_err;
    if ((rc = del_pair(w, KG_SAME, ob, 8, NULL, 0))) goto mdb_err;
    unsigned char cb[8];
    pe_put_be64(cb, c);
    for (pos = 0; kv_next(&l, &pos, &k, &v);) {
        uint64_t mid;
        uint32_t msrc;
        if (kg_dec_same(v.mv_data, v.mv_size, &mid, &msrc)) goto corrupt_index;
        MDB_val sk = {8, cb};
        if ((rc = mdb_cursor_put(w->cur[KG_SAME], &sk, &v, MDB_NODUPDATA)) && rc != MDB_KEYEXIST) goto mdb_err;
        if ((st = w_repoint(w, pe_get_be64(v.mv_data), c)) != PE_OK) goto out;
    }
    l.len = 0;
    unsigned char sv[KG_SAME_VAL];
    memcpy(sv, ob, 8);
    pe_put_be32(sv + 8, source);
    MDB_val sk = {8, cb}, sd = {KG_SAME_VAL, sv};
    if ((rc = mdb_cursor_put(w->cur[KG_SAME], &sk, &sd, MDB_NODUPDATA)) && rc != MDB_KEYEXIST) goto mdb_err;
    if ((st = w_repoint(w, o, c)) != PE_OK) goto out;

    /* entity record: o's goes away, its kind and datatype fold into c's */
    kg_ent_upd *u = w_ent(w, c);
    if (!u) { st = w_nomem(w); goto out; }
    u->sitelinks += new_links;
    MDB_val ek = {8, ob}, ed;
    rc = mdb_get(w->txn, w->kg->dbi[KG_ENT], &ek, &ed);
    kg_ent_rec orec;
    if (rc == 0 && kg_dec_entity(ed.mv_data, ed.mv_size, &orec)) {
        st = kg_wfail(w, PE_ERR_CORRUPT, "sameAs merge: entity record %llu is malformed", (unsigned long long)o);
        goto out;
    }
    if (rc == 0) {
        int okind = orec.kind;
        if (u->kind < 0 || kind_rank(okind) > kind_rank(u->kind)) {
            u->kind = okind;
            u->source = orec.source;
        }
        if (orec.datatype && !u->dt_off) {
            /* keep c's datatype if it has one */
            MDB_val ck = {8, cb}, cd;
            kg_ent_rec crec;
            int has = mdb_get(w->txn, w->kg->dbi[KG_ENT], &ck, &cd) == 0 &&
                      kg_dec_entity(cd.mv_data, cd.mv_size, &crec) == 0 && crec.datatype;
            if (!has) {
                const char *dt = orec.datatype;
                size_t dl = strlen(dt);
                if (w->arena_len + dl + 1 > w->arena_cap) {
                    size_t cap = w->arena_cap ? w->arena_cap * 2 : 4096;
                    while (cap < w->arena_len + dl + 1) cap *= 2;
                    unsigned char *a = realloc(w->arena, cap);
                    if (!a) { st = w_nomem(w); goto out; }
                    w->arena = a;
                    w->arena_cap = cap;
                }
                memcpy(w->arena + w->arena_len, dt, dl + 1);
                u->dt_off = (uint32_t)w->arena_len + 1;
                w->arena_len += dl + 1;
            }
        }
        if ((rc = del_pair(w, KG_ENT, ob, 8, NULL, 0))) goto mdb_err;
    } else if (rc && rc != MDB_NOTFOUND) {
        goto mdb_err;
    }
    st = PE_OK;
    goto out;
mdb_err:
    st = rc == ENOMEM ? w_nomem(w) : w_mdb(w, rc, "sameAs merge");
    goto out;
corrupt_index:
    st = kg_wfail(w, PE_ERR_CORRUPT, "sameAs merge: an index entry of id %llu is malformed", (unsigned long long)o);
out:
    free(l.b);
    return st;
}

pe_status pe_kg_put_sameas(pe_kg_writer *w, pe_kg_id a, pe_kg_id b, uint32_t source)
{
    if (!w) return PE_ERR_INVALID;
    if (w->failed) return w->failed;
    a = w_canon_db(w, a);
    b = w_canon_db(w, b);
    pe_status st = w_check_entity(w, a, "put_sameas");
    if (st == PE_OK) st = w_check_entity(w, b, "put_sameas");
    if (st != PE_OK) return st;
    if (a == b) return PE_OK;
    /* both terms, copied (the merge writes to id2term) */
    int wd[2] = {0, 0};
    uint64_t ids[2] = {a, b};
    MDB_val tv[2];
    for (int i = 0; i < 2; i++) {
        unsigned char ib[8];
        pe_put_be64(ib, ids[i]);
        MDB_val k = {8, ib};
        int rc = mdb_get(w->txn, w->kg->dbi[KG_I2T], &k, &tv[i]);
        if (rc) return w_mdb(w, rc, "sameAs: term lookup");
        const char *ts;
        size_t tsl;
        if (kg_dec_term(tv[i].mv_data, tv[i].mv_size, &ts, &tsl))
            return kg_wfail(w, PE_ERR_CORRUPT, "id2term record of id %llu is malformed", (unsigned long long)ids[i]);
        wd[i] = kg_is_wikidata_id(tv[i].mv_data, tv[i].mv_size - 1);
    }
    char stack[1024], *copy = stack;
    if (tv[0].mv_size + tv[1].mv_size > sizeof stack && !(copy = malloc(tv[0].mv_size + tv[1].mv_size)))
        return w_nomem(w);
    memcpy(copy, tv[0].mv_data, tv[0].mv_size);
    memcpy(copy + tv[0].mv_size, tv[1].mv_data, tv[1].mv_size);
    const char *t[2] = {copy, copy + tv[0].mv_size};
    size_t tl[2] = {tv[0].mv_size, tv[1].mv_size};
    /* The Wikidata term stays canonical; with two or none, the first. */
    if (wd[1] && !wd[0]) {
        const char *t_c[2] = {t[1], t[0]};
        size_t tl_c[2] = {tl[1], tl[0]};
        st = w_merge(w, b, a, source, t_c, tl_c);
    } else {
        st = w_merge(w, a, b, source, t, tl);
    }
    if (copy != stack) free(copy);
    if (st == PE_OK && (w_use(w, a) || w_use(w, b))) st = w_nomem(w);
    return st;
}
