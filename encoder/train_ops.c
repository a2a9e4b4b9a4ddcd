/* train_ops.c - forward and backward of the training path's ops (see
 * train_ops.h). On the AVX-512 path (enc_kernels_active()) the linear
 * layers' forward and the attention run on our kernels (kernels_avx512.c),
 * GELU, dropout and LayerNorm are vectorised (kernels_avx512_train.c); the
 * AVX2 path has the same ops (kernels_avx2.c); the element-wise work is cut
 * into pool tasks; the backward's products go through OpenBLAS sgemm, and everything on the
 * other paths is sgemm and plain loops. The paths agree to rounding (the
 * vector erf and exp are within a few ulp of libm's; dropout's mask is the
 * same bit for bit), and each is checked against PyTorch
 * (tests/test_train.c, tests/test_train_mlm.c). */
#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "pe_util.h"
#include "train_ops.h"

static int uses(pe_kernels_isa isa)
{
#if PE_KERNELS_X86
    return enc_kernels_active() == isa;
#else
    (void)isa;
    return 0;
#endif
}
static int use_avx512(void) { return uses(PE_KERNELS_AVX512); }
static int use_avx2(void) { return uses(PE_KERNELS_AVX2); }
static int use_vector(void) { return use_avx512() || use_avx2(); } /* AVX-512 or AVX2: the same ops on each */

/* ---- linear ----
 * Forward on the AVX-512 and AVX2 paths: W packed into the inference kernels' column
 * panels (the weights change every step, so once per call, on the pool, in
 * a buffer of the calling thread that grows and is freed when the thread
 * exits), then enc_k512_linear or enc_k256_linear with the bias in its epilogue. Backward
 * through OpenBLAS: dX = dY W and dW += dY^T X on our kernels (packing dY^T
 * and X per call) measured 0.88-0.99x sgemm at one thread here
 * (docs/BENCHMARKS.md). */

static __thread float *pack_buf;
static __thread size_t pack_cap;
static pthread_key_t pack_key;
static pthread_once_t pack_once = PTHREAD_ONCE_INIT;
static void pack_key_init(void) { pthread_key_create(&pack_key, free); }

static float *pack_space(size_t n)
{
    if (pack_buf && pack_cap >= n) return pack_buf;
    pthread_once(&pack_once, pack_key_init);
    float *p = aligned_alloc(64, (n * sizeof(float) + 63) & ~(size_t)63);
    if (!p) return NULL;
    free(pack_buf);
    pack_buf = p;
    pack_cap = n;
    pthread_setspecific(pack_key, p);
    return p;
}

#if PE_KERNELS_X86
#define PACK_PANELS 8 /* column panels of NR per pool task */

typedef struct pack_job {
    const float *W;
    float *Wp;
    int N, K;
    int avx2; /* AVX2 panels (PE_K256_NR) rather than AVX-512's */
} pack_job;

static void pack_task(void *ctx, int t, int tid)
{
    (void)tid;
    const pack_job *j = ctx;
    const int nr = j->avx2 ? PE_K256_NR : PE_K512_NR, per = PACK_PANELS * nr;
    const int n0 = t * per, n = j->N - n0 < per ? j->N - n0 : per;
    if (j->avx2) enc_k256_pack_weights(j->W + (size_t)n0 * j->K, n, j->K, j->Wp + (size_t)n0 * j->K);
    else enc_k512_pack_weights(j->W + (size_t)n0 * j->K, n, j->K, j->Wp + (size_t)n0 * j->K);
}

/* y (M, N) = x (M, K) W^T + b on the AVX-512 or AVX2 kernels; -1 (nothing
 * written) when a buffer could not be had. */
static int kern_linear_fwd(int avx2, const float *x, const float *W, const float *b, float *y, int M, int N, int K)
{
    float *Wp = pack_space(avx2 ? enc_k256_packed_floats(N, K) : enc_k512_packed_floats(N, K));
    if (!Wp) return -1;
    pack_job j = {.W = W, .Wp = Wp, .N = N, .K = K, .avx2 = avx2};
    const int per = PACK_PANELS * (avx2 ? PE_K256_NR : PE_K512_NR), tasks = (N + per - 1) / per;
    if ((size_t)N * K < 65536) /* a hand-off costs more than it saves */
        for (int t = 0; t < tasks; t++) pack_task(&j, t, 0);
    else
        enc_kernels_parallel(tasks, pack_task, &j);
    return avx2 ? enc_k256_linear(Wp, x, b, y, M, N, K, 0 /* no activation */)
                : enc_k512_linear(Wp, x, b, y, M, N, K, 0);
}
#endif

static void linear_fwd_blas(const float *x, const float *W, const float *b, float *y, int M, int N, int K)
{
    for (int i = 0; i < M; i++) {
        float *r = y + (size_t)i * N;
        if (b) memcpy(r, b, (size_t)N * sizeof *r);
        else memset(r, 0, (size_t)N * sizeof *r);
    }
    if (K > 0) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, x, K, W, K, 1.0f, y, N);
}

void enc_tr_linear_fwd(const float *x, const float *W, const float *b, float *y, int M, int N, int K)
{
    if (M <= 0 || N <= 0) return;
#if PE_KERNELS_X86
    if (K > 0 && use_vector() && kern_linear_fwd(use_avx2(), x, W, b, y, M, N, K) == 0) return;
#endif
    linear_fwd_blas(x, W, b, y, M, N, K);
}

void enc_tr_linear_gelu_fwd(const float *x, const float *W, const float *b, float *u, float *g, int M, int N, int K)
{
    /* GELU in the product's epilogue measured slower than a separate vector
     * pass here (a second output, and the erf's constants beside 28
     * accumulators) */
    enc_tr_linear_fwd(x, W, b, u, M, N, K);
    enc_tr_gelu_fwd(u, g, (size_t)M * N);
}

/* db (N) += column sums of dy (M, N) on the pool: per task of COL_ROWS rows
 * a partial sum, added in task order (independent of the thread count).
 * -1 (nothing done) when the partials could not be allocated. */
#define COL_ROWS 256

typedef struct colsum_job {
    const float *dy;
    float *part;
    int M, N;
} colsum_job;

static void colsum_task(void *ctx, int t, int tid)
{
    (void)tid;
    const colsum_job *j = ctx;
    float *p = j->part + (size_t)t * j->N;
    const int r0 = t * COL_ROWS, r1 = r0 + COL_ROWS < j->M ? r0 + COL_ROWS : j->M;
    memcpy(p, j->dy + (size_t)r0 * j->N, (size_t)j->N * sizeof *p);
    for (int i = r0 + 1; i < r1; i++) {
        const float *r = j->dy + (size_t)i * j->N;
        for (int c = 0; c < j->N; c++) p[c] += r[c];
    }
}

static int colsum_pool(const float *dy, int M, int N, float *db)
{
    const int tasks = (M + COL_ROWS - 1) / COL_ROWS;
    colsum_job j = {.dy = dy, .part = malloc((size_t)tasks * N * sizeof(float)), .M = M, .N = N};
    if (!j.part) return -1;
    enc_kernels_parallel(tasks, colsum_task, &j);
    for (int t = 0; t < tasks; t++) {
        const float *p = j.part + (size_t)t * N;
        for (int c = 0; c < N; c++) db[c] += p[c];
    }
    free(j.part);
    return 0;
}

void enc_tr_linear_bwd(const float *x, const float *W, const float *dy, float *dx, float beta, float *dW, float *db,
                      int M, int N, int K)
{
    if (M <= 0) return;
    if (dx) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, K, N, 1.0f, dy, N, W, K, beta, dx, K);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, N, K, M, 1.0f, dy, N, x, K, 1.0f, dW, K);
    if (db && use_vector() && colsum_pool(dy, M, N, db) == 0) return;
    if (db)
        for (int i = 0; i < M; i++) {
            const float *r = dy + (size_t)i * N;
            for (int j = 0; j < N; j++) db[j] += r[j];
        }
}

/* ---- LayerNorm ----
 * On the AVX-512 and AVX2 paths rows are cut into tasks of ROW_CHUNK on the pool; the
 * backward's parameter gradients are summed per task and then added in
 * task order, so that they do not depend on the number of threads. */

#define ROW_CHUNK 64

typedef struct ln_job {
    const float *x, *g, *b, *dy, *xhat, *rstd;
    float *y, *xh, *rs, *dx, *part; /* part: (tasks, 2n) dg | db per task */
    int rows, n;
    float eps;
} ln_job;

#if PE_KERNELS_X86
static void ln_fwd_task(void *ctx, int t, int tid)
{
    (void)tid;
    const ln_job *j = ctx;
    const int r0 = t * ROW_CHUNK, r = j->rows - r0 < ROW_CHUNK ? j->rows - r0 : ROW_CHUNK;
    const size_t o = (size_t)r0 * j->n;
    (use_avx2() ? enc_k256_layernorm_fwd : enc_k512_layernorm_fwd)(j->x + o, j->g, j->b, j->y + o, j->xh + o,
                                                                   j->rs + r0, r, j->n, j->eps);
}

static void ln_bwd_task(void *ctx, int t, int tid)
{
    (void)tid;
    const ln_job *j = ctx;
    const int r0 = t * ROW_CHUNK, r = j->rows - r0 < ROW_CHUNK ? j->rows - r0 : ROW_CHUNK;
    const size_t o = (size_t)r0 * j->n;
    float *dg = j->part + (size_t)t * 2 * j->n, *db = dg + j->n;
    memset(dg, 0, 2 * (size_t)j->n * sizeof *dg);
    (use_avx2() ? enc_k256_layernorm_bwd : enc_k512_layernorm_bwd)(j->dy + o, j->xhat + o, j->rstd + r0, j->g,
                                                                   j->dx + o, dg, db, r, j->n);
}
#endif

void enc_tr_layernorm_fwd(const float *x, const float *g, const float *b, float *y, float *xhat, float *rstd, int rows,
                         int n, float eps)
{
#if PE_KERNELS_X86
    if (use_vector() && rows > 0) {
        ln_job j = {.x = x, .g = g, .b = b, .y = y, .xh = xhat, .rs = rstd, .rows = rows, .n = n, .eps = eps};
        enc_kernels_parallel((rows + ROW_CHUNK - 1) / ROW_CHUNK, ln_fwd_task, &j);
        return;
    }
#endif
    for (int i = 0; i < rows; i++)
        rstd[i] = enc_layernorm_row(x + (size_t)i * n, g, b, y + (size_t)i * n, xhat + (size_t)i * n, n, eps);
}

void enc_tr_layernorm_bwd(const float *dy, const float *xhat, const float *rstd, const float *g, float *dx, float *dg,
                         float *db, int rows, int n)
{
#if PE_KERNELS_X86
    const int tasks = (rows + ROW_CHUNK - 1) / ROW_CHUNK;
    float *part = use_vector() && rows > 0 ? malloc((size_t)tasks * 2 * n * sizeof *part) : NULL;
    if (part) {
        ln_job j = {.g = g, .dy = dy, .xhat = xhat, .rstd = rstd, .dx = dx, .part = part, .rows = rows, .n = n};
        enc_kernels_parallel(tasks, ln_bwd_task, &j);
        for (int t = 0; t < tasks; t++) {
            const float *pg = part + (size_t)t * 2 * n, *pb = pg + n;
            for (int c = 0; c < n; c++) {
                dg[c] += pg[c];
                db[c] += pb[c];
            }
        }
        free(part);
        return;
    }
#endif
    for (int i = 0; i < rows; i++) {
        const float *dr = dy + (size_t)i * n, *hr = xhat + (size_t)i * n;
        float *xr = dx + (size_t)i * n;
        double s1 = 0.0, s2 = 0.0;
        for (int j = 0; j < n; j++) {
            double dh = (double)dr[j] * g[j];
            s1 += dh;
            s2 += dh * hr[j];
            dg[j] += dr[j] * hr[j];
            db[j] += dr[j];
        }
        const float m1 = (float)(s1 / n), m2 = (float)(s2 / n);
        for (int j = 0; j < n; j++) xr[j] = rstd[i] * (dr[j] * g[j] - m1 - hr[j] * m2);
    }
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
#if PE_KERNELS_X86
    switch (enc_kernels_active()) {
    case PE_KERNELS_AVX512: enc_k512_gelu_fwd(u + i0, y + i0, i1 - i0); return;
    case PE_KERNELS_AVX2: enc_k256_gelu_fwd(u + i0, y + i0, i1 - i0); return;
    default: break;
    }
#endif
    for (size_t i = i0; i < i1; i++) y[i] = 0.5f * u[i] * (1.0f + erff(u[i] * (float)M_SQRT1_2));
}

static void gelu_bwd_range(const float *u, const float *dy, float *du, size_t i0, size_t i1)
{
#if PE_KERNELS_X86
    switch (enc_kernels_active()) {
    case PE_KERNELS_AVX512: enc_k512_gelu_bwd(u + i0, dy + i0, du + i0, i1 - i0); return;
    case PE_KERNELS_AVX2: enc_k256_gelu_bwd(u + i0, dy + i0, du + i0, i1 - i0); return;
    default: break;
    }
#endif
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

void enc_tr_gelu_fwd(const float *u, float *y, size_t n)
{
    if (n < 2 * EW_CHUNK) {
        gelu_fwd_range(u, y, 0, n);
        return;
    }
    ew_job j = {.u = u, .y = y, .n = n};
    enc_kernels_parallel((int)((n + EW_CHUNK - 1) / EW_CHUNK), gelu_fwd_task, &j);
}

void enc_tr_gelu_bwd(const float *u, const float *dy, float *du, size_t n)
{
    if (n < 2 * EW_CHUNK) {
        gelu_bwd_range(u, dy, du, 0, n);
        return;
    }
    ew_job j = {.u = u, .dy = dy, .y = du, .n = n};
    enc_kernels_parallel((int)((n + EW_CHUNK - 1) / EW_CHUNK), gelu_bwd_task, &j);
}

/* ---- dropout ---- */

static uint64_t dropout_key(uint64_t seed, uint64_t stream) { return pe_mix64(seed ^ pe_mix64(stream * 0xD1B54A32D192ED03ull)); }
/* keep when the top 24 bits, as a fraction of 2^24, are >= p */
static uint32_t dropout_thr(float p) { return (uint32_t)((double)p * 16777216.0); }

/* dst[i] = src[i] dropped or scaled, i in [i0, i1); dst may be src. */
static size_t dropout_range(const float *src, float *dst, size_t i0, size_t i1, uint64_t key, uint32_t thr,
                            float scale, uint64_t base)
{
#if PE_KERNELS_X86
    if (use_vector())
        return (use_avx2() ? enc_k256_dropout : enc_k512_dropout)(src + i0, dst + i0, i1 - i0, key, thr, scale, base + i0);
#endif
    size_t zeroed = 0;
    for (size_t i = i0; i < i1; i++) {
        uint32_t r = (uint32_t)(pe_mix64(key ^ (base + i)) >> 40);
        if (r < thr) {
            dst[i] = 0.0f;
            zeroed++;
        } else {
            dst[i] = src[i] * scale;
        }
    }
    return zeroed;
}

typedef struct do_job {
    const float *src;
    float *dst;
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
    size_t i0 = (size_t)t * EW_CHUNK, i1 = i0 + EW_CHUNK < j->n ? i0 + EW_CHUNK : j->n;
    j->zeroed[t] = dropout_range(j->src, j->dst, i0, i1, j->key, j->thr, j->scale, j->base);
}

size_t enc_tr_dropout_copy(const float *src, float *dst, size_t n, float p, uint64_t seed, uint64_t stream,
                           uint64_t base)
{
    if (!(p > 0.0f)) {
        if (dst != src) memcpy(dst, src, n * sizeof *dst);
        return 0;
    }
    if (p >= 1.0f) { /* torch: everything dropped */
        memset(dst, 0, n * sizeof *dst);
        return n;
    }
    const uint64_t key = dropout_key(seed, stream);
    const uint32_t thr = dropout_thr(p);
    const float scale = 1.0f / (1.0f - p);
    const int tasks = (int)((n + EW_CHUNK - 1) / EW_CHUNK);
    size_t local[64];
    size_t *zeroed = n < 2 * EW_CHUNK ? NULL : tasks <= 64 ? local : malloc((size_t)tasks * sizeof *zeroed);
    if (!zeroed) return dropout_range(src, dst, 0, n, key, thr, scale, base);
    do_job j = {.src = src, .dst = dst, .n = n, .key = key, .base = base, .thr = thr, .scale = scale,
                .zeroed = zeroed};
    enc_kernels_parallel(tasks, dropout_task, &j);
    size_t z = 0;
    for (int t = 0; t < tasks; t++) z += zeroed[t];
    if (zeroed != local) free(zeroed);
    return z;
}

size_t enc_tr_dropout(float *x, size_t n, float p, uint64_t seed, uint64_t stream, uint64_t base)
{
    return enc_tr_dropout_copy(x, x, n, p, seed, stream, base);
}

/* ---- attention ---- */

size_t enc_tr_attention_probs_floats(const int *offsets, int n_seq, int H)
{
    size_t n = 0;
    for (int s = 0; s < n_seq; s++) {
        size_t len = (size_t)(offsets[s + 1] - offsets[s]);
        n += (size_t)H * len * len;
    }
    return n;
}

#if PE_KERNELS_X86
/* The attention's forward (dctx NULL) or backward on the AVX-512 or AVX2
 * tasks (one per sequence and head, dropout's mask as dropout_range); -1
 * (nothing written) on another path, for p >= 1, or without memory. */
static int vector_attention(const float *qkv, float *ctx, float *probs, const float *dctx, float *dqkv,
                            const int *offsets, int n_seq, int H, int D, float p, uint64_t seed, uint64_t stream)
{
    if (!use_vector() || p >= 1.0f) return -1;
    return (use_avx2() ? enc_k256_train_attention : enc_k512_train_attention)(
        qkv, ctx, probs, dctx, dqkv, offsets, n_seq, H, D, p > 0.0f, dropout_key(seed, stream), dropout_thr(p),
        1.0f / (1.0f - p));
}
#endif

void enc_tr_attention_fwd(const float *qkv, float *ctx, float *probs, float *scratch, const int *offsets, int n_seq,
                         int H, int D, float p, uint64_t seed, uint64_t stream)
{
#if PE_KERNELS_X86
    if (vector_attention(qkv, ctx, probs, NULL, NULL, offsets, n_seq, H, D, p, seed, stream) == 0) return;
#endif
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
                enc_tr_dropout_copy(P, scratch, (size_t)len * len, p, seed, stream, poff);
                Pd = scratch;
            }
            /* ctx (len, D) = Pd v */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, len, D, len, 1.0f, Pd, len, v, C3, 0.0f,
                        ctx + (size_t)t0 * C + h * D, C);
        }
    }
}

void enc_tr_attention_bwd(const float *qkv, const float *probs, const float *dctx, float *dqkv, float *scratch,
                         const int *offsets, int n_seq, int H, int D, float p, uint64_t seed, uint64_t stream)
{
#if PE_KERNELS_X86
    if (vector_attention(qkv, NULL, (float *)probs, dctx, dqkv, offsets, n_seq, H, D, p, seed, stream) == 0) return;
#endif
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
            enc_tr_dropout_copy(P, Pd, LL, p, seed, stream, poff);
            /* dv (len,D) = Pd^T dc;  dPd (len,len) = dc v^T */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, len, D, len, 1.0f, Pd, len, dc, C, 0.0f, dv, C3);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, len, len, D, 1.0f, dc, C, v, C3, 0.0f, dP, len);
            enc_tr_dropout(dP, LL, p, seed, stream, poff); /* dP = mask * dPd */
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

void enc_tr_embed_fwd(const float *word, const float *pos, const float *type, const int32_t *ids,
                     const int32_t *positions, const int32_t *types, float *x, int T, int C)
{
    for (int t = 0; t < T; t++) {
        float *r = x + (size_t)t * C;
        const float *we = word + (size_t)ids[t] * C, *pe = pos + (size_t)positions[t] * C,
                    *te = type + (size_t)types[t] * C;
        for (int j = 0; j < C; j++) r[j] = we[j] + pe[j] + te[j];
    }
}

void enc_tr_embed_bwd(const float *dx, const int32_t *ids, const int32_t *positions, const int32_t *types,
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
