/* test_encoder_cli.c - `persona encode`, `persona model convert|info`: the
 * JSON they print, the numbers against the PyTorch reference, exit codes. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pe_test.h"

static char tmp[64], cmd[4096];
static const char *persona = PE_BINARY_DIR "/cli/persona";
static const char *model = PE_FIXTURES "/encoder/tiny-f32";

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) n = 0;
    fclose(f);
    if (b) b[n] = '\0';
    return b;
}

/* Runs `persona ARGS < input > out.txt 2> err.txt`; returns the exit code. */
static int run(const char *args, const char *input)
{
    char in[128];
    snprintf(in, sizeof in, "%s/in.txt", tmp);
    FILE *f = fopen(in, "wb");
    if (f) {
        fputs(input ? input : "", f);
        fclose(f);
    }
    snprintf(cmd, sizeof cmd, "%s %s < %s > %s/out.txt 2> %s/err.txt", persona, args, in, tmp, tmp);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *out_text(void)
{
    char p[128];
    snprintf(p, sizeof p, "%s/out.txt", tmp);
    return read_all(p);
}

static void test_encode(void)
{
    char *exp_text = read_all(PE_FIXTURES "/encoder/expected.json");
    cJSON *exp = exp_text ? cJSON_Parse(exp_text) : NULL;
    free(exp_text);
    PE_CHECK(exp != NULL);
    if (!exp) return;
    char args[1024];
    snprintf(args, sizeof args, "encode --model %s --pool mean --batch 2 --threads 1", model);
    PE_CHECK_EQ_INT(run(args, "I live in Paris.\nbad \xff line\nwe play guitar\n"), 4);
    char *out = out_text(), *save = NULL;
    int lines = 0;
    const cJSON *mean = cJSON_GetObjectItem(cJSON_GetObjectItem(exp, "f32"), "mean");
    for (char *l = out ? strtok_r(out, "\n", &save) : NULL; l; l = strtok_r(NULL, "\n", &save), lines++) {
        cJSON *o = cJSON_Parse(l);
        PE_CHECK_MSG(o != NULL, "not JSON: %.80s", l);
        if (!o) continue;
        PE_CHECK_EQ_INT(cJSON_GetObjectItem(o, "line")->valueint, lines + 1);
        if (lines == 1) {
            PE_CHECK(cJSON_IsString(cJSON_GetObjectItem(o, "error")));
        } else {
            /* texts 0 and 2 are fixture sequences 4 and 6 */
            int seq = lines == 0 ? 4 : 6;
            const cJSON *emb = cJSON_GetObjectItem(o, "embedding");
            PE_CHECK_EQ_INT(cJSON_GetArraySize(emb), 32);
            double m = 0;
            for (int j = 0; j < 32; j++) {
                double d = fabs(cJSON_GetArrayItem(emb, j)->valuedouble - cJSON_GetArrayItem(mean, seq * 32 + j)->valuedouble);
                if (d > m) m = d;
            }
            PE_CHECK_MSG(m <= 1e-4, "line %d: max diff %g", lines + 1, m);
        }
        cJSON_Delete(o);
    }
    PE_CHECK_EQ_INT(lines, 3);
    free(out);

    snprintf(args, sizeof args, "encode --model %s --layer 1", model);
    PE_CHECK_EQ_INT(run(args, "I live in Paris.\n"), 0);
    out = out_text();
    cJSON *o = out ? cJSON_Parse(out) : NULL;
    const cJSON *toks = cJSON_GetObjectItem(o, "tokens");
    PE_CHECK_EQ_INT(cJSON_GetArraySize(toks), 7);
    const cJSON *paris = cJSON_GetArrayItem(toks, 4);
    if (paris) {
        PE_CHECK_EQ_STR(cJSON_GetObjectItem(paris, "token")->valuestring, "paris");
        PE_CHECK_EQ_INT(cJSON_GetObjectItem(paris, "start")->valueint, 10);
        PE_CHECK_EQ_INT(cJSON_GetObjectItem(paris, "end")->valueint, 15);
        PE_CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(paris, "embedding")), 32);
    }
    cJSON_Delete(o);
    free(out);
    cJSON_Delete(exp);

    PE_CHECK_EQ_INT(run("encode", ""), 2);
    PE_CHECK_EQ_INT(run("encode --model /nonexistent/model", ""), 5);
    snprintf(args, sizeof args, "encode --model %s --pool median", model);
    PE_CHECK_EQ_INT(run(args, ""), 2);
    PE_CHECK_EQ_INT(run("encode --help", ""), 0);

    /* backend and precision: tf32 runs f32 on the CPU (same numbers) */
    snprintf(args, sizeof args, "encode --model %s --pool mean --backend cpu --precision tf32", model);
    PE_CHECK_EQ_INT(run(args, "I live in Paris.\n"), 0);
    out = out_text();
    o = out ? cJSON_Parse(out) : NULL;
    const cJSON *emb = cJSON_GetObjectItem(o, "embedding");
    PE_CHECK_EQ_INT(cJSON_GetArraySize(emb), 32);
    cJSON_Delete(o);
    free(out);
    snprintf(args, sizeof args, "encode --model %s --precision fp64", model);
    PE_CHECK_EQ_INT(run(args, ""), 2);
    snprintf(args, sizeof args, "encode --model %s --backend tpu", model);
    PE_CHECK_EQ_INT(run(args, ""), 2);
#ifndef PE_HAVE_CUDA
    /* persona is built like this test: without CUDA, asking for it says so */
    snprintf(args, sizeof args, "encode --model %s --backend cuda", model);
    PE_CHECK_EQ_INT(run(args, "hello\n"), 1);
    char p[128];
    snprintf(p, sizeof p, "%s/err.txt", tmp);
    char *e = read_all(p);
    PE_CHECK_MSG(e && strstr(e, "built without CUDA") != NULL, "stderr: %s", e ? e : "(none)");
    free(e);
#endif
}

static void test_model(void)
{
    char args[1024], pem[128];
    snprintf(pem, sizeof pem, "%s/m.pem", tmp);
    snprintf(args, sizeof args, "model convert %s %s --f16 --model-id tiny --model-version 3", model, pem);
    PE_CHECK_EQ_INT(run(args, NULL), 0);
    snprintf(args, sizeof args, "model info %s --verify", pem);
    PE_CHECK_EQ_INT(run(args, NULL), 0);
    char *out = out_text();
    cJSON *o = out ? cJSON_Parse(out) : NULL;
    PE_CHECK(o != NULL);
    if (o) {
        PE_CHECK_EQ_STR(cJSON_GetObjectItem(o, "format")->valuestring, "pem");
        PE_CHECK_EQ_STR(cJSON_GetObjectItem(o, "dtype")->valuestring, "f16");
        const cJSON *meta = cJSON_GetObjectItem(o, "metadata");
        PE_CHECK_EQ_STR(cJSON_GetObjectItem(meta, "model_id")->valuestring, "tiny");
        PE_CHECK_EQ_STR(cJSON_GetObjectItem(meta, "model_version")->valuestring, "3");
        PE_CHECK(cJSON_IsTrue(cJSON_GetObjectItem(meta, "verified")));
        const cJSON *cfg = cJSON_GetObjectItem(o, "config");
        PE_CHECK_EQ_INT(cJSON_GetObjectItem(cfg, "num_hidden_layers")->valueint, 2);
        PE_CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "tensors"), "list")), 32);
    }
    cJSON_Delete(o);
    free(out);
    PE_CHECK_EQ_INT(run("model info /nonexistent/model", NULL), 5);
    PE_CHECK_EQ_INT(run("model info", NULL), 2);
    snprintf(args, sizeof args, "model info %s/in.txt", tmp); /* not a model */
    PE_CHECK_EQ_INT(run(args, "hello\n"), 1);
    PE_CHECK_EQ_INT(run("model convert /nonexistent/dir out.pem", NULL), 5);
    PE_CHECK_EQ_INT(run("model convert only-one-arg", NULL), 2);
    unlink(pem);
}

int main(void)
{
    if (access(persona, X_OK) != 0) {
        fprintf(stderr, "%s not built: skipped\n", persona);
        return PE_SKIP_CODE;
    }
    if (!pe_test_tmpdir(tmp, sizeof tmp, "pe_test_encoder_cli")) return 1;
    PE_RUN(test_encode);
    PE_RUN(test_model);
    pe_test_rm_rf(tmp);
    PE_TEST_EXIT();
}
