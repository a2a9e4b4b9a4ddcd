/* cuBLAS loaded when a model first needs it, not when the process starts.
 *
 * Linking libcublas maps it and libcublasLt (hundreds of MB) into every
 * process of a CUDA build and costs about 0.1 s at start-up, although only
 * the encoder's CUDA backend uses it. Instead these definitions of the seven
 * cuBLAS functions cuda_backend.c calls open the library with dlopen() on
 * the first call (cublasCreate, when a CUDA model loads) and forward to it.
 * They are hidden symbols of libpersona.so (and of executables linking the
 * static module), so they never interpose on the library's own. When the
 * library cannot be opened, every call returns CUBLAS_STATUS_NOT_INITIALIZED
 * and cublasGetStatusString names the library and dlerror()'s reason.
 * test_cuda_emu compiles cuda_backend.c against its own emulation instead. */
#include <cublas_v2.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#ifndef PE_CUBLAS_SONAME
#error "PE_CUBLAS_SONAME (e.g. \"libcublas.so.12\") is set by encoder/CMakeLists.txt"
#endif

static struct {
    cublasStatus_t (*create)(cublasHandle_t *);
    cublasStatus_t (*destroy)(cublasHandle_t);
    cublasStatus_t (*set_stream)(cublasHandle_t, cudaStream_t);
    cublasStatus_t (*set_math_mode)(cublasHandle_t, cublasMath_t);
    const char *(*status_string)(cublasStatus_t);
    cublasStatus_t (*gemm)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int, const void *,
                           const void *, cudaDataType, int, const void *, cudaDataType, int, const void *, void *,
                           cudaDataType, int, cublasComputeType_t, cublasGemmAlgo_t);
    cublasStatus_t (*gemm_sb)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int, const void *,
                              const void *, cudaDataType, int, long long, const void *, cudaDataType, int, long long,
                              const void *, void *, cudaDataType, int, long long, int, cublasComputeType_t,
                              cublasGemmAlgo_t);
    int ok;
    char why[384];
} g;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void *sym(void *h, const char *name, int *ok)
{
    void *p = dlsym(h, name);
    if (!p && *ok) {
        snprintf(g.why, sizeof g.why, "cuBLAS library %s lacks %s", PE_CUBLAS_SONAME, name);
        *ok = 0;
    }
    return p;
}

static void load(void)
{
    /* the soname through the usual search, else the toolkit's folder the
     * build used (a CUDA install is often not in ld.so.conf) */
    void *h = dlopen(PE_CUBLAS_SONAME, RTLD_NOW | RTLD_LOCAL);
#ifdef PE_CUBLAS_DIR
    if (!h) h = dlopen(PE_CUBLAS_DIR "/" PE_CUBLAS_SONAME, RTLD_NOW | RTLD_LOCAL);
#endif
    if (!h) {
        const char *e = dlerror();
        snprintf(g.why, sizeof g.why, "cannot load the cuBLAS library %s: %s", PE_CUBLAS_SONAME, e ? e : "?");
        return;
    }
    int ok = 1;
    *(void **)&g.create = sym(h, "cublasCreate_v2", &ok);
    *(void **)&g.destroy = sym(h, "cublasDestroy_v2", &ok);
    *(void **)&g.set_stream = sym(h, "cublasSetStream_v2", &ok);
    *(void **)&g.set_math_mode = sym(h, "cublasSetMathMode", &ok);
    *(void **)&g.status_string = sym(h, "cublasGetStatusString", &ok);
    *(void **)&g.gemm = sym(h, "cublasGemmEx", &ok);
    *(void **)&g.gemm_sb = sym(h, "cublasGemmStridedBatchedEx", &ok);
    g.ok = ok; /* kept open for the life of the process */
}

static int loaded(void)
{
    pthread_once(&g_once, load);
    return g.ok;
}

cublasStatus_t CUBLASWINAPI cublasCreate_v2(cublasHandle_t *handle)
{
    return loaded() ? g.create(handle) : CUBLAS_STATUS_NOT_INITIALIZED;
}

cublasStatus_t CUBLASWINAPI cublasDestroy_v2(cublasHandle_t handle)
{
    return loaded() ? g.destroy(handle) : CUBLAS_STATUS_NOT_INITIALIZED;
}

cublasStatus_t CUBLASWINAPI cublasSetStream_v2(cublasHandle_t handle, cudaStream_t stream)
{
    return loaded() ? g.set_stream(handle, stream) : CUBLAS_STATUS_NOT_INITIALIZED;
}

cublasStatus_t CUBLASWINAPI cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode)
{
    return loaded() ? g.set_math_mode(handle, mode) : CUBLAS_STATUS_NOT_INITIALIZED;
}

const char *CUBLASWINAPI cublasGetStatusString(cublasStatus_t status)
{
    return loaded() ? g.status_string(status) : g.why;
}

cublasStatus_t CUBLASWINAPI cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
                                         int m, int n, int k, const void *alpha, const void *A, cudaDataType Atype,
                                         int lda, const void *B, cudaDataType Btype, int ldb, const void *beta,
                                         void *C, cudaDataType Ctype, int ldc, cublasComputeType_t computeType,
                                         cublasGemmAlgo_t algo)
{
    if (!loaded()) return CUBLAS_STATUS_NOT_INITIALIZED;
    return g.gemm(handle, transa, transb, m, n, k, alpha, A, Atype, lda, B, Btype, ldb, beta, C, Ctype, ldc,
                  computeType, algo);
}

cublasStatus_t CUBLASWINAPI cublasGemmStridedBatchedEx(cublasHandle_t handle, cublasOperation_t transa,
                                                       cublasOperation_t transb, int m, int n, int k,
                                                       const void *alpha, const void *A, cudaDataType Atype, int lda,
                                                       long long int strideA, const void *B, cudaDataType Btype,
                                                       int ldb, long long int strideB, const void *beta, void *C,
                                                       cudaDataType Ctype, int ldc, long long int strideC,
                                                       int batchCount, cublasComputeType_t computeType,
                                                       cublasGemmAlgo_t algo)
{
    if (!loaded()) return CUBLAS_STATUS_NOT_INITIALIZED;
    return g.gemm_sb(handle, transa, transb, m, n, k, alpha, A, Atype, lda, strideA, B, Btype, ldb, strideB, beta,
                     C, Ctype, ldc, strideC, batchCount, computeType, algo);
}
