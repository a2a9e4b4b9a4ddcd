/* persona kg stats | lookup | entity | types - read the graph store. */
#include "cli.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pe_kg.h"

/* Options shared by the four commands. */
typedef struct q_args {
    const char *db;
    const char *lang;
    const char *type;  /* lookup --type */
    size_t limit;      /* lookup --limit */
    int direct;        /* types --direct */
    int json;          /* stats --json */
    const char *pos;   /* the positional argument */
} q_args;

/* Parses the options `allowed` of the four ("type limit direct json pos").
 * Returns PE_CLI_RUN or the exit code. */
static int parse_args(const char *cmd, int argc, char **argv, q_args *a, const char *allowed,
                      void (*usage)(FILE *), const char *exit_notes)
{
    memset(a, 0, sizeof *a);
    a->lang = "en";
    a->limit = 10;
    pe_cli_opt opts[8];
    int n = 0;
    opts[n++] = (pe_cli_opt){"--db", PE_CLI_STRING, &a->db};
    if (!strstr(allowed, "nolang")) opts[n++] = (pe_cli_opt){"--lang", PE_CLI_STRING, &a->lang, .check = pe_cli_check_langs};
    if (strstr(allowed, "type")) opts[n++] = (pe_cli_opt){"--type", PE_CLI_STRING, &a->type};
    if (strstr(allowed, "limit")) opts[n++] = (pe_cli_opt){"--limit", PE_CLI_SIZE, &a->limit, .min = 1, .max = 100000};
    if (strstr(allowed, "direct")) opts[n++] = (pe_cli_opt){"--direct", PE_CLI_FLAG, &a->direct};
    if (strstr(allowed, "json")) opts[n++] = (pe_cli_opt){"--json", PE_CLI_FLAG, &a->json};
    opts[n] = (pe_cli_opt){0};
    int pos = strstr(allowed, "pos") != NULL;
    const pe_cli_spec spec = {cmd, usage, opts, pos, pos, exit_notes};
    int np, rc = pe_cli_parse(&spec, argc, argv, &np);
    if (rc != PE_CLI_RUN) return rc;
    if (np) a->pos = argv[1];
    if (!a->db) a->db = pe_cli_default_db();
    return PE_CLI_RUN;
}

static cJSON *str_or_null(const char *s) { return s ? cJSON_CreateString(s) : cJSON_CreateNull(); }

/* Number, or null for NaN/inf (JSON has no NaN). */
static cJSON *num_or_null(double v) { return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull(); }

static const char *term_of(pe_kg_reader *r, pe_kg_id id)
{
    const char *t = NULL;
    return pe_kg_term(r, id, &t, NULL) == PE_OK ? t : "?";
}

static const char *label_of(pe_kg_reader *r, pe_kg_id id, const char *lang)
{
    const char *l = NULL;
    return pe_kg_label(r, id, lang, &l) == PE_OK ? l : NULL;
}

/* Resolves a user-given id (QID, PID, IRI); exit 3 with a message when unknown. */
static int resolve_arg(pe_kg *kg, pe_kg_reader *r, const char *db, const char *what, const char *term,
                       pe_kg_id *id)
{
    pe_status st = pe_kg_resolve(r, term, strlen(term), id);
    if (st == PE_OK && PE_KG_IS_LITERAL(*id)) st = PE_NOT_FOUND;
    if (st == PE_NOT_FOUND)
        return pe_cli_error(PE_EXIT_NOT_FOUND, "unknown %s '%s' in the graph store %s", what, term,
                            db ? db : pe_cli_default_db());
    if (st >= PE_ERR_FIRST) return pe_cli_fail(st, "%s", pe_kg_reader_errmsg(r));
    return PE_EXIT_OK;
}

static const char *kind_name(pe_kg_entity_kind k)
{
    switch (k) {
    case PE_KG_KIND_ITEM: return "item";
    case PE_KG_KIND_PROPERTY: return "property";
    case PE_KG_KIND_LEXEME: return "lexeme";
    case PE_KG_KIND_RESOURCE: return "resource";
    case PE_KG_KIND_LITERAL: return "literal";
    default: return "unknown";
    }
}

static const char *rank_name(pe_kg_rank r)
{
    return r == PE_KG_RANK_PREFERRED ? "preferred" : r == PE_KG_RANK_DEPRECATED ? "deprecated" : "normal";
}

/* Description of e in lang (else en, else any); NULL when none. The
 * entity record is borrowed from the caller. */
static const char *description_of(const pe_kg_entity *e, const char *lang)
{
    const char *any = NULL, *en = NULL;
    for (size_t i = 0; i < e->n_texts; i++) {
        if (e->texts[i].kind != PE_KG_DESCRIPTION) continue;
        if (!strcmp(e->texts[i].lang, lang)) return e->texts[i].text;
        if (!en && !strcmp(e->texts[i].lang, "en")) en = e->texts[i].text;
        if (!any) any = e->texts[i].text;
    }
    return en ? en : any;
}

/* ---- text output (the JSON objects, for people) ---------------------------------- */

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(x) ? x->valuestring : NULL;
}

static const char *jstr_or(const cJSON *o, const char *k, const char *d)
{
    const char *s = jstr(o, k);
    return s ? s : d;
}

static double jnum(const cJSON *o, const char *k)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(x) ? x->valuedouble : 0;
}

/* "Q515 (city)", or the id alone without a label. */
static void print_id_label(const cJSON *o)
{
    const char *l = jstr(o, "label");
    printf("%s%s%s%s", jstr(o, "id") ? jstr(o, "id") : "?", l ? " (" : "", l ? l : "", l ? ")" : "");
}

static void print_value(const cJSON *v)
{
    const char *t = jstr(v, "type");
    if (!t) t = "missing";
    if (!strcmp(t, "entity")) print_id_label(v);
    else if (!strcmp(t, "monolingualtext")) printf("\"%s\"@%s", jstr_or(v, "text", ""), jstr_or(v, "lang", ""));
    else if (!strcmp(t, "quantity")) {
        const char *u = jstr(v, "unit");
        int unit = u && strcmp(u, "1") != 0; /* "1": no unit */
        printf("%.17g%s%s", jnum(v, "amount"), unit ? " " : "", unit ? u : "");
    }
    else if (!strcmp(t, "time")) printf("%s", jstr_or(v, "time", "?"));
    else if (!strcmp(t, "globecoordinate")) printf("%.6g, %.6g", jnum(v, "lat"), jnum(v, "lon"));
    else if (!strcmp(t, "typed")) printf("\"%s\"^^%s", jstr_or(v, "value", ""), jstr_or(v, "datatype", "?"));
    else if (jstr(v, "value")) printf("\"%s\"", jstr(v, "value"));
    else printf("(%s)", t);
}

static void lookup_text(const cJSON *arr)
{
    int i = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, arr)
    {
        const char *d = jstr(c, "description");
        printf("%2d. %-10s %-30s prior %.4f (%s)%s%s\n", ++i, jstr_or(c, "id", "?"), jstr_or(c, "label", "-"),
               jnum(c, "prior"), cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "exact")) ? "label" : "alias",
               d ? "  " : "", d ? d : "");
    }
}

static void types_text(const cJSON *j)
{
    print_id_label(j);
    printf(":\n");
    const cJSON *t;
    cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(j, "types"))
    {
        printf("  ");
        print_id_label(t);
        printf("%s\n", cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(t, "direct")) ? "  [direct]" : "");
    }
}

static void entity_text(const cJSON *j)
{
    print_id_label(j);
    printf(" [%s]%s%s\n", jstr_or(j, "kind", "?"), jstr(j, "datatype") ? " datatype " : "", jstr(j, "datatype") ? jstr(j, "datatype") : "");
    const char *groups[3] = {"labels", "aliases", "descriptions"};
    for (int k = 0; k < 3; k++) {
        const cJSON *lang;
        cJSON_ArrayForEach(lang, cJSON_GetObjectItemCaseSensitive(j, groups[k]))
        {
            const cJSON *t;
            cJSON_ArrayForEach(t, lang)
            {
                printf("  %-12s [%s] %s  (source", groups[k], lang->string, jstr_or(t, "text", ""));
                const cJSON *s;
                cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(t, "sources")) printf(" %d", s->valueint);
                printf(")\n");
            }
        }
    }
    const cJSON *x;
    cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(j, "sitelinks"))
        printf("  %-12s %s: %s  (source %.0f)\n", "sitelink", jstr_or(x, "site", "?"), jstr_or(x, "title", "?"),
               jnum(x, "source"));
    cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(j, "same"))
        printf("  %-12s %s  (source %.0f)\n", "same as", jstr_or(x, "term", "?"), jnum(x, "source"));
    printf("  %-12s %.0f\n", "in-degree", jnum(j, "in_degree"));
    cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(j, "triples"))
    {
        const char *pl = jstr(x, "property_label");
        printf("  %s%s%s%s = ", jstr_or(x, "property", "?"), pl ? " (" : "", pl ? pl : "", pl ? ")" : "");
        print_value(cJSON_GetObjectItemCaseSensitive(x, "value"));
        const char *rank = jstr(x, "rank");
        printf("%s%s  (source %.0f)\n", rank && strcmp(rank, "normal") ? "  rank " : "",
               rank && strcmp(rank, "normal") ? rank : "", jnum(x, "source"));
    }
    cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(j, "sources"))
        printf("  source %s: %s\n", x->string, cJSON_IsString(x) ? x->valuestring : "?");
}

/* ---- kg stats ------------------------------------------------------------------ */

static void stats_usage(FILE *f)
{
    fprintf(f, "usage: persona kg stats [--db DIR] [--json]\n"
               "\n"
               "Counts of the graph store (terms, entities, literals, triples, alias forms,\n"
               "sameAs merges, size) and every import source: file, format, sha256, size, dump\n"
               "date, languages, start/end, status, counts (skipped records included) and\n"
               "the first error.\n"
               "\n"
               "  --db DIR   store directory (default $PERSONA_DB, else ./persona-kg)\n"
               "  --json     one JSON object on stdout instead of text\n"
               "\n");
}

/* A RUNNING source no import holds was interrupted (killed): resumable. */
static const char *status_name(pe_kg_source_status s, int live)
{
    return s == PE_KG_SOURCE_DONE ? "done" : s == PE_KG_SOURCE_FAILED ? "failed" : live ? "running" : "interrupted";
}

static void fmt_time(double t, char *buf, size_t cap)
{
    if (t <= 0) {
        snprintf(buf, cap, "-");
        return;
    }
    time_t s = (time_t)t;
    struct tm tm;
    gmtime_r(&s, &tm);
    strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int pe_cmd_kg_stats(int argc, char **argv)
{
    q_args a;
    int pr = parse_args("kg stats", argc, argv, &a, "json nolang", stats_usage, NULL);
    if (pr != PE_CLI_RUN) return pr;
    pe_kg *kg;
    pe_kg_reader *r;
    int rc = pe_cli_open_reader(a.db, &kg, &r);
    if (rc) return rc;
    pe_kg_stats s;
    pe_status st = pe_kg_stats_get(r, &s);
    if (st >= PE_ERR_FIRST) {
        rc = pe_cli_fail(st, "%s", pe_kg_reader_errmsg(r));
        goto out;
    }
    cJSON *j = cJSON_CreateObject(), *srcs = cJSON_CreateArray();
    cJSON_AddStringToObject(j, "db", a.db);
    cJSON_AddNumberToObject(j, "terms", (double)s.terms);
    cJSON_AddNumberToObject(j, "entities", (double)s.entities);
    cJSON_AddNumberToObject(j, "literals", (double)s.literals);
    cJSON_AddNumberToObject(j, "triples", (double)s.triples);
    cJSON_AddNumberToObject(j, "alias_keys", (double)s.alias_keys);
    cJSON_AddNumberToObject(j, "sameas", (double)s.sameas);
    cJSON_AddNumberToObject(j, "store_bytes", (double)s.store_bytes);
    if (!a.json)
        printf("graph store %s\n"
               "  terms       %llu\n  entities    %llu\n  literals    %llu\n  triples     %llu\n"
               "  alias forms %llu\n  sameAs      %llu\n  size        %.1f MiB\n  sources     %llu\n",
               a.db, (unsigned long long)s.terms, (unsigned long long)s.entities, (unsigned long long)s.literals,
               (unsigned long long)s.triples, (unsigned long long)s.alias_keys, (unsigned long long)s.sameas,
               (double)s.store_bytes / (1 << 20), (unsigned long long)s.sources);
    for (uint32_t id = 1; id <= s.sources; id++) {
        pe_kg_source src;
        if (pe_kg_source_get(r, id, &src) != PE_OK) continue;
        char t0[32], t1[32];
        fmt_time(src.started, t0, sizeof t0);
        fmt_time(src.ended, t1, sizeof t1);
        cJSON *o = cJSON_CreateObject(), *c = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "id", src.id);
        cJSON_AddItemToObject(o, "path", str_or_null(src.path));
        cJSON_AddItemToObject(o, "format", str_or_null(src.format));
        cJSON_AddItemToObject(o, "sha256", str_or_null(src.sha256));
        cJSON_AddNumberToObject(o, "size", (double)src.size);
        cJSON_AddItemToObject(o, "dump_date", str_or_null(src.dump_date));
        cJSON_AddItemToObject(o, "langs", str_or_null(src.langs));
        cJSON_AddStringToObject(o, "started", t0);
        cJSON_AddItemToObject(o, "ended", src.ended > 0 ? cJSON_CreateString(t1) : cJSON_CreateNull());
        cJSON_AddStringToObject(o, "status", status_name(src.status, src.live));
        const pe_kg_counts *k = &src.counts;
        pe_cli_add_counts(c, k);
        cJSON_AddItemToObject(o, "counts", c);
        cJSON_AddItemToObject(o, "last_error", src.last_error[0] ? cJSON_CreateString(src.last_error) : cJSON_CreateNull());
        cJSON_AddItemToArray(srcs, o);
        if (!a.json) {
            printf("source %u: %s (%s) %s\n", src.id, src.path ? src.path : "-", src.format ? src.format : "-",
                   status_name(src.status, src.live));
            printf("  sha256 %s, %llu bytes, dump date %s, languages %s\n", src.sha256 ? src.sha256 : "-",
                   (unsigned long long)src.size, src.dump_date ? src.dump_date : "-", src.langs ? src.langs : "all");
            printf("  started %s, ended %s\n", t0, t1);
            printf("  entities %llu, labels %llu, aliases %llu, descriptions %llu, triples %llu, sameAs %llu\n",
                   (unsigned long long)k->entities, (unsigned long long)k->labels, (unsigned long long)k->aliases,
                   (unsigned long long)k->descriptions, (unsigned long long)k->triples,
                   (unsigned long long)k->sameas);
            printf("  skipped %llu, dropped %llu, lines %llu, bytes %llu\n", (unsigned long long)k->skipped,
                   (unsigned long long)k->dropped, (unsigned long long)k->lines, (unsigned long long)k->bytes);
            if (src.last_error[0]) printf("  first error: %s\n", src.last_error);
        }
    }
    cJSON_AddItemToObject(j, "sources", srcs);
    if (a.json) pe_cli_print_json(j);
    cJSON_Delete(j);
out:
    pe_kg_reader_end(r);
    pe_kg_close(kg);
    return rc;
}

/* ---- kg lookup ------------------------------------------------------------------ */

static void lookup_usage(FILE *f)
{
    fprintf(f, "usage: persona kg lookup TEXT [--type QID] [--limit N] [--lang L] [--db DIR] [--json]\n"
               "\n"
               "Candidate entities whose label or alias normalises like TEXT (case, accents,\n"
               "punctuation and spacing ignored), best first: one line each, or with --json a\n"
               "JSON array of {id, label, description, prior, exact}. prior is in (0,1] and sums to 1 over all\n"
               "candidates: weight (1 + ln(1+sitelinks) + ln(1+in-degree)), doubled for a label\n"
               "match (exact) over an alias match.\n"
               "\n"
               "  --type QID  keep instances of this class (P31/P279*, rdf:type/rdfs:subClassOf*)\n"
               "  --limit N   at most N candidates (default 10)\n"
               "  --lang L    language of labels and descriptions shown (default en)\n"
               "  --db DIR    store directory (default $PERSONA_DB, else ./persona-kg)\n"
               "  --json      JSON on stdout instead of text\n"
               "\n");
}

int pe_cmd_kg_lookup(int argc, char **argv)
{
    q_args a;
    int pr = parse_args("kg lookup", argc, argv, &a, "pos type limit json", lookup_usage, "            (3: no candidate, or an unknown --type class)\n");
    if (pr != PE_CLI_RUN) return pr;
    pe_kg *kg;
    pe_kg_reader *r;
    int rc = pe_cli_open_reader(a.db, &kg, &r);
    if (rc) return rc;
    pe_kg_lookup_options lo = {.type = 0, .limit = a.limit};
    pe_kg_candidate *c = NULL;
    if (a.type && (rc = resolve_arg(kg, r, a.db, "class", a.type, &lo.type))) goto out;
    c = calloc(a.limit, sizeof *c);
    if (!c) {
        rc = pe_cli_fail(PE_ERR_NOMEM, NULL);
        goto out;
    }
    size_t n = 0;
    pe_status st = pe_kg_lookup(r, a.pos, strlen(a.pos), &lo, c, a.limit, &n);
    if (st >= PE_ERR_FIRST) {
        pe_cli_fail(st, "%s", pe_kg_reader_errmsg(r));
        rc = st == PE_ERR_UTF8 ? PE_EXIT_USAGE : PE_EXIT_FAIL;
        goto out;
    }
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", term_of(r, c[i].id));
        cJSON_AddItemToObject(o, "label", str_or_null(label_of(r, c[i].id, a.lang)));
        pe_kg_entity *e = NULL;
        const char *desc = NULL;
        if (pe_kg_entity_get(r, c[i].id, &e) == PE_OK) desc = description_of(e, a.lang);
        cJSON_AddItemToObject(o, "description", str_or_null(desc));
        pe_kg_entity_free(e);
        cJSON_AddNumberToObject(o, "prior", round(c[i].prior * 1e6) / 1e6);
        cJSON_AddBoolToObject(o, "exact", c[i].exact);
        cJSON_AddItemToArray(arr, o);
    }
    if (a.json) pe_cli_print_json(arr);
    else lookup_text(arr);
    cJSON_Delete(arr);
    if (n == 0) {
        rc = pe_cli_error(PE_EXIT_NOT_FOUND, "no entity named '%s'%s%s", a.pos, a.type ? " of type " : "",
                          a.type ? a.type : "");
    }
out:
    free(c);
    pe_kg_reader_end(r);
    pe_kg_close(kg);
    return rc;
}

/* ---- kg entity ------------------------------------------------------------------ */

static void entity_usage(FILE *f)
{
    fprintf(f, "usage: persona kg entity ID [--lang L] [--db DIR] [--json]\n"
               "\n"
               "The entity record of ID (Q90, P31, or an IRI such as a DBpedia resource merged\n"
               "through owl:sameAs), as text or with --json as JSON: kind, labels/aliases/descriptions by language with\n"
               "their import sources, sitelinks, sameAs terms with their source, in-degree, and\n"
               "its statements with the property label, decoded value, rank and source (a\n"
               "statement stated by several imports lists them all in \"sources\"). The top-level\n"
               "\"sources\" object maps the source ids used to their files.\n"
               "\n"
               "  --lang L   language of the property and value labels (default en)\n"
               "  --db DIR   store directory (default $PERSONA_DB, else ./persona-kg)\n"
               "  --json     JSON on stdout instead of text\n"
               "\n");
}

static cJSON *value_json(pe_kg_reader *r, pe_kg_id o, const char *lang)
{
    cJSON *v = cJSON_CreateObject();
    pe_kg_value x;
    if (pe_kg_value_get(r, o, &x) != PE_OK) {
        cJSON_AddStringToObject(v, "type", "missing");
        return v;
    }
    switch (x.type) {
    case PE_KG_VAL_ENTITY:
        cJSON_AddStringToObject(v, "type", "entity");
        cJSON_AddStringToObject(v, "id", term_of(r, x.entity));
        cJSON_AddItemToObject(v, "label", str_or_null(label_of(r, x.entity, lang)));
        break;
    case PE_KG_VAL_STRING:
    case PE_KG_VAL_EXTERNAL_ID:
    case PE_KG_VAL_URL:
        cJSON_AddStringToObject(v, "type", x.type == PE_KG_VAL_STRING ? "string"
                                           : x.type == PE_KG_VAL_URL ? "url" : "external-id");
        cJSON_AddStringToObject(v, "value", x.text);
        break;
    case PE_KG_VAL_MONOTEXT:
        cJSON_AddStringToObject(v, "type", "monolingualtext");
        cJSON_AddStringToObject(v, "text", x.text);
        cJSON_AddItemToObject(v, "lang", str_or_null(x.lang));
        break;
    case PE_KG_VAL_QUANTITY:
        cJSON_AddStringToObject(v, "type", "quantity");
        cJSON_AddItemToObject(v, "amount", num_or_null(x.amount));
        cJSON_AddItemToObject(v, "lower", num_or_null(x.lower));
        cJSON_AddItemToObject(v, "upper", num_or_null(x.upper));
        cJSON_AddItemToObject(v, "unit", str_or_null(x.unit));
        break;
    case PE_KG_VAL_TIME:
        cJSON_AddStringToObject(v, "type", "time");
        cJSON_AddStringToObject(v, "time", x.text);
        cJSON_AddNumberToObject(v, "precision", x.precision);
        cJSON_AddItemToObject(v, "calendar", str_or_null(x.calendar));
        break;
    case PE_KG_VAL_COORD:
        cJSON_AddStringToObject(v, "type", "globecoordinate");
        cJSON_AddItemToObject(v, "lat", num_or_null(x.lat));
        cJSON_AddItemToObject(v, "lon", num_or_null(x.lon));
        cJSON_AddItemToObject(v, "precision", num_or_null(x.coord_precision));
        cJSON_AddItemToObject(v, "globe", str_or_null(x.globe));
        break;
    case PE_KG_VAL_TYPED:
        cJSON_AddStringToObject(v, "type", "typed");
        cJSON_AddStringToObject(v, "value", x.text);
        cJSON_AddItemToObject(v, "datatype", str_or_null(x.datatype));
        break;
    }
    return v;
}

static void note_source(cJSON *sources, pe_kg_reader *r, uint32_t id)
{
    char key[16];
    snprintf(key, sizeof key, "%u", id);
    if (id == 0 || cJSON_GetObjectItemCaseSensitive(sources, key)) return;
    pe_kg_source s;
    cJSON_AddItemToObject(sources, key, pe_kg_source_get(r, id, &s) == PE_OK ? str_or_null(s.path) : cJSON_CreateNull());
}

int pe_cmd_kg_entity(int argc, char **argv)
{
    q_args a;
    int pr = parse_args("kg entity", argc, argv, &a, "pos json", entity_usage, "            (3: unknown ID)\n");
    if (pr != PE_CLI_RUN) return pr;
    pe_kg *kg;
    pe_kg_reader *r;
    int rc = pe_cli_open_reader(a.db, &kg, &r);
    if (rc) return rc;
    pe_kg_id id;
    pe_kg_entity *e = NULL;
    if ((rc = resolve_arg(kg, r, a.db, "entity", a.pos, &id))) goto out;
    pe_status st = pe_kg_entity_get(r, id, &e);
    if (st == PE_NOT_FOUND) {
        rc = pe_cli_error(PE_EXIT_NOT_FOUND, "unknown entity '%s' in the graph store %s", a.pos,
                          a.db ? a.db : pe_cli_default_db());
        goto out;
    }
    if (st >= PE_ERR_FIRST) {
        rc = pe_cli_fail(st, "%s", pe_kg_reader_errmsg(r));
        goto out;
    }
    cJSON *j = cJSON_CreateObject(), *sources = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "id", e->term);
    cJSON_AddStringToObject(j, "kind", kind_name(e->kind));
    cJSON_AddItemToObject(j, "datatype", str_or_null(e->datatype));
    cJSON_AddItemToObject(j, "label", str_or_null(label_of(r, e->id, a.lang)));
    const char *groups[3] = {"labels", "aliases", "descriptions"};
    for (int k = 0; k < 3; k++) {
        cJSON *g = cJSON_CreateObject();
        for (size_t i = 0; i < e->n_texts; i++) {
            const pe_kg_text *t = &e->texts[i];
            if ((int)t->kind != k) continue;
            cJSON *list = cJSON_GetObjectItemCaseSensitive(g, t->lang);
            if (!list) {
                list = cJSON_CreateArray();
                cJSON_AddItemToObject(g, t->lang, list);
            }
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "text", t->text);
            cJSON_AddNumberToObject(o, "source", t->source);
            cJSON *all = cJSON_CreateArray();
            for (size_t k2 = 0; k2 < t->n_sources; k2++) {
                cJSON_AddItemToArray(all, cJSON_CreateNumber(t->sources[k2]));
                note_source(sources, r, t->sources[k2]);
            }
            cJSON_AddItemToObject(o, "sources", all);
            cJSON_AddItemToArray(list, o);
        }
        cJSON_AddItemToObject(j, groups[k], g);
    }
    cJSON *links = cJSON_CreateArray();
    for (size_t i = 0; i < e->n_sitelinks; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "site", e->sitelink_sites[i]);
        cJSON_AddStringToObject(o, "title", e->sitelink_titles[i]);
        cJSON_AddNumberToObject(o, "source", e->sitelink_sources[i]);
        note_source(sources, r, e->sitelink_sources[i]);
        cJSON_AddItemToArray(links, o);
    }
    cJSON_AddItemToObject(j, "sitelinks", links);
    cJSON *same = cJSON_CreateArray();
    for (size_t i = 0; i < e->n_same; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "term", e->same[i]);
        cJSON_AddNumberToObject(o, "source", e->same_source[i]);
        note_source(sources, r, e->same_source[i]);
        cJSON_AddItemToArray(same, o);
    }
    cJSON_AddItemToObject(j, "same", same);
    cJSON_AddNumberToObject(j, "in_degree", e->in_degree);
    cJSON *triples = cJSON_CreateArray();
    pe_kg_iter *it;
    if ((st = pe_kg_match(r, e->id, 0, 0, &it)) == PE_OK) {
        pe_kg_triple t;
        while ((st = pe_kg_iter_next(it, &t)) == PE_OK) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "property", term_of(r, t.p));
            cJSON_AddItemToObject(o, "property_label", str_or_null(label_of(r, t.p, a.lang)));
            cJSON_AddItemToObject(o, "value", value_json(r, t.o, a.lang));
            cJSON_AddStringToObject(o, "rank", rank_name(t.rank));
            cJSON_AddNumberToObject(o, "source", t.source);
            note_source(sources, r, t.source);
            uint32_t srcs[16];
            size_t ns = 0;
            if (pe_kg_triple_sources(r, t.s, t.p, t.o, srcs, 16, &ns) == PE_OK && ns > 1) {
                cJSON *all = cJSON_CreateArray();
                for (size_t k2 = 0; k2 < ns && k2 < 16; k2++) {
                    cJSON_AddItemToArray(all, cJSON_CreateNumber(srcs[k2]));
                    note_source(sources, r, srcs[k2]);
                }
                cJSON_AddItemToObject(o, "sources", all);
            }
            cJSON_AddItemToArray(triples, o);
        }
        pe_kg_iter_free(it);
    }
    cJSON_AddItemToObject(j, "triples", triples);
    cJSON_AddItemToObject(j, "sources", sources);
    if (st >= PE_ERR_FIRST) {
        rc = pe_cli_fail(st, "%s", pe_kg_reader_errmsg(r));
    } else {
        if (a.json) pe_cli_print_json(j);
        else entity_text(j);
    }
    cJSON_Delete(j);
out:
    pe_kg_entity_free(e);
    pe_kg_reader_end(r);
    pe_kg_close(kg);
    return rc;
}

/* ---- kg types ------------------------------------------------------------------ */

static void types_usage(FILE *f)
{
    fprintf(f, "usage: persona kg types ID [--direct] [--lang L] [--db DIR] [--json]\n"
               "\n"
               "Classes of ID: its direct classes (P31, rdf:type) and, unless --direct, their\n"
               "superclasses through P279* / rdfs:subClassOf*, in breadth-first order; with\n"
               "--json as JSON, each {id, label, direct}.\n"
               "\n"
               "  --direct   only the direct classes\n"
               "  --lang L   language of the labels (default en)\n"
               "  --db DIR   store directory (default $PERSONA_DB, else ./persona-kg)\n"
               "  --json     JSON on stdout instead of text\n"
               "\n");
}

int pe_cmd_kg_types(int argc, char **argv)
{
    q_args a;
    int pr = parse_args("kg types", argc, argv, &a, "pos direct json", types_usage, "            (3: unknown ID)\n");
    if (pr != PE_CLI_RUN) return pr;
    pe_kg *kg;
    pe_kg_reader *r;
    int rc = pe_cli_open_reader(a.db, &kg, &r);
    if (rc) return rc;
    pe_kg_id id, *direct = NULL, *all = NULL;
    size_t nd = 0, na = 0;
    if ((rc = resolve_arg(kg, r, a.db, "entity", a.pos, &id))) goto out;
    pe_status st = pe_kg_types(r, id, 0, &direct, &nd);
    if (st == PE_OK && !a.direct) st = pe_kg_types(r, id, 1, &all, &na);
    if (st >= PE_ERR_FIRST) {
        rc = pe_cli_fail(st, "%s", pe_kg_reader_errmsg(r));
        goto out;
    }
    cJSON *j = cJSON_CreateObject(), *arr = cJSON_CreateArray();
    cJSON_AddStringToObject(j, "id", term_of(r, id));
    cJSON_AddItemToObject(j, "label", str_or_null(label_of(r, id, a.lang)));
    const pe_kg_id *list = a.direct ? direct : all;
    size_t n = a.direct ? nd : na;
    for (size_t i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", term_of(r, list[i]));
        cJSON_AddItemToObject(o, "label", str_or_null(label_of(r, list[i], a.lang)));
        int is_direct = 0;
        for (size_t k = 0; k < nd; k++) is_direct |= direct[k] == list[i];
        cJSON_AddBoolToObject(o, "direct", is_direct);
        cJSON_AddItemToArray(arr, o);
    }
    cJSON_AddItemToObject(j, "types", arr);
    if (a.json) pe_cli_print_json(j);
    else types_text(j);
    cJSON_Delete(j);
out:
    free(direct);
    free(all);
    pe_kg_reader_end(r);
    pe_kg_close(kg);
    return rc;
}
