#include "pe_test.h"
#include "pe_util.h"

#include <stdlib.h>

static void test_status(void)
{
    PE_CHECK_EQ_STR(pe_status_str(PE_OK), "ok");
    PE_CHECK_EQ_STR(pe_status_str(PE_ERR_PARSE), "parse error");
    PE_CHECK(PE_NOT_FOUND < PE_ERR_FIRST && PE_ERR_NOMEM >= PE_ERR_FIRST);
    pe_error e;
    pe_error_clear(&e);
    PE_CHECK(pe_error_set(&e, PE_ERR_IO, "%s:%d", "f.json", 7) == PE_ERR_IO);
    PE_CHECK_EQ_STR(e.msg, "f.json:7");
}

static void test_sha256(void)
{
    pe_sha256 h;
    char hex[65];
    pe_sha256_init(&h);
    pe_sha256_update(&h, "abc", 3);
    pe_sha256_final_hex(&h, hex);
    PE_CHECK_EQ_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void check_norm(const char *in, const char *want)
{
    pe_status st;
    char *got = pe_text_normalize(in, strlen(in), &st);
    PE_CHECK_EQ_INT(st, PE_OK);
    PE_CHECK_EQ_STR(got, want);
    free(got);
}

static void test_normalize(void)
{
    check_norm("  Zürich-City! ", "zurich city");
    check_norm("PARIS", "paris");
    check_norm("Straße", "strasse");
    check_norm("São  Paulo", "sao paulo");
    check_norm("Ｔｏｋｙｏ", "tokyo"); /* fullwidth, NFKC */
    check_norm("Île-de-France", "ile de france");
    check_norm("東京", "東京");
    check_norm("", "");
    pe_status st;
    PE_CHECK(pe_text_normalize("a\xff" "b", 3, &st) == NULL && st == PE_ERR_UTF8);
    size_t off = 0;
    PE_CHECK(!pe_utf8_valid("ok\xc3", 3, &off) && off == 2);
    PE_CHECK(pe_utf8_valid("caf\xc3\xa9", 5, NULL));
}

static void check_fold(const char *in, const char *want)
{
    pe_status st;
    char *got = pe_text_fold(in, strlen(in), &st);
    PE_CHECK_EQ_INT(st, PE_OK);
    PE_CHECK_EQ_STR(got, want);
    free(got);
}

static void test_fold(void)
{
    check_fold("  New  York\t", "new york");
    check_fold("Z\xc3\xbcrich-City!", "z\xc3\xbcrich-city!"); /* accents and punctuation kept */
    check_fold("Zu\xcc\x88rich", "z\xc3\xbcrich");           /* NFC */
    check_fold("Stra\xc3\x9f" "e", "strasse");                /* case folding */
    check_fold("a\xc2\xa0\n b", "a b");                      /* NBSP and newline are spaces */
    check_fold(" \t ", "");
    pe_status st;
    PE_CHECK(pe_text_fold("a\xff", 2, &st) == NULL && st == PE_ERR_UTF8);
}

int main(void)
{
    PE_RUN(test_status);
    PE_RUN(test_sha256);
    PE_RUN(test_normalize);
    PE_RUN(test_fold);
    PE_TEST_EXIT();
}
