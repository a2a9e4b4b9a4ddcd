/* kernels.h - internal: the CPU fast paths behind linear.h and attention.h,
 * their run-time dispatch, and the small thread pool they run on.
 *
 * Dispatch: at first use the CPU is probed (cpuid via
 * __builtin_cpu_supports); AVX-512 (F, BW, VL, DQ) selects our own
 * micro-kernels (encoder/kernels_avx512.c; kernels_avx512bf16.c for the
 * opt-in bf16 products, kernels_avx512_train.c for the training ops: the
 * files compiled for AVX-512), AVX2+FMA our AVX2 linear, attention and
 * LayerNorm (kernels_avx2.c), anything else OpenBLAS, which is also the
 * reference every fast path is tested against. PE_LINEAR_FORCE_BLAS=1 in
 * the environment forces OpenBLAS; enc_kernels_select() switches at run time
 * (tests, benchmarks).
 *
 * Threads: one process-wide pool of enc_kernels_threads() threads (the
 * caller counts as thread 0; default: the online CPUs). Workers spin for a
 * short while after a job and then sleep on a condition variable, so they
 * do not compete with OpenBLAS's own threads on the reference path. Jobs
 * submitted while the pool is busy (another thread's job, or a task that
 * submits a job itself) run serially in the caller instead of waiting.
 */
#ifndef PE_ENCODER_KERNELS_H
#define PE_ENCODER_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* The AVX-512 files compile to nothing elsewhere; callers guard with this. */
#if defined(__x86_64__) || defined(__i386__)
#define PE_KERNELS_X86 1
#else
#define PE_KERNELS_X86 0
#endif

typedef enum pe_kernels_isa {
    PE_KERNELS_BLAS = 0,   /* OpenBLAS sgemm + scalar epilogues (portable, reference) */
    PE_KERNELS_AVX512 = 1, /* our AVX-512F/BW/VL/DQ micro-kernels: linear, attention, LayerNorm */
    PE_KERNELS_AVX2 = 2    /* our AVX2+FMA micro-kernels: linear, attention, LayerNorm */
} pe_kernels_isa;

/* Best path this CPU supports (ignores PE_LINEAR_FORCE_BLAS). */
pe_kernels_isa enc_kernels_detect(void);
/* Path in use: detect(), or BLAS when PE_LINEAR_FORCE_BLAS=1, or what
 * enc_kernels_select() chose. */
pe_kernels_isa enc_kernels_active(void);
/* Use isa from now on (any the CPU supports: AVX2 on an AVX-512 CPU too,
 * for tests). Returns 0, or -1 (and changes nothing) when the CPU lacks it.
 * Weights prepared under another isa stay valid (see linear.h). */
int enc_kernels_select(pe_kernels_isa isa);
/* 1 when the CPU can run isa. */
int enc_kernels_supported(pe_kernels_isa isa);
/* "blas", "avx512", "avx2". */
const char *enc_kernels_isa_name(pe_kernels_isa isa);

/* 1 when the CPU has AVX-512 BF16 (vdpbf16ps) besides the AVX-512 path. */
int enc_kernels_has_bf16(void);

/* Pool size (>= 1). set_threads(n <= 0) restores the default (online
 * CPUs); at most PE_KERNELS_MAX_THREADS. Not to be called while a job runs. */
#define PE_KERNELS_MAX_THREADS 64
int enc_kernels_threads(void);
void enc_kernels_set_threads(int n);

/* Runs fn(ctx, task, tid) for task = 0 .. n_tasks-1 on the pool and
 * returns when all are done. Tasks are handed out dynamically; tid
 * (0 .. enc_kernels_threads()-1) names the pool thread running the task, or
 * is -1 when the pool was busy and the caller runs every task itself; pass
 * it to enc_kernels_scratch. */
typedef void (*pe_kernels_task_fn)(void *ctx, int task, int tid);
void enc_kernels_parallel(int n_tasks, pe_kernels_task_fn fn, void *ctx);

/* Scratch of at least n floats for the task's thread tid, 64-byte aligned,
 * owned by the pool (grows, never shrinks; pool threads' until exit, tid -1's
 * until its thread exits). Valid inside the task only; a later call with the
 * same tid may move it. NULL when allocation fails. */
float *enc_kernels_scratch(int tid, size_t n);

/* How the linear kernels (kernels_avx512.c, kernels_avx512bf16.c,
 * kernels_avx2.c) cut y (M, N) into pool tasks: by rows when M >= threads *
 * min_rows (large M; then 4 chunks a thread, handed out dynamically, once
 * M >= threads * 4 * 224, so that a thread slowed by another process does
 * not hold the others up while each chunk still streams W once for >= 224
 * rows), else by column panels of nr. Products under 4e5 flops run on one
 * thread (not worth waking another). */
typedef struct pe_kernels_plan {
    int n_tasks;    /* tasks for enc_kernels_parallel */
    int split_rows; /* 1: tasks are row ranges; 0: column-panel ranges */
    int n_panels;   /* ceil(N / nr) */
} pe_kernels_plan;
pe_kernels_plan enc_kernels_plan_linear(int M, int N, int K, int nr, int min_rows);
/* Task t's rows [*r0, *r1) and column panels [*p0, *p1) (an empty range
 * when the task has no work). */
void enc_kernels_plan_task(const pe_kernels_plan *pl, int M, int t, int *r0, int *r1, int *p0, int *p1);

/* ---- AVX-512 entry points (kernels_avx512.c); call only when
 * enc_kernels_detect() == PE_KERNELS_AVX512. ---- */

/* Column panel width of the packed weights. */
#define PE_K512_NR 32
/* Floats of the packed form of W (N, K): ceil(N / NR) panels of K x NR. */
size_t enc_k512_packed_floats(int N, int K);
/* Wp[p][k][c] = W[p*NR + c][k], zero for p*NR + c >= N. Wp 64-byte aligned. */
void enc_k512_pack_weights(const float *W, int N, int K, float *Wp);
/* y (M, N) = act(x (M, K) . W^T + b) with Wp packed as above; act as
 * pe_act. Multi-threaded on the pool. Returns 0, or -1 when per-thread
 * scratch could not be allocated (y is then undefined). */
int enc_k512_linear(const float *Wp, const float *x, const float *b, float *y, int M, int N, int K, int act);
/* Same contract as enc_attention_f32 (attention.h) except its scratch,
 * unused (the pool's per-thread scratch is used instead). Returns 0, or -1
 * when that scratch could not be allocated (out is then undefined). */
int enc_k512_attention(const float *qkv, float *out, const int *offsets, int n_seq, int H, int D);
/* In place v[i] = gelu(v[i]) (erf form, a few ulp from erff). */
void enc_k512_gelu(float *v, size_t n);
/* See enc_kernels_add_layernorm. */
void enc_k512_add_layernorm(float *x, const float *r, const float *g, const float *b, int rows, int n, float eps);

/* ---- AVX-512 training entry points (kernels_avx512_train.c); call only
 * when enc_kernels_active() == PE_KERNELS_AVX512. Single-threaded:
 * train_ops.c cuts the work into pool tasks. ---- */

/* y = gelu(u) (erf form, the inference kernels' erf512; y may alias u). */
void enc_k512_gelu_fwd(const float *u, float *y, size_t n);
/* du = dy * (Phi(u) + u phi(u)) (du may alias dy). */
void enc_k512_gelu_bwd(const float *u, const float *dy, float *du, size_t n);
/* y[i] = 0 where element base+i of the stream keyed by key is dropped (the
 * top 24 bits of splitmix64(key ^ (base+i)) below thr), else x[i] * scale;
 * y may alias x. Returns the dropped count. Bit for bit train_ops.c's
 * scalar loop. */
size_t enc_k512_dropout(const float *x, float *y, size_t n, uint64_t key, uint32_t thr, float scale, uint64_t base);
/* Cross-entropy of one row of V logits against label y: returns
 * logsumexp(z) - z[y] (NaN when a logit is not finite) and the first
 * argmax; with grad, z becomes gscale * (softmax(z) - onehot(y)). */
double enc_k512_ce_row(float *z, int V, int y, float gscale, int grad, int *argmax);
/* LayerNorm forward and backward over rows, as enc_tr_layernorm_fwd/_bwd
 * (means and variance in double lanes; dg, db accumulated). */
void enc_k512_layernorm_fwd(const float *x, const float *g, const float *b, float *y, float *xhat, float *rstd, int rows,
                            int n, float eps);
void enc_k512_layernorm_bwd(const float *dy, const float *xhat, const float *rstd, const float *g, float *dx, float *dg,
                            float *db, int rows, int n);
/* Training attention (kernels_avx512.c), as enc_tr_attention_fwd (dctx
 * NULL: ctx and probs written) or enc_tr_attention_bwd (dctx given: dqkv
 * written from dctx, probs and qkv), one pool task per (sequence, head);
 * dropout (drop 1) as enc_k512_dropout with the position in probs as the
 * element index. Returns 0, or -1 when the pool's scratch could not be
 * allocated (outputs undefined). */
int enc_k512_train_attention(const float *qkv, float *ctx, float *probs, const float *dctx, float *dqkv,
                             const int *offsets, int n_seq, int H, int D, int drop, uint64_t key, uint32_t thr,
                             float dscale);

/* ---- AVX-512 BF16 entry points (kernels_avx512bf16.c); call only when
 * enc_kernels_has_bf16(). ---- */

/* u16 elements of the packed bf16 form of W (N, K) (layout in the file). */
size_t enc_kbf16_packed_u16(int N, int K);
void enc_kbf16_pack_weights(const float *W, int N, int K, uint16_t *Wb);
/* As enc_k512_linear with bf16 products (x rounded to bf16 as it is packed);
 * -1 also for M, N or K <= 0 (left to the f32 paths). */
int enc_kbf16_linear(const uint16_t *Wb, const float *x, const float *b, float *y, int M, int N, int K, int act);

/* ---- AVX2 entry points (kernels_avx2.c); call only when
 * enc_kernels_supported(PE_KERNELS_AVX2). ---- */

#define PE_K256_NR 16
size_t enc_k256_packed_floats(int N, int K);
void enc_k256_pack_weights(const float *W, int N, int K, float *Wp); /* Wp[p][k][0..15], 32-byte aligned */
/* As enc_k512_linear; -1 also for M, N or K <= 0. */
int enc_k256_linear(const float *Wp, const float *x, const float *b, float *y, int M, int N, int K, int act);

/* GELU and its derivative on AVX2+FMA (kernels_avx2.c), as the AVX-512 pair. */
void enc_k256_gelu_fwd(const float *u, float *y, size_t n);
void enc_k256_gelu_bwd(const float *u, const float *dy, float *du, size_t n);
/* As enc_k512_attention and enc_k512_add_layernorm (kernels_avx2.c). */
int enc_k256_attention(const float *qkv, float *out, const int *offsets, int n_seq, int H, int D);
void enc_k256_add_layernorm(float *x, const float *r, const float *g, const float *b, int rows, int n, float eps);
/* As enc_k512_dropout and enc_k512_train_attention (the same mask, bit for
 * bit). */
size_t enc_k256_dropout(const float *x, float *y, size_t n, uint64_t key, uint32_t thr, float scale, uint64_t base);
double enc_k256_ce_row(float *z, int V, int y, float gscale, int grad, int *argmax); /* as enc_k512_ce_row */
/* As enc_k512_layernorm_fwd and enc_k512_layernorm_bwd. */
void enc_k256_layernorm_fwd(const float *x, const float *g, const float *b, float *y, float *xhat, float *rstd, int rows,
                            int n, float eps);
void enc_k256_layernorm_bwd(const float *dy, const float *xhat, const float *rstd, const float *g, float *dx, float *dg,
                            float *db, int rows, int n);
int enc_k256_train_attention(const float *qkv, float *ctx, float *probs, const float *dctx, float *dqkv,
                             const int *offsets, int n_seq, int H, int D, int drop, uint64_t key, uint32_t thr,
                             float dscale);

/* ---- dispatched element-wise ops (kernels_ops.c) ---- */

/* In place over rows of n: x = LN(x + r) = (y - mean) / sqrt(var + eps) * g
 * + b with y = x + r (r NULL: y = x), biased variance, as PyTorch's
 * LayerNorm. Multi-threaded on the pool. x (rows, n), r (rows, n) or NULL,
 * g (n), b (n). */
void enc_kernels_add_layernorm(float *x, const float *r, const float *g, const float *b, int rows, int n, float eps);

/* LayerNorm of one row of n values, the reference the inference path
 * (model_forward.c, and the kernels' fast paths are checked against it) and
 * the training forward (train_ops.c) share: mean and variance in double,
 * y = (x - mean) * rstd * g + b. y may be x. When xhat is not NULL it gets
 * the normalised row (x - mean) * rstd; returns rstd = 1/sqrt(var + eps),
 * both what the backward pass needs. */
static inline float enc_layernorm_row(const float *x, const float *g, const float *b, float *y, float *xhat, int n,
                                     float eps)
{
    double s = 0.0, q = 0.0;
    for (int j = 0; j < n; j++) s += x[j];
    const double mean = s / n;
    for (int j = 0; j < n; j++) {
        double d = x[j] - mean;
        q += d * d;
    }
    const float inv = (float)(1.0 / __builtin_sqrt(q / n + (double)eps)), m = (float)mean;
    for (int j = 0; j < n; j++) {
        float h = (x[j] - m) * inv;
        if (xhat) xhat[j] = h;
        y[j] = h * g[j] + b[j];
    }
    return inv;
}

#endif
