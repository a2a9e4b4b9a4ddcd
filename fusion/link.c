/* link.c - the linker: candidates (alias index, acronyms, partial person
 * names, fuzzy forms), their features (prior, names, types, coherence) and
 * the ranker's choice. See pe_link.h for the contract. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "link_internal.h"

enum { BIT_PERSON = 1, BIT_PLACE = 2, BIT_ORG = 4, BIT_WORK = 8, BIT_PRODUCT = 16, BIT_TEAM = 32, BIT_LANG = 64,
       BIT_CITY = 128 /* a settlement: city, town, capital (also a place) */ };
#define NBITS 8 /* coarse type bits */

/* Root classes of the coarse types: Wikidata classes (their P279*
 * subclasses inherit the type) and DBpedia ontology classes (the store
 * rarely holds the ontology's subClassOf, so the common leaves are listed). */
static const struct { const char *term; unsigned bits; } k_roots[] = {
    {"Q5", BIT_PERSON}, {"Q215627", BIT_PERSON}, {"Q95074", BIT_PERSON}, {"Q15632617", BIT_PERSON},
    {"Q17334923", BIT_PLACE}, {"Q2221906", BIT_PLACE}, {"Q618123", BIT_PLACE}, {"Q486972", BIT_PLACE | BIT_CITY},
    {"Q56061", BIT_PLACE}, {"Q82794", BIT_PLACE}, {"Q27096213", BIT_PLACE}, {"Q515", BIT_PLACE | BIT_CITY},
    {"Q6256", BIT_PLACE}, {"Q3624078", BIT_PLACE}, {"Q1549591", BIT_PLACE | BIT_CITY}, {"Q5119", BIT_PLACE | BIT_CITY},
    {"Q7275", BIT_PLACE}, {"Q35657", BIT_PLACE}, {"Q107390", BIT_PLACE}, {"Q10864048", BIT_PLACE},
    {"Q1637706", BIT_PLACE | BIT_CITY}, {"Q23442", BIT_PLACE}, {"Q8502", BIT_PLACE}, {"Q4022", BIT_PLACE},
    {"Q41176", BIT_PLACE}, {"Q483110", BIT_PLACE}, {"Q532", BIT_PLACE}, {"Q3957", BIT_PLACE},
    {"Q70208", BIT_PLACE}, {"Q1093829", BIT_PLACE | BIT_CITY}, {"Q28640", BIT_PLACE | BIT_PERSON},
    {"Q43229", BIT_ORG}, {"Q4830453", BIT_ORG}, {"Q783794", BIT_ORG}, {"Q891723", BIT_ORG},
    {"Q6881511", BIT_ORG}, {"Q476028", BIT_ORG | BIT_TEAM}, {"Q847017", BIT_ORG | BIT_TEAM},
    {"Q12973014", BIT_ORG | BIT_TEAM}, {"Q6979593", BIT_ORG | BIT_TEAM}, {"Q1194951", BIT_ORG | BIT_TEAM},
    {"Q7278", BIT_ORG}, {"Q3918", BIT_ORG}, {"Q2385804", BIT_ORG}, {"Q327333", BIT_ORG},
    {"Q215380", BIT_ORG}, {"Q5741069", BIT_ORG}, {"Q18127", BIT_ORG}, {"Q1320047", BIT_ORG},
    {"Q4438121", BIT_ORG}, {"Q163740", BIT_ORG}, {"Q484652", BIT_ORG}, {"Q2088357", BIT_ORG},
    {"Q15911314", BIT_ORG}, {"Q11032", BIT_ORG | BIT_WORK},
    {"Q386724", BIT_WORK}, {"Q17537576", BIT_WORK}, {"Q838948", BIT_WORK}, {"Q11424", BIT_WORK},
    {"Q5398426", BIT_WORK}, {"Q15416", BIT_WORK}, {"Q482994", BIT_WORK}, {"Q7366", BIT_WORK},
    {"Q134556", BIT_WORK}, {"Q7725634", BIT_WORK}, {"Q571", BIT_WORK}, {"Q47461344", BIT_WORK},
    {"Q2188189", BIT_WORK}, {"Q105543609", BIT_WORK}, {"Q1002697", BIT_WORK}, {"Q21198342", BIT_WORK},
    {"Q2424752", BIT_PRODUCT}, {"Q431289", BIT_PRODUCT}, {"Q7397", BIT_PRODUCT}, {"Q7889", BIT_PRODUCT | BIT_WORK},
    {"Q40056", BIT_PRODUCT}, {"Q166142", BIT_PRODUCT}, {"Q1420", BIT_PRODUCT}, {"Q3231690", BIT_PRODUCT},
    {"Q9135", BIT_PRODUCT},
    {"Q34770", BIT_LANG}, {"Q20162172", BIT_LANG}, {"Q41710", BIT_LANG}, {"Q2472587", BIT_LANG},
};
static const struct { const char *name; unsigned bits; } k_dbo[] = {
    {"Person", BIT_PERSON}, {"MusicalArtist", BIT_PERSON}, {"Politician", BIT_PERSON}, {"OfficeHolder", BIT_PERSON},
    {"Writer", BIT_PERSON}, {"SoccerPlayer", BIT_PERSON}, {"SoccerManager", BIT_PERSON}, {"Scientist", BIT_PERSON},
    {"MilitaryPerson", BIT_PERSON}, {"Royalty", BIT_PERSON}, {"Philosopher", BIT_PERSON}, {"Jockey", BIT_PERSON},
    {"Artist", BIT_PERSON}, {"Athlete", BIT_PERSON}, {"Comedian", BIT_PERSON}, {"ComicsCreator", BIT_PERSON},
    {"IceHockeyPlayer", BIT_PERSON}, {"ScreenWriter", BIT_PERSON}, {"CollegeCoach", BIT_PERSON},
    {"FigureSkater", BIT_PERSON}, {"Actor", BIT_PERSON}, {"FormulaOneRacer", BIT_PERSON}, {"HorseTrainer", BIT_PERSON},
    {"SportsTeamMember", BIT_PERSON}, {"FictionalCharacter", BIT_PERSON},
    {"Location", BIT_PLACE}, {"Place", BIT_PLACE}, {"Settlement", BIT_PLACE}, {"AdministrativeRegion", BIT_PLACE},
    {"City", BIT_PLACE | BIT_CITY}, {"Town", BIT_PLACE | BIT_CITY}, {"Village", BIT_PLACE | BIT_CITY}, {"Country", BIT_PLACE}, {"River", BIT_PLACE},
    {"CityDistrict", BIT_PLACE}, {"Station", BIT_PLACE}, {"Building", BIT_PLACE}, {"Road", BIT_PLACE},
    {"Stadium", BIT_PLACE}, {"Island", BIT_PLACE}, {"Mountain", BIT_PLACE}, {"MountainRange", BIT_PLACE},
    {"Airport", BIT_PLACE}, {"Lake", BIT_PLACE}, {"WineRegion", BIT_PLACE},
    {"Organisation", BIT_ORG}, {"Band", BIT_ORG}, {"SoccerClub", BIT_ORG | BIT_TEAM}, {"Company", BIT_ORG},
    {"University", BIT_ORG}, {"RecordLabel", BIT_ORG}, {"SportsTeam", BIT_ORG | BIT_TEAM}, {"MilitaryUnit", BIT_ORG},
    {"TelevisionStation", BIT_ORG}, {"PoliticalParty", BIT_ORG}, {"RadioStation", BIT_ORG}, {"School", BIT_ORG},
    {"SoccerLeague", BIT_ORG}, {"HockeyTeam", BIT_ORG | BIT_TEAM}, {"Publisher", BIT_ORG}, {"GovernmentAgency", BIT_ORG},
    {"BasketballTeam", BIT_ORG | BIT_TEAM}, {"AmericanFootballTeam", BIT_ORG | BIT_TEAM}, {"RugbyClub", BIT_ORG | BIT_TEAM},
    {"BaseballTeam", BIT_ORG | BIT_TEAM}, {"CricketTeam", BIT_ORG | BIT_TEAM},
    {"BroadcastNetwork", BIT_ORG}, {"Legislature", BIT_ORG}, {"PublicTransitSystem", BIT_ORG},
    {"TelevisionShow", BIT_WORK}, {"Film", BIT_WORK}, {"Song", BIT_WORK}, {"Single", BIT_WORK},
    {"Album", BIT_WORK}, {"TelevisionEpisode", BIT_WORK}, {"Book", BIT_WORK}, {"Work", BIT_WORK},
    {"Magazine", BIT_WORK}, {"VideoGame", BIT_WORK | BIT_PRODUCT},
    {"Software", BIT_PRODUCT}, {"Automobile", BIT_PRODUCT}, {"InformationAppliance", BIT_PRODUCT},
    {"Aircraft", BIT_PRODUCT}, {"ProgrammingLanguage", BIT_PRODUCT},
    {"Language", BIT_LANG}, {"EthnicGroup", BIT_LANG},
};

#define HIST_MAX 256

struct pe_link_history {
    struct hist_ent { pe_kg_id id; unsigned bits; char *form; } e[HIST_MAX];
    size_t n, next;
};

struct pe_linker {
    pe_kg *kg;
    pe_link_model model;
    int has_model;
    pe_link_options opt;
    char *lang;
    link_index ix;
    int has_index, stale;
    pe_kg_id p279, subclass;      /* superclass predicates */
    pe_kg_id skip_p[4];           /* class predicates left out of neighbours */
    link_map roots;               /* class id -> coarse bits of the root */
    link_map cls_cache;           /* class id -> bits through P279* (+1, so 0 = unknown) */
    pthread_mutex_t mu;           /* guards err and cls_cache */
    pe_error err;
};

static const char *k_feature_names[PE_LINK_NFEATURES] = {
    "log_prior", "top_prior", "label", "name_sim", "fuzzy", "acronym", "partial", "partial_nil", "extension", "stem", "stem_place",
    "popularity", "type", "coh_link", "coh_shared", "coh_class", "ambiguity", "context", "context_rel", "team", "coh_type", "lang_people",
    "dateline_city", "team_doc", "few_mentions", "stem_name", "qualified", "qualifier_named", "adjacent_link", "surname"};

const char *pe_link_feature_name(pe_link_feature f)
{
    return (unsigned)f < PE_LINK_NFEATURES ? k_feature_names[f] : "?";
}

static const char *k_type_names[] = {"any", "person", "place", "organisation", "work", "product", "other"};

const char *pe_link_type_name(pe_link_type t)
{
    return (unsigned)t <= PE_LINK_TYPE_OTHER ? k_type_names[t] : "?";
}

pe_status pe_link_type_parse(const char *name, pe_link_type *out)
{
    if (!name || !out) return PE_ERR_INVALID;
    static const struct { const char *n; pe_link_type t; } m[] = {
        {"any", PE_LINK_TYPE_ANY}, {"", PE_LINK_TYPE_ANY}, {"person", PE_LINK_TYPE_PERSON},
        {"per", PE_LINK_TYPE_PERSON}, {"place", PE_LINK_TYPE_PLACE}, {"loc", PE_LINK_TYPE_PLACE},
        {"location", PE_LINK_TYPE_PLACE}, {"gpe", PE_LINK_TYPE_PLACE}, {"organisation", PE_LINK_TYPE_ORG},
        {"organization", PE_LINK_TYPE_ORG}, {"org", PE_LINK_TYPE_ORG}, {"corporation", PE_LINK_TYPE_ORG},
        {"group", PE_LINK_TYPE_ORG}, {"work", PE_LINK_TYPE_WORK}, {"creative-work", PE_LINK_TYPE_WORK},
        {"product", PE_LINK_TYPE_PRODUCT}, {"other", PE_LINK_TYPE_OTHER}, {"misc", PE_LINK_TYPE_OTHER}};
    for (size_t i = 0; i < sizeof m / sizeof *m; i++)
        if (strcasecmp(name, m[i].n) == 0) { *out = m[i].t; return PE_OK; }
    return PE_ERR_INVALID;
}

static unsigned type_bit(pe_link_type t)
{
    switch (t) {
    case PE_LINK_TYPE_PERSON: return BIT_PERSON;
    case PE_LINK_TYPE_PLACE: return BIT_PLACE;
    case PE_LINK_TYPE_ORG: return BIT_ORG;
    case PE_LINK_TYPE_WORK: return BIT_WORK;
    case PE_LINK_TYPE_PRODUCT: return BIT_PRODUCT;
    default: return 0;
    }
}

pe_link_options pe_link_options_default(void)
{
    pe_link_options o = {0};
    o.max_candidates = 24;
    o.runner_ups = 3;
    o.fuzzy = o.acronyms = o.partial_names = o.coherence = 1;
    o.fuzzy_min_sim = 0.6;
    o.context = 1;
    o.context_window = 0;
    return o;
}

static pe_status lfail(pe_linker *l, pe_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static pe_status lfail(pe_linker *l, pe_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&l->mu);
    pe_error_setv(&l->err, st, fmt, ap);
    pthread_mutex_unlock(&l->mu);
    va_end(ap);
    return st;
}

const char *pe_linker_errmsg(const pe_linker *l)
{
    return l ? l->err.msg : "no linker";
}

pe_status pe_linker_open(pe_kg *kg, const pe_link_model *model, const pe_link_options *opt, pe_linker **out)
{
    if (!out) return PE_ERR_INVALID;
    *out = NULL;
    pe_linker *l = calloc(1, sizeof *l);
    if (!l) return PE_ERR_NOMEM;
    pthread_mutex_init(&l->mu, NULL);
    *out = l;
    if (!kg) return lfail(l, PE_ERR_INVALID, "no store");
    l->kg = kg;
    l->opt = opt ? *opt : pe_link_options_default();
    if (l->opt.max_candidates == 0 || l->opt.max_candidates > PE_LINK_MAX_K)
        return lfail(l, PE_ERR_INVALID, "max_candidates must be 1..%d", PE_LINK_MAX_K);
    if (!(l->opt.fuzzy_min_sim >= 0 && l->opt.fuzzy_min_sim <= 1))
        return lfail(l, PE_ERR_INVALID, "fuzzy_min_sim must be in [0, 1]");
    l->lang = strdup(l->opt.lang ? l->opt.lang : "en");
    if (!l->lang) return lfail(l, PE_ERR_NOMEM, "out of memory");
    l->opt.lang = l->lang;
    l->opt.index_dir = NULL;
    if (model && (model->hidden < 0 || model->hidden > PE_LINK_MAX_HIDDEN))
        return lfail(l, PE_ERR_INVALID, "ranker: a reranker of %d units (0..%d)", model->hidden, PE_LINK_MAX_HIDDEN);
    if (model) { l->model = *model; l->has_model = 1; }

    pe_kg_reader *r;
    pe_status st = pe_kg_reader_begin(kg, &r);
    if (st != PE_OK) return lfail(l, st, "%s", pe_kg_errmsg(kg));
    static const char *preds[4] = {"P31", "P279", "http://www.w3.org/1999/02/22-rdf-syntax-ns#type",
                                   "http://www.w3.org/2000/01/rdf-schema#subClassOf"};
    for (int i = 0; i < 4; i++) pe_kg_resolve(r, preds[i], strlen(preds[i]), &l->skip_p[i]);
    l->p279 = l->skip_p[1];
    l->subclass = l->skip_p[3];
    st = PE_OK;
    for (size_t i = 0; i < sizeof k_roots / sizeof *k_roots && st == PE_OK; i++) {
        pe_kg_id id;
        if (pe_kg_resolve(r, k_roots[i].term, strlen(k_roots[i].term), &id) == PE_OK) {
            uint32_t *v = link_map_put(&l->roots, id, 0);
            if (!v) st = PE_ERR_NOMEM; else *v |= k_roots[i].bits;
        }
    }
    for (size_t i = 0; i < sizeof k_dbo / sizeof *k_dbo && st == PE_OK; i++) {
        char iri[128];
        int n = snprintf(iri, sizeof iri, "http://dbpedia.org/ontology/%s", k_dbo[i].name);
        pe_kg_id id;
        if (pe_kg_resolve(r, iri, (size_t)n, &id) == PE_OK) {
            uint32_t *v = link_map_put(&l->roots, id, 0);
            if (!v) st = PE_ERR_NOMEM; else *v |= k_dbo[i].bits;
        }
    }
    pe_kg_stats ks = {0};
    if (st == PE_OK && opt && opt->index_dir) st = pe_kg_stats_get(r, &ks);
    pe_kg_reader_end(r);
    if (st != PE_OK) return lfail(l, st, "reading the store: %s", pe_kg_errmsg(kg));

    if (opt && opt->index_dir) {
        pe_error e;
        pe_error_clear(&e);
        st = link_index_open(opt->index_dir, &l->ix, &e);
        if (st >= PE_ERR_FIRST) return lfail(l, st, "%s", e.msg);
        if (st == PE_OK) {
            l->has_index = 1;
            l->stale = l->ix.kg_counts[0] != ks.terms || l->ix.kg_counts[1] != ks.entities ||
                       l->ix.kg_counts[2] != ks.triples;
        }
    }
    return PE_OK;
}

void pe_linker_close(pe_linker *l)
{
    if (!l) return;
    link_index_close(&l->ix);
    link_map_free(&l->roots);
    link_map_free(&l->cls_cache);
    pthread_mutex_destroy(&l->mu);
    free(l->lang);
    free(l);
}

pe_status pe_linker_info_get(pe_linker *l, pe_linker_info *out)
{
    if (!l || !out) return PE_ERR_INVALID;
    memset(out, 0, sizeof *out);
    out->index = l->has_index;
    out->index_stale = l->stale;
    out->context = l->has_index && l->ix.has_ctx && l->opt.context;
    out->index_stats = l->ix.stats;
    if (out->context) out->context_stats = l->ix.ctx;
    return PE_OK;
}

/* ---- history ------------------------------------------------------------- */

pe_status pe_link_history_new(pe_link_history **out)
{
    if (!out) return PE_ERR_INVALID;
    *out = calloc(1, sizeof **out);
    return *out ? PE_OK : PE_ERR_NOMEM;
}

void pe_link_history_free(pe_link_history *h)
{
    if (!h) return;
    for (size_t i = 0; i < HIST_MAX; i++) free(h->e[i].form);
    free(h);
}

/* ---- one call ------------------------------------------------------------ */

typedef struct ent {
    pe_kg_id id;
    char *qid, *label, *form; /* form: normalised label ("" when none) */
    char *base, *qual;        /* a label "Name, Qualifier" or "Name (Qualifier)": both parts normalised;
                                 NULL when the label has no qualifier */
    double pop;               /* ln(1+sitelinks) + ln(1+in-degree) */
    unsigned bits;
    pe_kg_id *nb;             /* neighbours, sorted, unique */
    size_t n_nb;
    pe_kg_id *cls;            /* direct classes (P31, rdf:type) */
    size_t ncls;
} ent;

typedef struct cand {
    uint32_t e;    /* index into call.ents */
    double prior;
    int label;     /* form is a label */
    unsigned via;
    double sim;    /* name similarity of the form it was found by */
    double f[PE_LINK_NFEATURES];
    double score;
    double rerank; /* orders the candidates (pe_link_model_rerank) */
} cand;

typedef struct ment {
    const pe_link_mention *in;
    char *surface, *form; /* surface: the mention's text less unbalanced edge punctuation (name_span) */
    size_t slen, form_len;
    size_t nwords;
    size_t word_off[16], word_len[16]; /* words of form (first 16) */
    cand *c;
    size_t nc, cap;
    int partial_nil;
    int acro_ref;       /* mention whose initials spell this one, -1 */
    int partial_ref;    /* longer mention this one is part of, -1 */
} ment;

typedef struct call {
    pe_linker *l;
    pe_kg_reader *r;
    MDB_txn *itxn;
    ment *m;
    size_t n;
    ent *ents;
    size_t nents, capents;
    link_map ent_ix;    /* id -> index + 1 in ents */
    pe_link_history *hist;
    size_t K;
    int msg_set;        /* the failure's message is already in l->err */
    const char *text;
    size_t len;
    int context_on;
} call;

static void ent_free(ent *e)
{
    free(e->qid); free(e->label); free(e->form); free(e->base); free(e->qual); free(e->nb); free(e->cls);
}

static int cmp_id(const void *a, const void *b)
{
    pe_kg_id x = *(const pe_kg_id *)a, y = *(const pe_kg_id *)b;
    return x < y ? -1 : x > y;
}

/* Coarse bits of a class through P279* / rdfs:subClassOf* (cached). */
static pe_status class_bits(call *c, pe_kg_id cls, unsigned *bits)
{
    pe_linker *l = c->l;
    pthread_mutex_lock(&l->mu);
    uint32_t *v = link_map_get(&l->cls_cache, cls);
    unsigned cached = v ? *v : 0;
    pthread_mutex_unlock(&l->mu);
    if (cached) { *bits = cached - 1; return PE_OK; }
    enum { MAXQ = 512 };
    pe_kg_id q[MAXQ];
    size_t nq = 0, head = 0;
    unsigned b = 0;
    q[nq++] = cls;
    while (head < nq) {
        pe_kg_id x = q[head++];
        uint32_t *rb = link_map_get(&l->roots, x);
        if (rb) b |= *rb;
        pe_kg_id preds[2] = {l->p279, l->subclass};
        for (int k = 0; k < 2; k++) {
            if (!preds[k]) continue;
            pe_kg_iter *it;
            pe_status st = pe_kg_match(c->r, x, preds[k], 0, &it);
            if (st != PE_OK) return st == PE_NOT_FOUND ? PE_OK : st;
            pe_kg_triple t;
            while ((st = pe_kg_iter_next(it, &t)) == PE_OK) {
                if (PE_KG_IS_LITERAL(t.o) || nq == MAXQ) continue;
                int seen = 0;
                for (size_t i = 0; i < nq && !seen; i++) seen = q[i] == t.o;
                if (!seen) q[nq++] = t.o;
            }
            pe_kg_iter_free(it);
            if (st != PE_DONE) return st;
        }
    }
    pthread_mutex_lock(&l->mu);
    v = link_map_put(&l->cls_cache, cls, b + 1);
    pthread_mutex_unlock(&l->mu);
    if (!v) return PE_ERR_NOMEM;
    *bits = b;
    return PE_OK;
}

/* Adds up to `cap` neighbours of id by statements matching (s, 0, o). */
static pe_status add_neighbours(call *c, pe_kg_id s, pe_kg_id o, pe_kg_id self, pe_kg_id *nb, size_t *n, size_t cap)
{
    pe_kg_iter *it;
    pe_status st = pe_kg_match(c->r, s, 0, o, &it);
    if (st == PE_NOT_FOUND) return PE_OK;
    if (st != PE_OK) return st;
    pe_kg_triple t;
    size_t read = 0;
    while (read < cap && (st = pe_kg_iter_next(it, &t)) == PE_OK) {
        read++;
        int skip = 0;
        for (int k = 0; k < 4; k++) skip |= t.p == c->l->skip_p[k] && t.p;
        pe_kg_id x = s ? t.o : t.s;
        if (skip || PE_KG_IS_LITERAL(x) || x == self) continue;
        nb[(*n)++] = x;
    }
    pe_kg_iter_free(it);
    return st == PE_OK || st == PE_DONE ? PE_OK : st;
}

/* e->base and e->qual of a label "Name, Qualifier" or "Name (Qualifier)"
 * (the first ", " or " (" after the first byte); both stay NULL otherwise. */
static pe_status split_qualifier(ent *e)
{
    const char *lab = e->label, *comma = strstr(lab, ", "), *paren = strstr(lab, " (");
    const char *cut = !comma ? paren : !paren ? comma : comma < paren ? comma : paren;
    if (!cut || cut == lab) return PE_OK;
    pe_status ns = PE_OK;
    e->base = pe_text_normalize(lab, (size_t)(cut - lab), &ns);
    if (e->base) e->qual = pe_text_normalize(cut + 2, strlen(cut + 2), &ns);
    if (e->base && e->qual && e->base[0] && e->qual[0]) return PE_OK;
    free(e->base);
    free(e->qual);
    e->base = e->qual = NULL;
    return ns == PE_ERR_NOMEM ? ns : PE_OK;
}

/* Index of entity id in c->ents, loading it when new; -1 on error (*st). */
static int64_t ent_get(call *c, pe_kg_id id, pe_status *st)
{
    uint32_t *slot = link_map_get(&c->ent_ix, id);
    if (slot) return (int64_t)*slot - 1;
    if (c->nents == c->capents) {
        size_t nc = c->capents ? c->capents * 2 : 64;
        ent *ne = realloc(c->ents, nc * sizeof *ne);
        if (!ne) { *st = PE_ERR_NOMEM; return -1; }
        c->ents = ne;
        c->capents = nc;
    }
    ent *e = &c->ents[c->nents];
    memset(e, 0, sizeof *e);
    e->id = id;
    pe_kg_entity *rec = NULL;
    *st = pe_kg_entity_get(c->r, id, &rec);
    if (*st == PE_OK) {
        e->pop = log1p((double)rec->sitelinks) + log1p((double)rec->in_degree);
        e->qid = strdup(rec->term);
        pe_kg_entity_free(rec);
    } else if (*st == PE_NOT_FOUND) {
        const char *term;
        if (pe_kg_term(c->r, id, &term, NULL) == PE_OK) e->qid = strdup(term);
        else e->qid = strdup("?");
    } else {
        return -1;
    }
    const char *label;
    if (pe_kg_label(c->r, id, c->l->lang, &label) == PE_OK) {
        e->label = strdup(label);
        if (!e->label) { ent_free(e); *st = PE_ERR_NOMEM; return -1; }
        pe_status ns;
        e->form = pe_text_normalize(label, strlen(label), &ns);
        if ((!e->form && ns == PE_ERR_NOMEM) || split_qualifier(e) != PE_OK) { ent_free(e); *st = PE_ERR_NOMEM; return -1; }
    }
    if (!e->form) e->form = strdup("");
    if (!e->qid || !e->form) { ent_free(e); *st = PE_ERR_NOMEM; return -1; }
    /* coarse types from the direct classes */
    pe_kg_id *cls = NULL;
    size_t ncls = 0;
    *st = pe_kg_types(c->r, id, 0, &cls, &ncls);
    if (*st >= PE_ERR_FIRST) { ent_free(e); return -1; }
    for (size_t i = 0; i < ncls; i++) {
        unsigned b = 0;
        *st = class_bits(c, cls[i], &b);
        if (*st >= PE_ERR_FIRST) { e->cls = cls; ent_free(e); return -1; }
        e->bits |= b;
    }
    e->cls = cls;
    e->ncls = ncls;
    /* neighbours: out-statements, then in-statements */
    e->nb = malloc(PE_LINK_MAX_NEIGHBOURS * sizeof *e->nb);
    if (!e->nb) { ent_free(e); *st = PE_ERR_NOMEM; return -1; }
    *st = add_neighbours(c, id, 0, id, e->nb, &e->n_nb, PE_LINK_MAX_NEIGHBOURS / 2);
    if (*st == PE_OK) *st = add_neighbours(c, 0, id, id, e->nb, &e->n_nb, PE_LINK_MAX_NEIGHBOURS / 2);
    if (*st != PE_OK) { ent_free(e); return -1; }
    qsort(e->nb, e->n_nb, sizeof *e->nb, cmp_id);
    size_t u = 0;
    for (size_t i = 0; i < e->n_nb; i++)
        if (u == 0 || e->nb[u - 1] != e->nb[i]) e->nb[u++] = e->nb[i];
    e->n_nb = u;
    slot = link_map_put(&c->ent_ix, id, (uint32_t)c->nents + 1);
    if (!slot) { ent_free(e); *st = PE_ERR_NOMEM; return -1; }
    *st = PE_OK;
    return (int64_t)c->nents++;
}

/* Adds candidate id to mention m (merging with an existing one). */
static pe_status cand_add(call *c, ment *m, pe_kg_id id, double prior, int label, unsigned via, double sim)
{
    pe_status st;
    int64_t ei = ent_get(c, id, &st);
    if (ei < 0) return st;
    for (size_t i = 0; i < m->nc; i++) {
        cand *x = &m->c[i];
        if (x->e != (uint32_t)ei) continue;
        /* the mention's own form speaks first: its prior and label flag
         * stay; among other ways the best prior is kept */
        int had_exact = (x->via & PE_LINK_VIA_EXACT) != 0, is_exact = (via & PE_LINK_VIA_EXACT) != 0;
        if (is_exact && !had_exact) {
            x->prior = prior;
            x->label = label;
        } else if (!had_exact && prior > x->prior) {
            x->prior = prior;
            x->label |= label;
        }
        x->via |= via;
        if (sim > x->sim) x->sim = sim;
        return PE_OK;
    }
    if (m->nc == m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 16;
        cand *n = realloc(m->c, nc * sizeof *n);
        if (!n) return PE_ERR_NOMEM;
        m->c = n;
        m->cap = nc;
    }
    cand *x = &m->c[m->nc++];
    memset(x, 0, sizeof *x);
    x->e = (uint32_t)ei;
    x->prior = prior;
    x->label = label;
    x->via = via;
    x->sim = sim;
    return PE_OK;
}

/* Candidates of a normalised form through the store's alias index. */
static pe_status add_form(call *c, ment *m, const char *form, size_t len, size_t limit, unsigned via, double sim)
{
    pe_kg_candidate kc[PE_LINK_MAX_K];
    pe_kg_lookup_options lo = {0, limit};
    size_t n = 0;
    pe_status st = pe_kg_lookup(c->r, form, len, &lo, kc, limit, &n);
    if (st == PE_NOT_FOUND) return PE_OK;
    if (st != PE_OK) return st;
    for (size_t i = 0; i < n; i++)
        if ((st = cand_add(c, m, kc[i].id, kc[i].prior, kc[i].exact, via, sim)) != PE_OK) return st;
    return PE_OK;
}

/* Form string of a form id of the link index (borrowed from the txn). */
static int index_form(call *c, uint32_t fid, const char **s, size_t *len)
{
    unsigned char kb[4];
    pe_put_be32(kb, fid);
    MDB_val k = {4, kb}, d;
    if (mdb_get(c->itxn, c->l->ix.dbi[LINK_DB_FORM], &k, &d) != 0 || d.mv_size < 5) return 0;
    *s = (const char *)d.mv_data + 4;
    *len = d.mv_size - 5;
    return 1;
}

static pe_status add_acronym(call *c, ment *m, const char *acro)
{
    MDB_val k = {strlen(acro), (void *)acro}, d;
    int rc = mdb_get(c->itxn, c->l->ix.dbi[LINK_DB_ACRO], &k, &d);
    if (rc == MDB_NOTFOUND) return PE_OK;
    if (rc) { c->msg_set = 1; return lfail(c->l, PE_ERR_STORE, "link index: %s", mdb_strerror(rc)); }
    size_t n = d.mv_size / 4;
    const unsigned char *v = d.mv_data;
    for (size_t i = 0; i < n && i < PE_LINK_FUZZY_FORMS; i++) {
        const char *f;
        size_t fl;
        if (!index_form(c, pe_get_be32(v + 4 * i), &f, &fl)) continue;
        pe_status st = add_form(c, m, f, fl, 4, PE_LINK_VIA_ACRONYM, 1.0);
        if (st != PE_OK) return st;
    }
    return PE_OK;
}

/* Candidates of the forms that a variant key of the name index names when
 * they differ from the mention's form: the key itself (percent-decoded
 * labels), then "\4" + the key (labels with their words joined across
 * apostrophes and hyphens: "mcdonalds" -> "mcdonald s"). */
static pe_status add_variants(call *c, ment *m)
{
    if (m->form_len > LINK_NAME_KEY_MAX) return PE_OK;
    char key[LINK_NAME_KEY_MAX + 1];
    key[0] = 4;
    memcpy(key + 1, m->form, m->form_len);
    for (int tagged = 0; tagged < 2 && m->form_len + (size_t)tagged <= LINK_NAME_KEY_MAX; tagged++) {
        MDB_val k = {m->form_len + (size_t)tagged, tagged ? key : m->form}, d;
        int rc = mdb_get(c->itxn, c->l->ix.dbi[LINK_DB_NAME], &k, &d);
        if (rc == MDB_NOTFOUND) continue;
        if (rc) { c->msg_set = 1; return lfail(c->l, PE_ERR_STORE, "link index: %s", mdb_strerror(rc)); }
        const unsigned char *v = d.mv_data;
        size_t n = d.mv_size / 8;
        for (size_t i = 0; i < n && i < PE_LINK_FUZZY_FORMS; i++) {
            const char *f;
            size_t fl;
            if (!index_form(c, pe_get_be32(v + 8 * i), &f, &fl)) continue;
            if (fl == m->form_len && memcmp(f, m->form, fl) == 0) continue;
            pe_status st = add_form(c, m, f, fl, 4, PE_LINK_VIA_EXACT, 1.0);
            if (st != PE_OK) return st;
        }
    }
    return PE_OK;
}

typedef struct pfx_hit { uint32_t fid; float pop; } pfx_hit;

/* 1 when the mention starts in lower case ("walls", "#astros"): a common
 * noun or a tag, not a name; leading '#' and '@' are skipped. */
static int lower_initial(const ment *m)
{
    const char *p = m->surface;
    while (*p == '#' || *p == '@') p++;
    return *p >= 'a' && *p <= 'z';
}

/* Keeps the `cap` most popular forms of the name index that start with
 * prefix (excluding the mention's own form); one_word: only keys without a
 * space, at most max_extra bytes longer than the prefix. */
static pe_status prefix_search(call *c, const ment *m, const char *prefix, size_t plen, int one_word, size_t max_extra,
                               pfx_hit *best, size_t *nbest, size_t cap)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(c->itxn, c->l->ix.dbi[LINK_DB_NAME], &cur);
    if (rc) { c->msg_set = 1; return lfail(c->l, PE_ERR_STORE, "link index: %s", mdb_strerror(rc)); }
    MDB_val k = {plen, (void *)prefix}, d;
    rc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE);
    for (size_t scanned = 0; rc == 0 && scanned < PE_LINK_PREFIX_SCAN; scanned++) {
        if (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0) break;
        const char *key = k.mv_data;
        int skip = (k.mv_size == m->form_len && memcmp(key, m->form, m->form_len) == 0) ||
                   (one_word && (k.mv_size > plen + max_extra || memchr(key, ' ', k.mv_size)));
        const unsigned char *v = d.mv_data;
        for (size_t i = 0; !skip && i < d.mv_size / 8; i++) {
            pfx_hit h;
            h.fid = pe_get_be32(v + 8 * i);
            uint32_t pb = pe_get_be32(v + 8 * i + 4);
            memcpy(&h.pop, &pb, 4);
            int dup = 0;
            for (size_t q = 0; q < *nbest && !dup; q++) dup = best[q].fid == h.fid;
            if (dup) continue;
            size_t pos = *nbest < cap ? (*nbest)++ : cap;
            if (pos == cap) {
                if (h.pop <= best[cap - 1].pop) continue;
                pos = cap - 1;
            }
            while (pos > 0 && best[pos - 1].pop < h.pop) { best[pos] = best[pos - 1]; pos--; }
            best[pos] = h;
        }
        rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    if (rc && rc != MDB_NOTFOUND) { c->msg_set = 1; return lfail(c->l, PE_ERR_STORE, "link index: %s", mdb_strerror(rc)); }
    return PE_OK;
}

/* The most popular (at most PE_LINK_EXTENSION_FORMS) forms stored in the
 * name table under the key `tag` + the mention's form, into best (*nb). */
static pe_status name_key_hits(call *c, const ment *m, char tag, pfx_hit *best, size_t *nb_out)
{
    char key[65];
    key[0] = tag;
    memcpy(key + 1, m->form, m->form_len);
    MDB_val k = {m->form_len + 1, key}, d;
    int rc = mdb_get(c->itxn, c->l->ix.dbi[LINK_DB_NAME], &k, &d);
    if (rc && rc != MDB_NOTFOUND) {
        c->msg_set = 1;
        return lfail(c->l, PE_ERR_STORE, "link index: %s", mdb_strerror(rc));
    }
    size_t nb = 0;
    const unsigned char *v = d.mv_data;
    for (size_t i = 0; rc == 0 && i < d.mv_size / 8; i++) {
        pfx_hit h;
        h.fid = pe_get_be32(v + 8 * i);
        uint32_t pb = pe_get_be32(v + 8 * i + 4);
        memcpy(&h.pop, &pb, 4);
        size_t pos = nb < PE_LINK_EXTENSION_FORMS ? nb++ : PE_LINK_EXTENSION_FORMS;
        if (pos == PE_LINK_EXTENSION_FORMS) {
            if (h.pop <= best[pos - 1].pop) continue;
            pos--;
        }
        while (pos > 0 && best[pos - 1].pop < h.pop) {
            best[pos] = best[pos - 1];
            pos--;
        }
        best[pos] = h;
    }
    *nb_out = nb;
    return PE_OK;
}

static pe_status add_hits(call *c, ment *m, const pfx_hit *h, size_t n, unsigned via)
{
    for (size_t i = 0; i < n; i++) {
        const char *f;
        size_t fl;
        if (!index_form(c, h[i].fid, &f, &fl)) continue;
        pe_status st = add_form(c, m, f, fl, 2, via, 0);
        if (st != PE_OK) return st;
    }
    return PE_OK;
}

/* Longer names starting with the mention ("seattle " -> "seattle mariners")
 * and, for one word, one-word names starting with its stem. */
static pe_status add_extensions(call *c, ment *m)
{
    pfx_hit best[PE_LINK_EXTENSION_FORMS];
    size_t nb = 0;
    pe_status st;
    if (lower_initial(m)) return PE_OK; /* common nouns: no longer names */
    if (m->nwords >= 1 && m->nwords <= 3 && m->form_len + 1 < LINK_NAME_KEY_MAX) {
        char p[LINK_NAME_KEY_MAX + 1];
        memcpy(p, m->form, m->form_len);
        p[m->form_len] = ' ';
        if ((st = prefix_search(c, m, p, m->form_len + 1, 0, 0, best, &nb, PE_LINK_EXTENSION_FORMS)) != PE_OK) return st;
        if ((st = add_hits(c, m, best, nb, PE_LINK_VIA_EXTENSION)) != PE_OK) return st;
    }
    if (m->nwords == 1 && m->form_len <= 63) {
        /* names ending with the word: "Astros" -> "Houston Astros" */
        if ((st = name_key_hits(c, m, 1, best, &nb)) != PE_OK) return st;
        if ((st = add_hits(c, m, best, nb, PE_LINK_VIA_EXTENSION)) != PE_OK) return st;
    }
    if (m->nwords >= 1 && m->nwords <= 3 && m->form_len <= 62) {
        /* sports teams named after it: "Toronto" -> Toronto Blue Jays, "Karlsruhe" -> Karlsruher SC */
        if ((st = name_key_hits(c, m, 3, best, &nb)) != PE_OK) return st;
        if (nb > PE_LINK_TEAM_FORMS) nb = PE_LINK_TEAM_FORMS;
        if ((st = add_hits(c, m, best, nb, PE_LINK_VIA_TEAM)) != PE_OK) return st;
    }
    if (m->nwords == 1 && m->form_len <= 62) {
        /* a place's adjective from the graph (its language or people): "Polish" -> Poland */
        if ((st = name_key_hits(c, m, 2, best, &nb)) != PE_OK) return st;
        if (nb > 2) nb = 2; /* "English": England and the United Kingdom, not every country speaking it */
        if ((st = add_hits(c, m, best, nb, PE_LINK_VIA_STEM)) != PE_OK) return st;
    }
    if (m->nwords >= 2 && m->nwords <= 3 && m->form_len <= 64) {
        /* the last word's suffix off, the whole form looked up: "south korean" -> "south korea" */
        static const char *msuf[] = {"n", "an", "ian", "ese", "ish", "i", NULL};
        size_t lw = m->word_len[m->nwords - 1];
        for (int k = 0; msuf[k]; k++) {
            size_t sl = strlen(msuf[k]);
            if (lw < sl + 3 || memcmp(m->form + m->form_len - sl, msuf[k], sl) != 0) continue;
            if ((st = add_form(c, m, m->form, m->form_len - sl, 2, PE_LINK_VIA_STEM, 0)) != PE_OK) return st;
        }
    }
    if (m->nwords != 1 || m->form_len < 5 || m->form_len > 24) return PE_OK;
    for (size_t i = 0; i < m->form_len; i++)
        if (!(m->form[i] >= 'a' && m->form[i] <= 'z')) return PE_OK;
    static const char *suffixes[] = {"", "ians", "ian", "ans", "an", "ese", "ish", "is", "i", "ic", "ns", NULL};
    nb = 0;
    for (int k = 0; suffixes[k]; k++) {
        size_t sl = strlen(suffixes[k]);
        if (m->form_len < sl + 4 || memcmp(m->form + m->form_len - sl, suffixes[k], sl) != 0) continue;
        size_t stem = m->form_len - sl;
        if ((st = prefix_search(c, m, m->form, stem, 1, 5, best, &nb, PE_LINK_EXTENSION_FORMS)) != PE_OK) return st;
        /* a doubled last letter once: "scottish" -> "scot" (Scotland) */
        if (sl && m->form[stem - 1] == m->form[stem - 2] &&
            (st = prefix_search(c, m, m->form, stem - 1, 1, 5, best, &nb, PE_LINK_EXTENSION_FORMS)) != PE_OK)
            return st;
    }
    return add_hits(c, m, best, nb, PE_LINK_VIA_STEM);
}

static pe_status add_fuzzy(call *c, ment *m)
{
    uint32_t g[PE_LINK_FUZZY_MAX_GRAMS + 2];
    size_t ng = link_trigrams(m->form, m->form_len, g);
    if (ng == 0) return PE_OK;
    link_map counts = {0};
    pe_status st = PE_OK;
    /* posting lists, rarest first; a form with Dice >= s against ng grams
     * shares at least t = s ng / (2 - s) of them, so only the first
     * ng - t + 1 lists may bring new forms (prefix filtering) */
    struct plist { const unsigned char *v; size_t n; } pl[PE_LINK_FUZZY_MAX_GRAMS + 2];
    size_t npl = 0;
    for (size_t i = 0; i < ng; i++) {
        unsigned char kb[3] = {(unsigned char)(g[i] >> 16), (unsigned char)(g[i] >> 8), (unsigned char)g[i]};
        MDB_val k = {3, kb}, d;
        int rc = mdb_get(c->itxn, c->l->ix.dbi[LINK_DB_GRAM], &k, &d);
        if (rc == MDB_NOTFOUND) continue;
        if (rc) { c->msg_set = 1; st = lfail(c->l, PE_ERR_STORE, "link index: %s", mdb_strerror(rc)); goto out; }
        size_t n = d.mv_size / 4;
        if (n > PE_LINK_FUZZY_MAX_POSTINGS) continue;
        size_t pos = npl++;
        while (pos > 0 && pl[pos - 1].n > n) { pl[pos] = pl[pos - 1]; pos--; }
        pl[pos].v = d.mv_data;
        pl[pos].n = n;
    }
    double smin = c->l->opt.fuzzy_min_sim;
    size_t t = (size_t)ceil(smin * (double)ng / (2.0 - smin) - 1e-9);
    if (t < 1) t = 1;
    size_t seed = ng >= t ? ng - t + 1 : 0;
    for (size_t i = 0; i < npl; i++) {
        const unsigned char *v = pl[i].v;
        for (size_t j = 0; j < pl[i].n; j++) {
            uint64_t key = (uint64_t)pe_get_be32(v + 4 * j) + 1;
            uint32_t *cnt = i < seed ? link_map_put(&counts, key, 0) : link_map_get(&counts, key);
            if (i < seed && !cnt) { st = PE_ERR_NOMEM; goto out; }
            if (cnt) (*cnt)++;
        }
    }
    /* best forms by Dice on the trigram counts (a form's trigram count is
     * about its length), verified on the strings */
    struct { uint32_t fid; double sim; } best[PE_LINK_FUZZY_FORMS];
    size_t nb = 0;
    double floor = c->l->opt.fuzzy_min_sim;
    for (size_t i = 0; i < counts.cap; i++) {
        if (!counts.keys[i]) continue;
        uint32_t fid = (uint32_t)(counts.keys[i] - 1);
        double upper = 2.0 * counts.vals[i] / (double)(ng + counts.vals[i]);
        if (upper < floor) continue;
        const char *f;
        size_t fl;
        if (!index_form(c, fid, &f, &fl)) continue;
        double sim = link_dice(m->form, m->form_len, f, fl);
        if (sim < floor || (fl == m->form_len && memcmp(f, m->form, fl) == 0)) continue;
        size_t pos = nb < PE_LINK_FUZZY_FORMS ? nb++ : PE_LINK_FUZZY_FORMS;
        if (pos == PE_LINK_FUZZY_FORMS) {
            if (sim <= best[PE_LINK_FUZZY_FORMS - 1].sim) continue;
            pos = PE_LINK_FUZZY_FORMS - 1;
        }
        while (pos > 0 && (best[pos - 1].sim < sim || (best[pos - 1].sim == sim && best[pos - 1].fid > fid))) {
            best[pos] = best[pos - 1];
            pos--;
        }
        best[pos].fid = fid;
        best[pos].sim = sim;
    }
    for (size_t i = 0; i < nb && st == PE_OK; i++) {
        const char *f;
        size_t fl;
        if (!index_form(c, best[i].fid, &f, &fl)) continue;
        st = add_form(c, m, f, fl, 4, PE_LINK_VIA_FUZZY, best[i].sim);
    }
out:
    link_map_free(&counts);
    return st;
}

/* Narrows a mention's span [*start, *start + *len) of text to its name:
 * without trailing ",;:!?", without a closing bracket at its end or an
 * opening one at its start that the span does not balance ("NFL)" ->
 * "NFL", "(Reuters" -> "Reuters"), and without a double quote at either
 * edge when the span holds an odd number of them; "U.S." and "(a)" stay.
 * Never to nothing. Linear in the span: the brackets and quotes are
 * counted once and the counts follow each byte taken off. */
static void name_span(const char *text, size_t *start, size_t *len)
{
    static const char open[] = "([{", close[] = ")]}";
    const char *s = text + *start;
    size_t n = *len;
    size_t nopen[3] = {0, 0, 0}, nclose[3] = {0, 0, 0}, nquote = 0;
    for (size_t i = 0; i < n; i++) {
        const char *o = s[i] ? strchr(open, s[i]) : NULL, *cl = s[i] ? strchr(close, s[i]) : NULL;
        if (o) nopen[o - open]++;
        if (cl) nclose[cl - close]++;
        nquote += s[i] == '"';
    }
    for (int changed = 1; changed && n > 1;) {
        changed = 0;
        char last = s[n - 1], first = s[0];
        const char *cl = last ? strchr(close, last) : NULL, *op = first ? strchr(open, first) : NULL;
        if (last && strchr(",;:!?", last)) changed = 1, n--;
        else if (cl && nopen[cl - close] < nclose[cl - close]) changed = 1, nclose[cl - close]--, n--;
        else if (op && nclose[op - open] < nopen[op - open]) changed = 1, nopen[op - open]--, s++, n--;
        else if ((last == '"' || first == '"') && nquote % 2) {
            changed = 1;
            nquote--;
            if (last == '"') n--;
            else s++, n--;
        }
    }
    *start = (size_t)(s - text);
    *len = n;
}

static void split_words(ment *m)
{
    m->nwords = 0;
    size_t i = 0;
    while (i < m->form_len && m->nwords < 16) {
        while (i < m->form_len && m->form[i] == ' ') i++;
        if (i >= m->form_len) break;
        size_t s = i;
        while (i < m->form_len && m->form[i] != ' ') i++;
        m->word_off[m->nwords] = s;
        m->word_len[m->nwords++] = i - s;
    }
}

/* 1 when the words of a are the first or the last words of b (b longer). */
static int words_part_of(const ment *a, const ment *b)
{
    if (a->nwords == 0 || a->nwords >= b->nwords || a->nwords > 2) return 0;
    for (int side = 0; side < 2; side++) {
        size_t off = side ? b->nwords - a->nwords : 0;
        int ok = 1;
        for (size_t i = 0; i < a->nwords && ok; i++)
            ok = a->word_len[i] == b->word_len[off + i] &&
                 memcmp(a->form + a->word_off[i], b->form + b->word_off[off + i], a->word_len[i]) == 0;
        if (ok) return 1;
    }
    return 0;
}

/* Same test of mention words against a history entity's label form. */
static int words_part_of_form(const ment *a, const char *form)
{
    ment b = {0};
    b.form = (char *)form;
    b.form_len = strlen(form);
    split_words(&b);
    return words_part_of(a, &b);
}

static int via_rank(unsigned via)
{
    return (via & (PE_LINK_VIA_PARTIAL | PE_LINK_VIA_ACRONYM)) ? 0 : (via & PE_LINK_VIA_EXACT) ? 1
         : (via & PE_LINK_VIA_TEAM) ? 2 : 3;
}

/* A lower-case plural ("walls", "cities", "women") also looks up its
 * singular as the mention's own form. */
static pe_status add_singular(call *c, ment *m, size_t limit)
{
    if (!lower_initial(m) || m->form_len < 4 || m->form_len > 64) return PE_OK;
    const char *f = m->form;
    size_t n = m->form_len;
    char buf[72];
    if (n >= 5 && memcmp(f + n - 3, "ies", 3) == 0) {
        memcpy(buf, f, n - 3);
        memcpy(buf + n - 3, "y", 2);
    } else if (memcmp(f + n - 3, "men", 3) == 0) {
        memcpy(buf, f, n - 3);
        memcpy(buf + n - 3, "man", 4);
    } else if (f[n - 1] == 's' && f[n - 2] != 's' && f[n - 2] != 'u' && f[n - 2] != 'i') {
        memcpy(buf, f, n - 1);
        buf[n - 1] = 0;
    } else {
        return PE_OK;
    }
    return add_form(c, m, buf, strlen(buf), limit, PE_LINK_VIA_EXACT, 1.0);
}

/* An acronym written with dots ("U.N.") whose form names nothing also
 * looks up its letters ("un") as the mention's own form. */
static pe_status add_undotted(call *c, ment *m, size_t limit)
{
    char a[LINK_ACRO_MAX + 1];
    if (m->nc || !memchr(m->surface, '.', m->slen) || !link_surface_acronym(m->surface, m->slen, a)) return PE_OK;
    return add_form(c, m, a, strlen(a), limit, PE_LINK_VIA_EXACT, 1.0);
}

/* A name whose first word is an abbreviation ("NY RANGERS", "LA Dodgers")
 * and that found nothing: the first word spelled out by the acronym
 * table (its most popular forms: "ny" -> "new york") and the rest after
 * it looked up as a form ("new york rangers"). */
static pe_status add_abbrev_first(call *c, ment *m)
{
    size_t al = m->word_len[0];
    if (m->nc || m->nwords < 2 || m->nwords > 4 || al < 2 || al > 3 || m->form_len > 400) return PE_OK;
    for (size_t i = 0; i < al; i++)
        if (!(m->surface[i] >= 'A' && m->surface[i] <= 'Z')) return PE_OK;
    if (m->surface[al] != ' ') return PE_OK;
    MDB_val k = {al, m->form}, d;
    int rc = mdb_get(c->itxn, c->l->ix.dbi[LINK_DB_ACRO], &k, &d);
    if (rc == MDB_NOTFOUND) return PE_OK;
    if (rc) { c->msg_set = 1; return lfail(c->l, PE_ERR_STORE, "link index: %s", mdb_strerror(rc)); }
    const unsigned char *v = d.mv_data;
    const char *rest = m->form + m->word_off[1];
    size_t rl = m->form_len - m->word_off[1];
    for (size_t i = 0; i < d.mv_size / 4 && i < PE_LINK_FUZZY_FORMS; i++) {
        const char *f;
        size_t fl;
        char buf[512];
        if (!index_form(c, pe_get_be32(v + 4 * i), &f, &fl) || fl + 1 + rl >= sizeof buf) continue;
        memcpy(buf, f, fl);
        buf[fl] = ' ';
        memcpy(buf + fl + 1, rest, rl);
        pe_status st = add_form(c, m, buf, fl + 1 + rl, 4, PE_LINK_VIA_ACRONYM, 1.0);
        if (st != PE_OK) return st;
    }
    return PE_OK;
}

static int cmp_cand_prior(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    int px = via_rank(x->via), py = via_rank(y->via);
    if (px != py) return px - py;
    if (x->prior != y->prior) return x->prior > y->prior ? -1 : 1;
    return x->e < y->e ? -1 : x->e > y->e;
}

static pe_status gather(call *c)
{
    pe_linker *l = c->l;
    pe_status st;
    /* phase A: exact forms and acronyms */
    for (size_t i = 0; i < c->n; i++) {
        ment *m = &c->m[i];
        if (m->form_len == 0) continue;
        size_t exact_limit = l->has_index && c->K > 8 ? c->K - 6 : c->K;
        if ((st = add_form(c, m, m->form, m->form_len, exact_limit, PE_LINK_VIA_EXACT, 1.0)) != PE_OK) return st;
        if ((st = add_singular(c, m, exact_limit)) != PE_OK) return st;
        if ((st = add_undotted(c, m, exact_limit)) != PE_OK) return st;
        if (l->has_index) {
            if ((st = add_variants(c, m)) != PE_OK) return st;
            if (l->opt.fuzzy && (st = add_extensions(c, m)) != PE_OK) return st;
        }
        char a[LINK_ACRO_MAX + 1];
        if (l->opt.acronyms && link_surface_acronym(m->surface, m->slen, a)) {
            if (l->has_index && strlen(a) >= 3 && (st = add_acronym(c, m, a)) != PE_OK) return st;
            for (size_t j = 0; j < c->n && m->acro_ref < 0; j++) {
                if (j == i) continue;
                char fa[2][LINK_ACRO_MAX + 1];
                int na = link_form_acronyms(c->m[j].form, c->m[j].form_len, fa);
                for (int k = 0; k < na; k++)
                    if (strcmp(fa[k], a) == 0) m->acro_ref = (int)j;
            }
        }
    }
    /* phase B: references to other mentions, then fuzzy forms */
    size_t *base = malloc((c->n ? c->n : 1) * sizeof *base);
    if (!base) return PE_ERR_NOMEM;
    for (size_t i = 0; i < c->n; i++) base[i] = c->m[i].nc;
    st = PE_OK;
    for (size_t i = 0; i < c->n && st == PE_OK; i++) {
        ment *m = &c->m[i];
        if (m->form_len == 0) continue;
        if (l->opt.partial_names) {
            /* the nearest earlier longer mention, else the nearest later one */
            for (size_t d = 1; d < c->n && m->partial_ref < 0; d++) {
                if (d <= i && words_part_of(m, &c->m[i - d])) m->partial_ref = (int)(i - d);
            }
            for (size_t j = i + 1; j < c->n && m->partial_ref < 0; j++)
                if (words_part_of(m, &c->m[j])) m->partial_ref = (int)j;
            if (m->partial_ref >= 0) {
                ment *b = &c->m[m->partial_ref];
                size_t nb = base[m->partial_ref];
                if (nb == 0) m->partial_nil = 1;
                for (size_t k = 0; k < nb && st == PE_OK; k++) {
                    cand *x = &b->c[k];
                    if (c->ents[x->e].bits & BIT_PERSON || !c->ents[x->e].bits)
                        st = cand_add(c, m, c->ents[x->e].id, x->prior, x->label, PE_LINK_VIA_PARTIAL, 1.0);
                }
            }
            if (c->hist) {
                for (size_t h = 0; h < c->hist->n && st == PE_OK; h++) {
                    struct hist_ent *he = &c->hist->e[h];
                    if ((he->bits & BIT_PERSON) && words_part_of_form(m, he->form))
                        st = cand_add(c, m, he->id, 1.0, 1, PE_LINK_VIA_PARTIAL | PE_LINK_VIA_HISTORY, 1.0);
                }
            }
        }
        if (m->acro_ref >= 0) {
            ment *b = &c->m[m->acro_ref];
            for (size_t k = 0; k < base[m->acro_ref] && st == PE_OK; k++)
                st = cand_add(c, m, c->ents[b->c[k].e].id, b->c[k].prior, b->c[k].label, PE_LINK_VIA_ACRONYM, 1.0);
        }
        if (st == PE_OK && m->nc == 0 && l->opt.acronyms && l->has_index) st = add_abbrev_first(c, m);
        if (st == PE_OK && m->nc == 0 && l->opt.fuzzy && l->has_index) st = add_fuzzy(c, m);
    }
    free(base);
    if (st != PE_OK) return st;
    /* at most K: candidates by reference first, then by prior */
    for (size_t i = 0; i < c->n; i++) {
        ment *m = &c->m[i];
        if (m->nc > 1) qsort(m->c, m->nc, sizeof *m->c, cmp_cand_prior);
        if (m->nc > c->K) m->nc = c->K;
    }
    return PE_OK;
}

/* Coherence: for each candidate, the share of other mentions (in the
 * window, with another form, with candidates) that have a candidate linked
 * to it (coh_link) or sharing a neighbour with it (coh_shared), each other
 * mention counting with the best prior among such candidates. */
typedef struct node { uint32_t j; float w; uint32_t next; } node;

/* Coherence for the mentions [b0, b1): the lists hold the mentions of
 * their windows, [w0, w1), and the history (local index j - w0, then
 * w1 - w0 + h), so that the work per mention is bounded by the window and
 * the history, not by the text's mentions. */
enum { COH_BLOCK = 64 };

static pe_status coherence(call *c)
{
    size_t nh = c->hist ? c->hist->n : 0;
    size_t total = c->n + nh;
    if (total < 2) return PE_OK;
    const size_t half = PE_LINK_COHERENCE_WINDOW / 2, cap_local = COH_BLOCK + 2 * half + 1 + nh;
    link_map head_nb = {0}, head_cd = {0}, head_cl = {0};
    node *nodes = NULL;
    size_t nn = 0, capn = 0;
    double *best_ln = calloc(cap_local, sizeof *best_ln), *best_sh = calloc(cap_local, sizeof *best_sh);
    double *best_cl = calloc(cap_local, sizeof *best_cl);
    int64_t *hent = calloc(nh ? nh : 1, sizeof *hent);
    pe_status st = PE_OK;
    if (!best_ln || !best_sh || !best_cl || !hent) { st = PE_ERR_NOMEM; goto out; }
    for (size_t h = 0; h < nh; h++) {
        hent[h] = ent_get(c, c->hist->e[h].id, &st);
        if (hent[h] < 0) goto out;
    }
    for (size_t b0 = 0; b0 < c->n; b0 += COH_BLOCK) {
        size_t b1 = b0 + COH_BLOCK < c->n ? b0 + COH_BLOCK : c->n;
        size_t w0 = b0 > half ? b0 - half : 0, w1 = b1 + half < c->n ? b1 + half : c->n;
        size_t wn = w1 - w0, local = wn + nh;
        link_map_clear(&head_nb);
        link_map_clear(&head_cd);
        link_map_clear(&head_cl);
        nn = 0;
        /* lists: neighbour id -> (mention, best weight); candidate id -> (mention, best weight) */
        for (size_t l = 0; l < local; l++) {
            size_t j = l < wn ? w0 + l : c->n + (l - wn);
            size_t ncj = j < c->n ? c->m[j].nc : 1;
            for (size_t k = 0; k < ncj; k++) {
                const ent *e = j < c->n ? &c->ents[c->m[j].c[k].e] : &c->ents[hent[j - c->n]];
                float w = j < c->n ? (float)c->m[j].c[k].prior : 1.0f;
                for (size_t q = 0; q <= e->n_nb + e->ncls; q++) {
                    /* neighbours, then the candidate itself, then its classes (weight 1) */
                    pe_kg_id key = q < e->n_nb ? e->nb[q] : q == e->n_nb ? e->id : e->cls[q - e->n_nb - 1];
                    link_map *hm = q < e->n_nb ? &head_nb : q == e->n_nb ? &head_cd : &head_cl;
                    if (q > e->n_nb) w = 1.0f;
                    uint32_t *hd = link_map_put(hm, key, UINT32_MAX);
                    if (!hd) { st = PE_ERR_NOMEM; goto out; }
                    if (*hd != UINT32_MAX && nodes[*hd].j == l) { /* same mention: keep the best */
                        if (w > nodes[*hd].w) nodes[*hd].w = w;
                        continue;
                    }
                    if (nn == capn) {
                        size_t ncap = capn ? capn * 2 : 1024;
                        node *x = realloc(nodes, ncap * sizeof *x);
                        if (!x) { st = PE_ERR_NOMEM; goto out; }
                        nodes = x;
                        capn = ncap;
                    }
                    nodes[nn] = (node){(uint32_t)l, w, *hd};
                    *hd = (uint32_t)nn++;
                }
            }
        }
        for (size_t i = b0; i < b1; i++) {
            ment *m = &c->m[i];
            /* the other mentions that count */
            size_t lo = i > half ? i - half : 0;
            size_t hi = i + half;
            for (size_t k = 0; k < m->nc; k++) {
                const ent *e = &c->ents[m->c[k].e];
                memset(best_ln, 0, local * sizeof *best_ln);
                memset(best_sh, 0, local * sizeof *best_sh);
                memset(best_cl, 0, local * sizeof *best_cl);
                for (size_t q = 0; q < e->ncls; q++) {
                    uint32_t *hd = link_map_get(&head_cl, e->cls[q]);
                    for (uint32_t x = hd ? *hd : UINT32_MAX; x != UINT32_MAX; x = nodes[x].next)
                        if (nodes[x].w > best_cl[nodes[x].j]) best_cl[nodes[x].j] = nodes[x].w;
                }
                for (size_t q = 0; q < e->n_nb; q++) {
                    uint32_t *hd = link_map_get(&head_cd, e->nb[q]);
                    for (uint32_t x = hd ? *hd : UINT32_MAX; x != UINT32_MAX; x = nodes[x].next)
                        if (nodes[x].w > best_ln[nodes[x].j]) best_ln[nodes[x].j] = nodes[x].w;
                    hd = link_map_get(&head_nb, e->nb[q]);
                    for (uint32_t x = hd ? *hd : UINT32_MAX; x != UINT32_MAX; x = nodes[x].next)
                        if (nodes[x].w > best_sh[nodes[x].j]) best_sh[nodes[x].j] = nodes[x].w;
                }
                double sl = 0, ss = 0, sc = 0;
                size_t cnt = 0;
                for (size_t l = 0; l < local; l++) {
                    size_t j = l < wn ? w0 + l : c->n + (l - wn);
                    if (j == i) continue;
                    if (j < c->n) {
                        const ment *o = &c->m[j];
                        if (j < lo || j > hi || o->nc == 0) continue;
                        if (o->form_len == m->form_len && memcmp(o->form, m->form, m->form_len) == 0) continue;
                    } else if (c->hist->e[j - c->n].id == e->id) {
                        continue;
                    }
                    cnt++;
                    sl += best_ln[l];
                    ss += best_sh[l];
                    sc += best_cl[l];
                }
                m->c[k].f[PE_LINK_F_COH_LINK] = cnt ? sl / (double)cnt : 0;
                m->c[k].f[PE_LINK_F_COH_SHARED] = cnt ? ss / (double)cnt : 0;
                m->c[k].f[PE_LINK_F_COH_CLASS] = cnt ? sc / (double)cnt : 0;
            }
        }
    }
out:
    link_map_free(&head_nb);
    link_map_free(&head_cd);
    link_map_free(&head_cl);
    free(best_cl);
    free(nodes);
    free(best_ln);
    free(best_sh);
    free(hent);
    return st;
}

/* The logistic function; 0 for NaN (weights so large that their sum is inf - inf). */
static double logistic0(double z)
{
    return isnan(z) ? 0 : 1.0 / (1.0 + exp(-z));
}

double pe_link_model_score(const pe_link_model *m, const double *f)
{
    double z = m->bias;
    for (int i = 0; i < PE_LINK_NFEATURES; i++) z += m->w[i] * f[i];
    return logistic0(z);
}

double pe_link_model_rerank(const pe_link_model *m, const double *f)
{
    if (m->hidden <= 0) return pe_link_model_score(m, f);
    double z = m->ob;
    for (int h = 0; h < m->hidden && h < PE_LINK_MAX_HIDDEN; h++) {
        double a = m->hb[h];
        for (int i = 0; i < PE_LINK_NFEATURES; i++) a += m->hw[h][i] * f[i];
        if (a > 0) z += m->ow[h] * a;
    }
    return logistic0(z);
}

/* 1 when the mention is a news dateline's place: followed by a date
 * ("LONDON 1996-08-30") or an agency ("WASHINGTON (Reuters) -"). */
static int dateline(const char *t, size_t len, size_t e)
{
    size_t i = e;
    while (i < len && (t[i] == ' ' || t[i] == ',')) i++;
    if (i == e) return 0;
    int date = i + 10 <= len;
    for (size_t k = 0; k < 10 && date; k++)
        date = (k == 4 || k == 7) ? t[i + k] == '-' : (t[i + k] >= '0' && t[i + k] <= '9');
    if (date) return 1;
    static const char *agency[] = {"(AP)", "(Reuters)", "(AFP)", "(UPI)", "(dpa)", NULL};
    for (int k = 0; agency[k]; k++) {
        size_t al = strlen(agency[k]);
        if (i + al <= len && memcmp(t + i, agency[k], al) == 0) return 1;
    }
    return 0;
}

static void features(call *c)
{
    for (size_t i = 0; i < c->n; i++) {
        ment *m = &c->m[i];
        int dl = dateline(c->text, c->len, m->in->end);
        double maxp = 0; /* among the candidates of the mention's own form */
        for (size_t k = 0; k < m->nc; k++)
            if ((m->c[k].via & PE_LINK_VIA_EXACT) && m->c[k].prior > maxp) maxp = m->c[k].prior;
        unsigned tb = type_bit(m->in->type);
        for (size_t k = 0; k < m->nc; k++) {
            cand *x = &m->c[k];
            const ent *e = &c->ents[x->e];
            double *f = x->f;
            f[PE_LINK_F_LOG_PRIOR] = log(x->prior > 2e-9 ? x->prior : 2e-9);
            f[PE_LINK_F_TOP_PRIOR] = (x->via & PE_LINK_VIA_EXACT) && x->prior >= maxp;
            f[PE_LINK_F_LABEL] = x->label;
            f[PE_LINK_F_NAME_SIM] = e->form[0] ? link_dice(m->form, m->form_len, e->form, strlen(e->form)) : 0;
            f[PE_LINK_F_FUZZY] = (x->via & ~PE_LINK_VIA_FUZZY) == 0;
            f[PE_LINK_F_ACRONYM] = (x->via & PE_LINK_VIA_ACRONYM) != 0;
            f[PE_LINK_F_PARTIAL] = (x->via & PE_LINK_VIA_PARTIAL) != 0;
            f[PE_LINK_F_PARTIAL_NIL] = m->partial_nil;
            f[PE_LINK_F_EXTENSION] = !(x->via & PE_LINK_VIA_EXACT) && (x->via & (PE_LINK_VIA_EXTENSION | PE_LINK_VIA_TEAM));
            f[PE_LINK_F_STEM] = (x->via & (PE_LINK_VIA_EXACT | PE_LINK_VIA_STEM)) == PE_LINK_VIA_STEM;
            f[PE_LINK_F_STEM_PLACE] = f[PE_LINK_F_STEM] && (e->bits & BIT_PLACE);
            f[PE_LINK_F_STEM_NAME] = f[PE_LINK_F_STEM] && m->form_len >= 3 && strlen(e->form) >= 3 &&
                                     memcmp(m->form, e->form, 3) == 0;
            f[PE_LINK_F_FEW_MENTIONS] = 1.0 / (double)c->n; /* c->n >= 1 here */
            f[PE_LINK_F_POPULARITY] = e->pop / 10.0;
            double t = 0;
            if (m->in->expected) {
                t = pe_kg_is_a(c->r, e->id, m->in->expected) == PE_OK ? 1 : -1;
            } else if (tb && e->bits) {
                t = (e->bits & tb) ? 1 : -1;
            }
            f[PE_LINK_F_TYPE] = t;
            f[PE_LINK_F_AMBIGUITY] = log((double)m->nc) / 4.0;
            f[PE_LINK_F_TEAM] = (e->bits & BIT_TEAM) != 0;
            f[PE_LINK_F_COH_TYPE] = 0; /* set by type_coherence() after a first pass */
            f[PE_LINK_F_LANG_PEOPLE] = (e->bits & BIT_LANG) != 0;
            f[PE_LINK_F_DATELINE_CITY] = dl && (e->bits & BIT_CITY);
            f[PE_LINK_F_CONTEXT] = f[PE_LINK_F_CONTEXT_REL] = f[PE_LINK_F_TEAM_DOC] = 0; /* set by context() when on */
            f[PE_LINK_F_QUALIFIED] = e->base && strlen(e->base) == m->form_len && memcmp(e->base, m->form, m->form_len) == 0;
            f[PE_LINK_F_QUALIFIER_NAMED] = f[PE_LINK_F_ADJACENT_LINK] = 0; /* set by text_links() */
            size_t el = strlen(e->form);
            f[PE_LINK_F_SURNAME] = m->nwords == 1 && !(x->via & PE_LINK_VIA_PARTIAL) && (e->bits & BIT_PERSON) && el > m->form_len + 1 &&
                                   e->form[el - m->form_len - 1] == ' ' &&
                                   memcmp(e->form + el - m->form_len, m->form, m->form_len) == 0;
        }
    }
}

static double prior_score(const cand *x);

/* 1 when the normalised string s holds the words w (normalised) as whole words. */
static int has_words(const char *s, const char *w)
{
    size_t wl = strlen(w);
    for (const char *p = s; wl && (p = strstr(p, w)) != NULL; p++)
        if ((p == s || p[-1] == ' ') && (p[wl] == 0 || p[wl] == ' ')) return 1;
    return 0;
}

enum { LINK_NEXT_NAMES = 8 };

/* The labels (normalised) of the first candidates of the one or two words
 * right after mention i, a comma between allowed: "Columbus , GA" ->
 * Georgia's, "Paramus, N.J." -> New Jersey's; into names (*n, strdup'ed). */
static pe_status next_names(call *c, size_t i, char *names[LINK_NEXT_NAMES], size_t *n)
{
    const char *t = c->text, *end = c->text + c->len, *p = t + c->m[i].in->end;
    *n = 0;
    while (p < end && (*p == ' ' || *p == '\t')) p++;
    if (p < end && *p == ',') p++;
    while (p < end && (*p == ' ' || *p == '\t')) p++;
    const char *w = p;
    for (int words = 1; words <= 2 && p < end; words++) {
        if (words == 2) {
            while (p < end && (*p == ' ' || *p == '\t')) p++;
            if (p < end && (*p == '\n' || *p == '\r')) break; /* the words end at the line */
        }
        while (p < end && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') p++;
        size_t wl = (size_t)(p - w);
        while (wl && strchr(",;:)!?\"", w[wl - 1])) wl--;
        if (wl == 0 || wl > 64) break;
        pe_status st;
        char *f = pe_text_normalize(w, wl, &st);
        if (!f) return st;
        pe_kg_candidate kc[4];
        size_t nk = 0;
        pe_kg_lookup_options lo = {0, 4};
        st = f[0] ? pe_kg_lookup(c->r, f, strlen(f), &lo, kc, 4, &nk) : PE_NOT_FOUND;
        free(f);
        if (st == PE_NOT_FOUND) continue;
        if (st != PE_OK) return st;
        for (size_t k = 0; k < nk && *n < LINK_NEXT_NAMES; k++) {
            int64_t x = ent_get(c, kc[k].id, &st);
            if (x < 0) return st;
            if (!c->ents[x].form[0]) continue;
            if (!(names[*n] = strdup(c->ents[x].form))) return PE_ERR_NOMEM;
            (*n)++;
        }
    }
    return PE_OK;
}

/* What the text says once, for PE_LINK_F_QUALIFIER_NAMED in time linear in
 * the text and the mentions (built on the first qualified candidate):
 * the text is cut at the mentions' starts and ends that fall where
 * pe_text_normalize breaks words anyway (next to ASCII whitespace or
 * punctuation), the pieces normalised and their words put one after the
 * other, so that the words are those of the whole text normalised; each
 * run of 1..QX_MAX_WORDS words keeps the word index where its first
 * occurrence ends and where its last one starts, and "q as words left or
 * right of mention i" is a comparison with the mention's first and next
 * word indexes. A mention whose own edge falls inside a word (lo[i] =
 * UINT32_MAX) is answered the old way, from its two sides normalised.
 * forms: the mentions of each form; tops: the mentions with a top-prior
 * candidate of each label. Every entry keeps a representative that a
 * lookup compares with q, so a hash collision is never taken for q; an
 * entry two strings share is marked (QX_SHARED) and answered the old way. */
enum { QX_MAX_WORDS = 6 };
#define QX_SHARED UINT32_MAX
typedef struct qual_index {
    link_map grams, forms, tops;   /* hash -> entry */
    uint32_t *first_end, *last_start, *g_start, *g_n; /* grams: occurrences; representative words */
    size_t ngrams;
    uint32_t *f_count, *f_rep;     /* forms: count, a mention of it (QX_SHARED) */
    uint32_t *t_count, *t_rep;     /* tops: count, an entity of it (index of c->ents; QX_SHARED) */
    size_t nforms, ntops;
    const char **wp;               /* the words (into norm[]) */
    uint32_t *wl;
    char **norm;
    size_t npieces;
    uint32_t *lo, *hi;             /* mention i's words are [lo[i], hi[i]) */
    int built;
} qual_index;

static uint64_t qx_hash_more(uint64_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static uint64_t qx_hash(const char *s)
{
    uint64_t h = qx_hash_more(14695981039346656037ull, s, strlen(s));
    return h ? h : 1; /* link_map keys are nonzero */
}

static void qx_free(qual_index *x)
{
    link_map_free(&x->grams);
    link_map_free(&x->forms);
    link_map_free(&x->tops);
    free(x->first_end);
    free(x->last_start);
    free(x->g_start);
    free(x->g_n);
    free(x->f_count);
    free(x->f_rep);
    free(x->t_count);
    free(x->t_rep);
    for (size_t k = 0; x->norm && k < x->npieces; k++) free(x->norm[k]);
    free(x->norm);
    free(x->wp);
    free(x->wl);
    free(x->lo);
    free(x->hi);
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

/* 1 when pe_text_normalize breaks words at byte offset b of t anyway:
 * the text's edges, or an ASCII space or punctuation on either side ('$'
 * excepted: it stays in words) */
static int qx_sep(unsigned char x)
{
    return x == ' ' || (x >= '\t' && x <= '\r') || (x >= 0x21 && x <= 0x2F && x != '$') || (x >= 0x3A && x <= 0x40) ||
           (x >= 0x5B && x <= 0x60) || (x >= 0x7B && x <= 0x7E);
}

static int qx_break(const char *t, size_t len, size_t b)
{
    if (b == 0 || b >= len) return 1;
    return qx_sep((unsigned char)t[b - 1]) || qx_sep((unsigned char)t[b]);
}

/* words w[p .. p + n) joined by single spaces equal q */
static int qx_words_are(const qual_index *x, size_t p, size_t n, const char *q)
{
    for (size_t k = 0; k < n; k++) {
        if (k) {
            if (*q != ' ') return 0;
            q++;
        }
        if (strncmp(q, x->wp[p + k], x->wl[p + k]) != 0) return 0;
        q += x->wl[p + k];
    }
    return *q == 0;
}

/* grows arrays a[0..] (each *cap entries of 4 bytes) to hold one more */
static int qx_grow(size_t n, size_t *cap, uint32_t **a, uint32_t **b)
{
    if (n < *cap) return 0;
    size_t nc = *cap ? 2 * *cap : 256;
    uint32_t *x = realloc(*a, nc * sizeof *x);
    if (!x) return -1;
    *a = x;
    uint32_t *y = realloc(*b, nc * sizeof *y);
    if (!y) return -1;
    *b = y;
    *cap = nc;
    return 0;
}

/* counts string s (hash h) in map m with arrays count/rep: rep is a
 * representative (resolved by rep_str), QX_SHARED when two strings share h */
static pe_status qx_count(link_map *m, uint64_t h, const char *s, uint32_t rep, const char *(*rep_str)(const call *, uint32_t),
                          const call *c, uint32_t **count, uint32_t **reps, size_t *n, size_t *cap)
{
    uint32_t *v = link_map_put(m, h, UINT32_MAX);
    if (!v) return PE_ERR_NOMEM;
    if (*v == UINT32_MAX) {
        if (qx_grow(*n, cap, count, reps)) return PE_ERR_NOMEM;
        *v = (uint32_t)(*n)++;
        (*count)[*v] = 0;
        (*reps)[*v] = rep;
    } else if ((*reps)[*v] != QX_SHARED && strcmp(rep_str(c, (*reps)[*v]), s) != 0) {
        (*reps)[*v] = QX_SHARED;
    }
    (*count)[*v]++;
    return PE_OK;
}

static const char *form_of_mention(const call *c, uint32_t j)
{
    return c->m[j].form;
}

static const char *form_of_ent(const call *c, uint32_t e)
{
    return c->ents[e].form;
}

static pe_status qx_build(call *c, qual_index *x)
{
    pe_status st = PE_OK;
    size_t nb = 2 * c->n + 2, nw = 0, capw = 0;
    size_t *cut = malloc(nb * sizeof *cut);
    uint32_t *piece_word = calloc(nb, sizeof *piece_word); /* first word index of each piece */
    x->norm = calloc(nb, sizeof *x->norm);
    x->lo = calloc(c->n ? c->n : 1, sizeof *x->lo);
    x->hi = calloc(c->n ? c->n : 1, sizeof *x->hi);
    if (!cut || !piece_word || !x->norm || !x->lo || !x->hi) { st = PE_ERR_NOMEM; goto out; }
    nb = 0;
    cut[nb++] = 0;
    cut[nb++] = c->len;
    for (size_t i = 0; i < c->n; i++) {
        if (qx_break(c->text, c->len, c->m[i].in->start)) cut[nb++] = c->m[i].in->start;
        if (qx_break(c->text, c->len, c->m[i].in->end)) cut[nb++] = c->m[i].in->end;
    }
    qsort(cut, nb, sizeof *cut, cmp_size);
    size_t u = 0;
    for (size_t i = 0; i < nb; i++)
        if (u == 0 || cut[i] != cut[u - 1]) cut[u++] = cut[i];
    nb = u; /* pieces [cut[k], cut[k+1]) for k < nb - 1 */
    x->npieces = nb;
    for (size_t k = 0; k + 1 < nb; k++) {
        piece_word[k] = (uint32_t)nw;
        if (!(x->norm[k] = pe_text_normalize(c->text + cut[k], cut[k + 1] - cut[k], &st))) goto out;
        for (char *p = x->norm[k]; *p;) {
            while (*p == ' ') p++;
            if (!*p) break;
            char *w = p;
            while (*p && *p != ' ') p++;
            if (nw == capw) {
                size_t nc = capw ? 2 * capw : 256;
                const char **a = realloc(x->wp, nc * sizeof *a);
                if (!a) { st = PE_ERR_NOMEM; goto out; }
                x->wp = a;
                uint32_t *b = realloc(x->wl, nc * sizeof *b);
                if (!b) { st = PE_ERR_NOMEM; goto out; }
                x->wl = b;
                capw = nc;
            }
            x->wp[nw] = w;
            x->wl[nw++] = (uint32_t)(p - w);
        }
    }
    piece_word[nb - 1] = (uint32_t)nw;
    for (size_t i = 0; i < c->n; i++) {
        size_t *a = bsearch(&c->m[i].in->start, cut, nb, sizeof *cut, cmp_size);
        size_t *b = bsearch(&c->m[i].in->end, cut, nb, sizeof *cut, cmp_size);
        x->lo[i] = a && b ? piece_word[a - cut] : UINT32_MAX; /* an edge inside a word: the old way */
        x->hi[i] = a && b ? piece_word[b - cut] : UINT32_MAX;
    }
    size_t capg = 0, capg2 = 0;
    for (size_t p = 0; p < nw; p++) {
        uint64_t h = 14695981039346656037ull;
        for (size_t n = 0; n < QX_MAX_WORDS && p + n < nw; n++) {
            if (n) h = qx_hash_more(h, " ", 1);
            h = qx_hash_more(h, x->wp[p + n], x->wl[p + n]);
            uint32_t *v = link_map_put(&x->grams, h ? h : 1, UINT32_MAX);
            if (!v) { st = PE_ERR_NOMEM; goto out; }
            if (*v == UINT32_MAX) {
                if (qx_grow(x->ngrams, &capg, &x->first_end, &x->last_start) ||
                    qx_grow(x->ngrams, &capg2, &x->g_start, &x->g_n)) { st = PE_ERR_NOMEM; goto out; }
                *v = (uint32_t)x->ngrams++;
                x->first_end[*v] = (uint32_t)(p + n);
                x->g_start[*v] = (uint32_t)p;
                x->g_n[*v] = (uint32_t)(n + 1);
            } else if (x->g_n[*v] != QX_SHARED) {
                /* the same words as the representative, or a collision */
                int same = x->g_n[*v] == n + 1;
                for (size_t k = 0; k <= n && same; k++)
                    same = x->wl[p + k] == x->wl[x->g_start[*v] + k] &&
                           memcmp(x->wp[p + k], x->wp[x->g_start[*v] + k], x->wl[p + k]) == 0;
                if (!same) x->g_n[*v] = QX_SHARED;
            }
            x->last_start[*v] = (uint32_t)p;
        }
    }
    size_t capf = 0, capt = 0;
    for (size_t j = 0; j < c->n; j++) {
        const ment *o = &c->m[j];
        if ((st = qx_count(&x->forms, qx_hash(o->form), o->form, (uint32_t)j, form_of_mention, c, &x->f_count, &x->f_rep,
                           &x->nforms, &capf)) != PE_OK)
            goto out;
        for (size_t k = 0; k < o->nc; k++) {
            if (o->c[k].f[PE_LINK_F_TOP_PRIOR] != 1) continue;
            const char *f = c->ents[o->c[k].e].form;
            int dup = 0; /* each mention counts once per label */
            for (size_t k2 = 0; k2 < k && !dup; k2++)
                dup = o->c[k2].f[PE_LINK_F_TOP_PRIOR] == 1 && strcmp(c->ents[o->c[k2].e].form, f) == 0;
            if (dup) continue;
            if ((st = qx_count(&x->tops, qx_hash(f), f, o->c[k].e, form_of_ent, c, &x->t_count, &x->t_rep, &x->ntops, &capt)) !=
                PE_OK)
                goto out;
        }
    }
    x->built = 1;
out:
    free(cut);
    free(piece_word);
    return st;
}

/* 1 when mention i has a top-prior candidate labelled q */
static int top_named_by(const call *c, size_t i, const char *q)
{
    const ment *m = &c->m[i];
    for (size_t k = 0; k < m->nc; k++)
        if (m->c[k].f[PE_LINK_F_TOP_PRIOR] == 1 && strcmp(c->ents[m->c[k].e].form, q) == 0) return 1;
    return 0;
}

/* Words of q (normalised, words joined by single spaces) */
static size_t count_words(const char *q)
{
    size_t n = 0;
    for (const char *p = q; *p;) {
        while (*p == ' ') p++;
        if (!*p) break;
        n++;
        while (*p && *p != ' ') p++;
    }
    return n;
}

/* 1 when another mention than i names q: its form, or the label of its
 * top-prior candidate (the old way: every other mention) */
static int other_mention_names(const call *c, size_t i, const char *q)
{
    for (size_t j = 0; j < c->n; j++) {
        const ment *o = &c->m[j];
        if (j == i) continue;
        if (strcmp(o->form, q) == 0 || top_named_by(c, j, q)) return 1;
    }
    return 0;
}

/* 1 when the text outside mention i names q (a normalised qualifier): as
 * another mention's form, as the label of another mention's top-prior
 * candidate, as words of the text left or right of the mention (through
 * the qual_index; the old way, from side[] normalised on first use and
 * kept for the mention's other candidates, for a qualifier longer than
 * QX_MAX_WORDS words, a mention whose edge falls inside a word or a
 * shared hash), or as a label of a first candidate of the words right
 * after it (next_names, computed on first use: *nnext is -1 before). */
static pe_status qualifier_named(call *c, qual_index *qx, size_t i, uint32_t e, char *side[2],
                                 char *next[LINK_NEXT_NAMES], long *nnext, int *named)
{
    const ment *m = &c->m[i];
    const char *q = c->ents[e].qual;
    *named = 0;
    pe_status st;
    if (!qx->built && (st = qx_build(c, qx)) != PE_OK) return st;
    uint64_t hq = qx_hash(q);
    const uint32_t *vf = link_map_get(&qx->forms, hq), *vt = link_map_get(&qx->tops, hq);
    int shared = (vf && qx->f_rep[*vf] == QX_SHARED) || (vt && qx->t_rep[*vt] == QX_SHARED);
    if (shared) {
        *named = other_mention_names(c, i, q);
    } else {
        if (vf && strcmp(c->m[qx->f_rep[*vf]].form, q) == 0) *named = qx->f_count[*vf] > (uint32_t)(strcmp(m->form, q) == 0);
        if (!*named && vt && strcmp(c->ents[qx->t_rep[*vt]].form, q) == 0)
            *named = qx->t_count[*vt] > (uint32_t)top_named_by(c, i, q);
    }
    size_t nq = count_words(q);
    const uint32_t *g = nq >= 1 && nq <= QX_MAX_WORDS ? link_map_get(&qx->grams, hq) : NULL;
    int old_way = nq > QX_MAX_WORDS || qx->lo[i] == UINT32_MAX || (g && qx->g_n[*g] == QX_SHARED);
    if (!*named && !old_way && g && qx_words_are(qx, qx->g_start[*g], qx->g_n[*g], q)) {
        *named = qx->first_end[*g] < qx->lo[i] || qx->last_start[*g] >= qx->hi[i];
    } else if (!*named && old_way && nq >= 1) {
        const size_t span[2][2] = {{0, m->in->start}, {m->in->end, c->len}};
        for (int s = 0; s < 2 && !*named; s++) {
            if (span[s][1] <= span[s][0]) continue;
            if (!side[s] && !(side[s] = pe_text_normalize(c->text + span[s][0], span[s][1] - span[s][0], &st))) return st;
            *named = has_words(side[s], q);
        }
    }
    if (!*named && *nnext < 0) {
        size_t nn = 0;
        st = next_names(c, i, next, &nn);
        *nnext = (long)nn;
        if (st != PE_OK) return st;
        q = c->ents[e].qual; /* next_names may have moved c->ents */
    }
    for (long k = 0; k < *nnext && !*named; k++) *named = strcmp(next[k], q) == 0;
    return PE_OK;
}

/* 1 when y is among x's neighbours or x among y's. */
static int linked(const ent *x, const ent *y)
{
    return bsearch(&y->id, x->nb, x->n_nb, sizeof *x->nb, cmp_id) != NULL ||
           bsearch(&x->id, y->nb, y->n_nb, sizeof *y->nb, cmp_id) != NULL;
}

/* 1 when the bytes between two mentions are spaces and at most one comma. */
static int adjacent_gap(const char *t, size_t from, size_t to)
{
    int commas = 0;
    if (to <= from) return 0;
    for (size_t i = from; i < to; i++) {
        if (t[i] == ',') commas++;
        else if (t[i] != ' ' && t[i] != '\t') return 0;
    }
    return commas <= 1;
}

/* a mention's start or end and its index, sorted by both */
typedef struct span_key { size_t key, idx; } span_key;
static int cmp_span_key(const void *a, const void *b)
{
    const span_key *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* PE_LINK_F_QUALIFIER_NAMED and PE_LINK_F_ADJACENT_LINK, once every
 * mention's candidates and first features are known. */
static pe_status text_links(call *c)
{
    qual_index qx;
    memset(&qx, 0, sizeof qx);
    span_key *by_start = malloc((c->n ? c->n : 1) * sizeof *by_start), *by_end = malloc((c->n ? c->n : 1) * sizeof *by_end);
    if (!by_start || !by_end) {
        free(by_start);
        free(by_end);
        return PE_ERR_NOMEM;
    }
    for (size_t j = 0; j < c->n; j++) {
        by_start[j] = (span_key){c->m[j].in->start, j};
        by_end[j] = (span_key){c->m[j].in->end, j};
    }
    qsort(by_start, c->n, sizeof *by_start, cmp_span_key);
    qsort(by_end, c->n, sizeof *by_end, cmp_span_key);
    for (size_t i = 0; i < c->n; i++) {
        ment *m = &c->m[i];
        char *side[2] = {NULL, NULL}, *after[LINK_NEXT_NAMES] = {NULL};
        long nnext = -1;
        pe_status st = PE_OK;
        for (size_t k = 0; k < m->nc && st == PE_OK; k++) {
            cand *x = &m->c[k];
            int named = 0;
            if (x->f[PE_LINK_F_QUALIFIED] == 0) continue;
            st = qualifier_named(c, &qx, i, x->e, side, after, &nnext, &named);
            x->f[PE_LINK_F_QUALIFIER_NAMED] = named;
        }
        free(side[0]);
        free(side[1]);
        for (size_t k = 0; k < LINK_NEXT_NAMES; k++) free(after[k]);
        if (st != PE_OK) {
            qx_free(&qx);
            free(by_start);
            free(by_end);
            return st;
        }
        /* the mentions right before and right after (spans are not empty,
         * so i is neither): the last end <= its start, the first start >=
         * its end, the lowest index among ties */
        size_t prev = c->n, next = c->n, a = 0, b = c->n;
        while (a < b) { /* first by_end entry whose end > start */
            size_t h = a + (b - a) / 2;
            if (by_end[h].key <= m->in->start) a = h + 1;
            else b = h;
        }
        if (a > 0) { /* the lowest index among that end: the first entry of its key */
            size_t e = by_end[a - 1].key, lo2 = 0, hi2 = a - 1;
            while (lo2 < hi2) {
                size_t h = lo2 + (hi2 - lo2) / 2;
                if (by_end[h].key < e) lo2 = h + 1;
                else hi2 = h;
            }
            prev = by_end[lo2].idx;
        }
        a = 0, b = c->n;
        while (a < b) { /* first by_start entry whose start >= end */
            size_t h = a + (b - a) / 2;
            if (by_start[h].key < m->in->end) a = h + 1;
            else b = h;
        }
        if (a < c->n) next = by_start[a].idx;
        size_t adj[2] = {prev, next};
        for (int s = 0; s < 2; s++) {
            size_t j = adj[s];
            if (j == c->n) continue;
            const ment *o = &c->m[j];
            if (!(s ? adjacent_gap(c->text, m->in->end, o->in->start) : adjacent_gap(c->text, o->in->end, m->in->start)))
                continue;
            for (size_t k = 0; k < m->nc; k++) {
                cand *x = &m->c[k];
                for (size_t q = 0; q < o->nc; q++) {
                    double w = prior_score(&o->c[q]);
                    if (w > x->f[PE_LINK_F_ADJACENT_LINK] && o->c[q].e != x->e && linked(&c->ents[x->e], &c->ents[o->c[q].e]))
                        x->f[PE_LINK_F_ADJACENT_LINK] = w;
                }
            }
        }
    }
    qx_free(&qx);
    free(by_start);
    free(by_end);
    return PE_OK;
}

/* PE_LINK_F_TEAM_DOC, once the context features are known: v = the share
 * of the other mentions (with candidates) whose candidate of highest
 * context is a sports team. A mention's first team candidate (by the
 * gathering order: via, then prior) gets v and its candidates that are no
 * team get -v, so that the feature weighs one team against the places
 * rather than every team of a city against each other. */
static void team_doc(call *c)
{
    size_t with = 0, teams = 0;
    int *is_team = calloc(c->n ? c->n : 1, sizeof *is_team);
    if (!is_team) return; /* the feature stays 0 */
    for (size_t i = 0; i < c->n; i++) {
        const ment *m = &c->m[i];
        double best = 0;
        size_t bk = 0;
        for (size_t k = 0; k < m->nc; k++)
            if (m->c[k].f[PE_LINK_F_CONTEXT] > best) { best = m->c[k].f[PE_LINK_F_CONTEXT]; bk = k; }
        with += m->nc > 0;
        is_team[i] = best > 0 && (c->ents[m->c[bk].e].bits & BIT_TEAM);
        teams += (size_t)is_team[i];
    }
    for (size_t i = 0; i < c->n; i++) {
        ment *m = &c->m[i];
        size_t others = with - (m->nc > 0);
        double v = others ? (double)(teams - (size_t)is_team[i]) / (double)others : 0;
        size_t tk = m->nc;
        for (size_t k = 0; k < m->nc && tk == m->nc; k++)
            if (c->ents[m->c[k].e].bits & BIT_TEAM) tk = k;
        for (size_t k = 0; k < m->nc; k++)
            m->c[k].f[PE_LINK_F_TEAM_DOC] = k == tk ? v : tk < m->nc && !(c->ents[m->c[k].e].bits & BIT_TEAM) ? -v : 0;
    }
    free(is_team);
}

/* PE_LINK_F_CONTEXT of every candidate (link_context.c). */
static pe_status context(call *c)
{
    pe_linker *l = c->l;
    link_ctx_mention *cm = calloc(c->n ? c->n : 1, sizeof *cm);
    size_t total = 0;
    for (size_t i = 0; i < c->n; i++) total += c->m[i].nc;
    pe_kg_id *ids = malloc((total ? total : 1) * sizeof *ids);
    double *sims = malloc((total ? total : 1) * sizeof *sims);
    pe_status st = PE_OK;
    if (!cm || !ids || !sims) { st = PE_ERR_NOMEM; goto out; }
    size_t o = 0;
    for (size_t i = 0; i < c->n; i++) {
        ment *m = &c->m[i];
        cm[i] = (link_ctx_mention){m->in->start, m->in->end, m->nc, ids + o, sims + o};
        for (size_t k = 0; k < m->nc; k++) ids[o + k] = c->ents[m->c[k].e].id;
        o += m->nc;
    }
    const char *why;
    st = link_context_sims(c->itxn, &l->ix, c->text, c->len, l->opt.context_window, cm, c->n, &why);
    if (st == PE_ERR_STORE) { c->msg_set = 1; lfail(l, st, "link index: %s", why ? why : "read failed"); }
    if (st == PE_OK) {
        for (size_t i = 0; i < c->n; i++) {
            double best = 0;
            for (size_t k = 0; k < c->m[i].nc; k++) if (cm[i].out[k] > best) best = cm[i].out[k];
            for (size_t k = 0; k < c->m[i].nc; k++) {
                c->m[i].c[k].f[PE_LINK_F_CONTEXT] = cm[i].out[k];
                double *f = c->m[i].c[k].f;
                f[PE_LINK_F_CONTEXT_REL] = best > 0 ? cm[i].out[k] / best : 0;
            }
        }
        team_doc(c);
        c->context_on = 1;
    }
out:
    free(cm);
    free(ids);
    free(sims);
    return st;
}

/* Without a model: the prior, a tenth of it for candidates found only by
 * longer names, stems or fuzzy matching (their prior is another form's). */
static double prior_score(const cand *x)
{
    unsigned own = PE_LINK_VIA_EXACT | PE_LINK_VIA_PARTIAL | PE_LINK_VIA_ACRONYM | PE_LINK_VIA_HISTORY;
    return (x->via & own) ? x->prior : 0.1 * x->prior;
}

static void score(call *c)
{
    pe_linker *l = c->l;
    for (size_t i = 0; i < c->n; i++) {
        ment *m = &c->m[i];
        for (size_t k = 0; k < m->nc; k++)
            m->c[k].score = l->has_model ? pe_link_model_score(&l->model, m->c[k].f) : prior_score(&m->c[k]);
    }
}

/* After the last pass: the reranker's scores, which order the candidates. */
static void rerank(call *c)
{
    const pe_linker *l = c->l;
    int mlp = l->has_model && l->model.hidden > 0;
    for (size_t i = 0; i < c->n; i++)
        for (size_t k = 0; k < c->m[i].nc; k++) {
            cand *x = &c->m[i].c[k];
            x->rerank = mlp ? pe_link_model_rerank(&l->model, x->f) : x->score;
        }
}

/* A candidate's coarse type for type coherence: a sports team is a team
 * only (not also an organisation or, as DBpedia sometimes types national
 * teams, a country). */
static unsigned fine_bits(unsigned bits)
{
    return (bits & BIT_TEAM) ? BIT_TEAM : bits & ~(unsigned)BIT_CITY;
}

/* Second pass: PE_LINK_F_COH_TYPE of every candidate from the first pass's
 * scores. Each other mention (the coherence window, another form, with
 * candidates) spreads its score mass, normalised to 1, over the coarse
 * types of its candidates; a history entity counts with mass 1 on its
 * type. The feature is the mean over those mentions of the mass on the
 * candidate's type bits (summed over its bits, the mean clipped to 1).
 * O(M (K + B + W)) with prefix sums over the mentions (W: the window, for
 * leaving out the mentions of the candidate's own form). */
static pe_status type_coherence(call *c)
{
    size_t nh = c->hist ? c->hist->n : 0;
    if (c->n + nh < 2) return PE_OK;
    /* mass[j][b]: mention j's share on bit b; cum: prefix sums over j */
    double (*cum)[NBITS] = calloc(c->n + 1, sizeof *cum);
    double hist_mass[NBITS] = {0};
    int *has = calloc(c->n + 1, sizeof *has); /* prefix counts of mentions that count */
    if (!cum || !has) { free(cum); free(has); return PE_ERR_NOMEM; }
    for (size_t j = 0; j < c->n; j++) {
        const ment *o = &c->m[j];
        double tot = 0, mb[NBITS] = {0};
        for (size_t k = 0; k < o->nc; k++) tot += o->c[k].score;
        for (size_t k = 0; k < o->nc && tot > 0; k++) {
            unsigned b = fine_bits(c->ents[o->c[k].e].bits);
            for (int q = 0; q < NBITS; q++)
                if (b & (1u << q)) mb[q] += o->c[k].score / tot;
        }
        for (int q = 0; q < NBITS; q++) cum[j + 1][q] = cum[j][q] + mb[q];
        has[j + 1] = has[j] + (o->nc > 0 && tot > 0);
    }
    for (size_t h = 0; h < nh; h++) {
        unsigned b = fine_bits(c->hist->e[h].bits);
        for (int q = 0; q < NBITS; q++)
            if (b & (1u << q)) hist_mass[q] += 1;
    }
    for (size_t i = 0; i < c->n; i++) {
        ment *m = &c->m[i];
        size_t lo = i > PE_LINK_COHERENCE_WINDOW / 2 ? i - PE_LINK_COHERENCE_WINDOW / 2 : 0;
        size_t hi = i + PE_LINK_COHERENCE_WINDOW / 2 + 1;
        if (hi > c->n) hi = c->n;
        /* window sums less the mention itself and the mentions of its form */
        double win[NBITS];
        int cnt = has[hi] - has[lo] + (int)nh;
        for (int q = 0; q < NBITS; q++) win[q] = cum[hi][q] - cum[lo][q] + hist_mass[q];
        for (size_t j = lo; j < hi; j++) {
            const ment *o = &c->m[j];
            if (j != i && (o->form_len != m->form_len || memcmp(o->form, m->form, m->form_len) != 0)) continue;
            if (has[j + 1] == has[j]) continue;
            cnt--;
            for (int q = 0; q < NBITS; q++) win[q] -= cum[j + 1][q] - cum[j][q];
        }
        for (size_t k = 0; k < m->nc; k++) {
            unsigned b = fine_bits(c->ents[m->c[k].e].bits);
            double v = 0;
            for (int q = 0; q < NBITS; q++)
                if (b & (1u << q)) v += win[q];
            m->c[k].f[PE_LINK_F_COH_TYPE] = cnt > 0 ? fmin(1.0, fmax(0.0, v / cnt)) : 0;
        }
    }
    free(cum);
    free(has);
    return PE_OK;
}

static int cmp_cand_score(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->rerank != y->rerank) return x->rerank > y->rerank ? -1 : 1;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    if (x->prior != y->prior) return x->prior > y->prior ? -1 : 1;
    return x->e < y->e ? -1 : x->e > y->e;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

void pe_link_result_free(pe_link_result *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->n; i++) {
        pe_link_mention_result *m = &r->mentions[i];
        free((char *)m->surface);
        for (size_t k = 0; k < m->n_candidates; k++) {
            free((char *)m->candidates[k].qid);
            free((char *)m->candidates[k].label);
        }
        free(m->candidates);
    }
    free(r->mentions);
    free(r);
}

static pe_status build_result(call *c, size_t keep, pe_link_result **out)
{
    pe_linker *l = c->l;
    pe_link_result *r = calloc(1, sizeof *r);
    if (!r) return PE_ERR_NOMEM;
    r->mentions = calloc(c->n ? c->n : 1, sizeof *r->mentions);
    if (!r->mentions) { free(r); return PE_ERR_NOMEM; }
    r->n = c->n;
    /* short texts have a threshold of their own (pe_link_model) */
    double nil_threshold = link_text_is_short(c->n) && l->model.nil_threshold_short >= 0 ? l->model.nil_threshold_short
                                                                                          : l->model.nil_threshold;
    for (size_t i = 0; i < c->n; i++) {
        ment *m = &c->m[i];
        pe_link_mention_result *o = &r->mentions[i];
        o->start = m->in->start;
        o->end = m->in->end;
        o->surface = strndup(c->text + m->in->start, m->in->end - m->in->start);
        if (!o->surface) goto nomem;
        if (m->nc > 1) qsort(m->c, m->nc, sizeof *m->c, cmp_cand_score);
        o->n_considered = m->nc;
        o->nil = m->nc == 0 || (l->has_model && m->c[0].score < nil_threshold);
        size_t n = m->nc < keep ? m->nc : keep;
        o->candidates = calloc(n ? n : 1, sizeof *o->candidates);
        if (!o->candidates) goto nomem;
        for (size_t k = 0; k < n; k++) {
            const cand *x = &m->c[k];
            const ent *e = &c->ents[x->e];
            pe_link_candidate *oc = &o->candidates[k];
            oc->id = e->id;
            oc->qid = strdup(e->qid);
            oc->label = dup_or_null(e->label);
            o->n_candidates = k + 1;
            if (!oc->qid || (e->label && !oc->label)) goto nomem;
            oc->score = x->score;
            oc->rerank = x->rerank;
            oc->prior = x->prior;
            oc->via = x->via;
            memcpy(oc->f, x->f, sizeof oc->f);
        }
        o->entity = o->nil ? NULL : &o->candidates[0];
    }
    *out = r;
    return PE_OK;
nomem:
    pe_link_result_free(r);
    return PE_ERR_NOMEM;
}

static pe_status hist_add(call *c, const pe_link_result *r)
{
    pe_link_history *h = c->hist;
    for (size_t i = 0; i < r->n; i++) {
        const pe_link_candidate *e = r->mentions[i].entity;
        if (!e) continue;
        int seen = 0;
        for (size_t k = 0; k < h->n && !seen; k++) seen = h->e[k].id == e->id;
        if (seen) continue;
        uint32_t *slot = link_map_get(&c->ent_ix, e->id);
        const ent *en = slot ? &c->ents[*slot - 1] : NULL;
        char *form = strdup(en ? en->form : "");
        if (!form) return PE_ERR_NOMEM;
        struct hist_ent *he = &h->e[h->next];
        free(he->form);
        he->id = e->id;
        he->bits = en ? en->bits : 0;
        he->form = form;
        h->next = (h->next + 1) % HIST_MAX;
        if (h->n < HIST_MAX) h->n++;
    }
    return PE_OK;
}

pe_kg *link_linker_kg(pe_linker *l)
{
    return l->kg;
}

pe_status link_text_keep(pe_linker *l, pe_link_history *history, const char *text, size_t len,
                         const pe_link_mention *mentions, size_t n, size_t keep, pe_link_result **out)
{
    if (!out) return PE_ERR_INVALID;
    *out = NULL;
    if (!l) return PE_ERR_INVALID;
    if (!text || len == 0) return lfail(l, PE_ERR_INVALID, "empty text");
    if (n && !mentions) return lfail(l, PE_ERR_INVALID, "no mentions array");
    size_t bad;
    if (!pe_utf8_valid(text, len, &bad)) return lfail(l, PE_ERR_UTF8, "text is not valid UTF-8 at byte %zu", bad);
    for (size_t i = 0; i < n; i++) {
        size_t s = mentions[i].start, e = mentions[i].end;
        if (s >= e || e > len)
            return lfail(l, PE_ERR_INVALID, "mention %zu: span [%zu, %zu) is %s (text is %zu bytes)", i, s, e,
                         s >= e ? "empty or reversed" : "outside the text", len);
        if (((unsigned char)text[s] & 0xC0) == 0x80 || (e < len && ((unsigned char)text[e] & 0xC0) == 0x80))
            return lfail(l, PE_ERR_INVALID, "mention %zu: span [%zu, %zu) is not on UTF-8 character boundaries", i, s, e);
        if ((unsigned)mentions[i].type > PE_LINK_TYPE_OTHER)
            return lfail(l, PE_ERR_INVALID, "mention %zu: unknown type %d", i, (int)mentions[i].type);
    }
    call c = {0};
    c.l = l;
    c.n = n;
    c.hist = history;
    c.K = l->opt.max_candidates;
    c.text = text;
    c.len = len;
    pe_status st = pe_kg_reader_begin(l->kg, &c.r);
    if (st != PE_OK) return lfail(l, st, "%s", pe_kg_errmsg(l->kg));
    if (l->has_index) {
        int rc = mdb_txn_begin(l->ix.env, NULL, MDB_RDONLY, &c.itxn);
        if (rc) { c.msg_set = 1; st = lfail(l, PE_ERR_STORE, "link index: %s", mdb_strerror(rc)); goto out; }
    }
    c.m = calloc(n ? n : 1, sizeof *c.m);
    if (!c.m) { st = PE_ERR_NOMEM; goto out; }
    for (size_t i = 0; i < n; i++) {
        ment *m = &c.m[i];
        m->in = &mentions[i];
        m->acro_ref = m->partial_ref = -1;
        size_t s0 = mentions[i].start, sl = mentions[i].end - s0;
        name_span(text, &s0, &sl);
        m->surface = malloc(sl + 1); /* memcpy: the span may hold a NUL byte */
        if (!m->surface) { st = PE_ERR_NOMEM; goto out; }
        memcpy(m->surface, text + s0, sl);
        m->surface[sl] = '\0';
        m->slen = sl;
        pe_status ns;
        m->form = pe_text_normalize(m->surface, sl, &ns);
        if (!m->form) { st = ns; goto out; }
        m->form_len = strlen(m->form);
        if (m->form_len > 500) { /* the alias index's cut (pe_kg.h) */
            m->form_len = 500;
            while (m->form_len && ((unsigned char)m->form[m->form_len] & 0xC0) == 0x80) m->form_len--;
            m->form[m->form_len] = 0;
        }
        split_words(m);
    }
    if ((st = gather(&c)) != PE_OK) goto out;
    features(&c);
    if ((st = text_links(&c)) != PE_OK) goto out;
    if (l->has_index && l->ix.has_ctx && l->opt.context && (st = context(&c)) != PE_OK) goto out;
    if (l->opt.coherence && (st = coherence(&c)) != PE_OK) goto out;
    score(&c);
    if (l->opt.coherence) {
        if ((st = type_coherence(&c)) != PE_OK) goto out;
        score(&c);
    }
    rerank(&c);
    st = build_result(&c, keep, out);
    if (st == PE_OK) (*out)->context_on = c.context_on;
    if (st == PE_OK && history) st = hist_add(&c, *out);
    if (st != PE_OK) { pe_link_result_free(*out); *out = NULL; }
out:
    if (st >= PE_ERR_FIRST && !c.msg_set) {
        if (st == PE_ERR_NOMEM) lfail(l, st, "out of memory");
        else lfail(l, st, "store: %s", pe_kg_errmsg(l->kg));
    }
    if (c.itxn) mdb_txn_abort(c.itxn);
    pe_kg_reader_end(c.r);
    for (size_t i = 0; c.m && i < n; i++) {
        free(c.m[i].surface);
        free(c.m[i].form);
        free(c.m[i].c);
    }
    free(c.m);
    for (size_t i = 0; i < c.nents; i++) ent_free(&c.ents[i]);
    free(c.ents);
    link_map_free(&c.ent_ix);
    return st;
}

pe_status pe_link_text(pe_linker *l, pe_link_history *history, const char *text, size_t len,
                       const pe_link_mention *mentions, size_t n, pe_link_result **out)
{
    size_t keep = l ? 1 + l->opt.runner_ups : 1;
    return link_text_keep(l, history, text, len, mentions, n, keep, out);
}
