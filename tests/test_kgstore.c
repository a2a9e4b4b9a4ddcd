/* test_kgstore.c - the LMDB graph store through its public API: terms,
 * texts, values, triples, types, lookup, sameAs merges, import sources,
 * persistence, concurrent readers in another process, aborts, bad stores. */
#define _GNU_SOURCE
#include <ftw.h>
#include <pthread.h>
#include <lmdb.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pe_kg.h"
#include "kg_internal.h" /* the writer's id map */
#include "pe_test.h"
#include "pe_util.h"

static char g_root[64];
static int g_seq;

static void rm_rf(const char *p) { pe_test_rm_rf(p); }

/* A fresh store directory path under the test's temp root. */
static const char *newdir(char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/s%d", g_root, ++g_seq);
    return buf;
}

static pe_kg *open_new(char *dir, size_t cap)
{
    pe_kg *kg = NULL;
    pe_kg_options o = pe_kg_options_default();
    o.map_size = (size_t)1 << 30;
    pe_error err;
    pe_status st = pe_kg_open(newdir(dir, cap), &o, &kg, &err);
    PE_CHECK_MSG(st == PE_OK, "open %s: %s", dir, err.msg);
    return kg;
}

static pe_kg_id I(pe_kg_writer *w, const char *t)
{
    pe_kg_id id = 0;
    pe_status st = pe_kg_intern(w, t, strlen(t), &id);
    PE_CHECK_MSG(st == PE_OK && id != 0, "intern %s", t);
    return id;
}

static pe_kg_id R(pe_kg_reader *r, const char *t)
{
    pe_kg_id id = 0;
    if (pe_kg_resolve(r, t, strlen(t), &id) != PE_OK) return 0;
    return id;
}

static void text(pe_kg_writer *w, pe_kg_id e, pe_kg_text_kind k, const char *lang, const char *s, uint32_t src)
{
    PE_CHECK(pe_kg_put_text(w, e, k, lang, s, strlen(s), src) == PE_OK);
}

static void link_e(pe_kg_writer *w, pe_kg_id s, pe_kg_id p, pe_kg_id o, uint32_t src)
{
    pe_kg_value v = {.type = PE_KG_VAL_ENTITY, .entity = o};
    PE_CHECK(pe_kg_put_triple(w, s, p, &v, PE_KG_RANK_NORMAL, src) == PE_OK);
}

/* pe_kg_verify finds nothing wrong (no false alarm on any store a test builds). */
static void verify_ok(pe_kg *kg, const char *what)
{
    pe_kg_verify_result vr;
    pe_status st = pe_kg_verify(kg, NULL, NULL, &vr);
    PE_CHECK_MSG(st == PE_OK && vr.problems == 0 && vr.records > 0, "verify %s: %s", what, pe_kg_errmsg(kg));
}

static size_t count_match(pe_kg_reader *r, pe_kg_id s, pe_kg_id p, pe_kg_id o)
{
    pe_kg_iter *it;
    if (pe_kg_match(r, s, p, o, &it) != PE_OK) return (size_t)-1;
    pe_kg_triple t;
    size_t n = 0;
    pe_status st;
    while ((st = pe_kg_iter_next(it, &t)) == PE_OK) {
        if ((s && t.s != s) || (p && t.p != p) || (o && t.o != o)) n += 1000; /* wrong triple */
        n++;
    }
    PE_CHECK(st == PE_DONE);
    pe_kg_iter_free(it);
    return n;
}

static int has_text(const pe_kg_entity *e, pe_kg_text_kind k, const char *lang, const char *s, uint32_t src)
{
    for (size_t i = 0; i < e->n_texts; i++)
        if (e->texts[i].kind == k && !strcmp(e->texts[i].lang, lang) && !strcmp(e->texts[i].text, s) &&
            (src == 0 || e->texts[i].source == src))
            return 1;
    return 0;
}

/* The text is there and `src` is among its sources. */
static int has_text_src(const pe_kg_entity *e, pe_kg_text_kind k, const char *lang, const char *s, uint32_t src)
{
    for (size_t i = 0; i < e->n_texts; i++) {
        const pe_kg_text *t = &e->texts[i];
        if (t->kind != k || strcmp(t->lang, lang) || strcmp(t->text, s)) continue;
        if (t->n_sources < 1 || t->sources[0] != t->source) return 0;
        for (size_t j = 0; j < t->n_sources; j++)
            if (t->sources[j] == src) return 1;
    }
    return 0;
}

static int contains(const pe_kg_id *ids, size_t n, pe_kg_id x)
{
    for (size_t i = 0; i < n; i++)
        if (ids[i] == x) return 1;
    return 0;
}

/* ---------------------------------------------------------------------------------- */

static void test_intern_resolve(void)
{
    char dir[128];
    pe_kg *kg = open_new(dir, sizeof dir);
    pe_kg_writer *w;
    PE_CHECK(pe_kg_writer_begin(kg, &w) == PE_OK);
    pe_kg_writer *w2;
    PE_CHECK(pe_kg_writer_begin(kg, &w2) == PE_ERR_BUSY);
    pe_kg_id q90 = I(w, "Q90");
    PE_CHECK_EQ_INT(I(w, "http://www.wikidata.org/entity/Q90"), q90);
    PE_CHECK_EQ_INT(I(w, "https://www.wikidata.org/entity/Q90"), q90);
    pe_kg_id p31 = I(w, "http://www.wikidata.org/prop/direct/P31");
    PE_CHECK_EQ_INT(I(w, "P31"), p31);
    pe_kg_id dbr = I(w, "http://dbpedia.org/resource/Paris");
    PE_CHECK(dbr != q90 && dbr != p31);
    /* not Wikidata ids: kept as IRIs */
    pe_kg_id odd = I(w, "http://www.wikidata.org/entity/Q90x");
    PE_CHECK(odd != q90);
    char longiri[1200];
    memcpy(longiri, "http://example.org/", 19);
    for (int i = 19; i < 1100; i++) longiri[i] = (char)('a' + i % 26);
    longiri[1100] = 0;
    pe_kg_id lg = I(w, longiri);
    char longiri2[1200];
    memcpy(longiri2, longiri, 1101);
    longiri2[1099] = 'Z';
    pe_kg_id lg2 = I(w, longiri2);
    PE_CHECK(lg != lg2);
    PE_CHECK_EQ_INT(I(w, longiri), lg);
    pe_kg_id bad = 0;
    PE_CHECK(pe_kg_intern(w, "", 0, &bad) == PE_ERR_INVALID);
    PE_CHECK(pe_kg_writer_commit(w) == PE_OK);

    pe_kg_reader *r;
    PE_CHECK(pe_kg_reader_begin(kg, &r) == PE_OK);
    PE_CHECK_EQ_INT(R(r, "Q90"), q90);
    PE_CHECK_EQ_INT(R(r, "http://www.wikidata.org/entity/Q90"), q90);
    PE_CHECK_EQ_INT(R(r, "http://dbpedia.org/resource/Paris"), dbr);
    PE_CHECK_EQ_INT(R(r, longiri), lg);
    PE_CHECK_EQ_INT(R(r, longiri2), lg2);
    pe_kg_id none = 7;
    PE_CHECK(pe_kg_resolve(r, "Q91", 3, &none) == PE_NOT_FOUND && none == 0);
    const char *t;
    size_t tl;
    PE_CHECK(pe_kg_term(r, q90, &t, &tl) == PE_OK && tl == 3 && !strcmp(t, "Q90"));
    PE_CHECK(pe_kg_term(r, lg, &t, &tl) == PE_OK && tl == 1100 && !strcmp(t, longiri));
    PE_CHECK(pe_kg_term(r, 999999, &t, &tl) == PE_NOT_FOUND);
    pe_kg_value v;
    PE_CHECK(pe_kg_value_get(r, dbr, &v) == PE_OK && v.type == PE_KG_VAL_ENTITY && v.entity == dbr);
    pe_kg_reader_end(r);
    verify_ok(kg, __func__);
    pe_kg_close(kg);
}

static void test_texts(void)
{
    char dir[128];
    pe_kg *kg = open_new(dir, sizeof dir);
    pe_kg_writer *w;
    PE_CHECK(pe_kg_writer_begin(kg, &w) == PE_OK);
    pe_kg_id q = I(w, "Q90");
    PE_CHECK(pe_kg_put_kind(w, q, PE_KG_KIND_ITEM, NULL, 1) == PE_OK);
    text(w, q, PE_KG_DESCRIPTION, "en", "capital of France", 1);
    text(w, q, PE_KG_LABEL, "en", "Paris", 1);
    text(w, q, PE_KG_LABEL, "fr", "Paris", 1);
    text(w, q, PE_KG_ALIAS, "en", "City of Light", 1);
    text(w, q, PE_KG_LABEL, "en", "Paris", 2);          /* same text: first source kept, 2 added */
    text(w, q, PE_KG_LABEL, "en", "Paris", 2);          /* no-op */
    text(w, q, PE_KG_LABEL, "en", "Paris, France", 2);  /* another label in en: kept beside */
    PE_CHECK(pe_kg_put_sitelink(w, q, "enwiki", "Paris", 1) == PE_OK);
    PE_CHECK(pe_kg_put_sitelink(w, q, "enwiki", "Paris", 1) == PE_OK); /* no double count */
    PE_CHECK(pe_kg_put_sitelink(w, q, "frwiki", "Paris", 1) == PE_OK);
    pe_kg_id p = I(w, "P1082");
    PE_CHECK(pe_kg_put_kind(w, p, PE_KG_KIND_PROPERTY, "quantity", 1) == PE_OK);
    PE_CHECK(pe_kg_put_text(w, 0, PE_KG_LABEL, "en", "x", 1, 1) == PE_ERR_INVALID);
    PE_CHECK(pe_kg_writer_commit(w) == PE_OK);

    pe_kg_reader *r;
    PE_CHECK(pe_kg_reader_begin(kg, &r) == PE_OK);
    pe_kg_entity *e;
    PE_CHECK(pe_kg_entity_get(r, q, &e) == PE_OK);
    if (e) {
        PE_CHECK_EQ_STR(e->term, "Q90");
        PE_CHECK_EQ_INT(e->kind, PE_KG_KIND_ITEM);
        PE_CHECK_EQ_INT(e->sitelinks, 2);
        PE_CHECK_EQ_INT(e->n_sitelinks, 2);
        if (e->n_sitelinks == 2) {
            PE_CHECK_EQ_STR(e->sitelink_sites[0], "enwiki");
            PE_CHECK_EQ_STR(e->sitelink_titles[0], "Paris");
            PE_CHECK_EQ_STR(e->sitelink_sites[1], "frwiki");
            PE_CHECK_EQ_INT(e->sitelink_sources[1], 1);
        }
        PE_CHECK_EQ_INT(e->n_texts, 5);
        PE_CHECK(has_text(e, PE_KG_LABEL, "en", "Paris", 1));
        PE_CHECK(!has_text(e, PE_KG_LABEL, "en", "Paris", 2));
        PE_CHECK(has_text_src(e, PE_KG_LABEL, "en", "Paris", 2));
        PE_CHECK(!has_text_src(e, PE_KG_LABEL, "fr", "Paris", 2));
        for (size_t i = 0; i < e->n_texts; i++)
            if (!strcmp(e->texts[i].text, "Paris") && !strcmp(e->texts[i].lang, "en"))
                PE_CHECK(e->texts[i].n_sources == 2 && e->texts[i].sources[1] == 2);
        PE_CHECK(has_text(e, PE_KG_LABEL, "en", "Paris, France", 2));
        PE_CHECK(has_text(e, PE_KG_LABEL, "fr", "Paris", 1));
        PE_CHECK(has_text(e, PE_KG_ALIAS, "en", "City of Light", 1));
        PE_CHECK(has_text(e, PE_KG_DESCRIPTION, "en", "capital of France", 1));
        for (size_t i = 1; i < e->n_texts; i++) PE_CHECK(e->texts[i - 1].kind <= e->texts[i].kind);
        PE_CHECK(e->datatype == NULL);
    }
    pe_kg_entity_free(e);
    PE_CHECK(pe_kg_entity_get(r, p, &e) == PE_OK && e && e->datatype && !strcmp(e->datatype, "quantity"));
    PE_CHECK(e && e->kind == PE_KG_KIND_PROPERTY);
    pe_kg_entity_free(e);
    const char *l;
    PE_CHECK(pe_kg_label(r, q, "fr", &l) == PE_OK && !strcmp(l, "Paris"));
    PE_CHECK(pe_kg_label(r, q, "de", &l) == PE_OK && (!strcmp(l, "Paris") || !strcmp(l, "Paris, France")));
    PE_CHECK(pe_kg_label(r, p, "en", &l) == PE_NOT_FOUND);
    pe_kg_reader_end(r);
    verify_ok(kg, __func__);
    pe_kg_close(kg);
}

static void test_values(void)
{
    char dir[128];
    pe_kg *kg = open_new(dir, sizeof dir);
    pe_kg_writer *w;
    PE_CHECK(pe_kg_writer_begin(kg, &w) == PE_OK);
    pe_kg_id s = I(w, "Q1"), e2 = I(w, "Q2");
    pe_kg_value vals[9];
    memset(vals, 0, sizeof vals);
    vals[0] = (pe_kg_value){.type = PE_KG_VAL_ENTITY, .entity = e2};
    vals[1] = (pe_kg_value){.type = PE_KG_VAL_STRING, .text = "hello", .text_len = 5};
    vals[2] = (pe_kg_value){.type = PE_KG_VAL_MONOTEXT, .text = "bonjour", .text_len = 7, .lang = "fr"};
    vals[3] = (pe_kg_value){.type = PE_KG_VAL_EXTERNAL_ID, .text = "0000 0001", .text_len = 9};
    vals[4] = (pe_kg_value){.type = PE_KG_VAL_URL, .text = "https://example.org/", .text_len = 20};
    vals[5] = (pe_kg_value){.type = PE_KG_VAL_QUANTITY, .amount = 2165423, .lower = 2165000, .upper = NAN,
                            .unit = "http://www.wikidata.org/entity/Q11573"};
    vals[6] = (pe_kg_value){.type = PE_KG_VAL_TIME, .text = "+1952-03-11T00:00:00Z", .text_len = 21,
                            .precision = 11, .calendar = "http://www.wikidata.org/entity/Q1985727"};
    vals[7] = (pe_kg_value){.type = PE_KG_VAL_COORD, .lat = 48.8566, .lon = 2.3522, .coord_precision = 0.0001,
                            .globe = "http://www.wikidata.org/entity/Q2"};
    vals[8] = (pe_kg_value){.type = PE_KG_VAL_TYPED, .text = "1.5", .text_len = 3,
                            .datatype = "http://www.w3.org/2001/XMLSchema#double"};
    pe_kg_id props[9];
    for (int i = 0; i < 9; i++) {
        char pn[8];
        snprintf(pn, sizeof pn, "P%d", 100 + i);
        props[i] = I(w, pn);
        PE_CHECK(pe_kg_put_triple(w, s, props[i], &vals[i], i == 6 ? PE_KG_RANK_PREFERRED : PE_KG_RANK_NORMAL, 3) ==
                 PE_OK);
        /* the same literal again (fresh struct): same object, no new triple */
        pe_kg_value again = vals[i];
        PE_CHECK(pe_kg_put_triple(w, s, props[i], &again, PE_KG_RANK_NORMAL, 3) == PE_OK);
    }
    /* a quantity without bounds and unit "1" */
    pe_kg_value q2 = {.type = PE_KG_VAL_QUANTITY, .amount = -0.5, .lower = NAN, .upper = NAN, .unit = "1"};
    PE_CHECK(pe_kg_put_triple(w, e2, props[5], &q2, PE_KG_RANK_NORMAL, 3) == PE_OK);
    pe_kg_value badt = {.type = PE_KG_VAL_TIME, .text = "x", .text_len = 1, .precision = 20};
    PE_CHECK(pe_kg_put_triple(w, e2, props[6], &badt, PE_KG_RANK_NORMAL, 3) == PE_ERR_INVALID);
    PE_CHECK(pe_kg_writer_commit(w) == PE_OK);

    pe_kg_reader *r;
    PE_CHECK(pe_kg_reader_begin(kg, &r) == PE_OK);
    PE_CHECK_EQ_INT(count_match(r, s, 0, 0), 9);
    for (int i = 0; i < 9; i++) {
        pe_kg_iter *it;
        pe_kg_triple t;
        PE_CHECK(pe_kg_match(r, s, props[i], 0, &it) == PE_OK);
        PE_CHECK(pe_kg_iter_next(it, &t) == PE_OK);
        PE_CHECK(pe_kg_iter_next(it, &t) == PE_DONE);
        pe_kg_iter_free(it);
        PE_CHECK_EQ_INT(t.source, 3);
        PE_CHECK_EQ_INT(t.rank, i == 6 ? PE_KG_RANK_PREFERRED : PE_KG_RANK_NORMAL);
        pe_kg_value v;
        PE_CHECK(pe_kg_value_get(r, t.o, &v) == PE_OK);
        PE_CHECK_EQ_INT(v.type, vals[i].type);
        const pe_kg_value *x = &vals[i];
        switch (x->type) {
        case PE_KG_VAL_ENTITY: PE_CHECK_EQ_INT(v.entity, e2); break;
        case PE_KG_VAL_MONOTEXT: PE_CHECK_EQ_STR(v.lang, "fr"); /* fallthrough */
        case PE_KG_VAL_STRING: case PE_KG_VAL_EXTERNAL_ID: case PE_KG_VAL_URL:
            PE_CHECK(v.text_len == x->text_len && !memcmp(v.text, x->text, x->text_len) && v.text[v.text_len] == 0);
            break;
        case PE_KG_VAL_QUANTITY:
            PE_CHECK(v.amount == x->amount && v.lower == x->lower && isnan(v.upper));
            PE_CHECK_EQ_STR(v.unit, x->unit);
            break;
        case PE_KG_VAL_TIME:
            PE_CHECK_EQ_STR(v.text, x->text);
            PE_CHECK_EQ_INT(v.precision, 11);
            PE_CHECK_EQ_STR(v.calendar, x->calendar);
            break;
        case PE_KG_VAL_COORD:
            PE_CHECK(v.lat == x->lat && v.lon == x->lon && v.coord_precision == x->coord_precision);
            PE_CHECK_EQ_STR(v.globe, x->globe);
            break;
        case PE_KG_VAL_TYPED:
            PE_CHECK_EQ_STR(v.text, "1.5");
            PE_CHECK_EQ_STR(v.datatype, x->datatype);
            break;
        }
        if (x->type != PE_KG_VAL_ENTITY) {
            const char *lex;
            size_t ll;
            PE_CHECK(pe_kg_term(r, t.o, &lex, &ll) == PE_OK && lex && strlen(lex) == ll);
        }
    }
    pe_kg_iter *it;
    pe_kg_triple t;
    PE_CHECK(pe_kg_match(r, e2, props[5], 0, &it) == PE_OK);
    PE_CHECK(pe_kg_iter_next(it, &t) == PE_OK);
    pe_kg_iter_free(it);
    pe_kg_value v;
    PE_CHECK(pe_kg_value_get(r, t.o, &v) == PE_OK && v.type == PE_KG_VAL_QUANTITY && v.amount == -0.5 &&
             isnan(v.lower) && isnan(v.upper) && v.unit && !strcmp(v.unit, "1"));
    pe_kg_stats stt;
    PE_CHECK(pe_kg_stats_get(r, &stt) == PE_OK);
    PE_CHECK_EQ_INT(stt.literals, 9); /* 8 literal values of Q1 + the second quantity */
    PE_CHECK_EQ_INT(stt.triples, 10);
    pe_kg_reader_end(r);
    verify_ok(kg, __func__);
    pe_kg_close(kg);
}

static void test_match_patterns(void)
{
    char dir[128];
    pe_kg *kg = open_new(dir, sizeof dir);
    pe_kg_writer *w;
    PE_CHECK(pe_kg_writer_begin(kg, &w) == PE_OK);
    pe_kg_id s1 = I(w, "Q1"), s2 = I(w, "Q2"), p1 = I(w, "P1"), p2 = I(w, "P2"), o1 = I(w, "Q10"), o2 = I(w, "Q11");
    link_e(w, s1, p1, o1, 1);
    link_e(w, s1, p1, o2, 1);
    link_e(w, s1, p2, o1, 1);
    link_e(w, s2, p1, o1, 1);
    link_e(w, s2, p2, s1, 1);
    link_e(w, s1, p1, o1, 2); /* again from another source: stored once */
    link_e(w, s1, p1, o1, 1);
    PE_CHECK(pe_kg_writer_commit(w) == PE_OK);
    /* and once more in a later batch */
    PE_CHECK(pe_kg_writer_begin(kg, &w) == PE_OK);
    link_e(w, s1, p1, o1, 3);
    link_e(w, s2, p2, s1, 1);
    PE_CHECK(pe_kg_writer_commit(w) == PE_OK);

    pe_kg_reader *r;
    PE_CHECK(pe_kg_reader_begin(kg, &r) == PE_OK);
    PE_CHECK_EQ_INT(count_match(r, 0, 0, 0), 5);
    PE_CHECK_EQ_INT(count_match(r, s1, 0, 0), 3);
    PE_CHECK_EQ_INT(count_match(r, s1, p1, 0), 2);
    PE_CHECK_EQ_INT(count_match(r, s1, p1, o1), 1);
    PE_CHECK_EQ_INT(count_match(r, s1, p1, s2), 0);
    PE_CHECK_EQ_INT(count_match(r, s1, 0, o1), 2);
    PE_CHECK_EQ_INT(count_match(r, 0, p1, 0), 3);
    PE_CHECK_EQ_INT(count_match(r, 0, p1, o1), 2);
    PE_CHECK_EQ_INT(count_match(r, 0, 0, o1), 3);
    PE_CHECK_EQ_INT(count_match(r, 0, 0, s1), 1);
    PE_CHECK_EQ_INT(count_match(r, 0, p2, o2), 0);
    PE_CHECK_EQ_INT(count_match(r, s2, 0, o2), 0);
    /* rank and first source come back through every index */
    pe_kg_iter *it;
    pe_kg_triple t;
    PE_CHECK(pe_kg_match(r, 0, p1, o1, &it) == PE_OK);
    while (pe_kg_iter_next(it, &t) == PE_OK)
        if (t.s == s1) PE_CHECK_EQ_INT(t.source, 1);
    pe_kg_iter_free(it);
    uint32_t srcs[4];
    size_t ns = 0;
    PE_CHECK(pe_kg_triple_sources(r, s1, p1, o1, srcs, 4, &ns) == PE_OK);
    PE_CHECK(ns == 3 && srcs[0] == 1 && srcs[1] == 2 && srcs[2] == 3);
    PE_CHECK(pe_kg_triple_sources(r, s2, p2, s1, srcs, 4, &ns) == PE_OK && ns == 1 && srcs[0] == 1);
    PE_CHECK(pe_kg_triple_sources(r, s2, p2, o1, srcs, 4, &ns) == PE_NOT_FOUND);
    pe_kg_entity *e;
    PE_CHECK(pe_kg_entity_get(r, o1, &e) == PE_OK);
    PE_CHECK(e && e->in_degree == 3 && e->kind == PE_KG_KIND_UNKNOWN);
    pe_kg_entity_free(e);
    pe_kg_stats st;
    PE_CHECK(pe_kg_stats_get(r, &st) == PE_OK && st.triples == 5 && st.entities == 2);
    pe_kg_reader_end(r);
    verify_ok(kg, __func__);
    pe_kg_close(kg);
}

/* Many triples (duplicates and literal objects among them), two batches:
 * every index answers like a brute-force scan. */
static void test_many_triples(void)
{
    char dir[128];
    pe_kg *kg = open_new(dir, sizeof dir);
    enum { NE = 300, NP = 12, NT = 12000 }; /* > 4096 per batch: the radix sort path */
    static unsigned char seen[NE][NP][NE + 8];
    memset(seen, 0, sizeof seen);
    pe_kg_id ent[NE], prop[NP];
    unsigned seed = 12345;
    for (int batch = 0; batch < 2; batch++) {
        pe_kg_writer *w;
        PE_CHECK(pe_kg_writer_begin(kg, &w) == PE_OK);
        char t[32];
        for (int i = 0; i < NE; i++) { snprintf(t, sizeof t, "Q%d", 10 + i * 7); ent[i] = I(w, t); }
        for (int i = 0; i < NP; i++) { snprintf(t, sizeof t, "P%d", 1 + i); prop[i] = I(w, t); }
        for (int n = 0; n < NT / 2; n++) {
            seed = seed * 1103515245u + 12345u;
            int s = (int)(seed >> 8) % NE, p = (int)(seed >> 4) % NP;
            seed = seed * 1103515245u + 12345u;
            int o = (int)(seed >> 8) % (NE + 8); /* >= NE: one of 8 literals */
            if (o < NE) {
                link_e(w, ent[s], prop[p], ent[o], 1);
            } else {
                char lit[8];
                snprintf(lit, sizeof lit, "v%d", o - NE);
                pe_kg_value v = {.type = PE_KG_VAL_STRING, .text = lit, .text_len = strlen(lit)};
                PE_CHECK(pe_kg_put_triple(w, ent[s], prop[p], &v, PE_KG_RANK_NORMAL, 1) == PE_OK);
            }
            seen[s][p][o] = 1;
        }
        PE_CHECK(pe_kg_writer_commit(w) == PE_OK);
    }
    pe_kg_reader *r;
    PE_CHECK(pe_kg_reader_begin(kg, &r) == PE_OK);
    size_t total = 0, by_p[NP] = {0}, by_o[NE] = {0}, by_s[NE] = {0};
    for (int s = 0; s < NE; s++)
        for (int p = 0; p < NP; p++)
            for (int o = 0; o < NE + 8; o++)
                if (seen[s][p][o]) {
                    total++;
                    by_p[p]++;
                    by_s[s]++;
                    if (o < NE) by_o[o]++;
                }
    PE_CHECK_EQ_INT(count_match(r, 0, 0, 0), total);
    for (int p = 0; p < NP; p++) PE_CHECK_EQ_INT(count_match(r, 0, prop[p], 0), by_p[p]);
    for (int i = 0; i < NE; i++) {
        PE_CHECK_EQ_INT(count_match(r, 0, 0, ent[i]), by_o[i]);
        PE_CHECK_EQ_INT(count_match(r, ent[i], 0, 0), by_s[i]);
    }
    pe_kg_entity *e;
    PE_CHECK(pe_kg_entity_get(r, ent[7], &e) == PE_OK && e && e->in_degree == by_o[7]);
    pe_kg_entity_free(e);
    pe_kg_reader_end(r);
    verify_ok(kg, __func__);
    pe_kg_close(kg);
}

static void test_types(void)
{
    char dir[128];
    pe_kg *kg = open_new(dir, sizeof dir);
    pe_kg_writer *w;
    PE_CHECK(pe_kg_writer_begin(kg, &w) == PE_OK);
    pe_kg_id p31 = I(w, "P31"), p279 = I(w, "P279");
    pe_kg_id rdft = I(w, "http://www.w3.org/1999/02/22-rdf-syntax-ns#type");
    pe_kg_id sub = I(w, "http://www.w3.org/2000/01/rdf-schema#subClassOf");
    pe_kg_id e = I(w, "Q90"), a = I(w, "Q515"), b = I(w, "Q486972"), c = I(w, "Q2221906");
    pe_kg_id d = I(w, "http://dbpedia.org/ontology/City"), x = I(w, "Q5");
    link_e(w, e, p31, a, 1);
    link_e(w, a, p279, b, 1);
    link_e(w, b, p279, c, 1);
    link_e(w, c, p279, a, 1); /* cycle */
    link_e(w, e, rdft, d, 2);
    link_e(w, d, sub, b, 2);
    pe_kg_value lit = {.type = PE_KG_VAL_STRING, .text = "not a class", .text_len = 11};
    PE_CHECK(pe_kg_put_triple(w, e, p31, &lit, PE_KG_RANK_NORMAL, 1) == PE_OK);
    PE_CHECK(pe_kg_writer_commit(w) == PE_OK);
    pe_kg_reader *r;
    PE_CHECK(pe_kg_reader_begin(kg, &r) == PE_OK);
    pe_kg_id *ids;
    size_t n;
    PE_CHECK(pe_kg_types(r, e, 0, &ids, &n) == PE_OK);
    PE_CHECK(n == 2 && contains(ids, n, a) && contains(ids, n, d));
    free(ids);
    PE_CHECK(pe_kg_types(r, e, 1, &ids, &n) == PE_OK);
    PE_CHECK(n == 4 && contains(ids, n, a) && contains(ids, n, b) && contains(ids, n, c) && contains(ids, n, d));
    if (n >= 2) PE_CHECK(ids[0] == a && ids[1] == d); /* direct classes first */
    free(ids);
    PE_CHECK(pe_kg_is_a(r, e, c) == PE_OK);
    PE_CHECK(pe_kg_is_a(r, e, d) == PE_OK);
    PE_CHECK(pe_kg_is_a(r, e, x) == PE_NOT_FOUND);
    PE_CHECK(pe_kg_is_a(r, a, b) == PE_NOT_FOUND); /* a is a class, not an instance of b */
    PE_CHECK(pe_kg_types(r, x, 1, &ids, &n) == PE_OK && n == 0);
    free(ids);
    pe_kg_reader_end(r);
    verify_ok(kg, __func__);
    pe_kg_close(kg);
    (void)p279;
}

/* The fast path for printable ASCII must agree with pe_text_normalize: the
 * store only sees it through lookups, so check through lookups. */
static void test_lookup(void)
{
    char dir[128];
    pe_kg *kg = open_new(dir, sizeof dir);
    pe_kg_writer *w;
    PE_CHECK(pe_kg_writer_begin(kg, &w) == PE_OK);
    pe_kg_id p31 = I(w, "P31"), p279 = I(w, "P279"), p131 = I(w, "P131");
    pe_kg_id city = I(w, "Q515"), uscity = I(w, "Q1093829"), human = I(w, "Q5");
    pe_kg_id paris = I(w, "Q90"), texas = I(w, "Q16859"), myth = I(w, "Q167646"), hilton = I(w, "Q47899");
    pe_kg_id item[] = {paris, texas, myth, hilton};
    for (int i = 0; i < 4; i++) {
        PE_CHECK(pe_kg_put_kind(w, item[i], PE_KG_KIND_ITEM, NULL, 1) == PE_OK);
        PE_CHECK(pe_kg_put_sitelink(w, item[i], "enwiki", "x", 1) == PE_OK);
    }
    text(w, paris, PE_KG_LABEL, "en", "Paris", 1);
    text(w, paris, PE_KG_LABEL, "fr", "Paris", 1);
    text(w, paris, PE_KG_ALIAS, "en", "City of Light", 1);
    text(w, texas, PE_KG_LABEL, "en", "Paris", 1);
    text(w, texas, PE_KG_ALIAS, "en", "Paris, Texas", 1);
    text(w, myth, PE_KG_LABEL, "en", "Páris", 1);
    text(w, hilton, PE_KG_LABEL, "en", "Paris Hilton", 1);
    text(w, hilton, PE_KG_ALIAS, "en", "PARIS", 1);
    text(w, I(w, "Q64"), PE_KG_LABEL, "de", "Zürich-City!", 1);
    link_e(w, paris, p31, city, 1);
    link_e(w, texas, p31, uscity, 1);
    link_e(w, uscity, p279, city, 1);
    link_e(w, hilton, p31, human, 1);
    /* in-degrees: Paris 6, Paris (Texas) 1 */
    for (int i = 0; i < 6; i++) {
        char q[16];
        snprintf(q, sizeof q, "Q%d", 1000 + i);
        link_e(w, I(w, q), p131, paris, 1);
    }
    link_e(w, I(w, "Q2000"), p131, texas, 1);
    /* ties (pe_kg.h: exact first, then smaller id): three equal weights */
    pe_kg_id twin_lo = I(w, "Q3001"), twin_hi = I(w, "Q3002"), twin_alias = I(w, "Q3000"); /* ids in this order */
    text(w, twin_hi, PE_KG_LABEL, "en", "Twin", 1);
    text(w, twin_alias, PE_KG_ALIAS, "en", "Twin", 1); /* alias only: weight 1 */
    text(w, twin_lo, PE_KG_LABEL, "en", "Twin", 1);
    PE_CHECK(pe_kg_writer_commit(w) == PE_OK);

    pe_kg_reader *r;
    PE_CHECK(pe_kg_reader_begin(kg, &r) == PE_OK);
    pe_kg_candidate c[8];
    size_t n = 0;
    const char *forms[] = {"Paris", "paris", "  PARIS!! ", "Pâris", "\"paris\""};
    for (size_t f = 0; f < sizeof forms / sizeof *forms; f++) {
        PE_CHECK(pe_kg_lookup(r, forms[f], strlen(forms[f]), NULL, c, 8, &n) == PE_OK);
        PE_CHECK_MSG(n == 4, "%s: %zu candidates", forms[f], n);
        if (n < 4) continue;
        PE_CHECK_MSG(c[0].id == paris, "%s: first is %llu", forms[f], (unsigned long long)c[0].id);
        PE_CHECK(c[0].exact && c[1].exact);
        double sum = 0;
        for (size_t i = 0; i < n; i++) {
            PE_CHECK(c[i].prior > 0 && c[i].prior <= 1);
            if (i) PE_CHECK(c[i].prior <= c[i - 1].prior);
            sum += c[i].prior;
        }
        PE_CHECK_NEAR(sum, 1.0, 1e-9);
        PE_CHECK(c[3].id == hilton && !c[3].exact); /* alias only */
    }
    /* weights 2, 2 (labels) and 1 (alias): priors 0.4, 0.4, 0.2 exactly in this order */
    PE_CHECK(pe_kg_lookup(r, "twin", 4, NULL, c, 8, &n) == PE_OK && n == 3);
    PE_CHECK(twin_lo < twin_hi);
    PE_CHECK_MSG(n == 3 && c[0].id == twin_lo && c[1].id == twin_hi && c[2].id == twin_alias,
                 "tie order %llu %llu %llu", (unsigned long long)c[0].id, (unsigned long long)c[1].id,
                 (unsigned long long)c[2].id);
    PE_CHECK(n == 3 && c[0].exact && c[1].exact && !c[2].exact);
    PE_CHECK_NEAR(c[0].prior, 0.4, 1e-12);
    PE_CHECK_NEAR(c[1].prior, 0.4, 1e-12);
    PE_CHECK_NEAR(c[2].prior, 0.2, 1e-12);
    pe_kg_lookup_options lo = {.type = city, .limit = 10};
    PE_CHECK(pe_kg_lookup(r, "paris", 5, &lo, c, 8, &n) == PE_OK);
    PE_CHECK(n == 2 && c[0].id == paris && c[1].id == texas);
    lo.type = human;
    PE_CHECK(pe_kg_lookup(r, "paris", 5, &lo, c, 8, &n) == PE_OK && n == 1 && c[0].id == hilton);
    lo.type = 0;
    lo.limit = 2;
    PE_CHECK(pe_kg_lookup(r, "paris", 5, &lo, c, 8, &n) == PE_OK && n == 2);
    PE_CHECK(pe_kg_lookup(r, "paris", 5, NULL, c, 1, &n) == PE_OK && n == 1 && c[0].id == paris);
    PE_CHECK(pe_kg_lookup(r, "zurich city", 11, NULL, c, 8, &n) == PE_OK && n == 1);
    PE_CHECK(pe_kg_lookup(r, "ZURICH--City", 12, NULL, c, 8, &n) == PE_OK && n == 1);
    PE_CHECK(pe_kg_lookup(r, "city of light", 13, NULL, c, 8, &n) == PE_OK && n == 1 && c[0].id == paris);
    PE_CHECK(pe_kg_lookup(r, "paris texas", 11, NULL, c, 8, &n) == PE_OK && n == 1 && c[0].id == texas);
    PE_CHECK(pe_kg_lookup(r, "berlin", 6, NULL, c, 8, &n) == PE_NOT_FOUND && n == 0);
    PE_CHECK(pe_kg_lookup(r, "!!", 2, NULL, c, 8, &n) == PE_NOT_FOUND);
    PE_CHECK(pe_kg_lookup(r, "\xff", 1, NULL, c, 8, &n) == PE_ERR_UTF8);
    pe_kg_reader_end(r);
    verify_ok(kg, __func__);
    pe_kg_close(kg);
}

/* Every printable ASCII character, alone and between words, gives the same
 * alias form on the store's fast path as pe_text_normalize. */
static void test_ascii_fast_path(void)
{
    char dir[128];
    pe_kg *kg = open_new(dir, sizeof dir);
    pe_kg_writer *w;
    PE_CHECK(pe_kg_writer_begin(kg, &w) == PE_OK);
    char buf[32];
    for (int ch = 0x20; ch < 0x7f; ch++) {
        snprintf(buf, sizeof buf, "Q%d", 100 + ch);
        pe_kg_id e = I(w, buf);
        snprintf(buf, sizeof buf, "Ab%cCd", ch);
        text(w, e, PE_KG_LABEL, "en", buf, 1);
    }
    PE_CHECK(pe_kg_writer_commit(w) == PE_OK);
    pe_kg_reader *r;
    PE_CHECK(pe_kg_reader_begin(kg, &r) == PE_OK);
    for (int ch = 0x20; ch < 0x7f; ch++) {
        snprintf(buf, sizeof buf, "Ab%cCd", ch);
        pe_status st;
        char *norm = pe_text_normalize(buf, strlen(buf), &st);
        /* written through the fast path, looked up with the reference form
         * plus a non-ASCII character that normalises away (U+0301) */
        char q[64];
        snprintf(q, sizeof q, "%s\xcc\x81", norm ? norm : "");
        pe_kg_candidate c[128];
        size_t n = 0;
        pe_kg_lookup_options lo = {.limit = 128};
        pe_status ls = pe_kg_lookup(r, q, strlen(q), &lo, c, 128, &n);
        snprintf(buf, sizeof buf, "Q%d", 100 + ch);
        pe_kg_id want = R(r, buf);
        int found = 0;
        for (size_t i = 0; ls == PE_OK && i < n; i++) found |= c[i].id == want;
        PE_CHECK_MSG(found, "character 0x%02x: form '%s' not found", ch, norm ? norm : "(null)");
        free(norm);
    }
    pe_kg_reader_end(r);
    verify_ok(kg, __func__);
    pe_kg_close(kg);
}

/* Wikidata side: Q90 with its label, P31 city; DBpedia side: the resource
 * with a label, rdf:type dbo:City, and a triple pointing at it. */
static void put_wikidata(pe_kg_writer *w, uint32_t src)
{
    pe_kg_id q90 = I(w, "http://www.wikidata.org/entity/Q90");
    PE_CHECK(pe_kg_put_kind(w, q90, PE_KG_KIND_ITEM, NULL, src) == PE_OK);
    text(w, q90, PE_KG_LABEL, "en", "Paris", src);
    PE_CHECK(pe_kg_put_sitelink(w, q90, "enwiki", "Paris", src) == PE_OK);
    link_e(w, q90, I(w, "P31"), I(w, "Q515"), src);
}

static void put_dbpedia(pe_kg_writer *w, uint32_t src)
{
    pe_kg_id dp = I(w, "http://dbpedia.org/resource/Paris");
    PE_CHECK(pe_kg_put_kind(w, dp, PE_KG_KIND_RESOURCE, NULL, src) == PE_OK);
    text(w, dp, PE_KG_LABEL, "en", "Paris (DBpedia)", src);
    text(w, dp, PE_KG_LABEL, "en", "Paris", src); /* the same text as Wikidata's */
    link_e(w, dp, I(w, "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"), I(w, "http://dbpedia.org/ontology/City"),
           src);
    link_e(w, I(w, "http://dbpedia.org/resource/Eiffel_Tower"), I(w, "http://dbpedia.org/ontology/location"), dp, src);
    /* stated again by another source (6): the source list moves with the merge */
    link_e(w, I(w, "http://dbpedia.org/resource/Eiffel_Tower"), I(w, "http://dbpedia.org/ontology/location"), dp, 6);
}

static void put_sameas(pe_kg_writer *w, uint32_t src)
{
    /* DBpedia first: the Wikidata term must still win */
    PE_CHECK(pe_kg_put_sameas(w, I(w, "http://dbpedia.org/resource/Paris"), I(w, "http://www.wikidata.org/entity/Q90"),
                              src) == PE_OK);
}

static void check_merged(pe_kg *kg, const char *order)
{
    pe_kg_reader *r;
    PE_CHECK(pe_kg_reader_begin(kg, &r) == PE_OK);
    pe_kg_id q90 = R(r, "Q90"), dp = R(r, "http://dbpedia.org/resource/Paris");
    PE_CHECK_MSG(q90 && q90 == dp, "%s: dbr:Paris resolves to %llu, Q90 is %llu", order, (unsigned long long)dp,
                 (unsigned long long)q90);
    pe_kg_entity *e = NULL;
    PE_CHECK(pe_kg_entity_get(r, q90, &e) == PE_OK);
    if (e) {
        PE_CHECK_EQ_STR(e->term, "Q90");
        PE_CHECK_MSG(has_text_src(e, PE_KG_LABEL, "en", "Paris", 1), "%s: Wikidata label", order);
        PE_CHECK_MSG(has_text_src(e, PE_KG_LABEL, "en", "Paris", 2), "%s: same label from DBpedia", order);
        PE_CHECK_MSG(has_text(e, PE_KG_LABEL, "en", "Paris (DBpedia)", 2), "%s: DBpedia label", order);
        PE_CHECK_EQ_INT(e->kind, PE_KG_KIND_ITEM);
        PE_CHECK_EQ_INT(e->sitelinks, 1);
        PE_CHECK_EQ_INT(e->in_degree, 1);
        PE_CHECK_EQ_INT(e->n_same, 1);
        const char *best = NULL;
        PE_CHECK(pe_kg_label(r, q90, "en", &best) == PE_OK);
        PE_CHECK_MSG(best && !strcmp(best, "Paris"), "%s: label %s", order, best ? best : "(none)");
        if (e->n_same == 1) {
            PE_CHECK_EQ_STR(e->same[0], "http://dbpedia.org/resource/Paris");
            PE_CHECK_EQ_INT(e->same_source[0], 3);
        }
    }
    pe_kg_entity_free(e);
    pe_kg_id *ids;
    size_t n;
    PE_CHECK(pe_kg_types(r, q90, 1, &ids, &n) == PE_OK);
    PE_CHECK_MSG(n == 2 && contains(ids, n, R(r, "Q515")) && contains(ids, n, R(r, "http://dbpedia.org/ontology/City")),
                 "%s: %zu types", order, n);
    free(ids);
    /* the DBpedia triple pointing at the resource now points at Q90, with its source */
    pe_kg_iter *it;
    pe_kg_triple t;
    PE_CHECK(pe_kg_match(r, 0, R(r, "http://dbpedia.org/ontology/location"), 0, &it) == PE_OK);
    PE_CHECK(pe_kg_iter_next(it, &t) == PE_OK && t.o == q90 && t.source == 2);
    pe_kg_iter_free(it);
    uint32_t srcs[4];
    size_t ns = 0;
    PE_CHECK(pe_kg_triple_sources(r, t.s, t.p, t.o, srcs, 4, &ns) == PE_OK);
    PE_CHECK_MSG(ns == 2 && srcs[0] == 2 && srcs[1] == 6, "%s: %zu sources", order, ns);
    pe_kg_candidate c[4];
    size_t nc;
    PE_CHECK(pe_kg_lookup(r, "paris dbpedia", 13, NULL, c, 4, &nc) == PE_OK && nc == 1 && c[0].id == q90);
    pe_kg_stats st;
    PE_CHECK(pe_kg_stats_get(r, &st) == PE_OK && st.sameas == 1);
    PE_CHECK_EQ_INT(count_match(r, 0, 0, 0), 3);
    pe_kg_reader_end(r);
}

static void test_sameas(void)
{
    /* each order of arrival, one batch per step */
    const char *orders[] = {"WDS", "DWS", "SWD", "SDW", "WSD", "DSW"};
    for (size_t i = 0; i < sizeof orders / sizeof *orders; i++) {
        char dir[128];
        pe_kg *kg = open_new(dir, sizeof dir);
        for (const char *o = orders[i]; *o; o++) {
            pe_kg_writer *w;
            PE_CHECK(pe_kg_writer_begin(kg, &w) == PE_OK);
            if (*o == 'W') put_wikidata(w, 1);
            else if (*o == 'D') put_dbpedia(w, 2);
            else put_sameas(w, 3);
            PE_CHECK_MSG(pe_kg_writer_commit(w) == PE_OK, "%s: %s", orders[i], pe_kg_errmsg(kg));
        }
        check_merged(kg, orders[i]);
        pe_kg_close(kg);
    }
    /* all in one batch, and again in a later batch (no-op) */
    char dir[128];
    pe_kg *kg = open_new(dir, sizeof dir);
    pe_kg_writer *w;
    PE_CHECK(pe_kg_writer_begin(kg, &w) == PE_OK);
    pe_kg_id stale = I(w, "http://dbpedia.org/resource/Paris");
    put_dbpedia(w, 2);
    put_sameas(w, 3);
    put_wikidata(w, 1);
    /* an id obtained before the merge is followed */
    PE_CHECK(pe_kg_put_text(w, stale, PE_KG_ALIAS, "en", "Lutetia", 7, 2) == PE_OK);
    PE_CHECK(pe_kg_writer_commit(w) == PE_OK);
    PE_CHECK(pe_kg_writer_begin(kg, &w) == PE_OK);
    put_sameas(w, 4);
    PE_CHECK(pe_kg_writer_commit(w) == PE_OK);
    check_merged(kg, "one batch");
    pe_kg_reader *r;
    PE_CHECK(pe_kg_reader_begin(kg, &r) == PE_OK);
    pe_kg_candidate c[2];
    size_t n;
    PE_CHECK(pe_kg_lookup(r, "lutetia", 7, NULL, c, 2, &n) == PE_OK && n == 1 && c[0].id == R(r, "Q90"));
    pe_kg_reader_end(r);
    verify_ok(kg, __func__);
    pe_kg_close(kg);

    /* chains: two DBpedia resources merged, then into a QID */
    kg = open_new(dir, sizeof dir);
    PE_CHECK(pe_kg_writer_begin(kg, &w) == PE_OK);
    pe_kg_id a = I(w, "http://fr.dbpedia.org/resource/Paris"), b = I(w, "http://dbpedia.org/resource/Paris");
    text(w, a, PE_KG_LABEL, "fr", "Paris (fr)", 5);
    PE_CHECK(pe_kg_put_sameas(w, b, a, 5) == PE_OK);
    PE_CHECK(pe_kg_writer_commit(w) == PE_OK);
    PE_CHECK(pe_kg_writer_begin(kg, &w) == PE_OK);
    put_wikidata(w, 1);
    put_sameas(w, 3);
    PE_CHECK(pe_kg_writer_commit(w) == PE_OK);
    PE_CHECK(pe_kg_reader_begin(kg, &r) == PE_OK);
    pe_kg_id q90 = R(r, "Q90");
    PE_CHECK(R(r, "http://fr.dbpedia.org/resource/Paris") == q90 && R(r, "http://dbpedia.org/resource/Paris") == q90);
    pe_kg_entity *e;
    PE_CHECK(pe_kg_entity_get(r, q90, &e) == PE_OK && e && e->n_same == 2 &&
             has_text(e, PE_KG_LABEL, "fr", "Paris (fr)", 5));
    pe_kg_entity_free(e);
    /* an old id of a merged term gives the canonical record */
    PE_CHECK(pe_kg_entity_get(r, a, &e) == PE_OK && e && e->id == q90);
    pe_kg_entity_free(e);
    pe_kg_reader_end(r);
    verify_ok(kg, __func__);
    pe_kg_close(kg);
}

/* ---- sameAs in every order gives the same graph (by terms) ---------------- */

static const char *const so_terms[] = {
    "Q90", "Q1", "Q2", "Q3", "P31", "P17", "Q515",
    "http://dbpedia.org/resource/Paris", "http://dbpedia.org/resource/A", "http://dbpedia.org/resource/B",
    "http://dbpedia.org/resource/C", "http://fr.dbpedia.org/resource/C", "http://dbpedia.org/ontology/City",
    "http://dbpedia.org/ontology/country", "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"};

/* Wikidata: Q90 described (P17 -> Q2), Q1 and Q3 never described. */
static void so_wikidata(pe_kg_writer *w)
{
    pe_kg_id q90 = I(w, "Q90");
    PE_CHECK(pe_kg_put_kind(w, q90, PE_KG_KIND_ITEM, NULL, 1) == PE_OK);
    text(w, q90, PE_KG_LABEL, "en", "Paris", 1);
    PE_CHECK(pe_kg_put_sitelink(w, q90, "enwiki", "Paris", 1) == PE_OK);
    link_e(w, q90, I(w, "P31"), I(w, "Q515"), 1);
    link_e(w, q90, I(w, "P17"), I(w, "Q2"), 1);
}

/* DBpedia: every resource described; A points at B and Paris, C at A. */
static void so_dbpedia(pe_kg_writer *w)
{
    const char *res[] = {"http://dbpedia.org/resource/Paris", "http://dbpedia.org/resource/A",
                         "http://dbpedia.org/resource/B", "http://dbpedia.org/resource/C"};
    pe_kg_id type = I(w, "http://www.w3.org/1999/02/22-rdf-syntax-ns#type");
    pe_kg_id city = I(w, "http://dbpedia.org/ontology/City"), country = I(w, "http://dbpedia.org/ontology/country");
    for (int i = 0; i < 4; i++) {
        pe_kg_id e = I(w, res[i]);
        PE_CHECK(pe_kg_put_kind(w, e, PE_KG_KIND_RESOURCE, NULL, 2) == PE_OK);
        char label[32];
        snprintf(label, sizeof label, "Label %d", i);
        text(w, e, PE_KG_LABEL, "en", label, 2);
        link_e(w, e, type, city, 2);
    }
    link_e(w, I(w, res[1]), country, I(w, res[2]), 2);
    link_e(w, I(w, res[1]), country, I(w, res[0]), 2);
    link_e(w, I(w, res[3]), country, I(w, res[1]), 2);
    link_e(w, I(w, res[1]), country, I(w, res[2]), 3); /* a second source */
    pe_kg_id fr = I(w, "http://fr.dbpedia.org/resource/C");
    text(w, fr, PE_KG_LABEL, "fr", "C (fr)", 2);
}

/* sameAs links, DBpedia term first as in DBpedia's files; fr:C goes to dbr:C
 * before dbr:C goes to Q3 (a chain). */
static void so_sameas(pe_kg_writer *w)
{
    static const char *const pairs[][2] = {
        {"http://dbpedia.org/resource/Paris", "Q90"}, {"http://dbpedia.org/resource/A", "Q1"},
        {"http://dbpedia.org/resource/B", "Q2"}, {"http://fr.dbpedia.org/resource/C", "http://dbpedia.org/resource/C"},
        {"http://dbpedia.org/resource/C", "Q3"}};
    for (size_t i = 0; i < sizeof pairs / sizeof *pairs; i++)
        PE_CHECK(pe_kg_put_sameas(w, I(w, pairs[i][0]), I(w, pairs[i][1]), 4) == PE_OK);
}

static int str_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static const char *so_term(pe_kg_reader *r, pe_kg_id id)
{
    const char *t = NULL;
    return pe_kg_term(r, id, &t, NULL) == PE_OK ? t : "?";
}

/* A text dump of the graph by terms (ids may differ between stores). */
static char *so_dump(pe_kg *kg)
{
    pe_kg_reader *r;
    PE_CHECK(pe_kg_reader_begin(kg, &r) == PE_OK);
    char *lines[256];
    size_t n = 0;
    char buf[1024];
    for (size_t i = 0; i < sizeof so_terms / sizeof *so_terms && n + 8 < 256; i++) {
        pe_kg_id id = R(r, so_terms[i]);
        pe_kg_entity *e = NULL;
        if (!id || pe_kg_entity_get(r, id, &e) != PE_OK || !e) {
            snprintf(buf, sizeof buf, "%s: none", so_terms[i]);
            lines[n++] = strdup(buf);
            continue;
        }
        int o = snprintf(buf, sizeof buf, "%s -> %s kind %d links %u indeg %u texts", so_terms[i], e->term,
                         (int)e->kind, e->sitelinks, e->in_degree);
        for (size_t t = 0; t < e->n_texts && o < 900; t++) {
            o += snprintf(buf + o, sizeof buf - (size_t)o, " [%d %s %s", (int)e->texts[t].kind, e->texts[t].lang,
                          e->texts[t].text);
            for (size_t k = 0; k < e->texts[t].n_sources && o < 900; k++)
                o += snprintf(buf + o, sizeof buf - (size_t)o, " %u", e->texts[t].sources[k]);
            o += snprintf(buf + o, sizeof buf - (size_t)o, "]");
        }
        /* same terms in any order: sorted */
        const char *same[8];
        size_t ns = e->n_same < 8 ? e->n_same : 8;
        char sb[8][160];
        for (size_t k = 0; k < ns; k++) {
            snprintf(sb[k], sizeof sb[k], "%s/%u", e->same[k], e->same_source[k]);
            same[k] = sb[k];
        }
        qsort(same, ns, sizeof *same, str_cmp);
        for (size_t k = 0; k < ns && o < 1000; k++) o += snprintf(buf + o, sizeof buf - (size_t)o, " same %s", same[k]);
        lines[n++] = strdup(buf);
        pe_kg_entity_free(e);
    }
    pe_kg_iter *it;
    pe_kg_triple t;
    PE_CHECK(pe_kg_match(r, 0, 0, 0, &it) == PE_OK);
    while (n < 255 && pe_kg_iter_next(it, &t) == PE_OK) {
        uint32_t srcs[8];
        size_t nsrc = 0;
        PE_CHECK(pe_kg_triple_sources(r, t.s, t.p, t.o, srcs, 8, &nsrc) == PE_OK);
        int o = snprintf(buf, sizeof buf, "T %s %s %s rank %d src", so_term(r, t.s), so_term(r, t.p), so_term(r, t.o),
                         (int)t.rank);
        for (size_t k = 0; k < nsrc && k < 8; k++) o += snprintf(buf + o, sizeof buf - (size_t)o, " %u", srcs[k]);
        lines[n++] = strdup(buf);
    }
    pe_kg_iter_free(it);
    pe_kg_stats st;
    PE_CHECK(pe_kg_stats_get(r, &st) == PE_OK);
    snprintf(buf, sizeof buf, "stats terms %llu entities %llu triples %llu sameas %llu",
             (unsigned long long)st.terms, (unsigned long long)st.entities, (unsigned long long)st.triples,
             (unsigned long long)st.sameas);
    lines[n++] = strdup(buf);
    pe_kg_reader_end(r);
    qsort(lines, n, sizeof *lines, str_cmp);
    size_t len = 1;
    for (size_t i = 0; i < n; i++) len += strlen(lines[i]) + 1;
    char *out = malloc(len), *p = out;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(lines[i]);
        memcpy(p, lines[i], l);
        p[l] = '\n';
        p += l + 1;
        free(lines[i]);
    }
    *p = 0;
    return out;
}

static void test_sameas_orders_identical(void)
{
    /* one batch per step in every order, then all in one batch both ways */
    const char *orders[] = {"WDS", "DWS", "DSW", "SDW", "SWD", "WSD", "wds", "swd", "dsw"};
    char *ref = NULL;
    for (size_t i = 0; i < sizeof orders / sizeof *orders; i++) {
        char dir[128];
        pe_kg *kg = open_new(dir, sizeof dir);
        pe_kg_writer *w = NULL;
        for (const char *o = orders[i]; *o; o++) {
            int one = *o >= 'a';
            if (!w) PE_CHECK(pe_kg_writer_begin(kg, &w) == PE_OK);
            if (*o == 'W' || *o == 'w') so_wikidata(w);
            else if (*o == 'D' || *o == 'd') so_dbpedia(w);
            else so_sameas(w);
            if (!one || !o[1]) {
                PE_CHECK_MSG(pe_kg_writer_commit(w) == PE_OK, "%s: %s", orders[i], pe_kg_errmsg(kg));
                w = NULL;
            }
        }
        char *d = so_dump(kg);
        if (!ref) {
            ref = d;
            /* the reference itself is right: the merged entities */
            char want[96];
            snprintf(want, sizeof want, "http://dbpedia.org/resource/A -> Q1 kind %d ", (int)PE_KG_KIND_RESOURCE);
            PE_CHECK_MSG(strstr(ref, want) != NULL, "%s", ref);
            PE_CHECK_MSG(strstr(ref, "http://fr.dbpedia.org/resource/C -> Q3 ") != NULL, "%s", ref);
            PE_CHECK_MSG(strstr(ref, "T Q1 http://dbpedia.org/ontology/country Q2 rank 0 src 2 3\n") != NULL, "%s", ref);
            PE_CHECK_MSG(strstr(ref, "T Q3 http://dbpedia.org/ontology/country Q1 ") != NULL, "%s", ref);
            PE_CHECK_MSG(strstr(ref, "same http://dbpedia.org/resource/C/4 same http://fr.dbpedia.org/resource/C/4") != NULL,
                         "%s", ref);
        } else {
            PE_CHECK_MSG(strcmp(ref, d) == 0, "order %s differs from %s:\n%s\n---- vs ----\n%s", orders[i], orders[0],
                         d, ref);
            free(d);
        }
        pe_kg_close(kg);
    }
    free(ref);
}

/* Merges into a Wikidata term with no data yet swap the two ids' terms (no
 * data moves): ids handed out before stay usable. */
static void test_sameas_swap_ids(void)
{
    char dir[128];
    pe_kg *kg = open_new(dir, sizeof dir);
    pe_kg_writer *w;
    PE_CHECK(pe_kg_writer_begin(kg, &w) == PE_OK);
    pe_kg_id dp = I(w, "http://dbpedia.org/resource/Paris");
    text(w, dp, PE_KG_LABEL, "en", "Paris", 2);
    PE_CHECK(pe_kg_writer_commit(w) == PE_OK);
    PE_CHECK(pe_kg_writer_begin(kg, &w) == PE_OK);
    pe_kg_id q = I(w, "Q90");
    PE_CHECK(pe_kg_put_sameas(w, dp, q, 3) == PE_OK);
    /* both old ids still work in this batch and later ones */
    text(w, q, PE_KG_ALIAS, "en", "City of Light", 1);
    link_e(w, I(w, "http://dbpedia.org/resource/Louvre"), I(w, "http://dbpedia.org/ontology/location"), q, 2);
    PE_CHECK(pe_kg_writer_commit(w) == PE_OK);
    PE_CHECK(pe_kg_writer_begin(kg, &w) == PE_OK);
    PE_CHECK(I(w, "Q90") == I(w, "http://dbpedia.org/resource/Paris"));
    link_e(w, q, I(w, "P31"), I(w, "Q515"), 1);
    link_e(w, dp, I(w, "P17"), I(w, "Q142"), 1);
    PE_CHECK(pe_kg_writer_commit(w) == PE_OK);
    pe_kg_close(kg); /* a new handle: caches rebuilt from the store */
    pe_kg_options o = pe_kg_options_default();
    PE_CHECK(pe_kg_open(dir, &o, &kg, NULL) == PE_OK);
    pe_kg_reader *r;
    PE_CHECK(pe_kg_reader_begin(kg, &r) == PE_OK);
    pe_kg_id c = R(r, "Q90");
    PE_CHECK(c != 0 && c == R(r, "http://dbpedia.org/resource/Paris"));
    pe_kg_entity *e = NULL;
    PE_CHECK(pe_kg_entity_get(r, c, &e) == PE_OK && e);
    if (e) {
        PE_CHECK_EQ_STR(e->term, "Q90");
        PE_CHECK(has_text(e, PE_KG_LABEL, "en", "Paris", 2) && has_text(e, PE_KG_ALIAS, "en", "City of Light", 1));
        PE_CHECK_EQ_INT(e->in_degree, 1);
        PE_CHECK(e->n_same == 1 && !strcmp(e->same[0], "http://dbpedia.org/resource/Paris") && e->same_source[0] == 3);
    }
    pe_kg_entity_free(e);
    /* the merged-away id gives the canonical record, its own term its own */
    pe_kg_id other = c == q ? dp : q;
    PE_CHECK(pe_kg_entity_get(r, other, &e) == PE_OK && e && e->id == c);
    pe_kg_entity_free(e);
    PE_CHECK_EQ_STR(so_term(r, other), "http://dbpedia.org/resource/Paris");
    PE_CHECK_EQ_INT(count_match(r, c, 0, 0), 2);
    PE_CHECK_EQ_INT(count_match(r, 0, 0, c), 1);
    pe_kg_candidate cand[2];
    size_t nc;
    PE_CHECK(pe_kg_lookup(r, "city of light", 13, NULL, cand, 2, &nc) == PE_OK && nc == 1 && cand[0].id == c);
    pe_kg_reader_end(r);
    verify_ok(kg, __func__);
    pe_kg_close(kg);
}

/* A sameAs into a Wikidata term interned in the same batch and given nothing
 * yet swaps ids without flushing the batch's pending writes: the term
 * dictionary must still end up pointing both terms at the canonical id, for
 * readers, for this handle's writer and for a new handle. Merges from before
 * are then followed by a new handle's writer (loaded with its caches). */
static void test_sameas_fresh_swap(void)
{
    char dir[128];
    pe_kg *kg = open_new(dir, sizeof dir);
    pe_kg_writer *w;
    PE_CHECK(pe_kg_writer_begin(kg, &w) == PE_OK);
    pe_kg_id q8 = I(w, "Q8"); /* has data: a full merge */
    text(w, q8, PE_KG_LABEL, "en", "Eight", 1);
    enum { N = 300 };
    pe_kg_id stale[N];
    for (int i = 0; i < N; i++) {
        char dp[64], q[16];
        snprintf(dp, sizeof dp, "http://dbpedia.org/resource/R%d", i);
        snprintf(q, sizeof q, "Q%d", 1000 + i);
        pe_kg_id d = I(w, dp);
        PE_CHECK(pe_kg_put_kind(w, d, PE_KG_KIND_RESOURCE, NULL, 2) == PE_OK);
        stale[i] = I(w, q);
        PE_CHECK(pe_kg_put_sameas(w, d, stale[i], 3) == PE_OK);
        PE_CHECK_EQ_INT(I(w, q), I(w, dp));
        if (i == N / 2)
            PE_CHECK(pe_kg_put_sameas(w, I(w, "http://dbpedia.org/resource/Eight"), q8, 3) == PE_OK);
    }
    PE_CHECK(pe_kg_writer_commit(w) == PE_OK);
    pe_kg_reader *r;
    PE_CHECK(pe_kg_reader_begin(kg, &r) == PE_OK);
    int bad = 0;
    for (int i = 0; i < N; i++) {
        char dp[64], q[16];
        snprintf(dp, sizeof dp, "http://dbpedia.org/resource/R%d", i);
        snprintf(q, sizeof q, "Q%d", 1000 + i);
        pe_kg_id c = R(r, q);
        pe_kg_entity *e = NULL;
        if (!c || c != R(r, dp) || pe_kg_entity_get(r, c, &e) != PE_OK || !e || strcmp(e->term, q) != 0 ||
            e->kind != PE_KG_KIND_RESOURCE || e->n_same != 1 || strcmp(e->same[0], dp) != 0)
            bad++;
        pe_kg_entity_free(e);
    }
    PE_CHECK_EQ_INT(bad, 0);
    PE_CHECK(R(r, "Q8") == q8 && R(r, "http://dbpedia.org/resource/Eight") == q8);
    pe_kg_reader_end(r);
    verify_ok(kg, __func__);
    pe_kg_close(kg);

    /* a new handle: dictionary and merges loaded from the store */
    pe_kg_options o = pe_kg_options_default();
    PE_CHECK(pe_kg_open(dir, &o, &kg, NULL) == PE_OK);
    PE_CHECK(pe_kg_writer_begin(kg, &w) == PE_OK);
    PE_CHECK_EQ_INT(I(w, "Q1000"), I(w, "http://dbpedia.org/resource/R0"));
    /* ids merged away before are followed: Q9 joins Q1001's entity */
    PE_CHECK(pe_kg_put_sameas(w, stale[1], I(w, "Q9"), 4) == PE_OK);
    PE_CHECK(pe_kg_writer_commit(w) == PE_OK);
    PE_CHECK(pe_kg_reader_begin(kg, &r) == PE_OK);
    pe_kg_id c = R(r, "Q1001");
    PE_CHECK(c != 0 && R(r, "Q9") == c && R(r, "http://dbpedia.org/resource/R1") == c);
    PE_CHECK_EQ_STR(so_term(r, c), "Q1001");
    pe_kg_reader_end(r);
    verify_ok(kg, __func__);
    pe_kg_close(kg);
}

/* A writer's buffers are kept for the next one: an aborted batch leaves
 * nothing behind in them (ids are handed out again after an abort). */
static void test_writer_reuse(void)
{
    char dir[128];
    pe_kg *kg = open_new(dir, sizeof dir);
    pe_kg_writer *w;
    PE_CHECK(pe_kg_writer_begin(kg, &w) == PE_OK);
    pe_kg_id p = I(w, "P99");
    PE_CHECK(pe_kg_put_kind(w, p, PE_KG_KIND_PROPERTY, "string", 1) == PE_OK);
    PE_CHECK(pe_kg_put_sitelink(w, p, "enwiki", "P", 1) == PE_OK);
    link_e(w, p, p, I(w, "Q5"), 1);
    pe_kg_writer_abort(w);
    PE_CHECK(pe_kg_writer_begin(kg, &w) == PE_OK);
    pe_kg_id q = I(w, "Q1");
    PE_CHECK_EQ_INT(q, p); /* the same id again */
    PE_CHECK(pe_kg_put_kind(w, q, PE_KG_KIND_ITEM, NULL, 2) == PE_OK);
    PE_CHECK(pe_kg_writer_commit(w) == PE_OK);
    for (int b = 0; b < 3; b++) { /* more batches through the kept buffers */
        PE_CHECK(pe_kg_writer_begin(kg, &w) == PE_OK);
        char t[16];
        snprintf(t, sizeof t, "Q%d", 10 + b);
        link_e(w, I(w, t), I(w, "P31"), q, 2);
        PE_CHECK(pe_kg_writer_commit(w) == PE_OK);
    }
    pe_kg_reader *r;
    PE_CHECK(pe_kg_reader_begin(kg, &r) == PE_OK);
    PE_CHECK_EQ_INT(R(r, "P99"), 0);
    pe_kg_entity *e = NULL;
    PE_CHECK(pe_kg_entity_get(r, q, &e) == PE_OK && e);
    if (e) {
        PE_CHECK_EQ_STR(e->term, "Q1");
        PE_CHECK_EQ_INT(e->kind, PE_KG_KIND_ITEM);
        PE_CHECK(e->datatype == NULL);
        PE_CHECK_EQ_INT(e->sitelinks, 0);
        PE_CHECK_EQ_INT(e->in_degree, 3);
    }
    pe_kg_entity_free(e);
    PE_CHECK_EQ_INT(count_match(r, 0, 0, 0), 3);
    pe_kg_reader_end(r);
    verify_ok(kg, __func__);
    pe_kg_close(kg);
}

/* The writer's id map (merged id -> canonical id) and its bit filter. */
static void test_idmap(void)
{
    kg_idmap m;
    memset(&m, 0, sizeof m);
    PE_CHECK_EQ_INT(kg_idmap_get(&m, 5), 0);
    for (uint64_t k = 1; k <= 5000; k += 3) PE_CHECK(kg_idmap_put(&m, k, k + 1000000) == 0);
    PE_CHECK(kg_idmap_put(&m, UINT64_C(1) << 40, 7) == 0);     /* beyond the bits */
    PE_CHECK(kg_idmap_put(&m, PE_KG_ID_LITERAL | 9, 8) == 0);
    int bad = 0;
    for (uint64_t k = 1; k <= 6000; k++) bad += kg_idmap_get(&m, k) != ((k - 1) % 3 == 0 && k <= 5000 ? k + 1000000 : 0);
    PE_CHECK_EQ_INT(bad, 0);
    PE_CHECK_EQ_INT(kg_idmap_get(&m, UINT64_C(1) << 40), 7);
    PE_CHECK_EQ_INT(kg_idmap_get(&m, PE_KG_ID_LITERAL | 9), 8);
    PE_CHECK_EQ_INT(kg_idmap_get(&m, (UINT64_C(1) << 40) + 1), 0);
    PE_CHECK_EQ_INT(kg_idmap_get(&m, UINT64_C(1) << 29), 0);
    PE_CHECK(kg_idmap_put(&m, 4, 99) == 0); /* update */
    PE_CHECK_EQ_INT(kg_idmap_get(&m, 4), 99);
    kg_idmap_free(&m);
    PE_CHECK_EQ_INT(kg_idmap_get(&m, 4), 0);
}

static void test_sources(void)
{
    char dir[128];
    pe_kg *kg = open_new(dir, sizeof dir);
    pe_kg_writer *w;
    PE_CHECK(pe_kg_writer_begin(kg, &w) == PE_OK);
    pe_kg_source info = {.path = "/data/latest.json.gz", .format = "wikidata-json",
                         .sha256 = "ab12", .size = 1234, .dump_date = "2024-01-01", .langs = "en,fr"};
    uint32_t id = 0;
    int resumed = -1;
    PE_CHECK(pe_kg_source_begin(w, &info, &id, &resumed) == PE_OK && id == 1 && resumed == 0);
    pe_kg_counts c = {.entities = 10, .labels = 9, .triples = 20, .bytes = 500, .lines = 11, .skipped = 1};
    PE_CHECK(pe_kg_source_checkpoint(w, id, &c, "line 7: bad JSON") == PE_OK);
    I(w, "Q1");
    PE_CHECK(pe_kg_writer_commit(w) == PE_OK);
    /* a batch that is aborted leaves the committed counts */
    PE_CHECK(pe_kg_writer_begin(kg, &w) == PE_OK);
    pe_kg_counts c2 = c;
    c2.entities = 20;
    PE_CHECK(pe_kg_source_checkpoint(w, id, &c2, "line 15: other") == PE_OK);
    pe_kg_writer_abort(w);

    PE_CHECK(pe_kg_writer_begin(kg, &w) == PE_OK);
    uint32_t id2 = 0;
    PE_CHECK(pe_kg_source_begin(w, &info, &id2, &resumed) == PE_OK && id2 == 1 && resumed == 1);
    pe_kg_source other = info;
    other.sha256 = "cd34";
    PE_CHECK(pe_kg_source_begin(w, &other, &id2, &resumed) == PE_OK && id2 == 2 && resumed == 0);
    PE_CHECK(pe_kg_writer_commit(w) == PE_OK);

    pe_kg_reader *r;
    PE_CHECK(pe_kg_reader_begin(kg, &r) == PE_OK);
    pe_kg_source s;
    PE_CHECK(pe_kg_source_get(r, 1, &s) == PE_OK);
    PE_CHECK_EQ_STR(s.path, info.path);
    PE_CHECK_EQ_STR(s.format, "wikidata-json");
    PE_CHECK_EQ_STR(s.sha256, "ab12");
    PE_CHECK_EQ_STR(s.dump_date, "2024-01-01");
    PE_CHECK_EQ_STR(s.langs, "en,fr");
    PE_CHECK_EQ_INT(s.size, 1234);
    PE_CHECK_EQ_INT(s.status, PE_KG_SOURCE_RUNNING);
    PE_CHECK_EQ_INT(s.counts.entities, 10);
    PE_CHECK_EQ_INT(s.counts.bytes, 500);
    PE_CHECK_EQ_STR(s.last_error, "line 7: bad JSON");
    PE_CHECK(s.started > 1e9 && s.ended == 0);
    PE_CHECK(pe_kg_source_get(r, 3, &s) == PE_NOT_FOUND);
    pe_kg_stats st;
    PE_CHECK(pe_kg_stats_get(r, &st) == PE_OK && st.sources == 2);
    pe_kg_reader_end(r);

    PE_CHECK(pe_kg_writer_begin(kg, &w) == PE_OK);
    c.entities = 30;
    PE_CHECK(pe_kg_source_finish(w, 1, PE_KG_SOURCE_DONE, &c) == PE_OK);
    PE_CHECK(pe_kg_source_finish(w, 9, PE_KG_SOURCE_DONE, &c) == PE_ERR_INVALID);
    PE_CHECK(pe_kg_writer_commit(w) == PE_OK);
    PE_CHECK(pe_kg_writer_begin(kg, &w) == PE_OK);
    PE_CHECK(pe_kg_source_begin(w, &info, &id2, &resumed) == PE_OK && id2 == 1 && resumed == 2);
    pe_kg_writer_abort(w);
    PE_CHECK(pe_kg_reader_begin(kg, &r) == PE_OK);
    PE_CHECK(pe_kg_source_get(r, 1, &s) == PE_OK && s.status == PE_KG_SOURCE_DONE && s.counts.entities == 30 &&
             s.ended >= s.started);
    PE_CHECK_EQ_STR(s.path, info.path);
    pe_kg_reader_end(r);
    pe_kg_close(kg);
}

static void test_persistence_and_abort(void)
{
    char dir[128];
    pe_kg *kg = open_new(dir, sizeof dir);
    pe_kg_writer *w;
    PE_CHECK(pe_kg_writer_begin(kg, &w) == PE_OK);
    pe_kg_id q1 = I(w, "Q1");
    text(w, q1, PE_KG_LABEL, "en", "universe", 1);
    link_e(w, q1, I(w, "P31"), I(w, "Q36906466"), 1);
    PE_CHECK(pe_kg_writer_commit(w) == PE_OK);
    /* aborted batch: nothing of it remains, and ids are not reused wrongly */
    PE_CHECK(pe_kg_writer_begin(kg, &w) == PE_OK);
    pe_kg_id ghost = I(w, "Q999");
    text(w, ghost, PE_KG_LABEL, "en", "ghost", 1);
    text(w, q1, PE_KG_LABEL, "fr", "univers", 1);
    link_e(w, q1, I(w, "P361"), ghost, 1);
    pe_kg_writer_abort(w);
    PE_CHECK(pe_kg_writer_begin(kg, &w) == PE_OK);
    pe_kg_id q2 = I(w, "Q2");
    pe_kg_id q999 = I(w, "Q999");
    PE_CHECK(q2 != q999 && q2 != q1 && q999 != q1);
    PE_CHECK(pe_kg_writer_commit(w) == PE_OK);
    pe_kg_close(kg);

    pe_kg_options o = pe_kg_options_default();
    o.read_only = 1;
    PE_CHECK(pe_kg_open(dir, &o, &kg, NULL) == PE_OK);
    PE_CHECK(pe_kg_writer_begin(kg, &w) == PE_ERR_INVALID);
    pe_kg_reader *r;
    PE_CHECK(pe_kg_reader_begin(kg, &r) == PE_OK);
    PE_CHECK_EQ_INT(R(r, "Q1"), q1);
    PE_CHECK(R(r, "Q2") != R(r, "Q999"));
    pe_kg_entity *e;
    PE_CHECK(pe_kg_entity_get(r, q1, &e) == PE_OK && e && e->n_texts == 1);
    pe_kg_entity_free(e);
    pe_kg_candidate c[2];
    size_t n;
    PE_CHECK(pe_kg_lookup(r, "ghost", 5, NULL, c, 2, &n) == PE_NOT_FOUND);
    PE_CHECK(pe_kg_lookup(r, "universe", 8, NULL, c, 2, &n) == PE_OK && c[0].id == q1);
    PE_CHECK_EQ_INT(count_match(r, 0, 0, 0), 1);
    pe_kg_stats st;
    PE_CHECK(pe_kg_stats_get(r, &st) == PE_OK && st.store_bytes > 0 && st.terms == 5);
    pe_kg_reader_end(r);
    pe_kg_close(kg);
}

/* A new handle's writer loads the dictionary into its cache: existing
 * terms and literals keep their ids, new ones get fresh ids. */
static void test_reopen_intern(void)
{
    char dir[128];
    pe_kg *kg = open_new(dir, sizeof dir);
    pe_kg_writer *w;
    pe_kg_id ids[50];
    char t[600];
    pe_kg_value lit = {.type = PE_KG_VAL_STRING, .text = "lit", .text_len = 3};
    PE_CHECK(pe_kg_writer_begin(kg, &w) == PE_OK);
    for (int i = 0; i < 50; i++) {
        if (i % 10 == 9) { memset(t, 'a' + i % 26, 590); snprintf(t + 590, 10, "%d", i); } /* long keys */
        else snprintf(t, sizeof t, "Q%d", i + 1);
        ids[i] = I(w, t);
    }
    PE_CHECK(pe_kg_put_triple(w, ids[0], ids[1], &lit, PE_KG_RANK_NORMAL, 1) == PE_OK);
    PE_CHECK(pe_kg_writer_commit(w) == PE_OK);
    pe_kg_close(kg);
    pe_kg_options o = pe_kg_options_default();
    o.map_size = (size_t)1 << 30;
    PE_CHECK(pe_kg_open(dir, &o, &kg, NULL) == PE_OK);
    PE_CHECK(pe_kg_writer_begin(kg, &w) == PE_OK);
    for (int i = 49; i >= 0; i--) {
        if (i % 10 == 9) { memset(t, 'a' + i % 26, 590); snprintf(t + 590, 10, "%d", i); }
        else snprintf(t, sizeof t, "Q%d", i + 1);
        PE_CHECK_EQ_INT(I(w, t), ids[i]);
    }
    pe_kg_id fresh = I(w, "Q9999");
    for (int i = 0; i < 50; i++) PE_CHECK(fresh != ids[i]);
    PE_CHECK(pe_kg_put_triple(w, ids[0], ids[1], &lit, PE_KG_RANK_NORMAL, 2) == PE_OK); /* same literal */
    PE_CHECK(pe_kg_writer_commit(w) == PE_OK);
    pe_kg_reader *r;
    PE_CHECK(pe_kg_reader_begin(kg, &r) == PE_OK);
    pe_kg_stats st;
    PE_CHECK(pe_kg_stats_get(r, &st) == PE_OK && st.literals == 1 && st.triples == 1 && st.terms == 51);
    pe_kg_reader_end(r);
    pe_kg_close(kg);
}

/* no_sync stores: pe_kg_sync and close make them durable. */
static void test_no_sync(void)
{
    char dir[128];
    pe_kg *kg = NULL;
    pe_kg_options o = pe_kg_options_default();
    o.no_sync = 1;
    o.map_size = (size_t)1 << 28;
    PE_CHECK(pe_kg_open(newdir(dir, sizeof dir), &o, &kg, NULL) == PE_OK);
    pe_kg_writer *w;
    PE_CHECK(pe_kg_writer_begin(kg, &w) == PE_OK);
    text(w, I(w, "Q42"), PE_KG_LABEL, "en", "Douglas Adams", 1);
    PE_CHECK(pe_kg_writer_commit(w) == PE_OK);
    PE_CHECK(pe_kg_sync(kg) == PE_OK);
    pe_kg_close(kg);
    o.read_only = 1;
    PE_CHECK(pe_kg_open(dir, &o, &kg, NULL) == PE_OK);
    pe_kg_reader *r;
    PE_CHECK(pe_kg_reader_begin(kg, &r) == PE_OK);
    pe_kg_candidate c[2];
    size_t n;
    PE_CHECK(pe_kg_lookup(r, "douglas adams", 13, NULL, c, 2, &n) == PE_OK && n == 1 && c[0].id == R(r, "Q42"));
    pe_kg_reader_end(r);
    PE_CHECK(pe_kg_sync(kg) == PE_OK); /* read-only: nothing to do */
    pe_kg_close(kg);
}

/* A reader in another process sees committed snapshots only. */
static void test_fork_reader(void)
{
    char dir[128];
    pe_kg *kg = open_new(dir, sizeof dir);
    pe_kg_writer *w;
    PE_CHECK(pe_kg_writer_begin(kg, &w) == PE_OK);
    text(w, I(w, "Q1"), PE_KG_LABEL, "en", "first", 1);
    PE_CHECK(pe_kg_writer_commit(w) == PE_OK);
    int to_child[2], to_parent[2];
    PE_CHECK(pipe(to_child) == 0 && pipe(to_parent) == 0);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        close(to_child[1]);
        close(to_parent[0]);
        int fails = 0;
        pe_kg *ck = NULL;
        pe_kg_options o = pe_kg_options_default();
        o.read_only = 1;
        pe_kg_reader *r = NULL;
        char ch;
        pe_kg_candidate c[2];
        size_t n;
        if (pe_kg_open(dir, &o, &ck, NULL) != PE_OK || pe_kg_reader_begin(ck, &r) != PE_OK) fails++;
        if (write(to_parent[1], "r", 1) != 1) fails++;
        /* parent has written "second" but not committed */
        if (read(to_child[0], &ch, 1) != 1) fails++;
        if (r) {
            if (pe_kg_lookup(r, "first", 5, NULL, c, 2, &n) != PE_OK) fails++;
            if (pe_kg_lookup(r, "second", 6, NULL, c, 2, &n) != PE_NOT_FOUND) fails++;
            if (pe_kg_reader_renew(r) != PE_OK) fails++;
            if (pe_kg_lookup(r, "second", 6, NULL, c, 2, &n) != PE_NOT_FOUND) fails++;
        }
        if (write(to_parent[1], "c", 1) != 1) fails++;
        /* parent committed */
        if (read(to_child[0], &ch, 1) != 1) fails++;
        if (r) {
            if (pe_kg_lookup(r, "second", 6, NULL, c, 2, &n) != PE_NOT_FOUND) fails++; /* old snapshot */
            if (pe_kg_reader_renew(r) != PE_OK) fails++;
            if (pe_kg_lookup(r, "second", 6, NULL, c, 2, &n) != PE_OK) fails++;
        }
        pe_kg_reader_end(r);
        pe_kg_close(ck);
        _exit(fails);
    }
    close(to_child[0]);
    close(to_parent[1]);
    char ch;
    PE_CHECK(read(to_parent[0], &ch, 1) == 1);
    PE_CHECK(pe_kg_writer_begin(kg, &w) == PE_OK);
    text(w, I(w, "Q2"), PE_KG_LABEL, "en", "second", 1);
    PE_CHECK(write(to_child[1], "w", 1) == 1);
    PE_CHECK(read(to_parent[0], &ch, 1) == 1);
    PE_CHECK(pe_kg_writer_commit(w) == PE_OK);
    PE_CHECK(write(to_child[1], "c", 1) == 1);
    int status = 0;
    PE_CHECK(waitpid(pid, &status, 0) == pid);
    PE_CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child reader: status %d", status);
    close(to_child[1]);
    close(to_parent[0]);
    pe_kg_close(kg);
}

/* Reader threads renew while the main thread commits batches of 50
 * triples: every snapshot holds whole batches, and never fewer than before. */
typedef struct reader_arg {
    pe_kg *kg;
    int bad, snapshots;
    uint64_t final;  /* triples seen by a renew after the last commit */
    volatile int *stop;
} reader_arg;

static void *reader_thread(void *p)
{
    reader_arg *a = p;
    pe_kg_reader *r = NULL;
    if (pe_kg_reader_begin(a->kg, &r) != PE_OK) {
        a->bad++;
        return NULL;
    }
    uint64_t last = 0;
    while (!*a->stop) {
        pe_kg_stats st;
        if (pe_kg_stats_get(r, &st) != PE_OK || st.triples % 50 != 0 || st.triples < last) a->bad++;
        size_t n = count_match(r, 0, 0, 0);
        if (n != st.triples) a->bad++;
        last = st.triples;
        __atomic_add_fetch(&a->snapshots, 1, __ATOMIC_RELAXED);
        if (pe_kg_reader_renew(r) != PE_OK) a->bad++;
    }
    /* stop is set after the last commit: a renew now sees all of it */
    pe_kg_stats st;
    if (pe_kg_reader_renew(r) == PE_OK && pe_kg_stats_get(r, &st) == PE_OK) a->final = st.triples;
    pe_kg_reader_end(r);
    return NULL;
}

/* Failure messages live on the reader or writer that failed: another
 * reader of the same handle (another thread's) never sees them. */
static void test_handle_messages(void)
{
    char dir[128];
    pe_kg *kg = open_new(dir, sizeof dir);
    if (!kg) return;
    pe_kg_writer *w;
    PE_CHECK(pe_kg_writer_begin(kg, &w) == PE_OK);
    pe_kg_id q = I(w, "Q1");
    text(w, q, PE_KG_LABEL, "en", "One", 1);
    PE_CHECK(pe_kg_writer_commit(w) == PE_OK);
    pe_kg_reader *r1 = NULL, *r2 = NULL;
    PE_CHECK(pe_kg_reader_begin(kg, &r1) == PE_OK && pe_kg_reader_begin(kg, &r2) == PE_OK);
    if (!r1 || !r2) return;
    pe_kg_candidate c[2];
    size_t n;
    PE_CHECK_EQ_INT(pe_kg_lookup(r1, "\xff", 1, NULL, c, 2, &n), PE_ERR_UTF8);
    PE_CHECK(strstr(pe_kg_reader_errmsg(r1), "UTF-8") != NULL);
    PE_CHECK_EQ_STR(pe_kg_reader_errmsg(r2), "");
    PE_CHECK_EQ_STR(pe_kg_errmsg(kg), "");
    PE_CHECK_EQ_INT(pe_kg_lookup(r2, "one", 3, NULL, c, 2, &n), PE_OK);
    PE_CHECK(strstr(pe_kg_reader_errmsg(r1), "UTF-8") != NULL); /* r2's success leaves r1's message */
    /* a writer's failure: on the writer (and its handle), not on the readers */
    PE_CHECK(pe_kg_writer_begin(kg, &w) == PE_OK);
    char lang[80];
    memset(lang, 'x', sizeof lang - 1);
    lang[sizeof lang - 1] = '\0';
    PE_CHECK_EQ_INT(pe_kg_put_text(w, q, PE_KG_LABEL, lang, "x", 1, 1), PE_ERR_INVALID);
    PE_CHECK(strstr(pe_kg_writer_errmsg(w), "language code") != NULL);
    PE_CHECK(strstr(pe_kg_errmsg(kg), "language code") != NULL);
    PE_CHECK_EQ_STR(pe_kg_reader_errmsg(r2), "");
    PE_CHECK(strstr(pe_kg_reader_errmsg(r1), "UTF-8") != NULL);
    pe_kg_writer_abort(w);
    PE_CHECK_EQ_STR(pe_kg_reader_errmsg(NULL), "no reader");
    pe_kg_reader_end(r1);
    pe_kg_reader_end(r2);
    pe_kg_close(kg);
}

static void test_thread_readers(void)
{
    char dir[128];
    pe_kg *kg = open_new(dir, sizeof dir);
    volatile int stop = 0;
    reader_arg args[3];
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        args[i] = (reader_arg){.kg = kg, .stop = &stop};
        PE_CHECK(pthread_create(&th[i], NULL, reader_thread, &args[i]) == 0);
    }
    /* every reader has looked once before the commits start: on a loaded
     * machine the 20 commits could otherwise end before a thread runs */
    for (int waited = 0; waited < 10000; waited++) {
        int ready = 0;
        for (int i = 0; i < 3; i++) ready += __atomic_load_n(&args[i].snapshots, __ATOMIC_RELAXED) > 0;
        if (ready == 3) break;
        usleep(1000);
    }
    for (int b = 0; b < 20; b++) {
        pe_kg_writer *w;
        PE_CHECK(pe_kg_writer_begin(kg, &w) == PE_OK);
        pe_kg_id p = I(w, "P1");
        for (int i = 0; i < 50; i++) {
            char q[16];
            snprintf(q, sizeof q, "Q%d", b * 50 + i + 1);
            link_e(w, I(w, q), p, I(w, "Q5"), 1);
        }
        PE_CHECK(pe_kg_writer_commit(w) == PE_OK);
    }
    stop = 1;
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        PE_CHECK_MSG(args[i].bad == 0, "reader %d: %d bad snapshots of %d", i, args[i].bad, args[i].snapshots);
        /* a reader that never looked would pass the check above */
        PE_CHECK_MSG(args[i].snapshots > 0, "reader %d saw no snapshot", i);
        PE_CHECK_MSG(args[i].final == 1000, "reader %d: %llu triples after the last commit", i,
                     (unsigned long long)args[i].final);
    }
    pe_kg_close(kg);
}

static void test_bad_stores(void)
{
    char path[160];
    pe_kg *kg = NULL;
    pe_error err;
    /* a file, not a directory */
    snprintf(path, sizeof path, "%s/afile", g_root);
    FILE *f = fopen(path, "w");
    PE_CHECK(f != NULL);
    if (f) { fputs("x", f); fclose(f); }
    kg = (pe_kg *)1;
    PE_CHECK(pe_kg_open(path, NULL, &kg, &err) == PE_ERR_IO);
    PE_CHECK(!kg && strstr(err.msg, "not a directory") && err.status == PE_ERR_IO);
    /* missing, read-only */
    snprintf(path, sizeof path, "%s/missing", g_root);
    pe_kg_options o = pe_kg_options_default();
    o.read_only = 1;
    PE_CHECK(pe_kg_open(path, &o, &kg, &err) == PE_ERR_IO);
    PE_CHECK(!kg && strstr(err.msg, "missing"));
    /* garbage data.mdb */
    snprintf(path, sizeof path, "%s/garbage", g_root);
    mkdir(path, 0755);
    char fp[200];
    snprintf(fp, sizeof fp, "%s/data.mdb", path);
    f = fopen(fp, "w");
    if (f) { for (int i = 0; i < 20000; i++) fputc('g', f); fclose(f); }
    PE_CHECK(pe_kg_open(path, NULL, &kg, NULL) == PE_ERR_CORRUPT); /* err may be NULL */
    PE_CHECK(kg == NULL);
    /* an LMDB environment of someone else: data in the main database */
    snprintf(path, sizeof path, "%s/foreign", g_root);
    mkdir(path, 0755);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    mdb_env_create(&env);
    mdb_env_set_maxdbs(env, 32);
    PE_CHECK(mdb_env_open(env, path, 0, 0664) == 0);
    mdb_txn_begin(env, NULL, 0, &txn);
    mdb_dbi_open(txn, NULL, 0, &dbi);
    MDB_val k = {3, "foo"}, d = {3, "bar"};
    mdb_put(txn, dbi, &k, &d, 0);
    PE_CHECK(mdb_txn_commit(txn) == 0);
    mdb_env_close(env);
    PE_CHECK(pe_kg_open(path, NULL, &kg, &err) == PE_ERR_CORRUPT);
    PE_CHECK(!kg && strstr(err.msg, "not a persona graph store"));
    /* a store of another layout version */
    char dir[128];
    kg = open_new(dir, sizeof dir);
    pe_kg_close(kg);
    mdb_env_create(&env);
    mdb_env_set_maxdbs(env, 32);
    mdb_env_set_mapsize(env, (size_t)1 << 30);
    PE_CHECK(mdb_env_open(env, dir, 0, 0664) == 0);
    mdb_txn_begin(env, NULL, 0, &txn);
    PE_CHECK(mdb_dbi_open(txn, "meta", 0, &dbi) == 0);
    unsigned char v2[4] = {0, 0, 0, 7};
    MDB_val vk = {14, "layout_version"}, vd = {4, v2};
    mdb_put(txn, dbi, &vk, &vd, 0);
    PE_CHECK(mdb_txn_commit(txn) == 0);
    mdb_env_close(env);
    PE_CHECK(pe_kg_open(dir, NULL, &kg, &err) == PE_ERR_CORRUPT);
    PE_CHECK_MSG(!kg && strstr(err.msg, "version 7"), "message: %s", err.msg);
    PE_CHECK(pe_kg_open(NULL, NULL, &kg, &err) == PE_ERR_INVALID);
    PE_CHECK(kg == NULL && strstr(err.msg, "directory"));
    pe_kg_close(NULL);
    pe_kg_writer_abort(NULL);
    pe_kg_reader_end(NULL);
    pe_kg_entity_free(NULL);
    pe_kg_iter_free(NULL);
}

/* A small map fills up: the failure is PE_ERR_FULL with a clear message,
 * the store stays as committed, and the grown map takes the batch again. */
static void test_map_full(void)
{
    char dir[128];
    pe_kg *kg = NULL;
    pe_kg_options o = pe_kg_options_default();
    o.map_size = 256 * 1024;
    PE_CHECK(pe_kg_open(newdir(dir, sizeof dir), &o, &kg, NULL) == PE_OK);
    char txt[200];
    memset(txt, 'x', sizeof txt);
    pe_status st = PE_OK;
    int attempts = 0, done = 0;
    while (!done && attempts < 8) {
        attempts++;
        pe_kg_writer *w;
        PE_CHECK(pe_kg_writer_begin(kg, &w) == PE_OK);
        st = PE_OK;
        for (int i = 0; i < 3000 && st == PE_OK; i++) {
            char q[16];
            snprintf(q, sizeof q, "Q%d", i + 1);
            pe_kg_id id = 0;
            st = pe_kg_intern(w, q, strlen(q), &id);
            if (st == PE_OK) {
                snprintf(txt, sizeof txt, "label number %d %0150d", i, i);
                st = pe_kg_put_text(w, id, PE_KG_LABEL, "en", txt, strlen(txt), 1);
            }
        }
        if (st == PE_OK) st = pe_kg_writer_commit(w);
        else {
            PE_CHECK_EQ_INT(st, PE_ERR_FULL);
            PE_CHECK(strstr(pe_kg_errmsg(kg), "full") != NULL);
            PE_CHECK(pe_kg_writer_commit(w) == PE_ERR_FULL); /* commit of a broken batch reports it */
        }
        done = st == PE_OK;
    }
    PE_CHECK_MSG(attempts > 1, "the map never filled");
    PE_CHECK(done);
    pe_kg_reader *r;
    PE_CHECK(pe_kg_reader_begin(kg, &r) == PE_OK);
    pe_kg_stats s;
    PE_CHECK(pe_kg_stats_get(r, &s) == PE_OK && s.entities == 3000);
    pe_kg_reader_end(r);
    pe_kg_close(kg);
}

/* ---- damaged stores and pe_kg_verify ---------------------------------------- */


/* Overwrites n bytes at the first occurrence of `find` (+ at) in dir/data.mdb. */
static int patch_store(const char *dir, const void *find, size_t flen, size_t at, const void *bytes, size_t n)
{
    char path[256];
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    FILE *f = fopen(path, "r+b");
    if (!f) return 0;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    char *buf = malloc((size_t)size);
    fseek(f, 0, SEEK_SET);
    int ok = buf && fread(buf, 1, (size_t)size, f) == (size_t)size;
    char *hit = ok ? memmem(buf, (size_t)size, find, flen) : NULL;
    if (hit) {
        fseek(f, (long)(hit - buf) + (long)at, SEEK_SET);
        ok = fwrite(bytes, 1, n, f) == n;
    }
    free(buf);
    fclose(f);
    return ok && hit;
}

typedef struct problems { int n; char first[512]; int text, osp, term; } problems;

static void on_problem(const char *msg, void *user)
{
    problems *p = user;
    if (p->n++ == 0) snprintf(p->first, sizeof p->first, "%s", msg);
    if (!strncmp(msg, "text:", 5)) p->text++;
    if (!strncmp(msg, "osp:", 4)) p->osp++;
    if (!strncmp(msg, "id2term:", 8)) p->term++;
}

/* A few bytes of data.mdb changed (the damaged store): readers
 * return PE_ERR_CORRUPT instead of reading outside the record, and
 * pe_kg_verify names what is damaged. */
static void test_damaged_store(void)
{
    char dir[128];
    pe_kg *kg = open_new(dir, sizeof dir);
    pe_kg_writer *w;
    PE_CHECK(pe_kg_writer_begin(kg, &w) == PE_OK);
    pe_kg_id q1 = I(w, "Q1"), p31 = I(w, "P31"), t = I(w, "http://ex.org/UniqueTermBBB");
    PE_CHECK(pe_kg_put_text(w, q1, PE_KG_LABEL, "en", "UniqueLabelAAA", 14, 7) == PE_OK);
    PE_CHECK(pe_kg_put_text(w, t, PE_KG_LABEL, "en", "UniqueLabelCCC", 14, 7) == PE_OK);
    link_e(w, q1, p31, t, 7);
    PE_CHECK(pe_kg_writer_commit(w) == PE_OK);
    verify_ok(kg, "fresh store");
    pe_kg_close(kg);

    /* 1. the text record's source count: its header now claims 65535
     *    sources, far past the end of the record */
    static const unsigned char rec[] = {0, 1, 0, 0, 0, 7, 'U', 'n', 'i', 'q', 'u', 'e', 'L', 'a', 'b', 'e', 'l',
                                        'A', 'A', 'A', 0};
    static const unsigned char ffff[] = {0xFF, 0xFF};
    PE_CHECK(patch_store(dir, rec, sizeof rec, 0, ffff, 2));
    /* 2. a dangling osp entry and a term without a closing NUL, written
     *    through LMDB itself (what a damaged page would hand back) */
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi osp, i2t;
    PE_CHECK(mdb_env_create(&env) == 0);
    mdb_env_set_maxdbs(env, 32);
    PE_CHECK(mdb_env_open(env, dir, 0, 0644) == 0);
    PE_CHECK(mdb_txn_begin(env, NULL, 0, &txn) == 0);
    PE_CHECK(mdb_dbi_open(txn, "osp", MDB_DUPSORT | MDB_DUPFIXED, &osp) == 0);
    PE_CHECK(mdb_dbi_open(txn, "id2term", 0, &i2t) == 0);
    unsigned char ok[8], ov[16], ik[8];
    pe_put_be64(ok, t);
    pe_put_be64(ov, 999);
    pe_put_be64(ov + 8, p31);
    MDB_val k = {8, ok}, v = {16, ov};
    PE_CHECK(mdb_put(txn, osp, &k, &v, 0) == 0);
    pe_put_be64(ik, p31);
    MDB_val k2 = {8, ik}, v2 = {3, "P31"}; /* no NUL */
    PE_CHECK(mdb_put(txn, i2t, &k2, &v2, 0) == 0);
    PE_CHECK(mdb_txn_commit(txn) == 0);
    mdb_env_close(env);

    pe_kg_options o = pe_kg_options_default();
    o.read_only = 1;
    PE_CHECK(pe_kg_open(dir, &o, &kg, NULL) == PE_OK);
    pe_kg_reader *r;
    PE_CHECK(pe_kg_reader_begin(kg, &r) == PE_OK);
    pe_kg_entity *e = NULL;
    PE_CHECK(pe_kg_entity_get(r, q1, &e) == PE_ERR_CORRUPT && e == NULL);
    PE_CHECK_MSG(strstr(pe_kg_reader_errmsg(r), "text record"), "%s", pe_kg_reader_errmsg(r));
    const char *l = NULL;
    PE_CHECK(pe_kg_label(r, q1, "en", &l) == PE_ERR_CORRUPT && l == NULL);
    /* the undamaged entity still reads */
    PE_CHECK(pe_kg_label(r, t, "en", &l) == PE_OK && l && !strcmp(l, "UniqueLabelCCC"));
    const char *term;
    PE_CHECK(pe_kg_term(r, p31, &term, NULL) == PE_ERR_CORRUPT);
    /* the dangling osp entry: iterating o's triples finds no spo record
     * for it (the rank/source probe fails), the iterator stays safe */
    pe_kg_iter *it;
    PE_CHECK(pe_kg_match(r, 0, 0, t, &it) == PE_OK);
    pe_kg_triple tr;
    int n = 0;
    while (pe_kg_iter_next(it, &tr) == PE_OK) n++;
    pe_kg_iter_free(it);
    PE_CHECK(n == 2);
    pe_kg_reader_end(r);

    problems pr = {0};
    pe_kg_verify_result vr;
    PE_CHECK(pe_kg_verify(kg, on_problem, &pr, &vr) == PE_ERR_CORRUPT);
    PE_CHECK_MSG(vr.problems == (uint64_t)pr.n && pr.text == 1 && pr.osp >= 1 && pr.term == 1,
                 "problems %d (text %d osp %d id2term %d), first: %s", pr.n, pr.text, pr.osp, pr.term, pr.first);
    PE_CHECK(strstr(pe_kg_errmsg(kg), "problems found"));
    pe_kg_close(kg);
}

int main(void)
{
    if (!pe_test_tmpdir(g_root, sizeof g_root, "pe_kgtest")) return 1;
    PE_RUN(test_intern_resolve);
    PE_RUN(test_texts);
    PE_RUN(test_values);
    PE_RUN(test_match_patterns);
    PE_RUN(test_many_triples);
    PE_RUN(test_types);
    PE_RUN(test_lookup);
    PE_RUN(test_ascii_fast_path);
    PE_RUN(test_sameas);
    PE_RUN(test_sameas_orders_identical);
    PE_RUN(test_sameas_swap_ids);
    PE_RUN(test_sameas_fresh_swap);
    PE_RUN(test_writer_reuse);
    PE_RUN(test_idmap);
    PE_RUN(test_sources);
    PE_RUN(test_persistence_and_abort);
    PE_RUN(test_reopen_intern);
    PE_RUN(test_no_sync);
    PE_RUN(test_fork_reader);
    PE_RUN(test_thread_readers);
    PE_RUN(test_handle_messages);
    PE_RUN(test_bad_stores);
    PE_RUN(test_map_full);
    PE_RUN(test_damaged_store);
    rm_rf(g_root);
    PE_TEST_EXIT();
}
