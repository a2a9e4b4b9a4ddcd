/* UTF-8 validation and surface-form normalisation (utf8proc does the Unicode
 * work: NFKC, case folding, stripping of combining marks). */
#include "pe_util.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

int pe_utf8_valid(const char *s, size_t len, size_t *bad_offset)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        if (p[i] < 0x80) { i++; continue; }
        utf8proc_int32_t cp;
        utf8proc_ssize_t n = utf8proc_iterate(p + i, (utf8proc_ssize_t)(len - i), &cp);
        if (n < 0) {
            if (bad_offset) *bad_offset = i;
            return 0;
        }
        i += (size_t)n;
    }
    return 1;
}

size_t pe_utf8_char_offset(const char *text, size_t byte_off)
{
    size_t n = 0;
    for (size_t i = 0; i < byte_off; i++) n += ((unsigned char)text[i] & 0xC0) != 0x80;
    return n;
}

char *pe_text_normalize(const char *s, size_t len, pe_status *st)
{
    size_t bad;
    if (!pe_utf8_valid(s, len, &bad)) {
        if (st) *st = PE_ERR_UTF8;
        return NULL;
    }
    utf8proc_uint8_t *folded = NULL;
    utf8proc_ssize_t n = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)len, &folded,
                                      UTF8PROC_COMPOSE | UTF8PROC_COMPAT | UTF8PROC_CASEFOLD |
                                          UTF8PROC_STRIPMARK | UTF8PROC_IGNORE | UTF8PROC_STRIPCC);
    if (n < 0) {
        if (st) *st = n == UTF8PROC_ERROR_NOMEM ? PE_ERR_NOMEM : PE_ERR_UTF8;
        return NULL;
    }
    /* Collapse runs of whitespace, punctuation and symbols into one space. */
    char *out = malloc((size_t)n + 1);
    if (!out) {
        free(folded);
        if (st) *st = PE_ERR_NOMEM;
        return NULL;
    }
    size_t o = 0;
    int pending_space = 0;
    utf8proc_ssize_t i = 0;
    while (i < n) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate(folded + i, n - i, &cp);
        if (k <= 0) break; /* cannot happen: utf8proc_map output is valid */
        utf8proc_category_t cat = utf8proc_category(cp);
        int sep = cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL ||
                  cat == UTF8PROC_CATEGORY_ZP || (cat >= UTF8PROC_CATEGORY_PC && cat <= UTF8PROC_CATEGORY_PO) ||
                  cat == UTF8PROC_CATEGORY_SM || cat == UTF8PROC_CATEGORY_SK ||
                  cat == UTF8PROC_CATEGORY_SO || cat == UTF8PROC_CATEGORY_CC || cp == ' ' || cp == '\t' ||
                  cp == '\n' || cp == '\r';
        if (sep) {
            pending_space = o > 0;
        } else {
            if (pending_space) out[o++] = ' ';
            pending_space = 0;
            memcpy(out + o, folded + i, (size_t)k);
            o += (size_t)k;
        }
        i += k;
    }
    out[o] = '\0';
    free(folded);
    if (st) *st = PE_OK;
    return out;
}

char *pe_text_fold(const char *s, size_t len, pe_status *st)
{
    if (!pe_utf8_valid(s, len, NULL)) {
        if (st) *st = PE_ERR_UTF8;
        return NULL;
    }
    utf8proc_uint8_t *folded = NULL;
    utf8proc_ssize_t n = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)len, &folded,
                                      UTF8PROC_COMPOSE | UTF8PROC_CASEFOLD | UTF8PROC_STABLE);
    if (n < 0) {
        if (st) *st = n == UTF8PROC_ERROR_NOMEM ? PE_ERR_NOMEM : PE_ERR_UTF8;
        return NULL;
    }
    /* Collapse whitespace in place (the output never grows). */
    size_t o = 0;
    int pending = 0;
    utf8proc_ssize_t i = 0;
    while (i < n) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate(folded + i, n - i, &cp);
        if (k <= 0) break;
        utf8proc_category_t cat = utf8proc_category(cp);
        int ws = cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL || cat == UTF8PROC_CATEGORY_ZP ||
                 (cp >= 0x09 && cp <= 0x0D);
        if (ws) {
            pending = o > 0;
        } else {
            if (pending) folded[o++] = ' ';
            pending = 0;
            memmove(folded + o, folded + i, (size_t)k);
            o += (size_t)k;
        }
        i += k;
    }
    folded[o] = '\0';
    if (st) *st = PE_OK;
    return (char *)folded;
}

static int domain_char(unsigned char c)
{
    return (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z') || c == '-' || c >= 0x80;
}

size_t pe_text_domain_len(const char *s, size_t len, size_t i)
{
    if (!s) return 0;
    size_t j = i, last = i;
    int dots = 0;
    for (;;) {
        size_t k = j;
        while (k < len && domain_char((unsigned char)s[k])) k++;
        if (k == j) return 0; /* an empty label */
        last = j;
        j = k;
        if (j + 1 < len && s[j] == '.' && domain_char((unsigned char)s[j + 1])) {
            dots++;
            j++;
            continue;
        }
        break;
    }
    if (dots == 0 || j - last < 2) return 0;
    for (size_t k = last; k < j; k++) {
        const unsigned char c = (unsigned char)s[k];
        if (!(((c | 32) >= 'a' && (c | 32) <= 'z') || c >= 0x80)) return 0;
    }
    return j - i;
}

int pe_text_case(const char *s, size_t len)
{
    int letters = 0, upper = 0, first_upper = 0;
    for (size_t i = 0; i < len; i++) {
        const unsigned char c = (unsigned char)s[i];
        const int is_upper = c >= 'A' && c <= 'Z', is_lower = c >= 'a' && c <= 'z';
        if (!is_upper && !is_lower) continue;
        if (letters == 0) first_upper = is_upper;
        letters++;
        upper += is_upper;
    }
    if (upper == 0) return PE_CASE_LOWER;
    if (upper == letters && letters >= 2) return PE_CASE_UPPER;
    if (upper == 1 && first_upper && letters >= 2) return PE_CASE_CAPITALISED;
    return PE_CASE_MIXED;
}
