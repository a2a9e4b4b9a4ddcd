/* trainer.c - the training loop shared by every objective: batches,
 * accumulation, clipping, AdamW, schedules, evaluation and early stopping,
 * checkpoints with exact resumption, the JSONL log (pe_trainer.h). */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cblas.h>

#include "kernels.h"
#include "model_internal.h"
#include "pe_trainer.h"
#include "train_internal.h"
#include "trainer_internal.h"

pe_trainer_options pe_trainer_options_default(void)
{
    pe_trainer_options o = {
        .dir = NULL,
        .steps = 1000,
        .accum = 1,
        .batch_tokens = 4096,
        .batch_max_seqs = 0,
        .bucket_window = 50,
        .lr = 5e-5f,
        .warmup = -1,
        .schedule = PE_SCHEDULE_LINEAR,
        .min_lr_ratio = 0.0f,
        .adamw = pe_adamw_options_default(),
        .clip = 1.0f,
        .hidden_dropout = 0.1f,
        .attention_dropout = 0.1f,
        .seed = 1,
        .log_every = 10,
        .checkpoint_every = 500,
        .eval_every = 0,
        .patience = 0,
        .keep_checkpoints = 2,
        .stop_after = 0,
        .ema = 0.0f,
        .resume = 0,
        .tokenizer = NULL,
        .progress = NULL,
        .progress_user = NULL,
    };
    return o;
}

void pe_trainer_set_threads(int n)
{
    if (n <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n = c > 0 ? (int)c : 1;
    }
    openblas_set_num_threads(n);
    enc_kernels_set_threads(n);
}

/* ---- small helpers ---- */

void enc_tr_normal_fill(float *x, size_t n, float std, uint64_t seed, uint64_t stream)
{
    for (size_t i = 0; i < n; i++) {
        double u1 = ((double)(pe_tr_hash(seed, stream, 2 * i) >> 11) + 1.0) / 9007199254740993.0;
        double u2 = (double)(pe_tr_hash(seed, stream, 2 * i + 1) >> 11) / 9007199254740992.0;
        x[i] = (float)(std * sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
    }
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int enc_tr_rmtree(const char *path)
{
    struct stat sb;
    if (lstat(path, &sb) != 0) return errno == ENOENT ? 0 : -1;
    return nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static pe_status read_text(const char *path, char **out, pe_error *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return errno == ENOENT ? PE_NOT_FOUND : pe_error_set(err, PE_ERR_IO, "%s: %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *s = malloc(cap);
    size_t k;
    while (s && (k = fread(s + n, 1, cap - n - 1, f)) > 0) {
        n += k;
        if (n + 1 == cap) {
            char *t = realloc(s, cap * 2);
            if (!t) {
                free(s);
                s = NULL;
                break;
            }
            s = t;
            cap *= 2;
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (!s) return pe_error_set(err, PE_ERR_NOMEM, "%s: out of memory", path);
    if (bad) {
        free(s);
        return pe_error_set(err, PE_ERR_IO, "%s: read failed", path);
    }
    s[n] = '\0';
    *out = s;
    return PE_OK;
}

static pe_status write_text(const char *path, const char *text, pe_error *err)
{
    const void *parts[1] = {text};
    size_t lens[1] = {strlen(text)};
    return enc_tr_write_file(path, parts, lens, 1, err);
}

pe_status pe_trainer_load_tensors(const char *path, const pe_train_param *params, int n_params, pe_error *err)
{
    void *map = NULL;
    size_t size = 0;
    pe_status st = enc_map_file(path, &map, &size, err);
    if (st != PE_OK) return st;
    pe_encoder_stored_tensor *t = NULL;
    int n = 0;
    st = enc_safetensors_parse(path, map, size, &t, &n, err);
    for (int i = 0; st == PE_OK && i < n_params; i++) {
        const pe_train_param *p = &params[i];
        int k = 0;
        while (k < n && strcmp(t[k].name, p->name) != 0) k++;
        if (k == n) {
            st = pe_error_set(err, PE_ERR_CORRUPT, "%s: tensor %s is missing", path, p->name);
            break;
        }
        if (t[k].dtype != PE_DTYPE_F32 || enc_shape_numel(t[k].shape, t[k].ndim) != p->numel ||
            t[k].nbytes != (size_t)p->numel * sizeof(float)) {
            st = pe_error_set(err, PE_ERR_CORRUPT, "%s: tensor %s is %s with %lld elements, the model wants F32 with %lld",
                              path, p->name, t[k].dtype_name, (long long)enc_shape_numel(t[k].shape, t[k].ndim),
                              (long long)p->numel);
            break;
        }
        memcpy(p->data, t[k].data, t[k].nbytes);
    }
    enc_stored_tensors_free(t, n);
    enc_unmap_file(map, size);
    return st;
}

/* ---- the batch plan of an epoch ---- */

typedef struct plan {
    size_t *idx;    /* (n_examples) example indices, batch after batch */
    size_t *start;  /* (n_batches + 1) */
    size_t n_batches;
} plan;

typedef struct len_idx {
    int len;
    size_t pos, idx;
} len_idx;

static int cmp_len(const void *a, const void *b)
{
    const len_idx *x = a, *y = b;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static void plan_free(plan *p)
{
    free(p->idx);
    free(p->start);
    memset(p, 0, sizeof *p);
}

/* Shuffles the examples with (seed, epoch), sorts windows of them by
 * length, cuts micro-batches within the token budget, shuffles the
 * batches. A pure function of its arguments. */
static pe_status plan_epoch(const pe_objective *obj, const pe_trainer_options *o, long epoch, plan *p, pe_error *err)
{
    plan_free(p);
    const size_t N = obj->n_examples;
    len_idx *li = malloc((N + 1) * sizeof *li);
    size_t *perm = malloc((N + 1) * sizeof *perm);
    p->idx = malloc((N + 1) * sizeof *p->idx);
    p->start = malloc((N + 2) * sizeof *p->start);
    size_t *order = malloc((N + 1) * sizeof *order), *start2 = malloc((N + 2) * sizeof *start2);
    if (!li || !perm || !p->idx || !p->start || !order || !start2) {
        free(li);
        free(perm);
        free(order);
        free(start2);
        plan_free(p);
        return pe_error_set(err, PE_ERR_NOMEM, "trainer: out of memory for the batch plan of %zu examples", N);
    }
    const uint64_t key = pe_tr_hash(o->seed, 0x65706f6368ull, (uint64_t)epoch);
    for (size_t i = 0; i < N; i++) perm[i] = i;
    for (size_t i = N; i > 1; i--) {
        size_t j = (size_t)(pe_tr_hash(key, 1, i) % i);
        size_t t = perm[i - 1];
        perm[i - 1] = perm[j];
        perm[j] = t;
    }
    const int avg = 64;
    size_t window = (size_t)o->bucket_window * (size_t)(o->batch_tokens / avg > 0 ? o->batch_tokens / avg : 1);
    if (o->bucket_window <= 1) window = 1;
    for (size_t i = 0; i < N; i++) li[i] = (len_idx){obj->length(obj->ctx, perm[i]), i, perm[i]};
    for (size_t w0 = 0; window > 1 && w0 < N; w0 += window)
        qsort(li + w0, (N - w0 < window ? N - w0 : window), sizeof *li, cmp_len);
    /* cut */
    size_t nb = 0, k = 0;
    start2[0] = 0;
    int T = 0, seqs = 0;
    for (size_t i = 0; i < N; i++) {
        int len = li[i].len;
        if (seqs > 0 && (T + len > o->batch_tokens || (o->batch_max_seqs > 0 && seqs >= o->batch_max_seqs))) {
            start2[++nb] = k;
            T = seqs = 0;
        }
        perm[k++] = li[i].idx;
        T += len;
        seqs++;
    }
    if (seqs > 0) start2[++nb] = k;
    /* shuffle the batches */
    for (size_t b = 0; b < nb; b++) order[b] = b;
    for (size_t i = nb; i > 1; i--) {
        size_t j = (size_t)(pe_tr_hash(key, 2, i) % i);
        size_t t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
    size_t q = 0;
    p->start[0] = 0;
    for (size_t b = 0; b < nb; b++) {
        for (size_t i = start2[order[b]]; i < start2[order[b] + 1]; i++) p->idx[q++] = perm[i];
        p->start[b + 1] = q;
    }
    p->n_batches = nb;
    free(li);
    free(perm);
    free(order);
    free(start2);
    return PE_OK;
}

/* ---- the run ---- */

typedef struct run_state {
    long step, epoch;
    size_t pos;          /* next batch of the epoch */
    double best;
    long best_step;
    int since_best;
} run_state;

typedef struct run {
    pe_train *tr;
    const pe_objective *obj;
    const pe_trainer_options *o;
    pe_train_param *params; /* encoder's then the head's */
    int n_params, n_enc;
    pe_adamw *opt;
    pe_train_param *ema;    /* the weights' moving average (o->ema > 0), params' order */
    float *ema_arena;
    char *ema_names;
    run_state s;
    plan pl;
    FILE *log;
    char *dir;
} run;

static pe_status save_optim(run *r, const char *dir, pe_error *err)
{
    const int n = pe_adamw_n_params(r->opt);
    pe_tr_st_entry *e = calloc(2 * (size_t)n + 1, sizeof *e);
    char *names = malloc(2 * (size_t)n * 160 + 1);
    if (!e || !names) {
        free(e);
        free(names);
        return pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < n; i++) {
        pe_adamw_moments mo;
        pe_adamw_state(r->opt, i, &mo);
        char *nm = names + (size_t)(2 * i) * 160, *nv = nm + 160;
        snprintf(nm, 160, "m.%s", mo.name);
        snprintf(nv, 160, "v.%s", mo.name);
        e[2 * i] = (pe_tr_st_entry){nm, 1, {mo.numel, 0}, mo.m, (size_t)mo.numel * sizeof(float)};
        e[2 * i + 1] = (pe_tr_st_entry){nv, 1, {mo.numel, 0}, mo.v, (size_t)mo.numel * sizeof(float)};
    }
    char *path = pe_path_join(dir, "optim.safetensors");
    pe_status st = path ? enc_tr_write_safetensors(path, e, 2 * n, err) : PE_ERR_NOMEM;
    free(path);
    free(e);
    free(names);
    return st;
}

static pe_status load_optim(run *r, const char *dir, pe_error *err)
{
    const int n = pe_adamw_n_params(r->opt);
    pe_train_param *v = calloc(2 * (size_t)n + 1, sizeof *v);
    char *names = malloc(2 * (size_t)n * 160 + 1);
    char *path = pe_path_join(dir, "optim.safetensors");
    pe_status st = PE_OK;
    if (!v || !names || !path) st = pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    for (int i = 0; st == PE_OK && i < n; i++) {
        pe_adamw_moments mo;
        pe_adamw_state(r->opt, i, &mo);
        char *nm = names + (size_t)(2 * i) * 160, *nv = nm + 160;
        snprintf(nm, 160, "m.%s", mo.name);
        snprintf(nv, 160, "v.%s", mo.name);
        v[2 * i] = (pe_train_param){.name = nm, .ndim = 1, .shape = {mo.numel, 0}, .numel = mo.numel, .data = mo.m};
        v[2 * i + 1] = (pe_train_param){.name = nv, .ndim = 1, .shape = {mo.numel, 0}, .numel = mo.numel, .data = mo.v};
    }
    if (st == PE_OK) st = pe_trainer_load_tensors(path, v, 2 * n, err);
    free(v);
    free(names);
    free(path);
    return st;
}

/* ---- the weights' moving average (o->ema) ---- */

/* the average restarts as the weights */
static void ema_from_weights(run *r)
{
    for (int i = 0; i < r->n_params; i++)
        memcpy(r->ema[i].data, r->params[i].data, (size_t)r->params[i].numel * sizeof(float));
}

/* r->ema: one tensor per parameter, named "ema." + its name, in one arena
 * (r->ema_arena, r->ema_names), starting as the weights. */
static pe_status ema_init(run *r, pe_error *err)
{
    size_t total = 0;
    for (int i = 0; i < r->n_params; i++) total += (size_t)r->params[i].numel;
    r->ema = calloc((size_t)r->n_params + 1, sizeof *r->ema);
    r->ema_names = malloc((size_t)r->n_params * 160 + 1);
    r->ema_arena = malloc((total ? total : 1) * sizeof *r->ema_arena);
    if (!r->ema || !r->ema_names || !r->ema_arena) return pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    size_t o = 0;
    for (int i = 0; i < r->n_params; i++) {
        pe_train_param *e = &r->ema[i];
        *e = r->params[i];
        e->name = r->ema_names + (size_t)i * 160;
        snprintf(r->ema_names + (size_t)i * 160, 160, "ema.%s", r->params[i].name);
        e->data = r->ema_arena + o;
        e->grad = NULL;
        o += (size_t)e->numel;
    }
    ema_from_weights(r);
    return PE_OK;
}

/* after update `step` (1 for the first) */
static void ema_update(run *r, long step)
{
    const double warm = (1.0 + (double)step) / (10.0 + (double)step);
    const float d = (float)(r->o->ema < warm ? r->o->ema : warm), u = 1.0f - d;
    for (int i = 0; i < r->n_params; i++) {
        const float *p = r->params[i].data;
        float *e = r->ema[i].data;
        for (long k = 0; k < r->params[i].numel; k++) e[k] = d * e[k] + u * p[k];
    }
}

/* exchanges the weights and their average (twice restores both) */
static void ema_swap(run *r)
{
    for (int i = 0; i < r->n_params; i++) {
        float *p = r->params[i].data, *e = r->ema[i].data;
        for (long k = 0; k < r->params[i].numel; k++) {
            const float t = p[k];
            p[k] = e[k];
            e[k] = t;
        }
    }
}

/* DIR/ema.safetensors */
static pe_status save_ema(run *r, const char *dir, pe_error *err)
{
    pe_tr_st_entry *e = calloc((size_t)r->n_params + 1, sizeof *e);
    char *path = pe_path_join(dir, "ema.safetensors");
    pe_status st = e && path ? PE_OK : pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    for (int i = 0; st == PE_OK && i < r->n_params; i++) {
        const pe_train_param *v = &r->ema[i];
        e[i] = (pe_tr_st_entry){v->name, v->ndim, {0, 0}, v->data, (size_t)v->numel * sizeof(float)};
        for (int d = 0; d < v->ndim && d < 2; d++) e[i].shape[d] = v->shape[d];
    }
    if (st == PE_OK) st = enc_tr_write_safetensors(path, e, r->n_params, err);
    free(path);
    free(e);
    return st;
}

/* from DIR/ema.safetensors; a checkpoint of a run without the average
 * starts it from the weights just restored */
static pe_status load_ema(run *r, const char *dir, pe_error *err)
{
    char *path = pe_path_join(dir, "ema.safetensors");
    if (!path) return pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    pe_status st = PE_OK;
    if (access(path, F_OK) == 0) st = pe_trainer_load_tensors(path, r->ema, r->n_params, err);
    else ema_from_weights(r);
    free(path);
    return st;
}

static char *state_json(const run *r)
{
    cJSON *j = cJSON_CreateObject();
    if (!j) return NULL;
    cJSON_AddNumberToObject(j, "step", (double)r->s.step);
    cJSON_AddNumberToObject(j, "epoch", (double)r->s.epoch);
    cJSON_AddNumberToObject(j, "pos", (double)r->s.pos);
    if (isfinite(r->s.best)) cJSON_AddNumberToObject(j, "best_metric", r->s.best);
    cJSON_AddNumberToObject(j, "best_step", (double)r->s.best_step);
    cJSON_AddNumberToObject(j, "evals_since_best", r->s.since_best);
    cJSON_AddNumberToObject(j, "adamw_steps", (double)pe_adamw_steps(r->opt));
    cJSON_AddStringToObject(j, "objective", r->obj->name ? r->obj->name : "");
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)r->o->seed);
    cJSON_AddStringToObject(j, "seed", seed);
    char *s = cJSON_Print(j);
    cJSON_Delete(j);
    return s;
}

/* Writes a fresh folder dir: the encoder with the heads (HF folder), the
 * optimiser moments when with_optim, and the state into state_path. */
static pe_status write_folder(run *r, const char *dir, const char *state_path, const char *state, int with_optim,
                              pe_error *err)
{
    enc_tr_rmtree(dir);
    pe_train_save_options so = pe_train_save_options_default();
    so.tokenizer = r->o->tokenizer;
    so.extra = r->obj->params;
    so.n_extra = r->obj->n_params;
    so.labels_json = r->o->labels_json;
    pe_status st = pe_train_save(r->tr, dir, &so, err);
    if (st == PE_OK && with_optim) st = save_optim(r, dir, err);
    if (st == PE_OK && with_optim && r->ema) st = save_ema(r, dir, err);
    if (st == PE_OK) st = write_text(state_path, state, err);
    return st;
}

/* Writes ckpt-STEP (through ckpt-STEP.tmp), then `latest`, then prunes. */
static pe_status checkpoint(run *r, char *name_out, pe_error *err)
{
    char name[64], tmpname[80];
    snprintf(name, sizeof name, "ckpt-%08ld", r->s.step);
    snprintf(tmpname, sizeof tmpname, "%s.tmp", name);
    char *tmp = pe_path_join(r->dir, tmpname), *fin = pe_path_join(r->dir, name), *latest = pe_path_join(r->dir, "latest");
    char *state = state_json(r), *sp = tmp ? pe_path_join(tmp, "state.json") : NULL;
    pe_status st = PE_OK;
    if (!tmp || !fin || !latest || !state || !sp) {
        st = pe_error_set(err, PE_ERR_NOMEM, "out of memory");
        goto done;
    }
    if ((st = write_folder(r, tmp, sp, state, 1, err)) != PE_OK) goto done;
    enc_tr_rmtree(fin);
    if (rename(tmp, fin) != 0) {
        st = pe_error_set(err, PE_ERR_IO, "%s: cannot rename to %s: %s", tmp, fin, strerror(errno));
        goto done;
    }
    char line[80];
    snprintf(line, sizeof line, "%s\n", name);
    if ((st = write_text(latest, line, err)) != PE_OK) goto done;
    if (name_out) snprintf(name_out, 64, "%s", name);
    /* prune: keep the newest keep_checkpoints ckpt-* folders */
    DIR *d = opendir(r->dir);
    if (d) {
        char **names = NULL;
        size_t n = 0, cap = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
            size_t l = strlen(de->d_name);
            if (strncmp(de->d_name, "ckpt-", 5) != 0 || l < 6 || strstr(de->d_name, ".tmp")) continue;
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                char **t = realloc(names, cap * sizeof *t);
                if (!t) break;
                names = t;
            }
            names[n++] = strdup(de->d_name);
        }
        closedir(d);
        for (size_t i = 0; i < n; i++) {
            size_t newer = 0;
            for (size_t k = 0; k < n; k++)
                if (names[i] && names[k] && strcmp(names[k], names[i]) > 0) newer++;
            if (names[i] && newer >= (size_t)(r->o->keep_checkpoints > 0 ? r->o->keep_checkpoints : 1)) {
                char *pth = pe_path_join(r->dir, names[i]);
                if (pth) enc_tr_rmtree(pth);
                free(pth);
            }
        }
        for (size_t i = 0; i < n; i++) free(names[i]);
        free(names);
    }
done:
    free(tmp);
    free(fin);
    free(latest);
    free(state);
    free(sp);
    return st;
}

static pe_status save_best(run *r, pe_error *err)
{
    char *tmp = pe_path_join(r->dir, "best.tmp"), *fin = pe_path_join(r->dir, "best"), *old = pe_path_join(r->dir, "best.old");
    char *state = state_json(r), *sp = tmp ? pe_path_join(tmp, "state.json") : NULL;
    pe_status st = PE_OK;
    if (!tmp || !fin || !old || !state || !sp) {
        st = pe_error_set(err, PE_ERR_NOMEM, "out of memory");
        goto done;
    }
    if ((st = write_folder(r, tmp, sp, state, 0, err)) != PE_OK) goto done;
    enc_tr_rmtree(old);
    if (rename(fin, old) != 0 && errno != ENOENT) {
        st = pe_error_set(err, PE_ERR_IO, "%s: cannot rename: %s", fin, strerror(errno));
        goto done;
    }
    if (rename(tmp, fin) != 0) {
        st = pe_error_set(err, PE_ERR_IO, "%s: cannot rename to %s: %s", tmp, fin, strerror(errno));
        goto done;
    }
    enc_tr_rmtree(old);
done:
    free(tmp);
    free(fin);
    free(old);
    free(state);
    free(sp);
    return st;
}

static double jnum(const cJSON *j, const char *k, double dflt)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(j, k);
    return cJSON_IsNumber(x) ? x->valuedouble : dflt;
}

/* The head's tensors are in model.safetensors; checkpoints written before
 * heads joined the model file (December 2026) keep them in head.safetensors
 * beside it, which is read when model.safetensors lacks them. */
static pe_status load_head(const char *ck, const char *p_model, const pe_objective *obj, pe_error *err)
{
    pe_status st = pe_trainer_load_tensors(p_model, obj->params, obj->n_params, err);
    if (st != PE_ERR_CORRUPT) return st;
    char *p_head = pe_path_join(ck, "head.safetensors");
    if (!p_head) return pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    if (access(p_head, F_OK) == 0) st = pe_trainer_load_tensors(p_head, obj->params, obj->n_params, err);
    free(p_head);
    return st;
}

/* Restores weights, head, optimiser and state from dir/latest. PE_NOT_FOUND
 * when there is no checkpoint. */
static pe_status restore(run *r, long *from, pe_error *err)
{
    char *latest = pe_path_join(r->dir, "latest"), *text = NULL;
    if (!latest) return pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    pe_status st = read_text(latest, &text, err);
    free(latest);
    if (st != PE_OK) return st;
    char *nl = strchr(text, '\n');
    if (nl) *nl = '\0';
    if (strncmp(text, "ckpt-", 5) != 0 || strchr(text, '/')) {
        st = pe_error_set(err, PE_ERR_CORRUPT, "%s/latest: does not name a checkpoint folder", r->dir);
        free(text);
        return st;
    }
    char *ck = pe_path_join(r->dir, text);
    free(text);
    char *p_model = ck ? pe_path_join(ck, "model.safetensors") : NULL, *p_state = ck ? pe_path_join(ck, "state.json") : NULL, *js = NULL;
    cJSON *j = NULL;
    if (!ck || !p_model || !p_state) {
        st = pe_error_set(err, PE_ERR_NOMEM, "out of memory");
        goto done;
    }
    if ((st = read_text(p_state, &js, err)) != PE_OK) {
        if (st == PE_NOT_FOUND) st = pe_error_set(err, PE_ERR_CORRUPT, "%s: missing", p_state);
        goto done;
    }
    if (!(j = cJSON_Parse(js)) || !cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(j, "step"))) {
        st = pe_error_set(err, PE_ERR_CORRUPT, "%s: not a trainer state", p_state);
        goto done;
    }
    const cJSON *obj = cJSON_GetObjectItemCaseSensitive(j, "objective");
    if (!cJSON_IsString(obj) || strcmp(obj->valuestring, r->obj->name ? r->obj->name : "") != 0) {
        st = pe_error_set(err, PE_ERR_CORRUPT, "%s: the checkpoint is of objective %s, this run is %s", p_state,
                          cJSON_IsString(obj) ? obj->valuestring : "?", r->obj->name ? r->obj->name : "?");
        goto done;
    }
    if ((st = pe_trainer_load_tensors(p_model, r->params, r->n_enc, err)) != PE_OK) goto done;
    if (r->obj->n_params > 0 && (st = load_head(ck, p_model, r->obj, err)) != PE_OK) goto done;
    if ((st = load_optim(r, ck, err)) != PE_OK) goto done;
    if (r->ema && (st = load_ema(r, ck, err)) != PE_OK) goto done;
    r->s.step = (long)jnum(j, "step", 0);
    r->s.epoch = (long)jnum(j, "epoch", 0);
    r->s.pos = (size_t)jnum(j, "pos", 0);
    r->s.best = jnum(j, "best_metric", -INFINITY);
    r->s.best_step = (long)jnum(j, "best_step", -1);
    r->s.since_best = (int)jnum(j, "evals_since_best", 0);
    pe_adamw_set_steps(r->opt, (long)jnum(j, "adamw_steps", (double)r->s.step));
    *from = r->s.step;
done:
    cJSON_Delete(j);
    free(js);
    free(ck);
    free(p_model);
    free(p_state);
    return st;
}

/* Keeps the log's lines up to `step` (a resumed run rewrites what followed
 * its checkpoint). */
static pe_status trim_log(const char *path, long step, pe_error *err)
{
    char *text = NULL;
    pe_status st = read_text(path, &text, err);
    if (st == PE_NOT_FOUND) return PE_OK;
    if (st != PE_OK) return st;
    size_t keep = 0;
    for (char *line = text; *line;) {
        char *nl = strchr(line, '\n');
        if (!nl) break; /* an unfinished last line is dropped */
        *nl = '\0';
        cJSON *j = cJSON_Parse(line);
        long s = j ? (long)jnum(j, "step", -1) : -1;
        cJSON_Delete(j);
        *nl = '\n';
        if (s < 0 || s > step) break;
        keep = (size_t)(nl + 1 - text);
        line = nl + 1;
    }
    text[keep] = '\0';
    st = write_text(path, text, err);
    free(text);
    return st;
}

static void log_line(run *r, cJSON *j)
{
    if (!r->log) return;
    char *s = cJSON_PrintUnformatted(j);
    if (s) {
        fprintf(r->log, "%s\n", s);
        fflush(r->log);
        free(s);
    }
}

static float lr_at(const pe_trainer_options *o, long warmup, long step)
{
    return o->schedule == PE_SCHEDULE_COSINE ? pe_lr_cosine_warmup(o->lr, step, warmup, o->steps, o->min_lr_ratio)
                                             : pe_lr_linear_warmup(o->lr, step, warmup, o->steps);
}

static pe_status evaluate_weights(run *r, pe_eval_result *ev, int *improved, pe_error *err);

/* Evaluates (and saves best/ from) the weights' average when there is one. */
static pe_status evaluate(run *r, pe_eval_result *ev, int *improved, pe_error *err)
{
    if (r->ema) ema_swap(r);
    pe_status st = evaluate_weights(r, ev, improved, err);
    if (r->ema) ema_swap(r);
    return st;
}

static pe_status evaluate_weights(run *r, pe_eval_result *ev, int *improved, pe_error *err)
{
    memset(ev, 0, sizeof *ev);
    pe_status st = r->obj->evaluate(r->obj->ctx, r->tr, ev, err);
    if (st != PE_OK) return st;
    *improved = ev->metric > r->s.best;
    if (*improved) {
        r->s.best = ev->metric;
        r->s.best_step = r->s.step;
        r->s.since_best = 0;
    } else {
        r->s.since_best++;
    }
    cJSON *j = cJSON_CreateObject(), *e = cJSON_CreateObject();
    if (j && e) {
        cJSON_AddNumberToObject(j, "step", (double)r->s.step);
        cJSON_AddItemToObject(j, "eval", e);
        cJSON_AddNumberToObject(e, ev->metric_name ? ev->metric_name : "metric", ev->metric);
        for (int i = 0; i < ev->n_extra && i < 8; i++) cJSON_AddNumberToObject(e, ev->extra_names[i], ev->extra[i]);
        cJSON_AddBoolToObject(e, "best", *improved);
        log_line(r, j);
    } else {
        cJSON_Delete(e);
    }
    cJSON_Delete(j);
    if (*improved) st = save_best(r, err);
    return st;
}

static pe_status check_options(const pe_train *tr, const pe_objective *obj, const pe_trainer_options *o, pe_error *err)
{
    if (!tr || !obj || !o) return pe_error_set(err, PE_ERR_INVALID, "trainer: NULL argument");
    if (!o->dir || !*o->dir) return pe_error_set(err, PE_ERR_INVALID, "trainer: no run folder");
    if (!obj->length || !obj->batch || !obj->loss || obj->n_examples == 0 || obj->n_params < 0)
        return pe_error_set(err, PE_ERR_INVALID, "trainer: the objective has no examples or lacks a callback");
    if (o->steps < 1 || o->accum < 1 || o->batch_tokens < 1 || o->batch_max_seqs < 0 || o->bucket_window < 0 ||
        !(o->lr >= 0.0f) || !isfinite(o->lr) || o->warmup < -1 || o->warmup > o->steps || !(o->clip >= 0.0f) ||
        !(o->hidden_dropout >= 0.0f && o->hidden_dropout < 1.0f) ||
        !(o->attention_dropout >= 0.0f && o->attention_dropout < 1.0f) || o->log_every < 1 ||
        o->checkpoint_every < 0 || o->eval_every < 0 || o->patience < 0 || o->keep_checkpoints < 0 || o->stop_after < 0 ||
        !(o->min_lr_ratio >= 0.0f && o->min_lr_ratio <= 1.0f) || !(o->ema >= 0.0f && o->ema < 1.0f))
        return pe_error_set(err, PE_ERR_INVALID, "trainer: an option is out of range (steps %ld, accum %d, batch_tokens %d, lr %g, warmup %ld, ema %g)",
                            o->steps, o->accum, o->batch_tokens, (double)o->lr, o->warmup, (double)o->ema);
    const int maxpos = pe_train_config(tr)->max_position;
    for (size_t i = 0; i < obj->n_examples; i++) {
        int len = obj->length(obj->ctx, i);
        if (len < 1 || len > maxpos || len > o->batch_tokens)
            return pe_error_set(err, PE_ERR_INVALID,
                                "trainer: example %zu has %d tokens (the model takes 1..%d, the batch budget is %d)", i,
                                len, maxpos, o->batch_tokens);
    }
    return PE_OK;
}

pe_status pe_trainer_run(pe_train *tr, const pe_objective *obj, const pe_trainer_options *o, pe_trainer_result *res,
                         pe_error *err)
{
    pe_status st;
    PE_TRY(st, check_options(tr, obj, o, err));
    if (res) {
        memset(res, 0, sizeof *res);
        res->resumed_from = -1;
        res->best_metric = NAN;
        res->best_step = -1;
    }
    if (mkdir(o->dir, 0777) != 0 && errno != EEXIST)
        return pe_error_set(err, PE_ERR_IO, "%s: cannot create the run folder: %s", o->dir, strerror(errno));
    run r;
    memset(&r, 0, sizeof r);
    r.tr = tr;
    r.obj = obj;
    r.o = o;
    r.s.best = -INFINITY;
    r.s.best_step = -1;
    r.dir = strdup(o->dir);
    char *lockp = pe_path_join(o->dir, "lock"), *logp = pe_path_join(o->dir, "log.jsonl");
    int lockfd = -1;
    const int C = pe_train_config(tr)->hidden;
    int32_t *ids = NULL, *types = NULL;
    int *lengths = NULL;
    float *hidden = NULL, *dh = NULL;
    if (!r.dir || !lockp || !logp) {
        st = pe_error_set(err, PE_ERR_NOMEM, "out of memory");
        goto done;
    }
    lockfd = open(lockp, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (lockfd < 0) {
        st = pe_error_set(err, PE_ERR_IO, "%s: %s", lockp, strerror(errno));
        goto done;
    }
    if (flock(lockfd, LOCK_EX | LOCK_NB) != 0) {
        st = pe_error_set(err, PE_ERR_BUSY, "%s: another training run is using this folder", o->dir);
        goto done;
    }
    /* parameters: the encoder's, then the head's */
    r.n_enc = pe_train_n_params(tr);
    r.n_params = r.n_enc + obj->n_params;
    r.params = calloc((size_t)r.n_params + 1, sizeof *r.params);
    if (!r.params) {
        st = pe_error_set(err, PE_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < r.n_enc; i++) pe_train_param_at(tr, i, &r.params[i]);
    for (int i = 0; i < obj->n_params; i++) r.params[r.n_enc + i] = obj->params[i];
    if ((st = pe_adamw_new_params(r.params, r.n_params, &o->adamw, &r.opt, err)) != PE_OK) goto done;
    if (o->ema > 0.0f && (st = ema_init(&r, err)) != PE_OK) goto done;
    /* a run killed while checkpointing leaves *.tmp folders */
    {
        DIR *d = opendir(o->dir);
        struct dirent *de;
        while (d && (de = readdir(d))) {
            size_t l = strlen(de->d_name);
            if (l > 4 && strcmp(de->d_name + l - 4, ".tmp") == 0) {
                char *p = pe_path_join(o->dir, de->d_name);
                if (p) enc_tr_rmtree(p);
                free(p);
            }
        }
        if (d) closedir(d);
    }
    long from = -1;
    st = restore(&r, &from, err);
    if (st == PE_OK && !o->resume) {
        st = pe_error_set(err, PE_ERR_INVALID, "%s: holds a checkpoint (step %ld); resume it or use another folder",
                          o->dir, from);
        goto done;
    }
    if (st == PE_NOT_FOUND) st = PE_OK;
    if (st != PE_OK) goto done;
    if ((st = trim_log(logp, from, err)) != PE_OK) goto done;
    if (from < 0) { /* a fresh run starts a fresh log */
        FILE *f = fopen(logp, "w");
        if (f) fclose(f);
    }
    r.log = fopen(logp, "a");
    if (!r.log) {
        st = pe_error_set(err, PE_ERR_IO, "%s: %s", logp, strerror(errno));
        goto done;
    }
    if (res) res->resumed_from = from;
    const long warmup = o->warmup < 0 ? o->steps / 10 : o->warmup;
    const size_t bt = (size_t)o->batch_tokens;
    ids = malloc(bt * sizeof *ids);
    types = malloc(bt * sizeof *types);
    lengths = malloc(bt * sizeof *lengths);
    hidden = malloc(bt * (size_t)C * sizeof *hidden);
    dh = malloc(bt * (size_t)C * sizeof *dh);
    if (!ids || !types || !lengths || !hidden || !dh) {
        st = pe_error_set(err, PE_ERR_NOMEM, "out of memory for a batch of %d tokens", o->batch_tokens);
        goto done;
    }
    if ((st = plan_epoch(obj, o, r.s.epoch, &r.pl, err)) != PE_OK) goto done;
    pe_train_forward_options fo = pe_train_forward_options_default();
    fo.hidden_dropout = o->hidden_dropout;
    fo.attention_dropout = o->attention_dropout;
    const double t0 = now_s();
    const long step0 = r.s.step;
    double tokens = 0.0, last_loss = NAN, gnorm = 0.0;
    int stop = 0;
    char last_ck[64] = "";
    while (r.s.step < o->steps && (o->stop_after <= 0 || r.s.step < o->stop_after) && !stop) {
        pe_params_zero_grad(r.params, r.n_params);
        double ls_all = 0.0, cnt_all = 0.0;
        for (int a = 0; a < o->accum; a++) {
            if (r.s.pos >= r.pl.n_batches) {
                r.s.epoch++;
                r.s.pos = 0;
                if ((st = plan_epoch(obj, o, r.s.epoch, &r.pl, err)) != PE_OK) goto done;
            }
            const size_t b = r.s.pos++;
            const size_t *idx = r.pl.idx + r.pl.start[b];
            const int n = (int)(r.pl.start[b + 1] - r.pl.start[b]);
            const uint64_t mseed = pe_tr_hash(o->seed, 0x6d61736bull, (uint64_t)r.s.step * 4096u + (uint64_t)a);
            if ((st = obj->batch(obj->ctx, idx, n, mseed, ids, types, lengths, err)) != PE_OK) goto done;
            int T = 0;
            for (int k = 0; k < n; k++) T += lengths[k];
            fo.seed = pe_tr_hash(o->seed, 0x64726f70ull, (uint64_t)r.s.step * 4096u + (uint64_t)a);
            fo.rows = NULL;
            fo.n_rows = 0;
            if (obj->rows) fo.n_rows = obj->rows(obj->ctx, &fo.rows);
            if ((st = pe_train_forward(tr, ids, types, lengths, n, &fo, hidden)) != PE_OK) {
                pe_error_set(err, st, "trainer: step %ld: %s", r.s.step, pe_train_errmsg(tr));
                goto done;
            }
            memset(dh, 0, (size_t)T * (size_t)C * sizeof *dh);
            double ls = 0.0, cnt = 0.0;
            if ((st = obj->loss(obj->ctx, hidden, T, 1.0f / (float)o->accum, dh, &ls, &cnt, err)) != PE_OK) goto done;
            if (!isfinite(ls)) {
                st = pe_error_set(err, PE_ERR_INVALID,
                                  "trainer: the loss is not finite at step %ld (%g); the last checkpoint is kept (%s)",
                                  r.s.step, ls, last_ck[0] ? last_ck : "none written in this call");
                goto done;
            }
            if ((st = pe_train_backward(tr, dh)) != PE_OK) {
                pe_error_set(err, st, "trainer: step %ld: %s", r.s.step, pe_train_errmsg(tr));
                goto done;
            }
            ls_all += cnt > 0 ? ls / cnt : 0.0;
            cnt_all += 1.0;
            tokens += T;
        }
        if ((st = pe_params_clip_grad_norm(r.params, r.n_params, o->clip, &gnorm, err)) != PE_OK) {
            pe_error_set(err, st, "trainer: the gradient norm is not finite at step %ld; the last checkpoint is kept (%s)",
                         r.s.step, last_ck[0] ? last_ck : "none written in this call");
            goto done;
        }
        const float lr = lr_at(o, warmup, r.s.step);
        if ((st = pe_adamw_step(r.opt, lr)) != PE_OK) {
            pe_error_set(err, st, "trainer: %s", pe_adamw_errmsg(r.opt));
            goto done;
        }
        r.s.step++;
        if (r.ema) ema_update(&r, r.s.step);
        last_loss = ls_all / (cnt_all > 0 ? cnt_all : 1.0);
        const double el = now_s() - t0;
        pe_eval_result ev;
        int did_eval = 0;
        if (obj->evaluate && ((o->eval_every > 0 && r.s.step % o->eval_every == 0) || r.s.step == o->steps)) {
            int improved;
            if ((st = evaluate(&r, &ev, &improved, err)) != PE_OK) goto done;
            did_eval = 1;
            if (o->patience > 0 && r.s.since_best >= o->patience) {
                stop = 1;
                if (res) res->stopped_early = 1;
            }
        }
        if (r.s.step % o->log_every == 0 || r.s.step == o->steps || did_eval || stop) {
            cJSON *j = cJSON_CreateObject();
            if (j) {
                cJSON_AddNumberToObject(j, "step", (double)r.s.step);
                cJSON_AddNumberToObject(j, "epoch", (double)r.s.epoch);
                cJSON_AddNumberToObject(j, "loss", last_loss);
                cJSON_AddNumberToObject(j, "lr", (double)lr);
                cJSON_AddNumberToObject(j, "grad_norm", gnorm);
                cJSON_AddNumberToObject(j, "tokens", tokens);
                cJSON_AddNumberToObject(j, "tokens_per_s", el > 0 ? tokens / el : 0.0);
                log_line(&r, j);
                cJSON_Delete(j);
            }
            if (o->progress) {
                pe_trainer_progress p = {.step = r.s.step,
                                         .steps = o->steps,
                                         .epoch = r.s.epoch,
                                         .loss = last_loss,
                                         .lr = lr,
                                         .grad_norm = gnorm,
                                         .tokens_per_s = el > 0 ? tokens / el : 0.0,
                                         .elapsed_s = el,
                                         .eta_s = r.s.step > step0 ? el / (double)(r.s.step - step0) *
                                                                         (double)(o->steps - r.s.step)
                                                                   : 0.0,
                                         .eval = did_eval ? &ev : NULL};
                o->progress(&p, o->progress_user);
            }
        }
        if ((o->checkpoint_every > 0 && r.s.step % o->checkpoint_every == 0) || r.s.step == o->steps || stop ||
            r.s.step == o->stop_after)
            if ((st = checkpoint(&r, last_ck, err)) != PE_OK) goto done;
    }
    if (res) {
        res->steps = r.s.step;
        res->last_loss = last_loss;
        res->best_metric = isfinite(r.s.best) ? r.s.best : NAN;
        res->best_step = r.s.best_step;
        snprintf(res->last_checkpoint, sizeof res->last_checkpoint, "%s", last_ck);
    }
done:
    if (r.log) fclose(r.log);
    plan_free(&r.pl);
    pe_adamw_free(r.opt);
    free(r.ema);
    free(r.ema_arena);
    free(r.ema_names);
    free(r.params);
    free(r.dir);
    free(ids);
    free(types);
    free(lengths);
    free(hidden);
    free(dh);
    if (lockfd >= 0) close(lockfd);
    free(lockp);
    free(logp);
    return st;
}
