/* link_internal.h - private pieces of the linker shared by its sources: the
 * link index environment, trigrams and acronyms, a small id hash map. */
#ifndef PE_LINK_INTERNAL_H
#define PE_LINK_INTERNAL_H

#include <lmdb.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "pe_bytes.h"
#include "pe_link.h"

#define LINK_INDEX_VERSION 3
#define LINK_CTX_VERSION 1       /* layout of the context databases (meta "ctx") */
#define LINK_CTX_TERMS 64        /* terms kept per entity vector */
#define LINK_CTX_NEIGHBOURS 32   /* neighbour labels read per entity and direction */
#define LINK_CTX_NEIGHBOUR_WEIGHT 0.5f /* a neighbour label's word counts this much */
#define LINK_MAX_ACRO_FORMS 256 /* forms kept per acronym */
#define LINK_ACRO_MIN 2
#define LINK_ACRO_MAX 8

/* A text is short (the NIL threshold of its own, pe_link_model) when at most
 * PE_LINK_SHORT_TEXT mentions are linked together. The feature
 * PE_LINK_F_FEW_MENTIONS is 1 / that count, so the ranker's training reads
 * the same rule from a mention's features. */
static inline int link_text_is_short(size_t mentions) { return mentions <= PE_LINK_SHORT_TEXT; }
static inline int link_features_short(const double *f)
{
    double few = f[PE_LINK_F_FEW_MENTIONS]; /* 1 / mentions, > 0 */
    return few > 0 && link_text_is_short((size_t)(1.0 / few + 0.5));
}

/* The first LINK_NDB_NAMES databases are the name index (pe_link_index_build);
 * idf and lex hold the context vectors (pe_link_index_embed) and may be
 * missing in an index built before them. */
enum { LINK_DB_META = 0, LINK_DB_FORM, LINK_DB_GRAM, LINK_DB_ACRO, LINK_DB_NAME, LINK_NDB_NAMES,
       LINK_DB_IDF = LINK_NDB_NAMES, LINK_DB_LEX, LINK_NDB };
extern const char *const link_db_names[LINK_NDB];
#define LINK_NAME_KEY_MAX 480 /* name keys cut here (LMDB's key limit is 511) */

static inline uint64_t link_hash64(uint64_t x)
{
    x ^= x >> 33; x *= 0xff51afd7ed558ccdULL; x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ULL; x ^= x >> 33;
    return x;
}

/* Byte trigrams of " form " (form cut to PE_LINK_FUZZY_MAX_GRAMS bytes), as
 * 24-bit integers, sorted and unique, into g[0..return). g holds
 * PE_LINK_FUZZY_MAX_GRAMS + 2. */
size_t link_trigrams(const char *form, size_t len, uint32_t *g);

/* Acronyms of a normalised multi-word form: initials of every word, and of
 * the words other than the stop words; each 2..8 letters (a-z, 0-9).
 * Writes up to 2 NUL-terminated strings into a[2][LINK_ACRO_MAX + 1];
 * returns how many (0 when the form has fewer than 2 words). */
int link_form_acronyms(const char *form, size_t len, char a[2][LINK_ACRO_MAX + 1]);

/* When a mention's surface looks like an acronym ("NBA", "U.S.", "FC"):
 * 2..8 letters or digits, the letters all upper case, optional dots after
 * letters: its lower-case letters into a (NUL-terminated), returns 1. */
int link_surface_acronym(const char *s, size_t len, char a[LINK_ACRO_MAX + 1]);

/* Trigram Dice similarity of two normalised forms, 0..1. */
double link_dice(const char *a, size_t la, const char *b, size_t lb);

/* Open-addressing map from a nonzero 64-bit key to a 32-bit value. */
typedef struct link_map {
    uint64_t *keys;
    uint32_t *vals;
    size_t cap, n; /* cap a power of two */
} link_map;
void link_map_clear(link_map *m);
void link_map_free(link_map *m);
/* Pointer to the value of key (inserted with value `init` when absent),
 * NULL on allocation failure. */
uint32_t *link_map_put(link_map *m, uint64_t key, uint32_t init);
/* Pointer to the value, or NULL when absent. */
uint32_t *link_map_get(const link_map *m, uint64_t key);

/* The index environment (opened by the linker). */
typedef struct link_index {
    MDB_env *env;
    MDB_dbi dbi[LINK_NDB];
    pe_link_index_stats stats;
    uint64_t kg_counts[3];
    int has_ctx;                 /* context vectors present (meta "ctx") */
    pe_link_embed_stats ctx;     /* their counts */
} link_index;

/* Context words of a text: maximal runs of ASCII letters and digits and of
 * non-ASCII bytes, folded (ASCII lower-cased; others through
 * pe_text_normalize), without stop words, one-letter words and numbers; as
 * 32-bit FNV-1a hashes (never 0) with their byte spans. Appends to *w
 * (grown with realloc; *n and *cap updated). -1 on allocation failure. */
typedef struct link_word { uint32_t h; uint32_t start, end; } link_word;
int link_words(const char *s, size_t len, link_word **w, size_t *n, size_t *cap);

/* PE_LINK_F_CONTEXT of every candidate of a call's mentions: opaque here,
 * implemented in link_context.c over the index's idf and lex databases.
 * ids (n_ids) are the candidates' entity ids; sims receives the cosine per
 * (mention, candidate) through the callback below. */
typedef struct link_ctx_mention {
    size_t start, end;           /* byte span */
    size_t nc;                   /* candidates */
    const pe_kg_id *ids;         /* (nc) their entity ids */
    double *out;                 /* (nc) cosine, written */
} link_ctx_mention;
/* Cosine between each mention's context (the words within `window` words
 * on each side, 0 = the whole text, the mention's own words left out) and
 * its candidates' stored vectors (0 for an entity without one). */
pe_status link_context_sims(MDB_txn *txn, const link_index *ix, const char *text, size_t len, size_t window,
                            link_ctx_mention *ms, size_t n, const char **why);

/* Opens dir read-only. PE_NOT_FOUND when there is no index there. */
pe_status link_index_open(const char *dir, link_index *ix, pe_error *err);
void link_index_close(link_index *ix);

/* pe_link_text reporting `keep` candidates a mention (the evaluation wants all). */
pe_status link_text_keep(pe_linker *l, pe_link_history *history, const char *text, size_t len,
                         const pe_link_mention *mentions, size_t n, size_t keep, pe_link_result **out);
/* The store a linker reads. */
pe_kg *link_linker_kg(pe_linker *l);

/* An LMDB error rc of the link index in dir while doing `what`, as a
 * pe_status (I/O, full, out of memory, corrupt, else store) with its message. */
pe_status link_mdb_fail(pe_error *err, int rc, const char *what, const char *dir);

#endif
