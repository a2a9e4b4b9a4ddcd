/* fuzz_rdf.c - libFuzzer target: the RDF path (raptor2 N-Triples, Turtle,
 * RDF/XML, chosen by the first byte) and its mapping onto the sink. */
#include <stdint.h>

#include "fuzz_sink.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static pe_status on_record(void *u, int bad, const char *msg)
{
    if (bad) fz_check(msg != NULL);
    return PE_OK;
}

static pe_status on_point(void *u, uint64_t bytes, uint64_t lines)
{
    return PE_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    static const pe_import_format f[] = {PE_IMPORT_NTRIPLES, PE_IMPORT_TURTLE, PE_IMPORT_RDFXML};
    pe_import_format fmt = f[data[0] % 3];
    imp_input *in;
    pe_error err;
    if (imp_input_open_mem("fuzz.rdf", data + 1, size - 1, 4096, &in, &err) != PE_OK) return 0;
    imp_langs langs;
    imp_langs_parse((data[0] & 4) ? "en" : NULL, &langs, &err);
    uint64_t dropped = 0;
    imp_rdf_options o = {.format = fmt, .blank_scope = "s1", .langs = &langs, .skip_statements = (data[0] & 8) ? 2 : 0,
                         .record = on_record, .point = on_point, .dropped = &dropped};
    pe_status st = imp_rdf_parse(in, &o, &fz_sink, &err);
    fz_check(st == PE_OK || st == PE_ERR_PARSE || st == PE_ERR_IO || st == PE_ERR_LIMIT);
    imp_input_close(in);
    return 0;
}
