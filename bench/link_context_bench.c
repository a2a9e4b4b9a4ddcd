/* link_context_bench.c - what an encoder context feature would add to the
 * entity linker, against the lexical one it has (figures in
 * docs/BENCHMARKS.md, "Entity linking").
 *
 *   pe_bench_link_context --db DB --index DIR --model MODEL.pem --train DEV.jsonl
 *                         [--chars N] [--k K] [FILE.benchmark.jsonl ...]
 *
 * Links DEV and each FILE (prior only, every candidate kept), encodes each
 * mention's context (N bytes on each side, default 200; mean-pooled last
 * layer) and each candidate's "label: description" with the model, and
 * takes their cosine. Then, for four variants of the context features
 * (lexical as the linker computes it; lexical plus the encoder cosine;
 * the encoder cosine alone; none), trains the ranker on DEV and prints one
 * JSON line a variant and file: in-graph accuracy with the NIL threshold.
 * Also the encoding cost: mentions/s and entities/s of the encoder.
 * The encoder cosine goes into the context_rel slot of the features for
 * this comparison only; the linker itself has no model code.
 */
#define _GNU_SOURCE
#include "pe_encoder.h"
#include "pe_kg.h"
#include "pe_link.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct row { double f[PE_LINK_NFEATURES]; double enc; } row;
typedef struct men { size_t first, n; int gold; int in_graph; } men;
typedef struct fileset { const char *name; row *rows; size_t nrows, crows; men *ms; size_t nm, cm; } fileset;

/* entity id -> vector, open addressing over slot (index + 1) */
typedef struct ecache { pe_kg_id *ids; float *vec; size_t n, cap; uint32_t *slot; size_t nslot; } ecache;

static pe_encoder *g_enc;
static int g_C;
static double g_t_ctx, g_t_ent;
static size_t g_n_ctx, g_n_ent;

static size_t hslot(const ecache *c, pe_kg_id id)
{
    uint64_t x = id * 0x9E3779B97F4A7C15ULL;
    size_t j = (size_t)(x >> 20) & (c->nslot - 1);
    while (c->slot[j] && c->ids[c->slot[j] - 1] != id) j = (j + 1) & (c->nslot - 1);
    return j;
}

static long ecache_find(const ecache *c, pe_kg_id id)
{
    if (!c->nslot) return -1;
    uint32_t s = c->slot[hslot(c, id)];
    return s ? (long)s - 1 : -1;
}

static void ecache_index(ecache *c, size_t i)
{
    if ((c->n + 1) * 2 > c->nslot) {
        size_t ns = c->nslot ? c->nslot * 2 : 1 << 16;
        free(c->slot);
        c->slot = calloc(ns, sizeof *c->slot);
        c->nslot = ns;
        for (size_t k = 0; k < c->n; k++) if (k != i) c->slot[hslot(c, c->ids[k])] = (uint32_t)k + 1;
    }
    c->slot[hslot(c, c->ids[i])] = (uint32_t)i + 1;
}

static void normalize(float *v, int C)
{
    double s = 0;
    for (int i = 0; i < C; i++) s += (double)v[i] * v[i];
    s = sqrt(s);
    if (s > 0) for (int i = 0; i < C; i++) v[i] = (float)(v[i] / s);
}

static int encode(const char *const *texts, const size_t *lens, int n, float *out, int max_len)
{
    pe_encoder_encode_options eo = pe_encoder_encode_options_default();
    eo.pool = PE_POOL_MEAN;
    eo.max_length = max_len;
    pe_encoder_result *r = NULL;
    if (pe_encoder_encode_texts(g_enc, texts, lens, n, &eo, &r) != PE_OK) {
        fprintf(stderr, "encode: %s\n", pe_encoder_errmsg(g_enc));
        return -1;
    }
    memcpy(out, r->pooled, (size_t)n * g_C * sizeof *out);
    for (int i = 0; i < n; i++) normalize(out + (size_t)i * g_C, g_C);
    pe_encoder_result_free(r);
    return 0;
}

/* Vectors of the entities not cached yet (batches of 64). */
static int ensure_entities(pe_kg *kg, ecache *c, const pe_kg_id *ids, size_t n)
{
    pe_kg_reader *r;
    if (pe_kg_reader_begin(kg, &r) != PE_OK) return -1;
    char *texts[64];
    size_t lens[64];
    pe_kg_id bid[64];
    int nb = 0, rc = 0;
    for (size_t i = 0; i <= n && !rc; i++) {
        if (i < n && ecache_find(c, ids[i]) < 0) {
            int dup = 0;
            for (int k = 0; k < nb; k++) dup |= bid[k] == ids[i];
            if (!dup) {
                const char *label = NULL, *desc = "";
                pe_kg_label(r, ids[i], "en", &label);
                pe_kg_entity *e = NULL;
                if (pe_kg_entity_get(r, ids[i], &e) == PE_OK)
                    for (size_t t = 0; t < e->n_texts; t++)
                        if (e->texts[t].kind == PE_KG_DESCRIPTION && !strcmp(e->texts[t].lang, "en")) desc = e->texts[t].text;
                if (asprintf(&texts[nb], "%s: %s", label ? label : "", desc) < 0) texts[nb] = NULL;
                pe_kg_entity_free(e);
                if (!texts[nb]) { rc = -1; break; }
                lens[nb] = strlen(texts[nb]);
                bid[nb++] = ids[i];
            }
        }
        if (nb == 64 || (i == n && nb)) {
            if (c->n + nb > c->cap) {
                size_t nc = c->cap ? c->cap * 2 : 4096;
                while (nc < c->n + nb) nc *= 2;
                c->ids = realloc(c->ids, nc * sizeof *c->ids);
                c->vec = realloc(c->vec, nc * g_C * sizeof *c->vec);
                c->cap = nc;
            }
            double t0 = pe_now();
            rc = encode((const char *const *)texts, lens, nb, c->vec + c->n * g_C, 32);
            g_t_ent += pe_now() - t0;
            g_n_ent += nb;
            for (int k = 0; k < nb; k++) {
                c->ids[c->n] = bid[k];
                ecache_index(c, c->n);
                c->n++;
                free(texts[k]);
            }
            nb = 0;
        }
    }
    pe_kg_reader_end(r);
    return rc;
}

static int load(pe_kg *kg, pe_linker *l, ecache *ec, const char *path, int chars, fileset *fs)
{
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); return -1; }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) > 0) {
        cJSON *j = cJSON_Parse(line);
        const cJSON *text = cJSON_GetObjectItem(j, "text"), *labels = cJSON_GetObjectItem(j, "labels");
        if (!cJSON_IsString(text) || !cJSON_IsArray(labels)) { cJSON_Delete(j); continue; }
        const char *t = text->valuestring;
        size_t tl = strlen(t), nch = 0;
        size_t *off = malloc((tl + 1) * sizeof *off);
        for (size_t b = 0; b < tl; b++) if (((unsigned char)t[b] & 0xC0) != 0x80) off[nch++] = b;
        off[nch] = tl;
        int nl = cJSON_GetArraySize(labels);
        pe_link_mention *ms = calloc((size_t)nl + 1, sizeof *ms);
        pe_kg_id *gold = calloc((size_t)nl + 1, sizeof *gold);
        int *ing = calloc((size_t)nl + 1, sizeof *ing);
        size_t n = 0;
        pe_kg_reader *r;
        pe_kg_reader_begin(kg, &r);
        for (int i = 0; i < nl; i++) {
            const cJSON *lb = cJSON_GetArrayItem(labels, i);
            const char *q = cJSON_GetStringValue(cJSON_GetObjectItem(lb, "entity_id"));
            const cJSON *sp = cJSON_GetObjectItem(lb, "span");
            if (!q || !strcmp(q, "QUANTITY") || !strcmp(q, "DATETIME") || !strcmp(q, "<NO_MAPPING>") ||
                cJSON_IsTrue(cJSON_GetObjectItem(lb, "coref")) || cJSON_GetObjectItem(lb, "parent"))
                continue;
            size_t s = (size_t)cJSON_GetArrayItem(sp, 0)->valuedouble, e = (size_t)cJSON_GetArrayItem(sp, 1)->valuedouble;
            if (e > nch || s >= e) continue;
            ms[n].start = off[s];
            ms[n].end = off[e];
            gold[n] = 0;
            ing[n] = 0;
            if (q[0] == 'Q' && pe_kg_resolve(r, q, strlen(q), &gold[n]) == PE_OK) {
                pe_kg_entity *rec = NULL;
                if (pe_kg_entity_get(r, gold[n], &rec) == PE_OK) ing[n] = rec->kind != PE_KG_KIND_UNKNOWN;
                pe_kg_entity_free(rec);
            }
            n++;
        }
        pe_kg_reader_end(r);
        pe_link_result *res = NULL;
        if (n && pe_link_text(l, NULL, t, tl, ms, n, &res) == PE_OK) {
            /* contexts */
            const char **ctx = malloc(n * sizeof *ctx);
            size_t *cl = malloc(n * sizeof *cl);
            float *cv = malloc(n * g_C * sizeof *cv);
            for (size_t i = 0; i < n; i++) {
                size_t a = ms[i].start > (size_t)chars ? ms[i].start - chars : 0;
                size_t b = ms[i].end + chars < tl ? ms[i].end + chars : tl;
                while (a > 0 && ((unsigned char)t[a] & 0xC0) == 0x80) a--;
                while (b < tl && ((unsigned char)t[b] & 0xC0) == 0x80) b++;
                ctx[i] = t + a;
                cl[i] = b - a;
            }
            double t0 = pe_now();
            for (size_t i = 0; i < n; i += 32) {
                int nb = (int)(n - i < 32 ? n - i : 32);
                encode(ctx + i, cl + i, nb, cv + i * g_C, 128);
            }
            g_t_ctx += pe_now() - t0;
            g_n_ctx += n;
            size_t nid = 0;
            for (size_t i = 0; i < n; i++) nid += res->mentions[i].n_candidates;
            pe_kg_id *ids = malloc((nid + 1) * sizeof *ids);
            nid = 0;
            for (size_t i = 0; i < n; i++)
                for (size_t k = 0; k < res->mentions[i].n_candidates; k++) ids[nid++] = res->mentions[i].candidates[k].id;
            ensure_entities(kg, ec, ids, nid);
            free(ids);
            for (size_t i = 0; i < n; i++) {
                const pe_link_mention_result *mr = &res->mentions[i];
                if (fs->nm == fs->cm) { fs->cm = fs->cm ? fs->cm * 2 : 1024; fs->ms = realloc(fs->ms, fs->cm * sizeof *fs->ms); }
                men *m = &fs->ms[fs->nm++];
                m->first = fs->nrows;
                m->n = mr->n_candidates;
                m->gold = -1;
                m->in_graph = ing[i];
                for (size_t k = 0; k < mr->n_candidates; k++) {
                    if (fs->nrows == fs->crows) { fs->crows = fs->crows ? fs->crows * 2 : 8192; fs->rows = realloc(fs->rows, fs->crows * sizeof *fs->rows); }
                    row *rw = &fs->rows[fs->nrows++];
                    memcpy(rw->f, mr->candidates[k].f, sizeof rw->f);
                    long e = ecache_find(ec, mr->candidates[k].id);
                    double dot = 0;
                    for (int c = 0; e >= 0 && c < g_C; c++) dot += (double)cv[i * g_C + c] * ec->vec[(size_t)e * g_C + c];
                    rw->enc = dot;
                    if (ing[i] && mr->candidates[k].id == gold[i]) m->gold = (int)k;
                }
            }
            free(ctx); free(cl); free(cv);
        }
        pe_link_result_free(res);
        free(ms); free(gold); free(ing); free(off);
        cJSON_Delete(j);
    }
    free(line);
    fclose(f);
    fs->name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    return 0;
}

/* Features of variant v: 0 lexical, 1 lexical + encoder, 2 encoder, 3 none. */
static void variant(const row *r, int v, double *f)
{
    memcpy(f, r->f, sizeof r->f);
    if (v == 1) f[PE_LINK_F_CONTEXT_REL] = r->enc;
    if (v == 2) { f[PE_LINK_F_CONTEXT] = 0; f[PE_LINK_F_CONTEXT_REL] = r->enc; }
    if (v == 3) f[PE_LINK_F_CONTEXT] = f[PE_LINK_F_CONTEXT_REL] = 0;
}

int main(int argc, char **argv)
{
    const char *db = NULL, *index = NULL, *model = NULL, *train = NULL;
    int chars = 200, first = argc;
    size_t K = 24;
    for (int i = 1; i < argc; i++) {
        int more = i + 1 < argc;
        if (!strcmp(argv[i], "--db") && more) db = argv[++i];
        else if (!strcmp(argv[i], "--index") && more) index = argv[++i];
        else if (!strcmp(argv[i], "--model") && more) model = argv[++i];
        else if (!strcmp(argv[i], "--train") && more) train = argv[++i];
        else if (!strcmp(argv[i], "--chars") && more) chars = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--k") && more) K = (size_t)atoi(argv[++i]);
        else if (argv[i][0] == '-') { fprintf(stderr, "usage: see the head of link_context_bench.c\n"); return 2; }
        else { first = i; break; }
    }
    if (!db || !index || !model || !train) { fprintf(stderr, "usage: see the head of link_context_bench.c\n"); return 2; }
    pe_kg_options ko = pe_kg_options_default();
    ko.create = 0;
    pe_kg *kg = NULL;
    pe_error err;
    if (pe_kg_open(db, &ko, &kg, &err) != PE_OK) { fprintf(stderr, "%s\n", err.msg); return 1; }
    pe_encoder_options eo = pe_encoder_options_default();
    if (pe_encoder_load(model, &eo, &g_enc, &err) != PE_OK) { fprintf(stderr, "%s\n", err.msg); return 1; }
    g_C = pe_encoder_hidden_size(g_enc);
    pe_link_options lo = pe_link_options_default();
    lo.index_dir = index;
    lo.max_candidates = K;
    lo.runner_ups = PE_LINK_MAX_K;
    pe_linker *l = NULL;
    if (pe_linker_open(kg, NULL, &lo, &l) != PE_OK) { fprintf(stderr, "%s\n", pe_linker_errmsg(l)); return 1; }
    int nf = 1 + (argc - first);
    fileset *fs = calloc((size_t)nf, sizeof *fs);
    ecache ec = {0};
    if (load(kg, l, &ec, train, chars, &fs[0])) return 1;
    for (int i = first; i < argc; i++)
        if (load(kg, l, &ec, argv[i], chars, &fs[1 + i - first])) return 1;
    printf("{\"encoder\": {\"contexts\": %zu, \"context_s\": %.2f, \"contexts_per_s\": %.0f, \"entities\": %zu, "
           "\"entity_s\": %.2f, \"entities_per_s\": %.0f}}\n", g_n_ctx, g_t_ctx, g_n_ctx / (g_t_ctx > 0 ? g_t_ctx : 1),
           g_n_ent, g_t_ent, g_n_ent / (g_t_ent > 0 ? g_t_ent : 1));
    static const char *vn[4] = {"lexical", "lexical+encoder", "encoder", "none"};
    for (int v = 0; v < 4; v++) {
        pe_link_trainset *ts = NULL;
        pe_link_trainset_new(&ts);
        double *fb = malloc(PE_LINK_MAX_K * PE_LINK_NFEATURES * sizeof *fb);
        for (size_t m = 0; m < fs[0].nm; m++) {
            const men *mm = &fs[0].ms[m];
            for (size_t k = 0; k < mm->n; k++) variant(&fs[0].rows[mm->first + k], v, fb + k * PE_LINK_NFEATURES);
            pe_link_trainset_add(ts, fb, mm->n, mm->gold);
        }
        pe_link_model *md = NULL;
        pe_link_model_new(&md);
        pe_link_train(ts, NULL, md, &err);
        for (int fi = 0; fi < nf; fi++) {
            size_t ing = 0, ok = 0;
            for (size_t m = 0; m < fs[fi].nm; m++) {
                const men *mm = &fs[fi].ms[m];
                if (!mm->in_graph) continue;
                ing++;
                double best = -1;
                int bi = -1;
                for (size_t k = 0; k < mm->n; k++) {
                    double f[PE_LINK_NFEATURES];
                    variant(&fs[fi].rows[mm->first + k], v, f);
                    double s = pe_link_model_score(md, f);
                    if (s > best) { best = s; bi = (int)k; }
                }
                ok += bi >= 0 && bi == mm->gold && best >= md->nil_threshold;
            }
            printf("{\"variant\": \"%s\", \"file\": \"%s\", \"in_graph\": %zu, \"in_graph_accuracy\": %.4f, "
                   "\"w_context\": %.3f, \"w_context_rel\": %.3f}\n",
                   vn[v], fs[fi].name, ing, ing ? (double)ok / ing : 0, md->w[PE_LINK_F_CONTEXT],
                   md->w[PE_LINK_F_CONTEXT_REL]);
        }
        fflush(stdout);
        free(fb);
        pe_link_model_free(md);
        pe_link_trainset_free(ts);
    }
    pe_linker_close(l);
    pe_encoder_free(g_enc);
    pe_kg_close(kg);
    return 0;
}
