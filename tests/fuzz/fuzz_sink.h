/* fuzz_sink.h - a sink for the fuzz targets that checks what the parsers
 * hand over (valid UTF-8 texts, non-NULL languages, sane values) and
 * aborts on a violation, so that the fuzzer reports it. */
#ifndef PE_FUZZ_SINK_H
#define PE_FUZZ_SINK_H

#include <stdlib.h>
#include <string.h>

#include "imp_internal.h"

static void fz_check(int ok)
{
    if (!ok) abort();
}

static pe_status fz_entity(void *u, const char *id, size_t len, pe_kg_entity_kind kind, const char *dt)
{
    fz_check(id && imp_wd_valid_id(id, len, 0));
    return PE_OK;
}
static pe_status fz_subject(void *u, const char *t, size_t len, int declare)
{
    fz_check(t && len > 0 && (unsigned char)t[0] >= 0x20); /* what pe_kg_intern accepts */
    return PE_OK;
}
static pe_status fz_text(void *u, pe_kg_text_kind kind, const char *lang, const char *text, size_t len)
{
    fz_check(lang && text && kind <= PE_KG_DESCRIPTION && strlen(lang) <= 64);
    fz_check(pe_utf8_valid(text, len, NULL));
    return PE_OK;
}
static pe_status fz_sitelink(void *u, const char *site, const char *title)
{
    fz_check(site && title);
    return PE_OK;
}
static pe_status fz_statement(void *u, const char *p, size_t len, const imp_value *o, pe_kg_rank rank)
{
    fz_check(p && len > 0 && rank != PE_KG_RANK_DEPRECATED);
    fz_check((unsigned char)p[0] >= 0x20);
    if (o->v.type == PE_KG_VAL_ENTITY) fz_check(o->term && o->term_len > 0 && (unsigned char)o->term[0] >= 0x20);
    else fz_check(o->v.type >= PE_KG_VAL_STRING && o->v.type <= PE_KG_VAL_TYPED);
    if (o->v.type == PE_KG_VAL_TIME) fz_check(o->v.precision >= 0 && o->v.precision <= 14);
    if (o->v.type == PE_KG_VAL_MONOTEXT) fz_check(o->v.lang != NULL);
    if (o->v.text) fz_check(memchr(o->v.text, 0, o->v.text_len) == NULL || o->v.type != PE_KG_VAL_TIME);
    return PE_OK;
}
static pe_status fz_sameas(void *u, const char *o, size_t len)
{
    fz_check(o && len > 0 && (unsigned char)o[0] >= 0x20);
    return PE_OK;
}

static const imp_sink fz_sink = {NULL, fz_entity, fz_subject, fz_text, fz_sitelink, fz_statement, fz_sameas};

#endif
