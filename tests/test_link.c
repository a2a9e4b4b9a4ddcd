/* test_link.c - the linker (pe_link.h) on a small fixture graph
 * (fixtures/link/graph.json, imported here): candidates (exact, variants,
 * acronyms, partial names, history, longer names, stems, fuzzy), each
 * feature (the context feature over the index's vectors, on and off), NIL,
 * span validation, the ranker's training and file, the link index's
 * staleness and the ELEVANT evaluation. */
#include "pe_import.h"
#include "pe_kg.h"
#include "pe_link.h"
#include "pe_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char tmpdir[64];
static pe_kg *kg;
static pe_linker *lk;       /* with the link index, prior only */
static pe_linker *lk_noix;  /* without the link index */
static char index_dir[160]; /* the link index without context vectors */
static char ctx_dir[160];   /* another with them (pe_link_index_embed) */

/* Entities added to the fixture graph here (Wikidata JSON lines): a city
 * whose label is its name only, a namesake whose label carries a qualifier
 * as encyclopedia titles do, and the qualifier's state, also called "FL";
 * a city and a team named after it, for names whose first word is an
 * abbreviation ("NY RANGERS"); names with an apostrophe and a hyphen that
 * people type without them ("mcdonalds", "walmart"). */
static const char k_extra_graph[] =
    "{\"type\":\"item\",\"id\":\"Q9100001\",\"labels\":{\"en\":{\"language\":\"en\",\"value\":\"Gainesville\"}},\"sitelinks\":{\"enwiki\":{\"site\":\"enwiki\",\"title\":\"x\",\"badges\":[]},\"dewiki\":{\"site\":\"dewiki\",\"title\":\"x\",\"badges\":[]}},\"claims\":{\"P31\":[{\"mainsnak\":{\"snaktype\":\"value\",\"property\":\"P31\",\"datavalue\":{\"value\":{\"entity-type\":\"item\",\"id\":\"Q515\"},\"type\":\"wikibase-entityid\"},\"datatype\":\"wikibase-item\"},\"type\":\"statement\",\"rank\":\"normal\"}]}}\n"
    "{\"type\":\"item\",\"id\":\"Q9100002\",\"labels\":{\"en\":{\"language\":\"en\",\"value\":\"Gainesville, Florida\"}},\"claims\":{\"P31\":[{\"mainsnak\":{\"snaktype\":\"value\",\"property\":\"P31\",\"datavalue\":{\"value\":{\"entity-type\":\"item\",\"id\":\"Q515\"},\"type\":\"wikibase-entityid\"},\"datatype\":\"wikibase-item\"},\"type\":\"statement\",\"rank\":\"normal\"}],\"P131\":[{\"mainsnak\":{\"snaktype\":\"value\",\"property\":\"P131\",\"datavalue\":{\"value\":{\"entity-type\":\"item\",\"id\":\"Q9100003\"},\"type\":\"wikibase-entityid\"},\"datatype\":\"wikibase-item\"},\"type\":\"statement\",\"rank\":\"normal\"}]}}\n"
    "{\"type\":\"item\",\"id\":\"Q9100003\",\"labels\":{\"en\":{\"language\":\"en\",\"value\":\"Florida\"}},\"aliases\":{\"en\":[{\"language\":\"en\",\"value\":\"FL\"}]},\"claims\":{\"P31\":[{\"mainsnak\":{\"snaktype\":\"value\",\"property\":\"P31\",\"datavalue\":{\"value\":{\"entity-type\":\"item\",\"id\":\"Q35657\"},\"type\":\"wikibase-entityid\"},\"datatype\":\"wikibase-item\"},\"type\":\"statement\",\"rank\":\"normal\"}]}}\n"
    "{\"type\":\"item\",\"id\":\"Q9100004\",\"labels\":{\"en\":{\"language\":\"en\",\"value\":\"New York\"}},\"claims\":{\"P31\":[{\"mainsnak\":{\"snaktype\":\"value\",\"property\":\"P31\",\"datavalue\":{\"value\":{\"entity-type\":\"item\",\"id\":\"Q515\"},\"type\":\"wikibase-entityid\"},\"datatype\":\"wikibase-item\"},\"type\":\"statement\",\"rank\":\"normal\"}]}}\n"
    "{\"type\":\"item\",\"id\":\"Q9100005\",\"labels\":{\"en\":{\"language\":\"en\",\"value\":\"New York Rangers\"}},\"claims\":{\"P31\":[{\"mainsnak\":{\"snaktype\":\"value\",\"property\":\"P31\",\"datavalue\":{\"value\":{\"entity-type\":\"item\",\"id\":\"Q847017\"},\"type\":\"wikibase-entityid\"},\"datatype\":\"wikibase-item\"},\"type\":\"statement\",\"rank\":\"normal\"}]}}\n"
    "{\"type\":\"item\",\"id\":\"Q9100006\",\"labels\":{\"en\":{\"language\":\"en\",\"value\":\"McDonald\xe2\x80\x99s\"}}}\n"
    "{\"type\":\"item\",\"id\":\"Q9100007\",\"labels\":{\"en\":{\"language\":\"en\",\"value\":\"Wal-Mart\"}}}\n"
    "{\"type\":\"item\",\"id\":\"Q9100008\",\"labels\":{\"en\":{\"language\":\"en\",\"value\":\"Lakeside-on-Sea\"}}}\n"
    "{\"type\":\"item\",\"id\":\"Q9100009\",\"labels\":{\"en\":{\"language\":\"en\",\"value\":\"Zu Po\"}},"
    "\"aliases\":{\"en\":[{\"language\":\"en\",\"value\":\"ZU-PO\"}]}}\n";

static const char *fixture(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    const char *dir = getenv("PE_FIXTURES");
    snprintf(buf[k], sizeof buf[k], "%s/link/%s", dir ? dir : PE_FIXTURES, name);
    return buf[k];
}

static pe_kg_id resolve(const char *term)
{
    pe_kg_reader *r;
    pe_kg_id id = 0;
    if (pe_kg_reader_begin(kg, &r) != PE_OK) return 0;
    if (pe_kg_resolve(r, term, strlen(term), &id) != PE_OK) id = 0;
    pe_kg_reader_end(r);
    return id;
}

/* Byte span of the n-th (0-based) occurrence of word in text. */
static pe_link_mention span(const char *text, const char *word, int nth, pe_link_type type)
{
    const char *p = text;
    for (int i = 0; i <= nth && p; i++) {
        p = strstr(p, word);
        if (p && i < nth) p += strlen(word);
    }
    pe_link_mention m = {0};
    if (!p) { fprintf(stderr, "no '%s' in '%s'\n", word, text); return m; }
    m.start = (size_t)(p - text);
    m.end = m.start + strlen(word);
    m.type = type;
    return m;
}

static const pe_link_candidate *find(const pe_link_mention_result *m, const char *qid)
{
    for (size_t i = 0; i < m->n_candidates; i++)
        if (strcmp(m->candidates[i].qid, qid) == 0) return &m->candidates[i];
    return NULL;
}

static pe_link_result *link(pe_linker *l, const char *text, const pe_link_mention *ms, size_t n);

/* The via bits of candidate qid when the first occurrence of word in text
 * is linked alone through l; -1 when qid is no candidate. */
static int via_of(pe_linker *l, const char *text, const char *word, const char *qid)
{
    pe_link_mention m = span(text, word, 0, 0);
    pe_link_result *r = link(l, text, &m, 1);
    const pe_link_candidate *c = r ? find(&r->mentions[0], qid) : NULL;
    int via = c ? (int)c->via : -1;
    pe_link_result_free(r);
    return via;
}

/* Links text with the given mentions through linker l with every candidate reported. */
static pe_link_result *link(pe_linker *l, const char *text, const pe_link_mention *ms, size_t n)
{
    pe_link_result *r = NULL;
    pe_status st = pe_link_text(l, NULL, text, strlen(text), ms, n, &r);
    PE_CHECK_MSG(st == PE_OK, "%s: %s", pe_status_str(st), pe_linker_errmsg(l));
    return r;
}

static void test_exact_and_prior(void)
{
    const char *t = "We went to Paris.";
    pe_link_mention m = span(t, "Paris", 0, PE_LINK_TYPE_ANY);
    pe_link_result *r = link(lk, t, &m, 1);
    if (!r) return;
    const pe_link_mention_result *mr = &r->mentions[0];
    PE_CHECK_EQ_STR(mr->surface, "Paris");
    PE_CHECK(!mr->nil);
    PE_CHECK(mr->entity && strcmp(mr->entity->qid, "Q90") == 0); /* most sitelinks: highest prior */
    PE_CHECK_EQ_STR(mr->entity ? mr->entity->label : NULL, "Paris");
    PE_CHECK(mr->n_considered >= 3);
    const pe_link_candidate *tx = find(mr, "Q830149"), *hil = find(mr, "Q47899"), *fr = find(mr, "Q90");
    PE_CHECK(tx && hil && fr);
    if (tx && hil && fr) {
        PE_CHECK(fr->via & PE_LINK_VIA_EXACT);
        PE_CHECK(fr->prior > tx->prior && tx->prior > 0);
        PE_CHECK_NEAR(fr->f[PE_LINK_F_LOG_PRIOR], log(fr->prior), 1e-9);
        PE_CHECK_EQ_INT(fr->f[PE_LINK_F_TOP_PRIOR], 1);
        PE_CHECK_EQ_INT(tx->f[PE_LINK_F_TOP_PRIOR], 0);
        PE_CHECK_EQ_INT(fr->f[PE_LINK_F_LABEL], 1);
        PE_CHECK_EQ_INT(hil->f[PE_LINK_F_LABEL], 0); /* "Paris" is only an alias of Paris Hilton */
        PE_CHECK_NEAR(fr->f[PE_LINK_F_NAME_SIM], 1.0, 1e-9);
        PE_CHECK(hil->f[PE_LINK_F_NAME_SIM] < 1.0);
        PE_CHECK(fr->f[PE_LINK_F_POPULARITY] > tx->f[PE_LINK_F_POPULARITY]);
        PE_CHECK_NEAR(fr->f[PE_LINK_F_AMBIGUITY], log((double)mr->n_considered) / 4, 1e-9);
        PE_CHECK_EQ_INT(fr->f[PE_LINK_F_TYPE], 0); /* no mention type */
        PE_CHECK_EQ_INT(fr->f[PE_LINK_F_CONTEXT], 0);
        PE_CHECK_EQ_INT(fr->f[PE_LINK_F_FUZZY], 0);
        /* without a model the score is the prior */
        PE_CHECK_NEAR(fr->score, fr->prior, 1e-12);
    }
    pe_link_result_free(r);
    pe_linker_info info;
    PE_CHECK_EQ_INT(pe_linker_info_get(lk, &info), PE_OK);
    PE_CHECK_EQ_INT(info.context, 0); /* no entity vectors: the context feature is off */
    PE_CHECK_EQ_INT(info.index, 1);
    PE_CHECK_EQ_INT(info.index_stale, 0);
    PE_CHECK(info.index_stats.forms > 10);
}

static void test_runner_ups_limit(void)
{
    pe_link_options o = pe_link_options_default();
    o.runner_ups = 1;
    pe_linker *l = NULL;
    PE_CHECK_EQ_INT(pe_linker_open(kg, NULL, &o, &l), PE_OK);
    const char *t = "Paris";
    pe_link_mention m = span(t, "Paris", 0, PE_LINK_TYPE_ANY);
    pe_link_result *r = link(l, t, &m, 1);
    if (r) {
        PE_CHECK_EQ_INT(r->mentions[0].n_candidates, 2);
        PE_CHECK(r->mentions[0].n_considered >= 3);
        PE_CHECK(r->mentions[0].candidates[0].score >= r->mentions[0].candidates[1].score);
    }
    pe_link_result_free(r);
    pe_linker_close(l);
    o = pe_link_options_default();
    o.max_candidates = 0;
    PE_CHECK_EQ_INT(pe_linker_open(kg, NULL, &o, &l), PE_ERR_INVALID);
    PE_CHECK(strstr(pe_linker_errmsg(l), "max_candidates") != NULL);
    pe_linker_close(l);
    pe_linker_close(NULL);
}

static void test_type_feature(void)
{
    const char *t = "Paris was there.";
    pe_link_mention m = span(t, "Paris", 0, PE_LINK_TYPE_PERSON);
    pe_link_result *r = link(lk, t, &m, 1);
    if (r) {
        const pe_link_candidate *hil = find(&r->mentions[0], "Q47899"), *fr = find(&r->mentions[0], "Q90");
        PE_CHECK(hil && fr);
        if (hil && fr) {
            PE_CHECK_EQ_INT(hil->f[PE_LINK_F_TYPE], 1);
            PE_CHECK_EQ_INT(fr->f[PE_LINK_F_TYPE], -1);
        }
    }
    pe_link_result_free(r);
    /* a relation's expected class: instances of Q515 (city) */
    m.type = PE_LINK_TYPE_ANY;
    m.expected = resolve("Q515");
    PE_CHECK(m.expected != 0);
    r = link(lk, t, &m, 1);
    if (r) {
        const pe_link_candidate *hil = find(&r->mentions[0], "Q47899"), *fr = find(&r->mentions[0], "Q90");
        PE_CHECK(hil && fr && hil->f[PE_LINK_F_TYPE] == -1 && fr->f[PE_LINK_F_TYPE] == 1);
    }
    pe_link_result_free(r);
    /* organisation through P279*: Seattle Mariners is a baseball team, a sports club, an organization */
    const char *t2 = "Seattle won.";
    pe_link_mention m2 = span(t2, "Seattle", 0, PE_LINK_TYPE_ORG);
    r = link(lk, t2, &m2, 1);
    if (r) {
        const pe_link_candidate *mar = find(&r->mentions[0], "Q1130849"), *city = find(&r->mentions[0], "Q5083");
        PE_CHECK(mar && city);
        if (mar && city) {
            PE_CHECK_EQ_INT(mar->f[PE_LINK_F_TYPE], 1);
            PE_CHECK_EQ_INT(city->f[PE_LINK_F_TYPE], -1);
            /* a longer name found from the mention */
            PE_CHECK(mar->via & PE_LINK_VIA_EXTENSION);
            PE_CHECK_EQ_INT(mar->f[PE_LINK_F_EXTENSION], 1);
            PE_CHECK_EQ_INT(city->f[PE_LINK_F_EXTENSION], 0);
        }
    }
    pe_link_result_free(r);
    pe_link_type ty;
    PE_CHECK(pe_link_type_parse("PER", &ty) == PE_OK && ty == PE_LINK_TYPE_PERSON);
    PE_CHECK(pe_link_type_parse("location", &ty) == PE_OK && ty == PE_LINK_TYPE_PLACE);
    PE_CHECK(pe_link_type_parse("creative-work", &ty) == PE_OK && ty == PE_LINK_TYPE_WORK);
    PE_CHECK_EQ_INT(pe_link_type_parse("planet", &ty), PE_ERR_INVALID);
    PE_CHECK_EQ_STR(pe_link_type_name(PE_LINK_TYPE_ORG), "organisation");
}

/* Sports teams: the team feature (classes through P279* to sports club),
 * team candidates named after a place ("Karlsruhe" -> Karlsruher SC through
 * the -er stem) and the second pass's type coherence. */
static void test_teams(void)
{
    const char *t = "Seattle Mariners 3 Karlsruhe 2";
    pe_link_mention ms[2] = {span(t, "Seattle Mariners", 0, 0), span(t, "Karlsruhe", 0, 0)};
    pe_link_result *r = link(lk, t, ms, 2);
    if (r) {
        const pe_link_candidate *mar = find(&r->mentions[0], "Q1130849");
        const pe_link_candidate *ksc = find(&r->mentions[1], "Q105853"), *city = find(&r->mentions[1], "Q1040");
        PE_CHECK(mar && ksc && city);
        if (mar && ksc && city) {
            PE_CHECK_EQ_INT(mar->f[PE_LINK_F_TEAM], 1);
            PE_CHECK_EQ_INT(ksc->f[PE_LINK_F_TEAM], 1);
            PE_CHECK_EQ_INT(city->f[PE_LINK_F_TEAM], 0);
            /* found only as the team named after the place: a longer name */
            PE_CHECK((ksc->via & PE_LINK_VIA_TEAM) && !(ksc->via & PE_LINK_VIA_EXACT));
            PE_CHECK_EQ_INT(ksc->f[PE_LINK_F_EXTENSION], 1);
            /* the other mention's first-pass mass is all on a team */
            PE_CHECK_NEAR(ksc->f[PE_LINK_F_COH_TYPE], 1.0, 1e-9);
            PE_CHECK_NEAR(city->f[PE_LINK_F_COH_TYPE], 0.0, 1e-9);
            PE_CHECK_NEAR(mar->f[PE_LINK_F_COH_TYPE], 0.5, 0.5); /* Karlsruhe's mass split by prior */
        }
    }
    pe_link_result_free(r);
    /* alone there is nothing to be coherent with */
    const char *t1 = "Karlsruhe";
    pe_link_mention m1 = span(t1, "Karlsruhe", 0, 0);
    r = link(lk, t1, &m1, 1);
    if (r) {
        const pe_link_candidate *ksc = find(&r->mentions[0], "Q105853"), *city = find(&r->mentions[0], "Q1040");
        PE_CHECK(ksc && city && ksc->f[PE_LINK_F_COH_TYPE] == 0 && city->f[PE_LINK_F_COH_TYPE] == 0);
    }
    pe_link_result_free(r);
    /* a ranker that weighs type coherence: the second pass picks the club
     * next to another team, the city alone */
    pe_link_model *m = NULL;
    PE_CHECK_EQ_INT(pe_link_model_new(&m), PE_OK);
    m->w[PE_LINK_F_TEAM] = -1;
    m->w[PE_LINK_F_COH_TYPE] = 10;
    pe_link_options o = pe_link_options_default();
    o.index_dir = index_dir;
    pe_linker *l = NULL;
    PE_CHECK_EQ_INT(pe_linker_open(kg, m, &o, &l), PE_OK);
    r = link(l, t, ms, 2);
    PE_CHECK(r && r->mentions[1].entity && strcmp(r->mentions[1].entity->qid, "Q105853") == 0);
    pe_link_result_free(r);
    r = link(l, t1, &m1, 1);
    PE_CHECK(r && r->mentions[0].entity && strcmp(r->mentions[0].entity->qid, "Q1040") == 0);
    pe_link_result_free(r);
    /* without coherence there is no second pass */
    pe_linker_close(l);
    o.coherence = 0;
    PE_CHECK_EQ_INT(pe_linker_open(kg, m, &o, &l), PE_OK);
    r = link(l, t, ms, 2);
    PE_CHECK(r && r->mentions[1].entity && strcmp(r->mentions[1].entity->qid, "Q1040") == 0);
    if (r) {
        const pe_link_candidate *ksc = find(&r->mentions[1], "Q105853");
        PE_CHECK(ksc && ksc->f[PE_LINK_F_COH_TYPE] == 0);
    }
    pe_link_result_free(r);
    pe_linker_close(l);
    pe_link_model_free(m);
}

/* A news dateline's place: the city feature fires for cities and towns
 * only, and only after a date or an agency (not after the masked dates of
 * the benchmark copies here: that would read the masking, not the text). */
static void test_dateline(void)
{
    static const char *texts[] = {"PARIS 1996-08-30 Talks resumed.", "PARIS (Reuters) - Talks resumed.",
                                  "PARIS ********** Talks resumed.", "Paris is where talks resumed.",
                                  "PARIS 1996 talks resumed."};
    static const int want[] = {1, 1, 0, 0, 0};
    for (int i = 0; i < 5; i++) {
        pe_link_mention m = {0, 5, PE_LINK_TYPE_ANY, 0};
        pe_link_result *r = link(lk, texts[i], &m, 1);
        if (!r) continue;
        const pe_link_candidate *fr = find(&r->mentions[0], "Q90"), *hil = find(&r->mentions[0], "Q47899");
        PE_CHECK_MSG(fr && fr->f[PE_LINK_F_DATELINE_CITY] == want[i], "text %d", i);
        PE_CHECK_MSG(hil && hil->f[PE_LINK_F_DATELINE_CITY] == 0, "text %d", i); /* a person */
        pe_link_result_free(r);
    }
}

static void test_coherence(void)
{
    /* Paris, Texas states P131 Texas: linked to the other mention's candidate */
    const char *t = "Paris is a town in Texas.";
    pe_link_mention ms[2] = {span(t, "Paris", 0, 0), span(t, "Texas", 0, 0)};
    pe_link_result *r = link(lk, t, ms, 2);
    if (r) {
        const pe_link_candidate *tx = find(&r->mentions[0], "Q830149"), *fr = find(&r->mentions[0], "Q90");
        PE_CHECK(tx && fr);
        if (tx && fr) {
            PE_CHECK(tx->f[PE_LINK_F_COH_LINK] > 0.5);
            PE_CHECK_EQ_INT(fr->f[PE_LINK_F_COH_LINK], 0);
            /* both Paris candidates are cities; Texas is not */
            PE_CHECK_EQ_INT(tx->f[PE_LINK_F_COH_CLASS], 0);
        }
    }
    pe_link_result_free(r);
    /* a ranker that weighs coherence picks Paris, Texas */
    pe_link_model *m;
    PE_CHECK_EQ_INT(pe_link_model_new(&m), PE_OK);
    m->w[PE_LINK_F_COH_LINK] = 20;
    pe_linker *l = NULL;
    PE_CHECK_EQ_INT(pe_linker_open(kg, m, NULL, &l), PE_OK);
    r = link(l, t, ms, 2);
    if (r) {
        PE_CHECK(r->mentions[0].entity && strcmp(r->mentions[0].entity->qid, "Q830149") == 0);
        PE_CHECK(r->mentions[1].entity && strcmp(r->mentions[1].entity->qid, "Q1439") == 0);
        PE_CHECK(r->mentions[0].entity && r->mentions[0].entity->score > 0.5);
    }
    pe_link_result_free(r);
    pe_linker_close(l);
    pe_link_model_free(m);
    /* shared neighbour: Texas and the NBA both state P17 USA */
    const char *t2 = "Texas and the National Basketball Association";
    pe_link_mention m2[2] = {span(t2, "Texas", 0, 0), span(t2, "National Basketball Association", 0, 0)};
    r = link(lk, t2, m2, 2);
    if (r) {
        const pe_link_candidate *tex = find(&r->mentions[0], "Q1439");
        PE_CHECK(tex && tex->f[PE_LINK_F_COH_SHARED] > 0.5 && tex->f[PE_LINK_F_COH_LINK] == 0);
    }
    pe_link_result_free(r);
    /* shared class: Seattle and Paris are both cities */
    const char *t3 = "Seattle and Paris";
    pe_link_mention m3[2] = {span(t3, "Seattle", 0, 0), span(t3, "Paris", 0, 0)};
    r = link(lk, t3, m3, 2);
    if (r) {
        const pe_link_candidate *fr = find(&r->mentions[1], "Q90"), *hil = find(&r->mentions[1], "Q47899");
        PE_CHECK(fr && hil && fr->f[PE_LINK_F_COH_CLASS] > 0.5 && hil->f[PE_LINK_F_COH_CLASS] == 0);
    }
    pe_link_result_free(r);
    /* the same form twice does not count as coherence */
    const char *t4 = "Paris, Paris";
    pe_link_mention m4[2] = {span(t4, "Paris", 0, 0), span(t4, "Paris", 1, 0)};
    r = link(lk, t4, m4, 2);
    if (r) {
        const pe_link_candidate *fr = find(&r->mentions[0], "Q90");
        PE_CHECK(fr && fr->f[PE_LINK_F_COH_CLASS] == 0 && fr->f[PE_LINK_F_COH_SHARED] == 0);
    }
    pe_link_result_free(r);
}

static void test_partial_names_and_history(void)
{
    const char *t = "Phil Simmons took four wickets. Simmons then batted.";
    pe_link_mention ms[2] = {span(t, "Phil Simmons", 0, 0), span(t, "Simmons", 1, 0)};
    pe_link_result *r = link(lk, t, ms, 2);
    if (r) {
        PE_CHECK(r->mentions[0].entity && strcmp(r->mentions[0].entity->qid, "Q7000001") == 0);
        const pe_link_candidate *p = find(&r->mentions[1], "Q7000001"), *u = find(&r->mentions[1], "Q7000002");
        PE_CHECK(p && (p->via & PE_LINK_VIA_PARTIAL) && p->f[PE_LINK_F_PARTIAL] == 1);
        PE_CHECK(u && !(u->via & PE_LINK_VIA_PARTIAL) && u->f[PE_LINK_F_PARTIAL] == 0);
        PE_CHECK(p && p->f[PE_LINK_F_PARTIAL_NIL] == 0);
    }
    pe_link_result_free(r);
    /* a surname before the full name also refers to it */
    const char *t1 = "Simmons: Phil Simmons";
    pe_link_mention m1[2] = {span(t1, "Simmons", 0, 0), span(t1, "Phil Simmons", 0, 0)};
    r = link(lk, t1, m1, 2);
    if (r) PE_CHECK(find(&r->mentions[0], "Q7000001") != NULL);
    pe_link_result_free(r);
    /* the longer name has no candidate: partial_nil */
    const char *t2 = "Bartholomew Zzyzx spoke. Zzyzx left.";
    pe_link_mention m2[2] = {span(t2, "Bartholomew Zzyzx", 0, 0), span(t2, "Zzyzx", 1, 0)};
    r = link(lk, t2, m2, 2);
    if (r) {
        PE_CHECK(r->mentions[0].nil && r->mentions[0].n_candidates == 0 && !r->mentions[0].entity);
        const pe_link_candidate *z = find(&r->mentions[1], "Q7000003");
        PE_CHECK(z && z->f[PE_LINK_F_PARTIAL_NIL] == 1);
    }
    pe_link_result_free(r);
    /* without partial names */
    pe_link_options o = pe_link_options_default();
    o.partial_names = 0;
    pe_linker *l = NULL;
    PE_CHECK_EQ_INT(pe_linker_open(kg, NULL, &o, &l), PE_OK);
    r = link(l, t, ms, 2);
    if (r) PE_CHECK(find(&r->mentions[1], "Q7000001") == NULL);
    pe_link_result_free(r);
    pe_linker_close(l);
    /* history: the full name in an earlier message of the same user */
    pe_link_history *h = NULL;
    PE_CHECK_EQ_INT(pe_link_history_new(&h), PE_OK);
    const char *a = "I met Phil Simmons.", *b = "Simmons was kind.";
    pe_link_mention ma = span(a, "Phil Simmons", 0, PE_LINK_TYPE_PERSON), mb = span(b, "Simmons", 0, 0);
    PE_CHECK_EQ_INT(pe_link_text(lk, h, a, strlen(a), &ma, 1, &r), PE_OK);
    pe_link_result_free(r);
    PE_CHECK_EQ_INT(pe_link_text(lk, h, b, strlen(b), &mb, 1, &r), PE_OK);
    if (r) {
        const pe_link_candidate *p = find(&r->mentions[0], "Q7000001");
        PE_CHECK(p && (p->via & PE_LINK_VIA_HISTORY) && p->f[PE_LINK_F_PARTIAL] == 1);
    }
    pe_link_result_free(r);
    /* without the history it is only a name ending with the word */
    PE_CHECK_EQ_INT(pe_link_text(lk, NULL, b, strlen(b), &mb, 1, &r), PE_OK);
    if (r) {
        const pe_link_candidate *p = find(&r->mentions[0], "Q7000001");
        PE_CHECK(p && p->via == PE_LINK_VIA_EXTENSION && p->f[PE_LINK_F_PARTIAL] == 0);
    }
    pe_link_result_free(r);
    pe_link_history_free(h);
    pe_link_history_free(NULL);
}

static void test_acronyms(void)
{
    const char *t = "The NBA said so.";
    pe_link_mention m = span(t, "NBA", 0, 0);
    pe_link_result *r = link(lk, t, &m, 1);
    if (r) {
        const pe_link_candidate *c = find(&r->mentions[0], "Q155223");
        PE_CHECK(c && (c->via & PE_LINK_VIA_ACRONYM) && c->f[PE_LINK_F_ACRONYM] == 1);
    }
    pe_link_result_free(r);
    /* a span with a bracket or punctuation it does not balance is read
     * without it ("NBA)" as "NBA"), and reported as given */
    const char *tp = "(we call it the NBA) or \"NBA!";
    pe_link_mention mp[2] = {span(tp, "NBA)", 0, 0), span(tp, "\"NBA!", 0, 0)};
    r = link(lk, tp, mp, 2);
    if (r) {
        for (int k = 0; k < 2; k++) {
            const pe_link_candidate *c = find(&r->mentions[k], "Q155223");
            PE_CHECK(c && (c->via & PE_LINK_VIA_ACRONYM) && c->f[PE_LINK_F_ACRONYM] == 1);
            PE_CHECK_EQ_INT(r->mentions[k].end - r->mentions[k].start, strlen(r->mentions[k].surface));
        }
        PE_CHECK_EQ_STR(r->mentions[0].surface, "NBA)");
    }
    pe_link_result_free(r);
    /* a span of many brackets it does not balance: read as "NBA" (in time
     * linear in the span: the brackets are counted once) */
    {
        const size_t nb = 50000;
        char *tb = malloc(nb + 4);
        if (tb) {
            memset(tb, '(', nb);
            memcpy(tb + nb, "NBA", 4);
            pe_link_mention mb = {0};
            mb.end = nb + 3;
            r = link(lk, tb, &mb, 1);
            if (r) {
                const pe_link_candidate *c = find(&r->mentions[0], "Q155223");
                PE_CHECK(c && (c->via & PE_LINK_VIA_ACRONYM));
                PE_CHECK_EQ_INT(r->mentions[0].end, nb + 3);
            }
            pe_link_result_free(r);
            free(tb);
        }
    }
    /* a NUL byte inside a span (the text's length is given, not strlen):
     * no read past what the span holds (ASan) */
    {
        static const char tz[] = "NBA\0xx said";
        pe_link_mention mz = {0};
        mz.end = 6;
        r = NULL;
        pe_status st = pe_link_text(lk, NULL, tz, sizeof tz - 1, &mz, 1, &r);
        PE_CHECK_MSG(st == PE_OK, "%s: %s", pe_status_str(st), pe_linker_errmsg(lk));
        if (r) PE_CHECK_EQ_INT(r->n, 1);
        pe_link_result_free(r);
    }
    /* dotted form */
    const char *t1 = "the N.B.A. said";
    pe_link_mention m1 = span(t1, "N.B.A.", 0, 0);
    r = link(lk, t1, &m1, 1);
    if (r) PE_CHECK(find(&r->mentions[0], "Q155223") != NULL);
    pe_link_result_free(r);
    /* without the index: only an earlier mention spelling it out helps */
    r = link(lk_noix, t, &m, 1);
    if (r) PE_CHECK(r->mentions[0].n_candidates == 0 && r->mentions[0].nil);
    pe_link_result_free(r);
    const char *t2 = "The National Basketball Association (NBA) said.";
    pe_link_mention m2[2] = {span(t2, "National Basketball Association", 0, 0), span(t2, "NBA", 0, 0)};
    r = link(lk_noix, t2, m2, 2);
    if (r) {
        const pe_link_candidate *c = find(&r->mentions[1], "Q155223");
        PE_CHECK(c && (c->via & PE_LINK_VIA_ACRONYM));
    }
    pe_link_result_free(r);
    /* "USA" is an alias: exact, not an acronym */
    const char *t3 = "in the USA";
    pe_link_mention m3 = span(t3, "USA", 0, 0);
    r = link(lk, t3, &m3, 1);
    if (r) PE_CHECK(r->mentions[0].entity && strcmp(r->mentions[0].entity->qid, "Q30") == 0 &&
                    (r->mentions[0].entity->via & PE_LINK_VIA_EXACT));
    pe_link_result_free(r);
    /* "U.S.A." names nothing: its letters are the alias "USA", even without the index */
    const char *t4 = "in the U.S.A. today";
    pe_link_mention m4 = span(t4, "U.S.A.", 0, 0);
    r = link(lk_noix, t4, &m4, 1);
    if (r) PE_CHECK(r->mentions[0].entity && strcmp(r->mentions[0].entity->qid, "Q30") == 0 &&
                    (r->mentions[0].entity->via & PE_LINK_VIA_EXACT) && r->mentions[0].entity->f[PE_LINK_F_TOP_PRIOR] == 1);
    pe_link_result_free(r);
}

/* Coherence counts the nearest PE_LINK_COHERENCE_WINDOW other mentions
 * only, in a long text too: 100 "Texas" then 100 "Paris"; Paris, Texas is
 * linked to Texas within the window of the 110th mention, not within that
 * of the 150th, and the 150th's features are those of a call given only
 * the mentions of its window. */
static void test_coherence_window(void)
{
    enum { N = 200 };
    char *t = malloc(N * 8 + 1);
    pe_link_mention *ms = calloc(N, sizeof *ms);
    if (!t || !ms) {
        free(t);
        free(ms);
        PE_CHECK(0);
        return;
    }
    size_t o = 0;
    for (int k = 0; k < N; k++) {
        const char *w = k < N / 2 ? "Texas" : "Paris";
        ms[k].start = o;
        o += (size_t)sprintf(t + o, "%s", w);
        ms[k].end = o;
        o += (size_t)sprintf(t + o, ". ");
    }
    const size_t half = PE_LINK_COHERENCE_WINDOW / 2, i_in = 110, i_out = 150;
    pe_link_result *r = link(lk, t, ms, N), *rw = link(lk, t, ms + (i_out - half), 2 * half + 1);
    if (r && rw) {
        const pe_link_candidate *in = find(&r->mentions[i_in], "Q830149"), *out = find(&r->mentions[i_out], "Q830149");
        const pe_link_candidate *w = find(&rw->mentions[half], "Q830149");
        PE_CHECK(in && out && w);
        if (in && out && w) {
            PE_CHECK(in->f[PE_LINK_F_COH_LINK] > 0);
            PE_CHECK_EQ_INT(out->f[PE_LINK_F_COH_LINK], 0);
            for (int f = PE_LINK_F_COH_LINK; f <= PE_LINK_F_COH_CLASS; f++)
                PE_CHECK_MSG(out->f[f] == w->f[f], "feature %d: %g against %g", f, out->f[f], w->f[f]);
        }
    }
    pe_link_result_free(r);
    pe_link_result_free(rw);
    free(t);
    free(ms);
}

static void test_fuzzy_stem_variant(void)
{
    const char *t = "Leicestershre won by 39 runs.";
    pe_link_mention m = span(t, "Leicestershre", 0, 0);
    pe_link_result *r = link(lk, t, &m, 1);
    if (r) {
        const pe_link_candidate *c = find(&r->mentions[0], "Q23106");
        PE_CHECK(c && (c->via & PE_LINK_VIA_FUZZY) && c->f[PE_LINK_F_FUZZY] == 1);
        PE_CHECK(c && c->f[PE_LINK_F_NAME_SIM] > 0.6 && c->f[PE_LINK_F_NAME_SIM] < 1);
    }
    pe_link_result_free(r);
    /* no fuzzy match without the index, nor with fuzzy off */
    r = link(lk_noix, t, &m, 1);
    if (r) PE_CHECK(r->mentions[0].nil && r->mentions[0].n_candidates == 0);
    pe_link_result_free(r);
    pe_link_options o = pe_link_options_default();
    o.fuzzy = 0;
    o.index_dir = index_dir;
    pe_linker *l = NULL;
    PE_CHECK_EQ_INT(pe_linker_open(kg, NULL, &o, &l), PE_OK);
    r = link(l, t, &m, 1);
    if (r) PE_CHECK(r->mentions[0].n_candidates == 0);
    pe_link_result_free(r);
    pe_linker_close(l);
    /* a demonym's stem */
    const char *t1 = "an Israeli official";
    pe_link_mention m1 = span(t1, "Israeli", 0, 0);
    r = link(lk, t1, &m1, 1);
    if (r) {
        const pe_link_candidate *c = find(&r->mentions[0], "Q801");
        PE_CHECK(c && (c->via & PE_LINK_VIA_STEM) && c->f[PE_LINK_F_STEM] == 1 && c->f[PE_LINK_F_STEM_PLACE] == 1);
        PE_CHECK(c && c->f[PE_LINK_F_STEM_NAME] == 1); /* "isr" */
    }
    pe_link_result_free(r);
    /* a doubled letter before the suffix once ("Scottish" -> "scot", Scotland's
     * alias), and the last word's suffix off a longer name ("South Korean") */
    const char *t6 = "a Scottish and a South Korean official";
    pe_link_mention m6[2] = {span(t6, "Scottish", 0, 0), span(t6, "South Korean", 0, 0)};
    r = link(lk, t6, m6, 2);
    if (r) {
        const pe_link_candidate *sc = find(&r->mentions[0], "Q22"), *sk = find(&r->mentions[1], "Q884");
        PE_CHECK(sc && (sc->via & PE_LINK_VIA_STEM) && sc->f[PE_LINK_F_STEM_PLACE] == 1);
        PE_CHECK(sk && (sk->via & PE_LINK_VIA_STEM) && sk->f[PE_LINK_F_STEM_PLACE] == 1);
    }
    pe_link_result_free(r);
    /* a place's adjective from the graph: Poland's official language */
    const char *tp = "a Polish official";
    pe_link_mention mp = span(tp, "Polish", 0, 0);
    r = link(lk, tp, &mp, 1);
    if (r) {
        const pe_link_candidate *pl = find(&r->mentions[0], "Q36"), *lang = find(&r->mentions[0], "Q809");
        PE_CHECK(pl && (pl->via & PE_LINK_VIA_STEM) && pl->f[PE_LINK_F_STEM] == 1 && pl->f[PE_LINK_F_STEM_PLACE] == 1);
        PE_CHECK(lang && (lang->via & PE_LINK_VIA_EXACT));
        PE_CHECK(pl && pl->f[PE_LINK_F_STEM_NAME] == 1 && lang && lang->f[PE_LINK_F_STEM_NAME] == 0);
        /* the language itself is a language (P31 Q34770), the country not */
        PE_CHECK(lang && lang->f[PE_LINK_F_LANG_PEOPLE] == 1);
        PE_CHECK(pl && pl->f[PE_LINK_F_LANG_PEOPLE] == 0);
    }
    pe_link_result_free(r);
    /* a name ending with the word */
    const char *t4 = "the Mariners won";
    pe_link_mention m4 = span(t4, "Mariners", 0, 0);
    r = link(lk, t4, &m4, 1);
    if (r) {
        const pe_link_candidate *c = find(&r->mentions[0], "Q1130849");
        PE_CHECK(c && (c->via & PE_LINK_VIA_EXTENSION) && c->f[PE_LINK_F_EXTENSION] == 1);
    }
    pe_link_result_free(r);
    /* a hashtag: the '#' is not a capital; "#mariners" is lower case */
    const char *t5 = "go #Mariners and #mariners";
    pe_link_mention m5[2] = {span(t5, "#Mariners", 0, 0), span(t5, "#mariners", 0, 0)};
    r = link(lk, t5, m5, 2);
    if (r) {
        const pe_link_candidate *a = find(&r->mentions[0], "Q1130849"), *b = find(&r->mentions[1], "Q1130849");
        PE_CHECK(a && (a->via & PE_LINK_VIA_EXTENSION));
        PE_CHECK(!b || !(b->via & PE_LINK_VIA_EXTENSION)); /* fuzzy may still find it */
    }
    pe_link_result_free(r);
    /* lower case: a common noun; its singular is looked up, no longer names or stems */
    const char *t3 = "two cities and seattle";
    pe_link_mention m3[2] = {span(t3, "cities", 0, 0), span(t3, "seattle", 0, 0)};
    r = link(lk, t3, m3, 2);
    if (r) {
        const pe_link_candidate *c = find(&r->mentions[0], "Q515");
        PE_CHECK(c && (c->via & PE_LINK_VIA_EXACT));
        PE_CHECK(find(&r->mentions[1], "Q5083") && !find(&r->mentions[1], "Q1130849"));
    }
    pe_link_result_free(r);
    /* a percent-encoded label matches its decoded form */
    const char *t2 = "Slobodan Milo\xc5\xa1\x65vi\xc4\x87 spoke.";
    pe_link_mention m2 = span(t2, "Slobodan Milo\xc5\xa1\x65vi\xc4\x87", 0, 0);
    r = link(lk, t2, &m2, 1);
    if (r) PE_CHECK(r->mentions[0].entity && strcmp(r->mentions[0].entity->qid, "Q1058") == 0);
    pe_link_result_free(r);
    /* words joined across an apostrophe (here U+2019) or a hyphen, as
     * people type them: a variant of the form, an exact candidate; not
     * without the link index */
    const char *tj = "lunch at mcdonalds then walmart, or McDonald's";
    pe_link_mention mj[3] = {span(tj, "mcdonalds", 0, 0), span(tj, "walmart", 0, 0), span(tj, "McDonald's", 0, 0)};
    r = link(lk, tj, mj, 3);
    if (r) {
        const pe_link_candidate *c = find(&r->mentions[0], "Q9100006");
        PE_CHECK(c && (c->via & PE_LINK_VIA_EXACT) && c->f[PE_LINK_F_FUZZY] == 0);
        c = find(&r->mentions[1], "Q9100007");
        PE_CHECK(c && (c->via & PE_LINK_VIA_EXACT));
        c = find(&r->mentions[2], "Q9100006"); /* "mcdonald s", the form itself */
        PE_CHECK(c && (c->via & PE_LINK_VIA_EXACT));
    }
    pe_link_result_free(r);
    /* joined words are looked up whole only: "lakesideonsea" is no longer
     * name or stem of "Lakeside" (the form "lakeside on sea" is, by words) */
    int via = via_of(lk, "Lakeside is quiet", "Lakeside", "Q9100008");
    PE_CHECK(via < 0 || !(via & PE_LINK_VIA_STEM));
    /* an alias whose form a label made first ("Zu Po", then "ZU-PO") still
     * gets its joined key */
    via = via_of(lk, "at zupo today", "zupo", "Q9100009");
    PE_CHECK(via >= 0 && (via & PE_LINK_VIA_EXACT));
    /* no joined key is cut to the key limit (it would match a mere prefix):
     * 479 bytes of the 500 of the long label's joined words */
    char longm[480];
    for (int i = 0; i < 479; i++) longm[i] = (char)('a' + i % 10);
    longm[479] = 0;
    via = via_of(lk, longm, longm, "Q9100010");
    PE_CHECK_MSG(via < 0 || !(via & PE_LINK_VIA_EXACT), "via %d", via);
    r = link(lk_noix, tj, mj, 3);
    if (r) PE_CHECK(!find(&r->mentions[0], "Q9100006") && !find(&r->mentions[1], "Q9100007") && find(&r->mentions[2], "Q9100006"));
    pe_link_result_free(r);
}

static void test_nil(void)
{
    const char *t = "Qwertyuiop and Paris";
    pe_link_mention ms[2] = {span(t, "Qwertyuiop", 0, 0), span(t, "Paris", 0, 0)};
    pe_link_result *r = link(lk, t, ms, 2);
    if (r) {
        PE_CHECK(r->mentions[0].nil && !r->mentions[0].entity && r->mentions[0].n_candidates == 0);
        PE_CHECK(!r->mentions[1].nil);
    }
    pe_link_result_free(r);
    /* a threshold above every score: NIL, the candidates still reported */
    pe_link_model *m;
    pe_link_model_new(&m);
    m->nil_threshold = 0.999;
    pe_linker *l = NULL;
    PE_CHECK_EQ_INT(pe_linker_open(kg, m, NULL, &l), PE_OK);
    r = link(l, t, ms, 2);
    if (r) {
        PE_CHECK(r->mentions[1].nil && !r->mentions[1].entity);
        PE_CHECK(r->mentions[1].n_candidates >= 1 && find(&r->mentions[1], "Q90"));
    }
    pe_link_result_free(r);
    pe_linker_close(l);
    pe_link_model_free(m);
    /* no mentions: an empty result */
    PE_CHECK_EQ_INT(pe_link_text(lk, NULL, t, strlen(t), NULL, 0, &r), PE_OK);
    PE_CHECK(r && r->n == 0);
    pe_link_result_free(r);
}

static void test_bad_input(void)
{
    pe_link_result *r = (pe_link_result *)1;
    pe_link_mention m = {0, 3, 0, 0};
    PE_CHECK_EQ_INT(pe_link_text(lk, NULL, "", 0, &m, 1, &r), PE_ERR_INVALID);
    PE_CHECK(r == NULL);
    PE_CHECK(strstr(pe_linker_errmsg(lk), "empty text") != NULL);
    PE_CHECK_EQ_INT(pe_link_text(lk, NULL, NULL, 4, &m, 1, &r), PE_ERR_INVALID);
    const char bad[] = "ab\xff\xfe cd";
    PE_CHECK_EQ_INT(pe_link_text(lk, NULL, bad, sizeof bad - 1, &m, 1, &r), PE_ERR_UTF8);
    PE_CHECK(strstr(pe_linker_errmsg(lk), "byte 2") != NULL);
    const char *t = "Caf\xc3\xa9 Paris"; /* é is 2 bytes at 3..5 */
    pe_link_mention out = {6, 20, 0, 0};
    PE_CHECK_EQ_INT(pe_link_text(lk, NULL, t, strlen(t), &out, 1, &r), PE_ERR_INVALID);
    PE_CHECK(strstr(pe_linker_errmsg(lk), "mention 0") && strstr(pe_linker_errmsg(lk), "outside"));
    pe_link_mention empty = {4, 4, 0, 0};
    PE_CHECK_EQ_INT(pe_link_text(lk, NULL, t, strlen(t), &empty, 1, &r), PE_ERR_INVALID);
    pe_link_mention mid[2] = {{6, 11, 0, 0}, {0, 4, 0, 0}}; /* the second ends inside é */
    PE_CHECK_EQ_INT(pe_link_text(lk, NULL, t, strlen(t), mid, 2, &r), PE_ERR_INVALID);
    PE_CHECK(strstr(pe_linker_errmsg(lk), "mention 1") && strstr(pe_linker_errmsg(lk), "boundar"));
    pe_link_mention mid2 = {4, 11, 0, 0}; /* starts inside é */
    PE_CHECK_EQ_INT(pe_link_text(lk, NULL, t, strlen(t), &mid2, 1, &r), PE_ERR_INVALID);
    pe_link_mention badtype = {6, 11, (pe_link_type)42, 0};
    PE_CHECK_EQ_INT(pe_link_text(lk, NULL, t, strlen(t), &badtype, 1, &r), PE_ERR_INVALID);
    PE_CHECK_EQ_INT(pe_link_text(lk, NULL, t, strlen(t), NULL, 1, &r), PE_ERR_INVALID);
    /* the valid span works, with the é before it */
    pe_link_mention ok = {6, 11, 0, 0};
    PE_CHECK_EQ_INT(pe_link_text(lk, NULL, t, strlen(t), &ok, 1, &r), PE_OK);
    if (r) PE_CHECK(r->mentions[0].entity && strcmp(r->mentions[0].entity->qid, "Q90") == 0);
    pe_link_result_free(r);
    pe_link_result_free(NULL);
    pe_linker *nl = NULL;
    PE_CHECK_EQ_INT(pe_linker_open(NULL, NULL, NULL, &nl), PE_ERR_INVALID);
    PE_CHECK(strstr(pe_linker_errmsg(nl), "no store") != NULL);
    pe_linker_close(nl);
}

/* Synthetic mentions of 3 candidates: the gold one has a higher name_sim
 * (with noise); NIL mentions have low priors everywhere. */
static unsigned lcg = 12345;
static double rnd(void)
{
    lcg = lcg * 1103515245u + 12345u;
    return (double)((lcg >> 8) & 0xFFFF) / 65536.0;
}

static void synth(pe_link_trainset *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double f[3 * PE_LINK_NFEATURES] = {0};
        int nil = i % 4 == 0;
        int gold = nil ? -1 : (int)(i % 3);
        for (int k = 0; k < 3; k++) {
            double *x = f + k * PE_LINK_NFEATURES;
            x[PE_LINK_F_NAME_SIM] = (k == gold ? 0.8 : 0.3) + 0.3 * (rnd() - 0.5);
            x[PE_LINK_F_LOG_PRIOR] = nil ? -4 + rnd() : (k == gold ? -0.5 : -2) + rnd() - 0.5;
        }
        PE_CHECK_EQ_INT(pe_link_trainset_add(t, f, 3, gold), PE_OK);
    }
}

static void test_train(void)
{
    pe_link_trainset *t = NULL;
    PE_CHECK_EQ_INT(pe_link_trainset_new(&t), PE_OK);
    pe_link_model *m;
    pe_link_model_new(&m);
    pe_error err;
    PE_CHECK_EQ_INT(pe_link_train(t, NULL, m, &err), PE_ERR_INVALID); /* nothing to learn from */
    synth(t, 400);
    double bad[PE_LINK_NFEATURES] = {0};
    PE_CHECK_EQ_INT(pe_link_trainset_add(t, bad, 1, 1), PE_ERR_INVALID); /* gold out of range */
    bad[0] = NAN;
    PE_CHECK_EQ_INT(pe_link_trainset_add(t, bad, 1, 0), PE_ERR_INVALID);
    PE_CHECK_EQ_INT(pe_link_trainset_mentions(t), 400);
    pe_link_train_options o = pe_link_train_options_default();
    o.nil_max_loss = 0.05;
    PE_CHECK_EQ_INT(pe_link_train(t, &o, m, &err), PE_OK);
    PE_CHECK(m->w[PE_LINK_F_NAME_SIM] > 1);
    PE_CHECK(m->w[PE_LINK_F_LOG_PRIOR] > 0.3);
    PE_CHECK_EQ_INT(m->w[PE_LINK_F_CONTEXT], 0); /* a feature that is always 0 keeps weight 0 (L2) */
    PE_CHECK(m->nil_threshold > 0 && m->nil_threshold < 1);
    PE_CHECK_NEAR(m->nil_threshold_short, m->nil_threshold, 1e-12); /* no short text: one threshold */
    /* on fresh data: gold ranked first and NIL told apart */
    pe_link_trainset *t2 = NULL;
    pe_link_trainset_new(&t2);
    synth(t2, 200);
    lcg = 999;
    int right = 0;
    for (size_t i = 0; i < 200; i++) {
        double f[3 * PE_LINK_NFEATURES] = {0};
        int nil = i % 4 == 0, gold = nil ? -1 : (int)(i % 3);
        for (int k = 0; k < 3; k++) {
            double *x = f + k * PE_LINK_NFEATURES;
            x[PE_LINK_F_NAME_SIM] = (k == gold ? 0.8 : 0.3) + 0.3 * (rnd() - 0.5);
            x[PE_LINK_F_LOG_PRIOR] = nil ? -4 + rnd() : (k == gold ? -0.5 : -2) + rnd() - 0.5;
        }
        int best = 0;
        for (int k = 1; k < 3; k++)
            if (pe_link_model_score(m, f + k * PE_LINK_NFEATURES) > pe_link_model_score(m, f + best * PE_LINK_NFEATURES)) best = k;
        double s = pe_link_model_score(m, f + best * PE_LINK_NFEATURES);
        right += nil ? s < m->nil_threshold : (best == gold && s >= m->nil_threshold);
    }
    PE_CHECK_MSG(right >= 180, "%d of 200 right", right);
    pe_link_trainset_free(t2);
    /* without NIL tuning the threshold is 0 */
    o.tune_nil = 0;
    PE_CHECK_EQ_INT(pe_link_train(t, &o, m, &err), PE_OK);
    PE_CHECK_EQ_INT(m->nil_threshold, 0);
    PE_CHECK_EQ_INT(m->nil_threshold_short, 0);
    o.tune_nil = 1;
    /* short texts (few_mentions 1) whose NIL mentions score higher: a threshold of their own */
    pe_link_trainset *ts = NULL;
    pe_link_trainset_new(&ts);
    synth(ts, 400);
    for (size_t i = 0; i < 400; i++) {
        double f[2 * PE_LINK_NFEATURES] = {0};
        int nil = i % 2 == 0;
        for (int k = 0; k < 2; k++) {
            double *x = f + k * PE_LINK_NFEATURES;
            x[PE_LINK_F_FEW_MENTIONS] = 1;
            x[PE_LINK_F_NAME_SIM] = (k == 0 ? 0.8 : 0.3) + 0.3 * (rnd() - 0.5);
            x[PE_LINK_F_LOG_PRIOR] = (k == 0 ? (nil ? -1.5 : -0.5) : -2) + rnd() - 0.5;
        }
        PE_CHECK_EQ_INT(pe_link_trainset_add(ts, f, 2, nil ? -1 : 0), PE_OK);
    }
    PE_CHECK_EQ_INT(pe_link_train(ts, &o, m, &err), PE_OK);
    PE_CHECK(m->nil_threshold_short > 0 && m->nil_threshold_short < 1 && m->nil_threshold > 0);
    PE_CHECK_MSG(fabs(m->nil_threshold_short - m->nil_threshold) > 1e-3, "short %g, others %g", m->nil_threshold_short,
                 m->nil_threshold);
    pe_link_trainset_free(ts);
    /* the linker takes the short threshold for a text of at most PE_LINK_SHORT_TEXT mentions */
    {
        pe_link_model *mt;
        pe_link_model_new(&mt);
        PE_CHECK_EQ_INT(mt->nil_threshold_short, -1); /* -1: the one threshold */
        mt->nil_threshold = 0.999;
        mt->nil_threshold_short = 0;
        pe_linker *l = NULL;
        PE_CHECK_EQ_INT(pe_linker_open(kg, mt, NULL, &l), PE_OK);
        const char *tx = "Paris, Paris, Paris, Paris and Paris";
        pe_link_mention ms[PE_LINK_SHORT_TEXT + 1];
        for (int k = 0; k <= PE_LINK_SHORT_TEXT; k++) ms[k] = span(tx, "Paris", k, PE_LINK_TYPE_ANY);
        pe_link_result *r = link(l, tx, ms, 1);
        PE_CHECK(r && !r->mentions[0].nil);
        pe_link_result_free(r);
        r = link(l, tx, ms, PE_LINK_SHORT_TEXT + 1);
        PE_CHECK(r && r->mentions[0].nil);
        pe_link_result_free(r);
        pe_linker_close(l);
        pe_link_model_free(mt);
    }
    PE_CHECK_EQ_INT(pe_link_train(t, &o, m, &err), PE_OK);
    m->nil_threshold_short = 0.25;

    /* file round trip */
    char path[128], bad_path[128];
    snprintf(path, sizeof path, "%s/ranker.json", tmpdir);
    snprintf(m->trained_on, sizeof m->trained_on, "synthetic");
    PE_CHECK_EQ_INT(pe_link_model_save(m, path, &err), PE_OK);
    pe_link_model *m2 = NULL;
    PE_CHECK_EQ_INT(pe_link_model_load(path, &m2, &err), PE_OK);
    if (m2) {
        for (int i = 0; i < PE_LINK_NFEATURES; i++) PE_CHECK_NEAR(m2->w[i], m->w[i], 1e-12);
        PE_CHECK_NEAR(m2->bias, m->bias, 1e-12);
        PE_CHECK_NEAR(m2->nil_threshold, m->nil_threshold, 1e-12);
        PE_CHECK_NEAR(m2->nil_threshold_short, 0.25, 1e-12);
        PE_CHECK_EQ_STR(m2->trained_on, "synthetic");
    }
    pe_link_model_free(m2);
    /* bad files */
    const char *bads[] = {
        "not json",
        "{\"format\": \"other\", \"version\": 1}",
        "{\"format\": \"persona-link-ranker\", \"version\": 3, \"features\": [], \"weights\": [], \"bias\": 0, \"nil_threshold\": 0}",
        "{\"format\": \"persona-link-ranker\", \"version\": 1, \"features\": [\"warp\"], \"weights\": [1], \"bias\": 0, \"nil_threshold\": 0}",
        "{\"format\": \"persona-link-ranker\", \"version\": 1, \"features\": [\"prior\"], \"weights\": [], \"bias\": 0, \"nil_threshold\": 0}",
        "{\"format\": \"persona-link-ranker\", \"version\": 1, \"features\": [], \"weights\": [], \"bias\": 0, \"nil_threshold\": 2}",
        "{\"format\": \"persona-link-ranker\", \"version\": 1, \"features\": [], \"weights\": [], \"bias\": 0, \"nil_threshold\": 0, "
        "\"nil_threshold_short\": 3}",
    };
    pe_status want[] = {PE_ERR_PARSE, PE_ERR_PARSE, PE_ERR_UNSUPPORTED, PE_ERR_PARSE, PE_ERR_PARSE, PE_ERR_PARSE, PE_ERR_PARSE};
    snprintf(bad_path, sizeof bad_path, "%s/bad.json", tmpdir);
    for (size_t i = 0; i < sizeof bads / sizeof *bads; i++) {
        FILE *f = fopen(bad_path, "w");
        fputs(bads[i], f);
        fclose(f);
        m2 = (pe_link_model *)1;
        pe_status st = pe_link_model_load(bad_path, &m2, &err);
        PE_CHECK_MSG(st == want[i], "file %zu: %s (%s)", i, pe_status_str(st), err.msg);
        PE_CHECK(m2 == NULL);
        PE_CHECK(strstr(err.msg, bad_path) != NULL);
    }
    PE_CHECK_EQ_INT(pe_link_model_load("/nonexistent/ranker.json", &m2, &err), PE_ERR_IO);
    /* a file with a feature missing loads with weight 0 for it */
    FILE *f = fopen(bad_path, "w");
    fputs("{\"format\": \"persona-link-ranker\", \"version\": 1, \"features\": [\"log_prior\"], \"weights\": [2], "
          "\"bias\": -1, \"nil_threshold\": 0.5}", f);
    fclose(f);
    PE_CHECK_EQ_INT(pe_link_model_load(bad_path, &m2, &err), PE_OK);
    if (m2) {
        PE_CHECK_EQ_INT(m2->w[PE_LINK_F_LOG_PRIOR], 2);
        PE_CHECK_EQ_INT(m2->w[PE_LINK_F_NAME_SIM], 0);
        PE_CHECK_EQ_INT(m2->nil_threshold_short, -1); /* missing: the one threshold */
        double x[PE_LINK_NFEATURES] = {0};
        x[PE_LINK_F_LOG_PRIOR] = 0.5;
        PE_CHECK_NEAR(pe_link_model_score(m2, x), 0.5, 1e-12); /* sigmoid(-1 + 2 * 0.5) */
    }
    pe_link_model_free(m2);
    pe_link_model_free(m);
    pe_link_trainset_free(t);
    pe_link_trainset_free(NULL);
}

static void write_file(const char *path, const char *s)
{
    FILE *f = fopen(path, "w");
    if (!f) return;
    fputs(s, f);
    fclose(f);
}

/* Synthetic mentions whose gold candidate has the middle name_sim of its
 * three (0.5 against 0.1 and 0.9, with noise): no monotone (linear) score
 * ranks it first, a small MLP can. */
static void synth_middle(pe_link_trainset *t, size_t n, double *f_out)
{
    for (size_t i = 0; i < n; i++) {
        double f[3 * PE_LINK_NFEATURES] = {0};
        int gold = (int)(i % 3);
        for (int k = 0; k < 3; k++) {
            double *x = f + k * PE_LINK_NFEATURES;
            int slot = (k - gold + 3) % 3; /* 0: the gold, middle value */
            x[PE_LINK_F_NAME_SIM] = (slot == 0 ? 0.5 : slot == 1 ? 0.1 : 0.9) + 0.1 * (rnd() - 0.5);
            x[PE_LINK_F_LOG_PRIOR] = -1 + 0.2 * (rnd() - 0.5);
            x[PE_LINK_F_AMBIGUITY] = t ? log(3.0) / 4 : 0.1; /* one value in training (not 0), another after */
        }
        if (t) PE_CHECK_EQ_INT(pe_link_trainset_add(t, f, 3, gold), PE_OK);
        if (f_out) memcpy(f_out + i * 3 * PE_LINK_NFEATURES, f, sizeof f);
    }
}

/* share of the n mentions of f (3 candidates, gold i % 3) whose first
 * candidate by rerank is the gold */
static double middle_accuracy(const pe_link_model *m, const double *f, size_t n)
{
    size_t right = 0;
    for (size_t i = 0; i < n; i++) {
        const double *x = f + i * 3 * PE_LINK_NFEATURES;
        int best = 0;
        for (int k = 1; k < 3; k++)
            if (pe_link_model_rerank(m, x + k * PE_LINK_NFEATURES) > pe_link_model_rerank(m, x + best * PE_LINK_NFEATURES))
                best = k;
        right += best == (int)(i % 3);
    }
    return (double)right / (double)n;
}

/* The MLP reranker: it learns what the logistic regression cannot, its
 * standardisation is folded in (a constant feature gets no weight), it is
 * deterministic, its file round-trips, and the linker orders by it while
 * NIL reads the logistic regression's score of the candidate it put first. */
static void test_reranker(void)
{
    pe_link_trainset *t = NULL;
    PE_CHECK_EQ_INT(pe_link_trainset_new(&t), PE_OK);
    lcg = 4242;
    synth_middle(t, 600, NULL);
    enum { NT = 300 };
    double *fresh = malloc(NT * 3 * PE_LINK_NFEATURES * sizeof *fresh);
    PE_CHECK(fresh != NULL);
    if (!fresh) { pe_link_trainset_free(t); return; }
    synth_middle(NULL, NT, fresh);
    pe_link_model *lr = NULL, *m = NULL, *m2 = NULL;
    pe_link_model_new(&lr);
    pe_link_model_new(&m);
    pe_link_model_new(&m2);
    pe_error err;
    pe_link_train_options o = pe_link_train_options_default();
    PE_CHECK_EQ_INT(o.hidden, 16);
    PE_CHECK_EQ_INT(o.members, 3);
    o.hidden = 0;
    PE_CHECK_EQ_INT(pe_link_train(t, &o, lr, &err), PE_OK);
    PE_CHECK_EQ_INT(lr->hidden, 0);
    double acc_lr = middle_accuracy(lr, fresh, NT);
    PE_CHECK_MSG(acc_lr < 0.5, "logistic regression: %.3f", acc_lr);
    o = pe_link_train_options_default();
    o.hidden = 8;
    o.members = 2;
    o.epochs = 60;
    PE_CHECK_EQ_INT(pe_link_train(t, &o, m, &err), PE_OK);
    PE_CHECK_EQ_INT(m->hidden, 16);
    PE_CHECK_EQ_INT(m->members, 2);
    double acc = middle_accuracy(m, fresh, NT);
    PE_CHECK_MSG(acc > 0.9, "reranker: %.3f", acc);
    for (int i = 0; i < PE_LINK_NFEATURES; i++) PE_CHECK_NEAR(m->w[i], lr->w[i], 1e-12); /* the same linear model */
    for (int h = 0; h < m->hidden; h++) { /* constant in t: 0, and ln(3) / 4 (whose mean rounds) */
        PE_CHECK_EQ_INT(m->hw[h][PE_LINK_F_CONTEXT], 0);
        PE_CHECK_EQ_INT(m->hw[h][PE_LINK_F_AMBIGUITY], 0);
    }
    /* deterministic */
    PE_CHECK_EQ_INT(pe_link_train(t, &o, m2, &err), PE_OK);
    PE_CHECK(memcmp(m->hw, m2->hw, sizeof m->hw) == 0 && m->ob == m2->ob);
    /* another seed: other weights, the same skill */
    o.seed = 7;
    PE_CHECK_EQ_INT(pe_link_train(t, &o, m2, &err), PE_OK);
    PE_CHECK(memcmp(m->hw, m2->hw, sizeof m->hw) != 0);
    PE_CHECK(middle_accuracy(m2, fresh, NT) > 0.9);
    /* options out of range */
    o.members = 5;
    o.hidden = 16;
    PE_CHECK_EQ_INT(pe_link_train(t, &o, m2, &err), PE_ERR_INVALID);
    o.hidden = -1;
    PE_CHECK_EQ_INT(pe_link_train(t, &o, m2, &err), PE_ERR_INVALID);
    o.hidden = 2; /* units x members would wrap in int */
    o.members = 1 << 30;
    PE_CHECK_EQ_INT(pe_link_train(t, &o, m2, &err), PE_ERR_INVALID);
    o.hidden = 65536;
    o.members = 65536;
    PE_CHECK_EQ_INT(pe_link_train(t, &o, m2, &err), PE_ERR_INVALID);
    /* file round trip (version 2) */
    char path[128];
    snprintf(path, sizeof path, "%s/reranker.json", tmpdir);
    PE_CHECK_EQ_INT(pe_link_model_save(m, path, &err), PE_OK);
    pe_link_model *m3 = NULL;
    PE_CHECK_EQ_INT(pe_link_model_load(path, &m3, &err), PE_OK);
    if (m3) {
        PE_CHECK_EQ_INT(m3->hidden, 16);
        PE_CHECK_EQ_INT(m3->members, 2);
        PE_CHECK_EQ_INT(m3->epochs, 60);
        for (size_t i = 0; i < 20; i++)
            for (int k = 0; k < 3; k++) {
                const double *x = fresh + (i * 3 + (size_t)k) * PE_LINK_NFEATURES;
                PE_CHECK_NEAR(pe_link_model_rerank(m3, x), pe_link_model_rerank(m, x), 1e-12);
                PE_CHECK_NEAR(pe_link_model_score(m3, x), pe_link_model_score(m, x), 1e-12);
            }
    }
    pe_link_model_free(m3);
    /* a logistic regression alone is saved as version 1 */
    PE_CHECK_EQ_INT(pe_link_model_save(lr, path, &err), PE_OK);
    FILE *f = fopen(path, "r");
    char head[256] = {0};
    if (f) {
        PE_CHECK(fread(head, 1, sizeof head - 1, f) > 0);
        fclose(f);
    }
    PE_CHECK(strstr(head, "\"version\": 1") != NULL || strstr(head, "\"version\":\t1") != NULL);
    /* bad reranker objects */
    const char *bads[] = {
        "{\"format\": \"persona-link-ranker\", \"version\": 2, \"features\": [\"name_sim\"], \"weights\": [1], \"bias\": 0, "
        "\"nil_threshold\": 0}",
        "{\"format\": \"persona-link-ranker\", \"version\": 2, \"features\": [\"name_sim\"], \"weights\": [1], \"bias\": 0, "
        "\"nil_threshold\": 0, \"reranker\": {\"hidden\": 65, \"w1\": [], \"b1\": [], \"w2\": [], \"b2\": 0}}",
        "{\"format\": \"persona-link-ranker\", \"version\": 2, \"features\": [\"name_sim\"], \"weights\": [1], \"bias\": 0, "
        "\"nil_threshold\": 0, \"reranker\": {\"hidden\": 1, \"w1\": [[1, 2]], \"b1\": [0], \"w2\": [1], \"b2\": 0}}",
        "{\"format\": \"persona-link-ranker\", \"version\": 2, \"features\": [\"name_sim\"], \"weights\": [1], \"bias\": 0, "
        "\"nil_threshold\": 0, \"reranker\": {\"hidden\": 1, \"w1\": [[\"x\"]], \"b1\": [0], \"w2\": [1], \"b2\": 0}}",
        "{\"format\": \"persona-link-ranker\", \"version\": 2, \"features\": [\"name_sim\"], \"weights\": [1], \"bias\": 0, "
        "\"nil_threshold\": 0, \"reranker\": {\"hidden\": 2, \"w1\": [[1], [2]], \"b1\": [0], \"w2\": [1, 1], \"b2\": 0}}",
    };
    const char *why[] = {"\"reranker\" object", "\"hidden\"", "w1 row 0", "w1 row 0, entry 0", "must hold 2"};
    for (size_t i = 0; i < sizeof bads / sizeof *bads; i++) {
        write_file(path, bads[i]);
        m3 = (pe_link_model *)1;
        pe_status st = pe_link_model_load(path, &m3, &err);
        PE_CHECK_MSG(st == PE_ERR_PARSE && strstr(err.msg, why[i]), "file %zu: %s (%s)", i, pe_status_str(st), err.msg);
        PE_CHECK(m3 == NULL);
    }
    write_file(path, "{\"format\": \"persona-link-ranker\", \"version\": 2, \"features\": [\"name_sim\", \"team\"], "
                     "\"weights\": [1, 0], \"bias\": 0, \"nil_threshold\": 0, \"reranker\": {\"hidden\": 1, "
                     "\"w1\": [[0, 3]], \"b1\": [1], \"w2\": [2], \"b2\": -1}}");
    PE_CHECK_EQ_INT(pe_link_model_load(path, &m3, &err), PE_OK);
    if (m3) {
        double x[PE_LINK_NFEATURES] = {0};
        x[PE_LINK_F_TEAM] = 1;
        PE_CHECK_NEAR(pe_link_model_rerank(m3, x), 1 / (1 + exp(-7.0)), 1e-12); /* -1 + 2 * (1 + 3) */
        x[PE_LINK_F_TEAM] = -1;
        PE_CHECK_NEAR(pe_link_model_rerank(m3, x), 1 / (1 + exp(1.0)), 1e-12); /* ReLU: -1 + 2 * 0 */
    }
    pe_link_model_free(m3);
    /* a model whose reranker is out of range is refused, not read past */
    {
        pe_link_model *bad = NULL;
        pe_link_model_new(&bad);
        bad->hidden = PE_LINK_MAX_HIDDEN + 1;
        PE_CHECK_EQ_INT(pe_link_model_save(bad, path, &err), PE_ERR_INVALID);
        pe_linker *bl = NULL;
        PE_CHECK_EQ_INT(pe_linker_open(kg, bad, NULL, &bl), PE_ERR_INVALID);
        pe_linker_close(bl);
        pe_link_model_free(bad);
    }

    /* in the linker: "Karlsruhe" has the club and the city; the linear
     * model prefers the city, the reranker the club */
    pe_link_model *lm = NULL;
    pe_link_model_new(&lm);
    lm->w[PE_LINK_F_TEAM] = -1;
    lm->hidden = 1;
    lm->hw[0][PE_LINK_F_TEAM] = 10;
    lm->ow[0] = 1;
    pe_link_options lo = pe_link_options_default();
    lo.index_dir = index_dir;
    lo.coherence = 0;
    pe_linker *l = NULL;
    const char *tx = "Karlsruhe";
    pe_link_mention ms = span(tx, "Karlsruhe", 0, PE_LINK_TYPE_ANY);
    PE_CHECK_EQ_INT(pe_linker_open(kg, lm, &lo, &l), PE_OK);
    pe_link_result *r = link(l, tx, &ms, 1);
    double club_score = -1, city_score = -1;
    if (r) {
        const pe_link_mention_result *mr = &r->mentions[0];
        PE_CHECK(mr->entity && strcmp(mr->entity->qid, "Q105853") == 0);
        const pe_link_candidate *club = find(mr, "Q105853"), *city = find(mr, "Q1040");
        PE_CHECK(club && city);
        if (club && city) {
            club_score = club->score;
            city_score = city->score;
            PE_CHECK(club->rerank > city->rerank && club->score < city->score);
        }
    }
    pe_link_result_free(r);
    pe_linker_close(l);
    /* a threshold between the two scores: NIL, though the city's score is above it */
    lm->nil_threshold = 0.5 * (club_score + city_score);
    PE_CHECK_EQ_INT(pe_linker_open(kg, lm, &lo, &l), PE_OK);
    r = link(l, tx, &ms, 1);
    PE_CHECK(r && r->mentions[0].nil);
    pe_link_result_free(r);
    pe_linker_close(l);
    /* without a reranker (a version-1 ranker) rerank is the score */
    lm->hidden = 0;
    lm->nil_threshold = 0;
    PE_CHECK_EQ_INT(pe_linker_open(kg, lm, &lo, &l), PE_OK);
    r = link(l, tx, &ms, 1);
    PE_CHECK(r && r->mentions[0].entity && strcmp(r->mentions[0].entity->qid, "Q1040") == 0);
    for (size_t k = 0; r && k < r->mentions[0].n_candidates; k++)
        PE_CHECK(r->mentions[0].candidates[k].rerank == r->mentions[0].candidates[k].score);
    pe_link_result_free(r);
    pe_linker_close(l);
    pe_link_model_free(lm);
    free(fresh);
    pe_link_model_free(lr);
    pe_link_model_free(m);
    pe_link_model_free(m2);
    pe_link_trainset_free(t);
}

static void test_eval(void)
{
    char path[128];
    snprintf(path, sizeof path, "%s/tiny.benchmark.jsonl", tmpdir);
    /* spans in characters: "Café " is 5 characters but 6 bytes */
    write_file(path,
               "{\"text\": \"Caf\xc3\xa9 Paris and Texas\", \"labels\": ["
               "{\"span\": [5, 10], \"entity_id\": \"Q830149\", \"type\": \"Q27096213\"},"
               "{\"span\": [15, 20], \"entity_id\": \"Q1439\", \"type\": \"Q27096213\"},"
               "{\"span\": [0, 4], \"entity_id\": \"DATETIME\", \"type\": \"DATETIME\"}]}\n"
               "this line is broken\n"
               "{\"text\": \"Qwertyuiop met Phil Simmons\", \"labels\": ["
               "{\"span\": [0, 10], \"entity_id\": \"<NIL>\", \"type\": \"OTHER\"},"
               "{\"span\": [15, 27], \"entity_id\": \"Q7000001\", \"type\": \"Q215627\"},"
               "{\"span\": [0, 5], \"entity_id\": \"Q999999\", \"type\": \"OTHER\"}]}\n");
    pe_link_trainset *ts = NULL;
    pe_link_trainset_new(&ts);
    pe_link_eval_options o = pe_link_eval_options_default();
    o.collect = ts;
    pe_link_eval_result r;
    pe_error err;
    PE_CHECK_EQ_INT(pe_link_eval_file(lk, path, &o, &r, &err), PE_OK);
    PE_CHECK_EQ_INT(r.docs, 2);
    PE_CHECK_EQ_INT(r.skipped_lines, 1);
    PE_CHECK(strstr(r.first_error, "tiny.benchmark.jsonl:2:") != NULL);
    PE_CHECK_EQ_INT(r.skipped_labels, 1);
    PE_CHECK_EQ_INT(r.mentions, 5);
    PE_CHECK_EQ_INT(r.in_graph, 3);       /* Q999999 is not in the graph: NIL for it */
    PE_CHECK_EQ_INT(r.nil_gold, 2);
    PE_CHECK_EQ_INT(r.gold_in_candidates, 3);
    PE_CHECK_EQ_INT(r.prior_correct, 2); /* the prior baseline takes Paris, France */
    PE_CHECK_EQ_INT(r.correct, 2);       /* so does the prior-only linker */
    PE_CHECK_NEAR(r.in_graph_accuracy, 2.0 / 3, 1e-9);
    PE_CHECK_NEAR(r.candidate_recall, 1.0, 1e-9);
    PE_CHECK_EQ_INT(r.nil_predicted, 2); /* Qwertyuiop; "Qwert" finds nothing either */
    PE_CHECK_EQ_INT(r.nil_correct, 2);
    PE_CHECK_NEAR(r.nil_precision, 1.0, 1e-9);
    PE_CHECK_NEAR(r.nil_recall, 1.0, 1e-9);
    PE_CHECK(r.seconds > 0 && r.mentions_per_s > 0);
    PE_CHECK_EQ_INT(pe_link_trainset_mentions(ts), 5);
    pe_link_trainset_free(ts);
    /* strict: the broken line stops the run */
    o = pe_link_eval_options_default();
    o.strict = 1;
    PE_CHECK_EQ_INT(pe_link_eval_file(lk, path, &o, &r, &err), PE_ERR_PARSE);
    PE_CHECK(strstr(err.msg, ":2:") != NULL);
    /* gold types as mention types */
    o = pe_link_eval_options_default();
    o.gold_types = 1;
    o.max_docs = 1;
    PE_CHECK_EQ_INT(pe_link_eval_file(lk, path, &o, &r, &err), PE_OK);
    PE_CHECK_EQ_INT(r.docs, 1);
    PE_CHECK_EQ_INT(pe_link_eval_file(lk, "/nonexistent.jsonl", NULL, &r, &err), PE_ERR_IO);
    /* the trace: one JSON line a mention, appended */
    char trace[160];
    snprintf(trace, sizeof trace, "%s/trace.jsonl", tmpdir);
    remove(trace);
    o = pe_link_eval_options_default();
    o.trace = trace;
    PE_CHECK_EQ_INT(pe_link_eval_file(lk, path, &o, &r, &err), PE_OK);
    PE_CHECK_EQ_INT(pe_link_eval_file(lk, path, &o, &r, &err), PE_OK);
    FILE *f = fopen(trace, "rb");
    PE_CHECK(f != NULL);
    if (f) {
        char line[8192];
        int n = 0, paris = 0;
        while (fgets(line, sizeof line, f)) {
            n++;
            if (strstr(line, "\"surface\":\"Paris\"") && strstr(line, "\"gold\":\"Q830149\"") &&
                strstr(line, "\"file\":\"tiny.benchmark.jsonl\"") && strstr(line, "\"left\":\"Caf\xc3\xa9 [[\"") &&
                strstr(line, "\"in_graph\":true") && strstr(line, "\"qid\":\"Q90\"") && strstr(line, "\"log_prior\":"))
                paris++;
        }
        fclose(f);
        PE_CHECK_EQ_INT(n, 10);
        PE_CHECK_EQ_INT(paris, 2);
    }
    o.trace = "/nonexistent/dir/trace.jsonl";
    PE_CHECK_EQ_INT(pe_link_eval_file(lk, path, &o, &r, &err), PE_ERR_IO);
    /* sentences linked as texts of their own: "Simmons" no longer reaches
     * back to "Phil Simmons" in the sentence before */
    snprintf(path, sizeof path, "%s/sent.benchmark.jsonl", tmpdir);
    write_file(path, "{\"text\": \"Phil Simmons spoke. Then Simmons left.\", \"labels\": ["
                     "{\"span\": [0, 12], \"entity_id\": \"Q7000001\"},"
                     "{\"span\": [25, 32], \"entity_id\": \"Q7000001\"}]}\n");
    for (int sent = 0; sent < 2; sent++) {
        remove(trace);
        o = pe_link_eval_options_default();
        o.trace = trace;
        o.sentences = sent;
        PE_CHECK_EQ_INT(pe_link_eval_file(lk, path, &o, &r, &err), PE_OK);
        PE_CHECK_EQ_INT(r.mentions, 2);
        f = fopen(trace, "rb");
        char line[8192];
        int partial = 0, few = 0, n = 0;
        while (f && fgets(line, sizeof line, f)) {
            n++;
            if (strstr(line, "\"surface\":\"Simmons\"") && strstr(line, "\"partial\":1")) partial++;
            if (strstr(line, sent ? "\"few_mentions\":1" : "\"few_mentions\":0.5")) few++;
        }
        if (f) fclose(f);
        PE_CHECK_EQ_INT(n, 2);
        PE_CHECK_EQ_INT(partial, !sent);
        PE_CHECK_EQ_INT(few, 2);
    }
}

/* what test_train_file's callback saw */
typedef struct round_log {
    int calls, rounds[4], hidden[4], stop_after;
    size_t mentions[4];
} round_log;

static pe_status log_round(void *ctx, const pe_link_train_round *r, const pe_link_model *m, pe_error *err)
{
    round_log *g = ctx;
    if (g->calls < 4) {
        g->rounds[g->calls] = r->round;
        g->hidden[g->calls] = m->hidden;
        g->mentions[g->calls] = r->mentions;
    }
    g->calls++;
    PE_CHECK_EQ_INT(r->rounds, 2);
    PE_CHECK(r->seconds >= r->fit_seconds && r->fit_seconds >= 0);
    if (g->calls != g->stop_after) return PE_OK;
    return g->stop_after == 2 ? pe_error_set(err, PE_ERR_IO, "cannot save round %d", r->round + 1) : PE_ERR_IO;
}

/* pe_link_train_file: the rounds (the first by prior, the next with the
 * first's ranker, the reranker in the last only) give what the same loop
 * written out gives, bit for bit */
static void test_train_file(void)
{
    char path[128];
    snprintf(path, sizeof path, "%s/train.benchmark.jsonl", tmpdir);
    write_file(path,
               "{\"text\": \"From Paris to Texas. Paris is in Texas.\", \"labels\": ["
               "{\"span\": [5, 10], \"entity_id\": \"Q830149\"}, {\"span\": [14, 19], \"entity_id\": \"Q1439\"},"
               "{\"span\": [21, 26], \"entity_id\": \"Q830149\"}, {\"span\": [33, 38], \"entity_id\": \"Q1439\"}]}\n"
               "not json\n"
               "{\"text\": \"Paris is the capital. Phil Simmons met Qwertyuiop.\", \"labels\": ["
               "{\"span\": [0, 5], \"entity_id\": \"Q90\"}, {\"span\": [22, 34], \"entity_id\": \"Q7000001\"},"
               "{\"span\": [39, 49], \"entity_id\": \"<NIL>\"}]}\n"
               "{\"text\": \"Paris and Texas\", \"labels\": ["
               "{\"span\": [0, 5], \"entity_id\": \"Q830149\"}, {\"span\": [10, 15], \"entity_id\": \"Q1439\"}]}\n"
               "{\"text\": \"Simmons in Paris\", \"labels\": ["
               "{\"span\": [0, 7], \"entity_id\": \"Q7000001\"}, {\"span\": [11, 16], \"entity_id\": \"Q90\"}]}\n");
    pe_link_train_file_options o = pe_link_train_file_options_default();
    PE_CHECK_EQ_INT(o.rounds, 2);
    PE_CHECK_EQ_INT(o.sentences, 1);
    o.link.index_dir = index_dir;
    o.train.hidden = 4;
    o.train.members = 2;
    round_log g = {0};
    o.on_round = log_round;
    o.ctx = &g;
    pe_link_model *m = NULL, *w = NULL;
    pe_link_model_new(&m);
    pe_link_model_new(&w);
    pe_link_train_file_result res;
    pe_error err;
    PE_CHECK_EQ_INT(pe_link_train_file(kg, path, &o, m, &res, &err), PE_OK);
    PE_CHECK_EQ_INT(g.calls, 2);
    PE_CHECK(g.rounds[0] == 0 && g.rounds[1] == 1);
    PE_CHECK(g.hidden[0] == 0 && g.hidden[1] == 8); /* the reranker in the last round only */
    PE_CHECK_EQ_INT(res.skipped_lines, 1);
    PE_CHECK(strstr(res.first_error, "train.benchmark.jsonl:2:") != NULL);
    /* 11 mentions as documents and again sentence by sentence */
    PE_CHECK_EQ_INT(res.mentions, 22);
    PE_CHECK_EQ_INT(g.mentions[1], 22);
    PE_CHECK_EQ_STR(m->trained_on, "train.benchmark.jsonl (22 mentions)");
    /* the same two rounds written out */
    pe_link_train_options to = o.train;
    for (int round = 0; round < 2; round++) {
        pe_linker *l = NULL;
        PE_CHECK_EQ_INT(pe_linker_open(kg, round ? w : NULL, &o.link, &l), PE_OK);
        pe_link_trainset *ts = NULL;
        pe_link_trainset_new(&ts);
        pe_link_eval_options eo = pe_link_eval_options_default();
        eo.collect = ts;
        pe_link_eval_result er;
        PE_CHECK_EQ_INT(pe_link_eval_file(l, path, &eo, &er, &err), PE_OK);
        eo.sentences = 1;
        PE_CHECK_EQ_INT(pe_link_eval_file(l, path, &eo, &er, &err), PE_OK);
        pe_linker_close(l);
        to.hidden = round ? o.train.hidden : 0;
        PE_CHECK_EQ_INT(pe_link_train(ts, &to, w, &err), PE_OK);
        pe_link_trainset_free(ts);
    }
    PE_CHECK(memcmp(m->w, w->w, sizeof m->w) == 0 && m->bias == w->bias);
    PE_CHECK(m->nil_threshold == w->nil_threshold && m->nil_threshold_short == w->nil_threshold_short);
    PE_CHECK(m->hidden == w->hidden && memcmp(m->hw, w->hw, sizeof m->hw) == 0 && m->ob == w->ob);
    /* documents only, gold types, no callback, no result */
    o = pe_link_train_file_options_default();
    o.link.index_dir = index_dir;
    o.sentences = 0;
    o.gold_types = 1;
    o.rounds = 1;
    PE_CHECK_EQ_INT(pe_link_train_file(kg, path, &o, m, NULL, NULL), PE_OK);
    PE_CHECK_EQ_STR(m->trained_on, "train.benchmark.jsonl (11 mentions), gold types");
    PE_CHECK(m->hidden > 0); /* one round: it is the last */
    /* the callback stops it */
    o = pe_link_train_file_options_default();
    o.link.index_dir = index_dir;
    memset(&g, 0, sizeof g);
    g.stop_after = 1;
    o.on_round = log_round;
    o.ctx = &g;
    PE_CHECK_EQ_INT(pe_link_train_file(kg, path, &o, m, &res, &err), PE_ERR_IO);
    PE_CHECK_EQ_INT(g.calls, 1);
    PE_CHECK_EQ_STR(err.msg, "training stopped after round 1");
    /* with its own message */
    memset(&g, 0, sizeof g);
    g.stop_after = 2;
    PE_CHECK_EQ_INT(pe_link_train_file(kg, path, &o, m, &res, &err), PE_ERR_IO);
    PE_CHECK_EQ_INT(g.calls, 2);
    PE_CHECK_EQ_STR(err.msg, "cannot save round 2");
    /* bad arguments, a missing file */
    o = pe_link_train_file_options_default();
    o.rounds = 0;
    res.mentions = 99;
    PE_CHECK_EQ_INT(pe_link_train_file(kg, path, &o, m, &res, &err), PE_ERR_INVALID);
    PE_CHECK_EQ_INT(res.mentions, 0); /* res is cleared first */
    o.rounds = 17;
    PE_CHECK_EQ_INT(pe_link_train_file(kg, path, &o, m, &res, &err), PE_ERR_INVALID);
    PE_CHECK_EQ_INT(pe_link_train_file(kg, path, NULL, NULL, &res, &err), PE_ERR_INVALID);
    PE_CHECK_EQ_INT(pe_link_train_file(kg, "/nonexistent.benchmark.jsonl", NULL, m, &res, &err), PE_ERR_IO);
    PE_CHECK(strstr(err.msg, "/nonexistent.benchmark.jsonl") != NULL);
    pe_link_model_free(m);
    pe_link_model_free(w);
}

static double ctx_of(const pe_link_mention_result *m, const char *qid, int f)
{
    const pe_link_candidate *c = find(m, qid);
    return c ? c->f[f] : -1;
}

static void test_context(void)
{
    pe_link_options o = pe_link_options_default();
    o.index_dir = ctx_dir;
    pe_linker *l = NULL;
    PE_CHECK_EQ_INT(pe_linker_open(kg, NULL, &o, &l), PE_OK);
    pe_linker_info info;
    PE_CHECK_EQ_INT(pe_linker_info_get(l, &info), PE_OK);
    PE_CHECK_EQ_INT(info.context, 1);
    PE_CHECK(info.context_stats.vectors >= 20 && info.context_stats.words > 10);
    /* the words around the mention against each candidate's labels,
     * description and neighbours' labels: Texas for Paris, Texas */
    const char *t = "The ROADS of Texas lead to Paris.";
    pe_link_mention m = span(t, "Paris", 0, 0);
    pe_link_result *r = link(l, t, &m, 1);
    if (r) {
        PE_CHECK_EQ_INT(r->context_on, 1);
        double tx = ctx_of(&r->mentions[0], "Q830149", PE_LINK_F_CONTEXT);
        double fr = ctx_of(&r->mentions[0], "Q90", PE_LINK_F_CONTEXT);
        PE_CHECK(tx > 0 && tx <= 1 && fr >= 0 && tx > fr);
        PE_CHECK_NEAR(ctx_of(&r->mentions[0], "Q830149", PE_LINK_F_CONTEXT_REL), 1.0, 1e-9);
    }
    pe_link_result_free(r);
    const char *t2 = "Paris, the capital of France.";
    pe_link_mention m2 = span(t2, "Paris", 0, 0);
    r = link(l, t2, &m2, 1);
    if (r) {
        double tx = ctx_of(&r->mentions[0], "Q830149", PE_LINK_F_CONTEXT);
        double fr = ctx_of(&r->mentions[0], "Q90", PE_LINK_F_CONTEXT);
        PE_CHECK(fr > tx && fr > 0);
    }
    pe_link_result_free(r);
    /* a ranker that follows the context picks Paris, Texas */
    pe_link_model *mod = NULL;
    PE_CHECK_EQ_INT(pe_link_model_new(&mod), PE_OK);
    memset(mod->w, 0, sizeof mod->w);
    mod->w[PE_LINK_F_CONTEXT_REL] = 10;
    pe_linker *lm = NULL;
    PE_CHECK_EQ_INT(pe_linker_open(kg, mod, &o, &lm), PE_OK);
    r = link(lm, t, &m, 1);
    if (r) PE_CHECK(r->mentions[0].entity && strcmp(r->mentions[0].entity->qid, "Q830149") == 0);
    pe_link_result_free(r);
    pe_linker_close(lm);
    pe_link_model_free(mod);
    pe_linker_close(l);
    /* a window of 2 context words leaves Texas out */
    o.context_window = 2;
    PE_CHECK_EQ_INT(pe_linker_open(kg, NULL, &o, &l), PE_OK);
    const char *t3 = "Texas roads highways bridges tunnels Paris";
    pe_link_mention m3 = span(t3, "Paris", 0, 0);
    r = link(l, t3, &m3, 1);
    if (r) PE_CHECK_EQ_INT(ctx_of(&r->mentions[0], "Q830149", PE_LINK_F_CONTEXT), 0);
    pe_link_result_free(r);
    pe_linker_close(l);
    o.context_window = 0;
    PE_CHECK_EQ_INT(pe_linker_open(kg, NULL, &o, &l), PE_OK);
    r = link(l, t3, &m3, 1);
    if (r) PE_CHECK(ctx_of(&r->mentions[0], "Q830149", PE_LINK_F_CONTEXT) > 0);
    pe_link_result_free(r);
    pe_linker_close(l);
    /* switched off by the option */
    o.context = 0;
    PE_CHECK_EQ_INT(pe_linker_open(kg, NULL, &o, &l), PE_OK);
    pe_linker_info_get(l, &info);
    PE_CHECK_EQ_INT(info.context, 0);
    r = link(l, t, &m, 1);
    if (r) {
        PE_CHECK_EQ_INT(r->context_on, 0);
        PE_CHECK_EQ_INT(ctx_of(&r->mentions[0], "Q830149", PE_LINK_F_CONTEXT), 0);
    }
    pe_link_result_free(r);
    pe_linker_close(l);
    /* the index without vectors: the same candidates, the feature off */
    r = link(lk, t, &m, 1);
    if (r) {
        PE_CHECK_EQ_INT(r->context_on, 0);
        PE_CHECK(find(&r->mentions[0], "Q830149") && find(&r->mentions[0], "Q90"));
        PE_CHECK_EQ_INT(ctx_of(&r->mentions[0], "Q830149", PE_LINK_F_CONTEXT), 0);
    }
    pe_link_result_free(r);
    /* no index to add vectors to; a rebuild of the index drops them */
    pe_error err;
    char none[200];
    snprintf(none, sizeof none, "%s/no-index", tmpdir);
    PE_CHECK_EQ_INT(pe_link_index_embed(kg, none, NULL, &err), PE_ERR_IO);
    PE_CHECK_EQ_INT(pe_link_index_embed(NULL, ctx_dir, NULL, &err), PE_ERR_INVALID);
}

/* team_doc: how much the text is about matches, from the other mentions'
 * candidates of highest context; the first team of a mention gets it, its
 * candidates that are no team its opposite. */
static void test_team_doc(void)
{
    pe_link_options o = pe_link_options_default();
    o.index_dir = ctx_dir;
    pe_linker *l = NULL;
    PE_CHECK_EQ_INT(pe_linker_open(kg, NULL, &o, &l), PE_OK);
    /* "baseball team" (the Mariners' class) puts the Mariners first by context */
    const char *t = "Seattle Mariners beat Karlsruhe, the baseball team said.";
    pe_link_mention ms[2] = {span(t, "Seattle Mariners", 0, 0), span(t, "Karlsruhe", 0, 0)};
    pe_link_result *r = link(l, t, ms, 2);
    if (r) {
        PE_CHECK(ctx_of(&r->mentions[0], "Q1130849", PE_LINK_F_CONTEXT) > 0);
        PE_CHECK_NEAR(ctx_of(&r->mentions[1], "Q105853", PE_LINK_F_TEAM_DOC), 1.0, 1e-9);
        PE_CHECK_NEAR(ctx_of(&r->mentions[1], "Q1040", PE_LINK_F_TEAM_DOC), -1.0, 1e-9);
    }
    pe_link_result_free(r);
    /* alone, or with the context feature off: 0 */
    r = link(l, t, &ms[1], 1);
    if (r) {
        PE_CHECK_EQ_INT(ctx_of(&r->mentions[0], "Q105853", PE_LINK_F_TEAM_DOC), 0);
        PE_CHECK_EQ_INT(ctx_of(&r->mentions[0], "Q1040", PE_LINK_F_TEAM_DOC), 0);
    }
    pe_link_result_free(r);
    pe_linker_close(l);
    r = link(lk, t, ms, 2);
    if (r) {
        PE_CHECK_EQ_INT(ctx_of(&r->mentions[1], "Q105853", PE_LINK_F_TEAM_DOC), 0);
        PE_CHECK_EQ_INT(ctx_of(&r->mentions[1], "Q1040", PE_LINK_F_TEAM_DOC), 0);
    }
    pe_link_result_free(r);
}

static void test_stale_index(void)
{
    pe_import_options io = pe_import_options_default();
    pe_import_result res;
    pe_error err;
    PE_CHECK_EQ_INT(pe_import_file(kg, fixture("more.json"), &io, &res, &err), PE_OK);
    pe_link_options o = pe_link_options_default();
    o.index_dir = index_dir;
    pe_linker *l = NULL;
    PE_CHECK_EQ_INT(pe_linker_open(kg, NULL, &o, &l), PE_OK);
    pe_linker_info info;
    pe_linker_info_get(l, &info);
    PE_CHECK_EQ_INT(info.index, 1);
    PE_CHECK_EQ_INT(info.index_stale, 1);
    pe_linker_close(l);
    /* a directory that holds no index: the linker works without one */
    char empty[160];
    snprintf(empty, sizeof empty, "%s/none", tmpdir);
    o.index_dir = empty;
    PE_CHECK_EQ_INT(pe_linker_open(kg, NULL, &o, &l), PE_OK);
    pe_linker_info_get(l, &info);
    PE_CHECK_EQ_INT(info.index, 0);
    pe_linker_close(l);
    PE_CHECK_EQ_INT(pe_link_index_build(kg, "/proc/no/such/dir", NULL, &err), PE_ERR_IO);
    /* rebuilding an index drops its context vectors (entity ids may have
     * changed); embedding again brings them back */
    PE_CHECK_EQ_INT(pe_link_index_build(kg, ctx_dir, NULL, &err), PE_OK);
    o.index_dir = ctx_dir;
    PE_CHECK_EQ_INT(pe_linker_open(kg, NULL, &o, &l), PE_OK);
    pe_linker_info_get(l, &info);
    PE_CHECK_EQ_INT(info.index, 1);
    PE_CHECK_EQ_INT(info.context, 0);
    pe_linker_close(l);
    PE_CHECK_EQ_INT(pe_link_index_embed(kg, ctx_dir, NULL, &err), PE_OK);
    PE_CHECK_EQ_INT(pe_linker_open(kg, NULL, &o, &l), PE_OK);
    pe_linker_info_get(l, &info);
    PE_CHECK_EQ_INT(info.context, 1);
    PE_CHECK_EQ_INT(info.index_stale, 0);
    pe_linker_close(l);
}

/* PE_LINK_F_QUALIFIED and PE_LINK_F_QUALIFIER_NAMED: "Gainesville,
 * Florida" is the name "Gainesville" with a qualifier; the text names the
 * qualifier as words, as the first candidate of another mention ("FL"),
 * or as a candidate of the words right after the mention, a comma between
 * allowed, mention or not ("Gainesville, FL:"; not "FL" further on). */
static void test_qualified(void)
{
    const char *texts[5] = {"I live in Gainesville.", "I live in Gainesville, a town in Florida.", "Gainesville , FL",
                            "Gainesville, FL: sunny", "Gainesville is sunny, FL"};
    const int named[5] = {0, 1, 1, 1, 0};
    for (int t = 0; t < 5; t++) {
        pe_link_mention ms[2] = {span(texts[t], "Gainesville", 0, PE_LINK_TYPE_ANY), {0}};
        if (t == 2) ms[1] = span(texts[t], "FL", 0, PE_LINK_TYPE_ANY); /* a mention of its own there only */
        pe_link_result *r = link(lk, texts[t], ms, t == 2 ? 2 : 1);
        if (!r) return;
        const pe_link_candidate *plain = find(&r->mentions[0], "Q9100001"), *qual = find(&r->mentions[0], "Q9100002");
        PE_CHECK(plain && qual);
        if (plain && qual) {
            PE_CHECK(qual->via & PE_LINK_VIA_EXTENSION); /* "gainesville " starts its label */
            PE_CHECK_EQ_INT(qual->f[PE_LINK_F_QUALIFIED], 1);
            PE_CHECK_EQ_INT(plain->f[PE_LINK_F_QUALIFIED], 0);
            PE_CHECK_EQ_INT(qual->f[PE_LINK_F_QUALIFIER_NAMED], named[t]);
            PE_CHECK_EQ_INT(plain->f[PE_LINK_F_QUALIFIER_NAMED], 0);
        }
        if (t == 2) {
            const pe_link_candidate *fl = find(&r->mentions[1], "Q9100003");
            PE_CHECK(fl && fl->f[PE_LINK_F_TOP_PRIOR] == 1 && fl->f[PE_LINK_F_QUALIFIED] == 0);
            /* and the two are linked by a statement (P131), next to each other */
            PE_CHECK(qual && qual->f[PE_LINK_F_ADJACENT_LINK] > 0);
            PE_CHECK(plain && plain->f[PE_LINK_F_ADJACENT_LINK] == 0);
        }
        pe_link_result_free(r);
    }
    /* the qualifier inside the mention itself does not count as named */
    const char *t = "Gainesville Florida";
    pe_link_mention m = span(t, "Gainesville", 0, PE_LINK_TYPE_ANY);
    m.end = strlen(t);
    pe_link_result *r = link(lk, t, &m, 1);
    if (r) {
        const pe_link_candidate *qual = find(&r->mentions[0], "Q9100002");
        PE_CHECK(!qual || qual->f[PE_LINK_F_QUALIFIER_NAMED] == 0);
    }
    pe_link_result_free(r);
    /* another mention's edge inside a word does not cut the word:
     * "NorthFlorida" is one word, "North-Florida" two */
    const char *tw[2] = {"Gainesville and NorthFlorida today", "Gainesville and North-Florida today"};
    for (int k = 0; k < 2; k++) {
        pe_link_mention mw[2] = {span(tw[k], "Gainesville", 0, PE_LINK_TYPE_ANY), span(tw[k], "North", 0, PE_LINK_TYPE_ANY)};
        r = link(lk, tw[k], mw, 2);
        if (r) {
            const pe_link_candidate *qual = find(&r->mentions[0], "Q9100002");
            PE_CHECK(qual != NULL);
            if (qual) PE_CHECK_MSG(qual->f[PE_LINK_F_QUALIFIER_NAMED] == k, "%s: %g", tw[k], qual->f[PE_LINK_F_QUALIFIER_NAMED]);
        }
        pe_link_result_free(r);
    }
}

/* PE_LINK_F_ADJACENT_LINK: "Paris , Texas": the Paris in Texas (P131) and
 * Texas hold each other's prior; the Paris in France holds nothing; mentions
 * with a word between them are not adjacent. */
static void test_adjacent_link(void)
{
    const char *texts[3] = {"Paris , Texas", "Paris Texas", "Paris and Texas"};
    for (int t = 0; t < 3; t++) {
        pe_link_mention ms[2] = {span(texts[t], "Paris", 0, PE_LINK_TYPE_ANY), span(texts[t], "Texas", 0, PE_LINK_TYPE_ANY)};
        pe_link_result *r = link(lk, texts[t], ms, 2);
        if (!r) return;
        const pe_link_candidate *tx = find(&r->mentions[0], "Q830149"), *fr = find(&r->mentions[0], "Q90");
        const pe_link_candidate *state = find(&r->mentions[1], "Q1439");
        PE_CHECK(tx && fr && state);
        if (tx && fr && state) {
            if (t < 2) {
                PE_CHECK_NEAR(tx->f[PE_LINK_F_ADJACENT_LINK], state->prior, 1e-9); /* Texas: its own form */
                PE_CHECK_NEAR(state->f[PE_LINK_F_ADJACENT_LINK], tx->prior, 1e-9);
            } else {
                PE_CHECK_EQ_INT(tx->f[PE_LINK_F_ADJACENT_LINK], 0);
                PE_CHECK_EQ_INT(state->f[PE_LINK_F_ADJACENT_LINK], 0);
            }
            PE_CHECK_EQ_INT(fr->f[PE_LINK_F_ADJACENT_LINK], 0);
        }
        pe_link_result_free(r);
    }
    /* two commas: a list, not a pair */
    const char *t = "Paris , , Texas";
    pe_link_mention ms[2] = {span(t, "Paris", 0, PE_LINK_TYPE_ANY), span(t, "Texas", 0, PE_LINK_TYPE_ANY)};
    pe_link_result *r = link(lk, t, ms, 2);
    const pe_link_candidate *tx = r ? find(&r->mentions[0], "Q830149") : NULL;
    PE_CHECK(tx && tx->f[PE_LINK_F_ADJACENT_LINK] == 0);
    pe_link_result_free(r);
}

/* PE_LINK_F_SURNAME: "Simmons" alone reaches Phil Simmons, a person whose
 * label ends with it (a longer name); Simmons University is no person; the
 * candidate found through the full name in the same text is a partial name
 * instead. */
static void test_surname(void)
{
    const char *t = "Simmons took four wickets.";
    pe_link_mention m = span(t, "Simmons", 0, PE_LINK_TYPE_ANY);
    pe_link_result *r = link(lk, t, &m, 1);
    if (r) {
        const pe_link_candidate *p = find(&r->mentions[0], "Q7000001"), *u = find(&r->mentions[0], "Q7000002");
        PE_CHECK(p && u);
        PE_CHECK(p && (p->via & PE_LINK_VIA_EXTENSION) && p->f[PE_LINK_F_SURNAME] == 1);
        PE_CHECK(u && u->f[PE_LINK_F_SURNAME] == 0);
    }
    pe_link_result_free(r);
    const char *t2 = "Phil Simmons took four wickets. Simmons then batted.";
    pe_link_mention ms[2] = {span(t2, "Phil Simmons", 0, 0), span(t2, "Simmons", 1, 0)};
    r = link(lk, t2, ms, 2);
    if (r) {
        const pe_link_candidate *p = find(&r->mentions[1], "Q7000001"), *full = find(&r->mentions[0], "Q7000001");
        PE_CHECK(p && (p->via & PE_LINK_VIA_PARTIAL) && p->f[PE_LINK_F_SURNAME] == 0);
        PE_CHECK(full && full->f[PE_LINK_F_SURNAME] == 0); /* two words: no surname */
    }
    pe_link_result_free(r);
}

/* A name whose first word is an abbreviation and that finds nothing:
 * "NY RANGERS" -> "new york rangers" through the acronym table ("ny" ->
 * "new york"); a first word not all in capitals is no abbreviation. */
static void test_abbrev_first_word(void)
{
    const char *texts[3] = {"NY RANGERS 3 Boston 2", "ny rangers won", "Ny Rangers won"};
    const char *words[3] = {"NY RANGERS", "ny rangers", "Ny Rangers"};
    for (int t = 0; t < 3; t++) {
        pe_link_mention m = span(texts[t], words[t], 0, PE_LINK_TYPE_ANY);
        pe_link_result *r = link(lk, texts[t], &m, 1);
        if (!r) return;
        const pe_link_candidate *team = find(&r->mentions[0], "Q9100005");
        if (t == 0) {
            PE_CHECK(team && (team->via & PE_LINK_VIA_ACRONYM) && team->f[PE_LINK_F_ACRONYM] == 1);
            PE_CHECK(!r->mentions[0].nil && r->mentions[0].entity == team);
        } else {
            PE_CHECK(!team);
        }
        pe_link_result_free(r);
    }
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/pe_link_XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;
    char dir[128];
    snprintf(dir, sizeof dir, "%s/kg", tmpdir);
    pe_kg_options ko = pe_kg_options_default();
    ko.map_size = (size_t)64 << 20;
    pe_error err;
    pe_import_options io = pe_import_options_default();
    pe_import_result res;
    char extra[160];
    snprintf(extra, sizeof extra, "%s/extra.json", tmpdir);
    FILE *xf = fopen(extra, "w");
    if (!xf || fputs(k_extra_graph, xf) < 0) return 1;
    /* a label of 550 bytes with apostrophes: its joined key would be cut */
    fputs("{\"type\":\"item\",\"id\":\"Q9100010\",\"labels\":{\"en\":{\"language\":\"en\",\"value\":\"", xf);
    for (int i = 0; i < 50; i++) fputs("abcdefghij'", xf);
    if (fputs("\"}}}\n", xf) < 0 || fclose(xf) != 0) return 1;
    if (pe_kg_open(dir, &ko, &kg, &err) != PE_OK || pe_import_file(kg, fixture("graph.json"), &io, &res, &err) != PE_OK ||
        pe_import_file(kg, extra, &io, &res, &err) != PE_OK) {
        fprintf(stderr, "cannot build the fixture store: %s\n", err.msg);
        return 1;
    }
    snprintf(index_dir, sizeof index_dir, "%s/link", dir);
    pe_link_index_stats s;
    PE_CHECK_EQ_INT(pe_link_index_build(kg, index_dir, &s, &err), PE_OK);
    PE_CHECK(s.forms >= 20 && s.trigrams > 0 && s.postings > s.forms && s.acronyms > 0 && s.entities >= 20);
    snprintf(ctx_dir, sizeof ctx_dir, "%s/link-ctx", dir);
    pe_link_embed_stats es;
    PE_CHECK_EQ_INT(pe_link_index_build(kg, ctx_dir, NULL, &err), PE_OK);
    PE_CHECK_EQ_INT(pe_link_index_embed(kg, ctx_dir, &es, &err), PE_OK);
    PE_CHECK(es.vectors >= 20 && es.vectors <= es.entities && es.terms >= es.vectors && es.words > 10);
    pe_link_options o = pe_link_options_default();
    o.index_dir = index_dir;
    if (pe_linker_open(kg, NULL, &o, &lk) != PE_OK || pe_linker_open(kg, NULL, NULL, &lk_noix) != PE_OK) {
        fprintf(stderr, "cannot open linkers: %s\n", pe_linker_errmsg(lk));
        return 1;
    }
    PE_RUN(test_exact_and_prior);
    PE_RUN(test_runner_ups_limit);
    PE_RUN(test_type_feature);
    PE_RUN(test_coherence);
    PE_RUN(test_coherence_window);
    PE_RUN(test_teams);
    PE_RUN(test_dateline);
    PE_RUN(test_partial_names_and_history);
    PE_RUN(test_acronyms);
    PE_RUN(test_fuzzy_stem_variant);
    PE_RUN(test_nil);
    PE_RUN(test_bad_input);
    PE_RUN(test_train);
    PE_RUN(test_reranker);
    PE_RUN(test_eval);
    PE_RUN(test_train_file);
    PE_RUN(test_context);
    PE_RUN(test_team_doc);
    PE_RUN(test_qualified);
    PE_RUN(test_adjacent_link);
    PE_RUN(test_surname);
    PE_RUN(test_abbrev_first_word);
    pe_linker_close(lk);
    pe_linker_close(lk_noix);
    PE_RUN(test_stale_index); /* imports more: last */
    pe_kg_close(kg);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    PE_TEST_EXIT();
}
