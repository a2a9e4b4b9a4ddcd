/* test_fetch.c - downloads (pe_fetch_url) and wbgetentities fetches
 * (pe_fetch_wikidata) against tests/tools/http_server.py on 127.0.0.1.
 * Skips (77) when python3 is missing. */
#define _GNU_SOURCE
#include "pe_import.h"
#include "pe_kg.h"
#include "pe_test.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define BIG_SIZE 600000

static char tmp[256];        /* mkdtemp root, removed at the end */
static char root[300];       /* served files */
static char logpath[300];    /* server request log */
static char big_sha[65];
static unsigned char *big;   /* contents of root/big.bin */
static int port;
static pid_t server_pid = -1;
static int server_stdin = -1;

/* ---- helpers -------------------------------------------------------------- */

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) { perror(path); exit(1); }
    if (n && fwrite(data, 1, n, f) != n) { perror(path); exit(1); }
    fclose(f);
}

static long file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

/* 1 when path holds exactly big.bin. */
static int same_as_big(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    unsigned char *b = malloc(BIG_SIZE + 1);
    size_t n = fread(b, 1, BIG_SIZE + 1, f);
    fclose(f);
    int ok = n == BIG_SIZE && memcmp(b, big, BIG_SIZE) == 0;
    free(b);
    return ok;
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return strdup("");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    size_t r = fread(s, 1, (size_t)n, f);
    s[r] = '\0';
    fclose(f);
    return s;
}

/* Log lines appended since `mark` (a byte offset of the log). */
static long log_mark(void) { return file_size(logpath) < 0 ? 0 : file_size(logpath); }
static char *log_since(long mark)
{
    char *all = read_text(logpath);
    size_t n = strlen(all);
    char *s = strdup((size_t)mark <= n ? all + mark : "");
    free(all);
    return s;
}
static int count_lines_with(const char *text, const char *needle)
{
    int c = 0;
    for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle)) c++;
    return c;
}

/* Warnings from the library (retry notices), kept for checks on what was
 * decided (pauses are checked as logged, never by the clock). */
static char logged[32768];
static size_t logged_len;
static void capture_log(pe_log_level level, const char *msg, void *user)
{
    (void)user;
    if (level < PE_LOG_WARN) return;
    int n = snprintf(logged + logged_len, sizeof logged - logged_len, "%s\n", msg);
    if (n > 0) logged_len += (size_t)n < sizeof logged - logged_len ? (size_t)n : sizeof logged - logged_len - 1;
}
static void log_clear(void)
{
    logged_len = 0;
    logged[0] = '\0';
}

static void path_in(char *out, size_t cap, const char *name) { snprintf(out, cap, "%s/dl/%s", tmp, name); }
static void url_of(char *out, size_t cap, const char *path) { snprintf(out, cap, "http://127.0.0.1:%d%s", port, path); }

static pe_fetch_options quick_opts(void)
{
    pe_fetch_options o = pe_fetch_options_default();
    o.retry_wait_s = 0.01;
    o.timeout_s = 10;
    return o;
}

/* A small store for the wbgetentities tests; NULL (a failed check) when it
 * cannot be opened. */
static pe_kg *open_store(const char *db)
{
    pe_kg_options ko = pe_kg_options_default();
    ko.map_size = (size_t)64 << 20;
    pe_kg *kg = NULL;
    pe_error err;
    pe_status st = pe_kg_open(db, &ko, &kg, &err);
    PE_CHECK_MSG(st == PE_OK, "%s", err.msg);
    if (st == PE_OK) return kg;
    return NULL;
}

/* ---- the server ----------------------------------------------------------- */

static int find_python(char *out, size_t cap)
{
    const char *path = getenv("PATH");
    char *dup = strdup(path ? path : "/usr/bin:/bin");
    int found = 0;
    for (char *save, *d = strtok_r(dup, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
        snprintf(out, cap, "%s/python3", d);
        found = access(out, X_OK) == 0;
    }
    free(dup);
    return found;
}

static int start_server(void)
{
    char py[512], script[512], fixtures[512];
    if (!find_python(py, sizeof py)) return 0;
    snprintf(script, sizeof script, "%s/../tools/http_server.py", PE_FIXTURES);
    snprintf(fixtures, sizeof fixtures, "%s/fetch/entities", PE_FIXTURES);
    int in[2], out[2];
    if (pipe(in) != 0 || pipe(out) != 0) return -1;
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[0]); close(in[1]); close(out[0]); close(out[1]);
        execl(py, py, script, "--root", root, "--fixtures", fixtures, "--log", logpath, "--max-seconds", "300",
              (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    server_pid = pid;
    server_stdin = in[1];
    /* Read "PORT n\n", at most 20 s. */
    char line[64];
    size_t n = 0;
    double t0 = pe_now();
    while (n < sizeof line - 1 && pe_now() - t0 < 20) {
        struct pollfd pf = {out[0], POLLIN, 0};
        if (poll(&pf, 1, 500) <= 0) continue;
        ssize_t r = read(out[0], line + n, 1);
        if (r <= 0) break;
        if (line[n++] == '\n') break;
    }
    line[n] = '\0';
    close(out[0]);
    if (sscanf(line, "PORT %d", &port) != 1) {
        fprintf(stderr, "server did not start (got '%s')\n", line);
        return -1;
    }
    return 1;
}

static void stop_server(void)
{
    if (server_stdin >= 0) close(server_stdin); /* EOF on its stdin ends it */
    if (server_pid > 0) {
        kill(server_pid, SIGTERM);
        waitpid(server_pid, NULL, 0);
    }
}

/* ---- downloads -------------------------------------------------------------- */

typedef struct prog { int calls; uint64_t last_done, last_total; } prog;
static void on_progress(const pe_fetch_progress *p, void *user)
{
    prog *g = user;
    g->calls++;
    g->last_done = p->bytes_done;
    g->last_total = p->bytes_total;
}

static void test_full_download(void)
{
    char dest[512], part[520], url[256];
    path_in(dest, sizeof dest, "full.bin");
    snprintf(part, sizeof part, "%s.part", dest);
    url_of(url, sizeof url, "/files/big.bin");
    pe_fetch_options o = quick_opts();
    o.sha256 = big_sha;
    prog g = {0};
    o.progress = on_progress;
    o.progress_user = &g;
    pe_error err;
    pe_error_clear(&err);
    long mark = log_mark();
    PE_CHECK_EQ_INT(pe_fetch_url(url, dest, &o, &err), PE_OK);
    PE_CHECK_MSG(same_as_big(dest), "%s differs from the served file", dest);
    PE_CHECK_EQ_INT(file_size(part), -1);
    PE_CHECK(g.calls >= 1);
    PE_CHECK_EQ_INT(g.last_done, BIG_SIZE);
    PE_CHECK_EQ_INT(g.last_total, BIG_SIZE);
    char *l = log_since(mark);
    PE_CHECK_EQ_INT(count_lines_with(l, "GET /files/big.bin range=-"), 1);
    free(l);
}

static void test_dropped_connection_resumes(void)
{
    char dest[512], url[256];
    path_in(dest, sizeof dest, "drop.bin");
    url_of(url, sizeof url, "/drop/200000/big.bin");
    pe_fetch_options o = quick_opts();
    o.sha256 = big_sha;
    pe_error err;
    long mark = log_mark();
    PE_CHECK_EQ_INT(pe_fetch_url(url, dest, &o, &err), PE_OK);
    PE_CHECK(same_as_big(dest));
    char *l = log_since(mark);
    PE_CHECK_EQ_INT(count_lines_with(l, "GET /drop/200000/big.bin range=-"), 1);
    PE_CHECK_MSG(count_lines_with(l, "GET /drop/200000/big.bin range=bytes=200000-") == 1, "log:\n%s", l);
    free(l);
}

static void test_dropped_without_retries_keeps_part(void)
{
    char dest[512], part[520], url[256];
    path_in(dest, sizeof dest, "drop0.bin");
    snprintf(part, sizeof part, "%s.part", dest);
    url_of(url, sizeof url, "/drop/300000/big.bin");
    pe_fetch_options o = quick_opts();
    o.retries = 0;
    pe_error err;
    PE_CHECK_EQ_INT(pe_fetch_url(url, dest, &o, &err), PE_ERR_NET);
    PE_CHECK_MSG(strstr(err.msg, url) != NULL, "%s", err.msg);
    PE_CHECK_EQ_INT(file_size(part), 300000);
    PE_CHECK_EQ_INT(file_size(dest), -1);
    /* The next call continues the .part (this path no longer drops). */
    long mark = log_mark();
    o.sha256 = big_sha;
    PE_CHECK_EQ_INT(pe_fetch_url(url, dest, &o, &err), PE_OK);
    PE_CHECK(same_as_big(dest));
    char *l = log_since(mark);
    PE_CHECK_MSG(count_lines_with(l, "range=bytes=300000-") == 1, "log:\n%s", l);
    free(l);
}

static void test_existing_part_resumed_with_range(void)
{
    char dest[512], part[520], url[256];
    path_in(dest, sizeof dest, "part.bin");
    snprintf(part, sizeof part, "%s.part", dest);
    write_file(part, big, 123456);
    url_of(url, sizeof url, "/files/big.bin");
    pe_fetch_options o = quick_opts();
    o.sha256 = big_sha; /* the existing bytes must be re-hashed for this to pass */
    pe_error err;
    long mark = log_mark();
    PE_CHECK_EQ_INT(pe_fetch_url(url, dest, &o, &err), PE_OK);
    PE_CHECK(same_as_big(dest));
    PE_CHECK_EQ_INT(file_size(part), -1);
    char *l = log_since(mark);
    PE_CHECK_MSG(count_lines_with(l, "GET /files/big.bin range=bytes=123456-") == 1, "log:\n%s", l);
    PE_CHECK_EQ_INT(count_lines_with(l, "GET "), 1);
    free(l);
}

static void test_no_resume_discards_part(void)
{
    char dest[512], part[520], url[256];
    path_in(dest, sizeof dest, "noresume.bin");
    snprintf(part, sizeof part, "%s.part", dest);
    write_file(part, "garbage!", 8);
    url_of(url, sizeof url, "/files/big.bin");
    pe_fetch_options o = quick_opts();
    o.resume = 0;
    o.sha256 = big_sha;
    pe_error err;
    long mark = log_mark();
    PE_CHECK_EQ_INT(pe_fetch_url(url, dest, &o, &err), PE_OK);
    PE_CHECK(same_as_big(dest));
    char *l = log_since(mark);
    PE_CHECK_EQ_INT(count_lines_with(l, "GET /files/big.bin range=-"), 1);
    free(l);
}

static void test_server_ignoring_range_restarts(void)
{
    char dest[512], part[520], url[256];
    path_in(dest, sizeof dest, "norange.bin");
    snprintf(part, sizeof part, "%s.part", dest);
    char junk[5000];
    memset(junk, 'x', sizeof junk); /* must be thrown away, not kept as a prefix */
    write_file(part, junk, sizeof junk);
    url_of(url, sizeof url, "/norange/big.bin");
    pe_fetch_options o = quick_opts();
    o.sha256 = big_sha;
    pe_error err;
    long mark = log_mark();
    PE_CHECK_EQ_INT(pe_fetch_url(url, dest, &o, &err), PE_OK);
    PE_CHECK(same_as_big(dest));
    char *l = log_since(mark);
    PE_CHECK_EQ_INT(count_lines_with(l, "GET /norange/big.bin range=bytes=5000-"), 1);
    PE_CHECK_EQ_INT(count_lines_with(l, "GET "), 1); /* one request: the 200 body is used */
    free(l);
}

static void test_part_complete_or_too_long_416(void)
{
    char dest[512], part[520], url[256];
    url_of(url, sizeof url, "/files/big.bin");
    pe_fetch_options o = quick_opts();
    o.sha256 = big_sha;
    pe_error err;
    /* Already complete: the 416's "bytes * /SIZE" equals the .part's size. */
    path_in(dest, sizeof dest, "complete.bin");
    snprintf(part, sizeof part, "%s.part", dest);
    write_file(part, big, BIG_SIZE);
    long mark = log_mark();
    PE_CHECK_EQ_INT(pe_fetch_url(url, dest, &o, &err), PE_OK);
    PE_CHECK(same_as_big(dest));
    char *l = log_since(mark);
    PE_CHECK_EQ_INT(count_lines_with(l, "GET "), 1);
    free(l);
    /* Longer than the remote file: restart from zero. */
    path_in(dest, sizeof dest, "toolong.bin");
    snprintf(part, sizeof part, "%s.part", dest);
    unsigned char *longer = malloc(BIG_SIZE + 10);
    memcpy(longer, big, BIG_SIZE);
    memset(longer + BIG_SIZE, 'z', 10);
    write_file(part, longer, BIG_SIZE + 10);
    free(longer);
    mark = log_mark();
    PE_CHECK_EQ_INT(pe_fetch_url(url, dest, &o, &err), PE_OK);
    PE_CHECK(same_as_big(dest));
    l = log_since(mark);
    PE_CHECK_EQ_INT(count_lines_with(l, "range=bytes=600010-"), 1);
    PE_CHECK_EQ_INT(count_lines_with(l, "GET /files/big.bin range=-"), 1);
    free(l);
}

static void test_checksum_mismatch(void)
{
    char dest[512], part[520], url[256];
    path_in(dest, sizeof dest, "bad.bin");
    snprintf(part, sizeof part, "%s.part", dest);
    url_of(url, sizeof url, "/files/big.bin");
    pe_fetch_options o = quick_opts();
    char wrong[65];
    memset(wrong, '0', 64);
    wrong[64] = '\0';
    o.sha256 = wrong;
    pe_error err;
    PE_CHECK_EQ_INT(pe_fetch_url(url, dest, &o, &err), PE_ERR_CHECKSUM);
    PE_CHECK_MSG(strstr(err.msg, wrong) && strstr(err.msg, big_sha), "%s", err.msg);
    PE_CHECK_EQ_INT(file_size(dest), -1);
    PE_CHECK_EQ_INT(file_size(part), -1); /* deleted so that the next try starts clean */

    /* A corrupt .part prefix is caught by the checksum too, and the retry is clean. */
    write_file(part, "corrupt prefix", 14);
    o.sha256 = big_sha;
    PE_CHECK_EQ_INT(pe_fetch_url(url, dest, &o, &err), PE_ERR_CHECKSUM);
    PE_CHECK_EQ_INT(file_size(part), -1);
    long mark = log_mark();
    PE_CHECK_EQ_INT(pe_fetch_url(url, dest, &o, &err), PE_OK);
    PE_CHECK(same_as_big(dest));
    char *l = log_since(mark);
    PE_CHECK_EQ_INT(count_lines_with(l, "GET /files/big.bin range=-"), 1);
    free(l);

    o.sha256 = "not-a-digest";
    PE_CHECK_EQ_INT(pe_fetch_url(url, dest, &o, &err), PE_ERR_INVALID);
}

static void test_http_errors(void)
{
    char dest[512], part[520], url[256];
    path_in(dest, sizeof dest, "missing.bin");
    snprintf(part, sizeof part, "%s.part", dest);
    pe_fetch_options o = quick_opts();
    pe_error err;
    url_of(url, sizeof url, "/files/nope.bin");
    long mark = log_mark();
    PE_CHECK_EQ_INT(pe_fetch_url(url, dest, &o, &err), PE_ERR_NET);
    PE_CHECK_MSG(strstr(err.msg, "HTTP 404 Not Found") && strstr(err.msg, url), "%s", err.msg);
    PE_CHECK_EQ_INT(file_size(dest), -1);
    PE_CHECK_EQ_INT(file_size(part), -1);
    char *l = log_since(mark);
    PE_CHECK_EQ_INT(count_lines_with(l, "GET "), 1); /* a 404 is not retried */
    free(l);
    /* A 500 is retried, here twice, then reported with the URL and status. */
    o.retries = 2;
    url_of(url, sizeof url, "/status/500");
    mark = log_mark();
    PE_CHECK_EQ_INT(pe_fetch_url(url, dest, &o, &err), PE_ERR_NET);
    PE_CHECK_MSG(strstr(err.msg, "HTTP 500 Internal Server Error") && strstr(err.msg, url) &&
                 strstr(err.msg, "after 2 retries"), "%s", err.msg);
    PE_CHECK_EQ_INT(file_size(part), -1);
    l = log_since(mark);
    PE_CHECK_EQ_INT(count_lines_with(l, "GET /status/500 "), 3);
    free(l);
    /* Nothing listens on port 1: connection refused after the retries. */
    o.retries = 1;
    PE_CHECK_EQ_INT(pe_fetch_url("http://127.0.0.1:1/x", dest, &o, &err), PE_ERR_NET);
    PE_CHECK_EQ_INT(file_size(part), -1);
}

/* Fetches `path` on the test server with o; the number of requests the
 * server saw for it. */
static int fetch_count(const char *path, const char *dest, const pe_fetch_options *o, pe_status want, pe_error *err)
{
    char url[512], needle[600];
    url_of(url, sizeof url, path);
    long mark = log_mark();
    pe_status st = pe_fetch_url(url, dest, o, err);
    PE_CHECK_MSG(st == want, "%s: %s (%s), wanted %s", path, pe_status_str(st), err->msg, pe_status_str(want));
    char *l = log_since(mark);
    snprintf(needle, sizeof needle, "GET %s ", path);
    int n = count_lines_with(l, needle);
    free(l);
    return n;
}

static void test_http_retries(void)
{
    char dest[512], part[520];
    pe_fetch_options o = quick_opts();
    o.sha256 = big_sha;
    pe_error err;

    /* 503 twice: retried after the backoff (0.01 s, then doubled), no Retry-After. */
    path_in(dest, sizeof dest, "r503.bin");
    log_clear();
    PE_CHECK_EQ_INT(fetch_count("/fail/503/2/files/big.bin", dest, &o, PE_OK, &err), 3);
    PE_CHECK(same_as_big(dest));
    PE_CHECK_MSG(strstr(logged, "HTTP 503 Service Unavailable; retry 1 of 3 in 0.01 s\n") &&
                 strstr(logged, "HTTP 503 Service Unavailable; retry 2 of 3 in 0.02 s\n"), "%s", logged);

    /* 429 with Retry-After: 1 waits what the server asks, not the backoff. */
    path_in(dest, sizeof dest, "r429.bin");
    log_clear();
    PE_CHECK_EQ_INT(fetch_count("/fail/429/1/after/1/files/big.bin", dest, &o, PE_OK, &err), 2);
    PE_CHECK(same_as_big(dest));
    PE_CHECK_MSG(strstr(logged, "HTTP 429 Too Many Requests; retry 1 of 3 in 1.00 s (Retry-After: 1 s)"), "%s",
                 logged);

    /* Retry-After as an HTTP date (here in the past: no pause), and one
     * asking for an hour, capped at max_retry_after_s. */
    path_in(dest, sizeof dest, "rdate.bin");
    log_clear();
    PE_CHECK_EQ_INT(fetch_count("/fail/503/1/after-date/-100/files/big.bin", dest, &o, PE_OK, &err), 2);
    PE_CHECK_MSG(strstr(logged, "retry 1 of 3 in 0.00 s (Retry-After: 0 s)"), "%s", logged);
    path_in(dest, sizeof dest, "rcap.bin");
    o.max_retry_after_s = 0.03;
    log_clear();
    PE_CHECK_EQ_INT(fetch_count("/fail/503/1/after/3600/files/big.bin", dest, &o, PE_OK, &err), 2);
    PE_CHECK_MSG(strstr(logged, "retry 1 of 3 in 0.03 s (Retry-After: 3600 s, capped)"), "%s", logged);
    PE_CHECK(same_as_big(dest));
    o.max_retry_after_s = 60;

    /* A retry after a 5xx continues an existing .part with the same Range. */
    path_in(dest, sizeof dest, "rpart.bin");
    snprintf(part, sizeof part, "%s.part", dest);
    write_file(part, big, 123456);
    long mark = log_mark();
    PE_CHECK_EQ_INT(fetch_count("/fail/502/1/files/big.bin", dest, &o, PE_OK, &err), 2);
    PE_CHECK(same_as_big(dest));
    char *l = log_since(mark);
    PE_CHECK_MSG(count_lines_with(l, "range=bytes=123456-") == 2, "log:\n%s", l);
    free(l);

    /* Retries run out: the error names the URL, the status and the retries. */
    path_in(dest, sizeof dest, "rout.bin");
    snprintf(part, sizeof part, "%s.part", dest);
    o.retries = 2;
    PE_CHECK_EQ_INT(fetch_count("/fail/503/5/files/big.bin", dest, &o, PE_ERR_NET, &err), 3);
    PE_CHECK_MSG(strstr(err.msg, "HTTP 503 Service Unavailable (after 2 retries)") &&
                 strstr(err.msg, "/fail/503/5/files/big.bin"), "%s", err.msg);
    PE_CHECK_EQ_INT(file_size(part), -1);
    PE_CHECK_EQ_INT(file_size(dest), -1);

    /* Other 4xx fail at once, even where asking again would have worked. */
    o.retries = 3;
    path_in(dest, sizeof dest, "r404.bin");
    log_clear();
    PE_CHECK_EQ_INT(fetch_count("/fail/404/1/files/big.bin", dest, &o, PE_ERR_NET, &err), 1);
    PE_CHECK_MSG(strstr(err.msg, "HTTP 404 Not Found") && strstr(err.msg, "/fail/404/1/files/big.bin") &&
                 !strstr(err.msg, "retr"), "%s", err.msg);
    PE_CHECK_EQ_INT(fetch_count("/fail/403/1/after/0/files/big.bin", dest, &o, PE_ERR_NET, &err), 1);
    PE_CHECK_MSG(logged[0] == '\0', "%s", logged); /* no retry announced */

    /* retries = 0: a 503 is final. */
    o.retries = 0;
    PE_CHECK_EQ_INT(fetch_count("/fail/503/1/after/0/files/big.bin", dest, &o, PE_ERR_NET, &err), 1);
    PE_CHECK_MSG(strstr(err.msg, "HTTP 503"), "%s", err.msg);
}

/* Without resume a failed download leaves no .part (the next call would
 * throw it away); with resume it is kept (test_dropped_without_retries_keeps_part). */
static void test_no_resume_failure_removes_part(void)
{
    char dest[512], part[520];
    path_in(dest, sizeof dest, "dropnr.bin");
    snprintf(part, sizeof part, "%s.part", dest);
    pe_fetch_options o = quick_opts();
    o.retries = 0;
    o.resume = 0;
    pe_error err;
    PE_CHECK_EQ_INT(fetch_count("/drop/250000/big.bin", dest, &o, PE_ERR_NET, &err), 1);
    PE_CHECK_MSG(strstr(err.msg, "/drop/250000/big.bin") != NULL, "%s", err.msg);
    PE_CHECK_EQ_INT(file_size(part), -1);
    PE_CHECK_EQ_INT(file_size(dest), -1);
}

/* A .part another download holds is left alone: PE_ERR_BUSY at once, no
 * request, its bytes untouched, also without resume (which would truncate). */
static void test_part_locked_by_another_download(void)
{
    char dest[512], part[520], url[256];
    path_in(dest, sizeof dest, "locked.bin");
    snprintf(part, sizeof part, "%s.part", dest);
    write_file(part, big, 1000);
    int fd = open(part, O_RDWR);
    PE_CHECK(fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0);
    url_of(url, sizeof url, "/files/big.bin");
    pe_fetch_options o = quick_opts();
    pe_error err;
    long mark = log_mark();
    PE_CHECK_EQ_INT(pe_fetch_url(url, dest, &o, &err), PE_ERR_BUSY);
    PE_CHECK_MSG(strstr(err.msg, part) && strstr(err.msg, url), "%s", err.msg);
    o.resume = 0;
    PE_CHECK_EQ_INT(pe_fetch_url(url, dest, &o, &err), PE_ERR_BUSY);
    char *l = log_since(mark);
    PE_CHECK_EQ_INT(count_lines_with(l, "GET "), 0);
    free(l);
    PE_CHECK_EQ_INT(file_size(part), 1000);
    PE_CHECK_EQ_INT(file_size(dest), -1);
    close(fd); /* the other download is gone: this one continues its bytes */
    o.resume = 1;
    o.sha256 = big_sha;
    PE_CHECK_EQ_INT(pe_fetch_url(url, dest, &o, &err), PE_OK);
    PE_CHECK(same_as_big(dest));
}

static void test_stall_times_out_and_resumes(void)
{
    char dest[512], url[256];
    path_in(dest, sizeof dest, "stall.bin");
    url_of(url, sizeof url, "/stall/100000/big.bin");
    pe_fetch_options o = quick_opts();
    o.timeout_s = 1;
    o.sha256 = big_sha;
    pe_error err;
    long mark = log_mark();
    PE_CHECK_EQ_INT(pe_fetch_url(url, dest, &o, &err), PE_OK);
    PE_CHECK(same_as_big(dest));
    char *l = log_since(mark);
    PE_CHECK_MSG(count_lines_with(l, "GET /stall/100000/big.bin range=bytes=100000-") == 1, "log:\n%s", l);
    free(l);
}

/* ---- the CLI -------------------------------------------------------------------- */

/* Runs `persona ARGS` (a shell command line) with stdout to out_path; exit status. */
static int run_cli(const char *args, const char *out_path)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "PERSONA_NO_PROGRESS=1 '%s/cli/persona' %s > '%s' 2>> '%s/cli.err'", PE_BINARY_DIR, args,
             out_path, tmp);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Runs `persona ARGS` with stderr on a pseudo-terminal (so that the
 * progress bar is drawn); what it wrote there goes to a malloc'd *tty_out.
 * Exit status, or -1. */
static int run_cli_tty(const char *args, char **tty_out)
{
    *tty_out = strdup("");
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    if (m < 0 || grantpt(m) != 0 || unlockpt(m) != 0) {
        if (m >= 0) close(m);
        return -1;
    }
    const char *slave = ptsname(m);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "exec '%s/cli/persona' %s > /dev/null", PE_BINARY_DIR, args);
    pid_t pid = fork();
    if (pid < 0) {
        close(m);
        return -1;
    }
    if (pid == 0) {
        int sfd = open(slave, O_RDWR | O_NOCTTY);
        if (sfd < 0) _exit(126);
        dup2(sfd, 2);
        close(sfd);
        close(m);
        unsetenv("PERSONA_NO_PROGRESS");
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    /* Read until the child is gone and the terminal has nothing more. */
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    int status = -1, exited = 0;
    for (;;) {
        struct pollfd pf = {m, POLLIN, 0};
        int pr = poll(&pf, 1, 100);
        if (pr > 0 && (pf.revents & POLLIN)) {
            if (len + 1024 > cap) buf = realloc(buf, cap *= 2);
            ssize_t r = read(m, buf + len, cap - len - 1);
            if (r > 0) {
                len += (size_t)r;
                continue;
            }
        }
        if (exited) break;
        if (waitpid(pid, &status, WNOHANG) == pid) exited = 1;
        else if (pr > 0 && !(pf.revents & POLLIN)) usleep(10000); /* hang-up before exit */
    }
    buf[len] = '\0';
    close(m);
    free(*tty_out);
    *tty_out = buf;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Issue 7: no output shows a URL's password (errors, retry warnings,
 * `kg fetch --endpoint` JSON), and only http(s) is fetched unless asked. */
#define SECRET "s3cretPW"
static void test_secrets_and_schemes(void)
{
    char dest[512], url[512];
    path_in(dest, sizeof dest, "secret.bin");
    pe_fetch_options o = quick_opts();
    pe_error err;
    /* a 404: the error names the URL without alice:SECRET */
    snprintf(url, sizeof url, "http://alice:" SECRET "@127.0.0.1:%d/files/nope.bin", port);
    PE_CHECK_EQ_INT(pe_fetch_url(url, dest, &o, &err), PE_ERR_NET);
    PE_CHECK_MSG(strstr(err.msg, "HTTP 404") && strstr(err.msg, "127.0.0.1") && !strstr(err.msg, SECRET) &&
                 !strstr(err.msg, "alice"), "%s", err.msg);
    /* 5xx retried: warnings and the final error */
    o.retries = 2;
    snprintf(url, sizeof url, "http://alice:" SECRET "@127.0.0.1:%d/status/503", port);
    log_clear();
    PE_CHECK_EQ_INT(pe_fetch_url(url, dest, &o, &err), PE_ERR_NET);
    PE_CHECK_MSG(strstr(logged, "retry 1 of 2") && !strstr(logged, SECRET), "%s", logged);
    PE_CHECK_MSG(!strstr(err.msg, SECRET), "%s", err.msg);
    /* connection refused (libcurl's own text) and a busy .part */
    o.retries = 1;
    log_clear();
    PE_CHECK_EQ_INT(pe_fetch_url("http://alice:" SECRET "@127.0.0.1:1/x", dest, &o, &err), PE_ERR_NET);
    PE_CHECK_MSG(!strstr(err.msg, SECRET) && !strstr(logged, SECRET), "%s / %s", err.msg, logged);
    /* a URL libcurl cannot parse still loses its userinfo */
    char *rec = pe_fetch_url_for_record("http://alice:" SECRET "@exa mple.org:99999/a b");
    PE_CHECK_MSG(rec && !strstr(rec, SECRET) && strstr(rec, "exa mple.org"), "%s", rec ? rec : "NULL");
    free(rec);

    /* schemes: file:// and ftp:// refused by default, file:// with any_scheme */
    char local[512], furl[600];
    snprintf(local, sizeof local, "%s/big.bin", root);
    snprintf(furl, sizeof furl, "file://%s", local);
    o = quick_opts();
    PE_CHECK_EQ_INT(pe_fetch_url(furl, dest, &o, &err), PE_ERR_INVALID);
    PE_CHECK_MSG(strstr(err.msg, "only http:// and https://"), "%s", err.msg);
    PE_CHECK_EQ_INT(file_size(dest), -1);
    PE_CHECK_EQ_INT(pe_fetch_url("ftp://127.0.0.1/x", dest, &o, &err), PE_ERR_INVALID);
    PE_CHECK_EQ_INT(pe_fetch_url("FILE:///etc/passwd", dest, &o, &err), PE_ERR_INVALID);
    o.any_scheme = 1;
    PE_CHECK_EQ_INT(pe_fetch_url(furl, dest, &o, &err), PE_OK);
    PE_CHECK(same_as_big(dest));
    unlink(dest);

    /* wbgetentities: an API error through an endpoint with a password */
    char db[512], api[512];
    snprintf(db, sizeof db, "%s/kg-secret", tmp);
    pe_kg *kg = open_store(db);
    if (!kg) return;
    snprintf(api, sizeof api, "http://bob:" SECRET "@127.0.0.1:%d/w/error/api.php", port);
    pe_fetch_options fo = quick_opts();
    fo.retries = 0;
    pe_import_result res;
    PE_CHECK_EQ_INT(pe_fetch_wikidata(kg, "Q90", api, &fo, NULL, &res, &err), PE_ERR_NET);
    PE_CHECK_MSG(strstr(err.msg, "API error") && !strstr(err.msg, SECRET), "%s", err.msg);
    pe_kg_close(kg);

    /* the CLI: --endpoint's JSON and stderr, and a file:// URL (usage error) */
    char exe[512];
    snprintf(exe, sizeof exe, "%s/cli/persona", PE_BINARY_DIR);
    if (access(exe, X_OK) != 0) return;
    char out[512], args[3000], errpath[600];
    snprintf(out, sizeof out, "%s/secret.out", tmp);
    snprintf(errpath, sizeof errpath, "%s/cli.err", tmp);
    unlink(errpath);
    snprintf(args, sizeof args, "kg fetch --wikidata-ids Q90 --endpoint 'http://bob:" SECRET "@127.0.0.1:%d/w/api.php' "
             "--db '%s' --retries 0 --json", port, db);
    PE_CHECK_EQ_INT(run_cli(args, out), 0);
    char *o_text = read_text(out), *e_text = read_text(errpath);
    PE_CHECK_MSG(strstr(o_text, "\"endpoint\"") && strstr(o_text, "127.0.0.1") && !strstr(o_text, SECRET), "%s",
                 o_text);
    PE_CHECK_MSG(!strstr(e_text, SECRET), "%s", e_text);
    free(o_text);
    free(e_text);
    snprintf(args, sizeof args, "kg fetch --wikidata-ids Q90 --endpoint 'http://bob:" SECRET "@127.0.0.1:1/w/api.php' "
             "--db '%s' --retries 0", db);
    PE_CHECK_EQ_INT(run_cli(args, out), 1);
    e_text = read_text(errpath);
    PE_CHECK_MSG(strstr(e_text, "127.0.0.1:1") && !strstr(e_text, SECRET), "%s", e_text);
    free(e_text);
    snprintf(args, sizeof args, "kg fetch '%s' -o '%s'", furl, dest);
    PE_CHECK_EQ_INT(run_cli(args, out), 2);
    PE_CHECK_EQ_INT(file_size(dest), -1);
    snprintf(args, sizeof args, "kg fetch '%s' -o '%s' --any-scheme", furl, dest);
    PE_CHECK_EQ_INT(run_cli(args, out), 0);
    PE_CHECK(same_as_big(dest));
}

static void test_cli(void)
{
    char exe[512];
    snprintf(exe, sizeof exe, "%s/cli/persona", PE_BINARY_DIR);
    if (access(exe, X_OK) != 0) {
        fprintf(stderr, "  (no %s: CLI checks skipped)\n", exe);
        return;
    }
    /* Serve a small Wikidata dump, fetch it with its checksum and import it. */
    char src[512], dest[512], out[512], db[512], args[3000], sha[65];
    snprintf(src, sizeof src, "%s/fetch/entities/Q90.json", PE_FIXTURES);
    char *json = read_text(src);
    char served[512];
    snprintf(served, sizeof served, "%s/paris.json", root);
    write_file(served, json, strlen(json));
    pe_sha256 h;
    pe_sha256_init(&h);
    pe_sha256_update(&h, json, strlen(json));
    pe_sha256_final_hex(&h, sha);
    free(json);
    path_in(dest, sizeof dest, "paris.json");
    snprintf(out, sizeof out, "%s/cli.out", tmp);
    snprintf(db, sizeof db, "%s/cli-kg", tmp);
    snprintf(args, sizeof args, "kg fetch http://127.0.0.1:%d/files/paris.json -o '%s' --sha256 %s --import --db '%s' --json",
             port, dest, sha, db);
    PE_CHECK_EQ_INT(run_cli(args, out), 0);
    char *o = read_text(out);
    cJSON *j = cJSON_Parse(o);
    PE_CHECK_MSG(cJSON_IsTrue(cJSON_GetObjectItem(j, "sha256_verified")), "%s", o);
    cJSON *counts = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "import"), "counts");
    PE_CHECK_EQ_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(counts, "entities")), 1);
    PE_CHECK_EQ_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(counts, "skipped")), 0);
    cJSON_Delete(j);
    free(o);
    /* Wrong checksum: exit 1; usage errors: exit 2; missing ids: exit 3. */
    snprintf(args, sizeof args, "kg fetch http://127.0.0.1:%d/files/paris.json -o '%s' --sha256 %064d", port, dest, 0);
    PE_CHECK_EQ_INT(run_cli(args, out), 1);
    PE_CHECK_EQ_INT(run_cli("kg fetch", out), 2);
    snprintf(args, sizeof args, "kg fetch --wikidata-ids Q1,bad --db '%s/never'", tmp);
    PE_CHECK_EQ_INT(run_cli(args, out), 2);
    char never[600];
    snprintf(never, sizeof never, "%s/never", tmp);
    PE_CHECK_EQ_INT(file_size(never), -1); /* no store made for a bad id */
    snprintf(args, sizeof args, "kg fetch --wikidata-ids Q142,Q6 --endpoint http://127.0.0.1:%d/w/api.php --db '%s' --json",
             port, db);
    PE_CHECK_EQ_INT(run_cli(args, out), 3);
    o = read_text(out);
    j = cJSON_Parse(o);
    counts = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "import"), "counts");
    PE_CHECK_EQ_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(counts, "entities")), 1);
    const char *nf = cJSON_GetStringValue(cJSON_GetObjectItem(j, "not_found"));
    PE_CHECK_MSG(nf && strstr(nf, "Q6"), "%s", o);
    cJSON_Delete(j);
    free(o);
    PE_CHECK_EQ_INT(run_cli("kg fetch --help", out), 0);

    /* kg stats names the request the entities came from. */
    snprintf(args, sizeof args, "kg stats --json --db '%s'", db);
    PE_CHECK_EQ_INT(run_cli(args, out), 0);
    o = read_text(out);
    j = cJSON_Parse(o);
    char want[300];
    snprintf(want, sizeof want, "http://127.0.0.1:%d/w/api.php?action=wbgetentities&format=json&ids=Q142%%7CQ6", port);
    int named = 0;
    cJSON *item;
    cJSON_ArrayForEach(item, cJSON_GetObjectItem(j, "sources"))
    {
        const char *path = cJSON_GetStringValue(cJSON_GetObjectItem(item, "path"));
        const char *fmt = cJSON_GetStringValue(cJSON_GetObjectItem(item, "format"));
        named += path && fmt && strcmp(path, want) == 0 && strcmp(fmt, "wikidata-json") == 0 &&
                 cJSON_GetNumberValue(cJSON_GetObjectItem(item, "size")) > 0;
    }
    PE_CHECK_MSG(named == 1, "%s", o);
    /* and the URL a fetched file came from (not the local copy's path) */
    snprintf(want, sizeof want, "http://127.0.0.1:%d/files/paris.json", port);
    named = 0;
    cJSON_ArrayForEach(item, cJSON_GetObjectItem(j, "sources"))
    {
        const char *path = cJSON_GetStringValue(cJSON_GetObjectItem(item, "path"));
        named += path && strcmp(path, want) == 0;
    }
    PE_CHECK_MSG(named == 1, "%s", o);
    cJSON_Delete(j);
    free(o);

    /* Credentials in a URL are never written down: not in the output, not
     * in the source record. */
    snprintf(args, sizeof args,
             "kg fetch http://someone:s3cret@127.0.0.1:%d/files/paris.json -o '%s.2' --import --db '%s'", port, dest,
             db);
    PE_CHECK_EQ_INT(run_cli(args, out), 0);
    o = read_text(out);
    PE_CHECK_MSG(o && !strstr(o, "s3cret") && strstr(o, "/files/paris.json"), "%s", o ? o : "(none)");
    /* text by default: one line a field, the import's counts on one line */
    PE_CHECK_MSG(o && strstr(o, "\nimport ") && strstr(o, "entities 1") && o[0] != '{', "%s", o ? o : "(none)");
    free(o);
    snprintf(args, sizeof args, "kg stats --json --db '%s'", db);
    PE_CHECK_EQ_INT(run_cli(args, out), 0);
    o = read_text(out);
    PE_CHECK_MSG(o && !strstr(o, "s3cret") && !strstr(o, "someone"), "%s", o ? o : "(none)");
    free(o);

    /* --user-agent, else $PERSONA_USER_AGENT, is what the server sees. */
    long mark = log_mark();
    snprintf(args, sizeof args,
             "kg fetch http://127.0.0.1:%d/files/paris.json -o '%s.ua' --user-agent 'pe-test/1 (ops@example.org)'",
             port, dest);
    PE_CHECK_EQ_INT(run_cli(args, out), 0);
    setenv("PERSONA_USER_AGENT", "pe-env/2", 1);
    snprintf(args, sizeof args, "kg fetch http://127.0.0.1:%d/files/paris.json -o '%s.ua2'", port, dest);
    PE_CHECK_EQ_INT(run_cli(args, out), 0);
    unsetenv("PERSONA_USER_AGENT");
    char *l = log_since(mark);
    PE_CHECK_MSG(count_lines_with(l, "range=- ua=pe-test/1 (ops@example.org)") == 1 &&
                     count_lines_with(l, "range=- ua=pe-env/2") == 1,
                 "log:\n%s", l);
    free(l);

    /* --retries beyond an int is a usage error, not a negative count. */
    snprintf(args, sizeof args, "kg fetch http://127.0.0.1:%d/files/paris.json -o '%s' --retries 99999999999", port,
             dest);
    PE_CHECK_EQ_INT(run_cli(args, out), 2);

    /* On a terminal: a retry notice starts its own line, not the end of the
     * bar; a resumed download is shown from where it resumed. */
    char *tty = NULL;
    path_in(dest, sizeof dest, "tty.bin");
    snprintf(args, sizeof args, "kg fetch http://127.0.0.1:%d/drop/150000/big.bin -o '%s' --sha256 %s --retries 1",
             port, dest, big_sha);
    int rc = run_cli_tty(args, &tty);
    if (rc == -1 && !tty[0]) {
        fprintf(stderr, "  (no pseudo-terminal: terminal checks skipped)\n");
    } else {
        PE_CHECK_EQ_INT(rc, 0);
        PE_CHECK(same_as_big(dest));
        const char *warn = strstr(tty, "persona: warning: ");
        PE_CHECK_MSG(strstr(tty, "\rfetch [") && warn && warn > tty && warn[-1] == '\n', "%s", tty);
        free(tty);
        char part[600];
        path_in(dest, sizeof dest, "tty2.bin");
        snprintf(part, sizeof part, "%s.part", dest);
        write_file(part, big, 150000);
        snprintf(args, sizeof args, "kg fetch http://127.0.0.1:%d/files/big.bin -o '%s' --sha256 %s", port, dest,
                 big_sha);
        PE_CHECK_EQ_INT(run_cli_tty(args, &tty), 0);
        PE_CHECK(same_as_big(dest));
        /* 450000 of the 600000 bytes were this run's */
        PE_CHECK_MSG(strstr(tty, "\rfetch (resumed at 0.1 MiB) [") && strstr(tty, "] 439.5 KiB / 439.5 KiB"), "%s",
                     tty);
        free(tty);
        /* Two requests, each fetched then imported: every phase on a line
         * of its own (a bar never redrawn over another phase's). */
        size_t k = (size_t)snprintf(args, sizeof args, "kg fetch --db '%s' --endpoint http://127.0.0.1:%d/w/api.php "
                                    "--wikidata-ids Q90", db, port);
        for (int i = 0; i < 50; i++) k += (size_t)snprintf(args + k, sizeof args - k, ",Q%d", 3000 + i);
        snprintf(args + k, sizeof args - k, ",Q515");
        PE_CHECK_EQ_INT(run_cli_tty(args, &tty), 3);
        int lines = 0, mixed = 0, fetches = 0, imports = 0;
        for (char *save, *ln = strtok_r(tty, "\n", &save); ln; ln = strtok_r(NULL, "\n", &save)) {
            int f = count_lines_with(ln, "\rfetch ["), im = count_lines_with(ln, "\rimport [");
            fetches += f > 0;
            imports += im > 0;
            mixed += f && im;
            lines++;
        }
        PE_CHECK_MSG(fetches == 2 && imports == 2 && mixed == 0, "%d fetch lines, %d import lines, %d mixed of %d",
                     fetches, imports, mixed, lines);
    }
    free(tty);
}

/* ---- wbgetentities ------------------------------------------------------------ */

static pe_kg_id resolve(pe_kg_reader *r, const char *t)
{
    pe_kg_id id = 0;
    if (pe_kg_resolve(r, t, strlen(t), &id) != PE_OK) return 0;
    return id;
}

static void test_wikidata_fetch(void)
{
    char db[512], api[256], tdir[512];
    snprintf(db, sizeof db, "%s/kg", tmp);
    snprintf(tdir, sizeof tdir, "%s/t", tmp);
    mkdir(tdir, 0700);
    setenv("TMPDIR", tdir, 1); /* to check that the responses are cleaned up */
    url_of(api, sizeof api, "/w/api.php");
    pe_kg *kg = open_store(db);
    if (!kg) return;
    pe_status st;
    pe_fetch_options fo = quick_opts();
    pe_import_result res;
    pe_error err;
    pe_error_clear(&err);

    /* Bad id: nothing is requested. */
    long mark = log_mark();
    PE_CHECK_EQ_INT(pe_fetch_wikidata(kg, "Q90,X1", api, &fo, NULL, &res, &err), PE_ERR_INVALID);
    PE_CHECK_MSG(strstr(err.msg, "'X1'") != NULL, "%s", err.msg);
    PE_CHECK_EQ_INT(pe_fetch_wikidata(kg, " , ", api, &fo, NULL, &res, &err), PE_ERR_INVALID);
    size_t nids = 0;
    PE_CHECK_EQ_INT(pe_fetch_wikidata_check_ids("Q1, p2,L3", &nids, &err), PE_OK);
    PE_CHECK_EQ_INT(nids, 3);
    PE_CHECK_EQ_INT(pe_fetch_wikidata_check_ids("Q1,Q0", &nids, &err), PE_ERR_INVALID);
    PE_CHECK_MSG(strstr(err.msg, "'Q0'") != NULL, "%s", err.msg);
    char *l = log_since(mark);
    PE_CHECK_EQ_INT(count_lines_with(l, "GET "), 0);
    free(l);

    /* Five entities and one missing id. */
    mark = log_mark();
    st = pe_fetch_wikidata(kg, "Q90,Q142, q515,P31,P17,Q6", api, &fo, NULL, &res, &err);
    PE_CHECK_MSG(st == PE_NOT_FOUND, "%s: %s", pe_status_str(st), err.msg);
    PE_CHECK_MSG(strstr(err.msg, "Q6") && strstr(err.msg, "1 of 6"), "%s", err.msg);
    PE_CHECK_EQ_INT(res.counts.entities, 5);
    PE_CHECK(res.counts.triples >= 5);
    PE_CHECK(res.source_id > 0);
    l = log_since(mark);
    PE_CHECK_MSG(count_lines_with(l, "wbgetentities n=6 ids=Q90,Q142,Q515,P31,P17,Q6") == 1, "log:\n%s", l);
    free(l);

    pe_kg_reader *r = NULL;
    PE_CHECK_EQ_INT(pe_kg_reader_begin(kg, &r), PE_OK);
    if (r) {
        pe_kg_id q90 = resolve(r, "Q90"), q515 = resolve(r, "Q515"), p31 = resolve(r, "P31"),
                 q142 = resolve(r, "Q142"), p17 = resolve(r, "P17");
        PE_CHECK(q90 && q515 && p31 && q142 && p17);
        const char *label = NULL;
        PE_CHECK_EQ_INT(pe_kg_label(r, q90, "en", &label), PE_OK);
        PE_CHECK_EQ_STR(label, "Paris");
        PE_CHECK_EQ_INT(pe_kg_label(r, q142, "en", &label), PE_OK);
        PE_CHECK_EQ_STR(label, "France");
        pe_kg_iter *it = NULL;
        pe_kg_triple t;
        int found = 0;
        PE_CHECK_EQ_INT(pe_kg_match(r, q90, p31, 0, &it), PE_OK);
        while (it && pe_kg_iter_next(it, &t) == PE_OK) found += t.o == q515;
        pe_kg_iter_free(it);
        PE_CHECK_EQ_INT(found, 1);
        found = 0;
        it = NULL;
        PE_CHECK_EQ_INT(pe_kg_match(r, q90, p17, 0, &it), PE_OK);
        while (it && pe_kg_iter_next(it, &t) == PE_OK) found += t.o == q142;
        pe_kg_iter_free(it);
        PE_CHECK_EQ_INT(found, 1);
        pe_kg_candidate c[4];
        size_t n = 0;
        PE_CHECK_EQ_INT(pe_kg_lookup(r, "City of Light", 13, NULL, c, 4, &n), PE_OK);
        PE_CHECK(n >= 1 && c[0].id == q90);
        pe_kg_reader_end(r);
    }

    /* 121 ids: three requests of 50, 50 and 21 (the server refuses more than 50). */
    char ids[2048];
    size_t o = (size_t)snprintf(ids, sizeof ids, "Q42");
    for (int i = 0; i < 120; i++) o += (size_t)snprintf(ids + o, sizeof ids - o, ",Q%d", 1000 + i);
    mark = log_mark();
    st = pe_fetch_wikidata(kg, ids, api, &fo, NULL, &res, &err);
    PE_CHECK_MSG(st == PE_NOT_FOUND && strstr(err.msg, "120 of 121") && strstr(err.msg, "Q1019 and more"), "%s: %s",
                 pe_status_str(st), err.msg);
    PE_CHECK_EQ_INT(res.counts.entities, 1);
    l = log_since(mark);
    PE_CHECK_EQ_INT(count_lines_with(l, "wbgetentities n=50 "), 2);
    PE_CHECK_EQ_INT(count_lines_with(l, "wbgetentities n=21 "), 1);
    free(l);
    PE_CHECK_EQ_INT(pe_kg_reader_begin(kg, &r), PE_OK);
    if (r) {
        const char *label = NULL;
        PE_CHECK_EQ_INT(pe_kg_label(r, resolve(r, "Q42"), "en", &label), PE_OK);
        PE_CHECK_EQ_STR(label, "Douglas Adams");
        pe_kg_reader_end(r);
    }

    /* Language list reaches the API. */
    pe_import_options io = pe_import_options_default();
    io.langs = "en,fr";
    mark = log_mark();
    st = pe_fetch_wikidata(kg, "Q142", api, &fo, &io, &res, &err);
    PE_CHECK_MSG(st == PE_OK, "%s: %s", pe_status_str(st), err.msg);
    l = log_since(mark);
    PE_CHECK_MSG(strstr(l, "&languages=en%7Cfr") != NULL, "log:\n%s", l);
    free(l);

    /* API error object, HTTP error. */
    url_of(api, sizeof api, "/w/error/api.php");
    PE_CHECK_EQ_INT(pe_fetch_wikidata(kg, "Q90", api, &fo, NULL, &res, &err), PE_ERR_NET);
    PE_CHECK_MSG(strstr(err.msg, "internal_api_error_Test") && strstr(err.msg, "test server error"), "%s", err.msg);
    url_of(api, sizeof api, "/nowhere/api.php");
    PE_CHECK_EQ_INT(pe_fetch_wikidata(kg, "Q90", api, &fo, NULL, &res, &err), PE_ERR_NET);
    PE_CHECK_MSG(strstr(err.msg, "404") != NULL, "%s", err.msg);

    /* Every temporary response and directory was removed: rmdir works only
     * on an empty directory. */
    PE_CHECK_MSG(rmdir(tdir) == 0, "temporary files left in %s", tdir);
    unsetenv("TMPDIR");
    pe_kg_close(kg);
}

/* sha256 and size of what the server answers at `path` (fetched apart). */
static void response_digest(const char *path, char sha[65], long *size)
{
    char url[1024], dest[512];
    url_of(url, sizeof url, path);
    path_in(dest, sizeof dest, "response.json");
    pe_fetch_options o = quick_opts();
    pe_error err;
    sha[0] = '\0';
    *size = -1;
    PE_CHECK_MSG(pe_fetch_url(url, dest, &o, &err) == PE_OK, "%s", err.msg);
    PE_CHECK_MSG(pe_sha256_file(dest, sha, &err) == PE_OK, "%s", err.msg);
    *size = file_size(dest);
    unlink(dest);
}

static void test_wikidata_provenance(void)
{
    char db[512], api[256], tdir[512], want[1024], sha[65];
    long size = -1;
    snprintf(db, sizeof db, "%s/kg-prov", tmp);
    snprintf(tdir, sizeof tdir, "%s/t2", tmp);
    mkdir(tdir, 0700);
    setenv("TMPDIR", tdir, 1);
    url_of(api, sizeof api, "/w/api.php");
    pe_kg *kg = open_store(db);
    if (!kg) return;
    pe_status st;
    pe_fetch_options fo = quick_opts();
    pe_import_result res;
    pe_error err;
    pe_kg_reader *r = NULL;
    pe_kg_source src;
    pe_kg_stats stats;

    /* The source record names the request, with the response's size and
     * sha256 (the bytes as received: the missing Q6 is in them). */
    st = pe_fetch_wikidata(kg, "Q90,Q142,Q6", api, &fo, NULL, &res, &err);
    PE_CHECK_MSG(st == PE_NOT_FOUND, "%s: %s", pe_status_str(st), err.msg);
    PE_CHECK_EQ_INT(res.counts.entities, 2);
    PE_CHECK_EQ_INT(res.counts.skipped, 0);
    PE_CHECK(res.counts.dropped >= 1); /* Q6, "missing" */
    snprintf(want, sizeof want, "http://127.0.0.1:%d/w/api.php?action=wbgetentities&format=json&ids=Q90%%7CQ142%%7CQ6",
             port);
    response_digest(want + strlen("http://127.0.0.1:") + strcspn(want + strlen("http://127.0.0.1:"), "/"), sha, &size);
    PE_CHECK_EQ_INT(pe_kg_reader_begin(kg, &r), PE_OK);
    if (r) {
        PE_CHECK_EQ_INT(pe_kg_source_get(r, res.source_id, &src), PE_OK);
        PE_CHECK_EQ_STR(src.path, want);
        PE_CHECK_EQ_STR(src.format, "wikidata-json");
        PE_CHECK_EQ_STR(src.sha256, sha);
        PE_CHECK_EQ_INT(src.size, size);
        PE_CHECK_EQ_INT(src.status, PE_KG_SOURCE_DONE);
        PE_CHECK_EQ_INT(src.counts.entities, 2);
        PE_CHECK_EQ_INT(src.counts.bytes, size);
        PE_CHECK_EQ_INT(pe_kg_stats_get(r, &stats), PE_OK);
        PE_CHECK_EQ_INT(stats.sources, 1);
        pe_kg_reader_end(r);
    }

    /* The same answer again: already imported, no new source. */
    st = pe_fetch_wikidata(kg, "Q90,Q142,Q6", api, &fo, NULL, &res, &err);
    PE_CHECK_MSG(st == PE_NOT_FOUND, "%s: %s", pe_status_str(st), err.msg);
    PE_CHECK_EQ_INT(res.resumed, 2);
    PE_CHECK_EQ_INT(res.counts.entities, 2);

    /* A fetch killed during its import left a RUNNING source for these
     * bytes: the next fetch continues it (there is no --resume to give). */
    snprintf(want, sizeof want, "http://127.0.0.1:%d/w/api.php?action=wbgetentities&format=json&ids=Q515%%7CP31",
             port);
    response_digest("/w/api.php?action=wbgetentities&format=json&ids=Q515%7CP31", sha, &size);
    pe_kg_writer *w = NULL;
    uint32_t killed = 0;
    int resumed = -1;
    pe_kg_source info;
    memset(&info, 0, sizeof info);
    info.path = want;
    info.format = "wikidata-json";
    info.sha256 = sha;
    info.size = (uint64_t)size;
    PE_CHECK_EQ_INT(pe_kg_writer_begin(kg, &w), PE_OK);
    if (w) {
        PE_CHECK_EQ_INT(pe_kg_source_begin(w, &info, &killed, &resumed), PE_OK);
        PE_CHECK_EQ_INT(resumed, 0);
        PE_CHECK_EQ_INT(pe_kg_writer_commit(w), PE_OK);
    }
    st = pe_fetch_wikidata(kg, "Q515,P31", api, &fo, NULL, &res, &err);
    PE_CHECK_MSG(st == PE_OK, "%s: %s", pe_status_str(st), err.msg);
    PE_CHECK_EQ_INT(res.source_id, killed);
    PE_CHECK_EQ_INT(res.counts.entities, 2);
    PE_CHECK_EQ_INT(pe_kg_reader_begin(kg, &r), PE_OK);
    if (r) {
        PE_CHECK_EQ_INT(pe_kg_source_get(r, killed, &src), PE_OK);
        PE_CHECK_EQ_INT(src.status, PE_KG_SOURCE_DONE);
        PE_CHECK_EQ_INT(src.counts.entities, 2);
        pe_kg_reader_end(r);
    }

    /* A password in the endpoint is not written into the store. */
    char secret_api[300];
    snprintf(secret_api, sizeof secret_api, "http://someone:s3cret@127.0.0.1:%d/w/api.php", port);
    st = pe_fetch_wikidata(kg, "P17", secret_api, &fo, NULL, &res, &err);
    PE_CHECK_MSG(st == PE_OK, "%s: %s", pe_status_str(st), err.msg);
    PE_CHECK_EQ_INT(pe_kg_reader_begin(kg, &r), PE_OK);
    if (r) {
        PE_CHECK_EQ_INT(pe_kg_source_get(r, res.source_id, &src), PE_OK);
        PE_CHECK_MSG(src.path && !strstr(src.path, "s3cret") && !strstr(src.path, "someone") &&
                     strstr(src.path, "127.0.0.1") && strstr(src.path, "ids=P17"), "%s", src.path);
        pe_kg_reader_end(r);
    }

    /* A bad entity costs only itself: the good one of the same response is
     * imported, the bad one counted as skipped. */
    st = pe_fetch_wikidata(kg, "Q999,Q142", api, &fo, NULL, &res, &err);
    PE_CHECK_MSG(st == PE_OK, "%s: %s", pe_status_str(st), err.msg);
    PE_CHECK_EQ_INT(res.counts.entities, 1);
    PE_CHECK_EQ_INT(res.counts.skipped, 1);
    PE_CHECK_MSG(strstr(res.first_error, "entity Q999:"), "%s", res.first_error);

    /* A bad entity: the first error names the request, not the temporary
     * file; a long request URL is cut in the middle. */
    st = pe_fetch_wikidata(kg, "Q999", api, &fo, NULL, &res, &err);
    PE_CHECK_MSG(st == PE_OK, "%s: %s", pe_status_str(st), err.msg);
    PE_CHECK_EQ_INT(res.counts.skipped, 1);
    snprintf(want, sizeof want, "http://127.0.0.1:%d/w/api.php?action=wbgetentities&format=json&ids=Q999:1: entity Q999:",
             port);
    PE_CHECK_MSG(strncmp(res.first_error, want, strlen(want)) == 0, "%s", res.first_error);
    PE_CHECK_EQ_INT(pe_kg_reader_begin(kg, &r), PE_OK);
    if (r) {
        PE_CHECK_EQ_INT(pe_kg_source_get(r, res.source_id, &src), PE_OK);
        PE_CHECK_MSG(strncmp(src.last_error, want, strlen(want)) == 0, "%s", src.last_error);
        PE_CHECK_EQ_INT(src.counts.skipped, 1);
        pe_kg_reader_end(r);
    }
    char ids[1024];
    size_t o = (size_t)snprintf(ids, sizeof ids, "Q999");
    for (int i = 0; i < 40; i++) o += (size_t)snprintf(ids + o, sizeof ids - o, ",Q%d", 2000 + i);
    st = pe_fetch_wikidata(kg, ids, api, &fo, NULL, &res, &err);
    PE_CHECK_MSG(st == PE_NOT_FOUND, "%s: %s", pe_status_str(st), err.msg);
    PE_CHECK_EQ_INT(res.counts.skipped, 1);
    const char *at = strstr(res.first_error, ":1: entity Q999:");
    PE_CHECK_MSG(at && strncmp(res.first_error, "http://127.0.0.1:", 17) == 0 && at - res.first_error <= 120 &&
                 strstr(res.first_error, "...") && strstr(res.first_error, "%7CQ2039:1:"), "%s", res.first_error);
    PE_CHECK_MSG(!strstr(res.first_error, tdir), "%s", res.first_error);

    /* A response cut off for good leaves nothing in TMPDIR (no .part). */
    char served[600];
    snprintf(served, sizeof served, "%s/wb.json", root);
    const char *empty = "{\"entities\": {}, \"success\": 1}\n";
    write_file(served, empty, strlen(empty));
    fo.retries = 0;
    url_of(api, sizeof api, "/drop/10/wb.json"); /* the query is ignored there */
    st = pe_fetch_wikidata(kg, "Q42", api, &fo, NULL, &res, &err);
    PE_CHECK_MSG(st == PE_ERR_NET && strstr(err.msg, "/drop/10/wb.json?action=wbgetentities"), "%s: %s",
                 pe_status_str(st), err.msg);
    /* ...nor do retried 503s; the retry is announced with the URL. */
    fo.retries = 2;
    url_of(api, sizeof api, "/fail/503/2/w/api.php");
    log_clear();
    st = pe_fetch_wikidata(kg, "Q42", api, &fo, NULL, &res, &err);
    PE_CHECK_MSG(st == PE_OK, "%s: %s", pe_status_str(st), err.msg);
    PE_CHECK_EQ_INT(res.counts.entities, 1);
    PE_CHECK_MSG(strstr(logged, "/fail/503/2/w/api.php?action=wbgetentities") && strstr(logged, "retry 2 of 2"), "%s",
                 logged);
    /* The API's own "ratelimited" answer (HTTP 200) is retried the same way... */
    url_of(api, sizeof api, "/w/ratelimited/2/api.php");
    log_clear();
    st = pe_fetch_wikidata(kg, "Q90", api, &fo, NULL, &res, &err);
    PE_CHECK_MSG(st == PE_OK, "%s: %s", pe_status_str(st), err.msg);
    PE_CHECK_MSG(strstr(logged, "API error 'ratelimited'") && strstr(logged, "retry 2 of 2"), "%s", logged);
    /* ...and when it goes on past the retries, that is the error. */
    url_of(api, sizeof api, "/w/ratelimited/3/api.php");
    st = pe_fetch_wikidata(kg, "Q90", api, &fo, NULL, &res, &err);
    PE_CHECK_MSG(st == PE_ERR_NET && strstr(err.msg, "'ratelimited'"), "%s: %s", pe_status_str(st), err.msg);

    PE_CHECK_MSG(rmdir(tdir) == 0, "temporary files left in %s", tdir);
    unsetenv("TMPDIR");
    pe_kg_close(kg);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    if (!pe_test_tmpdir(tmp, sizeof tmp, "pe-test-fetch")) return 1;
    snprintf(root, sizeof root, "%s/root", tmp);
    snprintf(logpath, sizeof logpath, "%s/server.log", tmp);
    char dl[300];
    snprintf(dl, sizeof dl, "%s/dl", tmp);
    mkdir(root, 0755);
    mkdir(dl, 0755);

    /* big.bin: deterministic pseudo-random bytes (xorshift). */
    big = malloc(BIG_SIZE);
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < BIG_SIZE; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        big[i] = (unsigned char)(x >> 32);
    }
    char bigpath[320];
    snprintf(bigpath, sizeof bigpath, "%s/big.bin", root);
    write_file(bigpath, big, BIG_SIZE);
    pe_sha256 h;
    pe_sha256_init(&h);
    pe_sha256_update(&h, big, BIG_SIZE);
    pe_sha256_final_hex(&h, big_sha);

    pe_log_set(capture_log, NULL);
    int ok = start_server();
    if (ok <= 0) {
        stop_server();
        pe_test_rm_rf(tmp);
        free(big);
        if (ok == 0) {
            fprintf(stderr, "python3 not found: skipping\n");
            return PE_SKIP_CODE;
        }
        return 1;
    }
    PE_RUN(test_full_download);
    PE_RUN(test_dropped_connection_resumes);
    PE_RUN(test_dropped_without_retries_keeps_part);
    PE_RUN(test_existing_part_resumed_with_range);
    PE_RUN(test_no_resume_discards_part);
    PE_RUN(test_server_ignoring_range_restarts);
    PE_RUN(test_part_complete_or_too_long_416);
    PE_RUN(test_checksum_mismatch);
    PE_RUN(test_http_errors);
    PE_RUN(test_http_retries);
    PE_RUN(test_no_resume_failure_removes_part);
    PE_RUN(test_part_locked_by_another_download);
    PE_RUN(test_stall_times_out_and_resumes);
    PE_RUN(test_wikidata_fetch);
    PE_RUN(test_wikidata_provenance);
    PE_RUN(test_cli);
    PE_RUN(test_secrets_and_schemes);
    stop_server();
    pe_test_rm_rf(tmp);
    free(big);
    PE_TEST_EXIT();
}
