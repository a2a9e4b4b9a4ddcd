/* ps_internal.h - private pieces of the persona store shared by its sources:
 * the handle, writer and reader structs, the record encodings of the "LMDB
 * layout" section of pe_personastore.h, and a result arena. */
#ifndef PE_PS_INTERNAL_H
#define PE_PS_INTERNAL_H

#include <lmdb.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "pe_bytes.h"
#include "pe_personastore.h"

#define PS_LAYOUT_VERSION 1
#define PS_AUDIT_FIXED 220
#define PS_AUDIT_DOMAIN "pe-ps-audit-1"
#define PS_USER_DOMAIN "pe-ps-user" /* followed by a NUL byte */
#define PS_USER_REC 56              /* version(1) 0(7) uid(8) created(8) salt(32) */

enum { PS_META = 0, PS_USER, PS_ATTR, PS_ATTR_IDX, PS_EV, PS_EV_IDX, PS_HIST, PS_WITHHELD, PS_AUDIT, PS_NDB };
extern const char *const ps_db_names[PS_NDB];

struct pe_ps {
    MDB_env *env;
    MDB_dbi dbi[PS_NDB];
    char *dir;
    pe_ps_options opt;
    int lock_fd;            /* DIR/pstore.lock, shared lock while open; -1 when none */
    pthread_mutex_t mu;     /* guards err, active, writer, rebuilding */
    pe_error err;
    int active;             /* readers + writer alive */
    int rebuilding;
    pe_ps_writer *writer;
};

struct pe_ps_reader {
    pe_ps *ps;
    MDB_txn *txn;
    int borrowed;           /* the writer's own reader */
    char scratch[PE_PS_MAX_USER + 1]; /* pe_ps_user_next's answer */
};

struct pe_ps_writer {
    pe_ps *ps;
    MDB_txn *txn;
    pe_status failed;       /* sticky LMDB failure */
    pe_ps_reader reader;    /* pe_ps_writer_reader */
    int dirty;              /* something was written: commit stamps "snapshot_txn" */
    uint64_t audit_seq;     /* last record written (0 = empty log) */
    unsigned char audit_hash[32];
};

/* Every write of a writer goes through these two, so that its commit knows
 * whether to stamp the snapshot it makes (see txn_begin in ps_store.c). */
static inline int ps_wput(pe_ps_writer *w, MDB_dbi dbi, MDB_val *k, MDB_val *d, unsigned flags)
{
    w->dirty = 1;
    return mdb_put(w->txn, dbi, k, d, flags);
}
static inline int ps_wdel(pe_ps_writer *w, MDB_dbi dbi, MDB_val *k, MDB_val *d)
{
    w->dirty = 1;
    return mdb_del(w->txn, dbi, k, d);
}

/* ---- errors ---- */
pe_status ps_fail(pe_ps *ps, pe_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
pe_status ps_mdb_fail(pe_ps *ps, int rc, const char *what);
/* Records a writer's LMDB failure (sticky) and returns it. */
pe_status ps_wfail(pe_ps_writer *w, int rc, const char *what);

/* Big-endian integers and doubles: pe_bytes.h. */

/* ---- growable byte buffer for building records and texts ---- */
typedef struct ps_buf {
    unsigned char *b;
    size_t len, cap;
    int oom;
} ps_buf;
void ps_buf_free(ps_buf *b);
void ps_buf_add(ps_buf *b, const void *p, size_t n);
void ps_buf_u8(ps_buf *b, unsigned v);
void ps_buf_u32(ps_buf *b, uint32_t v);
void ps_buf_u64(ps_buf *b, uint64_t v);
void ps_buf_f64(ps_buf *b, double v);
void ps_buf_str(ps_buf *b, const char *s); /* s\0, NULL as "" */
void ps_buf_printf(ps_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- reading records: bounds-checked cursor over a value ---- */
typedef struct ps_rd {
    const unsigned char *p;
    size_t len, off;
    int bad;
} ps_rd;
unsigned ps_rd_u8(ps_rd *r);
uint32_t ps_rd_u32(ps_rd *r);
uint64_t ps_rd_u64(ps_rd *r);
double ps_rd_f64(ps_rd *r);
const char *ps_rd_str(ps_rd *r); /* borrowed, NUL-terminated inside the value */

/* ---- result arena: one owner for every string and array of a result ---- */
typedef struct ps_arena_blk ps_arena_blk;
typedef struct ps_arena {
    ps_arena_blk *head;
    int oom;
} ps_arena;
void *ps_arena_alloc(ps_arena *a, size_t n); /* zeroed, 16-aligned */
char *ps_arena_strdup(ps_arena *a, const char *s); /* NULL stays NULL */
void ps_arena_free(ps_arena *a);

/* ---- digests ---- */
void ps_sha256(const void *a, size_t alen, const void *b, size_t blen, unsigned char out[32]);
void ps_hex(const unsigned char *d, size_t n, char *hex); /* 2n digits and a NUL */
void ps_user_ref_bin(const char *user, unsigned char out[32]);

/* ---- record decoding shared by the readers ---- */
typedef struct ps_user_rec {
    uint64_t uid;
    double created;
    unsigned char salt[32];
} ps_user_rec;
/* PE_OK, PE_NOT_FOUND, or a failure (messages on ps). */
pe_status ps_user_get(pe_ps *ps, MDB_txn *txn, const char *user, ps_user_rec *out);

typedef struct ps_attr_rec {
    pe_ps_state state;
    pe_ps_sensitivity sensitivity;
    int functional;
    double confidence, first_seen, last_seen, changed;
    uint32_t n_evidence, next_eseq;
    const char *attribute, *relation, *value, *entity, *replaced_by; /* borrowed; NULL when absent */
} ps_attr_rec;
pe_status ps_attr_decode(pe_ps *ps, const MDB_val *v, ps_attr_rec *out);
void ps_attr_encode(ps_buf *b, const ps_attr_rec *a);

pe_status ps_evidence_decode(pe_ps *ps, const MDB_val *v, pe_ps_evidence *ev, ps_arena *a);

/* Key helpers. */
size_t ps_key_uid_aid(unsigned char *k, uint64_t uid, uint64_t aid);
int ps_name_ok(const char *s, size_t max); /* 1..max bytes of [A-Za-z0-9_.:-] */

/* Validation of user-facing strings (sets the handle's error). */
pe_status ps_check_user(pe_ps *ps, const char *user);
pe_status ps_check_name(pe_ps *ps, const char *what, const char *s, size_t max, int optional);
pe_status ps_check_text(pe_ps *ps, const char *what, const char *s, size_t max, int optional);

/* Audit: appends one record in the writer's transaction; *seq (may be NULL) gets its number. */
typedef struct ps_audit_in {
    pe_ps_change_kind kind;
    pe_ps_sensitivity sensitivity;
    pe_ps_state state;
    double confidence;
    uint64_t count;
    const unsigned char *user_ref;    /* 32 bytes */
    const unsigned char *value;       /* 32 bytes or NULL */
    const unsigned char *old_value;
    const unsigned char *message;
    const char *attribute, *relation, *rule, *reason;
} ps_audit_in;
pe_status ps_audit_append(pe_ps_writer *w, const ps_audit_in *in, uint64_t *seq);
pe_status ps_audit_load_head(pe_ps *ps, MDB_txn *txn, uint64_t *seq, unsigned char hash[32]);

double ps_wall_now(void);

/* Rebuild (ps_store.c). */
pe_status ps_rebuild(pe_ps *ps);

#endif
