/* cmd_train.c - `persona train mlm --recipe FILE`: masked-language-model
 * pretraining from a recipe (corpus list, vocabulary, model size, steps,
 * learning rates, seed), resumable from the run folder's checkpoints. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "cli.h"
#include "pe_encoder.h"
#include "pe_trainer.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: persona train mlm --recipe FILE [options]\n"
            "\n"
            "Pretrains an encoder with masked language modelling as the recipe (JSON)\n"
            "says: corpus files, vocabulary, model size, steps, learning rate, seed.\n"
            "The run folder keeps token shards, checkpoints, log.jsonl (one JSON line per\n"
            "report, for plots) and best/ (the checkpoint with the lowest held-out loss).\n"
            "A stopped or killed run continues from its last checkpoint with --resume.\n"
            "\n"
            "options:\n"
            "  --recipe FILE      the recipe (see models/*.json)\n"
            "  --out DIR          run folder (default: the recipe's \"run_dir\")\n"
            "  --data DIR         folder of the corpus files (default: the recipe's \"data_dir\",\n"
            "                     relative to the recipe's folder; $PERSONA_DATA overrides it)\n"
            "  --resume           continue from the run folder's latest checkpoint\n"
            "  --steps N          override the recipe's number of updates\n"
            "  --threads N        CPU threads (default: all cores)\n"
            "\n"
            "exit codes: 0 ok, 1 failure (the message says what; checkpoints are kept),\n"
            "            2 usage, 3 a corpus file, the vocabulary or the recipe not found\n");
}

/* ---- recipe ---- */

typedef struct recipe {
    cJSON *root;
    char *dir;      /* the recipe file's folder */
} recipe;

static const cJSON *obj_get(const cJSON *o, const char *k)
{
    return o ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;
}

static double num_or(const cJSON *o, const char *k, double d)
{
    const cJSON *x = obj_get(o, k);
    return cJSON_IsNumber(x) ? x->valuedouble : d;
}

static const char *str_or(const cJSON *o, const char *k, const char *d)
{
    const cJSON *x = obj_get(o, k);
    return cJSON_IsString(x) ? x->valuestring : d;
}

/* path relative to base unless absolute. */
static char *resolve(const char *base, const char *p)
{
    if (!p) return NULL;
    if (p[0] == '/' || !base) return strdup(p);
    size_t lb = strlen(base), lp = strlen(p);
    char *s = malloc(lb + lp + 2);
    if (s) sprintf(s, "%s/%s", base, p);
    return s;
}

static int file_exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0;
}

/* ---- corpus -> shards ---- */

static int build_shards(const recipe *r, const char *data_dir, const pe_tokenizer *tok, const char *train_p,
                        const char *dev_p, int seq_len)
{
    const cJSON *corpus = obj_get(r->root, "corpus");
    int held = (int)num_or(r->root, "held_out_every", 200);
    pe_error err;
    pe_error_clear(&err);
    pe_shard_writer *w = NULL;
    pe_status st = pe_shard_writer_new(train_p, dev_p, tok, seq_len, held, &w, &err);
    if (st != PE_OK) return pe_cli_fail(st, err.msg);
    size_t cap = 1 << 20;
    char *buf = malloc(cap);
    if (!buf) {
        pe_shard_writer_free(w);
        return pe_cli_fail(PE_ERR_NOMEM, "out of memory");
    }
    pe_cli_progress pr;
    pe_cli_progress_init(&pr);
    uint64_t lines = 0, bytes = 0;
    const cJSON *it;
    int rc = PE_EXIT_OK;
    cJSON_ArrayForEach(it, corpus)
    {
        char *path = resolve(data_dir, it->valuestring);
        gzFile gz = path ? gzopen(path, "rb") : NULL;
        if (!gz) {
            fprintf(stderr, "persona: %s: cannot open: %s\n", path ? path : "?", strerror(errno));
            free(path);
            rc = PE_EXIT_NOT_FOUND;
            break;
        }
        gzbuffer(gz, 1 << 18);
        for (;;) {
            size_t n = 0;
            int got = 0;
            buf[0] = '\0';
            while (gzgets(gz, buf + n, (int)(cap - n)) != NULL) {
                got = 1;
                n += strlen(buf + n);
                if (n > 0 && buf[n - 1] == '\n') break;
                if (n + 1 >= cap) { /* a very long line: grow */
                    char *nb = realloc(buf, cap * 2);
                    if (!nb) break;
                    buf = nb;
                    cap *= 2;
                }
            }
            if (!got) break;
            bytes += n;
            lines++;
            while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) n--;
            if (n == 0) {
                st = pe_shard_writer_end_document(w, &err);
            } else {
                st = pe_shard_writer_add_text(w, buf, n, &err);
                if (st == PE_ERR_UTF8) { /* skip a bad line, counted in the summary */
                    st = PE_OK;
                }
            }
            if (st != PE_OK) break;
            if ((lines & 1023) == 0)
                pe_cli_progress_update(&pr, "tokenising", bytes, 0, "B", "lines", (double)lines);
        }
        int gzerr = 0;
        const char *gm = gzerror(gz, &gzerr);
        if (st == PE_OK && gzerr != Z_OK && gzerr != Z_STREAM_END) {
            fprintf(stderr, "persona: %s: %s\n", path, gm);
            rc = PE_EXIT_FAIL;
        }
        gzclose(gz);
        free(path);
        if (st == PE_OK) st = pe_shard_writer_end_document(w, &err);
        if (st != PE_OK || rc != PE_EXIT_OK) break;
    }
    pe_cli_progress_finish(&pr);
    free(buf);
    uint64_t nseq = 0, ntok = 0;
    if (st == PE_OK && rc == PE_EXIT_OK) st = pe_shard_writer_finish(w, &nseq, &ntok, &err);
    pe_shard_writer_free(w);
    if (st != PE_OK) return pe_cli_fail(st, err.msg);
    if (rc != PE_EXIT_OK) return rc;
    fprintf(stderr, "persona: %llu lines -> %llu training sequences, %llu tokens\n", (unsigned long long)lines,
            (unsigned long long)nseq, (unsigned long long)ntok);
    return PE_EXIT_OK;
}

/* ---- progress ---- */

typedef struct prog {
    pe_cli_progress bar;
} prog;

static void on_progress(const pe_trainer_progress *p, void *user)
{
    prog *g = user;
    if (p->eval) {
        pe_cli_progress_finish(&g->bar);
        fprintf(stderr, "persona: step %ld: eval %s %.4f", p->step, p->eval->metric_name, p->eval->metric);
        for (int i = 0; i < p->eval->n_extra; i++)
            fprintf(stderr, ", %s %.4g", p->eval->extra_names[i], p->eval->extra[i]);
        fputc('\n', stderr);
    }
    char what[96];
    snprintf(what, sizeof what, "training: loss %.4f lr %.2e", p->loss, p->lr);
    pe_cli_progress_update(&g->bar, what, (uint64_t)p->step, (uint64_t)p->steps, "steps", "tokens/s", p->tokens_per_s);
}

static volatile sig_atomic_t interrupted;

int pe_cmd_train(int argc, char **argv)
{
    const char *recipe_p = NULL, *out = NULL, *data = NULL, *what = NULL;
    int resume = 0, threads = 0;
    long steps_override = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (pe_cli_is_help(a)) {
            usage(stdout);
            return PE_EXIT_OK;
        } else if (!strcmp(a, "--recipe") && i + 1 < argc) {
            recipe_p = argv[++i];
        } else if (!strcmp(a, "--out") && i + 1 < argc) {
            out = argv[++i];
        } else if (!strcmp(a, "--data") && i + 1 < argc) {
            data = argv[++i];
        } else if (!strcmp(a, "--resume")) {
            resume = 1;
        } else if (!strcmp(a, "--steps") && i + 1 < argc) {
            char *e;
            errno = 0;
            steps_override = strtol(argv[++i], &e, 10);
            if (*e || errno || steps_override < 1) {
                fprintf(stderr, "persona: --steps wants a positive number, not '%s'\n", argv[i]);
                return PE_EXIT_USAGE;
            }
        } else if (!strcmp(a, "--threads") && i + 1 < argc) {
            char *e;
            errno = 0;
            long t = strtol(argv[++i], &e, 10);
            if (*e || errno || t < 1 || t > 1024) {
                fprintf(stderr, "persona: --threads wants 1..1024, not '%s'\n", argv[i]);
                return PE_EXIT_USAGE;
            }
            threads = (int)t;
        } else if (a[0] == '-') {
            fprintf(stderr, "persona: train: unknown option '%s'\n", a);
            usage(stderr);
            return PE_EXIT_USAGE;
        } else if (!what) {
            what = a;
        } else {
            fprintf(stderr, "persona: train: unexpected argument '%s'\n", a);
            return PE_EXIT_USAGE;
        }
    }
    if (!what || strcmp(what, "mlm") != 0 || !recipe_p) {
        if (what && strcmp(what, "mlm") != 0) fprintf(stderr, "persona: train: unknown objective '%s'\n", what);
        usage(stderr);
        return PE_EXIT_USAGE;
    }
    /* recipe */
    recipe r = {0};
    {
        FILE *f = fopen(recipe_p, "rb");
        if (!f) {
            fprintf(stderr, "persona: %s: %s\n", recipe_p, strerror(errno));
            return errno == ENOENT ? PE_EXIT_NOT_FOUND : PE_EXIT_FAIL;
        }
        char *text = NULL;
        size_t n = 0, cap = 0;
        int c;
        while ((c = fgetc(f)) != EOF) {
            if (n + 2 > cap) {
                cap = cap ? cap * 2 : 4096;
                char *t = realloc(text, cap);
                if (!t) break;
                text = t;
            }
            text[n++] = (char)c;
        }
        fclose(f);
        if (text) text[n] = '\0';
        r.root = text ? cJSON_Parse(text) : NULL;
        free(text);
        if (!cJSON_IsObject(r.root) || !cJSON_IsArray(obj_get(r.root, "corpus"))) {
            fprintf(stderr, "persona: %s: not a recipe (a JSON object with a \"corpus\" list)\n", recipe_p);
            cJSON_Delete(r.root);
            return PE_EXIT_FAIL;
        }
        char *d = strdup(recipe_p), *sl = d ? strrchr(d, '/') : NULL;
        if (sl) *sl = '\0';
        else if (d) strcpy(d, ".");
        r.dir = d;
    }
    int rc = PE_EXIT_FAIL;
    pe_error err;
    pe_error_clear(&err);
    pe_tokenizer *tok = NULL;
    pe_train *tr = NULL;
    pe_mlm_head *head = NULL;
    pe_token_shard *train = NULL, *dev = NULL;
    pe_mlm_objective *mo = NULL;
    unsigned char *cont = NULL;
    char *run_dir = NULL, *data_dir = NULL, *vocab_p = NULL, *train_p = NULL, *dev_p = NULL, *shard_dir = NULL;
    const cJSON *model = obj_get(r.root, "model"), *tro = obj_get(r.root, "train"), *mask = obj_get(r.root, "mask");

    run_dir = out ? strdup(out) : resolve(r.dir, str_or(r.root, "run_dir", NULL));
    if (!run_dir) {
        fprintf(stderr, "persona: no run folder: give --out DIR or \"run_dir\" in the recipe\n");
        rc = PE_EXIT_USAGE;
        goto done;
    }
    const char *env_data = getenv("PERSONA_DATA");
    data_dir = data ? strdup(data) : env_data ? strdup(env_data) : resolve(r.dir, str_or(r.root, "data_dir", "."));
    vocab_p = resolve(r.dir, str_or(r.root, "vocab", NULL));
    if (!vocab_p || !file_exists(vocab_p)) {
        fprintf(stderr, "persona: the recipe's vocabulary %s does not exist (make one with `persona vocab`)\n",
                vocab_p ? vocab_p : "(none given)");
        rc = PE_EXIT_NOT_FOUND;
        goto done;
    }
    pe_tokenizer_options to = pe_tokenizer_options_default();
    to.do_lower_case = obj_get(r.root, "cased") && cJSON_IsTrue(obj_get(r.root, "cased")) ? 0 : 1;
    pe_status st = pe_tokenizer_open_vocab(vocab_p, &to, &tok, &err);
    if (st != PE_OK) {
        rc = pe_cli_fail(st, err.msg);
        goto done;
    }
    if (mkdir(run_dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "persona: %s: cannot create: %s\n", run_dir, strerror(errno));
        goto done;
    }
    const int seq_len = (int)num_or(r.root, "seq_len", 128);
    shard_dir = resolve(run_dir, "data");
    train_p = resolve(shard_dir, "train.shard");
    dev_p = resolve(shard_dir, "held-out.shard");
    if (!file_exists(train_p)) {
        mkdir(shard_dir, 0777);
        fprintf(stderr, "persona: tokenising the corpus into %s\n", shard_dir);
        if ((rc = build_shards(&r, data_dir, tok, train_p, dev_p, seq_len)) != PE_EXIT_OK) goto done;
        rc = PE_EXIT_FAIL;
    }
    if ((st = pe_token_shard_open(train_p, &train, &err)) != PE_OK ||
        (st = pe_token_shard_open(dev_p, &dev, &err)) != PE_OK) {
        rc = pe_cli_fail(st, err.msg);
        goto done;
    }
    /* model */
    pe_encoder_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.vocab_size = (int)pe_tokenizer_vocab_size(tok);
    cfg.hidden = (int)num_or(model, "hidden", 256);
    cfg.layers = (int)num_or(model, "layers", 4);
    cfg.heads = (int)num_or(model, "heads", 4);
    cfg.intermediate = (int)num_or(model, "intermediate", 4 * cfg.hidden);
    cfg.max_position = (int)num_or(model, "max_position", seq_len);
    cfg.type_vocab = (int)num_or(model, "type_vocab_size", 2);
    cfg.layer_norm_eps = (float)num_or(model, "layer_norm_eps", 1e-12);
    pe_trainer_set_threads(threads);
    const uint64_t seed = (uint64_t)num_or(tro, "seed", 1);
    if ((st = pe_train_new_random(&cfg, seed, &tr, &err)) != PE_OK ||
        (st = pe_mlm_head_new(tr, seed, &head, &err)) != PE_OK) {
        rc = pe_cli_fail(st, err.msg);
        goto done;
    }
    pe_mlm_mask_options mk = pe_mlm_mask_options_default();
    pe_tokenizer_special_ids sid = pe_tokenizer_get_special_ids(tok);
    mk.mask_prob = (float)num_or(mask, "prob", 0.15);
    mk.whole_word = cJSON_IsTrue(obj_get(mask, "whole_word"));
    mk.mask_id = sid.mask;
    mk.vocab_size = cfg.vocab_size;
    mk.n_special = 0;
    {
        int32_t ids[5] = {sid.pad, sid.unk, sid.cls, sid.sep, sid.mask};
        for (int i = 0; i < 5; i++)
            if (ids[i] + 1 > mk.n_special) mk.n_special = ids[i] + 1;
    }
    cont = calloc((size_t)cfg.vocab_size, 1);
    if (!cont) {
        rc = pe_cli_fail(PE_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < cfg.vocab_size; i++) {
        const char *t = pe_tokenizer_id_to_token(tok, i);
        cont[i] = t && t[0] == '#' && t[1] == '#' && t[2];
    }
    mk.is_continuation = cont;
    if ((st = pe_mlm_objective_new(head, train, dev, (int)num_or(r.root, "max_dev_seqs", 2000), &mk, &mo, &err)) !=
        PE_OK) {
        rc = pe_cli_fail(st, err.msg);
        goto done;
    }
    pe_trainer_options o = pe_trainer_options_default();
    o.dir = run_dir;
    o.steps = steps_override ? steps_override : (long)num_or(tro, "steps", 10000);
    o.accum = (int)num_or(tro, "accum", 1);
    o.batch_tokens = (int)num_or(tro, "batch_tokens", 4096);
    o.lr = (float)num_or(tro, "lr", 5e-4);
    o.warmup = (long)num_or(tro, "warmup", -1);
    o.schedule = strcmp(str_or(tro, "schedule", "linear"), "cosine") == 0 ? PE_SCHEDULE_COSINE : PE_SCHEDULE_LINEAR;
    o.min_lr_ratio = (float)num_or(tro, "min_lr_ratio", 0.0);
    o.adamw.weight_decay = (float)num_or(tro, "weight_decay", 0.01);
    o.adamw.beta2 = (float)num_or(tro, "beta2", 0.999);
    o.adamw.eps = (float)num_or(tro, "eps", 1e-6);
    o.clip = (float)num_or(tro, "clip", 1.0);
    o.hidden_dropout = (float)num_or(tro, "dropout", 0.1);
    o.attention_dropout = (float)num_or(tro, "attention_dropout", 0.1);
    o.seed = seed;
    o.log_every = (long)num_or(tro, "log_every", 10);
    o.checkpoint_every = (long)num_or(tro, "checkpoint_every", 500);
    o.eval_every = (long)num_or(tro, "eval_every", 1000);
    o.keep_checkpoints = (int)num_or(tro, "keep_checkpoints", 2);
    o.resume = resume;
    o.tokenizer = tok;
    prog g;
    pe_cli_progress_init(&g.bar);
    g.bar.plain_interval = 30.0;
    o.progress = on_progress;
    o.progress_user = &g;
    fprintf(stderr,
            "persona: mlm: %d layers, hidden %d, %d heads, vocabulary %d; %zu training sequences; %ld steps of %d "
            "tokens; run folder %s\n",
            cfg.layers, cfg.hidden, cfg.heads, cfg.vocab_size, pe_token_shard_count(train), o.steps, o.batch_tokens,
            run_dir);
    pe_trainer_result res;
    st = pe_trainer_run(tr, pe_mlm_objective_get(mo), &o, &res, &err);
    pe_cli_progress_finish(&g.bar);
    if (st != PE_OK) {
        rc = pe_cli_fail(st, err.msg);
        goto done;
    }
    fprintf(stderr, "persona: done: %ld steps%s, last loss %.4f, best held-out metric %.4f at step %ld, checkpoint %s\n",
            res.steps, res.resumed_from >= 0 ? " (resumed)" : "", res.last_loss, res.best_metric, res.best_step,
            res.last_checkpoint);
    rc = PE_EXIT_OK;
done:
    (void)interrupted;
    pe_mlm_objective_free(mo);
    pe_token_shard_close(train);
    pe_token_shard_close(dev);
    pe_mlm_head_free(head);
    pe_train_free(tr);
    pe_tokenizer_free(tok);
    free(cont);
    free(run_dir);
    free(data_dir);
    free(vocab_p);
    free(train_p);
    free(dev_p);
    free(shard_dir);
    free(r.dir);
    cJSON_Delete(r.root);
    return rc;
}
