/* import.c - pe_import_file: format detection, the store sink (batches
 * committed with their input position), resume, strict mode, progress.
 *
 * Resume: every commit stores the counts and the input position (decoded
 * bytes and lines; for Turtle/RDF-XML the number of statements) in the
 * source record, in the same transaction as the data. A resumed import
 * re-decompresses and discards the input up to that position (Turtle and
 * RDF/XML: re-parses and ignores that many statements) and continues from
 * the committed counts, so it ends with the counts of an uninterrupted run.
 * Without opt->resume, a RUNNING source of the same file (a crashed import)
 * is an error (PE_ERR_INVALID) that says to pass resume; nothing is written.
 * Standard input cannot be resumed (its checksum is not known up front).
 *
 * Failures: without strict, a bad record is skipped and counted. A fatal
 * error (truncated or unreadable input, a Turtle/RDF-XML syntax error, a
 * store error) keeps the complete records read before it: they are
 * committed, and the source is marked FAILED with the error. With strict,
 * the first bad record aborts the current batch (rolled back), the source is
 * marked FAILED as of its last commit, and the error is returned.
 */
#include "imp_internal.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

pe_status pe_import_format_parse(const char *name, pe_import_format *out)
{
    static const struct { const char *n; pe_import_format f; } t[] = {
        {"auto", PE_IMPORT_AUTO},       {"wikidata-json", PE_IMPORT_WIKIDATA_JSON}, {"json", PE_IMPORT_WIKIDATA_JSON},
        {"ntriples", PE_IMPORT_NTRIPLES}, {"nt", PE_IMPORT_NTRIPLES},               {"turtle", PE_IMPORT_TURTLE},
        {"ttl", PE_IMPORT_TURTLE},      {"rdfxml", PE_IMPORT_RDFXML},               {"rdf-xml", PE_IMPORT_RDFXML},
    };
    if (!name || !out) return PE_ERR_INVALID;
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (strcmp(name, t[i].n) == 0) { *out = t[i].f; return PE_OK; }
    return PE_ERR_INVALID;
}

const char *pe_import_format_name(pe_import_format f)
{
    switch (f) {
    case PE_IMPORT_AUTO: return "auto";
    case PE_IMPORT_WIKIDATA_JSON: return "wikidata-json";
    case PE_IMPORT_NTRIPLES: return "ntriples";
    case PE_IMPORT_TURTLE: return "turtle";
    case PE_IMPORT_RDFXML: return "rdfxml";
    }
    return "unknown";
}

pe_import_options pe_import_options_default(void)
{
    pe_import_options o;
    memset(&o, 0, sizeof o);
    o.format = PE_IMPORT_AUTO;
    o.batch_records = 20000;
    o.max_line = (size_t)256 << 20;
    return o;
}

/* ---- format detection ----------------------------------------------------- */

static int ends_with(const char *s, size_t n, const char *suf)
{
    size_t k = strlen(suf);
    return n >= k && strncasecmp(s + n - k, suf, k) == 0;
}

static pe_import_format format_from_name(const char *path)
{
    size_t n = strlen(path);
    if (ends_with(path, n, ".gz")) n -= 3;
    else if (ends_with(path, n, ".bz2")) n -= 4;
    if (ends_with(path, n, ".json") || ends_with(path, n, ".ndjson") || ends_with(path, n, ".jsonl"))
        return PE_IMPORT_WIKIDATA_JSON;
    if (ends_with(path, n, ".nt")) return PE_IMPORT_NTRIPLES;
    if (ends_with(path, n, ".ttl") || ends_with(path, n, ".n3")) return PE_IMPORT_TURTLE;
    if (ends_with(path, n, ".rdf") || ends_with(path, n, ".owl") || ends_with(path, n, ".xml"))
        return PE_IMPORT_RDFXML;
    return PE_IMPORT_AUTO;
}

static pe_import_format format_from_content(const char *p, size_t n)
{
    size_t i = 0;
    if (n >= 3 && (unsigned char)p[0] == 0xEF && (unsigned char)p[1] == 0xBB && (unsigned char)p[2] == 0xBF) i = 3;
    for (;;) {
        while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n')) i++;
        if (i < n && p[i] == '#') { /* comment line (N-Triples / Turtle) */
            while (i < n && p[i] != '\n') i++;
            continue;
        }
        break;
    }
    if (i >= n) return PE_IMPORT_AUTO;
    const char *s = p + i;
    size_t r = n - i;
    if (*s == '[' || *s == '{') return PE_IMPORT_WIKIDATA_JSON;
    if (r >= 5 && memcmp(s, "<?xml", 5) == 0) return PE_IMPORT_RDFXML;
    if (r >= 8 && memcmp(s, "<rdf:RDF", 8) == 0) return PE_IMPORT_RDFXML;
    if (*s == '@' || (r >= 6 && (strncasecmp(s, "PREFIX", 6) == 0 || strncasecmp(s, "BASE", 4) == 0)))
        return PE_IMPORT_TURTLE;
    if (*s == '<' || (r >= 2 && s[0] == '_' && s[1] == ':')) {
        /* N-Triples unless the first line uses Turtle abbreviations */
        const char *nl = memchr(s, '\n', r);
        size_t ll = nl ? (size_t)(nl - s) : r;
        while (ll && (s[ll - 1] == ' ' || s[ll - 1] == '\r' || s[ll - 1] == '\t')) ll--;
        if (ll && s[ll - 1] == '.' && !memchr(s, ';', ll)) return PE_IMPORT_NTRIPLES;
        return PE_IMPORT_TURTLE;
    }
    return PE_IMPORT_AUTO;
}

/* A ".ttl" file whose first 64 KiB are N-Triples lines (DBpedia ships
 * N-Triples under that name) is read as N-Triples: raptor 2.0.15's Turtle
 * parser keeps all its input in memory, its N-Triples parser does not. */
static int looks_like_ntriples(const char *p, size_t n)
{
    int lines = 0;
    while (n > 0) {
        const char *nl = memchr(p, '\n', n);
        if (!nl) break; /* the last, incomplete line of the window */
        size_t l = (size_t)(nl - p);
        while (l && (p[l - 1] == '\r' || p[l - 1] == ' ' || p[l - 1] == '\t')) l--;
        size_t i = 0;
        while (i < l && (p[i] == ' ' || p[i] == '\t')) i++;
        if (i < l && p[i] != '#') {
            if (!(p[i] == '<' || (p[i] == '_' && i + 1 < l && p[i + 1] == ':')) || p[l - 1] != '.') return 0;
            if (memchr(p + i, ';', l - i) && !memchr(p + i, '"', l - i)) return 0; /* predicate lists */
            lines++;
        }
        n -= (size_t)(nl - p) + 1;
        p = nl + 1;
    }
    return lines > 0;
}

/* "20240101" in the file name -> "2024-01-01" */
static void dump_date_from_name(const char *path, char out[16])
{
    out[0] = '\0';
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    for (const char *q = b; *q; q++) {
        int k = 0;
        while (k < 8 && q[k] >= '0' && q[k] <= '9') k++;
        if (k == 8 && !(q[8] >= '0' && q[8] <= '9') && (q == b || !(q[-1] >= '0' && q[-1] <= '9')) &&
            (q[0] == '1' || q[0] == '2') && (q[4] == '0' || q[4] == '1') && q[6] <= '3') {
            snprintf(out, 16, "%.4s-%.2s-%.2s", q, q + 4, q + 6);
            return;
        }
    }
}

/* ---- the store sink ------------------------------------------------------- */

#define PRED_CACHE 1024

typedef struct imp_run {
    pe_kg *kg;
    const char *path;          /* the file read */
    const char *name;          /* what messages name: path, or opt->source_name cut to 120 bytes */
    char name_buf[128];
    pe_kg_writer *w;           /* open batch, NULL between batches */
    uint32_t source;
    const pe_import_options *opt;
    imp_input *in;
    pe_import_format format;
    pe_kg_counts c;            /* running totals */
    pe_kg_counts committed;    /* as of the last commit */
    char first_error[PE_ERRMSG_MAX];
    size_t in_batch;           /* records since the last commit */
    uint64_t records;          /* records in this run (for RDF statement positions) */
    uint64_t rdf_base;         /* statements before this run (resume) */
    uint64_t rdf_lines;        /* Turtle/RDF-XML: input line of the last safe point */
    pe_kg_id subj;
    char *subj_term; size_t subj_len, subj_cap; /* cache of the last subject term */
    char *decl_term; size_t decl_len, decl_cap; /* last resource declared in this batch */
    struct { char *term; size_t len; pe_kg_id id; } pred[PRED_CACHE];
    pe_error *err;
    double start, last_progress;
    /* strict-mode abort */
    pe_status record_status;
    int piped;                 /* a parser thread reads the input */
    int held;                  /* this run holds its source (pe_kg_source_hold) */
    uint64_t raw_read, offset; /* positions of the last record it handed over */
} imp_run;

static void cache_clear(imp_run *r)
{
    r->subj = 0;
    r->subj_len = 0;
    for (size_t i = 0; i < PRED_CACHE; i++) {
        free(r->pred[i].term);
        r->pred[i].term = NULL;
    }
}

/* A message about the input starts with the path the parsers were given;
 * with a source name it starts with that instead (the file may be a
 * temporary one, gone when the message is read). */
static void rename_msg(const imp_run *r, char *msg, size_t cap)
{
    size_t k = strlen(r->path);
    if (r->name == r->path || strncmp(msg, r->path, k) != 0 || msg[k] != ':') return;
    char tmp[PE_ERRMSG_MAX];
    snprintf(tmp, sizeof tmp, "%s%s", r->name, msg + k);
    snprintf(msg, cap, "%s", tmp);
}

/* `name` for messages: whole up to 120 bytes, else its first 80 and last 37
 * bytes (not splitting a UTF-8 sequence) around "...". */
static void short_name(const char *name, char out[128])
{
    size_t n = strlen(name);
    if (n <= 120) {
        memcpy(out, name, n + 1);
        return;
    }
    size_t head = 80;
    while (head > 0 && ((unsigned char)name[head] & 0xC0) == 0x80) head--;
    const char *tail = name + n - 37;
    while (*tail && ((unsigned char)*tail & 0xC0) == 0x80) tail++;
    snprintf(out, 128, "%.*s...%s", (int)head, name, tail);
}

static pe_status store_fail(imp_run *r, pe_status st, const char *what)
{
    return pe_error_set(r->err, st >= PE_ERR_FIRST ? st : PE_ERR_STORE, "%s: %s: %s", r->name, what,
                        pe_kg_errmsg(r->kg));
}

static pe_status ensure_writer(imp_run *r)
{
    if (r->w) return PE_OK;
    pe_status st = pe_kg_writer_begin(r->kg, &r->w);
    if (st != PE_OK) { r->w = NULL; return store_fail(r, st, "cannot start a write transaction"); }
    return PE_OK;
}

static pe_status intern(imp_run *r, const char *term, size_t len, pe_kg_id *id)
{
    pe_status st = pe_kg_intern(r->w, term, len, id);
    if (st != PE_OK) {
        char what[160];
        snprintf(what, sizeof what, "cannot intern term '%.100s'", term);
        return store_fail(r, st, what);
    }
    return PE_OK;
}

static pe_status set_subject(imp_run *r, const char *term, size_t len)
{
    pe_status st;
    if (r->subj && r->subj_len == len && memcmp(r->subj_term, term, len) == 0) return PE_OK;
    PE_TRY(st, intern(r, term, len, &r->subj));
    if (len + 1 > r->subj_cap) {
        char *nb = realloc(r->subj_term, len + 64);
        if (!nb) return pe_error_set(r->err, PE_ERR_NOMEM, "out of memory");
        r->subj_term = nb;
        r->subj_cap = len + 64;
    }
    memcpy(r->subj_term, term, len);
    r->subj_len = len;
    return PE_OK;
}

static pe_status sink_entity(void *u, const char *id, size_t len, pe_kg_entity_kind kind, const char *datatype)
{
    imp_run *r = u;
    pe_status st;
    PE_TRY(st, ensure_writer(r));
    PE_TRY(st, set_subject(r, id, len));
    st = pe_kg_put_kind(r->w, r->subj, kind, datatype, r->source);
    if (st != PE_OK) return store_fail(r, st, "cannot write entity");
    r->c.entities++;
    return PE_OK;
}

static int is_wikidata_iri(const char *t, size_t n)
{
    static const char *pre[] = {"http://www.wikidata.org/entity/", "https://www.wikidata.org/entity/",
                                "http://www.wikidata.org/prop/direct/", "https://www.wikidata.org/wiki/"};
    for (size_t i = 0; i < sizeof pre / sizeof pre[0]; i++) {
        size_t k = strlen(pre[i]);
        if (n > k && memcmp(t, pre[i], k) == 0) return 1;
    }
    return imp_wd_valid_id(t, n, 1);
}

static pe_status sink_subject(void *u, const char *term, size_t len, int declare)
{
    imp_run *r = u;
    pe_status st;
    PE_TRY(st, ensure_writer(r));
    PE_TRY(st, set_subject(r, term, len));
    /* A RDF resource gets its record; Wikidata entities seen through RDF keep
     * the kind their JSON import gives them, blank nodes get none. */
    if (!declare || (len >= 2 && term[0] == '_' && term[1] == ':') || is_wikidata_iri(term, len)) return PE_OK;
    if (r->decl_len == len && memcmp(r->decl_term, term, len) == 0) return PE_OK; /* same run */
    st = pe_kg_put_kind(r->w, r->subj, PE_KG_KIND_RESOURCE, NULL, r->source);
    if (st != PE_OK) return store_fail(r, st, "cannot write resource");
    r->c.entities++;
    if (len + 1 > r->decl_cap) {
        char *nb = realloc(r->decl_term, len + 64);
        if (!nb) return pe_error_set(r->err, PE_ERR_NOMEM, "out of memory");
        r->decl_term = nb;
        r->decl_cap = len + 64;
    }
    memcpy(r->decl_term, term, len);
    r->decl_len = len;
    return PE_OK;
}

static pe_status sink_text(void *u, pe_kg_text_kind kind, const char *lang, const char *text, size_t len)
{
    imp_run *r = u;
    pe_status st = pe_kg_put_text(r->w, r->subj, kind, lang, text, len, r->source);
    if (st != PE_OK) return store_fail(r, st, "cannot write text");
    if (kind == PE_KG_LABEL) r->c.labels++;
    else if (kind == PE_KG_ALIAS) r->c.aliases++;
    else r->c.descriptions++;
    return PE_OK;
}

static pe_status sink_sitelink(void *u, const char *site, const char *title)
{
    imp_run *r = u;
    pe_status st = pe_kg_put_sitelink(r->w, r->subj, site, title, r->source);
    if (st != PE_OK) return store_fail(r, st, "cannot write sitelink");
    return PE_OK;
}

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static pe_status pred_id(imp_run *r, const char *term, size_t len, pe_kg_id *id)
{
    pe_status st;
    size_t slot = hash_bytes(term, len) & (PRED_CACHE - 1);
    if (r->pred[slot].term && r->pred[slot].len == len && memcmp(r->pred[slot].term, term, len) == 0) {
        *id = r->pred[slot].id;
        return PE_OK;
    }
    PE_TRY(st, intern(r, term, len, id));
    char *copy = malloc(len + 1);
    if (!copy) return PE_OK; /* the cache is optional */
    memcpy(copy, term, len);
    copy[len] = '\0';
    free(r->pred[slot].term);
    r->pred[slot].term = copy;
    r->pred[slot].len = len;
    r->pred[slot].id = *id;
    return PE_OK;
}

static pe_status sink_statement(void *u, const char *pred, size_t len, const imp_value *o, pe_kg_rank rank)
{
    imp_run *r = u;
    pe_status st;
    pe_kg_id p;
    PE_TRY(st, pred_id(r, pred, len, &p));
    pe_kg_value v = o->v;
    if (v.type == PE_KG_VAL_ENTITY) PE_TRY(st, intern(r, o->term, o->term_len, &v.entity));
    st = pe_kg_put_triple(r->w, r->subj, p, &v, rank, r->source);
    if (st != PE_OK) return store_fail(r, st, "cannot write statement");
    r->c.triples++;
    return PE_OK;
}

static pe_status sink_sameas(void *u, const char *other, size_t len)
{
    imp_run *r = u;
    pe_status st;
    pe_kg_id b;
    PE_TRY(st, intern(r, other, len, &b));
    st = pe_kg_put_sameas(r->w, r->subj, b, r->source);
    if (st != PE_OK) return store_fail(r, st, "cannot write owl:sameAs");
    r->c.sameas++;
    r->subj = 0; /* the merge may have changed which id the subject resolves to */
    return PE_OK;
}

/* Commits the batch with the position reached (see imp_point_fn). */
static pe_status commit_at(imp_run *r, uint64_t bytes, uint64_t lines)
{
    pe_status st;
    PE_TRY(st, ensure_writer(r));
    r->c.bytes = bytes;
    r->c.lines = lines;
    if (r->format == PE_IMPORT_TURTLE || r->format == PE_IMPORT_RDFXML)
        r->c.statements = r->rdf_base + r->records; /* the resume position */
    st = pe_kg_source_checkpoint(r->w, r->source, &r->c, r->first_error);
    if (st != PE_OK) return store_fail(r, st, "cannot write the checkpoint");
    st = pe_kg_writer_commit(r->w);
    r->w = NULL;
    if (st != PE_OK) {
        cache_clear(r);
        return store_fail(r, st, "commit failed");
    }
    r->committed = r->c;
    r->in_batch = 0;
    r->decl_len = 0; /* a resumed run starts here: declare afresh */
    return PE_OK;
}

static void progress(imp_run *r, int force)
{
    if (!r->opt->progress) return;
    double now = pe_now();
    if (!force && now - r->last_progress < 0.25) return;
    r->last_progress = now;
    /* The parser thread owns the input while a pipeline runs: use the
     * positions its records carried. */
    uint64_t raw = r->piped ? r->raw_read : imp_input_raw_read(r->in);
    uint64_t off = r->piped ? r->offset : imp_input_offset(r->in);
    pe_import_progress p = {imp_input_path(r->in), raw, imp_input_size(r->in), off, r->c.entities, r->c.triples,
                            r->c.skipped, now - r->start};
    r->opt->progress(&p, r->opt->progress_user);
}

/* After each record: count a bad one, stop in strict mode. */
static pe_status record_done(void *u, int bad, const char *msg)
{
    imp_run *r = u;
    r->records++;
    if (bad) {
        r->c.skipped += (uint64_t)bad; /* records, or entities of a response */
        if (!r->first_error[0] && msg) {
            snprintf(r->first_error, sizeof r->first_error, "%s", msg);
            rename_msg(r, r->first_error, sizeof r->first_error);
            imp_msg_clean(r->first_error); /* stored in the source record, printed as JSON */
        }
        if (r->opt->strict) {
            char copy[PE_ERRMSG_MAX]; /* msg may be r->err->msg itself */
            snprintf(copy, sizeof copy, "%s", msg ? msg : "bad record");
            rename_msg(r, copy, sizeof copy);
            pe_error_set(r->err, r->record_status >= PE_ERR_FIRST ? r->record_status : PE_ERR_PARSE, "%s", copy);
            return r->err->status;
        }
    }
    r->record_status = PE_ERR_PARSE;
    r->in_batch++;
    return PE_OK;
}

/* At a safe point (imp_point_fn): commit a full batch. */
static pe_status point_done(void *u, uint64_t bytes, uint64_t lines)
{
    imp_run *r = u;
    if (r->format == PE_IMPORT_TURTLE || r->format == PE_IMPORT_RDFXML) r->rdf_lines = lines;
    if (r->in_batch >= r->opt->batch_records) return commit_at(r, bytes, lines);
    progress(r, 0);
    return PE_OK;
}

/* A line of Wikidata JSON is a record and a safe point. */
static pe_status line_done(imp_run *r, int bad, const char *msg)
{
    pe_status st = record_done(r, bad, msg);
    return st == PE_OK ? point_done(r, imp_input_offset(r->in), imp_input_line_no(r->in)) : st;
}

/* Commits where the input is now (between records, or at the end). */
static pe_status commit_batch(imp_run *r)
{
    if (r->format == PE_IMPORT_TURTLE || r->format == PE_IMPORT_RDFXML)
        return commit_at(r, imp_input_offset(r->in), r->rdf_lines);
    return commit_at(r, imp_input_offset(r->in), imp_input_line_no(r->in));
}

/* ---- Wikidata JSON driving ------------------------------------------------ */

static const imp_sink *store_sink(imp_run *r, imp_sink *s)
{
    s->user = r;
    s->entity = sink_entity;
    s->subject = sink_subject;
    s->text = sink_text;
    s->sitelink = sink_sitelink;
    s->statement = sink_statement;
    s->sameas = sink_sameas;
    return s;
}

/* A pretty-printed document (the first line opens an object but does not
 * close it) is read whole; otherwise one entity a line, with the dump's
 * "[" / "]" lines and trailing commas. */
static int whole_document(const char *p, size_t n)
{
    size_t i = 0;
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n')) i++;
    if (i >= n || p[i] != '{') return 0;
    const char *nl = memchr(p + i, '\n', n - i);
    if (!nl) return 0; /* one long line (or a line longer than the peek) */
    const char *e = nl;
    while (e > p + i && (e[-1] == ' ' || e[-1] == '\r' || e[-1] == '\t' || e[-1] == ',')) e--;
    return e[-1] != '}';
}

static pe_status pipe_done(void *u, const imp_record_outcome *oc)
{
    imp_run *r = u;
    r->c.dropped += oc->dropped;
    if (oc->kind == IMP_OUTCOME_DROPPED) return PE_OK;
    pe_status st = PE_OK;
    if (oc->kind != IMP_OUTCOME_POINT) {
        if (oc->bad) r->record_status = oc->status;
        st = record_done(r, oc->bad, oc->msg);
    }
    if (st != PE_OK || oc->kind == IMP_OUTCOME_RECORD) return st;
    r->raw_read = oc->raw_read;
    r->offset = oc->bytes;
    return point_done(r, oc->bytes, oc->lines);
}

static pe_status run_wikidata(imp_run *r, const imp_langs *langs, int resumed)
{
    pe_status st;
    imp_wd *wd;
    imp_sink sink;
    store_sink(r, &sink);
    if (imp_wd_new(langs, &wd) != PE_OK) return pe_error_set(r->err, PE_ERR_NOMEM, "out of memory");
    pe_error rec_err;
    pe_error_clear(&rec_err);
    const char *path = imp_input_path(r->in);
    const char *p;
    size_t n;
    st = imp_input_peek(r->in, 64 * 1024, &p, &n, r->err);
    if (st == PE_OK && !resumed && whole_document(p, n)) {
        const char *doc;
        size_t len;
        uint64_t ents = 0;
        st = imp_input_rest(r->in, &doc, &len, &rec_err);
        if (st == PE_OK) st = imp_wd_parse(wd, doc, len, path, 1, &sink, &ents, &r->c.dropped, &rec_err);
        if (st == PE_ERR_PARSE || st == PE_ERR_UTF8 || st == PE_ERR_LIMIT) {
            r->record_status = st;
            st = line_done(r, 1, rec_err.msg);
        } else if (st == PE_OK) {
            int bad = imp_wd_bad_entities(wd); /* entities of a response skipped */
            if (bad) r->record_status = rec_err.status;
            st = line_done(r, bad, bad ? rec_err.msg : NULL);
        } else if (rec_err.status == st) {
            *r->err = rec_err;
        }
        imp_wd_free(wd);
        return st;
    }
    imp_wd_free(wd);
    if (st != PE_OK) return st;
    /* One record a line: parsed on a second thread, written here. */
    r->piped = 1;
    st = imp_wd_pipeline(r->in, langs, &sink, pipe_done, r, r->err);
    r->piped = 0;
    return st;
}

/* ---- the import ------------------------------------------------------------ */

/* Marks the source FAILED as of what is committed, with the error. */
static void mark_failed(imp_run *r, const char *msg)
{
    pe_kg_writer_abort(r->w);
    r->w = NULL;
    cache_clear(r);
    pe_kg_writer *w;
    if (pe_kg_writer_begin(r->kg, &w) != PE_OK) return;
    const char *e = r->committed.skipped && r->first_error[0] ? r->first_error : msg;
    if (pe_kg_source_checkpoint(w, r->source, &r->committed, e) != PE_OK ||
        pe_kg_source_finish(w, r->source, PE_KG_SOURCE_FAILED, &r->committed) != PE_OK) {
        pe_kg_writer_abort(w);
        return;
    }
    pe_kg_writer_commit(w);
}

pe_status pe_import_file(pe_kg *kg, const char *path, const pe_import_options *opt_in, pe_import_result *res,
                         pe_error *err)
{
    pe_error local;
    if (!err) err = &local;
    pe_error_clear(err);
    pe_import_options defaults = pe_import_options_default();
    const pe_import_options *opt = opt_in ? opt_in : &defaults;
    if (res) memset(res, 0, sizeof *res);
    if (!kg || !path) return pe_error_set(err, PE_ERR_INVALID, "pe_import_file: kg and path are required");
    if (opt->batch_records == 0) return pe_error_set(err, PE_ERR_INVALID, "batch_records must be at least 1");
    if ((unsigned)opt->format > PE_IMPORT_RDFXML) return pe_error_set(err, PE_ERR_INVALID, "unknown import format");
    imp_langs langs;
    pe_status st;
    PE_TRY(st, imp_langs_parse(opt->langs, &langs, err));

    imp_run *r = calloc(1, sizeof *r);
    if (!r) return pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    r->kg = kg;
    r->opt = opt;
    r->err = err;
    r->path = r->name = path;
    if (opt->source_name && *opt->source_name) {
        short_name(opt->source_name, r->name_buf);
        r->name = r->name_buf;
    }
    r->start = pe_now();
    int is_stdin = strcmp(path, "-") == 0;

    char sha[65];
    if (!is_stdin) {
        /* The checksum identifies the file for provenance and resume. */
        if ((st = pe_sha256_file(path, sha, err)) != PE_OK) goto out;
    }
    if ((st = imp_input_open(path, opt->max_line, &r->in, err)) != PE_OK) goto out;
    if (is_stdin) {
        /* Not resumable: a checksum unique to this run. */
        pe_sha256 h;
        char seed[64];
        int k = snprintf(seed, sizeof seed, "stdin:%ld:%.6f", (long)getpid(), pe_now());
        pe_sha256_init(&h);
        pe_sha256_update(&h, seed, (size_t)k);
        pe_sha256_final_hex(&h, sha);
    }

    r->format = opt->format;
    if (r->format == PE_IMPORT_AUTO) {
        const char *p;
        size_t n;
        if ((st = imp_input_peek(r->in, 64 * 1024, &p, &n, err)) != PE_OK) goto out;
        pe_import_format by_content = format_from_content(p, n);
        r->format = is_stdin ? PE_IMPORT_AUTO : format_from_name(path);
        if (r->format == PE_IMPORT_AUTO) r->format = by_content;
        if (r->format == PE_IMPORT_TURTLE && looks_like_ntriples(p, n)) r->format = PE_IMPORT_NTRIPLES;
        if (r->format == PE_IMPORT_AUTO) {
            st = pe_error_set(err, PE_ERR_UNSUPPORTED,
                              "%s: cannot tell the format from the name or the content; pass a format", r->name);
            goto out;
        }
    }

    /* Register (or find) the source. */
    pe_kg_source info;
    memset(&info, 0, sizeof info);
    char date[16];
    dump_date_from_name(path, date);
    info.path = opt->source_name && *opt->source_name ? opt->source_name : path;
    info.format = pe_import_format_name(r->format);
    info.sha256 = sha;
    info.size = imp_input_size(r->in);
    info.dump_date = date[0] ? date : NULL;
    info.langs = opt->langs && *opt->langs ? opt->langs : NULL;
    info.started = (double)time(NULL);
    info.status = PE_KG_SOURCE_RUNNING;
    int resumed = 0;
    if ((st = ensure_writer(r)) != PE_OK) goto out;
    st = pe_kg_source_begin(r->w, &info, &r->source, &resumed);
    if (st != PE_OK) {
        st = store_fail(r, st, "cannot register the import source");
        goto out;
    }
    if (res) { res->source_id = r->source; res->resumed = resumed; }
    if (resumed != 2) {
        /* Hold the source while importing: another import of the file then
         * knows this one is live, not interrupted (a kill -9 lets go). */
        long pid = 0;
        pe_status hs = pe_kg_source_hold(kg, r->source, &pid);
        if (hs == PE_ERR_BUSY) {
            if (pid)
                st = pe_error_set(err, PE_ERR_BUSY, "%s: this file is being imported now (source %u, process %ld): "
                                  "wait for that import to end", r->name, r->source, pid);
            else
                st = pe_error_set(err, PE_ERR_BUSY, "%s: this file is being imported now (source %u)", r->name,
                                  r->source);
            goto out;
        }
        if (hs == PE_OK) r->held = 1;
    }
    if (resumed) {
        /* Read the source's committed state through a reader (the writer's
         * transaction sees the same data). */
        pe_kg_writer_abort(r->w);
        r->w = NULL;
        pe_kg_reader *rd;
        pe_kg_source src;
        if ((st = pe_kg_reader_begin(kg, &rd)) != PE_OK) { st = store_fail(r, st, "cannot read the store"); goto out; }
        st = pe_kg_source_get(rd, r->source, &src);
        if (st == PE_OK) {
            r->c = src.counts;
            snprintf(r->first_error, sizeof r->first_error, "%s", src.last_error);
        }
        int same_langs = (!src.langs && !info.langs) || (src.langs && info.langs && strcmp(src.langs, info.langs) == 0);
        pe_kg_reader_end(rd);
        if (st != PE_OK) { st = store_fail(r, st, "cannot read the import source"); goto out; }
        r->committed = r->c;
        if (res) { res->counts = r->c; snprintf(res->first_error, sizeof res->first_error, "%s", r->first_error); }
        if (resumed == 2) { st = PE_OK; goto out; } /* already imported: nothing to do */
        if (!opt->resume) {
            st = pe_error_set(err, PE_ERR_INVALID,
                              "%s: an interrupted import of this file exists (source %u, %llu lines committed): "
                              "run again with --resume to continue it",
                              r->name, r->source, (unsigned long long)r->c.lines);
            goto out;
        }
        if (!same_langs) {
            st = pe_error_set(err, PE_ERR_INVALID, "%s: resume with a different language filter (was %s)", r->name,
                              src.langs ? "a list" : "all");
            goto out;
        }
        if (r->format == PE_IMPORT_TURTLE || r->format == PE_IMPORT_RDFXML) {
            r->rdf_base = 0; /* statements are re-parsed and skipped */
        } else if ((st = imp_input_skip(r->in, r->c.bytes, r->c.lines, err)) != PE_OK) {
            goto out;
        }
    } else {
        /* Make the source record durable before the first batch. */
        if ((st = commit_batch(r)) != PE_OK) goto out;
    }

    imp_sink sink;
    if (r->format == PE_IMPORT_WIKIDATA_JSON) {
        st = run_wikidata(r, &langs, resumed == 1);
    } else {
        char scope[32];
        snprintf(scope, sizeof scope, "s%u", r->source);
        imp_rdf_options ro = {.format = r->format, .blank_scope = scope, .langs = &langs, .record = record_done,
                              .point = point_done, .record_user = r, .dropped = &r->c.dropped};
        if (resumed == 1 && (r->format == PE_IMPORT_TURTLE || r->format == PE_IMPORT_RDFXML))
            ro.skip_statements = r->c.statements ? r->c.statements : r->c.lines; /* lines: a version-1 record */
        r->rdf_lines = r->c.lines;
        r->records = 0;
        r->rdf_base = ro.skip_statements;
        r->piped = 1; /* raptor on a second thread, the store here */
        st = imp_rdf_pipeline(r->in, &ro, store_sink(r, &sink), pipe_done, r, err);
        r->piped = 0;
    }
    progress(r, 1);
    if (st == PE_OK) {
        if ((st = commit_batch(r)) == PE_OK && (st = ensure_writer(r)) == PE_OK) {
            st = pe_kg_source_finish(r->w, r->source, PE_KG_SOURCE_DONE, &r->c);
            if (st != PE_OK) st = store_fail(r, st, "cannot finish the import source");
            else {
                st = pe_kg_writer_commit(r->w);
                r->w = NULL;
                if (st != PE_OK) st = store_fail(r, st, "commit failed");
            }
        }
    } else if (!opt->strict && r->w && st != PE_ERR_STORE && st != PE_ERR_FULL && st != PE_ERR_NOMEM &&
               st != PE_ERR_BUSY) {
        /* A fatal input error: keep the complete records read before it. */
        pe_error keep = *err;
        if (commit_batch(r) == PE_OK) *err = keep;
    }
    if (st >= PE_ERR_FIRST) {
        rename_msg(r, err->msg, sizeof err->msg);
        imp_msg_clean(err->msg);
    }
    if (st >= PE_ERR_FIRST && r->source) mark_failed(r, err->msg);
    if (res) {
        res->counts = st >= PE_ERR_FIRST ? r->committed : r->c;
        snprintf(res->first_error, sizeof res->first_error, "%s", r->first_error[0] ? r->first_error : "");
    }
out:
    if (st >= PE_ERR_FIRST) rename_msg(r, err->msg, sizeof err->msg); /* no-op when done above */
    pe_kg_writer_abort(r->w);
    if (r->held) pe_kg_source_release(kg, r->source);
    cache_clear(r);
    free(r->subj_term);
    free(r->decl_term);
    imp_input_close(r->in);
    free(r);
    return st;
}

int pe_import_is_sameas_file(const char *path)
{
    static const char owl_same[] = "<http://www.w3.org/2002/07/owl#sameAs>";
    if (!path || !strcmp(path, "-")) return 0;
    imp_input *in = NULL;
    pe_error err;
    pe_error_clear(&err);
    if (imp_input_open(path, (size_t)1 << 20, &in, &err) != PE_OK) {
        imp_input_close(in);
        return 0;
    }
    int n = 0, ok = 1;
    const char *line;
    size_t len;
    while (ok && n < 64 && imp_input_offset(in) < ((uint64_t)1 << 20) &&
           imp_input_line(in, &line, &len, &err) == PE_OK) {
        size_t i = 0;
        while (i < len && (line[i] == ' ' || line[i] == '\t')) i++;
        if (i == len || line[i] == '#') continue;
        /* subject: <IRI> or _:label, then the predicate */
        if (line[i] == '<') {
            const char *gt = memchr(line + i, '>', len - i);
            if (!gt) { ok = 0; break; }
            i = (size_t)(gt - line) + 1;
        } else if (line[i] == '_' && i + 1 < len && line[i + 1] == ':') {
            while (i < len && line[i] != ' ' && line[i] != '\t') i++;
        } else {
            ok = 0;
            break;
        }
        while (i < len && (line[i] == ' ' || line[i] == '\t')) i++;
        ok = len - i > sizeof owl_same - 1 && !memcmp(line + i, owl_same, sizeof owl_same - 1);
        n++;
    }
    imp_input_close(in);
    return ok && n > 0;
}
