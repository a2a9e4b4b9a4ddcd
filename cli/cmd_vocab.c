/* cmd_vocab.c - `persona vocab`: trains a WordPiece vocabulary (vocab.txt)
 * on text files, one text unit a line, plain or gzip. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "cli.h"
#include "pe_vocab.h"

#define READ_CHUNK (1 << 20)
#define MAX_LINE (64 << 20)
#define MAX_BAD_SHOWN 5

static void usage(FILE *f)
{
    fprintf(f,
            "usage: persona vocab [options] FILE...\n"
            "\n"
            "Trains a WordPiece vocabulary as Hugging Face's WordPieceTrainer does (BERT\n"
            "pre-tokenisation, then BPE merges with the \"##\" continuing prefix) on the\n"
            "text files given (UTF-8, one text unit a line; .gz or plain, detected by\n"
            "content; - for stdin) and writes vocab.txt: one token a line, id = line number from 0,\n"
            "[PAD] [UNK] [CLS] [SEP] [MASK] first (ids 0-4). It loads in `persona encode`\n"
            "models and in Hugging Face's BertTokenizer with the same ids.\n"
            "\n"
            "options:\n"
            "  --out PATH           output file (default vocab.txt; written to PATH.tmp, renamed)\n"
            "  --size N             vocabulary size, special tokens included (default 16000)\n"
            "  --min-freq N         never merge a pair seen fewer than N times (default 2)\n"
            "  --limit-alphabet N   keep the N most frequent chars, 0 = all (default 1000)\n"
            "  --cased              keep case and accents (default: lower-case, strip accents)\n"
            "\n"
            "Progress goes to stderr, then a summary (lines, distinct words, alphabet,\n"
            "merges, final size, time). Lines with invalid UTF-8 are skipped and counted.\n");
}

static const char exit_notes[] =
    "            (4: vocabulary written, but lines with invalid UTF-8 were skipped;\n"
    "            5: a FILE does not exist)\n";

typedef struct read_state {
    pe_vocab_trainer *t;
    pe_cli_progress prog;
    uint64_t lines, bad, bytes_done; /* bytes_done: compressed bytes of the files before */
    uint64_t bytes_total;
    double t0, t_merge0; /* start; first merge progress call (0 before) */
    uint64_t target;     /* --size */
} read_state;

static void show_read(read_state *r, uint64_t at)
{
    pe_vocab_stats s;
    pe_vocab_trainer_stats(r->t, &s);
    double el = pe_now() - r->t0;
    char what[160];
    snprintf(what, sizeof what, "vocab: read %llu lines, %llu words, %zu distinct",
             (unsigned long long)r->lines, (unsigned long long)s.words, s.distinct_words);
    pe_cli_progress_update(&r->prog, what, r->bytes_done + at, r->bytes_total, "B", "lines/s",
                           el > 0 ? (double)r->lines / el : 0);
}

/* Feeds one line; invalid UTF-8 is counted and skipped. 0 or an exit code. */
static int feed_line(read_state *r, const char *path, char *line, size_t len)
{
    if (len && line[len - 1] == '\r') len--;
    r->lines++;
    pe_error err;
    pe_error_clear(&err);
    pe_status st = pe_vocab_trainer_feed(r->t, line, len, &err);
    if (st == PE_ERR_UTF8) {
        if (r->bad < MAX_BAD_SHOWN) fprintf(stderr, "persona vocab: %s: line %llu skipped: %s\n", path,
                                            (unsigned long long)r->lines, err.msg);
        r->bad++;
        return 0;
    }
    if (st >= PE_ERR_FIRST) return pe_cli_fail(st, "%s", err.msg);
    return 0;
}

/* Reads one file (gzip or plain) line by line into the trainer. */
static int read_file(read_state *r, const char *path)
{
    int is_stdin = strcmp(path, "-") == 0;
    gzFile gz = is_stdin ? gzdopen(dup(STDIN_FILENO), "rb") : gzopen(path, "rb");
    if (!gz) {
        return pe_cli_fail(PE_ERR_IO, "%s: cannot open: %s", path, strerror(errno ? errno : ENOENT));
    }
    gzbuffer(gz, 1 << 18);
    size_t cap = 2 * READ_CHUNK, have = 0;
    char *buf = malloc(cap);
    int rc = buf ? 0 : pe_cli_fail(PE_ERR_NOMEM, NULL);
    uint64_t lines0 = r->lines;
    while (!rc) {
        if (cap - have < READ_CHUNK) {
            if (cap >= 2 * (size_t)MAX_LINE) {
                rc = pe_cli_fail(PE_ERR_LIMIT, "%s: line %llu is longer than %d bytes", path,
                                 (unsigned long long)(r->lines - lines0 + 1), MAX_LINE);
                break;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                rc = pe_cli_fail(PE_ERR_NOMEM, NULL);
                break;
            }
            buf = nb;
            cap *= 2;
        }
        int got = gzread(gz, buf + have, READ_CHUNK);
        if (got < 0) {
            int zerr;
            const char *m = gzerror(gz, &zerr);
            rc = pe_cli_fail(PE_ERR_IO, "%s: %s", path, zerr == Z_ERRNO ? strerror(errno) : m);
            break;
        }
        have += (size_t)got;
        size_t start = 0;
        for (char *nl; !rc && (nl = memchr(buf + start, '\n', have - start)); start = (size_t)(nl - buf) + 1)
            rc = feed_line(r, path, buf + start, (size_t)(nl - buf) - start);
        if (got == 0) { /* end of file: the last line may lack its newline */
            if (!rc && have > start) rc = feed_line(r, path, buf + start, have - start);
            break;
        }
        memmove(buf, buf + start, have - start);
        have -= start;
        show_read(r, (uint64_t)gzoffset(gz));
    }
    gzclose(gz);
    free(buf);
    return rc;
}

static void show_merges(const pe_vocab_stats *s, void *user)
{
    read_state *r = user;
    if (r->t_merge0 == 0) r->t_merge0 = pe_now(); /* the first call: pairs counted */
    double el = pe_now() - r->t_merge0;
    char what[160];
    snprintf(what, sizeof what, "vocab: %zu merges (%zu pairs at start, last count %llu)", s->merges, s->pairs,
             (unsigned long long)s->last_count);
    pe_cli_progress_update(&r->prog, what, s->vocab_size, r->target, "tokens", "merges/s",
                           el > 0 ? (double)s->merges / el : 0);
}

int pe_cmd_vocab(int argc, char **argv)
{
    pe_vocab_options o = pe_vocab_options_default();
    const char *out = "vocab.txt";
    size_t size = o.vocab_size, min_freq = (size_t)o.min_frequency, limit_alphabet = o.limit_alphabet;
    int cased = 0;
    const pe_cli_opt opts[] = {
        {"--out", PE_CLI_STRING, &out},
        {"--size", PE_CLI_SIZE, &size, .min = 5, .max = 1u << 30},
        {"--min-freq", PE_CLI_SIZE, &min_freq, .min = 0},
        {"--limit-alphabet", PE_CLI_SIZE, &limit_alphabet, .min = 0, .max = 1u << 21},
        {"--cased", PE_CLI_FLAG, &cased},
        {0}};
    const pe_cli_spec spec = {"vocab", usage, opts, 1, -1, exit_notes};
    int n_files, prc = pe_cli_parse(&spec, argc, argv, &n_files);
    if (prc != PE_CLI_RUN) return prc;
    o.vocab_size = size;
    o.min_frequency = min_freq;
    o.limit_alphabet = limit_alphabet;
    if (cased) o.do_lower_case = 0;
    char **files = argv + 1;
    for (int i = 0; i < n_files; i++)
        if ((prc = pe_cli_need_file("input file", files[i])) != PE_EXIT_OK) return prc;

    read_state r;
    memset(&r, 0, sizeof r);
    pe_cli_progress_init(&r.prog);
    r.t0 = pe_now();
    for (int i = 0; i < n_files; i++) { /* fail before hours of reading, not after */
        struct stat sb;
        if (strcmp(files[i], "-") == 0) continue;
        if (stat(files[i], &sb) != 0 || access(files[i], R_OK) != 0) {
            return pe_cli_fail(PE_ERR_IO, "%s: cannot read: %s", files[i], strerror(errno));
        }
        r.bytes_total += (uint64_t)sb.st_size;
    }
    r.target = o.vocab_size;
    o.progress = show_merges;
    o.progress_user = &r;
    pe_error err;
    pe_error_clear(&err);
    pe_status st = pe_vocab_trainer_new(&o, &r.t, &err);
    if (st >= PE_ERR_FIRST) {
        return pe_cli_fail(st, "%s", err.msg);
    }
    int rc = 0;
    for (int i = 0; i < n_files && !rc; i++) {
        struct stat sb;
        rc = read_file(&r, files[i]);
        if (strcmp(files[i], "-") != 0 && stat(files[i], &sb) == 0) r.bytes_done += (uint64_t)sb.st_size;
    }
    double t_read = pe_now() - r.t0;
    if (!rc) {
        show_read(&r, 0);
        pe_cli_progress_finish(&r.prog);
        pe_vocab_stats s;
        pe_vocab_trainer_stats(r.t, &s);
        fprintf(stderr, "vocab: read %d file(s) in %.1f s: %llu lines, %llu MiB, %llu words, %zu distinct\n",
                n_files, t_read, (unsigned long long)r.lines, (unsigned long long)(s.bytes >> 20),
                (unsigned long long)s.words, s.distinct_words);
        pe_cli_progress_init(&r.prog);
        st = pe_vocab_trainer_write(r.t, out, &err);
        pe_cli_progress_finish(&r.prog);
        if (st >= PE_ERR_FIRST) rc = pe_cli_fail(st, "%s", err.msg);
    }
    if (!rc) {
        pe_vocab_stats s;
        pe_vocab_trainer_stats(r.t, &s);
        static const char *why[] = {"-", "reached the target size", "best pair below --min-freq",
                                    "no pair left"};
        fprintf(stderr,
                "vocab: wrote %s: %zu tokens (%zu special, %zu alphabet of %zu chars seen, %zu \"##c\", "
                "%zu merges; %s)\n"
                "vocab: %llu lines (%llu skipped), %zu distinct words, %zu pairs at start, %.1f s "
                "(reading %.1f s, merging %.1f s)\n",
                out, s.vocab_size, o.n_special_tokens ? o.n_special_tokens : 5, s.alphabet, s.chars,
                s.continuation, s.merges, why[s.stop], (unsigned long long)r.lines, (unsigned long long)r.bad,
                s.distinct_words, s.pairs, pe_now() - r.t0, t_read, pe_now() - r.t0 - t_read);
    }
    pe_vocab_trainer_free(r.t);
    if (rc) return rc;
    return r.bad ? PE_EXIT_PARTIAL : PE_EXIT_OK;
}
