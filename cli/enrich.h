/* enrich.h - the enrichment pipeline shared by `persona enrich` and
 * `persona demo` (cli/cmd_enrich.c): model -> relations -> fusion -> store. */
#ifndef PE_CLI_ENRICH_H
#define PE_CLI_ENRICH_H

#include "pe_encoder.h"
#include "pe_fusion.h"
#include "pe_kg.h"
#include "pe_link.h"
#include "pe_ner.h"
#include "pe_personastore.h"
#include "pe_relation.h"

struct cJSON;

typedef struct enrich_run {
    pe_encoder *enc;       /* owned by the caller */
    pe_kg *kg;             /* caller's; NULL = no graph */
    pe_kg_reader *kr;      /* caller's */
    pe_ps *ps;             /* caller's */
    pe_rel *rel;           /* enrich_open / enrich_close */
    pe_ner *ner;           /* likewise; NULL when the model has no NER head */
    pe_fusion *fusion;     /* enrich_open / enrich_close */
    pe_linker *linker;     /* enrich_open_linker / enrich_close; NULL: exact lookup */
    pe_link_model *ranker; /* likewise; NULL: candidates by prior */
    char ranker_path[4200]; /* the file ranker was loaded from; "" when none */
    pe_encoder_info info;  /* model id and version */
    pe_fusion_counts counts;
} enrich_run;

/* Opens the relation head and the fusion (model id and version from the
 * model's metadata). Returns an exit code, with the reason on stderr. */
int enrich_open(enrich_run *run, const pe_fusion_options *o);
void enrich_close(enrich_run *run);
/* The entity linker (pe_link.h) on run->kg for fusion: link index `index`
 * (NULL: DB/link when it exists, else none), ranker `ranker` (--ranker
 * or NULL, resolved by pe_cli_ranker_path with INDEX/ranker.json), named in
 * run->ranker_path. Sets o->link. Call
 * before enrich_open. Returns an exit code, the reason on stderr. */
int enrich_open_linker(enrich_run *run, const char *db, const char *index, const char *ranker, pe_fusion_options *o);
/* One message through the model and the fusion, in writer w. */
pe_status enrich_message(enrich_run *run, pe_ps_writer *w, const char *user, const char *message_id, double time,
                         const char *text, pe_error *err);
/* enrich_message with the encoder pass already done: text i of enc (from
 * pe_encoder_encode_texts with default options, or a pe_encoder_queue with
 * them; NULL: its own pass). The same result as enrich_message. */
pe_status enrich_message_encoded(enrich_run *run, pe_ps_writer *w, const char *user, const char *message_id, double time,
                                 const char *text, const struct pe_encoder_result *enc, int i, pe_error *err);
/* One input message, parsed. */
typedef struct enrich_msg {
    char user[PE_PS_MAX_USER + 1];
    char id[PE_PS_MAX_VALUE + 1];
    double time;      /* Unix seconds */
    const char *text; /* borrowed from the parsed JSON; NULL for a profile */
    const struct cJSON *profile; /* a profile's "attributes" array (borrowed), else NULL */
} enrich_msg;
/* Parses one input line (without its newline) into m, borrowing from *json
 * (the caller frees it with cJSON_Delete, also on failure). Returns NULL
 * on success, else why the line is bad (a constant or why[0..cap)). */
const char *enrich_parse_line(const char *line, size_t len, struct cJSON **json, enrich_msg *m, char *why,
                              size_t cap);
/* Prints the provenance report of `persona audit` (text) for user's
 * attribute (NULL: all). Returns a pe_status (PE_NOT_FOUND: nothing). */
pe_status pe_cli_audit_print(pe_ps_reader *r, const char *user, const char *attribute);
/* A profile line (m->profile) through the fusion, in writer w. */
pe_status enrich_profile(enrich_run *run, pe_ps_writer *w, const enrich_msg *m, pe_error *err);
/* A user's persona as the enrich output line (NULL when unknown); caller
 * frees with cJSON_Delete. */
struct cJSON *pe_cli_persona_json(pe_ps_reader *r, const char *user);

#endif
