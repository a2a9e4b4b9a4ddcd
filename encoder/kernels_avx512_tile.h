/* kernels_avx512_tile.h - internal: the pieces of the linear micro-kernel
 * that the f32 (kernels_avx512.c), bf16 (kernels_avx512bf16.c) and
 * training (kernels_avx512_train.c) AVX-512 paths share: exp, erf and GELU
 * in registers, column tail masks, and the tile epilogue (accumulate over K
 * blocks, bias, GELU, masked store).
 *
 * Include it only after the file's `#pragma GCC target` / `clang attribute
 * push` for AVX-512, with MR (rows of a tile) defined; every function is
 * always inlined into that file's kernels, so each keeps its own target. */
#ifndef PE_ENCODER_KERNELS_AVX512_TILE_H
#define PE_ENCODER_KERNELS_AVX512_TILE_H

#include <immintrin.h>

#ifndef MR
#error "define MR (rows of a micro-tile) before including kernels_avx512_tile.h"
#endif
#define AI static inline __attribute__((always_inline))

/* erf(x): odd/even rational minimax fit on [-4, 4] (the one Eigen uses);
 * beyond 4 erf is +-1 in float. */
AI __m512 erf512(__m512 x)
{
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-4.0f)), _mm512_set1_ps(4.0f));
    __m512 x2 = _mm512_mul_ps(x, x);
    __m512 p = _mm512_fmadd_ps(x2, _mm512_set1_ps(-2.72614225801306e-10f), _mm512_set1_ps(2.77068142495902e-08f));
    p = _mm512_fmadd_ps(x2, p, _mm512_set1_ps(-2.10102402082508e-06f));
    p = _mm512_fmadd_ps(x2, p, _mm512_set1_ps(-5.69250639462346e-05f));
    p = _mm512_fmadd_ps(x2, p, _mm512_set1_ps(-7.34990630326855e-04f));
    p = _mm512_fmadd_ps(x2, p, _mm512_set1_ps(-2.95459980854025e-03f));
    p = _mm512_fmadd_ps(x2, p, _mm512_set1_ps(-1.60960333262415e-02f));
    p = _mm512_mul_ps(x, p);
    __m512 q = _mm512_fmadd_ps(x2, _mm512_set1_ps(-1.45660718464996e-05f), _mm512_set1_ps(-2.13374055278905e-04f));
    q = _mm512_fmadd_ps(x2, q, _mm512_set1_ps(-1.68282697438203e-03f));
    q = _mm512_fmadd_ps(x2, q, _mm512_set1_ps(-7.37332916720468e-03f));
    q = _mm512_fmadd_ps(x2, q, _mm512_set1_ps(-1.42647390514189e-02f));
    return _mm512_div_ps(p, q);
}

/* exp(x), Cephes polynomial on [-ln2/2, ln2/2], scaled by 2^n; ~1 ulp. */
AI __m512 exp512(__m512 x)
{
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.3365447505531f)), _mm512_set1_ps(88.3762626647949f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500E-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507E-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073E-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894E-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459E-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201E-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(p, n);
}

/* gelu(x) = x/2 (1 + erf(x / sqrt 2)), the exact form BERT uses. */
AI __m512 gelu512(__m512 x)
{
    __m512 e = erf512(_mm512_mul_ps(x, _mm512_set1_ps(0.70710678118654752f)));
    return _mm512_mul_ps(_mm512_mul_ps(x, _mm512_set1_ps(0.5f)), _mm512_add_ps(e, _mm512_set1_ps(1.0f)));
}

/* Lanes 0..n-1 of 16 (n clamped to [0, 16]). */
AI __mmask16 tail_mask(int n) { return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? 0 : (__mmask16)((1u << n) - 1); }

/* What to do with a finished mr x 32 tile of accumulators. */
typedef struct tile_epi {
    __mmask16 m0, m1;  /* valid columns of the two 16-wide halves */
    int accum;         /* add to what y holds (not the first K block) */
    int last;          /* last K block: apply bias and activation */
    const float *bias; /* at this panel's first column, or NULL */
    int gelu;
} tile_epi;

/* y[r][0..31] = (y[r] if e->accum) + c0[r] | c1[r], then on the last K
 * block + bias and GELU, for r < mr; masked to the panel's valid columns. */
AI void tile_store(const int mr, const __m512 *c0, const __m512 *c1, float *y, long ldy, const tile_epi *e)
{
    __m512 bias0 = _mm512_setzero_ps(), bias1 = _mm512_setzero_ps();
    if (e->last && e->bias) {
        bias0 = _mm512_maskz_loadu_ps(e->m0, e->bias);
        bias1 = _mm512_maskz_loadu_ps(e->m1, e->bias + 16);
    }
#pragma GCC unroll 14
    for (int r = 0; r < MR; r++) {
        if (r < mr) {
            float *row = y + (size_t)r * ldy;
            __m512 v0 = c0[r], v1 = c1[r];
            if (e->accum) {
                v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(e->m0, row));
                v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(e->m1, row + 16));
            }
            if (e->last) {
                v0 = _mm512_add_ps(v0, bias0);
                v1 = _mm512_add_ps(v1, bias1);
                if (e->gelu) {
                    v0 = gelu512(v0);
                    v1 = gelu512(v1);
                }
            }
            _mm512_mask_storeu_ps(row, e->m0, v0);
            _mm512_mask_storeu_ps(row + 16, e->m1, v1);
        }
    }
}

#endif
