/* The schema table: every relation of the PersonaExt inventory -> persona
 * attribute, expected object classes, cardinality, sensitivity, polarity.
 * See pe_fusion.h for what each column means. */
#include "pe_fusion.h"

#include <string.h>

/* Expected classes (Wikidata QIDs; instances through P31/P279*). */
#define PLACE "Q2221906|Q486972|Q56061|Q6256|Q515"
#define ORG "Q43229|Q4830453|Q783794"
#define FOOD "Q2095|Q746549"
#define DRINK "Q40050"
#define ANIMAL "Q729"
#define ARTIST "Q639669|Q215380|Q5|Q482994"
#define SPORT "Q349|Q31629"
#define OCCUPATION "Q12737077|Q28640"
#define COLOR "Q1075"
#define SEASON "Q10688145"
#define BOOK "Q7725634|Q571|Q47461344"
#define FILM "Q11424|Q201658"
#define SHOW "Q5398426|Q15416"
#define VEHICLE "Q42889"
#define SCHOOL "Q2385804|Q3914"
#define RELIGION "Q9174"

/* Attributes a "dislike" retracts. */
#define LIKES "likes|foods|drinks|animals|activities|reading|watching|colors|sports|subjects|characters"

enum { M = 0, F = 1 };              /* multi-valued, functional */
#define N PE_PS_SENS_NONE
#define P PE_PS_SENS_PERSONAL
#define A PE_FUSION_ASSERT
#define NEG PE_FUSION_NEGATE
#define PAST PE_FUSION_PAST

/* relation, attribute, classes, functional, sensitivity, polarity, targets, strict_type */
static const pe_fusion_schema_entry schema[] = {
    {"attend_school", "school", SCHOOL, M, P, A, NULL, 0},
    {"belief", "belief", RELIGION, M, PE_PS_SENS_RELIGION, A, NULL, 0},
    {"diet", "diet", NULL, M, N, A, NULL, 0},
    {"dislike", "dislikes", NULL, M, N, NEG, LIKES, 0},
    {"dislike_activity", "disliked_activities", NULL, M, N, NEG, "activities|favorite_hobby|likes", 0},
    {"dislike_animal", "disliked_animals", ANIMAL, M, N, NEG, "animals|favorite_animal", 0},
    {"dislike_color", "disliked_colors", COLOR, M, N, NEG, "colors|favorite_color", 0},
    {"dislike_drink", "disliked_drinks", DRINK, M, N, NEG, "drinks|favorite_drink", 0},
    {"dislike_food", "disliked_foods", FOOD, M, N, NEG, "foods|favorite_food", 0},
    {"dislike_job", "disliked_jobs", OCCUPATION, M, N, NEG, "wanted_job", 0},
    {"dislike_music", "disliked_music", NULL, M, N, NEG, "music|favorite_music_artist", 0},
    {"dislike_sport", "disliked_sports", SPORT, M, N, NEG, "sports|favorite_sport", 0},
    {"dislike_subject", "disliked_subjects", NULL, M, N, NEG, "subjects", 0},
    {"do_not_do", "does_not_do", NULL, M, N, NEG, "activities|doing", 0},
    {"do_not_drink", "does_not_drink", DRINK, M, N, NEG, "drinks|favorite_drink", 0},
    {"do_not_eat", "does_not_eat", FOOD, M, N, NEG, "foods|favorite_food", 0},
    {"doing", "doing", NULL, M, N, A, NULL, 0},
    {"employed_by_company", "employer", ORG, F, P, A, NULL, 0},
    {"employed_by_general", "occupation", OCCUPATION, F, P, A, NULL, 0},
    {"fall_out", "fell_out_with", NULL, M, P, A, NULL, 0},
    {"favorite_animal", "favorite_animal", ANIMAL, M, N, A, NULL, 0},
    {"favorite_book", "favorite_book", BOOK, M, N, A, NULL, 0},
    {"favorite_color", "favorite_color", COLOR, F, N, A, NULL, 0},
    {"favorite_drink", "favorite_drink", DRINK, M, N, A, NULL, 0},
    {"favorite_hobby", "favorite_hobby", NULL, M, N, A, NULL, 0},
    {"favorite_movie", "favorite_movie", FILM, M, N, A, NULL, 0},
    {"favorite_music_artist", "favorite_music_artist", ARTIST, M, N, A, NULL, 0},
    {"favorite_place", "favorite_place", PLACE, M, N, A, NULL, 0},
    {"favorite_season", "favorite_season", SEASON, F, N, A, NULL, 0},
    {"favorite_show", "favorite_show", SHOW, M, N, A, NULL, 0},
    {"favorite_sport", "favorite_sport", SPORT, M, N, A, NULL, 0},
    {"gender", "gender", NULL, F, P, A, NULL, 0},
    {"get_along", "gets_along_with", NULL, M, P, A, NULL, 0},
    {"has_ability", "abilities", NULL, M, N, A, NULL, 0},
    {"has_degree", "degree", NULL, M, P, A, NULL, 0},
    {"have_chidren", "children", NULL, M, P, A, NULL, 0}, /* sic: the data set's spelling */
    {"have_children", "children", NULL, M, P, A, NULL, 0},
    {"have_family", "family", NULL, M, P, A, NULL, 0},
    {"have_no", "does_not_have", NULL, M, N, NEG, "pets|vehicles|children|siblings|family|possessions", 0},
    {"have_no_children", "does_not_have", NULL, M, P, NEG, "children", 0},
    {"have_no_family", "does_not_have", NULL, M, P, NEG, "family", 0},
    {"have_no_sibling", "does_not_have", NULL, M, P, NEG, "siblings", 0},
    {"have_pet", "pets", ANIMAL, M, N, A, NULL, 0},
    {"have_sibling", "siblings", NULL, M, P, A, NULL, 0},
    {"have_vehicle", "vehicles", VEHICLE, M, N, A, NULL, 0},
    {"health_status", "health", NULL, M, PE_PS_SENS_HEALTH, A, NULL, 0},
    {"international_exp", "international_experience", PLACE, M, P, A, NULL, 0},
    {"job_status", "job_status", NULL, F, P, A, NULL, 0},
    {"like_activity", "activities", NULL, M, N, A, NULL, 0},
    {"like_animal", "animals", ANIMAL, M, N, A, NULL, 0},
    {"like_character", "characters", NULL, M, N, A, NULL, 0},
    {"like_color", "colors", COLOR, M, N, A, NULL, 0},
    {"like_drink", "drinks", DRINK, M, N, A, NULL, 0},
    {"like_food", "foods", FOOD, M, N, A, NULL, 0},
    {"like_general", "likes", NULL, M, N, A, NULL, 0},
    {"like_music", "music", NULL, M, N, A, NULL, 0},
    {"like_read", "reading", BOOK, M, N, A, NULL, 0},
    {"like_sport", "sports", SPORT, M, N, A, NULL, 0},
    {"like_subject", "subjects", NULL, M, N, A, NULL, 0},
    {"like_watching", "watching", NULL, M, N, A, NULL, 0},
    {"live_in_citystatecountry", "residence", PLACE, F, P, A, NULL, 1},
    {"live_in_general", "living_situation", NULL, M, P, A, NULL, 0},
    {"marital_status", "marital_status", NULL, F, P, A, NULL, 0},
    {"member_of", "memberships", NULL, M, P, A, NULL, 0},
    {"name", "name", NULL, F, P, A, NULL, 0},
    {"other", "other", NULL, M, N, A, NULL, 0},
    {"own", "possessions", NULL, M, N, A, NULL, 0},
    {"physical_attribute", "physical_attributes", NULL, M, P, A, NULL, 0},
    {"pre_employed_by_company", "former_employer", ORG, M, P, PAST, "employer", 0},
    {"race", "ethnicity", NULL, M, PE_PS_SENS_ETHNICITY, A, NULL, 0},
    {"relationship", "relationship", NULL, M, P, A, NULL, 0},
    {"school_status", "school_status", NULL, F, P, A, NULL, 0},
    {"used_to", "used_to", NULL, M, N, PAST, "activities|likes|occupation|doing", 0},
    {"want_job", "wanted_job", OCCUPATION, M, P, A, NULL, 0},
    {"want_no", "does_not_want", NULL, M, N, NEG, NULL, 0},
    {"weakness", "weaknesses", NULL, M, N, A, NULL, 0},
    {"work_schedule", "work_schedule", NULL, F, P, A, NULL, 0},
};

size_t pe_fusion_schema_count(void) { return sizeof schema / sizeof schema[0]; }

const pe_fusion_schema_entry *pe_fusion_schema_at(size_t i)
{
    return i < pe_fusion_schema_count() ? &schema[i] : NULL;
}

const pe_fusion_schema_entry *pe_fusion_schema_find(const char *relation)
{
    if (!relation) return NULL;
    /* the table is sorted by relation */
    size_t lo = 0, hi = pe_fusion_schema_count();
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(schema[mid].relation, relation);
        if (c == 0) return &schema[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}
