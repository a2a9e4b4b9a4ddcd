/* linear.h - internal: the projection every encoder layer is made of.
 *
 *   y[M,N] = act(x[M,K] . W[N,K]^T + b[N])      row-major, W in PyTorch
 *                                                nn.Linear layout (out, in)
 *
 * enc_linear_f32 picks the fastest path available at run time (our AVX-512 /
 * AVX2 micro-kernels where the CPU has them) and falls back to OpenBLAS
 * sgemm followed by the epilogue; PE_LINEAR_FORCE_BLAS=1 in the environment
 * forces the OpenBLAS path (the reference every fast path is tested against).
 */
#ifndef PE_ENCODER_LINEAR_H
#define PE_ENCODER_LINEAR_H

#include <stddef.h>

typedef enum pe_act { PE_ACT_NONE = 0, PE_ACT_GELU = 1 /* erf form, as BERT */ } pe_act;

/* x (M,K), W (N,K), b (N) or NULL, y (M,N). y must not alias x. */
void enc_linear_f32(const float *x, const float *W, const float *b, float *y, int M, int N, int K, pe_act act);
/* The reference path: OpenBLAS sgemm + scalar epilogue. */
void enc_linear_f32_blas(const float *x, const float *W, const float *b, float *y, int M, int N, int K, pe_act act);
/* Weights prepared once at model load for repeated products (the path in
 * use at that moment repacks W into its panel layout here: N*K more
 * floats). W must outlive the handle (it is kept by pointer: products run
 * on OpenBLAS when the path in use has changed since). NULL on allocation
 * failure. */
typedef struct pe_linear_weights pe_linear_weights;
pe_linear_weights *enc_linear_prepare(const float *W, int N, int K);
/* Precision of prepared products. BF16 rounds W and x to bfloat16 and
 * accumulates in f32 (AVX-512 BF16 only; about 2x the f32 rate, ~3
 * significant digits per product: for inference where that is acceptable,
 * see docs/BENCHMARKS.md for the measured cost). enc_linear_prepare uses
 * F32 (the encoder asks for BF16 through pe_encoder_options.precision). */
typedef enum pe_linear_precision { PE_LINEAR_F32 = 0, PE_LINEAR_BF16 = 1 } pe_linear_precision;
/* As enc_linear_prepare with a precision; BF16 falls back to F32 on CPUs
 * without AVX-512 BF16 (enc_linear_weights_precision tells which). */
pe_linear_weights *enc_linear_prepare_ex(const float *W, int N, int K, pe_linear_precision prec);
pe_linear_precision enc_linear_weights_precision(const pe_linear_weights *w);
void enc_linear_weights_free(pe_linear_weights *w); /* NULL is a no-op */
/* y[M,N] = act(x[M,K] . W^T + b) with prepared weights. */
void enc_linear_apply(const pe_linear_weights *w, const float *x, const float *b, float *y, int M, pe_act act);

/* Name of the path enc_linear_f32/enc_linear_apply/enc_attention_f32 take now:
 * "avx512", "avx2" or "blas" (see kernels.h for the dispatch). Static string. */
const char *enc_linear_backend_name(void);

/* Exact GELU, 0.5 x (1 + erf(x / sqrt 2)). */
float enc_gelu(float x);

#endif
