/* fuzz_tokenizer.c - libFuzzer target: arbitrary bytes as a text (or a
 * text pair) through the WordPiece tokenizer (pe_tokenizer.h), with a small
 * vocabulary built here and options taken from the input's first bytes.
 *
 * Input: byte 0 tokenizer flags and pair / specials / pad side, byte 1
 * max_length, byte 2 truncation, padding and batch mode, byte 3 where text
 * A ends in a pair; the rest is the text(s).
 *
 * Checked: invalid UTF-8 (utf8proc's verdict, independent of the
 * tokenizer's own check) gives PE_ERR_UTF8 and nothing else; otherwise the
 * only errors are the documented option errors; ids are in the vocabulary;
 * offsets lie in their text, starts and word ids never go back; specials
 * and padding are laid out as documented; max_length holds; without
 * normalisation a token's text is exactly its byte span; truncation only
 * drops tokens from the end of each text; encode and encode_batch agree;
 * char offsets convert. Violations abort(). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "pe_tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fz_check(int ok)
{
    if (!ok) abort();
}

static const char *const fz_vocab[] = {
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "<sp>", "a[b", "", "the", "un", "##aff", "##able", "hello",
    "world", "##s", "##ing", "play", "a", "b", "c", "e", "i", "s", "x", "##a", "##b", "##c", "##e", "##i",
    "##x", "##", "#", ".", ",", "!", "'", "-", "[", "]", "<", ">", "é", "É", "ß", "ο", "δ", "σ", "Σ", "中", "国",
    "日", "本", "İ", "i̇", "##̇", "ﬁ", "fi", "🙂", "\t", "a b", "##ab", "##ba",
};
static const char *const fz_extra[] = {"<sp>", "a[b"};
#define FZ_NVOCAB (sizeof fz_vocab / sizeof fz_vocab[0])

/* One tokenizer per combination of the 5 option bits, made on first use. */
static pe_tokenizer *fz_toks[32];

static void fz_free_toks(void)
{
    for (int i = 0; i < 32; i++) pe_tokenizer_free(fz_toks[i]);
}

static const pe_tokenizer *fz_tokenizer(unsigned bits)
{
    if (fz_toks[bits]) return fz_toks[bits];
    static int registered;
    if (!registered) atexit(fz_free_toks), registered = 1;
    pe_tokenizer_options o = pe_tokenizer_options_default();
    o.do_lower_case = bits & 1;
    o.strip_accents = (bits >> 1) & 1;
    o.tokenize_chinese_chars = (bits >> 2) & 1;
    o.clean_text = (bits >> 3) & 1;
    o.max_input_chars_per_word = (bits & 16) ? 3 : 100;
    o.extra_special_tokens = fz_extra;
    o.n_extra_special_tokens = 2;
    pe_error err;
    fz_check(pe_tokenizer_new_from_tokens(fz_vocab, FZ_NVOCAB, &o, &fz_toks[bits], &err) == PE_OK);
    return fz_toks[bits];
}

static int fz_utf8_ok(const char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t n = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(len - i), &cp);
        if (n <= 0 || cp < 0) return 0;
        i += (size_t)n;
    }
    return 1;
}

static void fz_same(const pe_encoding *a, const pe_encoding *b)
{
    fz_check(a->len == b->len && a->n_tokens_a == b->n_tokens_a && a->n_tokens_b == b->n_tokens_b &&
             a->truncated == b->truncated);
    for (size_t i = 0; i < a->len; i++)
        fz_check(a->ids[i] == b->ids[i] && a->type_ids[i] == b->type_ids[i] && a->word_ids[i] == b->word_ids[i] &&
                 a->seq_ids[i] == b->seq_ids[i] && a->offsets[i].start == b->offsets[i].start &&
                 a->offsets[i].end == b->offsets[i].end && a->attention_mask[i] == b->attention_mask[i] &&
                 a->special_mask[i] == b->special_mask[i]);
}

static void fz_check_encoding(const pe_tokenizer *tok, const pe_encoding *e, const pe_tokenizer_encode_options *o, int plain,
                              const char *ta, size_t la, const char *tb, size_t lb)
{
    const pe_tokenizer_special_ids sid = pe_tokenizer_get_special_ids(tok);
    const size_t V = pe_tokenizer_vocab_size(tok);
    size_t n_seq[2] = {0, 0}, n_special = 0, n_pad = 0;
    size_t last_start[2] = {0, 0};
    int32_t last_word[2] = {-1, -1};
    int32_t prev_id = -1, prev_seq = -2;
    int seen_pad_before_real = 0, seen_real = 0;
    for (size_t i = 0; i < e->len; i++) {
        int32_t id = e->ids[i], s = e->seq_ids[i];
        fz_check(id >= 0 && (size_t)id < V);
        fz_check(e->attention_mask[i] == 0 || e->attention_mask[i] == 1);
        if (e->attention_mask[i] == 0) { /* padding */
            fz_check(id == sid.pad && s == -1 && e->special_mask[i] == 1 && e->word_ids[i] == -1);
            fz_check(e->offsets[i].start == 0 && e->offsets[i].end == 0 && e->type_ids[i] == 0);
            n_pad++;
            if (!seen_real) seen_pad_before_real = 1;
            else fz_check(!o->pad_left);
            continue;
        }
        seen_real = 1;
        if (s == -1) { /* added [CLS] / [SEP] */
            fz_check(o->add_special_tokens && (id == sid.cls || id == sid.sep) && e->special_mask[i] == 1);
            fz_check(e->word_ids[i] == -1 && e->offsets[i].start == 0 && e->offsets[i].end == 0);
            n_special++;
            prev_seq = -1;
            continue;
        }
        fz_check(s == 0 || (s == 1 && tb));
        fz_check(e->special_mask[i] == 0 && e->type_ids[i] == s);
        const char *text = s ? tb : ta;
        size_t len = s ? lb : la;
        const pe_token_span sp = e->offsets[i];
        fz_check(sp.start <= sp.end && sp.end <= len);
        fz_check(sp.start >= last_start[s]);
        fz_check(e->word_ids[i] >= last_word[s]);
        if (plain && id != sid.unk) {
            /* No normalisation: the token is its bytes (pieces after the
             * first of a word carry the "##" prefix). */
            const char *t = pe_tokenizer_id_to_token(tok, id);
            fz_check(t != NULL);
            int cont = prev_seq == s && e->word_ids[i] == last_word[s] && prev_id >= 0;
            if (cont && strncmp(t, "##", 2) == 0) t += 2;
            fz_check(strlen(t) == sp.end - sp.start && memcmp(t, text + sp.start, sp.end - sp.start) == 0);
        }
        last_start[s] = sp.start;
        last_word[s] = e->word_ids[i];
        prev_id = id;
        prev_seq = s;
        n_seq[s]++;
    }
    fz_check(n_seq[0] == e->n_tokens_a && n_seq[1] == e->n_tokens_b);
    fz_check(n_special == (o->add_special_tokens ? (tb ? 3u : 2u) : 0u));
    fz_check(!seen_pad_before_real || o->pad_left || n_pad == e->len);
    if (o->padding == PE_PAD_NONE) fz_check(n_pad == 0);
    size_t real = e->len - n_pad;
    if (o->max_length && o->truncation != PE_TRUNCATE_NONE) fz_check(e->len <= o->max_length);
    if (o->max_length && o->padding == PE_PAD_MAX_LENGTH) fz_check(e->len >= o->max_length);
    if (o->max_length == 0 || o->truncation == PE_TRUNCATE_NONE) fz_check(!e->truncated);
    if (o->add_special_tokens && real) {
        size_t first = o->pad_left ? n_pad : 0;
        fz_check(e->ids[first] == sid.cls && e->seq_ids[first] == -1);
        fz_check(e->ids[first + real - 1] == sid.sep && e->seq_ids[first + real - 1] == -1);
    }
    pe_token_span *co = malloc((e->len ? e->len : 1) * sizeof *co);
    fz_check(co != NULL);
    fz_check(pe_encoding_char_offsets(e, ta, la, tb, lb, co) == PE_OK);
    for (size_t i = 0; i < e->len; i++) {
        fz_check(co[i].start <= co[i].end && co[i].end <= e->offsets[i].end);
        if (e->seq_ids[i] >= 0) fz_check(co[i].start == pe_utf8_char_offset(e->seq_ids[i] ? tb : ta, e->offsets[i].start));
    }
    free(co);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4) return 0;
    const unsigned b0 = data[0], b1 = data[1], b2 = data[2], b3 = data[3];
    data += 4, size -= 4;
    const unsigned bits = (b0 & 15) | ((b0 >> 7) << 4);
    const pe_tokenizer *tok = fz_tokenizer(bits);
    const int pair = (b0 >> 4) & 1;
    pe_tokenizer_encode_options o = pe_tokenizer_encode_options_default();
    o.add_special_tokens = ((b0 >> 5) & 1) == 0;
    o.pad_left = (b0 >> 6) & 1;
    o.max_length = b1 % 48;
    o.truncation = (pe_truncation)(b2 & 3);
    o.padding = (pe_padding)((b2 >> 2) % 3);
    const int batch = (b2 >> 4) & 1;

    /* Each text in a buffer of its own size, so an over-read is caught. */
    size_t la = pair ? size * b3 / 255 : size, lb = pair ? size - la : 0;
    char *ta = malloc(la ? la : 1), *tb = pair ? malloc(lb ? lb : 1) : NULL;
    fz_check(ta && (!pair || tb));
    memcpy(ta, data, la);
    if (pair) memcpy(tb, data + la, lb);

    pe_error err;
    pe_error_clear(&err);
    pe_encoding *e = NULL;
    pe_status st = pe_tokenizer_encode(tok, ta, la, tb, lb, &o, &e, &err);
    const int valid = fz_utf8_ok(ta, la) && (!pair || fz_utf8_ok(tb, lb));
    const int pad_err = o.padding == PE_PAD_MAX_LENGTH && o.max_length == 0;
    if (st != PE_OK) {
        fz_check(e == NULL && err.msg[0] != '\0');
        if (pad_err) fz_check(st == PE_ERR_INVALID);
        else if (!valid) fz_check(st == PE_ERR_UTF8 && strstr(err.msg, "invalid UTF-8") != NULL);
        else fz_check(st == PE_ERR_INVALID && o.max_length > 0 && o.truncation != PE_TRUNCATE_NONE);
    } else {
        fz_check(valid && !pad_err && e != NULL);
        const int plain = !(bits & 1) && !(bits & 2) && !(bits & 8);
        fz_check_encoding(tok, e, &o, plain, ta, la, tb, lb);
        if (o.max_length && o.truncation != PE_TRUNCATE_NONE) {
            /* truncation only drops tokens from the end of each text */
            pe_tokenizer_encode_options full = pe_tokenizer_encode_options_default();
            full.add_special_tokens = o.add_special_tokens;
            pe_encoding *f = NULL;
            fz_check(pe_tokenizer_encode(tok, ta, la, tb, lb, &full, &f, &err) == PE_OK);
            fz_check(f->n_tokens_a >= e->n_tokens_a && f->n_tokens_b >= e->n_tokens_b);
            fz_check(e->truncated == (f->n_tokens_a > e->n_tokens_a || f->n_tokens_b > e->n_tokens_b));
            for (int32_t s = 0; s < 2; s++) {
                size_t j = 0;
                for (size_t i = 0; i < e->len; i++) {
                    if (e->seq_ids[i] != s) continue;
                    while (j < f->len && f->seq_ids[j] != s) j++;
                    fz_check(j < f->len && f->ids[j] == e->ids[i] && f->offsets[j].start == e->offsets[i].start &&
                             f->offsets[j].end == e->offsets[i].end && f->word_ids[j] == e->word_ids[i]);
                    j++;
                }
            }
            pe_encoding_free(f);
        }
        if (batch) {
            /* The same text twice as a batch: each encoding as the single one. */
            const char *ts[2] = {ta, ta}, *tbs[2] = {tb, tb};
            size_t ls[2] = {la, la}, lbs[2] = {lb, lb};
            pe_encoding **v = NULL;
            fz_check(pe_tokenizer_encode_batch(tok, ts, ls, pair ? tbs : NULL, lbs, 2, &o, &v, &err) == PE_OK);
            fz_same(e, v[0]);
            fz_same(e, v[1]);
            pe_encodings_free(v, 2);
        }
    }
    pe_encoding_free(e);
    free(ta);
    free(tb);
    return 0;
}
