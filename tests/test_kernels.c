/* test_kernels.c - the CPU fast paths (encoder/kernels*.c) against the
 * OpenBLAS reference: linear (odd shapes, K blocking, bias, GELU, prepared
 * weights, 1 and 2 threads), GELU, attention, the thread pool, dispatch.
 * Passes on CPUs without AVX-512 too (then the fast path is the reference).
 *   test_kernels [--expect-blas]   (run with PE_LINEAR_FORCE_BLAS=1) */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "attention.h"
#include "kernels.h"
#include "linear.h"
#include "pe_test.h"

static __thread uint64_t rng = 88172645463325252ull; /* per thread: pool_jobs draws from two */
static float frand(void) /* uniform in [-1, 1) */
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 40) * (1.0 / 8388608.0)) - 1.0f;
}
static float *rand_vec(size_t n, float scale)
{
    float *v = malloc((n ? n : 1) * sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = frand() * scale;
    return v;
}

static int have_avx512;

/* Bound of the rounding error of one output: ~K ulp of the absolute sum. */
static double lin_tol(const float *x, const float *W, const float *b, int i, int j, int K)
{
    double s = b ? fabs(b[j]) : 0.0;
    for (int k = 0; k < K; k++) s += fabs((double)x[(size_t)i * K + k] * W[(size_t)j * K + k]);
    return 1e-6 + 2e-7 * (K + 8) * s / (K > 16 ? 4 : 1);
}

static void check_bf16(int M, int N, int K, int with_bias, pe_act act);

static int check_linear(int M, int N, int K, int with_bias, pe_act act)
{
    float *x = rand_vec((size_t)M * K, 1.0f), *W = rand_vec((size_t)N * K, 0.5f);
    float *b = with_bias ? rand_vec((size_t)N, 1.0f) : NULL;
    float *ref = calloc((size_t)M * N + 1, sizeof *ref), *got = calloc((size_t)M * N + 1, sizeof *got);
    float *got2 = calloc((size_t)M * N + 1, sizeof *got2);
    enc_linear_f32_blas(x, W, b, ref, M, N, K, act);
    enc_linear_f32(x, W, b, got, M, N, K, act);
    pe_linear_weights *pw = enc_linear_prepare(W, N, K);
    PE_CHECK(pw != NULL);
    if (pw) enc_linear_apply(pw, x, b, got2, M, act);
    int bad = 0;
    for (int i = 0; i < M && bad < 3; i++)
        for (int j = 0; j < N && bad < 3; j++) {
            double tol = lin_tol(x, W, b, i, j, K), r = ref[(size_t)i * N + j];
            double g1 = got[(size_t)i * N + j], g2 = got2[(size_t)i * N + j];
            if (!(fabs(g1 - r) <= tol) || !(fabs(g2 - r) <= tol)) {
                fprintf(stderr, "linear M=%d N=%d K=%d bias=%d act=%d [%d,%d]: ref %.9g f32 %.9g apply %.9g tol %.3g\n",
                        M, N, K, with_bias, (int)act, i, j, r, g1, g2, tol);
                bad++;
            }
        }
    PE_CHECK_MSG(bad == 0, "linear %dx%dx%d mismatches", M, N, K);
    enc_linear_weights_free(pw);
    free(x), free(W), free(b), free(ref), free(got), free(got2);
    return bad;
}

static void linear_shapes(void)
{
    static const int Ms[] = {1, 2, 3, 4, 5, 7, 13, 14, 15, 16, 27, 28, 29, 31, 33, 42, 55, 56, 57, 63, 70};
    static const int Ns[] = {1, 5, 16, 17, 31, 32, 33, 47, 64, 100};
    static const int Ks[] = {1, 2, 3, 16, 17, 64, 100, 191, 192, 193, 385};
    int cases = 0;
    for (size_t mi = 0; mi < sizeof Ms / sizeof *Ms; mi++)
        for (size_t ni = 0; ni < sizeof Ns / sizeof *Ns; ni++) {
            /* every (M, N) with two K's, bias and act varying: ~420 cases */
            for (int r = 0; r < 2; r++) {
                int K = Ks[(mi * 7 + ni * 3 + (size_t)r * 5) % (sizeof Ks / sizeof *Ks)];
                check_linear(Ms[mi], Ns[ni], K, (int)((mi + ni + r) & 1), (mi + r) % 3 == 0 ? PE_ACT_GELU : PE_ACT_NONE);
                cases++;
            }
        }
    /* K = 1 and bias-only epilogues for every M; M = 1..70 at one shape */
    for (int M = 1; M <= 70; M++) check_linear(M, 37, M % 2 ? 1 : 65, 1, M % 3 ? PE_ACT_GELU : PE_ACT_NONE);
    PE_CHECK(cases > 400);
}

static void linear_large(void)
{
    /* several row blocks (MC), split over rows, K blocks with a tail */
    check_linear(700, 96, 400, 1, PE_ACT_GELU);
    check_linear(513, 130, 777, 0, PE_ACT_NONE);
    check_linear(24, 2304, 96, 1, PE_ACT_NONE); /* column split */
    check_linear(20, 33, 1600, 1, PE_ACT_GELU); /* K split into 2 blocks */
    check_linear(70, 64, 3100, 0, PE_ACT_NONE); /* 3 blocks */
    check_bf16(30, 40, 1700, 1, PE_ACT_GELU);   /* bf16, 2 blocks of k pairs */
    check_linear(1800, 40, 30, 1, PE_ACT_GELU);  /* M large enough for 4 row chunks per thread */
    check_bf16(1800, 33, 70, 0, PE_ACT_NONE);
}

static void linear_threads(void)
{
    int saved = enc_kernels_threads();
    enc_kernels_set_threads(1);
    PE_CHECK_EQ_INT(enc_kernels_threads(), 1);
    check_linear(300, 64, 200, 1, PE_ACT_GELU);
    check_linear(9, 200, 300, 1, PE_ACT_NONE);
    enc_kernels_set_threads(3);
    PE_CHECK_EQ_INT(enc_kernels_threads(), 3);
    check_linear(300, 64, 200, 1, PE_ACT_GELU);
    check_linear(9, 200, 300, 0, PE_ACT_GELU);
    enc_kernels_set_threads(saved);
}

static void linear_empty(void)
{
    float y[4] = {7, 7, 7, 7}, x[4] = {1, 2, 3, 4}, W[4] = {1, 1, 1, 1};
    enc_linear_f32(x, W, NULL, y, 0, 2, 2, PE_ACT_NONE); /* M = 0: nothing written */
    PE_CHECK(y[0] == 7 && y[3] == 7);
    enc_linear_weights_free(NULL);
}

/* Weights prepared under one path stay usable after switching paths. */
static void linear_switch(void)
{
    if (!have_avx512) {
        PE_CHECK_EQ_INT(enc_kernels_select(PE_KERNELS_AVX512), -1);
        PE_CHECK_EQ_STR(enc_linear_backend_name(), enc_kernels_isa_name(enc_kernels_detect()));
        return;
    }
    const int M = 40, N = 70, K = 50;
    float *x = rand_vec((size_t)M * K, 1.0f), *W = rand_vec((size_t)N * K, 1.0f), *b = rand_vec(N, 1.0f);
    float *a = malloc(sizeof(float) * M * N), *c = malloc(sizeof(float) * M * N);
    pe_linear_weights *pw = enc_linear_prepare(W, N, K);
    PE_CHECK_EQ_INT(enc_kernels_select(PE_KERNELS_BLAS), 0);
    PE_CHECK_EQ_STR(enc_linear_backend_name(), "blas");
    enc_linear_apply(pw, x, b, a, M, PE_ACT_GELU);
    PE_CHECK_EQ_INT(enc_kernels_select(PE_KERNELS_AVX512), 0);
    PE_CHECK_EQ_STR(enc_linear_backend_name(), "avx512");
    enc_linear_apply(pw, x, b, c, M, PE_ACT_GELU);
    double maxd = 0;
    for (int i = 0; i < M * N; i++) maxd = fmax(maxd, fabs(a[i] - c[i]));
    PE_CHECK_MSG(maxd < 1e-4, "max diff %g", maxd);
    enc_linear_weights_free(pw);
    free(x), free(W), free(b), free(a), free(c);
}

static float to_bf16(float f) /* round to nearest even, back to float */
{
    uint32_t u;
    memcpy(&u, &f, 4);
    u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
    memcpy(&f, &u, 4);
    return f;
}

/* bf16 products: against a double reference on the bf16-rounded inputs
 * (tight), and against f32 (the accuracy cost, loose). */
static void check_bf16(int M, int N, int K, int with_bias, pe_act act)
{
    float *x = rand_vec((size_t)M * K, 1.0f), *W = rand_vec((size_t)N * K, 0.5f);
    float *b = with_bias ? rand_vec((size_t)N, 1.0f) : NULL;
    float *y = malloc(sizeof(float) * M * N);
    pe_linear_weights *pw = enc_linear_prepare_ex(W, N, K, PE_LINEAR_BF16);
    PE_CHECK(pw != NULL);
    if (!pw) return;
    /* bf16 only where the CPU has it and the AVX-512 path is in use */
    PE_CHECK_EQ_INT(enc_linear_weights_precision(pw),
                    enc_kernels_has_bf16() && enc_kernels_active() == PE_KERNELS_AVX512 ? PE_LINEAR_BF16 : PE_LINEAR_F32);
    enc_linear_apply(pw, x, b, y, M, act);
    const int is_bf16 = enc_linear_weights_precision(pw) == PE_LINEAR_BF16;
    int bad = 0;
    for (int i = 0; i < M && bad < 3; i++)
        for (int j = 0; j < N && bad < 3; j++) {
            double s = b ? b[j] : 0.0, s32 = s, mag = fabs(s);
            for (int k = 0; k < K; k++) {
                float xv = x[(size_t)i * K + k], wv = W[(size_t)j * K + k];
                s += (double)(is_bf16 ? to_bf16(xv) : xv) * (is_bf16 ? to_bf16(wv) : wv);
                s32 += (double)xv * wv;
                mag += fabs((double)xv * wv);
            }
            if (act == PE_ACT_GELU) {
                s = 0.5 * s * (1.0 + erf(s / sqrt(2.0)));
                s32 = 0.5 * s32 * (1.0 + erf(s32 / sqrt(2.0)));
            }
            double got = y[(size_t)i * N + j];
            if (!(fabs(got - s) <= 1e-6 + 4e-7 * sqrt((double)K) * mag) || !(fabs(got - s32) <= 1e-2 * mag + 1e-5)) {
                fprintf(stderr, "bf16 M=%d N=%d K=%d [%d,%d]: got %.9g, bf16-exact %.9g, f32-exact %.9g\n", M, N, K, i,
                        j, got, s, s32);
                bad++;
            }
        }
    PE_CHECK_MSG(bad == 0, "bf16 linear %dx%dx%d", M, N, K);
    enc_linear_weights_free(pw);
    free(x), free(W), free(b), free(y);
}

static void linear_bf16(void)
{
    static const int Ms[] = {1, 3, 14, 15, 29, 70, 300};
    static const int Ns[] = {1, 17, 32, 33, 100};
    static const int Ks[] = {1, 2, 3, 31, 32, 33, 255, 256, 257, 600};
    int c = 0;
    for (size_t mi = 0; mi < sizeof Ms / sizeof *Ms; mi++)
        for (size_t ni = 0; ni < sizeof Ns / sizeof *Ns; ni++)
            for (int r = 0; r < 2; r++, c++)
                check_bf16(Ms[mi], Ns[ni], Ks[(size_t)c % (sizeof Ks / sizeof *Ks)], c & 1,
                           c % 3 == 0 ? PE_ACT_GELU : PE_ACT_NONE);
}

static void gelu_exact(void)
{
    /* the vector GELU of the fast path against erff, on a dense grid */
    const int n = 40001;
    float *v = malloc(sizeof(float) * n);
    for (int i = 0; i < n; i++) v[i] = -10.0f + 20.0f * (float)i / (n - 1);
    v[0] = -1e30f, v[1] = 1e30f, v[2] = 0.0f, v[3] = -0.0f;
    float *g = malloc(sizeof(float) * n);
    for (int i = 0; i < n; i++) g[i] = v[i];
#if PE_KERNELS_X86
    if (have_avx512) enc_k512_gelu(g, (size_t)n);
    else
#endif
        for (int i = 0; i < n; i++) g[i] = enc_gelu(g[i]);
    /* erf-form GELU in float loses ~1e-7 |x| to the cancellation in 1 + erf
     * for x < 0 (erff does too); relative for x > 0 */
    for (int i = 0; i < n; i++) {
        double ref = 0.5 * v[i] * (1.0 + erf(v[i] / sqrt(2.0))); /* double precision */
        if (v[i] < -1e29) ref = 0.0;
        double err = fabs(g[i] - ref);
        PE_CHECK_MSG(err <= 2.5e-7 * fmax(1.0, fmin(fabs(v[i]), 10.0)) && (v[i] <= 0 || err <= 3e-7 * ref),
                     "gelu(%.9g) = %.9g, exact %.9g", v[i], g[i], ref);
    }
    /* the scalar reference itself at a few exact points */
    PE_CHECK(enc_gelu(0.0f) == 0.0f);
    PE_CHECK_NEAR(enc_gelu(1.0f), 0.8413447460685429, 1e-7);
    PE_CHECK_NEAR(enc_gelu(-1.0f), -0.15865525393145707, 1e-7);
    free(v), free(g);
}

static void check_attention(const int *lens, int n_seq, int H, int D)
{
    int offsets[65], T = 0, max_len = 0;
    offsets[0] = 0;
    for (int s = 0; s < n_seq; s++) {
        T += lens[s];
        offsets[s + 1] = T;
        if (lens[s] > max_len) max_len = lens[s];
    }
    const int C = H * D;
    float *qkv = rand_vec((size_t)T * 3 * C + 1, 2.0f);
    float *ref = calloc((size_t)T * C + 1, sizeof *ref), *got = calloc((size_t)T * C + 1, sizeof *got);
    float *scratch = malloc((enc_attention_scratch_floats(max_len, H, D) + 1) * sizeof(float));
    enc_attention_f32_blas(qkv, ref, offsets, n_seq, H, D, scratch);
    enc_attention_f32(qkv, got, offsets, n_seq, H, D, scratch);
    double maxd = 0;
    for (size_t i = 0; i < (size_t)T * C; i++) maxd = fmax(maxd, fabs(ref[i] - got[i]));
    PE_CHECK_MSG(maxd <= 2e-5 * sqrt((double)D), "attention n_seq=%d H=%d D=%d: max diff %g", n_seq, H, D, maxd);
    free(qkv), free(ref), free(got), free(scratch);
}

static void attention_shapes(void)
{
    static const int lens1[] = {1};
    static const int lens2[] = {5, 16, 17, 1, 33};
    static const int lens3[] = {64, 130, 2};
    static const int lens4[] = {32, 32, 32, 32, 32, 32, 32, 32};
    static const int lens5[] = {3, 0, 7}; /* an empty sequence */
    static const int Ds[] = {1, 7, 16, 64, 70};
    for (size_t i = 0; i < sizeof Ds / sizeof *Ds; i++) {
        check_attention(lens1, 1, 2, Ds[i]);
        check_attention(lens2, 5, 3, Ds[i]);
        check_attention(lens5, 3, 2, Ds[i]);
    }
    check_attention(lens3, 3, 2, 64);
    check_attention(lens4, 8, 12, 64);
    check_attention(lens3, 3, 4, 33);
}

static void layernorm(void)
{
    static const int ns[] = {1, 7, 16, 100, 256, 768, 1025};
    for (size_t k = 0; k < sizeof ns / sizeof *ns; k++) {
        const int n = ns[k], rows = 1 + (int)(k * 37) % 90;
        for (int with_r = 0; with_r < 2; with_r++) {
            float *x = rand_vec((size_t)rows * n, 3.0f), *r = rand_vec((size_t)rows * n, 1.0f);
            float *g = rand_vec(n, 1.0f), *b = rand_vec(n, 1.0f), *y = malloc(sizeof(float) * rows * n);
            for (int i = 0; i < rows * n; i++) y[i] = x[i] += 5.0f; /* an offset the mean must remove */
            enc_kernels_add_layernorm(y, with_r ? r : NULL, g, b, rows, n, 1e-12f);
            int bad = 0;
            for (int i = 0; i < rows && bad < 3; i++) {
                double s = 0, q = 0, v[1025];
                for (int j = 0; j < n; j++) s += v[j] = (double)x[(size_t)i * n + j] + (with_r ? r[(size_t)i * n + j] : 0.0);
                double mean = s / n;
                for (int j = 0; j < n; j++) q += (v[j] - mean) * (v[j] - mean);
                double inv = 1.0 / sqrt(q / n + 1e-12);
                for (int j = 0; j < n; j++) {
                    double ref = (v[j] - mean) * inv * g[j] + b[j], got = y[(size_t)i * n + j];
                    if (!(fabs(got - ref) <= 2e-6 * (1.0 + fabs(ref)) + (n == 1 ? 1e-3 : 0))) {
                        fprintf(stderr, "layernorm n=%d row %d col %d: %.9g vs %.9g\n", n, i, j, got, ref);
                        bad++;
                    }
                }
            }
            PE_CHECK_MSG(bad == 0, "layernorm n=%d rows=%d r=%d", n, rows, with_r);
            free(x), free(r), free(g), free(b), free(y);
        }
    }
}

/* ---- pool ---- */

typedef struct { _Atomic long sum; _Atomic int bad_tid, nested; } pool_ctx;

static void inner_task(void *ctx, int task, int tid)
{
    pool_ctx *c = ctx;
    if (tid != -1) atomic_store(&c->bad_tid, 1); /* nested jobs run serially, tid -1 */
    atomic_fetch_add(&c->nested, 1);
    (void)task;
}
static void sum_task(void *ctx, int task, int tid)
{
    pool_ctx *c = ctx;
    if (tid < 0 || tid >= enc_kernels_threads()) atomic_store(&c->bad_tid, 1);
    float *s = enc_kernels_scratch(tid, 1000 + (size_t)task);
    if (!s) atomic_store(&c->bad_tid, 1);
    else s[999 + task] = 1.0f; /* in bounds: ASan would tell */
    atomic_fetch_add(&c->sum, task + 1);
    if (task == 3) enc_kernels_parallel(5, inner_task, ctx);
}

static void *user_thread(void *arg)
{
    (void)arg;
    check_linear(100, 64, 64, 1, PE_ACT_GELU);
    check_attention((const int[]){20, 9}, 2, 2, 16);
    return NULL;
}

static void pool_jobs(void)
{
    for (int round = 0; round < 200; round++) {
        pool_ctx c = {0};
        int n = 1 + round % 37;
        enc_kernels_parallel(n, sum_task, &c);
        PE_CHECK_EQ_INT(atomic_load(&c.sum), (long)n * (n + 1) / 2);
        PE_CHECK_EQ_INT(atomic_load(&c.bad_tid), 0);
        PE_CHECK_EQ_INT(atomic_load(&c.nested), n > 3 ? 5 : 0);
    }
    /* two application threads using the kernels at once (one gets the pool) */
    pthread_t th[2];
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, user_thread, NULL);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
}

static int expect_blas;

/* No environment variable changes results: $PE_LINEAR_BF16 once turned
 * every f32 load into bf16; the precision is an option of the load now. */
static void no_env_precision(void)
{
    float *W = rand_vec(64 * 64, 0.5f);
    setenv("PE_LINEAR_BF16", "1", 1);
    pe_linear_weights *pw = enc_linear_prepare(W, 64, 64);
    unsetenv("PE_LINEAR_BF16");
    PE_CHECK(pw != NULL);
    if (pw) PE_CHECK_EQ_INT(enc_linear_weights_precision(pw), PE_LINEAR_F32);
    enc_linear_weights_free(pw);
    free(W);
}

static void dispatch(void)
{
    PE_CHECK_EQ_STR(enc_kernels_isa_name(PE_KERNELS_BLAS), "blas");
    PE_CHECK_EQ_STR(enc_kernels_isa_name(PE_KERNELS_AVX512), "avx512");
    if (expect_blas) PE_CHECK_EQ_STR(enc_linear_backend_name(), "blas");
    else PE_CHECK_EQ_STR(enc_linear_backend_name(), enc_kernels_isa_name(enc_kernels_detect()));
    PE_CHECK_EQ_INT(enc_kernels_select(PE_KERNELS_BLAS), 0);
    PE_CHECK_EQ_STR(enc_linear_backend_name(), "blas");
    PE_CHECK_EQ_INT(enc_kernels_select(enc_kernels_detect()), 0);
    fprintf(stderr, "cpu best path: %s, threads %d\n", enc_kernels_isa_name(enc_kernels_detect()), enc_kernels_threads());
}

int main(int argc, char **argv)
{
    expect_blas = argc > 1 && strcmp(argv[1], "--expect-blas") == 0;
    have_avx512 = enc_kernels_detect() == PE_KERNELS_AVX512;
    PE_RUN(dispatch);
    PE_RUN(gelu_exact);
    PE_RUN(linear_empty);
    PE_RUN(linear_shapes);
    PE_RUN(linear_large);
    PE_RUN(linear_threads);
    PE_RUN(linear_switch);
    PE_RUN(linear_bf16);
    PE_RUN(no_env_precision);
    PE_RUN(attention_shapes);
    PE_RUN(layernorm);
    if (have_avx512) { /* the portable reference of the same op */
        enc_kernels_select(PE_KERNELS_BLAS);
        PE_RUN(layernorm);
        enc_kernels_select(PE_KERNELS_AVX512);
    }
    PE_RUN(pool_jobs);
    if (enc_kernels_supported(PE_KERNELS_AVX2) && enc_kernels_detect() != PE_KERNELS_AVX2) {
        /* the AVX2 path of CPUs without AVX-512, run here too */
        const pe_kernels_isa best = enc_kernels_detect();
        PE_CHECK_EQ_INT(enc_kernels_select(PE_KERNELS_AVX2), 0);
        PE_CHECK_EQ_STR(enc_linear_backend_name(), "avx2");
        fprintf(stderr, "-- again on the avx2 path\n");
        PE_RUN(linear_shapes);
        PE_RUN(linear_large);
        PE_RUN(linear_threads);
        PE_RUN(attention_shapes);
        PE_RUN(layernorm);
        enc_kernels_select(best);
    }
    PE_TEST_EXIT();
}
