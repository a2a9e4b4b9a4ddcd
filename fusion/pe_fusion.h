/*
 * pe_fusion.h - fusion: persona relations and the graph -> persona
 * attributes in the persona store, with their provenance.
 *
 * Usage (one message at a time, inside a persona store writer):
 *
 *     pe_fusion_options o = pe_fusion_options_default();
 *     pe_fusion_policy_load("policy.json", &o, &err);   // optional
 *     o.model_id = "persona-small"; o.model_version = "1";
 *     pe_fusion *f;
 *     pe_fusion_new(kg_reader, &o, &f, &err);            // kg_reader may be NULL
 *     pe_fusion_message m = { .user = "u1", .message_id = "m1", .time = t,
 *                             .text = text, .len = strlen(text) };
 *     pe_fusion_triple t[] = { { .relation = "live_in_citystatecountry",
 *                                .start = 10, .end = 15, .score = 0.93f, .ner_score = NAN } };
 *     pe_fusion_counts c = {0};
 *     pe_fusion_apply(f, writer, &m, t, 1, &c, &err);
 *     pe_fusion_free(f);
 *
 * The triples are what the relation model (pe_relation.h) found in the
 * message: relation name and object span. Fusion maps each to a persona
 * attribute through the schema table, links the object to the graph,
 * checks its type, applies negation, "used to", sensitivity policy and
 * derived-attribute rules, computes the new confidence and writes the
 * result with its evidence into the persona store (pe_personastore.h).
 *
 * Schema (pe_fusion_schema_at): each PersonaExt relation -> attribute,
 * expected object classes (Wikidata QIDs; an object fits when it is an
 * instance through P31/P279* or a subclass through P279*: "dogs"),
 * cardinality (functional: one CURRENT value; multi-valued), sensitivity,
 * and polarity:
 *   ASSERT  the value holds ("i live in paris").
 *   NEGATE  the value does not hold ("i don't have pets", "i dislike x"):
 *           the same value is retracted from the entry's `targets`
 *           attributes; a generic object ("pets", "kids", "siblings") of a
 *           have_no* relation retracts every value of the target; the
 *           negation itself is stored under `attribute` (e.g. "dislikes")
 *           when the entry names one.
 *   PAST    the value held once ("pre_employed_by_company", "used_to"):
 *           stored under `attribute` and the same value is retracted
 *           (aged out) from `targets`.
 * An ASSERT triple whose clause (the text between ',', ';', ':', "but",
 * "now", "currently" and sentence ends) says "used to" / "formerly" before
 * the object is treated as PAST of its own attribute (stored, then
 * retracted with reason "past"); "no longer" before or "anymore" after
 * the object as NEGATE of it. The relation model is weak on polarity, so
 * two cues among the (at most 5) words before the object in its clause,
 * up to a conjunction, relative pronoun or personal pronoun, override it:
 * a negation ("not", "never", "no", "don't", "can't", ...) makes an ASSERT
 * triple NEGATE of its own attribute (rule "negation_cue": "i do not have
 * any pets"), and a dislike verb ("hate", "dislike", "detest", "loathe",
 * "despise", "can't stand") turns like_X / favorite_X into dislike_X, or
 * "dislike" when the table has no dislike_X (rule "negation_dislike_verb":
 * "i really hate sushi").
 * Relations missing from the table map to attribute "other.<relation>",
 * multi-valued, sensitivity none, no type check.
 *
 * Patterns: attributes the inventory lacks come from patterns over the
 * text, recorded with method PE_PS_FROM_PATTERN and rule "pattern_age":
 * age from "i'm 25", "i am 25 years old", "25 years old" ("25") and
 * "in my forties" / "in my 40s" ("40s"); functional, personal.
 *
 * Linking and type checks: the object span goes through the linker
 * (pe_fusion_link_fn: pe_fusion_link_linker for the entity linker of
 * pe_link.h, or pe_fusion_link_exact, a graph alias lookup by prior). The
 * first candidate that is an instance (P31/P279*) or subclass (P279*) of
 * an expected class is taken ("apple" as an employer is Apple Inc., not
 * the fruit). When candidates exist but none fits, it is a type mismatch:
 * the triple is rejected when the schema entry is strict_type (a live_in
 * object must be a place), else stored without an entity and its score
 * multiplied by options.mismatch_factor (rule "type_mismatch_downweight").
 *
 * Derived attributes (method PE_PS_FROM_GRAPH), from the linked entity's
 * facts in the graph, each evidence record listing the facts used with
 * their import source and dump date:
 *   residence / hometown entity -P17-> country   => "country" (skipped when
 *                                                   the entity is a country)
 *   any entity -P136-> genre                      => "genre"
 *   any entity -P641-> sport                      => "sport"
 * Only a value that is current after its update derives (a functional
 * alternative kept in history does not).
 * Confidence: the parent's times options.derived_factor. Sensitivity: the
 * higher of the parent's and the derived value's own (inheritance). When
 * a value is retracted (negation, "used to"), the derived values whose
 * every evidence came from its entity are retracted too (rule
 * "derived_parent_retracted").
 *
 * Confidence (documented formula). A triple's evidence strength is
 *   s = clamp(score, 0, 1) x (mismatch_factor if down-weighted) x
 *       (derived_factor if derived); patterns use s = pattern_score.
 * For a value already stored (same user, attribute, normalised value,
 * not RETRACTED) with confidence c_old last seen at t_old, evidence at
 * message time t gives
 *   c = 1 - (1 - c_old * d(t - t_old)) * (1 - s),
 *   d(dt) = 0.5 ^ (max(dt, 0) / half_life)   (d = 1 when half_life = 0)
 * i.e. noisy-OR over independent evidence with the old belief decayed;
 * a new (or retracted) value starts at c = s. Evidence from one message is
 * counted once (the store is idempotent per message id), so replaying a
 * message changes nothing.
 *
 * Functional attributes: a new value v with confidence c at time t
 * against the current value u (confidence c_u, last seen t_u) becomes
 * current when (t >= t_u and c >= options.replace_threshold) or
 * c > c_u * d(t - t_u); otherwise it is kept in HISTORY (keep_current).
 * The replaced value goes to history, recorded in the evidence.
 *
 * Sensitivity and privacy: the schema's class, raised by the value
 * (keywords such as "kosher", "catholic", "diabetes", "union", or the
 * linked entity's class: religion Q9174, political party Q7278, trade
 * union Q178790, disease Q12136). GDPR Art. 9 classes not allowed by
 * options.allow_special are withheld: pe_ps_withhold_attr (an audit
 * record, no attribute). Evidence snippets are masked by the store.
 *
 * Errors: PE_ERR_INVALID (arguments), PE_ERR_UTF8 (text), PE_ERR_NOMEM,
 * and whatever the persona store returns (its writer then fails every
 * later call: abort it). err (may be NULL) says what.
 *
 * Threads: a pe_fusion is used by one thread at a time (it uses the graph
 * reader it was given).
 */
#ifndef PE_FUSION_H
#define PE_FUSION_H

#include <stddef.h>
#include <stdint.h>

#include "pe_kg.h"
#include "pe_personastore.h"
#include "pe_util.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Schema ---------------------------------------------------------------- */

typedef enum pe_fusion_polarity {
    PE_FUSION_ASSERT = 0,
    PE_FUSION_NEGATE = 1,
    PE_FUSION_PAST = 2
} pe_fusion_polarity;

typedef struct pe_fusion_schema_entry {
    const char *relation;          /* PersonaExt relation name */
    const char *attribute;         /* persona attribute written; NULL: NEGATE without a stored attribute */
    const char *classes;           /* expected object classes, QIDs separated by '|'; NULL = any */
    int functional;                /* 1: one CURRENT value per user */
    pe_ps_sensitivity sensitivity;
    pe_fusion_polarity polarity;
    const char *targets;           /* NEGATE/PAST: attributes retracted, '|'-separated; NULL = none */
    int strict_type;               /* 1: a type mismatch rejects the triple; 0: down-weights it */
} pe_fusion_schema_entry;

/* The schema table (static; borrowed forever). */
PE_API size_t pe_fusion_schema_count(void);
PE_API const pe_fusion_schema_entry *pe_fusion_schema_at(size_t i);
/* The entry of `relation`, or NULL when the table has none. */
PE_API const pe_fusion_schema_entry *pe_fusion_schema_find(const char *relation);

/* ---- Linking ----------------------------------------------------------------- */

/* Result of linking one mention: candidates, best first; n = 0 is NIL. */
#define PE_FUSION_LINK_MAX 8
typedef struct pe_fusion_link_result {
    size_t n;
    struct {
        char entity[64]; /* "Q90" or an IRI */
        double score;    /* the linker's score in [0, 1] */
    } c[PE_FUSION_LINK_MAX];
} pe_fusion_link_result;

/* A linker: the mention [start, end) (bytes) of text -> candidates or NIL.
 * `classes` (n_classes QIDs; may be 0) are the classes the attribute
 * expects: a hint. The fusion takes the first candidate that fits them
 * (P31/P279* instance or P279* subclass) and treats the mention as a type
 * mismatch when none does. Returns PE_OK (out filled, NIL included) or an
 * error. */
typedef pe_status (*pe_fusion_link_fn)(void *user, const char *text, size_t len, size_t start, size_t end,
                                       const char *const *classes, size_t n_classes, pe_fusion_link_result *out);

/* The exact linker (user = a pe_kg_reader *): pe_kg_lookup of the span's
 * text; its candidates by prior (score = prior). NIL when the text is no
 * alias in the graph. */
PE_API pe_status pe_fusion_link_exact(void *kg_reader, const char *text, size_t len, size_t start, size_t end,
                               const char *const *classes, size_t n_classes, pe_fusion_link_result *out);

/* The entity linker of pe_link.h (user = a pe_linker *): pe_link_text on
 * the message with the one mention, typed from the expected classes
 * (place, organisation, creative work, else any); the chosen candidate
 * then its runner-ups, with the ranker's scores; NIL as the linker
 * decides. */
PE_API pe_status pe_fusion_link_linker(void *linker, const char *text, size_t len, size_t start, size_t end,
                                const char *const *classes, size_t n_classes, pe_fusion_link_result *out);

/* ---- Options and policy -------------------------------------------------------- */

typedef struct pe_fusion_options {
    double half_life_days;     /* confidence decay half-life; 0 = no decay; default 365 */
    double min_score;          /* triples scoring below are ignored; default 0.3 */
    double replace_threshold;  /* functional: a newer value at least this confident replaces; default 0.5 */
    double mismatch_factor;    /* type-mismatch down-weighting; default 0.5 */
    double derived_factor;     /* derived attributes' share of the parent's confidence; default 0.9 */
    double pattern_score;      /* evidence strength of a pattern match; default 0.8 */
    unsigned allow_special;    /* bit (1u << s) allows Art. 9 class s; default 0: all withheld */
    const char *model_id;      /* recorded in evidence; NULL = none (borrowed) */
    const char *model_version;
    pe_fusion_link_fn link;    /* NULL: pe_fusion_link_exact on the graph (when one is given);
                                  pe_fusion_link_linker with a pe_linker as link_user for the
                                  real linker */
    void *link_user;
} pe_fusion_options;

PE_API pe_fusion_options pe_fusion_options_default(void);

/* Reads a policy file (JSON object) into o:
 *   {"allow": ["health", "religion", ...],      Art. 9 classes allowed (names
 *                                                as pe_ps_sensitivity_name)
 *    "half_life_days": 180, "min_score": 0.3, "replace_threshold": 0.5,
 *    "mismatch_factor": 0.5, "derived_factor": 0.9, "pattern_score": 0.8}
 * Every key optional; unknown keys and unknown class names are
 * PE_ERR_PARSE (a typo must not silently allow nothing). PE_ERR_IO when
 * the file cannot be read. */
PE_API pe_status pe_fusion_policy_load(const char *path, pe_fusion_options *o, pe_error *err);

/* ---- Fusion ---------------------------------------------------------------- */

typedef struct pe_fusion pe_fusion;

/* kg: a graph reader (borrowed; must outlive f and stay on one thread with
 * it), or NULL: then no linking (unless o->link), no type checks and no
 * derived attributes. o NULL = defaults; strings in o are borrowed. */
PE_API pe_status pe_fusion_new(pe_kg_reader *kg, const pe_fusion_options *o, pe_fusion **out, pe_error *err);
PE_API void pe_fusion_free(pe_fusion *f); /* NULL is a no-op */

typedef struct pe_fusion_message {
    const char *user;
    const char *message_id;
    double time;        /* Unix seconds */
    const char *text;   /* UTF-8 */
    size_t len;
} pe_fusion_message;

typedef struct pe_fusion_triple {
    const char *relation; /* model relation name */
    size_t start, end;    /* object span, bytes of the message text */
    float score;          /* relation score */
    double ner_score;     /* NAN = none */
} pe_fusion_triple;

typedef struct pe_fusion_counts {
    uint64_t added, updated, replaced, unchanged; /* upsert outcomes (derived and patterns included) */
    uint64_t retracted;   /* values retracted (negation, past) */
    uint64_t withheld;    /* Art. 9 values withheld */
    uint64_t rejected;    /* triples rejected (type mismatch, empty object, object inside an e-mail address,
                             phone number or other identifier of pe_ps_mask_identifiers) */
    uint64_t ignored;     /* triples below min_score */
    uint64_t derived;     /* derived attribute upserts */
    uint64_t patterns;    /* pattern matches */
} pe_fusion_counts;

/* Fuses one message's triples (and the patterns over its text) into the
 * persona store through writer w. Counts are added to *c (may be NULL). */
PE_API pe_status pe_fusion_apply(pe_fusion *f, pe_ps_writer *w, const pe_fusion_message *m, const pe_fusion_triple *t,
                          size_t n, pe_fusion_counts *c, pe_error *err);

/* An attribute of an existing user profile given as input. */
typedef struct pe_fusion_profile_attr {
    const char *attribute;  /* persona attribute name ("residence"); required */
    const char *value;      /* required */
    const char *relation;   /* NULL: the schema's first relation of that attribute, if any */
    const char *entity;     /* NULL: linked like a model's object */
    double confidence;      /* NAN: 1 */
} pe_fusion_profile_attr;

/* Fuses a profile's attributes (method PE_PS_FROM_PROFILE, rule
 * "profile"): the schema entry of the attribute (cardinality, classes,
 * sensitivity; unknown attributes are multi-valued, sensitivity none),
 * linking and type check (a mismatch drops the entity and down-weights),
 * Art. 9 withholding and derived attributes as for model triples. The
 * evidence's message id is `profile_id` (replaying a profile changes
 * nothing) and its snippet the value; time: the profile's time (Unix
 * seconds; 0 when unknown, so that any message outranks it in recency). */
PE_API pe_status pe_fusion_apply_profile(pe_fusion *f, pe_ps_writer *w, const char *user, const char *profile_id, double time,
                                  const pe_fusion_profile_attr *a, size_t n, pe_fusion_counts *c, pe_error *err);

/* ---- Helpers ---------------------------------------------------------------- */

/* Parses a timestamp: Unix seconds (integer or decimal, as text) or ISO
 * 8601 ("2024-05-01", "2024-05-01T10:00:00Z", "...+02:00", fractions).
 * PE_ERR_PARSE when it is neither. */
PE_API pe_status pe_fusion_parse_time(const char *s, double *out);

/* The age patterns alone (for tests and baselines): the first match in
 * text: value (malloc'd into *value, caller frees) and its byte span.
 * PE_NOT_FOUND when none. */
PE_API pe_status pe_fusion_match_age(const char *text, size_t len, char **value, size_t *start, size_t *end);

#ifdef __cplusplus
}
#endif
#endif
