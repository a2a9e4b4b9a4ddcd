#include "cli.h"

#include <cjson/cJSON.h>

#include <stdlib.h>
#include <string.h>
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

int pe_cli_fail(pe_status st, const char *msg)
{
    fprintf(stderr, "persona: %s%s%s\n", pe_status_str(st), msg && *msg ? ": " : "", msg ? msg : "");
    return PE_EXIT_FAIL;
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
    double el = now - p->start;
    char d[32], t[32];
    fmt_amount(d, sizeof d, (double)done, unit);
    char eta[32] = "";
    if (total > 0 && done > 0 && done <= total) {
        double rem = el * (double)(total - done) / (double)done;
        snprintf(eta, sizeof eta, " ETA %dm%02ds", (int)(rem / 60), (int)rem % 60);
    }
    if (p->tty) {
        int width = 30, fill = 0;
        char bar[64];
        if (total > 0) fill = (int)((double)width * (double)(done > total ? total : done) / (double)total);
        for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : (total ? '.' : ' ');
        bar[width] = '\0';
        if (total) fmt_amount(t, sizeof t, (double)total, unit);
        fprintf(stderr, "\r%s [%s] %s%s%s  %.0f %s%s   ", what, bar, d, total ? " / " : "", total ? t : "", rate,
                rate_label, eta);
        p->drawn = 1;
    } else {
        if (total) fmt_amount(t, sizeof t, (double)total, unit);
        fprintf(stderr, "%s: %s%s%s, %.0f %s%s\n", what, d, total ? " of " : "", total ? t : "", rate, rate_label,
                eta);
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
        fprintf(stderr, "persona: out of memory printing the JSON output\n");
        exit(PE_EXIT_FAIL);
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
