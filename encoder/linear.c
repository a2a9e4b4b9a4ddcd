#include "linear.h"

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

struct pe_linear_weights {
    const float *W; /* (N, K), borrowed: the reference path and isa switches use it */
    int N, K;
    float *Wp;      /* AVX-512 panels (enc_k512_pack_weights), or NULL */
    uint16_t *Wb;   /* AVX-512 BF16 panels (enc_kbf16_pack_weights), or NULL */
    float *Wp2;     /* AVX2 panels (enc_k256_pack_weights), or NULL */
};

float enc_gelu(float x) { return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)); }

const char *enc_linear_backend_name(void) { return enc_kernels_isa_name(enc_kernels_active()); }

void enc_linear_f32_blas(const float *x, const float *W, const float *b, float *y, int M, int N, int K, pe_act act)
{
    if (M <= 0 || N <= 0) return;
    if (K > 0) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, x, K, W, K, 0.0f, y, N);
    } else {
        for (size_t i = 0; i < (size_t)M * N; i++) y[i] = 0.0f;
    }
    if (!b && act == PE_ACT_NONE) return;
    for (int i = 0; i < M; i++) {
        float *row = y + (size_t)i * N;
        if (b)
            for (int j = 0; j < N; j++) row[j] += b[j];
        if (act == PE_ACT_GELU)
            for (int j = 0; j < N; j++) row[j] = enc_gelu(row[j]);
    }
}

void enc_linear_f32(const float *x, const float *W, const float *b, float *y, int M, int N, int K, pe_act act)
{
#if PE_KERNELS_X86
    if (enc_kernels_active() == PE_KERNELS_AVX512 && M > 0 && N > 0 && K > 0) {
        /* Packing W costs N*K moves against M*N*K FMAs: worth it unless M is tiny. */
        if (M >= 4) {
            float *Wp = aligned_alloc(64, enc_k512_packed_floats(N, K) * sizeof(float));
            if (Wp) {
                enc_k512_pack_weights(W, N, K, Wp);
                int rc = enc_k512_linear(Wp, x, b, y, M, N, K, act);
                free(Wp);
                if (rc == 0) return;
            }
        }
    }
    if (enc_kernels_active() == PE_KERNELS_AVX2 && M >= 4 && N > 0 && K > 0) {
        float *Wp = aligned_alloc(64, enc_k256_packed_floats(N, K) * sizeof(float));
        if (Wp) {
            enc_k256_pack_weights(W, N, K, Wp);
            int rc = enc_k256_linear(Wp, x, b, y, M, N, K, act);
            free(Wp);
            if (rc == 0) return;
        }
    }
#endif
    enc_linear_f32_blas(x, W, b, y, M, N, K, act);
}

pe_linear_weights *enc_linear_prepare_ex(const float *W, int N, int K, pe_linear_precision prec)
{
    pe_linear_weights *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->W = W;
    w->N = N;
    w->K = K;
#if PE_KERNELS_X86
    /* packed for the path in use now (none when it is BLAS) */
    const pe_kernels_isa isa = enc_kernels_active();
    if (isa == PE_KERNELS_BLAS || N <= 0 || K <= 0) return w;
    if (isa == PE_KERNELS_AVX2) {
        w->Wp2 = aligned_alloc(64, enc_k256_packed_floats(N, K) * sizeof(float));
        if (!w->Wp2) {
            free(w);
            return NULL;
        }
        enc_k256_pack_weights(W, N, K, w->Wp2);
    } else if (prec == PE_LINEAR_BF16 && enc_kernels_has_bf16()) {
        w->Wb = aligned_alloc(64, ((enc_kbf16_packed_u16(N, K) * sizeof(uint16_t) + 63) & ~(size_t)63));
        if (!w->Wb) {
            free(w);
            return NULL;
        }
        enc_kbf16_pack_weights(W, N, K, w->Wb);
    } else {
        w->Wp = aligned_alloc(64, enc_k512_packed_floats(N, K) * sizeof(float));
        if (!w->Wp) {
            free(w);
            return NULL;
        }
        enc_k512_pack_weights(W, N, K, w->Wp);
    }
#else
    (void)prec;
#endif
    return w;
}

pe_linear_weights *enc_linear_prepare(const float *W, int N, int K)
{
    return enc_linear_prepare_ex(W, N, K, PE_LINEAR_F32);
}

pe_linear_precision enc_linear_weights_precision(const pe_linear_weights *w)
{
    return w && w->Wb ? PE_LINEAR_BF16 : PE_LINEAR_F32;
}

void enc_linear_weights_free(pe_linear_weights *w)
{
    if (!w) return;
    free(w->Wp);
    free(w->Wb);
    free(w->Wp2);
    free(w);
}

void enc_linear_apply(const pe_linear_weights *w, const float *x, const float *b, float *y, int M, pe_act act)
{
#if PE_KERNELS_X86
    if (w->Wb && enc_kernels_active() == PE_KERNELS_AVX512 &&
        enc_kbf16_linear(w->Wb, x, b, y, M, w->N, w->K, act) == 0)
        return;
    if (w->Wp && enc_kernels_active() == PE_KERNELS_AVX512 &&
        enc_k512_linear(w->Wp, x, b, y, M, w->N, w->K, act) == 0)
        return;
    if (w->Wp2 && enc_kernels_active() == PE_KERNELS_AVX2 && enc_k256_linear(w->Wp2, x, b, y, M, w->N, w->K, act) == 0)
        return;
#endif
    enc_linear_f32_blas(x, w->W, b, y, M, w->N, w->K, act);
}
