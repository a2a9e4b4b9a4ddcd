/* kg_internal.h - private pieces of the graph store shared by its sources:
 * the handle, writer and reader structs, key/value encodings (see the
 * "LMDB layout" section of pe_kg.h) and the writer-side term cache. */
#ifndef PE_KG_INTERNAL_H
#define PE_KG_INTERNAL_H

#include <lmdb.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "pe_bytes.h"
#include "pe_kg.h"

#define KG_LAYOUT_VERSION 2 /* 1: texts held one source (before 88a3e90) */
#define KG_MAX_KEY 511          /* LMDB's default maximum key size */
#define KG_LONG_KEY_PREFIX 400  /* longer keys: prefix + 0xFF + 16-byte hash */
#define KG_ALIAS_KEY_MAX 500    /* alias forms truncated here (UTF-8 boundary) */

/* Named databases. */
enum {
    KG_META = 0, KG_T2I, KG_I2T, KG_L2I, KG_I2L, KG_ENT, KG_TXT, KG_ALIAS, KG_SITE,
    KG_SPO, KG_POS, KG_OSP, KG_TSRC, KG_SAME, KG_REDIR, KG_SRC, KG_NDB
};

#define KG_SPO_VAL 21   /* p(8) o(8) rank(1) source(4) */
#define KG_PAIR_VAL 16  /* POS: o(8) s(8); OSP: s(8) p(8) */
#define KG_ALIAS_VAL 9  /* id(8) flag(1) */
#define KG_SAME_VAL 12  /* id(8) source(4) */
#define KG_ENT_FIXED 12 /* kind(1) flags(1) 0(2) sitelinks(4) source(4) [datatype\0] */

#define KG_REDIRECT_PRELOAD_MAX 2000000 /* merges held in memory by a writer's handle */
#define KG_TXT_MAX_SOURCES 64 /* sources kept per text (the first one always) */
#define KG_RC_CORRUPT (-2) /* internal return code: a record failed to decode */

#define KG_ALIAS_FLAG_LABEL 1
#define KG_ALIAS_FLAG_ALIAS 2

/* Writer-side term cache: term key bytes -> id. Open addressing; bounded
 * (cleared when full). "complete" means every term in the store is in it,
 * so that a miss needs no database lookup. */
#define KG_CACHE_INLINE 16
typedef struct kg_cache_slot {
    uint64_t id;   /* 0 = empty */
    uint32_t hash; /* high half of kg_cache_hash; its low bits pick the slot */
    uint32_t len;
    union {
        uint32_t off;                        /* arena offset, len > KG_CACHE_INLINE */
        unsigned char inl[KG_CACHE_INLINE];  /* short keys (QIDs) live in the slot */
    } k;
} kg_cache_slot;

typedef struct kg_cache {
    kg_cache_slot *slots;
    size_t cap, n;
    unsigned char *arena;
    size_t arena_len, arena_cap;
    int complete;
} kg_cache;

/* id -> id map (merged ids -> canonical), open addressing. */
typedef struct kg_idmap {
    uint64_t *keys, *vals;
    size_t cap, n;
    /* one bit per key below 2^30 (term ids are dense): most lookups are
     * misses, answered without touching the hash table */
    uint64_t *bits;
    size_t nwords;
    int big;             /* a key >= 2^30 is in the map (the bits cannot tell) */
} kg_idmap;

/* Per-batch pending entity record update. */
typedef struct kg_ent_upd {
    uint64_t id;          /* 0 = empty slot */
    int kind;             /* -1 = unchanged */
    uint32_t dt_off;      /* offset+1 of the datatype in the writer arena, 0 = none */
    uint32_t sitelinks;   /* new sitelinks added in this batch */
    uint32_t source;      /* first source that described it (0 = none) */
} kg_ent_upd;

struct pe_kg {
    MDB_env *env;
    MDB_dbi dbi[KG_NDB];
    int read_only;
    int no_sync;
    size_t map_size;
    pthread_mutex_t mu;   /* guards err and the counters below */
    pe_error err;         /* open, begin, commit, sync; the writer's (mirrored) */
    int active_txns;      /* readers + writer alive in this process */
    pe_kg_writer *writer;
    char *dir;
    /* writer-side state kept across batches of this handle */
    kg_cache cache;
    kg_idmap redirects;   /* ids merged away in this handle's writers */
    int redir_complete;   /* redirects also holds every merge in the store
                             (loaded with the cache), so no lookup is needed */
    uint64_t gen;         /* store generation after our last commit (0 = unknown) */
    int cache_loaded;
    pe_kg_writer *spare;  /* the last writer, emptied, kept for its buffers */
    /* imports running now: byte-range locks on DIR/sources.lock (fcntl:
     * released when the process dies), and the ids this handle holds */
    int lock_fd;          /* -1 = not opened yet, -2 = cannot be opened */
    uint32_t held[16];
    int n_held;
};

/* Writes deferred to the end of the batch and applied in key order (random
 * inserts into big B-trees cost several times more than ordered ones).
 * Variable records: u16 klen, u16 vlen, key, value. */
enum { KG_PEND_T2I, KG_PEND_L2I, KG_PEND_ALIAS, KG_NPEND };
typedef struct kg_vpend {
    unsigned char *b;
    size_t len, cap;
    uint32_t *off;
    size_t n, ncap;
} kg_vpend;

/* POS (k=p, a=o, b=s) and OSP (k=o, a=s, b=p) entries. */
typedef struct kg_trip3 { uint64_t k, a, b; } kg_trip3;
typedef struct kg_tpend {
    kg_trip3 *r;
    size_t n, cap;
} kg_tpend;

#define KG_PEND_MAX 2000000 /* entries held before an early flush */

struct pe_kg_writer {
    pe_error err;             /* this writer's last failure */
    kg_vpend pend[KG_NPEND];
    kg_tpend pos, osp;
    pe_kg *kg;
    MDB_txn *txn;
    MDB_cursor *cur[KG_NDB];
    uint64_t next_term, next_lit, gen;
    uint64_t max_key[KG_NDB]; /* largest leading id in id-keyed dbs (append fast path) */
    pe_status failed;         /* sticky: a failure that broke the transaction */
    int tsrc_any;             /* triple_src has entries (else merges skip it) */
    kg_ent_upd *ents;
    size_t ents_cap, ents_n;
    uint32_t *ents_used;      /* slots in use, so that a flush costs O(used) */
    kg_ent_upd *last_ent;     /* the last one asked for (calls come grouped) */
    kg_ent_upd *ents_tmp;     /* the used records, sorted, while flushing */
    unsigned char *arena;     /* datatype strings of ents */
    size_t arena_len, arena_cap;
    unsigned char *buf;       /* scratch for encodings */
    size_t buf_cap;
    char *form;               /* scratch for alias forms */
    size_t form_cap;
    /* Ids made by this writer (>= first_new) that no call has given data
     * yet are bare: a sameAs merge into one swaps terms without reading
     * (or flushing) anything. Bit (id - first_new) set = used. */
    uint64_t first_new;
    uint64_t *used;
    size_t used_words;
    void *scratch;            /* sort buffers at flush time */
    size_t scratch_cap;
};

/* Well-known terms, resolved lazily per reader. */
enum { KG_WK_P31, KG_WK_P279, KG_WK_RDF_TYPE, KG_WK_SUBCLASS, KG_NWK };

struct pe_kg_reader {
    pe_error err;                         /* this reader's last failure */
    pe_kg *kg;
    MDB_txn *txn;
    MDB_cursor *cur[KG_NDB];
    pe_kg_id wk[KG_NWK];
    int wk_done;
    char *buf; size_t buf_cap;            /* scratch (normalised text) */
    void *cands; size_t cands_cap;        /* lookup scratch */
};

/* Byte order: every integer is big-endian in keys and values (pe_bytes.h). */
#define KG_LIT_BIT (UINT64_C(1) << 63)

/* 64-bit FNV-1a, then a final mix. */
static inline uint64_t kg_hash(const void *data, size_t len, uint64_t seed)
{
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ULL ^ seed;
    for (size_t i = 0; i < len; i++) { h ^= p[i]; h *= 0x100000001b3ULL; }
    h ^= h >> 33; h *= 0xff51afd7ed558ccdULL; h ^= h >> 33;
    return h;
}

/* Hash of the in-memory term cache (never stored): 8 bytes a step. */
static inline uint64_t kg_cache_hash(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ ((uint64_t)len * 0xff51afd7ed558ccdULL);
    while (len >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        h = (h ^ v) * 0xbf58476d1ce4e5b9ULL;
        h ^= h >> 29;
        p += 8;
        len -= 8;
    }
    uint64_t v = 0;
    memcpy(&v, p, len);
    h = (h ^ v) * 0x94d049bb133111ebULL;
    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 32;
    return h;
}

/* Hash of an id for the in-memory id maps (splitmix64 finaliser). */
static inline uint64_t kg_mix64(uint64_t x, uint64_t seed)
{
    x += seed * 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* ---- record decoders (kg_decode.c) ---------------------------------------
 * Each checks that every length, offset and string it reads lies inside
 * the n bytes given and returns 0, or -1 for a malformed record (callers
 * report PE_ERR_CORRUPT). Strings point into the record. */
#define KG_SRC_FIXED 116    /* source record (version 2): fixed part before the strings */
#define KG_SRC_FIXED_V1 108 /* version 1: no statements count */
enum { KG_SRC_NSTR = 6 };

typedef struct kg_ent_rec {
    int kind;             /* PE_KG_KIND_UNKNOWN..RESOURCE */
    const char *datatype; /* NULL when absent */
    uint32_t sitelinks, source;
} kg_ent_rec;

typedef struct kg_txt_key {
    uint64_t id;
    int kind;             /* pe_kg_text_kind */
    const char *lang;     /* NUL-terminated inside the key */
    size_t lang_len;
    uint64_t h;
} kg_txt_key;

typedef struct kg_txt_val {
    size_t n_sources;              /* 1..KG_TXT_MAX_SOURCES */
    const unsigned char *sources;  /* u32 x n_sources, big-endian */
    const char *text;              /* NUL-terminated at text_len */
    size_t text_len;
} kg_txt_val;

typedef struct kg_site_rec {
    uint64_t id;
    const char *site;     /* NUL-terminated inside the key */
    const char *title;    /* NUL-terminated at title_len */
    size_t title_len;
    uint32_t source;
} kg_site_rec;

int kg_dec_id_key(const void *k, size_t n, uint64_t *id);             /* 8 bytes, not 0 */
int kg_dec_term(const void *v, size_t n, const char **term, size_t *len); /* term\0 */
int kg_dec_entity(const void *v, size_t n, kg_ent_rec *out);
int kg_dec_text_key(const void *k, size_t n, kg_txt_key *out);
int kg_dec_text_val(const void *v, size_t n, kg_txt_val *out);
int kg_dec_sitelink(const void *k, size_t kn, const void *v, size_t vn, kg_site_rec *out);
int kg_dec_literal(const void *v, size_t n, pe_kg_value *out);
int kg_dec_spo(const void *v, size_t n, uint64_t *p, uint64_t *o, int *rank, uint32_t *source);
int kg_dec_pair(const void *v, size_t n, uint64_t *a, uint64_t *b);    /* POS, OSP */
int kg_dec_alias(const void *v, size_t n, uint64_t *id, int *flag);
int kg_dec_same(const void *v, size_t n, uint64_t *id, uint32_t *source);
int kg_dec_source(const void *v, size_t n, uint32_t id, pe_kg_source *out);

/* ---- shared helpers (kg_store.c) ----------------------------------------- */
pe_status kg_fail(pe_kg *kg, pe_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
pe_status kg_mdb_fail(pe_kg *kg, int rc, const char *what);
/* The same for a reader's and a writer's failures (their own messages). */
pe_status kg_rfail(pe_kg_reader *r, pe_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
pe_status kg_wfail(pe_kg_writer *w, pe_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
pe_status kg_mdb_rfail(pe_kg_reader *r, int rc, const char *what);
pe_status kg_mdb_wfail(pe_kg_writer *w, int rc, const char *what);
/* Name of database KG_* ("spo", ...). */
const char *kg_db_name(int db);
/* Builds the lookup key of a term (long ones hashed) into out[KG_MAX_KEY];
 * returns its length. */
size_t kg_term_key(const unsigned char *term, size_t len, unsigned char *out);
/* Wikidata entity IRI -> "Q90" etc. Returns the canonical slice. */
void kg_canon_term(const char **term, size_t *len);
/* 1 when term is a Wikidata id (Q123, P31, L7). */
int kg_is_wikidata_id(const char *t, size_t len);
/* Alias-index form of a text: normalised and truncated. malloc'd. */
char *kg_alias_form(const char *text, size_t len, size_t *out_len, pe_status *st);
/* The same into *buf (grown with realloc; *cap its size); returns *buf. */
char *kg_alias_form_buf(const char *text, size_t len, char **buf, size_t *cap, size_t *out_len, pe_status *st);

/* mdb_txn_begin that adopts a map grown by another process. */
int kg_txn_begin(pe_kg *kg, unsigned flags, MDB_txn **txn);

/* cache */
void kg_cache_free(kg_cache *c);
void kg_cache_clear(kg_cache *c);
uint64_t kg_cache_get(const kg_cache *c, const unsigned char *k, size_t len, uint64_t h);
/* Inserts or updates; on exhaustion the cache is cleared (complete = 0)
 * and 1 is returned. */
int kg_cache_put(kg_cache *c, const unsigned char *k, size_t len, uint64_t h, uint64_t id);

void kg_idmap_free(kg_idmap *m);
uint64_t kg_idmap_get(const kg_idmap *m, uint64_t k);
int kg_idmap_put(kg_idmap *m, uint64_t k, uint64_t v);

/* writer internals (kg_write.c) used by kg_store.c */
pe_status kg_writer_flush_entities(pe_kg_writer *w);
pe_status kg_writer_flush_pending(pe_kg_writer *w);
void kg_writer_free(pe_kg_writer *w);

#endif
