/* cmd_audit.c - `persona audit` (an attribute's provenance for auditors, in
 * text, JSON, PROV-O JSON-LD or Turtle; the audit log's hash chain checked)
 * and `persona forget` (a user erased, a tombstone kept). Both only open
 * the persona store: no model, no graph. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "enrich.h"
#include "pe_personastore.h"

int pe_cmd_audit(int argc, char **argv);
int pe_cmd_forget(int argc, char **argv);

static const char *default_store(void)
{
    const char *e = getenv("PERSONA_PERSONAS");
    return e && *e ? e : "persona-personas";
}

static void audit_usage(FILE *f)
{
    fprintf(f,
            "usage: persona audit USER [ATTRIBUTE] [--format text|json|prov|turtle] [--db-personas DIR]\n"
            "       persona audit --verify [--db-personas DIR]\n"
            "\n"
            "The provenance of a user's attributes (of ATTRIBUTE only when given), every\n"
            "state included: each value with its confidence, state and sensitivity, and each\n"
            "piece of evidence: the message id and time, the character span and its (masked)\n"
            "text, how it was obtained (model id, version and scores; pattern; graph), the\n"
            "linked entity and link score, the graph facts used with their import source and\n"
            "dump date, the fusion rule, and the value it replaced. Then the user's history.\n"
            "\n"
            "formats: text (default), json, prov (W3C PROV-O as JSON-LD), turtle (the same\n"
            "graph in Turtle).\n"
            "--verify walks the hash-chained audit log: every record's hash, the chain and the\n"
            "head; it names the first altered, removed, inserted or reordered record.\n"
            "\n"
            "options:\n"
            "  --db-personas DIR  the persona store; default $PERSONA_PERSONAS, else ./persona-personas\n"
            "  --format F         text, json, prov or turtle\n"
            "  --verify           check the audit log (exit 1 when it was tampered with)\n");
}

static int open_store(const char *dir, int read_only, pe_ps **ps)
{
    struct stat sb;
    if (stat(dir, &sb) != 0)
        return pe_cli_error(PE_EXIT_MISSING, "no persona store at %s (give --db-personas DIR)", dir);
    pe_ps_options o = pe_ps_options_default();
    o.read_only = read_only;
    o.create = 0;
    pe_error err;
    pe_error_clear(&err);
    pe_status st = pe_ps_open(dir, &o, ps, &err);
    if (st != PE_OK) return pe_cli_fail(st, "%s", err.msg);
    return PE_EXIT_OK;
}

static const char *iso_time(double t, char *buf, size_t cap)
{
    time_t s = (time_t)floor(t);
    struct tm tm;
    if (!gmtime_r(&s, &tm)) {
        snprintf(buf, cap, "%.0f", t);
        return buf;
    }
    strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

static int print_score(int comma, const char *name, double v)
{
    if (isnan(v)) return 0;
    printf("%s %s %.4f", comma ? "," : "", name, v);
    return 1;
}

static void text_report(const pe_ps_attr_list *l, const pe_ps_history *h)
{
    char tb[40];
    printf("user %s: %zu attribute value%s\n", l->user, l->n, l->n == 1 ? "" : "s");
    for (size_t i = 0; i < l->n; i++) {
        const pe_ps_attr *a = &l->attrs[i];
        printf("\n%s = \"%s\"%s%s%s  [%s, confidence %.4f, %s, %s]\n", a->attribute, a->value,
               a->entity ? " (" : "", a->entity ? a->entity : "", a->entity ? ")" : "", pe_ps_state_name(a->state),
               a->confidence, pe_ps_sensitivity_name(a->sensitivity), a->functional ? "functional" : "multi-valued");
        if (a->relation) printf("  relation: %s\n", a->relation);
        if (a->replaced_by) printf("  replaced by: \"%s\"\n", a->replaced_by);
        printf("  first seen %s, ", iso_time(a->first_seen, tb, sizeof tb));
        printf("last seen %s\n", iso_time(a->last_seen, tb, sizeof tb));
        for (size_t k = 0; k < a->n_evidence; k++) {
            const pe_ps_evidence *e = &a->evidence[k];
            printf("  evidence %zu: message %s at %s, characters [%u, %u)", k + 1, e->message_id,
                   iso_time(e->message_time, tb, sizeof tb), e->span_start, e->span_end);
            if (e->snippet) printf(" in \"%s\"", e->snippet);
            printf("\n    method %s", pe_ps_method_name(e->method));
            if (e->model_id) printf(", model %s version %s", e->model_id, e->model_version ? e->model_version : "?");
            if (e->rule) printf(", rule %s", e->rule);
            int any = 0;
            printf("\n   ");
            any |= print_score(any, "relation score", e->relation_score);
            any |= print_score(any, "ner score", e->ner_score);
            if (e->entity) printf("%s linked to %s", any ? "," : "", e->entity), any = 1;
            any |= print_score(any, "link score", e->link_score);
            if (!any) printf(" no scores");
            printf("\n");
            for (size_t f = 0; f < e->n_facts; f++)
                printf("    graph fact: %s %s %s  (source %s, dump date %s)\n", e->facts[f].subject,
                       e->facts[f].predicate, e->facts[f].object, e->facts[f].source && *e->facts[f].source ? e->facts[f].source : "?",
                       e->facts[f].dump_date && *e->facts[f].dump_date ? e->facts[f].dump_date : "not stated");
            if (e->replaced) printf("    replaced \"%s\"\n", e->replaced);
        }
    }
    if (h && h->n) {
        printf("\nhistory:\n");
        for (size_t i = 0; i < h->n; i++) {
            const pe_ps_change *c = &h->changes[i];
            printf("  #%llu %-8s %s = \"%s\"", (unsigned long long)c->audit_seq, pe_ps_change_name(c->kind), c->attribute,
                   c->value);
            if (c->old_value) printf(" (replacing \"%s\")", c->old_value);
            printf(" -> %s, confidence %.4f", pe_ps_state_name(c->state), c->confidence);
            if (c->message_id) printf(", message %s", c->message_id);
            if (c->rule) printf(", rule %s", c->rule);
            if (c->reason) printf(", reason: %s", c->reason);
            printf("\n");
        }
    }
}

static void num_or_null(cJSON *o, const char *k, double v)
{
    if (isnan(v)) cJSON_AddNullToObject(o, k);
    else cJSON_AddNumberToObject(o, k, v);
}

static void str_or_null(cJSON *o, const char *k, const char *v)
{
    if (v) cJSON_AddStringToObject(o, k, v);
    else cJSON_AddNullToObject(o, k);
}

pe_status pe_cli_audit_print(pe_ps_reader *r, const char *user, const char *attribute)
{
    pe_ps_attr_list *l = NULL;
    pe_ps_history *h = NULL;
    pe_status st = pe_ps_attributes(r, user, attribute, PE_PS_LIST_HISTORY | PE_PS_LIST_EVIDENCE, &l);
    if (st == PE_OK && l->n == 0) st = PE_NOT_FOUND;
    if (st == PE_OK) st = pe_ps_history_get(r, user, attribute, &h);
    if (st == PE_OK) text_report(l, h);
    pe_ps_attr_list_free(l);
    pe_ps_history_free(h);
    return st;
}

static cJSON *json_report(const pe_ps_attr_list *l, const pe_ps_history *h)
{
    char tb[40];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "user_id", l->user);
    cJSON *as = cJSON_AddArrayToObject(o, "attributes");
    for (size_t i = 0; i < l->n; i++) {
        const pe_ps_attr *a = &l->attrs[i];
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "attribute", a->attribute);
        str_or_null(x, "relation", a->relation);
        cJSON_AddStringToObject(x, "value", a->value);
        str_or_null(x, "entity", a->entity);
        cJSON_AddNumberToObject(x, "confidence", a->confidence);
        cJSON_AddStringToObject(x, "sensitivity", pe_ps_sensitivity_name(a->sensitivity));
        cJSON_AddStringToObject(x, "state", pe_ps_state_name(a->state));
        cJSON_AddBoolToObject(x, "functional", a->functional);
        cJSON_AddStringToObject(x, "first_seen", iso_time(a->first_seen, tb, sizeof tb));
        cJSON_AddStringToObject(x, "last_seen", iso_time(a->last_seen, tb, sizeof tb));
        str_or_null(x, "replaced_by", a->replaced_by);
        cJSON *ev = cJSON_AddArrayToObject(x, "evidence");
        for (size_t k = 0; k < a->n_evidence; k++) {
            const pe_ps_evidence *e = &a->evidence[k];
            cJSON *y = cJSON_CreateObject();
            cJSON_AddStringToObject(y, "message_id", e->message_id);
            cJSON_AddStringToObject(y, "message_time", iso_time(e->message_time, tb, sizeof tb));
            cJSON_AddNumberToObject(y, "span_start", e->span_start);
            cJSON_AddNumberToObject(y, "span_end", e->span_end);
            str_or_null(y, "snippet", e->snippet);
            cJSON_AddStringToObject(y, "method", pe_ps_method_name(e->method));
            str_or_null(y, "model_id", e->model_id);
            str_or_null(y, "model_version", e->model_version);
            num_or_null(y, "relation_score", e->relation_score);
            num_or_null(y, "ner_score", e->ner_score);
            str_or_null(y, "entity", e->entity);
            num_or_null(y, "link_score", e->link_score);
            cJSON *fs = cJSON_AddArrayToObject(y, "graph_facts");
            for (size_t f = 0; f < e->n_facts; f++) {
                cJSON *z = cJSON_CreateObject();
                cJSON_AddStringToObject(z, "subject", e->facts[f].subject);
                cJSON_AddStringToObject(z, "predicate", e->facts[f].predicate);
                cJSON_AddStringToObject(z, "object", e->facts[f].object);
                str_or_null(z, "source", e->facts[f].source);
                str_or_null(z, "dump_date", e->facts[f].dump_date && *e->facts[f].dump_date ? e->facts[f].dump_date : NULL);
                cJSON_AddItemToArray(fs, z);
            }
            str_or_null(y, "rule", e->rule);
            str_or_null(y, "replaced", e->replaced);
            cJSON_AddStringToObject(y, "recorded", iso_time(e->recorded, tb, sizeof tb));
            cJSON_AddItemToArray(ev, y);
        }
        cJSON_AddItemToArray(as, x);
    }
    cJSON *hs = cJSON_AddArrayToObject(o, "history");
    for (size_t i = 0; h && i < h->n; i++) {
        const pe_ps_change *c = &h->changes[i];
        cJSON *x = cJSON_CreateObject();
        cJSON_AddNumberToObject(x, "audit_seq", (double)c->audit_seq);
        cJSON_AddStringToObject(x, "change", pe_ps_change_name(c->kind));
        cJSON_AddStringToObject(x, "time", iso_time(c->time, tb, sizeof tb));
        cJSON_AddStringToObject(x, "attribute", c->attribute);
        cJSON_AddStringToObject(x, "value", c->value);
        str_or_null(x, "replaced", c->old_value);
        cJSON_AddStringToObject(x, "state", pe_ps_state_name(c->state));
        cJSON_AddNumberToObject(x, "confidence", c->confidence);
        str_or_null(x, "message_id", c->message_id);
        str_or_null(x, "rule", c->rule);
        str_or_null(x, "reason", c->reason);
        cJSON_AddItemToArray(hs, x);
    }
    return o;
}

static int verify(pe_ps *ps)
{
    pe_ps_reader *r = NULL;
    pe_status st = pe_ps_reader_begin(ps, &r);
    if (st != PE_OK) return pe_cli_fail(st, "%s", pe_ps_errmsg(ps));
    pe_ps_verify_result v;
    memset(&v, 0, sizeof v);
    st = pe_ps_audit_verify(r, &v);
    pe_ps_reader_end(r);
    if (st == PE_OK) {
        printf("audit log sound: %llu records, head %s\n", (unsigned long long)v.records, v.head[0] ? v.head : "(empty)");
        return PE_EXIT_OK;
    }
    if (st == PE_ERR_CORRUPT) {
        printf("audit log DAMAGED at record %llu: %s\n", (unsigned long long)v.bad_seq, pe_ps_errmsg(ps));
        return PE_EXIT_FAIL;
    }
    return pe_cli_fail(st, "%s", pe_ps_errmsg(ps));
}

int pe_cmd_audit(int argc, char **argv)
{
    const char *dir = default_store(), *user = NULL, *attribute = NULL;
    int do_verify = 0, fmt = 0;
    const pe_cli_opt opts[] = {{"--db-personas", PE_CLI_STRING, &dir},
                               {"--format", PE_CLI_CHOICE, &fmt, .choices = "text|json|prov|turtle"},
                               {"--verify", PE_CLI_FLAG, &do_verify},
                               {0}};
    const pe_cli_spec spec = {"audit", audit_usage, opts, 0, 2,
                              "            (1 with --verify: the audit log was tampered with; 3: no such user\n"
                              "            or attribute; 5: no persona store)\n"};
    int np, prc = pe_cli_parse(&spec, argc, argv, &np);
    if (prc != PE_CLI_RUN) return prc;
    static const char *const formats[] = {"text", "json", "prov", "turtle"};
    const char *format = formats[fmt];
    if (np >= 1) user = argv[1];
    if (np >= 2) attribute = argv[2];
    if (!user && !do_verify) return pe_cli_error(PE_EXIT_USAGE, "give a USER, or --verify (see --help)");
    pe_ps *ps = NULL;
    int rc = open_store(dir, 1, &ps);
    if (rc != PE_EXIT_OK) return rc;
    if (do_verify) {
        rc = verify(ps);
        if (!user || rc != PE_EXIT_OK) {
            pe_ps_close(ps);
            return rc;
        }
    }
    pe_ps_reader *r = NULL;
    pe_status st = pe_ps_reader_begin(ps, &r);
    if (st != PE_OK) {
        rc = pe_cli_fail(st, "%s", pe_ps_errmsg(ps));
        pe_ps_close(ps);
        return rc;
    }
    if (!strcmp(format, "prov") || !strcmp(format, "turtle")) {
        char *s = NULL;
        pe_ps_attr_list *l = NULL;
        st = pe_ps_attributes(r, user, attribute, PE_PS_LIST_HISTORY, &l);
        if (st == PE_OK && l->n == 0) st = PE_NOT_FOUND;
        pe_ps_attr_list_free(l);
        if (st == PE_OK)
            st = pe_ps_export_prov(r, user, attribute, !strcmp(format, "prov") ? PE_PS_PROV_JSONLD : PE_PS_PROV_TURTLE,
                                   &s, NULL);
        if (st == PE_OK) {
            fputs(s, stdout);
            if (*s && s[strlen(s) - 1] != '\n') fputc('\n', stdout);
            free(s);
        }
    } else {
        pe_ps_attr_list *l = NULL;
        pe_ps_history *h = NULL;
        st = pe_ps_attributes(r, user, attribute, PE_PS_LIST_HISTORY | PE_PS_LIST_EVIDENCE, &l);
        if (st == PE_OK && l->n == 0) st = PE_NOT_FOUND;
        if (st == PE_OK) st = pe_ps_history_get(r, user, attribute, &h);
        if (st == PE_OK) {
            if (!strcmp(format, "json")) {
                cJSON *o = json_report(l, h);
                pe_cli_print_json(o);
                cJSON_Delete(o);
            } else {
                text_report(l, h);
            }
        }
        pe_ps_attr_list_free(l);
        pe_ps_history_free(h);
    }
    if (st == PE_NOT_FOUND) {
        rc = pe_cli_error(PE_EXIT_NOT_FOUND, "%s%s%s not found", attribute ? attribute : "user ", attribute ? " of " : "",
                          user);
    } else if (st != PE_OK) {
        rc = pe_cli_fail(st, "%s", pe_ps_errmsg(ps));
    } else {
        rc = PE_EXIT_OK;
    }
    pe_ps_reader_end(r);
    pe_ps_close(ps);
    return rc;
}

static void forget_usage(FILE *f)
{
    fprintf(f,
            "usage: persona forget USER [--reason TEXT] [--db-personas DIR]\n"
            "\n"
            "Erases USER: attributes, evidence, history and withheld-value records, then\n"
            "rebuilds the store file so that no freed page keeps a byte of them. The audit\n"
            "log keeps a tombstone (the user's SHA-256 reference, the number of records\n"
            "erased, the reason); its other records name the user only by that reference\n"
            "and values by digests whose salt is destroyed now.\n"
            "The rebuild needs the store to itself: while another process has it open, the\n"
            "erasure is committed and the rebuild is left pending (exit 1, run forget or any\n"
            "writing command again when it is alone).\n"
            "\n"
            "options:\n"
            "  --db-personas DIR  the persona store; default $PERSONA_PERSONAS, else ./persona-personas\n"
            "  --reason TEXT      kept in the audit log (vocabulary, not user text; default\n"
            "                     \"user request\")\n");
}

int pe_cmd_forget(int argc, char **argv)
{
    const char *dir = default_store(), *reason = "user request";
    const pe_cli_opt opts[] = {{"--db-personas", PE_CLI_STRING, &dir}, {"--reason", PE_CLI_STRING, &reason}, {0}};
    const pe_cli_spec spec = {"forget", forget_usage, opts, 1, 1,
                              "            (1: also when the erasure is committed but the rebuild pending;\n"
                              "            3: no such user; 5: no persona store)\n"};
    int np, prc = pe_cli_parse(&spec, argc, argv, &np);
    if (prc != PE_CLI_RUN) return prc;
    const char *user = argv[1];
    pe_ps *ps = NULL;
    int rc = open_store(dir, 0, &ps);
    if (rc != PE_EXIT_OK) return rc;
    pe_ps_forget_result res;
    memset(&res, 0, sizeof res);
    pe_status st = pe_ps_forget(ps, user, reason, &res);
    if (st == PE_OK) {
        printf("forgot %s: %llu records erased, store rebuilt, tombstone is audit record %llu\n", user,
               (unsigned long long)res.records, (unsigned long long)res.audit_seq);
        rc = PE_EXIT_OK;
    } else if (st == PE_NOT_FOUND) {
        rc = pe_cli_error(PE_EXIT_NOT_FOUND, "user %s not found", user);
    } else if (st == PE_ERR_BUSY) {
        rc = pe_cli_error(PE_EXIT_FAIL,
                          "%s erased (%llu records), but the store could not be rebuilt: another process has it "
                          "open; freed pages may still hold the user's bytes until the rebuild runs",
                          user, (unsigned long long)res.records);
    } else {
        rc = pe_cli_fail(st, "%s", pe_ps_errmsg(ps));
    }
    pe_ps_close(ps);
    return rc;
}
