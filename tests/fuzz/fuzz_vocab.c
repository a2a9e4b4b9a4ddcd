/* fuzz_vocab.c - libFuzzer target: arbitrary bytes as lines of a corpus
 * through pe_tokenizer_pre_tokenize and the WordPiece vocabulary trainer
 * (pe_vocab.h), with options taken from the input's first bytes.
 *
 * Input: byte 0 flags (bit 0 lower-case, bits 1-2 strip_accents -1/0/1,
 * bit 3 limit_alphabet 3 instead of 0 = all, bit 4 two custom specials),
 * byte 1 vocab_size - specials (x2), byte 2 min_frequency (0-3); the rest
 * is the corpus, one text a line.
 *
 * Checked: a line is refused with PE_ERR_UTF8 exactly when utf8proc finds
 * it invalid, and nothing else fails; pre-tokenized words are non-empty,
 * valid, at most 100 chars, without whitespace, never a special token;
 * the vocabulary starts with the specials, has no duplicates (it builds a
 * tokenizer), no empty token or line break, its size and stop reason agree
 * with the options; training twice gives the same vocabulary; with the
 * whole alphabet kept, every short line encodes without [UNK] (except a
 * literal "[UNK]"). Violations abort(). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "pe_tokenizer.h"
#include "pe_vocab.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fz_check(int ok)
{
    if (!ok) abort();
}

static int fz_utf8_ok(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        utf8proc_int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate(s + i, (utf8proc_ssize_t)(n - i), &c);
        if (k <= 0) return 0;
        i += (size_t)k;
    }
    return 1;
}

typedef struct fz_words {
    const char *const *specials;
    size_t n_specials;
} fz_words;

static pe_status fz_word(const char *w, size_t len, void *user)
{
    const fz_words *fw = user;
    fz_check(len > 0 && fz_utf8_ok((const uint8_t *)w, len));
    size_t chars = 0;
    for (size_t i = 0; i < len;) {
        utf8proc_int32_t c;
        i += (size_t)utf8proc_iterate((const uint8_t *)w + i, (utf8proc_ssize_t)(len - i), &c);
        fz_check(c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != 0);
        chars++;
    }
    fz_check(chars <= 100);
    for (size_t k = 0; k < fw->n_specials; k++)
        fz_check(!(strlen(fw->specials[k]) == len && memcmp(fw->specials[k], w, len) == 0));
    return PE_OK;
}

/* Trains on the lines of [text, text+n); checks each feed. NULL if the
 * options are refused (never, for the options made here). */
static pe_vocab_trainer *fz_train(const pe_vocab_options *o, const char *text, size_t n, const pe_tokenizer *pre,
                                  fz_words *fw)
{
    pe_vocab_trainer *t = NULL;
    pe_error err;
    fz_check(pe_vocab_trainer_new(o, &t, &err) == PE_OK && t);
    size_t at = 0;
    while (at <= n) {
        const char *nl = memchr(text + at, '\n', n - at);
        size_t len = nl ? (size_t)(nl - (text + at)) : n - at;
        int valid = fz_utf8_ok((const uint8_t *)text + at, len);
        pe_status st = pe_vocab_trainer_feed(t, text + at, len, &err);
        fz_check(valid ? st == PE_OK : st == PE_ERR_UTF8);
        if (pre) {
            st = pe_tokenizer_pre_tokenize(pre, text + at, len, fz_word, fw, &err);
            fz_check(valid ? st == PE_OK : st == PE_ERR_UTF8);
        }
        at += len + 1;
    }
    return t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3) return 0;
    static const char *const custom[] = {"[UNK]", "<s>"};
    static const char *const bert[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    unsigned flags = data[0];
    pe_vocab_options o = pe_vocab_options_default();
    o.do_lower_case = flags & 1;
    o.strip_accents = (int)((flags >> 1) & 3) % 3 - 1;
    o.limit_alphabet = (flags & 8) ? 3 : 0;
    const char *const *sp = (flags & 16) ? custom : bert;
    size_t n_sp = (flags & 16) ? 2 : 5;
    if (flags & 16) {
        o.special_tokens = custom;
        o.n_special_tokens = 2;
    }
    o.vocab_size = n_sp + 2 * (size_t)data[1];
    if (o.vocab_size == 0) o.vocab_size = 1;
    o.min_frequency = data[2] % 4;
    const char *text = (const char *)data + 3;
    size_t n = size - 3;

    /* the trainer's own pre-tokenizer, rebuilt here: specials never split */
    pe_tokenizer_options to = pe_tokenizer_options_default();
    to.do_lower_case = o.do_lower_case;
    to.strip_accents = o.strip_accents;
    to.unk_token = to.cls_token = to.sep_token = sp[0];
    to.pad_token = to.mask_token = NULL;
    to.extra_special_tokens = sp + 1;
    to.n_extra_special_tokens = n_sp - 1;
    pe_tokenizer *pre = NULL;
    pe_error err;
    fz_check(pe_tokenizer_new_from_tokens(sp, n_sp, &to, &pre, &err) == PE_OK);
    fz_words fw = {sp, n_sp};

    pe_vocab_trainer *t = fz_train(&o, text, n, pre, &fw);
    const char *const *toks = NULL;
    size_t nt = 0;
    fz_check(pe_vocab_trainer_finish(t, &toks, &nt, &err) == PE_OK && toks);
    pe_vocab_stats s;
    pe_vocab_trainer_stats(t, &s);
    fz_check(s.vocab_size == nt && nt >= n_sp);
    size_t initial = n_sp + s.alphabet + s.continuation;
    fz_check(nt <= (o.vocab_size > initial ? o.vocab_size : initial));
    fz_check(s.alphabet <= s.chars && (!o.limit_alphabet || s.alphabet <= o.limit_alphabet));
    fz_check(s.stop == PE_VOCAB_STOP_SIZE ? nt >= o.vocab_size
                                          : s.stop == PE_VOCAB_STOP_MIN_FREQUENCY || s.stop == PE_VOCAB_STOP_NO_PAIRS);
    for (size_t i = 0; i < n_sp; i++) fz_check(strcmp(toks[i], sp[i]) == 0);
    for (size_t i = 0; i < nt; i++) fz_check(toks[i][0] && !strpbrk(toks[i], "\r\n"));

    /* the same again */
    pe_vocab_trainer *t2 = fz_train(&o, text, n, NULL, NULL);
    const char *const *toks2 = NULL;
    size_t nt2 = 0;
    fz_check(pe_vocab_trainer_finish(t2, &toks2, &nt2, &err) == PE_OK && nt2 == nt);
    for (size_t i = 0; i < nt; i++) fz_check(strcmp(toks[i], toks2[i]) == 0);
    pe_vocab_trainer_free(t2);

    /* the vocabulary as a tokenizer: no duplicates; no [UNK] on short lines
     * when every char was kept (words over 100 chars need lines over 100 bytes) */
    pe_tokenizer_options vo = to;
    vo.unk_token = "[UNK]";
    vo.cls_token = vo.sep_token = sp[0];
    if (!(flags & 16)) {
        vo.cls_token = "[CLS]";
        vo.sep_token = "[SEP]";
        vo.pad_token = "[PAD]";
        vo.mask_token = "[MASK]";
        vo.extra_special_tokens = NULL;
        vo.n_extra_special_tokens = 0;
    }
    pe_tokenizer *tok = NULL;
    fz_check(pe_tokenizer_new_from_tokens(toks, nt, &vo, &tok, &err) == PE_OK);
    int32_t unk = pe_tokenizer_get_special_ids(tok).unk;
    pe_tokenizer_encode_options eo = pe_tokenizer_encode_options_default();
    eo.add_special_tokens = 0; /* with the custom specials, [CLS] is [UNK] */
    for (size_t at = 0; !o.limit_alphabet && at <= n;) {
        const char *nl = memchr(text + at, '\n', n - at);
        size_t len = nl ? (size_t)(nl - (text + at)) : n - at;
        pe_encoding *e = NULL;
        if (len <= 100 && pe_tokenizer_encode(tok, text + at, len, NULL, 0, &eo, &e, &err) == PE_OK) {
            for (size_t i = 0; i < e->len; i++)
                if (e->ids[i] == unk)
                    fz_check(e->offsets[i].end - e->offsets[i].start == 5 &&
                             memcmp(text + at + e->offsets[i].start, "[UNK]", 5) == 0);
        }
        pe_encoding_free(e);
        at += len + 1;
    }
    pe_tokenizer_free(tok);
    pe_tokenizer_free(pre);
    pe_vocab_trainer_free(t);
    return 0;
}
