/* encoder_random_model.h - a random BERT of any shape and random packed
 * batches, for the tests that compare a backend with a reference
 * (test_cuda.c on a GPU, test_cuda_emu.c against the CUDA emulation).
 * Header-only: every function is static. Weights are uniform around their
 * centre (LayerNorm gains near 1), scaled by 1.7/sqrt(fan-in) so that
 * activations stay of order 1 through the layers; two token types. */
#ifndef PE_TEST_ENCODER_RANDOM_MODEL_H
#define PE_TEST_ENCODER_RANDOM_MODEL_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"

/* ---- a random model ---- */

typedef struct model {
    pe_encoder_config cfg;
    pe_encoder_weights w;
    pe_encoder_layer_weights *layers;
    float *arena;
} model;

static uint64_t rng = 88172645463325252ull;
static float frand(void) /* uniform in [-1, 1) */
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}

static float *fill(float **p, size_t n, float center, float scale)
{
    float *t = *p;
    for (size_t i = 0; i < n; i++) t[i] = center + scale * frand();
    *p += n;
    return t;
}

static int model_make(model *m, int V, int C, int L, int H, int I, int P, int pooler)
{
    memset(m, 0, sizeof *m);
    const int Y = 2;
    m->cfg = (pe_encoder_config){.vocab_size = V, .hidden = C, .layers = L, .heads = H, .intermediate = I,
                                 .max_position = P, .type_vocab = Y, .layer_norm_eps = 1e-12f,
                                 .has_pooler = pooler};
    size_t n = (size_t)(V + P + Y) * C + 2 * C +
               (size_t)L * (3 * C * C + 3 * C + C * C + C + 2 * C + I * C + I + C * I + C + 2 * C) +
               (pooler ? (size_t)C * C + C : 0);
    m->arena = malloc(n * sizeof(float));
    m->layers = calloc((size_t)(L > 0 ? L : 1), sizeof *m->layers);
    if (!m->arena || !m->layers) return -1;
    float *p = m->arena;
    const float sc = 1.0f / sqrtf((float)C), si = 1.0f / sqrtf((float)I);
    m->w.word_emb = fill(&p, (size_t)V * C, 0.0f, 1.0f);
    m->w.pos_emb = fill(&p, (size_t)P * C, 0.0f, 0.5f);
    m->w.type_emb = fill(&p, (size_t)Y * C, 0.0f, 0.5f);
    m->w.emb_ln_g = fill(&p, C, 1.0f, 0.2f);
    m->w.emb_ln_b = fill(&p, C, 0.0f, 0.1f);
    for (int l = 0; l < L; l++) {
        pe_encoder_layer_weights *y = &m->layers[l];
        y->qkv_w = fill(&p, (size_t)3 * C * C, 0.0f, 1.7f * sc);
        y->qkv_b = fill(&p, (size_t)3 * C, 0.0f, 0.1f);
        y->attn_out_w = fill(&p, (size_t)C * C, 0.0f, 1.7f * sc);
        y->attn_out_b = fill(&p, C, 0.0f, 0.1f);
        y->ln1_g = fill(&p, C, 1.0f, 0.2f);
        y->ln1_b = fill(&p, C, 0.0f, 0.1f);
        y->ffn_in_w = fill(&p, (size_t)I * C, 0.0f, 1.7f * sc);
        y->ffn_in_b = fill(&p, I, 0.0f, 0.1f);
        y->ffn_out_w = fill(&p, (size_t)C * I, 0.0f, 1.7f * si);
        y->ffn_out_b = fill(&p, C, 0.0f, 0.1f);
        y->ln2_g = fill(&p, C, 1.0f, 0.2f);
        y->ln2_b = fill(&p, C, 0.0f, 0.1f);
    }
    m->w.layer = m->layers;
    if (pooler) {
        m->w.pooler_w = fill(&p, (size_t)C * C, 0.0f, 1.7f * sc);
        m->w.pooler_b = fill(&p, C, 0.0f, 0.1f);
    }
    return 0;
}

static void model_free(model *m)
{
    free(m->arena);
    free(m->layers);
}

/* ---- batches ---- */

typedef struct batch {
    pe_encoder_batch b;
    int32_t *ids, *types, *pos;
    int *offsets;
} batch;

static void batch_make(batch *bt, const model *m, const int *lens, int n)
{
    int T = 0, maxlen = 0;
    for (int s = 0; s < n; s++) {
        T += lens[s];
        if (lens[s] > maxlen) maxlen = lens[s];
    }
    bt->ids = malloc((size_t)(T + 1) * sizeof(int32_t));
    bt->types = malloc((size_t)(T + 1) * sizeof(int32_t));
    bt->pos = malloc((size_t)(T + 1) * sizeof(int32_t));
    bt->offsets = malloc((size_t)(n + 1) * sizeof(int));
    int t = 0;
    for (int s = 0; s < n; s++) {
        bt->offsets[s] = t;
        for (int i = 0; i < lens[s]; i++, t++) {
            bt->ids[t] = (int32_t)((frand() + 1.0f) * 0.5f * (float)(m->cfg.vocab_size - 1));
            bt->types[t] = i >= lens[s] / 2 ? m->cfg.type_vocab - 1 : 0; /* a second segment */
            bt->pos[t] = i;
        }
    }
    bt->offsets[n] = T;
    bt->b = (pe_encoder_batch){n, T, maxlen, bt->ids, bt->types, bt->pos, bt->offsets};
}

static void batch_free(batch *bt)
{
    free(bt->ids);
    free(bt->types);
    free(bt->pos);
    free(bt->offsets);
}

#endif
