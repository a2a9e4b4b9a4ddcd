/* test_trainer.c - the trainer shared by every objective (pe_trainer.h):
 * the MLM head's gradients against central differences, BERT masking,
 * token shards (round trip, damaged files), the loop's exact resumption
 * after a kill (with and without the weights' moving average), a
 * non-finite loss keeping the last checkpoint, the run
 * folder's lock and refusal to overwrite a checkpoint. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "model_internal.h"
#include "pe_test.h"
#include "pe_trainer.h"
#include "train_internal.h"

static char tmpdir[512];

static pe_encoder_config tiny_cfg(int V)
{
    pe_encoder_config c;
    memset(&c, 0, sizeof c);
    c.vocab_size = V;
    c.hidden = 8;
    c.layers = 1;
    c.heads = 2;
    c.intermediate = 16;
    c.max_position = 32;
    c.type_vocab = 2;
    c.layer_norm_eps = 1e-12f;
    return c;
}

static double frand(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return ((*s >> 8) & 0xffff) / 65536.0 - 0.5;
}

/* ---- the MLM head against central differences ---- */

static double head_loss(pe_mlm_head *h, const float *hidden, const int32_t *labels, int T)
{
    double ls = 0, cnt = 0;
    pe_error err;
    pe_mlm_head_loss(h, hidden, labels, T, 1.0f, NULL, &ls, &cnt, NULL, &err);
    return ls / cnt;
}

static void test_mlm_head_gradients(void)
{
    pe_encoder_config cfg = tiny_cfg(12);
    pe_error err;
    pe_train *tr = NULL;
    pe_mlm_head *h = NULL;
    PE_CHECK_EQ_INT(pe_train_new_random(&cfg, 3, &tr, &err), PE_OK);
    PE_CHECK_EQ_INT(pe_mlm_head_new(tr, 5, &h, &err), PE_OK);
    if (!tr || !h) return;
    int n;
    const pe_train_param *hp = pe_mlm_head_params(h, &n);
    PE_CHECK_EQ_INT(n, 5);
    PE_CHECK_EQ_STR(hp[0].name, "cls.predictions.transform.dense.weight");
    /* make the LayerNorm and biases non-trivial */
    unsigned s = 7;
    for (int i = 1; i < n; i++)
        for (int64_t k = 0; k < hp[i].numel; k++) hp[i].data[k] += (float)(0.2 * frand(&s));
    const int T = 6, C = cfg.hidden;
    float hidden[6 * 8], dh[6 * 8];
    for (int i = 0; i < T * C; i++) hidden[i] = (float)(2.0 * frand(&s));
    int32_t labels[6] = {3, -100, 7, 11, -100, 0};
    pe_train_param word;
    PE_CHECK_EQ_INT(pe_train_param_find(tr, "embeddings.word_embeddings.weight", &word), PE_OK);
    pe_train_zero_grad(tr);
    pe_params_zero_grad(hp, n);
    memset(dh, 0, sizeof dh);
    double ls, cnt, ok;
    PE_CHECK_EQ_INT(pe_mlm_head_loss(h, hidden, labels, T, 1.0f, dh, &ls, &cnt, &ok, &err), PE_OK);
    PE_CHECK_EQ_INT((long)cnt, 4);
    /* unlabelled rows get no gradient */
    for (int c = 0; c < C; c++) PE_CHECK(dh[1 * C + c] == 0.0f && dh[4 * C + c] == 0.0f);
    const double eps = 1e-3;
    int checked = 0, bad = 0;
    /* hidden */
    for (int i = 0; i < T * C; i += 3) {
        float keep = hidden[i];
        hidden[i] = keep + (float)eps;
        double lp = head_loss(h, hidden, labels, T);
        hidden[i] = keep - (float)eps;
        double lm = head_loss(h, hidden, labels, T);
        hidden[i] = keep;
        double num = (lp - lm) / (2 * eps);
        checked++;
        if (fabs(num - dh[i]) > 2e-3 + 3e-2 * fabs(num)) {
            bad++;
            fprintf(stderr, "hidden[%d]: numeric %g analytic %g\n", i, num, (double)dh[i]);
        }
    }
    /* every head parameter and the tied word embeddings */
    const pe_train_param *sets[6] = {&hp[0], &hp[1], &hp[2], &hp[3], &hp[4], &word};
    for (int p = 0; p < 6; p++) {
        const pe_train_param *q = sets[p];
        for (int64_t i = 0; i < q->numel; i += (q->numel > 20 ? 7 : 1)) {
            float keep = q->data[i];
            q->data[i] = keep + (float)eps;
            double lp = head_loss(h, hidden, labels, T);
            q->data[i] = keep - (float)eps;
            double lm = head_loss(h, hidden, labels, T);
            q->data[i] = keep;
            double num = (lp - lm) / (2 * eps);
            checked++;
            if (fabs(num - q->grad[i]) > 2e-3 + 3e-2 * fabs(num)) {
                bad++;
                fprintf(stderr, "%s[%lld]: numeric %g analytic %g\n", q->name, (long long)i, num, (double)q->grad[i]);
            }
        }
    }
    PE_CHECK(checked > 50);
    PE_CHECK_EQ_INT(bad, 0);
    /* a label outside the vocabulary */
    int32_t badl[6] = {3, -100, 12, -100, -100, -100};
    PE_CHECK_EQ_INT(pe_mlm_head_loss(h, hidden, badl, T, 1.0f, NULL, &ls, &cnt, NULL, &err), PE_ERR_INVALID);
    pe_mlm_head_free(h);
    pe_train_free(tr);
}

/* ---- masking ---- */

static void test_masking(void)
{
    enum { N = 20000, V = 1000 };
    int32_t *ids = malloc(N * sizeof *ids), *m = malloc(N * sizeof *m), *lab = malloc(N * sizeof *lab),
            *m2 = malloc(N * sizeof *m2), *lab2 = malloc(N * sizeof *lab2);
    unsigned char *cont = calloc(V, 1);
    for (int i = 0; i < N; i++) ids[i] = i % 50 == 0 ? 2 : 5 + (int32_t)((i * 7919u) % (V - 5));
    pe_mlm_mask_options o = pe_mlm_mask_options_default();
    o.vocab_size = V;
    pe_mlm_mask(ids, N, &o, 42, m, lab);
    int chosen = 0, masked = 0, random = 0, kept = 0, special_touched = 0;
    for (int i = 0; i < N; i++) {
        if (ids[i] < 5) {
            special_touched += lab[i] != -100 || m[i] != ids[i];
            continue;
        }
        if (lab[i] == -100) {
            PE_CHECK(m[i] == ids[i]);
            continue;
        }
        PE_CHECK_EQ_INT(lab[i], ids[i]);
        chosen++;
        if (m[i] == 4) masked++;
        else if (m[i] == ids[i]) kept++;
        else {
            random++;
            PE_CHECK(m[i] >= 5 && m[i] < V);
        }
    }
    PE_CHECK_EQ_INT(special_touched, 0);
    const double nn = N - N / 50;
    PE_CHECK_NEAR(chosen / nn, 0.15, 0.015);
    PE_CHECK_NEAR((double)masked / chosen, 0.8, 0.03);
    PE_CHECK(random > chosen / 20 && kept > chosen / 20);
    /* deterministic in the seed, different for another */
    pe_mlm_mask(ids, N, &o, 42, m2, lab2);
    PE_CHECK(memcmp(m, m2, N * sizeof *m) == 0 && memcmp(lab, lab2, N * sizeof *lab) == 0);
    pe_mlm_mask(ids, N, &o, 43, m2, lab2);
    PE_CHECK(memcmp(lab, lab2, N * sizeof *lab) != 0);
    /* whole words: every piece of a word shares the choice */
    for (int v = 600; v < V; v++) cont[v] = 1;
    for (int i = 0; i < N; i++) ids[i] = i % 4 == 0 ? 10 + (i % 500) : 600 + (i % 400);
    o.whole_word = 1;
    o.is_continuation = cont;
    pe_mlm_mask(ids, N, &o, 9, m, lab);
    int split = 0, words = 0;
    for (int i = 0; i < N; i += 4) {
        int a = lab[i] != -100;
        words += a;
        for (int k = 1; k < 4; k++) split += (lab[i + k] != -100) != a;
    }
    PE_CHECK_EQ_INT(split, 0);
    PE_CHECK(words > N / 4 / 10);
    free(ids);
    free(m);
    free(lab);
    free(m2);
    free(lab2);
    free(cont);
}

/* ---- shards ---- */

static pe_tokenizer *fixture_tok(void)
{
    pe_tokenizer *tok = NULL;
    pe_error err;
    if (pe_tokenizer_open_vocab(PE_FIXTURES "/tokenizer/vocab.txt", NULL, &tok, &err) != PE_OK)
        fprintf(stderr, "vocab: %s\n", err.msg);
    return tok;
}

static const char *const lines[] = {
    "i live in paris and i like cats .",
    "my dog is called max , he is a good dog .",
    "i work as a teacher in a school .",
    "do you like music ? i play the guitar .",
    "my favorite food is pizza .",
    "i have two sisters and a brother .",
};

static int make_shards(const char *dir, pe_tokenizer *tok, int reps)
{
    char tp[600], dp[600];
    snprintf(tp, sizeof tp, "%s/train.shard", dir);
    snprintf(dp, sizeof dp, "%s/dev.shard", dir);
    pe_error err;
    pe_shard_writer *w = NULL;
    if (pe_shard_writer_new(tp, dp, tok, 16, 5, &w, &err) != PE_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    int rc = 0;
    for (int r = 0; r < reps && rc == 0; r++) {
        for (size_t i = 0; i < sizeof lines / sizeof *lines; i++)
            if (pe_shard_writer_add_text(w, lines[i], strlen(lines[i]), &err) != PE_OK) rc = -1;
        if (pe_shard_writer_end_document(w, &err) != PE_OK) rc = -1;
    }
    uint64_t ns, nt;
    if (rc == 0 && pe_shard_writer_finish(w, &ns, &nt, &err) != PE_OK) rc = -1;
    pe_shard_writer_free(w);
    return rc;
}

static void test_shards(void)
{
    pe_tokenizer *tok = fixture_tok();
    PE_CHECK(tok != NULL);
    if (!tok) return;
    char dir[600], tp[700];
    snprintf(dir, sizeof dir, "%s/shards", tmpdir);
    mkdir(dir, 0777);
    PE_CHECK_EQ_INT(make_shards(dir, tok, 10), 0);
    snprintf(tp, sizeof tp, "%s/train.shard", dir);
    pe_token_shard *s = NULL;
    pe_error err;
    PE_CHECK_EQ_INT(pe_token_shard_open(tp, &s, &err), PE_OK);
    if (!s) return;
    PE_CHECK(pe_token_shard_count(s) > 10);
    PE_CHECK_EQ_INT(pe_token_shard_vocab_size(s), pe_tokenizer_vocab_size(tok));
    pe_tokenizer_special_ids sid = pe_tokenizer_get_special_ids(tok);
    for (size_t i = 0; i < pe_token_shard_count(s); i++) {
        int len;
        const uint16_t *q = pe_token_shard_seq(s, i, &len);
        PE_CHECK(len >= 3 && len <= 16);
        PE_CHECK(q[0] == sid.cls && q[len - 1] == sid.sep);
    }
    /* the first sequence is the start of the first line */
    pe_tokenizer_encode_options eo = pe_tokenizer_encode_options_default();
    eo.add_special_tokens = 0;
    pe_encoding *e = NULL;
    pe_tokenizer_encode(tok, lines[0], strlen(lines[0]), NULL, 0, &eo, &e, &err);
    int len;
    const uint16_t *q = pe_token_shard_seq(s, 0, &len);
    for (int i = 1; e && i < len - 1 && (size_t)(i - 1) < e->len; i++) PE_CHECK_EQ_INT(q[i], e->ids[i - 1]);
    pe_encoding_free(e);
    pe_token_shard_close(s);
    /* damage: a case type beyond the four, a token id beyond the vocabulary
     * (the last token: just before the n_tok bytes of case types), a
     * truncated file */
    FILE *f = fopen(tp, "r+b");
    unsigned char head[32];
    PE_CHECK(fread(head, 1, 32, f) == 32);
    PE_CHECK(memcmp(head, "PESHARD2", 8) == 0);
    long ntok = 0;
    for (int i = 7; i >= 0; i--) ntok = ntok << 8 | head[24 + i];
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, sz - 1, SEEK_SET);
    unsigned char four = 4;
    fwrite(&four, 1, 1, f);
    fflush(f);
    s = NULL;
    PE_CHECK_EQ_INT(pe_token_shard_open(tp, &s, &err), PE_ERR_CORRUPT);
    PE_CHECK(s == NULL && strstr(err.msg, "case type 4"));
    unsigned char zero = 0;
    fseek(f, sz - 1, SEEK_SET);
    fwrite(&zero, 1, 1, f);
    fseek(f, sz - ntok - 2, SEEK_SET);
    unsigned char big[2] = {0xff, 0xff};
    fwrite(big, 1, 2, f);
    fclose(f);
    PE_CHECK_EQ_INT(pe_token_shard_open(tp, &s, &err), PE_ERR_CORRUPT);
    PE_CHECK(s == NULL && strstr(err.msg, "outside the vocabulary"));
    PE_CHECK(truncate(tp, sz - 7) == 0);
    PE_CHECK_EQ_INT(pe_token_shard_open(tp, &s, &err), PE_ERR_CORRUPT);
    PE_CHECK(strstr(err.msg, "sizes") != NULL);
    pe_tokenizer_free(tok);
}

/* ---- case types: shards keep each token's letter case, MLM reads them ---- */

static void test_mlm_case_types(void)
{
    pe_tokenizer *tok = fixture_tok();
    PE_CHECK(tok != NULL);
    if (!tok) return;
    char dir[600], tp[700], dp[700], v1[700];
    snprintf(dir, sizeof dir, "%s/case-shards", tmpdir);
    mkdir(dir, 0777);
    snprintf(tp, sizeof tp, "%s/train.shard", dir);
    snprintf(dp, sizeof dp, "%s/dev.shard", dir);
    snprintf(v1, sizeof v1, "%s/v1.shard", dir);
    pe_error err;
    pe_shard_writer *w = NULL;
    const char *text = "My dog Max likes Paris and NASA .";
    PE_CHECK_EQ_INT(pe_shard_writer_new(tp, dp, tok, 32, 3, &w, &err), PE_OK);
    for (int r = 0; w && r < 6; r++) {
        PE_CHECK_EQ_INT(pe_shard_writer_add_text(w, text, strlen(text), &err), PE_OK);
        PE_CHECK_EQ_INT(pe_shard_writer_end_document(w, &err), PE_OK);
    }
    PE_CHECK_EQ_INT(pe_shard_writer_finish(w, NULL, NULL, &err), PE_OK);
    pe_shard_writer_free(w);
    pe_token_shard *tsh = NULL, *dsh = NULL;
    PE_CHECK_EQ_INT(pe_token_shard_open(tp, &tsh, &err), PE_OK);
    PE_CHECK_EQ_INT(pe_token_shard_open(dp, &dsh, &err), PE_OK);
    if (!tsh || !dsh) {
        pe_token_shard_close(tsh);
        pe_tokenizer_free(tok);
        return;
    }
    /* the types are pe_encoding_case_types of the text, 0 at [CLS] and [SEP] */
    pe_tokenizer_encode_options eo = pe_tokenizer_encode_options_default();
    eo.add_special_tokens = 0;
    pe_encoding *e = NULL;
    PE_CHECK_EQ_INT(pe_tokenizer_encode(tok, text, strlen(text), NULL, 0, &eo, &e, &err), PE_OK);
    int32_t want[64];
    if (e) pe_encoding_case_types(e, text, want);
    int len;
    pe_token_shard_seq(tsh, 0, &len);
    const uint8_t *ty = pe_token_shard_types(tsh, 0);
    PE_CHECK(ty != NULL && e && len == (int)e->len + 2);
    int seen[PE_N_CASES] = {0};
    for (int i = 0; ty && e && i < len && i < (int)e->len + 2; i++) {
        const int32_t exp = i == 0 || i == len - 1 ? 0 : want[i - 1];
        PE_CHECK_EQ_INT(ty[i], exp);
        seen[ty[i]]++;
    }
    PE_CHECK(seen[PE_CASE_LOWER] > 0 && seen[PE_CASE_CAPITALISED] >= 3 && seen[PE_CASE_UPPER] >= 1);
    pe_encoding_free(e);

    /* an encoder with case types gets the shard's types in its batches */
    pe_encoder_config cfg = tiny_cfg((int)pe_tokenizer_vocab_size(tok));
    cfg.type_vocab = PE_N_CASES;
    cfg.case_types = 1;
    pe_train *tr = NULL;
    pe_mlm_head *h = NULL;
    pe_mlm_objective *mo = NULL;
    PE_CHECK_EQ_INT(pe_train_new_random(&cfg, 3, &tr, &err), PE_OK);
    if (tr) PE_CHECK_EQ_INT(pe_mlm_head_new(tr, 3, &h, &err), PE_OK);
    pe_mlm_mask_options mk = pe_mlm_mask_options_default();
    mk.vocab_size = cfg.vocab_size;
    if (h) PE_CHECK_EQ_INT(pe_mlm_objective_new(h, tsh, dsh, 0, &mk, &mo, &err), PE_OK);
    if (mo) {
        const pe_objective *ob = pe_mlm_objective_get(mo);
        size_t idx[2] = {0, 1};
        int32_t ids[128], types[128];
        int lengths[2];
        PE_CHECK_EQ_INT(ob->batch(ob->ctx, idx, 2, 7, ids, types, lengths, &err), PE_OK);
        int t = 0;
        for (int k = 0; k < 2; k++) {
            const uint8_t *q = pe_token_shard_types(tsh, idx[k]);
            for (int i = 0; i < lengths[k]; i++, t++) PE_CHECK_EQ_INT(types[t], q[i]);
        }
        pe_eval_result ev;
        memset(&ev, 0, sizeof ev);
        PE_CHECK_EQ_INT(ob->evaluate(ob->ctx, tr, &ev, &err), PE_OK);
        PE_CHECK(isfinite(ev.metric) && ev.metric < 0);
    }
    pe_mlm_objective_free(mo);
    mo = NULL;

    /* a version 1 file (no types) still opens, but not for case types */
    FILE *f = fopen(tp, "rb"), *g = fopen(v1, "wb");
    PE_CHECK(f && g);
    if (f && g) {
        unsigned char buf[1 << 12];
        size_t n = fread(buf, 1, sizeof buf, f);
        PE_CHECK(n < sizeof buf);
        long ntok = 0;
        for (int i = 7; i >= 0; i--) ntok = ntok << 8 | buf[24 + i];
        memcpy(buf, "PESHARD1", 8);
        PE_CHECK(fwrite(buf, 1, n - (size_t)ntok, g) == n - (size_t)ntok);
    }
    if (f) fclose(f);
    if (g) fclose(g);
    pe_token_shard *old = NULL;
    PE_CHECK_EQ_INT(pe_token_shard_open(v1, &old, &err), PE_OK);
    if (old) {
        PE_CHECK(pe_token_shard_types(old, 0) == NULL);
        PE_CHECK_EQ_INT(pe_token_shard_count(old), pe_token_shard_count(tsh));
        if (h) {
            PE_CHECK_EQ_INT(pe_mlm_objective_new(h, old, dsh, 0, &mk, &mo, &err), PE_ERR_INVALID);
            PE_CHECK(mo == NULL && strstr(err.msg, "case types") && strstr(err.msg, "v1.shard"));
        }
    }
    pe_token_shard_close(old);
    pe_mlm_head_free(h);
    pe_train_free(tr);
    pe_token_shard_close(tsh);
    pe_token_shard_close(dsh);
    pe_tokenizer_free(tok);
}

/* ---- the loop: exact resumption after a kill ---- */

typedef struct kill_at {
    long step;
} kill_at;

static void kill_progress(const pe_trainer_progress *p, void *user)
{
    const kill_at *k = user;
    if (k && p->step >= k->step) raise(SIGKILL);
}

static pe_status run_mlm_ema(const char *shards, const char *dir, int resume, long kill_step, float ema, long steps,
                             long until, pe_trainer_result *res, pe_error *err)
{
    pe_tokenizer *tok = fixture_tok();
    pe_encoder_config cfg = tiny_cfg((int)pe_tokenizer_vocab_size(tok));
    pe_train *tr = NULL;
    pe_mlm_head *h = NULL;
    pe_token_shard *tsh = NULL, *dsh = NULL;
    pe_mlm_objective *mo = NULL;
    char tp[700], dp[700];
    snprintf(tp, sizeof tp, "%s/train.shard", shards);
    snprintf(dp, sizeof dp, "%s/dev.shard", shards);
    pe_status st;
    if ((st = pe_train_new_random(&cfg, 11, &tr, err)) != PE_OK || (st = pe_mlm_head_new(tr, 11, &h, err)) != PE_OK ||
        (st = pe_token_shard_open(tp, &tsh, err)) != PE_OK || (st = pe_token_shard_open(dp, &dsh, err)) != PE_OK)
        goto done;
    pe_mlm_mask_options mk = pe_mlm_mask_options_default();
    mk.vocab_size = cfg.vocab_size;
    mk.mask_prob = 0.3f;
    if ((st = pe_mlm_objective_new(h, tsh, dsh, 0, &mk, &mo, err)) != PE_OK) goto done;
    pe_trainer_options o = pe_trainer_options_default();
    o.dir = dir;
    o.steps = steps;
    o.ema = ema;
    o.stop_after = until;
    o.batch_tokens = 64;
    o.lr = 3e-3f;
    o.warmup = steps < 3 ? 0 : 3;
    o.schedule = PE_SCHEDULE_COSINE;
    o.accum = 2;
    o.log_every = 1;
    o.checkpoint_every = 4;
    o.eval_every = 4;
    o.resume = resume;
    o.tokenizer = tok;
    kill_at k = {kill_step};
    if (kill_step > 0) {
        o.progress = kill_progress;
        o.progress_user = &k;
    }
    st = pe_trainer_run(tr, pe_mlm_objective_get(mo), &o, res, err);
done:
    pe_mlm_objective_free(mo);
    pe_token_shard_close(tsh);
    pe_token_shard_close(dsh);
    pe_mlm_head_free(h);
    pe_train_free(tr);
    pe_tokenizer_free(tok);
    return st;
}

static pe_status run_mlm(const char *shards, const char *dir, int resume, long kill_step, pe_trainer_result *res,
                         pe_error *err)
{
    return run_mlm_ema(shards, dir, resume, kill_step, 0.0f, 12, 0, res, err);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) n = 0;
    if (s) s[n] = '\0';
    fclose(f);
    return s;
}

/* 1 when dir_a/rel and dir_b/rel exist and hold the same bytes. */
static int same_file(const char *dir_a, const char *dir_b, const char *rel)
{
    char pa[700], pb[700];
    snprintf(pa, sizeof pa, "%s/%s", dir_a, rel);
    snprintf(pb, sizeof pb, "%s/%s", dir_b, rel);
    char *wa = slurp(pa), *wb = slurp(pb);
    struct stat sa, sb;
    int same = wa && wb && stat(pa, &sa) == 0 && stat(pb, &sb) == 0 && sa.st_size == sb.st_size &&
               memcmp(wa, wb, (size_t)sa.st_size) == 0;
    free(wa);
    free(wb);
    return same;
}

/* The log without the timing fields (tokens, tokens_per_s), which differ. */
static char *log_sans_timing(const char *dir)
{
    char p[700];
    snprintf(p, sizeof p, "%s/log.jsonl", dir);
    char *s = slurp(p);
    if (!s) return NULL;
    char *o = malloc(strlen(s) + 1), *w = o;
    for (char *r = s; *r;) {
        char *t = strstr(r, ",\"tokens\":");
        char *nl = strchr(r, '\n');
        if (t && nl && t < nl) {
            memcpy(w, r, (size_t)(t - r));
            w += t - r;
            *w++ = '}';
            *w++ = '\n';
        } else if (nl) {
            memcpy(w, r, (size_t)(nl + 1 - r));
            w += nl + 1 - r;
        } else {
            break;
        }
        r = nl + 1;
    }
    *w = '\0';
    free(s);
    return o;
}

static void test_resume_after_kill(void)
{
    pe_tokenizer *tok = fixture_tok();
    char shards[600], a[600], b[600];
    snprintf(shards, sizeof shards, "%s/rs", tmpdir);
    snprintf(a, sizeof a, "%s/run-a", tmpdir);
    snprintf(b, sizeof b, "%s/run-b", tmpdir);
    mkdir(shards, 0777);
    PE_CHECK_EQ_INT(make_shards(shards, tok, 6), 0);
    pe_tokenizer_free(tok);
    pe_error err;
    pe_trainer_result ra, rb;
    /* uninterrupted */
    PE_CHECK_EQ_INT(run_mlm(shards, a, 0, 0, &ra, &err), PE_OK);
    PE_CHECK_EQ_INT(ra.steps, 12);
    PE_CHECK_EQ_INT(ra.resumed_from, -1);
    PE_CHECK(isfinite(ra.last_loss));
    /* killed after step 10 (checkpoint of step 8 written), then resumed */
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        run_mlm(shards, b, 0, 10, NULL, &err);
        _exit(0); /* not reached when the kill happened */
    }
    int wst = 0;
    waitpid(pid, &wst, 0);
    PE_CHECK(WIFSIGNALED(wst) && WTERMSIG(wst) == SIGKILL);
    /* without --resume the folder is refused */
    PE_CHECK_EQ_INT(run_mlm(shards, b, 0, 0, &rb, &err), PE_ERR_INVALID);
    PE_CHECK(strstr(err.msg, "resume") != NULL);
    PE_CHECK_EQ_INT(run_mlm(shards, b, 1, 0, &rb, &err), PE_OK);
    PE_CHECK_EQ_INT(rb.resumed_from, 8);
    PE_CHECK_EQ_INT(rb.steps, 12);
    /* bit for bit: the log (losses, learning rates, norms, evaluations)
     * and the final weights */
    char *la = log_sans_timing(a), *lb = log_sans_timing(b);
    PE_CHECK(la && lb && strcmp(la, lb) == 0);
    if (la && lb && strcmp(la, lb) != 0) fprintf(stderr, "uninterrupted:\n%s\nresumed:\n%s\n", la, lb);
    free(la);
    free(lb);
    char pa[700];
    PE_CHECK(same_file(a, b, "ckpt-00000012/model.safetensors"));
    PE_CHECK(same_file(a, b, "ckpt-00000012/optim.safetensors"));
    /* stopped after update 6 (--until), then resumed: the same as uninterrupted */
    char c[600];
    snprintf(c, sizeof c, "%s/run-until", tmpdir);
    pe_trainer_result ru;
    PE_CHECK_EQ_INT(run_mlm_ema(shards, c, 0, 0, 0.0f, 12, 6, &ru, &err), PE_OK);
    PE_CHECK_EQ_INT(ru.steps, 6);
    PE_CHECK_EQ_INT(run_mlm_ema(shards, c, 1, 0, 0.0f, 12, 0, &ru, &err), PE_OK);
    PE_CHECK_EQ_INT(ru.resumed_from, 6);
    PE_CHECK_EQ_INT(ru.steps, 12);
    la = log_sans_timing(a);
    lb = log_sans_timing(c);
    PE_CHECK(la && lb && strcmp(la, lb) == 0);
    free(la);
    free(lb);
    PE_CHECK(same_file(a, c, "ckpt-00000012/model.safetensors"));
    /* the saved checkpoint loads as an encoder */
    snprintf(pa, sizeof pa, "%s/best", a);
    pe_encoder *enc = NULL;
    PE_CHECK_EQ_INT(pe_encoder_load(pa, NULL, &enc, &err), PE_OK);
    pe_encoder_free(enc);
    /* a damaged checkpoint: the resume fails naming the file, and keeps it */
    char pc[700];
    snprintf(pc, sizeof pc, "%s/ckpt-00000012/optim.safetensors", b);
    struct stat so;
    PE_CHECK(stat(pc, &so) == 0 && truncate(pc, so.st_size / 2) == 0);
    pe_trainer_result rc2;
    pe_status st2 = run_mlm(shards, b, 1, 0, &rc2, &err);
    PE_CHECK(st2 == PE_ERR_CORRUPT || st2 == PE_ERR_IO);
    PE_CHECK(strstr(err.msg, "optim.safetensors") != NULL);
    PE_CHECK(stat(pc, &so) == 0);
    /* only the newest two checkpoints are kept */
    snprintf(pa, sizeof pa, "%s/ckpt-00000004", a);
    struct stat st;
    PE_CHECK(stat(pa, &st) != 0);
    snprintf(pa, sizeof pa, "%s/ckpt-00000008", a);
    PE_CHECK(stat(pa, &st) == 0);
}


/* The encoder's tensors of a safetensors file, each under prefix + its
 * name, into one malloc'd array in the order of tr's parameters. */
static float *load_encoder_tensors(pe_train *tr, const char *path, const char *prefix, size_t *n_out)
{
    const int n = pe_train_n_params(tr);
    pe_train_param *v = calloc((size_t)n, sizeof *v);
    char *names = calloc((size_t)n, 160);
    size_t total = 0;
    for (int i = 0; v && i < n; i++) {
        pe_train_param_at(tr, i, &v[i]);
        total += (size_t)v[i].numel;
    }
    float *all = malloc(total * sizeof *all);
    pe_error err;
    pe_status st = v && names && all ? PE_OK : PE_ERR_NOMEM;
    size_t o = 0;
    for (int i = 0; st == PE_OK && i < n; i++) {
        snprintf(names + (size_t)i * 160, 160, "%s%s", prefix, v[i].name);
        v[i].name = names + (size_t)i * 160;
        v[i].data = all + o;
        o += (size_t)v[i].numel;
    }
    if (st == PE_OK) st = pe_trainer_load_tensors(path, v, n, &err);
    if (st != PE_OK) fprintf(stderr, "%s: %s\n", path, err.msg);
    free(v);
    free(names);
    if (st != PE_OK) {
        free(all);
        return NULL;
    }
    *n_out = total;
    return all;
}

/* The weights' moving average (pe_trainer_options.ema): its first update
 * by hand, best/ holding the average, and its exact resumption. */
static void test_ema(void)
{
    pe_tokenizer *tok = fixture_tok();
    char shards[600], a[600], b[600], c[600], pa[700], pb[700];
    snprintf(shards, sizeof shards, "%s/es", tmpdir);
    snprintf(a, sizeof a, "%s/ema-a", tmpdir);
    snprintf(b, sizeof b, "%s/ema-b", tmpdir);
    snprintf(c, sizeof c, "%s/ema-1", tmpdir);
    mkdir(shards, 0777);
    PE_CHECK_EQ_INT(make_shards(shards, tok, 6), 0);
    pe_encoder_config cfg = tiny_cfg((int)pe_tokenizer_vocab_size(tok));
    pe_tokenizer_free(tok);
    pe_error err;
    pe_trainer_result ra, rb;
    /* one update: average = d w0 + (1 - d) w1 with d = min(0.99, 2 / 11) */
    PE_CHECK_EQ_INT(run_mlm_ema(shards, c, 0, 0, 0.99f, 1, 0, &ra, &err), PE_OK);
    pe_train *tr = NULL;
    PE_CHECK_EQ_INT(pe_train_new_random(&cfg, 11, &tr, &err), PE_OK); /* run_mlm's start */
    size_t n0 = 0, n1 = 0, ne = 0;
    snprintf(pa, sizeof pa, "%s/ckpt-00000001/model.safetensors", c);
    snprintf(pb, sizeof pb, "%s/ckpt-00000001/ema.safetensors", c);
    float *w1 = tr ? load_encoder_tensors(tr, pa, "", &n1) : NULL, *e1 = tr ? load_encoder_tensors(tr, pb, "ema.", &ne) : NULL;
    float *w0 = NULL;
    if (tr) { /* the start, in the same order */
        const int n = pe_train_n_params(tr);
        for (int i = 0; i < n; i++) {
            pe_train_param p;
            pe_train_param_at(tr, i, &p);
            n0 += (size_t)p.numel;
        }
        w0 = malloc(n0 * sizeof *w0);
        size_t o = 0;
        for (int i = 0; w0 && i < n; i++) {
            pe_train_param p;
            pe_train_param_at(tr, i, &p);
            memcpy(w0 + o, p.data, (size_t)p.numel * sizeof *w0);
            o += (size_t)p.numel;
        }
    }
    PE_CHECK(w0 && w1 && e1 && n0 == n1 && n1 == ne);
    if (w0 && w1 && e1 && n0 == n1 && n1 == ne) {
        const float d = 2.0f / 11.0f;
        double worst = 0, moved = 0;
        for (size_t i = 0; i < n0; i++) {
            double want = d * w0[i] + (1 - d) * w1[i], diff = fabs(e1[i] - want);
            worst = diff > worst ? diff : worst;
            moved = fabs(w1[i] - w0[i]) > moved ? fabs(w1[i] - w0[i]) : moved;
        }
        PE_CHECK(worst < 1e-6);
        PE_CHECK(moved > 1e-4); /* the update moved the weights: the average differs from both */
    }
    free(w0);
    free(w1);
    free(e1);
    pe_train_free(tr);
    /* 12 updates, uninterrupted and killed after 10 then resumed: the same
     * log, weights, average and best/ */
    PE_CHECK_EQ_INT(run_mlm_ema(shards, a, 0, 0, 0.9f, 12, 0, &ra, &err), PE_OK);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        run_mlm_ema(shards, b, 0, 10, 0.9f, 12, 0, NULL, &err);
        _exit(0);
    }
    int wst = 0;
    waitpid(pid, &wst, 0);
    PE_CHECK(WIFSIGNALED(wst) && WTERMSIG(wst) == SIGKILL);
    PE_CHECK_EQ_INT(run_mlm_ema(shards, b, 1, 0, 0.9f, 12, 0, &rb, &err), PE_OK);
    PE_CHECK_EQ_INT(rb.resumed_from, 8);
    char *la = log_sans_timing(a), *lb = log_sans_timing(b);
    PE_CHECK(la && lb && strcmp(la, lb) == 0);
    free(la);
    free(lb);
    static const char *const files[] = {"ckpt-00000012/model.safetensors", "ckpt-00000012/ema.safetensors",
                                        "best/model.safetensors"};
    for (size_t f = 0; f < sizeof files / sizeof *files; f++) PE_CHECK_MSG(same_file(a, b, files[f]), "%s", files[f]);
    /* best/ holds the average of its step, not the weights */
    PE_CHECK(ra.best_step == 8 || ra.best_step == 12);
    tr = NULL;
    PE_CHECK_EQ_INT(pe_train_new_random(&cfg, 11, &tr, &err), PE_OK);
    snprintf(pa, sizeof pa, "%s/best/model.safetensors", a);
    snprintf(pb, sizeof pb, "%s/ckpt-%08ld/ema.safetensors", a, ra.best_step);
    float *wb = tr ? load_encoder_tensors(tr, pa, "", &n0) : NULL, *eb = tr ? load_encoder_tensors(tr, pb, "ema.", &ne) : NULL;
    snprintf(pb, sizeof pb, "%s/ckpt-%08ld/model.safetensors", a, ra.best_step);
    float *wr = tr ? load_encoder_tensors(tr, pb, "", &n1) : NULL;
    PE_CHECK(wb && eb && wr && n0 == ne && n0 == n1);
    if (wb && eb && wr && n0 == ne && n0 == n1) {
        PE_CHECK(memcmp(wb, eb, n0 * sizeof *wb) == 0);
        PE_CHECK(memcmp(wb, wr, n0 * sizeof *wb) != 0);
    }
    free(wb);
    free(eb);
    free(wr);
    pe_train_free(tr);
    /* out of range */
    PE_CHECK_EQ_INT(run_mlm_ema(shards, c, 0, 0, 1.0f, 1, 0, &ra, &err), PE_ERR_INVALID);
}

/* Rewrites a checkpoint in the layout of before December 2026: the head's
 * tensors (cls.*) moved out of model.safetensors into head.safetensors. */
static int to_old_layout(const char *ck)
{
    char pm[700], ph[700];
    snprintf(pm, sizeof pm, "%s/model.safetensors", ck);
    snprintf(ph, sizeof ph, "%s/head.safetensors", ck);
    pe_error err;
    void *map = NULL;
    size_t size = 0;
    if (enc_map_file(pm, &map, &size, &err) != PE_OK) return -1;
    pe_encoder_stored_tensor *t = NULL;
    int n = 0, rc = -1;
    if (enc_safetensors_parse(pm, map, size, &t, &n, &err) != PE_OK) goto out;
    pe_tr_st_entry *enc = calloc((size_t)n, sizeof *enc), *head = calloc((size_t)n, sizeof *head);
    float **copies = calloc((size_t)n, sizeof *copies);
    int ne = 0, nh = 0;
    for (int i = 0; enc && head && copies && i < n; i++) {
        copies[i] = malloc(t[i].nbytes ? t[i].nbytes : 1);
        if (!copies[i]) break;
        memcpy(copies[i], t[i].data, t[i].nbytes);
        pe_tr_st_entry e = {.name = t[i].name, .ndim = t[i].ndim, .data = copies[i], .nbytes = t[i].nbytes};
        for (int d = 0; d < t[i].ndim && d < 2; d++) e.shape[d] = t[i].shape[d];
        if (strncmp(t[i].name, "cls.", 4) == 0) head[nh++] = e;
        else enc[ne++] = e;
    }
    if (nh > 0 && enc_tr_write_safetensors(ph, head, nh, &err) == PE_OK &&
        enc_tr_write_safetensors(pm, enc, ne, &err) == PE_OK)
        rc = 0;
    for (int i = 0; copies && i < n; i++) free(copies[i]);
    free(copies);
    free(enc);
    free(head);
    enc_stored_tensors_free(t, n);
out:
    enc_unmap_file(map, size);
    return rc;
}

/* A checkpoint of the earlier layout resumes exactly as the new one. */
static void test_resume_old_layout(void)
{
    char shards[600], a[600], b[600], ck[700];
    snprintf(shards, sizeof shards, "%s/rs", tmpdir); /* made by test_resume_after_kill */
    snprintf(a, sizeof a, "%s/run-a", tmpdir);
    snprintf(b, sizeof b, "%s/run-old", tmpdir);
    pe_error err;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        run_mlm(shards, b, 0, 10, NULL, &err);
        _exit(0);
    }
    int wst = 0;
    waitpid(pid, &wst, 0);
    PE_CHECK(WIFSIGNALED(wst) && WTERMSIG(wst) == SIGKILL);
    snprintf(ck, sizeof ck, "%s/ckpt-00000008", b);
    PE_CHECK_EQ_INT(to_old_layout(ck), 0);
    pe_trainer_result rb;
    PE_CHECK_EQ_INT(run_mlm(shards, b, 1, 0, &rb, &err), PE_OK);
    PE_CHECK_EQ_INT(rb.resumed_from, 8);
    char *la = log_sans_timing(a), *lb = log_sans_timing(b);
    PE_CHECK(la && lb && strcmp(la, lb) == 0);
    free(la);
    free(lb);
    /* without head.safetensors the resume fails naming the missing tensor */
    snprintf(ck, sizeof ck, "%s/ckpt-00000012", b);
    PE_CHECK_EQ_INT(to_old_layout(ck), 0);
    char ph[800];
    snprintf(ph, sizeof ph, "%s/head.safetensors", ck);
    PE_CHECK(unlink(ph) == 0);
    PE_CHECK_EQ_INT(run_mlm(shards, b, 1, 0, &rb, &err), PE_ERR_CORRUPT);
    PE_CHECK(strstr(err.msg, "cls.predictions") != NULL);
}

/* ---- skip-gram vectors ---- */

/* A shard of two "topics": sequences mix tokens 10-13 or 20-23 (never both),
 * with 1 ([CLS]) and 2 ([SEP]) around. */
static int write_topic_shard(const char *path)
{
    enum { NSEQ = 600, LEN = 12 };
    static uint16_t tok[NSEQ * LEN];
    uint64_t off[NSEQ + 1];
    uint64_t rs = 7;
    for (int i = 0; i < NSEQ; i++) {
        off[i] = (uint64_t)i * LEN;
        const int base = i % 2 ? 20 : 10;
        tok[i * LEN] = 1;
        for (int j = 1; j < LEN - 1; j++) {
            rs = rs * 6364136223846793005ull + 1442695040888963407ull;
            tok[i * LEN + j] = (uint16_t)(base + (int)((rs >> 33) % 4));
        }
        tok[i * LEN + LEN - 1] = 2;
    }
    off[NSEQ] = (uint64_t)NSEQ * LEN;
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    uint32_t v = 32, ml = LEN;
    uint64_t n = NSEQ, nt = (uint64_t)NSEQ * LEN;
    int ok = fwrite("PESHARD1", 1, 8, f) == 8 && fwrite(&v, 4, 1, f) == 1 && fwrite(&ml, 4, 1, f) == 1 &&
             fwrite(&n, 8, 1, f) == 1 && fwrite(&nt, 8, 1, f) == 1 && fwrite(off, 8, NSEQ + 1, f) == NSEQ + 1 &&
             fwrite(tok, 2, (size_t)nt, f) == nt;
    return fclose(f) == 0 && ok ? 0 : -1;
}

static double cosine(const float *a, const float *b, int d)
{
    double ab = 0, aa = 0, bb = 0;
    for (int i = 0; i < d; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    return ab / sqrt(aa * bb + 1e-30);
}

static void test_sgns(void)
{
    char p[600];
    snprintf(p, sizeof p, "%s/topics.shard", tmpdir);
    PE_CHECK_EQ_INT(write_topic_shard(p), 0);
    pe_token_shard *s = NULL;
    pe_error err;
    PE_CHECK_EQ_INT(pe_token_shard_open(p, &s, &err), PE_OK);
    if (!s) return;
    enum { D = 16 };
    float *v = malloc(32 * D * sizeof *v), *w = malloc(32 * D * sizeof *w);
    pe_sgns_options o = pe_sgns_options_default();
    o.epochs = 5;
    o.subsample = 0; /* every token kept: a tiny vocabulary is all frequent */
    o.n_skip = 5;
    PE_CHECK_EQ_INT(pe_sgns_train(s, D, &o, v, &err), PE_OK);
    /* tokens of one topic end up closer than tokens of two */
    double same = 0, cross = 0;
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 4; b++) {
            if (a != b) same += cosine(v + (10 + a) * D, v + (10 + b) * D, D) + cosine(v + (20 + a) * D, v + (20 + b) * D, D);
            cross += cosine(v + (10 + a) * D, v + (20 + b) * D, D);
        }
    same /= 24;
    cross /= 16;
    PE_CHECK(same > cross + 0.5);
    if (!(same > cross + 0.5)) fprintf(stderr, "same %.3f cross %.3f\n", same, cross);
    /* one thread: the same seed gives the same vectors; special tokens keep their start */
    PE_CHECK_EQ_INT(pe_sgns_train(s, D, &o, w, &err), PE_OK);
    PE_CHECK(memcmp(v, w, 32 * D * sizeof *v) == 0);
    for (int k = 0; k < D; k++) PE_CHECK(fabsf(v[1 * D + k]) <= 0.5f / D);
    /* two threads train too */
    o.threads = 2;
    PE_CHECK_EQ_INT(pe_sgns_train(s, D, &o, w, &err), PE_OK);
    PE_CHECK(cosine(w + 10 * D, w + 11 * D, D) > cosine(w + 10 * D, w + 21 * D, D));
    /* bad options and a vocabulary too rare */
    o.window = 0;
    PE_CHECK_EQ_INT(pe_sgns_train(s, D, &o, w, &err), PE_ERR_INVALID);
    o = pe_sgns_options_default();
    o.min_count = 1 << 30;
    PE_CHECK_EQ_INT(pe_sgns_train(s, D, &o, w, &err), PE_ERR_INVALID);
    PE_CHECK(strstr(err.msg, "occurs") != NULL);
    free(v);
    free(w);
    pe_token_shard_close(s);
}

/* ---- a non-finite loss stops the run and keeps the last checkpoint ---- */

typedef struct nan_obj {
    int calls;
    int nan_after;
} nan_obj;

static int n_length(void *ctx, size_t i)
{
    (void)ctx;
    return 4 + (int)(i % 3);
}

static pe_status n_batch(void *ctx, const size_t *idx, int n, uint64_t seed, int32_t *ids, int32_t *types,
                         int *lengths, pe_error *err)
{
    (void)ctx;
    (void)seed;
    (void)err;
    int t = 0;
    for (int k = 0; k < n; k++) {
        lengths[k] = n_length(NULL, idx[k]);
        for (int i = 0; i < lengths[k]; i++, t++) {
            ids[t] = 5 + (int32_t)((idx[k] + (size_t)i) % 7);
            types[t] = 0;
        }
    }
    return PE_OK;
}

static pe_status n_loss(void *ctx, const float *hidden, int T, float scale, float *dh, double *ls, double *cnt,
                        pe_error *err)
{
    (void)err;
    nan_obj *o = ctx;
    o->calls++;
    double s = 0;
    for (int i = 0; i < T * 8; i++) {
        s += 0.5 * hidden[i] * hidden[i];
        dh[i] += scale * hidden[i] / (float)T;
    }
    *ls = o->calls > o->nan_after ? NAN : s;
    *cnt = T;
    return PE_OK;
}

static void test_nonfinite_loss(void)
{
    pe_encoder_config cfg = tiny_cfg(20);
    pe_train *tr = NULL;
    pe_error err;
    PE_CHECK_EQ_INT(pe_train_new_random(&cfg, 1, &tr, &err), PE_OK);
    nan_obj no = {0, 7};
    pe_objective obj = {.name = "toy", .ctx = &no, .n_examples = 30, .length = n_length, .batch = n_batch,
                        .loss = n_loss};
    char dir[600];
    snprintf(dir, sizeof dir, "%s/run-nan", tmpdir);
    pe_trainer_options o = pe_trainer_options_default();
    o.dir = dir;
    o.steps = 20;
    o.batch_tokens = 16;
    o.checkpoint_every = 5;
    o.lr = 1e-3f;
    pe_trainer_result r;
    pe_status st = pe_trainer_run(tr, &obj, &o, &r, &err);
    PE_CHECK_EQ_INT(st, PE_ERR_INVALID);
    PE_CHECK(strstr(err.msg, "not finite") && strstr(err.msg, "step 7") && strstr(err.msg, "ckpt-00000005"));
    char p[700];
    snprintf(p, sizeof p, "%s/latest", dir);
    char *l = slurp(p);
    PE_CHECK(l && strcmp(l, "ckpt-00000005\n") == 0);
    free(l);
    /* two runs on one folder: the second is refused while the first holds it */
    pid_t pid = fork();
    if (pid == 0) {
        nan_obj slow = {0, 1 << 30};
        pe_objective o2 = obj;
        o2.ctx = &slow;
        pe_trainer_options oo = o;
        oo.resume = 1;
        oo.steps = 1000000;
        oo.checkpoint_every = 0;
        pe_trainer_run(tr, &o2, &oo, NULL, &err);
        _exit(0);
    }
    usleep(300000);
    no.calls = 0;
    no.nan_after = 1 << 30;
    o.resume = 1;
    st = pe_trainer_run(tr, &obj, &o, &r, &err);
    PE_CHECK_EQ_INT(st, PE_ERR_BUSY);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    /* bad options */
    o.steps = 0;
    PE_CHECK_EQ_INT(pe_trainer_run(tr, &obj, &o, &r, &err), PE_ERR_INVALID);
    o.steps = 5;
    o.batch_tokens = 3; /* shorter than an example */
    PE_CHECK_EQ_INT(pe_trainer_run(tr, &obj, &o, &r, &err), PE_ERR_INVALID);
    PE_CHECK(strstr(err.msg, "example") != NULL);
    pe_train_free(tr);
}

static void test_schedules(void)
{
    PE_CHECK_NEAR(pe_lr_cosine_warmup(1.0f, 0, 10, 110, 0.0f), 0.0, 1e-7);
    PE_CHECK_NEAR(pe_lr_cosine_warmup(1.0f, 5, 10, 110, 0.0f), 0.5, 1e-6);
    PE_CHECK_NEAR(pe_lr_cosine_warmup(1.0f, 10, 10, 110, 0.0f), 1.0, 1e-6);
    PE_CHECK_NEAR(pe_lr_cosine_warmup(1.0f, 60, 10, 110, 0.0f), 0.5, 1e-6);
    PE_CHECK_NEAR(pe_lr_cosine_warmup(1.0f, 110, 10, 110, 0.1f), 0.1, 1e-6);
    PE_CHECK_NEAR(pe_lr_cosine_warmup(1.0f, 500, 10, 110, 0.1f), 0.1, 1e-6);
}

int main(void)
{
    if (!pe_test_tmpdir(tmpdir, sizeof tmpdir, "pe_trainer")) return 1;
    pe_trainer_set_threads(2);
    PE_RUN(test_mlm_head_gradients);
    PE_RUN(test_masking);
    PE_RUN(test_shards);
    PE_RUN(test_mlm_case_types);
    PE_RUN(test_resume_after_kill);
    PE_RUN(test_resume_old_layout);
    PE_RUN(test_ema);
    PE_RUN(test_nonfinite_loss);
    PE_RUN(test_schedules);
    PE_RUN(test_sgns);
    if (pe_test_failures == 0) pe_test_rm_rf(tmpdir);
    PE_TEST_EXIT();
}
