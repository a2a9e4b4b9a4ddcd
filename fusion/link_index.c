#define _GNU_SOURCE /* memrchr */
/* link_index.c - the link index: normalised forms of every label and alias,
 * their byte trigrams (fuzzy candidates) and acronyms, in an LMDB
 * environment of its own (layout in pe_link.h). Also the small helpers
 * (trigrams, acronyms, id map) the linker shares. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "link_internal.h"

/* ---- helpers ------------------------------------------------------------- */

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

size_t link_trigrams(const char *form, size_t len, uint32_t *g)
{
    if (len > PE_LINK_FUZZY_MAX_GRAMS) len = PE_LINK_FUZZY_MAX_GRAMS;
    if (len == 0) return 0;
    unsigned char buf[PE_LINK_FUZZY_MAX_GRAMS + 2];
    buf[0] = ' ';
    memcpy(buf + 1, form, len);
    buf[len + 1] = ' ';
    size_t n = 0, bl = len + 2;
    for (size_t i = 0; i + 3 <= bl; i++) g[n++] = ((uint32_t)buf[i] << 16) | ((uint32_t)buf[i + 1] << 8) | buf[i + 2];
    qsort(g, n, sizeof *g, cmp_u32);
    size_t u = 0;
    for (size_t i = 0; i < n; i++)
        if (u == 0 || g[u - 1] != g[i]) g[u++] = g[i];
    return u;
}

double link_dice(const char *a, size_t la, const char *b, size_t lb)
{
    uint32_t ga[PE_LINK_FUZZY_MAX_GRAMS + 2], gb[PE_LINK_FUZZY_MAX_GRAMS + 2];
    size_t na = link_trigrams(a, la, ga), nb = link_trigrams(b, lb, gb);
    if (na + nb == 0) return 0;
    size_t i = 0, j = 0, common = 0;
    while (i < na && j < nb) {
        if (ga[i] == gb[j]) { common++; i++; j++; }
        else if (ga[i] < gb[j]) i++;
        else j++;
    }
    return 2.0 * (double)common / (double)(na + nb);
}

static int is_stop(const char *w, size_t n)
{
    static const char *stop[] = {"of", "the", "and", "for", "de", "la", "le", "du", "des", "a", "an", "in", "on", "at", NULL};
    for (int i = 0; stop[i]; i++)
        if (strlen(stop[i]) == n && memcmp(stop[i], w, n) == 0) return 1;
    return 0;
}

int link_form_acronyms(const char *form, size_t len, char a[2][LINK_ACRO_MAX + 1])
{
    size_t nall = 0, nkey = 0, words = 0;
    int ok_all = 1, ok_key = 1;
    size_t i = 0;
    while (i < len) {
        while (i < len && form[i] == ' ') i++;
        if (i >= len) break;
        size_t s = i;
        while (i < len && form[i] != ' ') i++;
        unsigned char c = (unsigned char)form[s];
        int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        words++;
        if (!alnum) { ok_all = ok_key = 0; continue; }
        if (nall < LINK_ACRO_MAX) a[0][nall++] = (char)c; else ok_all = 0;
        if (!is_stop(form + s, i - s)) {
            if (nkey < LINK_ACRO_MAX) a[1][nkey++] = (char)c; else ok_key = 0;
        }
    }
    if (words < 2) return 0;
    a[0][nall] = 0;
    a[1][nkey] = 0;
    int n = 0;
    if (ok_all && nall >= LINK_ACRO_MIN) n = 1;
    if (ok_key && nkey >= LINK_ACRO_MIN && (nkey != nall || !n)) {
        if (n == 0) memcpy(a[0], a[1], nkey + 1);
        n++;
    }
    return n;
}

int link_surface_acronym(const char *s, size_t len, char a[LINK_ACRO_MAX + 1])
{
    size_t n = 0, letters = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.' && i > 0 && s[i - 1] != '.') continue;
        if (c >= 'A' && c <= 'Z') letters++;
        else if (!(c >= '0' && c <= '9')) return 0;
        if (n == LINK_ACRO_MAX) return 0;
        a[n++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    if (n < LINK_ACRO_MIN || letters == 0) return 0;
    a[n] = 0;
    return 1;
}

void link_map_clear(link_map *m)
{
    if (m->n) memset(m->keys, 0, m->cap * sizeof *m->keys);
    m->n = 0;
}

void link_map_free(link_map *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

static int map_grow(link_map *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 64;
    uint64_t *k = calloc(ncap, sizeof *k);
    uint32_t *v = malloc(ncap * sizeof *v);
    if (!k || !v) { free(k); free(v); return -1; }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i]) continue;
        size_t j = link_hash64(m->keys[i]) & (ncap - 1);
        while (k[j]) j = (j + 1) & (ncap - 1);
        k[j] = m->keys[i];
        v[j] = m->vals[i];
    }
    free(m->keys);
    free(m->vals);
    m->keys = k; m->vals = v; m->cap = ncap;
    return 0;
}

uint32_t *link_map_put(link_map *m, uint64_t key, uint32_t init)
{
    if ((m->n + 1) * 2 > m->cap && map_grow(m)) return NULL;
    size_t j = link_hash64(key) & (m->cap - 1);
    while (m->keys[j]) {
        if (m->keys[j] == key) return &m->vals[j];
        j = (j + 1) & (m->cap - 1);
    }
    m->keys[j] = key;
    m->vals[j] = init;
    m->n++;
    return &m->vals[j];
}

uint32_t *link_map_get(const link_map *m, uint64_t key)
{
    if (!m->cap) return NULL;
    size_t j = link_hash64(key) & (m->cap - 1);
    while (m->keys[j]) {
        if (m->keys[j] == key) return &m->vals[j];
        j = (j + 1) & (m->cap - 1);
    }
    return NULL;
}

/* ---- building ------------------------------------------------------------ */

/* Forms during the build: a string arena and a hash of form -> id. */
typedef struct form_table {
    char *arena; size_t arena_len, arena_cap;
    uint64_t *off;   /* form id -> arena offset */
    float *pop;      /* form id -> popularity of its most popular entity */
    size_t n, cap;
    uint32_t *slots; /* form id + 1, 0 = empty */
    size_t nslots;
} form_table;

static uint64_t str_hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return link_hash64(h);
}

static int ft_grow_slots(form_table *t)
{
    size_t ns = t->nslots ? t->nslots * 2 : 1 << 16;
    uint32_t *s = calloc(ns, sizeof *s);
    if (!s) return -1;
    for (size_t i = 0; i < t->n; i++) {
        const char *f = t->arena + t->off[i];
        size_t j = str_hash(f, strlen(f)) & (ns - 1);
        while (s[j]) j = (j + 1) & (ns - 1);
        s[j] = (uint32_t)i + 1;
    }
    free(t->slots);
    t->slots = s;
    t->nslots = ns;
    return 0;
}

/* Form id of f (added when new), or -1 on allocation failure. */
static int64_t ft_add(form_table *t, const char *f, size_t len, float pop)
{
    if ((t->n + 1) * 2 > t->nslots && ft_grow_slots(t)) return -1;
    size_t j = str_hash(f, len) & (t->nslots - 1);
    while (t->slots[j]) {
        uint32_t id = t->slots[j] - 1;
        const char *g = t->arena + t->off[id];
        if (strncmp(g, f, len) == 0 && g[len] == 0) {
            if (pop > t->pop[id]) t->pop[id] = pop;
            return id;
        }
        j = (j + 1) & (t->nslots - 1);
    }
    if (t->n == t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 1 << 15;
        uint64_t *o = realloc(t->off, nc * sizeof *o);
        if (!o) return -1;
        t->off = o;
        float *p = realloc(t->pop, nc * sizeof *p);
        if (!p) return -1;
        t->pop = p;
        t->cap = nc;
    }
    if (t->arena_len + len + 1 > t->arena_cap) {
        size_t nc = t->arena_cap ? t->arena_cap * 2 : 1 << 20;
        while (nc < t->arena_len + len + 1) nc *= 2;
        char *a = realloc(t->arena, nc);
        if (!a) return -1;
        t->arena = a;
        t->arena_cap = nc;
    }
    memcpy(t->arena + t->arena_len, f, len);
    t->arena[t->arena_len + len] = 0;
    t->off[t->n] = t->arena_len;
    t->pop[t->n] = pop;
    t->arena_len += len + 1;
    t->slots[j] = (uint32_t)t->n + 1;
    return (int64_t)t->n++;
}

static void ft_free(form_table *t)
{
    free(t->arena); free(t->off); free(t->pop); free(t->slots);
}

/* (key, form id) pairs: trigram postings (key = gram) and acronyms (key =
 * the acronym packed into 8 bytes). */
typedef struct pair_vec { uint64_t *k; uint32_t *v; size_t n, cap; } pair_vec;

static int pv_push(pair_vec *p, uint64_t k, uint32_t v)
{
    if (p->n == p->cap) {
        size_t nc = p->cap ? p->cap * 2 : 1 << 16;
        uint64_t *nk = realloc(p->k, nc * sizeof *nk);
        if (!nk) return -1;
        p->k = nk;
        uint32_t *nv = realloc(p->v, nc * sizeof *nv);
        if (!nv) return -1;
        p->v = nv;
        p->cap = nc;
    }
    p->k[p->n] = k;
    p->v[p->n++] = v;
    return 0;
}

/* Name entries: a form (or a variant of it) as a key, for exact and
 * prefix search in byte order. */
typedef struct name_ent { uint64_t off; uint32_t len, fid; } name_ent;
typedef struct name_vec { name_ent *e; size_t n, cap; char *arena; size_t alen, acap; } name_vec;

static int nv_push(name_vec *v, const char *s, size_t len, uint32_t fid)
{
    if (len > LINK_NAME_KEY_MAX) {
        len = LINK_NAME_KEY_MAX;
        while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80) len--;
    }
    if (v->n == v->cap) {
        size_t nc = v->cap ? v->cap * 2 : 1 << 15;
        name_ent *x = realloc(v->e, nc * sizeof *x);
        if (!x) return -1;
        v->e = x;
        v->cap = nc;
    }
    if (v->alen + len > v->acap) {
        size_t nc = v->acap ? v->acap * 2 : 1 << 20;
        while (nc < v->alen + len) nc *= 2;
        char *a = realloc(v->arena, nc);
        if (!a) return -1;
        v->arena = a;
        v->acap = nc;
    }
    memcpy(v->arena + v->alen, s, len);
    v->e[v->n++] = (name_ent){v->alen, (uint32_t)len, fid};
    v->alen += len;
    return 0;
}

static const char *g_name_arena;
static int cmp_name(const void *a, const void *b)
{
    const name_ent *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(g_name_arena + x->off, g_name_arena + y->off, n);
    if (c) return c;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return x->fid < y->fid ? -1 : x->fid > y->fid;
}

/* Writes name -> (form id u32, popularity f32) x n, names in byte order. */
static int write_names(MDB_txn *txn, MDB_dbi dbi, name_vec *v, const float *pop, size_t *nkeys)
{
    g_name_arena = v->arena;
    if (v->n > 1) qsort(v->e, v->n, sizeof *v->e, cmp_name);
    unsigned char *buf = NULL;
    size_t bcap = 0;
    int rc = 0;
    size_t i = 0;
    *nkeys = 0;
    while (i < v->n && !rc) {
        size_t j = i, n = 0;
        while (j < v->n && v->e[j].len == v->e[i].len &&
               memcmp(v->arena + v->e[j].off, v->arena + v->e[i].off, v->e[i].len) == 0)
            j++;
        if (8 * (j - i) > bcap) {
            bcap = 8 * (j - i) + 64;
            unsigned char *nb = realloc(buf, bcap);
            if (!nb) { free(buf); return ENOMEM; }
            buf = nb;
        }
        for (size_t k = i; k < j; k++) {
            if (k > i && v->e[k].fid == v->e[k - 1].fid) continue;
            uint32_t pb;
            memcpy(&pb, &pop[v->e[k].fid], 4);
            pe_put_be32(buf + 8 * n, v->e[k].fid);
            pe_put_be32(buf + 8 * n + 4, pb);
            n++;
        }
        MDB_val k = {v->e[i].len, v->arena + v->e[i].off}, d = {8 * n, buf};
        rc = mdb_put(txn, dbi, &k, &d, MDB_APPEND);
        (*nkeys)++;
        i = j;
    }
    free(buf);
    return rc;
}

/* Percent-decodes s (DBpedia labels made from IRIs: "Milo%C5%A1evi%C4%87")
 * into a malloc'd string; NULL when s has no escape or on failure. */
static char *percent_decode(const char *s, size_t len, size_t *olen)
{
    if (!memchr(s, '%', len)) return NULL;
    char *o = malloc(len + 1);
    if (!o) return NULL;
    size_t n = 0;
    int any = 0;
    for (size_t i = 0; i < len; i++) {
        int h1, h2;
#define HEX(c) ((c) >= '0' && (c) <= '9' ? (c) - '0' : (c) >= 'a' && (c) <= 'f' ? (c) - 'a' + 10 : (c) >= 'A' && (c) <= 'F' ? (c) - 'A' + 10 : -1)
        if (s[i] == '%' && i + 2 < len && (h1 = HEX(s[i + 1])) >= 0 && (h2 = HEX(s[i + 2])) >= 0) {
            o[n++] = (char)(h1 * 16 + h2);
            i += 2;
            any = 1;
        } else {
            o[n++] = s[i];
        }
#undef HEX
    }
    o[n] = 0;
    if (!any || !pe_utf8_valid(o, n, NULL)) { free(o); return NULL; }
    *olen = n;
    return o;
}

/* s without its apostrophes and hyphens (' U+2019 U+02BC, - U+2010 U+2011),
 * so that the words they split are one ("McDonald's" -> "McDonalds",
 * "Wal-Mart" -> "WalMart", as people type them); a malloc'd string, NULL
 * when s has none or on failure. */
static char *joined(const char *s, size_t len, size_t *olen)
{
    static const char *const k_marks[] = {"'", "\xe2\x80\x99", "\xca\xbc", "-", "\xe2\x80\x90", "\xe2\x80\x91", NULL};
    char *o = NULL;
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        size_t ml = 0;
        for (int k = 0; k_marks[k] && !ml; k++) {
            size_t kl = strlen(k_marks[k]);
            if (i + kl <= len && memcmp(s + i, k_marks[k], kl) == 0) ml = kl;
        }
        if (ml && !o) {
            if (!(o = malloc(len + 1))) return NULL;
            memcpy(o, s, i);
            n = i;
        }
        if (ml) { i += ml; continue; }
        if (o) o[n++] = s[i];
        i++;
    }
    if (!o) return NULL;
    o[n] = 0;
    *olen = n;
    return o;
}

/* Pushes the normalised form of raw text t (freed here) as a variant key
 * of form fid when it differs from the form f itself, after the byte tag
 * when tag is not 0 (not at all when the tagged key would be cut at
 * LINK_NAME_KEY_MAX); -1 when out of memory. */
static int push_variant(name_vec *names, char *t, size_t tl, const char *f, size_t fl, uint32_t fid, char tag)
{
    pe_status ds;
    char *df = pe_text_normalize(t, tl, &ds);
    free(t);
    if (!df) return ds == PE_ERR_NOMEM ? -1 : 0;
    size_t dl = strlen(df);
    int rc = 0;
    if (dl && (dl != fl || memcmp(df, f, fl) != 0)) {
        if (!tag) {
            rc = nv_push(names, df, dl, fid);
        } else if (dl + 1 <= LINK_NAME_KEY_MAX) { /* exact lookup only: a cut key would match a mere prefix */
            char key[LINK_NAME_KEY_MAX];
            key[0] = tag;
            memcpy(key + 1, df, dl);
            rc = nv_push(names, key, dl + 1, fid);
        }
    }
    free(df);
    return rc;
}

/* Sort order for pairs: by key, then by value (postings) or by popularity
 * descending (acronyms); a permutation array sorted with these. */
typedef struct sort_ctx { const pair_vec *p; const float *pop; } sort_ctx;
static sort_ctx g_sort; /* qsort has no context argument; the build holds build_mu */
static pthread_mutex_t build_mu = PTHREAD_MUTEX_INITIALIZER;

static int cmp_post(const void *a, const void *b)
{
    uint32_t i = *(const uint32_t *)a, j = *(const uint32_t *)b;
    const pair_vec *p = g_sort.p;
    if (p->k[i] != p->k[j]) return p->k[i] < p->k[j] ? -1 : 1;
    if (g_sort.pop) {
        float x = g_sort.pop[p->v[i]], y = g_sort.pop[p->v[j]];
        if (x != y) return x > y ? -1 : 1;
    }
    return p->v[i] < p->v[j] ? -1 : p->v[i] > p->v[j];
}

pe_status link_mdb_fail(pe_error *err, int rc, const char *what, const char *dir)
{
    pe_status st = rc == ENOENT || rc == EACCES || rc == EIO || rc == ENOSPC ? PE_ERR_IO
                   : rc == MDB_MAP_FULL                                      ? PE_ERR_FULL
                   : rc == ENOMEM                                            ? PE_ERR_NOMEM
                   : rc == MDB_CORRUPTED || rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH ? PE_ERR_CORRUPT
                                                                             : PE_ERR_STORE;
    return pe_error_set(err, st, "link index %s: %s: %s", dir, what, mdb_strerror(rc));
}

const char *const link_db_names[LINK_NDB] = {"meta", "form", "gram", "acro", "name", "idf", "lex"};

/* Writes the sorted pairs of p as key -> u32 list values. */
static int write_lists(MDB_txn *txn, MDB_dbi dbi, const pair_vec *p, const float *pop, int acro, size_t *nkeys,
                       size_t *npairs)
{
    uint32_t *perm = malloc((p->n ? p->n : 1) * sizeof *perm);
    unsigned char *buf = malloc(4 * (p->n ? p->n : 1));
    if (!perm || !buf) { free(perm); free(buf); return ENOMEM; }
    for (size_t i = 0; i < p->n; i++) perm[i] = (uint32_t)i;
    g_sort.p = p;
    g_sort.pop = acro ? pop : NULL;
    qsort(perm, p->n, sizeof *perm, cmp_post);
    int rc = 0;
    size_t i = 0;
    *nkeys = *npairs = 0;
    while (i < p->n && !rc) {
        uint64_t key = p->k[perm[i]];
        size_t n = 0;
        uint32_t last = UINT32_MAX;
        for (; i < p->n && p->k[perm[i]] == key; i++) {
            uint32_t v = p->v[perm[i]];
            if (v == last || (acro && n >= LINK_MAX_ACRO_FORMS)) continue;
            pe_put_be32(buf + 4 * n++, v);
            last = v;
        }
        unsigned char kb[8];
        MDB_val k, d = {4 * n, buf};
        if (acro) {
            pe_put_be64(kb, key);
            k.mv_data = kb;
            k.mv_size = strnlen((const char *)kb, 8);
        } else {
            kb[0] = (unsigned char)(key >> 16); kb[1] = (unsigned char)(key >> 8); kb[2] = (unsigned char)key;
            k.mv_data = kb;
            k.mv_size = 3;
        }
        rc = mdb_put(txn, dbi, &k, &d, MDB_APPEND);
        (*nkeys)++;
        *npairs += n;
    }
    free(perm);
    free(buf);
    return rc;
}

static int mkdir_p(const char *dir)
{
    struct stat sb;
    if (stat(dir, &sb) == 0) return S_ISDIR(sb.st_mode) ? 0 : ENOTDIR;
    return mkdir(dir, 0777) == 0 ? 0 : errno;
}

/* ---- sports teams: "\3" + the place a team is named after ---------------- */

/* Classes whose instances (through P279* / rdfs:subClassOf*) are sports
 * teams: Wikidata's sports team and sports club, and DBpedia's team classes
 * (the store rarely holds the DBpedia ontology's subClassOf). */
static const char *const k_team_roots[] = {
    "Q12973014", "Q847017", "Q476028", "Q6979593", "Q1194951",
    "http://dbpedia.org/ontology/SportsTeam", "http://dbpedia.org/ontology/SoccerClub",
    "http://dbpedia.org/ontology/HockeyTeam", "http://dbpedia.org/ontology/BasketballTeam",
    "http://dbpedia.org/ontology/AmericanFootballTeam", "http://dbpedia.org/ontology/RugbyClub",
    "http://dbpedia.org/ontology/BaseballTeam", "http://dbpedia.org/ontology/CricketTeam", NULL};

typedef struct team_ctx {
    pe_kg_id sup[2];  /* P279, rdfs:subClassOf */
    link_map roots;   /* team root class ids */
    link_map cache;   /* class id -> 1 + is a team class */
} team_ctx;

/* 1 when class cls is a team class (cached; a breadth-first walk up at most
 * 64 classes), 0 when not, -1 on failure. */
static int team_class(pe_kg_reader *r, team_ctx *t, pe_kg_id cls)
{
    uint32_t *v = link_map_get(&t->cache, cls);
    if (v) return (int)*v - 1;
    pe_kg_id q[64];
    size_t nq = 0, head = 0;
    int yes = 0;
    q[nq++] = cls;
    while (head < nq && !yes) {
        pe_kg_id x = q[head++];
        uint32_t *cv = link_map_get(&t->cache, x);
        if (link_map_get(&t->roots, x) || (cv && *cv == 2)) { yes = 1; break; }
        for (int k = 0; k < 2 && t->sup[k]; k++) {
            pe_kg_iter *it;
            if (pe_kg_match(r, x, t->sup[k], 0, &it) != PE_OK) continue;
            pe_kg_triple tr;
            while (pe_kg_iter_next(it, &tr) == PE_OK) {
                int seen = PE_KG_IS_LITERAL(tr.o) || nq == 64;
                for (size_t i = 0; i < nq && !seen; i++) seen = q[i] == tr.o;
                if (!seen) q[nq++] = tr.o;
            }
            pe_kg_iter_free(it);
        }
    }
    v = link_map_put(&t->cache, cls, (uint32_t)yes + 1);
    return v ? yes : -1;
}

/* 1 when entity id is a sports team by its direct classes, -1 on failure. */
static int is_team(pe_kg_reader *r, team_ctx *t, pe_kg_id id)
{
    pe_kg_id *cls = NULL;
    size_t n = 0;
    pe_status st = pe_kg_types(r, id, 0, &cls, &n);
    if (st == PE_NOT_FOUND) return 0;
    if (st != PE_OK) return -1;
    int yes = 0;
    for (size_t i = 0; i < n && !yes; i++) {
        int k = team_class(r, t, cls[i]);
        if (k < 0) { free(cls); return -1; }
        yes = k;
    }
    free(cls);
    return yes;
}

/* Keys "\3" + the first 1..3 words of a team's name (less the whole name):
 * the place or word it is named after ("toronto" -> "toronto blue jays");
 * a leading club abbreviation is skipped ("fc bayern munich" -> "bayern",
 * "bayern munich") and a first word in -er also gives its stem
 * ("karlsruher sc" -> "karlsruhe", "hamburger sv" -> "hamburg"). */
static int team_keys(name_vec *names, const char *f, size_t fl, uint32_t fid)
{
    static const char *abbr[] = {"fc", "afc", "ac", "as", "sc", "sv", "fk", "sk", "cf", "cd", "vfb", "vfl", "tsv", "1", NULL};
    size_t start = 0;
    const char *sp = memchr(f, ' ', fl);
    if (sp) {
        size_t w = (size_t)(sp - f);
        for (int k = 0; abbr[k]; k++)
            if (strlen(abbr[k]) == w && memcmp(f, abbr[k], w) == 0) start = w + 1;
    }
    char key[LINK_NAME_KEY_MAX + 2];
    size_t end = start, words = 0;
    while (end < fl && words < 3) {
        const char *nx = memchr(f + end, ' ', fl - end);
        size_t we = nx ? (size_t)(nx - f) : fl;
        words++;
        if (we >= fl) break; /* the whole (rest of the) name: not a key */
        size_t kl = we - start;
        if (kl + 1 > LINK_NAME_KEY_MAX) break;
        key[0] = 3;
        memcpy(key + 1, f + start, kl);
        if (nv_push(names, key, kl + 1, fid)) return -1;
        if (words == 1 && kl >= 6 && f[start + kl - 2] == 'e' && f[start + kl - 1] == 'r') {
            /* "karlsruher" -> "karlsruhe", "hamburger" -> "hamburg" */
            if (nv_push(names, key, kl, fid)) return -1;
            if (nv_push(names, key, kl - 1, fid)) return -1;
        }
        end = we + 1;
    }
    return 0;
}

pe_status pe_link_index_build(pe_kg *kg, const char *dir, pe_link_index_stats *stats, pe_error *err)
{
    if (!kg || !dir || !*dir) return pe_error_set(err, PE_ERR_INVALID, "link index: no store or directory");
    double t0 = pe_now();
    int rc = mkdir_p(dir);
    if (rc) return pe_error_set(err, PE_ERR_IO, "link index %s: cannot make the directory: %s", dir, strerror(rc));
    pe_kg_reader *r = NULL;
    pe_status st = pe_kg_reader_begin(kg, &r);
    if (st != PE_OK) return pe_error_set(err, st, "link index: %s", pe_kg_errmsg(kg));
    pe_kg_stats ks;
    st = pe_kg_stats_get(r, &ks);
    if (st != PE_OK) {
        pe_kg_reader_end(r);
        return pe_error_set(err, st, "link index: %s", pe_kg_errmsg(kg));
    }
    form_table ft = {0};
    team_ctx team = {{0, 0}, {0}, {0}};
    pair_vec grams = {0}, acros = {0};
    name_vec names = {0};
    pe_link_index_stats s = {0};
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    pe_kg_id adj_p[2] = {0, 0}; /* P37 official language, P172 ethnic group */
    pe_kg_resolve(r, "P37", 3, &adj_p[0]);
    pe_kg_resolve(r, "P172", 4, &adj_p[1]);
    pe_kg_resolve(r, "P279", 4, &team.sup[0]);
    pe_kg_resolve(r, "http://www.w3.org/2000/01/rdf-schema#subClassOf", 47, &team.sup[1]);
    for (int k = 0; k_team_roots[k]; k++) {
        pe_kg_id cid;
        if (pe_kg_resolve(r, k_team_roots[k], strlen(k_team_roots[k]), &cid) == PE_OK && !link_map_put(&team.roots, cid, 1))
            goto nomem;
    }
    /* Entity ids are 1..terms (pe_kg.h: ids grow from 1); merged-away ids
     * give their canonical record, which is read at its own id. */
    uint64_t misses = 0;
    for (pe_kg_id id = 1; id <= ks.terms || misses < 1024; id++) {
        pe_kg_entity *e = NULL;
        st = pe_kg_entity_get(r, id, &e);
        if (st == PE_NOT_FOUND) { if (id > ks.terms) misses++; continue; }
        if (st != PE_OK) { pe_error_set(err, st, "link index: entity %llu: %s", (unsigned long long)id, pe_kg_errmsg(kg)); goto fail; }
        misses = 0;
        if (e->id == id) {
            s.entities++;
            float pop = (float)(log1p((double)e->sitelinks) + log1p((double)e->in_degree));
            int64_t label_fid = -1; /* form id of its first English label */
            int team_ent = is_team(r, &team, id);
            if (team_ent < 0) { pe_kg_entity_free(e); st = PE_ERR_NOMEM; goto nomem; }
            for (size_t i = 0; i < e->n_texts; i++) {
                if (e->texts[i].kind == PE_KG_DESCRIPTION) continue;
                pe_status ns;
                char *f = pe_text_normalize(e->texts[i].text, strlen(e->texts[i].text), &ns);
                if (!f) { if (ns == PE_ERR_NOMEM) { st = ns; pe_kg_entity_free(e); goto nomem; } continue; }
                size_t fl = strlen(f);
                if (fl > 500) fl = 500; /* the alias index cuts there too (pe_kg.h) */
                while (fl > 0 && ((unsigned char)f[fl] & 0xC0) == 0x80) fl--;
                if (fl == 0) { free(f); continue; }
                size_t before = ft.n;
                int64_t fid = ft_add(&ft, f, fl, pop);
                if (fid < 0) { free(f); pe_kg_entity_free(e); goto nomem; }
                if (label_fid < 0 && e->texts[i].kind == PE_KG_LABEL && strcmp(e->texts[i].lang, "en") == 0) label_fid = fid;
                if (team_ent && team_keys(&names, f, fl, (uint32_t)fid)) { free(f); pe_kg_entity_free(e); goto nomem; }
                /* variant keys, for every text (a form that another text
                 * made first, "Bi Lo" before "BI-LO", gets them too): the
                 * percent-decoded label, and, after byte 4 (exact lookup
                 * only: joined words are no prefix of longer names or
                 * stems), the label with its words joined across
                 * apostrophes and hyphens */
                size_t dl = 0;
                const char *raw = e->texts[i].text;
                char *dec = percent_decode(raw, strlen(raw), &dl);
                size_t jl = 0;
                char *jn = joined(dec ? dec : raw, dec ? dl : strlen(raw), &jl);
                int vrc = jn ? push_variant(&names, jn, jl, f, fl, (uint32_t)fid, 4) : 0;
                if (dec && push_variant(&names, dec, dl, f, fl, (uint32_t)fid, 0)) vrc = -1;
                if (vrc) { free(f); pe_kg_entity_free(e); goto nomem; }
                if (ft.n != before) {
                    if (nv_push(&names, f, fl, (uint32_t)fid)) { free(f); pe_kg_entity_free(e); goto nomem; }
                    /* "\1" + the last word of a name of 2..4 words: suffix search */
                    size_t words = 1;
                    for (size_t q = 0; q < fl; q++) words += f[q] == ' ';
                    const char *last = memrchr(f, ' ', fl);
                    if (words >= 2 && words <= 4 && last && (size_t)(f + fl - last) <= 64) {
                        char key[66];
                        size_t kl = (size_t)(f + fl - last - 1);
                        key[0] = 1;
                        memcpy(key + 1, last + 1, kl);
                        if (nv_push(&names, key, kl + 1, (uint32_t)fid)) { free(f); pe_kg_entity_free(e); goto nomem; }
                    }
                    uint32_t g[PE_LINK_FUZZY_MAX_GRAMS + 2];
                    size_t ng = link_trigrams(f, fl, g);
                    for (size_t k = 0; k < ng; k++)
                        if (pv_push(&grams, g[k], (uint32_t)fid)) { free(f); pe_kg_entity_free(e); goto nomem; }
                    char a[2][LINK_ACRO_MAX + 1];
                    int na = link_form_acronyms(f, fl, a);
                    for (int k = 0; k < na; k++) {
                        uint64_t key = 0; /* big-endian packing: numeric order is byte order */
                        for (size_t c = 0; a[k][c]; c++) key |= (uint64_t)(unsigned char)a[k][c] << (56 - 8 * c);
                        if (pv_push(&acros, key, (uint32_t)fid)) { free(f); pe_kg_entity_free(e); goto nomem; }
                    }
                }
                free(f);
            }
            /* adjectives of a place from the graph: the labels of its official
             * languages and of its peoples less " people" ("Polish" -> Poland) */
            for (int k = 0; k < 2 && label_fid >= 0; k++) {
                if (!adj_p[k]) continue;
                pe_kg_iter *it;
                st = pe_kg_match(r, id, adj_p[k], 0, &it);
                if (st == PE_NOT_FOUND) continue;
                if (st != PE_OK) { pe_kg_entity_free(e); pe_error_set(err, st, "link index: %s", pe_kg_errmsg(kg)); goto fail; }
                pe_kg_triple t;
                while ((st = pe_kg_iter_next(it, &t)) == PE_OK) {
                    const char *lab;
                    if (PE_KG_IS_LITERAL(t.o) || pe_kg_label(r, t.o, "en", &lab) != PE_OK) continue;
                    size_t ll = strlen(lab);
                    if (k == 1 && ll > 7 && strcmp(lab + ll - 7, " people") == 0) ll -= 7;
                    else if (k == 1) continue;
                    pe_status ns;
                    char *a = pe_text_normalize(lab, ll, &ns);
                    if (!a) { if (ns == PE_ERR_NOMEM) { pe_kg_iter_free(it); pe_kg_entity_free(e); goto nomem; } continue; }
                    size_t al = strlen(a);
                    if (al > 0 && al <= 62 && !strchr(a, ' ')) {
                        char key[64];
                        key[0] = 2;
                        memcpy(key + 1, a, al);
                        if (nv_push(&names, key, al + 1, (uint32_t)label_fid)) { free(a); pe_kg_iter_free(it); pe_kg_entity_free(e); goto nomem; }
                    }
                    free(a);
                }
                pe_kg_iter_free(it);
                if (st != PE_DONE) { pe_kg_entity_free(e); pe_error_set(err, st, "link index: %s", pe_kg_errmsg(kg)); goto fail; }
                st = PE_OK;
            }
        }
        pe_kg_entity_free(e);
    }
    pe_kg_reader_end(r);
    r = NULL;

    rc = mdb_env_create(&env);
    if (!rc) rc = mdb_env_set_maxdbs(env, LINK_NDB);
    if (!rc) rc = mdb_env_set_mapsize(env, (size_t)64 << 30);
    if (!rc) rc = mdb_env_open(env, dir, MDB_NOTLS | MDB_NOSYNC, 0666);
    if (rc) { st = link_mdb_fail(err, rc, "open", dir); goto fail; }
    rc = mdb_txn_begin(env, NULL, 0, &txn);
    if (rc) { st = link_mdb_fail(err, rc, "begin", dir); goto fail; }
    MDB_dbi dbi[LINK_NDB];
    for (int i = 0; i < LINK_NDB && !rc; i++) {
        rc = mdb_dbi_open(txn, link_db_names[i], MDB_CREATE, &dbi[i]);
        if (!rc) rc = mdb_drop(txn, dbi[i], 0); /* a rebuild starts empty */
    }
    if (rc) { st = link_mdb_fail(err, rc, "open databases", dir); goto fail; }
    /* forms */
    {
        unsigned char *vb = NULL;
        size_t vcap = 0;
        for (size_t i = 0; i < ft.n && !rc; i++) {
            const char *f = ft.arena + ft.off[i];
            size_t fl = strlen(f);
            if (fl + 5 > vcap) {
                vcap = fl + 5 + 256;
                unsigned char *nb = realloc(vb, vcap);
                if (!nb) { free(vb); goto nomem; }
                vb = nb;
            }
            uint32_t pb;
            memcpy(&pb, &ft.pop[i], 4);
            pe_put_be32(vb, pb);
            memcpy(vb + 4, f, fl + 1);
            unsigned char kb[4];
            pe_put_be32(kb, (uint32_t)i);
            MDB_val k = {4, kb}, d = {fl + 5, vb};
            rc = mdb_put(txn, dbi[LINK_DB_FORM], &k, &d, MDB_APPEND);
        }
        free(vb);
        if (rc) { st = link_mdb_fail(err, rc, "write forms", dir); goto fail; }
    }
    pthread_mutex_lock(&build_mu);
    size_t nk, np;
    rc = write_lists(txn, dbi[LINK_DB_GRAM], &grams, ft.pop, 0, &nk, &np);
    s.trigrams = nk;
    s.postings = np;
    if (!rc) rc = write_lists(txn, dbi[LINK_DB_ACRO], &acros, ft.pop, 1, &nk, &np);
    s.acronyms = np;
    if (!rc) rc = write_names(txn, dbi[LINK_DB_NAME], &names, ft.pop, &nk);
    pthread_mutex_unlock(&build_mu);
    if (rc) { st = link_mdb_fail(err, rc, "write lists", dir); goto fail; }
    s.forms = ft.n;
    s.seconds = pe_now() - t0;
    {
        unsigned char v[8 * 7];
        MDB_val k = {7, "version"}, d = {4, v};
        pe_put_be32(v, LINK_INDEX_VERSION);
        rc = mdb_put(txn, dbi[LINK_DB_META], &k, &d, 0);
        pe_put_be64(v, ks.terms); pe_put_be64(v + 8, ks.entities); pe_put_be64(v + 16, ks.triples);
        k.mv_size = 2; k.mv_data = "kg"; d.mv_size = 24;
        if (!rc) rc = mdb_put(txn, dbi[LINK_DB_META], &k, &d, 0);
        uint64_t c[6] = {s.forms, s.trigrams, s.postings, s.acronyms, s.typed, s.entities};
        for (int i = 0; i < 6; i++) pe_put_be64(v + 8 * i, c[i]);
        uint64_t sb;
        memcpy(&sb, &s.seconds, 8);
        pe_put_be64(v + 48, sb);
        k.mv_size = 5; k.mv_data = "stats"; d.mv_size = 56;
        if (!rc) rc = mdb_put(txn, dbi[LINK_DB_META], &k, &d, 0);
    }
    if (!rc) rc = mdb_txn_commit(txn);
    txn = NULL;
    if (!rc) rc = mdb_env_sync(env, 1);
    if (rc) { st = link_mdb_fail(err, rc, "commit", dir); goto fail; }
    mdb_env_close(env);
    ft_free(&ft);
    free(grams.k); free(grams.v); free(acros.k); free(acros.v);
    free(names.e); free(names.arena);
    link_map_free(&team.roots); link_map_free(&team.cache);
    if (stats) *stats = s;
    return PE_OK;
nomem:
    st = pe_error_set(err, PE_ERR_NOMEM, "link index: out of memory");
fail:
    if (txn) mdb_txn_abort(txn);
    if (env) mdb_env_close(env);
    pe_kg_reader_end(r);
    ft_free(&ft);
    free(grams.k); free(grams.v); free(acros.k); free(acros.v);
    free(names.e); free(names.arena);
    link_map_free(&team.roots); link_map_free(&team.cache);
    return st;
}

/* ---- opening ------------------------------------------------------------- */

pe_status link_index_open(const char *dir, link_index *ix, pe_error *err)
{
    memset(ix, 0, sizeof *ix);
    char path[4096];
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    struct stat sb;
    if (stat(path, &sb) != 0) return PE_NOT_FOUND;
    int rc = mdb_env_create(&ix->env);
    if (!rc) rc = mdb_env_set_maxdbs(ix->env, LINK_NDB);
    if (!rc) rc = mdb_env_set_maxreaders(ix->env, 1024);
    if (!rc) rc = mdb_env_open(ix->env, dir, MDB_NOTLS | MDB_RDONLY | MDB_NOLOCK, 0666);
    if (rc) {
        pe_status st = link_mdb_fail(err, rc, "open", dir);
        link_index_close(ix);
        return st;
    }
    MDB_txn *txn = NULL;
    rc = mdb_txn_begin(ix->env, NULL, MDB_RDONLY, &txn);
    if (rc) txn = NULL;
    for (int i = 0; i < LINK_NDB_NAMES && !rc; i++) rc = mdb_dbi_open(txn, link_db_names[i], 0, &ix->dbi[i]);
    pe_status st = PE_OK;
    if (rc) {
        st = rc == MDB_NOTFOUND ? pe_error_set(err, PE_ERR_CORRUPT, "link index %s: not a link index", dir)
                                : link_mdb_fail(err, rc, "open databases", dir);
    } else {
        MDB_val k = {7, "version"}, d;
        rc = mdb_get(txn, ix->dbi[LINK_DB_META], &k, &d);
        if (rc || d.mv_size != 4 || pe_get_be32(d.mv_data) != LINK_INDEX_VERSION) {
            st = pe_error_set(err, PE_ERR_CORRUPT, "link index %s: missing or other version (rebuild it)", dir);
        } else {
            k.mv_size = 2; k.mv_data = "kg";
            if (mdb_get(txn, ix->dbi[LINK_DB_META], &k, &d) == 0 && d.mv_size == 24)
                for (int i = 0; i < 3; i++) ix->kg_counts[i] = pe_get_be64((unsigned char *)d.mv_data + 8 * i);
            k.mv_size = 5; k.mv_data = "stats";
            if (mdb_get(txn, ix->dbi[LINK_DB_META], &k, &d) == 0 && d.mv_size == 56) {
                const unsigned char *v = d.mv_data;
                ix->stats.forms = pe_get_be64(v); ix->stats.trigrams = pe_get_be64(v + 8);
                ix->stats.postings = pe_get_be64(v + 16); ix->stats.acronyms = pe_get_be64(v + 24);
                ix->stats.typed = pe_get_be64(v + 32); ix->stats.entities = pe_get_be64(v + 40);
                uint64_t sb64 = pe_get_be64(v + 48);
                memcpy(&ix->stats.seconds, &sb64, 8);
            }
            /* context vectors: optional (pe_link_index_embed) */
            k.mv_size = 3; k.mv_data = "ctx";
            if (mdb_get(txn, ix->dbi[LINK_DB_META], &k, &d) == 0 && d.mv_size == 44 &&
                pe_get_be32(d.mv_data) == LINK_CTX_VERSION &&
                mdb_dbi_open(txn, link_db_names[LINK_DB_IDF], 0, &ix->dbi[LINK_DB_IDF]) == 0 &&
                mdb_dbi_open(txn, link_db_names[LINK_DB_LEX], 0, &ix->dbi[LINK_DB_LEX]) == 0) {
                const unsigned char *v = (const unsigned char *)d.mv_data + 4;
                ix->ctx.entities = pe_get_be64(v); ix->ctx.vectors = pe_get_be64(v + 8);
                ix->ctx.words = pe_get_be64(v + 16); ix->ctx.terms = pe_get_be64(v + 24);
                uint64_t sb64 = pe_get_be64(v + 32);
                memcpy(&ix->ctx.seconds, &sb64, 8);
                ix->has_ctx = 1;
            }
        }
    }
    /* committing keeps the database handles (an abort would drop them) */
    if (txn && st == PE_OK) {
        rc = mdb_txn_commit(txn);
        if (rc) st = link_mdb_fail(err, rc, "open databases", dir);
    } else if (txn) {
        mdb_txn_abort(txn);
    }
    if (st != PE_OK) link_index_close(ix);
    return st;
}

void link_index_close(link_index *ix)
{
    if (ix->env) mdb_env_close(ix->env);
    memset(ix, 0, sizeof *ix);
}
