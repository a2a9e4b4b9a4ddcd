/* Whole files: read into memory, write through a temporary and rename. */
#include "pe_util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void pe_free(void *p) { free(p); }

char *pe_path_join(const char *dir, const char *file)
{
    size_t a = strlen(dir), b = strlen(file);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    size_t o = a;
    if (a && dir[a - 1] != '/') p[o++] = '/';
    memcpy(p + o, file, b + 1);
    return p;
}

pe_status pe_file_read(const char *path, size_t max, char **data, size_t *len, pe_error *err)
{
    if (!data) return pe_error_set(err, PE_ERR_INVALID, "pe_file_read: data is NULL");
    *data = NULL;
    if (len) *len = 0;
    if (!path) return pe_error_set(err, PE_ERR_INVALID, "pe_file_read: path is NULL");
    FILE *f = fopen(path, "rb");
    if (!f) return pe_error_set(err, PE_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    /* The size when it is a regular file (one allocation), else grow. */
    struct stat sb;
    size_t cap = 1 << 16;
    if (fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0) cap = (size_t)sb.st_size + 1;
    if (max && cap > max + 1) cap = max + 1;
    size_t n = 0;
    char *b = malloc(cap + 1);
    pe_status st = PE_OK;
    while (b) {
        size_t got = fread(b + n, 1, cap - n, f);
        n += got;
        if (max && n > max) {
            st = pe_error_set(err, PE_ERR_LIMIT, "%s: larger than %zu bytes", path, max);
            break;
        }
        if (n < cap) break; /* end of file or error */
        size_t ncap = cap * 2;
        if (max && ncap > max + 1) ncap = max + 1;
        char *nb = realloc(b, ncap + 1);
        if (!nb) {
            free(b);
            b = NULL;
            break;
        }
        b = nb;
        cap = ncap;
    }
    if (!b) st = pe_error_set(err, PE_ERR_NOMEM, "%s: out of memory", path);
    else if (st == PE_OK && ferror(f)) st = pe_error_set(err, PE_ERR_IO, "%s: read error: %s", path, strerror(errno));
    fclose(f);
    if (st != PE_OK) {
        free(b);
        return st;
    }
    b[n] = '\0';
    *data = b;
    if (len) *len = n;
    return PE_OK;
}

struct pe_file_tmp {
    FILE *f;
    char *path, *tmp;
};

pe_status pe_file_tmp_open(const char *path, pe_file_tmp **out, pe_error *err)
{
    if (!out) return pe_error_set(err, PE_ERR_INVALID, "pe_file_tmp_open: out is NULL");
    *out = NULL;
    if (!path || !*path) return pe_error_set(err, PE_ERR_INVALID, "pe_file_tmp_open: no path");
    size_t pl = strlen(path);
    pe_file_tmp *t = calloc(1, sizeof *t);
    if (t) t->path = strdup(path);
    if (t && t->path) t->tmp = malloc(pl + 32);
    if (!t || !t->path || !t->tmp) {
        if (t) free(t->path);
        free(t);
        return pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    }
    snprintf(t->tmp, pl + 32, "%s.tmp.%ld", path, (long)getpid());
    t->f = fopen(t->tmp, "wb");
    if (!t->f) {
        pe_status st = pe_error_set(err, PE_ERR_IO, "%s: cannot create: %s", t->tmp, strerror(errno));
        free(t->tmp);
        free(t->path);
        free(t);
        return st;
    }
    *out = t;
    return PE_OK;
}

FILE *pe_file_tmp_stream(pe_file_tmp *t) { return t ? t->f : NULL; }

static void tmp_free(pe_file_tmp *t)
{
    free(t->tmp);
    free(t->path);
    free(t);
}

pe_status pe_file_tmp_commit(pe_file_tmp *t, pe_error *err)
{
    if (!t) return pe_error_set(err, PE_ERR_INVALID, "pe_file_tmp_commit: no file");
    int ok = !ferror(t->f);
    ok = (fflush(t->f) == 0) && ok;
    ok = (fsync(fileno(t->f)) == 0) && ok;
    int e = errno;
    ok = (fclose(t->f) == 0) && ok;
    pe_status st = PE_OK;
    if (!ok) st = pe_error_set(err, PE_ERR_IO, "%s: write failed: %s", t->tmp, strerror(e ? e : errno));
    else if (rename(t->tmp, t->path) != 0)
        st = pe_error_set(err, PE_ERR_IO, "%s: cannot rename to %s: %s", t->tmp, t->path, strerror(errno));
    if (st != PE_OK) unlink(t->tmp);
    tmp_free(t);
    return st;
}

void pe_file_tmp_abort(pe_file_tmp *t)
{
    if (!t) return;
    fclose(t->f);
    unlink(t->tmp);
    tmp_free(t);
}

pe_status pe_file_write(const char *path, const void *const *parts, const size_t *lens, size_t n, pe_error *err)
{
    pe_file_tmp *t;
    pe_status st = pe_file_tmp_open(path, &t, err);
    if (st >= PE_ERR_FIRST) return st;
    for (size_t i = 0; i < n; i++)
        if (lens[i] && fwrite(parts[i], 1, lens[i], t->f) != lens[i]) {
            st = pe_error_set(err, PE_ERR_IO, "%s: write failed: %s", t->tmp, strerror(errno));
            pe_file_tmp_abort(t);
            return st;
        }
    return pe_file_tmp_commit(t, err);
}
