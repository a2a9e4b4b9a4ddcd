/*
 * pe_trainer.h - the training loop shared by every objective (masked
 * language modelling, NER, persona relations), the MLM head and the token
 * shards that MLM pretraining reads.
 *
 * An objective (pe_objective) is a head with its data: it says how many
 * examples it has and how long each is, packs a batch of them into token
 * ids, and turns the encoder's hidden states into a loss, the gradient with
 * respect to the hidden states and its own parameters' gradients. The
 * trainer owns everything else: length-bucketed batches, dropout seeds,
 * gradient accumulation, clipping, AdamW over the encoder's and the head's
 * parameters together, the warm-up + linear or cosine schedule, periodic
 * evaluation with early stopping, checkpoints and exact resumption, the
 * JSONL metrics log and progress reports.
 *
 * Usage:
 *
 *     pe_train *tr;                       // pe_train_new_random or _from_encoder
 *     pe_mlm_head *head;
 *     pe_mlm_head_new(tr, 1, &head, &err);
 *     pe_token_shard *train, *dev;
 *     pe_token_shard_open("train.shard", &train, &err);
 *     pe_token_shard_open("dev.shard", &dev, &err);
 *     pe_mlm_objective *mo;
 *     pe_mlm_objective_new(head, train, dev, &mask_opts, &mo, &err);
 *     pe_trainer_options o = pe_trainer_options_default();
 *     o.dir = "runs/mlm"; o.steps = 10000; o.lr = 5e-4f; o.resume = 1;
 *     pe_trainer_result r;
 *     pe_trainer_run(tr, pe_mlm_objective_get(mo), &o, &r, &err);
 *
 * Run folder (o.dir), every file written through a temporary and rename:
 *   log.jsonl          one JSON object a line: {"step", "epoch", "loss",
 *                      "lr", "grad_norm", "tokens", "tokens_per_s", ...}
 *                      for training reports and {"step", "eval": {...}} for
 *                      evaluations. On resume, lines after the checkpoint's
 *                      step are dropped, so the file reads as one run.
 *   ckpt-STEP/         a checkpoint: the encoder as a Hugging Face folder
 *                      (config.json, model.safetensors, vocab.txt when a
 *                      tokenizer is given: pe_encoder_load reads it), the
 *                      objective's parameters (heads) as more tensors of
 *                      model.safetensors, labels.json (the heads' label
 *                      sets, when given),
 *                      optim.safetensors (AdamW moments, tensors "m.NAME"
 *                      and "v.NAME"), state.json (step, epoch, position in
 *                      the epoch, best metric, evaluations since the best).
 *   latest             the name of the newest complete checkpoint folder.
 *   best/              the checkpoint with the best evaluation metric
 *                      (without optimiser state), when evaluation is on.
 * A checkpoint folder is complete once `latest` names it: a run killed
 * while writing one leaves a ckpt-STEP.tmp folder that the next run
 * removes. The last keep_checkpoints checkpoints are kept.
 *
 * Exactness: data order, masks and dropout are pure functions of (seed,
 * epoch, step); a resumed run on the same machine and thread count
 * continues bit for bit as if it had not stopped.
 *
 * Threads: the trainer uses the encoder's kernel pool and OpenBLAS's
 * threads; handles are not thread-safe.
 */
#ifndef PE_TRAINER_H
#define PE_TRAINER_H

#include <stddef.h>
#include <stdint.h>

#include "pe_encoder.h"
#include "pe_tokenizer.h"
#include "pe_train.h"
#include "pe_util.h"

#ifdef __cplusplus
extern "C" {
#endif

/* CPU threads of training (OpenBLAS and the kernels' pool, both
 * process-wide); n <= 0: all cores. */
PE_API void pe_trainer_set_threads(int n);

/* ---- objectives ---- */

/* What an evaluation reports: `metric` is the one the trainer maximises
 * (early stopping, best/); up to 8 more named figures go to the log. */
typedef struct pe_eval_result {
    const char *metric_name; /* e.g. "neg_loss", "f1" (static string) */
    double metric;
    int n_extra;
    const char *extra_names[8];
    double extra[8];
} pe_eval_result;

typedef struct pe_objective {
    const char *name;                /* "mlm", "ner", "rel" */
    void *ctx;                       /* passed to every callback */
    const pe_train_param *params;    /* the head's own trainable parameters (borrowed) */
    int n_params;
    size_t n_examples;               /* training examples */
    /* Tokens of training example i, specials included (1 .. max_position). */
    int (*length)(void *ctx, size_t i);
    /* Packs examples idx[0..n) as pe_train_forward wants them: ids and
     * types (sum of lengths tokens), lengths (n). seed varies per
     * micro-batch (masks, augmentation). The objective keeps what its loss
     * needs (labels) until the next call. */
    pe_status (*batch)(void *ctx, const size_t *idx, int n, uint64_t seed, int32_t *ids, int32_t *types,
                       int *lengths, pe_error *err);
    /* Loss of the last batch from hidden (T, C): adds scale * dLoss/dHidden
     * into d_hidden (T, C) (zeroed by the trainer) and scale * dLoss/dParam
     * to the head's grads, where Loss is the mean over the batch's
     * predictions; *loss_sum and *count receive the summed loss and the
     * number of predictions (Loss = loss_sum / count). */
    pe_status (*loss)(void *ctx, const float *hidden, int n_tokens, float scale, float *d_hidden,
                      double *loss_sum, double *count, pe_error *err);
    /* Optional (NULL: every row): the token rows of the last batch whose
     * hidden states its loss reads, strictly increasing, into *rows (kept
     * by the objective until the next batch); returns their count. The
     * trainer passes them to pe_train_forward (options.rows), so that the
     * last layer runs on these rows only (MLM: the masked tokens). */
    int (*rows)(void *ctx, const int32_t **rows);
    /* Optional (NULL: no evaluation): evaluates the current weights on the
     * objective's development data through pe_train_forward without
     * dropout. */
    pe_status (*evaluate)(void *ctx, pe_train *tr, pe_eval_result *out, pe_error *err);
} pe_objective;

/* ---- the trainer ---- */

typedef enum pe_schedule { PE_SCHEDULE_LINEAR = 0, PE_SCHEDULE_COSINE } pe_schedule;

typedef struct pe_trainer_progress {
    long step, steps;        /* updates done, planned */
    long epoch;
    double loss;             /* mean loss of the last update */
    double lr, grad_norm;
    double tokens_per_s;     /* over the updates of this call */
    double elapsed_s, eta_s; /* this call; eta for the remaining updates */
    const pe_eval_result *eval; /* set on the report that follows an evaluation, else NULL */
} pe_trainer_progress;
typedef void (*pe_trainer_progress_fn)(const pe_trainer_progress *p, void *user);

typedef struct pe_trainer_options {
    const char *dir;          /* run folder (required; created when absent) */
    long steps;               /* optimiser updates in all (1000) */
    int accum;                /* micro-batches per update (1) */
    int batch_tokens;         /* token budget of a micro-batch (4096) */
    int batch_max_seqs;       /* sequences per micro-batch at most (0 = no limit) */
    int bucket_window;        /* examples sorted by length within windows of this
                               * many micro-batches (50; 1 = no bucketing) */
    float lr;                 /* peak learning rate (5e-5) */
    long warmup;              /* warm-up updates (steps / 10 when -1, the default) */
    pe_schedule schedule;     /* after warm-up (linear to 0) */
    float min_lr_ratio;       /* cosine only: floor as a fraction of lr (0) */
    pe_adamw_options adamw;   /* pe_adamw_options_default() */
    float clip;               /* max gradient norm (1.0; 0 = no clipping) */
    float hidden_dropout;     /* 0.1 */
    float attention_dropout;  /* 0.1 */
    uint64_t seed;            /* data order, masks, dropout (1) */
    long log_every;           /* updates between log lines and progress reports (10) */
    long checkpoint_every;    /* updates between checkpoints (500; 0 = only at the end) */
    long eval_every;          /* updates between evaluations (0 = only at the end) */
    int patience;             /* stop after this many evaluations without a better
                               * metric (0 = never stop early) */
    int keep_checkpoints;     /* newest ckpt-* kept (2) */
    long stop_after;          /* 0 (default): run to `steps`; else stop after this
                               * update (with a checkpoint) while the learning-rate
                               * schedule still spans `steps`: a later resume goes on
                               * as if the run had not stopped */
    float ema;                /* 0 (default): off; else the decay of an exponential
                               * moving average of the weights (encoder and head),
                               * e.g. 0.999: after update t the average moves by
                               * 1 - min(ema, (1 + t) / (10 + t)) towards the weights.
                               * Evaluations, early stopping and best/ use the
                               * average; each checkpoint keeps it (ema.safetensors)
                               * beside the weights, so a resumed run continues it */
    int resume;               /* 1: continue from the folder's latest checkpoint (0:
                               * a folder that already has one is refused) */
    const pe_tokenizer *tokenizer; /* saved with every checkpoint (NULL: none) */
    const char *labels_json;  /* {"HEAD": [labels]}: saved as labels.json (NULL: none) */
    pe_trainer_progress_fn progress; /* NULL: none */
    void *progress_user;
} pe_trainer_options;
PE_API pe_trainer_options pe_trainer_options_default(void);

typedef struct pe_trainer_result {
    long steps;               /* updates done in all (after resumption too) */
    long resumed_from;        /* the checkpoint's step, or -1 */
    int stopped_early;        /* 1 when patience ran out */
    double last_loss;
    double best_metric;       /* NaN without evaluation */
    long best_step;           /* -1 without evaluation */
    char last_checkpoint[64]; /* folder name inside dir, "" when none */
} pe_trainer_result;

/* Trains tr with obj until o->steps updates are done (counting those of a
 * resumed checkpoint) or early stopping ends it, writing checkpoints and
 * the log into o->dir. When resuming, tr's and the head's weights and the
 * optimiser are overwritten from the checkpoint (tr must have the
 * checkpoint's architecture). A non-finite loss or gradient stops the run
 * with PE_ERR_INVALID naming the step; checkpoints already written are
 * kept, none is written after it. Errors: PE_ERR_INVALID (options, a
 * non-finite loss, an example longer than the model's max_position or the
 * token budget), PE_ERR_BUSY (another run holds the folder's lock),
 * PE_ERR_IO, PE_ERR_CORRUPT (a checkpoint that does not match the model or
 * objective: the message names the file and tensor), PE_ERR_NOMEM, and
 * what the objective's callbacks return. res may be NULL. */
PE_API pe_status pe_trainer_run(pe_train *tr, const pe_objective *obj, const pe_trainer_options *o,
                         pe_trainer_result *res, pe_error *err);

/* Loads named F32 tensors of a safetensors file into params (by name;
 * shapes must match). With `prefix`, the file's names carry it ("m."
 * for optimiser moments). Every parameter must be present: PE_ERR_CORRUPT
 * names the missing or mismatched one. PE_ERR_IO when the file cannot be
 * read. */
PE_API pe_status pe_trainer_load_tensors(const char *path, const pe_train_param *params, int n_params,
                                  pe_error *err);

/* ---- the MLM head (Hugging Face BertForMaskedLM's cls.predictions) ----
 *   t = LayerNorm(gelu(h W^T + b))     W (C, C) transform.dense, LayerNorm eps of the encoder
 *   logits = t E^T + bias              E (V, C) the word embeddings (tied), bias (V)
 *   loss = mean over predicted tokens of cross-entropy(logits, label)
 * Parameters (HF names): cls.predictions.transform.dense.weight (C,C),
 * cls.predictions.transform.dense.bias (C),
 * cls.predictions.transform.LayerNorm.weight (C), .bias (C),
 * cls.predictions.bias (V). The decoder weight is the encoder's
 * embeddings.word_embeddings.weight: its gradient goes there. */
typedef struct pe_mlm_head pe_mlm_head;
/* Initialised as HF does (N(0, 0.02) weights, zero biases, LayerNorm 1/0)
 * from seed. tr must outlive the head. Errors: PE_ERR_INVALID, PE_ERR_NOMEM;
 * *out NULL on failure. */
PE_API pe_status pe_mlm_head_new(pe_train *tr, uint64_t seed, pe_mlm_head **out, pe_error *err);
PE_API void pe_mlm_head_free(pe_mlm_head *h); /* NULL is a no-op */
/* The head's own parameters (5 views, borrowed until pe_mlm_head_free). */
PE_API const pe_train_param *pe_mlm_head_params(const pe_mlm_head *h, int *n);
/* Loss over the tokens whose label is >= 0 (labels (T), -100 elsewhere):
 * *loss_sum, *count as pe_objective.loss; with d_hidden (T, C) non-NULL,
 * adds scale * dLoss/dHidden there (rows of unlabelled tokens untouched) and
 * scale * dLoss/dParam into the head's and the word embeddings' grads
 * (Loss = the mean). With d_hidden NULL only the loss is computed. *correct
 * (may be NULL) receives how many argmax predictions equal the label.
 * Errors: PE_ERR_INVALID (a label outside the vocabulary), PE_ERR_NOMEM. */
PE_API pe_status pe_mlm_head_loss(pe_mlm_head *h, const float *hidden, const int32_t *labels, int n_tokens, float scale,
                           float *d_hidden, double *loss_sum, double *count, double *correct, pe_error *err);

/* BERT's masking. Each token that is not special (id < n_special: [PAD]
 * [UNK] [CLS] [SEP] [MASK] in our vocabularies) is chosen with probability
 * mask_prob (with whole_word, the choice is made per word: a token whose
 * string starts with "##" follows the token before it); a chosen token
 * becomes [MASK] with probability 0.8, a random non-special token with
 * probability 0.1, and stays as it is otherwise; its label is its original
 * id, every other label is -100. The draws are a pure function of (seed,
 * position). */
typedef struct pe_mlm_mask_options {
    float mask_prob;     /* 0.15 */
    int whole_word;      /* 0 */
    int32_t mask_id;     /* the [MASK] id (4 in our vocabularies) */
    int32_t n_special;   /* ids below this are never chosen (5) */
    int32_t vocab_size;  /* random replacements come from [n_special, vocab_size) */
    const unsigned char *is_continuation; /* (vocab_size) 1 for "##" tokens; needed for whole_word */
} pe_mlm_mask_options;
PE_API pe_mlm_mask_options pe_mlm_mask_options_default(void);
/* ids (T) -> masked (T) and labels (T). */
PE_API void pe_mlm_mask(const int32_t *ids, int n_tokens, const pe_mlm_mask_options *o, uint64_t seed, int32_t *masked,
                 int32_t *labels);

/* ---- token shards: tokenised text cut into sequences ----
 * File layout (little-endian):
 *   magic "PESHARD2" (8 bytes; "PESHARD1": a file without the case types)
 *   u32 vocab_size, u32 max_len (tokens of the longest sequence, specials included)
 *   u64 n_seq, u64 n_tokens
 *   u64 offsets[n_seq + 1]   offsets[0] = 0, offsets[n_seq] = n_tokens, non-decreasing
 *   u16 tokens[n_tokens]     each < vocab_size; every sequence is [CLS] ... [SEP]
 *   u8 types[n_tokens]       each token's case type (pe_text_case of its word in
 *                            the text, < PE_N_CASES; 0 for [CLS] and [SEP]):
 *                            the token types of an encoder with case types
 * Sequences are written as they come; a writer cuts the token stream of
 * each document into pieces of at most max_len - 2 tokens. */
typedef struct pe_token_shard pe_token_shard;
/* Maps and checks the file (sizes, offsets, ids). PE_ERR_IO, PE_ERR_CORRUPT
 * (naming what is wrong); *out NULL on failure. */
PE_API pe_status pe_token_shard_open(const char *path, pe_token_shard **out, pe_error *err);
PE_API void pe_token_shard_close(pe_token_shard *s); /* NULL is a no-op */
PE_API size_t pe_token_shard_count(const pe_token_shard *s);
PE_API uint32_t pe_token_shard_vocab_size(const pe_token_shard *s);
/* Sequence i: *len tokens at the returned pointer (valid until close). */
PE_API const uint16_t *pe_token_shard_seq(const pe_token_shard *s, size_t i, int *len);
/* The case types of sequence i (its len bytes), or NULL for a "PESHARD1"
 * file, which has none. */
PE_API const uint8_t *pe_token_shard_types(const pe_token_shard *s, size_t i);
/* The path the shard was opened from. */
PE_API const char *pe_token_shard_path(const pe_token_shard *s);

typedef struct pe_shard_writer pe_shard_writer;
/* Writes train and held-out shards: every held_out_every-th sequence (0:
 * none) goes to the held-out file. The tokenizer must have < 65536 ids;
 * max_len >= 8. */
PE_API pe_status pe_shard_writer_new(const char *train_path, const char *held_out_path, const pe_tokenizer *tok,
                              int max_len, int held_out_every, pe_shard_writer **out, pe_error *err);
/* Adds one line of a document (tokenised without specials and appended to
 * the current document's stream). */
PE_API pe_status pe_shard_writer_add_text(pe_shard_writer *w, const char *text, size_t len, pe_error *err);
/* Ends the current document: its last partial sequence is emitted. */
PE_API pe_status pe_shard_writer_end_document(pe_shard_writer *w, pe_error *err);
/* Flushes, writes the headers, renames the files into place. */
PE_API pe_status pe_shard_writer_finish(pe_shard_writer *w, uint64_t *n_train_seq, uint64_t *n_train_tokens,
                                 pe_error *err);
PE_API void pe_shard_writer_free(pe_shard_writer *w); /* NULL is a no-op; unfinished files are removed */

/* ---- word vectors: skip-gram with negative sampling ----
 * word2vec's skip-gram (Mikolov et al. 2013) over a shard's sequences: each
 * kept token predicts the tokens within a random window of it (1..window on
 * each side) against `negatives` tokens drawn from counts^0.75; frequent
 * tokens are subsampled (keep (sqrt(f/t) + 1) t/f); the learning rate falls
 * linearly to lr * 1e-4 over epochs. Tokens below n_skip (the special
 * tokens) and those seen fewer than min_count times are not trained and
 * keep their start values (uniform in [-0.5, 0.5) / dim). One thread gives
 * the same vectors for the same seed; more threads update the vectors
 * without locks (Hogwild, as word2vec), so results vary slightly. Used to
 * start an encoder's word embeddings (persona train embed). */
typedef struct pe_sgns_options {
    int window, negatives, epochs;
    float lr;
    double subsample;
    int min_count;
    int n_skip;
    int threads;
    uint64_t seed;
    /* called about every 1M tokens by the first thread; non-zero stops the run */
    int (*progress)(uint64_t done, uint64_t total, void *user);
    void *progress_user;
} pe_sgns_options;
PE_API pe_sgns_options pe_sgns_options_default(void); /* 5, 5, 1, 0.025, 1e-4, 5, 0, 1 thread, seed 1 */
/* vectors (vocab_size of the shard, dim): the trained input vectors.
 * Errors: PE_ERR_INVALID (options, no token frequent enough, stopped, a
 * non-finite vector), PE_ERR_NOMEM. */
PE_API pe_status pe_sgns_train(const pe_token_shard *shard, int dim, const pe_sgns_options *opts, float *vectors,
                               pe_error *err);

/* ---- the MLM objective over token shards ---- */
typedef struct pe_mlm_objective pe_mlm_objective;
/* Borrowed: head, train, dev (NULL: no evaluation; at most max_dev_seqs of
 * it are used). The evaluation reports neg_loss (the metric), loss,
 * perplexity and accuracy over the masked tokens, with masks from a fixed
 * seed. An encoder with case types (pe_encoder_config.case_types) reads
 * the shards' case types (a masked token keeps its word's); shards without
 * them are refused (PE_ERR_INVALID). */
PE_API pe_status pe_mlm_objective_new(pe_mlm_head *head, const pe_token_shard *train, const pe_token_shard *dev,
                               int max_dev_seqs, const pe_mlm_mask_options *mask, pe_mlm_objective **out,
                               pe_error *err);
PE_API const pe_objective *pe_mlm_objective_get(pe_mlm_objective *m);
PE_API void pe_mlm_objective_free(pe_mlm_objective *m); /* NULL is a no-op */

/* ---- token classification heads (NER, relation spans) ----
 *   z = [h ; F[f]] W^T + b       h (T, C) hidden states, f (T) feature ids
 *   F (n_feat, D) feature embedding (none when D = 0), W (K, C + D), b (K)
 *   loss = mean over tokens whose label is >= 0 of cross-entropy(z, label)
 * Parameter names: NAME.w (K, C+D), NAME.b (K), NAME.feat (n_feat, D).
 * The feature is an extra input per token (e.g. the coarse type of a graph
 * alias match, 0 = none); feature id 0's row is trained like the others. */
typedef struct pe_token_head pe_token_head;
/* W N(0, 0.02), b 0, F N(0, 1) (the scale of the LayerNorm'd hidden states) from seed. name (copied) at most 32
 * bytes. Errors: PE_ERR_INVALID (sizes), PE_ERR_NOMEM; *out NULL on failure. */
PE_API pe_status pe_token_head_new(const char *name, int C, int K, int n_feat, int feat_dim, uint64_t seed,
                            pe_token_head **out, pe_error *err);
/* The head NAME stored beside a loaded model's encoder (NAME.w, NAME.b and,
 * when present, NAME.feat). PE_NOT_FOUND when the model has no NAME.w,
 * PE_ERR_CORRUPT when the shapes disagree with each other or the encoder. */
PE_API pe_status pe_token_head_from_encoder(pe_encoder *enc, const char *name, pe_token_head **out, pe_error *err);
PE_API void pe_token_head_free(pe_token_head *h); /* NULL is a no-op */
/* Its parameters (2 or 3 views, borrowed until free). */
PE_API const pe_train_param *pe_token_head_params(const pe_token_head *h, int *n);
PE_API int pe_token_head_n_labels(const pe_token_head *h);
PE_API int pe_token_head_n_feat(const pe_token_head *h); /* 0 without a feature */
/* probs (T, K): the softmax of z. feats (T) or NULL (all 0). Errors:
 * PE_ERR_INVALID (a feature id out of range), PE_ERR_NOMEM. */
PE_API pe_status pe_token_head_predict(pe_token_head *h, const float *hidden, const int32_t *feats, int n_tokens, float *probs,
                                pe_error *err);
/* The label of every token, label (T), and its probability, conf (T): the
 * decisions pe_token_head_predict's probabilities give, by argmax, or
 * grouped after pe_token_head_set_groups, or by BIO Viterbi (see
 * pe_tag_decode) over the tokens whose word_start (T) is 1: each word's
 * first token, the one that carries its label (word_start NULL: every
 * token); the other tokens get their argmax. With Viterbi, conf of a B-x
 * or I-x is the pair's total, B-x + I-x: the probability that the word is
 * part of an x (the softmax often puts a span's first word on I-x, which
 * Viterbi turns into B-x). pe_token_head_label is
 * pe_token_head_label_words with word_start NULL. */
PE_API pe_status pe_token_head_label_words(pe_token_head *h, const float *hidden, const int32_t *feats, int n_tokens,
                                           const unsigned char *word_start, int32_t *label, float *conf, pe_error *err);
PE_API pe_status pe_token_head_label(pe_token_head *h, const float *hidden, const int32_t *feats, int n_tokens,
                                     int32_t *label, float *conf, pe_error *err);
/* Grouped decoding: group (K) puts each label in a group (0, 1, ...), sub
 * (K, or NULL) in a sub-group (0, 1, ..., or -1: none). A token then gets
 * the group of largest total probability, within it the sub-group (or
 * lone label) of largest total, then that sub-group's most probable label,
 * with conf the sub-group's total (a lone label's: its group's total).
 * BIO heads can use it so that probability split over many types does not
 * lose to "O": groups O / entity, subs the types. group NULL: plain argmax
 * (the default). Copied. Errors: PE_ERR_INVALID, PE_ERR_NOMEM. */
PE_API pe_status pe_token_head_set_groups(pe_token_head *h, const int *group, const int *sub, pe_error *err);
/* How a BIO head decides: by plain argmax over the labels, or grouped (O
 * against the entity types' total, then the type, then B or I: more
 * recall, less precision), or by Viterbi: over a text's words, the label
 * sequence of largest total log probability in which an I-x only follows
 * a B-x or an I-x (the softmax's probabilities, no learnt transitions), so
 * that a span never opens with I or changes type inside. On the
 * development sets of the tagger (docs/MODEL_CARD.md) argmax had the
 * better triplet F1 than grouped and about the same entity F1. */
typedef enum pe_tag_decode { PE_DECODE_ARGMAX = 0, PE_DECODE_GROUPED = 1, PE_DECODE_VITERBI = 2 } pe_tag_decode;
/* Sets decoding d on a BIO head (K = 1 + 2 n labels: O, then (B, I) pairs).
 * Grouped: O alone; each of the first lead_pairs pairs a group of its own
 * (the relation head's subject); the other pairs one group; each pair a
 * sub-group. Errors: PE_ERR_INVALID (K even), PE_ERR_NOMEM. */
PE_API pe_status pe_token_head_set_bio_decode(pe_token_head *h, pe_tag_decode d, int lead_pairs, pe_error *err);
#define PE_TOKEN_HEAD_PARTIAL_TYPES 24 /* the most types a BIO head's partial labels cover */
/* Partial labels (BIO heads of K = 1 + 2n labels, n at most
 * PE_TOKEN_HEAD_PARTIAL_TYPES): a label K + m, m in 1 .. 2^n - 1, means "O
 * or a label of the types whose bit is set in m" (type j: labels 1 + 2j
 * and 2 + 2j), for training data that does
 * not annotate those types, whose O words may be entities of them; its loss
 * is -log of the total probability of those labels.
 * As pe_mlm_head_loss: *loss_sum and *count over tokens with label >= 0;
 * with d_hidden non-NULL adds scale * dLoss/dHidden there and scale *
 * dLoss/dParam to the head's grads (Loss = the mean). Errors:
 * PE_ERR_INVALID (a label >= K or a bad feature id), PE_ERR_NOMEM. */
PE_API pe_status pe_token_head_loss(pe_token_head *h, const float *hidden, const int32_t *feats, const int32_t *labels,
                             int n_tokens, float scale, float *d_hidden, double *loss_sum, double *count,
                             pe_error *err);

/* Inference with a loaded encoder: ids (T) are a text's tokens without
 * [CLS]/[SEP]; they run in windows of at most max_position - 2 tokens, cut
 * before a token whose word_start is 1 when possible; each window gets
 * [CLS]/[SEP]. label (T) and conf (T) receive each token's argmax label
 * and its probability. feats (T) or NULL; types (T): the encoder's token
 * types (an encoder with case types: pe_encoding_case_types or
 * pe_tag_word_case_types), or NULL for all 0. Errors: PE_ERR_NOMEM,
 * PE_ERR_INVALID, PE_ERR_BACKEND (from the encoder). */
PE_API pe_status pe_token_head_run(pe_encoder *enc, pe_token_head *head, const int32_t *ids, const unsigned char *word_start,
                            const int32_t *feats, const int32_t *types, int n_tokens, int32_t *label, float *conf,
                            pe_error *err);

/* The types for pe_token_head_run on enc: NULL (and PE_OK) when enc has
 * no case types, else malloc'd case types (caller frees) of the words
 * (pre-split: first[] and len of pe_tag_encode_words; len - 2 entries, no
 * [CLS]) or of the encoding e of text (e->len entries). PE_ERR_NOMEM. */
PE_API pe_status pe_token_types_of_words(pe_encoder *enc, const char *const *words, int n_words, const int *first,
                                         int len, int32_t **types, pe_error *err);
PE_API pe_status pe_token_types_of_encoding(pe_encoder *enc, const pe_encoding *e, const char *text, int32_t **types,
                                            pe_error *err);

/* The words of an encoding (its word_ids), for decoding word labels to
 * spans: n words, each's first token (-1 when it has none), byte span
 * [start, end) in the text, and word_start (e->len) = 1 on a word's first
 * token (the cut points of pe_token_head_run). Arrays owned: clear with
 * pe_tag_words_clear. PE_ERR_NOMEM. */
typedef struct pe_tag_words {
    int n;
    int *first;
    size_t *start, *end;
    unsigned char *word_start;
} pe_tag_words;
PE_API pe_status pe_tag_words_of(const pe_encoding *e, pe_tag_words *out, pe_error *err);
PE_API void pe_tag_words_clear(pe_tag_words *w); /* a cleared struct is a no-op */

/* Machine text, which names no entity and holds no persona value: a web
 * address (a chunk -- words with no space between them -- that holds "://",
 * starts with "www." or holds a domain name followed by '/': "t.co/x"), an
 * e-mail address (the whole chunk) and, when handles is 1, a user handle
 * ("@name" up to the first byte that is no letter, digit or '_'; WNUT-17's
 * guidelines tag handles O). pe_tag_text_machine: 1 when s (one pre-split
 * word, e.g. of a CoNLL file) is or holds such text. pe_tag_words_machine:
 * inert (w->n) receives 1 for each word of text (the words of
 * pe_tag_words_of) that lies in such text, else 0. */
PE_API int pe_tag_text_machine(const char *s, size_t len, int handles);
/* 1 when s holds a letter or a digit (a byte of a multi-byte UTF-8
 * character counts as a letter): a mention or object of punctuation alone
 * is none. */
PE_API int pe_tag_text_has_alnum(const char *s, size_t len);
PE_API void pe_tag_words_machine(const char *text, const pe_tag_words *w, int handles, unsigned char *inert);

/* ---- token-classification data and objective ---- */
typedef struct pe_tag_data pe_tag_data;
PE_API pe_status pe_tag_data_new(pe_tag_data **out, pe_error *err);
PE_API void pe_tag_data_free(pe_tag_data *d); /* NULL is a no-op */
/* Appends one example ([CLS] ... [SEP] ids, a label per token, -100 where
 * no prediction is trained; feats NULL: all 0). The arrays are copied.
 * Returns PE_ERR_INVALID for len < 1, PE_ERR_NOMEM. */
PE_API pe_status pe_tag_data_add(pe_tag_data *d, const int32_t *ids, const int32_t *labels, const int32_t *feats, int len,
                          pe_error *err);
/* Data for an encoder with case types (pe_encoder_config.case_types):
 * set before the first example; then each example's token types are the
 * letter case of its words, which pe_tag_data_add_words takes (the words
 * and first[] of pe_tag_encode_words; pe_tag_data_add's examples get 0).
 * Without, pe_tag_data_add_words is pe_tag_data_add. */
PE_API void pe_tag_data_set_case_types(pe_tag_data *d, int on);
PE_API int pe_tag_data_case_types(const pe_tag_data *d);
PE_API pe_status pe_tag_data_add_words(pe_tag_data *d, const int32_t *ids, const int32_t *labels, const int32_t *feats,
                                       int len, const char *const *words, int n_words, const int *first, pe_error *err);
/* The case types of a [CLS] words [SEP] sequence of len tokens (first[w]:
 * word w's first token or -1, as pe_tag_encode_words gives): each token
 * the pe_text_case of the word it starts or continues, [CLS]/[SEP] 0;
 * written at types[t - off] (off 1: types has no [CLS] entry, len - 2
 * entries). */
PE_API void pe_tag_word_case_types(const char *const *words, int n_words, const int *first, int len, int off,
                                   int32_t *types);
PE_API size_t pe_tag_data_count(const pe_tag_data *d);
/* Example i: its arrays, borrowed until the data is freed. */
typedef struct pe_tag_example {
    int len;
    const int32_t *ids, *labels, *feats; /* feats NULL when none were given */
    const int32_t *types;                /* NULL without case types */
} pe_tag_example;
PE_API pe_tag_example pe_tag_data_get(const pe_tag_data *d, size_t i);

/* Tokenises pre-split words (joined by single spaces) with tok as one
 * [CLS] ... [SEP] sequence of at most max_len tokens: ids (len), and for
 * each word the index of its first token in first[w] (-1 when the word
 * produced no token or was cut by truncation), all malloc'd (caller
 * frees). Errors: PE_ERR_UTF8, PE_ERR_INVALID (max_len < 3), PE_ERR_NOMEM. */
PE_API pe_status pe_tag_encode_words(const pe_tokenizer *tok, const char *const *words, int n_words, int max_len,
                              int32_t **ids, int *len, int **first, pe_error *err);

/* Scores predictions on development data: pred[i] (example i's length)
 * holds the argmax label of every token and conf[i] its probability.
 * Fills out (the metric to maximise first). */
typedef pe_status (*pe_tag_scorer)(void *user, const pe_tag_data *dev, const int32_t *const *pred,
                                   const float *const *conf, pe_eval_result *out, pe_error *err);
typedef struct pe_tag_objective pe_tag_objective;
/* Borrowed: head, train, dev (NULL: no evaluation), scorer (NULL: the
 * metric is minus the dev loss). name: "ner", "rel"... (copied). The
 * training data must be complete: the objective's n_examples is train's
 * count now, and a batch after train has grown fails (PE_ERR_INVALID)
 * rather than leave the new examples out. */
PE_API pe_status pe_tag_objective_new(const char *name, pe_token_head *head, const pe_tag_data *train, const pe_tag_data *dev,
                               pe_tag_scorer scorer, void *scorer_user, pe_tag_objective **out, pe_error *err);
PE_API const pe_objective *pe_tag_objective_get(pe_tag_objective *t);
PE_API void pe_tag_objective_free(pe_tag_objective *t); /* NULL is a no-op */
/* Predictions of the current weights on data (all examples), as the
 * scorer receives them: pred and conf (sum of lengths) with example i at
 * offsets[i] (count + 1), arrays owned by the caller (free()). */
PE_API pe_status pe_tag_predict(pe_train *tr, pe_token_head *head, const pe_tag_data *data, int32_t **pred, float **conf,
                         size_t **offsets, pe_error *err);

/* ---- several objectives trained together on one encoder ----
 * Examples are the children's, one after the other; a micro-batch packs
 * what the trainer chose from each child and the loss is the weighted sum
 * of the children's mean losses. The evaluation's metric is the plain
 * mean of the children's metrics, not weighted by the loss weights, so
 * that runs which weigh the losses differently are selected (best/, early
 * stopping) and compared on one scale; each child's metric is logged as
 * NAME.METRIC. The children's parameters are all trained. */
typedef struct pe_objective_mix pe_objective_mix;
/* weights NULL: all 1; hidden: the encoder's hidden size C. */
PE_API pe_status pe_objective_mix_new(const pe_objective *const *children, const float *weights, int n, const char *name,
                               int hidden, pe_objective_mix **out, pe_error *err);
/* Whether child's development metric counts in the mean (1, the default)
 * or is only logged (0): for a head whose development set is also in its
 * training data, so that it cannot choose best/ or stop the run. At least
 * one objective with an evaluation must still count. Errors:
 * PE_ERR_INVALID (no such child, or the last one that counts). */
PE_API pe_status pe_objective_mix_select(pe_objective_mix *m, int child, int counts, pe_error *err);
PE_API const pe_objective *pe_objective_mix_get(pe_objective_mix *m);
PE_API void pe_objective_mix_free(pe_objective_mix *m); /* NULL is a no-op */

#ifdef __cplusplus
}
#endif
#endif
