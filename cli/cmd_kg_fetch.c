/* persona kg fetch: resumable, checksummed downloads of dumps, and Wikidata
 * entity fetches through the wbgetentities API. */
#include "cli.h"
#include "pe_import.h"
#include "pe_kg.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: persona kg fetch URL [-o FILE] [--sha256 HEX] [--no-resume] [--retries N]\n"
            "                        [--timeout SECONDS] [--user-agent TEXT] [--any-scheme] [--json]\n"
            "                        [--import [--db DIR] [--format F] [--lang L] [--strict]]\n"
            "       persona kg fetch --wikidata-ids Q42,Q90,... [--endpoint URL] [--db DIR] [--lang L] [--strict]\n"
            "\n"
            "Downloads URL to FILE (default: the last part of the URL's path) through FILE.part:\n"
            "an existing FILE.part is continued with an HTTP Range request (unless --no-resume,\n"
            "which also removes FILE.part when the download fails). A dropped or stalled\n"
            "(--timeout, default 60 s without a byte) connection, an HTTP 5xx and an HTTP 429\n"
            "answer are retried (--retries, default 3, in all) from where the file stopped,\n"
            "after 1 s, 2 s, 4 s... (at most 30 s), or after what the server's Retry-After\n"
            "asks (at most 60 s). Other HTTP errors (404...) fail at once. With --sha256 the\n"
            "file is verified before it is renamed to FILE (on a mismatch FILE.part is\n"
            "deleted). --import then imports FILE into the store like `persona kg import`\n"
            "(--format auto|wikidata-json|ntriples|turtle|rdfxml). Only http:// and https://\n"
            "URLs are fetched unless --any-scheme (then ftp://, ftps:// and file:// too).\n"
            "No output names a URL's user:password.\n"
            "\n"
            "--wikidata-ids fetches those entities (Q, P or L ids, comma-separated) from the\n"
            "wbgetentities API (default endpoint https://www.wikidata.org/w/api.php), 50 per\n"
            "request, retried like downloads and on the API's \"ratelimited\" and \"maxlag\"\n"
            "answers, and imports them; --lang en,fr keeps (and asks for) only those\n"
            "languages. Each response is an import source named by its\n"
            "request URL (`persona kg stats`); the same response again is not re-imported.\n"
            "\n"
            "--user-agent TEXT (default $PERSONA_USER_AGENT, else \"persona/VERSION (...)\") is\n"
            "sent with every request; Wikimedia asks API clients to name a contact in it,\n"
            "e.g. --user-agent 'myapp/1.0 (ops@example.org)'.\n"
            "\n"
            "Prints a summary on stdout (a JSON object with --json); progress goes to stderr.\n"
            "--db DIR defaults to $PERSONA_DB, else ./persona-kg.\n");
}

static const char exit_notes[] =
    "            (1: network, checksum, I/O, import; 3: some Wikidata ids do not exist,\n"
    "            the others were imported)\n";

/* The bar's label now. The bar is redrawn over itself with "\r": a phase
 * (fetch, import, the next fetch...) gets a line of its own, so that a
 * shorter line never leaves the end of a longer one behind, and its ETA
 * counts from its own start. */
static char bar_label[64];
static void bar_phase(pe_cli_progress *bar, const char *label)
{
    if (strcmp(bar_label, label) == 0) return;
    pe_cli_progress_finish(bar);
    bar->start = pe_now();
    snprintf(bar_label, sizeof bar_label, "%s", label);
}

static void on_import_progress(const pe_import_progress *p, void *user)
{
    bar_phase(user, "import");
    pe_cli_import_progress(p, user);
}

/* A resumed download is shown from where this run started, so that the
 * rate and the ETA count only the bytes it fetches. */
static void on_fetch_progress(const pe_fetch_progress *p, void *user)
{
    pe_cli_progress *bar = user;
    uint64_t base = p->bytes_resumed <= p->bytes_done ? p->bytes_resumed : 0;
    uint64_t done = p->bytes_done - base;
    uint64_t total = p->bytes_total > base ? p->bytes_total - base : 0;
    double rate = p->elapsed > 0 ? (double)done / p->elapsed / 1024.0 : 0;
    char what[64];
    if (base) snprintf(what, sizeof what, "fetch (resumed at %.1f MiB)", (double)base / (1 << 20));
    else snprintf(what, sizeof what, "fetch");
    bar_phase(bar, what);
    pe_cli_progress_update(bar, what, done, total, "B", "KiB/s", rate);
}

static const char *level_names[] = {"debug", "info", "warning", "error"};

/* Library messages (retry notices) while the bar may be drawn: end the bar
 * line first, so that a message never lands on the end of it. */
static void log_under_bar(pe_log_level level, const char *msg, void *user)
{
    if (level == PE_LOG_DEBUG) return;
    pe_cli_progress_finish(user);
    fprintf(stderr, "persona: %s: %s\n", level_names[level], msg);
}

/* The same without a bar (after the command, the bar is gone). */
static void log_plain(pe_log_level level, const char *msg, void *user)
{
    (void)user;
    if (level == PE_LOG_DEBUG) return;
    fprintf(stderr, "persona: %s: %s\n", level_names[level], msg);
}


static cJSON *import_json(const pe_import_result *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "source_id", r->source_id);
    cJSON_AddStringToObject(o, "resumed", r->resumed == 2 ? "already-imported" : r->resumed ? "yes" : "no");
    pe_cli_add_counts(cJSON_AddObjectToObject(o, "counts"), &r->counts);
    if (r->first_error[0]) cJSON_AddStringToObject(o, "first_error", r->first_error);
    return o;
}

static int g_json; /* --json */

/* Prints o (JSON with --json, else a few lines of text) and frees it. */
static void print_json(cJSON *o)
{
    if (g_json) {
        pe_cli_print_json(o);
        cJSON_Delete(o);
        return;
    }
    const cJSON *x;
    cJSON_ArrayForEach(x, o)
    {
        if (cJSON_IsString(x)) printf("%-16s %s\n", x->string, x->valuestring);
        else if (cJSON_IsBool(x)) printf("%-16s %s\n", x->string, cJSON_IsTrue(x) ? "yes" : "no");
        else if (cJSON_IsNumber(x)) printf("%-16s %.15g\n", x->string, x->valuedouble);
    }
    const cJSON *imp = cJSON_GetObjectItemCaseSensitive(o, "import");
    if (imp) {
        const cJSON *src = cJSON_GetObjectItemCaseSensitive(imp, "source_id"),
                    *res = cJSON_GetObjectItemCaseSensitive(imp, "resumed");
        printf("%-16s source %.0f%s%s:", "import", cJSON_IsNumber(src) ? src->valuedouble : 0.0,
               cJSON_IsString(res) && strcmp(res->valuestring, "no") ? ", resumed " : "",
               cJSON_IsString(res) && strcmp(res->valuestring, "no") ? res->valuestring : "");
        cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(imp, "counts")) printf(" %s %.0f", x->string, x->valuedouble);
        printf("\n");
        const cJSON *fe = cJSON_GetObjectItemCaseSensitive(imp, "first_error");
        if (cJSON_IsString(fe)) printf("%-16s %s\n", "first error", fe->valuestring);
    }
    cJSON_Delete(o);
}

/* "https://host/a/b/latest-all.json.bz2?x=1" -> malloc'd "latest-all.json.bz2", or NULL. */
static char *name_from_url(const char *url)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    p = strchr(p, '/');
    if (!p) return NULL;
    size_t end = strcspn(p, "?#");
    const char *last = p;
    for (size_t i = 0; i < end; i++)
        if (p[i] == '/') last = p + i + 1;
    size_t n = (size_t)(p + end - last);
    if (n == 0 || (n == 1 && last[0] == '.') || (n == 2 && last[0] == '.' && last[1] == '.')) return NULL;
    char *s = malloc(n + 1);
    if (!s) return NULL;
    memcpy(s, last, n);
    s[n] = '\0';
    return s;
}

static int kg_fetch(int argc, char **argv, pe_cli_progress *bar);

int pe_cmd_kg_fetch(int argc, char **argv)
{
    pe_cli_progress bar;
    pe_cli_progress_init(&bar);
    pe_log_set(log_under_bar, &bar);
    int rc = kg_fetch(argc, argv, &bar);
    pe_log_set(log_plain, NULL);
    return rc;
}

static int kg_fetch(int argc, char **argv, pe_cli_progress *bar)
{
    const char *url = NULL, *out = NULL, *sha = NULL, *db = NULL, *format = NULL, *langs = NULL;
    const char *ids = NULL, *endpoint = NULL, *user_agent = getenv("PERSONA_USER_AGENT");
    int no_resume = 0, do_import = 0, strict = 0, any_scheme = 0, retries = -1, timeout = -1;
    const pe_cli_opt opts[] = {
        {"-o|--output", PE_CLI_STRING, &out},
        {"--sha256", PE_CLI_STRING, &sha, .check = pe_cli_check_sha256},
        {"--db", PE_CLI_STRING, &db},
        {"--format", PE_CLI_STRING, &format},
        {"--lang", PE_CLI_STRING, &langs, .check = pe_cli_check_langs},
        {"--wikidata-ids", PE_CLI_STRING, &ids},
        {"--endpoint", PE_CLI_STRING, &endpoint},
        {"--user-agent", PE_CLI_STRING, &user_agent},
        {"--retries", PE_CLI_INT, &retries, .min = 0, .max = INT_MAX},
        {"--timeout", PE_CLI_INT, &timeout, .min = 0, .max = INT_MAX},
        {"--no-resume", PE_CLI_FLAG, &no_resume},
        {"--import", PE_CLI_FLAG, &do_import},
        {"--any-scheme", PE_CLI_FLAG, &any_scheme},
        {"--strict", PE_CLI_FLAG, &strict},
        {"--json", PE_CLI_FLAG, &g_json},
        {0}};
    const pe_cli_spec spec = {"kg fetch", usage, opts, 0, 1, exit_notes};
    int np, prc = pe_cli_parse(&spec, argc, argv, &np);
    if (prc != PE_CLI_RUN) return prc;
    if (np) url = argv[1];
    if (!url == !ids) return pe_cli_error(PE_EXIT_USAGE, "give a URL or --wikidata-ids (see --help)");
    if (ids && (out || sha || no_resume || do_import || format))
        return pe_cli_error(PE_EXIT_USAGE, "-o, --sha256, --no-resume, --import and --format go with a URL, "
                                           "not --wikidata-ids");
    if (url && endpoint) return pe_cli_error(PE_EXIT_USAGE, "--endpoint goes with --wikidata-ids");
    if (url && !do_import && (db || format || langs || strict))
        return pe_cli_error(PE_EXIT_USAGE, "--db, --format, --lang and --strict need --import");
    pe_import_options io = pe_import_options_default();
    if (format && pe_import_format_parse(format, &io.format) != PE_OK)
        return pe_cli_error(PE_EXIT_USAGE, "unknown --format '%s' (auto, wikidata-json, ntriples, turtle, rdfxml)",
                            format);
    io.langs = langs;
    io.strict = strict;

    pe_fetch_options fo = pe_fetch_options_default();
    fo.sha256 = sha;
    fo.resume = !no_resume;
    fo.any_scheme = any_scheme;
    if (retries >= 0) fo.retries = retries;
    if (timeout >= 0) fo.timeout_s = timeout;
    if (user_agent && *user_agent) fo.user_agent = user_agent;
    fo.progress = on_fetch_progress;
    fo.progress_user = bar;
    io.progress = on_import_progress;
    io.progress_user = bar;
    pe_error err;
    pe_error_clear(&err);
    if (!db) db = pe_cli_default_db();

    if (url) {
        char *name = NULL;
        if (!out) {
            if (!(name = name_from_url(url))) {
                char *shown = pe_fetch_url_for_record(url);
                int rc = pe_cli_error(PE_EXIT_USAGE, "cannot take a file name from '%s'; give -o FILE",
                                      shown ? shown : "the URL");
                free(shown);
                return rc;
            }
            out = name;
        }
        double t0 = pe_now();
        pe_status st = pe_fetch_url(url, out, &fo, &err);
        pe_cli_progress_finish(bar);
        if (st == PE_ERR_INVALID) { /* a scheme other than http(s) without --any-scheme */
            free(name);
            return pe_cli_error(PE_EXIT_USAGE, "%s", err.msg);
        }
        if (st >= PE_ERR_FIRST) {
            free(name);
            return pe_cli_fail(st, "%s", err.msg);
        }
        struct stat sb;
        /* what the output and the store's source record name: the URL
         * without any user:password */
        char *shown = pe_fetch_url_for_record(url);
        if (!shown) {
            free(name);
            return pe_cli_fail(PE_ERR_NOMEM, NULL);
        }
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "url", shown);
        cJSON_AddStringToObject(o, "path", out);
        cJSON_AddNumberToObject(o, "bytes", stat(out, &sb) == 0 ? (double)sb.st_size : 0);
        cJSON_AddBoolToObject(o, "sha256_verified", sha != NULL);
        cJSON_AddNumberToObject(o, "seconds", pe_now() - t0);
        int rc = PE_EXIT_OK;
        if (do_import) {
            pe_kg *kg = NULL;
            int orc = pe_cli_open_store(db, 0, NULL, &kg);
            if (orc != PE_EXIT_OK) {
                cJSON_Delete(o);
                free(name);
                free(shown);
                return orc;
            }
            pe_cli_progress_init(bar);
            pe_import_result r;
            io.source_name = shown;
            st = pe_import_file(kg, out, &io, &r, &err);
            pe_cli_progress_finish(bar);
            pe_kg_close(kg);
            if (st >= PE_ERR_FIRST) {
                cJSON_Delete(o);
                free(name);
                free(shown);
                return pe_cli_fail(st, "%s", err.msg);
            }
            cJSON_AddStringToObject(o, "db", db);
            cJSON_AddItemToObject(o, "import", import_json(&r));
            if (r.counts.skipped) {
                pe_cli_error(PE_EXIT_PARTIAL, "%llu records skipped; first: %s", (unsigned long long)r.counts.skipped,
                             r.first_error);
                rc = PE_EXIT_PARTIAL;
            }
        }
        print_json(o);
        free(name);
        free(shown);
        return rc;
    }

    /* Bad ids are a usage error, found before the store is opened (or created). */
    if (pe_fetch_wikidata_check_ids(ids, NULL, &err) != PE_OK) return pe_cli_error(PE_EXIT_USAGE, "%s", err.msg);
    pe_kg *kg = NULL;
    int orc = pe_cli_open_store(db, 0, NULL, &kg);
    if (orc != PE_EXIT_OK) return orc;
    pe_import_result r;
    pe_status st = pe_fetch_wikidata(kg, ids, endpoint, &fo, &io, &r, &err);
    pe_cli_progress_finish(bar);
    pe_kg_close(kg);
    if (st == PE_ERR_INVALID) return pe_cli_error(PE_EXIT_USAGE, "%s", err.msg);
    if (st >= PE_ERR_FIRST) return pe_cli_fail(st, "%s", err.msg);
    cJSON *o = cJSON_CreateObject();
    char *shown = pe_fetch_url_for_record(endpoint ? endpoint : "https://www.wikidata.org/w/api.php");
    cJSON_AddStringToObject(o, "endpoint", shown ? shown : "?"); /* never its user:password */
    free(shown);
    cJSON_AddStringToObject(o, "db", db);
    cJSON_AddItemToObject(o, "import", import_json(&r));
    int rc = PE_EXIT_OK;
    if (st == PE_NOT_FOUND) {
        cJSON_AddStringToObject(o, "not_found", err.msg);
        rc = pe_cli_error(PE_EXIT_NOT_FOUND, "not found: %s", err.msg);
    } else if (r.counts.skipped) {
        rc = pe_cli_error(PE_EXIT_PARTIAL, "%llu records skipped; first: %s", (unsigned long long)r.counts.skipped,
                          r.first_error);
    }
    print_json(o);
    return rc;
}
