/* encoder_kernels_bench.c - micro-benchmark of the encoder's CPU kernels
 * against the OpenBLAS reference on BERT-base shapes: the four projections
 * (768->2304, 768->768, 768->3072 +GELU, 3072->768) at M = 32 .. 4096
 * tokens, and self-attention (12 heads x 64) at batch x length 1x32 ..
 * 32x128 (--config small: the shipped model's shapes, hidden 256, 4 heads
 * x 64). Prints one line per case: GFLOP/s of both paths and the ratio.
 *   pe_bench_encoder_kernels [--threads N] [--quick] [--cpu-time] [--isa avx512|avx2|blas]
 *                            [--config base|small] [--json FILE]
 * --cpu-time times with the process CPU clock instead of the wall clock:
 * with --threads 1 on a loaded machine it tells what a kernel does per
 * CPU-second, unaffected by preemption.
 * Not a test: figures depend on the machine and its load. */
#include <cblas.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attention.h"
#include "kernels.h"
#include "linear.h"

static clockid_t bench_clock = CLOCK_MONOTONIC;
static double now(void)
{
    struct timespec t;
    clock_gettime(bench_clock, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static float *rand_vec(size_t n)
{
    float *v = malloc(n * sizeof *v);
    uint32_t s = 12345;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        v[i] = (float)((s >> 8) * (1.0 / 16777216.0)) - 0.5f;
    }
    return v;
}

/* Fastest single call of fn over at least 5 calls and min_s seconds (the
 * minimum filters out preemption by other processes on a shared machine). */
typedef void (*bench_fn)(void *);
static double time_best(bench_fn fn, void *ctx, double min_s, int reps)
{
    fn(ctx); /* warm-up: caches, thread start */
    double best = 1e30, t_end = now() + min_s * reps;
    for (int n = 0; n < 5 || now() < t_end; n++) {
        double t0 = now();
        fn(ctx);
        double t = now() - t0;
        if (t < best) best = t;
    }
    return best;
}

typedef struct lin_case {
    const float *x, *W, *b;
    float *y;
    int M, N, K;
    pe_act act;
    pe_linear_weights *pw;
} lin_case;

static void run_ours(void *c_)
{
    lin_case *c = c_;
    enc_linear_apply(c->pw, c->x, c->b, c->y, c->M, c->act);
}
static void run_blas(void *c_)
{
    lin_case *c = c_;
    enc_linear_f32_blas(c->x, c->W, c->b, c->y, c->M, c->N, c->K, c->act);
}

typedef struct att_case {
    const float *qkv;
    float *out, *scratch;
    int *offsets;
    int n_seq, H, D;
} att_case;

static void run_att_ours(void *c_)
{
    att_case *c = c_;
    enc_attention_f32(c->qkv, c->out, c->offsets, c->n_seq, c->H, c->D, c->scratch);
}
static void run_att_blas(void *c_)
{
    att_case *c = c_;
    enc_attention_f32_blas(c->qkv, c->out, c->offsets, c->n_seq, c->H, c->D, c->scratch);
}

extern void openblas_set_num_threads(int);
extern char *openblas_get_corename(void);

/* This thread's CPU time: the peak loop is timed by it whatever --cpu-time
 * says, so that neither other threads (OpenBLAS's start) nor time the
 * hypervisor takes from a virtual CPU count. */
static double thread_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

#if PE_KERNELS_X86
#include <immintrin.h>
/* One core's f32 FMA peak: a register-only loop of 12 independent
 * accumulators (enough to cover the FMA latency on every x86 core we know)
 * that start from different values read at run time, so that the compiler
 * can neither merge nor fold them; nothing is stored in the loop. */
#define PEAK_BODY(VEC, SET1, FMA, ADD, W)                                                  \
    VEC c0 = SET1(seed[0]), c1 = SET1(seed[1]), c2 = SET1(seed[2]), c3 = SET1(seed[3]);    \
    VEC c4 = SET1(seed[4]), c5 = SET1(seed[5]), c6 = SET1(seed[6]), c7 = SET1(seed[7]);    \
    VEC c8 = SET1(seed[8]), c9 = SET1(seed[9]), c10 = SET1(seed[10]), c11 = SET1(seed[11]); \
    const VEC a = SET1(seed[12]), b = SET1(seed[13]);                                      \
    double t = thread_now();                                                               \
    for (long k = 0; k < iters; k++) {                                                     \
        c0 = FMA(a, b, c0), c1 = FMA(a, b, c1), c2 = FMA(a, b, c2), c3 = FMA(a, b, c3);    \
        c4 = FMA(a, b, c4), c5 = FMA(a, b, c5), c6 = FMA(a, b, c6), c7 = FMA(a, b, c7);    \
        c8 = FMA(a, b, c8), c9 = FMA(a, b, c9), c10 = FMA(a, b, c10), c11 = FMA(a, b, c11); \
    }                                                                                      \
    t = thread_now() - t;                                                                  \
    VEC s = ADD(ADD(ADD(c0, c1), ADD(c2, c3)), ADD(ADD(c4, c5), ADD(c6, c7)));             \
    s = ADD(s, ADD(ADD(c8, c9), ADD(c10, c11)));                                           \
    float sink[16];                                                                        \
    memcpy(sink, &s, sizeof s);                                                            \
    seed[14] = sink[0];                                                                    \
    return (double)iters * 12 * 2 * (W) / t * 1e-9;
__attribute__((target("avx2,fma"), noinline)) static double peak_avx2(long iters, volatile float *seed)
{
    PEAK_BODY(__m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps, 8)
}
__attribute__((target("avx512f"), noinline)) static double peak_avx512(long iters, volatile float *seed)
{
    PEAK_BODY(__m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps, 16)
}
#endif

/* GFLOP/s of one thread in the FMA loop of the active path's vector width
 * (best of 3 runs of ~0.1 s); 0 on the BLAS path or another architecture. */
static double fma_peak(void)
{
#if PE_KERNELS_X86
    volatile float seed[16];
    for (int i = 0; i < 16; i++) seed[i] = 1e-3f * (float)i;
    const pe_kernels_isa isa = enc_kernels_active();
    if (isa == PE_KERNELS_BLAS) return 0;
    double best = 0;
    for (int r = 0; r < 3; r++) {
        double g = isa == PE_KERNELS_AVX512 ? peak_avx512(10000000, seed) : peak_avx2(10000000, seed);
        if (g > best) best = g;
    }
    return best;
#else
    return 0;
#endif
}

int main(int argc, char **argv)
{
    int threads = 2, quick = 0, small = 0;
    const char *json = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--quick")) quick = 1;
        else if (!strcmp(argv[i], "--cpu-time")) bench_clock = CLOCK_PROCESS_CPUTIME_ID;
        else if (!strcmp(argv[i], "--isa") && i + 1 < argc) {
            const char *n = argv[++i];
            pe_kernels_isa isa = !strcmp(n, "avx512") ? PE_KERNELS_AVX512 : !strcmp(n, "avx2") ? PE_KERNELS_AVX2 : PE_KERNELS_BLAS;
            if (strcmp(n, enc_kernels_isa_name(isa)) != 0 || enc_kernels_select(isa) != 0) {
                fprintf(stderr, "%s: --isa %s: unknown or not supported by this CPU\n", argv[0], n);
                return 2;
            }
        }
        else if (!strcmp(argv[i], "--json") && i + 1 < argc) json = argv[++i];
        else if (!strcmp(argv[i], "--config") && i + 1 < argc && (!strcmp(argv[i + 1], "base") || !strcmp(argv[i + 1], "small")))
            small = !strcmp(argv[++i], "small");
        else {
            fprintf(stderr, "usage: %s [--threads N] [--quick] [--cpu-time] [--isa avx512|avx2|blas] [--config base|small]\n"
                            "       [--json FILE]\n", argv[0]);
            return 2;
        }
    }
    enc_kernels_set_threads(threads);
    openblas_set_num_threads(threads);
    const int fast = enc_kernels_active() != PE_KERNELS_BLAS;
    printf("# kernels: path %s, %d threads, OpenBLAS core %s%s%s\n", enc_kernels_isa_name(enc_kernels_active()),
           threads, openblas_get_corename(), fast ? "" : " (both columns are OpenBLAS)",
           bench_clock == CLOCK_MONOTONIC ? "" : ", timed by process CPU time");
    const double peak = fma_peak();
    if (peak > 0)
        printf("# f32 FMA peak of one thread: %.1f GFLOP/s (%s register-only loop, 12 accumulators, thread CPU time)\n", peak,
               enc_kernels_active() == PE_KERNELS_AVX512 ? "zmm" : "ymm");
    FILE *jf = json ? fopen(json, "w") : NULL;
    if (json && !jf) {
        fprintf(stderr, "cannot write %s\n", json);
        return 1;
    }
    if (jf) fprintf(jf, "{\"threads\": %d, \"isa\": \"%s\", \"linear\": [", threads, enc_kernels_isa_name(enc_kernels_active()));

    typedef struct { int N, K; pe_act act; const char *name; } lin_shape;
    static const lin_shape base_shapes[] = {
        {2304, 768, PE_ACT_NONE, "qkv 768->2304"},
        {768, 768, PE_ACT_NONE, "attn_out 768->768"},
        {3072, 768, PE_ACT_GELU, "ffn_in 768->3072+gelu"},
        {768, 3072, PE_ACT_NONE, "ffn_out 3072->768"},
    }, small_shapes[] = {
        {768, 256, PE_ACT_NONE, "qkv 256->768"},
        {256, 256, PE_ACT_NONE, "attn_out 256->256"},
        {1024, 256, PE_ACT_GELU, "ffn_in 256->1024+gelu"},
        {256, 1024, PE_ACT_NONE, "ffn_out 1024->256"},
    };
    const lin_shape *shapes = small ? small_shapes : base_shapes;
    const size_t n_shapes = 4;
    static const int Ms[] = {32, 128, 256, 1024, 4096};
    const double min_s = quick ? 0.05 : 0.25;
    const int bf16 = enc_kernels_has_bf16() && enc_kernels_active() == PE_KERNELS_AVX512;
    printf("%-24s %6s %10s %10s %7s %10s\n", "linear (+bias)", "M", "ours GF/s", "blas GF/s", "ratio",
           bf16 ? "bf16 GF/s" : "");
    int first = 1;
    for (size_t s = 0; s < n_shapes; s++) {
        const int N = shapes[s].N, K = shapes[s].K;
        float *W = rand_vec((size_t)N * K), *b = rand_vec((size_t)N);
        pe_linear_weights *pw = enc_linear_prepare_ex(W, N, K, PE_LINEAR_F32);
        pe_linear_weights *pwb = bf16 ? enc_linear_prepare_ex(W, N, K, PE_LINEAR_BF16) : NULL;
        for (size_t mi = 0; mi < sizeof Ms / sizeof *Ms; mi++) {
            const int M = Ms[mi];
            if (quick && M > 1024) continue;
            float *x = rand_vec((size_t)M * K), *y = malloc(sizeof(float) * M * N);
            lin_case c = {x, W, b, y, M, N, K, shapes[s].act, pw};
            double flops = 2.0 * M * N * K;
            double t_ours = time_best(run_ours, &c, min_s, 3);
            double t_blas = time_best(run_blas, &c, min_s, 3);
            double t_bf16 = 0;
            if (pwb) {
                lin_case cb = c;
                cb.pw = pwb;
                t_bf16 = time_best(run_ours, &cb, min_s, 3);
            }
            printf("%-24s %6d %10.1f %10.1f %6.2fx", shapes[s].name, M, flops / t_ours * 1e-9,
                   flops / t_blas * 1e-9, t_blas / t_ours);
            if (pwb) printf(" %10.1f", flops / t_bf16 * 1e-9);
            printf("\n");
            fflush(stdout);
            if (jf)
                fprintf(jf, "%s{\"shape\": \"%s\", \"M\": %d, \"N\": %d, \"K\": %d, \"ours_gflops\": %.2f, \"blas_gflops\": %.2f}",
                        first ? "" : ", ", shapes[s].name, M, N, K, flops / t_ours * 1e-9, flops / t_blas * 1e-9);
            first = 0;
            free(x), free(y);
        }
        enc_linear_weights_free(pw);
        enc_linear_weights_free(pwb);
        free(W), free(b);
    }
    if (jf) fprintf(jf, "], \"attention\": [");

    static const int batches[] = {1, 8, 32}, lens[] = {32, 128};
    const int H = small ? 4 : 12, D = 64, C = H * D;
    printf("%-24s %6s %10s %10s %7s\n", small ? "attention 4x64" : "attention 12x64", "BxL", "ours GF/s", "blas GF/s",
           "ratio");
    first = 1;
    for (size_t bi = 0; bi < 3; bi++)
        for (size_t li = 0; li < 2; li++) {
            const int B = batches[bi], L = lens[li], T = B * L;
            int *off = malloc(sizeof(int) * (B + 1));
            for (int i = 0; i <= B; i++) off[i] = i * L;
            float *qkv = rand_vec((size_t)T * 3 * C), *out = malloc(sizeof(float) * T * C);
            float *scratch = malloc(sizeof(float) * enc_attention_scratch_floats(L, H, D));
            att_case c = {qkv, out, scratch, off, B, H, D};
            double flops = 4.0 * B * H * (double)L * L * D;
            double t_ours = time_best(run_att_ours, &c, min_s, 3);
            double t_blas = time_best(run_att_blas, &c, min_s, 3);
            char name[32];
            snprintf(name, sizeof name, "%dx%d", B, L);
            printf("%-24s %6s %10.1f %10.1f %6.2fx\n", "", name, flops / t_ours * 1e-9, flops / t_blas * 1e-9,
                   t_blas / t_ours);
            fflush(stdout);
            if (jf)
                fprintf(jf, "%s{\"batch\": %d, \"len\": %d, \"ours_gflops\": %.2f, \"blas_gflops\": %.2f}",
                        first ? "" : ", ", B, L, flops / t_ours * 1e-9, flops / t_blas * 1e-9);
            first = 0;
            free(off), free(qkv), free(out), free(scratch);
        }
    if (jf) {
        fprintf(jf, "]}\n");
        fclose(jf);
    }
    return 0;
}
