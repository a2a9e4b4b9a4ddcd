/* ps_mask.c - masking of identifiers (e-mail addresses, phone and account
 * numbers, IPv4 addresses, IBANs) in evidence snippets. Byte-wise over
 * ASCII; every non-ASCII byte is "other" and passes unchanged. */
#include "pe_personastore.h"

#include <stdlib.h>
#include <string.h>

static int is_digit(int c) { return c >= '0' && c <= '9'; }
static int is_upper(int c) { return c >= 'A' && c <= 'Z'; }
static int is_alpha(int c) { return (c >= 'a' && c <= 'z') || is_upper(c); }
static int is_alnum(int c) { return is_alpha(c) || is_digit(c); }
static int is_local(int c) { return is_alnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-'; }

#define AT(i) ((i) < len ? (unsigned char)s[i] : 0)

/* local@domain.tld starting at i (a local part that starts here; the
 * domain as pe_text_domain_len reads it). */
static size_t match_email(const char *s, size_t len, size_t i)
{
    size_t j = i;
    while (j < len && is_local(AT(j))) j++;
    if (j == i || AT(j) != '@') return 0;
    const size_t d = pe_text_domain_len(s, len, j + 1);
    return d ? j + 1 + d - i : 0;
}

static size_t match_ipv4(const char *s, size_t len, size_t i)
{
    size_t k = i;
    for (int g = 0; g < 4; g++) {
        if (g) {
            if (AT(k) != '.') return 0;
            k++;
        }
        size_t st = k;
        unsigned v = 0;
        while (k < len && is_digit(AT(k)) && k - st < 3) { v = v * 10 + (unsigned)(AT(k) - '0'); k++; }
        if (k == st || v > 255) return 0;
    }
    if (is_alnum(AT(k)) || (AT(k) == '.' && is_digit(AT(k + 1)))) return 0;
    return k - i;
}

/* CCdd then 11..30 upper-case letters or digits, compact or in groups of
 * four separated by single spaces. */
static size_t match_iban(const char *s, size_t len, size_t i)
{
    if (!is_upper(AT(i)) || !is_upper(AT(i + 1)) || !is_digit(AT(i + 2)) || !is_digit(AT(i + 3))) return 0;
    size_t k = i + 4, n = 4;
    if (AT(k) == ' ') {
        while (AT(k) == ' ') {
            size_t st = k + 1, e = st;
            while (e < len && (is_upper(AT(e)) || is_digit(AT(e))) && e - st < 4) e++;
            if (e == st || is_alnum(AT(e))) break;
            n += e - st;
            k = e;
            if (e - st < 4) break;
        }
    } else {
        while (k < len && (is_upper(AT(k)) || is_digit(AT(k)))) {
            k++;
            n++;
        }
        if (is_alnum(AT(k))) return 0;
    }
    return n >= 15 && n <= 34 ? k - i : 0;
}

/* A number of 7+ digits, groups separated by one of " -./" or in
 * parentheses, optionally '+' first; dates excluded. */
static size_t match_number(const char *s, size_t len, size_t i)
{
    size_t k = i, digits = 0, groups = 0;
    size_t glen[8] = {0};
    char sep = 0;
    int mixed = 0;
    if (AT(k) == '+') k++;
    if (AT(k) == '(' && is_digit(AT(k + 1))) k++;
    if (!is_digit(AT(k))) return 0;
    for (;;) {
        size_t st = k;
        while (k < len && is_digit(AT(k))) k++;
        digits += k - st;
        if (groups < 8) glen[groups] = k - st;
        groups++;
        int c = AT(k);
        if (c == ')') {
            size_t t = k + 1;
            if ((AT(t) == ' ' || AT(t) == '-') && is_digit(AT(t + 1))) t++;
            if (!is_digit(AT(t))) break;
            k = t;
            mixed = 1;
            continue;
        }
        if ((c == ' ' || c == '-' || c == '.' || c == '/') && is_digit(AT(k + 1))) {
            if (sep && sep != c) mixed = 1;
            sep = (char)c;
            k++;
            continue;
        }
        if (c == ' ' && AT(k + 1) == '(' && is_digit(AT(k + 2))) {
            k += 2;
            mixed = 1;
            continue;
        }
        break;
    }
    if (digits < 7 || is_alpha(AT(k))) return 0;
    /* dates: 3 groups joined by one separator: 4-2-2, or 1-2/1-2/4 */
    if (groups == 3 && !mixed && (sep == '-' || sep == '/' || sep == '.')) {
        if (glen[0] == 4 && glen[1] <= 2 && glen[2] <= 2) return 0;
        if (glen[0] <= 2 && glen[1] <= 2 && glen[2] == 4) return 0;
    }
    return k - i;
}

/* The identifier starting at byte i: its replacement ("[email]", ...) and
 * length *m, or NULL. */
static const char *identifier_at(const char *s, size_t len, size_t i, size_t *m)
{
    int c = (unsigned char)s[i];
    int prev = i ? (unsigned char)s[i - 1] : 0;
    *m = 0;
    if (is_local(c) && !is_local(prev) && (*m = match_email(s, len, i))) return "[email]";
    if (!is_alnum(prev) && prev != '.' && is_digit(c) && (*m = match_ipv4(s, len, i))) return "[ip]";
    if (!is_alnum(prev) && is_upper(c) && (*m = match_iban(s, len, i))) return "[iban]";
    if (!is_alnum(prev) && prev != '+' && (is_digit(c) || c == '+' || c == '(') &&
        !(is_digit(prev) || ((prev == '.' || prev == '-') && i > 1 && is_digit((unsigned char)s[i - 2]))) &&
        (*m = match_number(s, len, i)))
        return "[number]";
    *m = 0;
    return NULL;
}

char *pe_ps_mask_identifiers(const char *s, size_t len, size_t *out_len, size_t *n_masked)
{
    if (out_len) *out_len = 0;
    if (n_masked) *n_masked = 0;
    if (!s) len = 0;
    /* Each replacement is at most 8 bytes and replaces at least 6. */
    size_t cap = len + len / 3 + 16;
    char *out = malloc(cap);
    if (!out) return NULL;
    size_t o = 0, nm = 0, i = 0;
    while (i < len) {
        size_t m;
        const char *rep = identifier_at(s, len, i, &m);
        if (rep) {
            size_t rl = strlen(rep);
            memcpy(out + o, rep, rl);
            o += rl;
            i += m;
            nm++;
        } else {
            out[o++] = s[i++];
        }
    }
    out[o] = '\0';
    if (out_len) *out_len = o;
    if (n_masked) *n_masked = nm;
    return out;
}

int pe_ps_overlaps_identifier(const char *s, size_t len, size_t start, size_t end)
{
    if (!s || start >= end) return 0;
    for (size_t i = 0; i < len && i < end;) {
        size_t m;
        if (identifier_at(s, len, i, &m)) {
            if (i + m > start) return 1; /* i < end: the loop's condition */
            i += m;
        } else {
            i++;
        }
    }
    return 0;
}
