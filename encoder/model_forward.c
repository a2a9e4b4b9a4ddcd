/* model_forward.c - the encoder's CPU forward pass over a packed batch
 * (OpenBLAS / the kernels of linear.c and attention.c), its workspace, and
 * the public pe_encoder_forward / pooling entry points. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "kernels.h"
#include "model_internal.h"

void enc_ws_free(pe_encoder_workspace *ws)
{
    free(ws->qkv);
    free(ws->ctx);
    free(ws->ffn);
    free(ws->att);
    free(ws->positions);
    free(ws->types);
    free(ws->offsets);
    memset(ws, 0, sizeof *ws);
}

static float *grow_f(float *p, size_t n)
{
    free(p);
    void *q = NULL;
    return posix_memalign(&q, 64, n ? n * sizeof(float) : 64) == 0 ? q : NULL;
}

pe_status enc_ws_reserve_batch(pe_encoder_workspace *ws, int n_tokens, int n_seq, pe_error *err)
{
    if (n_tokens > ws->cap_idx) {
        int cap = n_tokens;
        if (ws->cap_idx && cap < ws->cap_idx + ws->cap_idx / 2) cap = ws->cap_idx + ws->cap_idx / 2;
        ws->cap_idx = 0;
        free(ws->positions);
        free(ws->types);
        ws->positions = malloc((size_t)cap * sizeof *ws->positions);
        ws->types = malloc((size_t)cap * sizeof *ws->types);
        if (!ws->positions || !ws->types) {
            enc_ws_free(ws);
            return pe_error_set(err, PE_ERR_NOMEM, "out of memory for a batch of %d tokens", n_tokens);
        }
        ws->cap_idx = cap;
    }
    if (n_seq > ws->cap_seq) {
        free(ws->offsets);
        ws->cap_seq = 0;
        ws->offsets = malloc(((size_t)n_seq + 1) * sizeof *ws->offsets);
        if (!ws->offsets) {
            enc_ws_free(ws);
            return pe_error_set(err, PE_ERR_NOMEM, "out of memory for %d sequences", n_seq);
        }
        ws->cap_seq = n_seq;
    }
    return PE_OK;
}

pe_status enc_ws_reserve(pe_encoder_workspace *ws, const pe_encoder_config *cfg, int n_tokens, int max_len,
                                pe_error *err)
{
    const size_t C = (size_t)cfg->hidden, Ci = (size_t)cfg->intermediate;
    if (n_tokens > ws->cap_tokens) {
        /* grow by at least half so that slowly growing batches reallocate rarely */
        int cap = n_tokens;
        if (ws->cap_tokens && cap < ws->cap_tokens + ws->cap_tokens / 2) cap = ws->cap_tokens + ws->cap_tokens / 2;
        ws->cap_tokens = 0;
        ws->qkv = grow_f(ws->qkv, (size_t)cap * 3 * C);
        ws->ctx = grow_f(ws->ctx, (size_t)cap * C);
        ws->ffn = grow_f(ws->ffn, (size_t)cap * Ci);
        if (!ws->qkv || !ws->ctx || !ws->ffn) {
            enc_ws_free(ws);
            return pe_error_set(err, PE_ERR_NOMEM, "out of memory for a batch of %d tokens", n_tokens);
        }
        ws->cap_tokens = cap;
    }
    if (max_len > ws->cap_len) {
        const int H = cfg->heads, D = cfg->hidden / cfg->heads;
        ws->cap_len = 0;
        ws->att = grow_f(ws->att, enc_attention_scratch_floats(max_len, H, D));
        if (!ws->att) {
            enc_ws_free(ws);
            return pe_error_set(err, PE_ERR_NOMEM, "out of memory for sequences of %d tokens", max_len);
        }
        ws->cap_len = max_len;
    }
    return PE_OK;
}

/* Mean and variance in double: rows of 768+ floats lose digits otherwise,
 * and this costs nothing next to the projections. */
static void ln_row(float *x, const float *g, const float *b, int n, float eps)
{
    enc_layernorm_row(x, g, b, x, NULL, n, eps);
}

void enc_layernorm_f32(float *x, const float *g, const float *b, int rows, int n, float eps)
{
    for (int i = 0; i < rows; i++) ln_row(x + (size_t)i * n, g, b, n, eps);
}

void enc_add_layernorm_f32(float *x, const float *r, const float *g, const float *b, int rows, int n, float eps)
{
    for (int i = 0; i < rows; i++) {
        float *xr = x + (size_t)i * n;
        const float *rr = r + (size_t)i * n;
        for (int j = 0; j < n; j++) xr[j] += rr[j];
        ln_row(xr, g, b, n, eps);
    }
}

void enc_embed_cpu(const pe_encoder_config *cfg, const pe_encoder_weights *w, const pe_encoder_batch *b,
                          float *x)
{
    const int C = cfg->hidden;
    for (int t = 0; t < b->n_tokens; t++) {
        float *row = x + (size_t)t * C;
        const float *we = w->word_emb + (size_t)b->ids[t] * C, *pe = w->pos_emb + (size_t)b->positions[t] * C,
                    *te = w->type_emb + (size_t)b->type_ids[t] * C;
        for (int j = 0; j < C; j++) row[j] = we[j] + pe[j] + te[j];
    }
    enc_kernels_add_layernorm(x, NULL, w->emb_ln_g, w->emb_ln_b, b->n_tokens, C, cfg->layer_norm_eps);
}

pe_status enc_forward_cpu(pe_encoder *enc, const pe_encoder_batch *b, int out_layer, float *out)
{
    const pe_encoder_config *g = &enc->cfg;
    const int C = g->hidden, H = g->heads, D = C / H, T = b->n_tokens;
    const float eps = g->layer_norm_eps;
    pe_encoder_workspace *ws = &enc->ws;
    pe_status st;
    if (!enc->lin) /* enc_load_weights */
        return pe_error_set(&enc->err, PE_ERR_INVALID, "forward: this handle was loaded for its weights only");
    PE_TRY(st, enc_ws_reserve(ws, g, T, b->max_len, &enc->err));
    float *x = out; /* the running hidden state lives in the caller's buffer */
    enc_embed_cpu(g, &enc->w, b, x);
    for (int l = 0; l < out_layer; l++) {
        const pe_encoder_layer_weights *lw = &enc->w.layer[l];
        const pe_encoder_layer_linear *L = &enc->lin[l];
        enc_linear_apply(L->qkv, x, lw->qkv_b, ws->qkv, T, PE_ACT_NONE);              /* (T, 3C) */
        enc_attention_f32(ws->qkv, ws->ctx, b->offsets, b->n_seq, H, D, ws->att);      /* (T, C) */
        enc_linear_apply(L->attn_out, ws->ctx, lw->attn_out_b, ws->qkv, T, PE_ACT_NONE); /* (T, C) into qkv */
        enc_kernels_add_layernorm(x, ws->qkv, lw->ln1_g, lw->ln1_b, T, C, eps);
        enc_linear_apply(L->ffn_in, x, lw->ffn_in_b, ws->ffn, T, PE_ACT_GELU);         /* (T, I) */
        enc_linear_apply(L->ffn_out, ws->ffn, lw->ffn_out_b, ws->ctx, T, PE_ACT_NONE); /* (T, C) */
        enc_kernels_add_layernorm(x, ws->ctx, lw->ln2_g, lw->ln2_b, T, C, eps);
    }
    return PE_OK;
}

void enc_pooler_cpu(const pe_encoder_config *cfg, const pe_encoder_weights *w, const float *hidden,
                           const int *offsets, int n_seq, float *pooled)
{
    const int C = cfg->hidden;
    for (int s = 0; s < n_seq; s++) {
        float *p = pooled + (size_t)s * C;
        memcpy(p, w->pooler_b, (size_t)C * sizeof *p);
        cblas_sgemv(CblasRowMajor, CblasNoTrans, C, C, 1.0f, w->pooler_w, C, hidden + (size_t)offsets[s] * C, 1,
                    1.0f, p, 1);
        for (int j = 0; j < C; j++) p[j] = tanhf(p[j]);
    }
}

pe_status pe_encoder_forward(pe_encoder *enc, const int32_t *ids, const int32_t *type_ids, const int *lengths,
                             int n_seq, int layer, float *hidden)
{
    const pe_encoder_config *g = &enc->cfg;
    pe_error_clear(&enc->err);
    if (!ids || !lengths || !hidden || n_seq < 0)
        return pe_error_set(&enc->err, PE_ERR_INVALID, "forward: NULL ids, lengths or output");
    if (layer < -1 || layer > g->layers)
        return pe_error_set(&enc->err, PE_ERR_INVALID, "forward: layer %d out of range (-1, 0..%d)", layer, g->layers);
    if (layer == -1) layer = g->layers;
    if (n_seq == 0) return PE_OK;
    int64_t T = 0;
    int max_len = 0;
    for (int s = 0; s < n_seq; s++) {
        if (lengths[s] < 1 || lengths[s] > g->max_position)
            return pe_error_set(&enc->err, PE_ERR_INVALID, "forward: sequence %d has %d tokens (1..%d)", s, lengths[s],
                                g->max_position);
        T += lengths[s];
        if (lengths[s] > max_len) max_len = lengths[s];
    }
    if (T > (1 << 30)) return pe_error_set(&enc->err, PE_ERR_LIMIT, "forward: %lld tokens in one batch", (long long)T);
    for (int64_t t = 0; t < T; t++) {
        if (ids[t] < 0 || ids[t] >= g->vocab_size)
            return pe_error_set(&enc->err, PE_ERR_INVALID, "forward: token %lld has id %d (vocabulary %d)", (long long)t,
                                ids[t], g->vocab_size);
        if (type_ids && (type_ids[t] < 0 || type_ids[t] >= g->type_vocab))
            return pe_error_set(&enc->err, PE_ERR_INVALID, "forward: token %lld has type %d (type vocabulary %d)",
                                (long long)t, type_ids[t], g->type_vocab);
    }
    pe_status st;
    /* only the batch arrays here: the CPU forward reserves its own buffers,
     * the CUDA backend has its workspace on the device */
    PE_TRY(st, enc_ws_reserve_batch(&enc->ws, (int)T, n_seq, &enc->err));
    pe_encoder_workspace *ws = &enc->ws;
    int t = 0;
    ws->offsets[0] = 0;
    for (int s = 0; s < n_seq; s++) {
        for (int i = 0; i < lengths[s]; i++, t++) ws->positions[t] = i;
        ws->offsets[s + 1] = t;
    }
    if (!type_ids) memset(ws->types, 0, (size_t)T * sizeof *ws->types);
    pe_encoder_batch b = {.n_seq = n_seq,
                          .n_tokens = (int)T,
                          .max_len = max_len,
                          .ids = ids,
                          .type_ids = type_ids ? type_ids : ws->types,
                          .positions = ws->positions,
                          .offsets = ws->offsets};
#ifdef PE_HAVE_CUDA
    if (enc->backend == PE_ENCODER_CUDA) return enc_forward_cuda(enc->cuda, &b, layer, hidden, &enc->err);
#endif
    return enc_forward_cpu(enc, &b, layer, hidden);
}

void pe_encoder_pool_mean(const float *hidden, const int *lengths, int n_seq, int C, float *pooled)
{
    size_t t = 0;
    for (int s = 0; s < n_seq; s++) {
        float *p = pooled + (size_t)s * C;
        for (int j = 0; j < C; j++) p[j] = 0.0f;
        for (int i = 0; i < lengths[s]; i++, t++)
            for (int j = 0; j < C; j++) p[j] += hidden[t * (size_t)C + j];
        const float inv = lengths[s] > 0 ? 1.0f / (float)lengths[s] : 0.0f;
        for (int j = 0; j < C; j++) p[j] *= inv;
    }
}

pe_status pe_encoder_pooler(pe_encoder *enc, const float *hidden, const int *lengths, int n_seq, float *pooled)
{
    pe_error_clear(&enc->err);
    if (!enc->cfg.has_pooler)
        return pe_error_set(&enc->err, PE_ERR_UNSUPPORTED, "this model has no pooler (pooler.dense weights)");
    if (n_seq < 0 || (n_seq > 0 && (!hidden || !lengths || !pooled)))
        return pe_error_set(&enc->err, PE_ERR_INVALID, "pooler: NULL hidden, lengths or output");
    for (int s = 0; s < n_seq; s++)
        if (lengths[s] < 1 || lengths[s] > enc->cfg.max_position)
            return pe_error_set(&enc->err, PE_ERR_INVALID, "pooler: sequence %d has %d tokens (1..%d)", s, lengths[s],
                                enc->cfg.max_position);
    int *off = malloc(((size_t)n_seq + 1) * sizeof *off);
    if (!off) return pe_error_set(&enc->err, PE_ERR_NOMEM, "out of memory");
    off[0] = 0;
    for (int s = 0; s < n_seq; s++) off[s + 1] = off[s] + lengths[s];
    enc_pooler_cpu(&enc->cfg, &enc->w, hidden, off, n_seq, pooled);
    free(off);
    return PE_OK;
}
