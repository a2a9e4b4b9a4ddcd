/* mlm.c - the masked-language-model head (BertForMaskedLM's
 * cls.predictions, decoder tied to the word embeddings), BERT's masking and
 * the MLM objective over token shards. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "pe_trainer.h"
#include "train_internal.h"
#include "train_ops.h"
#include "trainer_internal.h"

struct pe_mlm_head {
    pe_train *tr; /* borrowed */
    int C, V;
    float eps;
    float *params, *grads; /* one allocation each, in the order of tab */
    float *W, *b, *ln_g, *ln_b, *bias;     /* (C,C) (C) (C) (C) (V) */
    float *dW, *db, *dln_g, *dln_b, *dbias;
    pe_train_param tab[5];
    /* scratch, grown */
    int cap_m;
    int32_t *rows;        /* (M) token index of each prediction */
    int32_t *lab;         /* (M) */
    float *x, *u, *g, *t; /* (M, C) */
    float *xhat, *rstd;   /* (M, C), (M) */
    float *logits;        /* (M, V) */
    float *dt, *dx;       /* (M, C) */
    double *row_loss;     /* (M) */
    unsigned char *row_ok; /* (M) argmax == label */
};

static const char *const head_names[5] = {
    "cls.predictions.transform.dense.weight", "cls.predictions.transform.dense.bias",
    "cls.predictions.transform.LayerNorm.weight", "cls.predictions.transform.LayerNorm.bias",
    "cls.predictions.bias"};

pe_status pe_mlm_head_new(pe_train *tr, uint64_t seed, pe_mlm_head **out, pe_error *err)
{
    if (!out) return pe_error_set(err, PE_ERR_INVALID, "mlm head: NULL output");
    *out = NULL;
    if (!tr) return pe_error_set(err, PE_ERR_INVALID, "mlm head: NULL model");
    const pe_encoder_config *cfg = pe_train_config(tr);
    pe_mlm_head *h = calloc(1, sizeof *h);
    if (!h) return pe_error_set(err, PE_ERR_NOMEM, "mlm head: out of memory");
    h->tr = tr;
    h->C = cfg->hidden;
    h->V = cfg->vocab_size;
    h->eps = cfg->layer_norm_eps;
    const size_t C = (size_t)h->C, V = (size_t)h->V, n = C * C + 3 * C + V;
    h->params = calloc(n, sizeof *h->params);
    h->grads = calloc(n, sizeof *h->grads);
    if (!h->params || !h->grads) {
        pe_mlm_head_free(h);
        return pe_error_set(err, PE_ERR_NOMEM, "mlm head: out of memory");
    }
    h->W = h->params;
    h->b = h->W + C * C;
    h->ln_g = h->b + C;
    h->ln_b = h->ln_g + C;
    h->bias = h->ln_b + C;
    h->dW = h->grads;
    h->db = h->dW + C * C;
    h->dln_g = h->db + C;
    h->dln_b = h->dln_g + C;
    h->dbias = h->dln_b + C;
    enc_tr_normal_fill(h->W, C * C, 0.02f, seed, 0x6d6c6d);
    for (size_t i = 0; i < C; i++) h->ln_g[i] = 1.0f;
    float *d[5] = {h->W, h->b, h->ln_g, h->ln_b, h->bias}, *gd[5] = {h->dW, h->db, h->dln_g, h->dln_b, h->dbias};
    const int64_t rows[5] = {(int64_t)C, (int64_t)C, (int64_t)C, (int64_t)C, (int64_t)V};
    for (int i = 0; i < 5; i++) {
        h->tab[i] = (pe_train_param){.name = head_names[i],
                                     .ndim = i == 0 ? 2 : 1,
                                     .shape = {rows[i], i == 0 ? (int64_t)C : 0},
                                     .numel = i == 0 ? (int64_t)(C * C) : rows[i],
                                     .data = d[i],
                                     .grad = gd[i],
                                     .decay = i == 0};
    }
    *out = h;
    return PE_OK;
}

static void free_scratch(pe_mlm_head *h)
{
    free(h->rows);
    free(h->lab);
    free(h->x);
    free(h->u);
    free(h->g);
    free(h->t);
    free(h->xhat);
    free(h->rstd);
    free(h->logits);
    free(h->dt);
    free(h->dx);
    free(h->row_loss);
    free(h->row_ok);
}

void pe_mlm_head_free(pe_mlm_head *h)
{
    if (!h) return;
    free_scratch(h);
    free(h->params);
    free(h->grads);
    free(h);
}

const pe_train_param *pe_mlm_head_params(const pe_mlm_head *h, int *n)
{
    if (n) *n = 5;
    return h->tab;
}

static int reserve(pe_mlm_head *h, int M)
{
    if (M <= h->cap_m) return 0;
    int cap = M + M / 4 + 16;
    free_scratch(h);
    const size_t C = (size_t)h->C, V = (size_t)h->V, m = (size_t)cap;
    h->rows = malloc(m * sizeof *h->rows);
    h->lab = malloc(m * sizeof *h->lab);
    h->x = malloc(m * C * sizeof(float));
    h->u = malloc(m * C * sizeof(float));
    h->g = malloc(m * C * sizeof(float));
    h->t = malloc(m * C * sizeof(float));
    h->xhat = malloc(m * C * sizeof(float));
    h->rstd = malloc(m * sizeof(float));
    h->logits = malloc(m * V * sizeof(float));
    h->dt = malloc(m * C * sizeof(float));
    h->dx = malloc(m * C * sizeof(float));
    h->row_loss = malloc(m * sizeof(double));
    h->row_ok = malloc(m);
    if (!h->rows || !h->lab || !h->x || !h->u || !h->g || !h->t || !h->xhat || !h->rstd || !h->logits || !h->dt ||
        !h->dx || !h->row_loss || !h->row_ok) {
        free_scratch(h);
        memset(&h->rows, 0, (size_t)((char *)(&h->row_ok + 1) - (char *)&h->rows));
        h->cap_m = 0;
        return -1;
    }
    h->cap_m = cap;
    return 0;
}

/* Softmax cross-entropy per row; with grad, logits become
 * scale * (softmax - onehot) / M. */
typedef struct ce_job {
    pe_mlm_head *h;
    int M, grad;
    float gscale;
} ce_job;

#define CE_ROWS 16

static void ce_task(void *ctx, int task, int tid)
{
    (void)tid;
    ce_job *j = ctx;
    pe_mlm_head *h = j->h;
    const int V = h->V;
    const int r0 = task * CE_ROWS, r1 = r0 + CE_ROWS < j->M ? r0 + CE_ROWS : j->M;
    for (int r = r0; r < r1; r++) {
        float *z = h->logits + (size_t)r * V;
#if PE_KERNELS_X86
        const pe_kernels_isa isa = enc_kernels_active();
        if (isa == PE_KERNELS_AVX512 || isa == PE_KERNELS_AVX2) { /* one vector pass less, exp in f32 */
            int arg;
            h->row_loss[r] = isa == PE_KERNELS_AVX512 ? enc_k512_ce_row(z, V, h->lab[r], j->gscale, j->grad, &arg)
                                                      : enc_k256_ce_row(z, V, h->lab[r], j->gscale, j->grad, &arg);
            h->row_ok[r] = arg == h->lab[r];
            continue;
        }
#endif
        float mx = z[0];
        int arg = 0;
        for (int v = 1; v < V; v++)
            if (z[v] > mx) {
                mx = z[v];
                arg = v;
            }
        double s = 0.0;
        for (int v = 0; v < V; v++) s += exp((double)(z[v] - mx));
        const double lse = (double)mx + log(s);
        const int y = h->lab[r];
        h->row_loss[r] = lse - (double)z[y];
        h->row_ok[r] = arg == y;
        if (j->grad) {
            const float inv = (float)(1.0 / s);
            for (int v = 0; v < V; v++) z[v] = j->gscale * expf(z[v] - mx) * inv;
            z[y] -= j->gscale;
        }
    }
}

pe_status pe_mlm_head_loss(pe_mlm_head *h, const float *hidden, const int32_t *labels, int n_tokens, float scale,
                           float *d_hidden, double *loss_sum, double *count, double *correct, pe_error *err)
{
    if (!h || !hidden || !labels || n_tokens < 0) return pe_error_set(err, PE_ERR_INVALID, "mlm loss: NULL argument");
    int M = 0;
    for (int i = 0; i < n_tokens; i++) {
        if (labels[i] >= h->V) return pe_error_set(err, PE_ERR_INVALID, "mlm loss: label %d of token %d is outside the vocabulary (%d)", labels[i], i, h->V);
        if (labels[i] >= 0) M++;
    }
    if (loss_sum) *loss_sum = 0.0;
    if (count) *count = M;
    if (correct) *correct = 0.0;
    if (M == 0) return PE_OK;
    if (reserve(h, M) < 0) return pe_error_set(err, PE_ERR_NOMEM, "mlm loss: out of memory for %d predictions", M);
    const int C = h->C, V = h->V;
    int m = 0;
    for (int i = 0; i < n_tokens; i++)
        if (labels[i] >= 0) {
            h->rows[m] = i;
            h->lab[m] = labels[i];
            memcpy(h->x + (size_t)m * C, hidden + (size_t)i * C, (size_t)C * sizeof(float));
            m++;
        }
    pe_train_param word;
    pe_train_param_find(h->tr, "embeddings.word_embeddings.weight", &word);
    enc_tr_linear_gelu_fwd(h->x, h->W, h->b, h->u, h->g, M, C, C);
    enc_tr_layernorm_fwd(h->g, h->ln_g, h->ln_b, h->t, h->xhat, h->rstd, M, C, h->eps);
    enc_tr_linear_fwd(h->t, word.data, h->bias, h->logits, M, V, C);
    ce_job j = {.h = h, .M = M, .grad = d_hidden != NULL, .gscale = scale / (float)M};
    enc_kernels_parallel((M + CE_ROWS - 1) / CE_ROWS, ce_task, &j);
    double ls = 0.0, ok = 0.0;
    for (int r = 0; r < M; r++) {
        ls += h->row_loss[r];
        ok += h->row_ok[r];
    }
    if (loss_sum) *loss_sum = ls;
    if (correct) *correct = ok;
    if (!d_hidden) return PE_OK;
    /* logits now hold dLogits */
    enc_tr_linear_bwd(h->t, word.data, h->logits, h->dt, 0.0f, word.grad, h->dbias, M, V, C);
    enc_tr_layernorm_bwd(h->dt, h->xhat, h->rstd, h->ln_g, h->dt, h->dln_g, h->dln_b, M, C);
    enc_tr_gelu_bwd(h->u, h->dt, h->dt, (size_t)M * C);
    enc_tr_linear_bwd(h->x, h->W, h->dt, h->dx, 0.0f, h->dW, h->db, M, C, C);
    for (int r = 0; r < M; r++) {
        float *dst = d_hidden + (size_t)h->rows[r] * C;
        const float *src = h->dx + (size_t)r * C;
        for (int c = 0; c < C; c++) dst[c] += src[c];
    }
    return PE_OK;
}

/* ---- masking ---- */

pe_mlm_mask_options pe_mlm_mask_options_default(void)
{
    pe_mlm_mask_options o = {.mask_prob = 0.15f, .whole_word = 0, .mask_id = 4, .n_special = 5, .vocab_size = 0,
                             .is_continuation = NULL};
    return o;
}

void pe_mlm_mask(const int32_t *ids, int n, const pe_mlm_mask_options *o, uint64_t seed, int32_t *masked,
                 int32_t *labels)
{
    int chosen_word = 0;
    for (int i = 0; i < n; i++) {
        const int32_t id = ids[i];
        masked[i] = id;
        labels[i] = -100;
        if (id < o->n_special) {
            chosen_word = 0;
            continue;
        }
        int chosen;
        const int cont = o->whole_word && o->is_continuation && id < o->vocab_size && o->is_continuation[id] && i > 0 &&
                         ids[i - 1] >= o->n_special;
        if (cont) chosen = chosen_word;
        else chosen = pe_tr_uniform(seed, 1, (uint64_t)i) < o->mask_prob;
        chosen_word = chosen;
        if (!chosen) continue;
        labels[i] = id;
        const double r = pe_tr_uniform(seed, 2, (uint64_t)i);
        if (r < 0.8) {
            masked[i] = o->mask_id;
        } else if (r < 0.9) {
            const uint64_t span = (uint64_t)(o->vocab_size - o->n_special);
            masked[i] = o->n_special + (int32_t)(pe_tr_hash(seed, 3, (uint64_t)i) % (span ? span : 1));
        }
    }
}

/* ---- the objective ---- */

struct pe_mlm_objective {
    pe_objective obj;
    pe_mlm_head *head;
    const pe_token_shard *train, *dev;
    int max_dev;
    int case_types; /* the encoder's types are the shards' case types */
    pe_mlm_mask_options mask;
    int32_t *labels; /* (cap) of the last batch */
    int32_t *raw;    /* (cap) */
    int32_t *rows;   /* (cap) the tokens with a label, in order */
    int n_rows;
    size_t cap;
};

static int mlm_length(void *ctx, size_t i)
{
    pe_mlm_objective *m = ctx;
    int len = 0;
    pe_token_shard_seq(m->train, i, &len);
    return len;
}

static int grow(pe_mlm_objective *m, size_t T)
{
    if (T <= m->cap) return 0;
    size_t cap = T + T / 2;
    int32_t *a = realloc(m->labels, cap * sizeof *a);
    if (!a) return -1;
    m->labels = a;
    a = realloc(m->raw, cap * sizeof *a);
    if (!a) return -1;
    m->raw = a;
    a = realloc(m->rows, cap * sizeof *a);
    if (!a) return -1;
    m->rows = a;
    m->cap = cap;
    return 0;
}

static pe_status pack(pe_mlm_objective *m, const pe_token_shard *s, const size_t *idx, int n, uint64_t seed,
                      int32_t *ids, int32_t *types, int *lengths, int *T_out, pe_error *err)
{
    size_t T = 0;
    for (int k = 0; k < n; k++) {
        int len;
        pe_token_shard_seq(s, idx[k], &len);
        T += (size_t)len;
    }
    if (grow(m, T) < 0) return pe_error_set(err, PE_ERR_NOMEM, "mlm: out of memory");
    size_t t = 0;
    for (int k = 0; k < n; k++) {
        int len;
        const uint16_t *q = pe_token_shard_seq(s, idx[k], &len);
        const uint8_t *ty = m->case_types ? pe_token_shard_types(s, idx[k]) : NULL;
        for (int i = 0; i < len; i++) m->raw[t + (size_t)i] = q[i];
        if (types)
            for (int i = 0; i < len; i++) types[t + (size_t)i] = ty ? ty[i] : 0;
        lengths[k] = len;
        t += (size_t)len;
    }
    pe_mlm_mask(m->raw, (int)T, &m->mask, seed, ids, m->labels);
    m->n_rows = 0;
    for (size_t i = 0; i < T; i++)
        if (m->labels[i] >= 0) m->rows[m->n_rows++] = (int32_t)i;
    *T_out = (int)T;
    return PE_OK;
}

static pe_status mlm_batch(void *ctx, const size_t *idx, int n, uint64_t seed, int32_t *ids, int32_t *types,
                           int *lengths, pe_error *err)
{
    pe_mlm_objective *m = ctx;
    int T;
    return pack(m, m->train, idx, n, seed, ids, types, lengths, &T, err);
}

/* Only the masked tokens' hidden states are read (pe_mlm_head_loss). */
static int mlm_rows(void *ctx, const int32_t **rows)
{
    pe_mlm_objective *m = ctx;
    *rows = m->rows;
    return m->n_rows;
}

static pe_status mlm_loss(void *ctx, const float *hidden, int n_tokens, float scale, float *d_hidden,
                          double *loss_sum, double *count, pe_error *err)
{
    pe_mlm_objective *m = ctx;
    return pe_mlm_head_loss(m->head, hidden, m->labels, n_tokens, scale, d_hidden, loss_sum, count, NULL, err);
}

static pe_status mlm_evaluate(void *ctx, pe_train *tr, pe_eval_result *out, pe_error *err)
{
    pe_mlm_objective *m = ctx;
    const size_t n = pe_token_shard_count(m->dev) < (size_t)m->max_dev ? pe_token_shard_count(m->dev)
                                                                        : (size_t)m->max_dev;
    const int C = pe_train_config(tr)->hidden, budget = 4096;
    int32_t *ids = malloc((size_t)budget * sizeof *ids);
    int32_t *types = malloc((size_t)budget * sizeof *types);
    int *lengths = malloc((size_t)budget * sizeof *lengths);
    size_t *idx = malloc((size_t)budget * sizeof *idx);
    float *hidden = malloc((size_t)budget * (size_t)C * sizeof *hidden);
    pe_status st = PE_OK;
    double ls = 0.0, cnt = 0.0, ok = 0.0;
    if (!ids || !types || !lengths || !idx || !hidden) st = pe_error_set(err, PE_ERR_NOMEM, "mlm eval: out of memory");
    size_t i = 0;
    uint64_t b = 0;
    while (st == PE_OK && i < n) {
        int k = 0, T = 0;
        while (i < n) {
            int len;
            pe_token_shard_seq(m->dev, i, &len);
            if (k > 0 && T + len > budget) break;
            if (len > budget) {
                i++;
                continue;
            }
            idx[k++] = i++;
            T += len;
        }
        if (k == 0) break;
        int TT;
        if ((st = pack(m, m->dev, idx, k, 0x5eed0000u + b++, ids, types, lengths, &TT, err)) != PE_OK) break;
        pe_train_forward_options fo = pe_train_forward_options_default();
        fo.rows = m->rows;
        fo.n_rows = m->n_rows;
        if ((st = pe_train_forward(tr, ids, types, lengths, k, &fo, hidden)) != PE_OK) {
            pe_error_set(err, st, "mlm eval: %s", pe_train_errmsg(tr));
            break;
        }
        double l, c, o;
        if ((st = pe_mlm_head_loss(m->head, hidden, m->labels, TT, 1.0f, NULL, &l, &c, &o, err)) != PE_OK) break;
        ls += l;
        cnt += c;
        ok += o;
    }
    free(ids);
    free(types);
    free(lengths);
    free(idx);
    free(hidden);
    if (st != PE_OK) return st;
    const double loss = cnt > 0 ? ls / cnt : 0.0;
    out->metric_name = "neg_loss";
    out->metric = -loss;
    out->n_extra = 4;
    out->extra_names[0] = "loss";
    out->extra[0] = loss;
    out->extra_names[1] = "perplexity";
    out->extra[1] = exp(loss);
    out->extra_names[2] = "accuracy";
    out->extra[2] = cnt > 0 ? ok / cnt : 0.0;
    out->extra_names[3] = "predictions";
    out->extra[3] = cnt;
    return PE_OK;
}

pe_status pe_mlm_objective_new(pe_mlm_head *head, const pe_token_shard *train, const pe_token_shard *dev,
                               int max_dev_seqs, const pe_mlm_mask_options *mask, pe_mlm_objective **out,
                               pe_error *err)
{
    if (!out) return pe_error_set(err, PE_ERR_INVALID, "mlm objective: NULL output");
    *out = NULL;
    if (!head || !train || !mask) return pe_error_set(err, PE_ERR_INVALID, "mlm objective: NULL argument");
    if (pe_token_shard_vocab_size(train) > (uint32_t)head->V || (dev && pe_token_shard_vocab_size(dev) > (uint32_t)head->V))
        return pe_error_set(err, PE_ERR_INVALID, "mlm objective: the shard's vocabulary (%u) is larger than the model's (%d)",
                            pe_token_shard_vocab_size(train), head->V);
    if (!(mask->mask_prob > 0.0f && mask->mask_prob < 1.0f) || mask->vocab_size <= mask->n_special ||
        mask->vocab_size > head->V || mask->mask_id < 0 || mask->mask_id >= head->V ||
        (mask->whole_word && !mask->is_continuation))
        return pe_error_set(err, PE_ERR_INVALID, "mlm objective: bad masking options (p %g, vocabulary %d, [MASK] %d)",
                            (double)mask->mask_prob, mask->vocab_size, mask->mask_id);
    const int case_types = pe_train_config(head->tr)->case_types;
    const pe_token_shard *shards[2] = {train, dev};
    for (int k = 0; k < 2 && case_types; k++)
        if (shards[k] && pe_token_shard_count(shards[k]) > 0 && !pe_token_shard_types(shards[k], 0))
            return pe_error_set(err, PE_ERR_INVALID,
                                "mlm objective: the encoder reads case types and %s has none (a PESHARD1 file: remove "
                                "it to tokenise the corpus again)",
                                pe_token_shard_path(shards[k]));
    pe_mlm_objective *m = calloc(1, sizeof *m);
    if (!m) return pe_error_set(err, PE_ERR_NOMEM, "mlm objective: out of memory");
    m->head = head;
    m->case_types = case_types;
    m->train = train;
    m->dev = dev;
    m->max_dev = max_dev_seqs > 0 ? max_dev_seqs : 1 << 30;
    m->mask = *mask;
    m->obj.name = "mlm";
    m->obj.ctx = m;
    m->obj.params = pe_mlm_head_params(head, &m->obj.n_params);
    m->obj.n_examples = pe_token_shard_count(train);
    m->obj.length = mlm_length;
    m->obj.batch = mlm_batch;
    m->obj.loss = mlm_loss;
    m->obj.rows = mlm_rows;
    m->obj.evaluate = dev ? mlm_evaluate : NULL;
    *out = m;
    return PE_OK;
}

const pe_objective *pe_mlm_objective_get(pe_mlm_objective *m)
{
    return &m->obj;
}

void pe_mlm_objective_free(pe_mlm_objective *m)
{
    if (!m) return;
    free(m->labels);
    free(m->raw);
    free(m->rows);
    free(m);
}
