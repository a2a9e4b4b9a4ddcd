/*
 * imp_internal.h - private pieces of the importers: the decompressing input
 * with its line reader, the sink interface the parsers write to, and the
 * parsers themselves. Nothing here is exported from libpersona's headers.
 *
 * Layers:
 *
 *     imp_input (file/stdin, gzip/bzip2, lines, max_line)
 *        -> imp_wikidata_* / imp_rdf_* (parse, validate, map)
 *           -> imp_sink (callbacks: the store sink writes pe_kg_*; tests record)
 *
 * Parsers validate a whole record before they call the sink, so that a bad
 * record never leaves half of itself in the store.
 */
#ifndef PE_IMP_INTERNAL_H
#define PE_IMP_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "pe_import.h"
#include "pe_kg.h"
#include "pe_util.h"

/* ---- Input: decompression and lines -------------------------------------- */

typedef enum imp_comp { IMP_COMP_NONE = 0, IMP_COMP_GZIP, IMP_COMP_BZIP2 } imp_comp;

typedef struct imp_input imp_input;

/* Opens `path` ("-" = stdin) and detects gzip/bzip2 from the magic bytes.
 * max_line bounds the line buffer. Errors: PE_ERR_IO naming the path,
 * PE_ERR_NOMEM. */
pe_status imp_input_open(const char *path, size_t max_line, imp_input **out, pe_error *err);
/* The same over a buffer in memory (borrowed until close); `name` for messages. */
pe_status imp_input_open_mem(const char *name, const void *data, size_t len, size_t max_line, imp_input **out,
                             pe_error *err);
void imp_input_close(imp_input *in);

imp_comp imp_input_comp(const imp_input *in);
const char *imp_input_path(const imp_input *in);  /* as given ("-" for stdin) */
uint64_t imp_input_size(const imp_input *in);     /* bytes on disk, 0 when unknown */
uint64_t imp_input_raw_read(const imp_input *in); /* bytes read from disk so far */
uint64_t imp_input_offset(const imp_input *in);   /* decoded bytes consumed (returned) */
uint64_t imp_input_line_no(const imp_input *in);  /* lines consumed */

/* Makes at least `want` decoded bytes visible (fewer at end of input) without
 * consuming them; *p is borrowed until the next call. */
pe_status imp_input_peek(imp_input *in, size_t want, const char **p, size_t *n, pe_error *err);

/* The next line, without its "\n" (and "\r"), NUL-terminated in place,
 * borrowed until the next call. PE_DONE at the end. PE_ERR_LIMIT when the
 * line is longer than max_line: the line is consumed (up to its newline,
 * without buffering it) and the next call continues after it. Decompression
 * errors are PE_ERR_IO with the file and the compressed byte offset. */
pe_status imp_input_line(imp_input *in, const char **line, size_t *len, pe_error *err);

/* Everything from the current position to the end (at most max_line bytes,
 * else PE_ERR_LIMIT), NUL-terminated, borrowed until the next call. */
pe_status imp_input_rest(imp_input *in, const char **data, size_t *len, pe_error *err);

/* Up to cap decoded bytes (buffered bytes first); *n = 0 at the end. */
pe_status imp_input_read(imp_input *in, char *buf, size_t cap, size_t *n, pe_error *err);

/* Discards `bytes` decoded bytes counting `lines` lines (resume). */
pe_status imp_input_skip(imp_input *in, uint64_t bytes, uint64_t lines, pe_error *err);

/* ---- Sink ----------------------------------------------------------------- */

/* An object value as the parsers see it: pe_kg_value with entity-valued
 * objects given by their term (QID or IRI) rather than a store id. */
typedef struct imp_value {
    pe_kg_value v;          /* v.entity is unused (0) */
    const char *term;       /* PE_KG_VAL_ENTITY: the term; else NULL */
    size_t term_len;
} imp_value;

/* Callbacks; each returns PE_OK or an error that stops the import (a store
 * failure). They write to the subject set by the last entity()/subject(). */
typedef struct imp_sink {
    void *user;
    /* Starts a Wikidata entity record (id "Q42", kind, property datatype or NULL). */
    pe_status (*entity)(void *user, const char *id, size_t len, pe_kg_entity_kind kind, const char *datatype);
    /* Sets the subject of what follows (RDF). declare_resource=1: the term
     * is described here (the store sink gives it a resource record, once
     * per run of statements about it within a batch, so that counts do not
     * depend on where a resumed import starts); 0: only a target (redirect). */
    pe_status (*subject)(void *user, const char *term, size_t len, int declare_resource);
    pe_status (*text)(void *user, pe_kg_text_kind kind, const char *lang, const char *text, size_t len);
    pe_status (*sitelink)(void *user, const char *site, const char *title);
    pe_status (*statement)(void *user, const char *pred, size_t len, const imp_value *o, pe_kg_rank rank);
    pe_status (*sameas)(void *user, const char *other, size_t len);
} imp_sink;

/* ---- Language filter ------------------------------------------------------- */

#define IMP_MAX_LANGS 64
#define IMP_MAX_LANG_LEN 64 /* longest language code the store takes */
typedef struct imp_langs {
    int all;                    /* no filter */
    int n;
    char code[IMP_MAX_LANGS][16];
} imp_langs;

/* Parses "en,fr" (NULL or "" = all). PE_ERR_INVALID for an empty or too long code. */
pe_status imp_langs_parse(const char *spec, imp_langs *out, pe_error *err);
int imp_langs_keep(const imp_langs *l, const char *lang);

/* ---- Wikidata JSON ---------------------------------------------------------- */

typedef struct imp_wd imp_wd;

/* A reusable entity parser (keeps its buffers between records). */
pe_status imp_wd_new(const imp_langs *langs, imp_wd **out);
void imp_wd_free(imp_wd *p);

/* Parses one JSON document `json[0..len)` (an entity, or a wbgetentities
 * response {"entities": {...}}) and, when valid, writes it to the sink.
 * `file`/`line` name the record in messages ("FILE:LINE: entity Q1: ...").
 * *n_entities receives the entities written, *dropped is increased by the
 * statements and texts left out on purpose. Bad record: PE_ERR_PARSE /
 * PE_ERR_UTF8 with the message in err and nothing written; sink errors are
 * returned as they are (also with nothing more written). In a response
 * each entity stands alone: bad ones are skipped and the others written,
 * PE_OK is returned, imp_wd_bad_entities() says how many were skipped and
 * err holds the first one's message (a response as such that is malformed,
 * or not JSON, is still one bad record). */
pe_status imp_wd_parse(imp_wd *p, const char *json, size_t len, const char *file, uint64_t line,
                       const imp_sink *sink, uint64_t *n_entities, uint64_t *dropped, pe_error *err);
/* Entities of a response that the last imp_wd_parse skipped as bad (0 for
 * a single-entity record: that one is the bad record), at most INT_MAX. */
int imp_wd_bad_entities(const imp_wd *p);

/* What a record came to, in input order (for the pipelines). kind:
 * IMP_OUTCOME_LINE a record that ends at a safe point (a JSON line),
 * IMP_OUTCOME_RECORD a record only, IMP_OUTCOME_POINT a safe point only,
 * IMP_OUTCOME_DROPPED only a dropped count to add (at the end). */
enum { IMP_OUTCOME_LINE = 0, IMP_OUTCOME_RECORD, IMP_OUTCOME_POINT, IMP_OUTCOME_DROPPED };
typedef struct imp_record_outcome {
    int kind;
    int bad;              /* records (or entities of a response) skipped for bad input */
    pe_status status;     /* PE_ERR_PARSE / PE_ERR_UTF8 / PE_ERR_LIMIT when bad */
    const char *msg;      /* the error when bad, else NULL */
    uint64_t dropped;     /* left out on purpose in this record */
    uint64_t bytes, lines;/* input position after the record */
    uint64_t raw_read;    /* on-disk bytes read by then (progress) */
} imp_record_outcome;

typedef pe_status (*imp_record_done_fn)(void *user, const imp_record_outcome *oc);

/* One Wikidata JSON record a line (dump array lines, NDJSON) from `in`,
 * parsed on a second thread and written to `sink` on the calling thread,
 * with done() after each record; an error from the sink or done() stops it.
 * Input errors (PE_ERR_IO...) come back in err after the records before. */
pe_status imp_wd_pipeline(imp_input *in, const imp_langs *langs, const imp_sink *sink, imp_record_done_fn done,
                          void *user, pe_error *err);

/* A valid entity id: Q/P/L/M followed by digits (no leading zero), or a
 * lexeme form/sense "L1-F2" / "L1-S2" when allow_sub. */
int imp_wd_valid_id(const char *s, size_t len, int allow_sub);

/* ---- RDF (raptor2) --------------------------------------------------------- */

typedef struct imp_rdf_counters {
    uint64_t statements;  /* statements seen (including the skipped prefix) */
    uint64_t errors;      /* syntax errors counted (after the skipped prefix) */
} imp_rdf_counters;

/* Called for each record (a statement, or a bad record with its message);
 * returning an error (strict mode) stops parsing. */
typedef pe_status (*imp_record_fn)(void *user, int bad, const char *msg);
/* Called where a checkpoint may be committed: every record before the
 * input position (bytes decoded, lines; Turtle/RDF-XML: statements) has
 * been handed over and none after it. Returning an error stops parsing. */
typedef pe_status (*imp_point_fn)(void *user, uint64_t bytes, uint64_t lines);

/* RDF/XML entity expansion (imp_rdf.c): what the references to the
 * DOCTYPE's internal entities may expand to, in one literal or element,
 * and in one import; beyond, PE_ERR_LIMIT naming FILE:LINE. */
#define IMP_RDFXML_MAX_NODE_EXPANSION (1 << 20)  /* 1 MiB a literal/element */
#define IMP_RDFXML_MAX_EXPANSION (64 << 20)      /* 64 MiB an import */
#define IMP_RDFXML_MAX_DTD (1 << 20)             /* a DOCTYPE's own size */
#define IMP_RDFXML_MAX_ENTITY_NAME 64

typedef struct imp_rdf_options {
    pe_import_format format;      /* NTRIPLES, TURTLE or RDFXML */
    const char *blank_scope;      /* prefix making blank nodes unique per file ("s3") */
    const imp_langs *langs;
    uint64_t skip_statements;     /* resume (Turtle / RDF/XML): statements already imported */
    imp_record_fn record;         /* per record (statement or syntax error) */
    imp_point_fn point;           /* safe points for checkpoints (may be NULL) */
    void *record_user;            /* for record and point */
    uint64_t *dropped;            /* increased for texts filtered by language */
} imp_rdf_options;

/* Parses the rest of `in` as RDF and maps it onto the sink (see imp_rdf.c
 * for the vocabulary mapping). N-Triples: a syntax error skips its line
 * (one bad record), parsing goes on; safe points at line-chunk ends, so a
 * resume skips whole lines. Turtle and RDF/XML stop at the first syntax
 * error (PE_ERR_PARSE, "FILE:LINE:COL: message"); safe point after each
 * statement, a resume re-parses and ignores skip_statements statements. */
pe_status imp_rdf_parse(imp_input *in, const imp_rdf_options *opt, const imp_sink *sink, pe_error *err);

/* Maps one RDF statement given as N-Triples-like terms onto the sink; used by
 * imp_rdf_parse and by tests. Kind of term: 'u' IRI, 'b' blank, 'l' literal. */
typedef struct imp_rdf_term {
    char kind;
    const char *s; size_t len;    /* IRI, blank id (already scoped) or lexical form */
    const char *lang;             /* literal language tag or NULL */
    const char *datatype;         /* literal datatype IRI or NULL */
} imp_rdf_term;

/* Offset of the first NUL character the text would decode to: a raw 0
 * byte, or the escape \u0000 / \U00000000 (JSON, N-Triples, Turtle) after
 * an odd number of backslashes; len when none. The store keeps texts as C
 * strings and raptor cuts literals at a NUL: such a record is refused
 * (counted, with this position) rather than stored cut short. */
size_t imp_nul_at(const char *s, size_t len);

/* Makes a message safe to store and to print as JSON, in place: invalid
 * UTF-8 bytes and control characters become '?'. */
void imp_msg_clean(char *msg);

pe_status imp_rdf_map(const imp_rdf_term *s, const imp_rdf_term *p, const imp_rdf_term *o,
                      const imp_langs *langs, const imp_sink *sink, uint64_t *dropped);

/* RDF the same way: imp_rdf_parse with opt (its record/point/dropped are
 * replaced) on a second thread; done() gets its records and safe points. */
pe_status imp_rdf_pipeline(imp_input *in, const imp_rdf_options *opt, const imp_sink *sink, imp_record_done_fn done,
                           void *user, pe_error *err);

#endif
