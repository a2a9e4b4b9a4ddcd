/* vocab_train.c - WordPiece vocabulary trainer (see pe_vocab.h for the
 * algorithm, the tie-break and the cost). */
#include "pe_vocab.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pe_tokenizer.h"

#define PREFIX "##"
#define PREFIX_LEN 2
#define PROGRESS_EVERY 250

static const char *const default_specials[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};

/* A distinct adjacent pair of symbols (vocabulary ids). */
typedef struct vt_pair {
    int32_t a, b;
    int64_t count;    /* sum of the counts of the words holding it, once per occurrence */
    uint32_t *words;  /* (n) words it was seen in since its last merge; may hold stale
                       * entries (the word lost it since) and repeats */
    uint32_t n, cap;
    uint32_t stamp;   /* merge step that last raised its count (to push it once a step) */
} vt_pair;

/* A max-heap entry: the count the pair had when pushed. */
typedef struct vt_heap_entry {
    int64_t count;
    uint32_t pair;
} vt_heap_entry;

/* State of pe_vocab_trainer_finish only. */
typedef struct vt_train {
    int32_t *syms;     /* every word's symbols back to back */
    size_t *w_sym;     /* (n_words) offset of the word's first symbol in syms */
    uint32_t *w_nsym;  /* (n_words) symbols left in the word (merges shrink it in place) */
    vt_pair *pairs;
    size_t n_pairs, pairs_cap;
    uint32_t *pslot;   /* (pslot_mask+1) pair index + 1, 0 empty */
    size_t pslot_mask;
    vt_heap_entry *heap;
    size_t heap_n, heap_cap;
    uint32_t *touched; /* pairs whose count rose in this merge step */
    size_t n_touched, touched_cap;
    uint32_t step;
    int oom;           /* an allocation failed inside a merge */
} vt_train;

struct pe_vocab_trainer {
    pe_vocab_options opt;   /* special_tokens point to specials below */
    char **specials;        /* (opt.n_special_tokens) own copies */
    pe_tokenizer *pre;      /* the special tokens alone: pre-tokenizer */
    pe_vocab_stats st;
    int finished, failed;
    /* Distinct words with their counts (open addressing on w_hash). */
    char *wtext;            /* word bytes back to back, no separators */
    size_t wtext_len, wtext_cap;
    size_t *w_off;          /* (n_words) */
    uint32_t *w_len;        /* (n_words) */
    uint64_t *w_count;      /* (n_words) */
    uint64_t *w_hash;       /* (n_words) */
    size_t n_words, words_cap;
    uint32_t *wslot;        /* word index + 1, 0 empty */
    size_t wslot_mask;
    pe_status cb_st;        /* error of the word callback, with cb_msg */
    char cb_msg[128];
    /* Vocabulary: id = index; tokens NUL-terminated back to back in ttext. */
    char *ttext;
    size_t ttext_len, ttext_cap;
    size_t *t_off;          /* (n_tok) */
    uint32_t *t_len;        /* (n_tok) */
    uint64_t *t_hash;       /* (n_tok) */
    size_t n_tok, tok_cap;
    uint32_t *tslot;        /* token id + 1, 0 empty */
    size_t tslot_mask;
    const char **tok_ptr;   /* (n_tok) the result, into ttext */
};

/* ---- helpers ------------------------------------------------------------ */

static uint64_t hash_bytes(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 32;
    return h;
}

static uint64_t hash_pair(int32_t a, int32_t b)
{
    uint64_t x = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

/* Grows *p (elements of `size` bytes, capacity *cap) to hold `need`. */
static int grow(void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap) return 0;
    size_t nc = *cap ? *cap : 16;
    while (nc < need) nc *= 2;
    void *q = realloc(*p, nc * size);
    if (!q) return -1;
    *p = q;
    *cap = nc;
    return 0;
}

/* Grows several parallel arrays to one capacity. */
static int grow_n(void **arrs[], const size_t sizes[], int n, size_t *cap, size_t need)
{
    if (need <= *cap) return 0;
    size_t nc = *cap ? *cap : 1024;
    while (nc < need) nc *= 2;
    for (int k = 0; k < n; k++) {
        void *q = realloc(*arrs[k], nc * sizes[k]);
        if (!q) return -1; /* the arrays grown so far stay valid, *cap unchanged */
        *arrs[k] = q;
    }
    *cap = nc;
    return 0;
}

/* Decodes the valid UTF-8 char at s; returns its length. */
static size_t utf8_next(const unsigned char *s, int32_t *cp)
{
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    if (s[0] < 0xE0) {
        *cp = ((s[0] & 0x1F) << 6) | (s[1] & 0x3F);
        return 2;
    }
    if (s[0] < 0xF0) {
        *cp = ((s[0] & 0x0F) << 12) | ((s[1] & 0x3F) << 6) | (s[2] & 0x3F);
        return 3;
    }
    *cp = ((s[0] & 0x07) << 18) | ((s[1] & 0x3F) << 12) | ((s[2] & 0x3F) << 6) | (s[3] & 0x3F);
    return 4;
}

static size_t utf8_put(int32_t c, char *out)
{
    if (c < 0x80) {
        out[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        out[0] = (char)(0xC0 | (c >> 6));
        out[1] = (char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        out[0] = (char)(0xE0 | (c >> 12));
        out[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        out[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (c >> 18));
    out[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((c >> 6) & 0x3F));
    out[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

/* ---- options and construction ------------------------------------------- */

pe_vocab_options pe_vocab_options_default(void)
{
    pe_vocab_options o;
    memset(&o, 0, sizeof o);
    o.vocab_size = 16000;
    o.min_frequency = 2;
    o.limit_alphabet = 1000;
    o.do_lower_case = 1;
    o.strip_accents = -1;
    o.special_tokens = NULL;
    o.n_special_tokens = 0;
    return o;
}

void pe_vocab_trainer_free(pe_vocab_trainer *t)
{
    if (!t) return;
    if (t->specials)
        for (size_t i = 0; i < t->opt.n_special_tokens; i++) free(t->specials[i]);
    free(t->specials);
    pe_tokenizer_free(t->pre);
    free(t->wtext);
    free(t->w_off);
    free(t->w_len);
    free(t->w_count);
    free(t->w_hash);
    free(t->wslot);
    free(t->ttext);
    free(t->t_off);
    free(t->t_len);
    free(t->t_hash);
    free(t->tslot);
    free(t->tok_ptr);
    free(t);
}

static pe_status check_options(const pe_vocab_options *o, const char *const *sp, size_t n, pe_error *err)
{
    if (n == 0) return pe_error_set(err, PE_ERR_INVALID, "vocab: at least one special token is needed");
    if (o->vocab_size == 0 || o->vocab_size > ((size_t)1 << 30))
        return pe_error_set(err, PE_ERR_INVALID, "vocab: vocab_size %zu is out of range (1 .. 2^30)", o->vocab_size);
    if (o->vocab_size < n)
        return pe_error_set(err, PE_ERR_INVALID, "vocab: vocab_size %zu is smaller than the %zu special tokens",
                            o->vocab_size, n);
    if (o->do_lower_case != 0 && o->do_lower_case != 1)
        return pe_error_set(err, PE_ERR_INVALID, "vocab: do_lower_case must be 0 or 1, not %d", o->do_lower_case);
    if (o->strip_accents < -1 || o->strip_accents > 1)
        return pe_error_set(err, PE_ERR_INVALID, "vocab: strip_accents must be -1, 0 or 1, not %d", o->strip_accents);
    for (size_t i = 0; i < n; i++) {
        size_t bad;
        if (!sp[i] || !*sp[i])
            return pe_error_set(err, PE_ERR_INVALID, "vocab: special token %zu is %s", i, sp[i] ? "empty" : "NULL");
        if (strpbrk(sp[i], "\r\n"))
            return pe_error_set(err, PE_ERR_INVALID, "vocab: special token %zu holds a line break", i);
        if (!pe_utf8_valid(sp[i], strlen(sp[i]), &bad))
            return pe_error_set(err, PE_ERR_UTF8, "vocab: special token %zu: invalid UTF-8 at byte %zu", i, bad);
        for (size_t j = 0; j < i; j++)
            if (strcmp(sp[i], sp[j]) == 0)
                return pe_error_set(err, PE_ERR_INVALID, "vocab: special token \"%s\" is given twice", sp[i]);
    }
    return PE_OK;
}

pe_status pe_vocab_trainer_new(const pe_vocab_options *opt, pe_vocab_trainer **out, pe_error *err)
{
    if (!out) return pe_error_set(err, PE_ERR_INVALID, "vocab: out is NULL");
    *out = NULL;
    pe_vocab_options o = opt ? *opt : pe_vocab_options_default();
    const char *const *sp = o.special_tokens;
    size_t n = o.n_special_tokens;
    if (!sp) {
        if (n) return pe_error_set(err, PE_ERR_INVALID, "vocab: special_tokens is NULL");
        sp = default_specials;
        n = sizeof default_specials / sizeof default_specials[0];
    }
    pe_status st;
    PE_TRY(st, check_options(&o, sp, n, err));

    pe_vocab_trainer *t = calloc(1, sizeof *t);
    if (!t) return pe_error_set(err, PE_ERR_NOMEM, "vocab: out of memory");
    t->opt = o;
    t->opt.n_special_tokens = 0; /* counts the copies made, for free */
    t->specials = calloc(n, sizeof *t->specials);
    if (!t->specials) goto nomem;
    for (size_t i = 0; i < n; i++) {
        if (!(t->specials[i] = strdup(sp[i]))) goto nomem;
        t->opt.n_special_tokens++;
    }
    t->opt.special_tokens = (const char *const *)t->specials;

    /* The pre-tokenizer: a vocabulary of the special tokens alone, all never
     * split (the first stands for unk/cls/sep, which must be in it). */
    pe_tokenizer_options to = pe_tokenizer_options_default();
    to.do_lower_case = o.do_lower_case;
    to.strip_accents = o.strip_accents;
    to.unk_token = to.cls_token = to.sep_token = t->specials[0];
    to.pad_token = to.mask_token = NULL;
    to.extra_special_tokens = (const char *const *)t->specials + 1;
    to.n_extra_special_tokens = n - 1;
    st = pe_tokenizer_new_from_tokens((const char *const *)t->specials, n, &to, &t->pre, err);
    if (st >= PE_ERR_FIRST) {
        pe_vocab_trainer_free(t);
        return st;
    }
    t->wslot_mask = (1u << 16) - 1;
    t->wslot = calloc(t->wslot_mask + 1, sizeof *t->wslot);
    if (!t->wslot) goto nomem;
    *out = t;
    return PE_OK;
nomem:
    pe_vocab_trainer_free(t);
    return pe_error_set(err, PE_ERR_NOMEM, "vocab: out of memory");
}

void pe_vocab_trainer_stats(const pe_vocab_trainer *t, pe_vocab_stats *s)
{
    if (!s) return;
    if (!t) {
        memset(s, 0, sizeof *s);
        return;
    }
    *s = t->st;
    if (!t->finished) s->distinct_words = t->n_words;
}

/* ---- word counts -------------------------------------------------------- */

static int words_rehash(pe_vocab_trainer *t)
{
    size_t cap = (t->wslot_mask + 1) * 2;
    uint32_t *s = calloc(cap, sizeof *s);
    if (!s) return -1;
    for (size_t k = 0; k < t->n_words; k++) {
        size_t i = (size_t)t->w_hash[k] & (cap - 1);
        while (s[i]) i = (i + 1) & (cap - 1);
        s[i] = (uint32_t)k + 1;
    }
    free(t->wslot);
    t->wslot = s;
    t->wslot_mask = cap - 1;
    return 0;
}

static pe_status word_fail(pe_vocab_trainer *t, pe_status st, const char *msg)
{
    t->cb_st = st;
    snprintf(t->cb_msg, sizeof t->cb_msg, "%s", msg);
    return st;
}

/* pe_tokenizer_word_fn: counts one word. */
static pe_status count_word(const char *w, size_t len, void *user)
{
    pe_vocab_trainer *t = user;
    uint64_t h = hash_bytes(w, len);
    size_t i = (size_t)h & t->wslot_mask;
    for (;;) {
        uint32_t k = t->wslot[i];
        if (!k) break;
        k--;
        if (t->w_hash[k] == h && t->w_len[k] == len && memcmp(t->wtext + t->w_off[k], w, len) == 0) {
            t->w_count[k]++;
            t->st.words++;
            return PE_OK;
        }
        i = (i + 1) & t->wslot_mask;
    }
    if (t->n_words >= UINT32_MAX - 2) return word_fail(t, PE_ERR_LIMIT, "more than 2^32 - 2 distinct words");
    if (t->wtext_len + len > ((size_t)1 << 40))
        return word_fail(t, PE_ERR_LIMIT, "more than 2^40 bytes of distinct words");
    void **arrs[] = {(void **)&t->w_off, (void **)&t->w_len, (void **)&t->w_count, (void **)&t->w_hash};
    const size_t sizes[] = {sizeof *t->w_off, sizeof *t->w_len, sizeof *t->w_count, sizeof *t->w_hash};
    if (grow_n(arrs, sizes, 4, &t->words_cap, t->n_words + 1) < 0 ||
        grow((void **)&t->wtext, &t->wtext_cap, t->wtext_len + len, 1) < 0)
        return word_fail(t, PE_ERR_NOMEM, "out of memory");
    size_t k = t->n_words;
    memcpy(t->wtext + t->wtext_len, w, len);
    t->w_off[k] = t->wtext_len;
    t->w_len[k] = (uint32_t)len;
    t->w_count[k] = 1;
    t->w_hash[k] = h;
    t->wtext_len += len;
    t->wslot[i] = (uint32_t)k + 1;
    t->n_words++;
    t->st.words++;
    if (t->n_words * 2 > t->wslot_mask + 1 && words_rehash(t) < 0) { /* undo the insertion */
        t->wslot[i] = 0;
        t->n_words--;
        t->wtext_len -= len;
        t->st.words--;
        return word_fail(t, PE_ERR_NOMEM, "out of memory");
    }
    return PE_OK;
}

pe_status pe_vocab_trainer_feed(pe_vocab_trainer *t, const char *text, size_t len, pe_error *err)
{
    if (!t) return pe_error_set(err, PE_ERR_INVALID, "vocab: trainer is NULL");
    if (t->finished || t->failed)
        return pe_error_set(err, PE_ERR_INVALID, "vocab: the trainer has %s; no more text can be fed",
                            t->failed ? "failed" : "finished");
    t->cb_st = PE_OK;
    pe_status st = pe_tokenizer_pre_tokenize(t->pre, text, len, count_word, t, err);
    if (st >= PE_ERR_FIRST && st == t->cb_st) pe_error_set(err, st, "vocab: %s", t->cb_msg);
    if (st >= PE_ERR_FIRST) return st;
    t->st.texts++;
    t->st.bytes += len;
    return PE_OK;
}

/* ---- vocabulary ----------------------------------------------------------- */

static int32_t token_find(const pe_vocab_trainer *t, const char *s, size_t len, uint64_t h)
{
    if (!t->tslot) return -1;
    size_t i = (size_t)h & t->tslot_mask;
    for (;;) {
        uint32_t k = t->tslot[i];
        if (!k) return -1;
        k--;
        if (t->t_hash[k] == h && t->t_len[k] == len && memcmp(t->ttext + t->t_off[k], s, len) == 0)
            return (int32_t)k;
        i = (i + 1) & t->tslot_mask;
    }
}

/* The id of token s, added at the end when new. -1: out of memory. */
static int32_t token_get(pe_vocab_trainer *t, const char *s, size_t len)
{
    uint64_t h = hash_bytes(s, len);
    int32_t id = token_find(t, s, len, h);
    if (id >= 0) return id;
    if ((t->n_tok + 1) * 2 > (t->tslot ? t->tslot_mask + 1 : 0)) {
        size_t cap = t->tslot ? (t->tslot_mask + 1) * 2 : 1024;
        uint32_t *sl = calloc(cap, sizeof *sl);
        if (!sl) return -1;
        for (size_t k = 0; k < t->n_tok; k++) {
            size_t i = (size_t)t->t_hash[k] & (cap - 1);
            while (sl[i]) i = (i + 1) & (cap - 1);
            sl[i] = (uint32_t)k + 1;
        }
        free(t->tslot);
        t->tslot = sl;
        t->tslot_mask = cap - 1;
    }
    void **arrs[] = {(void **)&t->t_off, (void **)&t->t_len, (void **)&t->t_hash};
    const size_t sizes[] = {sizeof *t->t_off, sizeof *t->t_len, sizeof *t->t_hash};
    if (grow_n(arrs, sizes, 3, &t->tok_cap, t->n_tok + 1) < 0 ||
        grow((void **)&t->ttext, &t->ttext_cap, t->ttext_len + len + 1, 1) < 0)
        return -1;
    size_t k = t->n_tok++;
    memcpy(t->ttext + t->ttext_len, s, len);
    t->ttext[t->ttext_len + len] = '\0';
    t->t_off[k] = t->ttext_len;
    t->t_len[k] = (uint32_t)len;
    t->t_hash[k] = h;
    t->ttext_len += len + 1;
    size_t i = (size_t)h & t->tslot_mask;
    while (t->tslot[i]) i = (i + 1) & t->tslot_mask;
    t->tslot[i] = (uint32_t)k + 1;
    return (int32_t)k;
}

/* ---- pairs and the heap ------------------------------------------------------ */

static void train_free(vt_train *r)
{
    free(r->syms);
    free(r->w_sym);
    free(r->w_nsym);
    for (size_t i = 0; i < r->n_pairs; i++) free(r->pairs[i].words);
    free(r->pairs);
    free(r->pslot);
    free(r->heap);
    free(r->touched);
}

static long pair_find(const vt_train *r, int32_t a, int32_t b)
{
    size_t i = (size_t)hash_pair(a, b) & r->pslot_mask;
    for (;;) {
        uint32_t k = r->pslot[i];
        if (!k) return -1;
        const vt_pair *p = &r->pairs[k - 1];
        if (p->a == a && p->b == b) return (long)k - 1;
        i = (i + 1) & r->pslot_mask;
    }
}

/* The index of pair (a, b), added with count 0 when new. -1: no memory. */
static long pair_get(vt_train *r, int32_t a, int32_t b)
{
    size_t i = (size_t)hash_pair(a, b) & r->pslot_mask;
    for (;;) {
        uint32_t k = r->pslot[i];
        if (!k) break;
        const vt_pair *p = &r->pairs[k - 1];
        if (p->a == a && p->b == b) return (long)k - 1;
        i = (i + 1) & r->pslot_mask;
    }
    if (r->n_pairs >= INT32_MAX) return -1;
    if (grow((void **)&r->pairs, &r->pairs_cap, r->n_pairs + 1, sizeof *r->pairs) < 0) return -1;
    size_t k = r->n_pairs++;
    memset(&r->pairs[k], 0, sizeof r->pairs[k]);
    r->pairs[k].a = a;
    r->pairs[k].b = b;
    r->pslot[i] = (uint32_t)k + 1;
    if (r->n_pairs * 2 > r->pslot_mask + 1) {
        size_t cap = (r->pslot_mask + 1) * 2;
        uint32_t *sl = calloc(cap, sizeof *sl);
        if (!sl) {
            r->pslot[i] = 0;
            r->n_pairs--;
            return -1;
        }
        for (size_t j = 0; j < r->n_pairs; j++) {
            size_t s = (size_t)hash_pair(r->pairs[j].a, r->pairs[j].b) & (cap - 1);
            while (sl[s]) s = (s + 1) & (cap - 1);
            sl[s] = (uint32_t)j + 1;
        }
        free(r->pslot);
        r->pslot = sl;
        r->pslot_mask = cap - 1;
    }
    return (long)k;
}

/* Records that word w holds pair p (once per run of calls for the same word). */
static int pair_add_word(vt_pair *p, uint32_t w)
{
    if (p->n && p->words[p->n - 1] == w) return 0;
    if (p->n == p->cap) {
        uint32_t nc = p->cap ? p->cap * 2 : 4;
        if (nc < p->cap) return -1;
        uint32_t *q = realloc(p->words, nc * sizeof *q);
        if (!q) return -1;
        p->words = q;
        p->cap = nc;
    }
    p->words[p->n++] = w;
    return 0;
}

/* Heap order: higher count first; on a tie the smaller (a, b). */
static int heap_before(const vt_train *r, const vt_heap_entry *x, const vt_heap_entry *y)
{
    if (x->count != y->count) return x->count > y->count;
    const vt_pair *p = &r->pairs[x->pair], *q = &r->pairs[y->pair];
    if (p->a != q->a) return p->a < q->a;
    return p->b < q->b;
}

static void heap_down(vt_train *r, size_t i)
{
    vt_heap_entry *h = r->heap;
    size_t n = r->heap_n;
    for (;;) {
        size_t l = 2 * i + 1, best = i;
        if (l < n && heap_before(r, &h[l], &h[best])) best = l;
        if (l + 1 < n && heap_before(r, &h[l + 1], &h[best])) best = l + 1;
        if (best == i) return;
        vt_heap_entry tmp = h[i];
        h[i] = h[best];
        h[best] = tmp;
        i = best;
    }
}

static int heap_push(vt_train *r, int64_t count, uint32_t pair)
{
    if (grow((void **)&r->heap, &r->heap_cap, r->heap_n + 1, sizeof *r->heap) < 0) return -1;
    size_t i = r->heap_n++;
    r->heap[i].count = count;
    r->heap[i].pair = pair;
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (!heap_before(r, &r->heap[i], &r->heap[up])) break;
        vt_heap_entry tmp = r->heap[i];
        r->heap[i] = r->heap[up];
        r->heap[up] = tmp;
        i = up;
    }
    return 0;
}

static vt_heap_entry heap_pop(vt_train *r)
{
    vt_heap_entry top = r->heap[0];
    r->heap[0] = r->heap[--r->heap_n];
    heap_down(r, 0);
    return top;
}

/* ---- merging ----------------------------------------------------------------- */

static void pair_dec(vt_train *r, int32_t a, int32_t b, int64_t c)
{
    long p = pair_find(r, a, b);
    if (p >= 0) r->pairs[p].count -= c; /* always found: the pair was in the word */
}

static void pair_inc(vt_train *r, int32_t a, int32_t b, int64_t c, uint32_t w)
{
    long p = pair_get(r, a, b);
    if (p < 0) {
        r->oom = 1;
        return;
    }
    vt_pair *q = &r->pairs[p];
    q->count += c;
    if (pair_add_word(q, w) < 0) r->oom = 1;
    if (q->stamp != r->step) {
        q->stamp = r->step;
        if (grow((void **)&r->touched, &r->touched_cap, r->n_touched + 1, sizeof *r->touched) < 0) r->oom = 1;
        else r->touched[r->n_touched++] = (uint32_t)p;
    }
}

/* Replaces every (a, b) in word w by nw, left to right, updating the
 * counts of the neighbouring pairs (the count of (a, b) itself is the
 * caller's). In place: the word only shrinks. */
static void merge_word(vt_train *r, const pe_vocab_trainer *t, uint32_t w, int32_t a, int32_t b, int32_t nw)
{
    int32_t *s = r->syms + r->w_sym[w];
    uint32_t n = r->w_nsym[w], i = 0, j = 0;
    int64_t c = (int64_t)t->w_count[w];
    while (i < n) {
        if (i + 1 < n && s[i] == a && s[i + 1] == b) {
            if (j > 0) { /* s[j-1] is the (possibly just merged) left neighbour */
                pair_dec(r, s[j - 1], a, c);
                pair_inc(r, s[j - 1], nw, c, w);
            }
            if (i + 2 < n) {
                pair_dec(r, b, s[i + 2], c);
                pair_inc(r, nw, s[i + 2], c, w);
            }
            s[j++] = nw;
            i += 2;
        } else {
            s[j++] = s[i++];
        }
    }
    r->w_nsym[w] = j;
}

typedef struct vt_char_count {
    uint64_t count;
    int32_t c;
    uint32_t idx; /* in vt_chars */
} vt_char_count;

/* More frequent first; on a tie the smaller code point. */
static int cmp_char_by_count(const void *pa, const void *pb)
{
    const vt_char_count *a = pa, *b = pb;
    if (a->count != b->count) return a->count > b->count ? -1 : 1;
    return a->c < b->c ? -1 : a->c > b->c;
}

static int cmp_char_by_code(const void *pa, const void *pb)
{
    const vt_char_count *a = pa, *b = pb;
    return a->c < b->c ? -1 : a->c > b->c;
}

static void report(pe_vocab_trainer *t)
{
    if (t->opt.progress) t->opt.progress(&t->st, t->opt.progress_user);
}

/* The distinct chars of the words: an open-addressing map from code point
 * to its count and symbol ids (a few thousand entries on real text). */
typedef struct vt_char {
    int32_t c;
    int32_t plain, cont; /* ids of "c" and "##c"; -1 none (cont -2: needed) */
    uint64_t count;      /* occurrences, weighted by the words' counts */
} vt_char;

typedef struct vt_chars {
    vt_char *v;        /* (n) */
    size_t n, cap;
    uint32_t *slot;    /* (mask+1) index + 1, 0 empty */
    size_t mask;
    int32_t ascii[128];/* index of an ASCII char, -1 none */
} vt_chars;

static void chars_free(vt_chars *m)
{
    free(m->v);
    free(m->slot);
}

/* The index of char c; with add, added when absent (-1: no memory),
 * else -1 when absent. */
static long chars_find(vt_chars *m, int32_t c, int add)
{
    if (c < 128 && m->ascii[c] >= 0) return m->ascii[c];
    size_t i = 0;
    if (m->slot) {
        i = (size_t)hash_pair(c, 0) & m->mask;
        for (;;) {
            uint32_t k = m->slot[i];
            if (!k) break;
            if (m->v[k - 1].c == c) return (long)k - 1;
            i = (i + 1) & m->mask;
        }
    }
    if (!add) return -1;
    if ((m->n + 1) * 2 > (m->slot ? m->mask + 1 : 0)) {
        size_t cap = m->slot ? (m->mask + 1) * 2 : 256;
        uint32_t *sl = calloc(cap, sizeof *sl);
        if (!sl) return -1;
        for (size_t k = 0; k < m->n; k++) {
            size_t j = (size_t)hash_pair(m->v[k].c, 0) & (cap - 1);
            while (sl[j]) j = (j + 1) & (cap - 1);
            sl[j] = (uint32_t)k + 1;
        }
        free(m->slot);
        m->slot = sl;
        m->mask = cap - 1;
        i = (size_t)hash_pair(c, 0) & m->mask;
        while (m->slot[i]) i = (i + 1) & m->mask;
    }
    if (grow((void **)&m->v, &m->cap, m->n + 1, sizeof *m->v) < 0) return -1;
    size_t k = m->n++;
    m->v[k].c = c;
    m->v[k].plain = m->v[k].cont = -1;
    m->v[k].count = 0;
    m->slot[i] = (uint32_t)k + 1;
    if (c < 128) m->ascii[c] = (int32_t)k;
    return (long)k;
}

/* Steps 2-4 of pe_vocab.h. */
static pe_status train(pe_vocab_trainer *t, pe_error *err)
{
    pe_status st = PE_OK;
    vt_train r;
    memset(&r, 0, sizeof r);
    vt_chars ch;
    memset(&ch, 0, sizeof ch);
    for (int c = 0; c < 128; c++) ch.ascii[c] = -1;
    vt_char_count *order = NULL; /* the chars to sort */
    char *buf = NULL;
    size_t buf_cap = 0;

    /* Specials first, ids 0..S-1. */
    for (size_t i = 0; i < t->opt.n_special_tokens; i++)
        if (token_get(t, t->specials[i], strlen(t->specials[i])) < 0) goto nomem;

    /* Alphabet: char counts weighted by the words' counts. */
    for (size_t w = 0; w < t->n_words; w++) {
        const unsigned char *s = (const unsigned char *)t->wtext + t->w_off[w], *e = s + t->w_len[w];
        while (s < e) {
            int32_t c;
            s += utf8_next(s, &c);
            long k = chars_find(&ch, c, 1);
            if (k < 0) goto nomem;
            ch.v[k].count += t->w_count[w];
        }
    }
    size_t nch = ch.n;
    order = malloc((nch ? nch : 1) * sizeof *order);
    if (!order) goto nomem;
    for (size_t i = 0; i < nch; i++) {
        order[i].count = ch.v[i].count;
        order[i].c = ch.v[i].c;
        order[i].idx = (uint32_t)i;
    }
    t->st.chars = nch;
    size_t keep = nch;
    if (t->opt.limit_alphabet && nch > t->opt.limit_alphabet) {
        qsort(order, nch, sizeof *order, cmp_char_by_count);
        keep = t->opt.limit_alphabet;
    }
    qsort(order, keep, sizeof *order, cmp_char_by_code);
    t->st.alphabet = keep;
    char u[8];
    for (size_t i = 0; i < keep; i++) {
        int32_t id = token_get(t, u, utf8_put(order[i].c, u));
        if (id < 0) goto nomem;
        ch.v[order[i].idx].plain = id;
    }

    /* "##c" for the kept chars found after a word's first char; symbols. */
    size_t total = 0;
    for (size_t w = 0; w < t->n_words; w++) {
        const unsigned char *s = (const unsigned char *)t->wtext + t->w_off[w], *e = s + t->w_len[w];
        int first = 1;
        while (s < e) {
            int32_t c;
            s += utf8_next(s, &c);
            vt_char *x = &ch.v[chars_find(&ch, c, 0)]; /* every char is there */
            if (x->plain >= 0) {
                total++;
                if (!first) x->cont = -2; /* needed; id below */
            }
            first = 0;
        }
    }
    memcpy(u, PREFIX, PREFIX_LEN);
    for (size_t i = 0; i < keep; i++) {
        vt_char *x = &ch.v[order[i].idx];
        if (x->cont != -2) continue;
        int32_t id = token_get(t, u, PREFIX_LEN + utf8_put(x->c, u + PREFIX_LEN));
        if (id < 0) goto nomem;
        x->cont = id;
        t->st.continuation++;
    }
    if (total > (size_t)INT32_MAX) {
        st = pe_error_set(err, PE_ERR_LIMIT, "vocab: %zu symbols is more than 2^31 - 1", total);
        goto out;
    }
    r.syms = malloc((total ? total : 1) * sizeof *r.syms);
    r.w_sym = malloc((t->n_words ? t->n_words : 1) * sizeof *r.w_sym);
    r.w_nsym = malloc((t->n_words ? t->n_words : 1) * sizeof *r.w_nsym);
    if (!r.syms || !r.w_sym || !r.w_nsym) goto nomem;
    size_t at = 0;
    for (size_t w = 0; w < t->n_words; w++) {
        const unsigned char *s = (const unsigned char *)t->wtext + t->w_off[w], *e = s + t->w_len[w];
        int first = 1;
        r.w_sym[w] = at;
        while (s < e) {
            int32_t c;
            s += utf8_next(s, &c);
            const vt_char *x = &ch.v[chars_find(&ch, c, 0)];
            if (x->plain >= 0) r.syms[at++] = first ? x->plain : x->cont;
            first = 0;
        }
        r.w_nsym[w] = (uint32_t)(at - r.w_sym[w]);
    }
    chars_free(&ch);
    memset(&ch, 0, sizeof ch);
    free(order);
    order = NULL;

    /* Initial pair counts and word lists. */
    r.pslot_mask = (1u << 16) - 1;
    r.pslot = calloc(r.pslot_mask + 1, sizeof *r.pslot);
    if (!r.pslot) goto nomem;
    for (size_t w = 0; w < t->n_words; w++) {
        const int32_t *s = r.syms + r.w_sym[w];
        for (uint32_t i = 0; i + 1 < r.w_nsym[w]; i++) {
            long p = pair_get(&r, s[i], s[i + 1]);
            if (p < 0 || pair_add_word(&r.pairs[p], (uint32_t)w) < 0) goto nomem;
            r.pairs[p].count += (int64_t)t->w_count[w];
        }
    }
    t->st.pairs = r.n_pairs;
    r.heap = malloc((r.n_pairs ? r.n_pairs : 1) * sizeof *r.heap);
    if (!r.heap) goto nomem;
    r.heap_cap = r.n_pairs ? r.n_pairs : 1;
    for (size_t p = 0; p < r.n_pairs; p++) {
        r.heap[p].count = r.pairs[p].count;
        r.heap[p].pair = (uint32_t)p;
    }
    r.heap_n = r.n_pairs;
    for (size_t i = r.heap_n / 2; i-- > 0;) heap_down(&r, i);
    t->st.vocab_size = t->n_tok;
    report(t);

    /* Merges. */
    uint64_t min_freq = t->opt.min_frequency;
    t->st.stop = PE_VOCAB_STOP_SIZE;
    while (t->n_tok < t->opt.vocab_size) {
        if (r.heap_n == 0) {
            t->st.stop = PE_VOCAB_STOP_NO_PAIRS;
            break;
        }
        vt_heap_entry top = heap_pop(&r);
        vt_pair *p = &r.pairs[top.pair];
        if (top.count != p->count) { /* stale: back with the current count */
            if (p->count > 0 && heap_push(&r, p->count, top.pair) < 0) goto nomem;
            continue;
        }
        if (p->count < 1 || (uint64_t)p->count < min_freq) {
            t->st.stop = PE_VOCAB_STOP_MIN_FREQUENCY;
            break;
        }
        int32_t a = p->a, b = p->b;
        const char *sa = t->ttext + t->t_off[a], *sb = t->ttext + t->t_off[b];
        size_t la = t->t_len[a], lb = t->t_len[b];
        if (lb > PREFIX_LEN && memcmp(sb, PREFIX, PREFIX_LEN) == 0) {
            sb += PREFIX_LEN;
            lb -= PREFIX_LEN;
        }
        if (grow((void **)&buf, &buf_cap, la + lb, 1) < 0) goto nomem;
        memcpy(buf, sa, la);
        memcpy(buf + la, sb, lb);
        int32_t nw = token_get(t, buf, la + lb);
        if (nw < 0) goto nomem;
        uint32_t *words = p->words, nwords = p->n; /* p is not valid past here */
        r.pairs[top.pair].words = NULL;
        r.pairs[top.pair].n = r.pairs[top.pair].cap = 0;
        r.step++;
        r.n_touched = 0;
        for (uint32_t k = 0; k < nwords; k++) merge_word(&r, t, words[k], a, b, nw);
        free(words);
        if (r.oom) goto nomem;
        r.pairs[top.pair].count = 0;
        for (size_t k = 0; k < r.n_touched; k++) {
            const vt_pair *q = &r.pairs[r.touched[k]];
            if (q->count > 0 && heap_push(&r, q->count, r.touched[k]) < 0) goto nomem;
        }
        t->st.merges++;
        t->st.last_count = (uint64_t)top.count;
        t->st.vocab_size = t->n_tok;
        if (t->st.merges % PROGRESS_EVERY == 0) report(t);
    }
    t->st.vocab_size = t->n_tok;
    goto out;
nomem:
    st = pe_error_set(err, PE_ERR_NOMEM, "vocab: out of memory while training");
out:
    chars_free(&ch);
    free(order);
    free(buf);
    train_free(&r);
    return st;
}

pe_status pe_vocab_trainer_finish(pe_vocab_trainer *t, const char *const **tokens, size_t *n_tokens, pe_error *err)
{
    if (tokens) *tokens = NULL;
    if (n_tokens) *n_tokens = 0;
    if (!t) return pe_error_set(err, PE_ERR_INVALID, "vocab: trainer is NULL");
    if (t->failed) return pe_error_set(err, PE_ERR_INVALID, "vocab: the trainer failed earlier");
    if (!t->finished) {
        t->st.distinct_words = t->n_words;
        pe_status st = train(t, err);
        if (st < PE_ERR_FIRST) {
            t->tok_ptr = malloc((t->n_tok ? t->n_tok : 1) * sizeof *t->tok_ptr);
            if (!t->tok_ptr) st = pe_error_set(err, PE_ERR_NOMEM, "vocab: out of memory");
        }
        if (st >= PE_ERR_FIRST) {
            t->failed = 1;
            return st;
        }
        for (size_t i = 0; i < t->n_tok; i++) t->tok_ptr[i] = t->ttext + t->t_off[i];
        t->finished = 1;
        /* The word counts are no longer needed. */
        free(t->wtext);
        free(t->w_off);
        free(t->w_len);
        free(t->w_count);
        free(t->w_hash);
        free(t->wslot);
        t->wtext = NULL;
        t->w_off = NULL;
        t->w_len = NULL;
        t->w_count = NULL;
        t->w_hash = NULL;
        t->wslot = NULL;
        report(t);
    }
    if (tokens) *tokens = t->tok_ptr;
    if (n_tokens) *n_tokens = t->n_tok;
    return PE_OK;
}

pe_status pe_vocab_trainer_write(pe_vocab_trainer *t, const char *path, pe_error *err)
{
    const char *const *toks;
    size_t n;
    pe_status st;
    if (!path) return pe_error_set(err, PE_ERR_INVALID, "vocab: path is NULL");
    PE_TRY(st, pe_vocab_trainer_finish(t, &toks, &n, err));
    size_t pl = strlen(path);
    char *tmp = malloc(pl + 5);
    if (!tmp) return pe_error_set(err, PE_ERR_NOMEM, "vocab: out of memory");
    memcpy(tmp, path, pl);
    memcpy(tmp + pl, ".tmp", 5);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        st = pe_error_set(err, PE_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
        free(tmp);
        return st;
    }
    int bad = 0;
    for (size_t i = 0; i < n && !bad; i++) bad = fputs(toks[i], f) == EOF || fputc('\n', f) == EOF;
    bad |= fflush(f) != 0;
    int e = errno;
    bad |= fclose(f) != 0;
    if (bad) {
        st = pe_error_set(err, PE_ERR_IO, "%s: cannot write: %s", tmp, strerror(e ? e : errno));
        remove(tmp);
        free(tmp);
        return st;
    }
    if (rename(tmp, path) != 0) {
        st = pe_error_set(err, PE_ERR_IO, "%s: cannot rename to %s: %s", tmp, path, strerror(errno));
        remove(tmp);
        free(tmp);
        return st;
    }
    free(tmp);
    return PE_OK;
}
