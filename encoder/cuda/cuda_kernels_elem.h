/* cuda_kernels_elem.h - internal: the per-element index math and arithmetic
 * of the kernels in cuda_kernels.cu, written once for both compilers: nvcc
 * builds them as __host__ __device__ functions into the kernels, a C
 * compiler as static inline functions. tests/test_cuda_emu.c runs the same
 * code on the CPU (an emulation of the CUDA calls), so that the scatter and
 * gather indices, the masking and the rounding are tested without a GPU.
 * What stays GPU-only: the launch shapes, the shared-memory rows and the
 * warp/block reductions (their results are tested by test_cuda on a GPU).
 *
 * Layouts as in cuda_kernels.h: packed rows (T, .) with sequence offsets
 * (B+1); padded per-head tensors (B, H, Lp, D), C = H * D.
 */
#ifndef PE_ENCODER_CUDA_KERNELS_ELEM_H
#define PE_ENCODER_CUDA_KERNELS_ELEM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __CUDACC__
#define PE_CUK_HD static __host__ __device__ __forceinline__
#else
#include <math.h>
#define PE_CUK_HD static inline
#endif

/* Exact (erf) GELU, as enc_gelu on the CPU. */
PE_CUK_HD float enc_cuk_gelu(float v) { return 0.5f * v * (1.0f + erff(v * 0.70710678118654752f)); }

/* Element e of a padded (B, H, Lp, D) tensor: its sequence s, head h,
 * row i and column d. Returns the packed token row t0 + i and sets *col to
 * the column h*D + d of the (T, C) q (k, v: + C, + 2C) part of qkv; -1
 * when i is past the sequence's length (a zero padding row). offsets are
 * the chunk's (its first sequence is s = 0). */
PE_CUK_HD long long enc_cuk_padded_src(size_t e, const int32_t *offsets, int H, int Lp, int D, int *col)
{
    const int d = (int)(e % (size_t)D);
    size_t r = e / (size_t)D;
    const int i = (int)(r % (size_t)Lp);
    r /= (size_t)Lp;
    const int h = (int)(r % (size_t)H);
    const size_t s = r / (size_t)H;
    const int t0 = offsets[s], len = offsets[s + 1] - t0;
    *col = h * D + d;
    return i < len ? (long long)t0 + i : -1;
}

/* Score row r of (B, H, Lp, Lp): *s the sequence (within the chunk), *i the
 * query row. */
PE_CUK_HD void enc_cuk_score_row(size_t r, int H, int Lp, int *s, int *i)
{
    *i = (int)(r % (size_t)Lp);
    *s = (int)(r / (size_t)Lp / (size_t)H);
}

/* Element e of rows t0 .. t0+n-1 of packed (T, C): *dst its index in the
 * packed tensor; returns its index in the padded context (chunk, H, Lp, D),
 * token t being row rows[t] of sequence seq[t] - seq0. */
PE_CUK_HD size_t enc_cuk_packed_elem(size_t e, const int32_t *seq, const int32_t *rows, int t0, int seq0, int H,
                                    int Lp, int D, size_t *dst)
{
    const size_t C = (size_t)H * (size_t)D;
    const size_t t = (size_t)t0 + e / C;
    const int c = (int)(e % C), h = c / D, d = c % D;
    *dst = t * C + (size_t)c;
    return (((size_t)(seq[t] - seq0) * (size_t)H + (size_t)h) * (size_t)Lp + (size_t)rows[t]) * (size_t)D +
           (size_t)d;
}

#endif
