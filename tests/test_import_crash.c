/* test_import_crash.c - the kill -9 guarantee, for real: `persona kg import`
 * runs as a child process on a generated dump (many small batches), is
 * SIGKILLed once a batch is visibly committed, then `--resume` finishes it.
 * The store must then hold exactly what an uninterrupted import writes:
 * same source counts, same statistics, same triples and texts. */
#define _GNU_SOURCE
#include "pe_kg.h"
#include "pe_test.h"

#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define N_ENTITIES 20000
#define BATCH "300"

static char tmpdir[64];
static char persona[512];

static const char *tmp_path(const char *name)
{
    static char buf[8][256];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

static void make_dump(const char *path)
{
    FILE *f = fopen(path, "w");
    fprintf(f, "[\n");
    for (int i = 1; i <= N_ENTITIES; i++) {
        if (i % 997 == 0) { /* a bad record now and then: skipped counts must survive the resume */
            fprintf(f, "{\"type\":\"item\",\"id\":\"Q%d\",\"labels\":5},\n", i);
            continue;
        }
        fprintf(f,
                "{\"type\":\"item\",\"id\":\"Q%d\",\"labels\":{\"en\":{\"language\":\"en\",\"value\":\"entity %d\"},"
                "\"fr\":{\"language\":\"fr\",\"value\":\"entité %d\"}},\"descriptions\":{\"en\":{\"language\":\"en\","
                "\"value\":\"generated item\"}},\"aliases\":{\"en\":[{\"language\":\"en\",\"value\":\"e%d\"}]},"
                "\"claims\":{\"P31\":[{\"mainsnak\":{\"snaktype\":\"value\",\"property\":\"P31\",\"datavalue\":{"
                "\"value\":{\"entity-type\":\"item\",\"id\":\"Q%d\"},\"type\":\"wikibase-entityid\"}},\"rank\":\"normal\"}],"
                "\"P1082\":[{\"mainsnak\":{\"snaktype\":\"value\",\"property\":\"P1082\",\"datavalue\":{\"value\":{"
                "\"amount\":\"+%d\",\"unit\":\"1\"},\"type\":\"quantity\"}},\"rank\":\"normal\"}],"
                "\"P27\":[{\"mainsnak\":{\"snaktype\":\"value\",\"property\":\"P27\",\"datavalue\":{\"value\":{"
                "\"entity-type\":\"item\",\"id\":\"Q%d\"},\"type\":\"wikibase-entityid\"}},\"rank\":\"deprecated\"}]}}%s\n",
                i, i, i, i, 1 + i % 50, i * 3, i + 1, i == N_ENTITIES ? "" : ",");
    }
    fprintf(f, "]\n");
    fclose(f);
}

/* Runs persona with args (NULL-terminated), output to log; returns the child pid. */
static pid_t spawn(const char *log, char *const args[])
{
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) { dup2(fd, 1); dup2(fd, 2); close(fd); }
        setenv("PERSONA_NO_PROGRESS", "1", 1);
        execv(persona, args);
        _exit(127);
    }
    return pid;
}

static int run(const char *log, char *const args[])
{
    int status;
    pid_t pid = spawn(log, args);
    if (pid < 0 || waitpid(pid, &status, 0) != pid) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void show_log(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return;
    char buf[2048];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    fprintf(stderr, "--- %s:\n%s---\n", path, buf);
}

static int file_contains(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return strstr(buf, needle) != NULL;
}

static pe_kg *open_store(const char *dir)
{
    pe_kg_options o = pe_kg_options_default();
    o.create = 0;
    o.map_size = (size_t)1 << 30;
    pe_kg *kg = NULL;
    if (pe_kg_open(dir, &o, &kg, NULL) != PE_OK) return NULL;
    return kg;
}

static int read_source(pe_kg *kg, pe_kg_source *s)
{
    pe_kg_reader *r;
    if (pe_kg_reader_begin(kg, &r) != PE_OK) return -1;
    int rc = pe_kg_source_get(r, 1, s) == PE_OK ? 0 : -1;
    s->path = s->format = s->sha256 = s->dump_date = s->langs = NULL;
    pe_kg_reader_end(r);
    return rc;
}

static uint64_t fnv(const void *p, size_t n, uint64_t h)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 1099511628211ull;
    return h;
}

/* Order-independent digest of every triple (by term strings and rank) and
 * of the texts of Q1..QN. */
static uint64_t digest(pe_kg *kg, uint64_t *n_triples)
{
    pe_kg_reader *r;
    uint64_t sum = 0, x = 0;
    *n_triples = 0;
    if (pe_kg_reader_begin(kg, &r) != PE_OK) return 0;
    pe_kg_iter *it;
    if (pe_kg_match(r, 0, 0, 0, &it) == PE_OK) {
        pe_kg_triple t;
        while (pe_kg_iter_next(it, &t) == PE_OK) {
            uint64_t h = 1469598103934665603ull;
            pe_kg_id ids[3] = {t.s, t.p, t.o};
            for (int k = 0; k < 3; k++) {
                const char *term;
                size_t len;
                if (pe_kg_term(r, ids[k], &term, &len) == PE_OK) h = fnv(term, len, h);
                h = fnv("|", 1, h);
            }
            h = fnv(&t.rank, sizeof t.rank, h);
            sum += h;
            x ^= h * 31;
            (*n_triples)++;
        }
        pe_kg_iter_free(it);
    }
    for (int i = 1; i <= N_ENTITIES; i++) {
        char q[16];
        int n = snprintf(q, sizeof q, "Q%d", i);
        pe_kg_id id;
        pe_kg_entity *e;
        if (pe_kg_resolve(r, q, (size_t)n, &id) != PE_OK || pe_kg_entity_get(r, id, &e) != PE_OK) continue;
        uint64_t h = fnv(q, (size_t)n, 1469598103934665603ull);
        for (size_t k = 0; k < e->n_texts; k++) {
            h = fnv(e->texts[k].lang, strlen(e->texts[k].lang), h);
            h = fnv(e->texts[k].text, strlen(e->texts[k].text), h);
            h = fnv(&e->texts[k].kind, sizeof e->texts[k].kind, h);
        }
        sum += h;
        pe_kg_entity_free(e);
    }
    pe_kg_reader_end(r);
    return sum ^ (x << 1);
}

/* N-Triples (gzip-compressed) and Turtle versions of a similar graph; a bad
 * N-Triples line now and then. */
static void make_rdf(const char *path, int turtle, int n)
{
    char cmd[1024];
    char plain[300];
    snprintf(plain, sizeof plain, "%s.plain", path);
    FILE *f = fopen(turtle ? path : plain, "w");
    if (turtle) fprintf(f, "@prefix r: <http://example.org/r/> .\n@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .\n");
    for (int i = 1; i <= n; i++) {
        if (turtle) {
            fprintf(f, "r:e%d rdfs:label \"resource %d\"@en ;\n  r:next r:e%d ;\n  r:value \"%d\"^^<http://www.w3.org/2001/XMLSchema#integer> .\n",
                    i, i, i + 1, i * 7);
        } else if (i % 499 == 0) {
            fprintf(f, "<http://example.org/r/e%d> this is not N-Triples\n", i);
        } else {
            fprintf(f, "<http://example.org/r/e%d> <http://www.w3.org/2000/01/rdf-schema#label> \"resource %d\"@en .\n", i, i);
            fprintf(f, "<http://example.org/r/e%d> <http://example.org/r/next> <http://example.org/r/e%d> .\n", i, i + 1);
            fprintf(f, "_:b%d <http://example.org/r/of> <http://example.org/r/e%d> .\n", i, i);
        }
    }
    fclose(f);
    if (!turtle) {
        snprintf(cmd, sizeof cmd, "gzip -c '%s' > '%s'", plain, path);
        if (system(cmd) != 0) fprintf(stderr, "gzip failed\n");
    }
}

/* Starts an import of `dump` into dba, kills it after its first committed
 * batch, checks that a plain rerun is refused, resumes, imports it again
 * uninterrupted into dbb, and compares both stores. `expect` is the exit
 * code of a complete run (4 when the input has bad records). */
static void kill_and_resume(const char *dump, const char *tag, int expect)
{
    char dba[300], dbb[300], log[300];
    snprintf(dba, sizeof dba, "%s-kg-a", dump);
    snprintf(dbb, sizeof dbb, "%s-kg-b", dump);

    /* 1. start, wait for a committed batch, kill -9 */
    char *args_a[] = {persona, "kg", "import", (char *)dump, "--db", dba, "--batch", BATCH, NULL};
    snprintf(log, sizeof log, "%s-1.log", dump);
    pid_t pid = spawn(log, args_a);
    PE_CHECK(pid > 0);
    pe_kg *kg = NULL;
    pe_kg_source s;
    int killed = 0, live_before = -1;
    for (int tries = 0; tries < 20000 && !killed; tries++) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) break; /* finished too early */
        if (!kg) kg = open_store(dba);
        if (kg && read_source(kg, &s) == 0 && s.counts.lines > 0) {
            live_before = s.live; /* the import holds its source while it runs */
            kill(pid, SIGKILL);
            killed = 1;
        } else {
            struct timespec ts = {0, 500000};
            nanosleep(&ts, NULL);
        }
    }
    int status = 0;
    if (killed) waitpid(pid, &status, 0);
    PE_CHECK_MSG(killed && WIFSIGNALED(status), "%s: the import ended before it could be killed", tag);
    if (!killed) { pe_kg_close(kg); return; }
    PE_CHECK(read_source(kg, &s) == 0);
    PE_CHECK_EQ_INT(s.status, PE_KG_SOURCE_RUNNING);
    /* issue 7: live while it ran, interrupted (not "running" forever) once killed */
    PE_CHECK_EQ_INT(live_before, 1);
    PE_CHECK_EQ_INT(s.live, 0);
    char *args_s[] = {persona, "kg", "stats", "--db", dba, "--json", NULL};
    snprintf(log, sizeof log, "%s-stats.log", dump);
    PE_CHECK_EQ_INT(run(log, args_s), 0);
    PE_CHECK_MSG(file_contains(log, "\"interrupted\""), "%s: kg stats does not say interrupted", tag);
    /* an import holding the source (here this process) is live: a second
     * import is told so, not to --resume */
    PE_CHECK_EQ_INT(pe_kg_source_hold(kg, 1, NULL), PE_OK);
    snprintf(log, sizeof log, "%s-live.log", dump);
    PE_CHECK_EQ_INT(run(log, args_a), 1);
    PE_CHECK_MSG(file_contains(log, "being imported now") && !file_contains(log, "--resume"), "%s: live import", tag);
    pe_kg_source_release(kg, 1);
    fprintf(stderr, "%s: killed after %llu lines/statements committed\n", tag, (unsigned long long)s.counts.lines);
    pe_kg_close(kg);
    kg = NULL;

    /* 2. without --resume: refused, pointing at --resume */
    snprintf(log, sizeof log, "%s-2.log", dump);
    int rc = run(log, args_a);
    PE_CHECK_EQ_INT(rc, 1);
    PE_CHECK(file_contains(log, "--resume"));
    if (rc != 1) show_log(log);

    /* 3. resume */
    char *args_r[] = {persona, "kg", "import", (char *)dump, "--db", dba, "--batch", BATCH, "--resume", NULL};
    snprintf(log, sizeof log, "%s-3.log", dump);
    rc = run(log, args_r);
    PE_CHECK_EQ_INT(rc, expect);
    PE_CHECK(file_contains(log, "resumed"));
    if (rc != expect) show_log(log);

    /* 4. an uninterrupted import for reference */
    char *args_b[] = {persona, "kg", "import", (char *)dump, "--db", dbb, "--batch", BATCH, NULL};
    snprintf(log, sizeof log, "%s-4.log", dump);
    rc = run(log, args_b);
    PE_CHECK_EQ_INT(rc, expect);
    if (rc != expect) show_log(log);

    pe_kg *a = open_store(dba), *b = open_store(dbb);
    PE_CHECK(a && b);
    if (a && b) {
        pe_kg_source sa, sb;
        PE_CHECK(read_source(a, &sa) == 0 && read_source(b, &sb) == 0);
        PE_CHECK_EQ_INT(sa.status, PE_KG_SOURCE_DONE);
        PE_CHECK_EQ_INT(sa.counts.entities, sb.counts.entities);
        PE_CHECK_EQ_INT(sa.counts.labels, sb.counts.labels);
        PE_CHECK_EQ_INT(sa.counts.aliases, sb.counts.aliases);
        PE_CHECK_EQ_INT(sa.counts.descriptions, sb.counts.descriptions);
        PE_CHECK_EQ_INT(sa.counts.triples, sb.counts.triples);
        PE_CHECK_EQ_INT(sa.counts.sameas, sb.counts.sameas);
        PE_CHECK_EQ_INT(sa.counts.skipped, sb.counts.skipped);
        PE_CHECK_EQ_INT(sa.counts.dropped, sb.counts.dropped);
        PE_CHECK_EQ_INT(sa.counts.bytes, sb.counts.bytes);
        PE_CHECK_EQ_INT(sa.counts.lines, sb.counts.lines);
        PE_CHECK_EQ_INT(sa.counts.statements, sb.counts.statements);
        PE_CHECK_EQ_STR(sa.last_error, sb.last_error);
        pe_kg_reader *ra, *rb;
        pe_kg_stats ta, tb;
        if (pe_kg_reader_begin(a, &ra) == PE_OK) {
            if (pe_kg_reader_begin(b, &rb) == PE_OK) {
                PE_CHECK(pe_kg_stats_get(ra, &ta) == PE_OK && pe_kg_stats_get(rb, &tb) == PE_OK);
                PE_CHECK_EQ_INT(ta.terms, tb.terms);
                PE_CHECK_EQ_INT(ta.entities, tb.entities);
                PE_CHECK_EQ_INT(ta.literals, tb.literals);
                PE_CHECK_EQ_INT(ta.triples, tb.triples);
                PE_CHECK_EQ_INT(ta.alias_keys, tb.alias_keys);
                pe_kg_reader_end(rb);
            }
            pe_kg_reader_end(ra);
        }
        uint64_t na, nb;
        uint64_t da = digest(a, &na), db = digest(b, &nb);
        PE_CHECK_EQ_INT(na, nb);
        PE_CHECK(na > 0);
        PE_CHECK_MSG(da == db, "%s: store contents differ after kill + resume", tag);
    }
    pe_kg_close(a);
    pe_kg_close(b);
}

static void test_json(void)
{
    char dump[256];
    snprintf(dump, sizeof dump, "%s", tmp_path("dump.json"));
    make_dump(dump);
    kill_and_resume(dump, "wikidata-json", 4); /* 4: the bad lines were skipped */
    pe_kg *a;
    char db[300];
    snprintf(db, sizeof db, "%s-kg-a", dump);
    if ((a = open_store(db))) {
        pe_kg_source s;
        PE_CHECK(read_source(a, &s) == 0);
        PE_CHECK_EQ_INT(s.counts.entities, N_ENTITIES - N_ENTITIES / 997);
        PE_CHECK_EQ_INT(s.counts.skipped, N_ENTITIES / 997);
        pe_kg_close(a);
    }
}

static void test_ntriples_gz(void)
{
    char dump[256];
    snprintf(dump, sizeof dump, "%s", tmp_path("dump.nt.gz"));
    make_rdf(dump, 0, 12000);
    kill_and_resume(dump, "ntriples.gz", 4);
}

static void test_turtle(void)
{
    char dump[256];
    snprintf(dump, sizeof dump, "%s", tmp_path("dump.ttl"));
    make_rdf(dump, 1, 12000);
    kill_and_resume(dump, "turtle", 0);
}

/* Exit codes and messages of persona kg import. */
static void test_cli(void)
{
    char db[300], bad[300], log[300], missing[300];
    snprintf(db, sizeof db, "%s", tmp_path("cli-kg"));
    snprintf(bad, sizeof bad, "%s", tmp_path("cli-bad.json"));
    snprintf(missing, sizeof missing, "%s", tmp_path("missing.json"));
    snprintf(log, sizeof log, "%s", tmp_path("cli.log"));
    FILE *f = fopen(bad, "w");
    fprintf(f, "[\n{\"id\":\"Q1\",\"labels\":{}},\n{\"id\":\"Q2\",\"labels\":7},\n{\"id\":\"Q3\"}\n]\n");
    fclose(f);
    char *usage1[] = {persona, "kg", "import", NULL};
    PE_CHECK_EQ_INT(run(log, usage1), 2);
    char *usage2[] = {persona, "kg", "import", bad, "--format", "yaml", "--db", db, NULL};
    PE_CHECK_EQ_INT(run(log, usage2), 2);
    PE_CHECK(file_contains(log, "unknown format 'yaml'"));
    char *usage3[] = {persona, "kg", "import", bad, "--batch", "0", "--db", db, NULL};
    PE_CHECK_EQ_INT(run(log, usage3), 2);
    char *help[] = {persona, "kg", "import", "--help", NULL};
    PE_CHECK_EQ_INT(run(log, help), 0);
    PE_CHECK(file_contains(log, "--resume"));
    char *miss[] = {persona, "kg", "import", missing, "--db", db, NULL};
    PE_CHECK_EQ_INT(run(log, miss), 5); /* missing input, before the store is made */
    PE_CHECK(file_contains(log, "missing.json"));
    char *strict[] = {persona, "kg", "import", bad, "--db", db, "--strict", NULL};
    PE_CHECK_EQ_INT(run(log, strict), 1);
    PE_CHECK(file_contains(log, "cli-bad.json:3: entity Q2: \"labels\" is not an object"));
    char *partial[] = {persona, "kg", "import", bad, "--db", db, "--json", NULL};
    PE_CHECK_EQ_INT(run(log, partial), 4);
    PE_CHECK(file_contains(log, "\"skipped\":\t1") || file_contains(log, "\"skipped\": 1"));
    char *again[] = {persona, "kg", "import", bad, "--db", db, NULL};
    PE_CHECK_EQ_INT(run(log, again), 0); /* already imported: nothing done, nothing skipped now */
    PE_CHECK(file_contains(log, "already imported"));

    /* an owl:sameAs-only N-Triples file goes first whatever its place */
    char data[300], links[300], db2[300];
    snprintf(data, sizeof data, "%s", tmp_path("cli-data.nt"));
    snprintf(links, sizeof links, "%s", tmp_path("cli-links.nt"));
    snprintf(db2, sizeof db2, "%s", tmp_path("cli-kg2"));
    f = fopen(data, "w");
    fprintf(f, "<http://dbpedia.org/resource/A> <http://www.w3.org/2000/01/rdf-schema#label> \"A\"@en .\n");
    fclose(f);
    f = fopen(links, "w");
    fprintf(f, "<http://dbpedia.org/resource/A> <http://www.w3.org/2002/07/owl#sameAs> "
               "<http://www.wikidata.org/entity/Q1> .\n");
    fclose(f);
    char *both[] = {persona, "kg", "import", data, links, "--db", db2, "--json", NULL};
    PE_CHECK_EQ_INT(run(log, both), 0);
    FILE *lf = fopen(log, "r");
    char text[8192] = "";
    if (lf) {
        size_t n = fread(text, 1, sizeof text - 1, lf);
        text[n] = 0;
        fclose(lf);
    }
    const char *pl = strstr(text, "cli-links.nt"), *pd = strstr(text, "cli-data.nt");
    PE_CHECK_MSG(pl && pd && pl < pd, "links not imported first:\n%s", text);
    pe_kg *kg = open_store(db2);
    if (kg) {
        pe_kg_reader *r;
        pe_kg_id a = 0, q = 0;
        if (pe_kg_reader_begin(kg, &r) == PE_OK) {
            pe_kg_resolve(r, "Q1", 2, &q);
            pe_kg_resolve(r, "http://dbpedia.org/resource/A", 29, &a);
            const char *label = NULL;
            PE_CHECK(q && q == a && pe_kg_label(r, q, "en", &label) == PE_OK && label && !strcmp(label, "A"));
            pe_kg_reader_end(r);
        }
        pe_kg_close(kg);
    }
}

int main(void)
{
    const char *bin = getenv("PE_BINARY_DIR");
    snprintf(persona, sizeof persona, "%s/cli/persona", bin ? bin : PE_BINARY_DIR);
    if (access(persona, X_OK) != 0) {
        fprintf(stderr, "skipped: %s not built\n", persona);
        return PE_SKIP_CODE;
    }
    if (!pe_test_tmpdir(tmpdir, sizeof tmpdir, "pe_import_crash")) return 1;
    PE_RUN(test_cli);
    PE_RUN(test_json);
    PE_RUN(test_ntriples_gz);
    PE_RUN(test_turtle);
    if (pe_test_rm_rf(tmpdir) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    PE_TEST_EXIT();
}
