/* test_train_mlm.c - one masked-language-model training step against
 * PyTorch on the same weights and batch (tests/fixtures/train/mlm_step.safetensors,
 * scripts/gen_mlm_fixtures.py): a tiny BERT (2 layers, hidden 8) with
 * BertForMaskedLM's head (transform dense + exact-erf GELU + LayerNorm,
 * decoder tied to the word embeddings, cls.predictions.bias), dropout off.
 *
 * The step as the trainer runs it: pe_train_forward -> pe_mlm_head_loss
 * (scale 1, mean over the predicted tokens) -> pe_train_backward ->
 * pe_params_clip_grad_norm over the encoder's and the head's parameters
 * together -> one AdamW step over that set (pe_adamw_new_params) with the
 * fixture's hyper-parameters (those of models/mlm-small.json). Checked:
 * the hidden states, the loss, the gradient of every parameter (the word
 * embeddings' includes the tied decoder's share), the norm before
 * clipping, the weights after the step and the update itself (after - before,
 * which the weights' magnitude would hide: the update is ~lr per element).
 *
 * The reference is float64 from the same f32 weights, so the differences
 * are our f32 rounding. Tolerances, relative to each tensor's largest
 * value: 2e-5 for hidden states, gradients and weights (as test_train),
 * 1e-6 for the loss and the norm, and for the update 1e-4 plus what f32
 * rounding of the weights themselves allows (2 FLT_EPSILON max|w| /
 * max|update|, ~1e-3 for the word embeddings of magnitude ~3 against
 * updates of ~5e-4, ~2e-4 for the rest).
 * A missing share of a gradient or a wrong decay flag is off by O(1) of
 * the tensor's largest value or update. The key bias has no gradient in
 * exact arithmetic (softmax ignores a constant added to a row): its f32
 * gradient is rounding noise, which Adam turns into up to +-lr, so it is
 * only bounded. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "model_internal.h"
#include "pe_test.h"
#include "pe_trainer.h"

typedef struct fixture {
    char path[512];
    void *map;
    size_t size;
    pe_encoder_stored_tensor *t;
    int n;
} fixture;

static const pe_encoder_stored_tensor *fx_get(const fixture *f, const char *name)
{
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->t[i].name, name) == 0) return &f->t[i];
    fprintf(stderr, "fixture: no tensor %s\n", name);
    return NULL;
}

static int fx_open(fixture *f)
{
    pe_error err;
    memset(f, 0, sizeof *f);
    snprintf(f->path, sizeof f->path, "%s/train/mlm_step.safetensors", PE_FIXTURES);
    if (enc_map_file(f->path, &f->map, &f->size, &err) != PE_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 0;
    }
    if (enc_safetensors_parse(f->path, f->map, f->size, &f->t, &f->n, &err) != PE_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 0;
    }
    return 1;
}

static void fx_close(fixture *f)
{
    enc_stored_tensors_free(f->t, f->n);
    if (f->map) enc_unmap_file(f->map, f->size);
}

/* An F32 tensor of the fixture with numel elements (NULL, and a failed check, otherwise). */
static const float *fx_f32(const fixture *f, const char *name, int64_t numel)
{
    const pe_encoder_stored_tensor *x = fx_get(f, name);
    if (!x || x->dtype != PE_DTYPE_F32 || enc_shape_numel(x->shape, x->ndim) != numel) {
        PE_CHECK_MSG(0, "fixture tensor %s: missing, not F32 or not %lld elements", name, (long long)numel);
        return NULL;
    }
    return x->data;
}

/* max |a - b| / max |b|: relative to the tensor's scale */
static double rel_err(const float *a, const float *b, size_t n)
{
    double e = 0.0, m = 1e-30;
    for (size_t i = 0; i < n; i++) {
        e = fmax(e, fabs((double)a[i] - b[i]));
        m = fmax(m, fabs((double)b[i]));
    }
    return e / m;
}

static int is_key_bias(const char *name)
{
    return strstr(name, "attention.self.key.bias") != NULL;
}

static void test_mlm_step_against_torch(void)
{
    fixture f;
    pe_train *tr = NULL;
    pe_mlm_head *head = NULL;
    pe_adamw *opt = NULL;
    pe_train_param *set = NULL;
    float *init = NULL, *hidden = NULL, *dh = NULL;
    pe_error err;
    pe_error_clear(&err);
    if (!fx_open(&f)) {
        PE_CHECK_MSG(0, "cannot read %s", f.path);
        goto done;
    }
    const pe_encoder_stored_tensor *cf = fx_get(&f, "config"), *ids = fx_get(&f, "batch.ids"),
                                   *types = fx_get(&f, "batch.types"), *len = fx_get(&f, "batch.lengths"),
                                   *lab = fx_get(&f, "batch.labels");
    const float *hp = fx_f32(&f, "hparams", 6), *want_loss = fx_f32(&f, "loss", 1), *want_norm = fx_f32(&f, "norm", 1);
    if (!cf || !ids || !types || !len || !lab || !hp || !want_loss || !want_norm || cf->shape[0] != 7 ||
        len->shape[0] > 16) {
        PE_CHECK(0);
        goto done;
    }
    const int32_t *c = cf->data;
    pe_encoder_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.vocab_size = c[0];
    cfg.hidden = c[1];
    cfg.layers = c[2];
    cfg.heads = c[3];
    cfg.intermediate = c[4];
    cfg.max_position = c[5];
    cfg.type_vocab = c[6];
    cfg.layer_norm_eps = 1e-12f;
    PE_CHECK_EQ_INT(pe_train_new_random(&cfg, 1, &tr, &err), PE_OK);
    if (tr) PE_CHECK_EQ_INT(pe_mlm_head_new(tr, 2, &head, &err), PE_OK);
    if (!tr || !head) goto done;

    /* the encoder's parameters and the head's, one set, weights from the fixture */
    int n_head = 0;
    const pe_train_param *hparams = pe_mlm_head_params(head, &n_head);
    const int n_enc = pe_train_n_params(tr), n = n_enc + n_head;
    set = calloc((size_t)n, sizeof *set);
    if (!set) goto done;
    for (int i = 0; i < n_enc; i++) pe_train_param_at(tr, i, &set[i]);
    for (int i = 0; i < n_head; i++) set[n_enc + i] = hparams[i];
    PE_CHECK_EQ_INT(pe_trainer_load_tensors(f.path, set, n, &err), PE_OK);
    size_t total = 0;
    for (int i = 0; i < n; i++) total += (size_t)set[i].numel;
    init = malloc(total * sizeof *init);
    if (!init) goto done;
    for (int i = 0, o = 0; i < n; o += (int)set[i].numel, i++)
        memcpy(init + o, set[i].data, (size_t)set[i].numel * sizeof *init);

    /* forward, loss, backward */
    const int n_seq = (int)len->shape[0], T = (int)ids->shape[0], C = cfg.hidden;
    int lengths[16];
    for (int s = 0; s < n_seq; s++) lengths[s] = ((const int32_t *)len->data)[s];
    const float *want_hidden = fx_f32(&f, "hidden", (int64_t)T * C);
    hidden = malloc((size_t)T * C * sizeof *hidden);
    dh = calloc((size_t)T * C, sizeof *dh);
    if (!want_hidden || !hidden || !dh) goto done;
    pe_params_zero_grad(set, n);
    PE_CHECK_EQ_INT(pe_train_forward(tr, ids->data, types->data, lengths, n_seq, NULL, hidden), PE_OK);
    const double e_hidden = rel_err(hidden, want_hidden, (size_t)T * C);
    PE_CHECK_MSG(e_hidden < 2e-5, "hidden: relative error %g", e_hidden);
    /* again as the trainer runs it: the last layer on the masked rows only */
    int32_t rows[256];
    pe_train_forward_options fo = pe_train_forward_options_default();
    fo.rows = rows;
    for (int t = 0; t < T && fo.n_rows < 256; t++)
        if (((const int32_t *)lab->data)[t] >= 0) rows[fo.n_rows++] = t;
    PE_CHECK_EQ_INT(pe_train_forward(tr, ids->data, types->data, lengths, n_seq, &fo, hidden), PE_OK);
    double ls = 0.0, cnt = 0.0;
    PE_CHECK_EQ_INT(pe_mlm_head_loss(head, hidden, lab->data, T, 1.0f, dh, &ls, &cnt, NULL, &err), PE_OK);
    int n_labels = 0;
    for (int t = 0; t < T; t++) n_labels += ((const int32_t *)lab->data)[t] >= 0;
    PE_CHECK_EQ_INT((int)cnt, n_labels);
    const double loss = cnt > 0 ? ls / cnt : NAN, e_loss = fabs(loss - want_loss[0]) / fabs(want_loss[0]);
    PE_CHECK_MSG(e_loss < 1e-6, "loss %.9g, torch %.9g", loss, (double)want_loss[0]);
    PE_CHECK_EQ_INT(pe_train_backward(tr, dh), PE_OK);

    char name[200];
    double worst_grad = 0.0;
    const char *worst_grad_name = "";
    for (int i = 0; i < n; i++) {
        const pe_train_param *p = &set[i];
        snprintf(name, sizeof name, "grad.%s", p->name);
        const float *g = fx_f32(&f, name, p->numel);
        if (!g) continue;
        if (is_key_bias(p->name)) {
            for (int64_t j = 0; j < p->numel; j++)
                PE_CHECK_MSG(fabs(p->grad[j]) < 1e-5, "%s[%lld] = %g", name, (long long)j, p->grad[j]);
            continue;
        }
        const double e = rel_err(p->grad, g, (size_t)p->numel);
        if (e > worst_grad) worst_grad = e, worst_grad_name = p->name;
        PE_CHECK_MSG(e < 2e-5, "%s: relative error %g", name, e);
    }

    /* clip and one AdamW step over the whole set */
    double nrm = 0.0;
    PE_CHECK_EQ_INT(pe_params_clip_grad_norm(set, n, hp[5], &nrm, &err), PE_OK);
    const double e_norm = fabs(nrm - want_norm[0]) / want_norm[0];
    PE_CHECK_MSG(e_norm < 1e-6, "norm %.9g, torch %.9g", nrm, (double)want_norm[0]);
    PE_CHECK(nrm > hp[5]); /* clipping is active */
    pe_adamw_options ao = pe_adamw_options_default();
    ao.beta1 = hp[1];
    ao.beta2 = hp[2];
    ao.eps = hp[3];
    ao.weight_decay = hp[4];
    PE_CHECK_EQ_INT(pe_adamw_new_params(set, n, &ao, &opt, &err), PE_OK);
    if (!opt) goto done;
    PE_CHECK_EQ_INT(pe_adamw_step(opt, hp[0]), PE_OK);

    double worst_w = 0.0, worst_u = 0.0;
    const char *worst_w_name = "", *worst_u_name = "";
    float *upd = malloc(total * sizeof *upd);
    for (int i = 0, o = 0; upd && i < n; o += (int)set[i].numel, i++) {
        const pe_train_param *p = &set[i];
        for (int64_t j = 0; j < p->numel; j++) upd[o + j] = (float)((double)p->data[j] - init[o + j]);
        if (is_key_bias(p->name)) { /* its gradient is rounding noise, which Adam scales up to +-lr */
            for (int64_t j = 0; j < p->numel; j++) PE_CHECK(fabs(upd[o + j]) <= 1.001 * hp[0]);
            continue;
        }
        snprintf(name, sizeof name, "step1.%s", p->name);
        const float *w = fx_f32(&f, name, p->numel);
        snprintf(name, sizeof name, "update.%s", p->name);
        const float *u = fx_f32(&f, name, p->numel);
        if (!w || !u) continue;
        const double ew = rel_err(p->data, w, (size_t)p->numel), eu = rel_err(upd + o, u, (size_t)p->numel);
        if (ew > worst_w) worst_w = ew, worst_w_name = p->name;
        if (eu > worst_u) worst_u = eu, worst_u_name = p->name;
        PE_CHECK_MSG(ew < 2e-5, "step1.%s: relative error %g", p->name, ew);
        /* the update's rounding: a few f32 roundings of the weight itself */
        double wmax = 0.0, umax = 1e-30;
        for (int64_t j = 0; j < p->numel; j++) {
            wmax = fmax(wmax, fabs((double)w[j]));
            umax = fmax(umax, fabs((double)u[j]));
        }
        const double tol = 1e-4 + 2.0 * FLT_EPSILON * wmax / umax;
        PE_CHECK_MSG(eu < tol, "update.%s: relative error %g (tolerance %g)", p->name, eu, tol);
    }
    free(upd);
    fprintf(stderr,
            "  MLM step vs torch (%d tokens, %d predicted, %d tensors): relative errors: hidden %.3g, loss %.3g,\n"
            "  gradients worst %.3g (%s), norm %.3g, weights after the step worst %.3g (%s),\n"
            "  update worst %.3g (%s)\n",
            T, n_labels, n, e_hidden, e_loss, worst_grad, worst_grad_name, e_norm, worst_w, worst_w_name, worst_u,
            worst_u_name);
done:
    pe_adamw_free(opt);
    pe_mlm_head_free(head);
    pe_train_free(tr);
    free(set);
    free(init);
    free(hidden);
    free(dh);
    fx_close(&f);
}

int main(void)
{
    PE_RUN(test_mlm_step_against_torch);
    /* the other paths the CPU has: scalar cross-entropy and GELU, products
     * through OpenBLAS */
    const pe_kernels_isa was = enc_kernels_active(), other[2] = {PE_KERNELS_AVX2, PE_KERNELS_BLAS};
    for (int k = 0; k < 2; k++)
        if (other[k] != was && enc_kernels_select(other[k]) == 0) {
            fprintf(stderr, "  path %s:\n", enc_kernels_isa_name(other[k]));
            PE_RUN(test_mlm_step_against_torch);
        }
    enc_kernels_select(was);
    PE_TEST_EXIT();
}
