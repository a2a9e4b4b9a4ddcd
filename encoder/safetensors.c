/* safetensors.c - reader of the safetensors format (Hugging Face):
 *
 *   u64 LE header_len | JSON header (header_len bytes) | data
 *   header: {"__metadata__": {...}, "NAME": {"dtype": "F32", "shape": [..],
 *            "data_offsets": [begin, end]}, ...}, offsets relative to data.
 *
 * Nothing read from the file is trusted: lengths, shapes and offsets are
 * checked against the file size with overflow-safe arithmetic. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model_internal.h"

pe_status enc_map_file(const char *path, void **data, size_t *size, pe_error *err)
{
    *data = NULL;
    *size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return pe_error_set(err, PE_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return pe_error_set(err, PE_ERR_IO, "%s: not a regular file", path);
    }
    if (sb.st_size == 0) {
        close(fd);
        return PE_OK;
    }
    if ((uint64_t)sb.st_size > SIZE_MAX) {
        close(fd);
        return pe_error_set(err, PE_ERR_LIMIT, "%s: file too large to map", path);
    }
    void *p = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED) return pe_error_set(err, PE_ERR_IO, "%s: cannot map: %s", path, strerror(e));
    *data = p;
    *size = (size_t)sb.st_size;
    return PE_OK;
}

void enc_unmap_file(void *data, size_t size)
{
    if (data && size) munmap(data, size);
}

int64_t enc_shape_numel(const int64_t *shape, int ndim)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return -1;
        if (shape[i] != 0 && n > ((int64_t)1 << 53) / shape[i]) return -1;
        n *= shape[i];
    }
    return n;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp((*(const pe_encoder_stored_tensor *const *)a)->name, (*(const pe_encoder_stored_tensor *const *)b)->name);
}

pe_status enc_stored_tensors_check_unique(const char *path, const pe_encoder_stored_tensor *t, int n, pe_error *err)
{
    if (n < 2) return PE_OK;
    /* sorted, not pairwise: a header may list millions of entries */
    const pe_encoder_stored_tensor **v = malloc((size_t)n * sizeof *v);
    if (!v) return pe_error_set(err, PE_ERR_NOMEM, "%s: out of memory", path);
    for (int i = 0; i < n; i++) v[i] = &t[i];
    qsort(v, (size_t)n, sizeof *v, cmp_name);
    pe_status st = PE_OK;
    for (int i = 1; i < n && st == PE_OK; i++)
        if (strcmp(v[i - 1]->name, v[i]->name) == 0)
            st = pe_error_set(err, PE_ERR_CORRUPT, "%s: tensor %s appears twice in the header", path, v[i]->name);
    free(v);
    return st;
}

void enc_stored_tensors_free(pe_encoder_stored_tensor *t, int n)
{
    if (!t) return;
    for (int i = 0; i < n; i++) {
        free(t[i].name);
        free(t[i].f32);
    }
    free(t);
}

static const struct {
    const char *name;
    int dtype, size;
} st_dtypes[] = {
    {"F32", PE_DTYPE_F32, 4},  {"F16", PE_DTYPE_F16, 2},    {"BF16", PE_DTYPE_BF16, 2},
    {"F64", PE_DTYPE_OTHER, 8}, {"I64", PE_DTYPE_OTHER, 8}, {"U64", PE_DTYPE_OTHER, 8},
    {"I32", PE_DTYPE_OTHER, 4}, {"U32", PE_DTYPE_OTHER, 4}, {"I16", PE_DTYPE_OTHER, 2},
    {"U16", PE_DTYPE_OTHER, 2}, {"I8", PE_DTYPE_OTHER, 1},  {"U8", PE_DTYPE_OTHER, 1},
    {"BOOL", PE_DTYPE_OTHER, 1}, {"F8_E4M3", PE_DTYPE_OTHER, 1}, {"F8_E5M2", PE_DTYPE_OTHER, 1},
};

/* A JSON number that is an exact non-negative integer below 2^53. */
static int json_u53(const cJSON *v, int64_t *out)
{
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    if (!(d >= 0 && d <= 9007199254740992.0) || d != floor(d)) return 0;
    *out = (int64_t)d;
    return 1;
}

static pe_status parse_entry(const char *path, const cJSON *e, uint64_t data_size, const unsigned char *data,
                             pe_encoder_stored_tensor *t, pe_error *err)
{
    const char *name = e->string;
    if (!cJSON_IsObject(e)) return pe_error_set(err, PE_ERR_PARSE, "%s: tensor %s: entry is not an object", path, name);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *of = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dt)) return pe_error_set(err, PE_ERR_PARSE, "%s: tensor %s: missing \"dtype\"", path, name);
    if (!cJSON_IsArray(sh)) return pe_error_set(err, PE_ERR_PARSE, "%s: tensor %s: missing \"shape\"", path, name);
    if (!cJSON_IsArray(of) || cJSON_GetArraySize(of) != 2)
        return pe_error_set(err, PE_ERR_PARSE, "%s: tensor %s: \"data_offsets\" must be [begin, end]", path, name);
    int esize = 0;
    for (size_t i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; i++)
        if (strcmp(dt->valuestring, st_dtypes[i].name) == 0) {
            t->dtype = st_dtypes[i].dtype;
            esize = st_dtypes[i].size;
            snprintf(t->dtype_name, sizeof t->dtype_name, "%s", st_dtypes[i].name);
        }
    if (!esize)
        return pe_error_set(err, PE_ERR_UNSUPPORTED, "%s: tensor %s: unknown dtype \"%.32s\"", path, name,
                            dt->valuestring);
    int nd = cJSON_GetArraySize(sh);
    if (nd > 4) return pe_error_set(err, PE_ERR_UNSUPPORTED, "%s: tensor %s: %d dimensions (at most 4)", path, name, nd);
    t->ndim = nd;
    for (int i = 0; i < nd; i++)
        if (!json_u53(cJSON_GetArrayItem(sh, i), &t->shape[i]))
            return pe_error_set(err, PE_ERR_PARSE, "%s: tensor %s: bad shape", path, name);
    int64_t numel = enc_shape_numel(t->shape, nd), b, en;
    if (numel < 0) return pe_error_set(err, PE_ERR_CORRUPT, "%s: tensor %s: shape too large", path, name);
    if (!json_u53(cJSON_GetArrayItem(of, 0), &b) || !json_u53(cJSON_GetArrayItem(of, 1), &en) || en < b)
        return pe_error_set(err, PE_ERR_PARSE, "%s: tensor %s: bad data_offsets", path, name);
    if ((uint64_t)en > data_size)
        return pe_error_set(err, PE_ERR_CORRUPT,
                            "%s: tensor %s: data_offsets [%lld, %lld] outside the data (%llu bytes; file truncated?)",
                            path, name, (long long)b, (long long)en, (unsigned long long)data_size);
    if (numel > (int64_t)(UINT64_MAX / 8) || (uint64_t)(en - b) != (uint64_t)numel * (uint64_t)esize)
        return pe_error_set(err, PE_ERR_CORRUPT, "%s: tensor %s: %lld bytes of data for %lld %s elements", path,
                            name, (long long)(en - b), (long long)numel, t->dtype_name);
    t->data = data + b;
    t->nbytes = (size_t)(en - b);
    t->name = strdup(name);
    if (!t->name) return pe_error_set(err, PE_ERR_NOMEM, "%s: out of memory", path);
    return PE_OK;
}

pe_status enc_safetensors_parse(const char *path, const unsigned char *map, size_t size,
                               pe_encoder_stored_tensor **out, int *n, pe_error *err)
{
    *out = NULL;
    *n = 0;
    if (size < 8)
        return pe_error_set(err, PE_ERR_CORRUPT, "%s: truncated: %zu bytes, no safetensors header", path, size);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = (hl << 8) | map[i];
    if (hl > PE_MODEL_MAX_HEADER)
        return pe_error_set(err, PE_ERR_LIMIT, "%s: header length %llu exceeds the %llu-byte limit", path,
                            (unsigned long long)hl, (unsigned long long)PE_MODEL_MAX_HEADER);
    if (hl > size - 8)
        return pe_error_set(err, PE_ERR_CORRUPT, "%s: header length %llu beyond the end of the file (%zu bytes)",
                            path, (unsigned long long)hl, size);
    const char *hj = (const char *)map + 8;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(hj, (size_t)hl, &end, 0);
    if (!root) {
        size_t at = end && end >= hj && end <= hj + hl ? (size_t)(end - hj) : 0;
        return pe_error_set(err, PE_ERR_PARSE, "%s: invalid header JSON near byte %zu", path, (size_t)8 + at);
    }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return pe_error_set(err, PE_ERR_PARSE, "%s: header is not a JSON object", path);
    }
    int cnt = 0;
    for (const cJSON *e = root->child; e; e = e->next)
        if (strcmp(e->string, "__metadata__") != 0) cnt++;
    pe_encoder_stored_tensor *t = calloc(cnt ? (size_t)cnt : 1, sizeof *t);
    if (!t) {
        cJSON_Delete(root);
        return pe_error_set(err, PE_ERR_NOMEM, "%s: out of memory", path);
    }
    const unsigned char *data = map + 8 + hl;
    uint64_t data_size = size - 8 - hl;
    int i = 0;
    pe_status st = PE_OK;
    for (const cJSON *e = root->child; e && st == PE_OK; e = e->next) {
        if (strcmp(e->string, "__metadata__") == 0) continue;
        st = parse_entry(path, e, data_size, data, &t[i], err);
        i++;
    }
    cJSON_Delete(root);
    if (st == PE_OK) st = enc_stored_tensors_check_unique(path, t, cnt, err);
    if (st != PE_OK) {
        enc_stored_tensors_free(t, cnt);
        return st;
    }
    *out = t;
    *n = cnt;
    return PE_OK;
}
