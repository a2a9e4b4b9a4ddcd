/*
 * pe_relation.h - persona relation extraction: (subject, relation, object)
 * triples from an utterance, over the PersonaExt inventory (like_food,
 * have_pet, live_in_citystatecountry, ...; 76 relations in our splits).
 *
 * Architecture: one token-classification head on the encoder ("rel"). Its
 * labels are "O", "B-SUBJ", "I-SUBJ" (the subject span, usually "i",
 * "my", "my wife"), then "B-R" and "I-R" for each relation R in order: an
 * object span is tagged with the relation it stands in. So one utterance
 * can hold several triples (one per object span), negation is a relation
 * of its own in this inventory (have_no, dislike, do_not_eat, ...), and
 * the model decides relation and object span together. Each object takes
 * the nearest subject span before it (else the nearest after it; else
 * none: the writer). Words are labelled on their first sub-token, as NER.
 *
 * Score of a triple: the mean over the object's words of the probability
 * of the predicted label (not a calibrated probability).
 *
 * Evaluation (pe_rel_score): a predicted triple is correct when its
 * relation and its object's word span equal a gold triple's of the same
 * utterance (the subject is not compared): triplet micro precision,
 * recall and F1 ("triplet_micro_f1"); relation-only micro F1 over the sets
 * of relations per utterance ("relation_f1"); "relation_accuracy", the
 * share of utterances whose predicted relation set equals the gold one;
 * and F1 per relation.
 *
 * PersonaExt JSONL: one triple a line, {"tokens": [words], "head": [word
 * indices], "tail": [word indices], "label": relation}; the lines of one
 * utterance (same tokens) are grouped. Index lists must be non-empty and
 * in range; a subject whose indices are not one span keeps their bounds; an
 * object whose indices (in any order) are not one span is kept as a
 * discontiguous gold triple (counted in pe_rel_data_discontiguous).
 */
#ifndef PE_RELATION_H
#define PE_RELATION_H

#include <stddef.h>
#include <stdint.h>

#include "pe_encoder.h"
#include "pe_trainer.h"
#include "pe_util.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pe_rel_triple {
    int subj_start, subj_end; /* words [start, end); -1, -1: none */
    int obj_start, obj_end;   /* words [start, end) */
    int relation;             /* index in the data set's or model's relation list */
    float score;              /* predictions only */
    int discontiguous;        /* gold only: the object's words are not one span (obj_start/obj_end
                               * then bound them); never trained, never matched: it counts as missed */
} pe_rel_triple;

typedef struct pe_rel_utterance {
    int n_words;
    char **words;
    int n_triples;
    pe_rel_triple *triples;
} pe_rel_utterance;

typedef struct pe_rel_data pe_rel_data;
/* Reads a PersonaExt JSONL file. relations (NULL: collect them from the
 * file, sorted) fixes the inventory: a relation outside it is a bad line.
 * strict: the first bad line is fatal (PE_ERR_PARSE naming file:line);
 * otherwise bad lines are skipped and counted. Errors: PE_ERR_IO,
 * PE_ERR_PARSE, PE_ERR_NOMEM. */
PE_API pe_status pe_rel_data_read(const char *path, const char *const *relations, int n_relations, int strict,
                           pe_rel_data **out, pe_error *err);
PE_API void pe_rel_data_free(pe_rel_data *d); /* NULL is a no-op */
PE_API size_t pe_rel_data_count(const pe_rel_data *d);
PE_API const pe_rel_utterance *pe_rel_data_get(const pe_rel_data *d, size_t i);
/* The relation inventory (borrowed). */
PE_API int pe_rel_data_n_relations(const pe_rel_data *d);
PE_API const char *pe_rel_data_relation(const pe_rel_data *d, int i);
PE_API size_t pe_rel_data_skipped(const pe_rel_data *d);
PE_API const char *pe_rel_data_first_problem(const pe_rel_data *d); /* "" when none */
/* Triples that could not be tagged because their object overlaps an
 * earlier triple's object or subject (kept in the gold set, not trained). */
PE_API size_t pe_rel_data_conflicts(const pe_rel_data *d);
/* Gold triples whose object is not one span. */
PE_API size_t pe_rel_data_discontiguous(const pe_rel_data *d);

/* The head's labels for relations: "O", "B-SUBJ", "I-SUBJ", "B-R1",
 * "I-R1", ... (malloc'd; pe_rel_labels_free). */
PE_API pe_status pe_rel_labels_make(const char *const *relations, int n, char ***labels, int *n_labels, pe_error *err);
PE_API void pe_rel_labels_free(char **labels, int n);

/* Adds the utterances as training examples (see pe_ner_add_examples). The
 * words of an object that is not one span, and those between them, are left
 * out of the loss (label -100) rather than taught as O. */
PE_API pe_status pe_rel_add_examples(const pe_rel_data *d, const pe_tokenizer *tok, int max_len, pe_tag_data *data,
                              pe_error *err);

/* Object-swap augmentation: for each utterance of one (contiguous) object,
 * `copies` more training examples in which the object's words are those of
 * another utterance of the same relation (any_relation 0: "i live in
 * colorado ." + "san diego" -> "i live in san diego .") or of any relation
 * (any_relation 1: "i live in pizza ."), drawn reproducibly from seed, so
 * that the head learns the relation from the context more than from the
 * object word (which a model of this size otherwise memorises: "i live in
 * chicago" is found, "i live in paris" is not). *added (may be NULL): the
 * examples added. Errors: PE_ERR_INVALID, PE_ERR_NOMEM, the tokenizer's. */
PE_API pe_status pe_rel_add_swapped_examples(const pe_rel_data *d, const pe_tokenizer *tok, int max_len, int copies,
                                             int any_relation, uint64_t seed, pe_tag_data *data, size_t *added,
                                             pe_error *err);

/* Pair augmentation: for each utterance, `copies` more training examples
 * that are it followed by another utterance drawn reproducibly from seed
 * (a draw of itself is skipped), with the triples of both. PersonaExt
 * annotates one triple an utterance, so an utterance that states two facts
 * teaches the other as O; examples with two facts teach that one message
 * can hold several. *added (may be NULL): the examples added. Errors:
 * PE_ERR_INVALID, PE_ERR_NOMEM, the tokenizer's. */
PE_API pe_status pe_rel_add_paired_examples(const pe_rel_data *d, const pe_tokenizer *tok, int max_len, int copies,
                                            uint64_t seed, pe_tag_data *data, size_t *added, pe_error *err);

/* Object augmentation from a list: for each utterance whose one triple has
 * relation `relation` (an index of d's inventory) and an object of one
 * span, `copies` more training examples in which the object is
 * objects[k], k drawn reproducibly from seed (each object a text whose
 * words are separated by spaces: "san diego"). The list is the caller's,
 * e.g. the English labels of a graph's cities and countries for
 * live_in_citystatecountry, so that the head meets places it has no
 * training sentence for. *added (may be NULL): the examples added.
 * Errors: PE_ERR_INVALID (relation outside the inventory, n_objects 0
 * with copies > 0), PE_ERR_NOMEM, the tokenizer's. */
PE_API pe_status pe_rel_add_object_examples(const pe_rel_data *d, const pe_tokenizer *tok, int max_len, int relation,
                                            const char *const *objects, size_t n_objects, int copies, uint64_t seed,
                                            pe_tag_data *data, size_t *added, pe_error *err);

/* Triples from word tags (labels as pe_rel_labels_make; conf may be NULL). A
 * B-r right after an object of the same relation r continues it (the head
 * often opens "the beatles" twice); the score is the mean conf over the
 * object's words. *t malloc'd (NULL when none). */
PE_API pe_status pe_rel_decode(const int32_t *word_labels, const float *conf, int n_words, int n_relations,
                        pe_rel_triple **t, int *n, pe_error *err);

typedef struct pe_rel_scores {
    long tp, fp, fn;
    double precision, recall, f1; /* triplets */
    double relation_f1, relation_accuracy;
    long utterances;
    int n_relations;
    long *rel_tp, *rel_fp, *rel_fn; /* (n_relations) */
    double *rel_f1;                 /* (n_relations) */
} pe_rel_scores;
/* gold[i] and pred[i]: the triples of utterance i. */
PE_API pe_status pe_rel_score(const pe_rel_utterance *const *gold, const pe_rel_triple *const *pred, const int *n_pred,
                       size_t n, int n_relations, pe_rel_scores *out, pe_error *err);
PE_API void pe_rel_scores_clear(pe_rel_scores *s);

/* A pe_tag_scorer for the examples of pe_rel_add_examples (same data,
 * tokenizer and max_len): metric triplet_micro_f1. */
typedef struct pe_rel_scorer pe_rel_scorer;
PE_API pe_status pe_rel_scorer_new(const pe_rel_data *dev, const pe_tokenizer *tok, int max_len, pe_rel_scorer **out,
                            pe_error *err);
PE_API void pe_rel_scorer_free(pe_rel_scorer *s);
PE_API pe_status pe_rel_scorer_score(void *scorer, const pe_tag_data *dev, const int32_t *const *pred,
                              const float *const *conf, pe_eval_result *out, pe_error *err);

/* ---- inference ---- */
typedef struct pe_rel pe_rel;
/* The relation extractor of a loaded model (borrowed; outlives the
 * handle): head "rel" and labels["rel"]. PE_NOT_FOUND without such a head,
 * PE_ERR_CORRUPT when head and labels disagree. */
PE_API pe_status pe_rel_open(pe_encoder *enc, pe_rel **out, pe_error *err);
/* How the head decides (see pe_tag_decode; pe_rel_open sets Viterbi; grouped:
 * O, the subject, or an object, then which relation, then B or I).
 * pe_rel_head_decode sets it on a bare rel head, as training does for its
 * evaluations. Errors: PE_ERR_INVALID, PE_ERR_NOMEM. */
PE_API pe_status pe_rel_set_decode(pe_rel *r, pe_tag_decode d, pe_error *err);
PE_API pe_status pe_rel_head_decode(pe_token_head *head, pe_tag_decode d, pe_error *err);
PE_API void pe_rel_close(pe_rel *r); /* NULL is a no-op */
PE_API int pe_rel_n_relations(const pe_rel *r);
PE_API const char *pe_rel_relation_name(const pe_rel *r, int i);

typedef struct pe_rel_span {
    size_t start, end; /* bytes in the text; start = end = 0 and text "" for no subject */
    char *text;        /* owned */
} pe_rel_span;
typedef struct pe_rel_extraction {
    pe_rel_span subject, object;
    const char *relation; /* borrowed from the pe_rel */
    float score;
} pe_rel_extraction;
/* Triples of one text. Errors: PE_ERR_UTF8, PE_ERR_NOMEM, PE_ERR_BACKEND. */
PE_API pe_status pe_rel_extract(pe_rel *r, const char *text, size_t len, pe_rel_extraction **x, size_t *n, pe_error *err);
PE_API void pe_rel_extractions_free(pe_rel_extraction *x, size_t n);
/* The same from an encoding with [CLS]/[SEP] and its last-layer hidden
 * states (e->len, C), as pe_ner_extract_encoded: one encoder pass serves
 * both heads. */
PE_API pe_status pe_rel_extract_encoded(pe_rel *r, const char *text, const pe_encoding *e, const float *hidden,
                                 pe_rel_extraction **x, size_t *n, pe_error *err);
/* Triples of pre-split words (for evaluation). */
PE_API pe_status pe_rel_predict_words(pe_rel *r, const char *const *words, int n_words, pe_rel_triple **t, int *n,
                               pe_error *err);

#ifdef __cplusplus
}
#endif
#endif
