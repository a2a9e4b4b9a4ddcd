/* persona kg import - import Wikidata JSON dumps and RDF files into the store. */
#include "cli.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "pe_import.h"
#include "pe_kg.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: persona kg import FILE... [--db DIR] [--format FMT] [--lang L1,L2] [--strict]\n"
            "                         [--resume] [--batch N] [--max-line BYTES] [--json]\n"
            "\n"
            "Imports Wikidata JSON dumps (.json, NDJSON, wbgetentities responses) and RDF\n"
            "(N-Triples, Turtle, RDF/XML), plain, gzip or bzip2 (detected from the content).\n"
            "FILE - reads standard input (not resumable).\n"
            "\n"
            "  --db DIR        store directory (default $PERSONA_DB, else ./persona-kg)\n"
            "  --format FMT    auto (default: from name and content), wikidata-json, ntriples,\n"
            "                  turtle, rdfxml\n"
            "  --lang L1,L2    keep only labels/aliases/descriptions in these languages\n"
            "  --strict        stop at the first bad record (its batch is rolled back)\n"
            "  --resume        continue an interrupted import of the same file (same checksum)\n"
            "                  from its last commit; without it such a file is refused\n"
            "  --batch N       records per commit (default 20000)\n"
            "  --max-line N    longest accepted line in bytes (default 268435456)\n"
            "  --json          print the per-file summaries as a JSON array on stdout\n"
            "\n"
            "A file already imported completely (same checksum and format) is reported and skipped.\n"
            "Files are imported in the order given, except that N-Triples files holding only\n"
            "owl:sameAs links go first (merging before the data is cheaper; same result).\n"
            "exit codes: 0 success, 1 failure (I/O, store, strict-mode error; the other files\n"
            "are still imported unless --strict), 2 usage error, 4 finished but records were\n"
            "skipped for bad input (see the first error in the summary)\n");
}


static int parse_size(const char *s, size_t *out)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || *end || v == 0) return -1;
    *out = (size_t)v;
    return 0;
}

int pe_cmd_kg_import(int argc, char **argv)
{
    const char *db = NULL;
    pe_import_options o = pe_import_options_default();
    int json = 0;
    const char **files = calloc((size_t)argc, sizeof *files);
    int nfiles = 0;
    if (!files) return pe_cli_fail(PE_ERR_NOMEM, "out of memory");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_val = i + 1 < argc;
        if (pe_cli_is_help(a)) { usage(stdout); free(files); return PE_EXIT_OK; }
        if (strcmp(a, "--db") == 0 && has_val) db = argv[++i];
        else if (strcmp(a, "--format") == 0 && has_val) {
            if (pe_import_format_parse(argv[++i], &o.format) != PE_OK) {
                fprintf(stderr, "persona kg import: unknown format '%s' (auto, wikidata-json, ntriples, turtle, rdfxml)\n",
                        argv[i]);
                free(files);
                return PE_EXIT_USAGE;
            }
        } else if (strcmp(a, "--lang") == 0 && has_val) o.langs = argv[++i];
        else if (strcmp(a, "--strict") == 0) o.strict = 1;
        else if (strcmp(a, "--resume") == 0) o.resume = 1;
        else if (strcmp(a, "--json") == 0) json = 1;
        else if (strcmp(a, "--batch") == 0 && has_val) {
            if (parse_size(argv[++i], &o.batch_records)) {
                fprintf(stderr, "persona kg import: --batch needs a positive number, not '%s'\n", argv[i]);
                free(files);
                return PE_EXIT_USAGE;
            }
        } else if (strcmp(a, "--max-line") == 0 && has_val) {
            if (parse_size(argv[++i], &o.max_line)) {
                fprintf(stderr, "persona kg import: --max-line needs a positive number, not '%s'\n", argv[i]);
                free(files);
                return PE_EXIT_USAGE;
            }
        } else if (a[0] == '-' && a[1] == '-') {
            fprintf(stderr, "persona kg import: unknown or incomplete option '%s' (see --help)\n", a);
            free(files);
            return PE_EXIT_USAGE;
        } else files[nfiles++] = a;
    }
    if (nfiles == 0) {
        usage(stderr);
        free(files);
        return PE_EXIT_USAGE;
    }
    if (!db) db = pe_cli_default_db();

    pe_kg *kg = NULL;
    pe_kg_options ko = pe_kg_options_default();
    ko.no_sync = 1; /* a killed process loses nothing committed; synced at the end */
    pe_status st = pe_kg_open(db, &ko, &kg);
    if (st != PE_OK) {
        char msg[PE_ERRMSG_MAX + 64];
        snprintf(msg, sizeof msg, "%s: %s", db, kg ? pe_kg_errmsg(kg) : "cannot open the store");
        pe_kg_close(kg);
        free(files);
        return pe_cli_fail(st, msg);
    }

    /* owl:sameAs-only N-Triples files first (see pe_import_is_sameas_file):
     * the same graph, merged at a fraction of the cost */
    if (nfiles > 1) {
        const char **ordered = malloc((size_t)nfiles * sizeof *ordered);
        if (ordered) {
            int n = 0;
            char *first = calloc((size_t)nfiles, 1);
            for (int f = 0; first && f < nfiles; f++)
                if (pe_import_is_sameas_file(files[f])) { first[f] = 1; ordered[n++] = files[f]; }
            for (int f = 0; first && f < nfiles; f++)
                if (!first[f]) ordered[n++] = files[f];
            if (first && n == nfiles) memcpy(files, ordered, (size_t)nfiles * sizeof *files);
            free(first);
            free(ordered);
        }
    }
    int rc = PE_EXIT_OK, skipped_any = 0;
    cJSON *out = json ? cJSON_CreateArray() : NULL;
    for (int f = 0; f < nfiles; f++) {
        pe_cli_progress bar;
        pe_cli_progress_init(&bar);
        bar.what = files[f];
        o.progress = pe_cli_import_progress;
        o.progress_user = &bar;
        pe_import_result res;
        pe_error err;
        double t0 = pe_now();
        st = pe_import_file(kg, files[f], &o, &res, &err);
        double secs = pe_now() - t0;
        pe_cli_progress_finish(&bar);
        const pe_kg_counts *c = &res.counts;
        if (st >= PE_ERR_FIRST) {
            fprintf(stderr, "persona: %s: %s\n", pe_status_str(st), err.msg);
            rc = PE_EXIT_FAIL;
        }
        if (c->skipped && res.resumed != 2) skipped_any = 1; /* a re-run of a done file skips nothing now */
        if (json) {
            cJSON *j = cJSON_CreateObject();
            cJSON_AddStringToObject(j, "file", files[f]);
            cJSON_AddStringToObject(j, "status", st >= PE_ERR_FIRST ? "failed" : res.resumed == 2 ? "already-imported" : "ok");
            if (st >= PE_ERR_FIRST) cJSON_AddStringToObject(j, "error", err.msg);
            cJSON_AddNumberToObject(j, "source", res.source_id);
            cJSON_AddBoolToObject(j, "resumed", res.resumed == 1);
            pe_cli_add_counts(j, c);
            cJSON_AddNumberToObject(j, "seconds", secs);
            cJSON_AddStringToObject(j, "first_error", res.first_error);
            cJSON_AddItemToArray(out, j);
        } else if (res.resumed == 2) {
            printf("%s: already imported (source %u): %llu entities, %llu triples; nothing to do\n", files[f],
                   res.source_id, (unsigned long long)c->entities, (unsigned long long)c->triples);
        } else if (res.source_id) {
            printf("%s:%s %llu entities, %llu labels, %llu aliases, %llu descriptions, %llu triples, %llu sameAs, "
                   "%llu skipped, %llu dropped in %.2f s%s\n",
                   files[f], res.resumed == 1 ? " resumed," : "", (unsigned long long)c->entities,
                   (unsigned long long)c->labels, (unsigned long long)c->aliases, (unsigned long long)c->descriptions,
                   (unsigned long long)c->triples, (unsigned long long)c->sameas, (unsigned long long)c->skipped,
                   (unsigned long long)c->dropped, secs, st >= PE_ERR_FIRST ? " (failed)" : "");
            if (res.first_error[0]) printf("  first error: %s\n", res.first_error);
        }
        if (st >= PE_ERR_FIRST && o.strict) break;
    }
    pe_kg_sync(kg);
    pe_kg_close(kg);
    if (json) {
        pe_cli_print_json(out);
        cJSON_Delete(out);
    }
    free(files);
    if (rc == PE_EXIT_OK && skipped_any) rc = PE_EXIT_PARTIAL;
    return rc;
}
