/* kernels_runtime.c - CPU dispatch and the thread pool of kernels.h. */
#include "kernels.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- dispatch ---- */

static pthread_once_t isa_once = PTHREAD_ONCE_INIT;
static pe_kernels_isa isa_best = PE_KERNELS_BLAS;
static int has_bf16, has_avx2;
static _Atomic int isa_cur = PE_KERNELS_BLAS;

static void isa_init(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("fma"))
        isa_best = PE_KERNELS_AVX512;
    has_bf16 = isa_best == PE_KERNELS_AVX512 && __builtin_cpu_supports("avx512bf16");
    has_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (isa_best == PE_KERNELS_BLAS && has_avx2) isa_best = PE_KERNELS_AVX2;
#endif
    const char *force = getenv("PE_LINEAR_FORCE_BLAS");
    int forced = force && *force && strcmp(force, "0") != 0;
    atomic_store(&isa_cur, forced ? PE_KERNELS_BLAS : isa_best);
}

pe_kernels_isa enc_kernels_detect(void)
{
    pthread_once(&isa_once, isa_init);
    return isa_best;
}

int enc_kernels_has_bf16(void)
{
    pthread_once(&isa_once, isa_init);
    return has_bf16;
}

pe_kernels_isa enc_kernels_active(void)
{
    pthread_once(&isa_once, isa_init);
    return (pe_kernels_isa)atomic_load_explicit(&isa_cur, memory_order_relaxed);
}

int enc_kernels_supported(pe_kernels_isa isa)
{
    pthread_once(&isa_once, isa_init);
    switch (isa) {
    case PE_KERNELS_BLAS: return 1;
    case PE_KERNELS_AVX512: return isa_best == PE_KERNELS_AVX512;
    case PE_KERNELS_AVX2: return has_avx2;
    }
    return 0;
}

int enc_kernels_select(pe_kernels_isa isa)
{
    if (!enc_kernels_supported(isa)) return -1;
    atomic_store(&isa_cur, isa);
    return 0;
}

const char *enc_kernels_isa_name(pe_kernels_isa isa)
{
    switch (isa) {
    case PE_KERNELS_AVX512: return "avx512";
    case PE_KERNELS_AVX2: return "avx2";
    case PE_KERNELS_BLAS: return "blas";
    }
    return "unknown";
}

/* ---- thread pool ----
 * One job at a time (submit_mu). A job is published by bumping gen and
 * setting open_gen = gen; workers spin on gen for SPIN_NS, then sleep on
 * cv. Tasks are claimed from next by whoever comes first, the caller
 * included, so a worker that is slow to wake (asleep, or preempted by
 * another process) holds nobody up: the caller only waits for tasks that
 * were claimed (done == n_tasks), then closes the job (open_gen = 0) and
 * waits for the workers that entered it to leave (active == 0). A worker
 * enters by incrementing active and then checking open_gen against the
 * generation it woke for; a stale one leaves without touching the job. */

#define SPIN_NS 200000L /* how long an idle thread keeps polling before it sleeps */

static struct {
    pthread_mutex_t submit_mu; /* held for the duration of a job */
    pthread_mutex_t mu;        /* guards sleeping on cv / done_cv */
    pthread_cond_t cv, done_cv;
    _Atomic unsigned gen;      /* job generation */
    _Atomic unsigned open_gen; /* gen of the job workers may enter, 0 when none */
    _Atomic int next;          /* next task index */
    _Atomic int done;          /* tasks finished */
    _Atomic int active;        /* workers inside the current job */
    _Atomic int caller_sleeps; /* the caller waits on done_cv */
    int n_tasks, job_workers;  /* current job: tasks, highest worker tid taking part */
    pe_kernels_task_fn fn;
    void *ctx;
    int started;               /* worker threads created (tids 1 .. started) */
    unsigned gen0;             /* gen when the newest worker was created */
    int want;                  /* configured threads, 0 = default */
    struct { float *p; size_t n; char pad[48]; } scratch[PE_KERNELS_MAX_THREADS];
} pool = {
    .submit_mu = PTHREAD_MUTEX_INITIALIZER,
    .mu = PTHREAD_MUTEX_INITIALIZER,
    .cv = PTHREAD_COND_INITIALIZER,
    .done_cv = PTHREAD_COND_INITIALIZER,
};

static long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000L + t.tv_nsec;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static int default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1) n = 1;
    if (n > PE_KERNELS_MAX_THREADS) n = PE_KERNELS_MAX_THREADS;
    return (int)n;
}

int enc_kernels_threads(void)
{
    int w = __atomic_load_n(&pool.want, __ATOMIC_RELAXED);
    return w > 0 ? w : default_threads();
}

void enc_kernels_set_threads(int n)
{
    if (n > PE_KERNELS_MAX_THREADS) n = PE_KERNELS_MAX_THREADS;
    __atomic_store_n(&pool.want, n > 0 ? n : 0, __ATOMIC_RELAXED);
}

/* Claims and runs tasks until none is left; returns how many it ran. */
static int run_tasks(int tid)
{
    int i, ran = 0;
    while ((i = atomic_fetch_add(&pool.next, 1)) < pool.n_tasks) {
        pool.fn(pool.ctx, i, tid);
        ran++;
        if (atomic_fetch_add(&pool.done, 1) + 1 == pool.n_tasks && atomic_load(&pool.caller_sleeps)) {
            pthread_mutex_lock(&pool.mu);
            pthread_cond_signal(&pool.done_cv);
            pthread_mutex_unlock(&pool.mu);
        }
    }
    return ran;
}

static void *worker(void *arg)
{
    int tid = (int)(intptr_t)arg;
    unsigned seen = pool.gen0; /* the generation before the job this worker was started for */
    for (;;) {
        unsigned g;
        long t0 = now_ns();
        int spins = 0;
        while ((g = atomic_load(&pool.gen)) == seen) {
            cpu_relax();
            if (++spins % 256 == 0 && now_ns() - t0 > SPIN_NS) {
                pthread_mutex_lock(&pool.mu);
                while ((g = atomic_load(&pool.gen)) == seen) pthread_cond_wait(&pool.cv, &pool.mu);
                pthread_mutex_unlock(&pool.mu);
                break;
            }
        }
        seen = g;
        atomic_fetch_add(&pool.active, 1);
        if (atomic_load(&pool.open_gen) == g && tid <= pool.job_workers) run_tasks(tid);
        atomic_fetch_sub(&pool.active, 1);
    }
    return NULL;
}

void enc_kernels_parallel(int n_tasks, pe_kernels_task_fn fn, void *ctx)
{
    if (n_tasks <= 0) return;
    int nt = enc_kernels_threads();
    if (nt > n_tasks) nt = n_tasks;
    if (pthread_mutex_trylock(&pool.submit_mu) != 0) {
        /* pool busy (another thread's job, or nested): serially, private scratch */
        for (int i = 0; i < n_tasks; i++) fn(ctx, i, -1);
        return;
    }
    if (nt <= 1) {
        for (int i = 0; i < n_tasks; i++) fn(ctx, i, 0);
        pthread_mutex_unlock(&pool.submit_mu);
        return;
    }
    /* Start missing workers; with none available run serially. */
    while (pool.started < nt - 1) {
        pthread_t th;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        pool.gen0 = atomic_load(&pool.gen);
        int rc = pthread_create(&th, &at, worker, (void *)(intptr_t)(pool.started + 1));
        pthread_attr_destroy(&at);
        if (rc != 0) break;
        pool.started++;
    }
    if (nt - 1 > pool.started) nt = pool.started + 1;
    pool.fn = fn;
    pool.ctx = ctx;
    pool.n_tasks = n_tasks;
    pool.job_workers = nt - 1;
    atomic_store(&pool.next, 0);
    atomic_store(&pool.done, 0);
    atomic_store(&pool.caller_sleeps, 0);
    pthread_mutex_lock(&pool.mu);
    unsigned g = atomic_fetch_add(&pool.gen, 1) + 1;
    atomic_store(&pool.open_gen, g);
    pthread_cond_broadcast(&pool.cv);
    pthread_mutex_unlock(&pool.mu);

    run_tasks(0);

    /* wait for the tasks others claimed */
    long t0 = now_ns();
    int spins = 0;
    while (atomic_load(&pool.done) != n_tasks) {
        cpu_relax();
        if (++spins % 256 == 0 && now_ns() - t0 > SPIN_NS) {
            pthread_mutex_lock(&pool.mu);
            atomic_store(&pool.caller_sleeps, 1);
            while (atomic_load(&pool.done) != n_tasks) pthread_cond_wait(&pool.done_cv, &pool.mu);
            pthread_mutex_unlock(&pool.mu);
            break;
        }
    }
    /* close the job; workers inside it have nothing left to claim */
    atomic_store(&pool.open_gen, 0);
    for (int i = 1; atomic_load(&pool.active) != 0; i++) {
        cpu_relax();
        if (i % 1024 == 0) sched_yield(); /* one may have been preempted right after entering */
    }
    pthread_mutex_unlock(&pool.submit_mu);
}

/* Scratch of threads running a job outside the pool (tid -1): thread-local,
 * freed when the thread exits. */
static __thread float *tls_p;
static __thread size_t tls_n;
static pthread_key_t tls_key;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;
static void tls_init(void) { pthread_key_create(&tls_key, free); }

float *enc_kernels_scratch(int tid, size_t n)
{
    if (tid == -1) {
        if (tls_p && tls_n >= n) return tls_p;
        pthread_once(&tls_once, tls_init);
        size_t bytes = (n * sizeof(float) + 63) & ~(size_t)63;
        float *p = aligned_alloc(64, bytes ? bytes : 64);
        if (!p) return NULL;
        free(tls_p);
        tls_p = p;
        tls_n = n;
        pthread_setspecific(tls_key, p);
        return p;
    }
    if (tid < 0 || tid >= PE_KERNELS_MAX_THREADS) return NULL;
    if (pool.scratch[tid].n >= n && pool.scratch[tid].p) return pool.scratch[tid].p;
    size_t bytes = (n * sizeof(float) + 63) & ~(size_t)63;
    float *p = aligned_alloc(64, bytes ? bytes : 64);
    if (!p) return NULL;
    free(pool.scratch[tid].p);
    pool.scratch[tid].p = p;
    pool.scratch[tid].n = n;
    return p;
}

pe_kernels_plan enc_kernels_plan_linear(int M, int N, int K, int nr, int min_rows)
{
    pe_kernels_plan pl = {.n_panels = (N + nr - 1) / nr};
    int nt = enc_kernels_threads();
    if (2.0 * M * N * K < 4e5) nt = 1;
    pl.split_rows = M >= nt * min_rows;
    if (!pl.split_rows && nt > pl.n_panels) nt = pl.n_panels;
    pl.n_tasks = pl.split_rows && M >= nt * 4 * 224 ? nt * 4 : nt;
    return pl;
}

void enc_kernels_plan_task(const pe_kernels_plan *pl, int M, int t, int *r0, int *r1, int *p0, int *p1)
{
    if (pl->split_rows) {
        *r0 = (int)((long)M * t / pl->n_tasks);
        *r1 = (int)((long)M * (t + 1) / pl->n_tasks);
        *p0 = 0;
        *p1 = pl->n_panels;
    } else {
        *r0 = 0;
        *r1 = M;
        *p0 = (int)((long)pl->n_panels * t / pl->n_tasks);
        *p1 = (int)((long)pl->n_panels * (t + 1) / pl->n_tasks);
    }
}
