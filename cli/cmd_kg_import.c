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
            "owl:sameAs links go first (merging before the data is cheaper; same result).\n");
}

static const char exit_notes[] =
    "            (1: I/O, store or strict-mode error; the other files are still imported\n"
    "            unless --strict; 4: see the first error in the summary; 5: a FILE does not\n"
    "            exist, checked before anything is imported)\n";


int pe_cmd_kg_import(int argc, char **argv)
{
    const char *db = NULL, *format = NULL;
    pe_import_options o = pe_import_options_default();
    int json = 0;
    const pe_cli_opt opts[] = {
        {"--db", PE_CLI_STRING, &db},
        {"--format", PE_CLI_STRING, &format},
        {"--lang", PE_CLI_STRING, &o.langs, .check = pe_cli_check_langs},
        {"--strict", PE_CLI_FLAG, &o.strict},
        {"--resume", PE_CLI_FLAG, &o.resume},
        {"--json", PE_CLI_FLAG, &json},
        {"--batch", PE_CLI_SIZE, &o.batch_records, .min = 1},
        {"--max-line", PE_CLI_SIZE, &o.max_line, .min = 1},
        {0}};
    const pe_cli_spec spec = {"kg import", usage, opts, 1, -1, exit_notes};
    int nfiles, rc = pe_cli_parse(&spec, argc, argv, &nfiles);
    if (rc != PE_CLI_RUN) return rc;
    if (format && pe_import_format_parse(format, &o.format) != PE_OK)
        return pe_cli_error(PE_EXIT_USAGE, "unknown format '%s' (auto, wikidata-json, ntriples, turtle, rdfxml)",
                            format);
    const char **files = calloc((size_t)nfiles, sizeof *files);
    if (!files) return pe_cli_fail(PE_ERR_NOMEM, NULL);
    for (int f = 0; f < nfiles; f++) files[f] = argv[1 + f];
    /* every file exists before the store is opened (or made) */
    for (int f = 0; f < nfiles; f++) {
        if ((rc = pe_cli_need_file("input file", files[f])) != PE_EXIT_OK) {
            free(files);
            return rc;
        }
    }
    if (!db) db = pe_cli_default_db();

    pe_kg *kg = NULL;
    pe_kg_options ko = pe_kg_options_default();
    ko.no_sync = 1; /* a killed process loses nothing committed; synced at the end */
    if ((rc = pe_cli_open_store(db, 0, &ko, &kg)) != PE_EXIT_OK) {
        free(files);
        return rc;
    }
    pe_status st;

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
    int skipped_any = 0;
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
        if (st >= PE_ERR_FIRST) rc = pe_cli_fail(st, "%s", err.msg);
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
