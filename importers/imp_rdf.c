/* imp_rdf.c - RDF through raptor2 (N-Triples, Turtle, RDF/XML), mapped onto
 * the sink:
 *
 *   rdfs:label, skos:prefLabel, schema:name (literal)   -> label (language tag, "" if none)
 *   skos:altLabel (literal)                              -> alias
 *   schema:description, rdfs:comment, dbo:abstract       -> description
 *   owl:sameAs (IRI/blank object)                        -> sameAs merge
 *   dbo:wikiPageRedirects X -> Y                         -> alias of Y: the title of X
 *                                                          (IRI local name, '_' as space, %XX decoded)
 *   rdf:type, rdfs:subClassOf and every other IRI object -> entity-valued statement
 *   other literals -> string (plain / xsd:string), language-tagged text, or typed literal
 *
 * Texts in languages outside the --lang filter are dropped (counted);
 * untagged ones are kept. Blank nodes become "_:<scope>_<id>" so that two
 * files' "_:b1" stay apart.
 */
#define _GNU_SOURCE /* memmem */
#include "imp_internal.h"

#include <raptor2.h>
#include <stdlib.h>
#include <string.h>

#define RDF_NS "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
#define RDFS_NS "http://www.w3.org/2000/01/rdf-schema#"
#define SKOS_NS "http://www.w3.org/2004/02/skos/core#"
#define OWL_NS "http://www.w3.org/2002/07/owl#"
#define XSD_NS "http://www.w3.org/2001/XMLSchema#"
#define DBO_NS "http://dbpedia.org/ontology/"

enum pred_role { ROLE_OTHER, ROLE_LABEL, ROLE_ALIAS, ROLE_DESC, ROLE_SAMEAS, ROLE_REDIRECT };

static int iri_eq(const imp_rdf_term *t, const char *iri)
{
    size_t n = strlen(iri);
    return t->len == n && memcmp(t->s, iri, n) == 0;
}

static enum pred_role role_of(const imp_rdf_term *p)
{
    if (p->len < 20) return ROLE_OTHER;
    switch (p->s[p->len - 1]) { /* cheap pre-filter on the last character */
    case 'l':
        if (iri_eq(p, RDFS_NS "label") || iri_eq(p, SKOS_NS "prefLabel")) return ROLE_LABEL;
        if (iri_eq(p, SKOS_NS "altLabel")) return ROLE_ALIAS;
        break;
    case 'e':
        if (iri_eq(p, "http://schema.org/name") || iri_eq(p, "https://schema.org/name")) return ROLE_LABEL;
        break;
    case 'n':
        if (iri_eq(p, "http://schema.org/description") || iri_eq(p, "https://schema.org/description"))
            return ROLE_DESC;
        break;
    case 't':
        if (iri_eq(p, RDFS_NS "comment") || iri_eq(p, DBO_NS "abstract")) return ROLE_DESC;
        break;
    case 's':
        if (iri_eq(p, OWL_NS "sameAs")) return ROLE_SAMEAS;
        if (iri_eq(p, DBO_NS "wikiPageRedirects")) return ROLE_REDIRECT;
        break;
    }
    return ROLE_OTHER;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Title of a page IRI: local name after the last '/' or '#', '_' -> ' ',
 * %XX decoded. Language from a DBpedia host ("fr.dbpedia.org" -> "fr";
 * "dbpedia.org" -> "en"), else "". */
static size_t iri_title(const imp_rdf_term *t, char *out, size_t cap, char lang[16])
{
    const char *s = t->s, *e = t->s + t->len, *ln = s;
    for (const char *q = s; q < e; q++)
        if (*q == '/' || *q == '#') ln = q + 1;
    size_t n = 0;
    for (const char *q = ln; q < e && n + 1 < cap; q++) {
        if (*q == '_') out[n++] = ' ';
        else if (*q == '%' && q + 2 < e && hexval(q[1]) >= 0 && hexval(q[2]) >= 0) {
            out[n++] = (char)(hexval(q[1]) * 16 + hexval(q[2]));
            q += 2;
        } else out[n++] = *q;
    }
    out[n] = '\0';
    lang[0] = '\0';
    const char *host = memmem(s, t->len, "://", 3);
    if (host) {
        host += 3;
        const char *d = memmem(host, (size_t)(e - host), "dbpedia.org/", 12);
        if (d == host) strcpy(lang, "en");
        else if (d && d > host && d[-1] == '.' && (size_t)(d - host - 1) < 15 &&
                 !memchr(host, '/', (size_t)(d - host))) {
            memcpy(lang, host, (size_t)(d - host - 1));
            lang[d - host - 1] = '\0';
        }
    }
    return n;
}

pe_status imp_rdf_map(const imp_rdf_term *s, const imp_rdf_term *p, const imp_rdf_term *o,
                      const imp_langs *langs, const imp_sink *sink, uint64_t *dropped)
{
    pe_status st;
    /* Turtle and RDF/XML pass invalid UTF-8 through: a bad record, not stored. */
    if (!pe_utf8_valid(s->s, s->len, NULL) || !pe_utf8_valid(p->s, p->len, NULL) || !pe_utf8_valid(o->s, o->len, NULL) ||
        (o->lang && !pe_utf8_valid(o->lang, strlen(o->lang), NULL)))
        return PE_ERR_UTF8;
    /* A NUL (N-Triples "\u0000") would cut a C string short: a bad record. */
    if (memchr(s->s, 0, s->len) || memchr(p->s, 0, p->len) || memchr(o->s, 0, o->len)) return PE_ERR_PARSE;
    /* What the store refuses as a term or a language (PE_ERR_PARSE: a bad record). */
    if (s->len == 0 || (unsigned char)s->s[0] < 0x20 || p->len == 0 || (unsigned char)p->s[0] < 0x20 ||
        (o->kind != 'l' && (o->len == 0 || (unsigned char)o->s[0] < 0x20)) ||
        (o->lang && strlen(o->lang) > IMP_MAX_LANG_LEN))
        return PE_ERR_PARSE;
    enum pred_role role = role_of(p);
    const char *lang = o->lang ? o->lang : "";
    int text_role = (role == ROLE_LABEL || role == ROLE_ALIAS || role == ROLE_DESC) && o->kind == 'l' &&
                    (!o->datatype || iri_eq(&(imp_rdf_term){'u', o->datatype, strlen(o->datatype), 0, 0},
                                            XSD_NS "string") ||
                     iri_eq(&(imp_rdf_term){'u', o->datatype, strlen(o->datatype), 0, 0}, RDF_NS "langString"));
    if (text_role && *lang && !imp_langs_keep(langs, lang)) {
        (*dropped)++;
        return PE_OK;
    }
    if (role == ROLE_REDIRECT && o->kind != 'l') {
        char title[1024], tl[16];
        size_t n = iri_title(s, title, sizeof title, tl);
        if (*tl && !imp_langs_keep(langs, tl)) { (*dropped)++; return PE_OK; }
        if (n == 0 || !pe_utf8_valid(title, n, NULL)) { (*dropped)++; return PE_OK; }
        /* the redirect page itself is not an entity: its title names the target */
        PE_TRY(st, sink->subject(sink->user, o->s, o->len, 0));
        return sink->text(sink->user, PE_KG_ALIAS, tl, title, n);
    }
    PE_TRY(st, sink->subject(sink->user, s->s, s->len, 1));
    if (text_role) {
        pe_kg_text_kind k = role == ROLE_LABEL ? PE_KG_LABEL : role == ROLE_ALIAS ? PE_KG_ALIAS : PE_KG_DESCRIPTION;
        return sink->text(sink->user, k, lang, o->s, o->len);
    }
    if (role == ROLE_SAMEAS && o->kind != 'l') return sink->sameas(sink->user, o->s, o->len);
    imp_value v;
    memset(&v, 0, sizeof v);
    if (o->kind != 'l') {
        v.v.type = PE_KG_VAL_ENTITY;
        v.term = o->s;
        v.term_len = o->len;
    } else {
        v.v.text = o->s;
        v.v.text_len = o->len;
        if (o->lang && *o->lang) {
            v.v.type = PE_KG_VAL_MONOTEXT;
            v.v.lang = o->lang;
        } else if (!o->datatype || strcmp(o->datatype, XSD_NS "string") == 0) {
            v.v.type = PE_KG_VAL_STRING;
        } else {
            v.v.type = PE_KG_VAL_TYPED;
            v.v.datatype = o->datatype;
        }
    }
    return sink->statement(sink->user, p->s, p->len, &v, PE_KG_RANK_NORMAL);
}

/* ---- raptor driving -------------------------------------------------------- */

typedef struct rdf_ctx {
    const imp_rdf_options *opt;
    const imp_sink *sink;
    imp_input *in;
    raptor_parser *rp;
    pe_error *err;
    pe_status fail;        /* a sink/record error that stops everything */
    int errors;            /* syntax errors reported by raptor (Turtle/RDF-XML: fatal) */
    long last_bad_line;    /* N-Triples: line of the last counted bad record */
    long line_base;        /* N-Triples: lines before raptor's line 1 (resume) */
    char errmsg[PE_ERRMSG_MAX];
    uint64_t statements;
    uint64_t lines_fed;    /* Turtle/RDF-XML: newlines handed to raptor so far */
    char *blank[3];        /* scoped blank node ids for s, p, o */
    size_t blank_cap[3];
} rdf_ctx;

static pe_status to_term(rdf_ctx *c, int slot, raptor_term *t, imp_rdf_term *out)
{
    memset(out, 0, sizeof *out);
    switch (t->type) {
    case RAPTOR_TERM_TYPE_URI: {
        size_t n;
        out->kind = 'u';
        out->s = (const char *)raptor_uri_as_counted_string(t->value.uri, &n);
        out->len = n;
        return PE_OK;
    }
    case RAPTOR_TERM_TYPE_BLANK: {
        const char *scope = c->opt->blank_scope ? c->opt->blank_scope : "";
        size_t need = 2 + strlen(scope) + 1 + t->value.blank.string_len + 1;
        if (need > c->blank_cap[slot]) {
            char *nb = realloc(c->blank[slot], need + 32);
            if (!nb) return PE_ERR_NOMEM;
            c->blank[slot] = nb;
            c->blank_cap[slot] = need + 32;
        }
        int n = snprintf(c->blank[slot], c->blank_cap[slot], "_:%s_%.*s", scope, (int)t->value.blank.string_len,
                         (const char *)t->value.blank.string);
        out->kind = 'b';
        out->s = c->blank[slot];
        out->len = (size_t)n;
        return PE_OK;
    }
    case RAPTOR_TERM_TYPE_LITERAL:
        out->kind = 'l';
        out->s = (const char *)t->value.literal.string;
        out->len = t->value.literal.string_len;
        out->lang = (const char *)t->value.literal.language;
        out->datatype = t->value.literal.datatype ? (const char *)raptor_uri_as_string(t->value.literal.datatype) : NULL;
        return PE_OK;
    default:
        return PE_ERR_PARSE;
    }
}

static void stop(rdf_ctx *c, pe_status st)
{
    if (!c->fail) c->fail = st;
    raptor_parser_parse_abort(c->rp);
}

/* Turtle/RDF-XML: the line raptor is at (its locator when it keeps one,
 * else the line being fed: RDF/XML is fed a line at a time for this). */
static long fed_line(rdf_ctx *c)
{
    raptor_locator *loc = raptor_parser_get_locator(c->rp);
    if (c->opt->format == PE_IMPORT_TURTLE && loc && loc->line > 0) return loc->line;
    return (long)c->lines_fed + 1;
}

/* N-Triples: one bad record per line, however many messages raptor gives. */
static void bad_line(rdf_ctx *c, long line, const char *msg)
{
    if (line >= 0 && line == c->last_bad_line) return;
    c->last_bad_line = line;
    pe_status st = c->opt->record ? c->opt->record(c->opt->record_user, 1, msg) : PE_OK;
    if (st != PE_OK) stop(c, st);
}

static long raptor_line(rdf_ctx *c)
{
    raptor_locator *loc = raptor_parser_get_locator(c->rp);
    return loc && loc->line >= 0 ? c->line_base + loc->line : -1;
}

static void on_statement(void *user, raptor_statement *rs)
{
    rdf_ctx *c = user;
    if (c->fail) return;
    c->statements++;
    int nt = c->opt->format == PE_IMPORT_NTRIPLES;
    if (!nt && c->statements <= c->opt->skip_statements) return; /* resume */
    imp_rdf_term s, p, o;
    pe_status st;
    if ((st = to_term(c, 0, rs->subject, &s)) != PE_OK || (st = to_term(c, 1, rs->predicate, &p)) != PE_OK ||
        (st = to_term(c, 2, rs->object, &o)) != PE_OK) {
        if (st == PE_ERR_NOMEM) stop(c, pe_error_set(c->err, PE_ERR_NOMEM, "out of memory"));
        return;
    }
    st = imp_rdf_map(&s, &p, &o, c->opt->langs, c->sink, c->opt->dropped);
    if (st == PE_ERR_UTF8 || st == PE_ERR_PARSE) {
        long line = nt ? raptor_line(c) : fed_line(c);
        char msg[PE_ERRMSG_MAX];
        snprintf(msg, sizeof msg, "%s:%ld: %s (skipped)", imp_input_path(c->in), line,
                 st == PE_ERR_UTF8 ? "invalid UTF-8 in a statement"
                                   : "empty term, control character, NUL character or language tag over 64 bytes");
        if (nt) {
            bad_line(c, line, msg);
            return;
        }
        st = c->opt->record ? c->opt->record(c->opt->record_user, 1, msg) : PE_OK;
    } else if (st == PE_OK && c->opt->record) {
        st = c->opt->record(c->opt->record_user, 0, NULL);
    }
    /* Turtle/RDF-XML resume by statement count: every statement is a safe point. */
    if (st == PE_OK && !nt && c->opt->point)
        st = c->opt->point(c->opt->record_user, imp_input_offset(c->in), (uint64_t)fed_line(c));
    if (st != PE_OK) stop(c, st);
}

size_t imp_nul_at(const char *s, size_t len)
{
    const char *raw = memchr(s, 0, len);
    size_t at = raw ? (size_t)(raw - s) : len;
    static const char *const esc[2] = {"u0000", "U00000000"};
    for (int k = 0; k < 2; k++) {
        size_t el = strlen(esc[k]);
        for (const char *p = s; p < s + at && (p = memmem(p, (size_t)(s + at - p), esc[k], el)); p += el) {
            size_t bs = 0;
            while (p - bs > s && p[-1 - (ptrdiff_t)bs] == '\\') bs++;
            if ((bs & 1) && (size_t)(p - 1 - s) < at) at = (size_t)(p - 1 - s);
        }
    }
    return at;
}

void imp_msg_clean(char *msg)
{
    size_t n = strlen(msg), o = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)msg[i];
        size_t len = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
        if (len == 1) {
            msg[o++] = c < 0x20 || c == 0x7F ? '?' : (char)c;
            i++;
        } else if (len && i + len <= n && pe_utf8_valid(msg + i, len, NULL)) {
            memmove(msg + o, msg + i, len);
            o += len;
            i += len;
        } else {
            msg[o++] = '?';
            i++;
        }
    }
    msg[o] = '\0';
}

/* raptor 2.0.15's N-Triples parser reports an illegal escape as
 * "Illegal string escape \%c in \"%s\"" with a pointer to the escape where
 * the string should be (bytes of memory, not the literal): keep the part
 * before " in \"". */
static void drop_bogus_string(char *text)
{
    static const char head[] = "Illegal string escape \\";
    char *p = strstr(text, head);
    if (!p) return;
    char *in = strstr(p, " in \"");
    if (in) *in = '\0';
}

static void on_log(void *user, raptor_log_message *m)
{
    rdf_ctx *c = user;
    if (m->level < RAPTOR_LOG_LEVEL_ERROR || c->fail) return; /* warnings are not failures */
    const char *path = imp_input_path(c->in);
    int col = m->locator ? m->locator->column : -1;
    long line = m->locator && m->locator->line > 0 ? m->locator->line : -1;
    if (c->opt->format == PE_IMPORT_NTRIPLES && line >= 0) line += c->line_base;
    if (c->opt->format != PE_IMPORT_NTRIPLES && line < 0) line = fed_line(c); /* RDF/XML keeps none */
    char msg[PE_ERRMSG_MAX];
    char text[PE_ERRMSG_MAX / 2];
    snprintf(text, sizeof text, "%s", m->text ? m->text : "syntax error");
    drop_bogus_string(text);
    if (line >= 0 && col >= 0) snprintf(msg, sizeof msg, "%s:%ld:%d: %s", path, line, col, text);
    else if (line >= 0) snprintf(msg, sizeof msg, "%s:%ld: %s", path, line, text);
    else snprintf(msg, sizeof msg, "%s: %s", path, text);
    imp_msg_clean(msg); /* it enters the store and JSON output: valid UTF-8, no control bytes */
    if (c->opt->format == PE_IMPORT_NTRIPLES) {
        bad_line(c, line, msg);
        return;
    }
    if (c->errors++ == 0) snprintf(c->errmsg, sizeof c->errmsg, "%s", msg);
}

/* An N-Triples line whose unescaped quotes do not pair up would make
 * raptor's line splitter run on into the following lines. */
static int quotes_balanced(const char *l, size_t n)
{
    int q = 0;
    const char *e = l + n;
    for (const char *p = memchr(l, '"', n); p; p = p + 1 < e ? memchr(p + 1, '"', (size_t)(e - p - 1)) : NULL) {
        size_t bs = 0;
        while (p - bs > l && p[-1 - (ptrdiff_t)bs] == '\\') bs++;
        if ((bs & 1) == 0) q++;
    }
    return (q & 1) == 0;
}

/* ---- RDF/XML entity expansion bounds ----------------------------------------
 * libxml2 stops billion laughs, but not one big internal entity referenced
 * many times (a 196 KB file expanded to a 1.9 GB label). RDF/XML is fed a
 * line at a time; each line is scanned first: the DOCTYPE's internal
 * entities are read with their expanded sizes (references to other
 * entities included), and every reference in the document adds its size,
 * to the text or tag it is in (reset at each '<': one literal or one
 * element's attributes) and to the import. Beyond IMP_RDFXML_MAX_NODE_EXPANSION
 * or IMP_RDFXML_MAX_EXPANSION the import stops with PE_ERR_LIMIT naming the
 * file and line, before raptor expands anything. (References inside
 * comments or CDATA, which expand to nothing, count as well.) */

typedef struct xg_ent {
    char name[IMP_RDFXML_MAX_ENTITY_NAME + 1];
    const char *value; size_t value_len; /* into the DTD buffer */
    uint64_t size;       /* expanded size, when known */
    int state;           /* 0 not computed, 1 computing (cycle), 2 done */
} xg_ent;

typedef struct xml_guard {
    int phase;           /* 0 prolog, 1 inside the DOCTYPE, 2 document body */
    char *dtd;
    size_t dtd_len, dtd_cap;
    xg_ent *ents;
    size_t n_ents;
    uint64_t node, total;
} xml_guard;

static void xg_free(xml_guard *g)
{
    free(g->dtd);
    free(g->ents);
}

static xg_ent *xg_find(xml_guard *g, const char *name, size_t n)
{
    for (size_t i = 0; i < g->n_ents; i++)
        if (strlen(g->ents[i].name) == n && !memcmp(g->ents[i].name, name, n)) return &g->ents[i];
    return NULL;
}

static uint64_t sat_add(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }

/* Expanded size of e: its text with each &name; replaced by name's size. */
static uint64_t xg_size(xml_guard *g, xg_ent *e, int depth)
{
    if (e->state == 2) return e->size;
    if (e->state == 1 || depth > 64) return UINT64_MAX; /* a cycle (libxml2 refuses it anyway) */
    e->state = 1;
    uint64_t size = 0;
    const char *v = e->value, *end = v + e->value_len;
    while (v < end) {
        const char *amp = memchr(v, '&', (size_t)(end - v));
        if (!amp) { size = sat_add(size, (uint64_t)(end - v)); break; }
        size = sat_add(size, (uint64_t)(amp - v));
        const char *semi = memchr(amp, ';', (size_t)(end - amp));
        if (!semi) { size = sat_add(size, (uint64_t)(end - amp)); break; }
        xg_ent *r = amp[1] != '#' ? xg_find(g, amp + 1, (size_t)(semi - amp - 1)) : NULL;
        size = sat_add(size, r ? xg_size(g, r, depth + 1) : 4); /* a character reference: at most 4 bytes */
        v = semi + 1;
    }
    e->size = size;
    e->state = 2;
    return size;
}

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

/* Reads <!ENTITY name "value"> declarations (general ones; parameter and
 * external entities are not counted) from the DOCTYPE's internal subset. */
static pe_status xg_parse_dtd(xml_guard *g)
{
    const char *p = g->dtd, *end = g->dtd + g->dtd_len;
    size_t cap = 0;
    while ((p = memmem(p, (size_t)(end - p), "<!ENTITY", 8))) {
        p += 8;
        while (p < end && is_ws(*p)) p++;
        if (p < end && *p == '%') continue; /* a parameter entity */
        const char *name = p;
        while (p < end && !is_ws(*p) && *p != '"' && *p != '\'' && *p != '>') p++;
        size_t nl = (size_t)(p - name);
        while (p < end && is_ws(*p)) p++;
        if (p >= end || (*p != '"' && *p != '\'') || nl == 0 || nl > IMP_RDFXML_MAX_ENTITY_NAME) continue;
        char q = *p++;
        const char *close = memchr(p, q, (size_t)(end - p));
        if (!close) break;
        if (!xg_find(g, name, nl)) { /* the first declaration wins, as in XML */
            if (g->n_ents == cap) {
                cap = cap ? cap * 2 : 16;
                xg_ent *ne = realloc(g->ents, cap * sizeof *ne);
                if (!ne) return PE_ERR_NOMEM;
                g->ents = ne;
            }
            xg_ent *e = &g->ents[g->n_ents++];
            memset(e, 0, sizeof *e);
            memcpy(e->name, name, nl);
            e->value = p;
            e->value_len = (size_t)(close - p);
        }
        p = close + 1;
    }
    for (size_t i = 0; i < g->n_ents; i++) xg_size(g, &g->ents[i], 0);
    return PE_OK;
}

/* Scans one line before raptor sees it. PE_ERR_LIMIT (err set, naming
 * path:line) when a bound is passed. */
static pe_status xg_line(xml_guard *g, const char *s, size_t n, const char *path, uint64_t line, pe_error *err)
{
    if (g->phase < 2) {
        const char *from = s;
        if (g->phase == 0) {
            const char *dt = memmem(s, n, "<!DOCTYPE", 9);
            const char *lt = s;
            /* an element before any DOCTYPE: no internal entities */
            for (; (lt = memchr(lt, '<', n - (size_t)(lt - s))); lt++)
                if (lt + 1 < s + n && ((lt[1] >= 'A' && lt[1] <= 'Z') || (lt[1] >= 'a' && lt[1] <= 'z') || lt[1] == '_'))
                    break;
            if (!dt || (lt && lt < dt)) {
                if (lt) g->phase = 2;
                if (g->phase < 2) return PE_OK;
            } else {
                g->phase = 1;
                from = dt;
            }
        }
        if (g->phase == 1) {
            size_t k = n - (size_t)(from - s);
            if (g->dtd_len + k + 1 > IMP_RDFXML_MAX_DTD)
                return pe_error_set(err, PE_ERR_LIMIT, "%s:%llu: DOCTYPE longer than %d bytes", path,
                                    (unsigned long long)line, IMP_RDFXML_MAX_DTD);
            if (g->dtd_len + k + 1 > g->dtd_cap) {
                size_t nc = (g->dtd_len + k + 1) * 2;
                char *nd = realloc(g->dtd, nc);
                if (!nd) return pe_error_set(err, PE_ERR_NOMEM, "out of memory");
                g->dtd = nd;
                g->dtd_cap = nc;
            }
            memcpy(g->dtd + g->dtd_len, from, k);
            g->dtd_len += k;
            g->dtd[g->dtd_len] = '\0';
            /* the DOCTYPE ends at "]>" with an internal subset, else at its first '>' */
            const char *br = memchr(g->dtd, '[', g->dtd_len), *gt = memchr(g->dtd, '>', g->dtd_len);
            int ended = br && (!gt || br < gt) ? memmem(g->dtd, g->dtd_len, "]>", 2) != NULL : gt != NULL;
            if (!ended) return PE_OK;
            if (xg_parse_dtd(g) != PE_OK) return pe_error_set(err, PE_ERR_NOMEM, "out of memory");
            g->phase = 2;
            const char *close = br && (!gt || br < gt) ? memmem(s, n, "]>", 2) : memchr(s, '>', n);
            if (!close) return PE_OK;
            n -= (size_t)(close - s);
            s = close;
        }
    }
    if (!g->n_ents) return PE_OK;
    const char *end = s + n;
    for (const char *p = s; p < end; p++) {
        if (*p == '<') { g->node = 0; continue; }
        if (*p != '&') continue;
        const char *semi = memchr(p, ';', (size_t)(end - p));
        if (!semi || semi - p - 1 > IMP_RDFXML_MAX_ENTITY_NAME) continue;
        xg_ent *e = xg_find(g, p + 1, (size_t)(semi - p - 1));
        if (!e) continue;
        g->node = sat_add(g->node, e->size);
        g->total = sat_add(g->total, e->size);
        if (g->node > IMP_RDFXML_MAX_NODE_EXPANSION)
            return pe_error_set(err, PE_ERR_LIMIT, "%s:%llu: entity references expand one literal or element "
                                "beyond %d bytes (&%s; is %llu bytes)", path, (unsigned long long)line,
                                IMP_RDFXML_MAX_NODE_EXPANSION, e->name, (unsigned long long)e->size);
        if (g->total > IMP_RDFXML_MAX_EXPANSION)
            return pe_error_set(err, PE_ERR_LIMIT, "%s:%llu: entity references expand the document beyond %d "
                                "bytes in all", path, (unsigned long long)line, IMP_RDFXML_MAX_EXPANSION);
        p = semi;
    }
    return PE_OK;
}

#define NT_CHUNK (256u * 1024u)

pe_status imp_rdf_parse(imp_input *in, const imp_rdf_options *opt, const imp_sink *sink, pe_error *err)
{
    const char *name = opt->format == PE_IMPORT_NTRIPLES ? "ntriples"
                     : opt->format == PE_IMPORT_TURTLE   ? "turtle"
                     : opt->format == PE_IMPORT_RDFXML   ? "rdfxml"
                                                         : NULL;
    if (!name) return pe_error_set(err, PE_ERR_INVALID, "not an RDF format");
    rdf_ctx c;
    memset(&c, 0, sizeof c);
    c.opt = opt;
    c.sink = sink;
    c.in = in;
    c.err = err;
    c.last_bad_line = -1;
    c.line_base = (long)imp_input_line_no(in);
    pe_status st = PE_OK;
    raptor_world *world = raptor_new_world();
    raptor_uri *base = NULL;
    char *buf = NULL;
    xml_guard guard;
    memset(&guard, 0, sizeof guard);
    if (!world || raptor_world_open(world)) {
        st = pe_error_set(err, PE_ERR_NOMEM, "cannot start raptor");
        goto out;
    }
    raptor_world_set_log_handler(world, &c, on_log);
    c.rp = raptor_new_parser(world, name);
    if (!c.rp) {
        st = pe_error_set(err, PE_ERR_UNSUPPORTED, "raptor has no %s parser", name);
        goto out;
    }
    raptor_parser_set_statement_handler(c.rp, &c, on_statement);
    /* Base IRI for relative references: the file's own URI. */
    const char *path = imp_input_path(in);
    unsigned char *ustr = strcmp(path, "-") == 0 ? NULL : raptor_uri_filename_to_uri_string(path);
    base = raptor_new_uri(world, ustr ? ustr : (const unsigned char *)"file:///dev/stdin");
    if (ustr) raptor_free_memory(ustr);
    if (!base || raptor_parser_parse_start(c.rp, base)) {
        st = pe_error_set(err, PE_ERR_NOMEM, "%s: cannot start the %s parser", path, name);
        goto out;
    }
    if (opt->format == PE_IMPORT_NTRIPLES) {
        /* Complete lines in chunks of about NT_CHUNK bytes. raptor 2.0.15's
         * N-Triples parser compacts its buffer only when input is left
         * over after the last complete line: a chunk ending exactly at a
         * newline makes it keep (and copy) everything fed so far. So the
         * newline of each chunk's last line is held back and sent at the
         * start of the next chunk; that line's statements come then, and
         * the safe point after a chunk is the position before that line.
         * A line raptor could not delimit, or one over max_line, is replaced
         * by an empty line so that raptor's line numbers stay the file's. */
        size_t cap = NT_CHUNK, len = 0;
        buf = malloc(cap + 2);
        if (!buf) { st = pe_error_set(err, PE_ERR_NOMEM, "out of memory"); goto out; }
        uint64_t safe_bytes = imp_input_offset(in), safe_lines = imp_input_line_no(in);
        /* Chunk ends are chosen from input offsets alone (not from what the
         * buffer holds), so that a resumed run cuts the same chunks and
         * commits at the same places as an uninterrupted one. */
        uint64_t chunk_start = safe_bytes;
        int done = 0, last_bad = 0;
        while (!done && st == PE_OK) {
            uint64_t before_bytes = imp_input_offset(in), before_lines = imp_input_line_no(in);
            const char *line;
            size_t n;
            pe_status ls = imp_input_line(in, &line, &n, err);
            last_bad = 0;
            if (ls == PE_DONE) done = 1;
            else if (ls == PE_ERR_LIMIT) {
                bad_line(&c, (long)imp_input_line_no(in), err->msg);
                line = "";
                n = 0;
                last_bad = 1;
            } else if (ls != PE_OK) {
                /* unreadable or truncated input: hand over the complete lines read before */
                raptor_parser_parse_chunk(c.rp, (const unsigned char *)buf, len, 1);
                st = c.fail ? c.fail : ls;
                break;
            } else if (imp_nul_at(line, n) < n) {
                char msg[PE_ERRMSG_MAX];
                snprintf(msg, sizeof msg, "%s:%llu:%zu: a NUL character (\\u0000) in the statement (skipped: it would "
                         "be stored cut short)", path, (unsigned long long)imp_input_line_no(in), imp_nul_at(line, n) + 1);
                bad_line(&c, (long)imp_input_line_no(in), msg);
                line = "";
                n = 0;
                last_bad = 1;
            } else if (memchr(line, '"', n) && !quotes_balanced(line, n)) {
                char msg[PE_ERRMSG_MAX];
                snprintf(msg, sizeof msg, "%s:%llu: unterminated string literal (skipped)", path,
                         (unsigned long long)imp_input_line_no(in));
                bad_line(&c, (long)imp_input_line_no(in), msg);
                line = "";
                n = 0;
                last_bad = 1;
            }
            if (c.fail) { st = c.fail; break; }
            if (done) {
                raptor_parser_parse_chunk(c.rp, (const unsigned char *)buf, len, 1);
                if (c.fail) { st = c.fail; break; }
                if (opt->point) st = opt->point(opt->record_user, imp_input_offset(in), imp_input_line_no(in));
                break;
            }
            if (len + n + 1 > cap) { /* grow for a long line */
                char *nb = realloc(buf, len + n + 2);
                if (!nb) { st = pe_error_set(err, PE_ERR_NOMEM, "out of memory"); break; }
                buf = nb;
                cap = len + n + 1;
            }
            memcpy(buf + len, line, n);
            buf[len + n] = '\n';
            len += n + 1;
            /* The last line appended starts at before_*: the next safe point;
             * a bad line (already counted, nothing left for raptor) ends it. */
            safe_bytes = last_bad ? imp_input_offset(in) : before_bytes;
            safe_lines = last_bad ? imp_input_line_no(in) : before_lines;
            if (imp_input_offset(in) - chunk_start < NT_CHUNK) continue;
            raptor_parser_parse_chunk(c.rp, (const unsigned char *)buf, len - 1, 0);
            buf[0] = '\n';
            len = 1;
            chunk_start = safe_bytes;
            if (c.fail) { st = c.fail; break; }
            if (cap > NT_CHUNK) { /* give back the room of a huge line */
                char *nb = realloc(buf, NT_CHUNK + 2);
                if (nb) { buf = nb; cap = NT_CHUNK; }
            }
            if (opt->point && (st = opt->point(opt->record_user, safe_bytes, safe_lines)) != PE_OK) break;
        }
    } else {
        size_t cap = 256 * 1024;
        buf = malloc(cap);
        if (!buf) { st = pe_error_set(err, PE_ERR_NOMEM, "out of memory"); goto out; }
        int last_nl = 1; /* the last byte fed was a newline (or nothing was fed) */
        for (;;) {
            size_t n;
            st = imp_input_read(in, buf, cap, &n, err);
            if (st != PE_OK) break;
            if (n == 0) {
                raptor_parser_parse_chunk(c.rp, (const unsigned char *)buf, 0, 1);
            } else if (opt->format == PE_IMPORT_RDFXML) {
                /* a line at a time: raptor's RDF/XML parser keeps no line
                 * numbers, so an error is placed on the line being fed */
                for (size_t off = 0; off < n && !c.fail && !c.errors && st == PE_OK;) {
                    const char *nl = memchr(buf + off, '\n', n - off);
                    size_t seg = nl ? (size_t)(nl - buf) - off + 1 : n - off;
                    /* entity expansion bounds, checked before raptor expands anything */
                    st = xg_line(&guard, buf + off, seg, path, c.lines_fed + 1, err);
                    if (st != PE_OK) break;
                    raptor_parser_parse_chunk(c.rp, (const unsigned char *)buf + off, seg, 0);
                    if (nl) c.lines_fed++;
                    off += seg;
                }
            } else {
                size_t nul = imp_nul_at(buf, n);
                uint64_t nl_before = 0;
                for (const char *p = buf; (p = memchr(p, '\n', nul - (size_t)(p - buf))); p++) nl_before++;
                if (nul < n) { /* raptor would cut the literal there: stop before its line */
                    size_t start = nul;
                    while (start > 0 && buf[start - 1] != '\n') start--;
                    raptor_parser_parse_chunk(c.rp, (const unsigned char *)buf, start, 1);
                    if (c.fail) { st = c.fail; break; }
                    st = pe_error_set(err, PE_ERR_PARSE, "%s:%llu: a NUL character (\\u0000): not stored cut short "
                                      "(the %s parser cannot continue after an error)", path,
                                      (unsigned long long)(c.lines_fed + nl_before + 1), name);
                    break;
                }
                raptor_parser_parse_chunk(c.rp, (const unsigned char *)buf, n, 0);
                c.lines_fed += nl_before;
            }
            if (n) last_nl = buf[n - 1] == '\n';
            if (st != PE_OK) break;
            if (c.fail) { st = c.fail; break; }
            if (c.errors) {
                st = pe_error_set(err, PE_ERR_PARSE, "%s (the %s parser cannot continue after an error)", c.errmsg,
                                  name);
                break;
            }
            if (n == 0) {
                /* the position after the last statement: every line read */
                uint64_t lines = c.lines_fed + (last_nl ? 0 : 1);
                if (opt->point) st = opt->point(opt->record_user, imp_input_offset(in), lines);
                break;
            }
        }
    }
out:
    xg_free(&guard);
    free(buf);
    for (int i = 0; i < 3; i++) free(c.blank[i]);
    if (c.rp) raptor_free_parser(c.rp);
    if (base) raptor_free_uri(base);
    if (world) raptor_free_world(world);
    return st;
}
