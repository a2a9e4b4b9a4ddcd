/* ps_prov.c - a user's attribute provenance as W3C PROV-O. The graph is
 * built once as a list of triples (grouped by subject) and written either
 * as Turtle or as JSON-LD, so that both formats carry the same statements. */
#include "ps_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define NS_PROV "http://www.w3.org/ns/prov#"
#define NS_PE "urn:persona:vocab#"
#define NS_XSD "http://www.w3.org/2001/XMLSchema#"
#define NS_RDF "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
#define RDF_TYPE NS_RDF "type"
#define WD_ENTITY "http://www.wikidata.org/entity/"
#define WD_DIRECT "http://www.wikidata.org/prop/direct/"
#define PUT(b, lit) ps_buf_add((b), (lit), strlen(lit))

typedef struct triple {
    const char *s, *p, *o;
    const char *dt; /* literal datatype IRI, NULL for a plain string */
    int literal;
    size_t idx;     /* order of addition: kept within a subject */
} triple;

typedef struct graph {
    triple *t;
    size_t n, cap;
    ps_arena a;
    const char **seen; /* nodes already described (messages, models) */
    size_t nseen, capseen;
    int oom;
} graph;

static const char *gstr(graph *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static const char *gstr(graph *g, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = n >= 0 ? ps_arena_alloc(&g->a, (size_t)n + 1) : NULL;
    if (!s) {
        g->oom = 1;
        return "";
    }
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

static void add(graph *g, const char *s, const char *p, const char *o, int literal, const char *dt)
{
    if (!o) return;
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 64;
        triple *nt = realloc(g->t, cap * sizeof *nt);
        if (!nt) {
            g->oom = 1;
            return;
        }
        g->t = nt;
        g->cap = cap;
    }
    g->t[g->n] = (triple){s, p, o, dt, literal, g->n};
    g->n++;
}

static void iri(graph *g, const char *s, const char *p, const char *o) { add(g, s, p, o, 0, NULL); }
static void lit(graph *g, const char *s, const char *p, const char *o) { add(g, s, p, o, 1, NULL); }

static void dbl(graph *g, const char *s, const char *p, double v)
{
    if (!isfinite(v)) return;
    char buf[40];
    snprintf(buf, sizeof buf, "%.15g", v);
    if (strtod(buf, NULL) != v) snprintf(buf, sizeof buf, "%.17g", v);
    if (!strpbrk(buf, ".eEn")) strcat(buf, ".0"); /* a double's lexical form, not an integer's */
    add(g, s, p, gstr(g, "%s", buf), 1, NS_XSD "double");
}

static void integer(graph *g, const char *s, const char *p, uint64_t v)
{
    add(g, s, p, gstr(g, "%llu", (unsigned long long)v), 1, NS_XSD "integer");
}

static void datetime(graph *g, const char *s, const char *p, double t)
{
    if (!isfinite(t)) return;
    time_t sec = (time_t)floor(t);
    int ms = (int)llround((t - (double)sec) * 1000);
    if (ms >= 1000) { sec++; ms -= 1000; }
    struct tm tm;
    if (!gmtime_r(&sec, &tm)) return;
    char buf[64];
    size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    if (ms) snprintf(buf + n, sizeof buf - n, ".%03dZ", ms);
    else snprintf(buf + n, sizeof buf - n, "Z");
    add(g, s, p, gstr(g, "%s", buf), 1, NS_XSD "dateTime");
}

/* 1 the first time a node is seen. */
static int first_time(graph *g, const char *node)
{
    for (size_t i = 0; i < g->nseen; i++)
        if (strcmp(g->seen[i], node) == 0) return 0;
    if (g->nseen == g->capseen) {
        size_t cap = g->capseen ? g->capseen * 2 : 32;
        const char **ns = realloc(g->seen, cap * sizeof *ns);
        if (!ns) {
            g->oom = 1;
            return 0;
        }
        g->seen = ns;
        g->capseen = cap;
    }
    g->seen[g->nseen++] = node;
    return 1;
}

/* Percent-encodes everything but RFC 3986 unreserved characters. */
static const char *pct(graph *g, const char *s)
{
    size_t n = strlen(s);
    char *o = ps_arena_alloc(&g->a, 3 * n + 1);
    if (!o) {
        g->oom = 1;
        return "";
    }
    static const char hx[] = "0123456789ABCDEF";
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
            c == '_' || c == '~') {
            o[k++] = (char)c;
        } else {
            o[k++] = '%';
            o[k++] = hx[c >> 4];
            o[k++] = hx[c & 15];
        }
    }
    o[k] = '\0';
    return o;
}

static int wikidata_id(const char *t, char kind)
{
    size_t n = strlen(t);
    if (n < 2 || n > 20 || (kind ? t[0] != kind : (t[0] != 'Q' && t[0] != 'P' && t[0] != 'L')) || t[1] == '0')
        return 0;
    for (size_t i = 1; i < n; i++)
        if (t[i] < '0' || t[i] > '9') return 0;
    return 1;
}

static int safe_iri(const char *t)
{
    if (strncmp(t, "http://", 7) != 0 && strncmp(t, "https://", 8) != 0) return 0;
    for (const unsigned char *p = (const unsigned char *)t; *p; p++)
        if (*p <= 0x20 || strchr("<>\"{}|^`\\", *p)) return 0;
    return 1;
}

/* A graph term given as text: Wikidata ids and IRIs become IRIs, anything
 * else a literal. */
static void term(graph *g, const char *s, const char *p, const char *t, int predicate)
{
    if (!t) return;
    if (wikidata_id(t, 0)) iri(g, s, p, gstr(g, "%s%s", predicate && t[0] == 'P' ? WD_DIRECT : WD_ENTITY, t));
    else if (safe_iri(t)) iri(g, s, p, t);
    else lit(g, s, p, t);
}

static void build(graph *g, const char *user, const pe_ps_attr_list *l)
{
    char ref[65];
    pe_ps_user_ref(user, ref);
    const char *base = gstr(g, "urn:persona:user:%s", ref);
    iri(g, base, RDF_TYPE, NS_PROV "Agent");
    lit(g, base, NS_PE "userId", user);
    for (size_t i = 0; i < l->n; i++) {
        const pe_ps_attr *at = &l->attrs[i];
        const char *A = gstr(g, "%s/attr/%llu", base, (unsigned long long)at->id);
        iri(g, A, RDF_TYPE, NS_PROV "Entity");
        iri(g, A, RDF_TYPE, NS_PE "AttributeValue");
        iri(g, A, NS_PROV "wasAttributedTo", base);
        lit(g, A, NS_PE "attribute", at->attribute);
        lit(g, A, NS_PE "relation", at->relation);
        lit(g, A, NS_PE "value", at->value);
        term(g, A, NS_PE "entity", at->entity, 0);
        dbl(g, A, NS_PE "confidence", at->confidence);
        lit(g, A, NS_PE "state", pe_ps_state_name(at->state));
        lit(g, A, NS_PE "sensitivity", pe_ps_sensitivity_name(at->sensitivity));
        datetime(g, A, NS_PE "firstSeen", at->first_seen);
        datetime(g, A, NS_PE "lastSeen", at->last_seen);
        lit(g, A, NS_PE "replacedBy", at->replaced_by);
        for (size_t e = 0; e < at->n_evidence; e++) {
            const pe_ps_evidence *ev = &at->evidence[e];
            const char *M = gstr(g, "%s/message/%s", base, pct(g, ev->message_id));
            const char *X = gstr(g, "%s/evidence/%zu", A, e + 1);
            const char *D = gstr(g, "%s/derivation", X);
            if (first_time(g, M)) {
                iri(g, M, RDF_TYPE, NS_PROV "Entity");
                iri(g, M, RDF_TYPE, NS_PE "Message");
                lit(g, M, NS_PE "messageId", ev->message_id);
                datetime(g, M, NS_PE "messageTime", ev->message_time);
                iri(g, M, NS_PROV "wasAttributedTo", base);
            }
            iri(g, A, NS_PROV "wasDerivedFrom", M);
            iri(g, A, NS_PROV "wasGeneratedBy", X);
            iri(g, A, NS_PROV "qualifiedDerivation", D);

            iri(g, X, RDF_TYPE, NS_PROV "Activity");
            iri(g, X, RDF_TYPE, NS_PE "Extraction");
            lit(g, X, NS_PE "method", pe_ps_method_name(ev->method));
            lit(g, X, NS_PE "rule", ev->rule);
            datetime(g, X, NS_PROV "endedAtTime", ev->recorded);
            iri(g, X, NS_PROV "used", M);
            if (ev->model_id) {
                const char *G = gstr(g, "urn:persona:model:%s/%s", pct(g, ev->model_id),
                                     pct(g, ev->model_version ? ev->model_version : ""));
                iri(g, X, NS_PROV "wasAssociatedWith", G);
                if (first_time(g, G)) {
                    iri(g, G, RDF_TYPE, NS_PROV "SoftwareAgent");
                    lit(g, G, NS_PE "modelId", ev->model_id);
                    lit(g, G, NS_PE "modelVersion", ev->model_version);
                }
            }
            for (size_t f = 0; f < ev->n_facts; f++) {
                const pe_ps_fact *fa = &ev->facts[f];
                const char *F = gstr(g, "%s/fact/%zu", X, f + 1);
                iri(g, X, NS_PROV "used", F);
                iri(g, F, RDF_TYPE, NS_PROV "Entity");
                iri(g, F, RDF_TYPE, NS_PE "GraphFact");
                term(g, F, NS_PE "subject", fa->subject, 0);
                term(g, F, NS_PE "predicate", fa->predicate, 1);
                term(g, F, NS_PE "object", fa->object, 0);
                lit(g, F, NS_PE "importSource", fa->source);
                lit(g, F, NS_PE "dumpDate", fa->dump_date);
            }

            iri(g, D, RDF_TYPE, NS_PROV "Derivation");
            iri(g, D, NS_PROV "entity", M);
            iri(g, D, NS_PROV "hadActivity", X);
            dbl(g, D, NS_PE "relationScore", ev->relation_score);
            dbl(g, D, NS_PE "nerScore", ev->ner_score);
            dbl(g, D, NS_PE "linkScore", ev->link_score);
            term(g, D, NS_PE "linkedEntity", ev->entity, 0);
            integer(g, D, NS_PE "spanStart", ev->span_start);
            integer(g, D, NS_PE "spanEnd", ev->span_end);
            lit(g, D, NS_PE "snippet", ev->snippet);
            lit(g, D, NS_PE "replaced", ev->replaced);
        }
    }
}

/* ---- writers ------------------------------------------------------------------------ */

/* Subjects in byte order, each subject's triples in the order they were
 * added, so that each node is written once. */
static int by_subject(const void *a, const void *b)
{
    const triple *x = a, *y = b;
    int c = strcmp(x->s, y->s);
    return c ? c : x->idx < y->idx ? -1 : x->idx > y->idx;
}

static const struct { const char *prefix, *ns; } prefixes[] = {
    {"prov", NS_PROV}, {"pe", NS_PE}, {"xsd", NS_XSD}, {"rdf", NS_RDF}};

/* "prov:Entity" for IRIs in a known namespace with a plain local name, else NULL. */
static int compact(const char *iri_s, char *out, size_t cap)
{
    for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++) {
        size_t n = strlen(prefixes[i].ns);
        if (strncmp(iri_s, prefixes[i].ns, n) != 0 || !iri_s[n]) continue;
        for (const char *p = iri_s + n; *p; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9'))) return 0;
        snprintf(out, cap, "%s:%s", prefixes[i].prefix, iri_s + n);
        return 1;
    }
    return 0;
}

static void ttl_iri(ps_buf *b, const char *s)
{
    char c[256];
    if (strlen(s) < 200 && compact(s, c, sizeof c)) ps_buf_add(b, c, strlen(c));
    else ps_buf_printf(b, "<%s>", s); /* our IRIs are percent-encoded or checked by safe_iri */
}

static void ttl_string(ps_buf *b, const char *s)
{
    PUT(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': PUT(b, "\\\""); break;
        case '\\': PUT(b, "\\\\"); break;
        case '\n': PUT(b, "\\n"); break;
        case '\r': PUT(b, "\\r"); break;
        case '\t': PUT(b, "\\t"); break;
        default:
            if (*p < 0x20 || *p == 0x7F) ps_buf_printf(b, "\\u%04X", *p);
            else ps_buf_add(b, p, 1);
        }
    }
    PUT(b, "\"");
}

static void write_turtle(const graph *g, ps_buf *b)
{
    for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++)
        ps_buf_printf(b, "@prefix %s: <%s> .\n", prefixes[i].prefix, prefixes[i].ns);
    for (size_t i = 0; i < g->n; i++) {
        const triple *t = &g->t[i];
        int same = i > 0 && strcmp(g->t[i - 1].s, t->s) == 0;
        if (!same) {
            PUT(b, "\n");
            ttl_iri(b, t->s);
            PUT(b, "\n");
        }
        PUT(b, "    ");
        if (strcmp(t->p, RDF_TYPE) == 0) PUT(b, "a");
        else ttl_iri(b, t->p);
        PUT(b, " ");
        if (t->literal) {
            ttl_string(b, t->o);
            if (t->dt) {
                PUT(b, "^^");
                ttl_iri(b, t->dt);
            }
        } else {
            ttl_iri(b, t->o);
        }
        int last = i + 1 == g->n || strcmp(g->t[i + 1].s, t->s) != 0;
        PUT(b, last ? " .\n" : " ;\n");
    }
}

static void json_string(ps_buf *b, const char *s)
{
    PUT(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': PUT(b, "\\\""); break;
        case '\\': PUT(b, "\\\\"); break;
        case '\n': PUT(b, "\\n"); break;
        case '\r': PUT(b, "\\r"); break;
        case '\t': PUT(b, "\\t"); break;
        case '\b': PUT(b, "\\b"); break;
        case '\f': PUT(b, "\\f"); break;
        default:
            if (*p < 0x20) ps_buf_printf(b, "\\u%04x", *p);
            else ps_buf_add(b, p, 1);
        }
    }
    PUT(b, "\"");
}

static void json_key(ps_buf *b, const char *iri_s)
{
    char c[256];
    json_string(b, strlen(iri_s) < 200 && compact(iri_s, c, sizeof c) ? c : iri_s);
}

/* Node objects, one per subject run; properties in the order of the
 * triples, each an array of values (the same predicate may repeat). */
static void write_jsonld(const graph *g, ps_buf *b)
{
    PUT(b, "{\n  \"@context\": {");
    for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++) {
        ps_buf_printf(b, "%s\n    \"%s\": ", i ? "," : "", prefixes[i].prefix);
        json_string(b, prefixes[i].ns);
    }
    PUT(b, "\n  },\n  \"@graph\": [");
    size_t i = 0;
    int first_node = 1;
    while (i < g->n) {
        size_t end = i;
        while (end < g->n && strcmp(g->t[end].s, g->t[i].s) == 0) end++;
        PUT(b, first_node ? "\n    {\"@id\": " : ",\n    {\"@id\": ");
        first_node = 0;
        json_string(b, g->t[i].s);
        /* @type first, then each distinct predicate with all its values */
        int any_type = 0;
        for (size_t j = i; j < end; j++) {
            if (strcmp(g->t[j].p, RDF_TYPE) != 0 || g->t[j].literal) continue;
            PUT(b, any_type ? ", " : ", \"@type\": [");
            json_key(b, g->t[j].o);
            any_type = 1;
        }
        if (any_type) PUT(b, "]");
        for (size_t j = i; j < end; j++) {
            const triple *t = &g->t[j];
            if (strcmp(t->p, RDF_TYPE) == 0 && !t->literal) continue;
            int seen = 0;
            for (size_t q = i; q < j && !seen; q++)
                seen = strcmp(g->t[q].p, t->p) == 0;
            if (seen) continue;
            PUT(b, ",\n      ");
            json_key(b, t->p);
            PUT(b, ": [");
            int firstv = 1;
            for (size_t q = j; q < end; q++) {
                const triple *v = &g->t[q];
                if (strcmp(v->p, t->p) != 0) continue;
                PUT(b, firstv ? "{" : ", {");
                firstv = 0;
                if (v->literal) {
                    PUT(b, "\"@value\": ");
                    json_string(b, v->o);
                    if (v->dt) {
                        PUT(b, ", \"@type\": ");
                        json_key(b, v->dt);
                    }
                } else {
                    PUT(b, "\"@id\": ");
                    json_string(b, v->o);
                }
                PUT(b, "}");
            }
            PUT(b, "]");
        }
        PUT(b, "}");
        i = end;
    }
    PUT(b, "\n  ]\n}\n");
}

pe_status pe_ps_export_prov(pe_ps_reader *r, const char *user, const char *attribute, pe_ps_prov_format fmt,
                            char **out, size_t *len)
{
    if (out) *out = NULL;
    if (len) *len = 0;
    if (!r || !out) return PE_ERR_INVALID;
    if (fmt != PE_PS_PROV_TURTLE && fmt != PE_PS_PROV_JSONLD)
        return ps_fail(r->ps, PE_ERR_INVALID, "unknown provenance format %d", fmt);
    pe_ps_attr_list *l;
    pe_status st;
    st = pe_ps_attributes(r, user, attribute, PE_PS_LIST_HISTORY | PE_PS_LIST_EVIDENCE, &l);
    if (st != PE_OK) return st;
    graph g;
    memset(&g, 0, sizeof g);
    build(&g, user, l);
    ps_buf b = {0};
    if (!g.oom) {
        if (g.n) qsort(g.t, g.n, sizeof *g.t, by_subject);
        if (fmt == PE_PS_PROV_TURTLE) write_turtle(&g, &b);
        else write_jsonld(&g, &b);
    }
    int oom = g.oom || b.oom;
    free(g.t);
    free(g.seen);
    ps_arena_free(&g.a);
    pe_ps_attr_list_free(l);
    if (oom) {
        ps_buf_free(&b);
        return ps_fail(r->ps, PE_ERR_NOMEM, "out of memory");
    }
    if (!b.b) ps_buf_add(&b, "", 0);
    *out = (char *)b.b;
    if (len) *len = b.len;
    return PE_OK;
}
