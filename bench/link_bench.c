/* link_bench.c - entity linking on ELEVANT benchmark files (driven by
 * scripts/bench-link.sh; figures in docs/BENCHMARKS.md).
 *
 *   pe_bench_link --db DB --index DIR [--build-index] [--model F]
 *                 [--train DEV.jsonl --save-model F] [--rounds N] [--l2 X] [--nil-loss X] [--hidden N]
 *                 [--members N] [--seed N] [--gold-types]
 *                 [--k K] [--no-fuzzy] [--no-acronyms] [--no-partial]
 *                 [--no-coherence] [--embed] [--no-context] [--window N] [--max-docs N]
 *                 [--train-sentences] [--sentences] [--trace OUT.jsonl] [FILE.benchmark.jsonl ...]
 *
 * --build-index builds the link index of DB into DIR first; --embed adds
 * the context vectors to it (pe_link_index_embed); --no-context leaves the
 * context feature off; --window N: context words on each side (0 = text). --train links
 * DEV (prior-only ranker), fits the ranker and its NIL threshold on it, saves
 * it to --save-model and then uses it for the FILEs; --rounds N (default 2)
 * repeats that N times, each round after the first linking DEV with the
 * ranker of the round before (so that coh_type, a second-pass feature, is
 * learnt from the scores the trained linker sees); --model loads one.
 * --hidden N, --members N, --seed N: the reranker of the last round's ranker
 * (pe_link_train_options; --hidden 0: the logistic regression alone; the
 * seed below 2^53). --rounds is 1..16 (pe_link_train_file).
 * --train-sentences: each round collects DEV twice, as documents and with
 * each sentence linked as a text of its own (pe_link_eval_options.sentences),
 * so that the ranker and its NIL threshold also see short texts;
 * --sentences evaluates the FILEs so.
 * --trace appends every evaluated mention of the FILEs to OUT.jsonl (its
 * candidates and features; pe_link_eval_options.trace), for error analysis.
 * Prints one JSON object a line: the index build, the training, then each
 * file's pe_link_eval_result with the process's peak RSS so far.
 */
#define _GNU_SOURCE
#include "pe_kg.h"
#include "pe_link.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static double peak_rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

static int usage(void)
{
    fprintf(stderr, "usage: pe_bench_link --db DB --index DIR [--build-index] [--model F] [--train DEV --save-model F] [--rounds N]\n"
                    "                     [--l2 X] [--nil-loss X] [--hidden N] [--members N] [--seed N] [--gold-types] [--k K] [--no-fuzzy] [--no-acronyms] [--no-partial]\n"
                    "                     [--no-coherence] [--embed] [--no-context] [--window N] [--max-docs N] [--train-sentences] [--sentences]\n"
                    "                     [--trace F] [FILE ...]\n");
    return 2;
}

/* after each training round: a JSON line of the ranker's figures, and the
 * ranker so far saved to --save-model */
static pe_status round_done(void *ctx, const pe_link_train_round *r, const pe_link_model *m, pe_error *err)
{
    const char *save = ctx;
    printf("{\"train\": {\"round\": %d, \"mentions\": %zu, \"seconds\": %.2f, \"nil_threshold\": %.4f, "
           "\"nil_threshold_short\": %.4f, \"reranker_units\": %d, \"bias\": %.4f, \"weights\": {",
           r->round + 1, r->mentions, r->fit_seconds, m->nil_threshold, m->nil_threshold_short, m->hidden, m->bias);
    for (int i = 0; i < PE_LINK_NFEATURES; i++)
        printf("%s\"%s\": %.4f", i ? ", " : "", pe_link_feature_name((pe_link_feature)i), m->w[i]);
    printf("}}}\n");
    fflush(stdout);
    return pe_link_model_save(m, save, err);
}

int main(int argc, char **argv)
{
    const char *db = NULL, *index = NULL, *model_path = NULL, *train = NULL, *save = NULL, *trace = NULL;
    int build = 0, gold_types = 0, embed = 0, rounds = 2, train_sentences = 0, sentences = 0;
    double l2 = 1.0, nil_loss = 0.02;
    pe_link_train_options defaults = pe_link_train_options_default();
    int hidden = defaults.hidden, members = defaults.members;
    unsigned long long seed = defaults.seed;
    size_t max_docs = 0;
    pe_link_options lo = pe_link_options_default();
    int first_file = argc;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(a, "--db") && more) db = argv[++i];
        else if (!strcmp(a, "--index") && more) index = argv[++i];
        else if (!strcmp(a, "--model") && more) model_path = argv[++i];
        else if (!strcmp(a, "--train") && more) train = argv[++i];
        else if (!strcmp(a, "--save-model") && more) save = argv[++i];
        else if (!strcmp(a, "--l2") && more) l2 = atof(argv[++i]);
        else if (!strcmp(a, "--rounds") && more) rounds = atoi(argv[++i]);
        else if (!strcmp(a, "--hidden") && more) hidden = atoi(argv[++i]); /* pe_link_train checks the range */
        else if (!strcmp(a, "--members") && more) members = atoi(argv[++i]);
        else if (!strcmp(a, "--seed") && more) {
            char *end;
            errno = 0;
            seed = strtoull(argv[++i], &end, 10);
            if (errno || *end || !*argv[i] || argv[i][0] == '-' || seed >= (1ull << 53)) return usage();
        }
        else if (!strcmp(a, "--nil-loss") && more) nil_loss = atof(argv[++i]);
        else if (!strcmp(a, "--k") && more) lo.max_candidates = (size_t)atoi(argv[++i]);
        else if (!strcmp(a, "--max-docs") && more) max_docs = (size_t)atoi(argv[++i]);
        else if (!strcmp(a, "--trace") && more) trace = argv[++i];
        else if (!strcmp(a, "--build-index")) build = 1;
        else if (!strcmp(a, "--train-sentences")) train_sentences = 1;
        else if (!strcmp(a, "--sentences")) sentences = 1;
        else if (!strcmp(a, "--gold-types")) gold_types = 1;
        else if (!strcmp(a, "--no-fuzzy")) lo.fuzzy = 0;
        else if (!strcmp(a, "--no-acronyms")) lo.acronyms = 0;
        else if (!strcmp(a, "--no-partial")) lo.partial_names = 0;
        else if (!strcmp(a, "--no-coherence")) lo.coherence = 0;
        else if (!strcmp(a, "--no-context")) lo.context = 0;
        else if (!strcmp(a, "--embed")) embed = 1;
        else if (!strcmp(a, "--window") && more) lo.context_window = (size_t)atoi(argv[++i]);
        else if (a[0] == '-') return usage();
        else { first_file = i; break; }
    }
    if (!db || !index || (train && !save)) return usage();
    pe_kg_options ko = pe_kg_options_default();
    ko.create = 0;
    pe_kg *kg = NULL;
    pe_error kerr;
    if (pe_kg_open(db, &ko, &kg, &kerr) != PE_OK) {
        fprintf(stderr, "pe_bench_link: %s: %s\n", db, kerr.msg);
        return 1;
    }
    pe_error err;
    pe_error_clear(&err);
    int rc = 0;
    if (build) {
        pe_link_index_stats s;
        if (pe_link_index_build(kg, index, &s, &err) != PE_OK) {
            fprintf(stderr, "pe_bench_link: %s\n", err.msg);
            pe_kg_close(kg);
            return 1;
        }
        printf("{\"index\": {\"forms\": %llu, \"trigrams\": %llu, \"postings\": %llu, \"acronyms\": %llu, "
               "\"entities\": %llu, \"seconds\": %.2f, \"peak_rss_mb\": %.1f}}\n",
               (unsigned long long)s.forms, (unsigned long long)s.trigrams, (unsigned long long)s.postings,
               (unsigned long long)s.acronyms, (unsigned long long)s.entities, s.seconds, peak_rss_mb());
        fflush(stdout);
    }
    if (embed) {
        pe_link_embed_stats s;
        if (pe_link_index_embed(kg, index, &s, &err) != PE_OK) {
            fprintf(stderr, "pe_bench_link: %s\n", err.msg);
            pe_kg_close(kg);
            return 1;
        }
        printf("{\"embed\": {\"entities\": %llu, \"vectors\": %llu, \"words\": %llu, \"terms\": %llu, "
               "\"seconds\": %.2f, \"peak_rss_mb\": %.1f}}\n",
               (unsigned long long)s.entities, (unsigned long long)s.vectors, (unsigned long long)s.words,
               (unsigned long long)s.terms, s.seconds, peak_rss_mb());
        fflush(stdout);
    }
    lo.index_dir = index;
    pe_link_model *model = NULL;
    if (model_path && pe_link_model_load(model_path, &model, &err) != PE_OK) {
        fprintf(stderr, "pe_bench_link: %s\n", err.msg);
        pe_kg_close(kg);
        return 1;
    }
    pe_linker *l = NULL;
    if (train) {
        if (!model && pe_link_model_new(&model) != PE_OK) {
            fprintf(stderr, "pe_bench_link: out of memory\n");
            pe_kg_close(kg);
            return 1;
        }
        pe_link_train_file_options to = pe_link_train_file_options_default();
        to.link = lo;
        to.rounds = rounds;
        to.sentences = train_sentences;
        to.gold_types = gold_types;
        to.max_docs = max_docs;
        to.train.l2 = l2;
        to.train.nil_max_loss = nil_loss;
        to.train.hidden = hidden;
        to.train.members = members;
        to.train.seed = seed;
        to.on_round = round_done;
        to.ctx = (void *)save;
        if (pe_link_train_file(kg, train, &to, model, NULL, &err) != PE_OK) {
            fprintf(stderr, "pe_bench_link: %s\n", err.msg);
            rc = 1;
        }
    }
    if (!rc && pe_linker_open(kg, model, &lo, &l) != PE_OK) {
        fprintf(stderr, "pe_bench_link: %s\n", pe_linker_errmsg(l));
        rc = 1;
    }
    if (!rc) {
        pe_linker_info info;
        pe_linker_info_get(l, &info);
        if (!info.index) fprintf(stderr, "pe_bench_link: no link index in %s: fuzzy and acronym candidates off\n", index);
        if (info.index_stale) fprintf(stderr, "pe_bench_link: the link index is older than the store\n");
    }
    for (int i = first_file; i < argc && !rc; i++) {
        pe_link_eval_options eo = pe_link_eval_options_default();
        eo.gold_types = gold_types;
        eo.max_docs = max_docs;
        eo.trace = trace;
        eo.sentences = sentences;
        pe_link_eval_result r;
        if (pe_link_eval_file(l, argv[i], &eo, &r, &err) != PE_OK) {
            fprintf(stderr, "pe_bench_link: %s\n", err.msg);
            rc = 1;
            break;
        }
        const char *base = strrchr(argv[i], '/');
        printf("{\"file\": \"%s\", \"docs\": %llu, \"mentions\": %llu, \"in_graph\": %llu, \"nil_gold\": %llu, "
               "\"in_graph_accuracy\": %.4f, \"prior_baseline_in_graph_accuracy\": %.4f, \"candidate_recall\": %.4f, "
               "\"nil_precision\": %.4f, \"nil_recall\": %.4f, \"overall_accuracy\": %.4f, \"mentions_per_s\": %.0f, "
               "\"seconds\": %.3f, \"skipped_lines\": %llu, \"skipped_labels\": %llu, \"peak_rss_mb\": %.1f}\n",
               base ? base + 1 : argv[i], (unsigned long long)r.docs, (unsigned long long)r.mentions,
               (unsigned long long)r.in_graph, (unsigned long long)r.nil_gold, r.in_graph_accuracy,
               r.prior_baseline_in_graph_accuracy, r.candidate_recall, r.nil_precision, r.nil_recall,
               r.overall_accuracy, r.mentions_per_s, r.seconds, (unsigned long long)r.skipped_lines,
               (unsigned long long)r.skipped_labels, peak_rss_mb());
        if (r.first_error[0]) fprintf(stderr, "pe_bench_link: %s\n", r.first_error);
        fflush(stdout);
    }
    pe_linker_close(l);
    pe_link_model_free(model);
    pe_kg_close(kg);
    return rc;
}
