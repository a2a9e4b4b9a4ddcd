#include "pe_util.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

const char *pe_status_str(pe_status st)
{
    switch (st) {
    case PE_OK: return "ok";
    case PE_NOT_FOUND: return "not found";
    case PE_DONE: return "done";
    case PE_ERR_NOMEM: return "out of memory";
    case PE_ERR_IO: return "I/O error";
    case PE_ERR_PARSE: return "parse error";
    case PE_ERR_CORRUPT: return "corrupt data";
    case PE_ERR_INVALID: return "invalid argument";
    case PE_ERR_UNSUPPORTED: return "unsupported";
    case PE_ERR_STORE: return "store error";
    case PE_ERR_FULL: return "store full";
    case PE_ERR_BUSY: return "busy (another writer holds it)";
    case PE_ERR_NET: return "network error";
    case PE_ERR_CHECKSUM: return "checksum mismatch";
    case PE_ERR_SHAPE: return "shape mismatch";
    case PE_ERR_BACKEND: return "backend error";
    case PE_ERR_UTF8: return "invalid UTF-8";
    case PE_ERR_LIMIT: return "limit exceeded";
    }
    return "unknown status";
}

void pe_error_clear(pe_error *err)
{
    if (!err) return;
    err->status = PE_OK;
    err->msg[0] = '\0';
}

pe_status pe_error_setv(pe_error *err, pe_status st, const char *fmt, va_list ap)
{
    if (err) {
        err->status = st;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    }
    return st;
}

pe_status pe_error_set(pe_error *err, pe_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pe_error_setv(err, st, fmt, ap);
    va_end(ap);
    return st;
}

static pe_log_fn g_log_fn;
static void *g_log_user;

void pe_log_set(pe_log_fn fn, void *user)
{
    g_log_fn = fn;
    g_log_user = user;
}

void pe_log(pe_log_level level, const char *fmt, ...)
{
    if (!g_log_fn) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    g_log_fn(level, buf, g_log_user);
}

double pe_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
