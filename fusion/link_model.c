/* link_model.c - the linker's ranker: logistic regression over the
 * candidate features, fitted by Newton's method, its NIL threshold, the
 * optional MLP reranker fitted by Adam, and their JSON file. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "link_internal.h"
#include "pe_util.h"

#define NF PE_LINK_NFEATURES
#define NP (NF + 1) /* weights and bias */
/* the largest ranker file read, in bytes (a file of 1 MiB less one byte
 * or more is refused) */
#define RANKER_FILE_MAX ((size_t)(1 << 20) - 2)
/* the most feature names a file may list (sizes the name -> feature map) */
#define PE_LINK_MAX_FEATURES_IN_FILE (4 * NF)

pe_status pe_link_model_new(pe_link_model **out)
{
    if (!out) return PE_ERR_INVALID;
    pe_link_model *m = calloc(1, sizeof *m);
    if (!m) return PE_ERR_NOMEM;
    m->w[PE_LINK_F_LOG_PRIOR] = 1.0;
    m->nil_threshold_short = -1;
    snprintf(m->trained_on, sizeof m->trained_on, "untrained: ranks by prior");
    *out = m;
    return PE_OK;
}

void pe_link_model_free(pe_link_model *m)
{
    free(m);
}

/* The "reranker" object of a version-2 file; 0 when out of memory. */
static int add_reranker(cJSON *j, const pe_link_model *m)
{
    cJSON *r = cJSON_AddObjectToObject(j, "reranker");
    if (!r) return 0;
    cJSON_AddNumberToObject(r, "hidden", m->hidden);
    cJSON_AddNumberToObject(r, "members", m->members);
    cJSON_AddNumberToObject(r, "epochs", m->epochs);
    cJSON_AddNumberToObject(r, "seed", (double)m->seed);
    cJSON *w1 = cJSON_AddArrayToObject(r, "w1");
    if (!w1) return 0;
    for (int h = 0; h < m->hidden; h++) {
        cJSON *row = cJSON_CreateDoubleArray(m->hw[h], NF);
        if (!row) return 0;
        cJSON_AddItemToArray(w1, row);
    }
    cJSON *b1 = cJSON_CreateDoubleArray(m->hb, m->hidden), *w2 = cJSON_CreateDoubleArray(m->ow, m->hidden);
    if (!b1 || !w2) { cJSON_Delete(b1); cJSON_Delete(w2); return 0; }
    cJSON_AddItemToObject(r, "b1", b1);
    cJSON_AddItemToObject(r, "w2", w2);
    return cJSON_AddNumberToObject(r, "b2", m->ob) != NULL;
}

/* Reads the "reranker" object into m; feat[i]: the feature of the file's
 * i-th name (n names). PE_OK or PE_ERR_PARSE with the message set. */
static pe_status read_reranker(const cJSON *r, const int *feat, int n, pe_link_model *m, const char *path, pe_error *err)
{
    const cJSON *hid = cJSON_GetObjectItemCaseSensitive(r, "hidden");
    const cJSON *w1 = cJSON_GetObjectItemCaseSensitive(r, "w1");
    const cJSON *b1 = cJSON_GetObjectItemCaseSensitive(r, "b1");
    const cJSON *w2 = cJSON_GetObjectItemCaseSensitive(r, "w2");
    const cJSON *b2 = cJSON_GetObjectItemCaseSensitive(r, "b2");
    if (!cJSON_IsObject(r))
        return pe_error_set(err, PE_ERR_PARSE, "%s: version 2 needs a \"reranker\" object", path);
    if (!cJSON_IsNumber(hid) || hid->valuedouble < 1 || hid->valuedouble > PE_LINK_MAX_HIDDEN ||
        hid->valuedouble != (int)hid->valuedouble)
        return pe_error_set(err, PE_ERR_PARSE, "%s: reranker: \"hidden\" must be an integer in 1..%d", path,
                            PE_LINK_MAX_HIDDEN);
    int H = (int)hid->valuedouble;
    if (!cJSON_IsArray(w1) || cJSON_GetArraySize(w1) != H || !cJSON_IsArray(b1) || cJSON_GetArraySize(b1) != H ||
        !cJSON_IsArray(w2) || cJSON_GetArraySize(w2) != H || !cJSON_IsNumber(b2) || !isfinite(b2->valuedouble))
        return pe_error_set(err, PE_ERR_PARSE, "%s: reranker: \"w1\", \"b1\", \"w2\" must hold %d entries and \"b2\" be a number",
                            path, H);
    memset(m->hw, 0, sizeof m->hw);
    for (int h = 0; h < H; h++) {
        const cJSON *row = cJSON_GetArrayItem(w1, h);
        const cJSON *bv = cJSON_GetArrayItem(b1, h), *ov = cJSON_GetArrayItem(w2, h);
        if (!cJSON_IsArray(row) || cJSON_GetArraySize(row) != n)
            return pe_error_set(err, PE_ERR_PARSE, "%s: reranker: w1 row %d must hold one weight a feature (%d)", path, h, n);
        if (!cJSON_IsNumber(bv) || !isfinite(bv->valuedouble) || !cJSON_IsNumber(ov) || !isfinite(ov->valuedouble))
            return pe_error_set(err, PE_ERR_PARSE, "%s: reranker: unit %d: finite b1 and w2 expected", path, h);
        for (int i = 0; i < n; i++) {
            const cJSON *v = cJSON_GetArrayItem(row, i);
            if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
                return pe_error_set(err, PE_ERR_PARSE, "%s: reranker: w1 row %d, entry %d: a finite number expected", path, h, i);
            m->hw[h][feat[i]] = v->valuedouble;
        }
        m->hb[h] = bv->valuedouble;
        m->ow[h] = ov->valuedouble;
    }
    m->ob = b2->valuedouble;
    m->hidden = H;
    const cJSON *v;
    /* informative fields: kept when in range, else 0 */
    if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(r, "members")) && v->valuedouble >= 1 &&
        v->valuedouble <= PE_LINK_MAX_HIDDEN)
        m->members = (int)v->valuedouble;
    if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(r, "epochs")) && v->valuedouble >= 1 && v->valuedouble <= 1e9)
        m->epochs = (int)v->valuedouble;
    if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(r, "seed")) && v->valuedouble >= 0 &&
        v->valuedouble <= 9007199254740992.0) /* 2^53: a JSON number holds it exactly */
        m->seed = (unsigned long long)v->valuedouble;
    return PE_OK;
}

pe_status pe_link_model_save(const pe_link_model *m, const char *path, pe_error *err)
{
    if (!m || !path) return pe_error_set(err, PE_ERR_INVALID, "no model or path");
    if (m->hidden < 0 || m->hidden > PE_LINK_MAX_HIDDEN)
        return pe_error_set(err, PE_ERR_INVALID, "reranker of %d units (0..%d)", m->hidden, PE_LINK_MAX_HIDDEN);
    cJSON *j = cJSON_CreateObject();
    cJSON *names = cJSON_CreateArray(), *w = cJSON_CreateArray();
    if (!j || !names || !w) { cJSON_Delete(j); cJSON_Delete(names); cJSON_Delete(w); return pe_error_set(err, PE_ERR_NOMEM, "out of memory"); }
    cJSON_AddItemToObject(j, "format", cJSON_CreateString("persona-link-ranker"));
    cJSON_AddItemToObject(j, "version", cJSON_CreateNumber(m->hidden > 0 ? 2 : 1));
    for (int i = 0; i < NF; i++) {
        cJSON_AddItemToArray(names, cJSON_CreateString(pe_link_feature_name((pe_link_feature)i)));
        cJSON_AddItemToArray(w, cJSON_CreateNumber(m->w[i]));
    }
    cJSON_AddItemToObject(j, "features", names);
    cJSON_AddItemToObject(j, "weights", w);
    cJSON_AddItemToObject(j, "bias", cJSON_CreateNumber(m->bias));
    cJSON_AddItemToObject(j, "nil_threshold", cJSON_CreateNumber(m->nil_threshold));
    cJSON_AddItemToObject(j, "nil_threshold_short", cJSON_CreateNumber(m->nil_threshold_short));
    cJSON_AddItemToObject(j, "l2", cJSON_CreateNumber(m->l2));
    cJSON_AddItemToObject(j, "trained_on", cJSON_CreateString(m->trained_on));
    if (m->hidden > 0 && !add_reranker(j, m)) {
        cJSON_Delete(j);
        return pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    }
    char *s = cJSON_Print(j);
    cJSON_Delete(j);
    if (!s) return pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    const void *parts[2] = {s, "\n"};
    const size_t lens[2] = {strlen(s), 1};
    pe_status st = pe_file_write(path, parts, lens, 2, err);
    free(s);
    return st;
}

pe_status pe_link_model_load(const char *path, pe_link_model **out, pe_error *err)
{
    if (!out) return pe_error_set(err, PE_ERR_INVALID, "no output");
    *out = NULL;
    if (!path) return pe_error_set(err, PE_ERR_INVALID, "no path");
    char *buf;
    pe_status rs = pe_file_read(path, RANKER_FILE_MAX, &buf, NULL, err);
    if (rs == PE_ERR_LIMIT) return pe_error_set(err, PE_ERR_PARSE, "%s: too big for a ranker file (over 1 MiB)", path);
    if (rs != PE_OK) return rs;
    cJSON *j = cJSON_Parse(buf);
    size_t at = j || !cJSON_GetErrorPtr() ? 0 : (size_t)(cJSON_GetErrorPtr() - buf);
    pe_free(buf);
    if (!j) return pe_error_set(err, PE_ERR_PARSE, "%s: not JSON (near byte %zu)", path, at);
    pe_status st = PE_OK;
    pe_link_model *m = calloc(1, sizeof *m);
    if (!m) { cJSON_Delete(j); return pe_error_set(err, PE_ERR_NOMEM, "out of memory"); }
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(j, "format");
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(j, "version");
    const cJSON *names = cJSON_GetObjectItemCaseSensitive(j, "features");
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(j, "weights");
    const cJSON *bias = cJSON_GetObjectItemCaseSensitive(j, "bias");
    const cJSON *nil = cJSON_GetObjectItemCaseSensitive(j, "nil_threshold");
    const cJSON *nil_short = cJSON_GetObjectItemCaseSensitive(j, "nil_threshold_short");
    const cJSON *l2 = cJSON_GetObjectItemCaseSensitive(j, "l2");
    const cJSON *on = cJSON_GetObjectItemCaseSensitive(j, "trained_on");
    if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, "persona-link-ranker") != 0) {
        st = pe_error_set(err, PE_ERR_PARSE, "%s: not a ranker file (\"format\" is not \"persona-link-ranker\")", path);
    } else if (!cJSON_IsNumber(ver)) {
        st = pe_error_set(err, PE_ERR_PARSE, "%s: no \"version\"", path);
    } else if (ver->valuedouble != 1 && ver->valuedouble != 2) {
        st = pe_error_set(err, PE_ERR_UNSUPPORTED, "%s: ranker file version %g (this build reads 1 and 2)", path,
                          ver->valuedouble);
    } else if (!cJSON_IsArray(names) || !cJSON_IsArray(w) || cJSON_GetArraySize(names) != cJSON_GetArraySize(w)) {
        st = pe_error_set(err, PE_ERR_PARSE, "%s: \"features\" and \"weights\" must be arrays of one length", path);
    } else if (!cJSON_IsNumber(bias) || !cJSON_IsNumber(nil) || !(nil->valuedouble >= 0 && nil->valuedouble <= 1)) {
        st = pe_error_set(err, PE_ERR_PARSE, "%s: \"bias\" must be a number and \"nil_threshold\" one in [0, 1]", path);
    } else if (nil_short && (!cJSON_IsNumber(nil_short) || !(nil_short->valuedouble == -1 ||
                                                            (nil_short->valuedouble >= 0 && nil_short->valuedouble <= 1)))) {
        st = pe_error_set(err, PE_ERR_PARSE, "%s: \"nil_threshold_short\" must be -1 or in [0, 1]", path);
    } else {
        int nn = cJSON_GetArraySize(names);
        int feat[PE_LINK_MAX_FEATURES_IN_FILE];
        if (nn > PE_LINK_MAX_FEATURES_IN_FILE)
            st = pe_error_set(err, PE_ERR_PARSE, "%s: %d features (this build knows %d)", path, nn, NF);
        for (int i = 0; i < nn && st == PE_OK; i++) {
            const cJSON *nm = cJSON_GetArrayItem(names, i), *wv = cJSON_GetArrayItem(w, i);
            if (!cJSON_IsString(nm) || !cJSON_IsNumber(wv) || !isfinite(wv->valuedouble)) {
                st = pe_error_set(err, PE_ERR_PARSE, "%s: feature %d: a name and a finite weight expected", path, i);
                break;
            }
            int k = 0;
            while (k < NF && strcmp(pe_link_feature_name((pe_link_feature)k), nm->valuestring) != 0) k++;
            if (k == NF) st = pe_error_set(err, PE_ERR_PARSE, "%s: unknown feature \"%s\"", path, nm->valuestring);
            else m->w[k] = wv->valuedouble;
            feat[i] = k;
        }
        if (st == PE_OK && ver->valuedouble == 2)
            st = read_reranker(cJSON_GetObjectItemCaseSensitive(j, "reranker"), feat, nn, m, path, err);
        m->bias = bias->valuedouble;
        m->nil_threshold = nil->valuedouble;
        m->nil_threshold_short = nil_short ? nil_short->valuedouble : -1;
        m->l2 = cJSON_IsNumber(l2) ? l2->valuedouble : 0;
        if (cJSON_IsString(on)) snprintf(m->trained_on, sizeof m->trained_on, "%s", on->valuestring);
    }
    cJSON_Delete(j);
    if (st != PE_OK) { free(m); return st; }
    *out = m;
    return PE_OK;
}

/* ---- training ------------------------------------------------------------- */

struct pe_link_trainset {
    double *f;        /* rows x NF */
    size_t rows, cap;
    size_t *first;    /* mention -> first row */
    size_t *count;    /* mention -> rows */
    int *gold;        /* mention -> gold index or -1 */
    size_t n, mcap;
};

pe_status pe_link_trainset_new(pe_link_trainset **out)
{
    if (!out) return PE_ERR_INVALID;
    *out = calloc(1, sizeof **out);
    return *out ? PE_OK : PE_ERR_NOMEM;
}

void pe_link_trainset_free(pe_link_trainset *t)
{
    if (!t) return;
    free(t->f); free(t->first); free(t->count); free(t->gold);
    free(t);
}

size_t pe_link_trainset_mentions(const pe_link_trainset *t)
{
    return t ? t->n : 0;
}

pe_status pe_link_trainset_add(pe_link_trainset *t, const double *f, size_t n, int gold)
{
    if (!t || (n && !f) || gold < -1 || (gold >= 0 && (size_t)gold >= n)) return PE_ERR_INVALID;
    for (size_t i = 0; i < n * NF; i++)
        if (!isfinite(f[i])) return PE_ERR_INVALID;
    if (t->rows + n > t->cap) {
        size_t nc = t->cap ? t->cap : 1024;
        while (nc < t->rows + n) nc *= 2;
        double *x = realloc(t->f, nc * NF * sizeof *x);
        if (!x) return PE_ERR_NOMEM;
        t->f = x;
        t->cap = nc;
    }
    if (t->n == t->mcap) {
        size_t nc = t->mcap ? t->mcap * 2 : 256;
        size_t *a = realloc(t->first, nc * sizeof *a);
        if (!a) return PE_ERR_NOMEM;
        t->first = a;
        size_t *b = realloc(t->count, nc * sizeof *b);
        if (!b) return PE_ERR_NOMEM;
        t->count = b;
        int *g = realloc(t->gold, nc * sizeof *g);
        if (!g) return PE_ERR_NOMEM;
        t->gold = g;
        t->mcap = nc;
    }
    if (n) memcpy(t->f + t->rows * NF, f, n * NF * sizeof *f);
    t->first[t->n] = t->rows;
    t->count[t->n] = n;
    t->gold[t->n] = gold;
    t->n++;
    t->rows += n;
    return PE_OK;
}

pe_link_train_options pe_link_train_options_default(void)
{
    pe_link_train_options o = {1.0, 50, 1, 0.02, 16, 3, 30, 1};
    return o;
}

/* ---- the reranker ---------------------------------------------------------- */

/* The next draw of the splitmix64 stream whose state is *s. */
static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = pe_mix64(*s);
    *s += 0x9E3779B97F4A7C15ull;
    return z;
}

/* uniform in [-a, a) */
static double uniform(uint64_t *s, double a)
{
    return a * (2.0 * (double)(splitmix(s) >> 11) / 9007199254740992.0 - 1.0);
}

enum { MLP_BATCH = 2048 };

/* One MLP of H units fitted by Adam on the standardised rows X (R x NF) with
 * labels y; its layers are written to w1 (H x NF), b1, w2 (H), *b2. */
static void fit_member(const double *X, const double *y, size_t R, int H, int epochs, uint64_t seed, size_t *perm,
                       double *par, double *grad, double *mom, double *vel)
{
    /* par: w1 (H x NF), b1 (H), w2 (H), b2 (1) */
    size_t np = (size_t)H * NF + 2 * (size_t)H + 1;
    double *w1 = par, *b1 = par + (size_t)H * NF, *w2 = b1 + H, *b2 = w2 + H;
    double *g1 = grad, *gb1 = grad + (size_t)H * NF, *g2 = gb1 + H, *gb2 = g2 + H;
    uint64_t rs = seed;
    double a1 = 1.0 / sqrt((double)NF), a2 = 1.0 / sqrt((double)H); /* PyTorch's nn.Linear initialisation */
    for (size_t i = 0; i < (size_t)H * NF; i++) w1[i] = uniform(&rs, a1);
    for (int h = 0; h < H; h++) b1[h] = uniform(&rs, a1);
    for (int h = 0; h < H; h++) w2[h] = uniform(&rs, a2);
    *b2 = uniform(&rs, a2);
    memset(mom, 0, np * sizeof *mom);
    memset(vel, 0, np * sizeof *vel);
    const double lr = 3e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
    double p1 = 1, p2 = 1; /* beta1^t, beta2^t */
    double hid[PE_LINK_MAX_HIDDEN], dh[PE_LINK_MAX_HIDDEN];
    for (size_t i = 0; i < R; i++) perm[i] = i;
    for (int ep = 0; ep < epochs; ep++) {
        for (size_t i = R; i > 1; i--) { /* Fisher-Yates */
            size_t k = (size_t)(splitmix(&rs) % i), t = perm[i - 1];
            perm[i - 1] = perm[k];
            perm[k] = t;
        }
        for (size_t b0 = 0; b0 < R; b0 += MLP_BATCH) {
            size_t b1e = b0 + MLP_BATCH < R ? b0 + MLP_BATCH : R;
            memset(grad, 0, np * sizeof *grad);
            for (size_t q = b0; q < b1e; q++) {
                const double *x = X + perm[q] * NF;
                double z = *b2;
                for (int h = 0; h < H; h++) {
                    const double *w = w1 + (size_t)h * NF;
                    double a = b1[h];
                    for (int i = 0; i < NF; i++) a += w[i] * x[i];
                    hid[h] = a > 0 ? a : 0;
                    z += w2[h] * hid[h];
                }
                /* d(loss)/dz of the logistic loss, the sum over the batch / its full size */
                double d = (1.0 / (1.0 + exp(-z)) - y[perm[q]]) / MLP_BATCH;
                *gb2 += d;
                for (int h = 0; h < H; h++) {
                    g2[h] += d * hid[h];
                    dh[h] = hid[h] > 0 ? d * w2[h] : 0;
                }
                for (int h = 0; h < H; h++) {
                    if (dh[h] == 0) continue;
                    double *g = g1 + (size_t)h * NF;
                    for (int i = 0; i < NF; i++) g[i] += dh[h] * x[i];
                    gb1[h] += dh[h];
                }
            }
            p1 *= beta1;
            p2 *= beta2;
            double c1 = lr / (1 - p1), c2 = 1 / (1 - p2);
            for (size_t i = 0; i < np; i++) {
                mom[i] = beta1 * mom[i] + (1 - beta1) * grad[i];
                vel[i] = beta2 * vel[i] + (1 - beta2) * grad[i] * grad[i];
                par[i] -= c1 * mom[i] / (sqrt(vel[i] * c2) + eps);
            }
        }
    }
}

/* The reranker of pe_link_train (see pe_link.h) into m. */
static pe_status fit_reranker(const pe_link_trainset *t, const pe_link_train_options *o, pe_link_model *m)
{
    int H = o->hidden, K = o->members;
    size_t R = t->rows, np = (size_t)H * NF + 2 * (size_t)H + 1;
    double *X = malloc(R * NF * sizeof *X), *y = malloc(R * sizeof *y);
    size_t *perm = malloc(R * sizeof *perm);
    double *buf = malloc(4 * np * sizeof *buf);
    pe_status st = PE_OK;
    if (!X || !y || !perm || !buf) { st = PE_ERR_NOMEM; goto out; }
    double mu[NF] = {0}, sd[NF] = {0};
    for (size_t r = 0; r < R; r++)
        for (int i = 0; i < NF; i++) mu[i] += t->f[r * NF + i];
    for (int i = 0; i < NF; i++) mu[i] /= (double)R;
    for (size_t r = 0; r < R; r++)
        for (int i = 0; i < NF; i++) sd[i] += (t->f[r * NF + i] - mu[i]) * (t->f[r * NF + i] - mu[i]);
    int live[NF];
    for (int i = 0; i < NF; i++) {
        live[i] = 0; /* a feature with one value in every row (exactly: the mean's rounding leaves sd a little above 0) */
        for (size_t r = 1; r < R && !live[i]; r++) live[i] = t->f[r * NF + i] != t->f[i];
        sd[i] = sqrt(sd[i] / (double)R) + 1e-6;
    }
    for (size_t r = 0; r < R; r++)
        for (int i = 0; i < NF; i++) X[r * NF + i] = live[i] ? (t->f[r * NF + i] - mu[i]) / sd[i] : 0;
    for (size_t mi = 0; mi < t->n; mi++)
        for (size_t r = 0; r < t->count[mi]; r++) y[t->first[mi] + r] = (int)r == t->gold[mi];
    m->ob = 0;
    for (int k = 0; k < K; k++) {
        double *par = buf, *w1 = par, *b1 = par + (size_t)H * NF, *w2 = b1 + H, *b2 = w2 + H;
        fit_member(X, y, R, H, o->epochs, o->seed + (uint64_t)k, perm, par, buf + np, buf + 2 * np, buf + 3 * np);
        /* fold the standardisation into the first layer; the mean logit of
         * the members is one layer whose output weights are divided by K */
        for (int h = 0; h < H; h++) {
            int u = k * H + h;
            double bias = b1[h];
            for (int i = 0; i < NF; i++) {
                double w = live[i] ? w1[(size_t)h * NF + i] / sd[i] : 0;
                m->hw[u][i] = w;
                bias -= w * mu[i];
            }
            m->hb[u] = bias;
            m->ow[u] = w2[h] / K;
        }
        m->ob += *b2 / K;
    }
    m->hidden = H * K;
    m->members = K;
    m->epochs = o->epochs;
    m->seed = o->seed;
out:
    free(X);
    free(y);
    free(perm);
    free(buf);
    return st;
}

/* Solves A x = b for symmetric positive definite A (n x n) by Cholesky, in
 * place (A's lower triangle becomes L). Returns 0, or -1 when A is not
 * positive definite. */
static int cholesky_solve(double *A, double *b, int n)
{
    for (int j = 0; j < n; j++) {
        double d = A[j * n + j];
        for (int k = 0; k < j; k++) d -= A[j * n + k] * A[j * n + k];
        if (!(d > 0)) return -1;
        d = sqrt(d);
        A[j * n + j] = d;
        for (int i = j + 1; i < n; i++) {
            double s = A[i * n + j];
            for (int k = 0; k < j; k++) s -= A[i * n + k] * A[j * n + k];
            A[i * n + j] = s / d;
        }
    }
    for (int i = 0; i < n; i++) { /* L y = b */
        double s = b[i];
        for (int k = 0; k < i; k++) s -= A[i * n + k] * b[k];
        b[i] = s / A[i * n + i];
    }
    for (int i = n - 1; i >= 0; i--) { /* L^T x = y */
        double s = b[i];
        for (int k = i + 1; k < n; k++) s -= A[k * n + i] * b[k];
        b[i] = s / A[i * n + i];
    }
    return 0;
}

typedef struct nil_pt { double s; int ok_linked; int nil_gold; } nil_pt;

static int cmp_nil(const void *a, const void *b)
{
    double x = ((const nil_pt *)a)->s, y = ((const nil_pt *)b)->s;
    return x < y ? -1 : x > y;
}

/* The threshold on pts (sorted here) that answers the most mentions right
 * while keeping at least (1 - loss) of those rightly linked without one. */
static double nil_tune(nil_pt *pts, size_t np, double loss)
{
    qsort(pts, np, sizeof *pts, cmp_nil);
    /* threshold below pts[i]: pts[0..i) NIL, pts[i..) linked */
    size_t linked0 = 0;
    for (size_t i = 0; i < np; i++) linked0 += pts[i].ok_linked;
    size_t right = linked0, best_right = right, best_i = 0, linked = linked0;
    double floor_linked = (1.0 - loss) * (double)linked0;
    for (size_t i = 0; i < np; i++) {
        right += pts[i].nil_gold;
        right -= pts[i].ok_linked;
        linked -= pts[i].ok_linked;
        if ((double)linked < floor_linked) break;
        if (i + 1 < np && pts[i + 1].s == pts[i].s) continue;
        if (right > best_right) { best_right = right; best_i = i + 1; }
    }
    if (best_i == 0) return 0;
    if (best_i >= np) return fmin(1.0, pts[np - 1].s + 1e-9);
    return 0.5 * (pts[best_i - 1].s + pts[best_i].s);
}

pe_status pe_link_train(pe_link_trainset *t, const pe_link_train_options *opt, pe_link_model *m, pe_error *err)
{
    pe_link_train_options o = opt ? *opt : pe_link_train_options_default();
    if (!t || !m) return pe_error_set(err, PE_ERR_INVALID, "no training set or model");
    if (t->rows == 0) return pe_error_set(err, PE_ERR_INVALID, "the training set has no candidate");
    if (!(o.l2 >= 0) || o.iterations <= 0 || o.hidden < 0 || (o.hidden > 0 && (o.members < 1 || o.epochs < 1)) ||
        (o.hidden > 0 && (o.hidden > PE_LINK_MAX_HIDDEN || o.members > PE_LINK_MAX_HIDDEN / o.hidden)))
        return pe_error_set(err, PE_ERR_INVALID, "bad training options (the reranker: units x members at most %d)",
                            PE_LINK_MAX_HIDDEN);
    double x[NP] = {0}; /* weights then bias */
    double H[NP * NP], g[NP];
    int it;
    for (it = 0; it < o.iterations; it++) {
        memset(H, 0, sizeof H);
        memset(g, 0, sizeof g);
        for (size_t mi = 0; mi < t->n; mi++) {
            for (size_t r = 0; r < t->count[mi]; r++) {
                const double *f = t->f + (t->first[mi] + r) * NF;
                double z = x[NF];
                for (int i = 0; i < NF; i++) z += x[i] * f[i];
                double p = 1.0 / (1.0 + exp(-z));
                double y = (int)r == t->gold[mi];
                double v[NP];
                memcpy(v, f, NF * sizeof *v);
                v[NF] = 1;
                double q = p * (1 - p);
                for (int i = 0; i < NP; i++) {
                    g[i] += (p - y) * v[i];
                    for (int k = 0; k <= i; k++) H[i * NP + k] += q * v[i] * v[k];
                }
            }
        }
        for (int i = 0; i < NP; i++)
            for (int k = 0; k < i; k++) H[k * NP + i] = H[i * NP + k];
        for (int i = 0; i < NF; i++) {
            g[i] += o.l2 * x[i];
            H[i * NP + i] += o.l2;
        }
        H[NF * NP + NF] += 1e-9; /* keeps the bias row definite on separable data */
        for (int i = 0; i < NF; i++) H[i * NP + i] += 1e-9;
        if (cholesky_solve(H, g, NP)) return pe_error_set(err, PE_ERR_INVALID, "training: singular Hessian");
        double step = 0;
        for (int i = 0; i < NP; i++) {
            x[i] -= g[i];
            step += g[i] * g[i];
        }
        if (sqrt(step) < 1e-9) break;
    }
    for (int i = 0; i < NF; i++) m->w[i] = x[i];
    m->bias = x[NF];
    m->l2 = o.l2;
    m->nil_threshold = m->nil_threshold_short = 0;
    m->hidden = m->members = m->epochs = 0;
    m->seed = 0;
    if (o.hidden > 0 && fit_reranker(t, &o, m) != PE_OK) return pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    if (o.tune_nil) {
        /* each mention: its best score, whether that candidate is gold, whether NIL is right */
        nil_pt *pts = malloc((t->n ? t->n : 1) * sizeof *pts);
        if (!pts) return pe_error_set(err, PE_ERR_NOMEM, "out of memory");
        size_t np = 0, nshort = 0;
        for (int pass = 0; pass < 2; pass++) { /* short texts first, then the rest */
            for (size_t mi = 0; mi < t->n; mi++) {
                if (t->count[mi] == 0) continue; /* NIL whatever the threshold */
                const double *f0 = t->f + t->first[mi] * NF;
                int is_short = link_features_short(f0);
                if (is_short != (pass == 0)) continue;
                /* the first candidate by rerank; its score meets the threshold */
                double best = -1, best_score = -1;
                size_t bi = 0;
                for (size_t r = 0; r < t->count[mi]; r++) {
                    const double *f = t->f + (t->first[mi] + r) * NF;
                    double s = pe_link_model_rerank(m, f), sc = pe_link_model_score(m, f);
                    if (s > best || (s == best && sc > best_score)) {
                        best = s; /* ties as the linker breaks them (cmp_cand_score): the higher score */
                        best_score = sc;
                        bi = r;
                    }
                }
                pts[np++] = (nil_pt){best_score, t->gold[mi] >= 0 && (int)bi == t->gold[mi], t->gold[mi] < 0};
            }
            if (pass == 0) nshort = np;
        }
        if (nshort == 0 || nshort == np) {
            m->nil_threshold = m->nil_threshold_short = nil_tune(pts, np, o.nil_max_loss);
        } else {
            m->nil_threshold_short = nil_tune(pts, nshort, o.nil_max_loss);
            m->nil_threshold = nil_tune(pts + nshort, np - nshort, o.nil_max_loss);
        }
        free(pts);
    }
    return PE_OK;
}
