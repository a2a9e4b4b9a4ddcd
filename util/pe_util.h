/*
 * pe_util.h - shared utilities of the persona engine: status codes, error
 * messages, logging, hashing, UTF-8 and text normalisation.
 *
 * Usage:
 *
 *     pe_error err;
 *     pe_error_clear(&err);
 *     pe_status st = some_call(..., &err);
 *     if (st >= PE_ERR_FIRST) fprintf(stderr, "%s: %s\n", pe_status_str(st), err.msg);
 *
 * Library code never prints and never exits: it returns a pe_status and
 * leaves the detail in a pe_error (or in its handle's errmsg()). Messages
 * reach a user only through the log callback, which is NULL (silent) until
 * the application sets one with pe_log_set().
 */
#ifndef PE_UTIL_H
#define PE_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Status codes. Success and non-failures come first, errors after
 * PE_ERR_FIRST, so `st >= PE_ERR_FIRST` tests for failure. */
typedef enum pe_status {
    PE_OK = 0,
    PE_NOT_FOUND,     /* lookup found nothing; not an error by itself */
    PE_DONE,          /* iteration or stream finished */
    PE_SKIPPED,       /* a record was skipped (bad input, non-strict mode) */
    PE_ERR_FIRST = 16,
    PE_ERR_NOMEM = PE_ERR_FIRST,
    PE_ERR_IO,        /* read/write/open failure */
    PE_ERR_PARSE,     /* malformed input (JSON, RDF, model file, ...) */
    PE_ERR_CORRUPT,   /* stored data or file is inconsistent */
    PE_ERR_INVALID,   /* bad argument or option */
    PE_ERR_UNSUPPORTED, /* valid but not supported here (format, dtype, backend) */
    PE_ERR_STORE,     /* LMDB failure not covered above */
    PE_ERR_FULL,      /* store map full */
    PE_ERR_BUSY,      /* another writer holds it (the store, a download's .part) */
    PE_ERR_NET,       /* network failure */
    PE_ERR_CHECKSUM,  /* checksum mismatch */
    PE_ERR_SHAPE,     /* tensor shape mismatch */
    PE_ERR_BACKEND,   /* BLAS / CUDA backend failure */
    PE_ERR_UTF8,      /* invalid UTF-8 */
    PE_ERR_LIMIT      /* a size limit was exceeded (huge line, too many tokens) */
} pe_status;

/* Static string naming a status ("ok", "parse error", ...). Never NULL. */
const char *pe_status_str(pe_status st);

/* Error detail: a status and a human-readable message with context
 * (file, line, offset, entity id). Embedded in handles or on the stack. */
#define PE_ERRMSG_MAX 512
typedef struct pe_error {
    pe_status status;
    char msg[PE_ERRMSG_MAX];
} pe_error;

void pe_error_clear(pe_error *err);
/* Sets err (if not NULL) and returns st, so that `return pe_error_set(...)`
 * works. The message is printf-formatted and truncated to fit. */
pe_status pe_error_set(pe_error *err, pe_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
pe_status pe_error_setv(pe_error *err, pe_status st, const char *fmt, va_list ap);

/* TRY(st, expr): evaluate expr into st and return it when it is an error. */
#define PE_TRY(st, expr) do { if (((st) = (expr)) >= PE_ERR_FIRST) return (st); } while (0)

/* Logging. Levels are ordered; the callback receives already formatted text
 * without a trailing newline. */
typedef enum pe_log_level { PE_LOG_DEBUG, PE_LOG_INFO, PE_LOG_WARN, PE_LOG_ERROR } pe_log_level;
typedef void (*pe_log_fn)(pe_log_level level, const char *msg, void *user);
/* Replace the process-wide log callback (NULL silences). Not thread-safe
 * against concurrent pe_log calls: set it once at start-up. */
void pe_log_set(pe_log_fn fn, void *user);
void pe_log(pe_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* SHA-256 (through nettle). */
typedef struct pe_sha256 { unsigned char opaque[128] __attribute__((aligned(16))); } pe_sha256;
void pe_sha256_init(pe_sha256 *h);
void pe_sha256_update(pe_sha256 *h, const void *data, size_t len);
/* Writes 64 lowercase hex digits and a NUL to hex[65]. */
void pe_sha256_final_hex(pe_sha256 *h, char hex[65]);
/* Hash a whole file; PE_ERR_IO with the path in err when it cannot be read. */
pe_status pe_sha256_file(const char *path, char hex[65], pe_error *err);

/* UTF-8. pe_utf8_valid returns 1 when [s, s+len) is valid UTF-8, else 0 and
 * the byte offset of the first bad sequence in *bad_offset (if not NULL). */
int pe_utf8_valid(const char *s, size_t len, size_t *bad_offset);

/* Normalise a surface form for alias lookup: NFKC, Unicode case folding,
 * accents stripped (combining marks removed after NFD), every run of
 * whitespace and punctuation collapsed to one space, trimmed.
 * "  Zürich-City! " -> "zurich city".  Returns a malloc'd string the caller
 * frees, or NULL with *st set (PE_ERR_UTF8, PE_ERR_NOMEM). */
char *pe_text_normalize(const char *s, size_t len, pe_status *st);

/* Light normalisation for stored values: NFC, Unicode case folding, every
 * run of whitespace collapsed to one space, trimmed; accents and
 * punctuation kept. "  New  York\t" -> "new york". Returns a malloc'd
 * string (caller frees), or NULL with *st set (PE_ERR_UTF8, PE_ERR_NOMEM). */
char *pe_text_fold(const char *s, size_t len, pe_status *st);

/* Monotonic clock in seconds, for progress and benchmarks. */
double pe_now(void);

#ifdef __cplusplus
}
#endif
#endif
