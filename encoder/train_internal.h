/* train_internal.h - internal: the pe_train handle shared by train_model.c
 * (parameters, forward, backward), train_optim.c (AdamW, clipping) and
 * train_save.c. Not installed. Shapes with T tokens, C hidden, I
 * intermediate, L layers, V/P/Y embedding rows. */
#ifndef PE_ENCODER_TRAIN_INTERNAL_H
#define PE_ENCODER_TRAIN_INTERNAL_H

#include "pe_train.h"

/* One layer's tensors, pointers into params (or the same offsets in grads). */
typedef struct pe_tr_layer {
    float *qkv_w; /* (3C, C) rows [Wq; Wk; Wv] */
    float *qkv_b; /* (3C) */
    float *ao_w;  /* (C, C) attention.output.dense */
    float *ao_b;  /* (C) */
    float *ln1_g, *ln1_b; /* (C) attention.output.LayerNorm */
    float *fi_w;  /* (I, C) intermediate.dense */
    float *fi_b;  /* (I) */
    float *fo_w;  /* (C, I) output.dense */
    float *fo_b;  /* (C) */
    float *ln2_g, *ln2_b; /* (C) output.LayerNorm */
} pe_tr_layer;

typedef struct pe_tr_weights {
    float *word;  /* (V, C) */
    float *pos;   /* (P, C) */
    float *type;  /* (Y, C) */
    float *ln_g, *ln_b; /* (C) embeddings.LayerNorm */
    pe_tr_layer *layer; /* (L) */
} pe_tr_weights;

/* What the forward keeps for the backward, and the backward's scratch.
 * Per-layer arrays hold L blocks of the per-token size times T. */
typedef struct pe_tr_acts {
    int cap_tokens, cap_seq, cap_len;
    size_t cap_probs;  /* floats of probs per layer */
    float *xs;         /* (L+1, T, C) layer inputs/outputs; xs[0] the embeddings after dropout */
    float *emb_xhat;   /* (T, C) */
    float *emb_rstd;   /* (T) */
    float *qkv;        /* (L, T, 3C) */
    float *ctx;        /* (L, T, C) attention output before the projection */
    float *ln1_xhat;   /* (L, T, C) */
    float *ln1_rstd;   /* (L, T) */
    float *x1;         /* (L, T, C) LN1 output, the FFN input */
    float *u;          /* (L, T, I) FFN pre-activation */
    float *gl;         /* (L, T, I) gelu(u) */
    float *ln2_xhat;   /* (L, T, C) */
    float *ln2_rstd;   /* (L, T) */
    float *probs;      /* (L, cap_probs) softmax probabilities, before dropout */
    /* scratch */
    float *tmp;        /* (T, C) */
    float *dx, *dr;    /* (T, C) */
    float *dI;         /* (T, I) */
    float *dqkv;       /* (T, 3C) */
    float *att;        /* (2 cap_len^2) */
    /* the batch of the last forward */
    int32_t *ids, *types, *positions; /* (T) */
    int32_t *rows;     /* (T) pe_train_forward_options.rows of the last forward */
    int *offsets;      /* (n_seq + 1) */
} pe_tr_acts;

struct pe_train {
    pe_encoder_config cfg;
    float *params;     /* (n) every parameter, in the order of the header */
    float *grads;      /* (n) same layout */
    size_t n;
    pe_tr_weights w, g; /* views into params and grads */
    pe_train_param *tab;   /* (n_tab) named views, HF names */
    int n_tab;
    char *names;       /* storage of tab[].name */
    float *pooler_w;   /* (C, C) carried through, or NULL */
    float *pooler_b;   /* (C) */

    pe_tr_acts a;
    int fwd_ok;        /* a forward succeeded and its activations are kept */
    int n_seq, n_tokens, max_len;
    int n_rows;        /* rows of the last forward's last layer (a.rows); -1: all */
    pe_train_forward_options fo;
    pe_error err;
};

/* ---- files (train_save.c) ---- */

/* Writes n_parts buffers to path through a temporary (fsynced) renamed over
 * it. PE_ERR_IO naming the file. */
pe_status enc_tr_write_file(const char *path, const void *const *parts, const size_t *lens, int n_parts,
                           pe_error *err);
/* One F32 tensor of a safetensors file. */
typedef struct pe_tr_st_entry {
    const char *name;
    int ndim;
    int64_t shape[2];
    const float *data;
    size_t nbytes;
} pe_tr_st_entry;
/* splitmix64: the next of a reproducible stream of 64-bit draws. */
uint64_t enc_tr_splitmix64(uint64_t *state);
/* A safetensors file of F32 tensors (through enc_tr_write_file). */
pe_status enc_tr_write_safetensors(const char *path, const pe_tr_st_entry *e, int n, pe_error *err);

#endif
