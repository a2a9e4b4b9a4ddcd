/* link_eval.c - the linker on ELEVANT benchmark files (pe_link_eval_file). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "link_internal.h"


pe_link_eval_options pe_link_eval_options_default(void)
{
    pe_link_eval_options o = {0};
    return o;
}

/* ELEVANT's type field ("Q215627", "Q27096213|Q43229", "OTHER") as a mention type. */
static pe_link_type gold_type(const char *t)
{
    if (!t) return PE_LINK_TYPE_ANY;
    if (strstr(t, "Q215627")) return PE_LINK_TYPE_PERSON;
    if (strstr(t, "Q27096213")) return PE_LINK_TYPE_PLACE;
    if (strstr(t, "Q43229")) return PE_LINK_TYPE_ORG;
    if (strstr(t, "Q17537576")) return PE_LINK_TYPE_WORK;
    if (strstr(t, "Q2424752") || strstr(t, "Q431289")) return PE_LINK_TYPE_PRODUCT;
    return PE_LINK_TYPE_ANY;
}

typedef struct gold { pe_kg_id id; int in_graph; const char *qid; } gold;

/* One mention of the trace (pe_link_eval_options.trace) as a JSON line. */
static void trace_mention(FILE *tf, const char *file, size_t lineno, const char *text, size_t tlen,
                          const pe_link_mention *m, const gold *g, const pe_link_mention_result *mr, int gold_ix)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return;
    char buf[256];
    cJSON_AddStringToObject(o, "file", file);
    cJSON_AddNumberToObject(o, "line", (double)lineno);
    cJSON_AddStringToObject(o, "surface", mr->surface);
    size_t a = m->start > 80 ? m->start - 80 : 0, b = m->end + 80 < tlen ? m->end + 80 : tlen;
    while (a > 0 && ((unsigned char)text[a] & 0xC0) == 0x80) a--;
    while (b < tlen && ((unsigned char)text[b] & 0xC0) == 0x80) b++;
    snprintf(buf, sizeof buf, "%.*s[[", (int)(m->start - a), text + a);
    cJSON_AddStringToObject(o, "left", buf);
    snprintf(buf, sizeof buf, "]]%.*s", (int)(b - m->end), text + m->end);
    cJSON_AddStringToObject(o, "right", buf);
    cJSON_AddStringToObject(o, "gold", g->qid);
    cJSON_AddBoolToObject(o, "in_graph", g->in_graph);
    cJSON_AddNumberToObject(o, "gold_rank", gold_ix);
    cJSON_AddBoolToObject(o, "nil", mr->nil);
    cJSON *cs = cJSON_AddArrayToObject(o, "candidates");
    for (size_t k = 0; k < mr->n_candidates && cs; k++) {
        const pe_link_candidate *x = &mr->candidates[k];
        cJSON *c = cJSON_CreateObject();
        if (!c) break;
        cJSON_AddNumberToObject(c, "rank", (double)k);
        cJSON_AddStringToObject(c, "qid", x->qid);
        cJSON_AddStringToObject(c, "label", x->label ? x->label : "");
        cJSON_AddNumberToObject(c, "score", x->score);
        if (x->rerank != x->score) cJSON_AddNumberToObject(c, "rerank", x->rerank);
        cJSON_AddNumberToObject(c, "prior", x->prior);
        cJSON_AddNumberToObject(c, "via", x->via);
        cJSON *f = cJSON_AddObjectToObject(c, "f");
        for (int q = 0; q < PE_LINK_NFEATURES && f; q++)
            if (x->f[q] != 0) cJSON_AddNumberToObject(f, pe_link_feature_name((pe_link_feature)q), x->f[q]);
        cJSON_AddItemToArray(cs, c);
    }
    char *s = cJSON_PrintUnformatted(o);
    if (s) fprintf(tf, "%s\n", s);
    free(s);
    cJSON_Delete(o);
}

/* Reads one line of any length into *buf; 0 at EOF. */
static ssize_t read_line(FILE *f, char **buf, size_t *cap)
{
    return getline(buf, cap, f);
}

/* 1 when a sentence ends before byte i: ". ", "? ", "! " or a line break. */
static int sentence_break(const char *t, size_t i)
{
    return i > 0 && (t[i - 1] == '\n' || (i > 1 && t[i - 1] == ' ' && (t[i - 2] == '.' || t[i - 2] == '?' || t[i - 2] == '!')));
}

/* Links each sentence of the text (with its mentions) as a text of its own,
 * as a short text such as a tweet is linked; one result in the order of
 * the mentions, spans in the whole text. */
static pe_status link_sentences(pe_linker *l, const char *text, size_t len, const pe_link_mention *ms, size_t n,
                                pe_link_result **out)
{
    *out = NULL;
    pe_link_result *all = calloc(1, sizeof *all);
    pe_link_mention *sub = malloc((n ? n : 1) * sizeof *sub);
    if (all) all->mentions = calloc(n ? n : 1, sizeof *all->mentions);
    if (!all || !sub || !all->mentions) {
        if (all) free(all->mentions);
        free(all);
        free(sub);
        return PE_ERR_NOMEM;
    }
    pe_status st = PE_OK;
    size_t i = 0;
    while (i < n && st == PE_OK) {
        /* the sentence of mention i, and the mentions after it that start in it
         * (mentions out of order make more, smaller groups) */
        size_t a = ms[i].start, b = ms[i].end;
        while (a > 0 && !sentence_break(text, a)) a--;
        while (b < len && !sentence_break(text, b)) b++;
        size_t k = i;
        while (k < n && ms[k].start >= a && ms[k].start < b) {
            if (ms[k].end > b) b = ms[k].end;
            sub[k - i] = ms[k];
            sub[k - i].start -= a;
            sub[k - i].end -= a;
            k++;
        }
        pe_link_result *r = NULL;
        st = link_text_keep(l, NULL, text + a, b - a, sub, k - i, PE_LINK_MAX_K, &r);
        if (st == PE_OK) {
            for (size_t q = 0; q < k - i; q++) {
                all->mentions[i + q] = r->mentions[q];
                all->mentions[i + q].start += a;
                all->mentions[i + q].end += a;
            }
            all->n = k;
            free(r->mentions);
            free(r);
        }
        i = k;
    }
    free(sub);
    if (st != PE_OK) { pe_link_result_free(all); return st; }
    *out = all;
    return PE_OK;
}

pe_status pe_link_eval_file(pe_linker *l, const char *path, const pe_link_eval_options *opt,
                            pe_link_eval_result *out, pe_error *err)
{
    if (!l || !path || !out) return pe_error_set(err, PE_ERR_INVALID, "no linker, path or result");
    pe_link_eval_options o = opt ? *opt : pe_link_eval_options_default();
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) return pe_error_set(err, PE_ERR_IO, "%s: %s", path, strerror(errno));
    pe_kg *kg = link_linker_kg(l);
    FILE *tf = NULL;
    if (o.trace && !(tf = fopen(o.trace, "ab"))) {
        fclose(f);
        return pe_error_set(err, PE_ERR_IO, "%s: %s", o.trace, strerror(errno));
    }
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    pe_kg_reader *r = NULL;
    pe_status st = pe_kg_reader_begin(kg, &r);
    if (st != PE_OK) {
        fclose(f);
        if (tf) fclose(tf);
        return pe_error_set(err, st, "%s", pe_kg_errmsg(kg));
    }
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    size_t *char_off = NULL, coff_cap = 0;
    pe_link_mention *ms = NULL;
    gold *golds = NULL;
    size_t mcap = 0;
    ssize_t len;
    while ((len = read_line(f, &line, &cap)) > 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (len == 0) continue;
        if (o.max_docs && out->docs >= o.max_docs) break;
        cJSON *j = cJSON_ParseWithLength(line, (size_t)len);
        const cJSON *text = j ? cJSON_GetObjectItemCaseSensitive(j, "text") : NULL;
        const cJSON *labels = j ? cJSON_GetObjectItemCaseSensitive(j, "labels") : NULL;
        const char *why = !j ? "not JSON" : !cJSON_IsString(text) ? "no \"text\" string"
                        : !cJSON_IsArray(labels) ? "no \"labels\" array" : NULL;
        size_t tlen = text && cJSON_IsString(text) ? strlen(text->valuestring) : 0;
        if (!why && !pe_utf8_valid(text->valuestring, tlen, NULL)) why = "text is not valid UTF-8";
        /* character -> byte offsets */
        size_t nchars = 0;
        if (!why) {
            if (tlen + 2 > coff_cap) {
                size_t nc = tlen + 2;
                size_t *x = realloc(char_off, nc * sizeof *x);
                if (!x) { cJSON_Delete(j); st = pe_error_set(err, PE_ERR_NOMEM, "out of memory"); break; }
                char_off = x;
                coff_cap = nc;
            }
            for (size_t b = 0; b < tlen; b++)
                if (((unsigned char)text->valuestring[b] & 0xC0) != 0x80) char_off[nchars++] = b;
            char_off[nchars] = tlen;
        }
        size_t nl = labels && cJSON_IsArray(labels) ? (size_t)cJSON_GetArraySize(labels) : 0;
        if (!why && nl > mcap) {
            pe_link_mention *a = realloc(ms, nl * sizeof *a);
            if (a) ms = a;
            gold *g = realloc(golds, nl * sizeof *g);
            if (g) golds = g;
            if (!a || !g) { cJSON_Delete(j); st = pe_error_set(err, PE_ERR_NOMEM, "out of memory"); break; }
            mcap = nl;
        }
        size_t n = 0;
        uint64_t skipped = 0;
        const cJSON *lb = NULL; /* walked, not indexed: cJSON_GetArrayItem is linear */
        for (size_t i = 0; i < nl && !why; i++) {
            lb = lb ? lb->next : labels->child;
            const cJSON *span = cJSON_GetObjectItemCaseSensitive(lb, "span");
            const cJSON *eid = cJSON_GetObjectItemCaseSensitive(lb, "entity_id");
            const cJSON *coref = cJSON_GetObjectItemCaseSensitive(lb, "coref");
            const cJSON *type = cJSON_GetObjectItemCaseSensitive(lb, "type");
            if (!cJSON_IsArray(span) || cJSON_GetArraySize(span) != 2 || !cJSON_IsString(eid)) {
                why = "a label without \"span\" [start, end] or \"entity_id\"";
                break;
            }
            double s = cJSON_GetArrayItem(span, 0)->valuedouble, e = cJSON_GetArrayItem(span, 1)->valuedouble;
            if (!(s >= 0 && e > s && e <= (double)nchars)) { why = "a label span outside the text"; break; }
            const char *q = eid->valuestring;
            if (strcmp(q, "QUANTITY") == 0 || strcmp(q, "DATETIME") == 0 || strcmp(q, "<NO_MAPPING>") == 0 ||
                cJSON_IsTrue(coref) || cJSON_GetObjectItemCaseSensitive(lb, "parent")) {
                skipped++;
                continue;
            }
            pe_link_mention *m = &ms[n];
            m->start = char_off[(size_t)s];
            m->end = char_off[(size_t)e];
            m->type = o.gold_types && cJSON_IsString(type) ? gold_type(type->valuestring) : PE_LINK_TYPE_ANY;
            m->expected = 0;
            gold *g = &golds[n];
            g->id = 0;
            g->in_graph = 0;
            g->qid = q;
            if (q[0] == 'Q' && pe_kg_resolve(r, q, strlen(q), &g->id) == PE_OK) {
                pe_kg_entity *rec = NULL;
                if (pe_kg_entity_get(r, g->id, &rec) == PE_OK) g->in_graph = rec->kind != PE_KG_KIND_UNKNOWN;
                pe_kg_entity_free(rec);
            }
            n++;
        }
        if (why) {
            out->skipped_lines++;
            if (!out->first_error[0]) snprintf(out->first_error, sizeof out->first_error, "%s:%zu: %s", path, lineno, why);
            cJSON_Delete(j);
            if (o.strict) { st = pe_error_set(err, PE_ERR_PARSE, "%s:%zu: %s", path, lineno, why); break; }
            continue;
        }
        out->skipped_labels += skipped;
        out->docs++;
        if (n == 0) { cJSON_Delete(j); continue; }
        pe_link_result *res = NULL;
        double t0 = pe_now();
        st = o.sentences ? link_sentences(l, text->valuestring, tlen, ms, n, &res)
                         : link_text_keep(l, NULL, text->valuestring, tlen, ms, n, PE_LINK_MAX_K, &res);
        out->seconds += pe_now() - t0;
        if (st != PE_OK) {
            out->skipped_lines++;
            if (!out->first_error[0])
                snprintf(out->first_error, sizeof out->first_error, "%s:%zu: %s", path, lineno, pe_linker_errmsg(l));
            cJSON_Delete(j);
            if (o.strict || st == PE_ERR_NOMEM || st == PE_ERR_STORE || st == PE_ERR_CORRUPT) {
                st = pe_error_set(err, st, "%s:%zu: %s", path, lineno, pe_linker_errmsg(l));
                break;
            }
            st = PE_OK;
            continue;
        }
        for (size_t i = 0; i < n; i++) {
            const pe_link_mention_result *mr = &res->mentions[i];
            const gold *g = &golds[i];
            out->mentions++;
            int gold_ix = -1;
            for (size_t k = 0; k < mr->n_candidates && g->in_graph; k++)
                if (mr->candidates[k].id == g->id) gold_ix = (int)k;
            if (g->in_graph) {
                out->in_graph++;
                out->gold_in_candidates += gold_ix >= 0;
                if (mr->entity && mr->entity->id == g->id) out->correct++;
                /* most popular candidate of the mention's own form */
                pe_kg_candidate top;
                size_t nt = 0;
                pe_kg_lookup_options lo = {0, 1};
                if (pe_kg_lookup(r, text->valuestring + ms[i].start, ms[i].end - ms[i].start, &lo, &top, 1, &nt) ==
                        PE_OK && nt == 1 && top.id == g->id)
                    out->prior_correct++;
            } else {
                out->nil_gold++;
            }
            if (tf) trace_mention(tf, base, lineno, text->valuestring, tlen, &ms[i], g, mr, gold_ix);
            if (mr->nil) {
                out->nil_predicted++;
                out->nil_correct += !g->in_graph;
            }
            if (o.collect) {
                double *fs = malloc((mr->n_candidates ? mr->n_candidates : 1) * PE_LINK_NFEATURES * sizeof *fs);
                if (!fs) { st = pe_error_set(err, PE_ERR_NOMEM, "out of memory"); break; }
                for (size_t k = 0; k < mr->n_candidates; k++)
                    memcpy(fs + k * PE_LINK_NFEATURES, mr->candidates[k].f, sizeof mr->candidates[k].f);
                st = pe_link_trainset_add(o.collect, fs, mr->n_candidates, gold_ix);
                free(fs);
                if (st != PE_OK) { pe_error_set(err, st, "collecting training data failed"); break; }
            }
        }
        pe_link_result_free(res);
        cJSON_Delete(j);
        if (st != PE_OK) break;
    }
    if (st == PE_OK && ferror(f)) st = pe_error_set(err, PE_ERR_IO, "%s: read error", path);
    fclose(f);
    if (tf && fclose(tf) != 0 && st == PE_OK) st = pe_error_set(err, PE_ERR_IO, "%s: write error", o.trace);
    free(line);
    free(char_off);
    free(ms);
    free(golds);
    pe_kg_reader_end(r);
    out->correct_overall = out->correct + out->nil_correct;
    if (out->in_graph) {
        out->in_graph_accuracy = (double)out->correct / (double)out->in_graph;
        out->prior_baseline_in_graph_accuracy = (double)out->prior_correct / (double)out->in_graph;
        out->candidate_recall = (double)out->gold_in_candidates / (double)out->in_graph;
    }
    if (out->nil_predicted) out->nil_precision = (double)out->nil_correct / (double)out->nil_predicted;
    if (out->nil_gold) out->nil_recall = (double)out->nil_correct / (double)out->nil_gold;
    if (out->mentions) out->overall_accuracy = (double)out->correct_overall / (double)out->mentions;
    if (out->seconds > 0) out->mentions_per_s = (double)out->mentions / out->seconds;
    return st;
}

/* ---- pe_link_train_file -------------------------------------------------- */

pe_link_train_file_options pe_link_train_file_options_default(void)
{
    pe_link_train_file_options o = {0};
    o.train = pe_link_train_options_default();
    o.link = pe_link_options_default();
    o.rounds = 2;
    o.sentences = 1;
    return o;
}

pe_status pe_link_train_file(pe_kg *kg, const char *path, const pe_link_train_file_options *opt,
                             pe_link_model *m, pe_link_train_file_result *res, pe_error *err)
{
    pe_error_clear(err);
    if (res) memset(res, 0, sizeof *res);
    pe_error e; /* err may be NULL */
    pe_error_clear(&e);
    if (!kg || !path || !m) return pe_error_set(err, PE_ERR_INVALID, "pe_link_train_file: NULL argument");
    pe_link_train_file_options o = opt ? *opt : pe_link_train_file_options_default();
    if (o.rounds < 1 || o.rounds > 16)
        return pe_error_set(err, PE_ERR_INVALID, "pe_link_train_file: rounds %d (1..16)", o.rounds);
    pe_link_train_file_result r;
    memset(&r, 0, sizeof r);
    pe_status st = PE_OK;
    for (int round = 0; round < o.rounds && st == PE_OK; round++) {
        double t0 = pe_now();
        pe_linker *l = NULL;
        /* the first round links by prior, each later one with the ranker
         * fitted the round before */
        st = pe_linker_open(kg, round ? m : NULL, &o.link, &l);
        if (st != PE_OK) {
            pe_error_set(&e, st, "%s", l ? pe_linker_errmsg(l) : "cannot open the linker");
            pe_linker_close(l);
            break;
        }
        pe_link_trainset *ts = NULL;
        if ((st = pe_link_trainset_new(&ts)) != PE_OK) {
            pe_error_set(&e, st, "out of memory");
            pe_linker_close(l);
            break;
        }
        pe_link_eval_options eo = pe_link_eval_options_default();
        eo.collect = ts;
        eo.gold_types = o.gold_types;
        eo.max_docs = o.max_docs;
        pe_link_eval_result er;
        st = pe_link_eval_file(l, path, &eo, &er, &e);
        if (st == PE_OK && round == 0) {
            r.skipped_lines = er.skipped_lines;
            snprintf(r.first_error, sizeof r.first_error, "%s", er.first_error);
        }
        if (st == PE_OK && o.sentences) {
            eo.sentences = 1;
            st = pe_link_eval_file(l, path, &eo, &er, &e);
        }
        pe_linker_close(l);
        if (st == PE_OK) {
            pe_link_train_options to = o.train;
            /* the reranker does not change what the next round collects (type
             * coherence reads the scores): it is fitted in the last round only */
            if (round < o.rounds - 1) to.hidden = 0;
            double t1 = pe_now();
            st = pe_link_train(ts, &to, m, &e);
            if (st == PE_OK) {
                r.mentions = pe_link_trainset_mentions(ts);
                const char *base = strrchr(path, '/');
                snprintf(m->trained_on, sizeof m->trained_on, "%s (%zu mentions)%s", base ? base + 1 : path, r.mentions,
                         o.gold_types ? ", gold types" : "");
                double now = pe_now();
                pe_link_train_round tr = {round, o.rounds, r.mentions, now - t0, now - t1};
                if (o.on_round && (st = o.on_round(o.ctx, &tr, m, &e)) != PE_OK && !e.msg[0])
                    pe_error_set(&e, st, "training stopped after round %d", round + 1);
            }
        }
        pe_link_trainset_free(ts);
    }
    if (res) *res = r;
    if (st != PE_OK && err) *err = e;
    return st;
}
