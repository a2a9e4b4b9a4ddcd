/* shard.c - token shards: tokenised text cut into [CLS] ... [SEP]
 * sequences, the input of MLM pretraining (format in pe_trainer.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model_internal.h"
#include "pe_trainer.h"

#define SHARD_MAGIC_V1 "PESHARD1" /* tokens only */
#define SHARD_MAGIC "PESHARD2"    /* tokens, then their case types */
#define SHARD_HEAD 32

struct pe_token_shard {
    char *path; /* as opened, for messages */
    void *map;
    size_t size;
    uint32_t vocab, max_len;
    uint64_t n_seq, n_tok;
    const uint64_t *off;
    const uint16_t *tok;
    const uint8_t *types; /* (n_tok) or NULL (a version 1 file) */
};

static uint64_t rd64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}
static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

pe_status pe_token_shard_open(const char *path, pe_token_shard **out, pe_error *err)
{
    if (!out) return pe_error_set(err, PE_ERR_INVALID, "shard: NULL output");
    *out = NULL;
    pe_token_shard *s = calloc(1, sizeof *s);
    if (!s) return pe_error_set(err, PE_ERR_NOMEM, "shard: out of memory");
    if (!(s->path = strdup(path))) {
        free(s);
        return pe_error_set(err, PE_ERR_NOMEM, "shard: out of memory");
    }
    pe_status st = enc_map_file(path, &s->map, &s->size, err);
    if (st != PE_OK) {
        free(s->path);
        free(s);
        return st;
    }
    const unsigned char *p = s->map;
    const int v2 = s->size >= SHARD_HEAD && memcmp(p, SHARD_MAGIC, 8) == 0;
    if (s->size < SHARD_HEAD || (!v2 && memcmp(p, SHARD_MAGIC_V1, 8) != 0)) {
        st = pe_error_set(err, PE_ERR_CORRUPT, "%s: not a token shard (bad magic or too short)", path);
        goto fail;
    }
    s->vocab = rd32(p + 8);
    s->max_len = rd32(p + 12);
    s->n_seq = rd64(p + 16);
    s->n_tok = rd64(p + 24);
    if (s->vocab == 0 || s->vocab > 65536 || s->n_seq > (s->size - SHARD_HEAD) / 8 ||
        s->n_tok > (s->size - SHARD_HEAD) / 2 ||
        (uint64_t)s->size != SHARD_HEAD + (s->n_seq + 1) * 8 + s->n_tok * (v2 ? 3 : 2)) {
        st = pe_error_set(err, PE_ERR_CORRUPT, "%s: sizes do not match the file (%llu sequences, %llu tokens, %zu bytes)",
                          path, (unsigned long long)s->n_seq, (unsigned long long)s->n_tok, s->size);
        goto fail;
    }
    s->off = (const uint64_t *)(p + SHARD_HEAD);
    s->tok = (const uint16_t *)(p + SHARD_HEAD + (s->n_seq + 1) * 8);
    s->types = v2 ? (const uint8_t *)(s->tok + s->n_tok) : NULL;
    if (s->off[0] != 0 || s->off[s->n_seq] != s->n_tok) {
        st = pe_error_set(err, PE_ERR_CORRUPT, "%s: offsets do not cover the tokens", path);
        goto fail;
    }
    for (uint64_t i = 0; i < s->n_seq; i++) {
        uint64_t len = s->off[i + 1] - s->off[i];
        if (s->off[i + 1] < s->off[i] || len < 1 || len > s->max_len) {
            st = pe_error_set(err, PE_ERR_CORRUPT, "%s: sequence %llu has a bad length", path, (unsigned long long)i);
            goto fail;
        }
    }
    for (uint64_t i = 0; i < s->n_tok; i++)
        if (s->tok[i] >= s->vocab) {
            st = pe_error_set(err, PE_ERR_CORRUPT, "%s: token %llu has id %u, outside the vocabulary (%u)", path,
                              (unsigned long long)i, s->tok[i], s->vocab);
            goto fail;
        }
    for (uint64_t i = 0; s->types && i < s->n_tok; i++)
        if (s->types[i] >= PE_N_CASES) {
            st = pe_error_set(err, PE_ERR_CORRUPT, "%s: token %llu has case type %u (at most %d)", path,
                              (unsigned long long)i, s->types[i], PE_N_CASES - 1);
            goto fail;
        }
    *out = s;
    return PE_OK;
fail:
    pe_token_shard_close(s);
    return st;
}

void pe_token_shard_close(pe_token_shard *s)
{
    if (!s) return;
    if (s->map) enc_unmap_file(s->map, s->size);
    free(s->path);
    free(s);
}

size_t pe_token_shard_count(const pe_token_shard *s)
{
    return (size_t)s->n_seq;
}

uint32_t pe_token_shard_vocab_size(const pe_token_shard *s)
{
    return s->vocab;
}

const uint16_t *pe_token_shard_seq(const pe_token_shard *s, size_t i, int *len)
{
    *len = (int)(s->off[i + 1] - s->off[i]);
    return s->tok + s->off[i];
}

const char *pe_token_shard_path(const pe_token_shard *s)
{
    return s->path;
}

const uint8_t *pe_token_shard_types(const pe_token_shard *s, size_t i)
{
    return s->types ? s->types + s->off[i] : NULL;
}

/* ---- writer ---- */

typedef struct part {
    char *path, *tmp_tok, *tmp_types, *tmp_final;
    FILE *tok;       /* token stream, written as it comes */
    FILE *types;     /* their case types, likewise */
    uint64_t *off;   /* (n_seq + 1) */
    uint64_t n_seq, cap;
    uint64_t n_tok;
} part;

struct pe_shard_writer {
    const pe_tokenizer *tok;
    int max_len, every;
    int32_t cls, sep;
    uint32_t vocab;
    part p[2];        /* train, held out */
    uint64_t emitted; /* sequences emitted in all */
    uint16_t *cur;    /* (max_len) the sequence being filled, [CLS] first */
    uint8_t *cur_types; /* (max_len) its case types */
    int32_t *scratch; /* (scratch_cap) case types of one text */
    size_t scratch_cap;
    int n_cur;
};

static char *cat(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 1);
    if (s) {
        memcpy(s, a, la);
        memcpy(s + la, b, lb + 1);
    }
    return s;
}

static void part_free(part *p, int remove_files)
{
    if (p->tok) fclose(p->tok);
    if (p->types) fclose(p->types);
    if (remove_files) {
        if (p->tmp_tok) unlink(p->tmp_tok);
        if (p->tmp_types) unlink(p->tmp_types);
        if (p->tmp_final) unlink(p->tmp_final);
    }
    free(p->path);
    free(p->tmp_tok);
    free(p->tmp_types);
    free(p->tmp_final);
    free(p->off);
    memset(p, 0, sizeof *p);
}

static pe_status part_open(part *p, const char *path, pe_error *err)
{
    p->path = strdup(path);
    p->tmp_tok = cat(path, ".tokens.tmp");
    p->tmp_types = cat(path, ".types.tmp");
    p->tmp_final = cat(path, ".tmp");
    p->cap = 1024;
    p->off = malloc(p->cap * sizeof *p->off);
    if (!p->path || !p->tmp_tok || !p->tmp_types || !p->tmp_final || !p->off)
        return pe_error_set(err, PE_ERR_NOMEM, "shard: out of memory");
    p->off[0] = 0;
    if (!(p->tok = fopen(p->tmp_tok, "w+b")))
        return pe_error_set(err, PE_ERR_IO, "%s: cannot create: %s", p->tmp_tok, strerror(errno));
    if (!(p->types = fopen(p->tmp_types, "w+b")))
        return pe_error_set(err, PE_ERR_IO, "%s: cannot create: %s", p->tmp_types, strerror(errno));
    return PE_OK;
}

pe_status pe_shard_writer_new(const char *train_path, const char *held_out_path, const pe_tokenizer *tok,
                              int max_len, int held_out_every, pe_shard_writer **out, pe_error *err)
{
    if (!out) return pe_error_set(err, PE_ERR_INVALID, "shard: NULL output");
    *out = NULL;
    if (!train_path || !tok || max_len < 8 || max_len > 1 << 20 || held_out_every < 0 ||
        (held_out_every > 0 && !held_out_path))
        return pe_error_set(err, PE_ERR_INVALID, "shard: bad arguments (max_len %d, held_out_every %d)", max_len,
                            held_out_every);
    size_t V = pe_tokenizer_vocab_size(tok);
    if (V > 65536) return pe_error_set(err, PE_ERR_INVALID, "shard: the vocabulary has %zu ids; shards hold at most 65536", V);
    pe_shard_writer *w = calloc(1, sizeof *w);
    if (!w) return pe_error_set(err, PE_ERR_NOMEM, "shard: out of memory");
    w->tok = tok;
    w->max_len = max_len;
    w->every = held_out_every;
    w->vocab = (uint32_t)V;
    pe_tokenizer_special_ids sid = pe_tokenizer_get_special_ids(tok);
    w->cls = sid.cls;
    w->sep = sid.sep;
    w->cur = malloc((size_t)max_len * sizeof *w->cur);
    w->cur_types = malloc((size_t)max_len);
    pe_status st = w->cur && w->cur_types ? part_open(&w->p[0], train_path, err) : pe_error_set(err, PE_ERR_NOMEM, "shard: out of memory");
    if (st == PE_OK && held_out_every > 0) st = part_open(&w->p[1], held_out_path, err);
    if (st != PE_OK) {
        pe_shard_writer_free(w);
        return st;
    }
    w->cur[0] = (uint16_t)w->cls;
    w->cur_types[0] = 0;
    w->n_cur = 1;
    *out = w;
    return PE_OK;
}

static pe_status emit(pe_shard_writer *w, pe_error *err)
{
    if (w->n_cur <= 1) return PE_OK;
    w->cur_types[w->n_cur] = 0;
    w->cur[w->n_cur++] = (uint16_t)w->sep;
    part *p = &w->p[w->every > 0 && w->emitted % (uint64_t)w->every == (uint64_t)w->every - 1 ? 1 : 0];
    w->emitted++;
    if (fwrite(w->cur, sizeof *w->cur, (size_t)w->n_cur, p->tok) != (size_t)w->n_cur)
        return pe_error_set(err, PE_ERR_IO, "%s: write failed: %s", p->tmp_tok, strerror(errno));
    if (fwrite(w->cur_types, 1, (size_t)w->n_cur, p->types) != (size_t)w->n_cur)
        return pe_error_set(err, PE_ERR_IO, "%s: write failed: %s", p->tmp_types, strerror(errno));
    if (p->n_seq + 2 > p->cap) {
        uint64_t cap = p->cap * 2;
        uint64_t *o = realloc(p->off, cap * sizeof *o);
        if (!o) return pe_error_set(err, PE_ERR_NOMEM, "shard: out of memory");
        p->off = o;
        p->cap = cap;
    }
    p->n_tok += (uint64_t)w->n_cur;
    p->off[++p->n_seq] = p->n_tok;
    w->n_cur = 1;
    return PE_OK;
}

pe_status pe_shard_writer_add_text(pe_shard_writer *w, const char *text, size_t len, pe_error *err)
{
    pe_tokenizer_encode_options eo = pe_tokenizer_encode_options_default();
    eo.add_special_tokens = 0;
    pe_encoding *e = NULL;
    pe_status st = pe_tokenizer_encode(w->tok, text, len, NULL, 0, &eo, &e, err);
    if (st != PE_OK) return st;
    if (e->len > w->scratch_cap) {
        int32_t *t = realloc(w->scratch, e->len * sizeof *t);
        if (!t) {
            pe_encoding_free(e);
            return pe_error_set(err, PE_ERR_NOMEM, "shard: out of memory");
        }
        w->scratch = t;
        w->scratch_cap = e->len;
    }
    pe_encoding_case_types(e, text, w->scratch);
    for (size_t i = 0; i < e->len && st == PE_OK; i++) {
        if (w->n_cur >= w->max_len - 1) st = emit(w, err);
        w->cur_types[w->n_cur] = (uint8_t)w->scratch[i];
        w->cur[w->n_cur++] = (uint16_t)e->ids[i];
    }
    pe_encoding_free(e);
    return st;
}

pe_status pe_shard_writer_end_document(pe_shard_writer *w, pe_error *err)
{
    return emit(w, err);
}

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static pe_status part_finish(pe_shard_writer *w, part *p, pe_error *err)
{
    FILE *f = fopen(p->tmp_final, "wb");
    if (!f) return pe_error_set(err, PE_ERR_IO, "%s: cannot create: %s", p->tmp_final, strerror(errno));
    unsigned char h[SHARD_HEAD];
    memcpy(h, SHARD_MAGIC, 8);
    put32(h + 8, w->vocab);
    put32(h + 12, (uint32_t)w->max_len);
    put64(h + 16, p->n_seq);
    put64(h + 24, p->n_tok);
    int ok = fwrite(h, 1, sizeof h, f) == sizeof h;
    ok = ok && fwrite(p->off, sizeof *p->off, p->n_seq + 1, f) == p->n_seq + 1;
    rewind(p->tok);
    uint16_t buf[8192];
    size_t n;
    while (ok && (n = fread(buf, sizeof *buf, 8192, p->tok)) > 0) ok = fwrite(buf, sizeof *buf, n, f) == n;
    ok = ok && !ferror(p->tok);
    rewind(p->types);
    while (ok && (n = fread(buf, 1, sizeof buf, p->types)) > 0) ok = fwrite(buf, 1, n, f) == n;
    ok = ok && !ferror(p->types);
    ok = (fflush(f) == 0) && ok;
    ok = (fsync(fileno(f)) == 0) && ok;
    ok = (fclose(f) == 0) && ok;
    if (!ok) return pe_error_set(err, PE_ERR_IO, "%s: write failed: %s", p->tmp_final, strerror(errno));
    if (rename(p->tmp_final, p->path) != 0)
        return pe_error_set(err, PE_ERR_IO, "%s: cannot rename to %s: %s", p->tmp_final, p->path, strerror(errno));
    fclose(p->tok);
    fclose(p->types);
    p->tok = p->types = NULL;
    unlink(p->tmp_tok);
    unlink(p->tmp_types);
    return PE_OK;
}

pe_status pe_shard_writer_finish(pe_shard_writer *w, uint64_t *n_train_seq, uint64_t *n_train_tokens, pe_error *err)
{
    pe_status st = emit(w, err);
    if (st == PE_OK) st = part_finish(w, &w->p[0], err);
    if (st == PE_OK && w->every > 0) st = part_finish(w, &w->p[1], err);
    if (st == PE_OK) {
        if (n_train_seq) *n_train_seq = w->p[0].n_seq;
        if (n_train_tokens) *n_train_tokens = w->p[0].n_tok;
    }
    return st;
}

void pe_shard_writer_free(pe_shard_writer *w)
{
    if (!w) return;
    part_free(&w->p[0], 1);
    part_free(&w->p[1], 1);
    free(w->cur);
    free(w->cur_types);
    free(w->scratch);
    free(w);
}
