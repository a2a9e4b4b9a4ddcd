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
    if (pe_kg_open(dir, &o, &kg) != PE_OK) { pe_kg_close(kg); return NULL; }
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

static void test_kill_and_resume(void)
{
    char dump[256];
    snprintf(dump, sizeof dump, "%s", tmp_path("dump.json"));
    make_dump(dump);
    char dba[256], dbb[256];
    snprintf(dba, sizeof dba, "%s", tmp_path("kg-a"));
    snprintf(dbb, sizeof dbb, "%s", tmp_path("kg-b"));

    /* 1. start, wait for a committed batch, kill -9 */
    char *args_a[] = {persona, "kg", "import", dump, "--db", dba, "--batch", BATCH, NULL};
    pid_t pid = spawn(tmp_path("a1.log"), args_a);
    PE_CHECK(pid > 0);
    pe_kg *kg = NULL;
    pe_kg_source s;
    int killed = 0;
    for (int tries = 0; tries < 20000 && !killed; tries++) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) break; /* finished too early */
        if (!kg) kg = open_store(dba);
        if (kg && read_source(kg, &s) == 0 && s.counts.lines > 0) {
            kill(pid, SIGKILL);
            killed = 1;
        } else {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
    }
    int status = 0;
    if (killed) waitpid(pid, &status, 0);
    PE_CHECK_MSG(killed && WIFSIGNALED(status), "the import ended before it could be killed");
    if (!killed) { pe_kg_close(kg); return; }
    PE_CHECK(read_source(kg, &s) == 0);
    PE_CHECK_EQ_INT(s.status, PE_KG_SOURCE_RUNNING);
    PE_CHECK(s.counts.lines > 0 && s.counts.lines < N_ENTITIES + 2);
    fprintf(stderr, "killed after %llu lines committed\n", (unsigned long long)s.counts.lines);
    pe_kg_close(kg);
    kg = NULL;

    /* 2. without --resume: refused, pointing at --resume */
    int rc = run(tmp_path("a2.log"), args_a);
    PE_CHECK_EQ_INT(rc, 1);
    PE_CHECK(file_contains(tmp_path("a2.log"), "--resume"));
    if (rc != 1) show_log(tmp_path("a2.log"));

    /* 3. resume */
    char *args_r[] = {persona, "kg", "import", dump, "--db", dba, "--batch", BATCH, "--resume", NULL};
    rc = run(tmp_path("a3.log"), args_r);
    PE_CHECK_EQ_INT(rc, 4); /* 4: records were skipped (the bad lines) */
    PE_CHECK(file_contains(tmp_path("a3.log"), "resumed"));
    if (rc != 4) show_log(tmp_path("a3.log"));

    /* 4. an uninterrupted import for reference */
    char *args_b[] = {persona, "kg", "import", dump, "--db", dbb, "--batch", BATCH, NULL};
    rc = run(tmp_path("b.log"), args_b);
    PE_CHECK_EQ_INT(rc, 4);
    if (rc != 4) show_log(tmp_path("b.log"));

    pe_kg *a = open_store(dba), *b = open_store(dbb);
    PE_CHECK(a && b);
    if (a && b) {
        pe_kg_source sa, sb;
        PE_CHECK(read_source(a, &sa) == 0 && read_source(b, &sb) == 0);
        PE_CHECK_EQ_INT(sa.status, PE_KG_SOURCE_DONE);
        PE_CHECK_EQ_INT(sa.counts.entities, sb.counts.entities);
        PE_CHECK_EQ_INT(sa.counts.entities, N_ENTITIES - N_ENTITIES / 997);
        PE_CHECK_EQ_INT(sa.counts.labels, sb.counts.labels);
        PE_CHECK_EQ_INT(sa.counts.aliases, sb.counts.aliases);
        PE_CHECK_EQ_INT(sa.counts.descriptions, sb.counts.descriptions);
        PE_CHECK_EQ_INT(sa.counts.triples, sb.counts.triples);
        PE_CHECK_EQ_INT(sa.counts.skipped, sb.counts.skipped);
        PE_CHECK_EQ_INT(sa.counts.skipped, N_ENTITIES / 997);
        PE_CHECK_EQ_INT(sa.counts.dropped, sb.counts.dropped);
        PE_CHECK_EQ_INT(sa.counts.bytes, sb.counts.bytes);
        PE_CHECK_EQ_INT(sa.counts.lines, sb.counts.lines);
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
        PE_CHECK_MSG(da == db, "store contents differ after kill + resume");
    }
    pe_kg_close(a);
    pe_kg_close(b);
}

int main(void)
{
    const char *bin = getenv("PE_BINARY_DIR");
    snprintf(persona, sizeof persona, "%s/cli/persona", bin ? bin : PE_BINARY_DIR);
    if (access(persona, X_OK) != 0) {
        fprintf(stderr, "skipped: %s not built\n", persona);
        return PE_SKIP_CODE;
    }
    snprintf(tmpdir, sizeof tmpdir, "/tmp/pe_import_crash_XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;
    PE_RUN(test_kill_and_resume);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    PE_TEST_EXIT();
}
