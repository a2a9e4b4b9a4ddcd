/* pe_test.h - the few macros every test file uses. A test program runs its
 * cases in main() with PE_RUN(fn); the exit code is the number of failed
 * checks (capped), 77 means "skipped" to ctest (SKIP_RETURN_CODE). */
#ifndef PE_TEST_H
#define PE_TEST_H

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int pe_test_failures;

#define PE_CHECK(cond) do { if (!(cond)) { \
    fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); pe_test_failures++; } } while (0)
#define PE_CHECK_MSG(cond, ...) do { if (!(cond)) { \
    fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
    fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); pe_test_failures++; } } while (0)
#define PE_CHECK_EQ_INT(a, b) do { long long _a = (long long)(a), _b = (long long)(b); if (_a != _b) { \
    fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", __FILE__, __LINE__, #a, #b, _a, _b); \
    pe_test_failures++; } } while (0)
#define PE_CHECK_EQ_STR(a, b) do { const char *_a = (a), *_b = (b); \
    if (!_a || !_b || strcmp(_a, _b) != 0) { \
    fprintf(stderr, "%s:%d: %s == %s failed: \"%s\" != \"%s\"\n", __FILE__, __LINE__, #a, #b, \
            _a ? _a : "(null)", _b ? _b : "(null)"); pe_test_failures++; } } while (0)
#define PE_CHECK_NEAR(a, b, tol) do { double _a = (a), _b = (b); if (!(fabs(_a - _b) <= (tol))) { \
    fprintf(stderr, "%s:%d: |%s - %s| <= %g failed: %g vs %g\n", __FILE__, __LINE__, #a, #b, \
            (double)(tol), _a, _b); pe_test_failures++; } } while (0)
#define PE_RUN(fn) do { int _before = pe_test_failures; fn(); \
    fprintf(stderr, "%s %s\n", pe_test_failures == _before ? "ok  " : "FAIL", #fn); } while (0)
#define PE_TEST_EXIT() return pe_test_failures > 50 ? 50 : pe_test_failures
#define PE_SKIP_CODE 77

/* A new empty directory $TMPDIR/NAME.XXXXXX (/tmp without $TMPDIR) into
 * buf[cap]; returns buf, or NULL (with a message) when it cannot be made. */
static inline char *pe_test_tmpdir(char *buf, size_t cap, const char *name)
{
    const char *t = getenv("TMPDIR");
    if (!t || !*t) t = "/tmp";
    if ((size_t)snprintf(buf, cap, "%s/%s.XXXXXX", t, name) >= cap || !mkdtemp(buf)) {
        fprintf(stderr, "cannot make a temporary directory under %s\n", t);
        return NULL;
    }
    return buf;
}

/* Removes a file or a directory tree (symbolic links are removed, never
 * followed); 0 on success. */
static inline int pe_test_rm_rf(const char *path)
{
    struct stat sb;
    if (lstat(path, &sb) != 0) return -1;
    if (!S_ISDIR(sb.st_mode)) return remove(path);
    DIR *d = opendir(path);
    if (!d) return -1;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        size_t n = strlen(path) + strlen(e->d_name) + 2;
        char *p = malloc(n);
        if (!p) { rc = -1; break; }
        snprintf(p, n, "%s/%s", path, e->d_name);
        rc |= pe_test_rm_rf(p);
        free(p);
    }
    closedir(d);
    return remove(path) | rc; /* an empty directory */
}

#endif
