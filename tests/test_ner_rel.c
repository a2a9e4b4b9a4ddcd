/* test_ner_rel.c - the token-classification head (gradients against
 * central differences, with and without the feature embedding), NER data
 * and scoring (conlleval semantics), PersonaExt data, triple decoding and
 * scoring, and an end-to-end fine-tuning of a tiny encoder with both heads
 * that must learn its training sentences, saved as a .pem and read back
 * through pe_ner_extract and pe_rel_extract. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pe_ner.h"
#include "pe_relation.h"
#include "pe_test.h"
#include "pe_trainer.h"

static char tmpdir[512];

static double frand(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return ((*s >> 8) & 0xffff) / 65536.0 - 0.5;
}

/* ---- the head's gradients ---- */

static double head_loss(pe_token_head *h, const float *hidden, const int32_t *f, const int32_t *lab, int T)
{
    double ls, cnt;
    pe_error err;
    pe_token_head_loss(h, hidden, f, lab, T, 1.0f, NULL, &ls, &cnt, &err);
    return ls / cnt;
}

static void check_head(int with_feat)
{
    const int C = 6, K = 5, T = 7, NF = 4, D = with_feat ? 3 : 0;
    pe_token_head *h = NULL;
    pe_error err;
    PE_CHECK_EQ_INT(pe_token_head_new("ner", C, K, NF, D, 9, &h, &err), PE_OK);
    if (!h) return;
    int n;
    const pe_train_param *p = pe_token_head_params(h, &n);
    PE_CHECK_EQ_INT(n, with_feat ? 3 : 2);
    PE_CHECK_EQ_STR(p[0].name, "ner.w");
    unsigned s = 3;
    for (int i = 0; i < n; i++)
        for (int64_t k = 0; k < p[i].numel; k++) p[i].data[k] += (float)(0.5 * frand(&s));
    float hidden[7 * 6], dh[7 * 6];
    for (int i = 0; i < T * C; i++) hidden[i] = (float)(2 * frand(&s));
    /* K + 2: O or type 1 (labels 3, 4); K + 3: O or either type (partial labels) */
    int32_t lab[7] = {0, -100, 4, K + 2, -100, 1, K + 3}, feats[7] = {0, 1, 2, 3, 1, 0, 2};
    const int32_t *f = with_feat ? feats : NULL;
    pe_params_zero_grad(p, n);
    memset(dh, 0, sizeof dh);
    double ls, cnt;
    PE_CHECK_EQ_INT(pe_token_head_loss(h, hidden, f, lab, T, 1.0f, dh, &ls, &cnt, &err), PE_OK);
    PE_CHECK_EQ_INT((long)cnt, 5);
    for (int c = 0; c < C; c++) PE_CHECK(dh[1 * C + c] == 0.0f && dh[4 * C + c] == 0.0f);
    const double eps = 1e-3;
    int bad = 0, checked = 0;
    for (int i = 0; i < T * C; i++) {
        float keep = hidden[i];
        hidden[i] = keep + (float)eps;
        double lp = head_loss(h, hidden, f, lab, T);
        hidden[i] = keep - (float)eps;
        double lm = head_loss(h, hidden, f, lab, T);
        hidden[i] = keep;
        double num = (lp - lm) / (2 * eps);
        checked++;
        if (fabs(num - dh[i]) > 1e-3 + 2e-2 * fabs(num)) bad++;
    }
    for (int q = 0; q < n; q++)
        for (int64_t i = 0; i < p[q].numel; i++) {
            float keep = p[q].data[i];
            p[q].data[i] = keep + (float)eps;
            double lp = head_loss(h, hidden, f, lab, T);
            p[q].data[i] = keep - (float)eps;
            double lm = head_loss(h, hidden, f, lab, T);
            p[q].data[i] = keep;
            double num = (lp - lm) / (2 * eps);
            checked++;
            if (fabs(num - p[q].grad[i]) > 1e-3 + 2e-2 * fabs(num)) {
                bad++;
                fprintf(stderr, "%s[%lld]: numeric %g analytic %g\n", p[q].name, (long long)i, num, (double)p[q].grad[i]);
            }
        }
    PE_CHECK(checked > 60);
    PE_CHECK_EQ_INT(bad, 0);
    /* predictions are a distribution */
    float probs[7 * 5];
    PE_CHECK_EQ_INT(pe_token_head_predict(h, hidden, f, T, probs, &err), PE_OK);
    for (int t = 0; t < T; t++) {
        double sum = 0;
        for (int k = 0; k < K; k++) sum += probs[t * K + k];
        PE_CHECK_NEAR(sum, 1.0, 1e-5);
    }
    /* bad labels and features */
    int32_t badl[7] = {0, 0, 5, 0, 0, 0, 0}, badf[7] = {0, 0, 0, 9, 0, 0, 0};
    PE_CHECK_EQ_INT(pe_token_head_loss(h, hidden, f, badl, T, 1.0f, NULL, &ls, &cnt, &err), PE_ERR_INVALID);
    badl[2] = K + 4; /* a mask of a third type: K = 5 has two */
    PE_CHECK_EQ_INT(pe_token_head_loss(h, hidden, f, badl, T, 1.0f, NULL, &ls, &cnt, &err), PE_ERR_INVALID);
    /* a partial label's loss: -log(p(O) + p(its types' labels)) */
    int32_t one[1] = {K + 2};
    PE_CHECK_EQ_INT(pe_token_head_predict(h, hidden, f, 1, probs, &err), PE_OK);
    PE_CHECK_EQ_INT(pe_token_head_loss(h, hidden, f, one, 1, 1.0f, NULL, &ls, &cnt, &err), PE_OK);
    PE_CHECK_NEAR(ls, -log((double)probs[0] + probs[3] + probs[4]), 1e-5);
    if (with_feat) PE_CHECK_EQ_INT(pe_token_head_predict(h, hidden, badf, T, probs, &err), PE_ERR_INVALID);
    pe_token_head_free(h);
}

static void test_token_head_gradients(void)
{
    check_head(0);
    check_head(1);
}

/* ---- NER data and scoring ---- */

static void test_ner_reader(void)
{
    static const char *const types[] = {"person", "location", "organization", "work"};
    pe_ner_read_options o = pe_ner_read_options_default();
    o.type_map = "PER=person,LOC=location,ORG=organization,MISC=work";
    o.types = types;
    o.n_types = 4;
    pe_ner_corpus *c = NULL;
    pe_error err;
    PE_CHECK_EQ_INT(pe_ner_corpus_read(PE_FIXTURES "/ner/tiny.conll", &o, &c, &err), PE_OK);
    if (!c) return;
    PE_CHECK_EQ_INT(pe_ner_corpus_count(c), 3);
    const pe_ner_sentence *s = pe_ner_corpus_get(c, 0);
    PE_CHECK_EQ_INT(s->n, 7);
    PE_CHECK_EQ_STR(s->words[2], "john");
    PE_CHECK_EQ_STR(s->tags[2], "B-person");
    PE_CHECK_EQ_STR(s->tags[3], "I-person");
    PE_CHECK_EQ_STR(pe_ner_corpus_get(c, 2)->tags[2], "B-work");
    pe_ner_corpus_free(c);
    /* a type outside the set: strict names file and line; otherwise skipped */
    o.type_map = "PER=person,LOC=location";
    o.strict = 1;
    PE_CHECK_EQ_INT(pe_ner_corpus_read(PE_FIXTURES "/ner/tiny.conll", &o, &c, &err), PE_ERR_PARSE);
    PE_CHECK(strstr(err.msg, "tiny.conll:14:") && strstr(err.msg, "ORG"));
    o.strict = 0;
    PE_CHECK_EQ_INT(pe_ner_corpus_read(PE_FIXTURES "/ner/tiny.conll", &o, &c, &err), PE_OK);
    PE_CHECK_EQ_INT(pe_ner_corpus_count(c), 1);
    PE_CHECK_EQ_INT(pe_ner_corpus_skipped(c), 2);
    pe_ner_corpus_free(c);
    /* a tag that is not BIO */
    o = pe_ner_read_options_default();
    o.type_map = "PER=person";
    PE_CHECK_EQ_INT(pe_ner_corpus_read(PE_FIXTURES "/ner/bad.conll", &o, &c, &err), PE_OK);
    PE_CHECK_EQ_INT(pe_ner_corpus_count(c), 2);
    PE_CHECK_EQ_INT(pe_ner_corpus_skipped(c), 1);
    PE_CHECK(strstr(pe_ner_corpus_first_problem(c), "bad.conll:5:") != NULL);
    pe_ner_corpus_free(c);
    o.strict = 1;
    PE_CHECK_EQ_INT(pe_ner_corpus_read(PE_FIXTURES "/ner/bad.conll", &o, &c, &err), PE_ERR_PARSE);
    PE_CHECK_EQ_INT(pe_ner_corpus_read(PE_FIXTURES "/ner/none.conll", &o, &c, &err), PE_ERR_IO);
    /* o_prefix: user names are O; the I- after one opens its own span */
    o = pe_ner_read_options_default();
    o.type_map = "PER=person,LOC=location,ORG=organization";
    PE_CHECK_EQ_INT(pe_ner_corpus_read(PE_FIXTURES "/ner/usernames.conll", &o, &c, &err), PE_OK);
    if (c) {
        PE_CHECK_EQ_STR(pe_ner_corpus_get(c, 0)->tags[1], "B-person");
        PE_CHECK_EQ_INT(pe_ner_corpus_prefixed_o(c), 0);
        pe_ner_corpus_free(c);
    }
    o.o_prefix = "@";
    PE_CHECK_EQ_INT(pe_ner_corpus_read(PE_FIXTURES "/ner/usernames.conll", &o, &c, &err), PE_OK);
    if (!c) return;
    PE_CHECK_EQ_INT(pe_ner_corpus_count(c), 2); /* the third sentence has a word without a tag: skipped */
    PE_CHECK_EQ_INT(pe_ner_corpus_skipped(c), 1);
    const pe_ner_sentence *u = pe_ner_corpus_get(c, 0);
    PE_CHECK_EQ_STR(u->words[1], "@bob_smith");
    PE_CHECK_EQ_STR(u->tags[1], "O");
    PE_CHECK_EQ_STR(u->tags[4], "O");
    PE_CHECK_EQ_STR(u->tags[5], "B-organization");
    PE_CHECK_EQ_STR(u->tags[7], "B-location");
    u = pe_ner_corpus_get(c, 1);
    PE_CHECK_EQ_STR(u->tags[0], "O");
    PE_CHECK_EQ_STR(u->tags[1], "B-person");
    PE_CHECK_EQ_STR(u->tags[2], "O");
    PE_CHECK_EQ_INT(pe_ner_corpus_prefixed_o(c), 3); /* not the skipped sentence's @carl */
    /* repeat: each sentence 3 times, in order, as copies */
    PE_CHECK_EQ_INT(pe_ner_corpus_repeat(c, 0, &err), PE_ERR_INVALID);
    PE_CHECK_EQ_INT(pe_ner_corpus_repeat(c, 1, &err), PE_OK);
    PE_CHECK_EQ_INT(pe_ner_corpus_count(c), 2);
    PE_CHECK_EQ_INT(pe_ner_corpus_repeat(c, 3, &err), PE_OK);
    PE_CHECK_EQ_INT(pe_ner_corpus_count(c), 6);
    for (size_t i = 2; i < pe_ner_corpus_count(c); i++) {
        const pe_ner_sentence *a = pe_ner_corpus_get(c, i % 2), *b = pe_ner_corpus_get(c, i);
        PE_CHECK(a->n == b->n && a->words != b->words);
        for (int w = 0; a->n == b->n && w < a->n; w++) {
            PE_CHECK_EQ_STR(a->words[w], b->words[w]);
            PE_CHECK_EQ_STR(a->tags[w], b->tags[w]);
        }
    }
    pe_ner_corpus_free(c);
}

/* Mention replacement: the entities of one type take a drawn name's words
 * (B-, then I-), the rest is kept, sentences without that type get no
 * copy, and the draws are reproducible. */
static void test_ner_replaced(void)
{
    pe_error err;
    pe_ner_corpus *c = NULL, *d = NULL;
    pe_ner_read_options o = pe_ner_read_options_default();
    o.type_map = "PER=person,LOC=location,ORG=organization";
    PE_CHECK_EQ_INT(pe_ner_corpus_read(PE_FIXTURES "/ner/usernames.conll", &o, &c, &err), PE_OK);
    PE_CHECK_EQ_INT(pe_ner_corpus_read(PE_FIXTURES "/ner/usernames.conll", &o, &d, &err), PE_OK);
    if (!c || !d) return;
    const char *names[] = {"Star Trek Into Darkness", "Ubuntu", "Windows 10"};
    size_t added = 99;
    PE_CHECK_EQ_INT(pe_ner_corpus_add_replaced(c, "organization", names, 0, 1, 1, &added, &err), PE_ERR_INVALID);
    PE_CHECK_EQ_INT(added, 0);
    const char *empty[] = {""};
    PE_CHECK_EQ_INT(pe_ner_corpus_add_replaced(c, "organization", empty, 1, 1, 1, &added, &err), PE_ERR_INVALID);
    const char *spaced[] = {"Ubuntu", " Ubuntu"};
    PE_CHECK_EQ_INT(pe_ner_corpus_add_replaced(c, "organization", spaced, 2, 1, 1, &added, &err), PE_ERR_INVALID);
    PE_CHECK_EQ_INT(pe_ner_corpus_add_replaced(c, NULL, names, 3, 1, 1, &added, &err), PE_ERR_INVALID);
    PE_CHECK_EQ_INT(pe_ner_corpus_add_replaced(c, "organization", names, 3, 0, 1, &added, &err), PE_OK);
    PE_CHECK_EQ_INT(pe_ner_corpus_count(c), 2);
    /* "RT @bob_smith : meet @acme Labs in Paris": only the first sentence has an organisation */
    PE_CHECK_EQ_INT(pe_ner_corpus_add_replaced(c, "organization", names, 3, 4, 7, &added, &err), PE_OK);
    PE_CHECK_EQ_INT(added, 4);
    PE_CHECK_EQ_INT(pe_ner_corpus_count(c), 6);
    PE_CHECK_EQ_INT(pe_ner_corpus_add_replaced(d, "organization", names, 3, 4, 7, &added, &err), PE_OK);
    int seen[3] = {0, 0, 0};
    for (size_t i = 2; i < pe_ner_corpus_count(c); i++) {
        const pe_ner_sentence *s = pe_ner_corpus_get(c, i), *t = pe_ner_corpus_get(d, i);
        PE_CHECK_EQ_INT(s->doc, -1);
        PE_CHECK_EQ_INT(s->n, t->n); /* the same draws from the same seed */
        for (int w = 0; s->n == t->n && w < s->n; w++) PE_CHECK_EQ_STR(s->words[w], t->words[w]);
        /* RT @bob_smith : meet NAME... in Paris */
        PE_CHECK_EQ_STR(s->words[0], "RT");
        PE_CHECK_EQ_STR(s->words[3], "meet");
        PE_CHECK_EQ_STR(s->tags[4], "B-organization");
        int k = -1;
        for (int j = 0; j < 3; j++)
            if (!strncmp(s->words[4], names[j], strlen(s->words[4]))) k = j;
        PE_CHECK(k >= 0);
        if (k < 0) continue;
        seen[k] = 1;
        const int len = k == 0 ? 4 : k == 1 ? 1 : 2;
        PE_CHECK_EQ_INT(s->n, 8 - 2 + len);
        for (int w = 5; w < 4 + len; w++) PE_CHECK_EQ_STR(s->tags[w], "I-organization");
        PE_CHECK_EQ_STR(s->words[4 + len], "in");
        PE_CHECK_EQ_STR(s->tags[4 + len], "O");
        PE_CHECK_EQ_STR(s->words[5 + len], "Paris");
        PE_CHECK_EQ_STR(s->tags[5 + len], "B-location");
        if (k == 0) PE_CHECK_EQ_STR(s->words[7], "Darkness");
    }
    PE_CHECK(seen[0] + seen[1] + seen[2] >= 2); /* 4 draws of 3 names */
    /* a type the corpus does not hold: nothing added */
    PE_CHECK_EQ_INT(pe_ner_corpus_add_replaced(c, "product", names, 3, 2, 1, &added, &err), PE_OK);
    PE_CHECK_EQ_INT(added, 0);
    pe_ner_corpus_free(c);
    pe_ner_corpus_free(d);
}

static void test_ner_score(void)
{
    /* gold: [PER 0-2) [LOC 3] ; pred: [PER 0-2) [ORG 3] + an I-LOC after O (a new entity) */
    const char *g1[] = {"B-PER", "I-PER", "O", "B-LOC", "O", "O"};
    const char *p1[] = {"B-PER", "I-PER", "O", "B-ORG", "O", "I-LOC"};
    /* gold: [LOC 0-2) ; pred: [LOC 0-1) [LOC 1-2) (B after B: two entities) */
    const char *g2[] = {"B-LOC", "I-LOC", "O"};
    const char *p2[] = {"B-LOC", "B-LOC", "O"};
    const char *const *gold[] = {g1, g2}, *const *pred[] = {p1, p2};
    int nw[] = {6, 3};
    pe_ner_scores s;
    pe_error err;
    PE_CHECK_EQ_INT(pe_ner_score(gold, pred, nw, 2, &s, &err), PE_OK);
    PE_CHECK_EQ_INT(s.tp, 1);
    PE_CHECK_EQ_INT(s.fp, 4);
    PE_CHECK_EQ_INT(s.fn, 2);
    PE_CHECK_NEAR(s.precision, 0.2, 1e-12);
    PE_CHECK_NEAR(s.recall, 1.0 / 3.0, 1e-12);
    PE_CHECK_NEAR(s.f1, 0.25, 1e-12);
    int per = -1;
    for (int i = 0; i < s.n_types; i++)
        if (!strcmp(s.types[i].type, "PER")) per = i;
    PE_CHECK(per >= 0 && s.types[per].f1 == 1.0);
    PE_CHECK_EQ_INT(s.n_types, 3);
    /* macro: PER 1, ORG 0, LOC 0 */
    PE_CHECK_NEAR(s.macro_f1, 1.0 / 3.0, 1e-12);
    pe_ner_scores_clear(&s);
}

static pe_tokenizer *vocab16k(void)
{
    pe_tokenizer *tok = NULL;
    pe_error err;
    if (pe_tokenizer_open_vocab(PE_FIXTURES "/../../models/vocab.txt", NULL, &tok, &err) != PE_OK)
        fprintf(stderr, "vocab: %s\n", err.msg);
    return tok;
}

/* web and e-mail addresses and user handles: no mention, no persona value */
static void test_machine_text(void)
{
    static const char *const yes[] = {"http://x.org", "https://t.co/abc", "www.google.com", "WWW.Example.org",
                                      "t.co/xyz", "bit.ly/2abc.", "(see:www.x.io)", "bob@gmail.com",
                                      "bob.martin@mail.example.org,"};
    static const char *const no[] = {"Paris", "U.S.", "e.g.", "1.5/10", "a@b", "@", "AT&T", "Calif./Nev.",
                                     "and/or", "www", "google.com", "mr.smith", "#paris", ""};
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) {
        PE_CHECK_MSG(pe_tag_text_machine(yes[i], strlen(yes[i]), 0), "%s", yes[i]);
        PE_CHECK_MSG(pe_tag_text_machine(yes[i], strlen(yes[i]), 1), "%s", yes[i]);
    }
    for (size_t i = 0; i < sizeof no / sizeof *no; i++)
        PE_CHECK_MSG(!pe_tag_text_machine(no[i], strlen(no[i]), 1), "%s", no[i]);
    /* handles only when asked */
    PE_CHECK(pe_tag_text_machine("@barack", 7, 1) && !pe_tag_text_machine("@barack", 7, 0));
    PE_CHECK(pe_tag_text_machine("(@bob_1)", 8, 1) && pe_tag_text_machine("hi @bob", 7, 1));
    PE_CHECK(pe_tag_text_has_alnum("_x", 2) && pe_tag_text_has_alnum("\xc3\xa9", 2) && !pe_tag_text_has_alnum("_-#", 3) &&
             !pe_tag_text_has_alnum("", 0));

    /* words of a text: the chunk of an address, the bytes of a handle */
    pe_tokenizer *tok = vocab16k();
    if (!tok) return;
    const char *text = "see www.x.com/a and @bob_1: hi Paris bob@mail.org";
    pe_tokenizer_encode_options eo = pe_tokenizer_encode_options_default();
    eo.add_special_tokens = 0;
    pe_encoding *e = NULL;
    pe_error err;
    pe_tag_words tw;
    memset(&tw, 0, sizeof tw);
    PE_CHECK_EQ_INT(pe_tokenizer_encode(tok, text, strlen(text), NULL, 0, &eo, &e, &err), PE_OK);
    if (e) PE_CHECK_EQ_INT(pe_tag_words_of(e, &tw, &err), PE_OK);
    unsigned char inert[64];
    for (int handles = 0; e && tw.n > 0 && tw.n < 64 && handles < 2; handles++) {
        pe_tag_words_machine(text, &tw, handles, inert);
        for (int w = 0; w < tw.n; w++) {
            const size_t a = tw.start[w], b = tw.end[w];
            const int web = a >= 4 && b <= 15, mail = a >= 37, handle = a >= 20 && b <= 26;
            PE_CHECK_MSG(inert[w] == (web || mail || (handles && handle)), "handles %d, word %.*s: %d", handles,
                         (int)(b - a), text + a, inert[w]);
        }
    }
    PE_CHECK(tw.n > 12);
    pe_tag_words_clear(&tw);
    pe_encoding_free(e);

    /* training's development scorer applies the same rules: every token
     * predicted B-PER, so only "Ann" is a mention ("!" is punctuation
     * alone, the address and the handle are machine text) */
    char path[600];
    snprintf(path, sizeof path, "%s/machine.conll", tmpdir);
    FILE *f = fopen(path, "w");
    PE_CHECK(f != NULL);
    if (f) {
        fputs("Ann\tB-PER\n!\tO\nwww.x.com\tO\n@bob\tO\n\n", f);
        fclose(f);
    }
    static const char *const types[] = {"PER"};
    pe_ner_corpus *c = NULL;
    char **labels = NULL;
    int nl = 0;
    pe_tag_data *d = NULL;
    pe_ner_scorer *sc = NULL;
    PE_CHECK_EQ_INT(pe_ner_corpus_read(path, NULL, &c, &err), PE_OK);
    PE_CHECK_EQ_INT(pe_ner_labels_make(types, 1, &labels, &nl, &err), PE_OK);
    PE_CHECK_EQ_INT(pe_tag_data_new(&d, &err), PE_OK);
    if (c && d && labels) {
        PE_CHECK_EQ_INT(pe_ner_add_examples(c, tok, (const char *const *)labels, nl, 64, NULL, 0, d, NULL, &err), PE_OK);
        PE_CHECK_EQ_INT(pe_ner_scorer_new(c, tok, (const char *const *)labels, nl, 64, 0, &sc, &err), PE_OK);
    }
    if (sc && pe_tag_data_count(d) == 1) {
        pe_tag_example ex = pe_tag_data_get(d, 0);
        int32_t pred[64];
        for (int t = 0; t < 64; t++) pred[t] = 1; /* B-PER */
        const int32_t *pp[1] = {pred};
        PE_CHECK(ex.len <= 64);
        pe_eval_result r;
        memset(&r, 0, sizeof r);
        PE_CHECK_EQ_INT(pe_ner_scorer_score(sc, d, pp, NULL, &r, &err), PE_OK);
        PE_CHECK_NEAR(r.metric, 1.0, 1e-9); /* without the rules: precision 1/4 */
        PE_CHECK_NEAR(r.extra[0], 1.0, 1e-9);
    }
    pe_ner_scorer_free(sc);
    pe_tag_data_free(d);
    pe_ner_labels_free(labels, nl);
    pe_ner_corpus_free(c);
    pe_tokenizer_free(tok);
}

/* Document context: the sentences around each one in its document. */
static void test_doc_context(void)
{
    pe_tokenizer *tok = vocab16k();
    if (!tok) return;
    pe_error err;
    char path[600];
    snprintf(path, sizeof path, "%s/docs.conll", tmpdir);
    FILE *f = fopen(path, "w");
    PE_CHECK(f != NULL);
    if (f) { /* a sentence before any document, then documents of 3 and 1 sentences */
        fputs("alone\tO\n\n-DOCSTART- O\n\nann\tB-PER\nis\tO\n\nshe\tO\nlives\tO\nin\tO\nrome\tB-LOC\n\n"
              "bob\tB-PER\nis\tO\n\n-DOCSTART- O\n\nparis\tB-LOC\n\n",
              f);
        fclose(f);
    }
    static const char *const types[] = {"PER", "LOC"};
    pe_ner_corpus *c = NULL;
    char **labels = NULL;
    int nl = 0;
    PE_CHECK_EQ_INT(pe_ner_corpus_read(path, NULL, &c, &err), PE_OK);
    PE_CHECK_EQ_INT(pe_ner_labels_make(types, 2, &labels, &nl, &err), PE_OK);
    if (!c || pe_ner_corpus_count(c) != 5) {
        PE_CHECK_MSG(0, "read %zu sentences", c ? pe_ner_corpus_count(c) : 0);
        goto done;
    }
    PE_CHECK_EQ_INT(pe_ner_corpus_get(c, 0)->doc, -1);
    PE_CHECK_EQ_INT(pe_ner_corpus_get(c, 1)->doc, 0);
    PE_CHECK_EQ_INT(pe_ner_corpus_get(c, 3)->doc, 0);
    PE_CHECK_EQ_INT(pe_ner_corpus_get(c, 4)->doc, 1);
    size_t *lo = NULL, *hi = NULL;
    /* room for all: each sentence of the first document sees the three */
    PE_CHECK_EQ_INT(pe_ner_doc_context(c, tok, 64, &lo, &hi, &err), PE_OK);
    if (lo && hi) {
        PE_CHECK(lo[0] == 0 && hi[0] == 1);
        PE_CHECK(lo[1] == 1 && hi[1] == 4 && lo[2] == 1 && hi[2] == 4 && lo[3] == 1 && hi[3] == 4);
        PE_CHECK(lo[4] == 4 && hi[4] == 5);
    }
    free(lo);
    free(hi);
    /* 8 tokens with [CLS]/[SEP]: "she lives in rome" (4) takes one neighbour
     * of 2, the one before first */
    PE_CHECK_EQ_INT(pe_ner_doc_context(c, tok, 8, &lo, &hi, &err), PE_OK);
    if (lo && hi) PE_CHECK_MSG(lo[2] == 1 && hi[2] == 3, "sentence 2 within %zu..%zu", lo[2], hi[2]);
    free(lo);
    free(hi);
    /* examples: the context's words are input, never labels; the scorer
     * maps each sentence's words into its example: gold in, F1 1 out */
    pe_tag_data *d = NULL, *d0 = NULL;
    pe_ner_scorer *sc = NULL;
    PE_CHECK_EQ_INT(pe_tag_data_new(&d, &err), PE_OK);
    PE_CHECK_EQ_INT(pe_tag_data_new(&d0, &err), PE_OK);
    PE_CHECK_EQ_INT(pe_ner_add_examples(c, tok, (const char *const *)labels, nl, 64, NULL, PE_NER_USE_DOC_CONTEXT, d,
                                        NULL, &err),
                    PE_OK);
    PE_CHECK_EQ_INT(pe_ner_add_examples(c, tok, (const char *const *)labels, nl, 64, NULL, 0, d0, NULL, &err), PE_OK);
    PE_CHECK_EQ_INT(pe_ner_scorer_new(c, tok, (const char *const *)labels, nl, 64, 1, &sc, &err), PE_OK);
    if (sc && pe_tag_data_count(d) == 5 && pe_tag_data_count(d0) == 5) {
        int32_t *pred[5];
        for (size_t i = 0; i < 5; i++) {
            pe_tag_example ex = pe_tag_data_get(d, i), e0 = pe_tag_data_get(d0, i);
            int lab = 0, lab0 = 0;
            for (int t = 0; t < ex.len; t++) lab += ex.labels[t] != -100;
            for (int t = 0; t < e0.len; t++) lab0 += e0.labels[t] != -100;
            PE_CHECK_EQ_INT(lab, lab0); /* only the sentence's own words */
            pred[i] = malloc((size_t)ex.len * sizeof **pred);
            for (int t = 0; t < ex.len; t++) pred[i][t] = ex.labels[t] < 0 ? 2 : ex.labels[t]; /* context: I-PER */
        }
        PE_CHECK(pe_tag_data_get(d, 2).len == 2 + 8 && pe_tag_data_get(d0, 2).len == 2 + 4);
        pe_eval_result r;
        memset(&r, 0, sizeof r);
        PE_CHECK_EQ_INT(pe_ner_scorer_score(sc, d, (const int32_t *const *)pred, NULL, &r, &err), PE_OK);
        PE_CHECK_NEAR(r.metric, 1.0, 1e-9);
        for (size_t i = 0; i < 5; i++) free(pred[i]);
    }
    pe_ner_scorer_free(sc);
    pe_tag_data_free(d);
    pe_tag_data_free(d0);
done:
    pe_ner_labels_free(labels, nl);
    pe_ner_corpus_free(c);
    pe_tokenizer_free(tok);
}

static void test_ner_examples(void)
{
    pe_tokenizer *tok = vocab16k();
    PE_CHECK(tok != NULL);
    if (!tok) return;
    static const char *const types[] = {"PER", "LOC", "ORG", "MISC"};
    pe_ner_corpus *c = NULL;
    pe_error err;
    PE_CHECK_EQ_INT(pe_ner_corpus_read(PE_FIXTURES "/ner/tiny.conll", NULL, &c, &err), PE_OK);
    char **labels;
    int nl;
    PE_CHECK_EQ_INT(pe_ner_labels_make(types, 4, &labels, &nl, &err), PE_OK);
    PE_CHECK_EQ_INT(nl, 9);
    PE_CHECK_EQ_STR(labels[3], "B-LOC");
    pe_tag_data *d = NULL;
    pe_tag_data_new(&d, &err);
    size_t cut;
    PE_CHECK_EQ_INT(pe_ner_add_examples(c, tok, (const char *const *)labels, nl, 64, NULL, 0, d, &cut, &err), PE_OK);
    PE_CHECK_EQ_INT(pe_tag_data_count(d), 3);
    PE_CHECK_EQ_INT(cut, 0);
    pe_tag_example e = pe_tag_data_get(d, 0);
    /* [CLS] i met john smith in paris . [SEP]: one token a word here */
    int labelled = 0;
    for (int t = 0; t < e.len; t++) labelled += e.labels[t] >= 0;
    PE_CHECK_EQ_INT(labelled, 7);
    PE_CHECK_EQ_INT(e.labels[0], -100);
    PE_CHECK_EQ_INT(e.labels[3], 1); /* john: B-PER */
    PE_CHECK_EQ_INT(e.labels[4], 2); /* smith: I-PER */
    PE_CHECK_EQ_INT(e.labels[6], 3); /* paris: B-LOC */
    PE_CHECK(e.feats == NULL);
    /* truncation is counted */
    pe_tag_data *d2 = NULL;
    pe_tag_data_new(&d2, &err);
    PE_CHECK_EQ_INT(pe_ner_add_examples(c, tok, (const char *const *)labels, nl, 6, NULL, 0, d2, &cut, &err), PE_OK);
    PE_CHECK(cut >= 1);
    /* a tag outside the labels */
    static const char *const few[] = {"PER"};
    char **l2;
    int n2;
    pe_ner_labels_make(few, 1, &l2, &n2, &err);
    PE_CHECK_EQ_INT(pe_ner_add_examples(c, tok, (const char *const *)l2, n2, 64, NULL, 0, d2, &cut, &err), PE_ERR_INVALID);
    PE_CHECK(strstr(err.msg, "B-LOC") != NULL);
    pe_ner_labels_free(l2, n2);
    /* a file that does not annotate ORG and MISC: its O words are partial
     * labels, 9 + the mask of ORG (pair 2) and MISC (pair 3) */
    pe_ner_corpus_free(c);
    c = NULL;
    pe_ner_read_options ro = pe_ner_read_options_default();
    ro.missing_types = "ORG,MISC";
    PE_CHECK_EQ_INT(pe_ner_corpus_read(PE_FIXTURES "/ner/tiny.conll", &ro, &c, &err), PE_OK);
    if (c) {
        PE_CHECK_EQ_STR(pe_ner_corpus_get(c, 0)->tags[0], "O?ORG,MISC");
        PE_CHECK_EQ_STR(pe_ner_corpus_get(c, 0)->tags[2], "B-PER");
        pe_tag_data *d3 = NULL;
        pe_tag_data_new(&d3, &err);
        PE_CHECK_EQ_INT(pe_ner_add_examples(c, tok, (const char *const *)labels, nl, 64, NULL, 0, d3, &cut, &err), PE_OK);
        e = pe_tag_data_get(d3, 0);
        PE_CHECK_EQ_INT(e.labels[1], 9 + (1 << 2 | 1 << 3)); /* i */
        PE_CHECK_EQ_INT(e.labels[3], 1);                     /* john: B-PER */
        pe_tag_data_free(d3);
        pe_ner_corpus_free(c);
        /* a missing type that is not among the labels */
        ro.missing_types = "ORG,EVENT";
        c = NULL;
        PE_CHECK_EQ_INT(pe_ner_corpus_read(PE_FIXTURES "/ner/tiny.conll", &ro, &c, &err), PE_OK);
        d3 = NULL;
        pe_tag_data_new(&d3, &err);
        if (c) PE_CHECK_EQ_INT(pe_ner_add_examples(c, tok, (const char *const *)labels, nl, 64, NULL, 0, d3, &cut, &err), PE_ERR_INVALID);
        pe_tag_data_free(d3);
    }
    pe_tag_data_free(d);
    pe_tag_data_free(d2);
    pe_ner_labels_free(labels, nl);
    pe_ner_corpus_free(c);
    pe_tokenizer_free(tok);
}

/* ---- relations ---- */

static void test_word_features(void)
{
    PE_CHECK_EQ_INT(pe_ner_word_shape("paris"), PE_NER_SHAPE_LOWER);
    PE_CHECK_EQ_INT(pe_ner_word_shape("1984"), PE_NER_SHAPE_LOWER);
    PE_CHECK_EQ_INT(pe_ner_word_shape("Paris"), PE_NER_SHAPE_CAPITALISED);
    PE_CHECK_EQ_INT(pe_ner_word_shape("O'neil"), PE_NER_SHAPE_CAPITALISED);
    PE_CHECK_EQ_INT(pe_ner_word_shape("NASA"), PE_NER_SHAPE_UPPER);
    PE_CHECK_EQ_INT(pe_ner_word_shape("U.S."), PE_NER_SHAPE_UPPER);
    PE_CHECK_EQ_INT(pe_ner_word_shape("iPhone"), PE_NER_SHAPE_MIXED);
    PE_CHECK_EQ_INT(pe_ner_word_shape("McDonald"), PE_NER_SHAPE_MIXED);
    PE_CHECK_EQ_INT(pe_ner_word_shape("A"), PE_NER_SHAPE_MIXED);
    PE_CHECK_EQ_INT(pe_ner_word_shape("\xc3\x89" "cole"), PE_NER_SHAPE_LOWER); /* non-ASCII capitals are not looked at */
    PE_CHECK_EQ_INT(pe_ner_feature_count(0), 0);
    PE_CHECK_EQ_INT(pe_ner_feature_count(PE_NER_USE_GRAPH), PE_NER_N_FEAT);
    PE_CHECK_EQ_INT(pe_ner_feature_count(PE_NER_USE_SHAPE), PE_NER_N_SHAPE);
    PE_CHECK_EQ_INT(pe_ner_feature_count(PE_NER_USE_GRAPH | PE_NER_USE_SHAPE), PE_NER_N_FEAT * PE_NER_N_SHAPE);
    for (int use = 0; use < 4; use++) PE_CHECK_EQ_INT(pe_ner_feature_use(pe_ner_feature_count(use)), use);
    PE_CHECK_EQ_INT(pe_ner_feature_use(5), -1);
    const char *words[] = {"I", "met", "John", "in", "NYC"};
    int32_t f[5];
    pe_error err;
    PE_CHECK_EQ_INT(pe_ner_word_features(NULL, PE_NER_USE_SHAPE, words, 5, f, &err), PE_OK);
    PE_CHECK(f[0] == PE_NER_SHAPE_MIXED && f[1] == 0 && f[2] == PE_NER_SHAPE_CAPITALISED && f[3] == 0 &&
             f[4] == PE_NER_SHAPE_UPPER);
    /* both, without a graph: the graph part is none */
    PE_CHECK_EQ_INT(pe_ner_word_features(NULL, PE_NER_USE_GRAPH | PE_NER_USE_SHAPE, words, 5, f, &err), PE_OK);
    PE_CHECK(f[2] == PE_NER_N_FEAT * PE_NER_SHAPE_CAPITALISED && f[4] == PE_NER_N_FEAT * PE_NER_SHAPE_UPPER && f[1] == 0);
    PE_CHECK_EQ_INT(pe_ner_word_features(NULL, 0, words, 5, f, &err), PE_OK);
    PE_CHECK(f[0] == 0 && f[2] == 0 && f[4] == 0);
}

/* A head whose probabilities are `probs` for every token (W 0, b their logs). */
static pe_token_head *fixed_head(const char *name, const double *probs, int K)
{
    pe_token_head *h = NULL;
    pe_error err;
    if (pe_token_head_new(name, 4, K, 0, 0, 1, &h, &err) != PE_OK) return NULL;
    int n;
    const pe_train_param *p = pe_token_head_params(h, &n);
    memset(p[0].data, 0, (size_t)p[0].numel * sizeof(float));
    for (int k = 0; k < K; k++) p[1].data[k] = (float)log(probs[k]);
    return h;
}

/* Examples added after the objective was made are not silently left out:
 * the next batch fails and says so. */
static void test_objective_data_grows(void)
{
    pe_error err;
    const double pn[3] = {0.5, 0.25, 0.25};
    pe_token_head *h = fixed_head("rel", pn, 3);
    pe_tag_data *td = NULL;
    pe_tag_objective *o = NULL;
    PE_CHECK(h != NULL);
    if (!h || pe_tag_data_new(&td, &err) != PE_OK) goto done;
    const int32_t ids[3] = {2, 7, 3}, lab[3] = {-100, 1, -100};
    PE_CHECK_EQ_INT(pe_tag_data_add(td, ids, lab, NULL, 3, &err), PE_OK);
    PE_CHECK_EQ_INT(pe_tag_objective_new("rel", h, td, NULL, NULL, NULL, &o, &err), PE_OK);
    if (!o) goto done;
    const pe_objective *obj = pe_tag_objective_get(o);
    PE_CHECK_EQ_INT((int)obj->n_examples, 1);
    size_t idx[1] = {0};
    int32_t bid[8], bty[8];
    int len[2];
    PE_CHECK_EQ_INT(obj->batch(obj->ctx, idx, 1, 1, bid, bty, len, &err), PE_OK);
    PE_CHECK_EQ_INT(pe_tag_data_add(td, ids, lab, NULL, 3, &err), PE_OK);
    PE_CHECK_EQ_INT(obj->batch(obj->ctx, idx, 1, 1, bid, bty, len, &err), PE_ERR_INVALID);
    PE_CHECK_MSG(strstr(err.msg, "grew from 1 to 2"), "%s", err.msg);
done:
    pe_tag_objective_free(o);
    pe_tag_data_free(td);
    pe_token_head_free(h);
}

/* fixed development metrics for the mix's evaluation */
static pe_status metric_of(void *ctx, pe_train *tr, pe_eval_result *out, pe_error *err)
{
    (void)tr;
    (void)err;
    out->metric_name = "f1";
    out->metric = *(const double *)ctx;
    return PE_OK;
}

/* The mix's development metric is the plain mean of its children's, whatever
 * their loss weights: a recipe that weighs one loss more is selected and
 * compared on the same scale as one that does not. */
static void test_mix_metric_unweighted(void)
{
    pe_error err;
    double m0 = 0.4, m1 = 0.8;
    pe_objective a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    a.name = "ner";
    a.ctx = &m0;
    a.evaluate = metric_of;
    b.name = "rel";
    b.ctx = &m1;
    b.evaluate = metric_of;
    const pe_objective *objs[2] = {&a, &b};
    const float weights[2] = {1.0f, 3.0f};
    pe_objective_mix *mix = NULL;
    PE_CHECK_EQ_INT(pe_objective_mix_new(objs, weights, 2, "tag", 8, &mix, &err), PE_OK);
    if (!mix) return;
    const pe_objective *o = pe_objective_mix_get(mix);
    pe_eval_result r;
    memset(&r, 0, sizeof r);
    PE_CHECK_EQ_INT(o->evaluate(o->ctx, NULL, &r, &err), PE_OK);
    PE_CHECK_MSG(fabs(r.metric - 0.6) < 1e-12, "mean_metric %g, want 0.6 (weighted would be 0.7)", r.metric);
    PE_CHECK_EQ_INT(r.n_extra, 2);
    PE_CHECK_MSG(r.n_extra == 2 && fabs(r.extra[1] - 0.8) < 1e-12 && strcmp(r.extra_names[1], "rel.f1") == 0,
                 "extra %s %g", r.n_extra == 2 ? r.extra_names[1] : "?", r.n_extra == 2 ? r.extra[1] : 0.0);
    /* ner's development data trained on: logged, not in the mean */
    PE_CHECK_EQ_INT(pe_objective_mix_select(mix, 0, 0, &err), PE_OK);
    memset(&r, 0, sizeof r);
    PE_CHECK_EQ_INT(o->evaluate(o->ctx, NULL, &r, &err), PE_OK);
    PE_CHECK_MSG(fabs(r.metric - 0.8) < 1e-12, "mean_metric %g, want rel's 0.8 alone", r.metric);
    PE_CHECK_MSG(r.n_extra == 2 && fabs(r.extra[0] - 0.4) < 1e-12 && strcmp(r.extra_names[0], "ner.f1") == 0,
                 "ner still logged: %d extras", r.n_extra);
    /* the last metric that selects cannot be turned off; a bad index is refused */
    PE_CHECK_EQ_INT(pe_objective_mix_select(mix, 1, 0, &err), PE_ERR_INVALID);
    PE_CHECK_EQ_INT(pe_objective_mix_select(mix, 2, 1, &err), PE_ERR_INVALID);
    PE_CHECK_EQ_INT(pe_objective_mix_select(mix, 0, 1, &err), PE_OK);
    memset(&r, 0, sizeof r);
    PE_CHECK_EQ_INT(o->evaluate(o->ctx, NULL, &r, &err), PE_OK);
    PE_CHECK_MSG(fabs(r.metric - 0.6) < 1e-12, "mean_metric %g after counting ner again", r.metric);
    pe_objective_mix_free(mix);
}

static void test_grouped_decode(void)
{
    pe_error err;
    float hidden[4] = {0, 0, 0, 0}, conf;
    int32_t lab;
    /* NER: O 0.4 is the argmax, but the entities total 0.6, type A 0.4 of it */
    const double pn[5] = {0.40, 0.35, 0.05, 0.10, 0.10};
    pe_token_head *h = fixed_head("ner", pn, 5);
    PE_CHECK(h != NULL);
    if (!h) return;
    PE_CHECK_EQ_INT(pe_token_head_label(h, hidden, NULL, 1, &lab, &conf, &err), PE_OK);
    PE_CHECK(lab == 0 && fabsf(conf - 0.40f) < 1e-5f);
    PE_CHECK_EQ_INT(pe_ner_head_decode(h, PE_DECODE_GROUPED, &err), PE_OK);
    PE_CHECK_EQ_INT(pe_token_head_label(h, hidden, NULL, 1, &lab, &conf, &err), PE_OK);
    PE_CHECK(lab == 1 && fabsf(conf - 0.40f) < 1e-5f);
    PE_CHECK_EQ_INT(pe_ner_head_decode(h, PE_DECODE_ARGMAX, &err), PE_OK);
    PE_CHECK_EQ_INT(pe_token_head_label(h, hidden, NULL, 1, &lab, &conf, &err), PE_OK);
    PE_CHECK_EQ_INT(lab, 0);
    pe_token_head_free(h);
    /* relations: O 0.3, subject 0.2, objects 0.5 of which relation 1 has 0.3 (I the larger) */
    const double pr[7] = {0.30, 0.15, 0.05, 0.12, 0.08, 0.10, 0.20};
    h = fixed_head("rel", pr, 7);
    PE_CHECK(h != NULL);
    if (!h) return;
    PE_CHECK_EQ_INT(pe_rel_head_decode(h, PE_DECODE_GROUPED, &err), PE_OK);
    PE_CHECK_EQ_INT(pe_token_head_label(h, hidden, NULL, 1, &lab, &conf, &err), PE_OK);
    PE_CHECK(lab == 6 && fabsf(conf - 0.30f) < 1e-5f);
    /* the subject wins when its total is the largest */
    const double ps[7] = {0.30, 0.22, 0.18, 0.10, 0.05, 0.10, 0.05};
    pe_token_head_free(h);
    h = fixed_head("rel", ps, 7);
    PE_CHECK(h != NULL);
    if (!h) return;
    PE_CHECK_EQ_INT(pe_rel_head_decode(h, PE_DECODE_GROUPED, &err), PE_OK);
    PE_CHECK_EQ_INT(pe_token_head_label(h, hidden, NULL, 1, &lab, &conf, &err), PE_OK);
    PE_CHECK(lab == 1 && fabsf(conf - 0.40f) < 1e-5f);
    /* bad groups and heads */
    const int bad[7] = {0, -2, 0, 0, 0, 0, 0};
    PE_CHECK_EQ_INT(pe_token_head_set_groups(h, bad, NULL, &err), PE_ERR_INVALID);
    pe_token_head_free(h);
    h = fixed_head("ner", pn, 4);
    PE_CHECK_EQ_INT(pe_ner_head_decode(h, PE_DECODE_GROUPED, &err), PE_ERR_INVALID);
    pe_token_head_free(h);
}

/* A head whose token t (hidden state: one-hot e_t, t < C) gets the
 * probabilities probs[t] (K each): W[k][t] = log probs[t][k], b = 0. */
static pe_token_head *onehot_head(const char *name, const double *probs, int C, int K)
{
    pe_token_head *h = NULL;
    pe_error err;
    if (pe_token_head_new(name, C, K, 0, 0, 1, &h, &err) != PE_OK) return NULL;
    int n;
    const pe_train_param *p = pe_token_head_params(h, &n);
    memset(p[1].data, 0, (size_t)K * sizeof(float));
    for (int k = 0; k < K; k++)
        for (int t = 0; t < C; t++) p[0].data[(size_t)k * C + t] = (float)log(probs[(size_t)t * K + k]);
    return h;
}

/* The valid BIO sequence (no I first, I-x only after B-x or I-x) of
 * largest log probability, by enumeration: the reference for Viterbi. */
static double brute_best(const double *probs, int T, int K, int32_t *best)
{
    double top = -INFINITY;
    int32_t seq[8];
    long total = 1;
    for (int t = 0; t < T; t++) total *= K;
    for (long c = 0; c < total; c++) {
        long r = c;
        int ok = 1;
        double lp = 0.0;
        for (int t = 0; t < T; t++) {
            seq[t] = (int32_t)(r % K);
            r /= K;
            const int is_i = seq[t] > 0 && seq[t] % 2 == 0;
            if (is_i && (t == 0 || (seq[t - 1] != seq[t] && seq[t - 1] != seq[t] - 1))) ok = 0;
            lp += log(probs[(size_t)t * K + seq[t]]);
        }
        if (ok && lp > top) {
            top = lp;
            memcpy(best, seq, (size_t)T * sizeof *seq);
        }
    }
    return top;
}

static void test_viterbi_decode(void)
{
    pe_error err;
    /* NER, K = 5 (O, B-A, I-A, B-B, I-B): argmax opens with I-A */
    const double p[3 * 5] = {0.30, 0.25, 0.35, 0.05, 0.05,  /* word 1 */
                             0.90, 0.02, 0.04, 0.02, 0.02,  /* a word's second token */
                             0.10, 0.05, 0.60, 0.05, 0.20}; /* word 2 */
    pe_token_head *h = onehot_head("ner", p, 3, 5);
    PE_CHECK(h != NULL);
    if (!h) return;
    float hid[3 * 3] = {1, 0, 0, 0, 1, 0, 0, 0, 1}, conf[3];
    int32_t lab[3];
    const unsigned char ws[3] = {1, 0, 1};
    PE_CHECK_EQ_INT(pe_token_head_label_words(h, hid, NULL, 3, ws, lab, conf, &err), PE_OK);
    PE_CHECK(lab[0] == 2 && lab[1] == 0 && lab[2] == 2); /* argmax */
    PE_CHECK_EQ_INT(pe_ner_head_decode(h, PE_DECODE_VITERBI, &err), PE_OK);
    PE_CHECK_EQ_INT(pe_token_head_label_words(h, hid, NULL, 3, ws, lab, conf, &err), PE_OK);
    /* B-A I-A over the words (0.25 * 0.60 beats O O's 0.30 * 0.10); the
     * second token keeps its argmax and does not break the chain */
    PE_CHECK(lab[0] == 1 && lab[1] == 0 && lab[2] == 2);
    /* conf: the pair's total on the chain (B-A + I-A), the argmax's elsewhere */
    PE_CHECK(fabsf(conf[0] - 0.60f) < 1e-5f && fabsf(conf[1] - 0.90f) < 1e-5f && fabsf(conf[2] - 0.65f) < 1e-5f);
    /* without word starts every token is in the chain: O after word 1 */
    PE_CHECK_EQ_INT(pe_token_head_label(h, hid, NULL, 3, lab, conf, &err), PE_OK);
    PE_CHECK(lab[1] == 0 && (lab[2] == 1 || lab[2] == 3 || lab[2] == 0));
    /* grouped after Viterbi turns Viterbi off */
    PE_CHECK_EQ_INT(pe_ner_head_decode(h, PE_DECODE_GROUPED, &err), PE_OK);
    PE_CHECK_EQ_INT(pe_token_head_label_words(h, hid, NULL, 3, ws, lab, conf, &err), PE_OK);
    PE_CHECK_EQ_INT(lab[0], 2);
    PE_CHECK_EQ_INT(pe_ner_head_decode(h, (pe_tag_decode)7, &err), PE_ERR_INVALID);
    pe_token_head_free(h);
    /* against enumeration: relation-shaped heads (K = 7) over 6 words of
     * random probabilities, many seeds */
    enum { T = 6, K = 7 };
    uint64_t seed = 11;
    for (int round = 0; round < 40; round++) {
        double q[T * K];
        for (int t = 0; t < T; t++) {
            double sum = 0.0;
            for (int k = 0; k < K; k++) {
                seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
                /* peaked rows, often on an I label */
                q[t * K + k] = 0.01 + (double)(seed >> 40) / (double)(1ULL << 24) * (k % 2 == 0 && k ? 3.0 : 1.0);
                sum += q[t * K + k];
            }
            for (int k = 0; k < K; k++) q[t * K + k] /= sum;
        }
        h = onehot_head("rel", q, T, K);
        PE_CHECK(h != NULL);
        if (!h) return;
        PE_CHECK_EQ_INT(pe_rel_head_decode(h, PE_DECODE_VITERBI, &err), PE_OK);
        float hv[T * T] = {0}, cv[T];
        for (int t = 0; t < T; t++) hv[t * T + t] = 1.0f;
        int32_t lv[T], ref[T] = {0};
        PE_CHECK_EQ_INT(pe_token_head_label(h, hv, NULL, T, lv, cv, &err), PE_OK);
        const double top = brute_best(q, T, K, ref);
        double got = 0.0;
        for (int t = 0; t < T; t++) got += log(q[t * K + lv[t]]);
        PE_CHECK_MSG(fabs(got - top) < 1e-4, "round %d: viterbi %.6f, best %.6f", round, got, top);
        int same = 1;
        for (int t = 0; t < T; t++) same &= lv[t] == ref[t];
        PE_CHECK_MSG(same, "round %d: another sequence of the same score?", round);
        pe_token_head_free(h);
    }
}

static void test_rel_reader_and_score(void)
{
    pe_rel_data *d = NULL;
    pe_error err;
    PE_CHECK_EQ_INT(pe_rel_data_read(PE_FIXTURES "/rel/tiny.jsonl", NULL, 0, 1, &d, &err), PE_OK);
    if (!d) return;
    PE_CHECK_EQ_INT(pe_rel_data_count(d), 5); /* the two "dogs ... pizza" lines are one utterance */
    PE_CHECK_EQ_INT(pe_rel_data_n_relations(d), 6);
    PE_CHECK_EQ_STR(pe_rel_data_relation(d, 0), "employed_by_general"); /* sorted */
    const pe_rel_utterance *u = pe_rel_data_get(d, 1);
    PE_CHECK_EQ_INT(u->n_triples, 2);
    PE_CHECK_EQ_INT(pe_rel_data_discontiguous(d), 1); /* cook ... swim */
    const pe_rel_utterance *w = pe_rel_data_get(d, 2);
    PE_CHECK_EQ_INT(w->triples[0].subj_start, 0);
    PE_CHECK_EQ_INT(w->triples[0].subj_end, 2);
    /* labels and decoding: "i have two dogs and i love pizza" */
    char **labels;
    int nl;
    const char *rels[6];
    for (int i = 0; i < 6; i++) rels[i] = pe_rel_data_relation(d, i);
    PE_CHECK_EQ_INT(pe_rel_labels_make(rels, 6, &labels, &nl, &err), PE_OK);
    PE_CHECK_EQ_INT(nl, 15);
    int have_pet = -1, like_food = -1;
    for (int i = 0; i < 6; i++) {
        if (!strcmp(rels[i], "have_pet")) have_pet = i;
        if (!strcmp(rels[i], "like_food")) like_food = i;
    }
    int32_t wl[8] = {1, 0, 0, 3 + 2 * have_pet, 0, 1, 0, 3 + 2 * like_food};
    pe_rel_triple *t = NULL;
    int nt = 0;
    PE_CHECK_EQ_INT(pe_rel_decode(wl, NULL, 8, 6, &t, &nt, &err), PE_OK);
    PE_CHECK_EQ_INT(nt, 2);
    if (nt == 2) {
        PE_CHECK_EQ_INT(t[0].relation, have_pet);
        PE_CHECK_EQ_INT(t[0].subj_start, 0);
        PE_CHECK_EQ_INT(t[1].relation, like_food);
        PE_CHECK_EQ_INT(t[1].subj_start, 5); /* the nearest subject before */
        PE_CHECK_EQ_INT(t[1].obj_start, 7);
    }
    /* B-r right after an object of r: one object ("the" "beatles"); after
     * another relation's object: two */
    {
        const int32_t wm[5] = {1, 3 + 2 * like_food, 3 + 2 * like_food, 4 + 2 * like_food, 3 + 2 * have_pet};
        const float cm[5] = {1.0f, 0.2f, 0.8f, 0.8f, 0.5f};
        pe_rel_triple *tm = NULL;
        int nm = 0;
        PE_CHECK_EQ_INT(pe_rel_decode(wm, cm, 5, 6, &tm, &nm, &err), PE_OK);
        PE_CHECK_EQ_INT(nm, 2);
        if (nm == 2) {
            PE_CHECK(tm[0].relation == like_food && tm[0].obj_start == 1 && tm[0].obj_end == 4);
            PE_CHECK(fabsf(tm[0].score - 0.6f) < 1e-6f);
            PE_CHECK(tm[1].relation == have_pet && tm[1].obj_start == 4 && tm[1].obj_end == 5);
        }
        free(tm);
    }
    /* scoring: utterance 1 fully right; utterance 0 ("live in paris") predicted with the wrong span */
    const pe_rel_utterance *gold[2] = {pe_rel_data_get(d, 1), pe_rel_data_get(d, 0)};
    pe_rel_triple wrong = {0, 1, 2, 4, pe_rel_data_get(d, 0)->triples[0].relation, 0.5f, 0};
    const pe_rel_triple *pred[2] = {t, &wrong};
    int np[2] = {nt, 1};
    pe_rel_scores s;
    PE_CHECK_EQ_INT(pe_rel_score(gold, pred, np, 2, 6, &s, &err), PE_OK);
    PE_CHECK_EQ_INT(s.tp, 2);
    PE_CHECK_EQ_INT(s.fp, 1);
    PE_CHECK_EQ_INT(s.fn, 1);
    PE_CHECK_NEAR(s.f1, 2.0 / 3.0, 1e-12);
    PE_CHECK_NEAR(s.relation_f1, 1.0, 1e-12);      /* the relations are right */
    PE_CHECK_NEAR(s.relation_accuracy, 1.0, 1e-12);
    pe_rel_scores_clear(&s);
    free(t);
    pe_rel_labels_free(labels, nl);
    pe_rel_data_free(d);
    /* bad lines: strict names file:line; otherwise skipped and counted */
    PE_CHECK_EQ_INT(pe_rel_data_read(PE_FIXTURES "/rel/bad.jsonl", NULL, 0, 1, &d, &err), PE_ERR_PARSE);
    PE_CHECK(strstr(err.msg, "bad.jsonl:2:") != NULL);
    PE_CHECK_EQ_INT(pe_rel_data_read(PE_FIXTURES "/rel/bad.jsonl", NULL, 0, 0, &d, &err), PE_OK);
    PE_CHECK_EQ_INT(pe_rel_data_count(d), 2);
    PE_CHECK_EQ_INT(pe_rel_data_skipped(d), 2);
    pe_rel_data_free(d);
    /* a relation outside a fixed inventory */
    static const char *const only[] = {"live_in_citystatecountry"};
    PE_CHECK_EQ_INT(pe_rel_data_read(PE_FIXTURES "/rel/tiny.jsonl", only, 1, 1, &d, &err), PE_ERR_PARSE);
    PE_CHECK(strstr(err.msg, "unknown relation") != NULL);
}

/* ---- end to end: fine-tune, save, load, extract ---- */

/* The object labels of relation rel (B-rel 3 + 2 rel, I-rel 4 + 2 rel) in
 * an example: *b B-rel tokens, *in I-rel tokens, *other tokens of another
 * relation's object. */
static void object_labels(pe_tag_example ex, int rel, int *b, int *in, int *other)
{
    *b = *in = *other = 0;
    for (int t = 0; t < ex.len; t++) {
        *b += ex.labels[t] == 3 + 2 * rel;
        *in += ex.labels[t] == 4 + 2 * rel;
        *other += ex.labels[t] >= 3 && ex.labels[t] != 3 + 2 * rel && ex.labels[t] != 4 + 2 * rel;
    }
}

/* Object swaps: "i live in paris ." and "we moved to new york city" lend
 * each other their objects; every added example has one object, of one
 * or three words, under live_in's labels. */
static void test_rel_swaps(void)
{
    pe_tokenizer *tok = vocab16k();
    if (!tok) return;
    char path[700];
    snprintf(path, sizeof path, "%s/swaps.jsonl", tmpdir);
    FILE *f = fopen(path, "w");
    PE_CHECK(f != NULL);
    if (!f) {
        pe_tokenizer_free(tok);
        return;
    }
    fputs("{\"tokens\": [\"i\", \"live\", \"in\", \"paris\", \".\"], \"head\": [0], \"tail\": [3], \"label\": \"live_in\"}\n"
          "{\"tokens\": [\"we\", \"moved\", \"to\", \"new\", \"york\", \"city\"], \"head\": [0], \"tail\": [3, 4, 5], "
          "\"label\": \"live_in\"}\n"
          "{\"tokens\": [\"i\", \"love\", \"pizza\"], \"head\": [0], \"tail\": [2], \"label\": \"like_food\"}\n",
          f);
    fclose(f);
    pe_error err;
    pe_rel_data *d = NULL;
    PE_CHECK_EQ_INT(pe_rel_data_read(path, NULL, 0, 1, &d, &err), PE_OK);
    pe_tag_data *td = NULL;
    PE_CHECK_EQ_INT(pe_tag_data_new(&td, &err), PE_OK);
    size_t added = 99;
    PE_CHECK_EQ_INT(pe_rel_add_swapped_examples(d, tok, 64, 4, 0, 1, td, &added, &err), PE_OK);
    PE_CHECK(added >= 2 && added <= 8); /* like_food has no donor; a draw of the utterance itself is skipped */
    PE_CHECK_EQ_INT(pe_tag_data_count(td), added);
    const int live = !strcmp(pe_rel_data_relation(d, 0), "live_in") ? 0 : 1;
    int long_obj = 0, short_obj = 0;
    for (size_t i = 0; i < pe_tag_data_count(td); i++) {
        int b, in, other;
        object_labels(pe_tag_data_get(td, i), live, &b, &in, &other);
        PE_CHECK(b == 1 && other == 0 && (in == 0 || in == 2));
        long_obj += in == 2;
        short_obj += in == 0;
    }
    PE_CHECK(long_obj >= 1 && short_obj >= 1); /* both directions were drawn with 4 copies */
    /* the same seed, the same examples */
    pe_tag_data *td2 = NULL;
    size_t added2 = 0;
    PE_CHECK_EQ_INT(pe_tag_data_new(&td2, &err), PE_OK);
    PE_CHECK_EQ_INT(pe_rel_add_swapped_examples(d, tok, 64, 4, 0, 1, td2, &added2, &err), PE_OK);
    PE_CHECK_EQ_INT(added2, added);
    PE_CHECK_EQ_INT(pe_rel_add_swapped_examples(d, tok, 64, -1, 0, 1, td2, &added2, &err), PE_ERR_INVALID);
    /* any relation: "i love pizza" lends "pizza" to live_in and takes its
     * objects; every example keeps its own relation's labels */
    pe_tag_data *td3 = NULL;
    size_t added3 = 0;
    PE_CHECK_EQ_INT(pe_tag_data_new(&td3, &err), PE_OK);
    PE_CHECK_EQ_INT(pe_rel_add_swapped_examples(d, tok, 64, 6, 1, 3, td3, &added3, &err), PE_OK);
    PE_CHECK(added3 > added);
    int food_with_other = 0;
    for (size_t i = 0; i < pe_tag_data_count(td3); i++) {
        pe_tag_example ex = pe_tag_data_get(td3, i);
        int b = 0;
        for (int t = 0; t < ex.len; t++) b += ex.labels[t] >= 3 && (ex.labels[t] - 3) % 2 == 0;
        PE_CHECK_EQ_INT(b, 1);
        food_with_other += ex.labels[3] == 3 + 2 * (1 - live) || ex.labels[3] == 4 + 2 * (1 - live);
    }
    PE_CHECK(food_with_other >= 1); /* "i love new york city": like_food's object at word 2, token 3 */
    /* objects from a list (a graph's places): each live_in utterance gets 3
     * copies with "lyon" or "san francisco" as its object; like_food none */
    const char *objs[2] = {"lyon", "san  francisco"};
    pe_tag_data *td4 = NULL;
    size_t added4 = 0, one_word = 0, two_words = 0;
    PE_CHECK_EQ_INT(pe_tag_data_new(&td4, &err), PE_OK);
    PE_CHECK_EQ_INT(pe_rel_add_object_examples(d, tok, 64, live, objs, 2, 3, 5, td4, &added4, &err), PE_OK);
    PE_CHECK_EQ_INT(added4, 6);
    PE_CHECK_EQ_INT(pe_tag_data_count(td4), 6);
    for (size_t i = 0; i < pe_tag_data_count(td4); i++) {
        int b, in, other;
        object_labels(pe_tag_data_get(td4, i), live, &b, &in, &other);
        PE_CHECK(b == 1 && other == 0 && in <= 1);
        one_word += in == 0;
        two_words += in == 1;
    }
    PE_CHECK(one_word >= 1 && two_words >= 1);
    PE_CHECK_EQ_INT(pe_rel_add_object_examples(d, tok, 64, 2, objs, 2, 1, 5, td4, NULL, &err), PE_ERR_INVALID);
    PE_CHECK_EQ_INT(pe_rel_add_object_examples(d, tok, 64, live, objs, 0, 1, 5, td4, NULL, &err), PE_ERR_INVALID);
    PE_CHECK_EQ_INT(pe_rel_add_object_examples(d, tok, 64, live, objs, 2, 0, 5, td4, &added4, &err), PE_OK);
    PE_CHECK_EQ_INT(added4, 0);
    /* pairs: each utterance followed by another, with both triples: two
     * objects and two subjects in each example, the second's after the
     * first's; the same seed, the same examples */
    pe_tag_data *td5 = NULL, *td6 = NULL;
    size_t added5 = 0, added6 = 0;
    PE_CHECK_EQ_INT(pe_tag_data_new(&td5, &err), PE_OK);
    PE_CHECK_EQ_INT(pe_tag_data_new(&td6, &err), PE_OK);
    PE_CHECK_EQ_INT(pe_rel_add_paired_examples(d, tok, 64, 3, 7, td5, &added5, &err), PE_OK);
    PE_CHECK(added5 >= 3 && added5 <= 9); /* 3 utterances x 3 copies, less the draws of themselves */
    PE_CHECK_EQ_INT(pe_tag_data_count(td5), added5);
    for (size_t i = 0; i < pe_tag_data_count(td5); i++) {
        pe_tag_example ex = pe_tag_data_get(td5, i);
        int b_obj = 0, b_subj = 0, first_obj = -1, last_subj = -1;
        for (int t = 0; t < ex.len; t++) {
            if (ex.labels[t] >= 3 && (ex.labels[t] - 3) % 2 == 0) {
                b_obj++;
                if (first_obj < 0) first_obj = t;
            }
            if (ex.labels[t] == 1) {
                b_subj++;
                last_subj = t;
            }
        }
        PE_CHECK_EQ_INT(b_obj, 2);
        PE_CHECK_EQ_INT(b_subj, 2);
        PE_CHECK(first_obj > 0 && last_subj > first_obj); /* the second utterance's subject after the first's object */
    }
    PE_CHECK_EQ_INT(pe_rel_add_paired_examples(d, tok, 64, 3, 7, td6, &added6, &err), PE_OK);
    PE_CHECK_EQ_INT(added6, added5);
    for (size_t i = 0; i < added5 && i < added6; i++)
        PE_CHECK_EQ_INT(pe_tag_data_get(td5, i).len, pe_tag_data_get(td6, i).len);
    PE_CHECK_EQ_INT(pe_rel_add_paired_examples(d, tok, 64, -1, 7, td6, NULL, &err), PE_ERR_INVALID);
    pe_tag_data_free(td6);
    pe_tag_data_free(td5);
    pe_tag_data_free(td4);
    pe_tag_data_free(td3);
    pe_tag_data_free(td);
    pe_tag_data_free(td2);
    pe_rel_data_free(d);
    pe_tokenizer_free(tok);
}

/* A tiny encoder over tok's vocabulary: 1 layer, hidden 32, 2 token types. */
static pe_encoder_config tiny_config(const pe_tokenizer *tok)
{
    pe_encoder_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.vocab_size = (int)pe_tokenizer_vocab_size(tok);
    cfg.hidden = 32;
    cfg.layers = 1;
    cfg.heads = 2;
    cfg.intermediate = 64;
    cfg.max_position = 64;
    cfg.type_vocab = 2;
    cfg.layer_norm_eps = 1e-12f;
    return cfg;
}

/* Case types: the letter case of each word as the encoder's token type. */
static void test_case_types(void)
{
    PE_CHECK_EQ_INT(pe_text_case("paris", 5), PE_CASE_LOWER);
    PE_CHECK_EQ_INT(pe_text_case("Paris", 5), PE_CASE_CAPITALISED);
    PE_CHECK_EQ_INT(pe_text_case("NASA", 4), PE_CASE_UPPER);
    PE_CHECK_EQ_INT(pe_text_case("iPhone", 6), PE_CASE_MIXED);
    PE_CHECK_EQ_INT(pe_text_case("I", 1), PE_CASE_MIXED);
    PE_CHECK_EQ_INT(pe_text_case("42", 2), PE_CASE_LOWER);
    PE_CHECK_EQ_INT(pe_text_case("Paris", 1), PE_CASE_MIXED); /* "P": the length is respected */
    PE_CHECK_EQ_INT(pe_ner_word_shape("McDonald"), PE_NER_SHAPE_MIXED);
    pe_tokenizer *tok = vocab16k();
    if (!tok) return;
    pe_error err;
    pe_encoder_config cfg = tiny_config(tok);
    /* a model without case types, and its copy with them */
    pe_train *tr0 = NULL, *tr1 = NULL;
    pe_encoder *enc0 = NULL, *enc1 = NULL;
    char d0[700], d1[700];
    snprintf(d0, sizeof d0, "%s/case0", tmpdir);
    snprintf(d1, sizeof d1, "%s/case1", tmpdir);
    pe_train_save_options so = pe_train_save_options_default();
    so.tokenizer = tok;
    PE_CHECK_EQ_INT(pe_train_new_random(&cfg, 7, &tr0, &err), PE_OK);
    PE_CHECK_EQ_INT(pe_train_save(tr0, d0, &so, &err), PE_OK);
    PE_CHECK_EQ_INT(pe_encoder_load(d0, NULL, &enc0, &err), PE_OK);
    if (!enc0) goto done;
    PE_CHECK_EQ_INT(pe_train_new_from_encoder_case_types(enc0, &tr1, &err), PE_OK);
    if (!tr1) goto done;
    PE_CHECK_EQ_INT(pe_train_config(tr1)->case_types, 1);
    PE_CHECK_EQ_INT(pe_train_config(tr1)->type_vocab, PE_N_CASES);
    pe_train_param ty;
    PE_CHECK_EQ_INT(pe_train_param_find(tr1, "embeddings.token_type_embeddings.weight", &ty), PE_OK);
    /* the new rows are row 0: then make "capitalised" differ */
    PE_CHECK(memcmp(ty.data + 2 * 32, ty.data, 32 * sizeof(float)) == 0);
    for (int c = 0; c < 32; c++) ty.data[PE_CASE_CAPITALISED * 32 + c] += 0.5f;
    PE_CHECK_EQ_INT(pe_train_save(tr1, d1, &so, &err), PE_OK);
    PE_CHECK_EQ_INT(pe_encoder_load(d1, NULL, &enc1, &err), PE_OK);
    if (!enc1) goto done;
    pe_encoder_info info;
    pe_encoder_get_info(enc1, &info);
    PE_CHECK_EQ_INT(info.config.case_types, 1);
    pe_encoder_get_info(enc0, &info);
    PE_CHECK_EQ_INT(info.config.case_types, 0);
    /* encode_texts reads the case: "Paris" differs from enc0, lower-case
     * text does not; the encoding's type ids are the case types */
    const char *texts[2] = {"I saw Paris today", "i saw paris today"};
    pe_encoder_result *r0 = NULL, *r1 = NULL;
    PE_CHECK_EQ_INT(pe_encoder_encode_texts(enc0, texts, NULL, 2, NULL, &r0), PE_OK);
    PE_CHECK_EQ_INT(pe_encoder_encode_texts(enc1, texts, NULL, 2, NULL, &r1), PE_OK);
    if (r0 && r1) {
        const int32_t *tt = r1->encodings[0]->type_ids;
        PE_CHECK_EQ_INT(r1->encodings[0]->len, 6);
        PE_CHECK(tt[0] == 0 && tt[1] == PE_CASE_MIXED && tt[2] == 0 && tt[3] == PE_CASE_CAPITALISED && tt[4] == 0 &&
                 tt[5] == 0);
        const size_t n0 = (size_t)r0->offsets[1] * 32, n1 = ((size_t)r0->offsets[2] - (size_t)r0->offsets[1]) * 32;
        PE_CHECK(memcmp(r0->hidden_states, r1->hidden_states, n0 * sizeof(float)) != 0);
        double dmax = 0;
        for (size_t i = 0; i < n1; i++) {
            double d = fabs((double)r0->hidden_states[n0 + i] - r1->hidden_states[n0 + i]);
            dmax = d > dmax ? d : dmax;
        }
        PE_CHECK_MSG(dmax < 1e-5, "lower-case text moved by %g", dmax);
    }
    pe_encoder_result_free(r0);
    pe_encoder_result_free(r1);
    /* the types of pre-split words and of an encoding agree */
    {
        const char *text = "I met John in PARIS";
        const char *words[] = {"I", "met", "John", "in", "PARIS"};
        int32_t *ids = NULL, *tw = NULL, *te = NULL, *none = (int32_t *)1;
        int len = 0, *first = NULL;
        pe_encoding *e = NULL;
        PE_CHECK_EQ_INT(pe_tag_encode_words(tok, words, 5, 64, &ids, &len, &first, &err), PE_OK);
        PE_CHECK_EQ_INT(pe_tokenizer_encode(tok, text, strlen(text), NULL, 0, NULL, &e, &err), PE_OK);
        PE_CHECK_EQ_INT(pe_token_types_of_words(enc1, words, 5, first, len, &tw, &err), PE_OK);
        PE_CHECK_EQ_INT(pe_token_types_of_encoding(enc1, e, text, &te, &err), PE_OK);
        PE_CHECK_EQ_INT(pe_token_types_of_words(enc0, words, 5, first, len, &none, &err), PE_OK);
        PE_CHECK(none == NULL);
        if (tw && te && e && (int)e->len == len) {
            PE_CHECK(memcmp(tw, te + 1, (size_t)(len - 2) * sizeof *tw) == 0);
            PE_CHECK(te[0] == 0 && te[len - 1] == 0 && tw[0] == PE_CASE_MIXED && tw[len - 3] == PE_CASE_UPPER);
        } else {
            PE_CHECK_MSG(0, "encodings differ: %d against %d tokens", e ? (int)e->len : -1, len);
        }
        free(ids);
        free(first);
        free(tw);
        free(te);
        pe_encoding_free(e);
    }
    /* examples carry the case types when their data is set so */
    {
        pe_ner_corpus *c = NULL;
        pe_tag_data *d = NULL;
        char **lab = NULL;
        int nl = 0;
        static const char *const types[] = {"PER", "LOC", "ORG", "MISC"};
        pe_ner_labels_make(types, 4, &lab, &nl, &err);
        char path[800];
        snprintf(path, sizeof path, "%s/case.conll", tmpdir);
        FILE *f = fopen(path, "w");
        if (f) {
            fputs("I\tO\nmet\tO\nJohn\tB-PER\nin\tO\nPARIS\tB-LOC\n", f);
            fclose(f);
        }
        PE_CHECK_EQ_INT(pe_ner_corpus_read(path, NULL, &c, &err), PE_OK);
        PE_CHECK_EQ_INT(pe_tag_data_new(&d, &err), PE_OK);
        pe_tag_data_set_case_types(d, 1);
        PE_CHECK_EQ_INT(pe_tag_data_case_types(d), 1);
        if (c && d) {
            PE_CHECK_EQ_INT(pe_ner_add_examples(c, tok, (const char *const *)lab, nl, 64, NULL, 0, d, NULL, &err), PE_OK);
            pe_tag_example ex = pe_tag_data_get(d, 0);
            static const int32_t want[] = {0, PE_CASE_MIXED, 0, PE_CASE_CAPITALISED, 0, PE_CASE_UPPER, 0};
            PE_CHECK_EQ_INT(ex.len, 7);
            PE_CHECK(ex.types && ex.len == 7 && memcmp(ex.types, want, sizeof want) == 0);
        }
        pe_tag_data_free(d);
        pe_ner_corpus_free(c);
        pe_ner_labels_free(lab, nl);
    }
    /* a config that asks for case types with too few token types */
    {
        char path[800];
        snprintf(path, sizeof path, "%s/case_bad.json", tmpdir);
        FILE *f = fopen(path, "w");
        if (f) {
            fputs("{\"vocab_size\":10,\"hidden_size\":8,\"num_hidden_layers\":1,\"num_attention_heads\":2,"
                  "\"intermediate_size\":16,\"max_position_embeddings\":8,\"type_vocab_size\":2,"
                  "\"layer_norm_eps\":1e-12,\"hidden_act\":\"gelu\",\"persona_case_types\":true}",
                  f);
            fclose(f);
        }
        pe_encoder_config bad;
        PE_CHECK_EQ_INT(pe_encoder_config_read(path, &bad, &err), PE_ERR_INVALID);
        PE_CHECK(strstr(err.msg, "persona_case_types") != NULL);
    }
done:
    pe_encoder_free(enc0);
    pe_encoder_free(enc1);
    pe_train_free(tr0);
    pe_train_free(tr1);
    pe_tokenizer_free(tok);
}

static void test_end_to_end(void)
{
    pe_tokenizer *tok = vocab16k();
    if (!tok) return;
    pe_error err;
    pe_encoder_config cfg = tiny_config(tok);
    pe_train *tr = NULL;
    PE_CHECK_EQ_INT(pe_train_new_random(&cfg, 5, &tr, &err), PE_OK);
    static const char *const types[] = {"PER", "LOC", "ORG", "MISC"};
    pe_ner_corpus *c = NULL;
    pe_rel_data *rd = NULL;
    PE_CHECK_EQ_INT(pe_ner_corpus_read(PE_FIXTURES "/ner/tiny.conll", NULL, &c, &err), PE_OK);
    PE_CHECK_EQ_INT(pe_rel_data_read(PE_FIXTURES "/rel/tiny.jsonl", NULL, 0, 1, &rd, &err), PE_OK);
    char **nlab, **rlab;
    int nn, nr;
    pe_ner_labels_make(types, 4, &nlab, &nn, &err);
    const char *rels[8];
    for (int i = 0; i < pe_rel_data_n_relations(rd); i++) rels[i] = pe_rel_data_relation(rd, i);
    pe_rel_labels_make(rels, pe_rel_data_n_relations(rd), &rlab, &nr, &err);
    pe_tag_data *nd = NULL, *rdd = NULL;
    pe_tag_data_new(&nd, &err);
    pe_tag_data_new(&rdd, &err);
    PE_CHECK_EQ_INT(pe_ner_add_examples(c, tok, (const char *const *)nlab, nn, 64, NULL, 0, nd, NULL, &err), PE_OK);
    PE_CHECK_EQ_INT(pe_rel_add_examples(rd, tok, 64, rdd, &err), PE_OK);
    /* "i like to cook and swim", object cook ... swim (not one span): its
     * words are left out of the loss, not taught as O; "i like to" are
     * trained (B-SUBJ, O, O) */
    PE_CHECK_EQ_INT(pe_tag_data_count(rdd), 5);
    if (pe_tag_data_count(rdd) == 5) {
        pe_tag_example ex = pe_tag_data_get(rdd, 4);
        int trained = 0, subj = 0, obj = 0;
        for (int t = 0; t < ex.len; t++) {
            trained += ex.labels[t] != -100;
            subj += ex.labels[t] == 1;
            obj += ex.labels[t] >= 3;
        }
        PE_CHECK_EQ_INT(trained, 3);
        PE_CHECK_EQ_INT(subj, 1);
        PE_CHECK_EQ_INT(obj, 0);
    }
    pe_token_head *nh = NULL, *rh = NULL;
    pe_token_head_new("ner", 32, nn, 0, 0, 1, &nh, &err);
    pe_token_head_new("rel", 32, nr, 0, 0, 2, &rh, &err);
    pe_ner_scorer *ns = NULL;
    pe_rel_scorer *rs = NULL;
    PE_CHECK_EQ_INT(pe_ner_scorer_new(c, tok, (const char *const *)nlab, nn, 64, 0, &ns, &err), PE_OK);
    PE_CHECK_EQ_INT(pe_rel_scorer_new(rd, tok, 64, &rs, &err), PE_OK);
    pe_tag_objective *no = NULL, *ro = NULL;
    PE_CHECK_EQ_INT(pe_tag_objective_new("ner", nh, nd, nd, pe_ner_scorer_score, ns, &no, &err), PE_OK);
    PE_CHECK_EQ_INT(pe_tag_objective_new("rel", rh, rdd, rdd, pe_rel_scorer_score, rs, &ro, &err), PE_OK);
    const pe_objective *objs[2] = {pe_tag_objective_get(no), pe_tag_objective_get(ro)};
    pe_objective_mix *mix = NULL;
    PE_CHECK_EQ_INT(pe_objective_mix_new(objs, NULL, 2, "tag", 32, &mix, &err), PE_OK);
    char dir[700], labels_json[4096];
    snprintf(dir, sizeof dir, "%s/tag", tmpdir);
    int o = snprintf(labels_json, sizeof labels_json, "{\"ner\":[");
    for (int i = 0; i < nn; i++) o += snprintf(labels_json + o, sizeof labels_json - (size_t)o, "%s\"%s\"", i ? "," : "", nlab[i]);
    o += snprintf(labels_json + o, sizeof labels_json - (size_t)o, "],\"rel\":[");
    for (int i = 0; i < nr; i++) o += snprintf(labels_json + o, sizeof labels_json - (size_t)o, "%s\"%s\"", i ? "," : "", rlab[i]);
    snprintf(labels_json + o, sizeof labels_json - (size_t)o, "]}");
    pe_trainer_options to = pe_trainer_options_default();
    to.dir = dir;
    to.steps = 150;
    to.lr = 1e-2f;
    to.warmup = 10;
    to.batch_tokens = 512;
    to.hidden_dropout = to.attention_dropout = 0.0f;
    to.adamw.weight_decay = 0.0f;
    to.eval_every = 50;
    to.checkpoint_every = 0;
    to.log_every = 50;
    to.tokenizer = tok;
    to.labels_json = labels_json;
    pe_trainer_result res;
    PE_CHECK_EQ_INT(pe_trainer_run(tr, pe_objective_mix_get(mix), &to, &res, &err), PE_OK);
    /* it learnt its training data (both heads) */
    PE_CHECK_MSG(res.best_metric > 0.9, "best %g", res.best_metric);
    /* best/ -> .pem with both heads and their labels */
    char best[800], pem[800];
    snprintf(best, sizeof best, "%s/best", dir);
    snprintf(pem, sizeof pem, "%s/model.pem", tmpdir);
    pe_encoder_convert_options co = pe_encoder_convert_options_default();
    co.f16 = 1;
    co.model_id = "tiny-test";
    PE_CHECK_EQ_INT(pe_encoder_convert_hf(best, pem, &co, &err), PE_OK);
    pe_encoder *enc = NULL;
    PE_CHECK_EQ_INT(pe_encoder_load(pem, NULL, &enc, &err), PE_OK);
    if (enc) {
        pe_ner *ner = NULL;
        pe_rel *rel = NULL;
        PE_CHECK_EQ_INT(pe_ner_open(enc, NULL, &ner, &err), PE_OK);
        PE_CHECK_EQ_INT(pe_rel_open(enc, &rel, &err), PE_OK);
        const char *text = "I met John Smith in Paris.";
        pe_ner_mention *m = NULL;
        size_t n = 0;
        PE_CHECK_EQ_INT(pe_ner_extract(ner, text, strlen(text), &m, &n, &err), PE_OK);
        int per = 0, loc = 0;
        for (size_t i = 0; i < n; i++) {
            per |= !strcmp(m[i].type, "PER") && !strcmp(m[i].text, "John Smith") && m[i].start == 6 && m[i].end == 16;
            loc |= !strcmp(m[i].type, "LOC") && !strcmp(m[i].text, "Paris");
            PE_CHECK(m[i].score > 0.0f && m[i].score <= 1.0f);
        }
        PE_CHECK(per && loc);
        pe_ner_mentions_free(m, n);
        const char *t2 = "i have two dogs and i love pizza";
        pe_rel_extraction *x = NULL;
        PE_CHECK_EQ_INT(pe_rel_extract(rel, t2, strlen(t2), &x, &n, &err), PE_OK);
        int pet = 0, food = 0;
        for (size_t i = 0; i < n; i++) {
            pet |= !strcmp(x[i].relation, "have_pet") && !strcmp(x[i].object.text, "dogs") && !strcmp(x[i].subject.text, "i");
            food |= !strcmp(x[i].relation, "like_food") && !strcmp(x[i].object.text, "pizza") && x[i].subject.start == 20;
        }
        PE_CHECK(pet && food);
        pe_rel_extractions_free(x, n);
        /* invalid UTF-8 is refused */
        PE_CHECK_EQ_INT(pe_ner_extract(ner, "a\xff", 2, &m, &n, &err), PE_ERR_UTF8);
        pe_ner_close(ner);
        pe_rel_close(rel);
        pe_encoder_free(enc);
    }
    pe_objective_mix_free(mix);
    pe_tag_objective_free(no);
    pe_tag_objective_free(ro);
    pe_ner_scorer_free(ns);
    pe_rel_scorer_free(rs);
    pe_token_head_free(nh);
    pe_token_head_free(rh);
    pe_tag_data_free(nd);
    pe_tag_data_free(rdd);
    pe_ner_labels_free(nlab, nn);
    pe_rel_labels_free(rlab, nr);
    pe_ner_corpus_free(c);
    pe_rel_data_free(rd);
    pe_train_free(tr);
    pe_tokenizer_free(tok);
}

int main(void)
{
    if (!pe_test_tmpdir(tmpdir, sizeof tmpdir, "pe_nerrel")) return 1;
    pe_trainer_set_threads(2);
    PE_RUN(test_token_head_gradients);
    PE_RUN(test_ner_reader);
    PE_RUN(test_ner_replaced);
    PE_RUN(test_ner_score);
    PE_RUN(test_ner_examples);
    PE_RUN(test_doc_context);
    PE_RUN(test_word_features);
    PE_RUN(test_grouped_decode);
    PE_RUN(test_viterbi_decode);
    PE_RUN(test_machine_text);
    PE_RUN(test_objective_data_grows);
    PE_RUN(test_mix_metric_unweighted);
    PE_RUN(test_rel_swaps);
    PE_RUN(test_rel_reader_and_score);
    PE_RUN(test_case_types);
    PE_RUN(test_end_to_end);
    if (pe_test_failures == 0) {
        char cmd[700];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    }
    PE_TEST_EXIT();
}
