/*
 * pe_tokenizer.h - BERT WordPiece tokenizer, behaving as Hugging Face's
 * BertTokenizerFast (and, where the two agree, BertTokenizer), with byte
 * offsets into the original UTF-8 text for every token.
 *
 * Usage:
 *
 *     pe_error err;
 *     pe_tokenizer *tok = NULL;
 *     pe_tokenizer_options opt = pe_tokenizer_options_default();  // uncased
 *     if (pe_tokenizer_open_vocab("vocab.txt", &opt, &tok, &err) >= PE_ERR_FIRST) ...
 *
 *     pe_tokenizer_encode_options eo = pe_tokenizer_encode_options_default();
 *     eo.max_length = 128;                    // truncate longest_first
 *     pe_encoding *enc = NULL;
 *     pe_tokenizer_encode(tok, text, strlen(text), NULL, 0, &eo, &enc, &err);
 *     for (size_t i = 0; i < enc->len; i++)
 *         printf("%s [%zu,%zu)\n", pe_tokenizer_id_to_token(tok, enc->ids[i]),
 *                enc->offsets[i].start, enc->offsets[i].end);
 *     pe_encoding_free(enc);
 *     pe_tokenizer_free(tok);
 *
 * Pipeline (the order of HF's BertNormalizer, BertPreTokenizer, WordPiece):
 *  1. special / added tokens are cut out of the raw text first (leftmost,
 *     longest match, case-sensitive, anywhere in the text: "a[SEP]b" gives
 *     a, [SEP], b); they are never normalised nor split and keep their real
 *     byte span. Only the [CLS]/[SEP] the encoder adds around segments have
 *     the empty span (0,0).
 *  2. clean_text: U+0000, U+FFFD and every char of a C* category (Cc, Cf,
 *     Cn, Co, Cs, as HF: it tests for "C*", not only Cc/Cf) are dropped,
 *     except \t \n \r; whitespace (\t \n \r, Zs, Zl, Zp) becomes a space.
 *  3. handle_chinese_chars: chars in HF's _is_chinese_char ranges become a
 *     word of their own.
 *  4. strip_accents: NFD, then chars of category Mn dropped.
 *  5. lowercase: Unicode lower-casing char by char (U+0130 'İ' gives
 *     "i\u0307" as in Rust/Python; no final-sigma rule: "ΟΔΟΣ" gives
 *     "οδοσ" as in the fast tokenizer, where the slow one's str.lower()
 *     would give "οδος").
 *  6. pre-tokenization: split on whitespace; every punctuation char (ASCII
 *     33-47, 58-64, 91-96, 123-126 and every Unicode P* category) is a word
 *     of its own.
 *  7. WordPiece: a word of more than max_input_chars_per_word code points is
 *     one unk token; otherwise greedy longest-match-first, pieces after the
 *     first looked up with the continuing prefix ("##"); when some position
 *     matches nothing, the whole word is one unk token.
 * Unicode data (categories, NFD, case mapping) come from utf8proc.
 *
 * Offsets are byte offsets [start, end) into the text the token came from
 * (text A or B of a pair: see pe_encoding.seq_ids). A token made from
 * normalised chars covers the original chars they came from, so with
 * lower-casing or accent stripping a span may be longer or shorter in bytes
 * than the token ("İ" 2 bytes -> "i"; "É" -> "e"). When one original char
 * expands to several normalised chars split across tokens, each of those
 * tokens covers the whole original char (as HF's offset_mapping).
 *
 * Thread safety: a pe_tokenizer is immutable once made; any number of
 * threads may encode with it at once. Encodings are independent objects.
 *
 * Truncation follows tokenizers' truncate_encodings: the special tokens'
 * room is taken from max_length first; longest_first on a pair keeps
 * (n1, n2) = (shorter, max(shorter, budget - shorter)) and, when both are
 * too long, budget/2 and budget/2 + budget%2 (the odd token to the longer
 * text, or to B when equal). As in HF, a text is only tokenized up to
 * max_length tokens (the word in progress is finished) when truncating,
 * which decides the split when a text exceeds max_length; a budget of 0
 * empties both texts whatever the strategy.
 *
 * Parity: tests/fixtures/tokenizer/hf_golden.jsonl holds ~1700 encodings
 * (singles, pairs, truncation, padding, errors; four configurations) made
 * by HF's tokenizers library; test_tokenizer_hf replays them exactly.
 *
 * Known differences from HF (documented, rare): NFD is applied char by char
 * (no canonical reordering of runs of combining marks of different classes
 * across original chars); added tokens marked normalized=true in
 * tokenizer.json are matched on the raw text like the others; a UTF-8 BOM at
 * the start of vocab.txt is skipped.
 */
#ifndef PE_TOKENIZER_H
#define PE_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "pe_util.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pe_tokenizer pe_tokenizer;

/* Tokenizer options. Strings are copied by the constructors; the struct
 * returned by pe_tokenizer_get_options() borrows the tokenizer's copies. */
typedef struct pe_tokenizer_options {
    int do_lower_case;            /* 1 (uncased vocab): lower-case the text */
    int strip_accents;            /* -1: same as do_lower_case (HF default); 0 no; 1 yes */
    int tokenize_chinese_chars;   /* 1: CJK chars become words of their own */
    int clean_text;               /* 1: drop control chars, map whitespace to ' ' */
    int max_input_chars_per_word; /* 100: longer words become one unk token */
    const char *unk_token;        /* "[UNK]" (must be in the vocabulary) */
    const char *cls_token;        /* "[CLS]" (must be in the vocabulary) */
    const char *sep_token;        /* "[SEP]" (must be in the vocabulary) */
    const char *pad_token;        /* "[PAD]" (needed only for padding) */
    const char *mask_token;       /* "[MASK]" (optional) */
    const char *continuing_subword_prefix; /* "##" */
    /* More tokens never split when found in text (HF additional special /
     * added tokens). Each must be in the vocabulary. The five above are
     * never split either, when present in the vocabulary. */
    const char *const *extra_special_tokens;
    size_t n_extra_special_tokens;
} pe_tokenizer_options;

/* bert-base-uncased defaults: lower-case, strip accents, CJK, clean text,
 * 100 chars, [UNK] [CLS] [SEP] [PAD] [MASK], "##", no extra tokens. */
PE_API pe_tokenizer_options pe_tokenizer_options_default(void);

/* Loads a vocab.txt: UTF-8, one token a line ("\n" or "\r\n"), id = line
 * number counting from 0. An empty line is kept as an (unmatchable) empty
 * token so that ids stay aligned. opt NULL means defaults.
 * Errors (message names the file and line): PE_ERR_IO (cannot open/read),
 * PE_ERR_UTF8 (bad UTF-8, line and byte offset), PE_ERR_PARSE (empty
 * vocabulary), PE_ERR_CORRUPT (duplicate token: both lines named),
 * PE_ERR_INVALID (unk/cls/sep token or an extra special token missing from
 * the vocabulary), PE_ERR_NOMEM. On failure *out is NULL. */
PE_API pe_status pe_tokenizer_open_vocab(const char *path, const pe_tokenizer_options *opt,
                                  pe_tokenizer **out, pe_error *err);

/* The same from vocab.txt content in memory ([text, text+len)); `name` is
 * used in error messages (may be NULL). */
PE_API pe_status pe_tokenizer_new_from_vocab_text(const char *text, size_t len, const char *name,
                                           const pe_tokenizer_options *opt,
                                           pe_tokenizer **out, pe_error *err);

/* From an in-memory vocabulary: tokens[i] (NUL-terminated UTF-8) has id i.
 * For the project's model file, which stores the vocabulary and these
 * options. Same errors as pe_tokenizer_open_vocab (lines are ids). */
PE_API pe_status pe_tokenizer_new_from_tokens(const char *const *tokens, size_t n_tokens,
                                       const pe_tokenizer_options *opt,
                                       pe_tokenizer **out, pe_error *err);

/* Loads a Hugging Face tokenizer.json (the "fast" format). Read:
 *   model: type must be "WordPiece"; vocab {token: id}; unk_token;
 *          continuing_subword_prefix; max_input_chars_per_word.
 *   normalizer: null or "BertNormalizer" {clean_text, handle_chinese_chars,
 *          strip_accents (null = follow lowercase), lowercase}.
 *   pre_tokenizer: null or "BertPreTokenizer".
 *   post_processor: "BertProcessing" {cls, sep} or "TemplateProcessing" of
 *          the BERT shape ([CLS] $A [SEP] / [CLS] $A [SEP] $B:1 [SEP]:1);
 *          null keeps the default [CLS]/[SEP].
 *   added_tokens: [{id, content, special, lstrip, rstrip, ...}]: all are
 *          never split; ids beyond model.vocab extend the vocabulary.
 * Errors: PE_ERR_IO, PE_ERR_PARSE (bad JSON, missing or mistyped field,
 * ids with holes or clashing), PE_ERR_UNSUPPORTED (another model type,
 * normalizer, pre-tokenizer or post-processor), plus those of open_vocab. */
PE_API pe_status pe_tokenizer_open_json(const char *path, pe_tokenizer **out, pe_error *err);
/* The same from tokenizer.json content in memory; `name` for messages. */
PE_API pe_status pe_tokenizer_new_from_json(const char *json, size_t len, const char *name,
                                     pe_tokenizer **out, pe_error *err);

/* Opens a Hugging Face checkpoint folder: tokenizer.json when present, else
 * vocab.txt; then explicit do_lower_case / strip_accents /
 * tokenize_chinese_chars, special-token strings and
 * additional_special_tokens in tokenizer_config.json (if present) override,
 * as transformers' from_pretrained does. Unlike transformers, a key absent
 * from tokenizer_config.json changes nothing (BertTokenizerFast would
 * apply its own default do_lower_case=True over tokenizer.json).
 * PE_ERR_IO names the folder when it has neither file. */
PE_API pe_status pe_tokenizer_open_dir(const char *dir, pe_tokenizer **out, pe_error *err);

/* Frees a tokenizer; NULL is a no-op. */
PE_API void pe_tokenizer_free(pe_tokenizer *tok);

/* The effective options (strip_accents resolved to 0/1; every never-split
 * token other than the five named ones listed in extra_special_tokens).
 * With the vocabulary (id_to_token) they rebuild the same tokenizer through
 * pe_tokenizer_new_from_tokens, except for the lstrip/rstrip/single_word
 * flags of tokenizer.json added tokens (all false in BERT checkpoints).
 * Strings borrowed, valid until pe_tokenizer_free. */
PE_API const pe_tokenizer_options *pe_tokenizer_get_options(const pe_tokenizer *tok);

/* Number of ids (0 .. size-1). */
PE_API size_t pe_tokenizer_vocab_size(const pe_tokenizer *tok);
/* Token string of an id, NUL-terminated, borrowed until pe_tokenizer_free;
 * NULL when id is out of range. */
PE_API const char *pe_tokenizer_id_to_token(const pe_tokenizer *tok, int32_t id);
/* Id of an exact token string [s, s+len), or -1 when absent. Hash lookup. */
PE_API int32_t pe_tokenizer_token_to_id(const pe_tokenizer *tok, const char *s, size_t len);

/* Ids of the special tokens; -1 for one not in the vocabulary (pad, mask). */
typedef struct pe_tokenizer_special_ids {
    int32_t unk, cls, sep, pad, mask;
} pe_tokenizer_special_ids;
PE_API pe_tokenizer_special_ids pe_tokenizer_get_special_ids(const pe_tokenizer *tok);

/* ---- Encoding ---------------------------------------------------------- */

typedef enum pe_truncation {
    PE_TRUNCATE_NONE = 0,      /* never truncate (max_length only pads) */
    PE_TRUNCATE_LONGEST_FIRST, /* HF "longest_first" (the default) */
    PE_TRUNCATE_ONLY_FIRST,    /* only text A loses tokens */
    PE_TRUNCATE_ONLY_SECOND    /* only text B loses tokens */
} pe_truncation;

typedef enum pe_padding {
    PE_PAD_NONE = 0,    /* no padding (the default) */
    PE_PAD_MAX_LENGTH,  /* pad every encoding to max_length */
    PE_PAD_LONGEST      /* batch: pad to the longest encoding of the batch */
} pe_padding;

typedef struct pe_tokenizer_encode_options {
    int add_special_tokens;   /* 1: [CLS] A [SEP] and [CLS] A [SEP] B [SEP] */
    size_t max_length;        /* 0: no limit; counts the special tokens */
    pe_truncation truncation; /* applies when max_length > 0 */
    pe_padding padding;
    int pad_left;             /* 1: padding goes before the tokens */
} pe_tokenizer_encode_options;

/* add_special_tokens 1, max_length 0, LONGEST_FIRST, no padding, right. */
PE_API pe_tokenizer_encode_options pe_tokenizer_encode_options_default(void);

/* Byte span [start, end) of a token in its source text. */
typedef struct pe_token_span {
    size_t start, end;
} pe_token_span;

/* One encoded sequence. Every array has len elements and lives in the same
 * allocation as the struct: free it with pe_encoding_free() only. */
typedef struct pe_encoding {
    size_t len;             /* tokens, including specials and padding */
    int32_t *ids;           /* (len) token ids */
    int32_t *type_ids;      /* (len) 0 for [CLS] A [SEP], 1 for B [SEP]; 0 for padding */
    int32_t *attention_mask;/* (len) 1 real token, 0 padding */
    int32_t *special_mask;  /* (len) 1 for added [CLS]/[SEP] and padding, else 0 */
    int32_t *word_ids;      /* (len) index of the pre-token (word) within its text, -1 for
                             * added specials and padding; a special token found inside
                             * the text counts as a word, as in HF */
    int32_t *seq_ids;       /* (len) 0 text A, 1 text B, -1 added specials and padding */
    pe_token_span *offsets; /* (len) byte spans into text A or B (see seq_ids); (0,0) for
                             * added specials and padding */
    size_t n_tokens_a;      /* tokens of text A kept (without specials) */
    size_t n_tokens_b;      /* tokens of text B kept (0 without a pair) */
    int truncated;          /* 1 when tokens were dropped to fit max_length */
} pe_encoding;

/* Encodes text A (and text B when text_b is not NULL; len_b may be 0).
 * opt NULL means defaults. Errors: PE_ERR_UTF8 (message gives "text A" or
 * "text B" and the byte offset of the first bad sequence), PE_ERR_INVALID
 * (max_length smaller than the special tokens need; padding requested and
 * no pad token; PE_TRUNCATE_ONLY_* cannot reach max_length), PE_ERR_NOMEM.
 * On failure *out is NULL. Linear in the text length. */
PE_API pe_status pe_tokenizer_encode(const pe_tokenizer *tok, const char *text_a, size_t len_a,
                              const char *text_b, size_t len_b,
                              const pe_tokenizer_encode_options *opt, pe_encoding **out, pe_error *err);

/* Encodes n texts (pairs when texts_b is not NULL). lens / lens_b may be
 * NULL for NUL-terminated texts. PE_PAD_LONGEST pads to the longest of the
 * batch (and to at most max_length when truncating). On success *out is a
 * malloc'd array of n encodings, freed with pe_encodings_free(*out, n); on
 * failure *out is NULL and the message names the text index. */
PE_API pe_status pe_tokenizer_encode_batch(const pe_tokenizer *tok, const char *const *texts,
                                    const size_t *lens, const char *const *texts_b,
                                    const size_t *lens_b, size_t n,
                                    const pe_tokenizer_encode_options *opt, pe_encoding ***out,
                                    pe_error *err);

/* Frees one encoding / an array from encode_batch; NULL is a no-op. */
PE_API void pe_encoding_free(pe_encoding *enc);
PE_API void pe_encodings_free(pe_encoding **encs, size_t n);

/* ---- Pre-tokenization ---------------------------------------------------- */

/* Receives one word from pe_tokenizer_pre_tokenize: [word, word+len), valid
 * UTF-8, not NUL-terminated, borrowed for the call only. Return PE_OK to go
 * on; a status >= PE_ERR_FIRST stops the run, which then returns it. */
typedef pe_status (*pe_tokenizer_word_fn)(const char *word, size_t len, void *user);

/* Runs steps 1-6 of the pipeline above on [text, text+len) (with this
 * tokenizer's options: clean_text, CJK, strip_accents, lower-casing) and
 * calls fn with each word, in text order, exactly as WordPiece (step 7)
 * would see it, e.g. "Héllo, WORLD!" gives "hello" "," "world" "!" when
 * uncased. The same code path as pe_tokenizer_encode. Not passed to fn:
 * never-split special / added tokens found in the text (step 1: they are
 * cut out; the text on either side is pre-tokenized), and words of more
 * than max_input_chars_per_word code points (encode makes them one unk
 * token). This is what a vocabulary trainer counts (see pe_vocab.h).
 * Errors: PE_ERR_INVALID (tok or fn NULL, text NULL with len > 0),
 * PE_ERR_UTF8 (byte offset of the first bad sequence; fn is not called
 * at all), PE_ERR_NOMEM, or the error status fn returned (fn has been
 * called for the words before). Linear in len; thread-safe like encode. */
PE_API pe_status pe_tokenizer_pre_tokenize(const pe_tokenizer *tok, const char *text, size_t len,
                                          pe_tokenizer_word_fn fn, void *user, pe_error *err);

/* Converts an encoding's byte offsets to code point offsets (HF's
 * offset_mapping in Python str indices), for all tokens at once in linear
 * time: char_offsets has enc->len entries. text_b may be NULL without a
 * pair. PE_ERR_INVALID when an offset exceeds its text's length. */
PE_API pe_status pe_encoding_char_offsets(const pe_encoding *enc, const char *text_a, size_t len_a,
                                   const char *text_b, size_t len_b,
                                   pe_token_span *char_offsets);

#ifdef __cplusplus
}
#endif
#endif
