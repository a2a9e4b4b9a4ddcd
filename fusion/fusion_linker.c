/* The entity linker of pe_link.h behind fusion's linking interface. */
#include "pe_fusion.h"
#include "pe_link.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* The coarse mention type the expected classes suggest. */
static pe_link_type type_of(const char *const *classes, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *c = classes[i];
        if (!strcmp(c, "Q2221906") || !strcmp(c, "Q486972") || !strcmp(c, "Q515") || !strcmp(c, "Q6256"))
            return PE_LINK_TYPE_PLACE;
        if (!strcmp(c, "Q43229") || !strcmp(c, "Q4830453") || !strcmp(c, "Q783794")) return PE_LINK_TYPE_ORG;
        if (!strcmp(c, "Q11424") || !strcmp(c, "Q7725634") || !strcmp(c, "Q5398426") || !strcmp(c, "Q571"))
            return PE_LINK_TYPE_WORK;
    }
    return PE_LINK_TYPE_ANY;
}

pe_status pe_fusion_link_linker(void *linker, const char *text, size_t len, size_t start, size_t end,
                                const char *const *classes, size_t n_classes, pe_fusion_link_result *out)
{
    pe_linker *l = linker;
    if (!l || !text || !out || start >= end || end > len) return PE_ERR_INVALID;
    out->n = 0;
    pe_link_mention m;
    memset(&m, 0, sizeof m);
    m.start = start;
    m.end = end;
    m.type = type_of(classes, n_classes);
    pe_link_result *res = NULL;
    pe_status st = pe_link_text(l, NULL, text, len, &m, 1, &res);
    if (st != PE_OK) return st;
    if (res->n == 1 && !res->mentions[0].nil) {
        const pe_link_mention_result *r = &res->mentions[0];
        for (size_t i = 0; i < r->n_candidates && out->n < PE_FUSION_LINK_MAX; i++) {
            snprintf(out->c[out->n].entity, sizeof out->c[0].entity, "%s", r->candidates[i].qid);
            out->c[out->n++].score = r->candidates[i].score;
        }
    }
    pe_link_result_free(res);
    return PE_OK;
}
