/* Fusion helpers: timestamps, the age patterns, the policy file. */
#include "pe_fusion.h"

#include <cjson/cJSON.h>

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

pe_fusion_options pe_fusion_options_default(void)
{
    pe_fusion_options o;
    memset(&o, 0, sizeof o);
    o.half_life_days = 365;
    o.min_score = 0.3;
    o.replace_threshold = 0.5;
    o.mismatch_factor = 0.5;
    o.derived_factor = 0.9;
    o.pattern_score = 0.8;
    return o;
}

/* ---- timestamps ---- */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static long days_from_civil(long y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const long era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long)doe - 719468;
}

static int digits(const char *s, int n, long *v)
{
    long x = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i])) return 0;
        x = x * 10 + (s[i] - '0');
    }
    *v = x;
    return 1;
}

pe_status pe_fusion_parse_time(const char *s, double *out)
{
    if (!s || !out) return PE_ERR_INVALID;
    *out = 0;
    size_t n = strlen(s);
    if (n == 0 || n > 64) return PE_ERR_PARSE;
    /* Unix seconds: digits, optionally a fraction */
    size_t i = 0;
    while (i < n && isdigit((unsigned char)s[i])) i++;
    if (i > 0 && (i == n || (s[i] == '.' && i + 1 < n))) {
        size_t j = i == n ? n : i + 1;
        while (j < n && isdigit((unsigned char)s[j])) j++;
        if (j == n) {
            errno = 0;
            char *end;
            double v = strtod(s, &end);
            if (errno || *end || !isfinite(v)) return PE_ERR_PARSE;
            *out = v;
            return PE_OK;
        }
    }
    /* ISO 8601: YYYY-MM-DD[(T| )hh:mm[:ss[.f+]]][Z|(+|-)hh[:]mm] */
    long y, mo, d, h = 0, mi = 0, sec = 0;
    double frac = 0;
    if (n < 10 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' || !digits(s + 8, 2, &d))
        return PE_ERR_PARSE;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1]) return PE_ERR_PARSE;
    if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return PE_ERR_PARSE;
    const char *p = s + 10;
    long off = 0;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        if (!digits(p, 2, &h) || p[2] != ':' || !digits(p + 3, 2, &mi)) return PE_ERR_PARSE;
        p += 5;
        if (*p == ':') {
            if (!digits(p + 1, 2, &sec)) return PE_ERR_PARSE;
            p += 3;
            if (*p == '.' || *p == ',') {
                p++;
                double scale = 0.1;
                if (!isdigit((unsigned char)*p)) return PE_ERR_PARSE;
                while (isdigit((unsigned char)*p)) {
                    frac += (*p - '0') * scale;
                    scale /= 10;
                    p++;
                }
            }
        }
        if (h > 23 || mi > 59 || sec > 60) return PE_ERR_PARSE;
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            long oh, om = 0;
            int sign = *p == '-' ? -1 : 1;
            p++;
            if (!digits(p, 2, &oh)) return PE_ERR_PARSE;
            p += 2;
            if (*p == ':') p++;
            if (*p) {
                if (!digits(p, 2, &om)) return PE_ERR_PARSE;
                p += 2;
            }
            if (oh > 23 || om > 59) return PE_ERR_PARSE;
            off = sign * (oh * 3600 + om * 60);
        }
    }
    if (*p) return PE_ERR_PARSE;
    *out = (double)days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400.0 + (double)(h * 3600 + mi * 60 + sec) -
           (double)off + frac;
    return PE_OK;
}

/* ---- the age patterns ---- */

typedef struct word {
    size_t start, end; /* bytes in the text */
    char w[24];        /* lower-cased ASCII (truncated), "'" for apostrophes */
} word;

/* Splits text into words (letters, digits, apostrophes) and single
 * punctuation marks. Returns the count (at most cap). */
static size_t split_words(const char *t, size_t len, word *ws, size_t cap)
{
    size_t n = 0, i = 0;
    while (i < len && n < cap) {
        unsigned char c = (unsigned char)t[i];
        if (isspace(c)) {
            i++;
            continue;
        }
        word *w = &ws[n++];
        w->start = i;
        size_t k = 0;
        if (isalnum(c) || c == '\'' || c >= 0x80) {
            while (i < len) {
                c = (unsigned char)t[i];
                if (c == 0xE2 && i + 2 < len && (unsigned char)t[i + 1] == 0x80 && (unsigned char)t[i + 2] == 0x99) {
                    if (k + 1 < sizeof w->w) w->w[k++] = '\'';
                    i += 3;
                    continue;
                }
                if (!(isalnum(c) || c == '\'' || c == '/' || c >= 0x80)) break;
                if (k + 1 < sizeof w->w) w->w[k++] = (char)tolower(c);
                i++;
            }
        } else {
            w->w[k++] = (char)c;
            i++;
        }
        w->w[k] = '\0';
        w->end = i;
    }
    return n;
}

static int is_num(const char *w, long *v)
{
    if (!*w || strlen(w) > 3) return 0;
    for (const char *p = w; *p; p++)
        if (!isdigit((unsigned char)*p)) return 0;
    *v = strtol(w, NULL, 10);
    return 1;
}

static int in_list(const char *w, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(w, *list) == 0) return 1;
    return 0;
}

pe_status pe_fusion_match_age(const char *text, size_t len, char **value, size_t *start, size_t *end)
{
    if (!text || !value) return PE_ERR_INVALID;
    *value = NULL;
    word ws[512];
    size_t n = split_words(text, len, ws, 512);
    static const char *const follow[] = {".", ",", "!", "?", ";", ":", "-", ")", "years", "year", "yrs", "yr",
                                         "yo", "y/o", "and", "but", "so", "now", "today", "this", "next", "last", "yesterday", NULL};
    static const char *const decades[] = {"twenties", "thirties", "forties", "fifties", "sixties",
                                          "seventies", "eighties", "nineties", NULL};
    for (size_t i = 0; i < n; i++) {
        long v;
        /* "i'm 25", "im 25", "i am 25", "i turned 25", "just turned 25" */
        size_t j = SIZE_MAX;
        if (strcmp(ws[i].w, "i'm") == 0 || strcmp(ws[i].w, "im") == 0) j = i + 1;
        else if (i + 1 < n && strcmp(ws[i].w, "i") == 0 &&
                 (strcmp(ws[i + 1].w, "am") == 0 || strcmp(ws[i + 1].w, "turned") == 0))
            j = i + 2;
        else if (i + 1 < n && strcmp(ws[i].w, "just") == 0 && strcmp(ws[i + 1].w, "turned") == 0)
            j = i + 2;
        if (j < n && is_num(ws[j].w, &v) && v >= 1 && v <= 120) {
            int ok = j + 1 == n || in_list(ws[j + 1].w, follow);
            /* "i'm 6 years into my job": "years" must be "years old" or end the clause */
            if (ok && j + 1 < n && (strncmp(ws[j + 1].w, "year", 4) == 0 || strncmp(ws[j + 1].w, "yr", 2) == 0))
                ok = j + 2 == n || strcmp(ws[j + 2].w, "old") == 0 || !isalnum((unsigned char)ws[j + 2].w[0]);
            if (ok) {
                char buf[8];
                snprintf(buf, sizeof buf, "%ld", v);
                *value = strdup(buf);
                if (!*value) return PE_ERR_NOMEM;
                if (start) *start = ws[j].start;
                if (end) *end = ws[j].end;
                return PE_OK;
            }
        }
        /* "in my forties", "in my 40s", "in my mid 40s", "in my late forties" */
        if (i + 2 < n && strcmp(ws[i].w, "in") == 0 && strcmp(ws[i + 1].w, "my") == 0) {
            size_t k = i + 2;
            if (k + 1 < n && (strcmp(ws[k].w, "early") == 0 || strcmp(ws[k].w, "mid") == 0 ||
                              strcmp(ws[k].w, "late") == 0))
                k++;
            const char *w = ws[k].w;
            int dec = 0;
            for (int d = 0; decades[d]; d++)
                if (strcmp(w, decades[d]) == 0) dec = (d + 2) * 10;
            if (!dec && strlen(w) == 3 && isdigit((unsigned char)w[0]) && w[1] == '0' && w[2] == 's' && w[0] >= '2')
                dec = (w[0] - '0') * 10;
            if (dec) {
                char buf[8];
                snprintf(buf, sizeof buf, "%ds", dec);
                *value = strdup(buf);
                if (!*value) return PE_ERR_NOMEM;
                if (start) *start = ws[k].start;
                if (end) *end = ws[k].end;
                return PE_OK;
            }
        }
    }
    return PE_NOT_FOUND;
}

/* ---- policy ---- */

pe_status pe_fusion_policy_load(const char *path, pe_fusion_options *o, pe_error *err)
{
    if (!path || !o) return pe_error_set(err, PE_ERR_INVALID, "policy: no path or options");
    FILE *f = fopen(path, "rb");
    if (!f) return pe_error_set(err, PE_ERR_IO, "%s: %s", path, strerror(errno));
    char *buf = NULL;
    size_t cap = 0, len = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            if (cap > (1u << 20)) {
                free(buf);
                fclose(f);
                return pe_error_set(err, PE_ERR_LIMIT, "%s: policy file over 1 MiB", path);
            }
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return pe_error_set(err, PE_ERR_NOMEM, "policy: out of memory");
            }
            buf = nb;
        }
        size_t k = fread(buf + len, 1, 4096, f);
        len += k;
        if (k < 4096) break;
    }
    fclose(f);
    buf[len] = '\0';
    cJSON *j = cJSON_Parse(buf);
    free(buf);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return pe_error_set(err, PE_ERR_PARSE, "%s: not a JSON object", path);
    }
    pe_status st = PE_OK;
    pe_fusion_options n = *o;
    const cJSON *it;
    cJSON_ArrayForEach(it, j)
    {
        double *num = NULL;
        if (strcmp(it->string, "half_life_days") == 0) num = &n.half_life_days;
        else if (strcmp(it->string, "min_score") == 0) num = &n.min_score;
        else if (strcmp(it->string, "replace_threshold") == 0) num = &n.replace_threshold;
        else if (strcmp(it->string, "mismatch_factor") == 0) num = &n.mismatch_factor;
        else if (strcmp(it->string, "derived_factor") == 0) num = &n.derived_factor;
        else if (strcmp(it->string, "pattern_score") == 0) num = &n.pattern_score;
        if (num) {
            if (!cJSON_IsNumber(it) || it->valuedouble < 0) {
                st = pe_error_set(err, PE_ERR_PARSE, "%s: \"%s\" must be a number >= 0", path, it->string);
                break;
            }
            *num = it->valuedouble;
        } else if (strcmp(it->string, "allow") == 0) {
            if (!cJSON_IsArray(it)) {
                st = pe_error_set(err, PE_ERR_PARSE, "%s: \"allow\" must be an array of class names", path);
                break;
            }
            n.allow_special = 0;
            const cJSON *c;
            cJSON_ArrayForEach(c, it)
            {
                int found = -1;
                for (int s = PE_PS_SENS_HEALTH; s < PE_PS_SENS_COUNT && cJSON_IsString(c); s++)
                    if (strcmp(c->valuestring, pe_ps_sensitivity_name((pe_ps_sensitivity)s)) == 0) found = s;
                if (found < 0) {
                    st = pe_error_set(err, PE_ERR_PARSE,
                                      "%s: unknown class in \"allow\" (known: health, religion, ethnicity, politics, "
                                      "sexuality, union, genetic, biometric)",
                                      path);
                    break;
                }
                n.allow_special |= 1u << found;
            }
            if (st != PE_OK) break;
        } else {
            st = pe_error_set(err, PE_ERR_PARSE, "%s: unknown key \"%s\"", path, it->string);
            break;
        }
    }
    cJSON_Delete(j);
    if (st == PE_OK) *o = n;
    return st;
}
