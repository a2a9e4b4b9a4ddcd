/* encoder_bench.c - throughput of the full encoder forward (pe_encoder_forward):
 * tokens/s, sentences/s and achieved GFLOP/s at batch x sequence length
 * shapes, with random weights.
 *
 *   pe_bench_encoder [--model DIR] [--config base|small] [--shapes 1x32,8x128]
 *                    [--threads N] [--backend cpu|cuda|auto] [--min-time S]
 *                    [--json FILE] [--cpu-time]
 *
 * --model DIR loads DIR (config.json + model.safetensors, e.g. written by
 * scripts/encoder_peers.py gen, so that PyTorch and ONNX Runtime run the
 * same weights); when DIR holds check_ids.bin / check_hidden.bin (the
 * PyTorch output for 2 x 16 tokens) the maximum difference is printed.
 * Without --model a random model of --config (default base: BERT-base,
 * 110M parameters; small: 4 layers, hidden 256, 4 heads) is written to a
 * temporary folder and removed at the end.
 *
 * GFLOP/s counts the matrix products only: per token and layer
 * 2 (4 C^2 + 2 C I) for the projections plus 4 n C for attention over a
 * sequence of n tokens (the same count is used for the peers).
 * --cpu-time times by process CPU time (diagnosis with --threads 1 on a
 * loaded machine; with more threads it counts every thread's time).
 * Exit codes: 0 ok, 1 failure, 2 usage. Not a test. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kernels.h"
#include "linear.h"
#include "pe_encoder.h"
#include "pe_train.h"

static clockid_t bench_clock = CLOCK_MONOTONIC;
static double now(void)
{
    struct timespec t;
    clock_gettime(bench_clock, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd32(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 32);
}

typedef struct cfg { int V, C, L, H, I, P, Y; } cfg;
static const cfg CFG_BASE = {30522, 768, 12, 12, 3072, 512, 2};
static const cfg CFG_SMALL = {30522, 256, 4, 4, 1024, 512, 2};

/* Writes dir/config.json and dir/model.safetensors (HF BertModel names,
 * F32, no pooler): a model of c initialised as Hugging Face does, weights
 * ~ N(0, 0.02), LayerNorm 1 and 0 (pe_train_new_random + pe_train_save). */
static int write_random_model(const char *dir, const cfg *c)
{
    const pe_encoder_config ec = {.vocab_size = c->V, .hidden = c->C, .layers = c->L, .heads = c->H,
                                  .intermediate = c->I, .max_position = c->P, .type_vocab = c->Y,
                                  .layer_norm_eps = 1e-12f};
    pe_train *tr = NULL;
    pe_error err;
    pe_error_clear(&err);
    pe_status st = pe_train_new_random(&ec, rng, &tr, &err);
    if (st == PE_OK) st = pe_train_save(tr, dir, NULL, &err);
    pe_train_free(tr);
    if (st != PE_OK) fprintf(stderr, "random model: %s\n", err.msg);
    return st == PE_OK ? 0 : -1;
}

static void rm_model_dir(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    unlink(path);
    rmdir(dir);
}

static double flops_per_batch(const pe_encoder_config *c, int batch, int seq)
{
    double C = c->hidden, I = c->intermediate;
    double per_tok_layer = 2.0 * (4.0 * C * C + 2.0 * C * I) + 4.0 * seq * C;
    return per_tok_layer * c->layers * (double)batch * seq;
}

static void *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *p = sz > 0 ? malloc((size_t)sz) : NULL;
    if (p && fread(p, 1, (size_t)sz, f) != (size_t)sz) {
        free(p);
        p = NULL;
    }
    fclose(f);
    *n = p ? (size_t)sz : 0;
    return p;
}

static void usage(FILE *o, const char *argv0)
{
    fprintf(o,
            "usage: %s [--model DIR] [--config base|small] [--shapes 1x32,8x128,...] [--threads N]\n"
            "          [--backend cpu|cuda|auto] [--precision fp32|tf32|bf16] [--min-time S]\n"
            "          [--json FILE] [--cpu-time]\n"
            "Throughput of the encoder forward with random weights (see the file's header).\n",
            argv0);
}

int main(int argc, char **argv)
{
    const char *model = NULL, *shapes = "1x32,1x128,8x32,8x128,32x32,32x128", *json = NULL;
    const cfg *rc = &CFG_BASE;
    const char *cfg_name = "base";
    int threads = 2;
    double min_time = 1.0;
    pe_encoder_options o = pe_encoder_options_default();
    o.backend = PE_ENCODER_CPU;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout, argv[0]);
            return 0;
        } else if (!strcmp(a, "--model") && v) model = v, i++;
        else if (!strcmp(a, "--config") && v) {
            if (!strcmp(v, "base")) rc = &CFG_BASE;
            else if (!strcmp(v, "small")) rc = &CFG_SMALL;
            else { usage(stderr, argv[0]); return 2; }
            cfg_name = v, i++;
        } else if (!strcmp(a, "--precision") && v) {
            if (!strcmp(v, "fp32")) o.precision = PE_PRECISION_FP32;
            else if (!strcmp(v, "tf32")) o.precision = PE_PRECISION_TF32;
            else if (!strcmp(v, "bf16")) o.precision = PE_PRECISION_BF16;
            else { usage(stderr, argv[0]); return 2; }
            i++;
        } else if (!strcmp(a, "--shapes") && v) shapes = v, i++;
        else if (!strcmp(a, "--threads") && v) threads = atoi(v), i++;
        else if (!strcmp(a, "--min-time") && v) min_time = atof(v), i++;
        else if (!strcmp(a, "--json") && v) json = v, i++;
        else if (!strcmp(a, "--cpu-time")) bench_clock = CLOCK_PROCESS_CPUTIME_ID;
        else if (!strcmp(a, "--backend") && v) {
            if (!strcmp(v, "cpu")) o.backend = PE_ENCODER_CPU;
            else if (!strcmp(v, "cuda")) o.backend = PE_ENCODER_CUDA;
            else if (!strcmp(v, "auto")) o.backend = PE_ENCODER_AUTO;
            else { usage(stderr, argv[0]); return 2; }
            i++;
        } else {
            usage(stderr, argv[0]);
            return 2;
        }
    }
    if (threads < 1) threads = 1;
    o.threads = threads;
    for (const char *q = shapes; *q;) { /* validate --shapes before any work */
        int B = 0, T = 0, used = 0;
        if (sscanf(q, "%dx%d%n", &B, &T, &used) != 2 || B < 1 || T < 1 || (q[used] != ',' && q[used] != 0)) {
            fprintf(stderr, "pe_bench_encoder: bad shape in --shapes (want BxT,BxT,...): %s\n", q);
            return 2;
        }
        q += used + (q[used] == ',');
    }

    char tmpdir[] = "/tmp/pe-bench-encoder-XXXXXX";
    int own_dir = 0;
    if (!model) {
        if (!mkdtemp(tmpdir)) {
            fprintf(stderr, "pe_bench_encoder: mkdtemp: %s\n", strerror(errno));
            return 1;
        }
        fprintf(stderr, "writing a random %s model to %s ...\n", cfg_name, tmpdir);
        if (write_random_model(tmpdir, rc) != 0) {
            fprintf(stderr, "pe_bench_encoder: cannot write the random model in %s\n", tmpdir);
            rm_model_dir(tmpdir);
            return 1;
        }
        model = tmpdir;
        own_dir = 1;
    }
    pe_encoder *enc = NULL;
    pe_error err;
    pe_error_clear(&err);
    pe_status st = pe_encoder_load(model, &o, &enc, &err);
    if (own_dir) rm_model_dir(tmpdir); /* the weights are in memory now */
    if (st != PE_OK) {
        fprintf(stderr, "pe_bench_encoder: %s: %s\n", pe_status_str(st), err.msg);
        return 1;
    }
    enc_kernels_set_threads(threads);
    pe_encoder_info info;
    pe_encoder_get_info(enc, &info);
    const pe_encoder_config *c = &info.config;
    const int C = c->hidden;
    const int bf16 = strcmp(info.precision, "bf16") == 0;
    printf("# encoder: %s (%d layers, hidden %d, %d heads, %zu params), backend %s, kernels %s%s, %d threads\n",
           own_dir ? cfg_name : model, c->layers, C, c->heads, info.n_params, info.backend, enc_linear_backend_name(),
           bf16 ? " (bf16 weights: --precision bf16)" : "", threads);

    /* spot check against the PyTorch output on the same weights */
    char p1[4096], p2[4096];
    snprintf(p1, sizeof p1, "%s/check_ids.bin", model);
    snprintf(p2, sizeof p2, "%s/check_hidden.bin", model);
    size_t n1 = 0, n2 = 0;
    int32_t *cids = own_dir ? NULL : read_file(p1, &n1);
    float *chid = own_dir ? NULL : read_file(p2, &n2);
    double check = -1;
    if (cids && chid && n1 == 2 * 16 * 4 && n2 == (size_t)2 * 16 * C * 4) {
        int lens[2] = {16, 16};
        float *h = malloc(sizeof(float) * 32 * C);
        if (h && pe_encoder_forward(enc, cids, NULL, lens, 2, -1, h) == PE_OK) {
            check = 0;
            for (int i = 0; i < 32 * C; i++) {
                double d = h[i] - chid[i];
                if (d < 0) d = -d;
                if (d > check) check = d;
            }
            printf("# check against PyTorch on the same weights (2 x 16 tokens): max |diff| = %.3g\n", check);
        }
        free(h);
    }
    free(cids);
    free(chid);

    FILE *jf = json ? fopen(json, "w") : NULL;
    if (json && !jf) fprintf(stderr, "pe_bench_encoder: cannot write %s\n", json);
    printf("%8s %6s %12s %12s %10s %10s\n", "batch", "seq", "tokens/s", "sentences/s", "ms/batch", "GFLOP/s");
    int rcode = 0;
    const char *s = shapes;
    while (*s) {
        int B = 0, T = 0, used = 0;
        if (sscanf(s, "%dx%d%n", &B, &T, &used) != 2 || B < 1 || T < 1) {
            fprintf(stderr, "pe_bench_encoder: bad shape in --shapes: %s\n", s);
            rcode = 2;
            break;
        }
        s += used;
        if (*s == ',') s++;
        size_t ntok = (size_t)B * T;
        int32_t *ids = malloc(ntok * sizeof *ids);
        int *lens = malloc((size_t)B * sizeof *lens);
        float *h = malloc(ntok * C * sizeof *h);
        if (!ids || !lens || !h) {
            fprintf(stderr, "pe_bench_encoder: out of memory at %dx%d\n", B, T);
            free(ids), free(lens), free(h);
            rcode = 1;
            break;
        }
        for (size_t i = 0; i < ntok; i++) ids[i] = (int32_t)(rnd32() % (uint32_t)c->vocab_size);
        for (int i = 0; i < B; i++) lens[i] = T;
        /* fastest single forward over >= 5 runs and min_time seconds: the
         * minimum filters out preemption on a shared machine (the peers'
         * drivers measure the same way) */
        double best = 1e30;
        st = pe_encoder_forward(enc, ids, NULL, lens, B, -1, h); /* warm-up: workspace, caches */
        double t_end = now() + min_time;
        for (int n = 0; st == PE_OK && (n < 5 || now() < t_end); n++) {
            double t0 = now();
            st = pe_encoder_forward(enc, ids, NULL, lens, B, -1, h);
            double el = now() - t0;
            if (el < best) best = el;
        }
        if (st != PE_OK) {
            fprintf(stderr, "pe_bench_encoder: forward %dx%d: %s: %s\n", B, T, pe_status_str(st),
                    pe_encoder_errmsg(enc));
            free(ids), free(lens), free(h);
            rcode = 1;
            break;
        }
        double gf = flops_per_batch(c, B, T) / best * 1e-9;
        printf("%8d %6d %12.0f %12.1f %10.2f %10.1f\n", B, T, ntok / best, B / best, best * 1e3, gf);
        fflush(stdout);
        if (jf)
            fprintf(jf,
                    "{\"peer\": \"ours\", \"backend\": \"%s\", \"kernels\": \"%s\", \"precision\": \"%s\", "
                    "\"threads\": %d, \"batch\": %d, \"seq\": %d, \"sec\": %.6g, \"check_max_abs_diff\": %.3g}\n",
                    info.backend, enc_linear_backend_name(), info.precision, threads, B, T, best, check);
        free(ids), free(lens), free(h);
    }
    if (jf) fclose(jf);
    pe_encoder_free(enc);
    return rcode;
}
