/* test_link_cli.c - persona link index|train, persona link, persona eval link
 * end to end through the built CLI on the fixture graph (imported with
 * persona kg import): JSON shape, exit codes, bad input. Skips (77) when the
 * CLI was not built. */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pe_test.h"

static char g_root[64], g_db[128], g_cli[512];

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    return remove(p);
}

/* Runs `persona ARGS --db DB` with stdin from `in` (NULL: /dev/null);
 * returns the exit code, stdout in *out (malloc'd), stderr in *err. */
static int run(char **out, char **err, const char *in, const char *args)
{
    char inpath[160], errpath[160], cmd[4096];
    snprintf(inpath, sizeof inpath, "%s/stdin", g_root);
    snprintf(errpath, sizeof errpath, "%s/stderr", g_root);
    FILE *f = fopen(inpath, "w");
    if (f) { if (in) fputs(in, f); fclose(f); }
    snprintf(cmd, sizeof cmd, "PERSONA_NO_PROGRESS=1 '%s' %s --db '%s' <'%s' 2>'%s'", g_cli, args, g_db, inpath, errpath);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t cap = 1 << 16, len = 0, n;
    char *buf = malloc(cap);
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
    if (err) {
        *err = NULL;
        FILE *e = fopen(errpath, "r");
        if (e) {
            char *eb = calloc(1, 8192);
            if (eb) fread(eb, 1, 8191, e);
            fclose(e);
            *err = eb;
        }
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void write_file(const char *path, const char *s)
{
    FILE *f = fopen(path, "w");
    if (f) { fputs(s, f); fclose(f); }
}

/* Runs `persona ARGS` with no input and checks its exit code and that its
 * standard error holds want. */
static void expect_exit(const char *args, int code, const char *want)
{
    char *out = NULL, *err = NULL;
    int rc = run(&out, &err, NULL, args);
    PE_CHECK_MSG(rc == code, "persona %s: exit %d, not %d", args, rc, code);
    PE_CHECK_MSG(err && strstr(err, want), "persona %s: no \"%s\" in: %s", args, want, err ? err : "(none)");
    free(out);
    free(err);
}

/* A whole file, malloc'd; NULL when it cannot be read. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *b = malloc(1 << 20);
    size_t n = b ? fread(b, 1, 1 << 20, f) : 0;
    fclose(f);
    *len = n;
    return b;
}

static const char *bench_lines =
    "{\"text\": \"Paris is a town in Texas.\", \"labels\": ["
    "{\"span\": [0, 5], \"entity_id\": \"Q830149\", \"type\": \"Q27096213\"},"
    "{\"span\": [19, 24], \"entity_id\": \"Q1439\", \"type\": \"Q27096213\"}]}\n"
    "{\"text\": \"We flew to Paris, France.\", \"labels\": ["
    "{\"span\": [11, 16], \"entity_id\": \"Q90\", \"type\": \"Q27096213\"},"
    "{\"span\": [18, 24], \"entity_id\": \"Q142\", \"type\": \"Q27096213\"}]}\n"
    "{\"text\": \"Qwertyuiop met Phil Simmons. Simmons smiled.\", \"labels\": ["
    "{\"span\": [0, 10], \"entity_id\": \"<NIL>\", \"type\": \"OTHER\"},"
    "{\"span\": [15, 27], \"entity_id\": \"Q7000001\", \"type\": \"Q215627\"},"
    "{\"span\": [29, 36], \"entity_id\": \"Q7000001\", \"type\": \"Q215627\"}]}\n";

static void test_index_and_link(void)
{
    char *out = NULL, *err = NULL;
    /* without context vectors first: the feature is reported off */
    PE_CHECK_EQ_INT(run(&out, NULL, NULL, "link index --no-context"), 0);
    cJSON *j = out ? cJSON_Parse(out) : NULL;
    PE_CHECK(j && cJSON_GetObjectItem(j, "forms") && cJSON_GetObjectItem(j, "forms")->valuedouble >= 20);
    PE_CHECK(j && cJSON_IsString(cJSON_GetObjectItem(j, "context")));
    cJSON_Delete(j);
    free(out);

    /* spans in characters: "Café " is 5 characters, 6 bytes */
    const char *in = "{\"id\": \"a\", \"text\": \"Caf\xc3\xa9 Paris and the NBA\", \"mentions\": "
                     "[{\"span\": [5, 10], \"type\": \"place\"}, {\"span\": [19, 22]}]}\n"
                     "not json\n"
                     "{\"text\": \"Qwertyuiop\", \"mentions\": [{\"span\": [0, 10]}]}\n"
                     "{\"text\": \"short\", \"mentions\": [{\"span\": [2, 40]}]}\n";
    /* line 2 is not JSON: it is taken as a text without mentions, which wants
     * the NER model; there is none at that path */
    int rc = run(&out, &err, in, "link --runner-ups 2 --model /nonexistent/model.pem --ranker none");
    PE_CHECK_EQ_INT(rc, 4); /* two bad lines skipped */
    PE_CHECK(err && strstr(err, "<stdin>:2:") && strstr(err, "<stdin>:4:"));
    PE_CHECK(err && strstr(err, "no mention spans given and no NER model"));
    PE_CHECK(err && strstr(err, "not inside the text"));
    PE_CHECK(err && strstr(err, "no ranker (--ranker none)")); /* by prior */
    char *save = NULL, *line1 = out ? strtok_r(out, "\n", &save) : NULL, *line2 = strtok_r(NULL, "\n", &save);
    PE_CHECK(line1 && line2 && !strtok_r(NULL, "\n", &save));
    j = line1 ? cJSON_Parse(line1) : NULL;
    PE_CHECK(j != NULL);
    if (j) {
        PE_CHECK_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "id")), "a");
        PE_CHECK_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "context")), "off");
        cJSON *ms = cJSON_GetObjectItem(j, "mentions");
        PE_CHECK(cJSON_GetArraySize(ms) == 2);
        cJSON *m0 = cJSON_GetArrayItem(ms, 0), *m1 = cJSON_GetArrayItem(ms, 1);
        PE_CHECK_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItem(m0, "surface")), "Paris");
        PE_CHECK_EQ_INT(cJSON_GetArrayItem(cJSON_GetObjectItem(m0, "span"), 0)->valuedouble, 5);
        PE_CHECK_EQ_INT(cJSON_GetArrayItem(cJSON_GetObjectItem(m0, "span"), 1)->valuedouble, 10);
        PE_CHECK_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItem(m0, "entity")), "Q90");
        PE_CHECK_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItem(m0, "label")), "Paris");
        cJSON *cands = cJSON_GetObjectItem(m0, "candidates");
        PE_CHECK(cJSON_GetArraySize(cands) == 3); /* chosen + 2 runner-ups */
        cJSON *c0 = cJSON_GetArrayItem(cands, 0);
        cJSON *fe = cJSON_GetObjectItem(c0, "features");
        PE_CHECK(fe && cJSON_GetObjectItem(fe, "log_prior") && cJSON_GetObjectItem(fe, "coh_link") &&
                 cJSON_GetObjectItem(fe, "context") && cJSON_GetObjectItem(fe, "team") &&
                 cJSON_GetObjectItem(fe, "coh_type"));
        /* every reported candidate, runner-ups too, carries the new features */
        cJSON *c2 = cJSON_GetArrayItem(cands, 2);
        cJSON *fe2 = c2 ? cJSON_GetObjectItem(c2, "features") : NULL;
        PE_CHECK(fe2 && cJSON_IsNumber(cJSON_GetObjectItem(fe2, "team")) && cJSON_IsNumber(cJSON_GetObjectItem(fe2, "coh_type")) &&
                 cJSON_IsNumber(cJSON_GetObjectItem(fe2, "lang_people")) &&
                 cJSON_IsNumber(cJSON_GetObjectItem(fe2, "dateline_city")));
        PE_CHECK_EQ_INT(cJSON_GetObjectItem(fe, "type")->valuedouble, 1); /* a place, typed place */
        PE_CHECK(cJSON_IsArray(cJSON_GetObjectItem(c0, "via")));
        PE_CHECK_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItem(m1, "entity")), "Q155223"); /* acronym */
    }
    cJSON_Delete(j);
    j = line2 ? cJSON_Parse(line2) : NULL;
    if (j) {
        cJSON *m0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "mentions"), 0);
        PE_CHECK(cJSON_IsTrue(cJSON_GetObjectItem(m0, "nil")) && !cJSON_GetObjectItem(m0, "entity"));
    }
    cJSON_Delete(j);
    free(out);
    free(err);
    /* --strict: the first bad line stops with 1 */
    PE_CHECK_EQ_INT(run(&out, NULL, in, "link --strict --model /nonexistent/model.pem"), 1);
    free(out);
    PE_CHECK_EQ_INT(run(&out, NULL, NULL, "link --k 0"), 2);
    free(out);
    PE_CHECK_EQ_INT(run(&out, NULL, NULL, "link /nonexistent.jsonl"), 5); /* missing input */
    free(out);
    PE_CHECK_EQ_INT(run(&out, NULL, NULL, "link --help"), 0);
    PE_CHECK(out && strstr(out, "usage: persona link"));
    free(out);
}

static void test_train_and_eval(void)
{
    char data[160], ranker[160], args[1024];
    snprintf(data, sizeof data, "%s/tiny.benchmark.jsonl", g_root);
    snprintf(ranker, sizeof ranker, "%s/ranker.json", g_root);
    write_file(data, bench_lines);
    char *out = NULL, *err = NULL;
    /* no ranker in DB/link yet: the shipped one (models/link-ranker.json) */
    snprintf(args, sizeof args, "eval link --data '%s' --json", data);
    PE_CHECK_EQ_INT(run(&out, NULL, NULL, args), 0);
    cJSON *j = out ? cJSON_Parse(out) : NULL;
    const char *used = j ? cJSON_GetStringValue(cJSON_GetObjectItem(j, "ranker")) : NULL;
    PE_CHECK(used && strstr(used, "link-ranker.json"));
    /* it loads (a ranker with a feature the linker does not know is
     * refused) and, never trained on these lines, does no worse than the
     * prior on them */
    PE_CHECK(j && cJSON_GetObjectItem(j, "in_graph_accuracy")->valuedouble >=
                      cJSON_GetObjectItem(j, "prior_baseline_in_graph_accuracy")->valuedouble);
    cJSON_Delete(j);
    free(out);
    /* $PERSONA_RANKER names another (here: none that exists, then none at all) */
    setenv("PERSONA_RANKER", "/nonexistent/ranker.json", 1);
    snprintf(args, sizeof args, "eval link --data '%s' --json", data);
    expect_exit(args, 5, "/nonexistent/ranker.json does not exist");
    setenv("PERSONA_RANKER", "none", 1);
    PE_CHECK_EQ_INT(run(&out, NULL, NULL, args), 0);
    j = out ? cJSON_Parse(out) : NULL;
    PE_CHECK(j && cJSON_IsNull(cJSON_GetObjectItem(j, "ranker")));
    cJSON_Delete(j);
    free(out);
    unsetenv("PERSONA_RANKER");
    /* by prior */
    snprintf(args, sizeof args, "eval link --data '%s' --json --ranker none", data);
    PE_CHECK_EQ_INT(run(&out, NULL, NULL, args), 0);
    j = out ? cJSON_Parse(out) : NULL;
    PE_CHECK(j != NULL);
    if (j) {
        PE_CHECK_EQ_INT(cJSON_GetObjectItem(j, "mentions")->valuedouble, 7);
        PE_CHECK_EQ_INT(cJSON_GetObjectItem(j, "in_graph")->valuedouble, 6);
        PE_CHECK_EQ_INT(cJSON_GetObjectItem(j, "nil_gold")->valuedouble, 1);
        PE_CHECK(cJSON_IsNull(cJSON_GetObjectItem(j, "ranker")));
        PE_CHECK_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "context")), "off");
        /* the prior baseline misses Paris, Texas and the lone surname */
        PE_CHECK(cJSON_GetObjectItem(j, "prior_baseline_in_graph_accuracy")->valuedouble < 0.75);
        PE_CHECK_EQ_INT(cJSON_GetObjectItem(j, "candidate_recall")->valuedouble, 1);
    }
    cJSON_Delete(j);
    free(out);
    /* train into the default place (DB/link/ranker.json) and to --out */
    snprintf(args, sizeof args, "link train --data '%s' --l2 0.1", data);
    PE_CHECK_EQ_INT(run(&out, &err, NULL, args), 0);
    j = out ? cJSON_Parse(out) : NULL;
    PE_CHECK(j && cJSON_GetObjectItem(j, "weights") && cJSON_GetObjectItem(j, "nil_threshold"));
    PE_CHECK(j && strstr(cJSON_GetStringValue(cJSON_GetObjectItem(j, "ranker")), "/link/ranker.json"));
    /* the 7 mentions as documents and sentence by sentence */
    PE_CHECK(j && cJSON_GetObjectItem(j, "mentions") && cJSON_GetObjectItem(j, "mentions")->valuedouble == 14);
    /* with the default reranker: 3 MLPs of 16 units */
    PE_CHECK(j && cJSON_GetObjectItem(cJSON_GetObjectItem(j, "reranker"), "units") &&
             cJSON_GetObjectItem(cJSON_GetObjectItem(j, "reranker"), "units")->valuedouble == 48);
    cJSON_Delete(j);
    free(out);
    free(err);
    /* `persona link` shows each candidate's rerank score with such a ranker */
    PE_CHECK_EQ_INT(run(&out, NULL, "{\"text\": \"Paris\", \"mentions\": [{\"span\": [0, 5]}]}\n", "link"), 0);
    PE_CHECK(out && strstr(out, "\"rerank\":"));
    free(out);
    snprintf(args, sizeof args, "link train --data '%s' --hidden 0 --out '%s'", data, ranker);
    PE_CHECK_EQ_INT(run(&out, NULL, NULL, args), 0);
    j = out ? cJSON_Parse(out) : NULL;
    PE_CHECK(j && cJSON_IsNull(cJSON_GetObjectItem(j, "reranker")));
    cJSON_Delete(j);
    free(out);
    snprintf(args, sizeof args, "link --ranker '%s'", ranker);
    PE_CHECK_EQ_INT(run(&out, NULL, "{\"text\": \"Paris\", \"mentions\": [{\"span\": [0, 5]}]}\n", args), 0);
    PE_CHECK(out && strstr(out, "\"score\":") && !strstr(out, "\"rerank\":"));
    free(out);
    snprintf(args, sizeof args, "link train --data '%s' --hidden 40 --members 2", data);
    expect_exit(args, 2, "at most 64 units");
    snprintf(args, sizeof args, "link train --data '%s' --documents-only --out '%s'", data, ranker);
    PE_CHECK_EQ_INT(run(&out, NULL, NULL, args), 0);
    j = out ? cJSON_Parse(out) : NULL;
    PE_CHECK(j && cJSON_GetObjectItem(j, "mentions") && cJSON_GetObjectItem(j, "mentions")->valuedouble == 7);
    cJSON_Delete(j);
    free(out);
    /* --seed: below 2^53 (the ranker file keeps it as a JSON number) */
    snprintf(args, sizeof args, "link train --data '%s' --seed 9007199254740992", data);
    expect_exit(args, 2, "from 0 to 9007199254740991");
    /* --seed: 1 is the default; another seed fits other MLPs */
    char seeded[2][180];
    for (int k = 0; k < 2; k++) {
        snprintf(seeded[k], sizeof seeded[k], "%s.seed%d", ranker, k);
        snprintf(args, sizeof args, "link train --data '%s' --seed %d --out '%s'", data, k ? 7 : 1, seeded[k]);
        PE_CHECK_EQ_INT(run(&out, NULL, NULL, args), 0);
        free(out);
    }
    snprintf(args, sizeof args, "link train --data '%s' --out '%s'", data, ranker);
    PE_CHECK_EQ_INT(run(&out, NULL, NULL, args), 0);
    free(out);
    PE_CHECK(access(ranker, R_OK) == 0);
    size_t nd = 0, n1 = 0, n7 = 0;
    char *fd = slurp(ranker, &nd), *f1 = slurp(seeded[0], &n1), *f7 = slurp(seeded[1], &n7);
    PE_CHECK(fd && f1 && f7);
    if (fd && f1 && f7) {
        PE_CHECK(nd == n1 && memcmp(fd, f1, nd) == 0);
        PE_CHECK(n7 != n1 || memcmp(f7, f1, n1) != 0);
    }
    free(fd);
    free(f1);
    free(f7);
    remove(seeded[0]);
    remove(seeded[1]);
    /* the default ranker is picked up */
    snprintf(args, sizeof args, "eval link --data '%s' --json", data);
    PE_CHECK_EQ_INT(run(&out, NULL, NULL, args), 0);
    j = out ? cJSON_Parse(out) : NULL;
    PE_CHECK(j && cJSON_IsString(cJSON_GetObjectItem(j, "ranker")));
    PE_CHECK(j && cJSON_GetObjectItem(j, "reranker_units") && cJSON_GetObjectItem(j, "reranker_units")->valuedouble == 48);
    /* trained on these very lines: it gets the coherent reading and the surname */
    PE_CHECK(j && cJSON_GetObjectItem(j, "in_graph_accuracy")->valuedouble >
                      cJSON_GetObjectItem(j, "prior_baseline_in_graph_accuracy")->valuedouble);
    cJSON_Delete(j);
    free(out);
    /* table output */
    snprintf(args, sizeof args, "eval link --data '%s' --ranker '%s'", data, ranker);
    PE_CHECK_EQ_INT(run(&out, NULL, NULL, args), 0);
    PE_CHECK(out && strstr(out, "in-graph accuracy") && strstr(out, "prior baseline") && strstr(out, "off (no entity vectors"));
    PE_CHECK(out && strstr(out, "48 ReLU units (3 MLPs)"));
    free(out);
    /* a bad line: counted and reported (exit 4), or fatal with --strict */
    char bad[4096];
    snprintf(bad, sizeof bad, "%s{\"text\": 5}\n", bench_lines);
    write_file(data, bad);
    snprintf(args, sizeof args, "eval link --data '%s'", data);
    expect_exit(args, 4, "tiny.benchmark.jsonl:4:");
    snprintf(args, sizeof args, "eval link --data '%s' --strict", data);
    PE_CHECK_EQ_INT(run(&out, NULL, NULL, args), 1);
    free(out);
    /* usage errors, missing files */
    PE_CHECK_EQ_INT(run(&out, NULL, NULL, "eval link"), 2);
    free(out);
    PE_CHECK_EQ_INT(run(&out, NULL, NULL, "eval link --data /nonexistent.jsonl"), 5);
    free(out);
    snprintf(args, sizeof args, "eval link --data '%s' --ranker /nonexistent.json", data);
    PE_CHECK_EQ_INT(run(&out, NULL, NULL, args), 5);
    free(out);
    /* with context vectors (the default of `persona link index`): the
     * feature is on, in the index's report, `persona link` and `eval link` */
    write_file(data, bench_lines);
    PE_CHECK_EQ_INT(run(&out, NULL, NULL, "link index"), 0);
    j = out ? cJSON_Parse(out) : NULL;
    cJSON *ctx = j ? cJSON_GetObjectItem(j, "context") : NULL;
    PE_CHECK(cJSON_IsObject(ctx) && cJSON_GetObjectItem(ctx, "vectors")->valuedouble >= 20);
    cJSON_Delete(j);
    free(out);
    snprintf(args, sizeof args, "link train --data '%s' --l2 0.1", data);
    PE_CHECK_EQ_INT(run(&out, NULL, NULL, args), 0);
    j = out ? cJSON_Parse(out) : NULL;
    PE_CHECK(j && cJSON_GetObjectItem(cJSON_GetObjectItem(j, "weights"), "context_rel"));
    cJSON_Delete(j);
    free(out);
    snprintf(args, sizeof args, "eval link --data '%s' --json", data);
    PE_CHECK_EQ_INT(run(&out, NULL, NULL, args), 0);
    j = out ? cJSON_Parse(out) : NULL;
    PE_CHECK(j && strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(j, "context")), "on") == 0);
    PE_CHECK(j && cJSON_GetObjectItem(j, "in_graph_accuracy")->valuedouble >
                      cJSON_GetObjectItem(j, "prior_baseline_in_graph_accuracy")->valuedouble);
    cJSON_Delete(j);
    free(out);
    const char *in = "{\"text\": \"The roads of Texas lead to Paris.\", \"mentions\": [{\"span\": [27, 32]}]}\n";
    PE_CHECK_EQ_INT(run(&out, NULL, in, "link --runner-ups 5"), 0);
    j = out ? cJSON_Parse(out) : NULL;
    PE_CHECK(j && strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(j, "context")), "on") == 0);
    if (j) {
        /* Paris, Texas shares "texas" with the text; Paris, France nothing */
        cJSON *cands = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "mentions"), 0), "candidates");
        double tx = -1, fr = -1;
        for (int i = 0; i < cJSON_GetArraySize(cands); i++) {
            cJSON *c = cJSON_GetArrayItem(cands, i);
            double v = cJSON_GetObjectItem(cJSON_GetObjectItem(c, "features"), "context")->valuedouble;
            if (!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(c, "entity")), "Q830149")) tx = v;
            if (!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(c, "entity")), "Q90")) fr = v;
        }
        PE_CHECK(tx > 0 && fr >= 0 && tx > fr);
    }
    cJSON_Delete(j);
    free(out);
    write_file(ranker, "{\"format\": \"something else\"}");
    snprintf(args, sizeof args, "eval link --data '%s' --ranker '%s'", data, ranker);
    expect_exit(args, 1, "not a ranker file");
}

int main(void)
{
    const char *bin = getenv("PE_BINARY_DIR");
    snprintf(g_cli, sizeof g_cli, "%s/cli/persona", bin ? bin : PE_BINARY_DIR);
    if (access(g_cli, X_OK) != 0) {
        fprintf(stderr, "skip: %s not built\n", g_cli);
        return PE_SKIP_CODE;
    }
    snprintf(g_root, sizeof g_root, "/tmp/pe_link_cli_XXXXXX");
    if (!mkdtemp(g_root)) return 1;
    snprintf(g_db, sizeof g_db, "%s/kg", g_root);
    const char *fx = getenv("PE_FIXTURES");
    char args[1024], *out = NULL;
    snprintf(args, sizeof args, "kg import '%s/link/graph.json'", fx ? fx : PE_FIXTURES);
    int rc = run(&out, NULL, NULL, args);
    free(out);
    if (rc != 0) {
        fprintf(stderr, "persona kg import of the fixture failed (%d)\n", rc);
        return 1;
    }
    PE_RUN(test_index_and_link);
    PE_RUN(test_train_and_eval);
    nftw(g_root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    PE_TEST_EXIT();
}
