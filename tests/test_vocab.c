/* test_vocab.c - pe_tokenizer_pre_tokenize and the WordPiece vocabulary
 * trainer (encoder/pe_vocab.h), and `persona vocab` end to end. Expected
 * merges are worked out by hand in the comments. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "pe_test.h"
#include "pe_tokenizer.h"
#include "pe_vocab.h"

static char tmp[64];

/* ---- pre-tokenization ---------------------------------------------------- */

typedef struct words {
    char *w[256];
    size_t n;
    size_t stop_at; /* the callback fails at this word (0: never) */
} words;

static pe_status collect(const char *w, size_t len, void *user)
{
    words *ws = user;
    if (ws->stop_at && ws->n + 1 == ws->stop_at) return PE_ERR_LIMIT;
    if (ws->n < 256) {
        ws->w[ws->n] = malloc(len + 1);
        memcpy(ws->w[ws->n], w, len);
        ws->w[ws->n][len] = '\0';
        ws->n++;
    }
    return PE_OK;
}

static void words_free(words *ws)
{
    for (size_t i = 0; i < ws->n; i++) free(ws->w[i]);
    memset(ws, 0, sizeof *ws);
}

static pe_tokenizer *specials_tokenizer(int lower, int strip)
{
    const char *v[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    pe_tokenizer_options o = pe_tokenizer_options_default();
    o.do_lower_case = lower;
    o.strip_accents = strip;
    pe_tokenizer *tok = NULL;
    pe_error err;
    PE_CHECK(pe_tokenizer_new_from_tokens(v, 5, &o, &tok, &err) == PE_OK);
    return tok;
}

/* Pre-tokenizes text, compares with the expected words (NULL-terminated). */
static void check_words(const pe_tokenizer *tok, const char *text, const char *const *expect)
{
    words ws;
    memset(&ws, 0, sizeof ws);
    pe_error err;
    PE_CHECK_EQ_INT(pe_tokenizer_pre_tokenize(tok, text, strlen(text), collect, &ws, &err), PE_OK);
    size_t n = 0;
    while (expect[n]) n++;
    PE_CHECK_MSG(ws.n == n, "\"%s\": %zu words, expected %zu", text, ws.n, n);
    for (size_t i = 0; i < n && i < ws.n; i++) PE_CHECK_EQ_STR(ws.w[i], expect[i]);
    words_free(&ws);
}

static void test_pre_tokenize_rules(void)
{
    pe_tokenizer *unc = specials_tokenizer(1, -1), *cased = specials_tokenizer(0, -1),
                 *lower_keep = specials_tokenizer(1, 0);
    if (!unc || !cased || !lower_keep) return;
    check_words(unc, "Héllo, WORLD!", (const char *[]){"hello", ",", "world", "!", NULL});
    check_words(cased, "Héllo, WORLD!", (const char *[]){"Héllo", ",", "WORLD", "!", NULL});
    /* İ: NFD I + U+0307, the mark stripped, then lower-cased. */
    check_words(unc, "İstanbul", (const char *[]){"istanbul", NULL});
    /* lower-casing without stripping: İ -> i U+0307 */
    check_words(lower_keep, "İstanbul", (const char *[]){"i\xcc\x87stanbul", NULL});
    /* CJK chars are words; kana are not CJK in BERT's sense. */
    check_words(unc, "中文abc ひらがな", (const char *[]){"中", "文", "abc", "ひらかな", NULL}); /* dakuten is Mn */
    /* control chars dropped without splitting; tab and NBSP split */
    check_words(unc, "a\x01" "b\tc\xc2\xa0" "d", (const char *[]){"ab", "c", "d", NULL});
    /* Unicode punctuation (« » —) is a word of its own */
    check_words(unc, "«ça»—x", (const char *[]){"«", "ca", "»", "—", "x", NULL});
    /* never-split specials are cut out and not passed */
    check_words(unc, "a[SEP]b [CLS] [unk]", (const char *[]){"a", "b", "[", "unk", "]", NULL});
    check_words(unc, "", (const char *[]){NULL});
    check_words(unc, " \t\r\n ", (const char *[]){NULL});
    /* a word of more than 100 chars is not passed; its neighbours are */
    char longw[160];
    memset(longw, 'x', 101);
    snprintf(longw + 101, sizeof longw - 101, " ok");
    check_words(unc, longw, (const char *[]){"ok", NULL});
    longw[100] = ' '; /* exactly 100 chars: passed */
    char hundred[101];
    memcpy(hundred, longw, 100);
    hundred[100] = '\0';
    check_words(unc, longw, (const char *[]){hundred, "ok", NULL});
    pe_tokenizer_free(unc);
    pe_tokenizer_free(cased);
    pe_tokenizer_free(lower_keep);
}

/* The words pre_tokenize gives are the words encode tokenizes: a
 * vocabulary of exactly those words encodes the text into them, in order,
 * without [UNK]. */
static void test_pre_tokenize_matches_encode(void)
{
    static const char *texts[] = {
        "Héllo, WORLD! Ünïcödé façade naïve ŒUVRE ß ﬁne",
        "İstanbul ΟΔΟΣ Straße DŽungla",
        "中文abc 한국어 ひらがな 𠀀x",
        "tab\there\x01" "ctrl\xe2\x80\x8b" "zw nbsp\xc2\xa0x line\xe2\x80\xa8sep",
        "don't \"quote\" (paren) [br] {cur} a-b_c ¿qué? ¡sí! …dots “curly” 1,000.5",
        "e\xcc\x81 combining á x\xcc\xa3\xcc\x81 mixed",
        "emoji 😀 and ✓ and ™ and ½",
    };
    for (int cfg = 0; cfg < 3; cfg++) {
        int lower = cfg != 1, strip = cfg == 2 ? 0 : -1;
        pe_tokenizer *pre = specials_tokenizer(lower, strip);
        if (!pre) return;
        for (size_t t = 0; t < sizeof texts / sizeof texts[0]; t++) {
            words ws;
            memset(&ws, 0, sizeof ws);
            pe_error err;
            PE_CHECK_EQ_INT(pe_tokenizer_pre_tokenize(pre, texts[t], strlen(texts[t]), collect, &ws, &err), PE_OK);
            PE_CHECK(ws.n > 3);
            /* vocabulary: specials then the distinct words */
            const char *v[300] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
            size_t nv = 5;
            for (size_t i = 0; i < ws.n; i++) {
                int dup = 0;
                for (size_t j = 5; j < nv && !dup; j++) dup = strcmp(v[j], ws.w[i]) == 0;
                if (!dup) v[nv++] = ws.w[i];
            }
            pe_tokenizer_options o = pe_tokenizer_options_default();
            o.do_lower_case = lower;
            o.strip_accents = strip;
            pe_tokenizer *tok = NULL;
            PE_CHECK_EQ_INT(pe_tokenizer_new_from_tokens(v, nv, &o, &tok, &err), PE_OK);
            pe_tokenizer_encode_options eo = pe_tokenizer_encode_options_default();
            eo.add_special_tokens = 0;
            pe_encoding *e = NULL;
            if (tok) PE_CHECK_EQ_INT(pe_tokenizer_encode(tok, texts[t], strlen(texts[t]), NULL, 0, &eo, &e, &err), PE_OK);
            if (e) {
                PE_CHECK_MSG(e->len == ws.n, "cfg %d text %zu: %zu tokens, %zu words", cfg, t, e->len, ws.n);
                for (size_t i = 0; i < e->len && i < ws.n; i++) {
                    PE_CHECK_EQ_STR(pe_tokenizer_id_to_token(tok, e->ids[i]), ws.w[i]);
                    PE_CHECK_EQ_INT(e->word_ids[i], (int)i);
                }
            }
            pe_encoding_free(e);
            pe_tokenizer_free(tok);
            words_free(&ws);
        }
        pe_tokenizer_free(pre);
    }
}

static void test_pre_tokenize_errors(void)
{
    pe_tokenizer *tok = specials_tokenizer(1, -1);
    if (!tok) return;
    words ws;
    memset(&ws, 0, sizeof ws);
    pe_error err;
    const char bad[] = "good words \xc3\x28 after";
    PE_CHECK_EQ_INT(pe_tokenizer_pre_tokenize(tok, bad, strlen(bad), collect, &ws, &err), PE_ERR_UTF8);
    PE_CHECK(strstr(err.msg, "byte 11") != NULL);
    PE_CHECK_EQ_INT(ws.n, 0); /* nothing before the bad byte either */
    PE_CHECK_EQ_INT(pe_tokenizer_pre_tokenize(tok, "a", 1, NULL, &ws, &err), PE_ERR_INVALID);
    PE_CHECK_EQ_INT(pe_tokenizer_pre_tokenize(NULL, "a", 1, collect, &ws, &err), PE_ERR_INVALID);
    PE_CHECK_EQ_INT(pe_tokenizer_pre_tokenize(tok, NULL, 3, collect, &ws, &err), PE_ERR_INVALID);
    PE_CHECK_EQ_INT(pe_tokenizer_pre_tokenize(tok, NULL, 0, collect, &ws, &err), PE_OK);
    /* the callback's error stops the run and is returned */
    ws.stop_at = 3;
    PE_CHECK_EQ_INT(pe_tokenizer_pre_tokenize(tok, "a b c d e", 9, collect, &ws, &err), PE_ERR_LIMIT);
    PE_CHECK_EQ_INT(ws.n, 2);
    words_free(&ws);
    pe_tokenizer_free(tok);
}

/* ---- trainer --------------------------------------------------------------- */

/* The HF course corpus: hug x10, pug x5, pun x12, bun x4, hugs x5. */
static void feed_hug(pe_vocab_trainer *t)
{
    static const struct { const char *w; int n; } c[] = {
        {"hug", 10}, {"pug", 5}, {"pun", 12}, {"bun", 4}, {"hugs", 5}};
    pe_error err;
    for (int i = 0; i < 5; i++)
        for (int k = 0; k < c[i].n; k++) PE_CHECK_EQ_INT(pe_vocab_trainer_feed(t, c[i].w, strlen(c[i].w), &err), PE_OK);
}

/* Trains on the hug corpus; checks the vocabulary against expect (NULL-terminated). */
static void check_hug(size_t size, uint64_t min_freq, const char *const *expect, pe_vocab_stop stop)
{
    pe_vocab_options o = pe_vocab_options_default();
    o.vocab_size = size;
    o.min_frequency = min_freq;
    pe_vocab_trainer *t = NULL;
    pe_error err;
    PE_CHECK_EQ_INT(pe_vocab_trainer_new(&o, &t, &err), PE_OK);
    if (!t) return;
    feed_hug(t);
    const char *const *toks = NULL;
    size_t n = 0;
    PE_CHECK_EQ_INT(pe_vocab_trainer_finish(t, &toks, &n, &err), PE_OK);
    size_t ne = 0;
    while (expect[ne]) ne++;
    PE_CHECK_MSG(n == ne, "size %zu min_freq %llu: %zu tokens, expected %zu", size, (unsigned long long)min_freq, n, ne);
    for (size_t i = 0; i < n && i < ne; i++) PE_CHECK_EQ_STR(toks[i], expect[i]);
    pe_vocab_stats s;
    pe_vocab_trainer_stats(t, &s);
    PE_CHECK_EQ_INT(s.stop, stop);
    PE_CHECK_EQ_INT(s.vocab_size, n);
    PE_CHECK_EQ_INT(s.words, 36);
    PE_CHECK_EQ_INT(s.distinct_words, 5);
    PE_CHECK_EQ_INT(s.alphabet, 7);
    PE_CHECK_EQ_INT(s.continuation, 4);
    PE_CHECK_EQ_INT(s.pairs, 6);
    pe_vocab_trainer_free(t);
}

static void test_train_hug(void)
{
    /* ids: specials 0-4; alphabet b5 g6 h7 n8 p9 s10 u11; ##g12 ##n13 ##s14 ##u15.
     * Pairs: (##u,##g) 10+5+5=20, (p,##u) 17, (##u,##n) 16, (h,##u) 15,
     * (##g,##s) 5, (b,##u) 4.
     * 1. ##ug (20). Now (h,##ug) 15, (##u,##n) 16, (p,##u) 12, (p,##ug) 5, (##ug,##s) 5.
     * 2. ##un (16). (p,##un) 12, (b,##un) 4.
     * 3. hug (15): hugs = hug ##s, (hug,##s) 5.
     * 4. pun (12).
     * 5. tie at 5 between (p,##ug) and (hug,##s): the smaller first id, p=9: pug.
     * 6. hugs (5). 7. bun (4). Then every word is one symbol. */
    const char *full[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "b", "g", "h", "n", "p", "s", "u",
                          "##g", "##n", "##s", "##u", "##ug", "##un", "hug", "pun", "pug", "hugs", "bun", NULL};
    check_hug(100, 0, full, PE_VOCAB_STOP_NO_PAIRS);
    check_hug(23, 2, full, PE_VOCAB_STOP_SIZE);
    /* size 20: merges 1-4 */
    const char *twenty[21];
    memcpy(twenty, full, 20 * sizeof *twenty);
    twenty[20] = NULL;
    check_hug(20, 2, twenty, PE_VOCAB_STOP_SIZE);
    /* min_frequency 5: bun (4) is not merged */
    const char *mf5[23];
    memcpy(mf5, full, 22 * sizeof *mf5);
    mf5[22] = NULL;
    check_hug(100, 5, mf5, PE_VOCAB_STOP_MIN_FREQUENCY);
    /* min_frequency 13: after hug (15), pun (12) is below */
    const char *mf13[20];
    memcpy(mf13, full, 19 * sizeof *mf13);
    mf13[19] = NULL;
    check_hug(100, 13, mf13, PE_VOCAB_STOP_MIN_FREQUENCY);
    /* below the initial symbols: nothing merged, nothing cut */
    const char *initial[17];
    memcpy(initial, full, 16 * sizeof *initial);
    initial[16] = NULL;
    check_hug(6, 2, initial, PE_VOCAB_STOP_SIZE);
}

static pe_vocab_trainer *train_text(const pe_vocab_options *o, const char *text, const char *const **toks, size_t *n)
{
    pe_vocab_trainer *t = NULL;
    pe_error err;
    PE_CHECK_EQ_INT(pe_vocab_trainer_new(o, &t, &err), PE_OK);
    if (!t) return NULL;
    PE_CHECK_EQ_INT(pe_vocab_trainer_feed(t, text, strlen(text), &err), PE_OK);
    PE_CHECK_EQ_INT(pe_vocab_trainer_finish(t, toks, n, &err), PE_OK);
    return t;
}

static void test_train_rules(void)
{
    pe_vocab_options o = pe_vocab_options_default();
    const char *const *toks;
    size_t n;
    /* Tie: (a,##b) and (c,##d) both 2; fed c first, but a has the smaller id. */
    o.vocab_size = 12; /* 5 + a b c d + ##b ##d = 11: one merge */
    pe_vocab_trainer *t = train_text(&o, "cd cd ab ab", &toks, &n);
    PE_CHECK_EQ_INT(n, 12);
    if (t && n == 12) {
        PE_CHECK_EQ_STR(toks[5], "a");
        PE_CHECK_EQ_STR(toks[9], "##b");
        PE_CHECK_EQ_STR(toks[11], "ab");
    }
    pe_vocab_trainer_free(t);

    /* "##a" + "##b" -> "##ab": (##a,##b) 6 beats (x,##a) 3 and (y,##a) 3. */
    o.vocab_size = 5 + 4 + 2 + 1; /* a b x y, ##a ##b */
    t = train_text(&o, "xab xab xab yab yab yab", &toks, &n);
    PE_CHECK_EQ_INT(n, 12);
    if (t && n == 12) PE_CHECK_EQ_STR(toks[11], "##ab");
    pe_vocab_trainer_free(t);

    /* Overlapping pairs: "aaaa" x2 -> (a,##a) 2, (##a,##a) 4. ##aa first, then
     * words are a ##a ##aa... : a ##aa ##a? No: merging left to right gives
     * a [##a ##a] ##a -> a ##aa ##a; (a,##aa) 2, (##aa,##a) 2: tie, a first -> aaa;
     * then (aaa,##a) 2 -> aaaa. */
    o.vocab_size = 100;
    o.min_frequency = 1;
    t = train_text(&o, "aaaa aaaa", &toks, &n);
    const char *aa[] = {"a", "##a", "##aa", "aaa", "aaaa"};
    PE_CHECK_EQ_INT(n, 10);
    for (size_t i = 0; t && i < 5 && i + 5 < n; i++) PE_CHECK_EQ_STR(toks[5 + i], aa[i]);
    pe_vocab_trainer_free(t);

    /* limit_alphabet 3: a 3, b 3, c 1, z 1 -> keep a, b and (tie) c; z is dropped
     * from "cz", which becomes "c" alone. */
    o = pe_vocab_options_default();
    o.limit_alphabet = 3;
    t = train_text(&o, "ab ab ab cz", &toks, &n);
    pe_vocab_stats s;
    pe_vocab_trainer_stats(t, &s);
    PE_CHECK_EQ_INT(s.chars, 4);
    PE_CHECK_EQ_INT(s.alphabet, 3);
    const char *lim[] = {"a", "b", "c", "##b", "ab"};
    PE_CHECK_EQ_INT(n, 10);
    for (size_t i = 0; t && i < 5 && i + 5 < n; i++) PE_CHECK_EQ_STR(toks[5 + i], lim[i]);
    pe_vocab_trainer_free(t);

    /* Cased: "Hello hello": H and h both kept; uncased: one h. Accents: the
     * default strips them when lower-casing, --cased keeps them. */
    o = pe_vocab_options_default();
    o.do_lower_case = 0;
    t = train_text(&o, "Héllo héllo", &toks, &n);
    pe_vocab_trainer_stats(t, &s);
    PE_CHECK_EQ_INT(s.alphabet, 5); /* H h l o é */
    int has_e_acute = 0;
    for (size_t i = 0; t && i < n; i++) has_e_acute |= strcmp(toks[i], "##é") == 0;
    PE_CHECK(has_e_acute);
    pe_vocab_trainer_free(t);
    o.do_lower_case = 1;
    t = train_text(&o, "Héllo héllo", &toks, &n);
    pe_vocab_trainer_stats(t, &s);
    PE_CHECK_EQ_INT(s.alphabet, 4); /* e h l o */
    PE_CHECK_EQ_INT(s.distinct_words, 1);
    pe_vocab_trainer_free(t);

    /* Custom specials, written first in their order; found in text, skipped. */
    const char *sp[] = {"<unk>", "<s>"};
    o = pe_vocab_options_default();
    o.special_tokens = sp;
    o.n_special_tokens = 2;
    t = train_text(&o, "x<s>y <unk>", &toks, &n);
    PE_CHECK_EQ_INT(n, 4);
    if (t && n == 4) {
        PE_CHECK_EQ_STR(toks[0], "<unk>");
        PE_CHECK_EQ_STR(toks[1], "<s>");
        PE_CHECK_EQ_STR(toks[2], "x");
        PE_CHECK_EQ_STR(toks[3], "y");
    }
    pe_vocab_trainer_free(t);

    /* Nothing fed: the specials alone. */
    o = pe_vocab_options_default();
    t = train_text(&o, "", &toks, &n);
    PE_CHECK_EQ_INT(n, 5);
    pe_vocab_trainer_stats(t, &s);
    PE_CHECK_EQ_INT(s.stop, PE_VOCAB_STOP_NO_PAIRS);
    pe_vocab_trainer_free(t);
}

static void test_options(void)
{
    pe_vocab_trainer *t = (pe_vocab_trainer *)1;
    pe_error err;
    pe_vocab_options d = pe_vocab_options_default();
    PE_CHECK_EQ_INT(d.vocab_size, 16000);
    PE_CHECK_EQ_INT(d.min_frequency, 2);
    PE_CHECK_EQ_INT(d.limit_alphabet, 1000);
    PE_CHECK_EQ_INT(d.do_lower_case, 1);
    PE_CHECK_EQ_INT(d.strip_accents, -1);
    pe_vocab_options o;
#define BAD(field_expr, status) do { o = d; field_expr; t = (pe_vocab_trainer *)1; \
        PE_CHECK_EQ_INT(pe_vocab_trainer_new(&o, &t, &err), status); PE_CHECK(t == NULL); } while (0)
    BAD(o.vocab_size = 0, PE_ERR_INVALID);
    BAD(o.vocab_size = 4, PE_ERR_INVALID); /* fewer than the 5 specials */
    BAD(o.vocab_size = ((size_t)1 << 30) + 1, PE_ERR_INVALID);
    BAD(o.do_lower_case = 2, PE_ERR_INVALID);
    BAD(o.strip_accents = -2, PE_ERR_INVALID);
    BAD(o.n_special_tokens = 3, PE_ERR_INVALID); /* list NULL */
    const char *dup[] = {"[UNK]", "[CLS]", "[UNK]"};
    BAD((o.special_tokens = dup, o.n_special_tokens = 3), PE_ERR_INVALID);
    const char *empty[] = {"[UNK]", ""};
    BAD((o.special_tokens = empty, o.n_special_tokens = 2), PE_ERR_INVALID);
    const char *nl[] = {"[UNK]", "a\nb"};
    BAD((o.special_tokens = nl, o.n_special_tokens = 2), PE_ERR_INVALID);
    const char *nul[] = {"[UNK]", NULL};
    BAD((o.special_tokens = nul, o.n_special_tokens = 2), PE_ERR_INVALID);
    const char *utf[] = {"[UNK]", "\xff"};
    BAD((o.special_tokens = utf, o.n_special_tokens = 2), PE_ERR_UTF8);
#undef BAD
    PE_CHECK_EQ_INT(pe_vocab_trainer_new(&d, NULL, &err), PE_ERR_INVALID);
    /* defaults with opt NULL */
    t = NULL;
    PE_CHECK_EQ_INT(pe_vocab_trainer_new(NULL, &t, &err), PE_OK);
    /* invalid UTF-8: nothing of that text is counted */
    PE_CHECK_EQ_INT(pe_vocab_trainer_feed(t, "ok", 2, &err), PE_OK);
    const char *bad = "fine \xe2\x82 bad";
    PE_CHECK_EQ_INT(pe_vocab_trainer_feed(t, bad, strlen(bad), &err), PE_ERR_UTF8);
    PE_CHECK_EQ_INT(pe_vocab_trainer_feed(NULL, "ok", 2, &err), PE_ERR_INVALID);
    PE_CHECK_EQ_INT(pe_vocab_trainer_feed(t, NULL, 2, &err), PE_ERR_INVALID);
    pe_vocab_stats s;
    pe_vocab_trainer_stats(t, &s);
    PE_CHECK_EQ_INT(s.words, 1);
    PE_CHECK_EQ_INT(s.texts, 1);
    const char *const *toks;
    size_t n;
    PE_CHECK_EQ_INT(pe_vocab_trainer_finish(t, &toks, &n, &err), PE_OK);
    PE_CHECK_EQ_INT(n, 5 + 2 + 1); /* k o ##k; (o,##k) seen once < min_frequency 2 */
    /* finish again: the same; feeding is over */
    const char *const *toks2;
    size_t n2;
    PE_CHECK_EQ_INT(pe_vocab_trainer_finish(t, &toks2, &n2, &err), PE_OK);
    PE_CHECK(toks2 == toks && n2 == n);
    PE_CHECK_EQ_INT(pe_vocab_trainer_feed(t, "ok", 2, &err), PE_ERR_INVALID);
    PE_CHECK_EQ_INT(pe_vocab_trainer_finish(NULL, &toks, &n, &err), PE_ERR_INVALID);
    PE_CHECK(toks == NULL && n == 0);
    pe_vocab_trainer_free(t);
    pe_vocab_trainer_free(NULL);
}

/* Reference trainer, the rules of pe_vocab.h done the slow way: every
 * step recounts all pairs from scratch. Words are ASCII lower-case letters
 * (pre-tokenization is then a split on spaces), every char is kept. */
#define REF_MAX_TOK 4096
typedef struct ref_vocab {
    char *tok[REF_MAX_TOK];
    size_t n;
} ref_vocab;

static int ref_id(ref_vocab *v, const char *s, size_t len)
{
    for (size_t i = 0; i < v->n; i++)
        if (strlen(v->tok[i]) == len && memcmp(v->tok[i], s, len) == 0) return (int)i;
    v->tok[v->n] = malloc(len + 1);
    memcpy(v->tok[v->n], s, len);
    v->tok[v->n][len] = '\0';
    return (int)v->n++;
}

static void ref_train(const char *text, size_t size, uint64_t min_freq, ref_vocab *v)
{
    static const char *sp[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    memset(v, 0, sizeof *v);
    for (int i = 0; i < 5; i++) ref_id(v, sp[i], strlen(sp[i]));
    /* distinct words and counts */
    char *wd[2048];
    int cnt[2048], nw = 0;
    for (const char *p = text; *p;) {
        while (*p == ' ') p++;
        const char *e = p;
        while (*e && *e != ' ') e++;
        if (e > p) {
            int k = 0;
            while (k < nw && !(strlen(wd[k]) == (size_t)(e - p) && memcmp(wd[k], p, (size_t)(e - p)) == 0)) k++;
            if (k == nw) {
                wd[nw] = strndup(p, (size_t)(e - p));
                cnt[nw++] = 0;
            }
            cnt[k]++;
        }
        p = e;
    }
    int seen[128] = {0}, later[128] = {0};
    for (int k = 0; k < nw; k++)
        for (size_t i = 0; wd[k][i]; i++) {
            seen[(int)wd[k][i]] = 1;
            if (i) later[(int)wd[k][i]] = 1;
        }
    int plain[128], cont[128];
    for (int c = 0; c < 128; c++)
        if (seen[c]) {
            char ch = (char)c;
            plain[c] = ref_id(v, &ch, 1);
        }
    for (int c = 0; c < 128; c++)
        if (later[c]) {
            char b[3] = {'#', '#', (char)c};
            cont[c] = ref_id(v, b, 3);
        }
    int *sym[2048], ns[2048];
    for (int k = 0; k < nw; k++) {
        ns[k] = (int)strlen(wd[k]);
        sym[k] = malloc((size_t)ns[k] * sizeof(int));
        for (int i = 0; i < ns[k]; i++) sym[k][i] = i ? cont[(int)wd[k][i]] : plain[(int)wd[k][i]];
    }
    while (v->n < size) {
        /* recount: pairs in a small table, linear search */
        static int pa[65536], pb[65536];
        static long pc[65536];
        int np = 0;
        for (int k = 0; k < nw; k++)
            for (int i = 0; i + 1 < ns[k]; i++) {
                int j = 0;
                while (j < np && !(pa[j] == sym[k][i] && pb[j] == sym[k][i + 1])) j++;
                if (j == np) {
                    pa[np] = sym[k][i];
                    pb[np] = sym[k][i + 1];
                    pc[np++] = 0;
                }
                pc[j] += cnt[k];
            }
        int best = -1;
        for (int j = 0; j < np; j++)
            if (best < 0 || pc[j] > pc[best] ||
                (pc[j] == pc[best] && (pa[j] < pa[best] || (pa[j] == pa[best] && pb[j] < pb[best]))))
                best = j;
        if (best < 0 || (uint64_t)pc[best] < min_freq) break;
        int a = pa[best], b = pb[best];
        char buf[512];
        const char *sb = v->tok[b];
        if (strncmp(sb, "##", 2) == 0 && sb[2]) sb += 2;
        snprintf(buf, sizeof buf, "%s%s", v->tok[a], sb);
        int nt = ref_id(v, buf, strlen(buf));
        for (int k = 0; k < nw; k++) {
            int j = 0;
            for (int i = 0; i < ns[k];) {
                if (i + 1 < ns[k] && sym[k][i] == a && sym[k][i + 1] == b) {
                    sym[k][j++] = nt;
                    i += 2;
                } else {
                    sym[k][j++] = sym[k][i++];
                }
            }
            ns[k] = j;
        }
    }
    for (int k = 0; k < nw; k++) {
        free(wd[k]);
        free(sym[k]);
    }
}

/* The trainer against the reference on random corpora over small alphabets:
 * many overlapping pairs ("aaaa"), many ties, every stop rule. */
static void test_against_reference(void)
{
    unsigned x = 777;
    size_t merges = 0;
    for (int round = 0; round < 60; round++) {
        char text[4096];
        size_t n = 0;
        int letters = 2 + round % 4, nwords = 20 + round * 3;
        for (int w = 0; w < nwords && n + 16 < sizeof text; w++) {
            x = x * 1103515245u + 12345u;
            int len = 1 + (int)((x >> 16) % 7);
            for (int i = 0; i < len; i++) {
                x = x * 1103515245u + 12345u;
                text[n++] = (char)('a' + (x >> 16) % (unsigned)letters);
            }
            text[n++] = ' ';
        }
        text[n] = '\0';
        size_t size = round % 3 == 0 ? 4096 : 12 + (size_t)round;
        uint64_t min_freq = (uint64_t)(round % 4);
        ref_vocab ref;
        ref_train(text, size, min_freq, &ref);
        pe_vocab_options o = pe_vocab_options_default();
        o.vocab_size = size;
        o.min_frequency = min_freq;
        const char *const *toks = NULL;
        size_t nt = 0;
        pe_vocab_trainer *t = train_text(&o, text, &toks, &nt);
        PE_CHECK_MSG(nt == ref.n, "round %d: %zu tokens, reference %zu", round, nt, ref.n);
        pe_vocab_stats s;
        pe_vocab_trainer_stats(t, &s);
        merges += s.merges;
        for (size_t i = 0; t && i < nt && i < ref.n; i++)
            PE_CHECK_MSG(strcmp(toks[i], ref.tok[i]) == 0, "round %d id %zu: %s vs reference %s", round, i, toks[i],
                         ref.tok[i]);
        pe_vocab_trainer_free(t);
        for (size_t i = 0; i < ref.n; i++) free(ref.tok[i]);
    }
    PE_CHECK(merges > 1000);
}

/* A made-up corpus: words built from syllables, Zipf-like counts, some
 * capitals, accents and punctuation. */
static char *make_corpus(size_t *len)
{
    static const char *syl[] = {"ka", "ri", "to", "men", "sa", "lo", "ve", "un", "ing", "é", "ß", "th", "qu", "er"};
    size_t cap = 1 << 20, n = 0;
    char *b = malloc(cap);
    unsigned x = 12345;
    for (int line = 0; line < 3000; line++) {
        int nw = 3 + line % 9;
        for (int w = 0; w < nw; w++) {
            x = x * 1103515245u + 12345u;
            int ns = 1 + (int)((x >> 16) % 4);
            unsigned pick = (x >> 8) % 1000;
            for (int k = 0; k < ns; k++) {
                const char *s = syl[(pick * (unsigned)(k + 3) + (unsigned)k * 7u) % 14u];
                size_t l = strlen(s);
                if (k == 0 && (x & 0x10)) { /* capitalised (ASCII first letters only) */
                    if (s[0] >= 'a' && s[0] <= 'z') b[n++] = (char)(s[0] - 32), s++, l--;
                }
                memcpy(b + n, s, l);
                n += l;
            }
            b[n++] = (x & 0x300) == 0x300 ? ',' : ' ';
            if (b[n - 1] == ',') b[n++] = ' ';
        }
        b[n++] = '.';
        b[n++] = '\n';
    }
    b[n] = '\0';
    *len = n;
    return b;
}

static void test_write_and_load(void)
{
    size_t len;
    char *corpus = make_corpus(&len);
    pe_vocab_options o = pe_vocab_options_default();
    o.vocab_size = 100;
    pe_vocab_trainer *t = NULL;
    pe_error err;
    PE_CHECK_EQ_INT(pe_vocab_trainer_new(&o, &t, &err), PE_OK);
    if (!t) {
        free(corpus);
        return;
    }
    for (char *line = corpus, *nl; (nl = strchr(line, '\n')); line = nl + 1)
        PE_CHECK_EQ_INT(pe_vocab_trainer_feed(t, line, (size_t)(nl - line), &err), PE_OK);
    char path[128], bad_path[160];
    snprintf(path, sizeof path, "%s/vocab.txt", tmp);
    snprintf(bad_path, sizeof bad_path, "%s/no/such/dir/vocab.txt", tmp);
    PE_CHECK_EQ_INT(pe_vocab_trainer_write(t, bad_path, &err), PE_ERR_IO); /* trains, fails to write */
    PE_CHECK_EQ_INT(pe_vocab_trainer_write(t, path, &err), PE_OK);
    struct stat sb;
    char tmp_path[160];
    snprintf(tmp_path, sizeof tmp_path, "%s.tmp", path);
    PE_CHECK(stat(tmp_path, &sb) != 0);
    pe_vocab_stats s;
    pe_vocab_trainer_stats(t, &s);
    PE_CHECK_EQ_INT(s.vocab_size, 100);
    PE_CHECK_EQ_INT(s.stop, PE_VOCAB_STOP_SIZE);
    PE_CHECK(s.merges > 50);
    const char *const *toks;
    size_t n;
    PE_CHECK_EQ_INT(pe_vocab_trainer_finish(t, &toks, &n, &err), PE_OK);

    pe_tokenizer *tok = NULL;
    PE_CHECK_EQ_INT(pe_tokenizer_open_vocab(path, NULL, &tok, &err), PE_OK);
    if (tok) {
        PE_CHECK_EQ_INT(pe_tokenizer_vocab_size(tok), n);
        for (size_t i = 0; i < n; i++) PE_CHECK_EQ_STR(pe_tokenizer_id_to_token(tok, (int32_t)i), toks[i]);
        pe_tokenizer_special_ids sid = pe_tokenizer_get_special_ids(tok);
        PE_CHECK_EQ_INT(sid.pad, 0);
        PE_CHECK_EQ_INT(sid.unk, 1);
        PE_CHECK_EQ_INT(sid.cls, 2);
        PE_CHECK_EQ_INT(sid.sep, 3);
        PE_CHECK_EQ_INT(sid.mask, 4);
        /* every training line encodes without [UNK]; merged tokens are used */
        size_t n_tokens = 0, n_chars = 0, unk = 0;
        for (char *line = corpus, *nl; (nl = strchr(line, '\n')); line = nl + 1) {
            pe_encoding *e = NULL;
            pe_tokenizer_encode(tok, line, (size_t)(nl - line), NULL, 0, NULL, &e, &err);
            PE_CHECK(e != NULL);
            for (size_t i = 0; e && i < e->len; i++) unk += e->ids[i] == sid.unk;
            if (e) n_tokens += e->len - 2;
            n_chars += (size_t)(nl - line);
            pe_encoding_free(e);
        }
        PE_CHECK_EQ_INT(unk, 0);
        PE_CHECK_MSG(n_tokens * 3 < n_chars, "%zu tokens for %zu chars", n_tokens, n_chars);
    }
    pe_tokenizer_free(tok);
    pe_vocab_trainer_free(t);
    free(corpus);
}

/* ---- persona vocab ------------------------------------------------------------- */

static int run_cli(const char *args)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s/cli/persona vocab %s > %s/out.txt 2> %s/err.txt", PE_BINARY_DIR, args, tmp, tmp);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *b = calloc(1, 1 << 16);
    size_t n = fread(b, 1, (1 << 16) - 1, f);
    b[n] = '\0';
    fclose(f);
    return b;
}

static void test_cli(void)
{
    char cli[256];
    snprintf(cli, sizeof cli, "%s/cli/persona", PE_BINARY_DIR);
    if (access(cli, X_OK) != 0) {
        fprintf(stderr, "skip test_cli: %s not built\n", cli);
        return;
    }
    char gz[128], plain[128], out[128], badf[128], args[1024];
    snprintf(gz, sizeof gz, "%s/hug.txt.gz", tmp);
    snprintf(plain, sizeof plain, "%s/extra.txt", tmp);
    snprintf(out, sizeof out, "%s/cli_vocab.txt", tmp);
    snprintf(badf, sizeof badf, "%s/bad.txt", tmp);
    /* the hug corpus split over a .gz (CRLF, last line without newline) and a plain file */
    gzFile g = gzopen(gz, "wb");
    PE_CHECK(g != NULL);
    if (!g) return;
    for (int i = 0; i < 10; i++) gzputs(g, "hug ");
    gzputs(g, "\r\npug pug pug pug pug\r\n");
    for (int i = 0; i < 12; i++) gzputs(g, "Pun ");
    gzputs(g, "\nbun bun bun bun");
    gzclose(g);
    FILE *f = fopen(plain, "wb");
    if (f) {
        fputs("hugs hugs\nhugs hugs hugs\n", f);
        fclose(f);
    }
    snprintf(args, sizeof args, "--size 23 --min-freq 2 --out %s %s %s", out, gz, plain);
    PE_CHECK_EQ_INT(run_cli(args), 0);
    char *v = slurp(out);
    PE_CHECK_EQ_STR(v, "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nb\ng\nh\nn\np\ns\nu\n##g\n##n\n##s\n##u\n##ug\n##un\nhug\n"
                       "pun\npug\nhugs\nbun\n");
    free(v);
    char errp[128];
    snprintf(errp, sizeof errp, "%s/err.txt", tmp);
    char *e = slurp(errp);
    PE_CHECK_MSG(e && strstr(e, "23 tokens") && strstr(e, "7 merges") && strstr(e, "5 distinct words"), "%s", e ? e : "");
    free(e);

    /* --cased keeps "Pun" apart from the rest */
    snprintf(args, sizeof args, "--cased --size 100 --min-freq 1 --out %s %s", out, gz);
    PE_CHECK_EQ_INT(run_cli(args), 0);
    v = slurp(out);
    PE_CHECK(v && strstr(v, "\nP\n") && strstr(v, "\nPun\n"));
    free(v);

    /* a line with invalid UTF-8 is skipped: exit 4, vocabulary written */
    f = fopen(badf, "wb");
    if (f) {
        fputs("good line\nbad \xff line\nhug\n", f);
        fclose(f);
    }
    remove(out);
    snprintf(args, sizeof args, "--out %s %s", out, badf);
    PE_CHECK_EQ_INT(run_cli(args), 4);
    struct stat sb;
    PE_CHECK(stat(out, &sb) == 0);
    e = slurp(errp);
    PE_CHECK_MSG(e && strstr(e, "line 2") && strstr(e, "1 skipped"), "%s", e ? e : "");
    free(e);

    /* usage errors: 2; a missing file: 1 */
    snprintf(args, sizeof args, "--size 0 %s", gz);
    PE_CHECK_EQ_INT(run_cli(args), 2);
    snprintf(args, sizeof args, "--size 12x %s", gz);
    PE_CHECK_EQ_INT(run_cli(args), 2);
    snprintf(args, sizeof args, "--min-freq -1 %s", gz);
    PE_CHECK_EQ_INT(run_cli(args), 2);
    snprintf(args, sizeof args, "--limit-alphabet 99999999 %s", gz);
    PE_CHECK_EQ_INT(run_cli(args), 2);
    snprintf(args, sizeof args, "--bogus %s", gz);
    PE_CHECK_EQ_INT(run_cli(args), 2);
    PE_CHECK_EQ_INT(run_cli("--size 100"), 2);
    PE_CHECK_EQ_INT(run_cli("--out"), 2);
    snprintf(args, sizeof args, "--out %s %s/missing.txt", out, tmp);
    PE_CHECK_EQ_INT(run_cli(args), 5); /* missing input, as in every command */
    PE_CHECK_EQ_INT(run_cli("--help"), 0);
    char outp[128];
    snprintf(outp, sizeof outp, "%s/out.txt", tmp);
    v = slurp(outp);
    PE_CHECK(v && strstr(v, "exit codes"));
    free(v);
}

int main(void)
{
    snprintf(tmp, sizeof tmp, "/tmp/pe_test_vocab.XXXXXX");
    if (!mkdtemp(tmp)) return 1;
    PE_RUN(test_pre_tokenize_rules);
    PE_RUN(test_pre_tokenize_matches_encode);
    PE_RUN(test_pre_tokenize_errors);
    PE_RUN(test_train_hug);
    PE_RUN(test_train_rules);
    PE_RUN(test_options);
    PE_RUN(test_against_reference);
    PE_RUN(test_write_and_load);
    PE_RUN(test_cli);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
    PE_TEST_EXIT();
}
