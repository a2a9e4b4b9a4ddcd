/* test_kgstore_cli.c - persona kg stats|lookup|entity|types on a small
 * store built through the API: JSON shape, ranking, exit codes. Skips (77)
 * when the CLI was not built. */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pe_kg.h"
#include "pe_test.h"

static char g_root[64], g_db[128], g_cli[512];

/* Runs the CLI with args; returns its exit code, stdout in *out (malloc'd). */
static int run(char **out, const char *args)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' %s --db '%s' 2>/dev/null", g_cli, args, g_db);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    size_t n;
    while (buf && (n = fread(buf + len, 1, cap - len - 1, p)) > 0) {
        len += n;
        if (cap - len < 1024) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) break;
            buf = nb;
        }
    }
    if (buf) buf[len] = 0;
    int st = pclose(p);
    *out = buf;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static pe_kg_id I(pe_kg_writer *w, const char *t)
{
    pe_kg_id id = 0;
    PE_CHECK(pe_kg_intern(w, t, strlen(t), &id) == PE_OK);
    return id;
}

static void link_e(pe_kg_writer *w, pe_kg_id s, pe_kg_id p, pe_kg_id o)
{
    pe_kg_value v = {.type = PE_KG_VAL_ENTITY, .entity = o};
    PE_CHECK(pe_kg_put_triple(w, s, p, &v, PE_KG_RANK_NORMAL, 1) == PE_OK);
}

static void build_store(void)
{
    pe_kg *kg = NULL;
    pe_kg_options o = pe_kg_options_default();
    o.map_size = (size_t)1 << 28;
    PE_CHECK(pe_kg_open(g_db, &o, &kg, NULL) == PE_OK);
    pe_kg_writer *w;
    PE_CHECK(pe_kg_writer_begin(kg, &w) == PE_OK);
    pe_kg_source info = {.path = "fixture.json", .format = "wikidata-json", .sha256 = "00ff", .size = 10};
    uint32_t src = 0;
    PE_CHECK(pe_kg_source_begin(w, &info, &src, NULL) == PE_OK && src == 1);
    pe_kg_id p31 = I(w, "P31"), p279 = I(w, "P279"), p131 = I(w, "P131"), p1082 = I(w, "P1082");
    PE_CHECK(pe_kg_put_kind(w, p31, PE_KG_KIND_PROPERTY, "wikibase-item", 1) == PE_OK);
    PE_CHECK(pe_kg_put_text(w, p31, PE_KG_LABEL, "en", "instance of", 11, 1) == PE_OK);
    pe_kg_id city = I(w, "Q515"), settle = I(w, "Q486972");
    PE_CHECK(pe_kg_put_text(w, city, PE_KG_LABEL, "en", "city", 4, 1) == PE_OK);
    PE_CHECK(pe_kg_put_text(w, settle, PE_KG_LABEL, "en", "human settlement", 16, 1) == PE_OK);
    link_e(w, city, p279, settle);
    pe_kg_id paris = I(w, "Q90"), texas = I(w, "Q830149");
    PE_CHECK(pe_kg_put_kind(w, paris, PE_KG_KIND_ITEM, NULL, 1) == PE_OK);
    PE_CHECK(pe_kg_put_text(w, paris, PE_KG_LABEL, "en", "Paris", 5, 1) == PE_OK);
    PE_CHECK(pe_kg_put_text(w, paris, PE_KG_DESCRIPTION, "en", "capital of France", 17, 1) == PE_OK);
    PE_CHECK(pe_kg_put_sitelink(w, paris, "enwiki", "Paris", 1) == PE_OK);
    PE_CHECK(pe_kg_put_text(w, texas, PE_KG_LABEL, "en", "Paris", 5, 1) == PE_OK);
    link_e(w, paris, p31, city);
    for (int i = 0; i < 3; i++) {
        char q[16];
        snprintf(q, sizeof q, "Q%d", 7000 + i);
        link_e(w, I(w, q), p131, paris);
    }
    pe_kg_value pop = {.type = PE_KG_VAL_QUANTITY, .amount = 2145906, .lower = NAN, .upper = NAN,
                       .unit = "1"};
    PE_CHECK(pe_kg_put_triple(w, paris, p1082, &pop, PE_KG_RANK_PREFERRED, 1) == PE_OK);
    pe_kg_counts c = {.entities = 4, .triples = 6};
    PE_CHECK(pe_kg_source_finish(w, src, PE_KG_SOURCE_DONE, &c) == PE_OK);
    PE_CHECK(pe_kg_writer_commit(w) == PE_OK);
    pe_kg_close(kg);
}

static void test_cli(void)
{
    char *out = NULL;
    cJSON *j;

    PE_CHECK_EQ_INT(run(&out, "kg lookup Paris --json"), 0);
    j = cJSON_Parse(out);
    PE_CHECK(cJSON_IsArray(j) && cJSON_GetArraySize(j) == 2);
    cJSON *first = cJSON_GetArrayItem(j, 0);
    PE_CHECK_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItem(first, "id")), "Q90");
    PE_CHECK_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItem(first, "description")), "capital of France");
    PE_CHECK(cJSON_IsTrue(cJSON_GetObjectItem(first, "exact")));
    double p0 = cJSON_GetNumberValue(cJSON_GetObjectItem(first, "prior"));
    double p1 = cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetArrayItem(j, 1), "prior"));
    PE_CHECK(p0 > p1 && p1 > 0 && p0 + p1 > 0.999 && p0 + p1 < 1.001);
    cJSON_Delete(j);
    free(out);

    PE_CHECK_EQ_INT(run(&out, "kg lookup 'PARIS!' --type Q486972 --limit 5 --json"), 0);
    j = cJSON_Parse(out);
    PE_CHECK(cJSON_GetArraySize(j) == 1);
    cJSON_Delete(j);
    free(out);
    /* text for people by default: a numbered line per candidate */
    PE_CHECK_EQ_INT(run(&out, "kg lookup Paris"), 0);
    PE_CHECK_MSG(out && !strncmp(out, " 1. Q90", 7) && strstr(out, "capital of France") && strstr(out, "\n 2. ") &&
                     !strchr(out, '{'),
                 "%s", out ? out : "");
    free(out);
    PE_CHECK_EQ_INT(run(&out, "kg lookup Berlin"), 3);
    free(out);
    PE_CHECK_EQ_INT(run(&out, "kg lookup Paris --type Q424242"), 3);
    free(out);
    PE_CHECK_EQ_INT(run(&out, "kg lookup Paris --limit zero"), 2);
    free(out);
    PE_CHECK_EQ_INT(run(&out, "kg lookup"), 2);
    free(out);

    PE_CHECK_EQ_INT(run(&out, "kg entity http://www.wikidata.org/entity/Q90"), 0);
    PE_CHECK_MSG(out && !strncmp(out, "Q90", 3) && strstr(out, "instance of) = Q515") && strstr(out, "2145906") &&
                     strstr(out, "fixture.json") && !strchr(out, '{'),
                 "%s", out ? out : "");
    free(out);
    PE_CHECK_EQ_INT(run(&out, "kg entity http://www.wikidata.org/entity/Q90 --json"), 0);
    j = cJSON_Parse(out);
    PE_CHECK_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "id")), "Q90");
    PE_CHECK_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "kind")), "item");
    PE_CHECK_EQ_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(j, "in_degree")), 3);
    cJSON *labels = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "labels"), "en");
    PE_CHECK(cJSON_GetArraySize(labels) == 1);
    cJSON *triples = cJSON_GetObjectItem(j, "triples");
    PE_CHECK(cJSON_GetArraySize(triples) == 2);
    int saw_city = 0, saw_pop = 0;
    cJSON *t;
    cJSON_ArrayForEach(t, triples) {
        cJSON *v = cJSON_GetObjectItem(t, "value");
        const char *type = cJSON_GetStringValue(cJSON_GetObjectItem(v, "type"));
        if (type && !strcmp(type, "entity")) {
            saw_city = !strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(v, "id")), "Q515") &&
                       !strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(t, "property_label")), "instance of");
        }
        if (type && !strcmp(type, "quantity")) {
            saw_pop = cJSON_GetNumberValue(cJSON_GetObjectItem(v, "amount")) == 2145906 &&
                      cJSON_IsNull(cJSON_GetObjectItem(v, "lower")) &&
                      !strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(t, "rank")), "preferred");
        }
    }
    PE_CHECK(saw_city && saw_pop);
    PE_CHECK_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "sources"), "1")), "fixture.json");
    cJSON_Delete(j);
    free(out);
    PE_CHECK_EQ_INT(run(&out, "kg entity Q12345"), 3);
    free(out);

    PE_CHECK_EQ_INT(run(&out, "kg types Q90"), 0);
    PE_CHECK_MSG(out && strstr(out, "Q515 (city)  [direct]") && strstr(out, "human settlement") && !strchr(out, '{'),
                 "%s", out ? out : "");
    free(out);
    PE_CHECK_EQ_INT(run(&out, "kg types Q90 --json"), 0);
    j = cJSON_Parse(out);
    cJSON *types = cJSON_GetObjectItem(j, "types");
    PE_CHECK(cJSON_GetArraySize(types) == 2);
    PE_CHECK_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(types, 0), "id")), "Q515");
    PE_CHECK(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetArrayItem(types, 0), "direct")));
    PE_CHECK_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(types, 1), "label")),
                    "human settlement");
    PE_CHECK(cJSON_IsFalse(cJSON_GetObjectItem(cJSON_GetArrayItem(types, 1), "direct")));
    cJSON_Delete(j);
    free(out);
    PE_CHECK_EQ_INT(run(&out, "kg types Q90 --direct --json"), 0);
    j = cJSON_Parse(out);
    PE_CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(j, "types")) == 1);
    cJSON_Delete(j);
    free(out);
    PE_CHECK_EQ_INT(run(&out, "kg types Q404"), 3);
    free(out);

    PE_CHECK_EQ_INT(run(&out, "kg stats --json"), 0);
    j = cJSON_Parse(out);
    PE_CHECK_EQ_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(j, "triples")), 6);
    cJSON *s0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "sources"), 0);
    PE_CHECK_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItem(s0, "status")), "done");
    PE_CHECK_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItem(s0, "sha256")), "00ff");
    PE_CHECK_EQ_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(s0, "counts"), "entities")), 4);
    cJSON_Delete(j);
    free(out);
    PE_CHECK_EQ_INT(run(&out, "kg stats"), 0);
    PE_CHECK(out && strstr(out, "triples") && strstr(out, "fixture.json"));
    free(out);
    PE_CHECK_EQ_INT(run(&out, "kg stats --bogus"), 2);
    free(out);
    PE_CHECK_EQ_INT(run(&out, "kg entity --help"), 0);
    PE_CHECK(out && strstr(out, "usage: persona kg entity"));
    free(out);

    /* no store there */
    char saved[128];
    memcpy(saved, g_db, sizeof saved);
    snprintf(g_db, sizeof g_db, "%s/nothing", g_root);
    PE_CHECK_EQ_INT(run(&out, "kg stats"), 5); /* missing input */
    free(out);
    memcpy(g_db, saved, sizeof saved);
}

/* persona kg verify: a sound store exits 0; after a few bytes of data.mdb
 * change it lists the damage and exits 1, and kg entity on the damaged
 * record fails (exit 1) instead of crashing or printing a wrong record. */
static void test_verify_damaged(void)
{
    char saved[sizeof g_db];
    memcpy(saved, g_db, sizeof saved);
    snprintf(g_db, sizeof g_db, "%s/damaged", g_root);
    pe_kg *kg = NULL;
    pe_kg_options o = pe_kg_options_default();
    o.map_size = (size_t)1 << 26;
    PE_CHECK(pe_kg_open(g_db, &o, &kg, NULL) == PE_OK);
    pe_kg_writer *w;
    PE_CHECK(pe_kg_writer_begin(kg, &w) == PE_OK);
    pe_kg_id q = I(w, "Q4242");
    PE_CHECK(pe_kg_put_text(w, q, PE_KG_LABEL, "en", "DamagedLabelZZZ", 15, 9) == PE_OK);
    PE_CHECK(pe_kg_writer_commit(w) == PE_OK);
    pe_kg_close(kg);
    char *out = NULL;
    PE_CHECK_EQ_INT(run(&out, "kg verify"), 0);
    PE_CHECK(out && strstr(out, "sound"));
    free(out);

    /* the text record's source count (u16 before source 9) becomes 0xFFFF */
    char path[256];
    snprintf(path, sizeof path, "%s/data.mdb", g_db);
    FILE *f = fopen(path, "r+b");
    PE_CHECK(f != NULL);
    static const char rec[] = "\0\1\0\0\0\x09" "DamagedLabelZZZ";
    char *buf = malloc(1 << 22);
    size_t n = f ? fread(buf, 1, 1 << 22, f) : 0;
    char *hit = memmem(buf, n, rec, sizeof rec - 1);
    PE_CHECK(hit != NULL);
    if (f && hit) {
        fseek(f, (long)(hit - buf), SEEK_SET);
        fputc(0xFF, f);
        fputc(0xFF, f);
    }
    if (f) fclose(f);
    free(buf);

    PE_CHECK_EQ_INT(run(&out, "kg verify"), 1);
    PE_CHECK_MSG(out && strstr(out, "damaged: text: id ") && strstr(out, "1 problem"), "%s", out ? out : "");
    free(out);
    PE_CHECK_EQ_INT(run(&out, "kg verify --json"), 1);
    cJSON *j = out ? cJSON_Parse(out) : NULL;
    PE_CHECK(j && cJSON_IsFalse(cJSON_GetObjectItem(j, "ok")) &&
             cJSON_GetObjectItem(j, "problems")->valuedouble == 1 &&
             cJSON_GetArraySize(cJSON_GetObjectItem(j, "list")) == 1);
    cJSON_Delete(j);
    free(out);
    PE_CHECK_EQ_INT(run(&out, "kg entity Q4242"), 1);
    free(out);
    memcpy(g_db, saved, sizeof saved);
}

/* A command whose output cannot be written exits 1 with a message, never
 * 0 with nothing printed (issue 7). */
static void test_output_failure(void)
{
    if (access("/dev/full", W_OK) != 0) return;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' kg stats --json --db '%s' > /dev/full 2>/dev/null", g_cli, g_db);
    int st = system(cmd);
    PE_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 1);
    snprintf(cmd, sizeof cmd, "'%s' kg entity Q515 --db '%s' > /dev/full 2>/dev/null", g_cli, g_db);
    st = system(cmd);
    PE_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 1);
}

int main(void)
{
    const char *bin = getenv("PE_BINARY_DIR");
    snprintf(g_cli, sizeof g_cli, "%s/cli/persona", bin ? bin : PE_BINARY_DIR);
    if (access(g_cli, X_OK) != 0) {
        fprintf(stderr, "skip: %s not built\n", g_cli);
        return PE_SKIP_CODE;
    }
    if (!pe_test_tmpdir(g_root, sizeof g_root, "pe_kgcli")) return 1;
    snprintf(g_db, sizeof g_db, "%s/db", g_root);
    build_store();
    PE_RUN(test_cli);
    PE_RUN(test_verify_damaged);
    PE_RUN(test_output_failure);
    pe_test_rm_rf(g_root);
    PE_TEST_EXIT();
}
