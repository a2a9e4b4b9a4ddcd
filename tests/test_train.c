/* test_train.c - the encoder's training path (encoder/pe_train.h,
 * encoder/train_ops.h):
 *   - every op's backward against central differences, on its own;
 *   - the whole encoder's gradient of every parameter tensor against
 *     central differences (tiny config, dropout off and on);
 *   - gradients and 3 AdamW steps (warm-up, weight decay, clipping) against
 *     PyTorch autograd (tests/fixtures/train, scripts/gen_train_fixtures.py);
 *   - dropout: p = 0 equals pe_encoder_forward; seeded; mask rate;
 *   - save, pe_encoder_load, same hidden states; .pem through convert.
 *
 * Central differences: the forward runs in f32, the loss sum(y * r) is
 * summed in double and the step is the f32 difference actually applied, so
 * the difference quotient carries ~1e-3 absolute noise at step 1e-2/1e-3:
 * the checks allow 2% of the tensor's largest gradient plus that noise (a
 * wrong backward is off by O(1) of it). Against PyTorch (float64 reference
 * from the same f32 weights) the tolerance is 2e-5 relative to each
 * tensor's largest value. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attention.h"
#include "kernels.h"
#include "model_internal.h"
#include "pe_encoder.h"
#include "pe_test.h"
#include "pe_train.h"
#include "train_ops.h"

static char tmpdir[64];

/* ---- helpers ---- */

static uint64_t rng_state = 12345;
static double urand(void) /* [0, 1) */
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0;
}
static float nrand(void)
{
    double u1 = urand() + 1e-12, u2 = urand();
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}
static void fill(float *x, size_t n, float scale)
{
    for (size_t i = 0; i < n; i++) x[i] = scale * nrand();
}
static double dot(const float *a, const float *b, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

/* Central difference of loss() with respect to x[i], by the step actually
 * applied in f32. */
typedef double (*loss_fn)(void *ctx);
static double central(loss_fn f, void *ctx, float *x, size_t i, float h)
{
    const float x0 = x[i];
    x[i] = x0 + h;
    const double up = (double)x[i];
    const double lp = f(ctx);
    x[i] = x0 - h;
    const double dn = (double)x[i];
    const double lm = f(ctx);
    x[i] = x0;
    return (lp - lm) / (up - dn);
}

/* Checks grad (n) against central differences at up to k elements (the
 * largest gradient and others at random; all when n <= k). */
static int check_grad_ex(const char *what, loss_fn f, void *ctx, float *x, const float *grad, size_t n, int k, float h,
                         int zero)
{
    double gmax = 0.0;
    size_t imax = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs(grad[i]) > gmax) gmax = fabs(grad[i]), imax = i;
    int bad = 0;
    for (int j = 0; j < (n <= (size_t)k ? (int)n : k); j++) {
        size_t i = n <= (size_t)k ? (size_t)j : j == 0 ? imax : (size_t)(urand() * (double)n);
        double fd = central(f, ctx, x, i, h), an = grad[i];
        double tol = 0.02 * gmax + 1e-3;
        if (!(fabs(fd - an) <= tol)) {
            if (bad++ < 3)
                fprintf(stderr, "  %s[%zu]: analytic %.6g, central difference %.6g (tol %.2g)\n", what, i, an, fd, tol);
        }
    }
    PE_CHECK_MSG(bad == 0, "%s: %d of %d elements off", what, bad, k);
    if (zero) PE_CHECK_MSG(gmax < 1e-4, "%s: should vanish, max %g", what, gmax);
    else PE_CHECK_MSG(gmax > 1e-3, "%s: gradient vanishes (max %g): the check proves nothing", what, gmax);
    return bad;
}
static int check_grad(const char *what, loss_fn f, void *ctx, float *x, const float *grad, size_t n, int k, float h)
{
    return check_grad_ex(what, f, ctx, x, grad, n, k, h, 0);
}

/* ---- ops, each on its own ---- */

typedef struct lin_ctx {
    float *x, *W, *b, *y, *r;
    int M, N, K;
} lin_ctx;
static double lin_loss(void *p)
{
    lin_ctx *c = p;
    enc_tr_linear_fwd(c->x, c->W, c->b, c->y, c->M, c->N, c->K);
    return dot(c->y, c->r, (size_t)c->M * c->N);
}

static void test_op_linear(void)
{
    enum { M = 5, N = 4, K = 6 };
    float x[M * K], W[N * K], b[N], y[M * N], r[M * N], dx[M * K], dW[N * K] = {0}, db[N] = {0};
    fill(x, M * K, 1), fill(W, N * K, 1), fill(b, N, 1), fill(r, M * N, 1);
    lin_ctx c = {x, W, b, y, r, M, N, K};
    enc_tr_linear_bwd(x, W, r, dx, 0.0f, dW, db, M, N, K);
    check_grad("linear dx", lin_loss, &c, x, dx, M * K, M * K, 1e-2f);
    check_grad("linear dW", lin_loss, &c, W, dW, N * K, N * K, 1e-2f);
    check_grad("linear db", lin_loss, &c, b, db, N, N, 1e-2f);
    /* beta = 1 adds to dx; parameter gradients accumulate */
    float dx2[M * K];
    memcpy(dx2, dx, sizeof dx);
    enc_tr_linear_bwd(x, W, r, dx2, 1.0f, dW, db, M, N, K);
    double e = 0.0;
    for (int i = 0; i < M * K; i++) e = fmax(e, fabs(dx2[i] - 2 * dx[i]));
    PE_CHECK(e < 1e-5);
}

typedef struct ln_ctx {
    float *x, *g, *b, *y, *xhat, *rstd, *r;
    int rows, n;
} ln_ctx;
static double ln_loss(void *p)
{
    ln_ctx *c = p;
    enc_tr_layernorm_fwd(c->x, c->g, c->b, c->y, c->xhat, c->rstd, c->rows, c->n, 1e-12f);
    return dot(c->y, c->r, (size_t)c->rows * c->n);
}

static void test_op_layernorm(void)
{
    enum { R = 3, N = 7 };
    float x[R * N], g[N], b[N], y[R * N], xhat[R * N], rstd[R], r[R * N], dx[R * N], dg[N] = {0}, db[N] = {0};
    fill(x, R * N, 1), fill(g, N, 1), fill(b, N, 1), fill(r, R * N, 1);
    ln_ctx c = {x, g, b, y, xhat, rstd, r, R, N};
    ln_loss(&c);
    enc_tr_layernorm_bwd(r, xhat, rstd, g, dx, dg, db, R, N);
    check_grad("layernorm dx", ln_loss, &c, x, dx, R * N, R * N, 1e-2f);
    check_grad("layernorm dg", ln_loss, &c, g, dg, N, N, 1e-2f);
    check_grad("layernorm db", ln_loss, &c, b, db, N, N, 1e-2f);
    /* the forward equals the inference path's LayerNorm */
    ln_loss(&c);
    float ref[R * N];
    memcpy(ref, x, sizeof x);
    enc_layernorm_f32(ref, g, b, R, N, 1e-12f);
    double e = 0.0;
    for (int i = 0; i < R * N; i++) e = fmax(e, fabs(ref[i] - y[i]));
    PE_CHECK_MSG(e < 1e-6, "layernorm vs inference: %g", e);
    /* the vector paths against the scalar one on wider rows (whole vectors
     * and a tail, several pool tasks of rows), backward in place (dx = dy) */
    enum { R2 = 150, N2 = 263 };
    float *xs = malloc(sizeof(float) * R2 * N2), *gs = malloc(sizeof(float) * N2 * 2), *o[2][4];
    PE_CHECK(xs && gs);
    if (!xs || !gs) goto out;
    fill(xs, R2 * N2, 3), fill(gs, 2 * N2, 4);
    int ok = 1;
    for (int k = 0; k < 2; k++)
        for (int q = 0; q < 4; q++) ok &= (o[k][q] = calloc((size_t)R2 * N2 + 2 * N2, sizeof(float))) != NULL;
    PE_CHECK(ok);
    const pe_kernels_isa was = enc_kernels_active(), vec[2] = {PE_KERNELS_AVX512, PE_KERNELS_AVX2};
    for (int iv = 0; iv < 2 && ok; iv++) {
        if (!enc_kernels_supported(vec[iv])) continue;
        for (int k = 0; k < 2; k++) {
            enc_kernels_select(k ? vec[iv] : PE_KERNELS_BLAS);
            float *yk = o[k][0], *hk = o[k][1], *rk = o[k][2], *dk = o[k][3];
            enc_tr_layernorm_fwd(xs, gs, gs + N2, yk, hk, rk, R2, N2, 1e-12f);
            memcpy(dk, xs, sizeof(float) * R2 * N2); /* dy, then dx in place */
            memset(dk + (size_t)R2 * N2, 0, 2 * N2 * sizeof(float));
            enc_tr_layernorm_bwd(dk, hk, rk, gs, dk, dk + (size_t)R2 * N2, dk + (size_t)R2 * N2 + N2, R2, N2);
        }
        double ef = 0.0, eb = 0.0;
        for (size_t i = 0; i < (size_t)R2 * N2; i++) ef = fmax(ef, fabs(o[0][0][i] - o[1][0][i]));
        for (size_t i = 0; i < (size_t)R2 * N2 + 2 * N2; i++)
            eb = fmax(eb, fabs(o[0][3][i] - o[1][3][i]) / fmax(1.0, fabs(o[0][3][i])));
        PE_CHECK_MSG(ef < 1e-5 && eb < 1e-4, "layernorm %s vs scalar: forward %g, backward %g",
                     enc_kernels_isa_name(vec[iv]), ef, eb);
    }
    enc_kernels_select(was);
    for (int k = 0; k < 2; k++)
        for (int q = 0; q < 4; q++) free(o[k][q]);
out:
    free(xs);
    free(gs);
}

typedef struct gelu_ctx {
    float *u, *y, *r;
    int n;
} gelu_ctx;
static double gelu_loss(void *p)
{
    gelu_ctx *c = p;
    enc_tr_gelu_fwd(c->u, c->y, (size_t)c->n);
    return dot(c->y, c->r, (size_t)c->n);
}

static void test_op_gelu(void)
{
    enum { N = 24 };
    float u[N], y[N], r[N], du[N];
    fill(u, N, 2), fill(r, N, 1);
    gelu_ctx c = {u, y, r, N};
    enc_tr_gelu_bwd(u, r, du, N);
    check_grad("gelu du", gelu_loss, &c, u, du, N, N, 1e-3f);
    double e = 0.0;
    gelu_loss(&c);
    for (int i = 0; i < N; i++) e = fmax(e, fabs(y[i] - enc_gelu(u[i])));
    PE_CHECK_MSG(e < 1e-6, "gelu vs inference: %g", e);
}

/* Every path the CPU has (scalar libm, AVX2, AVX-512) against GELU and
 * its derivative in double, over [-10, 10] and the tails; the vector ones
 * on odd lengths (masked tails), chunked on the pool above 64K elements. */
static void test_op_gelu_paths(void)
{
    enum { N = 200003 };
    float *u = malloc(N * sizeof *u), *y = malloc(N * sizeof *y), *d = malloc(N * sizeof *d),
          *ones = malloc(N * sizeof *ones);
    PE_CHECK(u && y && d && ones);
    if (!u || !y || !d || !ones) goto done;
    for (int i = 0; i < N; i++) {
        u[i] = -10.0f + 20.0f * (float)i / (N - 1);
        ones[i] = 1.0f;
    }
    u[0] = -30.0f, u[1] = 30.0f, u[2] = 0.0f, u[3] = -1e-30f;
    const pe_kernels_isa was = enc_kernels_active(), isas[3] = {PE_KERNELS_BLAS, PE_KERNELS_AVX2, PE_KERNELS_AVX512};
    for (int k = 0; k < 3; k++) {
        if (enc_kernels_select(isas[k]) != 0) continue;
        enc_tr_gelu_fwd(u, y, N);
        enc_tr_gelu_bwd(u, ones, d, N);
        double ef = 0.0, eb = 0.0;
        for (int i = 0; i < N; i++) {
            const double x = u[i], cdf = 0.5 * (1.0 + erf(x / sqrt(2.0)));
            const double pdf = exp(-0.5 * x * x) / sqrt(2.0 * M_PI);
            /* relative to the value's scale, |x| for the forward and 1 for the derivative */
            ef = fmax(ef, fabs(y[i] - x * cdf) / fmax(fabs(x), 1e-3));
            eb = fmax(eb, fabs(d[i] - (cdf + x * pdf)));
        }
        PE_CHECK_MSG(ef < 1e-6 && eb < 1e-6, "%s: gelu error %g, derivative error %g",
                     enc_kernels_isa_name(isas[k]), ef, eb);
        /* the backward scales by dy and may work in place */
        for (int i = 0; i < N; i++) y[i] = 2.0f;
        enc_tr_gelu_bwd(u, y, y, N);
        double e2 = 0.0;
        for (int i = 0; i < N; i++) e2 = fmax(e2, fabs(y[i] - 2.0f * d[i]));
        PE_CHECK_MSG(e2 == 0.0, "%s: gelu bwd in place off by %g", enc_kernels_isa_name(isas[k]), e2);
    }
    enc_kernels_select(was);
done:
    free(u);
    free(y);
    free(d);
    free(ones);
}

typedef struct att_ctx {
    float *qkv, *ctx, *probs, *scratch, *r;
    const int *off;
    int n_seq, H, D, T;
    float p;
} att_ctx;
static double att_loss(void *p)
{
    att_ctx *c = p;
    enc_tr_attention_fwd(c->qkv, c->ctx, c->probs, c->scratch, c->off, c->n_seq, c->H, c->D, c->p, 7, 3);
    return dot(c->ctx, c->r, (size_t)c->T * c->H * c->D);
}

static void test_op_attention(void)
{
    enum { H = 2, D = 3, C = H * D, T = 9 };
    const int off[4] = {0, 4, 5, 9}; /* lengths 4, 1, 4 */
    float qkv[T * 3 * C], ctx[T * C], probs[H * (16 + 1 + 16)], scratch[2 * 16], r[T * C], dqkv[T * 3 * C];
    PE_CHECK_EQ_INT(enc_tr_attention_probs_floats(off, 3, H), H * (16 + 1 + 16));
    for (int pass = 0; pass < 2; pass++) {
        fill(qkv, T * 3 * C, 1), fill(r, T * C, 1);
        att_ctx c = {qkv, ctx, probs, scratch, r, off, 3, H, D, T, pass ? 0.3f : 0.0f};
        att_loss(&c);
        enc_tr_attention_bwd(qkv, probs, r, dqkv, scratch, off, 3, H, D, c.p, 7, 3);
        check_grad(pass ? "attention dqkv (dropout 0.3)" : "attention dqkv", att_loss, &c, qkv, dqkv, T * 3 * C,
                   T * 3 * C, 1e-2f);
        if (pass == 0) { /* the forward equals the inference path's attention */
            float ref[T * C], sc[4096];
            att_loss(&c);
            PE_CHECK(enc_attention_scratch_floats(4, H, D) <= 4096);
            enc_attention_f32_blas(qkv, ref, off, 3, H, D, sc);
            double e = 0.0;
            for (int i = 0; i < T * C; i++) e = fmax(e, fabs(ref[i] - ctx[i]));
            PE_CHECK_MSG(e < 1e-5, "attention vs inference: %g", e);
        }
        /* the AVX-512 path (one task per sequence and head) against the
         * scalar one, dropout's mask included */
        for (int iv = 0; iv < 2; iv++) {
            const pe_kernels_isa vec = iv ? PE_KERNELS_AVX2 : PE_KERNELS_AVX512;
            if (!enc_kernels_supported(vec)) continue;
            const pe_kernels_isa was = enc_kernels_active();
            float c2[2][T * C], d2[2][T * 3 * C], p2[2][H * (16 + 1 + 16)];
            for (int k = 0; k < 2; k++) {
                enc_kernels_select(k ? vec : PE_KERNELS_BLAS);
                enc_tr_attention_fwd(qkv, c2[k], p2[k], scratch, off, 3, H, D, c.p, 7, 3);
                enc_tr_attention_bwd(qkv, p2[k], r, d2[k], scratch, off, 3, H, D, c.p, 7, 3);
            }
            enc_kernels_select(was);
            double e = 0.0;
            for (int i = 0; i < T * C; i++) e = fmax(e, fabs(c2[0][i] - c2[1][i]));
            for (int i = 0; i < T * 3 * C; i++) e = fmax(e, fabs(d2[0][i] - d2[1][i]));
            for (int i = 0; i < H * 33; i++) e = fmax(e, fabs(p2[0][i] - p2[1][i]));
            PE_CHECK_MSG(e < 1e-5, "attention %s vs scalar (p %g): %g", enc_kernels_isa_name(vec), (double)c.p, e);
        }
    }
}

/* Larger blocks than test_op_attention's (several 6-row blocks, 16- and
 * 8-lane chunks and a tail): the AVX-512 and AVX2 paths against the scalar
 * one, each where the CPU has it. */
static void attention_path(pe_kernels_isa vec)
{
    enum { H = 2, D = 40, C = H * D, T = 37 + 128 };
    const int off[3] = {0, 37, T};
    const size_t np = enc_tr_attention_probs_floats(off, 2, H);
    float *qkv = malloc(sizeof(float) * T * 3 * C), *r = malloc(sizeof(float) * T * C), *sc = malloc(sizeof(float) * 2 * 128 * 128);
    float *c2[2], *d2[2], *p2[2];
    for (int k = 0; k < 2; k++) {
        c2[k] = malloc(sizeof(float) * T * C);
        d2[k] = malloc(sizeof(float) * T * 3 * C);
        p2[k] = malloc(sizeof(float) * np);
    }
    fill(qkv, T * 3 * C, 1), fill(r, T * C, 1);
    const pe_kernels_isa was = enc_kernels_active();
    for (int pass = 0; pass < 2; pass++) {
        const float p = pass ? 0.1f : 0.0f;
        for (int k = 0; k < 2; k++) {
            enc_kernels_select(k ? vec : PE_KERNELS_BLAS);
            enc_tr_attention_fwd(qkv, c2[k], p2[k], sc, off, 2, H, D, p, 11, 5);
            enc_tr_attention_bwd(qkv, p2[k], r, d2[k], sc, off, 2, H, D, p, 11, 5);
        }
        double e = 0.0, m = 0.0;
        for (int i = 0; i < T * C; i++) e = fmax(e, fabs(c2[0][i] - c2[1][i])), m = fmax(m, fabs(c2[0][i]));
        for (int i = 0; i < T * 3 * C; i++) e = fmax(e, fabs(d2[0][i] - d2[1][i])), m = fmax(m, fabs(d2[0][i]));
        for (size_t i = 0; i < np; i++) e = fmax(e, fabs(p2[0][i] - p2[1][i]));
        PE_CHECK_MSG(e < 2e-6 * fmax(m, 1.0), "attention %s vs scalar (p %g): %g (scale %g)",
                     enc_kernels_isa_name(vec), (double)p, e, m);
    }
    enc_kernels_select(was);
    for (int k = 0; k < 2; k++) free(c2[k]), free(d2[k]), free(p2[k]);
    free(qkv), free(r), free(sc);
}

static void test_op_attention_paths(void)
{
    if (enc_kernels_supported(PE_KERNELS_AVX512)) attention_path(PE_KERNELS_AVX512);
    if (enc_kernels_supported(PE_KERNELS_AVX2)) attention_path(PE_KERNELS_AVX2);
}

/* The vector cross-entropy rows (enc_k512_ce_row, enc_k256_ce_row) against
 * a double reference: loss, gradient gscale (softmax - onehot), the first
 * index of the maximum (ties), odd lengths (tails), and NaN for a row that
 * holds an infinity or a NaN. */
static void test_op_ce_row_paths(void)
{
#if PE_KERNELS_X86
    const int Vs[] = {1, 7, 8, 9, 17, 16003};
    float *z = malloc(16003 * sizeof *z), *z0 = malloc(16003 * sizeof *z0);
    PE_CHECK(z && z0);
    for (int iv = 0; iv < 2 && z && z0; iv++) {
        const pe_kernels_isa isa = iv ? PE_KERNELS_AVX2 : PE_KERNELS_AVX512;
        if (!enc_kernels_supported(isa)) continue;
        double (*const ce_row)(float *, int, int, float, int, int *) = iv ? enc_k256_ce_row : enc_k512_ce_row;
        for (size_t k = 0; k < sizeof Vs / sizeof *Vs; k++) {
            const int V = Vs[k], y = V / 2;
            uint64_t st = 12345 + (uint64_t)V;
            for (int v = 0; v < V; v++) {
                st = st * 6364136223846793005ull + 1442695040888963407ull;
                z0[v] = (float)((double)(st >> 40) / 16777216.0 * 20.0 - 10.0);
            }
            if (V > 3) z0[V - 1] = z0[1] = 30.0f; /* a tie: the first index wins */
            double mx = z0[0], s = 0.0;
            int want = 0;
            for (int v = 1; v < V; v++)
                if (z0[v] > mx) mx = z0[v], want = v;
            for (int v = 0; v < V; v++) s += exp((double)z0[v] - mx);
            const double loss = mx + log(s) - z0[y];
            memcpy(z, z0, V * sizeof *z);
            int arg = -1;
            const double got = ce_row(z, V, y, 0.5f, 1, &arg);
            PE_CHECK_MSG(fabs(got - loss) < 1e-5 * fmax(1.0, fabs(loss)), "%s V %d: loss %.9g against %.9g",
                         enc_kernels_isa_name(isa), V, got, loss);
            PE_CHECK_MSG(arg == want, "%s V %d: argmax %d against %d", enc_kernels_isa_name(isa), V, arg, want);
            double e = 0.0;
            for (int v = 0; v < V; v++) {
                const double g = 0.5 * exp((double)z0[v] - mx) / s - (v == y ? 0.5 : 0.0);
                e = fmax(e, fabs(z[v] - g));
            }
            PE_CHECK_MSG(e < 1e-6, "%s V %d: gradient off by %g", enc_kernels_isa_name(isa), V, e);
            /* without grad the logits stay */
            memcpy(z, z0, V * sizeof *z);
            const double got2 = ce_row(z, V, y, 0.5f, 0, &arg);
            PE_CHECK(got2 == got && memcmp(z, z0, V * sizeof *z) == 0);
            /* an infinity or a NaN: NaN loss, NaN gradient */
            memcpy(z, z0, V * sizeof *z);
            z[V - 1] = k % 2 ? INFINITY : NAN;
            const double bad = ce_row(z, V, y, 0.5f, 1, &arg);
            PE_CHECK_MSG(isnan(bad) && isnan(z[0]), "%s V %d: a non-finite logit gave loss %g", enc_kernels_isa_name(isa),
                         V, bad);
        }
    }
    free(z);
    free(z0);
#endif
}

typedef struct emb_ctx {
    float *word, *pos, *type, *x, *r;
    const int32_t *ids, *positions, *types;
    int T, C;
} emb_ctx;
static double emb_loss(void *p)
{
    emb_ctx *c = p;
    enc_tr_embed_fwd(c->word, c->pos, c->type, c->ids, c->positions, c->types, c->x, c->T, c->C);
    return dot(c->x, c->r, (size_t)c->T * c->C);
}

static void test_op_embed(void)
{
    enum { V = 6, P = 4, Y = 2, T = 5, C = 3 };
    const int32_t ids[T] = {1, 4, 1, 0, 5}, pos[T] = {0, 1, 2, 0, 1}, types[T] = {0, 1, 1, 0, 0};
    float word[V * C], posw[P * C], type[Y * C], x[T * C], r[T * C];
    float dw[V * C] = {0}, dp[P * C] = {0}, dt[Y * C] = {0};
    fill(word, V * C, 1), fill(posw, P * C, 1), fill(type, Y * C, 1), fill(r, T * C, 1);
    emb_ctx c = {word, posw, type, x, r, ids, pos, types, T, C};
    enc_tr_embed_bwd(r, ids, pos, types, dw, dp, dt, T, C);
    check_grad("embed dword", emb_loss, &c, word, dw, V * C, V * C, 1e-2f);
    check_grad("embed dpos", emb_loss, &c, posw, dp, P * C, P * C, 1e-2f);
    check_grad("embed dtype", emb_loss, &c, type, dt, Y * C, Y * C, 1e-2f);
    for (int j = 0; j < C; j++) PE_CHECK(dw[2 * C + j] == 0.0f); /* id 2 unused: no gradient */
}

static void test_op_dropout(void)
{
    enum { N = 200000 };
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    PE_CHECK(x && y);
    if (!x || !y) goto done;
    const float ps[3] = {0.1f, 0.5f, 0.9f};
    for (int k = 0; k < 3; k++) {
        for (int i = 0; i < N; i++) x[i] = 1.0f;
        size_t z = enc_tr_dropout(x, N, ps[k], 42, 1, 0);
        double rate = (double)z / N;
        PE_CHECK_MSG(fabs(rate - ps[k]) < 0.01, "p %g: dropped %g", (double)ps[k], rate);
        size_t zero = 0, kept_ok = 0;
        for (int i = 0; i < N; i++) {
            zero += x[i] == 0.0f;
            kept_ok += fabsf(x[i] - 1.0f / (1.0f - ps[k])) < 1e-6f;
        }
        PE_CHECK_EQ_INT(zero, z);
        PE_CHECK_EQ_INT(zero + kept_ok, N);
        /* the same (seed, stream, index) gives the same mask, a window of it too */
        for (int i = 0; i < N; i++) y[i] = 1.0f;
        enc_tr_dropout(y + 1000, 5000, ps[k], 42, 1, 1000);
        PE_CHECK(memcmp(x + 1000, y + 1000, 5000 * sizeof *x) == 0);
        /* another stream or seed, another mask */
        for (int i = 0; i < N; i++) y[i] = 1.0f;
        enc_tr_dropout(y, N, ps[k], 42, 2, 0);
        PE_CHECK(memcmp(x, y, N * sizeof *x) != 0);
        for (int i = 0; i < N; i++) y[i] = 1.0f;
        enc_tr_dropout(y, N, ps[k], 43, 1, 0);
        PE_CHECK(memcmp(x, y, N * sizeof *x) != 0);
    }
    /* every path gives the same mask and values, bit for bit, on any window
     * (odd offsets and lengths: the vector paths' tails) */
    {
        const pe_kernels_isa was = enc_kernels_active();
        for (int i = 0; i < N; i++) x[i] = y[i] = (float)(i % 97) - 48.0f;
        enc_kernels_select(PE_KERNELS_BLAS);
        const size_t z0 = enc_tr_dropout(x + 3, N - 10, 0.1f, 9, 4, 3);
        const size_t z1 = enc_tr_dropout(x + 7, 77, 0.3f, 9, 5, 7);
        for (int iv = 0; iv < 2; iv++) {
            if (enc_kernels_select(iv ? PE_KERNELS_AVX2 : PE_KERNELS_AVX512) != 0) continue;
            for (int i = 0; i < N; i++) y[i] = (float)(i % 97) - 48.0f;
            float *c = malloc(N * sizeof *c);
            PE_CHECK_EQ_INT(enc_tr_dropout_copy(y + 3, c + 3, N - 10, 0.1f, 9, 4, 3), z0);
            memcpy(y + 3, c + 3, (N - 10) * sizeof *y);
            PE_CHECK_EQ_INT(enc_tr_dropout(y + 7, 77, 0.3f, 9, 5, 7), z1);
            PE_CHECK_MSG(memcmp(x, y, N * sizeof *x) == 0, "dropout %s differs from the scalar mask",
                         enc_kernels_isa_name(iv ? PE_KERNELS_AVX2 : PE_KERNELS_AVX512));
            free(c);
        }
        enc_kernels_select(was);
    }
    for (int i = 0; i < 10; i++) x[i] = (float)i;
    PE_CHECK_EQ_INT(enc_tr_dropout(x, 10, 0.0f, 1, 1, 0), 0);
    for (int i = 0; i < 10; i++) PE_CHECK(x[i] == (float)i);
done:
    free(x);
    free(y);
}

/* ---- the whole encoder against central differences ---- */

typedef struct model_ctx {
    pe_train *tr;
    const int32_t *ids, *types;
    const int *lengths;
    int n_seq;
    pe_train_forward_options fo;
    float *hidden, *r;
    size_t TC;
} model_ctx;
static double model_loss(void *p)
{
    model_ctx *c = p;
    if (pe_train_forward(c->tr, c->ids, c->types, c->lengths, c->n_seq, &c->fo, c->hidden) != PE_OK) return NAN;
    return dot(c->hidden, c->r, c->TC);
}

static pe_encoder_config tiny_config(void)
{
    pe_encoder_config g = {.vocab_size = 30, .hidden = 8, .layers = 2, .heads = 2, .intermediate = 16,
                           .max_position = 16, .type_vocab = 2, .layer_norm_eps = 1e-12f};
    return g;
}

static void test_model_gradcheck(void)
{
    pe_encoder_config g = tiny_config();
    pe_train *tr = NULL;
    pe_error err;
    PE_CHECK_EQ_INT(pe_train_new_random(&g, 5, &tr, &err), PE_OK);
    if (!tr) return;
    PE_CHECK_EQ_INT(pe_train_n_params(tr), 5 + 16 * 2);
    /* larger weights than the N(0, 0.02) init, so that every path carries gradient */
    for (int i = 0; i < pe_train_n_params(tr); i++) {
        pe_train_param p;
        pe_train_param_at(tr, i, &p);
        int ln = strstr(p.name, "LayerNorm.weight") != NULL;
        for (int64_t j = 0; j < p.numel; j++)
            p.data[j] = ln ? 1.0f + 0.2f * nrand() : (p.ndim == 2 ? (strstr(p.name, "embeddings") ? 1.0f : 0.5f) : 0.2f) * nrand();
    }
    const int lengths[3] = {4, 1, 6};
    enum { T = 11 };
    int32_t ids[T], types[T];
    for (int t = 0; t < T; t++) ids[t] = (int32_t)(urand() * 30), types[t] = (int32_t)(urand() * 2);
    float hidden[T * 8], r[T * 8];
    fill(r, T * 8, 1);
    for (int pass = 0; pass < 2; pass++) {
        model_ctx c = {tr, ids, types, lengths, 3, pe_train_forward_options_default(), hidden, r, T * 8};
        if (pass) c.fo.hidden_dropout = 0.2f, c.fo.attention_dropout = 0.2f, c.fo.seed = 99;
        pe_train_zero_grad(tr);
        PE_CHECK(!isnan(model_loss(&c)));
        PE_CHECK_EQ_INT(pe_train_backward(tr, r), PE_OK);
        for (int i = 0; i < pe_train_n_params(tr); i++) {
            pe_train_param p;
            pe_train_param_at(tr, i, &p);
            char what[160];
            snprintf(what, sizeof what, "%s%s", p.name, pass ? " (dropout)" : "");
            /* the position rows past the longest sequence get no gradient: look at the used ones */
            size_t n = (size_t)p.numel;
            if (strstr(p.name, "position_embeddings")) n = 6 * 8;
            /* softmax ignores what adds the same score to a whole row: q . b_k,
             * so the key bias has no gradient (torch's float64 gives ~1e-17) */
            check_grad_ex(what, model_loss, &c, p.data, p.grad, n, 12, 1e-2f,
                          strstr(p.name, "attention.self.key.bias") != NULL);
        }
    }
    pe_train_free(tr);
}

/* ---- against PyTorch ---- */

typedef struct fixture {
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
    char path[512];
    pe_error err;
    memset(f, 0, sizeof *f);
    snprintf(path, sizeof path, "%s/train/expected.safetensors", PE_FIXTURES);
    if (enc_map_file(path, &f->map, &f->size, &err) != PE_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 0;
    }
    if (enc_safetensors_parse(path, f->map, f->size, &f->t, &f->n, &err) != PE_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 0;
    }
    return 1;
}

static void fx_close(fixture *f)
{
    enc_stored_tensors_free(f->t, f->n);
    enc_unmap_file(f->map, f->size);
}

/* max |a - b| / max |b|: relative to the tensor's scale */
static double rel_err(const float *a, const float *b, size_t n)
{
    double e = 0.0, m = 1e-30;
    for (size_t i = 0; i < n; i++) {
        e = fmax(e, fabs((double)a[i] - b[i]));
        m = fmax(m, fabs((double)b[i]));
    }
    return m > 0 ? e / m : e;
}

static pe_encoder *load_tiny(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/train/tiny", PE_FIXTURES);
    pe_encoder_options o = pe_encoder_options_default();
    o.backend = PE_ENCODER_CPU;
    o.threads = 1;
    pe_encoder *enc = NULL;
    pe_error err;
    pe_status st = pe_encoder_load(path, &o, &enc, &err);
    PE_CHECK_MSG(st == PE_OK, "%s", err.msg);
    return enc;
}

static void test_against_torch(void)
{
    fixture f;
    pe_encoder *enc = load_tiny();
    if (!fx_open(&f) || !enc) {
        PE_CHECK(0);
        pe_encoder_free(enc);
        return;
    }
    const pe_encoder_stored_tensor *ids = fx_get(&f, "batch.ids"), *types = fx_get(&f, "batch.types"),
                                   *len = fx_get(&f, "batch.lengths"), *hid = fx_get(&f, "hidden"),
                                   *norm = fx_get(&f, "norm");
    const pe_encoder_stored_tensor *r[3] = {fx_get(&f, "loss.r0"), fx_get(&f, "loss.r1"), fx_get(&f, "loss.r2")};
    pe_train *tr = NULL;
    pe_error err;
    if (!ids || !types || !len || !hid || !norm || !r[0] || !r[1] || !r[2]) {
        PE_CHECK(0);
        goto done;
    }
    PE_CHECK_EQ_INT(pe_train_new_from_encoder(enc, &tr, &err), PE_OK);
    if (!tr) goto done;
    const int n_seq = (int)len->shape[0], T = (int)ids->shape[0], C = pe_train_config(tr)->hidden;
    int lengths[8];
    for (int s = 0; s < n_seq && s < 8; s++) lengths[s] = ((const int32_t *)len->data)[s];
    float *hidden = malloc((size_t)T * C * sizeof *hidden);
    PE_CHECK_EQ_INT(pe_train_forward(tr, ids->data, types->data, lengths, n_seq, NULL, hidden), PE_OK);
    double e = rel_err(hidden, hid->data, (size_t)T * C);
    PE_CHECK_MSG(e < 2e-5, "hidden: relative error %g", e);
    PE_CHECK_EQ_INT(pe_train_backward(tr, r[0]->data), PE_OK);
    double worst = 0.0;
    char worst_name[160] = "";
    for (int i = 0; i < pe_train_n_params(tr); i++) {
        pe_train_param p;
        pe_train_param_at(tr, i, &p);
        char name[160];
        snprintf(name, sizeof name, "grad.%s", p.name);
        const pe_encoder_stored_tensor *x = fx_get(&f, name);
        if (!x) {
            PE_CHECK(0);
            continue;
        }
        PE_CHECK_EQ_INT(enc_shape_numel(x->shape, x->ndim), p.numel);
        if (strstr(p.name, "attention.self.key.bias")) { /* 0 in exact arithmetic (test_model_gradcheck) */
            for (int64_t j = 0; j < p.numel; j++) PE_CHECK(fabs(p.grad[j]) < 1e-5);
            continue;
        }
        e = rel_err(p.grad, x->data, (size_t)p.numel);
        if (e > worst) snprintf(worst_name, sizeof worst_name, "%s", p.name);
        worst = fmax(worst, e);
        PE_CHECK_MSG(e < 2e-5, "%s: relative error %g", name, e);
    }
    fprintf(stderr, "  gradients vs torch: worst relative error %.3g (%s)\n", worst, worst_name);
    /* a second backward adds the same again (micro-batches accumulate) */
    {
        pe_train_param p;
        PE_CHECK_EQ_INT(pe_train_param_find(tr, "encoder.layer.1.intermediate.dense.weight", &p), PE_OK);
        float *g1 = malloc((size_t)p.numel * sizeof *g1);
        if (g1) {
            memcpy(g1, p.grad, (size_t)p.numel * sizeof *g1);
            PE_CHECK_EQ_INT(pe_train_backward(tr, r[0]->data), PE_OK);
            double acc = 0.0;
            for (int64_t j = 0; j < p.numel; j++) acc = fmax(acc, fabs(p.grad[j] - 2.0f * g1[j]));
            PE_CHECK_MSG(acc < 1e-4, "accumulated gradient off by %g", acc);
            free(g1);
        }
    }

    /* 3 steps: clip to 1, AdamW lr 1e-2 wd 0.1, warm-up 2 of 10 */
    pe_adamw_options ao = pe_adamw_options_default();
    ao.weight_decay = 0.1f;
    pe_adamw *opt = NULL;
    PE_CHECK_EQ_INT(pe_adamw_new(tr, &ao, &opt, &err), PE_OK);
    for (int k = 0; opt && k < 3; k++) {
        double nrm = 0.0;
        pe_train_zero_grad(tr);
        PE_CHECK_EQ_INT(pe_train_forward(tr, ids->data, types->data, lengths, n_seq, NULL, hidden), PE_OK);
        PE_CHECK_EQ_INT(pe_train_backward(tr, r[k]->data), PE_OK);
        PE_CHECK_EQ_INT(pe_train_clip_grad_norm(tr, 1.0f, &nrm), PE_OK);
        const double want = ((const float *)norm->data)[k];
        PE_CHECK_MSG(fabs(nrm - want) <= 2e-5 * want, "step %d: norm %.8g, torch %.8g", k + 1, nrm, want);
        PE_CHECK_EQ_INT(pe_adamw_step(opt, pe_lr_linear_warmup(1e-2f, k, 2, 10)), PE_OK);
    }
    PE_CHECK_EQ_INT(pe_adamw_steps(opt), 3);
    worst = 0.0;
    worst_name[0] = 0;
    for (int i = 0; i < pe_train_n_params(tr); i++) {
        pe_train_param p;
        pe_train_param_at(tr, i, &p);
        char name[160];
        snprintf(name, sizeof name, "step3.%s", p.name);
        const pe_encoder_stored_tensor *x = fx_get(&f, name);
        if (!x) {
            PE_CHECK(0);
            continue;
        }
        if (strstr(p.name, "attention.self.key.bias")) {
            /* its gradient is rounding noise (see test_model_gradcheck) that
             * Adam scales up to +-lr per step: only bounded */
            pe_encoder_tensor_view v0;
            char hf[160];
            snprintf(hf, sizeof hf, "%s", p.name);
            PE_CHECK_EQ_INT(pe_encoder_tensor(enc, hf, &v0), PE_OK);
            for (int64_t j = 0; j < p.numel; j++) PE_CHECK(fabs(p.data[j] - v0.data[j]) <= 0.0151);
            continue;
        }
        e = rel_err(p.data, x->data, (size_t)p.numel);
        if (e > worst) snprintf(worst_name, sizeof worst_name, "%s", p.name);
        worst = fmax(worst, e);
        PE_CHECK_MSG(e < 2e-5, "%s: relative error %g", name, e);
    }
    fprintf(stderr, "  weights after 3 AdamW steps vs torch: worst relative error %.3g (%s)\n", worst, worst_name);
    pe_adamw_free(opt);
    free(hidden);
done:
    pe_train_free(tr);
    pe_encoder_free(enc);
    fx_close(&f);
}

/* ---- dropout through the model, equality with the inference forward ---- */

static void test_dropout_model(void)
{
    pe_encoder *enc = load_tiny();
    pe_train *tr = NULL;
    pe_error err;
    if (!enc || pe_train_new_from_encoder(enc, &tr, &err) != PE_OK) {
        PE_CHECK(0);
        pe_encoder_free(enc);
        return;
    }
    const int lengths[3] = {7, 2, 12};
    enum { T = 21, C = 8 };
    int32_t ids[T], types[T];
    for (int t = 0; t < T; t++) ids[t] = (int32_t)(urand() * 30), types[t] = t % 2;
    float ref[T * C], a[T * C], b[T * C];
    PE_CHECK_EQ_INT(pe_encoder_forward(enc, ids, types, lengths, 3, -1, ref), PE_OK);
    PE_CHECK_EQ_INT(pe_train_forward(tr, ids, types, lengths, 3, NULL, a), PE_OK);
    double e = 0.0;
    for (int i = 0; i < T * C; i++) e = fmax(e, fabs(a[i] - ref[i]));
    PE_CHECK_MSG(e < 1e-5, "p = 0 vs pe_encoder_forward: %g", e);
    pe_train_forward_options fo = pe_train_forward_options_default();
    fo.seed = 1234;
    PE_CHECK_EQ_INT(pe_train_forward(tr, ids, types, lengths, 3, &fo, b), PE_OK); /* p = 0 with a seed: off */
    PE_CHECK(memcmp(a, b, sizeof a) == 0);
    fo.hidden_dropout = 0.1f;
    fo.attention_dropout = 0.1f;
    PE_CHECK_EQ_INT(pe_train_forward(tr, ids, types, lengths, 3, &fo, a), PE_OK);
    PE_CHECK_EQ_INT(pe_train_forward(tr, ids, types, lengths, 3, &fo, b), PE_OK);
    PE_CHECK(memcmp(a, b, sizeof a) == 0);
    e = 0.0;
    for (int i = 0; i < T * C; i++) e = fmax(e, fabs(a[i] - ref[i]));
    PE_CHECK_MSG(e > 1e-3, "dropout 0.1 changed nothing (%g)", e);
    fo.seed = 1235;
    PE_CHECK_EQ_INT(pe_train_forward(tr, ids, types, lengths, 3, &fo, b), PE_OK);
    PE_CHECK(memcmp(a, b, sizeof a) != 0);
    /* bad input */
    fo.hidden_dropout = 1.0f;
    PE_CHECK_EQ_INT(pe_train_forward(tr, ids, types, lengths, 3, &fo, b), PE_ERR_INVALID);
    PE_CHECK_EQ_INT(pe_train_backward(tr, a), PE_ERR_INVALID); /* the last forward failed */
    PE_CHECK(strstr(pe_train_errmsg(tr), "no successful forward") != NULL);
    ids[3] = 30;
    PE_CHECK_EQ_INT(pe_train_forward(tr, ids, types, lengths, 3, NULL, b), PE_ERR_INVALID);
    PE_CHECK(strstr(pe_train_errmsg(tr), "token 3") != NULL);
    ids[3] = 0;
    const int bad_len[1] = {17};
    PE_CHECK_EQ_INT(pe_train_forward(tr, ids, types, bad_len, 1, NULL, b), PE_ERR_INVALID);
    pe_train_free(tr);
    pe_encoder_free(enc);
}

/* ---- schedule, clipping, optimiser details ---- */

static void test_schedule_and_clip(void)
{
    PE_CHECK_NEAR(pe_lr_linear_warmup(1.0f, 0, 4, 10), 0.0, 1e-7);
    PE_CHECK_NEAR(pe_lr_linear_warmup(1.0f, 1, 4, 10), 0.25, 1e-7);
    PE_CHECK_NEAR(pe_lr_linear_warmup(1.0f, 4, 4, 10), 1.0, 1e-7);
    PE_CHECK_NEAR(pe_lr_linear_warmup(1.0f, 7, 4, 10), 0.5, 1e-7);
    PE_CHECK_NEAR(pe_lr_linear_warmup(1.0f, 10, 4, 10), 0.0, 1e-7);
    PE_CHECK_NEAR(pe_lr_linear_warmup(1.0f, 12, 4, 10), 0.0, 1e-7);
    PE_CHECK_NEAR(pe_lr_linear_warmup(2.0f, 0, 0, 4), 2.0, 1e-7);

    pe_encoder_config g = tiny_config();
    g.layers = 1;
    pe_train *tr = NULL, *tr2 = NULL;
    pe_error err;
    PE_CHECK_EQ_INT(pe_train_new_random(&g, 1, &tr, &err), PE_OK);
    PE_CHECK_EQ_INT(pe_train_new_random(&g, 1, &tr2, &err), PE_OK);
    if (!tr || !tr2) goto done;
    pe_train_param p, q;
    PE_CHECK_EQ_INT(pe_train_param_find(tr, "encoder.layer.0.attention.self.key.weight", &p), PE_OK);
    PE_CHECK_EQ_INT(pe_train_param_find(tr2, "encoder.layer.0.attention.self.key.weight", &q), PE_OK);
    PE_CHECK(memcmp(p.data, q.data, (size_t)p.numel * sizeof(float)) == 0); /* same seed, same weights */
    PE_CHECK(p.decay == 1);
    double m = 0.0, s2 = 0.0;
    for (int64_t i = 0; i < p.numel; i++) m += p.data[i], s2 += (double)p.data[i] * p.data[i];
    PE_CHECK_NEAR(sqrt(s2 / (double)p.numel), 0.02, 0.006); /* N(0, 0.02) */
    PE_CHECK_EQ_INT(pe_train_param_find(tr, "encoder.layer.0.output.LayerNorm.weight", &p), PE_OK);
    PE_CHECK(p.decay == 0 && p.data[0] == 1.0f);
    PE_CHECK_EQ_INT(pe_train_param_find(tr, "encoder.layer.0.output.dense.bias", &p), PE_OK);
    PE_CHECK(p.decay == 0 && p.data[0] == 0.0f);
    PE_CHECK_EQ_INT(pe_train_param_find(tr, "embeddings.LayerNorm.bias", &p), PE_OK);
    PE_CHECK_EQ_INT(pe_train_param_find(tr, "pooler.dense.weight", &p), PE_NOT_FOUND);
    PE_CHECK_EQ_INT(pe_train_param_at(tr, pe_train_n_params(tr), &p), PE_ERR_INVALID);
    PE_CHECK_EQ_INT(pe_train_backward(tr, NULL), PE_ERR_INVALID); /* no forward yet */

    /* clipping: norm of all gradients, scaled to max_norm, untouched below */
    pe_train_zero_grad(tr);
    size_t total = 0;
    for (int i = 0; i < pe_train_n_params(tr); i++) {
        pe_train_param_at(tr, i, &p);
        for (int64_t j = 0; j < p.numel; j++) p.grad[j] = 0.5f;
        total += (size_t)p.numel;
    }
    PE_CHECK_EQ_INT(total, pe_train_numel(tr));
    double nrm = 0.0;
    PE_CHECK_EQ_INT(pe_train_clip_grad_norm(tr, 1e9f, &nrm), PE_OK);
    PE_CHECK_NEAR(nrm, 0.5 * sqrt((double)total), 1e-6 * nrm);
    pe_train_param_at(tr, 0, &p);
    PE_CHECK(p.grad[0] == 0.5f);
    PE_CHECK_EQ_INT(pe_train_clip_grad_norm(tr, 2.0f, NULL), PE_OK);
    PE_CHECK_EQ_INT(pe_train_clip_grad_norm(tr, 0.0f, &nrm), PE_OK); /* 0: only measure */
    PE_CHECK_NEAR(nrm, 2.0, 1e-5);
    p.grad[0] = NAN;
    PE_CHECK_EQ_INT(pe_train_clip_grad_norm(tr, 1.0f, &nrm), PE_ERR_INVALID);

    /* AdamW's first step moves each weight by about lr (m / sqrt(v) = +-1),
     * plus the decoupled decay where it applies */
    pe_train_zero_grad(tr);
    pe_adamw *opt = NULL;
    pe_adamw_options ao = pe_adamw_options_default();
    PE_CHECK_EQ_INT(pe_adamw_new(tr, &ao, &opt, &err), PE_OK);
    PE_CHECK_EQ_INT(pe_train_param_find(tr, "encoder.layer.0.intermediate.dense.weight", &p), PE_OK);
    PE_CHECK_EQ_INT(pe_train_param_find(tr, "encoder.layer.0.intermediate.dense.bias", &q), PE_OK);
    const float w0 = p.data[3], b0 = q.data[2];
    p.grad[3] = -0.3f;
    q.grad[2] = 2.0f;
    PE_CHECK_EQ_INT(pe_adamw_step(opt, 0.1f), PE_OK);
    PE_CHECK_NEAR(p.data[3], w0 * (1.0f - 0.1f * 0.01f) + 0.1f, 1e-6);
    PE_CHECK_NEAR(q.data[2], b0 - 0.1f, 1e-6);
    PE_CHECK_EQ_INT(pe_adamw_step(opt, -1.0f), PE_ERR_INVALID);
    ao.beta1 = 1.0f;
    pe_adamw *bad = NULL;
    PE_CHECK_EQ_INT(pe_adamw_new(tr, &ao, &bad, &err), PE_ERR_INVALID);
    PE_CHECK(bad == NULL);
    pe_adamw_free(opt);
    pe_adamw_free(NULL);
    g.hidden = 7; /* not a multiple of heads */
    pe_train *bad_tr = (pe_train *)&err;
    PE_CHECK_EQ_INT(pe_train_new_random(&g, 1, &bad_tr, &err), PE_ERR_INVALID);
    PE_CHECK(bad_tr == NULL);
done:
    pe_train_free(tr);
    pe_train_free(tr2);
    pe_train_free(NULL);
}

/* ---- the last layer on some rows only ---- */

static void test_output_rows(void)
{
    pe_encoder *enc = load_tiny();
    pe_train *tr = NULL;
    pe_error err;
    float *gfull = NULL;
    if (!enc || pe_train_new_from_encoder(enc, &tr, &err) != PE_OK) {
        PE_CHECK(0);
        goto done;
    }
    const int lengths[3] = {6, 9, 4};
    enum { T = 19, C = 8 };
    int32_t ids[T], types[T];
    for (int t = 0; t < T; t++) ids[t] = (int32_t)(urand() * 30), types[t] = t > 8;
    const int32_t rows[5] = {0, 3, 7, 8, 17};
    float h[T * C], hr[T * C], d[T * C];
    memset(d, 0, sizeof d);
    for (int i = 0; i < 5; i++)
        for (int c = 0; c < C; c++) d[rows[i] * C + c] = urand() * 2.0f - 1.0f;
    const size_t n = pe_train_numel(tr);
    gfull = malloc(n * sizeof *gfull);
    if (!gfull) goto done;
    for (int drop = 0; drop < 2; drop++) {
        pe_train_forward_options fo = pe_train_forward_options_default();
        fo.hidden_dropout = fo.attention_dropout = drop ? 0.2f : 0.0f;
        fo.seed = 7;
        pe_train_zero_grad(tr);
        PE_CHECK_EQ_INT(pe_train_forward(tr, ids, types, lengths, 3, &fo, h), PE_OK);
        PE_CHECK_EQ_INT(pe_train_backward(tr, d), PE_OK);
        int np = pe_train_n_params(tr);
        for (int i = 0, off = 0; i < np; i++) {
            pe_train_param p;
            pe_train_param_at(tr, i, &p);
            memcpy(gfull + off, p.grad, (size_t)p.numel * sizeof *gfull);
            off += (int)p.numel;
        }
        fo.rows = rows;
        fo.n_rows = 5;
        pe_train_zero_grad(tr);
        PE_CHECK_EQ_INT(pe_train_forward(tr, ids, types, lengths, 3, &fo, hr), PE_OK);
        PE_CHECK_EQ_INT(pe_train_backward(tr, d), PE_OK);
        double eh = 0.0, zero = 0.0;
        for (int t = 0, i = 0; t < T; t++) {
            int in = i < 5 && rows[i] == t;
            for (int c = 0; c < C; c++) {
                if (in) eh = fmax(eh, fabs(hr[t * C + c] - h[t * C + c]));
                else zero = fmax(zero, fabs(hr[t * C + c]));
            }
            i += in;
        }
        PE_CHECK_MSG(eh < 1e-6 && zero == 0.0, "dropout %d: rows differ by %g, others %g", drop, eh, zero);
        /* A key bias's gradient is zero in exact arithmetic (softmax does not
         * see a shift shared by a query's scores): what is computed is
         * rounding, so an absolute 1e-6 of the largest gradient is allowed
         * besides the relative 1e-5. */
        double gmax = 0.0;
        for (size_t k = 0; k < n; k++) gmax = fmax(gmax, fabs(gfull[k]));
        for (int i = 0, off = 0; i < np; i++) {
            pe_train_param p;
            pe_train_param_at(tr, i, &p);
            double e = 0.0, scale = 1e-12;
            for (int64_t k = 0; k < p.numel; k++) {
                e = fmax(e, fabs(p.grad[k] - gfull[off + k]));
                scale = fmax(scale, fabs(gfull[off + k]));
            }
            PE_CHECK_MSG(e <= 1e-5 * scale + 1e-6 * gmax, "dropout %d: %s: gradient differs by %g (scale %g, largest %g)",
                         drop, p.name, e, scale, gmax);
            off += (int)p.numel;
        }
    }
    /* bad rows: out of range, not increasing, more than T */
    pe_train_forward_options fo = pe_train_forward_options_default();
    const int32_t bad1[2] = {3, 3}, bad2[1] = {T};
    fo.rows = bad1;
    fo.n_rows = 2;
    PE_CHECK_EQ_INT(pe_train_forward(tr, ids, types, lengths, 3, &fo, hr), PE_ERR_INVALID);
    fo.rows = bad2;
    fo.n_rows = 1;
    PE_CHECK_EQ_INT(pe_train_forward(tr, ids, types, lengths, 3, &fo, hr), PE_ERR_INVALID);
    fo.n_rows = T + 1;
    PE_CHECK_EQ_INT(pe_train_forward(tr, ids, types, lengths, 3, &fo, hr), PE_ERR_INVALID);
    /* no row: every output 0, and the layers below get no gradient */
    fo.n_rows = 0;
    pe_train_zero_grad(tr);
    PE_CHECK_EQ_INT(pe_train_forward(tr, ids, types, lengths, 3, &fo, hr), PE_OK);
    PE_CHECK_EQ_INT(pe_train_backward(tr, d), PE_OK);
    double mx = 0.0;
    for (int i = 0; i < T * C; i++) mx = fmax(mx, fabs(hr[i]));
    for (int i = 0; i < pe_train_n_params(tr); i++) {
        pe_train_param p;
        pe_train_param_at(tr, i, &p);
        for (int64_t k = 0; k < p.numel; k++) mx = fmax(mx, fabs(p.grad[k]));
    }
    PE_CHECK_MSG(mx == 0.0, "no row: %g", mx);
done:
    free(gfull);
    pe_train_free(tr);
    pe_encoder_free(enc);
}

/* ---- save, load, same forward ---- */

/* A model soup: the mean of two saved models, refused for unlike ones. */
static void test_average_checkpoints(void)
{
    pe_encoder *enc = load_tiny();
    pe_train *a = NULL, *b = NULL, *c = NULL;
    pe_encoder *soup = NULL;
    pe_error err;
    char da[160], db[160], dc[160], dout[160];
    snprintf(da, sizeof da, "%s/avg-a", tmpdir);
    snprintf(db, sizeof db, "%s/avg-b", tmpdir);
    snprintf(dc, sizeof dc, "%s/avg-c", tmpdir);
    snprintf(dout, sizeof dout, "%s/avg-out", tmpdir);
    if (!enc || pe_train_new_from_encoder(enc, &a, &err) != PE_OK || pe_train_new_from_encoder(enc, &b, &err) != PE_OK) {
        PE_CHECK(0);
        goto done;
    }
    /* b: a's weights moved by a known amount; labels saved with both */
    pe_train_param p;
    PE_CHECK_EQ_INT(pe_train_param_find(b, "embeddings.word_embeddings.weight", &p), PE_OK);
    for (int64_t k = 0; k < p.numel; k++) p.data[k] += 0.5f + 0.001f * (float)(k % 7);
    pe_train_save_options so = pe_train_save_options_default();
    so.labels_json = "{\"ner\": [\"O\", \"B-x\", \"I-x\"]}";
    PE_CHECK_EQ_INT(pe_train_save(a, da, &so, &err), PE_OK);
    PE_CHECK_EQ_INT(pe_train_save(b, db, &so, &err), PE_OK);
    const char *two[2] = {da, db};
    pe_status st = pe_train_average_checkpoints(two, 2, dout, &err);
    PE_CHECK_MSG(st == PE_OK, "%s", err.msg);
    pe_encoder_options o = pe_encoder_options_default();
    o.backend = PE_ENCODER_CPU;
    o.threads = 1;
    PE_CHECK_EQ_INT(pe_encoder_load(dout, &o, &soup, &err), PE_OK);
    char lp[200];
    snprintf(lp, sizeof lp, "%s/labels.json", dout);
    PE_CHECK(access(lp, F_OK) == 0);
    if (soup) {
        pe_encoder_tensor_view w, q;
        pe_train_param pa;
        PE_CHECK_EQ_INT(pe_encoder_tensor(soup, "embeddings.word_embeddings.weight", &w), PE_OK);
        PE_CHECK_EQ_INT(pe_train_param_find(a, "embeddings.word_embeddings.weight", &pa), PE_OK);
        double e = 0.0;
        for (int64_t k = 0; k < w.numel; k++) e = fmax(e, fabs(w.data[k] - 0.5 * ((double)pa.data[k] + p.data[k])));
        PE_CHECK_MSG(e < 1e-6, "the soup is not the mean: %g", e);
        /* a tensor both share is unchanged */
        PE_CHECK_EQ_INT(pe_encoder_tensor(soup, "encoder.layer.0.output.dense.weight", &w), PE_OK);
        PE_CHECK_EQ_INT(pe_encoder_tensor(enc, "encoder.layer.0.output.dense.weight", &q), PE_OK);
        PE_CHECK(w.numel == q.numel && memcmp(w.data, q.data, (size_t)w.numel * sizeof(float)) == 0);
    }
    /* unlike models: other labels, then another architecture */
    so.labels_json = "{\"ner\": [\"O\", \"B-y\", \"I-y\"]}";
    PE_CHECK_EQ_INT(pe_train_save(b, dc, &so, &err), PE_OK);
    const char *unlike[2] = {da, dc};
    PE_CHECK_EQ_INT(pe_train_average_checkpoints(unlike, 2, dout, &err), PE_ERR_INVALID);
    PE_CHECK(strstr(err.msg, "labels.json") != NULL);
    if (pe_train_new_from_encoder_case_types(enc, &c, &err) == PE_OK) {
        so.labels_json = "{\"ner\": [\"O\", \"B-x\", \"I-x\"]}";
        PE_CHECK_EQ_INT(pe_train_save(c, dc, &so, &err), PE_OK);
        PE_CHECK_EQ_INT(pe_train_average_checkpoints(unlike, 2, dout, &err), PE_ERR_INVALID);
        PE_CHECK(strstr(err.msg, "shape") != NULL || strstr(err.msg, "config.json") != NULL);
    }
    const char *one[1] = {da};
    PE_CHECK_EQ_INT(pe_train_average_checkpoints(one, 1, dout, &err), PE_ERR_INVALID);
    const char *self[2] = {da, dout};
    PE_CHECK_EQ_INT(pe_train_average_checkpoints(self, 2, dout, &err), PE_ERR_INVALID);
done:
    pe_encoder_free(soup);
    pe_train_free(a);
    pe_train_free(b);
    pe_train_free(c);
    pe_encoder_free(enc);
}

static void test_save_roundtrip(void)
{
    pe_encoder *enc = load_tiny();
    pe_train *tr = NULL;
    pe_adamw *opt = NULL;
    pe_encoder *back = NULL;
    pe_error err;
    if (!enc || pe_train_new_from_encoder(enc, &tr, &err) != PE_OK || pe_adamw_new(tr, NULL, &opt, &err) != PE_OK) {
        PE_CHECK(0);
        goto done;
    }
    PE_CHECK(pe_train_config(tr)->has_pooler == 1);
    const int lengths[2] = {6, 9};
    enum { T = 15, C = 8 };
    int32_t ids[T], types[T];
    for (int t = 0; t < T; t++) ids[t] = (int32_t)(urand() * 30), types[t] = t > 8;
    float h[T * C], r[T * C], ref[T * C];
    fill(r, T * C, 1);
    pe_train_forward_options fo = pe_train_forward_options_default();
    fo.hidden_dropout = fo.attention_dropout = 0.1f;
    for (int k = 0; k < 3; k++) {
        fo.seed = (uint64_t)k;
        pe_train_zero_grad(tr);
        PE_CHECK_EQ_INT(pe_train_forward(tr, ids, types, lengths, 2, &fo, h), PE_OK);
        PE_CHECK_EQ_INT(pe_train_backward(tr, r), PE_OK);
        PE_CHECK_EQ_INT(pe_train_clip_grad_norm(tr, 1.0f, NULL), PE_OK);
        PE_CHECK_EQ_INT(pe_adamw_step(opt, 1e-2f), PE_OK);
    }
    PE_CHECK_EQ_INT(pe_train_forward(tr, ids, types, lengths, 2, NULL, h), PE_OK);
    /* the weights moved */
    PE_CHECK_EQ_INT(pe_encoder_forward(enc, ids, types, lengths, 2, -1, ref), PE_OK);
    double moved = 0.0;
    for (int i = 0; i < T * C; i++) moved = fmax(moved, fabs(ref[i] - h[i]));
    PE_CHECK_MSG(moved > 1e-3, "3 steps changed the output by %g only", moved);

    char dir[128];
    snprintf(dir, sizeof dir, "%s/saved", tmpdir);
    PE_CHECK_EQ_INT(pe_train_save(tr, dir, NULL, &err), PE_OK);
    pe_encoder_options o = pe_encoder_options_default();
    o.backend = PE_ENCODER_CPU;
    o.threads = 1;
    pe_status st = pe_encoder_load(dir, &o, &back, &err);
    PE_CHECK_MSG(st == PE_OK, "%s", err.msg);
    if (!back) goto done;
    PE_CHECK_EQ_INT(pe_encoder_forward(back, ids, types, lengths, 2, -1, ref), PE_OK);
    double e = 0.0;
    for (int i = 0; i < T * C; i++) e = fmax(e, fabs(ref[i] - h[i]));
    PE_CHECK_MSG(e < 1e-5, "saved model vs training forward: %g", e);
    /* the pooler came through unchanged */
    pe_encoder_tensor_view v0, v1;
    PE_CHECK_EQ_INT(pe_encoder_tensor(enc, "pooler.dense.weight", &v0), PE_OK);
    PE_CHECK_EQ_INT(pe_encoder_tensor(back, "pooler.dense.weight", &v1), PE_OK);
    PE_CHECK(v0.numel == v1.numel && memcmp(v0.data, v1.data, (size_t)v0.numel * sizeof(float)) == 0);
    pe_encoder_info info;
    pe_encoder_get_info(back, &info);
    PE_CHECK_EQ_INT(info.n_extra, 0);
    PE_CHECK_EQ_INT(info.has_tokenizer, 0);
    PE_CHECK_EQ_INT(pe_train_save(tr, "/proc/no/such/dir", NULL, &err), PE_ERR_IO);
    PE_CHECK(strstr(err.msg, "/proc/no/such/dir") != NULL);
done:
    pe_encoder_free(back);
    pe_adamw_free(opt);
    pe_train_free(tr);
    pe_encoder_free(enc);
}

/* A model with a vocabulary: saved with its tokenizer, converted to .pem. */
static void test_save_tokenizer_pem(void)
{
    char src[512], dir[128], pem[160];
    snprintf(src, sizeof src, "%s/encoder/tiny-f16", PE_FIXTURES);
    snprintf(dir, sizeof dir, "%s/withvocab", tmpdir);
    snprintf(pem, sizeof pem, "%s/trained.pem", tmpdir);
    pe_encoder_options o = pe_encoder_options_default();
    o.backend = PE_ENCODER_CPU;
    o.threads = 1;
    pe_encoder *enc = NULL, *back = NULL, *pm = NULL;
    pe_train *tr = NULL;
    pe_error err;
    pe_status st = pe_encoder_load(src, &o, &enc, &err);
    PE_CHECK_MSG(st == PE_OK, "%s", err.msg);
    if (!enc || pe_train_new_from_encoder(enc, &tr, &err) != PE_OK) {
        PE_CHECK(0);
        goto done;
    }
    pe_train_save_options so = pe_train_save_options_default();
    so.tokenizer = pe_encoder_tokenizer(enc);
    PE_CHECK(so.tokenizer != NULL);
    PE_CHECK_EQ_INT(pe_train_save(tr, dir, &so, &err), PE_OK);
    st = pe_encoder_load(dir, &o, &back, &err);
    PE_CHECK_MSG(st == PE_OK, "%s", err.msg);
    PE_CHECK_EQ_INT(pe_encoder_convert_hf(dir, pem, NULL, &err), PE_OK);
    st = pe_encoder_load(pem, &o, &pm, &err);
    PE_CHECK_MSG(st == PE_OK, "%s", err.msg);
    if (!back || !pm) goto done;
    const pe_tokenizer *t0 = pe_encoder_tokenizer(enc), *t1 = pe_encoder_tokenizer(back);
    PE_CHECK(t1 != NULL);
    if (t1) {
        PE_CHECK_EQ_INT(pe_tokenizer_vocab_size(t1), pe_tokenizer_vocab_size(t0));
        PE_CHECK_EQ_INT(pe_tokenizer_get_options(t1)->do_lower_case, pe_tokenizer_get_options(t0)->do_lower_case);
    }
    /* the f16 weights, upcast, trained for no step: every path gives the same states */
    const char *texts[2] = {"I live in Paris.", "my dog likes jazz"};
    pe_encoder_encode_options eo = pe_encoder_encode_options_default();
    pe_encoder_result *r0 = NULL, *r1 = NULL, *r2 = NULL;
    PE_CHECK_EQ_INT(pe_encoder_encode_texts(enc, texts, NULL, 2, &eo, &r0), PE_OK);
    PE_CHECK_EQ_INT(pe_encoder_encode_texts(back, texts, NULL, 2, &eo, &r1), PE_OK);
    PE_CHECK_EQ_INT(pe_encoder_encode_texts(pm, texts, NULL, 2, &eo, &r2), PE_OK);
    if (r0 && r1 && r2) {
        PE_CHECK_EQ_INT(r0->n_tokens, r1->n_tokens);
        PE_CHECK_EQ_INT(r0->n_tokens, r2->n_tokens);
        double e = 0.0;
        for (int i = 0; r0->n_tokens == r1->n_tokens && r0->n_tokens == r2->n_tokens && i < r0->n_tokens * r0->hidden;
             i++)
            e = fmax(e, fmax(fabs(r0->hidden_states[i] - r1->hidden_states[i]),
                             fabs(r0->hidden_states[i] - r2->hidden_states[i])));
        PE_CHECK_MSG(e < 1e-5, "saved/converted vs source: %g", e);
    }
    pe_encoder_result_free(r0);
    pe_encoder_result_free(r1);
    pe_encoder_result_free(r2);
    /* a trainable copy of the .pem-loaded model holds the same weights */
    pe_train *tp = NULL;
    PE_CHECK_EQ_INT(pe_train_new_from_encoder(pm, &tp, &err), PE_OK);
    for (int i = 0; tp && i < pe_train_n_params(tr); i++) {
        pe_train_param a, b;
        pe_train_param_at(tr, i, &a);
        pe_train_param_at(tp, i, &b);
        PE_CHECK_EQ_STR(a.name, b.name);
        PE_CHECK(a.numel == b.numel && memcmp(a.data, b.data, (size_t)a.numel * sizeof(float)) == 0);
    }
    pe_train_free(tp);
done:
    pe_encoder_free(pm);
    pe_encoder_free(back);
    pe_train_free(tr);
    pe_encoder_free(enc);
}

static void rm_tree(const char *dir)
{
    const char *files[] = {"saved/config.json", "saved/model.safetensors", "withvocab/config.json",
                           "withvocab/model.safetensors", "withvocab/vocab.txt", "withvocab/tokenizer_config.json",
                           "trained.pem"};
    char p[256];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        unlink(p);
    }
    snprintf(p, sizeof p, "%s/saved", dir);
    rmdir(p);
    snprintf(p, sizeof p, "%s/withvocab", dir);
    rmdir(p);
    rmdir(dir);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/pe_train_XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;
    PE_RUN(test_op_linear);
    PE_RUN(test_op_layernorm);
    PE_RUN(test_op_gelu);
    PE_RUN(test_op_gelu_paths);
    PE_RUN(test_op_attention);
    PE_RUN(test_op_attention_paths);
    PE_RUN(test_op_embed);
    PE_RUN(test_op_dropout);
    PE_RUN(test_op_ce_row_paths);
    PE_RUN(test_model_gradcheck);
    PE_RUN(test_against_torch);
    /* the same on the other paths the CPU has (AVX-512 is the default where present) */
    {
        const pe_kernels_isa was = enc_kernels_active(), other[2] = {PE_KERNELS_AVX2, PE_KERNELS_BLAS};
        for (int k = 0; k < 2; k++)
            if (other[k] != was && enc_kernels_select(other[k]) == 0) {
                fprintf(stderr, "  path %s:\n", enc_kernels_isa_name(other[k]));
                PE_RUN(test_against_torch);
            }
        enc_kernels_select(was);
    }
    PE_RUN(test_dropout_model);
    PE_RUN(test_schedule_and_clip);
    PE_RUN(test_output_rows);
    PE_RUN(test_save_roundtrip);
    PE_RUN(test_average_checkpoints);
    PE_RUN(test_save_tokenizer_pem);
    rm_tree(tmpdir);
    PE_TEST_EXIT();
}
