/* tagger.c - token classification heads (with an optional per-token
 * feature embedding), token-classification data, the objective that trains
 * them and the mix of several objectives on one encoder (pe_trainer.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pe_trainer.h"
#include "train_ops.h"
#include "trainer_internal.h"

struct pe_token_head {
    char name[40];
    char pname[3][48];
    int C, K, NF, D; /* hidden, labels, feature ids, feature dims */
    float *params, *grads;
    float *W, *b, *F; /* (K, C+D) (K) (NF, D) */
    float *dW, *db, *dF;
    pe_train_param tab[3];
    int n_tab;
    /* scratch */
    int cap;
    float *x, *z, *dx; /* (M, C+D) (M, K) (M, C+D) */
    int32_t *rows;
    /* grouped decoding (pe_token_head_set_groups): group and sub of each label, or NULL */
    int *group, *sub;
    int n_group, n_sub;
    double *gsum; /* (n_group + n_sub) */
    /* BIO Viterbi decoding (PE_DECODE_VITERBI): on, and its scratch */
    int viterbi;
    int vcap;
    double *vscore; /* (2, K) */
    int32_t *vback; /* (vcap, K) */
};

static pe_status head_alloc(const char *name, int C, int K, int NF, int D, pe_token_head **out, pe_error *err)
{
    *out = NULL;
    if (!name || !*name || strlen(name) > 32 || C < 1 || K < 2 || K > 1 << 20 || D < 0 || D > 4096 ||
        (D > 0 && (NF < 1 || NF > 1 << 20)))
        return pe_error_set(err, PE_ERR_INVALID, "token head: bad sizes (name %s, C %d, K %d, features %d x %d)",
                            name ? name : "NULL", C, K, NF, D);
    pe_token_head *h = calloc(1, sizeof *h);
    if (!h) return pe_error_set(err, PE_ERR_NOMEM, "token head: out of memory");
    snprintf(h->name, sizeof h->name, "%s", name);
    h->C = C;
    h->K = K;
    h->D = D;
    h->NF = D > 0 ? NF : 0;
    const size_t in = (size_t)C + (size_t)D, n = (size_t)K * in + (size_t)K + (size_t)h->NF * (size_t)D;
    h->params = calloc(n, sizeof *h->params);
    h->grads = calloc(n, sizeof *h->grads);
    if (!h->params || !h->grads) {
        pe_token_head_free(h);
        return pe_error_set(err, PE_ERR_NOMEM, "token head: out of memory");
    }
    h->W = h->params;
    h->b = h->W + (size_t)K * in;
    h->F = h->b + K;
    h->dW = h->grads;
    h->db = h->dW + (size_t)K * in;
    h->dF = h->db + K;
    snprintf(h->pname[0], 48, "%s.w", name);
    snprintf(h->pname[1], 48, "%s.b", name);
    snprintf(h->pname[2], 48, "%s.feat", name);
    h->tab[0] = (pe_train_param){h->pname[0], 2, {K, (int64_t)in}, (int64_t)K * (int64_t)in, h->W, h->dW, 1};
    h->tab[1] = (pe_train_param){h->pname[1], 1, {K, 0}, K, h->b, h->db, 0};
    h->n_tab = 2;
    if (D > 0) h->tab[h->n_tab++] = (pe_train_param){h->pname[2], 2, {h->NF, D}, (int64_t)h->NF * D, h->F, h->dF, 0};
    *out = h;
    return PE_OK;
}

pe_status pe_token_head_new(const char *name, int C, int K, int n_feat, int feat_dim, uint64_t seed,
                            pe_token_head **out, pe_error *err)
{
    if (!out) return pe_error_set(err, PE_ERR_INVALID, "token head: NULL output");
    pe_status st = head_alloc(name, C, K, n_feat, feat_dim, out, err);
    if (st != PE_OK) return st;
    pe_token_head *h = *out;
    enc_tr_normal_fill(h->W, (size_t)h->tab[0].numel, 0.02f, seed, 0x746167);
    /* the feature rows start at the scale of the LayerNorm'd hidden states they
     * sit beside (unit), not at 0.02: two small factors (F and W's feature
     * columns) would barely learn in a fine-tuning's few thousand steps */
    if (h->D > 0) enc_tr_normal_fill(h->F, (size_t)h->NF * h->D, 1.0f, seed, 0x66656174);
    return PE_OK;
}

pe_status pe_token_head_from_encoder(pe_encoder *enc, const char *name, pe_token_head **out, pe_error *err)
{
    if (!out) return pe_error_set(err, PE_ERR_INVALID, "token head: NULL output");
    *out = NULL;
    if (!enc || !name) return pe_error_set(err, PE_ERR_INVALID, "token head: NULL argument");
    char n[64];
    pe_encoder_tensor_view w, b, f;
    snprintf(n, sizeof n, "%s.w", name);
    pe_status st = pe_encoder_tensor(enc, n, &w);
    if (st == PE_NOT_FOUND) return pe_error_set(err, PE_NOT_FOUND, "the model has no head %s (no tensor %s)", name, n);
    if (st != PE_OK) return pe_error_set(err, st, "%s", pe_encoder_errmsg(enc));
    snprintf(n, sizeof n, "%s.b", name);
    if ((st = pe_encoder_tensor(enc, n, &b)) != PE_OK)
        return pe_error_set(err, PE_ERR_CORRUPT, "head %s: tensor %s is missing or unreadable", name, n);
    snprintf(n, sizeof n, "%s.feat", name);
    st = pe_encoder_tensor(enc, n, &f);
    const int has_f = st == PE_OK;
    const int C = pe_encoder_hidden_size(enc);
    if (w.ndim != 2 || b.ndim != 1 || b.shape[0] != w.shape[0] || w.shape[0] < 2 ||
        (has_f ? (f.ndim != 2 || w.shape[1] != C + f.shape[1]) : w.shape[1] != C))
        return pe_error_set(err, PE_ERR_CORRUPT, "head %s: shapes do not fit (w %lldx%lld, hidden %d)", name,
                            (long long)w.shape[0], (long long)w.shape[1], C);
    if ((st = head_alloc(name, C, (int)w.shape[0], has_f ? (int)f.shape[0] : 0, has_f ? (int)f.shape[1] : 0, out,
                         err)) != PE_OK)
        return st;
    pe_token_head *h = *out;
    memcpy(h->W, w.data, (size_t)w.numel * sizeof(float));
    memcpy(h->b, b.data, (size_t)b.numel * sizeof(float));
    if (has_f) memcpy(h->F, f.data, (size_t)f.numel * sizeof(float));
    return PE_OK;
}

void pe_token_head_free(pe_token_head *h)
{
    if (!h) return;
    free(h->params);
    free(h->grads);
    free(h->x);
    free(h->z);
    free(h->dx);
    free(h->rows);
    free(h->group);
    free(h->sub);
    free(h->gsum);
    free(h->vscore);
    free(h->vback);
    free(h);
}

pe_status pe_token_head_set_groups(pe_token_head *h, const int *group, const int *sub, pe_error *err)
{
    if (!h) return pe_error_set(err, PE_ERR_INVALID, "token head: NULL argument");
    free(h->group);
    free(h->sub);
    free(h->gsum);
    h->group = h->sub = NULL;
    h->gsum = NULL;
    h->n_group = h->n_sub = 0;
    if (!group) return PE_OK;
    h->viterbi = 0;
    int ng = 0, ns = 0;
    for (int k = 0; k < h->K; k++) {
        if (group[k] < 0 || (sub && sub[k] < -1)) return pe_error_set(err, PE_ERR_INVALID, "token head %s: bad group of label %d", h->name, k);
        if (group[k] + 1 > ng) ng = group[k] + 1;
        if (sub && sub[k] + 1 > ns) ns = sub[k] + 1;
    }
    if (ng > h->K || ns > h->K) return pe_error_set(err, PE_ERR_INVALID, "token head %s: more groups than labels", h->name);
    h->group = malloc((size_t)h->K * sizeof *h->group);
    h->sub = malloc((size_t)h->K * sizeof *h->sub);
    h->gsum = malloc(((size_t)ng + (size_t)ns + 1) * sizeof *h->gsum);
    if (!h->group || !h->sub || !h->gsum) {
        pe_token_head_set_groups(h, NULL, NULL, NULL);
        return pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    }
    for (int k = 0; k < h->K; k++) {
        h->group[k] = group[k];
        h->sub[k] = sub ? sub[k] : -1;
    }
    h->n_group = ng;
    h->n_sub = ns;
    return PE_OK;
}

pe_status pe_token_head_set_bio_decode(pe_token_head *h, pe_tag_decode d, int lead_pairs, pe_error *err)
{
    if (!h || h->K % 2 != 1 || lead_pairs < 0) return pe_error_set(err, PE_ERR_INVALID, "token head: not a BIO head");
    if (d != PE_DECODE_ARGMAX && d != PE_DECODE_GROUPED && d != PE_DECODE_VITERBI)
        return pe_error_set(err, PE_ERR_INVALID, "token head: unknown decoding %d", (int)d);
    h->viterbi = d == PE_DECODE_VITERBI;
    if (d != PE_DECODE_GROUPED) return pe_token_head_set_groups(h, NULL, NULL, err);
    const int K = h->K;
    int *g = malloc((size_t)K * sizeof *g), *sb = malloc((size_t)K * sizeof *sb);
    pe_status st = g && sb ? PE_OK : pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    for (int k = 0; st == PE_OK && k < K; k++) {
        const int pair = (k - 1) / 2; /* the (B, I) pair of label k >= 1 */
        g[k] = k == 0 ? 0 : pair < lead_pairs ? 1 + pair : 1 + lead_pairs;
        sb[k] = k == 0 ? -1 : pair;
    }
    if (st == PE_OK) st = pe_token_head_set_groups(h, g, sb, err);
    free(g);
    free(sb);
    return st;
}

/* The decision over one token's probabilities p (K): the plain argmax, or
 * with groups the group of largest total probability, within it the sub
 * of largest total (labels without a sub stand alone), then the most
 * probable label there; conf is the total of what was chosen last but one
 * (the sub's, else the group's), or the label's without groups. */
static int decide(const pe_token_head *h, const float *p, float *conf)
{
    const int K = h->K;
    int best = 0;
    if (!h->group) {
        for (int k = 1; k < K; k++)
            if (p[k] > p[best]) best = k;
        *conf = p[best];
        return best;
    }
    double *g = h->gsum, *s = h->gsum + h->n_group;
    for (int i = 0; i < h->n_group + h->n_sub; i++) h->gsum[i] = 0.0;
    for (int k = 0; k < K; k++) {
        g[h->group[k]] += p[k];
        if (h->sub[k] >= 0) s[h->sub[k]] += p[k];
    }
    int bg = 0;
    for (int i = 1; i < h->n_group; i++)
        if (g[i] > g[bg]) bg = i;
    /* within the group: the sub (or lone label) of largest total */
    double bt = -1.0;
    int bsub = -1;
    for (int k = 0; k < K; k++) {
        if (h->group[k] != bg) continue;
        const double t = h->sub[k] >= 0 ? s[h->sub[k]] : p[k];
        if (t > bt) {
            bt = t;
            bsub = h->sub[k] >= 0 ? h->sub[k] : -1 - k;
        }
    }
    best = -1;
    for (int k = 0; k < K; k++) {
        if (h->group[k] != bg) continue;
        if (bsub >= 0 ? h->sub[k] != bsub : k != -1 - bsub) continue;
        if (best < 0 || p[k] > p[best]) best = k;
    }
    *conf = (float)(bsub >= 0 ? s[bsub] : g[bg]);
    return best;
}

const pe_train_param *pe_token_head_params(const pe_token_head *h, int *n)
{
    if (n) *n = h->n_tab;
    return h->tab;
}

int pe_token_head_n_labels(const pe_token_head *h)
{
    return h->K;
}

int pe_token_head_n_feat(const pe_token_head *h)
{
    return h->NF;
}

static int reserve(pe_token_head *h, int M)
{
    if (M <= h->cap) return 0;
    int cap = M + M / 4 + 16;
    const size_t in = (size_t)h->C + (size_t)h->D;
    float *x = realloc(h->x, (size_t)cap * in * sizeof *x);
    if (!x) return -1;
    h->x = x;
    float *z = realloc(h->z, (size_t)cap * (size_t)h->K * sizeof *z);
    if (!z) return -1;
    h->z = z;
    float *dx = realloc(h->dx, (size_t)cap * in * sizeof *dx);
    if (!dx) return -1;
    h->dx = dx;
    int32_t *r = realloc(h->rows, (size_t)cap * sizeof *r);
    if (!r) return -1;
    h->rows = r;
    h->cap = cap;
    return 0;
}

/* Gathers rows (all when labels is NULL) into x = [h ; F[f]] and computes z. */
static pe_status gather_forward(pe_token_head *h, const float *hidden, const int32_t *feats, const int32_t *labels,
                                int T, int *M_out, pe_error *err)
{
    int M = 0;
    /* partial labels: K + a mask of the (B, I) pairs */
    const int pairs = h->K % 2 == 1 && h->K <= 1 + 2 * PE_TOKEN_HEAD_PARTIAL_TYPES ? (h->K - 1) / 2 : 0;
    for (int i = 0; i < T; i++) {
        if (labels && labels[i] >= h->K && (labels[i] == h->K || labels[i] - h->K >= 1 << pairs))
            return pe_error_set(err, PE_ERR_INVALID, "head %s: label %d of token %d is not below %d (nor a partial label)",
                                h->name, labels[i], i, h->K);
        if (feats && h->D > 0 && (feats[i] < 0 || feats[i] >= h->NF))
            return pe_error_set(err, PE_ERR_INVALID, "head %s: feature %d of token %d is not in 0..%d", h->name, feats[i], i,
                                h->NF - 1);
        if (!labels || labels[i] >= 0) M++;
    }
    *M_out = M;
    if (M == 0) return PE_OK;
    if (reserve(h, M) < 0) return pe_error_set(err, PE_ERR_NOMEM, "head %s: out of memory", h->name);
    const int C = h->C, D = h->D, in = C + D;
    int m = 0;
    for (int i = 0; i < T; i++) {
        if (labels && labels[i] < 0) continue;
        h->rows[m] = i;
        memcpy(h->x + (size_t)m * in, hidden + (size_t)i * C, (size_t)C * sizeof(float));
        if (D > 0) memcpy(h->x + (size_t)m * in + C, h->F + (size_t)(feats ? feats[i] : 0) * D, (size_t)D * sizeof(float));
        m++;
    }
    enc_tr_linear_fwd(h->x, h->W, h->b, h->z, M, h->K, in);
    return PE_OK;
}

/* Softmax of row z (K) in place; returns log-sum-exp. */
static double softmax_row(float *z, int K)
{
    float mx = z[0];
    for (int k = 1; k < K; k++) mx = z[k] > mx ? z[k] : mx;
    double s = 0.0;
    for (int k = 0; k < K; k++) s += exp((double)(z[k] - mx));
    const double lse = (double)mx + log(s);
    for (int k = 0; k < K; k++) z[k] = (float)exp((double)z[k] - lse);
    return lse;
}

pe_status pe_token_head_predict(pe_token_head *h, const float *hidden, const int32_t *feats, int T, float *probs,
                                pe_error *err)
{
    if (!h || (!hidden && T > 0) || !probs || T < 0) return pe_error_set(err, PE_ERR_INVALID, "token head: NULL argument");
    int M = 0;
    pe_status st = gather_forward(h, hidden, feats, NULL, T, &M, err);
    if (st != PE_OK) return st;
    for (int i = 0; i < M; i++) softmax_row(h->z + (size_t)i * h->K, h->K);
    memcpy(probs, h->z, (size_t)M * (size_t)h->K * sizeof *probs);
    return PE_OK;
}

/* BIO Viterbi over the rows of P (T, K probabilities) whose ws is 1 (all
 * rows when ws is NULL): the label sequence of largest sum of log
 * probabilities in which I-x (label 2 + 2i) only follows B-x or I-x of the
 * same pair and the chain does not open with an I. Each step is O(K): O
 * and every B follow anything, so they take the best previous label. The
 * other rows get their argmax. conf: on the chain, the chosen label's
 * pair's total (B-x + I-x; O's own for O), elsewhere the argmax's. */
static pe_status viterbi_rows(pe_token_head *h, const float *P, int T, const unsigned char *ws, int32_t *label,
                              float *conf, pe_error *err)
{
    const int K = h->K;
    int n = 0;
    for (int t = 0; t < T; t++) {
        label[t] = decide(h, P + (size_t)t * K, &conf[t]); /* argmax: Viterbi heads have no groups */
        n += !ws || ws[t];
    }
    if (n == 0) return PE_OK;
    if (n > h->vcap || !h->vscore) {
        int32_t *b = realloc(h->vback, (size_t)n * (size_t)K * sizeof *b);
        if (b) h->vback = b;
        double *v = h->vscore ? h->vscore : malloc(2 * (size_t)K * sizeof *v);
        if (v) h->vscore = v;
        if (!b || !v) return pe_error_set(err, PE_ERR_NOMEM, "token head %s: out of memory", h->name);
        h->vcap = n;
    }
    double *prev = h->vscore, *cur = h->vscore + K;
    const double floor_lp = -1e4; /* log of a probability 0 */
    int i = 0;
    for (int t = 0; t < T; t++) {
        if (ws && !ws[t]) continue;
        const float *p = P + (size_t)t * K;
        int32_t *back = h->vback + (size_t)i * K;
        int arg = 0; /* the best previous label */
        if (i > 0)
            for (int k = 1; k < K; k++)
                if (prev[k] > prev[arg]) arg = k;
        for (int k = 0; k < K; k++) {
            const double lp = p[k] > 0.0f ? log((double)p[k]) : floor_lp;
            if (i == 0) {
                cur[k] = k > 0 && k % 2 == 0 ? -INFINITY : lp; /* no I first */
                back[k] = -1;
            } else if (k > 0 && k % 2 == 0) { /* I: from its B (k - 1) or itself */
                const int from = prev[k - 1] >= prev[k] ? k - 1 : k;
                cur[k] = prev[from] + lp;
                back[k] = from;
            } else {
                cur[k] = prev[arg] + lp;
                back[k] = arg;
            }
        }
        double *sw = prev;
        prev = cur;
        cur = sw;
        i++;
    }
    int k = 0;
    for (int j = 1; j < K; j++)
        if (prev[j] > prev[k]) k = j;
    for (int t = T - 1; t >= 0; t--) {
        if (ws && !ws[t]) continue;
        i--;
        label[t] = k;
        /* the probability of the word's part: O, or inside an x (B-x + I-x:
         * a word the softmax gave I-x at the start of a span, B-x here, is
         * no less surely an x) */
        const float *p = P + (size_t)t * K;
        conf[t] = k == 0 ? p[0] : k % 2 ? p[k] + p[k + 1] : p[k - 1] + p[k];
        k = h->vback[(size_t)i * K + k];
    }
    return PE_OK;
}

pe_status pe_token_head_label_words(pe_token_head *h, const float *hidden, const int32_t *feats, int T,
                                    const unsigned char *word_start, int32_t *label, float *conf, pe_error *err)
{
    if (!h || (!hidden && T > 0) || !label || !conf || T < 0)
        return pe_error_set(err, PE_ERR_INVALID, "token head: NULL argument");
    int M = 0;
    pe_status st = gather_forward(h, hidden, feats, NULL, T, &M, err);
    if (st != PE_OK) return st;
    for (int i = 0; i < M; i++) softmax_row(h->z + (size_t)i * h->K, h->K);
    if (h->viterbi) return viterbi_rows(h, h->z, M, word_start, label, conf, err);
    for (int i = 0; i < M; i++) label[i] = decide(h, h->z + (size_t)i * h->K, &conf[i]);
    return PE_OK;
}

pe_status pe_token_head_label(pe_token_head *h, const float *hidden, const int32_t *feats, int T, int32_t *label,
                             float *conf, pe_error *err)
{
    return pe_token_head_label_words(h, hidden, feats, T, NULL, label, conf, err);
}

/* 1 when label k is in partial label K + mask: O, or B/I of a pair in the mask. */
static int partial_has(int mask, int k)
{
    return k == 0 || (mask >> ((k - 1) / 2) & 1);
}

pe_status pe_token_head_loss(pe_token_head *h, const float *hidden, const int32_t *feats, const int32_t *labels, int T,
                             float scale, float *d_hidden, double *loss_sum, double *count, pe_error *err)
{
    if (!h || !hidden || !labels || T < 0) return pe_error_set(err, PE_ERR_INVALID, "token head: NULL argument");
    int M = 0;
    pe_status st = gather_forward(h, hidden, feats, labels, T, &M, err);
    if (loss_sum) *loss_sum = 0.0;
    if (count) *count = M;
    if (st != PE_OK || M == 0) return st;
    const int K = h->K, C = h->C, D = h->D, in = C + D;
    double ls = 0.0;
    const float g = scale / (float)M;
    for (int r = 0; r < M; r++) {
        float *z = h->z + (size_t)r * K;
        const int y = labels[h->rows[r]];
        if (y >= K) { /* partial: O or a label of the pairs in the mask */
            const int mask = y - K;
            softmax_row(z, K);
            double ps = 0.0;
            for (int k = 0; k < K; k++) ps += partial_has(mask, k) ? z[k] : 0.0;
            ps = ps > 1e-30 ? ps : 1e-30;
            ls -= log(ps);
            for (int k = 0; k < K; k++) z[k] = g * (z[k] - (partial_has(mask, k) ? (float)(z[k] / ps) : 0.0f));
            continue;
        }
        const float zy = z[y];
        const double lse = softmax_row(z, K);
        ls += lse - (double)zy;
        for (int k = 0; k < K; k++) z[k] *= g;
        z[y] -= g;
    }
    if (loss_sum) *loss_sum = ls;
    if (!d_hidden) return PE_OK;
    enc_tr_linear_bwd(h->x, h->W, h->z, h->dx, 0.0f, h->dW, h->db, M, K, in);
    for (int r = 0; r < M; r++) {
        const int i = h->rows[r];
        const float *src = h->dx + (size_t)r * in;
        float *dst = d_hidden + (size_t)i * C;
        for (int c = 0; c < C; c++) dst[c] += src[c];
        if (D > 0) {
            float *df = h->dF + (size_t)(feats ? feats[i] : 0) * D;
            for (int d = 0; d < D; d++) df[d] += src[C + d];
        }
    }
    return PE_OK;
}

/* ---- data ---- */

struct pe_tag_data {
    size_t n, cap;
    int *len;
    size_t *off;        /* (n + 1) */
    int32_t *ids, *labels, *feats, *types;
    size_t ntok, captok;
    int any_feats, case_types;
};

pe_status pe_tag_data_new(pe_tag_data **out, pe_error *err)
{
    if (!out) return pe_error_set(err, PE_ERR_INVALID, "tag data: NULL output");
    *out = calloc(1, sizeof **out);
    if (*out) (*out)->off = calloc(1, sizeof *(*out)->off);
    if (!*out || !(*out)->off) {
        pe_tag_data_free(*out);
        *out = NULL;
        return pe_error_set(err, PE_ERR_NOMEM, "tag data: out of memory");
    }
    return PE_OK;
}

void pe_tag_data_free(pe_tag_data *d)
{
    if (!d) return;
    free(d->len);
    free(d->off);
    free(d->ids);
    free(d->labels);
    free(d->feats);
    free(d->types);
    free(d);
}

void pe_tag_data_set_case_types(pe_tag_data *d, int on)
{
    if (d && d->n == 0) d->case_types = on != 0;
}

int pe_tag_data_case_types(const pe_tag_data *d)
{
    return d ? d->case_types : 0;
}

void pe_tag_word_case_types(const char *const *words, int n_words, const int *first, int len, int off, int32_t *types)
{
    int end = len - 1; /* [SEP] */
    for (int t = 1; t < end; t++) types[t - off] = 0;
    for (int w = n_words - 1; w >= 0; w--) {
        if (first[w] < 0) continue;
        const int c = pe_text_case(words[w], strlen(words[w]));
        for (int t = first[w]; t < end; t++) types[t - off] = c;
        end = first[w];
    }
}

static pe_status data_add(pe_tag_data *d, const int32_t *ids, const int32_t *labels, const int32_t *feats,
                          const char *const *words, int n_words, const int *first, int len, pe_error *err)
{
    if (!d || !ids || !labels || len < 1) return pe_error_set(err, PE_ERR_INVALID, "tag data: empty or NULL example");
    if (d->n + 1 >= d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 256;
        int *l = realloc(d->len, cap * sizeof *l);
        if (!l) return pe_error_set(err, PE_ERR_NOMEM, "tag data: out of memory");
        d->len = l;
        size_t *o = realloc(d->off, (cap + 1) * sizeof *o);
        if (!o) return pe_error_set(err, PE_ERR_NOMEM, "tag data: out of memory");
        d->off = o;
        d->cap = cap;
    }
    if (d->ntok + (size_t)len > d->captok) {
        size_t cap = (d->captok ? d->captok * 2 : 4096) + (size_t)len;
        int32_t *a = realloc(d->ids, cap * sizeof *a);
        if (!a) return pe_error_set(err, PE_ERR_NOMEM, "tag data: out of memory");
        d->ids = a;
        a = realloc(d->labels, cap * sizeof *a);
        if (!a) return pe_error_set(err, PE_ERR_NOMEM, "tag data: out of memory");
        d->labels = a;
        a = realloc(d->feats, cap * sizeof *a);
        if (!a) return pe_error_set(err, PE_ERR_NOMEM, "tag data: out of memory");
        d->feats = a;
        a = realloc(d->types, cap * sizeof *a);
        if (!a) return pe_error_set(err, PE_ERR_NOMEM, "tag data: out of memory");
        d->types = a;
        d->captok = cap;
    }
    memcpy(d->ids + d->ntok, ids, (size_t)len * sizeof *ids);
    memcpy(d->labels + d->ntok, labels, (size_t)len * sizeof *labels);
    if (feats) {
        memcpy(d->feats + d->ntok, feats, (size_t)len * sizeof *feats);
        d->any_feats = 1;
    } else {
        memset(d->feats + d->ntok, 0, (size_t)len * sizeof *feats);
    }
    int32_t *ty = d->types + d->ntok;
    ty[0] = ty[len - 1] = 0;
    if (d->case_types && words) pe_tag_word_case_types(words, n_words, first, len, 0, ty);
    else memset(ty, 0, (size_t)len * sizeof *ty);
    d->len[d->n] = len;
    d->off[d->n] = d->ntok;
    d->ntok += (size_t)len;
    d->n++;
    d->off[d->n] = d->ntok;
    return PE_OK;
}

pe_status pe_tag_data_add(pe_tag_data *d, const int32_t *ids, const int32_t *labels, const int32_t *feats, int len,
                          pe_error *err)
{
    return data_add(d, ids, labels, feats, NULL, 0, NULL, len, err);
}

pe_status pe_tag_data_add_words(pe_tag_data *d, const int32_t *ids, const int32_t *labels, const int32_t *feats,
                                int len, const char *const *words, int n_words, const int *first, pe_error *err)
{
    if (d && d->case_types && (!words || !first)) return pe_error_set(err, PE_ERR_INVALID, "tag data: no words");
    return data_add(d, ids, labels, feats, words, n_words, first, len, err);
}

size_t pe_tag_data_count(const pe_tag_data *d)
{
    return d ? d->n : 0;
}

pe_tag_example pe_tag_data_get(const pe_tag_data *d, size_t i)
{
    pe_tag_example e = {d->len[i], d->ids + d->off[i], d->labels + d->off[i], d->any_feats ? d->feats + d->off[i] : NULL,
                        d->case_types ? d->types + d->off[i] : NULL};
    return e;
}

/* ---- prediction over a data set ---- */

pe_status pe_tag_predict(pe_train *tr, pe_token_head *head, const pe_tag_data *data, int32_t **pred_out,
                         float **conf_out, size_t **off_out, pe_error *err)
{
    *pred_out = NULL;
    *conf_out = NULL;
    *off_out = NULL;
    const int C = pe_train_config(tr)->hidden, budget = 4096;
    const size_t N = data->n;
    int32_t *pred = malloc((data->ntok + 1) * sizeof *pred);
    float *conf = malloc((data->ntok + 1) * sizeof *conf);
    size_t *off = malloc((N + 1) * sizeof *off);
    int32_t *ids = malloc((size_t)budget * sizeof *ids), *feats = malloc((size_t)budget * sizeof *feats),
            *types = malloc((size_t)budget * sizeof *types);
    int *lengths = malloc((size_t)budget * sizeof *lengths);
    float *hidden = malloc((size_t)budget * (size_t)C * sizeof *hidden);
    unsigned char *ws = malloc((size_t)budget + 1);
    pe_status st = PE_OK;
    if (!pred || !conf || !off || !ids || !feats || !types || !lengths || !hidden || !ws)
        st = pe_error_set(err, PE_ERR_NOMEM, "predict: out of memory");
    if (st == PE_OK && pe_train_config(tr)->case_types != data->case_types)
        st = pe_error_set(err, PE_ERR_INVALID, "predict: the encoder %s case types and the data %s",
                          pe_train_config(tr)->case_types ? "has" : "has no", data->case_types ? "has" : "has none");
    size_t i = 0;
    while (st == PE_OK && i < N) {
        int k = 0, T = 0;
        const size_t first = i;
        while (i < N && (k == 0 || T + data->len[i] <= budget)) {
            if (data->len[i] > budget) {
                st = pe_error_set(err, PE_ERR_INVALID, "predict: example %zu has %d tokens (at most %d)", i, data->len[i], budget);
                break;
            }
            memcpy(ids + T, data->ids + data->off[i], (size_t)data->len[i] * sizeof *ids);
            memcpy(feats + T, data->feats + data->off[i], (size_t)data->len[i] * sizeof *feats);
            memcpy(types + T, data->types + data->off[i], (size_t)data->len[i] * sizeof *types);
            lengths[k++] = data->len[i];
            T += data->len[i];
            i++;
        }
        if (st != PE_OK) break;
        if ((st = pe_train_forward(tr, ids, data->case_types ? types : NULL, lengths, k, NULL, hidden)) != PE_OK) {
            pe_error_set(err, st, "predict: %s", pe_train_errmsg(tr));
            break;
        }
        /* example by example, so that Viterbi decoding does not run from
         * one into the next; its chain: the tokens with a label (each
         * word's first) */
        for (size_t j = first, t0 = 0; st == PE_OK && j < i; t0 += (size_t)data->len[j], j++) {
            const int n = data->len[j];
            for (int t = 0; t < n; t++) ws[t] = data->labels[data->off[j] + (size_t)t] >= 0;
            st = pe_token_head_label_words(head, hidden + t0 * (size_t)C, data->any_feats ? feats + t0 : NULL, n, ws,
                                           pred + data->off[j], conf + data->off[j], err);
        }
        if (st != PE_OK) break;
    }
    if (st != PE_OK) {
        free(pred);
        free(conf);
        free(off);
    } else {
        memcpy(off, data->off, (N + 1) * sizeof *off);
        *pred_out = pred;
        *conf_out = conf;
        *off_out = off;
    }
    free(ids);
    free(feats);
    free(types);
    free(lengths);
    free(hidden);
    free(ws);
    return st;
}

/* ---- the objective ---- */

struct pe_tag_objective {
    pe_objective obj;
    char name[40];
    pe_token_head *head;
    const pe_tag_data *train, *dev;
    pe_tag_scorer scorer;
    void *user;
    int32_t *labels, *feats; /* of the last batch */
    size_t cap;
};

static int tag_length(void *ctx, size_t i)
{
    const pe_tag_objective *t = ctx;
    return t->train->len[i];
}

static pe_status tag_batch(void *ctx, const size_t *idx, int n, uint64_t seed, int32_t *ids, int32_t *types,
                           int *lengths, pe_error *err)
{
    (void)seed;
    pe_tag_objective *t = ctx;
    if (t->train->n != t->obj.n_examples) /* the trainer plans its epochs over n_examples */
        return pe_error_set(err, PE_ERR_INVALID,
                            "tag %s: the training data grew from %zu to %zu examples after its objective was made; "
                            "add every example first",
                            t->name, t->obj.n_examples, t->train->n);
    size_t T = 0;
    for (int k = 0; k < n; k++) T += (size_t)t->train->len[idx[k]];
    if (T > t->cap) {
        size_t cap = T + T / 2;
        int32_t *a = realloc(t->labels, cap * sizeof *a);
        if (!a) return pe_error_set(err, PE_ERR_NOMEM, "tag: out of memory");
        t->labels = a;
        a = realloc(t->feats, cap * sizeof *a);
        if (!a) return pe_error_set(err, PE_ERR_NOMEM, "tag: out of memory");
        t->feats = a;
        t->cap = cap;
    }
    size_t o = 0;
    for (int k = 0; k < n; k++) {
        const size_t i = idx[k], len = (size_t)t->train->len[i], src = t->train->off[i];
        memcpy(ids + o, t->train->ids + src, len * sizeof *ids);
        memcpy(t->labels + o, t->train->labels + src, len * sizeof *ids);
        memcpy(t->feats + o, t->train->feats + src, len * sizeof *ids);
        if (types) memcpy(types + o, t->train->types + src, len * sizeof *types); /* all 0 without case types */
        lengths[k] = (int)len;
        o += len;
    }
    return PE_OK;
}

static pe_status tag_loss(void *ctx, const float *hidden, int T, float scale, float *d_hidden, double *loss_sum,
                          double *count, pe_error *err)
{
    pe_tag_objective *t = ctx;
    return pe_token_head_loss(t->head, hidden, t->train->any_feats ? t->feats : NULL, t->labels, T, scale, d_hidden,
                              loss_sum, count, err);
}

static pe_status tag_evaluate(void *ctx, pe_train *tr, pe_eval_result *out, pe_error *err)
{
    pe_tag_objective *t = ctx;
    int32_t *pred;
    float *conf;
    size_t *off;
    pe_status st = pe_tag_predict(tr, t->head, t->dev, &pred, &conf, &off, err);
    if (st != PE_OK) return st;
    const size_t N = t->dev->n;
    const int32_t **pv = malloc((N + 1) * sizeof *pv);
    const float **cv = malloc((N + 1) * sizeof *cv);
    if (!pv || !cv) {
        st = pe_error_set(err, PE_ERR_NOMEM, "tag eval: out of memory");
    } else {
        for (size_t i = 0; i < N; i++) {
            pv[i] = pred + off[i];
            cv[i] = conf + off[i];
        }
        if (t->scorer) {
            st = t->scorer(t->user, t->dev, pv, cv, out, err);
        } else { /* token accuracy over labelled tokens */
            double ok = 0, n = 0;
            for (size_t i = 0; i < t->dev->ntok; i++)
                if (t->dev->labels[i] >= 0) {
                    n++;
                    ok += pred[i] == t->dev->labels[i];
                }
            out->metric_name = "token_accuracy";
            out->metric = n > 0 ? ok / n : 0.0;
        }
    }
    free(pv);
    free(cv);
    free(pred);
    free(conf);
    free(off);
    return st;
}

pe_status pe_tag_objective_new(const char *name, pe_token_head *head, const pe_tag_data *train, const pe_tag_data *dev,
                               pe_tag_scorer scorer, void *scorer_user, pe_tag_objective **out, pe_error *err)
{
    if (!out) return pe_error_set(err, PE_ERR_INVALID, "tag objective: NULL output");
    *out = NULL;
    if (!name || !head || !train || train->n == 0)
        return pe_error_set(err, PE_ERR_INVALID, "tag objective: no name, head or training examples");
    pe_tag_objective *t = calloc(1, sizeof *t);
    if (!t) return pe_error_set(err, PE_ERR_NOMEM, "tag objective: out of memory");
    snprintf(t->name, sizeof t->name, "%s", name);
    t->head = head;
    t->train = train;
    t->dev = dev && dev->n > 0 ? dev : NULL;
    t->scorer = scorer;
    t->user = scorer_user;
    t->obj.name = t->name;
    t->obj.ctx = t;
    t->obj.params = pe_token_head_params(head, &t->obj.n_params);
    t->obj.n_examples = train->n;
    t->obj.length = tag_length;
    t->obj.batch = tag_batch;
    t->obj.loss = tag_loss;
    t->obj.evaluate = t->dev ? tag_evaluate : NULL;
    *out = t;
    return PE_OK;
}

const pe_objective *pe_tag_objective_get(pe_tag_objective *t)
{
    return &t->obj;
}

void pe_tag_objective_free(pe_tag_objective *t)
{
    if (!t) return;
    free(t->labels);
    free(t->feats);
    free(t);
}

/* ---- mix ---- */

#define MIX_MAX 8

struct pe_objective_mix {
    pe_objective obj;
    char name[40];
    int n;
    const pe_objective *ch[MIX_MAX];
    float w[MIX_MAX];
    unsigned char no_select[MIX_MAX]; /* 1: metric logged, not in the mean */
    size_t base[MIX_MAX + 1]; /* example index ranges */
    pe_train_param *params;
    /* the last batch: per child token offset and count */
    int tok_off[MIX_MAX], tok_n[MIX_MAX];
    size_t *sub;
    size_t cap;
    char extra_names[MIX_MAX][48];
    int C;
};

static int mix_child(const pe_objective_mix *m, size_t i, size_t *local)
{
    int c = 0;
    while (c + 1 < m->n && i >= m->base[c + 1]) c++;
    *local = i - m->base[c];
    return c;
}

static int mix_length(void *ctx, size_t i)
{
    pe_objective_mix *m = ctx;
    size_t l;
    int c = mix_child(m, i, &l);
    return m->ch[c]->length(m->ch[c]->ctx, l);
}

static pe_status mix_batch(void *ctx, const size_t *idx, int n, uint64_t seed, int32_t *ids, int32_t *types,
                           int *lengths, pe_error *err)
{
    pe_objective_mix *m = ctx;
    if ((size_t)n > m->cap) {
        size_t *s = realloc(m->sub, (size_t)n * sizeof *s);
        if (!s) return pe_error_set(err, PE_ERR_NOMEM, "mix: out of memory");
        m->sub = s;
        m->cap = (size_t)n;
    }
    int seqs = 0, toks = 0;
    for (int c = 0; c < m->n; c++) {
        int k = 0;
        for (int j = 0; j < n; j++) {
            size_t l;
            if (mix_child(m, idx[j], &l) == c) m->sub[k++] = l;
        }
        m->tok_off[c] = toks;
        m->tok_n[c] = 0;
        if (k == 0) continue;
        pe_status st = m->ch[c]->batch(m->ch[c]->ctx, m->sub, k, pe_tr_hash(seed, 0x6d6978, (uint64_t)c), ids + toks,
                                       types ? types + toks : NULL, lengths + seqs, err);
        if (st != PE_OK) return st;
        for (int j = 0; j < k; j++) m->tok_n[c] += lengths[seqs + j];
        seqs += k;
        toks += m->tok_n[c];
    }
    return PE_OK;
}

static pe_status mix_loss(void *ctx, const float *hidden, int T, float scale, float *d_hidden, double *loss_sum,
                          double *count, pe_error *err)
{
    (void)T;
    pe_objective_mix *m = ctx;
    double total = 0.0;
    const int C = m->C;
    for (int c = 0; c < m->n; c++) {
        if (m->tok_n[c] == 0) continue;
        double ls = 0.0, cnt = 0.0;
        const size_t o = (size_t)m->tok_off[c] * (size_t)C;
        pe_status st = m->ch[c]->loss(m->ch[c]->ctx, hidden + o, m->tok_n[c], scale * m->w[c],
                                      d_hidden ? d_hidden + o : NULL, &ls, &cnt, err);
        if (st != PE_OK) return st;
        if (cnt > 0) total += m->w[c] * ls / cnt;
    }
    *loss_sum = total;
    *count = 1.0;
    return PE_OK;
}

static pe_status mix_evaluate(void *ctx, pe_train *tr, pe_eval_result *out, pe_error *err)
{
    pe_objective_mix *m = ctx;
    double sum = 0.0;
    int n_eval = 0;
    out->metric_name = "mean_metric";
    out->n_extra = 0;
    for (int c = 0; c < m->n; c++) {
        if (!m->ch[c]->evaluate) continue;
        pe_eval_result r;
        memset(&r, 0, sizeof r);
        pe_status st = m->ch[c]->evaluate(m->ch[c]->ctx, tr, &r, err);
        if (st != PE_OK) return st;
        if (!m->no_select[c]) { /* not weighted: see pe_trainer.h */
            sum += r.metric;
            n_eval++;
        }
        if (out->n_extra < 8) {
            snprintf(m->extra_names[c], sizeof m->extra_names[c], "%s.%s", m->ch[c]->name ? m->ch[c]->name : "?",
                     r.metric_name ? r.metric_name : "metric");
            out->extra_names[out->n_extra] = m->extra_names[c];
            out->extra[out->n_extra++] = r.metric;
        }
    }
    out->metric = n_eval > 0 ? sum / n_eval : 0.0;
    return PE_OK;
}

pe_status pe_objective_mix_new(const pe_objective *const *children, const float *weights, int n, const char *name,
                               int hidden, pe_objective_mix **out, pe_error *err)
{
    if (!out) return pe_error_set(err, PE_ERR_INVALID, "mix: NULL output");
    *out = NULL;
    if (!children || n < 1 || n > MIX_MAX || !name || hidden < 1)
        return pe_error_set(err, PE_ERR_INVALID, "mix: 1..%d objectives, a name and the hidden size are needed", MIX_MAX);
    pe_objective_mix *m = calloc(1, sizeof *m);
    if (!m) return pe_error_set(err, PE_ERR_NOMEM, "mix: out of memory");
    snprintf(m->name, sizeof m->name, "%s", name);
    m->n = n;
    m->C = hidden;
    int np = 0, any_eval = 0;
    for (int c = 0; c < n; c++) {
        if (!children[c] || !(weights ? weights[c] > 0.0f : 1)) {
            free(m);
            return pe_error_set(err, PE_ERR_INVALID, "mix: objective %d is NULL or has a weight <= 0", c);
        }
        m->ch[c] = children[c];
        m->w[c] = weights ? weights[c] : 1.0f;
        m->base[c + 1] = m->base[c] + children[c]->n_examples;
        np += children[c]->n_params;
        any_eval |= children[c]->evaluate != NULL;
    }
    m->params = calloc((size_t)np + 1, sizeof *m->params);
    if (!m->params) {
        free(m);
        return pe_error_set(err, PE_ERR_NOMEM, "mix: out of memory");
    }
    np = 0;
    for (int c = 0; c < n; c++)
        for (int i = 0; i < children[c]->n_params; i++) m->params[np++] = children[c]->params[i];
    m->obj.name = m->name;
    m->obj.ctx = m;
    m->obj.params = m->params;
    m->obj.n_params = np;
    m->obj.n_examples = m->base[n];
    m->obj.length = mix_length;
    m->obj.batch = mix_batch;
    m->obj.loss = mix_loss;
    m->obj.evaluate = any_eval ? mix_evaluate : NULL;
    *out = m;
    return PE_OK;
}

pe_status pe_objective_mix_select(pe_objective_mix *m, int child, int counts, pe_error *err)
{
    if (!m || child < 0 || child >= m->n) return pe_error_set(err, PE_ERR_INVALID, "mix: no objective %d", child);
    if (!counts) {
        int left = 0;
        for (int c = 0; c < m->n; c++)
            if (c != child && !m->no_select[c] && m->ch[c]->evaluate) left++;
        if (!left)
            return pe_error_set(err, PE_ERR_INVALID,
                                "mix: %s's metric is the last one that selects; another objective with a development set must count",
                                m->ch[child]->name ? m->ch[child]->name : "?");
    }
    m->no_select[child] = counts ? 0 : 1;
    return PE_OK;
}

const pe_objective *pe_objective_mix_get(pe_objective_mix *m)
{
    return &m->obj;
}

void pe_objective_mix_free(pe_objective_mix *m)
{
    if (!m) return;
    free(m->params);
    free(m->sub);
    free(m);
}

pe_status pe_tag_encode_words(const pe_tokenizer *tok, const char *const *words, int n_words, int max_len,
                              int32_t **ids_out, int *len_out, int **first_out, pe_error *err)
{
    *ids_out = NULL;
    *first_out = NULL;
    *len_out = 0;
    if (!tok || (!words && n_words > 0) || n_words < 0 || max_len < 3)
        return pe_error_set(err, PE_ERR_INVALID, "encode words: bad arguments");
    size_t total = 1;
    for (int w = 0; w < n_words; w++) total += strlen(words[w]) + 1;
    char *text = malloc(total);
    size_t *ws = malloc(((size_t)n_words + 1) * sizeof *ws), *we = malloc(((size_t)n_words + 1) * sizeof *we);
    int *first = malloc(((size_t)n_words + 1) * sizeof *first);
    if (!text || !ws || !we || !first) {
        free(text);
        free(ws);
        free(we);
        free(first);
        return pe_error_set(err, PE_ERR_NOMEM, "encode words: out of memory");
    }
    size_t o = 0;
    for (int w = 0; w < n_words; w++) {
        if (w) text[o++] = ' ';
        size_t l = strlen(words[w]);
        ws[w] = o;
        memcpy(text + o, words[w], l);
        o += l;
        we[w] = o;
        first[w] = -1;
    }
    text[o] = '\0';
    pe_tokenizer_encode_options eo = pe_tokenizer_encode_options_default();
    eo.max_length = (size_t)max_len;
    pe_encoding *e = NULL;
    pe_status st = pe_tokenizer_encode(tok, text, o, NULL, 0, &eo, &e, err);
    int32_t *ids = NULL;
    if (st == PE_OK && !(ids = malloc((e->len + 1) * sizeof *ids))) st = pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    if (st == PE_OK) {
        int w = 0;
        for (size_t t = 0; t < e->len; t++) {
            ids[t] = e->ids[t];
            if (e->special_mask[t]) continue;
            const size_t s0 = e->offsets[t].start;
            while (w < n_words && we[w] <= s0 && !(ws[w] == we[w] && ws[w] == s0)) w++;
            if (w < n_words && s0 >= ws[w] && s0 < (we[w] > ws[w] ? we[w] : ws[w] + 1) && first[w] < 0) first[w] = (int)t;
        }
        *ids_out = ids;
        *len_out = (int)e->len;
        *first_out = first;
        first = NULL;
    }
    pe_encoding_free(e);
    free(text);
    free(ws);
    free(we);
    free(first);
    return st;
}

static int has_case_types(pe_encoder *enc)
{
    pe_encoder_info info;
    pe_encoder_get_info(enc, &info);
    return info.config.case_types;
}

pe_status pe_token_types_of_words(pe_encoder *enc, const char *const *words, int n_words, const int *first, int len,
                                  int32_t **types, pe_error *err)
{
    *types = NULL;
    if (!has_case_types(enc)) return PE_OK;
    if (!(*types = malloc(((size_t)(len > 2 ? len - 2 : 0) + 1) * sizeof **types)))
        return pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    pe_tag_word_case_types(words, n_words, first, len, 1, *types);
    return PE_OK;
}

pe_status pe_token_types_of_encoding(pe_encoder *enc, const pe_encoding *e, const char *text, int32_t **types,
                                     pe_error *err)
{
    *types = NULL;
    if (!has_case_types(enc)) return PE_OK;
    if (!(*types = malloc((e->len + 1) * sizeof **types))) return pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    pe_encoding_case_types(e, text, *types);
    return PE_OK;
}

pe_status pe_token_head_run(pe_encoder *enc, pe_token_head *head, const int32_t *ids, const unsigned char *wstart, const int32_t *tfeat,
                            const int32_t *types, int T, int32_t *label, float *conf, pe_error *err)
{
    pe_encoder_info info;
    pe_encoder_get_info(enc, &info);
    const int C = info.config.hidden, P = info.config.max_position - 2;
    pe_tokenizer_special_ids sid = pe_tokenizer_get_special_ids(pe_encoder_tokenizer(enc));
    int32_t *win = malloc(((size_t)P + 2) * sizeof *win), *wf = malloc(((size_t)P + 2) * sizeof *wf),
            *wt = malloc(((size_t)P + 2) * sizeof *wt);
    float *hidden = malloc(((size_t)P + 2) * (size_t)C * sizeof *hidden), *wconf = malloc(((size_t)P + 2) * sizeof *wconf);
    int32_t *wlab = malloc(((size_t)P + 2) * sizeof *wlab);
    unsigned char *wws = malloc((size_t)P + 2);
    pe_status st = win && wf && wt && hidden && wconf && wlab && wws ? PE_OK : pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    for (int s = 0; st == PE_OK && s < T;) {
        int e = s + P < T ? s + P : T;
        if (e < T) { /* cut before a word start */
            int e2 = e;
            while (e2 > s + 1 && !wstart[e2]) e2--;
            if (e2 > s + 1) e = e2;
        }
        int L = e - s + 2;
        win[0] = sid.cls;
        memcpy(win + 1, ids + s, (size_t)(e - s) * sizeof *win);
        win[L - 1] = sid.sep;
        wf[0] = wf[L - 1] = wt[0] = wt[L - 1] = 0;
        wws[0] = wws[L - 1] = 0;
        for (int t = s; t < e; t++) {
            wf[t - s + 1] = tfeat ? tfeat[t] : 0;
            wt[t - s + 1] = types ? types[t] : 0;
            wws[t - s + 1] = wstart[t] != 0;
        }
        if ((st = pe_encoder_forward(enc, win, types ? wt : NULL, &L, 1, -1, hidden)) != PE_OK) {
            pe_error_set(err, st, "%s", pe_encoder_errmsg(enc));
            break;
        }
        if ((st = pe_token_head_label_words(head, hidden, pe_token_head_n_feat(head) ? wf : NULL, L, wws, wlab, wconf,
                                            err)) != PE_OK)
            break;
        memcpy(label + s, wlab + 1, (size_t)(e - s) * sizeof *label);
        memcpy(conf + s, wconf + 1, (size_t)(e - s) * sizeof *conf);
        s = e;
    }
    free(win);
    free(wf);
    free(wt);
    free(hidden);
    free(wlab);
    free(wconf);
    free(wws);
    return st;
}


pe_status pe_tag_words_of(const pe_encoding *e, pe_tag_words *w, pe_error *err)
{
    memset(w, 0, sizeof *w);
    const int T = (int)e->len;
    for (int t = 0; t < T; t++) w->n = e->word_ids[t] + 1 > w->n ? e->word_ids[t] + 1 : w->n;
    w->start = calloc((size_t)w->n + 1, sizeof *w->start);
    w->end = calloc((size_t)w->n + 1, sizeof *w->end);
    w->first = malloc(((size_t)w->n + 1) * sizeof *w->first);
    w->word_start = calloc((size_t)T + 1, 1);
    if (!w->start || !w->end || !w->first || !w->word_start) {
        pe_tag_words_clear(w);
        return pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    }
    for (int k = 0; k < w->n; k++) w->first[k] = -1;
    for (int t = 0; t < T; t++) {
        const int k = e->word_ids[t];
        if (k < 0) continue;
        if (w->first[k] < 0) {
            w->first[k] = t;
            w->start[k] = e->offsets[t].start;
            w->word_start[t] = 1;
        }
        w->end[k] = e->offsets[t].end;
    }
    return PE_OK;
}

/* ---- machine text (web and e-mail addresses, user handles) ---- */

static int mt_alnum(unsigned char c) { return (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z') || c >= 0x80; }

/* The machine ranges of one chunk s (len bytes, no space): web and e-mail
 * addresses make the whole chunk one range; handles their own. Calls
 * mark(ctx, a, b) for each range [a, b); returns how many. */
static int mt_ranges(const char *s, size_t len, int handles, void (*mark)(void *, size_t, size_t), void *ctx)
{
    int whole = 0;
    for (size_t i = 0; i < len && !whole; i++) {
        const unsigned char c = (unsigned char)s[i];
        size_t e;
        if (c == ':' && i + 2 < len && s[i + 1] == '/' && s[i + 2] == '/') whole = 1;
        else if ((c | 32) == 'w' && (i == 0 || !mt_alnum((unsigned char)s[i - 1])) && i + 4 <= len &&
                 (s[i + 1] | 32) == 'w' && (s[i + 2] | 32) == 'w' && s[i + 3] == '.')
            whole = 1;
        else if (c == '@' && i > 0 && mt_alnum((unsigned char)s[i - 1]) && pe_text_domain_len(s, len, i + 1) > 0)
            whole = 1; /* e-mail address */
        else if (mt_alnum(c) && (i == 0 || (!mt_alnum((unsigned char)s[i - 1]) && s[i - 1] != '.' && s[i - 1] != '-')) &&
                 (e = pe_text_domain_len(s, len, i)) > 0 && i + e < len && s[i + e] == '/')
            whole = 1; /* a domain name and a path */
    }
    if (whole) {
        if (mark) mark(ctx, 0, len);
        return 1;
    }
    int n = 0;
    for (size_t i = 0; handles && i + 1 < len; i++) {
        if (s[i] != '@' || (i > 0 && mt_alnum((unsigned char)s[i - 1]))) continue;
        size_t j = i + 1;
        while (j < len && (mt_alnum((unsigned char)s[j]) || s[j] == '_')) j++;
        if (j == i + 1) continue;
        if (mark) mark(ctx, i, j);
        n++;
        i = j - 1;
    }
    return n;
}

int pe_tag_text_has_alnum(const char *s, size_t len)
{
    for (size_t i = 0; s && i < len; i++)
        if (mt_alnum((unsigned char)s[i])) return 1;
    return 0;
}

int pe_tag_text_machine(const char *s, size_t len, int handles)
{
    if (!s) return 0;
    for (size_t a = 0; a < len;) { /* each chunk between spaces */
        while (a < len && (s[a] == ' ' || s[a] == '\t' || s[a] == '\n' || s[a] == '\r')) a++;
        size_t b = a;
        while (b < len && s[b] != ' ' && s[b] != '\t' && s[b] != '\n' && s[b] != '\r') b++;
        if (b > a && mt_ranges(s + a, b - a, handles, NULL, NULL) > 0) return 1;
        a = b;
    }
    return 0;
}

typedef struct {
    const pe_tag_words *w;
    int wa, wb;      /* the chunk's words [wa, wb) */
    size_t base;     /* the chunk's first byte in the text */
    unsigned char *inert;
} mt_mark_ctx;

static void mt_mark_words(void *p, size_t a, size_t b)
{
    mt_mark_ctx *c = p;
    for (int k = c->wa; k < c->wb; k++)
        if (c->w->start[k] < c->base + b && c->base + a < c->w->end[k]) c->inert[k] = 1;
}

void pe_tag_words_machine(const char *text, const pe_tag_words *w, int handles, unsigned char *inert)
{
    for (int k = 0; k < w->n; k++) inert[k] = 0;
    for (int a = 0; a < w->n;) {
        if (w->first[a] < 0) {
            a++;
            continue;
        }
        int b = a + 1; /* words that touch make one chunk */
        while (b < w->n && w->first[b] >= 0 && w->start[b] == w->end[b - 1]) b++;
        mt_mark_ctx c = {w, a, b, w->start[a], inert};
        mt_ranges(text + w->start[a], w->end[b - 1] - w->start[a], handles, mt_mark_words, &c);
        a = b;
    }
}

void pe_tag_words_clear(pe_tag_words *w)
{
    free(w->start);
    free(w->end);
    free(w->first);
    free(w->word_start);
    memset(w, 0, sizeof *w);
}
