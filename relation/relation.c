/* relation.c - PersonaExt data, relation-typed span labels, decoding to
 * triples, triplet scoring and inference (pe_relation.h). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pe_relation.h"

struct pe_rel_data {
    pe_rel_utterance *u;
    size_t n, cap;
    char **rel;
    int n_rel;
    size_t skipped, conflicts, discontiguous;
    char problem[PE_ERRMSG_MAX];
};

static void utt_clear(pe_rel_utterance *u)
{
    for (int i = 0; i < u->n_words; i++) free(u->words[i]);
    free(u->words);
    free(u->triples);
    memset(u, 0, sizeof *u);
}

void pe_rel_data_free(pe_rel_data *d)
{
    if (!d) return;
    for (size_t i = 0; i < d->n; i++) utt_clear(&d->u[i]);
    free(d->u);
    for (int i = 0; i < d->n_rel; i++) free(d->rel[i]);
    free(d->rel);
    free(d);
}

size_t pe_rel_data_count(const pe_rel_data *d)
{
    return d ? d->n : 0;
}
const pe_rel_utterance *pe_rel_data_get(const pe_rel_data *d, size_t i)
{
    return &d->u[i];
}
int pe_rel_data_n_relations(const pe_rel_data *d)
{
    return d->n_rel;
}
const char *pe_rel_data_relation(const pe_rel_data *d, int i)
{
    return i >= 0 && i < d->n_rel ? d->rel[i] : NULL;
}
size_t pe_rel_data_skipped(const pe_rel_data *d)
{
    return d->skipped;
}
const char *pe_rel_data_first_problem(const pe_rel_data *d)
{
    return d->problem;
}
size_t pe_rel_data_conflicts(const pe_rel_data *d)
{
    return d->conflicts;
}
size_t pe_rel_data_discontiguous(const pe_rel_data *d)
{
    return d->discontiguous;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int rel_index(const pe_rel_data *d, const char *s)
{
    for (int i = 0; i < d->n_rel; i++)
        if (strcmp(d->rel[i], s) == 0) return i;
    return -1;
}

/* A non-empty, in-range index list -> its bounds [start, end); returns 0
 * when the indices (in any order, without repeats) fill the bounds, 1 when
 * they do not, -1 when the list is bad. */
static int span_of(const cJSON *a, int n_words, int *start, int *end)
{
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) < 1) return -1;
    int lo = n_words, hi = -1, k = 0;
    for (const cJSON *e = a->child; e; e = e->next, k++) {
        if (!cJSON_IsNumber(e) || e->valuedouble != (double)(int)e->valuedouble) return -1;
        int v = (int)e->valuedouble;
        if (v < 0 || v >= n_words) return -1;
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    *start = lo;
    *end = hi + 1;
    return hi - lo + 1 == k ? 0 : 1;
}

/* Utterance key: the words joined by \x1f. Linear probing over a table of
 * indices. */
typedef struct utt_index {
    size_t *slot; /* index + 1, 0 empty */
    size_t cap;
} utt_index;

static uint64_t hash_words(const cJSON *toks)
{
    uint64_t h = 1469598103934665603ull;
    for (const cJSON *e = toks->child; e; e = e->next) {
        for (const char *p = e->valuestring; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
        h = (h ^ 0x1f) * 1099511628211ull;
    }
    return h;
}

static int same_words(const pe_rel_utterance *u, const cJSON *toks)
{
    int i = 0;
    for (const cJSON *e = toks->child; e; e = e->next, i++)
        if (i >= u->n_words || strcmp(u->words[i], e->valuestring) != 0) return 0;
    return i == u->n_words;
}

pe_status pe_rel_data_read(const char *path, const char *const *relations, int n_relations, int strict,
                           pe_rel_data **out, pe_error *err)
{
    if (!out) return pe_error_set(err, PE_ERR_INVALID, "relation data: NULL output");
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return pe_error_set(err, PE_ERR_IO, "%s: %s", path, strerror(errno));
    pe_rel_data *d = calloc(1, sizeof *d);
    utt_index ix = {calloc(1 << 16, sizeof(size_t)), 1 << 16};
    cJSON **lines = NULL;
    long *linenos = NULL;
    size_t nl = 0, capl = 0;
    pe_status st = d && ix.slot ? PE_OK : pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    char *line = NULL;
    size_t lcap = 0;
    ssize_t ll;
    long lineno = 0;
    /* pass 1: parse every line, check its shape */
    while (st == PE_OK && (ll = getline(&line, &lcap, f)) >= 0) {
        lineno++;
        size_t l = (size_t)ll;
        while (l > 0 && (line[l - 1] == '\n' || line[l - 1] == '\r')) l--;
        if (l == 0) continue;
        const char *problem = NULL;
        size_t bad;
        cJSON *j = NULL;
        if (!pe_utf8_valid(line, l, &bad)) problem = "invalid UTF-8";
        else if (!(j = cJSON_ParseWithLength(line, l)) || !cJSON_IsObject(j)) problem = "not a JSON object";
        else {
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "tokens"),
                        *lab = cJSON_GetObjectItemCaseSensitive(j, "label");
            int ok = cJSON_IsArray(t) && cJSON_GetArraySize(t) > 0 && cJSON_IsString(lab) && lab->valuestring[0];
            for (const cJSON *e = ok ? t->child : NULL; e; e = e->next) ok = ok && cJSON_IsString(e) && e->valuestring[0];
            int a, b;
            if (!ok) problem = "needs \"tokens\" (non-empty strings) and \"label\"";
            else if (span_of(cJSON_GetObjectItemCaseSensitive(j, "head"), cJSON_GetArraySize(t), &a, &b) < 0 ||
                     span_of(cJSON_GetObjectItemCaseSensitive(j, "tail"), cJSON_GetArraySize(t), &a, &b) < 0)
                problem = "\"head\" and \"tail\" must be non-empty lists of word indices within \"tokens\"";
        }
        if (problem) {
            cJSON_Delete(j);
            if (strict) {
                st = pe_error_set(err, PE_ERR_PARSE, "%s:%ld: %s", path, lineno, problem);
                break;
            }
            if (!d->problem[0]) snprintf(d->problem, sizeof d->problem, "%s:%ld: %s", path, lineno, problem);
            d->skipped++;
            continue;
        }
        if (nl == capl) {
            capl = capl ? capl * 2 : 1024;
            cJSON **v = realloc(lines, capl * sizeof *v);
            long *w = realloc(linenos, capl * sizeof *w);
            if (v) lines = v;
            if (w) linenos = w;
            if (!v || !w) {
                cJSON_Delete(j);
                st = pe_error_set(err, PE_ERR_NOMEM, "out of memory");
                break;
            }
        }
        linenos[nl] = lineno;
        lines[nl++] = j;
    }
    free(line);
    fclose(f);
    /* the inventory */
    if (st == PE_OK) {
        if (relations) {
            d->rel = calloc((size_t)n_relations + 1, sizeof *d->rel);
            for (int i = 0; d->rel && i < n_relations; i++) d->rel[d->n_rel++] = strdup(relations[i]);
        } else {
            d->rel = calloc(nl + 1, sizeof *d->rel);
            for (size_t i = 0; d->rel && i < nl; i++) {
                const char *s = cJSON_GetObjectItemCaseSensitive(lines[i], "label")->valuestring;
                if (rel_index(d, s) < 0) d->rel[d->n_rel++] = strdup(s);
            }
            if (d->rel) qsort(d->rel, (size_t)d->n_rel, sizeof *d->rel, cmp_str);
        }
        if (!d->rel) st = pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    }
    /* pass 2: group into utterances */
    for (size_t i = 0; st == PE_OK && i < nl; i++) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(lines[i], "tokens");
        const char *lab = cJSON_GetObjectItemCaseSensitive(lines[i], "label")->valuestring;
        int r = rel_index(d, lab);
        if (r < 0) {
            if (strict) {
                st = pe_error_set(err, PE_ERR_PARSE, "%s:%ld: unknown relation %s", path, linenos[i], lab);
                break;
            }
            if (!d->problem[0])
                snprintf(d->problem, sizeof d->problem, "%s:%ld: unknown relation %.64s", path, linenos[i], lab);
            d->skipped++;
            continue;
        }
        const int nw = cJSON_GetArraySize(t);
        uint64_t h = hash_words(t);
        size_t k = (size_t)h & (ix.cap - 1);
        pe_rel_utterance *u = NULL;
        while (ix.slot[k]) {
            if (same_words(&d->u[ix.slot[k] - 1], t)) {
                u = &d->u[ix.slot[k] - 1];
                break;
            }
            k = (k + 1) & (ix.cap - 1);
        }
        if (!u) {
            if (d->n + 1 >= ix.cap / 2) { /* grow and rehash */
                size_t nc = ix.cap * 2;
                size_t *ns = calloc(nc, sizeof *ns);
                if (!ns) {
                    st = pe_error_set(err, PE_ERR_NOMEM, "out of memory");
                    break;
                }
                for (size_t q = 0; q < ix.cap; q++) {
                    if (!ix.slot[q]) continue;
                    const pe_rel_utterance *x = &d->u[ix.slot[q] - 1];
                    uint64_t hh = 1469598103934665603ull;
                    for (int w = 0; w < x->n_words; w++) {
                        for (const char *p = x->words[w]; *p; p++) hh = (hh ^ (unsigned char)*p) * 1099511628211ull;
                        hh = (hh ^ 0x1f) * 1099511628211ull;
                    }
                    size_t m = (size_t)hh & (nc - 1);
                    while (ns[m]) m = (m + 1) & (nc - 1);
                    ns[m] = ix.slot[q];
                }
                free(ix.slot);
                ix.slot = ns;
                ix.cap = nc;
                k = (size_t)h & (ix.cap - 1);
                while (ix.slot[k]) k = (k + 1) & (ix.cap - 1);
            }
            if (d->n == d->cap) {
                size_t cap = d->cap ? d->cap * 2 : 1024;
                pe_rel_utterance *v = realloc(d->u, cap * sizeof *v);
                if (!v) {
                    st = pe_error_set(err, PE_ERR_NOMEM, "out of memory");
                    break;
                }
                d->u = v;
                d->cap = cap;
            }
            u = &d->u[d->n];
            memset(u, 0, sizeof *u);
            u->words = calloc((size_t)nw, sizeof *u->words);
            if (!u->words) {
                st = pe_error_set(err, PE_ERR_NOMEM, "out of memory");
                break;
            }
            int w = 0;
            for (const cJSON *e = t->child; e; e = e->next) u->words[w++] = strdup(e->valuestring);
            u->n_words = nw;
            for (w = 0; w < nw; w++)
                if (!u->words[w]) st = pe_error_set(err, PE_ERR_NOMEM, "out of memory");
            d->n++;
            ix.slot[k] = d->n;
        }
        pe_rel_triple tr = {0};
        span_of(cJSON_GetObjectItemCaseSensitive(lines[i], "head"), nw, &tr.subj_start, &tr.subj_end);
        tr.discontiguous = span_of(cJSON_GetObjectItemCaseSensitive(lines[i], "tail"), nw, &tr.obj_start, &tr.obj_end) == 1;
        d->discontiguous += tr.discontiguous;
        tr.relation = r;
        int dup = 0;
        for (int q = 0; q < u->n_triples; q++)
            dup |= u->triples[q].relation == r && u->triples[q].obj_start == tr.obj_start &&
                   u->triples[q].obj_end == tr.obj_end && u->triples[q].subj_start == tr.subj_start;
        if (dup) continue;
        pe_rel_triple *v = realloc(u->triples, ((size_t)u->n_triples + 1) * sizeof *v);
        if (!v) {
            st = pe_error_set(err, PE_ERR_NOMEM, "out of memory");
            break;
        }
        u->triples = v;
        u->triples[u->n_triples++] = tr;
    }
    for (size_t i = 0; i < nl; i++) cJSON_Delete(lines[i]);
    free(lines);
    free(linenos);
    free(ix.slot);
    if (st != PE_OK) {
        pe_rel_data_free(d);
        return st;
    }
    *out = d;
    return PE_OK;
}

pe_status pe_rel_labels_make(const char *const *relations, int n, char ***labels, int *n_labels, pe_error *err)
{
    *labels = NULL;
    *n_labels = 0;
    char **v = calloc(2 * (size_t)n + 4, sizeof *v);
    if (!v) return pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    v[0] = strdup("O");
    v[1] = strdup("B-SUBJ");
    v[2] = strdup("I-SUBJ");
    int ok = v[0] && v[1] && v[2];
    for (int i = 0; ok && i < n; i++) {
        size_t l = strlen(relations[i]) + 3;
        v[3 + 2 * i] = malloc(l);
        v[4 + 2 * i] = malloc(l);
        ok = v[3 + 2 * i] && v[4 + 2 * i];
        if (ok) {
            snprintf(v[3 + 2 * i], l, "B-%s", relations[i]);
            snprintf(v[4 + 2 * i], l, "I-%s", relations[i]);
        }
    }
    if (!ok) {
        pe_rel_labels_free(v, 2 * n + 3);
        return pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    }
    *labels = v;
    *n_labels = 2 * n + 3;
    return PE_OK;
}

void pe_rel_labels_free(char **labels, int n)
{
    if (!labels) return;
    for (int i = 0; i < n; i++) free(labels[i]);
    free(labels);
}

/* Word labels of an utterance (O = 0, B-SUBJ 1, I-SUBJ 2, B-r 3 + 2r,
 * I-r 4 + 2r, -1 not trained); counts objects that could not be placed.
 * An object that is not one span cannot be tagged, but its words are not
 * "O" either: they and the words between them are left out of the loss
 * (-1), so that the model is not taught that such objects are nothing. */
static void word_labels(const pe_rel_utterance *u, int32_t *wl, size_t *conflicts)
{
    for (int w = 0; w < u->n_words; w++) wl[w] = 0;
    for (int q = 0; q < u->n_triples; q++) {
        const pe_rel_triple *t = &u->triples[q];
        if (t->discontiguous) {
            for (int w = t->obj_start; w < t->obj_end; w++) wl[w] = -1;
            continue;
        }
        int free_span = 1;
        for (int w = t->obj_start; w < t->obj_end; w++) free_span &= wl[w] == 0;
        if (!free_span) {
            if (conflicts) (*conflicts)++;
            continue;
        }
        for (int w = t->obj_start; w < t->obj_end; w++) wl[w] = (w == t->obj_start ? 3 : 4) + 2 * t->relation;
    }
    for (int q = 0; q < u->n_triples; q++) {
        const pe_rel_triple *t = &u->triples[q];
        if (t->subj_start < 0) continue;
        int free_span = 1;
        for (int w = t->subj_start; w < t->subj_end; w++) free_span &= wl[w] == 0 || wl[w] == 1 || wl[w] == 2;
        if (!free_span) continue;
        for (int w = t->subj_start; w < t->subj_end; w++) wl[w] = w == t->subj_start ? 1 : 2;
    }
}

static pe_status add_utterance(const pe_rel_utterance *u, const pe_tokenizer *tok, int max_len, pe_tag_data *data,
                               size_t *conflicts, pe_error *err)
{
    int32_t *ids = NULL, *lab = NULL, *wl = malloc(((size_t)u->n_words + 1) * sizeof *wl);
    int len = 0, *first = NULL;
    if (!wl) return pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    word_labels(u, wl, conflicts);
    pe_status st = pe_tag_encode_words(tok, (const char *const *)u->words, u->n_words, max_len, &ids, &len, &first, err);
    if (st == PE_OK && !(lab = malloc((size_t)len * sizeof *lab))) st = pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    if (st == PE_OK) {
        for (int t = 0; t < len; t++) lab[t] = -100;
        for (int w = 0; w < u->n_words; w++)
            if (first[w] >= 0) lab[first[w]] = wl[w] < 0 ? -100 : wl[w];
        st = pe_tag_data_add_words(data, ids, lab, NULL, len, (const char *const *)u->words, u->n_words, first, err);
    }
    free(ids);
    free(first);
    free(lab);
    free(wl);
    return st;
}

pe_status pe_rel_add_examples(const pe_rel_data *d, const pe_tokenizer *tok, int max_len, pe_tag_data *data,
                              pe_error *err)
{
    pe_status st = PE_OK;
    pe_rel_data *dm = (pe_rel_data *)d;
    dm->conflicts = 0;
    for (size_t i = 0; i < d->n && st == PE_OK; i++) st = add_utterance(&d->u[i], tok, max_len, data, &dm->conflicts, err);
    return st;
}

/* 1 when u can take part in object swaps: one triple, its object one span. */
static int swappable(const pe_rel_utterance *u)
{
    return u->n_triples == 1 && !u->triples[0].discontiguous;
}

/* Utterance u with its one object replaced by donor v's object. -1: not
 * possible (the subject inside the object), -2: out of memory. */
static int swap_object(const pe_rel_utterance *u, const pe_rel_utterance *v, pe_rel_utterance *out)
{
    const pe_rel_triple *a = &u->triples[0], *b = &v->triples[0];
    memset(out, 0, sizeof *out);
    if (a->subj_start >= 0 && a->subj_start < a->obj_end && a->subj_end > a->obj_start) return -1;
    const int lv = b->obj_end - b->obj_start, delta = lv - (a->obj_end - a->obj_start);
    out->n_words = u->n_words + delta;
    out->words = calloc((size_t)out->n_words, sizeof *out->words);
    out->triples = malloc(sizeof *out->triples);
    if (!out->words || !out->triples) return -2;
    int k = 0;
    for (int w = 0; w < a->obj_start; w++) out->words[k++] = u->words[w];
    for (int w = b->obj_start; w < b->obj_end; w++) out->words[k++] = v->words[w];
    for (int w = a->obj_end; w < u->n_words; w++) out->words[k++] = u->words[w];
    pe_rel_triple t = *a;
    t.obj_end = a->obj_start + lv;
    if (t.subj_start >= a->obj_end) {
        t.subj_start += delta;
        t.subj_end += delta;
    }
    out->triples[0] = t;
    out->n_triples = 1;
    return 0;
}

/* u with v's object in place of its own, as one more training example
 * (counted in *n_added); a swap that cannot be made is skipped. */
static pe_status add_swap(const pe_rel_utterance *u, const pe_rel_utterance *v, const pe_tokenizer *tok, int max_len,
                          pe_tag_data *data, size_t *n_added, pe_error *err)
{
    pe_rel_utterance x;
    size_t ignored = 0;
    pe_status st = PE_OK;
    const int rc = swap_object(u, v, &x);
    if (rc == -2) st = pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    else if (rc == 0) {
        st = add_utterance(&x, tok, max_len, data, &ignored, err);
        *n_added += st == PE_OK;
    }
    free(x.words); /* borrowed strings */
    free(x.triples);
    return st;
}

pe_status pe_rel_add_swapped_examples(const pe_rel_data *d, const pe_tokenizer *tok, int max_len, int copies,
                                      int any_relation, uint64_t seed, pe_tag_data *data, size_t *added, pe_error *err)
{
    if (added) *added = 0;
    if (!d || !tok || !data || copies < 0) return pe_error_set(err, PE_ERR_INVALID, "relation: bad argument");
    if (copies == 0 || d->n == 0) return PE_OK;
    /* the utterances of one contiguous object, by relation */
    size_t *order = malloc(d->n * sizeof *order), *start = calloc((size_t)d->n_rel + 1, sizeof *start);
    if (!order || !start) {
        free(order);
        free(start);
        return pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < d->n; i++)
        if (swappable(&d->u[i])) start[d->u[i].triples[0].relation + 1]++;
    for (int r = 0; r < d->n_rel; r++) start[r + 1] += start[r];
    size_t *fill = calloc((size_t)d->n_rel + 1, sizeof *fill);
    if (!fill) {
        free(order);
        free(start);
        return pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < d->n; i++)
        if (swappable(&d->u[i])) {
            const int r = d->u[i].triples[0].relation;
            order[start[r] + fill[r]++] = i;
        }
    pe_status st = PE_OK;
    size_t n_added = 0;
    for (size_t i = 0; i < d->n && st == PE_OK; i++) {
        const pe_rel_utterance *u = &d->u[i];
        if (!swappable(u)) continue;
        const int r = u->triples[0].relation;
        const size_t first = any_relation ? 0 : start[r], n_r = any_relation ? start[d->n_rel] : start[r + 1] - start[r];
        if (n_r < 2) continue;
        for (int c = 0; c < copies && st == PE_OK; c++) {
            const pe_rel_utterance *v = &d->u[order[first + pe_draw(seed, (uint64_t)i * (uint64_t)copies + (uint64_t)c, n_r)]];
            if (v == u) continue;
            st = add_swap(u, v, tok, max_len, data, &n_added, err);
        }
    }
    free(order);
    free(start);
    free(fill);
    if (added) *added = n_added;
    return st;
}

/* x = u's words then v's, with both utterances' triples (v's shifted);
 * the strings borrowed. 0, or -2 out of memory. */
static int join_utterances(const pe_rel_utterance *u, const pe_rel_utterance *v, pe_rel_utterance *x)
{
    x->n_words = u->n_words + v->n_words;
    x->n_triples = u->n_triples + v->n_triples;
    x->words = malloc((size_t)x->n_words * sizeof *x->words);
    x->triples = malloc(((size_t)x->n_triples + 1) * sizeof *x->triples);
    if (!x->words || !x->triples) {
        free(x->words);
        free(x->triples);
        x->words = NULL;
        x->triples = NULL;
        return -2;
    }
    for (int w = 0; w < u->n_words; w++) x->words[w] = u->words[w];
    for (int w = 0; w < v->n_words; w++) x->words[u->n_words + w] = v->words[w];
    for (int q = 0; q < u->n_triples; q++) x->triples[q] = u->triples[q];
    for (int q = 0; q < v->n_triples; q++) {
        pe_rel_triple t = v->triples[q];
        if (t.subj_start >= 0) {
            t.subj_start += u->n_words;
            t.subj_end += u->n_words;
        }
        t.obj_start += u->n_words;
        t.obj_end += u->n_words;
        x->triples[u->n_triples + q] = t;
    }
    return 0;
}

pe_status pe_rel_add_paired_examples(const pe_rel_data *d, const pe_tokenizer *tok, int max_len, int copies,
                                     uint64_t seed, pe_tag_data *data, size_t *added, pe_error *err)
{
    if (added) *added = 0;
    if (!d || !tok || !data || copies < 0) return pe_error_set(err, PE_ERR_INVALID, "relation: bad argument");
    pe_status st = PE_OK;
    size_t n_added = 0, ignored = 0;
    for (size_t i = 0; i < d->n && d->n > 1 && st == PE_OK; i++) {
        for (int c = 0; c < copies && st == PE_OK; c++) {
            const size_t j = pe_draw(seed, (uint64_t)i * (uint64_t)copies + (uint64_t)c, d->n);
            if (j == i) continue;
            pe_rel_utterance x;
            if (join_utterances(&d->u[i], &d->u[j], &x) != 0) {
                st = pe_error_set(err, PE_ERR_NOMEM, "out of memory");
                break;
            }
            st = add_utterance(&x, tok, max_len, data, &ignored, err);
            n_added += st == PE_OK;
            free(x.words); /* borrowed strings */
            free(x.triples);
        }
    }
    if (added) *added = n_added;
    return st;
}

pe_status pe_rel_add_object_examples(const pe_rel_data *d, const pe_tokenizer *tok, int max_len, int relation,
                                     const char *const *objects, size_t n_objects, int copies, uint64_t seed,
                                     pe_tag_data *data, size_t *added, pe_error *err)
{
    if (added) *added = 0;
    if (!d || !tok || !data || copies < 0 || (copies > 0 && (!objects || n_objects == 0)))
        return pe_error_set(err, PE_ERR_INVALID, "relation: bad argument");
    if (relation < 0 || relation >= d->n_rel)
        return pe_error_set(err, PE_ERR_INVALID, "relation: relation %d outside the inventory (%d)", relation, d->n_rel);
    pe_status st = PE_OK;
    size_t n_added = 0;
    enum { MAXW = 16 };
    char buf[256], *w[MAXW];
    for (size_t i = 0; i < d->n && copies > 0 && st == PE_OK; i++) {
        const pe_rel_utterance *u = &d->u[i];
        if (!swappable(u) || u->triples[0].relation != relation) continue;
        for (int c = 0; c < copies && st == PE_OK; c++) {
            const char *o = objects[pe_draw(seed, (uint64_t)i * (uint64_t)copies + (uint64_t)c, n_objects)];
            if (!o || strlen(o) >= sizeof buf) continue;
            strcpy(buf, o);
            int nw = 0;
            for (char *t = buf; *t && nw < MAXW;) {
                while (*t == ' ') *t++ = '\0';
                if (!*t) break;
                w[nw++] = t;
                while (*t && *t != ' ') t++;
            }
            if (nw == 0) continue;
            /* the object as a one-triple utterance of its own words */
            pe_rel_triple vt = {.subj_start = -1, .subj_end = -1, .obj_start = 0, .obj_end = nw, .relation = relation};
            const pe_rel_utterance v = {.n_words = nw, .words = w, .n_triples = 1, .triples = &vt};
            st = add_swap(u, &v, tok, max_len, data, &n_added, err);
        }
    }
    if (added) *added = n_added;
    return st;
}

pe_status pe_rel_decode(const int32_t *wl, const float *conf, int n, int n_rel, pe_rel_triple **out, int *n_out,
                        pe_error *err)
{
    *out = NULL;
    *n_out = 0;
    int ns = 0, no = 0;
    int *ss = malloc(((size_t)n + 1) * sizeof *ss), *se = malloc(((size_t)n + 1) * sizeof *se);
    pe_rel_triple *t = malloc(((size_t)n + 1) * sizeof *t);
    if (!ss || !se || !t) {
        free(ss);
        free(se);
        free(t);
        return pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    }
    for (int w = 0; w < n;) {
        int l = wl[w];
        if (l <= 0 || l >= 3 + 2 * n_rel) {
            w++;
            continue;
        }
        int is_subj = l <= 2, r = is_subj ? -1 : (l - 3) / 2;
        int in = is_subj ? 2 : 4 + 2 * r;
        int e = w + 1;
        double sc = conf ? conf[w] : 1.0;
        while (e < n && wl[e] == in) {
            sc += conf ? conf[e] : 1.0;
            e++;
        }
        if (is_subj) {
            ss[ns] = w;
            se[ns++] = e;
        } else if (no > 0 && t[no - 1].obj_end == w && t[no - 1].relation == r) {
            /* B-r right after an object of r ("the" "beatles"): one object */
            pe_rel_triple *p = &t[no - 1];
            const int n0 = p->obj_end - p->obj_start;
            p->score = (float)((p->score * n0 + sc) / (n0 + e - w));
            p->obj_end = e;
        } else {
            t[no++] = (pe_rel_triple){-1, -1, w, e, r, (float)(sc / (e - w)), 0};
        }
        w = e;
    }
    for (int q = 0; q < no; q++) {
        int best = -1;
        for (int s = 0; s < ns; s++)
            if (se[s] <= t[q].obj_start) best = s; /* the nearest before */
        if (best < 0)
            for (int s = 0; s < ns && best < 0; s++)
                if (ss[s] >= t[q].obj_end) best = s; /* else the nearest after */
        if (best >= 0) {
            t[q].subj_start = ss[best];
            t[q].subj_end = se[best];
        }
    }
    free(ss);
    free(se);
    if (no == 0) {
        free(t);
        return PE_OK;
    }
    *out = t;
    *n_out = no;
    return PE_OK;
}

void pe_rel_scores_clear(pe_rel_scores *s)
{
    free(s->rel_tp);
    free(s->rel_fp);
    free(s->rel_fn);
    free(s->rel_f1);
    memset(s, 0, sizeof *s);
}

static double f1_of(long tp, long fp, long fn)
{
    double p = tp + fp ? (double)tp / (double)(tp + fp) : 0, r = tp + fn ? (double)tp / (double)(tp + fn) : 0;
    return p + r > 0 ? 2 * p * r / (p + r) : 0;
}

pe_status pe_rel_score(const pe_rel_utterance *const *gold, const pe_rel_triple *const *pred, const int *n_pred,
                       size_t n, int n_rel, pe_rel_scores *s, pe_error *err)
{
    memset(s, 0, sizeof *s);
    s->n_relations = n_rel;
    s->rel_tp = calloc((size_t)n_rel + 1, sizeof *s->rel_tp);
    s->rel_fp = calloc((size_t)n_rel + 1, sizeof *s->rel_fp);
    s->rel_fn = calloc((size_t)n_rel + 1, sizeof *s->rel_fn);
    s->rel_f1 = calloc((size_t)n_rel + 1, sizeof *s->rel_f1);
    unsigned char *gset = calloc((size_t)n_rel + 1, 1), *pset = calloc((size_t)n_rel + 1, 1);
    if (!s->rel_tp || !s->rel_fp || !s->rel_fn || !s->rel_f1 || !gset || !pset) {
        free(gset);
        free(pset);
        pe_rel_scores_clear(s);
        return pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    }
    long rtp = 0, rfp = 0, rfn = 0, exact = 0;
    for (size_t i = 0; i < n; i++) {
        const pe_rel_utterance *g = gold[i];
        memset(gset, 0, (size_t)n_rel);
        memset(pset, 0, (size_t)n_rel);
        for (int a = 0; a < n_pred[i]; a++) {
            const pe_rel_triple *p = &pred[i][a];
            int hit = 0;
            for (int b = 0; b < g->n_triples && !hit; b++)
                hit = !g->triples[b].discontiguous && g->triples[b].relation == p->relation &&
                      g->triples[b].obj_start == p->obj_start && g->triples[b].obj_end == p->obj_end;
            if (hit) s->tp++, s->rel_tp[p->relation]++;
            else s->fp++, s->rel_fp[p->relation]++;
            pset[p->relation] = 1;
        }
        for (int b = 0; b < g->n_triples; b++) {
            const pe_rel_triple *x = &g->triples[b];
            int hit = 0;
            for (int a = 0; a < n_pred[i] && !hit && !x->discontiguous; a++)
                hit = pred[i][a].relation == x->relation && pred[i][a].obj_start == x->obj_start &&
                      pred[i][a].obj_end == x->obj_end;
            if (!hit) s->fn++, s->rel_fn[x->relation]++;
            gset[x->relation] = 1;
        }
        int same = 1;
        for (int r = 0; r < n_rel; r++) {
            rtp += gset[r] && pset[r];
            rfp += !gset[r] && pset[r];
            rfn += gset[r] && !pset[r];
            same &= gset[r] == pset[r];
        }
        exact += same;
        s->utterances++;
    }
    free(gset);
    free(pset);
    s->precision = s->tp + s->fp ? (double)s->tp / (double)(s->tp + s->fp) : 0;
    s->recall = s->tp + s->fn ? (double)s->tp / (double)(s->tp + s->fn) : 0;
    s->f1 = f1_of(s->tp, s->fp, s->fn);
    s->relation_f1 = f1_of(rtp, rfp, rfn);
    s->relation_accuracy = n ? (double)exact / (double)n : 0;
    for (int r = 0; r < n_rel; r++) s->rel_f1[r] = f1_of(s->rel_tp[r], s->rel_fp[r], s->rel_fn[r]);
    return PE_OK;
}

/* ---- the scorer used while training ---- */

struct pe_rel_scorer {
    const pe_rel_data *dev;
    int **first;
};

void pe_rel_scorer_free(pe_rel_scorer *s)
{
    if (!s) return;
    for (size_t i = 0; s->first && i < s->dev->n; i++) free(s->first[i]);
    free(s->first);
    free(s);
}

pe_status pe_rel_scorer_new(const pe_rel_data *dev, const pe_tokenizer *tok, int max_len, pe_rel_scorer **out,
                            pe_error *err)
{
    *out = NULL;
    pe_rel_scorer *s = calloc(1, sizeof *s);
    if (!s || !(s->first = calloc(dev->n + 1, sizeof *s->first))) {
        free(s);
        return pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    }
    s->dev = dev;
    for (size_t i = 0; i < dev->n; i++) {
        int32_t *ids = NULL;
        int len;
        pe_status st = pe_tag_encode_words(tok, (const char *const *)dev->u[i].words, dev->u[i].n_words, max_len, &ids,
                                           &len, &s->first[i], err);
        free(ids);
        if (st != PE_OK) {
            pe_rel_scorer_free(s);
            return st;
        }
    }
    *out = s;
    return PE_OK;
}

pe_status pe_rel_scorer_score(void *user, const pe_tag_data *dev, const int32_t *const *pred, const float *const *conf,
                              pe_eval_result *out, pe_error *err)
{
    pe_rel_scorer *s = user;
    const size_t n = s->dev->n;
    if (pe_tag_data_count(dev) != n) return pe_error_set(err, PE_ERR_INVALID, "relation scorer: data and set differ");
    const pe_rel_utterance **g = malloc((n + 1) * sizeof *g);
    pe_rel_triple **p = calloc(n + 1, sizeof *p);
    int *np = calloc(n + 1, sizeof *np);
    pe_status st = g && p && np ? PE_OK : pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    for (size_t i = 0; st == PE_OK && i < n; i++) {
        const pe_rel_utterance *u = &s->dev->u[i];
        g[i] = u;
        int32_t *wl = malloc(((size_t)u->n_words + 1) * sizeof *wl);
        float *wc = malloc(((size_t)u->n_words + 1) * sizeof *wc);
        if (!wl || !wc) st = pe_error_set(err, PE_ERR_NOMEM, "out of memory");
        for (int w = 0; st == PE_OK && w < u->n_words; w++) {
            int t = s->first[i][w];
            wl[w] = t >= 0 ? pred[i][t] : 0;
            wc[w] = t >= 0 ? conf[i][t] : 1.0f;
        }
        if (st == PE_OK) st = pe_rel_decode(wl, wc, u->n_words, s->dev->n_rel, &p[i], &np[i], err);
        free(wl);
        free(wc);
    }
    pe_rel_scores sc;
    if (st == PE_OK)
        st = pe_rel_score(g, (const pe_rel_triple *const *)p, np, n, s->dev->n_rel, &sc, err);
    if (st == PE_OK) {
        out->metric_name = "triplet_micro_f1";
        out->metric = sc.f1;
        out->n_extra = 4;
        out->extra_names[0] = "precision";
        out->extra[0] = sc.precision;
        out->extra_names[1] = "recall";
        out->extra[1] = sc.recall;
        out->extra_names[2] = "relation_f1";
        out->extra[2] = sc.relation_f1;
        out->extra_names[3] = "relation_accuracy";
        out->extra[3] = sc.relation_accuracy;
        pe_rel_scores_clear(&sc);
    }
    for (size_t i = 0; p && i < n; i++) free(p[i]);
    free(p);
    free(np);
    free(g);
    return st;
}

/* ---- inference ---- */

struct pe_rel {
    pe_encoder *enc;
    pe_token_head *head;
    const char *const *labels;
    int n_labels, n_rel;
    char **rel;
};

pe_status pe_rel_head_decode(pe_token_head *head, pe_tag_decode d, pe_error *err)
{
    const int K = head ? pe_token_head_n_labels(head) : 0;
    if (K < 5 || K % 2 != 1) return pe_error_set(err, PE_ERR_INVALID, "relation: not a rel head");
    return pe_token_head_set_bio_decode(head, d, 1, err);
}

pe_status pe_rel_set_decode(pe_rel *r, pe_tag_decode d, pe_error *err)
{
    return r ? pe_rel_head_decode(r->head, d, err) : pe_error_set(err, PE_ERR_INVALID, "relation: NULL handle");
}

pe_status pe_rel_open(pe_encoder *enc, pe_rel **out, pe_error *err)
{
    if (!out) return pe_error_set(err, PE_ERR_INVALID, "relation: NULL output");
    *out = NULL;
    if (!enc || !pe_encoder_tokenizer(enc)) return pe_error_set(err, PE_ERR_INVALID, "relation: no model or no vocabulary");
    pe_rel *r = calloc(1, sizeof *r);
    if (!r) return pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    r->enc = enc;
    pe_status st = pe_token_head_from_encoder(enc, "rel", &r->head, err);
    if (st == PE_OK && pe_encoder_labels(enc, "rel", &r->labels, &r->n_labels) != PE_OK)
        st = pe_error_set(err, PE_ERR_CORRUPT, "the model's head rel has no label set");
    if (st == PE_OK && (r->n_labels != pe_token_head_n_labels(r->head) || r->n_labels < 5 || r->n_labels % 2 != 1 ||
                        strcmp(r->labels[0], "O") || strcmp(r->labels[1], "B-SUBJ") || strcmp(r->labels[2], "I-SUBJ")))
        st = pe_error_set(err, PE_ERR_CORRUPT, "the model's rel head and labels disagree (%d outputs, %d labels)",
                          pe_token_head_n_labels(r->head), r->n_labels);
    if (st == PE_OK) {
        r->n_rel = (r->n_labels - 3) / 2;
        r->rel = calloc((size_t)r->n_rel + 1, sizeof *r->rel);
        if (!r->rel) st = pe_error_set(err, PE_ERR_NOMEM, "out of memory");
        for (int i = 0; st == PE_OK && i < r->n_rel; i++)
            if (!(r->rel[i] = strdup(r->labels[3 + 2 * i] + 2))) st = pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    }
    if (st == PE_OK) st = pe_rel_head_decode(r->head, PE_DECODE_VITERBI, err);
    if (st != PE_OK) {
        pe_rel_close(r);
        return st;
    }
    *out = r;
    return PE_OK;
}

void pe_rel_close(pe_rel *r)
{
    if (!r) return;
    pe_token_head_free(r->head);
    for (int i = 0; r->rel && i < r->n_rel; i++) free(r->rel[i]);
    free(r->rel);
    free(r);
}

int pe_rel_n_relations(const pe_rel *r)
{
    return r->n_rel;
}

const char *pe_rel_relation_name(const pe_rel *r, int i)
{
    return i >= 0 && i < r->n_rel ? r->rel[i] : NULL;
}

/* Keeps the triples whose object holds a word with a letter or digit
 * (has_text[w]: word w does), dropping objects of punctuation alone;
 * returns how many are kept (in order, at the front of t). */
static int keep_text_objects(pe_rel_triple *t, int n, const unsigned char *has_text)
{
    int k = 0;
    for (int q = 0; q < n; q++) {
        int text = 0;
        for (int w = t[q].obj_start; w < t[q].obj_end; w++) text |= has_text[w];
        if (text) t[k++] = t[q];
    }
    return k;
}

pe_status pe_rel_predict_words(pe_rel *r, const char *const *words, int n_words, pe_rel_triple **t, int *n,
                               pe_error *err)
{
    *t = NULL;
    *n = 0;
    int32_t *ids = NULL;
    int len = 0, *first = NULL;
    pe_status st = pe_tag_encode_words(pe_encoder_tokenizer(r->enc), words, n_words, 1 << 30, &ids, &len, &first, err);
    if (st != PE_OK) return st;
    const int T = len - 2;
    unsigned char *ws = calloc((size_t)(T > n_words ? T : n_words) + 1, 1); /* word starts, then has_text */
    int32_t *lab = malloc(((size_t)T + 1) * sizeof *lab), *wl = malloc(((size_t)n_words + 1) * sizeof *wl);
    float *cf = malloc(((size_t)T + 1) * sizeof *cf), *wc = malloc(((size_t)n_words + 1) * sizeof *wc);
    if (!ws || !lab || !wl || !cf || !wc) st = pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    if (st == PE_OK) {
        for (int w = 0; w < n_words; w++)
            if (first[w] >= 1) ws[first[w] - 1] = 1;
        int32_t *tt = NULL;
        if (T > 0) st = pe_token_types_of_words(r->enc, words, n_words, first, len, &tt, err);
        if (st == PE_OK && T > 0) st = pe_token_head_run(r->enc, r->head, ids + 1, ws, NULL, tt, T, lab, cf, err);
        free(tt);
    }
    if (st == PE_OK) {
        for (int w = 0; w < n_words; w++) {
            /* a web or e-mail address holds no persona value */
            int on = first[w] >= 1 && !pe_tag_text_machine(words[w], strlen(words[w]), 0);
            wl[w] = on ? lab[first[w] - 1] : 0;
            wc[w] = on ? cf[first[w] - 1] : 1.0f;
        }
        st = pe_rel_decode(wl, wc, n_words, r->n_rel, t, n, err);
    }
    if (st == PE_OK) { /* nor punctuation alone */
        unsigned char *has_text = ws; /* the word starts are used: the buffer is free */
        for (int w = 0; w < n_words; w++) has_text[w] = (unsigned char)pe_tag_text_has_alnum(words[w], strlen(words[w]));
        *n = keep_text_objects(*t, *n, has_text);
    }
    free(ids);
    free(first);
    free(ws);
    free(lab);
    free(wl);
    free(cf);
    free(wc);
    return st;
}

void pe_rel_extractions_free(pe_rel_extraction *x, size_t n)
{
    if (!x) return;
    for (size_t i = 0; i < n; i++) {
        free(x[i].subject.text);
        free(x[i].object.text);
    }
    free(x);
}

static int set_span(pe_rel_span *s, const char *text, size_t a, size_t b)
{
    s->start = a;
    s->end = b;
    s->text = malloc(b - a + 1);
    if (!s->text) return -1;
    memcpy(s->text, text + a, b - a);
    s->text[b - a] = '\0';
    return 0;
}

static pe_status extract_impl(pe_rel *r, const char *text, const pe_encoding *e, const float *hidden,
                              pe_rel_extraction **x_out, size_t *n_out, pe_error *err)
{
    pe_status st = PE_OK;
    const int T = (int)e->len;
    pe_tag_words tw;
    if ((st = pe_tag_words_of(e, &tw, err)) != PE_OK) return st;
    const int nw = tw.n;
    const size_t *ws = tw.start, *we = tw.end;
    const int *wf = tw.first;
    int32_t *lab = malloc(((size_t)T + 1) * sizeof *lab), *wl = malloc(((size_t)nw + 1) * sizeof *wl);
    float *cf = malloc(((size_t)T + 1) * sizeof *cf), *wc = malloc(((size_t)nw + 1) * sizeof *wc);
    pe_rel_triple *t = NULL;
    int nt = 0;
    pe_rel_extraction *x = NULL;
    if (!lab || !wl || !cf || !wc) st = pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    if (st == PE_OK && T > 0 && !hidden) {
        int32_t *tt = NULL;
        st = pe_token_types_of_encoding(r->enc, e, text, &tt, err);
        if (st == PE_OK) st = pe_token_head_run(r->enc, r->head, e->ids, tw.word_start, NULL, tt, T, lab, cf, err);
        free(tt);
    }
    if (st == PE_OK && T > 0 && hidden) st = pe_token_head_label_words(r->head, hidden, NULL, T, tw.word_start, lab, cf, err);
    unsigned char *inert = NULL;
    if (st == PE_OK && !(inert = malloc((size_t)nw + 1))) st = pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    if (st == PE_OK) {
        pe_tag_words_machine(text, &tw, 0, inert); /* a web or e-mail address holds no persona value */
        for (int w = 0; w < nw; w++) {
            wl[w] = wf[w] >= 0 && !inert[w] ? lab[wf[w]] : 0;
            wc[w] = wf[w] >= 0 && !inert[w] ? cf[wf[w]] : 1.0f;
        }
        st = pe_rel_decode(wl, wc, nw, r->n_rel, &t, &nt, err);
    }
    if (st == PE_OK) { /* nor punctuation alone */
        unsigned char *has_text = inert; /* the machine marks are used: the buffer is free */
        for (int w = 0; w < nw; w++) has_text[w] = (unsigned char)pe_tag_text_has_alnum(text + ws[w], we[w] - ws[w]);
        nt = keep_text_objects(t, nt, has_text);
    }
    free(inert);
    if (st == PE_OK && nt > 0) {
        x = calloc((size_t)nt, sizeof *x);
        if (!x) st = pe_error_set(err, PE_ERR_NOMEM, "out of memory");
        for (int q = 0; st == PE_OK && q < nt; q++) {
            x[q].relation = r->rel[t[q].relation];
            x[q].score = t[q].score;
            if (set_span(&x[q].object, text, ws[t[q].obj_start], we[t[q].obj_end - 1]) < 0 ||
                (t[q].subj_start >= 0 ? set_span(&x[q].subject, text, ws[t[q].subj_start], we[t[q].subj_end - 1])
                                      : set_span(&x[q].subject, text, 0, 0)) < 0)
                st = pe_error_set(err, PE_ERR_NOMEM, "out of memory");
        }
    }
    if (st == PE_OK && nt > 0) {
        *x_out = x;
        *n_out = (size_t)nt;
    } else {
        pe_rel_extractions_free(x, (size_t)nt);
    }
    free(t);
    pe_tag_words_clear(&tw);
    free(lab);
    free(wl);
    free(cf);
    free(wc);
    return st;
}

pe_status pe_rel_extract(pe_rel *r, const char *text, size_t len, pe_rel_extraction **x_out, size_t *n_out,
                         pe_error *err)
{
    *x_out = NULL;
    *n_out = 0;
    pe_tokenizer_encode_options eo = pe_tokenizer_encode_options_default();
    eo.add_special_tokens = 0;
    pe_encoding *e = NULL;
    pe_status st = pe_tokenizer_encode(pe_encoder_tokenizer(r->enc), text, len, NULL, 0, &eo, &e, err);
    if (st != PE_OK) return st;
    st = extract_impl(r, text, e, NULL, x_out, n_out, err);
    pe_encoding_free(e);
    return st;
}

pe_status pe_rel_extract_encoded(pe_rel *r, const char *text, const pe_encoding *e, const float *hidden,
                                 pe_rel_extraction **x_out, size_t *n_out, pe_error *err)
{
    *x_out = NULL;
    *n_out = 0;
    if (!r || !text || !e || !hidden) return pe_error_set(err, PE_ERR_INVALID, "relation: NULL argument");
    return extract_impl(r, text, e, hidden, x_out, n_out, err);
}
