/*
 * pe_util.h - shared utilities of the persona engine: status codes, error
 * messages, logging, hashing, UTF-8 and text normalisation, whole files.
 *
 * Usage:
 *
 *     pe_error err;
 *     pe_thing *t;                       // any constructor of the library
 *     pe_status st = pe_thing_open("path", NULL, &t, &err);
 *     if (st >= PE_ERR_FIRST) { fprintf(stderr, "%s: %s\n", pe_status_str(st), err.msg); return 1; }
 *     ...
 *     pe_thing_close(t);
 *
 * Conventions of every module (the rule new code follows):
 *
 * - Constructors (`_open`, `_new`, `_load`, `_begin`) return a pe_status,
 *   take their output last but one and a `pe_error *err` last:
 *   `pe_status pe_x_open(..., pe_x **out, pe_error *err)`. On failure *out
 *   is NULL, nothing needs cleaning up, and err (when not NULL) holds the
 *   status and a message with context (file, line, offset, entity id).
 * - Failure is tested one way: `st >= PE_ERR_FIRST` (PE_FAILED(st)).
 *   PE_NOT_FOUND and PE_DONE are answers, not failures; compare with them
 *   by name where they matter.
 * - Calls on a handle that fail leave their message on that handle
 *   (`pe_x_errmsg(x)`); a handle used by one thread at a time therefore
 *   never shows another thread's message.
 * - What the library returns is freed by a named function: `pe_x_free`,
 *   `pe_x_close`, or pe_free() for plain buffers (strings, id arrays).
 *   Freeing or closing NULL is a no-op.
 * - Borrowed results say how long they stay valid.
 * - Options come as a struct from `pe_x_options_default()`; nothing that
 *   changes results hides in environment variables (tuning knobs for
 *   benchmarks may, documented in their header).
 * - Library code never prints and never exits: messages reach a user only
 *   through the log callback, which is NULL (silent) until the application
 *   sets one with pe_log_set().
 * - Exported functions are declared with PE_API in an installed header;
 *   everything else is hidden in libpersona.so (built with
 *   -fvisibility=hidden; the test `exports` compares `nm -D` with the
 *   headers). Internal names carry their module's prefix (kg_, imp_, enc_).
 */
#ifndef PE_UTIL_H
#define PE_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* PE_API: put before every function declaration of an installed header;
 * those, and nothing else, are exported by libpersona.so. */
#if defined(__GNUC__) || defined(__clang__)
#define PE_API __attribute__((visibility("default")))
#else
#define PE_API
#endif

/* Status codes. Success and non-failures come first, errors after
 * PE_ERR_FIRST, so `st >= PE_ERR_FIRST` (PE_FAILED) tests for failure. */
typedef enum pe_status {
    PE_OK = 0,
    PE_NOT_FOUND,     /* lookup found nothing; not an error by itself */
    PE_DONE,          /* iteration or stream finished */
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
PE_API const char *pe_status_str(pe_status st);

/* Error detail: a status and a human-readable message with context
 * (file, line, offset, entity id). Embedded in handles or on the stack. */
#define PE_ERRMSG_MAX 512
typedef struct pe_error {
    pe_status status;
    char msg[PE_ERRMSG_MAX];
} pe_error;

PE_API void pe_error_clear(pe_error *err);
/* Sets err (if not NULL) and returns st, so that `return pe_error_set(...)`
 * works. The message is printf-formatted and truncated to fit. */
PE_API pe_status pe_error_set(pe_error *err, pe_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
PE_API pe_status pe_error_setv(pe_error *err, pe_status st, const char *fmt, va_list ap);

/* The one test for failure (PE_NOT_FOUND and PE_DONE are not failures). */
#define PE_FAILED(st) ((st) >= PE_ERR_FIRST)

/* TRY(st, expr): evaluate expr into st and return it when it is an error. */
#define PE_TRY(st, expr) do { if (((st) = (expr)) >= PE_ERR_FIRST) return (st); } while (0)

/* Logging. Levels are ordered; the callback receives already formatted text
 * without a trailing newline. */
typedef enum pe_log_level { PE_LOG_DEBUG, PE_LOG_INFO, PE_LOG_WARN, PE_LOG_ERROR } pe_log_level;
typedef void (*pe_log_fn)(pe_log_level level, const char *msg, void *user);
/* Replace the process-wide log callback (NULL silences). Not thread-safe
 * against concurrent pe_log calls: set it once at start-up. */
PE_API void pe_log_set(pe_log_fn fn, void *user);
PE_API void pe_log(pe_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* SHA-256 (through nettle). */
typedef struct pe_sha256 { unsigned char opaque[128] __attribute__((aligned(16))); } pe_sha256;
PE_API void pe_sha256_init(pe_sha256 *h);
PE_API void pe_sha256_update(pe_sha256 *h, const void *data, size_t len);
/* Writes 64 lowercase hex digits and a NUL to hex[65]. */
PE_API void pe_sha256_final_hex(pe_sha256 *h, char hex[65]);
/* Hash a whole file; PE_ERR_IO with the path in err when it cannot be read. */
PE_API pe_status pe_sha256_file(const char *path, char hex[65], pe_error *err);

/* UTF-8. pe_utf8_valid returns 1 when [s, s+len) is valid UTF-8, else 0 and
 * the byte offset of the first bad sequence in *bad_offset (if not NULL). */
PE_API int pe_utf8_valid(const char *s, size_t len, size_t *bad_offset);

/* Normalise a surface form for alias lookup: NFKC, Unicode case folding,
 * accents stripped (combining marks removed after NFD), every run of
 * whitespace and punctuation collapsed to one space, trimmed.
 * "  Zürich-City! " -> "zurich city".  Returns a malloc'd string (free it
 * with pe_free), or NULL with *st set (PE_ERR_UTF8, PE_ERR_NOMEM). */
PE_API char *pe_text_normalize(const char *s, size_t len, pe_status *st);

/* Code point offset of byte offset `byte_off` in UTF-8 `text` (which must
 * hold at least byte_off bytes): the number of code points that begin
 * before it. Linear; text need not be NUL-terminated. */
PE_API size_t pe_utf8_char_offset(const char *text, size_t byte_off);

/* splitmix64's step and finaliser: mixes z + 0x9E3779B97F4A7C15 into a
 * well-spread 64-bit value. pe_mix64(s + i * 0x9E3779B97F4A7C15) is draw i
 * of the splitmix64 stream started at s; the trainer's hashes and dropout
 * masks are built from it. */
static inline uint64_t pe_mix64(uint64_t z)
{
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Draw i of the splitmix64 stream started at seed, reduced to [0, n) (n >
 * 0): reproducible picks for data augmentation. */
static inline size_t pe_draw(uint64_t seed, uint64_t i, size_t n)
{
    return (size_t)(pe_mix64(seed + i * 0x9E3779B97F4A7C15ull) % n);
}

/* Frees a plain buffer returned by the library (a string of
 * pe_text_normalize, a file of pe_file_read, an id array of pe_kg_types).
 * NULL is a no-op. */
PE_API void pe_free(void *p);

/* ---- Whole files ---- */

/* "dir/file" in a new malloc'd string (no second '/' when dir ends with
 * one); NULL when out of memory. Free with free(). */
PE_API char *pe_path_join(const char *dir, const char *file);

/* Reads the file at `path` into *data (followed by a NUL byte that *len
 * does not count; len may be NULL). max > 0 limits the size: PE_ERR_LIMIT
 * beyond it. PE_ERR_IO (the message names the path and the reason),
 * PE_ERR_NOMEM. On failure *data is NULL. Free *data with pe_free(). */
PE_API pe_status pe_file_read(const char *path, size_t max, char **data, size_t *len, pe_error *err);

/* Writing through a temporary file renamed over the target when complete,
 * so that a reader or a crash never sees half a file: the temporary is
 * PATH.tmp.PID beside it; commit flushes, fsyncs and renames, and on any
 * failure removes the temporary and keeps the old file.
 *
 *     pe_file_tmp *t;
 *     if (pe_file_tmp_open("out.json", &t, &err) >= PE_ERR_FIRST) return ...;
 *     fputs(text, pe_file_tmp_stream(t));
 *     st = pe_file_tmp_commit(t, &err);   // frees t in every case
 */
typedef struct pe_file_tmp pe_file_tmp;
PE_API pe_status pe_file_tmp_open(const char *path, pe_file_tmp **out, pe_error *err);
/* The stream to write to; valid until commit or abort. */
PE_API FILE *pe_file_tmp_stream(pe_file_tmp *t);
/* PE_ERR_IO when a write, the flush, fsync or the rename failed (the
 * temporary is removed), else PE_OK. t is freed in every case. */
PE_API pe_status pe_file_tmp_commit(pe_file_tmp *t, pe_error *err);
/* Removes the temporary and frees t; NULL is a no-op. */
PE_API void pe_file_tmp_abort(pe_file_tmp *t);
/* The same for `n` buffers written one after the other. */
PE_API pe_status pe_file_write(const char *path, const void *const *parts, const size_t *lens, size_t n, pe_error *err);

/* Light normalisation for stored values: NFC, Unicode case folding, every
 * run of whitespace collapsed to one space, trimmed; accents and
 * punctuation kept. "  New  York\t" -> "new york". Returns a malloc'd
 * string (free it with pe_free), or NULL with *st set (PE_ERR_UTF8, PE_ERR_NOMEM). */
PE_API char *pe_text_fold(const char *s, size_t len, pe_status *st);

/* The length of the domain name that starts at byte i of s (len bytes),
 * or 0: labels of ASCII letters, digits, '-' and non-ASCII bytes joined by
 * single dots, at least one dot, and a last label of two or more letters
 * (ASCII or non-ASCII bytes). "mail.example.org/x" -> 16; "3.14", "a.b",
 * "example" -> 0. The one definition of a domain for the masking of
 * e-mail addresses (personastore) and the machine-text rule of the token
 * heads. */
PE_API size_t pe_text_domain_len(const char *s, size_t len, size_t i);

/* The letter case of a word (s, len bytes), from its ASCII letters:
 * PE_CASE_LOWER (no capital, also no letter), PE_CASE_CAPITALISED (the
 * first letter only, of two or more), PE_CASE_UPPER (every letter, two or
 * more), PE_CASE_MIXED (the rest, "I" and "iPhone" among them). What a
 * lower-casing vocabulary cannot see: the entity head's shape feature
 * (pe_ner_word_shape) and the encoder's case types
 * (pe_encoder_config.case_types) read it. */
enum { PE_CASE_LOWER = 0, PE_CASE_CAPITALISED, PE_CASE_UPPER, PE_CASE_MIXED, PE_N_CASES };
PE_API int pe_text_case(const char *s, size_t len);

/* Monotonic clock in seconds, for progress and benchmarks. */
PE_API double pe_now(void);

#ifdef __cplusplus
}
#endif
#endif
