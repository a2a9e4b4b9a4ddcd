/* test_tokenizer.c - WordPiece tokenizer against expectations written by
 * hand from the rules of HF's BertTokenizerFast (see pe_tokenizer.h).
 * Fixtures: tests/fixtures/tokenizer/{vocab.txt (uncased), vocab_cased.txt,
 * tokenizer.json (cased, with added tokens)}. */
#define _GNU_SOURCE
#include "pe_test.h"
#include "pe_tokenizer.h"

#include <cjson/cJSON.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static pe_tokenizer *g_unc;   /* vocab.txt, default (uncased) options */
static pe_tokenizer *g_cased; /* vocab_cased.txt, do_lower_case = 0 */
static pe_tokenizer *g_json;  /* tokenizer.json */

static const char *fixture(const char *name)
{
    static char buf[4][1024];
    static int k;
    const char *dir = getenv("PE_FIXTURES");
    if (!dir) dir = PE_FIXTURES;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/tokenizer/%s", dir, name);
    return buf[k];
}

/* Space-joined token strings of an encoding. */
static const char *joined(const pe_tokenizer *tok, const pe_encoding *enc)
{
    static char buf[65536];
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < enc->len; i++) {
        const char *t = pe_tokenizer_id_to_token(tok, enc->ids[i]);
        o += (size_t)snprintf(buf + o, sizeof buf - o, "%s%s", i ? " " : "", t ? t : "(null)");
        if (o >= sizeof buf) break;
    }
    return buf;
}

/* Encodes text (single, defaults) and checks tokens, spans (2 per token,
 * NULL to skip) and word ids (NULL to skip). */
static void expect_at(int line, const pe_tokenizer *tok, const char *text, size_t len, const char *tokens,
                      const size_t *spans, const int *words)
{
    pe_error err;
    pe_error_clear(&err);
    pe_encoding *enc = NULL;
    pe_status st = pe_tokenizer_encode(tok, text, len, NULL, 0, NULL, &enc, &err);
    PE_CHECK_MSG(st == PE_OK, "line %d: %s", line, err.msg);
    if (!enc) return;
    const char *got = joined(tok, enc);
    PE_CHECK_MSG(strcmp(got, tokens) == 0, "line %d: tokens\n  got:    %s\n  wanted: %s", line, got, tokens);
    if (spans)
        for (size_t i = 0; i < enc->len; i++)
            PE_CHECK_MSG(enc->offsets[i].start == spans[2 * i] && enc->offsets[i].end == spans[2 * i + 1],
                         "line %d: token %zu (%s) span [%zu,%zu) wanted [%zu,%zu)", line, i,
                         pe_tokenizer_id_to_token(tok, enc->ids[i]), enc->offsets[i].start,
                         enc->offsets[i].end, spans[2 * i], spans[2 * i + 1]);
    if (words)
        for (size_t i = 0; i < enc->len; i++)
            PE_CHECK_MSG(enc->word_ids[i] == words[i], "line %d: token %zu word id %d wanted %d", line, i,
                         enc->word_ids[i], words[i]);
    pe_encoding_free(enc);
}
#define EXPECT(tok, text, tokens, spans, words) expect_at(__LINE__, tok, text, strlen(text), tokens, spans, words)
#define EXPECT_LEN(tok, text, len, tokens, spans, words) expect_at(__LINE__, tok, text, len, tokens, spans, words)

static void test_load(void)
{
    pe_error err;
    pe_error_clear(&err);
    PE_CHECK_EQ_INT(pe_tokenizer_open_vocab(fixture("vocab.txt"), NULL, &g_unc, &err), PE_OK);
    pe_tokenizer_options co = pe_tokenizer_options_default();
    co.do_lower_case = 0;
    PE_CHECK_EQ_INT(pe_tokenizer_open_vocab(fixture("vocab_cased.txt"), &co, &g_cased, &err), PE_OK);
    PE_CHECK_EQ_INT(pe_tokenizer_open_json(fixture("tokenizer.json"), &g_json, &err), PE_OK);
    if (!g_unc || !g_cased || !g_json) {
        fprintf(stderr, "cannot load fixtures: %s\n", err.msg);
        exit(1);
    }
    /* id = line number - 1 */
    PE_CHECK_EQ_INT(pe_tokenizer_vocab_size(g_unc), 174);
    PE_CHECK_EQ_INT(pe_tokenizer_token_to_id(g_unc, "hello", 5), 100);
    PE_CHECK_EQ_INT(pe_tokenizer_token_to_id(g_unc, "##ive", 5), 106);
    PE_CHECK_EQ_INT(pe_tokenizer_token_to_id(g_unc, "ive", 3), -1);
    PE_CHECK_EQ_INT(pe_tokenizer_token_to_id(g_unc, "nope", 4), -1);
    PE_CHECK_EQ_STR(pe_tokenizer_id_to_token(g_unc, 117), "我");
    PE_CHECK(pe_tokenizer_id_to_token(g_unc, 174) == NULL);
    PE_CHECK(pe_tokenizer_id_to_token(g_unc, -1) == NULL);
    pe_tokenizer_special_ids s = pe_tokenizer_get_special_ids(g_unc);
    PE_CHECK_EQ_INT(s.pad, 0);
    PE_CHECK_EQ_INT(s.unk, 1);
    PE_CHECK_EQ_INT(s.cls, 2);
    PE_CHECK_EQ_INT(s.sep, 3);
    PE_CHECK_EQ_INT(s.mask, 4);
    const pe_tokenizer_options *o = pe_tokenizer_get_options(g_unc);
    PE_CHECK_EQ_INT(o->do_lower_case, 1);
    PE_CHECK_EQ_INT(o->strip_accents, 1); /* -1 resolved to do_lower_case */
    /* tokenizer.json: options from the normalizer, vocabulary extended by
     * the added tokens [E1] (20) and <m> (21). */
    o = pe_tokenizer_get_options(g_json);
    PE_CHECK_EQ_INT(o->do_lower_case, 0);
    PE_CHECK_EQ_INT(o->strip_accents, 0);
    PE_CHECK_EQ_INT(o->tokenize_chinese_chars, 1);
    PE_CHECK_EQ_INT(o->max_input_chars_per_word, 100);
    PE_CHECK_EQ_INT(pe_tokenizer_vocab_size(g_json), 22);
    PE_CHECK_EQ_INT(pe_tokenizer_token_to_id(g_json, "[E1]", 4), 20);
    PE_CHECK_EQ_INT(o->n_extra_special_tokens, 2);
}

static void test_accents(void)
{
    /* Uncased: NFD + drop Mn + lower. "Café" is 5 bytes, "naïve" 6, "résumé" 8. */
    static const size_t sp[] = {0, 0, 0, 5, 6, 8, 8, 12, 13, 21, 0, 0};
    static const int w[] = {-1, 0, 1, 1, 2, -1};
    EXPECT(g_unc, "Café naïve résumé", "[CLS] cafe na ##ive resume [SEP]", sp, w);
    /* Lower-casing of multi-byte capitals: spans stay on the original bytes. */
    static const size_t sp2[] = {0, 0, 0, 6, 0, 0};
    EXPECT(g_unc, "ÉCOLE", "[CLS] ecole [SEP]", sp2, NULL);
    static const size_t sp3[] = {0, 0, 0, 9, 0, 0};
    EXPECT(g_unc, "İstanbul", "[CLS] istanbul [SEP]", sp3, NULL); /* İ: 2 bytes -> "i" */
    static const size_t sp4[] = {0, 0, 0, 2, 2, 3, 3, 4, 4, 5, 5, 6, 0, 0};
    EXPECT(g_unc, "Écolf", "[CLS] e ##c ##o ##l ##f [SEP]", sp4, NULL);
    /* The ligature ﬁ has no canonical decomposition: not in the vocabulary,
     * so the whole word is [UNK], covering all 5 bytes. */
    static const size_t sp5[] = {0, 0, 0, 5, 0, 0};
    EXPECT(g_unc, "ﬁne", "[CLS] [UNK] [SEP]", sp5, NULL);

    /* Cased: no accent stripping; "Café" is one token, "naïve" = na ##ï ##ve. */
    static const size_t sp6[] = {0, 0, 0, 5, 6, 8, 8, 10, 10, 12, 0, 0};
    EXPECT(g_cased, "Café naïve", "[CLS] Café na ##ï ##ve [SEP]", sp6, NULL);
    EXPECT(g_cased, "Hello hello", "[CLS] Hello h ##e ##l ##l ##o [SEP]", NULL, NULL);
    static const size_t sp7[] = {0, 0, 0, 2, 2, 9, 0, 0};
    EXPECT(g_cased, "İstanbul", "[CLS] İ ##stanbul [SEP]", sp7, NULL);

    /* Lower-case without accent stripping: İ -> "i" U+0307 (two chars, one
     * original char): both tokens cover the original 2 bytes, as HF. */
    pe_tokenizer_options o = pe_tokenizer_options_default();
    o.strip_accents = 0;
    pe_tokenizer *t = NULL;
    pe_error err;
    PE_CHECK_EQ_INT(pe_tokenizer_open_vocab(fixture("vocab.txt"), &o, &t, &err), PE_OK);
    if (t) {
        static const size_t sp8[] = {0, 0, 0, 2, 0, 2, 0, 0};
        EXPECT(t, "İ", "[CLS] i ##\xcc\x87 [SEP]", sp8, NULL);
        /* é stays é: not in the vocabulary -> [UNK] */
        EXPECT(t, "café", "[CLS] [UNK] [SEP]", NULL, NULL);
        pe_tokenizer_free(t);
    }
}

static void test_cjk(void)
{
    static const size_t sp[] = {0, 0, 0, 3, 3, 6, 6, 9, 9, 12, 0, 0};
    static const int w[] = {-1, 0, 1, 2, 3, -1};
    EXPECT(g_unc, "我爱北京", "[CLS] 我 爱 北 京 [SEP]", sp, w);
    static const size_t sp2[] = {0, 0, 0, 5, 5, 8, 8, 11, 11, 16, 0, 0};
    static const int w2[] = {-1, 0, 1, 2, 3, -1};
    EXPECT(g_unc, "Hello我爱world", "[CLS] hello 我 爱 world [SEP]", sp2, w2);
    /* 文 is not in the vocabulary: one [UNK] of its own (a CJK char is a word). */
    static const size_t sp3[] = {0, 0, 0, 3, 3, 6, 7, 12, 0, 0};
    EXPECT(g_unc, "中文 hello", "[CLS] 中 [UNK] hello [SEP]", sp3, NULL);
    /* Hiragana is not in the CJK ranges: "あ北" is not split before 北... but
     * 北 is, so the word is あ -> [UNK], then 北. */
    static const size_t sp4[] = {0, 0, 0, 3, 3, 6, 0, 0};
    EXPECT(g_unc, "あ北", "[CLS] [UNK] 北 [SEP]", sp4, NULL);
}

static void test_emoji(void)
{
    /* 😀 is in the vocabulary, 🤖 is not; each is a 4-byte word. */
    static const size_t sp[] = {0, 0, 0, 1, 1, 2, 3, 7, 8, 12, 0, 0};
    static const int w[] = {-1, 0, 0, 1, 2, -1};
    EXPECT(g_unc, "hi 😀 🤖", "[CLS] h ##i 😀 [UNK] [SEP]", sp, w);
    /* Emoji glued to a word: no split (symbols are not punctuation), and
     * "##😀" is not in the vocabulary -> the whole word is [UNK]. */
    static const size_t sp2[] = {0, 0, 0, 9, 0, 0};
    EXPECT(g_unc, "hello😀", "[CLS] [UNK] [SEP]", sp2, NULL);
}

static void test_punctuation(void)
{
    static const size_t sp[] = {0, 0, 0, 4, 4, 5, 5, 6, 6, 7, 7, 11, 11, 12, 12, 13, 0, 0};
    static const int w[] = {-1, 0, 1, 2, 3, 4, 5, 6, -1};
    EXPECT(g_unc, "Wait...what?!", "[CLS] wait . . . what ? ! [SEP]", sp, w);
    static const size_t sp2[] = {0, 0, 0, 5, 5, 6, 6, 7, 7, 8, 8, 15, 15, 16, 16, 19, 19, 20, 20, 21,
                                 21, 22, 22, 23, 23, 24, 24, 25, 0, 0};
    EXPECT(g_unc, "https://example.com/a?b=1", "[CLS] https : / / example . com / a ? b = 1 [SEP]", sp2, NULL);
    /* Unicode punctuation (Pd, Pi, Pf, Po) splits too: "–" U+2013, "«»", "¿" */
    EXPECT(g_unc, "a\xe2\x80\x93" "b \xc2\xab" "x\xc2\xbb \xc2\xbf" "y", "[CLS] a [UNK] b [UNK] x [UNK] [UNK] y [SEP]",
           NULL, NULL);
    /* ASCII symbols that are not Unicode P* ($ + < = > ^ ` | ~) split as HF's ASCII rule says. */
    EXPECT(g_unc, "a$b+c^d`e|f~", "[CLS] a $ b + c ^ d ` e | f ~ [SEP]", NULL, NULL);
    /* Digits continue with ## pieces. */
    EXPECT(g_unc, "2024", "[CLS] 2 ##0 ##2 ##4 [SEP]", NULL, NULL);
}

static void test_long_and_unknown(void)
{
    char word[202];
    memset(word, 'a', 101);
    word[101] = '\0';
    /* 101 chars > 100: one [UNK] covering the whole word */
    static const size_t sp[] = {0, 0, 0, 101, 0, 0};
    EXPECT(g_unc, word, "[CLS] [UNK] [SEP]", sp, NULL);
    /* exactly 100 chars: WordPiece runs (a ##a ##a ...) */
    word[100] = '\0';
    pe_encoding *enc = NULL;
    pe_error err;
    PE_CHECK_EQ_INT(pe_tokenizer_encode(g_unc, word, 100, NULL, 0, NULL, &enc, &err), PE_OK);
    if (enc) {
        PE_CHECK_EQ_INT(enc->len, 102);
        PE_CHECK_EQ_STR(pe_tokenizer_id_to_token(g_unc, enc->ids[1]), "a");
        PE_CHECK_EQ_STR(pe_tokenizer_id_to_token(g_unc, enc->ids[100]), "##a");
        PE_CHECK_EQ_INT(enc->offsets[100].start, 99);
        PE_CHECK_EQ_INT(enc->offsets[100].end, 100);
        pe_encoding_free(enc);
    }
    /* 101 chars where the last is a 2-byte é: stripped, but still 101 chars */
    memset(word, 'b', 100);
    memcpy(word + 100, "\xc3\xa9", 3);
    static const size_t sp2[] = {0, 0, 0, 102, 0, 0};
    EXPECT(g_unc, word, "[CLS] [UNK] [SEP]", sp2, NULL);
    /* No match for a later piece: "hello€" (€ is Sc, not punctuation) -> the
     * whole word, not "hello [UNK]" */
    static const size_t sp3[] = {0, 0, 0, 8, 9, 14, 0, 0};
    EXPECT(g_unc, "hello€ world", "[CLS] [UNK] world [SEP]", sp3, NULL);
    /* greedy longest match first: "unaffable" = un ##aff ##able */
    static const size_t sp4[] = {0, 0, 0, 2, 2, 5, 5, 9, 0, 0};
    EXPECT(g_unc, "unaffable", "[CLS] un ##aff ##able [SEP]", sp4, NULL);
    EXPECT(g_unc, "tokenizer tokens", "[CLS] token ##izer token ##s [SEP]", NULL, NULL);
}

static void test_specials_in_text(void)
{
    /* HF (fast, and slow since transformers v4) cut special tokens out of the
     * raw text first, case-sensitively and even without spaces around. */
    static const size_t sp[] = {0, 0, 0, 5, 6, 11, 12, 17, 0, 0};
    static const int w[] = {-1, 0, 1, 2, -1};
    EXPECT(g_unc, "hello [SEP] world", "[CLS] hello [SEP] world [SEP]", sp, w);
    static const size_t sp2[] = {0, 0, 0, 1, 1, 7, 7, 8, 0, 0};
    EXPECT(g_unc, "a[MASK]b", "[CLS] a [MASK] b [SEP]", sp2, NULL);
    /* lower-case spelling is not special: split as punctuation + word */
    EXPECT(g_unc, "[sep]", "[CLS] [ s ##e ##p ] [SEP]", NULL, NULL);
    EXPECT(g_unc, "[PAD][UNK]", "[CLS] [PAD] [UNK] [SEP]", NULL, NULL);
    /* an unterminated one is ordinary text */
    EXPECT(g_unc, "[SEP", "[CLS] [ s ##e ##p [SEP]", NULL, NULL);

    /* Extra special tokens from the options */
    const char *extra[] = {"ecole"};
    pe_tokenizer_options o = pe_tokenizer_options_default();
    o.extra_special_tokens = extra;
    o.n_extra_special_tokens = 1;
    pe_tokenizer *t = NULL;
    pe_error err;
    PE_CHECK_EQ_INT(pe_tokenizer_open_vocab(fixture("vocab.txt"), &o, &t, &err), PE_OK);
    if (t) {
        /* raw match, not normalised: "ecole" inside "xecoley" is cut out */
        static const size_t sp3[] = {0, 0, 0, 1, 1, 6, 6, 7, 0, 0};
        EXPECT(t, "xecoley", "[CLS] x ecole y [SEP]", sp3, NULL);
        pe_tokenizer_free(t);
    }
}

static void test_control_and_whitespace(void)
{
    /* NBSP and ideographic space are Zs -> space; TAB -> space; U+0001 (Cc)
     * and U+200B (Cf) are dropped, so "d\x01e\u200Bf" is the word "def". */
    const char *text = "a\xc2\xa0" "b\xe3\x80\x80" "c\td\x01" "e\xe2\x80\x8b" "f";
    static const size_t sp[] = {0, 0, 0, 1, 3, 4, 7, 8, 9, 10, 11, 12, 15, 16, 0, 0};
    static const int w[] = {-1, 0, 1, 2, 3, 3, 3, -1};
    EXPECT(g_unc, text, "[CLS] a b c d ##e ##f [SEP]", sp, w);
    /* NUL and U+FFFD dropped too (length given explicitly for the NUL). */
    static const char t2[] = "x\0y\xef\xbf\xbdz";
    static const size_t sp2[] = {0, 0, 0, 1, 2, 3, 6, 7, 0, 0};
    EXPECT_LEN(g_unc, t2, sizeof t2 - 1, "[CLS] x ##y ##z [SEP]", sp2, NULL);
    /* Private use (Co) is dropped as in HF (its test is category "C*"). */
    EXPECT(g_unc, "a\xee\x80\x80" "b", "[CLS] a ##b [SEP]", NULL, NULL);
    /* CR LF, line and paragraph separators split words */
    EXPECT(g_unc, "a\r\nb\xe2\x80\xa8" "c\xe2\x80\xa9" "d", "[CLS] a b c d [SEP]", NULL, NULL);
    /* only whitespace and controls: no tokens */
    EXPECT(g_unc, " \t\n\x01 ", "[CLS] [SEP]", NULL, NULL);
}

static void test_empty(void)
{
    static const size_t sp[] = {0, 0, 0, 0};
    EXPECT(g_unc, "", "[CLS] [SEP]", sp, NULL);
    pe_encoding *enc = NULL;
    pe_error err;
    PE_CHECK_EQ_INT(pe_tokenizer_encode(g_unc, NULL, 0, NULL, 0, NULL, &enc, &err), PE_OK);
    if (enc) {
        PE_CHECK_EQ_INT(enc->len, 2);
        PE_CHECK_EQ_INT(enc->special_mask[0], 1);
        PE_CHECK_EQ_INT(enc->word_ids[1], -1);
        pe_encoding_free(enc);
    }
    /* without specials: nothing at all */
    pe_tokenizer_encode_options eo = pe_tokenizer_encode_options_default();
    eo.add_special_tokens = 0;
    PE_CHECK_EQ_INT(pe_tokenizer_encode(g_unc, "", 0, NULL, 0, &eo, &enc, &err), PE_OK);
    if (enc) {
        PE_CHECK_EQ_INT(enc->len, 0);
        pe_encoding_free(enc);
    }
}

static void check_utf8_error(const char *text, size_t len, size_t bad)
{
    pe_error err;
    pe_error_clear(&err);
    pe_encoding *enc = (pe_encoding *)&err; /* must be reset to NULL */
    pe_status st = pe_tokenizer_encode(g_unc, text, len, NULL, 0, NULL, &enc, &err);
    PE_CHECK_EQ_INT(st, PE_ERR_UTF8);
    PE_CHECK(enc == NULL);
    char want[64];
    snprintf(want, sizeof want, "at byte %zu", bad);
    PE_CHECK_MSG(strstr(err.msg, want) != NULL, "message \"%s\" lacks \"%s\"", err.msg, want);
}

static void test_invalid_utf8(void)
{
    check_utf8_error("ab\xc3(", 4, 2);          /* bad continuation */
    check_utf8_error("\xff", 1, 0);             /* never valid */
    check_utf8_error("ok \xc0\xaf", 5, 3);      /* overlong '/' */
    check_utf8_error("x\xed\xa0\x80y", 5, 1);   /* UTF-16 surrogate */
    check_utf8_error("abc\xe2\x82", 5, 3);      /* truncated at the end */
    check_utf8_error("\xf4\x90\x80\x80", 4, 0); /* above U+10FFFF */
    /* text B named in the message */
    pe_error err;
    pe_encoding *enc = NULL;
    PE_CHECK_EQ_INT(pe_tokenizer_encode(g_unc, "fine", 4, "\x80", 1, NULL, &enc, &err), PE_ERR_UTF8);
    PE_CHECK(strstr(err.msg, "text B") != NULL);
    PE_CHECK(enc == NULL);
}

static void test_pairs_truncation_padding(void)
{
    pe_error err;
    pe_encoding *enc = NULL;
    pe_tokenizer_encode_options eo = pe_tokenizer_encode_options_default();
    /* A = 4 tokens, B = 2, max_length 8 -> budget 5: the longer loses one. */
    eo.max_length = 8;
    const char *a = "hello world hello world", *b = "wait what";
    PE_CHECK_EQ_INT(pe_tokenizer_encode(g_unc, a, strlen(a), b, strlen(b), &eo, &enc, &err), PE_OK);
    if (enc) {
        PE_CHECK_EQ_STR(joined(g_unc, enc), "[CLS] hello world hello [SEP] wait what [SEP]");
        static const int types[] = {0, 0, 0, 0, 0, 1, 1, 1};
        static const int seqs[] = {-1, 0, 0, 0, -1, 1, 1, -1};
        static const int words[] = {-1, 0, 1, 2, -1, 0, 1, -1};
        for (int i = 0; i < 8; i++) {
            PE_CHECK_EQ_INT(enc->type_ids[i], types[i]);
            PE_CHECK_EQ_INT(enc->seq_ids[i], seqs[i]);
            PE_CHECK_EQ_INT(enc->word_ids[i], words[i]);
            PE_CHECK_EQ_INT(enc->attention_mask[i], 1);
        }
        PE_CHECK_EQ_INT(enc->truncated, 1);
        PE_CHECK_EQ_INT(enc->n_tokens_a, 3);
        PE_CHECK_EQ_INT(enc->n_tokens_b, 2);
        /* B's offsets are into B */
        PE_CHECK_EQ_INT(enc->offsets[6].start, 5);
        PE_CHECK_EQ_INT(enc->offsets[6].end, 9);
        pe_encoding_free(enc);
    }
    /* Equal lengths 5 + 5, budget 7: A keeps 3 and B 4 (tokenizers'
     * truncate_encodings gives the odd one to the second). */
    eo.max_length = 10;
    PE_CHECK_EQ_INT(pe_tokenizer_encode(g_unc, "a b c d e", 9, "v w x y z", 9, &eo, &enc, &err), PE_OK);
    if (enc) {
        PE_CHECK_EQ_STR(joined(g_unc, enc), "[CLS] a b c [SEP] v w x y [SEP]");
        pe_encoding_free(enc);
    }
    /* Both long (6 and 9), budget 7: 3 + 4 with the longer (B) keeping 4 */
    PE_CHECK_EQ_INT(pe_tokenizer_encode(g_unc, "a b c d e f", 11, "s t u v w x y z a", 17, &eo, &enc, &err), PE_OK);
    if (enc) {
        PE_CHECK_EQ_STR(joined(g_unc, enc), "[CLS] a b c [SEP] s t u v [SEP]");
        pe_encoding_free(enc);
    }
    /* A longer than budget, B short: B kept whole */
    PE_CHECK_EQ_INT(pe_tokenizer_encode(g_unc, "a b c d e f g h", 15, "z", 1, &eo, &enc, &err), PE_OK);
    if (enc) {
        PE_CHECK_EQ_STR(joined(g_unc, enc), "[CLS] a b c d e f [SEP] z [SEP]");
        pe_encoding_free(enc);
    }
    /* No truncation needed: flag stays 0 */
    PE_CHECK_EQ_INT(pe_tokenizer_encode(g_unc, "a", 1, "b", 1, &eo, &enc, &err), PE_OK);
    if (enc) {
        PE_CHECK_EQ_INT(enc->truncated, 0);
        PE_CHECK_EQ_INT(enc->len, 5);
        pe_encoding_free(enc);
    }
    /* only_first / only_second */
    eo.max_length = 7;
    eo.truncation = PE_TRUNCATE_ONLY_SECOND;
    PE_CHECK_EQ_INT(pe_tokenizer_encode(g_unc, "a b", 3, "v w x y z", 9, &eo, &enc, &err), PE_OK);
    if (enc) {
        PE_CHECK_EQ_STR(joined(g_unc, enc), "[CLS] a b [SEP] v w [SEP]");
        pe_encoding_free(enc);
    }
    eo.truncation = PE_TRUNCATE_ONLY_FIRST;
    PE_CHECK_EQ_INT(pe_tokenizer_encode(g_unc, "a b", 3, "v w x y z", 9, &eo, &enc, &err), PE_ERR_INVALID);
    PE_CHECK(enc == NULL);
    /* single sequence truncation */
    eo.truncation = PE_TRUNCATE_LONGEST_FIRST;
    eo.max_length = 4;
    PE_CHECK_EQ_INT(pe_tokenizer_encode(g_unc, "Wait...what", 11, NULL, 0, &eo, &enc, &err), PE_OK);
    if (enc) {
        PE_CHECK_EQ_STR(joined(g_unc, enc), "[CLS] wait . [SEP]");
        PE_CHECK_EQ_INT(enc->truncated, 1);
        pe_encoding_free(enc);
    }
    eo.max_length = 2; /* room for the specials only */
    PE_CHECK_EQ_INT(pe_tokenizer_encode(g_unc, "hello", 5, NULL, 0, &eo, &enc, &err), PE_OK);
    if (enc) {
        PE_CHECK_EQ_STR(joined(g_unc, enc), "[CLS] [SEP]");
        pe_encoding_free(enc);
    }
    eo.max_length = 1;
    PE_CHECK_EQ_INT(pe_tokenizer_encode(g_unc, "hello", 5, NULL, 0, &eo, &enc, &err), PE_ERR_INVALID);

    /* padding to max_length, right and left */
    eo = pe_tokenizer_encode_options_default();
    eo.max_length = 8;
    eo.padding = PE_PAD_MAX_LENGTH;
    PE_CHECK_EQ_INT(pe_tokenizer_encode(g_unc, "hello", 5, "world", 5, &eo, &enc, &err), PE_OK);
    if (enc) {
        PE_CHECK_EQ_STR(joined(g_unc, enc), "[CLS] hello [SEP] world [SEP] [PAD] [PAD] [PAD]");
        static const int mask[] = {1, 1, 1, 1, 1, 0, 0, 0};
        static const int types[] = {0, 0, 0, 1, 1, 0, 0, 0};
        static const int special[] = {1, 0, 1, 0, 1, 1, 1, 1};
        for (int i = 0; i < 8; i++) {
            PE_CHECK_EQ_INT(enc->attention_mask[i], mask[i]);
            PE_CHECK_EQ_INT(enc->type_ids[i], types[i]);
            PE_CHECK_EQ_INT(enc->special_mask[i], special[i]);
        }
        PE_CHECK_EQ_INT(enc->word_ids[6], -1);
        PE_CHECK_EQ_INT(enc->offsets[6].end, 0);
        PE_CHECK_EQ_INT(enc->truncated, 0);
        pe_encoding_free(enc);
    }
    eo.pad_left = 1;
    PE_CHECK_EQ_INT(pe_tokenizer_encode(g_unc, "hello", 5, NULL, 0, &eo, &enc, &err), PE_OK);
    if (enc) {
        PE_CHECK_EQ_STR(joined(g_unc, enc), "[PAD] [PAD] [PAD] [PAD] [PAD] [CLS] hello [SEP]");
        PE_CHECK_EQ_INT(enc->attention_mask[4], 0);
        PE_CHECK_EQ_INT(enc->attention_mask[5], 1);
        PE_CHECK_EQ_INT(enc->offsets[6].end, 5);
        pe_encoding_free(enc);
    }
    /* padding to max_length without a max_length is a usage error */
    eo.max_length = 0;
    PE_CHECK_EQ_INT(pe_tokenizer_encode(g_unc, "hello", 5, NULL, 0, &eo, &enc, &err), PE_ERR_INVALID);
}

static void test_batch(void)
{
    pe_error err;
    const char *texts[] = {"hello", "hello world wait", "我爱"};
    pe_encoding **encs = NULL;
    pe_tokenizer_encode_options eo = pe_tokenizer_encode_options_default();
    eo.padding = PE_PAD_LONGEST;
    PE_CHECK_EQ_INT(pe_tokenizer_encode_batch(g_unc, texts, NULL, NULL, NULL, 3, &eo, &encs, &err), PE_OK);
    if (encs) {
        PE_CHECK_EQ_STR(joined(g_unc, encs[0]), "[CLS] hello [SEP] [PAD] [PAD]");
        PE_CHECK_EQ_STR(joined(g_unc, encs[1]), "[CLS] hello world wait [SEP]");
        PE_CHECK_EQ_STR(joined(g_unc, encs[2]), "[CLS] 我 爱 [SEP] [PAD]");
        PE_CHECK_EQ_INT(encs[0]->attention_mask[3], 0);
        pe_encodings_free(encs, 3);
    }
    /* batch longest is capped by truncation to max_length */
    eo.max_length = 4;
    PE_CHECK_EQ_INT(pe_tokenizer_encode_batch(g_unc, texts, NULL, NULL, NULL, 3, &eo, &encs, &err), PE_OK);
    if (encs) {
        PE_CHECK_EQ_STR(joined(g_unc, encs[0]), "[CLS] hello [SEP] [PAD]");
        PE_CHECK_EQ_STR(joined(g_unc, encs[1]), "[CLS] hello world [SEP]");
        PE_CHECK_EQ_INT(encs[1]->truncated, 1);
        PE_CHECK_EQ_INT(encs[0]->truncated, 0);
        pe_encodings_free(encs, 3);
    }
    /* pairs in a batch, with explicit lengths */
    const char *as[] = {"hello world", "wait"};
    const char *bs[] = {"what", "the quick brown fox"};
    size_t la[] = {5, 4}, lb[] = {4, 9};
    eo = pe_tokenizer_encode_options_default();
    PE_CHECK_EQ_INT(pe_tokenizer_encode_batch(g_unc, as, la, bs, lb, 2, &eo, &encs, &err), PE_OK);
    if (encs) {
        PE_CHECK_EQ_STR(joined(g_unc, encs[0]), "[CLS] hello [SEP] what [SEP]");
        PE_CHECK_EQ_STR(joined(g_unc, encs[1]), "[CLS] wait [SEP] the quick [SEP]");
        pe_encodings_free(encs, 2);
    }
    /* an error names the text and leaves nothing allocated */
    const char *bad[] = {"ok", "also ok", "bad \xff"};
    encs = (pe_encoding **)&err;
    PE_CHECK_EQ_INT(pe_tokenizer_encode_batch(g_unc, bad, NULL, NULL, NULL, 3, NULL, &encs, &err), PE_ERR_UTF8);
    PE_CHECK(encs == NULL);
    PE_CHECK_MSG(strstr(err.msg, "text 2") && strstr(err.msg, "byte 4"), "%s", err.msg);
}

static void test_json(void)
{
    const char *text = "Hello, World! Café [E1] bigger北京 Hi";
    static const size_t sp[] = {0, 0, 0, 5, 5, 6, 7, 12, 12, 13, 14, 16, 16, 19, 20, 24,
                                25, 28, 28, 31, 31, 34, 34, 37, 38, 39, 39, 40, 0, 0};
    static const int w[] = {-1, 0, 1, 2, 3, 4, 4, 5, 6, 6, 7, 8, 9, 9, -1};
    EXPECT(g_json, text, "[CLS] Hello , World ! Ca ##fé [E1] big ##ger 北 京 H ##i [SEP]", sp, w);
    /* <m> has lstrip: its span takes the space before it */
    static const size_t sp2[] = {0, 0, 0, 5, 5, 9, 9, 14, 0, 0};
    EXPECT(g_json, "Hello <m>World", "[CLS] Hello <m> World [SEP]", sp2, NULL);
    /* cased: "hello" unknown */
    EXPECT(g_json, "hello", "[CLS] [UNK] [SEP]", NULL, NULL);

    /* Errors, from memory */
    pe_error err;
    pe_tokenizer *t = (pe_tokenizer *)&err;
    const char *j1 = "{\"model\": {\"type\": \"BPE\", \"vocab\": {}}}";
    PE_CHECK_EQ_INT(pe_tokenizer_new_from_json(j1, strlen(j1), "x.json", &t, &err), PE_ERR_UNSUPPORTED);
    PE_CHECK(t == NULL);
    PE_CHECK(strstr(err.msg, "x.json") && strstr(err.msg, "BPE"));
    const char *j2 = "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"[UNK]\": 0, \"[CLS]\": 2, \"[SEP]\": 3}}}";
    PE_CHECK_EQ_INT(pe_tokenizer_new_from_json(j2, strlen(j2), "x.json", &t, &err), PE_ERR_PARSE);
    PE_CHECK_MSG(strstr(err.msg, "id 1"), "%s", err.msg);
    /* a lying id (2^30 - 1) is a hole, found without a table of 2^30 slots
     * (fuzz_model_files: that calloc took 8 GB) */
    const char *j2b = "{\"model\": {\"vocab\": {\"[UNK]\": 0, \"[CLS]\": 1, \"[SEP]\": 1073741823}},"
                      " \"added_tokens\": [{\"id\": 1073741822, \"content\": \"x\"}]}";
    PE_CHECK_EQ_INT(pe_tokenizer_new_from_json(j2b, strlen(j2b), "x.json", &t, &err), PE_ERR_PARSE);
    PE_CHECK_MSG(strstr(err.msg, "no token has id 2 (ids must be 0..1073741823"), "%s", err.msg);
    const char *j3 = "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0,}";
    PE_CHECK_EQ_INT(pe_tokenizer_new_from_json(j3, strlen(j3), "x.json", &t, &err), PE_ERR_PARSE);
    const char *j4 = "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"[UNK]\": 0, \"[CLS]\": 1, \"[SEP]\": 2}},"
                     " \"normalizer\": {\"type\": \"NFKC\"}}";
    PE_CHECK_EQ_INT(pe_tokenizer_new_from_json(j4, strlen(j4), "x.json", &t, &err), PE_ERR_UNSUPPORTED);
    /* minimal valid one: no normalizer means no lower-casing nor cleaning */
    const char *j5 = "{\"model\": {\"vocab\": {\"[UNK]\": 0, \"[CLS]\": 1, \"[SEP]\": 2, \"A\": 3}},"
                     " \"normalizer\": null, \"post_processor\": {\"type\": \"BertProcessing\","
                     " \"sep\": [\"[SEP]\", 2], \"cls\": [\"[CLS]\", 1]}}";
    PE_CHECK_EQ_INT(pe_tokenizer_new_from_json(j5, strlen(j5), "x.json", &t, &err), PE_OK);
    if (t) {
        EXPECT(t, "A a", "[CLS] A [UNK] [SEP]", NULL, NULL);
        pe_tokenizer_free(t);
    }
}

static void test_vocab_errors(void)
{
    pe_error err;
    pe_tokenizer *t = (pe_tokenizer *)&err;
    PE_CHECK_EQ_INT(pe_tokenizer_open_vocab("/nonexistent/dir/vocab.txt", NULL, &t, &err), PE_ERR_IO);
    PE_CHECK(t == NULL);
    PE_CHECK(strstr(err.msg, "/nonexistent/dir/vocab.txt") != NULL);
    PE_CHECK_EQ_INT(pe_tokenizer_new_from_vocab_text("", 0, "v.txt", NULL, &t, &err), PE_ERR_PARSE);
    PE_CHECK(strstr(err.msg, "empty") != NULL);
    const char *dup = "[UNK]\n[CLS]\n[SEP]\nabc\n[CLS]\n";
    PE_CHECK_EQ_INT(pe_tokenizer_new_from_vocab_text(dup, strlen(dup), "v.txt", NULL, &t, &err), PE_ERR_CORRUPT);
    PE_CHECK_MSG(strstr(err.msg, "v.txt") && strstr(err.msg, "line 5") && strstr(err.msg, "line 2"), "%s",
                 err.msg);
    const char *nounk = "[PAD]\n[CLS]\n[SEP]\n";
    PE_CHECK_EQ_INT(pe_tokenizer_new_from_vocab_text(nounk, strlen(nounk), "v.txt", NULL, &t, &err),
                    PE_ERR_INVALID);
    PE_CHECK_MSG(strstr(err.msg, "[UNK]") != NULL, "%s", err.msg);
    const char *nosep = "[UNK]\n[CLS]\n";
    PE_CHECK_EQ_INT(pe_tokenizer_new_from_vocab_text(nosep, strlen(nosep), "v.txt", NULL, &t, &err),
                    PE_ERR_INVALID);
    PE_CHECK(strstr(err.msg, "[SEP]") != NULL);
    const char *badutf = "[UNK]\n[CLS]\n[SEP]\nab\xc3\n";
    PE_CHECK_EQ_INT(pe_tokenizer_new_from_vocab_text(badutf, strlen(badutf), "v.txt", NULL, &t, &err),
                    PE_ERR_UTF8);
    PE_CHECK_MSG(strstr(err.msg, "line 4") != NULL, "%s", err.msg);
    /* extra special token missing from the vocabulary */
    const char *extra[] = {"[E9]"};
    pe_tokenizer_options o = pe_tokenizer_options_default();
    o.extra_special_tokens = extra;
    o.n_extra_special_tokens = 1;
    const char *ok = "[UNK]\n[CLS]\n[SEP]\n";
    PE_CHECK_EQ_INT(pe_tokenizer_new_from_vocab_text(ok, strlen(ok), "v.txt", &o, &t, &err), PE_ERR_INVALID);
    PE_CHECK(strstr(err.msg, "[E9]") != NULL);
    PE_CHECK(t == NULL);
    /* CRLF and lone CR line ends, no final newline; no [PAD]: padding fails */
    const char *crlf = "[UNK]\r\n[CLS]\r[SEP]\r\nhi";
    PE_CHECK_EQ_INT(pe_tokenizer_new_from_vocab_text(crlf, strlen(crlf), "v.txt", NULL, &t, &err), PE_OK);
    if (t) {
        PE_CHECK_EQ_INT(pe_tokenizer_vocab_size(t), 4);
        PE_CHECK_EQ_INT(pe_tokenizer_token_to_id(t, "hi", 2), 3);
        PE_CHECK_EQ_INT(pe_tokenizer_get_special_ids(t).pad, -1);
        pe_tokenizer_encode_options eo = pe_tokenizer_encode_options_default();
        eo.max_length = 8;
        eo.padding = PE_PAD_MAX_LENGTH;
        pe_encoding *enc = NULL;
        PE_CHECK_EQ_INT(pe_tokenizer_encode(t, "hi", 2, NULL, 0, &eo, &enc, &err), PE_ERR_INVALID);
        PE_CHECK(strstr(err.msg, "pad") != NULL);
        pe_tokenizer_free(t);
    }
    pe_tokenizer_free(NULL);
    pe_encoding_free(NULL);
    pe_encodings_free(NULL, 3);
}

static void test_from_tokens_and_dir(void)
{
    /* Round trip as the model file does: tokens + options -> same encodings */
    size_t n = pe_tokenizer_vocab_size(g_unc);
    const char **toks = malloc(n * sizeof *toks);
    for (size_t i = 0; i < n; i++) toks[i] = pe_tokenizer_id_to_token(g_unc, (int32_t)i);
    pe_tokenizer *t = NULL;
    pe_error err;
    PE_CHECK_EQ_INT(pe_tokenizer_new_from_tokens(toks, n, pe_tokenizer_get_options(g_unc), &t, &err), PE_OK);
    if (t) {
        EXPECT(t, "Café naïve résumé", "[CLS] cafe na ##ive resume [SEP]", NULL, NULL);
        pe_tokenizer_free(t);
    }
    const char *two[] = {"[UNK]", "[UNK]", "[CLS]", "[SEP]"};
    PE_CHECK_EQ_INT(pe_tokenizer_new_from_tokens(two, 4, NULL, &t, &err), PE_ERR_CORRUPT);
    PE_CHECK_MSG(strstr(err.msg, "id 1") && strstr(err.msg, "id 0"), "%s", err.msg);
    free(toks);

    /* A checkpoint folder: vocab.txt + tokenizer_config.json (cased) */
    char dir[200];
    if (!pe_test_tmpdir(dir, sizeof dir, "pe_tok")) {
        PE_CHECK(0);
        return;
    }
    char p1[256], p2[256];
    snprintf(p1, sizeof p1, "%s/vocab.txt", dir);
    snprintf(p2, sizeof p2, "%s/tokenizer_config.json", dir);
    FILE *f = fopen(p1, "w");
    fputs("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nCafé\ncafe\n<x>\n", f);
    fclose(f);
    PE_CHECK_EQ_INT(pe_tokenizer_open_dir(dir, &t, &err), PE_OK); /* no config: uncased defaults */
    if (t) {
        EXPECT(t, "Café", "[CLS] cafe [SEP]", NULL, NULL);
        pe_tokenizer_free(t);
    }
    f = fopen(p2, "w");
    fputs("{\"do_lower_case\": false, \"additional_special_tokens\": [\"<x>\"],"
          " \"mask_token\": {\"content\": \"[MASK]\", \"lstrip\": true}}", f);
    fclose(f);
    PE_CHECK_EQ_INT(pe_tokenizer_open_dir(dir, &t, &err), PE_OK);
    if (t) {
        EXPECT(t, "Café<x>cafe", "[CLS] Café <x> cafe [SEP]", NULL, NULL);
        PE_CHECK_EQ_INT(pe_tokenizer_get_options(t)->do_lower_case, 0);
        pe_tokenizer_free(t);
    }
    unlink(p1);
    unlink(p2);
    PE_CHECK_EQ_INT(pe_tokenizer_open_dir(dir, &t, &err), PE_ERR_IO);
    PE_CHECK(strstr(err.msg, dir) != NULL);
    pe_test_rm_rf(dir);
}

static void test_char_offsets(void)
{
    const char *a = "Café naïve", *b = "我爱 hello";
    pe_encoding *enc = NULL;
    pe_error err;
    PE_CHECK_EQ_INT(pe_tokenizer_encode(g_unc, a, strlen(a), b, strlen(b), NULL, &enc, &err), PE_OK);
    if (!enc) return;
    PE_CHECK_EQ_STR(joined(g_unc, enc), "[CLS] cafe na ##ive [SEP] 我 爱 hello [SEP]");
    pe_token_span co[16];
    PE_CHECK_EQ_INT(pe_encoding_char_offsets(enc, a, strlen(a), b, strlen(b), co), PE_OK);
    static const size_t want[] = {0, 0, 0, 4, 5, 7, 7, 10, 0, 0, 0, 1, 1, 2, 3, 8, 0, 0};
    for (size_t i = 0; i < enc->len; i++) {
        PE_CHECK_EQ_INT(co[i].start, want[2 * i]);
        PE_CHECK_EQ_INT(co[i].end, want[2 * i + 1]);
    }
    PE_CHECK_EQ_INT(pe_utf8_char_offset(a, 6), 5);
    PE_CHECK_EQ_INT(pe_encoding_char_offsets(enc, a, 3, b, strlen(b), co), PE_ERR_INVALID);
    pe_encoding_free(enc);
}

/* A 1 MB text in one go, and one 1 MB "word": linear, no blow-up. The
 * rate is printed for information, never asserted. */
static void test_large(void)
{
    const char *piece = "The quick brown fox, naïve Café, jumped over 我爱北京 lazy dogs! ";
    size_t pl = strlen(piece), n = (1 << 20) / pl + 1, len = n * pl;
    char *big = malloc(len + 1);
    for (size_t i = 0; i < n; i++) memcpy(big + i * pl, piece, pl);
    big[len] = '\0';
    pe_encoding *enc = NULL;
    pe_error err;
    double t0 = pe_now();
    PE_CHECK_EQ_INT(pe_tokenizer_encode(g_unc, big, len, NULL, 0, NULL, &enc, &err), PE_OK);
    double dt = pe_now() - t0;
    if (enc) {
        /* per piece: the quick brown fox , na ##ive cafe , jump ##ed over
         * 我 爱 北 京 lazy dog ##s ! = 20 tokens */
        PE_CHECK_EQ_INT(enc->len, n * 20 + 2);
        PE_CHECK_EQ_INT(enc->offsets[enc->len - 2].end, len - 1);
        fprintf(stderr, "  1 MB text: %zu tokens, %.1f MB/s\n", enc->len, (double)len / 1e6 / (dt > 0 ? dt : 1e-9));
        pe_encoding_free(enc);
    }
    memset(big, 'x', len);
    PE_CHECK_EQ_INT(pe_tokenizer_encode(g_unc, big, len, NULL, 0, NULL, &enc, &err), PE_OK);
    if (enc) {
        PE_CHECK_EQ_INT(enc->len, 3);
        PE_CHECK_EQ_INT(enc->offsets[1].end, len);
        pe_encoding_free(enc);
    }
    free(big);
}

/* The truncated flag when HF's early stop cut the text exactly at
 * max_length (no special tokens): set only when the rest had tokens. */
static void test_truncated_flag(void)
{
    pe_tokenizer_encode_options eo = pe_tokenizer_encode_options_default();
    eo.add_special_tokens = 0;
    eo.max_length = 3;
    static const struct { const char *text, *tokens; int truncated; } cases[] = {
        {"a b c d", "a b c", 1},
        {"a b c  \t\x01", "a b c", 0},          /* the rest is only blanks and controls */
        {"a b c \xcc\x81", "a b c", 0},         /* a lone combining accent, stripped */
        {"a b cde", "a b c", 1},                /* the word in progress ends the text */
        {"a b c[SEP]", "a b c", 1},             /* a special token is a token */
        {"a b", "a b", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pe_encoding *enc = NULL;
        pe_error err;
        PE_CHECK_EQ_INT(pe_tokenizer_encode(g_unc, cases[i].text, strlen(cases[i].text), NULL, 0, &eo, &enc, &err),
                        PE_OK);
        if (!enc) continue;
        PE_CHECK_EQ_STR(joined(g_unc, enc), cases[i].tokens);
        PE_CHECK_MSG(enc->truncated == cases[i].truncated, "case %zu: truncated %d", i, enc->truncated);
        pe_encoding_free(enc);
    }
}

/* Random bytes and random mixes of valid pieces: never a crash (ASan runs
 * this in CI), PE_ERR_UTF8 exactly when the input is not UTF-8, and the
 * encodings keep their invariants. */
static void test_random_inputs(void)
{
    static const char *pieces[] = {"a", "hello", " ", "\t", "[SEP]", "[MAS", "\xc3\xa9", "\xe6\x88\x91", "\xf0\x9f\x98\x80",
                                   "\xcc\x81", "\xe2\x80\x8b", ".", "##", "\xc4\xb0", "\xef\xbf\xbd", "\x01", "\xe3\x80\x80",
                                   "\xef\xac\x81", "resume", "\xed\xa0\x80", "\xff", "\xc3"};
    uint32_t seed = 2024;
    char buf[160];
    size_t n_ok = 0, n_bad = 0;
    for (int it = 0; it < 4000; it++) {
        size_t len = 0;
        seed = seed * 1664525u + 1013904223u;
        int mode = (seed >> 24) % 3, parts = (int)((seed >> 8) % 24);
        for (int k = 0; k < parts; k++) {
            seed = seed * 1664525u + 1013904223u;
            if (mode == 0) {
                buf[len++] = (char)(seed >> 24);
            } else {
                const char *p = pieces[(seed >> 16) % (mode == 1 ? 19 : sizeof pieces / sizeof pieces[0])];
                size_t l = strlen(p);
                if (len + l > sizeof buf) break;
                memcpy(buf + len, p, l);
                len += l;
            }
        }
        pe_tokenizer_encode_options eo = pe_tokenizer_encode_options_default();
        seed = seed * 1664525u + 1013904223u;
        if (seed >> 31) {
            eo.max_length = 4 + (seed >> 8) % 12;
            eo.padding = PE_PAD_MAX_LENGTH;
        }
        const pe_tokenizer *tok = (seed >> 20) & 1 ? g_unc : g_json;
        pe_encoding *enc = NULL;
        pe_error err;
        int valid = pe_utf8_valid(buf, len, NULL);
        int pair = (seed >> 21) & 1;
        pe_status st = pe_tokenizer_encode(tok, buf, len, pair ? buf : NULL, pair ? len : 0, &eo, &enc, &err);
        PE_CHECK_MSG(st == (valid ? PE_OK : PE_ERR_UTF8), "iteration %d: status %d", it, (int)st);
        if (!enc) {
            n_bad++;
            continue;
        }
        n_ok++;
        size_t prev[2] = {0, 0};
        for (size_t i = 0; i < enc->len; i++) {
            int sq = enc->seq_ids[i];
            if (sq < 0) {
                PE_CHECK(enc->offsets[i].start == 0 && enc->offsets[i].end == 0 && enc->word_ids[i] == -1);
                continue;
            }
            PE_CHECK_MSG(enc->offsets[i].start < enc->offsets[i].end && enc->offsets[i].end <= len,
                         "iteration %d token %zu: span [%zu,%zu) of %zu bytes", it, i, enc->offsets[i].start,
                         enc->offsets[i].end, len);
            PE_CHECK(enc->offsets[i].start >= prev[sq]);
            prev[sq] = enc->offsets[i].start;
            PE_CHECK(enc->ids[i] >= 0 && (size_t)enc->ids[i] < pe_tokenizer_vocab_size(tok));
        }
        if (eo.max_length) PE_CHECK_EQ_INT(enc->len, eo.max_length);
        pe_encoding_free(enc);
    }
    PE_CHECK(n_ok > 1000 && n_bad > 500);
}

/* ---- parity with Hugging Face tokenizers (label golden) ------------------
 * hf_golden.jsonl was written by gen_hf_golden.js with HF's tokenizers
 * library (the Rust code of BertTokenizerFast); every line is one encoding
 * that ours must reproduce exactly: ids, type ids, masks, word ids and the
 * offsets (HF gives code points; ours are bytes, converted here). */

static int json_int_array(const cJSON *arr, int32_t *out, size_t cap)
{
    if (!cJSON_IsArray(arr)) return -1;
    int n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) {
        if ((size_t)n >= cap) return -1;
        out[n++] = (int32_t)e->valuedouble;
    }
    return n;
}

static void test_hf_golden(void)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = fopen(fixture("hf_golden.jsonl"), "rb");
    PE_CHECK(f != NULL);
    if (!f) return;
    fseek(f, 0, SEEK_END);
    len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc(len + 1);
    PE_CHECK(fread(buf, 1, len, f) == len);
    fclose(f);
    buf[len] = '\0';

    pe_tokenizer *lower_nostrip = NULL;
    pe_tokenizer_options o = pe_tokenizer_options_default();
    o.strip_accents = 0;
    pe_error err;
    PE_CHECK_EQ_INT(pe_tokenizer_open_vocab(fixture("vocab.txt"), &o, &lower_nostrip, &err), PE_OK);
    /* "trained": models/vocab.txt, made by `persona vocab`, as the shipped
     * model's tokenizer reads it (lower-cased, accents stripped) */
    pe_tokenizer *trained = NULL;
    pe_tokenizer_options to = pe_tokenizer_options_default();
    PE_CHECK_EQ_INT(pe_tokenizer_open_vocab(fixture("../../../models/vocab.txt"), &to, &trained, &err), PE_OK);
    if (!trained) {
        pe_tokenizer_free(lower_nostrip);
        free(buf);
        return;
    }
    PE_CHECK_EQ_INT(pe_tokenizer_vocab_size(trained), 16000);

    enum { CAP = 4096 };
    static int32_t want[CAP], want_off[2 * CAP];
    static pe_token_span co[CAP];
    size_t lines = 0, mismatches = 0, n_trained = 0;
    char *line = buf;
    while (line && *line) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = '\0';
        lines++;
        cJSON *d = cJSON_Parse(line);
        PE_CHECK_MSG(d != NULL, "hf_golden.jsonl line %zu: bad JSON", lines);
        if (!d) break;
        const char *cfg = cJSON_GetObjectItem(d, "cfg")->valuestring;
        const pe_tokenizer *tok = !strcmp(cfg, "uncased") ? g_unc : !strcmp(cfg, "cased") ? g_cased
                                : !strcmp(cfg, "json") ? g_json : !strcmp(cfg, "trained") ? trained : lower_nostrip;
        n_trained += tok == trained;
        const cJSON *ja = cJSON_GetObjectItem(d, "a"), *jb = cJSON_GetObjectItem(d, "b");
        const char *a = ja->valuestring, *b = cJSON_IsString(jb) ? jb->valuestring : NULL;
        pe_tokenizer_encode_options eo = pe_tokenizer_encode_options_default();
        eo.add_special_tokens = cJSON_GetObjectItem(d, "add_special")->valueint;
        eo.max_length = (size_t)cJSON_GetObjectItem(d, "max_length")->valueint;
        const char *strat = cJSON_GetObjectItem(d, "strategy")->valuestring;
        eo.truncation = !eo.max_length ? PE_TRUNCATE_NONE : !strcmp(strat, "only_first") ? PE_TRUNCATE_ONLY_FIRST
                      : !strcmp(strat, "only_second") ? PE_TRUNCATE_ONLY_SECOND : PE_TRUNCATE_LONGEST_FIRST;
        int pad = cJSON_GetObjectItem(d, "pad")->valueint;
        if (pad) {
            eo.padding = PE_PAD_MAX_LENGTH;
            if (!eo.max_length) eo.max_length = (size_t)pad;
        }
        pe_encoding *enc = NULL;
        pe_status st = pe_tokenizer_encode(tok, a, strlen(a), b, b ? strlen(b) : 0, &eo, &enc, &err);
        int bad = 0;
        char why[PE_ERRMSG_MAX + 64] = "";
        if (cJSON_GetObjectItem(d, "error")) {
            if (st != PE_ERR_INVALID) {
                bad = 1;
                snprintf(why, sizeof why, "HF fails, ours gives status %d", (int)st);
            }
        } else if (st != PE_OK) {
            bad = 1;
            snprintf(why, sizeof why, "ours failed: %s", err.msg);
        } else {
            const char *fields[5] = {"ids", "type_ids", "attention_mask", "special_mask", "word_ids"};
            const int32_t *ours[5] = {enc->ids, enc->type_ids, enc->attention_mask, enc->special_mask,
                                      enc->word_ids};
            for (int k = 0; k < 5 && !bad; k++) {
                int n = json_int_array(cJSON_GetObjectItem(d, fields[k]), want, CAP);
                if (n != (int)enc->len) {
                    bad = 1;
                    snprintf(why, sizeof why, "%s: %d values, ours %zu", fields[k], n, enc->len);
                    break;
                }
                for (int i = 0; i < n; i++)
                    if (want[i] != ours[k][i]) {
                        bad = 1;
                        snprintf(why, sizeof why, "%s[%d]: HF %d, ours %d", fields[k], i, want[i], ours[k][i]);
                        break;
                    }
            }
            if (!bad && enc->len <= CAP) {
                pe_encoding_char_offsets(enc, a, strlen(a), b, b ? strlen(b) : 0, co);
                const cJSON *offs = cJSON_GetObjectItem(d, "offsets"), *e;
                size_t i = 0;
                cJSON_ArrayForEach(e, offs) {
                    want_off[0] = (int32_t)cJSON_GetArrayItem(e, 0)->valuedouble;
                    want_off[1] = (int32_t)cJSON_GetArrayItem(e, 1)->valuedouble;
                    if (co[i].start != (size_t)want_off[0] || co[i].end != (size_t)want_off[1]) {
                        bad = 1;
                        snprintf(why, sizeof why, "offsets[%zu]: HF [%d,%d), ours [%zu,%zu) (chars)", i,
                                 want_off[0], want_off[1], co[i].start, co[i].end);
                        break;
                    }
                    i++;
                }
            }
        }
        if (bad) {
            mismatches++;
            if (mismatches <= 20)
                fprintf(stderr, "hf_golden.jsonl line %zu (%s): %s\n  a=\"%s\" b=%s%s%s\n  ours: %s\n", lines, cfg,
                        why, a, b ? "\"" : "", b ? b : "null", b ? "\"" : "", enc ? joined(tok, enc) : "-");
        }
        pe_encoding_free(enc);
        cJSON_Delete(d);
        line = nl ? nl + 1 : NULL;
    }
    PE_CHECK_MSG(mismatches == 0, "%zu of %zu HF encodings differ", mismatches, lines);
    PE_CHECK(lines > 1000 && n_trained > 250);
    fprintf(stderr, "  %zu HF encodings compared (%zu with models/vocab.txt), %zu differ\n", lines, n_trained, mismatches);
    pe_tokenizer_free(lower_nostrip);
    pe_tokenizer_free(trained);
    free(buf);
}

int main(int argc, char **argv)
{
    int hf = argc > 1 && !strcmp(argv[1], "--hf-golden");
    PE_RUN(test_load);
    if (hf) {
        PE_RUN(test_hf_golden);
        pe_tokenizer_free(g_unc);
        pe_tokenizer_free(g_cased);
        pe_tokenizer_free(g_json);
        PE_TEST_EXIT();
    }
    PE_RUN(test_accents);
    PE_RUN(test_cjk);
    PE_RUN(test_emoji);
    PE_RUN(test_punctuation);
    PE_RUN(test_long_and_unknown);
    PE_RUN(test_specials_in_text);
    PE_RUN(test_control_and_whitespace);
    PE_RUN(test_empty);
    PE_RUN(test_invalid_utf8);
    PE_RUN(test_pairs_truncation_padding);
    PE_RUN(test_batch);
    PE_RUN(test_json);
    PE_RUN(test_vocab_errors);
    PE_RUN(test_from_tokens_and_dir);
    PE_RUN(test_char_offsets);
    PE_RUN(test_truncated_flag);
    PE_RUN(test_random_inputs);
    PE_RUN(test_large);
    pe_tokenizer_free(g_unc);
    pe_tokenizer_free(g_cased);
    pe_tokenizer_free(g_json);
    PE_TEST_EXIT();
}
