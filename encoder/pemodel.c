/* pemodel.c - the project's .pem model file (specified in pe_encoder.h):
 * parser, writer, and the converter from Hugging Face checkpoints. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "model_internal.h"

static uint64_t rd_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static uint32_t rd_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void free_strv(char **v, int n)
{
    if (!v) return;
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

void enc_pem_header_clear(pe_pem_header *h)
{
    enc_stored_tensors_free(h->tensors, h->n_tensors);
    free(h->model_id);
    free(h->model_version);
    free(h->training_data);
    free(h->created);
    free(h->source);
    free(h->tensor_sha256);
    enc_head_labels_free(h->heads, h->n_heads);
    pe_tokenizer_free(h->tok);
    memset(h, 0, sizeof *h);
}

/* A string array (or absent) into a malloc'd vector of copies. */
static pe_status str_array(const cJSON *a, const char *path, const char *what, char ***out, int *n, pe_error *err)
{
    *out = NULL;
    *n = 0;
    if (!a || cJSON_IsNull(a)) return PE_OK;
    if (!cJSON_IsArray(a)) return pe_error_set(err, PE_ERR_PARSE, "%s: header: %s must be an array", path, what);
    int k = cJSON_GetArraySize(a);
    char **v = calloc((size_t)k + 1, sizeof *v);
    if (!v) return pe_error_set(err, PE_ERR_NOMEM, "%s: out of memory", path);
    int i = 0;
    for (const cJSON *e = a->child; e; e = e->next, i++) {
        if (!cJSON_IsString(e)) {
            free_strv(v, i);
            return pe_error_set(err, PE_ERR_PARSE, "%s: header: %s[%d] is not a string", path, what, i);
        }
        if (!(v[i] = strdup(e->valuestring))) {
            free_strv(v, i);
            return pe_error_set(err, PE_ERR_NOMEM, "%s: out of memory", path);
        }
    }
    *out = v;
    *n = k;
    return PE_OK;
}

static int json_u53(const cJSON *v, int64_t *out)
{
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    if (!(d >= 0 && d <= 9007199254740992.0) || d != floor(d)) return 0;
    *out = (int64_t)d;
    return 1;
}

static pe_status parse_tensors(const cJSON *arr, const char *path, const unsigned char *data, uint64_t data_size,
                               pe_pem_header *h, pe_error *err)
{
    if (!cJSON_IsArray(arr)) return pe_error_set(err, PE_ERR_PARSE, "%s: header: missing \"tensors\" array", path);
    int k = cJSON_GetArraySize(arr);
    h->tensors = calloc((size_t)k + 1, sizeof *h->tensors);
    if (!h->tensors) return pe_error_set(err, PE_ERR_NOMEM, "%s: out of memory", path);
    int i = 0;
    for (const cJSON *e = arr->child; e; e = e->next, i++) {
        pe_encoder_stored_tensor *t = &h->tensors[i];
        h->n_tensors = i + 1;
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(e, "name"), *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype"),
                    *sh = cJSON_GetObjectItemCaseSensitive(e, "shape"), *of = cJSON_GetObjectItemCaseSensitive(e, "offset"),
                    *nb = cJSON_GetObjectItemCaseSensitive(e, "nbytes");
        if (!cJSON_IsString(nm)) return pe_error_set(err, PE_ERR_PARSE, "%s: header: tensors[%d] has no name", path, i);
        if (!(t->name = strdup(nm->valuestring))) return pe_error_set(err, PE_ERR_NOMEM, "%s: out of memory", path);
        if (!cJSON_IsString(dt) || !cJSON_IsArray(sh))
            return pe_error_set(err, PE_ERR_PARSE, "%s: tensor %s: missing dtype or shape", path, t->name);
        int esize;
        if (strcmp(dt->valuestring, "f32") == 0) t->dtype = PE_DTYPE_F32, esize = 4;
        else if (strcmp(dt->valuestring, "f16") == 0) t->dtype = PE_DTYPE_F16, esize = 2;
        else
            return pe_error_set(err, PE_ERR_UNSUPPORTED, "%s: tensor %s: dtype \"%.16s\" not supported (f32, f16)",
                                path, t->name, dt->valuestring);
        snprintf(t->dtype_name, sizeof t->dtype_name, "%s", dt->valuestring);
        t->ndim = cJSON_GetArraySize(sh);
        if (t->ndim < 1 || t->ndim > 4)
            return pe_error_set(err, PE_ERR_PARSE, "%s: tensor %s: %d dimensions (1 to 4)", path, t->name, t->ndim);
        for (int d = 0; d < t->ndim; d++)
            if (!json_u53(cJSON_GetArrayItem(sh, d), &t->shape[d]))
                return pe_error_set(err, PE_ERR_PARSE, "%s: tensor %s: bad shape", path, t->name);
        int64_t numel = enc_shape_numel(t->shape, t->ndim), off, nbytes;
        if (numel < 0) return pe_error_set(err, PE_ERR_CORRUPT, "%s: tensor %s: shape too large", path, t->name);
        if (!json_u53(of, &off) || !json_u53(nb, &nbytes))
            return pe_error_set(err, PE_ERR_PARSE, "%s: tensor %s: bad offset or nbytes", path, t->name);
        if ((uint64_t)nbytes != (uint64_t)numel * (uint64_t)esize)
            return pe_error_set(err, PE_ERR_CORRUPT, "%s: tensor %s: nbytes %lld for %lld %s elements", path, t->name,
                                (long long)nbytes, (long long)numel, t->dtype_name);
        if (off % 64 != 0)
            return pe_error_set(err, PE_ERR_CORRUPT, "%s: tensor %s: offset %lld not a multiple of 64", path, t->name,
                                (long long)off);
        if ((uint64_t)off > data_size || (uint64_t)nbytes > data_size - (uint64_t)off)
            return pe_error_set(err, PE_ERR_CORRUPT,
                                "%s: tensor %s: bytes [%lld, %lld) outside the data (%llu bytes; file truncated?)", path,
                                t->name, (long long)off, (long long)(off + nbytes), (unsigned long long)data_size);
        t->data = data + off;
        t->nbytes = (size_t)nbytes;
    }
    return enc_stored_tensors_check_unique(path, h->tensors, h->n_tensors, err);
}

static pe_status meta_str(const cJSON *meta, const char *key, const char *path, char **out, pe_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(meta, key);
    if (v && !cJSON_IsString(v) && !cJSON_IsNull(v))
        return pe_error_set(err, PE_ERR_PARSE, "%s: header: metadata.%s must be a string", path, key);
    *out = strdup(cJSON_IsString(v) ? v->valuestring : "");
    return *out ? PE_OK : pe_error_set(err, PE_ERR_NOMEM, "%s: out of memory", path);
}

static int json_bool(const cJSON *o, const char *key, int dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : dflt;
}

static const char *json_str_or_null(const cJSON *o, const char *key, const char *dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsNull(v)) return NULL;
    return cJSON_IsString(v) ? v->valuestring : dflt;
}

static pe_status parse_tokenizer(const cJSON *t, const char *path, pe_pem_header *h, pe_error *err)
{
    if (!t || cJSON_IsNull(t)) return PE_OK;
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(t, "vocab");
    if (!cJSON_IsObject(t) || !cJSON_IsArray(vocab))
        return pe_error_set(err, PE_ERR_PARSE, "%s: header: tokenizer.vocab must be an array", path);
    pe_status st;
    char **tokens = NULL, **extra = NULL;
    int n = 0, n_extra = 0;
    PE_TRY(st, str_array(vocab, path, "tokenizer.vocab", &tokens, &n, err));
    st = str_array(cJSON_GetObjectItemCaseSensitive(t, "extra_special_tokens"), path, "tokenizer.extra_special_tokens",
                   &extra, &n_extra, err);
    if (st == PE_OK) {
        pe_tokenizer_options o = pe_tokenizer_options_default();
        o.do_lower_case = json_bool(t, "do_lower_case", o.do_lower_case);
        o.strip_accents = json_bool(t, "strip_accents", o.do_lower_case);
        o.tokenize_chinese_chars = json_bool(t, "tokenize_chinese_chars", o.tokenize_chinese_chars);
        o.clean_text = json_bool(t, "clean_text", o.clean_text);
        const cJSON *mc = cJSON_GetObjectItemCaseSensitive(t, "max_input_chars_per_word");
        if (cJSON_IsNumber(mc) && mc->valuedouble >= 1 && mc->valuedouble <= 1e6)
            o.max_input_chars_per_word = (int)mc->valuedouble;
        o.unk_token = json_str_or_null(t, "unk_token", o.unk_token);
        o.cls_token = json_str_or_null(t, "cls_token", o.cls_token);
        o.sep_token = json_str_or_null(t, "sep_token", o.sep_token);
        o.pad_token = json_str_or_null(t, "pad_token", o.pad_token);
        o.mask_token = json_str_or_null(t, "mask_token", o.mask_token);
        o.continuing_subword_prefix = json_str_or_null(t, "continuing_subword_prefix", o.continuing_subword_prefix);
        o.extra_special_tokens = (const char *const *)extra;
        o.n_extra_special_tokens = (size_t)n_extra;
        pe_error terr;
        pe_error_clear(&terr);
        st = pe_tokenizer_new_from_tokens((const char *const *)tokens, (size_t)n, &o, &h->tok, &terr);
        if (st != PE_OK) pe_error_set(err, st, "%s: tokenizer: %s", path, terr.msg);
    }
    free_strv(tokens, n);
    free_strv(extra, n_extra);
    return st;
}

pe_status enc_pem_parse(const char *path, const void *map_, size_t size, pe_pem_header *h, pe_error *err)
{
    const unsigned char *map = map_;
    memset(h, 0, sizeof *h);
    if (size < 8 || memcmp(map, PE_PEM_MAGIC, 8) != 0)
        return pe_error_set(err, PE_ERR_CORRUPT, "%s: not a .pem model file (bad magic)", path);
    if (size < PE_PEM_FIXED)
        return pe_error_set(err, PE_ERR_CORRUPT, "%s: truncated: %zu bytes, header needs %d", path, size, PE_PEM_FIXED);
    uint32_t version = rd_u32(map + 8);
    if (version != PE_PEM_VERSION)
        return pe_error_set(err, PE_ERR_UNSUPPORTED, "%s: .pem version %u not supported (this build reads %u)", path,
                            version, PE_PEM_VERSION);
    uint64_t hl = rd_u64(map + 16), doff = rd_u64(map + 24);
    if (hl > PE_MODEL_MAX_HEADER)
        return pe_error_set(err, PE_ERR_LIMIT, "%s: header length %llu exceeds the %llu-byte limit", path,
                            (unsigned long long)hl, (unsigned long long)PE_MODEL_MAX_HEADER);
    if (hl > size - PE_PEM_FIXED)
        return pe_error_set(err, PE_ERR_CORRUPT, "%s: header length %llu beyond the end of the file (%zu bytes)", path,
                            (unsigned long long)hl, size);
    if (doff < PE_PEM_FIXED + hl || doff % 64 != 0 || doff > size)
        return pe_error_set(err, PE_ERR_CORRUPT, "%s: bad data offset %llu (header ends at %llu, file %zu bytes)", path,
                            (unsigned long long)doff, (unsigned long long)(PE_PEM_FIXED + hl), size);
    h->data_offset = doff;
    const char *js = (const char *)map + PE_PEM_FIXED, *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(js, (size_t)hl, &end, 0);
    if (!root) {
        size_t at = end && end >= js && end <= js + hl ? (size_t)(end - js) : 0;
        return pe_error_set(err, PE_ERR_PARSE, "%s: invalid header JSON near byte %zu", path, PE_PEM_FIXED + at);
    }
    pe_status st = PE_OK;
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(root, "format");
    if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, "persona-encoder") != 0) {
        st = pe_error_set(err, PE_ERR_UNSUPPORTED, "%s: header format is not \"persona-encoder\"", path);
        goto done;
    }
    char what[300];
    snprintf(what, sizeof what, "%s: config", path);
    const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(root, "config");
    if (!cfg) {
        st = pe_error_set(err, PE_ERR_INVALID, "%s: header has no \"config\"", path);
        goto done;
    }
    if ((st = enc_config_from_json(cfg, what, &h->cfg, err)) != PE_OK) goto done;
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(root, "metadata");
    if (meta && !cJSON_IsObject(meta)) {
        st = pe_error_set(err, PE_ERR_PARSE, "%s: header: metadata must be an object", path);
        goto done;
    }
    if ((st = meta_str(meta, "model_id", path, &h->model_id, err)) != PE_OK ||
        (st = meta_str(meta, "model_version", path, &h->model_version, err)) != PE_OK ||
        (st = meta_str(meta, "training_data", path, &h->training_data, err)) != PE_OK ||
        (st = meta_str(meta, "created", path, &h->created, err)) != PE_OK ||
        (st = meta_str(meta, "source", path, &h->source, err)) != PE_OK ||
        (st = meta_str(meta, "tensor_sha256", path, &h->tensor_sha256, err)) != PE_OK)
        goto done;
    const cJSON *labels = cJSON_GetObjectItemCaseSensitive(root, "labels");
    if (labels && !cJSON_IsObject(labels)) {
        st = pe_error_set(err, PE_ERR_PARSE, "%s: header: labels must be an object", path);
        goto done;
    }
    if (labels) {
        int k = cJSON_GetArraySize(labels);
        h->heads = calloc((size_t)k + 1, sizeof *h->heads);
        if (!h->heads) {
            st = pe_error_set(err, PE_ERR_NOMEM, "%s: out of memory", path);
            goto done;
        }
        for (const cJSON *e = labels->child; e; e = e->next) {
            char what[96];
            snprintf(what, sizeof what, "labels.%.80s", e->string ? e->string : "?");
            pe_head_labels *hl = &h->heads[h->n_heads];
            if (!e->string || !*e->string) {
                st = pe_error_set(err, PE_ERR_PARSE, "%s: header: a labels entry has an empty name", path);
                goto done;
            }
            if ((st = str_array(e, path, what, &hl->labels, &hl->n, err)) != PE_OK) goto done;
            if (!(hl->head = strdup(e->string))) {
                st = pe_error_set(err, PE_ERR_NOMEM, "%s: out of memory", path);
                goto done;
            }
            h->n_heads++;
        }
    }
    if ((st = parse_tensors(cJSON_GetObjectItemCaseSensitive(root, "tensors"), path, map + doff, size - doff, h,
                            err)) != PE_OK)
        goto done;
    st = parse_tokenizer(cJSON_GetObjectItemCaseSensitive(root, "tokenizer"), path, h, err);
done:
    cJSON_Delete(root);
    if (st != PE_OK) enc_pem_header_clear(h);
    return st;
}

/* ---- writer ---- */

typedef struct pem_src {
    const char *name;  /* borrowed (the encoder's tensor names or names[]) */
    int ndim;          /* 1..4 */
    int64_t shape[4];
    const float *data; /* f32, numel = product(shape) */
} pem_src;

/* Shapes come from a loaded model, whose byte sizes were checked against
 * its file: the product fits. */
static size_t src_numel(const pem_src *s)
{
    size_t n = 1;
    for (int d = 0; d < s->ndim; d++) n *= (size_t)s->shape[d];
    return n;
}

static const unsigned char zeros64[64];

/* Streams the data section (tensors converted to the storage dtype, zero
 * padding to 64-byte offsets) into the hash and, when f is not NULL, the
 * file. Returns 0 on a write error. */
static int stream_data(const pem_src *t, int n, int f16, FILE *f, pe_sha256 *h)
{
    uint16_t buf[4096];
    uint64_t pos = 0;
    for (int i = 0; i < n; i++) {
        size_t numel = src_numel(&t[i]), bytes = numel * (f16 ? 2 : 4);
        if (f16) {
            for (size_t j = 0; j < numel;) {
                size_t k = numel - j < 4096 ? numel - j : 4096;
                for (size_t q = 0; q < k; q++) {
                    uint16_t v = enc_f32_to_f16(t[i].data[j + q]);
                    unsigned char *b = (unsigned char *)&buf[q];
                    b[0] = (unsigned char)(v & 0xff), b[1] = (unsigned char)(v >> 8);
                }
                pe_sha256_update(h, buf, k * 2);
                if (f && fwrite(buf, 2, k, f) != k) return 0;
                j += k;
            }
        } else {
            /* little-endian hosts only (x86-64, aarch64): f32 bytes as in memory */
            pe_sha256_update(h, t[i].data, bytes);
            if (f && fwrite(t[i].data, 1, bytes, f) != bytes) return 0;
        }
        pos += bytes;
        size_t pad = (size_t)((64 - pos % 64) % 64);
        if (i + 1 < n && pad) {
            pe_sha256_update(h, zeros64, pad);
            if (f && fwrite(zeros64, 1, pad, f) != pad) return 0;
            pos += pad;
        }
    }
    return 1;
}

static void wr_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static void wr_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* Writes a .pem: header (a cJSON object without "tensors" and
 * metadata.tensor_sha256, completed here) and the tensors; atomically via a
 * temporary file renamed over out_path. */
static pe_status pem_write(const char *out_path, cJSON *header, const pem_src *t, int n, int f16, pe_error *err)
{
    pe_sha256 h;
    char hex[65];
    pe_sha256_init(&h);
    stream_data(t, n, f16, NULL, &h);
    pe_sha256_final_hex(&h, hex);
    cJSON *meta = cJSON_GetObjectItemCaseSensitive(header, "metadata");
    cJSON *arr = cJSON_CreateArray();
    if (!meta || !arr || !cJSON_AddStringToObject(meta, "tensor_sha256", hex) ||
        !cJSON_AddItemToObject(header, "tensors", arr)) {
        cJSON_Delete(arr);
        return pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    }
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        size_t nbytes = src_numel(&t[i]) * (f16 ? 2 : 4);
        cJSON *e = cJSON_CreateObject(), *sh = cJSON_CreateArray();
        if (!e || !sh || !cJSON_AddItemToArray(arr, e) || !cJSON_AddStringToObject(e, "name", t[i].name) ||
            !cJSON_AddStringToObject(e, "dtype", f16 ? "f16" : "f32") || !cJSON_AddItemToObject(e, "shape", sh) ||
            !cJSON_AddNumberToObject(e, "offset", (double)off) || !cJSON_AddNumberToObject(e, "nbytes", (double)nbytes))
            return pe_error_set(err, PE_ERR_NOMEM, "out of memory");
        for (int d = 0; d < t[i].ndim; d++)
            if (!cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)t[i].shape[d])))
                return pe_error_set(err, PE_ERR_NOMEM, "out of memory");
        off += nbytes;
        off = (off + 63) / 64 * 64;
    }
    char *js = cJSON_PrintUnformatted(header);
    if (!js) return pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    size_t hl = strlen(js);
    uint64_t doff = (PE_PEM_FIXED + hl + 63) / 64 * 64;
    unsigned char fixed[PE_PEM_FIXED];
    memcpy(fixed, PE_PEM_MAGIC, 8);
    wr_u32(fixed + 8, PE_PEM_VERSION);
    wr_u32(fixed + 12, 0);
    wr_u64(fixed + 16, hl);
    wr_u64(fixed + 24, doff);

    /* through a temporary renamed over out_path (util: pe_file_tmp) */
    pe_file_tmp *ft = NULL;
    pe_status st = pe_file_tmp_open(out_path, &ft, err);
    if (st == PE_OK) {
        FILE *f = pe_file_tmp_stream(ft);
        size_t pad = (size_t)(doff - PE_PEM_FIXED - hl);
        pe_sha256 h2;
        pe_sha256_init(&h2);
        int ok = fwrite(fixed, 1, sizeof fixed, f) == sizeof fixed && fwrite(js, 1, hl, f) == hl &&
                 fwrite(zeros64, 1, pad, f) == pad && stream_data(t, n, f16, f, &h2);
        if (ok) {
            st = pe_file_tmp_commit(ft, err);
        } else {
            st = pe_error_set(err, PE_ERR_IO, "%s: write failed: %s", out_path, strerror(errno));
            pe_file_tmp_abort(ft);
        }
    }
    free(js);
    return st;
}

/* ---- converter ---- */

pe_encoder_convert_options pe_encoder_convert_options_default(void)
{
    pe_encoder_convert_options o = {0};
    o.keep_extra = 1;
    return o;
}

static void add_src(pem_src *v, int *n, const char *name, const float *data, int ndim, const int64_t *shape)
{
    pem_src *s = &v[(*n)++];
    s->name = name;
    s->ndim = ndim;
    memcpy(s->shape, shape, (size_t)ndim * sizeof *shape);
    s->data = data;
}

/* A weight matrix (rows, cols), or a vector (rows) when cols is 0. */
static void add_w(pem_src *v, int *n, const char *name, const float *data, int64_t rows, int64_t cols)
{
    const int64_t shape[2] = {rows, cols};
    add_src(v, n, name, data, cols ? 2 : 1, shape);
}

static int cmp_src_name(const void *a, const void *b)
{
    return strcmp((*(const pem_src *const *)a)->name, (*(const pem_src *const *)b)->name);
}

/* A checkpoint tensor kept under a name the .pem gives an encoder tensor
 * ("layer.0.qkv.w") would make a file naming it twice, which the loader
 * refuses: PE_ERR_INVALID naming it. Sorted: extras may be many. */
static pe_status check_src_names(const char *hf_dir, const pem_src *src, int n, pe_error *err)
{
    if (n < 2) return PE_OK;
    const pem_src **v = malloc((size_t)n * sizeof *v);
    if (!v) return pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++) v[i] = &src[i];
    qsort(v, (size_t)n, sizeof *v, cmp_src_name);
    pe_status st = PE_OK;
    for (int i = 1; i < n && st == PE_OK; i++)
        if (strcmp(v[i - 1]->name, v[i]->name) == 0)
            st = pe_error_set(err, PE_ERR_INVALID,
                              "%s: the checkpoint has a tensor named %s beside the encoder's own of that name in a "
                              ".pem; convert without the extra tensors (keep_extra = 0, --no-extra)",
                              hf_dir, v[i]->name);
    free(v);
    return st;
}

/* {"HEAD": [strings], ...}: any number of named heads. */
static pe_status check_labels(const cJSON *labels, pe_error *err)
{
    if (!cJSON_IsObject(labels)) return pe_error_set(err, PE_ERR_PARSE, "labels: not a JSON object");
    for (const cJSON *a = labels->child; a; a = a->next) {
        if (!a->string || !*a->string) return pe_error_set(err, PE_ERR_PARSE, "labels: an entry has an empty name");
        if (!cJSON_IsArray(a)) return pe_error_set(err, PE_ERR_PARSE, "labels.%.80s: not an array", a->string);
        int i = 0;
        for (const cJSON *e = a->child; e; e = e->next, i++)
            if (!cJSON_IsString(e))
                return pe_error_set(err, PE_ERR_PARSE, "labels.%.80s[%d]: not a string", a->string, i);
    }
    return PE_OK;
}

void enc_head_labels_free(pe_head_labels *h, int n)
{
    if (!h) return;
    for (int i = 0; i < n; i++) {
        free(h[i].head);
        free_strv(h[i].labels, h[i].n);
    }
    free(h);
}

static cJSON *tokenizer_json(const pe_tokenizer *tok)
{
    const pe_tokenizer_options *o = pe_tokenizer_get_options(tok);
    cJSON *t = cJSON_CreateObject();
    if (!t) return NULL;
    cJSON *v = cJSON_AddArrayToObject(t, "vocab");
    int ok = v != NULL;
    size_t n = pe_tokenizer_vocab_size(tok);
    for (size_t i = 0; ok && i < n; i++) {
        const char *s = pe_tokenizer_id_to_token(tok, (int32_t)i);
        ok = cJSON_AddItemToArray(v, cJSON_CreateString(s ? s : ""));
    }
    ok = ok && cJSON_AddBoolToObject(t, "do_lower_case", o->do_lower_case) &&
         cJSON_AddBoolToObject(t, "strip_accents", o->strip_accents < 0 ? o->do_lower_case : o->strip_accents) &&
         cJSON_AddBoolToObject(t, "tokenize_chinese_chars", o->tokenize_chinese_chars) &&
         cJSON_AddBoolToObject(t, "clean_text", o->clean_text) &&
         cJSON_AddNumberToObject(t, "max_input_chars_per_word", o->max_input_chars_per_word);
    const char *keys[] = {"unk_token", "cls_token", "sep_token", "pad_token", "mask_token", "continuing_subword_prefix"};
    const char *vals[] = {o->unk_token, o->cls_token, o->sep_token, o->pad_token, o->mask_token,
                          o->continuing_subword_prefix};
    for (int i = 0; ok && i < 6; i++)
        ok = vals[i] ? cJSON_AddStringToObject(t, keys[i], vals[i]) != NULL : cJSON_AddNullToObject(t, keys[i]) != NULL;
    cJSON *x = ok ? cJSON_AddArrayToObject(t, "extra_special_tokens") : NULL;
    ok = ok && x;
    for (size_t i = 0; ok && i < o->n_extra_special_tokens; i++)
        ok = cJSON_AddItemToArray(x, cJSON_CreateString(o->extra_special_tokens[i]));
    if (!ok) {
        cJSON_Delete(t);
        return NULL;
    }
    return t;
}

pe_status pe_encoder_convert_hf(const char *hf_dir, const char *out_path, const pe_encoder_convert_options *opts,
                                pe_error *err)
{
    pe_encoder_convert_options o = opts ? *opts : pe_encoder_convert_options_default();
    pe_encoder *enc = NULL;
    pe_status st = enc_load_weights(hf_dir, &enc, err);
    if (st != PE_OK) return st;
    cJSON *header = NULL, *labels = NULL;
    pem_src *src = NULL;
    char *names = NULL;
    if (!enc->tok) {
        st = pe_error_set(err, PE_ERR_INVALID, "%s: no vocab.txt or tokenizer.json beside the weights", hf_dir);
        goto done;
    }
    if (strcmp(enc->format, "safetensors") != 0) {
        st = pe_error_set(err, PE_ERR_INVALID, "%s: not a Hugging Face checkpoint (already a .pem?)", hf_dir);
        goto done;
    }
    char *dir_labels = NULL;
    if (!o.labels_json) { /* a training run's folder holds its heads' label sets */
        size_t dl = strlen(hf_dir);
        char *lp = malloc(dl + 16);
        if (lp) {
            sprintf(lp, "%s/labels.json", hf_dir);
            FILE *f = fopen(lp, "rb");
            if (f) {
                size_t cap = 1 << 16, n = 0, k;
                dir_labels = malloc(cap);
                while (dir_labels && (k = fread(dir_labels + n, 1, cap - n - 1, f)) > 0) {
                    n += k;
                    if (n + 1 == cap) {
                        char *t = realloc(dir_labels, cap * 2);
                        if (!t) break;
                        dir_labels = t;
                        cap *= 2;
                    }
                }
                if (dir_labels) dir_labels[n] = '\0';
                fclose(f);
            }
            free(lp);
        }
    }
    if (o.labels_json || dir_labels) {
        labels = cJSON_Parse(o.labels_json ? o.labels_json : dir_labels);
        free(dir_labels);
        if ((st = check_labels(labels, err)) != PE_OK) goto done;
    } else {
        labels = cJSON_CreateObject();
        if (labels) {
            cJSON_AddItemToObject(labels, "ner", cJSON_CreateArray());
            cJSON_AddItemToObject(labels, "relation", cJSON_CreateArray());
        }
    }
    const pe_encoder_config *g = &enc->cfg;
    int64_t C = g->hidden, Ci = g->intermediate;
    src = calloc((size_t)(8 + 12 * g->layers + enc->n_tensors), sizeof *src);
    header = cJSON_CreateObject();
    cJSON *cfg = enc_config_to_json(g), *tokj = tokenizer_json(enc->tok), *meta = cJSON_CreateObject();
    if (!src || !header || !cfg || !tokj || !meta || !labels) {
        cJSON_Delete(cfg);
        cJSON_Delete(tokj);
        cJSON_Delete(meta);
        st = pe_error_set(err, PE_ERR_NOMEM, "out of memory");
        goto done;
    }
    cJSON_AddStringToObject(header, "format", "persona-encoder");
    cJSON_AddItemToObject(header, "config", cfg);
    cJSON_AddItemToObject(header, "tokenizer", tokj);
    cJSON_AddItemToObject(header, "labels", labels);
    labels = NULL;
    cJSON_AddItemToObject(header, "metadata", meta);
    char created[32];
    time_t now = time(NULL);
    struct tm tmv;
    strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tmv));
    cJSON_AddStringToObject(meta, "model_id", o.model_id ? o.model_id : enc->model_id);
    cJSON_AddStringToObject(meta, "model_version", o.model_version ? o.model_version : "");
    cJSON_AddStringToObject(meta, "training_data", o.training_data ? o.training_data : "");
    cJSON_AddStringToObject(meta, "created", created);
    cJSON_AddStringToObject(meta, "source", enc->path);

    int n = 0;
    const pe_encoder_weights *w = &enc->w;
    /* names of the encoder tensors, kept until written */
    names = calloc((size_t)g->layers * 12 * 32, 1); /* 32 holds "layer.%d.attn_out.w" for any int */
    if (!names) {
        st = pe_error_set(err, PE_ERR_NOMEM, "out of memory");
        goto done;
    }
    add_w(src, &n, "emb.word", w->word_emb, g->vocab_size, C);
    add_w(src, &n, "emb.pos", w->pos_emb, g->max_position, C);
    add_w(src, &n, "emb.type", w->type_emb, g->type_vocab, C);
    add_w(src, &n, "emb.ln.g", w->emb_ln_g, C, 0);
    add_w(src, &n, "emb.ln.b", w->emb_ln_b, C, 0);
    for (int l = 0; l < g->layers; l++) {
        const pe_encoder_layer_weights *lw = &w->layer[l];
        char *nm = names + (size_t)l * 12 * 32;
#define ADD(k, field, suffix, r, c) \
    (snprintf(nm + 32 * (k), 32, "layer.%d." suffix, l), add_w(src, &n, nm + 32 * (k), lw->field, r, c))
        ADD(0, qkv_w, "qkv.w", 3 * C, C);
        ADD(1, qkv_b, "qkv.b", 3 * C, 0);
        ADD(2, attn_out_w, "attn_out.w", C, C);
        ADD(3, attn_out_b, "attn_out.b", C, 0);
        ADD(4, ln1_g, "ln1.g", C, 0);
        ADD(5, ln1_b, "ln1.b", C, 0);
        ADD(6, ffn_in_w, "ffn_in.w", Ci, C);
        ADD(7, ffn_in_b, "ffn_in.b", Ci, 0);
        ADD(8, ffn_out_w, "ffn_out.w", C, Ci);
        ADD(9, ffn_out_b, "ffn_out.b", C, 0);
        ADD(10, ln2_g, "ln2.g", C, 0);
        ADD(11, ln2_b, "ln2.b", C, 0);
#undef ADD
    }
    if (g->has_pooler) {
        add_w(src, &n, "pooler.w", w->pooler_w, C, C);
        add_w(src, &n, "pooler.b", w->pooler_b, C, 0);
    }
    /* Extra tensors (heads) keep their names and shapes; those of a dtype
     * that is not a float (e.g. the I64 position_ids buffer of old
     * checkpoints) are dropped. */
    for (int i = 0; o.keep_extra && i < enc->n_extra; i++) {
        pe_encoder_tensor_view v;
        pe_status ts = pe_encoder_tensor(enc, enc->extra[i], &v);
        if (ts == PE_ERR_UNSUPPORTED || v.ndim < 1) continue;
        if (ts != PE_OK) {
            st = pe_error_set(err, ts, "%s: %s", hf_dir, pe_encoder_errmsg(enc));
            goto done;
        }
        add_src(src, &n, enc->extra[i], v.data, v.ndim, v.shape);
    }
    if ((st = check_src_names(hf_dir, src, n, err)) != PE_OK) goto done;
    st = pem_write(out_path, header, src, n, o.f16, err);
done:
    cJSON_Delete(labels);
    cJSON_Delete(header);
    free(src);
    free(names);
    pe_encoder_free(enc);
    return st;
}
