/* model_config.c - the encoder's architecture from a Hugging Face
 * config.json (or the "config" object of a .pem header). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"

/* An integer field in [lo, hi]. */
static pe_status get_int(const cJSON *o, const char *key, const char *what, int lo, int hi, int *out,
                         pe_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) return pe_error_set(err, PE_ERR_INVALID, "%s: missing field \"%s\"", what, key);
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble))
        return pe_error_set(err, PE_ERR_INVALID, "%s: field \"%s\" must be an integer", what, key);
    if (v->valuedouble < lo || v->valuedouble > hi)
        return pe_error_set(err, PE_ERR_INVALID, "%s: field \"%s\" = %.0f out of range [%d, %d]", what, key,
                            v->valuedouble, lo, hi);
    *out = (int)v->valuedouble;
    return PE_OK;
}

pe_status enc_config_from_json(const void *cjson_obj, const char *what, pe_encoder_config *out,
                                      pe_error *err)
{
    const cJSON *o = cjson_obj;
    pe_status st;
    pe_encoder_config c;
    memset(&c, 0, sizeof c);
    if (!cJSON_IsObject(o)) return pe_error_set(err, PE_ERR_INVALID, "%s: config is not a JSON object", what);
    /* Limits keep every product of two dimensions far inside int64 and the
     * per-matrix element counts inside int (BLAS takes int). */
    PE_TRY(st, get_int(o, "vocab_size", what, 1, 1 << 22, &c.vocab_size, err));
    PE_TRY(st, get_int(o, "hidden_size", what, 1, 1 << 14, &c.hidden, err));
    PE_TRY(st, get_int(o, "num_hidden_layers", what, 1, 1024, &c.layers, err));
    PE_TRY(st, get_int(o, "num_attention_heads", what, 1, 1024, &c.heads, err));
    PE_TRY(st, get_int(o, "intermediate_size", what, 1, 1 << 16, &c.intermediate, err));
    PE_TRY(st, get_int(o, "max_position_embeddings", what, 1, 1 << 16, &c.max_position, err));
    PE_TRY(st, get_int(o, "type_vocab_size", what, 1, 1 << 16, &c.type_vocab, err));
    const cJSON *ct = cJSON_GetObjectItemCaseSensitive(o, "persona_case_types");
    if (ct) {
        if (!cJSON_IsBool(ct))
            return pe_error_set(err, PE_ERR_INVALID, "%s: field \"persona_case_types\" must be true or false", what);
        c.case_types = cJSON_IsTrue(ct);
        if (c.case_types && c.type_vocab < PE_N_CASES)
            return pe_error_set(err, PE_ERR_INVALID,
                                "%s: \"persona_case_types\" needs type_vocab_size >= %d (it is %d)", what, PE_N_CASES,
                                c.type_vocab);
    }
    if (c.hidden % c.heads != 0)
        return pe_error_set(err, PE_ERR_INVALID, "%s: hidden_size %d is not a multiple of num_attention_heads %d",
                            what, c.hidden, c.heads);
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(o, "layer_norm_eps");
    if (!eps) return pe_error_set(err, PE_ERR_INVALID, "%s: missing field \"layer_norm_eps\"", what);
    if (!cJSON_IsNumber(eps) || !(eps->valuedouble > 0 && eps->valuedouble < 1))
        return pe_error_set(err, PE_ERR_INVALID, "%s: field \"layer_norm_eps\" must be a number in (0, 1)", what);
    c.layer_norm_eps = (float)eps->valuedouble;
    /* the forward divides by sqrt(var + eps) in float32: 1e-50 would be 0 */
    if (!(c.layer_norm_eps > 0 && c.layer_norm_eps < 1))
        return pe_error_set(err, PE_ERR_INVALID, "%s: field \"layer_norm_eps\" = %g is 0 or 1 in float32", what,
                            eps->valuedouble);
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(o, "hidden_act");
    if (!act) return pe_error_set(err, PE_ERR_INVALID, "%s: missing field \"hidden_act\"", what);
    if (!cJSON_IsString(act))
        return pe_error_set(err, PE_ERR_INVALID, "%s: field \"hidden_act\" must be a string", what);
    if (strcmp(act->valuestring, "gelu") != 0)
        return pe_error_set(err, PE_ERR_UNSUPPORTED, "%s: hidden_act \"%.64s\" is not supported (only \"gelu\")",
                            what, act->valuestring);
    /* position_embedding_type other than absolute changes the architecture. */
    const cJSON *pet = cJSON_GetObjectItemCaseSensitive(o, "position_embedding_type");
    if (cJSON_IsString(pet) && strcmp(pet->valuestring, "absolute") != 0)
        return pe_error_set(err, PE_ERR_UNSUPPORTED,
                            "%s: position_embedding_type \"%.64s\" is not supported (only \"absolute\")", what,
                            pet->valuestring);
    *out = c;
    return PE_OK;
}

/* A float as the shortest decimal that reads back to it (1e-12, not
 * 9.99999996e-13). */
static double short_float(float f)
{
    char b[32];
    for (int prec = 6; prec < 10; prec++) {
        snprintf(b, sizeof b, "%.*g", prec, (double)f);
        if ((float)strtod(b, NULL) == f) break;
    }
    return strtod(b, NULL);
}

void *enc_config_to_json(const pe_encoder_config *cfg)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    int ok = cJSON_AddNumberToObject(o, "vocab_size", cfg->vocab_size) &&
             cJSON_AddNumberToObject(o, "hidden_size", cfg->hidden) &&
             cJSON_AddNumberToObject(o, "num_hidden_layers", cfg->layers) &&
             cJSON_AddNumberToObject(o, "num_attention_heads", cfg->heads) &&
             cJSON_AddNumberToObject(o, "intermediate_size", cfg->intermediate) &&
             cJSON_AddNumberToObject(o, "max_position_embeddings", cfg->max_position) &&
             cJSON_AddNumberToObject(o, "type_vocab_size", cfg->type_vocab) &&
             cJSON_AddNumberToObject(o, "layer_norm_eps", short_float(cfg->layer_norm_eps)) &&
             cJSON_AddStringToObject(o, "hidden_act", "gelu");
    if (ok && cfg->case_types) ok = cJSON_AddBoolToObject(o, "persona_case_types", 1) != NULL;
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

pe_status pe_encoder_config_read(const char *path, pe_encoder_config *out, pe_error *err)
{
    size_t len;
    char *text;
    pe_status st = pe_file_read(path, 1 << 20, &text, &len, err);
    if (st >= PE_ERR_FIRST) return st;
    const char *end = NULL;
    cJSON *o = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!o) {
        size_t at = end && end >= text && end <= text + len ? (size_t)(end - text) : 0;
        free(text);
        return pe_error_set(err, PE_ERR_PARSE, "%s: invalid JSON near byte %zu", path, at);
    }
    free(text);
    st = enc_config_from_json(o, path, out, err);
    cJSON_Delete(o);
    return st;
}
