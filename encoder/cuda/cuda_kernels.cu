// cuda_kernels.cu - element-wise kernels of the encoder's CUDA backend; the
// matrix products are cuBLAS calls in cuda_backend.c. Specs in cuda_kernels.h.
#include "cuda_kernels.h"
#include "cuda_kernels_elem.h"

#include <cuda_bf16.h>
#include <cuda_runtime.h>

namespace {

constexpr int kThreads = 256;   // every kernel: 8 warps per block
constexpr int kMaxGrid = 1 << 20; // grid-stride loops beyond this

inline int grid_for(size_t n)
{
    size_t g = (n + kThreads - 1) / kThreads;
    if (g < 1) g = 1;
    return g > (size_t)kMaxGrid ? kMaxGrid : (int)g;
}

// Sum of v over the block, returned to every thread. blockDim.x must be a
// multiple of 32 and every thread must call it (full-mask shuffles). red
// holds 32 floats; the first barrier keeps a previous call's readers safe.
__device__ float block_sum(float v, float *red)
{
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    __syncthreads();
    if (lane == 0) red[warp] = v;
    __syncthreads();
    float s = 0.0f;
    for (int w = 0; w < nw; w++) s += red[w]; // same order in every thread: identical result
    return s;
}

// row (C) in shared memory -> out (C) = (row - mean) / sqrt(var + eps) * g + b,
// two passes (mean, then centred variance) as the CPU path.
__device__ void layernorm_row(const float *row, const float *g, const float *b, float *out, int C, float eps,
                              float *red)
{
    float s = 0.0f;
    for (int c = threadIdx.x; c < C; c += blockDim.x) s += row[c];
    const float mean = block_sum(s, red) / (float)C;
    float q = 0.0f;
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        const float d = row[c] - mean;
        q += d * d;
    }
    const float var = block_sum(q, red) / (float)C;
    const float inv = 1.0f / sqrtf(var + eps);
    for (int c = threadIdx.x; c < C; c += blockDim.x) out[c] = (row[c] - mean) * inv * g[c] + b[c];
}

// One block per token.
__global__ void k_embed_layernorm(const int32_t *ids, const int32_t *types, const int32_t *positions,
                                  const float *word, const float *pos, const float *type, const float *g,
                                  const float *b, float *out, int C, float eps)
{
    extern __shared__ float row[]; // (C)
    __shared__ float red[32];
    const size_t t = blockIdx.x;
    const float *w = word + (size_t)ids[t] * C, *p = pos + (size_t)positions[t] * C,
                *y = type + (size_t)types[t] * C;
    for (int c = threadIdx.x; c < C; c += blockDim.x) row[c] = w[c] + p[c] + y[c];
    __syncthreads();
    layernorm_row(row, g, b, out + t * C, C, eps, red);
}

// One block per row.
__global__ void k_bias_residual_layernorm(const float *x, const float *bias, const float *resid, const float *g,
                                          const float *b, float *out, int C, float eps)
{
    extern __shared__ float row[]; // (C)
    __shared__ float red[32];
    const size_t r = blockIdx.x;
    const float *xr = x + r * C, *rr = resid + r * C;
    for (int c = threadIdx.x; c < C; c += blockDim.x) row[c] = (xr[c] + bias[c]) + rr[c];
    __syncthreads(); // row complete before out (which may be resid) is written
    layernorm_row(row, g, b, out + r * C, C, eps, red);
}

__global__ void k_bias_gelu(float *y, const float *bias, size_t n, int N)
{
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        y[i] = enc_cuk_gelu(y[i] + bias[i % N]);
    }
}

__global__ void k_bias_tanh(float *y, const float *bias, size_t n, int N)
{
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        y[i] = tanhf(y[i] + bias[i % N]);
}

// One element (s, h, i, d) of each of q, k, v per iteration.
__global__ void k_qkv_to_padded(const float *qkv, const float *bias, const int32_t *offsets, float *q, float *k,
                                float *v, int H, int Lp, int D, size_t n)
{
    const size_t C = (size_t)H * D;
    for (size_t e = (size_t)blockIdx.x * blockDim.x + threadIdx.x; e < n; e += (size_t)gridDim.x * blockDim.x) {
        int c;
        const long long t = enc_cuk_padded_src(e, offsets, H, Lp, D, &c);
        float qv = 0.0f, kv = 0.0f, vv = 0.0f;
        if (t >= 0) {
            const float *row = qkv + (size_t)t * 3 * C;
            qv = row[c] + bias[c];
            kv = row[C + c] + bias[C + c];
            vv = row[2 * C + c] + bias[2 * C + c];
        }
        q[e] = qv;
        k[e] = kv;
        v[e] = vv;
    }
}

// One warp per score row; a warp leaves only as a whole.
__global__ void k_masked_softmax(float *S, const int32_t *offsets, int H, int Lp, size_t rows)
{
    const size_t r = (size_t)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    const int lane = threadIdx.x & 31;
    if (r >= rows) return;
    int s, i;
    enc_cuk_score_row(r, H, Lp, &s, &i);
    const int len = offsets[s + 1] - offsets[s];
    float *p = S + r * Lp;
    if (i >= len) {
        for (int j = lane; j < Lp; j += 32) p[j] = 0.0f;
        return;
    }
    float m = -INFINITY;
    for (int j = lane; j < len; j += 32) m = fmaxf(m, p[j]);
    for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
    float sum = 0.0f;
    for (int j = lane; j < len; j += 32) {
        const float e = expf(p[j] - m);
        p[j] = e;
        sum += e;
    }
    for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
    const float inv = 1.0f / sum; // sum >= 1: the maximum contributes exp(0)
    for (int j = lane; j < len; j += 32) p[j] *= inv;
    for (int j = len + lane; j < Lp; j += 32) p[j] = 0.0f;
}

// e runs over the n*C values of rows t0 .. t0+n-1.
__global__ void k_padded_to_packed(const float *ctx, const int32_t *seq, const int32_t *rows, float *out, int t0,
                                   int seq0, int H, int Lp, int D, size_t n)
{
    for (size_t e = (size_t)blockIdx.x * blockDim.x + threadIdx.x; e < n; e += (size_t)gridDim.x * blockDim.x) {
        size_t dst;
        const size_t src = enc_cuk_packed_elem(e, seq, rows, t0, seq0, H, Lp, D, &dst);
        out[dst] = ctx[src];
    }
}

__global__ void k_gather_first(const float *x, const int32_t *offsets, float *out, int C, size_t n)
{
    for (size_t e = (size_t)blockIdx.x * blockDim.x + threadIdx.x; e < n; e += (size_t)gridDim.x * blockDim.x) {
        const size_t s = e / C;
        const int c = (int)(e % C);
        const int t0 = offsets[s];
        out[e] = offsets[s + 1] > t0 ? x[(size_t)t0 * C + c] : 0.0f;
    }
}

__global__ void k_f32_to_bf16(const float *x, __nv_bfloat16 *y, size_t n)
{
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        y[i] = __float2bfloat16_rn(x[i]);
}

} // namespace

extern "C" {

cudaError_t enc_cuk_embed_layernorm(const int32_t *ids, const int32_t *types, const int32_t *positions,
                                   const float *word, const float *pos, const float *type, const float *g,
                                   const float *b, float *out, int T, int C, float eps, cudaStream_t stream)
{
    if (T <= 0) return cudaSuccess;
    if (C <= 0 || C > PE_CUK_MAX_LN_COLS) return cudaErrorInvalidValue;
    k_embed_layernorm<<<T, kThreads, (size_t)C * sizeof(float), stream>>>(ids, types, positions, word, pos, type,
                                                                          g, b, out, C, eps);
    return cudaGetLastError();
}

cudaError_t enc_cuk_bias_residual_layernorm(const float *x, const float *bias, const float *resid, const float *g,
                                           const float *b, float *out, int T, int C, float eps,
                                           cudaStream_t stream)
{
    if (T <= 0) return cudaSuccess;
    if (C <= 0 || C > PE_CUK_MAX_LN_COLS) return cudaErrorInvalidValue;
    k_bias_residual_layernorm<<<T, kThreads, (size_t)C * sizeof(float), stream>>>(x, bias, resid, g, b, out, C,
                                                                                  eps);
    return cudaGetLastError();
}

cudaError_t enc_cuk_bias_gelu(float *y, const float *bias, int M, int N, cudaStream_t stream)
{
    const size_t n = (size_t)M * N;
    if (n == 0) return cudaSuccess;
    k_bias_gelu<<<grid_for(n), kThreads, 0, stream>>>(y, bias, n, N);
    return cudaGetLastError();
}

cudaError_t enc_cuk_bias_tanh(float *y, const float *bias, int M, int N, cudaStream_t stream)
{
    const size_t n = (size_t)M * N;
    if (n == 0) return cudaSuccess;
    k_bias_tanh<<<grid_for(n), kThreads, 0, stream>>>(y, bias, n, N);
    return cudaGetLastError();
}

cudaError_t enc_cuk_qkv_to_padded(const float *qkv, const float *bias, const int32_t *offsets, float *q, float *k,
                                 float *v, int B, int H, int Lp, int D, cudaStream_t stream)
{
    const size_t n = (size_t)B * H * Lp * D;
    if (n == 0) return cudaSuccess;
    k_qkv_to_padded<<<grid_for(n), kThreads, 0, stream>>>(qkv, bias, offsets, q, k, v, H, Lp, D, n);
    return cudaGetLastError();
}

cudaError_t enc_cuk_masked_softmax(float *S, const int32_t *offsets, int B, int H, int Lp, cudaStream_t stream)
{
    const size_t rows = (size_t)B * H * Lp;
    if (rows == 0) return cudaSuccess;
    const size_t per_block = kThreads / 32;
    const size_t blocks = (rows + per_block - 1) / per_block;
    if (blocks > 0x7fffffffu) return cudaErrorInvalidValue;
    k_masked_softmax<<<(unsigned)blocks, kThreads, 0, stream>>>(S, offsets, H, Lp, rows);
    return cudaGetLastError();
}

cudaError_t enc_cuk_padded_to_packed(const float *ctx, const int32_t *seq, const int32_t *rows, float *out, int t0,
                                    int n, int seq0, int H, int Lp, int D, cudaStream_t stream)
{
    const size_t total = (size_t)n * H * D;
    if (total == 0) return cudaSuccess;
    k_padded_to_packed<<<grid_for(total), kThreads, 0, stream>>>(ctx, seq, rows, out, t0, seq0, H, Lp, D, total);
    return cudaGetLastError();
}

cudaError_t enc_cuk_gather_first(const float *x, const int32_t *offsets, float *out, int B, int C,
                                cudaStream_t stream)
{
    const size_t n = (size_t)B * C;
    if (n == 0) return cudaSuccess;
    k_gather_first<<<grid_for(n), kThreads, 0, stream>>>(x, offsets, out, C, n);
    return cudaGetLastError();
}

cudaError_t enc_cuk_f32_to_bf16(const float *x, void *y, size_t n, cudaStream_t stream)
{
    if (n == 0) return cudaSuccess;
    k_f32_to_bf16<<<grid_for(n), kThreads, 0, stream>>>(x, static_cast<__nv_bfloat16 *>(y), n);
    return cudaGetLastError();
}

} // extern "C"
