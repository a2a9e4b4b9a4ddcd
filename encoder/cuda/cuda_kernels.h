/* cuda_kernels.h - internal: the element-wise CUDA kernels of the encoder's
 * CUDA backend (cuda_kernels.cu), callable from C. Every pointer is device
 * memory; every launcher enqueues on `stream` and returns the launch status
 * (cudaGetLastError), never synchronising.
 *
 * Layouts (row-major): a packed batch has T tokens, B sequences with
 * offsets (B+1) on the device; C hidden, H heads, D = C/H; attention works on
 * padded per-head tensors (B, H, Lp, D) where Lp is the longest sequence of
 * the batch (see cuda_backend.c for why).
 */
#ifndef PE_ENCODER_CUDA_KERNELS_H
#define PE_ENCODER_CUDA_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Rows up to this many columns fit the LayerNorm kernels' shared memory. */
#define PE_CUK_MAX_LN_COLS 8192

/* out (T, C) = LN(word[ids] + pos[positions] + type[types]) * g + b. */
cudaError_t enc_cuk_embed_layernorm(const int32_t *ids, const int32_t *types, const int32_t *positions,
                                   const float *word, const float *pos, const float *type, const float *g,
                                   const float *b, float *out, int T, int C, float eps, cudaStream_t stream);

/* out (T, C) = LN(x + bias + resid) * g + b; bias (C). out may equal resid
 * (each row is read whole before it is written), not x. */
cudaError_t enc_cuk_bias_residual_layernorm(const float *x, const float *bias, const float *resid, const float *g,
                                           const float *b, float *out, int T, int C, float eps,
                                           cudaStream_t stream);

/* y (M, N) = gelu(y + bias), gelu the exact erf form. */
cudaError_t enc_cuk_bias_gelu(float *y, const float *bias, int M, int N, cudaStream_t stream);

/* y (M, N) = tanh(y + bias). */
cudaError_t enc_cuk_bias_tanh(float *y, const float *bias, int M, int N, cudaStream_t stream);

/* qkv (T, 3C) + bias (3C) scattered to q, k, v (B, H, Lp, D); rows past a
 * sequence's length are zero. */
cudaError_t enc_cuk_qkv_to_padded(const float *qkv, const float *bias, const int32_t *offsets, float *q, float *k,
                                 float *v, int B, int H, int Lp, int D, cudaStream_t stream);

/* In place over S (B, H, Lp, Lp) (scores already scaled): row i of sequence
 * s becomes softmax over its first len_s columns, zeros after; rows
 * i >= len_s become all zeros. */
cudaError_t enc_cuk_masked_softmax(float *S, const int32_t *offsets, int B, int H, int Lp, cudaStream_t stream);

/* Rows t0 .. t0+n-1 of out (T, C) = ctx (chunk, H, Lp, D) gathered back to
 * packed rows; token t is row rows[t] of sequence seq[t] - seq0 of ctx. */
cudaError_t enc_cuk_padded_to_packed(const float *ctx, const int32_t *seq, const int32_t *rows, float *out, int t0,
                                    int n, int seq0, int H, int Lp, int D, cudaStream_t stream);

/* out (B, C) = x[offsets[s]] (the first token of each sequence; zeros for an
 * empty one). */
cudaError_t enc_cuk_gather_first(const float *x, const int32_t *offsets, float *out, int B, int C,
                                cudaStream_t stream);

/* y (n) = bf16(x), round to nearest even; y is __nv_bfloat16 storage. */
cudaError_t enc_cuk_f32_to_bf16(const float *x, void *y, size_t n, cudaStream_t stream);

#ifdef __cplusplus
}
#endif
#endif
