/* cmd_encode.c - `persona encode`: texts on stdin (one a line) through the
 * encoder, one JSON line per text on stdout. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "pe_encoder.h"

#define MAX_LINE (1 << 20)

static void usage(FILE *f)
{
    fprintf(f,
            "usage: persona encode --model PATH [options] < texts\n"
            "\n"
            "Encodes each line of stdin (UTF-8, one text a line) with a BERT-compatible\n"
            "model and prints one JSON line per input line, in order:\n"
            "  --pool none:  {\"line\": N, \"truncated\": B, \"tokens\": [{\"token\", \"id\",\n"
            "                 \"start\", \"end\" (byte offsets into the line), \"embedding\": [C floats]}]}\n"
            "  otherwise:    {\"line\": N, \"n_tokens\": K, \"truncated\": B, \"embedding\": [C floats]}\n"
            "  bad line:     {\"line\": N, \"error\": \"...\"} (and exit code 4)\n"
            "\n"
            "options:\n"
            "  --model PATH       Hugging Face folder, .safetensors (config.json beside) or .pem\n"
            "  --layer N          hidden states of layer N (0 = embeddings; default: last)\n"
            "  --pool P           none (default), mean, cls or pooler (BERT pooler, last layer)\n"
            "  --max-length N     tokens per text including [CLS]/[SEP] (default: the model's\n"
            "                     max positions); longer texts are truncated\n"
            "  --batch N          texts per forward pass (default 32)\n"
            "  --threads N        CPU threads (default: all cores)\n"
            "  --backend B        auto (default: CUDA when built with it and a GPU is usable,\n"
            "                     else CPU), cpu or cuda\n"
            "  --precision P      matrix products: fp32 (default), tf32 (CUDA tensor cores; the CPU\n"
            "                     runs fp32) or bf16 (CUDA, or a CPU with AVX-512 BF16, else fp32);\n"
            "                     on CUDA $PE_CUDA_PRECISION overrides it\n");
}

typedef struct entry {
    long line;
    char *text; /* NULL when err is set */
    size_t len;
    char err[160];
} entry;

/* A float rounded to 7 significant digits, so that cJSON prints it short. */
static cJSON *num(float v)
{
    char b[32];
    snprintf(b, sizeof b, "%.7g", (double)v);
    return cJSON_CreateNumber(strtod(b, NULL));
}

static cJSON *vec(const float *v, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++) cJSON_AddItemToArray(a, num(v[i]));
    return a;
}

static void emit(cJSON *o)
{
    char *s = o ? cJSON_PrintUnformatted(o) : NULL;
    if (s) {
        fputs(s, stdout);
        fputc('\n', stdout);
    }
    free(s);
    cJSON_Delete(o);
}

/* Encodes the batch and prints its lines in order. 0 ok, else exit code. */
static int flush(pe_encoder *enc, entry *b, int n, const pe_encoder_encode_options *eo, long *bad)
{
    const char **texts = malloc((size_t)n * sizeof *texts);
    size_t *lens = malloc((size_t)n * sizeof *lens);
    int k = 0;
    if (!texts || !lens) {
        free(texts);
        free(lens);
        return pe_cli_fail(PE_ERR_NOMEM, NULL);
    }
    for (int i = 0; i < n; i++)
        if (b[i].text) texts[k] = b[i].text, lens[k++] = b[i].len;
    pe_encoder_result *r = NULL;
    if (k > 0) {
        pe_status st = pe_encoder_encode_texts(enc, texts, lens, k, eo, &r);
        if (st >= PE_ERR_FIRST) {
            free(texts);
            free(lens);
            return pe_cli_fail(st, "%s", pe_encoder_errmsg(enc));
        }
    }
    const pe_tokenizer *tok = pe_encoder_tokenizer(enc);
    const int C = pe_encoder_hidden_size(enc);
    int j = 0;
    for (int i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "line", (double)b[i].line);
        if (!b[i].text) {
            cJSON_AddStringToObject(o, "error", b[i].err);
            pe_cli_error(PE_EXIT_PARTIAL, "line %ld: %s", b[i].line, b[i].err);
            (*bad)++;
            emit(o);
            continue;
        }
        const pe_encoding *e = r->encodings[j];
        cJSON_AddBoolToObject(o, "truncated", e->truncated);
        if (r->pooled) {
            cJSON_AddNumberToObject(o, "n_tokens", (double)e->len);
            cJSON_AddItemToObject(o, "embedding", vec(r->pooled + (size_t)j * C, C));
        } else {
            cJSON *toks = cJSON_AddArrayToObject(o, "tokens");
            for (size_t t = 0; toks && t < e->len; t++) {
                cJSON *x = cJSON_CreateObject();
                const char *s = pe_tokenizer_id_to_token(tok, e->ids[t]);
                cJSON_AddStringToObject(x, "token", s ? s : "");
                cJSON_AddNumberToObject(x, "id", e->ids[t]);
                cJSON_AddNumberToObject(x, "start", (double)e->offsets[t].start);
                cJSON_AddNumberToObject(x, "end", (double)e->offsets[t].end);
                cJSON_AddItemToObject(x, "embedding", vec(r->hidden_states + ((size_t)r->offsets[j] + t) * C, C));
                cJSON_AddItemToArray(toks, x);
            }
        }
        emit(o);
        j++;
    }
    pe_encoder_result_free(r);
    free(texts);
    free(lens);
    return 0;
}

int pe_cmd_encode(int argc, char **argv)
{
    const char *model = NULL;
    pe_encoder_encode_options eo = pe_encoder_encode_options_default();
    pe_encoder_options lo = pe_encoder_options_default();
    int batch = 32, pool = 0, backend = 0, precision = 0;
    const pe_cli_opt opts[] = {
        {"--model", PE_CLI_STRING, &model},
        {"--layer", PE_CLI_INT, &eo.layer, .min = -1, .max = 100000},
        {"--max-length", PE_CLI_INT, &eo.max_length, .min = 2, .max = 1 << 20},
        {"--batch", PE_CLI_INT, &batch, .min = 1, .max = 1 << 16},
        {"--threads", PE_CLI_INT, &lo.threads, .min = 1, .max = 1024},
        {"--pool", PE_CLI_CHOICE, &pool, .choices = "none|mean|cls|pooler"},
        {"--backend", PE_CLI_CHOICE, &backend, .choices = "auto|cpu|cuda"},
        {"--precision", PE_CLI_CHOICE, &precision, .choices = "fp32|tf32|bf16"},
        {0}};
    const pe_cli_spec spec = {"encode", usage, opts, 0, 0, "            (4: some lines were bad)\n"};
    int np, rc = pe_cli_parse(&spec, argc, argv, &np);
    if (rc != PE_CLI_RUN) return rc;
    const pe_encoder_pool pools[] = {PE_POOL_NONE, PE_POOL_MEAN, PE_POOL_CLS, PE_POOL_POOLER};
    const pe_encoder_backend backends[] = {PE_ENCODER_AUTO, PE_ENCODER_CPU, PE_ENCODER_CUDA};
    const pe_encoder_precision precisions[] = {PE_PRECISION_FP32, PE_PRECISION_TF32, PE_PRECISION_BF16};
    eo.pool = pools[pool];
    lo.backend = backends[backend];
    lo.precision = precisions[precision];
    if (!model) return pe_cli_error(PE_EXIT_USAGE, "--model PATH is required (see --help)");
    if ((rc = pe_cli_need_file("model", model)) != PE_EXIT_OK) return rc;
    pe_encoder *enc = NULL;
    pe_error err;
    pe_error_clear(&err);
    pe_status st = pe_encoder_load(model, &lo, &enc, &err);
    if (st >= PE_ERR_FIRST) return pe_cli_fail(st, "%s", err.msg);
    pe_encoder_info info;
    pe_encoder_get_info(enc, &info);
    if (!info.has_tokenizer) {
        pe_encoder_free(enc);
        return pe_cli_fail(PE_ERR_INVALID, "%s", "the model has no vocabulary (vocab.txt or tokenizer.json)");
    }
    if (eo.max_length > info.config.max_position) eo.max_length = info.config.max_position;
    if (eo.layer > info.config.layers) {
        pe_encoder_free(enc);
        return pe_cli_error(PE_EXIT_USAGE, "--layer %d: the model has %d layers", eo.layer, info.config.layers);
    }

    entry *b = calloc((size_t)batch, sizeof *b);
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    long lineno = 0, bad = 0;
    int n = 0;
    rc = 0;
    pe_cli_progress prog;
    pe_cli_progress_init(&prog);
    double t0 = pe_now();
    if (!b) rc = pe_cli_fail(PE_ERR_NOMEM, NULL);
    while (!rc && (got = getline(&line, &cap, stdin)) >= 0) {
        size_t len = (size_t)got;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) len--;
        entry *e = &b[n++];
        e->line = ++lineno;
        size_t at;
        if (len > MAX_LINE) snprintf(e->err, sizeof e->err, "line of %zu bytes exceeds the %d-byte limit", len, MAX_LINE);
        else if (!pe_utf8_valid(line, len, &at)) snprintf(e->err, sizeof e->err, "invalid UTF-8 at byte %zu", at);
        else if (!(e->text = malloc(len + 1))) rc = pe_cli_fail(PE_ERR_NOMEM, NULL);
        if (e->text) {
            memcpy(e->text, line, len);
            e->text[len] = '\0';
            e->len = len;
        }
        if (!rc && n == batch) {
            rc = flush(enc, b, n, &eo, &bad);
            for (int i = 0; i < n; i++) free(b[i].text);
            memset(b, 0, (size_t)n * sizeof *b);
            n = 0;
            double el = pe_now() - t0;
            pe_cli_progress_update(&prog, "encode", (uint64_t)lineno, 0, "texts", "texts/s",
                                   el > 0 ? lineno / el : 0);
        }
    }
    if (!rc && n > 0) rc = flush(enc, b, n, &eo, &bad);
    for (int i = 0; b && i < n; i++) free(b[i].text);
    if (lineno >= batch) pe_cli_progress_finish(&prog);
    free(b);
    free(line);
    pe_encoder_free(enc);
    if (fflush(stdout) != 0 && !rc) rc = pe_cli_fail(PE_ERR_IO, "%s", "cannot write to stdout");
    if (rc) return rc;
    return bad ? PE_EXIT_PARTIAL : PE_EXIT_OK;
}
