/*
 * pe_encoder.h - BERT-compatible transformer encoder: model files, CPU
 * (OpenBLAS) and CUDA (cuBLAS) backends.
 *
 * Usage:
 *
 *     pe_encoder *enc;
 *     pe_error err;
 *     pe_encoder_options o = pe_encoder_options_default();
 *     if (pe_encoder_load("models/bert-base-uncased", &o, &enc, &err) != PE_OK)
 *         fail(err.msg);
 *     // ids, type ids and lengths of 2 already-tokenized sequences, packed
 *     int32_t ids[] = {101, 7592, 102,   101, 2088, 2003, 102};
 *     int lengths[] = {3, 4};
 *     float *h = malloc(7 * pe_encoder_hidden_size(enc) * sizeof *h);
 *     if (pe_encoder_forward(enc, ids, NULL, lengths, 2, -1, h) != PE_OK)
 *         fail(pe_encoder_errmsg(enc));
 *
 *     // or texts in, sentence vectors out, through the model's tokenizer
 *     const char *texts[] = {"I live in Paris.", "My dog likes jazz."};
 *     pe_encoder_encode_options eo = pe_encoder_encode_options_default();
 *     eo.pool = PE_POOL_MEAN;
 *     pe_encoder_result *r;
 *     if (pe_encoder_encode_texts(enc, texts, NULL, 2, &eo, &r) == PE_OK) {
 *         use(r->pooled);                  // (2, C)
 *         pe_encoder_result_free(r);
 *     }
 *     pe_encoder_free(enc);
 *
 * A model is loaded from a Hugging Face checkpoint folder (config.json,
 * model.safetensors, vocab.txt or tokenizer.json), from a .safetensors file
 * with config.json beside it, or from a .pem file (the project's format,
 * below). The hidden states equal those of Hugging Face's BertModel on the
 * same weights within float32 rounding.
 *
 * An encoder handle is not thread-safe (it owns a workspace reused across
 * calls): use one handle per thread, or serialise calls.
 *
 * ---------------------------------------------------------------------------
 * The .pem model file (version 1). All integers little-endian.
 *
 *   offset  size  field
 *   0       8     magic "PEMODEL\0"
 *   8       4     u32 version = 1
 *   12      4     u32 flags = 0 (reserved)
 *   16      8     u64 header_len: bytes of the JSON header
 *   24      8     u64 data_offset: start of the tensor data, a multiple of 64,
 *                 >= 32 + header_len
 *   32      hl    JSON header, UTF-8, not NUL-terminated
 *   ...           zero padding up to data_offset
 *   data_offset   tensor data; every tensor starts at a multiple of 64 from
 *                 data_offset (so at a 64-byte aligned address once mapped),
 *                 zero padding between tensors; the file ends with the data
 *
 * The JSON header is one object:
 *   "format":    "persona-encoder"
 *   "config":    {"vocab_size", "hidden_size", "num_hidden_layers",
 *                 "num_attention_heads", "intermediate_size",
 *                 "max_position_embeddings", "type_vocab_size" (integers),
 *                 "layer_norm_eps" (number), "hidden_act": "gelu",
 *                 "persona_case_types" (bool, optional: see
 *                 pe_encoder_config.case_types)}
 *                 (Hugging Face config.json names)
 *   "tokenizer": {"vocab": [token strings, id = index],
 *                 "do_lower_case": bool, "strip_accents": bool,
 *                 "tokenize_chinese_chars": bool, "clean_text": bool,
 *                 "max_input_chars_per_word": int,
 *                 "unk_token", "cls_token", "sep_token", "pad_token",
 *                 "mask_token", "continuing_subword_prefix": string|null,
 *                 "extra_special_tokens": [strings]}
 *                 (pe_tokenizer_options; absent: no tokenizer)
 *   "labels":    {"HEAD": [label strings, id = index], ...}: the label set
 *                 of each head stored in the file, any number of heads (a
 *                 head's tensors are named HEAD.*; files of version 1 name
 *                 "ner" and "relation", possibly empty)
 *   "metadata":  {"model_id", "model_version", "training_data", "created"
 *                 (ISO 8601 UTC), "source" (what it was converted from),
 *                 "tensor_sha256" (64 hex digits: SHA-256 of the bytes from
 *                 data_offset to the end of the file)} (strings)
 *   "tensors":   [{"name": string, "dtype": "f32"|"f16",
 *                  "shape": [int, ...] (1 to 4 dims, row-major),
 *                  "offset": int (from data_offset, multiple of 64),
 *                  "nbytes": int (= product(shape) * dtype size)}, ...]
 *
 * Encoder tensor names (shapes with C hidden, I intermediate, V vocabulary,
 * P max positions, Y token types; matrices (out, in) as nn.Linear):
 *   emb.word (V,C)  emb.pos (P,C)  emb.type (Y,C)  emb.ln.g (C)  emb.ln.b (C)
 *   layer.N.qkv.w (3C,C) = HF [query; key; value] weights  layer.N.qkv.b (3C)
 *   layer.N.attn_out.w (C,C)  layer.N.attn_out.b (C)
 *   layer.N.ln1.g (C)  layer.N.ln1.b (C)
 *   layer.N.ffn_in.w (I,C)  layer.N.ffn_in.b (I)
 *   layer.N.ffn_out.w (C,I)  layer.N.ffn_out.b (C)
 *   layer.N.ln2.g (C)  layer.N.ln2.b (C)
 *   pooler.w (C,C)  pooler.b (C)     (both or neither)
 * Any other tensor (a head's weights, e.g. "ner.w") is kept and can be read
 * with pe_encoder_tensor(). f32 tensors are used in place from the mapping;
 * f16 ones are converted to f32 at load.
 * ---------------------------------------------------------------------------
 */
#ifndef PE_ENCODER_H
#define PE_ENCODER_H

#include <stddef.h>
#include <stdint.h>

#include "pe_tokenizer.h"
#include "pe_util.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pe_encoder pe_encoder;

/* Architecture, from config.json or the .pem header. */
typedef struct pe_encoder_config {
    int vocab_size;       /* V */
    int hidden;           /* C, a multiple of heads */
    int layers;           /* L */
    int heads;            /* H */
    int intermediate;     /* I */
    int max_position;     /* P: longest sequence */
    int type_vocab;       /* Y: token types (segments) */
    int case_types;       /* 1: a token's type is the letter case of its word
                           * (pe_text_case: lower, capitalised, upper, mixed;
                           * added specials 0), so that an encoder whose
                           * vocabulary lower-cases sees the capitals; needs
                           * Y >= PE_N_CASES and single texts (no pairs).
                           * config.json "persona_case_types" (Hugging Face
                           * ignores it: there, pass the types by hand) */
    float layer_norm_eps;
    int has_pooler;       /* 1 when the weights include the pooler */
} pe_encoder_config;

typedef enum pe_encoder_backend {
    PE_ENCODER_AUTO = 0, /* CUDA when built with it and a usable device is present and opens
                          * (else CPU; a device that fails to open is logged as a warning) */
    PE_ENCODER_CPU,
    PE_ENCODER_CUDA      /* PE_ERR_UNSUPPORTED at load, saying why, when the build has no
                          * CUDA or no device is usable */
} pe_encoder_backend;

/* Precision of the matrix products (embeddings, LayerNorm, softmax, GELU
 * and accumulation are f32 always). See docs/GPU.md for the tolerances. */
typedef enum pe_encoder_precision {
    PE_PRECISION_FP32 = 0, /* f32 products (default) */
    PE_PRECISION_TF32,     /* CUDA: TF32 tensor cores; CPU: f32 (it has no TF32) */
    PE_PRECISION_BF16      /* weights and activations rounded to bfloat16: CUDA, and the CPU
                            * when it has AVX-512 BF16 (else f32) */
} pe_encoder_precision;

typedef struct pe_encoder_options {
    pe_encoder_backend backend;     /* default PE_ENCODER_AUTO */
    pe_encoder_precision precision; /* default PE_PRECISION_FP32; on CUDA $PE_CUDA_PRECISION
                                     * (fp32|tf32|bf16), when set, overrides it */
    int device;          /* CUDA device ordinal, default 0; $PE_CUDA_DEVICE overrides it */
    int threads;         /* CPU threads (OpenBLAS and the kernels' pool, both process-wide:
                          * the last load sets them); 0 = all cores */
    int verify_checksum; /* .pem: check metadata.tensor_sha256 at load (reads the whole file) */
} pe_encoder_options;

PE_API pe_encoder_options pe_encoder_options_default(void);

/* Reads a config.json. Errors: PE_ERR_IO (cannot read), PE_ERR_PARSE (bad
 * JSON), PE_ERR_INVALID (a field missing or out of range, named in err),
 * PE_ERR_UNSUPPORTED (hidden_act other than gelu, named). */
PE_API pe_status pe_encoder_config_read(const char *config_json_path, pe_encoder_config *out, pe_error *err);

/* Loads a model (see above for what path may be). On failure *out is NULL,
 * nothing leaks and err says what was wrong, naming the file, the tensor and
 * the shapes: PE_ERR_IO, PE_ERR_PARSE (bad header JSON), PE_ERR_CORRUPT
 * (truncated file, offsets outside the file, bad magic), PE_ERR_UNSUPPORTED
 * (dtype, version, activation), PE_ERR_SHAPE (mis-shaped tensor),
 * PE_ERR_INVALID (missing tensor or config field, bad options), PE_ERR_LIMIT
 * (header larger than 100 MB), PE_ERR_NOMEM, PE_ERR_CHECKSUM
 * (verify_checksum); with backend CUDA also PE_ERR_UNSUPPORTED (no CUDA in
 * this build, or no usable device, and why) and PE_ERR_BACKEND (a CUDA call
 * failed at upload). *out is owned by the caller: pe_encoder_free. */
PE_API pe_status pe_encoder_load(const char *path, const pe_encoder_options *opts, pe_encoder **out, pe_error *err);
PE_API void pe_encoder_free(pe_encoder *enc); /* NULL is a no-op */

/* Detail of the last failure on this handle; valid until the next call. */
PE_API const char *pe_encoder_errmsg(const pe_encoder *enc);

/* What a model is. Strings are borrowed, valid until pe_encoder_free; ""
 * when unknown. */
typedef struct pe_encoder_info {
    pe_encoder_config config;
    const char *format;        /* "safetensors" or "pem" */
    const char *dtype;         /* storage dtype of the encoder weights: "f32", "f16", "bf16" */
    const char *path;          /* the file the weights came from */
    const char *backend;       /* "cpu" or "cuda" */
    const char *precision;     /* what the products run at: "fp32", "tf32" or "bf16" */
    const char *model_id, *model_version, *training_data, *created, *tensor_sha256;
    size_t n_params;           /* encoder parameters */
    int n_tensors;             /* tensors in the file */
    int n_extra;               /* of which not used by the encoder (heads, cls.*) */
    const char *const *extra;  /* (n_extra) their names; array and strings borrowed likewise */
    int has_tokenizer;
} pe_encoder_info;
PE_API void pe_encoder_get_info(const pe_encoder *enc, pe_encoder_info *out);

PE_API int pe_encoder_hidden_size(const pe_encoder *enc);

/* The model's tokenizer (its vocabulary and options), borrowed, valid until
 * pe_encoder_free; NULL when the model came without a vocabulary. */
PE_API const pe_tokenizer *pe_encoder_tokenizer(const pe_encoder *enc);

/* Runs the encoder on n_seq already-tokenized sequences packed one after
 * the other: ids (T) with T = sum(lengths), type_ids (T) or NULL for all 0
 * (with case types, pe_encoding_case_types: NULL reads every word as lower
 * case), lengths (n_seq) each 1..max_position. layer: which hidden states to write,
 * 0 = embedding output, 1..L = after that layer, -1 = last. hidden (T, C),
 * the caller's buffer, receives them; every array is only read during the
 * call. Sequences do not see each other: the result for a sequence
 * does not depend on the rest of the batch. Errors (detail in errmsg):
 * PE_ERR_INVALID (id >= V, type >= Y, length out of range, bad layer),
 * PE_ERR_NOMEM, PE_ERR_BACKEND. */
PE_API pe_status pe_encoder_forward(pe_encoder *enc, const int32_t *ids, const int32_t *type_ids, const int *lengths,
                             int n_seq, int layer, float *hidden);

/* pooled (n_seq, C) = mean over the tokens of each sequence of hidden (T, C). */
PE_API void pe_encoder_pool_mean(const float *hidden, const int *lengths, int n_seq, int C, float *pooled);
/* pooled (n_seq, C) = BERT pooler: tanh(W h[first token] + b) from the last
 * layer's hidden (T, C), caller's buffers. PE_ERR_UNSUPPORTED when the model
 * has no pooler, PE_ERR_INVALID (lengths as pe_encoder_forward), PE_ERR_NOMEM. */
PE_API pe_status pe_encoder_pooler(pe_encoder *enc, const float *hidden, const int *lengths, int n_seq, float *pooled);

/* Raw tensor lookup by name (.pem or safetensors names), for heads stored
 * beside the encoder. data (f32, converted from f16/bf16 on first lookup)
 * is borrowed, valid until pe_encoder_free. PE_NOT_FOUND when absent,
 * PE_ERR_UNSUPPORTED for a dtype that is not a float (I64...), PE_ERR_NOMEM;
 * detail in errmsg. */
typedef struct pe_encoder_tensor_view {
    const float *data;
    int ndim;
    int64_t shape[4];
    int64_t numel;
} pe_encoder_tensor_view;
PE_API pe_status pe_encoder_tensor(pe_encoder *enc, const char *name, pe_encoder_tensor_view *out);

/* The stored tensors, in file order, for listings (persona model info).
 * name and dtype ("F32", "BF16", "I64"... for safetensors, "f32"/"f16" for
 * .pem) borrowed, valid until pe_encoder_free. i in 0 .. n_tensors-1. */
typedef struct pe_encoder_tensor_desc {
    const char *name;
    const char *dtype;
    int ndim;
    int64_t shape[4];
} pe_encoder_tensor_desc;
PE_API pe_status pe_encoder_tensor_at(const pe_encoder *enc, int i, pe_encoder_tensor_desc *out);

/* Label maps of the heads stored in a .pem (by head name): *labels
 * (n) borrowed, valid until pe_encoder_free; PE_NOT_FOUND (and *labels
 * NULL, n = 0) when the model has none for that head. */
PE_API pe_status pe_encoder_labels(const pe_encoder *enc, const char *head, const char *const **labels, int *n);
/* The heads with a label set, in file order: i in 0 .. pe_encoder_n_heads
 * - 1; name and labels borrowed until pe_encoder_free. PE_NOT_FOUND when i
 * is out of range. */
PE_API int pe_encoder_n_heads(const pe_encoder *enc);
PE_API pe_status pe_encoder_head_at(const pe_encoder *enc, int i, const char **name, const char *const **labels, int *n);

/* ---- Texts in, vectors out (through the model's tokenizer) ---- */

typedef enum pe_encoder_pool {
    PE_POOL_NONE = 0, /* per-token hidden states */
    PE_POOL_MEAN,     /* mean over the tokens, [CLS] and [SEP] included (sentence-transformers) */
    PE_POOL_CLS,      /* the hidden state of [CLS] */
    PE_POOL_POOLER    /* BERT's pooler on [CLS]; needs the pooler weights and the last layer */
} pe_encoder_pool;

typedef struct pe_encoder_encode_options {
    int layer;            /* -1 last (default), 0 embeddings, 1..L */
    pe_encoder_pool pool; /* default PE_POOL_NONE */
    int max_length;       /* tokens per text including [CLS]/[SEP]; 0 = max_position; longer texts are truncated */
} pe_encoder_encode_options;
PE_API pe_encoder_encode_options pe_encoder_encode_options_default(void);

/* What pe_encoder_encode_texts returns; the result owns every array in it
 * (encodings included) and pe_encoder_result_free frees them all. */
typedef struct pe_encoder_result {
    int n_texts;
    int hidden;              /* C */
    int n_tokens;            /* T, all texts */
    int *offsets;            /* (n_texts + 1) text i is token rows offsets[i] .. offsets[i+1]-1 */
    pe_encoding **encodings; /* (n_texts) ids, type ids, byte spans into the text, truncated flag */
    float *hidden_states;    /* (T, C) with PE_POOL_NONE, else NULL */
    float *pooled;           /* (n_texts, C) with a pool, else NULL */
} pe_encoder_result;

/* Tokenizes n texts (lens NULL: NUL-terminated) with the model's tokenizer
 * and runs them as one packed batch. Errors (detail in errmsg):
 * PE_ERR_INVALID (no tokenizer, bad options, pooler unavailable),
 * PE_ERR_UTF8 (names the text index and byte offset), PE_ERR_NOMEM, and
 * those of pe_encoder_forward. On failure *out is NULL. */
PE_API pe_status pe_encoder_encode_texts(pe_encoder *enc, const char *const *texts, const size_t *lens, int n,
                                  const pe_encoder_encode_options *opts, pe_encoder_result **out);
PE_API void pe_encoder_result_free(pe_encoder_result *r); /* NULL is a no-op */

/* The case types of an encoding of text alone (pe_encoder_config.case_types):
 * types[t] (e->len) is pe_text_case of the word of token t (the bytes from
 * the start of its word's first token to the end of its last), 0 for a token
 * of no word (added specials, padding) or of a second text. types may be
 * e->type_ids. pe_encoder_encode_texts applies it by itself; a caller that
 * runs pe_encoder_forward on such a model passes these types. */
PE_API void pe_encoding_case_types(const pe_encoding *e, const char *text, int32_t *types);

/* ---- More than one thread ---- */

/* A second handle on enc's model for another thread: it borrows the
 * weights, tokenizer, heads' tensors and metadata of enc (its owner) and
 * has its own workspace and error message, so that forward and
 * encode_texts may run on both handles at once (the products of each on the
 * calling thread when the kernels' pool is busy with the other's). Results
 * are those of enc. pe_encoder_tensor (which converts on first lookup) must
 * not run on one while the other is in use. The owner must outlive it; free
 * it with pe_encoder_free (its workspace only). Sharing a shared handle
 * shares its owner. Errors (in enc's errmsg): PE_ERR_UNSUPPORTED (the
 * CUDA backend, a handle loaded for its weights only), PE_ERR_NOMEM. */
PE_API pe_status pe_encoder_share(pe_encoder *enc, pe_encoder **out);

/* Batches of texts encoded ahead, as pe_encoder_encode_texts would, on
 * `workers` threads each with its own shared handle, the results handed
 * back in submission order: a stream of small batches (messages a dozen
 * tokens long) keeps every core busy without splitting each product
 * between threads, and the caller works on one batch while the next are
 * encoded. Run the kernels' pool on one thread (pe_encoder_options.threads
 * = 1) so that the workers do not wait on each other.
 *
 *     pe_encoder_queue *q;
 *     pe_encoder_queue_new(enc, 2, 3, NULL, &q);
 *     push batches while pe_encoder_queue_pending(q) < 3, then
 *     pe_encoder_queue_pop(q, &r) (the oldest; waits for it), use r,
 *     pe_encoder_result_free(r), push the next...
 *     pe_encoder_queue_free(q);
 *
 * workers 0..256 (0: each batch is encoded on enc by pop, on the calling
 * thread); depth 1..4096 batches pushed and not yet popped. opts as
 * encode_texts' (NULL: defaults). A model that cannot be shared (CUDA) gets
 * no workers (pe_encoder_queue_workers tells). While the queue exists, enc
 * may be used by the caller's thread except for pe_encoder_tensor, and must
 * not be freed. Errors (enc's errmsg): PE_ERR_INVALID (out of range),
 * PE_ERR_NOMEM; on failure *out is NULL. */
typedef struct pe_encoder_queue pe_encoder_queue;
PE_API pe_status pe_encoder_queue_new(pe_encoder *enc, int workers, int depth, const pe_encoder_encode_options *opts,
                                      pe_encoder_queue **out);
/* Worker threads running (0: pop encodes). */
PE_API int pe_encoder_queue_workers(const pe_encoder_queue *q);
/* Batches pushed and not yet popped. */
PE_API int pe_encoder_queue_pending(const pe_encoder_queue *q);
/* Queues n texts (lens NULL: NUL-terminated) as one batch. The strings are
 * borrowed until the batch is popped (or the queue freed), the arrays only
 * during the call. Errors (pe_encoder_queue_errmsg): PE_ERR_FULL (depth
 * batches pending: pop first), PE_ERR_INVALID, PE_ERR_NOMEM. */
PE_API pe_status pe_encoder_queue_push(pe_encoder_queue *q, const char *const *texts, const size_t *lens, int n);
/* The oldest pending batch's result (waits until it is encoded), owned by
 * the caller (pe_encoder_result_free). Errors: those of encode_texts for
 * that batch (the batch is gone all the same), PE_ERR_INVALID when nothing
 * is pending; detail in pe_encoder_queue_errmsg. On failure *out is NULL. */
PE_API pe_status pe_encoder_queue_pop(pe_encoder_queue *q, pe_encoder_result **out);
/* The last error's detail, valid until the next call on q. */
PE_API const char *pe_encoder_queue_errmsg(const pe_encoder_queue *q);
/* Stops the workers (a batch being encoded is finished first) and drops
 * the batches not popped. NULL is a no-op. */
PE_API void pe_encoder_queue_free(pe_encoder_queue *q);

/* Conversion of a Hugging Face checkpoint folder to a .pem file. The
 * strings are borrowed for the duration of the call. */
typedef struct pe_encoder_convert_options {
    int f16;                   /* store f16 instead of f32 */
    const char *model_id;      /* NULL: the folder's name */
    const char *model_version; /* NULL: "" */
    const char *training_data; /* NULL: "" */
    const char *labels_json;   /* NULL (HF_DIR/labels.json when present, else empty
                                * "ner" and "relation"), or {"HEAD": [labels], ...} */
    int keep_extra;            /* 1 (default): copy tensors the encoder does not use (heads) */
} pe_encoder_convert_options;
PE_API pe_encoder_convert_options pe_encoder_convert_options_default(void);

/* Reads HF_DIR (config.json, model.safetensors, vocab.txt or tokenizer.json)
 * and writes OUT atomically (a temporary beside it, renamed). Errors as
 * pe_encoder_load, and PE_ERR_IO for the output. */
PE_API pe_status pe_encoder_convert_hf(const char *hf_dir, const char *out_path, const pe_encoder_convert_options *opts,
                                pe_error *err);

#ifdef __cplusplus
}
#endif
#endif
