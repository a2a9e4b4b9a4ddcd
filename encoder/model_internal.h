/* model_internal.h - internal: the encoder's config, weights, packed batch,
 * workspace and backends, shared by the CPU forward (model_forward.c) and
 * the CUDA backend (cuda/). Not installed.
 *
 * The forward pass, identical on every backend (post-LN BERT):
 *
 *   x = LN(word_emb[id] + pos_emb[pos] + type_emb[type])        (T, C)
 *   for each layer l:
 *       qkv = x . qkv_w^T + qkv_b                                (T, 3C)
 *       ctx = attention(qkv) per sequence                        (T, C)
 *       x   = LN1(x + ctx . attn_out_w^T + attn_out_b)           (T, C)
 *       f   = gelu(x . ffn_in_w^T + ffn_in_b)                    (T, I)
 *       x   = LN2(x + f . ffn_out_w^T + ffn_out_b)               (T, C)
 *   pooler (optional): tanh(x[CLS] . pooler_w^T + pooler_b)      (n_seq, C)
 *
 * T: tokens of the packed batch (sequences concatenated, no padding);
 * C hidden, H heads, D = C / H, I intermediate, L layers, V vocabulary,
 * P max positions, Y token types. Every matrix is in PyTorch nn.Linear
 * layout (out, in), row-major.
 */
#ifndef PE_ENCODER_MODEL_INTERNAL_H
#define PE_ENCODER_MODEL_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "linear.h"
#include "pe_encoder.h"
#include "pe_tokenizer.h"

/* One encoder block. Pointers into the model's storage (one allocation or
 * the mmap of a .pem file); never freed one by one. */
typedef struct pe_encoder_layer_weights {
    const float *qkv_w;      /* (3C, C) rows [Wq; Wk; Wv] (HF query/key/value fused) */
    const float *qkv_b;      /* (3C) [bq; bk; bv] */
    const float *attn_out_w; /* (C, C) attention.output.dense */
    const float *attn_out_b; /* (C) */
    const float *ln1_g;      /* (C) attention.output.LayerNorm */
    const float *ln1_b;      /* (C) */
    const float *ffn_in_w;   /* (I, C) intermediate.dense */
    const float *ffn_in_b;   /* (I) */
    const float *ffn_out_w;  /* (C, I) output.dense */
    const float *ffn_out_b;  /* (C) */
    const float *ln2_g;      /* (C) output.LayerNorm */
    const float *ln2_b;      /* (C) */
} pe_encoder_layer_weights;

typedef struct pe_encoder_weights {
    const float *word_emb; /* (V, C) */
    const float *pos_emb;  /* (P, C) */
    const float *type_emb; /* (Y, C) */
    const float *emb_ln_g; /* (C) embeddings.LayerNorm */
    const float *emb_ln_b; /* (C) */
    pe_encoder_layer_weights *layer; /* (L) */
    const float *pooler_w; /* (C, C) or NULL when the checkpoint has no pooler */
    const float *pooler_b; /* (C) or NULL */
} pe_encoder_weights;

/* Weights prepared for the CPU projections (enc_linear_prepare), per layer. */
typedef struct pe_encoder_layer_linear {
    pe_linear_weights *qkv, *attn_out, *ffn_in, *ffn_out;
} pe_encoder_layer_linear;

/* A packed batch: n_seq sequences, tokens concatenated. All arrays borrowed. */
typedef struct pe_encoder_batch {
    int n_seq;
    int n_tokens;             /* T = offsets[n_seq] */
    int max_len;              /* longest sequence */
    const int32_t *ids;       /* (T) token ids < V */
    const int32_t *type_ids;  /* (T) token types < Y */
    const int32_t *positions; /* (T) 0 .. len-1 within each sequence */
    const int *offsets;       /* (n_seq + 1) sequence s is rows offsets[s] .. offsets[s+1]-1 */
} pe_encoder_batch;

/* CPU workspace, sized for a batch shape and reused; grows, never shrinks.
 * The batch arrays (positions, types, offsets) serve every backend; the
 * compute buffers only the CPU forward (left unallocated on CUDA). */
typedef struct pe_encoder_workspace {
    int cap_tokens;  /* rows qkv, ctx and ffn hold */
    int cap_idx;     /* rows positions and types hold */
    int cap_len;     /* longest sequence the attention scratch holds */
    int cap_seq;     /* sequences the batch arrays hold */
    float *qkv;      /* (T, 3C) */
    float *ctx;      /* (T, C) attention output, then projection output */
    float *ffn;      /* (T, I) */
    float *att;      /* enc_attention_scratch_floats(cap_len, H, D) */
    int32_t *positions; /* (T) */
    int32_t *types;     /* (T) zeros when the caller gives no type ids */
    int *offsets;       /* (n_seq + 1) */
} pe_encoder_workspace;

/* Tensor as stored in the model file (for raw lookups by name and info). */
/* One head's label set (a .pem's "labels" entry); strings owned. */
typedef struct pe_head_labels {
    char *head;
    char **labels;
    int n;
} pe_head_labels;
void enc_head_labels_free(pe_head_labels *h, int n);

typedef struct pe_encoder_stored_tensor {
    char *name;
    int dtype;          /* PE_DTYPE_* */
    char dtype_name[8]; /* as in the file ("F32", "I64", "f16"...) */
    int ndim;
    int64_t shape[4];
    const void *data;   /* in the mmap (or the owned copy) */
    size_t nbytes;
    float *f32;         /* f32 view materialised on first lookup when dtype != f32; owned */
} pe_encoder_stored_tensor;

/* PE_DTYPE_OTHER: a dtype the encoder cannot use (I64 position_ids, F64...);
 * allowed for tensors it does not need. */
enum { PE_DTYPE_F32 = 0, PE_DTYPE_F16 = 1, PE_DTYPE_BF16 = 2, PE_DTYPE_OTHER = 3 };
const char *enc_dtype_name(int dtype);
/* IEEE half / bfloat16 to float. */
float enc_f16_to_f32(uint16_t h);
float enc_bf16_to_f32(uint16_t h);
uint16_t enc_f32_to_f16(float f); /* round to nearest even, saturating to inf */

struct pe_encoder {
    pe_encoder_config cfg;
    pe_encoder_weights w;
    pe_encoder_layer_linear *lin; /* (L) CPU prepared projections; NULL on CUDA */
    pe_encoder_backend backend;   /* resolved: CPU or CUDA */
    const char *precision;        /* resolved, static string: "fp32", "tf32", "bf16" */
    int threads;

    /* storage */
    float *arena;        /* owned f32 parameters (safetensors, f16 .pem), or NULL */
    size_t arena_floats;
    void *map;           /* mmap of the model file, or NULL */
    size_t map_size;

    pe_encoder_stored_tensor *tensors; /* every tensor of the file */
    int n_tensors;
    char **extra;        /* names of tensors the encoder does not use (heads, cls.*) */
    int n_extra;

    /* metadata, owned strings ("" when unknown) */
    char *format, *dtype, *path;
    char *model_id, *model_version, *training_data, *created, *tensor_sha256;
    char *labels_json;   /* {"ner": [...], "relation": [...]} as stored, or NULL */
    pe_head_labels *heads; /* (n_heads) label sets of the heads, from a .pem */
    int n_heads;

    pe_tokenizer *tok;   /* NULL when no vocabulary was found */

    pe_encoder_workspace ws;
    void *cuda;          /* pe_encoder_cuda when the CUDA backend is in use */
    pe_error err;
    const pe_encoder *owner; /* pe_encoder_share: everything above but ws, err is owner's; else NULL */
};

/* ---- files (safetensors.c) ---- */

/* Header JSON larger than this is refused (PE_ERR_LIMIT) before parsing. */
#define PE_MODEL_MAX_HEADER ((uint64_t)100 << 20)

/* Maps path read-only. PE_ERR_IO naming the path. An empty file maps to
 * data NULL, size 0. */
/* Opens OpenBLAS (blas_lazy.c) unless done; PE_ERR_BACKEND when it cannot. */
pe_status enc_blas_load(pe_error *err);

pe_status enc_map_file(const char *path, void **data, size_t *size, pe_error *err);
void enc_unmap_file(void *data, size_t size);

/* Parses the safetensors file (map, size) named path: *out (n) tensors with
 * data pointing into map; names owned (enc_stored_tensors_free). Every size
 * and offset is checked against the file before use. */
pe_status enc_safetensors_parse(const char *path, const unsigned char *map, size_t size,
                               pe_encoder_stored_tensor **out, int *n, pe_error *err);
void enc_stored_tensors_free(pe_encoder_stored_tensor *t, int n);
/* PE_ERR_CORRUPT naming path and the tensor when a name appears twice. */
pe_status enc_stored_tensors_check_unique(const char *path, const pe_encoder_stored_tensor *t, int n, pe_error *err);

/* Element count of shape, or -1 on overflow past 2^53. */
int64_t enc_shape_numel(const int64_t *shape, int ndim);

/* ---- config (model_config.c) ---- */

/* From a parsed config.json / .pem "config" object (a cJSON *, void * here
 * to keep cJSON out of this header). what names the source in messages. */
pe_status enc_config_from_json(const void *cjson_obj, const char *what, pe_encoder_config *out,
                                      pe_error *err);
/* A new cJSON object with the HF names (caller deletes), NULL on NOMEM. */
void *enc_config_to_json(const pe_encoder_config *cfg);

/* ---- loading (model_load.c) ---- */

/* As pe_encoder_load, for reading the weights only (the converter): no
 * backend, no prepared CPU projections, process-wide thread counts left
 * alone. The handle must not be given to pe_encoder_forward. */
pe_status enc_load_weights(const char *path, pe_encoder **out, pe_error *err);

/* ---- .pem files (pemodel.c) ---- */

#define PE_PEM_MAGIC "PEMODEL\0"
#define PE_PEM_VERSION 1u
#define PE_PEM_FIXED 32 /* bytes before the JSON header */

/* What a .pem header holds; every pointer owned (enc_pem_header_clear). */
typedef struct pe_pem_header {
    uint64_t data_offset;
    pe_encoder_config cfg;
    pe_encoder_stored_tensor *tensors; /* data pointing into the mapping */
    int n_tensors;
    char *model_id, *model_version, *training_data, *created, *source, *tensor_sha256;
    pe_head_labels *heads; /* (n_heads) "labels": {"HEAD": [labels], ...} in file order */
    int n_heads;
    pe_tokenizer *tok; /* NULL when the header has no "tokenizer" */
} pe_pem_header;

/* Parses and checks the .pem file (map, size) named path. */
pe_status enc_pem_parse(const char *path, const void *map, size_t size, pe_pem_header *out, pe_error *err);
void enc_pem_header_clear(pe_pem_header *h);

/* ---- CPU forward (model_forward.c) ---- */

/* Grows the batch arrays of ws to n_tokens tokens and n_seq sequences. */
pe_status enc_ws_reserve_batch(pe_encoder_workspace *ws, int n_tokens, int n_seq, pe_error *err);
/* Grows the CPU compute buffers of ws to n_tokens tokens, longest max_len. */
pe_status enc_ws_reserve(pe_encoder_workspace *ws, const pe_encoder_config *cfg, int n_tokens,
                                int max_len, pe_error *err);
void enc_ws_free(pe_encoder_workspace *ws);

/* x (T, C) = LN(word_emb[ids] + pos_emb[positions] + type_emb[type_ids]). */
void enc_embed_cpu(const pe_encoder_config *cfg, const pe_encoder_weights *w, const pe_encoder_batch *b,
                          float *x);
/* Scalar reference LayerNorms (the forward uses enc_kernels_add_layernorm,
 * same contract, vectorised and threaded).
 * In place y = (x - mean) / sqrt(var + eps) * g + b over rows of n (biased var). */
void enc_layernorm_f32(float *x, const float *g, const float *b, int rows, int n, float eps);
/* x (T, C) = LN(x + r) in place, r (T, C). */
void enc_add_layernorm_f32(float *x, const float *r, const float *g, const float *b, int rows, int n, float eps);

/* Runs embeddings and layers 1..out_layer (0 = the embedding output,
 * cfg.layers = last) of batch b on the CPU; out (T, C) receives the hidden
 * states. Checks ids/types/positions against V, Y, P (PE_ERR_INVALID). */
pe_status enc_forward_cpu(pe_encoder *enc, const pe_encoder_batch *b, int out_layer, float *out);

/* pooled (n_seq, C) = tanh(hidden[first token of s] . pooler_w^T + pooler_b). */
void enc_pooler_cpu(const pe_encoder_config *cfg, const pe_encoder_weights *w, const float *hidden,
                           const int *offsets, int n_seq, float *pooled);

/* ---- CUDA backend (encoder/cuda/, only with -DPE_CUDA=ON) ----
 * enc_cuda_new copies cfg and the weights to the device (the host
 * weights stay owned by the encoder); enc_forward_cuda runs the same
 * forward as enc_forward_cpu on a host batch and writes host out
 * (T, C). Errors (cuBLAS/CUDA codes translated) go to err as
 * PE_ERR_BACKEND. */
#ifdef PE_HAVE_CUDA
typedef struct pe_encoder_cuda pe_encoder_cuda;
int enc_cuda_available(void); /* 1 when a CUDA device can be used */
pe_status enc_cuda_new(const pe_encoder_config *cfg, const pe_encoder_weights *w, pe_encoder_cuda **out,
                              pe_error *err);
pe_status enc_forward_cuda(pe_encoder_cuda *cu, const pe_encoder_batch *b, int out_layer, float *out,
                                  pe_error *err);
void enc_cuda_free(pe_encoder_cuda *cu); /* NULL is a no-op */
#endif

#endif
