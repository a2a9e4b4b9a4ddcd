/* test_encoder_files.c - bad model files give clear errors naming the file,
 * tensor or field, never a crash or a leak: safetensors (truncated, bad or
 * oversized header, offsets outside the file, missing / mis-shaped tensors,
 * unsupported dtypes), config.json (missing field, other activation), .pem
 * (magic, version, truncation, header). Variants are made in a temporary
 * folder from the tiny-f32 fixture. */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pe_encoder.h"
#include "pe_test.h"

static char tmp[64], dir[128];
static unsigned char *good;   /* tiny-f32/model.safetensors */
static size_t good_len;

static unsigned char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return b;
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fwrite(data, 1, len, f);
    fclose(f);
}

static void copy_fixture(const char *name, const char *to)
{
    char src[512], dst[256];
    size_t n;
    snprintf(src, sizeof src, "%s/encoder/tiny-f32/%s", PE_FIXTURES, name);
    snprintf(dst, sizeof dst, "%s/%s", dir, to ? to : name);
    unsigned char *b = read_all(src, &n);
    if (b) write_file(dst, b, n);
    free(b);
}

static void put_model(const void *data, size_t len)
{
    char p[256];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    write_file(p, data, len);
}

/* Loads dir; expects status want and every needle in the message. */
static void expect_load(const char *path, pe_status want, const char *needle1, const char *needle2)
{
    pe_encoder *enc = (pe_encoder *)1;
    pe_error err;
    pe_error_clear(&err);
    pe_encoder_options o = pe_encoder_options_default();
    o.backend = PE_ENCODER_CPU;
    pe_status st = pe_encoder_load(path, &o, &enc, &err);
    PE_CHECK_MSG(st == want, "want %s, got %s: %s", pe_status_str(want), pe_status_str(st), err.msg);
    PE_CHECK(enc == NULL || st == PE_OK);
    if (needle1) PE_CHECK_MSG(strstr(err.msg, needle1) != NULL, "\"%s\" not in: %s", needle1, err.msg);
    if (needle2) PE_CHECK_MSG(strstr(err.msg, needle2) != NULL, "\"%s\" not in: %s", needle2, err.msg);
    if (st == PE_OK) pe_encoder_free(enc);
}

/* The good file with its header JSON edited by fn (data kept as is, then
 * SPARE zero bytes at data offset spare_at for the tensors an edit adds:
 * tensors may not share bytes). */
#define SPARE 64
static size_t spare_at;
typedef void (*edit_fn)(cJSON *h);
static void put_edited(edit_fn fn)
{
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = (hl << 8) | good[i];
    cJSON *h = cJSON_ParseWithLength((const char *)good + 8, (size_t)hl);
    size_t data = good_len - 8 - (size_t)hl;
    spare_at = data;
    fn(h);
    char *js = cJSON_PrintUnformatted(h);
    cJSON_Delete(h);
    size_t nl = strlen(js);
    unsigned char *out = calloc(1, 8 + nl + data + SPARE);
    for (int i = 0; i < 8; i++) out[i] = (unsigned char)((uint64_t)nl >> (8 * i));
    memcpy(out + 8, js, nl);
    memcpy(out + 8 + nl, good + 8 + hl, data);
    put_model(out, 8 + nl + data + SPARE);
    free(out);
    free(js);
}

/* {"dtype": dtype, "shape": shape, "data_offsets": [spare_at + off, + nbytes]} */
static cJSON *spare_tensor(const char *dtype, const char *shape, size_t off, size_t nbytes)
{
    char b[256];
    snprintf(b, sizeof b, "{\"dtype\":\"%s\",\"shape\":%s,\"data_offsets\":[%zu,%zu]}", dtype, shape, spare_at + off,
             spare_at + off + nbytes);
    return cJSON_Parse(b);
}

static void edit_rename(cJSON *h)
{
    cJSON *e = cJSON_DetachItemFromObject(h, "bert.encoder.layer.1.output.dense.bias");
    cJSON_AddItemToObject(h, "bert.encoder.layer.1.output.dense.bias_renamed", e);
}
static void edit_shape(cJSON *h)
{
    cJSON *e = cJSON_GetObjectItem(h, "bert.encoder.layer.1.attention.self.query.weight");
    cJSON_ReplaceItemInObject(e, "shape", cJSON_Parse("[16, 64]"));
}
static void edit_dtype(cJSON *h)
{
    cJSON *e = cJSON_GetObjectItem(h, "bert.encoder.layer.0.intermediate.dense.weight");
    cJSON_ReplaceItemInObject(e, "dtype", cJSON_CreateString("I32"));
}
static void edit_unknown_dtype(cJSON *h)
{
    cJSON *e = cJSON_GetObjectItem(h, "bert.embeddings.LayerNorm.weight");
    cJSON_ReplaceItemInObject(e, "dtype", cJSON_CreateString("Q4_K"));
}
static void edit_offsets(cJSON *h)
{
    cJSON *e = cJSON_GetObjectItem(h, "bert.pooler.dense.bias");
    cJSON_ReplaceItemInObject(e, "data_offsets", cJSON_Parse("[1000000, 1000128]"));
}
static void edit_huge_shape(cJSON *h)
{
    cJSON *e = cJSON_GetObjectItem(h, "bert.pooler.dense.weight");
    cJSON_ReplaceItemInObject(e, "shape", cJSON_Parse("[4294967296, 4294967296, 4294967296]"));
}
static void edit_size_mismatch(cJSON *h)
{
    cJSON *e = cJSON_GetObjectItem(h, "bert.pooler.dense.weight");
    cJSON_ReplaceItemInObject(e, "shape", cJSON_Parse("[32, 33]"));
}
static void edit_extra_i64(cJSON *h)
{
    /* old checkpoints carry an I64 position_ids buffer: allowed, reported */
    cJSON_AddItemToObject(h, "bert.embeddings.position_ids", spare_tensor("I64", "[1,2]", 0, 16));
}

static void edit_duplicate(cJSON *h)
{
    /* cJSON keeps both members: the file names one tensor twice */
    cJSON_AddItemToObject(h, "bert.pooler.dense.bias",
                          cJSON_Parse("{\"dtype\":\"F32\",\"shape\":[32],\"data_offsets\":[0,128]}"));
}
static void edit_heads(cJSON *h)
{
    /* head tensors of 3 dims and with an empty dimension, beside the encoder */
    cJSON_AddItemToObject(h, "head.w3", spare_tensor("F32", "[2,2,2]", 0, 32));
    cJSON_AddItemToObject(h, "head.empty", cJSON_Parse("{\"dtype\":\"F32\",\"shape\":[4,0],\"data_offsets\":[0,0]}"));
}

static void edit_pem_name(cJSON *h)
{
    /* an extra tensor named as a .pem encoder tensor */
    cJSON_AddItemToObject(h, "layer.0.ln1.g", spare_tensor("F32", "[1]", 0, 4));
}
static void edit_overlap(cJSON *h)
{
    /* a head aliasing the pooler's bytes: 16k such tensors of a large file
     * made the arena and the converter's copies thousands of times the
     * file's size (fuzz_model_files) */
    cJSON *e = cJSON_GetObjectItem(h, "bert.pooler.dense.weight");
    cJSON *o = cJSON_GetObjectItem(e, "data_offsets");
    char b[160];
    snprintf(b, sizeof b, "{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[%.0f,%.0f]}",
             cJSON_GetArrayItem(o, 0)->valuedouble + 64, cJSON_GetArrayItem(o, 0)->valuedouble + 72);
    cJSON_AddItemToObject(h, "head.alias", cJSON_Parse(b));
}
static void edit_overlap_encoder(cJSON *h)
{
    /* two encoder tensors on the same bytes */
    cJSON *a = cJSON_GetObjectItem(h, "bert.encoder.layer.0.output.dense.bias");
    cJSON *b = cJSON_GetObjectItem(h, "bert.encoder.layer.1.output.dense.bias");
    cJSON_ReplaceItemInObject(b, "data_offsets", cJSON_Duplicate(cJSON_GetObjectItem(a, "data_offsets"), 1));
}

static void test_safetensors_bad(void)
{
    copy_fixture("config.json", NULL);
    copy_fixture("vocab.txt", NULL);
    put_model(good, good_len);
    expect_load(dir, PE_OK, NULL, NULL);

    put_model(good, good_len / 2);
    expect_load(dir, PE_ERR_CORRUPT, "model.safetensors", "outside the data");
    put_model(good, 5);
    expect_load(dir, PE_ERR_CORRUPT, "truncated", NULL);
    put_model(good, 0);
    expect_load(dir, PE_ERR_CORRUPT, "truncated", NULL);

    unsigned char *b = malloc(good_len);
    memcpy(b, good, good_len);
    b[8] = '#'; /* the header JSON's opening brace */
    put_model(b, good_len);
    expect_load(dir, PE_ERR_PARSE, "invalid header JSON", NULL);
    memcpy(b, good, good_len);
    uint64_t beyond = good_len; /* header length past the end */
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(beyond >> (8 * i));
    put_model(b, good_len);
    expect_load(dir, PE_ERR_CORRUPT, "beyond the end", NULL);
    uint64_t huge = (uint64_t)1 << 40;
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(huge >> (8 * i));
    put_model(b, good_len);
    expect_load(dir, PE_ERR_LIMIT, "header length", NULL);
    memset(b, 0xff, 8);
    put_model(b, good_len);
    expect_load(dir, PE_ERR_LIMIT, "header length", NULL);
    free(b);

    put_edited(edit_rename);
    expect_load(dir, PE_ERR_INVALID, "missing tensor", "encoder.layer.1.output.dense.bias");
    put_edited(edit_shape);
    expect_load(dir, PE_ERR_SHAPE, "bert.encoder.layer.1.attention.self.query.weight: expected (32, 32), got (16, 64)",
                NULL);
    put_edited(edit_dtype);
    expect_load(dir, PE_ERR_UNSUPPORTED, "bert.encoder.layer.0.intermediate.dense.weight", "I32");
    put_edited(edit_unknown_dtype);
    expect_load(dir, PE_ERR_UNSUPPORTED, "bert.embeddings.LayerNorm.weight", "Q4_K");
    put_edited(edit_offsets);
    expect_load(dir, PE_ERR_CORRUPT, "bert.pooler.dense.bias", "outside");
    put_edited(edit_huge_shape);
    expect_load(dir, PE_ERR_CORRUPT, "bert.pooler.dense.weight", NULL);
    put_edited(edit_size_mismatch);
    expect_load(dir, PE_ERR_CORRUPT, "bert.pooler.dense.weight", "bytes of data");
    put_edited(edit_extra_i64);
    expect_load(dir, PE_OK, NULL, NULL);
    put_edited(edit_duplicate);
    expect_load(dir, PE_ERR_CORRUPT, "bert.pooler.dense.bias", "appears twice");
    put_edited(edit_overlap);
    expect_load(dir, PE_ERR_CORRUPT, "bert.pooler.dense.weight and head.alias share bytes", NULL);
    put_edited(edit_overlap_encoder);
    expect_load(dir, PE_ERR_CORRUPT, "bert.encoder.layer.", "share bytes");

    char p[256];
    snprintf(p, sizeof p, "%s/nowhere", tmp);
    expect_load(p, PE_ERR_IO, "nowhere", NULL);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    unlink(p);
    expect_load(dir, PE_ERR_IO, "no model.safetensors", NULL);
}

static void put_config(const char *text)
{
    char p[256];
    snprintf(p, sizeof p, "%s/config.json", dir);
    write_file(p, text, strlen(text));
}

static void test_config_bad(void)
{
    put_model(good, good_len);
    put_config("{\"vocab_size\": 135, \"hidden_size\": 32, \"num_hidden_layers\": 2, \"intermediate_size\": 64,"
               "\"max_position_embeddings\": 64, \"type_vocab_size\": 2, \"layer_norm_eps\": 1e-12,"
               "\"hidden_act\": \"gelu\"}");
    expect_load(dir, PE_ERR_INVALID, "config.json", "num_attention_heads");
    put_config("{\"vocab_size\": 135, \"hidden_size\": 32, \"num_hidden_layers\": 2, \"num_attention_heads\": 4,"
               "\"intermediate_size\": 64, \"max_position_embeddings\": 64, \"type_vocab_size\": 2,"
               "\"layer_norm_eps\": 1e-12, \"hidden_act\": \"relu\"}");
    expect_load(dir, PE_ERR_UNSUPPORTED, "hidden_act", "relu");
    put_config("{\"vocab_size\": 135, \"hidden_size\": 32, \"num_hidden_layers\": 2, \"num_attention_heads\": 5,"
               "\"intermediate_size\": 64, \"max_position_embeddings\": 64, \"type_vocab_size\": 2,"
               "\"layer_norm_eps\": 1e-12, \"hidden_act\": \"gelu\"}");
    expect_load(dir, PE_ERR_INVALID, "not a multiple", NULL);
    put_config("{\"vocab_size\": 135, \"hidden_size\": 32, \"num_hidden_layers\": 2.5, \"num_attention_heads\": 4,"
               "\"intermediate_size\": 64, \"max_position_embeddings\": 64, \"type_vocab_size\": 2,"
               "\"layer_norm_eps\": 1e-12, \"hidden_act\": \"gelu\"}");
    expect_load(dir, PE_ERR_INVALID, "num_hidden_layers", NULL);
    /* more layers than the weights have */
    put_config("{\"vocab_size\": 135, \"hidden_size\": 32, \"num_hidden_layers\": 3, \"num_attention_heads\": 4,"
               "\"intermediate_size\": 64, \"max_position_embeddings\": 64, \"type_vocab_size\": 2,"
               "\"layer_norm_eps\": 1e-12, \"hidden_act\": \"gelu\"}");
    expect_load(dir, PE_ERR_INVALID, "missing tensor", "encoder.layer.2.");
    /* positive, but 0 as a float32 (fuzz_model_files) */
    put_config("{\"vocab_size\": 135, \"hidden_size\": 32, \"num_hidden_layers\": 2, \"num_attention_heads\": 4,"
               "\"intermediate_size\": 64, \"max_position_embeddings\": 64, \"type_vocab_size\": 2,"
               "\"layer_norm_eps\": 1e-52, \"hidden_act\": \"gelu\"}");
    expect_load(dir, PE_ERR_INVALID, "layer_norm_eps", "1e-52");
    put_config("{\"vocab_size\": 135, \"hidden_size\": ");
    expect_load(dir, PE_ERR_PARSE, "config.json", NULL);
    copy_fixture("config.json", NULL);
    expect_load(dir, PE_OK, NULL, NULL);
}

/* Issue 7: a vocabulary with more tokens than the embedding has rows is
 * refused when the model is loaded (before, encode stopped a whole run at
 * the first such token, and model info said nothing). */
static void test_vocab_larger_than_model(void)
{
    put_model(good, good_len);
    copy_fixture("config.json", NULL);
    char src[512], dst[256];
    size_t n;
    snprintf(src, sizeof src, "%s/encoder/tiny-f32/vocab.txt", PE_FIXTURES);
    snprintf(dst, sizeof dst, "%s/vocab.txt", dir);
    unsigned char *v = read_all(src, &n);
    PE_CHECK(v != NULL);
    if (!v) return;
    static const char extra[] = "zzextra1\nzzextra2\nzzextra3\n";
    unsigned char *big = malloc(n + sizeof extra);
    memcpy(big, v, n);
    memcpy(big + n, extra, sizeof extra - 1);
    write_file(dst, big, n + sizeof extra - 1);
    expect_load(dir, PE_ERR_SHAPE, "the vocabulary has 138 tokens", "vocab_size is 135");
    write_file(dst, v, n);
    expect_load(dir, PE_OK, NULL, NULL);
    free(big);
    free(v);
}

static void test_pem_bad(void)
{
    char pem[256], bad[256];
    snprintf(pem, sizeof pem, "%s/m.pem", tmp);
    snprintf(bad, sizeof bad, "%s/bad.pem", tmp);
    pe_error err;
    pe_error_clear(&err);
    char src[512];
    snprintf(src, sizeof src, "%s/encoder/tiny-f32", PE_FIXTURES);
    PE_CHECK_EQ_INT(pe_encoder_convert_hf(src, pem, NULL, &err), PE_OK);
    /* converting a folder without a vocabulary is refused */
    char vocab[256];
    snprintf(vocab, sizeof vocab, "%s/vocab.txt", dir);
    unlink(vocab);
    PE_CHECK_EQ_INT(pe_encoder_convert_hf(dir, bad, NULL, &err), PE_ERR_INVALID);
    PE_CHECK(strstr(err.msg, "vocab.txt") != NULL);
    PE_CHECK(access(bad, F_OK) != 0);
    size_t n;
    unsigned char *b = read_all(pem, &n);
    if (!b) return;
    unsigned char *c = malloc(n);
    expect_load(pem, PE_OK, NULL, NULL);

    memcpy(c, b, n);
    c[0] = 'X';
    write_file(bad, c, n);
    expect_load(bad, PE_ERR_CORRUPT, "bad magic", NULL);
    memcpy(c, b, n);
    c[8] = 2;
    write_file(bad, c, n);
    expect_load(bad, PE_ERR_UNSUPPORTED, "version 2", NULL);
    write_file(bad, b, n - 64);
    expect_load(bad, PE_ERR_CORRUPT, "outside the data", NULL);
    write_file(bad, b, 20);
    expect_load(bad, PE_ERR_CORRUPT, "truncated", NULL);
    memcpy(c, b, n);
    c[32] = 'x';
    write_file(bad, c, n);
    expect_load(bad, PE_ERR_PARSE, "header JSON", NULL);
    memcpy(c, b, n);
    c[16 + 5] = 0x7f; /* header length far beyond the file */
    write_file(bad, c, n);
    expect_load(bad, PE_ERR_LIMIT, "header length", NULL);
    memcpy(c, b, n);
    c[24] = 1; /* data offset not aligned */
    write_file(bad, c, n);
    expect_load(bad, PE_ERR_CORRUPT, "data offset", NULL);
    /* a tensor renamed in the header: missing */
    memcpy(c, b, n);
    char *hit = memmem(c, n, "\"layer.1.ln2.b\"", 15);
    PE_CHECK(hit != NULL);
    if (hit) {
        hit[7] = '7';
        write_file(bad, c, n);
        expect_load(bad, PE_ERR_INVALID, "missing tensor layer.1.ln2.b", NULL);
    }
    /* a tensor moved onto the bytes of the first one */
    memcpy(c, b, n);
    hit = memmem(c, n, "\"layer.1.ln2.b\"", 15);
    char *off = hit ? strstr(hit, "\"offset\":") : NULL;
    PE_CHECK(off != NULL);
    if (off) {
        off += 9;
        *off++ = '0';
        while (*off >= '0' && *off <= '9') *off++ = ' ';
        write_file(bad, c, n);
        expect_load(bad, PE_ERR_CORRUPT, "layer.1.ln2.b", "share bytes");
    }
    /* a plain text file is not a model */
    write_file(bad, "hello world, not a model at all\n", 32);
    expect_load(bad, PE_ERR_CORRUPT, "bad magic", NULL);
    unlink(bad);
    unlink(pem);
    free(b);
    free(c);
}

/* The converter keeps head tensors of any float shape (3 dims, an empty
 * dimension) and checks the label maps it is given. */
static void test_convert_heads_labels(void)
{
    char pem[256];
    snprintf(pem, sizeof pem, "%s/heads.pem", tmp);
    copy_fixture("config.json", NULL);
    copy_fixture("vocab.txt", NULL);
    put_edited(edit_heads);
    pe_error err;
    pe_error_clear(&err);
    pe_encoder_convert_options co = pe_encoder_convert_options_default();
    co.labels_json = "{\"ner\": [\"O\", 5]}";
    PE_CHECK_EQ_INT(pe_encoder_convert_hf(dir, pem, &co, &err), PE_ERR_PARSE);
    PE_CHECK_MSG(strstr(err.msg, "labels.ner[1]") != NULL, "%s", err.msg);
    co.labels_json = "{\"relation\": \"P31\"}";
    PE_CHECK_EQ_INT(pe_encoder_convert_hf(dir, pem, &co, &err), PE_ERR_PARSE);
    PE_CHECK_MSG(strstr(err.msg, "labels.relation") != NULL, "%s", err.msg);
    PE_CHECK(access(pem, F_OK) != 0);
    co.labels_json = "{\"ner\": [\"O\", \"B-PER\"]}";
    PE_CHECK_MSG(pe_encoder_convert_hf(dir, pem, &co, &err) == PE_OK, "%s", err.msg);
    pe_encoder *st = NULL, *pm = NULL;
    pe_encoder_options o = pe_encoder_options_default();
    o.backend = PE_ENCODER_CPU;
    o.threads = 1;
    PE_CHECK_MSG(pe_encoder_load(dir, &o, &st, &err) == PE_OK, "%s", err.msg);
    PE_CHECK_MSG(pe_encoder_load(pem, &o, &pm, &err) == PE_OK, "%s", err.msg);
    if (st && pm) {
        pe_encoder_tensor_view a, b;
        PE_CHECK_EQ_INT(pe_encoder_tensor(st, "head.w3", &a), PE_OK);
        PE_CHECK_EQ_INT(pe_encoder_tensor(pm, "head.w3", &b), PE_OK);
        PE_CHECK_EQ_INT(b.ndim, 3);
        PE_CHECK(b.shape[0] == 2 && b.shape[1] == 2 && b.shape[2] == 2 && b.numel == 8);
        PE_CHECK(a.numel == 8 && b.numel == 8 && memcmp(a.data, b.data, 8 * sizeof(float)) == 0);
        PE_CHECK_EQ_INT(pe_encoder_tensor(pm, "head.empty", &b), PE_OK);
        PE_CHECK(b.ndim == 2 && b.shape[0] == 4 && b.shape[1] == 0 && b.numel == 0);
        const char *const *labels;
        int n;
        PE_CHECK_EQ_INT(pe_encoder_labels(pm, "ner", &labels, &n), PE_OK);
        PE_CHECK(n == 2 && strcmp(labels[1], "B-PER") == 0);
    }
    pe_encoder_free(st);
    pe_encoder_free(pm);
    /* a .pem that names one tensor twice */
    size_t n;
    unsigned char *b = read_all(pem, &n);
    char *hit = b ? memmem(b, n, "\"layer.1.ln2.b\"", 15) : NULL;
    PE_CHECK(hit != NULL);
    if (hit) {
        hit[13] = 'g'; /* layer.1.ln2.g twice */
        write_file(pem, b, n);
        expect_load(pem, PE_ERR_CORRUPT, "layer.1.ln2.g", "appears twice");
    }
    free(b);
    unlink(pem);
    /* a head named like a .pem encoder tensor: refused, not written twice
     * (fuzz_model_files: the .pem made did not load); kept out, it converts */
    put_edited(edit_pem_name);
    co = pe_encoder_convert_options_default();
    PE_CHECK_EQ_INT(pe_encoder_convert_hf(dir, pem, &co, &err), PE_ERR_INVALID);
    PE_CHECK_MSG(strstr(err.msg, "tensor named layer.0.ln1.g") != NULL, "%s", err.msg);
    PE_CHECK(access(pem, F_OK) != 0);
    co.keep_extra = 0;
    PE_CHECK_MSG(pe_encoder_convert_hf(dir, pem, &co, &err) == PE_OK, "%s", err.msg);
    expect_load(pem, PE_OK, NULL, NULL);
    unlink(pem);
    put_model(good, good_len);
}

/* xorshift64*: deterministic mutations */
static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 0x2545f4914f6cdd1dull;
}

/* Loads path; any outcome but a crash, a leak or a silent failure is fine. */
static void load_any(const char *path, int *ok, int *failed)
{
    pe_encoder *enc = NULL;
    pe_error err;
    pe_error_clear(&err);
    pe_encoder_options o = pe_encoder_options_default();
    o.backend = PE_ENCODER_CPU;
    o.threads = 1;
    pe_status st = pe_encoder_load(path, &o, &enc, &err);
    if (st == PE_OK) {
        (*ok)++;
        int32_t ids[3] = {2, 5, 3};
        int len = 3;
        float h[3 * 32];
        PE_CHECK(pe_encoder_forward(enc, ids, NULL, &len, 1, -1, h) >= PE_OK);
        pe_encoder_free(enc);
    } else {
        (*failed)++;
        PE_CHECK(enc == NULL && st >= PE_ERR_FIRST);
        PE_CHECK_MSG(err.msg[0] != '\0', "status %s without a message", pe_status_str(st));
    }
}

/* Random byte changes in the headers (where the sizes and offsets are) and
 * random truncations of both formats, seeded: no crash, no leak, a message
 * for every failure. */
static void test_mutations(void)
{
    char pem[256], p[256], src[512];
    snprintf(pem, sizeof pem, "%s/mut.pem", tmp);
    snprintf(src, sizeof src, "%s/encoder/tiny-f32", PE_FIXTURES);
    pe_error err;
    if (pe_encoder_convert_hf(src, pem, NULL, &err) != PE_OK) return;
    size_t pem_len;
    unsigned char *pem_good = read_all(pem, &pem_len);
    copy_fixture("config.json", NULL);
    copy_fixture("vocab.txt", NULL);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    unsigned char *buf = malloc(good_len > pem_len ? good_len : pem_len);
    int ok = 0, failed = 0;
    for (int it = 0; it < 600 && pem_good && buf; it++) {
        int is_pem = it & 1;
        const unsigned char *g = is_pem ? pem_good : good;
        size_t n = is_pem ? pem_len : good_len;
        memcpy(buf, g, n);
        /* header region: the first 8 (+32) bytes and the JSON after them */
        size_t hdr = is_pem ? 32 + (size_t)g[16] + ((size_t)g[17] << 8) + ((size_t)g[18] << 16)
                            : 8 + (size_t)g[0] + ((size_t)g[1] << 8) + ((size_t)g[2] << 16);
        if (rnd() % 4 == 0) {
            n = (size_t)(rnd() % n);
        } else {
            int k = 1 + (int)(rnd() % 4);
            for (int j = 0; j < k; j++) {
                size_t at = (size_t)(rnd() % hdr);
                buf[at] = rnd() % 2 ? (unsigned char)rnd() : (unsigned char)"0123456789[]{},:\"-eE."[rnd() % 17];
            }
        }
        write_file(is_pem ? pem : p, buf, n);
        load_any(is_pem ? pem : dir, &ok, &failed);
    }
    fprintf(stderr, "  600 mutated files: %d loaded, %d refused with a message\n", ok, failed);
    PE_CHECK(failed > 100);
    free(buf);
    free(pem_good);
    unlink(pem);
    unlink(p);
}

int main(void)
{
    char p[512];
    snprintf(p, sizeof p, "%s/encoder/tiny-f32/model.safetensors", PE_FIXTURES);
    good = read_all(p, &good_len);
    if (!good) {
        fprintf(stderr, "cannot read %s\n", p);
        return 1;
    }
    if (!pe_test_tmpdir(tmp, sizeof tmp, "pe_test_encoder_files")) return 1;
    snprintf(dir, sizeof dir, "%s/hf", tmp);
    mkdir(dir, 0700);
    PE_RUN(test_safetensors_bad);
    PE_RUN(test_config_bad);
    PE_RUN(test_vocab_larger_than_model);
    PE_RUN(test_pem_bad);
    PE_RUN(test_convert_heads_labels);
    PE_RUN(test_mutations);
    pe_test_rm_rf(tmp);
    free(good);
    PE_TEST_EXIT();
}
