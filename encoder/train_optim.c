/* train_optim.c - AdamW (as torch.optim.AdamW), clipping by global norm
 * (as torch.nn.utils.clip_grad_norm_) and HF's linear warm-up schedule. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "train_internal.h"

/* Elementwise work runs on the kernels' pool in fixed chunks, so that the
 * results (the norm's partial sums included) do not depend on the number of
 * threads. */
#define CHUNK ((size_t)1 << 18)

struct pe_adamw {
    pe_train *tr;     /* borrowed */
    pe_adamw_options o;
    float *m, *v;     /* (n) first and second moments, layout of tr->params */
    unsigned char *decay; /* (n) 1 where weight decay applies */
    long step;
};

pe_adamw_options pe_adamw_options_default(void)
{
    pe_adamw_options o = {.beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.01f};
    return o;
}

pe_status pe_adamw_new(pe_train *tr, const pe_adamw_options *opts, pe_adamw **out, pe_error *err)
{
    if (!out) return pe_error_set(err, PE_ERR_INVALID, "adamw: NULL output");
    *out = NULL;
    if (!tr) return pe_error_set(err, PE_ERR_INVALID, "adamw: NULL model");
    pe_adamw_options o = opts ? *opts : pe_adamw_options_default();
    if (!(o.beta1 >= 0.0f && o.beta1 < 1.0f) || !(o.beta2 >= 0.0f && o.beta2 < 1.0f) || !(o.eps >= 0.0f) ||
        !(o.weight_decay >= 0.0f) || !isfinite(o.eps) || !isfinite(o.weight_decay))
        return pe_error_set(err, PE_ERR_INVALID, "adamw: bad options (beta1 %g, beta2 %g, eps %g, weight_decay %g)",
                            (double)o.beta1, (double)o.beta2, (double)o.eps, (double)o.weight_decay);
    pe_adamw *a = calloc(1, sizeof *a);
    if (a) {
        a->m = calloc(tr->n, sizeof *a->m);
        a->v = calloc(tr->n, sizeof *a->v);
        a->decay = calloc(tr->n, 1);
    }
    if (!a || !a->m || !a->v || !a->decay) {
        pe_adamw_free(a);
        return pe_error_set(err, PE_ERR_NOMEM, "adamw: out of memory for %zu parameters", tr->n);
    }
    for (int i = 0; i < tr->n_tab; i++)
        if (tr->tab[i].decay) memset(a->decay + (tr->tab[i].data - tr->params), 1, (size_t)tr->tab[i].numel);
    a->tr = tr;
    a->o = o;
    *out = a;
    return PE_OK;
}

void pe_adamw_free(pe_adamw *a)
{
    if (!a) return;
    free(a->m);
    free(a->v);
    free(a->decay);
    free(a);
}

long pe_adamw_steps(const pe_adamw *a)
{
    return a->step;
}

typedef struct adamw_job {
    pe_adamw *a;
    float b1, b2, eps, step_size, bc2_sqrt, shrink;
} adamw_job;

static void adamw_task(void *ctx, int task, int tid)
{
    (void)tid;
    const adamw_job *j = ctx;
    pe_adamw *a = j->a;
    const pe_train *tr = a->tr;
    const size_t i0 = (size_t)task * CHUNK, i1 = i0 + CHUNK < tr->n ? i0 + CHUNK : tr->n;
    float *p = tr->params, *m = a->m, *v = a->v;
    const float *g = tr->grads;
    const unsigned char *decay = a->decay;
    const float b1 = j->b1, b2 = j->b2, eps = j->eps, step_size = j->step_size, bc2_sqrt = j->bc2_sqrt;
    for (size_t i = i0; i < i1; i++) {
        if (decay[i]) p[i] *= j->shrink;
        m[i] = m[i] * b1 + (1.0f - b1) * g[i];
        v[i] = v[i] * b2 + (1.0f - b2) * g[i] * g[i];
        const float denom = sqrtf(v[i]) / bc2_sqrt + eps;
        p[i] -= step_size * m[i] / denom;
    }
}

static int n_chunks(size_t n)
{
    return (int)((n + CHUNK - 1) / CHUNK);
}

pe_status pe_adamw_step(pe_adamw *a, float lr)
{
    pe_train *tr = a->tr;
    pe_error_clear(&tr->err);
    if (!(lr >= 0.0f) || !isfinite(lr))
        return pe_error_set(&tr->err, PE_ERR_INVALID, "adamw: learning rate %g", (double)lr);
    a->step++;
    /* torch computes the corrections as Python floats (double) */
    const double bc1 = 1.0 - pow((double)a->o.beta1, (double)a->step),
                 bc2 = 1.0 - pow((double)a->o.beta2, (double)a->step);
    adamw_job j = {.a = a,
                   .b1 = a->o.beta1,
                   .b2 = a->o.beta2,
                   .eps = a->o.eps,
                   .step_size = (float)((double)lr / bc1),
                   .bc2_sqrt = (float)sqrt(bc2),
                   .shrink = 1.0f - lr * a->o.weight_decay};
    pe_kernels_parallel(n_chunks(tr->n), adamw_task, &j);
    return PE_OK;
}

typedef struct norm_job {
    const float *g;
    size_t n;
    double *part; /* (chunks) */
    float scale;
} norm_job;

static void sumsq_task(void *ctx, int task, int tid)
{
    (void)tid;
    norm_job *j = ctx;
    const size_t i0 = (size_t)task * CHUNK, i1 = i0 + CHUNK < j->n ? i0 + CHUNK : j->n;
    double s = 0.0;
    for (size_t i = i0; i < i1; i++) s += (double)j->g[i] * j->g[i];
    j->part[task] = s;
}

static void scale_task(void *ctx, int task, int tid)
{
    (void)tid;
    norm_job *j = ctx;
    const size_t i0 = (size_t)task * CHUNK, i1 = i0 + CHUNK < j->n ? i0 + CHUNK : j->n;
    float *g = (float *)j->g;
    for (size_t i = i0; i < i1; i++) g[i] *= j->scale;
}

pe_status pe_train_clip_grad_norm(pe_train *tr, float max_norm, double *norm)
{
    pe_error_clear(&tr->err);
    const int nc = n_chunks(tr->n);
    norm_job j = {.g = tr->grads, .n = tr->n, .part = malloc(((size_t)nc + 1) * sizeof *j.part)};
    if (!j.part) return pe_error_set(&tr->err, PE_ERR_NOMEM, "clip: out of memory");
    pe_kernels_parallel(nc, sumsq_task, &j);
    double s = 0.0;
    for (int c = 0; c < nc; c++) s += j.part[c];
    free(j.part);
    const double total = sqrt(s);
    if (norm) *norm = total;
    if (!isfinite(total))
        return pe_error_set(&tr->err, PE_ERR_INVALID, "clip: the gradient norm is not finite (%g)", total);
    if (max_norm > 0.0f) {
        double coef = (double)max_norm / (total + 1e-6);
        if (coef < 1.0) {
            j.scale = (float)coef;
            pe_kernels_parallel(nc, scale_task, &j);
        }
    }
    return PE_OK;
}

float pe_lr_linear_warmup(float base, long step, long warmup, long total)
{
    if (step < warmup) return base * (float)((double)step / (double)(warmup > 1 ? warmup : 1));
    double f = (double)(total - step) / (double)(total - warmup > 1 ? total - warmup : 1);
    return f > 0.0 ? base * (float)f : 0.0f;
}
