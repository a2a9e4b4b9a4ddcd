/* cmd_link.c - persona link, persona link index, persona link train,
 * persona eval link: the entity linker (fusion/pe_link.h) from the command
 * line. The link index lives in DB/link and the ranker in DB/link/ranker.json
 * unless --index / --ranker say otherwise. */
#include "cli.h"
#include "pe_link.h"
#include "pe_ner.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>


typedef struct link_args {
    const char *db, *index, *ranker, *data, *out, *model;
    const char *ranker_path; /* the ranker to load (pe_cli_ranker_path); NULL: by prior */
    int json, strict, gold_types, jsonl, no_context, documents_only;
    double l2, nil_loss;
    size_t k, runner_ups, hidden, members, seed;
    int nargs;
    char **args;
} link_args;

#ifndef PE_RANKER_SOURCE_PATH
#define PE_RANKER_SOURCE_PATH ""
#endif
#ifndef PE_RANKER_INSTALL_PATH
#define PE_RANKER_INSTALL_PATH ""
#endif

int pe_cli_ranker_off(const char *name)
{
    return name && strcmp(name, "none") == 0;
}

int pe_cli_ranker_path(const char *given, const char *index_ranker, const char **path)
{
    struct stat sb;
    const char *e = getenv("PERSONA_RANKER");
    *path = NULL;
    if (given) {
        if (pe_cli_ranker_off(given)) return PE_EXIT_OK;
        *path = given;
        return pe_cli_need_file("ranker", given);
    }
    if (index_ranker && stat(index_ranker, &sb) == 0) *path = index_ranker;
    else if (e && *e) {
        if (pe_cli_ranker_off(e)) return PE_EXIT_OK;
        *path = e;
        return pe_cli_need_file("ranker ($PERSONA_RANKER)", e);
    } else if (PE_RANKER_INSTALL_PATH[0] && stat(PE_RANKER_INSTALL_PATH, &sb) == 0) *path = PE_RANKER_INSTALL_PATH;
    else if (PE_RANKER_SOURCE_PATH[0] && stat(PE_RANKER_SOURCE_PATH, &sb) == 0) *path = PE_RANKER_SOURCE_PATH;
    return PE_EXIT_OK;
}

static char g_index_buf[4096], g_ranker_buf[4096 + 16];

/* Parses the options every link command shares; `allowed` names the others.
 * Returns PE_CLI_RUN, or the exit code (help printed, usage error, a
 * missing --data file). */
static int parse(const char *cmd, int argc, char **argv, link_args *a, const char *allowed, void (*usage)(FILE *))
{
    memset(a, 0, sizeof *a);
    a->l2 = 1.0;
    a->nil_loss = 0.02;
    a->k = 24;
    a->runner_ups = 3;
    pe_link_train_options tdef = pe_link_train_options_default();
    a->hidden = (size_t)tdef.hidden;
    a->members = (size_t)tdef.members;
    a->seed = (size_t)tdef.seed;
    a->args = calloc((size_t)argc + 1, sizeof *a->args);
    if (!a->args) return pe_cli_fail(PE_ERR_NOMEM, NULL);
    pe_cli_opt opts[20];
    int n = 0;
    opts[n++] = (pe_cli_opt){"--db", PE_CLI_STRING, &a->db};
    opts[n++] = (pe_cli_opt){"--index", PE_CLI_STRING, &a->index};
    if (strstr(allowed, "ranker")) opts[n++] = (pe_cli_opt){"--ranker", PE_CLI_STRING, &a->ranker};
    if (strstr(allowed, "data")) opts[n++] = (pe_cli_opt){"--data", PE_CLI_STRING, &a->data};
    if (strstr(allowed, "model")) opts[n++] = (pe_cli_opt){"--model", PE_CLI_STRING, &a->model};
    if (strstr(allowed, "out")) opts[n++] = (pe_cli_opt){"--out", PE_CLI_STRING, &a->out};
    if (strstr(allowed, "json")) opts[n++] = (pe_cli_opt){"--json", PE_CLI_FLAG, &a->json};
    if (strstr(allowed, "strict")) opts[n++] = (pe_cli_opt){"--strict", PE_CLI_FLAG, &a->strict};
    if (strstr(allowed, "nocontext")) opts[n++] = (pe_cli_opt){"--no-context", PE_CLI_FLAG, &a->no_context};
    if (strstr(allowed, "gold")) opts[n++] = (pe_cli_opt){"--gold-types", PE_CLI_FLAG, &a->gold_types};
    if (strstr(allowed, "train")) {
        opts[n++] = (pe_cli_opt){"--l2", PE_CLI_DOUBLE, &a->l2, .min = 0, .max = 1e30};
        opts[n++] = (pe_cli_opt){"--nil-loss", PE_CLI_DOUBLE, &a->nil_loss, .min = 0, .max = 1};
        opts[n++] = (pe_cli_opt){"--documents-only", PE_CLI_FLAG, &a->documents_only};
        opts[n++] = (pe_cli_opt){"--hidden", PE_CLI_SIZE, &a->hidden, .min = 0, .max = PE_LINK_MAX_HIDDEN};
        opts[n++] = (pe_cli_opt){"--members", PE_CLI_SIZE, &a->members, .min = 1, .max = PE_LINK_MAX_HIDDEN};
        /* below 2^53: the ranker file stores it as a JSON number */
        opts[n++] = (pe_cli_opt){"--seed", PE_CLI_SIZE, &a->seed, .min = 0, .max = 9007199254740991.0};
    }
    if (strstr(allowed, "cands")) {
        opts[n++] = (pe_cli_opt){"--k", PE_CLI_SIZE, &a->k, .min = 1, .max = PE_LINK_MAX_K};
        opts[n++] = (pe_cli_opt){"--runner-ups", PE_CLI_SIZE, &a->runner_ups, .min = 0, .max = PE_LINK_MAX_K};
    }
    opts[n] = (pe_cli_opt){0};
    const pe_cli_spec spec = {cmd, usage, opts, 0, strstr(allowed, "args") ? -1 : 0,
                              "            (4: input lines were skipped; 5: the graph store, the --data\n"
                              "            file or the --ranker does not exist)\n"};
    int np, rc = pe_cli_parse(&spec, argc, argv, &np);
    if (rc != PE_CLI_RUN) return rc;
    for (int i = 0; i < np; i++) a->args[a->nargs++] = argv[1 + i];
    if (!a->db) a->db = pe_cli_default_db();
    if (!a->index) {
        snprintf(g_index_buf, sizeof g_index_buf, "%s/link", a->db);
        a->index = g_index_buf;
    }
    snprintf(g_ranker_buf, sizeof g_ranker_buf, "%s/ranker.json", a->index);
    if (strstr(allowed, "data") && !a->data) return pe_cli_error(PE_EXIT_USAGE, "--data FILE is required (see --help)");
    if (a->hidden * a->members > PE_LINK_MAX_HIDDEN)
        return pe_cli_error(PE_EXIT_USAGE, "--hidden %zu x --members %zu: the reranker holds at most %d units", a->hidden,
                            a->members, PE_LINK_MAX_HIDDEN);
    if (a->data && (rc = pe_cli_need_file("data file", a->data)) != PE_EXIT_OK) return rc;
    if (strstr(allowed, "ranker") && (rc = pe_cli_ranker_path(a->ranker, g_ranker_buf, &a->ranker_path)) != PE_EXIT_OK)
        return rc;
    return PE_CLI_RUN;
}

static int open_kg(const char *cmd, const char *db, pe_kg **kg)
{
    (void)cmd;
    return pe_cli_open_store(db, 1, NULL, kg);
}

/* Loads the ranker parse chose (a->ranker_path; NULL: prior only, *m
 * NULL). */
static int load_ranker(const char *cmd, const link_args *a, pe_link_model **m, const char **used)
{
    *m = NULL;
    *used = NULL;
    const char *path = a->ranker_path;
    if (!path) return PE_EXIT_OK;
    pe_error err;
    pe_error_clear(&err);
    pe_status st = pe_link_model_load(path, m, &err);
    if (st != PE_OK) {
        fprintf(stderr, "persona %s: %s: %s\n", cmd, pe_status_str(st), err.msg);
        return PE_EXIT_FAIL;
    }
    *used = path;
    return PE_EXIT_OK;
}

/* The linker options the command line gives. */
static pe_link_options link_options(const link_args *a)
{
    pe_link_options o = pe_link_options_default();
    o.index_dir = a->index;
    o.max_candidates = a->k;
    o.runner_ups = a->runner_ups;
    return o;
}

static int open_linker(const char *cmd, pe_kg *kg, const pe_link_model *m, const link_args *a, pe_linker **l)
{
    pe_link_options o = link_options(a);
    pe_status st = pe_linker_open(kg, m, &o, l);
    if (st != PE_OK) {
        fprintf(stderr, "persona %s: %s: %s\n", cmd, pe_status_str(st), pe_linker_errmsg(*l));
        pe_linker_close(*l);
        *l = NULL;
        return PE_EXIT_FAIL;
    }
    pe_linker_info info;
    pe_linker_info_get(*l, &info);
    if (!info.index)
        pe_log(PE_LOG_WARN, "no link index in %s (run `persona link index`): fuzzy, acronym and longer-name "
               "candidates are off", a->index);
    else if (info.index_stale)
        pe_log(PE_LOG_WARN, "the link index %s is older than the store (run `persona link index` again)", a->index);
    return PE_EXIT_OK;
}

/* ---- persona link index --------------------------------------------------- */

static void index_usage(FILE *f)
{
    fprintf(f, "usage: persona link index [--db DIR] [--index DIR] [--no-context]\n"
               "\n"
               "Builds the link index of the graph store: every label and alias as a normalised\n"
               "form, their trigrams (fuzzy candidates), acronyms and a sorted name table (longer\n"
               "names, stems, place adjectives, sports teams by the place they are named after,\n"
               "percent-decoded labels, labels with their words joined across apostrophes and\n"
               "hyphens: \"mcdonalds\" finds McDonald's), then the context vectors: one TF-IDF\n"
               "word vector per entity from its labels, aliases, description\n"
               "and its neighbours' labels, for the context feature. Run it after each import;\n"
               "linking works without it, with exact, partial-name and in-text acronym\n"
               "candidates only and the context feature off.\n"
               "\n"
               "  --db DIR       store directory (default $PERSONA_DB, else ./persona-kg)\n"
               "  --index DIR    where to write it (default DB/link)\n"
               "  --no-context   no context vectors (the context feature is then off)\n"
               "\n");
}

int pe_cmd_link_index(int argc, char **argv)
{
    link_args a;
    int pr = parse("link index", argc, argv, &a, "nocontext", index_usage);
    free(a.args);
    if (pr != PE_CLI_RUN) return pr;
    pe_kg *kg;
    int rc = open_kg("link index", a.db, &kg);
    if (rc) return rc;
    pe_link_index_stats s;
    pe_error err;
    pe_error_clear(&err);
    pe_status st = pe_link_index_build(kg, a.index, &s, &err);
    pe_link_embed_stats es = {0};
    if (st == PE_OK && !a.no_context) st = pe_link_index_embed(kg, a.index, &es, &err);
    pe_kg_close(kg);
    if (st != PE_OK) {
        fprintf(stderr, "persona link index: %s: %s\n", pe_status_str(st), err.msg);
        return PE_EXIT_FAIL;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "index", a.index);
    cJSON_AddNumberToObject(o, "entities", (double)s.entities);
    cJSON_AddNumberToObject(o, "forms", (double)s.forms);
    cJSON_AddNumberToObject(o, "trigrams", (double)s.trigrams);
    cJSON_AddNumberToObject(o, "postings", (double)s.postings);
    cJSON_AddNumberToObject(o, "acronyms", (double)s.acronyms);
    cJSON_AddNumberToObject(o, "seconds", round(s.seconds * 1000) / 1000);
    if (a.no_context) {
        cJSON_AddStringToObject(o, "context", "off");
    } else {
        cJSON *c = cJSON_AddObjectToObject(o, "context");
        cJSON_AddNumberToObject(c, "vectors", (double)es.vectors);
        cJSON_AddNumberToObject(c, "words", (double)es.words);
        cJSON_AddNumberToObject(c, "terms", (double)es.terms);
        cJSON_AddNumberToObject(c, "seconds", round(es.seconds * 1000) / 1000);
    }
    pe_cli_print_json(o);
    cJSON_Delete(o);
    return PE_EXIT_OK;
}

/* ---- persona link train ------------------------------------------------------ */

static void train_usage(FILE *f)
{
    fprintf(f, "usage: persona link train --data FILE.benchmark.jsonl [--out FILE] [--l2 X]\n"
               "                          [--nil-loss X] [--hidden N] [--members N] [--seed N]\n"
               "                          [--gold-types] [--documents-only] [--db DIR] [--index DIR]\n"
               "\n"
               "Trains the linker's ranker (logistic regression over the candidate features),\n"
               "its NIL threshold and a reranker (small MLPs over the same features, which\n"
               "choose the candidate; the logistic regression's score of that candidate decides\n"
               "NIL) on an ELEVANT benchmark file (e.g. AIDA-CoNLL dev) linked against the\n"
               "store, and saves it as JSON (it ships beside the model). Two rounds:\n"
               "the second links the file again with the first round's ranker, so that the\n"
               "second-pass feature coh_type is learnt from the scores it will see. Each round\n"
               "links the file twice: as documents, and with each sentence as a text of its\n"
               "own, so that the ranker also learns short texts (messages, tweets).\n"
               "\n"
               "  --data FILE    training data, one document a line ({\"text\", \"labels\"})\n"
               "  --out FILE     where to save the ranker (default INDEX/ranker.json, which\n"
               "                 `persona link` and `persona eval link` load by default)\n"
               "  --l2 X         L2 penalty (default 1)\n"
               "  --nil-loss X   share of the rightly linked mentions the NIL threshold may\n"
               "                 give up (default 0.02)\n"
               "  --hidden N     the reranker's ReLU units per MLP (default 16; 0: no reranker,\n"
               "                 the logistic regression orders the candidates)\n"
               "  --members N    MLPs of other seeds averaged (default 3; N x units <= 64)\n"
               "  --seed N       the first MLP's seed (member k: N + k; default 1): retrains\n"
               "                 with other seeds show how much of a difference is the seed's\n"
               "  --gold-types   use the benchmark's type field as the mention type (the types\n"
               "                 then also count when linking)\n"
               "  --documents-only  learn from whole documents only\n"
               "  --db DIR       store directory (default $PERSONA_DB, else ./persona-kg)\n"
               "  --index DIR    link index (default DB/link)\n"
               "\n");
}

static pe_status train_progress(void *ctx, const pe_link_train_round *r, const pe_link_model *m, pe_error *err)
{
    (void)ctx;
    (void)err;
    pe_log(PE_LOG_INFO, "round %d of %d: %zu mentions, %.1f s%s", r->round + 1, r->rounds, r->mentions, r->seconds,
           m->hidden ? " (with the reranker)" : "");
    return PE_OK;
}

int pe_cmd_link_train(int argc, char **argv)
{
    link_args a;
    int pr = parse("link train", argc, argv, &a, "data out train gold", train_usage);
    free(a.args);
    if (pr != PE_CLI_RUN) return pr;
    const char *out = a.out ? a.out : g_ranker_buf;
    pe_kg *kg;
    int rc = open_kg("link train", a.db, &kg);
    if (rc) return rc;
    pe_linker *l = NULL;
    pe_link_model *m = NULL;
    pe_error err;
    pe_error_clear(&err);
    /* opened once before training for its warnings (no index, a stale one) */
    if ((rc = open_linker("link train", kg, NULL, &a, &l))) goto out;
    pe_linker_close(l);
    l = NULL;
    if (pe_link_model_new(&m) != PE_OK) {
        rc = pe_cli_fail(PE_ERR_NOMEM, NULL);
        goto out;
    }
    pe_link_train_file_options to = pe_link_train_file_options_default();
    to.link = link_options(&a);
    to.train.l2 = a.l2;
    to.train.nil_max_loss = a.nil_loss;
    to.train.hidden = (int)a.hidden;
    to.train.members = (int)a.members;
    to.train.seed = a.seed;
    to.sentences = !a.documents_only;
    to.gold_types = a.gold_types;
    to.on_round = train_progress;
    if (to.train.hidden)
        pe_log(PE_LOG_INFO, "training in %d rounds; the last fits the reranker (%d x %d units)", to.rounds,
               to.train.members, to.train.hidden);
    pe_link_train_file_result tr;
    pe_status st = pe_link_train_file(kg, a.data, &to, m, &tr, &err);
    if (tr.skipped_lines)
        fprintf(stderr, "persona link train: skipped %llu line(s); first: %s\n", (unsigned long long)tr.skipped_lines,
                tr.first_error);
    if (st != PE_OK) {
        fprintf(stderr, "persona link train: %s: %s\n", pe_status_str(st), err.msg);
        rc = PE_EXIT_FAIL;
        goto out;
    }
    if ((st = pe_link_model_save(m, out, &err)) != PE_OK) {
        fprintf(stderr, "persona link train: %s: %s\n", pe_status_str(st), err.msg);
        rc = PE_EXIT_FAIL;
        goto out;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "ranker", out);
    cJSON_AddNumberToObject(o, "mentions", (double)tr.mentions);
    cJSON_AddNumberToObject(o, "nil_threshold", m->nil_threshold);
    cJSON *w = cJSON_AddObjectToObject(o, "weights");
    for (int i = 0; i < PE_LINK_NFEATURES; i++)
        cJSON_AddNumberToObject(w, pe_link_feature_name((pe_link_feature)i), round(m->w[i] * 1e4) / 1e4);
    cJSON_AddNumberToObject(o, "bias", round(m->bias * 1e4) / 1e4);
    if (m->hidden) {
        cJSON *rr = cJSON_AddObjectToObject(o, "reranker");
        cJSON_AddNumberToObject(rr, "members", m->members);
        cJSON_AddNumberToObject(rr, "units", m->hidden);
        cJSON_AddNumberToObject(rr, "epochs", m->epochs);
    } else {
        cJSON_AddNullToObject(o, "reranker");
    }
    pe_cli_print_json(o);
    cJSON_Delete(o);
    rc = tr.skipped_lines ? PE_EXIT_PARTIAL : PE_EXIT_OK;
out:
    pe_link_model_free(m);
    pe_linker_close(l);
    pe_kg_close(kg);
    return rc;
}

/* ---- persona link ------------------------------------------------------------- */

static void link_usage(FILE *f)
{
    fprintf(f, "usage: persona link [--db DIR] [--index DIR] [--ranker FILE] [--model PATH] [--k K]\n"
               "                    [--runner-ups N] [--strict] [FILE ...]\n"
               "\n"
               "Links the given mentions of texts to entities of the graph store. Input: JSON\n"
               "lines (FILEs, or standard input), one text a line:\n"
               "  {\"id\": ..., \"text\": \"I live in Lyon\",\n"
               "   \"mentions\": [{\"span\": [10, 14], \"type\": \"place\"}]}\n"
               "spans in characters [start, end); \"type\" optional (person, place,\n"
               "organisation, work, product, other, or PER/LOC/ORG/MISC). ELEVANT benchmark\n"
               "lines (\"labels\" instead of \"mentions\") are read too. A line without\n"
               "\"mentions\" (or one that is not JSON: the text itself) takes its mentions and\n"
               "their types from the model's NER head (--model).\n"
               "Output: one JSON line a text: each mention with its span, surface, the chosen\n"
               "entity (id, label, score) or nil, and the candidates with their features.\n"
               "A candidate's score is the logistic regression's (a mention is nil when its\n"
               "first candidate's score is under the ranker's NIL threshold); with a ranker that\n"
               "has a reranker, the candidates come in the order of their \"rerank\" score.\n"
               "\n"
               "  --ranker FILE    ranker (default INDEX/ranker.json if present, else\n"
               "                   $PERSONA_RANKER, else the shipped one, models/link-ranker.json,\n"
               "                   trained on Wikipedia text; none: candidates by prior)\n"
               "  --model PATH     NER model for texts without mentions (default $PERSONA_MODEL,\n"
               "                   else the shipped model; loaded only when needed)\n"
               "  --k K            candidates a mention (default 24)\n"
               "  --runner-ups N   candidates reported after the chosen one (default 3)\n"
               "  --strict         stop at the first bad line (otherwise it is reported and skipped)\n"
               "  --db DIR         store directory (default $PERSONA_DB, else ./persona-kg)\n"
               "  --index DIR      link index (default DB/link)\n"
               "\n");
}

/* The NER model, loaded the first time a text comes without mentions. */
typedef struct ner_state {
    const char *path;
    pe_kg *kg;
    pe_encoder *enc;
    pe_ner *ner;
    pe_kg_reader *r;
    int tried;
    char why[2 * PE_ERRMSG_MAX + 128];
} ner_state;

static pe_ner *ner_get(ner_state *ns)
{
    if (ns->tried) return ns->ner;
    ns->tried = 1;
    const char *path = ns->path ? ns->path : pe_cli_default_model();
    if (pe_cli_load_model(path, 0, &ns->enc) != PE_EXIT_OK) {
        snprintf(ns->why, sizeof ns->why, "no mention spans given and no NER model (%s)", path && *path ? path : "none");
        return NULL;
    }
    pe_error err;
    pe_error_clear(&err);
    pe_ner_options o = pe_ner_options_default();
    if (pe_kg_reader_begin(ns->kg, &ns->r) == PE_OK) o.graph = ns->r;
    if (pe_ner_open(ns->enc, &o, &ns->ner, &err) != PE_OK) {
        snprintf(ns->why, sizeof ns->why, "no mention spans given and the model %s has no NER head: %s", path, err.msg);
        ns->ner = NULL;
    }
    return ns->ner;
}

static void ner_state_free(ner_state *ns)
{
    pe_ner_close(ns->ner);
    pe_kg_reader_end(ns->r);
    pe_encoder_free(ns->enc);
}

/* The character index of byte offset b: the first i with off[i] >= b
 * (off: the byte offset of each character, ascending, off[n] the end). */
static size_t char_index(const size_t *off, size_t n, size_t b)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t h = lo + (hi - lo) / 2;
        if (off[h] < b) lo = h + 1;
        else hi = h;
    }
    return lo;
}

/* One input line -> one output object (or an error message in why);
 * reranked: the ranker has a reranker (each candidate's "rerank" is shown). */
static cJSON *link_line(pe_linker *l, ner_state *ns, int reranked, const char *line, size_t len, char *why,
                        size_t whycap, pe_status *st)
{
    *st = PE_OK;
    cJSON *j = cJSON_ParseWithLength(line, len);
    if (!j || !cJSON_IsObject(j)) { /* the line is the text itself */
        cJSON_Delete(j);
        j = cJSON_CreateObject();
        char *t = strndup(line, len);
        if (!j || !t || !cJSON_AddStringToObject(j, "text", t)) {
            free(t);
            cJSON_Delete(j);
            snprintf(why, whycap, "out of memory");
            *st = PE_ERR_NOMEM;
            return NULL;
        }
        free(t);
    }
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(j, "text");
    const cJSON *ms = cJSON_GetObjectItemCaseSensitive(j, "mentions");
    if (!ms) ms = cJSON_GetObjectItemCaseSensitive(j, "labels");
    if (!cJSON_IsString(text) || (ms && !cJSON_IsArray(ms))) {
        cJSON_Delete(j);
        snprintf(why, whycap, "wants \"text\" (a string) and \"mentions\" (an array, or none for the NER model)");
        *st = PE_ERR_PARSE;
        return NULL;
    }
    if (!ms) { /* mentions from the NER head, with character spans like the given ones */
        pe_ner *ner = ner_get(ns);
        if (!ner) {
            cJSON_Delete(j);
            snprintf(why, whycap, "%s", ns->why);
            *st = PE_ERR_INVALID;
            return NULL;
        }
        pe_ner_mention *nm = NULL;
        size_t nn = 0;
        pe_error err;
        pe_error_clear(&err);
        const char *t = text->valuestring;
        if ((*st = pe_ner_extract(ner, t, strlen(t), &nm, &nn, &err)) != PE_OK) {
            cJSON_Delete(j);
            snprintf(why, whycap, "NER: %s", err.msg);
            return NULL;
        }
        cJSON *arr = cJSON_AddArrayToObject(j, "mentions");
        /* byte offsets to characters, counted on from the last mention's
         * start (the mentions come in text order: linear in the text) */
        size_t at_b = 0, at_c = 0;
        for (size_t i = 0; i < nn && arr; i++) {
            if (nm[i].start < at_b) at_b = at_c = 0;
            for (; at_b < nm[i].start; at_b++) at_c += ((unsigned char)t[at_b] & 0xC0) != 0x80;
            size_t cs = at_c, ce = cs;
            for (size_t b = nm[i].start; b < nm[i].end; b++) ce += ((unsigned char)t[b] & 0xC0) != 0x80;
            cJSON *x = cJSON_CreateObject();
            cJSON *sp = cJSON_AddArrayToObject(x, "span");
            cJSON_AddItemToArray(sp, cJSON_CreateNumber((double)cs));
            cJSON_AddItemToArray(sp, cJSON_CreateNumber((double)ce));
            cJSON_AddStringToObject(x, "type", nm[i].type);
            cJSON_AddNumberToObject(x, "ner_score", round(nm[i].score * 1e4) / 1e4);
            cJSON_AddItemToArray(arr, x);
        }
        pe_ner_mentions_free(nm, nn);
        ms = arr;
    }
    const char *t = text->valuestring;
    size_t tl = strlen(t);
    if (!pe_utf8_valid(t, tl, NULL)) {
        cJSON_Delete(j);
        snprintf(why, whycap, "text is not valid UTF-8");
        *st = PE_ERR_UTF8;
        return NULL;
    }
    size_t nchars = 0;
    size_t *off = malloc((tl + 1) * sizeof *off);
    size_t n = (size_t)cJSON_GetArraySize(ms);
    pe_link_mention *m = calloc(n ? n : 1, sizeof *m);
    if (!off || !m) {
        free(off); free(m); cJSON_Delete(j);
        *st = PE_ERR_NOMEM;
        snprintf(why, whycap, "out of memory");
        return NULL;
    }
    for (size_t b = 0; b < tl; b++)
        if (((unsigned char)t[b] & 0xC0) != 0x80) off[nchars++] = b;
    off[nchars] = tl;
    const cJSON *mx = NULL; /* walked, not indexed: cJSON_GetArrayItem is linear */
    for (size_t i = 0; i < n && *st == PE_OK; i++) {
        const cJSON *x = mx = mx ? mx->next : ms->child;
        const cJSON *sp = cJSON_GetObjectItemCaseSensitive(x, "span");
        const cJSON *ty = cJSON_GetObjectItemCaseSensitive(x, "type");
        if (!cJSON_IsArray(sp) || cJSON_GetArraySize(sp) != 2 || !cJSON_IsNumber(cJSON_GetArrayItem(sp, 0)) ||
            !cJSON_IsNumber(cJSON_GetArrayItem(sp, 1))) {
            snprintf(why, whycap, "mention %zu: wants \"span\": [start, end]", i);
            *st = PE_ERR_PARSE;
            break;
        }
        double s = cJSON_GetArrayItem(sp, 0)->valuedouble, e = cJSON_GetArrayItem(sp, 1)->valuedouble;
        if (!(s >= 0 && e > s && e <= (double)nchars) || s != floor(s) || e != floor(e)) {
            snprintf(why, whycap, "mention %zu: span [%g, %g] is not inside the text (%zu characters)", i, s, e, nchars);
            *st = PE_ERR_INVALID;
            break;
        }
        m[i].start = off[(size_t)s];
        m[i].end = off[(size_t)e];
        if (cJSON_IsString(ty) && pe_link_type_parse(ty->valuestring, &m[i].type) != PE_OK) m[i].type = PE_LINK_TYPE_ANY;
    }
    pe_link_result *r = NULL;
    if (*st == PE_OK && (*st = pe_link_text(l, NULL, t, tl, m, n, &r)) != PE_OK)
        snprintf(why, whycap, "%s", pe_linker_errmsg(l));
    cJSON *o = NULL;
    if (*st == PE_OK) {
        o = cJSON_CreateObject();
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
        if (id) cJSON_AddItemToObject(o, "id", cJSON_Duplicate(id, 1));
        cJSON *arr = cJSON_AddArrayToObject(o, "mentions");
        /* byte offset -> character index (off[] ascends: binary search) */
        const cJSON *in = NULL;
        for (size_t i = 0; i < r->n; i++) {
            const pe_link_mention_result *mr = &r->mentions[i];
            cJSON *x = cJSON_CreateObject();
            cJSON *sp = cJSON_AddArrayToObject(x, "span");
            size_t cs = char_index(off, nchars, mr->start), ce = char_index(off, nchars, mr->end);
            cJSON_AddItemToArray(sp, cJSON_CreateNumber((double)cs));
            cJSON_AddItemToArray(sp, cJSON_CreateNumber((double)ce));
            cJSON_AddStringToObject(x, "surface", mr->surface);
            in = in ? in->next : ms->child;
            const cJSON *ity = cJSON_GetObjectItemCaseSensitive(in, "type");
            const cJSON *isc = cJSON_GetObjectItemCaseSensitive(in, "ner_score");
            if (cJSON_IsString(ity)) cJSON_AddStringToObject(x, "type", ity->valuestring);
            if (cJSON_IsNumber(isc)) cJSON_AddNumberToObject(x, "ner_score", isc->valuedouble);
            cJSON_AddBoolToObject(x, "nil", mr->nil);
            if (mr->entity) {
                cJSON_AddStringToObject(x, "entity", mr->entity->qid);
                cJSON_AddItemToObject(x, "label", mr->entity->label ? cJSON_CreateString(mr->entity->label) : cJSON_CreateNull());
                cJSON_AddNumberToObject(x, "score", round(mr->entity->score * 1e6) / 1e6);
            }
            cJSON *cands = cJSON_AddArrayToObject(x, "candidates");
            for (size_t k = 0; k < mr->n_candidates; k++) {
                const pe_link_candidate *c = &mr->candidates[k];
                cJSON *cj = cJSON_CreateObject();
                cJSON_AddStringToObject(cj, "entity", c->qid);
                cJSON_AddItemToObject(cj, "label", c->label ? cJSON_CreateString(c->label) : cJSON_CreateNull());
                cJSON_AddNumberToObject(cj, "score", round(c->score * 1e6) / 1e6);
                if (reranked) cJSON_AddNumberToObject(cj, "rerank", round(c->rerank * 1e6) / 1e6);
                cJSON_AddNumberToObject(cj, "prior", round(c->prior * 1e6) / 1e6);
                cJSON *via = cJSON_AddArrayToObject(cj, "via");
                static const char *vn[] = {"exact", "acronym", "partial", "fuzzy", "history", "extension", "stem", "team"};
                for (int b = 0; b < 8; b++)
                    if (c->via & (1u << b)) cJSON_AddItemToArray(via, cJSON_CreateString(vn[b]));
                cJSON *fe = cJSON_AddObjectToObject(cj, "features");
                for (int f = 0; f < PE_LINK_NFEATURES; f++)
                    cJSON_AddNumberToObject(fe, pe_link_feature_name((pe_link_feature)f), round(c->f[f] * 1e6) / 1e6);
                cJSON_AddItemToArray(cands, cj);
            }
            cJSON_AddNumberToObject(x, "candidates_considered", (double)mr->n_considered);
            cJSON_AddItemToArray(arr, x);
        }
        cJSON_AddStringToObject(o, "context", r->context_on ? "on" : "off");
    }
    pe_link_result_free(r);
    free(off);
    free(m);
    cJSON_Delete(j);
    return o;
}

int pe_cmd_link(int argc, char **argv)
{
    link_args a;
    int pr = parse("link", argc, argv, &a, "ranker model cands strict args", link_usage);
    if (pr != PE_CLI_RUN) { free(a.args); return pr; }
    pe_kg *kg = NULL;
    pe_link_model *m = NULL;
    pe_linker *l = NULL;
    const char *used;
    int rc = open_kg("link", a.db, &kg);
    if (!rc) rc = load_ranker("link", &a, &m, &used);
    if (!rc) rc = open_linker("link", kg, m, &a, &l);
    if (!rc && !used)
        pe_log(PE_LOG_WARN, "no ranker (%s): candidates ranked by prior, no NIL threshold",
               pe_cli_ranker_off(a.ranker) ? "--ranker none" : g_ranker_buf);
    ner_state ns = {0};
    ns.path = a.model;
    ns.kg = kg;
    size_t skipped = 0;
    char *line = NULL;
    size_t cap = 0;
    int nfiles = a.nargs ? a.nargs : 1;
    for (int fi = 0; fi < nfiles && !rc; fi++) {
        const char *path = a.nargs ? a.args[fi] : "-";
        FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
        if (!f) {
            rc = pe_cli_error(errno == ENOENT ? PE_EXIT_MISSING : PE_EXIT_FAIL, "%s: %s", path, strerror(errno));
            break;
        }
        ssize_t len;
        size_t lineno = 0;
        while ((len = getline(&line, &cap, f)) > 0) {
            lineno++;
            while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
            if (len == 0) continue;
            char why[2 * PE_ERRMSG_MAX + 256];
            pe_status st;
            cJSON *o = link_line(l, &ns, m && m->hidden > 0, line, (size_t)len, why, sizeof why, &st);
            if (!o) {
                fprintf(stderr, "persona link: %s:%zu: %s\n", strcmp(path, "-") ? path : "<stdin>", lineno, why);
                if (a.strict || st == PE_ERR_NOMEM || st == PE_ERR_STORE || st == PE_ERR_CORRUPT) {
                    rc = PE_EXIT_FAIL;
                    break;
                }
                skipped++;
                continue;
            }
            char *s = cJSON_PrintUnformatted(o);
            if (s) puts(s);
            free(s);
            cJSON_Delete(o);
        }
        if (f != stdin) fclose(f);
    }
    free(line);
    free(a.args);
    ner_state_free(&ns);
    pe_linker_close(l);
    pe_link_model_free(m);
    pe_kg_close(kg);
    if (!rc && skipped) rc = PE_EXIT_PARTIAL;
    return rc;
}

/* ---- persona eval link -------------------------------------------------------------- */

static void eval_usage(FILE *f)
{
    fprintf(f, "usage: persona eval link --data FILE.benchmark.jsonl [--json] [--strict]\n"
               "                         [--ranker FILE] [--gold-types] [--k K] [--db DIR] [--index DIR]\n"
               "\n"
               "Evaluates the linker on an ELEVANT benchmark file (one document a line:\n"
               "{\"text\", \"labels\": [{\"span\": [start, end], \"entity_id\": \"Q...\" | \"<NIL>\"}]},\n"
               "spans in characters). A gold QID the store does not hold counts as NIL.\n"
               "Figures: in_graph_accuracy (mentions whose gold QID is in the graph, linked to\n"
               "it), prior_baseline_in_graph_accuracy (the most popular candidate of the form),\n"
               "NIL precision and recall, candidate recall, mentions/s.\n"
               "\n"
               "  --data FILE    the benchmark\n"
               "  --json         print the figures as JSON (default: a table)\n"
               "  --strict       stop at the first line that does not parse\n"
               "  --ranker FILE  ranker (default INDEX/ranker.json if present, else\n"
               "                 $PERSONA_RANKER, else the shipped one, models/link-ranker.json;\n"
               "                 none: candidates by prior)\n"
               "  --gold-types   pass the benchmark's type field as the mention type (an oracle)\n"
               "  --k K          candidates a mention (default 24)\n"
               "  --db DIR       store directory (default $PERSONA_DB, else ./persona-kg)\n"
               "  --index DIR    link index (default DB/link)\n"
               "\n");
}

int pe_cmd_eval_link(int argc, char **argv)
{
    link_args a;
    int pr = parse("eval link", argc, argv, &a, "data json strict ranker gold cands", eval_usage);
    free(a.args);
    if (pr != PE_CLI_RUN) return pr;
    pe_kg *kg = NULL;
    pe_link_model *m = NULL;
    pe_linker *l = NULL;
    const char *used = NULL;
    int rc = open_kg("eval link", a.db, &kg);
    if (!rc) rc = load_ranker("eval link", &a, &m, &used);
    if (!rc) rc = open_linker("eval link", kg, m, &a, &l);
    if (rc) goto out;
    pe_link_eval_options eo = pe_link_eval_options_default();
    eo.strict = a.strict;
    eo.gold_types = a.gold_types;
    pe_link_eval_result r;
    pe_error err;
    pe_error_clear(&err);
    pe_status st = pe_link_eval_file(l, a.data, &eo, &r, &err);
    if (st != PE_OK) {
        fprintf(stderr, "persona eval link: %s: %s\n", pe_status_str(st), err.msg);
        rc = PE_EXIT_FAIL;
        goto out;
    }
    if (r.first_error[0])
        fprintf(stderr, "persona eval link: skipped %llu line(s); first: %s\n", (unsigned long long)r.skipped_lines,
                r.first_error);
    pe_linker_info info;
    pe_linker_info_get(l, &info);
    if (a.json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "data", a.data);
        cJSON_AddItemToObject(o, "ranker", used ? cJSON_CreateString(used) : cJSON_CreateNull());
        cJSON_AddNumberToObject(o, "reranker_units", m ? m->hidden : 0);
        cJSON_AddNumberToObject(o, "docs", (double)r.docs);
        cJSON_AddNumberToObject(o, "mentions", (double)r.mentions);
        cJSON_AddNumberToObject(o, "in_graph", (double)r.in_graph);
        cJSON_AddNumberToObject(o, "nil_gold", (double)r.nil_gold);
        cJSON_AddNumberToObject(o, "in_graph_accuracy", round(r.in_graph_accuracy * 1e4) / 1e4);
        cJSON_AddNumberToObject(o, "prior_baseline_in_graph_accuracy", round(r.prior_baseline_in_graph_accuracy * 1e4) / 1e4);
        cJSON_AddNumberToObject(o, "candidate_recall", round(r.candidate_recall * 1e4) / 1e4);
        cJSON_AddNumberToObject(o, "nil_precision", round(r.nil_precision * 1e4) / 1e4);
        cJSON_AddNumberToObject(o, "nil_recall", round(r.nil_recall * 1e4) / 1e4);
        cJSON_AddNumberToObject(o, "overall_accuracy", round(r.overall_accuracy * 1e4) / 1e4);
        cJSON_AddNumberToObject(o, "mentions_per_s", round(r.mentions_per_s));
        cJSON_AddNumberToObject(o, "skipped_lines", (double)r.skipped_lines);
        cJSON_AddNumberToObject(o, "skipped_labels", (double)r.skipped_labels);
        cJSON_AddStringToObject(o, "context", info.context ? "on" : "off");
        cJSON_AddBoolToObject(o, "link_index", info.index);
        pe_cli_print_json(o);
        cJSON_Delete(o);
    } else {
        printf("data                        %s\n", a.data);
        printf("ranker                      %s\n", used ? used : "(none: by prior)");
        if (m && m->hidden)
            printf("reranker                    %d ReLU units (%d MLPs); NIL by the logistic regression\n", m->hidden,
                   m->members);
        printf("documents, mentions         %llu, %llu (%llu in the graph, %llu NIL)\n", (unsigned long long)r.docs,
               (unsigned long long)r.mentions, (unsigned long long)r.in_graph, (unsigned long long)r.nil_gold);
        printf("in-graph accuracy           %.4f\n", r.in_graph_accuracy);
        printf("prior baseline              %.4f\n", r.prior_baseline_in_graph_accuracy);
        printf("candidate recall            %.4f\n", r.candidate_recall);
        printf("NIL precision, recall       %.4f, %.4f\n", r.nil_precision, r.nil_recall);
        printf("overall accuracy            %.4f\n", r.overall_accuracy);
        printf("mentions/s                  %.0f\n", r.mentions_per_s);
        printf("context feature             %s\n", info.context ? "on" : "off (no entity vectors: `persona link index`)");
    }
    rc = r.skipped_lines ? PE_EXIT_PARTIAL : PE_EXIT_OK;
out:
    pe_linker_close(l);
    pe_link_model_free(m);
    pe_kg_close(kg);
    return rc;
}
