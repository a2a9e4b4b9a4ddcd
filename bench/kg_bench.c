/* kg_bench.c - measurements for the knowledge-graph import benchmark
 * (driven by scripts/bench-kg.sh; figures in docs/BENCHMARKS.md).
 *
 *   pe_bench_kg stats DB                      store counts and sizes (JSON)
 *   pe_bench_kg lookup DB [--n N] [--labels M] [--seed S] [--lang L]
 *                                             alias lookup latency over N lookups of
 *                                             real labels drawn from the store (JSON)
 *   pe_bench_kg run OUT.json -- CMD ARGS...   runs CMD, writes its wall time, peak RSS
 *                                             and exit status to OUT.json
 *   pe_bench_kg gen SRC.json[.gz] --gb X      writes a Wikidata dump of about X GB to
 *                                             stdout: the entities of SRC replicated
 *                                             with fresh ids
 *   pe_bench_kg scale SRC.json[.gz] --db DIR --gb X [--interval S]
 *                                             imports such a generated dump through a
 *                                             pipe, printing throughput and memory
 *                                             every S seconds (JSON lines)
 *
 * Generated ids: replica k (k = 0 is the source itself) adds k * 10^9 to the
 * number of every item id ("Q42" -> "Q1000000042" in k = 1), in entity ids,
 * statement ids and item values alike, so that each replica is a consistent
 * copy of the source graph; properties are emitted once (replica 0 only).
 */
#define _GNU_SOURCE
#include "pe_import.h"
#include "pe_kg.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

static int die(const char *what, pe_status st, const char *msg)
{
    fprintf(stderr, "pe_bench_kg: %s: %s%s%s\n", what, pe_status_str(st), msg && *msg ? ": " : "", msg ? msg : "");
    return 1;
}

static uint64_t dir_bytes(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    uint64_t n = 0;
    struct dirent *e;
    char p[4096];
    struct stat sb;
    while ((e = readdir(d))) {
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (stat(p, &sb) == 0 && S_ISREG(sb.st_mode)) n += (uint64_t)sb.st_blocks * 512; /* allocated, not sparse size */
    }
    closedir(d);
    return n;
}

static pe_status open_store(const char *dir, int read_only, pe_kg **kg)
{
    pe_kg_options o = pe_kg_options_default();
    o.read_only = read_only;
    o.create = !read_only;
    pe_error err;
    pe_status st = pe_kg_open(dir, &o, kg, &err);
    if (st >= PE_ERR_FIRST) {
        die(dir, st, err.msg);
    }
    return st;
}

/* ---- stats ------------------------------------------------------------------ */

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

static int cmd_stats(int argc, char **argv)
{
    if (argc != 2) return fprintf(stderr, "usage: pe_bench_kg stats DB\n"), 2;
    pe_kg *kg;
    if (open_store(argv[1], 1, &kg) >= PE_ERR_FIRST) return 1;
    pe_kg_reader *r;
    pe_status st = pe_kg_reader_begin(kg, &r);
    if (st >= PE_ERR_FIRST) return die("reader", st, pe_kg_errmsg(kg));
    pe_kg_stats s;
    if ((st = pe_kg_stats_get(r, &s)) >= PE_ERR_FIRST) return die("stats", st, pe_kg_reader_errmsg(r));
    printf("{\"terms\":%" PRIu64 ",\"entities\":%" PRIu64 ",\"literals\":%" PRIu64 ",\"triples\":%" PRIu64
           ",\"alias_keys\":%" PRIu64 ",\"sameas\":%" PRIu64 ",\"store_bytes\":%" PRIu64 ",\"dir_bytes\":%" PRIu64
           ",\"sources\":[",
           s.terms, s.entities, s.literals, s.triples, s.alias_keys, s.sameas, s.store_bytes, dir_bytes(argv[1]));
    for (uint32_t i = 1; i <= s.sources; i++) {
        pe_kg_source src;
        if (pe_kg_source_get(r, i, &src) != PE_OK) continue;
        printf("%s{\"id\":%u,\"path\":", i > 1 ? "," : "", src.id);
        json_str(stdout, src.path);
        printf(",\"format\":");
        json_str(stdout, src.format);
        printf(",\"status\":%d,\"seconds\":%.3f,\"entities\":%" PRIu64 ",\"triples\":%" PRIu64 ",\"labels\":%" PRIu64
               ",\"aliases\":%" PRIu64 ",\"sameas\":%" PRIu64 ",\"skipped\":%" PRIu64 ",\"bytes\":%" PRIu64
               ",\"lines\":%" PRIu64 "}",
               (int)src.status, src.ended > 0 ? src.ended - src.started : 0.0, src.counts.entities,
               src.counts.triples, src.counts.labels, src.counts.aliases, src.counts.sameas, src.counts.skipped,
               src.counts.bytes, src.counts.lines);
    }
    printf("]}\n");
    pe_kg_reader_end(r);
    pe_kg_close(kg);
    return 0;
}

/* ---- lookup ------------------------------------------------------------------ */

static uint64_t rng_state = 88172645463325252ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Open-addressing set of entity ids (to draw each subject's label once). */
typedef struct idset { uint64_t *slot; size_t cap, n; } idset;
static int idset_add(idset *s, uint64_t id)
{
    if ((s->n + 1) * 2 > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        uint64_t *ns = calloc(cap, sizeof *ns);
        if (!ns) return -1;
        for (size_t i = 0; i < s->cap; i++)
            if (s->slot[i]) {
                size_t j = (size_t)(s->slot[i] * 0x9E3779B97F4A7C15ull) & (cap - 1);
                while (ns[j]) j = (j + 1) & (cap - 1);
                ns[j] = s->slot[i];
            }
        free(s->slot);
        s->slot = ns;
        s->cap = cap;
    }
    size_t j = (size_t)(id * 0x9E3779B97F4A7C15ull) & (s->cap - 1);
    while (s->slot[j]) {
        if (s->slot[j] == id) return 0;
        j = (j + 1) & (s->cap - 1);
    }
    s->slot[j] = id;
    s->n++;
    return 1;
}

static int cmd_lookup(int argc, char **argv)
{
    const char *db = NULL, *lang = "en";
    long n = 1000000, max_labels = 200000;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--n") == 0 && i + 1 < argc) n = atol(argv[++i]);
        else if (strcmp(argv[i], "--labels") == 0 && i + 1 < argc) max_labels = atol(argv[++i]);
        else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) rng_state = strtoull(argv[++i], NULL, 10) | 1;
        else if (strcmp(argv[i], "--lang") == 0 && i + 1 < argc) lang = argv[++i];
        else if (!db) db = argv[i];
        else return fprintf(stderr, "usage: pe_bench_kg lookup DB [--n N] [--labels M] [--seed S] [--lang L]\n"), 2;
    }
    if (!db || n <= 0 || max_labels <= 0) return fprintf(stderr, "usage: pe_bench_kg lookup DB [--n N] ...\n"), 2;
    pe_kg *kg;
    if (open_store(db, 1, &kg) >= PE_ERR_FIRST) return 1;
    pe_kg_reader *r;
    pe_status st = pe_kg_reader_begin(kg, &r);
    if (st >= PE_ERR_FIRST) return die("reader", st, pe_kg_errmsg(kg));

    /* Labels of the subjects of the store's triples, in index order. */
    double t0 = pe_now();
    char **labels = malloc((size_t)max_labels * sizeof *labels);
    size_t nl = 0;
    idset seen = {0};
    pe_kg_iter *it;
    if ((st = pe_kg_match(r, 0, 0, 0, &it)) >= PE_ERR_FIRST) return die("match", st, pe_kg_reader_errmsg(r));
    pe_kg_triple t;
    while (nl < (size_t)max_labels && pe_kg_iter_next(it, &t) == PE_OK) {
        if (idset_add(&seen, t.s) != 1) continue;
        const char *l;
        if (pe_kg_label(r, t.s, lang, &l) == PE_OK && l && *l) labels[nl++] = strdup(l);
    }
    pe_kg_iter_free(it);
    free(seen.slot);
    double t_collect = pe_now() - t0;
    if (nl == 0) return die("lookup", PE_NOT_FOUND, "no labels in the store");

    /* Warm-up: one pass over the labels (pages in, caches warm). */
    pe_kg_candidate c[10];
    size_t nc;
    for (size_t i = 0; i < nl; i++) pe_kg_lookup(r, labels[i], strlen(labels[i]), NULL, c, 10, &nc);

    double *lat = malloc((size_t)n * sizeof *lat);
    long found = 0, self_first = 0;
    double t_all = pe_now();
    for (long i = 0; i < n; i++) {
        const char *l = labels[rnd() % nl];
        size_t len = strlen(l);
        double a = pe_now();
        st = pe_kg_lookup(r, l, len, NULL, c, 10, &nc);
        double b = pe_now();
        lat[i] = (b - a) * 1e6;
        if (st == PE_OK && nc > 0) found++;
        (void)self_first;
    }
    t_all = pe_now() - t_all;
    qsort(lat, (size_t)n, sizeof *lat, cmp_double);
    double sum = 0;
    for (long i = 0; i < n; i++) sum += lat[i];
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"labels\":%zu,\"collect_s\":%.2f,\"lookups\":%ld,\"found\":%ld,\"p50_us\":%.2f,\"p90_us\":%.2f,"
           "\"p99_us\":%.2f,\"p999_us\":%.2f,\"max_us\":%.1f,\"mean_us\":%.2f,\"lookups_per_s\":%.0f,"
           "\"max_rss_kb\":%ld}\n",
           nl, t_collect, n, found, lat[n / 2], lat[(long)(n * 0.9)], lat[(long)(n * 0.99)], lat[(long)(n * 0.999)],
           lat[n - 1], sum / (double)n, (double)n / t_all, ru.ru_maxrss);
    free(lat);
    for (size_t i = 0; i < nl; i++) free(labels[i]);
    free(labels);
    pe_kg_reader_end(r);
    pe_kg_close(kg);
    return 0;
}

/* ---- run ---------------------------------------------------------------------- */

static int cmd_run(int argc, char **argv)
{
    if (argc < 4 || strcmp(argv[2], "--") != 0)
        return fprintf(stderr, "usage: pe_bench_kg run OUT.json -- CMD ARGS...\n"), 2;
    double t0 = pe_now();
    pid_t pid = fork();
    if (pid < 0) return perror("fork"), 1;
    if (pid == 0) {
        execvp(argv[3], argv + 3);
        fprintf(stderr, "pe_bench_kg run: %s: %s\n", argv[3], strerror(errno));
        _exit(127);
    }
    int status = 0;
    struct rusage ru;
    while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR) {}
    double el = pe_now() - t0;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    FILE *f = fopen(argv[1], "w");
    if (!f) return perror(argv[1]), 1;
    fprintf(f, "{\"seconds\":%.3f,\"max_rss_kb\":%ld,\"user_s\":%.3f,\"sys_s\":%.3f,\"exit\":%d}\n", el, ru.ru_maxrss,
            (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6,
            (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6, code);
    fclose(f);
    return code;
}

/* ---- gen ------------------------------------------------------------------------ */

#define REPLICA_OFFSET 1000000000ull

/* Writes line with every item number shifted by `add`: "Q<digits>" directly
 * after a quote (ids, values, statement ids "Q16$...") and the
 * "numeric-id":N of item values. */
static void emit_shifted(FILE *out, const char *s, size_t len, uint64_t add)
{
    static const char nid[] = "\"entity-type\":\"item\",\"numeric-id\":";
    size_t i = 0, from = 0;
    while (i < len) {
        size_t digits_at = 0;
        if (s[i] == '"' && i + 2 < len && s[i + 1] == 'Q' && s[i + 2] >= '0' && s[i + 2] <= '9') digits_at = i + 2;
        else if (s[i] == '"' && len - i > sizeof nid - 1 && memcmp(s + i, nid, sizeof nid - 1) == 0)
            digits_at = i + sizeof nid - 1;
        if (!digits_at) { i++; continue; }
        size_t j = digits_at;
        uint64_t v = 0;
        while (j < len && s[j] >= '0' && s[j] <= '9') v = v * 10 + (uint64_t)(s[j++] - '0');
        if (j == digits_at) { i++; continue; }
        fwrite(s + from, 1, digits_at - from, out);
        fprintf(out, "%" PRIu64, v + add);
        from = i = j;
    }
    fwrite(s + from, 1, len - from, out);
}

/* Reads one line (without '\n') into *buf; 0 at the end. */
static int gz_line(gzFile g, char **buf, size_t *cap, size_t *len)
{
    size_t n = 0;
    for (;;) {
        if (*cap - n < 2) {
            *cap = *cap ? *cap * 2 : 1 << 20;
            *buf = realloc(*buf, *cap);
        }
        if (!gzgets(g, *buf + n, (int)(*cap - n > INT32_MAX ? INT32_MAX : *cap - n))) break;
        n += strlen(*buf + n);
        if (n && (*buf)[n - 1] == '\n') break;
    }
    if (n == 0) return 0;
    if ((*buf)[n - 1] == '\n') n--;
    *len = n;
    return 1;
}

static int gen(const char *src, double gb, FILE *out)
{
    uint64_t target = (uint64_t)(gb * 1e9), written = 0;
    char *buf = NULL;
    size_t cap = 0, len;
    int first = 1;
    fputs("[\n", out);
    for (uint64_t k = 0; written < target; k++) {
        gzFile g = gzopen(src, "rb");
        if (!g) return fprintf(stderr, "pe_bench_kg gen: %s: %s\n", src, strerror(errno)), 1;
        gzbuffer(g, 1 << 20);
        uint64_t before = written;
        while (written < target && gz_line(g, &buf, &cap, &len)) {
            while (len && (buf[len - 1] == ',' || buf[len - 1] == '\r' || buf[len - 1] == ' ')) len--;
            if (len < 2 || buf[0] != '{') continue; /* "[" and "]" lines */
            if (k > 0) { /* properties once: the entity's own id is the first "id" of its line */
                const char *id = memmem(buf, len, "\"id\":\"", 6);
                if (id && id[6] == 'P') continue;
            }
            if (!first) fputs(",\n", out);
            first = 0;
            emit_shifted(out, buf, len, k * REPLICA_OFFSET);
            written += len + 2;
        }
        gzclose(g);
        if (written == before) break; /* empty source */
        if (ferror(out)) break;
    }
    fputs("\n]\n", out);
    free(buf);
    return fflush(out) == 0 && !ferror(out) ? 0 : 1;
}

static int cmd_gen(int argc, char **argv)
{
    if (argc != 4 || strcmp(argv[2], "--gb") != 0) return fprintf(stderr, "usage: pe_bench_kg gen SRC --gb X\n"), 2;
    static char obuf[1 << 20];
    setvbuf(stdout, obuf, _IOFBF, sizeof obuf);
    return gen(argv[1], atof(argv[3]), stdout);
}

/* ---- scale ---------------------------------------------------------------------- */

typedef struct scale_state {
    double interval, next;
    uint64_t last_bytes, last_entities;
    double last_t;
} scale_state;

/* Resident memory in MB from /proc/self/status: total, anonymous (heap), file-backed (LMDB map). */
static void rss_mb(double *total, double *anon, double *file)
{
    *total = *anon = *file = 0;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return;
    char line[256];
    long kb;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "VmRSS: %ld", &kb) == 1) *total = kb / 1024.0;
        else if (sscanf(line, "RssAnon: %ld", &kb) == 1) *anon = kb / 1024.0;
        else if (sscanf(line, "RssFile: %ld", &kb) == 1) *file = kb / 1024.0;
    }
    fclose(f);
}

static void scale_row(const pe_import_progress *p, scale_state *s)
{
    double dt = p->elapsed - s->last_t;
    double tot, anon, file;
    rss_mb(&tot, &anon, &file);
    printf("{\"t\":%.1f,\"gb\":%.3f,\"entities\":%" PRIu64 ",\"triples\":%" PRIu64 ",\"ent_per_s\":%.0f,"
           "\"mb_per_s\":%.1f,\"rss_mb\":%.0f,\"anon_mb\":%.0f,\"file_mb\":%.0f}\n",
           p->elapsed, p->bytes_decoded / 1e9, p->entities, p->triples,
           dt > 0 ? (double)(p->entities - s->last_entities) / dt : 0,
           dt > 0 ? (double)(p->bytes_decoded - s->last_bytes) / dt / 1e6 : 0, tot, anon, file);
    fflush(stdout);
    s->last_t = p->elapsed;
    s->last_bytes = p->bytes_decoded;
    s->last_entities = p->entities;
}

static void on_scale_progress(const pe_import_progress *p, void *user)
{
    scale_state *s = user;
    if (p->elapsed < s->next) return;
    s->next = p->elapsed + s->interval;
    scale_row(p, s);
}

static int cmd_scale(int argc, char **argv)
{
    const char *src = NULL, *db = NULL;
    double gb = 3, interval = 10;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--db") == 0 && i + 1 < argc) db = argv[++i];
        else if (strcmp(argv[i], "--gb") == 0 && i + 1 < argc) gb = atof(argv[++i]);
        else if (strcmp(argv[i], "--interval") == 0 && i + 1 < argc) interval = atof(argv[++i]);
        else if (!src) src = argv[i];
        else return fprintf(stderr, "usage: pe_bench_kg scale SRC --db DIR --gb X [--interval S]\n"), 2;
    }
    if (!src || !db || gb <= 0 || interval <= 0)
        return fprintf(stderr, "usage: pe_bench_kg scale SRC --db DIR --gb X [--interval S]\n"), 2;
    /* The generator runs in a child process so that its memory is not counted. */
    int fds[2];
    if (pipe(fds) != 0) return perror("pipe"), 1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) return perror("fork"), 1;
    if (pid == 0) {
        close(fds[0]);
        FILE *out = fdopen(fds[1], "w");
        static char obuf[1 << 20];
        setvbuf(out, obuf, _IOFBF, sizeof obuf);
        _exit(gen(src, gb, out));
    }
    close(fds[1]);
    if (dup2(fds[0], STDIN_FILENO) < 0) return perror("dup2"), 1;
    close(fds[0]);

    pe_kg *kg;
    if (open_store(db, 0, &kg) >= PE_ERR_FIRST) return 1;
    scale_state s = {interval, interval, 0, 0, 0};
    pe_import_options o = pe_import_options_default();
    o.format = PE_IMPORT_WIKIDATA_JSON;
    o.progress = on_scale_progress;
    o.progress_user = &s;
    pe_import_result res;
    pe_error err;
    pe_error_clear(&err);
    double t0 = pe_now();
    pe_status st = pe_import_file(kg, "-", &o, &res, &err);
    double el = pe_now() - t0;
    int status = 0;
    close(STDIN_FILENO);
    waitpid(pid, &status, 0);
    if (st >= PE_ERR_FIRST) {
        kill(pid, SIGTERM);
        pe_kg_close(kg);
        return die("import", st, err.msg);
    }
    pe_import_progress last = {"-", 0, 0, res.counts.bytes, res.counts.entities, res.counts.triples,
                               res.counts.skipped, el};
    scale_row(&last, &s);
    pe_kg_close(kg);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"final\":true,\"seconds\":%.1f,\"gb\":%.3f,\"entities\":%" PRIu64 ",\"triples\":%" PRIu64
           ",\"skipped\":%" PRIu64 ",\"ent_per_s\":%.0f,\"mb_per_s\":%.1f,\"max_rss_kb\":%ld,\"store_bytes\":%" PRIu64
           ",\"generator_exit\":%d}\n",
           el, res.counts.bytes / 1e9, res.counts.entities, res.counts.triples, res.counts.skipped,
           res.counts.entities / el, res.counts.bytes / el / 1e6, ru.ru_maxrss, dir_bytes(db),
           WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return 0;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    if (argc >= 2 && strcmp(argv[1], "stats") == 0) return cmd_stats(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "lookup") == 0) return cmd_lookup(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "run") == 0) return cmd_run(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "gen") == 0) return cmd_gen(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "scale") == 0) return cmd_scale(argc - 1, argv + 1);
    fprintf(stderr,
            "usage: pe_bench_kg stats DB | lookup DB [--n N] | run OUT.json -- CMD... |\n"
            "       gen SRC --gb X | scale SRC --db DIR --gb X [--interval S]\n"
            "Driven by scripts/bench-kg.sh; see the comment at the top of bench/kg_bench.c.\n");
    return 2;
}
