/* sgns.c - skip-gram with negative sampling (Mikolov et al. 2013, the
 * word2vec tool's training) over the token sequences of a shard: word
 * vectors that start an encoder's word embeddings with what co-occurrence
 * says about each token, in minutes where MLM pretraining takes days on
 * two cores. Hogwild threads over sequence ranges, as word2vec does. */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "pe_trainer.h"
#include "train_internal.h"

pe_sgns_options pe_sgns_options_default(void)
{
    pe_sgns_options o = {.window = 5,
                         .negatives = 5,
                         .epochs = 1,
                         .lr = 0.025f,
                         .subsample = 1e-4,
                         .min_count = 5,
                         .n_skip = 0,
                         .threads = 1,
                         .seed = 1,
                         .progress = NULL,
                         .progress_user = NULL};
    return o;
}

static float unit_rand(uint64_t *s)
{
    return (float)((enc_tr_splitmix64(s) >> 40) * (1.0 / 16777216.0));
}

#define SGNS_TABLE (1 << 22)

typedef struct sgns_run {
    const pe_token_shard *shard;
    const pe_sgns_options *o;
    int V, D;
    float *in, *out;        /* (V, D) input vectors (the result), output vectors */
    const int32_t *table;   /* negatives drawn from counts^0.75 */
    const float *keep;      /* (V) probability of keeping a token (subsampling; 0: never used) */
    uint64_t total;         /* tokens to visit over all epochs */
    /* progress, shared */
    _Atomic uint64_t done;
    atomic_int stop;
} sgns_run;

typedef struct sgns_part {
    sgns_run *r;
    size_t from, to;        /* sequences */
    uint64_t seed;
} sgns_part;

static inline float sigmoid(float x)
{
    if (x > 8.0f) return 1.0f;
    if (x < -8.0f) return 0.0f;
    return 1.0f / (1.0f + expf(-x));
}

/* One (input, output) pair and its negatives: word2vec's update. */
static void pair_update(sgns_run *r, int input, int target, float lr, float *grad, uint64_t *rs)
{
    const int D = r->D;
    float *l1 = r->in + (size_t)input * D;
    memset(grad, 0, (size_t)D * sizeof *grad);
    for (int d = 0; d <= r->o->negatives; d++) {
        int t, label;
        if (d == 0) {
            t = target;
            label = 1;
        } else {
            t = r->table[enc_tr_splitmix64(rs) % SGNS_TABLE];
            if (t == target) continue;
            label = 0;
        }
        float *l2 = r->out + (size_t)t * D;
        float f = 0.0f;
        for (int k = 0; k < D; k++) f += l1[k] * l2[k];
        const float g = ((float)label - sigmoid(f)) * lr;
        for (int k = 0; k < D; k++) grad[k] += g * l2[k];
        for (int k = 0; k < D; k++) l2[k] += g * l1[k];
    }
    for (int k = 0; k < D; k++) l1[k] += grad[k];
}

static void *sgns_thread(void *arg)
{
    sgns_part *p = arg;
    sgns_run *r = p->r;
    const pe_sgns_options *o = r->o;
    uint64_t rs = p->seed;
    float *grad = malloc((size_t)r->D * sizeof *grad);
    int32_t *kept = NULL;
    int cap = 0;
    uint64_t local = 0;
    if (!grad) return NULL;
    for (int ep = 0; ep < o->epochs && !r->stop; ep++) {
        for (size_t i = p->from; i < p->to && !r->stop; i++) {
            int len = 0;
            const uint16_t *seq = pe_token_shard_seq(r->shard, i, &len);
            if (len > cap) {
                int32_t *t = realloc(kept, (size_t)len * sizeof *t);
                if (!t) break;
                kept = t;
                cap = len;
            }
            int n = 0;
            for (int j = 0; j < len; j++) {
                const int id = seq[j];
                if (id < o->n_skip || r->keep[id] <= 0.0f) continue;
                if (r->keep[id] < 1.0f && unit_rand(&rs) > r->keep[id]) continue;
                kept[n++] = id;
            }
            /* the learning rate falls linearly over the whole run */
            const uint64_t done = atomic_fetch_add(&r->done, (uint64_t)len) + (uint64_t)len;
            float lr = o->lr * (1.0f - (float)((double)done / (double)(r->total + 1)));
            if (lr < o->lr * 1e-4f) lr = o->lr * 1e-4f;
            for (int c = 0; c < n; c++) {
                const int b = 1 + (int)(enc_tr_splitmix64(&rs) % (uint64_t)o->window);
                for (int j = c - b; j <= c + b; j++) {
                    if (j == c || j < 0 || j >= n) continue;
                    pair_update(r, kept[j], kept[c], lr, grad, &rs);
                }
            }
            local += (uint64_t)len;
            if (o->progress && p->from == 0 && local >= 1u << 20) {
                local = 0;
                if (o->progress(done, r->total, o->progress_user) != 0) r->stop = 1;
            }
        }
    }
    free(kept);
    free(grad);
    return NULL;
}

pe_status pe_sgns_train(const pe_token_shard *shard, int dim, const pe_sgns_options *opts, float *vectors,
                        pe_error *err)
{
    pe_sgns_options o = opts ? *opts : pe_sgns_options_default();
    if (!shard || !vectors || dim < 1 || dim > 65536 || o.window < 1 || o.negatives < 1 || o.epochs < 1 ||
        !(o.lr > 0.0f) || o.subsample < 0.0 || o.threads < 1 || o.threads > 256 || o.n_skip < 0)
        return pe_error_set(err, PE_ERR_INVALID, "sgns: an option is out of range");
    const int V = (int)pe_token_shard_vocab_size(shard), D = dim;
    const size_t n_seq = pe_token_shard_count(shard);
    uint64_t *count = calloc((size_t)V, sizeof *count);
    float *keep = calloc((size_t)V, sizeof *keep), *outv = calloc((size_t)V * D, sizeof *outv);
    int32_t *table = malloc(SGNS_TABLE * sizeof *table);
    pe_status st = PE_OK;
    if (!count || !keep || !outv || !table) {
        st = pe_error_set(err, PE_ERR_NOMEM, "sgns: out of memory");
        goto done;
    }
    uint64_t total = 0, used = 0;
    for (size_t i = 0; i < n_seq; i++) {
        int len = 0;
        const uint16_t *seq = pe_token_shard_seq(shard, i, &len);
        for (int j = 0; j < len; j++) count[seq[j]]++;
        total += (uint64_t)len;
    }
    double norm = 0.0;
    for (int v = o.n_skip; v < V; v++)
        if (count[v] >= (uint64_t)o.min_count) {
            used += count[v];
            norm += pow((double)count[v], 0.75);
        }
    if (used == 0 || norm <= 0.0) {
        st = pe_error_set(err, PE_ERR_INVALID, "sgns: no token occurs %d times or more", o.min_count);
        goto done;
    }
    for (int v = o.n_skip; v < V; v++) {
        if (count[v] < (uint64_t)o.min_count) continue;
        const double f = (double)count[v] / (double)used;
        double k = o.subsample > 0.0 ? (sqrt(f / o.subsample) + 1.0) * o.subsample / f : 1.0;
        keep[v] = (float)(k > 1.0 ? 1.0 : k);
    }
    {
        int v = o.n_skip;
        while (v < V && count[v] < (uint64_t)o.min_count) v++;
        double acc = pow((double)count[v], 0.75) / norm;
        for (int i = 0; i < SGNS_TABLE; i++) {
            table[i] = v;
            if ((double)(i + 1) / SGNS_TABLE > acc && v < V - 1) {
                int nv = v + 1;
                while (nv < V - 1 && count[nv] < (uint64_t)o.min_count) nv++;
                if (count[nv] >= (uint64_t)o.min_count) {
                    v = nv;
                    acc += pow((double)count[v], 0.75) / norm;
                }
            }
        }
    }
    /* word2vec's start: inputs uniform in [-0.5, 0.5) / D, outputs zero */
    uint64_t rs = o.seed;
    for (size_t i = 0; i < (size_t)V * D; i++) vectors[i] = (unit_rand(&rs) - 0.5f) / (float)D;
    sgns_run r = {.shard = shard, .o = &o, .V = V, .D = D, .in = vectors, .out = outv, .table = table, .keep = keep,
                  .total = total * (uint64_t)o.epochs};
    const int T = o.threads;
    pthread_t th[256];
    sgns_part parts[256];
    unsigned char started[256] = {0};
    for (int t = 0; t < T; t++) {
        parts[t] = (sgns_part){&r, n_seq * (size_t)t / (size_t)T, n_seq * (size_t)(t + 1) / (size_t)T,
                               o.seed * 1000003u + (uint64_t)t + 1};
        if (t < T - 1 && pthread_create(&th[t], NULL, sgns_thread, &parts[t]) == 0) started[t] = 1;
        else sgns_thread(&parts[t]); /* the last part (or one no thread could take) runs here */
    }
    for (int t = 0; t < T - 1; t++)
        if (started[t]) pthread_join(th[t], NULL);
    if (r.stop) st = pe_error_set(err, PE_ERR_INVALID, "sgns: stopped by its progress callback");
    for (size_t i = 0; st == PE_OK && i < (size_t)V * D; i++)
        if (!isfinite(vectors[i])) st = pe_error_set(err, PE_ERR_INVALID, "sgns: a vector is not finite");
done:
    free(count);
    free(keep);
    free(outv);
    free(table);
    return st;
}
