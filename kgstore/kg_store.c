/* kg_store.c - opening the LMDB environment, layout version, writer
 * transactions, import source records, statistics, and the small helpers
 * (term keys, canonical IRIs, alias forms, caches) shared by the store. */
#include "kg_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>

static const char *const kg_db_names[KG_NDB] = {
    "meta", "term2id", "id2term", "lit2id", "id2lit", "entity", "text", "alias", "sitelink",
    "spo", "pos", "osp", "triple_src", "same", "redirect", "source"};

const char *kg_db_name(int i) { return i >= 0 && i < KG_NDB ? kg_db_names[i] : "?"; }

static unsigned kg_db_flags(int i)
{
    switch (i) {
    case KG_ALIAS: case KG_SPO: case KG_POS: case KG_OSP: case KG_TSRC: case KG_SAME:
        return MDB_DUPSORT | MDB_DUPFIXED;
    default:
        return 0;
    }
}

/* ---- errors ---------------------------------------------------------------- */

pe_status kg_fail(pe_kg *kg, pe_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&kg->mu);
    pe_error_setv(&kg->err, st, fmt, ap);
    pthread_mutex_unlock(&kg->mu);
    va_end(ap);
    return st;
}

/* A reader's failures stay on the reader (one thread uses it at a time). */
pe_status kg_rfail(pe_kg_reader *r, pe_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pe_error_setv(&r->err, st, fmt, ap);
    va_end(ap);
    return st;
}

/* A writer's failures are on the writer, and also on its handle (one
 * writer per handle), where they outlive a commit that frees the writer. */
pe_status kg_wfail(pe_kg_writer *w, pe_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pe_error_setv(&w->err, st, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&w->kg->mu);
    w->kg->err = w->err;
    pthread_mutex_unlock(&w->kg->mu);
    return st;
}

/* The status and message of an LMDB failure into buf[cap]. */
static pe_status mdb_status(const pe_kg *kg, int rc, const char *what, char *buf, size_t cap)
{
    pe_status st = PE_ERR_STORE;
    if (rc == MDB_MAP_FULL) st = PE_ERR_FULL;
    else if (rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND || rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH)
        st = PE_ERR_CORRUPT;
    else if (rc == ENOMEM) st = PE_ERR_NOMEM;
    else if (rc == EIO || rc == ENOSPC || rc == EACCES || rc == ENOENT || rc == EROFS) st = PE_ERR_IO;
    if (rc == MDB_MAP_FULL)
        snprintf(buf, cap, "%s: the store's map (%zu bytes) is full; abort the batch and retry "
                           "(the map is grown when the writer ends) or reopen with a larger map_size",
                 what, kg->map_size);
    else
        snprintf(buf, cap, "%s: %s", what, mdb_strerror(rc));
    return st;
}

pe_status kg_mdb_fail(pe_kg *kg, int rc, const char *what)
{
    char msg[PE_ERRMSG_MAX];
    pe_status st = mdb_status(kg, rc, what, msg, sizeof msg);
    return kg_fail(kg, st, "%s", msg);
}

pe_status kg_mdb_rfail(pe_kg_reader *r, int rc, const char *what)
{
    char msg[PE_ERRMSG_MAX];
    pe_status st = mdb_status(r->kg, rc, what, msg, sizeof msg);
    return kg_rfail(r, st, "%s", msg);
}

pe_status kg_mdb_wfail(pe_kg_writer *w, int rc, const char *what)
{
    char msg[PE_ERRMSG_MAX];
    pe_status st = mdb_status(w->kg, rc, what, msg, sizeof msg);
    return kg_wfail(w, st, "%s", msg);
}

const char *pe_kg_errmsg(const pe_kg *kg)
{
    return kg ? kg->err.msg : "no graph store handle";
}

const char *pe_kg_reader_errmsg(const pe_kg_reader *r)
{
    return r ? r->err.msg : "no reader";
}

const char *pe_kg_writer_errmsg(const pe_kg_writer *w)
{
    return w ? w->err.msg : "no writer";
}

/* ---- small helpers --------------------------------------------------------- */

size_t kg_term_key(const unsigned char *term, size_t len, unsigned char *out)
{
    if (len <= 480) {
        memcpy(out, term, len);
        return len;
    }
    /* Too long for an LMDB key: a prefix and a 128-bit hash. 0xFF never
     * occurs in UTF-8, so hashed keys cannot equal a raw term. */
    memcpy(out, term, KG_LONG_KEY_PREFIX);
    out[KG_LONG_KEY_PREFIX] = 0xFF;
    pe_put_be64(out + KG_LONG_KEY_PREFIX + 1, kg_hash(term, len, 0x9e3779b97f4a7c15ULL));
    pe_put_be64(out + KG_LONG_KEY_PREFIX + 9, kg_hash(term, len, 0x632be59bd9b4e019ULL));
    return KG_LONG_KEY_PREFIX + 17;
}

int kg_is_wikidata_id(const char *t, size_t len)
{
    if (len < 2 || (t[0] != 'Q' && t[0] != 'P' && t[0] != 'L')) return 0;
    if (t[1] == '0') return 0;
    for (size_t i = 1; i < len; i++)
        if (t[i] < '0' || t[i] > '9') return 0;
    return len <= 20;
}

void kg_canon_term(const char **term, size_t *len)
{
    static const char *const prefixes[] = {
        "http://www.wikidata.org/entity/", "https://www.wikidata.org/entity/",
        "http://www.wikidata.org/prop/direct/", "https://www.wikidata.org/prop/direct/"};
    const char *t = *term;
    size_t n = *len;
    if (n < 30 || t[0] != 'h') return;
    for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++) {
        size_t pl = strlen(prefixes[i]);
        if (n > pl && memcmp(t, prefixes[i], pl) == 0 && kg_is_wikidata_id(t + pl, n - pl)) {
            *term = t + pl;
            *len = n - pl;
            return;
        }
    }
}

/* Printable ASCII takes a fast path that gives exactly what
 * pe_text_normalize gives (tests check every character): letters folded,
 * digits and '$' (Unicode Sc) kept, every other printable character is
 * punctuation, a symbol or a space and separates words. */
char *kg_alias_form_buf(const char *text, size_t len, char **buf, size_t *cap, size_t *out_len, pe_status *st)
{
    int ascii = 1;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c < 0x20 || c > 0x7E) { ascii = 0; break; }
    }
    char *norm = NULL;
    size_t need = len + 1;
    if (!ascii) {
        norm = pe_text_normalize(text, len, st);
        if (!norm) return NULL;
        need = strlen(norm) + 1;
    }
    if (need > *cap) {
        size_t ncap = *cap ? *cap : 256;
        while (ncap < need) ncap *= 2;
        char *nb = realloc(*buf, ncap);
        if (!nb) {
            free(norm);
            *st = PE_ERR_NOMEM;
            return NULL;
        }
        *buf = nb;
        *cap = ncap;
    }
    char *out = *buf;
    size_t o = 0;
    if (ascii) {
        int pending = 0;
        for (size_t i = 0; i < len; i++) {
            unsigned char c = (unsigned char)text[i];
            int keep = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '$' || (c >= 'A' && c <= 'Z');
            if (!keep) { pending = o > 0; continue; }
            if (pending) out[o++] = ' ';
            pending = 0;
            out[o++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        }
        out[o] = '\0';
    } else {
        o = need - 1;
        memcpy(out, norm, need);
        free(norm);
    }
    if (o > KG_ALIAS_KEY_MAX) {
        o = KG_ALIAS_KEY_MAX;
        while (o > 0 && ((unsigned char)out[o] & 0xC0) == 0x80) o--; /* UTF-8 boundary */
        while (o > 0 && out[o - 1] == ' ') o--;
        out[o] = '\0';
    }
    *out_len = o;
    *st = PE_OK;
    return out;
}

char *kg_alias_form(const char *text, size_t len, size_t *out_len, pe_status *st)
{
    char *buf = NULL;
    size_t cap = 0;
    char *r = kg_alias_form_buf(text, len, &buf, &cap, out_len, st);
    if (!r) free(buf);
    return r;
}

/* ---- term cache ------------------------------------------------------------ */

#define KG_CACHE_MAX_SLOTS (UINT32_C(1) << 22) /* 4M slots (2M terms), 128 MiB */
#define KG_CACHE_MAX_ARENA (UINT32_C(256) << 20)

void kg_cache_free(kg_cache *c)
{
    free(c->slots);
    free(c->arena);
    memset(c, 0, sizeof *c);
}

void kg_cache_clear(kg_cache *c)
{
    if (c->slots) memset(c->slots, 0, c->cap * sizeof *c->slots);
    c->n = 0;
    c->arena_len = 0;
    c->complete = 0;
}

static int kg_cache_eq(const kg_cache *c, const kg_cache_slot *s, const unsigned char *k, size_t len)
{
    if (s->len != len) return 0;
    return memcmp(len <= KG_CACHE_INLINE ? s->k.inl : c->arena + s->k.off, k, len) == 0;
}

uint64_t kg_cache_get(const kg_cache *c, const unsigned char *k, size_t len, uint64_t h)
{
    if (!c->n) return 0;
    size_t mask = c->cap - 1;
    uint32_t h32 = (uint32_t)(h >> 32);
    for (size_t i = (size_t)h32 & mask;; i = (i + 1) & mask) {
        const kg_cache_slot *s = &c->slots[i];
        if (!s->id) return 0;
        if (s->hash == h32 && kg_cache_eq(c, s, k, len)) return s->id;
    }
}

/* Zeroed memory for a big table: asked for in transparent huge pages
 * where the kernel offers them (a fresh 32 MiB table otherwise costs 8192
 * page faults, a tenth of a second here). Freed with free(). */
static void *kg_calloc_big(size_t bytes)
{
    const size_t huge = (size_t)2 << 20;
    if (bytes < huge) return calloc(1, bytes);
    void *p = NULL;
    if (posix_memalign(&p, huge, bytes)) return NULL;
#ifdef MADV_HUGEPAGE
    (void)madvise(p, bytes, MADV_HUGEPAGE); /* a hint: failure is harmless */
#endif
    memset(p, 0, bytes);
    return p;
}

static int kg_cache_grow(kg_cache *c)
{
    /* x4 while small: fewer re-insertions while a dictionary fills up */
    size_t ncap = !c->cap ? 65536 : c->cap < ((size_t)1 << 20) ? c->cap * 4 : c->cap * 2;
    if (ncap > KG_CACHE_MAX_SLOTS) return -1;
    kg_cache_slot *ns = kg_calloc_big(ncap * sizeof *ns);
    if (!ns) return -1;
    for (size_t i = 0; i < c->cap; i++) {
        kg_cache_slot *s = &c->slots[i];
        if (!s->id) continue;
        size_t j = (size_t)s->hash & (ncap - 1); /* no rehash: the slot keeps its hash */
        while (ns[j].id) j = (j + 1) & (ncap - 1);
        ns[j] = *s;
    }
    free(c->slots);
    c->slots = ns;
    c->cap = ncap;
    return 0;
}

static int kg_cache_insert(kg_cache *c, const unsigned char *k, size_t len, uint64_t h, uint64_t id);

int kg_cache_put(kg_cache *c, const unsigned char *k, size_t len, uint64_t h, uint64_t id)
{
    uint32_t h32 = (uint32_t)(h >> 32);
    if (c->cap) {
        size_t mask = c->cap - 1;
        for (size_t i = (size_t)h32 & mask;; i = (i + 1) & mask) {
            kg_cache_slot *s = &c->slots[i];
            if (!s->id) break;
            if (s->hash == h32 && kg_cache_eq(c, s, k, len)) { s->id = id; return 0; }
        }
    }
    return kg_cache_insert(c, k, len, h, id);
}

/* Inserts a key known to be absent. */
static int kg_cache_insert(kg_cache *c, const unsigned char *k, size_t len, uint64_t h, uint64_t id)
{
    uint32_t h32 = (uint32_t)(h >> 32);
    if ((c->n + 1) * 2 > c->cap && kg_cache_grow(c) != 0) goto full;
    uint32_t off = 0;
    if (len > KG_CACHE_INLINE) {
        if (c->arena_len + len > c->arena_cap) {
            size_t ncap = c->arena_cap ? c->arena_cap * 2 : (1u << 20);
            while (ncap < c->arena_len + len) ncap *= 2;
            if (ncap > KG_CACHE_MAX_ARENA) goto full;
            unsigned char *na = realloc(c->arena, ncap);
            if (!na) goto full;
            c->arena = na;
            c->arena_cap = ncap;
        }
        off = (uint32_t)c->arena_len;
        memcpy(c->arena + off, k, len);
        c->arena_len += len;
    }
    size_t mask = c->cap - 1;
    size_t i = (size_t)h32 & mask;
    while (c->slots[i].id) i = (i + 1) & mask;
    kg_cache_slot *s = &c->slots[i];
    s->id = id;
    s->hash = h32;
    s->len = (uint32_t)len;
    if (len > KG_CACHE_INLINE) s->k.off = off;
    else memcpy(s->k.inl, k, len);
    c->n++;
    return 0;
full:
    /* Bounded memory: start again empty; misses now go to the database. */
    kg_cache_clear(c);
    return 1;
}

/* ---- id map ---------------------------------------------------------------- */

void kg_idmap_free(kg_idmap *m)
{
    free(m->keys);
    free(m->vals);
    free(m->bits);
    memset(m, 0, sizeof *m);
}

uint64_t kg_idmap_get(const kg_idmap *m, uint64_t k)
{
    if (!m->n) return 0;
    if (k >> 6 < m->nwords) {
        if (!(m->bits[k >> 6] >> (k & 63) & 1)) return 0;
    } else if (!m->big) {
        return 0;
    }
    size_t mask = m->cap - 1;
    for (size_t i = (size_t)kg_mix64(k, 1) & mask;; i = (i + 1) & mask) {
        if (!m->keys[i]) return 0;
        if (m->keys[i] == k) return m->vals[i];
    }
}

int kg_idmap_put(kg_idmap *m, uint64_t k, uint64_t v)
{
    if (k >= (UINT64_C(1) << 30)) {
        m->big = 1;
    } else {
        size_t w = (size_t)(k >> 6);
        if (w >= m->nwords) {
            size_t nw = m->nwords ? m->nwords : 1024;
            while (nw <= w) nw *= 2;
            uint64_t *nb = realloc(m->bits, nw * sizeof *nb);
            if (!nb) return -1;
            memset(nb + m->nwords, 0, (nw - m->nwords) * sizeof *nb);
            m->bits = nb;
            m->nwords = nw;
        }
        m->bits[w] |= UINT64_C(1) << (k & 63);
    }
    if ((m->n + 1) * 2 > m->cap) {
        size_t ncap = m->cap ? m->cap * 2 : 1024;
        uint64_t *nk = calloc(ncap, 8), *nv = calloc(ncap, 8);
        if (!nk || !nv) { free(nk); free(nv); return -1; }
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->keys[i]) continue;
            size_t j = (size_t)kg_mix64(m->keys[i], 1) & (ncap - 1);
            while (nk[j]) j = (j + 1) & (ncap - 1);
            nk[j] = m->keys[i];
            nv[j] = m->vals[i];
        }
        free(m->keys);
        free(m->vals);
        m->keys = nk;
        m->vals = nv;
        m->cap = ncap;
    }
    size_t mask = m->cap - 1;
    size_t i = (size_t)kg_mix64(k, 1) & mask;
    while (m->keys[i] && m->keys[i] != k) i = (i + 1) & mask;
    if (!m->keys[i]) m->n++;
    m->keys[i] = k;
    m->vals[i] = v;
    return 0;
}

/* ---- opening --------------------------------------------------------------- */

pe_kg_options pe_kg_options_default(void)
{
    pe_kg_options o;
    memset(&o, 0, sizeof o);
    o.map_size = (size_t)64 << 30;
    o.create = 1;
    o.max_readers = 1024;
    return o;
}

static int kg_meta_get64(MDB_txn *txn, MDB_dbi dbi, const char *name, uint64_t *v)
{
    MDB_val k = {strlen(name), (void *)name}, d;
    int rc = mdb_get(txn, dbi, &k, &d);
    if (rc == 0 && d.mv_size == 8) *v = pe_get_be64(d.mv_data);
    return rc;
}

static int kg_meta_put64(MDB_txn *txn, MDB_dbi dbi, const char *name, uint64_t v)
{
    unsigned char b[8];
    pe_put_be64(b, v);
    MDB_val k = {strlen(name), (void *)name}, d = {8, b};
    return mdb_put(txn, dbi, &k, &d, 0);
}

/* Opens every named database in txn; creates them (and the layout version)
 * when `create`. */
static pe_status kg_open_dbs(pe_kg *kg, MDB_txn *txn, int create)
{
    for (int i = 0; i < KG_NDB; i++) {
        int rc = mdb_dbi_open(txn, kg_db_names[i], kg_db_flags(i) | (create ? MDB_CREATE : 0), &kg->dbi[i]);
        if (rc == MDB_NOTFOUND)
            return kg_fail(kg, PE_ERR_CORRUPT, "%s: not a persona graph store: database '%s' is missing",
                           kg->dir, kg_db_names[i]);
        if (rc == MDB_INCOMPATIBLE)
            return kg_fail(kg, PE_ERR_CORRUPT, "%s: not a persona graph store: database '%s' has other flags",
                           kg->dir, kg_db_names[i]);
        if (rc) return kg_mdb_fail(kg, rc, kg->dir);
    }
    return PE_OK;
}

static pe_status kg_check_layout(pe_kg *kg, int create_ok)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(kg->env, NULL, MDB_RDONLY, &txn);
    if (rc) return kg_mdb_fail(kg, rc, kg->dir);
    MDB_dbi meta;
    rc = mdb_dbi_open(txn, "meta", 0, &meta);
    if (rc == MDB_NOTFOUND) {
        /* A fresh environment has an empty main database. */
        MDB_dbi main_db;
        MDB_stat stt;
        rc = mdb_dbi_open(txn, NULL, 0, &main_db);
        if (!rc) rc = mdb_stat(txn, main_db, &stt);
        mdb_txn_abort(txn);
        if (rc) return kg_mdb_fail(kg, rc, kg->dir);
        if (stt.ms_entries > 0)
            return kg_fail(kg, PE_ERR_CORRUPT,
                           "%s: not a persona graph store (an LMDB environment holding other data)", kg->dir);
        if (!create_ok)
            return kg_fail(kg, PE_ERR_CORRUPT, "%s: empty environment, no graph store yet (open it writable "
                                               "to create one)", kg->dir);
        rc = mdb_txn_begin(kg->env, NULL, 0, &txn);
        if (rc) return kg_mdb_fail(kg, rc, kg->dir);
        pe_status st = kg_open_dbs(kg, txn, 1);
        if (st != PE_OK) { mdb_txn_abort(txn); return st; }
        unsigned char v[4];
        pe_put_be32(v, KG_LAYOUT_VERSION);
        MDB_val k = {14, "layout_version"}, d = {4, v};
        rc = mdb_put(txn, kg->dbi[KG_META], &k, &d, 0);
        if (!rc) rc = kg_meta_put64(txn, kg->dbi[KG_META], "next_term", 1);
        if (!rc) rc = kg_meta_put64(txn, kg->dbi[KG_META], "next_lit", 1);
        if (!rc) rc = kg_meta_put64(txn, kg->dbi[KG_META], "gen", 1);
        if (rc) { mdb_txn_abort(txn); return kg_mdb_fail(kg, rc, kg->dir); }
        rc = mdb_txn_commit(txn);
        if (rc) return kg_mdb_fail(kg, rc, kg->dir);
        return PE_OK;
    }
    if (rc) { mdb_txn_abort(txn); return kg_mdb_fail(kg, rc, kg->dir); }
    MDB_val k = {14, "layout_version"}, d;
    rc = mdb_get(txn, meta, &k, &d);
    if (rc || d.mv_size != 4) {
        mdb_txn_abort(txn);
        return kg_fail(kg, PE_ERR_CORRUPT, "%s: not a persona graph store (no layout version in 'meta')", kg->dir);
    }
    uint32_t ver = pe_get_be32(d.mv_data);
    if (ver != KG_LAYOUT_VERSION) {
        mdb_txn_abort(txn);
        return kg_fail(kg, PE_ERR_CORRUPT, "%s: graph store layout version %u, this build reads version %d "
                                           "(re-import into a new store)", kg->dir, ver, KG_LAYOUT_VERSION);
    }
    pe_status st = kg_open_dbs(kg, txn, 0);
    if (st != PE_OK) { mdb_txn_abort(txn); return st; }
    rc = mdb_txn_commit(txn); /* keeps the dbi handles */
    if (rc) return kg_mdb_fail(kg, rc, kg->dir);
    return PE_OK;
}

/* The work of pe_kg_open on a fresh handle; failures leave kg->err. */
static pe_status kg_open(pe_kg *kg, const char *dir, const pe_kg_options *opt)
{
    pe_kg_options o = opt ? *opt : pe_kg_options_default();
    if (!dir || !*dir) return kg_fail(kg, PE_ERR_INVALID, "no store directory given");
    kg->dir = strdup(dir);
    if (!kg->dir) return kg_fail(kg, PE_ERR_NOMEM, "out of memory");
    kg->read_only = o.read_only;
    kg->no_sync = o.no_sync;
    kg->lock_fd = -1;
    kg->map_size = o.map_size ? o.map_size : ((size_t)64 << 30);

    struct stat sb;
    if (stat(dir, &sb) == 0) {
        if (!S_ISDIR(sb.st_mode))
            return kg_fail(kg, PE_ERR_IO, "%s: not a directory (a graph store is a directory)", dir);
    } else if (errno == ENOENT && o.create && !o.read_only) {
        if (mkdir(dir, 0775) != 0 && errno != EEXIST)
            return kg_fail(kg, PE_ERR_IO, "%s: cannot create directory: %s", dir, strerror(errno));
    } else {
        return kg_fail(kg, PE_ERR_IO, "%s: %s", dir, strerror(errno));
    }

    int rc = mdb_env_create(&kg->env);
    if (!rc) rc = mdb_env_set_maxdbs(kg->env, KG_NDB + 4);
    if (!rc) rc = mdb_env_set_mapsize(kg->env, kg->map_size);
    if (!rc) rc = mdb_env_set_maxreaders(kg->env, o.max_readers ? o.max_readers : 1024);
    if (rc) return kg_mdb_fail(kg, rc, dir);
    unsigned flags = MDB_NOTLS | (o.no_sync ? MDB_NOSYNC : 0) | (o.read_only ? MDB_RDONLY : 0);
    rc = mdb_env_open(kg->env, dir, flags, 0664);
    if (rc) {
        mdb_env_close(kg->env);
        kg->env = NULL;
        if (rc == MDB_INVALID)
            return kg_fail(kg, PE_ERR_CORRUPT, "%s: data.mdb is not an LMDB file", dir);
        if (rc == MDB_VERSION_MISMATCH)
            return kg_fail(kg, PE_ERR_CORRUPT, "%s: written by an incompatible LMDB version", dir);
        if (rc == ENOENT && o.read_only)
            return kg_fail(kg, PE_ERR_IO, "%s: no graph store here (data.mdb missing)", dir);
        return kg_mdb_fail(kg, rc, dir);
    }
    MDB_envinfo info;
    if (mdb_env_info(kg->env, &info) == 0 && info.me_mapsize > kg->map_size) kg->map_size = info.me_mapsize;
    return kg_check_layout(kg, !o.read_only);
}

pe_status pe_kg_open(const char *dir, const pe_kg_options *opt, pe_kg **out, pe_error *err)
{
    if (!out) return pe_error_set(err, PE_ERR_INVALID, "pe_kg_open: out is NULL");
    *out = NULL;
    pe_kg *kg = calloc(1, sizeof *kg);
    if (!kg) return pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&kg->mu, NULL);
    pe_error_clear(&kg->err);
    pe_status st = kg_open(kg, dir, opt);
    if (st >= PE_ERR_FIRST) {
        pe_error_set(err, st, "%s", kg->err.msg);
        pe_kg_close(kg);
        return st;
    }
    *out = kg;
    return st;
}

void pe_kg_close(pe_kg *kg)
{
    if (!kg) return;
    if (kg->writer) pe_kg_writer_abort(kg->writer);
    /* MDB_NOSYNC stores are made durable here (LMDB does not sync on close) */
    if (kg->env && kg->no_sync && !kg->read_only) mdb_env_sync(kg->env, 1);
    if (kg->env) mdb_env_close(kg->env);
    kg_cache_free(&kg->cache);
    kg_idmap_free(&kg->redirects);
    kg_writer_free(kg->spare);
    if (kg->lock_fd >= 0) close(kg->lock_fd); /* drops this process's holds */
    pthread_mutex_destroy(&kg->mu);
    free(kg->dir);
    free(kg);
}

pe_status pe_kg_sync(pe_kg *kg)
{
    if (!kg || !kg->env) return PE_ERR_INVALID;
    if (kg->read_only) return PE_OK;
    int rc = mdb_env_sync(kg->env, 1);
    return rc ? kg_mdb_fail(kg, rc, "sync") : PE_OK;
}

/* ---- writer transactions -------------------------------------------------- */

/* Begins a transaction, adopting a map grown by another process. */
int kg_txn_begin(pe_kg *kg, unsigned flags, MDB_txn **txn)
{
    int rc = mdb_txn_begin(kg->env, NULL, flags, txn);
    if (rc == MDB_MAP_RESIZED) {
        pthread_mutex_lock(&kg->mu);
        int idle = kg->active_txns == 0;
        pthread_mutex_unlock(&kg->mu);
        if (idle && mdb_env_set_mapsize(kg->env, 0) == 0) {
            MDB_envinfo info;
            if (mdb_env_info(kg->env, &info) == 0) kg->map_size = info.me_mapsize;
            rc = mdb_txn_begin(kg->env, NULL, flags, txn);
        }
    }
    return rc;
}

static void kg_cache_preload(pe_kg *kg, MDB_txn *txn)
{
    kg_cache_clear(&kg->cache);
    MDB_stat a, b;
    if (mdb_stat(txn, kg->dbi[KG_T2I], &a) || mdb_stat(txn, kg->dbi[KG_L2I], &b)) return;
    /* Only when the whole dictionary fits comfortably: then a miss is a new term. */
    if (a.ms_entries + b.ms_entries > KG_CACHE_MAX_SLOTS / 4) return;
    int ok = 1;
    /* size the table once (no rehash while loading) */
    while (kg->cache.cap < 2 * (a.ms_entries + b.ms_entries) + 1024 && kg_cache_grow(&kg->cache) == 0) {}
    for (int db = KG_T2I; db <= KG_L2I && ok; db += KG_L2I - KG_T2I) {
        MDB_cursor *c;
        if (mdb_cursor_open(txn, kg->dbi[db], &c)) { ok = 0; break; }
        MDB_val k, d;
        unsigned char key[KG_MAX_KEY + 1];
        for (int rc = mdb_cursor_get(c, &k, &d, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
            size_t kl = k.mv_size;
            const unsigned char *kp = k.mv_data;
            if (d.mv_size != 8 || kl > KG_MAX_KEY) { ok = 0; break; } /* damaged: no cache */
            if (db == KG_L2I) { /* literal keys carry a 0x01 prefix in the cache */
                key[0] = 1;
                memcpy(key + 1, k.mv_data, kl);
                kp = key;
                kl++;
            }
            /* dictionary keys are unique: no probe for an existing entry */
            if (kg_cache_insert(&kg->cache, kp, kl, kg_cache_hash(kp, kl), pe_get_be64(d.mv_data))) {
                ok = 0; /* cleared: did not fit */
                break;
            }
        }
        mdb_cursor_close(c);
    }
    kg->cache.complete = ok;
}

/* Loads the store's merges (redirect db) into the handle's id map when
 * there are not too many, so that the writer follows merged ids without a
 * lookup. Merges made later by this handle are added as they happen. */
static void kg_redirect_preload(pe_kg *kg, MDB_txn *txn)
{
    kg->redir_complete = 0;
    MDB_stat st;
    if (mdb_stat(txn, kg->dbi[KG_REDIR], &st) || st.ms_entries > KG_REDIRECT_PRELOAD_MAX) return;
    MDB_cursor *c;
    if (mdb_cursor_open(txn, kg->dbi[KG_REDIR], &c)) return;
    MDB_val k, d;
    int rc, ok = 1;
    for (rc = mdb_cursor_get(c, &k, &d, MDB_FIRST); rc == 0 && ok; rc = mdb_cursor_get(c, &k, &d, MDB_NEXT))
        if (k.mv_size != 8 || d.mv_size != 8 ||
            kg_idmap_put(&kg->redirects, pe_get_be64(k.mv_data), pe_get_be64(d.mv_data)))
            ok = 0;
    mdb_cursor_close(c);
    kg->redir_complete = ok && rc == MDB_NOTFOUND;
}

pe_status pe_kg_writer_begin(pe_kg *kg, pe_kg_writer **out)
{
    if (!out) return PE_ERR_INVALID;
    *out = NULL;
    if (!kg || !kg->env) return PE_ERR_INVALID;
    if (kg->read_only) return kg_fail(kg, PE_ERR_INVALID, "%s: store opened read-only", kg->dir);
    pthread_mutex_lock(&kg->mu);
    if (kg->writer) {
        pthread_mutex_unlock(&kg->mu);
        return kg_fail(kg, PE_ERR_BUSY, "%s: this handle already has an open writer", kg->dir);
    }
    /* the previous writer's buffers, if kept (see kg_writer_end) */
    pe_kg_writer *w = kg->spare;
    kg->spare = NULL;
    if (!w) w = calloc(1, sizeof *w);
    if (!w) {
        pthread_mutex_unlock(&kg->mu);
        return kg_fail(kg, PE_ERR_NOMEM, "out of memory");
    }
    kg->writer = w;
    pthread_mutex_unlock(&kg->mu);
    w->kg = kg;
    pe_error_clear(&w->err);
    int rc = kg_txn_begin(kg, 0, &w->txn);
    if (rc) {
        pe_status st = kg_mdb_fail(kg, rc, "begin write transaction");
        pthread_mutex_lock(&kg->mu);
        kg->writer = NULL;
        pthread_mutex_unlock(&kg->mu);
        kg_writer_free(w);
        return st;
    }
    pthread_mutex_lock(&kg->mu);
    kg->active_txns++;
    pthread_mutex_unlock(&kg->mu);
    w->next_term = 1;
    w->next_lit = 1;
    MDB_dbi meta = kg->dbi[KG_META];
    kg_meta_get64(w->txn, meta, "next_term", &w->next_term);
    kg_meta_get64(w->txn, meta, "next_lit", &w->next_lit);
    kg_meta_get64(w->txn, meta, "gen", &w->gen);
    if (w->gen != kg->gen || !kg->cache_loaded) {
        /* Someone else wrote since our last commit: our caches may be stale. */
        kg_idmap_free(&kg->redirects);
        kg_cache_preload(kg, w->txn);
        kg_redirect_preload(kg, w->txn);
        kg->cache_loaded = 1;
    }
    w->first_new = w->next_term;
    for (int i = 0; i < KG_NDB; i++) {
        rc = mdb_cursor_open(w->txn, kg->dbi[i], &w->cur[i]);
        if (rc) {
            pe_status st = kg_mdb_fail(kg, rc, "open cursor");
            pe_kg_writer_abort(w);
            return st;
        }
    }
    MDB_stat ts;
    w->tsrc_any = mdb_stat(w->txn, kg->dbi[KG_TSRC], &ts) != 0 || ts.ms_entries > 0;
    static const int id_keyed[] = {KG_I2T, KG_I2L, KG_ENT, KG_TXT, KG_SITE, KG_SPO};
    for (size_t i = 0; i < sizeof id_keyed / sizeof *id_keyed; i++) {
        MDB_val k, d;
        int db = id_keyed[i];
        if (mdb_cursor_get(w->cur[db], &k, &d, MDB_LAST) == 0 && k.mv_size >= 8) w->max_key[db] = pe_get_be64(k.mv_data);
    }
    *out = w;
    return PE_OK;
}

static void kg_writer_reset(pe_kg_writer *w);

static void kg_writer_end(pe_kg_writer *w, int committed)
{
    pe_kg *kg = w->kg;
    if (!committed) {
        /* The cache may hold terms of the aborted transaction. */
        kg_cache_clear(&kg->cache);
        kg_idmap_free(&kg->redirects);
        kg->redir_complete = 0;
        kg->cache_loaded = 0;
        kg->gen = 0;
    }
    pthread_mutex_lock(&kg->mu);
    kg->writer = NULL;
    kg->active_txns--;
    int idle = kg->active_txns == 0;
    pthread_mutex_unlock(&kg->mu);
    if (w->failed == PE_ERR_FULL && idle) {
        /* Grow the map so that the batch can be run again. */
        size_t grown = kg->map_size * 2;
        if (mdb_env_set_mapsize(kg->env, grown) == 0) kg->map_size = grown;
    }
    /* Keep the buffers (pending writes, entity table, scratch) for the next
     * writer of this handle: allocating them afresh each batch costs page
     * faults. Their size is bounded by KG_PEND_MAX and the batch. */
    pthread_mutex_lock(&kg->mu);
    if (!kg->spare) {
        kg_writer_reset(w);
        kg->spare = w;
        w = NULL;
    }
    pthread_mutex_unlock(&kg->mu);
    kg_writer_free(w);
}

/* Empties w for reuse, keeping its allocations. */
static void kg_writer_reset(pe_kg_writer *w)
{
    pe_kg_writer keep = *w;
    for (size_t i = 0; i < keep.ents_n; i++) memset(&keep.ents[keep.ents_used[i]], 0, sizeof *keep.ents);
    if (keep.used) memset(keep.used, 0, keep.used_words * sizeof *keep.used);
    memset(w, 0, sizeof *w);
    for (int i = 0; i < KG_NPEND; i++) {
        w->pend[i].b = keep.pend[i].b;
        w->pend[i].cap = keep.pend[i].cap;
        w->pend[i].off = keep.pend[i].off;
        w->pend[i].ncap = keep.pend[i].ncap;
    }
    w->pos.r = keep.pos.r;
    w->pos.cap = keep.pos.cap;
    w->osp.r = keep.osp.r;
    w->osp.cap = keep.osp.cap;
    w->ents = keep.ents;
    w->ents_cap = keep.ents_cap;
    w->ents_used = keep.ents_used;
    w->ents_tmp = keep.ents_tmp;
    w->arena = keep.arena;
    w->arena_cap = keep.arena_cap;
    w->buf = keep.buf;
    w->buf_cap = keep.buf_cap;
    w->form = keep.form;
    w->form_cap = keep.form_cap;
    w->used = keep.used;
    w->used_words = keep.used_words;
    w->scratch = keep.scratch;
    w->scratch_cap = keep.scratch_cap;
}

void kg_writer_free(pe_kg_writer *w)
{
    if (!w) return;
    for (int i = 0; i < KG_NPEND; i++) {
        free(w->pend[i].b);
        free(w->pend[i].off);
    }
    free(w->form);
    free(w->pos.r);
    free(w->osp.r);
    free(w->ents);
    free(w->ents_used);
    free(w->ents_tmp);
    free(w->arena);
    free(w->buf);
    free(w->used);
    free(w->scratch);
    free(w);
}

pe_status pe_kg_writer_commit(pe_kg_writer *w)
{
    if (!w) return PE_ERR_INVALID;
    pe_kg *kg = w->kg;
    pe_status st = w->failed;
    if (st == PE_OK) st = kg_writer_flush_pending(w);
    if (st == PE_OK) st = kg_writer_flush_entities(w);
    int rc = 0;
    if (st == PE_OK) {
        MDB_dbi meta = kg->dbi[KG_META];
        rc = kg_meta_put64(w->txn, meta, "next_term", w->next_term);
        if (!rc) rc = kg_meta_put64(w->txn, meta, "next_lit", w->next_lit);
        if (!rc) rc = kg_meta_put64(w->txn, meta, "gen", w->gen + 1);
        if (rc) st = kg_mdb_fail(kg, rc, "commit: write counters");
    }
    if (st != PE_OK) {
        if (st == PE_ERR_FULL) w->failed = st;
        mdb_txn_abort(w->txn);
        kg_writer_end(w, 0);
        return st;
    }
    rc = mdb_txn_commit(w->txn);
    if (rc) {
        st = kg_mdb_fail(kg, rc, "commit");
        if (st == PE_ERR_FULL) w->failed = st;
        kg_writer_end(w, 0);
        return st;
    }
    kg->gen = w->gen + 1;
    kg_writer_end(w, 1);
    return PE_OK;
}

void pe_kg_writer_abort(pe_kg_writer *w)
{
    if (!w) return;
    mdb_txn_abort(w->txn);
    kg_writer_end(w, 0);
}

/* ---- import sources ------------------------------------------------------- */

/* Source record: see "source" in the layout section of pe_kg.h. */

static size_t kg_src_encode(const pe_kg_source *s, unsigned char *buf, size_t cap)
{
    const char *strs[KG_SRC_NSTR] = {s->path, s->format, s->sha256, s->dump_date, s->langs, s->last_error};
    size_t need = KG_SRC_FIXED;
    for (int i = 0; i < KG_SRC_NSTR; i++) need += (strs[i] ? strlen(strs[i]) : 0) + 1;
    if (need > cap) return need;
    memset(buf, 0, KG_SRC_FIXED);
    buf[0] = 2;
    buf[1] = (unsigned char)s->status;
    for (int i = 0; i < KG_SRC_NSTR; i++)
        if (strs[i]) buf[2] |= (unsigned char)(1u << i);
    pe_put_be64(buf + 4, s->size);
    pe_put_bed(buf + 12, s->started);
    pe_put_bed(buf + 20, s->ended);
    const uint64_t cn[11] = {s->counts.entities, s->counts.labels, s->counts.aliases, s->counts.descriptions,
                             s->counts.triples, s->counts.sameas, s->counts.skipped, s->counts.dropped,
                             s->counts.bytes, s->counts.lines, s->counts.statements};
    for (int i = 0; i < 11; i++) pe_put_be64(buf + 28 + 8 * i, cn[i]);
    size_t o = KG_SRC_FIXED;
    for (int i = 0; i < KG_SRC_NSTR; i++) {
        size_t l = strs[i] ? strlen(strs[i]) : 0;
        if (l) memcpy(buf + o, strs[i], l);
        buf[o + l] = 0;
        o += l + 1;
    }
    return o;
}

/* Strings in *s point into d (borrowed). */
static int kg_src_decode(const MDB_val *d, uint32_t id, pe_kg_source *s)
{
    return kg_dec_source(d->mv_data, d->mv_size, id, s);
}

static pe_status kg_src_put(pe_kg_writer *w, const pe_kg_source *s)
{
    unsigned char stackbuf[1024];
    unsigned char *buf = stackbuf;
    size_t n = kg_src_encode(s, buf, sizeof stackbuf);
    if (n > sizeof stackbuf) {
        buf = malloc(n);
        if (!buf) return kg_wfail(w, PE_ERR_NOMEM, "out of memory");
        kg_src_encode(s, buf, n);
    }
    unsigned char kb[4];
    pe_put_be32(kb, s->id);
    MDB_val k = {4, kb}, d = {n, buf};
    int rc = mdb_put(w->txn, w->kg->dbi[KG_SRC], &k, &d, 0);
    if (buf != stackbuf) free(buf);
    if (rc) {
        if (rc == MDB_MAP_FULL) w->failed = PE_ERR_FULL;
        return kg_mdb_wfail(w, rc, "write source record");
    }
    return PE_OK;
}

static pe_status kg_src_load(pe_kg_writer *w, uint32_t id, pe_kg_source *s)
{
    unsigned char kb[4];
    pe_put_be32(kb, id);
    MDB_val k = {4, kb}, d;
    int rc = mdb_get(w->txn, w->kg->dbi[KG_SRC], &k, &d);
    if (rc == MDB_NOTFOUND) return kg_wfail(w, PE_ERR_INVALID, "no import source %u", id);
    if (rc) return kg_mdb_wfail(w, rc, "read source record");
    if (kg_src_decode(&d, id, s)) return kg_wfail(w, PE_ERR_CORRUPT, "source record %u is malformed", id);
    return PE_OK;
}

static double kg_unix_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

pe_status pe_kg_source_begin(pe_kg_writer *w, const pe_kg_source *info, uint32_t *source_id, int *resumed)
{
    if (!w || !info || !source_id) return PE_ERR_INVALID;
    if (w->failed) return w->failed;
    if (resumed) *resumed = 0;
    *source_id = 0;
    MDB_cursor *c = w->cur[KG_SRC];
    MDB_val k, d;
    uint32_t last = 0;
    for (int rc = mdb_cursor_get(c, &k, &d, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
        pe_kg_source s;
        if (k.mv_size != 4) return kg_wfail(w, PE_ERR_CORRUPT, "a source record key is malformed");
        uint32_t id = pe_get_be32(k.mv_data);
        last = id;
        if (kg_src_decode(&d, id, &s)) continue;
        if (!info->sha256 || !s.sha256 || strcmp(info->sha256, s.sha256) != 0) continue;
        if (info->format && (!s.format || strcmp(info->format, s.format) != 0)) continue;
        if (s.status == PE_KG_SOURCE_RUNNING || s.status == PE_KG_SOURCE_DONE) {
            *source_id = id;
            if (resumed) *resumed = s.status == PE_KG_SOURCE_RUNNING ? 1 : 2;
            return PE_OK;
        }
    }
    pe_kg_source s = *info;
    s.id = last + 1;
    s.status = PE_KG_SOURCE_RUNNING;
    if (s.started == 0) s.started = kg_unix_now();
    s.ended = 0;
    memset(&s.counts, 0, sizeof s.counts);
    s.last_error[0] = '\0';
    pe_status st = kg_src_put(w, &s);
    if (st == PE_OK) *source_id = s.id;
    return st;
}

pe_status pe_kg_source_checkpoint(pe_kg_writer *w, uint32_t source_id, const pe_kg_counts *c,
                                  const char *last_error)
{
    if (!w || !c) return PE_ERR_INVALID;
    if (w->failed) return w->failed;
    pe_kg_source s;
    pe_status st = kg_src_load(w, source_id, &s);
    if (st != PE_OK) return st;
    /* Strings of s point into the map: copy before rewriting the record. */
    char *copies[5] = {0};
    const char **fields[5] = {&s.path, &s.format, &s.sha256, &s.dump_date, &s.langs};
    for (int i = 0; i < 5; i++)
        if (*fields[i] && !(copies[i] = strdup(*fields[i]))) st = PE_ERR_NOMEM;
    if (st == PE_OK) {
        for (int i = 0; i < 5; i++) if (*fields[i]) *fields[i] = copies[i];
        s.counts = *c;
        if (last_error && *last_error && !s.last_error[0])
            snprintf(s.last_error, sizeof s.last_error, "%s", last_error);
        st = kg_src_put(w, &s);
    } else {
        kg_wfail(w, st, "out of memory");
    }
    for (int i = 0; i < 5; i++) free(copies[i]);
    return st;
}

pe_status pe_kg_source_finish(pe_kg_writer *w, uint32_t source_id, pe_kg_source_status status,
                              const pe_kg_counts *c)
{
    if (!w) return PE_ERR_INVALID;
    if (w->failed) return w->failed;
    pe_kg_source s;
    pe_status st = kg_src_load(w, source_id, &s);
    if (st != PE_OK) return st;
    char *copies[5] = {0};
    const char **fields[5] = {&s.path, &s.format, &s.sha256, &s.dump_date, &s.langs};
    for (int i = 0; i < 5; i++)
        if (*fields[i] && !(copies[i] = strdup(*fields[i]))) st = PE_ERR_NOMEM;
    if (st == PE_OK) {
        for (int i = 0; i < 5; i++) if (*fields[i]) *fields[i] = copies[i];
        if (c) s.counts = *c;
        s.status = status;
        s.ended = kg_unix_now();
        st = kg_src_put(w, &s);
    } else {
        kg_wfail(w, st, "out of memory");
    }
    for (int i = 0; i < 5; i++) free(copies[i]);
    return st;
}

/* ---- running imports: who holds a source ---------------------------------- */

/* DIR/sources.lock, opened once per handle (caller holds kg->mu). */
static int kg_lock_fd(pe_kg *kg)
{
    if (kg->lock_fd == -1) {
        char path[4200];
        snprintf(path, sizeof path, "%s/sources.lock", kg->dir);
        int fd = kg->read_only ? open(path, O_RDONLY | O_CLOEXEC) : open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0664);
        kg->lock_fd = fd >= 0 ? fd : -2;
    }
    return kg->lock_fd;
}

static int kg_holds(const pe_kg *kg, uint32_t id)
{
    for (int i = 0; i < kg->n_held; i++)
        if (kg->held[i] == id) return 1;
    return 0;
}

pe_status pe_kg_source_hold(pe_kg *kg, uint32_t id, long *holder_pid)
{
    if (holder_pid) *holder_pid = 0;
    if (!kg || !id) return PE_ERR_INVALID;
    enum { HELD_HERE, NO_FILE, FULL, HELD_THERE, OTHER, DONE } what = DONE;
    long pid = 0;
    int eno = 0;
    pthread_mutex_lock(&kg->mu); /* kg_fail takes it too: messages after unlocking */
    int fd = kg_lock_fd(kg);
    if (kg_holds(kg, id)) {
        what = HELD_HERE;
    } else if (fd < 0 || kg->read_only) {
        what = NO_FILE;
    } else if (kg->n_held == (int)(sizeof kg->held / sizeof *kg->held)) {
        what = FULL;
    } else {
        struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = id, .l_len = 1};
        if (fcntl(fd, F_SETLK, &fl) == 0) {
            kg->held[kg->n_held++] = id;
        } else if (errno == EACCES || errno == EAGAIN) {
            struct flock q = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = id, .l_len = 1};
            pid = fcntl(fd, F_GETLK, &q) == 0 && q.l_type != F_UNLCK ? (long)q.l_pid : 0;
            what = HELD_THERE;
        } else {
            eno = errno;
            what = OTHER;
        }
    }
    pthread_mutex_unlock(&kg->mu);
    switch (what) {
    case HELD_HERE: return kg_fail(kg, PE_ERR_BUSY, "import source %u is being imported by this process", id);
    case NO_FILE:
        return kg_fail(kg, PE_ERR_IO, "%s/sources.lock: cannot open it to mark an import running", kg->dir);
    case FULL: return kg_fail(kg, PE_ERR_BUSY, "too many imports running in this process");
    case HELD_THERE:
        if (holder_pid) *holder_pid = pid;
        return kg_fail(kg, PE_ERR_BUSY, "import source %u is being imported by process %ld", id, pid);
    case OTHER: return kg_fail(kg, PE_ERR_IO, "%s/sources.lock: %s", kg->dir, strerror(eno));
    default: return PE_OK;
    }
}

void pe_kg_source_release(pe_kg *kg, uint32_t id)
{
    if (!kg) return;
    pthread_mutex_lock(&kg->mu);
    for (int i = 0; i < kg->n_held; i++)
        if (kg->held[i] == id) {
            struct flock fl = {.l_type = F_UNLCK, .l_whence = SEEK_SET, .l_start = id, .l_len = 1};
            if (kg->lock_fd >= 0) fcntl(kg->lock_fd, F_SETLK, &fl);
            kg->held[i] = kg->held[--kg->n_held];
            break;
        }
    pthread_mutex_unlock(&kg->mu);
}

/* 1 when an import holds source id now (this handle, or another process). */
static int kg_source_live(pe_kg *kg, uint32_t id)
{
    pthread_mutex_lock(&kg->mu);
    int live = kg_holds(kg, id);
    int fd = live ? -1 : kg_lock_fd(kg);
    if (fd >= 0) {
        struct flock q = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = id, .l_len = 1};
        live = fcntl(fd, F_GETLK, &q) == 0 && q.l_type != F_UNLCK;
    }
    pthread_mutex_unlock(&kg->mu);
    return live;
}

pe_status pe_kg_source_get(pe_kg_reader *r, uint32_t id, pe_kg_source *out)
{
    if (!r || !out) return PE_ERR_INVALID;
    unsigned char kb[4];
    pe_put_be32(kb, id);
    MDB_val k = {4, kb}, d;
    int rc = mdb_get(r->txn, r->kg->dbi[KG_SRC], &k, &d);
    if (rc == MDB_NOTFOUND) return PE_NOT_FOUND;
    if (rc) return kg_mdb_rfail(r, rc, "read source record");
    if (kg_src_decode(&d, id, out)) return kg_rfail(r, PE_ERR_CORRUPT, "source record %u is malformed", id);
    out->live = out->status == PE_KG_SOURCE_RUNNING && kg_source_live(r->kg, id);
    return PE_OK;
}

/* ---- statistics ----------------------------------------------------------- */

pe_status pe_kg_stats_get(pe_kg_reader *r, pe_kg_stats *out)
{
    if (!r || !out) return PE_ERR_INVALID;
    memset(out, 0, sizeof *out);
    pe_kg *kg = r->kg;
    MDB_stat s;
    uint64_t *dst[] = {&out->terms, &out->entities, &out->literals, &out->triples, &out->sameas, &out->sources};
    const int dbs[] = {KG_T2I, KG_ENT, KG_I2L, KG_SPO, KG_SAME, KG_SRC};
    for (size_t i = 0; i < sizeof dbs / sizeof *dbs; i++) {
        int rc = mdb_stat(r->txn, kg->dbi[dbs[i]], &s);
        if (rc) return kg_mdb_rfail(r, rc, "stat");
        *dst[i] = s.ms_entries;
    }
    /* Distinct alias forms: one step per key. */
    MDB_cursor *c;
    int rc = mdb_cursor_open(r->txn, kg->dbi[KG_ALIAS], &c);
    if (rc) return kg_mdb_rfail(r, rc, "stat");
    MDB_val k, d;
    for (rc = mdb_cursor_get(c, &k, &d, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &d, MDB_NEXT_NODUP))
        out->alias_keys++;
    mdb_cursor_close(c);
    MDB_envinfo info;
    if (mdb_env_info(kg->env, &info) == 0 && mdb_env_stat(kg->env, &s) == 0)
        out->store_bytes = (uint64_t)(info.me_last_pgno + 1) * s.ms_psize;
    return PE_OK;
}
