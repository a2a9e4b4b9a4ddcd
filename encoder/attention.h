/* attention.h - internal: the self-attention core of one encoder layer over
 * a packed batch (sequences concatenated, no padding).
 *
 *   qkv  (T, 3*H*D)  per token the row [q (H*D) | k (H*D) | v (H*D)], head h
 *                    at columns h*D .. h*D+D-1 of each part
 *   out  (T, H*D)    context vectors, heads concatenated (before the output
 *                    projection)
 *   offsets (n_seq+1) tokens of sequence s are rows offsets[s] .. offsets[s+1]-1;
 *                    a token attends to every token of its own sequence
 *                    (the padding mask of HF BERT, without the padding)
 *
 * softmax(q k^T / sqrt(D)) v per head and sequence. scratch must hold
 * enc_attention_scratch_floats(max_len, H) floats.
 */
#ifndef PE_ENCODER_ATTENTION_H
#define PE_ENCODER_ATTENTION_H

#include <stddef.h>

size_t enc_attention_scratch_floats(int max_len, int H, int D);
void enc_attention_f32(const float *qkv, float *out, const int *offsets, int n_seq, int H, int D, float *scratch);
/* The reference path (OpenBLAS sgemm per head and sequence). */
void enc_attention_f32_blas(const float *qkv, float *out, const int *offsets, int n_seq, int H, int D,
                           float *scratch);

#endif
