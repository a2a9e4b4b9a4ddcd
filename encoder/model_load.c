/* model_load.c - loading an encoder from a Hugging Face checkpoint
 * (safetensors + config.json + vocabulary) or a .pem file, binding the
 * stored tensors to the weights struct, and the accessors. */
#include <cblas.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kernels.h"
#include "model_internal.h"
#ifdef PE_HAVE_CUDA
#include "cuda/cuda_backend.h"
#endif

/* ---- dtype conversion ---- */

const char *enc_dtype_name(int dtype)
{
    switch (dtype) {
    case PE_DTYPE_F32: return "f32";
    case PE_DTYPE_F16: return "f16";
    case PE_DTYPE_BF16: return "bf16";
    default: return "other";
    }
}

static float bits_to_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

float enc_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    if (exp == 0x1f) return bits_to_f32(sign | 0x7f800000u | (man << 13)); /* inf / nan */
    if (exp == 0) {
        /* zero or subnormal: man * 2^-24 */
        float v = (float)man * (1.0f / 16777216.0f);
        return sign ? -v : v;
    }
    return bits_to_f32(sign | ((exp + 112) << 23) | (man << 13));
}

float enc_bf16_to_f32(uint16_t h) { return bits_to_f32((uint32_t)h << 16); }

uint16_t enc_f32_to_f16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    uint32_t sign = (u >> 16) & 0x8000;
    int32_t exp = (int32_t)((u >> 23) & 0xff);
    uint32_t man = u & 0x7fffff;
    if (exp == 0xff) return (uint16_t)(sign | 0x7c00 | (man ? 0x200 : 0)); /* inf / nan */
    int32_t e = exp - 127 + 15;
    if (e >= 0x1f) return (uint16_t)(sign | 0x7c00); /* overflow: inf */
    if (e <= 0) {
        /* subnormal half (or zero): shift the full mantissa, round to nearest even */
        if (e < -10) return (uint16_t)sign;
        man |= 0x800000;
        int shift = 14 - e;
        uint32_t half = man >> shift, rem = man & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = sign | ((uint32_t)e << 10) | (man >> 13), rem = man & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (half & 1))) half++; /* may carry into the exponent: correct */
    return (uint16_t)half;
}

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
/* cpuid 1 ecx F16C; "avx" also checks that the OS saves ymm. (clang < 16
 * knows no "f16c" for __builtin_cpu_supports.) */
static int has_f16c(void)
{
    unsigned a, b, c, d;
    return __builtin_cpu_supports("avx") && __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
}
/* F16C: 8 halves per instruction; BERT-base f16 loads 10x faster. */
__attribute__((target("f16c,avx"))) static size_t f16_to_f32_f16c(const unsigned char *p, float *dst, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 2 * i))));
    return i;
}
#endif

static void convert_to_f32(const pe_encoder_stored_tensor *t, float *dst)
{
    size_t n = t->nbytes / (t->dtype == PE_DTYPE_F32 ? 4 : 2), i = 0;
    const unsigned char *p = t->data;
    if (t->dtype == PE_DTYPE_F32) {
        memcpy(dst, p, t->nbytes);
    } else if (t->dtype == PE_DTYPE_F16) {
#if defined(__x86_64__)
        if (has_f16c()) i = f16_to_f32_f16c(p, dst, n);
#endif
        for (; i < n; i++) dst[i] = enc_f16_to_f32((uint16_t)(p[2 * i] | (p[2 * i + 1] << 8)));
    } else {
        for (; i < n; i++) {
            uint32_t u = (uint32_t)(p[2 * i] | (p[2 * i + 1] << 8)) << 16;
            memcpy(&dst[i], &u, 4);
        }
    }
}

/* ---- binding stored tensors to the weights ---- */

typedef struct bind_ctx {
    pe_encoder *enc;
    const char *path;
    int hf;          /* HF names (safetensors) or .pem names */
    int pass;        /* 0: check and count arena floats; 1: fill */
    size_t cursor;   /* floats of the arena used so far */
    unsigned char *used; /* (n_tensors) */
    int weights_dtype;   /* dtype of the embedding matrix, for info */
    pe_error *err;
} bind_ctx;

static int find_exact(const pe_encoder *enc, const char *name)
{
    for (int i = 0; i < enc->n_tensors; i++)
        if (strcmp(enc->tensors[i].name, name) == 0) return i;
    return -1;
}

/* HF name with or without the "bert." prefix; LayerNorm weight/bias also as
 * the gamma/beta of TF-converted checkpoints. Returns the index, -1 if absent. */
static int find_hf(const pe_encoder *enc, const char *suffix)
{
    char buf[256];
    const char *alt_from[] = {"LayerNorm.weight", "LayerNorm.bias"}, *alt_to[] = {"LayerNorm.gamma", "LayerNorm.beta"};
    for (int variant = 0; variant < 2; variant++) {
        char name[200];
        snprintf(name, sizeof name, "%s", suffix);
        if (variant == 1) {
            int changed = 0;
            for (int k = 0; k < 2; k++) {
                size_t ls = strlen(name), lf = strlen(alt_from[k]);
                if (ls >= lf && strcmp(name + ls - lf, alt_from[k]) == 0) {
                    snprintf(name + ls - lf, sizeof name - (ls - lf), "%s", alt_to[k]);
                    changed = 1;
                }
            }
            if (!changed) break;
        }
        snprintf(buf, sizeof buf, "bert.%s", name);
        int i = find_exact(enc, buf);
        if (i < 0) i = find_exact(enc, name);
        if (i >= 0) return i;
    }
    return -1;
}

static void fmt_shape(char *buf, size_t cap, const int64_t *shape, int ndim)
{
    size_t n = 0;
    n += (size_t)snprintf(buf + n, cap - n, "(");
    for (int i = 0; i < ndim && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (n < cap) snprintf(buf + n, cap - n, ")");
}

/* Binds the concatenation (along rows) of the k stored tensors idx[0..k) to
 * *dst; each must have shape (rows, cols), or (rows) when cols == 0. names
 * are what messages call them. */
static pe_status bind(bind_ctx *c, const int *idx, const char *const *names, int k, int64_t rows, int64_t cols,
                      const float **dst)
{
    pe_encoder *enc = c->enc;
    int ndim = cols ? 2 : 1;
    int64_t want[2] = {rows, cols};
    for (int j = 0; j < k; j++) {
        if (idx[j] < 0) return pe_error_set(c->err, PE_ERR_INVALID, "%s: missing tensor %s", c->path, names[j]);
        const pe_encoder_stored_tensor *t = &enc->tensors[idx[j]];
        if (t->ndim != ndim || t->shape[0] != rows || (ndim == 2 && t->shape[1] != cols)) {
            char e[64], g[96];
            fmt_shape(e, sizeof e, want, ndim);
            fmt_shape(g, sizeof g, t->shape, t->ndim);
            return pe_error_set(c->err, PE_ERR_SHAPE, "%s: %s: expected %s, got %s", c->path, t->name, e, g);
        }
        if (t->dtype == PE_DTYPE_OTHER)
            return pe_error_set(c->err, PE_ERR_UNSUPPORTED, "%s: %s: dtype %s not supported (F32, F16, BF16)",
                                c->path, t->name, t->dtype_name);
        c->used[idx[j]] = 1;
    }
    const pe_encoder_stored_tensor *t0 = &enc->tensors[idx[0]];
    if (k == 1 && t0->dtype == PE_DTYPE_F32 && ((uintptr_t)t0->data & 3) == 0) {
        if (c->pass == 1) *dst = t0->data; /* in place in the mapping */
        return PE_OK;
    }
    size_t per = (size_t)rows * (size_t)(cols ? cols : 1);
    if (c->pass == 1) {
        float *p = enc->arena + c->cursor;
        for (int j = 0; j < k; j++) convert_to_f32(&enc->tensors[idx[j]], p + (size_t)j * per);
        *dst = p;
    }
    c->cursor += ((per * (size_t)k + 15) / 16) * 16; /* 64-byte aligned tensors */
    return PE_OK;
}

static pe_status bind_one(bind_ctx *c, const char *name, int64_t rows, int64_t cols, const float **dst)
{
    int i = c->hf ? find_hf(c->enc, name) : find_exact(c->enc, name);
    return bind(c, &i, &name, 1, rows, cols, dst);
}

static pe_status bind_all(bind_ctx *c)
{
    pe_encoder *enc = c->enc;
    const pe_encoder_config *g = &enc->cfg;
    pe_encoder_weights *w = &enc->w;
    const int64_t C = g->hidden, Ci = g->intermediate;
    pe_status st;
    char n1[128], n2[128], n3[128];
    int hf = c->hf;
    PE_TRY(st, bind_one(c, hf ? "embeddings.word_embeddings.weight" : "emb.word", g->vocab_size, C, &w->word_emb));
    PE_TRY(st, bind_one(c, hf ? "embeddings.position_embeddings.weight" : "emb.pos", g->max_position, C, &w->pos_emb));
    PE_TRY(st, bind_one(c, hf ? "embeddings.token_type_embeddings.weight" : "emb.type", g->type_vocab, C, &w->type_emb));
    PE_TRY(st, bind_one(c, hf ? "embeddings.LayerNorm.weight" : "emb.ln.g", C, 0, &w->emb_ln_g));
    PE_TRY(st, bind_one(c, hf ? "embeddings.LayerNorm.bias" : "emb.ln.b", C, 0, &w->emb_ln_b));
    for (int l = 0; l < g->layers; l++) {
        pe_encoder_layer_weights *lw = &w->layer[l];
#define NAME(buf, hfname, pemname) \
    (snprintf(buf, sizeof buf, hf ? "encoder.layer.%d." hfname : "layer.%d." pemname, l), buf)
        if (hf) {
            const char *qkv_w[3] = {NAME(n1, "attention.self.query.weight", ""), NAME(n2, "attention.self.key.weight", ""),
                                    NAME(n3, "attention.self.value.weight", "")};
            int iw[3] = {find_hf(enc, qkv_w[0]), find_hf(enc, qkv_w[1]), find_hf(enc, qkv_w[2])};
            PE_TRY(st, bind(c, iw, qkv_w, 3, C, C, &lw->qkv_w));
            const char *qkv_b[3] = {NAME(n1, "attention.self.query.bias", ""), NAME(n2, "attention.self.key.bias", ""),
                                    NAME(n3, "attention.self.value.bias", "")};
            int ib[3] = {find_hf(enc, qkv_b[0]), find_hf(enc, qkv_b[1]), find_hf(enc, qkv_b[2])};
            PE_TRY(st, bind(c, ib, qkv_b, 3, C, 0, &lw->qkv_b));
        } else {
            PE_TRY(st, bind_one(c, NAME(n1, "", "qkv.w"), 3 * C, C, &lw->qkv_w));
            PE_TRY(st, bind_one(c, NAME(n1, "", "qkv.b"), 3 * C, 0, &lw->qkv_b));
        }
        PE_TRY(st, bind_one(c, NAME(n1, "attention.output.dense.weight", "attn_out.w"), C, C, &lw->attn_out_w));
        PE_TRY(st, bind_one(c, NAME(n1, "attention.output.dense.bias", "attn_out.b"), C, 0, &lw->attn_out_b));
        PE_TRY(st, bind_one(c, NAME(n1, "attention.output.LayerNorm.weight", "ln1.g"), C, 0, &lw->ln1_g));
        PE_TRY(st, bind_one(c, NAME(n1, "attention.output.LayerNorm.bias", "ln1.b"), C, 0, &lw->ln1_b));
        PE_TRY(st, bind_one(c, NAME(n1, "intermediate.dense.weight", "ffn_in.w"), Ci, C, &lw->ffn_in_w));
        PE_TRY(st, bind_one(c, NAME(n1, "intermediate.dense.bias", "ffn_in.b"), Ci, 0, &lw->ffn_in_b));
        PE_TRY(st, bind_one(c, NAME(n1, "output.dense.weight", "ffn_out.w"), C, Ci, &lw->ffn_out_w));
        PE_TRY(st, bind_one(c, NAME(n1, "output.dense.bias", "ffn_out.b"), C, 0, &lw->ffn_out_b));
        PE_TRY(st, bind_one(c, NAME(n1, "output.LayerNorm.weight", "ln2.g"), C, 0, &lw->ln2_g));
        PE_TRY(st, bind_one(c, NAME(n1, "output.LayerNorm.bias", "ln2.b"), C, 0, &lw->ln2_b));
#undef NAME
    }
    const char *pw = hf ? "pooler.dense.weight" : "pooler.w", *pb = hf ? "pooler.dense.bias" : "pooler.b";
    int iw = hf ? find_hf(enc, pw) : find_exact(enc, pw), ib = hf ? find_hf(enc, pb) : find_exact(enc, pb);
    if (iw >= 0 || ib >= 0) {
        PE_TRY(st, bind(c, &iw, &pw, 1, C, C, &w->pooler_w));
        PE_TRY(st, bind(c, &ib, &pb, 1, C, 0, &w->pooler_b));
        enc->cfg.has_pooler = 1;
    }
    int wi = hf ? find_hf(enc, "embeddings.word_embeddings.weight") : find_exact(enc, "emb.word");
    c->weights_dtype = enc->tensors[wi].dtype;
    return PE_OK;
}

static int cmp_data(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)(*(const pe_encoder_stored_tensor *const *)a)->data,
              y = (uintptr_t)(*(const pe_encoder_stored_tensor *const *)b)->data;
    return x < y ? -1 : x > y;
}

/* Tensors sharing bytes are refused (neither format writes them): the
 * arena and the prepared projections then stay within about twice the
 * file's size, whatever offsets a header claims. */
static pe_status check_disjoint(const pe_encoder *enc, const char *path, pe_error *err)
{
    int n = enc->n_tensors;
    if (n < 2) return PE_OK;
    const pe_encoder_stored_tensor **v = malloc((size_t)n * sizeof *v);
    if (!v) return pe_error_set(err, PE_ERR_NOMEM, "%s: out of memory", path);
    for (int i = 0; i < n; i++) v[i] = &enc->tensors[i];
    qsort(v, (size_t)n, sizeof *v, cmp_data);
    pe_status st = PE_OK;
    const pe_encoder_stored_tensor *last = NULL; /* the one ending furthest so far */
    for (int i = 0; i < n && st == PE_OK; i++) {
        if (v[i]->nbytes == 0) continue;
        uintptr_t b = (uintptr_t)v[i]->data;
        if (last && b < (uintptr_t)last->data + last->nbytes)
            st = pe_error_set(err, PE_ERR_CORRUPT, "%s: tensors %s and %s share bytes (overlapping offsets)", path,
                              last->name, v[i]->name);
        if (!last || b + v[i]->nbytes > (uintptr_t)last->data + last->nbytes) last = v[i];
    }
    free(v);
    return st;
}

/* Binds every encoder tensor: pass 0 checks names, shapes and dtypes and
 * sizes the arena for tensors that cannot be used in place (fused QKV,
 * converted dtypes); pass 1 fills it. Then lists the extra tensors. */
static pe_status bind_weights(pe_encoder *enc, const char *path, int hf, pe_error *err)
{
    pe_status st;
    bind_ctx c = {.enc = enc, .path = path, .hf = hf, .err = err};
    PE_TRY(st, check_disjoint(enc, path, err));
    enc->w.layer = calloc((size_t)enc->cfg.layers, sizeof *enc->w.layer);
    c.used = calloc((size_t)enc->n_tensors + 1, 1);
    if (!enc->w.layer || !c.used) {
        free(c.used);
        return pe_error_set(err, PE_ERR_NOMEM, "%s: out of memory", path);
    }
    st = bind_all(&c);
    if (st == PE_OK && c.cursor) {
        if (posix_memalign((void **)&enc->arena, 64, c.cursor * sizeof(float)) != 0) {
            enc->arena = NULL;
            st = pe_error_set(err, PE_ERR_NOMEM, "%s: out of memory for %zu parameters", path, c.cursor);
        }
        enc->arena_floats = c.cursor;
    }
    if (st == PE_OK) {
        c.pass = 1;
        c.cursor = 0;
        memset(c.used, 0, (size_t)enc->n_tensors);
        st = bind_all(&c);
    }
    if (st == PE_OK) {
        enc->dtype = strdup(enc_dtype_name(c.weights_dtype));
        enc->extra = calloc((size_t)enc->n_tensors + 1, sizeof *enc->extra);
        if (!enc->dtype || !enc->extra) st = pe_error_set(err, PE_ERR_NOMEM, "%s: out of memory", path);
        for (int i = 0; st == PE_OK && i < enc->n_tensors; i++)
            if (!c.used[i]) enc->extra[enc->n_extra++] = enc->tensors[i].name; /* borrowed from tensors */
    }
    free(c.used);
    return st;
}

/* ---- after binding: backend, CPU projections, threads ---- */

#ifdef PE_HAVE_CUDA
/* The CUDA handle for options o (environment overrides applied). */
static pe_status open_cuda(pe_encoder *enc, const pe_encoder_options *o, pe_error *err)
{
    pe_cuda_options co = enc_cuda_options_default();
    co.device = o->device;
    co.precision = o->precision == PE_PRECISION_BF16   ? PE_CUDA_BF16
                   : o->precision == PE_PRECISION_TF32 ? PE_CUDA_TF32
                                                       : PE_CUDA_FP32;
    pe_status st;
    PE_TRY(st, enc_cuda_options_env(&co, err));
    pe_encoder_cuda *cu = NULL;
    PE_TRY(st, enc_cuda_new_ex(&enc->cfg, &enc->w, &co, &cu, err));
    enc->cuda = cu;
    enc->backend = PE_ENCODER_CUDA;
    enc->precision = enc_cuda_precision_name(enc_cuda_precision(cu));
    return PE_OK;
}
#endif

/* The precision comes from pe_encoder_options only (no environment switch). */
static pe_linear_weights *prepare_linear(const float *W, int N, int K, int bf16)
{
    return enc_linear_prepare_ex(W, N, K, bf16 ? PE_LINEAR_BF16 : PE_LINEAR_F32);
}

static pe_status prepare_backend(pe_encoder *enc, const pe_encoder_options *o, pe_error *err)
{
    const pe_encoder_config *g = &enc->cfg;
    int C = g->hidden, Ci = g->intermediate;
    if (o->backend != PE_ENCODER_AUTO && o->backend != PE_ENCODER_CPU && o->backend != PE_ENCODER_CUDA)
        return pe_error_set(err, PE_ERR_INVALID, "options: unknown backend %d", (int)o->backend);
    if (o->precision != PE_PRECISION_FP32 && o->precision != PE_PRECISION_TF32 && o->precision != PE_PRECISION_BF16)
        return pe_error_set(err, PE_ERR_INVALID, "options: unknown precision %d", (int)o->precision);
    if (o->device < 0) return pe_error_set(err, PE_ERR_INVALID, "options: CUDA device %d", o->device);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    enc->threads = o->threads > 0 ? o->threads : (cores > 0 ? (int)cores : 1);
    /* both process-wide: OpenBLAS's threads (the pooler) and the kernels' pool;
     * OpenBLAS is opened here (blas_lazy.c) */
    pe_status bst = enc_blas_load(err);
    if (bst >= PE_ERR_FIRST) return bst;
    openblas_set_num_threads(enc->threads);
    enc_kernels_set_threads(enc->threads);

    enc->backend = PE_ENCODER_CPU;
#ifdef PE_HAVE_CUDA
    if (o->backend == PE_ENCODER_CUDA) {
        pe_error why;
        pe_error_clear(&why);
        if (enc_cuda_probe(&why) <= 0)
            return pe_error_set(err, PE_ERR_UNSUPPORTED, "CUDA backend requested but unusable: %s", why.msg);
        return open_cuda(enc, o, err);
    }
    if (o->backend == PE_ENCODER_AUTO && enc_cuda_available()) {
        /* A device that is there but cannot take the model (too old, out of
         * memory, a bad $PE_CUDA_DEVICE) is no reason to fail: AUTO means
         * "the GPU if it works". Say why, then go on with the CPU. */
        pe_error why;
        pe_error_clear(&why);
        if (open_cuda(enc, o, &why) == PE_OK) return PE_OK;
        pe_log(PE_LOG_WARN, "encoder: CUDA device present but unusable (%s); using the CPU", why.msg);
        enc->backend = PE_ENCODER_CPU;
    }
#else
    if (o->backend == PE_ENCODER_CUDA)
        return pe_error_set(err, PE_ERR_UNSUPPORTED,
                            "CUDA backend requested but built without CUDA (configure with -DPE_CUDA=ON)");
#endif
    /* CPU: projections prepared (repacked) once; not needed on CUDA */
    const int bf16 = o->precision == PE_PRECISION_BF16;
    enc->lin = calloc((size_t)g->layers, sizeof *enc->lin);
    if (!enc->lin) return pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    for (int l = 0; l < g->layers; l++) {
        const pe_encoder_layer_weights *lw = &enc->w.layer[l];
        pe_encoder_layer_linear *L = &enc->lin[l];
        L->qkv = prepare_linear(lw->qkv_w, 3 * C, C, bf16);
        L->attn_out = prepare_linear(lw->attn_out_w, C, C, bf16);
        L->ffn_in = prepare_linear(lw->ffn_in_w, Ci, C, bf16);
        L->ffn_out = prepare_linear(lw->ffn_out_w, C, Ci, bf16);
        if (!L->qkv || !L->attn_out || !L->ffn_in || !L->ffn_out)
            return pe_error_set(err, PE_ERR_NOMEM, "out of memory preparing layer %d", l);
    }
    enc->precision = g->layers > 0 && enc_linear_weights_precision(enc->lin[0].qkv) == PE_LINEAR_BF16 ? "bf16" : "fp32";
    return PE_OK;
}

/* ---- loaders ---- */

static char *dup_or_empty(const char *s) { return strdup(s ? s : ""); }

static int is_dir(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static int is_file(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* dir of a path ("." when none), malloc'd. */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) return strdup(".");
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    char *d = malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, path, n);
    d[n] = '\0';
    return d;
}

/* Last component of a directory path, without trailing slashes, malloc'd. */
static char *base_of(const char *path)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;
    size_t b = n;
    while (b > 0 && path[b - 1] != '/') b--;
    char *s = malloc(n - b + 1);
    if (!s) return NULL;
    memcpy(s, path + b, n - b);
    s[n - b] = '\0';
    return s;
}

static pe_status load_safetensors(pe_encoder *enc, const char *st_path, const char *dir, pe_error *err)
{
    pe_status st;
    char *cfg_path = malloc(strlen(dir) + 16);
    if (!cfg_path) return pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    sprintf(cfg_path, "%s/config.json", dir);
    st = pe_encoder_config_read(cfg_path, &enc->cfg, err);
    free(cfg_path);
    if (st != PE_OK) return st;
    PE_TRY(st, enc_map_file(st_path, &enc->map, &enc->map_size, err));
    PE_TRY(st, enc_safetensors_parse(st_path, enc->map, enc->map_size, &enc->tensors, &enc->n_tensors, err));
    PE_TRY(st, bind_weights(enc, st_path, 1, err));
    /* The vocabulary: tokenizer.json or vocab.txt beside the weights, if any. */
    char *tj = malloc(strlen(dir) + 20), *vt = malloc(strlen(dir) + 20);
    if (!tj || !vt) {
        free(tj);
        free(vt);
        return pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    }
    sprintf(tj, "%s/tokenizer.json", dir);
    sprintf(vt, "%s/vocab.txt", dir);
    int has_vocab = is_file(tj) || is_file(vt);
    free(tj);
    free(vt);
    if (has_vocab) PE_TRY(st, pe_tokenizer_open_dir(dir, &enc->tok, err));
    enc->format = strdup("safetensors");
    enc->model_id = base_of(dir);
    if (!enc->format || !enc->model_id) return pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    return PE_OK;
}

static pe_status load_pem(pe_encoder *enc, const char *path, const pe_encoder_options *o, pe_error *err)
{
    pe_status st;
    pe_pem_header h;
    PE_TRY(st, enc_map_file(path, &enc->map, &enc->map_size, err));
    PE_TRY(st, enc_pem_parse(path, enc->map, enc->map_size, &h, err));
    if (o->verify_checksum) {
        const unsigned char *data = (const unsigned char *)enc->map + h.data_offset;
        pe_sha256 sh;
        char hex[65];
        pe_sha256_init(&sh);
        pe_sha256_update(&sh, data, enc->map_size - h.data_offset);
        pe_sha256_final_hex(&sh, hex);
        if (strcmp(hex, h.tensor_sha256 ? h.tensor_sha256 : "") != 0) {
            st = pe_error_set(err, PE_ERR_CHECKSUM, "%s: tensor data sha256 %s, header says %.64s", path, hex,
                              h.tensor_sha256 ? h.tensor_sha256 : "(none)");
            enc_pem_header_clear(&h);
            return st;
        }
    }
    enc->cfg = h.cfg;
    enc->tensors = h.tensors;
    enc->n_tensors = h.n_tensors;
    h.tensors = NULL;
    h.n_tensors = 0;
    enc->model_id = h.model_id, h.model_id = NULL;
    enc->model_version = h.model_version, h.model_version = NULL;
    enc->training_data = h.training_data, h.training_data = NULL;
    enc->created = h.created, h.created = NULL;
    enc->tensor_sha256 = h.tensor_sha256, h.tensor_sha256 = NULL;
    enc->tok = h.tok, h.tok = NULL;
    enc->heads = h.heads, enc->n_heads = h.n_heads, h.heads = NULL, h.n_heads = 0;
    enc_pem_header_clear(&h);
    PE_TRY(st, bind_weights(enc, path, 0, err));
    enc->format = strdup("pem");
    if (!enc->format) return pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    return PE_OK;
}

pe_encoder_options pe_encoder_options_default(void)
{
    pe_encoder_options o = {.backend = PE_ENCODER_AUTO, .precision = PE_PRECISION_FP32, .device = 0, .threads = 0,
                            .verify_checksum = 0};
    return o;
}

static pe_status load(const char *path, const pe_encoder_options *opts, int for_forward, pe_encoder **out,
                      pe_error *err)
{
    *out = NULL;
    pe_encoder_options o = opts ? *opts : pe_encoder_options_default();
    if (!path) return pe_error_set(err, PE_ERR_INVALID, "model path is NULL");
    pe_encoder *enc = calloc(1, sizeof *enc);
    if (!enc) return pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    pe_status st;
    char *dir = NULL, *stp = NULL;
    size_t n = strlen(path);
    if (is_dir(path)) {
        dir = strdup(path);
        stp = malloc(n + 20);
        if (!dir || !stp) {
            st = pe_error_set(err, PE_ERR_NOMEM, "out of memory");
            goto done;
        }
        sprintf(stp, "%s/model.safetensors", path);
        if (!is_file(stp)) {
            st = pe_error_set(err, PE_ERR_IO, "%s: no model.safetensors in this folder", path);
            goto done;
        }
        st = load_safetensors(enc, stp, dir, err);
    } else if (n >= 12 && strcmp(path + n - 12, ".safetensors") == 0) {
        dir = dir_of(path);
        stp = strdup(path);
        if (!dir || !stp) {
            st = pe_error_set(err, PE_ERR_NOMEM, "out of memory");
            goto done;
        }
        st = load_safetensors(enc, stp, dir, err);
    } else if (is_file(path)) {
        st = load_pem(enc, path, &o, err);
    } else {
        st = pe_error_set(err, PE_ERR_IO, "%s: no such model (a folder, a .safetensors or a .pem file)", path);
    }
    /* A token id the embedding has no row for would fail every text that
     * holds the token (at forward time, stopping a whole batch): refused
     * here, when the model is loaded (issue 7). */
    if (st == PE_OK && enc->tok && pe_tokenizer_vocab_size(enc->tok) > (size_t)enc->cfg.vocab_size)
        st = pe_error_set(err, PE_ERR_SHAPE,
                          "%s: the vocabulary has %zu tokens but the model's vocab_size is %d (word embedding "
                          "rows): tokens from id %d up would have no embedding", path,
                          pe_tokenizer_vocab_size(enc->tok), enc->cfg.vocab_size, enc->cfg.vocab_size);
    if (st == PE_OK && for_forward) st = prepare_backend(enc, &o, err);
    if (st == PE_OK) {
        enc->path = strdup(stp ? stp : path);
        char **meta[] = {&enc->model_id, &enc->model_version, &enc->training_data, &enc->created,
                         &enc->tensor_sha256};
        for (size_t i = 0; i < sizeof meta / sizeof meta[0]; i++)
            if (!*meta[i]) *meta[i] = dup_or_empty(NULL);
        if (!enc->path || !enc->model_id || !enc->model_version || !enc->training_data || !enc->created ||
            !enc->tensor_sha256)
            st = pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    }
done:
    free(dir);
    free(stp);
    if (st != PE_OK) {
        pe_encoder_free(enc);
        return st;
    }
    pe_error_clear(&enc->err);
    *out = enc;
    return PE_OK;
}

pe_status pe_encoder_load(const char *path, const pe_encoder_options *opts, pe_encoder **out, pe_error *err)
{
    return load(path, opts, 1, out, err);
}

pe_status enc_load_weights(const char *path, pe_encoder **out, pe_error *err)
{
    return load(path, NULL, 0, out, err);
}

pe_status pe_encoder_share(pe_encoder *enc, pe_encoder **out)
{
    *out = NULL;
    pe_error_clear(&enc->err);
    if (enc->backend != PE_ENCODER_CPU || !enc->lin)
        return pe_error_set(&enc->err, PE_ERR_UNSUPPORTED, "share: only a CPU model loaded for inference can be shared");
    pe_encoder *s = malloc(sizeof *s);
    if (!s) return pe_error_set(&enc->err, PE_ERR_NOMEM, "out of memory");
    *s = *enc;
    memset(&s->ws, 0, sizeof s->ws);
    pe_error_clear(&s->err);
    s->owner = enc->owner ? enc->owner : enc;
    *out = s;
    return PE_OK;
}

void pe_encoder_free(pe_encoder *enc)
{
    if (!enc) return;
    if (enc->owner) { /* a shared handle owns its workspace only */
        enc_ws_free(&enc->ws);
        free(enc);
        return;
    }
#ifdef PE_HAVE_CUDA
    enc_cuda_free(enc->cuda);
#endif
    if (enc->lin)
        for (int l = 0; l < enc->cfg.layers; l++) {
            enc_linear_weights_free(enc->lin[l].qkv);
            enc_linear_weights_free(enc->lin[l].attn_out);
            enc_linear_weights_free(enc->lin[l].ffn_in);
            enc_linear_weights_free(enc->lin[l].ffn_out);
        }
    free(enc->lin);
    enc_ws_free(&enc->ws);
    free(enc->w.layer);
    free(enc->arena);
    enc_stored_tensors_free(enc->tensors, enc->n_tensors);
    enc_unmap_file(enc->map, enc->map_size);
    free(enc->extra);
    free(enc->format);
    free(enc->dtype);
    free(enc->path);
    free(enc->model_id);
    free(enc->model_version);
    free(enc->training_data);
    free(enc->created);
    free(enc->tensor_sha256);
    enc_head_labels_free(enc->heads, enc->n_heads);
    pe_tokenizer_free(enc->tok);
    free(enc);
}

const char *pe_encoder_errmsg(const pe_encoder *enc) { return enc ? enc->err.msg : "no encoder"; }

int pe_encoder_hidden_size(const pe_encoder *enc) { return enc->cfg.hidden; }

const pe_tokenizer *pe_encoder_tokenizer(const pe_encoder *enc) { return enc->tok; }

void pe_encoder_get_info(const pe_encoder *enc, pe_encoder_info *out)
{
    memset(out, 0, sizeof *out);
    out->config = enc->cfg;
    out->format = enc->format;
    out->dtype = enc->dtype;
    out->path = enc->path;
    out->backend = enc->backend == PE_ENCODER_CUDA ? "cuda" : "cpu";
    out->precision = enc->precision ? enc->precision : "fp32";
    out->model_id = enc->model_id;
    out->model_version = enc->model_version;
    out->training_data = enc->training_data;
    out->created = enc->created;
    out->tensor_sha256 = enc->tensor_sha256;
    const pe_encoder_config *g = &enc->cfg;
    size_t C = (size_t)g->hidden, Ci = (size_t)g->intermediate;
    size_t per_layer = 3 * C * C + 3 * C + C * C + C + 2 * C + Ci * C + Ci + C * Ci + C + 2 * C;
    out->n_params = ((size_t)g->vocab_size + (size_t)g->max_position + (size_t)g->type_vocab) * C + 2 * C +
                    (size_t)g->layers * per_layer + (g->has_pooler ? C * C + C : 0);
    out->n_tensors = enc->n_tensors;
    out->n_extra = enc->n_extra;
    out->extra = (const char *const *)enc->extra;
    out->has_tokenizer = enc->tok != NULL;
}

pe_status pe_encoder_tensor(pe_encoder *enc, const char *name, pe_encoder_tensor_view *out)
{
    memset(out, 0, sizeof *out);
    if (!name) return pe_error_set(&enc->err, PE_ERR_INVALID, "tensor lookup: NULL name");
    int i = find_exact(enc, name);
    if (i < 0) {
        pe_error_set(&enc->err, PE_NOT_FOUND, "no tensor named %s", name);
        return PE_NOT_FOUND;
    }
    pe_encoder_stored_tensor *t = &enc->tensors[i];
    if (t->dtype == PE_DTYPE_OTHER)
        return pe_error_set(&enc->err, PE_ERR_UNSUPPORTED, "tensor %s: dtype %s cannot be read as f32", name,
                            t->dtype_name);
    int64_t numel = enc_shape_numel(t->shape, t->ndim);
    const float *data = NULL;
    if (t->dtype == PE_DTYPE_F32 && ((uintptr_t)t->data & 3) == 0) {
        data = t->data;
    } else {
        if (!t->f32) {
            t->f32 = malloc(numel ? (size_t)numel * sizeof(float) : 1);
            if (!t->f32) return pe_error_set(&enc->err, PE_ERR_NOMEM, "tensor %s: out of memory", name);
            convert_to_f32(t, t->f32);
        }
        data = t->f32;
    }
    out->data = data;
    out->ndim = t->ndim;
    memcpy(out->shape, t->shape, sizeof out->shape);
    out->numel = numel;
    return PE_OK;
}

pe_status pe_encoder_labels(const pe_encoder *enc, const char *head, const char *const **labels, int *n)
{
    *labels = NULL;
    *n = 0;
    char **v = NULL;
    int k = 0;
    if (!head) return PE_NOT_FOUND;
    for (int i = 0; i < enc->n_heads; i++)
        if (strcmp(enc->heads[i].head, head) == 0) v = enc->heads[i].labels, k = enc->heads[i].n;
    if (!v || k == 0) return PE_NOT_FOUND;
    *labels = (const char *const *)v;
    *n = k;
    return PE_OK;
}

int pe_encoder_n_heads(const pe_encoder *enc)
{
    return enc ? enc->n_heads : 0;
}

pe_status pe_encoder_head_at(const pe_encoder *enc, int i, const char **name, const char *const **labels, int *n)
{
    if (!enc || i < 0 || i >= enc->n_heads) return PE_NOT_FOUND;
    *name = enc->heads[i].head;
    *labels = (const char *const *)enc->heads[i].labels;
    *n = enc->heads[i].n;
    return PE_OK;
}

pe_status pe_encoder_tensor_at(const pe_encoder *enc, int i, pe_encoder_tensor_desc *out)
{
    memset(out, 0, sizeof *out);
    if (i < 0 || i >= enc->n_tensors) return PE_NOT_FOUND;
    const pe_encoder_stored_tensor *t = &enc->tensors[i];
    out->name = t->name;
    out->dtype = t->dtype_name;
    out->ndim = t->ndim;
    memcpy(out->shape, t->shape, sizeof out->shape);
    return PE_OK;
}
