/* cmd_extract.c - `persona extract`: texts in, mentions and persona
 * relations out (JSON lines), with the shipped model by default; and
 * `persona eval ner|rel`: a model's scores on labelled data. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "pe_encoder.h"
#include "pe_ner.h"
#include "pe_relation.h"

#ifndef PE_MODEL_SOURCE_PATH
#define PE_MODEL_SOURCE_PATH ""
#endif
#ifndef PE_MODEL_INSTALL_PATH
#define PE_MODEL_INSTALL_PATH ""
#endif

const char *pe_cli_default_model(void)
{
    const char *e = getenv("PERSONA_MODEL");
    if (e && *e) return e;
    struct stat sb;
    if (PE_MODEL_INSTALL_PATH[0] && stat(PE_MODEL_INSTALL_PATH, &sb) == 0) return PE_MODEL_INSTALL_PATH;
    return PE_MODEL_SOURCE_PATH;
}

/* Loads the model at path (CPU backend unless asked otherwise). Returns an
 * exit code; *enc set on success. */
static pe_encoder_precision load_precision = PE_PRECISION_FP32;

int pe_cli_load_model(const char *path, int threads, pe_encoder **enc)
{
    *enc = NULL;
    struct stat sb;
    if (!path || !*path || stat(path, &sb) != 0)
        return pe_cli_error(PE_EXIT_MISSING, "model %s does not exist (give --model PATH or set $PERSONA_MODEL)",
                            path && *path ? path : "(none)");
    pe_encoder_options o = pe_encoder_options_default();
    o.threads = threads;
    o.precision = load_precision;
    pe_error err;
    pe_status st = pe_encoder_load(path, &o, enc, &err);
    if (st != PE_OK) return pe_cli_fail(st, "%s", err.msg);
    return PE_EXIT_OK;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: persona extract [--model PATH] [options] [TEXT...]\n"
            "\n"
            "Finds entity mentions and persona relations in texts: the TEXT arguments, or\n"
            "else one JSON object a line on stdin ({\"text\": \"...\", \"id\": any}; a line that\n"
            "is not JSON is taken as the text itself). One JSON line out per text:\n"
            "  {\"id\", \"text\", \"model\": {\"id\", \"version\"},\n"
            "   \"mentions\": [{\"start\", \"end\", \"text\", \"type\", \"score\"}],\n"
            "   \"relations\": [{\"subject\": {\"start\", \"end\", \"text\"} | null, \"relation\",\n"
            "                  \"object\": {\"start\", \"end\", \"text\"}, \"score\"}]}\n"
            "start/end are character (code point) offsets into the text, end exclusive;\n"
            "a null subject means the writer. Scores: the mean probability of the\n"
            "predicted labels over the span's words (see ner/pe_ner.h).\n"
            "A bad line gives {\"line\": N, \"error\": \"...\"} and exit code 4.\n"
            "\n"
            "options:\n"
            "  --model PATH   a .pem (or HF folder) with \"ner\" and/or \"rel\" heads\n"
            "                 (default: $PERSONA_MODEL, else the shipped model)\n"
            "  --graph DIR    graph store for the NER graph feature (when the model uses it)\n"
            "  --doc-context  ner: read each sentence with the sentences around it in its\n"
            "                 document (-DOCSTART- lines; as many whole ones as fit the\n"
            "                 model's positions), for a model trained so (the recipe's\n"
            "                 \"ner\": {\"doc_context\": true}); scored on the sentence\n"
            "  --threads N    CPU threads (default: all cores)\n"
            "  --precision P  fp32 (default) or bf16 (a CPU with AVX-512 BF16, or CUDA)\n"
            "  --decode D     viterbi (default: the most probable valid BIO sequence\n"
            "                 of the words), argmax (each word's most probable label) or\n"
            "                 grouped (O against the total of the types or relations,\n"
            "                 then which, then B or I: more recall, less precision)\n"
            "A TEXT that starts with '-' comes after --.\n");
}

static cJSON *span_json(const char *text, size_t start, size_t end, const char *s)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "start", (double)pe_utf8_char_offset(text, start));
    cJSON_AddNumberToObject(o, "end", (double)pe_utf8_char_offset(text, end));
    cJSON_AddStringToObject(o, "text", s);
    return o;
}

static double r4(double v)
{
    return (double)(long long)(v * 10000.0 + 0.5) / 10000.0;
}

/* One text -> its JSON object (NULL with *err set on failure). The
 * encoder runs once; both heads read its hidden states. */
static cJSON *extract_one(pe_encoder *enc, pe_ner *ner, pe_rel *rel, const pe_encoder_info *info, const cJSON *id,
                          const char *text, size_t len, pe_error *err)
{
    pe_ner_mention *m = NULL;
    size_t nm = 0;
    pe_rel_extraction *x = NULL;
    size_t nx = 0;
    pe_encoder_result *res = NULL;
    pe_encoder_encode_options eo = pe_encoder_encode_options_default();
    pe_status st = pe_encoder_encode_texts(enc, &text, &len, 1, &eo, &res);
    if (st != PE_OK) {
        pe_error_set(err, st, "%s", pe_encoder_errmsg(enc));
        return NULL;
    }
    const int whole = !res->encodings[0]->truncated; /* else: windows over the whole text */
    if (ner && (whole ? pe_ner_extract_encoded(ner, text, res->encodings[0], res->hidden_states, &m, &nm, err)
                      : pe_ner_extract(ner, text, len, &m, &nm, err)) != PE_OK) {
        pe_encoder_result_free(res);
        return NULL;
    }
    if (rel && (whole ? pe_rel_extract_encoded(rel, text, res->encodings[0], res->hidden_states, &x, &nx, err)
                      : pe_rel_extract(rel, text, len, &x, &nx, err)) != PE_OK) {
        pe_ner_mentions_free(m, nm);
        pe_encoder_result_free(res);
        return NULL;
    }
    pe_encoder_result_free(res);
    cJSON *o = cJSON_CreateObject();
    if (id) cJSON_AddItemToObject(o, "id", cJSON_Duplicate(id, 1));
    cJSON_AddStringToObject(o, "text", text);
    cJSON *mo = cJSON_AddObjectToObject(o, "model");
    cJSON_AddStringToObject(mo, "id", info->model_id);
    cJSON_AddStringToObject(mo, "version", info->model_version);
    cJSON *ma = cJSON_AddArrayToObject(o, "mentions");
    for (size_t i = 0; i < nm; i++) {
        cJSON *e = span_json(text, m[i].start, m[i].end, m[i].text);
        cJSON_AddStringToObject(e, "type", m[i].type);
        cJSON_AddNumberToObject(e, "score", r4(m[i].score));
        cJSON_AddItemToArray(ma, e);
    }
    cJSON *ra = cJSON_AddArrayToObject(o, "relations");
    for (size_t i = 0; i < nx; i++) {
        cJSON *e = cJSON_CreateObject();
        if (x[i].subject.end > x[i].subject.start)
            cJSON_AddItemToObject(e, "subject", span_json(text, x[i].subject.start, x[i].subject.end, x[i].subject.text));
        else
            cJSON_AddNullToObject(e, "subject");
        cJSON_AddStringToObject(e, "relation", x[i].relation);
        cJSON_AddItemToObject(e, "object", span_json(text, x[i].object.start, x[i].object.end, x[i].object.text));
        cJSON_AddNumberToObject(e, "score", r4(x[i].score));
        cJSON_AddItemToArray(ra, e);
    }
    pe_ner_mentions_free(m, nm);
    pe_rel_extractions_free(x, nx);
    return o;
}

static void print_line(cJSON *o)
{
    char *s = cJSON_PrintUnformatted(o);
    if (s) {
        fputs(s, stdout);
        fputc('\n', stdout);
        free(s);
    }
    cJSON_Delete(o);
}

static const pe_encoder_precision precisions[] = {PE_PRECISION_FP32, PE_PRECISION_TF32, PE_PRECISION_BF16};
static int decode_mode = PE_DECODE_VITERBI; /* --decode argmax|grouped|viterbi */

int pe_cmd_extract(int argc, char **argv)
{
    const char *model = NULL, *graph = NULL;
    int threads = 0, precision = 0;
    const pe_cli_opt opts[] = {
        {"--model", PE_CLI_STRING, &model},
        {"--graph", PE_CLI_STRING, &graph},
        {"--threads", PE_CLI_INT, &threads, .min = 1, .max = 1024},
        {"--precision", PE_CLI_CHOICE, &precision, .choices = "fp32|tf32|bf16"},
        {"--decode", PE_CLI_CHOICE, &decode_mode, .choices = "argmax|grouped|viterbi"},
        {0}};
    const pe_cli_spec spec = {"extract", usage, opts, 0, -1,
                              "            (4: some lines were bad; 5: the model or the graph store does not exist)\n"};
    int n_texts, prc = pe_cli_parse(&spec, argc, argv, &n_texts);
    if (prc != PE_CLI_RUN) return prc;
    load_precision = precisions[precision];
    int first_text = n_texts ? 1 : 0; /* the texts are argv[1..n_texts] */
    argc = 1 + n_texts;
    if (graph && (prc = pe_cli_need_file("graph store", graph)) != PE_EXIT_OK) return prc;
    pe_encoder *enc = NULL;
    int rc = pe_cli_load_model(model ? model : pe_cli_default_model(), threads, &enc);
    if (rc != PE_EXIT_OK) return rc;
    pe_error err;
    pe_kg *kg = NULL;
    pe_kg_reader *kr = NULL;
    if (graph) {
        if ((rc = pe_cli_open_reader(graph, &kg, &kr)) != PE_EXIT_OK) {
            pe_encoder_free(enc);
            return rc;
        }
    }
    pe_ner *ner = NULL;
    pe_rel *rel = NULL;
    pe_ner_options no = pe_ner_options_default();
    no.graph = kr;
    pe_status sn = pe_ner_open(enc, &no, &ner, &err);
    if (sn == PE_OK) sn = pe_ner_set_decode(ner, (pe_tag_decode)decode_mode, &err);
    if (sn != PE_OK && sn != PE_NOT_FOUND) {
        rc = pe_cli_fail(sn, "%s", err.msg);
        goto done;
    }
    pe_status sr = pe_rel_open(enc, &rel, &err);
    if (sr == PE_OK) sr = pe_rel_set_decode(rel, (pe_tag_decode)decode_mode, &err);
    if (sr != PE_OK && sr != PE_NOT_FOUND) {
        rc = pe_cli_fail(sr, "%s", err.msg);
        goto done;
    }
    if (!ner && !rel) {
        rc = pe_cli_error(PE_EXIT_FAIL, "the model has neither an \"ner\" nor a \"rel\" head");
        goto done;
    }
    pe_encoder_info info;
    pe_encoder_get_info(enc, &info);
    long bad = 0;
    if (first_text > 0) {
        for (int i = first_text; i < argc; i++) {
            cJSON *o = extract_one(enc, ner, rel, &info, NULL, argv[i], strlen(argv[i]), &err);
            if (!o) {
                pe_cli_error(PE_EXIT_PARTIAL, "argument %d: %s", i - first_text + 1, err.msg);
                bad++;
                o = cJSON_CreateObject();
                cJSON_AddNumberToObject(o, "argument", i - first_text + 1);
                cJSON_AddStringToObject(o, "error", err.msg);
            }
            print_line(o);
        }
    } else {
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        long lineno = 0;
        while ((n = getline(&line, &cap, stdin)) >= 0) {
            lineno++;
            size_t l = (size_t)n;
            while (l > 0 && (line[l - 1] == '\n' || line[l - 1] == '\r')) l--;
            line[l] = '\0';
            if (l == 0) continue;
            cJSON *in = line[0] == '{' ? cJSON_ParseWithLength(line, l) : NULL;
            const cJSON *t = in ? cJSON_GetObjectItemCaseSensitive(in, "text") : NULL;
            cJSON *o = NULL;
            if (in && !cJSON_IsString(t)) {
                pe_error_set(&err, PE_ERR_PARSE, "a JSON line needs a \"text\" string");
            } else {
                const char *text = t ? t->valuestring : line;
                o = extract_one(enc, ner, rel, &info, in ? cJSON_GetObjectItemCaseSensitive(in, "id") : NULL, text,
                                strlen(text), &err);
            }
            if (!o) {
                pe_cli_error(PE_EXIT_PARTIAL, "line %ld: %s", lineno, err.msg);
                bad++;
                o = cJSON_CreateObject();
                cJSON_AddNumberToObject(o, "line", (double)lineno);
                cJSON_AddStringToObject(o, "error", err.msg);
            }
            print_line(o);
            cJSON_Delete(in);
        }
        free(line);
    }
    rc = bad ? PE_EXIT_PARTIAL : PE_EXIT_OK;
done:
    pe_ner_close(ner);
    pe_rel_close(rel);
    pe_kg_reader_end(kr);
    pe_kg_close(kg);
    pe_encoder_free(enc);
    return rc;
}

/* ---- persona eval ner|rel ---- */

static void eval_usage(FILE *f)
{
    fprintf(f,
            "usage: persona eval ner --data FILE [--model PATH] [--type-map MAP] [--json] [--strict]\n"
            "       persona eval rel --data FILE.jsonl [--model PATH] [--json] [--strict]\n"
            "\n"
            "ner: entity-level precision, recall and F1 per type, micro and macro, as\n"
            "conlleval / seqeval count them (exact span and type), on a CoNLL file (word\n"
            "first, tag last). --type-map FROM=TO,... renames the file's types to the\n"
            "model's (e.g. corporation=organization,group=organization; X=O drops X).\n"
            "rel: on PersonaExt JSONL, triplet_micro_f1 (relation and object span exact),\n"
            "relation_f1 and relation_accuracy (the relation sets of each utterance) and F1\n"
            "per relation.\n"
            "Lines the model cannot score (a type or relation it does not know, a malformed\n"
            "line) are skipped and counted, or fatal with --strict.\n"
            "\n"
            "options:\n"
            "  --model PATH   default: $PERSONA_MODEL, else the shipped model\n"
            "  --graph DIR    graph store for the NER graph feature (when the model uses it)\n"
            "  --doc-context  ner: read each sentence with the sentences around it in its\n"
            "                 document (-DOCSTART- lines; as many whole ones as fit the\n"
            "                 model's positions), for a model trained so (the recipe's\n"
            "                 \"ner\": {\"doc_context\": true}); scored on the sentence\n"
            "  --json         one JSON object instead of a table\n"
            "  --threads N    CPU threads\n"
            "  --precision P  fp32 (default) or bf16: to measure what bf16 inference costs in F1\n"
            "  --decode D     viterbi (default: the most probable valid BIO sequence of\n"
            "                 the words), argmax (each word's most probable label) or\n"
            "                 grouped (O against the total of the types, then the type,\n"
            "                 then B or I)\n");
}

static int eval_ner(pe_encoder *enc, pe_kg_reader *kr, const char *data, const char *type_map, int strict, int json,
                    int doc_context)
{
    pe_error err;
    pe_ner *ner = NULL;
    pe_ner_options no = pe_ner_options_default();
    no.graph = kr;
    pe_status st = pe_ner_open(enc, &no, &ner, &err);
    if (st == PE_OK && (st = pe_ner_set_decode(ner, (pe_tag_decode)decode_mode, &err)) != PE_OK) pe_ner_close(ner);
    if (st != PE_OK) return st == PE_NOT_FOUND ? pe_cli_error(PE_EXIT_FAIL, "%s", err.msg) : pe_cli_fail(st, "%s", err.msg);
    const int nt = pe_ner_n_types(ner);
    const char **types = calloc((size_t)nt + 1, sizeof *types);
    for (int i = 0; types && i < nt; i++) types[i] = pe_ner_type_name(ner, i);
    pe_ner_read_options ro = pe_ner_read_options_default();
    ro.type_map = type_map;
    ro.types = types;
    ro.n_types = nt;
    ro.strict = strict;
    pe_ner_corpus *c = NULL;
    int rc = PE_EXIT_FAIL;
    st = pe_ner_corpus_read(data, &ro, &c, &err);
    if (st != PE_OK) {
        rc = pe_cli_fail(st, "%s", err.msg);
        goto done;
    }
    const size_t n = pe_ner_corpus_count(c);
    const char ***pred = calloc(n + 1, sizeof *pred), ***gold = calloc(n + 1, sizeof *gold);
    int *nw = calloc(n + 1, sizeof *nw);
    size_t *lo = NULL, *hi = NULL;
    if (!pred || !gold || !nw) {
        rc = pe_cli_fail(PE_ERR_NOMEM, NULL);
        goto done2;
    }
    if (doc_context) {
        pe_encoder_info info;
        pe_encoder_get_info(enc, &info);
        if ((st = pe_ner_doc_context(c, pe_encoder_tokenizer(enc), info.config.max_position, &lo, &hi, &err)) != PE_OK) {
            rc = pe_cli_fail(st, "%s", err.msg);
            goto done2;
        }
    }
    pe_cli_progress pr;
    pe_cli_progress_init(&pr);
    for (size_t i = 0; i < n; i++) {
        const pe_ner_sentence *s = pe_ner_corpus_get(c, i);
        nw[i] = s->n;
        gold[i] = (const char **)s->tags;
        pred[i] = calloc((size_t)s->n + 1, sizeof **pred);
        if (!pred[i] || (st = pe_ner_tag_sentence(ner, c, i, lo ? lo[i] : i, hi ? hi[i] : i + 1, pred[i], NULL, &err)) !=
                            PE_OK) {
            pe_cli_progress_finish(&pr);
            rc = pe_cli_fail(pred[i] ? st : PE_ERR_NOMEM, "%s", pred[i] ? err.msg : "out of memory");
            goto done2;
        }
        if ((i & 63) == 0) pe_cli_progress_update(&pr, "evaluating", i, n, "sentences", NULL, 0);
    }
    pe_cli_progress_finish(&pr);
    pe_ner_scores sc;
    if ((st = pe_ner_score((const char *const *const *)gold, (const char *const *const *)pred, nw, n, &sc, &err)) !=
        PE_OK) {
        rc = pe_cli_fail(st, "%s", err.msg);
        goto done2;
    }
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "data", data);
        cJSON_AddNumberToObject(o, "sentences", (double)n);
        cJSON_AddNumberToObject(o, "skipped", (double)pe_ner_corpus_skipped(c));
        cJSON_AddNumberToObject(o, "precision", sc.precision);
        cJSON_AddNumberToObject(o, "recall", sc.recall);
        cJSON_AddNumberToObject(o, "f1", sc.f1);
        cJSON_AddNumberToObject(o, "macro_f1", sc.macro_f1);
        cJSON *t = cJSON_AddObjectToObject(o, "types");
        for (int i = 0; i < sc.n_types; i++) {
            cJSON *x = cJSON_AddObjectToObject(t, sc.types[i].type);
            cJSON_AddNumberToObject(x, "precision", sc.types[i].precision);
            cJSON_AddNumberToObject(x, "recall", sc.types[i].recall);
            cJSON_AddNumberToObject(x, "f1", sc.types[i].f1);
            cJSON_AddNumberToObject(x, "gold", (double)(sc.types[i].tp + sc.types[i].fn));
            cJSON_AddNumberToObject(x, "predicted", (double)(sc.types[i].tp + sc.types[i].fp));
        }
        pe_cli_print_json(o);
        cJSON_Delete(o);
    } else {
        printf("%-16s %9s %9s %9s %7s %7s\n", "type", "precision", "recall", "f1", "gold", "pred");
        for (int i = 0; i < sc.n_types; i++)
            printf("%-16s %9.4f %9.4f %9.4f %7ld %7ld\n", sc.types[i].type, sc.types[i].precision, sc.types[i].recall,
                   sc.types[i].f1, sc.types[i].tp + sc.types[i].fn, sc.types[i].tp + sc.types[i].fp);
        printf("%-16s %9.4f %9.4f %9.4f %7ld %7ld\n", "micro", sc.precision, sc.recall, sc.f1, sc.tp + sc.fn, sc.tp + sc.fp);
        printf("%-16s %9s %9s %9.4f\n", "macro", "", "", sc.macro_f1);
        printf("%zu sentences, %zu skipped\n", n, pe_ner_corpus_skipped(c));
    }
    pe_ner_scores_clear(&sc);
    if (pe_ner_corpus_skipped(c)) fprintf(stderr, "persona: first skipped: %s\n", pe_ner_corpus_first_problem(c));
    rc = pe_ner_corpus_skipped(c) ? PE_EXIT_PARTIAL : PE_EXIT_OK;
done2:
    for (size_t i = 0; pred && i < n; i++) free(pred[i]);
    free(pred);
    free(gold);
    free(nw);
    free(lo);
    free(hi);
done:
    pe_ner_corpus_free(c);
    free(types);
    pe_ner_close(ner);
    return rc;
}

static int eval_rel(pe_encoder *enc, const char *data, int strict, int json)
{
    pe_error err;
    pe_rel *rel = NULL;
    pe_status st = pe_rel_open(enc, &rel, &err);
    if (st == PE_OK && (st = pe_rel_set_decode(rel, (pe_tag_decode)decode_mode, &err)) != PE_OK) pe_rel_close(rel);
    if (st != PE_OK) return st == PE_NOT_FOUND ? pe_cli_error(PE_EXIT_FAIL, "%s", err.msg) : pe_cli_fail(st, "%s", err.msg);
    const int nr = pe_rel_n_relations(rel);
    const char **rels = calloc((size_t)nr + 1, sizeof *rels);
    for (int i = 0; rels && i < nr; i++) rels[i] = pe_rel_relation_name(rel, i);
    pe_rel_data *d = NULL;
    int rc = PE_EXIT_FAIL;
    const pe_rel_utterance **gold = NULL;
    pe_rel_triple **pred = NULL;
    int *np = NULL;
    size_t n = 0;
    if ((st = pe_rel_data_read(data, rels, nr, strict, &d, &err)) != PE_OK) {
        rc = pe_cli_fail(st, "%s", err.msg);
        goto done;
    }
    n = pe_rel_data_count(d);
    gold = calloc(n + 1, sizeof *gold);
    pred = calloc(n + 1, sizeof *pred);
    np = calloc(n + 1, sizeof *np);
    if (!gold || !pred || !np) {
        rc = pe_cli_fail(PE_ERR_NOMEM, NULL);
        goto done;
    }
    pe_cli_progress pr;
    pe_cli_progress_init(&pr);
    double t0 = 0;
    (void)t0;
    for (size_t i = 0; i < n; i++) {
        const pe_rel_utterance *u = pe_rel_data_get(d, i);
        gold[i] = u;
        if ((st = pe_rel_predict_words(rel, (const char *const *)u->words, u->n_words, &pred[i], &np[i], &err)) != PE_OK) {
            pe_cli_progress_finish(&pr);
            rc = pe_cli_fail(st, "%s", err.msg);
            goto done;
        }
        if ((i & 63) == 0) pe_cli_progress_update(&pr, "evaluating", i, n, "utterances", NULL, 0);
    }
    pe_cli_progress_finish(&pr);
    pe_rel_scores sc;
    if ((st = pe_rel_score(gold, (const pe_rel_triple *const *)pred, np, n, nr, &sc, &err)) != PE_OK) {
        rc = pe_cli_fail(st, "%s", err.msg);
        goto done;
    }
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "data", data);
        cJSON_AddNumberToObject(o, "utterances", (double)n);
        cJSON_AddNumberToObject(o, "skipped", (double)pe_rel_data_skipped(d));
        cJSON_AddNumberToObject(o, "gold_triplets", (double)(sc.tp + sc.fn));
        cJSON_AddNumberToObject(o, "discontiguous_gold", (double)pe_rel_data_discontiguous(d));
        cJSON_AddNumberToObject(o, "triplet_micro_precision", sc.precision);
        cJSON_AddNumberToObject(o, "triplet_micro_recall", sc.recall);
        cJSON_AddNumberToObject(o, "triplet_micro_f1", sc.f1);
        cJSON_AddNumberToObject(o, "relation_f1", sc.relation_f1);
        cJSON_AddNumberToObject(o, "relation_accuracy", sc.relation_accuracy);
        cJSON *per = cJSON_AddObjectToObject(o, "per_relation");
        for (int r = 0; r < nr; r++) {
            if (sc.rel_tp[r] + sc.rel_fn[r] + sc.rel_fp[r] == 0) continue;
            cJSON *x = cJSON_AddObjectToObject(per, rels[r]);
            cJSON_AddNumberToObject(x, "f1", sc.rel_f1[r]);
            cJSON_AddNumberToObject(x, "gold", (double)(sc.rel_tp[r] + sc.rel_fn[r]));
            cJSON_AddNumberToObject(x, "predicted", (double)(sc.rel_tp[r] + sc.rel_fp[r]));
        }
        pe_cli_print_json(o);
        cJSON_Delete(o);
    } else {
        printf("%-28s %7s %7s %7s\n", "relation", "f1", "gold", "pred");
        for (int r = 0; r < nr; r++)
            if (sc.rel_tp[r] + sc.rel_fn[r] + sc.rel_fp[r])
                printf("%-28s %7.4f %7ld %7ld\n", rels[r], sc.rel_f1[r], sc.rel_tp[r] + sc.rel_fn[r],
                       sc.rel_tp[r] + sc.rel_fp[r]);
        printf("triplet_micro_f1 %.4f (precision %.4f, recall %.4f)\nrelation_f1 %.4f\nrelation_accuracy %.4f\n",
               sc.f1, sc.precision, sc.recall, sc.relation_f1, sc.relation_accuracy);
        printf("%zu utterances, %ld gold triplets (%zu not one span), %zu lines skipped\n", n, sc.tp + sc.fn,
               pe_rel_data_discontiguous(d), pe_rel_data_skipped(d));
    }
    pe_rel_scores_clear(&sc);
    if (pe_rel_data_skipped(d)) fprintf(stderr, "persona: first skipped: %s\n", pe_rel_data_first_problem(d));
    rc = pe_rel_data_skipped(d) ? PE_EXIT_PARTIAL : PE_EXIT_OK;
done:
    for (size_t i = 0; pred && i < n; i++) free(pred[i]);
    free(pred);
    free(np);
    free(gold);
    pe_rel_data_free(d);
    free(rels);
    pe_rel_close(rel);
    return rc;
}

int pe_cmd_eval(int argc, char **argv)
{
    const char *model = NULL, *data = NULL, *type_map = NULL, *graph = NULL, *format = NULL;
    int json = 0, strict = 0, threads = 0, precision = 0, doc_context = 0;
    const pe_cli_opt opts[] = {
        {"--model", PE_CLI_STRING, &model},
        {"--data", PE_CLI_STRING, &data},
        {"--doc-context", PE_CLI_FLAG, &doc_context},
        {"--type-map", PE_CLI_STRING, &type_map},
        {"--graph", PE_CLI_STRING, &graph},
        {"--format", PE_CLI_STRING, &format},
        {"--json", PE_CLI_FLAG, &json},
        {"--strict", PE_CLI_FLAG, &strict},
        {"--threads", PE_CLI_INT, &threads, .min = 1, .max = 1024},
        {"--precision", PE_CLI_CHOICE, &precision, .choices = "fp32|tf32|bf16"},
        {"--decode", PE_CLI_CHOICE, &decode_mode, .choices = "argmax|grouped|viterbi"},
        {0}};
    const pe_cli_spec spec = {"eval", eval_usage, opts, 1, 1,
                              "            (4: done, but lines were skipped; 5: the model, the data or the\n"
                              "            graph store does not exist)\n"};
    int np, prc = pe_cli_parse(&spec, argc, argv, &np);
    if (prc != PE_CLI_RUN) return prc;
    load_precision = precisions[precision];
    const char *what = argv[1];
    if (strcmp(what, "ner") && strcmp(what, "rel"))
        return pe_cli_error(PE_EXIT_USAGE, "unknown task '%s' (ner or rel; link is `persona eval link`)", what);
    if (format && strcmp(format, "conll") != 0) return pe_cli_error(PE_EXIT_USAGE, "--format: only conll is read");
    if (!data) return pe_cli_error(PE_EXIT_USAGE, "--data FILE is required (see --help)");
    if ((prc = pe_cli_need_file("data file", data)) != PE_EXIT_OK) return prc;
    if (graph && (prc = pe_cli_need_file("graph store", graph)) != PE_EXIT_OK) return prc;
    pe_encoder *enc = NULL;
    int rc = pe_cli_load_model(model ? model : pe_cli_default_model(), threads, &enc);
    if (rc != PE_EXIT_OK) return rc;
    pe_kg *kg = NULL;
    pe_kg_reader *kr = NULL;
    if (graph) {
        if ((rc = pe_cli_open_reader(graph, &kg, &kr)) != PE_EXIT_OK) {
            pe_encoder_free(enc);
            return rc;
        }
    }
    rc = strcmp(what, "ner") == 0 ? eval_ner(enc, kr, data, type_map, strict, json, doc_context) : eval_rel(enc, data, strict, json);
    pe_kg_reader_end(kr);
    pe_kg_close(kg);
    pe_encoder_free(enc);
    return rc;
}
