/* tokenizer.c - BERT WordPiece tokenizer (see pe_tokenizer.h for the rules
 * it follows). Unicode data come from utf8proc; JSON from cJSON. */
#include "pe_tokenizer.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* ---- internal types ------------------------------------------------------ */

/* A token never split when found in text (special or added token). */
typedef struct tok_added {
    const char *s; /* borrowed from the tokenizer's vocabulary arena */
    size_t len;
    int32_t id;
    int lstrip, rstrip, single_word;
} tok_added;

/* Added-token description handed to the builder (strings borrowed). */
typedef struct added_spec {
    const char *content;
    int lstrip, rstrip, single_word;
} added_spec;

struct pe_tokenizer {
    pe_tokenizer_options opt;  /* strings point to the own_* copies below */
    char *own_unk, *own_cls, *own_sep, *own_pad, *own_mask, *own_prefix;
    char **own_extra;          /* (n_extra) */
    size_t n_vocab;
    char *arena;               /* every token, NUL-terminated, back to back */
    char **tokens;             /* (n_vocab) pointers into arena */
    uint32_t *tok_len;         /* (n_vocab) */
    /* Open-addressing hash table. Keys are (bytes, cont): cont=1 keys are
     * the continuation pieces with the prefix ("##") removed, so that the
     * WordPiece loop looks up substrings without copying them. */
    uint32_t *slot_key;        /* (cap) 0 empty, else ((id << 1) | cont) + 1 */
    uint32_t *slot_tag;        /* (cap) high bits of the key's hash */
    size_t cap_mask;
    size_t prefix_len;
    size_t max_chars[2];       /* longest key in code points: [0] word-initial, [1] continuation */
    pe_tokenizer_special_ids sid;
    tok_added *added;          /* (n_added) sorted by first byte, then longest first */
    size_t n_added;
    uint32_t added_first[257]; /* added[added_first[b] .. added_first[b+1]) start with byte b */
};

/* Tokens of one text before specials, truncation and padding. */
typedef struct tok_list {
    int32_t *ids;
    pe_token_span *sp;
    int32_t *word;
    size_t n, cap;
    int more; /* tokenizing stopped early and the rest would have made tokens */
} tok_list;

/* The normalised chars of the word being built. */
typedef struct word_buf {
    char *b;                 /* normalised UTF-8 bytes */
    size_t nb, bcap;
    size_t *coff;            /* (nc+1) byte offset of each char in b */
    size_t *os, *oe;         /* (nc) original byte span of each char */
    size_t nc, ccap;
    size_t count;            /* chars seen, may exceed nc once over the limit */
    size_t first_os, last_oe;
    /* pe_tokenizer_pre_tokenize: each word goes to fn instead of WordPiece. */
    pe_tokenizer_word_fn fn;
    void *fn_user;
    pe_status fn_st;         /* the error fn returned, when it stopped the run */
} word_buf;

static const char *name_or(const char *name) { return name ? name : "vocabulary"; }

/* ---- options ------------------------------------------------------------- */

pe_tokenizer_options pe_tokenizer_options_default(void)
{
    pe_tokenizer_options o;
    memset(&o, 0, sizeof o);
    o.do_lower_case = 1;
    o.strip_accents = -1;
    o.tokenize_chinese_chars = 1;
    o.clean_text = 1;
    o.max_input_chars_per_word = 100;
    o.unk_token = "[UNK]";
    o.cls_token = "[CLS]";
    o.sep_token = "[SEP]";
    o.pad_token = "[PAD]";
    o.mask_token = "[MASK]";
    o.continuing_subword_prefix = "##";
    return o;
}

pe_tokenizer_encode_options pe_tokenizer_encode_options_default(void)
{
    pe_tokenizer_encode_options o;
    memset(&o, 0, sizeof o);
    o.add_special_tokens = 1;
    o.truncation = PE_TRUNCATE_LONGEST_FIRST;
    o.padding = PE_PAD_NONE;
    return o;
}

/* ---- hash table ---------------------------------------------------------- */

static uint64_t key_hash(const char *s, size_t len, int cont)
{
    uint64_t h = 1469598103934665603ull ^ (cont ? 0x9e3779b97f4a7c15ull : 0);
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 32;
    return h;
}

static int32_t lookup(const pe_tokenizer *tok, const char *s, size_t len, int cont)
{
    uint64_t h = key_hash(s, len, cont);
    uint32_t tag = (uint32_t)(h >> 32);
    size_t i = (size_t)h & tok->cap_mask;
    for (;;) {
        uint32_t k = tok->slot_key[i];
        if (!k) return -1;
        k--;
        if (tok->slot_tag[i] == tag && (int)(k & 1) == cont) {
            int32_t id = (int32_t)(k >> 1);
            size_t skip = cont ? tok->prefix_len : 0;
            if (tok->tok_len[id] == len + skip && memcmp(tok->tokens[id] + skip, s, len) == 0)
                return id;
        }
        i = (i + 1) & tok->cap_mask;
    }
}

/* Inserts (s, cont) -> id; returns the id already there on a clash, else -1. */
static int32_t insert(pe_tokenizer *tok, const char *s, size_t len, int cont, int32_t id)
{
    int32_t prev = lookup(tok, s, len, cont);
    if (prev >= 0) return prev;
    uint64_t h = key_hash(s, len, cont);
    size_t i = (size_t)h & tok->cap_mask;
    while (tok->slot_key[i]) i = (i + 1) & tok->cap_mask;
    tok->slot_key[i] = (((uint32_t)id << 1) | (uint32_t)cont) + 1;
    tok->slot_tag[i] = (uint32_t)(h >> 32);
    return -1;
}

static size_t count_chars(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

/* ---- construction -------------------------------------------------------- */

void pe_tokenizer_free(pe_tokenizer *tok)
{
    if (!tok) return;
    free(tok->own_unk);
    free(tok->own_cls);
    free(tok->own_sep);
    free(tok->own_pad);
    free(tok->own_mask);
    free(tok->own_prefix);
    if (tok->own_extra)
        for (size_t i = 0; i < tok->opt.n_extra_special_tokens; i++) free(tok->own_extra[i]);
    free(tok->own_extra);
    free(tok->arena);
    free(tok->tokens);
    free(tok->tok_len);
    free(tok->slot_key);
    free(tok->slot_tag);
    free(tok->added);
    free(tok);
}

static char *dup_or_null(const char *s, int *nomem)
{
    if (!s) return NULL;
    char *d = strdup(s);
    if (!d) *nomem = 1;
    return d;
}

static int cmp_added(const void *pa, const void *pb)
{
    const tok_added *a = pa, *b = pb;
    unsigned char fa = (unsigned char)a->s[0], fb = (unsigned char)b->s[0];
    if (fa != fb) return fa < fb ? -1 : 1;
    if (a->len != b->len) return a->len > b->len ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

/* Appends an added token (deduplicated by content). Returns 0, or -1 when
 * the content is not in the vocabulary. */
static int add_never_split(pe_tokenizer *tok, const char *s, int lstrip, int rstrip, int single_word)
{
    if (!s || !*s) return 0;
    int32_t id = lookup(tok, s, strlen(s), 0);
    if (id < 0) return -1;
    for (size_t i = 0; i < tok->n_added; i++)
        if (tok->added[i].id == id) {
            tok->added[i].lstrip |= lstrip;
            tok->added[i].rstrip |= rstrip;
            tok->added[i].single_word |= single_word;
            return 0;
        }
    tok_added *a = &tok->added[tok->n_added++];
    a->s = tok->tokens[id];
    a->len = tok->tok_len[id];
    a->id = id;
    a->lstrip = lstrip;
    a->rstrip = rstrip;
    a->single_word = single_word;
    return 0;
}

/* Builds a tokenizer. `ids_are_lines`: messages say "line N" (N = id + 1)
 * instead of "id N". */
static pe_status tok_build(const char *const *tokens, size_t n, const pe_tokenizer_options *opt_in,
                           const added_spec *specs, size_t n_specs, const char *name,
                           int ids_are_lines, pe_tokenizer **out, pe_error *err)
{
    *out = NULL;
    name = name_or(name);
    pe_tokenizer_options opt = opt_in ? *opt_in : pe_tokenizer_options_default();
    const char *where = ids_are_lines ? "line" : "id";
    size_t base = ids_are_lines ? 1 : 0;
    if (n == 0) return pe_error_set(err, PE_ERR_PARSE, "%s: empty vocabulary", name);
    if (n >= (1u << 30)) return pe_error_set(err, PE_ERR_LIMIT, "%s: %zu tokens is too many", name, n);
    if (opt.max_input_chars_per_word <= 0)
        return pe_error_set(err, PE_ERR_INVALID, "%s: max_input_chars_per_word must be > 0", name);
    if (!opt.unk_token || !opt.cls_token || !opt.sep_token)
        return pe_error_set(err, PE_ERR_INVALID, "%s: unk, cls and sep tokens must be named", name);
    if (opt.n_extra_special_tokens && !opt.extra_special_tokens)
        return pe_error_set(err, PE_ERR_INVALID, "%s: extra_special_tokens is NULL", name);
    if (!opt.continuing_subword_prefix) opt.continuing_subword_prefix = "";
    if (opt.strip_accents < 0) opt.strip_accents = opt.do_lower_case ? 1 : 0;
    opt.strip_accents = opt.strip_accents != 0;
    opt.do_lower_case = opt.do_lower_case != 0;

    pe_tokenizer *tok = calloc(1, sizeof *tok);
    if (!tok) return pe_error_set(err, PE_ERR_NOMEM, "%s: out of memory", name);
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (!tokens[i]) {
            pe_tokenizer_free(tok);
            return pe_error_set(err, PE_ERR_INVALID, "%s: token %s %zu is NULL", name, where, i + base);
        }
        size_t l = strlen(tokens[i]), bad;
        if (!pe_utf8_valid(tokens[i], l, &bad)) {
            pe_tokenizer_free(tok);
            return pe_error_set(err, PE_ERR_UTF8, "%s: %s %zu: invalid UTF-8 at byte %zu of the token",
                                name, where, i + base, bad);
        }
        total += l + 1;
    }
    size_t cap = 16;
    while (cap < 4 * n) cap <<= 1; /* load <= 0.5 with both key kinds */
    tok->n_vocab = n;
    tok->arena = malloc(total);
    tok->tokens = malloc(n * sizeof *tok->tokens);
    tok->tok_len = malloc(n * sizeof *tok->tok_len);
    tok->slot_key = calloc(cap, sizeof *tok->slot_key);
    tok->slot_tag = calloc(cap, sizeof *tok->slot_tag);
    tok->added = calloc(5 + opt.n_extra_special_tokens + n_specs, sizeof *tok->added);
    tok->cap_mask = cap - 1;
    int nomem = !tok->arena || !tok->tokens || !tok->tok_len || !tok->slot_key || !tok->slot_tag ||
                !tok->added;
    tok->own_unk = dup_or_null(opt.unk_token, &nomem);
    tok->own_cls = dup_or_null(opt.cls_token, &nomem);
    tok->own_sep = dup_or_null(opt.sep_token, &nomem);
    tok->own_pad = dup_or_null(opt.pad_token, &nomem);
    tok->own_mask = dup_or_null(opt.mask_token, &nomem);
    tok->own_prefix = dup_or_null(opt.continuing_subword_prefix, &nomem);
    if (nomem) {
        pe_tokenizer_free(tok);
        return pe_error_set(err, PE_ERR_NOMEM, "%s: out of memory", name);
    }
    tok->prefix_len = strlen(tok->own_prefix);

    char *p = tok->arena;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(tokens[i]);
        memcpy(p, tokens[i], l + 1);
        tok->tokens[i] = p;
        tok->tok_len[i] = (uint32_t)l;
        p += l + 1;
        if (l == 0) continue; /* kept for id alignment, never matched */
        int32_t prev = insert(tok, tok->tokens[i], l, 0, (int32_t)i);
        if (prev >= 0) {
            pe_error_set(err, PE_ERR_CORRUPT, "%s: %s %zu: duplicate token \"%s\" (first at %s %zu)",
                         name, where, i + base, tok->tokens[i], where, (size_t)prev + base);
            pe_tokenizer_free(tok);
            return PE_ERR_CORRUPT;
        }
        size_t c = count_chars(tok->tokens[i], l);
        if (c > tok->max_chars[0]) tok->max_chars[0] = c;
        if (tok->prefix_len && l > tok->prefix_len &&
            memcmp(tok->tokens[i], tok->own_prefix, tok->prefix_len) == 0) {
            insert(tok, tok->tokens[i] + tok->prefix_len, l - tok->prefix_len, 1, (int32_t)i);
            c = count_chars(tok->tokens[i] + tok->prefix_len, l - tok->prefix_len);
            if (c > tok->max_chars[1]) tok->max_chars[1] = c;
        }
    }
    if (!tok->prefix_len) tok->max_chars[1] = tok->max_chars[0];

    const char *must[3] = {tok->own_unk, tok->own_cls, tok->own_sep};
    const char *what[3] = {"unk", "cls", "sep"};
    int32_t *slot[3] = {&tok->sid.unk, &tok->sid.cls, &tok->sid.sep};
    for (int k = 0; k < 3; k++) {
        *slot[k] = lookup(tok, must[k], strlen(must[k]), 0);
        if (*slot[k] < 0) {
            pe_error_set(err, PE_ERR_INVALID, "%s: the vocabulary has no %s token \"%s\"", name, what[k],
                         must[k]);
            pe_tokenizer_free(tok);
            return PE_ERR_INVALID;
        }
    }
    tok->sid.pad = tok->own_pad ? lookup(tok, tok->own_pad, strlen(tok->own_pad), 0) : -1;
    tok->sid.mask = tok->own_mask ? lookup(tok, tok->own_mask, strlen(tok->own_mask), 0) : -1;

    /* Never-split list: the five specials present, extra tokens, added specs. */
    add_never_split(tok, tok->own_unk, 0, 0, 0);
    add_never_split(tok, tok->own_cls, 0, 0, 0);
    add_never_split(tok, tok->own_sep, 0, 0, 0);
    if (tok->sid.pad >= 0) add_never_split(tok, tok->own_pad, 0, 0, 0);
    if (tok->sid.mask >= 0) add_never_split(tok, tok->own_mask, 0, 0, 0);
    size_t n_extra_total = opt.n_extra_special_tokens + n_specs;
    tok->own_extra = calloc(n_extra_total ? n_extra_total : 1, sizeof *tok->own_extra);
    if (!tok->own_extra) {
        pe_tokenizer_free(tok);
        return pe_error_set(err, PE_ERR_NOMEM, "%s: out of memory", name);
    }
    size_t n_extra = 0;
    for (size_t i = 0; i < n_extra_total; i++) {
        const char *s = i < opt.n_extra_special_tokens ? opt.extra_special_tokens[i]
                                                       : specs[i - opt.n_extra_special_tokens].content;
        const added_spec *sp = i < opt.n_extra_special_tokens ? NULL : &specs[i - opt.n_extra_special_tokens];
        if (!s || !*s) continue;
        if (add_never_split(tok, s, sp ? sp->lstrip : 0, sp ? sp->rstrip : 0, sp ? sp->single_word : 0) < 0) {
            pe_error_set(err, PE_ERR_INVALID, "%s: special token \"%s\" is not in the vocabulary", name, s);
            tok->opt.n_extra_special_tokens = n_extra;
            pe_tokenizer_free(tok);
            return PE_ERR_INVALID;
        }
        /* Record it in the options unless it is one of the five or a repeat. */
        int seen = !strcmp(s, tok->own_unk) || !strcmp(s, tok->own_cls) || !strcmp(s, tok->own_sep) ||
                   (tok->own_pad && !strcmp(s, tok->own_pad)) || (tok->own_mask && !strcmp(s, tok->own_mask));
        for (size_t j = 0; j < n_extra && !seen; j++) seen = !strcmp(tok->own_extra[j], s);
        if (seen) continue;
        tok->own_extra[n_extra] = strdup(s);
        if (!tok->own_extra[n_extra]) {
            tok->opt.n_extra_special_tokens = n_extra;
            pe_tokenizer_free(tok);
            return pe_error_set(err, PE_ERR_NOMEM, "%s: out of memory", name);
        }
        n_extra++;
    }
    qsort(tok->added, tok->n_added, sizeof *tok->added, cmp_added);
    memset(tok->added_first, 0, sizeof tok->added_first);
    for (size_t i = 0; i < tok->n_added; i++) tok->added_first[(unsigned char)tok->added[i].s[0] + 1]++;
    for (int b = 0; b < 256; b++) tok->added_first[b + 1] += tok->added_first[b];

    tok->opt = opt;
    tok->opt.unk_token = tok->own_unk;
    tok->opt.cls_token = tok->own_cls;
    tok->opt.sep_token = tok->own_sep;
    tok->opt.pad_token = tok->own_pad;
    tok->opt.mask_token = tok->own_mask;
    tok->opt.continuing_subword_prefix = tok->own_prefix;
    tok->opt.extra_special_tokens = (const char *const *)tok->own_extra;
    tok->opt.n_extra_special_tokens = n_extra;
    *out = tok;
    return PE_OK;
}

pe_status pe_tokenizer_new_from_tokens(const char *const *tokens, size_t n_tokens,
                                       const pe_tokenizer_options *opt, pe_tokenizer **out, pe_error *err)
{
    if (!out) return pe_error_set(err, PE_ERR_INVALID, "out is NULL");
    *out = NULL;
    if (!tokens && n_tokens) return pe_error_set(err, PE_ERR_INVALID, "tokens is NULL");
    return tok_build(tokens, n_tokens, opt, NULL, 0, "vocabulary", 0, out, err);
}

/* Splits vocab.txt content into lines as Python's universal newlines do
 * ("\n", "\r\n" and a lone "\r" end a line). */
pe_status pe_tokenizer_new_from_vocab_text(const char *text, size_t len, const char *name,
                                           const pe_tokenizer_options *opt, pe_tokenizer **out,
                                           pe_error *err)
{
    if (!out) return pe_error_set(err, PE_ERR_INVALID, "out is NULL");
    *out = NULL;
    name = name_or(name);
    if (!text && len) return pe_error_set(err, PE_ERR_INVALID, "%s: text is NULL", name);
    size_t bad;
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) { text += 3; len -= 3; }
    if (!pe_utf8_valid(text, len, &bad)) {
        size_t line = 1;
        for (size_t i = 0; i < bad; i++)
            if (text[i] == '\n' || (text[i] == '\r' && (i + 1 >= len || text[i + 1] != '\n'))) line++;
        return pe_error_set(err, PE_ERR_UTF8, "%s: line %zu: invalid UTF-8 at byte %zu of the file", name,
                            line, bad);
    }
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (text[i] == '\n' || (text[i] == '\r' && (i + 1 >= len || text[i + 1] != '\n'))) n++;
    if (len && text[len - 1] != '\n' && text[len - 1] != '\r') n++; /* last line without newline */
    if (n == 0) return pe_error_set(err, PE_ERR_PARSE, "%s: empty vocabulary", name);
    char *copy = malloc(len + 1);
    const char **toks = malloc(n * sizeof *toks);
    if (!copy || !toks) {
        free(copy);
        free(toks);
        return pe_error_set(err, PE_ERR_NOMEM, "%s: out of memory", name);
    }
    if (len) memcpy(copy, text, len);
    copy[len] = '\0';
    size_t k = 0, start = 0;
    for (size_t i = 0; i <= len && k < n; i++) {
        if (i == len || copy[i] == '\n' || copy[i] == '\r') {
            if (i == len && start == len) break;
            int crlf = i < len && copy[i] == '\r' && i + 1 < len && copy[i + 1] == '\n';
            copy[i] = '\0';
            toks[k++] = copy + start;
            if (crlf) i++;
            start = i + 1;
        }
    }
    pe_status st = tok_build(toks, k, opt, NULL, 0, name, 1, out, err);
    free(toks);
    free(copy);
    return st;
}

pe_status pe_tokenizer_open_vocab(const char *path, const pe_tokenizer_options *opt, pe_tokenizer **out,
                                  pe_error *err)
{
    if (!out) return pe_error_set(err, PE_ERR_INVALID, "out is NULL");
    *out = NULL;
    if (!path) return pe_error_set(err, PE_ERR_INVALID, "path is NULL");
    char *buf;
    size_t len;
    pe_status st;
    PE_TRY(st, pe_file_read(path, 0, &buf, &len, err));
    st = pe_tokenizer_new_from_vocab_text(buf, len, path, opt, out, err);
    free(buf);
    return st;
}

/* ---- tokenizer.json -------------------------------------------------------- */

/* What a tokenizer.json (and tokenizer_config.json) says, before building.
 * Strings are borrowed from the cJSON trees. */
typedef struct tok_spec {
    pe_tokenizer_options opt;
    const char **tokens; /* (n) */
    size_t n;
    added_spec *added;   /* (n_added) */
    size_t n_added;
    const char **extra;  /* extra special tokens from tokenizer_config.json */
    size_t n_extra;
} tok_spec;

static void spec_free(tok_spec *s)
{
    free(s->tokens);
    free(s->added);
    free(s->extra);
    memset(s, 0, sizeof *s);
}

static int json_bool(const cJSON *o, const char *key, int *v)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!x) return 0;
    if (cJSON_IsBool(x)) {
        *v = cJSON_IsTrue(x);
        return 1;
    }
    return -1;
}

/* A special token written as "str" or {"content": "str", ...}. */
static const char *json_token_str(const cJSON *x)
{
    if (cJSON_IsString(x)) return x->valuestring;
    if (cJSON_IsObject(x)) {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(x, "content");
        if (cJSON_IsString(c)) return c->valuestring;
    }
    return NULL;
}

/* The special token id string of a TemplateProcessing piece, or NULL. */
static const char *template_special(const cJSON *piece, int *type_id)
{
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(piece, "SpecialToken");
    if (!cJSON_IsObject(sp)) return NULL;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(sp, "id");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(sp, "type_id");
    *type_id = cJSON_IsNumber(t) ? t->valueint : 0;
    return cJSON_IsString(id) ? id->valuestring : NULL;
}

static int template_sequence(const cJSON *piece, const char *which, int type_id)
{
    const cJSON *sq = cJSON_GetObjectItemCaseSensitive(piece, "Sequence");
    if (!cJSON_IsObject(sq)) return 0;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(sq, "id");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(sq, "type_id");
    return cJSON_IsString(id) && !strcmp(id->valuestring, which) &&
           (cJSON_IsNumber(t) ? t->valueint : 0) == type_id;
}

static pe_status parse_post_processor(const cJSON *pp, tok_spec *s, const char *name, pe_error *err)
{
    if (!pp || cJSON_IsNull(pp)) return PE_OK;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(pp, "type");
    if (!cJSON_IsString(type)) return pe_error_set(err, PE_ERR_PARSE, "%s: post_processor.type missing", name);
    if (!strcmp(type->valuestring, "BertProcessing")) {
        const cJSON *cls = cJSON_GetObjectItemCaseSensitive(pp, "cls");
        const cJSON *sep = cJSON_GetObjectItemCaseSensitive(pp, "sep");
        const cJSON *c0 = cJSON_IsArray(cls) ? cJSON_GetArrayItem(cls, 0) : NULL;
        const cJSON *s0 = cJSON_IsArray(sep) ? cJSON_GetArrayItem(sep, 0) : NULL;
        if (!cJSON_IsString(c0) || !cJSON_IsString(s0))
            return pe_error_set(err, PE_ERR_PARSE, "%s: post_processor BertProcessing needs cls and sep", name);
        s->opt.cls_token = c0->valuestring;
        s->opt.sep_token = s0->valuestring;
        return PE_OK;
    }
    if (!strcmp(type->valuestring, "TemplateProcessing")) {
        const cJSON *single = cJSON_GetObjectItemCaseSensitive(pp, "single");
        const cJSON *pair = cJSON_GetObjectItemCaseSensitive(pp, "pair");
        int t0, t1, t2, t3;
        const char *cls = NULL, *sep = NULL;
        if (cJSON_IsArray(single) && cJSON_GetArraySize(single) == 3) {
            cls = template_special(cJSON_GetArrayItem(single, 0), &t0);
            sep = template_special(cJSON_GetArrayItem(single, 2), &t1);
            if (!template_sequence(cJSON_GetArrayItem(single, 1), "A", 0) || t0 || t1) cls = NULL;
        }
        if (cls && sep && pair && !cJSON_IsNull(pair)) {
            const char *c2 = NULL, *s2 = NULL, *s3 = NULL;
            if (cJSON_IsArray(pair) && cJSON_GetArraySize(pair) == 5) {
                c2 = template_special(cJSON_GetArrayItem(pair, 0), &t0);
                s2 = template_special(cJSON_GetArrayItem(pair, 2), &t1);
                s3 = template_special(cJSON_GetArrayItem(pair, 4), &t3);
                t2 = template_sequence(cJSON_GetArrayItem(pair, 1), "A", 0) &&
                     template_sequence(cJSON_GetArrayItem(pair, 3), "B", 1);
                if (!t2 || t0 != 0 || t1 != 0 || t3 != 1) c2 = NULL;
            }
            if (!c2 || !s2 || !s3 || strcmp(c2, cls) || strcmp(s2, sep) || strcmp(s3, sep)) cls = NULL;
        }
        if (!cls || !sep)
            return pe_error_set(err, PE_ERR_UNSUPPORTED,
                                "%s: post_processor TemplateProcessing is not of the BERT shape "
                                "([CLS] $A [SEP] / [CLS] $A [SEP] $B:1 [SEP]:1)", name);
        s->opt.cls_token = cls;
        s->opt.sep_token = sep;
        return PE_OK;
    }
    return pe_error_set(err, PE_ERR_UNSUPPORTED, "%s: post_processor type \"%s\" is not supported", name,
                        type->valuestring);
}

static pe_status parse_tokenizer_json(const cJSON *root, const char *name, tok_spec *s, pe_error *err)
{
    memset(s, 0, sizeof *s);
    s->opt = pe_tokenizer_options_default();
    if (!cJSON_IsObject(root)) return pe_error_set(err, PE_ERR_PARSE, "%s: not a JSON object", name);
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (!cJSON_IsObject(model)) return pe_error_set(err, PE_ERR_PARSE, "%s: no \"model\" object", name);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(model, "type");
    if (type && (!cJSON_IsString(type) || strcmp(type->valuestring, "WordPiece")))
        return pe_error_set(err, PE_ERR_UNSUPPORTED, "%s: model.type \"%s\" is not supported (WordPiece only)",
                            name, cJSON_IsString(type) ? type->valuestring : "?");
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    if (!cJSON_IsObject(vocab)) return pe_error_set(err, PE_ERR_PARSE, "%s: model.vocab is not an object", name);
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(model, "unk_token");
    if (x) {
        if (!cJSON_IsString(x)) return pe_error_set(err, PE_ERR_PARSE, "%s: model.unk_token is not a string", name);
        s->opt.unk_token = x->valuestring;
    }
    x = cJSON_GetObjectItemCaseSensitive(model, "continuing_subword_prefix");
    if (x && !cJSON_IsNull(x)) {
        if (!cJSON_IsString(x))
            return pe_error_set(err, PE_ERR_PARSE, "%s: model.continuing_subword_prefix is not a string", name);
        s->opt.continuing_subword_prefix = x->valuestring;
    }
    x = cJSON_GetObjectItemCaseSensitive(model, "max_input_chars_per_word");
    if (x) {
        if (!cJSON_IsNumber(x) || x->valuedouble < 1 || x->valuedouble > 1e9)
            return pe_error_set(err, PE_ERR_PARSE, "%s: model.max_input_chars_per_word is not a positive integer",
                                name);
        s->opt.max_input_chars_per_word = (int)x->valuedouble;
    }

    const cJSON *norm = cJSON_GetObjectItemCaseSensitive(root, "normalizer");
    if (!norm || cJSON_IsNull(norm)) {
        s->opt.do_lower_case = 0;
        s->opt.strip_accents = 0;
        s->opt.clean_text = 0;
        s->opt.tokenize_chinese_chars = 0;
    } else {
        const cJSON *nt = cJSON_GetObjectItemCaseSensitive(norm, "type");
        if (!cJSON_IsString(nt) || strcmp(nt->valuestring, "BertNormalizer"))
            return pe_error_set(err, PE_ERR_UNSUPPORTED, "%s: normalizer \"%s\" is not supported (BertNormalizer only)",
                                name, cJSON_IsString(nt) ? nt->valuestring : "?");
        int v;
        const char *keys[3] = {"clean_text", "handle_chinese_chars", "lowercase"};
        int *dst[3] = {&s->opt.clean_text, &s->opt.tokenize_chinese_chars, &s->opt.do_lower_case};
        for (int k = 0; k < 3; k++) {
            int r = json_bool(norm, keys[k], &v);
            if (r < 0) return pe_error_set(err, PE_ERR_PARSE, "%s: normalizer.%s is not a boolean", name, keys[k]);
            if (r > 0) *dst[k] = v;
        }
        const cJSON *sa = cJSON_GetObjectItemCaseSensitive(norm, "strip_accents");
        if (!sa || cJSON_IsNull(sa)) s->opt.strip_accents = -1;
        else if (cJSON_IsBool(sa)) s->opt.strip_accents = cJSON_IsTrue(sa);
        else return pe_error_set(err, PE_ERR_PARSE, "%s: normalizer.strip_accents is not a boolean or null", name);
    }
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer");
    if (pre && !cJSON_IsNull(pre)) {
        const cJSON *pt = cJSON_GetObjectItemCaseSensitive(pre, "type");
        if (!cJSON_IsString(pt) || strcmp(pt->valuestring, "BertPreTokenizer"))
            return pe_error_set(err, PE_ERR_UNSUPPORTED,
                                "%s: pre_tokenizer \"%s\" is not supported (BertPreTokenizer only)", name,
                                cJSON_IsString(pt) ? pt->valuestring : "?");
    }
    pe_status st;
    PE_TRY(st, parse_post_processor(cJSON_GetObjectItemCaseSensitive(root, "post_processor"), s, name, err));

    /* Vocabulary: ids of model.vocab and added_tokens, no holes, no clashes. */
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    if (added && !cJSON_IsNull(added) && !cJSON_IsArray(added))
        return pe_error_set(err, PE_ERR_PARSE, "%s: added_tokens is not an array", name);
    double max_id = -1;
    const cJSON *e;
    cJSON_ArrayForEach(e, vocab) {
        if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble >= (1 << 30) ||
            e->valuedouble != (double)(int)e->valuedouble)
            return pe_error_set(err, PE_ERR_PARSE, "%s: model.vocab[\"%s\"] is not a valid id", name, e->string);
        if (e->valuedouble > max_id) max_id = e->valuedouble;
    }
    size_t n_added = 0;
    if (cJSON_IsArray(added)) {
        cJSON_ArrayForEach(e, added) {
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id");
            const cJSON *c = cJSON_GetObjectItemCaseSensitive(e, "content");
            if (!cJSON_IsNumber(id) || id->valuedouble < 0 || id->valuedouble >= (1 << 30) || !cJSON_IsString(c))
                return pe_error_set(err, PE_ERR_PARSE, "%s: added_tokens[%zu] needs an id and a content", name,
                                    n_added);
            if (id->valuedouble > max_id) max_id = id->valuedouble;
            n_added++;
        }
    }
    size_t n = (size_t)(max_id + 1);
    if (n == 0) return pe_error_set(err, PE_ERR_PARSE, "%s: empty vocabulary", name);
    /* Without holes the largest id is below the number of entries; when it
     * is not, a hole lies below that number. So the table has at most one
     * slot per entry (a lying id costs nothing) and the hole is named below. */
    size_t n_entries = (size_t)cJSON_GetArraySize(vocab) + n_added, max_n = n;
    if (n > n_entries) n = n_entries;
    s->tokens = calloc(n, sizeof *s->tokens);
    s->added = calloc(n_added ? n_added : 1, sizeof *s->added);
    if (!s->tokens || !s->added) {
        spec_free(s);
        return pe_error_set(err, PE_ERR_NOMEM, "%s: out of memory", name);
    }
    s->n = n;
    cJSON_ArrayForEach(e, vocab) {
        size_t id = (size_t)e->valuedouble;
        if (id >= n) continue;
        if (s->tokens[id]) {
            pe_error_set(err, PE_ERR_PARSE, "%s: model.vocab: id %zu given to both \"%s\" and \"%s\"", name, id,
                         s->tokens[id], e->string);
            spec_free(s);
            return PE_ERR_PARSE;
        }
        s->tokens[id] = e->string;
    }
    if (cJSON_IsArray(added)) {
        cJSON_ArrayForEach(e, added) {
            size_t id = (size_t)cJSON_GetObjectItemCaseSensitive(e, "id")->valuedouble;
            const char *c = cJSON_GetObjectItemCaseSensitive(e, "content")->valuestring;
            if (id >= n) continue;
            if (s->tokens[id] && strcmp(s->tokens[id], c)) {
                pe_error_set(err, PE_ERR_PARSE, "%s: added token \"%s\" has id %zu, which is \"%s\" in model.vocab",
                             name, c, id, s->tokens[id]);
                spec_free(s);
                return PE_ERR_PARSE;
            }
            s->tokens[id] = c;
            added_spec *a = &s->added[s->n_added++];
            a->content = c;
            int v;
            if (json_bool(e, "lstrip", &v) > 0) a->lstrip = v;
            if (json_bool(e, "rstrip", &v) > 0) a->rstrip = v;
            if (json_bool(e, "single_word", &v) > 0) a->single_word = v;
        }
    }
    for (size_t i = 0; i < n; i++)
        if (!s->tokens[i]) {
            pe_error_set(err, PE_ERR_PARSE, "%s: no token has id %zu (ids must be 0..%zu without holes)", name, i,
                         max_n - 1);
            spec_free(s);
            return PE_ERR_PARSE;
        }
    return PE_OK;
}

static pe_status spec_build(const tok_spec *s, const char *name, pe_tokenizer **out, pe_error *err)
{
    pe_tokenizer_options opt = s->opt;
    opt.extra_special_tokens = s->extra;
    opt.n_extra_special_tokens = s->n_extra;
    return tok_build(s->tokens, s->n, &opt, s->added, s->n_added, name, 0, out, err);
}

static cJSON *parse_json(const char *json, size_t len, const char *name, pe_error *err)
{
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (!root) {
        size_t off = end && end >= json ? (size_t)(end - json) : 0;
        size_t line = 1;
        for (size_t i = 0; i < off && i < len; i++) line += json[i] == '\n';
        pe_error_set(err, PE_ERR_PARSE, "%s: line %zu: invalid JSON near byte %zu", name, line, off);
    }
    return root;
}

pe_status pe_tokenizer_new_from_json(const char *json, size_t len, const char *name, pe_tokenizer **out,
                                     pe_error *err)
{
    if (!out) return pe_error_set(err, PE_ERR_INVALID, "out is NULL");
    *out = NULL;
    name = name ? name : "tokenizer.json";
    if (!json) return pe_error_set(err, PE_ERR_INVALID, "%s: json is NULL", name);
    cJSON *root = parse_json(json, len, name, err);
    if (!root) return PE_ERR_PARSE;
    tok_spec s;
    pe_status st = parse_tokenizer_json(root, name, &s, err);
    if (st < PE_ERR_FIRST) st = spec_build(&s, name, out, err);
    spec_free(&s);
    cJSON_Delete(root);
    return st;
}

pe_status pe_tokenizer_open_json(const char *path, pe_tokenizer **out, pe_error *err)
{
    if (!out) return pe_error_set(err, PE_ERR_INVALID, "out is NULL");
    *out = NULL;
    if (!path) return pe_error_set(err, PE_ERR_INVALID, "path is NULL");
    char *buf;
    size_t len;
    pe_status st;
    PE_TRY(st, pe_file_read(path, 0, &buf, &len, err));
    st = pe_tokenizer_new_from_json(buf, len, path, out, err);
    free(buf);
    return st;
}

/* Applies the explicit keys of tokenizer_config.json to s. */
static pe_status apply_config(const cJSON *cfg, const char *name, tok_spec *s, pe_error *err)
{
    if (!cJSON_IsObject(cfg)) return pe_error_set(err, PE_ERR_PARSE, "%s: not a JSON object", name);
    int v;
    int r = json_bool(cfg, "do_lower_case", &v);
    if (r < 0) return pe_error_set(err, PE_ERR_PARSE, "%s: do_lower_case is not a boolean", name);
    if (r > 0) s->opt.do_lower_case = v;
    r = json_bool(cfg, "tokenize_chinese_chars", &v);
    if (r < 0) return pe_error_set(err, PE_ERR_PARSE, "%s: tokenize_chinese_chars is not a boolean", name);
    if (r > 0) s->opt.tokenize_chinese_chars = v;
    const cJSON *sa = cJSON_GetObjectItemCaseSensitive(cfg, "strip_accents");
    if (sa) {
        if (cJSON_IsNull(sa)) s->opt.strip_accents = -1;
        else if (cJSON_IsBool(sa)) s->opt.strip_accents = cJSON_IsTrue(sa);
        else return pe_error_set(err, PE_ERR_PARSE, "%s: strip_accents is not a boolean or null", name);
    }
    const char *keys[5] = {"unk_token", "cls_token", "sep_token", "pad_token", "mask_token"};
    const char **dst[5] = {&s->opt.unk_token, &s->opt.cls_token, &s->opt.sep_token, &s->opt.pad_token,
                           &s->opt.mask_token};
    for (int k = 0; k < 5; k++) {
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(cfg, keys[k]);
        if (!x || cJSON_IsNull(x)) continue;
        const char *str = json_token_str(x);
        if (!str) return pe_error_set(err, PE_ERR_PARSE, "%s: %s is not a string", name, keys[k]);
        *dst[k] = str;
    }
    const cJSON *extra = cJSON_GetObjectItemCaseSensitive(cfg, "additional_special_tokens");
    if (cJSON_IsArray(extra) && cJSON_GetArraySize(extra) > 0) {
        size_t m = (size_t)cJSON_GetArraySize(extra);
        s->extra = calloc(m, sizeof *s->extra);
        if (!s->extra) return pe_error_set(err, PE_ERR_NOMEM, "%s: out of memory", name);
        const cJSON *e;
        cJSON_ArrayForEach(e, extra) {
            const char *str = json_token_str(e);
            if (!str) return pe_error_set(err, PE_ERR_PARSE, "%s: additional_special_tokens has a non-string", name);
            s->extra[s->n_extra++] = str;
        }
    }
    return PE_OK;
}

static int file_exists(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    fclose(f);
    return 1;
}

pe_status pe_tokenizer_open_dir(const char *dir, pe_tokenizer **out, pe_error *err)
{
    if (!out) return pe_error_set(err, PE_ERR_INVALID, "out is NULL");
    *out = NULL;
    if (!dir) return pe_error_set(err, PE_ERR_INVALID, "dir is NULL");
    char *pj = pe_path_join(dir, "tokenizer.json"), *pv = pe_path_join(dir, "vocab.txt");
    char *pc = pe_path_join(dir, "tokenizer_config.json");
    char *jbuf = NULL, *cbuf = NULL, *vbuf = NULL;
    cJSON *jroot = NULL, *croot = NULL;
    tok_spec s;
    memset(&s, 0, sizeof s);
    pe_status st = PE_OK;
    if (!pj || !pv || !pc) {
        st = pe_error_set(err, PE_ERR_NOMEM, "%s: out of memory", dir);
        goto done;
    }
    int have_json = file_exists(pj), have_vocab = !have_json && file_exists(pv);
    if (!have_json && !have_vocab) {
        st = pe_error_set(err, PE_ERR_IO, "%s: neither tokenizer.json nor vocab.txt found", dir);
        goto done;
    }
    size_t len;
    if (have_json) {
        if ((st = pe_file_read(pj, 0, &jbuf, &len, err)) >= PE_ERR_FIRST) goto done;
        if (!(jroot = parse_json(jbuf, len, pj, err))) {
            st = PE_ERR_PARSE;
            goto done;
        }
        if ((st = parse_tokenizer_json(jroot, pj, &s, err)) >= PE_ERR_FIRST) goto done;
    } else {
        s.opt = pe_tokenizer_options_default();
    }
    if (file_exists(pc)) {
        if ((st = pe_file_read(pc, 0, &cbuf, &len, err)) >= PE_ERR_FIRST) goto done;
        if (!(croot = parse_json(cbuf, len, pc, err))) {
            st = PE_ERR_PARSE;
            goto done;
        }
        if ((st = apply_config(croot, pc, &s, err)) >= PE_ERR_FIRST) goto done;
    }
    if (have_json) {
        st = spec_build(&s, pj, out, err);
    } else {
        pe_tokenizer_options opt = s.opt;
        opt.extra_special_tokens = s.extra;
        opt.n_extra_special_tokens = s.n_extra;
        if ((st = pe_file_read(pv, 0, &vbuf, &len, err)) >= PE_ERR_FIRST) goto done;
        st = pe_tokenizer_new_from_vocab_text(vbuf, len, pv, &opt, out, err);
    }
done:
    spec_free(&s);
    cJSON_Delete(jroot);
    cJSON_Delete(croot);
    free(jbuf);
    free(cbuf);
    free(vbuf);
    free(pj);
    free(pv);
    free(pc);
    return st;
}

/* ---- accessors ------------------------------------------------------------- */

const pe_tokenizer_options *pe_tokenizer_get_options(const pe_tokenizer *tok) { return &tok->opt; }
size_t pe_tokenizer_vocab_size(const pe_tokenizer *tok) { return tok->n_vocab; }

const char *pe_tokenizer_id_to_token(const pe_tokenizer *tok, int32_t id)
{
    if (id < 0 || (size_t)id >= tok->n_vocab) return NULL;
    return tok->tokens[id];
}

int32_t pe_tokenizer_token_to_id(const pe_tokenizer *tok, const char *s, size_t len)
{
    if (!s || len == 0) return -1;
    return lookup(tok, s, len, 0);
}

pe_tokenizer_special_ids pe_tokenizer_get_special_ids(const pe_tokenizer *tok) { return tok->sid; }

/* ---- character classes ------------------------------------------------------ */

/* HF _is_chinese_char: the CJK Unified Ideographs blocks (not Hangul, kana). */
static int is_cjk(int32_t c)
{
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
           (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* Rust char::is_whitespace (the White_Space property). */
static int is_ws(int32_t c)
{
    if (c < 0x80) return c == ' ' || (c >= 9 && c <= 13);
    if (c == 0x85) return 1;
    utf8proc_category_t k = utf8proc_category(c);
    return k == UTF8PROC_CATEGORY_ZS || k == UTF8PROC_CATEGORY_ZL || k == UTF8PROC_CATEGORY_ZP;
}

/* Dropped by clean_text: NUL, U+FFFD and C* except \t \n \r. */
static int is_dropped(int32_t c)
{
    if (c < 0x80) return (c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7F;
    if (c == 0xFFFD) return 1;
    utf8proc_category_t k = utf8proc_category(c);
    return k == UTF8PROC_CATEGORY_CN || k >= UTF8PROC_CATEGORY_CC;
}

static int is_punct(int32_t c)
{
    if (c < 0x80)
        return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
    utf8proc_category_t k = utf8proc_category(c);
    return k >= UTF8PROC_CATEGORY_PC && k <= UTF8PROC_CATEGORY_PO;
}

/* A \w char for added tokens' single_word (letters, marks, digits, Pc). */
static int is_word_char(int32_t c)
{
    if (c < 0x80) return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    utf8proc_category_t k = utf8proc_category(c);
    return (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_NL) || k == UTF8PROC_CATEGORY_PC;
}

/* Decodes the (valid) char at s[i]; returns its byte length. */
static size_t decode(const char *s, size_t len, size_t i, int32_t *cp)
{
    unsigned char b = (unsigned char)s[i];
    if (b < 0x80) {
        *cp = b;
        return 1;
    }
    utf8proc_int32_t c;
    utf8proc_ssize_t n = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(len - i), &c);
    if (n <= 0) { /* cannot happen on validated text */
        *cp = 0xFFFD;
        return 1;
    }
    *cp = c;
    return (size_t)n;
}

/* The char starting before byte i (i > 0). */
static int32_t decode_prev(const char *s, size_t i)
{
    size_t j = i - 1;
    while (j > 0 && ((unsigned char)s[j] & 0xC0) == 0x80) j--;
    int32_t c;
    decode(s, i, j, &c);
    return c;
}

/* ---- token list and word buffer -------------------------------------------- */

static int tl_push(tok_list *l, int32_t id, size_t s, size_t e, int32_t w)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 64;
        int32_t *ids = realloc(l->ids, nc * sizeof *ids);
        if (!ids) return -1;
        l->ids = ids;
        pe_token_span *sp = realloc(l->sp, nc * sizeof *sp);
        if (!sp) return -1;
        l->sp = sp;
        int32_t *wd = realloc(l->word, nc * sizeof *wd);
        if (!wd) return -1;
        l->word = wd;
        l->cap = nc;
    }
    l->ids[l->n] = id;
    l->sp[l->n].start = s;
    l->sp[l->n].end = e;
    l->word[l->n] = w;
    l->n++;
    return 0;
}

static void tl_free(tok_list *l)
{
    free(l->ids);
    free(l->sp);
    free(l->word);
    memset(l, 0, sizeof *l);
}

static void wb_free(word_buf *w)
{
    free(w->b);
    free(w->coff);
    free(w->os);
    free(w->oe);
}

/* Appends normalised char c from original span [os, oe). Chars past
 * `limit` are only counted: such a word becomes one unk token anyway. */
static int wb_push(word_buf *w, int32_t c, size_t os, size_t oe, size_t limit)
{
    if (w->count == 0) w->first_os = os;
    w->count++;
    w->last_oe = oe;
    if (w->count > limit) return 0;
    if (w->nb + 4 > w->bcap) {
        size_t nc = w->bcap ? w->bcap * 2 : 256;
        char *b = realloc(w->b, nc);
        if (!b) return -1;
        w->b = b;
        w->bcap = nc;
    }
    if (w->nc + 2 > w->ccap) {
        size_t nc = w->ccap ? w->ccap * 2 : 64;
        size_t *a = realloc(w->coff, nc * sizeof *a);
        if (!a) return -1;
        w->coff = a;
        a = realloc(w->os, nc * sizeof *a);
        if (!a) return -1;
        w->os = a;
        a = realloc(w->oe, nc * sizeof *a);
        if (!a) return -1;
        w->oe = a;
        w->ccap = nc;
    }
    w->coff[w->nc] = w->nb;
    w->os[w->nc] = os;
    w->oe[w->nc] = oe;
    w->nc++;
    if (c < 0x80) w->b[w->nb++] = (char)c;
    else w->nb += (size_t)utf8proc_encode_char(c, (utf8proc_uint8_t *)w->b + w->nb);
    w->coff[w->nc] = w->nb;
    return 0;
}

/* WordPiece on the buffered word, then clears it. */
static int wb_flush(const pe_tokenizer *tok, word_buf *w, tok_list *out, int32_t *word_id)
{
    if (w->count == 0) return 0;
    if (w->fn) { /* pre-tokenization only: hand the word over (unless too long) */
        pe_status st = w->count > (size_t)tok->opt.max_input_chars_per_word ? PE_OK
                                                                              : w->fn(w->b, w->nb, w->fn_user);
        w->nb = w->nc = w->count = 0;
        if (st < PE_ERR_FIRST) return 0;
        w->fn_st = st;
        return -1;
    }
    int32_t wid = (*word_id)++;
    size_t n = w->nc;
    if (w->count > (size_t)tok->opt.max_input_chars_per_word) {
        w->nb = w->nc = w->count = 0;
        return tl_push(out, tok->sid.unk, w->first_os, w->last_oe, wid);
    }
    size_t mark = out->n, start = 0;
    while (start < n) {
        int cont = start > 0 && tok->prefix_len > 0;
        size_t end = n, maxc = tok->max_chars[start > 0];
        if (end - start > maxc) end = start + maxc;
        int32_t id = -1;
        while (end > start) {
            id = lookup(tok, w->b + w->coff[start], w->coff[end] - w->coff[start], cont);
            if (id >= 0) break;
            end--;
        }
        if (id < 0) {
            out->n = mark;
            w->nb = w->nc = w->count = 0;
            return tl_push(out, tok->sid.unk, w->first_os, w->last_oe, wid);
        }
        if (tl_push(out, id, w->os[start], w->oe[end - 1], wid) < 0) return -1;
        start = end;
    }
    w->nb = w->nc = w->count = 0;
    return 0;
}

/* Normalises the original chars of [from, to) of text and runs
 * pre-tokenization and WordPiece on them. With stop > 0 it returns 1 as
 * soon as out holds stop tokens and no word is in progress (HF stops
 * tokenizing there when it truncates). -1: out of memory. */
static int tokenize_segment(const pe_tokenizer *tok, const char *text, size_t from, size_t to, word_buf *w,
                            tok_list *out, int32_t *word_id, size_t stop, size_t *stopped_at)
{
    const pe_tokenizer_options *o = &tok->opt;
    size_t limit = (size_t)o->max_input_chars_per_word;
    size_t i = from;
    while (i < to) {
        if (stop && out->n >= stop && w->count == 0) {
            *stopped_at = i;
            return 1;
        }
        int32_t c;
        size_t k = decode(text, to, i, &c);
        size_t os = i, oe = i + k;
        i += k;
        if (o->clean_text) {
            if (c == 0 || is_dropped(c)) continue;
            if (is_ws(c)) c = ' ';
        }
        /* Fast path for ASCII: no decomposition, simple lower-casing. */
        if (c < 0x80) {
            if (is_ws(c)) {
                if (wb_flush(tok, w, out, word_id) < 0) return -1;
            } else if (is_punct(c)) {
                if (wb_flush(tok, w, out, word_id) < 0 || wb_push(w, c, os, oe, limit) < 0 ||
                    wb_flush(tok, w, out, word_id) < 0)
                    return -1;
            } else {
                if (o->do_lower_case && c >= 'A' && c <= 'Z') c += 'a' - 'A';
                if (wb_push(w, c, os, oe, limit) < 0) return -1;
            }
            continue;
        }
        int cjk = o->tokenize_chinese_chars && is_cjk(c);
        if (cjk && wb_flush(tok, w, out, word_id) < 0) return -1;
        int32_t buf[24];
        int nbuf = 1;
        buf[0] = c;
        if (o->strip_accents) {
            int bound = 0;
            utf8proc_ssize_t m = utf8proc_decompose_char(c, buf, 12, UTF8PROC_DECOMPOSE, &bound);
            if (m < 0 || m > 12) {
                buf[0] = c;
                m = 1;
            }
            nbuf = 0;
            for (utf8proc_ssize_t j = 0; j < m; j++)
                if (utf8proc_category(buf[j]) != UTF8PROC_CATEGORY_MN) buf[nbuf++] = buf[j];
        }
        if (o->do_lower_case) {
            int32_t low[24];
            int nl = 0;
            for (int j = 0; j < nbuf; j++) {
                if (buf[j] == 0x130) { /* the one unconditional multi-char lower-case mapping */
                    low[nl++] = 0x69;
                    low[nl++] = 0x307;
                } else {
                    low[nl++] = utf8proc_tolower(buf[j]);
                }
            }
            memcpy(buf, low, (size_t)nl * sizeof *buf);
            nbuf = nl;
        }
        for (int j = 0; j < nbuf; j++) {
            int32_t d = buf[j];
            if (is_ws(d)) {
                if (wb_flush(tok, w, out, word_id) < 0) return -1;
            } else if (is_punct(d)) {
                if (wb_flush(tok, w, out, word_id) < 0 || wb_push(w, d, os, oe, limit) < 0 ||
                    wb_flush(tok, w, out, word_id) < 0)
                    return -1;
            } else if (wb_push(w, d, os, oe, limit) < 0) {
                return -1;
            }
        }
        if (cjk && wb_flush(tok, w, out, word_id) < 0) return -1;
    }
    return wb_flush(tok, w, out, word_id);
}

/* Finds the next added token in text[from, len): leftmost, then longest.
 * Returns its index in tok->added or -1; *ms, *me its span (with lstrip /
 * rstrip whitespace, never before `from`). */
static long find_added(const pe_tokenizer *tok, const char *text, size_t len, size_t from, size_t *ms,
                       size_t *me)
{
    for (size_t p = from; p < len; p++) {
        unsigned char b = (unsigned char)text[p];
        uint32_t lo = tok->added_first[b], hi = tok->added_first[b + 1];
        for (uint32_t k = lo; k < hi; k++) {
            const tok_added *a = &tok->added[k];
            if (a->len > len - p || memcmp(text + p, a->s, a->len) != 0) continue;
            size_t s = p, e = p + a->len;
            if (a->single_word) {
                int ok_l = s == 0 || !is_word_char(decode_prev(text, s));
                int32_t nc = 0;
                if (e < len) decode(text, len, e, &nc);
                int ok_r = e == len || !is_word_char(nc);
                if (!ok_l || !ok_r) {
                    p = e - 1; /* the match is consumed, as an Aho-Corasick scan would */
                    break;
                }
            }
            if (a->lstrip)
                while (s > from) {
                    size_t j = s - 1;
                    while (j > from && ((unsigned char)text[j] & 0xC0) == 0x80) j--;
                    int32_t c;
                    decode(text, len, j, &c);
                    if (!is_ws(c)) break;
                    s = j;
                }
            if (a->rstrip)
                while (e < len) {
                    int32_t c;
                    size_t n = decode(text, len, e, &c);
                    if (!is_ws(c)) break;
                    e += n;
                }
            *ms = s;
            *me = e;
            return (long)k;
        }
    }
    return -1;
}

/* Whether text[from, len) would give at least one token: some char that
 * is neither dropped, whitespace nor (with strip_accents) a lone Mn. */
static int rest_has_token(const pe_tokenizer *tok, const char *text, size_t from, size_t len)
{
    size_t i = from;
    while (i < len) {
        int32_t c;
        i += decode(text, len, i, &c);
        if (tok->opt.clean_text && (c == 0 || is_dropped(c))) continue;
        if (is_ws(c)) continue;
        if (tok->opt.strip_accents && c >= 0x80 && utf8proc_category(c) == UTF8PROC_CATEGORY_MN) continue;
        return 1;
    }
    return 0;
}

/* Tokenizes one whole text (no [CLS]/[SEP]), or with stop > 0 only its
 * first words up to stop tokens. `which` names it in errors. */
static pe_status tokenize_text(const pe_tokenizer *tok, const char *text, size_t len, const char *which,
                               size_t stop, tok_list *out, pe_error *err)
{
    size_t bad;
    if (len && !text) return pe_error_set(err, PE_ERR_INVALID, "%s is NULL", which);
    if (!pe_utf8_valid(text, len, &bad))
        return pe_error_set(err, PE_ERR_UTF8, "%s: invalid UTF-8 at byte %zu", which, bad);
    word_buf w;
    memset(&w, 0, sizeof w);
    int32_t word_id = 0;
    size_t pos = 0;
    int rc = 0;
    size_t stopped_at = len;
    while (pos < len && rc == 0) {
        if (stop && out->n >= stop) {
            rc = 1;
            stopped_at = pos;
            break;
        }
        size_t ms = len, me = len;
        long k = tok->n_added ? find_added(tok, text, len, pos, &ms, &me) : -1;
        if (k < 0) ms = me = len;
        rc = tokenize_segment(tok, text, pos, ms, &w, out, &word_id, stop, &stopped_at);
        if (rc == 0 && k >= 0) rc = tl_push(out, tok->added[k].id, ms, me, word_id++);
        pos = me;
    }
    if (rc == 1) {
        out->more = rest_has_token(tok, text, stopped_at, len);
        rc = 0;
    }
    wb_free(&w);
    if (rc < 0) return pe_error_set(err, PE_ERR_NOMEM, "%s: out of memory", which);

    return PE_OK;
}

pe_status pe_tokenizer_pre_tokenize(const pe_tokenizer *tok, const char *text, size_t len,
                                   pe_tokenizer_word_fn fn, void *user, pe_error *err)
{
    if (!tok || !fn) return pe_error_set(err, PE_ERR_INVALID, "tokenizer or word callback is NULL");
    if (len && !text) return pe_error_set(err, PE_ERR_INVALID, "text is NULL");
    size_t bad;
    if (len && !pe_utf8_valid(text, len, &bad))
        return pe_error_set(err, PE_ERR_UTF8, "text: invalid UTF-8 at byte %zu", bad);
    word_buf w;
    memset(&w, 0, sizeof w);
    w.fn = fn;
    w.fn_user = user;
    tok_list none; /* stays empty: wb_flush hands words to fn */
    memset(&none, 0, sizeof none);
    int32_t word_id = 0;
    size_t pos = 0, stopped_at = len;
    int rc = 0;
    /* As tokenize_text, but never-split tokens are skipped, not emitted. */
    while (pos < len && rc == 0) {
        size_t ms = len, me = len;
        long k = tok->n_added ? find_added(tok, text, len, pos, &ms, &me) : -1;
        if (k < 0) ms = me = len;
        rc = tokenize_segment(tok, text, pos, ms, &w, &none, &word_id, 0, &stopped_at);
        pos = me;
    }
    wb_free(&w);
    tl_free(&none);
    if (rc < 0 && w.fn_st >= PE_ERR_FIRST)
        return pe_error_set(err, w.fn_st, "pre-tokenization stopped by the word callback (%s)",
                            pe_status_str(w.fn_st));
    if (rc < 0) return pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    return PE_OK;
}

/* ---- encodings -------------------------------------------------------------- */

void pe_encoding_free(pe_encoding *enc) { free(enc); }

void pe_encodings_free(pe_encoding **encs, size_t n)
{
    if (!encs) return;
    for (size_t i = 0; i < n; i++) free(encs[i]);
    free(encs);
}

/* Token count of a text as HF's truncation sees it: with truncation on,
 * tokenizers stops adding words to an encoding once it holds max_length
 * tokens (the word in progress is finished), so a longer text counts as
 * the end of the word holding token max_length-1. This only changes how
 * longest_first splits a pair when a text exceeds max_length; measured
 * with HF's tokenizers (see tests/fixtures/tokenizer/gen_hf_golden.js).
 * tokenize_text already stops there; this keeps the rule in one place. */
static size_t seen_len(const tok_list *l, size_t max_length)
{
    if (l->n <= max_length || max_length == 0) return l->n;
    size_t c = max_length;
    while (c < l->n && l->word[c] == l->word[c - 1]) c++;
    return c;
}

/* How many tokens of A and B to keep (HF truncate_encodings). */
static pe_status plan_truncation(const tok_list *la, const tok_list *lb, int has_b, const pe_tokenizer_encode_options *o,
                                 size_t *ka, size_t *kb, pe_error *err)
{
    *ka = la->n;
    *kb = lb->n;
    if (o->max_length == 0 || o->truncation == PE_TRUNCATE_NONE) return PE_OK;
    size_t n_special = o->add_special_tokens ? (has_b ? 3 : 2) : 0;
    if (o->max_length < n_special)
        return pe_error_set(err, PE_ERR_INVALID, "max_length %zu is smaller than the %zu special tokens",
                            o->max_length, n_special);
    size_t budget = o->max_length - n_special;
    size_t na = seen_len(la, o->max_length), nb = seen_len(lb, o->max_length), total = na + nb;
    if (budget == 0) { /* HF empties both texts, whatever the strategy */
        *ka = *kb = 0;
        return PE_OK;
    }
    if (total <= budget) { /* fits (possibly after the cut above, when max_length = budget) */
        *ka = na;
        *kb = nb;
        return PE_OK;
    }
    size_t to_remove = total - budget;
    switch (o->truncation) {
    case PE_TRUNCATE_LONGEST_FIRST:
        if (has_b) {
            size_t n1 = na, n2 = nb;
            int swap = n1 > n2;
            if (swap) { size_t t = n1; n1 = n2; n2 = t; }
            n2 = n1 > budget ? n1 : (n1 > budget - n1 ? n1 : budget - n1);
            if (n1 + n2 > budget) {
                n1 = budget / 2;
                n2 = n1 + budget % 2;
            }
            if (swap) { size_t t = n1; n1 = n2; n2 = t; }
            *ka = n1 < na ? n1 : na;
            *kb = n2 < nb ? n2 : nb;
        } else {
            *ka = budget;
        }
        return PE_OK;
    case PE_TRUNCATE_ONLY_FIRST:
        if (na <= to_remove)
            return pe_error_set(err, PE_ERR_INVALID,
                                "only_first truncation: text A has %zu tokens, %zu must go to fit max_length %zu",
                                na, to_remove, o->max_length);
        *ka = na - to_remove;
        return PE_OK;
    case PE_TRUNCATE_ONLY_SECOND:
        if (!has_b) return pe_error_set(err, PE_ERR_INVALID, "only_second truncation without a text B");
        if (nb <= to_remove)
            return pe_error_set(err, PE_ERR_INVALID,
                                "only_second truncation: text B has %zu tokens, %zu must go to fit max_length %zu",
                                nb, to_remove, o->max_length);
        *kb = nb - to_remove;
        return PE_OK;
    default:
        return pe_error_set(err, PE_ERR_INVALID, "unknown truncation strategy %d", (int)o->truncation);
    }
}

static size_t encoded_len(size_t ka, size_t kb, int has_b, const pe_tokenizer_encode_options *o)
{
    return ka + kb + (o->add_special_tokens ? (has_b ? 3 : 2) : 0);
}

/* Copies the first k tokens of sequence `seq` (0 = text A, 1 = text B) into
 * e from position i; returns the position after them. */
static size_t put_tokens(pe_encoding *e, size_t i, const tok_list *t, size_t k, int32_t seq)
{
    for (size_t j = 0; j < k; j++, i++) {
        e->ids[i] = t->ids[j];
        e->type_ids[i] = seq;
        e->attention_mask[i] = 1;
        e->special_mask[i] = 0;
        e->word_ids[i] = t->word[j];
        e->seq_ids[i] = seq;
        e->offsets[i] = t->sp[j];
    }
    return i;
}

static pe_encoding *assemble(const pe_tokenizer *tok, const tok_list *a, size_t ka, const tok_list *b, size_t kb,
                             const pe_tokenizer_encode_options *o, size_t pad_to)
{
    size_t len = encoded_len(ka, kb, b != NULL, o);
    size_t total = pad_to > len ? pad_to : len;
    size_t head = (sizeof(pe_encoding) + 15) & ~(size_t)15;
    size_t cells = total ? total : 1;
    pe_encoding *e = malloc(head + cells * sizeof(pe_token_span) + 6 * cells * sizeof(int32_t));
    if (!e) return NULL;
    char *p = (char *)e + head;
    e->len = total;
    e->offsets = (pe_token_span *)p;
    p += cells * sizeof(pe_token_span);
    int32_t **arrs[6] = {&e->ids, &e->type_ids, &e->attention_mask, &e->special_mask, &e->word_ids, &e->seq_ids};
    for (int k = 0; k < 6; k++) {
        *arrs[k] = (int32_t *)p;
        p += cells * sizeof(int32_t);
    }
    e->n_tokens_a = ka;
    e->n_tokens_b = kb;
    e->truncated = ka < a->n || a->more || (b && (kb < b->n || b->more));
    size_t i = o->pad_left ? total - len : 0;
    size_t pad_start = o->pad_left ? 0 : len, pad_end = o->pad_left ? total - len : total;
    for (size_t j = pad_start; j < pad_end; j++) {
        e->ids[j] = tok->sid.pad;
        e->type_ids[j] = 0;
        e->attention_mask[j] = 0;
        e->special_mask[j] = 1;
        e->word_ids[j] = -1;
        e->seq_ids[j] = -1;
        e->offsets[j].start = e->offsets[j].end = 0;
    }
#define PUT_SPECIAL(id_, type_) do { e->ids[i] = (id_); e->type_ids[i] = (type_); e->attention_mask[i] = 1; \
        e->special_mask[i] = 1; e->word_ids[i] = -1; e->seq_ids[i] = -1; \
        e->offsets[i].start = e->offsets[i].end = 0; i++; } while (0)
    if (o->add_special_tokens) PUT_SPECIAL(tok->sid.cls, 0);
    i = put_tokens(e, i, a, ka, 0);
    if (o->add_special_tokens) PUT_SPECIAL(tok->sid.sep, 0);
    if (b) {
        i = put_tokens(e, i, b, kb, 1);
        if (o->add_special_tokens) PUT_SPECIAL(tok->sid.sep, 1);
    }
#undef PUT_SPECIAL
    return e;
}

static pe_status check_padding(const pe_tokenizer *tok, const pe_tokenizer_encode_options *o, pe_error *err)
{
    if (o->padding == PE_PAD_NONE) return PE_OK;
    if (o->padding != PE_PAD_MAX_LENGTH && o->padding != PE_PAD_LONGEST)
        return pe_error_set(err, PE_ERR_INVALID, "unknown padding mode %d", (int)o->padding);
    if (tok->sid.pad < 0)
        return pe_error_set(err, PE_ERR_INVALID, "padding asked for, but the vocabulary has no pad token \"%s\"",
                            tok->opt.pad_token ? tok->opt.pad_token : "(none)");
    if (o->padding == PE_PAD_MAX_LENGTH && o->max_length == 0)
        return pe_error_set(err, PE_ERR_INVALID, "padding to max_length asked for, but max_length is 0");
    return PE_OK;
}

pe_status pe_tokenizer_encode(const pe_tokenizer *tok, const char *text_a, size_t len_a, const char *text_b,
                              size_t len_b, const pe_tokenizer_encode_options *opt, pe_encoding **out, pe_error *err)
{
    if (!out) return pe_error_set(err, PE_ERR_INVALID, "out is NULL");
    *out = NULL;
    if (!tok) return pe_error_set(err, PE_ERR_INVALID, "tokenizer is NULL");
    const char *const ta[1] = {text_a}, *const tb[1] = {text_b};
    const size_t la[1] = {len_a}, lb[1] = {len_b};
    pe_encoding **encs = NULL;
    pe_status st = pe_tokenizer_encode_batch(tok, ta, la, text_b ? tb : NULL, lb, 1, opt, &encs, err);
    if (st >= PE_ERR_FIRST) return st;
    *out = encs[0];
    free(encs);
    return PE_OK;
}

pe_status pe_tokenizer_encode_batch(const pe_tokenizer *tok, const char *const *texts, const size_t *lens,
                                    const char *const *texts_b, const size_t *lens_b, size_t n,
                                    const pe_tokenizer_encode_options *opt, pe_encoding ***out, pe_error *err)
{
    if (!out) return pe_error_set(err, PE_ERR_INVALID, "out is NULL");
    *out = NULL;
    if (!tok || (!texts && n)) return pe_error_set(err, PE_ERR_INVALID, "tokenizer or texts is NULL");
    pe_tokenizer_encode_options o = opt ? *opt : pe_tokenizer_encode_options_default();
    pe_status st;
    PE_TRY(st, check_padding(tok, &o, err));
    int has_b = texts_b != NULL;
    tok_list *la = calloc(n ? n : 1, sizeof *la), *lb = calloc(n ? n : 1, sizeof *lb);
    size_t *keep = malloc((n ? n : 1) * 2 * sizeof *keep);
    pe_encoding **encs = calloc(n ? n : 1, sizeof *encs);
    if (!la || !lb || !keep || !encs) {
        st = pe_error_set(err, PE_ERR_NOMEM, "out of memory");
        goto fail;
    }
    size_t longest = 0;
    size_t stop = o.truncation != PE_TRUNCATE_NONE ? o.max_length : 0;
    for (size_t i = 0; i < n; i++) {
        char which[64];
        const char *ta = texts[i];
        size_t na = lens ? lens[i] : (ta ? strlen(ta) : 0);
        snprintf(which, sizeof which, n > 1 ? "text %zu A" : "text A", i);
        if ((st = tokenize_text(tok, ta ? ta : "", ta ? na : 0, which, stop, &la[i], err)) >= PE_ERR_FIRST)
            goto fail;
        if (has_b) {
            const char *tb = texts_b[i];
            size_t nb = lens_b ? lens_b[i] : (tb ? strlen(tb) : 0);
            snprintf(which, sizeof which, n > 1 ? "text %zu B" : "text B", i);
            if ((st = tokenize_text(tok, tb ? tb : "", tb ? nb : 0, which, stop, &lb[i], err)) >= PE_ERR_FIRST)
                goto fail;
        }
        if ((st = plan_truncation(&la[i], &lb[i], has_b, &o, &keep[2 * i], &keep[2 * i + 1], err)) >=
            PE_ERR_FIRST) {
            if (n > 1) {
                char msg[PE_ERRMSG_MAX];
                snprintf(msg, sizeof msg, "%s", err ? err->msg : "");
                pe_error_set(err, st, "text %zu: %s", i, msg);
            }
            goto fail;
        }
        size_t l = encoded_len(keep[2 * i], keep[2 * i + 1], has_b, &o);
        if (l > longest) longest = l;
    }
    size_t pad_to = o.padding == PE_PAD_MAX_LENGTH ? o.max_length : o.padding == PE_PAD_LONGEST ? longest : 0;
    for (size_t i = 0; i < n; i++) {
        encs[i] = assemble(tok, &la[i], keep[2 * i], has_b ? &lb[i] : NULL, keep[2 * i + 1], &o, pad_to);
        if (!encs[i]) {
            st = pe_error_set(err, PE_ERR_NOMEM, "out of memory");
            goto fail;
        }
    }
    for (size_t i = 0; i < n; i++) {
        tl_free(&la[i]);
        tl_free(&lb[i]);
    }
    free(la);
    free(lb);
    free(keep);
    *out = encs;
    return PE_OK;
fail:
    for (size_t i = 0; i < n; i++) {
        if (la) tl_free(&la[i]);
        if (lb) tl_free(&lb[i]);
        if (encs) free(encs[i]);
    }
    free(la);
    free(lb);
    free(keep);
    free(encs);
    return st;
}

/* ---- offsets ------------------------------------------------------------------ */

/* A cursor turning increasing byte offsets into code point offsets. */
typedef struct char_cursor { size_t byte, chr; } char_cursor;

static size_t cursor_to(char_cursor *c, const char *text, size_t off)
{
    if (off < c->byte) c->byte = c->chr = 0;
    c->chr += count_chars(text + c->byte, off - c->byte);
    c->byte = off;
    return c->chr;
}

pe_status pe_encoding_char_offsets(const pe_encoding *enc, const char *text_a, size_t len_a, const char *text_b,
                                   size_t len_b, pe_token_span *char_offsets)
{
    if (!enc || !char_offsets) return PE_ERR_INVALID;
    char_cursor cs[2][2];
    memset(cs, 0, sizeof cs);
    for (size_t i = 0; i < enc->len; i++) {
        int s = enc->seq_ids[i];
        if (s < 0) {
            char_offsets[i].start = char_offsets[i].end = 0;
            continue;
        }
        const char *t = s == 0 ? text_a : text_b;
        size_t l = s == 0 ? len_a : len_b;
        if (!t || enc->offsets[i].end > l || enc->offsets[i].start > enc->offsets[i].end) return PE_ERR_INVALID;
        char_offsets[i].start = cursor_to(&cs[s][0], t, enc->offsets[i].start);
        char_offsets[i].end = cursor_to(&cs[s][1], t, enc->offsets[i].end);
    }
    return PE_OK;
}
