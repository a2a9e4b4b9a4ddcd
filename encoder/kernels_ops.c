/* kernels_ops.c - element-wise ops of kernels.h with their portable
 * reference (used when the AVX-512 path is not active). */
#include <math.h>

#include "kernels.h"

void enc_kernels_add_layernorm(float *x, const float *r, const float *g, const float *b, int rows, int n, float eps)
{
#if PE_KERNELS_X86
    if (enc_kernels_active() == PE_KERNELS_AVX512) {
        enc_k512_add_layernorm(x, r, g, b, rows, n, eps);
        return;
    }
    if (enc_kernels_active() == PE_KERNELS_AVX2) {
        enc_k256_add_layernorm(x, r, g, b, rows, n, eps);
        return;
    }
#endif
    for (int i = 0; i < rows; i++) {
        float *xr = x + (size_t)i * n;
        if (r)
            for (int j = 0; j < n; j++) xr[j] += r[(size_t)i * n + j];
        double s = 0.0, q = 0.0;
        for (int j = 0; j < n; j++) s += xr[j];
        const double mean = s / n;
        for (int j = 0; j < n; j++) q += (xr[j] - mean) * (xr[j] - mean);
        const float inv = (float)(1.0 / sqrt(q / n + (double)eps)), m = (float)mean;
        for (int j = 0; j < n; j++) xr[j] = (xr[j] - m) * inv * g[j] + b[j];
    }
}
