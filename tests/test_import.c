/* test_import.c - pe_import_file into a real store: counts, what lands in the
 * store, re-import, language filter, bad input (skipped, strict), truncated
 * and missing files, RDF with sameAs merges, in-process resume. */
#include "pe_import.h"
#include "pe_kg.h"
#include "pe_test.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static char tmpdir[256];
static int store_no;

static const char *fixture(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    const char *dir = getenv("PE_FIXTURES");
    snprintf(buf[k], sizeof buf[k], "%s/importers/%s", dir ? dir : PE_FIXTURES, name);
    return buf[k];
}

static const char *tmp_path(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

static pe_kg *new_store(void)
{
    char dir[600];
    snprintf(dir, sizeof dir, "%s/kg%d", tmpdir, store_no++);
    pe_kg_options o = pe_kg_options_default();
    o.map_size = (size_t)256 << 20;
    pe_kg *kg = NULL;
    pe_error err;
    pe_status st = pe_kg_open(dir, &o, &kg, &err);
    /* a store that cannot be made fails the test (the callers then return) */
    PE_CHECK_MSG(st == PE_OK, "cannot open store %s: %s", dir, err.msg);
    return kg;
}

static pe_kg_id resolve(pe_kg *kg, const char *term)
{
    pe_kg_reader *r;
    pe_kg_id id = 0;
    if (pe_kg_reader_begin(kg, &r) != PE_OK) return 0;
    if (pe_kg_resolve(r, term, strlen(term), &id) != PE_OK) id = 0;
    pe_kg_reader_end(r);
    return id;
}

static int has_text(pe_kg *kg, const char *term, pe_kg_text_kind kind, const char *lang, const char *text)
{
    pe_kg_reader *r;
    int found = 0;
    pe_kg_id id;
    if (pe_kg_reader_begin(kg, &r) != PE_OK) return 0;
    pe_kg_entity *e = NULL;
    if (pe_kg_resolve(r, term, strlen(term), &id) == PE_OK && pe_kg_entity_get(r, id, &e) == PE_OK) {
        for (size_t i = 0; i < e->n_texts; i++)
            if (e->texts[i].kind == kind && strcmp(e->texts[i].lang, lang) == 0 && strcmp(e->texts[i].text, text) == 0)
                found = 1;
    }
    pe_kg_entity_free(e);
    pe_kg_reader_end(r);
    return found;
}

/* Rank of (s, p, o) with entity object, -1 when absent. */
static int triple_rank(pe_kg *kg, const char *s, const char *p, const char *o)
{
    pe_kg_reader *r;
    int rank = -1;
    if (pe_kg_reader_begin(kg, &r) != PE_OK) return -1;
    pe_kg_id si, pi, oi;
    pe_kg_iter *it;
    if (pe_kg_resolve(r, s, strlen(s), &si) == PE_OK && pe_kg_resolve(r, p, strlen(p), &pi) == PE_OK &&
        pe_kg_resolve(r, o, strlen(o), &oi) == PE_OK && pe_kg_match(r, si, pi, oi, &it) == PE_OK) {
        pe_kg_triple t;
        if (pe_kg_iter_next(it, &t) == PE_OK) rank = (int)t.rank;
        pe_kg_iter_free(it);
    }
    pe_kg_reader_end(r);
    return rank;
}

static int source_status(pe_kg *kg, uint32_t id, pe_kg_source *out)
{
    pe_kg_reader *r;
    if (pe_kg_reader_begin(kg, &r) != PE_OK) return -1;
    pe_kg_source s;
    int st = -1;
    if (pe_kg_source_get(r, id, &s) == PE_OK) {
        st = (int)s.status;
        if (out) { *out = s; out->path = out->format = out->sha256 = out->dump_date = out->langs = NULL; }
    }
    pe_kg_reader_end(r);
    return st;
}

static void test_entities(void)
{
    pe_kg *kg = new_store();
    if (!kg) { PE_CHECK(kg); return; }
    pe_import_options o = pe_import_options_default();
    pe_import_result res;
    pe_error err;
    pe_status st = pe_import_file(kg, fixture("entities.json"), &o, &res, &err);
    PE_CHECK_MSG(st == PE_OK, "%s", err.msg);
    PE_CHECK_EQ_INT(res.resumed, 0);
    PE_CHECK(res.source_id >= 1);
    PE_CHECK_EQ_INT(res.counts.entities, 4);
    PE_CHECK_EQ_INT(res.counts.labels, 6);
    PE_CHECK_EQ_INT(res.counts.aliases, 3);
    PE_CHECK_EQ_INT(res.counts.descriptions, 2);
    PE_CHECK_EQ_INT(res.counts.triples, 19);
    PE_CHECK_EQ_INT(res.counts.skipped, 0);
    PE_CHECK_EQ_INT(res.counts.dropped, 3);
    PE_CHECK_EQ_INT(res.counts.lines, 6);
    PE_CHECK_EQ_STR(res.first_error, "");
    PE_CHECK(has_text(kg, "Q42", PE_KG_LABEL, "fr", "Douglas Adams"));
    PE_CHECK(has_text(kg, "Q42", PE_KG_ALIAS, "en", "DNA"));
    PE_CHECK(has_text(kg, "L7", PE_KG_LABEL, "en", "cat"));
    PE_CHECK_EQ_INT(triple_rank(kg, "Q42", "P31", "Q5"), PE_KG_RANK_PREFERRED);
    PE_CHECK_EQ_INT(triple_rank(kg, "Q42", "P27", "Q145"), PE_KG_RANK_NORMAL);
    PE_CHECK_EQ_INT(triple_rank(kg, "Q42", "P27", "Q174193"), -1); /* deprecated: dropped */
    pe_kg_source src;
    PE_CHECK_EQ_INT(source_status(kg, res.source_id, &src), PE_KG_SOURCE_DONE);
    PE_CHECK_EQ_INT(src.counts.triples, 19);

    /* lookup through the alias index */
    pe_kg_reader *r;
    if (pe_kg_reader_begin(kg, &r) == PE_OK) {
        pe_kg_candidate c[4];
        size_t n = 0;
        PE_CHECK_EQ_INT(pe_kg_lookup(r, "douglas adams", 13, NULL, c, 4, &n), PE_OK);
        PE_CHECK(n >= 1 && c[0].id == resolve(kg, "Q42"));
        pe_kg_reader_end(r);
    }

    /* the same file again: already imported, nothing written */
    pe_import_result again;
    PE_CHECK_EQ_INT(pe_import_file(kg, fixture("entities.json"), &o, &again, &err), PE_OK);
    PE_CHECK_EQ_INT(again.resumed, 2);
    PE_CHECK_EQ_INT(again.source_id, res.source_id);
    PE_CHECK_EQ_INT(again.counts.triples, 19);
    pe_kg_close(kg);

    /* language filter */
    kg = new_store();
    if (!kg) return;
    o.langs = "en";
    PE_CHECK_EQ_INT(pe_import_file(kg, fixture("entities.json"), &o, &res, &err), PE_OK);
    PE_CHECK_EQ_INT(res.counts.labels, 4);
    PE_CHECK_EQ_INT(res.counts.descriptions, 1);
    PE_CHECK_EQ_INT(res.counts.dropped, 6);
    PE_CHECK(!has_text(kg, "Q42", PE_KG_LABEL, "fr", "Douglas Adams"));
    PE_CHECK(has_text(kg, "Q42", PE_KG_LABEL, "en", "Douglas Adams"));
    pe_kg_close(kg);
}

static void test_bad_records(void)
{
    pe_kg *kg = new_store();
    if (!kg) { PE_CHECK(kg); return; }
    pe_import_options o = pe_import_options_default();
    pe_import_result res;
    pe_error err;
    PE_CHECK_EQ_INT(pe_import_file(kg, fixture("bad.json"), &o, &res, &err), PE_OK);
    PE_CHECK_EQ_INT(res.counts.entities, 2);
    PE_CHECK_EQ_INT(res.counts.skipped, 6);
    PE_CHECK_MSG(strstr(res.first_error, "bad.json:3: malformed JSON"), "%s", res.first_error);
    PE_CHECK(resolve(kg, "Q8") != 0);
    PE_CHECK(!has_text(kg, "Q7", PE_KG_LABEL, "en", "bad \xff byte"));
    pe_kg_source src;
    PE_CHECK_EQ_INT(source_status(kg, res.source_id, &src), PE_KG_SOURCE_DONE);
    PE_CHECK_EQ_INT(src.counts.skipped, 6);
    PE_CHECK_MSG(strstr(src.last_error, "bad.json:3:"), "%s", src.last_error);
    pe_kg_close(kg);

    /* strict: the first bad record (line 3) fails the import; with one record
     * a batch, line 2 (Q1) was committed before and stays */
    kg = new_store();
    if (!kg) return;
    o.strict = 1;
    o.batch_records = 1;
    pe_status st = pe_import_file(kg, fixture("bad.json"), &o, &res, &err);
    PE_CHECK_EQ_INT(st, PE_ERR_PARSE);
    PE_CHECK_MSG(strstr(err.msg, "bad.json:3: malformed JSON"), "%s", err.msg);
    PE_CHECK(has_text(kg, "Q1", PE_KG_LABEL, "en", "Universe"));
    PE_CHECK(resolve(kg, "Q8") == 0);
    PE_CHECK_EQ_INT(res.counts.entities, 1);
    PE_CHECK_EQ_INT(source_status(kg, res.source_id, NULL), PE_KG_SOURCE_FAILED);
    pe_kg_close(kg);

    /* strict with big batches: the batch holding Q1 is rolled back */
    kg = new_store();
    if (!kg) return;
    o.batch_records = 1000;
    PE_CHECK_EQ_INT(pe_import_file(kg, fixture("bad.json"), &o, &res, &err), PE_ERR_PARSE);
    PE_CHECK(!has_text(kg, "Q1", PE_KG_LABEL, "en", "Universe"));
    pe_kg_close(kg);
}

static void test_files(void)
{
    pe_kg *kg = new_store();
    if (!kg) { PE_CHECK(kg); return; }
    pe_import_options o = pe_import_options_default();
    pe_import_result res;
    pe_error err;
    /* missing file */
    PE_CHECK_EQ_INT(pe_import_file(kg, tmp_path("missing.json.gz"), &o, &res, &err), PE_ERR_IO);
    PE_CHECK_MSG(strstr(err.msg, "missing.json.gz") != NULL, "%s", err.msg);

    /* truncated gzip: error with the file and offset; the lines before it are kept */
    char data[200000];
    size_t len = 0;
    len += (size_t)snprintf(data + len, sizeof data - len, "[\n");
    for (int i = 1; len < sizeof data - 300; i++)
        len += (size_t)snprintf(data + len, sizeof data - len,
                                "{\"type\":\"item\",\"id\":\"Q%d\",\"labels\":{\"en\":{\"language\":\"en\",\"value\":"
                                "\"item number %d\"}},\"claims\":{}},\n",
                                i, i);
    static unsigned char gz[200000];
    z_stream z;
    memset(&z, 0, sizeof z);
    deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    z.next_in = (Bytef *)data;
    z.avail_in = (uInt)len;
    z.next_out = gz;
    z.avail_out = sizeof gz;
    deflate(&z, Z_FINISH);
    size_t gzlen = sizeof gz - z.avail_out;
    deflateEnd(&z);
    FILE *f = fopen(tmp_path("trunc.json.gz"), "wb");
    fwrite(gz, 1, gzlen * 2 / 3, f);
    fclose(f);
    o.batch_records = 100;
    pe_status st = pe_import_file(kg, tmp_path("trunc.json.gz"), &o, &res, &err);
    PE_CHECK_EQ_INT(st, PE_ERR_IO);
    PE_CHECK_MSG(strstr(err.msg, "trunc.json.gz: truncated gzip stream") && strstr(err.msg, "byte offset"), "%s",
                 err.msg);
    PE_CHECK(res.counts.entities > 100);
    PE_CHECK(resolve(kg, "Q100") != 0);
    PE_CHECK_EQ_INT(source_status(kg, res.source_id, NULL), PE_KG_SOURCE_FAILED);

    /* huge line: skipped (PE_ERR_LIMIT), the import goes on */
    f = fopen(tmp_path("huge.json"), "wb");
    fprintf(f, "[\n{\"type\":\"item\",\"id\":\"Q1\",\"labels\":{\"en\":{\"language\":\"en\",\"value\":\"%0*d\"}}},\n",
            5000, 7);
    fprintf(f, "{\"type\":\"item\",\"id\":\"Q2\",\"labels\":{}}\n]\n");
    fclose(f);
    o = pe_import_options_default();
    o.max_line = 1000;
    PE_CHECK_EQ_INT(pe_import_file(kg, tmp_path("huge.json"), &o, &res, &err), PE_OK);
    PE_CHECK_EQ_INT(res.counts.skipped, 1);
    PE_CHECK_EQ_INT(res.counts.entities, 1);
    PE_CHECK_MSG(strstr(res.first_error, "huge.json:2: line longer than the limit of 1000 bytes"), "%s",
                 res.first_error);
    o.strict = 1;
    PE_CHECK_EQ_INT(pe_import_file(kg, tmp_path("huge.json"), &o, &res, &err), PE_OK); /* already done */
    pe_kg_close(kg);
    kg = new_store();
    if (!kg) return;
    PE_CHECK_EQ_INT(pe_import_file(kg, tmp_path("huge.json"), &o, &res, &err), PE_ERR_LIMIT);
    pe_kg_close(kg);
}

static void test_rdf(void)
{
    pe_kg *kg = new_store();
    if (!kg) { PE_CHECK(kg); return; }
    pe_import_options o = pe_import_options_default();
    pe_import_result res;
    pe_error err;
    PE_CHECK_EQ_INT(pe_import_file(kg, fixture("entities.json"), &o, &res, &err), PE_OK);
    PE_CHECK_EQ_INT(pe_import_file(kg, fixture("sample.nt"), &o, &res, &err), PE_OK);
    PE_CHECK_EQ_INT(res.counts.skipped, 1);
    PE_CHECK_MSG(strstr(res.first_error, "sample.nt:10:"), "%s", res.first_error);
    PE_CHECK_EQ_INT(res.counts.sameas, 1);
    PE_CHECK_EQ_INT(res.counts.lines, 14);
    /* dbr:Paris is merged into Q90: its label and type are found on Q90 */
    pe_kg_id q90 = resolve(kg, "Q90");
    PE_CHECK(q90 != 0 && resolve(kg, "http://dbpedia.org/resource/Paris") == q90);
    PE_CHECK(has_text(kg, "Q90", PE_KG_LABEL, "it", "Parigi"));
    PE_CHECK(has_text(kg, "Q90", PE_KG_ALIAS, "en", "City of Light")); /* from the redirect */
    PE_CHECK(triple_rank(kg, "Q90", "http://www.w3.org/1999/02/22-rdf-syntax-ns#type",
                         "http://dbpedia.org/ontology/City") == PE_KG_RANK_NORMAL);
    /* strict: the bad line 10 fails the import (its batch rolled back) */
    pe_kg *kg2 = new_store();
    if (kg2) {
        o.strict = 1;
        PE_CHECK_EQ_INT(pe_import_file(kg2, fixture("sample.nt"), &o, &res, &err), PE_ERR_PARSE);
        PE_CHECK_MSG(strstr(err.msg, "sample.nt:10:"), "%s", err.msg);
        PE_CHECK(resolve(kg2, "http://dbpedia.org/resource/Paris") == 0);
        o.strict = 0;
        pe_kg_close(kg2);
    }
    PE_CHECK_EQ_INT(pe_import_file(kg, fixture("sample.ttl"), &o, &res, &err), PE_OK);
    /* lines are the file's lines (issue 7: they were the statement count);
     * statements, the resume position, are counted apart */
    PE_CHECK_EQ_INT(res.counts.lines, 9);
    PE_CHECK_EQ_INT(res.counts.statements, 5);
    PE_CHECK(has_text(kg, "http://dbpedia.org/resource/Berlin", PE_KG_ALIAS, "de", "Spree-Athen"));
    PE_CHECK(triple_rank(kg, "Q64", "P31", "Q515") == PE_KG_RANK_NORMAL); /* Wikidata IRIs canonicalised */
    PE_CHECK_EQ_INT(pe_import_file(kg, fixture("sample.rdf"), &o, &res, &err), PE_OK);
    PE_CHECK_EQ_INT(res.counts.lines, 8);
    PE_CHECK(has_text(kg, "http://dbpedia.org/resource/Rome", PE_KG_LABEL, "en", "Rome"));
    /* a Turtle syntax error: statements before it committed, the import fails with FILE:LINE */
    FILE *f = fopen(tmp_path("bad.ttl"), "w");
    fprintf(f, "@prefix a: <http://a.example/> .\na:x a:y a:z .\na:x a:y \"unterminated .\na:q a:r a:s .\n");
    fclose(f);
    PE_CHECK_EQ_INT(pe_import_file(kg, tmp_path("bad.ttl"), &o, &res, &err), PE_ERR_PARSE);
    PE_CHECK_MSG(strstr(err.msg, "bad.ttl:3"), "%s", err.msg);
    PE_CHECK(triple_rank(kg, "http://a.example/x", "http://a.example/y", "http://a.example/z") == PE_KG_RANK_NORMAL);
    /* an RDF/XML error names its line (raptor keeps none for RDF/XML) */
    f = fopen(tmp_path("bad.rdf"), "w");
    fprintf(f, "<?xml version=\"1.0\"?>\n<rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\"\n"
               "  xmlns:rdfs=\"http://www.w3.org/2000/01/rdf-schema#\">\n"
               "  <rdf:Description rdf:about=\"http://a.example/r1\"><rdfs:label>R1</rdfs:label></rdf:Description>\n"
               "  <rdf:Description rdf:about=\"http://a.example/r2\">\n"
               "    <rdfs:label>R2</rdfs:labelx>\n  </rdf:Description>\n</rdf:RDF>\n");
    fclose(f);
    PE_CHECK_EQ_INT(pe_import_file(kg, tmp_path("bad.rdf"), &o, &res, &err), PE_ERR_PARSE);
    PE_CHECK_MSG(strstr(err.msg, "bad.rdf:6:"), "%s", err.msg);
    /* raptor's message for an illegal escape prints a pointer as a string:
     * not shown; what is stored and printed is valid UTF-8 */
    f = fopen(tmp_path("esc.nt"), "w");
    fprintf(f, "<http://a.example/e> <http://a.example/p> \"bad \\q\" .\n"
               "<http://a.example/e> <http://www.w3.org/2000/01/rdf-schema#label> \"E\" .\n");
    fclose(f);
    PE_CHECK_EQ_INT(pe_import_file(kg, tmp_path("esc.nt"), &o, &res, &err), PE_OK);
    PE_CHECK_EQ_INT(res.counts.skipped, 1);
    PE_CHECK_MSG(strstr(res.first_error, "esc.nt:1:") && strstr(res.first_error, "Illegal string escape \\q") &&
                 !strstr(res.first_error, " in \"") && pe_utf8_valid(res.first_error, strlen(res.first_error), NULL),
                 "%s", res.first_error);
    pe_kg_source src;
    PE_CHECK_EQ_INT(source_status(kg, res.source_id, &src), PE_KG_SOURCE_DONE);
    PE_CHECK(!strcmp(src.last_error, res.first_error));
    pe_kg_close(kg);
}

/* Which files the importers take first (owl:sameAs-only N-Triples). */
static void test_sameas_file(void)
{
    const char *same = tmp_path("links.nt"), *mixed = tmp_path("mixed.nt"), *json = tmp_path("links.json");
    FILE *f = fopen(same, "w");
    fprintf(f, "# DBpedia links\n\n<http://dbpedia.org/resource/A> <http://www.w3.org/2002/07/owl#sameAs> "
               "<http://www.wikidata.org/entity/Q1> .\n"
               "_:b1\t<http://www.w3.org/2002/07/owl#sameAs> <http://www.wikidata.org/entity/Q2> .\n");
    fclose(f);
    f = fopen(mixed, "w");
    fprintf(f, "<http://dbpedia.org/resource/A> <http://www.w3.org/2002/07/owl#sameAs> "
               "<http://www.wikidata.org/entity/Q1> .\n"
               "<http://dbpedia.org/resource/A> <http://www.w3.org/2000/01/rdf-schema#label> \"A\"@en .\n");
    fclose(f);
    f = fopen(json, "w");
    fprintf(f, "{\"id\":\"Q1\",\"labels\":{}}\n");
    fclose(f);
    PE_CHECK_EQ_INT(pe_import_is_sameas_file(same), 1);
    PE_CHECK_EQ_INT(pe_import_is_sameas_file(mixed), 0);
    PE_CHECK_EQ_INT(pe_import_is_sameas_file(json), 0);
    PE_CHECK_EQ_INT(pe_import_is_sameas_file(fixture("sample.nt")), 0);
    PE_CHECK_EQ_INT(pe_import_is_sameas_file(tmp_path("missing.nt")), 0);
    PE_CHECK_EQ_INT(pe_import_is_sameas_file("-"), 0);
    PE_CHECK_EQ_INT(pe_import_is_sameas_file(NULL), 0);
    /* compressed like DBpedia's files */
    gzFile gz = gzopen(tmp_path("links.nt.gz"), "wb");
    if (gz) {
        gzprintf(gz, "<http://dbpedia.org/resource/A> <http://www.w3.org/2002/07/owl#sameAs> "
                     "<http://www.wikidata.org/entity/Q1> .\n");
        gzclose(gz);
    }
    PE_CHECK_EQ_INT(pe_import_is_sameas_file(tmp_path("links.nt.gz")), 1);
    /* an empty file holds no links */
    f = fopen(tmp_path("empty.nt"), "w");
    fclose(f);
    PE_CHECK_EQ_INT(pe_import_is_sameas_file(tmp_path("empty.nt")), 0);
}

static void test_stdin_and_detection(void)
{
    pe_kg *kg = new_store();
    if (!kg) { PE_CHECK(kg); return; }
    pe_import_options o = pe_import_options_default();
    pe_import_result res;
    pe_error err;
    /* standard input: format from the content */
    int saved = dup(0);
    PE_CHECK(freopen(fixture("entities.json"), "r", stdin) != NULL);
    PE_CHECK_EQ_INT(pe_import_file(kg, "-", &o, &res, &err), PE_OK);
    dup2(saved, 0);
    close(saved);
    PE_CHECK_EQ_INT(res.counts.entities, 4);
    PE_CHECK_EQ_INT(res.counts.triples, 19);
    /* a .ttl file holding N-Triples is read as N-Triples */
    FILE *f = fopen(tmp_path("nt-inside.ttl"), "w");
    fprintf(f, "# comment\n<http://a.example/s> <http://a.example/p> \"x\"@en .\n"
               "<http://a.example/s> <http://a.example/q> <http://a.example/o> .\n");
    fclose(f);
    PE_CHECK_EQ_INT(pe_import_file(kg, tmp_path("nt-inside.ttl"), &o, &res, &err), PE_OK);
    PE_CHECK_EQ_INT(res.counts.triples, 2);
    pe_kg_reader *r;
    if (pe_kg_reader_begin(kg, &r) == PE_OK) {
        pe_kg_source src;
        PE_CHECK(pe_kg_source_get(r, res.source_id, &src) == PE_OK && strcmp(src.format, "ntriples") == 0);
        pe_kg_reader_end(r);
    }
    /* an explicit format wins; unknown content is refused */
    f = fopen(tmp_path("noext"), "w");
    fprintf(f, "hello\n");
    fclose(f);
    PE_CHECK_EQ_INT(pe_import_file(kg, tmp_path("noext"), &o, &res, &err), PE_ERR_UNSUPPORTED);
    PE_CHECK_MSG(strstr(err.msg, "noext: cannot tell the format"), "%s", err.msg);
    o.format = PE_IMPORT_NTRIPLES;
    PE_CHECK_EQ_INT(pe_import_file(kg, tmp_path("noext"), &o, &res, &err), PE_OK);
    PE_CHECK_EQ_INT(res.counts.skipped, 1);
    PE_CHECK_MSG(strstr(res.first_error, "noext:1:"), "%s", res.first_error);
    /* options */
    o = pe_import_options_default();
    o.batch_records = 0;
    PE_CHECK_EQ_INT(pe_import_file(kg, fixture("entities.json"), &o, &res, &err), PE_ERR_INVALID);
    o = pe_import_options_default();
    o.langs = "en,,fr";
    PE_CHECK_EQ_INT(pe_import_file(kg, fixture("entities.json"), &o, &res, &err), PE_ERR_INVALID);
    pe_kg_close(kg);
}

/* Writes `n` bytes to tmp_path(name) and imports it into kg. */
static pe_status import_bytes(pe_kg *kg, const char *name, const void *data, size_t n, pe_import_result *res,
                              pe_error *err)
{
    FILE *f = fopen(tmp_path(name), "wb");
    if (!f) return PE_ERR_IO;
    fwrite(data, 1, n, f);
    fclose(f);
    pe_import_options o = pe_import_options_default();
    return pe_import_file(kg, tmp_path(name), &o, res, err);
}

#define IMPORT_STR(kg, name, text, res, err) import_bytes(kg, name, text, sizeof text - 1, res, err)

/* Issue 7: never a silent cut at a NUL, never a quantity stored as null. */
static void test_nul_and_out_of_range(void)
{
    pe_kg *kg = new_store();
    if (!kg) { PE_CHECK(kg); return; }
    pe_import_result res;
    pe_error err;
    /* "\u0000" in a label (valid JSON) and a raw NUL byte: refused and counted */
    static const char esc[] =
        "{\"type\":\"item\",\"id\":\"Q1\",\"labels\":{\"en\":{\"language\":\"en\",\"value\":\"Esc\\u0000aped\"}}}\n"
        "{\"type\":\"item\",\"id\":\"Q2\",\"labels\":{\"en\":{\"language\":\"en\",\"value\":\"Raw\0byte\"}}}\n"
        "{\"type\":\"item\",\"id\":\"Q3\",\"labels\":{\"en\":{\"language\":\"en\",\"value\":\"not \\\\u0000 a NUL\"}}}\n";
    PE_CHECK_EQ_INT(IMPORT_STR(kg, "nul.json", esc, &res, &err), PE_OK);
    PE_CHECK_EQ_INT(res.counts.skipped, 2);
    PE_CHECK_EQ_INT(res.counts.entities, 1);
    PE_CHECK_MSG(strstr(res.first_error, "nul.json:1: entity Q1: a string holds a NUL character"), "%s",
                 res.first_error);
    PE_CHECK(resolve(kg, "Q1") == 0 && resolve(kg, "Q2") == 0);
    PE_CHECK(has_text(kg, "Q3", PE_KG_LABEL, "en", "not \\u0000 a NUL")); /* an escaped backslash: no NUL */
    /* N-Triples "\u0000" in a literal */
    static const char nt[] = "<http://a.example/n> <http://www.w3.org/2000/01/rdf-schema#label> \"Esc\\u0000aped\" .\n"
                             "<http://a.example/m> <http://www.w3.org/2000/01/rdf-schema#label> \"fine\" .\n";
    PE_CHECK_EQ_INT(IMPORT_STR(kg, "nul.nt", nt, &res, &err), PE_OK);
    PE_CHECK_EQ_INT(res.counts.skipped, 1);
    PE_CHECK_EQ_INT(res.counts.labels, 1);
    PE_CHECK_MSG(strstr(res.first_error, "nul.nt:1:") && strstr(res.first_error, "NUL"), "%s", res.first_error);
    PE_CHECK(!has_text(kg, "http://a.example/n", PE_KG_LABEL, "", "Esc"));
    static const char ntraw[] = "<http://a.example/r> <http://www.w3.org/2000/01/rdf-schema#label> \"Raw\0byte\" .\n";
    PE_CHECK_EQ_INT(IMPORT_STR(kg, "raw.nt", ntraw, &res, &err), PE_OK);
    PE_CHECK_EQ_INT(res.counts.skipped, 1);
    PE_CHECK(resolve(kg, "http://a.example/r") == 0);
    /* Turtle: a syntax-level stop at the line of the NUL, the statements before it kept */
    static const char ttl[] = "@prefix r: <http://www.w3.org/2000/01/rdf-schema#> .\n"
                              "<http://a.example/t1> r:label \"one\" .\n"
                              "<http://a.example/t2> r:label \"Esc\\u0000aped\" .\n";
    PE_CHECK_EQ_INT(IMPORT_STR(kg, "nul.ttl", ttl, &res, &err), PE_ERR_PARSE);
    PE_CHECK_MSG(strstr(err.msg, "nul.ttl:3: a NUL character"), "%s", err.msg);
    PE_CHECK(has_text(kg, "http://a.example/t1", PE_KG_LABEL, "", "one"));
    PE_CHECK(resolve(kg, "http://a.example/t2") == 0);
    /* the store itself refuses a text with a NUL */
    pe_kg_writer *w;
    PE_CHECK(pe_kg_writer_begin(kg, &w) == PE_OK);
    pe_kg_id q;
    PE_CHECK(pe_kg_intern(w, "Q9", 2, &q) == PE_OK);
    PE_CHECK_EQ_INT(pe_kg_put_text(w, q, PE_KG_LABEL, "en", "Esc\0aped", 8, 1), PE_ERR_INVALID);
    pe_kg_writer_abort(w);

    /* a quantity beyond a double: refused with its text, not stored as null */
    static const char big[] =
        "{\"type\":\"item\",\"id\":\"Q5\",\"claims\":{\"P1082\":[{\"mainsnak\":{\"snaktype\":\"value\",\"property\":"
        "\"P1082\",\"datatype\":\"quantity\",\"datavalue\":{\"type\":\"quantity\",\"value\":{\"amount\":\"+1e999999\","
        "\"unit\":\"1\"}}},\"rank\":\"normal\"}]}}\n"
        "{\"type\":\"item\",\"id\":\"Q6\",\"claims\":{\"P625\":[{\"mainsnak\":{\"snaktype\":\"value\",\"property\":"
        "\"P625\",\"datatype\":\"globe-coordinate\",\"datavalue\":{\"type\":\"globecoordinate\",\"value\":"
        "{\"latitude\":1e400,\"longitude\":2}}},\"rank\":\"normal\"}]}}\n";
    PE_CHECK_EQ_INT(IMPORT_STR(kg, "big.json", big, &res, &err), PE_OK);
    PE_CHECK_EQ_INT(res.counts.skipped, 2);
    PE_CHECK_MSG(strstr(res.first_error, "quantity amount '+1e999999' is out of the range of a double"), "%s",
                 res.first_error);
    PE_CHECK(resolve(kg, "Q5") == 0 && resolve(kg, "Q6") == 0);
    pe_kg_close(kg);
}

static char g_warned[4096];
static void capture_warn(pe_log_level level, const char *msg, void *user)
{
    (void)user;
    if (level >= PE_LOG_WARN) snprintf(g_warned + strlen(g_warned), sizeof g_warned - strlen(g_warned), "%s\n", msg);
}

/* gzip of data, level 6, into out (at most cap); its length. */
static size_t gzip_mem(const char *data, size_t len, unsigned char *out, size_t cap)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    z.next_in = (Bytef *)data;
    z.avail_in = (uInt)len;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    deflate(&z, Z_FINISH);
    size_t n = cap - z.avail_out;
    deflateEnd(&z);
    return n;
}

/* Issue 7: a dump cut short is never taken for a complete one. */
static void test_cut_dumps(void)
{
    pe_kg *kg = new_store();
    if (!kg) { PE_CHECK(kg); return; }
    pe_import_result res;
    pe_error err;
    pe_kg_source src;
    /* a JSON array cut at a line boundary: no "]" */
    static const char cut[] = "[\n{\"type\":\"item\",\"id\":\"Q1\",\"labels\":{}},\n"
                              "{\"type\":\"item\",\"id\":\"Q2\",\"labels\":{}},\n";
    PE_CHECK_EQ_INT(IMPORT_STR(kg, "cut.json", cut, &res, &err), PE_ERR_IO);
    PE_CHECK_MSG(strstr(err.msg, "cut.json:3: truncated JSON array"), "%s", err.msg);
    PE_CHECK(resolve(kg, "Q1") != 0 && resolve(kg, "Q2") != 0); /* the records read are kept */
    PE_CHECK_EQ_INT(source_status(kg, res.source_id, &src), PE_KG_SOURCE_FAILED);
    PE_CHECK_MSG(strstr(src.last_error, "truncated JSON array"), "%s", src.last_error);
    /* the same array closed: fine; NDJSON without brackets: fine */
    static const char whole[] = "[\n{\"type\":\"item\",\"id\":\"Q3\",\"labels\":{}},\n"
                                "{\"type\":\"item\",\"id\":\"Q4\",\"labels\":{}}\n]\n";
    PE_CHECK_EQ_INT(IMPORT_STR(kg, "whole.json", whole, &res, &err), PE_OK);
    static const char nd[] = "{\"type\":\"item\",\"id\":\"Q5\",\"labels\":{}}\n";
    PE_CHECK_EQ_INT(IMPORT_STR(kg, "nd.json", nd, &res, &err), PE_OK);

    /* a small truncated .gz: registered and FAILED with its complete lines,
     * as a large one is (before, nothing was imported and no source kept) */
    char data[4096];
    size_t len = (size_t)snprintf(data, sizeof data, "[\n");
    for (int i = 10; i < 40; i++)
        len += (size_t)snprintf(data + len, sizeof data - len,
                                "{\"type\":\"item\",\"id\":\"Q%d\",\"labels\":{\"en\":{\"language\":\"en\","
                                "\"value\":\"label %d\"}}},\n", i, i);
    len += (size_t)snprintf(data + len, sizeof data - len, "]\n");
    unsigned char gz[8192];
    size_t gzlen = gzip_mem(data, len, gz, sizeof gz);
    PE_CHECK_EQ_INT(import_bytes(kg, "small-cut.json.gz", gz, gzlen - 20, &res, &err), PE_ERR_IO);
    PE_CHECK_MSG(strstr(err.msg, "truncated gzip stream"), "%s", err.msg);
    PE_CHECK(res.source_id != 0);
    PE_CHECK_EQ_INT(source_status(kg, res.source_id, &src), PE_KG_SOURCE_FAILED);
    PE_CHECK(src.counts.entities > 0 && src.counts.entities < 30);
    PE_CHECK(resolve(kg, "Q10") != 0);

    /* gzip with trailing garbage: imported whole, with a warning (gzip -t accepts it) */
    memcpy(gz + gzlen, "GARBAGE\n", 8);
    g_warned[0] = '\0';
    pe_log_set(capture_warn, NULL);
    pe_status st = import_bytes(kg, "garbage.json.gz", gz, gzlen + 8, &res, &err);
    pe_log_set(NULL, NULL);
    PE_CHECK_MSG(st == PE_OK, "%s", err.msg);
    PE_CHECK_EQ_INT(res.counts.entities, 30);
    PE_CHECK_MSG(strstr(g_warned, "garbage.json.gz: 8 bytes of trailing garbage after the last gzip member ignored"),
                 "%s", g_warned);
    pe_kg_close(kg);
}

/* Issue 7: entity expansion in RDF/XML is bounded per literal and per
 * import, with FILE:LINE; ordinary entities (namespace shorthands) work. */
static void test_rdfxml_entities(void)
{
    pe_kg *kg = new_store();
    if (!kg) { PE_CHECK(kg); return; }
    pe_import_result res;
    pe_error err;
    static const char head[] = "<?xml version=\"1.0\"?>\n<!DOCTYPE rdf:RDF [\n"
                               "  <!ENTITY ex \"http://a.example/\">\n  <!ENTITY e \"%s\">\n"
                               "  <!ENTITY e2 \"&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;\">\n]>\n"
                               "<rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\"\n"
                               "         xmlns:rdfs=\"http://www.w3.org/2000/01/rdf-schema#\">\n";
    size_t cap = 4 << 20;
    char *doc = malloc(cap), *ent = malloc(100001);
    memset(ent, 'A', 100000);
    ent[100000] = '\0';
    /* namespace shorthands and small entities: imported */
    size_t n = (size_t)snprintf(doc, cap, head, "small");
    n += (size_t)snprintf(doc + n, cap - n, "  <rdf:Description rdf:about=\"&ex;r1\"><rdfs:label>&e; one</rdfs:label>"
                                            "</rdf:Description>\n</rdf:RDF>\n");
    PE_CHECK_EQ_INT(import_bytes(kg, "ok.rdf", doc, n, &res, &err), PE_OK);
    PE_CHECK(has_text(kg, "http://a.example/r1", PE_KG_LABEL, "", "small one"));
    /* one literal: 20 references of a 100 KB entity (2 MB) */
    n = (size_t)snprintf(doc, cap, head, ent);
    n += (size_t)snprintf(doc + n, cap - n, "  <rdf:Description rdf:about=\"&ex;r2\">\n    <rdfs:label>");
    for (int i = 0; i < 20; i++) n += (size_t)snprintf(doc + n, cap - n, "&e;");
    n += (size_t)snprintf(doc + n, cap - n, "</rdfs:label>\n  </rdf:Description>\n</rdf:RDF>\n");
    PE_CHECK_EQ_INT(import_bytes(kg, "big-literal.rdf", doc, n, &res, &err), PE_ERR_LIMIT);
    PE_CHECK_MSG(strstr(err.msg, "big-literal.rdf:10: entity references expand one literal"), "%s", err.msg);
    PE_CHECK(resolve(kg, "http://a.example/r2") == 0);
    /* an entity of entities counts expanded (1 MB for &e2;) */
    n = (size_t)snprintf(doc, cap, head, ent);
    n += (size_t)snprintf(doc + n, cap - n, "  <rdf:Description rdf:about=\"&ex;r3\">\n    <rdfs:label>&e2;&e;"
                                            "</rdfs:label>\n  </rdf:Description>\n</rdf:RDF>\n");
    PE_CHECK_EQ_INT(import_bytes(kg, "nested.rdf", doc, n, &res, &err), PE_ERR_LIMIT);
    PE_CHECK_MSG(strstr(err.msg, "nested.rdf:10:") && strstr(err.msg, "&e;"), "%s", err.msg);
    /* the import: 700 literals of one 100 KB reference each (70 MB) */
    n = (size_t)snprintf(doc, cap, head, ent);
    for (int i = 0; i < 700; i++)
        n += (size_t)snprintf(doc + n, cap - n, "  <rdf:Description rdf:about=\"&ex;m%d\"><rdfs:comment>&e;"
                                                "</rdfs:comment></rdf:Description>\n", i);
    n += (size_t)snprintf(doc + n, cap - n, "</rdf:RDF>\n");
    PE_CHECK_EQ_INT(import_bytes(kg, "many.rdf", doc, n, &res, &err), PE_ERR_LIMIT);
    PE_CHECK_MSG(strstr(err.msg, "many.rdf:") && strstr(err.msg, "expand the document beyond"), "%s", err.msg);
    free(doc);
    free(ent);
    pe_kg_close(kg);
}

int main(void)
{
    if (!pe_test_tmpdir(tmpdir, sizeof tmpdir, "pe_import")) return 1;
    PE_RUN(test_entities);
    PE_RUN(test_bad_records);
    PE_RUN(test_files);
    PE_RUN(test_rdf);
    PE_RUN(test_stdin_and_detection);
    PE_RUN(test_sameas_file);
    PE_RUN(test_nul_and_out_of_range);
    PE_RUN(test_cut_dumps);
    PE_RUN(test_rdfxml_entities);
    if (pe_test_rm_rf(tmpdir) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    PE_TEST_EXIT();
}
