/* Fusion rules: relation triples + graph -> persona store (see pe_fusion.h). */
#include "pe_fusion.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pe_fusion {
    pe_kg_reader *kg;
    pe_fusion_options o;
};

pe_status pe_fusion_new(pe_kg_reader *kg, const pe_fusion_options *o, pe_fusion **out, pe_error *err)
{
    if (!out) return pe_error_set(err, PE_ERR_INVALID, "fusion: no output");
    *out = NULL;
    pe_fusion *f = calloc(1, sizeof *f);
    if (!f) return pe_error_set(err, PE_ERR_NOMEM, "fusion: out of memory");
    f->kg = kg;
    f->o = o ? *o : pe_fusion_options_default();
    if (!f->o.link && kg) {
        f->o.link = pe_fusion_link_exact;
        f->o.link_user = kg;
    }
    *out = f;
    return PE_OK;
}

void pe_fusion_free(pe_fusion *f) { free(f); }

/* ---- linking ---- */

/* Splits "Q1|Q2" into up to cap pointers into buf. */
static size_t split_classes(const char *classes, char *buf, size_t bufcap, const char **out, size_t cap)
{
    if (!classes) return 0;
    snprintf(buf, bufcap, "%s", classes);
    size_t n = 0;
    for (char *p = buf; *p && n < cap;) {
        out[n++] = p;
        char *bar = strchr(p, '|');
        if (!bar) break;
        *bar = '\0';
        p = bar + 1;
    }
    return n;
}

/* 1 when e is a subclass of c through P279* (e itself included): persona
 * objects are often classes ("dogs", "pizza"), not instances. */
static int is_subclass(pe_kg_reader *r, pe_kg_id e, pe_kg_id c)
{
    pe_kg_id p279, seen[64];
    size_t n = 0, head = 0;
    if (pe_kg_resolve(r, "P279", 4, &p279) != PE_OK) return e == c;
    seen[n++] = e;
    while (head < n) {
        pe_kg_id x = seen[head++];
        if (x == c) return 1;
        pe_kg_iter *it = NULL;
        if (pe_kg_match(r, x, p279, 0, &it) != PE_OK) continue;
        pe_kg_triple t;
        while (n < 64 && pe_kg_iter_next(it, &t) == PE_OK) {
            int dup = 0;
            for (size_t k = 0; k < n && !dup; k++) dup = seen[k] == t.o;
            if (!dup) seen[n++] = t.o;
        }
        pe_kg_iter_free(it);
    }
    return 0;
}

/* 1 when e is an instance (P31/P279*) or a subclass (P279*) of one of the classes. */
static int is_instance(pe_kg_reader *r, pe_kg_id e, const char *const *classes, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        pe_kg_id c;
        if (pe_kg_resolve(r, classes[i], strlen(classes[i]), &c) != PE_OK) continue;
        if (pe_kg_is_a(r, e, c) == PE_OK || is_subclass(r, e, c)) return 1;
    }
    return 0;
}

pe_status pe_fusion_link_exact(void *kg_reader, const char *text, size_t len, size_t start, size_t end,
                               const char *const *classes, size_t n_classes, pe_fusion_link_result *out)
{
    (void)classes;
    (void)n_classes;
    pe_kg_reader *r = kg_reader;
    if (!r || !text || !out || start > end || end > len) return PE_ERR_INVALID;
    out->n = 0;
    pe_kg_candidate c[PE_FUSION_LINK_MAX];
    size_t n = 0;
    pe_kg_lookup_options lo = {0, PE_FUSION_LINK_MAX};
    pe_status st = pe_kg_lookup(r, text + start, end - start, &lo, c, PE_FUSION_LINK_MAX, &n);
    if (st == PE_NOT_FOUND || n == 0) return PE_OK;
    if (st != PE_OK) return st;
    for (size_t i = 0; i < n; i++) { /* best first */
        const char *term;
        if (pe_kg_term(r, c[i].id, &term, NULL) != PE_OK) continue;
        snprintf(out->c[out->n].entity, sizeof out->c[0].entity, "%s", term);
        out->c[out->n++].score = c[i].prior;
    }
    return PE_OK;
}

/* The first candidate fitting the classes: its index, -1 when none does
 * (-2 when there are no candidates). Without classes or a graph: 0. */
static int pick_candidate(pe_kg_reader *kg, const pe_fusion_link_result *lr, const char *const *cls, size_t ncls)
{
    if (lr->n == 0) return -2;
    if (!ncls || !kg) return 0;
    for (size_t i = 0; i < lr->n; i++) {
        pe_kg_id id;
        if (pe_kg_resolve(kg, lr->c[i].entity, strlen(lr->c[i].entity), &id) == PE_OK && is_instance(kg, id, cls, ncls))
            return (int)i;
    }
    return -1;
}

/* ---- text helpers ---- */

static uint32_t char_offset(const char *t, size_t byte)
{
    uint32_t n = 0;
    for (size_t i = 0; i < byte; i++)
        if (((unsigned char)t[i] & 0xC0) != 0x80) n++;
    return n;
}

/* The sentence around [start, end): [*s, *e), clipped to about 300 bytes on
 * UTF-8 boundaries. */
static int sentence_end(const char *t, size_t len, size_t i)
{
    /* '.', '!', '?' followed by a space or the end ("alice.martin@..." goes on) */
    if (t[i] == '\n') return 1;
    return (t[i] == '.' || t[i] == '!' || t[i] == '?') && (i + 1 >= len || isspace((unsigned char)t[i + 1]));
}

static void sentence_of(const char *t, size_t len, size_t start, size_t end, size_t *s, size_t *e)
{
    size_t a = start, b = end;
    while (a > 0 && !sentence_end(t, len, a - 1) && start - a < 150) a--;
    while (b < len && !sentence_end(t, len, b) && b - end < 150) b++;
    if (b < len && t[b] != '\n') b++;
    while (a < start && isspace((unsigned char)t[a])) a++;
    while (a < start && ((unsigned char)t[a] & 0xC0) == 0x80) a++;
    while (b > end && ((unsigned char)t[b] & 0xC0) == 0x80) b--;
    *s = a;
    *e = b;
}

/* Case-insensitive search of an ASCII needle in [t+a, t+b) at word starts. */
static int has_phrase(const char *t, size_t a, size_t b, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = a; i + n <= b; i++) {
        if (i > a && isalnum((unsigned char)t[i - 1])) continue;
        if (strncasecmp(t + i, needle, n) == 0 && (i + n == b || !isalnum((unsigned char)t[i + n]))) return 1;
    }
    return 0;
}

/* Start of the clause holding byte `pos`: after the last ',', ';', ':' or
 * word "but" / "now" / "currently" between the sentence start ss and pos. */
static size_t clause_start(const char *t, size_t ss, size_t pos)
{
    size_t c = ss;
    for (size_t i = ss; i < pos; i++) {
        if (t[i] == ',' || t[i] == ';' || t[i] == ':') c = i + 1;
        static const char *const words[] = {"but", "now", "currently"};
        for (size_t w = 0; w < 3; w++) {
            size_t n = strlen(words[w]);
            if (i + n <= pos && (i == ss || !isalnum((unsigned char)t[i - 1])) && strncasecmp(t + i, words[w], n) == 0 &&
                (i + n == pos || !isalnum((unsigned char)t[i + n])))
                c = i + n;
        }
    }
    return c;
}

/* The words of [a, b) from the end back (w[0] the last), at most
 * max_words, each lower-cased (ASCII) and cut at 15 bytes into the caller's
 * w; returns how many. */
static int last_words(const char *t, size_t a, size_t b, char w[][16], int max_words)
{
    int n = 0;
    size_t i = b;
    while (n < max_words && i > a) {
        while (i > a && !isalnum((unsigned char)t[i - 1]) && t[i - 1] != '\'') i--;
        size_t e = i;
        while (i > a && (isalnum((unsigned char)t[i - 1]) || t[i - 1] == '\'')) i--;
        if (e == i) break;
        size_t k = e - i < 15 ? e - i : 15;
        for (size_t j = 0; j < k; j++) w[n][j] = (char)tolower((unsigned char)t[i + j]);
        w[n][k] = '\0';
        n++;
    }
    return n;
}

/* Words that end the reach of a cue: a new verb phrase or conjunction. */
static int cue_barrier(const char *w)
{
    static const char *const b[] = {"and", "or", "but", "so", "because", "though", "although", "that", "who",
                                    "which", "when", "if", "while", "since", "i", "we", "you", "he", "she", "they"};
    for (size_t i = 0; i < sizeof b / sizeof *b; i++)
        if (!strcmp(w, b[i])) return 1;
    return 0;
}

/* A negation among the (at most 5) words before the object in its clause,
 * before any barrier word: "i do not have any pets", "i am not a fan of
 * sushi", "i never eat meat"; "i have no pets". The subject "i" is the
 * barrier that ends the search, so "i don't know but i love x" stays. */
static int negated_before(const char *t, size_t cs, size_t start)
{
    char w[6][16];
    int n = last_words(t, cs, start, w, 6);
    static const char *const neg[] = {"not", "never", "no", "don't", "dont", "doesn't", "doesnt", "didn't", "didnt",
                                      "can't", "cant", "cannot", "won't", "haven't", "hasn't", "isn't", "aren't",
                                      "wasn't", "n't", "nor", "neither"};
    for (int k = 0; k < n && k < 5; k++) {
        for (size_t i = 0; i < sizeof neg / sizeof *neg; i++)
            if (!strcmp(w[k], neg[i])) return 1;
        if (cue_barrier(w[k]) && k > 0) return 0;
    }
    return 0;
}

/* "i really hate sushi" read as like_food: a dislike verb among the words
 * before the object (as negated_before reaches) turns a like_X / favorite_X
 * relation into dislike_X (or "dislike" when there is none). NULL: no such
 * verb, or e is no liking. */
static const pe_fusion_schema_entry *dislike_of(const pe_fusion_schema_entry *e, const char *t, size_t cs, size_t start)
{
    const char *suffix = !strncmp(e->relation, "like_", 5) ? e->relation + 5
                       : !strncmp(e->relation, "favorite_", 9) ? e->relation + 9 : NULL;
    if (!suffix) return NULL;
    char w[6][16];
    int n = last_words(t, cs, start, w, 6), hit = 0;
    static const char *const verbs[] = {"hate", "hates", "hated", "dislike", "dislikes", "detest", "detests", "loathe",
                                        "loathes", "despise", "despises", "stand"};
    for (int k = 0; k < n && k < 5 && !hit; k++) {
        for (size_t i = 0; i < sizeof verbs / sizeof *verbs && !hit; i++)
            if (!strcmp(w[k], verbs[i]))
                hit = strcmp(w[k], "stand") || (k + 1 < n && (!strcmp(w[k + 1], "can't") || !strcmp(w[k + 1], "cannot") ||
                                                                !strcmp(w[k + 1], "cant")));
        if (cue_barrier(w[k]) && k > 0) break;
    }
    if (!hit) return NULL;
    char name[64];
    snprintf(name, sizeof name, "dislike_%s", suffix);
    const pe_fusion_schema_entry *d = pe_fusion_schema_find(name);
    return d ? d : pe_fusion_schema_find("dislike");
}

/* ---- sensitivity ---- */

static const struct {
    const char *word;
    pe_ps_sensitivity s;
} sensitive_words[] = {
    {"kosher", PE_PS_SENS_RELIGION},    {"halal", PE_PS_SENS_RELIGION},     {"christian", PE_PS_SENS_RELIGION},
    {"catholic", PE_PS_SENS_RELIGION},  {"muslim", PE_PS_SENS_RELIGION},    {"jewish", PE_PS_SENS_RELIGION},
    {"buddhist", PE_PS_SENS_RELIGION},  {"hindu", PE_PS_SENS_RELIGION},     {"atheist", PE_PS_SENS_RELIGION},
    {"church", PE_PS_SENS_RELIGION},    {"mosque", PE_PS_SENS_RELIGION},    {"synagogue", PE_PS_SENS_RELIGION},
    {"temple", PE_PS_SENS_RELIGION},    {"god", PE_PS_SENS_RELIGION},       {"religion", PE_PS_SENS_RELIGION},
    {"gay", PE_PS_SENS_SEXUALITY},      {"lesbian", PE_PS_SENS_SEXUALITY},  {"bisexual", PE_PS_SENS_SEXUALITY},
    {"union", PE_PS_SENS_UNION},        {"democrat", PE_PS_SENS_POLITICS},  {"republican", PE_PS_SENS_POLITICS},
    {"party", PE_PS_SENS_POLITICS},     {"liberal", PE_PS_SENS_POLITICS},   {"conservative", PE_PS_SENS_POLITICS},
    {"diabetes", PE_PS_SENS_HEALTH},    {"cancer", PE_PS_SENS_HEALTH},      {"depression", PE_PS_SENS_HEALTH},
    {"autism", PE_PS_SENS_HEALTH},      {"adhd", PE_PS_SENS_HEALTH},        {"asthma", PE_PS_SENS_HEALTH},
    {"disease", PE_PS_SENS_HEALTH},     {"pregnant", PE_PS_SENS_HEALTH},    {"disability", PE_PS_SENS_HEALTH},
    {"wheelchair", PE_PS_SENS_HEALTH},  {"blind", PE_PS_SENS_HEALTH},       {"deaf", PE_PS_SENS_HEALTH},
    {"allergic", PE_PS_SENS_HEALTH},    {"allergy", PE_PS_SENS_HEALTH},     {"anxiety", PE_PS_SENS_HEALTH},
};

static const struct {
    const char *cls;
    pe_ps_sensitivity s;
} sensitive_classes[] = {
    {"Q9174", PE_PS_SENS_RELIGION}, /* religion */
    {"Q7278", PE_PS_SENS_POLITICS}, /* political party */
    {"Q178790", PE_PS_SENS_UNION},  /* trade union */
    {"Q12136", PE_PS_SENS_HEALTH},  /* disease */
};

static pe_ps_sensitivity sens_max(pe_ps_sensitivity a, pe_ps_sensitivity b)
{
    /* special categories outrank personal, personal outranks none */
    if (PE_PS_SENS_IS_SPECIAL(a)) return a;
    if (PE_PS_SENS_IS_SPECIAL(b)) return b;
    return a > b ? a : b;
}

static pe_ps_sensitivity value_sensitivity(pe_fusion *f, const char *value, const char *entity)
{
    pe_ps_sensitivity s = PE_PS_SENS_NONE;
    size_t vl = strlen(value);
    for (size_t i = 0; i < sizeof sensitive_words / sizeof sensitive_words[0]; i++)
        if (has_phrase(value, 0, vl, sensitive_words[i].word)) {
            s = sensitive_words[i].s;
            break;
        }
    if (s == PE_PS_SENS_NONE && entity && *entity && f->kg) {
        pe_kg_id e;
        if (pe_kg_resolve(f->kg, entity, strlen(entity), &e) == PE_OK)
            for (size_t i = 0; i < sizeof sensitive_classes / sizeof sensitive_classes[0]; i++) {
                const char *c = sensitive_classes[i].cls;
                if (is_instance(f->kg, e, &c, 1)) {
                    s = sensitive_classes[i].s;
                    break;
                }
            }
    }
    return s;
}

static int allowed(const pe_fusion *f, pe_ps_sensitivity s)
{
    return !PE_PS_SENS_IS_SPECIAL(s) || (f->o.allow_special & (1u << s));
}

/* ---- confidence ---- */

static double decay(const pe_fusion *f, double dt)
{
    if (f->o.half_life_days <= 0 || dt <= 0) return 1.0;
    return pow(0.5, dt / (f->o.half_life_days * 86400.0));
}

static double clamp01(double x) { return x < 0 ? 0 : x > 1 ? 1 : isnan(x) ? 0 : x; }

/* ---- writing ---- */

typedef struct item {
    const char *attribute, *relation, *value; /* value as written (the store normalises) */
    const char *entity;                       /* NULL = none */
    double link_score;
    double strength;                          /* s of the formula */
    int functional;
    pe_ps_sensitivity sensitivity;
    pe_ps_method method;
    const char *rule;
    const pe_ps_fact *facts;
    size_t n_facts;
    size_t start, end;                        /* bytes of the message */
    double ner_score, rel_score;
    int keep_current;                         /* functional: never displace the current value */
} item;

typedef struct ctx {
    pe_fusion *f;
    pe_ps_writer *w;
    const pe_fusion_message *m;
    pe_fusion_counts *c;
    pe_error *err;
} ctx;

static pe_status store_fail(ctx *x, pe_status st, const char *what)
{
    return pe_error_set(x->err, st, "fusion: %s: %s", what, pe_status_str(st));
}

static void count_outcome(ctx *x, pe_ps_outcome o)
{
    switch (o) {
    case PE_PS_ADDED: x->c->added++; break;
    case PE_PS_UPDATED: x->c->updated++; break;
    case PE_PS_REPLACED: x->c->replaced++; break;
    default: x->c->unchanged++; break;
    }
}

/* Upserts one value with the confidence rule and the functional rule.
 * *current (may be NULL): 0 when the value was kept out of the current
 * one's way (a functional alternative in history), else 1. */
static pe_status upsert(ctx *x, const item *it, int *current)
{
    if (current) *current = 0;
    pe_status st;
    pe_ps_reader *r = pe_ps_writer_reader(x->w);
    pe_ps_attr_list *l = NULL;
    st = pe_ps_attributes(r, x->m->user, it->attribute, PE_PS_LIST_HISTORY, &l);
    if (st >= PE_ERR_FIRST) return store_fail(x, st, "reading attributes");
    char *norm = pe_text_fold(it->value, strlen(it->value), &st);
    if (!norm) {
        pe_ps_attr_list_free(l);
        return pe_error_set(x->err, st, "fusion: value is not UTF-8");
    }
    const double t = x->m->time, s = clamp01(it->strength);
    double conf = s;
    const pe_ps_attr *cur = NULL;
    for (size_t i = 0; l && i < l->n; i++) {
        const pe_ps_attr *a = &l->attrs[i];
        if (strcmp(a->value, norm) == 0) {
            if (a->state != PE_PS_RETRACTED) conf = 1.0 - (1.0 - a->confidence * decay(x->f, t - a->last_seen)) * (1.0 - s);
        } else if (a->state == PE_PS_CURRENT) {
            cur = a;
        }
    }
    int keep_current = it->keep_current && cur;
    if (it->functional && cur && !keep_current) {
        int newer = t >= cur->last_seen;
        int wins = (newer && conf >= x->f->o.replace_threshold) || conf > cur->confidence * decay(x->f, t - cur->last_seen);
        keep_current = !wins;
    }
    free(norm);
    pe_ps_upsert up = {.user = x->m->user,
                       .attribute = it->attribute,
                       .relation = it->relation,
                       .value = it->value,
                       .entity = it->entity && *it->entity ? it->entity : NULL,
                       .confidence = clamp01(conf),
                       .sensitivity = it->sensitivity,
                       .functional = it->functional,
                       .keep_current = keep_current};
    size_t ss, se;
    sentence_of(x->m->text, x->m->len, it->start, it->end, &ss, &se);
    char *snippet = malloc(se - ss + 1);
    if (!snippet) {
        pe_ps_attr_list_free(l);
        return pe_error_set(x->err, PE_ERR_NOMEM, "fusion: out of memory");
    }
    memcpy(snippet, x->m->text + ss, se - ss);
    snippet[se - ss] = '\0';
    pe_ps_evidence ev = {.message_id = x->m->message_id,
                         .message_time = t,
                         .span_start = char_offset(x->m->text, it->start),
                         .span_end = char_offset(x->m->text, it->end),
                         .snippet = snippet,
                         .method = it->method,
                         .model_id = it->method == PE_PS_FROM_MODEL ? x->f->o.model_id : NULL,
                         .model_version = it->method == PE_PS_FROM_MODEL ? x->f->o.model_version : NULL,
                         .relation_score = it->rel_score,
                         .ner_score = it->ner_score,
                         .entity = up.entity,
                         .link_score = it->link_score,
                         .facts = it->facts,
                         .n_facts = it->n_facts,
                         .rule = it->rule};
    pe_ps_upsert_result res;
    st = pe_ps_upsert_attr(x->w, &up, &ev, &res);
    free(snippet);
    pe_ps_attr_list_free(l);
    if (st != PE_OK) return store_fail(x, st, "storing an attribute");
    count_outcome(x, res.outcome);
    if (current) *current = !keep_current;
    return PE_OK;
}

static pe_status withhold(ctx *x, const item *it)
{
    pe_ps_withhold wh = {.user = x->m->user,
                         .attribute = it->attribute,
                         .relation = it->relation,
                         .value = it->value,
                         .sensitivity = it->sensitivity,
                         .why = {.rule = "art9_withheld",
                                 .reason = "special category not allowed by policy",
                                 .message_id = x->m->message_id,
                                 .message_time = x->m->time}};
    uint64_t seq = 0;
    pe_status st = pe_ps_withhold_attr(x->w, &wh, &seq);
    if (st != PE_OK) return store_fail(x, st, "withholding a value");
    if (seq) x->c->withheld++;
    return PE_OK;
}

static pe_status retract_derived(ctx *x, char **entities, size_t n_entities);

/* Retracts `value` of `attribute` (NULL: every current value), then the
 * derived attributes that rested only on the retracted values' entities. */
static pe_status retract(ctx *x, const char *attribute, const char *value, const char *rule, const char *reason)
{
    pe_ps_cause why = {.rule = rule, .reason = reason, .message_id = x->m->message_id, .message_time = x->m->time};
    char *ents[16];
    size_t ne = 0;
    pe_ps_attr_list *l = NULL;
    pe_status st = pe_ps_attributes(pe_ps_writer_reader(x->w), x->m->user, attribute, value ? PE_PS_LIST_HISTORY : 0, &l);
    if (st >= PE_ERR_FIRST) return store_fail(x, st, "reading attributes");
    for (size_t i = 0; l && i < l->n && ne < 16; i++) {
        const pe_ps_attr *a = &l->attrs[i];
        if (a->state == PE_PS_RETRACTED || !a->entity || (value && strcmp(a->value, value))) continue;
        if (!(ents[ne] = strdup(a->entity))) break;
        ne++;
    }
    pe_ps_attr_list_free(l);
    size_t n = 0;
    st = pe_ps_retract(x->w, x->m->user, attribute, value, &why, &n);
    if (st == PE_OK) {
        x->c->retracted += n;
        st = retract_derived(x, ents, ne);
    } else if (st == PE_NOT_FOUND) {
        st = PE_OK;
    } else {
        st = store_fail(x, st, "retracting");
    }
    for (size_t i = 0; i < ne; i++) free(ents[i]);
    return st;
}

/* Generic objects of negations: "i have no pets" retracts every pet. */
static int generic_for(const char *attribute, const char *value)
{
    static const struct {
        const char *attr, *words;
    } g[] = {
        {"pets", "|pet|pets|animals|animal|any pets|a pet|any animals|"},
        {"children", "|kids|children|child|a child|any kids|any children|"},
        {"siblings", "|siblings|sibling|brothers|sisters|any siblings|"},
        {"vehicles", "|car|cars|a car|vehicle|a vehicle|"},
        {"family", "|family|any family|"},
    };
    char key[80];
    snprintf(key, sizeof key, "|%s|", value);
    for (size_t i = 0; i < sizeof g / sizeof g[0]; i++)
        if (strcmp(g[i].attr, attribute) == 0 && strstr(g[i].words, key)) return 1;
    return 0;
}

/* ---- derived attributes ---- */

static const struct {
    const char *predicate;
    const char *from;      /* only from these attributes ('|'-separated), NULL = any */
    const char *attribute; /* derived attribute */
    const char *skip_cls;  /* skip when the entity itself is of this class */
    pe_ps_sensitivity sensitivity;
    int functional;
    const char *rule;
} derivations[] = {
    {"P17", "residence|hometown", "country", "Q6256", PE_PS_SENS_PERSONAL, 1, "derive_country_p17"},
    {"P136", NULL, "genre", NULL, PE_PS_SENS_NONE, 0, "derive_genre_p136"},
    {"P641", NULL, "sport", NULL, PE_PS_SENS_NONE, 0, "derive_sport_p641"},
};

static pe_status retract_derived(ctx *x, char **entities, size_t n_entities)
{
    if (!n_entities) return PE_OK;
    for (size_t d = 0; d < sizeof derivations / sizeof derivations[0]; d++) {
        int seen = 0; /* each derived attribute once */
        for (size_t k = 0; k < d; k++) seen |= !strcmp(derivations[k].attribute, derivations[d].attribute);
        if (seen) continue;
        pe_ps_attr_list *l = NULL;
        pe_status st = pe_ps_attributes(pe_ps_writer_reader(x->w), x->m->user, derivations[d].attribute, PE_PS_LIST_EVIDENCE, &l);
        if (st == PE_NOT_FOUND) continue;
        if (st != PE_OK) return store_fail(x, st, "reading attributes");
        for (size_t i = 0; i < l->n && st == PE_OK; i++) {
            const pe_ps_attr *a = &l->attrs[i];
            int only = a->n_evidence > 0;
            for (size_t k = 0; k < a->n_evidence && only; k++) {
                const pe_ps_evidence *e = &a->evidence[k];
                int from = 0;
                for (size_t j = 0; j < n_entities && e->n_facts; j++) from |= !strcmp(e->facts[0].subject, entities[j]);
                only = e->method == PE_PS_FROM_GRAPH && from;
            }
            if (!only) continue;
            pe_ps_cause why = {.rule = "derived_parent_retracted", .reason = "parent retracted",
                               .message_id = x->m->message_id, .message_time = x->m->time};
            size_t n = 0;
            st = pe_ps_retract(x->w, x->m->user, a->attribute, a->value, &why, &n);
            if (st == PE_NOT_FOUND) st = PE_OK;
            else if (st == PE_OK) x->c->retracted += n;
        }
        pe_ps_attr_list_free(l);
        if (st != PE_OK) return store_fail(x, st, "retracting a derived attribute");
    }
    return PE_OK;
}

static int in_bar_list(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; p && *p;) {
        const char *bar = strchr(p, '|');
        size_t k = bar ? (size_t)(bar - p) : strlen(p);
        if (k == n && strncmp(p, name, n) == 0) return 1;
        p = bar ? bar + 1 : NULL;
    }
    return 0;
}

static const char *base_name(const char *path)
{
    if (!path) return "";
    if (strstr(path, "://")) return path;
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static pe_status derive(ctx *x, const item *parent)
{
    pe_kg_reader *r = x->f->kg;
    if (!r || !parent->entity || !*parent->entity) return PE_OK;
    pe_kg_id e;
    if (pe_kg_resolve(r, parent->entity, strlen(parent->entity), &e) != PE_OK) return PE_OK;
    for (size_t d = 0; d < sizeof derivations / sizeof derivations[0]; d++) {
        if (derivations[d].from && !in_bar_list(derivations[d].from, parent->attribute)) continue;
        if (derivations[d].skip_cls && is_instance(r, e, &derivations[d].skip_cls, 1)) continue;
        pe_kg_id p;
        if (pe_kg_resolve(r, derivations[d].predicate, strlen(derivations[d].predicate), &p) != PE_OK) continue;
        pe_kg_iter *iter = NULL;
        if (pe_kg_match(r, e, p, 0, &iter) != PE_OK) continue;
        pe_kg_triple t;
        int k = 0;
        pe_status st = PE_OK;
        while (st == PE_OK && k < 3 && pe_kg_iter_next(iter, &t) == PE_OK) {
            pe_kg_value v;
            if (pe_kg_value_get(r, t.o, &v) != PE_OK || v.type != PE_KG_VAL_ENTITY) continue;
            const char *oterm = NULL, *label = NULL;
            if (pe_kg_term(r, t.o, &oterm, NULL) != PE_OK) continue;
            if (pe_kg_label(r, t.o, "en", &label) != PE_OK || !label) label = oterm;
            char obj_q[64], val[256], src[512] = "", date[64] = "";
            snprintf(obj_q, sizeof obj_q, "%s", oterm);
            snprintf(val, sizeof val, "%s", label);
            pe_kg_source so;
            if (pe_kg_source_get(r, t.source, &so) == PE_OK) {
                snprintf(src, sizeof src, "%s", base_name(so.path));
                if (so.dump_date) snprintf(date, sizeof date, "%s", so.dump_date);
            }
            pe_ps_fact fact = {parent->entity, derivations[d].predicate, obj_q, src, date[0] ? date : NULL};
            item it = *parent;
            it.attribute = derivations[d].attribute;
            it.relation = NULL;
            it.value = val;
            it.entity = obj_q;
            it.link_score = NAN;
            it.rel_score = NAN;
            it.ner_score = NAN;
            it.strength = parent->strength * x->f->o.derived_factor;
            it.functional = derivations[d].functional;
            it.sensitivity = sens_max(parent->sensitivity, derivations[d].sensitivity);
            it.sensitivity = sens_max(it.sensitivity, value_sensitivity(x->f, val, obj_q));
            it.method = PE_PS_FROM_GRAPH;
            it.rule = derivations[d].rule;
            it.facts = &fact;
            it.n_facts = 1;
            if (!allowed(x->f, it.sensitivity)) {
                st = withhold(x, &it);
            } else {
                st = upsert(x, &it, NULL);
                if (st == PE_OK) x->c->derived++;
            }
            k++;
        }
        pe_kg_iter_free(iter);
        if (st != PE_OK) return st;
    }
    return PE_OK;
}

/* ---- one triple ---- */

static pe_status fuse_triple(ctx *x, const pe_fusion_triple *tr)
{
    const pe_fusion_message *m = x->m;
    if (!tr->relation || tr->end <= tr->start || tr->end > m->len) {
        x->c->rejected++;
        return PE_OK;
    }
    if (tr->score < x->f->o.min_score) {
        x->c->ignored++;
        return PE_OK;
    }
    if (pe_ps_overlaps_identifier(m->text, m->len, tr->start, tr->end)) {
        x->c->rejected++; /* "alice" of alice.martin@example.com */
        return PE_OK;
    }
    const pe_fusion_schema_entry *e = pe_fusion_schema_find(tr->relation);
    char other[PE_PS_MAX_NAME + 1];
    pe_fusion_schema_entry fallback = {tr->relation, other, NULL, 0, PE_PS_SENS_NONE, PE_FUSION_ASSERT, NULL, 0};
    if (!e) {
        snprintf(other, sizeof other, "other.%s", tr->relation);
        e = &fallback;
    }
    char value[PE_PS_MAX_VALUE];
    size_t vlen = tr->end - tr->start;
    if (vlen >= sizeof value) vlen = sizeof value - 1;
    memcpy(value, m->text + tr->start, vlen);
    value[vlen] = '\0';
    pe_status st;
    char *norm = pe_text_fold(value, vlen, &st);
    if (!norm) return pe_error_set(x->err, st, "fusion: object is not UTF-8");
    int empty = !*norm;
    if (empty) {
        free(norm);
        x->c->rejected++;
        return PE_OK;
    }

    /* polarity from the sentence: "used to", "no longer", a dislike verb or a
     * negation before the object in its clause (the model is weak on both) */
    size_t ss, se;
    sentence_of(m->text, m->len, tr->start, tr->end, &ss, &se);
    const size_t cs0 = clause_start(m->text, ss, tr->start);
    const pe_fusion_schema_entry *dis = e->polarity == PE_FUSION_ASSERT ? dislike_of(e, m->text, cs0, tr->start) : NULL;
    if (dis) e = dis;
    pe_fusion_polarity pol = e->polarity;
    const char *targets = e->targets, *attribute = e->attribute;
    const char *rule = dis ? "negation_dislike_verb"
                     : pol == PE_FUSION_NEGATE ? "negation" : pol == PE_FUSION_PAST ? "past" : "map_relation";
    int self_past = 0;
    if (pol == PE_FUSION_ASSERT) {
        size_t cs = cs0, ce = tr->end;
        while (ce < se && !strchr(",;:", m->text[ce])) ce++;
        if (has_phrase(m->text, cs, tr->start, "no longer") || has_phrase(m->text, tr->end, ce, "anymore") ||
            has_phrase(m->text, tr->end, ce, "any more")) {
            pol = PE_FUSION_NEGATE;
            targets = e->attribute;
            attribute = NULL;
            rule = "negation_no_longer";
        } else if (negated_before(m->text, cs, tr->start)) {
            pol = PE_FUSION_NEGATE;
            targets = e->attribute;
            attribute = NULL;
            rule = "negation_cue";
        } else if (has_phrase(m->text, cs, tr->start, "used to") || has_phrase(m->text, cs, tr->start, "formerly")) {
            self_past = 1;
            rule = "past_used_to";
        }
    }

    /* link and type check */
    item it;
    memset(&it, 0, sizeof it);
    it.attribute = attribute;
    it.relation = tr->relation;
    it.value = value;
    it.link_score = NAN;
    it.strength = tr->score;
    it.rel_score = tr->score;
    it.ner_score = tr->ner_score;
    it.functional = e->functional;
    it.method = PE_PS_FROM_MODEL;
    it.rule = rule;
    it.start = tr->start;
    it.end = tr->end;
    char cbuf[256];
    const char *cls[16];
    size_t ncls = split_classes(e->classes, cbuf, sizeof cbuf, cls, 16);
    pe_fusion_link_result lr;
    lr.n = 0;
    if (x->f->o.link) {
        st = x->f->o.link(x->f->o.link_user, m->text, m->len, tr->start, tr->end, cls, ncls, &lr);
        if (st >= PE_ERR_FIRST) {
            free(norm);
            return pe_error_set(x->err, st, "fusion: linking \"%s\" failed", value);
        }
    }
    int pick = pick_candidate(x->f->kg, &lr, cls, ncls);
    if (pick == -1) {
        if (e->strict_type && pol == PE_FUSION_ASSERT) {
            free(norm);
            x->c->rejected++;
            return PE_OK;
        }
        it.strength *= x->f->o.mismatch_factor;
        it.rule = "type_mismatch_downweight";
    }
    if (pick >= 0) {
        it.entity = lr.c[pick].entity;
        it.link_score = lr.c[pick].score;
    }
    it.sensitivity = sens_max(e->sensitivity, value_sensitivity(x->f, norm, it.entity));

    if (!allowed(x->f, it.sensitivity)) {
        if (!it.attribute) it.attribute = targets && strchr(targets, '|') == NULL ? targets : e->relation;
        free(norm);
        return withhold(x, &it);
    }

    st = PE_OK;
    if (pol == PE_FUSION_NEGATE || pol == PE_FUSION_PAST) {
        /* retract the value (or, for a generic object, every value) from the targets */
        for (const char *p = targets; st == PE_OK && p && *p;) {
            const char *bar = strchr(p, '|');
            char attr[PE_PS_MAX_NAME + 1];
            size_t k = bar ? (size_t)(bar - p) : strlen(p);
            if (k > PE_PS_MAX_NAME) k = PE_PS_MAX_NAME;
            memcpy(attr, p, k);
            attr[k] = '\0';
            int generic = pol == PE_FUSION_NEGATE && generic_for(attr, norm);
            st = retract(x, attr, generic ? NULL : norm, rule, pol == PE_FUSION_NEGATE ? "negated" : "past");
            p = bar ? bar + 1 : NULL;
        }
        if (st == PE_OK && it.attribute) st = upsert(x, &it, NULL);
    } else if (self_past) {
        /* stored for the record, then aged out at once; a past value never
         * displaces the current one ("i used to live in london") */
        it.keep_current = 1;
        st = upsert(x, &it, NULL);
        if (st == PE_OK) st = retract(x, it.attribute, norm, rule, "past");
    } else {
        /* derived values follow their parent: none from a value kept in history */
        int current = 0;
        st = upsert(x, &it, &current);
        if (st == PE_OK && current) st = derive(x, &it);
    }
    free(norm);
    return st;
}

pe_status pe_fusion_apply(pe_fusion *f, pe_ps_writer *w, const pe_fusion_message *m, const pe_fusion_triple *t,
                          size_t n, pe_fusion_counts *c, pe_error *err)
{
    if (!f || !w || !m || !m->user || !m->message_id || !m->text || (n && !t))
        return pe_error_set(err, PE_ERR_INVALID, "fusion: missing argument");
    size_t bad;
    if (!pe_utf8_valid(m->text, m->len, &bad))
        return pe_error_set(err, PE_ERR_UTF8, "fusion: message %s: invalid UTF-8 at byte %zu", m->message_id, bad);
    pe_fusion_counts local;
    memset(&local, 0, sizeof local);
    ctx x = {f, w, m, c ? c : &local, err};
    pe_status st;
    for (size_t i = 0; i < n; i++)
        if ((st = fuse_triple(&x, &t[i])) != PE_OK) return st;
    /* patterns: age */
    char *age = NULL;
    size_t a0 = 0, a1 = 0;
    st = pe_fusion_match_age(m->text, m->len, &age, &a0, &a1);
    if (st >= PE_ERR_FIRST) return pe_error_set(err, st, "fusion: age pattern");
    if (st == PE_OK) {
        item it;
        memset(&it, 0, sizeof it);
        it.attribute = "age";
        it.value = age;
        it.link_score = it.rel_score = it.ner_score = NAN;
        it.strength = f->o.pattern_score;
        it.functional = 1;
        it.sensitivity = PE_PS_SENS_PERSONAL;
        it.method = PE_PS_FROM_PATTERN;
        it.rule = "pattern_age";
        it.start = a0;
        it.end = a1;
        st = upsert(&x, &it, NULL);
        free(age);
        if (st != PE_OK) return st;
        x.c->patterns++;
    }
    return PE_OK;
}

/* ---- profiles ---- */

static const pe_fusion_schema_entry *schema_by_attribute(const char *attribute)
{
    for (size_t i = 0; i < pe_fusion_schema_count(); i++) {
        const pe_fusion_schema_entry *e = pe_fusion_schema_at(i);
        if (e->polarity == PE_FUSION_ASSERT && e->attribute && !strcmp(e->attribute, attribute)) return e;
    }
    return NULL;
}

pe_status pe_fusion_apply_profile(pe_fusion *f, pe_ps_writer *w, const char *user, const char *profile_id, double time,
                                  const pe_fusion_profile_attr *a, size_t n, pe_fusion_counts *c, pe_error *err)
{
    if (!f || !w || !user || !profile_id || (n && !a))
        return pe_error_set(err, PE_ERR_INVALID, "fusion: missing argument");
    pe_fusion_counts local;
    memset(&local, 0, sizeof local);
    for (size_t i = 0; i < n; i++) {
        if (!a[i].attribute || !a[i].value) return pe_error_set(err, PE_ERR_INVALID, "profile attribute %zu: no attribute or value", i);
        size_t vlen = strlen(a[i].value), bad;
        if (!pe_utf8_valid(a[i].value, vlen, &bad)) return pe_error_set(err, PE_ERR_UTF8, "profile attribute %s: invalid UTF-8", a[i].attribute);
        pe_fusion_message m = {user, profile_id, time, a[i].value, vlen};
        ctx x = {f, w, &m, c ? c : &local, err};
        const pe_fusion_schema_entry *e = schema_by_attribute(a[i].attribute);
        pe_status st;
        char *norm = pe_text_fold(a[i].value, vlen, &st);
        if (!norm) return pe_error_set(err, st, "fusion: profile value");
        if (!*norm) {
            free(norm);
            x.c->rejected++;
            continue;
        }
        item it;
        memset(&it, 0, sizeof it);
        it.attribute = a[i].attribute;
        it.relation = a[i].relation ? a[i].relation : e ? e->relation : NULL;
        it.value = a[i].value;
        it.link_score = it.rel_score = it.ner_score = NAN;
        it.strength = isnan(a[i].confidence) ? 1.0 : a[i].confidence;
        it.functional = e ? e->functional : 0;
        it.method = PE_PS_FROM_PROFILE;
        it.rule = "profile";
        it.start = 0;
        it.end = vlen;
        char cbuf[256];
        const char *cls[16];
        size_t ncls = split_classes(e ? e->classes : NULL, cbuf, sizeof cbuf, cls, 16);
        pe_fusion_link_result lr;
        lr.n = 0;
        int pick = -2;
        if (a[i].entity && *a[i].entity) {
            snprintf(lr.c[0].entity, sizeof lr.c[0].entity, "%s", a[i].entity);
            lr.c[0].score = NAN;
            lr.n = 1;
            pick = 0; /* given by the profile: kept as it is */
        } else if (f->o.link) {
            st = f->o.link(f->o.link_user, a[i].value, vlen, 0, vlen, cls, ncls, &lr);
            if (st >= PE_ERR_FIRST) {
                free(norm);
                return pe_error_set(err, st, "fusion: linking \"%s\" failed", a[i].value);
            }
            pick = pick_candidate(f->kg, &lr, cls, ncls);
        }
        if (pick == -1) {
            it.strength *= f->o.mismatch_factor;
            it.rule = "profile_type_mismatch_downweight";
        }
        if (pick >= 0) {
            it.entity = lr.c[pick].entity;
            it.link_score = lr.c[pick].score;
        }
        it.sensitivity = sens_max(e ? e->sensitivity : PE_PS_SENS_NONE, value_sensitivity(f, norm, it.entity));
        free(norm);
        if (!allowed(f, it.sensitivity)) st = withhold(&x, &it);
        else {
            int current = 0;
            if ((st = upsert(&x, &it, &current)) == PE_OK && current) st = derive(&x, &it);
        }
        if (st != PE_OK) return st;
    }
    return PE_OK;
}
