/* kernels_avx2.c - AVX2+FMA linear for CPUs without AVX-512 (same scheme
 * as kernels_avx512.c with 16 registers: a 6 x 16 tile of y in 12 ymm
 * accumulators; W packed in panels of 16 columns, Wp[p][k][0..15]; x
 * packed per block into row panels of <= 6 rows; bias and GELU fused on
 * the last K block); attention and LayerNorm as there, 8 lanes wide; and
 * the training ops of kernels_avx512.c and kernels_avx512_train.c (GELU and
 * its derivative, dropout with the scalar mask, attention forward and
 * backward, the cross-entropy of a row, LayerNorm forward and backward).
 * Called only when kernels_runtime.c found avx2 and fma. */
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

#if PE_KERNELS_X86
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC target("avx2,fma")
#endif

#define NR PE_K256_NR
#define MR 6
#define KC 1536
#define MC (6 * 48)
#define AI static inline __attribute__((always_inline))

#include "kernels_jobs.h"

AI __m256 erf256(__m256 x) /* the rational fit of kernels_avx512.c */
{
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-4.0f)), _mm256_set1_ps(4.0f));
    __m256 x2 = _mm256_mul_ps(x, x);
    __m256 p = _mm256_fmadd_ps(x2, _mm256_set1_ps(-2.72614225801306e-10f), _mm256_set1_ps(2.77068142495902e-08f));
    p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(-2.10102402082508e-06f));
    p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(-5.69250639462346e-05f));
    p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(-7.34990630326855e-04f));
    p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(-2.95459980854025e-03f));
    p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(-1.60960333262415e-02f));
    p = _mm256_mul_ps(x, p);
    __m256 q = _mm256_fmadd_ps(x2, _mm256_set1_ps(-1.45660718464996e-05f), _mm256_set1_ps(-2.13374055278905e-04f));
    q = _mm256_fmadd_ps(x2, q, _mm256_set1_ps(-1.68282697438203e-03f));
    q = _mm256_fmadd_ps(x2, q, _mm256_set1_ps(-7.37332916720468e-03f));
    q = _mm256_fmadd_ps(x2, q, _mm256_set1_ps(-1.42647390514189e-02f));
    return _mm256_div_ps(p, q);
}

AI __m256 gelu256(__m256 x)
{
    __m256 e = erf256(_mm256_mul_ps(x, _mm256_set1_ps(0.70710678118654752f)));
    return _mm256_mul_ps(_mm256_mul_ps(x, _mm256_set1_ps(0.5f)), _mm256_add_ps(e, _mm256_set1_ps(1.0f)));
}

/* exp(x): the Cephes polynomial of kernels_avx512_tile.h, scaled by 2^n
 * through the exponent bits. */
AI __m256 exp256(__m256 x)
{
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3365447505531f)), _mm256_set1_ps(88.3762626647949f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500E-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507E-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073E-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894E-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459E-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201E-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    /* n in [-127, 128]: 2^n as two factors so that neither overflows the exponent */
    __m256i ni = _mm256_cvtps_epi32(n);
    __m256i h = _mm256_srai_epi32(ni, 1);
    __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(h, _mm256_set1_epi32(127)), 23));
    __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_sub_epi32(ni, h), _mm256_set1_epi32(127)), 23));
    return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
}

AI __m256 dgelu256(__m256 x)
{
    const __m256 cdf = _mm256_mul_ps(
        _mm256_add_ps(erf256(_mm256_mul_ps(x, _mm256_set1_ps(0.70710678118654752f))), _mm256_set1_ps(1.0f)),
        _mm256_set1_ps(0.5f));
    const __m256 pdf = _mm256_mul_ps(exp256(_mm256_mul_ps(_mm256_mul_ps(x, x), _mm256_set1_ps(-0.5f))),
                                     _mm256_set1_ps(0.39894228040143268f));
    return _mm256_fmadd_ps(x, pdf, cdf);
}

/* Lane mask for the first n (<= 8) of 8 lanes, as maskload/maskstore want. */
AI __m256i lane_mask(int n)
{
    n = n < 0 ? 0 : n > 8 ? 8 : n;
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

void enc_k256_gelu_fwd(const float *u, float *y, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, gelu256(_mm256_loadu_ps(u + i)));
    if (i < n) {
        const __m256i m = lane_mask((int)(n - i));
        _mm256_maskstore_ps(y + i, m, gelu256(_mm256_maskload_ps(u + i, m)));
    }
}

void enc_k256_gelu_bwd(const float *u, const float *dy, float *du, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(du + i, _mm256_mul_ps(_mm256_loadu_ps(dy + i), dgelu256(_mm256_loadu_ps(u + i))));
    if (i < n) {
        const __m256i m = lane_mask((int)(n - i));
        _mm256_maskstore_ps(du + i, m,
                            _mm256_mul_ps(_mm256_maskload_ps(dy + i, m), dgelu256(_mm256_maskload_ps(u + i, m))));
    }
}

size_t enc_k256_packed_floats(int N, int K) { return (size_t)((N + NR - 1) / NR) * NR * (size_t)K; }

void enc_k256_pack_weights(const float *W, int N, int K, float *Wp)
{
    const int np = (N + NR - 1) / NR;
    for (int p = 0; p < np; p++) {
        float *dst = Wp + (size_t)p * K * NR;
        for (int c = 0; c < NR; c++) {
            const int n = p * NR + c;
            for (int k = 0; k < K; k++) dst[(size_t)k * NR + c] = n < N ? W[(size_t)n * K + k] : 0.0f;
        }
    }
}

typedef struct tile_epi {
    __m256i m0, m1;
    int full; /* all 16 columns: plain loads and stores (masked ones are slow on some AMD CPUs) */
    int accum, last, gelu;
    const float *bias;
} tile_epi;

AI void kern(const int mr, const float *restrict A, const float *restrict B, int kc, float *y, long ldy,
             const tile_epi *e)
{
    __m256 c0[MR], c1[MR];
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++)
        if (r < mr) c0[r] = c1[r] = _mm256_setzero_ps();
    for (int k = 0; k < kc; k++) {
        __m256 b0 = _mm256_load_ps(B), b1 = _mm256_load_ps(B + 8);
#pragma GCC unroll 6
        for (int r = 0; r < MR; r++) {
            if (r < mr) {
                __m256 a = _mm256_broadcast_ss(A + r);
                c0[r] = _mm256_fmadd_ps(a, b0, c0[r]);
                c1[r] = _mm256_fmadd_ps(a, b1, c1[r]);
            }
        }
        A += mr;
        B += NR;
    }
    __m256 bias0 = _mm256_setzero_ps(), bias1 = _mm256_setzero_ps();
    if (e->last && e->bias) {
        bias0 = e->full ? _mm256_loadu_ps(e->bias) : _mm256_maskload_ps(e->bias, e->m0);
        bias1 = e->full ? _mm256_loadu_ps(e->bias + 8) : _mm256_maskload_ps(e->bias + 8, e->m1);
    }
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++) {
        if (r < mr) {
            float *row = y + (size_t)r * ldy;
            __m256 v0 = c0[r], v1 = c1[r];
            if (e->accum) {
                v0 = _mm256_add_ps(v0, e->full ? _mm256_loadu_ps(row) : _mm256_maskload_ps(row, e->m0));
                v1 = _mm256_add_ps(v1, e->full ? _mm256_loadu_ps(row + 8) : _mm256_maskload_ps(row + 8, e->m1));
            }
            if (e->last) {
                v0 = _mm256_add_ps(v0, bias0);
                v1 = _mm256_add_ps(v1, bias1);
                if (e->gelu) {
                    v0 = gelu256(v0);
                    v1 = gelu256(v1);
                }
            }
            if (e->full) {
                _mm256_storeu_ps(row, v0);
                _mm256_storeu_ps(row + 8, v1);
            } else {
                _mm256_maskstore_ps(row, e->m0, v0);
                _mm256_maskstore_ps(row + 8, e->m1, v1);
            }
        }
    }
}

#define KERN_N(n) \
    static void kern_##n(const float *A, const float *B, int kc, float *y, long ldy, const tile_epi *e) \
    { kern(n, A, B, kc, y, ldy, e); }
KERN_N(1) KERN_N(2) KERN_N(3) KERN_N(4) KERN_N(5) KERN_N(6)
typedef void (*kern_fn)(const float *, const float *, int, float *, long, const tile_epi *);
static const kern_fn kerns[MR + 1] = {NULL, kern_1, kern_2, kern_3, kern_4, kern_5, kern_6};

static void pack_a(const float *x, long K, int r0, int mr, int k0, int kc, float *Ap)
{
    for (int r = 0; r < mr; r++) {
        const float *src = x + (size_t)(r0 + r) * K + k0;
        for (int k = 0; k < kc; k++) Ap[(size_t)k * mr + r] = src[k];
    }
}

typedef struct lin_job {
    const float *Wp, *x, *b;
    float *y;
    int M, N, K, act;
    pe_kernels_plan pl;
    _Atomic int failed;
} lin_job;

static void gemm_range(lin_job *j, int r0, int r1, int p0, int p1, float *Ap)
{
    const int N = j->N, K = j->K;
    const int nkb = (K + KC - 1) / KC, kcb = (K + nkb - 1) / nkb;
    for (int ic = r0; ic < r1; ic += MC) {
        const int mc = r1 - ic < MC ? r1 - ic : MC;
        const int nm = (mc + MR - 1) / MR, base = mc / nm, extra = mc % nm;
        for (int pc = 0; pc < K; pc += kcb) {
            const int kc = K - pc < kcb ? K - pc : kcb;
            for (int i = 0, off = 0; i < nm; i++) {
                int mr = base + (i < extra);
                pack_a(j->x, K, ic + off, mr, pc, kc, Ap + (size_t)off * kc);
                off += mr;
            }
            tile_epi e = {.accum = pc > 0, .last = pc + kc >= K, .gelu = j->act == 1};
            for (int p = p0; p < p1; p++) {
                const float *Bp = j->Wp + (size_t)p * K * NR + (size_t)pc * NR;
                const int nc = N - p * NR;
                e.m0 = lane_mask(nc);
                e.m1 = lane_mask(nc - 8);
                e.full = nc >= NR;
                e.bias = j->b ? j->b + p * NR : NULL;
                for (int i = 0, off = 0; i < nm; i++) {
                    int mr = base + (i < extra);
                    kerns[mr](Ap + (size_t)off * kc, Bp, kc, j->y + (size_t)(ic + off) * N + p * NR, N, &e);
                    off += mr;
                }
            }
        }
    }
}

static void lin_task(void *ctx, int t, int tid)
{
    lin_job *j = ctx;
    float *Ap = enc_kernels_scratch(tid, (size_t)MC * KC);
    if (!Ap) {
        atomic_store(&j->failed, 1);
        return;
    }
    int r0, r1, p0, p1;
    enc_kernels_plan_task(&j->pl, j->M, t, &r0, &r1, &p0, &p1);
    if (r1 > r0 && p1 > p0) gemm_range(j, r0, r1, p0, p1, Ap);
}

int enc_k256_linear(const float *Wp, const float *x, const float *b, float *y, int M, int N, int K, int act)
{
    if (M <= 0 || N <= 0 || K <= 0) return -1; /* degenerate: left to the reference path */
    lin_job j = {.Wp = Wp, .x = x, .b = b, .y = y, .M = M, .N = N, .K = K, .act = act,
                 .pl = enc_kernels_plan_linear(M, N, K, NR, 8 * MR)};
    enc_kernels_parallel(j.pl.n_tasks, lin_task, &j);
    return atomic_load(&j.failed) ? -1 : 0;
}

/* ---- attention (the scheme of kernels_avx512.c with 8-wide vectors) ----
 * One task per (sequence, head): K transposed once into scratch (D, n8);
 * per block of AR query rows S = q K^T (AR x n) in registers, softmax with
 * exp256, then O = P V straight from the qkv rows. */

#define AR 6 /* query rows per block: 6 x 2 accumulators + 2 B vectors + 1 broadcast */

/* C[r][0..nc) = sum_k A[r*lda + k] * B[k*ldb + 0..nc) for r < m <= AR, nc <= 8*NV. */
AI void mm_rows(const int NV, const float *A, long lda, int m, const float *B, long ldb, int kd, int nc, float *C,
                long ldc)
{
    __m256i mk[2];
    for (int v = 0; v < 2; v++) mk[v] = lane_mask(nc - 8 * v);
    const int full = nc == 8 * NV; /* plain loads and stores (masked ones are slow on some AMD CPUs) */
    const float *a[AR];
    for (int r = 0; r < AR; r++) a[r] = A + (size_t)(r < m ? r : m - 1) * lda;
    __m256 c[AR][2];
#pragma GCC unroll 6
    for (int r = 0; r < AR; r++)
#pragma GCC unroll 2
        for (int v = 0; v < NV; v++) c[r][v] = _mm256_setzero_ps();
    for (int k = 0; k < kd; k++) {
        __m256 b[2];
        const float *bk = B + (size_t)k * ldb;
#pragma GCC unroll 2
        for (int v = 0; v < NV; v++) b[v] = full ? _mm256_loadu_ps(bk + 8 * v) : _mm256_maskload_ps(bk + 8 * v, mk[v]);
#pragma GCC unroll 6
        for (int r = 0; r < AR; r++) {
            __m256 av = _mm256_broadcast_ss(a[r] + k);
#pragma GCC unroll 2
            for (int v = 0; v < NV; v++) c[r][v] = _mm256_fmadd_ps(av, b[v], c[r][v]);
        }
    }
#pragma GCC unroll 6
    for (int r = 0; r < AR; r++)
        if (r < m)
#pragma GCC unroll 2
            for (int v = 0; v < NV; v++) {
                if (full) _mm256_storeu_ps(C + (size_t)r * ldc + 8 * v, c[r][v]);
                else _mm256_maskstore_ps(C + (size_t)r * ldc + 8 * v, mk[v], c[r][v]);
            }
}

static void mm_rows1(const float *A, long lda, int m, const float *B, long ldb, int kd, int nc, float *C, long ldc)
{ mm_rows(1, A, lda, m, B, ldb, kd, nc, C, ldc); }
static void mm_rows2(const float *A, long lda, int m, const float *B, long ldb, int kd, int nc, float *C, long ldc)
{ mm_rows(2, A, lda, m, B, ldb, kd, nc, C, ldc); }

/* C (m, nc) = A (m, kd) . B (kd, nc), m <= AR, any nc, in 16-column blocks. */
static void mm_block(const float *A, long lda, int m, const float *B, long ldb, int kd, int nc, float *C, long ldc)
{
    for (int j0 = 0; j0 < nc; j0 += 16) {
        int w = nc - j0 < 16 ? nc - j0 : 16;
        if (w <= 8) mm_rows1(A, lda, m, B + j0, ldb, kd, w, C + j0, ldc);
        else mm_rows2(A, lda, m, B + j0, ldb, kd, w, C + j0, ldc);
    }
}

AI float hsum256(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

AI float hmax256(__m256 v)
{
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_max_ss(s, _mm_movehdup_ps(s)));
}

/* In place p = softmax(scale * s) over n valid columns; columns n..np-1
 * (np a multiple of 8) set to 0. */
static void softmax_row(float *s, int n, int np, float scale)
{
    const __m256 sc = _mm256_set1_ps(scale), ninf = _mm256_set1_ps(-INFINITY);
    __m256 mx = ninf;
    for (int j = 0; j < n; j += 8) {
        const __m256 valid = _mm256_castsi256_ps(lane_mask(n - j));
        mx = _mm256_max_ps(mx, _mm256_blendv_ps(ninf, _mm256_loadu_ps(s + j), valid));
    }
    const __m256 mxs = _mm256_set1_ps(hmax256(mx) * scale);
    __m256 sum = _mm256_setzero_ps();
    for (int j = 0; j < np; j += 8) {
        const __m256 valid = _mm256_castsi256_ps(lane_mask(n - j));
        __m256 e = _mm256_and_ps(exp256(_mm256_fmsub_ps(_mm256_loadu_ps(s + j), sc, mxs)), valid);
        sum = _mm256_add_ps(sum, e);
        _mm256_storeu_ps(s + j, e);
    }
    const __m256 inv = _mm256_set1_ps(1.0f / hsum256(sum));
    for (int j = 0; j < n; j += 8) _mm256_storeu_ps(s + j, _mm256_mul_ps(_mm256_loadu_ps(s + j), inv));
}

static void att_task(void *ctx, int task, int tid)
{
    att_job *j = ctx;
    const int H = j->H, D = j->D, C = H * D;
    const long ld = 3L * C;
    const int s = task / H, h = task % H;
    const int t0 = j->offsets[s], n = j->offsets[s + 1] - t0;
    if (n <= 0) return;
    const int np = (n + 7) & ~7;
    float *buf = enc_kernels_scratch(tid, (size_t)D * np + (size_t)AR * np);
    if (!buf) {
        atomic_store(&j->failed, 1);
        return;
    }
    float *KT = buf, *P = buf + (size_t)D * np;
    const float *q = j->qkv + (size_t)t0 * ld + (size_t)h * D, *k = q + C, *v = q + 2 * C;
    transpose_pad(k, ld, n, D, KT, np); /* KT (D, np) = K^T, padding columns zero */
    const float scale = 1.0f / sqrtf((float)D);
    float *o = j->out + (size_t)t0 * C + (size_t)h * D;
    for (int i0 = 0; i0 < n; i0 += AR) {
        const int m = n - i0 < AR ? n - i0 : AR;
        mm_block(q + (size_t)i0 * ld, ld, m, KT, np, D, np, P, np); /* S (m, np) */
        for (int r = 0; r < m; r++) softmax_row(P + (size_t)r * np, n, np, scale);
        mm_block(P, np, m, v, ld, n, D, o + (size_t)i0 * C, C);     /* O (m, D) = P V */
    }
}

int enc_k256_attention(const float *qkv, float *out, const int *offsets, int n_seq, int H, int D)
{
    if (n_seq <= 0 || H <= 0 || D <= 0) return 0;
    att_job j = {.qkv = qkv, .out = out, .offsets = offsets, .H = H, .D = D};
    enc_kernels_parallel(n_seq * H, att_task, &j);
    return atomic_load(&j.failed) ? -1 : 0;
}

/* ---- LayerNorm: x = (x + r - mean) / sqrt(var + eps) * g + b per row,
 * rows split over the pool; 8 lane partial sums in float, reduced in
 * double (as kernels_avx512.c). ---- */

/* Lanes j..j+7 of v (n valid): a plain load for a whole vector, a masked
 * one (zeros beyond n) for the tail (masked loads are slow on some AMD CPUs). */
AI __m256 load_n(const float *v, int j, int n)
{
    return j + 8 <= n ? _mm256_loadu_ps(v + j) : _mm256_maskload_ps(v + j, lane_mask(n - j));
}

AI void store_n(float *v, int j, int n, __m256 x)
{
    if (j + 8 <= n) _mm256_storeu_ps(v + j, x);
    else _mm256_maskstore_ps(v + j, lane_mask(n - j), x);
}

static void ln_row256(float *x, const float *r, const float *g, const float *b, int n, float eps)
{
    __m256 s = _mm256_setzero_ps();
    for (int j = 0; j < n; j += 8) {
        __m256 v = load_n(x, j, n);
        if (r) {
            v = _mm256_add_ps(v, load_n(r, j, n));
            store_n(x, j, n, v);
        }
        s = _mm256_add_ps(s, v);
    }
    float lanes[8];
    _mm256_storeu_ps(lanes, s);
    double sum = 0;
    for (int i = 0; i < 8; i++) sum += lanes[i];
    const float mean = (float)(sum / n);
    const __m256 mv = _mm256_set1_ps(mean);
    __m256 q = _mm256_setzero_ps();
    for (int j = 0; j < n; j += 8) {
        __m256 d = _mm256_and_ps(_mm256_sub_ps(load_n(x, j, n), mv), _mm256_castsi256_ps(lane_mask(n - j)));
        q = _mm256_fmadd_ps(d, d, q);
    }
    _mm256_storeu_ps(lanes, q);
    double var = 0;
    for (int i = 0; i < 8; i++) var += lanes[i];
    const __m256 inv = _mm256_set1_ps((float)(1.0 / sqrt(var / n + (double)eps)));
    for (int j = 0; j < n; j += 8) {
        __m256 v = _mm256_mul_ps(_mm256_sub_ps(load_n(x, j, n), mv), inv);
        store_n(x, j, n, _mm256_fmadd_ps(v, load_n(g, j, n), load_n(b, j, n)));
    }
}

static void ln_task(void *ctx, int t, int tid)
{
    (void)tid;
    ln_job *j = ctx;
    int r0 = t * j->chunk, r1 = r0 + j->chunk < j->rows ? r0 + j->chunk : j->rows;
    for (int i = r0; i < r1; i++)
        ln_row256(j->x + (size_t)i * j->n, j->r ? j->r + (size_t)i * j->n : NULL, j->g, j->b, j->n, j->eps);
}

void enc_k256_add_layernorm(float *x, const float *r, const float *g, const float *b, int rows, int n, float eps)
{
    if (rows <= 0 || n <= 0) return;
    ln_job j = {.x = x, .r = r, .g = g, .b = b, .rows = rows, .n = n, .eps = eps};
    /* ~32K elements per task: enough to pay for the hand-off */
    j.chunk = 32768 / n > 0 ? 32768 / n : 1;
    int tasks = (rows + j.chunk - 1) / j.chunk;
    enc_kernels_parallel(tasks, ln_task, &j);
}

/* ---- dropout: the mask of train_ops.c's scalar loop (element i dropped
 * when the top 24 bits of mix64(key ^ (base + i)) are < thr), 8 elements
 * at a time; 64-bit products from 32-bit ones (AVX2 has no 64-bit mullo). */

AI __m256i mullo64(__m256i a, uint64_t b)
{
    const __m256i bl = _mm256_set1_epi64x((long long)(b & 0xFFFFFFFFu)), bh = _mm256_set1_epi64x((long long)(b >> 32));
    const __m256i lo = _mm256_mul_epu32(a, bl);
    const __m256i cross = _mm256_add_epi64(_mm256_mul_epu32(_mm256_srli_epi64(a, 32), bl), _mm256_mul_epu32(a, bh));
    return _mm256_add_epi64(lo, _mm256_slli_epi64(cross, 32));
}

AI __m256i mix64_256(__m256i z) /* splitmix64's finaliser, as pe_mix64 */
{
    z = _mm256_add_epi64(z, _mm256_set1_epi64x((long long)0x9E3779B97F4A7C15ull));
    z = mullo64(_mm256_xor_si256(z, _mm256_srli_epi64(z, 30)), 0xBF58476D1CE4E5B9ull);
    z = mullo64(_mm256_xor_si256(z, _mm256_srli_epi64(z, 27)), 0x94D049BB133111EBull);
    return _mm256_xor_si256(z, _mm256_srli_epi64(z, 31));
}

size_t enc_k256_dropout(const float *x, float *y, size_t n, uint64_t key, uint32_t thr, float scale, uint64_t base)
{
    const __m256i k = _mm256_set1_epi64x((long long)key), t = _mm256_set1_epi64x((long long)thr);
    /* the two index vectors hold elements {0,1,4,5} and {2,3,6,7} of the 8,
     * so that shuffle_ps of their masks lands in element order */
    __m256i ia = _mm256_add_epi64(_mm256_set1_epi64x((long long)base), _mm256_setr_epi64x(0, 1, 4, 5));
    __m256i ib = _mm256_add_epi64(_mm256_set1_epi64x((long long)base), _mm256_setr_epi64x(2, 3, 6, 7));
    const __m256i step = _mm256_set1_epi64x(8);
    const __m256 sc = _mm256_set1_ps(scale);
    size_t zeroed = 0;
    for (size_t i = 0; i < n; i += 8) {
        const int w = n - i >= 8 ? 8 : (int)(n - i);
        /* r < thr, both below 2^24: a signed 64-bit compare is exact */
        const __m256i da = _mm256_cmpgt_epi64(t, _mm256_srli_epi64(mix64_256(_mm256_xor_si256(k, ia)), 40));
        const __m256i db = _mm256_cmpgt_epi64(t, _mm256_srli_epi64(mix64_256(_mm256_xor_si256(k, ib)), 40));
        __m256 drop = _mm256_shuffle_ps(_mm256_castsi256_ps(da), _mm256_castsi256_ps(db), _MM_SHUFFLE(2, 0, 2, 0));
        if (w < 8) drop = _mm256_and_ps(drop, _mm256_castsi256_ps(lane_mask(w)));
        store_n(y + i, 0, w, _mm256_andnot_ps(drop, _mm256_mul_ps(load_n(x + i, 0, w), sc)));
        zeroed += (size_t)__builtin_popcount((unsigned)_mm256_movemask_ps(drop));
        ia = _mm256_add_epi64(ia, step);
        ib = _mm256_add_epi64(ib, step);
    }
    return zeroed;
}

/* ---- attention for training (train_ops.c): kernels_avx512.c's scheme,
 * one task per (sequence, head), keeping the probabilities and applying
 * attention dropout with enc_k256_dropout's mask (element index = the
 * position in probs, as the scalar path). */

/* Task task's sequence s and head h: the first token t0, the length n, n
 * rounded up to 8 (np) and a scratch of (D + rows(n)) * np floats, rows(n)
 * = 2 AR forward, 3 n backward; NULL when there is nothing to do or no
 * memory (then j->failed is set). */
static float *tatt_begin(tatt_job *j, int task, int tid, int bwd, int *s, int *h, int *t0, int *n, int *np)
{
    *s = task / j->H, *h = task % j->H;
    *t0 = j->offsets[*s], *n = j->offsets[*s + 1] - *t0;
    if (*n <= 0) return NULL;
    *np = (*n + 7) & ~7;
    float *buf = enc_kernels_scratch(tid, ((size_t)j->D + (bwd ? 3 * (size_t)*n : 2 * (size_t)AR)) * *np);
    if (!buf) atomic_store(&j->failed, 1);
    return buf;
}

static void tatt_fwd_task(void *ctx, int task, int tid)
{
    tatt_job *j = ctx;
    int s, h, t0, n, np;
    float *buf = tatt_begin(j, task, tid, 0, &s, &h, &t0, &n, &np);
    if (!buf) return;
    const int D = j->D, C = j->H * D;
    const long ld = 3L * C;
    float *KT = buf, *S = KT + (size_t)D * np, *Pd = S + (size_t)AR * np;
    const float *q = j->qkv + (size_t)t0 * ld + (size_t)h * D, *k = q + C, *v = q + 2 * C;
    transpose_pad(k, ld, n, D, KT, np);
    const float scale = 1.0f / sqrtf((float)D);
    const size_t pb = probs_at(j, s, h);
    float *P = j->probs + pb, *o = j->ctx + (size_t)t0 * C + (size_t)h * D;
    for (int i0 = 0; i0 < n; i0 += AR) {
        const int m = n - i0 < AR ? n - i0 : AR;
        mm_block(q + (size_t)i0 * ld, ld, m, KT, np, D, np, S, np);
        for (int r = 0; r < m; r++) {
            float *sr = S + (size_t)r * np;
            softmax_row(sr, n, np, scale);
            memcpy(P + (size_t)(i0 + r) * n, sr, (size_t)n * sizeof *sr);
            if (j->drop) enc_k256_dropout(sr, Pd + (size_t)r * np, n, j->key, j->thr, j->dscale, pb + (size_t)(i0 + r) * n);
        }
        mm_block(j->drop ? Pd : S, np, m, v, ld, n, D, o + (size_t)i0 * C, C); /* ctx rows = Pd V */
    }
}

static void tatt_bwd_task(void *ctx, int task, int tid)
{
    tatt_job *j = ctx;
    int s, h, t0, n, np;
    float *buf = tatt_begin(j, task, tid, 1, &s, &h, &t0, &n, &np);
    if (!buf) return;
    const int D = j->D, C = j->H * D;
    const long ld = 3L * C;
    float *VT = buf, *Pd = VT + (size_t)D * np, *dS = Pd + (size_t)n * np, *TT = dS + (size_t)n * np;
    const float *q = j->qkv + (size_t)t0 * ld + (size_t)h * D, *k = q + C, *v = q + 2 * C;
    const float *dc = j->dctx + (size_t)t0 * C + (size_t)h * D;
    float *dq = j->dqkv + (size_t)t0 * ld + (size_t)h * D, *dk = dq + C, *dv = dq + 2 * C;
    const size_t pb = probs_at(j, s, h);
    const float *P = j->probs + pb;
    const float scale = 1.0f / sqrtf((float)D);
    transpose_pad(v, ld, n, D, VT, np);
    for (int i0 = 0; i0 < n; i0 += AR) { /* dPd (n, n) = dc V^T */
        const int m = n - i0 < AR ? n - i0 : AR;
        mm_block(dc + (size_t)i0 * C, C, m, VT, np, D, n, dS + (size_t)i0 * np, np);
    }
    for (int i = 0; i < n; i++) {
        const float *pr = P + (size_t)i * n;
        float *pd = Pd + (size_t)i * np, *dr = dS + (size_t)i * np;
        if (j->drop) { /* Pd = mask P; dP = mask dPd */
            const uint64_t at = pb + (size_t)i * n;
            enc_k256_dropout(pr, pd, n, j->key, j->thr, j->dscale, at);
            enc_k256_dropout(dr, dr, n, j->key, j->thr, j->dscale, at);
        } else {
            memcpy(pd, pr, (size_t)n * sizeof *pd);
        }
        /* dS = scale P (dP - rowsum(dP P)) */
        __m256 acc = _mm256_setzero_ps();
        for (int c = 0; c < n; c += 8) acc = _mm256_fmadd_ps(load_n(dr, c, n), load_n(pr, c, n), acc);
        const __m256 dot = _mm256_set1_ps(hsum256(acc)), sc = _mm256_set1_ps(scale);
        for (int c = 0; c < n; c += 8)
            store_n(dr, c, n, _mm256_mul_ps(_mm256_mul_ps(load_n(pr, c, n), _mm256_sub_ps(load_n(dr, c, n), dot)), sc));
    }
    for (int i0 = 0; i0 < n; i0 += AR) { /* dq = dS K */
        const int m = n - i0 < AR ? n - i0 : AR;
        mm_block(dS + (size_t)i0 * np, np, m, k, ld, n, D, dq + (size_t)i0 * ld, ld);
    }
    transpose_pad(dS, np, n, n, TT, np);
    for (int i0 = 0; i0 < n; i0 += AR) { /* dk = dS^T Q */
        const int m = n - i0 < AR ? n - i0 : AR;
        mm_block(TT + (size_t)i0 * np, np, m, q, ld, n, D, dk + (size_t)i0 * ld, ld);
    }
    transpose_pad(Pd, np, n, n, TT, np);
    for (int i0 = 0; i0 < n; i0 += AR) { /* dv = Pd^T dc */
        const int m = n - i0 < AR ? n - i0 : AR;
        mm_block(TT + (size_t)i0 * np, np, m, dc, C, n, D, dv + (size_t)i0 * ld, ld);
    }
}

int enc_k256_train_attention(const float *qkv, float *ctx, float *probs, const float *dctx, float *dqkv,
                             const int *offsets, int n_seq, int H, int D, int drop, uint64_t key, uint32_t thr,
                             float dscale)
{
    if (n_seq <= 0 || H <= 0 || D <= 0) return 0;
    tatt_job j = {.qkv = qkv, .dctx = dctx, .ctx = ctx, .probs = probs, .dqkv = dqkv, .offsets = offsets, .H = H,
                  .D = D, .drop = drop, .key = key, .thr = thr, .dscale = dscale};
    enc_kernels_parallel(n_seq * H, dctx ? tatt_bwd_task : tatt_fwd_task, &j);
    return atomic_load(&j.failed) ? -1 : 0;
}

/* ---- cross-entropy of a row of logits: enc_k512_ce_row on 8 lanes
 * (exp in f32, its sum in double lanes). ---- */

double enc_k256_ce_row(float *z, int V, int y, float gscale, int grad, int *argmax)
{
    /* max, and the first index that has it (each lane keeps its first; the
     * lowest index among the lanes holding the maximum wins) */
    const __m256 ninf = _mm256_set1_ps(-INFINITY);
    __m256 mx = ninf, bad = _mm256_setzero_ps(); /* bad: lanes that saw a NaN or an infinity */
    __m256i arg = _mm256_setzero_si256(), idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i eight = _mm256_set1_epi32(8);
    for (int v = 0; v < V; v += 8) {
        const __m256 valid = _mm256_castsi256_ps(lane_mask(V - v));
        const __m256 xv = load_n(z, v, V), x = _mm256_blendv_ps(ninf, xv, valid);
        bad = _mm256_or_ps(bad, _mm256_and_ps(_mm256_cmp_ps(_mm256_sub_ps(xv, xv), _mm256_setzero_ps(), _CMP_UNORD_Q),
                                              valid));
        const __m256 gt = _mm256_cmp_ps(x, mx, _CMP_GT_OQ);
        mx = _mm256_blendv_ps(mx, x, gt);
        arg = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(arg), _mm256_castsi256_ps(idx), gt));
        idx = _mm256_add_epi32(idx, eight);
    }
    const float zmax = hmax256(mx);
    const int at = _mm256_movemask_ps(_mm256_cmp_ps(mx, _mm256_set1_ps(zmax), _CMP_EQ_OQ));
    int lanes[8], a = 0, found = 0;
    _mm256_storeu_si256((__m256i *)lanes, arg);
    for (int l = 0; l < 8; l++)
        if (at >> l & 1 && (!found || lanes[l] < a)) a = lanes[l], found = 1; /* none: every logit NaN or -inf */
    *argmax = a;
    if (_mm256_movemask_ps(bad)) { /* the vector exp clamps its argument: say so instead */
        if (grad)
            for (int v = 0; v < V; v++) z[v] = NAN;
        return NAN;
    }
    const float zy = z[y];
    /* sum of exp(z - max) in double lanes; with grad the exps replace z */
    const __m256 mxv = _mm256_set1_ps(zmax);
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    for (int v = 0; v < V; v += 8) {
        const __m256 e = _mm256_and_ps(exp256(_mm256_sub_ps(load_n(z, v, V), mxv)),
                                       _mm256_castsi256_ps(lane_mask(V - v)));
        s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
        s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
        if (grad) store_n(z, v, V, e);
    }
    double sl[4];
    _mm256_storeu_pd(sl, _mm256_add_pd(s0, s1));
    const double s = (sl[0] + sl[1]) + (sl[2] + sl[3]);
    if (grad) { /* z = gscale (softmax - onehot(y)) */
        const __m256 f = _mm256_set1_ps((float)((double)gscale / s));
        for (int v = 0; v < V; v += 8) store_n(z, v, V, _mm256_mul_ps(load_n(z, v, V), f));
        z[y] -= gscale;
    }
    return (double)zmax + log(s) - (double)zy;
}

/* ---- LayerNorm over rows for training: enc_k512_layernorm_fwd/_bwd on 8
 * lanes (means and variance in double lanes, as the scalar path). ---- */

AI double hsum256d(__m256d v)
{
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

void enc_k256_layernorm_fwd(const float *x, const float *g, const float *b, float *y, float *xhat, float *rstd, int rows,
                            int n, float eps)
{
    for (int i = 0; i < rows; i++) {
        const float *xr = x + (size_t)i * n;
        float *yr = y + (size_t)i * n, *hr = xhat + (size_t)i * n;
        __m256d s = _mm256_setzero_pd();
        for (int j = 0; j < n; j += 8) { /* lanes beyond n load as 0 */
            const __m256 v = load_n(xr, j, n);
            s = _mm256_add_pd(s, _mm256_add_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(v)),
                                               _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1))));
        }
        const double mean = hsum256d(s) / n;
        const __m256d mdd = _mm256_set1_pd(mean);
        __m256d q = _mm256_setzero_pd();
        for (int j = 0; j < n; j += 8) {
            const __m256i m = lane_mask(n - j);
            const __m256 v = load_n(xr, j, n);
            const __m256d ml = _mm256_castsi256_pd(_mm256_cvtepi32_epi64(_mm256_castsi256_si128(m)));
            const __m256d mh = _mm256_castsi256_pd(_mm256_cvtepi32_epi64(_mm256_extracti128_si256(m, 1)));
            const __m256d dl = _mm256_and_pd(_mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(v)), mdd), ml);
            const __m256d dh = _mm256_and_pd(_mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)), mdd), mh);
            q = _mm256_fmadd_pd(dl, dl, _mm256_fmadd_pd(dh, dh, q));
        }
        const float inv = (float)(1.0 / sqrt(hsum256d(q) / n + (double)eps));
        const __m256 md = _mm256_set1_ps((float)mean), iv = _mm256_set1_ps(inv);
        for (int j = 0; j < n; j += 8) {
            const __m256 h = _mm256_mul_ps(_mm256_sub_ps(load_n(xr, j, n), md), iv);
            store_n(hr, j, n, h);
            store_n(yr, j, n, _mm256_fmadd_ps(h, load_n(g, j, n), load_n(b, j, n)));
        }
        rstd[i] = inv;
    }
}

void enc_k256_layernorm_bwd(const float *dy, const float *xhat, const float *rstd, const float *g, float *dx, float *dg,
                            float *db, int rows, int n)
{
    for (int i = 0; i < rows; i++) {
        const float *dr = dy + (size_t)i * n, *hr = xhat + (size_t)i * n;
        float *xr = dx + (size_t)i * n;
        /* the two means in double, as the scalar path: they cancel */
        __m256d s1 = _mm256_setzero_pd(), s2 = _mm256_setzero_pd();
        for (int j = 0; j < n; j += 8) {
            const __m256 d = load_n(dr, j, n), h = load_n(hr, j, n), gv = load_n(g, j, n);
            const __m256d dhl = _mm256_mul_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(d)),
                                              _mm256_cvtps_pd(_mm256_castps256_ps128(gv)));
            const __m256d dhh = _mm256_mul_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(d, 1)),
                                              _mm256_cvtps_pd(_mm256_extractf128_ps(gv, 1)));
            s1 = _mm256_add_pd(s1, _mm256_add_pd(dhl, dhh));
            s2 = _mm256_fmadd_pd(dhl, _mm256_cvtps_pd(_mm256_castps256_ps128(h)), s2);
            s2 = _mm256_fmadd_pd(dhh, _mm256_cvtps_pd(_mm256_extractf128_ps(h, 1)), s2);
            store_n(dg, j, n, _mm256_fmadd_ps(d, h, load_n(dg, j, n)));
            store_n(db, j, n, _mm256_add_ps(d, load_n(db, j, n)));
        }
        const __m256 m1 = _mm256_set1_ps((float)(hsum256d(s1) / n)), m2 = _mm256_set1_ps((float)(hsum256d(s2) / n));
        const __m256 rs = _mm256_set1_ps(rstd[i]);
        for (int j = 0; j < n; j += 8) { /* dx may be dy: read row j.. before writing it */
            const __m256 d = load_n(dr, j, n), h = load_n(hr, j, n);
            const __m256 t = _mm256_sub_ps(_mm256_fmsub_ps(d, load_n(g, j, n), m1), _mm256_mul_ps(h, m2));
            store_n(xr, j, n, _mm256_mul_ps(rs, t));
        }
    }
}

#if defined(__clang__)
#pragma clang attribute pop
#endif
#endif /* PE_KERNELS_X86 */
