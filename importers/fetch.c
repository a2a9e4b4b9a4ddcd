/* fetch.c - resumable, checksummed downloads (libcurl easy API) and
 * Wikidata wbgetentities fetches. Contract in pe_import.h. */
#include "pe_import.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PE_FETCH_UA "persona/0.1 (knowledge-graph importer; libcurl/" LIBCURL_VERSION ")"
#define PE_WIKIDATA_API "https://www.wikidata.org/w/api.php"
#define PE_WB_BATCH 50                        /* the API's limit for ids per request */
#define PE_WB_LIST_MISSING 20                /* missing ids named in the message */
#define PE_WB_MAX_RESPONSE ((size_t)1 << 30) /* sanity bound on one response */
#define PE_FETCH_MAX_BACKOFF 30.0             /* seconds: retry_wait_s doubles up to this */

pe_fetch_options pe_fetch_options_default(void)
{
    pe_fetch_options o;
    memset(&o, 0, sizeof o);
    o.resume = 1;
    o.retries = 3;
    o.timeout_s = 60;
    o.retry_wait_s = 1.0;
    o.max_retry_after_s = 60.0;
    return o;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_OK;
static void curl_init_once(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

/* ---- pe_fetch_url ---------------------------------------------------------- */

typedef struct fetch_state {
    CURL *c;
    const char *url;    /* as messages and progress show it: no user:password */
    const char *part;
    const pe_fetch_options *opt;
    pe_error *err;
    int fd;
    uint64_t have;      /* bytes in .part; all of them hashed when hashing */
    uint64_t resumed_at;/* bytes the .part held at the start (0 once it is restarted) */
    uint64_t requested; /* Range start asked for in this attempt, 0 = none */
    uint64_t total;     /* expected final size, 0 = unknown */
    int body_started;   /* begin_body() ran for this response */
    int hashing;
    pe_sha256 h;
    pe_status fatal;    /* set by a callback that aborted the transfer */
    /* from the last response's headers */
    int has_range;
    uint64_t range_start, range_total; /* Content-Range: bytes START-END/TOTAL or * /TOTAL */
    char reason[64];       /* the status line's reason phrase ("Not Found"), "" if none */
    int has_retry_after;
    double retry_after;    /* seconds from now the server asks us to wait */
    double t0, last_report;
    double last_activity; /* when a byte last arrived (stall detection) */
    curl_off_t last_dlnow;
    int stalled;
} fetch_state;

static void report(fetch_state *s, int force)
{
    if (!s->opt->progress) return;
    double now = pe_now();
    if (!force && now - s->last_report < 0.25) return;
    s->last_report = now;
    pe_fetch_progress p = {s->url, s->have, s->total, now - s->t0, s->resumed_at};
    s->opt->progress(&p, s->opt->progress_user);
}

static pe_status truncate_part(fetch_state *s)
{
    if (ftruncate(s->fd, 0) != 0 || lseek(s->fd, 0, SEEK_SET) != 0)
        return pe_error_set(s->err, PE_ERR_IO, "%s: cannot truncate: %s", s->part, strerror(errno));
    s->have = s->resumed_at = 0;
    if (s->hashing) pe_sha256_init(&s->h);
    return PE_OK;
}

/* The value of a header line after its name, trimmed, into out (cap bytes). */
static void header_value(const char *buf, size_t len, size_t name_len, char *out, size_t cap)
{
    const char *v = buf + name_len, *e = buf + len;
    while (v < e && (*v == ' ' || *v == '\t')) v++;
    while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' ' || e[-1] == '\t')) e--;
    size_t m = (size_t)(e - v) < cap - 1 ? (size_t)(e - v) : cap - 1;
    memcpy(out, v, m);
    out[m] = '\0';
}

/* Headers of each response (a redirect gives several blocks): remember the
 * Content-Range so that a 206 can be checked against what was asked for,
 * the reason phrase for messages, and Retry-After (RFC 9110: seconds or an
 * HTTP date) for the pause before a retry. */
static size_t on_header(char *buf, size_t size, size_t n, void *user)
{
    fetch_state *s = user;
    size_t len = size * n;
    if (len >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
        s->has_range = 0;
        s->range_start = s->range_total = 0;
        s->has_retry_after = 0;
        s->reason[0] = '\0';
        /* "HTTP/1.1 404 Not Found": the text after the code */
        const char *sp = memchr(buf, ' ', len);
        const char *sp2 = sp ? memchr(sp + 1, ' ', len - (size_t)(sp + 1 - buf)) : NULL;
        if (sp2) header_value(buf, len, (size_t)(sp2 - buf), s->reason, sizeof s->reason);
    } else if (len > 12 && strncasecmp(buf, "Retry-After:", 12) == 0) {
        char v[128];
        header_value(buf, len, 12, v, sizeof v);
        size_t digits = strspn(v, "0123456789");
        if (digits > 0 && v[digits] == '\0') {
            s->retry_after = strtod(v, NULL);
            s->has_retry_after = 1;
        } else {
            time_t t = curl_getdate(v, NULL);
            if (t != (time_t)-1) {
                double d = difftime(t, time(NULL));
                s->retry_after = d > 0 ? d : 0;
                s->has_retry_after = 1;
            }
        }
    } else if (len > 14 && strncasecmp(buf, "Content-Range:", 14) == 0) {
        char tmp[128];
        size_t m = len - 14 < sizeof tmp - 1 ? len - 14 : sizeof tmp - 1;
        memcpy(tmp, buf + 14, m);
        tmp[m] = '\0';
        unsigned long long a, b, t;
        if (sscanf(tmp, " bytes %llu-%llu/%llu", &a, &b, &t) == 3) {
            s->has_range = 1;
            s->range_start = a;
            s->range_total = t;
        } else if (sscanf(tmp, " bytes */%llu", &t) == 1) {
            s->range_total = t;
        }
    }
    return len;
}

/* First bytes of a successful response (or its end when the body is empty):
 * decide whether they continue the .part or replace it. */
static pe_status begin_body(fetch_state *s)
{
    s->body_started = 1;
    long code = 0;
    curl_easy_getinfo(s->c, CURLINFO_RESPONSE_CODE, &code);
    curl_off_t clen = -1;
    curl_easy_getinfo(s->c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &clen);
    if (s->requested > 0) {
        if (code == 206) {
            if (!s->has_range || s->range_start != s->requested)
                return pe_error_set(s->err, PE_ERR_NET,
                                    "%s: asked for bytes from %" PRIu64 " but the 206 answer starts at %" PRIu64
                                    "%s", s->url, s->requested, s->range_start,
                                    s->has_range ? "" : " (no Content-Range)");
        } else if (code != 0) {
            /* 200: the server ignored Range and sends the whole file. (code 0:
             * file:// or ftp://, where libcurl honours the range itself.) */
            pe_log(PE_LOG_INFO, "%s: server ignored the Range request (HTTP %ld); downloading from the start",
                   s->url, code);
            pe_status st = truncate_part(s);
            if (st >= PE_ERR_FIRST) return st;
        }
    }
    if (s->has_range && s->range_total > 0) s->total = s->range_total;
    else if (clen >= 0) s->total = s->have + (uint64_t)clen;
    report(s, 1);
    return PE_OK;
}

static size_t on_write(char *buf, size_t size, size_t n, void *user)
{
    fetch_state *s = user;
    size_t len = size * n;
    if (!s->body_started && (s->fatal = begin_body(s)) >= PE_ERR_FIRST) return 0;
    for (size_t off = 0; off < len;) {
        ssize_t w = write(s->fd, buf + off, len - off);
        if (w < 0) {
            if (errno == EINTR) continue;
            s->fatal = pe_error_set(s->err, PE_ERR_IO, "%s: write failed at byte %" PRIu64 ": %s", s->part,
                                    s->have + off, strerror(errno));
            return 0;
        }
        off += (size_t)w;
    }
    if (s->hashing) pe_sha256_update(&s->h, buf, len);
    s->have += len;
    report(s, 0);
    return len;
}

/* Stall detection: no byte for timeout_s seconds aborts the transfer (and
 * is retried). libcurl's LOW_SPEED_* averages over several seconds, so a
 * burst followed by silence would be noticed only late. */
static int on_xferinfo(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    fetch_state *s = user;
    double now = pe_now();
    if (dlnow != s->last_dlnow) {
        s->last_dlnow = dlnow;
        s->last_activity = now;
    } else if (s->opt->timeout_s > 0 && now - s->last_activity > (double)s->opt->timeout_s) {
        s->stalled = 1;
        return 1;
    }
    return 0;
}

/* Failures worth another attempt with a Range request. */
static int retryable(CURLcode rc)
{
    switch (rc) {
    case CURLE_PARTIAL_FILE: case CURLE_RECV_ERROR: case CURLE_SEND_ERROR: case CURLE_GOT_NOTHING:
    case CURLE_OPERATION_TIMEDOUT: case CURLE_COULDNT_CONNECT: case CURLE_HTTP2: case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
        return 1;
    default:
        return 0;
    }
}

/* Hashes the first s->have bytes of the .part (resume with a checksum). */
static pe_status rehash_part(fetch_state *s)
{
    unsigned char *buf = malloc(1 << 20);
    if (!buf) return pe_error_set(s->err, PE_ERR_NOMEM, "out of memory");
    uint64_t done = 0;
    pe_status st = PE_OK;
    while (done < s->have) {
        size_t want = s->have - done < (1u << 20) ? (size_t)(s->have - done) : (1u << 20);
        ssize_t r = pread(s->fd, buf, want, (off_t)done);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            st = pe_error_set(s->err, PE_ERR_IO, "%s: read failed at byte %" PRIu64 ": %s", s->part, done,
                              r < 0 ? strerror(errno) : "unexpected end of file");
            break;
        }
        pe_sha256_update(&s->h, buf, (size_t)r);
        done += (uint64_t)r;
    }
    free(buf);
    return st;
}

static int valid_hex64(const char *h)
{
    if (strlen(h) != 64) return 0;
    for (int i = 0; i < 64; i++)
        if (!isxdigit((unsigned char)h[i])) return 0;
    return 1;
}

static void sleep_s(double s)
{
    if (s <= 0) return;
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

/* The pause before the next retry: twice this one, at most PE_FETCH_MAX_BACKOFF. */
static double next_wait(double wait) { return wait * 2 > PE_FETCH_MAX_BACKOFF ? PE_FETCH_MAX_BACKOFF : wait * 2; }

/* Replaces each occurrence of `secret` in msg by "***" (in place). */
static void scrub(char *msg, const char *secret)
{
    size_t sl = secret ? strlen(secret) : 0;
    if (!msg || sl == 0) return;
    for (char *p = strstr(msg, secret); p; p = strstr(p + 3, secret)) {
        memmove(p + 3, p + sl, strlen(p + sl) + 1);
        memcpy(p, "***", 3);
    }
}

/* The password of url ("" when none), malloc'd; NULL when out of memory. */
static char *url_password(const char *url)
{
    char *pw = NULL, *out = NULL;
    CURLU *h = curl_url();
    if (h && curl_url_set(h, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK &&
        curl_url_get(h, CURLUPART_PASSWORD, &pw, CURLU_URLDECODE) == CURLUE_OK)
        out = strdup(pw);
    curl_free(pw);
    curl_url_cleanup(h);
    return out ? out : strdup("");
}

/* 1 for http:// and https:// URLs (any case). */
static int http_scheme(const char *url)
{
    return strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0;
}

pe_status pe_fetch_url(const char *url, const char *dest, const pe_fetch_options *opt, pe_error *err)
{
    pe_fetch_options defaults = pe_fetch_options_default();
    if (!opt) opt = &defaults;
    if (!url || !*url || !dest || !*dest) return pe_error_set(err, PE_ERR_INVALID, "fetch: url and dest are required");
    if (opt->sha256 && !valid_hex64(opt->sha256))
        return pe_error_set(err, PE_ERR_INVALID, "fetch: expected sha256 '%s' is not 64 hex digits", opt->sha256);
    if (opt->retries < 0 || opt->timeout_s < 0 || opt->retry_wait_s < 0 || opt->max_retry_after_s < 0)
        return pe_error_set(err, PE_ERR_INVALID,
                            "fetch: retries, timeout_s, retry_wait_s and max_retry_after_s must not be negative");
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_rc != CURLE_OK)
        return pe_error_set(err, PE_ERR_NET, "libcurl initialisation failed: %s", curl_easy_strerror(curl_init_rc));
    /* What messages, warnings and progress name: the URL without any
     * user:password (and the password itself scrubbed from whatever else
     * ends up in a message, libcurl's error text included). */
    char *shown = pe_fetch_url_for_record(url), *password = url_password(url);
    if (!shown || !password) {
        free(shown);
        free(password);
        return pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    }
    if (!opt->any_scheme && !http_scheme(url)) {
        pe_status bad = pe_error_set(err, PE_ERR_INVALID,
                                     "%s: only http:// and https:// URLs are fetched (file://, ftp:// and the "
                                     "others need any_scheme, --any-scheme on the command line)", shown);
        free(shown);
        free(password);
        return bad;
    }

    size_t dl = strlen(dest);
    char *part = malloc(dl + 6);
    if (!part) {
        free(shown);
        free(password);
        return pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    }
    memcpy(part, dest, dl);
    memcpy(part + dl, ".part", 6);

    fetch_state s;
    memset(&s, 0, sizeof s);
    s.fd = -1;
    s.url = shown;
    s.part = part;
    s.opt = opt;
    s.err = err;
    s.hashing = opt->sha256 != NULL;
    s.t0 = pe_now();
    s.last_report = 0;
    if (s.hashing) pe_sha256_init(&s.h);
    pe_status st = PE_OK;
    char errbuf[CURL_ERROR_SIZE];
    CURL *c = NULL;

    /* One writer per .part: two downloads appending to the same file would
     * interleave their bytes. The lock goes with the descriptor, so a
     * process killed mid-download leaves nothing locked. */
    int fd = open(part, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        st = pe_error_set(err, PE_ERR_IO, "%s: cannot open: %s", part, strerror(errno));
        free(part);
        free(shown);
        free(password);
        return st;
    }
    struct stat by_fd, by_name;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0 || fstat(fd, &by_fd) != 0 || stat(part, &by_name) != 0 ||
        by_fd.st_ino != by_name.st_ino || by_fd.st_dev != by_name.st_dev) {
        /* locked, or renamed / removed by the download that held it */
        st = pe_error_set(err, PE_ERR_BUSY, "%s: another download is writing %s (retry when it is done)", shown,
                          part);
        close(fd);
        free(part);
        free(shown);
        free(password);
        return st;
    }
    s.fd = fd;
    if (!opt->resume && ftruncate(s.fd, 0) != 0) {
        st = pe_error_set(err, PE_ERR_IO, "%s: cannot truncate: %s", part, strerror(errno));
        goto out;
    }
    off_t end = lseek(s.fd, 0, SEEK_END);
    if (end < 0) {
        st = pe_error_set(err, PE_ERR_IO, "%s: %s", part, strerror(errno));
        goto out;
    }
    s.have = s.resumed_at = (uint64_t)end;
    if (s.have > 0 && s.hashing && (st = rehash_part(&s)) >= PE_ERR_FIRST) goto out;

    c = curl_easy_init();
    if (!c) {
        st = pe_error_set(err, PE_ERR_NOMEM, "curl_easy_init failed");
        goto out;
    }
    s.c = c;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
    /* http(s) only unless asked for more; a redirect never leads to file:// */
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, opt->any_scheme ? "http,https,ftp,ftps,file" : "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, opt->any_scheme ? "http,https,ftp,ftps" : "http,https");
    curl_easy_setopt(c, CURLOPT_USERAGENT, opt->user_agent ? opt->user_agent : PE_FETCH_UA);
    curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_BUFFERSIZE, 256L * 1024);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &s);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_xferinfo);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &s);
    if (opt->timeout_s > 0) curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, opt->timeout_s);

    double wait = opt->retry_wait_s;
    int retries_used = 0, restarted_416 = 0;
    for (;;) {
        /* CURLOPT_RANGE rather than CURLOPT_RESUME_FROM_LARGE: with the latter
         * libcurl fails a 200 answer with CURLE_RANGE_ERROR, costing a second
         * request; here a 200 is taken as the whole file (begin_body). */
        char range[32];
        s.requested = s.have;
        s.body_started = 0;
        s.fatal = PE_OK;
        s.has_range = 0;
        s.range_start = s.range_total = 0;
        s.stalled = 0;
        s.last_dlnow = 0;
        s.last_activity = pe_now();
        snprintf(range, sizeof range, "%" PRIu64 "-", s.have);
        curl_easy_setopt(c, CURLOPT_RANGE, s.have > 0 ? range : NULL);
        if (lseek(s.fd, (off_t)s.have, SEEK_SET) < 0) {
            st = pe_error_set(err, PE_ERR_IO, "%s: %s", part, strerror(errno));
            goto out;
        }
        errbuf[0] = '\0';
        CURLcode rc = curl_easy_perform(c);
        scrub(errbuf, password);
        if (s.fatal >= PE_ERR_FIRST) {
            st = s.fatal;
            goto out;
        }
        if (rc == CURLE_OK) {
            if (!s.body_started && (st = begin_body(&s)) >= PE_ERR_FIRST) goto out;
            break;
        }
        long code = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        if (rc == CURLE_HTTP_RETURNED_ERROR && code == 416 && s.requested > 0) {
            if (s.range_total == s.have) { /* the .part is already the whole file */
                s.total = s.have;
                break;
            }
            if (!restarted_416) {
                pe_log(PE_LOG_INFO, "%s: %s (%" PRIu64 " bytes) does not fit the remote file (HTTP 416); "
                       "downloading from the start", shown, part, s.have);
                restarted_416 = 1;
                if ((st = truncate_part(&s)) >= PE_ERR_FIRST) goto out;
                continue;
            }
        }
        if (rc == CURLE_HTTP_RETURNED_ERROR) {
            /* 429 and 5xx are passing states of the server; any other 4xx
             * will not change by asking again. */
            int again = code == 429 || (code >= 500 && code <= 599);
            if (again && retries_used < opt->retries) {
                double pause = wait;
                char why[96] = "";
                if (s.has_retry_after) {
                    pause = s.retry_after < opt->max_retry_after_s ? s.retry_after : opt->max_retry_after_s;
                    snprintf(why, sizeof why, " (Retry-After: %.0f s%s)", s.retry_after,
                             s.retry_after > opt->max_retry_after_s ? ", capped" : "");
                }
                retries_used++;
                pe_log(PE_LOG_WARN, "%s: HTTP %ld%s%s; retry %d of %d in %.2f s%s", shown, code, s.reason[0] ? " " : "",
                       s.reason, retries_used, opt->retries, pause, why);
                sleep_s(pause);
                wait = next_wait(wait);
                continue;
            }
            char tail[64] = "";
            if (retries_used) snprintf(tail, sizeof tail, " (after %d retr%s)", retries_used, retries_used > 1 ? "ies" : "y");
            st = pe_error_set(err, PE_ERR_NET, "GET %s: HTTP %ld%s%s%s", shown, code, s.reason[0] ? " " : "", s.reason,
                              tail);
            goto out;
        }
        if (s.stalled) snprintf(errbuf, sizeof errbuf, "stalled: no data for %ld s", opt->timeout_s);
        if ((retryable(rc) || s.stalled) && retries_used < opt->retries) {
            retries_used++;
            pe_log(PE_LOG_WARN, "%s: %s after %" PRIu64 " bytes; retry %d of %d in %.2f s, resuming", shown,
                   errbuf[0] ? errbuf : curl_easy_strerror(rc), s.have, retries_used, opt->retries, wait);
            sleep_s(wait);
            wait = next_wait(wait);
            continue;
        }
        st = pe_error_set(err, PE_ERR_NET, "GET %s: %s (%s) after %" PRIu64 " bytes%s", shown,
                          curl_easy_strerror(rc), errbuf[0] ? errbuf : "no detail", s.have,
                          retries_used ? ", retries exhausted" : "");
        goto out;
    }
    report(&s, 1);

    if (s.hashing) {
        char got[65];
        pe_sha256_final_hex(&s.h, got);
        if (strcasecmp(got, opt->sha256) != 0) {
            st = pe_error_set(err, PE_ERR_CHECKSUM,
                              "%s: sha256 mismatch: expected %s, got %s (%" PRIu64 " bytes); %s removed so that "
                              "the next try starts clean", shown, opt->sha256, got, s.have, part);
            unlink(part); /* still locked: it is ours to remove */
            close(s.fd);
            s.fd = -1;
            goto out;
        }
    }
    if (fsync(s.fd) != 0) {
        st = pe_error_set(err, PE_ERR_IO, "%s: fsync: %s", part, strerror(errno));
        goto out;
    }
    /* Renamed while still locked: no other download can take the name over
     * between the two. */
    if (rename(part, dest) != 0) {
        st = pe_error_set(err, PE_ERR_IO, "rename %s -> %s: %s", part, dest, strerror(errno));
        goto out;
    }
    int rc_close = close(s.fd);
    s.fd = -1;
    if (rc_close != 0) st = pe_error_set(err, PE_ERR_IO, "%s: close: %s", dest, strerror(errno));

out:
    /* Keep a non-empty .part for the next call to resume; drop an empty one,
     * and any when resuming is off (the next call would discard it). Only
     * while locked: once closed, the name may be another download's. */
    if (s.fd >= 0) {
        if (st >= PE_ERR_FIRST && (s.have == 0 || !opt->resume)) unlink(part);
        close(s.fd);
    }
    curl_easy_cleanup(c);
    free(part);
    if (st >= PE_ERR_FIRST && err) scrub(err->msg, password);
    free(shown);
    free(password);
    return st;
}

/* ---- pe_fetch_wikidata ----------------------------------------------------- */

/* Splits "Q42, p31,Q90" into upper-cased ids; PE_ERR_INVALID names a bad one. */
static pe_status parse_ids(const char *ids, char ***out, size_t *n_out, pe_error *err)
{
    *out = NULL;
    *n_out = 0;
    size_t cap = 0, n = 0;
    char **v = NULL;
    const char *p = ids;
    pe_status st = PE_OK;
    while (*p) {
        while (*p == ',' || isspace((unsigned char)*p)) p++;
        if (!*p) break;
        const char *b = p;
        while (*p && *p != ',' && !isspace((unsigned char)*p)) p++;
        size_t len = (size_t)(p - b);
        int ok = len >= 2 && len <= 20 && strchr("QPLqpl", b[0]) && b[1] >= '1' && b[1] <= '9';
        for (size_t i = 1; ok && i < len; i++) ok = isdigit((unsigned char)b[i]);
        if (!ok) {
            st = pe_error_set(err, PE_ERR_INVALID, "invalid Wikidata id '%.*s' (expected Q, P or L and digits, "
                              "e.g. Q42)", (int)(len > 64 ? 64 : len), b);
            goto fail;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nv = realloc(v, cap * sizeof *v);
            if (!nv) goto nomem;
            v = nv;
        }
        if (!(v[n] = malloc(len + 1))) goto nomem;
        for (size_t i = 0; i < len; i++) v[n][i] = (char)toupper((unsigned char)b[i]);
        v[n][len] = '\0';
        n++;
    }
    if (n == 0) {
        st = pe_error_set(err, PE_ERR_INVALID, "no Wikidata ids given");
        goto fail;
    }
    *out = v;
    *n_out = n;
    return PE_OK;
nomem:
    st = pe_error_set(err, PE_ERR_NOMEM, "out of memory");
fail:
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
    return st;
}

pe_status pe_fetch_wikidata_check_ids(const char *ids, size_t *n, pe_error *err)
{
    if (n) *n = 0;
    if (!ids) return pe_error_set(err, PE_ERR_INVALID, "no Wikidata ids given");
    char **v;
    size_t m;
    pe_status st = parse_ids(ids, &v, &m, err);
    if (st >= PE_ERR_FIRST) return st;
    for (size_t i = 0; i < m; i++) free(v[i]);
    free(v);
    if (n) *n = m;
    return PE_OK;
}

/* A growable string. */
typedef struct sbuf { char *s; size_t len, cap; int oom; } sbuf;

static void sb_add(sbuf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *ns = realloc(b->s, cap);
        if (!ns) { b->oom = 1; return; }
        b->s = ns;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}
static void sb_str(sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

static pe_status read_all(const char *path, char **out, size_t *len, pe_error *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return pe_error_set(err, PE_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || (uint64_t)sb.st_size > PE_WB_MAX_RESPONSE) {
        fclose(f);
        return pe_error_set(err, PE_ERR_LIMIT, "%s: response too large or unreadable", path);
    }
    char *buf = malloc((size_t)sb.st_size + 1);
    if (!buf) {
        fclose(f);
        return pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    }
    size_t n = fread(buf, 1, (size_t)sb.st_size, f);
    fclose(f);
    if (n != (size_t)sb.st_size) {
        free(buf);
        return pe_error_set(err, PE_ERR_IO, "%s: short read", path);
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return PE_OK;
}

static void add_counts(pe_kg_counts *a, const pe_kg_counts *b)
{
    a->entities += b->entities;
    a->labels += b->labels;
    a->aliases += b->aliases;
    a->descriptions += b->descriptions;
    a->triples += b->triples;
    a->sameas += b->sameas;
    a->skipped += b->skipped;
    a->dropped += b->dropped;
    a->bytes += b->bytes;
    a->lines += b->lines;
    a->statements += b->statements;
}

/* Checks one saved response: API error -> PE_ERR_NET; the ids it marks
 * missing are appended to `missing` (the importer counts them in dropped);
 * *n_left says how many entities it holds. The file is imported as it is,
 * so that the source record's sha256 is that of the response received. */
/* API errors worth asking again for (sent with HTTP 200): the client is
 * over its rate limit, or replicas lag behind (maxlag). */
static int transient_api_error(const char *code)
{
    return strcmp(code, "ratelimited") == 0 || strcmp(code, "maxlag") == 0;
}

/* *again = 1 when the response is a transient API error (err says which). */
static pe_status check_response(const char *path, const char *url, sbuf *missing, size_t *n_missing,
                                size_t *n_left, int *again, pe_error *err)
{
    *again = 0;
    char *text = NULL;
    size_t len = 0;
    *n_left = 0;
    pe_status st = read_all(path, &text, &len, err);
    if (st >= PE_ERR_FIRST) return st;
    const char *ep = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &ep, 0);
    if (!root) {
        st = pe_error_set(err, PE_ERR_PARSE, "%s: wbgetentities response is not JSON (byte %zu)", url,
                          ep ? (size_t)(ep - text) : (size_t)0);
        free(text);
        return st;
    }
    free(text);
    cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
    if (e) {
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(e, "code");
        const cJSON *info = cJSON_GetObjectItemCaseSensitive(e, "info");
        st = pe_error_set(err, PE_ERR_NET, "%s: wbgetentities API error '%s': %s", url,
                          cJSON_IsString(code) ? code->valuestring : "?",
                          cJSON_IsString(info) ? info->valuestring : "(no info)");
        *again = cJSON_IsString(code) && transient_api_error(code->valuestring);
        cJSON_Delete(root);
        return st;
    }
    cJSON *warn = cJSON_GetObjectItemCaseSensitive(root, "warnings");
    if (warn) {
        char *w = cJSON_PrintUnformatted(warn);
        pe_log(PE_LOG_WARN, "%s: API warnings: %.300s", url, w ? w : "?");
        cJSON_free(w);
    }
    cJSON *ents = cJSON_GetObjectItemCaseSensitive(root, "entities");
    if (!cJSON_IsObject(ents)) {
        cJSON_Delete(root);
        return pe_error_set(err, PE_ERR_PARSE, "%s: wbgetentities response has no \"entities\" object", url);
    }
    size_t left = 0;
    for (cJSON *it = ents->child; it; it = it->next) {
        if (cJSON_GetObjectItemCaseSensitive(it, "missing")) {
            if (*n_missing < PE_WB_LIST_MISSING) { /* the message names the first few */
                if (missing->len) sb_str(missing, ", ");
                sb_str(missing, it->string ? it->string : "?");
            }
            (*n_missing)++;
        } else {
            left++;
        }
    }
    cJSON_Delete(root);
    *n_left = left;
    return PE_OK;
}

/* Without libcurl: "scheme://user:pw@host/..." -> "scheme://host/...". */
static char *strip_userinfo(const char *url)
{
    const char *a = strstr(url, "://");
    char *out = strdup(url);
    if (!a || !out) return out;
    a += 3;
    size_t auth = strcspn(a, "/?#");
    const char *at = NULL;
    for (size_t i = 0; i < auth; i++)
        if (a[i] == '@') at = a + i;
    if (at) memmove(out + (a - url), at + 1, strlen(at + 1) + 1);
    return out;
}

char *pe_fetch_url_for_record(const char *url)
{
    char *out = NULL, *user = NULL, *pw = NULL, *u = NULL;
    CURLU *h = curl_url();
    int parsed = h && curl_url_set(h, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK;
    if (parsed && (curl_url_get(h, CURLUPART_USER, &user, 0) == CURLUE_OK ||
                   curl_url_get(h, CURLUPART_PASSWORD, &pw, 0) == CURLUE_OK)) {
        /* only then re-serialised: libcurl may normalise what it prints */
        curl_url_set(h, CURLUPART_USER, NULL, 0);
        curl_url_set(h, CURLUPART_PASSWORD, NULL, 0);
        if (curl_url_get(h, CURLUPART_URL, &u, 0) == CURLUE_OK) out = strdup(u);
    }
    curl_free(user);
    curl_free(pw);
    curl_free(u);
    curl_url_cleanup(h);
    if (out) return out;
    /* nothing to strip, or a URL libcurl cannot parse: cut any userinfo by hand */
    return strip_userinfo(url);
}

pe_status pe_fetch_wikidata(pe_kg *kg, const char *ids, const char *endpoint, const pe_fetch_options *fopt,
                            const pe_import_options *imp, pe_import_result *res, pe_error *err)
{
    if (res) memset(res, 0, sizeof *res);
    if (!kg || !ids) return pe_error_set(err, PE_ERR_INVALID, "fetch wikidata: kg and ids are required");
    if (!endpoint || !*endpoint) endpoint = PE_WIKIDATA_API;
    char **v;
    size_t n;
    pe_status st = parse_ids(ids, &v, &n, err);
    if (st >= PE_ERR_FIRST) return st;

    pe_fetch_options fo = fopt ? *fopt : pe_fetch_options_default();
    fo.sha256 = NULL;
    fo.resume = 0;
    pe_import_options io = imp ? *imp : pe_import_options_default();
    io.format = PE_IMPORT_WIKIDATA_JSON;
    /* Same bytes as an interrupted import (a killed fetch): continue it. */
    io.resume = 1;

    const char *tmp = getenv("TMPDIR");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/pe-wbgetentities-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    sbuf missing = {0};
    size_t n_missing = 0;
    char *langs = NULL;
    char *shown = pe_fetch_url_for_record(endpoint); /* the endpoint as messages name it */
    int imported = 0, all_done = 1;
    if (!shown) {
        st = pe_error_set(err, PE_ERR_NOMEM, "out of memory");
        goto done;
    }
    if (!mkdtemp(dir)) {
        st = pe_error_set(err, PE_ERR_IO, "%s: cannot create temporary directory: %s", dir, strerror(errno));
        goto done;
    }
    if (io.langs && *io.langs) {
        /* "en,fr" -> "en%7Cfr" (the API separates values with |). */
        sbuf b = {0};
        for (const char *p = io.langs; *p; p++) {
            if (*p == ',') sb_str(&b, "%7C");
            else if (isalnum((unsigned char)*p) || *p == '-') sb_add(&b, p, 1);
            else {
                free(b.s);
                st = pe_error_set(err, PE_ERR_INVALID, "bad language list '%s'", io.langs);
                goto rmdir;
            }
        }
        if (b.oom) {
            free(b.s);
            st = pe_error_set(err, PE_ERR_NOMEM, "out of memory");
            goto rmdir;
        }
        langs = b.s;
    }

    pe_kg_counts total;
    memset(&total, 0, sizeof total);
    for (size_t i = 0; i < n; i += PE_WB_BATCH) {
        size_t m = n - i < PE_WB_BATCH ? n - i : PE_WB_BATCH;
        sbuf url = {0};
        sb_str(&url, endpoint);
        sb_str(&url, strchr(endpoint, '?') ? "&" : "?");
        sb_str(&url, "action=wbgetentities&format=json&ids=");
        for (size_t k = 0; k < m; k++) {
            if (k) sb_str(&url, "%7C");
            sb_str(&url, v[i + k]);
        }
        if (langs) {
            sb_str(&url, "&languages=");
            sb_str(&url, langs);
        }
        if (url.oom) {
            free(url.s);
            st = pe_error_set(err, PE_ERR_NOMEM, "out of memory");
            goto rmdir;
        }
        char path[4200];
        snprintf(path, sizeof path, "%s/wbgetentities-%s-%zu-ids.json", dir, v[i], m);
        size_t left = 0;
        double wait = fo.retry_wait_s;
        char *req_shown = pe_fetch_url_for_record(url.s); /* the request as messages name it */
        if (!req_shown) {
            free(url.s);
            st = pe_error_set(err, PE_ERR_NOMEM, "out of memory");
            goto rmdir;
        }
        for (int tries = 0;; tries++) {
            st = pe_fetch_url(url.s, path, &fo, err); /* fo.resume = 0: no .part is left behind */
            int again = 0;
            if (st < PE_ERR_FIRST) st = check_response(path, req_shown, &missing, &n_missing, &left, &again, err);
            if (!again || tries >= fo.retries) break;
            /* ratelimited / maxlag: the same backoff as HTTP 429 and 5xx */
            pe_log(PE_LOG_WARN, "%s; retry %d of %d in %.2f s", err->msg, tries + 1, fo.retries, wait);
            unlink(path);
            sleep_s(wait);
            wait = next_wait(wait);
        }
        if (st < PE_ERR_FIRST && left > 0) {
            /* The source record names the request, not the temporary file. */
            pe_import_result r;
            io.source_name = req_shown;
            st = pe_import_file(kg, path, &io, &r, err);
            io.source_name = NULL;
            if (st < PE_ERR_FIRST) {
                add_counts(&total, &r.counts);
                imported++;
                if (r.resumed != 2) all_done = 0;
                if (res) {
                    res->source_id = r.source_id;
                    if (!res->first_error[0] && r.first_error[0])
                        snprintf(res->first_error, sizeof res->first_error, "%s", r.first_error);
                }
            }
        }
        free(url.s);
        free(req_shown);
        unlink(path);
        if (st >= PE_ERR_FIRST) goto rmdir;
    }
    if (res) {
        res->counts = total;
        res->resumed = imported && all_done ? 2 : 0;
    }
    if (missing.oom) st = pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    else if (n_missing)
        st = pe_error_set(err, PE_NOT_FOUND, "%zu of %zu ids not found at %s (the others were imported): %s%s",
                          n_missing, n, shown, missing.s,
                          n_missing > PE_WB_LIST_MISSING ? " and more" : "");
    else st = PE_OK;

rmdir:
    rmdir(dir);
done:
    free(shown);
    free(langs);
    free(missing.s);
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
    return st;
}
