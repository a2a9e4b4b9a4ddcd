/* train_model.c - the trainable encoder: parameters (one allocation, named
 * views), the training forward with dropout that keeps its activations,
 * and the backward pass to every parameter's gradient. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"
#include "train_internal.h"
#include "train_ops.h"

/* ---- parameters ---- */

/* Points w at base with the parameter layout of the header; returns the
 * floats it spans. Called with base NULL to count. */
static size_t bind_layout(const pe_encoder_config *g, float *base, pe_tr_weights *w)
{
    const size_t C = (size_t)g->hidden, I = (size_t)g->intermediate;
    size_t off = 0;
#define TAKE(dst, count) ((dst) = base ? base + off : NULL, off += (count))
    TAKE(w->word, (size_t)g->vocab_size * C);
    TAKE(w->pos, (size_t)g->max_position * C);
    TAKE(w->type, (size_t)g->type_vocab * C);
    TAKE(w->ln_g, C);
    TAKE(w->ln_b, C);
    for (int l = 0; l < g->layers; l++) {
        pe_tr_layer dummy, *L = w->layer ? &w->layer[l] : &dummy;
        TAKE(L->qkv_w, 3 * C * C);
        TAKE(L->qkv_b, 3 * C);
        TAKE(L->ao_w, C * C);
        TAKE(L->ao_b, C);
        TAKE(L->ln1_g, C);
        TAKE(L->ln1_b, C);
        TAKE(L->fi_w, I * C);
        TAKE(L->fi_b, I);
        TAKE(L->fo_w, C * I);
        TAKE(L->fo_b, C);
        TAKE(L->ln2_g, C);
        TAKE(L->ln2_b, C);
    }
#undef TAKE
    return off;
}

#define NAME_MAX_LEN 64

static void add_param(pe_train *tr, const char *name, float *data, int64_t rows, int64_t cols)
{
    pe_train_param *p = &tr->tab[tr->n_tab];
    char *nm = tr->names + (size_t)tr->n_tab * NAME_MAX_LEN;
    snprintf(nm, NAME_MAX_LEN, "%s", name);
    p->name = nm;
    p->ndim = cols ? 2 : 1;
    p->shape[0] = rows;
    p->shape[1] = cols;
    p->numel = rows * (cols ? cols : 1);
    p->data = data;
    p->grad = tr->grads + (data - tr->params);
    /* HF's no_decay list: "bias", "LayerNorm.weight" */
    size_t n = strlen(nm);
    p->decay = !(n >= 4 && strcmp(nm + n - 4, "bias") == 0) && !strstr(nm, "LayerNorm.weight");
    tr->n_tab++;
}

static void build_table(pe_train *tr)
{
    const pe_encoder_config *g = &tr->cfg;
    const int64_t C = g->hidden, I = g->intermediate;
    const pe_tr_weights *w = &tr->w;
    char nm[NAME_MAX_LEN];
    tr->n_tab = 0;
    add_param(tr, "embeddings.word_embeddings.weight", w->word, g->vocab_size, C);
    add_param(tr, "embeddings.position_embeddings.weight", w->pos, g->max_position, C);
    add_param(tr, "embeddings.token_type_embeddings.weight", w->type, g->type_vocab, C);
    add_param(tr, "embeddings.LayerNorm.weight", w->ln_g, C, 0);
    add_param(tr, "embeddings.LayerNorm.bias", w->ln_b, C, 0);
    static const char *const qkv[3] = {"query", "key", "value"};
    for (int l = 0; l < g->layers; l++) {
        const pe_tr_layer *L = &w->layer[l];
        for (int k = 0; k < 3; k++) {
            snprintf(nm, sizeof nm, "encoder.layer.%d.attention.self.%s.weight", l, qkv[k]);
            add_param(tr, nm, L->qkv_w + (size_t)k * C * C, C, C);
            snprintf(nm, sizeof nm, "encoder.layer.%d.attention.self.%s.bias", l, qkv[k]);
            add_param(tr, nm, L->qkv_b + (size_t)k * C, C, 0);
        }
#define P(suffix, ptr, r, c) (snprintf(nm, sizeof nm, "encoder.layer.%d." suffix, l), add_param(tr, nm, ptr, r, c))
        P("attention.output.dense.weight", L->ao_w, C, C);
        P("attention.output.dense.bias", L->ao_b, C, 0);
        P("attention.output.LayerNorm.weight", L->ln1_g, C, 0);
        P("attention.output.LayerNorm.bias", L->ln1_b, C, 0);
        P("intermediate.dense.weight", L->fi_w, I, C);
        P("intermediate.dense.bias", L->fi_b, I, 0);
        P("output.dense.weight", L->fo_w, C, I);
        P("output.dense.bias", L->fo_b, C, 0);
        P("output.LayerNorm.weight", L->ln2_g, C, 0);
        P("output.LayerNorm.bias", L->ln2_b, C, 0);
#undef P
    }
}

static pe_status check_config(const pe_encoder_config *g, pe_error *err)
{
    if (g->vocab_size < 1 || g->hidden < 1 || g->layers < 0 || g->heads < 1 || g->intermediate < 1 ||
        g->max_position < 1 || g->type_vocab < 1 || g->hidden % g->heads != 0 || g->layers > 1024 ||
        !(g->layer_norm_eps > 0.0f))
        return pe_error_set(err, PE_ERR_INVALID,
                            "train: bad config (vocab %d, hidden %d, layers %d, heads %d, intermediate %d, "
                            "positions %d, types %d)",
                            g->vocab_size, g->hidden, g->layers, g->heads, g->intermediate, g->max_position,
                            g->type_vocab);
    if (g->case_types && g->type_vocab < PE_N_CASES)
        return pe_error_set(err, PE_ERR_INVALID, "train: case types need %d token types (the config has %d)", PE_N_CASES,
                            g->type_vocab);
    /* every tensor and the whole set below 2^40 floats */
    double total = ((double)g->vocab_size + g->max_position + g->type_vocab) * g->hidden +
                   (double)g->layers * (4.0 * g->hidden * g->hidden + 2.0 * g->hidden * g->intermediate);
    if (total > 1099511627776.0) return pe_error_set(err, PE_ERR_LIMIT, "train: %.0f parameters", total);
    return PE_OK;
}

/* A handle with zeroed parameters and gradients of architecture cfg. */
static pe_status alloc_train(const pe_encoder_config *cfg, int pooler, pe_train **out, pe_error *err)
{
    pe_status st;
    *out = NULL;
    PE_TRY(st, check_config(cfg, err));
    pe_train *tr = calloc(1, sizeof *tr);
    if (!tr) return pe_error_set(err, PE_ERR_NOMEM, "train: out of memory");
    tr->cfg = *cfg;
    tr->cfg.has_pooler = pooler;
    pe_tr_weights probe = {0};
    tr->n = bind_layout(cfg, NULL, &probe);
    tr->w.layer = calloc((size_t)cfg->layers + 1, sizeof *tr->w.layer);
    tr->g.layer = calloc((size_t)cfg->layers + 1, sizeof *tr->g.layer);
    tr->params = calloc(tr->n, sizeof *tr->params);
    tr->grads = calloc(tr->n, sizeof *tr->grads);
    const int n_tab = 5 + 16 * cfg->layers;
    tr->tab = calloc((size_t)n_tab, sizeof *tr->tab);
    tr->names = calloc((size_t)n_tab, NAME_MAX_LEN);
    if (pooler) {
        tr->pooler_w = calloc((size_t)cfg->hidden * cfg->hidden, sizeof *tr->pooler_w);
        tr->pooler_b = calloc((size_t)cfg->hidden, sizeof *tr->pooler_b);
    }
    if (!tr->w.layer || !tr->g.layer || !tr->params || !tr->grads || !tr->tab || !tr->names ||
        (pooler && (!tr->pooler_w || !tr->pooler_b))) {
        pe_train_free(tr);
        return pe_error_set(err, PE_ERR_NOMEM, "train: out of memory for %zu parameters", tr->n);
    }
    bind_layout(cfg, tr->params, &tr->w);
    bind_layout(cfg, tr->grads, &tr->g);
    build_table(tr);
    *out = tr;
    return PE_OK;
}

static pe_status from_encoder(const pe_encoder *enc, int case_types, pe_train **out, pe_error *err)
{
    if (!out) return pe_error_set(err, PE_ERR_INVALID, "train: NULL output");
    *out = NULL;
    if (!enc) return pe_error_set(err, PE_ERR_INVALID, "train: NULL encoder");
    const pe_encoder_config *g = &enc->cfg;
    pe_encoder_config gc = *g; /* the copy's architecture */
    if (case_types && !g->case_types) {
        gc.case_types = 1;
        if (gc.type_vocab < PE_N_CASES) gc.type_vocab = PE_N_CASES;
    }
    pe_train *tr;
    pe_status st;
    PE_TRY(st, alloc_train(&gc, g->has_pooler && enc->w.pooler_w && enc->w.pooler_b, &tr, err));
    const size_t C = (size_t)g->hidden, I = (size_t)g->intermediate;
    const pe_encoder_weights *s = &enc->w;
    pe_tr_weights *d = &tr->w;
#define CP(dst, src, count) memcpy(dst, src, (count) * sizeof(float))
    CP(d->word, s->word_emb, (size_t)g->vocab_size * C);
    CP(d->pos, s->pos_emb, (size_t)g->max_position * C);
    CP(d->type, s->type_emb, (size_t)g->type_vocab * C);
    for (int y = g->type_vocab; y < gc.type_vocab; y++) CP(d->type + (size_t)y * C, s->type_emb, C); /* new: row 0 */
    CP(d->ln_g, s->emb_ln_g, C);
    CP(d->ln_b, s->emb_ln_b, C);
    for (int l = 0; l < g->layers; l++) {
        const pe_encoder_layer_weights *a = &s->layer[l];
        pe_tr_layer *b = &d->layer[l];
        CP(b->qkv_w, a->qkv_w, 3 * C * C);
        CP(b->qkv_b, a->qkv_b, 3 * C);
        CP(b->ao_w, a->attn_out_w, C * C);
        CP(b->ao_b, a->attn_out_b, C);
        CP(b->ln1_g, a->ln1_g, C);
        CP(b->ln1_b, a->ln1_b, C);
        CP(b->fi_w, a->ffn_in_w, I * C);
        CP(b->fi_b, a->ffn_in_b, I);
        CP(b->fo_w, a->ffn_out_w, C * I);
        CP(b->fo_b, a->ffn_out_b, C);
        CP(b->ln2_g, a->ln2_g, C);
        CP(b->ln2_b, a->ln2_b, C);
    }
    if (tr->pooler_w) {
        CP(tr->pooler_w, s->pooler_w, C * C);
        CP(tr->pooler_b, s->pooler_b, C);
    }
#undef CP
    *out = tr;
    return PE_OK;
}

pe_status pe_train_new_from_encoder(const pe_encoder *enc, pe_train **out, pe_error *err)
{
    return from_encoder(enc, 0, out, err);
}

pe_status pe_train_new_from_encoder_case_types(const pe_encoder *enc, pe_train **out, pe_error *err)
{
    return from_encoder(enc, 1, out, err);
}

/* splitmix64 + Box-Muller: reproducible N(0, 1) draws for the initialiser. */
uint64_t enc_tr_splitmix64(uint64_t *s)
{
    uint64_t z = pe_mix64(*s);
    *s += 0x9E3779B97F4A7C15ull;
    return z;
}

static double next_normal(uint64_t *s)
{
    double u1 = ((double)(enc_tr_splitmix64(s) >> 11) + 1.0) / 9007199254740993.0; /* (0, 1] */
    double u2 = (double)(enc_tr_splitmix64(s) >> 11) / 9007199254740992.0;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

pe_status pe_train_new_random(const pe_encoder_config *cfg, uint64_t seed, pe_train **out, pe_error *err)
{
    if (!out) return pe_error_set(err, PE_ERR_INVALID, "train: NULL output");
    *out = NULL;
    if (!cfg) return pe_error_set(err, PE_ERR_INVALID, "train: NULL config");
    pe_train *tr;
    pe_status st;
    PE_TRY(st, alloc_train(cfg, 0, &tr, err));
    uint64_t s = seed;
    for (int i = 0; i < tr->n_tab; i++) {
        pe_train_param *p = &tr->tab[i];
        if (strstr(p->name, "LayerNorm.weight")) {
            for (int64_t j = 0; j < p->numel; j++) p->data[j] = 1.0f;
        } else if (p->ndim == 2) { /* weights and embeddings; biases stay 0 */
            for (int64_t j = 0; j < p->numel; j++) p->data[j] = (float)(0.02 * next_normal(&s));
        }
    }
    *out = tr;
    return PE_OK;
}

static void acts_free(pe_tr_acts *a)
{
    float **f[] = {&a->xs, &a->emb_xhat, &a->emb_rstd, &a->qkv, &a->ctx, &a->ln1_xhat, &a->ln1_rstd, &a->x1,
                   &a->u, &a->gl, &a->ln2_xhat, &a->ln2_rstd, &a->probs, &a->tmp, &a->dx, &a->dr, &a->dI,
                   &a->dqkv, &a->att};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) free(*f[i]);
    free(a->ids);
    free(a->types);
    free(a->positions);
    free(a->rows);
    free(a->offsets);
    memset(a, 0, sizeof *a);
}

void pe_train_free(pe_train *tr)
{
    if (!tr) return;
    acts_free(&tr->a);
    free(tr->params);
    free(tr->grads);
    free(tr->w.layer);
    free(tr->g.layer);
    free(tr->tab);
    free(tr->names);
    free(tr->pooler_w);
    free(tr->pooler_b);
    free(tr);
}

const char *pe_train_errmsg(const pe_train *tr)
{
    return tr ? tr->err.msg : "NULL handle";
}

const pe_encoder_config *pe_train_config(const pe_train *tr)
{
    return &tr->cfg;
}

int pe_train_n_params(const pe_train *tr)
{
    return tr->n_tab;
}

size_t pe_train_numel(const pe_train *tr)
{
    return tr->n;
}

pe_status pe_train_param_at(const pe_train *tr, int i, pe_train_param *out)
{
    if (i < 0 || i >= tr->n_tab) return PE_ERR_INVALID;
    *out = tr->tab[i];
    return PE_OK;
}

pe_status pe_train_param_find(const pe_train *tr, const char *name, pe_train_param *out)
{
    for (int i = 0; name && i < tr->n_tab; i++)
        if (strcmp(tr->tab[i].name, name) == 0) {
            *out = tr->tab[i];
            return PE_OK;
        }
    return PE_NOT_FOUND;
}

void pe_train_zero_grad(pe_train *tr)
{
    memset(tr->grads, 0, tr->n * sizeof *tr->grads);
}

/* ---- forward ---- */

pe_train_forward_options pe_train_forward_options_default(void)
{
    pe_train_forward_options o = {0};
    return o;
}

/* Grows the activations to T tokens, n_seq sequences, the longest max_len
 * and probs floats of attention probabilities per layer. */
static pe_status acts_reserve(pe_train *tr, int T, int n_seq, int max_len, size_t probs)
{
    pe_tr_acts *a = &tr->a;
    if (T <= a->cap_tokens && n_seq <= a->cap_seq && max_len <= a->cap_len && probs <= a->cap_probs) return PE_OK;
    const pe_encoder_config *g = &tr->cfg;
    int capT = T > a->cap_tokens ? T : a->cap_tokens, capS = n_seq > a->cap_seq ? n_seq : a->cap_seq;
    int capL = max_len > a->cap_len ? max_len : a->cap_len;
    size_t capP = probs > a->cap_probs ? probs : a->cap_probs;
    acts_free(a);
    const size_t Tn = (size_t)capT, C = (size_t)g->hidden, I = (size_t)g->intermediate, L = (size_t)g->layers;
    int ok = 1;
#define AL(p, count) \
    do { size_t c_ = (count); ok = ok && ((p) = malloc((c_ ? c_ : 1) * sizeof *(p))) != NULL; } while (0)
    AL(a->xs, (L + 1) * Tn * C);
    AL(a->emb_xhat, Tn * C);
    AL(a->emb_rstd, Tn);
    AL(a->qkv, L * Tn * 3 * C);
    AL(a->ctx, L * Tn * C);
    AL(a->ln1_xhat, L * Tn * C);
    AL(a->ln1_rstd, L * Tn);
    AL(a->x1, L * Tn * C);
    AL(a->u, L * Tn * I);
    AL(a->gl, L * Tn * I);
    AL(a->ln2_xhat, L * Tn * C);
    AL(a->ln2_rstd, L * Tn);
    AL(a->probs, L * capP);
    AL(a->tmp, Tn * C);
    AL(a->dx, Tn * C);
    AL(a->dr, Tn * C);
    AL(a->dI, Tn * I);
    AL(a->dqkv, Tn * 3 * C);
    AL(a->att, 2 * (size_t)capL * capL);
    AL(a->ids, Tn);
    AL(a->types, Tn);
    AL(a->positions, Tn);
    AL(a->rows, Tn);
    AL(a->offsets, (size_t)capS + 1);
#undef AL
    if (!ok) {
        acts_free(a);
        return pe_error_set(&tr->err, PE_ERR_NOMEM, "train: out of memory for the activations of %d tokens", T);
    }
    a->cap_tokens = capT;
    a->cap_seq = capS;
    a->cap_len = capL;
    a->cap_probs = capP;
    return PE_OK;
}

/* Dropout streams: 0 the embeddings, then per layer l the attention
 * probabilities, the attention output and the FFN output. */
#define STREAM_EMB 0u
#define STREAM_PROBS(l) (1u + 3u * (uint64_t)(l))
#define STREAM_ATTN_OUT(l) (2u + 3u * (uint64_t)(l))
#define STREAM_FFN_OUT(l) (3u + 3u * (uint64_t)(l))

/* Dropout of n rows of C that stand for rows[i] of the full (T, C) tensor:
 * the same mask elements as the full tensor's. */
static void rows_dropout(const float *src, float *dst, const int32_t *rows, int n, int C, float p, uint64_t seed,
                         uint64_t stream)
{
    for (int i = 0; i < n; i++)
        enc_tr_dropout_copy(src + (size_t)i * C, dst + (size_t)i * C, (size_t)C, p, seed, stream,
                            (uint64_t)rows[i] * (uint64_t)C);
}

/* The last layer after its attention on the rows a->rows only (ctx: the
 * layer's attention output, all rows): its ctx, x1, u, gl and LayerNorm
 * statistics keep those rows compact, first n rows of their slices; xout
 * gets them at their places and 0 elsewhere. */
static void last_layer_rows_fwd(pe_train *tr, float *ctx, const float *xin, float *xout)
{
    const pe_encoder_config *g = &tr->cfg;
    pe_tr_acts *a = &tr->a;
    const int T = tr->n_tokens, C = g->hidden, I = g->intermediate, l = g->layers - 1, n = tr->n_rows;
    const size_t TC = (size_t)T * C, TI = (size_t)T * I;
    const int32_t *R = a->rows;
    const pe_tr_layer *L = &tr->w.layer[l];
    const float eps = g->layer_norm_eps, ph = tr->fo.hidden_dropout;
    const uint64_t seed = tr->fo.seed;
    float *x1 = a->x1 + (size_t)l * TC, *u = a->u + (size_t)l * TI, *gl = a->gl + (size_t)l * TI;
    memset(xout, 0, TC * sizeof *xout);
    if (n == 0) return;
    for (int i = 0; i < n; i++) /* rows only move down: R[i] >= i */
        if (R[i] != i) memcpy(ctx + (size_t)i * C, ctx + (size_t)R[i] * C, (size_t)C * sizeof *ctx);
    enc_tr_linear_fwd(ctx, L->ao_w, L->ao_b, a->tmp, n, C, C);
    rows_dropout(a->tmp, a->tmp, R, n, C, ph, seed, STREAM_ATTN_OUT(l));
    for (int i = 0; i < n; i++)
        for (int c = 0; c < C; c++) a->tmp[(size_t)i * C + c] += xin[(size_t)R[i] * C + c];
    enc_tr_layernorm_fwd(a->tmp, L->ln1_g, L->ln1_b, x1, a->ln1_xhat + (size_t)l * TC, a->ln1_rstd + (size_t)l * T, n,
                        C, eps);
    enc_tr_linear_gelu_fwd(x1, L->fi_w, L->fi_b, u, gl, n, I, C);
    enc_tr_linear_fwd(gl, L->fo_w, L->fo_b, a->tmp, n, C, I);
    rows_dropout(a->tmp, a->tmp, R, n, C, ph, seed, STREAM_FFN_OUT(l));
    for (size_t i = 0; i < (size_t)n * C; i++) a->tmp[i] += x1[i];
    enc_tr_layernorm_fwd(a->tmp, L->ln2_g, L->ln2_b, a->dr, a->ln2_xhat + (size_t)l * TC, a->ln2_rstd + (size_t)l * T,
                        n, C, eps);
    for (int i = 0; i < n; i++) memcpy(xout + (size_t)R[i] * C, a->dr + (size_t)i * C, (size_t)C * sizeof *xout);
}

/* Backward of last_layer_rows_fwd and of the layer's attention and QKV
 * projection: dx receives the gradient of the layer's input. */
static void last_layer_rows_bwd(pe_train *tr, const float *d_hidden)
{
    const pe_encoder_config *g = &tr->cfg;
    pe_tr_acts *a = &tr->a;
    const int T = tr->n_tokens, C = g->hidden, I = g->intermediate, H = g->heads, D = C / H, l = g->layers - 1;
    const int n = tr->n_rows;
    const size_t TC = (size_t)T * C, TI = (size_t)T * I, nC = (size_t)n * C;
    const int32_t *R = a->rows;
    const pe_tr_layer *L = &tr->w.layer[l], *G = &tr->g.layer[l];
    const float ph = tr->fo.hidden_dropout, pa = tr->fo.attention_dropout;
    const uint64_t seed = tr->fo.seed;
    const float *xin = a->xs + (size_t)l * TC, *qkv = a->qkv + (size_t)l * 3 * TC, *ctx = a->ctx + (size_t)l * TC;
    const float *x1 = a->x1 + (size_t)l * TC, *u = a->u + (size_t)l * TI, *gl = a->gl + (size_t)l * TI;
    float *dx = a->dx, *dr = a->dr, *dt = a->tmp;
    for (int i = 0; i < n; i++) memcpy(dx + (size_t)i * C, d_hidden + (size_t)R[i] * C, (size_t)C * sizeof *dx);
    if (n > 0) {
        enc_tr_layernorm_bwd(dx, a->ln2_xhat + (size_t)l * TC, a->ln2_rstd + (size_t)l * T, L->ln2_g, dr, G->ln2_g,
                            G->ln2_b, n, C);
        rows_dropout(dr, dt, R, n, C, ph, seed, STREAM_FFN_OUT(l));
        enc_tr_linear_bwd(gl, L->fo_w, dt, a->dI, 0.0f, G->fo_w, G->fo_b, n, C, I);
        enc_tr_gelu_bwd(u, a->dI, a->dI, (size_t)n * I);
        enc_tr_linear_bwd(x1, L->fi_w, a->dI, dr, 1.0f, G->fi_w, G->fi_b, n, I, C);
        enc_tr_layernorm_bwd(dr, a->ln1_xhat + (size_t)l * TC, a->ln1_rstd + (size_t)l * T, L->ln1_g, dx, G->ln1_g,
                            G->ln1_b, n, C);
        rows_dropout(dx, dt, R, n, C, ph, seed, STREAM_ATTN_OUT(l));
        enc_tr_linear_bwd(ctx, L->ao_w, dt, dr, 0.0f, G->ao_w, G->ao_b, n, C, C); /* dr: grad of ctx's rows */
    }
    /* back to all rows: dt the grad of ctx, dx the residual's grad of xin */
    memset(dt, 0, TC * sizeof *dt);
    for (int i = 0; i < n; i++) memcpy(dt + (size_t)R[i] * C, dr + (size_t)i * C, (size_t)C * sizeof *dt);
    memcpy(dr, dx, nC * sizeof *dr);
    memset(dx, 0, TC * sizeof *dx);
    for (int i = 0; i < n; i++) memcpy(dx + (size_t)R[i] * C, dr + (size_t)i * C, (size_t)C * sizeof *dx);
    enc_tr_attention_bwd(qkv, a->probs + (size_t)l * a->cap_probs, dt, a->dqkv, a->att, a->offsets, tr->n_seq, H, D,
                        pa, seed, STREAM_PROBS(l));
    enc_tr_linear_bwd(xin, L->qkv_w, a->dqkv, dx, 1.0f, G->qkv_w, G->qkv_b, T, 3 * C, C);
}

pe_status pe_train_forward(pe_train *tr, const int32_t *ids, const int32_t *type_ids, const int *lengths, int n_seq,
                           const pe_train_forward_options *opts, float *hidden)
{
    const pe_encoder_config *g = &tr->cfg;
    pe_error_clear(&tr->err);
    tr->fwd_ok = 0;
    pe_train_forward_options o = opts ? *opts : pe_train_forward_options_default();
    if (!ids || !lengths || !hidden || n_seq < 1)
        return pe_error_set(&tr->err, PE_ERR_INVALID, "train forward: NULL ids, lengths or output, or no sequence");
    if (!(o.hidden_dropout >= 0.0f && o.hidden_dropout < 1.0f) ||
        !(o.attention_dropout >= 0.0f && o.attention_dropout < 1.0f))
        return pe_error_set(&tr->err, PE_ERR_INVALID, "train forward: dropout p %g / %g outside [0, 1)",
                            (double)o.hidden_dropout, (double)o.attention_dropout);
    int64_t T64 = 0;
    int max_len = 0;
    size_t probs = 0;
    for (int s = 0; s < n_seq; s++) {
        if (lengths[s] < 1 || lengths[s] > g->max_position)
            return pe_error_set(&tr->err, PE_ERR_INVALID, "train forward: sequence %d has %d tokens (1..%d)", s,
                                lengths[s], g->max_position);
        T64 += lengths[s];
        if (lengths[s] > max_len) max_len = lengths[s];
        probs += (size_t)g->heads * (size_t)lengths[s] * (size_t)lengths[s];
    }
    if (T64 > (1 << 30))
        return pe_error_set(&tr->err, PE_ERR_LIMIT, "train forward: %lld tokens in one batch", (long long)T64);
    const int T = (int)T64;
    for (int t = 0; t < T; t++) {
        if (ids[t] < 0 || ids[t] >= g->vocab_size)
            return pe_error_set(&tr->err, PE_ERR_INVALID, "train forward: token %d has id %d (vocabulary %d)", t,
                                ids[t], g->vocab_size);
        if (type_ids && (type_ids[t] < 0 || type_ids[t] >= g->type_vocab))
            return pe_error_set(&tr->err, PE_ERR_INVALID, "train forward: token %d has type %d (type vocabulary %d)",
                                t, type_ids[t], g->type_vocab);
    }
    if (o.rows) {
        if (o.n_rows < 0 || o.n_rows > T)
            return pe_error_set(&tr->err, PE_ERR_INVALID, "train forward: %d output rows of %d tokens", o.n_rows, T);
        for (int i = 0; i < o.n_rows; i++)
            if (o.rows[i] < 0 || o.rows[i] >= T || (i > 0 && o.rows[i] <= o.rows[i - 1]))
                return pe_error_set(&tr->err, PE_ERR_INVALID,
                                    "train forward: output row %d (%d) not a token index above the one before it", i,
                                    o.rows[i]);
    }
    pe_status st;
    PE_TRY(st, acts_reserve(tr, T, n_seq, max_len, probs));
    pe_tr_acts *a = &tr->a;
    memcpy(a->ids, ids, (size_t)T * sizeof *ids);
    if (type_ids) memcpy(a->types, type_ids, (size_t)T * sizeof *type_ids);
    else memset(a->types, 0, (size_t)T * sizeof *a->types);
    a->offsets[0] = 0;
    for (int s = 0, t = 0; s < n_seq; s++) {
        for (int i = 0; i < lengths[s]; i++, t++) a->positions[t] = i;
        a->offsets[s + 1] = a->offsets[s] + lengths[s];
    }
    tr->n_seq = n_seq;
    tr->n_tokens = T;
    tr->max_len = max_len;
    tr->n_rows = -1;
    if (o.rows) {
        if (o.n_rows) memcpy(a->rows, o.rows, (size_t)o.n_rows * sizeof *o.rows);
        tr->n_rows = o.n_rows;
    }
    o.rows = NULL; /* kept in a->rows */
    tr->fo = o;

    const int C = g->hidden, I = g->intermediate, H = g->heads, D = C / H;
    const size_t TC = (size_t)T * C, TI = (size_t)T * I;
    const float eps = g->layer_norm_eps, ph = o.hidden_dropout, pa = o.attention_dropout;
    const pe_tr_weights *w = &tr->w;

    float *x0 = a->xs;
    enc_tr_embed_fwd(w->word, w->pos, w->type, a->ids, a->positions, a->types, x0, T, C);
    enc_tr_layernorm_fwd(x0, w->ln_g, w->ln_b, x0, a->emb_xhat, a->emb_rstd, T, C, eps);
    enc_tr_dropout(x0, TC, ph, o.seed, STREAM_EMB, 0);
    for (int l = 0; l < g->layers; l++) {
        const pe_tr_layer *L = &w->layer[l];
        const float *xin = a->xs + (size_t)l * TC;
        float *xout = a->xs + (size_t)(l + 1) * TC;
        float *qkv = a->qkv + (size_t)l * 3 * TC, *ctx = a->ctx + (size_t)l * TC;
        float *x1 = a->x1 + (size_t)l * TC, *u = a->u + (size_t)l * TI, *gl = a->gl + (size_t)l * TI;
        enc_tr_linear_fwd(xin, L->qkv_w, L->qkv_b, qkv, T, 3 * C, C);
        enc_tr_attention_fwd(qkv, ctx, a->probs + (size_t)l * a->cap_probs, a->att, a->offsets, n_seq, H, D, pa, o.seed,
                            STREAM_PROBS(l));
        if (l == g->layers - 1 && tr->n_rows >= 0) {
            last_layer_rows_fwd(tr, ctx, xin, xout);
            break;
        }
        enc_tr_linear_fwd(ctx, L->ao_w, L->ao_b, a->tmp, T, C, C);
        enc_tr_dropout(a->tmp, TC, ph, o.seed, STREAM_ATTN_OUT(l), 0);
        for (size_t i = 0; i < TC; i++) a->tmp[i] += xin[i];
        enc_tr_layernorm_fwd(a->tmp, L->ln1_g, L->ln1_b, x1, a->ln1_xhat + (size_t)l * TC, a->ln1_rstd + (size_t)l * T,
                            T, C, eps);
        enc_tr_linear_gelu_fwd(x1, L->fi_w, L->fi_b, u, gl, T, I, C);
        enc_tr_linear_fwd(gl, L->fo_w, L->fo_b, a->tmp, T, C, I);
        enc_tr_dropout(a->tmp, TC, ph, o.seed, STREAM_FFN_OUT(l), 0);
        for (size_t i = 0; i < TC; i++) a->tmp[i] += x1[i];
        enc_tr_layernorm_fwd(a->tmp, L->ln2_g, L->ln2_b, xout, a->ln2_xhat + (size_t)l * TC,
                            a->ln2_rstd + (size_t)l * T, T, C, eps);
    }
    memcpy(hidden, a->xs + (size_t)g->layers * TC, TC * sizeof *hidden);
    tr->fwd_ok = 1;
    return PE_OK;
}

/* ---- backward ---- */

pe_status pe_train_backward(pe_train *tr, const float *d_hidden)
{
    pe_error_clear(&tr->err);
    if (!tr->fwd_ok)
        return pe_error_set(&tr->err, PE_ERR_INVALID, "train backward: no successful forward to go back through");
    if (!d_hidden) return pe_error_set(&tr->err, PE_ERR_INVALID, "train backward: NULL gradient");
    const pe_encoder_config *g = &tr->cfg;
    pe_tr_acts *a = &tr->a;
    const int T = tr->n_tokens, C = g->hidden, I = g->intermediate, H = g->heads, D = C / H;
    const size_t TC = (size_t)T * C, TI = (size_t)T * I;
    const float ph = tr->fo.hidden_dropout, pa = tr->fo.attention_dropout;
    const uint64_t seed = tr->fo.seed;
    const pe_tr_weights *w = &tr->w, *gw = &tr->g;
    float *dx = a->dx, *dr = a->dr, *dt = a->tmp;

    int top = g->layers - 1;
    if (tr->n_rows >= 0) {
        last_layer_rows_bwd(tr, d_hidden);
        top--;
    } else {
        memcpy(dx, d_hidden, TC * sizeof *dx); /* dx: gradient of the current layer's output */
    }
    for (int l = top; l >= 0; l--) {
        const pe_tr_layer *L = &w->layer[l], *G = &gw->layer[l];
        const float *xin = a->xs + (size_t)l * TC, *qkv = a->qkv + (size_t)l * 3 * TC, *ctx = a->ctx + (size_t)l * TC;
        const float *x1 = a->x1 + (size_t)l * TC, *u = a->u + (size_t)l * TI, *gl = a->gl + (size_t)l * TI;
        /* xout = LN2(x1 + drop(gl fo_w^T + fo_b)) */
        enc_tr_layernorm_bwd(dx, a->ln2_xhat + (size_t)l * TC, a->ln2_rstd + (size_t)l * T, L->ln2_g, dr, G->ln2_g,
                            G->ln2_b, T, C);
        enc_tr_dropout_copy(dr, dt, TC, ph, seed, STREAM_FFN_OUT(l), 0);
        enc_tr_linear_bwd(gl, L->fo_w, dt, a->dI, 0.0f, G->fo_w, G->fo_b, T, C, I);
        enc_tr_gelu_bwd(u, a->dI, a->dI, TI);
        /* dr (grad of x1) = residual + through the FFN input projection */
        enc_tr_linear_bwd(x1, L->fi_w, a->dI, dr, 1.0f, G->fi_w, G->fi_b, T, I, C);
        /* x1 = LN1(xin + drop(ctx ao_w^T + ao_b)) */
        enc_tr_layernorm_bwd(dr, a->ln1_xhat + (size_t)l * TC, a->ln1_rstd + (size_t)l * T, L->ln1_g, dx, G->ln1_g,
                            G->ln1_b, T, C);
        enc_tr_dropout_copy(dx, dt, TC, ph, seed, STREAM_ATTN_OUT(l), 0);
        enc_tr_linear_bwd(ctx, L->ao_w, dt, dr, 0.0f, G->ao_w, G->ao_b, T, C, C); /* dr: grad of ctx */
        enc_tr_attention_bwd(qkv, a->probs + (size_t)l * a->cap_probs, dr, a->dqkv, a->att, a->offsets, tr->n_seq, H,
                            D, pa, seed, STREAM_PROBS(l));
        /* dx (grad of xin) = residual + through the QKV projection */
        enc_tr_linear_bwd(xin, L->qkv_w, a->dqkv, dx, 1.0f, G->qkv_w, G->qkv_b, T, 3 * C, C);
    }
    /* x0 = drop(LN(word[id] + pos[p] + type[y])) */
    enc_tr_dropout(dx, TC, ph, seed, STREAM_EMB, 0);
    enc_tr_layernorm_bwd(dx, a->emb_xhat, a->emb_rstd, w->ln_g, dx, gw->ln_g, gw->ln_b, T, C);
    enc_tr_embed_bwd(dx, a->ids, a->positions, a->types, gw->word, gw->pos, gw->type, T, C);
    return PE_OK;
}
