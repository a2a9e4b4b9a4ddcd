/* kernels_avx512.c - AVX-512 micro-kernels behind linear.h and attention.h.
 * Compiled for AVX-512 (the pragma below); its entry points
 * run only after kernels_runtime.c found avx512f/bw/vl/dq on the CPU.
 *
 * Linear: y (M, N) = act(x (M, K) . W^T + b). W is packed once into column
 * panels of NR = 32 (Wp[p][k][0..31], zero padded); x is packed per block
 * of MC rows x KC columns into row panels of mr <= MR = 14 rows
 * (Ap[k][0..mr-1]). The micro-kernel keeps an mr x 32 tile of y in 2*mr
 * zmm accumulators, broadcasting one x value per row against two 16-wide W
 * vectors per k; bias and GELU are applied in registers on the last K block.
 * Threads split the rows (large M) or the column panels (small M).
 *
 * Attention: per (sequence, head) task, K is transposed once into scratch
 * (D, n16); then per block of 6 query rows S = q K^T (6 x n) is formed in
 * registers, scaled, softmaxed with a vector exp and multiplied by V
 * straight from the qkv rows. No padding work beyond rounding n to 16.
 * The training attention (forward keeping the probabilities, dropout,
 * backward) reuses these pieces, one task per (sequence, head) as well.
 */

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

#if PE_KERNELS_X86
/* Everything below is compiled for these extensions (GCC and clang). */
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma,bmi2"))), apply_to = function)
#else
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma,bmi2")
#endif

#define NR PE_K512_NR
#define MR 14
#include "kernels_avx512_tile.h"
#include "kernels_jobs.h"

/* Largest K block. K is cut into near-equal blocks of at most KC: with
 * few blocks y is re-read little; the B micro-panel (kc x 32) then lives
 * in L2 and streams at ~4 bytes per FMA cycle, well within L2 bandwidth
 * (measured here: 768..3072 beat 256 by ~5% at M >= 256). */
static int KC = 1536;
static int MC = 14 * 24; /* rows of x packed at once (L2) */

/* ---- vector math (exp512, erf512, gelu512 in kernels_avx512_tile.h) ---- */

void enc_k512_gelu(float *v, size_t n)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(v + i, gelu512(_mm512_loadu_ps(v + i)));
    if (i < n) {
        __mmask16 m = tail_mask((int)(n - i));
        _mm512_mask_storeu_ps(v + i, m, gelu512(_mm512_maskz_loadu_ps(m, v + i)));
    }
}

/* ---- weight packing ---- */

size_t enc_k512_packed_floats(int N, int K) { return (size_t)((N + NR - 1) / NR) * NR * (size_t)K; }

void enc_k512_pack_weights(const float *W, int N, int K, float *Wp)
{
    int np = (N + NR - 1) / NR;
    for (int p = 0; p < np; p++) {
        float *dst = Wp + (size_t)p * K * NR;
        for (int c = 0; c < NR; c++) {
            int n = p * NR + c;
            if (n < N) {
                const float *src = W + (size_t)n * K;
                for (int k = 0; k < K; k++) dst[(size_t)k * NR + c] = src[k];
            } else {
                for (int k = 0; k < K; k++) dst[(size_t)k * NR + c] = 0.0f;
            }
        }
    }
}

/* ---- GEMM micro-kernel ---- */

/* y[r][0..31] (+)= sum_k A[k*mr + r] * B[k*32 + 0..31] for r < mr. */
AI void kern(const int mr, const float *restrict A, const float *restrict B, int kc, float *y, long ldy,
             const tile_epi *e)
{
    __m512 c0[MR], c1[MR];
#pragma GCC unroll 14
    for (int r = 0; r < MR; r++)
        if (r < mr) c0[r] = c1[r] = _mm512_setzero_ps();
    for (int k = 0; k < kc; k++) {
        __m512 b0 = _mm512_load_ps(B), b1 = _mm512_load_ps(B + 16);
#pragma GCC unroll 14
        for (int r = 0; r < MR; r++) {
            if (r < mr) {
                __m512 a = _mm512_set1_ps(A[r]);
                c0[r] = _mm512_fmadd_ps(a, b0, c0[r]);
                c1[r] = _mm512_fmadd_ps(a, b1, c1[r]);
            }
        }
        A += mr;
        B += NR;
    }
    tile_store(mr, c0, c1, y, ldy, e);
}

#define KERN_N(n) \
    static void kern_##n(const float *A, const float *B, int kc, float *y, long ldy, const tile_epi *e) \
    { kern(n, A, B, kc, y, ldy, e); }
KERN_N(1) KERN_N(2) KERN_N(3) KERN_N(4) KERN_N(5) KERN_N(6) KERN_N(7)
KERN_N(8) KERN_N(9) KERN_N(10) KERN_N(11) KERN_N(12) KERN_N(13) KERN_N(14)
typedef void (*kern_fn)(const float *, const float *, int, float *, long, const tile_epi *);
static const kern_fn kerns[MR + 1] = {NULL, kern_1, kern_2, kern_3, kern_4, kern_5, kern_6, kern_7,
                                      kern_8, kern_9, kern_10, kern_11, kern_12, kern_13, kern_14};

/* Ap: rows [r0, r0+mr) x cols [k0, k0+kc) of x (ld K) as [k][mr]. */
static void pack_a(const float *x, long K, int r0, int mr, int k0, int kc, float *Ap)
{
    for (int r = 0; r < mr; r++) {
        const float *src = x + (size_t)(r0 + r) * K + k0;
        float *dst = Ap + r;
        for (int k = 0; k < kc; k++) dst[(size_t)k * mr] = src[k];
    }
}

typedef struct lin_job {
    const float *Wp, *x, *b;
    float *y;
    int M, N, K, act;
    pe_kernels_plan pl;
    _Atomic int failed;
} lin_job;

/* Rows [r0, r1) x panels [p0, p1) of the product. */
static void gemm_range(lin_job *j, int r0, int r1, int p0, int p1, float *Ap)
{
    const int N = j->N, K = j->K;
    for (int ic = r0; ic < r1; ic += MC) {
        const int mc = r1 - ic < MC ? r1 - ic : MC;
        /* mc rows as nm near-equal micro-panels of <= MR rows */
        const int nm = (mc + MR - 1) / MR, base = mc / nm, extra = mc % nm;
        const int nkb = (K + KC - 1) / KC, kcb = (K + nkb - 1) / nkb;
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
                e.m0 = tail_mask(nc);
                e.m1 = tail_mask(nc - 16);
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

/* Tuning knobs for the micro-benchmark (PE_K512_KC, PE_K512_MC). */
static pthread_once_t tune_once = PTHREAD_ONCE_INIT;
static void tune_init(void)
{
    const char *s = getenv("PE_K512_KC"), *t = getenv("PE_K512_MC");
    if (s && atoi(s) >= 16 && atoi(s) <= 4096) KC = atoi(s);
    if (t && atoi(t) >= MR && atoi(t) <= 8192) MC = atoi(t);
}

int enc_k512_linear(const float *Wp, const float *x, const float *b, float *y, int M, int N, int K, int act)
{
    if (M <= 0 || N <= 0) return 0;
    if (K <= 0) { /* empty sum: y = act(b) */
        for (int i = 0; i < M; i++) {
            float *row = y + (size_t)i * N;
            for (int n = 0; n < N; n++) row[n] = b ? b[n] : 0.0f;
            if (act == 1) enc_k512_gelu(row, (size_t)N);
        }
        return 0;
    }
    pthread_once(&tune_once, tune_init);
    lin_job j = {.Wp = Wp, .x = x, .b = b, .y = y, .M = M, .N = N, .K = K, .act = act,
                 .pl = enc_kernels_plan_linear(M, N, K, NR, 4 * MR)};
    enc_kernels_parallel(j.pl.n_tasks, lin_task, &j);
    return atomic_load(&j.failed) ? -1 : 0;
}

/* ---- attention ---- */

#define AR 6 /* query rows per block */

/* C[r][0..nc) = sum_k A[r*lda + k] * B[k*ldb + 0..nc) for r < m <= AR, nc <= 16*NV. */
AI void mm_rows(const int NV, const float *A, long lda, int m, const float *B, long ldb, int kd, int nc, float *C,
                long ldc)
{
    __mmask16 mk[4];
    for (int v = 0; v < 4; v++) mk[v] = tail_mask(nc - 16 * v);
    const float *a[AR];
    for (int r = 0; r < AR; r++) a[r] = A + (size_t)(r < m ? r : m - 1) * lda;
    __m512 c[AR][4];
#pragma GCC unroll 6
    for (int r = 0; r < AR; r++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) c[r][v] = _mm512_setzero_ps();
    for (int k = 0; k < kd; k++) {
        __m512 b[4];
        const float *bk = B + (size_t)k * ldb;
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) b[v] = _mm512_maskz_loadu_ps(mk[v], bk + 16 * v);
#pragma GCC unroll 6
        for (int r = 0; r < AR; r++) {
            __m512 av = _mm512_set1_ps(a[r][k]);
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) c[r][v] = _mm512_fmadd_ps(av, b[v], c[r][v]);
        }
    }
#pragma GCC unroll 6
    for (int r = 0; r < AR; r++)
        if (r < m)
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) _mm512_mask_storeu_ps(C + (size_t)r * ldc + 16 * v, mk[v], c[r][v]);
}

static void mm_rows1(const float *A, long lda, int m, const float *B, long ldb, int kd, int nc, float *C, long ldc)
{ mm_rows(1, A, lda, m, B, ldb, kd, nc, C, ldc); }
static void mm_rows2(const float *A, long lda, int m, const float *B, long ldb, int kd, int nc, float *C, long ldc)
{ mm_rows(2, A, lda, m, B, ldb, kd, nc, C, ldc); }
static void mm_rows3(const float *A, long lda, int m, const float *B, long ldb, int kd, int nc, float *C, long ldc)
{ mm_rows(3, A, lda, m, B, ldb, kd, nc, C, ldc); }
static void mm_rows4(const float *A, long lda, int m, const float *B, long ldb, int kd, int nc, float *C, long ldc)
{ mm_rows(4, A, lda, m, B, ldb, kd, nc, C, ldc); }

/* C (m, nc) = A (m, kd) . B (kd, nc), m <= AR, any nc, in 64-column blocks. */
static void mm_block(const float *A, long lda, int m, const float *B, long ldb, int kd, int nc, float *C, long ldc)
{
    for (int j0 = 0; j0 < nc; j0 += 64) {
        int w = nc - j0 < 64 ? nc - j0 : 64;
        switch ((w + 15) / 16) {
        case 1: mm_rows1(A, lda, m, B + j0, ldb, kd, w, C + j0, ldc); break;
        case 2: mm_rows2(A, lda, m, B + j0, ldb, kd, w, C + j0, ldc); break;
        case 3: mm_rows3(A, lda, m, B + j0, ldb, kd, w, C + j0, ldc); break;
        default: mm_rows4(A, lda, m, B + j0, ldb, kd, w, C + j0, ldc); break;
        }
    }
}

/* In place p = softmax(scale * s) over n valid columns; columns n..np-1 set to 0. */
static void softmax_row(float *s, int n, int np, float scale)
{
    const __m512 sc = _mm512_set1_ps(scale);
    __m512 mx = _mm512_set1_ps(-INFINITY);
    for (int j = 0; j < n; j += 16) {
        __mmask16 m = tail_mask(n - j);
        mx = _mm512_mask_max_ps(mx, m, mx, _mm512_maskz_loadu_ps(m, s + j));
    }
    const __m512 mxs = _mm512_mul_ps(_mm512_set1_ps(_mm512_reduce_max_ps(mx)), sc);
    __m512 sum = _mm512_setzero_ps();
    for (int j = 0; j < np; j += 16) {
        __mmask16 m = tail_mask(n - j);
        __m512 e = _mm512_maskz_mov_ps(m, exp512(_mm512_fmsub_ps(_mm512_loadu_ps(s + j), sc, mxs)));
        sum = _mm512_add_ps(sum, e);
        _mm512_storeu_ps(s + j, e);
    }
    const __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum));
    for (int j = 0; j < n; j += 16) _mm512_storeu_ps(s + j, _mm512_mul_ps(_mm512_loadu_ps(s + j), inv));
}

static void att_task(void *ctx, int task, int tid)
{
    att_job *j = ctx;
    const int H = j->H, D = j->D, C = H * D;
    const long ld = 3L * C;
    const int s = task / H, h = task % H;
    const int t0 = j->offsets[s], n = j->offsets[s + 1] - t0;
    if (n <= 0) return;
    const int np = (n + 15) & ~15;
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

int enc_k512_attention(const float *qkv, float *out, const int *offsets, int n_seq, int H, int D)
{
    if (n_seq <= 0 || H <= 0 || D <= 0) return 0;
    att_job j = {.qkv = qkv, .out = out, .offsets = offsets, .H = H, .D = D};
    enc_kernels_parallel(n_seq * H, att_task, &j);
    return atomic_load(&j.failed) ? -1 : 0;
}

/* ---- attention for training (train_ops.c) ----
 * One task per (sequence, head), as above, keeping the probabilities and
 * applying attention dropout with enc_k512_dropout's mask (element index =
 * the position in probs, as the scalar path). */

static void tatt_fwd_task(void *ctx, int task, int tid)
{
    tatt_job *j = ctx;
    const int H = j->H, D = j->D, C = H * D, s = task / H, h = task % H;
    const long ld = 3L * C;
    const int t0 = j->offsets[s], n = j->offsets[s + 1] - t0;
    if (n <= 0) return;
    const int np = (n + 15) & ~15;
    float *buf = enc_kernels_scratch(tid, (size_t)D * np + 2 * (size_t)AR * np);
    if (!buf) {
        atomic_store(&j->failed, 1);
        return;
    }
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
            if (j->drop) enc_k512_dropout(sr, Pd + (size_t)r * np, n, j->key, j->thr, j->dscale, pb + (size_t)(i0 + r) * n);
        }
        mm_block(j->drop ? Pd : S, np, m, v, ld, n, D, o + (size_t)i0 * C, C); /* ctx rows = Pd V */
    }
}

static void tatt_bwd_task(void *ctx, int task, int tid)
{
    tatt_job *j = ctx;
    const int H = j->H, D = j->D, C = H * D, s = task / H, h = task % H;
    const long ld = 3L * C;
    const int t0 = j->offsets[s], n = j->offsets[s + 1] - t0;
    if (n <= 0) return;
    const int np = (n + 15) & ~15;
    float *buf = enc_kernels_scratch(tid, (size_t)D * np + 3 * (size_t)n * np);
    if (!buf) {
        atomic_store(&j->failed, 1);
        return;
    }
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
            enc_k512_dropout(pr, pd, n, j->key, j->thr, j->dscale, at);
            enc_k512_dropout(dr, dr, n, j->key, j->thr, j->dscale, at);
        } else {
            memcpy(pd, pr, (size_t)n * sizeof *pd);
        }
        /* dS = scale P (dP - rowsum(dP P)) */
        __m512 acc = _mm512_setzero_ps();
        for (int c = 0; c < n; c += 16) {
            const __mmask16 mk = tail_mask(n - c);
            acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mk, dr + c), _mm512_maskz_loadu_ps(mk, pr + c), acc);
        }
        const __m512 dot = _mm512_set1_ps(_mm512_reduce_add_ps(acc)), sc = _mm512_set1_ps(scale);
        for (int c = 0; c < n; c += 16) {
            const __mmask16 mk = tail_mask(n - c);
            const __m512 x = _mm512_sub_ps(_mm512_maskz_loadu_ps(mk, dr + c), dot);
            _mm512_mask_storeu_ps(dr + c, mk, _mm512_mul_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(mk, pr + c), x), sc));
        }
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

int enc_k512_train_attention(const float *qkv, float *ctx, float *probs, const float *dctx, float *dqkv,
                             const int *offsets, int n_seq, int H, int D, int drop, uint64_t key, uint32_t thr,
                             float dscale)
{
    if (n_seq <= 0 || H <= 0 || D <= 0) return 0;
    tatt_job j = {.qkv = qkv, .dctx = dctx, .ctx = ctx, .probs = probs, .dqkv = dqkv, .offsets = offsets, .H = H,
                  .D = D, .drop = drop, .key = key, .thr = thr, .dscale = dscale};
    enc_kernels_parallel(n_seq * H, dctx ? tatt_bwd_task : tatt_fwd_task, &j);
    return atomic_load(&j.failed) ? -1 : 0;
}

/* ---- LayerNorm ---- */

/* x = (x + r - mean) / sqrt(var + eps) * g + b for one row. 16 lane
 * partial sums in float, reduced in double: as accurate as a double loop
 * for rows of a few thousand. */
static void ln_row512(float *x, const float *r, const float *g, const float *b, int n, float eps)
{
    __m512 s = _mm512_setzero_ps();
    for (int j = 0; j < n; j += 16) {
        __mmask16 m = tail_mask(n - j);
        __m512 v = _mm512_maskz_loadu_ps(m, x + j);
        if (r) {
            v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, r + j));
            _mm512_mask_storeu_ps(x + j, m, v);
        }
        s = _mm512_add_ps(s, v);
    }
    float lanes[16];
    _mm512_storeu_ps(lanes, s);
    double sum = 0;
    for (int i = 0; i < 16; i++) sum += lanes[i];
    const float mean = (float)(sum / n);
    const __m512 mv = _mm512_set1_ps(mean);
    __m512 q = _mm512_setzero_ps();
    for (int j = 0; j < n; j += 16) {
        __mmask16 m = tail_mask(n - j);
        __m512 d = _mm512_maskz_sub_ps(m, _mm512_maskz_loadu_ps(m, x + j), mv);
        q = _mm512_fmadd_ps(d, d, q);
    }
    _mm512_storeu_ps(lanes, q);
    double var = 0;
    for (int i = 0; i < 16; i++) var += lanes[i];
    const __m512 inv = _mm512_set1_ps((float)(1.0 / sqrt(var / n + (double)eps)));
    for (int j = 0; j < n; j += 16) {
        __mmask16 m = tail_mask(n - j);
        __m512 v = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + j), mv), inv);
        v = _mm512_fmadd_ps(v, _mm512_maskz_loadu_ps(m, g + j), _mm512_maskz_loadu_ps(m, b + j));
        _mm512_mask_storeu_ps(x + j, m, v);
    }
}

static void ln_task(void *ctx, int t, int tid)
{
    ln_job *j = ctx;
    int r0 = t * j->chunk, r1 = r0 + j->chunk < j->rows ? r0 + j->chunk : j->rows;
    for (int i = r0; i < r1; i++)
        ln_row512(j->x + (size_t)i * j->n, j->r ? j->r + (size_t)i * j->n : NULL, j->g, j->b, j->n, j->eps);
}

void enc_k512_add_layernorm(float *x, const float *r, const float *g, const float *b, int rows, int n, float eps)
{
    if (rows <= 0 || n <= 0) return;
    ln_job j = {.x = x, .r = r, .g = g, .b = b, .rows = rows, .n = n, .eps = eps};
    /* ~32K elements per task: enough to pay for the hand-off */
    j.chunk = 32768 / n > 0 ? 32768 / n : 1;
    int tasks = (rows + j.chunk - 1) / j.chunk;
    enc_kernels_parallel(tasks, ln_task, &j);
}

#if defined(__clang__)
#pragma clang attribute pop
#endif
#endif /* PE_KERNELS_X86 */
