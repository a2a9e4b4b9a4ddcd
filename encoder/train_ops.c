/* train_ops.c - forward and backward of the training path's ops (see
 * train_ops.h). Products through OpenBLAS sgemm; the rest plain loops:
 * correctness first, they are O(T C) beside the O(T C^2) products. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "train_ops.h"

#define EW_CHUNK_LN ((size_t)1 << 14) /* elements of a LayerNorm row block */

/* ---- linear ---- */

/* The bias rows of the forward and the column sums of the backward run on
 * the kernels' pool over large arrays (rows, or columns each summed over
 * the rows in order): the same values as the serial loops. */
#define LIN_MIN_PARALLEL ((size_t)1 << 17)

typedef struct bias_job {
    const float *b, *dy;
    float *y, *db;
    int M, N, per_task;
} bias_job;

static void bias_rows_task(void *ctx, int t, int tid)
{
    (void)tid;
    const bias_job *j = ctx;
    const int i0 = t * j->per_task, i1 = i0 + j->per_task < j->M ? i0 + j->per_task : j->M;
    for (int i = i0; i < i1; i++) {
        float *r = j->y + (size_t)i * j->N;
        if (j->b) memcpy(r, j->b, (size_t)j->N * sizeof *r);
        else memset(r, 0, (size_t)j->N * sizeof *r);
    }
}

static void colsum(const float *dy, float *db, int M, int N, int c0, int c1)
{
    for (int i = 0; i < M; i++) {
        const float *r = dy + (size_t)i * N;
        for (int k = c0; k < c1; k++) db[k] += r[k];
    }
}

static void colsum_task(void *ctx, int t, int tid)
{
    (void)tid;
    const bias_job *j = ctx;
    const int c0 = t * j->per_task, c1 = c0 + j->per_task < j->N ? c0 + j->per_task : j->N;
    colsum(j->dy, j->db, j->M, j->N, c0, c1);
}

void pe_tr_linear_fwd(const float *x, const float *W, const float *b, float *y, int M, int N, int K)
{
    if (M <= 0) return;
    bias_job j = {.b = b, .y = y, .M = M, .N = N, .per_task = 1};
    if ((size_t)M * (size_t)N < LIN_MIN_PARALLEL || M < 2) {
        j.per_task = M;
        bias_rows_task(&j, 0, 0);
    } else {
        j.per_task = (int)(((size_t)1 << 15) / (size_t)N) > 0 ? (int)(((size_t)1 << 15) / (size_t)N) : 1;
        pe_kernels_parallel((M + j.per_task - 1) / j.per_task, bias_rows_task, &j);
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, x, K, W, K, 1.0f, y, N);
}

void pe_tr_linear_bwd(const float *x, const float *W, const float *dy, float *dx, float beta, float *dW, float *db,
                      int M, int N, int K)
{
    if (M <= 0) return;
    if (dx) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, K, N, 1.0f, dy, N, W, K, beta, dx, K);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, N, K, M, 1.0f, dy, N, x, K, 1.0f, dW, K);
    if (!db) return;
    if ((size_t)M * (size_t)N < LIN_MIN_PARALLEL || N < 32) {
        colsum(dy, db, M, N, 0, N);
        return;
    }
    /* one contiguous block of columns per thread (long runs of each row for
     * the prefetcher); the blocking does not change any sum */
    const int nt = pe_kernels_threads() > 0 ? pe_kernels_threads() : 1;
    bias_job j = {.dy = dy, .db = db, .M = M, .N = N, .per_task = ((N + nt - 1) / nt + 15) / 16 * 16};
    pe_kernels_parallel((N + j.per_task - 1) / j.per_task, colsum_task, &j);
}

/* ---- LayerNorm ---- */

/* Over many elements the rows (forward, the input gradient) and the
 * columns (dg, db: each column summed over the rows in order) run on the
 * kernels' pool in fixed blocks; every value is the same as in the serial
 * loop. */
#define LN_MIN_PARALLEL ((size_t)1 << 16)

typedef struct ln_job {
    const float *x, *g, *b, *dy, *xhat, *rstd;
    float *y, *xh, *rs, *dx, *dg, *db;
    int rows, n, rows_per_task, cols_per_task;
    float eps;
} ln_job;

static void ln_fwd_rows(const ln_job *j, int i0, int i1)
{
    const int n = j->n;
    for (int i = i0; i < i1; i++) {
        const float *xr = j->x + (size_t)i * n;
        float *yr = j->y + (size_t)i * n, *hr = j->xh + (size_t)i * n;
        double s = 0.0, q = 0.0;
        for (int k = 0; k < n; k++) s += xr[k];
        const double mean = s / n;
        for (int k = 0; k < n; k++) {
            double d = xr[k] - mean;
            q += d * d;
        }
        const float inv = (float)(1.0 / sqrt(q / n + (double)j->eps)), m = (float)mean;
        j->rs[i] = inv;
        for (int k = 0; k < n; k++) {
            float h = (xr[k] - m) * inv;
            hr[k] = h;
            yr[k] = h * j->g[k] + j->b[k];
        }
    }
}

static void ln_fwd_task(void *ctx, int t, int tid)
{
    (void)tid;
    const ln_job *j = ctx;
    const int i0 = t * j->rows_per_task, i1 = i0 + j->rows_per_task < j->rows ? i0 + j->rows_per_task : j->rows;
    ln_fwd_rows(j, i0, i1);
}

void pe_tr_layernorm_fwd(const float *x, const float *g, const float *b, float *y, float *xhat, float *rstd, int rows,
                         int n, float eps)
{
    ln_job j = {.x = x, .g = g, .b = b, .y = y, .xh = xhat, .rs = rstd, .rows = rows, .n = n, .eps = eps};
    if ((size_t)rows * (size_t)n < LN_MIN_PARALLEL || rows < 2) {
        ln_fwd_rows(&j, 0, rows);
        return;
    }
    j.rows_per_task = (int)(EW_CHUNK_LN / (size_t)n) > 0 ? (int)(EW_CHUNK_LN / (size_t)n) : 1;
    pe_kernels_parallel((rows + j.rows_per_task - 1) / j.rows_per_task, ln_fwd_task, &j);
}

/* dg, db of columns [c0, c1): each summed over the rows in order */
static void ln_bwd_cols(const ln_job *j, int c0, int c1)
{
    const int n = j->n;
    for (int i = 0; i < j->rows; i++) {
        const float *dr = j->dy + (size_t)i * n, *hr = j->xhat + (size_t)i * n;
        for (int k = c0; k < c1; k++) {
            j->dg[k] += dr[k] * hr[k];
            j->db[k] += dr[k];
        }
    }
}

/* dx of rows [i0, i1) */
static void ln_bwd_rows(const ln_job *j, int i0, int i1)
{
    const int n = j->n;
    const float *g = j->g;
    for (int i = i0; i < i1; i++) {
        const float *dr = j->dy + (size_t)i * n, *hr = j->xhat + (size_t)i * n;
        float *xr = j->dx + (size_t)i * n;
        double s1 = 0.0, s2 = 0.0;
        for (int k = 0; k < n; k++) {
            double dh = (double)dr[k] * g[k];
            s1 += dh;
            s2 += dh * hr[k];
        }
        const float m1 = (float)(s1 / n), m2 = (float)(s2 / n);
        for (int k = 0; k < n; k++) xr[k] = j->rstd[i] * (dr[k] * g[k] - m1 - hr[k] * m2);
    }
}

static void ln_bwd_cols_task(void *ctx, int t, int tid)
{
    (void)tid;
    const ln_job *j = ctx;
    const int c0 = t * j->cols_per_task, c1 = c0 + j->cols_per_task < j->n ? c0 + j->cols_per_task : j->n;
    ln_bwd_cols(j, c0, c1);
}

static void ln_bwd_rows_task(void *ctx, int t, int tid)
{
    (void)tid;
    const ln_job *j = ctx;
    const int i0 = t * j->rows_per_task, i1 = i0 + j->rows_per_task < j->rows ? i0 + j->rows_per_task : j->rows;
    ln_bwd_rows(j, i0, i1);
}

void pe_tr_layernorm_bwd(const float *dy, const float *xhat, const float *rstd, const float *g, float *dx, float *dg,
                         float *db, int rows, int n)
{
    ln_job j = {.dy = dy, .xhat = xhat, .rstd = rstd, .g = g, .dx = dx, .dg = dg, .db = db, .rows = rows, .n = n};
    /* dg, db first: dx may alias dy */
    if ((size_t)rows * (size_t)n < LN_MIN_PARALLEL || rows < 2 || n < 32) {
        ln_bwd_cols(&j, 0, n);
        ln_bwd_rows(&j, 0, rows);
        return;
    }
    const int nt = pe_kernels_threads() > 0 ? pe_kernels_threads() : 1; /* as in pe_tr_linear_bwd */
    j.cols_per_task = ((n + nt - 1) / nt + 15) / 16 * 16;
    pe_kernels_parallel((n + j.cols_per_task - 1) / j.cols_per_task, ln_bwd_cols_task, &j);
    j.rows_per_task = (int)(EW_CHUNK_LN / (size_t)n) > 0 ? (int)(EW_CHUNK_LN / (size_t)n) : 1;
    pe_kernels_parallel((rows + j.rows_per_task - 1) / j.rows_per_task, ln_bwd_rows_task, &j);
}

/* ---- GELU (exact, erf) ---- */

/* Elementwise ops over many elements run on the kernels' pool in fixed
 * chunks; each element's value is the same as in a serial loop. */
#define EW_CHUNK ((size_t)1 << 15)

typedef struct ew_job {
    const float *u, *dy;
    float *y;
    size_t n;
} ew_job;

static void gelu_fwd_range(const float *u, float *y, size_t i0, size_t i1)
{
    for (size_t i = i0; i < i1; i++) y[i] = 0.5f * u[i] * (1.0f + erff(u[i] * (float)M_SQRT1_2));
}

static void gelu_bwd_range(const float *u, const float *dy, float *du, size_t i0, size_t i1)
{
    const float inv_sqrt_2pi = 0.3989422804014327f;
    for (size_t i = i0; i < i1; i++) {
        float x = u[i];
        float cdf = 0.5f * (1.0f + erff(x * (float)M_SQRT1_2)), pdf = inv_sqrt_2pi * expf(-0.5f * x * x);
        du[i] = dy[i] * (cdf + x * pdf);
    }
}

static void gelu_fwd_task(void *ctx, int t, int tid)
{
    (void)tid;
    const ew_job *j = ctx;
    size_t i0 = (size_t)t * EW_CHUNK, i1 = i0 + EW_CHUNK < j->n ? i0 + EW_CHUNK : j->n;
    gelu_fwd_range(j->u, j->y, i0, i1);
}

static void gelu_bwd_task(void *ctx, int t, int tid)
{
    (void)tid;
    const ew_job *j = ctx;
    size_t i0 = (size_t)t * EW_CHUNK, i1 = i0 + EW_CHUNK < j->n ? i0 + EW_CHUNK : j->n;
    gelu_bwd_range(j->u, j->dy, j->y, i0, i1);
}

void pe_tr_gelu_fwd(const float *u, float *y, size_t n)
{
    if (n < 2 * EW_CHUNK) {
        gelu_fwd_range(u, y, 0, n);
        return;
    }
    ew_job j = {.u = u, .y = y, .n = n};
    pe_kernels_parallel((int)((n + EW_CHUNK - 1) / EW_CHUNK), gelu_fwd_task, &j);
}

void pe_tr_gelu_bwd(const float *u, const float *dy, float *du, size_t n)
{
    if (n < 2 * EW_CHUNK) {
        gelu_bwd_range(u, dy, du, 0, n);
        return;
    }
    ew_job j = {.u = u, .dy = dy, .y = du, .n = n};
    pe_kernels_parallel((int)((n + EW_CHUNK - 1) / EW_CHUNK), gelu_bwd_task, &j);
}

/* ---- dropout ---- */

static uint64_t mix64(uint64_t z)
{
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static size_t dropout_range_scalar(float *x, size_t i0, size_t i1, uint64_t key, uint32_t thr, float scale,
                                   uint64_t base)
{
    size_t zeroed = 0;
    for (size_t i = i0; i < i1; i++) {
        uint32_t r = (uint32_t)(mix64(key ^ (base + i)) >> 40);
        if (r < thr) {
            x[i] = 0.0f;
            zeroed++;
        } else {
            x[i] *= scale;
        }
    }
    return zeroed;
}

#if defined(__GNUC__) && defined(__x86_64__)
/* The same loop compiled for AVX-512 (64-bit multiplies in vectors): the
 * hash is integer arithmetic and the kept elements get the same single
 * multiply, so every value is that of the scalar loop. */
__attribute__((target("avx512f,avx512dq,avx512vl"))) static size_t
dropout_range_avx512(float *x, size_t i0, size_t i1, uint64_t key, uint32_t thr, float scale, uint64_t base)
{
    size_t zeroed = 0;
    for (size_t i = i0; i < i1; i++) {
        uint64_t z = (key ^ (base + i)) + 0x9E3779B97F4A7C15ull;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        const int drop = (uint32_t)(z >> 40) < thr;
        zeroed += (size_t)drop;
        x[i] = drop ? 0.0f : x[i] * scale;
    }
    return zeroed;
}

static int have_avx512(void)
{
    static int v = -1;
    if (v < 0) v = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
                   __builtin_cpu_supports("avx512vl");
    return v;
}
#endif

static size_t dropout_range(float *x, size_t i0, size_t i1, uint64_t key, uint32_t thr, float scale, uint64_t base)
{
#if defined(__GNUC__) && defined(__x86_64__)
    if (have_avx512()) return dropout_range_avx512(x, i0, i1, key, thr, scale, base);
#endif
    return dropout_range_scalar(x, i0, i1, key, thr, scale, base);
}

/* Dropout over large arrays runs on the pool in fixed chunks; each
 * element's mask depends on its index only. The attention probabilities'
 * (sequence, head) blocks (len^2 elements) stay in the caller: with the
 * vector hash a block takes microseconds, less than handing it to the
 * pool costs. */
#define DO_CHUNK EW_CHUNK

typedef struct do_job {
    float *x;
    size_t n;
    uint64_t key, base;
    uint32_t thr;
    float scale;
    size_t *zeroed; /* (tasks) */
} do_job;

static void dropout_task(void *ctx, int t, int tid)
{
    (void)tid;
    do_job *j = ctx;
    size_t i0 = (size_t)t * DO_CHUNK, i1 = i0 + DO_CHUNK < j->n ? i0 + DO_CHUNK : j->n;
    j->zeroed[t] = dropout_range(j->x, i0, i1, j->key, j->thr, j->scale, j->base);
}

size_t pe_tr_dropout(float *x, size_t n, float p, uint64_t seed, uint64_t stream, uint64_t base)
{
    if (!(p > 0.0f)) return 0;
    if (p >= 1.0f) { /* torch: everything dropped */
        memset(x, 0, n * sizeof *x);
        return n;
    }
    const uint64_t key = mix64(seed ^ mix64(stream * 0xD1B54A32D192ED03ull));
    /* keep when the top 24 bits, as a fraction of 2^24, are >= p */
    const uint32_t thr = (uint32_t)((double)p * 16777216.0);
    const float scale = 1.0f / (1.0f - p);
    if (n < 2 * DO_CHUNK || pe_kernels_threads() < 2) return dropout_range(x, 0, n, key, thr, scale, base);
    const int tasks = (int)((n + DO_CHUNK - 1) / DO_CHUNK);
    size_t local[64], *zeroed = tasks <= 64 ? local : malloc((size_t)tasks * sizeof *zeroed);
    if (!zeroed) return dropout_range(x, 0, n, key, thr, scale, base);
    do_job j = {.x = x, .n = n, .key = key, .base = base, .thr = thr, .scale = scale, .zeroed = zeroed};
    pe_kernels_parallel(tasks, dropout_task, &j);
    size_t z = 0;
    for (int t = 0; t < tasks; t++) z += zeroed[t];
    if (zeroed != local) free(zeroed);
    return z;
}

/* ---- attention ---- */

size_t pe_tr_attention_probs_floats(const int *offsets, int n_seq, int H)
{
    size_t n = 0;
    for (int s = 0; s < n_seq; s++) {
        size_t len = (size_t)(offsets[s + 1] - offsets[s]);
        n += (size_t)H * len * len;
    }
    return n;
}

void pe_tr_attention_fwd(const float *qkv, float *ctx, float *probs, float *scratch, const int *offsets, int n_seq,
                         int H, int D, float p, uint64_t seed, uint64_t stream)
{
    const int C = H * D, C3 = 3 * C;
    const float scale = 1.0f / sqrtf((float)D);
    size_t poff = 0;
    for (int s = 0; s < n_seq; s++) {
        const int t0 = offsets[s], len = offsets[s + 1] - t0;
        for (int h = 0; h < H; h++, poff += (size_t)len * len) {
            const float *q = qkv + (size_t)t0 * C3 + h * D, *k = q + C, *v = q + 2 * C;
            float *P = probs + poff;
            /* P (len,len) = scale q k^T, then softmax per row */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, len, len, D, scale, q, C3, k, C3, 0.0f, P, len);
            for (int i = 0; i < len; i++) {
                float *r = P + (size_t)i * len, mx = r[0];
                for (int j = 1; j < len; j++) mx = r[j] > mx ? r[j] : mx;
                double sum = 0.0;
                for (int j = 0; j < len; j++) {
                    r[j] = expf(r[j] - mx);
                    sum += r[j];
                }
                const float inv = (float)(1.0 / sum);
                for (int j = 0; j < len; j++) r[j] *= inv;
            }
            const float *Pd = P;
            if (p > 0.0f) {
                memcpy(scratch, P, (size_t)len * len * sizeof *scratch);
                pe_tr_dropout(scratch, (size_t)len * len, p, seed, stream, poff);
                Pd = scratch;
            }
            /* ctx (len, D) = Pd v */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, len, D, len, 1.0f, Pd, len, v, C3, 0.0f,
                        ctx + (size_t)t0 * C + h * D, C);
        }
    }
}

void pe_tr_attention_bwd(const float *qkv, const float *probs, const float *dctx, float *dqkv, float *scratch,
                         const int *offsets, int n_seq, int H, int D, float p, uint64_t seed, uint64_t stream)
{
    const int C = H * D, C3 = 3 * C;
    const float scale = 1.0f / sqrtf((float)D);
    size_t poff = 0;
    for (int s = 0; s < n_seq; s++) {
        const int t0 = offsets[s], len = offsets[s + 1] - t0;
        const size_t LL = (size_t)len * len;
        float *Pd = scratch, *dP = scratch + LL;
        for (int h = 0; h < H; h++, poff += LL) {
            const float *q = qkv + (size_t)t0 * C3 + h * D, *k = q + C, *v = q + 2 * C;
            const float *P = probs + poff, *dc = dctx + (size_t)t0 * C + h * D;
            float *dq = dqkv + (size_t)t0 * C3 + h * D, *dk = dq + C, *dv = dq + 2 * C;
            memcpy(Pd, P, LL * sizeof *Pd);
            pe_tr_dropout(Pd, LL, p, seed, stream, poff);
            /* dv (len,D) = Pd^T dc;  dPd (len,len) = dc v^T */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, len, D, len, 1.0f, Pd, len, dc, C, 0.0f, dv, C3);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, len, len, D, 1.0f, dc, C, v, C3, 0.0f, dP, len);
            pe_tr_dropout(dP, LL, p, seed, stream, poff); /* dP = mask * dPd */
            /* softmax: dS = P * (dP - rowsum(dP * P)) */
            for (int i = 0; i < len; i++) {
                const float *pr = P + (size_t)i * len;
                float *dr = dP + (size_t)i * len;
                double dot = 0.0;
                for (int j = 0; j < len; j++) dot += (double)dr[j] * pr[j];
                const float d = (float)dot;
                for (int j = 0; j < len; j++) dr[j] = pr[j] * (dr[j] - d);
            }
            /* S = scale q k^T: dq = scale dS k; dk = scale dS^T q */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, len, D, len, scale, dP, len, k, C3, 0.0f, dq, C3);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, len, D, len, scale, dP, len, q, C3, 0.0f, dk, C3);
        }
    }
}

/* ---- embeddings ---- */

void pe_tr_embed_fwd(const float *word, const float *pos, const float *type, const int32_t *ids,
                     const int32_t *positions, const int32_t *types, float *x, int T, int C)
{
    for (int t = 0; t < T; t++) {
        float *r = x + (size_t)t * C;
        const float *we = word + (size_t)ids[t] * C, *pe = pos + (size_t)positions[t] * C,
                    *te = type + (size_t)types[t] * C;
        for (int j = 0; j < C; j++) r[j] = we[j] + pe[j] + te[j];
    }
}

void pe_tr_embed_bwd(const float *dx, const int32_t *ids, const int32_t *positions, const int32_t *types,
                     float *dword, float *dpos, float *dtype, int T, int C)
{
    for (int t = 0; t < T; t++) {
        const float *r = dx + (size_t)t * C;
        float *w = dword + (size_t)ids[t] * C, *p = dpos + (size_t)positions[t] * C, *y = dtype + (size_t)types[t] * C;
        for (int j = 0; j < C; j++) {
            w[j] += r[j];
            p[j] += r[j];
            y[j] += r[j];
        }
    }
}
