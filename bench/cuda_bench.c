/* pe_bench_cuda [FILE] - the CUDA backend's throughput on random BERT-base
 * and small models at batch 1, 8, 32, 128, 256 and lengths 32, 128 for each
 * precision: forward including host copies. Prints the figures and appends
 * them to FILE (scripts/gpu-check.sh runs it). Exits 77 without a usable
 * GPU. Built with -DPE_CUDA=ON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/cuda_backend.h"
#include "encoder_random_model.h"
#include "model_internal.h"

/* Forward FLOPs of a batch of n sequences of len tokens (multiply-adds x 2). */
static double forward_flops(const pe_encoder_config *c, int n, int len)
{
    const double T = (double)n * len, C = c->hidden, I = c->intermediate;
    const double proj = 2.0 * T * (3 * C * C + C * C + 2 * C * I);
    const double attn = 2.0 * 2.0 * n * (double)len * len * C;
    return c->layers * (proj + attn);
}

static int bench(const char *path)
{
    FILE *f = path ? fopen(path, "a") : NULL;
    if (path && !f) {
        fprintf(stderr, "cannot open %s\n", path);
        return 1;
    }
    static const struct { const char *name; int V, C, L, H, I, P; } cfgs[] = {
        {"bert-base", 30522, 768, 12, 12, 3072, 512}, {"small", 30522, 256, 4, 4, 1024, 512}};
    static const int batches[] = {1, 8, 32, 128, 256}, lengths[] = {32, 128};
    int bad = 0;
    char desc[256] = "";
    pe_error err;
    pe_error_clear(&err);
    enc_cuda_describe(0, desc, sizeof desc, &err);
    for (size_t ci = 0; ci < sizeof cfgs / sizeof cfgs[0]; ci++) {
        model m;
        if (model_make(&m, cfgs[ci].V, cfgs[ci].C, cfgs[ci].L, cfgs[ci].H, cfgs[ci].I, cfgs[ci].P, 0)) {
            model_free(&m);
            return 1;
        }
        for (int p = PE_CUDA_FP32; p <= PE_CUDA_BF16; p++) {
            pe_cuda_options o = enc_cuda_options_default();
            o.precision = (pe_cuda_precision)p;
            pe_encoder_cuda *cu = NULL;
            if (enc_cuda_new_ex(&m.cfg, &m.w, &o, &cu, &err) != PE_OK) {
                fprintf(stderr, "%s: %s\n", cfgs[ci].name, err.msg);
                bad = 1;
                continue;
            }
            for (int bi = 0; bi < 5; bi++)
                for (int li = 0; li < 2; li++) {
                    const int n = batches[bi], len = lengths[li];
                    int lens[256];
                    for (int i = 0; i < n; i++) lens[i] = len;
                    batch bt;
                    batch_make(&bt, &m, lens, n);
                    float *out = malloc((size_t)n * len * m.cfg.hidden * sizeof(float));
                    pe_status st = PE_OK;
                    for (int w = 0; w < 3 && st == PE_OK; w++) st = enc_forward_cuda(cu, &bt.b, -1, out, &err);
                    int iters = 0;
                    const double t0 = pe_now();
                    double dt = 0.0;
                    while (st == PE_OK && (iters < 5 || dt < 0.3) && iters < 200) {
                        st = enc_forward_cuda(cu, &bt.b, -1, out, &err);
                        iters++;
                        dt = pe_now() - t0;
                    }
                    if (st != PE_OK) {
                        fprintf(stderr, "%s: %s\n", cfgs[ci].name, err.msg);
                        bad = 1;
                    } else {
                        const double per = dt / iters;
                        char line[256];
                        snprintf(line, sizeof line,
                                 "cuda %-9s %-4s batch %2d len %3d: %9.0f tokens/s %8.1f sentences/s %7.2f ms "
                                 "%8.1f GFLOP/s",
                                 cfgs[ci].name, enc_cuda_precision_name((pe_cuda_precision)p), n, len,
                                 n * len / per, n / per, per * 1e3, forward_flops(&m.cfg, n, len) / per / 1e9);
                        printf("%s\n", line);
                        if (f) fprintf(f, "%s  [%s]\n", line, desc);
                    }
                    free(out);
                    batch_free(&bt);
                }
            enc_cuda_free(cu);
        }
        model_free(&m);
    }
    if (f) fclose(f);
    return bad;
}

int main(int argc, char **argv)
{
    pe_error why;
    pe_error_clear(&why);
    if (enc_cuda_probe(&why) <= 0) {
        fprintf(stderr, "skip: %s\n", why.msg);
        return 77;
    }
    char desc[256];
    if (enc_cuda_describe(0, desc, sizeof desc, &why) == PE_OK) fprintf(stderr, "device 0: %s\n", desc);
    return bench(argc > 1 ? argv[1] : NULL);
}
