/* test_personastore.c - the persona store through its public API: upsert
 * with evidence, idempotence, functional attributes and history, retract,
 * withhold, masking, the audit chain against bytes tampered with on disk,
 * forget proven by scanning the store's files, layout versions, readers
 * beside a writer in threads and in another process, PROV-O export checked
 * with raptor2 (Turtle) and cJSON (JSON-LD, the same triples). */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <lmdb.h>
#include <math.h>
#include <pthread.h>
#include <raptor2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pe_personastore.h"
#include "pe_test.h"
#include "pe_util.h"

static char g_root[64];
static int g_seq;

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    return remove(p);
}
static void rm_rf(const char *p) { nftw(p, rm_cb, 16, FTW_DEPTH | FTW_PHYS); }

static const char *newdir(char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/s%d", g_root, ++g_seq);
    return buf;
}

static pe_ps *open_at(const char *dir)
{
    pe_ps *ps = NULL;
    pe_error err;
    pe_ps_options o = pe_ps_options_default();
    o.map_size = (size_t)64 << 20;
    pe_status st = pe_ps_open(dir, &o, &ps, &err);
    PE_CHECK_MSG(st == PE_OK && ps, "open %s: %s", dir, err.msg);
    return ps;
}

static pe_ps *open_new(char *dir, size_t cap) { return open_at(newdir(dir, cap)); }

static pe_ps_evidence evidence(const char *msg, double t, const char *snippet)
{
    pe_ps_evidence ev;
    memset(&ev, 0, sizeof ev);
    ev.message_id = msg;
    ev.message_time = t;
    ev.span_start = 10;
    ev.span_end = 10 + (uint32_t)(snippet ? strlen(snippet) : 0);
    ev.snippet = snippet;
    ev.model_id = "persona-rel";
    ev.model_version = "1.2";
    ev.relation_score = 0.9;
    ev.ner_score = NAN;
    ev.link_score = NAN;
    ev.rule = "map_relation";
    return ev;
}

static pe_ps_upsert upsert(const char *user, const char *attr, const char *value, double conf, int functional)
{
    pe_ps_upsert u;
    memset(&u, 0, sizeof u);
    u.user = user;
    u.attribute = attr;
    u.value = value;
    u.confidence = conf;
    u.functional = functional;
    u.sensitivity = functional ? PE_PS_SENS_PERSONAL : PE_PS_SENS_NONE;
    return u;
}

/* One upsert in its own writer; returns the outcome (-1 on failure). */
static int put1(pe_ps *ps, const char *user, const char *attr, const char *value, const char *msg, double t,
                int functional)
{
    pe_ps_writer *w;
    if (pe_ps_writer_begin(ps, &w) != PE_OK) return -1;
    pe_ps_upsert up = upsert(user, attr, value, 0.7, functional);
    pe_ps_evidence ev = evidence(msg, t, value);
    pe_ps_upsert_result res;
    pe_status st = pe_ps_upsert_attr(w, &up, &ev, &res);
    PE_CHECK_MSG(st == PE_OK, "upsert: %s", pe_ps_errmsg(ps));
    if (st != PE_OK) {
        pe_ps_writer_abort(w);
        return -1;
    }
    st = pe_ps_writer_commit(w);
    PE_CHECK_MSG(st == PE_OK, "commit: %s", pe_ps_errmsg(ps));
    return st == PE_OK ? (int)res.outcome : -1;
}

static pe_ps_stats stats(pe_ps *ps)
{
    pe_ps_stats s;
    memset(&s, 0, sizeof s);
    pe_ps_reader *r;
    if (pe_ps_reader_begin(ps, &r) == PE_OK) {
        PE_CHECK(pe_ps_stats_get(r, &s) == PE_OK);
        pe_ps_reader_end(r);
    }
    return s;
}

static pe_status verify(pe_ps *ps, pe_ps_verify_result *vr)
{
    pe_ps_reader *r;
    pe_status st = pe_ps_reader_begin(ps, &r);
    if (st != PE_OK) return st;
    st = pe_ps_audit_verify(r, vr);
    pe_ps_reader_end(r);
    return st;
}

/* ---- masking -------------------------------------------------------------------- */

static void check_mask(const char *in, const char *want, size_t want_n)
{
    size_t n = 0, len = 0;
    char *got = pe_ps_mask_identifiers(in, strlen(in), &len, &n);
    PE_CHECK_EQ_STR(got, want);
    PE_CHECK_EQ_INT(n, want_n);
    PE_CHECK_EQ_INT(len, got ? strlen(got) : 0);
    free(got);
}

static void test_mask(void)
{
    check_mask("mail me at john.doe+x@mail.example.co.uk please", "mail me at [email] please", 1);
    check_mask("a@b.cc.", "[email].", 1);
    check_mask("not an address: foo@bar, @home, x@y.1", "not an address: foo@bar, @home, x@y.1", 0);
    check_mask("call +1 (555) 123-4567 now", "call [number] now", 1);
    check_mask("call 555-123-4567.", "call [number].", 1);
    check_mask("06 12 34 56 78 or 0612345678", "[number] or [number]", 2);
    check_mask("card 4111 1111 1111 1111", "card [number]", 1);
    check_mask("from 192.168.1.20, ok", "from [ip], ok", 1);
    check_mask("IBAN DE89 3704 0044 0532 0130 00 thanks", "IBAN [iban] thanks", 1);
    check_mask("iban GB82WEST12345698765432", "iban [iban]", 1);
    /* not identifiers: ages, years, prices, dates, versions, short codes */
    check_mask("i'm 25, born 1999, paid $120000 on 2024-01-31 or 31/01/2024 v1.2.3 room 12-34",
               "i'm 25, born 1999, paid $120000 on 2024-01-31 or 31/01/2024 v1.2.3 room 12-34", 0);
    check_mask("abc1234567", "abc1234567", 0); /* inside a word */
    check_mask("Zürich 0441234567 ☎", "Zürich [number] ☎", 1);
    check_mask("", "", 0);
    /* spans overlapping an identifier */
    const char *t = "i'm 34, write to alice.martin@example.com or call 555-123-4567";
    const size_t tl = strlen(t), at = (size_t)(strstr(t, "alice") - t), ph = (size_t)(strstr(t, "555") - t);
    PE_CHECK_EQ_INT(pe_ps_overlaps_identifier(t, tl, at, at + 5), 1);         /* alice */
    PE_CHECK_EQ_INT(pe_ps_overlaps_identifier(t, tl, at + 30, at + 31), 0);   /* after the address */
    PE_CHECK_EQ_INT(pe_ps_overlaps_identifier(t, tl, at - 3, at - 1), 0);     /* "to" */
    PE_CHECK_EQ_INT(pe_ps_overlaps_identifier(t, tl, at - 3, at + 1), 1);     /* reaches into it */
    PE_CHECK_EQ_INT(pe_ps_overlaps_identifier(t, tl, ph + 4, ph + 7), 1);     /* inside the number */
    PE_CHECK_EQ_INT(pe_ps_overlaps_identifier(t, tl, 4, 6), 0);               /* 34: no identifier */
    PE_CHECK_EQ_INT(pe_ps_overlaps_identifier(t, tl, 5, 5), 0);               /* empty */
}

/* ---- upsert, listing, evidence ------------------------------------------------------- */

static void test_upsert_and_list(void)
{
    char dir[128];
    pe_ps *ps = open_new(dir, sizeof dir);
    if (!ps) return;
    pe_ps_writer *w;
    PE_CHECK(pe_ps_writer_begin(ps, &w) == PE_OK);
    pe_ps_upsert up = upsert("u1", "residence", "  New   YORK ", 0.8, 1);
    up.relation = "live_in_citystatecountry";
    up.entity = "Q60";
    pe_ps_fact facts[2] = {{"Q60", "P17", "Q30", "wikidata-20240501.json.gz", "2024-05-01"},
                           {"Q60", "P31", "Q515", "wikidata-20240501.json.gz", NULL}};
    pe_ps_evidence ev = evidence("m1", 1700000000, "i live in new york, mail me at joe@example.com");
    ev.entity = "Q60";
    ev.link_score = 0.88;
    ev.ner_score = 0.97;
    ev.facts = facts;
    ev.n_facts = 2;
    pe_ps_upsert_result res;
    PE_CHECK(pe_ps_upsert_attr(w, &up, &ev, &res) == PE_OK);
    PE_CHECK_EQ_INT(res.outcome, PE_PS_ADDED);
    PE_CHECK(res.audit_seq == 1 && res.attr_id > 0);
    /* second value of a multi-valued attribute, second evidence later */
    pe_ps_upsert up2 = upsert("u1", "like_food", "Sushi", 0.6, 0);
    pe_ps_evidence ev2 = evidence("m2", 1700000100, "i love sushi");
    ev2.method = PE_PS_FROM_PATTERN;
    PE_CHECK(pe_ps_upsert_attr(w, &up2, &ev2, &res) == PE_OK && res.outcome == PE_PS_ADDED);
    pe_ps_evidence ev3 = evidence("m3", 1690000000, "sushi again");
    up2.confidence = 0.75;
    PE_CHECK(pe_ps_upsert_attr(w, &up2, &ev3, &res) == PE_OK && res.outcome == PE_PS_UPDATED);
    PE_CHECK(pe_ps_upsert_attr(w, &up2, &ev3, &res) == PE_OK && res.outcome == PE_PS_UNCHANGED); /* same writer */

    /* the writer's reader sees its uncommitted state; another reader does not */
    pe_ps_attr_list *l = NULL;
    PE_CHECK(pe_ps_attributes(pe_ps_writer_reader(w), "u1", NULL, 0, &l) == PE_OK && l && l->n == 2);
    pe_ps_attr_list_free(l);
    pe_ps_reader *r;
    PE_CHECK(pe_ps_reader_begin(ps, &r) == PE_OK);
    PE_CHECK(pe_ps_attributes(r, "u1", NULL, 0, &l) == PE_NOT_FOUND && l == NULL);
    pe_ps_reader_end(r);
    PE_CHECK(pe_ps_writer_commit(w) == PE_OK);

    PE_CHECK(pe_ps_reader_begin(ps, &r) == PE_OK);
    PE_CHECK(pe_ps_attributes(r, "u1", NULL, PE_PS_LIST_EVIDENCE, &l) == PE_OK);
    pe_ps_reader_end(r); /* the list outlives the reader */
    PE_CHECK(l && l->n == 2);
    if (l && l->n == 2) {
        PE_CHECK_EQ_STR(l->user, "u1");
        const pe_ps_attr *a = &l->attrs[0];
        PE_CHECK_EQ_STR(a->attribute, "residence");
        PE_CHECK_EQ_STR(a->relation, "live_in_citystatecountry");
        PE_CHECK_EQ_STR(a->value, "new york");
        PE_CHECK_EQ_STR(a->entity, "Q60");
        PE_CHECK_NEAR(a->confidence, 0.8, 1e-12);
        PE_CHECK(a->functional && a->state == PE_PS_CURRENT && a->sensitivity == PE_PS_SENS_PERSONAL);
        PE_CHECK(a->first_seen == 1700000000 && a->last_seen == 1700000000 && a->replaced_by == NULL);
        PE_CHECK(a->n_evidence == 1 && a->evidence);
        if (a->n_evidence == 1) {
            const pe_ps_evidence *e = &a->evidence[0];
            PE_CHECK_EQ_STR(e->message_id, "m1");
            PE_CHECK_EQ_STR(e->snippet, "i live in new york, mail me at [email]");
            PE_CHECK_EQ_STR(e->model_id, "persona-rel");
            PE_CHECK_EQ_STR(e->model_version, "1.2");
            PE_CHECK_EQ_STR(e->entity, "Q60");
            PE_CHECK_EQ_STR(e->rule, "map_relation");
            PE_CHECK(e->replaced == NULL && e->method == PE_PS_FROM_MODEL);
            PE_CHECK(e->span_start == 10 && e->span_end == 10 + strlen(ev.snippet));
            PE_CHECK_NEAR(e->relation_score, 0.9, 0);
            PE_CHECK_NEAR(e->ner_score, 0.97, 0);
            PE_CHECK_NEAR(e->link_score, 0.88, 0);
            PE_CHECK(e->recorded > 1.7e9);
            PE_CHECK(e->n_facts == 2);
            if (e->n_facts == 2) {
                PE_CHECK_EQ_STR(e->facts[0].predicate, "P17");
                PE_CHECK_EQ_STR(e->facts[0].object, "Q30");
                PE_CHECK_EQ_STR(e->facts[0].dump_date, "2024-05-01");
                PE_CHECK_EQ_STR(e->facts[1].source, "wikidata-20240501.json.gz");
                PE_CHECK(e->facts[1].dump_date == NULL);
            }
        }
        const pe_ps_attr *b = &l->attrs[1];
        PE_CHECK_EQ_STR(b->value, "sushi");
        PE_CHECK(b->relation == NULL && b->entity == NULL && !b->functional);
        PE_CHECK_NEAR(b->confidence, 0.75, 1e-12);
        PE_CHECK(b->first_seen == 1690000000 && b->last_seen == 1700000100);
        PE_CHECK(b->n_evidence == 2);
        if (b->n_evidence == 2) {
            PE_CHECK_EQ_STR(b->evidence[0].message_id, "m2");
            PE_CHECK(b->evidence[0].method == PE_PS_FROM_PATTERN && isnan(b->evidence[0].ner_score));
            PE_CHECK_EQ_STR(b->evidence[1].message_id, "m3");
        }
    }
    pe_ps_attr_list_free(l);

    /* filtered by attribute; users listed */
    PE_CHECK(pe_ps_reader_begin(ps, &r) == PE_OK);
    PE_CHECK(pe_ps_attributes(r, "u1", "like_food", 0, &l) == PE_OK && l->n == 1 && l->attrs[0].evidence == NULL);
    pe_ps_attr_list_free(l);
    PE_CHECK(pe_ps_attributes(r, "u1", "pets", 0, &l) == PE_OK && l->n == 0);
    pe_ps_attr_list_free(l);
    const char *u = NULL;
    PE_CHECK(pe_ps_user_next(r, NULL, &u) == PE_OK);
    PE_CHECK_EQ_STR(u, "u1");
    PE_CHECK(pe_ps_user_next(r, "u1", &u) == PE_DONE);
    pe_ps_stats s;
    PE_CHECK(pe_ps_stats_get(r, &s) == PE_OK);
    PE_CHECK(s.users == 1 && s.attributes == 2 && s.evidence == 3 && s.audit_records == 3 && s.history == 3);
    PE_CHECK(!s.rebuild_pending && s.store_bytes > 0);
    pe_ps_audit_record ar;
    PE_CHECK(pe_ps_audit_get(r, 1, &ar) == PE_OK);
    char ref[65];
    pe_ps_user_ref("u1", ref);
    PE_CHECK(ar.kind == PE_PS_ADD && ar.seq == 1 && strcmp(ar.user_ref, ref) == 0);
    PE_CHECK_EQ_STR(ar.attribute, "residence");
    PE_CHECK_EQ_STR(ar.relation, "live_in_citystatecountry");
    PE_CHECK_EQ_STR(ar.rule, "map_relation");
    PE_CHECK(strlen(ar.value_digest) == 64 && strlen(ar.message_digest) == 64 && ar.old_value_digest[0] == 0);
    PE_CHECK(strspn(ar.prev, "0") == 64);
    PE_CHECK(pe_ps_audit_get(r, 4, &ar) == PE_NOT_FOUND);
    pe_ps_reader_end(r);
    pe_ps_close(ps);

    /* persistence */
    ps = open_at(dir);
    PE_CHECK(stats(ps).evidence == 3);
    PE_CHECK(verify(ps, NULL) == PE_OK);
    pe_ps_close(ps);
}

/* ---- idempotence ------------------------------------------------------------------------ */

static void test_idempotent(void)
{
    char dir[128];
    pe_ps *ps = open_new(dir, sizeof dir);
    if (!ps) return;
    PE_CHECK_EQ_INT(put1(ps, "u1", "have_pet", "Dog", "m1", 100, 0), PE_PS_ADDED);
    pe_ps_stats before = stats(ps);
    /* same (user, message, attribute, value): nothing changes, even with
     * another confidence and the value written differently */
    pe_ps_writer *w;
    PE_CHECK(pe_ps_writer_begin(ps, &w) == PE_OK);
    pe_ps_upsert up = upsert("u1", "have_pet", " DOG ", 0.1, 0);
    pe_ps_evidence ev = evidence("m1", 999, "dog");
    pe_ps_upsert_result res;
    PE_CHECK(pe_ps_upsert_attr(w, &up, &ev, &res) == PE_OK);
    PE_CHECK(res.outcome == PE_PS_UNCHANGED && res.audit_seq == 0 && res.attr_id > 0);
    PE_CHECK(pe_ps_writer_commit(w) == PE_OK);
    pe_ps_stats after = stats(ps);
    PE_CHECK(memcmp(&before.users, &after.users, offsetof(pe_ps_stats, rebuild_pending)) == 0);
    pe_ps_reader *r;
    pe_ps_attr_list *l;
    PE_CHECK(pe_ps_reader_begin(ps, &r) == PE_OK);
    PE_CHECK(pe_ps_attributes(r, "u1", NULL, 0, &l) == PE_OK && l->n == 1);
    PE_CHECK_NEAR(l->attrs[0].confidence, 0.7, 1e-12);
    PE_CHECK(l->attrs[0].last_seen == 100);
    pe_ps_attr_list_free(l);
    pe_ps_reader_end(r);
    /* another message, or another value from the same message, does count */
    PE_CHECK_EQ_INT(put1(ps, "u1", "have_pet", "dog", "m2", 200, 0), PE_PS_UPDATED);
    PE_CHECK_EQ_INT(put1(ps, "u1", "have_pet", "cat", "m1", 100, 0), PE_PS_ADDED);
    PE_CHECK(stats(ps).evidence == 3 && stats(ps).audit_records == 3);
    pe_ps_close(ps);
}

/* ---- functional attributes, history, retract ------------------------------------------------ */

static void test_functional_history_retract(void)
{
    char dir[128];
    pe_ps *ps = open_new(dir, sizeof dir);
    if (!ps) return;
    PE_CHECK_EQ_INT(put1(ps, "u1", "residence", "Paris", "m1", 100, 1), PE_PS_ADDED);
    PE_CHECK_EQ_INT(put1(ps, "u1", "residence", "London", "m2", 200, 1), PE_PS_REPLACED);
    /* an alternative that does not win */
    pe_ps_writer *w;
    PE_CHECK(pe_ps_writer_begin(ps, &w) == PE_OK);
    pe_ps_upsert up = upsert("u1", "residence", "Berlin", 0.2, 1);
    up.keep_current = 1;
    pe_ps_evidence ev = evidence("m3", 300, "berlin");
    pe_ps_upsert_result res;
    PE_CHECK(pe_ps_upsert_attr(w, &up, &ev, &res) == PE_OK && res.outcome == PE_PS_ADDED);
    PE_CHECK(pe_ps_writer_commit(w) == PE_OK);
    /* Paris back: London goes to history */
    PE_CHECK_EQ_INT(put1(ps, "u1", "residence", "paris", "m4", 400, 1), PE_PS_REPLACED);

    pe_ps_reader *r;
    pe_ps_attr_list *l;
    PE_CHECK(pe_ps_reader_begin(ps, &r) == PE_OK);
    PE_CHECK(pe_ps_attributes(r, "u1", "residence", 0, &l) == PE_OK);
    PE_CHECK(l->n == 1 && strcmp(l->attrs[0].value, "paris") == 0 && l->attrs[0].n_evidence == 2);
    pe_ps_attr_list_free(l);
    PE_CHECK(pe_ps_attributes(r, "u1", "residence", PE_PS_LIST_HISTORY | PE_PS_LIST_EVIDENCE, &l) == PE_OK);
    PE_CHECK(l->n == 3);
    if (l->n == 3) {
        PE_CHECK(l->attrs[0].state == PE_PS_CURRENT && l->attrs[0].replaced_by == NULL);
        PE_CHECK_EQ_STR(l->attrs[0].evidence[1].replaced, "london");
        PE_CHECK(l->attrs[0].evidence[0].replaced == NULL);
        PE_CHECK(l->attrs[1].state == PE_PS_HISTORY);
        PE_CHECK_EQ_STR(l->attrs[1].value, "london");
        PE_CHECK_EQ_STR(l->attrs[1].replaced_by, "paris");
        PE_CHECK_EQ_STR(l->attrs[1].evidence[0].replaced, "paris");
        PE_CHECK(l->attrs[2].state == PE_PS_HISTORY && l->attrs[2].replaced_by == NULL);
    }
    pe_ps_attr_list_free(l);
    pe_ps_history *h;
    PE_CHECK(pe_ps_history_get(r, "u1", "residence", &h) == PE_OK);
    /* add paris; london replaces paris (2); add berlin; paris replaces london (2) */
    PE_CHECK_EQ_INT(h->n, 6);
    if (h->n == 6) {
        PE_CHECK(h->changes[0].kind == PE_PS_ADD && strcmp(h->changes[0].value, "paris") == 0);
        PE_CHECK(h->changes[1].kind == PE_PS_UPDATE && h->changes[1].state == PE_PS_HISTORY);
        PE_CHECK_EQ_STR(h->changes[1].value, "paris");
        PE_CHECK_EQ_STR(h->changes[1].reason, "replaced");
        PE_CHECK(h->changes[2].kind == PE_PS_ADD && h->changes[2].state == PE_PS_CURRENT);
        PE_CHECK_EQ_STR(h->changes[2].old_value, "paris");
        PE_CHECK_EQ_STR(h->changes[2].message_id, "m2");
        PE_CHECK(h->changes[3].state == PE_PS_HISTORY);
        PE_CHECK_EQ_STR(h->changes[5].old_value, "london");
        for (size_t i = 1; i < h->n; i++) PE_CHECK(h->changes[i].audit_seq > h->changes[i - 1].audit_seq);
    }
    pe_ps_history_free(h);
    pe_ps_reader_end(r);

    /* retract: one value, then every current value */
    PE_CHECK_EQ_INT(put1(ps, "u1", "like_food", "pizza", "m5", 500, 0), PE_PS_ADDED);
    PE_CHECK_EQ_INT(put1(ps, "u1", "like_food", "pasta", "m6", 500, 0), PE_PS_ADDED);
    PE_CHECK(pe_ps_writer_begin(ps, &w) == PE_OK);
    pe_ps_cause why = {.rule = "negation", .reason = "negated", .message_id = "m7", .message_time = 600};
    size_t n = 0;
    PE_CHECK(pe_ps_retract(w, "u1", "residence", "Paris", &why, &n) == PE_OK && n == 1);
    PE_CHECK(pe_ps_retract(w, "u1", "residence", "paris", &why, &n) == PE_NOT_FOUND && n == 0);
    PE_CHECK(pe_ps_retract(w, "u1", "like_food", NULL, &why, &n) == PE_OK && n == 2);
    PE_CHECK(pe_ps_retract(w, "u1", "like_food", NULL, &why, &n) == PE_NOT_FOUND);
    PE_CHECK(pe_ps_retract(w, "nobody", "like_food", NULL, &why, &n) == PE_NOT_FOUND);
    PE_CHECK(pe_ps_writer_commit(w) == PE_OK);
    PE_CHECK(pe_ps_reader_begin(ps, &r) == PE_OK);
    PE_CHECK(pe_ps_attributes(r, "u1", NULL, 0, &l) == PE_OK && l->n == 0);
    pe_ps_attr_list_free(l);
    PE_CHECK(pe_ps_history_get(r, "u1", "like_food", &h) == PE_OK && h->n == 4);
    if (h->n == 4) {
        PE_CHECK(h->changes[2].kind == PE_PS_RETRACT && h->changes[2].state == PE_PS_RETRACTED);
        PE_CHECK_EQ_STR(h->changes[2].message_id, "m7");
        PE_CHECK_EQ_STR(h->changes[3].rule, "negation");
    }
    pe_ps_history_free(h);
    pe_ps_audit_record ar;
    pe_ps_stats s;
    PE_CHECK(pe_ps_stats_get(r, &s) == PE_OK);
    PE_CHECK(pe_ps_audit_get(r, s.audit_records, &ar) == PE_OK && ar.kind == PE_PS_RETRACT);
    PE_CHECK_EQ_STR(ar.reason, "negated");
    pe_ps_reader_end(r);
    /* new evidence brings a retracted value back */
    PE_CHECK_EQ_INT(put1(ps, "u1", "like_food", "pizza", "m8", 700, 0), PE_PS_UPDATED);
    PE_CHECK(pe_ps_reader_begin(ps, &r) == PE_OK);
    PE_CHECK(pe_ps_attributes(r, "u1", NULL, 0, &l) == PE_OK && l->n == 1 && l->attrs[0].state == PE_PS_CURRENT);
    pe_ps_attr_list_free(l);
    pe_ps_reader_end(r);
    PE_CHECK(verify(ps, NULL) == PE_OK);
    pe_ps_close(ps);
}

/* ---- withhold -------------------------------------------------------------------------- */

static void test_withhold(void)
{
    char dir[128];
    pe_ps *ps = open_new(dir, sizeof dir);
    if (!ps) return;
    pe_ps_writer *w;
    PE_CHECK(pe_ps_writer_begin(ps, &w) == PE_OK);
    pe_ps_withhold wh = {.user = "u1", .attribute = "religion", .relation = "have_religion",
                         .value = "Buddhism", .sensitivity = PE_PS_SENS_RELIGION,
                         .why = {.rule = "privacy_art9", .reason = "GDPR Art. 9 category not allowed by policy",
                                 .message_id = "m1"}};
    uint64_t seq = 0;
    PE_CHECK(pe_ps_withhold_attr(w, &wh, &seq) == PE_OK && seq == 1);
    PE_CHECK(pe_ps_withhold_attr(w, &wh, &seq) == PE_OK && seq == 0); /* idempotent */
    wh.why.message_id = "m2";
    PE_CHECK(pe_ps_withhold_attr(w, &wh, &seq) == PE_OK && seq == 2);
    wh.why.message_id = NULL;
    PE_CHECK(pe_ps_withhold_attr(w, &wh, &seq) == PE_ERR_INVALID);
    PE_CHECK(pe_ps_writer_commit(w) == PE_OK);
    pe_ps_reader *r;
    PE_CHECK(pe_ps_reader_begin(ps, &r) == PE_OK);
    pe_ps_attr_list *l;
    PE_CHECK(pe_ps_attributes(r, "u1", NULL, PE_PS_LIST_HISTORY, &l) == PE_OK && l->n == 0);
    pe_ps_attr_list_free(l);
    pe_ps_history *h;
    PE_CHECK(pe_ps_history_get(r, "u1", NULL, &h) == PE_OK && h->n == 0);
    pe_ps_history_free(h);
    pe_ps_stats s;
    PE_CHECK(pe_ps_stats_get(r, &s) == PE_OK && s.attributes == 0 && s.evidence == 0 && s.audit_records == 2);
    pe_ps_audit_record ar;
    PE_CHECK(pe_ps_audit_get(r, 1, &ar) == PE_OK);
    PE_CHECK(ar.kind == PE_PS_WITHHOLD && ar.sensitivity == PE_PS_SENS_RELIGION && isnan(ar.confidence));
    PE_CHECK_EQ_STR(ar.attribute, "religion");
    PE_CHECK_EQ_STR(ar.reason, "GDPR Art. 9 category not allowed by policy");
    PE_CHECK(strlen(ar.value_digest) == 64);
    pe_ps_reader_end(r);
    pe_ps_close(ps);
}

/* ---- files on disk ---------------------------------------------------------------------- */

static unsigned char *slurp(const char *path, size_t *n)
{
    *n = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(sz > 0 ? (size_t)sz : 1);
    if (b && sz > 0 && fread(b, 1, (size_t)sz, f) != (size_t)sz) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b) *n = (size_t)sz;
    return b;
}

/* Number of occurrences of needle in every file of dir (recursively). */
static size_t count_in_dir(const char *dir, const char *needle)
{
    size_t total = 0, nl = strlen(needle);
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char p[512];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (stat(p, &sb) != 0) continue;
        if (S_ISDIR(sb.st_mode)) {
            total += count_in_dir(p, needle);
            continue;
        }
        size_t n;
        unsigned char *b = slurp(p, &n);
        for (size_t i = 0; b && i + nl <= n; i++)
            if (memcmp(b + i, needle, nl) == 0) total++;
        free(b);
    }
    closedir(d);
    return total;
}

/* Flips a byte inside every occurrence of needle in data.mdb. */
static size_t flip_in_file(const char *dir, const char *needle)
{
    char p[512];
    snprintf(p, sizeof p, "%s/data.mdb", dir);
    size_t n, hits = 0, nl = strlen(needle);
    unsigned char *b = slurp(p, &n);
    if (!b) return 0;
    for (size_t i = 0; i + nl <= n; i++) {
        if (memcmp(b + i, needle, nl) != 0) continue;
        b[i + nl / 2] ^= 0x20;
        hits++;
    }
    FILE *f = fopen(p, "r+b");
    if (f) {
        fwrite(b, 1, n, f);
        fclose(f);
    }
    free(b);
    return hits;
}

static void file_sha(const char *dir, char hex[65])
{
    char p[512];
    snprintf(p, sizeof p, "%s/data.mdb", dir);
    pe_error err;
    if (pe_sha256_file(p, hex, &err) != PE_OK) hex[0] = 0;
}

/* A store with 5 audit records: add, add, update, withhold (its reason
 * "tamper-target"), retract. */
static void build_audited(char *dir, size_t cap)
{
    pe_ps *ps = open_new(dir, cap);
    if (!ps) return;
    put1(ps, "u1", "have_pet", "dog", "m1", 1, 0);
    put1(ps, "u2", "have_pet", "cat", "m2", 2, 0);
    put1(ps, "u1", "have_pet", "dog", "m3", 3, 0);
    pe_ps_writer *w;
    PE_CHECK(pe_ps_writer_begin(ps, &w) == PE_OK);
    pe_ps_withhold wh = {.user = "u2", .attribute = "health", .value = "asthma", .sensitivity = PE_PS_SENS_HEALTH,
                         .why = {.reason = "tamper-target", .message_id = "m4"}};
    PE_CHECK(pe_ps_withhold_attr(w, &wh, NULL) == PE_OK);
    pe_ps_cause why = {.reason = "negated"};
    PE_CHECK(pe_ps_retract(w, "u2", "have_pet", "cat", &why, NULL) == PE_OK);
    PE_CHECK(pe_ps_writer_commit(w) == PE_OK);
    pe_ps_verify_result vr;
    PE_CHECK(verify(ps, &vr) == PE_OK && vr.records == 5 && vr.bad_seq == 0 && strlen(vr.head) == 64);
    pe_ps_close(ps);
}

/* Edits the audit database directly with LMDB (the store closed). */
static int raw_audit_edit(const char *dir, int what)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    int rc = mdb_env_create(&env);
    if (!rc) rc = mdb_env_set_maxdbs(env, 16);
    if (!rc) rc = mdb_env_set_mapsize(env, (size_t)64 << 20);
    if (!rc) rc = mdb_env_open(env, dir, 0, 0664);
    if (!rc) rc = mdb_txn_begin(env, NULL, 0, &txn);
    if (!rc) rc = mdb_dbi_open(txn, "audit", 0, &dbi);
    unsigned char k2[8] = {0, 0, 0, 0, 0, 0, 0, 2}, k3[8] = {0, 0, 0, 0, 0, 0, 0, 3},
                  k5[8] = {0, 0, 0, 0, 0, 0, 0, 5};
    MDB_val a = {8, k2}, b = {8, k3}, e = {8, k5}, va, vb;
    if (!rc && what == 0) rc = mdb_del(txn, dbi, &a, NULL); /* remove record 2 */
    if (!rc && what == 1) {                                  /* swap records 2 and 3 */
        rc = mdb_get(txn, dbi, &a, &va);
        if (!rc) rc = mdb_get(txn, dbi, &b, &vb);
        void *ca = malloc(va.mv_size), *cb = malloc(vb.mv_size);
        memcpy(ca, va.mv_data, va.mv_size);
        memcpy(cb, vb.mv_data, vb.mv_size);
        MDB_val na = {vb.mv_size, cb}, nb = {va.mv_size, ca};
        if (!rc) rc = mdb_put(txn, dbi, &a, &na, 0);
        if (!rc) rc = mdb_put(txn, dbi, &b, &nb, 0);
        free(ca);
        free(cb);
    }
    if (!rc && what == 2) rc = mdb_del(txn, dbi, &e, NULL); /* remove the last record */
    if (!rc && what == 3) { /* cut every attribute record short */
        MDB_dbi adb;
        MDB_cursor *c;
        rc = mdb_dbi_open(txn, "attr", 0, &adb);
        if (!rc) rc = mdb_cursor_open(txn, adb, &c);
        MDB_val k, v, shortv = {3, "\x01\x00\x00"};
        int g = rc ? rc : mdb_cursor_get(c, &k, &v, MDB_FIRST);
        while (!rc && g == 0) {
            rc = mdb_cursor_put(c, &k, &shortv, MDB_CURRENT);
            if (!rc) g = mdb_cursor_get(c, &k, &v, MDB_NEXT);
        }
        if (!rc) mdb_cursor_close(c);
    }
    if (!rc) rc = mdb_txn_commit(txn);
    mdb_env_close(env);
    return rc;
}

static void test_audit_tamper(void)
{
    char dir[128];
    /* bytes flipped inside record 4 on disk */
    build_audited(dir, sizeof dir);
    PE_CHECK(count_in_dir(dir, "tamper-target") >= 1);
    PE_CHECK(flip_in_file(dir, "tamper-target") >= 1);
    pe_ps *ps = open_at(dir);
    pe_ps_verify_result vr;
    PE_CHECK(verify(ps, &vr) == PE_ERR_CORRUPT);
    PE_CHECK_EQ_INT(vr.bad_seq, 4);
    PE_CHECK_MSG(strstr(pe_ps_errmsg(ps), "record 4") && strstr(pe_ps_errmsg(ps), "altered"), "%s",
                 pe_ps_errmsg(ps));
    pe_ps_close(ps);

    /* removed, reordered, cut at the end */
    const int expect_bad[3] = {2, 2, 5};
    for (int what = 0; what < 3; what++) {
        build_audited(dir, sizeof dir);
        PE_CHECK(raw_audit_edit(dir, what) == 0);
        ps = open_at(dir);
        PE_CHECK(verify(ps, &vr) == PE_ERR_CORRUPT);
        PE_CHECK_MSG(vr.bad_seq == (uint64_t)expect_bad[what], "edit %d: bad_seq %llu: %s", what,
                     (unsigned long long)vr.bad_seq, pe_ps_errmsg(ps));
        pe_ps_close(ps);
    }
    /* damaged records are reported, not trusted */
    build_audited(dir, sizeof dir);
    PE_CHECK(raw_audit_edit(dir, 3) == 0);
    ps = open_at(dir);
    pe_ps_reader *r;
    pe_ps_attr_list *l = NULL;
    PE_CHECK(pe_ps_reader_begin(ps, &r) == PE_OK);
    PE_CHECK(pe_ps_attributes(r, "u1", NULL, 0, &l) == PE_ERR_CORRUPT && l == NULL);
    PE_CHECK(strstr(pe_ps_errmsg(ps), "damaged attribute record") != NULL);
    pe_ps_reader_end(r);
    pe_ps_writer *w;
    PE_CHECK(pe_ps_writer_begin(ps, &w) == PE_OK);
    pe_ps_upsert up = upsert("u1", "have_pet", "dog", 0.5, 0);
    pe_ps_evidence ev = evidence("m9", 9, "dog");
    PE_CHECK(pe_ps_upsert_attr(w, &up, &ev, NULL) == PE_ERR_CORRUPT);
    PE_CHECK(pe_ps_writer_commit(w) == PE_ERR_CORRUPT); /* sticky: nothing written */
    PE_CHECK(verify(ps, &vr) == PE_OK && vr.records == 5);
    pe_ps_close(ps);

    /* an untouched copy still verifies */
    build_audited(dir, sizeof dir);
    ps = open_at(dir);
    PE_CHECK(verify(ps, &vr) == PE_OK && vr.records == 5);
    pe_ps_close(ps);
}

/* ---- forget --------------------------------------------------------------------------------- */

static const char *const alice_texts[] = {"alice-qz7", "xylophonecity", "msg-alice-0001",
                                          "glockenspielfood", "snippet-alice-zz", "Q424242"};

static void fill_alice_bob(pe_ps *ps)
{
    pe_ps_writer *w;
    PE_CHECK(pe_ps_writer_begin(ps, &w) == PE_OK);
    pe_ps_upsert up = upsert("alice-qz7", "residence", "Xylophonecity", 0.9, 1);
    up.entity = "Q424242";
    pe_ps_evidence ev = evidence("msg-alice-0001", 10, "i live in snippet-alice-zz");
    PE_CHECK(pe_ps_upsert_attr(w, &up, &ev, NULL) == PE_OK);
    pe_ps_upsert up2 = upsert("alice-qz7", "like_food", "glockenspielfood", 0.5, 0);
    PE_CHECK(pe_ps_upsert_attr(w, &up2, &ev, NULL) == PE_OK);
    pe_ps_upsert up3 = upsert("alice-qz7", "residence", "elsewhere", 0.9, 1); /* history */
    pe_ps_evidence ev3 = evidence("m-other", 20, "elsewhere");
    PE_CHECK(pe_ps_upsert_attr(w, &up3, &ev3, NULL) == PE_OK);
    pe_ps_withhold wh = {.user = "alice-qz7", .attribute = "health", .value = "asthma",
                         .sensitivity = PE_PS_SENS_HEALTH, .why = {.reason = "policy", .message_id = "msg-alice-0001"}};
    PE_CHECK(pe_ps_withhold_attr(w, &wh, NULL) == PE_OK);
    pe_ps_upsert ub = upsert("bob-kk2", "have_pet", "bobsdogname", 0.9, 0);
    pe_ps_evidence evb = evidence("msg-bob-0001", 10, "my dog bobsdogname");
    PE_CHECK(pe_ps_upsert_attr(w, &ub, &evb, NULL) == PE_OK);
    PE_CHECK(pe_ps_writer_commit(w) == PE_OK);
    /* more commits, so that old pages holding alice's records are freed and reused */
    for (int i = 0; i < 20; i++) {
        char msg[32];
        snprintf(msg, sizeof msg, "bob-m%d", i);
        put1(ps, "bob-kk2", "like_food", i % 2 ? "rice" : "beans", msg, 100 + i, 0);
    }
}

static void check_forgotten(pe_ps *ps, const char *dir)
{
    for (size_t i = 0; i < sizeof alice_texts / sizeof *alice_texts; i++)
        PE_CHECK_MSG(count_in_dir(dir, alice_texts[i]) == 0, "\"%s\" still in %s", alice_texts[i], dir);
    PE_CHECK(count_in_dir(dir, "bobsdogname") > 0);
    pe_ps_reader *r;
    PE_CHECK(pe_ps_reader_begin(ps, &r) == PE_OK);
    pe_ps_attr_list *l;
    PE_CHECK(pe_ps_attributes(r, "alice-qz7", NULL, PE_PS_LIST_HISTORY, &l) == PE_NOT_FOUND);
    pe_ps_history *h;
    PE_CHECK(pe_ps_history_get(r, "alice-qz7", NULL, &h) == PE_NOT_FOUND);
    PE_CHECK(pe_ps_attributes(r, "bob-kk2", NULL, PE_PS_LIST_EVIDENCE, &l) == PE_OK && l->n == 3);
    pe_ps_attr_list_free(l);
    pe_ps_stats s;
    PE_CHECK(pe_ps_stats_get(r, &s) == PE_OK && s.users == 1 && !s.rebuild_pending);
    /* the tombstone: the last audit record names alice by reference only */
    pe_ps_audit_record ar;
    PE_CHECK(pe_ps_audit_get(r, s.audit_records, &ar) == PE_OK);
    char ref[65];
    pe_ps_user_ref("alice-qz7", ref);
    PE_CHECK(ar.kind == PE_PS_FORGET && strcmp(ar.user_ref, ref) == 0 && ar.count > 5);
    PE_CHECK_EQ_STR(ar.reason, "user request");
    pe_ps_verify_result vr;
    PE_CHECK(pe_ps_audit_verify(r, &vr) == PE_OK && vr.records == s.audit_records);
    pe_ps_reader_end(r);
}

static void test_forget(void)
{
    char dir[128];
    pe_ps *ps = open_new(dir, sizeof dir);
    if (!ps) return;
    fill_alice_bob(ps);
    /* the scan can see alice's texts before */
    for (size_t i = 0; i < sizeof alice_texts / sizeof *alice_texts; i++)
        PE_CHECK_MSG(count_in_dir(dir, alice_texts[i]) > 0, "\"%s\" not found before forget", alice_texts[i]);
    pe_ps_forget_result fr;
    PE_CHECK(pe_ps_forget(ps, "nobody", "x", &fr) == PE_NOT_FOUND && fr.records == 0);
    pe_ps_writer *w;
    PE_CHECK(pe_ps_writer_begin(ps, &w) == PE_OK);
    PE_CHECK(pe_ps_forget(ps, "alice-qz7", "user request", &fr) == PE_ERR_BUSY && fr.audit_seq == 0);
    pe_ps_writer_abort(w);
    PE_CHECK_MSG(pe_ps_forget(ps, "alice-qz7", "user request", &fr) == PE_OK, "%s", pe_ps_errmsg(ps));
    PE_CHECK(fr.rebuilt == 1 && fr.audit_seq > 0 && fr.records > 5);
    check_forgotten(ps, dir);
    /* the store works on after the rebuild, and after reopening */
    PE_CHECK_EQ_INT(put1(ps, "carol", "have_pet", "fish", "c1", 1, 0), PE_PS_ADDED);
    pe_ps_close(ps);
    ps = open_at(dir);
    PE_CHECK(verify(ps, NULL) == PE_OK && stats(ps).users == 2);
    pe_ps_close(ps);
}

/* forget while another process has the store open: erased at once, rebuilt
 * when the store is alone again. */
static void test_forget_pending(void)
{
    char dir[128];
    pe_ps *ps = open_new(dir, sizeof dir);
    if (!ps) return;
    fill_alice_bob(ps);
    pe_ps_close(ps);
    int to_child[2], to_parent[2];
    if (pipe(to_child) != 0 || pipe(to_parent) != 0) return;
    pid_t pid = fork();
    if (pid == 0) {
        pe_ps_options o = pe_ps_options_default();
        o.read_only = 1;
        o.map_size = (size_t)64 << 20;
        pe_ps *c = NULL;
        pe_error err;
        int ok = pe_ps_open(dir, &o, &c, &err) == PE_OK;
        char x = ok ? 'o' : 'f';
        if (write(to_parent[1], &x, 1) != 1) _exit(3);
        if (read(to_child[0], &x, 1) != 1) _exit(4);
        /* its snapshot was opened before: reading still works */
        pe_ps_reader *r;
        int good = ok && pe_ps_reader_begin(c, &r) == PE_OK;
        if (good) pe_ps_reader_end(r);
        pe_ps_close(c);
        _exit(good ? 0 : 5);
    }
    char x = 0;
    PE_CHECK(read(to_parent[0], &x, 1) == 1 && x == 'o');
    ps = open_at(dir);
    pe_ps_forget_result fr;
    pe_status st = pe_ps_forget(ps, "alice-qz7", "user request", &fr);
    PE_CHECK_MSG(st == PE_ERR_BUSY && fr.rebuilt == 0 && fr.audit_seq > 0, "%s", pe_ps_errmsg(ps));
    PE_CHECK(strstr(pe_ps_errmsg(ps), "another process") != NULL);
    PE_CHECK(stats(ps).rebuild_pending == 1);
    /* erased logically already */
    pe_ps_reader *r;
    pe_ps_attr_list *l;
    PE_CHECK(pe_ps_reader_begin(ps, &r) == PE_OK);
    PE_CHECK(pe_ps_attributes(r, "alice-qz7", NULL, 0, &l) == PE_NOT_FOUND);
    /* a reader of this handle blocks the rebuild too */
    PE_CHECK(pe_ps_rebuild(ps) == PE_ERR_BUSY);
    pe_ps_reader_end(r);
    PE_CHECK(write(to_child[1], "g", 1) == 1);
    int status = 0;
    waitpid(pid, &status, 0);
    PE_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    PE_CHECK_MSG(pe_ps_rebuild(ps) == PE_OK, "%s", pe_ps_errmsg(ps));
    check_forgotten(ps, dir);
    pe_ps_close(ps);
    close(to_child[0]); close(to_child[1]); close(to_parent[0]); close(to_parent[1]);

}

static void test_forget_pending_on_open(void)
{
    char dir[128];
    pe_ps *ps = open_new(dir, sizeof dir);
    if (!ps) return;
    fill_alice_bob(ps);
    pe_ps_close(ps);
    int to_child[2], to_parent[2];
    if (pipe(to_child) != 0 || pipe(to_parent) != 0) return;
    pid_t pid = fork();
    if (pid == 0) {
        pe_ps_options o = pe_ps_options_default();
        o.read_only = 1;
        pe_ps *c = NULL;
        int ok = pe_ps_open(dir, &o, &c, NULL) == PE_OK;
        char y = ok ? 'o' : 'f';
        if (write(to_parent[1], &y, 1) != 1) _exit(3);
        if (read(to_child[0], &y, 1) != 1) _exit(4);
        pe_ps_close(c);
        _exit(0);
    }
    char x = 0;
    PE_CHECK(read(to_parent[0], &x, 1) == 1 && x == 'o');
    ps = open_at(dir);
    PE_CHECK(pe_ps_forget(ps, "alice-qz7", "user request", NULL) == PE_ERR_BUSY);
    pe_ps_close(ps);
    PE_CHECK(count_in_dir(dir, "xylophonecity") > 0); /* freed pages still hold it */
    PE_CHECK(write(to_child[1], "g", 1) == 1);
    int status = 0;
    waitpid(pid, &status, 0);
    ps = open_at(dir); /* alone now: the open rebuilds */
    if (ps) check_forgotten(ps, dir);
    pe_ps_close(ps);
    close(to_child[0]); close(to_child[1]); close(to_parent[0]); close(to_parent[1]);
}

/* ---- layout version, bad stores ---------------------------------------------------------- */

static void test_layout_version(void)
{
    char dir[128];
    pe_ps *ps = open_new(dir, sizeof dir);
    if (!ps) return;
    put1(ps, "u1", "have_pet", "dog", "m1", 1, 0);
    pe_ps_close(ps);
    /* bump the layout version behind the store's back */
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    int rc = mdb_env_create(&env);
    if (!rc) rc = mdb_env_set_maxdbs(env, 16);
    if (!rc) rc = mdb_env_open(env, dir, 0, 0664);
    if (!rc) rc = mdb_txn_begin(env, NULL, 0, &txn);
    if (!rc) rc = mdb_dbi_open(txn, "meta", 0, &dbi);
    unsigned char v[4] = {0, 0, 0, 2};
    MDB_val k = {14, "layout_version"}, d = {4, v};
    if (!rc) rc = mdb_put(txn, dbi, &k, &d, 0);
    if (!rc) rc = mdb_txn_commit(txn);
    mdb_env_close(env);
    PE_CHECK(rc == 0);
    char before[65], after[65];
    file_sha(dir, before);
    pe_error err;
    ps = (pe_ps *)1;
    PE_CHECK(pe_ps_open(dir, NULL, &ps, &err) == PE_ERR_UNSUPPORTED && ps == NULL);
    PE_CHECK(err.status == PE_ERR_UNSUPPORTED);
    PE_CHECK_MSG(strstr(err.msg, "layout version 2") && strstr(err.msg, "newer"), "%s", err.msg);
    pe_ps_options ro = pe_ps_options_default();
    ro.read_only = 1;
    PE_CHECK(pe_ps_open(dir, &ro, &ps, &err) == PE_ERR_UNSUPPORTED && ps == NULL);
    file_sha(dir, after);
    PE_CHECK(before[0] && strcmp(before, after) == 0);

    /* an LMDB environment with other data */
    char other[128];
    newdir(other, sizeof other);
    mkdir(other, 0775);
    rc = mdb_env_create(&env);
    if (!rc) rc = mdb_env_open(env, other, 0, 0664);
    if (!rc) rc = mdb_txn_begin(env, NULL, 0, &txn);
    if (!rc) rc = mdb_dbi_open(txn, NULL, 0, &dbi);
    MDB_val k2 = {3, "key"}, d2 = {3, "val"};
    if (!rc) rc = mdb_put(txn, dbi, &k2, &d2, 0);
    if (!rc) rc = mdb_txn_commit(txn);
    mdb_env_close(env);
    PE_CHECK(pe_ps_open(other, NULL, &ps, &err) == PE_ERR_CORRUPT && ps == NULL);
    PE_CHECK(strstr(err.msg, "not a persona store") != NULL);
    /* a read-only open of nothing, a file instead of a directory */
    char none[128];
    newdir(none, sizeof none);
    PE_CHECK(pe_ps_open(none, &ro, &ps, &err) == PE_ERR_IO && ps == NULL);
    char file[160];
    snprintf(file, sizeof file, "%s/data.mdb", dir);
    PE_CHECK(pe_ps_open(file, NULL, &ps, &err) == PE_ERR_IO && ps == NULL);
    PE_CHECK(pe_ps_open(NULL, NULL, &ps, NULL) == PE_ERR_INVALID && ps == NULL);
}

/* ---- argument errors, writers ---------------------------------------------------------------- */

static void test_errors(void)
{
    char dir[128];
    pe_ps *ps = open_new(dir, sizeof dir);
    if (!ps) return;
    pe_ps_writer *w, *w2;
    PE_CHECK(pe_ps_writer_begin(ps, &w) == PE_OK);
    PE_CHECK(pe_ps_writer_begin(ps, &w2) == PE_ERR_BUSY && w2 == NULL);
    pe_ps_evidence ev = evidence("m1", 1, "x");
    pe_ps_upsert up = upsert("u1", "residence", "paris", 0.5, 1);
    pe_ps_upsert bad = up;
    bad.attribute = "my residence";
    PE_CHECK(pe_ps_upsert_attr(w, &bad, &ev, NULL) == PE_ERR_INVALID);
    PE_CHECK(strstr(pe_ps_errmsg(ps), "attribute") != NULL);
    bad = up;
    bad.confidence = 1.5;
    PE_CHECK(pe_ps_upsert_attr(w, &bad, &ev, NULL) == PE_ERR_INVALID);
    bad = up;
    bad.value = " \t ";
    PE_CHECK(pe_ps_upsert_attr(w, &bad, &ev, NULL) == PE_ERR_INVALID);
    bad = up;
    bad.value = "caf\xc3";
    PE_CHECK(pe_ps_upsert_attr(w, &bad, &ev, NULL) == PE_ERR_UTF8);
    bad = up;
    bad.user = "";
    PE_CHECK(pe_ps_upsert_attr(w, &bad, &ev, NULL) == PE_ERR_INVALID);
    char longuser[PE_PS_MAX_USER + 2];
    memset(longuser, 'u', sizeof longuser - 1);
    longuser[sizeof longuser - 1] = 0;
    bad = up;
    bad.user = longuser;
    PE_CHECK(pe_ps_upsert_attr(w, &bad, &ev, NULL) == PE_ERR_LIMIT);
    PE_CHECK(pe_ps_upsert_attr(w, &up, NULL, NULL) == PE_ERR_INVALID);
    pe_ps_evidence bev = ev;
    bev.message_id = NULL;
    PE_CHECK(pe_ps_upsert_attr(w, &up, &bev, NULL) == PE_ERR_INVALID);
    bev = ev;
    bev.span_end = 0;
    bev.span_start = 5;
    PE_CHECK(pe_ps_upsert_attr(w, &up, &bev, NULL) == PE_ERR_INVALID);
    bev = ev;
    bev.n_facts = PE_PS_MAX_FACTS + 1;
    PE_CHECK(pe_ps_upsert_attr(w, &up, &bev, NULL) == PE_ERR_LIMIT);
    /* argument errors leave the writer usable */
    pe_ps_upsert_result res;
    PE_CHECK(pe_ps_upsert_attr(w, &up, &ev, &res) == PE_OK && res.outcome == PE_PS_ADDED);
    PE_CHECK(pe_ps_writer_commit(w) == PE_OK);
    /* abort discards */
    PE_CHECK(pe_ps_writer_begin(ps, &w) == PE_OK);
    PE_CHECK(pe_ps_upsert_attr(w, &(pe_ps_upsert){.user = "u2", .attribute = "a", .value = "v"}, &ev, NULL) == PE_OK);
    pe_ps_writer_abort(w);
    PE_CHECK(stats(ps).users == 1 && stats(ps).audit_records == 1);
    PE_CHECK(verify(ps, NULL) == PE_OK);
    pe_ps_writer_abort(NULL);
    pe_ps_reader_end(NULL);
    pe_ps_attr_list_free(NULL);
    pe_ps_history_free(NULL);
    pe_ps_close(NULL);
    PE_CHECK(strlen(pe_ps_errmsg(NULL)) > 0);
    PE_CHECK_EQ_STR(pe_ps_sensitivity_name(PE_PS_SENS_UNION), "union");
    PE_CHECK(PE_PS_SENS_IS_SPECIAL(PE_PS_SENS_HEALTH) && !PE_PS_SENS_IS_SPECIAL(PE_PS_SENS_PERSONAL));
    pe_ps_close(ps);
    /* read-only handles do not write */
    pe_ps_options ro = pe_ps_options_default();
    ro.read_only = 1;
    pe_error err;
    PE_CHECK(pe_ps_open(dir, &ro, &ps, &err) == PE_OK);
    PE_CHECK(pe_ps_writer_begin(ps, &w) == PE_ERR_INVALID && w == NULL);
    PE_CHECK(pe_ps_forget(ps, "u1", NULL, NULL) == PE_ERR_INVALID);
    PE_CHECK(verify(ps, NULL) == PE_OK);
    pe_ps_close(ps);
}

/* ---- readers beside a writer (threads) -------------------------------------------------------- */

#define CONC_WRITES 150
static volatile int g_writer_done;

static void *writer_thread(void *arg)
{
    pe_ps *ps = arg;
    for (int i = 0; i < CONC_WRITES; i++) {
        char user[16], value[16], msg[16];
        snprintf(user, sizeof user, "u%d", i % 5);
        snprintf(value, sizeof value, "v%d", i);
        snprintf(msg, sizeof msg, "m%d", i);
        if (put1(ps, user, "interest", value, msg, i, 0) != PE_PS_ADDED) break;
    }
    __atomic_store_n(&g_writer_done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void *reader_thread(void *arg)
{
    pe_ps *ps = arg;
    long bad = 0, rounds = 0;
    uint64_t last = 0;
    for (;;) {
        int done = __atomic_load_n(&g_writer_done, __ATOMIC_SEQ_CST);
        pe_ps_reader *r;
        if (pe_ps_reader_begin(ps, &r) != PE_OK) { bad++; break; }
        pe_ps_stats s;
        pe_ps_verify_result vr;
        if (pe_ps_stats_get(r, &s) != PE_OK) bad++;
        /* a snapshot is consistent: one evidence, one history entry, one
         * audit record per upsert, the chain sound, never going back */
        if (s.evidence != s.audit_records || s.history != s.audit_records || s.attributes != s.evidence) bad++;
        if (pe_ps_audit_verify(r, &vr) != PE_OK || vr.records != s.audit_records) bad++;
        if (s.audit_records < last) bad++;
        last = s.audit_records;
        uint64_t total = 0;
        for (int u = 0; u < 5; u++) {
            char user[16];
            snprintf(user, sizeof user, "u%d", u);
            pe_ps_attr_list *l;
            pe_status st = pe_ps_attributes(r, user, NULL, PE_PS_LIST_EVIDENCE, &l);
            if (st == PE_OK) {
                total += l->n;
                pe_ps_attr_list_free(l);
            } else if (st != PE_NOT_FOUND) {
                bad++;
            }
        }
        if (total != s.attributes) bad++;
        pe_ps_reader_end(r);
        rounds++;
        if (done) break;
    }
    return (void *)(bad ? -bad : rounds);
}

static void test_concurrent_readers(void)
{
    char dir[128];
    pe_ps *ps = open_new(dir, sizeof dir);
    if (!ps) return;
    g_writer_done = 0;
    pthread_t wt, rt[3];
    pthread_create(&wt, NULL, writer_thread, ps);
    for (int i = 0; i < 3; i++) pthread_create(&rt[i], NULL, reader_thread, ps);
    pthread_join(wt, NULL);
    for (int i = 0; i < 3; i++) {
        void *ret;
        pthread_join(rt[i], &ret);
        long v = (long)ret;
        PE_CHECK_MSG(v > 0, "reader %d: %ld inconsistent snapshots", i, -v);
    }
    PE_CHECK(stats(ps).audit_records == CONC_WRITES);
    pe_ps_close(ps);
}

/* ---- the snapshot stamp ---------------------------------------------------------------------- */

/* Reads (put == 0) or writes META "snapshot_txn" behind the store's back;
 * returns the LMDB id of the environment's last commit, 0 on failure. */
static uint64_t raw_stamp(const char *dir, int put, uint64_t *val)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_envinfo info;
    int rc = mdb_env_create(&env);
    if (!rc) rc = mdb_env_set_maxdbs(env, 16);
    if (!rc) rc = mdb_env_open(env, dir, 0, 0664);
    if (!rc) rc = mdb_txn_begin(env, NULL, put ? 0 : MDB_RDONLY, &txn);
    if (!rc) rc = mdb_dbi_open(txn, "meta", 0, &dbi);
    MDB_val k = {12, "snapshot_txn"}, d;
    unsigned char b[8];
    if (!rc && put) {
        for (int i = 0; i < 8; i++) b[i] = (unsigned char)(*val >> (56 - 8 * i));
        d.mv_size = 8;
        d.mv_data = b;
        rc = mdb_put(txn, dbi, &k, &d, 0);
        if (!rc) rc = mdb_txn_commit(txn);
    } else if (!rc) {
        *val = 0;
        if (mdb_get(txn, dbi, &k, &d) == 0 && d.mv_size == 8)
            for (int i = 0; i < 8; i++) *val = *val << 8 | ((unsigned char *)d.mv_data)[i];
        mdb_txn_abort(txn);
    }
    if (!rc) rc = mdb_env_info(env, &info);
    mdb_env_close(env);
    PE_CHECK_MSG(rc == 0, "raw stamp: %s", mdb_strerror(rc));
    return rc ? 0 : (uint64_t)info.me_last_txnid;
}

static void test_snapshot_stamp(void)
{
    char dir[128];
    pe_ps *ps = open_new(dir, sizeof dir);
    if (!ps) return;
    put1(ps, "u1", "have_pet", "dog", "m1", 1, 0);
    put1(ps, "u1", "have_pet", "cat", "m2", 2, 0);
    /* a commit that wrote stamps its own id, the last one */
    uint64_t stamp = 0, last = raw_stamp(dir, 0, &stamp);
    PE_CHECK(stamp > 0 && stamp == last);
    /* one that wrote nothing commits nothing: no new id, no stamp */
    pe_ps_writer *w;
    PE_CHECK(pe_ps_writer_begin(ps, &w) == PE_OK && pe_ps_writer_commit(w) == PE_OK);
    uint64_t stamp2 = 0;
    PE_CHECK(raw_stamp(dir, 0, &stamp2) == last && stamp2 == stamp);

    /* a stamp ahead of the reader's id and just beyond the published one
     * (what a reader caught in LMDB's race sees): readers retry a bounded
     * number of times and then go on */
    uint64_t ahead = last + 2; /* the raw commit publishes last + 1 */
    PE_CHECK(raw_stamp(dir, 1, &ahead) == last + 1);
    PE_CHECK(stats(ps).attributes == 2);
    /* a stale stamp from a copy with other ids, far beyond: taken as it is */
    uint64_t stale = (uint64_t)1 << 40;
    raw_stamp(dir, 1, &stale);
    PE_CHECK(stats(ps).attributes == 2 && stats(ps).audit_records == 2);
    /* the next write stamps its own id again */
    PE_CHECK_EQ_INT(put1(ps, "u2", "have_pet", "fish", "m3", 3, 0), PE_PS_ADDED);
    stamp = 0;
    last = raw_stamp(dir, 0, &stamp);
    PE_CHECK(stamp == last && stamp < stale);
    PE_CHECK(stats(ps).attributes == 3);
    pe_ps_close(ps);
}

/* ---- PROV-O --------------------------------------------------------------------------------------- */

typedef struct tset {
    char **s;
    size_t n, cap;
} tset;

static void tset_add(tset *t, const char *s, const char *p, const char *o)
{
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 64;
        t->s = realloc(t->s, t->cap * sizeof *t->s);
    }
    size_t n = strlen(s) + strlen(p) + strlen(o) + 3;
    t->s[t->n] = malloc(n);
    snprintf(t->s[t->n], n, "%s %s %s", s, p, o);
    t->n++;
}

static int cmpstr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Sorted, duplicates removed. */
static void tset_norm(tset *t)
{
    qsort(t->s, t->n, sizeof *t->s, cmpstr);
    size_t k = 0;
    for (size_t i = 0; i < t->n; i++) {
        if (k && strcmp(t->s[k - 1], t->s[i]) == 0) free(t->s[i]);
        else t->s[k++] = t->s[i];
    }
    t->n = k;
}

static int tset_has(const tset *t, const char *s, const char *p, const char *o)
{
    char buf[2048];
    snprintf(buf, sizeof buf, "%s %s %s", s, p, o);
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->s[i], buf) == 0) return 1;
    return 0;
}

static size_t tset_count_prefix(const tset *t, const char *prefix)
{
    size_t n = 0;
    for (size_t i = 0; i < t->n; i++) n += strncmp(t->s[i], prefix, strlen(prefix)) == 0;
    return n;
}

static void tset_free(tset *t)
{
    for (size_t i = 0; i < t->n; i++) free(t->s[i]);
    free(t->s);
}

static char *term_str(raptor_term *t)
{
    char *out = NULL;
    size_t n;
    if (t->type == RAPTOR_TERM_TYPE_URI) {
        const char *u = (const char *)raptor_uri_as_string(t->value.uri);
        n = strlen(u) + 3;
        out = malloc(n);
        snprintf(out, n, "<%s>", u);
    } else if (t->type == RAPTOR_TERM_TYPE_LITERAL) {
        const char *v = (const char *)t->value.literal.string;
        const char *dt = t->value.literal.datatype ? (const char *)raptor_uri_as_string(t->value.literal.datatype) : NULL;
        n = strlen(v) + (dt ? strlen(dt) : 0) + 8;
        out = malloc(n);
        if (dt) snprintf(out, n, "\"%s\"^^<%s>", v, dt);
        else snprintf(out, n, "\"%s\"", v);
    } else {
        out = strdup("_:blank");
    }
    return out;
}

static void on_statement(void *user, raptor_statement *st)
{
    tset *t = user;
    char *s = term_str(st->subject), *p = term_str(st->predicate), *o = term_str(st->object);
    tset_add(t, s, p, o);
    free(s);
    free(p);
    free(o);
}

static int g_raptor_errors;
static void on_raptor_log(void *user, raptor_log_message *m)
{
    (void)user;
    if (m->level >= RAPTOR_LOG_LEVEL_WARN) {
        fprintf(stderr, "raptor: %s (line %d)\n", m->text, m->locator ? m->locator->line : -1);
        g_raptor_errors++;
    }
}

static int parse_turtle(const char *ttl, tset *t)
{
    raptor_world *world = raptor_new_world();
    raptor_world_set_log_handler(world, NULL, on_raptor_log);
    raptor_parser *p = raptor_new_parser(world, "turtle");
    raptor_parser_set_statement_handler(p, t, on_statement);
    raptor_uri *base = raptor_new_uri(world, (const unsigned char *)"urn:persona:test");
    g_raptor_errors = 0;
    int rc = raptor_parser_parse_start(p, base);
    if (!rc) rc = raptor_parser_parse_chunk(p, (const unsigned char *)ttl, strlen(ttl), 1);
    raptor_free_uri(base);
    raptor_free_parser(p);
    raptor_free_world(world);
    return rc || g_raptor_errors;
}

/* Our JSON-LD's node objects as triples, compact IRIs expanded with @context. */
static const char *expand(const cJSON *ctx, const char *v, char *buf, size_t cap)
{
    const char *colon = strchr(v, ':');
    if (colon) {
        char prefix[32];
        size_t n = (size_t)(colon - v);
        if (n < sizeof prefix) {
            memcpy(prefix, v, n);
            prefix[n] = 0;
            const cJSON *ns = cJSON_GetObjectItemCaseSensitive(ctx, prefix);
            if (cJSON_IsString(ns)) {
                snprintf(buf, cap, "%s%s", ns->valuestring, colon + 1);
                return buf;
            }
        }
    }
    snprintf(buf, cap, "%s", v);
    return buf;
}

static int jsonld_triples(const char *js, tset *t)
{
    cJSON *root = cJSON_Parse(js);
    if (!root) return 1;
    const cJSON *ctx = cJSON_GetObjectItemCaseSensitive(root, "@context");
    const cJSON *graph = cJSON_GetObjectItemCaseSensitive(root, "@graph");
    int bad = !cJSON_IsObject(ctx) || !cJSON_IsArray(graph);
    const cJSON *node;
    tset ids = {0};
    cJSON_ArrayForEach(node, graph) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(node, "@id");
        if (!cJSON_IsString(id)) { bad = 1; continue; }
        tset_add(&ids, id->valuestring, "", "");
        char s[1024], p[1024], o[4096], e1[1024], e2[1024];
        snprintf(s, sizeof s, "<%s>", expand(ctx, id->valuestring, e1, sizeof e1));
        const cJSON *prop;
        cJSON_ArrayForEach(prop, node) {
            if (strcmp(prop->string, "@id") == 0) continue;
            int is_type = strcmp(prop->string, "@type") == 0;
            snprintf(p, sizeof p, "<%s>", is_type ? "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
                                                    : expand(ctx, prop->string, e1, sizeof e1));
            if (!cJSON_IsArray(prop)) { bad = 1; continue; }
            const cJSON *v;
            cJSON_ArrayForEach(v, prop) {
                if (is_type) {
                    if (!cJSON_IsString(v)) { bad = 1; continue; }
                    snprintf(o, sizeof o, "<%s>", expand(ctx, v->valuestring, e2, sizeof e2));
                } else {
                    const cJSON *vid = cJSON_GetObjectItemCaseSensitive(v, "@id");
                    const cJSON *val = cJSON_GetObjectItemCaseSensitive(v, "@value");
                    const cJSON *vt = cJSON_GetObjectItemCaseSensitive(v, "@type");
                    if (cJSON_IsString(vid)) snprintf(o, sizeof o, "<%s>", expand(ctx, vid->valuestring, e2, sizeof e2));
                    else if (cJSON_IsString(val) && cJSON_IsString(vt))
                        snprintf(o, sizeof o, "\"%s\"^^<%s>", val->valuestring, expand(ctx, vt->valuestring, e2, sizeof e2));
                    else if (cJSON_IsString(val)) snprintf(o, sizeof o, "\"%s\"", val->valuestring);
                    else { bad = 1; continue; }
                }
                tset_add(t, s, p, o);
            }
        }
    }
    cJSON_Delete(root);
    size_t nodes = ids.n;
    tset_norm(&ids);
    if (ids.n != nodes) bad = 1; /* each node written once */
    tset_free(&ids);
    return bad;
}

#define PROV "http://www.w3.org/ns/prov#"
#define PEV "urn:persona:vocab#"

static void test_prov(void)
{
    char dir[128];
    pe_ps *ps = open_new(dir, sizeof dir);
    if (!ps) return;
    pe_ps_writer *w;
    PE_CHECK(pe_ps_writer_begin(ps, &w) == PE_OK);
    pe_ps_upsert up = upsert("user \"7\"/x", "residence", "Paris", 0.8, 1);
    up.relation = "live_in_citystatecountry";
    up.entity = "Q90";
    pe_ps_fact facts[1] = {{"Q90", "P17", "Q142", "latest-all.json.gz", "2024-05-01"}};
    pe_ps_evidence ev = evidence("msg 1/ü", 1700000000, "i live in \"paris\"\nreally\\");
    ev.entity = "Q90";
    ev.link_score = 0.875;
    ev.ner_score = 0.5;
    ev.facts = facts;
    ev.n_facts = 1;
    PE_CHECK(pe_ps_upsert_attr(w, &up, &ev, NULL) == PE_OK);
    pe_ps_upsert up2 = upsert("user \"7\"/x", "residence", "Lyon", 0.9, 1);
    pe_ps_evidence ev2 = evidence("m2", 1700000500, "lyon");
    PE_CHECK(pe_ps_upsert_attr(w, &up2, &ev2, NULL) == PE_OK);
    PE_CHECK(pe_ps_writer_commit(w) == PE_OK);

    pe_ps_reader *r;
    PE_CHECK(pe_ps_reader_begin(ps, &r) == PE_OK);
    char *ttl = NULL, *js = NULL;
    size_t tl = 0;
    PE_CHECK(pe_ps_export_prov(r, "user \"7\"/x", NULL, PE_PS_PROV_TURTLE, &ttl, &tl) == PE_OK && ttl);
    PE_CHECK(pe_ps_export_prov(r, "user \"7\"/x", NULL, PE_PS_PROV_JSONLD, &js, NULL) == PE_OK && js);
    char *none = (char *)1;
    PE_CHECK(pe_ps_export_prov(r, "nobody", NULL, PE_PS_PROV_TURTLE, &none, NULL) == PE_NOT_FOUND && none == NULL);
    pe_ps_reader_end(r);
    if (!ttl || !js) {
        free(ttl);
        free(js);
        pe_ps_close(ps);
        return;
    }
    PE_CHECK(tl == strlen(ttl));
    tset t = {0}, j = {0};
    PE_CHECK_MSG(parse_turtle(ttl, &t) == 0, "turtle:\n%s", ttl);
    PE_CHECK_MSG(jsonld_triples(js, &j) == 0, "json-ld:\n%s", js);
    tset_norm(&t);
    tset_norm(&j);
    /* the same graph in both */
    PE_CHECK_EQ_INT(t.n, j.n);
    for (size_t i = 0; i < t.n && i < j.n; i++) PE_CHECK_EQ_STR(t.s[i], j.s[i]);

    char ref[65], base[128], A[160], A2[160], M[200], X[200], D[220], F[220];
    pe_ps_user_ref("user \"7\"/x", ref);
    snprintf(base, sizeof base, "<urn:persona:user:%s>", ref);
    snprintf(A, sizeof A, "<urn:persona:user:%s/attr/1>", ref);
    snprintf(A2, sizeof A2, "<urn:persona:user:%s/attr/2>", ref);
    snprintf(M, sizeof M, "<urn:persona:user:%s/message/msg%%201%%2F%%C3%%BC>", ref);
    snprintf(X, sizeof X, "<urn:persona:user:%s/attr/1/evidence/1>", ref);
    snprintf(D, sizeof D, "<urn:persona:user:%s/attr/1/evidence/1/derivation>", ref);
    snprintf(F, sizeof F, "<urn:persona:user:%s/attr/1/evidence/1/fact/1>", ref);
    const char *type = "<http://www.w3.org/1999/02/22-rdf-syntax-ns#type>";
    PE_CHECK(tset_has(&t, A, type, "<" PROV "Entity>"));
    PE_CHECK(tset_has(&t, A, type, "<" PEV "AttributeValue>"));
    PE_CHECK(tset_has(&t, A, "<" PEV "value>", "\"paris\""));
    PE_CHECK(tset_has(&t, A, "<" PEV "state>", "\"history\""));
    PE_CHECK(tset_has(&t, A, "<" PEV "replacedBy>", "\"lyon\""));
    PE_CHECK(tset_has(&t, A2, "<" PEV "state>", "\"current\""));
    PE_CHECK(tset_has(&t, A, "<" PEV "entity>", "<http://www.wikidata.org/entity/Q90>"));
    PE_CHECK(tset_has(&t, A, "<" PEV "confidence>", "\"0.8\"^^<http://www.w3.org/2001/XMLSchema#double>"));
    PE_CHECK(tset_has(&t, A, "<" PROV "wasDerivedFrom>", M));
    PE_CHECK(tset_has(&t, A, "<" PROV "wasGeneratedBy>", X));
    PE_CHECK(tset_has(&t, A, "<" PROV "qualifiedDerivation>", D));
    PE_CHECK(tset_has(&t, A, "<" PROV "wasAttributedTo>", base));
    PE_CHECK(tset_has(&t, base, "<" PEV "userId>", "\"user \"7\"/x\""));
    PE_CHECK(tset_has(&t, M, type, "<" PROV "Entity>"));
    PE_CHECK(tset_has(&t, M, "<" PEV "messageId>", "\"msg 1/ü\""));
    PE_CHECK(tset_has(&t, M, "<" PEV "messageTime>", "\"2023-11-14T22:13:20Z\"^^<http://www.w3.org/2001/XMLSchema#dateTime>"));
    PE_CHECK(tset_has(&t, X, type, "<" PROV "Activity>"));
    PE_CHECK(tset_has(&t, X, "<" PROV "used>", M));
    PE_CHECK(tset_has(&t, X, "<" PROV "used>", F));
    PE_CHECK(tset_has(&t, X, "<" PEV "rule>", "\"map_relation\""));
    PE_CHECK(tset_has(&t, X, "<" PROV "wasAssociatedWith>", "<urn:persona:model:persona-rel/1.2>"));
    PE_CHECK(tset_has(&t, "<urn:persona:model:persona-rel/1.2>", type, "<" PROV "SoftwareAgent>"));
    PE_CHECK(tset_has(&t, D, type, "<" PROV "Derivation>"));
    PE_CHECK(tset_has(&t, D, "<" PROV "entity>", M));
    PE_CHECK(tset_has(&t, D, "<" PROV "hadActivity>", X));
    PE_CHECK(tset_has(&t, D, "<" PEV "relationScore>", "\"0.9\"^^<http://www.w3.org/2001/XMLSchema#double>"));
    PE_CHECK(tset_has(&t, D, "<" PEV "linkScore>", "\"0.875\"^^<http://www.w3.org/2001/XMLSchema#double>"));
    PE_CHECK(tset_has(&t, D, "<" PEV "snippet>", "\"i live in \"paris\"\nreally\\\""));
    PE_CHECK(tset_has(&t, D, "<" PEV "spanStart>", "\"10\"^^<http://www.w3.org/2001/XMLSchema#integer>"));
    PE_CHECK(tset_has(&t, F, "<" PEV "predicate>", "<http://www.wikidata.org/prop/direct/P17>"));
    PE_CHECK(tset_has(&t, F, "<" PEV "object>", "<http://www.wikidata.org/entity/Q142>"));
    PE_CHECK(tset_has(&t, F, "<" PEV "importSource>", "\"latest-all.json.gz\""));
    PE_CHECK(tset_has(&t, F, "<" PEV "dumpDate>", "\"2024-05-01\""));
    /* the replacing evidence names what it replaced */
    char D2[220];
    snprintf(D2, sizeof D2, "<urn:persona:user:%s/attr/2/evidence/1/derivation>", ref);
    PE_CHECK(tset_has(&t, D2, "<" PEV "replaced>", "\"paris\""));
    /* one message node for m1, described once */
    char mprefix[256];
    snprintf(mprefix, sizeof mprefix, "%s <" PEV "messageId>", M);
    PE_CHECK_EQ_INT(tset_count_prefix(&t, mprefix), 1);
    /* one attribute only */
    pe_ps_reader_begin(ps, &r);
    char *one = NULL;
    PE_CHECK(pe_ps_export_prov(r, "user \"7\"/x", "pets", PE_PS_PROV_TURTLE, &one, NULL) == PE_OK);
    tset o = {0};
    PE_CHECK(one && parse_turtle(one, &o) == 0 && o.n == 2); /* the user agent only */
    pe_ps_reader_end(r);
    free(one);
    tset_free(&o);
    tset_free(&t);
    tset_free(&j);
    free(ttl);
    free(js);
    pe_ps_close(ps);
}

/* ---- a full map ---------------------------------------------------------------------------------- */

static void test_map_full(void)
{
    char dir[128];
    pe_ps *ps = NULL;
    pe_ps_options o = pe_ps_options_default();
    o.map_size = (size_t)256 << 10;
    pe_error err;
    PE_CHECK_MSG(pe_ps_open(newdir(dir, sizeof dir), &o, &ps, &err) == PE_OK, "%s", err.msg);
    if (!ps) return;
    PE_CHECK_EQ_INT(put1(ps, "u1", "have_pet", "dog", "m0", 1, 0), PE_PS_ADDED);
    char big[PE_PS_MAX_SNIPPET + 1];
    memset(big, 'x', PE_PS_MAX_SNIPPET);
    big[PE_PS_MAX_SNIPPET] = 0;
    pe_ps_writer *w;
    PE_CHECK(pe_ps_writer_begin(ps, &w) == PE_OK);
    pe_status st = PE_OK;
    int i;
    for (i = 0; i < 1000 && st == PE_OK; i++) {
        char msg[32], val[32];
        snprintf(msg, sizeof msg, "m%d", i + 1);
        snprintf(val, sizeof val, "v%d", i);
        pe_ps_upsert up = upsert("u1", "interest", val, 0.5, 0);
        pe_ps_evidence ev = evidence(msg, i, big);
        st = pe_ps_upsert_attr(w, &up, &ev, NULL);
    }
    PE_CHECK_MSG(st == PE_ERR_FULL && i < 1000, "status %s after %d upserts", pe_status_str(st), i);
    PE_CHECK(strstr(pe_ps_errmsg(ps), "map_size") != NULL);
    /* sticky: later calls and the commit give the same status */
    pe_ps_upsert up = upsert("u1", "interest", "small", 0.5, 0);
    pe_ps_evidence ev = evidence("m-small", 1, "s");
    PE_CHECK(pe_ps_upsert_attr(w, &up, &ev, NULL) == PE_ERR_FULL);
    PE_CHECK(pe_ps_writer_commit(w) == PE_ERR_FULL);
    /* nothing of that writer is stored; what was committed before is */
    pe_ps_stats s = stats(ps);
    PE_CHECK(s.attributes == 1 && s.evidence == 1 && s.audit_records == 1);
    PE_CHECK(verify(ps, NULL) == PE_OK);
    pe_ps_reader *r;
    PE_CHECK(pe_ps_reader_begin(ps, &r) == PE_OK);
    PE_CHECK_EQ_INT(put1(ps, "u2", "have_pet", "cat", "m1", 1, 0), PE_PS_ADDED);
    PE_CHECK(pe_ps_stats_get(r, &s) == PE_OK && s.users == 1); /* its snapshot */
    PE_CHECK(pe_ps_reader_renew(r) == PE_OK);
    PE_CHECK(pe_ps_stats_get(r, &s) == PE_OK && s.users == 2);
    const char *u = NULL;
    PE_CHECK(pe_ps_user_next(r, "u1", &u) == PE_OK);
    PE_CHECK_EQ_STR(u, "u2");
    PE_CHECK(pe_ps_user_next(r, "u", &u) == PE_OK);
    PE_CHECK_EQ_STR(u, "u1");
    pe_ps_reader_end(r);
    pe_ps_close(ps);
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(g_root, sizeof g_root, "%s/pe_ps_XXXXXX", tmp && *tmp && strlen(tmp) < 40 ? tmp : "/tmp");
    if (!mkdtemp(g_root)) {
        perror("mkdtemp");
        return 1;
    }
    PE_RUN(test_mask);
    PE_RUN(test_upsert_and_list);
    PE_RUN(test_idempotent);
    PE_RUN(test_functional_history_retract);
    PE_RUN(test_withhold);
    PE_RUN(test_audit_tamper);
    PE_RUN(test_forget);
    PE_RUN(test_forget_pending);
    PE_RUN(test_forget_pending_on_open);
    PE_RUN(test_layout_version);
    PE_RUN(test_errors);
    PE_RUN(test_map_full);
    PE_RUN(test_concurrent_readers);
    PE_RUN(test_snapshot_stamp);
    PE_RUN(test_prov);
    rm_rf(g_root);
    PE_TEST_EXIT();
}
