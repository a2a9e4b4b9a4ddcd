/* persona kg verify - walk the graph store and report damaged records. */
#include "cli.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "pe_kg.h"

#define VERIFY_LIST_MAX 100 /* problems listed; the count covers all */

static void verify_usage(FILE *f)
{
    fprintf(f, "usage: persona kg verify [--db DIR] [--json]\n"
               "\n"
               "Reads every record of the graph store in one snapshot and reports damage:\n"
               "records that do not decode, index entries that point at nothing (term\n"
               "dictionary, entity records, texts, alias index, SPO/POS/OSP, sameAs), and\n"
               "counts that disagree. Prints the first %d problems and their number.\n"
               "A store that fails verification should be re-imported into a new directory.\n"
               "\n"
               "  --db DIR   store directory (default $PERSONA_DB, else ./persona-kg)\n"
               "  --json     one JSON object on stdout: {db, ok, records, problems, list}\n",
               VERIFY_LIST_MAX);
}

static const char exit_notes[] = "            (0: the store is sound; 1: damage found or the store cannot be read)\n";

typedef struct verify_out {
    int json;
    cJSON *list;
    uint64_t n;
} verify_out;

static void on_problem(const char *problem, void *user)
{
    verify_out *o = user;
    if (o->n++ >= VERIFY_LIST_MAX) return;
    if (o->json) cJSON_AddItemToArray(o->list, cJSON_CreateString(problem));
    else printf("damaged: %s\n", problem);
}

int pe_cmd_kg_verify(int argc, char **argv)
{
    const char *db = NULL;
    int json = 0;
    const pe_cli_opt opts[] = {
        {"--db", PE_CLI_STRING, &db},
        {"--json", PE_CLI_FLAG, &json},
        {0}};
    const pe_cli_spec spec = {"kg verify", verify_usage, opts, 0, 0, exit_notes};
    int np, rc = pe_cli_parse(&spec, argc, argv, &np);
    if (rc != PE_CLI_RUN) return rc;
    if (!db) db = pe_cli_default_db();
    pe_kg *kg = NULL;
    if ((rc = pe_cli_open_store(db, 1, NULL, &kg)) != PE_EXIT_OK) return rc; /* 5: no store */
    verify_out out = {json, json ? cJSON_CreateArray() : NULL, 0};
    pe_kg_verify_result res;
    pe_status st = pe_kg_verify(kg, on_problem, &out, &res);
    if (st != PE_OK && st != PE_ERR_CORRUPT) {
        rc = pe_cli_fail(st, "%s", pe_kg_errmsg(kg));
        cJSON_Delete(out.list);
        pe_kg_close(kg);
        return rc;
    }
    if (json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "db", db);
        cJSON_AddBoolToObject(j, "ok", st == PE_OK);
        cJSON_AddNumberToObject(j, "records", (double)res.records);
        cJSON_AddNumberToObject(j, "problems", (double)res.problems);
        cJSON_AddItemToObject(j, "list", out.list);
        pe_cli_print_json(j);
        cJSON_Delete(j);
    } else if (st == PE_OK) {
        printf("graph store %s: sound (%llu records checked)\n", db, (unsigned long long)res.records);
    } else {
        printf("graph store %s: %llu problem%s in %llu records%s\n", db, (unsigned long long)res.problems,
               res.problems == 1 ? "" : "s", (unsigned long long)res.records,
               res.problems > VERIFY_LIST_MAX ? " (the first listed above)" : "");
    }
    if (st == PE_ERR_CORRUPT) rc = pe_cli_error(PE_EXIT_FAIL, "%s", pe_kg_errmsg(kg));
    pe_kg_close(kg);
    return rc;
}
