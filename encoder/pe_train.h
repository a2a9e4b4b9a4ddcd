/*
 * pe_train.h - training the encoder: a trainable f32 copy of a BERT
 * encoder, its forward with dropout and backward pass on the CPU, AdamW as
 * torch.optim.AdamW, gradient clipping by global norm, the linear warm-up /
 * linear decay schedule of Hugging Face, and saving as a checkpoint that
 * pe_encoder_load reads.
 *
 * Usage (one step of fine-tuning; the loss and its gradient with respect to
 * the hidden states come from a head, e.g. NER):
 *
 *     pe_train *tr;
 *     pe_train_new_from_encoder(enc, &tr, &err);           // or pe_train_new_random
 *     pe_adamw_options ao = pe_adamw_options_default();
 *     ao.weight_decay = 0.01f;
 *     pe_adamw *opt;
 *     pe_adamw_new(tr, &ao, &opt, &err);
 *     pe_train_forward_options fo = pe_train_forward_options_default();
 *     fo.hidden_dropout = fo.attention_dropout = 0.1f;
 *     for (long step = 0; step < total; step++) {
 *         fo.seed = step;                                  // a new dropout mask per step
 *         pe_train_zero_grad(tr);
 *         pe_train_forward(tr, ids, types, lengths, n_seq, &fo, hidden);   // (T, C)
 *         head_loss_and_grad(hidden, d_hidden);                             // (T, C)
 *         pe_train_backward(tr, d_hidden);
 *         pe_train_clip_grad_norm(tr, 1.0f, NULL);
 *         pe_adamw_step(opt, pe_lr_linear_warmup(5e-5f, step, warmup, total));
 *     }
 *     pe_train_save_options so = pe_train_save_options_default();
 *     so.tokenizer = pe_encoder_tokenizer(enc);
 *     pe_train_save(tr, "out-model", &so, &err);   // then pe_encoder_load("out-model", ...)
 *     pe_adamw_free(opt);
 *     pe_train_free(tr);
 *
 * The math is that of pe_encoder_forward (post-LN BERT, exact-erf GELU,
 * attention within each sequence of a packed batch, no padding) with
 * Hugging Face's dropout sites: on the embeddings' LayerNorm output, on the
 * attention probabilities, on the attention output projection and on the
 * FFN output projection (each before its residual add and LayerNorm).
 * Parameters, gradients and optimiser state are f32; products go through
 * OpenBLAS sgemm (its threads), clipping and AdamW on the encoder's
 * kernel pool (pe_encoder_options.threads of the last load). A handle is
 * not thread-safe.
 *
 * Parameters are named as the Hugging Face BertModel tensors (without the
 * "bert." prefix), in this order:
 *   embeddings.word_embeddings.weight (V,C), embeddings.position_embeddings.weight (P,C),
 *   embeddings.token_type_embeddings.weight (Y,C), embeddings.LayerNorm.weight (C), .bias (C),
 *   then for each layer N, prefix encoder.layer.N.:
 *   attention.self.query.weight (C,C) .bias (C), attention.self.key.*, attention.self.value.*,
 *   attention.output.dense.weight (C,C) .bias (C), attention.output.LayerNorm.weight (C) .bias (C),
 *   intermediate.dense.weight (I,C) .bias (I), output.dense.weight (C,I) .bias (C),
 *   output.LayerNorm.weight (C) .bias (C).
 * The pooler (pooler.dense.*), when the source model has one, is carried
 * through to the saved file unchanged: it is not part of the forward, so
 * it is not trained.
 */
#ifndef PE_TRAIN_H
#define PE_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "pe_encoder.h"
#include "pe_tokenizer.h"
#include "pe_util.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pe_train pe_train;

/* A trainable copy initialised from a loaded encoder (any file format and
 * dtype: the f32 views of its weights are copied; enc is only read during
 * the call and may be freed after). Errors: PE_ERR_NOMEM, PE_ERR_INVALID
 * (NULL argument). On failure *out is NULL. */
PE_API pe_status pe_train_new_from_encoder(const pe_encoder *enc, pe_train **out, pe_error *err);
/* The same, switched to case types (pe_encoder_config.case_types) when
 * enc has none: the token-type embedding grows to PE_N_CASES rows, each
 * new row a copy of row 0, so that the copy computes on lower-case text
 * what enc computes. An encoder that has them is copied as it is. */
PE_API pe_status pe_train_new_from_encoder_case_types(const pe_encoder *enc, pe_train **out, pe_error *err);
/* A new encoder of architecture cfg initialised as Hugging Face does:
 * weights and embeddings N(0, 0.02), biases 0, LayerNorm weight 1 and bias
 * 0, from a seeded generator (the same seed gives the same weights). The
 * embedding row of the padding token is not zeroed (packed batches have
 * no padding). cfg->has_pooler is ignored (no pooler). Errors:
 * PE_ERR_INVALID (a dimension out of range, hidden not a multiple of
 * heads), PE_ERR_LIMIT (more than 2^40 parameters), PE_ERR_NOMEM. */
PE_API pe_status pe_train_new_random(const pe_encoder_config *cfg, uint64_t seed, pe_train **out, pe_error *err);
PE_API void pe_train_free(pe_train *tr); /* NULL is a no-op */

/* Detail of the last failure on this handle; valid until the next call. */
PE_API const char *pe_train_errmsg(const pe_train *tr);
/* The architecture (has_pooler: a pooler is carried through to saves). */
PE_API const pe_encoder_config *pe_train_config(const pe_train *tr);

/* One parameter tensor. data and grad are borrowed views into the
 * handle's storage, valid until pe_train_free; the caller may write data
 * (e.g. to perturb it) and grad. */
typedef struct pe_train_param {
    const char *name; /* HF name, see above */
    int ndim;         /* 1 or 2 */
    int64_t shape[2];
    int64_t numel;
    float *data;
    float *grad;
    int decay;        /* 1 when AdamW applies weight decay: not to biases nor LayerNorm weights */
} pe_train_param;
PE_API int pe_train_n_params(const pe_train *tr);
/* i in 0 .. n_params-1; PE_ERR_INVALID when out of range. */
PE_API pe_status pe_train_param_at(const pe_train *tr, int i, pe_train_param *out);
/* By name; PE_NOT_FOUND when no parameter has that name. */
PE_API pe_status pe_train_param_find(const pe_train *tr, const char *name, pe_train_param *out);
PE_API size_t pe_train_numel(const pe_train *tr); /* floats of all parameters */

typedef struct pe_train_forward_options {
    float hidden_dropout;    /* p of the three hidden dropouts, 0 (default) = off */
    float attention_dropout; /* p on the attention probabilities, 0 (default) = off */
    uint64_t seed;           /* the masks are a pure function of (seed, site, element): the same
                              * seed and batch give the same result; default 0 */
    /* NULL (default): hidden receives every row. Else n_rows >= 0 strictly
     * increasing token indices (0 .. T-1), the only rows the caller's loss
     * reads (MLM: the masked tokens): the last layer after its attention
     * (output projection, LayerNorms, feed-forward) runs on these rows only,
     * hidden's other rows are set to 0, and pe_train_backward reads only
     * these rows of d_hidden. These rows and every gradient equal the full
     * computation's (dropout masks included) up to the order of sums.
     * Copied: only read during the call. */
    const int32_t *rows;
    int n_rows;
} pe_train_forward_options;
PE_API pe_train_forward_options pe_train_forward_options_default(void);

/* The training forward over n_seq >= 1 sequences packed as in
 * pe_encoder_forward (ids (T), type_ids (T) or NULL for all 0, lengths
 * (n_seq) each 1..max_position); hidden (T, C) receives the last layer's
 * hidden states. Every array is only read during the call. Keeps a copy of
 * the batch and what the backward needs: T (L (8C + 2I) + 8C + I) floats
 * of activations and scratch, plus the attention probabilities, H
 * sum(len^2) floats per layer (kept until pe_train_free, grown, never
 * shrunk). opts NULL: defaults (no dropout). Errors: PE_ERR_INVALID (ids,
 * types, lengths, dropout p outside [0, 1); the message names the token or
 * sequence), PE_ERR_LIMIT (more than 2^30 tokens), PE_ERR_NOMEM. */
PE_API pe_status pe_train_forward(pe_train *tr, const int32_t *ids, const int32_t *type_ids, const int *lengths, int n_seq,
                           const pe_train_forward_options *opts, float *hidden);

/* Backward of the last pe_train_forward from d_hidden (T, C) = dLoss/dHidden:
 * adds dLoss/dParam to every parameter's grad (so that micro-batches
 * accumulate; pe_train_zero_grad starts afresh). d_hidden is only read.
 * Errors: PE_ERR_INVALID (no forward since the handle was made, or the
 * last one failed), PE_ERR_NOMEM. */
PE_API pe_status pe_train_backward(pe_train *tr, const float *d_hidden);
PE_API void pe_train_zero_grad(pe_train *tr);

/* As torch.nn.utils.clip_grad_norm_(params, max_norm): the global L2 norm
 * of all gradients; when max_norm > 0 every gradient is multiplied by
 * min(1, max_norm / (norm + 1e-6)). *norm (may be NULL) receives the norm
 * before clipping. PE_ERR_INVALID when the norm is not finite (gradients
 * then left as they are), PE_ERR_NOMEM. The sum runs in double over fixed
 * chunks: the same on any number of threads. */
PE_API pe_status pe_train_clip_grad_norm(pe_train *tr, float max_norm, double *norm);

/* ---- AdamW (torch.optim.AdamW, amsgrad off) ----
 * per parameter p with gradient g, at step t = 1, 2, ...:
 *   p -= lr * weight_decay * p            (only where pe_train_param.decay)
 *   m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2
 *   p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps) */
typedef struct pe_adamw_options {
    float beta1;        /* 0.9 */
    float beta2;        /* 0.999 */
    float eps;          /* 1e-8 */
    float weight_decay; /* 0.01, as torch's default */
} pe_adamw_options;
PE_API pe_adamw_options pe_adamw_options_default(void);
typedef struct pe_adamw pe_adamw;
/* Optimiser state (m, v: twice the parameters) for tr, which must outlive
 * it. PE_ERR_INVALID (bad options), PE_ERR_NOMEM. */
PE_API pe_status pe_adamw_new(pe_train *tr, const pe_adamw_options *opts, pe_adamw **out, pe_error *err);
/* One update of every parameter of tr from its grad with learning rate lr.
 * PE_ERR_INVALID when lr is negative or not finite. */
PE_API pe_status pe_adamw_step(pe_adamw *opt, float lr);
PE_API long pe_adamw_steps(const pe_adamw *opt); /* updates done so far */
PE_API void pe_adamw_free(pe_adamw *opt);        /* NULL is a no-op */

/* ---- parameter sets: the encoder's and any head's together ----
 * A set is an array of pe_train_param views (e.g. the encoder's from
 * pe_train_param_at followed by a head's own); every function below only
 * borrows the array and the memory it points to. */

/* AdamW over a parameter set: the same update as pe_adamw_new, each
 * parameter's `decay` flag deciding weight decay. The names are copied;
 * data and grad must stay valid for the optimiser's life. Work runs in
 * fixed chunks that never cross a parameter (results independent of the
 * number of threads). Errors: PE_ERR_INVALID (no parameters, one without
 * data, grad or name, bad options), PE_ERR_NOMEM. On failure *out is NULL. */
PE_API pe_status pe_adamw_new_params(const pe_train_param *params, int n_params, const pe_adamw_options *opts,
                              pe_adamw **out, pe_error *err);
/* Detail of the last failed pe_adamw_step of an optimiser made by
 * pe_adamw_new_params (one made by pe_adamw_new reports on its pe_train). */
PE_API const char *pe_adamw_errmsg(const pe_adamw *opt);
/* The optimiser's moments of parameter i (0 .. pe_adamw_n_params - 1, in
 * the order given at construction), for checkpoints: m and v are borrowed
 * views (numel floats each) that the caller may overwrite to restore a
 * state. PE_ERR_INVALID when i is out of range. */
typedef struct pe_adamw_moments {
    const char *name;
    int64_t numel;
    float *m, *v;
} pe_adamw_moments;
PE_API int pe_adamw_n_params(const pe_adamw *opt);
PE_API pe_status pe_adamw_state(pe_adamw *opt, int i, pe_adamw_moments *out);
/* Sets the update count (bias corrections use it), to restore a state. */
PE_API pe_status pe_adamw_set_steps(pe_adamw *opt, long steps);

/* clip_grad_norm_ over a parameter set (as pe_train_clip_grad_norm). */
PE_API pe_status pe_params_clip_grad_norm(const pe_train_param *params, int n_params, float max_norm, double *norm,
                                   pe_error *err);
PE_API void pe_params_zero_grad(const pe_train_param *params, int n_params);

/* HF get_linear_schedule_with_warmup: the learning rate for the update
 * that follows `step` updates (0-based): base * step / warmup while
 * step < warmup, then base * (total - step) / (total - warmup), never
 * below 0. (So the first update of a warm-up runs at lr 0, as in HF.) */
PE_API float pe_lr_linear_warmup(float base, long step, long warmup, long total);

/* Linear warm-up, then cosine decay from base to base * min_ratio at
 * step total (held there after). */
PE_API float pe_lr_cosine_warmup(float base, long step, long warmup, long total, float min_ratio);

/* ---- saving ----
 * pe_train_save writes a Hugging Face checkpoint folder that
 * pe_encoder_load reads (and pe_encoder_convert_hf turns into a .pem):
 *   DIR/config.json        the architecture (HF names)
 *   DIR/model.safetensors  every parameter in F32 with the names above
 *                          (plus pooler.dense.* when carried), and
 *                          __metadata__ {"format": "pt", "saved_by": "persona"}
 *   DIR/vocab.txt, DIR/tokenizer_config.json   when a tokenizer is given
 *                          (one token per line, id = line; its lower-casing,
 *                          accent and special-token options)
 * DIR is created when absent; each file is written to a temporary beside
 * it and renamed. */
typedef struct pe_train_save_options {
    const pe_tokenizer *tokenizer; /* borrowed for the call; NULL (default): no vocabulary */
    const pe_train_param *extra;   /* more tensors written into model.safetensors under their
                                    * names (a head's parameters), borrowed; NULL: none */
    int n_extra;
    const char *labels_json;       /* written as DIR/labels.json when not NULL: the heads'
                                    * label sets, {"HEAD": [labels], ...} */
} pe_train_save_options;
PE_API pe_train_save_options pe_train_save_options_default(void);
/* Errors: PE_ERR_IO (naming the file), PE_ERR_NOMEM, PE_ERR_INVALID. */
PE_API pe_status pe_train_save(const pe_train *tr, const char *dir, const pe_train_save_options *opts, pe_error *err);

/* A model soup (Wortsman et al. 2022, "uniform soup"): out_dir gets the
 * element-wise mean of the model.safetensors of n >= 2 checkpoint folders
 * written by pe_train_save (fine-tuned from one start: runs with other
 * seeds, or checkpoints of one run), and the other files of dirs[0] but
 * state.json. Every folder must hold the same F32 tensors (names, shapes)
 * and the same config.json and labels.json: PE_ERR_INVALID naming the
 * first difference. PE_ERR_IO, PE_ERR_NOMEM. */
PE_API pe_status pe_train_average_checkpoints(const char *const *dirs, int n, const char *out_dir, pe_error *err);

#ifdef __cplusplus
}
#endif
#endif
