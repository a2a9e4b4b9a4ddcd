/* cli/cli.h: the option parser every command uses (pe_cli_parse), its value
 * kinds and checks, and the status -> exit code mapping. The commands
 * themselves are run by tests/test_cli_conventions.sh. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "pe_test.h"

static void help(FILE *f) { fputs("usage: test\n", f); }

typedef struct vals {
    const char *s, *lang;
    int flag, i, choice;
    size_t z;
    double d;
} vals;

/* Parses the words of `line` (space-separated) as argv[1..]. Returns the
 * parser's answer; the positional arguments go to pos (joined by '|'). */
static int parse(const char *line, vals *v, char *pos, size_t cap)
{
    memset(v, 0, sizeof *v);
    v->i = -7;
    const pe_cli_opt opts[] = {
        {"-s|--string", PE_CLI_STRING, &v->s},
        {"--lang", PE_CLI_STRING, &v->lang, .check = pe_cli_check_langs},
        {"--flag", PE_CLI_FLAG, &v->flag},
        {"--int", PE_CLI_INT, &v->i, .min = -5, .max = 10},
        {"--size", PE_CLI_SIZE, &v->z, .min = 1},
        {"--double", PE_CLI_DOUBLE, &v->d, .min = 0, .max = 1},
        {"--choice", PE_CLI_CHOICE, &v->choice, .choices = "none|mean|cls"},
        {0}};
    const pe_cli_spec spec = {"test", help, opts, 0, 2, NULL};
    char buf[512], *argv[32];
    snprintf(buf, sizeof buf, "%s", line);
    int argc = 0;
    argv[argc++] = "test";
    for (char *t = strtok(buf, " "); t && argc < 31; t = strtok(NULL, " ")) argv[argc++] = strcmp(t, "''") ? t : "";
    argv[argc] = NULL;
    int n = 0, rc = pe_cli_parse(&spec, argc, argv, &n);
    pos[0] = '\0';
    for (int k = 0; rc == PE_CLI_RUN && k < n; k++) {
        strncat(pos, argv[1 + k], cap - strlen(pos) - 2);
        strcat(pos, "|");
    }
    return rc;
}

static void test_parse(void)
{
    vals v;
    char pos[256];
    PE_CHECK_EQ_INT(parse("a --flag -s x --int=-5 b", &v, pos, sizeof pos), PE_CLI_RUN);
    PE_CHECK(v.flag == 1 && v.s && !strcmp(v.s, "x") && v.i == -5);
    PE_CHECK_EQ_STR(pos, "a|b|");
    PE_CHECK_EQ_INT(parse("--string=y -- --flag -", &v, pos, sizeof pos), PE_CLI_RUN);
    PE_CHECK(v.flag == 0 && !strcmp(v.s, "y"));
    PE_CHECK_EQ_STR(pos, "--flag|-|"); /* after --, and a lone -, are positionals */
    PE_CHECK_EQ_INT(parse("--size 18446744073709551615 --double 0.25 --choice cls --lang en,zh-hans", &v, pos, sizeof pos),
                    PE_CLI_RUN);
    PE_CHECK(v.z == SIZE_MAX && v.d == 0.25 && v.choice == 2 && !strcmp(v.lang, "en,zh-hans"));
    /* usage errors: exit code 2 */
    const char *bad[] = {"--nope", "-x", "--flag=1", "--int", "--int 11", "--int -6", "--int 1x", "--int ''",
                         "--int 99999999999999999999", "--size 0", "--size -1", "--size 18446744073709551616",
                         "--double 1.5", "--double nan", "--double inf", "--choice median", "--string ''",
                         "--lang ,", "--lang en,", "--lang e/n", "a b c"};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++)
        PE_CHECK_MSG(parse(bad[k], &v, pos, sizeof pos) == PE_EXIT_USAGE, "'%s' was accepted", bad[k]);
    PE_CHECK_EQ_INT(parse("a --help --nope", &v, pos, sizeof pos), PE_EXIT_OK);
}

static void test_checks_and_codes(void)
{
    PE_CHECK(pe_cli_check_sha256("zz") != NULL);
    char hex[65];
    memset(hex, 'a', 64);
    hex[64] = '\0';
    PE_CHECK(pe_cli_check_sha256(hex) == NULL);
    hex[63] = 'g';
    PE_CHECK(pe_cli_check_sha256(hex) != NULL);
    PE_CHECK_EQ_INT(pe_cli_exit(PE_OK), PE_EXIT_OK);
    PE_CHECK_EQ_INT(pe_cli_exit(PE_DONE), PE_EXIT_OK);
    PE_CHECK_EQ_INT(pe_cli_exit(PE_NOT_FOUND), PE_EXIT_NOT_FOUND);
    PE_CHECK_EQ_INT(pe_cli_exit(PE_ERR_IO), PE_EXIT_FAIL);
    PE_CHECK_EQ_INT(pe_cli_fail(PE_ERR_PARSE, "%s", "100% of it"), PE_EXIT_FAIL); /* a message is data */
}

int main(void)
{
    pe_cli_set_command("test");
    PE_RUN(test_parse);
    PE_RUN(test_checks_and_codes);
    PE_TEST_EXIT();
}
