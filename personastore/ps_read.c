/* ps_read.c - reading the persona store: users, attributes with evidence,
 * history, statistics, audit records and the verification of their chain. */
#include "ps_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

pe_status pe_ps_user_next(pe_ps_reader *r, const char *after, const char **user)
{
    if (user) *user = NULL;
    if (!r || !user) return PE_ERR_INVALID;
    MDB_cursor *c;
    int rc = mdb_cursor_open(r->txn, r->ps->dbi[PS_USER], &c);
    if (rc) return ps_mdb_fail(r->ps, rc, "user cursor");
    MDB_val k, d;
    if (after) {
        k.mv_size = strlen(after);
        k.mv_data = (void *)after;
        rc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE);
        if (rc == 0 && k.mv_size == strlen(after) && memcmp(k.mv_data, after, k.mv_size) == 0)
            rc = mdb_cursor_get(c, &k, &d, MDB_NEXT);
    } else {
        rc = mdb_cursor_get(c, &k, &d, MDB_FIRST);
    }
    mdb_cursor_close(c);
    if (rc == MDB_NOTFOUND) return PE_DONE;
    if (rc) return ps_mdb_fail(r->ps, rc, "user cursor");
    /* Keys are not NUL-terminated in the page: the answer is a copy. */
    if (k.mv_size >= sizeof r->scratch) return ps_fail(r->ps, PE_ERR_CORRUPT, "%s: user id too long", r->ps->dir);
    memcpy(r->scratch, k.mv_data, k.mv_size);
    r->scratch[k.mv_size] = '\0';
    *user = r->scratch;
    return PE_OK;
}

/* ---- evidence ------------------------------------------------------------------ */

pe_status ps_evidence_decode(pe_ps *ps, const MDB_val *v, pe_ps_evidence *ev, ps_arena *a)
{
    ps_rd r = {v->mv_data, v->mv_size, 0, 0};
    memset(ev, 0, sizeof *ev);
    unsigned ver = ps_rd_u8(&r);
    ev->method = (pe_ps_method)ps_rd_u8(&r);
    unsigned flags = ps_rd_u8(&r);
    unsigned nf = ps_rd_u8(&r);
    ev->span_start = ps_rd_u32(&r);
    ev->span_end = ps_rd_u32(&r);
    ev->message_time = ps_rd_f64(&r);
    ev->recorded = ps_rd_f64(&r);
    ev->relation_score = ps_rd_f64(&r);
    ev->ner_score = ps_rd_f64(&r);
    ev->link_score = ps_rd_f64(&r);
    const char *s[7];
    for (int i = 0; i < 7; i++) s[i] = ps_rd_str(&r);
    ev->message_id = ps_arena_strdup(a, s[0]);
    ev->snippet = flags & 1 ? ps_arena_strdup(a, s[1]) : NULL;
    ev->model_id = flags & 2 ? ps_arena_strdup(a, s[2]) : NULL;
    ev->model_version = flags & 4 ? ps_arena_strdup(a, s[3]) : NULL;
    ev->entity = flags & 8 ? ps_arena_strdup(a, s[4]) : NULL;
    ev->rule = flags & 16 ? ps_arena_strdup(a, s[5]) : NULL;
    ev->replaced = flags & 32 ? ps_arena_strdup(a, s[6]) : NULL;
    if (nf) {
        pe_ps_fact *f = ps_arena_alloc(a, nf * sizeof *f);
        if (f) {
            for (unsigned i = 0; i < nf; i++) {
                f[i].subject = ps_arena_strdup(a, ps_rd_str(&r));
                f[i].predicate = ps_arena_strdup(a, ps_rd_str(&r));
                f[i].object = ps_arena_strdup(a, ps_rd_str(&r));
                f[i].source = ps_arena_strdup(a, ps_rd_str(&r));
                const char *dd = ps_rd_str(&r);
                f[i].dump_date = *dd ? ps_arena_strdup(a, dd) : NULL;
            }
        }
        ev->facts = f;
        ev->n_facts = nf;
    }
    if (a->oom) return ps_fail(ps, PE_ERR_NOMEM, "out of memory");
    if (r.bad || ver != 1 || ev->method > PE_PS_FROM_PROFILE)
        return ps_fail(ps, PE_ERR_CORRUPT, "%s: damaged evidence record", ps->dir);
    return PE_OK;
}

/* ---- attributes ------------------------------------------------------------------ */

typedef struct attr_list_impl {
    pe_ps_attr_list pub; /* first: the public pointer is this struct's */
    ps_arena arena;
} attr_list_impl;

void pe_ps_attr_list_free(pe_ps_attr_list *l)
{
    if (!l) return;
    attr_list_impl *im = (attr_list_impl *)l;
    ps_arena_free(&im->arena);
    free(im);
}

static pe_status load_evidence(pe_ps_reader *r, uint64_t uid, uint64_t aid, pe_ps_attr *at, ps_arena *a)
{
    MDB_cursor *c;
    int rc = mdb_cursor_open(r->txn, r->ps->dbi[PS_EV], &c);
    if (rc) return ps_mdb_fail(r->ps, rc, "evidence cursor");
    unsigned char kb[16];
    ps_key_uid_aid(kb, uid, aid);
    size_t cap = at->n_evidence ? at->n_evidence : 1, n = 0;
    pe_ps_evidence *ev = ps_arena_alloc(a, cap * sizeof *ev);
    pe_status st = ev ? PE_OK : ps_fail(r->ps, PE_ERR_NOMEM, "out of memory");
    MDB_val k = {16, kb}, d;
    rc = st == PE_OK ? mdb_cursor_get(c, &k, &d, MDB_SET_RANGE) : MDB_NOTFOUND;
    while (st == PE_OK && rc == 0 && k.mv_size == 20 && memcmp(k.mv_data, kb, 16) == 0) {
        if (n == cap) {
            st = ps_fail(r->ps, PE_ERR_CORRUPT, "%s: attribute %llu has more evidence than it counts", r->ps->dir,
                         (unsigned long long)aid);
            break;
        }
        st = ps_evidence_decode(r->ps, &d, &ev[n++], a);
        if (st == PE_OK) rc = mdb_cursor_get(c, &k, &d, MDB_NEXT);
    }
    mdb_cursor_close(c);
    if (st != PE_OK) return st;
    if (rc && rc != MDB_NOTFOUND) return ps_mdb_fail(r->ps, rc, "evidence cursor");
    at->evidence = ev;
    at->n_evidence = n;
    return PE_OK;
}

pe_status pe_ps_attributes(pe_ps_reader *r, const char *user, const char *attribute, unsigned flags,
                           pe_ps_attr_list **out)
{
    if (out) *out = NULL;
    if (!r || !out) return PE_ERR_INVALID;
    pe_ps *ps = r->ps;
    pe_status st;
    PE_TRY(st, ps_check_user(ps, user));
    ps_user_rec u;
    st = ps_user_get(ps, r->txn, user, &u);
    if (st != PE_OK) return st;
    attr_list_impl *im = calloc(1, sizeof *im);
    if (!im) return ps_fail(ps, PE_ERR_NOMEM, "out of memory");
    im->pub.user = ps_arena_strdup(&im->arena, user);
    MDB_cursor *c;
    int rc = mdb_cursor_open(r->txn, ps->dbi[PS_ATTR], &c);
    if (rc) {
        pe_ps_attr_list_free(&im->pub);
        return ps_mdb_fail(ps, rc, "attribute cursor");
    }
    /* Two passes over the user's range: count, then fill. */
    unsigned char kb[8];
    pe_put_be64(kb, u.uid);
    size_t cap = 0;
    pe_ps_attr *arr = NULL;
    for (int pass = 0; pass < 2 && st == PE_OK; pass++) {
        size_t n = 0;
        MDB_val k = {8, kb}, d;
        rc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE);
        while (rc == 0 && k.mv_size == 16 && memcmp(k.mv_data, kb, 8) == 0) {
            ps_attr_rec a;
            if ((st = ps_attr_decode(ps, &d, &a)) != PE_OK) break;
            int keep = (!attribute || strcmp(attribute, a.attribute) == 0) &&
                       (a.state == PE_PS_CURRENT || (flags & PE_PS_LIST_HISTORY));
            if (keep && pass == 1 && n < cap) {
                pe_ps_attr *t = &arr[n];
                ps_arena *ar = &im->arena;
                t->id = pe_get_be64((unsigned char *)k.mv_data + 8);
                t->attribute = ps_arena_strdup(ar, a.attribute);
                t->relation = ps_arena_strdup(ar, a.relation);
                t->value = ps_arena_strdup(ar, a.value);
                t->entity = ps_arena_strdup(ar, a.entity);
                t->replaced_by = ps_arena_strdup(ar, a.replaced_by);
                t->confidence = a.confidence;
                t->sensitivity = a.sensitivity;
                t->functional = a.functional;
                t->state = a.state;
                t->first_seen = a.first_seen;
                t->last_seen = a.last_seen;
                t->changed = a.changed;
                t->n_evidence = a.n_evidence;
                if (flags & PE_PS_LIST_EVIDENCE) {
                    /* load_evidence uses its own cursor; ours stays put */
                    if ((st = load_evidence(r, u.uid, t->id, t, ar)) != PE_OK) break;
                }
            }
            if (keep) n++;
            rc = mdb_cursor_get(c, &k, &d, MDB_NEXT);
        }
        if (st == PE_OK && rc && rc != MDB_NOTFOUND) st = ps_mdb_fail(ps, rc, "attribute cursor");
        if (st != PE_OK) break;
        if (pass == 0) {
            cap = n;
            arr = ps_arena_alloc(&im->arena, (n ? n : 1) * sizeof *arr);
        } else {
            im->pub.n = n < cap ? n : cap;
        }
    }
    mdb_cursor_close(c);
    im->pub.attrs = arr;
    if (st == PE_OK && im->arena.oom) st = ps_fail(ps, PE_ERR_NOMEM, "out of memory");
    if (st != PE_OK) {
        pe_ps_attr_list_free(&im->pub);
        return st;
    }
    *out = &im->pub;
    return PE_OK;
}

/* ---- history ---------------------------------------------------------------------- */

typedef struct history_impl {
    pe_ps_history pub;
    ps_arena arena;
} history_impl;

void pe_ps_history_free(pe_ps_history *h)
{
    if (!h) return;
    history_impl *im = (history_impl *)h;
    ps_arena_free(&im->arena);
    free(im);
}

pe_status pe_ps_history_get(pe_ps_reader *r, const char *user, const char *attribute, pe_ps_history **out)
{
    if (out) *out = NULL;
    if (!r || !out) return PE_ERR_INVALID;
    pe_ps *ps = r->ps;
    pe_status st;
    PE_TRY(st, ps_check_user(ps, user));
    ps_user_rec u;
    st = ps_user_get(ps, r->txn, user, &u);
    if (st != PE_OK) return st;
    history_impl *im = calloc(1, sizeof *im);
    if (!im) return ps_fail(ps, PE_ERR_NOMEM, "out of memory");
    MDB_cursor *c;
    int rc = mdb_cursor_open(r->txn, ps->dbi[PS_HIST], &c);
    if (rc) {
        free(im);
        return ps_mdb_fail(ps, rc, "history cursor");
    }
    unsigned char kb[8];
    pe_put_be64(kb, u.uid);
    size_t n = 0, cap = 0;
    pe_ps_change *arr = NULL;
    MDB_val k = {8, kb}, d;
    rc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE);
    while (rc == 0 && k.mv_size == 16 && memcmp(k.mv_data, kb, 8) == 0) {
        ps_rd rd = {d.mv_data, d.mv_size, 0, 0};
        unsigned ver = ps_rd_u8(&rd);
        pe_ps_change ch;
        memset(&ch, 0, sizeof ch);
        ch.audit_seq = pe_get_be64((unsigned char *)k.mv_data + 8);
        ch.kind = (pe_ps_change_kind)ps_rd_u8(&rd);
        ch.state = (pe_ps_state)ps_rd_u8(&rd);
        unsigned flags = ps_rd_u8(&rd);
        ps_rd_u32(&rd);
        ch.time = ps_rd_f64(&rd);
        ch.confidence = ps_rd_f64(&rd);
        const char *s[6];
        for (int i = 0; i < 6; i++) s[i] = ps_rd_str(&rd);
        if (rd.bad || ver != 1) {
            st = ps_fail(ps, PE_ERR_CORRUPT, "%s: damaged history record", ps->dir);
            break;
        }
        if (!attribute || strcmp(attribute, s[0]) == 0) {
            if (n == cap) {
                size_t ncap = cap ? cap * 2 : 16;
                pe_ps_change *na = ps_arena_alloc(&im->arena, ncap * sizeof *na);
                if (!na) break;
                if (n) memcpy(na, arr, n * sizeof *na);
                arr = na;
                cap = ncap;
            }
            ps_arena *a = &im->arena;
            ch.attribute = ps_arena_strdup(a, s[0]);
            ch.value = ps_arena_strdup(a, s[1]);
            ch.old_value = flags & 1 ? ps_arena_strdup(a, s[2]) : NULL;
            ch.message_id = flags & 2 ? ps_arena_strdup(a, s[3]) : NULL;
            ch.rule = flags & 4 ? ps_arena_strdup(a, s[4]) : NULL;
            ch.reason = flags & 8 ? ps_arena_strdup(a, s[5]) : NULL;
            arr[n++] = ch;
        }
        rc = mdb_cursor_get(c, &k, &d, MDB_NEXT);
    }
    mdb_cursor_close(c);
    if (st == PE_OK && im->arena.oom) st = ps_fail(ps, PE_ERR_NOMEM, "out of memory");
    if (st == PE_OK && rc && rc != MDB_NOTFOUND) st = ps_mdb_fail(ps, rc, "history cursor");
    if (st != PE_OK) {
        pe_ps_history_free(&im->pub);
        return st;
    }
    im->pub.n = n;
    im->pub.changes = arr;
    *out = &im->pub;
    return PE_OK;
}

/* ---- statistics ---------------------------------------------------------------------- */

pe_status pe_ps_stats_get(pe_ps_reader *r, pe_ps_stats *out)
{
    if (!r || !out) return PE_ERR_INVALID;
    memset(out, 0, sizeof *out);
    MDB_stat s;
    int dbs[] = {PS_USER, PS_ATTR, PS_EV, PS_HIST, PS_AUDIT};
    uint64_t *dst[] = {&out->users, &out->attributes, &out->evidence, &out->history, &out->audit_records};
    for (int i = 0; i < 5; i++) {
        int rc = mdb_stat(r->txn, r->ps->dbi[dbs[i]], &s);
        if (rc) return ps_mdb_fail(r->ps, rc, "stat");
        *dst[i] = s.ms_entries;
    }
    MDB_val k = {15, "rebuild_pending"}, d;
    out->rebuild_pending = mdb_get(r->txn, r->ps->dbi[PS_META], &k, &d) == 0;
    MDB_envinfo info;
    MDB_stat es;
    if (mdb_env_info(r->ps->env, &info) == 0 && mdb_env_stat(r->ps->env, &es) == 0)
        out->store_bytes = (uint64_t)(info.me_last_pgno + 1) * es.ms_psize;
    return PE_OK;
}

/* ---- audit log ----------------------------------------------------------------------- */

static int all_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i]) return 0;
    return 1;
}

static void digest_hex(const unsigned char *d, char hex[65])
{
    if (all_zero(d, 32)) hex[0] = '\0';
    else ps_hex(d, 32, hex);
}

/* Decodes an audit value (without checking its hash). 0 when malformed. */
static int audit_decode(const MDB_val *v, uint64_t seq, pe_ps_audit_record *out)
{
    if (v->mv_size < PS_AUDIT_FIXED) return 0;
    const unsigned char *p = v->mv_data;
    memset(out, 0, sizeof *out);
    out->seq = seq;
    if (p[64] != 1) return 0;
    out->kind = (pe_ps_change_kind)p[65];
    out->sensitivity = (pe_ps_sensitivity)p[66];
    out->state = (pe_ps_state)p[67];
    out->time = pe_get_bed(p + 68);
    out->confidence = pe_get_bed(p + 76);
    out->count = pe_get_be64(p + 84);
    ps_hex(p, 32, out->hash);
    ps_hex(p + 32, 32, out->prev);
    ps_hex(p + 92, 32, out->user_ref);
    digest_hex(p + 124, out->value_digest);
    digest_hex(p + 156, out->old_value_digest);
    digest_hex(p + 188, out->message_digest);
    ps_rd r = {p, v->mv_size, PS_AUDIT_FIXED, 0};
    out->attribute = ps_rd_str(&r);
    out->relation = ps_rd_str(&r);
    out->rule = ps_rd_str(&r);
    out->reason = ps_rd_str(&r);
    return !r.bad && r.off == v->mv_size && out->kind >= PE_PS_ADD && out->kind <= PE_PS_FORGET;
}

pe_status pe_ps_audit_get(pe_ps_reader *r, uint64_t seq, pe_ps_audit_record *out)
{
    if (!r || !out) return PE_ERR_INVALID;
    memset(out, 0, sizeof *out);
    unsigned char kb[8];
    pe_put_be64(kb, seq);
    MDB_val k = {8, kb}, d;
    int rc = mdb_get(r->txn, r->ps->dbi[PS_AUDIT], &k, &d);
    if (rc == MDB_NOTFOUND) return PE_NOT_FOUND;
    if (rc) return ps_mdb_fail(r->ps, rc, "audit log");
    if (!audit_decode(&d, seq, out))
        return ps_fail(r->ps, PE_ERR_CORRUPT, "%s: audit record %llu is malformed", r->ps->dir,
                       (unsigned long long)seq);
    return PE_OK;
}

pe_status pe_ps_audit_verify(pe_ps_reader *r, pe_ps_verify_result *out)
{
    pe_ps_verify_result tmp;
    if (!out) out = &tmp;
    memset(out, 0, sizeof *out);
    if (!r) return PE_ERR_INVALID;
    pe_ps *ps = r->ps;
    uint64_t head_seq;
    unsigned char head_hash[32], prev[32] = {0};
    pe_status st;
    PE_TRY(st, ps_audit_load_head(ps, r->txn, &head_seq, head_hash));
    MDB_cursor *c;
    int rc = mdb_cursor_open(r->txn, ps->dbi[PS_AUDIT], &c);
    if (rc) return ps_mdb_fail(ps, rc, "audit cursor");
    uint64_t expect = 1;
    MDB_val k, d;
    rc = mdb_cursor_get(c, &k, &d, MDB_FIRST);
    while (rc == 0) {
        uint64_t seq = k.mv_size == 8 ? pe_get_be64(k.mv_data) : 0;
        pe_ps_audit_record rec;
        const unsigned char *p = d.mv_data;
        const char *what = NULL;
        if (k.mv_size != 8) what = "a key that is no sequence number";
        else if (seq != expect)
            what = seq > expect ? "a gap before it (records removed)" : "a sequence number out of order";
        else if (!audit_decode(&d, seq, &rec)) what = "a malformed record";
        else if (memcmp(p + 32, prev, 32) != 0)
            what = "a previous-hash that is not the hash of the record before (removed or reordered records)";
        if (!what) {
            unsigned char hdr[sizeof PS_AUDIT_DOMAIN - 1 + 8], h[32];
            memcpy(hdr, PS_AUDIT_DOMAIN, sizeof PS_AUDIT_DOMAIN - 1);
            pe_put_be64(hdr + sizeof PS_AUDIT_DOMAIN - 1, seq);
            ps_sha256(hdr, sizeof hdr, p + 32, d.mv_size - 32, h);
            if (memcmp(h, p, 32) != 0) what = "a hash that does not match its content (altered)";
            else memcpy(prev, h, 32);
        }
        if (what) {
            mdb_cursor_close(c);
            out->bad_seq = expect;
            return ps_fail(ps, PE_ERR_CORRUPT, "%s: audit log broken at record %llu: %s", ps->dir,
                           (unsigned long long)expect, what);
        }
        out->records++;
        expect++;
        rc = mdb_cursor_get(c, &k, &d, MDB_NEXT);
    }
    mdb_cursor_close(c);
    if (rc != MDB_NOTFOUND) return ps_mdb_fail(ps, rc, "audit cursor");
    if (out->records != head_seq || (head_seq && memcmp(prev, head_hash, 32) != 0)) {
        out->bad_seq = out->records < head_seq ? out->records + 1 : head_seq ? head_seq : 1;
        return ps_fail(ps, PE_ERR_CORRUPT, "%s: audit log ends at record %llu but its head names record %llu "
                                           "(records removed at the end, or the head altered)",
                       ps->dir, (unsigned long long)out->records, (unsigned long long)head_seq);
    }
    if (out->records) ps_hex(prev, 32, out->head);
    return PE_OK;
}
