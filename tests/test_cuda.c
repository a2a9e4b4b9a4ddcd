/* test_cuda.c - the CUDA backend against a CPU reference (label gpu).
 *
 * Builds small random BERT models in memory, runs mixed-length packed
 * batches through enc_forward_cuda_ex at FP32, TF32 and BF16, and
 * compares hidden states (after the embeddings, after layer 1, after the
 * last layer) and the pooler with a CPU reference made of the encoder's
 * OpenBLAS primitives (enc_linear_f32_blas, enc_attention_f32_blas).
 * Tolerances (max |diff| / mean |diff| over all values, hidden states of
 * RMS ~1 after LayerNorm): FP32 1e-4 / 1e-5, TF32 1.5e-2 / 2e-3,
 * BF16 1e-1 / 1.5e-2 (see docs/GPU.md). Exits 77 without a usable device.
 *
 * Then the public API end to end on the tiny f32 fixture of the encoder's
 * golden test (tests/fixtures/encoder, PyTorch reference hidden states):
 * loaded with backend CUDA and CPU, 1e-4 to PyTorch and to each other.
 *
 * Also: hidden 1024 (16 heads, I 4096) and 4096 (32 heads) for the kernels'
 * launch shapes and shared-memory rows at real sizes (looser bounds: the
 * point is structure, not rounding), sequences of 512 tokens, and two
 * threads with a handle each on one device.
 *
 * `test_cuda --only NAME` runs the tests whose name contains NAME (for
 * compute-sanitizer runs in scripts/gpu-check.sh).
 * The backend's throughput is a benchmark program: bench/cuda_bench.c.
 */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "attention.h"
#include "cuda/cuda_backend.h"
#include "linear.h"
#include "encoder_random_model.h"
#include "model_internal.h"
#include "pe_test.h"

/* ---- the CPU reference ---- */

static void layernorm(float *x, const float *g, const float *b, int C, float eps)
{
    double mean = 0.0, var = 0.0;
    for (int c = 0; c < C; c++) mean += x[c];
    mean /= C;
    for (int c = 0; c < C; c++) var += (x[c] - mean) * (x[c] - mean);
    var /= C;
    const double inv = 1.0 / sqrt(var + eps);
    for (int c = 0; c < C; c++) x[c] = (float)((x[c] - mean) * inv) * g[c] + b[c];
}

/* x (T, C) after out_layer layers; pooled (B, C) when not NULL. */
static void ref_forward(const model *m, const pe_encoder_batch *b, int out_layer, float *x, float *pooled)
{
    const pe_encoder_config *c = &m->cfg;
    const int T = b->n_tokens, C = c->hidden, I = c->intermediate, H = c->heads, D = C / H;
    float *qkv = malloc((size_t)T * 3 * C * sizeof *qkv), *ctx = malloc((size_t)T * C * sizeof *ctx),
          *proj = malloc((size_t)T * C * sizeof *proj), *ffn = malloc((size_t)T * I * sizeof *ffn),
          *scratch = malloc(enc_attention_scratch_floats(b->max_len, H, D) * sizeof *scratch + 64);
    for (int t = 0; t < T; t++) {
        const float *we = m->w.word_emb + (size_t)b->ids[t] * C, *pe = m->w.pos_emb + (size_t)b->positions[t] * C,
                    *te = m->w.type_emb + (size_t)b->type_ids[t] * C;
        float *r = x + (size_t)t * C;
        for (int k = 0; k < C; k++) r[k] = we[k] + pe[k] + te[k];
        layernorm(r, m->w.emb_ln_g, m->w.emb_ln_b, C, c->layer_norm_eps);
    }
    for (int l = 0; l < out_layer; l++) {
        const pe_encoder_layer_weights *y = &m->layers[l];
        enc_linear_f32_blas(x, y->qkv_w, y->qkv_b, qkv, T, 3 * C, C, PE_ACT_NONE);
        enc_attention_f32_blas(qkv, ctx, b->offsets, b->n_seq, H, D, scratch);
        enc_linear_f32_blas(ctx, y->attn_out_w, y->attn_out_b, proj, T, C, C, PE_ACT_NONE);
        for (size_t i = 0; i < (size_t)T * C; i++) x[i] += proj[i];
        for (int t = 0; t < T; t++) layernorm(x + (size_t)t * C, y->ln1_g, y->ln1_b, C, c->layer_norm_eps);
        enc_linear_f32_blas(x, y->ffn_in_w, y->ffn_in_b, ffn, T, I, C, PE_ACT_GELU);
        enc_linear_f32_blas(ffn, y->ffn_out_w, y->ffn_out_b, proj, T, C, I, PE_ACT_NONE);
        for (size_t i = 0; i < (size_t)T * C; i++) x[i] += proj[i];
        for (int t = 0; t < T; t++) layernorm(x + (size_t)t * C, y->ln2_g, y->ln2_b, C, c->layer_norm_eps);
    }
    if (pooled) {
        for (int s = 0; s < b->n_seq; s++) {
            const float *first = x + (size_t)b->offsets[s] * C;
            for (int o = 0; o < C; o++) {
                double acc = m->w.pooler_b[o];
                for (int k = 0; k < C; k++) acc += (double)m->w.pooler_w[(size_t)o * C + k] * first[k];
                pooled[(size_t)s * C + o] = (float)tanh(acc);
            }
        }
    }
    free(qkv);
    free(ctx);
    free(proj);
    free(ffn);
    free(scratch);
}

/* ---- comparisons ---- */

typedef struct tol {
    double max_abs, mean_abs;
} tol;

/* FP32; TF32 (unit roundoff 2^-11); BF16 (2^-8, 8x TF32's). A host
 * emulation of the backend with those roundings measured at most
 * 2.3e-3 / 4.6e-4 (TF32) and 1.9e-2 / 3.6e-3 (BF16) on these models. */
static const tol TOL[3] = {{1e-4, 1e-5}, {1.5e-2, 2e-3}, {1e-1, 1.5e-2}};

static void compare(const char *what, pe_cuda_precision p, const float *got, const float *want, size_t n)
{
    double max = 0.0, sum = 0.0;
    size_t at = 0;
    int finite = 1;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(got[i])) finite = 0;
        const double d = fabs((double)got[i] - want[i]);
        sum += d;
        if (d > max) {
            max = d;
            at = i;
        }
    }
    const double mean = n ? sum / (double)n : 0.0;
    fprintf(stderr, "  %-34s %s: max |diff| %.3g (at %zu), mean %.3g\n", what, enc_cuda_precision_name(p), max, at,
            mean);
    PE_CHECK_MSG(finite, "%s %s: non-finite output", what, enc_cuda_precision_name(p));
    PE_CHECK_MSG(max <= TOL[p].max_abs, "%s %s: max |diff| %g > %g at %zu (%g vs %g)", what,
                 enc_cuda_precision_name(p), max, TOL[p].max_abs, at, n ? got[at] : 0.0f, n ? want[at] : 0.0f);
    PE_CHECK_MSG(mean <= TOL[p].mean_abs, "%s %s: mean |diff| %g > %g", what, enc_cuda_precision_name(p), mean,
                 TOL[p].mean_abs);
}

/* compare() with explicit bounds (the large models). */
static void compare_tol(const char *what, pe_cuda_precision p, const float *got, const float *want, size_t n,
                        double max_tol, double mean_tol)
{
    double max = 0.0, sum = 0.0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        const double d = fabs((double)got[i] - want[i]);
        sum += d;
        if (!(d <= max)) { /* NaN wins */
            max = d;
            at = i;
        }
    }
    const double mean = n ? sum / (double)n : 0.0;
    fprintf(stderr, "  %-34s %s: max |diff| %.3g (at %zu), mean %.3g\n", what, enc_cuda_precision_name(p), max, at,
            mean);
    PE_CHECK_MSG(max <= max_tol && mean <= mean_tol, "%s %s: max |diff| %g (bound %g), mean %g (bound %g)", what,
                 enc_cuda_precision_name(p), max, max_tol, mean, mean_tol);
}

/* One model against the reference, every precision, a few batches. */
static void check_model(int V, int C, int L, int H, int I, int P)
{
    model m;
    PE_CHECK(model_make(&m, V, C, L, H, I, P, 1) == 0);
    fprintf(stderr, " model C=%d H=%d D=%d I=%d L=%d\n", C, H, C / H, I, L);
    /* mixed lengths: 1 token, under a warp, over a warp, the longest first
     * and last; then a small batch after a large one (workspace reuse) */
    static const int lens_a[] = {7, 1, 40, 33, 2, 17}, lens_b[] = {40}, lens_c[] = {3, 5};
    const struct { const int *lens; int n; } batches[] = {{lens_a, 6}, {lens_b, 1}, {lens_c, 2}};
    for (int p = PE_CUDA_FP32; p <= PE_CUDA_BF16; p++) {
        pe_cuda_options o = enc_cuda_options_default();
        o.precision = (pe_cuda_precision)p;
        pe_encoder_cuda *cu = NULL;
        pe_error err;
        pe_error_clear(&err);
        pe_status st = enc_cuda_new_ex(&m.cfg, &m.w, &o, &cu, &err);
        PE_CHECK_MSG(st == PE_OK, "enc_cuda_new_ex: %s", err.msg);
        if (st != PE_OK) continue;
        PE_CHECK(enc_cuda_precision(cu) == (pe_cuda_precision)p);
        for (size_t k = 0; k < sizeof batches / sizeof batches[0]; k++) {
            batch bt;
            batch_make(&bt, &m, batches[k].lens, batches[k].n);
            const size_t TC = (size_t)bt.b.n_tokens * C, BC = (size_t)bt.b.n_seq * C;
            float *want = malloc(TC * sizeof(float)), *got = malloc(TC * sizeof(float)),
                  *pw = malloc(BC * sizeof(float)), *pg = malloc(BC * sizeof(float));
            const int layers_to_check[] = {0, 1, L};
            for (int j = 0; j < 3; j++) {
                const int ol = layers_to_check[j];
                if (ol > L || (j == 1 && L == 1)) continue;
                const int last = ol == L;
                char what[64];
                ref_forward(&m, &bt.b, ol, want, last ? pw : NULL);
                memset(got, 0xff, TC * sizeof(float)); /* NaN: catches rows left unwritten */
                st = enc_forward_cuda_ex(cu, &bt.b, last ? -1 : ol, got, last ? pg : NULL, &err);
                PE_CHECK_MSG(st == PE_OK, "forward: %s", err.msg);
                if (st != PE_OK) continue;
                snprintf(what, sizeof what, "batch %zu (%d seq) layer %d", k, bt.b.n_seq, ol);
                compare(what, (pe_cuda_precision)p, got, want, TC);
                if (last) {
                    snprintf(what, sizeof what, "batch %zu pooler", k);
                    compare(what, (pe_cuda_precision)p, pg, pw, BC);
                }
            }
            /* the hook without pooler gives the same hidden states (cuBLAS
             * is run-to-run reproducible on one stream; allow rounding) */
            float *again = malloc(TC * sizeof(float));
            st = enc_forward_cuda(cu, &bt.b, L, again, &err);
            PE_CHECK_MSG(st == PE_OK, "forward: %s", err.msg);
            double dmax = 0.0;
            for (size_t i = 0; st == PE_OK && i < TC; i++)
                dmax = fmax(dmax, fabs((double)again[i] - got[i]));
            PE_CHECK_MSG(dmax <= 1e-6, "repeated forward differs by %g", dmax);
            free(again);
            free(want);
            free(got);
            free(pw);
            free(pg);
            batch_free(&bt);
        }
        enc_cuda_free(cu);
    }
    model_free(&m);
}

static void test_parity_small(void) { check_model(50, 64, 2, 4, 128, 64); }

/* Real sizes for the kernels: one layer, every precision, last layer and
 * pooler. Bounds: FP32 5e-4 / 2e-5 (two f32 summation orders over K up to
 * 4096), TF32 5e-2 / 5e-3, BF16 2e-1 / 3e-2; an indexing or launch-shape
 * bug shows as O(1) differences or NaN. */
static void check_large(int V, int C, int H, int I, int P, const int *lens, int n)
{
    static const double bounds[3][2] = {{5e-4, 2e-5}, {5e-2, 5e-3}, {2e-1, 3e-2}};
    model m;
    PE_CHECK(model_make(&m, V, C, 1, H, I, P, 1) == 0);
    fprintf(stderr, " model C=%d H=%d D=%d I=%d L=1\n", C, H, C / H, I);
    batch bt;
    batch_make(&bt, &m, lens, n);
    const size_t TC = (size_t)bt.b.n_tokens * C, BC = (size_t)n * C;
    float *want = malloc(TC * sizeof(float)), *got = malloc(TC * sizeof(float)), *pw = malloc(BC * sizeof(float)),
          *pg = malloc(BC * sizeof(float));
    ref_forward(&m, &bt.b, 1, want, pw);
    for (int p = PE_CUDA_FP32; p <= PE_CUDA_BF16; p++) {
        pe_cuda_options o = enc_cuda_options_default();
        o.precision = (pe_cuda_precision)p;
        pe_encoder_cuda *cu = NULL;
        pe_error err;
        pe_error_clear(&err);
        PE_CHECK_MSG(enc_cuda_new_ex(&m.cfg, &m.w, &o, &cu, &err) == PE_OK, "%s", err.msg);
        if (!cu) continue;
        memset(got, 0xff, TC * sizeof(float));
        PE_CHECK_MSG(enc_forward_cuda_ex(cu, &bt.b, -1, got, pg, &err) == PE_OK, "forward: %s", err.msg);
        char what[64];
        snprintf(what, sizeof what, "C=%d, %d tokens, last layer", C, bt.b.n_tokens);
        compare_tol(what, (pe_cuda_precision)p, got, want, TC, bounds[p][0], bounds[p][1]);
        compare_tol("  and its pooler", (pe_cuda_precision)p, pg, pw, BC, bounds[p][0], bounds[p][1]);
        enc_cuda_free(cu);
    }
    free(want);
    free(got);
    free(pw);
    free(pg);
    batch_free(&bt);
    model_free(&m);
}

static void test_parity_hidden_1024(void)
{
    static const int lens[] = {128, 77, 1, 33, 128};
    check_large(100, 1024, 16, 4096, 128, lens, 5);
}

static void test_parity_hidden_4096(void)
{
    static const int lens[] = {16, 3, 9};
    check_large(10, 4096, 32, 512, 16, lens, 3);
}

/* Sequences of 512 tokens: 16 columns a lane in the softmax, the default
 * attention budget split into chunks. */
static void test_long_sequences(void)
{
    model m;
    PE_CHECK(model_make(&m, 50, 64, 2, 4, 128, 512, 1) == 0);
    static const int lens[] = {512, 300, 1, 129, 512};
    batch bt;
    batch_make(&bt, &m, lens, 5);
    const size_t TC = (size_t)bt.b.n_tokens * 64;
    float *want = malloc(TC * sizeof(float)), *got = malloc(TC * sizeof(float)), *pw = malloc(5 * 64 * sizeof(float)),
          *pg = malloc(5 * 64 * sizeof(float));
    ref_forward(&m, &bt.b, 2, want, pw);
    const size_t budgets[] = {0, (size_t)2 * 4 * 512 * 512 * sizeof(float)}; /* default; 2 sequences a chunk */
    for (int i = 0; i < 2; i++) {
        pe_cuda_options o = enc_cuda_options_default();
        o.attn_budget_bytes = budgets[i];
        pe_encoder_cuda *cu = NULL;
        pe_error err;
        pe_error_clear(&err);
        PE_CHECK_MSG(enc_cuda_new_ex(&m.cfg, &m.w, &o, &cu, &err) == PE_OK, "%s", err.msg);
        if (!cu) continue;
        memset(got, 0xff, TC * sizeof(float));
        PE_CHECK_MSG(enc_forward_cuda_ex(cu, &bt.b, -1, got, pg, &err) == PE_OK, "%s", err.msg);
        compare(i ? "512 tokens, 2 sequences a chunk" : "512 tokens, default budget", PE_CUDA_FP32, got, want, TC);
        compare("  and its pooler", PE_CUDA_FP32, pg, pw, 5 * 64);
        enc_cuda_free(cu);
    }
    free(want);
    free(got);
    free(pw);
    free(pg);
    batch_free(&bt);
    model_free(&m);
}

/* Two threads, a handle each, on one device at the same time. */
typedef struct job {
    const model *m;
    const batch *bt;
    const float *want;
    double diff;
    char msg[256];
} job;

static void *thread_main(void *arg)
{
    job *j = arg;
    pe_encoder_cuda *cu = NULL;
    pe_error err;
    pe_error_clear(&err);
    j->diff = INFINITY;
    if (enc_cuda_new_ex(&j->m->cfg, &j->m->w, NULL, &cu, &err) != PE_OK) {
        snprintf(j->msg, sizeof j->msg, "%.200s", err.msg);
        return NULL;
    }
    const size_t TC = (size_t)j->bt->b.n_tokens * j->m->cfg.hidden;
    float *got = malloc(TC * sizeof(float));
    j->diff = 0.0;
    for (int it = 0; it < 20 && j->diff <= 1e-4; it++) {
        if (enc_forward_cuda(cu, &j->bt->b, -1, got, &err) != PE_OK) {
            snprintf(j->msg, sizeof j->msg, "%.200s", err.msg);
            j->diff = INFINITY;
            break;
        }
        for (size_t i = 0; i < TC; i++) {
            const double d = fabs((double)got[i] - j->want[i]);
            if (!(d <= j->diff)) j->diff = d;
        }
    }
    free(got);
    enc_cuda_free(cu);
    return NULL;
}

static void test_threads(void)
{
    model m;
    PE_CHECK(model_make(&m, 40, 64, 2, 4, 128, 64, 0) == 0);
    static const int lens[] = {9, 37, 4, 64};
    batch bt;
    batch_make(&bt, &m, lens, 4);
    float *want = malloc((size_t)bt.b.n_tokens * 64 * sizeof(float));
    ref_forward(&m, &bt.b, 2, want, NULL);
    job jobs[2] = {{&m, &bt, want, 0, ""}, {&m, &bt, want, 0, ""}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++) PE_CHECK(pthread_create(&th[i], NULL, thread_main, &jobs[i]) == 0);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 2; i++) {
        fprintf(stderr, "  thread %d: 20 forwards, max |diff| %.3g %s\n", i, jobs[i].diff, jobs[i].msg);
        PE_CHECK_MSG(jobs[i].diff <= 1e-4, "thread %d: %g %s", i, jobs[i].diff, jobs[i].msg);
    }
    free(want);
    batch_free(&bt);
    model_free(&m);
}
/* C > 256 threads per LayerNorm block, D = 48 (not a power of two). */
static void test_parity_wide(void) { check_model(30, 288, 2, 6, 640, 48); }

/* A sequence gives the same result alone and inside a batch. */
static void test_batch_independence(void)
{
    model m;
    PE_CHECK(model_make(&m, 40, 64, 2, 4, 128, 64, 0) == 0);
    pe_encoder_cuda *cu = NULL;
    pe_error err;
    pe_error_clear(&err);
    PE_CHECK_MSG(enc_cuda_new_ex(&m.cfg, &m.w, NULL, &cu, &err) == PE_OK, "%s", err.msg);
    if (cu) {
        static const int lens[] = {9, 37, 4};
        batch bt;
        batch_make(&bt, &m, lens, 3);
        const int C = m.cfg.hidden;
        float *all = malloc((size_t)bt.b.n_tokens * C * sizeof(float)), *one = malloc(37 * (size_t)C * sizeof(float));
        PE_CHECK(enc_forward_cuda(cu, &bt.b, -1, all, &err) == PE_OK);
        int off1[2] = {0, 37};
        pe_encoder_batch b1 = {1, 37, 37, bt.ids + 9, bt.types + 9, bt.pos + 9, off1};
        PE_CHECK(enc_forward_cuda(cu, &b1, -1, one, &err) == PE_OK);
        double max = 0.0;
        for (size_t i = 0; i < 37 * (size_t)C; i++) {
            const double d = fabs((double)one[i] - all[9 * (size_t)C + i]);
            if (d > max) max = d;
        }
        PE_CHECK_MSG(max <= 1e-5, "alone vs in batch: max |diff| %g", max);
        free(all);
        free(one);
        batch_free(&bt);
    }
    enc_cuda_free(cu);
    model_free(&m);
}

/* Attention in chunks of sequences (a small scores budget) gives the same
 * result as the whole batch at once. */
static void test_attention_chunks(void)
{
    model m;
    PE_CHECK(model_make(&m, 40, 64, 2, 4, 128, 64, 1) == 0);
    static const int lens[] = {7, 1, 40, 33, 2, 17, 5};
    batch bt;
    batch_make(&bt, &m, lens, 7);
    const size_t TC = (size_t)bt.b.n_tokens * 64;
    float *want = malloc(TC * sizeof(float)), *got = malloc(TC * sizeof(float)), *pw = malloc(7 * 64 * sizeof(float)),
          *pg = malloc(7 * 64 * sizeof(float));
    ref_forward(&m, &bt.b, 2, want, pw);
    /* 1 byte: one sequence per chunk; 2 sequences of 40 tokens; 3 */
    const size_t budgets[] = {1, 2 * 4 * 40 * 40 * sizeof(float), 3 * 4 * 40 * 40 * sizeof(float) + 5};
    for (int i = 0; i < 3; i++) {
        pe_cuda_options o = enc_cuda_options_default();
        o.attn_budget_bytes = budgets[i];
        pe_encoder_cuda *cu = NULL;
        pe_error err;
        pe_error_clear(&err);
        PE_CHECK_MSG(enc_cuda_new_ex(&m.cfg, &m.w, &o, &cu, &err) == PE_OK, "%s", err.msg);
        if (!cu) continue;
        memset(got, 0xff, TC * sizeof(float));
        PE_CHECK_MSG(enc_forward_cuda_ex(cu, &bt.b, -1, got, pg, &err) == PE_OK, "%s", err.msg);
        char what[64];
        snprintf(what, sizeof what, "chunked attention, budget %zu B", budgets[i]);
        compare(what, PE_CUDA_FP32, got, want, TC);
        compare("  and its pooler", PE_CUDA_FP32, pg, pw, 7 * 64);
        enc_cuda_free(cu);
    }
    free(want);
    free(got);
    free(pw);
    free(pg);
    batch_free(&bt);
    model_free(&m);
}

/* Bad batches: clear errors, and the handle still works afterwards. */
static void test_bad_batches(void)
{
    model m;
    PE_CHECK(model_make(&m, 40, 64, 1, 4, 128, 16, 0) == 0);
    pe_encoder_cuda *cu = NULL;
    pe_error err;
    pe_error_clear(&err);
    PE_CHECK_MSG(enc_cuda_new_ex(&m.cfg, &m.w, NULL, &cu, &err) == PE_OK, "%s", err.msg);
    if (cu) {
        static const int lens[] = {3, 4};
        batch bt;
        batch_make(&bt, &m, lens, 2);
        float *out = malloc((size_t)7 * 64 * sizeof(float)), *pooled = malloc(2 * 64 * sizeof(float));
        bt.ids[5] = 40;
        PE_CHECK_EQ_INT(enc_forward_cuda(cu, &bt.b, -1, out, &err), PE_ERR_INVALID);
        PE_CHECK(strstr(err.msg, "id 40") != NULL);
        bt.ids[5] = 1;
        bt.types[2] = 2;
        PE_CHECK_EQ_INT(enc_forward_cuda(cu, &bt.b, -1, out, &err), PE_ERR_INVALID);
        bt.types[2] = 0;
        PE_CHECK_EQ_INT(enc_forward_cuda(cu, &bt.b, 2, out, &err), PE_ERR_INVALID); /* 1 layer */
        PE_CHECK_EQ_INT(enc_forward_cuda_ex(cu, &bt.b, -1, out, pooled, &err), PE_ERR_UNSUPPORTED);
        bt.offsets[1] = 5;
        bt.offsets[2] = 4;
        PE_CHECK_EQ_INT(enc_forward_cuda(cu, &bt.b, -1, out, &err), PE_ERR_INVALID);
        bt.offsets[1] = 3;
        bt.offsets[2] = 7;
        static const int long_len[] = {17};
        batch lb;
        batch_make(&lb, &m, long_len, 1);
        for (int i = 0; i < 17; i++) lb.pos[i] = i % 16; /* positions fine, length too long */
        float *lout = malloc((size_t)17 * 64 * sizeof(float));
        PE_CHECK_EQ_INT(enc_forward_cuda(cu, &lb.b, -1, lout, &err), PE_ERR_INVALID);
        PE_CHECK(strstr(err.msg, "17 tokens") != NULL);
        free(lout);
        batch_free(&lb);
        PE_CHECK_MSG(enc_forward_cuda(cu, &bt.b, -1, out, &err) == PE_OK, "%s", err.msg);
        float *want = malloc((size_t)7 * 64 * sizeof(float));
        ref_forward(&m, &bt.b, 1, want, NULL);
        compare("after errors", PE_CUDA_FP32, out, want, (size_t)7 * 64);
        free(want);
        free(out);
        free(pooled);
        batch_free(&bt);
    }
    enc_cuda_free(cu);
    model_free(&m);
}

/* ---- the public API on the PyTorch fixture ---- */

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    if (buf) buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Max |got - want[i]| over the numbers of JSON array want (n of them). */
static double json_diff(const cJSON *want, const float *got, size_t n)
{
    if (!cJSON_IsArray(want) || (size_t)cJSON_GetArraySize(want) != n) return INFINITY;
    double m = 0.0;
    size_t i = 0;
    for (const cJSON *e = want->child; e; e = e->next, i++) m = fmax(m, fabs((double)got[i] - e->valuedouble));
    return m;
}

static pe_encoder *load_fixture(const char *dir, pe_encoder_backend be)
{
    pe_encoder_options o = pe_encoder_options_default();
    o.backend = be;
    o.threads = 2;
    pe_encoder *enc = NULL;
    pe_error err;
    pe_error_clear(&err);
    pe_status st = pe_encoder_load(dir, &o, &enc, &err);
    PE_CHECK_MSG(st == PE_OK, "%s: %s", dir, err.msg);
    return enc;
}

/* AUTO falls back to the CPU (with a warning) when the device is there but
 * cannot be opened; CUDA asked for by name fails instead. */
static void test_auto_fallback(void)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/encoder/tiny-f32", PE_FIXTURES);
    const char *old = getenv("PE_CUDA_DEVICE");
    char *keep = old ? strdup(old) : NULL;
    setenv("PE_CUDA_DEVICE", "4096", 1); /* no such device */
    pe_encoder_options o = pe_encoder_options_default();
    o.backend = PE_ENCODER_AUTO;
    pe_encoder *enc = NULL;
    pe_error err;
    pe_error_clear(&err);
    PE_CHECK_MSG(pe_encoder_load(dir, &o, &enc, &err) == PE_OK, "%s", err.msg);
    if (enc) {
        pe_encoder_info info;
        pe_encoder_get_info(enc, &info);
        PE_CHECK_EQ_STR(info.backend, "cpu");
    }
    pe_encoder_free(enc);
    enc = NULL;
    o.backend = PE_ENCODER_CUDA;
    PE_CHECK(pe_encoder_load(dir, &o, &enc, &err) != PE_OK);
    pe_encoder_free(enc);
    if (keep) setenv("PE_CUDA_DEVICE", keep, 1);
    else unsetenv("PE_CUDA_DEVICE");
    free(keep);
}

static void test_fixture_vs_pytorch(void)
{
    char dir[1024], path[1100];
    snprintf(dir, sizeof dir, "%s/encoder/tiny-f32", PE_FIXTURES);
    snprintf(path, sizeof path, "%s/encoder/expected.json", PE_FIXTURES);
    char *text = read_text(path);
    if (!text) {
        fprintf(stderr, "  %s absent: fixture comparison not run\n", path);
        return;
    }
    cJSON *exp = cJSON_Parse(text);
    free(text);
    PE_CHECK(exp != NULL);
    const cJSON *seqs = cJSON_GetObjectItem(exp, "sequences"), *f32 = cJSON_GetObjectItem(exp, "f32");
    const int n = cJSON_GetArraySize(seqs);
    int T = 0, i = 0;
    for (const cJSON *e = seqs ? seqs->child : NULL; e; e = e->next) T += cJSON_GetArraySize(cJSON_GetObjectItem(e, "ids"));
    int32_t *ids = malloc((size_t)(T + 1) * sizeof *ids), *types = malloc((size_t)(T + 1) * sizeof *types);
    int *lens = malloc((size_t)(n + 1) * sizeof *lens);
    int t = 0;
    for (const cJSON *e = seqs ? seqs->child : NULL; e; e = e->next, i++) {
        const cJSON *a = cJSON_GetObjectItem(e, "ids"), *b = cJSON_GetObjectItem(e, "type_ids");
        lens[i] = cJSON_GetArraySize(a);
        for (int j = 0; j < lens[i]; j++, t++) {
            ids[t] = cJSON_GetArrayItem(a, j)->valueint;
            types[t] = cJSON_GetArrayItem(b, j)->valueint;
        }
    }
    unsetenv("PE_CUDA_PRECISION");
    pe_encoder *gpu = load_fixture(dir, PE_ENCODER_CUDA), *cpu = load_fixture(dir, PE_ENCODER_CPU);
    if (gpu && cpu && T > 0) {
        pe_encoder_info info;
        pe_encoder_get_info(gpu, &info);
        PE_CHECK_EQ_STR(info.backend, "cuda");
        const int C = pe_encoder_hidden_size(gpu);
        const size_t TC = (size_t)T * C;
        float *hg = malloc(TC * sizeof(float)), *hc = malloc(TC * sizeof(float)),
              *pg = malloc((size_t)n * C * sizeof(float));
        PE_CHECK_MSG(pe_encoder_forward(gpu, ids, types, lens, n, -1, hg) == PE_OK, "%s", pe_encoder_errmsg(gpu));
        PE_CHECK_MSG(pe_encoder_forward(cpu, ids, types, lens, n, -1, hc) == PE_OK, "%s", pe_encoder_errmsg(cpu));
        double d = json_diff(cJSON_GetObjectItem(f32, "last"), hg, TC);
        fprintf(stderr, "  fixture (%d seq, %d tokens) last layer: CUDA vs PyTorch %.3g\n", n, T, d);
        PE_CHECK_MSG(d <= 1e-4, "CUDA vs PyTorch, last layer: %g", d);
        double dc = 0.0;
        for (size_t k = 0; k < TC; k++) dc = fmax(dc, fabs((double)hg[k] - hc[k]));
        fprintf(stderr, "  fixture last layer: CUDA vs CPU backend %.3g\n", dc);
        PE_CHECK_MSG(dc <= 1e-4, "CUDA vs CPU backend: %g", dc);
        PE_CHECK(pe_encoder_forward(gpu, ids, NULL, lens, n, 1, hg) == PE_OK);
        PE_CHECK(pe_encoder_forward(cpu, ids, NULL, lens, n, 1, hc) == PE_OK);
        dc = 0.0;
        for (size_t k = 0; k < TC; k++) dc = fmax(dc, fabs((double)hg[k] - hc[k]));
        PE_CHECK_MSG(dc <= 1e-4, "CUDA vs CPU backend, layer 1, no type ids: %g", dc);
        /* the CUDA path keeps no CPU compute workspace nor prepared CPU weights */
        PE_CHECK(gpu->ws.qkv == NULL && gpu->ws.ctx == NULL && gpu->ws.ffn == NULL && gpu->ws.att == NULL);
        PE_CHECK(gpu->lin == NULL);
        PE_CHECK(gpu->ws.positions != NULL && gpu->ws.offsets != NULL);
        PE_CHECK(pe_encoder_forward(gpu, ids, types, lens, n, 1, hg) == PE_OK);
        d = json_diff(cJSON_GetObjectItem(f32, "layer1"), hg, TC);
        PE_CHECK_MSG(d <= 1e-4, "CUDA vs PyTorch, layer 1: %g", d);
        /* the pooler on the device, through the encoder's CUDA handle */
        pe_error err;
        pe_error_clear(&err);
        int *off = malloc((size_t)(n + 1) * sizeof *off);
        int32_t *pos = malloc((size_t)(T + 1) * sizeof *pos);
        off[0] = 0;
        for (int s = 0, u = 0; s < n; s++) {
            for (int j = 0; j < lens[s]; j++) pos[u++] = j;
            off[s + 1] = off[s] + lens[s];
        }
        int maxlen = 0;
        for (int s = 0; s < n; s++) maxlen = lens[s] > maxlen ? lens[s] : maxlen;
        pe_encoder_batch b = {n, T, maxlen, ids, types, pos, off};
        PE_CHECK_MSG(enc_forward_cuda_ex(gpu->cuda, &b, -1, NULL, pg, &err) == PE_OK, "%s", err.msg);
        d = json_diff(cJSON_GetObjectItem(f32, "pooler"), pg, (size_t)n * C);
        PE_CHECK_MSG(d <= 1e-4, "CUDA pooler vs PyTorch: %g", d);
        free(off);
        free(pos);
        free(hg);
        free(hc);
        free(pg);
    }
    pe_encoder_free(gpu);
    pe_encoder_free(cpu);
    /* the environment picks the precision of the encoder's CUDA handle */
    setenv("PE_CUDA_PRECISION", "tf32", 1);
    pe_encoder *tf = load_fixture(dir, PE_ENCODER_AUTO);
    if (tf) {
        PE_CHECK(tf->cuda != NULL);
        if (tf->cuda) PE_CHECK_EQ_INT(enc_cuda_precision(tf->cuda), PE_CUDA_TF32);
    }
    pe_encoder_free(tf);
    unsetenv("PE_CUDA_PRECISION");
    /* the precision option, and the environment over it */
    {
        pe_encoder_options po = pe_encoder_options_default();
        po.backend = PE_ENCODER_CUDA;
        po.precision = PE_PRECISION_BF16;
        pe_encoder *bf = NULL;
        pe_error perr;
        pe_error_clear(&perr);
        PE_CHECK_MSG(pe_encoder_load(dir, &po, &bf, &perr) == PE_OK, "%s", perr.msg);
        if (bf) {
            pe_encoder_info bi;
            pe_encoder_get_info(bf, &bi);
            PE_CHECK_EQ_STR(bi.precision, "bf16");
            PE_CHECK_EQ_INT(enc_cuda_precision(bf->cuda), PE_CUDA_BF16);
        }
        pe_encoder_free(bf);
        setenv("PE_CUDA_PRECISION", "fp32", 1);
        bf = NULL;
        PE_CHECK_MSG(pe_encoder_load(dir, &po, &bf, &perr) == PE_OK, "%s", perr.msg);
        if (bf) PE_CHECK_EQ_INT(enc_cuda_precision(bf->cuda), PE_CUDA_FP32);
        pe_encoder_free(bf);
    }
    setenv("PE_CUDA_PRECISION", "fp64", 1);
    pe_encoder *bad = NULL;
    pe_encoder_options o = pe_encoder_options_default();
    o.backend = PE_ENCODER_CUDA;
    pe_error err;
    pe_error_clear(&err);
    PE_CHECK_EQ_INT(pe_encoder_load(dir, &o, &bad, &err), PE_ERR_INVALID);
    PE_CHECK(bad == NULL);
    PE_CHECK(strstr(err.msg, "fp64") != NULL);
    unsetenv("PE_CUDA_PRECISION");
    free(ids);
    free(types);
    free(lens);
    cJSON_Delete(exp);
}

int main(int argc, char **argv)
{
    pe_error why;
    pe_error_clear(&why);
    if (enc_cuda_probe(&why) <= 0) {
        fprintf(stderr, "skip: %s\n", why.msg);
        return PE_SKIP_CODE;
    }
    char desc[256];
    if (enc_cuda_describe(0, desc, sizeof desc, &why) == PE_OK) fprintf(stderr, "device 0: %s\n", desc);
    const char *only = argc > 2 && strcmp(argv[1], "--only") == 0 ? argv[2] : "";
#define RUN_IF(fn) do { if (strstr(#fn, only)) PE_RUN(fn); } while (0)
    RUN_IF(test_parity_small);
    RUN_IF(test_parity_wide);
    RUN_IF(test_parity_hidden_1024);
    RUN_IF(test_parity_hidden_4096);
    RUN_IF(test_long_sequences);
    RUN_IF(test_batch_independence);
    RUN_IF(test_attention_chunks);
    RUN_IF(test_bad_batches);
    RUN_IF(test_threads);
    RUN_IF(test_fixture_vs_pytorch);
    RUN_IF(test_auto_fallback);
#undef RUN_IF
    PE_TEST_EXIT();
}
