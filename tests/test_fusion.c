/* Fusion: the schema table, timestamps, age patterns, policy files, and the
 * rules against the demo graph and a persona store (mapping, linking and
 * type checks, confidence accumulation, functional replacement, negation,
 * "used to", derived attributes with their facts, Art. 9 withholding,
 * idempotence), driven by hand-made triples (no model needed). */
#include "pe_fusion.h"
#include "pe_import.h"
#include "pe_kg.h"
#include "pe_link.h"
#include "pe_personastore.h"
#include "pe_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char tmpdir[512];

static void test_schema(void)
{
    size_t n = pe_fusion_schema_count();
    PE_CHECK(n >= 70);
    for (size_t i = 0; i < n; i++) {
        const pe_fusion_schema_entry *e = pe_fusion_schema_at(i);
        if (i) PE_CHECK_MSG(strcmp(pe_fusion_schema_at(i - 1)->relation, e->relation) < 0, "unsorted at %s", e->relation);
        PE_CHECK(pe_fusion_schema_find(e->relation) == e);
        if (e->polarity == PE_FUSION_ASSERT) PE_CHECK(e->attribute != NULL);
        if (e->polarity != PE_FUSION_ASSERT) PE_CHECK_MSG(e->targets || !strcmp(e->relation, "want_no"), "%s", e->relation);
    }
    PE_CHECK(pe_fusion_schema_at(n) == NULL);
    PE_CHECK(pe_fusion_schema_find("no_such_relation") == NULL);
    const pe_fusion_schema_entry *e = pe_fusion_schema_find("live_in_citystatecountry");
    PE_CHECK(e && e->functional && e->strict_type && !strcmp(e->attribute, "residence") && strstr(e->classes, "Q2221906"));
    e = pe_fusion_schema_find("have_pet");
    PE_CHECK(e && !e->functional && !strcmp(e->attribute, "pets"));
    PE_CHECK(pe_fusion_schema_find("health_status")->sensitivity == PE_PS_SENS_HEALTH);
    PE_CHECK(pe_fusion_schema_find("belief")->sensitivity == PE_PS_SENS_RELIGION);
    PE_CHECK(pe_fusion_schema_find("race")->sensitivity == PE_PS_SENS_ETHNICITY);
    PE_CHECK(pe_fusion_schema_find("dislike_food")->polarity == PE_FUSION_NEGATE);
    PE_CHECK(pe_fusion_schema_find("pre_employed_by_company")->polarity == PE_FUSION_PAST);
}

static void test_time(void)
{
    double t;
    PE_CHECK_EQ_INT(pe_fusion_parse_time("1700000000", &t), PE_OK);
    PE_CHECK_NEAR(t, 1700000000.0, 1e-6);
    PE_CHECK_EQ_INT(pe_fusion_parse_time("1700000000.5", &t), PE_OK);
    PE_CHECK_NEAR(t, 1700000000.5, 1e-6);
    PE_CHECK_EQ_INT(pe_fusion_parse_time("2023-11-14T22:13:20Z", &t), PE_OK);
    PE_CHECK_NEAR(t, 1700000000.0, 1e-6);
    PE_CHECK_EQ_INT(pe_fusion_parse_time("2023-11-15T00:13:20+02:00", &t), PE_OK);
    PE_CHECK_NEAR(t, 1700000000.0, 1e-6);
    PE_CHECK_EQ_INT(pe_fusion_parse_time("2023-11-14 22:13:20.25", &t), PE_OK);
    PE_CHECK_NEAR(t, 1700000000.25, 1e-6);
    PE_CHECK_EQ_INT(pe_fusion_parse_time("1970-01-01", &t), PE_OK);
    PE_CHECK_NEAR(t, 0.0, 1e-9);
    PE_CHECK_EQ_INT(pe_fusion_parse_time("2024-02-29", &t), PE_OK);
    PE_CHECK_EQ_INT(pe_fusion_parse_time("2023-02-29", &t), PE_ERR_PARSE);
    PE_CHECK_EQ_INT(pe_fusion_parse_time("2023-13-01", &t), PE_ERR_PARSE);
    PE_CHECK_EQ_INT(pe_fusion_parse_time("yesterday", &t), PE_ERR_PARSE);
    PE_CHECK_EQ_INT(pe_fusion_parse_time("", &t), PE_ERR_PARSE);
    PE_CHECK_EQ_INT(pe_fusion_parse_time("2023-11-14T25:00", &t), PE_ERR_PARSE);
    PE_CHECK_EQ_INT(pe_fusion_parse_time("12abc", &t), PE_ERR_PARSE);
}

static void age_is(const char *text, const char *want)
{
    char *v = NULL;
    size_t s = 0, e = 0;
    pe_status st = pe_fusion_match_age(text, strlen(text), &v, &s, &e);
    if (!want) {
        PE_CHECK_MSG(st == PE_NOT_FOUND, "\"%s\" gave age %s", text, v ? v : "?");
    } else {
        PE_CHECK_MSG(st == PE_OK && v && !strcmp(v, want), "\"%s\": wanted %s, got %s", text, want, v ? v : "none");
        PE_CHECK(e > s && e <= strlen(text));
    }
    free(v);
}

static void test_age(void)
{
    age_is("i'm 25 and i love dogs", "25");
    age_is("I am 31 years old.", "31");
    age_is("hi! im 19", "19");
    age_is("I\xe2\x80\x99m 42, a teacher", "42");
    age_is("i just turned 30 last week", "30");
    age_is("well i am in my forties now", "40s");
    age_is("i'm in my late 50s", "50s");
    age_is("i have 2 dogs", NULL);
    age_is("i am 6 feet tall", NULL);
    age_is("my son is 5 years old", NULL);
    age_is("i'm 6 years into my job", NULL);
    age_is("i am 300", NULL);
}

static void write_text(const char *path, const char *s)
{
    FILE *f = fopen(path, "w");
    if (!f) return;
    fputs(s, f);
    fclose(f);
}

static void test_policy(void)
{
    char p[700];
    snprintf(p, sizeof p, "%s/policy.json", tmpdir);
    pe_error err;
    pe_fusion_options o = pe_fusion_options_default();
    PE_CHECK_EQ_INT(o.allow_special, 0);
    write_text(p, "{\"allow\": [\"health\", \"religion\"], \"half_life_days\": 30}");
    PE_CHECK_EQ_INT(pe_fusion_policy_load(p, &o, &err), PE_OK);
    PE_CHECK(o.allow_special & (1u << PE_PS_SENS_HEALTH));
    PE_CHECK(o.allow_special & (1u << PE_PS_SENS_RELIGION));
    PE_CHECK(!(o.allow_special & (1u << PE_PS_SENS_POLITICS)));
    PE_CHECK_NEAR(o.half_life_days, 30, 1e-9);
    pe_fusion_options o2 = pe_fusion_options_default();
    write_text(p, "{\"allow\": [\"helth\"]}");
    PE_CHECK_EQ_INT(pe_fusion_policy_load(p, &o2, &err), PE_ERR_PARSE);
    PE_CHECK(strstr(err.msg, "unknown class") != NULL);
    PE_CHECK_EQ_INT(o2.allow_special, 0); /* untouched on failure */
    write_text(p, "{\"alow\": []}");
    PE_CHECK_EQ_INT(pe_fusion_policy_load(p, &o2, &err), PE_ERR_PARSE);
    write_text(p, "[1,2");
    PE_CHECK_EQ_INT(pe_fusion_policy_load(p, &o2, &err), PE_ERR_PARSE);
    snprintf(p, sizeof p, "%s/none.json", tmpdir);
    PE_CHECK_EQ_INT(pe_fusion_policy_load(p, &o2, &err), PE_ERR_IO);
}

/* ---- fusion against the demo graph ---- */

static pe_kg *kg;
static pe_kg_reader *kr;
static pe_ps *ps;

static int setup_graph(void)
{
    char dir[700], src[700], dst[700], cmd[1600];
    snprintf(dir, sizeof dir, "%s/kg", tmpdir);
    snprintf(src, sizeof src, "%s/data/demo/demo-wikidata.json", PE_SOURCE_DIR);
    /* a dated file name: the import records the dump date */
    snprintf(dst, sizeof dst, "%s/wikidata-20240501-demo.json", tmpdir);
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", src, dst);
    if (system(cmd) != 0) return -1;
    pe_kg_options ko = pe_kg_options_default();
    ko.map_size = (size_t)1 << 28;
    pe_error kerr;
    if (pe_kg_open(dir, &ko, &kg, &kerr) != PE_OK) return -1;
    pe_import_options io = pe_import_options_default();
    pe_import_result res;
    pe_error err;
    if (pe_import_file(kg, dst, &io, &res, &err) >= PE_ERR_FIRST) {
        fprintf(stderr, "import: %s\n", err.msg);
        return -1;
    }
    if (pe_kg_reader_begin(kg, &kr) != PE_OK) return -1;
    snprintf(dir, sizeof dir, "%s/ps", tmpdir);
    pe_ps_options po = pe_ps_options_default();
    po.map_size = (size_t)1 << 26;
    return pe_ps_open(dir, &po, &ps, &err) == PE_OK ? 0 : -1;
}

/* One message with triples given as (relation, object text) pairs. */
typedef struct tri {
    const char *relation, *object;
    float score;
} tri;

static pe_status fuse(pe_fusion *f, const char *user, const char *mid, double time, const char *text, const tri *t,
                      size_t n, pe_fusion_counts *c)
{
    pe_fusion_triple ft[8];
    for (size_t i = 0; i < n; i++) {
        const char *o = strstr(text, t[i].object);
        if (!o) return PE_ERR_INVALID;
        ft[i].relation = t[i].relation;
        ft[i].start = (size_t)(o - text);
        ft[i].end = ft[i].start + strlen(t[i].object);
        ft[i].score = t[i].score;
        ft[i].ner_score = NAN;
    }
    pe_ps_writer *w = NULL;
    pe_status st = pe_ps_writer_begin(ps, &w);
    if (st != PE_OK) return st;
    pe_fusion_message m = {user, mid, time, text, strlen(text)};
    pe_error err;
    st = pe_fusion_apply(f, w, &m, ft, n, c, &err);
    if (st != PE_OK) {
        fprintf(stderr, "fusion: %s\n", err.msg);
        pe_ps_writer_abort(w);
        return st;
    }
    return pe_ps_writer_commit(w);
}

static const pe_ps_attr *find_attr(const pe_ps_attr_list *l, const char *attribute, const char *value)
{
    for (size_t i = 0; l && i < l->n; i++)
        if (!strcmp(l->attrs[i].attribute, attribute) && (!value || !strcmp(l->attrs[i].value, value)))
            return &l->attrs[i];
    return NULL;
}

static pe_ps_attr_list *attrs_of(const char *user)
{
    pe_ps_reader *r = NULL;
    pe_ps_attr_list *l = NULL;
    if (pe_ps_reader_begin(ps, &r) != PE_OK) return NULL;
    pe_ps_attributes(r, user, NULL, PE_PS_LIST_HISTORY | PE_PS_LIST_EVIDENCE, &l);
    pe_ps_reader_end(r);
    return l;
}

static void test_fusion_rules(void)
{
    if (setup_graph() != 0) {
        PE_CHECK_MSG(0, "cannot set up the graph and the store");
        return;
    }
    pe_fusion_options o = pe_fusion_options_default();
    o.model_id = "tiny-test";
    o.model_version = "1";
    o.half_life_days = 0; /* no decay: confidences exact */
    pe_fusion *f = NULL;
    pe_error err;
    PE_CHECK_EQ_INT(pe_fusion_new(kr, &o, &f, &err), PE_OK);
    pe_fusion_counts c;
    memset(&c, 0, sizeof c);
    const double day = 86400, t0 = 1700000000;

    /* residence: linked, typed, the country derived through P17 */
    tri a[] = {{"live_in_citystatecountry", "Paris", 0.9f}, {"have_pet", "dog", 0.8f}};
    PE_CHECK_EQ_INT(fuse(f, "alice", "m1", t0, "I live in Paris with my dog, call me at +33 6 12 34 56 78.", a, 2, &c), PE_OK);
    pe_ps_attr_list *l = attrs_of("alice");
    const pe_ps_attr *res = find_attr(l, "residence", "paris");
    PE_CHECK(res && res->state == PE_PS_CURRENT && res->entity && !strcmp(res->entity, "Q90"));
    PE_CHECK(res && res->sensitivity == PE_PS_SENS_PERSONAL && res->functional);
    if (res) {
        PE_CHECK_NEAR(res->confidence, 0.9, 1e-6);
        PE_CHECK_EQ_INT(res->n_evidence, 1);
        const pe_ps_evidence *ev = &res->evidence[0];
        PE_CHECK_EQ_STR(ev->message_id, "m1");
        PE_CHECK_EQ_INT(ev->span_start, 10);
        PE_CHECK_EQ_INT(ev->span_end, 15);
        PE_CHECK_EQ_STR(ev->model_id, "tiny-test");
        PE_CHECK_EQ_STR(ev->rule, "map_relation");
        PE_CHECK(ev->method == PE_PS_FROM_MODEL);
        PE_CHECK(!isnan(ev->link_score) && ev->link_score > 0);
        PE_CHECK(ev->snippet && strstr(ev->snippet, "[number]") && !strstr(ev->snippet, "56 78"));
    }
    const pe_ps_attr *country = find_attr(l, "country", "france");
    PE_CHECK(country && country->entity && !strcmp(country->entity, "Q142"));
    if (country && country->n_evidence == 1) {
        const pe_ps_evidence *ev = &country->evidence[0];
        PE_CHECK(ev->method == PE_PS_FROM_GRAPH);
        PE_CHECK_EQ_STR(ev->rule, "derive_country_p17");
        PE_CHECK_EQ_INT(ev->n_facts, 1);
        if (ev->n_facts == 1) {
            PE_CHECK_EQ_STR(ev->facts[0].subject, "Q90");
            PE_CHECK_EQ_STR(ev->facts[0].predicate, "P17");
            PE_CHECK_EQ_STR(ev->facts[0].object, "Q142");
            PE_CHECK_EQ_STR(ev->facts[0].source, "wikidata-20240501-demo.json");
            PE_CHECK_EQ_STR(ev->facts[0].dump_date, "2024-05-01");
        }
        PE_CHECK_NEAR(country->confidence, 0.9 * 0.9, 1e-6);
    }
    const pe_ps_attr *pet = find_attr(l, "pets", "dog");
    PE_CHECK(pet && pet->entity && !strcmp(pet->entity, "Q144"));
    pe_ps_attr_list_free(l);

    /* independent evidence accumulates (noisy-OR) */
    tri b[] = {{"have_pet", "dog", 0.5f}};
    PE_CHECK_EQ_INT(fuse(f, "alice", "m2", t0 + day, "my dog is great", b, 1, &c), PE_OK);
    l = attrs_of("alice");
    pet = find_attr(l, "pets", "dog");
    PE_CHECK(pet && pet->n_evidence == 2);
    if (pet) PE_CHECK_NEAR(pet->confidence, 1 - (1 - 0.8) * (1 - 0.5), 1e-6);
    pe_ps_attr_list_free(l);

    /* the same message again changes nothing */
    uint64_t unchanged = c.unchanged;
    PE_CHECK_EQ_INT(fuse(f, "alice", "m2", t0 + day, "my dog is great", b, 1, &c), PE_OK);
    PE_CHECK_EQ_INT(c.unchanged, unchanged + 1);
    l = attrs_of("alice");
    pet = find_attr(l, "pets", "dog");
    PE_CHECK(pet && pet->n_evidence == 2);
    if (pet) PE_CHECK_NEAR(pet->confidence, 0.9, 1e-6);
    pe_ps_attr_list_free(l);

    /* a later residence replaces the functional value; the country follows */
    tri d[] = {{"live_in_citystatecountry", "Berlin", 0.7f}};
    PE_CHECK_EQ_INT(fuse(f, "alice", "m3", t0 + 30 * day, "I moved, now I live in Berlin", d, 1, &c), PE_OK);
    l = attrs_of("alice");
    res = find_attr(l, "residence", "berlin");
    PE_CHECK(res && res->state == PE_PS_CURRENT && res->entity && !strcmp(res->entity, "Q64"));
    if (res && res->n_evidence) PE_CHECK(res->evidence[0].replaced && !strcmp(res->evidence[0].replaced, "paris"));
    const pe_ps_attr *old = find_attr(l, "residence", "paris");
    PE_CHECK(old && old->state == PE_PS_HISTORY && old->replaced_by && !strcmp(old->replaced_by, "berlin"));
    country = find_attr(l, "country", "germany");
    PE_CHECK(country && country->state == PE_PS_CURRENT);
    pe_ps_attr_list_free(l);

    /* an older, weaker message does not displace the current value */
    tri d2[] = {{"live_in_citystatecountry", "Lyon", 0.6f}};
    PE_CHECK_EQ_INT(fuse(f, "alice", "m0", t0 - day, "I live in Lyon", d2, 1, &c), PE_OK);
    l = attrs_of("alice");
    PE_CHECK(find_attr(l, "residence", "berlin") && find_attr(l, "residence", "berlin")->state == PE_PS_CURRENT);
    PE_CHECK(find_attr(l, "residence", "lyon") && find_attr(l, "residence", "lyon")->state == PE_PS_HISTORY);
    /* ... and nothing is derived from a value kept in history */
    PE_CHECK(find_attr(l, "country", "germany") && find_attr(l, "country", "germany")->state == PE_PS_CURRENT);
    PE_CHECK(find_attr(l, "country", "france") && find_attr(l, "country", "france")->n_evidence == 1);
    pe_ps_attr_list_free(l);

    /* "used to": the past value is recorded and retracted, the current one stays */
    tri ut[] = {{"live_in_citystatecountry", "London", 0.9f}};
    PE_CHECK_EQ_INT(fuse(f, "alice", "m3b", t0 + 30 * day + 60, "i used to live in London", ut, 1, &c), PE_OK);
    l = attrs_of("alice");
    PE_CHECK(find_attr(l, "residence", "berlin") && find_attr(l, "residence", "berlin")->state == PE_PS_CURRENT);
    PE_CHECK(find_attr(l, "residence", "london") && find_attr(l, "residence", "london")->state == PE_PS_RETRACTED);
    PE_CHECK(find_attr(l, "country", "germany") && find_attr(l, "country", "germany")->state == PE_PS_CURRENT);
    pe_ps_attr_list_free(l);

    /* type check: a residence that is no place is rejected; a pet that is
     * no animal is down-weighted and loses its entity */
    uint64_t rejected = c.rejected;
    tri e[] = {{"live_in_citystatecountry", "pizza", 0.9f}, {"have_pet", "Madonna", 0.8f}};
    PE_CHECK_EQ_INT(fuse(f, "alice", "m4", t0 + 31 * day, "i live in pizza and my pet is Madonna", e, 2, &c), PE_OK);
    PE_CHECK_EQ_INT(c.rejected, rejected + 1);
    l = attrs_of("alice");
    PE_CHECK(find_attr(l, "residence", "pizza") == NULL);
    pet = find_attr(l, "pets", "madonna");
    PE_CHECK(pet && pet->entity == NULL);
    if (pet) {
        PE_CHECK_NEAR(pet->confidence, 0.8 * 0.5, 1e-6);
        PE_CHECK(pet->n_evidence == 1 && !strcmp(pet->evidence[0].rule, "type_mismatch_downweight"));
    }
    pe_ps_attr_list_free(l);

    /* negation: "i have no pets" retracts every pet; "dislike" retracts a like */
    tri g[] = {{"like_food", "pizza", 0.9f}};
    PE_CHECK_EQ_INT(fuse(f, "alice", "m5", t0 + 32 * day, "i love pizza", g, 1, &c), PE_OK);
    tri h[] = {{"have_no", "pets", 0.9f}, {"dislike", "pizza", 0.8f}};
    PE_CHECK_EQ_INT(fuse(f, "alice", "m6", t0 + 33 * day, "i have no pets now and i dislike pizza", h, 2, &c), PE_OK);
    l = attrs_of("alice");
    PE_CHECK(find_attr(l, "pets", "dog") && find_attr(l, "pets", "dog")->state == PE_PS_RETRACTED);
    PE_CHECK(find_attr(l, "pets", "madonna") && find_attr(l, "pets", "madonna")->state == PE_PS_RETRACTED);
    PE_CHECK(find_attr(l, "foods", "pizza") && find_attr(l, "foods", "pizza")->state == PE_PS_RETRACTED);
    PE_CHECK(find_attr(l, "dislikes", "pizza") && find_attr(l, "dislikes", "pizza")->state == PE_PS_CURRENT);
    PE_CHECK(find_attr(l, "does_not_have", "pets") != NULL);
    pe_ps_attr_list_free(l);

    /* polarity cues the model misses: a dislike verb turns like_food into
     * dislike_food; a negation before the object retracts; a negation
     * behind another subject ("i don't know but i love x") does not */
    tri dv1[] = {{"like_food", "sushi", 0.9f}, {"have_pet", "cat", 0.9f}};
    PE_CHECK_EQ_INT(fuse(f, "dave", "d1", t0, "i love sushi and i have a cat", dv1, 2, &c), PE_OK);
    tri dv2[] = {{"like_food", "sushi", 0.95f}};
    PE_CHECK_EQ_INT(fuse(f, "dave", "d2", t0 + day, "i really hate sushi", dv2, 1, &c), PE_OK);
    tri dv3[] = {{"have_pet", "pets", 0.6f}};
    PE_CHECK_EQ_INT(fuse(f, "dave", "d3", t0 + 2 * day, "i do not have any pets .", dv3, 1, &c), PE_OK);
    tri dv4[] = {{"like_food", "pizza", 0.9f}, {"like_animal", "dogs", 0.9f}};
    PE_CHECK_EQ_INT(fuse(f, "dave", "d4", t0 + 3 * day, "i don't know why but i love pizza. i can't stand dogs", dv4, 2, &c),
                    PE_OK);
    l = attrs_of("dave");
    PE_CHECK(find_attr(l, "foods", "sushi") && find_attr(l, "foods", "sushi")->state == PE_PS_RETRACTED);
    const pe_ps_attr *dis = find_attr(l, "disliked_foods", "sushi");
    PE_CHECK(dis && dis->state == PE_PS_CURRENT && dis->n_evidence == 1 &&
             !strcmp(dis->evidence[0].rule, "negation_dislike_verb"));
    PE_CHECK(find_attr(l, "pets", "cat") && find_attr(l, "pets", "cat")->state == PE_PS_RETRACTED);
    PE_CHECK(find_attr(l, "pets", "pets") == NULL);
    PE_CHECK(find_attr(l, "foods", "pizza") && find_attr(l, "foods", "pizza")->state == PE_PS_CURRENT);
    PE_CHECK(find_attr(l, "animals", "dogs") == NULL);
    PE_CHECK(find_attr(l, "disliked_animals", "dogs") && find_attr(l, "disliked_animals", "dogs")->state == PE_PS_CURRENT);
    pe_ps_attr_list_free(l);

    /* "used to" and pre_employed_by_company age out */
    tri k[] = {{"employed_by_company", "google", 0.9f}};
    PE_CHECK_EQ_INT(fuse(f, "bob", "b1", t0, "i work at google", k, 1, &c), PE_OK);
    tri k2[] = {{"pre_employed_by_company", "Google", 0.9f}, {"employed_by_company", "Apple", 0.9f}};
    PE_CHECK_EQ_INT(fuse(f, "bob", "b2", t0 + day, "i used to work at Google, now at Apple", k2, 2, &c), PE_OK);
    tri k3[] = {{"like_activity", "skiing", 0.9f}};
    PE_CHECK_EQ_INT(fuse(f, "bob", "b3", t0 + day, "i used to love skiing", k3, 1, &c), PE_OK);
    l = attrs_of("bob");
    PE_CHECK(find_attr(l, "former_employer", "google") != NULL);
    PE_CHECK(find_attr(l, "employer", "google") && find_attr(l, "employer", "google")->state != PE_PS_CURRENT);
    const pe_ps_attr *emp = find_attr(l, "employer", "apple");
    PE_CHECK(emp && emp->state == PE_PS_CURRENT && emp->entity && !strcmp(emp->entity, "Q312")); /* the company, not the fruit */
    PE_CHECK(find_attr(l, "activities", "skiing") && find_attr(l, "activities", "skiing")->state == PE_PS_RETRACTED);
    pe_ps_attr_list_free(l);

    /* a retracted value takes what was derived from it along */
    tri nl[] = {{"live_in_citystatecountry", "Berlin", 0.9f}};
    PE_CHECK_EQ_INT(fuse(f, "bob", "b5", t0 + 3 * day, "i no longer live in Berlin", nl, 1, &c), PE_OK);
    l = attrs_of("bob");
    PE_CHECK(l && find_attr(l, "residence", "berlin") == NULL); /* nothing to retract: never stored */
    pe_ps_attr_list_free(l);
    tri yes[] = {{"live_in_citystatecountry", "Berlin", 0.9f}};
    PE_CHECK_EQ_INT(fuse(f, "bob", "b6", t0 + 4 * day, "I live in Berlin", yes, 1, &c), PE_OK);
    PE_CHECK_EQ_INT(fuse(f, "bob", "b7", t0 + 5 * day, "i no longer live in Berlin", nl, 1, &c), PE_OK);
    l = attrs_of("bob");
    PE_CHECK(find_attr(l, "residence", "berlin") && find_attr(l, "residence", "berlin")->state == PE_PS_RETRACTED);
    PE_CHECK(find_attr(l, "country", "germany") && find_attr(l, "country", "germany")->state == PE_PS_RETRACTED);
    pe_ps_attr_list_free(l);

    /* age from the pattern, marked as such */
    PE_CHECK_EQ_INT(fuse(f, "bob", "b4", t0 + 2 * day, "i'm 34 and tired", NULL, 0, &c), PE_OK);
    l = attrs_of("bob");
    const pe_ps_attr *age = find_attr(l, "age", "34");
    PE_CHECK(age && age->n_evidence == 1 && age->evidence[0].method == PE_PS_FROM_PATTERN &&
             !strcmp(age->evidence[0].rule, "pattern_age") && age->evidence[0].model_id == NULL);
    pe_ps_attr_list_free(l);

    /* Art. 9: withheld by default (audit record, no attribute) */
    uint64_t withheld = c.withheld;
    tri s[] = {{"health_status", "diabetes", 0.9f}, {"diet", "kosher", 0.9f}};
    PE_CHECK_EQ_INT(fuse(f, "carol", "c1", t0, "i have diabetes and eat kosher", s, 2, &c), PE_OK);
    PE_CHECK_EQ_INT(c.withheld, withheld + 2);
    l = attrs_of("carol");
    PE_CHECK(l == NULL || (find_attr(l, "health", NULL) == NULL && find_attr(l, "diet", NULL) == NULL));
    pe_ps_attr_list_free(l);
    pe_ps_reader *r = NULL;
    PE_CHECK_EQ_INT(pe_ps_reader_begin(ps, &r), PE_OK);
    pe_ps_stats stt;
    PE_CHECK_EQ_INT(pe_ps_stats_get(r, &stt), PE_OK);
    int seen_withhold = 0;
    for (uint64_t q = 1; q <= stt.audit_records; q++) {
        pe_ps_audit_record ar;
        if (pe_ps_audit_get(r, q, &ar) == PE_OK && ar.kind == PE_PS_WITHHOLD && !strcmp(ar.attribute, "diet"))
            seen_withhold = ar.sensitivity == PE_PS_SENS_RELIGION; /* a diet implying a religion */
    }
    PE_CHECK(seen_withhold);
    PE_CHECK_EQ_INT(pe_ps_audit_verify(r, NULL), PE_OK);
    pe_ps_reader_end(r);
    /* ... and stored when the policy allows the class */
    pe_fusion_free(f);
    o.allow_special = 1u << PE_PS_SENS_HEALTH;
    PE_CHECK_EQ_INT(pe_fusion_new(kr, &o, &f, &err), PE_OK);
    PE_CHECK_EQ_INT(fuse(f, "carol", "c2", t0 + day, "i have asthma", (tri[]){{"health_status", "asthma", 0.9f}}, 1, &c), PE_OK);
    l = attrs_of("carol");
    const pe_ps_attr *hl = find_attr(l, "health", "asthma");
    PE_CHECK(hl && hl->sensitivity == PE_PS_SENS_HEALTH && hl->entity && !strcmp(hl->entity, "Q35869"));
    pe_ps_attr_list_free(l);

    /* derived attributes: genre through P136, sport through P641 */
    tri m[] = {{"favorite_music_artist", "the beatles", 0.9f}, {"like_general", "chelsea", 0.8f}};
    PE_CHECK_EQ_INT(fuse(f, "dan", "d1", t0, "i love the beatles and chelsea", m, 2, &c), PE_OK);
    l = attrs_of("dan");
    const pe_ps_attr *genre = find_attr(l, "genre", "rock music");
    PE_CHECK(genre && genre->entity && !strcmp(genre->entity, "Q11399"));
    if (genre && genre->n_evidence) PE_CHECK_EQ_STR(genre->evidence[0].facts[0].predicate, "P136");
    const pe_ps_attr *sport = find_attr(l, "sport", "association football");
    PE_CHECK(sport && sport->entity && !strcmp(sport->entity, "Q2736"));
    pe_ps_attr_list_free(l);

    /* an unknown relation, a low score, bad arguments */
    uint64_t ignored = c.ignored;
    tri u[] = {{"brand_new_relation", "kites", 0.9f}, {"have_pet", "cat", 0.1f}};
    PE_CHECK_EQ_INT(fuse(f, "dan", "d2", t0, "kites! and a cat", u, 2, &c), PE_OK);
    PE_CHECK_EQ_INT(c.ignored, ignored + 1);
    l = attrs_of("dan");
    PE_CHECK(find_attr(l, "other.brand_new_relation", "kites") != NULL);
    PE_CHECK(find_attr(l, "pets", "cat") == NULL);
    pe_ps_attr_list_free(l);
    /* no value out of an e-mail address */
    uint64_t rejected_before = c.rejected;
    tri em[] = {{"name", "alice", 0.9f}, {"like_drink", "martin", 0.9f}};
    PE_CHECK_EQ_INT(fuse(f, "dan", "d4", t0, "write to alice.martin@example.com", em, 2, &c), PE_OK);
    PE_CHECK_EQ_INT(c.rejected, rejected_before + 2);
    l = attrs_of("dan");
    PE_CHECK(find_attr(l, "name", NULL) == NULL && find_attr(l, "drinks", NULL) == NULL);
    pe_ps_attr_list_free(l);
    pe_ps_writer *w = NULL;
    PE_CHECK_EQ_INT(pe_ps_writer_begin(ps, &w), PE_OK);
    pe_fusion_message bad = {"dan", "d3", t0, "a\xff", 2};
    PE_CHECK_EQ_INT(pe_fusion_apply(f, w, &bad, NULL, 0, NULL, &err), PE_ERR_UTF8);
    pe_fusion_message none = {NULL, "d3", t0, "x", 1};
    PE_CHECK_EQ_INT(pe_fusion_apply(f, w, &none, NULL, 0, NULL, &err), PE_ERR_INVALID);
    pe_ps_writer_abort(w);
    pe_fusion_free(f);

    /* without a graph: no entity, no derivation, no type check */
    PE_CHECK_EQ_INT(pe_fusion_new(NULL, &o, &f, &err), PE_OK);
    PE_CHECK_EQ_INT(fuse(f, "erin", "e1", t0, "I live in Paris", (tri[]){{"live_in_citystatecountry", "Paris", 0.9f}}, 1, &c), PE_OK);
    l = attrs_of("erin");
    res = find_attr(l, "residence", "paris");
    PE_CHECK(res && res->entity == NULL);
    PE_CHECK(find_attr(l, "country", NULL) == NULL);
    pe_ps_attr_list_free(l);
    pe_fusion_free(f);
}

/* The entity linker of pe_link.h through the same interface. */
static void test_real_linker(void)
{
    if (!kg) return;
    pe_linker *l = NULL;
    pe_link_options lo = pe_link_options_default();
    PE_CHECK_EQ_INT(pe_linker_open(kg, NULL, &lo, &l), PE_OK);
    if (!l) return;
    pe_fusion_options o = pe_fusion_options_default();
    o.link = pe_fusion_link_linker;
    o.link_user = l;
    pe_fusion *f = NULL;
    pe_error err;
    PE_CHECK_EQ_INT(pe_fusion_new(kr, &o, &f, &err), PE_OK);
    pe_fusion_counts c;
    memset(&c, 0, sizeof c);
    tri a[] = {{"live_in_citystatecountry", "Paris", 0.9f}, {"employed_by_company", "apple", 0.9f}};
    PE_CHECK_EQ_INT(fuse(f, "lin", "l1", 1700000000, "I live in Paris and work at apple", a, 2, &c), PE_OK);
    tri b[] = {{"live_in_citystatecountry", "pizza", 0.9f}};
    PE_CHECK_EQ_INT(fuse(f, "lin", "l2", 1700000001, "i live in pizza", b, 1, &c), PE_OK);
    PE_CHECK_EQ_INT(c.rejected, 1);
    pe_ps_attr_list *lst = attrs_of("lin");
    const pe_ps_attr *res = find_attr(lst, "residence", "paris");
    PE_CHECK(res && res->entity && !strcmp(res->entity, "Q90") && res->n_evidence == 1 && !isnan(res->evidence[0].link_score));
    const pe_ps_attr *emp = find_attr(lst, "employer", "apple");
    PE_CHECK(emp && emp->entity && !strcmp(emp->entity, "Q312")); /* a runner-up of the right type */
    PE_CHECK(find_attr(lst, "country", "france") != NULL);
    pe_ps_attr_list_free(lst);
    /* the linker alone: NIL for an unknown form, candidates best first */
    pe_fusion_link_result lr;
    const char *t = "i love zxqwv and paris";
    PE_CHECK_EQ_INT(pe_fusion_link_linker(l, t, strlen(t), 7, 12, NULL, 0, &lr), PE_OK);
    PE_CHECK_EQ_INT(lr.n, 0);
    PE_CHECK_EQ_INT(pe_fusion_link_linker(l, t, strlen(t), 17, 22, NULL, 0, &lr), PE_OK);
    PE_CHECK(lr.n >= 2 && !strcmp(lr.c[0].entity, "Q90"));
    PE_CHECK_EQ_INT(pe_fusion_link_linker(l, t, strlen(t), 17, 40, NULL, 0, &lr), PE_ERR_INVALID);
    pe_fusion_free(f);
    pe_linker_close(l);
}

int main(void)
{
    if (!pe_test_tmpdir(tmpdir, sizeof tmpdir, "pe_fusion")) return 1;
    PE_RUN(test_schema);
    PE_RUN(test_time);
    PE_RUN(test_age);
    PE_RUN(test_policy);
    PE_RUN(test_fusion_rules);
    PE_RUN(test_real_linker);
    pe_kg_reader_end(kr);
    pe_kg_close(kg);
    pe_ps_close(ps);
    if (pe_test_failures == 0 && pe_test_rm_rf(tmpdir) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    PE_TEST_EXIT();
}
