/*
 * pe_vocab.h - WordPiece vocabulary trainer, as Hugging Face tokenizers'
 * WordPieceTrainer (a BPE trainer with the continuing-subword prefix "##").
 * Its vocab.txt loads in pe_tokenizer (pe_tokenizer.h) and in Hugging
 * Face's BERT tokenizers with the same ids (checked against tokenizers'
 * BertNormalizer + BertPreTokenizer + WordPiece, BertTokenizerFast's
 * pipeline, on 15k corpus sentences).
 *
 * Usage:
 *
 *     pe_error err;
 *     pe_vocab_options o = pe_vocab_options_default();   // 16000, uncased
 *     pe_vocab_trainer *t = NULL;
 *     if (pe_vocab_trainer_new(&o, &t, &err) >= PE_ERR_FIRST) ...
 *     while (next_line(&line, &len))                      // one text unit a call
 *         if (pe_vocab_trainer_feed(t, line, len, &err) >= PE_ERR_FIRST) ...
 *     if (pe_vocab_trainer_write(t, "vocab.txt", &err) >= PE_ERR_FIRST) ...
 *     pe_vocab_trainer_free(t);
 *
 * Algorithm:
 *  1. Word counts: every text fed goes through pe_tokenizer_pre_tokenize of
 *     a tokenizer made of the special tokens alone, with the chosen
 *     lower-casing and accent options (BERT clean_text, CJK chars as words,
 *     whitespace and punctuation splitting). Special tokens found in the
 *     text are cut out and not counted; words of more than 100 code points
 *     are not counted (the tokenizer makes them one [UNK]).
 *  2. Alphabet: every char of the words, counted with the words' counts.
 *     With limit_alphabet > 0 only the limit_alphabet most frequent chars
 *     are kept (ties: the smaller code point is kept); the others are
 *     dropped from the words, which go on without them (as HF does).
 *  3. Initial vocabulary, in id order: the special tokens (ids 0..S-1, in
 *     the given order), the alphabet chars (by code point), then "##c" for
 *     each alphabet char c that occurs after the first char of some word
 *     (by code point; HF adds these in hash-map order). Each word is the
 *     sequence of its chars' symbols: the first plain, the rest "##c".
 *  4. Merges: while the vocabulary is smaller than vocab_size, the most
 *     frequent adjacent pair of symbols (counted over all words with their
 *     counts) is merged in every word: "a" + "##b" gives "ab", "##a" + "##b"
 *     gives "##ab" (the second part loses its "##"). Ties go to the pair
 *     whose (first id, second id) is smallest, as HF orders its heap. A
 *     merged string already in the vocabulary keeps its id (the merge is
 *     done, the vocabulary does not grow). Merging stops before a pair
 *     seen fewer than min_frequency times, or when no pair is left.
 * The vocabulary is the tokens in id order. When the specials, the
 * alphabet and the "##c" symbols alone exceed vocab_size, the vocabulary
 * is that large (nothing is cut, as in HF).
 *
 * Differences from HF (tokenizers' BpeTrainer::do_train): the "##c"
 * order above is deterministic (HF's follows hash-map order, and its ties
 * compare those ids); special tokens in the text are skipped and words
 * over 100 chars are not counted (HF's trainer normalises and
 * pre-tokenizes without the added-token pass, so it counts "[", "cls",
 * "]", and knows no word limit); HF applies a merge only to the words its
 * queue entry lists, so a pair that reappeared in new words is merged in
 * two steps (the second reuses the token): here a merge applies to every
 * word holding the pair at once. Measured against tokenizers 0.23.2 (its
 * Node bindings' Tokenizer.train: WordPieceTrainer defaults, 30000 tokens,
 * min_frequency 0, no special tokens, no alphabet limit; ours with [UNK]
 * alone, the same options) on 20,000 lines of the English Wikipedia
 * extract: the same word counts, alphabet and "##c" set, the same first
 * 474 merges in the same order (the 475th is a tie that HF breaks by its
 * "##c" ids), 29,974 of 30,000 tokens in common. Two HF runs on the same
 * input share 29,985 (its hash-map order changes from run to run).
 *
 * Cost: feeding is linear in the text (about the speed of encoding it,
 * plus one hash lookup a word). Training keeps, per distinct adjacent pair,
 * its count and the list of words it was seen in (a hash map keyed by the
 * pair), and a max-heap of (count, pair) entries validated lazily: a
 * popped entry whose count is stale is pushed back with the current count.
 * One merge costs the total length of the words listed for the pair, plus
 * a heap push per pair it creates. Memory: the distinct words' bytes + 28
 * bytes a distinct word + 4 bytes a symbol + ~60 bytes a distinct pair + 4
 * bytes a (pair, word) occurrence. Measured: 86 MiB of English text
 * (18.9 M words, 258 k distinct) to 16000 tokens in 3.8 s on one core
 * (3.1 s of it reading and counting), 70 MB peak RSS.
 *
 * Threads: a trainer is one thread's object; distinct trainers are
 * independent.
 */
#ifndef PE_VOCAB_H
#define PE_VOCAB_H

#include <stddef.h>
#include <stdint.h>

#include "pe_util.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pe_vocab_trainer pe_vocab_trainer;

/* Why merging stopped. */
typedef enum pe_vocab_stop {
    PE_VOCAB_STOP_NONE = 0,     /* not trained yet */
    PE_VOCAB_STOP_SIZE,         /* the vocabulary reached vocab_size */
    PE_VOCAB_STOP_MIN_FREQUENCY,/* the best pair was seen fewer than min_frequency times */
    PE_VOCAB_STOP_NO_PAIRS      /* every word is one symbol (or none was fed) */
} pe_vocab_stop;

/* Figures of a trainer: counting ones grow while texts are fed, the rest
 * are set by pe_vocab_trainer_finish (and during it, for the progress
 * callback). */
typedef struct pe_vocab_stats {
    uint64_t texts;           /* texts fed */
    uint64_t bytes;           /* bytes fed */
    uint64_t words;           /* words counted (with repeats) */
    size_t distinct_words;
    size_t chars;             /* distinct chars seen in the words */
    size_t alphabet;          /* chars kept (chars - dropped by limit_alphabet) */
    size_t continuation;      /* "##c" symbols */
    size_t pairs;             /* distinct adjacent pairs before the first merge */
    size_t merges;            /* merges done so far */
    uint64_t last_count;      /* count of the last pair merged */
    size_t vocab_size;        /* tokens so far (final after finish) */
    pe_vocab_stop stop;
} pe_vocab_stats;

/* Progress during pe_vocab_trainer_finish: called once the initial pairs
 * are counted, every 250 merges and at the end. s is borrowed for the call. */
typedef void (*pe_vocab_progress_fn)(const pe_vocab_stats *s, void *user);

/* Trainer options. Strings are copied by pe_vocab_trainer_new. */
typedef struct pe_vocab_options {
    size_t vocab_size;       /* 16000: target size, counting the special tokens; >= their number */
    uint64_t min_frequency;  /* 2: pairs seen fewer times are never merged (0 and 1: any pair) */
    size_t limit_alphabet;   /* 1000: keep the most frequent chars; 0: keep all */
    int do_lower_case;       /* 1 (uncased vocabulary); 0 cased */
    int strip_accents;       /* -1: same as do_lower_case (BERT); 0 no; 1 yes */
    /* Written first, ids 0..n-1 in this order; never split in text. NULL:
     * [PAD] [UNK] [CLS] [SEP] [MASK] (bert-base-uncased has [PAD]=0,
     * [UNK]=100...; ours are 0..4). At least one; each non-empty, without
     * \n or \r, valid UTF-8, no repeats. pe_tokenizer with default options
     * needs [UNK], [CLS] and [SEP] among them. */
    const char *const *special_tokens;
    size_t n_special_tokens;
    pe_vocab_progress_fn progress; /* NULL: none */
    void *progress_user;
} pe_vocab_options;

/* vocab_size 16000, min_frequency 2, limit_alphabet 1000, lower-case,
 * strip_accents -1, the five BERT special tokens, no progress callback. */
PE_API pe_vocab_options pe_vocab_options_default(void);

/* Makes a trainer. opt NULL means defaults. Errors: PE_ERR_INVALID (an
 * option out of range: vocab_size 0, above 2^30 or below the number of
 * special tokens, do_lower_case not 0/1, strip_accents not -1/0/1; a bad
 * special token list: empty, a token NULL, empty, with \n or \r, or
 * repeated), PE_ERR_UTF8 (a special token), PE_ERR_NOMEM. On failure *out
 * is NULL. Free with pe_vocab_trainer_free. */
PE_API pe_status pe_vocab_trainer_new(const pe_vocab_options *opt, pe_vocab_trainer **out, pe_error *err);

/* Counts the words of one text unit (a line, a paragraph: it is split into
 * words, so the unit only matters for memory). Errors: PE_ERR_INVALID (t
 * NULL, text NULL with len > 0, called after finish), PE_ERR_UTF8 (the
 * byte offset of the first bad sequence; nothing of this text is
 * counted), PE_ERR_LIMIT (more than 2^32 - 2 distinct words or 2^40 bytes
 * of distinct words), PE_ERR_NOMEM (the trainer stays usable; the words
 * of this text before the failure stay counted). */
PE_API pe_status pe_vocab_trainer_feed(pe_vocab_trainer *t, const char *text, size_t len, pe_error *err);

/* Trains (the first call; later calls give the same result): the
 * vocabulary in id order, *tokens[i] the NUL-terminated token of id i,
 * *n_tokens of them. Array and strings are borrowed, valid until
 * pe_vocab_trainer_free. Feeding is over after it. Errors:
 * PE_ERR_INVALID (t NULL, or an earlier finish failed), PE_ERR_LIMIT
 * (the words hold more than 2^31 - 1 chars in all), PE_ERR_NOMEM (also
 * for more than 2^31 - 1 distinct pairs; the trainer is then unusable:
 * free it). On failure *tokens is NULL and *n_tokens 0. */
PE_API pe_status pe_vocab_trainer_finish(pe_vocab_trainer *t, const char *const **tokens, size_t *n_tokens,
                                  pe_error *err);

/* Trains if not yet done, then writes vocab.txt: one token a line ("\n"),
 * id = line number from 0, UTF-8 without BOM. Written to "PATH.tmp" then
 * renamed over path, so path is either the old file or the whole new one.
 * Errors: those of finish, PE_ERR_IO (the path named; the temporary file
 * is removed). */
PE_API pe_status pe_vocab_trainer_write(pe_vocab_trainer *t, const char *path, pe_error *err);

/* The trainer's figures so far (copied into *s). */
PE_API void pe_vocab_trainer_stats(const pe_vocab_trainer *t, pe_vocab_stats *s);

/* Frees a trainer; NULL is a no-op. */
PE_API void pe_vocab_trainer_free(pe_vocab_trainer *t);

#ifdef __cplusplus
}
#endif
#endif
