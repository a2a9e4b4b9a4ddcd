/* OpenBLAS opened when the encoder first needs it, not when the process
 * starts.
 *
 * OpenBLAS starts a thread per core when it is loaded, and those threads
 * spin for a while (0.04-0.09 s of CPU on 16 cores) in every process that
 * links it, although only the encoder multiplies matrices: `persona kg ...`
 * paid it on every command. These definitions of the three OpenBLAS
 * functions the encoder calls open the library with dlopen() on the first
 * call (model load sets its threads first) and forward to it. They are
 * hidden in libpersona.so, so they never interpose on the library's own.
 *
 * enc_blas_load() reports a missing library as PE_ERR_BACKEND (model load
 * calls it); a multiplication reached without it (a broken install) logs
 * the reason and aborts, as there is no status to return. */
#include <cblas.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "pe_util.h"
#include "model_internal.h"

#ifndef PE_OPENBLAS_SONAME
#error "PE_OPENBLAS_SONAME is set by encoder/CMakeLists.txt"
#endif

static struct {
    void (*sgemm)(OPENBLAS_CONST enum CBLAS_ORDER, OPENBLAS_CONST enum CBLAS_TRANSPOSE,
                  OPENBLAS_CONST enum CBLAS_TRANSPOSE, OPENBLAS_CONST blasint, OPENBLAS_CONST blasint,
                  OPENBLAS_CONST blasint, OPENBLAS_CONST float, OPENBLAS_CONST float *, OPENBLAS_CONST blasint,
                  OPENBLAS_CONST float *, OPENBLAS_CONST blasint, OPENBLAS_CONST float, float *,
                  OPENBLAS_CONST blasint);
    void (*sgemv)(OPENBLAS_CONST enum CBLAS_ORDER, OPENBLAS_CONST enum CBLAS_TRANSPOSE, OPENBLAS_CONST blasint,
                  OPENBLAS_CONST blasint, OPENBLAS_CONST float, OPENBLAS_CONST float *, OPENBLAS_CONST blasint,
                  OPENBLAS_CONST float *, OPENBLAS_CONST blasint, OPENBLAS_CONST float, float *,
                  OPENBLAS_CONST blasint);
    void (*set_threads)(int);
    int ok;
    char why[384];
} g;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void load(void)
{
    void *h = dlopen(PE_OPENBLAS_SONAME, RTLD_NOW | RTLD_LOCAL);
#ifdef PE_OPENBLAS_PATH
    if (!h) h = dlopen(PE_OPENBLAS_PATH, RTLD_NOW | RTLD_LOCAL);
#endif
    if (!h) {
        const char *e = dlerror();
        snprintf(g.why, sizeof g.why, "cannot load OpenBLAS (%s): %s", PE_OPENBLAS_SONAME, e ? e : "?");
        return;
    }
    *(void **)&g.sgemm = dlsym(h, "cblas_sgemm");
    *(void **)&g.sgemv = dlsym(h, "cblas_sgemv");
    *(void **)&g.set_threads = dlsym(h, "openblas_set_num_threads");
    g.ok = g.sgemm && g.sgemv && g.set_threads;
    if (!g.ok) snprintf(g.why, sizeof g.why, "%s lacks cblas_sgemm, cblas_sgemv or openblas_set_num_threads",
                        PE_OPENBLAS_SONAME);
}

pe_status enc_blas_load(pe_error *err)
{
    pthread_once(&g_once, load);
    return g.ok ? PE_OK : pe_error_set(err, PE_ERR_BACKEND, "%s", g.why);
}

static void need(void)
{
    if (enc_blas_load(NULL) == PE_OK) return;
    pe_log(PE_LOG_ERROR, "%s", g.why);
    abort();
}

void cblas_sgemm(OPENBLAS_CONST enum CBLAS_ORDER Order, OPENBLAS_CONST enum CBLAS_TRANSPOSE TransA,
                 OPENBLAS_CONST enum CBLAS_TRANSPOSE TransB, OPENBLAS_CONST blasint M, OPENBLAS_CONST blasint N,
                 OPENBLAS_CONST blasint K, OPENBLAS_CONST float alpha, OPENBLAS_CONST float *A,
                 OPENBLAS_CONST blasint lda, OPENBLAS_CONST float *B, OPENBLAS_CONST blasint ldb,
                 OPENBLAS_CONST float beta, float *C, OPENBLAS_CONST blasint ldc)
{
    need();
    g.sgemm(Order, TransA, TransB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void cblas_sgemv(OPENBLAS_CONST enum CBLAS_ORDER order, OPENBLAS_CONST enum CBLAS_TRANSPOSE trans,
                 OPENBLAS_CONST blasint m, OPENBLAS_CONST blasint n, OPENBLAS_CONST float alpha,
                 OPENBLAS_CONST float *a, OPENBLAS_CONST blasint lda, OPENBLAS_CONST float *x,
                 OPENBLAS_CONST blasint incx, OPENBLAS_CONST float beta, float *y, OPENBLAS_CONST blasint incy)
{
    need();
    g.sgemv(order, trans, m, n, alpha, a, lda, x, incx, beta, y, incy);
}

void openblas_set_num_threads(int num_threads)
{
    need();
    g.set_threads(num_threads);
}
