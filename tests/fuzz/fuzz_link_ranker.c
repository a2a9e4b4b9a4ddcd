/* fuzz_link_ranker.c - libFuzzer target: arbitrary bytes as a linker ranker
 * file (pe_link_model_load, fusion/pe_link.h: JSON, version 1 or 2 with its
 * MLP reranker).
 *
 * Checked: a file loads or is refused with PE_ERR_PARSE, PE_ERR_UNSUPPORTED
 * (or PE_ERR_NOMEM), the refusal's message naming the file, and nothing
 * comes out then; a loaded model has a reranker of 0..PE_LINK_MAX_HIDDEN
 * units and NIL thresholds in [0, 1] (the short one also -1); its score and
 * rerank of a few feature vectors are in [0, 1] (never NaN, whatever the
 * weights); saved and loaded again it scores every vector the same, bit for
 * bit. Violations abort(). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pe_link.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fz_check(int ok)
{
    if (!ok) abort();
}

static int fz_write(const char *path, const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int bad = fwrite(data, 1, size, f) != size;
    bad |= fclose(f) != 0;
    return bad ? -1 : 0;
}

static int fz_unit(double v)
{
    return v >= 0 && v <= 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64], path2[80];
    snprintf(path, sizeof path, "/tmp/fuzz_link_ranker_%d.json", (int)getpid());
    snprintf(path2, sizeof path2, "%s.saved", path);
    if (fz_write(path, data, size) != 0) return 0;
    pe_link_model *m = (pe_link_model *)1;
    pe_error err;
    pe_error_clear(&err);
    pe_status st = pe_link_model_load(path, &m, &err);
    if (st != PE_OK) {
        fz_check(m == NULL);
        fz_check(st == PE_ERR_PARSE || st == PE_ERR_UNSUPPORTED || st == PE_ERR_NOMEM);
        fz_check(st == PE_ERR_NOMEM || strstr(err.msg, path) != NULL);
        remove(path);
        return 0;
    }
    fz_check(m != NULL);
    fz_check(m->hidden >= 0 && m->hidden <= PE_LINK_MAX_HIDDEN);
    fz_check(fz_unit(m->nil_threshold));
    fz_check(m->nil_threshold_short == -1 || fz_unit(m->nil_threshold_short));
    /* feature vectors: zeros, ones, typical values, the extremes a linker writes */
    double f[4][PE_LINK_NFEATURES];
    for (int i = 0; i < PE_LINK_NFEATURES; i++) {
        f[0][i] = 0;
        f[1][i] = 1;
        f[2][i] = 0.1 * (i % 7) - 0.2;
        f[3][i] = i % 2 ? -20 : 1;
    }
    double s[4], r[4];
    for (int k = 0; k < 4; k++) {
        s[k] = pe_link_model_score(m, f[k]);
        r[k] = pe_link_model_rerank(m, f[k]);
        fz_check(fz_unit(s[k]) && fz_unit(r[k]));
        if (m->hidden == 0) fz_check(r[k] == s[k]);
    }
    if (pe_link_model_save(m, path2, &err) == PE_OK) {
        pe_link_model *m2 = NULL;
        fz_check(pe_link_model_load(path2, &m2, &err) == PE_OK);
        fz_check(m2->hidden == m->hidden);
        for (int k = 0; k < 4; k++) {
            fz_check(pe_link_model_score(m2, f[k]) == s[k]);
            fz_check(pe_link_model_rerank(m2, f[k]) == r[k]);
        }
        pe_link_model_free(m2);
    }
    pe_link_model_free(m);
    remove(path);
    remove(path2);
    return 0;
}
