#include "pe_test.h"
#include "pe_util.h"

#include <stdlib.h>
#include <unistd.h>

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

static char g_tmp[512];

static void test_files(void)
{
    char path[600];
    snprintf(path, sizeof path, "%s/f.txt", g_tmp);
    pe_error err;
    pe_error_clear(&err);
    const void *parts[2] = {"hello ", "world"};
    const size_t lens[2] = {6, 5};
    PE_CHECK_EQ_INT(pe_file_write(path, parts, lens, 2, &err), PE_OK);
    char *d = NULL;
    size_t n = 0;
    PE_CHECK_EQ_INT(pe_file_read(path, 0, &d, &n, &err), PE_OK);
    PE_CHECK_EQ_INT(n, 11);
    PE_CHECK_EQ_STR(d, "hello world");
    pe_free(d);
    /* the limit: exactly max bytes pass, one more is PE_ERR_LIMIT */
    PE_CHECK_EQ_INT(pe_file_read(path, 11, &d, NULL, &err), PE_OK);
    pe_free(d);
    d = (char *)1;
    PE_CHECK_EQ_INT(pe_file_read(path, 10, &d, &n, &err), PE_ERR_LIMIT);
    PE_CHECK(d == NULL && strstr(err.msg, "f.txt"));
    /* a missing file names itself */
    char missing[600];
    snprintf(missing, sizeof missing, "%s/none", g_tmp);
    PE_CHECK_EQ_INT(pe_file_read(missing, 0, &d, &n, &err), PE_ERR_IO);
    PE_CHECK(d == NULL && strstr(err.msg, "none") && n == 0);
    /* a big file grows past the first guess (not a regular file: a pipe) */
    pe_file_tmp *t = NULL;
    PE_CHECK_EQ_INT(pe_file_tmp_open(path, &t, &err), PE_OK);
    for (int i = 0; t && i < 100000; i++) fputs("0123456789", pe_file_tmp_stream(t));
    /* before the commit the old content is still there */
    PE_CHECK_EQ_INT(pe_file_read(path, 0, &d, &n, &err), PE_OK);
    PE_CHECK_EQ_INT(n, 11);
    pe_free(d);
    PE_CHECK_EQ_INT(pe_file_tmp_commit(t, &err), PE_OK);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "cat %s", path);
    FILE *p = popen(cmd, "r");
    PE_CHECK(p != NULL);
    if (p) {
        /* pe_file_read on /dev/stdin of a pipe needs the growing path */
        int fd = dup(0);
        dup2(fileno(p), 0);
        PE_CHECK_EQ_INT(pe_file_read("/dev/stdin", 0, &d, &n, &err), PE_OK);
        dup2(fd, 0);
        close(fd);
        pclose(p);
        PE_CHECK_EQ_INT(n, 1000000);
        PE_CHECK(d && memcmp(d + 999990, "0123456789", 10) == 0 && d[n] == '\0');
        pe_free(d);
    }
    /* abort leaves the old file and no temporary */
    PE_CHECK_EQ_INT(pe_file_tmp_open(path, &t, &err), PE_OK);
    fputs("lost", pe_file_tmp_stream(t));
    pe_file_tmp_abort(t);
    PE_CHECK_EQ_INT(pe_file_read(path, 0, &d, &n, &err), PE_OK);
    PE_CHECK_EQ_INT(n, 1000000);
    pe_free(d);
    snprintf(cmd, sizeof cmd, "%s.tmp.%ld", path, (long)getpid());
    PE_CHECK(access(cmd, F_OK) != 0);
    /* a rename that cannot happen (the target is a non-empty directory)
     * fails, removes the temporary and keeps the directory */
    PE_CHECK_EQ_INT(pe_file_write(g_tmp, parts, lens, 2, &err), PE_ERR_IO);
    PE_CHECK(strstr(err.msg, "rename") != NULL);
    snprintf(cmd, sizeof cmd, "%s.tmp.%ld", g_tmp, (long)getpid());
    PE_CHECK(access(cmd, F_OK) != 0);
    /* a folder that does not exist: nothing created */
    snprintf(cmd, sizeof cmd, "%s/no/such", g_tmp);
    t = (pe_file_tmp *)1;
    PE_CHECK_EQ_INT(pe_file_tmp_open(cmd, &t, &err), PE_ERR_IO);
    PE_CHECK(t == NULL);
}

static void test_utf8_offset(void)
{
    const char *s = "a\xc3\xa9\xe2\x82\xac" "b"; /* a, é (2 bytes), € (3 bytes), b */
    PE_CHECK_EQ_INT(pe_utf8_char_offset(s, 0), 0);
    PE_CHECK_EQ_INT(pe_utf8_char_offset(s, 1), 1);
    PE_CHECK_EQ_INT(pe_utf8_char_offset(s, 3), 2);
    PE_CHECK_EQ_INT(pe_utf8_char_offset(s, 6), 3);
    PE_CHECK_EQ_INT(pe_utf8_char_offset(s, 7), 4);
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

static void test_domain(void)
{
    const char *t = "mail.example.org/x";
    PE_CHECK_EQ_INT(pe_text_domain_len(t, strlen(t), 0), 16);
    PE_CHECK_EQ_INT(pe_text_domain_len(t, strlen(t), 5), 11);     /* example.org */
    const char *u = "bob@m\xc3\xbcnchen.de.";                   /* a non-ASCII label; the final dot is not part of it */
    PE_CHECK_EQ_INT(pe_text_domain_len(u, strlen(u), 4), 11);
    const char *no[] = {"3.14", "a.b", "example", "x.c1", ".org", "a..org", "a.-"};
    for (size_t k = 0; k < sizeof no / sizeof no[0]; k++)
        PE_CHECK_EQ_INT(pe_text_domain_len(no[k], strlen(no[k]), 0), 0);
    PE_CHECK_EQ_INT(pe_text_domain_len("a.org", 3, 0), 0); /* len bounds it: "a.o" */
    PE_CHECK_EQ_INT(pe_text_domain_len(NULL, 0, 0), 0);
}

int main(void)
{
    if (!pe_test_tmpdir(g_tmp, sizeof g_tmp, "pe_test_util")) return 1;
    PE_RUN(test_status);
    PE_RUN(test_files);
    PE_RUN(test_utf8_offset);
    PE_RUN(test_sha256);
    PE_RUN(test_normalize);
    PE_RUN(test_fold);
    PE_RUN(test_domain);
    pe_test_rm_rf(g_tmp);
    PE_TEST_EXIT();
}
