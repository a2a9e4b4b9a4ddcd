/* fuzz_model_files.c - libFuzzer target: arbitrary bytes as the encoder's
 * model files, through the public loaders (and the in-memory parsers that
 * they call, on a buffer of the exact size so that an over-read is caught).
 *
 * Input: byte 0 picks the case (byte 0 % 6) and a few options (higher
 * bits); the rest is one file, or several separated by FZ_SEP:
 *   0  a .pem file                     enc_pem_parse, pe_encoder_load
 *   1  a checkpoint folder: config.json FZ_SEP model.safetensors [FZ_SEP
 *      vocab.txt [FZ_SEP tokenizer.json [FZ_SEP tokenizer_config.json]]]
 *                                      enc_safetensors_parse, pe_encoder_load,
 *                                      pe_encoder_convert_hf (then the .pem loads
 *                                      and computes the same)
 *   2  config.json                     pe_encoder_config_read
 *   3  vocab.txt                       pe_tokenizer_new_from_vocab_text, _open_vocab
 *   4  tokenizer.json                  pe_tokenizer_new_from_json, _open_json
 *   5  a tokenizer folder: tokenizer.json FZ_SEP vocab.txt FZ_SEP
 *      tokenizer_config.json (empty parts: file absent)   pe_tokenizer_open_dir
 * The only acceptable outcomes are success, or an error status with a
 * message; a loaded model or tokenizer is then used (info, every tensor, a
 * short forward, an encoding), so that what the loader accepted is
 * checked too. Violations abort(). Files go to one mkdtemp folder per
 * process, removed at exit. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model_internal.h"
#include "pe_encoder.h"
#include "pe_tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_SEP "\n#PEFILE#\n"
#define FZ_MAX_PARTS 5

static const char *const fz_names[] = {"config.json", "model.safetensors", "vocab.txt", "tokenizer.json",
                                       "tokenizer_config.json", "model.pem"};
#define FZ_NFILES (sizeof fz_names / sizeof fz_names[0])

static char fz_dir[64];

static void fz_check(int ok)
{
    if (!ok) abort();
}

static void fz_path(char *buf, size_t cap, const char *name) { snprintf(buf, cap, "%s/%s", fz_dir, name); }

static void fz_clean(void)
{
    char p[128];
    for (size_t i = 0; i < FZ_NFILES; i++) {
        fz_path(p, sizeof p, fz_names[i]);
        unlink(p);
    }
}

static void fz_rmdir(void)
{
    fz_clean();
    rmdir(fz_dir);
}

static void fz_init(void)
{
    if (fz_dir[0]) return;
    snprintf(fz_dir, sizeof fz_dir, "/tmp/pe_fuzz_model.XXXXXX");
    fz_check(mkdtemp(fz_dir) != NULL);
    atexit(fz_rmdir);
}

static void fz_write(const char *name, const uint8_t *p, size_t n)
{
    char path[128];
    fz_path(path, sizeof path, name);
    FILE *f = fopen(path, "wb");
    fz_check(f != NULL);
    fz_check(fwrite(p, 1, n, f) == n);
    fz_check(fclose(f) == 0);
}

/* Splits [p, p+n) at FZ_SEP into at most max parts. */
static int fz_split(const uint8_t *p, size_t n, const uint8_t **part, size_t *len, int max)
{
    const size_t sl = strlen(FZ_SEP);
    int k = 0;
    while (k < max - 1) {
        const uint8_t *s = NULL;
        for (size_t i = 0; i + sl <= n; i++)
            if (memcmp(p + i, FZ_SEP, sl) == 0) {
                s = p + i;
                break;
            }
        if (!s) break;
        part[k] = p, len[k] = (size_t)(s - p), k++;
        n -= (size_t)(s - p) + sl;
        p = s + sl;
    }
    part[k] = p, len[k] = n, k++;
    return k;
}

/* A copy in a buffer of exactly n bytes (NULL for n == 0 is avoided). */
static unsigned char *fz_copy(const uint8_t *p, size_t n)
{
    unsigned char *b = malloc(n ? n : 1);
    fz_check(b != NULL);
    memcpy(b, p, n);
    return b;
}

/* $FZ_VERBOSE set: each loader's outcome on stderr (to see what seeds reach). */
static void fz_say(const char *what, pe_status st, const pe_error *err)
{
    static int verbose = -1;
    if (verbose < 0) verbose = getenv("FZ_VERBOSE") != NULL;
    if (verbose) fprintf(stderr, "  %s: %s%s%s\n", what, pe_status_str(st), st != PE_OK ? ": " : "", st != PE_OK ? err->msg : "");
}

static void fz_failed(pe_status st, const pe_error *err)
{
    fz_check(st >= PE_ERR_FIRST && err->msg[0] != '\0');
}

/* Uses a tokenizer that loaded: vocabulary lookups round-trip, the text
 * encodes (invalid UTF-8 is the only error possible here, with room for
 * the specials), and it rebuilds from its vocabulary and options. */
static void fz_use_tokenizer(const pe_tokenizer *tok, const char *text, size_t len)
{
    size_t V = pe_tokenizer_vocab_size(tok);
    fz_check(V > 0);
    for (size_t i = 0; i < V; i++) {
        const char *t = pe_tokenizer_id_to_token(tok, (int32_t)i);
        fz_check(t != NULL);
        int32_t id = pe_tokenizer_token_to_id(tok, t, strlen(t));
        fz_check(id == (int32_t)i || (t[0] == '\0' && id == -1));
    }
    fz_check(pe_tokenizer_id_to_token(tok, (int32_t)V) == NULL && pe_tokenizer_id_to_token(tok, -1) == NULL);
    pe_error err;
    pe_tokenizer_encode_options o = pe_tokenizer_encode_options_default();
    o.max_length = 64;
    pe_encoding *e = NULL;
    pe_status st = pe_tokenizer_encode(tok, text, len, "x y", 3, &o, &e, &err);
    if (st == PE_OK) {
        fz_check(e->len <= 64);
        for (size_t i = 0; i < e->len; i++) fz_check(e->ids[i] >= 0 && (size_t)e->ids[i] < V);
    } else {
        fz_failed(st, &err);
        fz_check(st == PE_ERR_UTF8);
    }
    pe_encoding_free(e);

    const pe_tokenizer_options *opt = pe_tokenizer_get_options(tok);
    const char **v = malloc(V * sizeof *v);
    fz_check(v != NULL);
    for (size_t i = 0; i < V; i++) v[i] = pe_tokenizer_id_to_token(tok, (int32_t)i);
    pe_tokenizer *t2 = NULL;
    st = pe_tokenizer_new_from_tokens(v, V, opt, &t2, &err);
    fz_check(st == PE_OK && pe_tokenizer_vocab_size(t2) == V);
    pe_tokenizer_free(t2);
    free(v);
}

/* Uses a model that loaded: what it reports, every tensor, a short forward
 * (which checks ids against the loaded shapes), an encoding. */
static void fz_use_model(pe_encoder *enc)
{
    pe_encoder_info info;
    pe_encoder_get_info(enc, &info);
    const pe_encoder_config *g = &info.config;
    fz_check(g->vocab_size > 0 && g->hidden > 0 && g->heads > 0 && g->hidden % g->heads == 0 && g->layers > 0);
    fz_check(info.n_extra >= 0 && info.n_extra <= info.n_tensors);
    for (int i = 0; i < info.n_tensors; i++) {
        pe_encoder_tensor_desc d;
        fz_check(pe_encoder_tensor_at(enc, i, &d) == PE_OK && d.name && d.ndim >= 0 && d.ndim <= 4);
        pe_encoder_tensor_view tv;
        pe_status st = pe_encoder_tensor(enc, d.name, &tv);
        fz_check(st == PE_OK || st == PE_ERR_UNSUPPORTED);
        if (st == PE_OK) {
            volatile float sink = 0;
            for (int64_t k = 0; k < tv.numel; k++) sink += tv.data[k];
            (void)sink;
        }
    }
    const char *const *labels;
    int n;
    if (pe_encoder_labels(enc, "ner", &labels, &n) == PE_OK)
        for (int i = 0; i < n; i++) fz_check(labels[i] != NULL);

    const int T = g->max_position < 3 ? g->max_position : 3;
    int32_t ids[3] = {0, g->vocab_size - 1, g->vocab_size / 2}, types[3] = {0, g->type_vocab - 1, 0};
    int len = T;
    float *h = malloc((size_t)T * (size_t)g->hidden * sizeof *h);
    fz_check(h != NULL);
    fz_check(pe_encoder_forward(enc, ids, types, &len, 1, -1, h) == PE_OK);
    free(h);
    if (pe_encoder_tokenizer(enc) && g->max_position >= 2) {
        const char *texts[1] = {"Hello [SEP] wörld!"};
        pe_encoder_encode_options eo = pe_encoder_encode_options_default();
        eo.pool = PE_POOL_MEAN;
        eo.max_length = g->max_position < 8 ? g->max_position : 8;
        pe_encoder_result *r = NULL;
        pe_status st = pe_encoder_encode_texts(enc, texts, NULL, 1, &eo, &r);
        /* a fuzzed vocabulary larger than the embedding matrix gives ids >= V */
        fz_check(st == PE_OK || st == PE_ERR_INVALID);
        pe_encoder_result_free(r);
    }
}

static pe_status fz_load(const char *name, int checksum)
{
    char path[128];
    if (name) fz_path(path, sizeof path, name);
    else snprintf(path, sizeof path, "%s", fz_dir);
    pe_encoder_options o = pe_encoder_options_default();
    o.backend = PE_ENCODER_CPU;
    o.threads = 1;
    o.verify_checksum = checksum;
    pe_encoder *enc = NULL;
    pe_error err;
    pe_error_clear(&err);
    pe_status st = pe_encoder_load(path, &o, &enc, &err);
    fz_say("pe_encoder_load", st, &err);
    if (st == PE_OK) {
        fz_check(enc != NULL);
        fz_use_model(enc);
        pe_encoder_free(enc);
    } else {
        fz_check(enc == NULL);
        fz_failed(st, &err);
    }
    return st;
}

/* Loads path for a forward on the CPU, one thread; NULL on failure. */
static pe_encoder *fz_open(const char *path, int checksum, pe_status *st, pe_error *err)
{
    pe_encoder_options o = pe_encoder_options_default();
    o.backend = PE_ENCODER_CPU;
    o.threads = 1;
    o.verify_checksum = checksum;
    pe_encoder *enc = NULL;
    *st = pe_encoder_load(path, &o, &enc, err);
    return enc;
}

/* Hidden states (T, C) of the ids 0, V-1, V/2 (T = min(3, P)), malloc'd. */
static float *fz_forward(pe_encoder *enc, int *T)
{
    pe_encoder_info info;
    pe_encoder_get_info(enc, &info);
    const pe_encoder_config *g = &info.config;
    *T = g->max_position < 3 ? g->max_position : 3;
    int32_t ids[3] = {0, g->vocab_size - 1, g->vocab_size / 2};
    float *h = malloc((size_t)*T * (size_t)g->hidden * sizeof *h);
    fz_check(h != NULL);
    fz_check(pe_encoder_forward(enc, ids, NULL, T, 1, -1, h) == PE_OK);
    return h;
}

static int fz_close(float a, float b)
{
    if (a != a || b != b) return a != a && b != b;
    if (a == b) return 1;
    float d = a > b ? a - b : b - a, m = a > 0 ? a : -a;
    return d <= 1e-3f * (1 + m);
}

/* A checkpoint that loaded converts to a .pem that loads (checksum
 * verified) with the same architecture and the same hidden states (f16
 * storage: within f16 rounding, not compared). */
static void fz_convert(int f16)
{
    char pem[128];
    fz_path(pem, sizeof pem, "model.pem");
    pe_status st;
    pe_error err;
    pe_encoder *a = fz_open(fz_dir, 0, &st, &err);
    fz_check(st == PE_OK);
    pe_encoder_convert_options co = pe_encoder_convert_options_default();
    co.f16 = f16;
    st = pe_encoder_convert_hf(fz_dir, pem, &co, &err);
    fz_say("pe_encoder_convert_hf", st, &err);
    if (st != PE_OK) {
        /* refused without a vocabulary, or for an extra tensor named as a
         * .pem encoder tensor; anything else the loader accepted converts */
        fz_check(st == PE_ERR_INVALID &&
                 (pe_encoder_tokenizer(a) == NULL || strstr(err.msg, "beside the encoder's own") != NULL));
        pe_encoder_free(a);
        return;
    }
    pe_encoder *b = fz_open(pem, 1, &st, &err);
    fz_say("load converted", st, &err);
    fz_check(st == PE_OK);
    pe_encoder_info ia, ib;
    pe_encoder_get_info(a, &ia);
    pe_encoder_get_info(b, &ib);
    fz_check(memcmp(&ia.config, &ib.config, sizeof ia.config) == 0 && ib.has_tokenizer);
    fz_check(pe_tokenizer_vocab_size(pe_encoder_tokenizer(a)) == pe_tokenizer_vocab_size(pe_encoder_tokenizer(b)));
    if (!f16) {
        int ta, tb;
        float *ha = fz_forward(a, &ta), *hb = fz_forward(b, &tb);
        for (size_t i = 0; i < (size_t)ta * (size_t)ia.config.hidden; i++) fz_check(fz_close(ha[i], hb[i]));
        free(ha);
        free(hb);
    }
    pe_encoder_free(a);
    pe_encoder_free(b);
}

static void fz_pem(const uint8_t *p, size_t n, unsigned flags)
{
    unsigned char *b = fz_copy(p, n);
    pe_pem_header h;
    pe_error err;
    pe_status st = enc_pem_parse("fuzz.pem", b, n, &h, &err);
    if (st == PE_OK) enc_pem_header_clear(&h);
    else fz_failed(st, &err);
    free(b);
    fz_write("model.pem", p, n);
    pe_status ls = fz_load("model.pem", flags & 1);
    if (st != PE_OK) fz_check(ls == st);
}

static void fz_checkpoint(const uint8_t *p, size_t n, unsigned flags)
{
    const uint8_t *part[FZ_MAX_PARTS];
    size_t len[FZ_MAX_PARTS];
    int k = fz_split(p, n, part, len, FZ_MAX_PARTS);
    fz_write("config.json", part[0], len[0]);
    fz_write("model.safetensors", k > 1 ? part[1] : p, k > 1 ? len[1] : 0);
    for (int i = 2; i < k; i++)
        if (len[i]) fz_write(fz_names[i], part[i], len[i]);
    pe_error err;
    pe_encoder_config cfg;
    char cp[128];
    fz_path(cp, sizeof cp, "config.json");
    pe_status cs = pe_encoder_config_read(cp, &cfg, &err);
    unsigned char *b = fz_copy(k > 1 ? part[1] : p, k > 1 ? len[1] : 0);
    pe_encoder_stored_tensor *t = NULL;
    int nt = 0;
    pe_status ss = enc_safetensors_parse("fuzz.safetensors", b, k > 1 ? len[1] : 0, &t, &nt, &err);
    if (ss == PE_OK) enc_stored_tensors_free(t, nt);
    else fz_failed(ss, &err), fz_check(t == NULL);
    free(b);
    pe_status ls = fz_load(flags & 1 ? "model.safetensors" : NULL, 0);
    if (cs != PE_OK) fz_check(ls == cs);
    else if (ss != PE_OK) fz_check(ls == ss);
    if (ls == PE_OK && (flags & 2)) fz_convert(flags & 4);
}

static void fz_config(const uint8_t *p, size_t n)
{
    fz_write("config.json", p, n);
    char path[128];
    fz_path(path, sizeof path, "config.json");
    pe_encoder_config c, c2;
    pe_error err;
    pe_status st = pe_encoder_config_read(path, &c, &err);
    fz_say("pe_encoder_config_read", st, &err);
    if (st != PE_OK) {
        fz_failed(st, &err);
        return;
    }
    fz_check(c.vocab_size > 0 && c.hidden > 0 && c.layers > 0 && c.heads > 0 && c.intermediate > 0 &&
             c.max_position > 0 && c.type_vocab > 0 && c.hidden % c.heads == 0);
    fz_check(c.layer_norm_eps > 0 && c.layer_norm_eps < 1);
    /* what the .pem writer stores reads back the same */
    cJSON *j = enc_config_to_json(&c);
    fz_check(j != NULL);
    fz_check(enc_config_from_json(j, "round trip", &c2, &err) == PE_OK);
    cJSON_Delete(j);
    fz_check(c2.vocab_size == c.vocab_size && c2.hidden == c.hidden && c2.layers == c.layers &&
             c2.heads == c.heads && c2.intermediate == c.intermediate && c2.max_position == c.max_position &&
             c2.type_vocab == c.type_vocab && c2.layer_norm_eps == c.layer_norm_eps);
}

static void fz_vocab(const uint8_t *p, size_t n, unsigned flags)
{
    pe_tokenizer_options o = pe_tokenizer_options_default();
    o.do_lower_case = flags & 1;
    o.strip_accents = (flags & 2) ? -1 : 1;
    o.clean_text = (flags >> 2) & 1;
    o.continuing_subword_prefix = (flags & 8) ? "##" : "";
    char *b = (char *)fz_copy(p, n);
    pe_tokenizer *tok = NULL;
    pe_error err;
    pe_status st = pe_tokenizer_new_from_vocab_text(b, n, "fuzz/vocab.txt", &o, &tok, &err);
    fz_say("pe_tokenizer_new_from_vocab_text", st, &err);
    if (st == PE_OK) fz_use_tokenizer(tok, b, n);
    else fz_check(tok == NULL), fz_failed(st, &err);
    pe_tokenizer_free(tok);
    free(b);
    fz_write("vocab.txt", p, n);
    char path[128];
    fz_path(path, sizeof path, "vocab.txt");
    tok = NULL;
    pe_status fs = pe_tokenizer_open_vocab(path, &o, &tok, &err);
    fz_check(fs == st);
    pe_tokenizer_free(tok);
}

static void fz_tokjson(const uint8_t *p, size_t n)
{
    char *b = (char *)fz_copy(p, n);
    pe_tokenizer *tok = NULL;
    pe_error err;
    pe_status st = pe_tokenizer_new_from_json(b, n, "fuzz/tokenizer.json", &tok, &err);
    fz_say("pe_tokenizer_new_from_json", st, &err);
    if (st == PE_OK) fz_use_tokenizer(tok, b, n);
    else fz_check(tok == NULL), fz_failed(st, &err);
    pe_tokenizer_free(tok);
    free(b);
    fz_write("tokenizer.json", p, n);
    char path[128];
    fz_path(path, sizeof path, "tokenizer.json");
    tok = NULL;
    fz_check(pe_tokenizer_open_json(path, &tok, &err) == st);
    pe_tokenizer_free(tok);
}

static void fz_tokdir(const uint8_t *p, size_t n)
{
    const uint8_t *part[3];
    size_t len[3];
    int k = fz_split(p, n, part, len, 3);
    static const char *const names[3] = {"tokenizer.json", "vocab.txt", "tokenizer_config.json"};
    for (int i = 0; i < k; i++)
        if (len[i]) fz_write(names[i], part[i], len[i]);
    pe_tokenizer *tok = NULL;
    pe_error err;
    pe_status st = pe_tokenizer_open_dir(fz_dir, &tok, &err);
    fz_say("pe_tokenizer_open_dir", st, &err);
    if (st == PE_OK) fz_use_tokenizer(tok, "Hello, [MASK] world!", 20);
    else fz_check(tok == NULL), fz_failed(st, &err);
    pe_tokenizer_free(tok);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    fz_init();
    fz_clean();
    const unsigned which = data[0] % 6, flags = data[0] / 6;
    data++, size--;
    switch (which) {
    case 0: fz_pem(data, size, flags); break;
    case 1: fz_checkpoint(data, size, flags); break;
    case 2: fz_config(data, size); break;
    case 3: fz_vocab(data, size, flags); break;
    case 4: fz_tokjson(data, size); break;
    default: fz_tokdir(data, size); break;
    }
    return 0;
}
