/* persona - command-line tool of the persona engine. */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* OpenBLAS starts its thread pool when it is loaded, one thread per core,
 * and those threads spin for a while (0.04-0.09 s of CPU on 16 cores) in
 * every process, also in `persona kg ...` that never multiplies a matrix.
 * The executable's pre-initialisers run before any shared library's, so
 * this one asks OpenBLAS for a single thread; loading a model then sets the
 * threads it wants (pe_encoder_options.threads, openblas_set_num_threads
 * grows the pool). A value the user set stays, and is restored in main. */
static int g_blas_env_set;
static void preinit(int argc, char **argv, char **envp)
{
    (void)argc, (void)argv, (void)envp;
    if (!getenv("OPENBLAS_NUM_THREADS")) g_blas_env_set = setenv("OPENBLAS_NUM_THREADS", "1", 0) == 0;
}
__attribute__((section(".preinit_array"), used)) static void (*const pe_cli_preinit)(int, char **, char **) = preinit;

/* Each subcommand lives in its own cli/cmd_*.c file and adds one line here;
 * the table order is the order of `persona --help`. */
/* PE_CLI_DECLS */
int pe_cmd_kg_fetch(int argc, char **argv);
int pe_cmd_demo(int argc, char **argv);
int pe_cmd_kg_stats(int argc, char **argv);
int pe_cmd_kg_lookup(int argc, char **argv);
int pe_cmd_kg_entity(int argc, char **argv);
int pe_cmd_kg_types(int argc, char **argv);
int pe_cmd_kg_verify(int argc, char **argv);
int pe_cmd_kg_import(int argc, char **argv);
int pe_cmd_encode(int argc, char **argv);
int pe_cmd_model_convert(int argc, char **argv);
int pe_cmd_model_info(int argc, char **argv);
int pe_cmd_model_average(int argc, char **argv);
int pe_cmd_link(int argc, char **argv);
int pe_cmd_link_index(int argc, char **argv);
int pe_cmd_link_train(int argc, char **argv);
int pe_cmd_eval_link(int argc, char **argv);
int pe_cmd_train(int argc, char **argv);
int pe_cmd_vocab(int argc, char **argv);
int pe_cmd_extract(int argc, char **argv);
int pe_cmd_eval(int argc, char **argv);
int pe_cmd_enrich(int argc, char **argv);
int pe_cmd_audit(int argc, char **argv);
int pe_cmd_forget(int argc, char **argv);

static const pe_cli_command commands[] = {
    /* PE_CLI_TABLE */
    {"demo", pe_cmd_demo, "the main job: demo graph + demo messages -> personas with provenance"},
    {"kg import", pe_cmd_kg_import, "import Wikidata JSON / RDF dumps into the graph store"},
    {"kg fetch", pe_cmd_kg_fetch, "download a dump (resume, sha256) or fetch Wikidata entities by id, and import"},
    {"kg stats", pe_cmd_kg_stats, "counts of the graph store and its import sources"},
    {"kg lookup", pe_cmd_kg_lookup, "ranked candidate entities for a name"},
    {"kg entity", pe_cmd_kg_entity, "an entity's record, sameAs terms and statements"},
    {"kg types", pe_cmd_kg_types, "an entity's classes through P31/P279*"},
    {"kg verify", pe_cmd_kg_verify, "walk the graph store and report damaged records"},
    {"link index", pe_cmd_link_index, "build the link index (fuzzy forms, acronyms, names) of the graph store"},
    {"link train", pe_cmd_link_train, "train the linker's ranker and NIL threshold on an ELEVANT benchmark file"},
    {"link", pe_cmd_link, "link mention spans of texts (JSON lines) to graph entities or NIL"},
    {"eval link", pe_cmd_eval_link, "evaluate the linker on an ELEVANT benchmark file"},
    {"encode", pe_cmd_encode, "texts on stdin -> token or sentence embeddings (JSON lines)"},
    {"model convert", pe_cmd_model_convert, "Hugging Face BERT checkpoint -> .pem model file"},
    {"model info", pe_cmd_model_info, "a model's config, metadata and tensors as JSON"},
    {"model average", pe_cmd_model_average, "a model soup: the mean of checkpoint folders of one start"},
    {"vocab", pe_cmd_vocab, "train a WordPiece vocabulary (vocab.txt) on text files"},
    {"train", pe_cmd_train, "train a model from a recipe: mlm pretraining, ner / rel heads"},
    {"eval", pe_cmd_eval, "a model's scores on labelled data: ner (CoNLL), rel (PersonaExt)"},
    {"extract", pe_cmd_extract, "texts -> entity mentions and persona relations (JSON lines)"},
    {"enrich", pe_cmd_enrich, "messages (JSON lines) -> personas in the persona store, one JSON line a user"},
    {"audit", pe_cmd_audit, "a user's attributes with their provenance (text, json, PROV-O); --verify the audit log"},
    {"forget", pe_cmd_forget, "erase a user from the persona store (an audit tombstone stays)"},
    {NULL, NULL, NULL},
};

static void log_to_stderr(pe_log_level level, const char *msg, void *user)
{
    static const char *names[] = {"debug", "info", "warning", "error"};
    if (level == PE_LOG_DEBUG) return;
    fprintf(stderr, "persona: %s: %s\n", names[level], msg);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: persona COMMAND [ARGS...]\n"
            "\n"
            "Knowledge-graph-augmented persona engine.\n"
            "\n"
            "commands:\n");
    for (const pe_cli_command *c = commands; c->name; c++) fprintf(f, "  %-14s %s\n", c->name, c->summary);
    fprintf(f,
            "\n"
            "Run `persona COMMAND --help` for a command's options.\n"
            "The graph store is the directory given by --db, else $PERSONA_DB, else ./persona-kg.\n"
            "\n"
            "exit codes: 0 success, 1 failure, 2 usage error, 3 not found (entity, id, candidate),\n"
            "            4 finished but records were skipped for bad input,\n"
            "            5 missing input (a file, model or graph store that does not exist)\n");
}

/* A command whose output could not be written (a full disk, a closed
 * pipe, JSON too large to print) never exits 0 as if it had printed it. */
static int finish(int rc)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        int e = errno;
        pe_cli_error(PE_EXIT_FAIL, "cannot write the output: %s", e ? strerror(e) : "write error");
        return rc == PE_EXIT_OK || rc == PE_EXIT_PARTIAL ? PE_EXIT_FAIL : rc;
    }
    return rc;
}

int main(int argc, char **argv)
{
    if (g_blas_env_set) unsetenv("OPENBLAS_NUM_THREADS"); /* not passed on to children */
    pe_log_set(log_to_stderr, NULL);
    if (argc < 2 || pe_cli_is_help(argv[1])) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? PE_EXIT_USAGE : PE_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("persona %s\n", PE_VERSION);
        return PE_EXIT_OK;
    }
    /* Two-word commands ("kg import") first, then one-word ones. */
    for (const pe_cli_command *c = commands; c->name; c++) {
        const char *sp = strchr(c->name, ' ');
        if (sp) {
            size_t n = (size_t)(sp - c->name);
            if (argc >= 3 && strncmp(argv[1], c->name, n) == 0 && argv[1][n] == '\0' &&
                strcmp(argv[2], sp + 1) == 0) {
                pe_cli_set_command(c->name);
                return finish(c->fn(argc - 2, argv + 2));
            }
        } else if (strcmp(argv[1], c->name) == 0) {
            pe_cli_set_command(c->name);
            return finish(c->fn(argc - 1, argv + 1));
        }
    }
    /* "persona kg" alone, or an unknown subcommand of a group: list the group. */
    int group = 0;
    for (const pe_cli_command *c = commands; c->name; c++) {
        size_t n = strlen(argv[1]);
        if (strncmp(c->name, argv[1], n) == 0 && c->name[n] == ' ') {
            if (!group) fprintf(stderr, "usage: persona %s SUBCOMMAND ...\n", argv[1]);
            fprintf(stderr, "  %-14s %s\n", c->name, c->summary);
            group = 1;
        }
    }
    if (group) {
        if (argc >= 3 && !pe_cli_is_help(argv[2])) {
            fprintf(stderr, "persona: unknown subcommand '%s %s'\n", argv[1], argv[2]);
            return PE_EXIT_USAGE;
        }
        return argc >= 3 ? PE_EXIT_OK : PE_EXIT_USAGE;
    }
    fprintf(stderr, "persona: unknown command '%s' (see persona --help)\n", argv[1]);
    return PE_EXIT_USAGE;
}
