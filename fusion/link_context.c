/* link_context.c - the context feature: lexical entity vectors (TF-IDF of
 * the words of each entity's labels, aliases, description and neighbours'
 * labels) written once
 * into the link index (pe_link_index_embed), and the cosine between a
 * mention's surrounding words and each candidate's vector at link time.
 * The neighbours' labels (at half weight) give the short descriptions the
 * words a text about the entity uses: a club's league, a team's country.
 * Layout in pe_link.h. No model code: the words are hashed, not encoded. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "link_internal.h"

/* ---- words ---------------------------------------------------------------- */

static const char *const k_stop[] = {
    "about", "after", "all", "also", "an", "and", "any", "are", "as", "at", "be", "been", "before", "being",
    "between", "both", "but", "by", "can", "could", "did", "do", "does", "during", "each", "for", "from", "had",
    "has", "have", "he", "her", "here", "him", "his", "how", "if", "in", "into", "is", "it", "its", "just", "me",
    "more", "most", "my", "no", "not", "of", "on", "one", "only", "or", "other", "our", "out", "over", "said",
    "she", "so", "some", "such", "than", "that", "the", "their", "them", "then", "there", "these", "they",
    "this", "those", "to", "two", "up", "us", "was", "we", "were", "what", "when", "where", "which", "while",
    "who", "will", "with", "would", "you", "your"};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int is_stop_word(const char *w)
{
    const char *k = w;
    return bsearch(&k, k_stop, sizeof k_stop / sizeof *k_stop, sizeof *k_stop, cmp_str) != NULL;
}

static uint32_t fnv32(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h ? h : 1;
}

static int push_word(const char *w, size_t wl, size_t s, size_t e, link_word **out, size_t *n, size_t *cap)
{
    if (wl < 2 || wl > 40) return 0;
    size_t digits = 0;
    for (size_t i = 0; i < wl; i++) digits += w[i] >= '0' && w[i] <= '9';
    if (digits == wl) return 0;
    if (wl <= 8) {
        char b[9];
        memcpy(b, w, wl);
        b[wl] = 0;
        if (is_stop_word(b)) return 0;
    }
    /* American and British names of one sport: the graph's descriptions say
     * "association football", news and tweets "soccer" */
    if (wl == 6 && memcmp(w, "soccer", 6) == 0) { w = "football"; wl = 8; }
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 256;
        link_word *x = realloc(*out, nc * sizeof *x);
        if (!x) return -1;
        *out = x;
        *cap = nc;
    }
    (*out)[(*n)++] = (link_word){fnv32(w, wl), (uint32_t)s, (uint32_t)e};
    return 0;
}

int link_words(const char *s, size_t len, link_word **w, size_t *n, size_t *cap)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        int in = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
        if (!in) { i++; continue; }
        size_t st = i, ascii = 1;
        for (; i < len; i++) {
            c = (unsigned char)s[i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80)) break;
            ascii &= c < 0x80;
        }
        size_t wl = i - st;
        if (ascii) {
            char b[41];
            if (wl > 40) continue;
            for (size_t k = 0; k < wl; k++) {
                char ch = s[st + k];
                b[k] = ch >= 'A' && ch <= 'Z' ? (char)(ch + 32) : ch;
            }
            if (push_word(b, wl, st, i, w, n, cap)) return -1;
        } else {
            pe_status ns;
            char *f = pe_text_normalize(s + st, wl, &ns);
            if (!f) { if (ns == PE_ERR_NOMEM) return -1; continue; }
            /* the folding may split it ("l’homme" -> "l homme"): each part */
            for (char *p = f; *p;) {
                char *q = strchr(p, ' ');
                size_t pl = q ? (size_t)(q - p) : strlen(p);
                if (push_word(p, pl, st, i, w, n, cap)) { free(f); return -1; }
                p += pl + (q != NULL);
            }
            free(f);
        }
    }
    return 0;
}

/* ---- building ------------------------------------------------------------- */

typedef struct term { uint32_t h; float w; } term;

static int cmp_term_w(const void *a, const void *b)
{
    const term *x = a, *y = b;
    if (x->w != y->w) return x->w > y->w ? -1 : 1;
    return x->h < y->h ? -1 : x->h > y->h;
}

static int cmp_term_h(const void *a, const void *b)
{
    const term *x = a, *y = b;
    return x->h < y->h ? -1 : x->h > y->h;
}

static int cmp_word_h(const void *a, const void *b)
{
    const link_word *x = a, *y = b;
    return x->h < y->h ? -1 : x->h > y->h;
}

pe_status pe_link_index_embed(pe_kg *kg, const char *dir, pe_link_embed_stats *stats, pe_error *err)
{
    if (!kg || !dir || !*dir) return pe_error_set(err, PE_ERR_INVALID, "link index: no store or directory");
    double t0 = pe_now();
    char path[4096];
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    FILE *probe = fopen(path, "rb");
    if (!probe) return pe_error_set(err, PE_ERR_IO, "link index %s: none there (build it first)", dir);
    fclose(probe);
    pe_kg_reader *r = NULL;
    pe_status st = pe_kg_reader_begin(kg, &r);
    if (st != PE_OK) return pe_error_set(err, st, "link index: %s", pe_kg_errmsg(kg));
    pe_kg_stats ks;
    if ((st = pe_kg_stats_get(r, &ks)) != PE_OK) {
        pe_kg_reader_end(r);
        return pe_error_set(err, st, "link index: %s", pe_kg_errmsg(kg));
    }
    /* pass 1: each entity's distinct words with their counts, and the
     * document frequency of every word */
    pe_link_embed_stats s = {0};
    link_map df = {0};
    pe_kg_id *ents = NULL;
    uint64_t *eoff = NULL;          /* (ne + 1) into pairs */
    term *pairs = NULL;             /* (word hash, count) */
    size_t ne = 0, ecap = 0, np = 0, pcap = 0;
    link_word *w = NULL;
    size_t nw = 0, wcap = 0;
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    uint64_t misses = 0;
    for (pe_kg_id id = 1; id <= ks.terms || misses < 1024; id++) {
        pe_kg_entity *e = NULL;
        st = pe_kg_entity_get(r, id, &e);
        if (st == PE_NOT_FOUND) { if (id > ks.terms) misses++; continue; }
        if (st != PE_OK) { pe_error_set(err, st, "link index: entity %llu: %s", (unsigned long long)id, pe_kg_errmsg(kg)); goto fail; }
        misses = 0;
        if (e->id != id || e->n_texts == 0) { pe_kg_entity_free(e); continue; }
        s.entities++;
        nw = 0;
        for (size_t i = 0; i < e->n_texts; i++) {
            const char *t = e->texts[i].text;
            if (link_words(t, strlen(t), &w, &nw, &wcap)) { pe_kg_entity_free(e); goto nomem; }
        }
        pe_kg_entity_free(e);
        size_t own = nw;
        /* the labels of its neighbours (classes included): out-statements
         * first, then in-statements, LINK_CTX_NEIGHBOURS each at most */
        for (int side = 0; side < 2 && own; side++) {
            pe_kg_iter *it;
            st = pe_kg_match(r, side ? 0 : id, 0, side ? id : 0, &it);
            if (st == PE_NOT_FOUND) continue;
            if (st != PE_OK) { pe_error_set(err, st, "link index: entity %llu: %s", (unsigned long long)id, pe_kg_errmsg(kg)); goto fail; }
            pe_kg_triple tr;
            size_t seen = 0;
            while (seen < LINK_CTX_NEIGHBOURS && (st = pe_kg_iter_next(it, &tr)) == PE_OK) {
                pe_kg_id x = side ? tr.s : tr.o;
                const char *lab;
                if (PE_KG_IS_LITERAL(x) || x == id || pe_kg_label(r, x, "en", &lab) != PE_OK) continue;
                seen++;
                if (link_words(lab, strlen(lab), &w, &nw, &wcap)) { pe_kg_iter_free(it); goto nomem; }
            }
            pe_kg_iter_free(it);
            if (st != PE_OK && st != PE_DONE) { pe_error_set(err, st, "link index: entity %llu: %s", (unsigned long long)id, pe_kg_errmsg(kg)); goto fail; }
            st = PE_OK;
        }
        for (size_t i = own; i < nw; i++) w[i].start = 1; /* marks a neighbour's word */
        for (size_t i = 0; i < own; i++) w[i].start = 0;
        if (nw == 0) continue;
        qsort(w, nw, sizeof *w, cmp_word_h);
        if (ne + 1 >= ecap) {
            size_t nc = ecap ? ecap * 2 : 1 << 14;
            pe_kg_id *a = realloc(ents, nc * sizeof *a);
            if (!a) goto nomem;
            ents = a;
            uint64_t *o = realloc(eoff, (nc + 1) * sizeof *o);
            if (!o) goto nomem;
            eoff = o;
            ecap = nc;
        }
        ents[ne] = id;
        eoff[ne] = np;
        for (size_t i = 0; i < nw;) {
            size_t j = i;
            while (j < nw && w[j].h == w[i].h) j++;
            if (np == pcap) {
                size_t nc = pcap ? pcap * 2 : 1 << 16;
                term *x = realloc(pairs, nc * sizeof *x);
                if (!x) goto nomem;
                pairs = x;
                pcap = nc;
            }
            float cnt = 0; /* a neighbour's word counts LINK_CTX_NEIGHBOUR_WEIGHT */
            for (size_t q = i; q < j; q++) cnt += w[q].start ? LINK_CTX_NEIGHBOUR_WEIGHT : 1.0f;
            pairs[np++] = (term){w[i].h, cnt};
            uint32_t *d = link_map_put(&df, w[i].h, 0);
            if (!d) goto nomem;
            (*d)++;
            i = j;
        }
        ne++;
    }
    if (eoff) eoff[ne] = np;
    pe_kg_reader_end(r);
    r = NULL;

    int rc = mdb_env_create(&env);
    if (!rc) rc = mdb_env_set_maxdbs(env, LINK_NDB);
    if (!rc) rc = mdb_env_set_mapsize(env, (size_t)64 << 30);
    if (!rc) rc = mdb_env_open(env, dir, MDB_NOTLS | MDB_NOSYNC, 0666);
    if (rc) { st = link_mdb_fail(err, rc, "open", dir); goto fail; }
    if ((rc = mdb_txn_begin(env, NULL, 0, &txn))) { st = link_mdb_fail(err, rc, "begin", dir); goto fail; }
    MDB_dbi meta, idf_db, lex_db;
    rc = mdb_dbi_open(txn, link_db_names[LINK_DB_META], 0, &meta);
    if (rc == MDB_NOTFOUND) { st = pe_error_set(err, PE_ERR_CORRUPT, "link index %s: not a link index", dir); goto fail; }
    if (!rc) rc = mdb_dbi_open(txn, link_db_names[LINK_DB_IDF], MDB_CREATE, &idf_db);
    if (!rc) rc = mdb_drop(txn, idf_db, 0);
    if (!rc) rc = mdb_dbi_open(txn, link_db_names[LINK_DB_LEX], MDB_CREATE, &lex_db);
    if (!rc) rc = mdb_drop(txn, lex_db, 0);
    if (rc) { st = link_mdb_fail(err, rc, "open databases", dir); goto fail; }
    {
        MDB_val k = {7, "version"}, d;
        if (mdb_get(txn, meta, &k, &d) || d.mv_size != 4 || pe_get_be32(d.mv_data) != LINK_INDEX_VERSION) {
            st = pe_error_set(err, PE_ERR_CORRUPT, "link index %s: missing or other version (rebuild it)", dir);
            goto fail;
        }
    }
    /* idf = ln(1 + N / df): word hash u32 -> f32, hashes ascending */
    double N = (double)ne;
    {
        term *all = malloc((df.n ? df.n : 1) * sizeof *all);
        if (!all) goto nomem;
        size_t na = 0;
        for (size_t i = 0; i < df.cap; i++)
            if (df.keys[i]) all[na++] = (term){(uint32_t)df.keys[i], (float)log1p(N / df.vals[i])};
        qsort(all, na, sizeof *all, cmp_term_h);
        for (size_t i = 0; i < na && !rc; i++) {
            unsigned char kb[4], vb[4];
            uint32_t bits;
            memcpy(&bits, &all[i].w, 4);
            pe_put_be32(kb, all[i].h);
            pe_put_be32(vb, bits);
            MDB_val k = {4, kb}, d = {4, vb};
            rc = mdb_put(txn, idf_db, &k, &d, MDB_APPEND);
        }
        s.words = na;
        free(all);
        if (rc) { st = link_mdb_fail(err, rc, "write idf", dir); goto fail; }
    }
    /* each entity's vector: (1 + ln count) x idf, the LINK_CTX_TERMS
     * heaviest terms, unit length, hashes ascending */
    {
        term t[4096];
        unsigned char vb[8 * LINK_CTX_TERMS];
        for (size_t i = 0; i < ne && !rc; i++) {
            size_t n = 0;
            for (uint64_t p = eoff[i]; p < eoff[i + 1] && n < 4096; p++) {
                uint32_t *d = link_map_get(&df, pairs[p].h);
                t[n].h = pairs[p].h;
                double tfw = 1.0 + log(pairs[p].w);
                t[n++].w = (float)((tfw > 0.1 ? tfw : 0.1) * log1p(N / (d ? *d : 1)));
            }
            if (n > LINK_CTX_TERMS) { qsort(t, n, sizeof *t, cmp_term_w); n = LINK_CTX_TERMS; }
            double norm = 0;
            for (size_t k = 0; k < n; k++) norm += (double)t[k].w * t[k].w;
            if (norm <= 0) continue;
            norm = sqrt(norm);
            qsort(t, n, sizeof *t, cmp_term_h);
            for (size_t k = 0; k < n; k++) {
                float x = (float)(t[k].w / norm);
                uint32_t bits;
                memcpy(&bits, &x, 4);
                pe_put_be32(vb + 8 * k, t[k].h);
                pe_put_be32(vb + 8 * k + 4, bits);
            }
            unsigned char kb[8];
            pe_put_be64(kb, ents[i]);
            MDB_val k = {8, kb}, d = {8 * n, vb};
            rc = mdb_put(txn, lex_db, &k, &d, MDB_APPEND);
            s.vectors++;
            s.terms += n;
        }
        if (rc) { st = link_mdb_fail(err, rc, "write vectors", dir); goto fail; }
    }
    s.seconds = pe_now() - t0;
    {
        unsigned char v[4 + 8 * 5];
        pe_put_be32(v, LINK_CTX_VERSION);
        uint64_t c[4] = {s.entities, s.vectors, s.words, s.terms};
        for (int i = 0; i < 4; i++) pe_put_be64(v + 4 + 8 * i, c[i]);
        uint64_t sb;
        memcpy(&sb, &s.seconds, 8);
        pe_put_be64(v + 36, sb);
        MDB_val k = {3, "ctx"}, d = {sizeof v, v};
        rc = mdb_put(txn, meta, &k, &d, 0);
    }
    if (!rc) rc = mdb_txn_commit(txn);
    txn = NULL;
    if (!rc) rc = mdb_env_sync(env, 1);
    if (rc) { st = link_mdb_fail(err, rc, "commit", dir); goto fail; }
    mdb_env_close(env);
    link_map_free(&df);
    free(ents); free(eoff); free(pairs); free(w);
    if (stats) *stats = s;
    return PE_OK;
nomem:
    st = pe_error_set(err, PE_ERR_NOMEM, "link index: out of memory");
fail:
    if (txn) mdb_txn_abort(txn);
    if (env) mdb_env_close(env);
    pe_kg_reader_end(r);
    link_map_free(&df);
    free(ents); free(eoff); free(pairs); free(w);
    return st;
}

/* ---- linking ---------------------------------------------------------------- */

pe_status link_context_sims(MDB_txn *txn, const link_index *ix, const char *text, size_t len, size_t window,
                            link_ctx_mention *ms, size_t n, const char **why)
{
    link_word *w = NULL;
    size_t nw = 0, wcap = 0;
    float *idf = NULL, *slot_w = NULL; /* slot_w: a context word's weight (by its slot in tf) */
    uint32_t *slot_n = NULL;           /* its count in the window */
    link_map tf = {0};                 /* word hash -> slot */
    pe_status st = PE_OK;
    *why = NULL;
    if (link_words(text, len, &w, &nw, &wcap)) { st = PE_ERR_NOMEM; goto out; }
    idf = malloc((nw ? nw : 1) * sizeof *idf);
    slot_w = malloc((nw ? nw : 1) * sizeof *slot_w);
    slot_n = malloc((nw ? nw : 1) * sizeof *slot_n);
    if (!idf || !slot_w || !slot_n) { st = PE_ERR_NOMEM; goto out; }
    for (size_t i = 0; i < nw; i++) {
        unsigned char kb[4];
        pe_put_be32(kb, w[i].h);
        MDB_val k = {4, kb}, d;
        int rc = mdb_get(txn, ix->dbi[LINK_DB_IDF], &k, &d);
        idf[i] = 0;
        if (rc == 0 && d.mv_size == 4) {
            uint32_t bits = pe_get_be32(d.mv_data);
            memcpy(&idf[i], &bits, 4);
        } else if (rc && rc != MDB_NOTFOUND) {
            *why = mdb_strerror(rc);
            st = PE_ERR_STORE;
            goto out;
        }
    }
    for (size_t m = 0; m < n; m++) {
        link_ctx_mention *cm = &ms[m];
        for (size_t k = 0; k < cm->nc; k++) cm->out[k] = 0;
        if (cm->nc == 0) continue;
        /* words before and after the span, within the window */
        size_t first = 0;
        while (first < nw && w[first].end <= cm->start) first++;
        size_t after = first;
        while (after < nw && w[after].start < cm->end) after++;
        size_t lo = window && first > window ? first - window : 0;
        size_t hi = window && after + window < nw ? after + window : nw;
        link_map_clear(&tf);
        size_t nslot = 0;
        for (size_t i = lo; i < hi; i++) {
            if ((i >= first && i < after) || idf[i] <= 0) continue;
            uint32_t *c = link_map_put(&tf, w[i].h, UINT32_MAX);
            if (!c) { st = PE_ERR_NOMEM; goto out; }
            if (*c == UINT32_MAX) { *c = (uint32_t)nslot; slot_w[nslot] = idf[i]; slot_n[nslot++] = 0; }
            slot_n[*c]++;
        }
        double norm = 0; /* weights (1 + ln count) x idf */
        for (size_t q = 0; q < nslot; q++) {
            slot_w[q] = (float)((1.0 + log((double)slot_n[q])) * slot_w[q]);
            norm += (double)slot_w[q] * slot_w[q];
        }
        if (norm <= 0) continue;
        norm = sqrt(norm);
        for (size_t k = 0; k < cm->nc; k++) {
            unsigned char kb[8];
            pe_put_be64(kb, cm->ids[k]);
            MDB_val key = {8, kb}, d;
            int rc = mdb_get(txn, ix->dbi[LINK_DB_LEX], &key, &d);
            if (rc == MDB_NOTFOUND) continue;
            if (rc) { *why = mdb_strerror(rc); st = PE_ERR_STORE; goto out; }
            const unsigned char *v = d.mv_data;
            double dot = 0;
            for (size_t t = 0; t < d.mv_size / 8; t++) {
                uint32_t *x = link_map_get(&tf, pe_get_be32(v + 8 * t));
                if (!x) continue;
                float ew;
                uint32_t bits = pe_get_be32(v + 8 * t + 4);
                memcpy(&ew, &bits, 4);
                dot += (double)slot_w[*x] * ew;
            }
            cm->out[k] = dot / norm;
        }
    }
out:
    free(w);
    free(idf);
    free(slot_w);
    free(slot_n);
    link_map_free(&tf);
    return st;
}
