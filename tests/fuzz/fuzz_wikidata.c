/* fuzz_wikidata.c - libFuzzer target: Wikidata JSON (dump lines, NDJSON,
 * wbgetentities documents, compressed or not) through the line reader and
 * the entity parser, as pe_import_file drives them. */
#include <stdint.h>

#include "fuzz_sink.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    imp_input *in;
    pe_error err;
    /* A small line limit exercises the resync path too. */
    if (imp_input_open_mem("fuzz.json", data, size, 4096, &in, &err) != PE_OK) return 0;
    imp_langs langs;
    imp_langs_parse((size & 1) ? "en,fr" : NULL, &langs, &err);
    imp_wd *wd;
    if (imp_wd_new(&langs, &wd) != PE_OK) { imp_input_close(in); return 0; }
    const char *line;
    size_t len;
    uint64_t dropped = 0;
    for (;;) {
        pe_status st = imp_input_line(in, &line, &len, &err);
        if (st == PE_DONE || (st >= PE_ERR_FIRST && st != PE_ERR_LIMIT)) break;
        if (st == PE_ERR_LIMIT) continue;
        fz_check(len <= 4096);
        uint64_t n = 0;
        st = imp_wd_parse(wd, line, len, "fuzz.json", imp_input_line_no(in), &fz_sink, &n, &dropped, &err);
        fz_check(st == PE_OK || st == PE_ERR_PARSE || st == PE_ERR_UTF8);
        if (st != PE_OK) fz_check(strncmp(err.msg, "fuzz.json:", 10) == 0);
    }
    imp_wd_free(wd);
    imp_input_close(in);
    return 0;
}
