/* train_bench.c - throughput of full masked-language-model training steps:
 * tokens/s of forward (with dropout), MLM head loss, backward, gradient
 * clipping and AdamW over the encoder's and the head's parameters, as
 * pe_trainer_run does each update (accumulation 1), on random weights and
 * random token ids.
 *
 *   pe_bench_train [--layers 4] [--hidden 256] [--heads 4] [--intermediate 1024]
 *                  [--vocab 16000] [--batch 32] [--seq 128] [--mask 0.15]
 *                  [--dropout 0.1] [--threads 2] [--steps 5] [--min-time S]
 *                  [--json FILE] [--cpu-time] [--checksum] [--all-rows]
 *
 * The defaults are the small configuration of models/mlm-small.json: 4
 * layers, hidden 256, 4 heads, intermediate 1024, vocabulary 16000, 32
 * sequences of 128 tokens a batch ([CLS] ... [SEP]), 15 % of the tokens
 * masked by pe_mlm_mask (80/10/10), hidden and attention dropout 0.1,
 * AdamW (lr 5e-4, betas 0.9/0.98, eps 1e-6, weight decay 0.01), clipping
 * at 1.0. Each step draws a new mask (seed = step), as training does.
 * After one untimed warm-up step (workspaces), at least --steps steps run
 * and at least --min-time seconds; the report gives the best, median and
 * mean step time, tokens/s of the median and of the best, and the mean
 * time of each phase. scripts/bench-train.sh runs it beside PyTorch
 * (scripts/bench_train_torch.py) doing the same step. --cpu-time times by
 * process CPU time (with --threads 1: what a core spends on a step, less
 * sensitive to other jobs on the machine). --checksum prints a hash of every
 * parameter and gradient bit after the steps (with --min-time 0 exactly
 * --steps of them): an optimisation that must not change any result
 * (exact resumption across builds) must leave it as it was, at the same
 * thread count. As the trainer, the last layer runs on the masked tokens'
 * rows only (pe_train_forward_options.rows: the MLM head reads no other);
 * --all-rows runs it on every row, as BertForMaskedLM does.
 * Exit codes: 0 ok, 1 failure, 2 usage. Not a test. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "linear.h"
#include "pe_trainer.h"

static clockid_t bench_clock = CLOCK_MONOTONIC;
static double now(void)
{
    struct timespec t;
    clock_gettime(bench_clock, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void usage(FILE *o, const char *argv0)
{
    fprintf(o,
            "usage: %s [--layers N] [--hidden N] [--heads N] [--intermediate N] [--vocab N]\n"
            "          [--batch N] [--seq N] [--mask P] [--dropout P] [--threads N] [--steps N]\n"
            "          [--min-time S] [--json FILE] [--cpu-time] [--checksum] [--all-rows]\n"
            "Throughput of full MLM training steps with random weights (see the file's header).\n",
            argv0);
}

enum { PH_FWD, PH_LOSS, PH_BWD, PH_CLIP, PH_ADAMW, PH_N };
static const char *const ph_name[PH_N] = {"forward", "mlm_loss", "backward", "clip", "adamw"};

int main(int argc, char **argv)
{
    int layers = 4, hidden = 256, heads = 4, inter = 1024, vocab = 16000, batch = 32, seq = 128, threads = 2,
        min_steps = 5;
    double mask_p = 0.15, dropout = 0.1, min_time = 0.0;
    const char *json = NULL;
    int checksum = 0, all_rows = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout, argv[0]);
            return 0;
        }
        if (!strcmp(a, "--cpu-time")) {
            bench_clock = CLOCK_PROCESS_CPUTIME_ID;
            continue;
        }
        if (!strcmp(a, "--checksum")) {
            checksum = 1;
            continue;
        }
        if (!strcmp(a, "--all-rows")) {
            all_rows = 1;
            continue;
        }
        if (!v) {
            usage(stderr, argv[0]);
            return 2;
        }
        if (!strcmp(a, "--layers")) layers = atoi(v);
        else if (!strcmp(a, "--hidden")) hidden = atoi(v);
        else if (!strcmp(a, "--heads")) heads = atoi(v);
        else if (!strcmp(a, "--intermediate")) inter = atoi(v);
        else if (!strcmp(a, "--vocab")) vocab = atoi(v);
        else if (!strcmp(a, "--batch")) batch = atoi(v);
        else if (!strcmp(a, "--seq")) seq = atoi(v);
        else if (!strcmp(a, "--mask")) mask_p = atof(v);
        else if (!strcmp(a, "--dropout")) dropout = atof(v);
        else if (!strcmp(a, "--threads")) threads = atoi(v);
        else if (!strcmp(a, "--steps")) min_steps = atoi(v);
        else if (!strcmp(a, "--min-time")) min_time = atof(v);
        else if (!strcmp(a, "--json")) json = v;
        else {
            usage(stderr, argv[0]);
            return 2;
        }
        i++;
    }
    if (layers < 1 || hidden < 1 || heads < 1 || inter < 1 || vocab < 8 || batch < 1 || seq < 3 || threads < 1 ||
        min_steps < 1 || mask_p <= 0 || mask_p >= 1 || dropout < 0 || dropout >= 1) {
        fprintf(stderr, "pe_bench_train: a size or probability out of range\n");
        return 2;
    }
    pe_trainer_set_threads(threads);
    const pe_encoder_config cfg = {.vocab_size = vocab, .hidden = hidden, .layers = layers, .heads = heads,
                                   .intermediate = inter, .max_position = seq, .type_vocab = 2,
                                   .layer_norm_eps = 1e-12f};
    pe_error err;
    pe_error_clear(&err);
    pe_train *tr = NULL;
    pe_mlm_head *head = NULL;
    pe_adamw *opt = NULL;
    pe_train_param *set = NULL;
    int rc = 1;
    if (pe_train_new_random(&cfg, 1, &tr, &err) != PE_OK || pe_mlm_head_new(tr, 2, &head, &err) != PE_OK) {
        fprintf(stderr, "pe_bench_train: %s\n", err.msg);
        goto done;
    }
    int n_head = 0;
    const pe_train_param *hp = pe_mlm_head_params(head, &n_head);
    const int n_enc = pe_train_n_params(tr), n = n_enc + n_head;
    set = calloc((size_t)n, sizeof *set);
    if (!set) goto done;
    for (int i = 0; i < n_enc; i++) pe_train_param_at(tr, i, &set[i]);
    for (int i = 0; i < n_head; i++) set[n_enc + i] = hp[i];
    size_t n_params = 0;
    for (int i = 0; i < n; i++) n_params += (size_t)set[i].numel;
    pe_adamw_options ao = pe_adamw_options_default();
    ao.beta2 = 0.98f;
    ao.eps = 1e-6f;
    ao.weight_decay = 0.01f;
    if (pe_adamw_new_params(set, n, &ao, &opt, &err) != PE_OK) {
        fprintf(stderr, "pe_bench_train: %s\n", err.msg);
        goto done;
    }

    const int T = batch * seq;
    int32_t *raw = malloc((size_t)T * sizeof *raw), *ids = malloc((size_t)T * sizeof *ids),
            *labels = malloc((size_t)T * sizeof *labels), *types = calloc((size_t)T, sizeof *types),
            *rows = malloc((size_t)T * sizeof *rows);
    int *lengths = malloc((size_t)batch * sizeof *lengths);
    float *hid = malloc((size_t)T * hidden * sizeof *hid), *dh = malloc((size_t)T * hidden * sizeof *dh);
    const int max_steps = 100000;
    double *step_s = malloc((size_t)max_steps * sizeof *step_s);
    if (!raw || !ids || !labels || !types || !rows || !lengths || !hid || !dh || !step_s) {
        fprintf(stderr, "pe_bench_train: out of memory\n");
        goto free_batch;
    }
    uint64_t r = 0x9E3779B97F4A7C15ull;
    for (int s = 0; s < batch; s++) {
        lengths[s] = seq;
        for (int t = 0; t < seq; t++) {
            r ^= r << 13, r ^= r >> 7, r ^= r << 17;
            raw[s * seq + t] = t == 0 ? 2 : t == seq - 1 ? 3 : 5 + (int32_t)((r >> 32) % (uint64_t)(vocab - 5));
        }
    }
    pe_mlm_mask_options mo = pe_mlm_mask_options_default();
    mo.mask_prob = (float)mask_p;
    mo.vocab_size = vocab;
    pe_train_forward_options fo = pe_train_forward_options_default();
    fo.hidden_dropout = fo.attention_dropout = (float)dropout;

    printf("# MLM training step: %d layers, hidden %d, %d heads, intermediate %d, vocabulary %d, %zu parameters\n"
           "# batch %d x %d tokens, mask %.2f, dropout %.2f, %d threads, kernels %s, timed by %s, last layer on %s\n",
           layers, hidden, heads, inter, vocab, n_params, batch, seq, mask_p, dropout, threads,
           enc_linear_backend_name(), bench_clock == CLOCK_MONOTONIC ? "wall clock" : "process CPU time",
           all_rows ? "every row" : "the masked rows");
    double ph[PH_N] = {0}, masked = 0.0, loss = 0.0;
    int steps = 0;
    double t_end = 0.0;
    for (int k = -1; k < max_steps; k++) { /* k = -1: warm-up */
        if (k == 0) t_end = now() + min_time;
        if (k >= min_steps && now() >= t_end) break;
        pe_mlm_mask(raw, T, &mo, (uint64_t)(k + 1), ids, labels);
        fo.n_rows = 0;
        for (int t = 0; t < T; t++)
            if (labels[t] >= 0) rows[fo.n_rows++] = t;
        fo.rows = all_rows ? NULL : rows;
        fo.seed = (uint64_t)(k + 1);
        double t[PH_N + 1];
        t[0] = now();
        pe_params_zero_grad(set, n);
        pe_status st = pe_train_forward(tr, ids, types, lengths, batch, &fo, hid);
        t[1] = now();
        memset(dh, 0, (size_t)T * hidden * sizeof *dh);
        double ls = 0.0, cnt = 0.0, nrm = 0.0;
        if (st == PE_OK) st = pe_mlm_head_loss(head, hid, labels, T, 1.0f, dh, &ls, &cnt, NULL, &err);
        t[2] = now();
        if (st == PE_OK) st = pe_train_backward(tr, dh);
        t[3] = now();
        if (st == PE_OK) st = pe_params_clip_grad_norm(set, n, 1.0f, &nrm, &err);
        t[4] = now();
        if (st == PE_OK) st = pe_adamw_step(opt, 5e-4f);
        t[5] = now();
        if (st != PE_OK) {
            fprintf(stderr, "pe_bench_train: step %d: %s (%s / %s / %s)\n", k, pe_status_str(st), err.msg,
                    pe_train_errmsg(tr), pe_adamw_errmsg(opt));
            goto free_batch;
        }
        if (k < 0) continue;
        for (int p = 0; p < PH_N; p++) ph[p] += t[p + 1] - t[p];
        step_s[steps++] = t[PH_N] - t[0];
        masked += cnt;
        loss += ls / cnt;
    }
    double mean = 0.0;
    for (int i = 0; i < steps; i++) mean += step_s[i];
    mean /= steps;
    qsort(step_s, (size_t)steps, sizeof *step_s, cmp_double);
    const double best = step_s[0],
                 median = steps % 2 ? step_s[steps / 2] : 0.5 * (step_s[steps / 2 - 1] + step_s[steps / 2]);
    printf("steps %d, predicted tokens %.0f a step, loss %.3f\n", steps, masked / steps, loss / steps);
    printf("step s: best %.4f median %.4f mean %.4f; tokens/s: median %.0f best %.0f\n", best, median, mean,
           T / median, T / best);
    printf("phases (mean s):");
    for (int p = 0; p < PH_N; p++) printf(" %s %.4f", ph_name[p], ph[p] / steps);
    printf("\n");
    if (checksum) {
        uint64_t hsh = 0xcbf29ce484222325ull; /* FNV-1a over the bytes of every weight and gradient */
        for (int i = 0; i < n; i++)
            for (int which = 0; which < 2; which++) {
                const unsigned char *b = (const unsigned char *)(which ? set[i].grad : set[i].data);
                for (size_t k = 0; k < (size_t)set[i].numel * sizeof(float); k++) hsh = (hsh ^ b[k]) * 0x100000001b3ull;
            }
        printf("checksum %016llx after %d steps (loss sum %.17g)\n", (unsigned long long)hsh, steps, loss);
    }
    fflush(stdout);
    if (json) {
        FILE *jf = fopen(json, "a");
        if (!jf) {
            fprintf(stderr, "pe_bench_train: cannot write %s\n", json);
            goto free_batch;
        }
        fprintf(jf,
                "{\"peer\": \"%s\", \"clock\": \"%s\", \"threads\": %d, \"batch\": %d, \"seq\": %d, \"steps\": %d, "
                "\"masked\": %.1f, \"best_s\": %.6g, \"median_s\": %.6g, \"mean_s\": %.6g, \"phases\": {",
                all_rows ? "ours_all_rows" : "ours", bench_clock == CLOCK_MONOTONIC ? "wall" : "cpu", threads, batch, seq, steps, masked / steps, best, median,
                mean);
        for (int p = 0; p < PH_N; p++) fprintf(jf, "%s\"%s\": %.6g", p ? ", " : "", ph_name[p], ph[p] / steps);
        fprintf(jf, "}}\n");
        fclose(jf);
    }
    rc = 0;
free_batch:
    free(raw);
    free(ids);
    free(labels);
    free(types);
    free(rows);
    free(lengths);
    free(hid);
    free(dh);
    free(step_s);
done:
    pe_adamw_free(opt);
    free(set);
    pe_mlm_head_free(head);
    pe_train_free(tr);
    return rc;
}
