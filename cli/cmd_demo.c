/* persona demo: the main job on embedded defaults. Imports the demo graph
 * shipped inside the binary (data/demo: Wikidata JSON + DBpedia N-Triples)
 * into a store and shows what the store answers: ranked lookups, types
 * through the subclass closure, and an entity merged from both sources. */
#include <cjson/cJSON.h>

#include "cli.h"
#include "enrich.h"
#include "pe_import.h"
#include "pe_kg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int pe_cmd_demo(int argc, char **argv);

extern const unsigned char pe_demo_demo_wikidata_json[];
extern const size_t pe_demo_demo_wikidata_json_len;
extern const unsigned char pe_demo_demo_dbpedia_nt[];
extern const size_t pe_demo_demo_dbpedia_nt_len;
extern const unsigned char pe_demo_messages_jsonl[];
extern const size_t pe_demo_messages_jsonl_len;

static void demo_usage(FILE *f)
{
    fprintf(f,
            "usage: persona demo [--db DIR] [--db-personas DIR] [--model PATH]\n"
            "\n"
            "The main job on embedded data. Imports the demo knowledge graph embedded in\n"
            "persona (a Wikidata JSON slice of a few hundred persona-relevant entities and\n"
            "DBpedia N-Triples linked to it by owl:sameAs) and shows lookups, types and a\n"
            "merged entity; then enriches the embedded demo messages of three users with the\n"
            "persona model and prints their personas and the full provenance of one\n"
            "attribute. Without the model (models/persona-small.pem, or --model, or\n"
            "$PERSONA_MODEL) it says so and shows the graph part only.\n"
            "\n"
            "  --db DIR           keep the graph store in DIR (default: a temporary one)\n"
            "  --db-personas DIR  keep the persona store in DIR (default: a temporary one)\n"
            "  --model PATH       the persona model (default: $PERSONA_MODEL, else the shipped one)\n");
}

static int write_file(const char *path, const unsigned char *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t n = fwrite(data, 1, len, f);
    return fclose(f) == 0 && n == len ? 0 : -1;
}

/* IRIs shown with the usual prefixes, in one of a few rotating buffers so
 * that a printf can hold several. */
static const char *compact(const char *iri)
{
    static const char *pfx[][2] = {
        {"http://www.w3.org/1999/02/22-rdf-syntax-ns#", "rdf:"}, {"http://www.w3.org/2000/01/rdf-schema#", "rdfs:"},
        {"http://www.w3.org/2002/07/owl#", "owl:"},             {"http://dbpedia.org/ontology/", "dbo:"},
        {"http://dbpedia.org/resource/", "dbr:"},               {"http://www.w3.org/2001/XMLSchema#", "xsd:"}};
    static char buf[4][256];
    static int k;
    for (size_t i = 0; i < sizeof pfx / sizeof pfx[0]; i++) {
        size_t n = strlen(pfx[i][0]);
        if (strncmp(iri, pfx[i][0], n) == 0) {
            char *b = buf[k++ & 3];
            snprintf(b, sizeof buf[0], "%s%s", pfx[i][1], iri + n);
            return b;
        }
    }
    return iri;
}

static const char *term_of(pe_kg_reader *r, pe_kg_id id)
{
    const char *t = "?";
    size_t n;
    pe_kg_term(r, id, &t, &n);
    return compact(t);
}

static const char *label_of(pe_kg_reader *r, pe_kg_id id)
{
    const char *l = NULL;
    if (pe_kg_label(r, id, "en", &l) != PE_OK || !l) return term_of(r, id);
    return compact(l);
}

static int show_lookup(pe_kg_reader *r, const char *text)
{
    pe_kg_candidate c[5];
    size_t n = 0;
    pe_status st = pe_kg_lookup(r, text, strlen(text), NULL, c, 5, &n);
    printf("\nkg lookup \"%s\":\n", text);
    if (st == PE_NOT_FOUND || n == 0) {
        printf("  (no candidates)\n");
        return 0;
    }
    if (st != PE_OK) return -1;
    for (size_t i = 0; i < n; i++) {
        pe_kg_entity *e = NULL;
        const char *desc = "";
        if (pe_kg_entity_get(r, c[i].id, &e) == PE_OK) {
            for (size_t k = 0; k < e->n_texts; k++)
                if (e->texts[k].kind == PE_KG_DESCRIPTION && strcmp(e->texts[k].lang, "en") == 0) {
                    desc = e->texts[k].text;
                    break;
                }
        }
        printf("  %zu. %-9s %-28s prior %.3f%s  %s\n", i + 1, term_of(r, c[i].id), label_of(r, c[i].id),
               c[i].prior, c[i].exact ? " (label)" : " (alias)", desc);
        pe_kg_entity_free(e);
    }
    return 0;
}

static int show_types(pe_kg_reader *r, const char *term)
{
    pe_kg_id id, *ids = NULL;
    size_t n = 0;
    if (pe_kg_resolve(r, term, strlen(term), &id) != PE_OK) return -1;
    if (pe_kg_types(r, id, 1, &ids, &n) != PE_OK) return -1;
    printf("\nkg types %s (%s), through P279* / rdfs:subClassOf*:\n  ", term, label_of(r, id));
    for (size_t i = 0; i < n; i++) {
        const char *t = term_of(r, ids[i]), *l = label_of(r, ids[i]);
        printf("%s%s", i ? ", " : "", t);
        if (strcmp(t, l) != 0) printf(" (%s)", l);
    }
    printf("\n");
    free(ids);
    return 0;
}

static int show_entity(pe_kg_reader *r, const char *term)
{
    pe_kg_id id;
    pe_kg_entity *e = NULL;
    if (pe_kg_resolve(r, term, strlen(term), &id) != PE_OK || pe_kg_entity_get(r, id, &e) != PE_OK) return -1;
    printf("\nkg entity %s resolves to %s; its record:\n", term, e->term);
    for (size_t i = 0; i < e->n_texts; i++) {
        static const char *kinds[] = {"label", "alias", "description"};
        pe_kg_source src;
        const char *from = "?";
        if (pe_kg_source_get(r, e->texts[i].source, &src) == PE_OK) from = src.format;
        printf("  %-20s [%s] %-31s from source %u (%s)\n", kinds[e->texts[i].kind], e->texts[i].lang,
               e->texts[i].text, e->texts[i].source, from);
    }
    for (size_t i = 0; i < e->n_same; i++)
        printf("  %-25s %-31s source %u\n", "same as", compact(e->same[i]), e->same_source[i]);
    pe_kg_iter *it = NULL;
    pe_kg_triple t;
    if (pe_kg_match(r, id, 0, 0, &it) == PE_OK) {
        while (pe_kg_iter_next(it, &t) == PE_OK) {
            pe_kg_value v;
            char val[256] = "?";
            if (pe_kg_value_get(r, t.o, &v) == PE_OK) {
                if (v.type == PE_KG_VAL_ENTITY && strcmp(term_of(r, t.o), label_of(r, t.o)) != 0)
                    snprintf(val, sizeof val, "%s (%s)", term_of(r, t.o), label_of(r, t.o));
                else if (v.type == PE_KG_VAL_ENTITY)
                    snprintf(val, sizeof val, "%s", term_of(r, t.o));
                else if (v.type == PE_KG_VAL_QUANTITY)
                    snprintf(val, sizeof val, "%.0f", v.amount);
                else if (v.type == PE_KG_VAL_COORD)
                    snprintf(val, sizeof val, "%.4f, %.4f", v.lat, v.lon);
                else if (v.text)
                    snprintf(val, sizeof val, "%.*s", (int)v.text_len, v.text);
            }
            printf("  %-20.20s %-40s source %u\n", label_of(r, t.p), val, t.source);
        }
        pe_kg_iter_free(it);
    }
    pe_kg_entity_free(e);
    return 0;
}

/* The enrich part: demo messages -> personas, with one provenance chain. */
static int demo_enrich(pe_kg *kg, pe_kg_reader *kr, const char *work, const char *ps_dir, const char *model)
{
    struct stat sb;
    printf("\n== personas: enrich the demo messages of three users ==\n");
    if (!model || !*model || stat(model, &sb) != 0) {
        printf("\nNo persona model at %s:\n"
               "the shipped model (models/persona-small.pem) has not been built into this tree yet,\n"
               "so the enrich part of the demo is skipped. Give --model PATH or set $PERSONA_MODEL\n"
               "to a model with a persona relation head to run it.\n",
               model && *model ? model : "(none)");
        return PE_EXIT_OK;
    }
    enrich_run run;
    memset(&run, 0, sizeof run);
    run.kg = kg;
    run.kr = kr;
    int rc = pe_cli_load_model(model, 0, &run.enc);
    if (rc != PE_EXIT_OK) return rc;
    rc = PE_EXIT_FAIL;
    char ps_path[300];
    snprintf(ps_path, sizeof ps_path, "%s/personas", work);
    int tmp_ps = !ps_dir;
    if (!ps_dir) ps_dir = ps_path;
    pe_error err;
    pe_error_clear(&err);
    pe_ps_options po = pe_ps_options_default();
    po.map_size = (size_t)1 << 30;
    pe_status st = pe_ps_open(ps_dir, &po, &run.ps, &err);
    pe_ps_writer *w = NULL;
    pe_ps_reader *r = NULL;
    char *users[16];
    size_t n_users = 0, n_msgs = 0;
    if (st != PE_OK) {
        pe_cli_fail(st, "%s", err.msg);
        goto done;
    }
    pe_fusion_options fo = pe_fusion_options_default();
    if (enrich_open_linker(&run, NULL, NULL, NULL, &fo) != PE_EXIT_OK || enrich_open(&run, &fo) != PE_EXIT_OK) goto done;
    printf("model %s (%s version %s), persona store %s\n", model, run.info.model_id, run.info.model_version, ps_dir);
    printf("linker: %s%s\n", run.ranker_path[0] ? "ranker " : "candidates by prior (no ranker)", run.ranker_path);
    if ((st = pe_ps_writer_begin(run.ps, &w)) != PE_OK) {
        pe_cli_fail(st, "%s", pe_ps_errmsg(run.ps));
        goto done;
    }
    double t0 = pe_now();
    const char *p = (const char *)pe_demo_messages_jsonl, *end = p + pe_demo_messages_jsonl_len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        cJSON *j = NULL;
        enrich_msg m;
        char why[160];
        if (len && !enrich_parse_line(p, len, &j, &m, why, sizeof why)) {
            printf("  %-6s %-3s \"%s\"\n", m.user, m.id, m.text);
            st = enrich_message(&run, w, m.user, m.id, m.time, m.text, &err);
            int known = 0;
            for (size_t i = 0; i < n_users; i++) known |= !strcmp(users[i], m.user);
            if (!known && n_users < 16) users[n_users++] = strdup(m.user);
            n_msgs++;
        }
        cJSON_Delete(j);
        if (st != PE_OK) {
            pe_cli_fail(st, "%s", err.msg);
            pe_ps_writer_abort(w);
            goto done;
        }
        p += len + 1;
    }
    if ((st = pe_ps_writer_commit(w)) != PE_OK) {
        pe_cli_fail(st, "%s", pe_ps_errmsg(run.ps));
        goto done;
    }
    printf("%zu messages in %.2f s: %llu values added, %llu replaced, %llu retracted, %llu derived from the graph,\n"
           "%llu withheld (GDPR Art. 9 categories are withheld by default: only the audit log records them)\n",
           n_msgs, pe_now() - t0, (unsigned long long)run.counts.added, (unsigned long long)run.counts.replaced,
           (unsigned long long)run.counts.retracted, (unsigned long long)run.counts.derived,
           (unsigned long long)run.counts.withheld);
    if ((st = pe_ps_reader_begin(run.ps, &r)) != PE_OK) {
        pe_cli_fail(st, "%s", pe_ps_errmsg(run.ps));
        goto done;
    }
    for (size_t u = 0; u < n_users; u++) {
        pe_ps_attr_list *l = NULL;
        printf("\npersona of %s:\n", users[u]);
        if (pe_ps_attributes(r, users[u], NULL, 0, &l) != PE_OK || l->n == 0) printf("  (no attributes)\n");
        for (size_t i = 0; l && i < l->n; i++) {
            const pe_ps_attr *a = &l->attrs[i];
            char ent[128] = "";
            if (a->entity) {
                pe_kg_id id;
                const char *label = NULL;
                if (pe_kg_resolve(kr, a->entity, strlen(a->entity), &id) == PE_OK && pe_kg_label(kr, id, "en", &label) == PE_OK)
                    snprintf(ent, sizeof ent, " -> %s (%s)", a->entity, label);
                else
                    snprintf(ent, sizeof ent, " -> %s", a->entity);
            }
            printf("  %-22s %-16s%-34s confidence %.2f  %s\n", a->attribute, a->value, ent, a->confidence,
                   pe_ps_sensitivity_name(a->sensitivity));
        }
        pe_ps_attr_list_free(l);
    }
    /* one attribute's full chain: the residence the model found and linked,
     * and the country derived from it through a graph fact */
    static const char *const chain[] = {"residence", "country"};
    int shown = 0;
    for (int i = 0; i < 2; i++) {
        printf("\n== provenance: persona audit alice %s ==\n", chain[i]);
        st = pe_cli_audit_print(r, "alice", chain[i]);
        if (st == PE_NOT_FOUND) printf("(the model found no %s for alice)\n", chain[i]);
        else if (st != PE_OK) {
            pe_cli_fail(st, "%s", pe_ps_errmsg(run.ps));
            goto done;
        } else {
            shown++;
        }
    }
    /* when the model missed alice's residence, the chain of another
     * attribute (a linked one first) shows what an auditor sees */
    if (!shown) {
        char who[128] = "", what[128] = "";
        for (int pass = 0; pass < 2 && !what[0]; pass++)
            for (size_t u = 0; u < n_users && !what[0]; u++) {
                pe_ps_attr_list *l = NULL;
                if (pe_ps_attributes(r, users[u], NULL, 0, &l) == PE_OK)
                    for (size_t i = 0; i < l->n && !what[0]; i++)
                        if (pass == 1 || l->attrs[i].entity) {
                            snprintf(who, sizeof who, "%s", users[u]);
                            snprintf(what, sizeof what, "%s", l->attrs[i].attribute);
                        }
                pe_ps_attr_list_free(l);
            }
        if (what[0]) {
            printf("\n== provenance: persona audit %s %s ==\n", who, what);
            if ((st = pe_cli_audit_print(r, who, what)) != PE_OK) {
                pe_cli_fail(st, "%s", pe_ps_errmsg(run.ps));
                goto done;
            }
        }
    }
    pe_ps_verify_result v;
    if ((st = pe_ps_audit_verify(r, &v)) != PE_OK) {
        pe_cli_fail(st, "%s", pe_ps_errmsg(run.ps));
        goto done;
    }
    printf("\naudit log: %llu hash-chained records, verified (head %.16s...)\n", (unsigned long long)v.records, v.head);
    rc = PE_EXIT_OK;
done:
    pe_ps_reader_end(r);
    enrich_close(&run);
    pe_ps_close(run.ps);
    pe_encoder_free(run.enc);
    if (tmp_ps) pe_cli_remove_tree(ps_path);
    for (size_t i = 0; i < n_users; i++) free(users[i]);
    return rc;
}

int pe_cmd_demo(int argc, char **argv)
{
    const char *db = NULL, *ps_dir = NULL, *model = NULL;
    const pe_cli_opt opts[] = {{"--db", PE_CLI_STRING, &db},
                               {"--db-personas", PE_CLI_STRING, &ps_dir},
                               {"--model", PE_CLI_STRING, &model},
                               {0}};
    const pe_cli_spec spec = {"demo", demo_usage, opts, 0, 0, NULL};
    int np, prc = pe_cli_parse(&spec, argc, argv, &np);
    if (prc != PE_CLI_RUN) return prc;
    const char *tmpdir = getenv("TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/persona-demo-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
    char *work = mkdtemp(tmpl);
    if (!work) return pe_cli_fail(PE_ERR_IO, "%s: %s", tmpl, strerror(errno));
    char wd_path[4200], nt_path[4200], db_path[4200];
    snprintf(wd_path, sizeof wd_path, "%s/demo-wikidata.json", work);
    snprintf(nt_path, sizeof nt_path, "%s/demo-dbpedia.nt", work);
    snprintf(db_path, sizeof db_path, "%s/kg", work);
    if (!db) db = db_path;
    int rc = PE_EXIT_FAIL;
    pe_kg *kg = NULL;
    pe_kg_reader *r = NULL;
    if (write_file(wd_path, pe_demo_demo_wikidata_json, pe_demo_demo_wikidata_json_len) ||
        write_file(nt_path, pe_demo_demo_dbpedia_nt, pe_demo_demo_dbpedia_nt_len)) {
        pe_cli_fail(PE_ERR_IO, "cannot write the demo files to a temporary directory");
        goto done;
    }
    if ((rc = pe_cli_open_store(db, 0, NULL, &kg)) != PE_EXIT_OK) goto done;
    rc = PE_EXIT_FAIL;
    pe_status st;
    printf("== the graph ==\npersona demo: graph store %s\n", db);
    const char *files[] = {wd_path, nt_path};
    const char *names[] = {"demo-wikidata.json (Wikidata JSON dump format)", "demo-dbpedia.nt (DBpedia N-Triples)"};
    for (int i = 0; i < 2; i++) {
        pe_import_options io = pe_import_options_default();
        pe_import_result res;
        pe_error err;
        pe_error_clear(&err);
        st = pe_import_file(kg, files[i], &io, &res, &err);
        if (st >= PE_ERR_FIRST) {
            rc = pe_cli_fail(st, "%s", err.msg);
            goto done;
        }
        printf("kg import %s: %s%llu entities, %llu labels, %llu aliases, %llu triples, %llu sameAs, %llu skipped\n",
               names[i], res.resumed == 2 ? "(already imported) " : "", (unsigned long long)res.counts.entities,
               (unsigned long long)res.counts.labels, (unsigned long long)res.counts.aliases,
               (unsigned long long)res.counts.triples, (unsigned long long)res.counts.sameas,
               (unsigned long long)res.counts.skipped);
    }
    st = pe_kg_reader_begin(kg, &r);
    if (st >= PE_ERR_FIRST) {
        rc = pe_cli_fail(st, "%s", pe_kg_errmsg(kg));
        goto done;
    }
    pe_kg_stats s;
    if (pe_kg_stats_get(r, &s) == PE_OK)
        printf("kg stats: %llu terms, %llu entities, %llu triples, %llu alias keys, %llu sources\n",
               (unsigned long long)s.terms, (unsigned long long)s.entities, (unsigned long long)s.triples,
               (unsigned long long)s.alias_keys, (unsigned long long)s.sources);
    if (show_lookup(r, "Paris") || show_lookup(r, "the beatles") || show_lookup(r, "Lyons") ||
        show_types(r, "Q90") || show_entity(r, "http://dbpedia.org/resource/Paris")) {
        pe_cli_fail(PE_ERR_CORRUPT, "%s", pe_kg_reader_errmsg(r));
        goto done;
    }
    rc = demo_enrich(kg, r, work, ps_dir, model ? model : pe_cli_default_model());
done:
    pe_kg_reader_end(r);
    pe_kg_close(kg);
    pe_cli_remove_tree(work); /* the demo files, and the store unless --db */
    return rc;
}
