/* test_cuda_emu.c - the CUDA backend's host code (encoder/cuda/cuda_backend.c,
 * compiled into this test) run on the CPU against an emulation of the CUDA
 * runtime, cuBLAS and the kernels (label unit; needs the CUDA headers, not a
 * GPU nor the CUDA libraries).
 *
 * The emulation is strict where a GPU would fail or silently differ: device
 * memory is malloc'ed and filled with NaN bytes (reads of unwritten memory
 * show up in the outputs); every pointer handed to a kernel or a GEMM must
 * lie in a live device allocation for the whole extent the call touches
 * (computed from m, n, k, the leading dimensions, strides and batch count,
 * as cuBLAS reads them); host and device sides of every copy are checked;
 * cuBLAS argument rules (ld >= rows, supported type/compute combinations)
 * are enforced; a handle or stream used while another device is current is
 * an error; a failed runtime call stays as the thread's last error until
 * cudaGetLastError reads it, as in the real runtime. GEMMs accumulate in
 * double with the inputs rounded as the compute types round them (TF32: 10
 * mantissa bits, BF16: 7). The kernels run the element functions of
 * cuda_kernels_elem.h (the very index math of cuda_kernels.cu) in host
 * loops; the row reductions (LayerNorm, softmax) are re-done here.
 *
 * What this checks: the forward against a plain double-precision BERT
 * reference (layers 0, 1 and last, pooler, every precision, mixed lengths,
 * empty sequences, hidden 1024 with 16 heads), attention chunking, workspace
 * growth over changing batch shapes, failures injected into every
 * allocation, copy, cuBLAS call and kernel launch of load and forward
 * (PE_ERR_BACKEND naming the call, *out NULL, nothing leaked on the device
 * or the host, the handle working again afterwards), device selection and
 * probing (no driver, no device, too old a GPU, two GPUs, the caller's
 * current device restored), and two threads with a handle each.
 * What it cannot check: the kernels' launch shapes, shared memory and
 * warp/block reductions on a real GPU, cuBLAS itself (test_cuda does). */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "cuda/cuda_backend.h"
#include "cuda/cuda_kernels.h"
#include "cuda/cuda_kernels_elem.h"
#include "encoder_random_model.h"
#include "pe_test.h"

/* ================= the emulation ================= */

typedef struct emu_alloc {
    char *p;
    size_t n;
    int device;
    struct emu_alloc *next;
} emu_alloc;

struct CUstream_st {
    int magic;
    int device;
};
struct cublasContext {
    int magic;
    int device;
    cudaStream_t stream;
    cublasMath_t math;
};

#define EMU_MAX_DEV 4
static struct {
    pthread_mutex_t mu;
    int n_dev;
    int cc_major[EMU_MAX_DEV];
    cudaError_t count_err; /* what cudaGetDeviceCount fails with (cudaSuccess: works) */
    size_t mem_cap;        /* bytes of "device memory" per device; 0: unlimited */
    size_t mem_used[EMU_MAX_DEV];
    emu_alloc *allocs;
    long live_allocs, live_streams, live_blas;
    /* calls so far, and the index (1-based) of the call to fail; 0: none */
    long n_malloc, n_copy, n_blas, n_launch, n_sync, n_create;
    long fail_malloc, fail_copy, fail_blas, fail_launch, fail_sync, fail_create;
    long violations;
    char violation[512];
} emu = {.mu = PTHREAD_MUTEX_INITIALIZER, .n_dev = 1, .cc_major = {9, 9, 9, 9}};

static _Thread_local cudaError_t emu_last;
static _Thread_local int emu_cur;

static void violate(const char *fmt, const char *a, long long x, long long y)
{
    pthread_mutex_lock(&emu.mu);
    if (emu.violations++ == 0) snprintf(emu.violation, sizeof emu.violation, fmt, a, x, y);
    pthread_mutex_unlock(&emu.mu);
    fprintf(stderr, "  EMULATION VIOLATION: ");
    fprintf(stderr, fmt, a, x, y);
    fprintf(stderr, "\n");
}

static cudaError_t fail_rt(cudaError_t e)
{
    emu_last = e;
    return e;
}

/* 1 when the (1-based) call counter hits the injected index. */
static int inject(long *count, long at)
{
    pthread_mutex_lock(&emu.mu);
    const long n = ++*count;
    pthread_mutex_unlock(&emu.mu);
    return at > 0 && n == at;
}

static const emu_alloc *find_alloc(const void *p)
{
    const char *c = p;
    for (const emu_alloc *a = emu.allocs; a; a = a->next)
        if (c >= a->p && c < a->p + a->n) return a;
    return NULL;
}

static int is_dev(const void *p)
{
    pthread_mutex_lock(&emu.mu);
    int r = p && find_alloc(p) != NULL;
    pthread_mutex_unlock(&emu.mu);
    return r;
}

/* [p, p + bytes) inside one live allocation of the current device. */
static int dev_ok(const void *p, size_t bytes, const char *what)
{
    if (bytes == 0) return 1;
    pthread_mutex_lock(&emu.mu);
    const emu_alloc *a = p ? find_alloc(p) : NULL;
    const int ok = a && (size_t)((const char *)p - a->p) + bytes <= a->n, dev = a ? a->device : -1;
    const long long room = a ? (long long)(a->n - (size_t)((const char *)p - a->p)) : -1;
    pthread_mutex_unlock(&emu.mu);
    if (!ok) {
        violate("%s: %lld bytes outside device memory (%lld bytes from there to the end of its allocation)", what,
                (long long)bytes, room);
        return 0;
    }
    if (dev != emu_cur) {
        violate("%s: memory of device %lld used while device %lld is current", what, dev, emu_cur);
        return 0;
    }
    return 1;
}

static int stream_ok(cudaStream_t s, const char *what)
{
    if (!s) return 1; /* the legacy default stream */
    if (s->magic != 0x5157) {
        violate("%s: not a live stream (%lld %lld)", what, s->magic, 0);
        return 0;
    }
    if (s->device != emu_cur) {
        violate("%s: stream of device %lld used while device %lld is current", what, s->device, emu_cur);
        return 0;
    }
    return 1;
}

cudaError_t cudaGetLastError(void)
{
    cudaError_t e = emu_last;
    emu_last = cudaSuccess;
    return e;
}

const char *cudaGetErrorName(cudaError_t e)
{
    switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorInsufficientDriver: return "cudaErrorInsufficientDriver";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorLaunchOutOfResources: return "cudaErrorLaunchOutOfResources";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    default: return "cudaErrorUnknown";
    }
}

const char *cudaGetErrorString(cudaError_t e)
{
    switch (e) {
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInsufficientDriver: return "CUDA driver version is insufficient for CUDA runtime version";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorLaunchOutOfResources: return "too many resources requested for launch";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
    default: return cudaGetErrorName(e);
    }
}

cudaError_t cudaGetDeviceCount(int *count)
{
    *count = 0;
    if (emu.count_err != cudaSuccess) return fail_rt(emu.count_err);
    if (emu.n_dev == 0) return fail_rt(cudaErrorNoDevice);
    *count = emu.n_dev;
    return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int *value, enum cudaDeviceAttr attr, int device)
{
    if (device < 0 || device >= emu.n_dev) return fail_rt(cudaErrorInvalidDevice);
    if (attr == cudaDevAttrComputeCapabilityMajor) *value = emu.cc_major[device];
    else if (attr == cudaDevAttrComputeCapabilityMinor) *value = 0;
    else return fail_rt(cudaErrorInvalidValue);
    return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(struct cudaDeviceProp *p, int device)
{
    if (device < 0 || device >= emu.n_dev) return fail_rt(cudaErrorInvalidDevice);
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "Emulated GPU %d", device);
    p->major = emu.cc_major[device];
    p->totalGlobalMem = emu.mem_cap ? emu.mem_cap : (size_t)80 << 30;
    return cudaSuccess;
}

cudaError_t cudaSetDevice(int device)
{
    if (device < 0 || device >= emu.n_dev) return fail_rt(cudaErrorInvalidDevice);
    emu_cur = device;
    return cudaSuccess;
}

cudaError_t cudaGetDevice(int *device)
{
    *device = emu_cur;
    return cudaSuccess;
}

cudaError_t cudaMalloc(void **p, size_t n)
{
    *p = NULL;
    if (inject(&emu.n_malloc, emu.fail_malloc)) return fail_rt(cudaErrorMemoryAllocation);
    pthread_mutex_lock(&emu.mu);
    const int over = emu.mem_cap && emu.mem_used[emu_cur] + n > emu.mem_cap;
    pthread_mutex_unlock(&emu.mu);
    if (over) return fail_rt(cudaErrorMemoryAllocation);
    emu_alloc *a = malloc(sizeof *a);
    char *m = n ? aligned_alloc(256, (n + 255) & ~(size_t)255) : NULL;
    if (!a || (n && !m)) {
        free(a);
        free(m);
        return fail_rt(cudaErrorMemoryAllocation);
    }
    if (n) memset(m, 0xff, n); /* NaN floats: reading what nobody wrote shows */
    a->p = m;
    a->n = n;
    a->device = emu_cur;
    pthread_mutex_lock(&emu.mu);
    a->next = emu.allocs;
    emu.allocs = a;
    emu.live_allocs++;
    emu.mem_used[emu_cur] += n;
    pthread_mutex_unlock(&emu.mu);
    *p = m;
    return cudaSuccess;
}

cudaError_t cudaFree(void *p)
{
    if (!p) return cudaSuccess;
    pthread_mutex_lock(&emu.mu);
    emu_alloc **pp = &emu.allocs;
    while (*pp && (*pp)->p != (char *)p) pp = &(*pp)->next;
    emu_alloc *a = *pp;
    if (a) {
        *pp = a->next;
        emu.live_allocs--;
        emu.mem_used[a->device] -= a->n;
    }
    pthread_mutex_unlock(&emu.mu);
    if (!a) {
        violate("cudaFree(%s%lld): not the start of a live allocation (%lld)", "", 0, 0);
        return fail_rt(cudaErrorInvalidValue);
    }
    free(a->p);
    free(a);
    return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t count, enum cudaMemcpyKind kind, cudaStream_t s)
{
    if (!stream_ok(s, "cudaMemcpyAsync")) return fail_rt(cudaErrorInvalidValue);
    if (inject(&emu.n_copy, emu.fail_copy)) return fail_rt(cudaErrorInvalidValue);
    if (count == 0) return cudaSuccess;
    int ok = 1;
    if (kind == cudaMemcpyHostToDevice) {
        ok = dev_ok(dst, count, "cudaMemcpyAsync H2D destination");
        if (ok && is_dev(src)) violate("cudaMemcpyAsync H2D: source %s is device memory (%lld %lld)", "", 0, 0), ok = 0;
    } else if (kind == cudaMemcpyDeviceToHost) {
        ok = dev_ok(src, count, "cudaMemcpyAsync D2H source");
        if (ok && is_dev(dst)) violate("cudaMemcpyAsync D2H: destination %s is device memory (%lld %lld)", "", 0, 0), ok = 0;
    } else if (kind == cudaMemcpyDeviceToDevice) {
        ok = dev_ok(src, count, "cudaMemcpyAsync D2D source") && dev_ok(dst, count, "cudaMemcpyAsync D2D destination");
    } else {
        violate("cudaMemcpyAsync: kind %s%lld not used by the backend (%lld)", "", kind, 0);
        ok = 0;
    }
    if (!ok) return fail_rt(cudaErrorInvalidValue);
    memcpy(dst, src, count); /* pageable memory: done when the call returns, as on a GPU */
    return cudaSuccess;
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned int flags)
{
    (void)flags;
    if (inject(&emu.n_create, emu.fail_create)) return fail_rt(cudaErrorMemoryAllocation);
    struct CUstream_st *st = malloc(sizeof *st);
    if (!st) return fail_rt(cudaErrorMemoryAllocation);
    st->magic = 0x5157;
    st->device = emu_cur;
    pthread_mutex_lock(&emu.mu);
    emu.live_streams++;
    pthread_mutex_unlock(&emu.mu);
    *s = st;
    return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t s)
{
    if (!stream_ok(s, "cudaStreamSynchronize")) return fail_rt(cudaErrorInvalidValue);
    if (inject(&emu.n_sync, emu.fail_sync)) return fail_rt(cudaErrorLaunchFailure);
    return cudaSuccess;
}

cudaError_t cudaStreamDestroy(cudaStream_t s)
{
    if (!stream_ok(s, "cudaStreamDestroy") || !s) return fail_rt(cudaErrorInvalidValue);
    s->magic = 0;
    free(s);
    pthread_mutex_lock(&emu.mu);
    emu.live_streams--;
    pthread_mutex_unlock(&emu.mu);
    return cudaSuccess;
}

/* ---- cuBLAS ---- */

cublasStatus_t cublasCreate(cublasHandle_t *h)
{
    if (inject(&emu.n_create, emu.fail_create)) return CUBLAS_STATUS_NOT_INITIALIZED;
    struct cublasContext *c = calloc(1, sizeof *c);
    if (!c) return CUBLAS_STATUS_ALLOC_FAILED;
    c->magic = 0xb1a5;
    c->device = emu_cur;
    c->math = CUBLAS_DEFAULT_MATH;
    pthread_mutex_lock(&emu.mu);
    emu.live_blas++;
    pthread_mutex_unlock(&emu.mu);
    *h = c;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDestroy(cublasHandle_t h)
{
    if (!h || h->magic != 0xb1a5) return CUBLAS_STATUS_NOT_INITIALIZED;
    h->magic = 0;
    free(h);
    pthread_mutex_lock(&emu.mu);
    emu.live_blas--;
    pthread_mutex_unlock(&emu.mu);
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream(cublasHandle_t h, cudaStream_t s)
{
    if (!h || h->magic != 0xb1a5) return CUBLAS_STATUS_NOT_INITIALIZED;
    h->stream = s;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetMathMode(cublasHandle_t h, cublasMath_t mode)
{
    if (!h || h->magic != 0xb1a5) return CUBLAS_STATUS_NOT_INITIALIZED;
    h->math = mode;
    return CUBLAS_STATUS_SUCCESS;
}

const char *cublasGetStatusString(cublasStatus_t s)
{
    switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    default: return "CUBLAS_STATUS_?";
    }
}

static float round_mantissa(float x, int bits) /* to `bits` mantissa bits, nearest, ties away (as cvt.rna) */
{
    uint32_t u;
    memcpy(&u, &x, 4);
    if ((u & 0x7f800000u) == 0x7f800000u) return x;
    const int drop = 23 - bits;
    u += 1u << (drop - 1);
    u &= ~((1u << drop) - 1);
    memcpy(&x, &u, 4);
    return x;
}

static float bf16_to_f32(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static double load(const void *p, cudaDataType t, size_t i, int bits)
{
    float v = t == CUDA_R_16BF ? bf16_to_f32(((const uint16_t *)p)[i]) : ((const float *)p)[i];
    return bits < 23 ? round_mantissa(v, bits) : v;
}

static cublasStatus_t gemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                           const void *alpha, const void *A, cudaDataType At, int lda, long long sA, const void *B,
                           cudaDataType Bt, int ldb, long long sB, const void *beta, void *C, cudaDataType Ct,
                           int ldc, long long sC, int batch, cublasComputeType_t ct, const char *name)
{
    if (!h || h->magic != 0xb1a5) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (h->device != emu_cur) {
        violate("%s: handle of device %lld used while device %lld is current", name, h->device, emu_cur);
        return CUBLAS_STATUS_EXECUTION_FAILED;
    }
    if (!stream_ok(h->stream, name)) return CUBLAS_STATUS_EXECUTION_FAILED;
    if (inject(&emu.n_blas, emu.fail_blas)) return CUBLAS_STATUS_EXECUTION_FAILED;
    const int a_rows = ta == CUBLAS_OP_N ? m : k, a_cols = ta == CUBLAS_OP_N ? k : m;
    const int b_rows = tb == CUBLAS_OP_N ? k : n, b_cols = tb == CUBLAS_OP_N ? n : k;
    if (batch > 65535) { /* grid y/z of some batched kernels: the backend keeps below it */
        violate("%s: batch count %lld > %lld", name, batch, 65535);
        return CUBLAS_STATUS_INVALID_VALUE;
    }
    if (m < 0 || n < 0 || k < 0 || batch < 0 || lda < (a_rows > 1 ? a_rows : 1) ||
        ldb < (b_rows > 1 ? b_rows : 1) || ldc < (m > 1 ? m : 1) || (ta != CUBLAS_OP_N && ta != CUBLAS_OP_T) ||
        (tb != CUBLAS_OP_N && tb != CUBLAS_OP_T)) {
        violate("%s: invalid arguments (m, n or a leading dimension; lda %lld ldb %lld)", name, lda, ldb);
        return CUBLAS_STATUS_INVALID_VALUE;
    }
    const int f32 = At == CUDA_R_32F && Bt == CUDA_R_32F && Ct == CUDA_R_32F;
    const int b16 = At == CUDA_R_16BF && Bt == CUDA_R_16BF && Ct == CUDA_R_32F;
    const int ok = (f32 && (ct == CUBLAS_COMPUTE_32F || ct == CUBLAS_COMPUTE_32F_FAST_TF32 ||
                            ct == CUBLAS_COMPUTE_32F_FAST_16BF || ct == CUBLAS_COMPUTE_32F_PEDANTIC)) ||
                   (b16 && ct == CUBLAS_COMPUTE_32F);
    if (!ok) {
        violate("%s: type combination not supported (compute type %lld, A type %lld)", name, ct, At);
        return CUBLAS_STATUS_NOT_SUPPORTED;
    }
    if (m == 0 || n == 0 || batch == 0) return CUBLAS_STATUS_SUCCESS;
    const size_t ea = At == CUDA_R_16BF ? 2 : 4, eb = Bt == CUDA_R_16BF ? 2 : 4;
    const size_t last = (size_t)(batch - 1);
    if ((k > 0 && (!dev_ok(A, ((size_t)(a_cols - 1) * lda + a_rows + last * (size_t)sA) * ea, name) ||
                   !dev_ok(B, ((size_t)(b_cols - 1) * ldb + b_rows + last * (size_t)sB) * eb, name))) ||
        !dev_ok(C, ((size_t)(n - 1) * ldc + m + last * (size_t)sC) * 4, name))
        return CUBLAS_STATUS_EXECUTION_FAILED;
    int bits = 23;
    if (ct == CUBLAS_COMPUTE_32F_FAST_TF32 || (ct == CUBLAS_COMPUTE_32F && h->math == CUBLAS_TF32_TENSOR_OP_MATH))
        bits = 10;
    if (ct == CUBLAS_COMPUTE_32F_FAST_16BF) bits = 7;
    const float al = *(const float *)alpha, be = *(const float *)beta;
    for (int b = 0; b < batch; b++) {
        const size_t oa = (size_t)b * sA, ob = (size_t)b * sB;
        float *c = (float *)C + (size_t)b * sC;
        for (int j = 0; j < n; j++)
            for (int i = 0; i < m; i++) {
                double acc = 0.0;
                for (int l = 0; l < k; l++) {
                    const size_t ia = oa + (ta == CUBLAS_OP_N ? (size_t)i + (size_t)l * lda : (size_t)l + (size_t)i * lda);
                    const size_t ib = ob + (tb == CUBLAS_OP_N ? (size_t)l + (size_t)j * ldb : (size_t)j + (size_t)l * ldb);
                    acc += load(A, At, ia, bits) * load(B, Bt, ib, bits);
                }
                float *o = c + (size_t)i + (size_t)j * ldc;
                *o = (float)(al * acc + (be != 0.0f ? be * *o : 0.0)); /* beta 0: C is not read (may be NaN) */
            }
    }
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasGemmEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                            const void *alpha, const void *A, cudaDataType At, int lda, const void *B,
                            cudaDataType Bt, int ldb, const void *beta, void *C, cudaDataType Ct, int ldc,
                            cublasComputeType_t ct, cublasGemmAlgo_t algo)
{
    (void)algo;
    return gemm(h, ta, tb, m, n, k, alpha, A, At, lda, 0, B, Bt, ldb, 0, beta, C, Ct, ldc, 0, 1, ct, "cublasGemmEx");
}

cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                                          int k, const void *alpha, const void *A, cudaDataType At, int lda,
                                          long long sA, const void *B, cudaDataType Bt, int ldb, long long sB,
                                          const void *beta, void *C, cudaDataType Ct, int ldc, long long sC,
                                          int batch, cublasComputeType_t ct, cublasGemmAlgo_t algo)
{
    (void)algo;
    return gemm(h, ta, tb, m, n, k, alpha, A, At, lda, sA, B, Bt, ldb, sB, beta, C, Ct, ldc, sC, batch, ct,
                "cublasGemmStridedBatchedEx");
}

/* ---- the kernels (launchers of cuda_kernels.h) ---- */

/* What a launcher returns: the launch status read by cudaGetLastError, so
 * an error left by an earlier call surfaces here, as on a GPU. */
static cudaError_t launch(cudaStream_t s, const char *what, int ok)
{
    if (!stream_ok(s, what)) emu_last = cudaErrorInvalidResourceHandle;
    else if (inject(&emu.n_launch, emu.fail_launch)) emu_last = cudaErrorLaunchOutOfResources;
    else if (!ok) emu_last = cudaErrorIllegalAddress;
    return cudaGetLastError();
}

static void ln_row(const float *row, const float *g, const float *b, float *out, int C, float eps)
{
    double s = 0.0, q = 0.0;
    for (int c = 0; c < C; c++) s += row[c];
    const float mean = (float)(s / C);
    for (int c = 0; c < C; c++) q += (double)(row[c] - mean) * (row[c] - mean);
    const float inv = 1.0f / sqrtf((float)(q / C) + eps);
    for (int c = 0; c < C; c++) out[c] = (row[c] - mean) * inv * g[c] + b[c];
}

cudaError_t enc_cuk_embed_layernorm(const int32_t *ids, const int32_t *types, const int32_t *positions,
                                   const float *word, const float *pos, const float *type, const float *g,
                                   const float *b, float *out, int T, int C, float eps, cudaStream_t stream)
{
    if (T <= 0) return cudaSuccess;
    if (C <= 0 || C > PE_CUK_MAX_LN_COLS) return cudaErrorInvalidValue;
    const size_t rb = (size_t)C * 4;
    int ok = dev_ok(ids, (size_t)T * 4, "embed ids") && dev_ok(types, (size_t)T * 4, "embed types") &&
             dev_ok(positions, (size_t)T * 4, "embed positions") && dev_ok(g, rb, "embed gamma") &&
             dev_ok(b, rb, "embed beta") && dev_ok(out, (size_t)T * rb, "embed out");
    float *row = malloc(rb);
    for (int t = 0; ok && t < T; t++) {
        const float *w = word + (size_t)ids[t] * C, *p = pos + (size_t)positions[t] * C, *y = type + (size_t)types[t] * C;
        ok = dev_ok(w, rb, "word embedding row") && dev_ok(p, rb, "position row") && dev_ok(y, rb, "type row");
        if (!ok) break;
        for (int c = 0; c < C; c++) row[c] = w[c] + p[c] + y[c];
        ln_row(row, g, b, out + (size_t)t * C, C, eps);
    }
    free(row);
    return launch(stream, "embed kernel", ok);
}

cudaError_t enc_cuk_bias_residual_layernorm(const float *x, const float *bias, const float *resid, const float *g,
                                           const float *b, float *out, int T, int C, float eps, cudaStream_t stream)
{
    if (T <= 0) return cudaSuccess;
    if (C <= 0 || C > PE_CUK_MAX_LN_COLS) return cudaErrorInvalidValue;
    const size_t rb = (size_t)C * 4, all = (size_t)T * rb;
    const int ok = dev_ok(x, all, "LN x") && dev_ok(bias, rb, "LN bias") && dev_ok(resid, all, "LN resid") &&
                   dev_ok(g, rb, "LN gamma") && dev_ok(b, rb, "LN beta") && dev_ok(out, all, "LN out");
    float *row = malloc(rb);
    for (int t = 0; ok && t < T; t++) {
        for (int c = 0; c < C; c++) row[c] = (x[(size_t)t * C + c] + bias[c]) + resid[(size_t)t * C + c];
        ln_row(row, g, b, out + (size_t)t * C, C, eps);
    }
    free(row);
    return launch(stream, "LN kernel", ok);
}

cudaError_t enc_cuk_bias_gelu(float *y, const float *bias, int M, int N, cudaStream_t stream)
{
    const size_t n = (size_t)M * N;
    if (n == 0) return cudaSuccess;
    const int ok = dev_ok(y, n * 4, "gelu y") && dev_ok(bias, (size_t)N * 4, "gelu bias");
    for (size_t i = 0; ok && i < n; i++) y[i] = enc_cuk_gelu(y[i] + bias[i % (size_t)N]);
    return launch(stream, "gelu kernel", ok);
}

cudaError_t enc_cuk_bias_tanh(float *y, const float *bias, int M, int N, cudaStream_t stream)
{
    const size_t n = (size_t)M * N;
    if (n == 0) return cudaSuccess;
    const int ok = dev_ok(y, n * 4, "tanh y") && dev_ok(bias, (size_t)N * 4, "tanh bias");
    for (size_t i = 0; ok && i < n; i++) y[i] = tanhf(y[i] + bias[i % (size_t)N]);
    return launch(stream, "tanh kernel", ok);
}

cudaError_t enc_cuk_qkv_to_padded(const float *qkv, const float *bias, const int32_t *offsets, float *q, float *k,
                                 float *v, int B, int H, int Lp, int D, cudaStream_t stream)
{
    const size_t n = (size_t)B * H * Lp * D, C = (size_t)H * D;
    if (n == 0) return cudaSuccess;
    int ok = dev_ok(offsets, ((size_t)B + 1) * 4, "scatter offsets") && dev_ok(bias, 3 * C * 4, "scatter bias") &&
             dev_ok(q, n * 4, "scatter q") && dev_ok(k, n * 4, "scatter k") && dev_ok(v, n * 4, "scatter v");
    for (size_t e = 0; ok && e < n; e++) {
        int c;
        const long long t = enc_cuk_padded_src(e, offsets, H, Lp, D, &c);
        float qv = 0.0f, kv = 0.0f, vv = 0.0f;
        if (t >= 0) {
            const float *row = qkv + (size_t)t * 3 * C;
            if (!(ok = dev_ok(row, 3 * C * 4, "scatter qkv row"))) break;
            qv = row[c] + bias[c];
            kv = row[C + c] + bias[C + c];
            vv = row[2 * C + c] + bias[2 * C + c];
        }
        q[e] = qv;
        k[e] = kv;
        v[e] = vv;
    }
    return launch(stream, "scatter kernel", ok);
}

cudaError_t enc_cuk_masked_softmax(float *S, const int32_t *offsets, int B, int H, int Lp, cudaStream_t stream)
{
    const size_t rows = (size_t)B * H * Lp;
    if (rows == 0) return cudaSuccess;
    const int ok = dev_ok(S, rows * Lp * 4, "softmax scores") && dev_ok(offsets, ((size_t)B + 1) * 4, "softmax offsets");
    for (size_t r = 0; ok && r < rows; r++) {
        int s, i;
        enc_cuk_score_row(r, H, Lp, &s, &i);
        const int len = offsets[s + 1] - offsets[s];
        float *p = S + r * Lp;
        if (i >= len) {
            for (int j = 0; j < Lp; j++) p[j] = 0.0f;
            continue;
        }
        float m = -INFINITY, sum = 0.0f;
        for (int j = 0; j < len; j++) m = fmaxf(m, p[j]);
        for (int j = 0; j < len; j++) sum += (p[j] = expf(p[j] - m));
        for (int j = 0; j < len; j++) p[j] *= 1.0f / sum;
        for (int j = len; j < Lp; j++) p[j] = 0.0f;
    }
    return launch(stream, "softmax kernel", ok);
}

cudaError_t enc_cuk_padded_to_packed(const float *ctx, const int32_t *seq, const int32_t *rows, float *out, int t0,
                                    int n, int seq0, int H, int Lp, int D, cudaStream_t stream)
{
    const size_t C = (size_t)H * D, total = (size_t)n * C;
    if (total == 0) return cudaSuccess;
    int ok = dev_ok(seq + t0, (size_t)n * 4, "gather seq") && dev_ok(rows + t0, (size_t)n * 4, "gather rows") &&
             dev_ok(out + (size_t)t0 * C, total * 4, "gather out");
    for (size_t e = 0; ok && e < total; e++) {
        size_t dst;
        const size_t src = enc_cuk_packed_elem(e, seq, rows, t0, seq0, H, Lp, D, &dst);
        if (!(ok = dev_ok(ctx + src, 4, "gather ctx"))) break;
        out[dst] = ctx[src];
    }
    return launch(stream, "gather kernel", ok);
}

cudaError_t enc_cuk_gather_first(const float *x, const int32_t *offsets, float *out, int B, int C, cudaStream_t stream)
{
    const size_t n = (size_t)B * C;
    if (n == 0) return cudaSuccess;
    int ok = dev_ok(offsets, ((size_t)B + 1) * 4, "first offsets") && dev_ok(out, n * 4, "first out");
    for (int s = 0; ok && s < B; s++) {
        const int t0 = offsets[s];
        const int has = offsets[s + 1] > t0;
        if (has && !(ok = dev_ok(x + (size_t)t0 * C, (size_t)C * 4, "first x row"))) break;
        for (int c = 0; c < C; c++) out[(size_t)s * C + c] = has ? x[(size_t)t0 * C + c] : 0.0f;
    }
    return launch(stream, "first-token kernel", ok);
}

cudaError_t enc_cuk_f32_to_bf16(const float *x, void *y, size_t n, cudaStream_t stream)
{
    if (n == 0) return cudaSuccess;
    const int ok = dev_ok(x, n * 4, "bf16 x") && dev_ok(y, n * 2, "bf16 y");
    uint16_t *o = y;
    for (size_t i = 0; ok && i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], 4);
        u += 0x7fffu + ((u >> 16) & 1u); /* nearest even */
        o[i] = (uint16_t)(u >> 16);
    }
    return launch(stream, "bf16 kernel", ok);
}

static void emu_reset_faults(void)
{
    emu.fail_malloc = emu.fail_copy = emu.fail_blas = emu.fail_launch = emu.fail_sync = emu.fail_create = 0;
    emu.n_malloc = emu.n_copy = emu.n_blas = emu.n_launch = emu.n_sync = emu.n_create = 0;
}

/* Every test ends with nothing live on the "device" and no violation. */
static void emu_check_clean(const char *where)
{
    PE_CHECK_MSG(emu.violations == 0, "%s: %ld emulation violation(s), the first: %s", where, emu.violations,
                 emu.violation);
    PE_CHECK_MSG(emu.live_allocs == 0 && emu.live_streams == 0 && emu.live_blas == 0,
                 "%s: left on the device: %ld allocations, %ld streams, %ld cuBLAS handles", where, emu.live_allocs,
                 emu.live_streams, emu.live_blas);
    emu.violations = 0;
    emu.violation[0] = '\0';
    emu_reset_faults();
}

/* ================= the reference ================= */

static void ref_ln(double *x, const float *g, const float *b, int C, double eps)
{
    double mean = 0.0, var = 0.0;
    for (int c = 0; c < C; c++) mean += x[c];
    mean /= C;
    for (int c = 0; c < C; c++) var += (x[c] - mean) * (x[c] - mean);
    const double inv = 1.0 / sqrt(var / C + eps);
    for (int c = 0; c < C; c++) x[c] = (x[c] - mean) * inv * g[c] + b[c];
}

/* y (M, N) = x (M, K) . W (N, K)^T + b, all double but W, b. */
static void ref_linear(const double *x, const float *W, const float *b, double *y, int M, int N, int K)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double a = b[j];
            for (int k = 0; k < K; k++) a += x[(size_t)i * K + k] * W[(size_t)j * K + k];
            y[(size_t)i * N + j] = a;
        }
}

/* Textbook post-LN BERT in double: out (T, C) after out_layer layers; pooled
 * (B, C) = tanh(first token . Wp^T + bp), tanh(bp) for an empty sequence. */
static void ref_forward(const model *m, const pe_encoder_batch *b, int out_layer, float *out, float *pooled)
{
    const pe_encoder_config *c = &m->cfg;
    const int T = b->n_tokens, C = c->hidden, I = c->intermediate, H = c->heads, D = C / H;
    double *x = malloc(((size_t)T * C + 1) * sizeof *x), *qkv = malloc(((size_t)T * 3 * C + 1) * sizeof *qkv),
           *ctx = malloc(((size_t)T * C + 1) * sizeof *ctx), *f = malloc(((size_t)T * I + 1) * sizeof *f),
           *p = malloc(((size_t)T * C + 1) * sizeof *p), *sc = malloc(((size_t)b->max_len + 1) * sizeof *sc);
    for (int t = 0; t < T; t++) {
        const int ty = b->type_ids ? b->type_ids[t] : 0;
        for (int k = 0; k < C; k++)
            x[(size_t)t * C + k] = (double)m->w.word_emb[(size_t)b->ids[t] * C + k] +
                                   m->w.pos_emb[(size_t)b->positions[t] * C + k] + m->w.type_emb[(size_t)ty * C + k];
        ref_ln(x + (size_t)t * C, m->w.emb_ln_g, m->w.emb_ln_b, C, c->layer_norm_eps);
    }
    for (int l = 0; l < out_layer; l++) {
        const pe_encoder_layer_weights *y = &m->layers[l];
        ref_linear(x, y->qkv_w, y->qkv_b, qkv, T, 3 * C, C);
        for (int s = 0; s < b->n_seq; s++) {
            const int t0 = b->offsets[s], n = b->offsets[s + 1] - t0;
            for (int h = 0; h < H; h++)
                for (int i = 0; i < n; i++) {
                    const double *q = qkv + (size_t)(t0 + i) * 3 * C + h * D;
                    double mx = -INFINITY, sum = 0.0;
                    for (int j = 0; j < n; j++) {
                        const double *k = qkv + (size_t)(t0 + j) * 3 * C + C + h * D;
                        double a = 0.0;
                        for (int d = 0; d < D; d++) a += q[d] * k[d];
                        sc[j] = a / sqrt((double)D);
                        mx = fmax(mx, sc[j]);
                    }
                    for (int j = 0; j < n; j++) sum += (sc[j] = exp(sc[j] - mx));
                    for (int d = 0; d < D; d++) {
                        double a = 0.0;
                        for (int j = 0; j < n; j++) a += sc[j] / sum * qkv[(size_t)(t0 + j) * 3 * C + 2 * C + h * D + d];
                        ctx[(size_t)(t0 + i) * C + h * D + d] = a;
                    }
                }
        }
        ref_linear(ctx, y->attn_out_w, y->attn_out_b, p, T, C, C);
        for (size_t i = 0; i < (size_t)T * C; i++) x[i] += p[i];
        for (int t = 0; t < T; t++) ref_ln(x + (size_t)t * C, y->ln1_g, y->ln1_b, C, c->layer_norm_eps);
        ref_linear(x, y->ffn_in_w, y->ffn_in_b, f, T, I, C);
        for (size_t i = 0; i < (size_t)T * I; i++) f[i] = 0.5 * f[i] * (1.0 + erf(f[i] / sqrt(2.0)));
        ref_linear(f, y->ffn_out_w, y->ffn_out_b, p, T, C, I);
        for (size_t i = 0; i < (size_t)T * C; i++) x[i] += p[i];
        for (int t = 0; t < T; t++) ref_ln(x + (size_t)t * C, y->ln2_g, y->ln2_b, C, c->layer_norm_eps);
    }
    for (size_t i = 0; i < (size_t)T * C; i++) out[i] = (float)x[i];
    for (int s = 0; pooled && s < b->n_seq; s++) {
        const int t0 = b->offsets[s], has = b->offsets[s + 1] > t0;
        for (int o = 0; o < C; o++) {
            double a = m->w.pooler_b[o];
            for (int k = 0; has && k < C; k++) a += (double)m->w.pooler_w[(size_t)o * C + k] * x[(size_t)t0 * C + k];
            pooled[(size_t)s * C + o] = (float)tanh(a);
        }
    }
    free(x);
    free(qkv);
    free(ctx);
    free(f);
    free(p);
    free(sc);
}

static double max_diff(const float *a, const float *b, size_t n)
{
    double m = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double d = fabs((double)a[i] - b[i]);
        if (!(d <= m)) m = d; /* NaN wins */
    }
    return m;
}

/* Max |diff| allowed (hidden states of RMS ~1): FP32 as test_cuda; TF32 and
 * BF16 the bounds test_cuda uses. */
static const double TOL[3] = {1e-4, 1.5e-2, 1e-1};

/* Runs batch lens through cu at out_layer (-1: last, with the pooler when the
 * model has one) and compares with the reference; returns the max |diff|. */
static double run_and_compare(pe_encoder_cuda *cu, const model *m, const int *lens, int n, int out_layer,
                              const char *what)
{
    batch bt;
    batch_make(&bt, m, lens, n);
    const int C = m->cfg.hidden, L = out_layer < 0 ? m->cfg.layers : out_layer;
    const int pool = m->cfg.has_pooler && L == m->cfg.layers;
    const size_t TC = (size_t)bt.b.n_tokens * C, BC = (size_t)n * C;
    float *got = malloc((TC + 1) * sizeof(float)), *want = malloc((TC + 1) * sizeof(float)),
          *pg = malloc((BC + 1) * sizeof(float)), *pw = malloc((BC + 1) * sizeof(float));
    memset(got, 0xff, (TC + 1) * sizeof(float));
    memset(pg, 0xff, (BC + 1) * sizeof(float));
    pe_error err;
    pe_error_clear(&err);
    const pe_status st = enc_forward_cuda_ex(cu, &bt.b, out_layer, got, pool ? pg : NULL, &err);
    double d = INFINITY;
    PE_CHECK_MSG(st == PE_OK, "%s: forward: %s", what, err.msg);
    if (st == PE_OK) {
        ref_forward(m, &bt.b, L, want, pool ? pw : NULL);
        d = max_diff(got, want, TC);
        if (pool) d = fmax(d, max_diff(pg, pw, BC));
        const pe_cuda_precision p = enc_cuda_precision(cu);
        fprintf(stderr, "  %-44s %s: max |diff| %.3g\n", what, enc_cuda_precision_name(p), d);
        PE_CHECK_MSG(d <= TOL[p], "%s %s: max |diff| %g > %g", what, enc_cuda_precision_name(p), d, TOL[p]);
    }
    free(got);
    free(want);
    free(pg);
    free(pw);
    batch_free(&bt);
    return d;
}

static pe_encoder_cuda *open_cu(const model *m, pe_cuda_precision p, size_t budget)
{
    pe_cuda_options o = enc_cuda_options_default();
    o.precision = p;
    o.attn_budget_bytes = budget;
    pe_encoder_cuda *cu = NULL;
    pe_error err;
    pe_error_clear(&err);
    PE_CHECK_MSG(enc_cuda_new_ex(&m->cfg, &m->w, &o, &cu, &err) == PE_OK, "open: %s", err.msg);
    return cu;
}

/* ================= the tests ================= */

static void test_parity(void)
{
    static const int lens_a[] = {7, 1, 40, 33, 2, 17}, lens_b[] = {40}, lens_c[] = {3, 5};
    model m;
    model_make(&m, 50, 64, 2, 4, 128, 64, 1);
    for (int p = PE_CUDA_FP32; p <= PE_CUDA_BF16; p++) {
        pe_encoder_cuda *cu = open_cu(&m, (pe_cuda_precision)p, 0);
        if (!cu) continue;
        run_and_compare(cu, &m, lens_a, 6, 0, "C=64 mixed lengths, embeddings");
        run_and_compare(cu, &m, lens_a, 6, 1, "C=64 mixed lengths, layer 1");
        const double d = run_and_compare(cu, &m, lens_a, 6, -1, "C=64 mixed lengths, last layer + pooler");
        if (p == PE_CUDA_FP32) PE_CHECK_MSG(d <= 2e-5, "fp32 emulation should be within rounding: %g", d);
        run_and_compare(cu, &m, lens_b, 1, -1, "C=64 one sequence after a batch");
        run_and_compare(cu, &m, lens_c, 2, -1, "C=64 small batch after a large one");
        enc_cuda_free(cu);
    }
    model_free(&m);
    /* hidden 1024, 16 heads of 64 (BERT-large's attention shape), C > the
     * 256 threads of a LayerNorm block; a small I and vocabulary keep it fast */
    model_make(&m, 20, 1024, 1, 16, 64, 24, 1);
    static const int lens_d[] = {5, 20, 1};
    for (int p = PE_CUDA_FP32; p <= PE_CUDA_BF16; p += 2) {
        pe_encoder_cuda *cu = open_cu(&m, (pe_cuda_precision)p, 0);
        if (cu) run_and_compare(cu, &m, lens_d, 3, -1, "C=1024 H=16 D=64");
        enc_cuda_free(cu);
    }
    model_free(&m);
    /* D = 48, not a power of two; no pooler */
    model_make(&m, 30, 288, 2, 6, 160, 48, 0);
    static const int lens_e[] = {33, 9};
    pe_encoder_cuda *cu = open_cu(&m, PE_CUDA_TF32, 0);
    if (cu) run_and_compare(cu, &m, lens_e, 2, -1, "C=288 H=6 D=48");
    enc_cuda_free(cu);
    model_free(&m);
    emu_check_clean("parity");
}

/* Empty sequences inside a batch (the CUDA hook accepts them; the public
 * forward does not): no work, nothing written for them, tanh(b) pooled. */
static void test_empty_sequences(void)
{
    model m;
    model_make(&m, 40, 64, 2, 4, 128, 64, 1);
    pe_encoder_cuda *cu = open_cu(&m, PE_CUDA_FP32, 0);
    static const int lens[] = {0, 6, 0, 3}, none[] = {0, 0};
    if (cu) {
        run_and_compare(cu, &m, lens, 4, -1, "empty sequences among others");
        run_and_compare(cu, &m, none, 2, -1, "only empty sequences");
    }
    enc_cuda_free(cu);
    model_free(&m);
    emu_check_clean("empty sequences");
}

/* Many one-token sequences: more (sequence, head) pairs than one batched
 * GEMM may take (65535), so attention goes in several chunks. */
static void test_many_sequences(void)
{
    model m;
    model_make(&m, 20, 32, 1, 32, 32, 4, 0); /* 32 heads of 1 */
    enum { N = 2600 };
    static int lens[N];
    for (int s = 0; s < N; s++) lens[s] = 1 + (s == 7); /* one of 2 tokens */
    pe_encoder_cuda *cu = open_cu(&m, PE_CUDA_FP32, 0);
    if (cu) {
        const long before = emu.n_blas;
        run_and_compare(cu, &m, lens, N, -1, "2600 sequences x 32 heads");
        fprintf(stderr, "  %ld cuBLAS calls\n", emu.n_blas - before);
        PE_CHECK_EQ_INT(emu.n_blas - before, 4 + 2 * 2); /* qkv, out, ffn x2; two chunks of 2 */
    }
    enc_cuda_free(cu);
    model_free(&m);
    emu_check_clean("many sequences");
}

/* Attention over chunks of sequences equals the whole batch at once. */
static void test_chunks(void)
{
    model m;
    model_make(&m, 40, 64, 2, 4, 128, 64, 1);
    static const int lens[] = {7, 1, 40, 33, 2, 17, 5};
    const size_t budgets[] = {1, 2 * 4 * 40 * 40 * sizeof(float), 3 * 4 * 40 * 40 * sizeof(float) + 5};
    for (int i = 0; i < 3; i++) {
        pe_encoder_cuda *cu = open_cu(&m, PE_CUDA_FP32, budgets[i]);
        char what[64];
        snprintf(what, sizeof what, "attention budget %zu B", budgets[i]);
        if (cu) run_and_compare(cu, &m, lens, 7, -1, what);
        enc_cuda_free(cu);
    }
    model_free(&m);
    emu_check_clean("chunks");
}

/* Batch shapes changing from call to call: every result right, and slowly
 * growing batches reallocate the workspace only now and then. */
static void test_regrowth(void)
{
    model m;
    model_make(&m, 40, 32, 1, 2, 64, 64, 1);
    pe_encoder_cuda *cu = open_cu(&m, PE_CUDA_FP32, 0);
    if (cu) {
        static const int a[] = {4}, b[] = {30, 2, 9}, c[] = {1}, d[] = {63, 64}, e[] = {2, 2, 2, 2, 2, 2, 2, 2, 2};
        run_and_compare(cu, &m, a, 1, -1, "regrowth: 1 x 4");
        run_and_compare(cu, &m, b, 3, -1, "regrowth: 3 sequences, longer");
        run_and_compare(cu, &m, c, 1, -1, "regrowth: 1 token");
        run_and_compare(cu, &m, d, 2, -1, "regrowth: the longest positions");
        run_and_compare(cu, &m, e, 9, -1, "regrowth: more, shorter sequences");
        const long before = emu.n_malloc;
        int lens[64];
        for (int n = 10; n <= 40; n++) { /* one more sequence each call */
            for (int s = 0; s < n; s++) lens[s] = 12;
            char what[64];
            snprintf(what, sizeof what, "regrowth: %d x 12", n);
            if (n % 10 == 0) run_and_compare(cu, &m, lens, n, -1, what);
            else {
                batch bt;
                batch_make(&bt, &m, lens, n);
                float *h = malloc((size_t)bt.b.n_tokens * 32 * sizeof(float));
                pe_error err;
                pe_error_clear(&err);
                PE_CHECK_MSG(enc_forward_cuda(cu, &bt.b, -1, h, &err) == PE_OK, "%s", err.msg);
                free(h);
                batch_free(&bt);
            }
        }
        const long reallocs = emu.n_malloc - before;
        fprintf(stderr, "  30 growing batches: %ld workspace allocations\n", reallocs);
        PE_CHECK_MSG(reallocs <= 4, "%ld workspace reallocations for 30 slowly growing batches", reallocs);
    }
    enc_cuda_free(cu);
    model_free(&m);
    emu_check_clean("regrowth");
}

/* Failures injected into each allocation, copy, handle creation, cuBLAS
 * call and kernel launch of loading, in every precision. */
static void test_load_failures(void)
{
    model m;
    model_make(&m, 30, 32, 2, 2, 64, 16, 1);
    for (int p = PE_CUDA_FP32; p <= PE_CUDA_BF16; p++) {
        pe_cuda_options o = enc_cuda_options_default();
        o.precision = (pe_cuda_precision)p;
        /* count the calls of a clean load */
        emu_reset_faults();
        pe_encoder_cuda *cu = NULL;
        pe_error err;
        pe_error_clear(&err);
        PE_CHECK(enc_cuda_new_ex(&m.cfg, &m.w, &o, &cu, &err) == PE_OK);
        const long n[5] = {emu.n_malloc, emu.n_copy, emu.n_create, emu.n_launch, emu.n_sync};
        enc_cuda_free(cu);
        static const char *kind[5] = {"cudaMalloc", "cudaMemcpyAsync", "create", "launch", "sync"};
        int tried = 0;
        for (int k = 0; k < 5; k++)
            for (long at = 1; at <= n[k]; at++) {
                emu_reset_faults();
                long *f[5] = {&emu.fail_malloc, &emu.fail_copy, &emu.fail_create, &emu.fail_launch, &emu.fail_sync};
                *f[k] = at;
                cu = (pe_encoder_cuda *)&m; /* must come back NULL */
                pe_error_clear(&err);
                const pe_status st = enc_cuda_new_ex(&m.cfg, &m.w, &o, &cu, &err);
                tried++;
                PE_CHECK_MSG(st == PE_ERR_BACKEND, "%s failure %ld (%s): status %d", kind[k], at,
                             enc_cuda_precision_name(o.precision), (int)st);
                PE_CHECK_MSG(cu == NULL, "%s failure %ld: *out not NULL", kind[k], at);
                PE_CHECK_MSG(strncmp(err.msg, "CUDA", 4) == 0 || strncmp(err.msg, "cuBLAS", 6) == 0,
                             "%s failure %ld: message \"%s\"", kind[k], at, err.msg);
                if (st == PE_OK) enc_cuda_free(cu);
                PE_CHECK_MSG(emu.live_allocs == 0 && emu.live_streams == 0 && emu.live_blas == 0,
                             "%s failure %ld: leaked %ld allocations %ld streams %ld handles", kind[k], at,
                             emu.live_allocs, emu.live_streams, emu.live_blas);
            }
        fprintf(stderr, "  %s load: %d injected failures, each a clean PE_ERR_BACKEND\n",
                enc_cuda_precision_name(o.precision), tried);
        PE_CHECK(tried >= 5);
    }
    model_free(&m);
    emu_check_clean("load failures");
}

/* Failures injected into each call of a forward: PE_ERR_BACKEND naming the
 * call, and the next forward (no failure) right again. */
static void test_forward_failures(void)
{
    model m;
    model_make(&m, 30, 32, 2, 2, 64, 32, 1);
    static const int lens[] = {5, 12, 3};
    for (int p = PE_CUDA_FP32; p <= PE_CUDA_BF16; p += 2) {
        pe_encoder_cuda *cu = open_cu(&m, (pe_cuda_precision)p, 0);
        if (!cu) continue;
        run_and_compare(cu, &m, lens, 3, -1, "before failures"); /* workspace in place */
        batch bt;
        batch_make(&bt, &m, lens, 3);
        float *h = malloc((size_t)bt.b.n_tokens * 32 * sizeof(float)), *pooled = malloc(3 * 32 * sizeof(float));
        pe_error err;
        pe_error_clear(&err);
        emu_reset_faults();
        PE_CHECK(enc_forward_cuda_ex(cu, &bt.b, -1, h, pooled, &err) == PE_OK);
        const long n[4] = {emu.n_copy, emu.n_blas, emu.n_launch, emu.n_sync};
        static const char *kind[4] = {"copy", "cuBLAS", "launch", "sync"};
        static const char *named[4] = {"cudaErrorInvalidValue", "cuBLAS: cublasGemm", "cudaErrorLaunchOutOfResources",
                                       "cudaErrorLaunchFailure"};
        int tried = 0;
        for (int k = 0; k < 4; k++)
            for (long at = 1; at <= n[k]; at++) {
                emu_reset_faults();
                long *f[4] = {&emu.fail_copy, &emu.fail_blas, &emu.fail_launch, &emu.fail_sync};
                *f[k] = at;
                pe_error_clear(&err);
                const pe_status st = enc_forward_cuda_ex(cu, &bt.b, -1, h, pooled, &err);
                tried++;
                PE_CHECK_MSG(st == PE_ERR_BACKEND, "%s failure %ld: status %d", kind[k], at, (int)st);
                PE_CHECK_MSG(strstr(err.msg, named[k]) != NULL, "%s failure %ld: message \"%s\"", kind[k], at,
                             err.msg);
                emu_reset_faults();
                char what[80];
                snprintf(what, sizeof what, "after a %s failure (call %ld)", kind[k], at);
                if (at == 1 || at == n[k]) run_and_compare(cu, &m, lens, 3, -1, what);
                else {
                    pe_error_clear(&err);
                    PE_CHECK_MSG(enc_forward_cuda_ex(cu, &bt.b, -1, h, pooled, &err) == PE_OK, "%s: %s",
                                 what, err.msg);
                }
            }
        fprintf(stderr, "  %s forward: %d injected failures, each PE_ERR_BACKEND naming the call, then fine\n",
                enc_cuda_precision_name((pe_cuda_precision)p), tried);
        free(h);
        free(pooled);
        batch_free(&bt);
        enc_cuda_free(cu);
    }
    model_free(&m);
    emu_check_clean("forward failures");
}

/* A batch whose workspace does not fit the device: a clear out-of-memory
 * error, and a smaller batch right after works (the failed cudaMalloc must
 * not come back as the next kernel launch's error). */
static void test_out_of_memory(void)
{
    model m;
    model_make(&m, 30, 64, 1, 4, 128, 64, 1);
    emu.mem_cap = (size_t)2 << 20; /* 2 MiB of device memory */
    pe_encoder_cuda *cu = open_cu(&m, PE_CUDA_FP32, 0);
    if (cu) {
        static const int small[] = {9, 4};
        int big[64];
        for (int s = 0; s < 64; s++) big[s] = 64;
        run_and_compare(cu, &m, small, 2, -1, "before out of memory");
        batch bt;
        batch_make(&bt, &m, big, 64);
        float *h = malloc((size_t)bt.b.n_tokens * 64 * sizeof(float));
        pe_error err;
        pe_error_clear(&err);
        PE_CHECK_EQ_INT(enc_forward_cuda(cu, &bt.b, -1, h, &err), PE_ERR_BACKEND);
        fprintf(stderr, "  64 x 64 tokens in 2 MiB: %s\n", err.msg);
        PE_CHECK(strstr(err.msg, "allocating") != NULL && strstr(err.msg, "workspace") != NULL &&
                 strstr(err.msg, "out of memory") != NULL);
        run_and_compare(cu, &m, small, 2, -1, "a smaller batch after out of memory");
        run_and_compare(cu, &m, small, 2, -1, "and again");
        free(h);
        batch_free(&bt);
    }
    enc_cuda_free(cu);
    /* weights that do not fit */
    emu.mem_cap = 4096;
    pe_error err;
    pe_error_clear(&err);
    cu = NULL;
    PE_CHECK_EQ_INT(enc_cuda_new_ex(&m.cfg, &m.w, NULL, &cu, &err), PE_ERR_BACKEND);
    PE_CHECK(cu == NULL && strstr(err.msg, "encoder weights") != NULL);
    emu.mem_cap = 0;
    model_free(&m);
    emu_check_clean("out of memory");
}

/* No driver, no device, too old a GPU, two GPUs; the caller's current
 * device is left as it was. */
static void test_devices(void)
{
    model m;
    model_make(&m, 30, 32, 1, 2, 64, 16, 1);
    pe_error err;
    pe_error_clear(&err);
    pe_encoder_cuda *cu = NULL;

    emu.count_err = cudaErrorInsufficientDriver;
    PE_CHECK_EQ_INT(enc_cuda_probe(&err), 0);
    PE_CHECK(strstr(err.msg, "cudaErrorInsufficientDriver") != NULL);
    PE_CHECK_EQ_INT(enc_cuda_new_ex(&m.cfg, &m.w, NULL, &cu, &err), PE_ERR_UNSUPPORTED);
    PE_CHECK(cu == NULL && strstr(err.msg, "unavailable") != NULL);
    PE_CHECK_EQ_INT(cudaGetLastError(), cudaSuccess); /* the probe left no error behind */
    emu.count_err = cudaSuccess;

    emu.n_dev = 0;
    PE_CHECK_EQ_INT(enc_cuda_probe(&err), 0);
    PE_CHECK_EQ_INT(enc_cuda_available(), 0);
    PE_CHECK_EQ_INT(cudaGetLastError(), cudaSuccess);

    emu.n_dev = 1;
    emu.cc_major[0] = 7;
    PE_CHECK_EQ_INT(enc_cuda_probe(&err), 0);
    PE_CHECK(strstr(err.msg, "compute capability") != NULL);
    PE_CHECK_EQ_INT(enc_cuda_new_ex(&m.cfg, &m.w, NULL, &cu, &err), PE_ERR_UNSUPPORTED);

    emu.n_dev = 2; /* an old GPU 0, a usable GPU 1 */
    PE_CHECK_EQ_INT(enc_cuda_probe(&err), 1);
    pe_cuda_options o = enc_cuda_options_default();
    PE_CHECK_EQ_INT(enc_cuda_new_ex(&m.cfg, &m.w, &o, &cu, &err), PE_ERR_UNSUPPORTED);
    PE_CHECK(strstr(err.msg, "device 0") != NULL && strstr(err.msg, "7.x") != NULL);
    o.device = 2;
    PE_CHECK_EQ_INT(enc_cuda_new_ex(&m.cfg, &m.w, &o, &cu, &err), PE_ERR_INVALID);
    PE_CHECK(strstr(err.msg, "device 2") != NULL);
    o.device = 1;
    PE_CHECK_EQ_INT(cudaSetDevice(0), cudaSuccess); /* the caller works on device 0 */
    int cur = -1;
    emu.fail_malloc = emu.n_malloc + 1; /* a load on device 1 that fails */
    PE_CHECK_EQ_INT(enc_cuda_new_ex(&m.cfg, &m.w, &o, &cu, &err), PE_ERR_BACKEND);
    emu_reset_faults();
    cudaGetDevice(&cur);
    PE_CHECK_EQ_INT(cur, 0);
    PE_CHECK_MSG(enc_cuda_new_ex(&m.cfg, &m.w, &o, &cu, &err) == PE_OK, "%s", err.msg);
    cudaGetDevice(&cur);
    PE_CHECK_EQ_INT(cur, 0);
    if (cu) {
        static const int lens[] = {4, 7};
        run_and_compare(cu, &m, lens, 2, -1, "on device 1 of 2");
        cudaGetDevice(&cur);
        PE_CHECK_EQ_INT(cur, 0);
        PE_CHECK_EQ_INT(emu.mem_used[0], 0); /* everything went to device 1 */
    }
    enc_cuda_free(cu);
    cudaGetDevice(&cur);
    PE_CHECK_EQ_INT(cur, 0);
    emu.n_dev = 1;
    emu.cc_major[0] = 9;
    char desc[128];
    PE_CHECK(enc_cuda_describe(0, desc, sizeof desc, &err) == PE_OK && strstr(desc, "sm_90") != NULL);
    PE_CHECK_EQ_INT(enc_cuda_describe(3, desc, sizeof desc, &err), PE_ERR_BACKEND);
    model_free(&m);
    emu_check_clean("devices");
}

/* Two threads, a handle each on its own device, at the same time. */
typedef struct job {
    const model *m;
    int device;
    double diff;
    char msg[512];
} job;

static void *thread_main(void *arg)
{
    job *j = arg;
    pe_cuda_options o = enc_cuda_options_default();
    o.device = j->device;
    pe_encoder_cuda *cu = NULL;
    pe_error err;
    pe_error_clear(&err);
    j->diff = INFINITY;
    if (enc_cuda_new_ex(&j->m->cfg, &j->m->w, &o, &cu, &err) != PE_OK) {
        snprintf(j->msg, sizeof j->msg, "%s", err.msg);
        return NULL;
    }
    static const int lens[] = {6, 11, 2};
    const int C = j->m->cfg.hidden;
    j->diff = 0.0;
    for (int it = 0; it < 4; it++) {
        batch bt;
        pthread_mutex_lock(&emu.mu); /* frand is not thread-safe */
        batch_make(&bt, j->m, lens, 3 - it % 2);
        pthread_mutex_unlock(&emu.mu);
        float *got = malloc((size_t)bt.b.n_tokens * C * sizeof(float)),
              *want = malloc((size_t)bt.b.n_tokens * C * sizeof(float));
        if (enc_forward_cuda(cu, &bt.b, -1, got, &err) != PE_OK) {
            snprintf(j->msg, sizeof j->msg, "%s", err.msg);
            j->diff = INFINITY;
        } else {
            ref_forward(j->m, &bt.b, j->m->cfg.layers, want, NULL);
            j->diff = fmax(j->diff, max_diff(got, want, (size_t)bt.b.n_tokens * C));
        }
        free(got);
        free(want);
        batch_free(&bt);
    }
    enc_cuda_free(cu);
    return NULL;
}

static void test_threads(void)
{
    model m;
    model_make(&m, 30, 32, 2, 2, 64, 16, 0);
    emu.n_dev = 2;
    job jobs[2] = {{&m, 0, 0, ""}, {&m, 1, 0, ""}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++) PE_CHECK(pthread_create(&th[i], NULL, thread_main, &jobs[i]) == 0);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 2; i++) {
        fprintf(stderr, "  thread on device %d: max |diff| %.3g %s\n", jobs[i].device, jobs[i].diff, jobs[i].msg);
        PE_CHECK_MSG(jobs[i].diff <= TOL[0], "thread %d: %g %s", i, jobs[i].diff, jobs[i].msg);
    }
    emu.n_dev = 1;
    model_free(&m);
    emu_check_clean("threads");
}

int main(void)
{
    PE_RUN(test_parity);
    PE_RUN(test_empty_sequences);
    PE_RUN(test_chunks);
    PE_RUN(test_many_sequences);
    PE_RUN(test_regrowth);
    PE_RUN(test_load_failures);
    PE_RUN(test_forward_failures);
    PE_RUN(test_out_of_memory);
    PE_RUN(test_devices);
    PE_RUN(test_threads);
    PE_TEST_EXIT();
}
