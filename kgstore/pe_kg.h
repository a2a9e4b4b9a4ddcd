/*
 * pe_kg.h - the knowledge-graph store (LMDB).
 *
 * Usage:
 *
 *     pe_kg *kg;
 *     pe_kg_options o = pe_kg_options_default();
 *     if (pe_kg_open("kg.db", &o, &kg) != PE_OK) { ... pe_kg_errmsg(kg) ... }
 *
 *     // write (one writer at a time; other processes' writers wait)
 *     pe_kg_writer *w;
 *     pe_kg_writer_begin(kg, &w);
 *     pe_kg_id q90, p31, q515;
 *     pe_kg_intern(w, "Q90", 3, &q90); ...
 *     pe_kg_value v = { .type = PE_KG_VAL_ENTITY, .entity = q515 };
 *     pe_kg_put_triple(w, q90, p31, &v, PE_KG_RANK_NORMAL, source);
 *     pe_kg_writer_commit(w);
 *
 *     // read (any number of readers, threads and processes, MVCC snapshots)
 *     pe_kg_reader *r;
 *     pe_kg_reader_begin(kg, &r);
 *     pe_kg_candidate c[10]; size_t n;
 *     pe_kg_lookup(r, "Paris", 5, NULL, c, 10, &n);
 *     pe_kg_reader_end(r);
 *     pe_kg_close(kg);
 *
 * Terms. Every node is a term with a 64-bit id (0 means "none"): Wikidata
 * entities by their id ("Q90", "P31", "L7"; the IRI
 * http://www.wikidata.org/entity/Q90 is canonicalised to "Q90"), other
 * resources by full IRI, and literals (see pe_kg_value). owl:sameAs between
 * two resources merges them: the Wikidata id becomes the canonical entity,
 * the other term resolves to it, and every label and triple keeps the source
 * (import) that said it.
 *
 * Errors: functions return a pe_status; the detail of the last failure on a
 * handle is in pe_kg_errmsg(kg) (or the writer's/reader's kg). Borrowed
 * strings and arrays returned by reader functions stay valid until
 * pe_kg_reader_end() or pe_kg_reader_renew() on that reader.
 *
 * Record layouts: see the "LMDB layout" section at the end of this header.
 */
#ifndef PE_KG_H
#define PE_KG_H

#include <stddef.h>
#include <stdint.h>

#include "pe_util.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef uint64_t pe_kg_id; /* 0 = none / wildcard */

typedef struct pe_kg pe_kg;
typedef struct pe_kg_writer pe_kg_writer;
typedef struct pe_kg_reader pe_kg_reader;
typedef struct pe_kg_iter pe_kg_iter;

/* ---- Opening ------------------------------------------------------------ */

typedef struct pe_kg_options {
    size_t map_size;  /* LMDB map size in bytes (sparse file); default 64 GiB */
    int read_only;    /* open without write access (e.g. a copy on a worker) */
    int create;       /* create the directory if missing; default 1 */
    unsigned max_readers; /* concurrent read transactions; default 1024 */
    int no_sync;      /* MDB_NOSYNC: faster bulk import, durability on close
                         or pe_kg_sync(); default 0 */
} pe_kg_options;

pe_kg_options pe_kg_options_default(void);

/* Opens (creating if allowed) the store in directory `dir`. On failure
 * *out is still set when a handle could be made, so that pe_kg_errmsg()
 * explains; close it in every case. Errors: PE_ERR_IO (path), PE_ERR_CORRUPT
 * (not a store of ours, or a newer layout version), PE_ERR_STORE,
 * PE_ERR_NOMEM, PE_ERR_INVALID. */
pe_status pe_kg_open(const char *dir, const pe_kg_options *opt, pe_kg **out);
/* NULL is a no-op. All readers and writers must have ended. */
void pe_kg_close(pe_kg *kg);
/* Message of the last failure on this handle ("" when none). Never NULL. */
const char *pe_kg_errmsg(const pe_kg *kg);
/* Flushes to disk (for stores opened with no_sync). */
pe_status pe_kg_sync(pe_kg *kg);

/* ---- Values --------------------------------------------------------------- */

typedef enum pe_kg_value_type {
    PE_KG_VAL_ENTITY = 1,  /* entity: .entity */
    PE_KG_VAL_STRING,      /* plain string: .text */
    PE_KG_VAL_MONOTEXT,    /* language-tagged text: .text, .lang */
    PE_KG_VAL_EXTERNAL_ID, /* Wikidata external-id: .text */
    PE_KG_VAL_URL,         /* .text */
    PE_KG_VAL_QUANTITY,    /* .amount, .lower, .upper (NAN when absent), .unit (IRI or "1") */
    PE_KG_VAL_TIME,        /* .text ISO-8601 as Wikidata writes it ("+1952-03-11T00:00:00Z"),
                              .precision (0..14, Wikidata's), .calendar (IRI or NULL) */
    PE_KG_VAL_COORD,       /* .lat, .lon, .coord_precision, .globe (IRI or NULL) */
    PE_KG_VAL_TYPED        /* other RDF typed literal: .text lexical form, .datatype IRI */
} pe_kg_value_type;

typedef struct pe_kg_value {
    pe_kg_value_type type;
    pe_kg_id entity;
    const char *text; size_t text_len;
    const char *lang;     /* NUL-terminated or NULL */
    const char *datatype; /* NUL-terminated or NULL */
    const char *unit;     /* NUL-terminated or NULL */
    const char *calendar; /* NUL-terminated or NULL */
    const char *globe;    /* NUL-terminated or NULL */
    double amount, lower, upper;
    double lat, lon, coord_precision;
    int precision;
} pe_kg_value;

typedef enum pe_kg_rank {
    PE_KG_RANK_NORMAL = 0,
    PE_KG_RANK_PREFERRED = 1,
    PE_KG_RANK_DEPRECATED = 2 /* importers drop these; stored only if given */
} pe_kg_rank;

typedef enum pe_kg_text_kind { PE_KG_LABEL = 0, PE_KG_ALIAS = 1, PE_KG_DESCRIPTION = 2 } pe_kg_text_kind;

typedef enum pe_kg_entity_kind {
    PE_KG_KIND_UNKNOWN = 0, /* only referenced so far */
    PE_KG_KIND_ITEM,        /* Wikidata item */
    PE_KG_KIND_PROPERTY,    /* Wikidata property */
    PE_KG_KIND_LEXEME,
    PE_KG_KIND_RESOURCE,    /* RDF resource (DBpedia, ...) */
    PE_KG_KIND_LITERAL      /* a literal term (never an entity record) */
} pe_kg_entity_kind;

/* ---- Import sources (provenance and resume) ------------------------------ */

typedef struct pe_kg_counts {
    uint64_t entities;     /* entity records written */
    uint64_t labels, aliases, descriptions;
    uint64_t triples;      /* statements written (entity- and literal-valued) */
    uint64_t sameas;       /* owl:sameAs merges */
    uint64_t skipped;      /* records skipped for bad input */
    uint64_t dropped;      /* statements dropped on purpose (deprecated rank, filtered language) */
    uint64_t bytes;        /* input bytes (decompressed) consumed */
    uint64_t lines;        /* input lines (or RDF statements) consumed */
} pe_kg_counts;

typedef enum pe_kg_source_status {
    PE_KG_SOURCE_RUNNING = 0, /* started, not finished: resumable */
    PE_KG_SOURCE_DONE = 1,
    PE_KG_SOURCE_FAILED = 2
} pe_kg_source_status;

typedef struct pe_kg_source {
    uint32_t id;          /* 1.. ; assigned by pe_kg_source_begin */
    const char *path;     /* as given to import */
    const char *format;   /* "wikidata-json", "ntriples", "turtle", "rdfxml", "wbgetentities" */
    const char *sha256;   /* of the file as stored on disk (compressed), hex */
    uint64_t size;        /* bytes on disk */
    const char *dump_date;/* if known (from file name or content), else NULL */
    const char *langs;    /* language filter ("en,fr") or NULL for all */
    double started, ended;/* Unix time (seconds); ended 0 while running */
    pe_kg_source_status status;
    pe_kg_counts counts;  /* as of the last commit */
    char last_error[256]; /* first error message seen, "" if none */
} pe_kg_source;

/* Registers an import of `info->path` (id is ignored on input) and sets
 * *source_id. If a source with the same sha256 and format exists and is
 * RUNNING, its id is returned and *resumed set to 1: the caller resumes from
 * its counts (bytes/lines). If it is DONE, *resumed is set to 2 (already
 * imported). Otherwise a new source is created and *resumed is 0. */
pe_status pe_kg_source_begin(pe_kg_writer *w, const pe_kg_source *info, uint32_t *source_id, int *resumed);
/* Stores the counts (and position) in the same transaction as the data, so
 * that a crash leaves the counts matching what was committed. */
pe_status pe_kg_source_checkpoint(pe_kg_writer *w, uint32_t source_id, const pe_kg_counts *c,
                                  const char *last_error);
pe_status pe_kg_source_finish(pe_kg_writer *w, uint32_t source_id, pe_kg_source_status st,
                              const pe_kg_counts *c);

/* ---- Writing -------------------------------------------------------------- */

/* Starts the single write transaction. Blocks while another process writes.
 * PE_ERR_BUSY if this handle already has a writer; PE_ERR_INVALID when read-only. */
pe_status pe_kg_writer_begin(pe_kg *kg, pe_kg_writer **out);
/* Commits and frees the writer (also on failure). PE_ERR_FULL when the map is full. */
pe_status pe_kg_writer_commit(pe_kg_writer *w);
/* Aborts and frees; NULL is a no-op. */
void pe_kg_writer_abort(pe_kg_writer *w);

/* Interns an entity/resource term (QID/PID/LID or IRI; Wikidata entity IRIs
 * canonicalised) and sets *id. Follows owl:sameAs merges. */
pe_status pe_kg_intern(pe_kg_writer *w, const char *term, size_t len, pe_kg_id *id);
/* Declares the kind of an entity (and for properties the Wikidata datatype,
 * e.g. "wikibase-item", else NULL). Creates the entity record if missing. */
pe_status pe_kg_put_kind(pe_kg_writer *w, pe_kg_id e, pe_kg_entity_kind kind, const char *datatype,
                         uint32_t source);
/* Adds a label/alias/description in language `lang` ("en"; "" for none).
 * Adding the same (kind, lang, text) twice is a no-op; a second LABEL in the
 * same language from another source is kept beside the first. Labels and
 * aliases are entered in the alias index. */
pe_status pe_kg_put_text(pe_kg_writer *w, pe_kg_id e, pe_kg_text_kind kind, const char *lang,
                         const char *text, size_t len, uint32_t source);
/* Adds a sitelink (site "enwiki", title). Sitelink count feeds the prior. */
pe_status pe_kg_put_sitelink(pe_kg_writer *w, pe_kg_id e, const char *site, const char *title,
                             uint32_t source);
/* Adds the statement (s, p, o). Idempotent: the same triple twice is stored
 * once (the first source kept, later ones added to its source list). */
pe_status pe_kg_put_triple(pe_kg_writer *w, pe_kg_id s, pe_kg_id p, const pe_kg_value *o,
                           pe_kg_rank rank, uint32_t source);
/* Records a owl:sameAs between two terms and merges them: the Wikidata term
 * (if either is one) stays canonical; labels, types and triples of the other
 * are moved to it, each keeping its source. */
pe_status pe_kg_put_sameas(pe_kg_writer *w, pe_kg_id a, pe_kg_id b, uint32_t source);

/* ---- Reading -------------------------------------------------------------- */

/* A read transaction: a consistent snapshot. Not shared between threads. */
pe_status pe_kg_reader_begin(pe_kg *kg, pe_kg_reader **out);
/* Moves the snapshot to the newest commit; invalidates borrowed results. */
pe_status pe_kg_reader_renew(pe_kg_reader *r);
/* NULL is a no-op. */
void pe_kg_reader_end(pe_kg_reader *r);

/* Term -> id, following sameAs merges. PE_NOT_FOUND when unknown. */
pe_status pe_kg_resolve(pe_kg_reader *r, const char *term, size_t len, pe_kg_id *id);
/* id -> term string (QID or IRI; a literal's lexical form). Borrowed. */
pe_status pe_kg_term(pe_kg_reader *r, pe_kg_id id, const char **term, size_t *len);
/* Decodes the value of an object id (entity or literal). Borrowed strings. */
pe_status pe_kg_value_get(pe_kg_reader *r, pe_kg_id id, pe_kg_value *out);

typedef struct pe_kg_text {
    pe_kg_text_kind kind;
    const char *lang;  /* NUL-terminated */
    const char *text;  /* NUL-terminated */
    uint32_t source;
} pe_kg_text;

typedef struct pe_kg_entity {
    pe_kg_id id;
    const char *term;        /* canonical term */
    pe_kg_entity_kind kind;
    const char *datatype;    /* properties only, else NULL */
    uint32_t sitelinks;      /* number of sitelinks */
    uint32_t in_degree;      /* entity-valued statements pointing here */
    size_t n_texts;
    pe_kg_text *texts;       /* labels, aliases, descriptions, in that order */
    size_t n_same;
    const char **same;       /* other terms merged into this one (sameAs) */
    uint32_t *same_source;   /* the source that said each */
} pe_kg_entity;

/* Fetches an entity record. *out is malloc'd (one block); free it with
 * pe_kg_entity_free. PE_NOT_FOUND when there is no record. */
pe_status pe_kg_entity_get(pe_kg_reader *r, pe_kg_id id, pe_kg_entity **out);
void pe_kg_entity_free(pe_kg_entity *e);
/* Best label in `lang` (falls back to "en", then any). Borrowed. */
pe_status pe_kg_label(pe_kg_reader *r, pe_kg_id id, const char *lang, const char **label);

typedef struct pe_kg_triple {
    pe_kg_id s, p, o;
    pe_kg_rank rank;
    uint32_t source; /* first source that stated it */
} pe_kg_triple;

/* Iterates the triples matching a pattern; 0 is a wildcard for s, p or o.
 * Uses SPO, POS or OSP as the bound positions allow. */
pe_status pe_kg_match(pe_kg_reader *r, pe_kg_id s, pe_kg_id p, pe_kg_id o, pe_kg_iter **out);
/* PE_OK with *t filled, PE_DONE at the end. */
pe_status pe_kg_iter_next(pe_kg_iter *it, pe_kg_triple *t);
void pe_kg_iter_free(pe_kg_iter *it);

/* Classes of an entity: direct (P31 / rdf:type) and, with closure=1, their
 * superclasses through P279* / rdfs:subClassOf* (cycles tolerated).
 * *ids is malloc'd (caller frees), in breadth-first order, no duplicates. */
pe_status pe_kg_types(pe_kg_reader *r, pe_kg_id e, int closure, pe_kg_id **ids, size_t *n);
/* PE_OK when e is an instance of cls through P31/P279*, else PE_NOT_FOUND. */
pe_status pe_kg_is_a(pe_kg_reader *r, pe_kg_id e, pe_kg_id cls);

/* ---- Entity linking candidates -------------------------------------------- */

typedef struct pe_kg_candidate {
    pe_kg_id id;
    double prior;   /* in (0, 1]: see pe_kg_lookup */
    int exact;      /* 1 when the normalised form equals a label (not only an alias) */
} pe_kg_candidate;

typedef struct pe_kg_lookup_options {
    pe_kg_id type;   /* keep only instances of this class (P31/P279*), 0 = any */
    size_t limit;    /* default 10 */
} pe_kg_lookup_options;

/* Normalises `text` (pe_text_normalize) and returns the candidate entities
 * whose label or alias has that form, best first, into out[0..cap), with
 * *n the number written. The prior is documented with the implementation
 * (sitelinks, in-degree, label vs alias). PE_NOT_FOUND when none. */
pe_status pe_kg_lookup(pe_kg_reader *r, const char *text, size_t len, const pe_kg_lookup_options *opt,
                       pe_kg_candidate *out, size_t cap, size_t *n);

/* ---- Statistics ----------------------------------------------------------- */

typedef struct pe_kg_stats {
    uint64_t terms, entities, literals, triples, alias_keys, sameas;
    uint64_t sources;
    uint64_t store_bytes; /* size of the data file */
} pe_kg_stats;

pe_status pe_kg_stats_get(pe_kg_reader *r, pe_kg_stats *out);
/* Source records by id (1..stats.sources). Borrowed strings. */
pe_status pe_kg_source_get(pe_kg_reader *r, uint32_t id, pe_kg_source *out);

/*
 * LMDB layout (version 1)
 * -----------------------
 * (filled in with the implementation: one named database per index, its key
 * and value encodings, byte order, and how merges and priors are stored)
 */

#ifdef __cplusplus
}
#endif
#endif
