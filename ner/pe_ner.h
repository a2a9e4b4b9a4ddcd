/*
 * pe_ner.h - named-entity recognition: BIO token classification on the
 * encoder, CoNLL data, decoding to character spans with confidences,
 * entity-level evaluation (conlleval / seqeval semantics), and the
 * graph feature (the coarse type of a graph alias match per token).
 *
 * Usage (inference with a model that has an "ner" head):
 *
 *     pe_ner *ner;
 *     pe_ner_open(enc, NULL, &ner, &err);          // enc: pe_encoder_load(model.pem)
 *     pe_ner_mention *m; size_t n;
 *     pe_ner_extract(ner, text, strlen(text), &m, &n, &err);
 *     for (size_t i = 0; i < n; i++)
 *         printf("%s [%zu,%zu) %.2f\n", m[i].type, m[i].start, m[i].end, m[i].score);
 *     pe_ner_mentions_free(m, n);
 *     pe_ner_close(ner);
 *
 * Labels: "O" then, for each entity type T in order, "B-T" and "I-T" (the
 * head's label set, stored in the model as labels["ner"]). Training labels
 * go on the first sub-token of each word; the other sub-tokens are not
 * trained (-100) and follow their word at decoding.
 *
 * Decoding: word labels (the first sub-token's argmax) become entities as
 * conlleval reads them: B-T starts an entity, I-T continues one of type T
 * and starts one after O or another type. A mention's span is the bytes
 * from its first word's first character to its last word's last one.
 * Confidence: the mean over the mention's words of the probability of the
 * predicted label (a number in (0, 1], not a calibrated probability).
 *
 * Evaluation: an entity counts as correct when its type and its word span
 * equal a gold entity's (exact match); precision, recall and F1 per type,
 * micro (over all entities) and macro (the mean of the types' F1).
 *
 * The graph feature: for a sentence's words, the longest sequences of up
 * to 6 words whose text is an alias in the graph store (pe_kg_lookup,
 * longest match first, left to right) mark their words with the coarse
 * type of the best candidate: person, place, organisation, work, product,
 * other (through P31/P279*, see pe_ner_coarse_type); ids 1..6, 0 = none.
 */
#ifndef PE_NER_H
#define PE_NER_H

#include <stddef.h>
#include <stdint.h>

#include "pe_encoder.h"
#include "pe_kg.h"
#include "pe_trainer.h"
#include "pe_util.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- CoNLL data ---- */

typedef struct pe_ner_sentence {
    int n;        /* words */
    char **words; /* (n) */
    char **tags;  /* (n) BIO tags as mapped: "O", "B-person", ... */
    int doc;      /* its document: the rank of the -DOCSTART- line before it
                   * in the corpus (CoNLL-2003), -1 when none came before */
} pe_ner_sentence;

typedef struct pe_ner_corpus pe_ner_corpus;

typedef struct pe_ner_read_options {
    /* Tag renames, "FROM=TO" pairs separated by commas, applied to the type
     * of B-/I- tags ("PER=person,ORG=organization,MISC=O": a type mapped to
     * O makes its words O). NULL: none. */
    const char *type_map;
    /* When not NULL, the allowed entity types (after mapping); a tag of
     * another type is an error naming the file and line (or, unless
     * strict, the sentence is skipped and counted). */
    const char *const *types;
    int n_types;
    int strict; /* 1: the first bad line is an error; 0: skip the sentence, count it */
    /* When not NULL (and not ""), a word that starts with it is O whatever
     * its tag, and an I-x right after such a word becomes B-x. "@": Twitter
     * user names, which WNUT-17 tags O and the Broad Twitter Corpus as
     * persons or organisations; the words changed are counted
     * (pe_ner_corpus_prefixed_o). */
    const char *o_prefix;
    /* When not NULL (and not ""), the entity types (after mapping, comma
     * separated) this file does not annotate: its O words may be entities
     * of them, so their tag becomes "O?TYPES" ("O?product,creative-work"),
     * which pe_ner_add_examples trains as a partial label (O or one of
     * those types; see pe_token_head_loss). For the Broad Twitter Corpus,
     * which has persons, places and organisations only. Words made O by
     * o_prefix stay O. */
    const char *missing_types;
} pe_ner_read_options;
PE_API pe_ner_read_options pe_ner_read_options_default(void);

/* Reads a CoNLL file: one word a line, the word in the first column and
 * the tag in the last (tab or space separated), blank lines between
 * sentences, -DOCSTART- lines ignored. Errors: PE_ERR_IO, PE_ERR_PARSE
 * (strict: file:line and what is wrong; a line without a tag, a tag that
 * is not O/B-T/I-T, a type outside `types`), PE_ERR_UTF8, PE_ERR_NOMEM. */
PE_API pe_status pe_ner_corpus_read(const char *path, const pe_ner_read_options *o, pe_ner_corpus **out, pe_error *err);
PE_API void pe_ner_corpus_free(pe_ner_corpus *c); /* NULL is a no-op */
PE_API size_t pe_ner_corpus_count(const pe_ner_corpus *c);
PE_API const pe_ner_sentence *pe_ner_corpus_get(const pe_ner_corpus *c, size_t i);
/* Sentences skipped for bad lines (non-strict), and the first such
 * problem ("file:line: ..."), "" when none. */
PE_API size_t pe_ner_corpus_skipped(const pe_ner_corpus *c);
PE_API const char *pe_ner_corpus_first_problem(const pe_ner_corpus *c);
/* The words whose entity tag o_prefix turned to O. */
PE_API size_t pe_ner_corpus_prefixed_o(const pe_ner_corpus *c);
/* Appends other's sentences (copies). */
PE_API pe_status pe_ner_corpus_append(pe_ner_corpus *c, const pe_ner_corpus *other, pe_error *err);
/* Makes c hold each of its sentences `times` times (1: unchanged), to
 * weigh one training file more than another. PE_ERR_INVALID for times < 1,
 * PE_ERR_NOMEM. */
PE_API pe_status pe_ner_corpus_repeat(pe_ner_corpus *c, int times, pe_error *err);
/* Mention replacement (Dai and Adel, 2020): for each sentence of c (those
 * it holds on entry) with at least one entity of `type`, `copies` more
 * sentences in which each such entity's words are those of names[k], k
 * drawn reproducibly from seed (a name's words are separated by single
 * spaces, "Rogue One"; tagged B-type, I-type, ...); the other words and
 * tags are kept, and the copies belong to no document. For rare types
 * whose few training mentions a small model memorises: names from a graph
 * (the English labels of its films, series, games, software, ...) teach the
 * context more than the name. *added (may be NULL): the sentences added.
 * Errors: PE_ERR_INVALID (no type, n_names 0 with copies > 0, a name
 * that is empty or starts with a space), PE_ERR_NOMEM (the sentences added
 * before it stay). */
PE_API pe_status pe_ner_corpus_add_replaced(pe_ner_corpus *c, const char *type, const char *const *names,
                                            size_t n_names, int copies, uint64_t seed, size_t *added, pe_error *err);

/* ---- labels ---- */

/* The BIO label strings of types: "O", "B-T1", "I-T1", ... (2n + 1,
 * malloc'd array of malloc'd strings: pe_ner_labels_free). */
PE_API pe_status pe_ner_labels_make(const char *const *types, int n_types, char ***labels, int *n_labels, pe_error *err);
PE_API void pe_ner_labels_free(char **labels, int n);
/* The label id of tag in labels, or -1. */
PE_API int pe_ner_label_id(const char *const *labels, int n_labels, const char *tag);

/* ---- graph feature ---- */
enum { PE_NER_FEAT_NONE = 0, PE_NER_FEAT_PERSON, PE_NER_FEAT_PLACE, PE_NER_FEAT_ORG, PE_NER_FEAT_WORK,
       PE_NER_FEAT_PRODUCT, PE_NER_FEAT_OTHER, PE_NER_N_FEAT };
/* "none", "person", "place", "organisation", "work", "product", "other". */
PE_API const char *pe_ner_feat_name(int feat);
/* The coarse type of an entity through P31/P279*: Q5 human -> person;
 * Q2221906 geographic location, Q618123 geographical feature, Q486972
 * human settlement, Q56061 administrative territorial entity, Q6256
 * country, Q515 city -> place; Q43229 organization -> organisation;
 * Q386724 work, Q17537576 creative work -> work; Q2424752 product, Q431289
 * brand -> product; anything else -> other. The first class that matches,
 * in that order. */
PE_API int pe_ner_coarse_type(pe_kg_reader *r, pe_kg_id e);
/* feats (n_words): the graph feature of each word (see above). */
PE_API pe_status pe_ner_graph_features(pe_kg_reader *r, const char *const *words, int n_words, int32_t *feats, pe_error *err);

/* ---- word features ---- */
/* A NER head can take one feature id per token, from its word: the graph
 * feature above, the word's shape (its capitals, which the encoder cannot
 * see since the tokenizer lower-cases), or both. The head's feature count
 * says which: PE_NER_N_FEAT (graph), PE_NER_N_SHAPE (shape) or their
 * product (both: id = graph + PE_NER_N_FEAT * shape). Shapes: the
 * word's letter case, pe_text_case (util): no capital letter; capitalised
 * (the first letter is the only capital); all capitals (two letters or
 * more); mixed (any other, "iPhone", "McDonald", "A"). ASCII letters only
 * are looked at. */
enum {
    PE_NER_SHAPE_LOWER = PE_CASE_LOWER,
    PE_NER_SHAPE_CAPITALISED = PE_CASE_CAPITALISED,
    PE_NER_SHAPE_UPPER = PE_CASE_UPPER,
    PE_NER_SHAPE_MIXED = PE_CASE_MIXED,
    PE_NER_N_SHAPE = PE_N_CASES
};
enum { PE_NER_USE_GRAPH = 1, PE_NER_USE_SHAPE = 2, PE_NER_USE_DOC_CONTEXT = 4 /* examples only: see pe_ner_add_examples */ };
PE_API int pe_ner_word_shape(const char *word);
/* The feature count of a head using `use` (PE_NER_USE_* bits): 0, 7, 4 or 28. */
PE_API int pe_ner_feature_count(int use);
/* The PE_NER_USE_* bits of a head with n_feat feature ids; -1 when n_feat is
 * none of pe_ner_feature_count's values. */
PE_API int pe_ner_feature_use(int n_feat);
/* feats (n_words): each word's feature id for a head using `use`; the graph
 * part is 0 (none) without a reader. */
PE_API pe_status pe_ner_word_features(pe_kg_reader *graph, int use, const char *const *words, int n_words,
                                      int32_t *feats, pe_error *err);

/* ---- training data ---- */

/* Document context: for each sentence i of c, the sentences lo[i]..hi[i]-1
 * around it (i among them) of its document that fit with it in max_len
 * tokens ([CLS] and [SEP] included), whole sentences added one before and
 * one after in turn while they fit; a sentence of no document (doc -1) has
 * none (lo = i, hi = i + 1). What the FLERT recipe (Schweter and Akbik,
 * 2020) gives a transformer tagger on CoNLL-2003: the words around. lo and
 * hi (c's count) are malloc'd (caller frees). PE_ERR_UTF8, PE_ERR_NOMEM. */
PE_API pe_status pe_ner_doc_context(const pe_ner_corpus *c, const pe_tokenizer *tok, int max_len, size_t **lo,
                                    size_t **hi, pe_error *err);

/* Adds the corpus's sentences to data as examples for a head with the
 * given labels (first sub-token of each word labelled, -100 elsewhere;
 * with PE_NER_USE_GRAPH or _SHAPE, each token gets its word's feature id,
 * see above; with PE_NER_USE_DOC_CONTEXT, each example is the sentence
 * within its document context, pe_ner_doc_context, whose words are
 * input only, -100). Sentences longer than max_len tokens are truncated
 * (counted in *truncated).
 * Errors: PE_ERR_INVALID (a tag not in labels), PE_ERR_UTF8, PE_ERR_NOMEM. */
PE_API pe_status pe_ner_add_examples(const pe_ner_corpus *c, const pe_tokenizer *tok, const char *const *labels,
                              int n_labels, int max_len, pe_kg_reader *graph, int use, pe_tag_data *data,
                              size_t *truncated, pe_error *err);

/* ---- evaluation ---- */

typedef struct pe_ner_type_score {
    char type[48];
    long tp, fp, fn;
    double precision, recall, f1;
} pe_ner_type_score;
typedef struct pe_ner_scores {
    int n_types;
    pe_ner_type_score *types; /* (n_types), in the order of first appearance */
    long tp, fp, fn;
    double precision, recall, f1; /* micro */
    double macro_f1;
    long sentences;
} pe_ner_scores;
/* Scores word tag sequences: gold[i] and pred[i] are n_words[i] tags of
 * sentence i. Fills out (types malloc'd: pe_ner_scores_clear). */
PE_API pe_status pe_ner_score(const char *const *const *gold, const char *const *const *pred, const int *n_words,
                       size_t n_sentences, pe_ner_scores *out, pe_error *err);
PE_API void pe_ner_scores_clear(pe_ner_scores *s);

/* A pe_tag_scorer for pe_tag_objective_new over a corpus's examples made
 * by pe_ner_add_examples (the same corpus, tokenizer and max_len): its
 * metric is micro F1 ("f1"); extras precision, recall, macro_f1. The
 * predicted tags go through the same rules as pe_ner_tag_words (machine
 * text O, no mention of punctuation alone), so that training's development
 * F1 is what persona eval ner reports for the same decoding. doc_context:
 * the examples were made with PE_NER_USE_DOC_CONTEXT. */
typedef struct pe_ner_scorer pe_ner_scorer;
PE_API pe_status pe_ner_scorer_new(const pe_ner_corpus *dev, const pe_tokenizer *tok, const char *const *labels,
                            int n_labels, int max_len, int doc_context, pe_ner_scorer **out, pe_error *err);
PE_API void pe_ner_scorer_free(pe_ner_scorer *s);
PE_API pe_status pe_ner_scorer_score(void *scorer, const pe_tag_data *dev, const int32_t *const *pred,
                              const float *const *conf, pe_eval_result *out, pe_error *err);

/* ---- inference ---- */

typedef struct pe_ner pe_ner;
typedef struct pe_ner_options {
    const char *head;      /* "ner" */
    pe_kg_reader *graph;   /* for the graph feature when the head has one (borrowed); NULL: none */
} pe_ner_options;
PE_API pe_ner_options pe_ner_options_default(void);
/* The NER of a loaded model (borrowed; must outlive the handle): its head
 * and labels["HEAD"]. PE_NOT_FOUND when the model has no such head,
 * PE_ERR_CORRUPT when the head and its labels disagree. */
PE_API pe_status pe_ner_open(pe_encoder *enc, const pe_ner_options *o, pe_ner **out, pe_error *err);
PE_API void pe_ner_close(pe_ner *ner); /* NULL is a no-op */
/* How the head decides (see pe_tag_decode; pe_ner_open sets Viterbi).
 * pe_ner_head_decode sets it on a bare BIO head (O, B-T, I-T, ...), as
 * training does for its evaluations. Errors: PE_ERR_INVALID, PE_ERR_NOMEM. */
PE_API pe_status pe_ner_set_decode(pe_ner *ner, pe_tag_decode d, pe_error *err);
PE_API pe_status pe_ner_head_decode(pe_token_head *head, pe_tag_decode d, pe_error *err);
/* The model's entity types (borrowed). */
PE_API int pe_ner_n_types(const pe_ner *ner);
PE_API const char *pe_ner_type_name(const pe_ner *ner, int i);

typedef struct pe_ner_mention {
    size_t start, end; /* byte span in the text */
    char *text;        /* the span's bytes (owned) */
    const char *type;  /* borrowed from the pe_ner (valid until close) */
    float score;       /* see the header's comment */
} pe_ner_mention;
/* Mentions of one text (UTF-8; longer texts than the model's positions are
 * read in consecutive windows of words). Errors: PE_ERR_UTF8,
 * PE_ERR_NOMEM, PE_ERR_BACKEND. *m NULL and *n 0 when none. */
PE_API pe_status pe_ner_extract(pe_ner *ner, const char *text, size_t len, pe_ner_mention **m, size_t *n, pe_error *err);
/* The same from an encoding of text made by the model's tokenizer with its
 * [CLS]/[SEP] (e.g. by pe_encoder_encode_texts) and its last-layer hidden
 * states (e->len, C): the encoder does not run again, so a caller that
 * also runs other heads (relations) encodes each text once, in batches.
 * Texts longer than the encoding (truncated) lose the rest. */
PE_API pe_status pe_ner_extract_encoded(pe_ner *ner, const char *text, const pe_encoding *e, const float *hidden,
                                 pe_ner_mention **m, size_t *n, pe_error *err);
/* Word tags of pre-split words (for evaluation): tags[i] borrowed label
 * strings, conf[i] (may be NULL) the probabilities. */
PE_API pe_status pe_ner_tag_words(pe_ner *ner, const char *const *words, int n_words, const char **tags, float *conf,
                           pe_error *err);
/* Word tags of sentence i of c read with the sentences lo..hi-1 around it
 * (lo <= i < hi: its document context, pe_ner_doc_context; lo = i, hi =
 * i + 1: alone), as pe_ner_tag_words: tags and conf (may be NULL) get
 * sentence i's words only. PE_ERR_INVALID (a bad range) and those of
 * pe_ner_tag_words. */
PE_API pe_status pe_ner_tag_sentence(pe_ner *ner, const pe_ner_corpus *c, size_t i, size_t lo, size_t hi,
                                     const char **tags, float *conf, pe_error *err);
PE_API void pe_ner_mentions_free(pe_ner_mention *m, size_t n);

#ifdef __cplusplus
}
#endif
#endif
