/* model_text.c - texts in, vectors out: the model's tokenizer, one packed
 * forward, optional pooling. */
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"

pe_encoder_encode_options pe_encoder_encode_options_default(void)
{
    pe_encoder_encode_options o = {.layer = -1, .pool = PE_POOL_NONE, .max_length = 0};
    return o;
}

void pe_encoding_case_types(const pe_encoding *e, const char *text, int32_t *types)
{
    const size_t T = e->len;
    for (size_t t = 0; t < T;) {
        size_t u = t + 1;
        const int32_t w = e->word_ids[t];
        if (w < 0 || e->seq_ids[t] != 0) {
            types[t] = 0;
            t = u;
            continue;
        }
        while (u < T && e->word_ids[u] == w && e->seq_ids[u] == 0) u++;
        const size_t a = e->offsets[t].start, b = e->offsets[u - 1].end;
        const int c = b > a ? pe_text_case(text + a, b - a) : PE_CASE_LOWER;
        for (; t < u; t++) types[t] = c;
    }
}

void pe_encoder_result_free(pe_encoder_result *r)
{
    if (!r) return;
    pe_encodings_free(r->encodings, (size_t)r->n_texts);
    free(r->offsets);
    free(r->hidden_states);
    free(r->pooled);
    free(r);
}

pe_status pe_encoder_encode_texts(pe_encoder *enc, const char *const *texts, const size_t *lens, int n,
                                  const pe_encoder_encode_options *opts, pe_encoder_result **out)
{
    *out = NULL;
    pe_error_clear(&enc->err);
    pe_encoder_encode_options o = opts ? *opts : pe_encoder_encode_options_default();
    const pe_encoder_config *g = &enc->cfg;
    if (!enc->tok) return pe_error_set(&enc->err, PE_ERR_INVALID, "the model has no vocabulary (tokenizer)");
    if (n < 0 || (n > 0 && !texts)) return pe_error_set(&enc->err, PE_ERR_INVALID, "encode: bad text list");
    if (o.max_length < 0 || o.max_length > g->max_position)
        return pe_error_set(&enc->err, PE_ERR_INVALID, "encode: max_length %d out of range (0..%d)", o.max_length,
                            g->max_position);
    if (o.max_length > 0 && o.max_length < 2)
        return pe_error_set(&enc->err, PE_ERR_INVALID, "encode: max_length %d leaves no room for [CLS] and [SEP]",
                            o.max_length);
    if (o.layer < -1 || o.layer > g->layers)
        return pe_error_set(&enc->err, PE_ERR_INVALID, "encode: layer %d out of range (-1, 0..%d)", o.layer, g->layers);
    if (o.pool < PE_POOL_NONE || o.pool > PE_POOL_POOLER)
        return pe_error_set(&enc->err, PE_ERR_INVALID, "encode: unknown pooling %d", (int)o.pool);
    if (o.pool == PE_POOL_POOLER && !g->has_pooler)
        return pe_error_set(&enc->err, PE_ERR_INVALID, "encode: this model has no pooler weights");
    if (o.pool == PE_POOL_POOLER && o.layer != -1 && o.layer != g->layers)
        return pe_error_set(&enc->err, PE_ERR_INVALID, "encode: the pooler applies to the last layer only");

    pe_encoder_result *r = calloc(1, sizeof *r);
    if (!r) return pe_error_set(&enc->err, PE_ERR_NOMEM, "out of memory");
    r->hidden = g->hidden;
    pe_status st = PE_OK;
    int *lengths = NULL;
    int32_t *ids = NULL, *types = NULL;
    float *h = NULL;
    if (n == 0) {
        r->offsets = calloc(1, sizeof *r->offsets);
        if (!r->offsets) st = pe_error_set(&enc->err, PE_ERR_NOMEM, "out of memory");
        goto done;
    }
    pe_tokenizer_encode_options eo = pe_tokenizer_encode_options_default();
    eo.max_length = (size_t)(o.max_length ? o.max_length : g->max_position);
    eo.truncation = PE_TRUNCATE_LONGEST_FIRST;
    st = pe_tokenizer_encode_batch(enc->tok, texts, lens, NULL, NULL, (size_t)n, &eo, &r->encodings, &enc->err);
    if (st != PE_OK) goto done;
    r->n_texts = n;
    r->offsets = malloc(((size_t)n + 1) * sizeof *r->offsets);
    lengths = malloc((size_t)n * sizeof *lengths);
    if (!r->offsets || !lengths) {
        st = pe_error_set(&enc->err, PE_ERR_NOMEM, "out of memory");
        goto done;
    }
    size_t T = 0;
    r->offsets[0] = 0;
    for (int i = 0; i < n; i++) {
        lengths[i] = (int)r->encodings[i]->len;
        T += r->encodings[i]->len;
        if (T > (1u << 30)) {
            st = pe_error_set(&enc->err, PE_ERR_LIMIT, "encode: too many tokens in one batch");
            goto done;
        }
        r->offsets[i + 1] = (int)T;
    }
    r->n_tokens = (int)T;
    ids = malloc(T * sizeof *ids);
    types = malloc(T * sizeof *types);
    h = malloc(T * (size_t)g->hidden * sizeof *h);
    if (!ids || !types || !h) {
        st = pe_error_set(&enc->err, PE_ERR_NOMEM, "out of memory for %zu tokens", T);
        goto done;
    }
    for (int i = 0; i < n; i++) {
        memcpy(ids + r->offsets[i], r->encodings[i]->ids, (size_t)lengths[i] * sizeof *ids);
        if (g->case_types) /* the types the encoder reads are the encoding's */
            pe_encoding_case_types(r->encodings[i], texts[i], r->encodings[i]->type_ids);
        memcpy(types + r->offsets[i], r->encodings[i]->type_ids, (size_t)lengths[i] * sizeof *types);
    }
    st = pe_encoder_forward(enc, ids, types, lengths, n, o.layer, h);
    if (st != PE_OK) goto done;
    const int C = g->hidden;
    if (o.pool == PE_POOL_NONE) {
        r->hidden_states = h;
        h = NULL;
        goto done;
    }
    r->pooled = malloc((size_t)n * C * sizeof *r->pooled);
    if (!r->pooled) {
        st = pe_error_set(&enc->err, PE_ERR_NOMEM, "out of memory");
        goto done;
    }
    if (o.pool == PE_POOL_MEAN) {
        pe_encoder_pool_mean(h, lengths, n, C, r->pooled);
    } else if (o.pool == PE_POOL_CLS) {
        for (int i = 0; i < n; i++)
            memcpy(r->pooled + (size_t)i * C, h + (size_t)r->offsets[i] * C, (size_t)C * sizeof *h);
    } else {
        enc_pooler_cpu(g, &enc->w, h, r->offsets, n, r->pooled);
    }
done:
    free(lengths);
    free(ids);
    free(types);
    free(h);
    if (st != PE_OK) {
        pe_encoder_result_free(r);
        return st;
    }
    *out = r;
    return PE_OK;
}
