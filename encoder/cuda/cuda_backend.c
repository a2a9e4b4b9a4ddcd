/* cuda_backend.c - the encoder forward on a CUDA device: cuBLAS for every
 * matrix product, the kernels of cuda_kernels.cu for the rest.
 *
 * Attention over a packed batch of sequences of different lengths: the
 * projections run on the packed rows (T, no padding), but for attention
 * q, k, v are scattered into padded per-head tensors (B, H, Lp, D), Lp the
 * longest sequence of the batch, so that the two attention products of the
 * whole batch are one cublasGemmStridedBatchedEx each (batch B*H) and the
 * softmax masks the padded columns. The alternative, a loop over sequences
 * with one strided-batched call over the heads each, wastes no FLOPs but
 * costs 2*B GEMM launches and B softmax launches per layer, which dominate
 * at the short lengths this engine sees (chat messages); the padding waste
 * is only in attention, a small share of the FLOPs below Lp ~ 512, and is
 * nil for batches sorted by length. To bound memory (the scores take
 * B*H*Lp^2 floats) attention runs over chunks of sequences whose scores fit
 * pe_cuda_options.attn_budget_bytes; each chunk is padded only to its own
 * longest sequence.
 */
#include "cuda_backend.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "cuda_kernels.h"

typedef struct cuda_layer {
    float *qkv_w, *qkv_b, *attn_out_w, *attn_out_b, *ln1_g, *ln1_b;
    float *ffn_in_w, *ffn_in_b, *ffn_out_w, *ffn_out_b, *ln2_g, *ln2_b;
    void *qkv_w16, *attn_out_w16, *ffn_in_w16, *ffn_out_w16; /* bf16 copies (BF16 mode), else NULL */
} cuda_layer;

struct pe_encoder_cuda {
    pe_encoder_config cfg;
    int device;
    pe_cuda_precision precision;
    cudaStream_t stream;
    cublasHandle_t blas;
    cublasComputeType_t attn_compute; /* attention products */
    cublasComputeType_t proj_compute; /* projections in FP32/TF32 mode */

    /* parameters: one device allocation each for f32 and bf16 */
    float *params;
    void *params16;
    float *word, *pos, *type, *emb_g, *emb_b, *pool_w, *pool_b;
    void *pool_w16;
    cuda_layer *layer; /* (L) */

    size_t attn_budget;  /* bytes of attention scores per chunk */

    /* workspace: one device allocation, carved below; grows */
    void *ws;
    int cap_tokens, cap_seq;
    size_t cap_pad;      /* floats of each of q, k, v: (chunk, H, Lp, D) */
    size_t cap_scores;   /* floats of scores: (chunk, H, Lp, Lp) */
    int32_t *d_ints;   /* ids, types, positions, seq, row: (5, T); then offsets (B+1) */
    float *x;          /* (T, C) hidden state */
    float *qkv;        /* (T, 3C) */
    float *ctx;        /* (T, C) attention context, packed */
    float *proj;       /* (T, C) output projections */
    float *ffn;        /* (T, I) */
    float *q, *k, *v;  /* (chunk, H, Lp, D) each; q is reused for the padded context */
    float *scores;     /* (chunk, H, Lp, Lp) */
    void *act16;       /* (max(T, B), max(C, I)) bf16 activations (BF16 mode) */
    float *pool_in;    /* (B, C) first tokens */
    float *pool_out;   /* (B, C) */

    int32_t *h_ints;   /* host staging of d_ints, 5 * cap_tokens + cap_seq + 1 */
};

/* ---- errors ---- */

/* A failed runtime call also leaves its error as the thread's "last error",
 * which the next kernel launch check (cudaGetLastError) would report as its
 * own: every failure is reported here and then cleared (a sticky error,
 * one that broke the context, stays and fails every later call anyway). */
static pe_status cuda_err(pe_error *err, cudaError_t e, const char *what)
{
    cudaGetLastError();
    return pe_error_set(err, PE_ERR_BACKEND, "CUDA: %s: %s (%s)", what, cudaGetErrorString(e), cudaGetErrorName(e));
}

static pe_status blas_err(pe_error *err, cublasStatus_t s, const char *what)
{
    return pe_error_set(err, PE_ERR_BACKEND, "cuBLAS: %s: %s", what, cublasGetStatusString(s));
}

#define CU_TRY(call, what) do { cudaError_t e_ = (call); if (e_ != cudaSuccess) return cuda_err(err, e_, what); } while (0)
#define BLAS_TRY(call, what) do { cublasStatus_t s_ = (call); \
    if (s_ != CUBLAS_STATUS_SUCCESS) return blas_err(err, s_, what); } while (0)

static pe_status alloc_dev(void **p, size_t bytes, const char *what, pe_error *err)
{
    cudaError_t e = cudaMalloc(p, bytes);
    if (e != cudaSuccess) {
        *p = NULL;
        cudaGetLastError(); /* see cuda_err */
        return pe_error_set(err, PE_ERR_BACKEND, "CUDA: allocating %zu bytes (%.1f MiB) for %s: %s", bytes,
                            (double)bytes / 1048576.0, what, cudaGetErrorString(e));
    }
    return PE_OK;
}

/* ---- options and device ---- */

pe_cuda_options enc_cuda_options_default(void)
{
    pe_cuda_options o;
    o.device = 0;
    o.precision = PE_CUDA_FP32;
    o.attn_budget_bytes = 0;
    return o;
}

const char *enc_cuda_precision_name(pe_cuda_precision p)
{
    switch (p) {
    case PE_CUDA_FP32: return "fp32";
    case PE_CUDA_TF32: return "tf32";
    case PE_CUDA_BF16: return "bf16";
    }
    return "?";
}

pe_status enc_cuda_precision_parse(const char *s, pe_cuda_precision *out, pe_error *err)
{
    static const pe_cuda_precision all[] = {PE_CUDA_FP32, PE_CUDA_TF32, PE_CUDA_BF16};
    for (size_t i = 0; s && i < sizeof all / sizeof all[0]; i++)
        if (strcasecmp(s, enc_cuda_precision_name(all[i])) == 0) {
            *out = all[i];
            return PE_OK;
        }
    return pe_error_set(err, PE_ERR_INVALID, "unknown CUDA precision \"%s\" (expected fp32, tf32 or bf16)",
                        s ? s : "(null)");
}

int enc_cuda_probe(pe_error *err)
{
    int n = 0, usable = 0, major = 0, minor = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        cuda_err(err, e, "no usable device: cudaGetDeviceCount");
        cudaGetLastError(); /* clear the error so that later calls start clean */
        return 0;
    }
    if (n <= 0) {
        pe_error_set(err, PE_ERR_UNSUPPORTED, "CUDA: no device found");
        return 0;
    }
    for (int d = 0; d < n; d++) {
        if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, d) != cudaSuccess ||
            cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, d) != cudaSuccess) {
            cudaGetLastError();
            continue;
        }
        if (major >= 8) usable++;
    }
    if (!usable)
        pe_error_set(err, PE_ERR_UNSUPPORTED,
                     "CUDA: %d device(s) but none of compute capability >= 8.0 (the last is %d.%d)", n, major,
                     minor);
    return usable;
}

int enc_cuda_available(void) { return enc_cuda_probe(NULL) > 0; }

pe_status enc_cuda_describe(int device, char *buf, size_t n, pe_error *err)
{
    struct cudaDeviceProp p;
    CU_TRY(cudaGetDeviceProperties(&p, device), "cudaGetDeviceProperties");
    snprintf(buf, n, "%s (sm_%d%d, %.1f GiB)", p.name, p.major, p.minor, (double)p.totalGlobalMem / 1073741824.0);
    return PE_OK;
}

/* ---- weights ---- */

static size_t align64(size_t floats) { return (floats + 63) & ~(size_t)63; } /* 256-byte aligned tensors */

typedef struct upload {
    float *base;
    cudaStream_t stream;
    size_t used;  /* floats */
    pe_status st;
    pe_error *err;
} upload;

/* Copies n floats of host src to the next slot of the parameter buffer
 * (base NULL: only counts). */
static float *put(upload *u, const float *src, size_t n, const char *name)
{
    float *dst = u->base ? u->base + u->used : NULL;
    u->used += align64(n);
    if (!u->base || u->st != PE_OK) return dst;
    /* on the backend's stream: its non-blocking stream does not wait for
     * the legacy default stream that plain cudaMemcpy uses */
    cudaError_t e = cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyHostToDevice, u->stream);
    if (e != cudaSuccess) {
        cudaGetLastError(); /* see cuda_err */
        u->st = pe_error_set(u->err, PE_ERR_BACKEND, "CUDA: uploading tensor %s (%zu floats): %s", name, n,
                             cudaGetErrorString(e));
    }
    return dst;
}

static pe_status check_weights(const pe_encoder_config *c, const pe_encoder_weights *w, pe_error *err)
{
    if (c->hidden <= 0 || c->heads <= 0 || c->hidden % c->heads || c->layers < 0 || c->intermediate <= 0 ||
        c->vocab_size <= 0 || c->max_position <= 0 || c->type_vocab <= 0)
        return pe_error_set(err, PE_ERR_INVALID,
                            "CUDA backend: bad config (hidden %d, heads %d, layers %d, intermediate %d, vocab %d, "
                            "positions %d, types %d)", c->hidden, c->heads, c->layers, c->intermediate,
                            c->vocab_size, c->max_position, c->type_vocab);
    if (c->hidden > PE_CUK_MAX_LN_COLS)
        return pe_error_set(err, PE_ERR_INVALID, "CUDA backend: hidden size %d > %d is not supported", c->hidden,
                            PE_CUK_MAX_LN_COLS);
    if (!w->word_emb || !w->pos_emb || !w->type_emb || !w->emb_ln_g || !w->emb_ln_b || (c->layers && !w->layer))
        return pe_error_set(err, PE_ERR_INVALID, "CUDA backend: embedding weights missing");
    for (int l = 0; l < c->layers; l++) {
        const pe_encoder_layer_weights *y = &w->layer[l];
        if (!y->qkv_w || !y->qkv_b || !y->attn_out_w || !y->attn_out_b || !y->ln1_g || !y->ln1_b || !y->ffn_in_w ||
            !y->ffn_in_b || !y->ffn_out_w || !y->ffn_out_b || !y->ln2_g || !y->ln2_b)
            return pe_error_set(err, PE_ERR_INVALID, "CUDA backend: weights of layer %d missing", l);
    }
    if (c->has_pooler && (!w->pooler_w || !w->pooler_b))
        return pe_error_set(err, PE_ERR_INVALID, "CUDA backend: config has a pooler but its weights are missing");
    return PE_OK;
}

/* Lays out (base NULL: counts) or uploads every f32 parameter. */
static void put_all(pe_encoder_cuda *cu, const pe_encoder_weights *w, upload *u)
{
    const size_t C = cu->cfg.hidden, I = cu->cfg.intermediate;
    cu->word = put(u, w->word_emb, (size_t)cu->cfg.vocab_size * C, "word embeddings");
    cu->pos = put(u, w->pos_emb, (size_t)cu->cfg.max_position * C, "position embeddings");
    cu->type = put(u, w->type_emb, (size_t)cu->cfg.type_vocab * C, "token type embeddings");
    cu->emb_g = put(u, w->emb_ln_g, C, "embeddings LayerNorm gamma");
    cu->emb_b = put(u, w->emb_ln_b, C, "embeddings LayerNorm beta");
    for (int l = 0; l < cu->cfg.layers; l++) {
        const pe_encoder_layer_weights *y = &w->layer[l];
        cuda_layer *d = &cu->layer[l];
        d->qkv_w = put(u, y->qkv_w, 3 * C * C, "qkv.w");
        d->qkv_b = put(u, y->qkv_b, 3 * C, "qkv.b");
        d->attn_out_w = put(u, y->attn_out_w, C * C, "attn_out.w");
        d->attn_out_b = put(u, y->attn_out_b, C, "attn_out.b");
        d->ln1_g = put(u, y->ln1_g, C, "ln1.g");
        d->ln1_b = put(u, y->ln1_b, C, "ln1.b");
        d->ffn_in_w = put(u, y->ffn_in_w, I * C, "ffn_in.w");
        d->ffn_in_b = put(u, y->ffn_in_b, I, "ffn_in.b");
        d->ffn_out_w = put(u, y->ffn_out_w, C * I, "ffn_out.w");
        d->ffn_out_b = put(u, y->ffn_out_b, C, "ffn_out.b");
        d->ln2_g = put(u, y->ln2_g, C, "ln2.g");
        d->ln2_b = put(u, y->ln2_b, C, "ln2.b");
    }
    if (cu->cfg.has_pooler) {
        cu->pool_w = put(u, w->pooler_w, C * C, "pooler.w");
        cu->pool_b = put(u, w->pooler_b, C, "pooler.b");
    }
}

/* bf16 copies of the projection matrices, converted on the device. */
static pe_status make_bf16(pe_encoder_cuda *cu, pe_error *err)
{
    const size_t C = cu->cfg.hidden, I = cu->cfg.intermediate;
    const size_t per_layer = align64(3 * C * C) + align64(C * C) + 2 * align64(I * C); /* in bf16 elements */
    const size_t total = per_layer * cu->cfg.layers + (cu->cfg.has_pooler ? align64(C * C) : 0);
    pe_status st;
    PE_TRY(st, alloc_dev(&cu->params16, total * 2 + 256, "bf16 weights", err));
    uint16_t *p = cu->params16;
#define BF16_SLOT(dst, src, n) do { (dst) = p; \
        CU_TRY(enc_cuk_f32_to_bf16((src), p, (n), cu->stream), "bf16 weight conversion"); p += align64(n); } while (0)
    for (int l = 0; l < cu->cfg.layers; l++) {
        cuda_layer *d = &cu->layer[l];
        BF16_SLOT(d->qkv_w16, d->qkv_w, 3 * C * C);
        BF16_SLOT(d->attn_out_w16, d->attn_out_w, C * C);
        BF16_SLOT(d->ffn_in_w16, d->ffn_in_w, I * C);
        BF16_SLOT(d->ffn_out_w16, d->ffn_out_w, C * I);
    }
    if (cu->cfg.has_pooler) BF16_SLOT(cu->pool_w16, cu->pool_w, C * C);
#undef BF16_SLOT
    CU_TRY(cudaStreamSynchronize(cu->stream), "bf16 weight conversion");
    return PE_OK;
}

void enc_cuda_free(pe_encoder_cuda *cu)
{
    if (!cu) return;
    int prev = -1;
    if (cudaGetDevice(&prev) != cudaSuccess) prev = -1;
    cudaSetDevice(cu->device);
    if (cu->stream) cudaStreamSynchronize(cu->stream);
    if (cu->blas) cublasDestroy(cu->blas);
    if (cu->stream) cudaStreamDestroy(cu->stream);
    cudaFree(cu->ws);
    cudaFree(cu->params16);
    cudaFree(cu->params);
    if (prev >= 0 && prev != cu->device) cudaSetDevice(prev);
    cudaGetLastError(); /* nothing to report from here */
    free(cu->h_ints);
    free(cu->layer);
    free(cu);
}

static pe_status cuda_setup(pe_encoder_cuda *cu, const pe_encoder_weights *w, pe_error *err)
{
    pe_status st;
    CU_TRY(cudaSetDevice(cu->device), "cudaSetDevice");
    CU_TRY(cudaStreamCreateWithFlags(&cu->stream, cudaStreamNonBlocking), "cudaStreamCreate");
    BLAS_TRY(cublasCreate(&cu->blas), "cublasCreate");
    BLAS_TRY(cublasSetStream(cu->blas, cu->stream), "cublasSetStream");
    BLAS_TRY(cublasSetMathMode(cu->blas, cu->precision == PE_CUDA_TF32 ? CUBLAS_TF32_TENSOR_OP_MATH
                                                                        : CUBLAS_DEFAULT_MATH),
             "cublasSetMathMode");
    switch (cu->precision) {
    case PE_CUDA_FP32: cu->attn_compute = cu->proj_compute = CUBLAS_COMPUTE_32F; break;
    case PE_CUDA_TF32: cu->attn_compute = cu->proj_compute = CUBLAS_COMPUTE_32F_FAST_TF32; break;
    case PE_CUDA_BF16:
        cu->attn_compute = CUBLAS_COMPUTE_32F_FAST_16BF;
        cu->proj_compute = CUBLAS_COMPUTE_32F; /* on bf16 inputs */
        break;
    }

    upload u = {NULL, cu->stream, 0, PE_OK, err};
    put_all(cu, w, &u); /* count */
    PE_TRY(st, alloc_dev((void **)&u.base, u.used * sizeof(float), "encoder weights", err));
    cu->params = u.base;
    u.used = 0;
    put_all(cu, w, &u);
    if (u.st != PE_OK) return u.st;
    if (cu->precision == PE_CUDA_BF16) PE_TRY(st, make_bf16(cu, err));
    CU_TRY(cudaStreamSynchronize(cu->stream), "uploading the weights");
    return PE_OK;
}

pe_status enc_cuda_new_ex(const pe_encoder_config *cfg, const pe_encoder_weights *w,
                                 const pe_cuda_options *opts, pe_encoder_cuda **out, pe_error *err)
{
    *out = NULL;
    pe_cuda_options o = opts ? *opts : enc_cuda_options_default();
    pe_status st;
    PE_TRY(st, check_weights(cfg, w, err));
    if (o.precision != PE_CUDA_FP32 && o.precision != PE_CUDA_TF32 && o.precision != PE_CUDA_BF16)
        return pe_error_set(err, PE_ERR_INVALID, "CUDA backend: bad precision %d", (int)o.precision);
    pe_error why;
    pe_error_clear(&why);
    int n = enc_cuda_probe(&why);
    if (n <= 0) return pe_error_set(err, PE_ERR_UNSUPPORTED, "CUDA backend unavailable: %s", why.msg);
    int count = 0;
    cudaGetDeviceCount(&count);
    if (o.device < 0 || o.device >= count)
        return pe_error_set(err, PE_ERR_INVALID, "CUDA device %d does not exist (%d device(s))", o.device, count);
    int major = 0;
    CU_TRY(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, o.device), "cudaDeviceGetAttribute");
    if (major < 8)
        return pe_error_set(err, PE_ERR_UNSUPPORTED, "CUDA device %d has compute capability %d.x, 8.0 needed",
                            o.device, major);

    pe_encoder_cuda *cu = calloc(1, sizeof *cu);
    if (!cu) return pe_error_set(err, PE_ERR_NOMEM, "CUDA backend: out of host memory");
    cu->cfg = *cfg;
    cu->cfg.has_pooler = cfg->has_pooler && w->pooler_w && w->pooler_b;
    cu->device = o.device;
    cu->precision = o.precision;
    cu->attn_budget = o.attn_budget_bytes ? o.attn_budget_bytes : PE_CUDA_ATTN_BUDGET_DEFAULT;
    cu->layer = calloc(cfg->layers > 0 ? (size_t)cfg->layers : 1, sizeof *cu->layer);
    if (!cu->layer) {
        free(cu);
        return pe_error_set(err, PE_ERR_NOMEM, "CUDA backend: out of host memory");
    }
    int prev = -1;
    if (cudaGetDevice(&prev) != cudaSuccess) prev = -1;
    cudaGetLastError(); /* start clean: an earlier failure elsewhere on this thread is not ours */
    st = cuda_setup(cu, w, err);
    if (st != PE_OK) {
        enc_cuda_free(cu);
        if (prev >= 0) cudaSetDevice(prev);
        cudaGetLastError();
        return st;
    }
    /* the caller's current device is left as it was */
    if (prev >= 0 && prev != cu->device) cudaSetDevice(prev);
    *out = cu;
    return PE_OK;
}

pe_status enc_cuda_options_env(pe_cuda_options *o, pe_error *err)
{
    const char *dev = getenv("PE_CUDA_DEVICE"), *prec = getenv("PE_CUDA_PRECISION");
    if (dev && *dev) {
        char *end;
        long d = strtol(dev, &end, 10);
        if (*end || d < 0 || d > 1024)
            return pe_error_set(err, PE_ERR_INVALID, "PE_CUDA_DEVICE=\"%s\" is not a device number", dev);
        o->device = (int)d;
    }
    if (prec && *prec) {
        pe_error e;
        pe_error_clear(&e);
        if (enc_cuda_precision_parse(prec, &o->precision, &e) != PE_OK)
            return pe_error_set(err, PE_ERR_INVALID, "PE_CUDA_PRECISION: %s", e.msg);
    }
    return PE_OK;
}

pe_status enc_cuda_new(const pe_encoder_config *cfg, const pe_encoder_weights *w, pe_encoder_cuda **out,
                              pe_error *err)
{
    pe_cuda_options o = enc_cuda_options_default();
    *out = NULL;
    pe_status st;
    PE_TRY(st, enc_cuda_options_env(&o, err));
    return enc_cuda_new_ex(cfg, w, &o, out, err);
}

pe_cuda_precision enc_cuda_precision(const pe_encoder_cuda *cu) { return cu->precision; }

/* ---- workspace ---- */

typedef struct carve {
    char *base;
    size_t used;
} carve;

static void *take(carve *c, size_t bytes)
{
    void *p = c->base ? c->base + c->used : NULL;
    c->used += (bytes + 255) & ~(size_t)255;
    return p;
}

static void lay_out_ws(pe_encoder_cuda *cu, carve *c)
{
    const size_t T = cu->cap_tokens, B = cu->cap_seq, C = cu->cfg.hidden, I = cu->cfg.intermediate;
    cu->d_ints = take(c, (5 * T + B + 1) * sizeof(int32_t));
    cu->x = take(c, T * C * sizeof(float));
    cu->qkv = take(c, T * 3 * C * sizeof(float));
    cu->ctx = take(c, T * C * sizeof(float));
    cu->proj = take(c, T * C * sizeof(float));
    cu->ffn = take(c, T * I * sizeof(float));
    cu->q = take(c, cu->cap_pad * sizeof(float));
    cu->k = take(c, cu->cap_pad * sizeof(float));
    cu->v = take(c, cu->cap_pad * sizeof(float));
    cu->scores = take(c, cu->cap_scores * sizeof(float));
    cu->act16 = cu->precision == PE_CUDA_BF16 ? take(c, (T > B ? T : B) * (I > C ? I : C) * 2) : NULL;
    cu->pool_in = take(c, B * C * sizeof(float));
    cu->pool_out = take(c, B * C * sizeof(float));
}

/* A capacity for need: exactly need the first time; when a workspace that
 * exists is replaced, every dimension gets half again what it needs, so that
 * slowly growing batches reallocate (and synchronise) rarely. */
static size_t grow_to(size_t old, size_t need, int headroom)
{
    if (headroom && old > 0) need += need / 2;
    if (need < old) need = old;
    return need > 0 ? need : 1;
}

/* Makes the workspace hold T tokens, B sequences, pad floats for each of
 * q, k, v and scores floats; keeps it when it already does. */
static pe_status ws_reserve(pe_encoder_cuda *cu, int T, int B, size_t pad, size_t scores, pe_error *err)
{
    if (cu->ws && T <= cu->cap_tokens && B <= cu->cap_seq && pad <= cu->cap_pad && scores <= cu->cap_scores)
        return PE_OK;
    const pe_encoder_cuda old = *cu;
    pe_encoder_cuda want = *cu; /* the new capacities, laid out without memory to size them */
    CU_TRY(cudaStreamSynchronize(cu->stream), "waiting for the old workspace"); /* it may still be in use */
    cudaFree(cu->ws);
    cu->ws = NULL;
    free(cu->h_ints);
    cu->h_ints = NULL;
    cu->cap_tokens = cu->cap_seq = 0;
    cu->cap_pad = cu->cap_scores = 0;

    carve c = {NULL, 0};
    void *ws = NULL;
    pe_status st = PE_ERR_BACKEND;
    size_t tried = 0;
    for (int headroom = 1; headroom >= 0 && !ws; headroom--) { /* with headroom, then exactly what is needed */
        const size_t ct = grow_to((size_t)old.cap_tokens, (size_t)T, headroom),
                     cs = grow_to((size_t)old.cap_seq, (size_t)B, headroom);
        want.cap_tokens = ct > INT_MAX ? T : (int)ct; /* T, B are ints */
        want.cap_seq = cs > INT_MAX ? B : (int)cs;
        want.cap_pad = grow_to(old.cap_pad, pad, headroom);
        want.cap_scores = grow_to(old.cap_scores, scores, headroom);
        c.base = NULL;
        c.used = 0;
        lay_out_ws(&want, &c);
        if (c.used == tried) break; /* the exact size is the one that just failed */
        tried = c.used;
        st = alloc_dev(&ws, c.used, "the batch workspace", err);
    }
    if (st != PE_OK) return st;
    int32_t *h = malloc((5 * (size_t)want.cap_tokens + want.cap_seq + 1) * sizeof *h);
    if (!h) {
        cudaFree(ws);
        return pe_error_set(err, PE_ERR_NOMEM, "CUDA backend: out of host memory");
    }
    cu->ws = ws;
    cu->h_ints = h;
    cu->cap_tokens = want.cap_tokens;
    cu->cap_seq = want.cap_seq;
    cu->cap_pad = want.cap_pad;
    cu->cap_scores = want.cap_scores;
    c.base = ws;
    c.used = 0;
    lay_out_ws(cu, &c);
    return PE_OK;
}

/* ---- forward ---- */

/* y (M, N) = x (M, K) . W (N, K)^T, row-major; W16 the bf16 copy of W. In
 * cuBLAS's column-major terms y^T (N, M) = W^T... i.e. op(A) = A^T with A
 * the (K, N) column-major view of W, B the (K, M) view of x. */
static pe_status linear(pe_encoder_cuda *cu, const float *x, const float *W, const void *W16, float *y, int M,
                        int N, int K, pe_error *err)
{
    const float one = 1.0f, zero = 0.0f;
    if (M <= 0) return PE_OK;
    if (cu->precision == PE_CUDA_BF16) {
        CU_TRY(enc_cuk_f32_to_bf16(x, cu->act16, (size_t)M * K, cu->stream), "bf16 activation conversion");
        BLAS_TRY(cublasGemmEx(cu->blas, CUBLAS_OP_T, CUBLAS_OP_N, N, M, K, &one, W16, CUDA_R_16BF, K, cu->act16,
                              CUDA_R_16BF, K, &zero, y, CUDA_R_32F, N, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                 "cublasGemmEx (bf16 projection)");
    } else {
        BLAS_TRY(cublasGemmEx(cu->blas, CUBLAS_OP_T, CUBLAS_OP_N, N, M, K, &one, W, CUDA_R_32F, K, x, CUDA_R_32F, K,
                              &zero, y, CUDA_R_32F, N, cu->proj_compute, CUBLAS_GEMM_DEFAULT),
                 "cublasGemmEx (projection)");
    }
    return PE_OK;
}

/* Batched GEMMs per call at most: some cuBLAS/CUTLASS kernels put the batch
 * on grid y or z, limited to 65535 blocks (many short sequences reach it:
 * 6000 one-token sequences with 12 heads). */
#define PE_CUDA_MAX_GEMM_BATCH 65535

/* Sequences per attention chunk for a batch whose longest sequence is Lp. */
static int attn_chunk(const pe_encoder_cuda *cu, int B, int Lp)
{
    const size_t per_seq = (size_t)cu->cfg.heads * Lp * Lp * sizeof(float);
    size_t n = per_seq ? cu->attn_budget / per_seq : (size_t)B;
    if (n > (size_t)(PE_CUDA_MAX_GEMM_BATCH / cu->cfg.heads)) n = (size_t)(PE_CUDA_MAX_GEMM_BATCH / cu->cfg.heads);
    if (n < 1) n = 1;
    return n < (size_t)B ? (int)n : B;
}

/* ctx (T, C) from qkv (T, 3C) without bias, chunk sequences at a time;
 * off the host offsets (B+1), the same ones are in d_ints. */
static pe_status attention(pe_encoder_cuda *cu, const cuda_layer *ly, int T, int B, const int *off, int chunk,
                           pe_error *err)
{
    const int H = cu->cfg.heads, C = cu->cfg.hidden, D = C / H;
    const int32_t *seq = cu->d_ints + 3 * (size_t)T, *row = cu->d_ints + 4 * (size_t)T,
                  *offsets = cu->d_ints + 5 * (size_t)T;
    const float scale = 1.0f / sqrtf((float)D), one = 1.0f, zero = 0.0f;
    for (int s0 = 0; s0 < B; s0 += chunk) {
        const int nb = B - s0 < chunk ? B - s0 : chunk;
        int Lp = 0; /* this chunk's longest sequence */
        for (int s = s0; s < s0 + nb; s++)
            if (off[s + 1] - off[s] > Lp) Lp = off[s + 1] - off[s];
        if (Lp == 0) continue;
        const long long sqkv = (long long)Lp * D, ss = (long long)Lp * Lp;
        CU_TRY(enc_cuk_qkv_to_padded(cu->qkv, ly->qkv_b, offsets + s0, cu->q, cu->k, cu->v, nb, H, Lp, D,
                                    cu->stream), "qkv scatter kernel");
        /* scores (Lp, Lp) = scale * q (Lp, D) . k^T per (sequence, head) */
        BLAS_TRY(cublasGemmStridedBatchedEx(cu->blas, CUBLAS_OP_T, CUBLAS_OP_N, Lp, Lp, D, &scale, cu->k, CUDA_R_32F,
                                            D, sqkv, cu->q, CUDA_R_32F, D, sqkv, &zero, cu->scores, CUDA_R_32F, Lp,
                                            ss, nb * H, cu->attn_compute, CUBLAS_GEMM_DEFAULT),
                 "cublasGemmStridedBatchedEx (attention scores)");
        CU_TRY(enc_cuk_masked_softmax(cu->scores, offsets + s0, nb, H, Lp, cu->stream), "softmax kernel");
        /* context (Lp, D) = P (Lp, Lp) . v (Lp, D), written over q (read above) */
        float *ctxp = cu->q;
        BLAS_TRY(cublasGemmStridedBatchedEx(cu->blas, CUBLAS_OP_N, CUBLAS_OP_N, D, Lp, Lp, &one, cu->v, CUDA_R_32F,
                                            D, sqkv, cu->scores, CUDA_R_32F, Lp, ss, &zero, ctxp, CUDA_R_32F, D,
                                            sqkv, nb * H, cu->attn_compute, CUBLAS_GEMM_DEFAULT),
                 "cublasGemmStridedBatchedEx (attention context)");
        CU_TRY(enc_cuk_padded_to_packed(ctxp, seq, row, cu->ctx, off[s0], off[s0 + nb] - off[s0], s0, H, Lp, D,
                                       cu->stream), "context gather kernel");
    }
    return PE_OK;
}

/* Checks the offsets of batch b; *Lp = its longest sequence. */
static pe_status scan_offsets(const pe_encoder_cuda *cu, const pe_encoder_batch *b, int *Lp, pe_error *err)
{
    const int T = b->n_tokens, B = b->n_seq;
    *Lp = 0;
    if (b->offsets[0] != 0 || b->offsets[B] != T)
        return pe_error_set(err, PE_ERR_INVALID, "batch: offsets run %d..%d, expected 0..%d tokens", b->offsets[0],
                            b->offsets[B], T);
    for (int s = 0; s < B; s++) {
        const int len = b->offsets[s + 1] - b->offsets[s];
        if (len < 0) return pe_error_set(err, PE_ERR_INVALID, "batch: offsets decrease at sequence %d", s + 1);
        if (len > cu->cfg.max_position)
            return pe_error_set(err, PE_ERR_INVALID, "batch: sequence %d has %d tokens, the model takes %d", s, len,
                                cu->cfg.max_position);
        if (len > *Lp) *Lp = len;
    }
    return PE_OK;
}

/* Checks the tokens of batch b (offsets already checked) and fills the host
 * staging ints: ids, types, positions, seq, row (T each), offsets (B+1). */
static pe_status stage_batch(pe_encoder_cuda *cu, const pe_encoder_batch *b, pe_error *err)
{
    const pe_encoder_config *c = &cu->cfg;
    const int T = b->n_tokens, B = b->n_seq;
    int32_t *ids = cu->h_ints, *types = ids + T, *pos = types + T, *seq = pos + T, *row = seq + T,
            *off = row + T;
    for (int s = 0; s < B; s++) {
        const int t0 = b->offsets[s], len = b->offsets[s + 1] - t0;
        off[s] = t0;
        for (int i = 0; i < len; i++) {
            const int t = t0 + i;
            const int32_t id = b->ids[t], ty = b->type_ids ? b->type_ids[t] : 0,
                          p = b->positions ? b->positions[t] : i;
            if (id < 0 || id >= c->vocab_size)
                return pe_error_set(err, PE_ERR_INVALID, "batch: token %d (sequence %d) has id %d, vocabulary %d", t,
                                    s, (int)id, c->vocab_size);
            if (ty < 0 || ty >= c->type_vocab)
                return pe_error_set(err, PE_ERR_INVALID, "batch: token %d (sequence %d) has type %d, the model has %d",
                                    t, s, (int)ty, c->type_vocab);
            if (p < 0 || p >= c->max_position)
                return pe_error_set(err, PE_ERR_INVALID, "batch: token %d (sequence %d) has position %d, max %d", t,
                                    s, (int)p, c->max_position);
            ids[t] = id;
            types[t] = ty;
            pos[t] = p;
            seq[t] = s;
            row[t] = i;
        }
    }
    off[B] = T;
    return PE_OK;
}

static pe_status forward(pe_encoder_cuda *cu, const pe_encoder_batch *b, int out_layer, float *out, float *pooled,
                         pe_error *err)
{
    const pe_encoder_config *c = &cu->cfg;
    const int T = b->n_tokens, B = b->n_seq, C = c->hidden, I = c->intermediate;
    const float eps = c->layer_norm_eps;
    pe_status st;
    int Lp;

    if (out_layer == -1) out_layer = c->layers;
    if (out_layer < 0 || out_layer > c->layers)
        return pe_error_set(err, PE_ERR_INVALID, "layer %d out of range (0..%d)", out_layer, c->layers);
    if (pooled && !c->has_pooler) return pe_error_set(err, PE_ERR_UNSUPPORTED, "the model has no pooler");
    if (pooled && out_layer != c->layers)
        return pe_error_set(err, PE_ERR_INVALID, "the pooler needs the last layer (%d), not %d", c->layers,
                            out_layer);
    if (B < 0 || T < 0 || (B > 0 && (!b->offsets || (T > 0 && !b->ids))))
        return pe_error_set(err, PE_ERR_INVALID, "batch: %d sequences, %d tokens, missing arrays", B, T);
    if (B == 0) return PE_OK;

    PE_TRY(st, scan_offsets(cu, b, &Lp, err));
    CU_TRY(cudaSetDevice(cu->device), "cudaSetDevice");
    const int chunk = attn_chunk(cu, B, Lp);
    PE_TRY(st, ws_reserve(cu, T, B, (size_t)chunk * Lp * C, (size_t)chunk * c->heads * Lp * Lp, err));
    PE_TRY(st, stage_batch(cu, b, err));
    /* staging and d_ints share one layout, packed for this T and B */
    CU_TRY(cudaMemcpyAsync(cu->d_ints, cu->h_ints, (5 * (size_t)T + B + 1) * sizeof(int32_t),
                           cudaMemcpyHostToDevice, cu->stream), "uploading the batch");
    const int32_t *ids = cu->d_ints, *types = ids + T, *pos = types + T;

    CU_TRY(enc_cuk_embed_layernorm(ids, types, pos, cu->word, cu->pos, cu->type, cu->emb_g, cu->emb_b, cu->x, T, C,
                                  eps, cu->stream), "embedding kernel");
    for (int l = 0; l < out_layer; l++) {
        const cuda_layer *ly = &cu->layer[l];
        PE_TRY(st, linear(cu, cu->x, ly->qkv_w, ly->qkv_w16, cu->qkv, T, 3 * C, C, err));
        PE_TRY(st, attention(cu, ly, T, B, b->offsets, chunk, err));
        PE_TRY(st, linear(cu, cu->ctx, ly->attn_out_w, ly->attn_out_w16, cu->proj, T, C, C, err));
        CU_TRY(enc_cuk_bias_residual_layernorm(cu->proj, ly->attn_out_b, cu->x, ly->ln1_g, ly->ln1_b, cu->x, T, C,
                                              eps, cu->stream), "LayerNorm kernel");
        PE_TRY(st, linear(cu, cu->x, ly->ffn_in_w, ly->ffn_in_w16, cu->ffn, T, I, C, err));
        CU_TRY(enc_cuk_bias_gelu(cu->ffn, ly->ffn_in_b, T, I, cu->stream), "GELU kernel");
        PE_TRY(st, linear(cu, cu->ffn, ly->ffn_out_w, ly->ffn_out_w16, cu->proj, T, C, I, err));
        CU_TRY(enc_cuk_bias_residual_layernorm(cu->proj, ly->ffn_out_b, cu->x, ly->ln2_g, ly->ln2_b, cu->x, T, C,
                                              eps, cu->stream), "LayerNorm kernel");
    }
    if (out && T > 0)
        CU_TRY(cudaMemcpyAsync(out, cu->x, (size_t)T * C * sizeof(float), cudaMemcpyDeviceToHost, cu->stream),
               "downloading the hidden states");
    if (pooled) {
        const int32_t *offsets = cu->d_ints + 5 * (size_t)T;
        CU_TRY(enc_cuk_gather_first(cu->x, offsets, cu->pool_in, B, C, cu->stream), "pooler gather kernel");
        PE_TRY(st, linear(cu, cu->pool_in, cu->pool_w, cu->pool_w16, cu->pool_out, B, C, C, err));
        CU_TRY(enc_cuk_bias_tanh(cu->pool_out, cu->pool_b, B, C, cu->stream), "pooler tanh kernel");
        CU_TRY(cudaMemcpyAsync(pooled, cu->pool_out, (size_t)B * C * sizeof(float), cudaMemcpyDeviceToHost,
                               cu->stream), "downloading the pooled vectors");
    }
    CU_TRY(cudaStreamSynchronize(cu->stream), "running the forward pass");
    return PE_OK;
}

pe_status enc_forward_cuda_ex(pe_encoder_cuda *cu, const pe_encoder_batch *b, int out_layer, float *out,
                                     float *pooled, pe_error *err)
{
    int prev = -1;
    if (cudaGetDevice(&prev) != cudaSuccess) prev = -1;
    cudaGetLastError(); /* start clean: an earlier failure elsewhere on this thread is not ours */
    pe_status st = forward(cu, b, out_layer, out, pooled, err);
    if (st != PE_OK && cu->stream) cudaStreamSynchronize(cu->stream); /* leave nothing in flight on error */
    /* the caller's current device is left as it was */
    if (prev >= 0 && prev != cu->device) cudaSetDevice(prev);
    if (st != PE_OK) cudaGetLastError();
    return st;
}

pe_status enc_forward_cuda(pe_encoder_cuda *cu, const pe_encoder_batch *b, int out_layer, float *out,
                                  pe_error *err)
{
    return enc_forward_cuda_ex(cu, b, out_layer, out, NULL, err);
}
