/* encoder/cuda/cublas_lazy.c: cuBLAS is not mapped until the first cuBLAS
 * call, which opens it (on a machine without a GPU the call itself then
 * fails as cuBLAS does: the point is that the library and all seven entry
 * points were found). Built with -DPE_CUDA=ON. */
#include <cublas_v2.h>
#include <stdio.h>
#include <string.h>

#include "pe_test.h"

static int mapped(const char *name)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f) return -1;
    char line[4096];
    int hit = 0;
    while (fgets(line, sizeof line, f)) hit |= strstr(line, name) != NULL;
    fclose(f);
    return hit;
}

static void test_lazy(void)
{
    PE_CHECK_EQ_INT(mapped("libcublas"), 0);
    cublasHandle_t h = NULL;
    cublasStatus_t s = cublasCreate(&h);
    /* loaded now, whatever the device says */
    PE_CHECK_EQ_INT(mapped("libcublas"), 1);
    const char *why = cublasGetStatusString(s);
    PE_CHECK(why != NULL && strstr(why, "cannot load") == NULL && strstr(why, "lacks") == NULL);
    if (s == CUBLAS_STATUS_SUCCESS) {
        PE_CHECK_EQ_INT(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH), CUBLAS_STATUS_SUCCESS);
        PE_CHECK_EQ_INT(cublasDestroy(h), CUBLAS_STATUS_SUCCESS);
    } else {
        fprintf(stderr, "cublasCreate without a usable GPU: %s\n", why);
    }
}

int main(void)
{
    PE_RUN(test_lazy);
    PE_TEST_EXIT();
}
