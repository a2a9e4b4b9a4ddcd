/* train_average.c - a model soup: the element-wise mean of checkpoint
 * folders fine-tuned from one start (pe_train_average_checkpoints). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model_internal.h"
#include "pe_train.h"
#include "train_internal.h"

typedef struct folder {
    void *map;
    size_t size;
    pe_encoder_stored_tensor *t;
    int n;
} folder;

static pe_status open_folder(const char *dir, folder *f, pe_error *err)
{
    char *p = pe_path_join(dir, "model.safetensors");
    if (!p) return pe_error_set(err, PE_ERR_NOMEM, "average: out of memory");
    pe_status st = enc_map_file(p, &f->map, &f->size, err);
    if (st == PE_OK) st = enc_safetensors_parse(p, f->map, f->size, &f->t, &f->n, err);
    if (st == PE_OK) st = enc_stored_tensors_check_unique(p, f->t, f->n, err);
    for (int i = 0; st == PE_OK && i < f->n; i++)
        if (f->t[i].dtype != PE_DTYPE_F32 || f->t[i].ndim > 2)
            st = pe_error_set(err, PE_ERR_INVALID, "%s: tensor %s is %s of %d dimensions (averaging takes F32 of at most 2)",
                              p, f->t[i].name, f->t[i].dtype_name, f->t[i].ndim);
    free(p);
    return st;
}

static void close_folder(folder *f)
{
    enc_stored_tensors_free(f->t, f->n);
    if (f->map) enc_unmap_file(f->map, f->size);
    memset(f, 0, sizeof *f);
}

static const pe_encoder_stored_tensor *find(const folder *f, const char *name)
{
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->t[i].name, name) == 0) return &f->t[i];
    return NULL;
}

/* The files of dirs[0] but the weights and the trainer's state, copied to
 * out; config.json and labels.json must be the same in every folder. */
static pe_status copy_side_files(const char *const *dirs, int n, const char *out, pe_error *err)
{
    DIR *d = opendir(dirs[0]);
    if (!d) return pe_error_set(err, PE_ERR_IO, "%s: cannot read the folder", dirs[0]);
    pe_status st = PE_OK;
    struct dirent *e;
    while (st == PE_OK && (e = readdir(d)) != NULL) {
        const char *nm = e->d_name;
        if (nm[0] == '.' || strcmp(nm, "model.safetensors") == 0 || strcmp(nm, "state.json") == 0) continue;
        char *src = pe_path_join(dirs[0], nm), *dst = pe_path_join(out, nm), *data = NULL;
        size_t len = 0;
        struct stat sb;
        if (!src || !dst) st = pe_error_set(err, PE_ERR_NOMEM, "average: out of memory");
        else if (stat(src, &sb) != 0 || !S_ISREG(sb.st_mode)) {
            free(src);
            free(dst);
            continue;
        }
        if (st == PE_OK) st = pe_file_read(src, (size_t)64 << 20, &data, &len, err);
        const int must_match = strcmp(nm, "config.json") == 0 || strcmp(nm, "labels.json") == 0;
        for (int k = 1; st == PE_OK && must_match && k < n; k++) {
            char *other = pe_path_join(dirs[k], nm), *od = NULL;
            size_t ol = 0;
            if (!other) st = pe_error_set(err, PE_ERR_NOMEM, "average: out of memory");
            if (st == PE_OK && pe_file_read(other, (size_t)64 << 20, &od, &ol, err) != PE_OK)
                st = pe_error_set(err, PE_ERR_INVALID, "%s: no %s, which %s has", dirs[k], nm, dirs[0]);
            if (st == PE_OK && (ol != len || memcmp(od, data, len) != 0))
                st = pe_error_set(err, PE_ERR_INVALID, "%s and %s differ in %s: not the same model", dirs[0], dirs[k], nm);
            pe_free(od);
            free(other);
        }
        if (st == PE_OK) {
            const void *parts[1] = {data};
            size_t lens[1] = {len};
            st = pe_file_write(dst, parts, lens, 1, err);
        }
        pe_free(data);
        free(src);
        free(dst);
    }
    closedir(d);
    return st;
}

pe_status pe_train_average_checkpoints(const char *const *dirs, int n, const char *out_dir, pe_error *err)
{
    if (!dirs || n < 2 || !out_dir) return pe_error_set(err, PE_ERR_INVALID, "average: needs two folders or more and an output");
    for (int k = 0; k < n; k++)
        if (!dirs[k] || strcmp(dirs[k], out_dir) == 0)
            return pe_error_set(err, PE_ERR_INVALID, "average: the output must not be one of the folders averaged");
    folder *f = calloc((size_t)n, sizeof *f);
    pe_tr_st_entry *e = NULL;
    float *sum = NULL;
    const float **src = NULL; /* (n_tensors, n) each folder's data of dirs[0]'s tensor i */
    if (!f) return pe_error_set(err, PE_ERR_NOMEM, "average: out of memory");
    pe_status st = PE_OK;
    for (int k = 0; k < n && st == PE_OK; k++) st = open_folder(dirs[k], &f[k], err);
    const int nt = st == PE_OK ? f[0].n : 0;
    if (st == PE_OK && !(src = calloc((size_t)nt * (size_t)n + 1, sizeof *src)))
        st = pe_error_set(err, PE_ERR_NOMEM, "average: out of memory");
    /* the same tensors everywhere */
    for (int k = 0; k < n && st == PE_OK; k++) {
        if (f[k].n != nt)
            st = pe_error_set(err, PE_ERR_INVALID, "%s has %d tensors, %s %d: not the same model", dirs[k], f[k].n, dirs[0],
                              nt);
        for (int i = 0; i < nt && st == PE_OK; i++) {
            const pe_encoder_stored_tensor *a = &f[0].t[i], *b = k ? find(&f[k], a->name) : a;
            if (!b) st = pe_error_set(err, PE_ERR_INVALID, "%s has no tensor %s: not the same model", dirs[k], a->name);
            else if (b->ndim != a->ndim || memcmp(b->shape, a->shape, (size_t)a->ndim * sizeof *a->shape) != 0)
                st = pe_error_set(err, PE_ERR_INVALID, "tensor %s has another shape in %s than in %s", a->name, dirs[k],
                                  dirs[0]);
            else src[(size_t)i * (size_t)n + (size_t)k] = b->data;
        }
    }
    size_t total = 0;
    for (int i = 0; i < nt; i++) total += f[0].t[i].nbytes / sizeof(float);
    if (st == PE_OK && (!(e = calloc((size_t)nt + 1, sizeof *e)) || !(sum = malloc((total ? total : 1) * sizeof *sum))))
        st = pe_error_set(err, PE_ERR_NOMEM, "average: out of memory");
    if (st == PE_OK) {
        size_t off = 0;
        for (int i = 0; i < nt; i++) {
            const pe_encoder_stored_tensor *a = &f[0].t[i];
            const size_t m = a->nbytes / sizeof(float);
            float *s = sum + off;
            for (size_t j = 0; j < m; j++) s[j] = 0.0f;
            for (int k = 0; k < n; k++) {
                const float *x = src[(size_t)i * (size_t)n + (size_t)k];
                for (size_t j = 0; j < m; j++) s[j] += x[j];
            }
            for (size_t j = 0; j < m; j++) s[j] /= (float)n;
            e[i].name = a->name;
            e[i].ndim = a->ndim;
            for (int d = 0; d < a->ndim; d++) e[i].shape[d] = a->shape[d];
            e[i].data = s;
            e[i].nbytes = a->nbytes;
            off += m;
        }
        if (mkdir(out_dir, 0777) != 0 && errno != EEXIST)
            st = pe_error_set(err, PE_ERR_IO, "%s: cannot create the folder", out_dir);
    }
    char *w = st == PE_OK ? pe_path_join(out_dir, "model.safetensors") : NULL;
    if (st == PE_OK && !w) st = pe_error_set(err, PE_ERR_NOMEM, "average: out of memory");
    if (st == PE_OK) st = copy_side_files(dirs, n, out_dir, err);
    if (st == PE_OK) st = enc_tr_write_safetensors(w, e, nt, err);
    free(w);
    free(src);
    free(sum);
    free(e);
    for (int k = 0; k < n; k++) close_folder(&f[k]);
    free(f);
    return st;
}
