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
    PE_CHECK_EQ_INT(res.counts.lines, 5);
    PE_CHECK(has_text(kg, "http://dbpedia.org/resource/Berlin", PE_KG_ALIAS, "de", "Spree-Athen"));
    PE_CHECK(triple_rank(kg, "Q64", "P31", "Q515") == PE_KG_RANK_NORMAL); /* Wikidata IRIs canonicalised */
    PE_CHECK_EQ_INT(pe_import_file(kg, fixture("sample.rdf"), &o, &res, &err), PE_OK);
    PE_CHECK(has_text(kg, "http://dbpedia.org/resource/Rome", PE_KG_LABEL, "en", "Rome"));
    /* a Turtle syntax error: statements before it committed, the import fails with FILE:LINE */
    FILE *f = fopen(tmp_path("bad.ttl"), "w");
    fprintf(f, "@prefix a: <http://a.example/> .\na:x a:y a:z .\na:x a:y \"unterminated .\na:q a:r a:s .\n");
    fclose(f);
    PE_CHECK_EQ_INT(pe_import_file(kg, tmp_path("bad.ttl"), &o, &res, &err), PE_ERR_PARSE);
    PE_CHECK_MSG(strstr(err.msg, "bad.ttl:3"), "%s", err.msg);
    PE_CHECK(triple_rank(kg, "http://a.example/x", "http://a.example/y", "http://a.example/z") == PE_KG_RANK_NORMAL);
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

int main(void)
{
    if (!pe_test_tmpdir(tmpdir, sizeof tmpdir, "pe_import")) return 1;
    PE_RUN(test_entities);
    PE_RUN(test_bad_records);
    PE_RUN(test_files);
    PE_RUN(test_rdf);
    PE_RUN(test_stdin_and_detection);
    PE_RUN(test_sameas_file);
    if (pe_test_rm_rf(tmpdir) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    PE_TEST_EXIT();
}
