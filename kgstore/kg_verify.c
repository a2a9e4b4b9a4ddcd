/* kg_verify.c - pe_kg_verify: walks every database of the store in one
 * read snapshot and reports what is damaged (records that do not decode,
 * index entries that point at nothing, counts that disagree). */
#include "kg_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct kv_ctx {
    pe_kg *kg;
    MDB_txn *txn;
    pe_kg_verify_fn report;
    void *user;
    pe_kg_verify_result res;
    char first[PE_ERRMSG_MAX];
    /* existing term ids (id2term) and literal ids (id2lit) as bit sets,
     * when the largest id is small enough; else a lookup each */
    uint64_t *terms, *lits;
    uint64_t terms_max, lits_max;
    MDB_cursor *probe[KG_NDB];
    int fatal;            /* an LMDB error stopped a walk */
} kv_ctx;

#define KV_BITSET_MAX (UINT64_C(1) << 33) /* ids: 1 GiB of bits at most */

static void problem(kv_ctx *v, int db, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void problem(kv_ctx *v, int db, const char *fmt, ...)
{
    char msg[PE_ERRMSG_MAX - 32], line[PE_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(line, sizeof line, "%s: %s", kg_db_name(db), msg);
    /* damaged bytes quoted from a record: printable, valid UTF-8 ('?' else) */
    for (size_t i = 0, n = strlen(line); i < n;) {
        unsigned char c = (unsigned char)line[i];
        size_t len = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
        if (len == 1 && (c < 0x20 || c == 0x7F)) line[i] = '?';
        if (len > 1 && i + len <= n && pe_utf8_valid(line + i, len, NULL)) { i += len; continue; }
        if (len != 1) line[i] = '?';
        i++;
    }
    if (v->res.problems++ == 0) snprintf(v->first, sizeof v->first, "%s", line);
    if (v->report) v->report(line, v->user);
}

/* Walks db from the first entry (every duplicate); f checks one entry.
 * An LMDB error during the walk is a problem of its own that ends it. */
typedef void (*kv_entry_fn)(kv_ctx *v, const MDB_val *k, const MDB_val *d);

static void walk(kv_ctx *v, int db, kv_entry_fn f)
{
    MDB_cursor *c;
    int rc = mdb_cursor_open(v->txn, v->kg->dbi[db], &c);
    if (rc) {
        problem(v, db, "cannot read: %s", mdb_strerror(rc));
        return;
    }
    MDB_val k, d;
    for (rc = mdb_cursor_get(c, &k, &d, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
        v->res.records++;
        f(v, &k, &d);
    }
    if (rc != MDB_NOTFOUND) {
        problem(v, db, "walk stopped by LMDB: %s", mdb_strerror(rc));
        v->fatal = 1;
    }
    mdb_cursor_close(c);
}

static uint64_t entries(kv_ctx *v, int db)
{
    MDB_stat s;
    return mdb_stat(v->txn, v->kg->dbi[db], &s) == 0 ? s.ms_entries : 0;
}

static int bit_get(const uint64_t *b, uint64_t max, uint64_t i) { return i <= max && ((b[i >> 6] >> (i & 63)) & 1); }

/* Loads the ids of id2term or id2lit into a bit set (NULL when too large). */
static uint64_t *load_ids(kv_ctx *v, int db, uint64_t *max_out)
{
    MDB_cursor *c;
    MDB_val k, d;
    *max_out = 0;
    if (mdb_cursor_open(v->txn, v->kg->dbi[db], &c)) return NULL;
    uint64_t max = 0;
    if (mdb_cursor_get(c, &k, &d, MDB_LAST) == 0 && k.mv_size == 8) max = pe_get_be64(k.mv_data) & ~KG_LIT_BIT;
    uint64_t *b = NULL;
    if (max < KV_BITSET_MAX && (b = calloc((size_t)(max >> 6) + 1, 8))) {
        int rc;
        for (rc = mdb_cursor_get(c, &k, &d, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
            if (k.mv_size != 8) continue; /* reported by the walk */
            uint64_t i = pe_get_be64(k.mv_data) & ~KG_LIT_BIT;
            if (i <= max) b[i >> 6] |= UINT64_C(1) << (i & 63);
        }
        *max_out = max;
    }
    mdb_cursor_close(c);
    return b;
}

static int has_key(kv_ctx *v, int db, const void *key, size_t n)
{
    if (!v->probe[db] && mdb_cursor_open(v->txn, v->kg->dbi[db], &v->probe[db])) return 0;
    MDB_val k = {n, (void *)key}, d;
    return mdb_cursor_get(v->probe[db], &k, &d, MDB_SET) == 0;
}

/* 1 when id is a term (entity/resource) of the store, or a literal. */
static int has_id(kv_ctx *v, uint64_t id)
{
    if (!id) return 0;
    int lit = (id & KG_LIT_BIT) != 0;
    const uint64_t *b = lit ? v->lits : v->terms;
    if (b) return bit_get(b, lit ? v->lits_max : v->terms_max, id & ~KG_LIT_BIT);
    unsigned char kb[8];
    pe_put_be64(kb, id);
    return has_key(v, lit ? KG_I2L : KG_I2T, kb, 8);
}

static int has_term(kv_ctx *v, uint64_t id) { return !(id & KG_LIT_BIT) && has_id(v, id); }

/* A key that must be an 8-byte term id of the store. */
static int term_key(kv_ctx *v, int db, const MDB_val *k, uint64_t *id)
{
    if (kg_dec_id_key(k->mv_data, k->mv_size, id) || (*id & KG_LIT_BIT)) {
        problem(v, db, "key of %zu bytes is not a term id", k->mv_size);
        return -1;
    }
    if (!has_term(v, *id)) {
        problem(v, db, "id %llu has no term in id2term", (unsigned long long)*id);
        return -1;
    }
    return 0;
}

static void spo_probe(uint64_t p, uint64_t o, unsigned char probe[KG_SPO_VAL])
{
    pe_put_be64(probe, p);
    pe_put_be64(probe + 8, o);
    memset(probe + 16, 0, KG_SPO_VAL - 16);
}

/* 1 when spo holds (s, p, o). */
static int has_triple(kv_ctx *v, uint64_t s, uint64_t p, uint64_t o)
{
    if (!v->probe[KG_SPO] && mdb_cursor_open(v->txn, v->kg->dbi[KG_SPO], &v->probe[KG_SPO])) return 0;
    unsigned char sk[8], probe[KG_SPO_VAL];
    pe_put_be64(sk, s);
    spo_probe(p, o, probe);
    MDB_val k = {8, sk}, d = {KG_SPO_VAL, probe};
    return mdb_cursor_get(v->probe[KG_SPO], &k, &d, MDB_GET_BOTH_RANGE) == 0 && d.mv_size == KG_SPO_VAL &&
           memcmp(d.mv_data, probe, 16) == 0;
}

static int has_pair(kv_ctx *v, int db, uint64_t key, uint64_t a, uint64_t b)
{
    if (!v->probe[db] && mdb_cursor_open(v->txn, v->kg->dbi[db], &v->probe[db])) return 0;
    unsigned char kb[8], vb[16];
    pe_put_be64(kb, key);
    pe_put_be64(vb, a);
    pe_put_be64(vb + 8, b);
    MDB_val k = {8, kb}, d = {16, vb};
    return mdb_cursor_get(v->probe[db], &k, &d, MDB_GET_BOTH) == 0;
}

/* ---- one checker per database ---------------------------------------------- */

static void c_meta(kv_ctx *v, const MDB_val *k, const MDB_val *d)
{
    static const char *const u64s[] = {"next_term", "next_lit", "gen"};
    if (k->mv_size == 14 && !memcmp(k->mv_data, "layout_version", 14)) {
        if (d->mv_size != 4 || pe_get_be32(d->mv_data) != KG_LAYOUT_VERSION) problem(v, KG_META, "bad layout_version");
        return;
    }
    for (size_t i = 0; i < sizeof u64s / sizeof *u64s; i++)
        if (k->mv_size == strlen(u64s[i]) && !memcmp(k->mv_data, u64s[i], k->mv_size)) {
            if (d->mv_size != 8) problem(v, KG_META, "%s: value of %zu bytes, want 8", u64s[i], d->mv_size);
            return;
        }
    problem(v, KG_META, "unknown key of %zu bytes", k->mv_size);
}

static void c_t2i(kv_ctx *v, const MDB_val *k, const MDB_val *d)
{
    uint64_t id;
    if (k->mv_size == 0 || kg_dec_id_key(d->mv_data, d->mv_size, &id) || (id & KG_LIT_BIT)) {
        problem(v, KG_T2I, "entry of a %zu-byte key: value is not a term id", k->mv_size);
        return;
    }
    if (!has_term(v, id)) problem(v, KG_T2I, "a term points at id %llu, which has no term", (unsigned long long)id);
}

static void c_i2t(kv_ctx *v, const MDB_val *k, const MDB_val *d)
{
    uint64_t id;
    const char *t;
    size_t tl;
    if (kg_dec_id_key(k->mv_data, k->mv_size, &id) || (id & KG_LIT_BIT)) {
        problem(v, KG_I2T, "key of %zu bytes is not a term id", k->mv_size);
        return;
    }
    if (kg_dec_term(d->mv_data, d->mv_size, &t, &tl)) {
        problem(v, KG_I2T, "id %llu: malformed term record (%zu bytes)", (unsigned long long)id, d->mv_size);
        return;
    }
    unsigned char kb[KG_MAX_KEY + 1];
    size_t kl = kg_term_key((const unsigned char *)t, tl, kb);
    if (!has_key(v, KG_T2I, kb, kl))
        problem(v, KG_I2T, "id %llu: its term '%.80s' is missing from term2id", (unsigned long long)id, t);
}

static void c_l2i(kv_ctx *v, const MDB_val *k, const MDB_val *d)
{
    uint64_t id;
    if (k->mv_size == 0 || kg_dec_id_key(d->mv_data, d->mv_size, &id) || !(id & KG_LIT_BIT)) {
        problem(v, KG_L2I, "entry of a %zu-byte key: value is not a literal id", k->mv_size);
        return;
    }
    if (!has_id(v, id))
        problem(v, KG_L2I, "points at literal %llu, which has no record", (unsigned long long)(id & ~KG_LIT_BIT));
}

static void c_i2l(kv_ctx *v, const MDB_val *k, const MDB_val *d)
{
    uint64_t id;
    pe_kg_value val;
    if (kg_dec_id_key(k->mv_data, k->mv_size, &id) || !(id & KG_LIT_BIT)) {
        problem(v, KG_I2L, "key of %zu bytes is not a literal id", k->mv_size);
        return;
    }
    if (kg_dec_literal(d->mv_data, d->mv_size, &val))
        problem(v, KG_I2L, "literal %llu: malformed record (%zu bytes)", (unsigned long long)(id & ~KG_LIT_BIT),
                d->mv_size);
}

static void c_ent(kv_ctx *v, const MDB_val *k, const MDB_val *d)
{
    uint64_t id;
    kg_ent_rec e;
    if (term_key(v, KG_ENT, k, &id)) return;
    if (kg_dec_entity(d->mv_data, d->mv_size, &e)) {
        problem(v, KG_ENT, "id %llu: malformed entity record (%zu bytes)", (unsigned long long)id, d->mv_size);
        return;
    }
    unsigned char kb[8];
    pe_put_be64(kb, id);
    if (has_key(v, KG_REDIR, kb, 8))
        problem(v, KG_ENT, "id %llu: a record for an id merged into another", (unsigned long long)id);
}

static void c_txt(kv_ctx *v, const MDB_val *k, const MDB_val *d)
{
    kg_txt_key tk;
    kg_txt_val tv;
    if (kg_dec_text_key(k->mv_data, k->mv_size, &tk)) {
        problem(v, KG_TXT, "malformed key of %zu bytes", k->mv_size);
        return;
    }
    if (!has_term(v, tk.id)) problem(v, KG_TXT, "id %llu has no term in id2term", (unsigned long long)tk.id);
    if (kg_dec_text_val(d->mv_data, d->mv_size, &tv))
        problem(v, KG_TXT, "id %llu: malformed text record (%zu bytes)", (unsigned long long)tk.id, d->mv_size);
}

static void c_alias(kv_ctx *v, const MDB_val *k, const MDB_val *d)
{
    uint64_t id;
    int flag;
    if (k->mv_size == 0 || kg_dec_alias(d->mv_data, d->mv_size, &id, &flag)) {
        problem(v, KG_ALIAS, "malformed entry (key %zu bytes, value %zu bytes)", k->mv_size, d->mv_size);
        return;
    }
    if (!has_term(v, id))
        problem(v, KG_ALIAS, "form '%.*s' points at id %llu, which has no term", (int)(k->mv_size > 80 ? 80 : k->mv_size),
                (const char *)k->mv_data, (unsigned long long)id);
}

static void c_site(kv_ctx *v, const MDB_val *k, const MDB_val *d)
{
    kg_site_rec s;
    if (kg_dec_sitelink(k->mv_data, k->mv_size, d->mv_data, d->mv_size, &s)) {
        problem(v, KG_SITE, "malformed record (key %zu bytes, value %zu bytes)", k->mv_size, d->mv_size);
        return;
    }
    if (!has_term(v, s.id)) problem(v, KG_SITE, "id %llu has no term in id2term", (unsigned long long)s.id);
}

static void c_spo(kv_ctx *v, const MDB_val *k, const MDB_val *d)
{
    uint64_t s, p, o;
    int rank;
    uint32_t src;
    if (term_key(v, KG_SPO, k, &s)) return;
    if (kg_dec_spo(d->mv_data, d->mv_size, &p, &o, &rank, &src)) {
        problem(v, KG_SPO, "subject %llu: malformed entry (%zu bytes)", (unsigned long long)s, d->mv_size);
        return;
    }
    if (!has_term(v, p)) problem(v, KG_SPO, "subject %llu: predicate %llu has no term", (unsigned long long)s,
                                 (unsigned long long)p);
    if (!has_id(v, o)) problem(v, KG_SPO, "subject %llu: object %llu%s has no record", (unsigned long long)s,
                               (unsigned long long)(o & ~KG_LIT_BIT), (o & KG_LIT_BIT) ? " (literal)" : "");
    if (!has_pair(v, KG_POS, p, o, s))
        problem(v, KG_SPO, "(%llu, %llu, %llu) is missing from pos", (unsigned long long)s, (unsigned long long)p,
                (unsigned long long)o);
    if (!has_pair(v, KG_OSP, o, s, p))
        problem(v, KG_SPO, "(%llu, %llu, %llu) is missing from osp", (unsigned long long)s, (unsigned long long)p,
                (unsigned long long)o);
}

static void c_pos(kv_ctx *v, const MDB_val *k, const MDB_val *d)
{
    uint64_t p, o, s;
    if (kg_dec_id_key(k->mv_data, k->mv_size, &p) || kg_dec_pair(d->mv_data, d->mv_size, &o, &s)) {
        problem(v, KG_POS, "malformed entry (key %zu bytes, value %zu bytes)", k->mv_size, d->mv_size);
        return;
    }
    if (!has_triple(v, s, p, o))
        problem(v, KG_POS, "(%llu, %llu, %llu) points at no triple of spo", (unsigned long long)s,
                (unsigned long long)p, (unsigned long long)o);
}

static void c_osp(kv_ctx *v, const MDB_val *k, const MDB_val *d)
{
    uint64_t p, o, s;
    if (kg_dec_id_key(k->mv_data, k->mv_size, &o) || kg_dec_pair(d->mv_data, d->mv_size, &s, &p)) {
        problem(v, KG_OSP, "malformed entry (key %zu bytes, value %zu bytes)", k->mv_size, d->mv_size);
        return;
    }
    if (!has_triple(v, s, p, o))
        problem(v, KG_OSP, "(%llu, %llu, %llu) points at no triple of spo", (unsigned long long)s,
                (unsigned long long)p, (unsigned long long)o);
}

static void c_tsrc(kv_ctx *v, const MDB_val *k, const MDB_val *d)
{
    if (k->mv_size != 24 || d->mv_size != 4) {
        problem(v, KG_TSRC, "malformed entry (key %zu bytes, value %zu bytes)", k->mv_size, d->mv_size);
        return;
    }
    const unsigned char *kb = k->mv_data;
    uint64_t s = pe_get_be64(kb), p = pe_get_be64(kb + 8), o = pe_get_be64(kb + 16);
    if (!has_triple(v, s, p, o))
        problem(v, KG_TSRC, "sources of (%llu, %llu, %llu), a triple not in spo", (unsigned long long)s,
                (unsigned long long)p, (unsigned long long)o);
}

static void c_same(kv_ctx *v, const MDB_val *k, const MDB_val *d)
{
    uint64_t c, m;
    uint32_t src;
    if (term_key(v, KG_SAME, k, &c)) return;
    if (kg_dec_same(d->mv_data, d->mv_size, &m, &src)) {
        problem(v, KG_SAME, "id %llu: malformed entry (%zu bytes)", (unsigned long long)c, d->mv_size);
        return;
    }
    if (!has_term(v, m)) problem(v, KG_SAME, "id %llu: merged id %llu has no term", (unsigned long long)c,
                                 (unsigned long long)m);
}

static void c_redir(kv_ctx *v, const MDB_val *k, const MDB_val *d)
{
    uint64_t m, c;
    if (term_key(v, KG_REDIR, k, &m)) return;
    if (kg_dec_id_key(d->mv_data, d->mv_size, &c) || !has_term(v, c))
        problem(v, KG_REDIR, "id %llu: points at no term", (unsigned long long)m);
}

static void c_src(kv_ctx *v, const MDB_val *k, const MDB_val *d)
{
    pe_kg_source s;
    if (k->mv_size != 4) {
        problem(v, KG_SRC, "key of %zu bytes, want 4", k->mv_size);
        return;
    }
    uint32_t id = pe_get_be32(k->mv_data);
    if (kg_dec_source(d->mv_data, d->mv_size, id, &s)) problem(v, KG_SRC, "source %u: malformed record", id);
}

/* ---- the walk ------------------------------------------------------------------- */

pe_status pe_kg_verify(pe_kg *kg, pe_kg_verify_fn report, void *user, pe_kg_verify_result *out)
{
    if (out) memset(out, 0, sizeof *out);
    if (!kg || !kg->env) return PE_ERR_INVALID;
    kv_ctx v;
    memset(&v, 0, sizeof v);
    v.kg = kg;
    v.report = report;
    v.user = user;
    int rc = kg_txn_begin(kg, MDB_RDONLY, &v.txn);
    if (rc) return kg_mdb_fail(kg, rc, "verify: begin read transaction");
    pthread_mutex_lock(&kg->mu);
    kg->active_txns++;
    pthread_mutex_unlock(&kg->mu);

    v.terms = load_ids(&v, KG_I2T, &v.terms_max);
    v.lits = load_ids(&v, KG_I2L, &v.lits_max);
    static const kv_entry_fn checks[KG_NDB] = {
        [KG_META] = c_meta, [KG_T2I] = c_t2i,   [KG_I2T] = c_i2t,     [KG_L2I] = c_l2i,
        [KG_I2L] = c_i2l,   [KG_ENT] = c_ent,   [KG_TXT] = c_txt,     [KG_ALIAS] = c_alias,
        [KG_SITE] = c_site, [KG_SPO] = c_spo,   [KG_POS] = c_pos,     [KG_OSP] = c_osp,
        [KG_TSRC] = c_tsrc, [KG_SAME] = c_same, [KG_REDIR] = c_redir, [KG_SRC] = c_src};
    for (int db = 0; db < KG_NDB; db++) walk(&v, db, checks[db]);

    /* Counts that must agree. Each term has one term2id and one id2term
     * entry (a merge re-points term2id, it adds none); each literal one of
     * each; each triple one entry in spo, pos and osp. */
    struct { int a, b; } eq[] = {{KG_T2I, KG_I2T}, {KG_L2I, KG_I2L}, {KG_SPO, KG_POS}, {KG_SPO, KG_OSP}};
    for (size_t i = 0; i < sizeof eq / sizeof *eq; i++) {
        uint64_t na = entries(&v, eq[i].a), nb = entries(&v, eq[i].b);
        if (na != nb)
            problem(&v, eq[i].a, "%llu entries, but %s has %llu", (unsigned long long)na, kg_db_name(eq[i].b),
                    (unsigned long long)nb);
    }
    uint64_t next[2] = {0, 0};
    const char *nn[2] = {"next_term", "next_lit"};
    for (int i = 0; i < 2; i++) {
        MDB_val k = {strlen(nn[i]), (void *)nn[i]}, d;
        if (mdb_get(v.txn, kg->dbi[KG_META], &k, &d) == 0 && d.mv_size == 8) next[i] = pe_get_be64(d.mv_data);
        else problem(&v, KG_META, "%s is missing", nn[i]);
    }
    if (next[0] && v.terms && v.terms_max >= next[0])
        problem(&v, KG_I2T, "id %llu is not below next_term %llu", (unsigned long long)v.terms_max,
                (unsigned long long)next[0]);
    if (next[1] && v.lits && v.lits_max >= next[1])
        problem(&v, KG_I2L, "literal %llu is not below next_lit %llu", (unsigned long long)v.lits_max,
                (unsigned long long)next[1]);

    for (int db = 0; db < KG_NDB; db++)
        if (v.probe[db]) mdb_cursor_close(v.probe[db]);
    mdb_txn_abort(v.txn);
    pthread_mutex_lock(&kg->mu);
    kg->active_txns--;
    pthread_mutex_unlock(&kg->mu);
    free(v.terms);
    free(v.lits);
    if (out) *out = v.res;
    if (v.res.problems)
        return kg_fail(kg, PE_ERR_CORRUPT, "%llu problem%s found, the first: %s", (unsigned long long)v.res.problems,
                       v.res.problems == 1 ? "" : "s", v.first);
    return PE_OK;
}
