/* train_ops.h - internal: the forward and backward of each op of the
 * training path (encoder/train_*.c), side by side, in f32: the products on
 * our AVX-512 kernels where the CPU has them, else OpenBLAS sgemm. Not installed; tests/test_train.c checks each
 * op against central differences.
 *
 * Conventions: row-major; matrices in nn.Linear layout (out, in);
 * "dX" is dLoss/dX. Parameter gradients (dW, db, dg) are accumulated (+=);
 * input gradients are written (or added, where a beta says so).
 */
#ifndef PE_ENCODER_TRAIN_OPS_H
#define PE_ENCODER_TRAIN_OPS_H

#include <stddef.h>
#include <stdint.h>

/* y (M,N) = x (M,K) . W (N,K)^T + b (N); b may be NULL. */
void enc_tr_linear_fwd(const float *x, const float *W, const float *b, float *y, int M, int N, int K);
/* u (M,N) = x W^T + b as enc_tr_linear_fwd, and g (M,N) = gelu(u) (fused
 * into the product's epilogue on the AVX-512 path). */
void enc_tr_linear_gelu_fwd(const float *x, const float *W, const float *b, float *u, float *g, int M, int N, int K);
/* dx (M,K) = beta * dx + dy (M,N) . W (N,K)   (skipped when dx is NULL)
 * dW (N,K) += dy^T . x                          db (N) += column sums of dy (db may be NULL) */
void enc_tr_linear_bwd(const float *x, const float *W, const float *dy, float *dx, float beta, float *dW, float *db,
                      int M, int N, int K);

/* y (rows,n) = (x - mean) * rstd * g + b per row, rstd = 1/sqrt(var + eps)
 * (biased var, mean and var in double as the inference path); keeps
 * xhat (rows,n) and rstd (rows) for the backward. y may alias x. */
void enc_tr_layernorm_fwd(const float *x, const float *g, const float *b, float *y, float *xhat, float *rstd, int rows,
                         int n, float eps);
/* dx (rows,n) = rstd * (dy*g - mean(dy*g) - xhat * mean(dy*g*xhat)) (dx may alias dy);
 * dg += sum_rows dy * xhat; db += sum_rows dy. */
void enc_tr_layernorm_bwd(const float *dy, const float *xhat, const float *rstd, const float *g, float *dx, float *dg,
                         float *db, int rows, int n);

/* y = 0.5 u (1 + erf(u / sqrt 2)) elementwise (y may alias u). */
void enc_tr_gelu_fwd(const float *u, float *y, size_t n);
/* du = dy * (Phi(u) + u phi(u)) (du may alias dy). */
void enc_tr_gelu_bwd(const float *u, const float *dy, float *du, size_t n);

/* Inverted dropout in place: element i of the stream is zeroed with
 * probability p, else scaled by 1/(1-p). The mask is a pure function of
 * (seed, stream, base + i) (a counter-based hash: no state, independent of
 * threads and of the order of calls), so the backward applies the same call
 * to the gradient. p <= 0 leaves x as it is. Returns the zeroed count. */
size_t enc_tr_dropout(float *x, size_t n, float p, uint64_t seed, uint64_t stream, uint64_t base);
/* The same mask from src into dst (dst may be src): dst = dropout(src). */
size_t enc_tr_dropout_copy(const float *src, float *dst, size_t n, float p, uint64_t seed, uint64_t stream,
                           uint64_t base);

/* Self-attention of a packed batch, per sequence and head (attention.h for
 * the qkv / ctx layouts): P = softmax(q k^T / sqrt(D)) kept in probs,
 * ctx = dropout(P) v. probs holds enc_tr_attention_probs_floats() floats:
 * sequence s, head h is the (len, len) block at
 * H * sum_{s'<s} len_{s'}^2 + h * len^2; the dropout index is the position
 * in probs. scratch holds max_len^2 floats (forward) or 2 max_len^2
 * (backward). */
size_t enc_tr_attention_probs_floats(const int *offsets, int n_seq, int H);
void enc_tr_attention_fwd(const float *qkv, float *ctx, float *probs, float *scratch, const int *offsets, int n_seq,
                         int H, int D, float p, uint64_t seed, uint64_t stream);
/* dqkv (T, 3HD) written from dctx (T, HD), the kept probs and qkv. */
void enc_tr_attention_bwd(const float *qkv, const float *probs, const float *dctx, float *dqkv, float *scratch,
                         const int *offsets, int n_seq, int H, int D, float p, uint64_t seed, uint64_t stream);

/* x (T,C) = word[ids] + pos[positions] + type[types]. */
void enc_tr_embed_fwd(const float *word, const float *pos, const float *type, const int32_t *ids,
                     const int32_t *positions, const int32_t *types, float *x, int T, int C);
/* Scatter-add of dx (T,C) into dword, dpos, dtype rows. */
void enc_tr_embed_bwd(const float *dx, const int32_t *ids, const int32_t *positions, const int32_t *types,
                     float *dword, float *dpos, float *dtype, int T, int C);

#endif
