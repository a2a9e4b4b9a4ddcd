/* kernels_avx512_train.c - AVX-512 paths of the training ops (train_ops.c,
 * train/mlm.c) other than the products (those use kernels_avx512.c's
 * linear): GELU and its derivative, dropout's hash, the cross-entropy of a
 * row of logits, LayerNorm's forward and backward over rows. Compiled for AVX-512 as kernels_avx512.c; run only after
 * kernels_runtime.c found avx512f/bw/vl/dq on the CPU. */

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

#if PE_KERNELS_X86
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma,bmi2,popcnt"))), \
                             apply_to = function)
#else
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma,bmi2,popcnt")
#endif

#define MR 14 /* for the tile header; no product here */
#include "kernels_avx512_tile.h"

/* ---- GELU ---- */

/* Phi(x) = (1 + erf(x / sqrt 2)) / 2 and x phi(x), phi the normal density. */
AI __m512 dgelu512(__m512 x)
{
    const __m512 cdf = _mm512_mul_ps(
        _mm512_add_ps(erf512(_mm512_mul_ps(x, _mm512_set1_ps(0.70710678118654752f))), _mm512_set1_ps(1.0f)),
        _mm512_set1_ps(0.5f));
    const __m512 pdf = _mm512_mul_ps(exp512(_mm512_mul_ps(_mm512_mul_ps(x, x), _mm512_set1_ps(-0.5f))),
                                     _mm512_set1_ps(0.39894228040143268f));
    return _mm512_fmadd_ps(x, pdf, cdf);
}

void enc_k512_gelu_fwd(const float *u, float *y, size_t n)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, gelu512(_mm512_loadu_ps(u + i)));
    if (i < n) {
        const __mmask16 m = tail_mask((int)(n - i));
        _mm512_mask_storeu_ps(y + i, m, gelu512(_mm512_maskz_loadu_ps(m, u + i)));
    }
}

void enc_k512_gelu_bwd(const float *u, const float *dy, float *du, size_t n)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(du + i, _mm512_mul_ps(_mm512_loadu_ps(dy + i), dgelu512(_mm512_loadu_ps(u + i))));
    if (i < n) {
        const __mmask16 m = tail_mask((int)(n - i));
        _mm512_mask_storeu_ps(
            du + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, dy + i), dgelu512(_mm512_maskz_loadu_ps(m, u + i))));
    }
}

/* ---- dropout ---- */

/* splitmix64's finaliser on 8 lanes, as mix64 in train_ops.c. */
AI __m512i mix64_512(__m512i z)
{
    z = _mm512_add_epi64(z, _mm512_set1_epi64((long long)0x9E3779B97F4A7C15ull));
    z = _mm512_mullo_epi64(_mm512_xor_si512(z, _mm512_srli_epi64(z, 30)),
                           _mm512_set1_epi64((long long)0xBF58476D1CE4E5B9ull));
    z = _mm512_mullo_epi64(_mm512_xor_si512(z, _mm512_srli_epi64(z, 27)),
                           _mm512_set1_epi64((long long)0x94D049BB133111EBull));
    return _mm512_xor_si512(z, _mm512_srli_epi64(z, 31));
}

size_t enc_k512_dropout(const float *x, float *y, size_t n, uint64_t key, uint32_t thr, float scale, uint64_t base)
{
    const __m512i k = _mm512_set1_epi64((long long)key), t = _mm512_set1_epi64((long long)thr);
    const __m512i step = _mm512_set1_epi64(16), lo0 = _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7);
    __m512i i0 = _mm512_add_epi64(_mm512_set1_epi64((long long)base), lo0);
    __m512i i1 = _mm512_add_epi64(i0, _mm512_set1_epi64(8));
    const __m512 sc = _mm512_set1_ps(scale);
    size_t zeroed = 0;
    for (size_t i = 0; i < n; i += 16) {
        const __mmask16 m = tail_mask(n - i >= 16 ? 16 : (int)(n - i));
        /* element i is dropped when the top 24 bits of its hash are < thr */
        const __mmask8 d0 = _mm512_cmplt_epu64_mask(_mm512_srli_epi64(mix64_512(_mm512_xor_si512(k, i0)), 40), t);
        const __mmask8 d1 = _mm512_cmplt_epu64_mask(_mm512_srli_epi64(mix64_512(_mm512_xor_si512(k, i1)), 40), t);
        const __mmask16 drop = (__mmask16)(((unsigned)d1 << 8) | d0) & m;
        const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        _mm512_mask_storeu_ps(y + i, m, _mm512_maskz_mul_ps((__mmask16)~drop, v, sc));
        zeroed += (size_t)__builtin_popcount(drop);
        i0 = _mm512_add_epi64(i0, step);
        i1 = _mm512_add_epi64(i1, step);
    }
    return zeroed;
}

/* ---- cross-entropy ---- */

double enc_k512_ce_row(float *z, int V, int y, float gscale, int grad, int *argmax)
{
    /* max, and the first index that has it (lanes keep their first; the
     * lowest index among the lanes holding the maximum wins) */
    __m512 mx = _mm512_set1_ps(-INFINITY);
    __m512i arg = _mm512_set1_epi32(0), idx = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i sixteen = _mm512_set1_epi32(16);
    __mmask16 bad = 0; /* lanes that saw a NaN or an infinity */
    for (int v = 0; v < V; v += 16) {
        const __mmask16 m = tail_mask(V - v);
        const __m512 x = _mm512_maskz_loadu_ps(m, z + v);
        bad |= _mm512_cmp_ps_mask(_mm512_sub_ps(x, x), _mm512_setzero_ps(), _CMP_UNORD_Q);
        const __mmask16 gt = _mm512_mask_cmp_ps_mask(m, x, mx, _CMP_GT_OQ);
        mx = _mm512_mask_mov_ps(mx, gt, x);
        arg = _mm512_mask_mov_epi32(arg, gt, idx);
        idx = _mm512_add_epi32(idx, sixteen);
    }
    const float zmax = _mm512_reduce_max_ps(mx);
    const __mmask16 at = _mm512_cmp_ps_mask(mx, _mm512_set1_ps(zmax), _CMP_EQ_OQ);
    int a = _mm512_mask_reduce_min_epi32(at, arg);
    if (!at) a = 0; /* every logit NaN or -inf */
    *argmax = a;
    if (bad) { /* the vector exp clamps its argument: say so instead */
        if (grad)
            for (int v = 0; v < V; v++) z[v] = NAN;
        return NAN;
    }
    const float zy = z[y];
    /* sum of exp(z - max) in double lanes; with grad the exps replace z */
    const __m512 mxv = _mm512_set1_ps(zmax);
    __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd();
    for (int v = 0; v < V; v += 16) {
        const __mmask16 m = tail_mask(V - v);
        const __m512 e = _mm512_maskz_mov_ps(m, exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, z + v), mxv)));
        s0 = _mm512_add_pd(s0, _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
        s1 = _mm512_add_pd(s1, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(e), 1))));
        if (grad) _mm512_mask_storeu_ps(z + v, m, e);
    }
    const double s = _mm512_reduce_add_pd(_mm512_add_pd(s0, s1));
    if (grad) { /* z = gscale (softmax - onehot(y)) */
        const __m512 f = _mm512_set1_ps((float)((double)gscale / s));
        for (int v = 0; v < V; v += 16) {
            const __mmask16 m = tail_mask(V - v);
            _mm512_mask_storeu_ps(z + v, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, z + v), f));
        }
        z[y] -= gscale;
    }
    return (double)zmax + log(s) - (double)zy;
}

/* ---- LayerNorm ---- */

void enc_k512_layernorm_fwd(const float *x, const float *g, const float *b, float *y, float *xhat, float *rstd, int rows,
                            int n, float eps)
{
    for (int i = 0; i < rows; i++) {
        const float *xr = x + (size_t)i * n;
        float *yr = y + (size_t)i * n, *hr = xhat + (size_t)i * n;
        /* mean and variance in double lanes, as enc_layernorm_row */
        __m512d s = _mm512_setzero_pd();
        for (int j = 0; j < n; j += 8)
            s = _mm512_add_pd(s, _mm512_cvtps_pd(_mm256_maskz_loadu_ps((__mmask8)tail_mask(n - j), xr + j)));
        const double mean = _mm512_reduce_add_pd(s) / n;
        const __m512d mdd = _mm512_set1_pd(mean);
        __m512d q = _mm512_setzero_pd();
        for (int j = 0; j < n; j += 8) {
            const __mmask8 m = (__mmask8)tail_mask(n - j);
            const __m512d d = _mm512_maskz_sub_pd(m, _mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, xr + j)), mdd);
            q = _mm512_fmadd_pd(d, d, q);
        }
        const float inv = (float)(1.0 / sqrt(_mm512_reduce_add_pd(q) / n + (double)eps));
        const __m512 md = _mm512_set1_ps((float)mean);
        const __m512 iv = _mm512_set1_ps(inv);
        for (int j = 0; j < n; j += 16) {
            const __mmask16 m = tail_mask(n - j);
            const __m512 h = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, xr + j), md), iv);
            _mm512_mask_storeu_ps(hr + j, m, h);
            _mm512_mask_storeu_ps(yr + j, m,
                                  _mm512_fmadd_ps(h, _mm512_maskz_loadu_ps(m, g + j), _mm512_maskz_loadu_ps(m, b + j)));
        }
        rstd[i] = inv;
    }
}

void enc_k512_layernorm_bwd(const float *dy, const float *xhat, const float *rstd, const float *g, float *dx, float *dg,
                            float *db, int rows, int n)
{
    for (int i = 0; i < rows; i++) {
        const float *dr = dy + (size_t)i * n, *hr = xhat + (size_t)i * n;
        float *xr = dx + (size_t)i * n;
        /* the two means in double, as the scalar path: they cancel */
        __m512d s1 = _mm512_setzero_pd(), s2 = _mm512_setzero_pd();
        for (int j = 0; j < n; j += 16) {
            const __mmask16 m = tail_mask(n - j);
            const __m512 d = _mm512_maskz_loadu_ps(m, dr + j), h = _mm512_maskz_loadu_ps(m, hr + j);
            const __m512 gv = _mm512_maskz_loadu_ps(m, g + j);
            for (int half = 0; half < 2; half++) {
                const __m256 d8 = half ? _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(d), 1))
                                       : _mm512_castps512_ps256(d);
                const __m256 g8 = half ? _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(gv), 1))
                                       : _mm512_castps512_ps256(gv);
                const __m256 h8 = half ? _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(h), 1))
                                       : _mm512_castps512_ps256(h);
                const __m512d dh = _mm512_mul_pd(_mm512_cvtps_pd(d8), _mm512_cvtps_pd(g8));
                s1 = _mm512_add_pd(s1, dh);
                s2 = _mm512_fmadd_pd(dh, _mm512_cvtps_pd(h8), s2);
            }
            _mm512_mask_storeu_ps(dg + j, m, _mm512_fmadd_ps(d, h, _mm512_maskz_loadu_ps(m, dg + j)));
            _mm512_mask_storeu_ps(db + j, m, _mm512_add_ps(d, _mm512_maskz_loadu_ps(m, db + j)));
        }
        const __m512 m1 = _mm512_set1_ps((float)(_mm512_reduce_add_pd(s1) / n)),
                     m2 = _mm512_set1_ps((float)(_mm512_reduce_add_pd(s2) / n));
        const __m512 rs = _mm512_set1_ps(rstd[i]);
        for (int j = 0; j < n; j += 16) { /* dx may be dy: read row j.. before writing it */
            const __mmask16 m = tail_mask(n - j);
            const __m512 d = _mm512_maskz_loadu_ps(m, dr + j), h = _mm512_maskz_loadu_ps(m, hr + j);
            const __m512 t = _mm512_sub_ps(_mm512_fmsub_ps(d, _mm512_maskz_loadu_ps(m, g + j), m1), _mm512_mul_ps(h, m2));
            _mm512_mask_storeu_ps(xr + j, m, _mm512_mul_ps(rs, t));
        }
    }
}

#if defined(__clang__)
#pragma clang attribute pop
#endif
#endif /* PE_KERNELS_X86 */
