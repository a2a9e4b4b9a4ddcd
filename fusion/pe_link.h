/*
 * pe_link.h - entity linking against the local graph store: mention spans of
 * a text -> entities of the graph (QIDs) or NIL.
 *
 * Usage:
 *
 *     // once per store (seconds per million forms): the fuzzy/acronym
 *     // index, in an LMDB environment of its own (the CLI keeps it in the
 *     // folder "link" inside the store directory)
 *     pe_error err;
 *     pe_link_index_build(kg, "kg/link", NULL, &err);
 *
 *     pe_link_model *m = NULL;
 *     pe_link_model_load("ranker.json", &m, &err);   // or NULL: prior only
 *     pe_linker *l;
 *     pe_link_options o = pe_link_options_default();
 *     o.index_dir = "kg/link";
 *     if (pe_linker_open(kg, m, &o, &l) != PE_OK) { ... pe_linker_errmsg(l) ... }
 *
 *     pe_link_mention ms[] = {{.start = 10, .end = 14, .type = PE_LINK_TYPE_PLACE}};
 *     pe_link_result *res;
 *     pe_link_text(l, NULL, "I live in Lyon", 14, ms, 1, &res);
 *     // res->mentions[0].entity: "Q456", label "Lyon", score 0.93, runner-ups
 *     pe_link_result_free(res);
 *     pe_linker_close(l);
 *     pe_link_model_free(m);
 *
 * How a mention is linked. A mention's span is read without trailing
 * ",;:!?", without a closing bracket at its end or an opening one at its
 * start that it does not balance, and without a double quote at an edge
 * when it holds an odd number of them ("NFL)" as "NFL"; "U.S." and "(a)"
 * stay); results report the span as given. Candidates (at most options.max_candidates = K per
 * mention) come from, in this order:
 *   1. the store's alias index (pe_kg_lookup of the mention's normalised
 *      form, and of its singular when the mention is a lower-case plural:
 *      "walls" -> "wall", and of its letters when it is an acronym with
 *      dots whose form names nothing: "U.N." -> "un") with its priors, and
 *      the variants of that form in the link index (percent-decoded labels,
 *      and labels whose words are joined across apostrophes and hyphens,
 *      as people type them: "mcdonalds" -> McDonald's, "walmart" ->
 *      Wal-Mart);
 *   2. acronyms: a mention such as "NBA" or "U.S." (2..8 letters, upper
 *      case) matches another mention of the same text whose initials spell
 *      it; with 3 letters or more also the forms of the link index whose
 *      initials spell it;
 *   3. partial person names: a mention whose words are the first or last
 *      words of a longer mention of the same text (or of the history, see
 *      pe_link_history) takes that mention's person candidates ("Simmons"
 *      after "Phil Simmons");
 *   4. longer names, for mentions that do not start in lower case (a
 *      leading # or @ skipped), each time the most popular
 *      PE_LINK_EXTENSION_FORMS forms of the link index: forms that start
 *      with the mention's form and a space, for 1..3 words ("Seattle" ->
 *      "Seattle Mariners"); for one word, forms of 2..4 words ending with
 *      it ("Astros" -> "Houston Astros") and forms of one word starting
 *      with its stem (the word less a suffix such as -i, -ian, -ish, -ese:
 *      "Israeli" -> "Israel", "German" -> "Germany"; a doubled last letter
 *      of the stem also once: "Scottish" -> "scot", Scotland's alias); for
 *      2..3 words, the form with such a suffix (-n, -an, -ian, -ese, -ish,
 *      -i) off its last word ("South Korean" -> "south korea");
 *      and, for one word, the places whose official language or people
 *      (its label less " people") it names, the two most popular (P37,
 *      P172: "Polish" -> Poland, "Dutch" -> Netherlands); and, for 1..3
 *      words, the PE_LINK_TEAM_FORMS most popular sports teams named
 *      after it (PE_LINK_VIA_TEAM: the first words of a team's name, a
 *      leading "FC", "SC", ... skipped, a first word in -er also as its
 *      stem: "Toronto" -> Toronto Blue Jays, "Karlsruhe" -> Karlsruher SC),
 *      kept before the other longer names when over K;
 *   5. a name of 2..4 words whose first word is an abbreviation (2..3
 *      capitals: "NY RANGERS", "LA Dodgers"), only when steps 1-4 found
 *      nothing: that word spelled out by the acronym table (its
 *      PE_LINK_FUZZY_FORMS most popular forms: "ny" -> "new york") and the
 *      rest of the name after it, looked up as a form (PE_LINK_VIA_ACRONYM);
 *   6. fuzzy forms: byte trigrams of the normalised form against the
 *      link index (Dice similarity >= options.fuzzy_min_sim; the best
 *      PE_LINK_FUZZY_FORMS forms), only when steps 1-5 found nothing.
 * With the link index the mention's own form gives at most K - 6
 * candidates, leaving room for the others; over K, candidates found
 * through another mention (partial names, acronyms) are kept first, then
 * those of the mention's own form, then the rest, each by prior.
 *
 * Each candidate gets the features named in pe_link_feature (its prior,
 * name similarity, the way it was found, type compatibility between the
 * mention's type and the candidate's P31/P279* classes, whether it is a
 * sports team, coherence with the candidates of the other mentions of the
 * text, a statement linking it to a candidate of the mention right next to
 * it, its label as the mention's name with a qualifier, context similarity
 * when the link index holds context vectors). A
 * ranker (logistic regression, pe_link_model) turns them into a score in
 * (0, 1). With coherence on, a second pass follows: PE_LINK_F_COH_TYPE
 * (how much of the other mentions' first-pass score lies on candidates of
 * the candidate's coarse type: clubs among clubs, countries among
 * countries) is computed from those scores and every candidate scored
 * again. The best candidate is chosen unless its score is below the
 * model's NIL threshold (its short-text one when the text has at most
 * PE_LINK_SHORT_TEXT mentions), then the mention is NIL. Without a model the score is the prior (a tenth of it
 * for candidates found only by longer names, stems or fuzzy matching, whose
 * prior is that of another form) and nothing is NIL unless it has no
 * candidate.
 *
 * Context: the PE_LINK_F_CONTEXT feature is the cosine between the words
 * around the mention (options.context_window on each side, default the
 * whole text; the mention's own words left out) and the candidate's
 * entity vector: TF-IDF weights of the words of its labels, aliases,
 * description and (at half weight) its neighbours' labels, computed once
 * for every entity by pe_link_index_embed (`persona link index`) and stored
 * in the link index, so linking reads one vector per candidate and never
 * looks at descriptions; PE_LINK_F_CONTEXT_REL is it relative to the
 * mention's best candidate. The words are hashed, not encoded: no model
 * is involved. An index without vectors (built by pe_link_index_build
 * alone, or before them) links the same with both features 0, and
 * pe_linker_info() and pe_link_result report the feature off.
 *
 * Errors: functions return a pe_status; the detail of the last failure of
 * a linker is in pe_linker_errmsg(l); functions without a handle take a
 * pe_error. Every function may return PE_ERR_INVALID (NULL handle or
 * output, bad argument), PE_ERR_NOMEM and the store's errors (PE_ERR_STORE,
 * PE_ERR_CORRUPT); those are not repeated below.
 *
 * Threads: one pe_linker may be shared by threads (each pe_link_text call
 * opens its own read transactions on the store and the index); a
 * pe_link_history is used by one thread at a time. The link index is
 * opened read-only without LMDB locks (MDB_NOLOCK), so any number of
 * linkers and processes may read it; rebuild it (pe_link_index_build) only
 * while no linker has it open. The store's own rule stands: one pe_kg
 * handle per store per process.
 *
 * Costs per text with the context feature on: one idf read per word of
 * the text, and per mention O(window) hash inserts and one vector read
 * (at most 64 hash probes) per candidate.
 *
 * Costs per mention (K = max_candidates, M = mentions of the text): one or
 * two alias lookups (pe_kg_lookup: the form, a plural's singular) and one
 * index read for variants of the form; at most 1 + 11 prefix searches of
 * the link index (PE_LINK_PREFIX_SCAN keys each), one suffix read and 3 x
 * PE_LINK_EXTENSION_FORMS alias lookups; for an acronym one index read and at most
 * PE_LINK_FUZZY_FORMS alias lookups; when nothing else matched, at most
 * PE_LINK_FUZZY_MAX_GRAMS trigram posting lists (lists longer than
 * PE_LINK_FUZZY_MAX_POSTINGS ids are skipped as too common) and
 * PE_LINK_FUZZY_FORMS alias lookups; then per candidate (cached within a
 * call) one entity record, its direct classes (their coarse type is
 * cached by the linker) and at most PE_LINK_MAX_NEIGHBOURS neighbours; and
 * coherence: one hash probe per neighbour and class and a walk of their
 * lists, which hold only the nearest PE_LINK_COHERENCE_WINDOW other
 * mentions and the history: O(K N (W + H)) per mention with N =
 * PE_LINK_MAX_NEIGHBOURS, W the window, H the history's entities, however
 * many mentions the text has. A qualified candidate ("Montclair, New
 * Jersey"): hash probes into maps of the text's words and of the
 * mentions' forms and first labels, built once per call (linear in the
 * text and the mentions); when its qualifier is named by none of them, at
 * most 2 alias lookups of 4 candidates (the one and two words after the
 * mention) and their entity records (at most 8), once per mention. The
 * mentions right before and after a mention are found by binary search.
 * Measured: 2,000 mentions of "Paris" in a 128 KB text link in 1.3 s
 * (40 s before these bounds).
 */
#ifndef PE_LINK_H
#define PE_LINK_H

#include <stddef.h>
#include <stdint.h>

#include "pe_kg.h"
#include "pe_util.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PE_LINK_FUZZY_MAX_POSTINGS 3000 /* longer trigram lists are skipped (too common) */
#define PE_LINK_FUZZY_MAX_GRAMS 64      /* trigrams of a mention's form read at most */
#define PE_LINK_FUZZY_FORMS 4           /* fuzzy or acronym forms looked up per mention */
#define PE_LINK_EXTENSION_FORMS 8       /* longer-name and stem forms looked up per mention */
#define PE_LINK_TEAM_FORMS 8            /* sports-team forms looked up per mention */
#define PE_LINK_PREFIX_SCAN 2000        /* index keys read at most per prefix search */
#define PE_LINK_MAX_NEIGHBOURS 256       /* statements read per candidate for coherence */
#define PE_LINK_COHERENCE_WINDOW 64      /* other mentions considered for coherence */
#define PE_LINK_MAX_K 64                 /* largest max_candidates */
#define PE_LINK_SHORT_TEXT 4             /* texts of at most this many mentions are short (their own NIL threshold) */

/* Coarse mention types: what an NER head gives (CoNLL PER/LOC/ORG/MISC,
 * WNUT person/location/corporation/group/product/creative-work). */
typedef enum pe_link_type {
    PE_LINK_TYPE_ANY = 0, /* unknown: no type feature */
    PE_LINK_TYPE_PERSON,
    PE_LINK_TYPE_PLACE,
    PE_LINK_TYPE_ORG,
    PE_LINK_TYPE_WORK,    /* creative work: film, book, song, album, series */
    PE_LINK_TYPE_PRODUCT, /* product, brand, software */
    PE_LINK_TYPE_OTHER    /* something else (MISC): no constraint */
} pe_link_type;

/* "any", "person", "place", "organisation", "work", "product", "other";
 * also accepts the NER tags PER, LOC, ORG, MISC, GPE, location,
 * corporation, group, creative-work (case-insensitive). PE_ERR_INVALID
 * for anything else. */
PE_API pe_status pe_link_type_parse(const char *name, pe_link_type *out);
PE_API const char *pe_link_type_name(pe_link_type t);

/* A mention: a byte span [start, end) of the text, on UTF-8 character
 * boundaries, start < end <= text length. */
typedef struct pe_link_mention {
    size_t start, end;
    pe_link_type type;     /* PE_LINK_TYPE_ANY when unknown */
    pe_kg_id expected;     /* a class the entity should be an instance of
                              (a relation's expected object type, e.g. Q515
                              for live_in), 0 = none; canonical id */
} pe_link_mention;

/* Features of a candidate, in this order in pe_link_candidate.f and in the
 * model file. */
typedef enum pe_link_feature {
    PE_LINK_F_LOG_PRIOR = 0, /* ln(prior) of the form it was found by (>= -20) */
    PE_LINK_F_TOP_PRIOR,     /* 1 when it has the highest prior of the mention's own form */
    PE_LINK_F_LABEL,         /* 1 when the form is a label (not only an alias) */
    PE_LINK_F_NAME_SIM,      /* trigram Dice of mention and candidate's label, 0..1 */
    PE_LINK_F_FUZZY,         /* 1 when found only by fuzzy matching */
    PE_LINK_F_ACRONYM,       /* 1 when found as an acronym */
    PE_LINK_F_PARTIAL,       /* 1 when found through a longer name (partial person name) */
    PE_LINK_F_PARTIAL_NIL,   /* 1 when the mention is part of a longer name that had no candidate */
    PE_LINK_F_EXTENSION,     /* 1 when found as a longer name ("Seattle" -> "Seattle Mariners") */
    PE_LINK_F_STEM,          /* 1 when found by the stem of a word ("Israeli" -> "Israel") */
    PE_LINK_F_STEM_PLACE,    /* 1 when found by a stem and a place (a demonym's country) */
    PE_LINK_F_POPULARITY,    /* (ln(1+sitelinks) + ln(1+in-degree)) / 10 */
    PE_LINK_F_TYPE,          /* +1 type compatible, -1 incompatible, 0 unknown */
    PE_LINK_F_COH_LINK,      /* share of other mentions with a candidate linked to it, weighted by prior */
    PE_LINK_F_COH_SHARED,    /* the same for candidates sharing a neighbour */
    PE_LINK_F_COH_CLASS,     /* share of other mentions with a candidate of one of its direct classes */
    PE_LINK_F_AMBIGUITY,     /* ln(number of candidates of the mention) / 4 */
    PE_LINK_F_CONTEXT,       /* cosine of the mention's context words and the entity's vector, 0..1 (0 while off) */
    PE_LINK_F_CONTEXT_REL,   /* context / the highest context among the mention's candidates (0 while off) */
    PE_LINK_F_TEAM,          /* 1 when it is a sports team (club, national team) */
    PE_LINK_F_COH_TYPE,      /* second pass: the other mentions' share of first-pass score on candidates of
                                its coarse type (a sports team counting as a team only), 0..1 */
    PE_LINK_F_LANG_PEOPLE,   /* 1 when it is a language or a people (ethnic group): "Russian" as the language,
                                where news benchmarks mostly mean the country */
    PE_LINK_F_DATELINE_CITY, /* 1 when it is a city or town and the mention a news dateline's place (followed by a
                                date or an agency: "NEW YORK 1996-08-30", "WASHINGTON (Reuters)") */
    PE_LINK_F_TEAM_DOC,      /* how much the text is about matches: v = the share of the text's other mentions
                                (with candidates) whose candidate of highest context is a sports team; +v for
                                the mention's first sports team (by prior), -v for its candidates that are no
                                team, 0 for the rest and while the context feature is off */
    PE_LINK_F_FEW_MENTIONS,  /* 1 / the number of mentions linked together (1 for a lone mention): tells short
                                texts such as tweets, with little coherence and context, from documents */
    PE_LINK_F_STEM_NAME,     /* 1 when found by a stem and its label starts with the mention's first 3 letters
                                ("English" -> England, not the United Kingdom, which also speaks it) */
    PE_LINK_F_QUALIFIED,     /* 1 when its label is the mention's form and a qualifier, as encyclopedia titles
                                tell places and namesakes apart: "Gainesville, Florida", "Washington, D.C.",
                                "Raven (band)" for "Gainesville", "Washington", "Raven" */
    PE_LINK_F_QUALIFIER_NAMED, /* 1 when it is qualified and the text names the qualifier: its words outside
                                the mention, the label of another mention's top-prior candidate
                                ("Columbus , GA" -> "Columbus, Georgia", GA's first candidate Georgia), or the
                                label of one of the first 4 candidates of the one or two words right after
                                it, a comma between allowed, whether or not they are a mention
                                ("Paramus, N.J.," -> "Paramus, New Jersey") */
    PE_LINK_F_ADJACENT_LINK, /* "A , B" or "A B": a mention next to this one with nothing but spaces and at most
                                one comma between them ("Chicago , IL", "Headingley , Leeds"): the highest prior
                                among that mention's candidates linked to this one by a statement (either
                                way), a tenth of it for candidates not of its own form; 0 without one */
    PE_LINK_F_SURNAME,       /* 1 when the mention is one word and the candidate a person whose label of two words
                                or more ends with it: "Lebed" -> Alexander Lebed in a text that never gives the
                                full name (a sentence, a tweet), where "Lebed" also starts the place Lebedyn */
    PE_LINK_NFEATURES
} pe_link_feature;

/* Static names ("log_prior", ...), also the keys of the model file. */
PE_API const char *pe_link_feature_name(pe_link_feature f);

/* ---- Link index (fuzzy forms, acronyms, coarse types) ------------------- */

typedef struct pe_link_index_stats {
    uint64_t forms;      /* distinct normalised forms indexed */
    uint64_t trigrams;   /* distinct trigrams */
    uint64_t postings;   /* (trigram, form) pairs */
    uint64_t acronyms;   /* (acronym, form) pairs */
    uint64_t typed;      /* entities with a coarse type */
    uint64_t entities;   /* entity records read */
    double seconds;
} pe_link_index_stats;

/* Builds (or rebuilds) the link index of the store in directory dir (made
 * when missing) from the store's entity records: every label and alias
 * (normalised as the alias index does), with the popularity of its most
 * popular entity, their byte trigrams and their acronyms (initials of the
 * words, with and without "of", "the", "and", "for", "de"). The index records the store's counts, so an index
 * older than the store is noticed (pe_linker_info().index_stale). Reads a
 * snapshot; the store may be read meanwhile. stats may be NULL. Memory:
 * the forms, trigram postings and class table are held in memory while
 * building (about 60 bytes per form plus 8 per posting).
 *
 * Layout: one LMDB environment (data.mdb, lock.mdb in dir), version 3,
 * integers big-endian:
 *   meta   "version" u32 = 3; "kg" u64 x 3 (the store's terms, entities,
 *          triples when built); "stats" u64 x 6 (pe_link_index_stats
 *          counts) and f64 seconds
 *   form   form id u32 -> popularity f32, form\0
 *   gram   3 bytes -> form ids u32 x n, ascending
 *   acro   acronym (lower case) -> form ids u32 x n, most popular first
 *          (at most 256)
 *   name   a form, or a variant of it (the normalised percent-decoding of
 *          a label such as "Milo%C5%A1evi%C4%87"), or byte 4 and the label
 *          without its apostrophes and hyphens ("McDonald's" ->
 *          "mcdonalds"; exact lookup only, never cut), or byte 1 and the last
 *          word of a form of 2..4 words, or byte 2 and a place's adjective,
 *          or byte 3 and the first 1..3 words of a sports team's name (see
 *          candidates, step 4; an index built before these keys simply
 *          finds no team), cut to 480 bytes ->
 *          (form id u32, popularity f32) x n; keys in byte order, for
 *          prefix search
 * Errors: PE_ERR_IO (dir), PE_ERR_STORE. */
PE_API pe_status pe_link_index_build(pe_kg *kg, const char *dir, pe_link_index_stats *stats, pe_error *err);

typedef struct pe_link_embed_stats {
    uint64_t entities;   /* entity records with texts read */
    uint64_t vectors;    /* entities given a vector */
    uint64_t words;      /* distinct words (idf entries) */
    uint64_t terms;      /* (entity, word) pairs stored */
    double seconds;
} pe_link_embed_stats;

/* Adds the context vectors to the link index in dir (built before by
 * pe_link_index_build, which also drops them: run this after each build).
 * Words: maximal runs of letters and digits, folded like the alias index
 * (ASCII lower-cased, others through pe_text_normalize; "soccer" read as
 * "football", the word the graph's descriptions use), without stop words,
 * one-letter words and numbers, hashed to 32 bits (FNV-1a). An entity's
 * words: those of its labels, aliases and descriptions (each counting 1)
 * and of the English labels of at most 32 out- and 32 in-neighbours
 * (classes included; each counting 0.5). Its vector: max(0.1, 1 + ln
 * count) x idf per word, idf = ln(1 + N / df) over the N entities with
 * words, the 64 heaviest kept, unit length. Reads a snapshot of the store; no linker may have the index
 * open. Memory: about 8 bytes per (entity, word) pair while building.
 *
 * Layout (added to the index environment, integers big-endian):
 *   meta   "ctx" u32 version = 1, u64 x 4 (pe_link_embed_stats counts), f64 seconds
 *   idf    word hash u32 -> idf f32 (as u32 bits)
 *   lex    entity id u64 -> (word hash u32, weight f32) x n, n <= 64,
 *          hashes ascending, sum of squared weights 1
 * Errors: PE_ERR_IO (no index in dir), PE_ERR_CORRUPT (dir holds another
 * index version or something else), PE_ERR_STORE. stats may be NULL. */
PE_API pe_status pe_link_index_embed(pe_kg *kg, const char *dir, pe_link_embed_stats *stats, pe_error *err);

/* ---- Ranker model ---------------------------------------------------------- */

/* The ranker: a logistic regression, score = sigmoid(bias + sum w[i] f[i]),
 * and the NIL thresholds on that score: one for texts of at most
 * PE_LINK_SHORT_TEXT mentions linked together (tweets, a sentence: little
 * coherence and context, so their scores run lower) and one for the rest;
 * optionally (hidden > 0) a reranker beside it: a one-hidden-layer MLP
 * (ReLU) over the same features, rerank = sigmoid(ob + sum_h ow[h] *
 * max(0, hb[h] + sum_i hw[h][i] f[i])), the mean logit of `members` MLPs
 * trained with other seeds, stored as one of hidden = members x units.
 * With a reranker the candidates are ordered by rerank and the first one is
 * linked unless its score (the logistic regression's, which the NIL
 * thresholds are tuned on) is under the threshold: the MLP chooses which
 * candidate, the linear model whether to link. The second pass's type
 * coherence reads the scores, not rerank. Without one, rerank = score.
 * File format (JSON; version 1 without a reranker, 2 with one):
 *   {"format": "persona-link-ranker", "version": 1,
 *    "features": ["log_prior", ...],     (names, in any order; a name this
 *                                          build does not know is an error,
 *                                          a missing one gets weight 0; at
 *                                          most 4 x PE_LINK_NFEATURES names)
 *    "weights": [..], "bias": b, "nil_threshold": t,
 *    "nil_threshold_short": ts,          (optional; missing or -1: t)
 *    "trained_on": "...", "l2": lambda,
 *    "reranker": {"hidden": H, "members": M, "epochs": E, "seed": S,  (version 2)
 *                 "w1": [[.. one a feature, in "features" order ..] x H],
 *                 "b1": [H], "w2": [H], "b2": b}}
 * The reranker's first layer reads the raw features (the standardisation
 * it was trained with is folded into w1 and b1). */
#define PE_LINK_MAX_HIDDEN 64
typedef struct pe_link_model {
    double w[PE_LINK_NFEATURES];
    double bias;
    double nil_threshold; /* in [0, 1]; 0 = never NIL */
    double nil_threshold_short; /* the same for short texts (PE_LINK_SHORT_TEXT); -1 = nil_threshold */
    double l2;            /* regularisation it was trained with */
    char trained_on[256]; /* free text: data and date */
    /* the reranker; hidden = 0: none */
    int hidden;           /* 0..PE_LINK_MAX_HIDDEN units in all */
    int members, epochs;  /* how it was trained (informative) */
    unsigned long long seed;
    double hw[PE_LINK_MAX_HIDDEN][PE_LINK_NFEATURES];
    double hb[PE_LINK_MAX_HIDDEN];
    double ow[PE_LINK_MAX_HIDDEN];
    double ob;
} pe_link_model;

/* Parameters that rank by prior only (w[log_prior] = 1), no NIL. *out
 * malloc'd; free with pe_link_model_free. */
PE_API pe_status pe_link_model_new(pe_link_model **out);
PE_API void pe_link_model_free(pe_link_model *m);
/* PE_ERR_IO (file), PE_ERR_PARSE (not a ranker file: the message names
 * what is wrong), PE_ERR_UNSUPPORTED (newer version). Files of up to 1 MiB. */
PE_API pe_status pe_link_model_load(const char *path, pe_link_model **out, pe_error *err);
PE_API pe_status pe_link_model_save(const pe_link_model *m, const char *path, pe_error *err);

/* Training data: candidates of mentions with their features and labels. */
typedef struct pe_link_trainset pe_link_trainset;
PE_API pe_status pe_link_trainset_new(pe_link_trainset **out);
PE_API void pe_link_trainset_free(pe_link_trainset *t);
/* Adds one mention: n candidates, features f[n][PE_LINK_NFEATURES]; gold =
 * index of the right candidate, or -1 when the right answer is NIL (or not
 * among the candidates: then NIL is the best the linker can do). */
PE_API pe_status pe_link_trainset_add(pe_link_trainset *t, const double *f, size_t n, int gold);
PE_API size_t pe_link_trainset_mentions(const pe_link_trainset *t);

typedef struct pe_link_train_options {
    double l2;        /* L2 penalty on the weights (not the bias); default 1.0 */
    int iterations;   /* Newton steps at most; default 50 */
    int tune_nil;     /* also pick nil_threshold (see pe_link_train); default 1 */
    double nil_max_loss; /* share of the rightly linked mentions the NIL threshold
                            may give up; default 0.02 */
    int hidden;       /* the reranker's units per member; 0: no reranker; default 16 */
    int members;      /* MLPs of other seeds averaged (hidden x members <=
                         PE_LINK_MAX_HIDDEN); default 3 */
    int epochs;       /* passes of Adam over the candidates; default 30 */
    unsigned long long seed; /* member k's seed is seed + k; default 1 */
} pe_link_train_options;
PE_API pe_link_train_options pe_link_train_options_default(void);

/* Fits m (weights, bias) by Newton's method on the candidates of t (the
 * gold candidate 1, the others 0); when opt->hidden > 0, the reranker too:
 * opt->members MLPs of opt->hidden ReLU units on the standardised features
 * (a feature with one value in every row of t gets no weight), each fitted to the same 0/1
 * labels by Adam (learning rate 3e-3, batches of 2,048 candidates, the
 * pointwise logistic loss, opt->epochs passes in an order drawn from its
 * seed), then averaged in one layer (mean logit). And when opt->tune_nil,
 * the NIL threshold on the score of each mention's first candidate (by
 * rerank) that maximises the mentions answered right (gold chosen, or
 * NIL for gold -1) among the thresholds that keep at least (1 -
 * nil_max_loss) of the mentions rightly linked without a threshold (so
 * that NIL detection costs in-graph accuracy at most that share), twice:
 * nil_threshold_short on the mentions of short texts (their candidates'
 * PE_LINK_F_FEW_MENTIONS >= 1 / PE_LINK_SHORT_TEXT), nil_threshold on the
 * others (both the one threshold when a group is empty; without tune_nil
 * both 0). Deterministic. PE_ERR_INVALID when t has no candidate or
 * the options are out of range; PE_ERR_NOMEM. opt may be NULL. About a
 * second per 10,000 candidates with the default reranker. */
PE_API pe_status pe_link_train(pe_link_trainset *t, const pe_link_train_options *opt, pe_link_model *m, pe_error *err);
/* Score of one feature vector under m (the logistic regression), in [0, 1]
 * (0 when weights so large that their sum is undefined, inf - inf). */
PE_API double pe_link_model_score(const pe_link_model *m, const double *f);
/* The reranker's score, which orders the candidates; without a reranker
 * (m->hidden == 0) the score. */
PE_API double pe_link_model_rerank(const pe_link_model *m, const double *f);

/* ---- Linker ---------------------------------------------------------------- */

typedef struct pe_linker pe_linker;

typedef struct pe_link_options {
    size_t max_candidates;  /* K, 1..PE_LINK_MAX_K; default 24 */
    size_t runner_ups;      /* candidates reported after the chosen one; default 3 */
    int fuzzy;              /* fuzzy candidates (needs the link index); default 1 */
    int acronyms;           /* default 1 */
    int partial_names;      /* default 1 */
    int coherence;          /* default 1 */
    double fuzzy_min_sim;   /* trigram Dice floor for fuzzy forms; default 0.6 */
    const char *index_dir;  /* link index (pe_link_index_build); NULL = none */
    const char *lang;       /* label language of results; NULL = "en" */
    int context;            /* the context feature when the index has vectors; default 1 */
    size_t context_window;  /* words on each side of a mention that count as its
                               context, 0 = the whole text; default 0 */
} pe_link_options;

PE_API pe_link_options pe_link_options_default(void);

/* Opens a linker over an open store. model NULL = prior only; the model is
 * copied. A missing link index is not an error: fuzzy and acronym
 * candidates and the coarse types are then off (pe_linker_info says so).
 * On failure *out is set when a handle could be made (for errmsg); close
 * it in every case. The store must outlive the linker. Errors:
 * PE_ERR_CORRUPT (the index folder holds something else). */
PE_API pe_status pe_linker_open(pe_kg *kg, const pe_link_model *model, const pe_link_options *opt, pe_linker **out);
/* NULL is a no-op. No pe_link_text call may be running. */
PE_API void pe_linker_close(pe_linker *l);
PE_API const char *pe_linker_errmsg(const pe_linker *l);

typedef struct pe_linker_info {
    int index;          /* 1 when the link index is open */
    int index_stale;    /* 1 when the store changed after the index was built */
    int context;        /* 1 when the context feature is on (entity vectors) */
    pe_link_index_stats index_stats;
    pe_link_embed_stats context_stats; /* zero when off */
} pe_linker_info;
PE_API pe_status pe_linker_info_get(pe_linker *l, pe_linker_info *out);

/* Entities linked earlier for the same user or document (partial names and
 * coherence reach back into it). Bounded: the last 256 linked entities. */
typedef struct pe_link_history pe_link_history;
PE_API pe_status pe_link_history_new(pe_link_history **out);
PE_API void pe_link_history_free(pe_link_history *h);

/* How a candidate was found (bits). */
enum { PE_LINK_VIA_EXACT = 1, PE_LINK_VIA_ACRONYM = 2, PE_LINK_VIA_PARTIAL = 4, PE_LINK_VIA_FUZZY = 8,
       PE_LINK_VIA_HISTORY = 16, PE_LINK_VIA_EXTENSION = 32, PE_LINK_VIA_STEM = 64,
       PE_LINK_VIA_TEAM = 128 /* a sports team named after the mention ("Toronto" -> Toronto Blue Jays) */ };

typedef struct pe_link_candidate {
    pe_kg_id id;
    const char *qid;     /* canonical term ("Q90" or an IRI) */
    const char *label;   /* in options.lang, or NULL when it has none */
    double score;        /* ranker score in (0, 1): the logistic regression's, which NIL reads */
    double rerank;       /* the reranker's score, which orders the candidates (= score without one) */
    double prior;        /* prior of the form it was found by */
    unsigned via;        /* PE_LINK_VIA_* bits */
    double f[PE_LINK_NFEATURES];
} pe_link_candidate;

typedef struct pe_link_mention_result {
    size_t start, end;           /* the span, as given */
    const char *surface;         /* the mention's text (NUL-terminated copy) */
    int nil;                     /* 1 when linked to nothing */
    const pe_link_candidate *entity; /* chosen candidate (NULL when nil) */
    size_t n_candidates;         /* chosen first (when not nil), then runner-ups by score */
    pe_link_candidate *candidates;
    size_t n_considered;         /* candidates scored (may exceed n_candidates) */
} pe_link_mention_result;

typedef struct pe_link_result {
    size_t n;
    pe_link_mention_result *mentions; /* in the order given */
    int context_on;                   /* 1 when the context feature was computed */
} pe_link_result;

/* Links the mentions of a text. The result (*out, malloc'd with its
 * strings) is freed with pe_link_result_free; it does not depend on the
 * store staying open. history may be NULL; when given, partial names
 * and coherence also use the entities it holds, and the entities linked
 * here are added to it. n may be 0 (an empty result). Errors:
 * PE_ERR_INVALID (empty text, a span outside the text, empty or reversed,
 * or overlapping nothing but not on a character boundary: the message
 * names the mention's index and its span), PE_ERR_UTF8 (text not valid
 * UTF-8: the message gives the byte offset). */
PE_API pe_status pe_link_text(pe_linker *l, pe_link_history *history, const char *text, size_t len,
                       const pe_link_mention *mentions, size_t n, pe_link_result **out);
PE_API void pe_link_result_free(pe_link_result *r);

/* ---- Evaluation on the ELEVANT benchmark format --------------------------- */

/* One document a line: {"text": ..., "labels": [{"span": [start, end],
 * "entity_id": "Q..." | "<NIL>", "type": ...}, ...]}. Spans are in
 * characters (code points), as ELEVANT writes them. Labels whose entity_id
 * is "QUANTITY", "DATETIME" or "<NO_MAPPING>", coreference labels
 * ("coref": true) and labels nested in another ("parent") are not
 * evaluated (counted in skipped_labels). A gold QID that the store does
 * not hold counts as NIL (the mention cannot be linked to this graph). */
typedef struct pe_link_eval_options {
    int strict;           /* a line that does not parse stops the run (PE_ERR_PARSE) */
    int gold_types;       /* pass the benchmark's type field as the mention type
                             (an oracle NER: the types come from the gold entity) */
    size_t max_docs;      /* 0 = all */
    pe_link_trainset *collect; /* when set, every mention's candidates are added
                                  (gold index, or -1) for training */
    int sentences;        /* link each sentence of a text (". ", "? ", "! ", a line
                             break) with its mentions as a text of its own, as
                             short texts are linked */
    const char *trace;    /* when set, a file that one JSON object a mention is
                             appended to (for error analysis): file, line,
                             surface, the text around it, gold, whether it is in
                             the graph, the gold's rank among the candidates
                             (-1: none), NIL, every candidate by score with
                             its nonzero features */
} pe_link_eval_options;
PE_API pe_link_eval_options pe_link_eval_options_default(void);

typedef struct pe_link_eval_result {
    uint64_t docs, mentions;        /* evaluated mentions */
    uint64_t skipped_lines, skipped_labels;
    uint64_t in_graph;              /* gold QID in the graph */
    uint64_t correct;               /* in-graph mentions linked to the gold QID */
    uint64_t prior_correct;         /* the most-prior candidate is the gold QID */
    uint64_t gold_in_candidates;    /* in-graph mentions with gold among the candidates */
    uint64_t nil_gold;              /* mentions whose answer is NIL for this graph */
    uint64_t nil_predicted, nil_correct;
    uint64_t correct_overall;       /* in-graph correct + NIL gold predicted NIL */
    double in_graph_accuracy, prior_baseline_in_graph_accuracy;
    double nil_precision, nil_recall, candidate_recall, overall_accuracy;
    double seconds, mentions_per_s; /* linking time only (not parsing) */
    char first_error[PE_ERRMSG_MAX];
} pe_link_eval_result;

/* Runs the linker over a benchmark file. A line that does not parse is
 * skipped and counted (first_error names file:line) unless opt->strict.
 * Errors: PE_ERR_IO (also the trace file), PE_ERR_PARSE (strict). */
PE_API pe_status pe_link_eval_file(pe_linker *l, const char *path, const pe_link_eval_options *opt,
                            pe_link_eval_result *out, pe_error *err);

/* ---- Training on a benchmark file ----------------------------------------- */

/* One round of pe_link_train_file, as on_round sees it. */
typedef struct pe_link_train_round {
    int round, rounds;     /* 0-based round, and how many there are */
    size_t mentions;       /* mentions collected this round */
    double seconds;        /* the round's linking and fitting */
    double fit_seconds;    /* its pe_link_train alone */
} pe_link_train_round;

typedef struct pe_link_train_file_options {
    pe_link_train_options train; /* each round's fit (pe_link_train); train.hidden
                                    and train.members are the last round's reranker
                                    (the rounds before fit none) */
    pe_link_options link;  /* how the file is linked (index_dir, max_candidates,
                              features); the model is the rounds' own. The
                              default has no index_dir: set it, or the
                              training links without the link index (exact
                              and partial-name candidates only) */
    int rounds;            /* 1..16 (PE_ERR_INVALID otherwise); default 2 */
    int sentences;         /* each round links the file twice: as documents and
                              with each sentence as a text of its own; default 1 */
    int gold_types;        /* pe_link_eval_options.gold_types */
    size_t max_docs;       /* 0 = all */
    /* when set, called after each round's fit with the model so far (to
     * report progress, or save each round's ranker); a status other than
     * PE_OK stops the training with that status, and the message the
     * callback set in err (never NULL) */
    pe_status (*on_round)(void *ctx, const pe_link_train_round *r, const pe_link_model *m, pe_error *err);
    void *ctx;
} pe_link_train_file_options;
PE_API pe_link_train_file_options pe_link_train_file_options_default(void);

typedef struct pe_link_train_file_result {
    size_t mentions;        /* mentions the last round learnt from */
    uint64_t skipped_lines; /* lines of the file that did not parse (first round) */
    char first_error[PE_ERRMSG_MAX]; /* the first of them, file:line */
} pe_link_train_file_result;

/* Trains m on an ELEVANT benchmark file (pe_link_eval_file's format)
 * linked against kg, in opt->rounds rounds: the first links the file by
 * prior, each later one with the ranker of the round before, so that the
 * second-pass feature (coh_type, computed from the first pass's scores) is
 * learnt as the trained linker computes it. The reranker does not change
 * what a round collects (type coherence reads the scores), so it is fitted
 * in the last round only. m's earlier contents are replaced; its
 * trained_on names the file, the mentions and the gold types. res may be
 * NULL. When a round fails, m holds the fit of the rounds before it. Errors:
 * PE_ERR_INVALID (NULL kg, path or m; rounds out of range), pe_linker_open's,
 * pe_link_eval_file's, pe_link_train's, on_round's (err: the message it
 * set, else "training stopped after round N"). */
PE_API pe_status pe_link_train_file(pe_kg *kg, const char *path, const pe_link_train_file_options *opt,
                                    pe_link_model *m, pe_link_train_file_result *res, pe_error *err);

#ifdef __cplusplus
}
#endif
#endif
