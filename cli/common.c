#include "cli.h"

#include <cjson/cJSON.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *pe_cli_default_db(void)
{
    const char *e = getenv("PERSONA_DB");
    return e && *e ? e : "persona-kg";
}

int pe_cli_is_help(const char *arg)
{
    return arg && (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0);
}

/* ---- errors ---- */

static const char *g_command = "";

void pe_cli_set_command(const char *name) { g_command = name ? name : ""; }

static void prefix(void) { fprintf(stderr, "persona%s%s: ", *g_command ? " " : "", g_command); }

int pe_cli_exit(pe_status st)
{
    if (st == PE_OK || st == PE_DONE) return PE_EXIT_OK;
    if (st == PE_NOT_FOUND) return PE_EXIT_NOT_FOUND;
    return PE_EXIT_FAIL;
}

int pe_cli_fail(pe_status st, const char *fmt, ...)
{
    prefix();
    fputs(pe_status_str(st), stderr);
    if (fmt && *fmt) {
        char msg[PE_ERRMSG_MAX + 1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        if (*msg) fprintf(stderr, ": %s", msg);
    }
    fputc('\n', stderr);
    return pe_cli_exit(st);
}

int pe_cli_error(int code, const char *fmt, ...)
{
    prefix();
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return code;
}

int pe_cli_need_file(const char *what, const char *path)
{
    struct stat sb;
    if (strcmp(path, "-") == 0 || stat(path, &sb) == 0) return PE_EXIT_OK;
    return pe_cli_error(PE_EXIT_MISSING, "%s %s does not exist", what, path);
}

/* ---- option parsing ---- */

static const char exit_codes[] =
    "exit codes: 0 success, 1 failure, 2 usage error, 3 not found (entity, id, candidate),\n"
    "            4 finished but records were skipped for bad input,\n"
    "            5 missing input (a file, model or graph store that does not exist)\n";

void pe_cli_help(const pe_cli_spec *spec, FILE *f)
{
    spec->help(f);
    fputc('\n', f);
    fputs(exit_codes, f);
    if (spec->exit_notes) fputs(spec->exit_notes, f);
}

/* Does `arg` (up to len bytes) name option o ("-o|--output")? */
static int opt_is(const pe_cli_opt *o, const char *arg, size_t len)
{
    const char *n = o->name;
    while (*n) {
        size_t k = strcspn(n, "|");
        if (k == len && strncmp(n, arg, len) == 0) return 1;
        n += k;
        if (*n == '|') n++;
    }
    return 0;
}

static int bad_value(const pe_cli_spec *spec, const char *opt, const char *v, const char *want)
{
    (void)spec;
    return pe_cli_error(PE_EXIT_USAGE, "%s wants %s, not '%s' (see --help)", opt, want, v);
}

/* Stores the value of o; PE_CLI_RUN or PE_EXIT_USAGE (reported). */
static int set_value(const pe_cli_spec *spec, const pe_cli_opt *o, const char *opt, const char *v)
{
    char want[160];
    switch (o->kind) {
    case PE_CLI_FLAG:
        *(int *)o->dst = 1;
        return PE_CLI_RUN;
    case PE_CLI_STRING: {
        if (!*v) return pe_cli_error(PE_EXIT_USAGE, "%s wants a value, not an empty string (see --help)", opt);
        const char *why = o->check ? o->check(v) : NULL;
        if (why) return bad_value(spec, opt, v, why);
        *(const char **)o->dst = v;
        return PE_CLI_RUN;
    }
    case PE_CLI_INT:
    case PE_CLI_SIZE: {
        int is_int = o->kind == PE_CLI_INT;
        double lo = o->min, hi = o->max;
        if (is_int && lo == 0 && hi == 0) lo = INT_MIN, hi = INT_MAX;
        if (!is_int && hi == 0) hi = (double)SIZE_MAX;
        if (is_int && hi > INT_MAX) hi = INT_MAX;
        if (is_int && lo < INT_MIN) lo = INT_MIN;
        if (hi >= 1e18) snprintf(want, sizeof want, "an integer of at least %.0f", lo);
        else snprintf(want, sizeof want, "an integer from %.0f to %.0f", lo, hi);
        const char *p = v;
        while (*p == ' ') p++;
        int neg = *p == '-';
        if (!*p || (!isdigit((unsigned char)p[neg]))) return bad_value(spec, opt, v, want);
        char *end;
        errno = 0;
        if (neg) {
            long long x = strtoll(p, &end, 10);
            if (errno || *end || (double)x < lo || (double)x > hi) return bad_value(spec, opt, v, want);
            if (is_int) *(int *)o->dst = (int)x;
            else *(size_t *)o->dst = (size_t)x; /* lo < 0 for a size is the table's choice */
        } else {
            unsigned long long x = strtoull(p, &end, 10);
            if (errno || *end || (double)x < lo || (double)x > hi || (!is_int && x > SIZE_MAX))
                return bad_value(spec, opt, v, want);
            if (is_int) *(int *)o->dst = (int)x;
            else *(size_t *)o->dst = (size_t)x;
        }
        return PE_CLI_RUN;
    }
    case PE_CLI_DOUBLE: {
        snprintf(want, sizeof want, "a number from %g to %g", o->min, o->max);
        char *end;
        errno = 0;
        double x = strtod(v, &end);
        if (!*v || errno || *end || !isfinite(x) || x < o->min || x > o->max) return bad_value(spec, opt, v, want);
        *(double *)o->dst = x;
        return PE_CLI_RUN;
    }
    case PE_CLI_CHOICE: {
        const char *c = o->choices;
        for (int i = 0; *c; i++) {
            size_t k = strcspn(c, "|");
            if (k == strlen(v) && strncmp(c, v, k) == 0) {
                *(int *)o->dst = i;
                return PE_CLI_RUN;
            }
            c += k;
            if (*c == '|') c++;
        }
        snprintf(want, sizeof want, "one of %s", o->choices);
        return bad_value(spec, opt, v, want);
    }
    }
    return pe_cli_error(PE_EXIT_USAGE, "%s: bad option table", opt);
}

int pe_cli_parse(const pe_cli_spec *spec, int argc, char **argv, int *npos)
{
    int np = 0, only_pos = 0;
    *npos = 0;
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (only_pos || a[0] != '-' || a[1] == '\0') {
            argv[1 + np++] = a; /* np <= i - 1: never overwrites what is still to be read */
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_pos = 1;
            continue;
        }
        if (pe_cli_is_help(a)) {
            pe_cli_help(spec, stdout);
            return PE_EXIT_OK;
        }
        const char *eq = a[1] == '-' ? strchr(a, '=') : NULL;
        size_t len = eq ? (size_t)(eq - a) : strlen(a);
        const pe_cli_opt *o = spec->opts;
        while (o && o->name && !opt_is(o, a, len)) o++;
        if (!o || !o->name)
            return pe_cli_error(PE_EXIT_USAGE, "unknown option '%.*s' (see --help)", (int)len, a);
        char opt[64];
        snprintf(opt, sizeof opt, "%.*s", (int)len, a);
        const char *v = NULL;
        if (o->kind == PE_CLI_FLAG) {
            if (eq) return pe_cli_error(PE_EXIT_USAGE, "%s takes no value (see --help)", opt);
        } else if (eq) {
            v = eq + 1;
        } else if (i + 1 < argc) {
            v = argv[++i];
        } else {
            return pe_cli_error(PE_EXIT_USAGE, "%s needs a value (see --help)", opt);
        }
        int rc = set_value(spec, o, opt, v);
        if (rc != PE_CLI_RUN) return rc;
    }
    if (np < spec->min_pos || (spec->max_pos >= 0 && np > spec->max_pos)) {
        if (np < spec->min_pos && np == 0) {
            pe_cli_help(spec, stderr);
            return PE_EXIT_USAGE;
        }
        if (np < spec->min_pos) return pe_cli_error(PE_EXIT_USAGE, "missing argument (see --help)");
        return pe_cli_error(PE_EXIT_USAGE, "unexpected argument '%s' (see --help)", argv[1 + spec->max_pos]);
    }
    *npos = np;
    return PE_CLI_RUN;
}

const char *pe_cli_check_langs(const char *v)
{
    static const char want[] = "language codes separated by commas (en,fr,zh-hans)";
    size_t item = 0;
    for (const char *p = v;; p++) {
        if (*p == ',' || *p == '\0') {
            if (item == 0 || item > 64) return want;
            if (*p == '\0') return NULL;
            item = 0;
        } else if (isalnum((unsigned char)*p) || *p == '-' || *p == '_') {
            item++;
        } else {
            return want;
        }
    }
}

const char *pe_cli_check_sha256(const char *v)
{
    size_t n = strlen(v);
    if (n != 64 || strspn(v, "0123456789abcdefABCDEF") != 64) return "64 hexadecimal digits";
    return NULL;
}

/* ---- the graph store ---- */

int pe_cli_open_store(const char *db, int read_only, const pe_kg_options *opt, pe_kg **kg)
{
    *kg = NULL;
    if (!db) db = pe_cli_default_db();
    pe_kg_options o = opt ? *opt : pe_kg_options_default();
    if (read_only) {
        o.read_only = 1;
        o.create = 0;
        char p[PATH_MAX];
        struct stat sb;
        snprintf(p, sizeof p, "%s/data.mdb", db);
        if (stat(p, &sb) != 0)
            return pe_cli_error(PE_EXIT_MISSING, "no graph store at %s (make one with `persona kg import`)", db);
    }
    pe_error err;
    pe_error_clear(&err);
    pe_status st = pe_kg_open(db, &o, kg, &err);
    if (st >= PE_ERR_FIRST) return pe_cli_fail(st, "graph store %s: %s", db, err.msg);
    return PE_EXIT_OK;
}

int pe_cli_open_reader(const char *db, pe_kg **kg, pe_kg_reader **r)
{
    *r = NULL;
    int rc = pe_cli_open_store(db, 1, NULL, kg);
    if (rc != PE_EXIT_OK) return rc;
    pe_status st = pe_kg_reader_begin(*kg, r);
    if (st >= PE_ERR_FIRST) {
        rc = pe_cli_fail(st, "graph store %s: %s", db ? db : pe_cli_default_db(), pe_kg_errmsg(*kg));
        pe_kg_close(*kg);
        *kg = NULL;
    }
    return rc;
}

int pe_cli_remove_tree(const char *path)
{
    struct stat sb;
    if (lstat(path, &sb) != 0) return -1;
    if (!S_ISDIR(sb.st_mode)) return unlink(path);
    DIR *d = opendir(path);
    if (!d) return -1;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char p[PATH_MAX];
        snprintf(p, sizeof p, "%s/%s", path, e->d_name);
        rc |= pe_cli_remove_tree(p);
    }
    closedir(d);
    return rmdir(path) | rc;
}

void pe_cli_progress_init(pe_cli_progress *p)
{
    memset(p, 0, sizeof *p);
    p->tty = isatty(STDERR_FILENO) && !getenv("PERSONA_NO_PROGRESS");
    p->start = p->last = pe_now();
    p->plain_interval = 5.0;
}

static void fmt_amount(char *buf, size_t cap, double v, const char *unit)
{
    if (strcmp(unit, "B") == 0) {
        const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
        int i = 0;
        while (v >= 1024 && i < 4) { v /= 1024; i++; }
        snprintf(buf, cap, "%.1f %s", v, u[i]);
    } else {
        snprintf(buf, cap, "%.0f %s", v, unit);
    }
}

void pe_cli_progress_update(pe_cli_progress *p, const char *what, uint64_t done, uint64_t total,
                            const char *unit, const char *rate_label, double rate)
{
    double now = pe_now();
    if (!p->tty && now - p->last < p->plain_interval) return;
    p->last = now;
    char d[32], t[32];
    fmt_amount(d, sizeof d, (double)done, unit);
    if (!p->have_base) {
        p->have_base = 1;
        p->base = done;
        p->base_t = now;
    }
    char eta[32] = "";
    if (total > 0 && done > p->base && done <= total && now > p->base_t) {
        double rem = (now - p->base_t) * (double)(total - done) / (double)(done - p->base);
        snprintf(eta, sizeof eta, " ETA %dm%02ds", (int)(rem / 60), (int)rem % 60);
    }
    if (p->tty) {
        int width = 30, fill = 0;
        char bar[64];
        if (total > 0) fill = (int)((double)width * (double)(done > total ? total : done) / (double)total);
        for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : (total ? '.' : ' ');
        bar[width] = '\0';
        if (total) fmt_amount(t, sizeof t, (double)total, unit);
        char rs[48] = "";
        if (rate_label) snprintf(rs, sizeof rs, "  %.0f %s", rate, rate_label);
        fprintf(stderr, "\r%s [%s] %s%s%s%s%s   ", what, bar, d, total ? " / " : "", total ? t : "", rs, eta);
        p->drawn = 1;
    } else {
        if (total) fmt_amount(t, sizeof t, (double)total, unit);
        char rs[48] = "";
        if (rate_label) snprintf(rs, sizeof rs, ", %.0f %s", rate, rate_label);
        fprintf(stderr, "%s: %s%s%s%s%s\n", what, d, total ? " of " : "", total ? t : "", rs, eta);
    }
    fflush(stderr);
}

void pe_cli_progress_finish(pe_cli_progress *p)
{
    if (p->tty && p->drawn) fputc('\n', stderr);
    p->drawn = 0;
}

void pe_cli_import_progress(const pe_import_progress *p, void *user)
{
    pe_cli_progress *bar = user;
    double rate = p->elapsed > 0 ? (double)(p->entities ? p->entities : p->triples) / p->elapsed : 0;
    pe_cli_progress_update(bar, bar->what ? bar->what : "import", p->bytes_read, p->bytes_total, "B",
                           p->entities ? "entities/s" : "triples/s", rate);
}

void pe_cli_print_json(const cJSON *j)
{
    char *s = cJSON_Print(j);
    if (!s) { /* never an exit 0 with nothing printed */
        exit(pe_cli_error(PE_EXIT_FAIL, "out of memory printing the JSON output"));
    }
    fputs(s, stdout);
    fputc('\n', stdout);
    cJSON_free(s);
}

void pe_cli_add_counts(cJSON *obj, const pe_kg_counts *c)
{
    const char *names[] = {"entities", "labels", "aliases", "descriptions", "triples",
                           "sameas", "skipped", "dropped", "bytes", "lines"};
    const uint64_t vals[] = {c->entities, c->labels, c->aliases, c->descriptions, c->triples,
                             c->sameas, c->skipped, c->dropped, c->bytes, c->lines};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) cJSON_AddNumberToObject(obj, names[i], (double)vals[i]);
}
