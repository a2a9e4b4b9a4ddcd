#include "attention.h"

#include <cblas.h>
#include <math.h>

#include "kernels.h"

size_t enc_attention_scratch_floats(int max_len, int H, int D)
{
    (void)H;
    (void)D;
    return (size_t)max_len * (size_t)max_len;
}

/* In-place row softmax of S (n, n). */
static void softmax_rows(float *S, int n)
{
    for (int i = 0; i < n; i++) {
        float *r = S + (size_t)i * n, m = r[0], sum = 0.0f;
        for (int j = 1; j < n; j++) m = r[j] > m ? r[j] : m;
        for (int j = 0; j < n; j++) sum += (r[j] = expf(r[j] - m));
        float inv = 1.0f / sum;
        for (int j = 0; j < n; j++) r[j] *= inv;
    }
}

void enc_attention_f32_blas(const float *qkv, float *out, const int *offsets, int n_seq, int H, int D,
                           float *scratch)
{
    const int C = H * D, ld = 3 * C;
    const float scale = 1.0f / sqrtf((float)D);
    for (int s = 0; s < n_seq; s++) {
        const int t0 = offsets[s], n = offsets[s + 1] - offsets[s];
        if (n <= 0) continue;
        for (int h = 0; h < H; h++) {
            const float *q = qkv + (size_t)t0 * ld + h * D;
            const float *k = q + C, *v = q + 2 * C;
            /* S (n, n) = scale * q (n, D) . k^T */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, D, scale, q, ld, k, ld, 0.0f, scratch, n);
            softmax_rows(scratch, n);
            /* out (n, D) = S . v */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, D, n, 1.0f, scratch, n, v, ld, 0.0f,
                        out + (size_t)t0 * C + h * D, C);
        }
    }
}

void enc_attention_f32(const float *qkv, float *out, const int *offsets, int n_seq, int H, int D, float *scratch)
{
#if PE_KERNELS_X86
    if (enc_kernels_active() == PE_KERNELS_AVX512 && enc_k512_attention(qkv, out, offsets, n_seq, H, D) == 0) return;
    if (enc_kernels_active() == PE_KERNELS_AVX2 && enc_k256_attention(qkv, out, offsets, n_seq, H, D) == 0) return;
#endif
    enc_attention_f32_blas(qkv, out, offsets, n_seq, H, D, scratch);
}
