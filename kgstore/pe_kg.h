/*
 * pe_kg.h - the knowledge-graph store (LMDB).
 *
 * Usage:
 *
 *     pe_kg *kg;
 *     pe_kg_options o = pe_kg_options_default();
 *     pe_error err;
 *     if (pe_kg_open("kg.db", &o, &kg, &err) >= PE_ERR_FIRST) { ... err.msg ... }
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
 * Errors: functions return a pe_status; the detail of the last failure is
 * on the handle that failed: pe_kg_reader_errmsg(r), pe_kg_writer_errmsg(w),
 * pe_kg_errmsg(kg) (open is told through its pe_error). Borrowed
 * strings and arrays returned by reader functions stay valid until
 * pe_kg_reader_end() or pe_kg_reader_renew() on that reader. Every function
 * may also return PE_ERR_INVALID (NULL handle or output, bad argument) and
 * PE_ERR_STORE / PE_ERR_CORRUPT / PE_ERR_NOMEM (LMDB failure, damaged
 * store, memory); those are not repeated below.
 *
 * Threads and processes: one pe_kg handle may be shared by threads; each
 * reader and the writer is used by one thread at a time. Open a store at
 * most once per process (LMDB's rule: a second handle on the same directory
 * in one process breaks its locks); readers in other processes open their
 * own handle (never one inherited across fork()). A reader sees the
 * snapshot of its begin/renew, never uncommitted data.
 *
 * Writers: any LMDB failure inside a writer (PE_ERR_FULL when the map is
 * full, PE_ERR_IO, ...) makes every later call on it return the same
 * status; commit then aborts and returns it. After PE_ERR_FULL the map is
 * doubled when the writer ends (if no reader of this handle is open), so the
 * batch can be run again. Ids returned by pe_kg_intern stay valid across
 * batches; an id merged away by pe_kg_put_sameas is still accepted (and
 * followed to the canonical id) by this handle's writer, until another
 * process writes to the store, and by the readers' entity, label, value and
 * type functions; pe_kg_match wants canonical ids (pe_kg_resolve gives them).
 *
 * Memory of a handle that writes (kept until pe_kg_close, for the next
 * batch): the term dictionary cache (a table of at most 128 MiB plus at
 * most 256 MiB of long terms; dropped when the dictionary outgrows it), the
 * store's sameAs merges (up to 2M of them) and the last writer's buffers
 * (deferred index writes, bounded by the batch).
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

/* Literal terms have this bit set in their id; entities/resources do not. */
#define PE_KG_ID_LITERAL ((pe_kg_id)1 << 63)
#define PE_KG_IS_LITERAL(id) (((id) & PE_KG_ID_LITERAL) != 0)

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

PE_API pe_kg_options pe_kg_options_default(void);

/* Opens (creating if allowed) the store in directory `dir` (opt NULL =
 * defaults; a read-only open never creates). On failure *out is NULL,
 * nothing needs closing and err (may be NULL) explains. Errors: PE_ERR_IO
 * (path), PE_ERR_CORRUPT (not a store of ours, or a newer layout version),
 * PE_ERR_STORE, PE_ERR_NOMEM, PE_ERR_INVALID. */
PE_API pe_status pe_kg_open(const char *dir, const pe_kg_options *opt, pe_kg **out, pe_error *err);
/* NULL is a no-op. All readers and writers must have ended. */
PE_API void pe_kg_close(pe_kg *kg);
/* Message of the last failure of the handle's own calls (writer and
 * reader begin, commit, sync) and of its writer's calls ("" when none).
 * Never NULL. A reader's failures are on the reader only. */
PE_API const char *pe_kg_errmsg(const pe_kg *kg);
/* Message of the last failure on this reader ("" when none): readers of
 * one handle in several threads each keep their own. Never NULL. */
PE_API const char *pe_kg_reader_errmsg(const pe_kg_reader *r);
/* Message of the last failure on this writer ("" when none; also given by
 * pe_kg_errmsg, where it outlives the commit). Never NULL. */
PE_API const char *pe_kg_writer_errmsg(const pe_kg_writer *w);
/* Flushes to disk (for stores opened with no_sync). */
PE_API pe_status pe_kg_sync(pe_kg *kg);

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
    uint64_t skipped;      /* records (entities of an API response) skipped for bad input */
    uint64_t dropped;      /* statements dropped on purpose (deprecated rank, filtered language) */
    uint64_t bytes;        /* input bytes (decompressed) consumed */
    uint64_t lines;        /* input lines consumed */
    uint64_t statements;   /* RDF statements parsed (Turtle and RDF/XML resume from it); 0 for JSON */
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
    int live;             /* RUNNING only (pe_kg_source_get): 1 while an import holds it
                             (pe_kg_source_hold), 0 when the import was interrupted
                             (killed: resumable) */
} pe_kg_source;

/* Registers an import of `info->path` (id is ignored on input) and sets
 * *source_id. If a source with the same sha256 and format exists and is
 * RUNNING, its id is returned and *resumed set to 1: the caller resumes from
 * its counts (bytes/lines). If it is DONE, *resumed is set to 2 (already
 * imported). Otherwise (no sha256, no match, or only FAILED ones) a new
 * source is created with status RUNNING, zero counts and started = now when
 * info->started is 0, and *resumed is 0. Strings are copied. resumed may be
 * NULL. Like all writes it is committed (or lost) with the writer. */
PE_API pe_status pe_kg_source_begin(pe_kg_writer *w, const pe_kg_source *info, uint32_t *source_id, int *resumed);
/* Stores the counts (and position) in the same transaction as the data, so
 * that a crash leaves the counts matching what was committed. last_error
 * (NULL or "" = none) is kept only if the record has no error yet: the
 * first error seen stays. PE_ERR_INVALID when source_id does not exist. */
PE_API pe_status pe_kg_source_checkpoint(pe_kg_writer *w, uint32_t source_id, const pe_kg_counts *c,
                                  const char *last_error);
/* Sets the final status, the counts (c may be NULL to keep them) and ended
 * = now. PE_ERR_INVALID when source_id does not exist. */
PE_API pe_status pe_kg_source_finish(pe_kg_writer *w, uint32_t source_id, pe_kg_source_status st,
                              const pe_kg_counts *c);

/* Marks source `id` as being imported now, until pe_kg_source_release,
 * pe_kg_close or the end of the process (a kill -9 included): an advisory
 * fcntl lock on byte `id` of DIR/sources.lock. So a RUNNING source is told
 * apart as live (held) or interrupted (not held: resumable), by
 * pe_kg_source_get's `live`. PE_ERR_BUSY when another process (its pid in
 * *holder_pid, may be NULL) or this handle holds it; PE_ERR_IO when the
 * lock file cannot be opened (read-only store). */
PE_API pe_status pe_kg_source_hold(pe_kg *kg, uint32_t id, long *holder_pid);
/* Releases a hold of this handle; anything else is a no-op. */
PE_API void pe_kg_source_release(pe_kg *kg, uint32_t id);

/* ---- Writing -------------------------------------------------------------- */

/* Starts the single write transaction. Blocks while another process writes.
 * PE_ERR_BUSY if this handle already has a writer; PE_ERR_INVALID when read-only.
 * Keep batches bounded (the importers commit every 20k entities): the
 * transaction's dirty pages live in memory until commit. */
PE_API pe_status pe_kg_writer_begin(pe_kg *kg, pe_kg_writer **out);
/* Commits and frees the writer (also on failure). PE_ERR_FULL when the map is full. */
PE_API pe_status pe_kg_writer_commit(pe_kg_writer *w);
/* Aborts and frees; NULL is a no-op. */
PE_API void pe_kg_writer_abort(pe_kg_writer *w);

/* Interns an entity/resource term (QID/PID/LID or IRI; Wikidata entity IRIs
 * canonicalised) and sets *id. Follows owl:sameAs merges. The IRIs
 * http(s)://www.wikidata.org/entity/X and .../prop/direct/X become "X" when
 * X is a Wikidata id (Q/P/L + digits). Terms are bytes (not checked for
 * UTF-8); PE_ERR_INVALID for an empty term or one starting with a control
 * character. Not for literals: pass those as values to pe_kg_put_triple. */
PE_API pe_status pe_kg_intern(pe_kg_writer *w, const char *term, size_t len, pe_kg_id *id);
/* Declares the kind of an entity (and for properties the Wikidata datatype,
 * e.g. "wikibase-item", else NULL). Creates the entity record if missing.
 * Kinds only rise: ITEM/PROPERTY/LEXEME > RESOURCE > UNKNOWN (a DBpedia
 * resource merged into an item stays an item). The record's source is the
 * one that gave its highest kind (first such call). Records are written at commit (one update per entity per
 * batch). */
PE_API pe_status pe_kg_put_kind(pe_kg_writer *w, pe_kg_id e, pe_kg_entity_kind kind, const char *datatype,
                         uint32_t source);
/* Adds a label/alias/description in language `lang` ("en"; "" or NULL for
 * none; at most 64 bytes). Adding the same (kind, lang, text) twice is a
 * no-op, except that another source is added to the text's source list
 * (the first stays first; up to 64 kept); a second LABEL in the same
 * language with another text is kept beside the first. Labels and aliases are
 * entered in the alias index (PE_ERR_UTF8 when the text is not UTF-8).
 * PE_ERR_INVALID when the text holds a NUL byte (readers get texts as C
 * strings: it would be cut there).
 * Also creates the entity record (kind UNKNOWN) if missing. */
PE_API pe_status pe_kg_put_text(pe_kg_writer *w, pe_kg_id e, pe_kg_text_kind kind, const char *lang,
                         const char *text, size_t len, uint32_t source);
/* Adds a sitelink (site "enwiki", title). Sitelink count feeds the prior.
 * The same site twice is a no-op (the first title is kept). */
PE_API pe_status pe_kg_put_sitelink(pe_kg_writer *w, pe_kg_id e, const char *site, const char *title,
                             uint32_t source);
/* Adds the statement (s, p, o). Idempotent: the same triple twice is stored
 * once (the first source kept, later ones added to its source list; the
 * first rank kept). Literal values are interned (equal values share one
 * literal id); o->text need not be NUL-terminated (text_len counts).
 * PE_ERR_INVALID for ids that are not entities of this store, an unknown
 * value type or a time precision outside 0..14. The subject gets an entity
 * record (kind UNKNOWN) if it has none. */
PE_API pe_status pe_kg_put_triple(pe_kg_writer *w, pe_kg_id s, pe_kg_id p, const pe_kg_value *o,
                           pe_kg_rank rank, uint32_t source);
/* Records a owl:sameAs between two terms and merges them: the Wikidata term
 * (if either is one) stays canonical (when both or neither are, `a` does);
 * labels, aliases, descriptions, sitelinks, types and triples of the other
 * (as subject or object) are moved to it, each keeping its source; terms
 * merged into the other earlier follow. Afterwards both terms resolve to
 * the canonical id and pe_kg_entity shows the other term in `same` with
 * this source. Data of either side may come before or after; a sameAs of
 * two terms already merged is a no-op. Triples where the merged term is the
 * predicate are not rewritten. */
PE_API pe_status pe_kg_put_sameas(pe_kg_writer *w, pe_kg_id a, pe_kg_id b, uint32_t source);

/* ---- Reading -------------------------------------------------------------- */

/* A read transaction: a consistent snapshot. Not shared between threads
 * at the same time. Many readers may be open (options.max_readers in all
 * processes together). */
PE_API pe_status pe_kg_reader_begin(pe_kg *kg, pe_kg_reader **out);
/* Moves the snapshot to the newest commit; invalidates borrowed results. */
PE_API pe_status pe_kg_reader_renew(pe_kg_reader *r);
/* NULL is a no-op. */
PE_API void pe_kg_reader_end(pe_kg_reader *r);

/* Term -> id, following sameAs merges (Wikidata IRIs canonicalised as in
 * pe_kg_intern). PE_NOT_FOUND (and *id = 0) when unknown. */
PE_API pe_status pe_kg_resolve(pe_kg_reader *r, const char *term, size_t len, pe_kg_id *id);
/* id -> term string (QID or IRI; a literal's lexical form: its text, or
 * for quantities the amount ("%.17g") and for coordinates
 * "Point(lon lat)"). Borrowed, NUL-terminated. A merged-away id still gives
 * its own term (after a merge into a Wikidata term that had no data yet,
 * the two ids swap terms: see the layout section). len may be NULL.
 * PE_NOT_FOUND for an unknown id. */
PE_API pe_status pe_kg_term(pe_kg_reader *r, pe_kg_id id, const char **term, size_t *len);
/* Decodes the value of an object id (entity or literal). Borrowed strings
 * (text is NUL-terminated at text_len). Absent unit/calendar/globe are
 * NULL; absent quantity bounds NAN. PE_NOT_FOUND for an unknown id. */
PE_API pe_status pe_kg_value_get(pe_kg_reader *r, pe_kg_id id, pe_kg_value *out);

typedef struct pe_kg_text {
    pe_kg_text_kind kind;
    const char *lang;  /* NUL-terminated */
    const char *text;  /* NUL-terminated */
    uint32_t source;   /* the first source that stated it */
    size_t n_sources;  /* every source that stated it (sources[0] == source) */
    const uint32_t *sources;
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
    size_t n_sitelinks;      /* == sitelinks, listed (by site) */
    const char **sitelink_sites;  /* "enwiki", ... */
    const char **sitelink_titles; /* page titles */
    uint32_t *sitelink_sources;
} pe_kg_entity;

/* Fetches an entity record. *out is malloc'd (one block); free it with
 * pe_kg_entity_free. A merged-away id gives the canonical record. A term
 * that was only referenced (object of triples) gives kind UNKNOWN with
 * its in-degree. PE_NOT_FOUND when the id is no entity term of the store
 * (or a literal). */
PE_API pe_status pe_kg_entity_get(pe_kg_reader *r, pe_kg_id id, pe_kg_entity **out);
PE_API void pe_kg_entity_free(pe_kg_entity *e);
/* Best label in `lang` (NULL = "en"; falls back to "en", then any).
 * Among several labels in a language (sameAs merges bring others): the one
 * stated by the source that described the entity (its pe_kg_put_kind
 * source: Wikidata's for a merged item), else the one from the oldest
 * source. Borrowed. PE_NOT_FOUND when the entity has no label. */
PE_API pe_status pe_kg_label(pe_kg_reader *r, pe_kg_id id, const char *lang, const char **label);

typedef struct pe_kg_triple {
    pe_kg_id s, p, o;
    pe_kg_rank rank;
    uint32_t source; /* first source that stated it */
} pe_kg_triple;

/* Iterates the triples matching a pattern; 0 is a wildcard for s, p or o.
 * Uses SPO, POS or OSP as the bound positions allow. Pass canonical ids
 * (from pe_kg_resolve). Order: by the index used (ids ascending). The
 * iterator belongs to reader r: use it before r ends or renews; free it
 * with pe_kg_iter_free (also allowed after pe_kg_reader_end). */
PE_API pe_status pe_kg_match(pe_kg_reader *r, pe_kg_id s, pe_kg_id p, pe_kg_id o, pe_kg_iter **out);
/* PE_OK with *t filled, PE_DONE at the end. */
PE_API pe_status pe_kg_iter_next(pe_kg_iter *it, pe_kg_triple *t);
PE_API void pe_kg_iter_free(pe_kg_iter *it);

/* Every source that stated (s, p, o): the first one, then the later ones
 * in ascending order, into out[0..cap); *n is the total number (may exceed
 * cap). PE_NOT_FOUND when the triple is not in the store. */
PE_API pe_status pe_kg_triple_sources(pe_kg_reader *r, pe_kg_id s, pe_kg_id p, pe_kg_id o, uint32_t *out, size_t cap,
                               size_t *n);

/* Classes of an entity: direct (P31 / rdf:type) and, with closure=1, their
 * superclasses through P279* / rdfs:subClassOf* (cycles tolerated).
 * *ids is malloc'd (free it with pe_free), in breadth-first order, no duplicates.
 * P31 and rdf:type count as one relation, P279 and rdfs:subClassOf as
 * another, so Wikidata and DBpedia classes mix. Literal objects are
 * ignored. *n = 0 (and *ids NULL) when there are none. */
PE_API pe_status pe_kg_types(pe_kg_reader *r, pe_kg_id e, int closure, pe_kg_id **ids, size_t *n);
/* PE_OK when e is an instance of cls through P31/P279* (rdf:type /
 * rdfs:subClassOf* alike), else PE_NOT_FOUND. Stops at the first hit. */
PE_API pe_status pe_kg_is_a(pe_kg_reader *r, pe_kg_id e, pe_kg_id cls);

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
 * whose label or alias has that form, best first, into out[0..min(cap,
 * limit)), with *n the number written. opt may be NULL (any type, limit 10).
 *
 * Prior: weight(e) = (1 + ln(1 + sitelinks(e)) + ln(1 + in_degree(e)))
 * x (2 if the form is a label of e in some language, else 1 for an alias
 * only); prior(e) = weight(e) / sum of the weights of all candidates of the
 * form that pass the type filter. So priors lie in (0, 1] and sum to 1 over
 * all candidates (those beyond cap/limit included). Ties: exact first, then
 * smaller id. in_degree counts entity-valued statements pointing at e.
 *
 * PE_NOT_FOUND (with *n = 0) when none (or when text normalises to "");
 * PE_ERR_UTF8 when text is not UTF-8. Forms longer than 500 bytes are
 * truncated (on both writing and lookup). Cost: one B-tree lookup per
 * candidate for the record and one for the in-degree; no allocation for
 * ASCII input after the reader's first lookups. */
PE_API pe_status pe_kg_lookup(pe_kg_reader *r, const char *text, size_t len, const pe_kg_lookup_options *opt,
                       pe_kg_candidate *out, size_t cap, size_t *n);

/* ---- Statistics ----------------------------------------------------------- */

typedef struct pe_kg_stats {
    uint64_t terms;      /* entity/resource terms (merged-away ones included) */
    uint64_t entities;   /* entity records */
    uint64_t literals;   /* distinct literal values */
    uint64_t triples;    /* statements */
    uint64_t alias_keys; /* distinct normalised forms in the alias index */
    uint64_t sameas;     /* terms merged into another */
    uint64_t sources;    /* import source records */
    uint64_t store_bytes; /* used size of the data file (pages in use) */
} pe_kg_stats;

/* Counts of the reader's snapshot. alias_keys walks the alias index's keys
 * (milliseconds per million forms); the rest is O(1). */
PE_API pe_status pe_kg_stats_get(pe_kg_reader *r, pe_kg_stats *out);
/* Source records by id (1..stats.sources). Borrowed strings. */
PE_API pe_status pe_kg_source_get(pe_kg_reader *r, uint32_t id, pe_kg_source *out);

/* ---- Verification --------------------------------------------------------- */

typedef struct pe_kg_verify_result {
    uint64_t records;   /* entries read (every key, every duplicate value) */
    uint64_t problems;  /* damaged records, dangling index entries, disagreeing counts */
} pe_kg_verify_result;

/* Called once per problem with one line naming the database and the key,
 * e.g. "spo: subject 42: malformed entry (17 bytes)". */
typedef void (*pe_kg_verify_fn)(const char *problem, void *user);

/* Walks the whole store in one read snapshot and reports what is damaged:
 * every record of every database decodes (lengths, offsets and strings
 * inside the record, kinds and ranks in range); every index entry points at
 * an existing record (term2id and id2term both ways, lit2id -> id2lit,
 * entity/text/alias/sitelink/same/redirect ids -> id2term, every spo
 * triple's predicate and object exist and the triple is in pos and osp,
 * every pos/osp/triple_src entry is a triple of spo); counts agree
 * (term2id = id2term, lit2id = id2lit, spo = pos = osp; ids below
 * next_term/next_lit). report (may be NULL) gets each problem; out (may be
 * NULL) the totals. PE_OK when nothing is wrong, PE_ERR_CORRUPT when
 * something is (pe_kg_errmsg: how many and the first). Cost: one pass over
 * every database plus a B-tree probe per index entry (about the time of a
 * full import's index writes, read-only); memory: one bit per term and
 * literal id. Runs beside writers (it sees the snapshot of its start).
 *
 * What LMDB detects by itself, and what not: LMDB checks page numbers,
 * page types and a few header fields when it walks a B-tree, so a damaged
 * branch page or page header usually gives MDB_CORRUPTED or
 * MDB_PAGE_NOTFOUND (PE_ERR_CORRUPT here); it keeps no checksum of the
 * data, so changed bytes inside a key or a value (a label, a length field
 * of a record, an id) go unnoticed by LMDB. Such records are what the
 * record decoders catch when they no longer decode, and what this walk
 * catches when an id no longer points anywhere; a byte changed inside a
 * label's text, or an id changed into another valid id, is caught by
 * nothing short of a checksum.
 *
 * A per-record checksum (CRC-32C, 4 bytes a record), measured with
 * bench/kg_checksum_bench.c on a store of the real Wikidata and DBpedia
 * subsets (311 MiB, 4.9M records, 134 MiB of keys and values; 2-core x86
 * VM, SSE4.2 CRC): +18.7 MiB (+6% of the pages in use; +19-25% on the
 * 16/21-byte SPO/POS/OSP entries, most of the records), +80% on a walk of
 * every record (0.12 s -> 0.22 s: what verify and merges pay), +0.3% on a
 * random pe_kg_entity_get (11.7 us, 90 bytes of records each), about 2% of
 * an import's time. Not worth it for this store today: it would need a new
 * layout version (every store re-imported), it adds nothing to the page
 * damage LMDB reports, and the store is rebuilt from its dumps, so that
 * verify after a crash or a copy, and a re-import when it reports damage,
 * cover the cases at no cost. It is worth it for a store whose data cannot
 * be rebuilt (the persona store and its audit log). */
PE_API pe_status pe_kg_verify(pe_kg *kg, pe_kg_verify_fn report, void *user, pe_kg_verify_result *out);

/*
 * LMDB layout (version 2)
 * -----------------------
 * One LMDB environment (the directory: data.mdb, lock.mdb), opened with
 * MDB_NOTLS (and MDB_NOSYNC when options.no_sync). Every integer in keys and
 * values is big-endian, so that memcmp order is numeric order; doubles are
 * IEEE-754 bit patterns, big-endian (one canonical NaN). "id" is 8 bytes.
 * Strings inside values end with a NUL (so readers can lend pointers).
 * Entity ids are 1, 2, ... in order of first intern; literal ids are
 * PE_KG_ID_LITERAL | 1, 2, ... ; both only grow, so new ids are appended.
 *
 * database    flags             key                       value
 * meta        -                 "layout_version"          u32 = 2
 *                               "next_term", "next_lit"   u64 next ids
 *                               "gen"                     u64 commit counter
 * term2id     -                 term key (1)              id
 * id2term     -                 id                        term\0
 * lit2id      -                 literal key (1)           id
 * id2lit      -                 id                        literal encoding (2)
 * entity      -                 id                        kind(1) flags(1: bit0 =
 *                                                         datatype present) 0(2)
 *                                                         sitelinks u32, source u32,
 *                                                         [datatype\0]
 * text        -                 id, kind(1), lang\0,      n u16, sources u32 x n,
 *                                                         text\0
 *                               h u64 (3)
 * alias       DUPSORT|DUPFIXED  normalised form (4)       id, flag(1: 1 label, 2 alias)
 * sitelink    -                 id, site\0                source u32, title\0
 * spo         DUPSORT|DUPFIXED  s                         p, o, rank(1), source u32
 * pos         DUPSORT|DUPFIXED  p                         o, s
 * osp         DUPSORT|DUPFIXED  o                         s, p
 * triple_src  DUPSORT|DUPFIXED  s, p, o                   source u32 (sources after
 *                                                         the first, in spo)
 * same        DUPSORT|DUPFIXED  canonical id              merged id, source u32
 * redirect    -                 merged id                 canonical id
 * source      -                 source id u32             source record (5)
 *
 * (1) The canonical term's bytes; terms over 480 bytes: their first 400
 *     bytes, 0xFF, then two 64-bit hashes of the whole term (16 bytes).
 *     Literal keys likewise from the literal encoding.
 * (2) type(1) then: STRING/EXTERNAL_ID/URL text\0; MONOTEXT lang\0 text\0;
 *     QUANTITY amount lower upper (f64 each) unit\0; TIME precision(1)
 *     calendar\0 text\0; COORD lat lon precision (f64 each) globe\0; TYPED
 *     datatype\0 text\0. An absent string is "". The text is always last,
 *     so it may contain NUL bytes (its length is the remainder).
 * (3) h = 64-bit hash of the text (FNV-1a, mixed); a different text with
 *     the same hash takes h+1. Keys sort labels (0), aliases (1),
 *     descriptions (2), then by language.
 * (4) pe_text_normalize of the label or alias, cut to at most 500 bytes at
 *     a character boundary; empty forms are not indexed.
 * (5) version(1) = 2, status(1), string-present bits(1), 0(1), size u64,
 *     started f64, ended f64, counts u64 x 11 (entities, labels, aliases,
 *     descriptions, triples, sameas, skipped, dropped, bytes, lines,
 *     statements), then path\0 format\0 sha256\0 dump_date\0 langs\0
 *     last_error\0. Version 1 (written before issue 7) has no statements
 *     count (10 counts) and held the statement count of Turtle and RDF/XML
 *     imports in lines; it is read as statements = 0.
 *
 * Triples are stored once per index; a literal object is a literal id, so
 * the indexes are uniform over ids. The in-degree of e is the number of
 * duplicates of key e in osp (mdb_cursor_count), so it is never stored.
 * The sitelink count is kept in the entity record (updated at commit).
 *
 * owl:sameAs merge of term o into canonical term c: o's texts, sitelinks
 * and triples (o as subject or object) are rewritten to c with their
 * sources; term2id of o's term (and of terms merged into o before) now
 * holds c; redirect[o] = c; same[c] gains (o, source); o's entity record
 * is folded into c's and deleted; id2term[o] stays.
 * When c has no data at all yet (no texts, sitelinks, triples in any role,
 * merged terms or record: DBpedia's sameAs file imported after the other
 * DBpedia files, or before anything), nothing moves: the two ids swap
 * their terms instead (id2term[c] <-> id2term[o], term2id of c's term
 * holds o, redirect[c] = o, same[o] gains (c, source)), so o's id is the
 * canonical entity named by c's term. Both give the same graph by terms;
 * the numeric id of the canonical term differs.
 *
 * Opening checks "layout_version": a store of another version, or an LMDB
 * environment with other data, gives PE_ERR_CORRUPT.
 */

#ifdef __cplusplus
}
#endif
#endif
