/* test_import_parse.c - the importers' parsing layers without a store: the
 * decompressing line reader, the Wikidata entity parser and the RDF mapping,
 * each writing to a recording sink. */
#define _GNU_SOURCE
#include "imp_internal.h"
#include "pe_test.h"

#include <bzlib.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static char tmpdir[64];

/* ---- recording sink ---------------------------------------------------------- */

typedef struct rec {
    char *log;
    size_t len, cap;
} rec;

static void recf(rec *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void recf(rec *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (r->len + (size_t)n + 1 > r->cap) {
        r->cap = (r->len + (size_t)n + 1) * 2;
        r->log = realloc(r->log, r->cap);
    }
    va_start(ap, fmt);
    vsnprintf(r->log + r->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    r->len += (size_t)n;
}

static const char *kind_name(pe_kg_entity_kind k)
{
    static const char *n[] = {"unknown", "item", "property", "lexeme", "resource", "literal"};
    return n[k];
}

static pe_status r_entity(void *u, const char *id, size_t len, pe_kg_entity_kind kind, const char *dt)
{
    recf(u, "E %.*s %s %s\n", (int)len, id, kind_name(kind), dt ? dt : "-");
    return PE_OK;
}
static pe_status r_subject(void *u, const char *t, size_t len, int declare)
{
    if (declare) recf(u, "R %.*s\n", (int)len, t);
    else recf(u, "S %.*s\n", (int)len, t);
    return PE_OK;
}
static pe_status r_text(void *u, pe_kg_text_kind kind, const char *lang, const char *text, size_t len)
{
    static const char *k[] = {"label", "alias", "desc"};
    recf(u, "T %s %s %.*s\n", k[kind], *lang ? lang : "-", (int)len, text);
    return PE_OK;
}
static pe_status r_sitelink(void *u, const char *site, const char *title)
{
    recf(u, "L %s %s\n", site, title);
    return PE_OK;
}
static pe_status r_statement(void *u, const char *p, size_t len, const imp_value *o, pe_kg_rank rank)
{
    rec *r = u;
    const pe_kg_value *v = &o->v;
    recf(r, "P %.*s ", (int)len, p);
    switch (v->type) {
    case PE_KG_VAL_ENTITY: recf(r, "entity %.*s", (int)o->term_len, o->term); break;
    case PE_KG_VAL_STRING: recf(r, "string %.*s", (int)v->text_len, v->text); break;
    case PE_KG_VAL_EXTERNAL_ID: recf(r, "extid %.*s", (int)v->text_len, v->text); break;
    case PE_KG_VAL_URL: recf(r, "url %.*s", (int)v->text_len, v->text); break;
    case PE_KG_VAL_MONOTEXT: recf(r, "text %s %.*s", v->lang, (int)v->text_len, v->text); break;
    case PE_KG_VAL_QUANTITY:
        recf(r, "quantity %g [%g,%g] %s", v->amount, v->lower, v->upper, v->unit ? v->unit : "-");
        break;
    case PE_KG_VAL_TIME:
        recf(r, "time %.*s p%d %s", (int)v->text_len, v->text, v->precision, v->calendar ? v->calendar : "-");
        break;
    case PE_KG_VAL_COORD:
        recf(r, "coord %g %g %g %s", v->lat, v->lon, v->coord_precision, v->globe ? v->globe : "-");
        break;
    case PE_KG_VAL_TYPED: recf(r, "typed %.*s %s", (int)v->text_len, v->text, v->datatype); break;
    }
    recf(r, "%s\n", rank == PE_KG_RANK_PREFERRED ? " preferred" : "");
    return PE_OK;
}
static pe_status r_sameas(void *u, const char *o, size_t len)
{
    recf(u, "= %.*s\n", (int)len, o);
    return PE_OK;
}

static imp_sink rec_sink(rec *r)
{
    imp_sink s = {r, r_entity, r_subject, r_text, r_sitelink, r_statement, r_sameas};
    return s;
}

static char *fixture(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    const char *dir = getenv("PE_FIXTURES");
    snprintf(buf[k], sizeof buf[k], "%s/importers/%s", dir ? dir : PE_FIXTURES, name);
    return buf[k];
}

static char *tmp_path(const char *name)
{
    static char buf[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    fwrite(data, 1, len, f);
    fclose(f);
}

/* Runs every line of a JSON file through the entity parser. */
static int parse_json_file(const char *path, const char *langs, rec *r, uint64_t *dropped, int *bad, char errs[][PE_ERRMSG_MAX],
                           int max_errs)
{
    imp_input *in;
    pe_error err;
    imp_langs l;
    imp_langs_parse(langs, &l, &err);
    if (imp_input_open(path, 1 << 20, &in, &err) != PE_OK) return -1;
    imp_wd *wd;
    imp_wd_new(&l, &wd);
    imp_sink s = rec_sink(r);
    const char *line;
    size_t len;
    int ents = 0;
    *bad = 0;
    pe_status st;
    while ((st = imp_input_line(in, &line, &len, &err)) != PE_DONE) {
        if (st != PE_OK) break;
        if (len && line[len - 1] == ',') len--;
        if (len <= 1) continue;
        uint64_t n;
        st = imp_wd_parse(wd, line, len, "f.json", imp_input_line_no(in), &s, &n, dropped, &err);
        if (st != PE_OK) {
            if (*bad < max_errs) snprintf(errs[*bad], PE_ERRMSG_MAX, "%.20s|%.480s", pe_status_str(st), err.msg);
            (*bad)++;
        }
        ents += (int)n;
    }
    imp_wd_free(wd);
    imp_input_close(in);
    return ents;
}

static void test_wikidata_entities(void)
{
    rec r = {0};
    uint64_t dropped = 0;
    int bad;
    char errs[4][PE_ERRMSG_MAX];
    int n = parse_json_file(fixture("entities.json"), NULL, &r, &dropped, &bad, errs, 4);
    PE_CHECK_EQ_INT(n, 4);
    PE_CHECK_EQ_INT(bad, 0);
    /* somevalue, novalue and the deprecated P27 */
    PE_CHECK_EQ_INT(dropped, 3);
    const char *want[] = {
        "E Q42 item -\n",
        "T label en Douglas Adams\n",
        "T label fr Douglas Adams\n",
        "T alias en Douglas Noël Adams\n",
        "T alias en DNA\n",
        "T desc en English writer and humorist\n",
        "L enwiki Douglas Adams\n",
        "P P31 entity Q5 preferred\n",
        "P P19 entity Q350\n",
        "P P1477 text en Douglas Noël Adams\n",
        "P P569 time +1952-03-11T00:00:00Z p11 http://www.wikidata.org/entity/Q1985727\n",
        "P P2048 quantity 1.96 [1.95,1.97] http://www.wikidata.org/entity/Q11573\n",
        "P P214 extid 113230702\n",
        "P P856 url http://douglasadams.com/\n",
        "P P18 string Douglas adams portrait cropped.jpg\n",
        "P P27 entity Q145\n",
        "E Q90 item -\n",
        "P P625 coord 48.8569 2.35139 0.0002777 http://www.wikidata.org/entity/Q2\n",
        "P P1082 quantity 2.14591e+06 [nan,nan] 1\n",
        "P P5008 entity L7\n",
        "P P5008 entity L7-F2\n",
        "P P5008 entity L7-S1\n",
        "P P2534 string E = mc^2\n",
        "P P3896 string Data:Paris.map\n",
        "P P4150 string Data:Paris.tab\n",
        "P P6883 string \\relative c' { c d e }\n",
        "E P31 property wikibase-item\n",
        "T label en instance of\n",
        "T alias en is a\n",
        "P P1647 entity P279\n",
        "E L7 lexeme -\n",
        "T label en cat\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        PE_CHECK_MSG(r.log && strstr(r.log, want[i]), "missing %s", want[i]);
    PE_CHECK(r.log && !strstr(r.log, "Q174193")); /* deprecated */
    PE_CHECK(r.log && !strstr(r.log, "P1050"));   /* somevalue */
    PE_CHECK(r.log && !strstr(r.log, "P40 "));    /* novalue */
    /* sink order: the record of Q42 comes before its texts */
    PE_CHECK(r.log && strstr(r.log, "E Q42") < strstr(r.log, "T label en Douglas"));
    free(r.log);

    /* language filter */
    rec r2 = {0};
    dropped = 0;
    parse_json_file(fixture("entities.json"), "en", &r2, &dropped, &bad, errs, 4);
    PE_CHECK(r2.log && !strstr(r2.log, "T label fr"));
    PE_CHECK(r2.log && !strstr(r2.log, "T label de"));
    PE_CHECK(r2.log && strstr(r2.log, "T label en Douglas Adams"));
    PE_CHECK_EQ_INT(dropped, 3 + 3); /* + fr label, de label, fr description */
    free(r2.log);
}

static void test_wikidata_bad(void)
{
    rec r = {0};
    uint64_t dropped = 0;
    int bad;
    char errs[8][PE_ERRMSG_MAX];
    int n = parse_json_file(fixture("bad.json"), NULL, &r, &dropped, &bad, errs, 8);
    PE_CHECK_EQ_INT(n, 2); /* Q1 and Q8 */
    PE_CHECK_EQ_INT(bad, 6);
    if (bad < 6) { free(r.log); return; }
    PE_CHECK_MSG(strstr(errs[0], "parse error|f.json:3: malformed JSON"), "%s", errs[0]);
    PE_CHECK_MSG(strstr(errs[1], "f.json:4: entity Q3: \"labels\" is not an object"), "%s", errs[1]);
    PE_CHECK_MSG(strstr(errs[2], "f.json:5: entity Q4: claim P31: datavalue.value is not an object"), "%s", errs[2]);
    PE_CHECK_MSG(strstr(errs[3], "f.json:6: entity has no \"id\""), "%s", errs[3]);
    PE_CHECK_MSG(strstr(errs[4], "f.json:7: \"id\" 'X12' is not a valid entity id"), "%s", errs[4]);
    PE_CHECK_MSG(strstr(errs[5], "invalid UTF-8|f.json:8: entity Q7: invalid UTF-8"), "%s", errs[5]);
    /* nothing of a bad record reached the sink */
    PE_CHECK(r.log && !strstr(r.log, "Q3") && !strstr(r.log, "Q4") && !strstr(r.log, "Q7"));
    PE_CHECK(r.log && strstr(r.log, "E Q8 item"));
    free(r.log);
}

static void test_wbgetentities(void)
{
    const char *doc =
        "{\"entities\":{\"Q6\":{\"id\":\"Q6\",\"missing\":\"\"},\"Q1\":{\"type\":\"item\",\"id\":\"Q1\","
        "\"labels\":{\"en\":{\"language\":\"en\",\"value\":\"Universe\"}}},\"P31\":{\"type\":\"property\","
        "\"datatype\":\"wikibase-item\",\"id\":\"P31\",\"labels\":{}}},\"success\":1}";
    rec r = {0};
    imp_langs l;
    pe_error err;
    imp_langs_parse(NULL, &l, &err);
    imp_wd *wd;
    imp_wd_new(&l, &wd);
    imp_sink s = rec_sink(&r);
    uint64_t n = 0, dropped = 0;
    PE_CHECK_EQ_INT(imp_wd_parse(wd, doc, strlen(doc), "api.json", 1, &s, &n, &dropped, &err), PE_OK);
    PE_CHECK_EQ_INT(n, 2);
    PE_CHECK_EQ_INT(dropped, 1); /* the missing Q6 */
    PE_CHECK(r.log && strstr(r.log, "E Q1 item -\nT label en Universe\n"));
    PE_CHECK(r.log && strstr(r.log, "E P31 property wikibase-item\n"));
    PE_CHECK_EQ_INT(imp_wd_bad_entities(wd), 0);
    /* a bad entity of a response is skipped alone: the others are written,
     * the first bad one's error is kept */
    const char *bad = "{\"entities\":{\"Q1\":{\"id\":\"Q1\",\"labels\":{}},\"Q2\":{\"id\":\"Q2\",\"aliases\":3},"
                      "\"Q3\":{\"id\":\"Q3\",\"labels\":{}},\"Q4\":{\"id\":\"Q4\",\"labels\":5}}}";
    size_t before = r.len;
    PE_CHECK_EQ_INT(imp_wd_parse(wd, bad, strlen(bad), "api.json", 1, &s, &n, &dropped, &err), PE_OK);
    PE_CHECK_EQ_INT(n, 2);
    PE_CHECK_EQ_INT(imp_wd_bad_entities(wd), 2);
    PE_CHECK_MSG(strstr(err.msg, "api.json:1: entity Q2: \"aliases\" is not an object"), "%s", err.msg);
    PE_CHECK(r.log && strstr(r.log + before, "E Q1 item -\n") && strstr(r.log + before, "E Q3 item -\n") &&
             !strstr(r.log + before, "E Q2 ") && !strstr(r.log + before, "E Q4 "));
    /* every entity bad: nothing written, all counted */
    const char *allbad = "{\"entities\":{\"Q2\":{\"id\":\"Q2\",\"aliases\":3}}}";
    before = r.len;
    PE_CHECK_EQ_INT(imp_wd_parse(wd, allbad, strlen(allbad), "api.json", 2, &s, &n, &dropped, &err), PE_OK);
    PE_CHECK_EQ_INT(n, 0);
    PE_CHECK_EQ_INT(imp_wd_bad_entities(wd), 1);
    PE_CHECK_EQ_INT(r.len, before);
    /* a response that is not one as such is still one bad record */
    const char *notobj = "{\"entities\":[1,2]}";
    PE_CHECK_EQ_INT(imp_wd_parse(wd, notobj, strlen(notobj), "api.json", 3, &s, &n, &dropped, &err), PE_ERR_PARSE);
    /* a language code longer than the store takes */
    char longlang[400];
    snprintf(longlang, sizeof longlang,
             "{\"id\":\"Q5\",\"labels\":{\"x\":{\"language\":\"%070d\",\"value\":\"v\"}}}", 0);
    PE_CHECK_EQ_INT(imp_wd_parse(wd, longlang, strlen(longlang), "l.json", 3, &s, &n, &dropped, &err), PE_ERR_PARSE);
    PE_CHECK_MSG(strstr(err.msg, "l.json:3: entity Q5: language code") != NULL, "%s", err.msg);
    imp_wd_free(wd);
    free(r.log);
}

static void test_valid_ids(void)
{
    PE_CHECK(imp_wd_valid_id("Q42", 3, 0));
    PE_CHECK(imp_wd_valid_id("P31", 3, 0));
    PE_CHECK(imp_wd_valid_id("L7-F2", 5, 1));
    PE_CHECK(!imp_wd_valid_id("L7-F2", 5, 0));
    PE_CHECK(!imp_wd_valid_id("Q042", 4, 0));
    PE_CHECK(!imp_wd_valid_id("Q", 1, 0));
    PE_CHECK(!imp_wd_valid_id("Q4a", 3, 0));
    PE_CHECK(!imp_wd_valid_id("L7-", 3, 1));
    PE_CHECK(!imp_wd_valid_id("X1", 2, 0));
}

/* ---- input layer ---------------------------------------------------------------- */

static size_t gz_compress(const char *data, size_t len, unsigned char *out, size_t cap)
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

static size_t bz_compress(const char *data, size_t len, unsigned char *out, size_t cap)
{
    unsigned int n = (unsigned int)cap;
    BZ2_bzBuffToBuffCompress((char *)out, &n, (char *)data, (unsigned)len, 1, 0, 0);
    return n;
}

/* All lines of a file joined with '|', or the error. */
static pe_status read_lines(const char *path, size_t max_line, char *out, size_t cap, pe_error *err, int *limit_errors)
{
    imp_input *in;
    pe_status st = imp_input_open(path, max_line, &in, err);
    if (st != PE_OK) return st;
    out[0] = 0;
    const char *line;
    size_t len;
    *limit_errors = 0;
    while ((st = imp_input_line(in, &line, &len, err)) != PE_DONE) {
        if (st == PE_ERR_LIMIT) { (*limit_errors)++; continue; }
        if (st != PE_OK) break;
        size_t k = strlen(out);
        snprintf(out + k, cap - k, "%.*s|", (int)len, line);
    }
    imp_input_close(in);
    return st == PE_DONE ? PE_OK : st;
}

static void test_compression(void)
{
    const char *a = "line one\nline two\n", *b = "line three\r\nlast";
    unsigned char buf[4096];
    size_t n1 = gz_compress(a, strlen(a), buf, sizeof buf);
    size_t n2 = gz_compress(b, strlen(b), buf + n1, sizeof buf - n1);
    write_file(tmp_path("multi.gz"), buf, n1 + n2);
    char out[512];
    pe_error err;
    int lim;
    PE_CHECK_EQ_INT(read_lines(tmp_path("multi.gz"), 1024, out, sizeof out, &err, &lim), PE_OK);
    PE_CHECK_EQ_STR(out, "line one|line two|line three|last|");

    n1 = bz_compress(a, strlen(a), buf, sizeof buf);
    n2 = bz_compress(b, strlen(b), buf + n1, sizeof buf - n1);
    write_file(tmp_path("multi.bz2"), buf, n1 + n2);
    PE_CHECK_EQ_INT(read_lines(tmp_path("multi.bz2"), 1024, out, sizeof out, &err, &lim), PE_OK);
    PE_CHECK_EQ_STR(out, "line one|line two|line three|last|");

    /* truncated: error naming the file and the offset */
    char big[20000];
    for (size_t i = 0; i < sizeof big - 1; i++) big[i] = (i % 61 == 60) ? '\n' : (char)('a' + (i * 7919) % 26);
    big[sizeof big - 1] = 0;
    size_t n = gz_compress(big, strlen(big), buf, sizeof buf);
    write_file(tmp_path("trunc.gz"), buf, n / 2);
    PE_CHECK_EQ_INT(read_lines(tmp_path("trunc.gz"), 1024, out, sizeof out, &err, &lim), PE_ERR_IO);
    PE_CHECK_MSG(strstr(err.msg, "trunc.gz: truncated gzip stream") && strstr(err.msg, "byte offset"), "%s", err.msg);
    n = bz_compress(big, strlen(big), buf, sizeof buf);
    write_file(tmp_path("trunc.bz2"), buf, n - 10);
    PE_CHECK_EQ_INT(read_lines(tmp_path("trunc.bz2"), 1024, out, sizeof out, &err, &lim), PE_ERR_IO);
    PE_CHECK_MSG(strstr(err.msg, "trunc.bz2: truncated bzip2 stream") && strstr(err.msg, "byte offset"), "%s", err.msg);

    /* missing file */
    PE_CHECK_EQ_INT(read_lines(tmp_path("nope.json"), 1024, out, sizeof out, &err, &lim), PE_ERR_IO);
    PE_CHECK_MSG(strstr(err.msg, "nope.json") != NULL, "%s", err.msg);
}

static void test_long_lines(void)
{
    /* a 5000-byte line between short ones, limit 100: skipped, reader resyncs */
    size_t n = 5000;
    char *data = malloc(n + 64);
    strcpy(data, "short\n");
    memset(data + 6, 'x', n);
    strcpy(data + 6 + n, "\nafter\n");
    write_file(tmp_path("long.txt"), data, strlen(data));
    char out[512];
    pe_error err;
    int lim;
    PE_CHECK_EQ_INT(read_lines(tmp_path("long.txt"), 100, out, sizeof out, &err, &lim), PE_OK);
    PE_CHECK_EQ_STR(out, "short|after|");
    PE_CHECK_EQ_INT(lim, 1);
    /* larger than the reader's 1 MiB buffer, with a limit above the buffer */
    size_t big = (3u << 20) + 17;
    char *d2 = malloc(big + 32);
    memset(d2, 'y', big);
    strcpy(d2 + big, "\nend\n");
    write_file(tmp_path("big.txt"), d2, big + 5);
    imp_input *in;
    PE_CHECK_EQ_INT(imp_input_open(tmp_path("big.txt"), 4u << 20, &in, &err), PE_OK);
    const char *line;
    size_t len;
    PE_CHECK_EQ_INT(imp_input_line(in, &line, &len, &err), PE_OK);
    PE_CHECK_EQ_INT(len, big);
    PE_CHECK_EQ_INT(imp_input_line(in, &line, &len, &err), PE_OK);
    PE_CHECK_EQ_STR(line, "end");
    PE_CHECK_EQ_INT(imp_input_line(in, &line, &len, &err), PE_DONE);
    imp_input_close(in);
    /* ... and with a limit below it: error with file and line, then resync */
    PE_CHECK_EQ_INT(imp_input_open(tmp_path("big.txt"), 2u << 20, &in, &err), PE_OK);
    PE_CHECK_EQ_INT(imp_input_line(in, &line, &len, &err), PE_ERR_LIMIT);
    PE_CHECK_MSG(strstr(err.msg, "big.txt:1: line longer than"), "%s", err.msg);
    PE_CHECK_EQ_INT(imp_input_line(in, &line, &len, &err), PE_OK);
    PE_CHECK_EQ_STR(line, "end");
    PE_CHECK_EQ_INT(imp_input_line_no(in), 2);
    imp_input_close(in);
    /* skip (resume) */
    PE_CHECK_EQ_INT(imp_input_open(tmp_path("long.txt"), 100, &in, &err), PE_OK);
    PE_CHECK_EQ_INT(imp_input_skip(in, 6 + n + 1, 2, &err), PE_OK);
    PE_CHECK_EQ_INT(imp_input_line(in, &line, &len, &err), PE_OK);
    PE_CHECK_EQ_STR(line, "after");
    PE_CHECK_EQ_INT(imp_input_line_no(in), 3);
    imp_input_close(in);
    free(data);
    free(d2);
}

/* ---- RDF ------------------------------------------------------------------------- */

typedef struct rdf_records {
    int good, bad;
    char first[PE_ERRMSG_MAX];
} rdf_records;

static pe_status on_record(void *u, int bad, const char *msg)
{
    rdf_records *r = u;
    if (bad) {
        if (!r->bad) snprintf(r->first, sizeof r->first, "%s", msg);
        r->bad++;
    } else {
        r->good++;
    }
    return PE_OK;
}

static pe_status parse_rdf(const char *path, pe_import_format f, const char *langs, rec *r, rdf_records *rr,
                           uint64_t *dropped, pe_error *err)
{
    imp_input *in;
    pe_status st = imp_input_open(path, 1 << 20, &in, err);
    if (st != PE_OK) return st;
    imp_langs l;
    imp_langs_parse(langs, &l, err);
    imp_sink s = rec_sink(r);
    imp_rdf_options o = {.format = f, .blank_scope = "s1", .langs = &l, .record = on_record, .record_user = rr, .dropped = dropped};
    st = imp_rdf_parse(in, &o, &s, err);
    imp_input_close(in);
    return st;
}

static void test_ntriples(void)
{
    rec r = {0};
    rdf_records rr = {0};
    uint64_t dropped = 0;
    pe_error err;
    PE_CHECK_EQ_INT(parse_rdf(fixture("sample.nt"), PE_IMPORT_NTRIPLES, "en,la", &r, &rr, &dropped, &err), PE_OK);
    PE_CHECK_EQ_INT(rr.bad, 1);
    PE_CHECK_MSG(strstr(rr.first, "sample.nt:10:"), "%s", rr.first);
    PE_CHECK_EQ_INT(dropped, 1); /* the Italian label */
    const char *want[] = {
        "R http://dbpedia.org/resource/Paris\nT label en Paris\n",
        "P http://www.w3.org/1999/02/22-rdf-syntax-ns#type entity http://dbpedia.org/ontology/City\n",
        "= http://www.wikidata.org/entity/Q90\n",
        "P http://dbpedia.org/ontology/country entity http://dbpedia.org/resource/France\n",
        "P http://dbpedia.org/ontology/populationTotal typed 2145906 http://www.w3.org/2001/XMLSchema#nonNegativeInteger\n",
        "T desc en Capital of France\n",
        "P http://xmlns.com/foaf/0.1/nick string City of Light\n",
        "S http://dbpedia.org/resource/Paris\nT alias en City of Light\n",
        "R http://dbpedia.org/ontology/City\nP http://www.w3.org/2000/01/rdf-schema#subClassOf entity http://dbpedia.org/ontology/Settlement\n",
        "R _:s1_b1\nT alias la Lutetia\n",
        "P http://example.org/hasPart entity _:s1_b1\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        PE_CHECK_MSG(r.log && strstr(r.log, want[i]), "missing %s", want[i]);
    PE_CHECK(r.log && !strstr(r.log, "Parigi"));
    free(r.log);
}

static void test_turtle_rdfxml(void)
{
    rec r = {0};
    rdf_records rr = {0};
    uint64_t dropped = 0;
    pe_error err;
    PE_CHECK_EQ_INT(parse_rdf(fixture("sample.ttl"), PE_IMPORT_TURTLE, NULL, &r, &rr, &dropped, &err), PE_OK);
    PE_CHECK_EQ_INT(rr.good, 5);
    PE_CHECK(r.log && strstr(r.log, "T label it Berlino\n"));
    PE_CHECK(r.log && strstr(r.log, "T alias de Spree-Athen\n"));
    PE_CHECK(r.log && strstr(r.log, "S http://www.wikidata.org/entity/Q64\n") == NULL); /* declared: R */
    PE_CHECK(r.log && strstr(r.log, "R http://www.wikidata.org/entity/Q64\nP http://www.wikidata.org/prop/direct/P31 "
                                    "entity http://www.wikidata.org/entity/Q515\n"));
    free(r.log);
    memset(&r, 0, sizeof r);
    memset(&rr, 0, sizeof rr);
    PE_CHECK_EQ_INT(parse_rdf(fixture("sample.rdf"), PE_IMPORT_RDFXML, NULL, &r, &rr, &dropped, &err), PE_OK);
    PE_CHECK_EQ_INT(rr.good, 2);
    PE_CHECK(r.log && strstr(r.log, "R http://dbpedia.org/resource/Rome\nT label en Rome\n"));
    free(r.log);

    /* Turtle syntax error: stops with FILE:LINE */
    const char *bad = "@prefix a: <http://a/> .\na:x a:y a:z .\na:x a:y \"unterminated .\na:q a:r a:s .\n";
    write_file(tmp_path("bad.ttl"), bad, strlen(bad));
    memset(&r, 0, sizeof r);
    memset(&rr, 0, sizeof rr);
    PE_CHECK_EQ_INT(parse_rdf(tmp_path("bad.ttl"), PE_IMPORT_TURTLE, NULL, &r, &rr, &dropped, &err), PE_ERR_PARSE);
    PE_CHECK_MSG(strstr(err.msg, "bad.ttl:") != NULL, "%s", err.msg);
    free(r.log);
}

int main(void)
{
    if (!pe_test_tmpdir(tmpdir, sizeof tmpdir, "pe_imp_parse")) return 1;
    PE_RUN(test_valid_ids);
    PE_RUN(test_wikidata_entities);
    PE_RUN(test_wikidata_bad);
    PE_RUN(test_wbgetentities);
    PE_RUN(test_compression);
    PE_RUN(test_long_lines);
    PE_RUN(test_ntriples);
    PE_RUN(test_turtle_rdfxml);
    if (pe_test_rm_rf(tmpdir) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    PE_TEST_EXIT();
}
