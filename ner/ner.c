/* ner.c - CoNLL data, BIO labels, the graph feature, training examples,
 * entity-level scoring and inference (pe_ner.h). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pe_ner.h"

/* ---- corpus ---- */

struct pe_ner_corpus {
    pe_ner_sentence *s;
    size_t n, cap;
    size_t skipped;
    size_t prefixed_o; /* words o_prefix made O */
    int n_docs;        /* -DOCSTART- lines read (documents) */
    char problem[PE_ERRMSG_MAX];
};

pe_ner_read_options pe_ner_read_options_default(void)
{
    pe_ner_read_options o = {NULL, NULL, 0, 0, NULL, NULL};
    return o;
}

static void sentence_clear(pe_ner_sentence *s)
{
    for (int i = 0; i < s->n; i++) {
        free(s->words[i]);
        free(s->tags[i]);
    }
    free(s->words);
    free(s->tags);
    memset(s, 0, sizeof *s);
}

void pe_ner_corpus_free(pe_ner_corpus *c)
{
    if (!c) return;
    for (size_t i = 0; i < c->n; i++) sentence_clear(&c->s[i]);
    free(c->s);
    free(c);
}

size_t pe_ner_corpus_count(const pe_ner_corpus *c)
{
    return c ? c->n : 0;
}

const pe_ner_sentence *pe_ner_corpus_get(const pe_ner_corpus *c, size_t i)
{
    return &c->s[i];
}

size_t pe_ner_corpus_skipped(const pe_ner_corpus *c)
{
    return c->skipped;
}

const char *pe_ner_corpus_first_problem(const pe_ner_corpus *c)
{
    return c->problem;
}

static int push_sentence(pe_ner_corpus *c, pe_ner_sentence *s)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 256;
        pe_ner_sentence *v = realloc(c->s, cap * sizeof *v);
        if (!v) return -1;
        c->s = v;
        c->cap = cap;
    }
    c->s[c->n++] = *s;
    memset(s, 0, sizeof *s);
    return 0;
}

static int push_word(pe_ner_sentence *s, int *cap, const char *w, size_t wl, const char *t)
{
    if (s->n == *cap) {
        int nc = *cap ? *cap * 2 : 32;
        char **a = realloc(s->words, (size_t)nc * sizeof *a);
        if (!a) return -1;
        s->words = a;
        a = realloc(s->tags, (size_t)nc * sizeof *a);
        if (!a) return -1;
        s->tags = a;
        *cap = nc;
    }
    char *ww = malloc(wl + 1), *tt = strdup(t);
    if (!ww || !tt) {
        free(ww);
        free(tt);
        return -1;
    }
    memcpy(ww, w, wl);
    ww[wl] = '\0';
    s->words[s->n] = ww;
    s->tags[s->n] = tt;
    s->n++;
    return 0;
}

/* Maps tag through "FROM=TO,..." into out (at most cap bytes). 0 ok, -1 bad tag. */
static int map_tag(const char *tag, const char *map, char *out, size_t cap)
{
    if (strcmp(tag, "O") == 0) {
        snprintf(out, cap, "O");
        return 0;
    }
    if ((tag[0] != 'B' && tag[0] != 'I') || tag[1] != '-' || !tag[2]) return -1;
    const char *type = tag + 2;
    size_t tl = strlen(type);
    for (const char *p = map; p && *p;) {
        const char *comma = strchr(p, ','), *end = comma ? comma : p + strlen(p), *eq = memchr(p, '=', (size_t)(end - p));
        if (eq && (size_t)(eq - p) == tl && memcmp(p, type, tl) == 0) {
            size_t ml = (size_t)(end - eq - 1);
            if (ml == 1 && eq[1] == 'O') {
                snprintf(out, cap, "O");
                return 0;
            }
            snprintf(out, cap, "%c-%.*s", tag[0], (int)ml, eq + 1);
            return 0;
        }
        p = comma ? comma + 1 : end;
    }
    snprintf(out, cap, "%s", tag);
    return 0;
}

static int type_allowed(const pe_ner_read_options *o, const char *tag)
{
    if (!o->types || strcmp(tag, "O") == 0) return 1;
    for (int i = 0; i < o->n_types; i++)
        if (strcmp(tag + 2, o->types[i]) == 0) return 1;
    return 0;
}

pe_status pe_ner_corpus_read(const char *path, const pe_ner_read_options *opt, pe_ner_corpus **out, pe_error *err)
{
    if (!out) return pe_error_set(err, PE_ERR_INVALID, "ner: NULL output");
    *out = NULL;
    pe_ner_read_options o = opt ? *opt : pe_ner_read_options_default();
    FILE *f = fopen(path, "rb");
    if (!f) return pe_error_set(err, PE_ERR_IO, "%s: %s", path, strerror(errno));
    pe_ner_corpus *c = calloc(1, sizeof *c);
    if (!c) {
        fclose(f);
        return pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    }
    pe_ner_sentence cur = {0};
    cur.doc = -1;
    int cap = 0, bad = 0, after_o = 0; /* after_o: the last word was made O by o_prefix */
    size_t prefixed = 0, plen = o.o_prefix ? strlen(o.o_prefix) : 0; /* prefixed: in the sentence being read */
    char *line = NULL;
    size_t lcap = 0;
    ssize_t ll;
    long lineno = 0;
    pe_status st = PE_OK;
    while (st == PE_OK) {
        ll = getline(&line, &lcap, f);
        if (ll >= 0) lineno++;
        size_t l = ll > 0 ? (size_t)ll : 0;
        while (l > 0 && (line[l - 1] == '\n' || line[l - 1] == '\r')) l--;
        int blank = 1;
        for (size_t i = 0; i < l; i++)
            if (!isspace((unsigned char)line[i])) blank = 0;
        if (ll < 0 || blank) { /* end of a sentence */
            if (cur.n > 0) {
                if (bad) {
                    c->skipped++;
                    sentence_clear(&cur);
                } else {
                    cur.doc = c->n_docs - 1; /* -1 before any -DOCSTART- */
                    if (push_sentence(c, &cur) < 0) st = pe_error_set(err, PE_ERR_NOMEM, "out of memory");
                    else c->prefixed_o += prefixed; /* a skipped sentence's words are not counted */
                }
            }
            bad = 0;
            cap = 0;
            after_o = 0;
            prefixed = 0;
            if (ll < 0) break;
            continue;
        }
        line[l] = '\0';
        size_t bad_off;
        const char *problem = NULL;
        char msg[256];
        if (!pe_utf8_valid(line, l, &bad_off)) {
            snprintf(msg, sizeof msg, "invalid UTF-8 at byte %zu", bad_off);
            problem = msg;
        }
        if (!problem && strncmp(line, "-DOCSTART-", 10) == 0) {
            c->n_docs++;
            continue;
        }
        /* first column: the word; last column: the tag */
        size_t we = 0;
        while (we < l && line[we] != '\t' && line[we] != ' ') we++;
        size_t ts = l;
        while (ts > we && line[ts - 1] != '\t' && line[ts - 1] != ' ') ts--;
        char tag[128];
        if (!problem && (ts <= we || we == 0)) problem = "a word without a tag";
        if (!problem && (l - ts >= sizeof tag || map_tag(line + ts, o.type_map, tag, sizeof tag) < 0)) {
            snprintf(msg, sizeof msg, "'%.60s' is not a BIO tag (O, B-TYPE, I-TYPE)", line + ts);
            problem = msg;
        }
        if (!problem && !type_allowed(&o, tag)) {
            snprintf(msg, sizeof msg, "unknown entity type '%.60s' (map it with a type map or add it to the types)", tag + 2);
            problem = msg;
        }
        if (problem) {
            if (o.strict) {
                st = pe_error_set(err, problem == msg && strstr(msg, "UTF-8") ? PE_ERR_UTF8 : PE_ERR_PARSE, "%s:%ld: %s",
                                  path, lineno, problem);
                break;
            }
            if (!c->problem[0]) snprintf(c->problem, sizeof c->problem, "%s:%ld: %s", path, lineno, problem);
            bad = 1;
            if (cur.n == 0 && push_word(&cur, &cap, "?", 1, "O") < 0) st = pe_error_set(err, PE_ERR_NOMEM, "out of memory");
            continue;
        }
        if (plen > 0 && we >= plen && memcmp(line, o.o_prefix, plen) == 0) {
            if (strcmp(tag, "O") != 0) prefixed++;
            strcpy(tag, "O");
            after_o = 1;
        } else {
            if (after_o && tag[0] == 'I') tag[0] = 'B'; /* the span's start was made O */
            after_o = 0;
            if (o.missing_types && o.missing_types[0] && strcmp(tag, "O") == 0)
                snprintf(tag, sizeof tag, "O?%.120s", o.missing_types);
        }
        if (push_word(&cur, &cap, line, we, tag) < 0) st = pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    }
    if (st == PE_OK && ferror(f)) st = pe_error_set(err, PE_ERR_IO, "%s: read error", path);
    free(line);
    sentence_clear(&cur);
    fclose(f);
    if (st != PE_OK) {
        pe_ner_corpus_free(c);
        return st;
    }
    *out = c;
    return PE_OK;
}

size_t pe_ner_corpus_prefixed_o(const pe_ner_corpus *c)
{
    return c ? c->prefixed_o : 0;
}

/* Appends copies of the first n sentences of other to c (other may be c). */
static pe_status append_first(pe_ner_corpus *c, const pe_ner_corpus *other, size_t n, pe_error *err)
{
    const int docs = c->n_docs, other_docs = other->n_docs; /* the copies' documents are new ones */
    for (size_t i = 0; i < n; i++) {
        pe_ner_sentence s = {0};
        s.doc = other->s[i].doc < 0 ? -1 : docs + other->s[i].doc;
        int cap = 0;
        for (int w = 0; w < other->s[i].n; w++)
            if (push_word(&s, &cap, other->s[i].words[w], strlen(other->s[i].words[w]), other->s[i].tags[w]) < 0) {
                sentence_clear(&s);
                return pe_error_set(err, PE_ERR_NOMEM, "out of memory");
            }
        if (push_sentence(c, &s) < 0) {
            sentence_clear(&s);
            return pe_error_set(err, PE_ERR_NOMEM, "out of memory");
        }
    }
    c->n_docs = docs + other_docs;
    return PE_OK;
}

pe_status pe_ner_corpus_append(pe_ner_corpus *c, const pe_ner_corpus *other, pe_error *err)
{
    return append_first(c, other, other->n, err);
}

pe_status pe_ner_corpus_repeat(pe_ner_corpus *c, int times, pe_error *err)
{
    if (times < 1) return pe_error_set(err, PE_ERR_INVALID, "ner: repeat %d times (1 or more)", times);
    const size_t n = c->n;
    pe_status st = PE_OK;
    for (int k = 1; st == PE_OK && k < times; k++) st = append_first(c, c, n, err);
    return st;
}

/* 1 when tag is B-type (bi 'B') or I-type (bi 'I'). */
static int tag_is(const char *tag, char bi, const char *type)
{
    return tag[0] == bi && tag[1] == '-' && strcmp(tag + 2, type) == 0;
}

pe_status pe_ner_corpus_add_replaced(pe_ner_corpus *c, const char *type, const char *const *names, size_t n_names,
                                     int copies, uint64_t seed, size_t *added, pe_error *err)
{
    if (added) *added = 0;
    if (!c || !type || !type[0] || copies < 0 || (copies > 0 && (!names || n_names == 0)))
        return pe_error_set(err, PE_ERR_INVALID, "ner: mention replacement needs a type and names");
    if (strlen(type) + 3 > 64) return pe_error_set(err, PE_ERR_INVALID, "ner: type name too long");
    for (size_t k = 0; k < n_names && copies > 0; k++)
        if (!names[k] || !names[k][0] || names[k][0] == ' ')
            return pe_error_set(err, PE_ERR_INVALID, "ner: mention replacement: name %zu is empty or starts with a space", k);
    char btag[64], itag[64];
    snprintf(btag, sizeof btag, "B-%s", type);
    snprintf(itag, sizeof itag, "I-%s", type);
    const size_t n0 = c->n;
    size_t n_added = 0;
    for (size_t i = 0; i < n0; i++) {
        int has = 0;
        for (int w = 0; w < c->s[i].n && !has; w++) has = tag_is(c->s[i].tags[w], 'B', type);
        if (!has) continue;
        for (int k = 0; k < copies; k++) {
            pe_ner_sentence s = {0};
            s.doc = -1;
            int cap = 0, bad = 0, m = 0;
            const pe_ner_sentence *src = &c->s[i]; /* re-read: push_sentence may move c->s */
            for (int w = 0; w < src->n && !bad;) {
                if (!tag_is(src->tags[w], 'B', type)) {
                    bad = push_word(&s, &cap, src->words[w], strlen(src->words[w]), src->tags[w]) < 0;
                    w++;
                    continue;
                }
                const uint64_t d = ((uint64_t)i * (uint64_t)copies + (uint64_t)k) * 64u + (uint64_t)(m++ & 63);
                const char *name = names[pe_draw(seed, d, n_names)];
                for (const char *p = name; *p && !bad;) {
                    size_t len = strcspn(p, " ");
                    if (len) bad = push_word(&s, &cap, p, len, p == name ? btag : itag) < 0;
                    p += len;
                    while (*p == ' ') p++;
                }
                for (w++; w < src->n && tag_is(src->tags[w], 'I', type); w++) {
                }
            }
            if (bad || push_sentence(c, &s) < 0) {
                sentence_clear(&s);
                return pe_error_set(err, PE_ERR_NOMEM, "out of memory");
            }
            n_added++;
        }
    }
    if (added) *added = n_added;
    return PE_OK;
}

/* ---- labels ---- */

pe_status pe_ner_labels_make(const char *const *types, int n_types, char ***labels, int *n_labels, pe_error *err)
{
    *labels = NULL;
    *n_labels = 0;
    if (!types || n_types < 1) return pe_error_set(err, PE_ERR_INVALID, "ner: no entity types");
    char **v = calloc(2 * (size_t)n_types + 1, sizeof *v);
    if (!v) return pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    v[0] = strdup("O");
    int ok = v[0] != NULL;
    for (int i = 0; ok && i < n_types; i++) {
        size_t l = strlen(types[i]) + 3;
        v[1 + 2 * i] = malloc(l);
        v[2 + 2 * i] = malloc(l);
        ok = v[1 + 2 * i] && v[2 + 2 * i];
        if (ok) {
            snprintf(v[1 + 2 * i], l, "B-%s", types[i]);
            snprintf(v[2 + 2 * i], l, "I-%s", types[i]);
        }
    }
    if (!ok) {
        pe_ner_labels_free(v, 2 * n_types + 1);
        return pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    }
    *labels = v;
    *n_labels = 2 * n_types + 1;
    return PE_OK;
}

void pe_ner_labels_free(char **labels, int n)
{
    if (!labels) return;
    for (int i = 0; i < n; i++) free(labels[i]);
    free(labels);
}

int pe_ner_label_id(const char *const *labels, int n_labels, const char *tag)
{
    for (int i = 0; i < n_labels; i++)
        if (strcmp(labels[i], tag) == 0) return i;
    return -1;
}

/* ---- graph feature ---- */

const char *pe_ner_feat_name(int f)
{
    static const char *const names[] = {"none", "person", "place", "organisation", "work", "product", "other"};
    return f >= 0 && f < PE_NER_N_FEAT ? names[f] : "?";
}

int pe_ner_coarse_type(pe_kg_reader *r, pe_kg_id e)
{
    static const struct {
        const char *q;
        int feat;
    } classes[] = {{"Q5", PE_NER_FEAT_PERSON},        {"Q2221906", PE_NER_FEAT_PLACE}, {"Q618123", PE_NER_FEAT_PLACE},
                   {"Q486972", PE_NER_FEAT_PLACE},    {"Q56061", PE_NER_FEAT_PLACE},   {"Q6256", PE_NER_FEAT_PLACE},
                   {"Q515", PE_NER_FEAT_PLACE},       {"Q43229", PE_NER_FEAT_ORG},     {"Q386724", PE_NER_FEAT_WORK},
                   {"Q17537576", PE_NER_FEAT_WORK},   {"Q2424752", PE_NER_FEAT_PRODUCT},
                   {"Q431289", PE_NER_FEAT_PRODUCT}};
    for (size_t i = 0; i < sizeof classes / sizeof *classes; i++) {
        pe_kg_id c;
        if (pe_kg_resolve(r, classes[i].q, strlen(classes[i].q), &c) != PE_OK) continue;
        if (pe_kg_is_a(r, e, c) == PE_OK) return classes[i].feat;
    }
    return PE_NER_FEAT_OTHER;
}

#define NER_MAX_NGRAM 6

pe_status pe_ner_graph_features(pe_kg_reader *r, const char *const *words, int n, int32_t *feats, pe_error *err)
{
    for (int i = 0; i < n; i++) feats[i] = PE_NER_FEAT_NONE;
    if (!r) return PE_OK;
    char buf[1024];
    for (int i = 0; i < n;) {
        int matched = 0;
        for (int k = NER_MAX_NGRAM; k >= 1 && !matched; k--) {
            if (i + k > n) continue;
            size_t o = 0;
            int fits = 1, text = 0;
            for (int j = i; j < i + k && fits; j++) {
                size_t l = strlen(words[j]);
                if (o + l + 2 > sizeof buf) fits = 0;
                else {
                    if (j > i) buf[o++] = ' ';
                    memcpy(buf + o, words[j], l);
                    o += l;
                    text |= pe_tag_text_has_alnum(words[j], l);
                }
            }
            if (!fits || !text) continue;
            /* single short words that are common lower-case text make poor matches */
            if (k == 1 && o < 3) continue;
            pe_kg_candidate cand;
            size_t nc = 0;
            pe_kg_lookup_options lo = {0, 1};
            pe_status st = pe_kg_lookup(r, buf, o, &lo, &cand, 1, &nc);
            if (st == PE_ERR_UTF8) continue;
            if (st >= PE_ERR_FIRST) return pe_error_set(err, st, "graph feature: lookup failed");
            if (st == PE_OK && nc > 0) {
                int t = pe_ner_coarse_type(r, cand.id);
                for (int j = i; j < i + k; j++) feats[j] = t;
                i += k;
                matched = 1;
            }
        }
        if (!matched) i++;
    }
    return PE_OK;
}

/* ---- word features ---- */

int pe_ner_word_shape(const char *w)
{
    return pe_text_case(w, strlen(w));
}

int pe_ner_feature_count(int use)
{
    if (!use) return 0;
    return (use & PE_NER_USE_GRAPH ? PE_NER_N_FEAT : 1) * (use & PE_NER_USE_SHAPE ? PE_NER_N_SHAPE : 1);
}

int pe_ner_feature_use(int n_feat)
{
    for (int use = 0; use <= (PE_NER_USE_GRAPH | PE_NER_USE_SHAPE); use++)
        if (pe_ner_feature_count(use) == n_feat) return use;
    return -1;
}

pe_status pe_ner_word_features(pe_kg_reader *graph, int use, const char *const *words, int n, int32_t *feats,
                               pe_error *err)
{
    for (int i = 0; i < n; i++) feats[i] = 0;
    if ((use & PE_NER_USE_GRAPH) && graph) {
        pe_status st = pe_ner_graph_features(graph, words, n, feats, err);
        if (st != PE_OK) return st;
    }
    if (use & PE_NER_USE_SHAPE) {
        const int scale = use & PE_NER_USE_GRAPH ? PE_NER_N_FEAT : 1;
        for (int i = 0; i < n; i++) feats[i] += scale * pe_ner_word_shape(words[i]);
    }
    return PE_OK;
}

/* Every token of an encoding (len tokens, [CLS] first and [SEP] last) gets
 * the feature of the word it starts or continues: word w's tokens run from
 * first[w] (-1: none) to the next word's first token, or to [SEP]. Written
 * at tf[t - off] (off 1: tf has no [CLS]); other entries are left alone. */
static void word_feats_to_tokens(const int *first, int n_words, int len, const int32_t *wf, int32_t *tf, int off)
{
    int end = len - 1;
    for (int w = n_words - 1; w >= 0; w--) {
        if (first[w] < 0) continue;
        for (int t = first[w]; t < end; t++) tf[t - off] = wf[w];
        end = first[w];
    }
}

/* ---- examples ---- */

/* The partial label of "O?TYPES" (pe_token_head_loss): n_labels + the mask
 * of the types' (B, I) pairs; -1 when a type is not among the labels or
 * the head has too many types for a mask. */
static int partial_label(const char *const *labels, int n_labels, const char *types)
{
    if (n_labels % 2 != 1 || n_labels > 1 + 2 * PE_TOKEN_HEAD_PARTIAL_TYPES) return -1;
    int mask = 0;
    for (const char *p = types; *p;) {
        const char *comma = strchr(p, ','), *end = comma ? comma : p + strlen(p);
        char b[128];
        snprintf(b, sizeof b, "B-%.*s", (int)(end - p), p);
        const int id = pe_ner_label_id(labels, n_labels, b);
        if (id < 1) return -1;
        mask |= 1 << ((id - 1) / 2);
        p = comma ? comma + 1 : end;
    }
    return mask ? n_labels + mask : -1;
}

pe_status pe_ner_doc_context(const pe_ner_corpus *c, const pe_tokenizer *tok, int max_len, size_t **lo_out,
                             size_t **hi_out, pe_error *err)
{
    *lo_out = *hi_out = NULL;
    const size_t n = c->n;
    size_t *lo = malloc((n + 1) * sizeof *lo), *hi = malloc((n + 1) * sizeof *hi);
    int *ntok = malloc((n + 1) * sizeof *ntok);
    pe_status st = lo && hi && ntok ? PE_OK : pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    for (size_t i = 0; st == PE_OK && i < n; i++) {
        int32_t *ids = NULL;
        int len = 0, *first = NULL;
        st = pe_tag_encode_words(tok, (const char *const *)c->s[i].words, c->s[i].n, 1 << 30, &ids, &len, &first, err);
        if (st != PE_OK) break;
        ntok[i] = len - 2;
        free(ids);
        free(first);
    }
    const int budget = max_len - 2;
    for (size_t i = 0; st == PE_OK && i < n; i++) {
        size_t l = i, h = i + 1;
        const int doc = c->s[i].doc;
        int used = ntok[i];
        for (int grow = doc >= 0; grow;) { /* whole sentences, one before and one after in turn */
            grow = 0;
            if (l > 0 && c->s[l - 1].doc == doc && used + ntok[l - 1] <= budget) {
                used += ntok[--l];
                grow = 1;
            }
            if (h < n && c->s[h].doc == doc && used + ntok[h] <= budget) {
                used += ntok[h++];
                grow = 1;
            }
        }
        lo[i] = l;
        hi[i] = h;
    }
    free(ntok);
    if (st != PE_OK) {
        free(lo);
        free(hi);
        return st;
    }
    *lo_out = lo;
    *hi_out = hi;
    return PE_OK;
}

/* The words of sentences lo..hi-1 of c, one array of borrowed pointers
 * (malloc'd; NULL when out of memory); *n their count, *off the index of
 * sentence i's first word among them. With lo = i, hi = i + 1: sentence i's. */
static const char **context_words(const pe_ner_corpus *c, size_t lo, size_t hi, size_t i, int *n, int *off)
{
    int total = 0;
    for (size_t k = lo; k < hi; k++) {
        if (k == i) *off = total;
        total += c->s[k].n;
    }
    const char **v = malloc(((size_t)total + 1) * sizeof *v);
    if (!v) return NULL;
    int o = 0;
    for (size_t k = lo; k < hi; k++)
        for (int w = 0; w < c->s[k].n; w++) v[o++] = c->s[k].words[w];
    *n = total;
    return v;
}

pe_status pe_ner_add_examples(const pe_ner_corpus *c, const pe_tokenizer *tok, const char *const *labels,
                              int n_labels, int max_len, pe_kg_reader *graph, int use, pe_tag_data *data,
                              size_t *truncated, pe_error *err)
{
    if (truncated) *truncated = 0;
    size_t *lo = NULL, *hi = NULL;
    pe_status st = use & PE_NER_USE_DOC_CONTEXT ? pe_ner_doc_context(c, tok, max_len, &lo, &hi, err) : PE_OK;
    use &= PE_NER_USE_GRAPH | PE_NER_USE_SHAPE; /* the head's features */
    for (size_t i = 0; i < c->n && st == PE_OK; i++) {
        const pe_ner_sentence *s = &c->s[i];
        int32_t *ids = NULL, *lab = NULL, *tf = NULL, *wf = NULL;
        int len = 0, *first = NULL, n_words = 0, off = 0;
        const char **words = context_words(c, lo ? lo[i] : i, hi ? hi[i] : i + 1, i, &n_words, &off);
        if (!words) {
            st = pe_error_set(err, PE_ERR_NOMEM, "out of memory");
            break;
        }
        st = pe_tag_encode_words(tok, words, n_words, max_len, &ids, &len, &first, err);
        if (st != PE_OK) {
            if (st == PE_ERR_UTF8) pe_error_set(err, st, "sentence %zu: %s", i, err ? err->msg : "");
            break;
        }
        lab = malloc((size_t)len * sizeof *lab);
        tf = use ? calloc((size_t)len, sizeof *tf) : NULL;
        wf = use ? calloc((size_t)n_words + 1, sizeof *wf) : NULL;
        if (!lab || (use && (!tf || !wf))) st = pe_error_set(err, PE_ERR_NOMEM, "out of memory");
        if (st == PE_OK && use) st = pe_ner_word_features(graph, use, words, n_words, wf, err);
        if (st == PE_OK) {
            for (int t = 0; t < len; t++) lab[t] = -100;
            int cut = 0;
            for (int w = 0; w < s->n && st == PE_OK; w++) {
                int id = strncmp(s->tags[w], "O?", 2) == 0 ? partial_label(labels, n_labels, s->tags[w] + 2)
                                                           : pe_ner_label_id(labels, n_labels, s->tags[w]);
                if (id < 0) {
                    st = pe_error_set(err, PE_ERR_INVALID, "sentence %zu word %d: tag %s is not among the model's labels", i, w,
                                      s->tags[w]);
                    break;
                }
                if (first[off + w] < 0) {
                    cut = 1;
                    continue;
                }
                lab[first[off + w]] = id; /* the context's words are not trained */
            }
            if (use) word_feats_to_tokens(first, n_words, len, wf, tf, 0);
            if (cut && truncated) (*truncated)++;
            if (st == PE_OK) st = pe_tag_data_add_words(data, ids, lab, tf, len, words, n_words, first, err);
        }
        free(words);
        free(ids);
        free(first);
        free(lab);
        free(tf);
        free(wf);
    }
    free(lo);
    free(hi);
    return st;
}

/* ---- scoring ---- */

typedef struct ent {
    int start, end; /* words [start, end) */
    const char *type;
    size_t tl;
} ent;

/* conlleval chunks of a tag sequence. */
static int chunks(const char *const *tags, int n, ent *out)
{
    int k = 0;
    for (int i = 0; i < n;) {
        const char *t = tags[i];
        if (!t || strcmp(t, "O") == 0 || strlen(t) < 3) {
            i++;
            continue;
        }
        const char *type = t + 2;
        size_t tl = strlen(type);
        int j = i + 1;
        while (j < n && tags[j] && tags[j][0] == 'I' && tags[j][1] == '-' && strlen(tags[j] + 2) == tl &&
               memcmp(tags[j] + 2, type, tl) == 0)
            j++;
        out[k++] = (ent){i, j, type, tl};
        i = j;
    }
    return k;
}

static int find_type(pe_ner_scores *s, const char *type, size_t tl, pe_error *err)
{
    for (int i = 0; i < s->n_types; i++)
        if (strlen(s->types[i].type) == tl && memcmp(s->types[i].type, type, tl) == 0) return i;
    pe_ner_type_score *v = realloc(s->types, ((size_t)s->n_types + 1) * sizeof *v);
    if (!v) {
        pe_error_set(err, PE_ERR_NOMEM, "out of memory");
        return -1;
    }
    s->types = v;
    memset(&v[s->n_types], 0, sizeof *v);
    snprintf(v[s->n_types].type, sizeof v[s->n_types].type, "%.*s", (int)tl, type);
    return s->n_types++;
}

static void prf(long tp, long fp, long fn, double *p, double *r, double *f)
{
    *p = tp + fp > 0 ? (double)tp / (double)(tp + fp) : 0.0;
    *r = tp + fn > 0 ? (double)tp / (double)(tp + fn) : 0.0;
    *f = *p + *r > 0 ? 2 * *p * *r / (*p + *r) : 0.0;
}

pe_status pe_ner_score(const char *const *const *gold, const char *const *const *pred, const int *n_words, size_t ns,
                       pe_ner_scores *out, pe_error *err)
{
    memset(out, 0, sizeof *out);
    int maxw = 1;
    for (size_t i = 0; i < ns; i++) maxw = n_words[i] > maxw ? n_words[i] : maxw;
    ent *g = malloc((size_t)maxw * sizeof *g), *p = malloc((size_t)maxw * sizeof *p);
    if (!g || !p) {
        free(g);
        free(p);
        return pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    }
    pe_status st = PE_OK;
    for (size_t i = 0; i < ns && st == PE_OK; i++) {
        int ng = chunks(gold[i], n_words[i], g), np = chunks(pred[i], n_words[i], p);
        for (int a = 0; a < np && st == PE_OK; a++) {
            int t = find_type(out, p[a].type, p[a].tl, err);
            if (t < 0) {
                st = PE_ERR_NOMEM;
                break;
            }
            int hit = 0;
            for (int b = 0; b < ng && !hit; b++)
                hit = g[b].start == p[a].start && g[b].end == p[a].end && g[b].tl == p[a].tl &&
                      memcmp(g[b].type, p[a].type, p[a].tl) == 0;
            if (hit) out->types[t].tp++, out->tp++;
            else out->types[t].fp++, out->fp++;
        }
        for (int b = 0; b < ng && st == PE_OK; b++) {
            int hit = 0;
            for (int a = 0; a < np && !hit; a++)
                hit = g[b].start == p[a].start && g[b].end == p[a].end && g[b].tl == p[a].tl &&
                      memcmp(g[b].type, p[a].type, p[a].tl) == 0;
            if (!hit) {
                int t = find_type(out, g[b].type, g[b].tl, err);
                if (t < 0) {
                    st = PE_ERR_NOMEM;
                    break;
                }
                out->types[t].fn++;
                out->fn++;
            }
        }
        out->sentences++;
    }
    free(g);
    free(p);
    if (st != PE_OK) {
        pe_ner_scores_clear(out);
        return st;
    }
    double macro = 0.0;
    for (int t = 0; t < out->n_types; t++) {
        pe_ner_type_score *x = &out->types[t];
        prf(x->tp, x->fp, x->fn, &x->precision, &x->recall, &x->f1);
        macro += x->f1;
    }
    out->macro_f1 = out->n_types ? macro / out->n_types : 0.0;
    prf(out->tp, out->fp, out->fn, &out->precision, &out->recall, &out->f1);
    return PE_OK;
}

void pe_ner_scores_clear(pe_ner_scores *s)
{
    free(s->types);
    memset(s, 0, sizeof *s);
}

/* The rules on predicted word tags (pe_ner_tag_words and the training
 * scorer): words of web and e-mail addresses and user handles are O
 * (confidence 1), and a mention of punctuation alone is none. */
static void word_rules(const char *const *words, int n_words, const char **tags, float *conf)
{
    for (int w = 0; w < n_words; w++)
        if (pe_tag_text_machine(words[w], strlen(words[w]), 1)) {
            tags[w] = "O";
            if (conf) conf[w] = 1.0f;
        }
    for (int w = 0; w < n_words;) {
        if (tags[w][0] == 'O') {
            w++;
            continue;
        }
        int w2 = w + 1, text = pe_tag_text_has_alnum(words[w], strlen(words[w]));
        while (w2 < n_words && tags[w2][0] == 'I' && !strcmp(tags[w2] + 2, tags[w] + 2)) {
            text |= pe_tag_text_has_alnum(words[w2], strlen(words[w2]));
            w2++;
        }
        for (int k = w; !text && k < w2; k++) tags[k] = "O";
        w = w2;
    }
}

/* ---- the scorer used while training ---- */

struct pe_ner_scorer {
    const pe_ner_corpus *dev;
    const char *const *labels;
    int n_labels;
    int **first; /* (sentences) first token of each word, -1 when cut */
};

void pe_ner_scorer_free(pe_ner_scorer *s)
{
    if (!s) return;
    for (size_t i = 0; s->first && i < s->dev->n; i++) free(s->first[i]);
    free(s->first);
    free(s);
}

pe_status pe_ner_scorer_new(const pe_ner_corpus *dev, const pe_tokenizer *tok, const char *const *labels,
                            int n_labels, int max_len, int doc_context, pe_ner_scorer **out, pe_error *err)
{
    *out = NULL;
    pe_ner_scorer *s = calloc(1, sizeof *s);
    if (!s || !(s->first = calloc(dev->n + 1, sizeof *s->first))) {
        free(s);
        return pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    }
    s->dev = dev;
    s->labels = labels;
    s->n_labels = n_labels;
    size_t *lo = NULL, *hi = NULL;
    pe_status st = doc_context ? pe_ner_doc_context(dev, tok, max_len, &lo, &hi, err) : PE_OK;
    for (size_t i = 0; st == PE_OK && i < dev->n; i++) {
        int32_t *ids = NULL;
        int len, n_words = 0, off = 0, *first = NULL;
        const char **words = context_words(dev, lo ? lo[i] : i, hi ? hi[i] : i + 1, i, &n_words, &off);
        if (!words) st = pe_error_set(err, PE_ERR_NOMEM, "out of memory");
        if (st == PE_OK) st = pe_tag_encode_words(tok, words, n_words, max_len, &ids, &len, &first, err);
        if (st == PE_OK && !(s->first[i] = malloc(((size_t)dev->s[i].n + 1) * sizeof *s->first[i])))
            st = pe_error_set(err, PE_ERR_NOMEM, "out of memory");
        if (st == PE_OK) memcpy(s->first[i], first + off, (size_t)dev->s[i].n * sizeof *first); /* sentence i's words */
        free(words);
        free(ids);
        free(first);
    }
    free(lo);
    free(hi);
    if (st != PE_OK) {
        pe_ner_scorer_free(s);
        return st;
    }
    *out = s;
    return PE_OK;
}

pe_status pe_ner_scorer_score(void *user, const pe_tag_data *dev, const int32_t *const *pred, const float *const *conf,
                              pe_eval_result *out, pe_error *err)
{
    (void)conf;
    pe_ner_scorer *s = user;
    const size_t n = s->dev->n;
    if (pe_tag_data_count(dev) != n) return pe_error_set(err, PE_ERR_INVALID, "ner scorer: data and corpus differ");
    const char ***gold = malloc((n + 1) * sizeof *gold), ***pv = malloc((n + 1) * sizeof *pv);
    int *nw = malloc((n + 1) * sizeof *nw);
    pe_status st = gold && pv && nw ? PE_OK : pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    size_t done = 0;
    for (size_t i = 0; st == PE_OK && i < n; i++, done++) {
        const pe_ner_sentence *x = &s->dev->s[i];
        nw[i] = x->n;
        gold[i] = (const char **)x->tags;
        pv[i] = malloc(((size_t)x->n + 1) * sizeof **pv);
        if (!pv[i]) {
            st = pe_error_set(err, PE_ERR_NOMEM, "out of memory");
            break;
        }
        for (int w = 0; w < x->n; w++) {
            int t = s->first[i][w];
            int lab = t >= 0 ? pred[i][t] : 0;
            pv[i][w] = lab >= 0 && lab < s->n_labels ? s->labels[lab] : "O";
        }
        word_rules((const char *const *)x->words, x->n, pv[i], NULL);
        /* an I- after O is read as a start, as conlleval does */
    }
    pe_ner_scores sc;
    if (st == PE_OK)
        st = pe_ner_score((const char *const *const *)gold, (const char *const *const *)pv, nw, n, &sc, err);
    if (st == PE_OK) {
        out->metric_name = "f1";
        out->metric = sc.f1;
        out->n_extra = 3;
        out->extra_names[0] = "precision";
        out->extra[0] = sc.precision;
        out->extra_names[1] = "recall";
        out->extra[1] = sc.recall;
        out->extra_names[2] = "macro_f1";
        out->extra[2] = sc.macro_f1;
        pe_ner_scores_clear(&sc);
    }
    for (size_t i = 0; pv && i < done; i++) free(pv[i]);
    free(gold);
    free(pv);
    free(nw);
    return st;
}

/* ---- inference ---- */

struct pe_ner {
    pe_encoder *enc;
    pe_token_head *head;
    const char *const *labels;
    int n_labels;
    char **types; /* (n_types) */
    int n_types;
    pe_kg_reader *graph;
    int use; /* PE_NER_USE_* of the head */
};

pe_ner_options pe_ner_options_default(void)
{
    pe_ner_options o = {"ner", NULL};
    return o;
}

pe_status pe_ner_open(pe_encoder *enc, const pe_ner_options *opt, pe_ner **out, pe_error *err)
{
    if (!out) return pe_error_set(err, PE_ERR_INVALID, "ner: NULL output");
    *out = NULL;
    pe_ner_options o = opt ? *opt : pe_ner_options_default();
    if (!enc || !o.head) return pe_error_set(err, PE_ERR_INVALID, "ner: NULL model");
    if (!pe_encoder_tokenizer(enc)) return pe_error_set(err, PE_ERR_INVALID, "ner: the model has no vocabulary");
    pe_ner *n = calloc(1, sizeof *n);
    if (!n) return pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    n->enc = enc;
    n->graph = o.graph;
    pe_status st = pe_token_head_from_encoder(enc, o.head, &n->head, err);
    if (st == PE_OK && pe_encoder_labels(enc, o.head, &n->labels, &n->n_labels) != PE_OK)
        st = pe_error_set(err, PE_ERR_CORRUPT, "the model's head %s has no label set", o.head);
    if (st == PE_OK && n->n_labels != pe_token_head_n_labels(n->head))
        st = pe_error_set(err, PE_ERR_CORRUPT, "the model's head %s has %d outputs but %d labels", o.head,
                          pe_token_head_n_labels(n->head), n->n_labels);
    if (st == PE_OK && (n->n_labels % 2 != 1 || strcmp(n->labels[0], "O") != 0))
        st = pe_error_set(err, PE_ERR_CORRUPT, "the model's %s labels are not O, B-T, I-T, ...", o.head);
    if (st == PE_OK && (n->use = pe_ner_feature_use(pe_token_head_n_feat(n->head))) < 0)
        st = pe_error_set(err, PE_ERR_CORRUPT, "the model's head %s has %d feature ids: not a count of graph (%d), shape (%d) or both (%d)",
                          o.head, pe_token_head_n_feat(n->head), PE_NER_N_FEAT, PE_NER_N_SHAPE, PE_NER_N_FEAT * PE_NER_N_SHAPE);
    if (st == PE_OK) {
        n->n_types = n->n_labels / 2;
        n->types = calloc((size_t)n->n_types + 1, sizeof *n->types);
        if (!n->types) st = pe_error_set(err, PE_ERR_NOMEM, "out of memory");
        for (int i = 0; st == PE_OK && i < n->n_types; i++) {
            const char *b = n->labels[1 + 2 * i], *in = n->labels[2 + 2 * i];
            if (strncmp(b, "B-", 2) != 0 || strncmp(in, "I-", 2) != 0 || strcmp(b + 2, in + 2) != 0)
                st = pe_error_set(err, PE_ERR_CORRUPT, "the model's %s labels %s, %s are not a B-/I- pair", o.head, b, in);
            else if (!(n->types[i] = strdup(b + 2)))
                st = pe_error_set(err, PE_ERR_NOMEM, "out of memory");
        }
    }
    if (st == PE_OK) st = pe_ner_head_decode(n->head, PE_DECODE_VITERBI, err);
    if (st != PE_OK) {
        pe_ner_close(n);
        return st;
    }
    *out = n;
    return PE_OK;
}

void pe_ner_close(pe_ner *n)
{
    if (!n) return;
    pe_token_head_free(n->head);
    if (n->types)
        for (int i = 0; i < n->n_types; i++) free(n->types[i]);
    free(n->types);
    free(n);
}

pe_status pe_ner_head_decode(pe_token_head *head, pe_tag_decode d, pe_error *err)
{
    const int K = head ? pe_token_head_n_labels(head) : 0;
    if (K < 1 || K % 2 != 1) return pe_error_set(err, PE_ERR_INVALID, "ner: not a BIO head");
    return pe_token_head_set_bio_decode(head, d, 0, err);
}

pe_status pe_ner_set_decode(pe_ner *n, pe_tag_decode d, pe_error *err)
{
    return n ? pe_ner_head_decode(n->head, d, err) : pe_error_set(err, PE_ERR_INVALID, "ner: NULL handle");
}

int pe_ner_n_types(const pe_ner *n)
{
    return n->n_types;
}

const char *pe_ner_type_name(const pe_ner *n, int i)
{
    return i >= 0 && i < n->n_types ? n->types[i] : NULL;
}

pe_status pe_ner_tag_words(pe_ner *n, const char *const *words, int n_words, const char **tags, float *conf,
                           pe_error *err)
{
    const pe_tokenizer *tok = pe_encoder_tokenizer(n->enc);
    int32_t *ids = NULL;
    int len = 0, *first = NULL;
    /* the whole sentence, then windows */
    pe_status st = pe_tag_encode_words(tok, words, n_words, 1 << 30, &ids, &len, &first, err);
    if (st != PE_OK) return st;
    const int T = len - 2;
    unsigned char *ws = calloc((size_t)T + 1, 1);
    int32_t *lab = malloc(((size_t)T + 1) * sizeof *lab), *tf = NULL, *wfe = NULL;
    float *cf = malloc(((size_t)T + 1) * sizeof *cf);
    if (!ws || !lab || !cf) st = pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    if (st == PE_OK && n->use) {
        tf = calloc((size_t)T + 1, sizeof *tf);
        wfe = calloc((size_t)n_words + 1, sizeof *wfe);
        if (!tf || !wfe) st = pe_error_set(err, PE_ERR_NOMEM, "out of memory");
        if (st == PE_OK) st = pe_ner_word_features(n->graph, n->use, words, n_words, wfe, err);
        if (st == PE_OK) word_feats_to_tokens(first, n_words, len, wfe, tf, 1);
    }
    if (st == PE_OK) {
        for (int w = 0; w < n_words; w++)
            if (first[w] >= 1) ws[first[w] - 1] = 1;
        int32_t *tt = NULL;
        if (T > 0) st = pe_token_types_of_words(n->enc, words, n_words, first, len, &tt, err);
        if (st == PE_OK && T > 0) st = pe_token_head_run(n->enc, n->head, ids + 1, ws, tf, tt, T, lab, cf, err);
        free(tt);
    }
    for (int w = 0; st == PE_OK && w < n_words; w++) {
        int t = first[w];
        tags[w] = t >= 1 ? n->labels[lab[t - 1]] : "O";
        if (conf) conf[w] = t >= 1 ? cf[t - 1] : 1.0f;
    }
    if (st == PE_OK) word_rules(words, n_words, tags, conf);
    free(ids);
    free(first);
    free(ws);
    free(lab);
    free(cf);
    free(tf);
    free(wfe);
    return st;
}

pe_status pe_ner_tag_sentence(pe_ner *n, const pe_ner_corpus *c, size_t i, size_t lo, size_t hi, const char **tags,
                              float *conf, pe_error *err)
{
    if (!c || i >= c->n || lo > i || hi <= i || hi > c->n)
        return pe_error_set(err, PE_ERR_INVALID, "ner: sentence %zu within %zu..%zu is not a range of the corpus", i, lo, hi);
    int nw = 0, off = 0;
    const char **words = context_words(c, lo, hi, i, &nw, &off);
    const char **all = malloc(((size_t)nw + 1) * sizeof *all);
    float *cf = malloc(((size_t)nw + 1) * sizeof *cf);
    pe_status st = words && all && cf ? pe_ner_tag_words(n, words, nw, all, cf, err)
                                      : pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    if (st == PE_OK) {
        memcpy(tags, all + off, (size_t)c->s[i].n * sizeof *tags);
        if (conf) memcpy(conf, cf + off, (size_t)c->s[i].n * sizeof *conf);
    }
    free(words);
    free(all);
    free(cf);
    return st;
}

void pe_ner_mentions_free(pe_ner_mention *m, size_t n)
{
    if (!m) return;
    for (size_t i = 0; i < n; i++) free(m[i].text);
    free(m);
}

/* Mentions of text from its encoding e: with hidden (e->len, C), the
 * head reads those hidden states; without, the encoder runs on e's ids in
 * windows (e then has no [CLS]/[SEP]). */
static pe_status extract_impl(pe_ner *n, const char *text, const pe_encoding *e, const float *hidden,
                              pe_ner_mention **m_out, size_t *n_out, pe_error *err)
{
    pe_status st = PE_OK;
    const int T = (int)e->len;
    pe_tag_words tw;
    if ((st = pe_tag_words_of(e, &tw, err)) != PE_OK) return st;
    const int n_words = tw.n;
    const size_t *ws = tw.start, *we = tw.end;
    const int *wfirst = tw.first;
    int32_t *lab = malloc(((size_t)T + 1) * sizeof *lab), *tf = NULL;
    float *cf = malloc(((size_t)T + 1) * sizeof *cf);
    pe_ner_mention *m = NULL;
    size_t nm = 0;
    if (!lab || !cf) st = pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    if (st == PE_OK && n->use && n_words > 0) {
        char **words = calloc((size_t)n_words, sizeof *words);
        int32_t *wf = calloc((size_t)n_words, sizeof *wf);
        tf = calloc((size_t)T + 1, sizeof *tf);
        if (!words || !wf || !tf) st = pe_error_set(err, PE_ERR_NOMEM, "out of memory");
        for (int w = 0; st == PE_OK && w < n_words; w++) {
            size_t l = we[w] > ws[w] ? we[w] - ws[w] : 0;
            if (!(words[w] = malloc(l + 1))) st = pe_error_set(err, PE_ERR_NOMEM, "out of memory");
            else {
                memcpy(words[w], text + ws[w], l);
                words[w][l] = '\0';
            }
        }
        if (st == PE_OK) st = pe_ner_word_features(n->graph, n->use, (const char *const *)words, n_words, wf, err);
        for (int t = 0; st == PE_OK && t < T; t++) tf[t] = e->word_ids[t] >= 0 ? wf[e->word_ids[t]] : 0;
        for (int w = 0; words && w < n_words; w++) free(words[w]);
        free(words);
        free(wf);
    }
    if (st == PE_OK && T > 0 && !hidden) {
        int32_t *tt = NULL;
        st = pe_token_types_of_encoding(n->enc, e, text, &tt, err);
        if (st == PE_OK) st = pe_token_head_run(n->enc, n->head, e->ids, tw.word_start, tf, tt, T, lab, cf, err);
        free(tt);
    }
    if (st == PE_OK && T > 0 && hidden) st = pe_token_head_label_words(n->head, hidden, pe_token_head_n_feat(n->head) ? tf : NULL, T, tw.word_start, lab, cf, err);
    /* word tags -> mentions; words of web or e-mail addresses and user
     * handles are O, and a mention of punctuation alone is none */
    unsigned char *inert = NULL;
    if (st == PE_OK && n_words > 0) {
        m = calloc((size_t)n_words, sizeof *m);
        inert = malloc((size_t)n_words);
        if (!m || !inert) st = pe_error_set(err, PE_ERR_NOMEM, "out of memory");
        else pe_tag_words_machine(text, &tw, 1, inert);
    }
    for (int w = 0; st == PE_OK && w < n_words;) {
        int t = wfirst[w];
        int l = t >= 0 && !inert[w] ? lab[t] : 0;
        if (l == 0) {
            w++;
            continue;
        }
        const int type = (l - 1) / 2;
        int w2 = w + 1;
        double sc = cf[t];
        while (w2 < n_words && wfirst[w2] >= 0 && !inert[w2] && lab[wfirst[w2]] == 2 + 2 * type) {
            sc += cf[wfirst[w2]];
            w2++;
        }
        if (!pe_tag_text_has_alnum(text + ws[w], we[w2 - 1] - ws[w])) {
            w = w2;
            continue;
        }
        pe_ner_mention *x = &m[nm];
        x->start = ws[w];
        x->end = we[w2 - 1];
        x->type = n->types[type];
        x->score = (float)(sc / (double)(w2 - w));
        if (!(x->text = malloc(x->end - x->start + 1))) {
            st = pe_error_set(err, PE_ERR_NOMEM, "out of memory");
            break;
        }
        memcpy(x->text, text + x->start, x->end - x->start);
        x->text[x->end - x->start] = '\0';
        nm++;
        w = w2;
    }
    if (st != PE_OK || nm == 0) {
        pe_ner_mentions_free(m, nm);
    } else {
        *m_out = m;
        *n_out = nm;
    }
    pe_tag_words_clear(&tw);
    free(inert);
    free(lab);
    free(cf);
    free(tf);
    return st;
}

pe_status pe_ner_extract(pe_ner *n, const char *text, size_t len, pe_ner_mention **m_out, size_t *n_out, pe_error *err)
{
    *m_out = NULL;
    *n_out = 0;
    pe_tokenizer_encode_options eo = pe_tokenizer_encode_options_default();
    eo.add_special_tokens = 0;
    pe_encoding *e = NULL;
    pe_status st = pe_tokenizer_encode(pe_encoder_tokenizer(n->enc), text, len, NULL, 0, &eo, &e, err);
    if (st != PE_OK) return st;
    st = extract_impl(n, text, e, NULL, m_out, n_out, err);
    pe_encoding_free(e);
    return st;
}

pe_status pe_ner_extract_encoded(pe_ner *n, const char *text, const pe_encoding *e, const float *hidden,
                                 pe_ner_mention **m_out, size_t *n_out, pe_error *err)
{
    *m_out = NULL;
    *n_out = 0;
    if (!n || !text || !e || !hidden) return pe_error_set(err, PE_ERR_INVALID, "ner: NULL argument");
    return extract_impl(n, text, e, hidden, m_out, n_out, err);
}
