/* persona demo: the main job on embedded defaults. Imports the demo graph
 * shipped inside the binary (data/demo: Wikidata JSON + DBpedia N-Triples)
 * into a store and shows what the store answers: ranked lookups, types
 * through the subclass closure, and an entity merged from both sources. */
#include "cli.h"
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

static void demo_usage(FILE *f)
{
    fprintf(f,
            "usage: persona demo [--db DIR]\n"
            "\n"
            "Imports the demo knowledge graph embedded in persona (a Wikidata JSON slice and\n"
            "DBpedia N-Triples linked to it by owl:sameAs) and shows lookups, types and a merged\n"
            "entity. Without --db the store lives in a temporary directory removed at the end.\n"
            "\n"
            "  --db DIR   keep the store in DIR\n");
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

int pe_cmd_demo(int argc, char **argv)
{
    const char *db = NULL;
    const pe_cli_opt opts[] = {{"--db", PE_CLI_STRING, &db}, {0}};
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
    printf("persona demo: graph store %s\n", db);
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
    rc = PE_EXIT_OK;
done:
    pe_kg_reader_end(r);
    pe_kg_close(kg);
    pe_cli_remove_tree(work); /* the demo files, and the store unless --db */
    return rc;
}
