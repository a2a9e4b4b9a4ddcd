/* kg_read.c - read transactions: terms, values, entity records, triple
 * patterns, type closure and alias lookup. */
#include "kg_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* Strings made for a reader (a quantity's lexical form, ...), freed at
 * renew/end: a chain of blocks so that pointers stay put. */
typedef struct kg_strblock {
    struct kg_strblock *next;
    char data[];
} kg_strblock;

typedef struct kg_reader_ext {
    struct pe_kg_reader r;
    kg_strblock *strs;
} kg_reader_ext;

static void reader_free_strs(pe_kg_reader *r)
{
    kg_reader_ext *x = (kg_reader_ext *)r;
    while (x->strs) {
        kg_strblock *n = x->strs->next;
        free(x->strs);
        x->strs = n;
    }
}

static char *reader_strdup(pe_kg_reader *r, const char *s)
{
    kg_reader_ext *x = (kg_reader_ext *)r;
    size_t l = strlen(s);
    kg_strblock *b = malloc(sizeof *b + l + 1);
    if (!b) return NULL;
    memcpy(b->data, s, l + 1);
    b->next = x->strs;
    x->strs = b;
    return b->data;
}

static MDB_cursor *rcur(pe_kg_reader *r, int db)
{
    if (!r->cur[db] && mdb_cursor_open(r->txn, r->kg->dbi[db], &r->cur[db])) return NULL;
    return r->cur[db];
}

pe_status pe_kg_reader_begin(pe_kg *kg, pe_kg_reader **out)
{
    if (!out) return PE_ERR_INVALID;
    *out = NULL;
    if (!kg || !kg->env) return PE_ERR_INVALID;
    kg_reader_ext *x = calloc(1, sizeof *x);
    if (!x) return kg_fail(kg, PE_ERR_NOMEM, "out of memory");
    pe_kg_reader *r = &x->r;
    r->kg = kg;
    int rc = kg_txn_begin(kg, MDB_RDONLY, &r->txn);
    if (rc) {
        free(x);
        return kg_mdb_fail(kg, rc, "begin read transaction");
    }
    pthread_mutex_lock(&kg->mu);
    kg->active_txns++;
    pthread_mutex_unlock(&kg->mu);
    *out = r;
    return PE_OK;
}

pe_status pe_kg_reader_renew(pe_kg_reader *r)
{
    if (!r) return PE_ERR_INVALID;
    reader_free_strs(r);
    mdb_txn_reset(r->txn);
    int rc = mdb_txn_renew(r->txn);
    if (rc) return kg_mdb_rfail(r, rc, "renew read transaction");
    for (int i = 0; i < KG_NDB; i++)
        if (r->cur[i] && (rc = mdb_cursor_renew(r->txn, r->cur[i])))
            return kg_mdb_rfail(r, rc, "renew cursor");
    r->wk_done = 0;
    return PE_OK;
}

void pe_kg_reader_end(pe_kg_reader *r)
{
    if (!r) return;
    for (int i = 0; i < KG_NDB; i++)
        if (r->cur[i]) mdb_cursor_close(r->cur[i]);
    mdb_txn_abort(r->txn);
    pthread_mutex_lock(&r->kg->mu);
    r->kg->active_txns--;
    pthread_mutex_unlock(&r->kg->mu);
    reader_free_strs(r);
    free(r->buf);
    free(r->cands);
    free(r);
}

/* ---- terms and values -------------------------------------------------------- */

static pe_status r_mdb(pe_kg_reader *r, int rc, const char *what) { return kg_mdb_rfail(r, rc, what); }

pe_status pe_kg_resolve(pe_kg_reader *r, const char *term, size_t len, pe_kg_id *id)
{
    if (!r || !term || !id) return PE_ERR_INVALID;
    *id = 0;
    kg_canon_term(&term, &len);
    if (!len) return PE_NOT_FOUND;
    unsigned char kb[KG_MAX_KEY + 1];
    size_t kl = kg_term_key((const unsigned char *)term, len, kb);
    MDB_val k = {kl, kb}, d;
    int rc = mdb_get(r->txn, r->kg->dbi[KG_T2I], &k, &d);
    if (rc == MDB_NOTFOUND) return PE_NOT_FOUND;
    if (rc) return r_mdb(r, rc, "resolve");
    if (d.mv_size != 8) return kg_rfail(r, PE_ERR_CORRUPT, "term2id record of '%.100s' is malformed", term);
    *id = pe_get_be64(d.mv_data);
    return PE_OK;
}

/* Follows a recorded merge (ids handed out before a sameAs). */
static uint64_t r_canon(pe_kg_reader *r, uint64_t id)
{
    if (id & KG_LIT_BIT) return id;
    unsigned char kb[8];
    pe_put_be64(kb, id);
    MDB_val k = {8, kb}, d;
    if (mdb_get(r->txn, r->kg->dbi[KG_REDIR], &k, &d) == 0 && d.mv_size == 8) return pe_get_be64(d.mv_data);
    return id;
}

static int r_literal(pe_kg_reader *r, uint64_t id, MDB_val *d)
{
    unsigned char kb[8];
    pe_put_be64(kb, id);
    MDB_val k = {8, kb};
    return mdb_get(r->txn, r->kg->dbi[KG_I2L], &k, d);
}

/* A damaged record: PE_ERR_CORRUPT naming the database and the key. */
static pe_status r_corrupt(pe_kg_reader *r, const char *what, uint64_t id)
{
    if (id & KG_LIT_BIT) return kg_rfail(r, PE_ERR_CORRUPT, "%s of literal %llu is malformed", what,
                                        (unsigned long long)(id & ~KG_LIT_BIT));
    return kg_rfail(r, PE_ERR_CORRUPT, "%s of id %llu is malformed", what, (unsigned long long)id);
}

pe_status pe_kg_value_get(pe_kg_reader *r, pe_kg_id id, pe_kg_value *out)
{
    if (!r || !out || !id) return PE_ERR_INVALID;
    memset(out, 0, sizeof *out);
    if (!(id & KG_LIT_BIT)) {
        id = r_canon(r, id);
        unsigned char kb[8];
        pe_put_be64(kb, id);
        MDB_val k = {8, kb}, d;
        int rc = mdb_get(r->txn, r->kg->dbi[KG_I2T], &k, &d);
        if (rc == MDB_NOTFOUND) return PE_NOT_FOUND;
        if (rc) return r_mdb(r, rc, "value");
        out->type = PE_KG_VAL_ENTITY;
        out->entity = id;
        out->lower = out->upper = out->amount = NAN;
        return PE_OK;
    }
    MDB_val d;
    int rc = r_literal(r, id, &d);
    if (rc == MDB_NOTFOUND) return PE_NOT_FOUND;
    if (rc) return r_mdb(r, rc, "value");
    if (kg_dec_literal(d.mv_data, d.mv_size, out)) return r_corrupt(r, "literal record", id);
    return PE_OK;
}

pe_status pe_kg_term(pe_kg_reader *r, pe_kg_id id, const char **term, size_t *len)
{
    if (!r || !term || !id) return PE_ERR_INVALID;
    *term = NULL;
    if (len) *len = 0;
    if (id & KG_LIT_BIT) {
        pe_kg_value v;
        pe_status st = pe_kg_value_get(r, id, &v);
        if (st != PE_OK) return st;
        if (v.text) {
            *term = v.text;
            if (len) *len = v.text_len;
            return PE_OK;
        }
        char buf[160];
        if (v.type == PE_KG_VAL_QUANTITY) snprintf(buf, sizeof buf, "%.17g", v.amount);
        else snprintf(buf, sizeof buf, "Point(%.17g %.17g)", v.lon, v.lat);
        char *s = reader_strdup(r, buf);
        if (!s) return kg_rfail(r, PE_ERR_NOMEM, "out of memory");
        *term = s;
        if (len) *len = strlen(s);
        return PE_OK;
    }
    unsigned char kb[8];
    pe_put_be64(kb, id);
    MDB_val k = {8, kb}, d;
    int rc = mdb_get(r->txn, r->kg->dbi[KG_I2T], &k, &d);
    if (rc == MDB_NOTFOUND) return PE_NOT_FOUND;
    if (rc) return r_mdb(r, rc, "term");
    size_t tl;
    if (kg_dec_term(d.mv_data, d.mv_size, term, &tl)) return r_corrupt(r, "id2term record", id);
    if (len) *len = tl;
    return PE_OK;
}

/* ---- entity records ------------------------------------------------------------ */

static uint32_t r_in_degree(pe_kg_reader *r, uint64_t id)
{
    MDB_cursor *c = rcur(r, KG_OSP);
    if (!c) return 0;
    unsigned char kb[8];
    pe_put_be64(kb, id);
    MDB_val k = {8, kb}, d;
    size_t n = 0;
    if (mdb_cursor_get(c, &k, &d, MDB_SET) != 0 || mdb_cursor_count(c, &n) != 0) return 0;
    return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

pe_status pe_kg_entity_get(pe_kg_reader *r, pe_kg_id id, pe_kg_entity **out)
{
    if (!r || !out) return PE_ERR_INVALID;
    *out = NULL;
    if (!id || (id & KG_LIT_BIT)) return PE_NOT_FOUND;
    id = r_canon(r, id);
    pe_kg *kg = r->kg;
    unsigned char kb[8];
    pe_put_be64(kb, id);
    MDB_val k = {8, kb}, term, rec;
    int rc = mdb_get(r->txn, kg->dbi[KG_I2T], &k, &term);
    if (rc == MDB_NOTFOUND) return PE_NOT_FOUND;
    if (rc) return r_mdb(r, rc, "entity");
    const char *term_s;
    size_t term_len;
    if (kg_dec_term(term.mv_data, term.mv_size, &term_s, &term_len)) return r_corrupt(r, "id2term record", id);
    rc = mdb_get(r->txn, kg->dbi[KG_ENT], &k, &rec);
    if (rc && rc != MDB_NOTFOUND) return r_mdb(r, rc, "entity");
    int has_rec = rc == 0;
    kg_ent_rec er = {0};
    if (has_rec && kg_dec_entity(rec.mv_data, rec.mv_size, &er)) return r_corrupt(r, "entity record", id);
    const char *dt = er.datatype;

    /* Two passes over a stable snapshot: sizes (every record decoded and
     * checked), then the one block. */
    MDB_cursor *tc = rcur(r, KG_TXT), *sc = rcur(r, KG_SAME), *lc = rcur(r, KG_SITE);
    if (!tc || !sc || !lc) return kg_rfail(r, PE_ERR_STORE, "cannot open cursors");
    size_t n_texts = 0, n_same = 0, n_tsrc = 0, strbytes = term_len + 1 + (dt ? strlen(dt) + 1 : 0);
    MDB_val tk, tv;
    kg_txt_key txk;
    kg_txt_val txv;
    tk.mv_size = 8; tk.mv_data = kb;
    for (rc = mdb_cursor_get(tc, &tk, &tv, MDB_SET_RANGE); rc == 0 && tk.mv_size >= 8 && !memcmp(tk.mv_data, kb, 8);
         rc = mdb_cursor_get(tc, &tk, &tv, MDB_NEXT)) {
        if (kg_dec_text_key(tk.mv_data, tk.mv_size, &txk) || kg_dec_text_val(tv.mv_data, tv.mv_size, &txv))
            return r_corrupt(r, "text record", id);
        n_texts++;
        n_tsrc += txv.n_sources;
        strbytes += txk.lang_len + 1 + txv.text_len + 1;
    }
    if (rc && rc != MDB_NOTFOUND) return r_mdb(r, rc, "entity texts");
    MDB_val sk = {8, kb}, sv;
    for (rc = mdb_cursor_get(sc, &sk, &sv, MDB_SET_KEY); rc == 0; rc = mdb_cursor_get(sc, &sk, &sv, MDB_NEXT_DUP)) {
        const char *t;
        size_t tl;
        uint64_t other;
        uint32_t ssrc;
        if (kg_dec_same(sv.mv_data, sv.mv_size, &other, &ssrc)) return r_corrupt(r, "sameAs record", id);
        pe_status st = pe_kg_term(r, other, &t, &tl);
        if (st == PE_OK) strbytes += tl + 1;
        else if (st != PE_NOT_FOUND) return st;
        n_same++;
    }
    if (rc && rc != MDB_NOTFOUND) return r_mdb(r, rc, "entity sameAs");
    size_t n_links = 0;
    MDB_val lk = {8, kb}, lv;
    kg_site_rec sl;
    for (rc = mdb_cursor_get(lc, &lk, &lv, MDB_SET_RANGE); rc == 0 && lk.mv_size >= 8 && !memcmp(lk.mv_data, kb, 8);
         rc = mdb_cursor_get(lc, &lk, &lv, MDB_NEXT)) {
        if (kg_dec_sitelink(lk.mv_data, lk.mv_size, lv.mv_data, lv.mv_size, &sl))
            return r_corrupt(r, "sitelink record", id);
        n_links++;
        strbytes += strlen(sl.site) + 1 + sl.title_len + 1;
    }
    if (rc && rc != MDB_NOTFOUND) return r_mdb(r, rc, "entity sitelinks");
    size_t size = sizeof(pe_kg_entity) + n_texts * sizeof(pe_kg_text) + n_same * (sizeof(char *) + sizeof(uint32_t)) +
                  n_links * (2 * sizeof(char *) + sizeof(uint32_t)) + n_tsrc * sizeof(uint32_t) + strbytes + 16;
    pe_kg_entity *e = calloc(1, size);
    if (!e) return kg_rfail(r, PE_ERR_NOMEM, "out of memory");
    e->texts = (pe_kg_text *)(e + 1);
    e->same = (const char **)(e->texts + n_texts);
    e->sitelink_sites = (const char **)(e->same + n_same);
    e->sitelink_titles = e->sitelink_sites + n_links;
    e->same_source = (uint32_t *)(e->sitelink_titles + n_links);
    e->sitelink_sources = e->same_source + n_same;
    uint32_t *tsrc = e->sitelink_sources + n_links;
    char *sp = (char *)(tsrc + n_tsrc);
    char *sp_end = (char *)e + size;
    /* Second pass: the same records (one snapshot); the bounds are checked
     * again all the same, so that nothing is written past the block. */
#define COPY(dst, src, n) do { if ((size_t)(sp_end - sp) < (size_t)(n) + 1) goto grew; \
    memcpy(sp, (src), (n)); sp[(n)] = 0; (dst) = sp; sp += (n) + 1; } while (0)
    e->id = id;
    COPY(e->term, term_s, term_len);
    e->kind = has_rec ? (pe_kg_entity_kind)er.kind : PE_KG_KIND_UNKNOWN;
    if (dt) COPY(e->datatype, dt, strlen(dt));
    e->sitelinks = er.sitelinks;
    e->in_degree = r_in_degree(r, id);
    size_t i = 0;
    tk.mv_size = 8; tk.mv_data = kb;
    for (rc = mdb_cursor_get(tc, &tk, &tv, MDB_SET_RANGE);
         rc == 0 && i < n_texts && tk.mv_size >= 8 && !memcmp(tk.mv_data, kb, 8);
         rc = mdb_cursor_get(tc, &tk, &tv, MDB_NEXT), i++) {
        if (kg_dec_text_key(tk.mv_data, tk.mv_size, &txk) || kg_dec_text_val(tv.mv_data, tv.mv_size, &txv)) goto grew;
        e->texts[i].kind = (pe_kg_text_kind)txk.kind;
        COPY(e->texts[i].lang, txk.lang, txk.lang_len);
        COPY(e->texts[i].text, txv.text, txv.text_len);
        e->texts[i].source = pe_get_be32(txv.sources);
        size_t ns = txv.n_sources;
        if (n_tsrc < ns) goto grew;
        e->texts[i].sources = tsrc;
        e->texts[i].n_sources = ns;
        for (size_t j = 0; j < ns; j++) tsrc[j] = pe_get_be32(txv.sources + 4 * j);
        tsrc += ns;
        n_tsrc -= ns;
    }
    e->n_texts = i;
    i = 0;
    sk.mv_size = 8; sk.mv_data = kb;
    for (rc = mdb_cursor_get(sc, &sk, &sv, MDB_SET_KEY); rc == 0 && i < n_same;
         rc = mdb_cursor_get(sc, &sk, &sv, MDB_NEXT_DUP)) {
        const char *t;
        size_t tl;
        uint64_t other;
        uint32_t ssrc;
        if (kg_dec_same(sv.mv_data, sv.mv_size, &other, &ssrc)) goto grew;
        if (pe_kg_term(r, other, &t, &tl) != PE_OK) continue;
        COPY(e->same[i], t, tl);
        e->same_source[i] = ssrc;
        i++;
    }
    e->n_same = i;
    i = 0;
    lk.mv_size = 8; lk.mv_data = kb;
    for (rc = mdb_cursor_get(lc, &lk, &lv, MDB_SET_RANGE);
         rc == 0 && i < n_links && lk.mv_size >= 8 && !memcmp(lk.mv_data, kb, 8);
         rc = mdb_cursor_get(lc, &lk, &lv, MDB_NEXT), i++) {
        if (kg_dec_sitelink(lk.mv_data, lk.mv_size, lv.mv_data, lv.mv_size, &sl)) goto grew;
        COPY(e->sitelink_sites[i], sl.site, strlen(sl.site));
        COPY(e->sitelink_titles[i], sl.title, sl.title_len);
        e->sitelink_sources[i] = sl.source;
    }
    e->n_sitelinks = i;
#undef COPY
    *out = e;
    return PE_OK;
grew: /* cannot happen in one snapshot */
    free(e);
    return r_corrupt(r, "entity", id);
}

void pe_kg_entity_free(pe_kg_entity *e) { free(e); }

/* Label of kind 0 in exactly `lang` ("" = any language). Among several,
 * the one stated by `pref` (the source that described the entity), else
 * the one whose first source is oldest. */
static int r_label_in(pe_kg_reader *r, uint64_t id, const char *lang, uint32_t pref, const char **label)
{
    MDB_cursor *c = rcur(r, KG_TXT);
    if (!c) return -1;
    unsigned char kb[8 + 1 + 65];
    size_t ll = strlen(lang);
    if (ll > 64) return MDB_NOTFOUND;
    pe_put_be64(kb, id);
    kb[8] = PE_KG_LABEL;
    memcpy(kb + 9, lang, ll + 1);
    size_t kl = ll ? 9 + ll + 1 : 9;
    MDB_val k = {kl, kb}, d;
    int rc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE);
    uint32_t best_src = UINT32_MAX;
    *label = NULL;
    for (; rc == 0 && k.mv_size >= kl && memcmp(k.mv_data, kb, kl) == 0; rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
        kg_txt_key tk;
        kg_txt_val tv;
        if (kg_dec_text_key(k.mv_data, k.mv_size, &tk) || kg_dec_text_val(d.mv_data, d.mv_size, &tv))
            return KG_RC_CORRUPT;
        if (tk.kind != PE_KG_LABEL) break;
        for (size_t i = 0; pref && i < tv.n_sources; i++)
            if (pe_get_be32(tv.sources + 4 * i) == pref) {
                *label = tv.text;
                return 0;
            }
        uint32_t first = pe_get_be32(tv.sources);
        if (!*label || first < best_src) {
            *label = tv.text;
            best_src = first;
        }
    }
    if (rc && rc != MDB_NOTFOUND) return rc;
    return *label ? 0 : MDB_NOTFOUND;
}

pe_status pe_kg_label(pe_kg_reader *r, pe_kg_id id, const char *lang, const char **label)
{
    if (!r || !label) return PE_ERR_INVALID;
    *label = NULL;
    if (!id || (id & KG_LIT_BIT)) return PE_NOT_FOUND;
    id = r_canon(r, id);
    uint32_t pref = 0;
    unsigned char kb[8];
    pe_put_be64(kb, id);
    MDB_val ek = {8, kb}, ed;
    if (mdb_get(r->txn, r->kg->dbi[KG_ENT], &ek, &ed) == 0) {
        kg_ent_rec er;
        if (kg_dec_entity(ed.mv_data, ed.mv_size, &er)) return r_corrupt(r, "entity record", id);
        pref = er.source;
    }
    const char *tries[3] = {lang && *lang ? lang : "en", "en", ""};
    for (int i = 0; i < 3; i++) {
        int rc = r_label_in(r, id, tries[i], pref, label);
        if (rc == 0) return PE_OK;
        if (rc == KG_RC_CORRUPT) return r_corrupt(r, "text record", id);
        if (rc != MDB_NOTFOUND) return r_mdb(r, rc, "label");
    }
    return PE_NOT_FOUND;
}

/* ---- triple patterns ------------------------------------------------------------ */

enum { IT_ALL, IT_SPO, IT_POS, IT_OSP };

struct pe_kg_iter {
    pe_kg_reader *r;
    MDB_cursor *c;
    int mode, started, done;
    uint64_t s, p, o;
};

pe_status pe_kg_match(pe_kg_reader *r, pe_kg_id s, pe_kg_id p, pe_kg_id o, pe_kg_iter **out)
{
    if (!r || !out) return PE_ERR_INVALID;
    *out = NULL;
    pe_kg_iter *it = calloc(1, sizeof *it);
    if (!it) return kg_rfail(r, PE_ERR_NOMEM, "out of memory");
    it->r = r;
    it->s = s; it->p = p; it->o = o;
    int db;
    if (s && (p || !o)) { it->mode = IT_SPO; db = KG_SPO; }
    else if (o && !p) { it->mode = IT_OSP; db = KG_OSP; }
    else if (p) { it->mode = IT_POS; db = KG_POS; }
    else { it->mode = IT_ALL; db = KG_SPO; }
    int rc = mdb_cursor_open(r->txn, r->kg->dbi[db], &it->c);
    if (rc) {
        free(it);
        return r_mdb(r, rc, "match");
    }
    *out = it;
    return PE_OK;
}

/* Rank and first source of a triple found through POS or OSP. */
static void r_triple_meta(pe_kg_reader *r, pe_kg_triple *t)
{
    t->rank = PE_KG_RANK_NORMAL;
    t->source = 0;
    MDB_cursor *c = rcur(r, KG_SPO);
    if (!c) return;
    unsigned char sk[8], probe[KG_SPO_VAL];
    pe_put_be64(sk, t->s);
    pe_put_be64(probe, t->p);
    pe_put_be64(probe + 8, t->o);
    memset(probe + 16, 0, KG_SPO_VAL - 16);
    MDB_val k = {8, sk}, d = {KG_SPO_VAL, probe};
    uint64_t p, o;
    int rank;
    uint32_t src;
    if (mdb_cursor_get(c, &k, &d, MDB_GET_BOTH_RANGE) == 0 && d.mv_size == KG_SPO_VAL &&
        memcmp(d.mv_data, probe, 16) == 0 && kg_dec_spo(d.mv_data, d.mv_size, &p, &o, &rank, &src) == 0) {
        t->rank = (pe_kg_rank)rank;
        t->source = src;
    }
}

pe_status pe_kg_iter_next(pe_kg_iter *it, pe_kg_triple *t)
{
    if (!it || !t) return PE_ERR_INVALID;
    if (it->done) return PE_DONE;
    MDB_val k, d;
    unsigned char kb[8], probe[KG_SPO_VAL];
    int rc;
    for (;;) {
        if (!it->started) {
            it->started = 1;
            memset(probe, 0, sizeof probe);
            switch (it->mode) {
            case IT_ALL:
                rc = mdb_cursor_get(it->c, &k, &d, MDB_FIRST);
                break;
            case IT_SPO: /* key s; values from (p, o) */
                pe_put_be64(kb, it->s);
                pe_put_be64(probe, it->p);
                pe_put_be64(probe + 8, it->o);
                k.mv_size = 8; k.mv_data = kb;
                d.mv_size = KG_SPO_VAL; d.mv_data = probe;
                rc = mdb_cursor_get(it->c, &k, &d, MDB_GET_BOTH_RANGE);
                break;
            case IT_POS: /* key p; values from (o, 0) */
                pe_put_be64(kb, it->p);
                pe_put_be64(probe, it->o);
                k.mv_size = 8; k.mv_data = kb;
                d.mv_size = 16; d.mv_data = probe;
                rc = mdb_cursor_get(it->c, &k, &d, MDB_GET_BOTH_RANGE);
                break;
            default: /* IT_OSP: key o; values from (s, 0) */
                pe_put_be64(kb, it->o);
                pe_put_be64(probe, it->s);
                k.mv_size = 8; k.mv_data = kb;
                d.mv_size = 16; d.mv_data = probe;
                rc = mdb_cursor_get(it->c, &k, &d, MDB_GET_BOTH_RANGE);
                break;
            }
        } else {
            rc = mdb_cursor_get(it->c, &k, &d, it->mode == IT_ALL ? MDB_NEXT : MDB_NEXT_DUP);
        }
        if (rc == MDB_NOTFOUND) break;
        if (rc) {
            it->done = 1;
            return r_mdb(it->r, rc, "match");
        }
        const unsigned char *v = d.mv_data;
        int spo = it->mode == IT_ALL || it->mode == IT_SPO;
        uint64_t key, a, b;
        int rank = 0;
        uint32_t src = 0;
        if (kg_dec_id_key(k.mv_data, k.mv_size, &key) ||
            (spo ? kg_dec_spo(v, d.mv_size, &a, &b, &rank, &src) : kg_dec_pair(v, d.mv_size, &a, &b))) {
            it->done = 1;
            return kg_fail(it->r->kg, PE_ERR_CORRUPT, "%s index entry of id %llu is malformed",
                           it->mode == IT_POS ? "pos" : it->mode == IT_OSP ? "osp" : "spo",
                           (unsigned long long)(k.mv_size == 8 ? pe_get_be64(k.mv_data) : 0));
        }
        switch (it->mode) {
        case IT_ALL:
        case IT_SPO:
            if (it->mode == IT_SPO && ((it->p && a != it->p) || (it->o && b != it->o))) goto end;
            t->s = key; t->p = a; t->o = b;
            t->rank = (pe_kg_rank)rank;
            t->source = src;
            return PE_OK;
        case IT_POS:
            if (it->o && a != it->o) goto end;
            t->s = b; t->p = key; t->o = a;
            r_triple_meta(it->r, t);
            return PE_OK;
        default:
            if (it->s && a != it->s) goto end;
            t->s = a; t->p = b; t->o = key;
            r_triple_meta(it->r, t);
            return PE_OK;
        }
    }
end:
    it->done = 1;
    return PE_DONE;
}

void pe_kg_iter_free(pe_kg_iter *it)
{
    if (!it) return;
    mdb_cursor_close(it->c);
    free(it);
}

pe_status pe_kg_triple_sources(pe_kg_reader *r, pe_kg_id s, pe_kg_id p, pe_kg_id o, uint32_t *out, size_t cap,
                               size_t *n)
{
    if (!r || !n || (cap && !out)) return PE_ERR_INVALID;
    *n = 0;
    pe_kg_triple t = {.s = s, .p = p, .o = o};
    MDB_cursor *c = rcur(r, KG_SPO), *tc = rcur(r, KG_TSRC);
    if (!c || !tc) return kg_rfail(r, PE_ERR_STORE, "cannot open cursors");
    unsigned char sk[8], probe[KG_SPO_VAL];
    pe_put_be64(sk, s);
    pe_put_be64(probe, p);
    pe_put_be64(probe + 8, o);
    memset(probe + 16, 0, KG_SPO_VAL - 16);
    MDB_val k = {8, sk}, d = {KG_SPO_VAL, probe};
    int rc = mdb_cursor_get(c, &k, &d, MDB_GET_BOTH_RANGE);
    if (rc == MDB_NOTFOUND || (rc == 0 && memcmp(d.mv_data, probe, 16) != 0)) return PE_NOT_FOUND;
    if (rc) return r_mdb(r, rc, "triple sources");
    r_triple_meta(r, &t);
    size_t m = 0;
    if (cap) out[0] = t.source;
    m = 1;
    unsigned char tk[24];
    pe_put_be64(tk, s); pe_put_be64(tk + 8, p); pe_put_be64(tk + 16, o);
    MDB_val k2 = {24, tk}, v;
    for (rc = mdb_cursor_get(tc, &k2, &v, MDB_SET_KEY); rc == 0; rc = mdb_cursor_get(tc, &k2, &v, MDB_NEXT_DUP)) {
        if (v.mv_size != 4) return r_corrupt(r, "triple_src record", s);
        if (m < cap) out[m] = pe_get_be32(v.mv_data);
        m++;
    }
    if (rc != MDB_NOTFOUND) return r_mdb(r, rc, "triple sources");
    *n = m;
    return PE_OK;
}

/* ---- types ------------------------------------------------------------------ */

static void r_wellknown(pe_kg_reader *r)
{
    if (r->wk_done) return;
    static const char *const names[KG_NWK] = {"P31", "P279", "http://www.w3.org/1999/02/22-rdf-syntax-ns#type",
                                              "http://www.w3.org/2000/01/rdf-schema#subClassOf"};
    for (int i = 0; i < KG_NWK; i++)
        if (pe_kg_resolve(r, names[i], strlen(names[i]), &r->wk[i]) != PE_OK) r->wk[i] = 0;
    r->wk_done = 1;
}

/* Growable id set with insertion order (the order is the BFS queue). */
typedef struct idset {
    uint64_t *order;
    size_t n, cap;
    uint64_t *slots;
    size_t scap;
} idset;

static int idset_add(idset *s, uint64_t id)
{
    if ((s->n + 1) * 2 > s->scap) {
        size_t ncap = s->scap ? s->scap * 2 : 64;
        uint64_t *ns = calloc(ncap, 8);
        if (!ns) return -1;
        for (size_t i = 0; i < s->n; i++) {
            size_t j = (size_t)kg_hash(&s->order[i], 8, 4) & (ncap - 1);
            while (ns[j]) j = (j + 1) & (ncap - 1);
            ns[j] = s->order[i];
        }
        free(s->slots);
        s->slots = ns;
        s->scap = ncap;
    }
    size_t j = (size_t)kg_hash(&id, 8, 4) & (s->scap - 1);
    while (s->slots[j]) {
        if (s->slots[j] == id) return 0;
        j = (j + 1) & (s->scap - 1);
    }
    if (s->n == s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 32;
        uint64_t *no = realloc(s->order, ncap * 8);
        if (!no) return -1;
        s->order = no;
        s->cap = ncap;
    }
    s->slots[j] = id;
    s->order[s->n++] = id;
    return 1;
}

/* Adds the entity objects of (x, p, ?) to the set. */
static int add_objects(pe_kg_reader *r, uint64_t x, uint64_t p, idset *set, uint64_t stop, int *hit)
{
    if (!p) return 0;
    MDB_cursor *c = rcur(r, KG_SPO);
    if (!c) return -1;
    unsigned char kb[8], probe[KG_SPO_VAL];
    pe_put_be64(kb, x);
    memset(probe, 0, sizeof probe);
    pe_put_be64(probe, p);
    MDB_val k = {8, kb}, d = {KG_SPO_VAL, probe};
    int rc = mdb_cursor_get(c, &k, &d, MDB_GET_BOTH_RANGE);
    while (rc == 0) {
        uint64_t vp, o;
        int rank;
        uint32_t src;
        if (kg_dec_spo(d.mv_data, d.mv_size, &vp, &o, &rank, &src)) return KG_RC_CORRUPT;
        if (vp != p) break;
        if (!(o & KG_LIT_BIT)) {
            if (stop && o == stop) { *hit = 1; return 0; }
            if (idset_add(set, o) < 0) return -1;
        }
        rc = mdb_cursor_get(c, &k, &d, MDB_NEXT_DUP);
    }
    return rc == 0 || rc == MDB_NOTFOUND ? 0 : rc;
}

/* BFS over P31/rdf:type then P279/rdfs:subClassOf; stops early at `stop`. */
static pe_status r_types(pe_kg_reader *r, uint64_t e, int closure, uint64_t stop, idset *set, int *hit)
{
    r_wellknown(r);
    *hit = 0;
    int rc = add_objects(r, e, r->wk[KG_WK_P31], set, stop, hit);
    if (!rc && !*hit) rc = add_objects(r, e, r->wk[KG_WK_RDF_TYPE], set, stop, hit);
    for (size_t i = 0; closure && !rc && !*hit && i < set->n; i++) {
        rc = add_objects(r, set->order[i], r->wk[KG_WK_P279], set, stop, hit);
        if (!rc && !*hit) rc = add_objects(r, set->order[i], r->wk[KG_WK_SUBCLASS], set, stop, hit);
    }
    if (rc == KG_RC_CORRUPT) return r_corrupt(r, "spo index entry", e);
    if (rc < 0) return kg_rfail(r, PE_ERR_NOMEM, "out of memory");
    if (rc) return r_mdb(r, rc, "types");
    return PE_OK;
}

pe_status pe_kg_types(pe_kg_reader *r, pe_kg_id e, int closure, pe_kg_id **ids, size_t *n)
{
    if (!r || !ids || !n) return PE_ERR_INVALID;
    *ids = NULL;
    *n = 0;
    idset set = {0};
    int hit;
    pe_status st = r_types(r, r_canon(r, e), closure, 0, &set, &hit);
    free(set.slots);
    if (st != PE_OK) {
        free(set.order);
        return st;
    }
    *ids = set.order;
    *n = set.n;
    return PE_OK;
}

pe_status pe_kg_is_a(pe_kg_reader *r, pe_kg_id e, pe_kg_id cls)
{
    if (!r || !e || !cls) return PE_ERR_INVALID;
    idset set = {0};
    int hit;
    pe_status st = r_types(r, r_canon(r, e), 1, r_canon(r, cls), &set, &hit);
    free(set.slots);
    free(set.order);
    if (st != PE_OK) return st;
    return hit ? PE_OK : PE_NOT_FOUND;
}

/* ---- alias lookup ------------------------------------------------------------- */

typedef struct kg_cand {
    uint64_t id;
    double w;
    int exact;
} kg_cand;

static int cand_cmp(const void *a, const void *b)
{
    const kg_cand *x = a, *y = b;
    if (x->w != y->w) return x->w > y->w ? -1 : 1;
    if (x->exact != y->exact) return y->exact - x->exact;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Prior: weight = (1 + ln(1 + sitelinks) + ln(1 + in_degree)) x (2 when the
 * form is a label of the entity, 1 when only an alias); the prior is the
 * weight divided by the sum of the weights of all candidates of the form
 * (after the type filter), so it lies in (0, 1] and sums to 1. */
pe_status pe_kg_lookup(pe_kg_reader *r, const char *text, size_t len, const pe_kg_lookup_options *opt,
                       pe_kg_candidate *out, size_t cap, size_t *n)
{
    if (!r || !text || !n || (cap && !out)) return PE_ERR_INVALID;
    *n = 0;
    size_t limit = opt && opt->limit ? opt->limit : 10;
    pe_kg_id type = opt ? opt->type : 0;
    pe_status st;
    size_t fl;
    char *form = kg_alias_form_buf(text, len, &r->buf, &r->buf_cap, &fl, &st);
    if (!form) return kg_rfail(r, st, st == PE_ERR_UTF8 ? "lookup text is not valid UTF-8" : "out of memory");
    if (fl == 0) return PE_NOT_FOUND;
    MDB_cursor *c = rcur(r, KG_ALIAS), *ec = rcur(r, KG_ENT);
    if (!c || !ec) return kg_rfail(r, PE_ERR_STORE, "cannot open cursors");
    MDB_val k = {fl, form}, d;
    int rc = mdb_cursor_get(c, &k, &d, MDB_SET_KEY);
    size_t nc = 0;
    kg_cand *cands = r->cands;
    while (rc == 0) {
        uint64_t id;
        int flag;
        if (kg_dec_alias(d.mv_data, d.mv_size, &id, &flag))
            return kg_rfail(r, PE_ERR_CORRUPT, "alias index entry of '%.100s' is malformed", form);
        int exact = flag == KG_ALIAS_FLAG_LABEL;
        if (nc && cands[nc - 1].id == id) { /* label and alias of one entity are adjacent */
            cands[nc - 1].exact |= exact;
        } else {
            if (nc == r->cands_cap) {
                size_t ncap = r->cands_cap ? r->cands_cap * 2 : 64;
                kg_cand *nca = realloc(r->cands, ncap * sizeof *nca);
                if (!nca) return kg_rfail(r, PE_ERR_NOMEM, "out of memory");
                r->cands = cands = nca;
                r->cands_cap = ncap;
            }
            cands[nc].id = id;
            cands[nc].exact = exact;
            cands[nc].w = 0;
            nc++;
        }
        rc = mdb_cursor_get(c, &k, &d, MDB_NEXT_DUP);
    }
    if (rc != MDB_NOTFOUND) return r_mdb(r, rc, "lookup");
    size_t m = 0;
    double sum = 0;
    for (size_t i = 0; i < nc; i++) {
        kg_cand cd = cands[i];
        if (type) {
            st = pe_kg_is_a(r, cd.id, type);
            if (st == PE_NOT_FOUND) continue;
            if (st != PE_OK) return st;
        }
        unsigned char kb[8];
        pe_put_be64(kb, cd.id);
        MDB_val ek = {8, kb}, ed;
        uint32_t sitelinks = 0;
        if (mdb_cursor_get(ec, &ek, &ed, MDB_SET_KEY) == 0) {
            kg_ent_rec er;
            if (kg_dec_entity(ed.mv_data, ed.mv_size, &er)) return r_corrupt(r, "entity record", cd.id);
            sitelinks = er.sitelinks;
        }
        double w = 1.0 + log1p((double)sitelinks) + log1p((double)r_in_degree(r, cd.id));
        cd.w = cd.exact ? 2 * w : w;
        sum += cd.w;
        cands[m++] = cd;
    }
    if (m == 0) return PE_NOT_FOUND;
    qsort(cands, m, sizeof *cands, cand_cmp);
    size_t k_out = m < cap ? m : cap;
    if (k_out > limit) k_out = limit;
    for (size_t i = 0; i < k_out; i++) {
        out[i].id = cands[i].id;
        out[i].prior = cands[i].w / sum;
        out[i].exact = cands[i].exact;
    }
    *n = k_out;
    return PE_OK;
}
