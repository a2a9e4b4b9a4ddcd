/* train_save.c - saves a pe_train as a Hugging Face checkpoint folder
 * (config.json, model.safetensors in F32, optionally vocab.txt and
 * tokenizer_config.json) that pe_encoder_load reads. The project has no
 * safetensors writer besides this one (pemodel.c writes .pem files from an
 * HF folder: pe_encoder_convert_hf on the saved folder gives a .pem). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model_internal.h"
#include "train_internal.h"

pe_train_save_options pe_train_save_options_default(void)
{
    pe_train_save_options o = {0};
    return o;
}

/* Writes n_parts buffers to path through a temporary renamed over it. */
pe_status enc_tr_write_file(const char *path, const void *const *parts, const size_t *lens, int n_parts, pe_error *err)
{
    return pe_file_write(path, parts, lens, n_parts > 0 ? (size_t)n_parts : 0, err);
}

static pe_status write_json(const char *path, cJSON *obj, pe_error *err)
{
    char *js = cJSON_Print(obj);
    if (!js) return pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    const void *parts[2] = {js, "\n"};
    size_t lens[2] = {strlen(js), 1};
    pe_status st = enc_tr_write_file(path, parts, lens, 2, err);
    free(js);
    return st;
}


/* model.safetensors: u64 LE header length, the JSON header (padded with
 * spaces to a multiple of 8, as the format allows), then the F32 data of
 * each tensor in order (little-endian hosts). */
pe_status enc_tr_write_safetensors(const char *path, const pe_tr_st_entry *e, int n, pe_error *err)
{
    cJSON *h = cJSON_CreateObject(), *meta = cJSON_CreateObject();
    int ok = h && meta && cJSON_AddItemToObject(h, "__metadata__", meta);
    if (!ok) cJSON_Delete(meta);
    ok = ok && cJSON_AddStringToObject(meta, "format", "pt") && cJSON_AddStringToObject(meta, "saved_by", "persona");
    uint64_t off = 0;
    for (int i = 0; ok && i < n; i++) {
        cJSON *t = cJSON_CreateObject(), *sh = cJSON_CreateArray(), *o = cJSON_CreateArray();
        ok = t && sh && o && cJSON_AddItemToObject(h, e[i].name, t);
        if (!ok) {
            cJSON_Delete(t);
            cJSON_Delete(sh);
            cJSON_Delete(o);
            break;
        }
        ok = cJSON_AddStringToObject(t, "dtype", "F32") && cJSON_AddItemToObject(t, "shape", sh);
        if (!ok) cJSON_Delete(sh);
        ok = ok && cJSON_AddItemToObject(t, "data_offsets", o);
        if (!ok) {
            cJSON_Delete(o);
            break;
        }
        for (int d = 0; ok && d < e[i].ndim; d++) ok = cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)e[i].shape[d]));
        ok = ok && cJSON_AddItemToArray(o, cJSON_CreateNumber((double)off)) &&
             cJSON_AddItemToArray(o, cJSON_CreateNumber((double)(off + e[i].nbytes)));
        off += e[i].nbytes;
    }
    char *js = ok ? cJSON_PrintUnformatted(h) : NULL;
    cJSON_Delete(h);
    if (!js) return pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    size_t hl = strlen(js), padded = (hl + 7) / 8 * 8;
    char *hdr = malloc(8 + padded);
    if (!hdr) {
        free(js);
        return pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < 8; i++) hdr[i] = (char)(((uint64_t)padded >> (8 * i)) & 0xff);
    memcpy(hdr + 8, js, hl);
    memset(hdr + 8 + hl, ' ', padded - hl);
    free(js);
    const void **parts = malloc(((size_t)n + 1) * sizeof *parts);
    size_t *lens = malloc(((size_t)n + 1) * sizeof *lens);
    pe_status st;
    if (!parts || !lens) {
        st = pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    } else {
        parts[0] = hdr;
        lens[0] = 8 + padded;
        for (int i = 0; i < n; i++) {
            parts[i + 1] = e[i].data;
            lens[i + 1] = e[i].nbytes;
        }
        st = enc_tr_write_file(path, parts, lens, n + 1, err);
    }
    free(parts);
    free(lens);
    free(hdr);
    return st;
}

static pe_status write_tokenizer(const char *dir, const pe_tokenizer *tok, pe_error *err)
{
    size_t n = pe_tokenizer_vocab_size(tok), total = 0;
    for (size_t i = 0; i < n; i++) {
        const char *s = pe_tokenizer_id_to_token(tok, (int32_t)i);
        if (s && strchr(s, '\n'))
            return pe_error_set(err, PE_ERR_INVALID, "save: token %zu contains a newline (vocab.txt cannot hold it)",
                                i);
        total += (s ? strlen(s) : 0) + 1;
    }
    char *text = malloc(total + 1), *path = malloc(strlen(dir) + 32);
    pe_status st = PE_OK;
    if (!text || !path) {
        st = pe_error_set(err, PE_ERR_NOMEM, "out of memory");
        goto done;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *s = pe_tokenizer_id_to_token(tok, (int32_t)i);
        size_t l = s ? strlen(s) : 0;
        memcpy(text + k, s ? s : "", l);
        k += l;
        text[k++] = '\n';
    }
    sprintf(path, "%s/vocab.txt", dir);
    const void *parts[1] = {text};
    size_t lens[1] = {k};
    if ((st = enc_tr_write_file(path, parts, lens, 1, err)) != PE_OK) goto done;

    const pe_tokenizer_options *o = pe_tokenizer_get_options(tok);
    cJSON *c = cJSON_CreateObject(), *x = NULL;
    int ok = c && cJSON_AddStringToObject(c, "tokenizer_class", "BertTokenizer") &&
             cJSON_AddBoolToObject(c, "do_lower_case", o->do_lower_case) &&
             cJSON_AddBoolToObject(c, "strip_accents", o->strip_accents < 0 ? o->do_lower_case : o->strip_accents) &&
             cJSON_AddBoolToObject(c, "tokenize_chinese_chars", o->tokenize_chinese_chars);
    const char *keys[5] = {"unk_token", "cls_token", "sep_token", "pad_token", "mask_token"};
    const char *vals[5] = {o->unk_token, o->cls_token, o->sep_token, o->pad_token, o->mask_token};
    for (int i = 0; ok && i < 5; i++)
        if (vals[i]) ok = cJSON_AddStringToObject(c, keys[i], vals[i]) != NULL;
    ok = ok && (x = cJSON_AddArrayToObject(c, "additional_special_tokens")) != NULL;
    for (size_t i = 0; ok && i < o->n_extra_special_tokens; i++)
        ok = cJSON_AddItemToArray(x, cJSON_CreateString(o->extra_special_tokens[i]));
    if (!ok) st = pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    else {
        sprintf(path, "%s/tokenizer_config.json", dir);
        st = write_json(path, c, err);
    }
    cJSON_Delete(c);
done:
    free(text);
    free(path);
    return st;
}

pe_status pe_train_save(const pe_train *tr, const char *dir, const pe_train_save_options *opts, pe_error *err)
{
    if (!tr || !dir || !*dir) return pe_error_set(err, PE_ERR_INVALID, "save: NULL model or empty folder name");
    pe_train_save_options o = opts ? *opts : pe_train_save_options_default();
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return pe_error_set(err, PE_ERR_IO, "%s: cannot create the folder: %s", dir, strerror(errno));
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return pe_error_set(err, PE_ERR_IO, "%s: not a folder", dir);
    char *path = malloc(strlen(dir) + 32);
    pe_tr_st_entry *e = calloc((size_t)tr->n_tab + 2 + (size_t)(o.n_extra > 0 ? o.n_extra : 0), sizeof *e);
    cJSON *cfg = enc_config_to_json(&tr->cfg);
    pe_status st = PE_OK;
    if (!path || !e || !cfg) {
        st = pe_error_set(err, PE_ERR_NOMEM, "out of memory");
        goto done;
    }
    if (!cJSON_AddStringToObject(cfg, "model_type", "bert")) {
        st = pe_error_set(err, PE_ERR_NOMEM, "out of memory");
        goto done;
    }
    sprintf(path, "%s/config.json", dir);
    if ((st = write_json(path, cfg, err)) != PE_OK) goto done;
    int n = 0;
    for (int i = 0; i < tr->n_tab; i++, n++) {
        const pe_train_param *p = &tr->tab[i];
        e[n] = (pe_tr_st_entry){p->name, p->ndim, {p->shape[0], p->shape[1]}, p->data, (size_t)p->numel * sizeof(float)};
    }
    if (tr->pooler_w) {
        const int64_t C = tr->cfg.hidden;
        e[n++] = (pe_tr_st_entry){"pooler.dense.weight", 2, {C, C}, tr->pooler_w, (size_t)(C * C) * sizeof(float)};
        e[n++] = (pe_tr_st_entry){"pooler.dense.bias", 1, {C, 0}, tr->pooler_b, (size_t)C * sizeof(float)};
    }
    for (int i = 0; o.extra && i < o.n_extra; i++, n++) {
        const pe_train_param *p = &o.extra[i];
        e[n] = (pe_tr_st_entry){p->name, p->ndim, {p->shape[0], p->shape[1]}, p->data, (size_t)p->numel * sizeof(float)};
    }
    sprintf(path, "%s/model.safetensors", dir);
    if ((st = enc_tr_write_safetensors(path, e, n, err)) != PE_OK) goto done;
    if (o.tokenizer && (st = write_tokenizer(dir, o.tokenizer, err)) != PE_OK) goto done;
    if (o.labels_json) {
        sprintf(path, "%s/labels.json", dir);
        const void *parts[2] = {o.labels_json, "\n"};
        size_t lens[2] = {strlen(o.labels_json), 1};
        st = enc_tr_write_file(path, parts, lens, 2, err);
    }
done:
    cJSON_Delete(cfg);
    free(e);
    free(path);
    return st;
}
