/* cli.h - shared pieces of the persona command-line tool. */
#ifndef PE_CLI_H
#define PE_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "pe_import.h"
#include "pe_kg.h"
#include "pe_util.h"

struct cJSON;

/* Exit codes (documented in README and `persona --help`). */
enum {
    PE_EXIT_OK = 0,        /* success */
    PE_EXIT_FAIL = 1,      /* the operation failed (I/O, parse in --strict, store, model, network) */
    PE_EXIT_USAGE = 2,     /* bad command line */
    PE_EXIT_NOT_FOUND = 3, /* the thing asked for does not exist (entity, lookup with no result) */
    PE_EXIT_PARTIAL = 4    /* finished, but records were skipped for bad input */
};

/* A subcommand: argv[0] is the subcommand's own name. Returns an exit code. */
typedef int (*pe_cli_fn)(int argc, char **argv);

typedef struct pe_cli_command {
    const char *name;    /* "kg import" */
    pe_cli_fn fn;
    const char *summary; /* one line for `persona --help` */
} pe_cli_command;

/* Default store directory: $PERSONA_DB or "persona-kg". */
const char *pe_cli_default_db(void);

/* True when `arg` is -h or --help. */
int pe_cli_is_help(const char *arg);

/* Prints "persona: <status>: <msg>" on stderr and returns PE_EXIT_FAIL. */
int pe_cli_fail(pe_status st, const char *msg);

/* Progress output: on a terminal a single redrawn bar line on stderr,
 * otherwise a plain log line at most every `plain_interval` seconds. */
typedef struct pe_cli_progress {
    const char *what; /* label shown by pe_cli_import_progress */
    int tty;
    double start, last;
    double plain_interval;
    int drawn;
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
/* Loads a model; returns an exit code (3 when path does not exist). */
int pe_cli_load_model(const char *path, int threads, struct pe_encoder **enc);

#endif
