/*
 * pe_import.h - streaming importers into the graph store, and downloads.
 *
 * Usage:
 *
 *     pe_import_options o = pe_import_options_default();
 *     o.langs = "en,fr";
 *     pe_import_result res;
 *     pe_error err;
 *     pe_status st = pe_import_file(kg, "latest-all.json.bz2", &o, &res, &err);
 *     // res.counts says what was written and skipped; err.msg the first error
 *
 * Formats: Wikidata JSON dumps (the dump's array framing "[", one entity a
 * line ending in ",", "]"; plain NDJSON; a single entity; a wbgetentities
 * API response), and RDF through raptor2 (N-Triples, Turtle, RDF/XML). Any of
 * them may be gzip- or bzip2-compressed (detected from magic bytes).
 *
 * Memory stays bounded whatever the dump size (one line / one RDF statement
 * at a time, batches of bounded size). Data is committed in batches together
 * with the input position, so a crash loses at most the current batch and
 * `resume` continues from the last commit with the counts of an
 * uninterrupted run.
 *
 * Bad input: without `strict`, a bad record is skipped, counted and the first
 * error kept (file, line or byte offset, entity id when known); in a
 * wbgetentities response each entity counts as a record of its own (a bad
 * one is skipped, the others of the response are imported); with
 * `strict`, the first error stops the import with PE_ERR_PARSE (or
 * PE_ERR_UTF8...) after rolling back the current batch. Nothing committed
 * before is lost.
 */
#ifndef PE_IMPORT_H
#define PE_IMPORT_H

#include <stddef.h>
#include <stdint.h>

#include "pe_kg.h"
#include "pe_util.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum pe_import_format {
    PE_IMPORT_AUTO = 0,     /* from content (and file name) */
    PE_IMPORT_WIKIDATA_JSON,
    PE_IMPORT_NTRIPLES,
    PE_IMPORT_TURTLE,
    PE_IMPORT_RDFXML
} pe_import_format;

/* "auto", "wikidata-json", "ntriples", "turtle", "rdfxml"; PE_ERR_INVALID otherwise. */
PE_API pe_status pe_import_format_parse(const char *name, pe_import_format *out);
PE_API const char *pe_import_format_name(pe_import_format f);

typedef struct pe_import_progress {
    const char *path;
    uint64_t bytes_read;     /* bytes of the file on disk read so far */
    uint64_t bytes_total;    /* size of the file on disk (0 if unknown, e.g. a pipe) */
    uint64_t bytes_decoded;  /* decompressed bytes parsed */
    uint64_t entities, triples, skipped;
    double elapsed;          /* seconds since the import started */
} pe_import_progress;

typedef void (*pe_import_progress_fn)(const pe_import_progress *p, void *user);

typedef struct pe_import_options {
    pe_import_format format;   /* default PE_IMPORT_AUTO */
    const char *langs;         /* comma-separated language codes to keep; NULL = all */
    int strict;                /* first bad record is fatal */
    int resume;                /* continue a RUNNING import of the same file */
    size_t batch_records;      /* records per commit; default 20000 */
    size_t max_line;           /* longest accepted line in bytes; default 256 MiB */
    pe_import_progress_fn progress; /* called about 4 times a second; NULL = none */
    void *progress_user;
    /* What the store's source record names as the import's path instead of
     * `path` (e.g. the URL a temporary file was downloaded from); NULL or ""
     * = the path. Messages that would start with the path start with it too
     * (cut in the middle to 120 bytes). Borrowed for the call. */
    const char *source_name;
} pe_import_options;

PE_API pe_import_options pe_import_options_default(void);

typedef struct pe_import_result {
    uint32_t source_id;  /* the import's source record in the store */
    int resumed;         /* 1 if it continued an interrupted import, 2 if already done */
    pe_kg_counts counts; /* totals for this source (including before a resume) */
    char first_error[PE_ERRMSG_MAX]; /* first skipped record's error, "" if none */
} pe_import_result;

/* Imports one file (or "-" for standard input, not resumable). res may be
 * NULL. Errors: PE_ERR_IO (missing/unreadable, truncated compressed stream),
 * PE_ERR_PARSE / PE_ERR_UTF8 / PE_ERR_LIMIT (strict mode), PE_ERR_INVALID
 * (options), PE_ERR_UNSUPPORTED (format not recognised), store errors.
 *
 * Format (PE_IMPORT_AUTO): from the name without .gz/.bz2 (.json .ndjson
 * .jsonl; .nt; .ttl .n3; .rdf .owl .xml), else from the content ("[" or "{"
 * JSON, "<?xml" RDF/XML, "@prefix" Turtle, "<...> <...> ... ." N-Triples).
 * A .ttl file whose first 64 KiB are N-Triples lines is read as N-Triples
 * (DBpedia's .ttl dumps): raptor 2.0.15's Turtle parser keeps its whole
 * input in memory, the N-Triples path does not. Compression is detected
 * from the magic bytes (gzip multi-member, bzip2 concatenated streams).
 *
 * Wikidata JSON: the first line decides the framing: a line holding a
 * complete JSON value means one record a line (dump array lines "[" / "]"
 * and trailing commas accepted; each line an entity or a wbgetentities /
 * Special:EntityData response {"entities": {...}}); otherwise the whole
 * input is one document (pretty-printed entity or response, at most
 * max_line bytes). A record is validated completely before anything of it
 * is written; messages read "FILE:LINE: entity Q42: what is wrong".
 * Entities of a response that the API marks "missing" are counted in
 * dropped. somevalue/novalue snaks, deprecated statements and texts outside
 * `langs` are counted in dropped too.
 *
 * RDF: N-Triples syntax errors cost their line ("FILE:LINE:COL: message",
 * counted in skipped); Turtle and RDF/XML stop at the first syntax error
 * (PE_ERR_PARSE) after committing the statements before it. The vocabulary
 * mapping (labels, aliases, descriptions, sameAs, redirects) is described
 * in importers/imp_rdf.c.
 *
 * RDF/XML entity expansion: references to the DOCTYPE's internal entities
 * (their expanded sizes, entities inside entities included) may expand to
 * at most 1 MiB within one literal or one element's attributes (so one
 * statement to at most twice that) and to 64 MiB in one import; beyond
 * either the import stops with PE_ERR_LIMIT naming FILE:LINE, before
 * anything is expanded (the statements before are committed). External
 * entities are not loaded.
 *
 * Strings holding a NUL character (JSON or N-Triples "\u0000", a raw 0
 * byte) are refused with their record (counted in skipped; Turtle stops at
 * the line): the store keeps texts as C strings. A dump array ("[" first
 * line) that ends without its "]" line, and a compressed stream that ends
 * early, fail the import (PE_ERR_IO, source FAILED) after the complete
 * records before the cut; bytes after the last gzip member that do not
 * start one are ignored with a warning (as gzip does).
 *
 * Counts (res->counts, also in the store's source record): texts, triples
 * and sameAs are pe_kg_put_* calls made (a repeated fact counts again,
 * although the store keeps it once). entities: Wikidata entity records
 * written; for RDF, resource records declared: once per run of consecutive
 * statements about a subject within a batch. lines: input lines consumed
 * (the whole file's at the end, whatever the format); statements (Turtle,
 * RDF/XML): statements parsed, the position a resume starts from; bytes:
 * decompressed bytes.
 *
 * Batches and resume: every opt->batch_records records (N-Triples: at the
 * next 256 KiB line chunk) the data is committed together with the counts
 * and the input position. A RUNNING source of the same checksum and format
 * (a killed import) is continued from that position when opt->resume is
 * set (the input is decompressed again and discarded up to it; Turtle and
 * RDF/XML re-parse and ignore the statements already imported), ending
 * with the counts of an uninterrupted run; without opt->resume it is
 * refused with PE_ERR_INVALID naming --resume. An import holds its source
 * while it runs (pe_kg_source_hold; released at its end or when its
 * process dies): another import of the same file meanwhile gets
 * PE_ERR_BUSY naming the process, not the "interrupted" advice, and
 * pe_kg_source_get tells a live RUNNING source from an interrupted one
 * (`live`). A DONE source: res->resumed
 * = 2, nothing imported, PE_OK. A fatal error marks the source FAILED (a
 * later import of the file starts a new source). */
PE_API pe_status pe_import_file(pe_kg *kg, const char *path, const pe_import_options *opt,
                         pe_import_result *res, pe_error *err);

/* 1 when `path` is an N-Triples file (plain, gzip or bzip2) whose first
 * statements (up to 64 within its first 1 MiB) are all owl:sameAs links,
 * such as DBpedia's wikidata_sameas*.nt; 0 otherwise, also for standard
 * input and for files that cannot be read (importing them reports why).
 * Importers of several files use it to take such files first: merging two
 * terms before either has data costs a few writes, merging them afterwards
 * moves every label and triple of one of them (several times slower in a
 * store that already holds both sides). The resulting graph is the same in
 * either order; only the numbering of the import sources follows it. */
PE_API int pe_import_is_sameas_file(const char *path);

/* ---- Downloads (libcurl) ------------------------------------------------- */

typedef struct pe_fetch_progress {
    const char *url;
    uint64_t bytes_done;   /* bytes in the destination file */
    uint64_t bytes_total;  /* 0 if unknown */
    double elapsed;        /* seconds since the call started */
    uint64_t bytes_resumed;/* bytes the .part held when the call started (not
                            * fetched by it: leave them out of rates) */
} pe_fetch_progress;

typedef void (*pe_fetch_progress_fn)(const pe_fetch_progress *p, void *user);

typedef struct pe_fetch_options {
    const char *sha256;    /* expected hex digest of the whole file, or NULL */
    int resume;            /* continue a partial download with an HTTP Range request; default 1 */
    int retries;           /* reconnects after a dropped connection; default 3 */
    long timeout_s;        /* stall timeout in seconds; default 60 */
    const char *user_agent; /* NULL = "persona/0.1 (knowledge-graph importer; libcurl/...)" */
    pe_fetch_progress_fn progress; /* called about 4 times a second; NULL = none */
    void *progress_user;
    double retry_wait_s;   /* pause before the first retry, doubled each time (max 30 s); default 1 */
    double max_retry_after_s; /* longest pause a server's Retry-After may ask for; default 60 */
    int any_scheme;        /* also ftp://, ftps:// and file:// URLs; default 0: http:// and https:// only */
} pe_fetch_options;

PE_API pe_fetch_options pe_fetch_options_default(void);

/* Downloads url to dest (through dest.part, renamed when complete and the
 * checksum matches). Errors: PE_ERR_NET, PE_ERR_IO, PE_ERR_CHECKSUM,
 * PE_ERR_BUSY (another download holds dest.part), PE_ERR_INVALID (options).
 *
 * Resume: with opt->resume, an existing dest.part is continued with a
 * "Range: bytes=N-" request; a 206 answer is appended (its Content-Range
 * must start at N), a 200 answer (server ignores Range) restarts the file
 * from zero, a 416 restarts from zero unless the server's size equals the
 * .part's (then it is already complete). Without opt->resume an existing
 * .part is discarded.
 * Retries: a dropped connection, a stall (no byte for timeout_s), an HTTP
 * 5xx answer and an HTTP 429 (Too Many Requests) are retried up to
 * opt->retries times in all, each retry resuming where the .part ends. The
 * pause before a retry is retry_wait_s, doubled after each retry (at most
 * 30 s), unless the answer carried a Retry-After header (seconds, or an HTTP
 * date): then that long, at most max_retry_after_s (a server asking for
 * more is retried after max_retry_after_s all the same). Other HTTP errors
 * (4xx) are not retried. A failure is PE_ERR_NET naming the URL and the
 * HTTP status with its reason ("GET URL: HTTP 404 Not Found") or libcurl's
 * error, and whether retries were exhausted. When the download fails for
 * good with opt->resume, a non-empty .part is kept so that the next call
 * resumes it; without opt->resume the .part is removed.
 * Checksum: with opt->sha256 the file is hashed while it is written (an
 * existing .part is re-hashed first); on a mismatch dest.part is deleted,
 * so that the next try starts clean, and PE_ERR_CHECKSUM names both digests.
 * One call at a time writes a given dest.part (flock, advisory, released
 * when the call ends or its process dies): another call for the same dest,
 * in this process or another, fails at once with PE_ERR_BUSY.
 * Schemes: http:// and https:// only (redirects too); another URL is
 * PE_ERR_INVALID, unless opt->any_scheme, which also allows ftp://, ftps://
 * and file:// (redirects then to ftp(s) too, never to file://).
 * Secrets: no message, warning or progress report shows the URL's
 * user:password (they name it as pe_fetch_url_for_record does, and the
 * password is replaced by "***" in any text libcurl adds). */
PE_API pe_status pe_fetch_url(const char *url, const char *dest, const pe_fetch_options *opt, pe_error *err);

/* url without any "user:password@" part, as it may be written into a
 * source record or a message (malloc'd, free() it; from a URL libcurl
 * cannot parse, whatever lies between "://" and the last '@' before the
 * path is cut; NULL only when memory runs out). */
PE_API char *pe_fetch_url_for_record(const char *url);

/* Fetches the entities `ids` ("Q42,Q90") through the wbgetentities API at
 * `endpoint` (NULL = https://www.wikidata.org/w/api.php), in batches of 50,
 * and imports them like a dump (imp may be NULL for defaults; its format,
 * resume and source_name are set here; imp->langs is also sent to the API as
 * `languages`). Each response is saved to a temporary file under $TMPDIR
 * (or /tmp), imported with pe_import_file as received, and removed. Each
 * response with entities gets its own source record in the store: its path
 * is the request URL (endpoint, ids and languages; any user:password in the
 * endpoint left out), its sha256 and size those of the response body, its
 * format "wikidata-json", its counts those of the import (the entities the
 * API marks "missing" are counted in dropped). A response whose import was
 * interrupted (same bytes, source still RUNNING) is continued; one already
 * imported is not imported again (res->resumed = 2 when that holds for
 * every response). res (may be NULL) gets the counts summed over the batches
 * and the last batch's source id. Requests are retried as pe_fetch_url
 * does, and so are the API's own transient errors sent with HTTP 200
 * ("ratelimited", "maxlag"), with the same backoff and count; fopt may
 * be NULL (defaults; its sha256 and resume are ignored).
 * Ids are Q/P/L followed by digits, separated by commas (lower case is
 * accepted); a bad one gives PE_ERR_INVALID naming it before any request.
 * Returns PE_NOT_FOUND (not an error) when some ids do not exist: the others
 * are imported and err->msg lists the missing ones. Errors: PE_ERR_NET
 * (HTTP failure, or an API error object: its code and info in err),
 * PE_ERR_PARSE (response is not JSON), and pe_import_file's errors. */
PE_API pe_status pe_fetch_wikidata(pe_kg *kg, const char *ids, const char *endpoint, const pe_fetch_options *fopt,
                            const pe_import_options *imp, pe_import_result *res, pe_error *err);

/* Checks an id list as pe_fetch_wikidata does, without any request: PE_OK
 * and the number of ids in *n (may be NULL), or PE_ERR_INVALID naming the
 * first bad id (or saying the list is empty). */
PE_API pe_status pe_fetch_wikidata_check_ids(const char *ids, size_t *n, pe_error *err);

#ifdef __cplusplus
}
#endif
#endif
