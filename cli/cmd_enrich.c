/* cmd_enrich.c - `persona enrich`: messages (JSON lines) in, personas out.
 * The model finds persona relations, fusion (fusion/pe_fusion.h) links
 * them to the graph and writes attributes with their provenance into the
 * persona store; one JSON line per user comes out. Without --in it is a
 * stdin -> stdout filter (Spark RDD.pipe, Hadoop Streaming). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "enrich.h"
#include "pe_encoder.h"
#include "pe_fusion.h"
#include "pe_personastore.h"
#include "pe_relation.h"

#define ENRICH_MAX_TEXT 65536     /* bytes of a message's text */
#define ENRICH_MAX_LINE (1 << 20) /* bytes of an input line */
#define ENRICH_BATCH 256          /* messages per persona store transaction */
#define ENRICH_ENCODE_BATCH 32    /* messages per encoder pass (pending_flush) */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: persona enrich [--in FILE] [--out FILE] [--db-personas DIR] [--model PATH]\n"
            "                      [--db KG] [--policy FILE] [--strict] [--threads N]\n"
            "\n"
            "Messages in, personas out. Each input line is one message:\n"
            "  {\"user_id\": \"u1\", \"message_id\": \"m1\", \"timestamp\": 1700000000 | \"2023-11-14T22:13:20Z\",\n"
            "   \"text\": \"i live in paris with my two dogs\"}\n"
            "or an existing profile to enrich (its values linked to the graph, checked,\n"
            "derived from, withheld like the model's; message_id defaults to \"profile\",\n"
            "timestamp to 0):\n"
            "  {\"user_id\": \"u1\", \"attributes\": [{\"attribute\": \"residence\", \"value\": \"Lyon\",\n"
            "   \"confidence\": 1, \"entity\": null}]}\n"
            "The model's persona relations become attributes (fusion/pe_fusion.h: schema,\n"
            "graph links and type checks, derived attributes, confidence over evidence,\n"
            "negation, privacy policy), stored with their provenance in the persona store.\n"
            "One JSON line per user of the input comes out, users in byte order of their ids:\n"
            "  {\"user_id\", \"attributes\": [{\"attribute\", \"relation\", \"value\", \"entity\",\n"
            "    \"confidence\", \"sensitivity\", \"evidence\": [message ids]}], \"history\": [...]}\n"
            "(current attributes; history lists every change, oldest first).\n"
            "\n"
            "Without --in, it reads stdin and writes stdout: a filter for Spark RDD.pipe or\n"
            "Hadoop Streaming, partitioned by user (docs/DISTRIBUTED.md). Messages of one\n"
            "user are fused in input order. With --db-personas the store persists: a later\n"
            "run adds new messages without reprocessing old ones, and a message seen before\n"
            "(same user and message id) changes nothing. Without it the store is temporary.\n"
            "\n"
            "Bad lines (not JSON, a missing or mistyped field, a timestamp that does not parse,\n"
            "invalid UTF-8, a text over %d bytes, a line over %d bytes) are named as\n"
            "FILE:LINE on stderr, skipped and counted (exit 4), or fatal with --strict.\n"
            "\n"
            "options:\n"
            "  --in FILE          messages (JSON lines); default stdin\n"
            "  --out FILE         personas (JSON lines); default stdout\n"
            "  --db-personas DIR  the persona store (created if missing); default $PERSONA_PERSONAS,\n"
            "                     else a temporary store removed at the end\n"
            "  --model PATH       default: $PERSONA_MODEL, else the shipped model\n"
            "  --db DIR           graph store for linking, type checks and derived attributes;\n"
            "                     default $PERSONA_DB or ./persona-kg when it exists, else none\n"
            "  --link-index DIR   the linker's index (default DB/link when it exists)\n"
            "  --ranker FILE      the linker's ranker (default INDEX/ranker.json when it exists,\n"
            "                     else $PERSONA_RANKER, else the shipped one,\n"
            "                     models/link-ranker.json; none: candidates by prior)\n"
            "  --linker L         linker (default: the entity linker, fusion/pe_link.h) or exact\n"
            "                     (the graph's alias lookup by prior)\n"
            "  --policy FILE      privacy and fusion policy (JSON, see fusion/pe_fusion.h):\n"
            "                     {\"allow\": [\"health\", ...], \"half_life_days\": 365, ...}\n"
            "  --strict           the first bad line is fatal (exit 1; the batch in progress is\n"
            "                     not stored)\n"
            "  --threads N        CPU threads for the model (default: the cores): N batches of\n"
            "                     messages through the encoder at once, each on one thread\n",
            ENRICH_MAX_TEXT, ENRICH_MAX_LINE);
}

static double r4(double v) { return isnan(v) ? v : (double)(long long)(v * 10000.0 + 0.5) / 10000.0; }

static void add_str_or_null(cJSON *o, const char *k, const char *v)
{
    if (v) cJSON_AddStringToObject(o, k, v);
    else cJSON_AddNullToObject(o, k);
}

cJSON *pe_cli_persona_json(pe_ps_reader *r, const char *user)
{
    pe_ps_attr_list *l = NULL;
    pe_ps_history *h = NULL;
    if (pe_ps_attributes(r, user, NULL, PE_PS_LIST_EVIDENCE, &l) != PE_OK) return NULL;
    if (pe_ps_history_get(r, user, NULL, &h) != PE_OK) {
        pe_ps_attr_list_free(l);
        return NULL;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "user_id", user);
    cJSON *as = cJSON_AddArrayToObject(o, "attributes");
    for (size_t i = 0; i < l->n; i++) {
        const pe_ps_attr *a = &l->attrs[i];
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "attribute", a->attribute);
        add_str_or_null(x, "relation", a->relation);
        cJSON_AddStringToObject(x, "value", a->value);
        add_str_or_null(x, "entity", a->entity);
        cJSON_AddNumberToObject(x, "confidence", r4(a->confidence));
        cJSON_AddStringToObject(x, "sensitivity", pe_ps_sensitivity_name(a->sensitivity));
        cJSON *ev = cJSON_AddArrayToObject(x, "evidence");
        for (size_t k = 0; k < a->n_evidence; k++)
            cJSON_AddItemToArray(ev, cJSON_CreateString(a->evidence[k].message_id));
        cJSON_AddItemToArray(as, x);
    }
    cJSON *hs = cJSON_AddArrayToObject(o, "history");
    for (size_t i = 0; i < h->n; i++) {
        const pe_ps_change *c = &h->changes[i];
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "change", pe_ps_change_name(c->kind));
        cJSON_AddStringToObject(x, "attribute", c->attribute);
        cJSON_AddStringToObject(x, "value", c->value);
        if (c->old_value) cJSON_AddStringToObject(x, "replaced", c->old_value);
        cJSON_AddStringToObject(x, "state", pe_ps_state_name(c->state));
        cJSON_AddNumberToObject(x, "confidence", r4(c->confidence));
        add_str_or_null(x, "message_id", c->message_id);
        add_str_or_null(x, "rule", c->rule);
        if (c->reason) cJSON_AddStringToObject(x, "reason", c->reason);
        cJSON_AddItemToArray(hs, x);
    }
    pe_ps_attr_list_free(l);
    pe_ps_history_free(h);
    return o;
}

/* ---- input lines ---- */

typedef enrich_msg msg;

/* A JSON string or number as text into buf; 0 on success. */
static int id_text(const cJSON *j, char *buf, size_t cap)
{
    if (cJSON_IsString(j)) {
        size_t n = strlen(j->valuestring);
        if (n == 0 || n >= cap) return -1;
        memcpy(buf, j->valuestring, n + 1);
        return 0;
    }
    if (cJSON_IsNumber(j) && isfinite(j->valuedouble) && j->valuedouble == floor(j->valuedouble)) {
        snprintf(buf, cap, "%.0f", j->valuedouble);
        return 0;
    }
    return -1;
}

const char *enrich_parse_line(const char *line, size_t len, cJSON **json, msg *m, char *why, size_t cap)
{
    *json = NULL;
    size_t bad;
    if (len > ENRICH_MAX_LINE) return snprintf(why, cap, "line over %d bytes", ENRICH_MAX_LINE), why;
    if (!pe_utf8_valid(line, len, &bad)) return snprintf(why, cap, "invalid UTF-8 at byte %zu", bad), why;
    cJSON *j = cJSON_ParseWithLength(line, len);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return "not a JSON object";
    }
    *json = j;
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(j, "user_id"), *id = cJSON_GetObjectItemCaseSensitive(j, "message_id"),
                *ts = cJSON_GetObjectItemCaseSensitive(j, "timestamp"), *t = cJSON_GetObjectItemCaseSensitive(j, "text");
    if (!u) return "missing \"user_id\"";
    if (id_text(u, m->user, sizeof m->user)) return "\"user_id\" must be a non-empty string (at most 256 bytes) or an integer";
    m->profile = NULL;
    m->text = NULL;
    const cJSON *attrs = cJSON_GetObjectItemCaseSensitive(j, "attributes");
    if (attrs) { /* an existing profile */
        if (!cJSON_IsArray(attrs)) return "\"attributes\" must be an array";
        const cJSON *a;
        cJSON_ArrayForEach(a, attrs)
        {
            const cJSON *n = cJSON_GetObjectItemCaseSensitive(a, "attribute"), *v = cJSON_GetObjectItemCaseSensitive(a, "value"),
                        *c = cJSON_GetObjectItemCaseSensitive(a, "confidence"), *e = cJSON_GetObjectItemCaseSensitive(a, "entity");
            if (!cJSON_IsString(n) || !cJSON_IsString(v)) return "each profile attribute needs \"attribute\" and \"value\" strings";
            if (c && (!cJSON_IsNumber(c) || c->valuedouble < 0 || c->valuedouble > 1)) return "a profile \"confidence\" must be a number in [0, 1]";
            if (e && !cJSON_IsString(e) && !cJSON_IsNull(e)) return "a profile \"entity\" must be a string or null";
        }
        if (!id) snprintf(m->id, sizeof m->id, "profile");
        else if (id_text(id, m->id, sizeof m->id)) return "\"message_id\" must be a non-empty string or an integer";
        m->time = 0;
        if (ts && cJSON_IsNumber(ts) && isfinite(ts->valuedouble)) m->time = ts->valuedouble;
        else if (ts && (!cJSON_IsString(ts) || pe_fusion_parse_time(ts->valuestring, &m->time) != PE_OK))
            return "\"timestamp\" is neither Unix seconds nor ISO 8601";
        m->profile = attrs;
        return NULL;
    }
    if (!id) return "missing \"message_id\"";
    if (id_text(id, m->id, sizeof m->id)) return "\"message_id\" must be a non-empty string or an integer";
    if (!ts) return "missing \"timestamp\"";
    if (cJSON_IsNumber(ts) && isfinite(ts->valuedouble)) {
        m->time = ts->valuedouble;
    } else if (!cJSON_IsString(ts) || pe_fusion_parse_time(ts->valuestring, &m->time) != PE_OK) {
        return "\"timestamp\" is neither Unix seconds nor ISO 8601";
    }
    if (!t) return "missing \"text\"";
    if (!cJSON_IsString(t)) return "\"text\" must be a string";
    if (strlen(t->valuestring) > ENRICH_MAX_TEXT)
        return snprintf(why, cap, "text over %d bytes (%zu)", ENRICH_MAX_TEXT, strlen(t->valuestring)), why;
    m->text = t->valuestring;
    return NULL;
}

/* ---- the run ---- */

typedef struct users {
    char **ids;
    size_t n, cap;
} users;

static int users_add(users *u, const char *id)
{
    for (size_t i = u->n; i > 0 && i + 8 > u->n; i--) /* recent ones first: input partitioned by user */
        if (!strcmp(u->ids[i - 1], id)) return 0;
    if (u->n == u->cap) {
        size_t c = u->cap ? u->cap * 2 : 64;
        char **n = realloc(u->ids, c * sizeof *n);
        if (!n) return -1;
        u->ids = n;
        u->cap = c;
    }
    if (!(u->ids[u->n] = strdup(id))) return -1;
    u->n++;
    return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Parsed lines waiting for the model. Their texts go through the encoder
 * ENRICH_ENCODE_BATCH at a time as one packed batch, on worker threads
 * (pe_encoder_queue) while the lines of the batches before go through the
 * heads and the fusion in input order, with the store's transactions cut
 * every ENRICH_BATCH messages. One message (~15 tokens) at a time, every
 * product has ~15 rows: the weights come back from L3 for each message, and
 * with 2 threads each of the ~30 products of a pass would be split into jobs
 * of a few microseconds, the threads waiting on each other (on a busy
 * machine, on one descheduled); batches of 32 on 2 workers keep both cores
 * busy without either waiting. The results are those of one message at a
 * time: a sequence's hidden states do not depend on the rest of the batch
 * nor on the handle (pe_encoder.h; bit for bit on our kernels,
 * test_encoder). */
typedef struct pending_entry {
    cJSON *json; /* owns m's borrowed strings */
    msg m;
    long lineno;
} pending_entry;

typedef struct pending_batch {
    int n;                             /* lines */
    int pushed;                        /* its texts are in the queue */
    int slot[ENRICH_ENCODE_BATCH];     /* line -> text in the batch, -1 for a profile */
    pending_entry e[ENRICH_ENCODE_BATCH];
} pending_batch;

typedef struct pending {
    enrich_run *run;
    const char *in_name;
    users *seen;
    pe_ps_writer *w;          /* the transaction in progress, or NULL */
    long messages;            /* lines stored so far */
    pe_encoder_queue *queue;
    int depth;                /* batches: the queue's depth + the one being filled */
    pending_batch *b;         /* (depth) ring: [head, tail) in the queue, tail being filled */
    unsigned long head, tail;
} pending;

static pending_batch *pending_filling(pending *q) { return &q->b[q->tail % (unsigned long)q->depth]; }

/* Drops every pending line (the workers stopped first: they read the texts). */
static void pending_drop(pending *q)
{
    pe_encoder_queue_free(q->queue);
    q->queue = NULL;
    if (!q->b) return;
    for (; q->head <= q->tail; q->head++) {
        pending_batch *b = &q->b[q->head % (unsigned long)q->depth];
        for (int k = 0; k < b->n; k++) cJSON_Delete(b->e[k].json);
        b->n = 0;
    }
    q->head = q->tail;
}

/* Stores the lines of the oldest batch in the queue. Returns 0, or -1 after
 * printing why (the transaction in progress aborted, every pending line
 * dropped). */
static int pending_store_oldest(pending *q)
{
    enrich_run *run = q->run;
    pending_batch *b = &q->b[q->head % (unsigned long)q->depth];
    int rc = 0;
    pe_error err;
    pe_error_clear(&err);
    /* a batch that failed: each message makes its own pass, which names the failing one */
    pe_encoder_result *res = NULL;
    if (b->pushed && pe_encoder_queue_pop(q->queue, &res) != PE_OK) res = NULL;
    pe_status st;
    for (int i = 0; i < b->n; i++) {
        const pending_entry *e = &b->e[i];
        if (!q->w && (st = pe_ps_writer_begin(run->ps, &q->w)) != PE_OK) {
            pe_cli_fail(st, "%s", pe_ps_errmsg(run->ps));
            rc = -1;
            break;
        }
        st = e->m.profile ? enrich_profile(run, q->w, &e->m, &err)
                          : enrich_message_encoded(run, q->w, e->m.user, e->m.id, e->m.time, e->m.text, res,
                                                   res ? b->slot[i] : 0, &err);
        if (st != PE_OK) {
            pe_cli_error(0, "%s:%ld: %s", q->in_name, e->lineno, err.msg);
            rc = -1;
            break;
        }
        if (users_add(q->seen, e->m.user) < 0) {
            pe_cli_fail(PE_ERR_NOMEM, "%s", "user list");
            rc = -1;
            break;
        }
        q->messages++;
        if (q->messages % ENRICH_BATCH == 0) {
            st = pe_ps_writer_commit(q->w);
            q->w = NULL;
            if (st != PE_OK) {
                pe_cli_fail(st, "%s", pe_ps_errmsg(run->ps));
                rc = -1;
                break;
            }
        }
    }
    pe_encoder_result_free(res);
    if (rc != 0) {
        pe_ps_writer_abort(q->w);
        q->w = NULL;
        pending_drop(q);
        return -1;
    }
    for (int k = 0; k < b->n; k++) cJSON_Delete(b->e[k].json);
    b->n = 0;
    q->head++;
    return 0;
}

/* Hands the batch being filled to the encoder; when the queue is full,
 * stores the oldest batch first. Returns as pending_store_oldest. */
static int pending_submit(pending *q)
{
    pending_batch *b = pending_filling(q);
    if (b->n == 0) return 0;
    const char *texts[ENRICH_ENCODE_BATCH];
    size_t lens[ENRICH_ENCODE_BATCH];
    int nt = 0;
    for (int k = 0; k < b->n; k++) {
        b->slot[k] = -1;
        if (b->e[k].m.profile) continue;
        b->slot[k] = nt;
        texts[nt] = b->e[k].m.text;
        lens[nt++] = strlen(b->e[k].m.text);
    }
    /* the queue full: room first (the workers have the other batches meanwhile) */
    if (q->tail - q->head == (unsigned long)q->depth - 1 && pending_store_oldest(q) != 0) return -1;
    /* not pushed (only profiles, or no memory): stored without a batch pass */
    b->pushed = nt && pe_encoder_queue_push(q->queue, texts, lens, nt) == PE_OK;
    q->tail++;
    return 0;
}

/* Stores every pending line. Returns as pending_store_oldest. */
static int pending_flush(pending *q)
{
    if (pending_submit(q) != 0) return -1;
    while (q->head < q->tail)
        if (pending_store_oldest(q) != 0) return -1;
    return 0;
}

int pe_cmd_enrich(int argc, char **argv)
{
    const char *in_path = NULL, *out_path = NULL, *ps_dir = getenv("PERSONA_PERSONAS"), *model = NULL, *db = NULL,
               *policy = NULL, *link_index = NULL, *ranker = NULL;
    int strict = 0, threads = 0, exact = 0;
    if (ps_dir && !*ps_dir) ps_dir = NULL;
    const pe_cli_opt opts[] = {{"--in", PE_CLI_STRING, &in_path},
                               {"--out", PE_CLI_STRING, &out_path},
                               {"--db-personas", PE_CLI_STRING, &ps_dir},
                               {"--model", PE_CLI_STRING, &model},
                               {"--db", PE_CLI_STRING, &db},
                               {"--policy", PE_CLI_STRING, &policy},
                               {"--link-index", PE_CLI_STRING, &link_index},
                               {"--ranker", PE_CLI_STRING, &ranker},
                               {"--linker", PE_CLI_CHOICE, &exact, .choices = "linker|exact"},
                               {"--strict", PE_CLI_FLAG, &strict},
                               {"--threads", PE_CLI_INT, &threads, .min = 1, .max = 1024},
                               {0}};
    const pe_cli_spec spec = {"enrich", usage, opts, 0, 0,
                              "            (1 with --strict: a bad line; 5: the input, model, graph store,\n"
                              "            link index, ranker or policy file does not exist)\n"};
    int np, prc = pe_cli_parse(&spec, argc, argv, &np);
    if (prc != PE_CLI_RUN) return prc;
    const int db_given = db != NULL;
    pe_fusion_options fo = pe_fusion_options_default();
    pe_error err;
    pe_error_clear(&err);
    if (policy) {
        int rc0 = pe_cli_need_file("policy file", policy);
        if (rc0 != PE_EXIT_OK) return rc0;
        pe_status st = pe_fusion_policy_load(policy, &fo, &err);
        if (st != PE_OK) return pe_cli_fail(st, "%s", err.msg);
    }
    if (in_path) {
        int rc0 = pe_cli_need_file("input", in_path);
        if (rc0 != PE_EXIT_OK) return rc0;
    }
    FILE *in = stdin;
    const char *in_name = "stdin";
    if (in_path && strcmp(in_path, "-") != 0) {
        in = fopen(in_path, "rb");
        if (!in) return pe_cli_error(errno == ENOENT ? PE_EXIT_MISSING : PE_EXIT_FAIL, "%s: %s", in_path, strerror(errno));
        in_name = in_path;
    }
    if (!db) {
        const char *d = pe_cli_default_db();
        struct stat sb;
        if (stat(d, &sb) == 0) db = d;
    }
    enrich_run run;
    memset(&run, 0, sizeof run);
    int rc = PE_EXIT_FAIL;
    FILE *out = NULL;
    char tmp_ps[] = "/tmp/persona-enrich-XXXXXX";
    int tmp_store = 0;
    users seen = {0};
    pending q = {.run = &run, .in_name = in_name, .seen = &seen};
    /* --threads N: N encoder workers, each running its products on one thread */
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    const int workers = threads ? threads : (cores > 1 ? (int)(cores < 64 ? cores : 64) : 1);
    rc = pe_cli_load_model(model ? model : pe_cli_default_model(), workers > 1 ? 1 : threads, &run.enc);
    if (rc != PE_EXIT_OK) goto done;
    rc = PE_EXIT_FAIL;
    if (db) {
        (void)db_given;
        if ((rc = pe_cli_open_reader(db, &run.kg, &run.kr)) != PE_EXIT_OK) goto done;
        if (!exact && (rc = enrich_open_linker(&run, db, link_index, ranker, &fo)) != PE_EXIT_OK) goto done;
        rc = PE_EXIT_FAIL;
    } else {
        pe_cli_error(0, "no graph store (--db): no linking, type checks or derived attributes");
    }
    if (!ps_dir) {
        if (!mkdtemp(tmp_ps)) {
            pe_cli_fail(PE_ERR_IO, "%s", strerror(errno));
            goto done;
        }
        ps_dir = tmp_ps;
        tmp_store = 1;
    }
    pe_ps_options po = pe_ps_options_default();
    pe_status st = pe_ps_open(ps_dir, &po, &run.ps, &err);
    if (st != PE_OK) {
        pe_cli_fail(st, "%s", err.msg);
        goto done;
    }
    if ((rc = enrich_open(&run, &fo)) != PE_EXIT_OK) goto done;
    rc = PE_EXIT_FAIL;
    /* one batch in the queue beyond one a worker, so that none waits while this thread stores */
    q.depth = (workers > 1 ? workers + 1 : 1) + 1;
    if (!(q.b = calloc((size_t)q.depth, sizeof *q.b)) ||
        (st = pe_encoder_queue_new(run.enc, workers > 1 ? workers : 0, q.depth - 1, NULL, &q.queue)) != PE_OK) {
        pe_cli_fail(q.b ? st : PE_ERR_NOMEM, "%s", q.b ? pe_encoder_errmsg(run.enc) : "out of memory");
        goto done;
    }
    out = out_path ? fopen(out_path, "wb") : stdout;
    if (!out) {
        pe_cli_error(PE_EXIT_FAIL, "%s: %s", out_path, strerror(errno));
        goto done;
    }

    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long lineno = 0, bad = 0;
    double t0 = pe_now();
    while ((n = getline(&line, &cap, in)) >= 0) {
        lineno++;
        size_t l = (size_t)n;
        while (l > 0 && (line[l - 1] == '\n' || line[l - 1] == '\r')) l--;
        if (l == 0) continue;
        pending_batch *b = pending_filling(&q);
        pending_entry *e = &b->e[b->n];
        char why[160];
        const char *problem = enrich_parse_line(line, l, &e->json, &e->m, why, sizeof why);
        if (problem) {
            /* the lines before it first, so that effects and messages keep the input order */
            cJSON *j = e->json;
            if (pending_flush(&q) != 0) {
                cJSON_Delete(j);
                free(line);
                goto done;
            }
            pe_cli_error(0, "%s:%ld: %s%s", in_name, lineno, problem, strict ? "" : " (skipped)");
            cJSON_Delete(j);
            bad++;
            if (strict) {
                pe_ps_writer_abort(q.w);
                q.w = NULL;
                free(line);
                goto done;
            }
            continue;
        }
        e->lineno = lineno;
        if (++b->n == ENRICH_ENCODE_BATCH && pending_submit(&q) != 0) {
            free(line);
            goto done;
        }
    }
    free(line);
    if (pending_flush(&q) != 0) goto done;
    if (q.w && (st = pe_ps_writer_commit(q.w)) != PE_OK) {
        q.w = NULL;
        pe_cli_fail(st, "%s", pe_ps_errmsg(run.ps));
        goto done;
    }
    q.w = NULL;
    const long messages = q.messages;
    double el = pe_now() - t0;
    /* one line per user of this input, in byte order */
    if (seen.n) qsort(seen.ids, seen.n, sizeof *seen.ids, cmp_str);
    pe_ps_reader *r = NULL;
    if ((st = pe_ps_reader_begin(run.ps, &r)) != PE_OK) {
        pe_cli_fail(st, "%s", pe_ps_errmsg(run.ps));
        goto done;
    }
    size_t written = 0;
    for (size_t i = 0; i < seen.n; i++) {
        if (i && !strcmp(seen.ids[i], seen.ids[i - 1])) continue;
        cJSON *o = pe_cli_persona_json(r, seen.ids[i]);
        if (!o) { /* a user whose every value was withheld has no record */
            o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "user_id", seen.ids[i]);
            cJSON_AddArrayToObject(o, "attributes");
            cJSON_AddArrayToObject(o, "history");
        }
        char *s = cJSON_PrintUnformatted(o);
        if (s) {
            fputs(s, out);
            fputc('\n', out);
            free(s);
        }
        cJSON_Delete(o);
        written++;
    }
    pe_ps_reader_end(r);
    if (fflush(out) != 0 || ferror(out)) {
        pe_cli_fail(PE_ERR_IO, "%s", "writing the personas");
        goto done;
    }
    const pe_fusion_counts *c = &run.counts;
    pe_cli_error(0,
            "%ld messages (%.0f/s), %zu users, %ld lines skipped; attributes: %llu added, %llu "
            "updated, %llu replaced, %llu unchanged, %llu retracted, %llu withheld, %llu derived, %llu rejected\n",
            messages, el > 0 ? (double)messages / el : 0.0, written, bad, (unsigned long long)c->added,
            (unsigned long long)c->updated, (unsigned long long)c->replaced, (unsigned long long)c->unchanged,
            (unsigned long long)c->retracted, (unsigned long long)c->withheld, (unsigned long long)c->derived,
            (unsigned long long)c->rejected);
    rc = bad ? PE_EXIT_PARTIAL : PE_EXIT_OK;
done:
    pending_drop(&q);
    free(q.b);
    pe_ps_writer_abort(q.w);
    if (out && out != stdout) fclose(out);
    if (in && in != stdin) fclose(in);
    enrich_close(&run);
    pe_ps_close(run.ps);
    pe_kg_reader_end(run.kr);
    pe_kg_close(run.kg);
    pe_encoder_free(run.enc);
    if (tmp_store) pe_cli_remove_tree(tmp_ps);
    for (size_t i = 0; i < seen.n; i++) free(seen.ids[i]);
    free(seen.ids);
    return rc;
}

/* ---- the pipeline (also used by `persona demo`) ---- */

int enrich_open(enrich_run *run, const pe_fusion_options *o)
{
    pe_error err;
    pe_error_clear(&err);
    pe_status st = pe_rel_open(run->enc, &run->rel, &err);
    if (st == PE_NOT_FOUND) {
        return pe_cli_error(PE_EXIT_FAIL, "the model has no persona relation (\"rel\") head: %s", err.msg);
    }
    if (st != PE_OK) return pe_cli_fail(st, "%s", err.msg);
    pe_ner_options no = pe_ner_options_default();
    no.graph = run->kr;
    st = pe_ner_open(run->enc, &no, &run->ner, &err);
    if (st != PE_OK && st != PE_NOT_FOUND) return pe_cli_fail(st, "%s", err.msg);
    pe_encoder_get_info(run->enc, &run->info);
    pe_fusion_options fo = *o;
    fo.model_id = run->info.model_id && *run->info.model_id ? run->info.model_id : NULL;
    fo.model_version = run->info.model_version && *run->info.model_version ? run->info.model_version : NULL;
    st = pe_fusion_new(run->kr, &fo, &run->fusion, &err);
    if (st != PE_OK) return pe_cli_fail(st, "%s", err.msg);
    return PE_EXIT_OK;
}

void enrich_close(enrich_run *run)
{
    pe_fusion_free(run->fusion);
    pe_rel_close(run->rel);
    pe_ner_close(run->ner);
    run->ner = NULL;
    pe_linker_close(run->linker);
    pe_link_model_free(run->ranker);
    run->fusion = NULL;
    run->rel = NULL;
    run->linker = NULL;
    run->ranker = NULL;
}

int enrich_open_linker(enrich_run *run, const char *db, const char *index, const char *ranker, pe_fusion_options *o)
{
    struct stat sb;
    char ibuf[4096], rbuf[4200];
    if (!index && db) {
        snprintf(ibuf, sizeof ibuf, "%s/link", db);
        if (stat(ibuf, &sb) == 0) index = ibuf;
    } else if (index && stat(index, &sb) != 0) {
        return pe_cli_error(PE_EXIT_MISSING, "link index %s does not exist (build it with `persona link index`)", index);
    }
    if (index) snprintf(rbuf, sizeof rbuf, "%s/ranker.json", index);
    int rc = pe_cli_ranker_path(ranker, index ? rbuf : NULL, &ranker);
    if (rc != PE_EXIT_OK) return rc;
    pe_error err;
    pe_error_clear(&err);
    if (ranker) {
        snprintf(run->ranker_path, sizeof run->ranker_path, "%s", ranker);
        pe_status st = pe_link_model_load(ranker, &run->ranker, &err);
        if (st != PE_OK) {
            pe_cli_fail(st, "%s", err.msg);
            return st == PE_ERR_IO ? PE_EXIT_NOT_FOUND : PE_EXIT_FAIL;
        }
    }
    pe_link_options lo = pe_link_options_default();
    lo.index_dir = index;
    pe_status st = pe_linker_open(run->kg, run->ranker, &lo, &run->linker);
    if (st != PE_OK) return pe_cli_fail(st, "%s", run->linker ? pe_linker_errmsg(run->linker) : "cannot open the linker");
    o->link = pe_fusion_link_linker;
    o->link_user = run->linker;
    return PE_EXIT_OK;
}

pe_status enrich_message(enrich_run *run, pe_ps_writer *w, const char *user, const char *message_id, double time,
                         const char *text, pe_error *err)
{
    return enrich_message_encoded(run, w, user, message_id, time, text, NULL, 0, err);
}

pe_status enrich_message_encoded(enrich_run *run, pe_ps_writer *w, const char *user, const char *message_id, double time,
                                 const char *text, const pe_encoder_result *enc, int i, pe_error *err)
{
    size_t len = strlen(text), n = 0, nm = 0;
    pe_rel_extraction *x = NULL;
    pe_ner_mention *men = NULL;
    pe_status st;
    /* one encoder pass for both heads (the windowed path for long texts) */
    pe_encoder_result *own = NULL;
    if (!enc) {
        pe_encoder_encode_options eo = pe_encoder_encode_options_default();
        if ((st = pe_encoder_encode_texts(run->enc, &text, &len, 1, &eo, &own)) != PE_OK)
            return pe_error_set(err, st, "%s", pe_encoder_errmsg(run->enc));
        enc = own;
        i = 0;
    }
    const pe_encoding *e = enc->encodings[i];
    const float *h = enc->hidden_states + (size_t)enc->offsets[i] * (size_t)enc->hidden;
    const int whole = !e->truncated;
    st = whole ? pe_rel_extract_encoded(run->rel, text, e, h, &x, &n, err) : pe_rel_extract(run->rel, text, len, &x, &n, err);
    if (st == PE_OK && run->ner && n)
        st = whole ? pe_ner_extract_encoded(run->ner, text, e, h, &men, &nm, err)
                   : pe_ner_extract(run->ner, text, len, &men, &nm, err);
    pe_encoder_result_free(own);
    if (st != PE_OK) {
        pe_rel_extractions_free(x, n);
        return st;
    }
    pe_fusion_triple *t = n ? calloc(n, sizeof *t) : NULL;
    if (n && !t) {
        pe_rel_extractions_free(x, n);
        return pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        t[i].relation = x[i].relation;
        t[i].start = x[i].object.start;
        t[i].end = x[i].object.end;
        t[i].score = x[i].score;
        t[i].ner_score = NAN;
        /* the NER score of the mention overlapping the object most */
        size_t best = 0;
        for (size_t k = 0; k < nm; k++) {
            size_t a = men[k].start > t[i].start ? men[k].start : t[i].start;
            size_t b = men[k].end < t[i].end ? men[k].end : t[i].end;
            if (b > a && b - a > best) {
                best = b - a;
                t[i].ner_score = men[k].score;
            }
        }
    }
    pe_ner_mentions_free(men, nm);
    pe_fusion_message m = {user, message_id, time, text, len};
    st = pe_fusion_apply(run->fusion, w, &m, t, n, &run->counts, err);
    free(t);
    pe_rel_extractions_free(x, n);
    return st;
}

pe_status enrich_profile(enrich_run *run, pe_ps_writer *w, const enrich_msg *m, pe_error *err)
{
    size_t n = (size_t)cJSON_GetArraySize(m->profile), i = 0;
    pe_fusion_profile_attr *a = n ? calloc(n, sizeof *a) : NULL;
    if (n && !a) return pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    const cJSON *x;
    cJSON_ArrayForEach(x, m->profile)
    {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(x, "confidence"), *e = cJSON_GetObjectItemCaseSensitive(x, "entity"),
                    *r = cJSON_GetObjectItemCaseSensitive(x, "relation");
        a[i].attribute = cJSON_GetObjectItemCaseSensitive(x, "attribute")->valuestring;
        a[i].value = cJSON_GetObjectItemCaseSensitive(x, "value")->valuestring;
        a[i].relation = cJSON_IsString(r) ? r->valuestring : NULL;
        a[i].entity = cJSON_IsString(e) ? e->valuestring : NULL;
        a[i].confidence = cJSON_IsNumber(c) ? c->valuedouble : NAN;
        i++;
    }
    pe_status st = pe_fusion_apply_profile(run->fusion, w, m->user, m->id, m->time, a, n, &run->counts, err);
    free(a);
    return st;
}
