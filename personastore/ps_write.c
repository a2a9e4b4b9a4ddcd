/* ps_write.c - the writer's operations: upsert with evidence, retract,
 * withhold, forget, and the hash-chained audit append. */
#define _GNU_SOURCE
#include "ps_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>

#define PS_RET_FAILED(w) do { if ((w)->failed != PE_OK) return (w)->failed; } while (0)

/* ---- records ------------------------------------------------------------------ */

size_t ps_key_uid_aid(unsigned char *k, uint64_t uid, uint64_t aid)
{
    pe_put_be64(k, uid);
    pe_put_be64(k + 8, aid);
    return 16;
}

void ps_attr_encode(ps_buf *b, const ps_attr_rec *a)
{
    unsigned flags = (a->functional ? 1u : 0) | (a->relation ? 2u : 0) | (a->entity ? 4u : 0) |
                     (a->replaced_by ? 8u : 0);
    ps_buf_u8(b, 1);
    ps_buf_u8(b, a->state);
    ps_buf_u8(b, a->sensitivity);
    ps_buf_u8(b, flags);
    ps_buf_u32(b, 0);
    ps_buf_f64(b, a->confidence);
    ps_buf_f64(b, a->first_seen);
    ps_buf_f64(b, a->last_seen);
    ps_buf_f64(b, a->changed);
    ps_buf_u32(b, a->n_evidence);
    ps_buf_u32(b, a->next_eseq);
    ps_buf_str(b, a->attribute);
    ps_buf_str(b, a->relation);
    ps_buf_str(b, a->value);
    ps_buf_str(b, a->entity);
    ps_buf_str(b, a->replaced_by);
}

pe_status ps_attr_decode(pe_ps *ps, const MDB_val *v, ps_attr_rec *a)
{
    ps_rd r = {v->mv_data, v->mv_size, 0, 0};
    unsigned ver = ps_rd_u8(&r);
    a->state = (pe_ps_state)ps_rd_u8(&r);
    a->sensitivity = (pe_ps_sensitivity)ps_rd_u8(&r);
    unsigned flags = ps_rd_u8(&r);
    ps_rd_u32(&r);
    a->confidence = ps_rd_f64(&r);
    a->first_seen = ps_rd_f64(&r);
    a->last_seen = ps_rd_f64(&r);
    a->changed = ps_rd_f64(&r);
    a->n_evidence = ps_rd_u32(&r);
    a->next_eseq = ps_rd_u32(&r);
    a->attribute = ps_rd_str(&r);
    a->relation = ps_rd_str(&r);
    a->value = ps_rd_str(&r);
    a->entity = ps_rd_str(&r);
    a->replaced_by = ps_rd_str(&r);
    a->functional = flags & 1;
    if (!(flags & 2)) a->relation = NULL;
    if (!(flags & 4)) a->entity = NULL;
    if (!(flags & 8)) a->replaced_by = NULL;
    if (r.bad || ver != 1 || a->state > PE_PS_RETRACTED || a->sensitivity >= PE_PS_SENS_COUNT)
        return ps_fail(ps, PE_ERR_CORRUPT, "%s: damaged attribute record", ps->dir);
    return PE_OK;
}

static void evidence_encode(ps_buf *b, const pe_ps_evidence *ev, const char *snippet, const char *replaced,
                            double recorded)
{
    unsigned flags = (snippet ? 1u : 0) | (ev->model_id ? 2u : 0) | (ev->model_version ? 4u : 0) |
                     (ev->entity ? 8u : 0) | (ev->rule ? 16u : 0) | (replaced ? 32u : 0);
    ps_buf_u8(b, 1);
    ps_buf_u8(b, ev->method);
    ps_buf_u8(b, flags);
    ps_buf_u8(b, (unsigned)ev->n_facts);
    ps_buf_u32(b, ev->span_start);
    ps_buf_u32(b, ev->span_end);
    ps_buf_f64(b, ev->message_time);
    ps_buf_f64(b, recorded);
    ps_buf_f64(b, ev->relation_score);
    ps_buf_f64(b, ev->ner_score);
    ps_buf_f64(b, ev->link_score);
    ps_buf_str(b, ev->message_id);
    ps_buf_str(b, snippet);
    ps_buf_str(b, ev->model_id);
    ps_buf_str(b, ev->model_version);
    ps_buf_str(b, ev->entity);
    ps_buf_str(b, ev->rule);
    ps_buf_str(b, replaced);
    for (size_t i = 0; i < ev->n_facts; i++) {
        const pe_ps_fact *f = &ev->facts[i];
        ps_buf_str(b, f->subject);
        ps_buf_str(b, f->predicate);
        ps_buf_str(b, f->object);
        ps_buf_str(b, f->source);
        ps_buf_str(b, f->dump_date);
    }
}

static void history_encode(ps_buf *b, pe_ps_change_kind kind, pe_ps_state state, double time, double conf,
                           const char *attribute, const char *value, const char *old_value,
                           const char *message_id, const char *rule, const char *reason)
{
    unsigned flags = (old_value ? 1u : 0) | (message_id ? 2u : 0) | (rule ? 4u : 0) | (reason ? 8u : 0);
    ps_buf_u8(b, 1);
    ps_buf_u8(b, kind);
    ps_buf_u8(b, state);
    ps_buf_u8(b, flags);
    ps_buf_u32(b, 0);
    ps_buf_f64(b, time);
    ps_buf_f64(b, conf);
    ps_buf_str(b, attribute);
    ps_buf_str(b, value);
    ps_buf_str(b, old_value);
    ps_buf_str(b, message_id);
    ps_buf_str(b, rule);
    ps_buf_str(b, reason);
}

static const char *nz(const char *s) { return s && *s ? s : NULL; }

/* ---- audit ---------------------------------------------------------------------- */

pe_status ps_audit_append(pe_ps_writer *w, const ps_audit_in *in, uint64_t *seq)
{
    PS_RET_FAILED(w);
    static const unsigned char zero[32];
    ps_buf b = {0};
    ps_buf_add(&b, zero, 32); /* hash, filled below */
    ps_buf_add(&b, w->audit_hash, 32);
    ps_buf_u8(&b, 1);
    ps_buf_u8(&b, in->kind);
    ps_buf_u8(&b, in->sensitivity);
    ps_buf_u8(&b, in->state);
    ps_buf_f64(&b, ps_wall_now());
    ps_buf_f64(&b, in->confidence);
    ps_buf_u64(&b, in->count);
    ps_buf_add(&b, in->user_ref, 32);
    ps_buf_add(&b, in->value ? in->value : zero, 32);
    ps_buf_add(&b, in->old_value ? in->old_value : zero, 32);
    ps_buf_add(&b, in->message ? in->message : zero, 32);
    ps_buf_str(&b, in->attribute);
    ps_buf_str(&b, in->relation);
    ps_buf_str(&b, in->rule);
    ps_buf_str(&b, in->reason);
    if (b.oom) {
        ps_buf_free(&b);
        w->failed = ps_fail(w->ps, PE_ERR_NOMEM, "out of memory");
        return w->failed;
    }
    uint64_t s = w->audit_seq + 1;
    unsigned char hdr[sizeof PS_AUDIT_DOMAIN - 1 + 8];
    memcpy(hdr, PS_AUDIT_DOMAIN, sizeof PS_AUDIT_DOMAIN - 1);
    pe_put_be64(hdr + sizeof PS_AUDIT_DOMAIN - 1, s);
    ps_sha256(hdr, sizeof hdr, b.b + 32, b.len - 32, b.b);
    unsigned char kb[8], head[40];
    pe_put_be64(kb, s);
    MDB_val k = {8, kb}, v = {b.len, b.b};
    int rc = ps_wput(w, w->ps->dbi[PS_AUDIT], &k, &v, MDB_APPEND);
    if (!rc) {
        pe_put_be64(head, s);
        memcpy(head + 8, b.b, 32);
        MDB_val hk = {10, "audit_head"}, hv = {40, head};
        rc = ps_wput(w, w->ps->dbi[PS_META], &hk, &hv, 0);
    }
    if (rc) {
        ps_buf_free(&b);
        return ps_wfail(w, rc, "audit log");
    }
    w->audit_seq = s;
    memcpy(w->audit_hash, b.b, 32);
    ps_buf_free(&b);
    if (seq) *seq = s;
    return PE_OK;
}

/* ---- users ---------------------------------------------------------------------- */

pe_status ps_user_get(pe_ps *ps, MDB_txn *txn, const char *user, ps_user_rec *out)
{
    MDB_val k = {strlen(user), (void *)user}, d;
    int rc = mdb_get(txn, ps->dbi[PS_USER], &k, &d);
    if (rc == MDB_NOTFOUND) return PE_NOT_FOUND;
    if (rc) return ps_mdb_fail(ps, rc, "user");
    if (d.mv_size != PS_USER_REC || ((unsigned char *)d.mv_data)[0] != 1)
        return ps_fail(ps, PE_ERR_CORRUPT, "%s: damaged user record", ps->dir);
    const unsigned char *p = d.mv_data;
    out->uid = pe_get_be64(p + 8);
    out->created = pe_get_bed(p + 16);
    memcpy(out->salt, p + 24, 32);
    return PE_OK;
}

static pe_status meta_next(pe_ps_writer *w, const char *key, uint64_t *out)
{
    MDB_val k = {strlen(key), (void *)key}, d;
    int rc = mdb_get(w->txn, w->ps->dbi[PS_META], &k, &d);
    if (rc) return ps_wfail(w, rc, key);
    if (d.mv_size != 8) return w->failed = ps_fail(w->ps, PE_ERR_CORRUPT, "%s: damaged meta '%s'", w->ps->dir, key);
    *out = pe_get_be64(d.mv_data);
    unsigned char b[8];
    pe_put_be64(b, *out + 1);
    MDB_val nv = {8, b};
    rc = ps_wput(w, w->ps->dbi[PS_META], &k, &nv, 0);
    return rc ? ps_wfail(w, rc, key) : PE_OK;
}

static pe_status user_ensure(pe_ps_writer *w, const char *user, ps_user_rec *u)
{
    pe_status st = ps_user_get(w->ps, w->txn, user, u);
    if (st != PE_NOT_FOUND) return st >= PE_ERR_FIRST ? (w->failed = st) : st;
    PE_TRY(st, meta_next(w, "next_uid", &u->uid));
    u->created = ps_wall_now();
    size_t got = 0;
    while (got < 32) {
        ssize_t n = getrandom(u->salt + got, 32 - got, 0);
        if (n < 0) return w->failed = ps_fail(w->ps, PE_ERR_IO, "getrandom: no random bytes for the user's salt");
        got += (size_t)n;
    }
    unsigned char rec[PS_USER_REC] = {1};
    pe_put_be64(rec + 8, u->uid);
    pe_put_bed(rec + 16, u->created);
    memcpy(rec + 24, u->salt, 32);
    MDB_val k = {strlen(user), (void *)user}, d = {PS_USER_REC, rec};
    int rc = ps_wput(w, w->ps->dbi[PS_USER], &k, &d, MDB_NOOVERWRITE);
    return rc ? ps_wfail(w, rc, "user") : PE_OK;
}

static void salted(const ps_user_rec *u, const char *s, unsigned char out[32])
{
    ps_sha256(u->salt, 32, s, strlen(s), out);
}

static void d16(const char *s, unsigned char out[16])
{
    unsigned char d[32];
    ps_sha256(s, strlen(s), NULL, 0, d);
    memcpy(out, d, 16);
}

/* attr_idx key: uid, attribute\0, d16(value). */
static size_t idx_key(unsigned char *k, uint64_t uid, const char *attribute, const char *value)
{
    size_t n = strlen(attribute);
    pe_put_be64(k, uid);
    memcpy(k + 8, attribute, n + 1);
    d16(value, k + 8 + n + 1);
    return 8 + n + 1 + 16;
}

/* Reads attribute (uid, aid) into a (borrowing from LMDB's page: copy what
 * must outlive the next write). */
static pe_status attr_load(pe_ps_writer *w, uint64_t uid, uint64_t aid, ps_attr_rec *a)
{
    unsigned char kb[16];
    MDB_val k = {ps_key_uid_aid(kb, uid, aid), kb}, d;
    int rc = mdb_get(w->txn, w->ps->dbi[PS_ATTR], &k, &d);
    if (rc) return ps_wfail(w, rc, "attribute");
    pe_status st = ps_attr_decode(w->ps, &d, a);
    if (st != PE_OK) w->failed = st;
    return st;
}

static pe_status attr_store(pe_ps_writer *w, uint64_t uid, uint64_t aid, const ps_attr_rec *a)
{
    ps_buf b = {0};
    ps_attr_encode(&b, a);
    if (b.oom) {
        ps_buf_free(&b);
        return w->failed = ps_fail(w->ps, PE_ERR_NOMEM, "out of memory");
    }
    unsigned char kb[16];
    MDB_val k = {ps_key_uid_aid(kb, uid, aid), kb}, d = {b.len, b.b};
    int rc = ps_wput(w, w->ps->dbi[PS_ATTR], &k, &d, 0);
    ps_buf_free(&b);
    return rc ? ps_wfail(w, rc, "attribute") : PE_OK;
}

static pe_status history_put(pe_ps_writer *w, uint64_t uid, uint64_t seq, ps_buf *b)
{
    if (b->oom) return w->failed = ps_fail(w->ps, PE_ERR_NOMEM, "out of memory");
    unsigned char kb[16];
    MDB_val k = {ps_key_uid_aid(kb, uid, seq), kb}, d = {b->len, b->b};
    int rc = ps_wput(w, w->ps->dbi[PS_HIST], &k, &d, 0);
    return rc ? ps_wfail(w, rc, "history") : PE_OK;
}

/* An owned copy of an attribute record's strings (LMDB pages move on write). */
typedef struct attr_copy {
    ps_attr_rec a;
    char *s[5];
} attr_copy;

static void attr_copy_free(attr_copy *c)
{
    for (int i = 0; i < 5; i++) free(c->s[i]);
}

static int attr_copy_take(attr_copy *c, const ps_attr_rec *a)
{
    c->a = *a;
    const char *src[5] = {a->attribute, a->relation, a->value, a->entity, a->replaced_by};
    const char **dst[5] = {&c->a.attribute, &c->a.relation, &c->a.value, &c->a.entity, &c->a.replaced_by};
    for (int i = 0; i < 5; i++) {
        c->s[i] = NULL;
        if (src[i] && !(c->s[i] = strdup(src[i]))) return 0;
        *dst[i] = c->s[i];
    }
    return 1;
}

/* The CURRENT value of (uid, attribute) other than `except`: *aid = 0 when none. */
static pe_status find_current(pe_ps_writer *w, uint64_t uid, const char *attribute, uint64_t except, uint64_t *aid,
                              attr_copy *out)
{
    *aid = 0;
    MDB_cursor *c;
    int rc = mdb_cursor_open(w->txn, w->ps->dbi[PS_ATTR], &c);
    if (rc) return ps_wfail(w, rc, "attribute cursor");
    unsigned char kb[8];
    pe_put_be64(kb, uid);
    MDB_val k = {8, kb}, d;
    pe_status st = PE_OK;
    rc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE);
    while (rc == 0 && k.mv_size == 16 && pe_get_be64(k.mv_data) == uid) {
        ps_attr_rec a;
        if ((st = ps_attr_decode(w->ps, &d, &a)) != PE_OK) break;
        uint64_t id = pe_get_be64((unsigned char *)k.mv_data + 8);
        if (id != except && a.state == PE_PS_CURRENT && strcmp(a.attribute, attribute) == 0) {
            if (!attr_copy_take(out, &a)) st = ps_fail(w->ps, PE_ERR_NOMEM, "out of memory");
            else *aid = id;
            break;
        }
        rc = mdb_cursor_get(c, &k, &d, MDB_NEXT);
    }
    mdb_cursor_close(c);
    if (st != PE_OK) return w->failed = st;
    if (rc && rc != MDB_NOTFOUND) return ps_wfail(w, rc, "attribute cursor");
    return PE_OK;
}

/* ---- checks --------------------------------------------------------------------- */

static pe_status check_evidence(pe_ps *ps, const pe_ps_evidence *ev)
{
    pe_status st;
    if (!ev) return ps_fail(ps, PE_ERR_INVALID, "no evidence given");
    PE_TRY(st, ps_check_text(ps, "message id", ev->message_id, PE_PS_MAX_VALUE, 0));
    PE_TRY(st, ps_check_text(ps, "snippet", ev->snippet, PE_PS_MAX_SNIPPET, 1));
    PE_TRY(st, ps_check_text(ps, "model id", ev->model_id, PE_PS_MAX_VALUE, 1));
    PE_TRY(st, ps_check_text(ps, "model version", ev->model_version, PE_PS_MAX_VALUE, 1));
    PE_TRY(st, ps_check_text(ps, "evidence entity", ev->entity, PE_PS_MAX_VALUE, 1));
    PE_TRY(st, ps_check_name(ps, "rule", ev->rule, PE_PS_MAX_RULE, 1));
    if ((unsigned)ev->method > PE_PS_FROM_PROFILE) return ps_fail(ps, PE_ERR_INVALID, "unknown evidence method %d", ev->method);
    if (ev->span_end < ev->span_start)
        return ps_fail(ps, PE_ERR_INVALID, "span [%u, %u) ends before it starts", ev->span_start, ev->span_end);
    if (ev->n_facts > PE_PS_MAX_FACTS)
        return ps_fail(ps, PE_ERR_LIMIT, "%zu graph facts (at most %d)", ev->n_facts, PE_PS_MAX_FACTS);
    if (ev->n_facts && !ev->facts) return ps_fail(ps, PE_ERR_INVALID, "n_facts without facts");
    if (!isfinite(ev->message_time)) return ps_fail(ps, PE_ERR_INVALID, "message time is not a number");
    for (size_t i = 0; i < ev->n_facts; i++) {
        const pe_ps_fact *f = &ev->facts[i];
        PE_TRY(st, ps_check_text(ps, "fact subject", f->subject, PE_PS_MAX_FACT, 0));
        PE_TRY(st, ps_check_text(ps, "fact predicate", f->predicate, PE_PS_MAX_FACT, 0));
        PE_TRY(st, ps_check_text(ps, "fact object", f->object, PE_PS_MAX_FACT, 0));
        PE_TRY(st, ps_check_text(ps, "fact source", f->source, PE_PS_MAX_FACT, 0));
        PE_TRY(st, ps_check_text(ps, "fact dump date", f->dump_date, PE_PS_MAX_FACT, 1));
    }
    return PE_OK;
}

static pe_status check_cause(pe_ps *ps, const pe_ps_cause *why, int need_message)
{
    pe_status st;
    if (!why) return need_message ? ps_fail(ps, PE_ERR_INVALID, "no cause given") : PE_OK;
    PE_TRY(st, ps_check_name(ps, "rule", why->rule, PE_PS_MAX_RULE, 1));
    PE_TRY(st, ps_check_text(ps, "reason", why->reason, PE_PS_MAX_REASON, 1));
    PE_TRY(st, ps_check_text(ps, "message id", why->message_id, PE_PS_MAX_VALUE, !need_message));
    return PE_OK;
}

/* Normalised value (malloc'd) or NULL with the error set. */
static char *fold_value(pe_ps *ps, const char *value, pe_status *st)
{
    if ((*st = ps_check_text(ps, "value", value, PE_PS_MAX_VALUE, 0)) != PE_OK) return NULL;
    char *v = pe_text_fold(value, strlen(value), st);
    if (!v) {
        *st = ps_fail(ps, *st, "value: %s", pe_status_str(*st));
        return NULL;
    }
    if (!*v) {
        free(v);
        *st = ps_fail(ps, PE_ERR_INVALID, "value is empty after normalisation");
        return NULL;
    }
    return v;
}

/* ---- upsert --------------------------------------------------------------------- */

pe_status pe_ps_upsert_attr(pe_ps_writer *w, const pe_ps_upsert *up, const pe_ps_evidence *ev,
                            pe_ps_upsert_result *res)
{
    if (res) memset(res, 0, sizeof *res);
    if (!w || !up) return PE_ERR_INVALID;
    pe_ps *ps = w->ps;
    pe_status st;
    PE_TRY(st, ps_check_user(ps, up->user));
    PE_TRY(st, ps_check_name(ps, "attribute", up->attribute, PE_PS_MAX_NAME, 0));
    PE_TRY(st, ps_check_name(ps, "relation", up->relation, PE_PS_MAX_NAME, 1));
    PE_TRY(st, ps_check_text(ps, "entity", up->entity, PE_PS_MAX_VALUE, 1));
    if (!(up->confidence >= 0 && up->confidence <= 1))
        return ps_fail(ps, PE_ERR_INVALID, "confidence %g outside [0, 1]", up->confidence);
    if ((unsigned)up->sensitivity >= PE_PS_SENS_COUNT)
        return ps_fail(ps, PE_ERR_INVALID, "unknown sensitivity class %d", up->sensitivity);
    PE_TRY(st, check_evidence(ps, ev));
    PS_RET_FAILED(w);
    char *value = fold_value(ps, up->value, &st);
    if (!value) return st;
    char *snippet = NULL;
    if (nz(ev->snippet)) {
        snippet = pe_ps_mask_identifiers(ev->snippet, strlen(ev->snippet), NULL, NULL);
        if (!snippet) {
            free(value);
            return ps_fail(ps, PE_ERR_NOMEM, "out of memory");
        }
    }
    attr_copy cur = {0}, other = {0};
    ps_buf b = {0};
    ps_user_rec u;
    uint64_t aid = 0, other_aid = 0;
    int is_new = 0;
    double now = ps_wall_now();

    if ((st = user_ensure(w, up->user, &u)) >= PE_ERR_FIRST) goto out;
    unsigned char ik[8 + PE_PS_MAX_NAME + 1 + 16];
    MDB_val k = {idx_key(ik, u.uid, up->attribute, value), ik}, d;
    int rc = mdb_get(w->txn, ps->dbi[PS_ATTR_IDX], &k, &d);
    if (rc == 0 && d.mv_size == 8) {
        aid = pe_get_be64(d.mv_data);
    } else if (rc == MDB_NOTFOUND) {
        is_new = 1;
    } else {
        st = rc ? ps_wfail(w, rc, "attribute index")
                : (w->failed = ps_fail(ps, PE_ERR_CORRUPT, "%s: damaged attribute index", ps->dir));
        goto out;
    }

    unsigned char ek[16 + 16];
    if (!is_new) {
        /* Idempotence: this message already supports this value. */
        ps_key_uid_aid(ek, u.uid, aid);
        d16(ev->message_id, ek + 16);
        MDB_val evk = {32, ek};
        rc = mdb_get(w->txn, ps->dbi[PS_EV_IDX], &evk, &d);
        if (rc == 0) {
            if (res) {
                res->outcome = PE_PS_UNCHANGED;
                res->attr_id = aid;
            }
            st = PE_OK;
            goto out;
        }
        if (rc != MDB_NOTFOUND) { st = ps_wfail(w, rc, "evidence index"); goto out; }
        ps_attr_rec a;
        if ((st = attr_load(w, u.uid, aid, &a)) != PE_OK) goto out;
        if (!attr_copy_take(&cur, &a)) { st = w->failed = ps_fail(ps, PE_ERR_NOMEM, "out of memory"); goto out; }
    } else {
        if ((st = meta_next(w, "next_aid", &aid)) != PE_OK) goto out;
        cur.a.attribute = up->attribute;
        cur.a.value = value;
        cur.a.first_seen = cur.a.last_seen = ev->message_time;
        cur.a.state = PE_PS_HISTORY; /* decided below */
        cur.a.changed = now;
        pe_put_be64(ek, aid);
        MDB_val av = {8, ek};
        rc = ps_wput(w, ps->dbi[PS_ATTR_IDX], &k, &av, 0);
        if (rc) { st = ps_wfail(w, rc, "attribute index"); goto out; }
    }

    /* State: one CURRENT value per functional attribute. */
    pe_ps_state old_state = is_new ? (pe_ps_state)-1 : cur.a.state, new_state = PE_PS_CURRENT;
    if (up->functional) {
        if ((st = find_current(w, u.uid, up->attribute, aid, &other_aid, &other)) != PE_OK) goto out;
        if (other_aid && up->keep_current) {
            new_state = PE_PS_HISTORY;
            other_aid = 0;
        }
    }
    const char *replaced = other_aid ? other.a.value : NULL;

    /* Evidence and its index. */
    uint32_t eseq = cur.a.next_eseq;
    evidence_encode(&b, ev, snippet, replaced, now);
    if (b.oom) { st = w->failed = ps_fail(ps, PE_ERR_NOMEM, "out of memory"); goto out; }
    unsigned char evk[20];
    ps_key_uid_aid(evk, u.uid, aid);
    pe_put_be32(evk + 16, eseq);
    MDB_val evkey = {20, evk}, evval = {b.len, b.b};
    rc = ps_wput(w, ps->dbi[PS_EV], &evkey, &evval, 0);
    if (!rc) {
        unsigned char ik2[32], sv[4];
        ps_key_uid_aid(ik2, u.uid, aid);
        d16(ev->message_id, ik2 + 16);
        pe_put_be32(sv, eseq);
        MDB_val ikey = {32, ik2}, ival = {4, sv};
        rc = ps_wput(w, ps->dbi[PS_EV_IDX], &ikey, &ival, 0);
    }
    if (rc) { st = ps_wfail(w, rc, "evidence"); goto out; }
    ps_buf_free(&b);

    /* The value it replaces goes to history first (its own audit record). */
    unsigned char uref[32], vd[32], od[32], md[32];
    ps_user_ref_bin(up->user, uref);
    salted(&u, value, vd);
    salted(&u, ev->message_id, md);
    if (other_aid) {
        other.a.state = PE_PS_HISTORY;
        other.a.changed = now;
        other.a.replaced_by = value;
        if ((st = attr_store(w, u.uid, other_aid, &other.a)) != PE_OK) goto out;
        salted(&u, other.a.value, od);
        ps_audit_in ai = {.kind = PE_PS_UPDATE, .sensitivity = other.a.sensitivity, .state = PE_PS_HISTORY,
                          .confidence = other.a.confidence, .user_ref = uref, .value = od, .message = md,
                          .attribute = other.a.attribute, .relation = other.a.relation, .rule = ev->rule,
                          .reason = "replaced"};
        uint64_t seq;
        if ((st = ps_audit_append(w, &ai, &seq)) != PE_OK) goto out;
        history_encode(&b, PE_PS_UPDATE, PE_PS_HISTORY, now, other.a.confidence, other.a.attribute,
                       other.a.value, NULL, ev->message_id, ev->rule, "replaced");
        if ((st = history_put(w, u.uid, seq, &b)) != PE_OK) goto out;
        ps_buf_free(&b);
    }

    ps_attr_rec na = cur.a;
    na.relation = nz(up->relation) ? up->relation : cur.a.relation;
    if (nz(up->entity)) na.entity = up->entity;
    na.confidence = up->confidence;
    na.sensitivity = up->sensitivity;
    na.functional = up->functional ? 1 : 0;
    if (is_new || ev->message_time < na.first_seen) na.first_seen = ev->message_time;
    if (is_new || ev->message_time > na.last_seen) na.last_seen = ev->message_time;
    na.state = new_state;
    if (new_state != old_state) na.changed = now;
    if (new_state == PE_PS_CURRENT) na.replaced_by = NULL;
    na.n_evidence++;
    na.next_eseq = eseq + 1;
    if ((st = attr_store(w, u.uid, aid, &na)) != PE_OK) goto out;

    ps_audit_in ai = {.kind = is_new ? PE_PS_ADD : PE_PS_UPDATE, .sensitivity = na.sensitivity,
                      .state = new_state, .confidence = na.confidence, .user_ref = uref, .value = vd,
                      .old_value = other_aid ? od : NULL, .message = md, .attribute = na.attribute,
                      .relation = na.relation, .rule = ev->rule};
    uint64_t seq;
    if ((st = ps_audit_append(w, &ai, &seq)) != PE_OK) goto out;
    history_encode(&b, ai.kind, new_state, now, na.confidence, na.attribute, value, replaced, ev->message_id,
                   ev->rule, NULL);
    if ((st = history_put(w, u.uid, seq, &b)) != PE_OK) goto out;
    if (res) {
        res->outcome = other_aid ? PE_PS_REPLACED : is_new ? PE_PS_ADDED : PE_PS_UPDATED;
        res->attr_id = aid;
        res->audit_seq = seq;
    }
    st = PE_OK;
out:
    ps_buf_free(&b);
    attr_copy_free(&cur);
    attr_copy_free(&other);
    free(value);
    free(snippet);
    return st;
}

/* ---- retract ---------------------------------------------------------------------- */

static pe_status retract_one(pe_ps_writer *w, const ps_user_rec *u, const char *user, uint64_t aid,
                             const ps_attr_rec *a, const pe_ps_cause *why)
{
    pe_status st;
    attr_copy c = {0};
    if (!attr_copy_take(&c, a)) return w->failed = ps_fail(w->ps, PE_ERR_NOMEM, "out of memory");
    double now = ps_wall_now();
    c.a.state = PE_PS_RETRACTED;
    c.a.changed = now;
    c.a.replaced_by = NULL;
    st = attr_store(w, u->uid, aid, &c.a);
    unsigned char uref[32], vd[32], md[32];
    ps_user_ref_bin(user, uref);
    salted(u, c.a.value, vd);
    const char *msg = why ? nz(why->message_id) : NULL;
    if (msg) salted(u, msg, md);
    ps_audit_in ai = {.kind = PE_PS_RETRACT, .sensitivity = c.a.sensitivity, .state = PE_PS_RETRACTED,
                      .confidence = c.a.confidence, .user_ref = uref, .value = vd, .message = msg ? md : NULL,
                      .attribute = c.a.attribute, .relation = c.a.relation, .rule = why ? nz(why->rule) : NULL,
                      .reason = why ? nz(why->reason) : NULL};
    uint64_t seq = 0;
    if (st == PE_OK) st = ps_audit_append(w, &ai, &seq);
    if (st == PE_OK) {
        ps_buf b = {0};
        history_encode(&b, PE_PS_RETRACT, PE_PS_RETRACTED, now, c.a.confidence, c.a.attribute, c.a.value, NULL,
                       msg, ai.rule, ai.reason);
        st = history_put(w, u->uid, seq, &b);
        ps_buf_free(&b);
    }
    attr_copy_free(&c);
    return st;
}

pe_status pe_ps_retract(pe_ps_writer *w, const char *user, const char *attribute, const char *value,
                        const pe_ps_cause *why, size_t *n)
{
    if (n) *n = 0;
    if (!w) return PE_ERR_INVALID;
    pe_ps *ps = w->ps;
    pe_status st;
    PE_TRY(st, ps_check_user(ps, user));
    PE_TRY(st, ps_check_name(ps, "attribute", attribute, PE_PS_MAX_NAME, 0));
    PE_TRY(st, check_cause(ps, why, 0));
    PS_RET_FAILED(w);
    char *v = NULL;
    if (value && !(v = fold_value(ps, value, &st))) return st;
    ps_user_rec u;
    st = ps_user_get(ps, w->txn, user, &u);
    if (st != PE_OK) {
        free(v);
        if (st >= PE_ERR_FIRST) w->failed = st;
        return st;
    }
    size_t done = 0;
    if (v) {
        unsigned char ik[8 + PE_PS_MAX_NAME + 1 + 16];
        MDB_val k = {idx_key(ik, u.uid, attribute, v), ik}, d;
        int rc = mdb_get(w->txn, ps->dbi[PS_ATTR_IDX], &k, &d);
        free(v);
        if (rc == MDB_NOTFOUND) return PE_NOT_FOUND;
        if (rc) return ps_wfail(w, rc, "attribute index");
        uint64_t aid = pe_get_be64(d.mv_data);
        ps_attr_rec a;
        PE_TRY(st, attr_load(w, u.uid, aid, &a));
        if (a.state == PE_PS_RETRACTED) return PE_NOT_FOUND;
        PE_TRY(st, retract_one(w, &u, user, aid, &a, why));
        done = 1;
    } else {
        /* Every CURRENT value of the attribute; aids collected first, since
         * writing moves the cursor's pages. */
        uint64_t found;
        attr_copy c = {0};
        for (;;) {
            PE_TRY(st, find_current(w, u.uid, attribute, 0, &found, &c));
            if (!found) break;
            st = retract_one(w, &u, user, found, &c.a, why);
            attr_copy_free(&c);
            memset(&c, 0, sizeof c);
            if (st != PE_OK) return st;
            done++;
        }
    }
    if (n) *n = done;
    return done ? PE_OK : PE_NOT_FOUND;
}

/* ---- withhold ---------------------------------------------------------------------- */

pe_status pe_ps_withhold_attr(pe_ps_writer *w, const pe_ps_withhold *in, uint64_t *audit_seq)
{
    if (audit_seq) *audit_seq = 0;
    if (!w || !in) return PE_ERR_INVALID;
    pe_ps *ps = w->ps;
    pe_status st;
    PE_TRY(st, ps_check_user(ps, in->user));
    PE_TRY(st, ps_check_name(ps, "attribute", in->attribute, PE_PS_MAX_NAME, 0));
    PE_TRY(st, ps_check_name(ps, "relation", in->relation, PE_PS_MAX_NAME, 1));
    PE_TRY(st, check_cause(ps, &in->why, 1));
    if ((unsigned)in->sensitivity >= PE_PS_SENS_COUNT)
        return ps_fail(ps, PE_ERR_INVALID, "unknown sensitivity class %d", in->sensitivity);
    PS_RET_FAILED(w);
    char *v = fold_value(ps, in->value, &st);
    if (!v) return st;
    ps_user_rec u;
    if ((st = user_ensure(w, in->user, &u)) >= PE_ERR_FIRST) {
        free(v);
        return st;
    }
    /* withheld key: uid, d16(attribute\0 value\0 message id) */
    ps_buf kb = {0};
    ps_buf_str(&kb, in->attribute);
    ps_buf_str(&kb, v);
    ps_buf_add(&kb, in->why.message_id, strlen(in->why.message_id));
    unsigned char key[24], dig[32];
    pe_put_be64(key, u.uid);
    ps_sha256(kb.b, kb.len, NULL, 0, dig);
    int oom = kb.oom;
    ps_buf_free(&kb);
    if (oom) {
        free(v);
        return w->failed = ps_fail(ps, PE_ERR_NOMEM, "out of memory");
    }
    memcpy(key + 8, dig, 16);
    MDB_val k = {24, key}, d;
    int rc = mdb_get(w->txn, ps->dbi[PS_WITHHELD], &k, &d);
    if (rc == 0) {
        free(v);
        return PE_OK;
    }
    if (rc != MDB_NOTFOUND) {
        free(v);
        return ps_wfail(w, rc, "withheld index");
    }
    unsigned char uref[32], vd[32], md[32];
    ps_user_ref_bin(in->user, uref);
    salted(&u, v, vd);
    salted(&u, in->why.message_id, md);
    free(v);
    ps_audit_in ai = {.kind = PE_PS_WITHHOLD, .sensitivity = in->sensitivity, .state = PE_PS_CURRENT,
                      .confidence = NAN, .user_ref = uref, .value = vd, .message = md,
                      .attribute = in->attribute, .relation = nz(in->relation), .rule = nz(in->why.rule),
                      .reason = nz(in->why.reason)};
    uint64_t seq;
    PE_TRY(st, ps_audit_append(w, &ai, &seq));
    unsigned char sv[8];
    pe_put_be64(sv, seq);
    MDB_val dv = {8, sv};
    rc = ps_wput(w, ps->dbi[PS_WITHHELD], &k, &dv, 0);
    if (rc) return ps_wfail(w, rc, "withheld index");
    if (audit_seq) *audit_seq = seq;
    return PE_OK;
}

/* ---- forget ---------------------------------------------------------------------- */

static pe_status erase_prefix(pe_ps_writer *w, int db, uint64_t uid, uint64_t *count)
{
    MDB_cursor *c;
    int rc = mdb_cursor_open(w->txn, w->ps->dbi[db], &c);
    if (rc) return ps_wfail(w, rc, ps_db_names[db]);
    unsigned char kb[8];
    pe_put_be64(kb, uid);
    MDB_val k = {8, kb}, d;
    rc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE);
    while (rc == 0 && k.mv_size >= 8 && memcmp(k.mv_data, kb, 8) == 0) {
        rc = mdb_cursor_del(c, 0);
        w->dirty = 1;
        if (rc) break;
        (*count)++;
        rc = mdb_cursor_get(c, &k, &d, MDB_NEXT);
    }
    mdb_cursor_close(c);
    if (rc && rc != MDB_NOTFOUND) return ps_wfail(w, rc, ps_db_names[db]);
    return PE_OK;
}

pe_status pe_ps_forget(pe_ps *ps, const char *user, const char *reason, pe_ps_forget_result *res)
{
    if (res) memset(res, 0, sizeof *res);
    if (!ps) return PE_ERR_INVALID;
    pe_status st;
    PE_TRY(st, ps_check_user(ps, user));
    PE_TRY(st, ps_check_text(ps, "reason", reason, PE_PS_MAX_REASON, 1));
    pe_ps_writer *w;
    PE_TRY(st, pe_ps_writer_begin(ps, &w));
    ps_user_rec u;
    st = ps_user_get(ps, w->txn, user, &u);
    if (st != PE_OK) {
        pe_ps_writer_abort(w);
        return st;
    }
    uint64_t count = 0;
    static const int dbs[] = {PS_ATTR, PS_ATTR_IDX, PS_EV, PS_EV_IDX, PS_HIST, PS_WITHHELD};
    for (size_t i = 0; i < sizeof dbs / sizeof *dbs && st == PE_OK; i++) st = erase_prefix(w, dbs[i], u.uid, &count);
    if (st == PE_OK) {
        MDB_val k = {strlen(user), (void *)user};
        int rc = ps_wdel(w, ps->dbi[PS_USER], &k, NULL);
        if (rc) st = ps_wfail(w, rc, "user");
        else count++;
    }
    unsigned char uref[32];
    ps_user_ref_bin(user, uref);
    ps_audit_in ai = {.kind = PE_PS_FORGET, .state = PE_PS_RETRACTED, .confidence = NAN, .count = count,
                      .user_ref = uref, .reason = nz(reason)};
    uint64_t seq = 0;
    if (st == PE_OK) st = ps_audit_append(w, &ai, &seq);
    if (st == PE_OK) {
        unsigned char one = 1;
        MDB_val k = {15, "rebuild_pending"}, d = {1, &one};
        int rc = ps_wput(w, ps->dbi[PS_META], &k, &d, 0);
        if (rc) st = ps_wfail(w, rc, "meta");
    }
    memset(&u, 0, sizeof u);
    if (st != PE_OK) {
        pe_ps_writer_abort(w);
        return st;
    }
    PE_TRY(st, pe_ps_writer_commit(w));
    if (res) {
        res->records = count;
        res->audit_seq = seq;
    }
    st = ps_rebuild(ps);
    if (st == PE_OK) {
        if (res) res->rebuilt = 1;
        return PE_OK;
    }
    char why[PE_ERRMSG_MAX];
    snprintf(why, sizeof why, "%s", ps->err.msg);
    return ps_fail(ps, st, "user erased (audit record %llu), but the store could not be rebuilt, so freed "
                           "pages may still hold its bytes: %s",
                   (unsigned long long)seq, why);
}
