#include "linear.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>

struct pe_linear_weights {
    const float *W; /* (N, K), borrowed */
    int N, K;
};

float pe_gelu(float x) { return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)); }

void pe_linear_f32_blas(const float *x, const float *W, const float *b, float *y, int M, int N, int K, pe_act act)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, x, K, W, K, 0.0f, y, N);
    if (!b && act == PE_ACT_NONE) return;
    for (int i = 0; i < M; i++) {
        float *row = y + (size_t)i * N;
        if (b)
            for (int j = 0; j < N; j++) row[j] += b[j];
        if (act == PE_ACT_GELU)
            for (int j = 0; j < N; j++) row[j] = pe_gelu(row[j]);
    }
}

void pe_linear_f32(const float *x, const float *W, const float *b, float *y, int M, int N, int K, pe_act act)
{
    pe_linear_f32_blas(x, W, b, y, M, N, K, act);
}

pe_linear_weights *pe_linear_prepare(const float *W, int N, int K)
{
    pe_linear_weights *w = malloc(sizeof *w);
    if (!w) return NULL;
    w->W = W;
    w->N = N;
    w->K = K;
    return w;
}

void pe_linear_weights_free(pe_linear_weights *w) { free(w); }

void pe_linear_apply(const pe_linear_weights *w, const float *x, const float *b, float *y, int M, pe_act act)
{
    pe_linear_f32(x, w->W, b, y, M, w->N, w->K, act);
}
