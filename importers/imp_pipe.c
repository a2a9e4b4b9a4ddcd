/* imp_pipe.c - Wikidata JSON lines and RDF parsed on a second thread.
 *
 * The store writer is single-threaded and takes most of an import's time;
 * decompression and JSON parsing can overlap with it. A parser thread reads
 * lines, validates each record (imp_wd_parse) into a "tape" (the sink calls
 * serialised into a byte buffer), and hands full tapes to the calling
 * thread, which replays them into the real sink in input order. Per record
 * the tape ends with its outcome and input position, so batching, strict
 * mode and checkpoints behave exactly as in the single-threaded loop.
 * Memory: at most PIPE_SLOTS tapes of about TAPE_TARGET bytes (plus one
 * record). 32 tapes let the parser run a whole default batch (20k records)
 * ahead, so that it keeps working while the store thread commits; with 4
 * it waited for each commit. */
#include "imp_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define PIPE_SLOTS 32
#define TAPE_TARGET (1u << 20)
#define TAPE_RECORDS 1024

enum { OP_ENTITY = 1, OP_SUBJECT, OP_TEXT, OP_SITELINK, OP_STATEMENT, OP_SAMEAS, OP_RECORD, OP_END };

/* OP_RECORD kinds (imp_record_outcome.kind) */

typedef struct tape {
    unsigned char *buf;
    size_t len, cap;
    int oom;
} tape;

static void put(tape *t, const void *p, size_t n)
{
    if (t->oom) return;
    if (t->len + n > t->cap) {
        size_t nc = t->cap ? t->cap : 64 * 1024;
        while (nc < t->len + n) nc *= 2;
        unsigned char *nb = realloc(t->buf, nc);
        if (!nb) { t->oom = 1; return; }
        t->buf = nb;
        t->cap = nc;
    }
    memcpy(t->buf + t->len, p, n);
    t->len += n;
}

static void put_u8(tape *t, unsigned v) { unsigned char c = (unsigned char)v; put(t, &c, 1); }
static void put_u64(tape *t, uint64_t v) { put(t, &v, 8); }
static void put_f64(tape *t, double v) { put(t, &v, 8); }

/* length u32 (0xFFFFFFFF = NULL), bytes, NUL */
static void put_str(tape *t, const char *s, size_t n)
{
    uint32_t l = s ? (uint32_t)n : 0xFFFFFFFFu;
    put(t, &l, 4);
    if (s) { put(t, s, n); put_u8(t, 0); }
}
static void put_cstr(tape *t, const char *s) { put_str(t, s, s ? strlen(s) : 0); }

typedef struct reader {
    const unsigned char *p, *end;
} reader;

static uint8_t get_u8(reader *r) { return *r->p++; }
static uint64_t get_u64(reader *r) { uint64_t v; memcpy(&v, r->p, 8); r->p += 8; return v; }
static double get_f64(reader *r) { double v; memcpy(&v, r->p, 8); r->p += 8; return v; }
static const char *get_str(reader *r, size_t *n)
{
    uint32_t l;
    memcpy(&l, r->p, 4);
    r->p += 4;
    if (l == 0xFFFFFFFFu) { if (n) *n = 0; return NULL; }
    const char *s = (const char *)r->p;
    r->p += l + 1;
    if (n) *n = l;
    return s;
}

/* ---- the tape sink (parser thread) ----------------------------------------- */

static pe_status t_entity(void *u, const char *id, size_t len, pe_kg_entity_kind kind, const char *dt)
{
    tape *t = u;
    put_u8(t, OP_ENTITY);
    put_str(t, id, len);
    put_u8(t, kind);
    put_cstr(t, dt);
    return t->oom ? PE_ERR_NOMEM : PE_OK;
}
static pe_status t_subject(void *u, const char *term, size_t len, int declare)
{
    tape *t = u;
    put_u8(t, OP_SUBJECT);
    put_str(t, term, len);
    put_u8(t, (unsigned)declare);
    return t->oom ? PE_ERR_NOMEM : PE_OK;
}
static pe_status t_text(void *u, pe_kg_text_kind kind, const char *lang, const char *text, size_t len)
{
    tape *t = u;
    put_u8(t, OP_TEXT);
    put_u8(t, kind);
    put_cstr(t, lang);
    put_str(t, text, len);
    return t->oom ? PE_ERR_NOMEM : PE_OK;
}
static pe_status t_sitelink(void *u, const char *site, const char *title)
{
    tape *t = u;
    put_u8(t, OP_SITELINK);
    put_cstr(t, site);
    put_cstr(t, title);
    return t->oom ? PE_ERR_NOMEM : PE_OK;
}
static pe_status t_statement(void *u, const char *pred, size_t len, const imp_value *o, pe_kg_rank rank)
{
    tape *t = u;
    const pe_kg_value *v = &o->v;
    put_u8(t, OP_STATEMENT);
    put_str(t, pred, len);
    put_u8(t, rank);
    put_u8(t, v->type);
    put_str(t, o->term, o->term_len);
    put_str(t, v->text, v->text_len);
    put_cstr(t, v->lang);
    put_cstr(t, v->datatype);
    put_cstr(t, v->unit);
    put_cstr(t, v->calendar);
    put_cstr(t, v->globe);
    put_f64(t, v->amount);
    put_f64(t, v->lower);
    put_f64(t, v->upper);
    put_f64(t, v->lat);
    put_f64(t, v->lon);
    put_f64(t, v->coord_precision);
    put_u64(t, (uint64_t)(int64_t)v->precision);
    return t->oom ? PE_ERR_NOMEM : PE_OK;
}
static pe_status t_sameas(void *u, const char *other, size_t len)
{
    tape *t = u;
    put_u8(t, OP_SAMEAS);
    put_str(t, other, len);
    return t->oom ? PE_ERR_NOMEM : PE_OK;
}

/* Replays one tape; done() after each record. */
static pe_status replay(const tape *t, const imp_sink *sink, imp_record_done_fn done, void *user, int *end,
                        pe_error *err)
{
    reader r = {t->buf, t->buf + t->len};
    pe_status st = PE_OK;
    while (r.p < r.end && st == PE_OK) {
        uint8_t op = get_u8(&r);
        switch (op) {
        case OP_ENTITY: {
            size_t n;
            const char *id = get_str(&r, &n);
            pe_kg_entity_kind kind = (pe_kg_entity_kind)get_u8(&r);
            const char *dt = get_str(&r, NULL);
            st = sink->entity(sink->user, id, n, kind, dt);
            break;
        }
        case OP_SUBJECT: {
            size_t n;
            const char *term = get_str(&r, &n);
            int declare = get_u8(&r);
            st = sink->subject(sink->user, term, n, declare);
            break;
        }
        case OP_TEXT: {
            size_t n;
            pe_kg_text_kind kind = (pe_kg_text_kind)get_u8(&r);
            const char *lang = get_str(&r, NULL);
            const char *text = get_str(&r, &n);
            st = sink->text(sink->user, kind, lang, text, n);
            break;
        }
        case OP_SITELINK: {
            const char *site = get_str(&r, NULL);
            const char *title = get_str(&r, NULL);
            st = sink->sitelink(sink->user, site, title);
            break;
        }
        case OP_STATEMENT: {
            size_t pl;
            imp_value o;
            memset(&o, 0, sizeof o);
            const char *pred = get_str(&r, &pl);
            pe_kg_rank rank = (pe_kg_rank)get_u8(&r);
            o.v.type = (pe_kg_value_type)get_u8(&r);
            o.term = get_str(&r, &o.term_len);
            o.v.text = get_str(&r, &o.v.text_len);
            o.v.lang = get_str(&r, NULL);
            o.v.datatype = get_str(&r, NULL);
            o.v.unit = get_str(&r, NULL);
            o.v.calendar = get_str(&r, NULL);
            o.v.globe = get_str(&r, NULL);
            o.v.amount = get_f64(&r);
            o.v.lower = get_f64(&r);
            o.v.upper = get_f64(&r);
            o.v.lat = get_f64(&r);
            o.v.lon = get_f64(&r);
            o.v.coord_precision = get_f64(&r);
            o.v.precision = (int)(int64_t)get_u64(&r);
            st = sink->statement(sink->user, pred, pl, &o, rank);
            break;
        }
        case OP_SAMEAS: {
            size_t n;
            const char *other = get_str(&r, &n);
            st = sink->sameas(sink->user, other, n);
            break;
        }
        case OP_RECORD: {
            imp_record_outcome oc;
            oc.kind = get_u8(&r);
            oc.bad = (int)get_u64(&r);
            oc.status = (pe_status)get_u8(&r);
            oc.msg = get_str(&r, NULL);
            oc.dropped = get_u64(&r);
            oc.bytes = get_u64(&r);
            oc.lines = get_u64(&r);
            oc.raw_read = get_u64(&r);
            st = done(user, &oc);
            break;
        }
        case OP_END: {
            pe_status es = (pe_status)get_u8(&r);
            const char *msg = get_str(&r, NULL);
            imp_record_outcome oc = {IMP_OUTCOME_DROPPED, 0, PE_OK, NULL, get_u64(&r), 0, 0, 0};
            *end = 1;
            if (oc.dropped) st = done(user, &oc);
            if (es != PE_OK && st == PE_OK) st = pe_error_set(err, es, "%s", msg ? msg : "input error");
            break;
        }
        default:
            st = pe_error_set(err, PE_ERR_CORRUPT, "internal: bad tape op %u", op);
        }
    }
    return st;
}

/* ---- the pipeline ---------------------------------------------------------------- */

typedef struct pipe_ctx {
    imp_input *in;
    imp_wd *wd;                 /* Wikidata JSON */
    const imp_rdf_options *rdf; /* or RDF */
    pthread_mutex_t mu;
    pthread_cond_t cv_full, cv_empty;
    tape slots[PIPE_SLOTS];
    int full[PIPE_SLOTS];
    int head, tail;  /* consumer reads slots[head], producer fills slots[tail] */
    int stop;        /* the consumer gave up */
    tape work;       /* the producer's tape being filled */
    size_t target;   /* bytes that make a tape full: small at first, so that
                        the store thread starts early, then TAPE_TARGET */
    uint64_t dropped, dropped_sent;
} pipe_ctx;

static void end_op(pipe_ctx *c, pe_status st, const char *msg)
{
    tape *t = &c->work;
    put_u8(t, OP_END);
    put_u8(t, st);
    put_cstr(t, msg);
    put_u64(t, c->dropped - c->dropped_sent);
    c->dropped_sent = c->dropped;
}

static void record_op(pipe_ctx *c, int kind, int bad, pe_status st, const char *msg, uint64_t bytes, uint64_t lines)
{
    tape *t = &c->work;
    put_u8(t, OP_RECORD);
    put_u8(t, (unsigned)kind);
    put_u64(t, (uint64_t)bad);
    put_u8(t, st);
    put_cstr(t, bad ? msg : NULL);
    put_u64(t, c->dropped - c->dropped_sent);
    c->dropped_sent = c->dropped;
    put_u64(t, bytes);
    put_u64(t, lines);
    put_u64(t, imp_input_raw_read(c->in));
}

/* Hands the work tape over (waiting for a free slot); 0 when the consumer stopped. */
static int publish(pipe_ctx *c)
{
    pthread_mutex_lock(&c->mu);
    while (c->full[c->tail] && !c->stop) pthread_cond_wait(&c->cv_empty, &c->mu);
    if (c->stop) {
        pthread_mutex_unlock(&c->mu);
        return 0;
    }
    tape *slot = &c->slots[c->tail];
    tape tmp = *slot;
    *slot = c->work;
    c->work = tmp;
    c->work.len = 0;
    c->work.oom = 0;
    c->full[c->tail] = 1;
    c->tail = (c->tail + 1) % PIPE_SLOTS;
    if (c->target < TAPE_TARGET) c->target *= 2;
    pthread_cond_signal(&c->cv_full);
    pthread_mutex_unlock(&c->mu);
    return 1;
}

static int work_oom(pipe_ctx *c)
{
    if (!c->work.oom) return 0;
    c->work.len = 0;
    c->work.oom = 0;
    end_op(c, PE_ERR_NOMEM, "out of memory for the parser's buffer");
    publish(c);
    return 1;
}

static void produce_json(pipe_ctx *c)
{
    const char *path = imp_input_path(c->in);
    tape *t = &c->work;
    imp_sink ts = {t, t_entity, t_subject, t_text, t_sitelink, t_statement, t_sameas};
    pe_error e;
    pe_error_clear(&e);
    /* A dump's array: "[" on its first line, "]" on its last. One that
     * ends without "]" was cut (at a line boundary, so that every line
     * parses): the import fails as for a truncated file, keeping the
     * records read. (A resumed import starts after the "[" and cannot tell.) */
    int array_open = 0, array_closed = 0, first = imp_input_line_no(c->in) == 0;
    for (;;) {
        for (int records = 0; records < TAPE_RECORDS && t->len < c->target; records++) {
            const char *line;
            size_t len;
            pe_status st = imp_input_line(c->in, &line, &len, &e);
            if (st == PE_DONE) {
                if (array_open && !array_closed) {
                    char msg[PE_ERRMSG_MAX];
                    snprintf(msg, sizeof msg, "%s:%llu: truncated JSON array: the \"[\" of line 1 is never closed "
                             "(no \"]\" line): the dump looks cut short", path,
                             (unsigned long long)imp_input_line_no(c->in));
                    end_op(c, PE_ERR_IO, msg);
                } else {
                    end_op(c, PE_OK, NULL);
                }
                goto last;
            }
            if (st == PE_ERR_LIMIT) {
                record_op(c, IMP_OUTCOME_LINE, 1, st, e.msg, imp_input_offset(c->in), imp_input_line_no(c->in));
                continue;
            }
            if (st != PE_OK) { end_op(c, st, e.msg); goto last; }
            while (len && (*line == ' ' || *line == '\t')) { line++; len--; }
            while (len && (line[len - 1] == ' ' || line[len - 1] == '\t')) len--;
            if (len && line[len - 1] == ',') len--;
            if (len == 1 && *line == '[' && first) array_open = 1;
            if (len == 1 && *line == ']') array_closed = 1;
            else if (len && array_closed) array_closed = 0; /* records after "]": not its end */
            if (len) first = 0;
            if (len == 0 || (len == 1 && (*line == '[' || *line == ']'))) {
                record_op(c, IMP_OUTCOME_LINE, 0, PE_OK, NULL, imp_input_offset(c->in), imp_input_line_no(c->in));
                continue;
            }
            size_t mark = t->len;
            uint64_t n = 0;
            st = imp_wd_parse(c->wd, line, len, path, imp_input_line_no(c->in), &ts, &n, &c->dropped, &e);
            if (st == PE_OK) {
                /* a response may have skipped some of its entities */
                int bad = imp_wd_bad_entities(c->wd);
                record_op(c, IMP_OUTCOME_LINE, bad, bad ? e.status : PE_OK, bad ? e.msg : NULL,
                          imp_input_offset(c->in), imp_input_line_no(c->in));
            } else if (st == PE_ERR_PARSE || st == PE_ERR_UTF8) {
                t->len = mark; /* nothing of a bad record (it writes nothing anyway) */
                record_op(c, IMP_OUTCOME_LINE, 1, st, e.msg, imp_input_offset(c->in), imp_input_line_no(c->in));
            } else {
                t->len = mark;
                end_op(c, st, e.msg);
                goto last;
            }
        }
        if (work_oom(c) || !publish(c)) return;
    }
last:
    if (!work_oom(c)) publish(c);
}

/* RDF: raptor runs here; records and safe points go on the tape. */
static pe_status p_record(void *u, int bad, const char *msg)
{
    pipe_ctx *c = u;
    record_op(c, IMP_OUTCOME_RECORD, bad, PE_ERR_PARSE, msg, 0, 0);
    return PE_OK;
}

static pe_status p_point(void *u, uint64_t bytes, uint64_t lines)
{
    pipe_ctx *c = u;
    record_op(c, IMP_OUTCOME_POINT, 0, PE_OK, NULL, bytes, lines);
    if (c->work.len < c->target) return PE_OK;
    if (c->work.oom) return PE_ERR_NOMEM;
    return publish(c) ? PE_OK : PE_ERR_INVALID; /* the consumer stopped: stop raptor */
}

static void produce_rdf(pipe_ctx *c)
{
    tape *t = &c->work;
    imp_sink ts = {t, t_entity, t_subject, t_text, t_sitelink, t_statement, t_sameas};
    imp_rdf_options o = *c->rdf;
    o.record = p_record;
    o.point = p_point;
    o.record_user = c;
    o.dropped = &c->dropped;
    pe_error e;
    pe_error_clear(&e);
    pe_status st = imp_rdf_parse(c->in, &o, &ts, &e);
    if (work_oom(c)) return;
    if (st == PE_ERR_INVALID && c->stop) return;
    end_op(c, st, st == PE_OK ? NULL : e.msg);
    if (!work_oom(c)) publish(c);
}

static void *producer(void *arg)
{
    pipe_ctx *c = arg;
    if (c->wd) produce_json(c);
    else produce_rdf(c);
    return NULL;
}

static pe_status run_pipeline(pipe_ctx *c, const imp_sink *sink, imp_record_done_fn done, void *user, pe_error *err)
{
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv_full, NULL);
    pthread_cond_init(&c->cv_empty, NULL);
    pthread_t th;
    pe_status st = PE_OK;
    c->target = TAPE_TARGET / 64;
    if (pthread_create(&th, NULL, producer, c) != 0) {
        st = pe_error_set(err, PE_ERR_NOMEM, "cannot start the parser thread");
        goto out;
    }
    int end = 0;
    while (!end && st == PE_OK) {
        pthread_mutex_lock(&c->mu);
        while (!c->full[c->head]) pthread_cond_wait(&c->cv_full, &c->mu);
        pthread_mutex_unlock(&c->mu);
        st = replay(&c->slots[c->head], sink, done, user, &end, err);
        pthread_mutex_lock(&c->mu);
        c->full[c->head] = 0;
        c->head = (c->head + 1) % PIPE_SLOTS;
        pthread_cond_signal(&c->cv_empty);
        pthread_mutex_unlock(&c->mu);
    }
    pthread_mutex_lock(&c->mu);
    c->stop = 1;
    pthread_cond_broadcast(&c->cv_empty);
    pthread_mutex_unlock(&c->mu);
    pthread_join(th, NULL);
out:
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv_full);
    pthread_cond_destroy(&c->cv_empty);
    for (int i = 0; i < PIPE_SLOTS; i++) free(c->slots[i].buf);
    free(c->work.buf);
    return st;
}

pe_status imp_rdf_pipeline(imp_input *in, const imp_rdf_options *opt, const imp_sink *sink, imp_record_done_fn done,
                           void *user, pe_error *err)
{
    pipe_ctx *c = calloc(1, sizeof *c);
    if (!c) return pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    c->in = in;
    c->rdf = opt;
    pe_status st = run_pipeline(c, sink, done, user, err);
    free(c);
    return st;
}

pe_status imp_wd_pipeline(imp_input *in, const imp_langs *langs, const imp_sink *sink, imp_record_done_fn done,
                          void *user, pe_error *err)
{
    pipe_ctx *c = calloc(1, sizeof *c);
    if (!c) return pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    c->in = in;
    if (imp_wd_new(langs, &c->wd) != PE_OK) {
        free(c);
        return pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    }
    pe_status st = run_pipeline(c, sink, done, user, err);
    imp_wd_free(c->wd);
    free(c);
    return st;
}
