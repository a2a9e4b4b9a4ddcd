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

/* A parameter set is a list of spans (one per pe_train_param); the
 * moments are one array in the order of the spans. Work is cut into tasks
 * of at most CHUNK elements that never cross a span. */
typedef struct span {
    float *data, *grad;
    size_t n, off; /* elements; offset in m / v */
    int decay;
} span;
typedef struct task {
    int s;         /* span */
    size_t i0, i1; /* range inside the span */
} task;

struct pe_adamw {
    pe_train *tr;     /* borrowed, or NULL for a parameter set */
    pe_adamw_options o;
    span *sp;
    int n_sp;
    task *tk;
    int n_tk;
    size_t n;         /* elements of all spans */
    float *m, *v;     /* (n) first and second moments */
    char **names;     /* (n_sp) parameter names (copies) */
    long step;
    pe_error err;
};

pe_adamw_options pe_adamw_options_default(void)
{
    pe_adamw_options o = {.beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.01f};
    return o;
}

static pe_status make_tasks(size_t (*len)(const void *, int), const void *ctx, int n_sp, task **out, int *n_out)
{
    size_t n_tk = 0;
    for (int s = 0; s < n_sp; s++) n_tk += (len(ctx, s) + CHUNK - 1) / CHUNK;
    if (n_tk > (size_t)1 << 30) return PE_ERR_LIMIT;
    task *tk = malloc((n_tk + 1) * sizeof *tk);
    if (!tk) return PE_ERR_NOMEM;
    size_t k = 0;
    for (int s = 0; s < n_sp; s++) {
        size_t n = len(ctx, s);
        for (size_t i = 0; i < n; i += CHUNK) tk[k++] = (task){s, i, i + CHUNK < n ? i + CHUNK : n};
    }
    *out = tk;
    *n_out = (int)k;
    return PE_OK;
}

static size_t param_len(const void *ctx, int i)
{
    return (size_t)((const pe_train_param *)ctx)[i].numel;
}

pe_status pe_adamw_new_params(const pe_train_param *params, int n_params, const pe_adamw_options *opts,
                              pe_adamw **out, pe_error *err)
{
    if (!out) return pe_error_set(err, PE_ERR_INVALID, "adamw: NULL output");
    *out = NULL;
    if (!params || n_params < 1) return pe_error_set(err, PE_ERR_INVALID, "adamw: no parameters");
    pe_adamw_options o = opts ? *opts : pe_adamw_options_default();
    if (!(o.beta1 >= 0.0f && o.beta1 < 1.0f) || !(o.beta2 >= 0.0f && o.beta2 < 1.0f) || !(o.eps >= 0.0f) ||
        !(o.weight_decay >= 0.0f) || !isfinite(o.eps) || !isfinite(o.weight_decay))
        return pe_error_set(err, PE_ERR_INVALID, "adamw: bad options (beta1 %g, beta2 %g, eps %g, weight_decay %g)",
                            (double)o.beta1, (double)o.beta2, (double)o.eps, (double)o.weight_decay);
    for (int i = 0; i < n_params; i++)
        if (!params[i].data || !params[i].grad || params[i].numel < 1 || !params[i].name)
            return pe_error_set(err, PE_ERR_INVALID, "adamw: parameter %d (%s) has no data, gradient or name", i,
                                params[i].name ? params[i].name : "?");
    pe_adamw *a = calloc(1, sizeof *a);
    if (!a) return pe_error_set(err, PE_ERR_NOMEM, "adamw: out of memory");
    a->sp = calloc((size_t)n_params, sizeof *a->sp);
    a->names = calloc((size_t)n_params, sizeof *a->names);
    a->n_sp = n_params;
    pe_status st = a->sp && a->names ? make_tasks(param_len, params, n_params, &a->tk, &a->n_tk) : PE_ERR_NOMEM;
    for (int i = 0; st == PE_OK && i < n_params; i++) {
        a->sp[i] = (span){params[i].data, params[i].grad, (size_t)params[i].numel, a->n, params[i].decay};
        a->n += (size_t)params[i].numel;
        if (!(a->names[i] = strdup(params[i].name))) st = PE_ERR_NOMEM;
    }
    if (st == PE_OK) {
        a->m = calloc(a->n, sizeof *a->m);
        a->v = calloc(a->n, sizeof *a->v);
        if (!a->m || !a->v) st = PE_ERR_NOMEM;
    }
    if (st != PE_OK) {
        pe_adamw_free(a);
        return pe_error_set(err, st, "adamw: out of memory for %d parameters", n_params);
    }
    a->o = o;
    *out = a;
    return PE_OK;
}

pe_status pe_adamw_new(pe_train *tr, const pe_adamw_options *opts, pe_adamw **out, pe_error *err)
{
    if (!out) return pe_error_set(err, PE_ERR_INVALID, "adamw: NULL output");
    *out = NULL;
    if (!tr) return pe_error_set(err, PE_ERR_INVALID, "adamw: NULL model");
    pe_status st = pe_adamw_new_params(tr->tab, tr->n_tab, opts, out, err);
    if (st == PE_OK) (*out)->tr = tr;
    return st;
}

void pe_adamw_free(pe_adamw *a)
{
    if (!a) return;
    free(a->m);
    free(a->v);
    free(a->sp);
    free(a->tk);
    if (a->names)
        for (int i = 0; i < a->n_sp; i++) free(a->names[i]);
    free(a->names);
    free(a);
}

long pe_adamw_steps(const pe_adamw *a)
{
    return a->step;
}

const char *pe_adamw_errmsg(const pe_adamw *a)
{
    return a ? a->err.msg : "";
}

pe_status pe_adamw_state(pe_adamw *a, int i, pe_adamw_moments *out)
{
    if (!a || !out || i < 0 || i >= a->n_sp) return PE_ERR_INVALID;
    out->name = a->names[i];
    out->numel = (int64_t)a->sp[i].n;
    out->m = a->m + a->sp[i].off;
    out->v = a->v + a->sp[i].off;
    return PE_OK;
}

int pe_adamw_n_params(const pe_adamw *a)
{
    return a ? a->n_sp : 0;
}

pe_status pe_adamw_set_steps(pe_adamw *a, long steps)
{
    if (!a || steps < 0) return PE_ERR_INVALID;
    a->step = steps;
    return PE_OK;
}

typedef struct adamw_job {
    pe_adamw *a;
    float b1, b2, eps, step_size, bc2_sqrt, shrink;
} adamw_job;

static void adamw_task(void *ctx, int t, int tid)
{
    (void)tid;
    const adamw_job *j = ctx;
    pe_adamw *a = j->a;
    const task *tk = &a->tk[t];
    const span *s = &a->sp[tk->s];
    float *p = s->data, *m = a->m + s->off, *v = a->v + s->off;
    const float *g = s->grad;
    const float b1 = j->b1, b2 = j->b2, eps = j->eps, step_size = j->step_size, bc2_sqrt = j->bc2_sqrt;
    const float shrink = s->decay ? j->shrink : 1.0f;
    for (size_t i = tk->i0; i < tk->i1; i++) {
        p[i] *= shrink;
        m[i] = m[i] * b1 + (1.0f - b1) * g[i];
        v[i] = v[i] * b2 + (1.0f - b2) * g[i] * g[i];
        const float denom = sqrtf(v[i]) / bc2_sqrt + eps;
        p[i] -= step_size * m[i] / denom;
    }
}

pe_status pe_adamw_step(pe_adamw *a, float lr)
{
    pe_error *e = a->tr ? &a->tr->err : &a->err;
    pe_error_clear(e);
    if (!(lr >= 0.0f) || !isfinite(lr))
        return pe_error_set(e, PE_ERR_INVALID, "adamw: learning rate %g", (double)lr);
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
    enc_kernels_parallel(a->n_tk, adamw_task, &j);
    return PE_OK;
}

pe_status pe_train_clip_grad_norm(pe_train *tr, float max_norm, double *norm)
{
    pe_error_clear(&tr->err);
    return pe_params_clip_grad_norm(tr->tab, tr->n_tab, max_norm, norm, &tr->err);
}

typedef struct pnorm_job {
    const pe_train_param *p;
    const task *tk;
    double *part;
    float scale;
} pnorm_job;

static void psumsq_task(void *ctx, int t, int tid)
{
    (void)tid;
    pnorm_job *j = ctx;
    const task *tk = &j->tk[t];
    const float *g = j->p[tk->s].grad;
    double s = 0.0;
    for (size_t i = tk->i0; i < tk->i1; i++) s += (double)g[i] * g[i];
    j->part[t] = s;
}

static void pscale_task(void *ctx, int t, int tid)
{
    (void)tid;
    pnorm_job *j = ctx;
    const task *tk = &j->tk[t];
    float *g = j->p[tk->s].grad;
    for (size_t i = tk->i0; i < tk->i1; i++) g[i] *= j->scale;
}

pe_status pe_params_clip_grad_norm(const pe_train_param *params, int n_params, float max_norm, double *norm,
                                   pe_error *err)
{
    if (!params || n_params < 0) return pe_error_set(err, PE_ERR_INVALID, "clip: no parameters");
    task *tk = NULL;
    int n_tk = 0;
    if (make_tasks(param_len, params, n_params, &tk, &n_tk) != PE_OK)
        return pe_error_set(err, PE_ERR_NOMEM, "clip: out of memory");
    pnorm_job j = {.p = params, .tk = tk, .part = malloc(((size_t)n_tk + 1) * sizeof *j.part)};
    if (!j.part) {
        free(tk);
        return pe_error_set(err, PE_ERR_NOMEM, "clip: out of memory");
    }
    enc_kernels_parallel(n_tk, psumsq_task, &j);
    double s = 0.0;
    for (int c = 0; c < n_tk; c++) s += j.part[c];
    const double total = sqrt(s);
    if (norm) *norm = total;
    pe_status st = PE_OK;
    if (!isfinite(total)) {
        st = pe_error_set(err, PE_ERR_INVALID, "clip: the gradient norm is not finite (%g)", total);
    } else if (max_norm > 0.0f) {
        double coef = (double)max_norm / (total + 1e-6);
        if (coef < 1.0) {
            j.scale = (float)coef;
            enc_kernels_parallel(n_tk, pscale_task, &j);
        }
    }
    free(j.part);
    free(tk);
    return st;
}

void pe_params_zero_grad(const pe_train_param *params, int n_params)
{
    for (int i = 0; i < n_params; i++)
        if (params[i].grad) memset(params[i].grad, 0, (size_t)params[i].numel * sizeof(float));
}

float pe_lr_linear_warmup(float base, long step, long warmup, long total)
{
    if (step < warmup) return base * (float)((double)step / (double)(warmup > 1 ? warmup : 1));
    double f = (double)(total - step) / (double)(total - warmup > 1 ? total - warmup : 1);
    return f > 0.0 ? base * (float)f : 0.0f;
}

float pe_lr_cosine_warmup(float base, long step, long warmup, long total, float min_ratio)
{
    if (step < warmup) return base * (float)((double)step / (double)(warmup > 1 ? warmup : 1));
    double f = (double)(step - warmup) / (double)(total - warmup > 1 ? total - warmup : 1);
    if (f > 1.0) f = 1.0;
    const double c = 0.5 * (1.0 + cos(3.14159265358979323846 * f));
    return base * (float)(min_ratio + (1.0 - min_ratio) * c);
}
