/* cmd_train.c - `persona train mlm --recipe FILE`: masked-language-model
 * pretraining from a recipe (corpus list, vocabulary, model size, steps,
 * learning rates, seed), resumable from the run folder's checkpoints. */
#include <cjson/cJSON.h>
#include <ctype.h>
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
#include "pe_kg.h"
#include "pe_ner.h"
#include "pe_relation.h"
#include "pe_trainer.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: persona train mlm|embed|ner|rel|tag --recipe FILE [options]\n"
            "\n"
            "Trains a model as the recipe (JSON, see models/*.json) says.\n"
            "  mlm   pretrains an encoder with masked language modelling: corpus files,\n"
            "        vocabulary, model size, steps, learning rate, seed\n"
            "  embed from an mlm recipe: a new encoder whose word embeddings are skip-gram\n"
            "        vectors of the corpus (word2vec; the recipe's \"embed\" options),\n"
            "        written as RUN/best for --init (minutes instead of days of MLM)\n"
            "  ner   fine-tunes the recipe's \"ner\" head (BIO entities, CoNLL data)\n"
            "  rel   fine-tunes the recipe's \"rel\" head (persona relations, PersonaExt)\n"
            "  tag   fine-tunes every head the recipe names (ner and rel) together on one\n"
            "        encoder, starting from the recipe's \"init\" (a pretrained run's best/)\n"
            "        (development metric: the mean of the heads'; a head with\n"
            "        \"select\": false, whose development data is also trained on, is\n"
            "        only logged)\n"
            "The run folder keeps checkpoints, log.jsonl (one JSON line per report, for\n"
            "plots) and best/ (the checkpoint with the best development metric: held-out\n"
            "loss for mlm, entity F1 / triplet F1 for the heads). A stopped or killed run\n"
            "continues from its last checkpoint with --resume. With \"export\" in the\n"
            "recipe, best/ is written as a .pem model file at the end.\n"
            "\n"
            "options:\n"
            "  --recipe FILE      the recipe (see models/*.json)\n"
            "  --out DIR          run folder (default: the recipe's \"run_dir\")\n"
            "  --data DIR         folder of the corpus files (default: the recipe's \"data_dir\",\n"
            "                     relative to the recipe's folder; $PERSONA_DATA overrides it)\n"
            "  --resume           continue from the run folder's latest checkpoint\n"
            "  --steps N          override the recipe's number of updates\n"
            "  --seed N           override the recipe's seed (weights of new parts, data\n"
            "                     order, masks, dropout): runs to compare, or to average\n"
            "                     with `persona model average`\n"
            "  --until N          stop after update N (with a checkpoint) while the learning\n"
            "                     rate keeps the schedule of all the steps: --resume later\n"
            "                     goes on as if the run had not stopped\n"
            "  --init DIR         ner/rel/tag: start from this model folder instead of the\n"
            "                     recipe's \"init\" (\"none\": a randomly initialised encoder);\n"
            "                     mlm: continue pretraining this encoder (e.g. train embed's\n"
            "                     best/) instead of a random one\n"
            "  --graph DIR        ner, tag: train the NER head with the graph feature over\n"
            "                     this graph store (required when the recipe's \"ner\" has\n"
            "                     \"graph\": true; the model then needs a graph store to run)\n"
            "  --swap-graph DIR   ner, rel, tag: the graph store whose entities' English\n"
            "                     labels become objects for the recipe's \"rel\":\n"
            "                     {\"augment_graph\": {\"relations\": {REL: [CLASSES]}}} and\n"
            "                     mentions for its \"ner\": {\"augment_graph\": {\"types\":\n"
            "                     {TYPE: [CLASSES]}}} (classes: QIDs through P31, or IRIs\n"
            "                     through rdf:type; required with it; the model does not\n"
            "                     need it to run)\n"
            "  --shape            ner, tag: train the NER head with the word-shape feature\n"
            "                     (capitals; also the recipe's \"ner\": {\"shape\": true})\n"
            "  --case-types       mlm, ner, rel, tag: the encoder reads each word's letter case as\n"
            "                     its token type (lower, capitalised, upper, mixed), which a\n"
            "                     lower-casing vocabulary hides; an initial model without\n"
            "                     them gets 4 token types, the new ones copies of type 0\n"
            "                     (also the recipe's \"model\": {\"case_types\": true})\n"
            "  --threads N        CPU threads (default: all cores)\n"
            "  --strict           ner/rel: the first malformed data line is fatal (else such\n"
            "                     lines are skipped, counted and the first one named)\n");
}

static const char exit_notes[] =
    "            (1: the message says what, checkpoints are kept; 5: a data file, the\n"
    "            vocabulary, the initial model, the graph store or the recipe does not exist)\n";

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
    if (st != PE_OK) return pe_cli_fail(st, "%s", err.msg);
    size_t cap = 1 << 20;
    char *buf = malloc(cap);
    if (!buf) {
        pe_shard_writer_free(w);
        return pe_cli_fail(PE_ERR_NOMEM, NULL);
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
            rc = PE_EXIT_MISSING;
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
    if (st != PE_OK) return pe_cli_fail(st, "%s", err.msg);
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


/* A new encoder's architecture from the recipe's "model" object (the
 * vocabulary size from the tokenizer). */
static pe_encoder_config model_config(const cJSON *model, const pe_tokenizer *tok, int max_position)
{
    pe_encoder_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.vocab_size = (int)pe_tokenizer_vocab_size(tok);
    cfg.hidden = (int)num_or(model, "hidden", 256);
    cfg.layers = (int)num_or(model, "layers", 4);
    cfg.heads = (int)num_or(model, "heads", 4);
    cfg.intermediate = (int)num_or(model, "intermediate", 4 * cfg.hidden);
    cfg.max_position = (int)num_or(model, "max_position", max_position);
    cfg.type_vocab = (int)num_or(model, "type_vocab_size", 2);
    cfg.layer_norm_eps = (float)num_or(model, "layer_norm_eps", 1e-12);
    return cfg;
}

/* Trainer options from the recipe's "train" object. */
static void trainer_opts(const cJSON *tro, pe_trainer_options *o)
{
    o->steps = (long)num_or(tro, "steps", (double)o->steps);
    o->accum = (int)num_or(tro, "accum", 1);
    o->batch_tokens = (int)num_or(tro, "batch_tokens", 4096);
    o->batch_max_seqs = (int)num_or(tro, "batch_max_seqs", 0);
    o->lr = (float)num_or(tro, "lr", 5e-4);
    o->warmup = (long)num_or(tro, "warmup", -1);
    o->schedule = strcmp(str_or(tro, "schedule", "linear"), "cosine") == 0 ? PE_SCHEDULE_COSINE : PE_SCHEDULE_LINEAR;
    o->min_lr_ratio = (float)num_or(tro, "min_lr_ratio", 0.0);
    o->adamw.weight_decay = (float)num_or(tro, "weight_decay", 0.01);
    o->adamw.beta2 = (float)num_or(tro, "beta2", 0.999);
    o->adamw.eps = (float)num_or(tro, "eps", 1e-6);
    o->clip = (float)num_or(tro, "clip", 1.0);
    o->hidden_dropout = (float)num_or(tro, "dropout", 0.1);
    o->attention_dropout = (float)num_or(tro, "attention_dropout", 0.1);
    o->seed = (uint64_t)num_or(tro, "seed", 1);
    o->log_every = (long)num_or(tro, "log_every", 10);
    o->checkpoint_every = (long)num_or(tro, "checkpoint_every", 500);
    o->eval_every = (long)num_or(tro, "eval_every", 1000);
    o->patience = (int)num_or(tro, "patience", 0);
    o->keep_checkpoints = (int)num_or(tro, "keep_checkpoints", 2);
    o->ema = (float)num_or(tro, "ema", 0.0);
}

typedef struct args {
    const char *recipe, *out, *data, *what, *init, *graph, *swap_graph;
    int resume, threads, strict, shape, case_types;
    long steps, until;
    uint64_t seed; /* 0: the recipe's */
} args;

/* The run's seed: --seed, else the recipe's "train" "seed", else 1. */
static uint64_t seed_of(const cJSON *tro, const args *a)
{
    return a->seed ? a->seed : (uint64_t)num_or(tro, "seed", 1);
}

/* The trainer's options: the recipe's "train", the command line's
 * overrides, the run folder, the tokenizer saved with checkpoints and the
 * progress bar. */
static void run_opts(const cJSON *tro, long default_steps, const args *a, const char *run_dir,
                     const pe_tokenizer *tok, prog *g, pe_trainer_options *o)
{
    *o = pe_trainer_options_default();
    o->steps = default_steps;
    trainer_opts(tro, o);
    if (a->steps) o->steps = a->steps;
    o->seed = seed_of(tro, a);
    o->stop_after = a->until;
    o->dir = run_dir;
    o->resume = a->resume;
    o->tokenizer = tok;
    pe_cli_progress_init(&g->bar);
    g->bar.plain_interval = 30.0;
    o->progress = on_progress;
    o->progress_user = g;
}

/* One past the largest special token id ([PAD] [UNK] [CLS] [SEP] [MASK]):
 * the ids below it are not text. */
static int n_special_ids(const pe_tokenizer *tok)
{
    pe_tokenizer_special_ids sid = pe_tokenizer_get_special_ids(tok);
    const int32_t ids[5] = {sid.pad, sid.unk, sid.cls, sid.sep, sid.mask};
    int n = 0;
    for (int i = 0; i < 5; i++)
        if (ids[i] + 1 > n) n = ids[i] + 1;
    return n;
}

/* The encoder at init (a model folder or file) on the CPU and its training
 * copy. Returns an exit code. */
static int open_init(const char *init, const args *a, int case_types, pe_encoder **enc, pe_train **tr)
{
    if (!file_exists(init)) {
        fprintf(stderr,
                "persona: the initial model %s does not exist (make one with `persona train mlm` or `persona train "
                "embed`, or give --init none)\n",
                init);
        return PE_EXIT_MISSING;
    }
    pe_encoder_options eo = pe_encoder_options_default();
    eo.backend = PE_ENCODER_CPU;
    eo.threads = a->threads;
    pe_error err;
    pe_status st = pe_encoder_load(init, &eo, enc, &err);
    if (st == PE_OK)
        st = case_types ? pe_train_new_from_encoder_case_types(*enc, tr, &err) : pe_train_new_from_encoder(*enc, tr, &err);
    return st == PE_OK ? PE_EXIT_OK : pe_cli_fail(st, "%s", err.msg);
}

/* Examples for tr: with its case types when it has them. */
static pe_status tag_data_new(pe_tag_data **d, const pe_train *tr, pe_error *err)
{
    pe_status st = pe_tag_data_new(d, err);
    if (st == PE_OK) pe_tag_data_set_case_types(*d, pe_train_config(tr)->case_types);
    return st;
}

static int on_sgns_progress(uint64_t done, uint64_t total, void *user)
{
    pe_cli_progress_update(user, "word vectors", done, total, "tokens", NULL, 0);
    return 0;
}

/* persona train embed: a new encoder (the recipe's "model", its seed) whose
 * word embeddings are skip-gram vectors of the recipe's corpus (its
 * "embed" options), rescaled to the random start's spread, written as
 * RUN/best for --init. */
static int run_embed(const recipe *r, const args *a, const pe_encoder_config *cfg, uint64_t seed,
                     const pe_tokenizer *tok, const pe_token_shard *train, const char *run_dir)
{
    const cJSON *eo = obj_get(r->root, "embed");
    pe_sgns_options so = pe_sgns_options_default();
    so.window = (int)num_or(eo, "window", so.window);
    so.negatives = (int)num_or(eo, "negatives", so.negatives);
    so.epochs = (int)num_or(eo, "epochs", so.epochs);
    so.lr = (float)num_or(eo, "lr", so.lr);
    so.subsample = num_or(eo, "subsample", so.subsample);
    so.min_count = (int)num_or(eo, "min_count", so.min_count);
    so.seed = seed;
    so.threads = a->threads > 0 ? a->threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (so.threads < 1) so.threads = 1;
    so.n_skip = n_special_ids(tok);
    const double std_want = num_or(eo, "std", 0.02);
    pe_error err;
    pe_error_clear(&err);
    pe_train *tr = NULL;
    pe_train_param word;
    float *vec = NULL;
    char *best = resolve(run_dir, "best");
    pe_cli_progress bar;
    pe_cli_progress_init(&bar);
    so.progress = on_sgns_progress;
    so.progress_user = &bar;
    pe_status st = pe_train_new_random(cfg, seed, &tr, &err);
    if (st == PE_OK && pe_train_param_find(tr, "embeddings.word_embeddings.weight", &word) != PE_OK)
        st = pe_error_set(&err, PE_ERR_INVALID, "the encoder has no word embeddings");
    if (st == PE_OK && !(vec = malloc((size_t)word.numel * sizeof *vec)))
        st = pe_error_set(&err, PE_ERR_NOMEM, "out of memory");
    if (st == PE_OK && (int64_t)pe_token_shard_vocab_size(train) * cfg->hidden != word.numel)
        st = pe_error_set(&err, PE_ERR_INVALID, "the token shard's vocabulary (%u) is not the model's (%d)",
                          pe_token_shard_vocab_size(train), cfg->vocab_size);
    fprintf(stderr, "persona: embed: skip-gram vectors of %d dimensions over %zu sequences (window %d, %d negatives, %d epoch%s, %d thread%s)\n",
            cfg->hidden, pe_token_shard_count(train), so.window, so.negatives, so.epochs, so.epochs == 1 ? "" : "s",
            so.threads, so.threads == 1 ? "" : "s");
    if (st == PE_OK) st = pe_sgns_train(train, cfg->hidden, &so, vec, &err);
    pe_cli_progress_finish(&bar);
    if (st == PE_OK) { /* the trained rows rescaled to the random start's spread; special tokens keep theirs */
        const int C = cfg->hidden;
        double ss = 0.0;
        size_t n = 0;
        for (int64_t v = so.n_skip; v < word.numel / C; v++)
            for (int c = 0; c < C; c++) {
                ss += (double)vec[v * C + c] * vec[v * C + c];
                n++;
            }
        const double scale = n && ss > 0 ? std_want / sqrt(ss / (double)n) : 1.0;
        for (int64_t v = so.n_skip; v < word.numel / C; v++)
            for (int c = 0; c < C; c++) word.data[v * C + c] = (float)(vec[v * C + c] * scale);
        pe_train_save_options sv = pe_train_save_options_default();
        sv.tokenizer = tok;
        st = best ? pe_train_save(tr, best, &sv, &err) : pe_error_set(&err, PE_ERR_NOMEM, "out of memory");
    }
    int rc = PE_EXIT_OK;
    if (st != PE_OK) rc = pe_cli_fail(st, "%s", err.msg);
    else fprintf(stderr, "persona: wrote %s (start heads from it with --init %s)\n", best, best);
    free(vec);
    free(best);
    pe_train_free(tr);
    return rc;
}

static int run_mlm(const recipe *r, const args *a)
{
    int rc = PE_EXIT_FAIL;
    pe_error err;
    pe_error_clear(&err);
    pe_tokenizer *tok = NULL;
    pe_train *tr = NULL;
    pe_encoder *init_enc = NULL;
    pe_mlm_head *head = NULL;
    pe_token_shard *train = NULL, *dev = NULL;
    pe_mlm_objective *mo = NULL;
    unsigned char *cont = NULL;
    char *run_dir = NULL, *data_dir = NULL, *vocab_p = NULL, *train_p = NULL, *dev_p = NULL, *shard_dir = NULL;
    const cJSON *model = obj_get(r->root, "model"), *tro = obj_get(r->root, "train"), *mask = obj_get(r->root, "mask");

    if (!cJSON_IsArray(obj_get(r->root, "corpus"))) {
        fprintf(stderr, "persona: %s: an mlm recipe needs a \"corpus\" list\n", a->recipe);
        return PE_EXIT_FAIL;
    }
    run_dir = a->out ? strdup(a->out) : resolve(r->dir, str_or(r->root, "run_dir", NULL));
    if (!run_dir) {
        fprintf(stderr, "persona: no run folder: give --out DIR or \"run_dir\" in the recipe\n");
        rc = PE_EXIT_USAGE;
        goto done;
    }
    const char *env_data = getenv("PERSONA_DATA");
    data_dir = a->data ? strdup(a->data) : env_data ? strdup(env_data) : resolve(r->dir, str_or(r->root, "data_dir", "."));
    vocab_p = resolve(r->dir, str_or(r->root, "vocab", NULL));
    if (!vocab_p || !file_exists(vocab_p)) {
        fprintf(stderr, "persona: the recipe's vocabulary %s does not exist (make one with `persona vocab`)\n",
                vocab_p ? vocab_p : "(none given)");
        rc = PE_EXIT_MISSING;
        goto done;
    }
    pe_tokenizer_options to = pe_tokenizer_options_default();
    to.do_lower_case = cJSON_IsTrue(obj_get(r->root, "cased")) ? 0 : 1;
    pe_status st = pe_tokenizer_open_vocab(vocab_p, &to, &tok, &err);
    if (st != PE_OK) {
        rc = pe_cli_fail(st, "%s", err.msg);
        goto done;
    }
    if (mkdir(run_dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "persona: %s: cannot create: %s\n", run_dir, strerror(errno));
        goto done;
    }
    const int seq_len = (int)num_or(r->root, "seq_len", 128);
    shard_dir = resolve(run_dir, "data");
    train_p = resolve(shard_dir, "train.shard");
    dev_p = resolve(shard_dir, "held-out.shard");
    if (!file_exists(train_p)) {
        mkdir(shard_dir, 0777);
        fprintf(stderr, "persona: tokenising the corpus into %s\n", shard_dir);
        if ((rc = build_shards(r, data_dir, tok, train_p, dev_p, seq_len)) != PE_EXIT_OK) goto done;
        rc = PE_EXIT_FAIL;
    }
    if ((st = pe_token_shard_open(train_p, &train, &err)) != PE_OK ||
        (st = pe_token_shard_open(dev_p, &dev, &err)) != PE_OK) {
        rc = pe_cli_fail(st, "%s", err.msg);
        goto done;
    }
    pe_encoder_config cfg = model_config(model, tok, seq_len);
    pe_trainer_set_threads(a->threads);
    const uint64_t seed = seed_of(tro, a);
    if (strcmp(a->what, "embed") == 0) {
        rc = run_embed(r, a, &cfg, seed, tok, train, run_dir);
        goto done;
    }
    const int case_types = a->case_types || cJSON_IsTrue(obj_get(model, "case_types"));
    if (case_types) {
        cfg.case_types = 1;
        if (cfg.type_vocab < PE_N_CASES) cfg.type_vocab = PE_N_CASES;
    }
    if (a->init && strcmp(a->init, "none") != 0) { /* MLM on from an encoder (e.g. train embed's best/) */
        if ((rc = open_init(a->init, a, case_types, &init_enc, &tr)) != PE_EXIT_OK) goto done;
        rc = PE_EXIT_FAIL;
        const pe_tokenizer *it = pe_encoder_tokenizer(init_enc);
        if (!it || pe_tokenizer_vocab_size(it) != pe_tokenizer_vocab_size(tok)) {
            fprintf(stderr, "persona: %s: its vocabulary is not the recipe's\n", a->init);
            goto done;
        }
    } else {
        st = pe_train_new_random(&cfg, seed, &tr, &err);
    }
    if (st != PE_OK || (st = pe_mlm_head_new(tr, seed, &head, &err)) != PE_OK) {
        rc = pe_cli_fail(st, "%s", err.msg);
        goto done;
    }
    pe_mlm_mask_options mk = pe_mlm_mask_options_default();
    pe_tokenizer_special_ids sid = pe_tokenizer_get_special_ids(tok);
    mk.mask_prob = (float)num_or(mask, "prob", 0.15);
    mk.whole_word = cJSON_IsTrue(obj_get(mask, "whole_word"));
    mk.mask_id = sid.mask;
    mk.vocab_size = cfg.vocab_size;
    mk.n_special = n_special_ids(tok);
    cont = calloc((size_t)cfg.vocab_size, 1);
    if (!cont) {
        rc = pe_cli_fail(PE_ERR_NOMEM, NULL);
        goto done;
    }
    for (int i = 0; i < cfg.vocab_size; i++) {
        const char *t = pe_tokenizer_id_to_token(tok, i);
        cont[i] = t && t[0] == '#' && t[1] == '#' && t[2];
    }
    mk.is_continuation = cont;
    if ((st = pe_mlm_objective_new(head, train, dev, (int)num_or(r->root, "max_dev_seqs", 2000), &mk, &mo, &err)) !=
        PE_OK) {
        rc = pe_cli_fail(st, "%s", err.msg);
        goto done;
    }
    pe_trainer_options o;
    prog g;
    run_opts(tro, 10000, a, run_dir, tok, &g, &o);
    fprintf(stderr,
            "persona: mlm: %d layers, hidden %d, %d heads, vocabulary %d; %zu training sequences; %ld steps of %d "
            "tokens; run folder %s\n",
            cfg.layers, cfg.hidden, cfg.heads, cfg.vocab_size, pe_token_shard_count(train), o.steps, o.batch_tokens,
            run_dir);
    pe_trainer_result res;
    st = pe_trainer_run(tr, pe_mlm_objective_get(mo), &o, &res, &err);
    pe_cli_progress_finish(&g.bar);
    if (st != PE_OK) {
        rc = pe_cli_fail(st, "%s", err.msg);
        goto done;
    }
    if (res.best_step >= 0)
        fprintf(stderr, "persona: done: %ld steps%s, last loss %.4f, best held-out metric %.4f at step %ld, checkpoint %s\n",
                res.steps, res.resumed_from >= 0 ? " (resumed)" : "", res.last_loss, res.best_metric, res.best_step,
                res.last_checkpoint);
    else
        fprintf(stderr, "persona: done: %ld steps%s, last loss %.4f, before the first held-out evaluation (no best/ yet), "
                        "checkpoint %s\n",
                res.steps, res.resumed_from >= 0 ? " (resumed)" : "", res.last_loss, res.last_checkpoint);
    rc = PE_EXIT_OK;
done:
    pe_mlm_objective_free(mo);
    pe_token_shard_close(train);
    pe_token_shard_close(dev);
    pe_mlm_head_free(head);
    pe_train_free(tr);
    pe_encoder_free(init_enc);
    pe_tokenizer_free(tok);
    free(cont);
    free(run_dir);
    free(data_dir);
    free(vocab_p);
    free(train_p);
    free(dev_p);
    free(shard_dir);
    return rc;
}

/* ---- heads: ner and rel ---- */

/* Reads the CoNLL files of a list [{"path", "type_map", "o_prefix",
 * "missing_types", "repeat"}, ...] (or plain strings) into one corpus;
 * "repeat": N counts a file's sentences N times. */
static int read_ner_list(const cJSON *list, const char *data_dir, const char *const *types, int n_types, int strict,
                         pe_ner_corpus **out)
{
    *out = NULL;
    const cJSON *it;
    pe_error err;
    cJSON_ArrayForEach(it, list)
    {
        const char *p = cJSON_IsString(it) ? it->valuestring : str_or(it, "path", NULL);
        if (!p) {
            fprintf(stderr, "persona: a ner data entry has no \"path\"\n");
            return PE_EXIT_FAIL;
        }
        char *path = resolve(data_dir, p);
        if (!path || !file_exists(path)) {
            fprintf(stderr, "persona: %s: no such file\n", path ? path : p);
            free(path);
            return PE_EXIT_MISSING;
        }
        pe_ner_read_options ro = pe_ner_read_options_default();
        ro.type_map = cJSON_IsString(it) ? NULL : str_or(it, "type_map", NULL);
        ro.types = types;
        ro.n_types = n_types;
        ro.strict = strict;
        ro.o_prefix = cJSON_IsString(it) ? NULL : str_or(it, "o_prefix", NULL);
        ro.missing_types = cJSON_IsString(it) ? NULL : str_or(it, "missing_types", NULL);
        if (ro.missing_types && ro.missing_types[0])
            fprintf(stderr, "persona: %s: its O words are trained as O or %s (types it does not annotate)\n", p,
                    ro.missing_types);
        const double repeat = cJSON_IsString(it) ? 1.0 : num_or(it, "repeat", 1.0);
        if (!(repeat >= 1.0 && repeat <= 100.0) || repeat != (double)(int)repeat) {
            fprintf(stderr, "persona: %s: \"repeat\" must be a whole number from 1 to 100\n", p);
            free(path);
            return PE_EXIT_FAIL;
        }
        pe_ner_corpus *c = NULL;
        pe_status st = pe_ner_corpus_read(path, &ro, &c, &err);
        if (st == PE_OK && repeat > 1.0) {
            if ((st = pe_ner_corpus_repeat(c, (int)repeat, &err)) == PE_OK)
                fprintf(stderr, "persona: %s: each sentence counted %d times (%zu in all)\n", p, (int)repeat,
                        pe_ner_corpus_count(c));
        }
        if (st != PE_OK) {
            pe_ner_corpus_free(c);
            free(path);
            return pe_cli_fail(st, "%s", err.msg);
        }
        if (pe_ner_corpus_skipped(c))
            fprintf(stderr, "persona: %s: %zu sentences skipped; first: %s\n", path, pe_ner_corpus_skipped(c),
                    pe_ner_corpus_first_problem(c));
        if (pe_ner_corpus_prefixed_o(c))
            fprintf(stderr, "persona: %s: %zu entity words that start with \"%s\" made O\n", path,
                    pe_ner_corpus_prefixed_o(c), ro.o_prefix);
        free(path);
        if (!*out) {
            *out = c;
        } else {
            st = pe_ner_corpus_append(*out, c, &err);
            pe_ner_corpus_free(c);
            if (st != PE_OK) return pe_cli_fail(st, "%s", err.msg);
        }
    }
    if (!*out) {
        fprintf(stderr, "persona: an empty ner data list\n");
        return PE_EXIT_FAIL;
    }
    return PE_EXIT_OK;
}

static char *labels_json_of(char **ner_labels, int n_ner, char **rel_labels, int n_rel)
{
    cJSON *j = cJSON_CreateObject();
    if (ner_labels) cJSON_AddItemToObject(j, "ner", cJSON_CreateStringArray((const char *const *)ner_labels, n_ner));
    if (rel_labels) cJSON_AddItemToObject(j, "rel", cJSON_CreateStringArray((const char *const *)rel_labels, n_rel));
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

/* ---- names from a graph ("augment_graph" of rel and ner) ---- */

/* 1 when an English label can stand as a name of 1-4 words, at most 40
 * bytes: letters (any script), spaces, hyphens, apostrophes and dots, and
 * with keep_case digits too. Written into out, lower-case unless keep_case
 * (PersonaExt's objects are lower-case; NER texts keep their case). */
static int name_text(const char *label, char *out, size_t cap, int keep_case)
{
    size_t n = strlen(label), k = 0;
    int words = 1;
    if (n == 0 || n > 40 || n + 1 > cap) return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)label[i];
        if (ch == ' ') {
            if (i == 0 || label[i - 1] == ' ' || i + 1 == n) return 0;
            words++;
        } else if (ch < 0x80 && !isalpha(ch) && ch != '-' && ch != '\'' && ch != '.' && !(keep_case && isdigit(ch))) {
            return 0;
        }
        out[k++] = ch < 0x80 && !keep_case ? (char)tolower(ch) : (char)ch;
    }
    out[k] = '\0';
    return words <= 4;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void names_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

/* Appends to v (n of cap) the English labels (name_text) of the subjects
 * of (?, pred, cls). */
static pe_status add_instance_names(pe_kg_reader *kr, pe_kg_id pred, pe_kg_id cls, int keep_case, char ***v, size_t *n,
                                    size_t *cap, pe_error *err)
{
    pe_kg_iter *it = NULL;
    pe_status st = pe_kg_match(kr, 0, pred, cls, &it);
    if (st != PE_OK) return pe_error_set(err, st, "%s", pe_kg_reader_errmsg(kr));
    pe_kg_triple t;
    while ((st = pe_kg_iter_next(it, &t)) == PE_OK) {
        const char *label;
        char text[64];
        if (pe_kg_label(kr, t.s, "en", &label) != PE_OK || !name_text(label, text, sizeof text, keep_case)) continue;
        if (*n == *cap) {
            size_t nc = *cap ? 2 * *cap : 256;
            char **g = realloc(*v, nc * sizeof *g);
            if (!g) {
                st = pe_error_set(err, PE_ERR_NOMEM, "out of memory");
                break;
            }
            *v = g;
            *cap = nc;
        }
        if (!((*v)[*n] = strdup(text))) {
            st = pe_error_set(err, PE_ERR_NOMEM, "out of memory");
            break;
        }
        (*n)++;
    }
    if (st == PE_DONE) st = PE_OK;
    else if (!err->msg[0]) pe_error_set(err, st, "%s", pe_kg_reader_errmsg(kr));
    pe_kg_iter_free(it);
    return st;
}

/* The English labels (name_text) of the entities that are instances (P31
 * or rdf:type: is_a, 0 where the store lacks one) of one of the classes (a
 * JSON array of QIDs or IRIs: "Q11424", "http://dbpedia.org/ontology/Film")
 * in kr, sorted, each once. A class the store lacks is reported and
 * skipped. */
static pe_status graph_names(pe_kg_reader *kr, const pe_kg_id is_a[2], const cJSON *classes, int keep_case,
                             const char *where, char ***out, size_t *n_out, pe_error *err)
{
    char **v = NULL;
    size_t n = 0, cap = 0;
    pe_status st = PE_OK;
    const cJSON *cj;
    *out = NULL;
    *n_out = 0;
    cJSON_ArrayForEach(cj, classes)
    {
        pe_kg_id cls = 0;
        if (!cJSON_IsString(cj) || pe_kg_resolve(kr, cj->valuestring, strlen(cj->valuestring), &cls) != PE_OK) {
            fprintf(stderr, "persona: augment_graph: class %s is not in %s\n", cJSON_IsString(cj) ? cj->valuestring : "?",
                    where);
            continue;
        }
        for (int p = 0; p < 2 && st == PE_OK; p++)
            if (is_a[p]) st = add_instance_names(kr, is_a[p], cls, keep_case, &v, &n, &cap, err);
        if (st != PE_OK) break;
    }
    size_t u = 0; /* sorted, each once */
    if (n) qsort(v, n, sizeof *v, cmp_str);
    for (size_t i = 0; i < n; i++) {
        if (u && !strcmp(v[u - 1], v[i])) free(v[i]);
        else v[u++] = v[i];
    }
    if (st != PE_OK) {
        names_free(v, u);
        return st;
    }
    *out = v;
    *n_out = u;
    return PE_OK;
}

/* Opens --swap-graph for a recipe's "augment_graph" (of `section`) and
 * resolves P31 (which it must hold) and rdf:type (0 when it has none)
 * there. */
static int open_swap_graph(const args *a, const char *section, pe_kg **kg, pe_kg_reader **kr, pe_kg_id is_a[2])
{
    if (!a->swap_graph)
        return pe_cli_error(PE_EXIT_USAGE, "the recipe's %s has \"augment_graph\": give --swap-graph DIR (a graph store, "
                                           "e.g. persona kg import of ../shared/data/kg/subset)", section);
    int rc = pe_cli_open_reader(a->swap_graph, kg, kr);
    if (rc != PE_EXIT_OK) return rc;
    static const char rdf_type[] = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type";
    if (pe_kg_resolve(*kr, rdf_type, sizeof rdf_type - 1, &is_a[1]) != PE_OK) is_a[1] = 0;
    if (pe_kg_resolve(*kr, "P31", 3, &is_a[0]) != PE_OK) {
        pe_kg_reader_end(*kr);
        pe_kg_close(*kg);
        *kr = NULL;
        *kg = NULL;
        return pe_cli_fail(PE_ERR_INVALID, "%s: the graph has no P31 (instance of)", a->swap_graph);
    }
    return PE_EXIT_OK;
}

/* What a recipe's "augment_graph" does with the names of one group (a
 * relation, an entity type). */
typedef pe_status (*graph_names_fn)(void *ctx, const char *group, int copies, char **names, size_t n, pe_error *err);

/* A recipe's "augment_graph" of `section`: {"copies": N, KEY: {"GROUP":
 * [CLASSES], ...}}: for each group, the English labels (graph_names) of
 * the instances of its classes in --swap-graph's store, handed to fn. */
static int with_graph_names(const args *a, const cJSON *ag, const char *section, const char *key, int keep_case,
                            graph_names_fn fn, void *ctx)
{
    const int copies = (int)num_or(ag, "copies", 1.0);
    const cJSON *groups = obj_get(ag, key);
    if (copies <= 0 || !cJSON_IsObject(groups)) return PE_EXIT_OK;
    pe_kg *kg = NULL;
    pe_kg_reader *kr = NULL;
    pe_kg_id is_a[2] = {0, 0};
    int rc = open_swap_graph(a, section, &kg, &kr, is_a);
    if (rc != PE_EXIT_OK) return rc;
    pe_error err;
    pe_error_clear(&err);
    pe_status st = PE_OK;
    const cJSON *g;
    cJSON_ArrayForEach(g, groups)
    {
        char **names = NULL;
        size_t n = 0;
        if ((st = graph_names(kr, is_a, g, keep_case, a->swap_graph, &names, &n, &err)) != PE_OK) break;
        st = fn(ctx, g->string, copies, names, n, &err);
        names_free(names, n);
        if (st != PE_OK) break;
    }
    if (st != PE_OK) rc = pe_cli_fail(st, "%s", err.msg);
    pe_kg_reader_end(kr);
    pe_kg_close(kg);
    return rc;
}

typedef struct rel_objects_ctx {
    const pe_rel_data *train;
    const pe_tokenizer *tok;
    int max_len;
    uint64_t seed;
    pe_tag_data *data;
} rel_objects_ctx;

/* rel's "augment_graph": {"copies": N, "relations": {"RELATION": ["Q515",
 * ...]}}: the names of a relation's classes become objects of `copies`
 * more examples per training utterance of that relation
 * (pe_rel_add_object_examples). */
static pe_status add_rel_objects(void *ctx, const char *relation, int copies, char **names, size_t n, pe_error *err)
{
    const rel_objects_ctx *c = ctx;
    int rel = -1;
    for (int i = 0; i < pe_rel_data_n_relations(c->train); i++)
        if (!strcmp(pe_rel_data_relation(c->train, i), relation)) rel = i;
    if (rel < 0) return pe_error_set(err, PE_ERR_INVALID, "augment_graph: relation %s is not in the training data", relation);
    size_t added = 0;
    pe_status st = PE_OK;
    if (n)
        st = pe_rel_add_object_examples(c->train, c->tok, c->max_len, rel, (const char *const *)names, n, copies,
                                        c->seed + (uint64_t)rel, c->data, &added, err);
    if (st == PE_OK)
        fprintf(stderr, "persona: rel: %zu more training examples of %s with one of %zu graph objects\n", added, relation,
                n);
    return st;
}

typedef struct ner_mentions_ctx {
    const char *const *types;
    int n_types;
    uint64_t seed;
    pe_ner_corpus *train;
} ner_mentions_ctx;

/* ner's "augment_graph": {"copies": N, "types": {"TYPE": ["Q11424", ...]}}:
 * the names (case kept) of a type's classes replace the mentions of that
 * type in `copies` more copies of each training sentence that has one
 * (pe_ner_corpus_add_replaced). */
static pe_status add_ner_mentions(void *ctx, const char *type, int copies, char **names, size_t n, pe_error *err)
{
    const ner_mentions_ctx *c = ctx;
    int t = -1;
    for (int i = 0; i < c->n_types; i++)
        if (!strcmp(c->types[i], type)) t = i;
    if (t < 0) return pe_error_set(err, PE_ERR_INVALID, "augment_graph: type %s is not one of ner's \"types\"", type);
    size_t added = 0;
    pe_status st = PE_OK;
    if (n)
        st = pe_ner_corpus_add_replaced(c->train, type, (const char *const *)names, n, copies, c->seed + (uint64_t)t,
                                        &added, err);
    if (st == PE_OK)
        fprintf(stderr, "persona: ner: %zu more training sentences whose %s mentions are one of %zu graph names\n", added,
                type, n);
    return st;
}

static int run_heads(const recipe *r, const args *a)
{
    int rc = PE_EXIT_FAIL;
    pe_error err;
    pe_error_clear(&err);
    pe_status st;
    const cJSON *nerj = obj_get(r->root, "ner"), *relj = obj_get(r->root, "rel"), *tro = obj_get(r->root, "train");
    const int want_ner = strcmp(a->what, "ner") == 0 || (strcmp(a->what, "tag") == 0 && nerj);
    const int want_rel = strcmp(a->what, "rel") == 0 || (strcmp(a->what, "tag") == 0 && relj);
    if ((want_ner && !cJSON_IsObject(nerj)) || (want_rel && !cJSON_IsObject(relj)) || (!want_ner && !want_rel)) {
        fprintf(stderr, "persona: %s: the recipe needs a \"%s\" section\n", a->recipe,
                want_rel && !want_ner ? "rel" : "ner");
        return PE_EXIT_FAIL;
    }
    char *run_dir = a->out ? strdup(a->out) : resolve(r->dir, str_or(r->root, "run_dir", NULL));
    const char *env_data = getenv("PERSONA_DATA");
    char *data_dir = a->data ? strdup(a->data) : env_data ? strdup(env_data) : resolve(r->dir, str_or(r->root, "data_dir", "."));
    const char *init_s = a->init ? a->init : str_or(r->root, "init", "none");
    char *init = strcmp(init_s, "none") == 0 ? NULL : (a->init ? strdup(a->init) : resolve(r->dir, init_s));
    pe_encoder *enc = NULL;
    pe_train *tr = NULL;
    pe_tokenizer *tok_own = NULL;
    const pe_tokenizer *tok = NULL;
    pe_kg *kg = NULL;
    pe_kg_reader *kr = NULL;
    pe_ner_corpus *ntrain = NULL, *ndev = NULL;
    pe_rel_data *rtrain = NULL, *rdev = NULL;
    pe_tag_data *ntd = NULL, *ndd = NULL, *rtd = NULL, *rdd = NULL;
    pe_token_head *nhead = NULL, *rhead = NULL;
    pe_tag_objective *nobj = NULL, *robj = NULL;
    pe_objective_mix *mix = NULL;
    pe_ner_scorer *nsc = NULL;
    pe_rel_scorer *rsc = NULL;
    char **nlab = NULL, **rlab = NULL, *labels_json = NULL;
    int n_nlab = 0, n_rlab = 0;
    char **types = NULL;
    int n_types = 0;
    if (!run_dir || !data_dir) {
        fprintf(stderr, "persona: no run folder: give --out DIR or \"run_dir\" in the recipe\n");
        rc = PE_EXIT_USAGE;
        goto done;
    }
    pe_trainer_set_threads(a->threads);
    /* the encoder: pretrained, or new */
    const uint64_t seed = seed_of(tro, a);
    const int case_types = a->case_types || cJSON_IsTrue(obj_get(obj_get(r->root, "model"), "case_types"));
    if (init) {
        if ((rc = open_init(init, a, case_types, &enc, &tr)) != PE_EXIT_OK) goto done;
        rc = PE_EXIT_FAIL;
        tok = pe_encoder_tokenizer(enc);
        if (!tok) {
            fprintf(stderr, "persona: %s has no vocabulary\n", init);
            goto done;
        }
    } else {
        char *vocab_p = resolve(r->dir, str_or(r->root, "vocab", NULL));
        if (!vocab_p || !file_exists(vocab_p)) {
            fprintf(stderr, "persona: no initial model and no \"vocab\" in the recipe\n");
            free(vocab_p);
            rc = PE_EXIT_MISSING;
            goto done;
        }
        st = pe_tokenizer_open_vocab(vocab_p, NULL, &tok_own, &err);
        free(vocab_p);
        if (st != PE_OK) {
            rc = pe_cli_fail(st, "%s", err.msg);
            goto done;
        }
        tok = tok_own;
        const cJSON *model = obj_get(r->root, "model");
        pe_encoder_config cfg = model_config(model, tok, 128);
        if (case_types) {
            cfg.case_types = 1;
            if (cfg.type_vocab < PE_N_CASES) cfg.type_vocab = PE_N_CASES;
        }
        if ((st = pe_train_new_random(&cfg, seed, &tr, &err)) != PE_OK) {
            rc = pe_cli_fail(st, "%s", err.msg);
            goto done;
        }
    }
    const int C = pe_train_config(tr)->hidden;
    const int max_len = (int)num_or(r->root, "max_len", pe_train_config(tr)->max_position);
    const pe_objective *objs[2];
    float weights[2];
    int selects[2] = {1, 1};
    int n_obj = 0;
    if (want_ner) {
        const cJSON *tj = obj_get(nerj, "types"), *it;
        n_types = cJSON_GetArraySize(tj);
        types = calloc((size_t)n_types + 1, sizeof *types);
        int i = 0;
        cJSON_ArrayForEach(it, tj) types[i++] = cJSON_IsString(it) ? it->valuestring : NULL;
        if (n_types < 1 || !types) {
            fprintf(stderr, "persona: %s: \"ner\" needs \"types\"\n", a->recipe);
            goto done;
        }
        if ((rc = read_ner_list(obj_get(nerj, "train"), data_dir, (const char *const *)types, n_types, a->strict, &ntrain)) !=
                PE_EXIT_OK ||
            (rc = read_ner_list(obj_get(nerj, "dev"), data_dir, (const char *const *)types, n_types, a->strict, &ndev)) !=
                PE_EXIT_OK)
            goto done;
        const cJSON *nag = obj_get(nerj, "augment_graph");
        ner_mentions_ctx nmc = {(const char *const *)types, n_types, seed + 17, ntrain};
        if (nag && (rc = with_graph_names(a, nag, "ner", "types", 1, add_ner_mentions, &nmc)) != PE_EXIT_OK) goto done;
        rc = PE_EXIT_FAIL;
        int use_graph = cJSON_IsTrue(obj_get(nerj, "graph")) || a->graph;
        const int use = (use_graph ? PE_NER_USE_GRAPH : 0) | (cJSON_IsTrue(obj_get(nerj, "shape")) || a->shape ? PE_NER_USE_SHAPE : 0);
        const int doc_context = cJSON_IsTrue(obj_get(nerj, "doc_context")); /* examples only: the head is the same */
        if (use_graph) {
            if (!a->graph) {
                fprintf(stderr, "persona: the recipe's ner uses the graph feature: give --graph DIR\n");
                rc = PE_EXIT_USAGE;
                goto done;
            }
            if ((rc = pe_cli_open_reader(a->graph, &kg, &kr)) != PE_EXIT_OK) goto done;
            rc = PE_EXIT_FAIL;
        }
        size_t cut = 0, cut2 = 0;
        if ((st = pe_ner_labels_make((const char *const *)types, n_types, &nlab, &n_nlab, &err)) != PE_OK ||
            (st = tag_data_new(&ntd, tr, &err)) != PE_OK || (st = tag_data_new(&ndd, tr, &err)) != PE_OK ||
            (st = pe_ner_add_examples(ntrain, tok, (const char *const *)nlab, n_nlab, max_len, kr,
                                      use | (doc_context ? PE_NER_USE_DOC_CONTEXT : 0), ntd, &cut, &err)) != PE_OK ||
            (st = pe_ner_add_examples(ndev, tok, (const char *const *)nlab, n_nlab, max_len, kr,
                                      use | (doc_context ? PE_NER_USE_DOC_CONTEXT : 0), ndd, &cut2, &err)) != PE_OK ||
            (st = pe_token_head_new("ner", C, n_nlab, pe_ner_feature_count(use), use ? (int)num_or(nerj, "graph_dim", 16) : 0, seed, &nhead, &err)) != PE_OK ||
            /* development scores decode as inference does by default */
            (st = pe_ner_head_decode(nhead, PE_DECODE_VITERBI, &err)) != PE_OK ||
            (st = pe_ner_scorer_new(ndev, tok, (const char *const *)nlab, n_nlab, max_len, doc_context, &nsc, &err)) !=
                PE_OK ||
            (st = pe_tag_objective_new("ner", nhead, ntd, ndd, pe_ner_scorer_score, nsc, &nobj, &err)) != PE_OK) {
            rc = pe_cli_fail(st, "%s", err.msg);
            goto done;
        }
        fprintf(stderr, "persona: ner: %zu training sentences (%zu truncated), %zu development; %d labels%s%s\n",
                pe_ner_corpus_count(ntrain), cut, pe_ner_corpus_count(ndev), n_nlab, use == (PE_NER_USE_GRAPH | PE_NER_USE_SHAPE) ? ", graph and shape features" : use_graph ? ", graph feature" : use ? ", shape feature" : "",
                doc_context ? ", each sentence within its document's context" : "");
        objs[n_obj] = pe_tag_objective_get(nobj);
        selects[n_obj] = !cJSON_IsFalse(obj_get(nerj, "select"));
        weights[n_obj++] = (float)num_or(nerj, "weight", 1.0);
    }
    if (want_rel) {
        char *tp = resolve(data_dir, str_or(relj, "train", "")), *dp = resolve(data_dir, str_or(relj, "dev", ""));
        if (!tp || !dp || !file_exists(tp) || !file_exists(dp)) {
            fprintf(stderr, "persona: %s or %s: no such file\n", tp ? tp : "?", dp ? dp : "?");
            free(tp);
            free(dp);
            rc = PE_EXIT_MISSING;
            goto done;
        }
        st = pe_rel_data_read(tp, NULL, 0, a->strict, &rtrain, &err);
        if (st == PE_OK) {
            const char **rels = calloc((size_t)pe_rel_data_n_relations(rtrain) + 1, sizeof *rels);
            for (int i = 0; rels && i < pe_rel_data_n_relations(rtrain); i++) rels[i] = pe_rel_data_relation(rtrain, i);
            st = rels ? pe_rel_data_read(dp, rels, pe_rel_data_n_relations(rtrain), a->strict, &rdev, &err) : PE_ERR_NOMEM;
            if (st == PE_OK) st = pe_rel_labels_make(rels, pe_rel_data_n_relations(rtrain), &rlab, &n_rlab, &err);
            free(rels);
        }
        free(tp);
        free(dp);
        if (st != PE_OK || (st = tag_data_new(&rtd, tr, &err)) != PE_OK || (st = tag_data_new(&rdd, tr, &err)) != PE_OK ||
            (st = pe_rel_add_examples(rtrain, tok, max_len, rtd, &err)) != PE_OK ||
            (st = pe_rel_add_examples(rdev, tok, max_len, rdd, &err)) != PE_OK) {
            rc = pe_cli_fail(st, "%s", err.msg);
            goto done;
        }
        fprintf(stderr,
                "persona: rel: %zu training utterances (%zu lines skipped, %zu objects not one span, %zu objects "
                "overlapping another: not trained), %zu development; %d relations\n",
                pe_rel_data_count(rtrain), pe_rel_data_skipped(rtrain), pe_rel_data_discontiguous(rtrain),
                pe_rel_data_conflicts(rtrain), pe_rel_data_count(rdev), pe_rel_data_n_relations(rtrain));
        if (pe_rel_data_skipped(rtrain)) fprintf(stderr, "persona: first skipped line: %s\n", pe_rel_data_first_problem(rtrain));
        for (int any = 0; any <= 1; any++) {
            const char *key = any ? "augment_swaps_any" : "augment_swaps";
            const int swaps = (int)num_or(relj, key, 0.0);
            size_t added = 0;
            if (swaps <= 0) continue;
            if ((st = pe_rel_add_swapped_examples(rtrain, tok, max_len, swaps, any, seed + 7 + (uint64_t)any, rtd, &added,
                                                  &err)) != PE_OK) {
                rc = pe_cli_fail(st, "%s", err.msg);
                goto done;
            }
            fprintf(stderr, "persona: rel: %zu more training examples with another utterance's object (%s %d)\n", added,
                    key, swaps);
        }
        const int pairs = (int)num_or(relj, "augment_pairs", 0.0);
        if (pairs > 0) {
            size_t added = 0;
            if ((st = pe_rel_add_paired_examples(rtrain, tok, max_len, pairs, seed + 13, rtd, &added, &err)) != PE_OK) {
                rc = pe_cli_fail(st, "%s", err.msg);
                goto done;
            }
            fprintf(stderr, "persona: rel: %zu more training examples of two utterances with both triples (augment_pairs %d)\n",
                    added, pairs);
        }
        const cJSON *ag = obj_get(relj, "augment_graph");
        rel_objects_ctx roc = {rtrain, tok, max_len, seed + 11, rtd};
        if (ag && (rc = with_graph_names(a, ag, "rel", "relations", 0, add_rel_objects, &roc)) != PE_EXIT_OK) goto done;
        rc = PE_EXIT_FAIL;
        /* the objective after every training example is in */
        if ((st = pe_token_head_new("rel", C, n_rlab, 0, 0, seed + 1, &rhead, &err)) != PE_OK ||
            (st = pe_rel_head_decode(rhead, PE_DECODE_VITERBI, &err)) != PE_OK ||
            (st = pe_rel_scorer_new(rdev, tok, max_len, &rsc, &err)) != PE_OK ||
            (st = pe_tag_objective_new("rel", rhead, rtd, rdd, pe_rel_scorer_score, rsc, &robj, &err)) != PE_OK) {
            rc = pe_cli_fail(st, "%s", err.msg);
            goto done;
        }
        objs[n_obj] = pe_tag_objective_get(robj);
        selects[n_obj] = !cJSON_IsFalse(obj_get(relj, "select"));
        weights[n_obj++] = (float)num_or(relj, "weight", 1.0);
    }
    const pe_objective *obj = objs[0];
    if (n_obj > 1) {
        if ((st = pe_objective_mix_new(objs, weights, n_obj, "tag", C, &mix, &err)) != PE_OK) {
            rc = pe_cli_fail(st, "%s", err.msg);
            goto done;
        }
        for (int c = 0; c < n_obj; c++)
            if (!selects[c] && (st = pe_objective_mix_select(mix, c, 0, &err)) != PE_OK) {
                rc = pe_cli_fail(st, "%s: \"select\": false: %s", a->recipe, err.msg);
                goto done;
            }
        obj = pe_objective_mix_get(mix);
    } else if (!selects[0]) {
        fprintf(stderr, "persona: %s: \"select\": false needs another head whose development metric selects\n", a->recipe);
        rc = PE_EXIT_USAGE;
        goto done;
    }
    labels_json = labels_json_of(nlab, n_nlab, rlab, n_rlab);
    pe_trainer_options o;
    prog g;
    run_opts(tro, 2000, a, run_dir, tok, &g, &o);
    o.labels_json = labels_json;
    pe_trainer_result res;
    st = pe_trainer_run(tr, obj, &o, &res, &err);
    pe_cli_progress_finish(&g.bar);
    if (st != PE_OK) {
        rc = pe_cli_fail(st, "%s", err.msg);
        goto done;
    }
    const cJSON *ex = obj_get(r->root, "export");
    if (res.best_step >= 0)
        fprintf(stderr, "persona: done: %ld steps%s%s, best development metric %.4f at step %ld\n", res.steps,
                res.resumed_from >= 0 ? " (resumed)" : "", res.stopped_early ? " (stopped early)" : "",
                res.best_metric, res.best_step);
    else
        fprintf(stderr, "persona: done: %ld steps%s, before the first development evaluation: no best/ yet%s\n",
                res.steps, res.resumed_from >= 0 ? " (resumed)" : "",
                ex ? ", nothing exported (go on with --resume)" : "");
    if (ex && res.best_step >= 0) {
        char *best = resolve(run_dir, "best"), *pem = a->out && str_or(ex, "out_in_run", NULL) ? NULL : resolve(r->dir, str_or(ex, "pem", NULL));
        pe_encoder_convert_options co = pe_encoder_convert_options_default();
        co.f16 = cJSON_IsTrue(obj_get(ex, "f16"));
        co.model_id = str_or(ex, "model_id", NULL);
        co.model_version = str_or(ex, "model_version", NULL);
        co.training_data = str_or(ex, "training_data", NULL);
        if (a->out) { /* a run elsewhere writes its model file into its own folder */
            free(pem);
            pem = resolve(run_dir, "model.pem");
        }
        st = best && pem ? pe_encoder_convert_hf(best, pem, &co, &err) : PE_ERR_NOMEM;
        if (st != PE_OK) {
            rc = pe_cli_fail(st, "%s", err.msg);
            free(best);
            free(pem);
            goto done;
        }
        fprintf(stderr, "persona: wrote %s\n", pem);
        free(best);
        free(pem);
    }
    rc = PE_EXIT_OK;
done:
    pe_objective_mix_free(mix);
    pe_tag_objective_free(nobj);
    pe_tag_objective_free(robj);
    pe_ner_scorer_free(nsc);
    pe_rel_scorer_free(rsc);
    pe_token_head_free(nhead);
    pe_token_head_free(rhead);
    pe_tag_data_free(ntd);
    pe_tag_data_free(ndd);
    pe_tag_data_free(rtd);
    pe_tag_data_free(rdd);
    pe_ner_corpus_free(ntrain);
    pe_ner_corpus_free(ndev);
    pe_rel_data_free(rtrain);
    pe_rel_data_free(rdev);
    pe_ner_labels_free(nlab, n_nlab);
    pe_rel_labels_free(rlab, n_rlab);
    free(types);
    free(labels_json);
    pe_kg_reader_end(kr);
    pe_kg_close(kg);
    pe_train_free(tr);
    pe_encoder_free(enc);
    pe_tokenizer_free(tok_own);
    free(run_dir);
    free(data_dir);
    free(init);
    return rc;
}

int pe_cmd_train(int argc, char **argv)
{
    args a = {0};
    size_t steps = 0, until = 0, seed = 0;
    const pe_cli_opt opts[] = {
        {"--recipe", PE_CLI_STRING, &a.recipe},
        {"--out", PE_CLI_STRING, &a.out},
        {"--data", PE_CLI_STRING, &a.data},
        {"--init", PE_CLI_STRING, &a.init},
        {"--graph", PE_CLI_STRING, &a.graph},
        {"--swap-graph", PE_CLI_STRING, &a.swap_graph},
        {"--shape", PE_CLI_FLAG, &a.shape},
        {"--case-types", PE_CLI_FLAG, &a.case_types},
        {"--resume", PE_CLI_FLAG, &a.resume},
        {"--strict", PE_CLI_FLAG, &a.strict},
        {"--steps", PE_CLI_SIZE, &steps, .min = 1, .max = 1e15},
        {"--until", PE_CLI_SIZE, &until, .min = 1, .max = 1e15},
        {"--seed", PE_CLI_SIZE, &seed, .min = 1, .max = 1e15},
        {"--threads", PE_CLI_INT, &a.threads, .min = 1, .max = 1024},
        {0}};
    const pe_cli_spec spec = {"train", usage, opts, 1, 1, exit_notes};
    int np, prc = pe_cli_parse(&spec, argc, argv, &np);
    if (prc != PE_CLI_RUN) return prc;
    a.what = argv[1];
    a.steps = (long)steps;
    a.until = (long)until;
    a.seed = (uint64_t)seed;
    if (strcmp(a.what, "mlm") && strcmp(a.what, "embed") && strcmp(a.what, "ner") && strcmp(a.what, "rel") &&
        strcmp(a.what, "tag"))
        return pe_cli_error(PE_EXIT_USAGE, "unknown objective '%s' (mlm, embed, ner, rel or tag)", a.what);
    if (!a.recipe) return pe_cli_error(PE_EXIT_USAGE, "--recipe FILE is required (see --help)");
    if ((prc = pe_cli_need_file("recipe", a.recipe)) != PE_EXIT_OK) return prc;
    if (a.graph && (prc = pe_cli_need_file("graph store", a.graph)) != PE_EXIT_OK) return prc;
    recipe r = {0};
    {
        char *text = NULL;
        pe_error rerr;
        pe_status rst = pe_file_read(a.recipe, 64u << 20, &text, NULL, &rerr);
        if (rst >= PE_ERR_FIRST) return pe_cli_fail(rst, "%s", rerr.msg);
        r.root = cJSON_Parse(text);
        pe_free(text);
        if (!cJSON_IsObject(r.root)) {
            fprintf(stderr, "persona: %s: not a recipe (a JSON object)\n", a.recipe);
            cJSON_Delete(r.root);
            return PE_EXIT_FAIL;
        }
        char *d = strdup(a.recipe), *sl = d ? strrchr(d, '/') : NULL;
        if (sl) *sl = '\0';
        else if (d) strcpy(d, ".");
        r.dir = d;
    }
    int rc = strcmp(a.what, "mlm") == 0 || strcmp(a.what, "embed") == 0 ? run_mlm(&r, &a) : run_heads(&r, &a);
    free(r.dir);
    cJSON_Delete(r.root);
    return rc;
}
