/* cuda_backend.h - internal: the CUDA (cuBLAS) backend of the encoder,
 * beyond the hook declared in model_internal.h (enc_cuda_new,
 * enc_forward_cuda, enc_cuda_free, enc_cuda_available).
 * Only built with -DPE_CUDA=ON (PE_HAVE_CUDA). No CUDA type appears here.
 *
 * Usage (what the encoder does at load and per forward):
 *
 *     pe_cuda_options o = enc_cuda_options_default();
 *     o.precision = PE_CUDA_TF32;
 *     pe_encoder_cuda *cu;
 *     if (enc_cuda_new_ex(&cfg, &weights, &o, &cu, &err) != PE_OK) ...
 *     enc_forward_cuda_ex(cu, &batch, cfg.layers, hidden, pooled, &err);
 *     enc_cuda_free(cu);
 *
 * The weights are copied to the device once (f32, and bf16 copies of the
 * matrices in BF16 mode); the host weights may be freed afterwards. A
 * workspace sized for the largest batch seen so far is kept on the device
 * and reused; it grows (by half again what the batch needs when it is
 * replaced), never shrinks: about T (8C + I) floats for T tokens plus the
 * attention chunk (see attn_budget_bytes). Every call makes the handle's
 * device current and restores the caller's current device before it
 * returns. A handle is not thread-safe; handles in different threads are
 * independent.
 *
 * Precision of the matrix products (everything else is f32 always):
 *   PE_CUDA_FP32  f32 inputs, f32 accumulation (no tensor-core rounding);
 *                 matches the CPU path to ~1e-5.
 *   PE_CUDA_TF32  f32 storage, products on TF32 tensor cores (10-bit
 *                 mantissa inputs, f32 accumulation).
 *   PE_CUDA_BF16  projections: bf16 weights and bf16-rounded activations,
 *                 f32 accumulation and output; attention products with
 *                 CUBLAS_COMPUTE_32F_FAST_16BF on f32 storage.
 * See docs/GPU.md for the tolerances the tests use.
 */
#ifndef PE_ENCODER_CUDA_BACKEND_H
#define PE_ENCODER_CUDA_BACKEND_H

#include "model_internal.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum pe_cuda_precision { PE_CUDA_FP32 = 0, PE_CUDA_TF32, PE_CUDA_BF16 } pe_cuda_precision;

/* Default device memory for attention scores: sequences are processed in
 * chunks whose (n, H, Lp, Lp) scores fit (at least one sequence). */
#define PE_CUDA_ATTN_BUDGET_DEFAULT ((size_t)128 << 20)

typedef struct pe_cuda_options {
    int device;                  /* CUDA device ordinal; default 0 */
    pe_cuda_precision precision; /* default PE_CUDA_FP32 */
    size_t attn_budget_bytes;    /* 0: PE_CUDA_ATTN_BUDGET_DEFAULT */
} pe_cuda_options;

pe_cuda_options enc_cuda_options_default(void);

/* "fp32", "tf32", "bf16". */
const char *enc_cuda_precision_name(pe_cuda_precision p);
/* Parses those names (case-insensitive); PE_ERR_INVALID naming s otherwise. */
pe_status enc_cuda_precision_parse(const char *s, pe_cuda_precision *out, pe_error *err);

/* Number of usable CUDA devices (compute capability 8.0 or newer: the
 * kernels are built for sm_80 PTX and sm_90). 0 when there is none, and
 * then err (if not NULL) says why: no driver, no device, too old a GPU. */
int enc_cuda_probe(pe_error *err);

/* "NVIDIA H200 (sm_90, 139.8 GiB)" for device `device` into buf[n].
 * PE_ERR_BACKEND when the device cannot be queried. */
pe_status enc_cuda_describe(int device, char *buf, size_t n, pe_error *err);

/* Applies $PE_CUDA_DEVICE and $PE_CUDA_PRECISION, when set and not empty,
 * to *o (what pe_encoder_load does after mapping its options).
 * PE_ERR_INVALID naming the variable and the value when one is bad. */
pe_status enc_cuda_options_env(pe_cuda_options *o, pe_error *err);

/* As enc_cuda_new with explicit options (opts NULL: defaults).
 * enc_cuda_new itself uses the defaults, then $PE_CUDA_DEVICE and
 * $PE_CUDA_PRECISION (fp32|tf32|bf16) when set. Errors: PE_ERR_INVALID
 * (bad config: C not a multiple of H, C > 8192, a NULL tensor),
 * PE_ERR_UNSUPPORTED (no usable device, named reason), PE_ERR_BACKEND
 * (a CUDA/cuBLAS call failed, with its error string; out of device memory
 * says how much was asked). On failure *out is NULL and nothing leaks. */
pe_status enc_cuda_new_ex(const pe_encoder_config *cfg, const pe_encoder_weights *w,
                                 const pe_cuda_options *opts, pe_encoder_cuda **out, pe_error *err);

/* As enc_forward_cuda, and when pooled is not NULL also the BERT
 * pooler of the last layer: pooled (n_seq, C) = tanh(x[first token] .
 * pooler_w^T + pooler_b). out may be NULL when only pooled is wanted.
 * pooled needs out_layer = L (or -1) and a model with a pooler
 * (PE_ERR_INVALID / PE_ERR_UNSUPPORTED otherwise). */
pe_status enc_forward_cuda_ex(pe_encoder_cuda *cu, const pe_encoder_batch *b, int out_layer, float *out,
                                     float *pooled, pe_error *err);

/* The precision a handle runs at. */
pe_cuda_precision enc_cuda_precision(const pe_encoder_cuda *cu);

#ifdef __cplusplus
}
#endif
#endif
