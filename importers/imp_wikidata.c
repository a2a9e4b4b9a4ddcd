/* imp_wikidata.c - one Wikidata JSON entity (or a wbgetentities response)
 * parsed with cJSON, validated completely into a reusable record, then
 * written to the sink. Field reference:
 * https://doc.wikimedia.org/Wikibase/master/php/docs_topics_json.html */
#define _GNU_SOURCE /* memmem */
#include "imp_internal.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- arena for cJSON ---------------------------------------------------------
 * cJSON allocates every node and string with malloc; for a dump that is
 * most of the parse time. While imp_wd_parse runs, this thread's cJSON
 * allocations come from a bump arena that is reset after each record (the
 * tree is dropped without cJSON_Delete). The hooks are process-wide but
 * only change anything on a thread inside imp_wd_parse: elsewhere they are
 * malloc/free. Should another component replace the hooks later, trees
 * simply come from malloc again and are deleted normally. */

typedef struct arena_chunk {
    struct arena_chunk *next;
    size_t cap, used;
    max_align_t data[];
} arena_chunk;

typedef struct arena {
    arena_chunk *first, *cur; /* chunks in a list; allocation moves cur forward */
} arena;

static __thread arena *tls_arena;
static pthread_once_t hooks_once = PTHREAD_ONCE_INIT;

static int arena_owns(const arena *a, const void *p)
{
    for (const arena_chunk *c = a->first; c; c = c->next)
        if ((const char *)p >= (const char *)c->data && (const char *)p < (const char *)c->data + c->cap) return 1;
    return 0;
}

static void *arena_alloc(arena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    arena_chunk *c = a->cur;
    while (c && c->cap - c->used < n) c = c->next; /* skip chunks too full for n */
    if (!c) {
        size_t cap = n > ((size_t)1 << 20) ? n : ((size_t)1 << 20);
        c = malloc(sizeof *c + cap);
        if (!c) return NULL;
        c->cap = cap;
        c->used = 0;
        c->next = NULL;
        if (!a->first) a->first = c;
        else {
            arena_chunk *t = a->cur ? a->cur : a->first;
            while (t->next) t = t->next;
            t->next = c;
        }
    }
    a->cur = c;
    void *p = (char *)c->data + c->used;
    c->used += n;
    return p;
}

/* Keeps at most 8 MiB of chunks between records (more only while a huge
 * record is parsed). */
static void arena_reset(arena *a)
{
    size_t kept = 0;
    arena_chunk **pp = &a->first;
    while (*pp) {
        arena_chunk *c = *pp;
        if (kept + c->cap > ((size_t)8 << 20)) {
            *pp = c->next;
            free(c);
            continue;
        }
        kept += c->cap;
        c->used = 0;
        pp = &c->next;
    }
    a->cur = a->first;
}

static void arena_free_all(arena *a)
{
    arena_chunk *c = a->first;
    while (c) {
        arena_chunk *n = c->next;
        free(c);
        c = n;
    }
    a->first = a->cur = NULL;
}

static void *hook_malloc(size_t n)
{
    arena *a = tls_arena;
    return a ? arena_alloc(a, n) : malloc(n);
}

static void hook_free(void *p)
{
    arena *a = tls_arena;
    if (a && arena_owns(a, p)) return;
    free(p);
}

static void install_hooks(void)
{
    cJSON_Hooks h = {hook_malloc, hook_free};
    cJSON_InitHooks(&h);
}

typedef struct wd_text {
    pe_kg_text_kind kind;
    const char *lang;
    const char *text;
    size_t len;
} wd_text;

typedef struct wd_link {
    const char *site, *title;
} wd_link;

typedef struct wd_stmt {
    const char *prop;
    imp_value o;
    pe_kg_rank rank;
    char idbuf[24]; /* entity ids built from numeric-id */
} wd_stmt;

struct imp_wd {
    const imp_langs *langs;
    arena arena;
    wd_text *texts; size_t n_texts, cap_texts;
    wd_link *links; size_t n_links, cap_links;
    wd_stmt *stmts; size_t n_stmts, cap_stmts;
    uint64_t dropped;
    uint64_t bad_entities; /* of the last response, skipped */
    /* context of the current record for messages */
    const char *file;
    uint64_t line;
    const char *id;
    pe_error *err;
};

pe_status imp_wd_new(const imp_langs *langs, imp_wd **out)
{
    *out = calloc(1, sizeof **out);
    if (!*out) return PE_ERR_NOMEM;
    (*out)->langs = langs;
    pthread_once(&hooks_once, install_hooks);
    return PE_OK;
}

void imp_wd_free(imp_wd *p)
{
    if (!p) return;
    arena_free_all(&p->arena);
    free(p->texts);
    free(p->links);
    free(p->stmts);
    free(p);
}

int imp_wd_valid_id(const char *s, size_t len, int allow_sub)
{
    if (len < 2 || len > 20) return 0;
    if (s[0] != 'Q' && s[0] != 'P' && s[0] != 'L' && s[0] != 'M') return 0;
    size_t i = 1;
    if (s[i] < '1' || s[i] > '9') return 0;
    while (i < len && s[i] >= '0' && s[i] <= '9') i++;
    if (i == len) return 1;
    if (!allow_sub || s[0] != 'L' || s[i] != '-' || i + 2 >= len + 0 || (s[i + 1] != 'F' && s[i + 1] != 'S'))
        return 0;
    i += 2;
    if (i >= len || s[i] < '1' || s[i] > '9') return 0;
    while (i < len && s[i] >= '0' && s[i] <= '9') i++;
    return i == len;
}

__attribute__((format(printf, 2, 3))) static pe_status bad(imp_wd *p, const char *fmt, ...)
{
    char what[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (p->id)
        return pe_error_set(p->err, PE_ERR_PARSE, "%s:%llu: entity %s: %s", p->file, (unsigned long long)p->line,
                            p->id, what);
    return pe_error_set(p->err, PE_ERR_PARSE, "%s:%llu: %s", p->file, (unsigned long long)p->line, what);
}

#define GROW(arr, n, cap)                                                                          \
    do {                                                                                           \
        if ((n) == (cap)) {                                                                        \
            size_t nc_ = (cap) ? (cap) * 2 : 64;                                                   \
            void *np_ = realloc((arr), nc_ * sizeof *(arr));                                       \
            if (!np_) return pe_error_set(p->err, PE_ERR_NOMEM, "out of memory");                  \
            (arr) = np_;                                                                           \
            (cap) = nc_;                                                                           \
        }                                                                                          \
    } while (0)

/* Empty maps are written as [] by PHP: accept them; anything else that is
 * not an object is a wrong field type. Returns 0 when absent/empty. */
static pe_status get_map(imp_wd *p, const cJSON *m, const char *name, const cJSON **out)
{
    *out = NULL;
    if (!m || cJSON_IsNull(m)) return PE_OK;
    if (cJSON_IsArray(m) && m->child == NULL) return PE_OK;
    if (!cJSON_IsObject(m)) return bad(p, "\"%s\" is not an object", name);
    *out = m;
    return PE_OK;
}

static pe_status add_text(imp_wd *p, pe_kg_text_kind kind, const char *lang, const char *text)
{
    if (strlen(lang) > IMP_MAX_LANG_LEN) return bad(p, "language code '%.40s...' is longer than %d bytes", lang, IMP_MAX_LANG_LEN);
    if (!imp_langs_keep(p->langs, lang)) {
        p->dropped++;
        return PE_OK;
    }
    GROW(p->texts, p->n_texts, p->cap_texts);
    p->texts[p->n_texts++] = (wd_text){kind, lang, text, strlen(text)};
    return PE_OK;
}

/* {"en": {"language": "en", "value": "..."}, ...} */
static pe_status parse_terms(imp_wd *p, const cJSON *node, const char *name, pe_kg_text_kind kind)
{
    const cJSON *m;
    pe_status st;
    PE_TRY(st, get_map(p, node, name, &m));
    if (!m) return PE_OK;
    for (const cJSON *t = m->child; t; t = t->next) {
        if (!cJSON_IsObject(t)) return bad(p, "%s.%s is not an object", name, t->string);
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(t, "value");
        if (!cJSON_IsString(v)) return bad(p, "%s.%s.value is not a string", name, t->string);
        const cJSON *l = cJSON_GetObjectItemCaseSensitive(t, "language");
        const char *lang = t->string;
        if (l) {
            if (!cJSON_IsString(l)) return bad(p, "%s.%s.language is not a string", name, t->string);
            lang = l->valuestring;
        }
        PE_TRY(st, add_text(p, kind, lang, v->valuestring));
    }
    return PE_OK;
}

/* {"en": [{"language": "en", "value": "..."}, ...], ...} */
static pe_status parse_aliases(imp_wd *p, const cJSON *node)
{
    const cJSON *m;
    pe_status st;
    PE_TRY(st, get_map(p, node, "aliases", &m));
    if (!m) return PE_OK;
    for (const cJSON *a = m->child; a; a = a->next) {
        if (!cJSON_IsArray(a)) return bad(p, "aliases.%s is not an array", a->string);
        for (const cJSON *t = a->child; t; t = t->next) {
            if (!cJSON_IsObject(t)) return bad(p, "aliases.%s has an element that is not an object", a->string);
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(t, "value");
            if (!cJSON_IsString(v)) return bad(p, "aliases.%s[].value is not a string", a->string);
            const cJSON *l = cJSON_GetObjectItemCaseSensitive(t, "language");
            const char *lang = a->string;
            if (l) {
                if (!cJSON_IsString(l)) return bad(p, "aliases.%s[].language is not a string", a->string);
                lang = l->valuestring;
            }
            PE_TRY(st, add_text(p, PE_KG_ALIAS, lang, v->valuestring));
        }
    }
    return PE_OK;
}

static pe_status parse_sitelinks(imp_wd *p, const cJSON *node)
{
    const cJSON *m;
    pe_status st;
    PE_TRY(st, get_map(p, node, "sitelinks", &m));
    if (!m) return PE_OK;
    for (const cJSON *s = m->child; s; s = s->next) {
        if (!cJSON_IsObject(s)) return bad(p, "sitelinks.%s is not an object", s->string);
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(s, "title");
        if (!cJSON_IsString(t)) return bad(p, "sitelinks.%s.title is not a string", s->string);
        const cJSON *site = cJSON_GetObjectItemCaseSensitive(s, "site");
        if (site && !cJSON_IsString(site)) return bad(p, "sitelinks.%s.site is not a string", s->string);
        GROW(p->links, p->n_links, p->cap_links);
        p->links[p->n_links++] = (wd_link){site ? site->valuestring : s->string, t->valuestring};
    }
    return PE_OK;
}

/* 1 and *out, 0 when absent or null, -1 when not a number, -2 when a
 * number out of the range of a double ("+1e999999": it would be stored as
 * infinity and printed as null). */
static int get_number(const cJSON *o, const char *name, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!v || cJSON_IsNull(v)) return 0;
    double d;
    if (cJSON_IsNumber(v)) d = v->valuedouble;
    else if (cJSON_IsString(v)) {
        char *end;
        d = strtod(v->valuestring, &end);
        if (end == v->valuestring || *end != '\0') return -1;
    } else return -1;
    if (!isfinite(d)) return -2;
    *out = d;
    return 1;
}

/* "amount" of claim prop as a message fragment for get_number's result r. */
static pe_status bad_number(imp_wd *p, const char *prop, const char *what, const cJSON *val, const char *name, int r)
{
    if (r == -2) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(val, name);
        return bad(p, "claim %s: %s '%.40s' is out of the range of a double", prop, what,
                   cJSON_IsString(v) ? v->valuestring : "(a number)");
    }
    return bad(p, "claim %s: %s is %s", prop, what, r == 0 ? "missing" : "not a number");
}

static const char *str_of(const cJSON *v, int *wrong)
{
    if (!v || cJSON_IsNull(v)) return NULL;
    if (!cJSON_IsString(v)) { *wrong = 1; return NULL; }
    return v->valuestring;
}

static const char *opt_string(const cJSON *o, const char *name, int *wrong)
{
    return str_of(cJSON_GetObjectItemCaseSensitive(o, name), wrong);
}

/* mainsnak.datavalue -> value. `sdt` is the snak's datatype (may be NULL). */
static pe_status parse_datavalue(imp_wd *p, const char *prop, const char *sdt, const cJSON *dv, wd_stmt *s)
{
    pe_kg_value *v = &s->o.v;
    memset(&s->o, 0, sizeof s->o);
    s->idbuf[0] = '\0';
    if (!cJSON_IsObject(dv)) return bad(p, "claim %s: datavalue is not an object", prop);
    const cJSON *ty = cJSON_GetObjectItemCaseSensitive(dv, "type");
    const cJSON *val = cJSON_GetObjectItemCaseSensitive(dv, "value");
    if (!cJSON_IsString(ty)) return bad(p, "claim %s: datavalue.type is not a string", prop);
    if (!val) return bad(p, "claim %s: datavalue has no value", prop);
    const char *t = ty->valuestring;
    int wrong = 0;
    if (strcmp(t, "string") == 0) {
        if (!cJSON_IsString(val)) return bad(p, "claim %s: string datavalue is not a string", prop);
        v->type = PE_KG_VAL_STRING;
        if (sdt && strcmp(sdt, "external-id") == 0) v->type = PE_KG_VAL_EXTERNAL_ID;
        else if (sdt && strcmp(sdt, "url") == 0) v->type = PE_KG_VAL_URL;
        v->text = val->valuestring;
        v->text_len = strlen(val->valuestring);
        return PE_OK;
    }
    if (!cJSON_IsObject(val)) return bad(p, "claim %s: datavalue.value is not an object", prop);
    if (strcmp(t, "wikibase-entityid") == 0) {
        const char *id = opt_string(val, "id", &wrong);
        if (wrong) return bad(p, "claim %s: entity id is not a string", prop);
        if (!id) {
            const char *et = opt_string(val, "entity-type", &wrong);
            double num;
            if (wrong || !et || get_number(val, "numeric-id", &num) != 1 || num < 1 || num > 1e15 ||
                num != (double)(int64_t)num)
                return bad(p, "claim %s: entity value has neither an id nor entity-type and numeric-id", prop);
            char c = strcmp(et, "item") == 0 ? 'Q' : strcmp(et, "property") == 0 ? 'P'
                   : strcmp(et, "lexeme") == 0 ? 'L' : 0;
            if (!c) return bad(p, "claim %s: entity-type '%s' needs an id", prop, et);
            snprintf(s->idbuf, sizeof s->idbuf, "%c%.0f", c, num);
            id = s->idbuf;
        }
        size_t n = strlen(id);
        if (!imp_wd_valid_id(id, n, 1)) return bad(p, "claim %s: invalid entity id '%.40s'", prop, id);
        v->type = PE_KG_VAL_ENTITY;
        s->o.term = id;
        s->o.term_len = n;
        return PE_OK;
    }
    if (strcmp(t, "monolingualtext") == 0) {
        const char *text = opt_string(val, "text", &wrong);
        const char *lang = opt_string(val, "language", &wrong);
        if (wrong || !text || !lang) return bad(p, "claim %s: monolingualtext needs text and language strings", prop);
        v->type = PE_KG_VAL_MONOTEXT;
        v->text = text;
        v->text_len = strlen(text);
        v->lang = lang;
        return PE_OK;
    }
    if (strcmp(t, "quantity") == 0) {
        double a;
        int r = get_number(val, "amount", &a);
        if (r != 1) return bad_number(p, prop, "quantity amount", val, "amount", r);
        v->type = PE_KG_VAL_QUANTITY;
        v->amount = a;
        v->lower = v->upper = NAN;
        if ((r = get_number(val, "lowerBound", &v->lower)) < 0)
            return bad_number(p, prop, "quantity lowerBound", val, "lowerBound", r);
        if ((r = get_number(val, "upperBound", &v->upper)) < 0)
            return bad_number(p, prop, "quantity upperBound", val, "upperBound", r);
        v->unit = opt_string(val, "unit", &wrong);
        if (wrong) return bad(p, "claim %s: quantity unit is not a string", prop);
        return PE_OK;
    }
    if (strcmp(t, "time") == 0) {
        const char *time = opt_string(val, "time", &wrong);
        double prec = 11;
        if (wrong || !time) return bad(p, "claim %s: time value has no time string", prop);
        int r = get_number(val, "precision", &prec);
        if (r < 0 || prec < 0 || prec > 14) return bad(p, "claim %s: time precision is not 0..14", prop);
        v->type = PE_KG_VAL_TIME;
        v->text = time;
        v->text_len = strlen(time);
        v->precision = (int)prec;
        v->calendar = opt_string(val, "calendarmodel", &wrong);
        if (wrong) return bad(p, "claim %s: time calendarmodel is not a string", prop);
        return PE_OK;
    }
    if (strcmp(t, "globecoordinate") == 0) {
        double lat, lon, pr = NAN;
        int r;
        if ((r = get_number(val, "latitude", &lat)) != 1) return bad_number(p, prop, "latitude", val, "latitude", r);
        if ((r = get_number(val, "longitude", &lon)) != 1) return bad_number(p, prop, "longitude", val, "longitude", r);
        if ((r = get_number(val, "precision", &pr)) < 0)
            return bad_number(p, prop, "coordinate precision", val, "precision", r);
        v->type = PE_KG_VAL_COORD;
        v->lat = lat;
        v->lon = lon;
        v->coord_precision = pr;
        v->globe = opt_string(val, "globe", &wrong);
        if (wrong) return bad(p, "claim %s: coordinate globe is not a string", prop);
        return PE_OK;
    }
    return bad(p, "claim %s: unknown datavalue type '%.40s'", prop, t);
}

static pe_status parse_claims(imp_wd *p, const cJSON *node, const char *name)
{
    const cJSON *m;
    pe_status st;
    PE_TRY(st, get_map(p, node, name, &m));
    if (!m) return PE_OK;
    for (const cJSON *arr = m->child; arr; arr = arr->next) {
        const char *key = arr->string;
        if (!imp_wd_valid_id(key, strlen(key), 0) || key[0] != 'P')
            return bad(p, "claims: invalid property id '%.40s'", key);
        if (!cJSON_IsArray(arr)) return bad(p, "claims.%s is not an array", key);
        for (const cJSON *c = arr->child; c; c = c->next) {
            if (!cJSON_IsObject(c)) return bad(p, "claims.%s has a statement that is not an object", key);
            /* one pass over the statement's and the snak's members */
            const cJSON *ms = NULL, *rank_n = NULL, *prop_n = NULL, *snak_n = NULL, *dt_n = NULL, *dv = NULL;
            for (const cJSON *f = c->child; f; f = f->next) {
                if (!ms && strcmp(f->string, "mainsnak") == 0) ms = f;
                else if (!rank_n && strcmp(f->string, "rank") == 0) rank_n = f;
            }
            if (!cJSON_IsObject(ms)) return bad(p, "claims.%s: mainsnak is missing or not an object", key);
            for (const cJSON *f = ms->child; f; f = f->next) {
                const char *k = f->string;
                if (k[0] == 'p' && !prop_n && strcmp(k, "property") == 0) prop_n = f;
                else if (k[0] == 's' && !snak_n && strcmp(k, "snaktype") == 0) snak_n = f;
                else if (k[0] == 'd' && !dt_n && strcmp(k, "datatype") == 0) dt_n = f;
                else if (k[0] == 'd' && !dv && strcmp(k, "datavalue") == 0) dv = f;
            }
            int wrong = 0;
            const char *prop = str_of(prop_n, &wrong);
            if (wrong) return bad(p, "claims.%s: mainsnak.property is not a string", key);
            if (!prop) prop = key;
            else if (!imp_wd_valid_id(prop, strlen(prop), 0) || prop[0] != 'P')
                return bad(p, "claims.%s: invalid mainsnak.property '%.40s'", key, prop);
            const char *snaktype = str_of(snak_n, &wrong);
            if (wrong) return bad(p, "claim %s: snaktype is not a string", prop);
            const char *rank_s = str_of(rank_n, &wrong);
            if (wrong) return bad(p, "claim %s: rank is not a string", prop);
            pe_kg_rank rank = PE_KG_RANK_NORMAL;
            if (rank_s) {
                if (strcmp(rank_s, "preferred") == 0) rank = PE_KG_RANK_PREFERRED;
                else if (strcmp(rank_s, "deprecated") == 0) rank = PE_KG_RANK_DEPRECATED;
                else if (strcmp(rank_s, "normal") != 0) return bad(p, "claim %s: unknown rank '%.40s'", prop, rank_s);
            }
            const char *sdt = str_of(dt_n, &wrong);
            if (wrong) return bad(p, "claim %s: datatype is not a string", prop);
            if (snaktype && strcmp(snaktype, "value") != 0) {
                if (strcmp(snaktype, "somevalue") != 0 && strcmp(snaktype, "novalue") != 0)
                    return bad(p, "claim %s: unknown snaktype '%.40s'", prop, snaktype);
                p->dropped++; /* "some value" / "no value": nothing to store */
                continue;
            }
            if (!dv) return bad(p, "claim %s: value snak without datavalue", prop);
            GROW(p->stmts, p->n_stmts, p->cap_stmts);
            wd_stmt *s = &p->stmts[p->n_stmts];
            PE_TRY(st, parse_datavalue(p, prop, sdt, dv, s));
            if (rank == PE_KG_RANK_DEPRECATED) { p->dropped++; continue; }
            s->prop = prop;
            s->rank = rank;
            p->n_stmts++;
        }
    }
    return PE_OK;
}

/* Validates one entity object into p's arrays; nothing written yet. */
static pe_status collect(imp_wd *p, const cJSON *e, pe_kg_entity_kind *kind, const char **datatype)
{
    pe_status st;
    p->n_texts = p->n_links = p->n_stmts = 0;
    p->dropped = 0;
    p->id = NULL;
    if (!cJSON_IsObject(e)) return bad(p, "entity is not a JSON object");
    /* one pass over the members instead of a lookup (a linear scan) each */
    const cJSON *id = NULL, *type_n = NULL, *dt_n = NULL, *labels = NULL, *descs = NULL, *aliases = NULL,
                *links = NULL, *claims = NULL, *lemmas = NULL, *stmts = NULL;
#define TAKE(var, name) if (!var && strcmp(k, name) == 0) { var = f; continue; }
    for (const cJSON *f = e->child; f; f = f->next) {
        const char *k = f->string;
        switch (k[0]) {
        case 'i': TAKE(id, "id"); break;
        case 't': TAKE(type_n, "type"); break;
        case 'd': TAKE(descs, "descriptions"); TAKE(dt_n, "datatype"); break;
        case 'l': TAKE(labels, "labels"); TAKE(lemmas, "lemmas"); break;
        case 'a': TAKE(aliases, "aliases"); break;
        case 's': TAKE(links, "sitelinks"); TAKE(stmts, "statements"); break;
        case 'c': TAKE(claims, "claims"); break;
        }
    }
#undef TAKE
    if (!id) return bad(p, "entity has no \"id\"");
    if (!cJSON_IsString(id)) return bad(p, "\"id\" is not a string");
    if (!imp_wd_valid_id(id->valuestring, strlen(id->valuestring), 0))
        return bad(p, "\"id\" '%.40s' is not a valid entity id", id->valuestring);
    p->id = id->valuestring;
    int wrong = 0;
    const char *type = str_of(type_n, &wrong);
    if (wrong) return bad(p, "\"type\" is not a string");
    char c = p->id[0];
    if (!type) type = c == 'Q' ? "item" : c == 'P' ? "property" : c == 'L' ? "lexeme" : "mediainfo";
    if (strcmp(type, "item") == 0) *kind = PE_KG_KIND_ITEM;
    else if (strcmp(type, "property") == 0) *kind = PE_KG_KIND_PROPERTY;
    else if (strcmp(type, "lexeme") == 0) *kind = PE_KG_KIND_LEXEME;
    else if (strcmp(type, "mediainfo") == 0) *kind = PE_KG_KIND_UNKNOWN;
    else return bad(p, "unknown entity type '%.40s'", type);
    if ((*kind == PE_KG_KIND_ITEM && c != 'Q') || (*kind == PE_KG_KIND_PROPERTY && c != 'P') ||
        (*kind == PE_KG_KIND_LEXEME && c != 'L'))
        return bad(p, "type '%s' does not match the id", type);
    *datatype = str_of(dt_n, &wrong);
    if (wrong) return bad(p, "\"datatype\" is not a string");
    if (*kind != PE_KG_KIND_PROPERTY) *datatype = NULL;
    PE_TRY(st, parse_terms(p, labels, "labels", PE_KG_LABEL));
    if (*kind == PE_KG_KIND_LEXEME) PE_TRY(st, parse_terms(p, lemmas, "lemmas", PE_KG_LABEL));
    PE_TRY(st, parse_aliases(p, aliases));
    PE_TRY(st, parse_terms(p, descs, "descriptions", PE_KG_DESCRIPTION));
    PE_TRY(st, parse_sitelinks(p, links));
    PE_TRY(st, parse_claims(p, claims, "claims"));
    if (*kind == PE_KG_KIND_UNKNOWN) PE_TRY(st, parse_claims(p, stmts, "statements"));
    return PE_OK;
}

static pe_status emit(imp_wd *p, pe_kg_entity_kind kind, const char *datatype, const imp_sink *sink)
{
    pe_status st;
    PE_TRY(st, sink->entity(sink->user, p->id, strlen(p->id), kind, datatype));
    /* Labels, then aliases, then descriptions, as the store lists them. */
    for (int k = PE_KG_LABEL; k <= PE_KG_DESCRIPTION; k++)
        for (size_t i = 0; i < p->n_texts; i++)
            if ((int)p->texts[i].kind == k)
                PE_TRY(st, sink->text(sink->user, p->texts[i].kind, p->texts[i].lang, p->texts[i].text,
                                      p->texts[i].len));
    for (size_t i = 0; i < p->n_links; i++) PE_TRY(st, sink->sitelink(sink->user, p->links[i].site, p->links[i].title));
    for (size_t i = 0; i < p->n_stmts; i++) {
        wd_stmt *s = &p->stmts[i];
        if (s->idbuf[0]) s->o.term = s->idbuf; /* the array may have moved since */
        PE_TRY(st, sink->statement(sink->user, s->prop, strlen(s->prop), &s->o, s->rank));
    }
    return PE_OK;
}

/* pe_utf8_valid on the non-ASCII runs only (most of a dump is ASCII). A
 * run between two ASCII bytes holds whole sequences when valid. */
static int utf8_ok(const char *s, size_t n, size_t *bad_at)
{
    size_t i = 0;
    while (i < n) {
        while (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (w & 0x8080808080808080ull) break;
            i += 8;
        }
        while (i < n && !(s[i] & 0x80)) i++;
        if (i >= n) return 1;
        size_t j = i;
        while (j < n && (s[j] & 0x80)) j++;
        size_t off = 0;
        if (!pe_utf8_valid(s + i, j - i, &off)) {
            *bad_at = i + off;
            return 0;
        }
        i = j;
    }
    return 1;
}

/* The id of the entity whose text comes before json[at], into idbuf ("" if none). */
static void id_before(const char *json, size_t at, char *idbuf, size_t cap)
{
    const char *idp = memmem(json, at, "\"id\":", 5);
    idbuf[0] = '\0';
    if (!idp) return;
    idp += 5;
    while (idp < json + at && *idp == ' ') idp++;
    if (idp < json + at && *idp == '"') {
        size_t k = 0;
        idp++;
        while (k + 1 < cap && idp + k < json + at && idp[k] != '"') { idbuf[k] = idp[k]; k++; }
        idbuf[k] = '\0';
    }
}

int imp_wd_bad_entities(const imp_wd *p) { return p->bad_entities > INT_MAX ? INT_MAX : (int)p->bad_entities; }

/* A response's entities each stand alone: a bad one is skipped (counted,
 * the first one's error kept) and the others are written, since one odd
 * entity should not cost the other 49 of a wbgetentities batch. */
pe_status imp_wd_parse(imp_wd *p, const char *json, size_t len, const char *file, uint64_t line,
                       const imp_sink *sink, uint64_t *n_entities, uint64_t *dropped, pe_error *err)
{
    p->bad_entities = 0;
    p->file = file;
    p->line = line;
    p->err = err;
    p->id = NULL;
    *n_entities = 0;
    size_t bad_at;
    if (!utf8_ok(json, len, &bad_at)) {
        /* Name the entity if its id comes before the bad byte. */
        const char *idp = memmem(json, bad_at, "\"id\":", 5);
        char idbuf[24] = "";
        if (idp) {
            idp += 5;
            while (*idp == ' ') idp++;
            if (*idp == '"') {
                size_t k = 0;
                idp++;
                while (k + 1 < sizeof idbuf && idp + k < json + bad_at && idp[k] != '"') { idbuf[k] = idp[k]; k++; }
                idbuf[k] = '\0';
            }
        }
        if (idbuf[0])
            return pe_error_set(err, PE_ERR_UTF8, "%s:%llu: entity %s: invalid UTF-8 at byte %zu of the line", file,
                                (unsigned long long)line, idbuf, bad_at);
        return pe_error_set(err, PE_ERR_UTF8, "%s:%llu: invalid UTF-8 at byte %zu of the line", file,
                            (unsigned long long)line, bad_at);
    }
    size_t nul = imp_nul_at(json, len);
    if (nul < len) {
        char idbuf[24];
        id_before(json, nul, idbuf, sizeof idbuf);
        return pe_error_set(err, PE_ERR_PARSE, "%s:%llu: %s%s%sa string holds a NUL character (\\u0000) at byte %zu "
                            "of the line: record skipped, not stored cut short", file, (unsigned long long)line,
                            idbuf[0] ? "entity " : "", idbuf, idbuf[0] ? ": " : "", nul);
    }
    /* Chunks from earlier records are reused; a huge record's chunk is
     * given back so that memory stays bounded by the largest recent record. */
    arena_reset(&p->arena);
    tls_arena = &p->arena;
    cJSON *root = cJSON_ParseWithLength(json, len);
    tls_arena = NULL;
    int in_arena = root && arena_owns(&p->arena, root);
    if (!root) {
        const char *where = cJSON_GetErrorPtr();
        size_t col = where && where >= json && where <= json + len ? (size_t)(where - json) : 0;
        return pe_error_set(err, PE_ERR_PARSE, "%s:%llu: malformed JSON near byte %zu of the line", file,
                            (unsigned long long)line, col);
    }
    pe_status st = PE_OK;
    const cJSON *ents = cJSON_IsObject(root) ? cJSON_GetObjectItemCaseSensitive(root, "entities") : NULL;
    if (ents && !cJSON_GetObjectItemCaseSensitive(root, "id")) {
        /* wbgetentities / Special:EntityData response */
        if (!cJSON_IsObject(ents)) {
            st = bad(p, "\"entities\" is not an object");
            goto out;
        }
        uint64_t drop = 0;
        pe_error first;
        pe_error_clear(&first);
        for (const cJSON *e = ents->child; e; e = e->next) {
            if (cJSON_IsObject(e) && cJSON_GetObjectItemCaseSensitive(e, "missing")) {
                drop++; /* the API answered "no such entity" */
                continue;
            }
            pe_kg_entity_kind kind;
            const char *dt;
            st = collect(p, e, &kind, &dt);
            if (st == PE_ERR_PARSE || st == PE_ERR_UTF8) { /* this entity only */
                if (!p->bad_entities++) first = *err;
                st = PE_OK;
                continue;
            }
            if (st != PE_OK) goto out;
            if ((st = emit(p, kind, dt, sink)) != PE_OK) goto out;
            drop += p->dropped;
            (*n_entities)++;
        }
        *dropped += drop;
        if (p->bad_entities) *err = first;
    } else {
        pe_kg_entity_kind kind;
        const char *dt;
        if ((st = collect(p, root, &kind, &dt)) != PE_OK) goto out;
        if ((st = emit(p, kind, dt, sink)) != PE_OK) goto out;
        *dropped += p->dropped;
        *n_entities = 1;
    }
out:
    if (!in_arena) cJSON_Delete(root);
    return st;
}

/* ---- language filter ------------------------------------------------------ */

pe_status imp_langs_parse(const char *spec, imp_langs *out, pe_error *err)
{
    memset(out, 0, sizeof *out);
    if (!spec || !*spec) { out->all = 1; return PE_OK; }
    const char *s = spec;
    while (*s) {
        const char *e = strchr(s, ',');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        while (n && *s == ' ') { s++; n--; }
        while (n && s[n - 1] == ' ') n--;
        if (n == 0 || n >= sizeof out->code[0])
            return pe_error_set(err, PE_ERR_INVALID, "language list '%s': empty or too long language code", spec);
        if (out->n == IMP_MAX_LANGS)
            return pe_error_set(err, PE_ERR_INVALID, "language list '%s': more than %d languages", spec, IMP_MAX_LANGS);
        memcpy(out->code[out->n], s, n);
        out->code[out->n][n] = '\0';
        out->n++;
        if (!e) break;
        s = e + 1;
    }
    return PE_OK;
}

int imp_langs_keep(const imp_langs *l, const char *lang)
{
    if (!l || l->all) return 1;
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->code[i], lang) == 0) return 1;
    return 0;
}
