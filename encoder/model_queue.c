/* model_queue.c - pe_encoder_queue: batches of texts encoded ahead on
 * worker threads, each on its own shared handle (pe_encoder_share) running
 * the products on one thread, results handed back in submission order. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"

typedef struct queue_job {
    const char **texts; /* (n) borrowed strings, own array */
    size_t *lens;       /* (n) */
    int n;
    int done;           /* 1 once encoded (workers) */
    pe_status st;
    pe_error err;
    pe_encoder_result *res;
} queue_job;

struct pe_encoder_queue {
    pe_encoder *enc; /* the caller's: encodes at pop time when there are no workers */
    pe_encoder_encode_options opt;
    int depth;       /* batches in flight at most */
    queue_job *jobs; /* (depth) ring: job i at jobs[i % depth] */
    unsigned long head, claim, tail; /* next to pop, next to encode, next to push */
    int n_workers, stop;
    pe_encoder **handles; /* (n_workers) shared handles */
    pthread_t *threads;   /* (n_workers) */
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    pe_error err;
};

static void job_clear(queue_job *j)
{
    pe_encoder_result_free(j->res);
    free(j->texts);
    free(j->lens);
    memset(j, 0, sizeof *j);
}

static void job_encode(pe_encoder *h, const pe_encoder_encode_options *o, queue_job *j)
{
    j->st = pe_encoder_encode_texts(h, j->texts, j->lens, j->n, o, &j->res);
    if (j->st != PE_OK) pe_error_set(&j->err, j->st, "%s", pe_encoder_errmsg(h));
}

typedef struct worker_arg {
    pe_encoder_queue *q;
    int i;
} worker_arg;

static void *queue_worker(void *arg)
{
    pe_encoder_queue *q = ((worker_arg *)arg)->q;
    pe_encoder *h = q->handles[((worker_arg *)arg)->i];
    free(arg);
    pthread_mutex_lock(&q->mu);
    for (;;) {
        while (!q->stop && q->claim == q->tail) pthread_cond_wait(&q->work, &q->mu);
        if (q->stop) break;
        queue_job *j = &q->jobs[q->claim++ % (unsigned long)q->depth];
        pthread_mutex_unlock(&q->mu);
        job_encode(h, &q->opt, j);
        pthread_mutex_lock(&q->mu);
        j->done = 1;
        pthread_cond_broadcast(&q->done);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

pe_status pe_encoder_queue_new(pe_encoder *enc, int workers, int depth, const pe_encoder_encode_options *opts,
                               pe_encoder_queue **out)
{
    *out = NULL;
    pe_error_clear(&enc->err);
    if (workers < 0 || workers > 256 || depth < 1 || depth > 4096)
        return pe_error_set(&enc->err, PE_ERR_INVALID, "queue: workers %d (0..256) or depth %d (1..4096) out of range",
                            workers, depth);
    pe_encoder_queue *q = calloc(1, sizeof *q);
    if (!q) return pe_error_set(&enc->err, PE_ERR_NOMEM, "out of memory");
    q->enc = enc;
    q->opt = opts ? *opts : pe_encoder_encode_options_default();
    q->depth = depth;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->work, NULL);
    pthread_cond_init(&q->done, NULL);
    q->jobs = calloc((size_t)depth, sizeof *q->jobs);
    q->handles = workers ? calloc((size_t)workers, sizeof *q->handles) : NULL;
    q->threads = workers ? calloc((size_t)workers, sizeof *q->threads) : NULL;
    if (!q->jobs || (workers && (!q->handles || !q->threads))) {
        pe_encoder_queue_free(q);
        return pe_error_set(&enc->err, PE_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < workers; i++) {
        /* a model that cannot be shared (CUDA): fewer workers, maybe none */
        if (pe_encoder_share(enc, &q->handles[i]) != PE_OK) break;
        worker_arg *a = malloc(sizeof *a);
        if (!a || (a->q = q, a->i = i, pthread_create(&q->threads[i], NULL, queue_worker, a) != 0)) {
            free(a);
            pe_encoder_free(q->handles[i]);
            q->handles[i] = NULL;
            break;
        }
        q->n_workers++;
    }
    pe_error_clear(&enc->err);
    *out = q;
    return PE_OK;
}

int pe_encoder_queue_workers(const pe_encoder_queue *q) { return q ? q->n_workers : 0; }

int pe_encoder_queue_pending(const pe_encoder_queue *q) { return q ? (int)(q->tail - q->head) : 0; }

pe_status pe_encoder_queue_push(pe_encoder_queue *q, const char *const *texts, const size_t *lens, int n)
{
    pe_error_clear(&q->err);
    if (n < 0 || (n > 0 && !texts)) return pe_error_set(&q->err, PE_ERR_INVALID, "queue: bad text list");
    if (q->tail - q->head == (unsigned long)q->depth)
        return pe_error_set(&q->err, PE_ERR_FULL, "queue: %d batches in flight already (pop one first)", q->depth);
    queue_job j = {.n = n};
    j.texts = malloc((n ? (size_t)n : 1) * sizeof *j.texts);
    j.lens = malloc((n ? (size_t)n : 1) * sizeof *j.lens);
    if (!j.texts || !j.lens) {
        free(j.texts);
        free(j.lens);
        return pe_error_set(&q->err, PE_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < n; i++) {
        j.texts[i] = texts[i];
        j.lens[i] = lens ? lens[i] : strlen(texts[i]);
    }
    pthread_mutex_lock(&q->mu);
    q->jobs[q->tail++ % (unsigned long)q->depth] = j;
    pthread_cond_signal(&q->work);
    pthread_mutex_unlock(&q->mu);
    return PE_OK;
}

pe_status pe_encoder_queue_pop(pe_encoder_queue *q, pe_encoder_result **out)
{
    *out = NULL;
    pe_error_clear(&q->err);
    if (q->head == q->tail) return pe_error_set(&q->err, PE_ERR_INVALID, "queue: nothing pushed");
    queue_job *j = &q->jobs[q->head % (unsigned long)q->depth];
    if (q->n_workers == 0) {
        job_encode(q->enc, &q->opt, j);
    } else {
        pthread_mutex_lock(&q->mu);
        while (!j->done) pthread_cond_wait(&q->done, &q->mu);
        pthread_mutex_unlock(&q->mu);
    }
    pe_status st = j->st;
    if (st == PE_OK) {
        *out = j->res;
        j->res = NULL;
    } else {
        q->err = j->err;
    }
    job_clear(j);
    q->head++;
    if (q->n_workers == 0) q->claim = q->head;
    return st;
}

const char *pe_encoder_queue_errmsg(const pe_encoder_queue *q) { return q ? q->err.msg : "no queue"; }

void pe_encoder_queue_free(pe_encoder_queue *q)
{
    if (!q) return;
    if (q->n_workers) {
        pthread_mutex_lock(&q->mu);
        q->stop = 1;
        pthread_cond_broadcast(&q->work);
        pthread_mutex_unlock(&q->mu);
        for (int i = 0; i < q->n_workers; i++) pthread_join(q->threads[i], NULL);
    }
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->work);
    pthread_cond_destroy(&q->done);
    if (q->jobs)
        for (int i = 0; i < q->depth; i++) job_clear(&q->jobs[i]);
    for (int i = 0; i < q->n_workers; i++) pe_encoder_free(q->handles[i]);
    free(q->handles);
    free(q->threads);
    free(q->jobs);
    free(q);
}
