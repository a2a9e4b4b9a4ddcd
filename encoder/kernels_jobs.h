/* kernels_jobs.h - internal: the pool jobs of the attention and LayerNorm
 * kernels and their ISA-neutral helpers, shared by kernels_avx512.c and
 * kernels_avx2.c (each includes it inside its target pragma; the vector
 * work stays in the files). */
#ifndef PE_KERNELS_JOBS_H
#define PE_KERNELS_JOBS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Inference attention: one task per (sequence, head). */
typedef struct att_job {
    const float *qkv;
    float *out;
    const int *offsets;
    int H, D;
    _Atomic int failed;
} att_job;

/* Training attention: one task per (sequence, head), forward (dctx NULL)
 * or backward. */
typedef struct tatt_job {
    const float *qkv, *dctx;
    float *ctx, *probs, *dqkv;
    const int *offsets;
    int H, D;
    int drop; /* dropout on: key, thr, dscale as the file's dropout */
    uint64_t key;
    uint32_t thr;
    float dscale;
    _Atomic int failed;
} tatt_job;

/* Where sequence s, head h's (n, n) block of probs starts. */
static inline size_t probs_at(const tatt_job *j, int s, int h)
{
    size_t off = 0;
    for (int i = 0; i < s; i++) {
        const size_t len = (size_t)(j->offsets[i + 1] - j->offsets[i]);
        off += (size_t)j->H * len * len;
    }
    const size_t n = (size_t)(j->offsets[s + 1] - j->offsets[s]);
    return off + (size_t)h * n * n;
}

/* dst (cols, ldd) = src (rows, cols)^T for the first rows columns; padding
 * columns rows..ldd-1 zero. */
static inline void transpose_pad(const float *src, long lds, int rows, int cols, float *dst, long ldd)
{
    for (int c = 0; c < cols; c++) {
        float *d = dst + (size_t)c * ldd;
        for (int r = 0; r < rows; r++) d[r] = src[(size_t)r * lds + c];
        for (int r = rows; r < ldd; r++) d[r] = 0.0f;
    }
}

/* Add + LayerNorm over rows, chunk rows a task. */
typedef struct ln_job {
    float *x;
    const float *r, *g, *b;
    int rows, n, chunk;
    float eps;
} ln_job;

#endif /* PE_KERNELS_JOBS_H */
