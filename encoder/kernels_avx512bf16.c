/* kernels_avx512bf16.c - optional bf16 linear (AVX-512 BF16, vdpbf16ps):
 * W and x are rounded to bfloat16 (round to nearest even), products are
 * accumulated in f32, bias and GELU in f32. About twice the f32 rate of
 * the FMA units on Zen 4/5, for ~3 significant digits per product (the
 * accuracy cost is measured by pe_bench_encoder and in test_kernels).
 * Compiled for AVX-512 BF16; called only when kernels_runtime.c found it.
 *
 * Layouts: Wb[p][kp][c][2] (u16) = bf16(W[p*32 + c][2kp + {0,1}]) for the
 * 32-column panel p and k pair kp, zero padded (K rounded up to even, N to
 * 32); per row panel Ab[kp][r] (u32) = the bf16 pair x[r][2kp], x[r][2kp+1].
 */

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "kernels.h"

#if PE_KERNELS_X86
/* Everything below is compiled for these extensions (GCC and clang). */
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,fma"))), apply_to = function)
#else
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,fma")
#endif

#define NR PE_K512_NR
#define MR 14
#define KCP 768      /* most k pairs per K block (1536 k; see KC in kernels_avx512.c) */
#define MC (14 * 24) /* rows packed at once */
#include "kernels_avx512_tile.h"

static inline uint16_t bf16_rne(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

size_t enc_kbf16_packed_u16(int N, int K) { return (size_t)((N + NR - 1) / NR) * NR * (size_t)((K + 1) & ~1); }

void enc_kbf16_pack_weights(const float *W, int N, int K, uint16_t *Wb)
{
    const int np = (N + NR - 1) / NR, K2 = (K + 1) & ~1;
    for (int p = 0; p < np; p++) {
        uint16_t *dst = Wb + (size_t)p * K2 * NR;
        for (int c = 0; c < NR; c++) {
            const int n = p * NR + c;
            for (int k = 0; k < K2; k++) {
                float v = n < N && k < K ? W[(size_t)n * K + k] : 0.0f;
                dst[(size_t)(k >> 1) * 2 * NR + 2 * c + (k & 1)] = bf16_rne(v);
            }
        }
    }
}

AI void kern(const int mr, const uint32_t *restrict A, const uint16_t *restrict B, int kcp, float *y, long ldy,
             const tile_epi *e)
{
    __m512 c0[MR], c1[MR];
#pragma GCC unroll 14
    for (int r = 0; r < MR; r++)
        if (r < mr) c0[r] = c1[r] = _mm512_setzero_ps();
    for (int k = 0; k < kcp; k++) {
        __m512bh b0 = (__m512bh)_mm512_load_si512(B), b1 = (__m512bh)_mm512_load_si512(B + 32);
#pragma GCC unroll 14
        for (int r = 0; r < MR; r++) {
            if (r < mr) {
                __m512bh a = (__m512bh)_mm512_set1_epi32((int)A[r]);
                c0[r] = _mm512_dpbf16_ps(c0[r], a, b0);
                c1[r] = _mm512_dpbf16_ps(c1[r], a, b1);
            }
        }
        A += mr;
        B += 2 * NR;
    }
    tile_store(mr, c0, c1, y, ldy, e);
}

#define KERN_N(n) \
    static void kern_##n(const uint32_t *A, const uint16_t *B, int kcp, float *y, long ldy, const tile_epi *e) \
    { kern(n, A, B, kcp, y, ldy, e); }
KERN_N(1) KERN_N(2) KERN_N(3) KERN_N(4) KERN_N(5) KERN_N(6) KERN_N(7)
KERN_N(8) KERN_N(9) KERN_N(10) KERN_N(11) KERN_N(12) KERN_N(13) KERN_N(14)
typedef void (*kern_fn)(const uint32_t *, const uint16_t *, int, float *, long, const tile_epi *);
static const kern_fn kerns[MR + 1] = {NULL, kern_1, kern_2, kern_3, kern_4, kern_5, kern_6, kern_7,
                                      kern_8, kern_9, kern_10, kern_11, kern_12, kern_13, kern_14};

/* Ab[kp][r] for rows [r0, r0+mr), k pairs [kp0, kp0+kcp) of x (M, K). */
static void pack_a(const float *x, int K, int r0, int mr, int kp0, int kcp, uint32_t *Ab)
{
    for (int r = 0; r < mr; r++) {
        const float *src = x + (size_t)(r0 + r) * K;
        int kp = 0;
        /* 16 pairs at a time: convert 32 floats to 32 bf16 in k order */
        for (; kp + 16 <= kcp && 2 * (kp0 + kp) + 32 <= K; kp += 16) {
            const float *s = src + 2 * (kp0 + kp);
            __m512i v = (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(s + 16), _mm512_loadu_ps(s));
            uint32_t tmp[16];
            _mm512_storeu_si512(tmp, v);
            for (int i = 0; i < 16; i++) Ab[(size_t)(kp + i) * mr + r] = tmp[i];
        }
        for (; kp < kcp; kp++) {
            int k = 2 * (kp0 + kp);
            uint32_t lo = bf16_rne(k < K ? src[k] : 0.0f), hi = bf16_rne(k + 1 < K ? src[k + 1] : 0.0f);
            Ab[(size_t)kp * mr + r] = lo | hi << 16;
        }
    }
}

typedef struct lin_job {
    const uint16_t *Wb;
    const float *x, *b;
    float *y;
    int M, N, K, act;
    pe_kernels_plan pl;
    _Atomic int failed;
} lin_job;

static void gemm_range(lin_job *j, int r0, int r1, int p0, int p1, uint32_t *Ab)
{
    const int N = j->N, K2 = (j->K + 1) & ~1, KP = K2 / 2;
    for (int ic = r0; ic < r1; ic += MC) {
        const int mc = r1 - ic < MC ? r1 - ic : MC;
        const int nm = (mc + MR - 1) / MR, base = mc / nm, extra = mc % nm;
        const int nkb = (KP + KCP - 1) / KCP, kcb = (KP + nkb - 1) / nkb;
        for (int pc = 0; pc < KP; pc += kcb) {
            const int kcp = KP - pc < kcb ? KP - pc : kcb;
            for (int i = 0, off = 0; i < nm; i++) {
                int mr = base + (i < extra);
                pack_a(j->x, j->K, ic + off, mr, pc, kcp, Ab + (size_t)off * kcp);
                off += mr;
            }
            tile_epi e = {.accum = pc > 0, .last = pc + kcp >= KP, .gelu = j->act == 1};
            for (int p = p0; p < p1; p++) {
                const uint16_t *Bp = j->Wb + (size_t)p * K2 * NR + (size_t)pc * 2 * NR;
                const int nc = N - p * NR;
                e.m0 = tail_mask(nc);
                e.m1 = tail_mask(nc - 16);
                e.bias = j->b ? j->b + p * NR : NULL;
                for (int i = 0, off = 0; i < nm; i++) {
                    int mr = base + (i < extra);
                    kerns[mr](Ab + (size_t)off * kcp, Bp, kcp, j->y + (size_t)(ic + off) * N + p * NR, N, &e);
                    off += mr;
                }
            }
        }
    }
}

static void lin_task(void *ctx, int t, int tid)
{
    lin_job *j = ctx;
    uint32_t *Ab = (uint32_t *)enc_kernels_scratch(tid, (size_t)MC * KCP);
    if (!Ab) {
        atomic_store(&j->failed, 1);
        return;
    }
    int r0, r1, p0, p1;
    enc_kernels_plan_task(&j->pl, j->M, t, &r0, &r1, &p0, &p1);
    if (r1 > r0 && p1 > p0) gemm_range(j, r0, r1, p0, p1, Ab);
}

int enc_kbf16_linear(const uint16_t *Wb, const float *x, const float *b, float *y, int M, int N, int K, int act)
{
    if (M <= 0 || N <= 0 || K <= 0) return -1; /* the f32 paths handle the degenerate cases */
    lin_job j = {.Wb = Wb, .x = x, .b = b, .y = y, .M = M, .N = N, .K = K, .act = act,
                 .pl = enc_kernels_plan_linear(M, N, K, NR, 4 * MR)};
    enc_kernels_parallel(j.pl.n_tasks, lin_task, &j);
    return atomic_load(&j.failed) ? -1 : 0;
}

#if defined(__clang__)
#pragma clang attribute pop
#endif
#endif /* PE_KERNELS_X86 */
