/* persona_bench.c - end-to-end persona extraction on PersonaChat (the
 * annotated ConvAI2 validation file): each speaker's utterances through
 * the model, the fusion and the persona store, the persona's (attribute,
 * value) pairs scored against the gold persona triples; next to a
 * lexical-pattern baseline fed through the same fusion; enrich throughput
 * (messages/s) and peak memory. Prints a Markdown section (--out FILE too).
 *
 *   pe_bench_persona --data valid_both_original_final_annotated.txt
 *                    [--model persona-small.pem] [--db KG] [--limit DIALOGUES]
 *                    [--threads N] [--out section.md] [--trace FILE] [--ranker FILE]
 *
 * --ranker FILE: the linker's ranker (as persona enrich: models/link-ranker.json
 * when the store has none); without it, candidates by prior.
 *
 * --trace FILE: one JSON line per persona pair and system, for error
 * analysis: {"system", "user", "attribute", "value", "entity", "ok"} for
 * each predicted pair, and "ok": null with "gold": true for each gold pair
 * no prediction matched.
 *
 * File format: dialogues, each a block of "your persona: TEXT<TAB>[triple]"
 * and "partner's persona: ..." lines, then utterances "N<TAB>TEXT<TAB>[triple]...".
 * Odd-numbered utterances are the partner's, even ones "your" speaker's.
 * Triples are Python lists ['i', 'relation', 'object'].
 *
 * Scoring: both sides map to persona attributes (the gold relations of this
 * file are Dialogue-NLI names: the schema maps those it shares with
 * PersonaExt, the table below the others; unmapped gold relations stay
 * unmatched); a predicted pair is correct when a gold pair of the same
 * speaker has the same attribute and the same normalised value, or the same
 * linked entity. Micro precision, recall and F1 over speakers. Gold
 * "other" / "<blank>" triples are left out. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "pe_encoder.h"
#include "pe_fusion.h"
#include "pe_kg.h"
#include "pe_link.h"
#include "pe_ner.h"
#include "pe_personastore.h"
#include "pe_relation.h"

/* Dialogue-NLI relations of the gold file -> persona attribute. */
static const char *const dnli_map[][2] = {
    {"has_profession", "occupation"},   {"previous_profession", "former_employer"}, {"has_hobby", "activities"},
    {"has_age", "age"},                 {"have", "possessions"},                    {"like_music", "music"},
    {"like_goto", "favorite_place"},    {"like_sports", "sports"},                  {"favorite_food", "foods"},
    {"favorite_music", "music"},        {"like_movie", "watching"},                 {"favorite", "likes"},
    {"teach", "occupation"},            {"misc_attribute", "physical_attributes"},  {"place_origin", "hometown"},
};

static const char *gold_attribute(const char *rel, char *buf, size_t cap)
{
    const pe_fusion_schema_entry *e = pe_fusion_schema_find(rel);
    if (e && e->attribute) return e->attribute;
    for (size_t i = 0; i < sizeof dnli_map / sizeof dnli_map[0]; i++)
        if (!strcmp(dnli_map[i][0], rel)) return dnli_map[i][1];
    snprintf(buf, cap, "unmapped.%s", rel);
    return buf;
}

/* ---- data ---- */

typedef struct pair {
    char *attribute, *value, *entity;
} pair;

typedef struct speaker {
    char user[64];
    pair *gold;
    size_t n_gold, cap_gold;
    char **utt;
    size_t n_utt, cap_utt;
} speaker;

static void push_gold(speaker *s, const char *attribute, const char *value)
{
    pe_status st;
    char *v = pe_text_fold(value, strlen(value), &st);
    if (!v || !*v) {
        free(v);
        return;
    }
    for (size_t i = 0; i < s->n_gold; i++)
        if (!strcmp(s->gold[i].attribute, attribute) && !strcmp(s->gold[i].value, v)) {
            free(v);
            return;
        }
    if (s->n_gold == s->cap_gold) {
        s->cap_gold = s->cap_gold ? 2 * s->cap_gold : 8;
        s->gold = realloc(s->gold, s->cap_gold * sizeof *s->gold);
    }
    s->gold[s->n_gold++] = (pair){strdup(attribute), v, NULL};
}

static void push_utt(speaker *s, const char *t)
{
    if (s->n_utt == s->cap_utt) {
        s->cap_utt = s->cap_utt ? 2 * s->cap_utt : 8;
        s->utt = realloc(s->utt, s->cap_utt * sizeof *s->utt);
    }
    s->utt[s->n_utt++] = strdup(t);
}

/* Parses the triples "['i', 'rel', 'obj']" after the text of a line. */
static void parse_triples(speaker *s, char *p)
{
    while ((p = strchr(p, '['))) {
        char *f[3];
        int k = 0;
        p++;
        while (k < 3) {
            while (*p == ' ' || *p == ',') p++;
            char q = *p;
            if (q != '\'' && q != '"') break;
            char *start = ++p;
            while (*p && *p != q) p++;
            if (!*p) return;
            *p++ = '\0';
            f[k++] = start;
        }
        if (k == 3 && strcmp(f[1], "other") && strcmp(f[2], "<blank>") && *f[1]) {
            char buf[96];
            push_gold(s, gold_attribute(f[1], buf, sizeof buf), f[2]);
        }
        p = strchr(p, ']');
        if (!p) return;
    }
}

static speaker *read_data(const char *path, size_t limit, size_t *n_out, size_t *n_msgs)
{
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    speaker *sp = NULL;
    size_t n = 0, cap = 0, dialogues = 0;
    char *line = NULL;
    size_t lcap = 0;
    int in_utts = 1;
    *n_msgs = 0;
    while (getline(&line, &lcap, f) >= 0) {
        line[strcspn(line, "\r\n")] = '\0';
        int your = !strncmp(line, "your persona: ", 14), partner = !strncmp(line, "partner's persona: ", 19);
        if (your || partner) {
            if (in_utts) { /* a new dialogue: two speakers */
                if (dialogues == limit) break;
                if (n + 2 > cap) {
                    cap = cap ? 2 * cap : 64;
                    sp = realloc(sp, cap * sizeof *sp);
                }
                memset(&sp[n], 0, 2 * sizeof *sp);
                snprintf(sp[n].user, sizeof sp[n].user, "d%05zu-partner", dialogues);
                snprintf(sp[n + 1].user, sizeof sp[n + 1].user, "d%05zu-self", dialogues);
                n += 2;
                dialogues++;
                in_utts = 0;
            }
            char *tab = strchr(line, '\t');
            if (tab) parse_triples(&sp[n - (your ? 1 : 2)], tab + 1);
            continue;
        }
        char *tab = strchr(line, '\t');
        if (!tab || n == 0) continue;
        in_utts = 1;
        long num = strtol(line, NULL, 10);
        char *text = tab + 1, *tab2 = strchr(text, '\t');
        if (tab2) *tab2 = '\0';
        push_utt(&sp[n - (num % 2 ? 2 : 1)], text);
        (*n_msgs)++;
    }
    free(line);
    fclose(f);
    *n_out = n;
    return sp;
}

/* ---- the lexical baseline ---- */

typedef struct lex {
    const char *trigger; /* words before the object */
    const char *relation;
} lex;

static const lex lexicon[] = {
    {"i live in", "live_in_citystatecountry"}, {"i am from", "live_in_citystatecountry"},
    {"i work at", "employed_by_company"},      {"i work for", "employed_by_company"},
    {"i work as a", "employed_by_general"},    {"i work as an", "employed_by_general"},
    {"i am a", "employed_by_general"},         {"i am an", "employed_by_general"},
    {"i have a", "have_pet"},                  {"i have an", "have_pet"},
    {"i have two", "have_pet"},                {"i have three", "have_pet"},
    {"i love to", "like_activity"},            {"i like to", "like_activity"},
    {"i enjoy", "like_activity"},              {"i love", "like_general"},
    {"i like", "like_general"},                {"i eat", "like_food"},
    {"i drink", "like_drink"},                 {"i hate", "dislike"},
    {"i dislike", "dislike"},                  {"my favorite color is", "favorite_color"},
    {"my favorite band is", "favorite_music_artist"}, {"i drive a", "have_vehicle"},
    {"i play", "like_sport"},                  {"i listen to", "like_music"},
    {"i am married", "marital_status"},        {"i am single", "marital_status"},
};

static int is_stop(const char *w, size_t n)
{
    static const char *const stops[] = {"and", "but", "with", "so", "because", "to", "in", "at", "for", "of", "the", "my", "i", "when", "or", NULL};
    for (int i = 0; stops[i]; i++)
        if (strlen(stops[i]) == n && !strncmp(stops[i], w, n)) return 1;
    return 0;
}

/* Triples of the baseline (object spans in text), up to cap. */
static size_t baseline(const char *t, pe_fusion_triple *out, size_t cap)
{
    size_t n = 0, len = strlen(t);
    for (size_t k = 0; k < sizeof lexicon / sizeof lexicon[0] && n < cap; k++) {
        size_t tl = strlen(lexicon[k].trigger);
        for (const char *p = t; (p = strstr(p, lexicon[k].trigger)) && n < cap; p += tl) {
            if (p > t && p[-1] != ' ') continue;
            size_t i = (size_t)(p - t) + tl;
            if (!strcmp(lexicon[k].relation, "marital_status")) { /* the trigger's last word is the value */
                size_t e = i, s = i;
                while (s > 0 && t[s - 1] != ' ') s--;
                out[n++] = (pe_fusion_triple){lexicon[k].relation, s, e, 0.9f, NAN};
                continue;
            }
            if (i >= len || t[i] != ' ') continue;
            i++;
            size_t s = i, e = i;
            int words = 0;
            while (i < len && words < 3) {
                size_t w = i;
                while (i < len && t[i] != ' ' && t[i] != ',' && t[i] != '.' && t[i] != '!' && t[i] != '?') i++;
                if (i == w || (words > 0 && is_stop(t + w, i - w))) break;
                if (words == 0 && (is_stop(t + w, i - w) || (i - w == 1 && t[w] == 'a'))) {
                    if (i < len && t[i] == ' ') i++;
                    s = i;
                    continue;
                }
                e = i;
                words++;
                if (i < len && t[i] == ' ') i++;
                else break;
            }
            if (e > s) out[n++] = (pe_fusion_triple){lexicon[k].relation, s, e, 0.9f, NAN};
        }
    }
    return n;
}

/* ---- one system over all speakers ---- */

static pe_linker *g_linker; /* the entity linker on the graph (as enrich uses it) */
static FILE *g_trace;       /* --trace: the pairs, scored */
static pe_encoder *g_enc;   /* the model, for one encoder pass serving both heads */
static pe_ner *g_ner;       /* its NER head, NULL when it has none */
#define ENCODE_BATCH 32     /* messages per encoder pass, as persona enrich (cli/cmd_enrich.c) */
static pe_encoder_queue *g_queue; /* the encoder passes, on worker threads as persona enrich runs them */
static int g_depth;               /* batches in the queue at most */
#define STORE_BATCH 256     /* messages per persona store transaction, likewise */

typedef struct result {
    long tp, fp, fn;
    double p, r, f1;
    double seconds;
    double cpu_seconds; /* user + sys of the process over the same span (every thread) */
    size_t messages;
} result;

/* CPU time (user + sys) of the process so far: unlike messages/s, it
 * hardly moves with the load of other jobs on the machine. */
static double cpu_now(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* One --trace line: ok 1 or 0 for a predicted pair, -1 for a missed gold one. */
static void trace_pair(const char *system, const char *user, const char *attribute, const char *value,
                       const char *entity, int ok)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "system", system);
    cJSON_AddStringToObject(o, "user", user);
    cJSON_AddStringToObject(o, "attribute", attribute);
    cJSON_AddStringToObject(o, "value", value ? value : "");
    if (entity) cJSON_AddStringToObject(o, "entity", entity);
    if (ok < 0) {
        cJSON_AddNullToObject(o, "ok");
        cJSON_AddTrueToObject(o, "gold");
    } else {
        cJSON_AddBoolToObject(o, "ok", ok);
    }
    char *j = cJSON_PrintUnformatted(o);
    if (j) fprintf(g_trace, "%s\n", j);
    free(j);
    cJSON_Delete(o);
}

static int run_system(const char *name, speaker *sp, size_t n, pe_rel *rel, pe_kg_reader *kr, const char *model_id,
                      const char *model_version, result *res)
{
    char dir[] = "/tmp/pe-bench-persona-XXXXXX";
    if (!mkdtemp(dir)) return -1;
    pe_ps *ps = NULL;
    pe_error err;
    pe_ps_options po = pe_ps_options_default();
    if (pe_ps_open(dir, &po, &ps, &err) != PE_OK) {
        fprintf(stderr, "%s: %s\n", name, err.msg);
        return -1;
    }
    pe_fusion_options fo = pe_fusion_options_default();
    fo.model_id = model_id;
    fo.model_version = model_version;
    if (g_linker) {
        fo.link = pe_fusion_link_linker;
        fo.link_user = g_linker;
    }
    pe_fusion *fu = NULL;
    pe_fusion_new(kr, &fo, &fu, &err);
    memset(res, 0, sizeof *res);
    pe_encoder_result *batch = NULL; /* the encoder pass of messages [g0, g0 + gn) (g: running index) */
    size_t g = 0, g0 = 0, gn = 0;
    size_t qs = 0, qu = 0, pushed = 0, popped = 0; /* next message to push: speaker qs, utterance qu */
    int sizes[64];                                 /* messages of the batches in the queue (ring of g_depth) */
    const double c0 = cpu_now();
    double t0 = pe_now();
    pe_ps_writer *w = NULL; /* one transaction every STORE_BATCH messages, as persona enrich */
    for (size_t s = 0; s < n; s++) {
        for (size_t u = 0; u < sp[s].n_utt; u++) {
            if (!w && pe_ps_writer_begin(ps, &w) != PE_OK) return -1;
            const char *t = sp[s].utt[u];
            pe_fusion_triple tr[32];
            size_t nt = 0, nx = 0;
            pe_rel_extraction *x = NULL;
            if (rel) { /* as persona enrich does it: one encoder pass, both heads */
                size_t tl = strlen(t), nm = 0;
                pe_ner_mention *men = NULL;
                pe_encoder_encode_options eo = pe_encoder_encode_options_default();
                /* batches of ENCODE_BATCH messages across speakers pushed ahead to the encoder workers */
                while (qs < n && pe_encoder_queue_pending(g_queue) < g_depth) {
                    const char *bt[ENCODE_BATCH];
                    int k = 0;
                    while (k < ENCODE_BATCH && qs < n) {
                        if (qu < sp[qs].n_utt) {
                            bt[k++] = sp[qs].utt[qu++];
                        } else {
                            qs++;
                            qu = 0;
                        }
                    }
                    if (k == 0) break;
                    if (pe_encoder_queue_push(g_queue, bt, NULL, k) != PE_OK) return -1;
                    sizes[pushed++ % (size_t)g_depth] = k;
                }
                if (g >= g0 + gn) {
                    pe_encoder_result_free(batch);
                    if (pe_encoder_queue_pop(g_queue, &batch) != PE_OK) batch = NULL;
                    g0 = g;
                    gn = (size_t)sizes[popped++ % (size_t)g_depth];
                }
                /* a failed batch: each message makes its own pass, as before */
                pe_encoder_result *own = NULL, *er = batch;
                int i = (int)(g - g0);
                if (!er) {
                    i = 0;
                    if (pe_encoder_encode_texts(g_enc, &t, &tl, 1, &eo, &own) == PE_OK) er = own;
                }
                if (er) {
                    const pe_encoding *e = er->encodings[i];
                    const float *h = er->hidden_states + (size_t)er->offsets[i] * (size_t)er->hidden;
                    const int whole = !e->truncated;
                    if ((whole ? pe_rel_extract_encoded(rel, t, e, h, &x, &nx, &err)
                               : pe_rel_extract(rel, t, tl, &x, &nx, &err)) != PE_OK) {
                        nx = 0;
                        x = NULL;
                    }
                    if (g_ner && nx &&
                        (whole ? pe_ner_extract_encoded(g_ner, t, e, h, &men, &nm, &err)
                               : pe_ner_extract(g_ner, t, tl, &men, &nm, &err)) != PE_OK) {
                        men = NULL;
                        nm = 0;
                    }
                    pe_encoder_result_free(own);
                }
                g++;
                nt = nx > 32 ? 32 : nx;
                for (size_t i = 0; i < nt; i++) {
                    tr[i] = (pe_fusion_triple){x[i].relation, x[i].object.start, x[i].object.end, x[i].score, NAN};
                    for (size_t k = 0; k < nm; k++)
                        if (men[k].start < tr[i].end && men[k].end > tr[i].start) tr[i].ner_score = men[k].score;
                }
                pe_ner_mentions_free(men, nm);
            } else {
                nt = baseline(t, tr, 32);
            }
            char mid[32];
            snprintf(mid, sizeof mid, "u%zu", u);
            pe_fusion_message m = {sp[s].user, mid, 1600000000.0 + (double)u * 60, t, strlen(t)};
            pe_status st = pe_fusion_apply(fu, w, &m, tr, nt, NULL, &err);
            if (x) pe_rel_extractions_free(x, nx);
            if (st != PE_OK && st != PE_ERR_UTF8) {
                fprintf(stderr, "%s: %s\n", name, err.msg);
                pe_ps_writer_abort(w);
                return -1;
            }
            if (++res->messages % STORE_BATCH == 0) {
                pe_status cs = pe_ps_writer_commit(w);
                w = NULL;
                if (cs != PE_OK) return -1;
            }
        }
    }
    if (w && pe_ps_writer_commit(w) != PE_OK) return -1;
    pe_encoder_result_free(batch);
    res->seconds = pe_now() - t0;
    res->cpu_seconds = cpu_now() - c0;
    /* score */
    pe_ps_reader *r = NULL;
    pe_ps_reader_begin(ps, &r);
    for (size_t s = 0; s < n; s++) {
        pe_ps_attr_list *l = NULL;
        size_t np = 0;
        if (pe_ps_attributes(r, sp[s].user, NULL, 0, &l) == PE_OK) np = l->n;
        char *hit = calloc(sp[s].n_gold + 1, 1);
        for (size_t i = 0; i < np; i++) {
            const pe_ps_attr *a = &l->attrs[i];
            int ok = 0;
            for (size_t g = 0; g < sp[s].n_gold && !ok; g++)
                if (!strcmp(a->attribute, sp[s].gold[g].attribute) && !strcmp(a->value, sp[s].gold[g].value)) {
                    ok = 1;
                    hit[g] = 1;
                }
            /* the same linked entity as a gold value's */
            for (size_t g = 0; g < sp[s].n_gold && !ok && a->entity && kr; g++) {
                if (strcmp(a->attribute, sp[s].gold[g].attribute)) continue;
                pe_fusion_link_result lr;
                size_t gl = strlen(sp[s].gold[g].value);
                if (pe_fusion_link_exact(kr, sp[s].gold[g].value, gl, 0, gl, NULL, 0, &lr) == PE_OK && lr.n &&
                    !strcmp(lr.c[0].entity, a->entity)) {
                    ok = 1;
                    hit[g] = 1;
                }
            }
            if (ok) res->tp++;
            else res->fp++;
            if (g_trace) trace_pair(name, sp[s].user, a->attribute, a->value, a->entity, ok);
        }
        for (size_t g = 0; g < sp[s].n_gold; g++) {
            res->fn += !hit[g];
            if (g_trace && !hit[g]) trace_pair(name, sp[s].user, sp[s].gold[g].attribute, sp[s].gold[g].value, NULL, -1);
        }
        free(hit);
        pe_ps_attr_list_free(l);
    }
    pe_ps_reader_end(r);
    res->p = res->tp + res->fp ? (double)res->tp / (double)(res->tp + res->fp) : 0;
    res->r = res->tp + res->fn ? (double)res->tp / (double)(res->tp + res->fn) : 0;
    res->f1 = res->p + res->r > 0 ? 2 * res->p * res->r / (res->p + res->r) : 0;
    pe_fusion_free(fu);
    pe_ps_close(ps);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return 0;
}

int main(int argc, char **argv)
{
    const char *data = NULL, *model = NULL, *db = NULL, *out = NULL, *trace = NULL, *ranker_path = NULL;
    pe_link_model *ranker = NULL; /* the linker's ranker (--ranker), NULL: by prior */
    size_t limit = (size_t)-1;
    int threads = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--data") && i + 1 < argc) data = argv[++i];
        else if (!strcmp(argv[i], "--model") && i + 1 < argc) model = argv[++i];
        else if (!strcmp(argv[i], "--db") && i + 1 < argc) db = argv[++i];
        else if (!strcmp(argv[i], "--out") && i + 1 < argc) out = argv[++i];
        else if (!strcmp(argv[i], "--limit") && i + 1 < argc) limit = (size_t)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--trace") && i + 1 < argc) trace = argv[++i];
        else if (!strcmp(argv[i], "--ranker") && i + 1 < argc) ranker_path = argv[++i];
        else {
            fprintf(stderr, "usage: pe_bench_persona --data FILE [--model PEM] [--db KG] [--limit N] [--threads N] [--out FILE] [--trace FILE] [--ranker FILE]\n");
            return 2;
        }
    }
    if (!data) {
        fprintf(stderr, "pe_bench_persona: --data FILE is required\n");
        return 2;
    }
    if (trace && !(g_trace = fopen(trace, "w"))) {
        fprintf(stderr, "pe_bench_persona: cannot write %s\n", trace);
        return 1;
    }
    size_t n = 0, n_msgs = 0, n_gold = 0;
    speaker *sp = read_data(data, limit, &n, &n_msgs);
    if (!sp) {
        fprintf(stderr, "pe_bench_persona: cannot read %s\n", data);
        return 3;
    }
    for (size_t i = 0; i < n; i++) n_gold += sp[i].n_gold;
    pe_error err;
    pe_kg *kg = NULL;
    pe_kg_reader *kr = NULL;
    if (db) {
        pe_kg_options ko = pe_kg_options_default();
        ko.read_only = 1;
        if (pe_kg_open(db, &ko, &kg, &err) != PE_OK || pe_kg_reader_begin(kg, &kr) != PE_OK) {
            fprintf(stderr, "pe_bench_persona: cannot open the graph %s\n", db);
            return 1;
        }
        char idx[4096];
        struct stat sb;
        snprintf(idx, sizeof idx, "%s/link", db);
        pe_link_options lo = pe_link_options_default();
        lo.index_dir = stat(idx, &sb) == 0 ? idx : NULL;
        if (ranker_path && pe_link_model_load(ranker_path, &ranker, &err) != PE_OK) {
            fprintf(stderr, "pe_bench_persona: %s\n", err.msg);
            return 1;
        }
        if (pe_linker_open(kg, ranker, &lo, &g_linker) != PE_OK) {
            fprintf(stderr, "pe_bench_persona: cannot open the linker on %s\n", db);
            return 1;
        }
    }
    result base, mod;
    if (run_system("baseline", sp, n, NULL, kr, "lexical-baseline", "1", &base) != 0) return 1;
    int have_model = 0;
    pe_encoder *enc = NULL;
    pe_rel *rel = NULL;
    pe_encoder_info info;
    if (model) {
        /* as persona enrich: --threads N encoder workers, each running its products on one thread */
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        const int workers = threads > 0 ? threads : (cores > 1 ? (int)(cores < 62 ? cores : 62) : 1);
        pe_encoder_options eo = pe_encoder_options_default();
        eo.threads = workers > 1 ? 1 : threads;
        if (pe_encoder_load(model, &eo, &enc, &err) != PE_OK || pe_rel_open(enc, &rel, &err) != PE_OK) {
            fprintf(stderr, "pe_bench_persona: %s: %s\n", model, err.msg);
            return 1;
        }
        pe_encoder_get_info(enc, &info);
        g_enc = enc;
        g_depth = workers > 1 ? workers + 1 : 1;
        if (pe_encoder_queue_new(enc, workers > 1 ? workers : 0, g_depth, NULL, &g_queue) != PE_OK) {
            fprintf(stderr, "pe_bench_persona: %s\n", pe_encoder_errmsg(enc));
            return 1;
        }
        pe_ner_options no = pe_ner_options_default();
        no.graph = kr;
        if (pe_ner_open(enc, &no, &g_ner, &err) != PE_OK) g_ner = NULL;
        if (run_system("model", sp, n, rel, kr, info.model_id, info.model_version, &mod) != 0) return 1;
        have_model = 1;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    char buf[8192];
    int o = 0;
    o += snprintf(buf + o, sizeof buf - (size_t)o,
                  "Data: `%s`: %zu speakers (%zu dialogues), %zu utterances, %zu gold (attribute, value) pairs;\n"
                  "graph: %s; %ld CPU cores online.\n\n"
                  "| system | precision | recall | F1 | messages/s (enrich, end to end) | CPU ms per message (user + sys) |\n"
                  "|---|---|---|---|---|---|\n",
                  data, n, n / 2, n_msgs, n_gold, db ? db : "none", sysconf(_SC_NPROCESSORS_ONLN));
    o += snprintf(buf + o, sizeof buf - (size_t)o, "| lexical patterns (baseline) | %.3f | %.3f | %.3f | %.0f | %.3f |\n",
                  base.p, base.r, base.f1, base.seconds > 0 ? (double)base.messages / base.seconds : 0.0,
                  base.messages ? 1e3 * base.cpu_seconds / (double)base.messages : 0.0);
    if (have_model)
        o += snprintf(buf + o, sizeof buf - (size_t)o, "| model `%s` %s + fusion | %.3f | %.3f | %.3f | %.0f | %.2f |\n",
                      info.model_id, info.model_version, mod.p, mod.r, mod.f1,
                      mod.seconds > 0 ? (double)mod.messages / mod.seconds : 0.0,
                      mod.messages ? 1e3 * mod.cpu_seconds / (double)mod.messages : 0.0);
    else
        o += snprintf(buf + o, sizeof buf - (size_t)o, "| model | (no --model given) | | | | |\n");
    o += snprintf(buf + o, sizeof buf - (size_t)o, "\nPeak memory (max RSS of the benchmark process): %.1f MiB.\n",
                  (double)ru.ru_maxrss / 1024.0);
    if (have_model && base.f1 > 0)
        o += snprintf(buf + o, sizeof buf - (size_t)o, "Model F1 / baseline F1: %.2f (target: at least 2).\n", mod.f1 / base.f1);
    fputs(buf, stdout);
    if (out) {
        FILE *f = fopen(out, "w");
        if (f) {
            fputs(buf, f);
            fclose(f);
        }
    }
    pe_encoder_queue_free(g_queue);
    pe_rel_close(rel);
    pe_ner_close(g_ner);
    pe_encoder_free(enc);
    pe_linker_close(g_linker);
    pe_link_model_free(ranker);
    pe_kg_reader_end(kr);
    pe_kg_close(kg);
    for (size_t i = 0; i < n; i++) {
        for (size_t g = 0; g < sp[i].n_gold; g++) {
            free(sp[i].gold[g].attribute);
            free(sp[i].gold[g].value);
        }
        for (size_t u = 0; u < sp[i].n_utt; u++) free(sp[i].utt[u]);
        free(sp[i].gold);
        free(sp[i].utt);
    }
    free(sp);
    if (g_trace && fclose(g_trace) != 0) {
        fprintf(stderr, "pe_bench_persona: cannot write %s\n", trace);
        return 1;
    }
    return 0;
}
