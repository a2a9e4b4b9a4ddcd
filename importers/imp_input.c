/* imp_input.c - file/stdin input with gzip (multi-member) and bzip2
 * (concatenated streams) decompression, and a bounded line reader. */
#include "imp_internal.h"

#include <bzlib.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define RAW_CAP (256u * 1024u)
#define BUF_MIN (1u << 20)

struct imp_input {
    char *path;
    int fd, own_fd;
    imp_comp comp;
    uint64_t size;
    uint64_t raw_read;      /* bytes read from the fd */
    unsigned char *raw;     /* compressed input buffer */
    size_t raw_len, raw_pos;
    int raw_eof;
    int dec_active;         /* a compressed member/stream is open */
    int dec_done;           /* decompressed stream fully ended */
    uint64_t members;       /* gzip members / bzip2 streams finished */
    z_stream z;
    bz_stream bz;
    int z_init, bz_init;

    /* decoded bytes: buf[pos..len) not yet consumed */
    char *buf;
    size_t cap, len, pos;
    size_t max_line;
    int eof;                /* no more decoded bytes will come */
    uint64_t offset;        /* decoded bytes consumed */
    uint64_t line_no;       /* lines consumed */
    pe_error pending;       /* a decoding error held back until the bytes decoded before it are consumed */
    const unsigned char *mem; /* imp_input_open_mem: the whole input */
    size_t mem_len, mem_pos;
};

static pe_status raw_fill(imp_input *in, pe_error *err)
{
    if (in->raw_pos < in->raw_len || in->raw_eof) return PE_OK;
    if (in->mem) {
        size_t k = in->mem_len - in->mem_pos;
        if (k > RAW_CAP) k = RAW_CAP;
        memcpy(in->raw, in->mem + in->mem_pos, k);
        in->mem_pos += k;
        in->raw_len = k;
        in->raw_pos = 0;
        in->raw_read += k;
        if (k == 0) in->raw_eof = 1;
        return PE_OK;
    }
    for (;;) {
        ssize_t r = read(in->fd, in->raw, RAW_CAP);
        if (r < 0) {
            if (errno == EINTR) continue;
            return pe_error_set(err, PE_ERR_IO, "%s: read failed at byte offset %llu: %s", in->path,
                                (unsigned long long)in->raw_read, strerror(errno));
        }
        in->raw_len = (size_t)r;
        in->raw_pos = 0;
        in->raw_read += (uint64_t)r;
        if (r == 0) in->raw_eof = 1;
        return PE_OK;
    }
}

/* On-disk offset of the next compressed byte to decode. */
static uint64_t raw_offset(const imp_input *in)
{
    return in->raw_read - (uint64_t)(in->raw_len - in->raw_pos);
}

static pe_status truncated(imp_input *in, const char *what, pe_error *err)
{
    return pe_error_set(err, PE_ERR_IO,
                        "%s: truncated %s stream: input ends at byte offset %llu (%llu bytes decompressed)",
                        in->path, what, (unsigned long long)in->raw_read, (unsigned long long)(in->offset + in->len));
}

/* Appends up to `room` decoded bytes at dst; *n = 0 only at the end. */
static pe_status decode(imp_input *in, char *dst, size_t room, size_t *n, pe_error *err)
{
    pe_status st;
    *n = 0;
    if (in->dec_done) return PE_OK;
    if (in->comp == IMP_COMP_NONE) {
        PE_TRY(st, raw_fill(in, err));
        if (in->raw_eof) { in->dec_done = 1; return PE_OK; }
        size_t k = in->raw_len - in->raw_pos;
        if (k > room) k = room;
        memcpy(dst, in->raw + in->raw_pos, k);
        in->raw_pos += k;
        *n = k;
        return PE_OK;
    }
    while (*n == 0) {
        PE_TRY(st, raw_fill(in, err));
        size_t avail = in->raw_len - in->raw_pos;
        if (!in->dec_active) {
            /* Between members: end of input, or the next member starts. */
            if (avail == 0 && in->raw_eof) { in->dec_done = 1; return PE_OK; }
            if (avail == 0) continue;
            if (in->comp == IMP_COMP_GZIP) {
                /* Trailing zero padding after the last member is tolerated like gzip does. */
                if (in->members > 0 && in->raw[in->raw_pos] == 0) { in->raw_pos++; continue; }
                /* So are other bytes that do not start a member (gzip -t: "trailing
                 * garbage ignored"): a warning, and the input ends there. */
                if (in->members > 0 && avail < 2 && !in->raw_eof) {
                    /* one byte left in the buffer: look at the next one too */
                    in->raw[0] = in->raw[in->raw_pos];
                    in->raw_pos = 0;
                    in->raw_len = 1;
                    ssize_t r = in->mem ? 0 : read(in->fd, in->raw + 1, RAW_CAP - 1);
                    if (in->mem && in->mem_pos < in->mem_len) {
                        in->raw[1] = in->mem[in->mem_pos++];
                        r = 1;
                    }
                    if (r > 0) { in->raw_len += (size_t)r; in->raw_read += (uint64_t)r; }
                    else if (r == 0) in->raw_eof = 1;
                    avail = in->raw_len;
                }
                if (in->members > 0 && (in->raw[in->raw_pos] != 0x1f || avail < 2 || in->raw[in->raw_pos + 1] != 0x8b)) {
                    pe_log(PE_LOG_WARN, "%s: %llu bytes of trailing garbage after the last gzip member ignored "
                           "(from byte offset %llu)", in->path,
                           (unsigned long long)(in->size > raw_offset(in) ? in->size - raw_offset(in) : avail),
                           (unsigned long long)raw_offset(in));
                    in->dec_done = 1;
                    return PE_OK;
                }
                if (inflateReset(&in->z) != Z_OK)
                    return pe_error_set(err, PE_ERR_IO, "%s: zlib reset failed", in->path);
            } else {
                if (in->bz_init) BZ2_bzDecompressEnd(&in->bz);
                memset(&in->bz, 0, sizeof in->bz);
                if (BZ2_bzDecompressInit(&in->bz, 0, 0) != BZ_OK) {
                    in->bz_init = 0;
                    return pe_error_set(err, PE_ERR_NOMEM, "%s: bzip2 init failed", in->path);
                }
                in->bz_init = 1;
            }
            in->dec_active = 1;
        }
        if (avail == 0 && in->raw_eof)
            return truncated(in, in->comp == IMP_COMP_GZIP ? "gzip" : "bzip2", err);
        if (in->comp == IMP_COMP_GZIP) {
            in->z.next_in = in->raw + in->raw_pos;
            in->z.avail_in = (uInt)avail;
            in->z.next_out = (Bytef *)dst;
            in->z.avail_out = (uInt)room;
            int zr = inflate(&in->z, Z_NO_FLUSH);
            in->raw_pos = in->raw_len - in->z.avail_in;
            *n = room - in->z.avail_out;
            if (zr == Z_STREAM_END) {
                in->dec_active = 0;
                in->members++;
            } else if (zr == Z_BUF_ERROR) {
                if (in->raw_eof && in->raw_pos == in->raw_len) return truncated(in, "gzip", err);
            } else if (zr != Z_OK) {
                return pe_error_set(err, PE_ERR_IO, "%s: corrupt gzip data near byte offset %llu: %s", in->path,
                                    (unsigned long long)raw_offset(in), in->z.msg ? in->z.msg : "inflate failed");
            }
        } else {
            in->bz.next_in = (char *)in->raw + in->raw_pos;
            in->bz.avail_in = (unsigned)avail;
            in->bz.next_out = dst;
            in->bz.avail_out = (unsigned)room;
            int br = BZ2_bzDecompress(&in->bz);
            in->raw_pos = in->raw_len - in->bz.avail_in;
            *n = room - in->bz.avail_out;
            if (br == BZ_STREAM_END) {
                in->dec_active = 0;
                in->members++;
            } else if (br != BZ_OK) {
                return pe_error_set(err, PE_ERR_IO, "%s: corrupt bzip2 data near byte offset %llu (error %d)",
                                    in->path, (unsigned long long)raw_offset(in), br);
            }
        }
    }
    return PE_OK;
}

static pe_status detect(imp_input *in, pe_error *err);

pe_status imp_input_open(const char *path, size_t max_line, imp_input **out, pe_error *err)
{
    *out = NULL;
    if (!path) return pe_error_set(err, PE_ERR_INVALID, "no input path");
    imp_input *in = calloc(1, sizeof *in);
    if (!in) return pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    in->fd = -1;
    in->max_line = max_line ? max_line : ((size_t)256 << 20);
    in->path = strdup(path);
    in->raw = malloc(RAW_CAP);
    in->cap = BUF_MIN;
    in->buf = malloc(in->cap + 1);
    if (!in->path || !in->raw || !in->buf) {
        imp_input_close(in);
        return pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    }
    if (strcmp(path, "-") == 0) {
        in->fd = STDIN_FILENO;
    } else {
        in->fd = open(path, O_RDONLY | O_CLOEXEC);
        if (in->fd < 0) {
            pe_status st = pe_error_set(err, PE_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
            imp_input_close(in);
            return st;
        }
        in->own_fd = 1;
        struct stat sb;
        if (fstat(in->fd, &sb) == 0) {
            if (S_ISDIR(sb.st_mode)) {
                imp_input_close(in);
                return pe_error_set(err, PE_ERR_IO, "%s: is a directory", path);
            }
            if (S_ISREG(sb.st_mode)) in->size = (uint64_t)sb.st_size;
        }
#ifdef POSIX_FADV_SEQUENTIAL
        posix_fadvise(in->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
    }
    pe_status st = detect(in, err);
    if (st != PE_OK) { imp_input_close(in); return st; }
    *out = in;
    return PE_OK;
}

static pe_status detect(imp_input *in, pe_error *err)
{
    const char *path = in->path;
    pe_status st = raw_fill(in, err);
    if (st != PE_OK) return st;
    /* Magic bytes: a short first read from a pipe is topped up. */
    while (!in->mem && !in->raw_eof && in->raw_len < 3) {
        ssize_t r = read(in->fd, in->raw + in->raw_len, RAW_CAP - in->raw_len);
        if (r <= 0) { if (r < 0 && errno == EINTR) continue; if (r == 0) break; break; }
        in->raw_len += (size_t)r;
        in->raw_read += (uint64_t)r;
    }
    const unsigned char *m = in->raw;
    if (in->raw_len >= 2 && m[0] == 0x1f && m[1] == 0x8b) {
        in->comp = IMP_COMP_GZIP;
        if (inflateInit2(&in->z, 15 + 16) != Z_OK) return pe_error_set(err, PE_ERR_NOMEM, "%s: zlib init failed", path);
        in->z_init = 1;
        in->dec_active = 1;
    } else if (in->raw_len >= 3 && m[0] == 'B' && m[1] == 'Z' && m[2] == 'h') {
        in->comp = IMP_COMP_BZIP2;
        if (BZ2_bzDecompressInit(&in->bz, 0, 0) != BZ_OK) return pe_error_set(err, PE_ERR_NOMEM, "%s: bzip2 init failed", path);
        in->bz_init = 1;
        in->dec_active = 1;
    }
    return PE_OK;
}

pe_status imp_input_open_mem(const char *name, const void *data, size_t len, size_t max_line, imp_input **out,
                             pe_error *err)
{
    *out = NULL;
    imp_input *in = calloc(1, sizeof *in);
    if (!in) return pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    in->fd = -1;
    in->max_line = max_line ? max_line : ((size_t)256 << 20);
    in->path = strdup(name ? name : "(memory)");
    in->raw = malloc(RAW_CAP);
    in->cap = BUF_MIN;
    in->buf = malloc(in->cap + 1);
    in->mem = data ? data : (const unsigned char *)"";
    in->mem_len = len;
    in->size = len;
    if (!in->path || !in->raw || !in->buf) {
        imp_input_close(in);
        return pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    }
    pe_status st = detect(in, err);
    if (st != PE_OK) { imp_input_close(in); return st; }
    *out = in;
    return PE_OK;
}

void imp_input_close(imp_input *in)
{
    if (!in) return;
    if (in->z_init) inflateEnd(&in->z);
    if (in->bz_init) BZ2_bzDecompressEnd(&in->bz);
    if (in->own_fd && in->fd >= 0) close(in->fd);
    free(in->raw);
    free(in->buf);
    free(in->path);
    free(in);
}

imp_comp imp_input_comp(const imp_input *in) { return in->comp; }
const char *imp_input_path(const imp_input *in) { return in->path; }
uint64_t imp_input_size(const imp_input *in) { return in->size; }
uint64_t imp_input_raw_read(const imp_input *in) { return in->raw_read; }
uint64_t imp_input_offset(const imp_input *in) { return in->offset; }
uint64_t imp_input_line_no(const imp_input *in) { return in->line_no; }

/* Moves unconsumed bytes to the front and decodes more after them; grows
 * the buffer to `need` bytes if given (never beyond max_line + 1). */
static pe_status fill(imp_input *in, size_t need, pe_error *err)
{
    if (in->eof) return PE_OK;
    if (in->pending.status != PE_OK) return pe_error_set(err, in->pending.status, "%s", in->pending.msg);
    if (in->pos > 0) {
        memmove(in->buf, in->buf + in->pos, in->len - in->pos);
        in->len -= in->pos;
        in->pos = 0;
    }
    if (need > in->cap) {
        size_t nc = in->cap;
        while (nc < need) nc *= 2;
        char *nb = realloc(in->buf, nc + 1);
        if (!nb) return pe_error_set(err, PE_ERR_NOMEM, "%s: out of memory for a %zu-byte line", in->path, need);
        in->buf = nb;
        in->cap = nc;
    }
    if (in->len == in->cap) return PE_OK;
    size_t n;
    pe_error e;
    pe_error_clear(&e);
    pe_status st = decode(in, in->buf + in->len, in->cap - in->len, &n, &e);
    if (st == PE_ERR_IO && in->len > in->pos) {
        /* A truncated or corrupt stream: the bytes decoded before it come
         * first (whatever the file's size, its complete lines are read),
         * the error with the next fill. */
        in->pending = e;
        return PE_OK;
    }
    if (st != PE_OK) return pe_error_set(err, st, "%s", e.msg);
    if (n == 0) in->eof = 1;
    in->len += n;
    return PE_OK;
}

pe_status imp_input_peek(imp_input *in, size_t want, const char **p, size_t *n, pe_error *err)
{
    pe_status st;
    if (want > in->cap) want = in->cap;
    while (in->len - in->pos < want && !in->eof && in->pending.status == PE_OK) PE_TRY(st, fill(in, 0, err));
    *p = in->buf + in->pos;
    *n = in->len - in->pos;
    return PE_OK;
}

pe_status imp_input_line(imp_input *in, const char **line, size_t *len, pe_error *err)
{
    pe_status st;
    size_t scanned = 0;
    for (;;) {
        char *start = in->buf + in->pos;
        size_t avail = in->len - in->pos;
        char *nl = avail > scanned ? memchr(start + scanned, '\n', avail - scanned) : NULL;
        if (nl) {
            size_t l = (size_t)(nl - start);
            in->pos += l + 1;
            in->offset += l + 1;
            in->line_no++;
            if (l > in->max_line) goto too_long_consumed;
            if (l > 0 && start[l - 1] == '\r') l--;
            start[l] = '\0';
            *line = start;
            *len = l;
            return PE_OK;
        }
        if (in->eof) {
            if (avail == 0) return PE_DONE;
            /* last line without a newline */
            in->pos += avail;
            in->offset += avail;
            in->line_no++;
            if (avail > in->max_line) goto too_long_consumed;
            if (start[avail - 1] == '\r') avail--;
            start[avail] = '\0';
            *line = start;
            *len = avail;
            return PE_OK;
        }
        scanned = avail;
        if (avail > in->max_line) break;
        size_t need = avail < in->cap ? 0 : (in->cap * 2 > in->max_line + 1 ? in->max_line + 1 : in->cap * 2);
        if (need && need <= in->cap) break;
        PE_TRY(st, fill(in, need, err));
    }
    /* Too long: discard up to and including the next newline without buffering it. */
    {
        uint64_t first = in->line_no + 1;
        for (;;) {
            char *start = in->buf + in->pos;
            size_t avail = in->len - in->pos;
            char *nl = memchr(start, '\n', avail);
            if (nl) {
                size_t k = (size_t)(nl - start) + 1;
                in->pos += k;
                in->offset += k;
                break;
            }
            in->pos += avail;
            in->offset += avail;
            if (in->eof) break;
            PE_TRY(st, fill(in, 0, err));
            if (in->len == 0 && in->eof) break;
        }
        in->line_no++;
        return pe_error_set(err, PE_ERR_LIMIT, "%s:%llu: line longer than the limit of %zu bytes (skipped)",
                            in->path, (unsigned long long)first, in->max_line);
    }
too_long_consumed:
    return pe_error_set(err, PE_ERR_LIMIT, "%s:%llu: line longer than the limit of %zu bytes (skipped)", in->path,
                        (unsigned long long)in->line_no, in->max_line);
}

pe_status imp_input_rest(imp_input *in, const char **data, size_t *len, pe_error *err)
{
    pe_status st;
    while (!in->eof) {
        size_t avail = in->len - in->pos;
        if (avail > in->max_line)
            return pe_error_set(err, PE_ERR_LIMIT, "%s: document longer than the limit of %zu bytes", in->path,
                                in->max_line);
        size_t need = 0;
        if (in->pos == 0 && in->len == in->cap) need = in->cap * 2 > in->max_line + 1 ? in->max_line + 1 : in->cap * 2;
        if (need && need <= in->cap)
            return pe_error_set(err, PE_ERR_LIMIT, "%s: document longer than the limit of %zu bytes", in->path,
                                in->max_line);
        PE_TRY(st, fill(in, need, err));
    }
    size_t avail = in->len - in->pos;
    if (avail > in->max_line)
        return pe_error_set(err, PE_ERR_LIMIT, "%s: document longer than the limit of %zu bytes", in->path,
                            in->max_line);
    char *start = in->buf + in->pos;
    for (size_t i = 0; i < avail; i++)
        if (start[i] == '\n') in->line_no++;
    in->pos += avail;
    in->offset += avail;
    start[avail] = '\0';
    *data = start;
    *len = avail;
    return PE_OK;
}

pe_status imp_input_read(imp_input *in, char *buf, size_t cap, size_t *n, pe_error *err)
{
    pe_status st;
    *n = 0;
    if (in->pos == in->len && !in->eof) {
        in->pos = in->len = 0;
        PE_TRY(st, fill(in, 0, err));
    }
    size_t avail = in->len - in->pos;
    if (avail > cap) avail = cap;
    memcpy(buf, in->buf + in->pos, avail);
    for (size_t i = 0; i < avail; i++)
        if (buf[i] == '\n') in->line_no++;
    in->pos += avail;
    in->offset += avail;
    *n = avail;
    return PE_OK;
}

pe_status imp_input_skip(imp_input *in, uint64_t bytes, uint64_t lines, pe_error *err)
{
    pe_status st;
    while (bytes > 0) {
        if (in->pos == in->len) {
            if (in->eof)
                return pe_error_set(err, PE_ERR_CORRUPT,
                                    "%s: cannot resume: input ends before the checkpointed position (%llu more bytes)",
                                    in->path, (unsigned long long)bytes);
            in->pos = in->len = 0;
            PE_TRY(st, fill(in, 0, err));
            continue;
        }
        size_t k = in->len - in->pos;
        if (k > bytes) k = (size_t)bytes;
        in->pos += k;
        in->offset += k;
        bytes -= k;
    }
    in->line_no = lines;
    return PE_OK;
}
