/* cli.h - shared pieces of the persona command-line tool. */
#ifndef PE_CLI_H
#define PE_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "pe_import.h"
#include "pe_kg.h"
#include "pe_util.h"

struct cJSON;

/* Exit codes (`persona --help` and every command's --help list them; the
 * same failure gives the same code in every command). */
enum {
    PE_EXIT_OK = 0,        /* success */
    PE_EXIT_FAIL = 1,      /* the operation failed (I/O, parse in --strict, store, model, network) */
    PE_EXIT_USAGE = 2,     /* bad command line (unknown option, bad value, missing argument) */
    PE_EXIT_NOT_FOUND = 3, /* the thing asked for does not exist (entity, id, lookup without result) */
    PE_EXIT_PARTIAL = 4,   /* finished, but records were skipped for bad input */
    PE_EXIT_MISSING = 5    /* an input named (or defaulted) does not exist: file, model or store */
};

/* A subcommand: argv[0] is the subcommand's own name. Returns an exit code. */
typedef int (*pe_cli_fn)(int argc, char **argv);

typedef struct pe_cli_command {
    const char *name;    /* "kg import" */
    pe_cli_fn fn;
    const char *summary; /* one line for `persona --help` */
} pe_cli_command;

/* ---- Option parsing ------------------------------------------------------
 *
 * Every command describes its options in a table and calls pe_cli_parse()
 * first. The parser prints --help (with the exit codes), and refuses with
 * exit code 2 and one message: unknown options, a missing or empty value,
 * a number that is not one or is outside its range (also beyond 64 bits),
 * a value outside its choices or refused by its check, and too few or too
 * many positional arguments. `--name=value` works as `--name value`; `--`
 * ends the options; a lone `-` is a positional argument (stdin).
 *
 *     int pe_cmd_kg_lookup(int argc, char **argv)   // listed in main.c's table
 *     {
 *     const char *db = NULL;          // NULL: $PERSONA_DB, else ./persona-kg
 *     int limit = 10, json = 0, pool = 0;
 *     double lr = 2e-5;
 *     const pe_cli_opt opts[] = {
 *         {"--db", PE_CLI_STRING, &db},
 *         {"--limit", PE_CLI_INT, &limit, .min = 1, .max = 100000},
 *         {"--pool", PE_CLI_CHOICE, &pool, .choices = "none|mean|cls"},
 *         {"--lr", PE_CLI_DOUBLE, &lr, .min = 0, .max = 1},
 *         {"--lang", PE_CLI_STRING, &lang, .check = pe_cli_check_langs},
 *         {"--json", PE_CLI_FLAG, &json},
 *         {0}};
 *     // help(FILE *) prints usage, description and options; the parser adds
 *     // the exit codes, then the command's own notes ("(3: no candidate)")
 *     const pe_cli_spec spec = {"kg lookup", help, opts, .min_pos = 1, .max_pos = 1,
 *                               .exit_notes = "            (3: no candidate)\n"};
 *     int npos, rc = pe_cli_parse(&spec, argc, argv, &npos);
 *     if (rc != PE_CLI_RUN) return rc;  // --help printed (0) or usage error (2)
 *     const char *text = argv[1];       // positionals are argv[1..npos]
 *     pe_kg *kg; pe_kg_reader *r;
 *     if ((rc = pe_cli_open_reader(db, &kg, &r)) != PE_EXIT_OK) return rc;  // 5: no store
 *     ...
 *     if (st >= PE_ERR_FIRST) rc = pe_cli_fail(st, "%s", pe_kg_reader_errmsg(r));
 *     }
 *
 * Text for people on stdout by default, JSON with --json where a program
 * reads the output (pe_cli_print_json). Input files are checked with
 * pe_cli_need_file before any work (exit 5). The tests cli_conventions
 * (every command of `persona --help`) and test_cli_parse check all this.
 *
 * Then open inputs with the helpers below (pe_cli_open_store, pe_cli_need_file)
 * and report failures with pe_cli_fail: every message starts with
 * "persona COMMAND: ", and the exit code follows the status (pe_cli_exit).
 */
typedef enum pe_cli_opt_kind {
    PE_CLI_FLAG,   /* no value; int *dst = 1 */
    PE_CLI_STRING, /* const char **dst = the value (never empty); .check may refuse it */
    PE_CLI_INT,    /* int *dst, decimal, within [.min, .max] */
    PE_CLI_SIZE,   /* size_t *dst, decimal, within [.min, .max] (.max 0 = SIZE_MAX) */
    PE_CLI_DOUBLE, /* double *dst, within [.min, .max] (finite) */
    PE_CLI_CHOICE  /* int *dst = index of the value in .choices ("a|b|c") */
} pe_cli_opt_kind;

typedef struct pe_cli_opt {
    const char *name;     /* "--db"; aliases separated by '|': "-o|--output" */
    pe_cli_opt_kind kind;
    void *dst;
    double min, max;      /* INT, SIZE, DOUBLE: inclusive range (INT with both 0: any int) */
    const char *choices;  /* CHOICE */
    /* STRING: NULL when the value is acceptable, else what it should be
     * ("64 hex digits"); e.g. pe_cli_check_langs, pe_cli_check_sha256 */
    const char *(*check)(const char *value);
} pe_cli_opt;

typedef struct pe_cli_spec {
    const char *name;           /* "kg lookup", as in the messages */
    void (*help)(FILE *f);      /* usage, description and options; the exit codes are added */
    const pe_cli_opt *opts;     /* ends with {0} */
    int min_pos, max_pos;       /* positional arguments; max_pos -1 = any number */
    const char *exit_notes;     /* what the codes mean for this command (lines), or NULL */
} pe_cli_spec;

#define PE_CLI_RUN (-1)
/* Parses argv[1..argc) against spec. Returns PE_CLI_RUN to go on, with the
 * positional arguments moved (in order) to argv[1..*npos]; else the exit
 * code to return: PE_EXIT_OK after printing --help on stdout, PE_EXIT_USAGE
 * after a message on stderr. */
int pe_cli_parse(const pe_cli_spec *spec, int argc, char **argv, int *npos);
/* Prints the help of spec and the exit codes. */
void pe_cli_help(const pe_cli_spec *spec, FILE *f);
/* Checks for PE_CLI_STRING options: a comma-separated list of language
 * codes ("en,fr", "zh-hans"), and 64 hexadecimal digits. */
const char *pe_cli_check_langs(const char *v);
const char *pe_cli_check_sha256(const char *v);

/* ---- Errors and exit codes ---------------------------------------------- */

/* The command running now ("kg lookup"), for message prefixes; main sets it. */
void pe_cli_set_command(const char *name);
/* The exit code of a status: OK and DONE 0, NOT_FOUND 3, failures 1. */
int pe_cli_exit(pe_status st);
/* Prints "persona COMMAND: <status>: <message>" on stderr and returns
 * pe_cli_exit(st). */
int pe_cli_fail(pe_status st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints "persona COMMAND: <message>" on stderr and returns `code`. */
int pe_cli_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* An input file or folder that must exist: PE_EXIT_OK, or PE_EXIT_MISSING
 * with "persona COMMAND: WHAT PATH does not exist". "-" (stdin) passes. */
int pe_cli_need_file(const char *what, const char *path);

/* ---- The graph store ---------------------------------------------------- */

/* Default store directory: $PERSONA_DB or "persona-kg". */
const char *pe_cli_default_db(void);
/* Opens the store at db (NULL: the default). read_only: it must exist
 * (PE_EXIT_MISSING, "no graph store at DIR", otherwise); else it is created
 * when missing. opt may be NULL (defaults). Returns an exit code, with the
 * failure reported; *kg is NULL unless PE_EXIT_OK. */
int pe_cli_open_store(const char *db, int read_only, const pe_kg_options *opt, pe_kg **kg);
/* pe_cli_open_store read-only and a reader on it. */
int pe_cli_open_reader(const char *db, pe_kg **kg, pe_kg_reader **r);

/* True when `arg` is -h or --help. */
int pe_cli_is_help(const char *arg);

/* Removes a file or a directory tree the CLI made (a temporary folder);
 * 0 on success. */
int pe_cli_remove_tree(const char *path);

/* Progress output: on a terminal a single redrawn bar line on stderr,
 * otherwise a plain log line at most every `plain_interval` seconds. */
typedef struct pe_cli_progress {
    const char *what; /* label shown by pe_cli_import_progress */
    int tty;
    double start, last;
    double plain_interval;
    int drawn;
    /* the first amount seen and when: the ETA counts from there, so a
     * resumed run or download is not credited with what it found done */
    int have_base;
    uint64_t base;
    double base_t;
} pe_cli_progress;

void pe_cli_progress_init(pe_cli_progress *p);
/* done/total in `unit` ("B" formats as bytes); rate_label/rate for a second
 * figure (e.g. "entities/s"); total 0 = unknown (no ETA). */
void pe_cli_progress_update(pe_cli_progress *p, const char *what, uint64_t done, uint64_t total,
                            const char *unit, const char *rate_label, double rate);
/* Ends the bar line (newline on a terminal). */
void pe_cli_progress_finish(pe_cli_progress *p);
/* A pe_import_progress_fn drawing on the pe_cli_progress passed as `user`
 * (labelled with its `what`): bytes read of the file, entities/s (triples/s
 * for files without entity records). */
void pe_cli_import_progress(const pe_import_progress *p, void *user);

/* Prints j as indented JSON and a newline on stdout (j stays the caller's). */
void pe_cli_print_json(const struct cJSON *j);
/* Adds the import counts of c to the JSON object obj as numbers: entities,
 * labels, aliases, descriptions, triples, sameas, skipped, dropped, bytes, lines. */
void pe_cli_add_counts(struct cJSON *obj, const pe_kg_counts *c);

struct pe_encoder;
/* The model `extract`, `eval` and `enrich` use without --model:
 * $PERSONA_MODEL, else the installed shipped model, else the source tree's
 * models/persona-small.pem. */
const char *pe_cli_default_model(void);
/* The linker's ranker of `link`, `eval link`, `enrich` and `demo`, into
 * *path (NULL: candidates by prior): `given` (--ranker; "none": by
 * prior), else index_ranker (INDEX/ranker.json; may be NULL) when it
 * exists, else $PERSONA_RANKER ("none": by prior), else the installed
 * shipped ranker, else the source tree's models/link-ranker.json when it
 * exists. Returns an exit code: 5, with the name on stderr, when the file
 * --ranker or $PERSONA_RANKER names does not exist. pe_cli_ranker_off: 1
 * for the name "none". */
int pe_cli_ranker_path(const char *given, const char *index_ranker, const char **path);
int pe_cli_ranker_off(const char *name);
/* Loads a model; returns an exit code (3 when path does not exist). */
int pe_cli_load_model(const char *path, int threads, struct pe_encoder **enc);

#endif
